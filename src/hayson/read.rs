//! The streaming reader behind [`decode_grid`](super::decode_grid).
//!
//! It builds the libhaystack grid while serde_json parses, without a
//! `serde_json::Value` tree of the whole document in between. It covers what
//! grids on the wire are made of (dicts, lists, strings, numbers, markers,
//! refs) and hands any other kind, buffered as a small JSON value, to the same
//! tree walk the rest of the module uses.
//!
//! It answers only when it is sure to answer what the tree walk would: on
//! anything unusual (a `_kind` that is not an object's first key, a field
//! given twice, a value of an unexpected type, nesting past [`MAX_DEPTH`],
//! serde_json's private marker keys, any error) it gives up and
//! [`decode_grid`](super::decode_grid) decodes the bytes again through the
//! tree, which finds the same grid or names the fault. A document the reader
//! accepts is therefore decoded exactly as the tree walk decodes it.

use std::borrow::Cow;
use std::cell::Cell;
use std::fmt;

use libhaystack::units::{get_unit, Unit};
use libhaystack::val::{Column, Dict, Grid, Ref, Value as HVal, GRID_FORMAT_VERSION};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value as Json};

use super::{Path, MAX_DEPTH};

/// Reads a grid, or `None` when the tree walk must decide.
pub(super) fn grid(bytes: &[u8]) -> Option<Grid> {
    let units = Units::default();
    let ctx = Ctx {
        depth: 0,
        units: &units,
    };
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let grid = GridSeed(ctx).deserialize(&mut de).ok()?;
    de.end().ok()?;
    Some(grid)
}

/// The reason every refusal carries: none is ever shown, since the tree walk
/// decodes the same bytes again and reports its own error.
fn give_up<E: de::Error>() -> E {
    E::custom("left to the tree walk")
}

/// serde_json reads an object whose first key is one of its private tokens
/// (raw values, arbitrary-precision numbers) as something other than an
/// object; such documents are left to the tree walk, which parses them the
/// same way serde_json does.
fn is_serde_json_token(key: &str) -> bool {
    key.starts_with("$serde_json::private::")
}

/// The units of one document: grids repeat the same few units row after row,
/// so the last one found is kept and compared before the database is asked.
#[derive(Default)]
struct Units {
    last: Cell<Option<&'static Unit>>,
}

impl Units {
    fn get(&self, name: &str) -> Option<&'static Unit> {
        if let Some(unit) = self.last.get() {
            if unit.symbol() == name {
                return Some(unit);
            }
        }
        let unit = get_unit(name)?;
        // Kept only when looked up by its own symbol, so a hit returns what
        // the database would return for the same text.
        if unit.symbol() == name {
            self.last.set(Some(unit));
        }
        Some(unit)
    }
}

/// Where the reader is: how many arrays and objects are open, and the
/// document's unit cache.
#[derive(Clone, Copy)]
struct Ctx<'u> {
    depth: usize,
    units: &'u Units,
}

impl Ctx<'_> {
    /// One more array or object is open; past [`MAX_DEPTH`] the tree walk
    /// takes over (and refuses the document).
    fn enter<E: de::Error>(self) -> Result<Self, E> {
        if self.depth >= MAX_DEPTH {
            return Err(give_up());
        }
        Ok(Ctx {
            depth: self.depth + 1,
            ..self
        })
    }
}

/// A key as an owned string, for dicts.
struct OwnedKey;

impl<'de> DeserializeSeed<'de> for OwnedKey {
    type Value = String;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<String, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for OwnedKey {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<String, E> {
        Ok(key.to_owned())
    }

    fn visit_string<E: de::Error>(self, key: String) -> Result<String, E> {
        Ok(key)
    }
}

/// A key matched against the names an object's reader knows: the index of
/// the name, or `names.len()` for any other key.
struct FieldKey {
    names: &'static [&'static str],
    first: bool,
}

impl<'de> DeserializeSeed<'de> for FieldKey {
    type Value = usize;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<usize, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for FieldKey {
    type Value = usize;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<usize, E> {
        if self.first && is_serde_json_token(key) {
            return Err(give_up());
        }
        Ok(self
            .names
            .iter()
            .position(|name| *name == key)
            .unwrap_or(self.names.len()))
    }
}

/// Reads an object's keys with [`FieldKey`], the first one checked for
/// serde_json's tokens.
fn next_field<'de, A: MapAccess<'de>>(
    map: &mut A,
    names: &'static [&'static str],
    first: &mut bool,
) -> Result<Option<usize>, A::Error> {
    let key = map.next_key_seed(FieldKey { names, first: *first })?;
    *first = false;
    Ok(key)
}

