//! The `Op` enum.

use proc_macro2::TokenStream;

use super::code_enum::{CodeEnum, Variant};
use crate::model::Protocol;

pub fn tokens(protocol: &Protocol) -> TokenStream {
    CodeEnum {
        name: "Op",
        doc: "A Haystack operation, as carried in the op byte of the base header.",
        what: "op",
        code_name: "code",
        variants: protocol
            .ops
            .iter()
            .map(|op| Variant {
                name: &op.name,
                code: op.code,
                doc: &op.doc,
            })
            .collect(),
        retired: &protocol.reserved.ops,
    }
    .tokens()
}
