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
}
