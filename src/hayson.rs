//! Haystack 4 JSON ("Hayson") grids as libhaystack values, NaN and INF included.
//!
//! The reference writes a NaN number as `{"_kind":"number","val":"NaN"}` and
//! the infinities as `"INF"` and `"-INF"`. libhaystack's own JSON reader
//! refuses those, and its writer cannot express them, so a grid carrying one
//! would fail to decode. This module reads and writes the containers (grids,
//! dicts, lists) and numbers itself, and leaves every other kind (refs,
//! dates, times, markers...) to libhaystack's serde support.
//!
//! ```
//! use haystack_wire::hayson;
//! use libhaystack::val::Value;
//!
//! let json = br#"{"_kind":"grid","meta":{},"cols":[{"name":"v"}],"rows":[{"v":{"_kind":"number","val":"NaN","unit":"kW"}}]}"#;
//! let grid = hayson::decode_grid(json)?;
//! let Some(Value::Number(v)) = grid.rows[0].get("v") else { panic!("a number") };
//! assert!(v.value.is_nan());
//! let again = hayson::encode_grid(&grid);
//! assert!(String::from_utf8_lossy(&again).contains(r#"{"_kind":"number","val":"NaN","unit":"kW"}"#));
//! # Ok::<(), hayson::HaysonError>(())
//! ```

use libhaystack::units::get_unit;
use libhaystack::val::{Column, Dict, Grid, Number, Value as HVal};
use serde_json::{Map, Value as Json};

/// How deep containers may nest; deeper input is refused rather than
/// recursed into, so hostile nesting cannot exhaust the stack.
pub const MAX_DEPTH: usize = 128;

/// The grid format version written when a grid has none.
const GRID_VERSION: &str = "3.0";

/// Why a payload is not a Haystack 4 JSON grid or value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HaysonError {
    /// The bytes are not JSON.
    #[error("not JSON: {reason}")]
    NotJson {
        /// What the JSON parser reported.
        reason: String,
    },
    /// A grid was expected.
    #[error("{path}: expected a grid, found {found}")]
    NotAGrid {
        /// Where.
        path: String,
        /// A glimpse of what was there.
        found: String,
    },
    /// A part of a grid or number is missing or of the wrong JSON type.
    #[error("{path}: expected {expected}, found {found}")]
    Malformed {
        /// Where.
        path: String,
        /// What the format wants there.
        expected: &'static str,
        /// A glimpse of what was there.
        found: String,
    },
    /// A number's unit is not in libhaystack's unit database, so a
    /// libhaystack number cannot carry it.
    #[error("{path}: unit `{unit}` is not in libhaystack's unit database")]
    UnknownUnit {
        /// Where.
        path: String,
        /// The unit.
        unit: String,
    },
    /// libhaystack refused a value of another kind.
    #[error("{path}: {reason}")]
    Refused {
        /// Where.
        path: String,
        /// What libhaystack reported.
        reason: String,
    },
    /// Containers nest deeper than [`MAX_DEPTH`].
    #[error("{path}: nested deeper than {max} levels")]
    TooDeep {
        /// Where.
        path: String,
        /// The limit.
        max: usize,
    },
}

/// Reads a grid from Haystack 4 JSON bytes.
pub fn decode_grid(bytes: &[u8]) -> Result<Grid, HaysonError> {
    let json: Json = serde_json::from_slice(bytes).map_err(|error| HaysonError::NotJson {
        reason: error.to_string(),
    })?;
    grid_from_value(&json)
}

/// Writes a grid as compact Haystack 4 JSON: `_kind`, `meta` (with `ver`),
/// `cols`, `rows`, in that order.
pub fn encode_grid(grid: &Grid) -> Vec<u8> {
    grid_to_value(grid).to_string().into_bytes()
}

/// Reads a grid from a parsed JSON value.
pub fn grid_from_value(json: &Json) -> Result<Grid, HaysonError> {
    match json {
        Json::Object(object) if object.get("_kind").and_then(Json::as_str) == Some("grid") => {
            grid(object, &mut Path::root(), 0)
        }
        other => Err(HaysonError::NotAGrid {
            path: "$".into(),
            found: glimpse(other),
        }),
    }
}

