//! Haystack 4 JSON ("Hayson") grids and values as libhaystack values, NaN and
//! INF included.
//!
//! The reference writes a NaN number as `{"_kind":"number","val":"NaN"}` and
//! the infinities as `"INF"` and `"-INF"`, which is what the Haystack 4 JSON
//! format prescribes. libhaystack's own reader refuses those forms, so a whole
//! grid fails to decode because one sensor reported NaN, and its writer turns
//! them into `null`, which nothing reads back as a number. This module walks
//! the containers (grids, dicts, lists) and the numbers itself and hands every
//! other kind (refs, dates, times, markers...) to libhaystack's own serde
//! support, so the two stay in agreement on everything but numbers.
//!
//! Decoding is bounded: nesting deeper than [`MAX_DEPTH`] is refused before it
//! is recursed into, and every refusal is a [`HaysonError`] naming the JSON
//! path of the offending value.
//!
//! [`decode_grid`] and [`encode_grid`] go without the tree: the grid is built
//! as serde_json parses, and written straight into one buffer
//! ([`encode_grid_into`] reuses the caller's), at about the speed of
//! serde_json reading and writing its own `Value` from the same bytes. Their
//! results are those of the tree functions ([`grid_from_value`],
//! [`grid_to_value`]): a document the streaming reader is not sure of is
//! decoded through the tree.
//!
//! ```
//! use haystack_wire::hayson;
//! use libhaystack::val::Value;
//!
//! let json = br#"{"_kind":"grid","meta":{},"cols":[{"name":"v"}],"rows":[{"v":{"_kind":"number","val":"NaN","unit":"kW"}}]}"#;
//! let grid = hayson::decode_grid(json)?;
//! let Some(Value::Number(v)) = grid.rows[0].get("v") else { panic!("a number") };
//! assert!(v.value.is_nan());
//! assert_eq!(v.unit.map(|unit| unit.symbol()), Some("kW"));
//!
//! let again = String::from_utf8(hayson::encode_grid(&grid)).expect("JSON is UTF-8");
//! assert_eq!(
//!     again,
//!     r#"{"_kind":"grid","meta":{"ver":"3.0"},"cols":[{"name":"v"}],"rows":[{"v":{"_kind":"number","val":"NaN","unit":"kW"}}]}"#
//! );
//! # Ok::<(), hayson::HaysonError>(())
//! ```

use std::fmt;

mod read;
mod write;

use libhaystack::units::get_unit;
use libhaystack::val::{Column, Dict, Grid, Number, Value as HVal, GRID_FORMAT_VERSION};
use serde_json::{Map, Value as Json};

/// How many arrays and objects may be open at once, counted from the
/// outermost one.
///
/// Deeper input is refused rather than recursed into, so hostile nesting
/// cannot exhaust the stack. The bound sits above what the reference itself
/// decodes (it refuses values nested more than 64 deep) and below
/// serde_json's parser limit (127), so the byte-level check in
/// [`decode_grid`] answers before the parser does and every too-deep input
/// gets the same error, [`HaysonError::TooDeep`].
pub const MAX_DEPTH: usize = 100;

