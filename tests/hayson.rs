#![cfg(feature = "libhaystack")]
//! Haystack 4 JSON grids through libhaystack, with the numbers libhaystack's
//! own reader refuses: NaN, INF and -INF, as the reference writes them.

use haystack_wire::hayson::{self, HaysonError, MAX_DEPTH};
use libhaystack::val::{Grid, HaystackDict, Value};
use proptest::prelude::*;

/// What the reference's encoder writes for a grid with a marker in its meta,
/// a ref with a display name, a NaN and a dateTime in UTC, then a number
/// with a unit.
const REFERENCE_SAMPLE: &str = r#"{"_kind":"grid","meta":{"x":{"_kind":"marker"}},"cols":[{"name":"id"},{"name":"v"},{"name":"ts"}],"rows":[{"id":{"_kind":"ref","val":"a","dis":"A"},"v":{"_kind":"number","val":"NaN"},"ts":{"_kind":"dateTime","val":"2026-11-25T04:53:06.641710+00:00","tz":"UTC"}},{"v":{"_kind":"number","val":3.0,"unit":"kW"}}]}"#;

/// The reference's empty grid.
const REFERENCE_EMPTY: &str = r#"{"_kind":"grid","meta":{},"cols":[],"rows":[]}"#;

/// Every special number with and without a unit, a finite one, a nested
/// dict, list and grid, in the reference's form.
const SPECIALS: &str = concat!(
    r#"{"_kind":"grid","meta":{"x":{"_kind":"marker"},"site":{"_kind":"ref","val":"s-1","dis":"Site"}},"#,
    r#""cols":[{"name":"v"},{"name":"u","meta":{"unit":"°F"}},{"name":"more"}],"rows":["#,
    r#"{"v":{"_kind":"number","val":"NaN"},"u":{"_kind":"number","val":"NaN","unit":"°F"},"more":{"n":2.0,"l":[1.5,"s",{"_kind":"marker"},[null,true]]}},"#,
    r#"{"v":{"_kind":"number","val":"INF"},"u":{"_kind":"number","val":"INF","unit":"°F"},"#,
    r#""inner":{"_kind":"grid","meta":{"ver":"3.0"},"cols":[{"name":"n"}],"rows":[{"n":{"_kind":"number","val":"NaN"}}]}},"#,
    r#"{"v":{"_kind":"number","val":"-INF"},"u":{"_kind":"number","val":"-INF","unit":"°F"}},"#,
    r#"{"v":72.5,"u":{"_kind":"number","val":-3.25,"unit":"°F"}}]}"#
);

fn decode(json: &str) -> Grid {
    hayson::decode_grid(json.as_bytes()).unwrap()
}

fn refused(json: &str) -> HaysonError {
    hayson::decode_grid(json.as_bytes()).unwrap_err()
}

fn number(grid: &Grid, row: usize, tag: &str) -> (f64, Option<&'static str>) {
    match grid.rows[row].get(tag) {
        Some(Value::Number(number)) => (number.value, number.unit.map(|unit| unit.symbol())),
        other => panic!("row {row} `{tag}` is not a number: {other:?}"),
    }
}

/// Equality with NaN equal to itself, so a decoded grid can be compared
/// with its re-decoded copy.
fn assert_same(a: &Value, b: &Value, at: &str) {
    match (a, b) {
        (Value::Number(a), Value::Number(b)) => {
            let same = (a.value.is_nan() && b.value.is_nan()) || a.value == b.value;
            assert!(same && a.unit == b.unit, "{at}: {a:?} != {b:?}");
        }
        (Value::List(a), Value::List(b)) => {
            assert_eq!(a.len(), b.len(), "{at}");
            for (i, (a, b)) in a.iter().zip(b).enumerate() {
                assert_same(a, b, &format!("{at}[{i}]"));
            }
        }
        (Value::Dict(a), Value::Dict(b)) => {
            let keys: Vec<_> = a.keys().collect();
            assert_eq!(keys, b.keys().collect::<Vec<_>>(), "{at}");
            for (key, a) in a.iter() {
                assert_same(a, &b[key.as_str()], &format!("{at}.{key}"));
            }
        }
        (Value::Grid(a), Value::Grid(b)) => assert_same_grid(a, b),
        (a, b) => assert_eq!(a, b, "{at}"),
    }
}

fn assert_same_grid(a: &Grid, b: &Grid) {
    assert_eq!(a.ver, b.ver);
    let meta = |grid: &Grid| Value::make_dict(grid.meta.clone().unwrap_or_default());
    assert_same(&meta(a), &meta(b), "meta");
    assert_eq!(a.columns, b.columns);
    assert_eq!(a.rows.len(), b.rows.len());
    for (i, (a, b)) in a.rows.iter().zip(&b.rows).enumerate() {
        assert_same(
            &Value::make_dict(a.clone()),
            &Value::make_dict(b.clone()),
            &format!("rows[{i}]"),
        );
    }
}

