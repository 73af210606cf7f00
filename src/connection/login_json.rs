//! The JSON text messages of the SCRAM login, as both sides build and read
//! them. Every key and type value comes from [`crate::protocol::messages`].

use serde_json::{Map, Value};

use crate::protocol::messages::TYPE_FIELD;

/// A JSON object with these fields, in this order, as message text.
pub(crate) fn object(fields: &[(&str, &str)]) -> String {
    let mut object = Map::new();
    for (key, value) in fields {
        object.insert((*key).to_owned(), Value::String((*value).to_owned()));
    }
    Value::Object(object).to_string()
}

/// A login message as received: a JSON object, or nothing.
#[derive(Debug)]
pub(crate) struct Received(Map<String, Value>);

impl Received {
    /// Reads `text` as a JSON object; `None` when it is not one.
    pub(crate) fn parse(text: &str) -> Option<Received> {
        match serde_json::from_str::<Value>(text).ok()? {
            Value::Object(object) => Some(Received(object)),
            _ => None,
        }
    }

    /// The string value of `key`, if it has one.
    pub(crate) fn str(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(Value::as_str)
    }

    /// Whether the object has `key`, whatever its value.
    pub(crate) fn has(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }

    /// The value of the `type` field, when it is a string.
    pub(crate) fn kind(&self) -> Option<&str> {
        self.str(TYPE_FIELD)
    }
}
