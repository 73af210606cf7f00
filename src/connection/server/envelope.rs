//! The JSON text messages a server reads and writes besides binary frames:
//! request envelopes and batches in, response envelopes and watch pushes out.
//!
//! Reading borrows from the text message: the grid, the id and the channel
//! are kept as raw JSON, never parsed into a tree, and a batch is counted
//! while it is read, so that one over [`batch::MAX_ITEMS`] is refused before
//! its items are collected. Every key and type value comes from
//! [`crate::protocol::messages`] and [`crate::protocol::handshake`].

use std::cell::Cell;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::protocol::handshake;
use crate::protocol::messages::{batch, request, response, watch_push, Message, Sender, TYPE_FIELD};

/// One request envelope, borrowed from its text message. A field whose
/// value is JSON `null` reads as absent, as the reference reads it.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Envelope<'a> {
    /// The correlation id, as raw JSON.
    pub(super) id: Option<&'a RawValue>,
    /// The op, as raw JSON (a string when the client is well-behaved).
    pub(super) op: Option<&'a RawValue>,
    /// The request grid, as raw JSON.
    pub(super) grid: Option<&'a RawValue>,
    /// The channel, as raw JSON.
    pub(super) ch: Option<&'a RawValue>,
    /// The `type` field, when the object has one.
    pub(super) kind: Option<&'a RawValue>,
    /// Whether the object carries the token field of the token message.
    pub(super) has_token: bool,
}

/// What one text message is, once read.
#[derive(Debug)]
pub(super) enum Text<'a> {
    /// A JSON object: a request envelope, a capability offer, or a login
    /// message (see [`Envelope::role`]).
    Object(Envelope<'a>),
    /// A JSON array: a batch, its objects in order (other items skipped).
    Batch(Vec<Envelope<'a>>),
    /// A batch of more than [`batch::MAX_ITEMS`] items, refused as soon as
    /// its items passed the cap.
    TooManyItems {
        /// How many items were read before the batch was refused.
        seen: usize,
    },
    /// Not JSON, or a JSON value that is neither an object nor an array.
    Other,
}

/// What a JSON object is to the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    /// The capability handshake's offer.
    Offer,
    /// A message of the login (the token message, a SCRAM step): it has no
    /// place after the login and is ignored.
    Login,
    /// A request envelope.
    Request,
}

impl Envelope<'_> {
    /// What the object is: its `type` names the handshake or a message a
    /// client sends to log in, or it carries the token and no op; anything
    /// else is a request.
    pub(super) fn role(&self) -> Role {
        let kind = self.kind.and_then(json_string);
        match kind.as_deref() {
            Some(kind) if kind == handshake::TYPE => Role::Offer,
            Some(kind) if is_login_kind(kind) => Role::Login,
            _ if self.has_token && self.op.is_none() => Role::Login,
            _ => Role::Request,
        }
    }

    /// Whether the object's `type` is `kind`.
    pub(super) fn has_kind(&self, kind: &str) -> bool {
        self.kind.and_then(json_string).as_deref() == Some(kind)
    }

    /// The op's name, or the raw JSON of an op that is not a string.
    pub(super) fn op_name(&self) -> Result<String, OpField> {
        let raw = self.op.ok_or(OpField::Missing)?;
        json_string(raw).ok_or_else(|| OpField::NotAString(raw.get().to_owned()))
    }
}

/// Why an envelope names no op the server can look up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum OpField {
    /// The envelope has no op.
    Missing,
    /// The op is not a JSON string: its raw JSON.
    NotAString(String),
}

/// Whether `kind` is the `type` of a message a client sends to log in.
fn is_login_kind(kind: &str) -> bool {
    Message::ALL
        .iter()
        .any(|message| message.sender() == Sender::Client && message.kind() == Some(kind))
}

