//! `hswire bench --write-site FILE`: the records of haystack-py's WebSocket
//! benchmark (`benchmarks/bench_ws_compression.py`) as a site file for
//! `hswire serve --site`, so that both servers answer the same data.
//!
//! The benchmark seeds 5,000 points, each with the same tags:
//! `id` @p:i, `dis` "Point i", the `point` and `sensor` markers, `kind`
//! "Number", `unit` "°F", `curVal` (72 + i mod 30)°F and `siteRef` @s:site-1
//! (a site it does not define). `read` of `point and sensor` answers all of them.

use std::io::Write;
use std::path::Path;

use serde_json::{json, Map, Value};

use crate::output::io_words;

/// How many points the benchmark seeds.
pub const POINTS: usize = 5_000;

/// The tags of every point, in the benchmark's order: the grid's columns.
const COLUMNS: [&str; 8] = [
    "id", "dis", "point", "sensor", "kind", "unit", "curVal", "siteRef",
];

/// The benchmark's records as a Haystack 4 JSON grid.
pub fn grid() -> Value {
    let marker = json!({"_kind": "marker"});
    let rows: Vec<Value> = (0..POINTS)
        .map(|i| {
            let mut row = Map::new();
            row.insert("id".into(), json!({"_kind": "ref", "val": format!("p:{i}")}));
            row.insert("dis".into(), json!(format!("Point {i}")));
            row.insert("point".into(), marker.clone());
            row.insert("sensor".into(), marker.clone());
            row.insert("kind".into(), json!("Number"));
            row.insert("unit".into(), json!("°F"));
            row.insert(
                "curVal".into(),
                json!({"_kind": "number", "val": 72.0 + (i % 30) as f64, "unit": "°F"}),
            );
            row.insert("siteRef".into(), json!({"_kind": "ref", "val": "s:site-1"}));
            Value::Object(row)
        })
        .collect();
    let cols: Vec<Value> = COLUMNS.iter().map(|name| json!({"name": name})).collect();
    json!({"_kind": "grid", "meta": {"ver": "3.0"}, "cols": cols, "rows": rows})
}

/// Writes [`grid`] to `path`, naming the file when that fails.
pub fn write(path: &Path) -> Result<(), String> {
    let words = |error: std::io::Error| format!("cannot write {}: {}", path.display(), io_words(&error));
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).map_err(words)?);
    serde_json::to_writer(&mut file, &grid()).map_err(|error| words(error.into()))?;
    file.write_all(b"\n").map_err(words)?;
    file.flush().map_err(words)
}

#[cfg(test)]
mod tests {
    use haystack_wire::hayson;

    use super::{grid, POINTS};

    #[test]
    fn the_site_holds_the_benchmarks_points_with_its_tags() {
        let grid = hayson::decode_grid(grid().to_string().as_bytes()).expect("a Haystack 4 JSON grid");
        assert_eq!(grid.rows.len(), POINTS);
        let json = super::grid();
        let last = &json["rows"][POINTS - 1];
        assert_eq!(last["id"]["val"], "p:4999");
        assert_eq!(last["dis"], "Point 4999");
        assert_eq!(last["point"]["_kind"], "marker");
        assert_eq!(last["sensor"]["_kind"], "marker");
        assert_eq!(last["kind"], "Number");
        assert_eq!(last["unit"], "°F");
        assert_eq!(last["curVal"]["val"], 91.0);
        assert_eq!(last["curVal"]["unit"], "°F");
        assert_eq!(last["siteRef"]["val"], "s:site-1");
    }
}
