//! The header layout: one struct per section with its offsets and its
//! `decode`/`encode` pair, the `FrameHeader` that strings the sections
//! together, the `HeaderError` of decoding with the spec's policy for unknown
//! op codes, the `RawBaseHeader` that reads and answers such frames, and a
//! table of every field.
//!
//! Everything about positions comes from the layout section of the spec: the
//! offsets become constants and array indices here, and no other code in the
//! crate knows them.

use proc_macro2::{Ident, Literal, TokenStream};
use quote::{format_ident, quote};

use super::{doc, ident, pascal, shouty};
use crate::model::{Field, Protocol, Role, Section, UnknownOpPolicy, UnusedBitsPolicy, WireType};

pub fn tokens(protocol: &Protocol) -> TokenStream {
    let sections_enum = section_enum(protocol);
    let roles = field_role_enum();
    let table = field_table(protocol);
    let error = header_error(protocol);
    let structs = protocol.sections.iter().map(|s| section_struct(protocol, s));
    let raw = raw_base_header(protocol);
    let frame = frame_header(protocol);
    quote! {
        #sections_enum
        #roles
        #table
        #error
        #( #structs )*
        #raw
        #frame
    }
}

/// `base` → `BaseHeader`.
fn struct_name(section: &Section) -> Ident {
    format_ident!("{}Header", pascal(&section.name))
}

/// The Rust type a field is read into.
fn field_type(field: &Field) -> TokenStream {
    match field.role {
        Role::Flags => quote!(Flags),
        Role::Op => quote!(Op),
        Role::Compression => quote!(Compression),
        Role::RequestId | Role::ChunkIndex | Role::ChunkTotal => int_type(field.ty),
    }
}

pub(super) fn int_type(ty: WireType) -> TokenStream {
    match ty {
        WireType::U8 => quote!(u8),
        WireType::U16 => quote!(u16),
        WireType::U32 => quote!(u32),
    }
}

fn role_variant(role: Role) -> Ident {
    pascal(role.name())
}

fn section_enum(protocol: &Protocol) -> TokenStream {
    let variants: Vec<Ident> = protocol.sections.iter().map(|s| pascal(&s.name)).collect();
    let docs = protocol.sections.iter().map(|s| doc(&s.doc));
    let names = protocol.sections.iter().map(|s| s.name.as_str());
    let lens = protocol
        .sections
        .iter()
        .map(|s| Literal::usize_unsuffixed(s.len()));
    let present_when = protocol.sections.iter().map(|s| match &s.present_when {
        Some(flag) => {
            let flag = shouty(flag);
            quote!(Some(Flags::#flag))
        }
        None => quote!(None),
    });
    let count = Literal::usize_unsuffixed(variants.len());
    quote! {
        /// A section of the frame header, in wire order.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum HeaderSection {
            #( #docs #variants, )*
        }

        impl HeaderSection {
            /// Every section, in wire order.
            pub const ALL: [HeaderSection; #count] = [ #( HeaderSection::#variants ),* ];

            /// The section's name in protocol.yaml.
            pub const fn name(self) -> &'static str {
                match self {
                    #( HeaderSection::#variants => #names, )*
                }
            }

            /// The section's length on the wire, in bytes.
            pub const fn encoded_len(self) -> usize {
                match self {
                    #( HeaderSection::#variants => #lens, )*
                }
            }

            /// The flag that announces the section; `None` for the base header,
            /// which every frame has.
            pub const fn present_when(self) -> Option<Flags> {
                match self {
                    #( HeaderSection::#variants => #present_when, )*
                }
            }
        }

        impl core::fmt::Display for HeaderSection {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str(self.name())
            }
        }
    }
}

fn field_role_enum() -> TokenStream {
    let variants = Role::ALL.iter().map(|r| role_variant(*r));
    let docs = Role::ALL.iter().map(|r| {
        doc(match r {
            Role::Flags => "The flags byte.",
            Role::RequestId => "The request id.",
            Role::Op => "The op code.",
            Role::Compression => "The compression algorithm id.",
            Role::ChunkIndex => "The chunk's position in its sequence.",
            Role::ChunkTotal => "The number of chunks in the sequence.",
        })
    });
    quote! {
        /// What a header field holds, as far as the codec is concerned.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum FieldRole {
            #( #docs #variants, )*
        }
    }
}

