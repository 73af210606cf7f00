//! The `Version` enum.

use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote};

use super::doc;
use crate::model::Protocol;

/// The variant name of a version, e.g. `V2`.
pub fn variant(version: u64) -> proc_macro2::Ident {
    format_ident!("V{}", version)
}

pub fn tokens(protocol: &Protocol) -> TokenStream {
    let variants: Vec<_> = protocol.versions.iter().map(|v| variant(v.version)).collect();
    let numbers = protocol
        .versions
        .iter()
        .map(|v| Literal::u64_unsuffixed(v.version));
    let docs = protocol
        .versions
        .iter()
        .map(|v| doc(&format!("Version {}.\n\n{}", v.version, v.doc)));
    let count = Literal::usize_unsuffixed(variants.len());
    let latest = variant(protocol.latest_version());
    quote! {
        /// A version of the frame format.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u8)]
        pub enum Version {
            #( #docs #variants = #numbers, )*
        }

        impl Version {
            /// Every version, oldest first.
            pub const ALL: [Version; #count] = [ #( Version::#variants ),* ];

            /// The newest version, the one this crate speaks.
            pub const LATEST: Version = Version::#latest;

            /// The version's number, as the capability handshake carries it.
            pub const fn number(self) -> u8 {
                self as u8
            }
        }
    }
}
