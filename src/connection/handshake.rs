//! The capability handshake: the client's offer, the server's answer, and
//! the session both then speak.
//!
//! Every name and value in the messages comes from the spec through
//! [`crate::protocol::handshake`]; this module only arranges them.

use serde_json::{Map, Value};

use super::capabilities::Capabilities;
use crate::protocol::handshake::{self, fields};
use crate::protocol::{Compression, Version};

/// What a connection speaks once the handshake is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Session {
    /// The protocol version: v1 when no handshake happened or it failed.
    pub version: Version,
    /// The algorithm frames of at least the compression threshold are sent with.
    pub compression: Option<Compression>,
    /// Whether payloads over the chunking threshold are sent as chunks.
    pub chunked: bool,
}

impl Session {
    /// A v1 session: no compression, no chunking.
    pub const V1: Session = Session {
        version: Version::V1,
        compression: None,
        chunked: false,
    };
}

/// A handshake message that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HandshakeError {
    /// The text is not JSON.
    #[error("handshake message is not JSON: {reason}")]
    NotJson {
        /// What the JSON parser reported.
        reason: String,
    },
    /// The JSON is not an object.
    #[error("handshake message is not a JSON object")]
    NotAnObject,
    /// The `type` field is missing or names another message.
    #[error("handshake message has type {found:?}, expected {expected:?}")]
    WrongType {
        /// The type found (empty when missing).
        found: String,
        /// The handshake type of the spec.
        expected: &'static str,
    },
    /// A field has the wrong JSON type.
    #[error("handshake field `{field}` should be {expected}, found {found}")]
    BadField {
        /// The field's JSON key.
        field: &'static str,
        /// What the spec says it holds.
        expected: &'static str,
        /// The JSON found there.
        found: String,
    },
}

/// The client's offer: the algorithms it accepts, in its order of
/// preference, and whether it accepts chunks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    /// Algorithm names, as sent; a peer may name algorithms this crate does not know.
    pub compression: Vec<String>,
    /// Whether the client accepts chunked frames.
    pub chunked: bool,
    /// The version the client speaks.
    pub version: u64,
}

impl Offer {
    /// The offer of a client with these capabilities: its algorithms, in its
    /// order of preference, and chunks when it accepts them.
    pub fn new(capabilities: &Capabilities) -> Offer {
        Offer {
            compression: capabilities
                .algorithms()
                .iter()
                .map(|algorithm| algorithm.name().to_owned())
                .collect(),
            chunked: capabilities.is_chunked(),
            version: u64::from(handshake::VERSION),
        }
    }

    /// The offer as the JSON text message sent on the wire.
    pub fn to_json(&self) -> String {
        message(self.compression.clone().into(), self.chunked, self.version)
    }

    /// Reads an offer. Missing `compression` and `chunked` read as none and
    /// false, and a missing version as the spec's, as the reference does.
    pub fn parse(text: &str) -> Result<Offer, HandshakeError> {
        let object = handshake_object(text)?;
        let compression = match object.get(fields::COMPRESSION) {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(names)) => names
                .iter()
                .map(|name| match name {
                    Value::String(name) => Ok(name.clone()),
                    other => Err(bad_field(fields::COMPRESSION, "an array of strings", other)),
                })
                .collect::<Result<_, _>>()?,
            Some(other) => return Err(bad_field(fields::COMPRESSION, "an array of strings", other)),
        };
        Ok(Offer {
            compression,
            chunked: flag(&object, fields::CHUNKED)?,
            version: version(&object)?,
        })
    }

    /// The algorithms of the offer this crate knows, in the offer's order.
    pub fn known_algorithms(&self) -> impl Iterator<Item = Compression> + '_ {
        self.compression
            .iter()
            .filter_map(|name| Compression::from_name(name))
    }
}

/// The server's answer: the algorithm chosen, if any, and whether chunks are on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The algorithm's name, or `None` when the peers share none.
    pub compression: Option<String>,
    /// Whether both peers want chunking.
    pub chunked: bool,
    /// The version the server speaks.
    pub version: u64,
}