/// Why bytes or a JSON value are not a Haystack 4 JSON grid or value.
///
/// `path` fields are JSON paths from the decoded document's root, such as
/// `$.rows[3].v.val`, so a refusal can be traced to the row and tag that
/// caused it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HaysonError {
    /// The bytes are not JSON.
    #[error("invalid JSON: {reason}")]
    NotJson {
        /// The JSON parser's message, with the line and column.
        reason: String,
    },
    /// The document is JSON but not a grid.
    ///
    /// An object without `"_kind":"grid"` is refused even when it has `meta`,
    /// `cols` and `rows`: that is the Haystack 3 JSON shape, whose values
    /// (`"n:42 °F"`) would otherwise be read as plain strings.
    #[error("$: expected a grid (an object with \"_kind\":\"grid\"), found {found}")]
    NotAGrid {
        /// A short description of what was there.
        found: String,
    },
    /// Part of a grid, a column or a number is missing or has the wrong JSON
    /// type.
    #[error("{path}: expected {expected}, found {found}")]
    Malformed {
        /// Where.
        path: String,
        /// What the format requires there.
        expected: &'static str,
        /// A short description of what was there.
        found: String,
    },
    /// A number's `val` is neither a JSON number nor one of `"NaN"`, `"INF"`
    /// and `"-INF"`.
    #[error("{path}: a number's val must be a JSON number, \"NaN\", \"INF\" or \"-INF\", found {found}")]
    BadNumber {
        /// Where: the `val` field.
        path: String,
        /// A short description of what was there.
        found: String,
    },
    /// A number's unit is not in libhaystack's unit database; a libhaystack
    /// number can only carry a unit from that database.
    #[error("{path}: unit {unit:?} is not in libhaystack's unit database")]
    UnknownUnit {
        /// Where: the `unit` field.
        path: String,
        /// The unit as written.
        unit: String,
    },
    /// libhaystack refused a value whose decoding this module leaves to it
    /// (a ref, a dateTime, an unknown `_kind`...).
    #[error("{path}: libhaystack refused a {kind:?} value: {reason}")]
    Refused {
        /// Where.
        path: String,
        /// The value's `_kind`.
        kind: String,
        /// libhaystack's message.
        reason: String,
    },
    /// Arrays and objects nest deeper than [`MAX_DEPTH`].
    #[error("{at}: nested deeper than {max} levels")]
    TooDeep {
        /// Where the limit was crossed: a JSON path, or `byte N` when the
        /// raw bytes were checked before parsing.
        at: String,
        /// The limit, [`MAX_DEPTH`].
        max: usize,
    },
}

/// Reads a grid from Haystack 4 JSON bytes.
///
/// The nesting depth is checked on the raw bytes first, so a hostile document
/// is refused with [`HaysonError::TooDeep`] before it is parsed.
pub fn decode_grid(bytes: &[u8]) -> Result<Grid, HaysonError> {
    // The streaming reader answers for what grids are usually made of and
    // steps aside for anything else; the tree below then decides, so both
    // give the same grid and every refusal comes from one place.
    if let Some(grid) = read::grid(bytes) {
        return Ok(grid);
    }
    check_nesting(bytes)?;
    let json: Json = serde_json::from_slice(bytes).map_err(|error| HaysonError::NotJson {
        reason: error.to_string(),
    })?;
    grid_from_value(&json)
}

/// Writes a grid as compact Haystack 4 JSON.
///
/// Keys come in a fixed order: `_kind`, `meta` (led by `ver`, taken from
/// [`Grid::ver`] unless the meta carries its own `ver` tag), `cols`, `rows`;
/// within a dict, libhaystack's own key order. The same grid therefore always
/// encodes to the same bytes.
pub fn encode_grid(grid: &Grid) -> Vec<u8> {
    let mut out = Vec::new();
    encode_grid_into(grid, &mut out);
    out
}

/// Appends a grid as compact Haystack 4 JSON to `out`, the bytes of
/// [`encode_grid`].
///
/// The text is written straight into `out`, so a caller that keeps one
/// buffer for many grids allocates only when a grid is larger than any
/// before it.
pub fn encode_grid_into(grid: &Grid, out: &mut Vec<u8>) {
    write::grid(grid, out);
}

/// Reads a grid from an already parsed JSON document.
///
/// The document must be an object with `"_kind":"grid"`; see
/// [`HaysonError::NotAGrid`] for why a kindless one is refused.
pub fn grid_from_value(json: &Json) -> Result<Grid, HaysonError> {
    match json {
        Json::Object(object) if object.get("_kind").and_then(Json::as_str) == Some("grid") => {
            let depth = enter(&Path::Root, 0)?;
            grid(object, &Path::Root, depth)
        }
        other => Err(HaysonError::NotAGrid {
            found: describe(other),
        }),
    }
}