/// The string a raw JSON value holds, unescaped; `None` when it is not a string.
fn json_string(raw: &RawValue) -> Option<String> {
    if !raw.get().starts_with('"') {
        return None;
    }
    serde_json::from_str(raw.get()).ok()
}

/// Reads one text message.
pub(super) fn read_text(text: &str) -> Text<'_> {
    match text.trim_start().as_bytes().first() {
        Some(b'{') => match serde_json::from_str::<Envelope<'_>>(text) {
            Ok(envelope) => Text::Object(envelope),
            Err(_) => Text::Other,
        },
        Some(b'[') => read_batch(text),
        _ => Text::Other,
    }
}

fn read_batch(text: &str) -> Text<'_> {
    let seen = Cell::new(0);
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let read = BatchSeed { seen: &seen }
        .deserialize(&mut deserializer)
        .and_then(|items| deserializer.end().map(|()| items));
    match read {
        _ if seen.get() > batch::MAX_ITEMS => Text::TooManyItems { seen: seen.get() },
        Ok(items) => Text::Batch(items),
        Err(_) => Text::Other,
    }
}

/// Reads a batch's array, counting its items as they come and refusing it
/// at the first item past the cap, before the rest is read.
struct BatchSeed<'s> {
    seen: &'s Cell<usize>,
}

impl<'de> DeserializeSeed<'de> for BatchSeed<'_> {
    type Value = Vec<Envelope<'de>>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for BatchSeed<'_> {
    type Value = Vec<Envelope<'de>>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a JSON array of request envelopes")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<&'de RawValue>()? {
            self.seen.set(self.seen.get() + 1);
            if self.seen.get() > batch::MAX_ITEMS {
                return Err(de::Error::custom(format_args!(
                    "a batch holds at most {} items",
                    batch::MAX_ITEMS
                )));
            }
            if item.get().starts_with('{') {
                let envelope =
                    serde_json::from_str::<Envelope<'de>>(item.get()).map_err(de::Error::custom)?;
                items.push(envelope);
            }
        }
        Ok(items)
    }
}

impl<'de> Deserialize<'de> for Envelope<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(EnvelopeVisitor)
    }
}

struct EnvelopeVisitor;

impl<'de> Visitor<'de> for EnvelopeVisitor {
    type Value = Envelope<'de>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut envelope = Envelope::default();
        // A key given twice counts as its last value, as in the reference's parser.
        while let Some(key) = map.next_key::<Key>()? {
            let slot = match key {
                Key::Id => &mut envelope.id,
                Key::Op => &mut envelope.op,
                Key::Grid => &mut envelope.grid,
                Key::Ch => &mut envelope.ch,
                Key::Type => &mut envelope.kind,
                Key::Token => {
                    envelope.has_token = true;
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
                Key::Other => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            let value: &'de RawValue = map.next_value()?;
            *slot = (value.get() != "null").then_some(value);
        }
        Ok(envelope)
    }
}

/// The keys of a request envelope the server reads; others are skipped.
enum Key {
    Id,
    Op,
    Grid,
    Ch,
    Type,
    Token,
    Other,
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_identifier(KeyVisitor)
    }
}

struct KeyVisitor;

impl Visitor<'_> for KeyVisitor {
    type Value = Key;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Key, E> {
        Ok(match key {
            _ if key == request::ID => Key::Id,
            _ if key == request::OP => Key::Op,
            _ if key == request::GRID => Key::Grid,
            _ if key == request::CH => Key::Ch,
            _ if key == TYPE_FIELD => Key::Type,
            _ if key == handshake::AUTH_TOKEN_FIELD => Key::Token,
            _ => Key::Other,
        })
    }
}

/// Whether `payload` is one JSON value, as it must be to be embedded in a
/// text message; the parser's complaint when it is not.
pub(super) fn check_json(payload: &[u8]) -> Result<&str, String> {
    let text = std::str::from_utf8(payload).map_err(|error| error.to_string())?;
    serde_json::from_str::<IgnoredAny>(text).map_err(|error| error.to_string())?;
    Ok(text)
}

