//! The request builders against the reference's own request grids
//! (tests/vectors/requests, made by scripts/gen_request_vectors.py with
//! haystack-py's GridBuilder as its WebSocketClient builds each request),
//! and the client's typed helpers against a server.

#[path = "support/request_cases.rs"]
mod request_cases;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use haystack_wire::connection::{Client, ClientConfig, ClientError, Fault, Router, Server, ServerConfig};
use haystack_wire::{hayson, Op};
use libhaystack::val::{Grid, Number, Ref, Value};
use serde_json::Value as Json;

const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/requests");

fn vector(name: &str) -> Vec<u8> {
    std::fs::read(Path::new(VECTORS).join(format!("{name}.json"))).expect("the vector file")
}

fn index() -> BTreeMap<String, String> {
    serde_json::from_slice(&vector("index")).expect("index.json")
}

fn keys(json: &Json) -> Vec<String> {
    json.as_object()
        .map(|object| object.keys().cloned().collect())
        .unwrap_or_default()
}

fn column_names(grid: &Json) -> Vec<String> {
    grid["cols"]
        .as_array()
        .expect("cols")
        .iter()
        .map(|col| col["name"].as_str().expect("a name").to_owned())
        .collect()
}

#[test]
fn every_vector_of_the_reference_has_a_case_here_and_every_case_a_vector() {
    let ours: Vec<String> = request_cases::cases()
        .into_iter()
        .map(|(name, _)| name.to_owned())
        .collect();
    let mut ours_sorted = ours.clone();
    ours_sorted.sort();
    let theirs: Vec<String> = index().into_keys().collect();
    assert_eq!(ours_sorted, theirs);
}

#[test]
fn each_builder_goes_under_the_op_the_reference_sends_it_under() {
    let index = index();
    for (name, request) in request_cases::cases() {
        assert_eq!(request.op().name(), index[name], "case {name}");
    }
}

#[test]
fn each_builder_makes_the_grid_the_reference_makes() {
    for (name, request) in request_cases::cases() {
        let theirs = vector(name);
        let their_grid = hayson::decode_grid(&theirs).expect("the reference's grid");
        let our_grid = hayson::decode_grid(&request.encode()).expect("our grid");
        // Compared in the canonical encoding, where NaN equals NaN.
        assert_eq!(
            String::from_utf8(hayson::encode_grid(&our_grid)).unwrap(),
            String::from_utf8(hayson::encode_grid(&their_grid)).unwrap(),
            "case {name}"
        );
        assert_eq!(
            request.to_grid().map(|grid| hayson::encode_grid(&grid)),
            Ok(hayson::encode_grid(&their_grid)),
            "case {name}"
        );
    }
}

#[test]
fn each_builder_orders_columns_meta_and_row_keys_as_the_reference_does() {
    for (name, request) in request_cases::cases() {
        let theirs: Json = serde_json::from_slice(&vector(name)).expect("JSON");
        let ours = request.json();
        assert_eq!(keys(ours), keys(&theirs), "case {name}: grid keys");
        assert_eq!(
            keys(&ours["meta"]),
            keys(&theirs["meta"]),
            "case {name}: meta keys"
        );
        assert_eq!(column_names(ours), column_names(&theirs), "case {name}: columns");
        let rows = |grid: &Json| -> Vec<Vec<String>> {
            grid["rows"].as_array().expect("rows").iter().map(keys).collect()
        };
        assert_eq!(rows(ours), rows(&theirs), "case {name}: row keys");
    }
}

#[test]
fn invoke_action_makes_one_column_of_an_argument_given_twice_with_the_last_value() {
    let request = haystack_wire::connection::requests::invoke_action(
        &Ref::make("p1", None),
        "set",
        [
            ("a", Value::make_str("first")),
            ("b", Value::make_str("b")),
            ("a", Value::make_str("last")),
        ],
    );
    assert_eq!(column_names(request.json()), ["a", "b"]);
    assert_eq!(request.json()["rows"][0]["a"], "last");
}