/// A grid as a JSON value, in the form and key order of [`encode_grid`].
pub fn grid_to_value(grid: &Grid) -> Json {
    let ver = if grid.ver.is_empty() {
        GRID_FORMAT_VERSION
    } else {
        grid.ver.as_str()
    };
    let mut meta = Map::new();
    meta.insert("ver".into(), Json::String(ver.into()));
    if let Some(dict) = &grid.meta {
        // A `ver` tag in the meta replaces the field's value but keeps its
        // place at the front, as libhaystack's writer lets the tag win.
        for (key, value) in dict.iter() {
            meta.insert(key.clone(), to_value(value));
        }
    }
    let cols = grid
        .columns
        .iter()
        .map(|column| {
            let mut col = Map::new();
            col.insert("name".into(), Json::String(column.name.clone()));
            if let Some(meta) = &column.meta {
                col.insert("meta".into(), dict_to_value(meta));
            }
            Json::Object(col)
        })
        .collect();
    let rows = grid.rows.iter().map(dict_to_value).collect();
    let mut object = Map::new();
    object.insert("_kind".into(), Json::String("grid".into()));
    object.insert("meta".into(), Json::Object(meta));
    object.insert("cols".into(), Json::Array(cols));
    object.insert("rows".into(), Json::Array(rows));
    Json::Object(object)
}

/// Reads any Haystack value from parsed Haystack 4 JSON.
///
/// Plain JSON numbers are unitless numbers, strings are strings, arrays are
/// lists and objects without `_kind` are dicts, as the format defines. The
/// nesting bound applies from `json` itself.
pub fn from_value(json: &Json) -> Result<HVal, HaysonError> {
    value(json, &Path::Root, 0)
}

/// Any Haystack value as Haystack 4 JSON.
///
/// NaN and the infinities are written as the reference writes them,
/// `{"_kind":"number","val":"NaN"}`, with the unit when there is one.
/// Finite unitless numbers are plain JSON floats (`72.0`, never `72`):
/// the reference reads a JSON integer as an integer and a JSON float as a
/// float, and a Haystack number is a float; libhaystack's own writer also
/// clamps large integral values (`1e300`) to `i64::MAX`, which this avoids.
pub fn to_value(value: &HVal) -> Json {
    match value {
        HVal::Number(number) => number_to_value(number),
        HVal::Dict(dict) => dict_to_value(dict),
        HVal::List(list) => Json::Array(list.iter().map(to_value).collect()),
        HVal::Grid(grid) => grid_to_value(grid),
        // libhaystack writes every other kind as Haystack 4 JSON already, and
        // serialising these scalars into a JSON value cannot fail.
        other => serde_json::to_value(other).unwrap_or(Json::Null),
    }
}

fn dict_to_value(dict: &Dict) -> Json {
    Json::Object(
        dict.iter()
            .map(|(key, value)| (key.clone(), to_value(value)))
            .collect(),
    )
}

fn number_to_value(number: &Number) -> Json {
    let val = if number.value.is_nan() {
        Json::String("NaN".into())
    } else if number.value.is_infinite() {
        Json::String(if number.value > 0.0 { "INF" } else { "-INF" }.into())
    } else {
        // Every finite f64 has a JSON number.
        serde_json::Number::from_f64(number.value).map_or(Json::Null, Json::Number)
    };
    if number.unit.is_none() && val.is_number() {
        return val;
    }
    let mut object = Map::new();
    object.insert("_kind".into(), Json::String("number".into()));
    object.insert("val".into(), val);
    if let Some(unit) = number.unit {
        object.insert("unit".into(), Json::String(unit.symbol().into()));
    }
    Json::Object(object)
}

/// Where a value sits in the document, as a chain of borrowed steps on the
/// stack: nothing is allocated unless an error needs the path as text.
#[derive(Clone, Copy)]
enum Path<'a> {
    Root,
    Key(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, usize),
}

