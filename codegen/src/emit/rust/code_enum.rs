//! A fieldless `#[repr(u8)]` enum over named wire codes, with its lookups and
//! error types: the shape shared by ops and compression algorithms.

use proc_macro2::{Ident, Literal, TokenStream};
use quote::{format_ident, quote};

use super::{doc, ident, pascal};
use crate::model::Retired;

/// One variant: the name peers use, its code and its doc.
pub struct Variant<'a> {
    pub name: &'a str,
    pub code: u8,
    pub doc: &'a str,
}

/// What to generate.
pub struct CodeEnum<'a> {
    /// The type's name, e.g. `Op`.
    pub name: &'a str,
    /// The type's doc.
    pub doc: &'a str,
    /// What one value is called in messages, e.g. `op` or `compression algorithm`.
    pub what: &'a str,
    /// The name of the code, e.g. `code` or `id`; also the accessor's name.
    pub code_name: &'a str,
    /// The variants, in the spec's order.
    pub variants: Vec<Variant<'a>>,
    /// The codes and names of retired entries, which no variant may take.
    pub retired: &'a [Retired],
}

impl CodeEnum<'_> {
    /// The error type for a code that names no variant, e.g. `UnknownOp`.
    pub fn unknown_code_error(&self) -> Ident {
        format_ident!("Unknown{}", self.name)
    }

    /// The error type for a name that names no variant, e.g. `UnknownOpName`.
    pub fn unknown_name_error(&self) -> Ident {
        format_ident!("Unknown{}Name", self.name)
    }

    pub fn tokens(&self) -> TokenStream {
        let ty = ident(self.name);
        let type_doc = doc(self.doc);
        let code = ident(self.code_name);
        let from_code = format_ident!("from_{}", self.code_name);
        let unknown_code = self.unknown_code_error();
        let unknown_name = self.unknown_name_error();
        let count = Literal::usize_unsuffixed(self.variants.len());

        let variants: Vec<Ident> = self.variants.iter().map(|v| pascal(v.name)).collect();
        let names: Vec<&str> = self.variants.iter().map(|v| v.name).collect();
        let codes: Vec<Literal> = self
            .variants
            .iter()
            .map(|v| Literal::u8_unsuffixed(v.code))
            .collect();
        let variant_docs: Vec<TokenStream> = self
            .variants
            .iter()
            .map(|v| doc(&format!("`{}`, {} {}: {}", v.name, self.code_name, v.code, v.doc)))
            .collect();

        let retired_count = Literal::usize_unsuffixed(self.retired.len());
        let retired = self.retired.iter().map(|r| {
            let code = Literal::u8_unsuffixed(r.code);
            let name = &r.name;
            quote! { (#code, #name) }
        });
        let mut retired_text = format!(
            "The {}s and names of retired {}s, which stay unknown and are never reused.",
            self.code_name, self.what
        );
        for r in self.retired {
            retired_text.push_str(&format!(
                "\n\n`{}` ({} {}), retired in v{}: {}",
                r.name, self.code_name, r.code, r.retired, r.doc
            ));
        }
        let retired_doc = doc(&retired_text);
        let all_doc = doc(&format!("Every {}, in the order of protocol.yaml.", self.what));
        let code_doc = doc(&format!("The {} on the wire.", self.code_name));
        let name_doc = doc(&format!("The name of the {} as peers spell it.", self.what));
        let from_code_doc = doc(&format!(
            "The {} with this {}, if there is one.",
            self.what, self.code_name
        ));
        let from_name_doc = doc(&format!(
            "The {} with this name (exact, case-sensitive), if there is one.",
            self.what
        ));
        let unknown_code_doc = doc(&format!("A byte that is no {}'s {}.", self.what, self.code_name));
        let unknown_code_field_doc = doc(&format!("The byte that was read as a {}.", self.code_name));
        let unknown_code_msg = format!("unknown {} {} {{{}}}", self.what, self.code_name, self.code_name);
        let unknown_name_doc = doc(&format!("A name that is no {}'s.", self.what));
        let unknown_name_msg = format!("unknown {} name `{{name}}`", self.what);

        quote! {
            #type_doc
            #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
            #[repr(u8)]
            pub enum #ty {
                #( #variant_docs #variants = #codes, )*
            }

            impl #ty {
                #all_doc
                pub const ALL: [#ty; #count] = [ #( #ty::#variants ),* ];

                #retired_doc
                pub const RETIRED: [(u8, &'static str); #retired_count] = [ #( #retired ),* ];

                #code_doc
                pub const fn #code(self) -> u8 {
                    self as u8
                }

                #name_doc
                pub const fn name(self) -> &'static str {
                    match self {
                        #( #ty::#variants => #names, )*
                    }
                }

                #from_code_doc
                pub const fn #from_code(#code: u8) -> Option<#ty> {
                    match #code {
                        #( #codes => Some(#ty::#variants), )*
                        _ => None,
                    }
                }

                #from_name_doc
                pub fn from_name(name: &str) -> Option<#ty> {
                    match name {
                        #( #names => Some(#ty::#variants), )*
                        _ => None,
                    }
                }
            }

            impl TryFrom<u8> for #ty {
                type Error = #unknown_code;

                fn try_from(#code: u8) -> Result<Self, Self::Error> {
                    #ty::#from_code(#code).ok_or(#unknown_code { #code })
                }
            }

            impl From<#ty> for u8 {
                fn from(value: #ty) -> u8 {
                    value.#code()
                }
            }

            impl core::str::FromStr for #ty {
                type Err = #unknown_name;

                fn from_str(name: &str) -> Result<Self, Self::Err> {
                    #ty::from_name(name).ok_or_else(|| #unknown_name { name: name.to_owned() })
                }
            }

            impl core::fmt::Display for #ty {
                fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                    f.write_str(self.name())
                }
            }

            #unknown_code_doc
            #[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
            #[error(#unknown_code_msg)]
            pub struct #unknown_code {
                #unknown_code_field_doc
                pub #code: u8,
            }

            #unknown_name_doc
            #[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
            #[error(#unknown_name_msg)]
            pub struct #unknown_name {
                /// The name that was looked up.
                pub name: String,
            }
        }
    }
}
