//! The writer behind [`encode_grid`](super::encode_grid): JSON text straight
//! into one buffer, without a `serde_json::Value` tree in between.
//!
//! Its bytes are those of [`grid_to_value`](super::grid_to_value) printed by
//! serde_json: strings are escaped and finite numbers formatted by serde_json
//! itself, and the kinds the module leaves to libhaystack are serialised by
//! libhaystack onto the same serializer.

use libhaystack::val::{Dict, Grid, Number, Value as HVal, GRID_FORMAT_VERSION};
use serde::{Serialize, Serializer};

/// Appends `grid` to `out`.
pub(super) fn grid(grid: &Grid, out: &mut Vec<u8>) {
    let ver = if grid.ver.is_empty() {
        GRID_FORMAT_VERSION
    } else {
        grid.ver.as_str()
    };
    out.extend_from_slice(br#"{"_kind":"grid","meta":{"ver":"#);
    // A `ver` tag in the meta takes the field's place, as in `grid_to_value`.
    match grid.meta.as_ref().and_then(|meta| meta.get("ver")) {
        Some(tag) => value(tag, out),
        None => string(ver, out),
    }
    if let Some(meta) = &grid.meta {
        for (key, tag) in meta.iter() {
            if key != "ver" {
                out.push(b',');
                entry(key, tag, out);
            }
        }
    }
    out.extend_from_slice(br#"},"cols":["#);
    for (at, column) in grid.columns.iter().enumerate() {
        if at > 0 {
            out.push(b',');
        }
        out.extend_from_slice(br#"{"name":"#);
        string(&column.name, out);
        if let Some(meta) = &column.meta {
            out.extend_from_slice(br#","meta":"#);
            dict(meta, out);
        }
        out.push(b'}');
    }
    out.extend_from_slice(br#"],"rows":["#);
    for (at, row) in grid.rows.iter().enumerate() {
        if at > 0 {
            out.push(b',');
        }
        dict(row, out);
    }
    out.extend_from_slice(b"]}");
}

fn dict(dict: &Dict, out: &mut Vec<u8>) {
    out.push(b'{');
    for (at, (key, tag)) in dict.iter().enumerate() {
        if at > 0 {
            out.push(b',');
        }
        entry(key, tag, out);
    }
    out.push(b'}');
}

fn entry(key: &str, tag: &HVal, out: &mut Vec<u8>) {
    string(key, out);
    out.push(b':');
    value(tag, out);
}

/// Appends any value, in the form of [`to_value`](super::to_value).
pub(super) fn value(value: &HVal, out: &mut Vec<u8>) {
    match value {
        HVal::Null => out.extend_from_slice(b"null"),
        HVal::Bool(on) => out.extend_from_slice(if on.value { b"true" } else { b"false" }),
        HVal::Marker => out.extend_from_slice(br#"{"_kind":"marker"}"#),
        HVal::Na => out.extend_from_slice(br#"{"_kind":"na"}"#),
        HVal::Remove => out.extend_from_slice(br#"{"_kind":"remove"}"#),
        HVal::Str(text) => string(text.value(), out),
        HVal::Ref(reference) => {
            out.extend_from_slice(br#"{"_kind":"ref","val":"#);
            string(reference.value(), out);
            if let Some(dis) = reference.dis() {
                out.extend_from_slice(br#","dis":"#);
                string(dis, out);
            }
            out.push(b'}');
        }
        HVal::Number(number) => self::number(number, out),
        HVal::List(items) => {
            out.push(b'[');
            for (at, item) in items.iter().enumerate() {
                if at > 0 {
                    out.push(b',');
                }
                self::value(item, out);
            }
            out.push(b']');
        }
        HVal::Dict(tags) => dict(tags, out),
        HVal::Grid(inner) => grid(inner, out),
        // The scalar kinds libhaystack writes as Haystack 4 JSON already.
        other => {
            let start = out.len();
            if other
                .serialize(&mut serde_json::Serializer::new(&mut *out))
                .is_err()
            {
                // `to_value` writes `null` for what does not serialise.
                out.truncate(start);
                out.extend_from_slice(b"null");
            }
        }
    }
}

fn number(number: &Number, out: &mut Vec<u8>) {
    let special: Option<&[u8]> = if number.value.is_nan() {
        Some(br#""NaN""#)
    } else if number.value == f64::INFINITY {
        Some(br#""INF""#)
    } else if number.value == f64::NEG_INFINITY {
        Some(br#""-INF""#)
    } else {
        None
    };
    if special.is_none() && number.unit.is_none() {
        float(number.value, out);
        return;
    }
    out.extend_from_slice(br#"{"_kind":"number","val":"#);
    match special {
        Some(text) => out.extend_from_slice(text),
        None => float(number.value, out),
    }
    if let Some(unit) = number.unit {
        out.extend_from_slice(br#","unit":"#);
        string(unit.symbol(), out);
    }
    out.push(b'}');
}

/// A finite float as serde_json writes one (`72.0`, `1e+300`).
fn float(value: f64, out: &mut Vec<u8>) {
    // Writing to a `Vec` cannot fail.
    let _ = serde_json::Serializer::new(out).serialize_f64(value);
}

/// A string, quoted and escaped by serde_json.
fn string(text: &str, out: &mut Vec<u8>) {
    // Writing to a `Vec` cannot fail.
    let _ = serde_json::Serializer::new(out).serialize_str(text);
}