#[test]
fn the_reference_sample_decodes_value_by_value() {
    let grid = decode(REFERENCE_SAMPLE);
    assert_eq!(grid.ver, "3.0");
    let meta = grid.meta.as_ref().unwrap();
    assert_eq!(meta.get("x"), Some(&Value::make_marker()));
    assert_eq!(meta.len(), 1);
    let names: Vec<&str> = grid.columns.iter().map(|column| column.name.as_str()).collect();
    assert_eq!(names, ["id", "v", "ts"]);
    assert_eq!(grid.rows.len(), 2);

    let Some(Value::Ref(id)) = grid.rows[0].get("id") else {
        panic!("row 0 `id` is not a ref")
    };
    assert_eq!((id.value(), id.dis()), ("a", Some("A")));
    let (v, unit) = number(&grid, 0, "v");
    assert!(v.is_nan());
    assert_eq!(unit, None);

    // libhaystack takes the reference's dateTime form, microseconds and the
    // `UTC` zone name included.
    let Some(Value::DateTime(ts)) = grid.rows[0].get("ts") else {
        panic!("row 0 `ts` is not a dateTime")
    };
    assert_eq!(ts.to_rfc3339(), "2026-11-25T04:53:06.641710+00:00");
    assert_eq!(ts.timestamp_subsec_nanos(), 641_710_000);
    assert!(ts.is_utc());
    assert_eq!(ts.timezone_short_name(), "UTC");

    assert_eq!(number(&grid, 1, "v"), (3.0, Some("kW")));
    assert_eq!(grid.rows[1].len(), 1);
}

#[test]
fn the_reference_empty_grid_decodes_and_encodes_with_a_version() {
    let grid = decode(REFERENCE_EMPTY);
    assert_eq!(
        (grid.meta.as_ref(), grid.columns.len(), grid.rows.len()),
        (None, 0, 0)
    );
    assert_eq!(grid.ver, "3.0");
    assert_eq!(
        hayson::encode_grid(&grid),
        br#"{"_kind":"grid","meta":{"ver":"3.0"},"cols":[],"rows":[]}"#
    );
}

#[test]
fn special_numbers_decode_with_and_without_units() {
    let grid = decode(SPECIALS);
    assert!(number(&grid, 0, "v").0.is_nan());
    assert_eq!(number(&grid, 0, "v").1, None);
    let (u, unit) = number(&grid, 0, "u");
    assert!(u.is_nan());
    assert_eq!(unit, Some("°F"));
    for (row, sign) in [(1, 1.0), (2, -1.0)] {
        for (tag, unit) in [("v", None), ("u", Some("°F"))] {
            let (value, got) = number(&grid, row, tag);
            assert!(value.is_infinite(), "row {row} `{tag}`");
            assert_eq!(value.signum(), sign, "row {row} `{tag}`");
            assert_eq!(got, unit, "row {row} `{tag}`");
        }
    }
    assert_eq!(number(&grid, 3, "v"), (72.5, None));
    assert_eq!(number(&grid, 3, "u"), (-3.25, Some("°F")));

    let Some(Value::Grid(inner)) = grid.rows[1].get("inner") else {
        panic!("row 1 `inner` is not a grid")
    };
    assert_eq!((inner.ver.as_str(), inner.meta.as_ref()), ("3.0", None));
    assert!(number(inner, 0, "n").0.is_nan());

    let column_meta = grid.columns[1].meta.as_ref().unwrap();
    assert_eq!(column_meta.get("unit"), Some(&Value::make_str("°F")));
    let Some(Value::Ref(site)) = grid.meta.as_ref().unwrap().get("site") else {
        panic!("meta `site` is not a ref")
    };
    assert_eq!((site.value(), site.dis()), ("s-1", Some("Site")));

    let Some(Value::Dict(more)) = grid.rows[0].get("more") else {
        panic!("row 0 `more` is not a dict")
    };
    assert_eq!(more.get("n"), Some(&Value::make_number(2.0)));
    assert_eq!(
        more.get("l"),
        Some(&Value::make_list(vec![
            Value::make_number(1.5),
            Value::make_str("s"),
            Value::make_marker(),
            Value::make_list(vec![Value::Null, Value::make_bool(true)]),
        ]))
    );
}

#[test]
fn encoding_then_decoding_keeps_every_value() {
    for json in [REFERENCE_SAMPLE, REFERENCE_EMPTY, SPECIALS] {
        let grid = decode(json);
        let encoded = hayson::encode_grid(&grid);
        let again = hayson::decode_grid(&encoded).unwrap();
        assert_same_grid(&grid, &again);
        // A second pass changes nothing: the encoding is a fixed point.
        assert_eq!(hayson::encode_grid(&again), encoded);
    }
}

