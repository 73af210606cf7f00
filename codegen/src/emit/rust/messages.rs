//! The `messages` module: the names, shapes and order of the JSON text
//! messages (envelopes, batches, JSON pushes, the login).

use proc_macro2::{Literal, TokenStream};
use quote::quote;

use super::{doc, pascal, shouty, snake};
use crate::model::{Message, MessageField, MessageJson, Messages, Protocol, Sender};

pub fn tokens(protocol: &Protocol) -> TokenStream {
    let Some(m) = &protocol.messages else {
        return TokenStream::new();
    };
    let module_doc = doc(&m.doc);
    let type_field = &m.type_field;
    let type_field_doc = doc(&format!(
        "The JSON key that carries the kind of the messages that have one (see [`Message::kind`]). \
         The capability handshake uses the same key with its own type, `{}`.",
        protocol.handshake.ty
    ));
    let batch = batch(m);
    let message_enum = message_enum(m);
    let modules = m.list.iter().map(message_module);
    let login = login(m);
    quote! {
        #module_doc
        pub mod messages {
            #type_field_doc
            pub const TYPE_FIELD: &str = #type_field;

            /// Which peer sends a message.
            #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
            pub enum Sender {
                /// The client.
                Client,
                /// The server.
                Server,
            }

            /// The JSON shape of a text message's field.
            #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
            pub enum Json {
                /// A JSON string.
                String,
                /// Bytes, or UTF-8 text, in unpadded base64url, as a JSON string.
                Base64Url,
                /// A Haystack 4 JSON grid object.
                Grid,
                /// Any JSON value, echoed as received.
                Any,
            }

            /// One JSON field of a text message.
            #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
            pub struct Field {
                /// The JSON key.
                pub name: &'static str,
                /// The JSON shape of its value.
                pub json: Json,
                /// Whether every message of its kind has it.
                pub required: bool,
            }

            #batch
            #message_enum
            #( #modules )*
            #login
        }
    }
}

fn batch(m: &Messages) -> TokenStream {
    let batch_doc = doc(&m.batch_doc);
    let max = Literal::u64_unsuffixed(m.batch_max_items);
    quote! {
        #batch_doc
        pub mod batch {
            /// The most requests one batch may hold.
            pub const MAX_ITEMS: usize = #max;
        }
    }
}

fn message_enum(m: &Messages) -> TokenStream {
    let variants = m.list.iter().map(|message| {
        let variant = pascal(&message.name);
        let variant_doc = doc(&message.doc);
        quote!(#variant_doc #variant,)
    });
    let all = m.list.iter().map(|message| {
        let variant = pascal(&message.name);
        quote!(Message::#variant,)
    });
    let count = Literal::usize_unsuffixed(m.list.len());
    let arms = |f: &dyn Fn(&Message) -> TokenStream| -> Vec<TokenStream> {
        m.list
            .iter()
            .map(|message| {
                let variant = pascal(&message.name);
                let value = f(message);
                quote!(Message::#variant => #value,)
            })
            .collect()
    };
    let names = arms(&|message| {
        let name = &message.name;
        quote!(#name)
    });
    let kinds = arms(&|message| match &message.ty {
        Some(ty) => quote!(Some(#ty)),
        None => quote!(None),
    });
    let senders = arms(&|message| sender(message.sender));
    let fields = arms(&|message| {
        let module = snake(&message.name);
        quote!(&#module::FIELDS)
    });
    quote! {
        /// Every text message of the spec.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Message {
            #( #variants )*
        }

        impl Message {
            /// Every message, in spec order.
            pub const ALL: [Message; #count] = [ #( #all )* ];

            /// The message's name in the spec.
            pub const fn name(self) -> &'static str {
                match self { #( #names )* }
            }

            /// The value of its `type` field, for the messages that carry one.
            pub const fn kind(self) -> Option<&'static str> {
                match self { #( #kinds )* }
            }

            /// Which peer sends it.
            pub const fn sender(self) -> Sender {
                match self { #( #senders )* }
            }

            /// Its fields, in the order they are written.
            pub const fn fields(self) -> &'static [Field] {
                match self { #( #fields )* }
            }
        }
    }
}

fn message_module(message: &Message) -> TokenStream {
    let module = snake(&message.name);
    let module_doc = doc(&message.doc);
    let sender = sender(message.sender);
    let sender = quote!(super::#sender);
    let kind = message.ty.as_ref().map(|ty| {
        let kind_doc = doc(&format!(
            "The value of the `type` field that marks this message: `{ty}`."
        ));
        quote!(#kind_doc pub const KIND: &str = #ty;)
    });
    let keys = message.fields.iter().map(|f| {
        let name = shouty(&f.name);
        let key = &f.name;
        let presence = if f.required { "Always present" } else { "Optional" };
        let field_doc = doc(&format!("{} ({presence}; {}.)", f.doc, shape_words(f.json)));
        quote!(#field_doc pub const #name: &str = #key;)
    });
    let count = Literal::usize_unsuffixed(message.fields.len());
    let fields = message.fields.iter().map(field);
    quote! {
        #module_doc
        pub mod #module {
            /// Who sends it.
            pub const SENDER: super::Sender = #sender;
            #kind
            #( #keys )*
            /// Its fields, in the order they are written.
            pub const FIELDS: [super::Field; #count] = [ #( #fields )* ];
        }
    }
}

fn field(f: &MessageField) -> TokenStream {
    let name = &f.name;
    let json = match f.json {
        MessageJson::String => quote!(super::Json::String),
        MessageJson::Base64Url => quote!(super::Json::Base64Url),
        MessageJson::Grid => quote!(super::Json::Grid),
        MessageJson::Any => quote!(super::Json::Any),
    };
    let required = f.required;
    quote!(super::Field { name: #name, json: #json, required: #required },)
}

fn shape_words(json: MessageJson) -> &'static str {
    match json {
        MessageJson::String => "a string",
        MessageJson::Base64Url => "unpadded base64url",
        MessageJson::Grid => "a Haystack 4 JSON grid",
        MessageJson::Any => "any JSON value",
    }
}

fn sender(sender: Sender) -> TokenStream {
    match sender {
        Sender::Client => quote!(Sender::Client),
        Sender::Server => quote!(Sender::Server),
    }
}

fn login(m: &Messages) -> TokenStream {
    let login_doc = doc(&m.login.doc);
    let hash = &m.login.hash;
    let steps = m.login.steps.iter().map(|step| {
        let variant = pascal(step);
        quote!(super::Message::#variant,)
    });
    let count = Literal::usize_unsuffixed(m.login.steps.len());
    let refusal = pascal(&m.login.refusal);
    quote! {
        #login_doc
        pub mod login {
            /// The hash function both sides name in the login.
            pub const HASH: &str = #hash;
            /// The messages of a successful login, in order, client first.
            pub const STEPS: [super::Message; #count] = [ #( #steps )* ];
            /// What the server sends instead of its next step when the login fails.
            pub const REFUSAL: super::Message = super::Message::#refusal;
        }
    }
}