impl<'a> Path<'a> {
    fn key(&'a self, name: &'a str) -> Path<'a> {
        Path::Key(self, name)
    }

    fn index(&'a self, at: usize) -> Path<'a> {
        Path::Index(self, at)
    }
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut steps = Vec::new();
        let mut step = self;
        loop {
            match step {
                Path::Root => break,
                Path::Key(parent, _) | Path::Index(parent, _) => {
                    steps.push(step);
                    step = parent;
                }
            }
        }
        f.write_str("$")?;
        for step in steps.iter().rev() {
            match step {
                Path::Root => {}
                Path::Key(_, name) if is_plain_name(name) => write!(f, ".{name}")?,
                Path::Key(_, name) => write!(f, "[{}]", Json::String((*name).to_owned()))?,
                Path::Index(_, at) => write!(f, "[{at}]")?,
            }
        }
        Ok(())
    }
}

/// Whether a key can follow a dot in a path without being mistaken for
/// several steps; other keys are written as quoted strings in brackets.
fn is_plain_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Counts one more open array or object, refusing to go past [`MAX_DEPTH`].
/// `depth` is how many enclose the one being opened.
fn enter(path: &Path<'_>, depth: usize) -> Result<usize, HaysonError> {
    if depth >= MAX_DEPTH {
        return Err(HaysonError::TooDeep {
            at: path.to_string(),
            max: MAX_DEPTH,
        });
    }
    Ok(depth + 1)
}

