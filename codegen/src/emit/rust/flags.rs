//! The `Flags` type: the flags byte, its named bits and its unused bits.
//!
//! What does not depend on the spec (the struct, its bit operations, its
//! formatting) is written by hand in `static/flags.rs` and emitted as it is;
//! this module makes the items the spec decides and puts them in the places
//! the template marks with `spec!(...)`.

use proc_macro2::{Literal, TokenStream};
use quote::quote;

use super::versions::variant;
use super::{doc, shouty, splice};
use crate::model::Protocol;

/// The hand-written part of the type.
const STATIC: &str = include_str!("static/flags.rs");

pub fn tokens(protocol: &Protocol) -> Result<TokenStream, syn::Error> {
    let consts = protocol.flags.iter().map(|f| {
        let name = shouty(&f.name);
        let mask = hex(f.mask());
        let flag_doc = doc(&format!("Bit {}, since v{}: {}", f.bit, f.since, f.doc));
        quote! {
            #flag_doc
            pub const #name: Flags = Flags(#mask);
        }
    });
    let since = protocol.flags.iter().map(|f| {
        let name = shouty(&f.name);
        let version = variant(f.since);
        quote! { Flags::#name => Some(Version::#version), }
    });
    let count = Literal::usize_unsuffixed(protocol.flags.len());
    let named = protocol.flags.iter().map(|f| {
        let name = &f.name;
        let konst = shouty(&f.name);
        quote! { (#name, Flags::#konst) }
    });
    let known = hex(protocol.flags.iter().fold(0, |m, f| m | f.mask()));
    // Retired bits mean nothing any more either: a decoder treats them exactly
    // like the bits no version ever assigned.
    let unused = hex(protocol.unassigned_flag_mask());
    let unused_bits: Vec<String> = protocol.unused_bits.bits.iter().map(u8::to_string).collect();
    let mut unused_text = format!(
        "Bits {} are unused: {}",
        unused_bits.join(", "),
        protocol.unused_bits.doc
    );
    for gone in &protocol.reserved.flags {
        unused_text.push_str(&format!(
            "\n\nBit {} is retired (flag `{}`, retired in v{}): {}",
            gone.code, gone.name, gone.retired, gone.doc
        ));
    }
    let unused_doc = doc(&unused_text);

    let named_flags = quote!( #( #consts )* );
    let masks = quote! {
        /// Every bit some version names.
        pub const KNOWN: Flags = Flags(#known);

        #unused_doc
        pub const UNUSED: Flags = Flags(#unused);

        /// Every named flag with its name in protocol.yaml, by ascending bit.
        pub const NAMED: [(&'static str, Flags); #count] = [ #( #named ),* ];
    };
    let since = quote! {
        /// The version that introduced a single named flag; `None` for anything else.
        pub const fn since(self) -> Option<Version> {
            match self {
                #( #since )*
                _ => None,
            }
        }
    };
    splice(
        STATIC,
        &[
            ("named_flags", &named_flags),
            ("masks", &masks),
            ("since", &since),
        ],
    )
}

/// A byte as a hex literal, `0x10`, the way flag masks are written by hand.
fn hex(byte: u8) -> Literal {
    format!("{byte:#04x}")
        .parse()
        .unwrap_or_else(|_| Literal::u8_unsuffixed(byte))
}
