//! The client's JSON text messages: request envelopes and batches out;
//! response envelopes, batch answers and watch pushes in.
//!
//! Grids are carried as the exact text they came in: a request's payload
//! goes into its envelope as it is, and a response's grid comes out of its
//! envelope as the server wrote it. Nothing builds a tree of a whole
//! message; a batch answer is read item by item.

use std::fmt;

use serde::de::{self, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer as _};
use serde_json::value::RawValue;

use crate::protocol::messages::{request, response, watch_push, TYPE_FIELD};
use crate::protocol::Op;

/// A request payload checked to be JSON: the grid its envelope embeds, or
/// none for an empty payload (an absent grid reads as an empty one).
pub(super) fn grid_of(payload: &[u8]) -> Result<Option<&RawValue>, serde_json::Error> {
    if payload.is_empty() {
        return Ok(None);
    }
    serde_json::from_slice(payload).map(Some)
}

/// Appends the request envelope of `op` under `id` to `out`.
pub(super) fn write_envelope(out: &mut String, id: u16, op: Op, grid: Option<&RawValue>) {
    out.push('{');
    write_key(out, request::ID);
    write_string(out, &id.to_string());
    out.push(',');
    write_key(out, request::OP);
    write_string(out, op.name());
    if let Some(grid) = grid {
        out.push(',');
        write_key(out, request::GRID);
        out.push_str(grid.get());
    }
    out.push('}');
}

fn write_key(out: &mut String, key: &str) {
    write_string(out, key);
    out.push(':');
}

fn write_string(out: &mut String, text: &str) {
    out.push_str(&serde_json::Value::from(text).to_string());
}

/// One item of a text message, as the client reads it.
#[derive(Debug)]
pub(super) enum Item<'a> {
    /// A response envelope whose id is the decimal text of a request id;
    /// its grid, when it has one.
    Response { id: u16, grid: Option<&'a RawValue> },
    /// A watch update.
    Push { watch_id: String, grid: &'a RawValue },
    /// Anything else: an envelope with no id or an id this client never
    /// sends, a push missing its watch id or grid, a batch item that is not
    /// an object.
    Ignored,
}

/// Reads one text message, handing each item to `deliver` as it is read: a
/// response envelope or a watch push (one item), or a batch answer (an
/// array, one item per element; pushes are only read outside arrays).
///
/// Returns false when the text is not a JSON object or array; items of an
/// array read before the fault have been delivered.
pub(super) fn read_text<'a>(text: &'a str, deliver: &mut dyn FnMut(Item<'a>)) -> bool {
    match text
        .trim_start_matches([' ', '\t', '\n', '\r'])
        .as_bytes()
        .first()
    {
        Some(b'{') => match serde_json::from_str::<Fields<'a>>(text) {
            Ok(fields) => {
                deliver(fields.item(true));
                true
            }
            Err(_) => false,
        },
        Some(b'[') => {
            let mut reader = serde_json::Deserializer::from_str(text);
            reader.deserialize_seq(Batch { deliver }).is_ok() && reader.end().is_ok()
        }
        _ => false,
    }
}

/// The items of a batch answer, delivered one by one.
struct Batch<'a, 'f> {
    deliver: &'f mut dyn FnMut(Item<'a>),
}

impl<'a> Visitor<'a> for Batch<'a, '_> {
    type Value = ();

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("an array of response envelopes")
    }

    fn visit_seq<A: SeqAccess<'a>>(self, mut items: A) -> Result<(), A::Error> {
        while let Some(raw) = items.next_element::<&'a RawValue>()? {
            let item = if raw.get().starts_with('{') {
                serde_json::from_str::<Fields<'a>>(raw.get())
                    .map_or(Item::Ignored, |fields| fields.item(false))
            } else {
                Item::Ignored
            };
            (self.deliver)(item);
        }
        Ok(())
    }
}

/// The fields of an object the client looks at, as their raw JSON text.
#[derive(Debug, Default)]
struct Fields<'a> {
    id: Option<&'a RawValue>,
    grid: Option<&'a RawValue>,
    kind: Option<&'a RawValue>,
    watch_id: Option<&'a RawValue>,
}

impl<'a> Fields<'a> {
    /// What the object is. A `type` of `watch` makes a push (where pushes
    /// are read); any other object is taken for a response envelope, as the
    /// reference's client does.
    fn item(self, pushes_allowed: bool) -> Item<'a> {
        let kind = self
            .kind
            .and_then(|kind| serde_json::from_str::<&str>(kind.get()).ok());
        if kind == Some(watch_push::KIND) {
            if !pushes_allowed {
                return Item::Ignored;
            }
            let watch_id = self
                .watch_id
                .and_then(|id| serde_json::from_str::<String>(id.get()).ok());
            return match (watch_id, self.grid) {
                (Some(watch_id), Some(grid)) => Item::Push { watch_id, grid },
                _ => Item::Ignored,
            };
        }
        match self.id.and_then(request_id) {
            Some(id) => Item::Response { id, grid: self.grid },
            None => Item::Ignored,
        }
    }
}