impl Answer {
    /// The answer of a server with `capabilities` to `offer`: the first
    /// algorithm of the offer that the server supports, and chunking only
    /// when both want it.
    pub fn to_offer(offer: &Offer, capabilities: &Capabilities) -> Answer {
        let chosen = offer
            .known_algorithms()
            .find(|algorithm| capabilities.algorithms().contains(algorithm));
        Answer {
            compression: chosen.map(|algorithm| algorithm.name().to_owned()),
            chunked: offer.chunked && capabilities.is_chunked(),
            version: u64::from(handshake::VERSION),
        }
    }

    /// The answer as the JSON text message sent on the wire.
    pub fn to_json(&self) -> String {
        message(self.compression.clone().into(), self.chunked, self.version)
    }

    /// Reads an answer.
    pub fn parse(text: &str) -> Result<Answer, HandshakeError> {
        let object = handshake_object(text)?;
        let compression = match object.get(fields::COMPRESSION) {
            None | Some(Value::Null) => None,
            Some(Value::String(name)) => Some(name.clone()),
            Some(other) => return Err(bad_field(fields::COMPRESSION, "a string or null", other)),
        };
        Ok(Answer {
            compression,
            chunked: flag(&object, fields::CHUNKED)?,
            version: version(&object)?,
        })
    }

    /// The session a client that sent `offer` speaks after this answer.
    /// An algorithm the client did not offer is not used: a server that
    /// answers with one is broken, and the client stays with what it can
    /// be sure the server reads.
    pub fn session(&self, offer: &Offer) -> Session {
        let compression = self
            .compression
            .as_deref()
            .filter(|name| offer.compression.iter().any(|offered| offered == name))
            .and_then(Compression::from_name);
        Session {
            version: Version::V2,
            compression,
            chunked: self.chunked && offer.chunked,
        }
    }
}

/// The token message a client sends first on a connection that needs one.
pub fn auth_message(token: &str) -> String {
    let mut object = Map::new();
    object.insert(handshake::AUTH_TOKEN_FIELD.into(), token.into());
    Value::Object(object).to_string()
}

/// The token of a token message, if `text` is one.
pub fn parse_auth(text: &str) -> Option<String> {
    match serde_json::from_str::<Value>(text).ok()? {
        Value::Object(mut object) => match object.remove(handshake::AUTH_TOKEN_FIELD)? {
            Value::String(token) => Some(token),
            _ => None,
        },
        _ => None,
    }
}

/// An offer or an answer: the same keys, in the spec's order; only the
/// compression field's shape differs (a list offered, a name or null answered).
fn message(compression: Value, chunked: bool, version: u64) -> String {
    let mut object = Map::new();
    object.insert(fields::TYPE.into(), handshake::TYPE.into());
    object.insert(fields::COMPRESSION.into(), compression);
    object.insert(fields::CHUNKED.into(), chunked.into());
    object.insert(fields::VERSION.into(), version.into());
    Value::Object(object).to_string()
}

fn handshake_object(text: &str) -> Result<Map<String, Value>, HandshakeError> {
    let value: Value = serde_json::from_str(text).map_err(|error| HandshakeError::NotJson {
        reason: error.to_string(),
    })?;
    let Value::Object(object) = value else {
        return Err(HandshakeError::NotAnObject);
    };
    match object.get(fields::TYPE) {
        Some(Value::String(found)) if found == handshake::TYPE => Ok(object),
        found => Err(HandshakeError::WrongType {
            found: match found {
                Some(Value::String(found)) => found.clone(),
                Some(other) => other.to_string(),
                None => String::new(),
            },
            expected: handshake::TYPE,
        }),
    }
}

fn flag(object: &Map<String, Value>, field: &'static str) -> Result<bool, HandshakeError> {
    match object.get(field) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(on)) => Ok(*on),
        Some(other) => Err(bad_field(field, "a boolean", other)),
    }
}