#[test]
fn special_numbers_are_written_as_the_reference_writes_them() {
    let nan = hayson::to_value(&Value::make_number(f64::NAN));
    assert_eq!(nan.to_string(), r#"{"_kind":"number","val":"NaN"}"#);

    let grid = decode(SPECIALS);
    let encoded = String::from_utf8(hayson::encode_grid(&grid)).unwrap();
    for expected in [
        r#""v":{"_kind":"number","val":"NaN"}"#,
        r#""u":{"_kind":"number","val":"NaN","unit":"°F"}"#,
        r#""v":{"_kind":"number","val":"INF"}"#,
        r#""u":{"_kind":"number","val":"INF","unit":"°F"}"#,
        r#""v":{"_kind":"number","val":"-INF"}"#,
        r#""u":{"_kind":"number","val":"-INF","unit":"°F"}"#,
        r#""v":72.5"#,
        r#""u":{"_kind":"number","val":-3.25,"unit":"°F"}"#,
        r#""n":2.0"#,
    ] {
        assert!(encoded.contains(expected), "{expected} not in {encoded}");
    }
}

#[test]
fn finite_numbers_are_written_as_floats_and_keep_their_value() {
    for value in [0.0, -0.0, 72.0, 1e300, -1e-300, f64::MAX, 9_007_199_254_740_992.0] {
        let json = hayson::to_value(&Value::make_number(value));
        assert!(json.is_f64(), "{value} written as {json}");
        let Value::Number(back) = hayson::from_value(&json).unwrap() else {
            panic!("{json} is not read back as a number")
        };
        assert_eq!(back.value.to_bits(), value.to_bits(), "{value} written as {json}");
    }
    // libhaystack's own writer clamps this one to i64::MAX.
    assert_eq!(hayson::to_value(&Value::make_number(1e300)).to_string(), "1e+300");
}

#[test]
fn the_encoding_has_a_fixed_key_order_and_keeps_the_version() {
    let grid = decode(concat!(
        r#"{"rows":[{"b":1.0,"a":{"_kind":"number","val":2.0,"unit":"kW"}}],"#,
        r#""cols":[{"meta":{"dis":"A"},"name":"a"},{"name":"b"}],"#,
        r#""meta":{"z":"last","ver":"2.0"},"_kind":"grid"}"#
    ));
    // The version moves from the meta to the grid's own field, and back.
    assert_eq!(grid.ver, "2.0");
    assert!(!grid.meta.as_ref().unwrap().has("ver"));
    assert_eq!(
        String::from_utf8(hayson::encode_grid(&grid)).unwrap(),
        concat!(
            r#"{"_kind":"grid","meta":{"ver":"2.0","z":"last"},"#,
            r#""cols":[{"name":"a","meta":{"dis":"A"}},{"name":"b"}],"#,
            r#""rows":[{"a":{"_kind":"number","val":2.0,"unit":"kW"},"b":1.0}]}"#
        )
    );

    // A grid built in code without a version still says which format it is.
    let mut built = Grid::make_empty();
    built.ver.clear();
    let json = hayson::grid_to_value(&built);
    assert_eq!(json["meta"]["ver"], "3.0");
}

#[test]
fn an_error_grid_keeps_its_dis() {
    let grid =
        decode(r#"{"_kind":"grid","meta":{"err":{"_kind":"marker"},"dis":"boom"},"cols":[],"rows":[]}"#);
    assert!(grid.is_err());
    let dis = grid
        .meta
        .as_ref()
        .unwrap()
        .get_str("dis")
        .map(|dis| dis.value().to_owned());
    assert_eq!(dis.as_deref(), Some("boom"));
}

#[test]
fn libhaystack_alone_refuses_what_the_reference_sends() {
    // Why the module exists: if these start to pass upstream, it may shrink.
    assert!(serde_json::from_str::<Grid>(REFERENCE_SAMPLE).is_err());
    assert_eq!(
        serde_json::to_string(&Value::make_number(f64::NAN)).unwrap(),
        "null"
    );
}

#[test]
fn other_kinds_read_and_write_as_libhaystack_does() {
    let scalars = [
        r#"{"_kind":"marker"}"#,
        r#"{"_kind":"na"}"#,
        r#"{"_kind":"remove"}"#,
        r#"{"_kind":"ref","val":"p:1","dis":"Point 1"}"#,
        r#"{"_kind":"ref","val":"p:2"}"#,
        r#"{"_kind":"symbol","val":"elec-meter"}"#,
        r#"{"_kind":"uri","val":"http://example.com/a"}"#,
        r#"{"_kind":"date","val":"2026-11-25"}"#,
        r#"{"_kind":"time","val":"04:53:06.641710"}"#,
        r#"{"_kind":"dateTime","val":"2026-11-25T04:53:06-05:00","tz":"New_York"}"#,
        r#"{"_kind":"dateTime","val":"2026-11-25T04:53:06.641710123Z"}"#,
        r#"{"_kind":"coord","lat":37.55,"lng":-77.45}"#,
        r#"{"_kind":"xstr","type":"Color","val":"red"}"#,
        r#"true"#,
        r#""text""#,
        r#"null"#,
    ];
    for text in scalars {
        let json: serde_json::Value = serde_json::from_str(text).unwrap();
        let ours = hayson::from_value(&json).unwrap();
        let theirs: Value = serde_json::from_str(text).unwrap();
        assert_eq!(ours, theirs, "{text}");
        assert_eq!(
            hayson::to_value(&ours),
            serde_json::to_value(&theirs).unwrap(),
            "{text}"
        );
    }
    // A dateTime in UTC comes back in libhaystack's form: `Z`, no `tz`.
    let ts = hayson::from_value(&serde_json::json!(
        {"_kind":"dateTime","val":"2026-11-25T04:53:06.641710+00:00","tz":"UTC"}
    ))
    .unwrap();
    assert_eq!(
        hayson::to_value(&ts).to_string(),
        r#"{"_kind":"dateTime","val":"2026-11-25T04:53:06.641710Z"}"#
    );
}

#[test]
fn fields_a_kind_does_not_define_are_ignored() {
    // libhaystack alone stops at a marker's `_kind` and then trips over the
    // field after it.
    let marker = serde_json::json!({"_kind": "marker", "extra": 1});
    assert!(serde_json::from_value::<Value>(marker.clone()).is_err());
    assert_eq!(hayson::from_value(&marker), Ok(Value::make_marker()));

    // Containers in a scalar kind are not walked, so they cannot nest deep.
    let mut junk = serde_json::json!([]);
    for _ in 0..1_000 {
        junk = serde_json::json!([junk]);
    }
    let reference = serde_json::json!({"_kind": "ref", "val": "a", "junk": junk});
    assert_eq!(hayson::from_value(&reference), Ok(Value::make_ref("a")));
}

#[test]
fn refusals_are_typed_and_name_the_place() {
    let grid =
        |row: &str| format!(r#"{{"_kind":"grid","meta":{{}},"cols":[{{"name":"v"}}],"rows":[{{}},{row}]}}"#);

    let HaysonError::NotJson { reason } = refused(r#"{"_kind":"grid","#) else {
        panic!("truncated JSON is not NotJson")
    };
    assert!(reason.contains("line 1"), "{reason}");

    assert_eq!(
        refused("[]").to_string(),
        "$: expected a grid (an object with \"_kind\":\"grid\"), found an array of 0 items"
    );
    for (json, found) in [
        (r#"{"_kind":"dict"}"#, r#"an object of kind "dict""#),
        // The Haystack 3 JSON shape has no `_kind`.
        (r#"{"meta":{},"cols":[],"rows":[]}"#, "an object with 3 keys"),
        ("[]", "an array of 0 items"),
        ("42", "42"),
    ] {
        assert_eq!(
            refused(json),
            HaysonError::NotAGrid { found: found.into() },
            "{json}"
        );
    }

    assert_eq!(
        refused(&grid(r#"{"v":{"_kind":"number","val":"nope"}}"#)),
        HaysonError::BadNumber {
            path: "$.rows[1].v.val".into(),
            found: r#""nope""#.into(),
        }
    );
    assert_eq!(
        refused(&grid(r#"{"v":{"_kind":"number","unit":"kW"}}"#)),
        HaysonError::BadNumber {
            path: "$.rows[1].v.val".into(),
            found: "nothing".into(),
        }
    );
    let unknown = refused(&grid(
        r#"{"v":{"_kind":"number","val":1,"unit":"furlongs per fortnight"}}"#,
    ));
    assert_eq!(
        unknown,
        HaysonError::UnknownUnit {
            path: "$.rows[1].v.unit".into(),
            unit: "furlongs per fortnight".into(),
        }
    );
    assert_eq!(
        unknown.to_string(),
        r#"$.rows[1].v.unit: unit "furlongs per fortnight" is not in libhaystack's unit database"#
    );

    for (value, kind) in [
        (r#"{"_kind":"ref"}"#, "ref"),
        (r#"{"_kind":"bogus"}"#, "bogus"),
        (
            r#"{"_kind":"dateTime","val":"2026-11-25T04:53:06+01:00","tz":"Nowhere"}"#,
            "dateTime",
        ),
        (r#"{"_kind":"date","val":"2026-13-01"}"#, "date"),
    ] {
        match refused(&grid(&format!(r#"{{"v":{{"x":[{value}]}}}}"#))) {
            HaysonError::Refused {
                path,
                kind: got,
                reason,
            } => {
                assert_eq!((path.as_str(), got.as_str()), ("$.rows[1].v.x[0]", kind));
                assert!(!reason.is_empty());
            }
            other => panic!("{value}: {other:?}"),
        }
    }

    assert!(matches!(
        refused(r#"{"_kind":"grid","meta":{},"cols":"v","rows":[]}"#),
        HaysonError::Malformed { path, .. } if path == "$.cols"
    ));
    assert!(matches!(
        refused(r#"{"_kind":"grid","meta":{},"cols":[{"name":"v"}]}"#),
        HaysonError::Malformed { path, .. } if path == "$.rows"
    ));
    assert!(matches!(
        refused(&grid("[1]")),
        HaysonError::Malformed { path, .. } if path == "$.rows[1]"
    ));
    assert!(matches!(
        refused(r#"{"_kind":"grid","cols":[{"dis":"no name"}],"rows":[]}"#),
        HaysonError::Malformed { path, .. } if path == "$.cols[0].name"
    ));
    assert!(matches!(
        refused(&grid(r#"{"odd key":{"_kind":7}}"#)),
        HaysonError::Malformed { path, .. } if path == r#"$.rows[1]["odd key"]._kind"#
    ));
}

#[test]
fn hostile_nesting_is_refused_before_it_is_recursed_into() {
    let depth = 10_000;
    let row = |value: String| {
        format!(r#"{{"_kind":"grid","meta":{{}},"cols":[{{"name":"v"}}],"rows":[{{"v":{value}}}]}}"#)
    };
    for hostile in [
        row(format!("{}{}", "[".repeat(depth), "]".repeat(depth))),
        row(format!("{}1{}", r#"{"a":"#.repeat(depth), "}".repeat(depth))),
        // Unclosed: the depth is found before the end is.
        "[".repeat(depth),
    ] {
        assert!(
            matches!(
                hayson::decode_grid(hostile.as_bytes()),
                Err(HaysonError::TooDeep { max: MAX_DEPTH, ref at }) if at.starts_with("byte ")
            ),
            "{}",
            &hostile[..60]
        );
    }

    // A value built in memory is not bounded by any parser; the walk's own
    // bound applies and says where.
    let mut json = serde_json::json!({"_kind": "number", "val": "NaN"});
    for _ in 0..1_000 {
        json = serde_json::Value::Array(vec![json]);
    }
    let Err(HaysonError::TooDeep { at, max }) = hayson::from_value(&json) else {
        panic!("1,000 levels in memory are not TooDeep")
    };
    assert_eq!(max, MAX_DEPTH);
    assert_eq!(at, format!("${}", "[0]".repeat(MAX_DEPTH)));
}

#[test]
fn nesting_up_to_the_limit_is_accepted() {
    // The grid, its rows array and the row are three levels.
    let levels = MAX_DEPTH - 3;
    let value = format!("{}{}", "[".repeat(levels), "]".repeat(levels));
    let json = format!(r#"{{"_kind":"grid","cols":[{{"name":"v"}}],"rows":[{{"v":{value}}}]}}"#);
    assert!(hayson::decode_grid(json.as_bytes()).is_ok());
    let value = format!("{}{}", "[".repeat(levels + 1), "]".repeat(levels + 1));
    let deeper = format!(r#"{{"_kind":"grid","cols":[{{"name":"v"}}],"rows":[{{"v":{value}}}]}}"#);
    assert!(matches!(
        hayson::decode_grid(deeper.as_bytes()),
        Err(HaysonError::TooDeep { .. })
    ));
}

fn any_number() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(-0.0),
        any::<f64>(),
        (-1_000_000i64..1_000_000).prop_map(|n| n as f64),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_number_round_trips(value in any_number(), unit in prop::option::of(prop::sample::select(vec!["kW", "°F", "%", "m³/h"]))) {
        let number = match unit {
            Some(unit) => Value::make_number_unit(value, libhaystack::units::get_unit(unit).unwrap()),
            None => Value::make_number(value),
        };
        let json = hayson::to_value(&number);
        let Value::Number(back) = hayson::from_value(&json).unwrap() else {
            panic!("{json} is not read back as a number")
        };
        prop_assert!(back.value.to_bits() == value.to_bits() || (back.value.is_nan() && value.is_nan()), "{} written as {}", value, json);
        prop_assert_eq!(back.unit.map(|unit| unit.symbol()), unit);
    }

    #[test]
    fn arbitrary_bytes_are_refused_without_panicking(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = hayson::decode_grid(&bytes);
    }

    #[test]
    fn mangled_grids_are_refused_without_panicking(cut in 0..SPECIALS.len(), byte in any::<u8>()) {
        let mut bytes = SPECIALS.as_bytes().to_vec();
        bytes[cut] = byte;
        let _ = hayson::decode_grid(&bytes);
        let _ = hayson::decode_grid(&SPECIALS.as_bytes()[..cut]);
    }
}

/// What the module's tree walk makes of `bytes`: serde_json's tree first,
/// then [`hayson::grid_from_value`]. `decode_grid` reads most documents
/// without the tree; it must answer the same for all of them.
fn through_the_tree(bytes: &[u8]) -> Result<Grid, HaysonError> {
    serde_json::from_slice::<serde_json::Value>(bytes)
        .map_err(|error| HaysonError::NotJson {
            reason: error.to_string(),
        })
        .and_then(|json| hayson::grid_from_value(&json))
}

/// Asserts that `decode_grid` and the tree walk agree on `json`, value for
/// value or error for error, and that the grid encodes as the tree does.
fn assert_read_as_the_tree_reads(json: &str) {
    match (
        hayson::decode_grid(json.as_bytes()),
        through_the_tree(json.as_bytes()),
    ) {
        (Ok(streamed), Ok(tree)) => {
            assert_same_grid(&streamed, &tree);
            // Refs compare by id alone; their text carries the dis too.
            assert_eq!(
                hayson::encode_grid(&streamed),
                hayson::encode_grid(&tree),
                "{json}"
            );
            assert_written_as_the_tree_writes(&streamed);
        }
        (Err(streamed), Err(tree)) => assert_eq!(streamed, tree, "{json}"),
        (streamed, tree) => panic!("{json}:\n read as {streamed:?}\n the tree reads {tree:?}"),
    }
}

/// Asserts that `encode_grid` writes the bytes serde_json prints for
/// `grid_to_value`.
fn assert_written_as_the_tree_writes(grid: &Grid) {
    let written = String::from_utf8(hayson::encode_grid(grid)).unwrap();
    assert_eq!(written, hayson::grid_to_value(grid).to_string());
    let mut appended = b"x".to_vec();
    hayson::encode_grid_into(grid, &mut appended);
    assert_eq!(&appended[1..], written.as_bytes());
}

/// A grid with one row whose `v` is `value`.
fn one_value(value: &str) -> String {
    format!(r#"{{"_kind":"grid","meta":{{}},"cols":[{{"name":"v"}}],"rows":[{{"v":{value}}}]}}"#)
}

#[test]
fn the_bundled_benchmark_grid_is_read_and_written_as_the_tree_does() {
    let bytes = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/data/grid-5000.json"
    ))
    .unwrap();
    let grid = hayson::decode_grid(&bytes).unwrap();
    assert_eq!(grid.rows.len(), 5_000);
    assert_same_grid(&grid, &through_the_tree(&bytes).unwrap());
    assert_written_as_the_tree_writes(&grid);
    // The reference's own bytes come back unchanged but for the version.
    let written = hayson::encode_grid(&grid);
    let text = String::from_utf8(written).unwrap();
    assert!(text.starts_with(r#"{"_kind":"grid","meta":{"ver":"3.0"},"cols":[{"name":"id"},"#));
}

#[test]
fn the_reference_samples_are_read_as_the_tree_reads_them() {
    for json in [REFERENCE_SAMPLE, REFERENCE_EMPTY, SPECIALS] {
        assert_read_as_the_tree_reads(json);
    }
}

#[test]
fn special_numbers_units_and_plain_numbers_are_read_as_the_tree_reads_them() {
    for value in [
        r#"{"_kind":"number","val":"NaN"}"#,
        r#"{"_kind":"number","val":"INF","unit":"kW"}"#,
        r#"{"_kind":"number","val":"-INF","unit":"°F"}"#,
        r#"{"_kind":"number","val":"-INF","unit":null}"#,
        r#"{"_kind":"number","val":1,"unit":"fahrenheit"}"#,
        r#"{"_kind":"number","val":1,"unit":"\u00b0F"}"#,
        r#"{"_kind":"number","unit":"kW","val":2.5}"#,
        r#"{"_kind":"number","val":1,"val":2}"#,
        r#"{"_kind":"number","val":"nan"}"#,
        r#"{"_kind":"number","val":null}"#,
        r#"{"_kind":"number","val":1,"unit":7}"#,
        r#"{"_kind":"number","val":1,"unit":"nope"}"#,
        r#"{"_kind":"number","val":1,"extra":[[{"a":1}]]}"#,
        "-0",
        "-0.0",
        "1e300",
        "-1.5e-300",
        "18446744073709551615",
        "-9223372036854775808",
        "9007199254740993",
        "0.1",
    ] {
        assert_read_as_the_tree_reads(&one_value(value));
    }
}

#[test]
fn refs_markers_and_strings_are_read_as_the_tree_reads_them() {
    for value in [
        r#"{"_kind":"ref","val":"p:1","dis":"Point 1"}"#,
        r#"{"_kind":"ref","dis":"first","val":"p:1"}"#,
        r#"{"_kind":"ref","val":"a\"b\\c\u00e9\ud83d\ude00"}"#,
        r#"{"_kind":"ref","val":"p:1","dis":5}"#,
        r#"{"_kind":"ref","val":"p:1","dis":null}"#,
        r#"{"_kind":"ref","val":"p:1","dis":{"x":1}}"#,
        r#"{"_kind":"ref","val":7}"#,
        r#"{"_kind":"ref","val":"a","val":"b"}"#,
        r#"{"_kind":"ref","val":"a","junk":[1,[2,{"b":3}]]}"#,
        r#"{"_kind":"marker"}"#,
        r#"{"_kind":"marker","extra":1,"more":{"_kind":"bogus"}}"#,
        r#"{"_kind":"na"}"#,
        r#"{"_kind":"remove","x":[]}"#,
        r#""plain \"text\" \n with escapes \u0001""#,
        r#""""#,
        "true",
        "null",
        "{}",
        "[]",
    ] {
        assert_read_as_the_tree_reads(&one_value(value));
    }
}

#[test]
fn a_kind_that_is_not_an_objects_first_key_is_read_as_the_tree_reads_it() {
    for value in [
        // The kind comes last, or twice: the tree sees the last one.
        r#"{"val":2,"_kind":"number"}"#,
        r#"{"a":1,"_kind":"marker"}"#,
        r#"{"_kind":"number","val":1,"_kind":"marker"}"#,
        r#"{"_kind":"marker","_kind":"ref","val":"x"}"#,
        r#"{"_kind":"dict","a":1,"_kind":"dict"}"#,
        r#"{"_kind":"dict","a":{"_kind":"marker"},"b":[1]}"#,
        r#"{"_kind":7}"#,
        r#"{"_kind":null,"a":1}"#,
        r#"{"_kind":"bogus"}"#,
    ] {
        assert_read_as_the_tree_reads(&one_value(value));
    }
    // A grid whose `_kind` is not its first key, or comes twice.
    for json in [
        r#"{"rows":[{"v":1}],"cols":[{"name":"v"}],"_kind":"grid"}"#,
        r#"{"_kind":"grid","cols":[],"rows":[],"_kind":"dict"}"#,
        r#"{"_kind":"dict","cols":[],"rows":[],"_kind":"grid"}"#,
        r#"{"_kind":"grid","meta":{},"meta":{"a":1},"cols":[],"rows":[]}"#,
        r#"{"_kind":"grid","cols":[{"name":"v"}],"cols":[],"rows":[]}"#,
        r#"{"_kind":"grid","cols":[],"rows":[{"a":1}],"rows":[]}"#,
    ] {
        assert_read_as_the_tree_reads(json);
    }
}

#[test]
fn rows_and_metas_drop_their_kind_keys_as_the_tree_does() {
    for json in [
        r#"{"_kind":"grid","meta":{"_kind":"marker","a":1},"cols":[{"name":"v","meta":{"_kind":"number","val":1}}],"rows":[{"_kind":"number","val":3},{"v":1,"_kind":"ref"}]}"#,
        r#"{"_kind":"grid","meta":null,"cols":[{"name":"v","meta":null}],"rows":[]}"#,
        r#"{"_kind":"grid","meta":{"ver":1},"cols":[],"rows":[]}"#,
        r#"{"_kind":"grid","meta":{"ver":"2.0","ver":"3.0"},"cols":[],"rows":[]}"#,
        r#"{"_kind":"grid","meta":{"ver":{"_kind":"marker"}},"cols":[],"rows":[]}"#,
        r#"{"_kind":"grid","meta":[],"cols":[],"rows":[]}"#,
        r#"{"_kind":"grid","cols":[{"name":"a","name":"b","extra":[1]}],"rows":[{"a":1,"a":2}]}"#,
        r#"{"_kind":"grid","cols":[{"name":"a","meta":{"dis":"A"},"meta":null}],"rows":[]}"#,
        r#"{"_kind":"grid","cols":[{"name":7}],"rows":[]}"#,
        r#"{"_kind":"grid","cols":[{"name":"a","meta":5}],"rows":[]}"#,
        r#"{"_kind":"grid","cols":[],"rows":[5]}"#,
        r#"{"_kind":"grid","cols":[],"rows":{}}"#,
        r#"{"_kind":"grid","cols":[]}"#,
        r#"{"_kind":"grid","cols":[],"rows":[],"other":{"deep":[[[1]]]}}"#,
    ] {
        assert_read_as_the_tree_reads(json);
    }
}

#[test]
fn missing_columns_and_missing_tags_are_kept_as_they_come() {
    // Rows may lack a column's tag or carry tags no column names.
    let json = r#"{"_kind":"grid","meta":{},"cols":[{"name":"a"},{"name":"b"}],"rows":[{"a":1},{"b":"x","c":{"_kind":"marker"}},{}]}"#;
    assert_read_as_the_tree_reads(json);
    let grid = decode(json);
    assert_eq!(grid.rows[0].len(), 1);
    assert_eq!(grid.rows[1].get("c"), Some(&Value::make_marker()));
    assert!(grid.rows[2].is_empty());
}

#[test]
fn dates_times_and_zoned_datetimes_are_read_and_written_as_the_tree_does() {
    for value in [
        r#"{"_kind":"date","val":"2026-11-25"}"#,
        r#"{"_kind":"time","val":"04:53:06.641710"}"#,
        r#"{"_kind":"dateTime","val":"2026-11-25T04:53:06-05:00","tz":"New_York"}"#,
        r#"{"_kind":"dateTime","val":"2026-11-25T10:53:06+01:00","tz":"Berlin"}"#,
        r#"{"_kind":"dateTime","val":"2026-11-25T04:53:06.641710+00:00","tz":"UTC"}"#,
        r#"{"_kind":"dateTime","val":"2026-11-25T04:53:06.641710123Z"}"#,
        r#"{"_kind":"dateTime","tz":"New_York","val":"2026-11-25T04:53:06-05:00"}"#,
        r#"{"_kind":"dateTime","val":"2026-11-25T04:53:06+01:00","tz":"Nowhere"}"#,
        r#"{"_kind":"date","val":"2026-13-01"}"#,
        r#"{"_kind":"date","val":"2026-11-25","junk":[[1]]}"#,
        r#"{"_kind":"coord","lat":37.55,"lng":-77.45}"#,
        r#"{"_kind":"xstr","type":"Color","val":"red"}"#,
        r#"{"_kind":"uri","val":"http://example.com/a"}"#,
        r#"{"_kind":"symbol","val":"elec-meter"}"#,
        r#"{"_kind":"grid","meta":{"ver":"3.0"},"cols":[{"name":"n"}],"rows":[{"n":{"_kind":"number","val":"NaN"}}]}"#,
        r#"{"_kind":"grid","cols":"no"}"#,
    ] {
        assert_read_as_the_tree_reads(&one_value(value));
    }
}

#[test]
fn nested_dicts_and_lists_are_read_as_the_tree_reads_them() {
    for value in [
        r#"{"a":{"b":{"c":[1,"two",{"_kind":"marker"},[null,true,false]]}}}"#,
        r#"[{"_kind":"ref","val":"x","dis":"X"},{"_kind":"number","val":"INF","unit":"kW"},[[]]]"#,
        r#"{"a":1,"a":{"_kind":"marker"}}"#,
        r#"{"a":{"_kind":"number","val":"bad"}}"#,
    ] {
        assert_read_as_the_tree_reads(&one_value(value));
    }
}

#[test]
fn serde_json_private_keys_are_read_as_serde_json_reads_them() {
    // serde_json reads an object led by its raw-value token as the JSON
    // text inside; the reader leaves such objects to serde_json's tree.
    for value in [
        r#"{"$serde_json::private::RawValue":"[1,2]"}"#,
        r#"{"$serde_json::private::RawValue":"not json"}"#,
        r#"{"_kind":"marker","x":{"$serde_json::private::RawValue":"nope"}}"#,
        r#"{"_kind":"date","val":"2026-11-25","x":{"$serde_json::private::RawValue":"[1]"}}"#,
        r#"{"a":1,"$serde_json::private::RawValue":"[1]"}"#,
    ] {
        assert_read_as_the_tree_reads(&one_value(value));
    }
    assert_read_as_the_tree_reads(
        r#"{"$serde_json::private::RawValue":"{\"_kind\":\"grid\",\"cols\":[],\"rows\":[]}"}"#,
    );
}

#[test]
fn bad_json_anywhere_is_refused_as_not_json() {
    for json in [
        r#"{"_kind":"grid","cols":[],"rows":[]} x"#,
        r#"{"_kind":"grid","cols":[],"rows":[],}"#,
        r#"{"_kind":"grid","cols":[],"rows":[{"v":{"_kind":"number","val":"NaN"}]}"#,
        r#"{"_kind":"grid","cols":[],"rows":[{"v":1e400}]}"#,
    ] {
        assert!(matches!(refused(json), HaysonError::NotJson { .. }), "{json}");
        assert_read_as_the_tree_reads(json);
    }
}

#[test]
fn nesting_hidden_in_fields_nobody_reads_is_still_refused() {
    // Under serde_json's own limit but past the module's, inside a marker's
    // ignored field, an unknown grid field and a date's ignored field.
    let deep = |levels: usize| format!("{}{}", "[".repeat(levels), "]".repeat(levels));
    for value in [
        format!(r#"{{"_kind":"marker","junk":{}}}"#, deep(MAX_DEPTH)),
        format!(
            r#"{{"_kind":"date","val":"2026-11-25","junk":{}}}"#,
            deep(MAX_DEPTH)
        ),
        format!(r#"{{"_kind":"ref","val":"a","junk":{}}}"#, deep(MAX_DEPTH)),
    ] {
        assert!(
            matches!(
                refused(&one_value(&value)),
                HaysonError::TooDeep { max: MAX_DEPTH, .. }
            ),
            "{value}"
        );
    }
    let json = format!(
        r#"{{"_kind":"grid","cols":[],"rows":[],"other":{}}}"#,
        deep(MAX_DEPTH)
    );
    assert!(matches!(refused(&json), HaysonError::TooDeep { .. }));
}

#[test]
fn a_buffer_can_be_reused_for_many_grids() {
    let first = decode(SPECIALS);
    let second = decode(REFERENCE_SAMPLE);
    let mut out = Vec::new();
    hayson::encode_grid_into(&first, &mut out);
    assert_eq!(out, hayson::encode_grid(&first));
    out.clear();
    hayson::encode_grid_into(&second, &mut out);
    assert_eq!(out, hayson::encode_grid(&second));
}

/// Keys the generated documents use: the ones the format gives meaning to,
/// serde_json's raw-value token, and plain ones.
const KEYS: &[&str] = &[
    "_kind",
    "val",
    "unit",
    "dis",
    "name",
    "meta",
    "cols",
    "rows",
    "ver",
    "lat",
    "lng",
    "a",
    "b",
    "$serde_json::private::RawValue",
];

/// Strings the generated documents use: every kind, special numbers, units.
const TEXTS: &[&str] = &[
    "marker",
    "na",
    "remove",
    "number",
    "ref",
    "dict",
    "grid",
    "date",
    "time",
    "dateTime",
    "coord",
    "xstr",
    "uri",
    "symbol",
    "bogus",
    "NaN",
    "INF",
    "-INF",
    "kW",
    "°F",
    "2026-11-25",
    "x",
    "[1]",
];

/// Any JSON made of the format's own keys and words, objects in any key
/// order: documents that are grids, nearly grids, or nothing of the sort.
fn any_json() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value as Json;
    let leaf = prop_oneof![
        Just(Json::Null),
        any::<bool>().prop_map(Json::Bool),
        any::<i64>().prop_map(Json::from),
        any::<f64>()
            .prop_filter("finite", |n| n.is_finite())
            .prop_map(Json::from),
        prop::sample::select(TEXTS).prop_map(Json::from),
    ];
    leaf.prop_recursive(6, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Json::Array),
            prop::collection::vec((prop::sample::select(KEYS), inner), 0..6).prop_map(|entries| {
                Json::Object(
                    entries
                        .into_iter()
                        .map(|(key, value)| (key.to_owned(), value))
                        .collect(),
                )
            }),
        ]
    })
}

/// A grid document around generated rows, with a generated meta and columns.
fn any_grid_json() -> impl Strategy<Value = serde_json::Value> {
    (
        any_json(),
        prop::collection::vec(any_json(), 0..4),
        prop::collection::vec(any_json(), 0..4),
    )
        .prop_map(|(meta, cols, rows)| {
            serde_json::json!({"_kind": "grid", "meta": meta, "cols": cols, "rows": rows})
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_document_is_read_as_the_tree_reads_it(json in prop_oneof![any_json(), any_grid_json()]) {
        assert_read_as_the_tree_reads(&json.to_string());
    }

    #[test]
    fn any_row_value_is_read_as_the_tree_reads_it(value in any_json()) {
        assert_read_as_the_tree_reads(&one_value(&value.to_string()));
    }
}

/// Any libhaystack value this module writes itself or hands to libhaystack.
fn any_value() -> impl Strategy<Value = Value> {
    let units = prop::option::of(prop::sample::select(vec!["kW", "°F", "%", "m³/h"]));
    let leaf = prop_oneof![
        Just(Value::Null),
        Just(Value::make_marker()),
        Just(Value::make_na()),
        Just(Value::make_remove()),
        any::<bool>().prop_map(Value::make_bool),
        (any_number(), units).prop_map(|(value, unit)| match unit {
            Some(unit) => {
                Value::make_number_unit(value, libhaystack::units::get_unit(unit).unwrap())
            }
            None => Value::make_number(value),
        }),
        any::<String>().prop_map(|text| Value::make_str(&text)),
        (any::<String>(), prop::option::of(any::<String>()))
            .prop_map(|(val, dis)| Value::Ref(libhaystack::val::Ref::make(&val, dis.as_deref()))),
        (0i64..4_000_000_000).prop_map(|seconds| {
            let json = serde_json::json!({"_kind": "date", "val": format!(
                "{}-{:02}-{:02}", 1970 + seconds / 31_536_000 % 100, seconds % 12 + 1, seconds % 28 + 1
            )});
            hayson::from_value(&json).unwrap()
        }),
        (-90.0f64..90.0, -180.0f64..180.0).prop_map(|(lat, lng)| Value::make_coord_from(lat, lng)),
    ];
    leaf.prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::make_list),
            prop::collection::vec((any::<String>(), inner), 0..4)
                .prop_map(|entries| { Value::make_dict(entries.into_iter().collect()) }),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_grid_is_written_as_the_tree_writes_it(
        meta in prop::collection::vec((any::<String>(), any_value()), 0..3),
        rows in prop::collection::vec(prop::collection::vec((any::<String>(), any_value()), 0..4), 0..4),
        ver in prop::sample::select(vec!["", "3.0", "2.0"]),
    ) {
        let mut grid = Grid::make_empty();
        grid.ver = ver.to_owned();
        grid.meta = (!meta.is_empty()).then(|| meta.into_iter().collect());
        grid.rows = rows.into_iter().map(|row| row.into_iter().collect()).collect();
        let mut names: Vec<String> = grid.rows.iter().flat_map(|row| row.keys().cloned()).collect();
        names.sort();
        names.dedup();
        grid.columns = names
            .into_iter()
            .map(|name| libhaystack::val::Column { name, meta: None })
            .collect();
        assert_written_as_the_tree_writes(&grid);
        // And what is written is read back as the tree reads it.
        let written = String::from_utf8(hayson::encode_grid(&grid)).unwrap();
        assert_read_as_the_tree_reads(&written);
    }
}