/// [`check_json`] for an owned payload: the payload as text when it is one
/// JSON value.
pub(super) fn into_json(payload: Vec<u8>) -> Result<String, String> {
    let text = String::from_utf8(payload).map_err(|error| error.utf8_error().to_string())?;
    serde_json::from_str::<IgnoredAny>(&text).map_err(|error| error.to_string())?;
    Ok(text)
}

/// Writes `"key":` to `out`.
fn push_key(out: &mut String, key: &str) {
    // Keys come from the spec and are plain; quoting them through serde keeps that true.
    out.push_str(&serde_json::Value::from(key).to_string());
    out.push(':');
}

/// A response envelope: the grid first, then the id and the channel when
/// the request had them, as the reference writes it. `grid` must be JSON
/// ([`check_json`]); `id` and `ch` are raw JSON as received.
pub(super) fn response_envelope(grid: &str, id: Option<&str>, ch: Option<&str>) -> String {
    let len = grid.len() + id.map_or(0, str::len) + ch.map_or(0, str::len) + 24;
    let mut out = String::with_capacity(len);
    out.push('{');
    push_key(&mut out, response::GRID);
    out.push_str(grid);
    for (key, value) in [(response::ID, id), (response::CH, ch)] {
        if let Some(value) = value {
            out.push(',');
            push_key(&mut out, key);
            out.push_str(value);
        }
    }
    out.push('}');
    out
}

/// A batch's answer: its response envelopes, in order, as one JSON array.
pub(super) fn batch_answer(items: &[String]) -> String {
    let len = items.iter().map(String::len).sum::<usize>() + items.len() + 2;
    let mut out = String::with_capacity(len);
    out.push('[');
    for (at, item) in items.iter().enumerate() {
        if at > 0 {
            out.push(',');
        }
        out.push_str(item);
    }
    out.push(']');
    out
}

