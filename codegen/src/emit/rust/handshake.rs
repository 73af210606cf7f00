//! The `handshake` module: the names and values of the capability handshake.

use proc_macro2::{Literal, TokenStream};
use quote::quote;

use super::{doc, shouty};
use crate::model::Protocol;

pub fn tokens(protocol: &Protocol) -> TokenStream {
    let h = &protocol.handshake;
    let module_doc = doc(&h.doc);
    let ty = &h.ty;
    let version = Literal::u64_unsuffixed(h.version);
    let timeout = Literal::u64_unsuffixed(h.fallback_timeout_seconds);
    let subprotocol = &h.subprotocol;
    let subprotocol_doc = doc(&h.subprotocol_doc);
    let auth_field = &h.auth_field;
    let auth_doc = doc(&format!("The JSON key of the token message. {}", h.auth_doc));
    let fields = h.fields.iter().map(|f| {
        let name = shouty(&f.name);
        let key = &f.name;
        let field_doc = doc(&f.doc);
        quote!(#field_doc pub const #name: &str = #key;)
    });
    quote! {
        #module_doc
        pub mod handshake {
            /// The value of the `type` field of the offer and of the answer.
            pub const TYPE: &str = #ty;

            /// The protocol version the handshake offers and answers.
            pub const VERSION: u8 = #version;

            /// How long a client waits for the answer before it falls back to v1.
            pub const FALLBACK_TIMEOUT: core::time::Duration = core::time::Duration::from_secs(#timeout);

            #subprotocol_doc
            pub const SUBPROTOCOL: &str = #subprotocol;

            #auth_doc
            pub const AUTH_TOKEN_FIELD: &str = #auth_field;

            /// The JSON keys of the offer and of the answer.
            pub mod fields {
                #( #fields )*
            }
        }
    }
}
