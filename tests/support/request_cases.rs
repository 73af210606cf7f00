//! The request cases of tests/vectors/requests, built with this crate's
//! builders: the same arguments scripts/gen_request_vectors.py passes to the
//! reference's client. Shared by tests/requests.rs and examples/request_grids.rs.

use haystack_wire::connection::requests::{self, Request};
use haystack_wire::hayson;
use libhaystack::units::get_unit;
use libhaystack::val::{Column, Dict, Grid, Number, Ref, Value};

fn number(value: f64, unit: &str) -> Number {
    Number::make_with_unit(value, get_unit(unit).expect("a known unit"))
}

fn ts(minute: u32) -> Value {
    let json = serde_json::json!({
        "_kind": "dateTime",
        "val": format!("2024-01-01T00:{minute:02}:00-05:00"),
        "tz": "New_York",
    });
    hayson::from_value(&json).expect("a dateTime")
}

fn dict(entries: Vec<(&str, Value)>) -> Dict {
    let mut dict = Dict::new();
    for (name, value) in entries {
        dict.insert(name.to_owned(), value);
    }
    dict
}

/// Every case: its name (the vector's file name) and our request.
pub fn cases() -> Vec<(&'static str, Request)> {
    let a = Ref::make("a", None);
    let b = Ref::make("b", Some("Boiler B"));
    let p1 = Ref::make("p1", None);
    let items = vec![
        dict(vec![("ts", ts(0)), ("val", Value::Number(number(1.5, "kW")))]),
        dict(vec![("ts", ts(15)), ("val", Value::make_number(f64::NAN))]),
    ];
    let column = |name: &str, meta: Option<Dict>| Column {
        name: name.to_owned(),
        meta,
    };
    let batch = Grid {
        meta: None,
        columns: vec![
            column("ts", None),
            column("v0", Some(dict(vec![("id", Value::Ref(a.clone()))]))),
            column("v1", Some(dict(vec![("id", Value::Ref(b.clone()))]))),
        ],
        rows: vec![
            dict(vec![
                ("ts", ts(0)),
                ("v0", Value::make_number(1.0)),
                ("v1", Value::make_number(2.0)),
            ]),
            dict(vec![("ts", ts(15)), ("v0", Value::make_number(3.0))]),
        ],
        ver: "3.0".to_owned(),
    };
    let no_args: [(&str, Value); 0] = [];
    vec![
        ("about", requests::about()),
        ("ops", requests::ops()),
        ("formats", requests::formats()),
        ("read", requests::read("site and equip", None)),
        ("read_limit", requests::read("point", Some(10))),
        ("read_by_ids", requests::read_by_ids(&[a.clone(), b.clone()])),
        ("nav_root", requests::nav(None)),
        ("nav", requests::nav(Some("site-1"))),
        ("his_read", requests::his_read(&p1, "yesterday")),
        (
            "his_read_batch",
            requests::his_read_batch(&[a.clone(), b.clone()], "2024-01-01,2024-01-02"),
        ),
        ("his_write", requests::his_write(&p1, &items)),
        ("his_write_batch", requests::his_write_batch(&batch)),
        ("point_write_array", requests::point_write_array(&p1)),
        (
            "point_write",
            requests::point_write(
                &p1,
                8,
                &Value::Number(number(72.0, "°F")),
                "operator",
                Some(&number(30.0, "min")),
            ),
        ),
        (
            "point_write_release",
            requests::point_write(&p1, 16, &Value::Null, "", None),
        ),
        (
            "watch_sub",
            requests::watch_sub(
                &[a.clone(), b.clone()],
                "boilers",
                Some(std::time::Duration::from_secs(60)),
                Some("point"),
            ),
        ),
        (
            "watch_sub_plain",
            requests::watch_sub(std::slice::from_ref(&a), "one", None, None),
        ),
        (
            "watch_unsub",
            requests::watch_unsub("w-1", std::slice::from_ref(&a)),
        ),
        ("watch_close", requests::watch_close("w-1")),
        ("watch_poll", requests::watch_poll("w-1", false)),
        ("watch_poll_refresh", requests::watch_poll("w-1", true)),
        (
            "invoke_action",
            requests::invoke_action(
                &p1,
                "setMode",
                [
                    ("mode", Value::make_str("auto")),
                    ("delay", Value::Number(number(5.0, "min"))),
                ],
            ),
        ),
        (
            "invoke_action_no_args",
            requests::invoke_action(&p1, "reset", no_args),
        ),
    ]
}
