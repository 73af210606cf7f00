//! Building answer grids: columns from the rows' tags, or in a fixed order, and the meta
//! of watch answers.

use std::collections::BTreeSet;

use libhaystack::val::{Column, Dict, Grid, Value, GRID_FORMAT_VERSION};

use super::records::number;

/// Sets `tag` of `dict` to `value`.
pub fn put(dict: &mut Dict, tag: &str, value: Value) {
    dict.insert(tag.to_string(), value);
}

/// A grid of `rows` whose columns are the union of their tags: `id`, `dis`, then the rest in
/// alphabetical order, so the same records always give the same columns. A grid with no tags
/// at all gets the conventional single `empty` column.
pub fn make_grid(rows: Vec<Dict>, meta: Dict) -> Grid {
    let mut names: BTreeSet<&str> = rows
        .iter()
        .flat_map(|row| row.keys().map(String::as_str))
        .collect();
    let mut columns = Vec::with_capacity(names.len().max(1));
    for first in ["id", "dis"] {
        if names.remove(first) {
            columns.push(column(first));
        }
    }
    columns.extend(names.into_iter().map(column));
    if columns.is_empty() {
        columns.push(column("empty"));
    }
    Grid {
        meta: (!meta.is_empty()).then_some(meta),
        columns,
        rows,
        ver: GRID_FORMAT_VERSION.to_string(),
    }
}

/// A grid with exactly the columns `names`, in that order.
pub fn make_grid_in_order(rows: Vec<Dict>, names: &[&str], meta: Dict) -> Grid {
    let columns = names.iter().copied().map(column).collect();
    Grid {
        meta: (!meta.is_empty()).then_some(meta),
        columns,
        rows,
        ver: GRID_FORMAT_VERSION.to_string(),
    }
}

/// A column named `name`, without meta.
fn column(name: &str) -> Column {
    Column {
        name: name.to_string(),
        meta: None,
    }
}

/// The meta of a watch answer: `watchId`, and `lease` in seconds when given.
pub fn watch_meta(id: &str, lease_secs: Option<u32>) -> Dict {
    let mut meta = Dict::new();
    put(&mut meta, "watchId", Value::from(id));
    if let Some(lease) = lease_secs {
        put(&mut meta, "lease", number(f64::from(lease), "s"));
    }
    meta
}
