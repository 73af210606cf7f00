//! The `defaults` module: one constant per named default.

use proc_macro2::{Literal, TokenStream};
use quote::quote;

use super::{doc, shouty};
use crate::model::{Protocol, Role, Unit};

pub fn tokens(protocol: &Protocol) -> TokenStream {
    let request_id = protocol
        .field_with_role(Role::RequestId)
        .map(|(_, f)| super::layout::int_type(f.ty));
    let consts = protocol.defaults.iter().map(|d| {
        let name = shouty(&d.name);
        let value = Literal::u64_unsuffixed(d.value);
        let default_doc = doc(&d.doc);
        let (ty, value) = match d.unit {
            Unit::Bytes => (quote!(usize), quote!(#value)),
            Unit::Count => (quote!(u64), quote!(#value)),
            Unit::Seconds => (
                quote!(core::time::Duration),
                quote!(core::time::Duration::from_secs(#value)),
            ),
            Unit::RequestId => (request_id.clone().unwrap_or_else(|| quote!(u16)), quote!(#value)),
        };
        quote!(#default_doc pub const #name: #ty = #value;)
    });
    quote! {
        /// The protocol's defaults. Both peers' behaviour depends on them, so they
        /// live in the spec with everything else.
        pub mod defaults {
            #( #consts )*
        }
    }
}
