//! Haystack 4 JSON grids through libhaystack, with the numbers libhaystack's
//! own reader refuses: NaN, INF and -INF, as the reference writes them.

use haystack_wire::hayson::{self, HaysonError, MAX_DEPTH};
use libhaystack::val::{Grid, HaystackDict, Value};

/// What the reference's encoder writes for a grid with a marker in its
/// meta, a ref with a display name, a NaN, the infinities, units, a
/// dateTime, a nested dict and a list.
const REFERENCE_GRID: &str = concat!(
    r#"{"_kind":"grid","meta":{"x":{"_kind":"marker"}},"cols":[{"name":"id"},{"name":"v"},{"name":"ts"},{"name":"more"}],"rows":["#,
    r#"{"id":{"_kind":"ref","val":"a","dis":"A"},"v":{"_kind":"number","val":"NaN"},"ts":{"_kind":"dateTime","val":"2026-11-25T04:53:06.641710+00:00","tz":"UTC"},"more":{"n":2.0,"l":[1.0,"s"]}},"#,
    r#"{"id":{"_kind":"ref","val":"b"},"v":{"_kind":"number","val":"INF","unit":"kW"}},"#,
    r#"{"v":{"_kind":"number","val":"-INF"}},"#,
    r#"{"v":{"_kind":"number","val":3.0,"unit":"kW"}}]}"#
);

fn number(grid: &Grid, row: usize, tag: &str) -> (f64, Option<String>) {
    match grid.rows[row].get(tag) {
        Some(Value::Number(number)) => (number.value, number.unit.map(|unit| unit.symbol().to_owned())),
        other => panic!("row {row} `{tag}` is not a number: {other:?}"),
    }
}

#[test]
fn the_reference_grid_decodes_value_by_value() {
    let grid = hayson::decode_grid(REFERENCE_GRID.as_bytes()).unwrap();
    assert!(grid.meta.as_ref().unwrap().has("x"));
    let names: Vec<&str> = grid.columns.iter().map(|column| column.name.as_str()).collect();
    assert_eq!(names, ["id", "v", "ts", "more"]);
    assert_eq!(grid.rows.len(), 4);

    let Some(Value::Ref(id)) = grid.rows[0].get("id") else {
        panic!("a ref")
    };
    assert_eq!((id.value(), id.dis()), ("a", Some("A")));
    assert!(number(&grid, 0, "v").0.is_nan());
    assert_eq!(number(&grid, 1, "v"), (f64::INFINITY, Some("kW".to_owned())));
    assert_eq!(number(&grid, 2, "v"), (f64::NEG_INFINITY, None));
    assert_eq!(number(&grid, 3, "v"), (3.0, Some("kW".to_owned())));
    let Some(Value::DateTime(ts)) = grid.rows[0].get("ts") else {
        panic!("a dateTime")
    };
    assert_eq!(ts.to_rfc3339(), "2026-11-25T04:53:06.641710+00:00");
    let Some(Value::Dict(more)) = grid.rows[0].get("more") else {
        panic!("a dict")
    };
    assert_eq!(more.get("n"), Some(&Value::make_number(2.0)));
    assert_eq!(
        more.get("l"),
        Some(&Value::make_list(vec![
            Value::make_number(1.0),
            Value::make_str("s")
        ]))
    );
}