fn field_table(protocol: &Protocol) -> TokenStream {
    let entries = protocol.sections.iter().flat_map(|s| {
        let section = pascal(&s.name);
        s.fields.iter().map(move |f| {
            let name = &f.name;
            let offset = Literal::usize_unsuffixed(f.offset);
            let size = Literal::usize_unsuffixed(f.ty.size());
            let role = role_variant(f.role);
            let field_doc = &f.doc;
            quote! {
                FieldLayout {
                    name: #name,
                    section: HeaderSection::#section,
                    offset: #offset,
                    size: #size,
                    role: FieldRole::#role,
                    doc: #field_doc,
                }
            }
        })
    });
    let count = Literal::usize_unsuffixed(protocol.sections.iter().map(|s| s.fields.len()).sum());
    quote! {
        /// Where one header field sits, for tools that show a frame field by field.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub struct FieldLayout {
            /// The field's name in protocol.yaml.
            pub name: &'static str,
            /// The section the field belongs to.
            pub section: HeaderSection,
            /// The field's offset from the start of its section.
            pub offset: usize,
            /// The field's size in bytes (big-endian when wider than one).
            pub size: usize,
            /// What the field holds.
            pub role: FieldRole,
            /// The field's doc in protocol.yaml.
            pub doc: &'static str,
        }

        /// Every header field, in wire order.
        pub const FIELDS: [FieldLayout; #count] = [ #( #entries ),* ];
    }
}

/// The field with `role` in the base header, which validation guarantees for
/// the flags, the request id and the op.
fn base_field(protocol: &Protocol, role: Role) -> Option<&Field> {
    protocol.sections.first()?.fields.iter().find(|f| f.role == role)
}