/// Reads and drops any value, still bounded in depth and still leaving
/// serde_json's tokens to the tree walk.
#[derive(Clone, Copy)]
struct Skip<'u>(Ctx<'u>);

impl<'de> DeserializeSeed<'de> for Skip<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Skip<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let inner = Skip(self.0.enter()?);
        while seq.next_element_seed(inner)?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let inner = Skip(self.0.enter()?);
        let mut first = true;
        while next_field(&mut map, &[], &mut first)?.is_some() {
            map.next_value_seed(inner)?;
        }
        Ok(())
    }
}

/// Reads a value as a `serde_json::Value`, as serde_json would, but bounded
/// in depth; for the kinds left to the tree walk.
#[derive(Clone, Copy)]
struct JsonSeed<'u>(Ctx<'u>);

impl<'de> DeserializeSeed<'de> for JsonSeed<'_> {
    type Value = Json;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Json, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for JsonSeed<'_> {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_bool<E: de::Error>(self, on: bool) -> Result<Json, E> {
        Ok(Json::Bool(on))
    }

    fn visit_i64<E: de::Error>(self, n: i64) -> Result<Json, E> {
        Ok(Json::Number(n.into()))
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<Json, E> {
        Ok(Json::Number(n.into()))
    }

    fn visit_f64<E: de::Error>(self, n: f64) -> Result<Json, E> {
        Ok(serde_json::Number::from_f64(n).map_or(Json::Null, Json::Number))
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Json, E> {
        Ok(Json::String(text.to_owned()))
    }

    fn visit_string<E: de::Error>(self, text: String) -> Result<Json, E> {
        Ok(Json::String(text))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let inner = JsonSeed(self.0.enter()?);
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(inner)? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let inner = JsonSeed(self.0.enter()?);
        let mut object = Map::new();
        let mut first = true;
        while let Some(key) = map.next_key_seed(OwnedKey)? {
            if first && is_serde_json_token(&key) {
                return Err(give_up());
            }
            first = false;
            object.insert(key, map.next_value_seed(inner)?);
        }
        Ok(Json::Object(object))
    }
}

/// The whole document: an object whose first key is `"_kind":"grid"`.
struct GridSeed<'u>(Ctx<'u>);

impl<'de> DeserializeSeed<'de> for GridSeed<'_> {
    type Value = Grid;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Grid, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for GridSeed<'_> {
    type Value = Grid;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a grid")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Grid, A::Error> {
        const KIND: usize = 0;
        const META: usize = 1;
        const COLS: usize = 2;
        const ROWS: usize = 3;
        const NAMES: &[&str] = &["_kind", "meta", "cols", "rows"];

        let ctx = self.0.enter()?;
        let mut first = true;
        if next_field(&mut map, NAMES, &mut first)? != Some(KIND)
            || map.next_value_seed(KindSeed)? != Kind::Grid
        {
            return Err(give_up());
        }
        let (mut meta, mut columns, mut rows) = (None, None, None);
        while let Some(field) = next_field(&mut map, NAMES, &mut first)? {
            match field {
                META if meta.is_none() => meta = Some(map.next_value_seed(MetaSeed(ctx))?),
                COLS if columns.is_none() => columns = Some(map.next_value_seed(ColsSeed(ctx))?),
                ROWS if rows.is_none() => rows = Some(map.next_value_seed(RowsSeed(ctx))?),
                KIND | META | COLS | ROWS => return Err(give_up()),
                _ => map.next_value_seed(Skip(ctx))?,
            }
        }
        let (Some(columns), Some(rows)) = (columns, rows) else {
            return Err(give_up());
        };
        let mut meta = meta.unwrap_or_default();
        // As the tree walk does: a string `ver` moves to the grid's field.
        let ver = match meta.get("ver") {
            Some(HVal::Str(ver)) => {
                let ver = ver.value().to_owned();
                meta.remove("ver");
                ver
            }
            _ => GRID_FORMAT_VERSION.to_owned(),
        };
        Ok(Grid {
            meta: (!meta.is_empty()).then_some(meta),
            columns,
            rows,
            ver,
        })
    }
}