#[test]
fn encoding_writes_special_numbers_as_the_reference_does_and_round_trips() {
    let grid = hayson::decode_grid(REFERENCE_GRID.as_bytes()).unwrap();
    let json: serde_json::Value = serde_json::from_slice(&hayson::encode_grid(&grid)).unwrap();
    assert_eq!(json["_kind"], "grid");
    assert_eq!(json["meta"]["ver"], "3.0");
    assert_eq!(
        json["rows"][0]["v"].to_string(),
        r#"{"_kind":"number","val":"NaN"}"#
    );
    assert_eq!(
        json["rows"][1]["v"].to_string(),
        r#"{"_kind":"number","val":"INF","unit":"kW"}"#
    );
    assert_eq!(
        json["rows"][2]["v"].to_string(),
        r#"{"_kind":"number","val":"-INF"}"#
    );
    // A unitless finite number is a plain JSON float, as the reference writes it.
    assert_eq!(json["rows"][0]["more"]["n"].to_string(), "2.0");

    let again = hayson::decode_grid(&hayson::encode_grid(&grid)).unwrap();
    assert!(number(&again, 0, "v").0.is_nan());
    for row in 1..4 {
        assert_eq!(number(&again, row, "v"), number(&grid, row, "v"));
    }
    assert_eq!(again.rows[0].get("ts"), grid.rows[0].get("ts"));
    assert_eq!(again.rows[0].get("more"), grid.rows[0].get("more"));
    assert_eq!(again.meta, grid.meta);
}

#[test]
fn an_error_grid_keeps_its_dis() {
    let grid = hayson::decode_grid(
        br#"{"_kind":"grid","meta":{"err":{"_kind":"marker"},"dis":"boom"},"cols":[],"rows":[]}"#,
    )
    .unwrap();
    assert!(grid.is_err());
    assert_eq!(
        grid.meta
            .unwrap()
            .get_str("dis")
            .map(|dis| dis.value().to_owned()),
        Some("boom".to_owned())
    );
}

#[test]
fn refusals_name_the_place_and_the_value() {
    let refused = |json: &str| hayson::decode_grid(json.as_bytes()).unwrap_err();
    assert!(matches!(refused("{"), HaysonError::NotJson { .. }));
    assert!(matches!(
        refused(r#"{"_kind":"dict"}"#),
        HaysonError::NotAGrid { .. }
    ));
    let grid =
        |row: &str| format!(r#"{{"_kind":"grid","meta":{{}},"cols":[{{"name":"v"}}],"rows":[{row}]}}"#);
    assert_eq!(
        refused(&grid(r#"{"v":{"_kind":"number","val":"nope"}}"#)),
        HaysonError::Malformed {
            path: "$.rows[0].v.val".into(),
            expected: "a JSON number, \"NaN\", \"INF\" or \"-INF\"",
            found: "\"nope\"".into(),
        }
    );
    assert_eq!(
        refused(&grid(
            r#"{},{"v":{"_kind":"number","val":1,"unit":"furlongs per fortnight"}}"#
        )),
        HaysonError::UnknownUnit {
            path: "$.rows[1].v.unit".into(),
            unit: "furlongs per fortnight".into(),
        }
    );
    assert!(matches!(
        refused(&grid(r#"{"v":{"_kind":"ref"}}"#)),
        HaysonError::Refused { path, .. } if path == "$.rows[0].v"
    ));
    assert!(matches!(
        refused(r#"{"_kind":"grid","meta":{},"cols":"v","rows":[]}"#),
        HaysonError::Malformed { path, .. } if path == "$.cols"
    ));
}

#[test]
fn hostile_nesting_is_refused_without_recursing_into_it() {
    let depth = 10_000;
    let value = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let json = format!(r#"{{"_kind":"grid","meta":{{}},"cols":[{{"name":"v"}}],"rows":[{{"v":{value}}}]}}"#);
    // serde_json stops at its own recursion limit first; the grid is refused either way.
    assert!(matches!(
        hayson::decode_grid(json.as_bytes()),
        Err(HaysonError::NotJson { .. } | HaysonError::TooDeep { .. })
    ));
    // A value built in memory is not bounded by the JSON parser; this module's own bound applies.
    let mut json = serde_json::Value::Array(Vec::new());
    for _ in 0..MAX_DEPTH + 5 {
        json = serde_json::Value::Array(vec![json]);
    }
    assert!(matches!(
        hayson::from_value(&json),
        Err(HaysonError::TooDeep { max: MAX_DEPTH, .. })
    ));
}
