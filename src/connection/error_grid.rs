//! Error grids: how a failed request is answered, and how its text is read.

use serde_json::{json, Value};

/// The payload of an error response: a Haystack 4 JSON grid whose meta has
/// the `err` marker and `dis`, the text a client shows.
pub fn error_grid(dis: &str) -> Vec<u8> {
    let grid = json!({
        "_kind": "grid",
        "meta": {"ver": "3.0", "err": {"_kind": "marker"}, "dis": dis},
        "cols": [{"name": "empty"}],
        "rows": [],
    });
    grid.to_string().into_bytes()
}

/// The `dis` of an error grid, or `None` when the payload has none.
pub fn error_dis(payload: &[u8]) -> Option<String> {
    let grid: Value = serde_json::from_slice(payload).ok()?;
    match grid.get("meta")?.get("dis")? {
        Value::String(dis) => Some(dis.clone()),
        _ => None,
    }
}

/// Whether a Haystack 4 JSON grid is an error grid (its meta has `err`):
/// `Some` with its `dis` when it is, `None` when it is not or is no grid.
///
/// Only the meta is kept; the rows are skipped without building them.
pub(crate) fn json_error(grid: &str) -> Option<Option<String>> {
    let meta = serde_json::from_str::<Meta>(grid).ok()?.0?;
    meta.get("err")?;
    Some(match meta.get("dis") {
        Some(Value::String(dis)) => Some(dis.clone()),
        _ => None,
    })
}

/// The meta of a grid object, if it has one.
struct Meta(Option<Value>);

impl<'de> serde::Deserialize<'de> for Meta {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(MetaVisitor)
    }
}

struct MetaVisitor;

impl<'de> serde::de::Visitor<'de> for MetaVisitor {
    type Value = Meta;

    fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("a grid object")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Meta, A::Error> {
        let mut meta = None;
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if key == "meta" {
                meta = Some(map.next_value::<Value>()?);
            } else {
                map.next_value::<serde::de::IgnoredAny>()?;
            }
        }
        Ok(Meta(meta))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dis_round_trips() {
        let grid = error_grid("op \"nav\" is not supported");
        assert_eq!(error_dis(&grid).as_deref(), Some("op \"nav\" is not supported"));
    }

    #[test]
    fn the_reference_error_grid_is_read() {
        let reference =
            br#"{"_kind":"grid","meta":{"err":{"_kind":"marker"},"dis":"boom"},"cols":[],"rows":[]}"#;
        assert_eq!(error_dis(reference).as_deref(), Some("boom"));
        assert_eq!(error_dis(b"not json"), None);
        assert_eq!(error_dis(br#"{"meta":{"dis":3}}"#), None);
    }

    #[test]
    fn a_json_grid_is_an_error_grid_when_its_meta_has_err() {
        let grid = String::from_utf8(error_grid("boom")).unwrap();
        assert_eq!(json_error(&grid), Some(Some("boom".to_owned())));
        assert_eq!(
            json_error(r#"{"meta":{"err":{"_kind":"marker"}},"rows":[]}"#),
            Some(None)
        );
        assert_eq!(json_error(r#"{"meta":{"dis":"fine"},"rows":[{"err":1}]}"#), None);
        assert_eq!(json_error(r#"{"rows":[]}"#), None);
        assert_eq!(json_error("[]"), None);
    }
}
