//! The `Compression` enum and the parameters of each algorithm.

use proc_macro2::{Literal, TokenStream};
use quote::quote;

use super::code_enum::{CodeEnum, Variant};
use super::{doc, shouty, snake};
use crate::model::{Protocol, Scalar};

pub fn tokens(protocol: &Protocol) -> TokenStream {
    let algorithms = CodeEnum {
        name: "Compression",
        doc: "A compression algorithm: its id in the algorithm header and its name in the \
              capability handshake.",
        what: "compression algorithm",
        code_name: "id",
        variants: protocol
            .algorithms
            .iter()
            .map(|a| Variant {
                name: &a.name,
                code: a.id,
                doc: &a.doc,
            })
            .collect(),
        retired: &protocol.reserved.algorithms,
    }
    .tokens();

    let modules = protocol.algorithms.iter().map(|a| {
        let module = snake(&a.name);
        let module_doc = doc(&format!(
            "The parameters of `{}`, which both peers must use.",
            a.name
        ));
        let params = a.parameters.iter().map(|p| {
            let name = shouty(&p.name);
            let param_doc = doc(&p.doc);
            match &p.value {
                Scalar::Int(v) => {
                    let v = Literal::u64_unsuffixed(*v);
                    quote! { #param_doc pub const #name: u32 = #v; }
                }
                Scalar::Str(s) => quote! { #param_doc pub const #name: &str = #s; },
            }
        });
        quote! {
            #module_doc
            pub mod #module {
                #( #params )*
            }
        }
    });

    quote! {
        #algorithms

        /// The settings of each compression algorithm, one module per algorithm.
        pub mod compression_params {
            #( #modules )*
        }
    }
}
