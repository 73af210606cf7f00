//! The spec's fixed vocabularies: every string field whose value is one of
//! a few words becomes an enum here, read by serde.
//!
//! Each enum is one table: its variants with their spellings in the YAML,
//! side by side. An unknown word fails the parse with the YAML path (which
//! the parser adds), the word, and every accepted spelling.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, Visitor};

/// `unknown field type `u24`; expected one of `u8`, `u16`, `u32``.
fn unknown(what: &str, word: &str, accepted: &[&str]) -> String {
    let accepted: Vec<String> = accepted.iter().map(|s| format!("`{s}`")).collect();
    format!("unknown {what} `{word}`; expected one of {}", accepted.join(", "))
}

/// An enum whose values are spelled in the spec, with `ALL`, `name()` (the
/// spelling) and a [`Deserialize`] that names the accepted spellings.
macro_rules! vocabulary {
    (
        $(#[$meta:meta])*
        pub enum $name:ident ($what:literal) {
            $( $(#[$variant_meta:meta])* $variant:ident = $spelling:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$variant_meta])* $variant, )+
        }

        impl $name {
            /// Every value, in the order of this table.
            pub const ALL: &'static [$name] = &[ $( $name::$variant ),+ ];

            /// What one value is called in error messages.
            pub const WHAT: &'static str = $what;

            /// The spelling in the spec.
            pub fn name(self) -> &'static str {
                match self {
                    $( $name::$variant => $spelling, )+
                }
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                /// Reads the word where it stands, so that the parser's error
                /// names the YAML path and the location of the word itself.
                struct Word;

                impl Visitor<'_> for Word {
                    type Value = $name;

                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        write!(f, "a {}: one of {}", $what, [ $( concat!("`", $spelling, "`") ),+ ].join(", "))
                    }

                    fn visit_str<E: de::Error>(self, word: &str) -> Result<$name, E> {
                        match word {
                            $( $spelling => Ok($name::$variant), )+
                            other => Err(E::custom(unknown($what, other, &[ $( $spelling ),+ ]))),
                        }
                    }
                }

                deserializer.deserialize_str(Word)
            }
        }
    };
}

vocabulary! {
    /// A fixed-width big-endian unsigned integer.
    pub enum WireType ("field type") {
        /// One byte.
        U8 = "u8",
        /// Two bytes, big-endian.
        U16 = "u16",
        /// Four bytes, big-endian.
        U32 = "u32",
    }
}

vocabulary! {
    /// What the codec uses a header field for. Each role appears exactly once.
    pub enum Role ("role") {
        /// The flags byte.
        Flags = "flags",
        /// The request id.
        RequestId = "request_id",
        /// The op code.
        Op = "op",
        /// The compression algorithm id.
        Compression = "compression",
        /// A chunk's index.
        ChunkIndex = "chunk_index",
        /// The number of chunks.
        ChunkTotal = "chunk_total",
    }
}

vocabulary! {
    /// The unit of a default.
    pub enum Unit ("unit") {
        /// A size in bytes.
        Bytes = "bytes",
        /// A duration in seconds.
        Seconds = "seconds",
        /// A plain number.
        Count = "count",
        /// A value of the request id field.
        RequestId = "request_id",
    }
}

vocabulary! {
    /// What a decoder does with bits no version assigns.
    pub enum UnusedBitsPolicy ("policy") {
        /// Keep them, give them no meaning.
        Ignore = "ignore",
        /// Refuse the frame.
        Reject = "reject",
    }
}

vocabulary! {
    /// What a receiver does with a frame whose op code it does not know.
    pub enum UnknownOpPolicy ("policy") {
        /// Answer a request with an error response echoing its id and op byte,
        /// drop a response or a push, and keep the connection.
        Answer = "answer",
        /// The frame's header is unreadable: close the connection.
        Reject = "reject",
    }
}

vocabulary! {
    /// The JSON shape of a handshake field.
    pub enum JsonShape ("JSON shape") {
        /// A string.
        String = "string",
        /// A list of algorithm names in the offer, one name or null in the answer.
        Algorithms = "algorithms",
        /// A boolean.
        Bool = "bool",
        /// A protocol version number.
        Version = "version",
    }
}

vocabulary! {
    /// Which peer sends a message.
    pub enum Sender ("sender") {
        /// The client.
        Client = "client",
        /// The server.
        Server = "server",
    }
}

vocabulary! {
    /// The JSON shape of a text message's field.
    pub enum MessageJson ("JSON shape") {
        /// A string.
        String = "string",
        /// Bytes or UTF-8 text in unpadded base64url.
        Base64Url = "base64url",
        /// A Haystack 4 JSON grid.
        Grid = "grid",
        /// Any JSON value, echoed as received.
        Any = "any",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_reads_back_as_its_value() {
        for role in Role::ALL {
            let read: Role = serde_norway::from_str(role.name()).expect("a known role");
            assert_eq!(read, *role);
        }
    }

    #[test]
    fn an_unknown_word_is_named_with_every_accepted_spelling() {
        let error = serde_norway::from_str::<WireType>("u24").expect_err("not a wire type");
        let message = error.to_string();
        assert!(
            message.starts_with("unknown field type `u24`; expected one of `u8`, `u16`, `u32`"),
            "{message}"
        );
    }
}