/// A grid as a JSON value; see [`encode_grid`].
pub fn grid_to_value(grid: &Grid) -> Json {
    let mut meta = Map::new();
    meta.insert(
        "ver".into(),
        Json::String(if grid.ver.is_empty() {
            GRID_VERSION.into()
        } else {
            grid.ver.clone()
        }),
    );
    if let Some(dict) = &grid.meta {
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

/// Reads any Haystack value from parsed JSON.
pub fn from_value(json: &Json) -> Result<HVal, HaysonError> {
    value(json, &mut Path::root(), 0)
}

/// Any Haystack value as JSON; NaN and the infinities as the reference writes them.
pub fn to_value(value: &HVal) -> Json {
    match value {
        HVal::Number(number) => number_to_value(number),
        HVal::Dict(dict) => dict_to_value(dict),
        HVal::List(list) => Json::Array(list.iter().map(to_value).collect()),
        HVal::Grid(grid) => grid_to_value(grid),
        // libhaystack writes every other kind as Haystack 4 JSON already.
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
    let special = if number.value.is_nan() {
        Some("NaN")
    } else if number.value == f64::INFINITY {
        Some("INF")
    } else if number.value == f64::NEG_INFINITY {
        Some("-INF")
    } else {
        None
    };
    // Finite values are written as floats (`3.0`, not `3`), as the reference
    // writes them: its reader takes a JSON integer nested in a dict for a
    // plain integer, not a Haystack number.
    let val = match (special, serde_json::Number::from_f64(number.value)) {
        (Some(text), _) => Json::String(text.into()),
        (None, Some(finite)) => Json::Number(finite),
        (None, None) => Json::Null,
    };
    match (special, number.unit) {
        (None, None) => val,
        (_, unit) => {
            let mut object = Map::new();
            object.insert("_kind".into(), Json::String("number".into()));
            object.insert("val".into(), val);
            if let Some(unit) = unit {
                object.insert("unit".into(), Json::String(unit.symbol().into()));
            }
            Json::Object(object)
        }
    }
}

/// A JSON path for error messages, built only as deep as the walk goes.
struct Path(Vec<String>);

impl Path {
    fn root() -> Path {
        Path(vec!["$".into()])
    }

    fn with<T>(&mut self, step: String, walk: impl FnOnce(&mut Path) -> T) -> T {
        self.0.push(step);
        let result = walk(self);
        self.0.pop();
        result
    }

    fn text(&self) -> String {
        self.0.concat()
    }
}

fn key(name: &str) -> String {
    format!(".{name}")
}

fn index(at: usize) -> String {
    format!("[{at}]")
}

fn value(json: &Json, path: &mut Path, depth: usize) -> Result<HVal, HaysonError> {
    if depth > MAX_DEPTH {
        return Err(HaysonError::TooDeep {
            path: path.text(),
            max: MAX_DEPTH,
        });
    }
    match json {
        Json::Null => Ok(HVal::Null),
        Json::Bool(on) => Ok(HVal::make_bool(*on)),
        Json::Number(number) => number
            .as_f64()
            .map(HVal::make_number)
            .ok_or_else(|| malformed(path, "a number that fits an f64", json)),
        Json::String(text) => Ok(HVal::make_str(text)),
        Json::Array(items) => items
            .iter()
            .enumerate()
            .map(|(at, item)| path.with(index(at), |path| value(item, path, depth + 1)))
            .collect::<Result<Vec<_>, _>>()
            .map(HVal::make_list),
        Json::Object(object) => match object.get("_kind") {
            None => dict(object, path, depth).map(HVal::make_dict),
            Some(Json::String(kind)) => match kind.as_str() {
                "dict" => dict(object, path, depth).map(HVal::make_dict),
                "grid" => grid(object, path, depth).map(HVal::make_grid),
                "number" => number(object, path),
                _ => serde_json::from_value::<HVal>(json.clone()).map_err(|error| HaysonError::Refused {
                    path: path.text(),
                    reason: error.to_string(),
                }),
            },
            Some(other) => Err(malformed(path, "a string `_kind`", other)),
        },
    }
}

fn dict(object: &Map<String, Json>, path: &mut Path, depth: usize) -> Result<Dict, HaysonError> {
    let mut dict = Dict::new();
    for (name, item) in object {
        if name == "_kind" {
            continue;
        }
        let item = path.with(key(name), |path| value(item, path, depth + 1))?;
        dict.insert(name.clone(), item);
    }
    Ok(dict)
}

fn number(object: &Map<String, Json>, path: &mut Path) -> Result<HVal, HaysonError> {
    let val = match object.get("val") {
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
        let found = object.get("val").map_or_else(|| "nothing".into(), glimpse);
        return Err(path.with(key("val"), |path| HaysonError::Malformed {
            path: path.text(),
            expected: "a JSON number, \"NaN\", \"INF\" or \"-INF\"",
            found,
        }));
    };
    match object.get("unit") {
        None | Some(Json::Null) => Ok(HVal::make_number(val)),
        Some(Json::String(unit)) => match get_unit(unit) {
            Some(unit) => Ok(HVal::make_number_unit(val, unit)),
            None => Err(path.with(key("unit"), |path| HaysonError::UnknownUnit {
                path: path.text(),
                unit: unit.clone(),
            })),
        },
        Some(other) => Err(path.with(key("unit"), |path| malformed(path, "a string", other))),
    }
}

fn grid(object: &Map<String, Json>, path: &mut Path, depth: usize) -> Result<Grid, HaysonError> {
    let mut meta = match object.get("meta") {
        None | Some(Json::Null) => Dict::new(),
        Some(Json::Object(meta)) => path.with(key("meta"), |path| dict(meta, path, depth + 1))?,
        Some(other) => return Err(path.with(key("meta"), |path| malformed(path, "an object", other))),
    };
    // The version is the grid's own field in libhaystack, not a meta tag.
    let ver = match meta.remove("ver") {
        Some(HVal::Str(ver)) => ver.value().to_owned(),
        _ => GRID_VERSION.to_owned(),
    };
    let columns = path.with(key("cols"), |path| match object.get("cols") {
        Some(Json::Array(cols)) => cols
            .iter()
            .enumerate()
            .map(|(at, col)| path.with(index(at), |path| column(col, path, depth + 1)))
            .collect::<Result<Vec<_>, _>>(),
        other => Err(malformed(
            path,
            "an array of columns",
            other.unwrap_or(&Json::Null),
        )),
    })?;
    let rows = path.with(key("rows"), |path| match object.get("rows") {
        Some(Json::Array(rows)) => rows
            .iter()
            .enumerate()
            .map(|(at, row)| {
                path.with(index(at), |path| match row {
                    Json::Object(row) => dict(row, path, depth + 1),
                    other => Err(malformed(path, "an object", other)),
                })
            })
            .collect::<Result<Vec<_>, _>>(),
        other => Err(malformed(path, "an array of rows", other.unwrap_or(&Json::Null))),
    })?;
    Ok(Grid {
        meta: (!meta.is_empty()).then_some(meta),
        columns,
        rows,
        ver,
    })
}

fn column(json: &Json, path: &mut Path, depth: usize) -> Result<Column, HaysonError> {
    let Json::Object(object) = json else {
        return Err(malformed(path, "an object with a `name`", json));
    };
    let name = match object.get("name") {
        Some(Json::String(name)) => name.clone(),
        other => {
            return Err(path.with(key("name"), |path| {
                malformed(path, "a string", other.unwrap_or(&Json::Null))
            }))
        }
    };
    let meta = match object.get("meta") {
        None | Some(Json::Null) => None,
        Some(Json::Object(meta)) => Some(path.with(key("meta"), |path| dict(meta, path, depth + 1))?),
        Some(other) => return Err(path.with(key("meta"), |path| malformed(path, "an object", other))),
    };
    Ok(Column { name, meta })
}

fn malformed(path: &Path, expected: &'static str, found: &Json) -> HaysonError {
    HaysonError::Malformed {
        path: path.text(),
        expected,
        found: glimpse(found),
    }
}

/// A short rendering of a JSON value for an error message: a hostile payload
/// can be megabytes, and the message needs only its start.
fn glimpse(json: &Json) -> String {
    let mut text = json.to_string();
    if text.len() > 64 {
        let cut = (0..=64).rev().find(|&at| text.is_char_boundary(at)).unwrap_or(0);
        text.truncate(cut);
        text.push('…');
    }
    text
}