/// A watch update in JSON form; `grid` must be JSON ([`check_json`]).
pub(super) fn watch_push_message(watch_id: &str, grid: &str) -> String {
    let watch_id = serde_json::Value::from(watch_id).to_string();
    let mut out = String::with_capacity(grid.len() + watch_id.len() + 40);
    out.push('{');
    push_key(&mut out, watch_push::TYPE);
    out.push_str(&serde_json::Value::from(watch_push::KIND).to_string());
    out.push(',');
    push_key(&mut out, watch_push::WATCH_ID);
    out.push_str(&watch_id);
    out.push(',');
    push_key(&mut out, watch_push::GRID);
    out.push_str(grid);
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(text: &str) -> Envelope<'_> {
        match read_text(text) {
            Text::Object(envelope) => envelope,
            other => panic!("not read as an object: {other:?}"),
        }
    }

    #[test]
    fn an_envelope_keeps_its_fields_as_raw_json() {
        let envelope = object(r#" {"id":"7","op":"read","grid":{"_kind":"grid","rows":[]},"ch":[1, 2]}"#);
        assert_eq!(envelope.id.map(RawValue::get), Some(r#""7""#));
        assert_eq!(envelope.op_name(), Ok("read".to_owned()));
        assert_eq!(
            envelope.grid.map(RawValue::get),
            Some(r#"{"_kind":"grid","rows":[]}"#)
        );
        assert_eq!(envelope.ch.map(RawValue::get), Some("[1, 2]"));
        assert_eq!(envelope.role(), Role::Request);
    }

    #[test]
    fn null_fields_read_as_absent_and_a_missing_op_is_said() {
        let envelope = object(r#"{"id":null,"grid":null}"#);
        assert!(envelope.id.is_none() && envelope.grid.is_none());
        assert_eq!(envelope.op_name(), Err(OpField::Missing));
        assert_eq!(
            object(r#"{"op":5}"#).op_name(),
            Err(OpField::NotAString("5".to_owned()))
        );
    }

    #[test]
    fn offers_and_login_messages_are_told_from_requests() {
        let offer = format!(r#"{{"{TYPE_FIELD}":"{}"}}"#, handshake::TYPE);
        assert_eq!(object(&offer).role(), Role::Offer);
        for message in Message::ALL {
            if let (Sender::Client, Some(kind)) = (message.sender(), message.kind()) {
                let text = format!(r#"{{"{TYPE_FIELD}":"{kind}"}}"#);
                assert_eq!(object(&text).role(), Role::Login, "{text}");
            }
        }
        let token = format!(r#"{{"{}":"secret"}}"#, handshake::AUTH_TOKEN_FIELD);
        assert_eq!(object(&token).role(), Role::Login);
    }

    #[test]
    fn anything_but_an_object_or_an_array_is_other() {
        for text in ["", "not json", "\"a string\"", "3", "{\"id\":", "[1,"] {
            assert!(matches!(read_text(text), Text::Other), "{text:?}");
        }
    }

    #[test]
    fn a_batch_keeps_its_objects_in_order_and_skips_the_rest() {
        let Text::Batch(items) = read_text(r#"[{"id":"1"}, 2, "x", null, [], {"id":"2"}]"#) else {
            panic!("not read as a batch");
        };
        let ids: Vec<_> = items.iter().map(|item| item.id.map(RawValue::get)).collect();
        assert_eq!(ids, [Some(r#""1""#), Some(r#""2""#)]);
    }

    #[test]
    fn a_batch_at_the_cap_is_read_and_one_past_it_is_refused() {
        let at_cap = format!("[{}{{}}]", "{},".repeat(batch::MAX_ITEMS - 1));
        assert!(matches!(read_text(&at_cap), Text::Batch(items) if items.len() == batch::MAX_ITEMS));
        let past = format!("[{}{{}}]", "{},".repeat(batch::MAX_ITEMS));
        assert!(matches!(read_text(&past), Text::TooManyItems { seen } if seen == batch::MAX_ITEMS + 1));
    }

    #[test]
    fn a_batch_past_the_cap_is_refused_before_the_rest_of_it_is_read() {
        // What follows the first item past the cap is not even JSON: the
        // refusal comes before the parser gets there.
        let text = format!("[{} this is not read", "0,".repeat(batch::MAX_ITEMS + 1));
        assert!(matches!(read_text(&text), Text::TooManyItems { seen } if seen == batch::MAX_ITEMS + 1));
    }

    #[test]
    fn a_response_envelope_has_the_grid_first_then_id_and_ch() {
        assert_eq!(
            response_envelope("{}", Some(r#""7""#), Some("3")),
            format!(
                r#"{{"{}":{{}},"{}":"7","{}":3}}"#,
                response::GRID,
                response::ID,
                response::CH
            )
        );
        assert_eq!(
            response_envelope("{}", None, None),
            format!(r#"{{"{}":{{}}}}"#, response::GRID)
        );
        assert_eq!(batch_answer(&["1".into(), "2".into()]), "[1,2]");
    }

    #[test]
    fn a_watch_push_message_is_the_reference_s() {
        let text = watch_push_message("w-\"1\"", "{}");
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value[watch_push::TYPE], watch_push::KIND);
        assert_eq!(value[watch_push::WATCH_ID], "w-\"1\"");
        assert_eq!(value[watch_push::GRID], serde_json::json!({}));
    }

    #[test]
    fn only_one_json_value_passes_the_check() {
        assert!(check_json(br#"{"a":[1,2]}"#).is_ok());
        assert_eq!(into_json(b"[1]".to_vec()).as_deref(), Ok("[1]"));
        for bad in [&b""[..], b"{", b"{} {}", b"\xff", b"not json"] {
            assert!(check_json(bad).is_err(), "{bad:?}");
            assert!(into_json(bad.to_vec()).is_err(), "{bad:?}");
        }
    }
}
