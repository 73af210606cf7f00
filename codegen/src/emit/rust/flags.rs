//! The `Flags` type: the flags byte, its named bits and its unused bits.

use proc_macro2::{Literal, TokenStream};
use quote::quote;

use super::versions::variant;
use super::{doc, shouty};
use crate::model::Protocol;

pub fn tokens(protocol: &Protocol) -> TokenStream {
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

    quote! {
        /// The flags byte of a frame: which kind of frame it is and which header
        /// sections follow the base header.
        ///
        /// A `Flags` keeps every bit it is given, named or not; see [`Flags::UNUSED`].
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
        pub struct Flags(u8);

        impl Flags {
            #( #consts )*

            /// No bit set: a v1 request.
            pub const EMPTY: Flags = Flags(0);

            /// Every bit some version names.
            pub const KNOWN: Flags = Flags(#known);

            #unused_doc
            pub const UNUSED: Flags = Flags(#unused);

            /// Every named flag with its name in protocol.yaml, by ascending bit.
            pub const NAMED: [(&'static str, Flags); #count] = [ #( #named ),* ];

            /// The flags with exactly these bits, named or not.
            pub const fn from_bits(bits: u8) -> Flags {
                Flags(bits)
            }

            /// The byte on the wire.
            pub const fn bits(self) -> u8 {
                self.0
            }

            /// Whether every bit of `other` is set.
            pub const fn contains(self, other: Flags) -> bool {
                self.0 & other.0 == other.0
            }

            /// Whether any bit of `other` is set.
            pub const fn intersects(self, other: Flags) -> bool {
                self.0 & other.0 != 0
            }

            /// Whether no bit is set.
            pub const fn is_empty(self) -> bool {
                self.0 == 0
            }

            /// The bits set in either.
            pub const fn union(self, other: Flags) -> Flags {
                Flags(self.0 | other.0)
            }

            /// The bits of `self` that are not in `other`.
            pub const fn difference(self, other: Flags) -> Flags {
                Flags(self.0 & !other.0)
            }

            /// `self` with the bits of `other` set when `on`, cleared otherwise.
            pub const fn with(self, other: Flags, on: bool) -> Flags {
                if on {
                    self.union(other)
                } else {
                    self.difference(other)
                }
            }

            /// The version that introduced a single named flag; `None` for anything else.
            pub const fn since(self) -> Option<Version> {
                match self {
                    #( #since )*
                    _ => None,
                }
            }

            /// The names of the named flags that are set, by ascending bit.
            pub fn names(self) -> impl Iterator<Item = &'static str> {
                Flags::NAMED
                    .into_iter()
                    .filter(move |(_, flag)| self.contains(*flag))
                    .map(|(name, _)| name)
            }
        }

        impl core::ops::BitOr for Flags {
            type Output = Flags;

            fn bitor(self, other: Flags) -> Flags {
                self.union(other)
            }
        }

        impl core::ops::BitOrAssign for Flags {
            fn bitor_assign(&mut self, other: Flags) {
                *self = self.union(other);
            }
        }

        impl From<Flags> for u8 {
            fn from(flags: Flags) -> u8 {
                flags.bits()
            }
        }

        /// Shows the named flags and, in hex, any other bits: `Flags(response | error)`.
        impl core::fmt::Debug for Flags {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                write!(f, "Flags({self})")
            }
        }

        /// The names of the set flags joined by ` | `, then any unnamed bits in hex;
        /// `empty` when no bit is set.
        impl core::fmt::Display for Flags {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                let mut first = true;
                for name in self.names() {
                    if !first {
                        f.write_str(" | ")?;
                    }
                    f.write_str(name)?;
                    first = false;
                }
                let rest = self.difference(Flags::KNOWN);
                if !rest.is_empty() {
                    if !first {
                        f.write_str(" | ")?;
                    }
                    write!(f, "{:#04x}", rest.0)?;
                    first = false;
                }
                if first {
                    f.write_str("empty")?;
                }
                Ok(())
            }
        }
    }
}

/// A byte as a hex literal, `0x10`, the way flag masks are written by hand.
fn hex(byte: u8) -> Literal {
    format!("{byte:#04x}")
        .parse()
        .unwrap_or_else(|_| Literal::u8_unsuffixed(byte))
}