/// A server whose handlers record each request (op and grid) and answer
/// with a grid naming the op; `nav` fails.
async fn recording_server() -> (String, Arc<Mutex<Vec<(Op, Json)>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut router = Router::new();
    for op in Op::ALL {
        let seen = Arc::clone(&seen);
        router = router.route(op, move |request| {
            let seen = Arc::clone(&seen);
            async move {
                let grid: Json =
                    serde_json::from_slice(&request.payload).map_err(|_| Fault::new("not JSON"))?;
                seen.lock().unwrap().push((request.op, grid));
                if request.op == Op::Nav {
                    return Err(Fault::new("no tree here"));
                }
                let answer = serde_json::json!({
                    "_kind": "grid",
                    "meta": {"ver": "3.0", "answered": request.op.name()},
                    "cols": [{"name": "v"}],
                    "rows": [{"v": {"_kind": "number", "val": "NaN"}}]
                });
                Ok(answer.to_string().into_bytes())
            }
        });
    }
    let server = Server::bind("127.0.0.1:0", ServerConfig::new(), router)
        .await
        .unwrap();
    let url = format!("ws://{}", server.local_addr().unwrap());
    tokio::spawn(server.run());
    (url, seen)
}

fn answered(grid: &Grid) -> Option<String> {
    match grid.meta.as_ref()?.get("answered")? {
        Value::Str(op) => Some(op.value().to_owned()),
        _ => None,
    }
}

#[tokio::test]
async fn the_typed_helpers_send_the_builders_grids_and_read_the_answers_as_grids() {
    let (url, seen) = recording_server().await;
    let config = ClientConfig::new().request_timeout(Some(std::time::Duration::from_secs(10)));
    let client = Client::connect(&url, config).await.unwrap();
    let p1 = Ref::make("p1", None);

    let grid = client.read("site", Some(5)).await.unwrap();
    assert_eq!(answered(&grid).as_deref(), Some("read"));
    let Some(Value::Number(v)) = grid.rows[0].get("v") else {
        panic!("a number row")
    };
    assert!(v.value.is_nan());
    client.about().await.unwrap();
    client
        .point_write(&p1, 8, &Value::make_number(72.0), "me", Some(&Number::make(30.0)))
        .await
        .unwrap();
    client.watch_close("w-9").await.unwrap();
    client
        .invoke_action(&p1, "reset", [("force", Value::make_marker())])
        .await
        .unwrap();

    let seen = seen.lock().unwrap().clone();
    let expected = [
        (
            Op::Read,
            haystack_wire::connection::requests::read("site", Some(5)),
        ),
        (Op::About, haystack_wire::connection::requests::about()),
        (
            Op::PointWrite,
            haystack_wire::connection::requests::point_write(
                &p1,
                8,
                &Value::make_number(72.0),
                "me",
                Some(&Number::make(30.0)),
            ),
        ),
        (
            Op::WatchUnsub,
            haystack_wire::connection::requests::watch_close("w-9"),
        ),
        (
            Op::InvokeAction,
            haystack_wire::connection::requests::invoke_action(
                &p1,
                "reset",
                [("force", Value::make_marker())],
            ),
        ),
    ];
    assert_eq!(seen.len(), expected.len());
    for ((op, grid), (want_op, request)) in seen.iter().zip(expected.iter()) {
        assert_eq!(op, want_op);
        assert_eq!(grid, request.json());
    }
}

#[tokio::test]
async fn a_typed_helper_surfaces_an_error_grid_as_a_remote_error() {
    let (url, _) = recording_server().await;
    let client = Client::connect(&url, ClientConfig::new()).await.unwrap();
    match client.nav(None).await {
        Err(ClientError::Remote { op, dis, .. }) => {
            assert_eq!(op, Op::Nav);
            assert_eq!(dis, "no tree here");
        }
        other => panic!("expected a remote error, got {other:?}"),
    }
}