fn header_error(protocol: &Protocol) -> TokenStream {
    let request_id_type =
        base_field(protocol, Role::RequestId).map_or_else(|| quote!(u16), |f| int_type(f.ty));
    let policy = &protocol.unknown_ops;
    let mut unanswered = policy.answered_unless.iter().map(|name| shouty(name));
    let unanswered = match unanswered.next() {
        Some(first) => quote!(Flags::#first #( .union(Flags::#unanswered) )*),
        None => quote!(Flags::EMPTY),
    };
    let (answerable, keeps_connection) = match policy.policy {
        UnknownOpPolicy::Answer => (
            quote! {
                match self {
                    HeaderError::UnknownOp { flags, .. } => !flags.intersects(#unanswered),
                    _ => false,
                }
            },
            quote!(matches!(self, HeaderError::UnknownOp { .. })),
        ),
        UnknownOpPolicy::Reject => (quote!(false), quote!(false)),
    };
    let unless: Vec<String> = policy.answered_unless.iter().map(|f| format!("`{f}`")).collect();
    let policy_line = match policy.policy {
        UnknownOpPolicy::Answer => format!(
            "The spec's policy is `answer`; a frame with any of the flags {} is not a request.",
            unless.join(", ")
        ),
        UnknownOpPolicy::Reject => "The spec's policy is `reject`: nothing is answerable.".to_owned(),
    };
    let answerable_doc = doc(&format!(
        "Whether the receiver answers the frame: an unknown op code in a request, which \
         gets an error response with the request id and the op byte as received (see \
         [`RawBaseHeader`]).\n\n{policy_line}\n\n{}",
        policy.doc
    ));
    let keeps_connection_doc = doc(&format!(
        "Whether the error concerns this frame only, so that the receiver drops it \
         (answering it when [`HeaderError::answerable`]) and keeps the connection: an \
         unknown op code, under the spec's `{}` policy{}.",
        policy.policy.name(),
        match policy.policy {
            UnknownOpPolicy::Answer => "",
            UnknownOpPolicy::Reject => ", never",
        }
    ));
    quote! {
        /// Why the header at the start of a frame could not be read.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
        pub enum HeaderError {
            /// The frame ends before a section its flags announce (or before the base header).
            #[error("frame of {actual} bytes is too short: its {section} header needs {needed} bytes from the start of the frame")]
            Truncated {
                /// The section that does not fit.
                section: HeaderSection,
                /// The frame length that section needs.
                needed: usize,
                /// The frame's length.
                actual: usize,
            },
            /// The op byte holds no known op code. The rest of the base header was
            /// read: what an answer needs is here.
            #[error("unknown op code {code} in a frame of request {request_id} with flags {flags}")]
            UnknownOp {
                /// The op byte.
                code: u8,
                /// The frame's request id.
                request_id: #request_id_type,
                /// The frame's flags.
                flags: Flags,
            },
            /// The algorithm byte holds no known algorithm id.
            #[error("unknown compression algorithm id {id}")]
            UnknownCompression {
                /// The algorithm byte.
                id: u8,
            },
            /// The flags set bits no version assigns, and the spec rejects them.
            #[error("flags {flags:#04x} set bits no version assigns ({unused:#04x})", unused = flags & Flags::UNUSED.bits())]
            UnusedFlagBits {
                /// The flags byte.
                flags: u8,
            },
        }

        impl HeaderError {
            #answerable_doc
            pub const fn answerable(&self) -> bool {
                #answerable
            }

            #keeps_connection_doc
            pub const fn keeps_connection(&self) -> bool {
                #keeps_connection
            }
        }
    }
}

/// The index expressions of a field's bytes within its section, e.g.
/// `bytes[1], bytes[2]`.
fn byte_indices(field: &Field) -> Vec<TokenStream> {
    (field.offset..field.offset + field.ty.size())
        .map(|i| {
            let i = Literal::usize_unsuffixed(i);
            quote!(bytes[#i])
        })
        .collect()
}

/// The expression that reads one field from `bytes`.
fn read_field(field: &Field) -> TokenStream {
    let indices = byte_indices(field);
    match field.role {
        Role::Flags => quote!(Flags::from_bits(#(#indices)*)),
        // The raw byte; the section's read checks it once every other field is read.
        Role::Op => quote!(#(#indices)*),
        Role::Compression => {
            quote!(Compression::from_id(#(#indices)*).ok_or(HeaderError::UnknownCompression { id: #(#indices)* })?)
        }
        Role::RequestId | Role::ChunkIndex | Role::ChunkTotal => {
            let ty = int_type(field.ty);
            quote!(#ty::from_be_bytes([ #(#indices),* ]))
        }
    }
}

/// The byte expressions of one field of `self`, in wire order, with any
/// `let` the field needs first.
fn write_field(field: &Field) -> (Option<TokenStream>, Vec<TokenStream>) {
    let name = ident(&field.name);
    match field.role {
        Role::Flags => (None, vec![quote!(self.#name.bits())]),
        Role::Op => (None, vec![quote!(self.#name.code())]),
        Role::Compression => (None, vec![quote!(self.#name.id())]),
        Role::RequestId | Role::ChunkIndex | Role::ChunkTotal if field.ty == WireType::U8 => {
            (None, vec![quote!(self.#name)])
        }
        Role::RequestId | Role::ChunkIndex | Role::ChunkTotal => {
            let bytes = (0..field.ty.size()).map(|i| {
                let i = Literal::usize_unsuffixed(i);
                quote!(#name[#i])
            });
            (
                Some(quote!(let #name = self.#name.to_be_bytes();)),
                bytes.collect(),
            )
        }
    }
}

fn section_struct(protocol: &Protocol, section: &Section) -> TokenStream {
    let ty = struct_name(section);
    let presence = match &section.present_when {
        Some(flag) => format!("present when the `{flag}` flag is set"),
        None => "every frame starts with it".to_owned(),
    };
    let struct_doc = doc(&format!(
        "{}\n\nThe `{}` section of protocol.yaml, {} bytes; {presence}.",
        section.doc,
        section.name,
        section.len()
    ));
    let len = Literal::usize_unsuffixed(section.len());
    let names: Vec<Ident> = section.fields.iter().map(|f| ident(&f.name)).collect();
    let types = section.fields.iter().map(field_type);
    let field_docs = section.fields.iter().map(|f| doc(&f.doc));
    let offset_consts = section.fields.iter().map(|f| {
        let konst = format_ident!("{}_OFFSET", shouty(&f.name));
        let offset = Literal::usize_unsuffixed(f.offset);
        let offset_doc = doc(&format!(
            "Where `{}` ({}) starts, from the start of the section.",
            f.name,
            f.ty.name()
        ));
        quote!(#offset_doc pub const #konst: usize = #offset;)
    });
    let reject_unused = protocol.unused_bits.policy == UnusedBitsPolicy::Reject;
    let reads = section.fields.iter().map(|f| {
        let name = ident(&f.name);
        let read = read_field(f);
        // The policy is checked as soon as the flags are read, before any other field.
        let check = (f.role == Role::Flags && reject_unused).then(|| {
            quote! {
                if #name.intersects(Flags::UNUSED) {
                    return Err(HeaderError::UnusedFlagBits { flags: #name.bits() });
                }
            }
        });
        quote! {
            let #name = #read;
            #check
        }
    });
    // The op code is checked last, so that the error carries the request id
    // and the flags (validation keeps all three in the base header).
    let op_check = section.fields.iter().find(|f| f.role == Role::Op).map(|op| {
        let op = ident(&op.name);
        // `request_id` or `request_id: id`, as the spec names the field.
        let field = |role: Role| {
            let error_field = ident(role.name());
            match base_field(protocol, role) {
                Some(f) if f.name != role.name() => {
                    let name = ident(&f.name);
                    quote!(#error_field: #name)
                }
                _ => quote!(#error_field),
            }
        };
        let (request_id, flags) = (field(Role::RequestId), field(Role::Flags));
        quote! {
            let #op = Op::from_code(#op).ok_or(HeaderError::UnknownOp {
                code: #op,
                #request_id,
                #flags,
            })?;
        }
    });
    let writes: Vec<_> = section.fields.iter().map(write_field).collect();
    let lets = writes.iter().filter_map(|(l, _)| l.as_ref());
    let bytes = writes.iter().flat_map(|(_, b)| b.iter());

    quote! {
        #struct_doc
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub struct #ty {
            #( #field_docs pub #names: #types, )*
        }

        impl #ty {
            /// The section's length on the wire, in bytes.
            pub const LEN: usize = #len;

            #( #offset_consts )*

            /// Reads the section from its bytes.
            #[inline]
            pub fn decode(bytes: &[u8; Self::LEN]) -> Result<#ty, HeaderError> {
                #( #reads )*
                #op_check
                Ok(#ty { #( #names ),* })
            }

            /// The section's bytes, as they go on the wire.
            #[inline]
            pub fn encode(&self) -> [u8; Self::LEN] {
                #( #lets )*
                [ #( #bytes ),* ]
            }
        }
    }
}

/// `RawBaseHeader`: the base header with the op byte as it is, for a frame
/// whose op code is unknown and for the answer that echoes it.
fn raw_base_header(protocol: &Protocol) -> TokenStream {
    let Some(base) = protocol.sections.first() else {
        return TokenStream::new();
    };
    let ty = format_ident!("Raw{}", struct_name(base));
    let base_ty = struct_name(base);
    let struct_doc = doc(&format!(
        "The `{}` section with its op byte as it is on the wire, known op code or not: \
         what a receiver reads from a frame whose op it does not know, and the header of \
         the answer that echoes that byte. Unlike [`{base_ty}::decode`], reading one checks \
         nothing.",
        base.name
    ));
    // The code-valued fields hold their byte as it is; the others read as in the base header.
    let raw = |f: &Field| matches!(f.role, Role::Op | Role::Compression);
    let names: Vec<Ident> = base.fields.iter().map(|f| ident(&f.name)).collect();
    let types = base
        .fields
        .iter()
        .map(|f| if raw(f) { quote!(u8) } else { field_type(f) });
    let field_docs = base.fields.iter().map(|f| {
        if raw(f) {
            doc(&format!("{} The byte as received, known or not.", f.doc))
        } else {
            doc(&f.doc)
        }
    });
    let reads = base.fields.iter().map(|f| {
        if raw(f) {
            let indices = byte_indices(f);
            quote!(#(#indices)*)
        } else {
            read_field(f)
        }
    });
    let writes: Vec<_> = base
        .fields
        .iter()
        .map(|f| {
            if raw(f) {
                let name = ident(&f.name);
                (None, vec![quote!(self.#name)])
            } else {
                write_field(f)
            }
        })
        .collect();
    let lets = writes.iter().filter_map(|(l, _)| l.as_ref());
    let bytes = writes.iter().flat_map(|(_, b)| b.iter());
    let from = base.fields.iter().map(|f| {
        let name = ident(&f.name);
        match f.role {
            Role::Op => quote!(#name: header.#name.code()),
            Role::Compression => quote!(#name: header.#name.id()),
            _ => quote!(#name: header.#name),
        }
    });
    quote! {
        #struct_doc
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub struct #ty {
            #( #field_docs pub #names: #types, )*
        }

        impl #ty {
            /// The section's length on the wire, in bytes.
            pub const LEN: usize = #base_ty::LEN;

            /// Reads the section from its bytes, whatever they hold.
            #[inline]
            pub const fn decode(bytes: &[u8; Self::LEN]) -> #ty {
                #( let #names = #reads; )*
                #ty { #( #names ),* }
            }

            /// The section's bytes, as they go on the wire.
            #[inline]
            pub const fn encode(&self) -> [u8; Self::LEN] {
                #( #lets )*
                [ #( #bytes ),* ]
            }
        }

        impl From<#base_ty> for #ty {
            fn from(header: #base_ty) -> #ty {
                #ty { #( #from ),* }
            }
        }
    }
}

fn frame_header(protocol: &Protocol) -> TokenStream {
    let base = &protocol.sections[0];
    let base_ty = struct_name(base);
    let base_field = ident(&base.name);
    let flags_field = base
        .fields
        .iter()
        .find(|f| f.role == Role::Flags)
        .map(|f| ident(&f.name))
        .unwrap_or_else(|| ident("flags"));
    let base_variant = pascal(&base.name);
    let base_doc = doc(&base.doc);

    let extensions = &protocol.sections[1..];
    let ext_fields: Vec<Ident> = extensions.iter().map(|s| ident(&s.name)).collect();
    let ext_types: Vec<Ident> = extensions.iter().map(struct_name).collect();
    let ext_variants: Vec<Ident> = extensions.iter().map(|s| pascal(&s.name)).collect();
    let ext_flags: Vec<Ident> = extensions
        .iter()
        .map(|s| shouty(s.present_when.as_deref().unwrap_or_default()))
        .collect();
    let ext_docs = extensions.iter().map(|s| {
        let flag = s.present_when.as_deref().unwrap_or_default();
        doc(&format!(
            "{} Present exactly when the `{flag}` flag is set.",
            s.doc
        ))
    });
    let max_len = Literal::usize_unsuffixed(protocol.sections.iter().map(Section::len).sum());

    quote! {
        /// The header of one frame: the base header and the sections its flags announce.
        ///
        /// When encoding, the announcing flags follow the sections: a section that is
        /// `Some` sets its flag on the wire and a `None` clears it, whatever
        /// `base` says, so a header cannot announce a section it lacks.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub struct FrameHeader {
            #base_doc
            pub #base_field: #base_ty,
            #( #ext_docs pub #ext_fields: Option<#ext_types>, )*
        }

        impl FrameHeader {
            /// The longest header, with every section present.
            pub const MAX_LEN: usize = #max_len;

            /// A header with the base section only.
            pub const fn new(#base_field: #base_ty) -> FrameHeader {
                FrameHeader { #base_field, #( #ext_fields: None, )* }
            }

            /// The header's length on the wire, in bytes.
            pub const fn encoded_len(&self) -> usize {
                let mut len = #base_ty::LEN;
                #(
                    if self.#ext_fields.is_some() {
                        len += #ext_types::LEN;
                    }
                )*
                len
            }

            /// The flags as they go on the wire: the base flags with each announcing
            /// flag set exactly when its section is present.
            pub const fn wire_flags(&self) -> Flags {
                self.#base_field.#flags_field
                    #( .with(Flags::#ext_flags, self.#ext_fields.is_some()) )*
            }

            /// Reads the header at the start of `frame` and returns it with the
            /// rest of the frame, the payload, borrowed.
            //
            // Inlined into callers in other crates: reading a header is a few
            // instructions, and returning it from a call through memory costs
            // more than the reading.
            #[inline]
            pub fn decode(frame: &[u8]) -> Result<(FrameHeader, &[u8]), HeaderError> {
                let mut rest = frame;
                let #base_field = #base_ty::decode(split_section(&mut rest, frame.len(), HeaderSection::#base_variant)?)?;
                #(
                    let #ext_fields = if #base_field.#flags_field.contains(Flags::#ext_flags) {
                        Some(#ext_types::decode(split_section(&mut rest, frame.len(), HeaderSection::#ext_variants)?)?)
                    } else {
                        None
                    };
                )*
                Ok((FrameHeader { #base_field, #( #ext_fields ),* }, rest))
            }

            /// Appends the header's bytes to `out`.
            #[inline]
            pub fn encode_into(&self, out: &mut Vec<u8>) {
                let #base_field = #base_ty { #flags_field: self.wire_flags(), ..self.#base_field };
                out.extend_from_slice(&#base_field.encode());
                #(
                    if let Some(section) = &self.#ext_fields {
                        out.extend_from_slice(&section.encode());
                    }
                )*
            }
        }

        /// Splits the next `N` bytes, one header section, off the front of `rest`.
        #[inline]
        fn split_section<'a, const N: usize>(
            rest: &mut &'a [u8],
            frame_len: usize,
            section: HeaderSection,
        ) -> Result<&'a [u8; N], HeaderError> {
            match rest.split_first_chunk::<N>() {
                Some((bytes, tail)) => {
                    *rest = tail;
                    Ok(bytes)
                }
                None => Err(HeaderError::Truncated {
                    section,
                    needed: frame_len - rest.len() + N,
                    actual: frame_len,
                }),
            }
        }
    }
}