/// A grid's meta: `null` or an object.
struct MetaSeed<'u>(Ctx<'u>);

impl<'de> DeserializeSeed<'de> for MetaSeed<'_> {
    type Value = Dict;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Dict, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for MetaSeed<'_> {
    type Value = Dict;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a meta object or null")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Dict, E> {
        Ok(Dict::new())
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Dict, A::Error> {
        TagsSeed(self.0).visit_map(map)
    }
}

/// An object read as tags, every `_kind` key dropped, as the tree walk reads
/// a grid's meta, a column's meta and a row.
#[derive(Clone, Copy)]
struct TagsSeed<'u>(Ctx<'u>);

impl<'de> DeserializeSeed<'de> for TagsSeed<'_> {
    type Value = Dict;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Dict, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for TagsSeed<'_> {
    type Value = Dict;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Dict, A::Error> {
        let ctx = self.0.enter()?;
        let mut dict = Dict::new();
        let mut first = true;
        while let Some(key) = map.next_key_seed(OwnedKey)? {
            if first && is_serde_json_token(&key) {
                return Err(give_up());
            }
            first = false;
            if key == "_kind" {
                map.next_value_seed(Skip(ctx))?;
            } else {
                let value = map.next_value_seed(ValueSeed(ctx))?;
                dict.insert(key, value);
            }
        }
        Ok(dict)
    }
}

/// A grid's `cols` array.
struct ColsSeed<'u>(Ctx<'u>);

impl<'de> DeserializeSeed<'de> for ColsSeed<'_> {
    type Value = Vec<Column>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Vec<Column>, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ColsSeed<'_> {
    type Value = Vec<Column>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of columns")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Column>, A::Error> {
        let ctx = self.0.enter()?;
        let mut columns = Vec::new();
        while let Some(column) = seq.next_element_seed(ColumnSeed(ctx))? {
            columns.push(column);
        }
        Ok(columns)
    }
}

/// One column: a `name` string and an optional meta object.
#[derive(Clone, Copy)]
struct ColumnSeed<'u>(Ctx<'u>);

impl<'de> DeserializeSeed<'de> for ColumnSeed<'_> {
    type Value = Column;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Column, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ColumnSeed<'_> {
    type Value = Column;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a column")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Column, A::Error> {
        const NAME: usize = 0;
        const META: usize = 1;
        const NAMES: &[&str] = &["name", "meta"];

        let ctx = self.0.enter()?;
        let (mut name, mut meta) = (None, None);
        let mut first = true;
        while let Some(field) = next_field(&mut map, NAMES, &mut first)? {
            match field {
                NAME if name.is_none() => name = Some(map.next_value_seed(OwnedKey)?),
                META if meta.is_none() => meta = Some(map.next_value_seed(ColumnMetaSeed(ctx))?),
                NAME | META => return Err(give_up()),
                _ => map.next_value_seed(Skip(ctx))?,
            }
        }
        let Some(name) = name else {
            return Err(give_up());
        };
        Ok(Column {
            name,
            meta: meta.flatten(),
        })
    }
}

/// A column's meta: `null` (none) or an object.
struct ColumnMetaSeed<'u>(Ctx<'u>);

impl<'de> DeserializeSeed<'de> for ColumnMetaSeed<'_> {
    type Value = Option<Dict>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Option<Dict>, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ColumnMetaSeed<'_> {
    type Value = Option<Dict>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a column meta object or null")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Option<Dict>, E> {
        Ok(None)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Option<Dict>, A::Error> {
        TagsSeed(self.0).visit_map(map).map(Some)
    }
}

/// A grid's `rows` array.
struct RowsSeed<'u>(Ctx<'u>);

impl<'de> DeserializeSeed<'de> for RowsSeed<'_> {
    type Value = Vec<Dict>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Vec<Dict>, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for RowsSeed<'_> {
    type Value = Vec<Dict>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of rows")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Dict>, A::Error> {
        let ctx = self.0.enter()?;
        let mut rows = Vec::new();
        while let Some(row) = seq.next_element_seed(TagsSeed(ctx))? {
            rows.push(row);
        }
        Ok(rows)
    }
}

/// The `_kind` of an object, as far as the reader needs to tell kinds apart.
#[derive(PartialEq, Eq)]
enum Kind {
    Marker,
    Na,
    Remove,
    Number,
    Ref,
    Dict,
    Grid,
    Other(String),
}