/// Measures nesting on the raw bytes, brackets inside strings excluded, so a
/// document of ten thousand `[` is refused with a depth error instead of
/// being handed to the parser.
fn check_nesting(bytes: &[u8]) -> Result<(), HaysonError> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (at, &byte) in bytes.iter().enumerate() {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(HaysonError::TooDeep {
                        at: format!("byte {at}"),
                        max: MAX_DEPTH,
                    });
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// Decodes any value; `depth` is how many arrays and objects enclose it.
fn value(json: &Json, path: &Path<'_>, depth: usize) -> Result<HVal, HaysonError> {
    match json {
        Json::Null => Ok(HVal::Null),
        Json::Bool(on) => Ok(HVal::make_bool(*on)),
        Json::Number(number) => number
            .as_f64()
            .map(HVal::make_number)
            .ok_or_else(|| malformed(path, "a number that fits an f64", json)),
        Json::String(text) => Ok(HVal::make_str(text)),
        Json::Array(items) => {
            let inner = enter(path, depth)?;
            items
                .iter()
                .enumerate()
                .map(|(at, item)| value(item, &path.index(at), inner))
                .collect::<Result<Vec<_>, _>>()
                .map(HVal::make_list)
        }
        Json::Object(object) => {
            let inner = enter(path, depth)?;
            match object.get("_kind") {
                None => dict(object, path, inner).map(HVal::make_dict),
                Some(Json::String(kind)) => match kind.as_str() {
                    "dict" => dict(object, path, inner).map(HVal::make_dict),
                    "grid" => grid(object, path, inner).map(HVal::make_grid),
                    "number" => number(object, path),
                    _ => delegate(object, kind, path),
                },
                Some(other) => Err(malformed(&path.key("_kind"), "a string", other)),
            }
        }
    }
}

/// Decodes the entries of an object; `depth` counts the object itself.
fn dict(object: &Map<String, Json>, path: &Path<'_>, depth: usize) -> Result<Dict, HaysonError> {
    let mut dict = Dict::new();
    for (name, item) in object {
        if name == "_kind" {
            continue;
        }
        dict.insert(name.clone(), value(item, &path.key(name), depth)?);
    }
    Ok(dict)
}

fn number(object: &Map<String, Json>, path: &Path<'_>) -> Result<HVal, HaysonError> {
    let given = object.get("val");
    let val = match given {
        Some(Json::Number(number)) => number.as_f64(),
        Some(Json::String(text)) => match text.as_str() {
            "NaN" => Some(f64::NAN),
            "INF" => Some(f64::INFINITY),
            "-INF" => Some(f64::NEG_INFINITY),
            _ => None,
        },
        _ => None,
    };
    let Some(val) = val else {
        return Err(HaysonError::BadNumber {
            path: path.key("val").to_string(),
            found: given.map_or_else(|| "nothing".into(), describe),
        });
    };
    match object.get("unit") {
        None | Some(Json::Null) => Ok(HVal::make_number(val)),
        Some(Json::String(unit)) => match get_unit(unit) {
            Some(known) => Ok(HVal::make_number_unit(val, known)),
            None => Err(HaysonError::UnknownUnit {
                path: path.key("unit").to_string(),
                unit: unit.clone(),
            }),
        },
        Some(other) => Err(malformed(&path.key("unit"), "a string", other)),
    }
}

/// Hands a scalar kind to libhaystack.
///
/// Only the object's scalar fields are passed on: no Hayson scalar has an
/// array or object field, and libhaystack would recurse into one without a
/// bound. `_kind` goes last because libhaystack answers a marker, NA or
/// remove as soon as it reads the kind and then fails on any field left
/// unread.
fn delegate(object: &Map<String, Json>, kind: &str, path: &Path<'_>) -> Result<HVal, HaysonError> {
    let mut scalar: Map<String, Json> = object
        .iter()
        .filter(|(name, field)| *name != "_kind" && !field.is_array() && !field.is_object())
        .map(|(name, field)| (name.clone(), field.clone()))
        .collect();
    scalar.insert("_kind".into(), Json::String(kind.into()));
    serde_json::from_value::<HVal>(Json::Object(scalar)).map_err(|error| HaysonError::Refused {
        path: path.to_string(),
        kind: kind.into(),
        reason: error.to_string(),
    })
}

/// Decodes a grid's parts; `depth` counts the grid object itself.
fn grid(object: &Map<String, Json>, path: &Path<'_>, depth: usize) -> Result<Grid, HaysonError> {
    let meta_path = path.key("meta");
    let mut meta = match object.get("meta") {
        None | Some(Json::Null) => Dict::new(),
        Some(Json::Object(meta)) => dict(meta, &meta_path, enter(&meta_path, depth)?)?,
        Some(other) => return Err(malformed(&meta_path, "an object", other)),
    };
    // libhaystack keeps the format version in its own field, not in the meta;
    // a `ver` that is not a string is an ordinary tag and stays.
    let ver = match meta.get("ver") {
        Some(HVal::Str(ver)) => {
            let ver = ver.value().to_owned();
            meta.remove("ver");
            ver
        }
        _ => GRID_FORMAT_VERSION.to_owned(),
    };

    let cols_path = path.key("cols");
    let columns = match object.get("cols") {
        Some(Json::Array(cols)) => {
            let inner = enter(&cols_path, depth)?;
            cols.iter()
                .enumerate()
                .map(|(at, col)| column(col, &cols_path.index(at), inner))
                .collect::<Result<Vec<_>, _>>()?
        }
        other => {
            return Err(malformed(
                &cols_path,
                "an array of columns",
                other.unwrap_or(&Json::Null),
            ))
        }
    };

    let rows_path = path.key("rows");
    let rows = match object.get("rows") {
        Some(Json::Array(rows)) => {
            let inner = enter(&rows_path, depth)?;
            rows.iter()
                .enumerate()
                .map(|(at, row)| {
                    let row_path = rows_path.index(at);
                    match row {
                        Json::Object(row) => dict(row, &row_path, enter(&row_path, inner)?),
                        other => Err(malformed(&row_path, "an object", other)),
                    }
                })
                .collect::<Result<Vec<_>, _>>()?
        }
        other => {
            return Err(malformed(
                &rows_path,
                "an array of rows",
                other.unwrap_or(&Json::Null),
            ))
        }
    };

    Ok(Grid {
        meta: (!meta.is_empty()).then_some(meta),
        columns,
        rows,
        ver,
    })
}

/// Decodes one column; `depth` is how many arrays and objects enclose it.
fn column(json: &Json, path: &Path<'_>, depth: usize) -> Result<Column, HaysonError> {
    let Json::Object(object) = json else {
        return Err(malformed(path, "an object with a `name`", json));
    };
    let depth = enter(path, depth)?;
    let name = match object.get("name") {
        Some(Json::String(name)) => name.clone(),
        other => {
            return Err(malformed(
                &path.key("name"),
                "a string",
                other.unwrap_or(&Json::Null),
            ))
        }
    };
    let meta_path = path.key("meta");
    let meta = match object.get("meta") {
        None | Some(Json::Null) => None,
        Some(Json::Object(meta)) => Some(dict(meta, &meta_path, enter(&meta_path, depth)?)?),
        Some(other) => return Err(malformed(&meta_path, "an object", other)),
    };
    Ok(Column { name, meta })
}

fn malformed(path: &Path<'_>, expected: &'static str, found: &Json) -> HaysonError {
    HaysonError::Malformed {
        path: path.to_string(),
        expected,
        found: describe(found),
    }
}

/// A short description of a JSON value for an error message. Containers are
/// named, not printed: a hostile payload can be megabytes, and rendering it
/// would cost more than the refusal saves.
fn describe(json: &Json) -> String {
    const MAX_CHARS: usize = 48;
    match json {
        Json::Null => "null".into(),
        Json::Bool(_) | Json::Number(_) => json.to_string(),
        Json::String(text) if text.chars().count() <= MAX_CHARS => format!("{text:?}"),
        Json::String(text) => {
            let start: String = text.chars().take(MAX_CHARS).collect();
            format!("{start:?}…")
        }
        Json::Array(items) => format!("an array of {} items", items.len()),
        Json::Object(object) => match object.get("_kind").and_then(Json::as_str) {
            Some(kind) => {
                let kind: String = kind.chars().take(MAX_CHARS).collect();
                format!("an object of kind {kind:?}")
            }
            None => format!("an object with {} keys", object.len()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_quote_keys_that_are_not_plain_names() {
        let root = Path::Root;
        let rows = root.key("rows");
        let row = rows.index(3);
        assert_eq!(row.key("v").key("val").to_string(), "$.rows[3].v.val");
        assert_eq!(row.key("a.b").to_string(), r#"$.rows[3]["a.b"]"#);
        assert_eq!(row.key("").to_string(), r#"$.rows[3][""]"#);
        assert_eq!(row.key("say \"hi\"").to_string(), r#"$.rows[3]["say \"hi\""]"#);
        assert_eq!(root.to_string(), "$");
    }

    #[test]
    fn the_byte_check_ignores_brackets_inside_strings() {
        let quoted = format!(r#"["{}", "\"{}"]"#, "[".repeat(500), "{".repeat(500));
        assert_eq!(check_nesting(quoted.as_bytes()), Ok(()));

        let exact = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert_eq!(check_nesting(exact.as_bytes()), Ok(()));

        let over = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        assert_eq!(
            check_nesting(over.as_bytes()),
            Err(HaysonError::TooDeep {
                at: format!("byte {MAX_DEPTH}"),
                max: MAX_DEPTH,
            })
        );
    }

    #[test]
    fn the_byte_check_and_the_walk_agree_on_the_limit() {
        let nest = |levels: usize| format!("{}{}", "[".repeat(levels), "]".repeat(levels));
        for levels in [MAX_DEPTH - 1, MAX_DEPTH, MAX_DEPTH + 1] {
            let text = nest(levels);
            let by_bytes = check_nesting(text.as_bytes()).is_ok();
            let parsed: Json = serde_json::from_str(&text).unwrap_or(Json::Null);
            let by_walk = from_value(&parsed).is_ok();
            assert_eq!(by_bytes, levels <= MAX_DEPTH, "{levels} levels");
            assert_eq!(by_walk, by_bytes, "{levels} levels");
        }
    }

    #[test]
    fn long_strings_are_cut_in_descriptions() {
        let long = Json::String("é".repeat(1000));
        let text = describe(&long);
        assert!(text.ends_with('…'));
        assert_eq!(text.chars().filter(|&c| c == 'é').count(), 48);
        assert_eq!(describe(&Json::Array(vec![Json::Null; 7])), "an array of 7 items");
    }
}