fn version(object: &Map<String, Value>) -> Result<u64, HandshakeError> {
    match object.get(fields::VERSION) {
        None | Some(Value::Null) => Ok(u64::from(handshake::VERSION)),
        Some(Value::Number(number)) => number.as_u64().ok_or_else(|| {
            bad_field(
                fields::VERSION,
                "a non-negative integer",
                &Value::Number(number.clone()),
            )
        }),
        Some(other) => Err(bad_field(fields::VERSION, "a non-negative integer", other)),
    }
}

fn bad_field(field: &'static str, expected: &'static str, found: &Value) -> HandshakeError {
    let mut found = found.to_string();
    // A hostile peer's field could be megabytes; the error only needs a glimpse.
    if found.len() > 64 {
        let cut = (0..=64).rev().find(|&at| found.is_char_boundary(at)).unwrap_or(0);
        found.truncate(cut);
        found.push('…');
    }
    HandshakeError::BadField {
        field,
        expected,
        found,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offer_is_the_reference_message() {
        let offer = Offer::new(&Capabilities::new().compression([Compression::Zlib]).chunked(true));
        assert_eq!(
            offer.to_json(),
            r#"{"type":"capabilities","compression":["zlib"],"chunked":true,"version":2}"#
        );
        assert_eq!(Offer::parse(&offer.to_json()), Ok(offer));
    }

    #[test]
    fn answer_picks_the_first_offered_algorithm_the_server_supports() {
        let offer = Offer::parse(
            r#"{"type":"capabilities","compression":["brotli","lzma","zlib"],"chunked":true,"version":2}"#,
        )
        .unwrap();
        let server = Capabilities::new().compression([Compression::Zlib, Compression::Lzma]);
        let answer = Answer::to_offer(&offer, &server);
        assert_eq!(answer.compression.as_deref(), Some("lzma"));
        assert!(!answer.chunked, "chunking needs both peers");
        assert_eq!(
            answer.to_json(),
            r#"{"type":"capabilities","compression":"lzma","chunked":false,"version":2}"#
        );
        let none = Answer::to_offer(&offer, &Capabilities::new().chunked(true));
        assert_eq!(none.compression, None);
        assert!(none.chunked);
    }

    #[test]
    fn a_client_ignores_an_algorithm_it_did_not_offer() {
        let offer = Offer::new(&Capabilities::new().compression([Compression::Zlib]));
        let answer =
            Answer::parse(r#"{"type":"capabilities","compression":"lzma","chunked":true,"version":2}"#)
                .unwrap();
        assert_eq!(
            answer.session(&offer),
            Session {
                version: Version::V2,
                compression: None,
                chunked: false
            }
        );
    }

    #[test]
    fn refusals_say_what_was_wrong() {
        assert!(matches!(Offer::parse("{"), Err(HandshakeError::NotJson { .. })));
        assert_eq!(Offer::parse("[]"), Err(HandshakeError::NotAnObject));
        assert_eq!(
            Answer::parse(r#"{"type":"hello"}"#),
            Err(HandshakeError::WrongType {
                found: "hello".into(),
                expected: handshake::TYPE
            })
        );
        assert_eq!(
            Offer::parse(r#"{"type":"capabilities","compression":"zlib"}"#),
            Err(HandshakeError::BadField {
                field: fields::COMPRESSION,
                expected: "an array of strings",
                found: "\"zlib\"".into()
            })
        );
        assert!(matches!(
            Answer::parse(r#"{"type":"capabilities","chunked":"yes"}"#),
            Err(HandshakeError::BadField {
                field: fields::CHUNKED,
                ..
            })
        ));
    }

    #[test]
    fn token_message_round_trips() {
        assert_eq!(auth_message("s3cret"), r#"{"authToken":"s3cret"}"#);
        assert_eq!(parse_auth(&auth_message("s3cret")).as_deref(), Some("s3cret"));
        assert_eq!(parse_auth(r#"{"authToken":7}"#), None);
        assert_eq!(parse_auth("nope"), None);
    }
}