struct KindSeed;

impl<'de> DeserializeSeed<'de> for KindSeed {
    type Value = Kind;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Kind, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for KindSeed {
    type Value = Kind;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a kind")
    }

    fn visit_str<E: de::Error>(self, kind: &str) -> Result<Kind, E> {
        Ok(match kind {
            "marker" => Kind::Marker,
            "na" => Kind::Na,
            "remove" => Kind::Remove,
            "number" => Kind::Number,
            "ref" => Kind::Ref,
            "dict" => Kind::Dict,
            "grid" => Kind::Grid,
            other => Kind::Other(other.to_owned()),
        })
    }
}

/// Any Haystack value.
#[derive(Clone, Copy)]
struct ValueSeed<'u>(Ctx<'u>);

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = HVal;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<HVal, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_> {
    type Value = HVal;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a Haystack value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<HVal, E> {
        Ok(HVal::Null)
    }

    fn visit_bool<E: de::Error>(self, on: bool) -> Result<HVal, E> {
        Ok(HVal::make_bool(on))
    }

    // The same conversions as `serde_json::Number::as_f64` after serde_json
    // read the number into a tree.
    fn visit_i64<E: de::Error>(self, n: i64) -> Result<HVal, E> {
        Ok(HVal::make_number(n as f64))
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<HVal, E> {
        Ok(HVal::make_number(n as f64))
    }

    fn visit_f64<E: de::Error>(self, n: f64) -> Result<HVal, E> {
        Ok(HVal::make_number(n))
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<HVal, E> {
        Ok(HVal::make_str(text))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<HVal, A::Error> {
        let inner = ValueSeed(self.0.enter()?);
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(inner)? {
            items.push(item);
        }
        Ok(HVal::make_list(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<HVal, A::Error> {
        let ctx = self.0.enter()?;
        let Some(key) = map.next_key_seed(OwnedKey)? else {
            return Ok(HVal::make_dict(Dict::new()));
        };
        if is_serde_json_token(&key) {
            return Err(give_up());
        }
        if key != "_kind" {
            let mut dict = Dict::new();
            dict.insert(key, map.next_value_seed(ValueSeed(ctx))?);
            return dict_entries(map, dict, ctx).map(HVal::make_dict);
        }
        match map.next_value_seed(KindSeed)? {
            Kind::Marker => ignore_fields(map, ctx).map(|()| HVal::make_marker()),
            Kind::Na => ignore_fields(map, ctx).map(|()| HVal::make_na()),
            Kind::Remove => ignore_fields(map, ctx).map(|()| HVal::make_remove()),
            Kind::Number => number(map, ctx),
            Kind::Ref => reference(map, ctx),
            Kind::Dict => dict_entries(map, Dict::new(), ctx).map(HVal::make_dict),
            Kind::Grid => tree(map, "grid".to_owned(), self.0, ctx),
            Kind::Other(kind) => tree(map, kind, self.0, ctx),
        }
    }
}

/// The rest of a dict's entries; a `_kind` among them would change what the
/// object is, so it is left to the tree walk.
fn dict_entries<'de, A: MapAccess<'de>>(mut map: A, mut dict: Dict, ctx: Ctx<'_>) -> Result<Dict, A::Error> {
    while let Some(key) = map.next_key_seed(OwnedKey)? {
        if key == "_kind" {
            return Err(give_up());
        }
        let value = map.next_value_seed(ValueSeed(ctx))?;
        dict.insert(key, value);
    }
    Ok(dict)
}

/// The rest of a marker's, NA's or remove's fields, which say nothing.
fn ignore_fields<'de, A: MapAccess<'de>>(mut map: A, ctx: Ctx<'_>) -> Result<(), A::Error> {
    const NAMES: &[&str] = &["_kind"];
    let mut first = false;
    while let Some(field) = next_field(&mut map, NAMES, &mut first)? {
        if field == 0 {
            return Err(give_up());
        }
        map.next_value_seed(Skip(ctx))?;
    }
    Ok(())
}

/// A number's `val`: a JSON number or one of `"NaN"`, `"INF"`, `"-INF"`.
struct NumberVal;

impl<'de> DeserializeSeed<'de> for NumberVal {
    type Value = f64;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<f64, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl Visitor<'_> for NumberVal {
    type Value = f64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a number's val")
    }

    fn visit_i64<E: de::Error>(self, n: i64) -> Result<f64, E> {
        Ok(n as f64)
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<f64, E> {
        Ok(n as f64)
    }

    fn visit_f64<E: de::Error>(self, n: f64) -> Result<f64, E> {
        Ok(n)
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<f64, E> {
        match text {
            "NaN" => Ok(f64::NAN),
            "INF" => Ok(f64::INFINITY),
            "-INF" => Ok(f64::NEG_INFINITY),
            _ => Err(give_up()),
        }
    }
}

/// A number's `unit`: `null` or a unit libhaystack knows.
struct UnitSeed<'u>(&'u Units);

impl<'de> DeserializeSeed<'de> for UnitSeed<'_> {
    type Value = Option<&'static Unit>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Option<&'static Unit>, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl Visitor<'_> for UnitSeed<'_> {
    type Value = Option<&'static Unit>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a unit")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Option<&'static Unit>, E> {
        Ok(None)
    }

    fn visit_str<E: de::Error>(self, name: &str) -> Result<Option<&'static Unit>, E> {
        self.0.get(name).map(Some).ok_or_else(give_up)
    }
}

/// The fields of `{"_kind":"number",...}` after its kind.
fn number<'de, A: MapAccess<'de>>(mut map: A, ctx: Ctx<'_>) -> Result<HVal, A::Error> {
    const KIND: usize = 0;
    const VAL: usize = 1;
    const UNIT: usize = 2;
    const NAMES: &[&str] = &["_kind", "val", "unit"];

    let (mut val, mut unit) = (None, None);
    let mut first = false;
    while let Some(field) = next_field(&mut map, NAMES, &mut first)? {
        match field {
            VAL if val.is_none() => val = Some(map.next_value_seed(NumberVal)?),
            UNIT if unit.is_none() => unit = Some(map.next_value_seed(UnitSeed(ctx.units))?),
            KIND | VAL | UNIT => return Err(give_up()),
            _ => map.next_value_seed(Skip(ctx))?,
        }
    }
    match (val, unit.flatten()) {
        (Some(val), Some(unit)) => Ok(HVal::make_number_unit(val, unit)),
        (Some(val), None) => Ok(HVal::make_number(val)),
        (None, _) => Err(give_up()),
    }
}

/// A string field of a scalar kind, borrowed from the input when it has no
/// escapes, so that libhaystack's constructor makes the only copy.
struct StrField;

impl<'de> DeserializeSeed<'de> for StrField {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Cow<'de, str>, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for StrField {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E: de::Error>(self, text: &'de str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Borrowed(text))
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(text.to_owned()))
    }
}

/// The fields of `{"_kind":"ref",...}` after its kind, read as libhaystack
/// reads them: a string `val` and an optional string `dis`.
fn reference<'de, A: MapAccess<'de>>(mut map: A, ctx: Ctx<'_>) -> Result<HVal, A::Error> {
    const KIND: usize = 0;
    const VAL: usize = 1;
    const DIS: usize = 2;
    const NAMES: &[&str] = &["_kind", "val", "dis"];

    let (mut val, mut dis) = (None, None);
    let mut first = false;
    while let Some(field) = next_field(&mut map, NAMES, &mut first)? {
        match field {
            VAL if val.is_none() => val = Some(map.next_value_seed(StrField)?),
            DIS if dis.is_none() => dis = Some(map.next_value_seed(StrField)?),
            KIND | VAL | DIS => return Err(give_up()),
            _ => map.next_value_seed(Skip(ctx))?,
        }
    }
    let Some(val) = val else {
        return Err(give_up());
    };
    Ok(HVal::Ref(Ref::make(&val, dis.as_deref())))
}

/// Any other kind: its fields are buffered as JSON, `_kind` first as it came,
/// and read by the tree walk. `outer` is where the object sits, `ctx` inside
/// it.
fn tree<'de, A: MapAccess<'de>>(
    mut map: A,
    kind: String,
    outer: Ctx<'_>,
    ctx: Ctx<'_>,
) -> Result<HVal, A::Error> {
    let mut object = Map::new();
    object.insert("_kind".to_owned(), Json::String(kind));
    while let Some(key) = map.next_key_seed(OwnedKey)? {
        let value = map.next_value_seed(JsonSeed(ctx))?;
        object.insert(key, value);
    }
    super::value(&Json::Object(object), &Path::Root, outer.depth).map_err(|_| give_up())
}
