//! Reading request grids: their columns, meta tags, ids, watch ids and limits, each
//! refusal naming the op and the tag at fault.

use libhaystack::val::{Grid, HaystackDict, Value};

use super::error::{describe, wrong_kind, SiteError};

/// Whether the request has column `name`, declared or only present in rows.
pub fn has_column(grid: &Grid, name: &str) -> bool {
    grid.columns.iter().any(|column| column.name == name) || grid.rows.iter().any(|row| row.has(name))
}

/// A tag of the request meta, a null counting as absent.
pub fn meta_tag<'a>(grid: &'a Grid, tag: &str) -> Option<&'a Value> {
    grid.meta.as_ref()?.get(tag).filter(|value| !value.is_null())
}

/// An id from a ref, or from a string (with or without its `@`) for clients that cannot
/// send refs.
pub fn id_of(op: &'static str, value: Option<&Value>) -> Result<String, SiteError> {
    match value {
        Some(Value::Ref(id)) => Ok(id.value().to_string()),
        Some(Value::Str(id)) => Ok(id.value().strip_prefix('@').unwrap_or(id.value()).to_string()),
        other => Err(wrong_kind(op, "id", "a ref", other)),
    }
}

/// A watch id from a string (the Haystack convention) or a ref.
pub fn watch_id_of(op: &'static str, value: Option<&Value>) -> Result<String, SiteError> {
    match value {
        Some(Value::Str(id)) => Ok(id.value().to_string()),
        Some(Value::Ref(id)) => Ok(id.value().to_string()),
        None => Err(SiteError::MissingMeta { op, tag: "`watchId`" }),
        other => Err(wrong_kind(op, "watchId", "a string", other)),
    }
}

/// A read `limit`: a whole number of zero or more.
pub fn parse_limit(value: &Value) -> Result<usize, SiteError> {
    match value {
        Value::Number(limit) if limit.value >= 0.0 && limit.value.fract() == 0.0 => {
            // Saturating: a limit beyond the record count means no limit.
            Ok(limit.value as usize)
        }
        other => Err(SiteError::BadLimit {
            value: describe(Some(other)),
        }),
    }
}