/// The request id an envelope's `id` names: a JSON string holding the
/// decimal text of a `u16`, written as this client writes it.
fn request_id(raw: &RawValue) -> Option<u16> {
    let text = serde_json::from_str::<&str>(raw.get()).ok()?;
    let id = text.parse::<u16>().ok()?;
    (id.to_string() == text).then_some(id)
}

impl<'a> Deserialize<'a> for Fields<'a> {
    fn deserialize<D: de::Deserializer<'a>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(FieldsVisitor)
    }
}

struct FieldsVisitor;

impl<'a> Visitor<'a> for FieldsVisitor {
    type Value = Fields<'a>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'a>>(self, mut map: A) -> Result<Fields<'a>, A::Error> {
        let mut fields = Fields::default();
        while let Some(key) = map.next_key::<Key>()? {
            let slot = match key {
                Key::Id => &mut fields.id,
                Key::Grid => &mut fields.grid,
                Key::Kind => &mut fields.kind,
                Key::WatchId => &mut fields.watch_id,
                Key::Other => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            *slot = Some(map.next_value()?);
        }
        Ok(fields)
    }
}

/// A key of an object the client reads, without keeping its text.
enum Key {
    Id,
    Grid,
    Kind,
    WatchId,
    Other,
}

impl<'a> Deserialize<'a> for Key {
    fn deserialize<D: de::Deserializer<'a>>(deserializer: D) -> Result<Self, D::Error> {
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
        Ok(if key == response::ID {
            Key::Id
        } else if key == response::GRID || key == watch_push::GRID {
            Key::Grid
        } else if key == TYPE_FIELD {
            Key::Kind
        } else if key == watch_push::WATCH_ID {
            Key::WatchId
        } else {
            Key::Other
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(text: &str) -> (bool, Vec<String>) {
        let mut seen = Vec::new();
        let whole = read_text(text, &mut |item| {
            seen.push(match item {
                Item::Response { id, grid } => {
                    format!("response {id} {}", grid.map_or("-", |grid| grid.get()))
                }
                Item::Push { watch_id, grid } => format!("push {watch_id} {}", grid.get()),
                Item::Ignored => "ignored".to_owned(),
            })
        });
        (whole, seen)
    }

    #[test]
    fn an_envelope_is_written_with_its_grid_as_given() {
        let grid = grid_of(br#"{"_kind":"grid", "rows":[]}"#).unwrap();
        let mut text = String::new();
        write_envelope(&mut text, 7, Op::Read, grid);
        assert_eq!(
            text,
            r#"{"id":"7","op":"read","grid":{"_kind":"grid", "rows":[]}}"#
        );
        let mut text = String::new();
        write_envelope(&mut text, 65535, Op::About, grid_of(b"").unwrap());
        assert_eq!(text, r#"{"id":"65535","op":"about"}"#);
    }

    #[test]
    fn a_payload_that_is_not_json_is_refused() {
        assert!(grid_of(b"{\"rows\": [").is_err());
        assert!(grid_of(b"grid").is_err());
        assert!(grid_of(b"{} {}").is_err());
        assert!(grid_of(&[0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]).is_err());
    }

    #[test]
    fn responses_pushes_and_batches_are_read_and_everything_else_ignored() {
        assert_eq!(
            items(r#"{"grid":{"a":[1, 2]},"id":"12","ch":"x"}"#),
            (true, vec![r#"response 12 {"a":[1, 2]}"#.to_owned()])
        );
        assert_eq!(
            items(r#" {"type":"watch","watchId":"w\"1","grid":{}}"#),
            (true, vec![r#"push w"1 {}"#.to_owned()])
        );
        assert_eq!(
            items(r#"[{"grid":{},"id":"1"}, 3, {"id":"2"}, {"type":"watch","watchId":"w","grid":{}}, []]"#),
            (
                true,
                vec![
                    "response 1 {}".to_owned(),
                    "ignored".to_owned(),
                    "response 2 -".to_owned(),
                    "ignored".to_owned(),
                    "ignored".to_owned(),
                ]
            )
        );
        // Ids this client never writes: numbers, leading zeros, out of range, absent.
        for text in [
            r#"{"grid":{},"id":12}"#,
            r#"{"grid":{},"id":"012"}"#,
            r#"{"grid":{},"id":"70000"}"#,
            r#"{"grid":{}}"#,
            r#"{"type":"watch","grid":{}}"#,
        ] {
            assert_eq!(items(text), (true, vec!["ignored".to_owned()]), "{text}");
        }
        for text in ["", "3", "\"text\"", "{", "[{\"id\":\"1\",\"grid\":{}}", "{} {}"] {
            assert!(!items(text).0, "{text}");
        }
    }
}
