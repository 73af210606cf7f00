//! The client's JSON side: JSON-mode requests, batches and JSON pushes,
//! against a bare WebSocket server that answers JSON envelopes and batches
//! as the reference's server does (ids echoed, the grid first, a batch
//! answered by one array in request order) and pushes watch updates in
//! JSON form.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use haystack_wire::connection::{error_grid, Client, ClientConfig, ClientError, Session};
use haystack_wire::protocol::messages::{batch, request, response, watch_push, TYPE_FIELD};
use haystack_wire::protocol::{defaults, handshake};
use haystack_wire::{Compression, Encoder, Frame, Op};
use serde_json::{json, Map, Value};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::handshake::server::{
    ErrorResponse, Request as HttpRequest, Response as HttpResponse,
};
use tokio_tungstenite::tungstenite::http::header::SEC_WEBSOCKET_PROTOCOL;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;

/// Every test is over well within this.
const BOUND: Duration = Duration::from_secs(20);

/// The watch id the server pushes under.
const WATCH_ID: &str = "w-1";

/// The ops the server treats specially: `about` fails, `hisRead` is
/// answered late (after the test's request timeout), `watchSub` is
/// answered and followed by a push. Any other op echoes its grid.
const FAILING: Op = Op::About;
const LATE: Op = Op::HisRead;
const SUBSCRIBE: Op = Op::WatchSub;

fn grid(n: u32) -> Value {
    json!({
        "_kind": "grid",
        "meta": {"ver": "3.0"},
        "cols": [{"name": "n"}],
        "rows": [{"n": {"_kind": "number", "val": n}}],
    })
}

fn bytes(value: &Value) -> Vec<u8> {
    value.to_string().into_bytes()
}

fn parse(payload: &[u8]) -> Value {
    serde_json::from_slice(payload).unwrap()
}

/// What the server received: each text message, and how many binary frames.
#[derive(Debug, Default)]
struct Seen {
    texts: Vec<String>,
    binary: usize,
}

type Record = Arc<Mutex<Seen>>;

/// Names the subprotocol in the upgrade response, as every Haystack server does.
#[allow(clippy::result_large_err)] // tungstenite's callback signature
fn name_subprotocol(_: &HttpRequest, mut response: HttpResponse) -> Result<HttpResponse, ErrorResponse> {
    response.headers_mut().insert(
        SEC_WEBSOCKET_PROTOCOL,
        HeaderValue::from_static(handshake::SUBPROTOCOL),
    );
    Ok(response)
}

/// The answer to one request envelope, as the reference writes it (the
/// grid, then the id and the channel), and the op it answers.
fn answer(envelope: &Map<String, Value>) -> (Value, Option<Op>) {
    let op = envelope
        .get(request::OP)
        .and_then(Value::as_str)
        .and_then(Op::from_name);
    let grid = match op {
        Some(FAILING) => parse(&error_grid("about is broken today")),
        _ => envelope.get(request::GRID).cloned().unwrap_or_else(|| grid(0)),
    };
    let mut answer = Map::new();
    answer.insert(response::GRID.to_owned(), grid);
    if let Some(id) = envelope.get(request::ID) {
        answer.insert(response::ID.to_owned(), id.clone());
    }
    if let Some(ch) = envelope.get(request::CH) {
        answer.insert(response::CH.to_owned(), ch.clone());
    }
    (Value::Object(answer), op)
}

/// A JSON object of these fields, in this order.
fn object(fields: &[(&str, Value)]) -> String {
    let object: Map<String, Value> = fields
        .iter()
        .map(|(key, value)| ((*key).to_owned(), value.clone()))
        .collect();
    Value::Object(object).to_string()
}

fn push() -> Message {
    Message::text(object(&[
        (TYPE_FIELD, Value::from(watch_push::KIND)),
        (watch_push::WATCH_ID, Value::from(WATCH_ID)),
        (watch_push::GRID, grid(99)),
    ]))
}

/// A bare server answering envelopes, batches and binary requests.
async fn server() -> (String, Record) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}", listener.local_addr().unwrap());
    let record = Record::default();
    let seen = Arc::clone(&record);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let seen = Arc::clone(&seen);
            tokio::spawn(async move {
                let Ok(socket) = tokio_tungstenite::accept_hdr_async(stream, name_subprotocol).await else {
                    return;
                };
                let (mut sink, mut stream) = socket.split();
                let (out, mut outgoing) = mpsc::unbounded_channel::<Message>();
                tokio::spawn(async move {
                    while let Some(message) = outgoing.recv().await {
                        if sink.send(message).await.is_err() {
                            return;
                        }
                    }
                });
                let mut encoder = Encoder::new();
                while let Some(Ok(message)) = stream.next().await {
                    match message {
                        Message::Text(text) => {
                            seen.lock().unwrap().texts.push(text.to_string());
                            serve_text(&text, &out);
                        }
                        Message::Binary(frame) => {
                            seen.lock().unwrap().binary += 1;
                            let request = Frame::decode(&frame).unwrap();
                            let answer = encoder
                                .response(request.request_id(), request.op(), request.payload, false)
                                .unwrap();
                            let _ = out.send(Message::binary(answer));
                        }
                        _ => {}
                    }
                }
            });
        }
    });
    (url, record)
}

fn serve_text(text: &str, out: &mpsc::UnboundedSender<Message>) {
    let Ok(message) = serde_json::from_str::<Value>(text) else {
        return;
    };
    let mut subscribed = false;
    let mut late = Vec::new();
    let mut answered = |envelope: &Map<String, Value>| {
        let (answer, op) = answer(envelope);
        subscribed |= op == Some(SUBSCRIBE);
        if op == Some(LATE) {
            late.push(answer);
            None
        } else {
            Some(answer)
        }
    };
    let reply = match &message {
        Value::Object(envelope) => answered(envelope),
        Value::Array(items) => Some(Value::Array(
            items
                .iter()
                .filter_map(Value::as_object)
                .filter_map(&mut answered)
                .collect(),
        )),
        _ => None,
    };
    if let Some(reply) = reply {
        let _ = out.send(Message::text(reply.to_string()));
    }
    if subscribed {
        let _ = out.send(push());
    }
    for answer in late {
        let out = out.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(800)).await;
            let _ = out.send(Message::text(answer.to_string()));
        });
    }
}

async fn json_client(url: &str) -> Client {
    Client::connect(url, ClientConfig::new().json_mode(true))
        .await
        .unwrap()
}

fn texts(record: &Record) -> Vec<Value> {
    record
        .lock()
        .unwrap()
        .texts
        .iter()
        .map(|text| serde_json::from_str(text).unwrap())
        .collect()
}

#[tokio::test]
async fn a_json_mode_request_goes_as_an_envelope_and_its_answer_comes_back() {
    tokio::time::timeout(BOUND, async {
        let (url, record) = server().await;
        // JSON mode offers nothing, even when compression and chunking are asked for.
        let config = ClientConfig::new()
            .compression([Compression::Zlib])
            .chunked(true)
            .json_mode(true);
        let client = Client::connect(&url, config).await.unwrap();
        assert_eq!(client.session(), Session::V1);
        let answer = client.request(Op::Read, &bytes(&grid(7))).await.unwrap();
        assert_eq!(parse(&answer), grid(7));
        let called: Value = client.call(Op::Read, &grid(8)).await.unwrap();
        assert_eq!(called, grid(8));

        let seen = texts(&record);
        assert_eq!(seen.len(), 2, "{seen:?}");
        assert_eq!(record.lock().unwrap().binary, 0);
        let first = seen[0].as_object().unwrap();
        assert_eq!(
            first.keys().collect::<Vec<_>>(),
            [request::ID, request::OP, request::GRID]
        );
        let id = first[request::ID].as_str().unwrap();
        let id: u16 = id.parse().unwrap();
        assert_ne!(id, defaults::PUSH_REQUEST_ID);
        assert_eq!(first[request::OP], Op::Read.name());
        assert_eq!(first[request::GRID], grid(7));
        assert_ne!(seen[1][request::ID], seen[0][request::ID]);
        assert_eq!(client.unmatched_responses(), 0);
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn an_error_grid_in_json_mode_fails_the_request_with_its_dis() {
    tokio::time::timeout(BOUND, async {
        let (url, _) = server().await;
        let client = json_client(&url).await;
        match client.request(FAILING, &bytes(&grid(1))).await {
            Err(ClientError::Remote { op, dis, payload, .. }) => {
                assert_eq!(op, FAILING);
                assert_eq!(dis, "about is broken today");
                assert_eq!(parse(&payload), parse(&error_grid("about is broken today")));
            }
            other => panic!("expected a remote error, got {other:?}"),
        }
        // The connection goes on.
        assert_eq!(
            parse(&client.request(Op::Read, &bytes(&grid(2))).await.unwrap()),
            grid(2)
        );
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_batch_is_answered_in_order_and_a_failing_item_fails_alone() {
    tokio::time::timeout(BOUND, async {
        let (url, record) = server().await;
        for json_mode in [false, true] {
            let client = Client::connect(&url, ClientConfig::new().json_mode(json_mode))
                .await
                .unwrap();
            let requests = [
                (Op::Read, bytes(&grid(1))),
                (FAILING, bytes(&grid(2))),
                (Op::Nav, bytes(&grid(3))),
                (Op::Read, Vec::new()),
            ];
            let answers = client.batch(requests).await.unwrap();
            assert_eq!(answers.len(), 4);
            assert_eq!(parse(answers[0].as_ref().unwrap()), grid(1));
            assert!(
                matches!(&answers[1], Err(ClientError::Remote { op: FAILING, dis, .. }) if dis == "about is broken today"),
                "{:?}",
                answers[1]
            );
            assert_eq!(parse(answers[2].as_ref().unwrap()), grid(3));
            // An empty payload sends no grid, which the server reads as an empty one.
            assert_eq!(parse(answers[3].as_ref().unwrap()), grid(0));

            let sent = texts(&record).pop().unwrap();
            let items = sent.as_array().unwrap();
            assert_eq!(items.len(), 4);
            let ops: Vec<&str> = items.iter().map(|item| item[request::OP].as_str().unwrap()).collect();
            assert_eq!(ops, [Op::Read.name(), FAILING.name(), Op::Nav.name(), Op::Read.name()]);
            assert!(items[3].get(request::GRID).is_none());

            let typed: Vec<Result<Value, ClientError>> = client
                .batch_call(&[(Op::Read, grid(4)), (Op::Read, grid(5))])
                .await
                .unwrap();
            let typed: Vec<Value> = typed.into_iter().map(Result::unwrap).collect();
            assert_eq!(typed, [grid(4), grid(5)]);
            assert_eq!(client.unmatched_responses(), 0);
        }
        assert_eq!(record.lock().unwrap().binary, 0);
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_batch_over_the_cap_is_refused_without_sending_and_an_empty_one_sends_nothing() {
    tokio::time::timeout(BOUND, async {
        let (url, record) = server().await;
        let client = json_client(&url).await;
        let over = (0..=batch::MAX_ITEMS).map(|_| (Op::Read, bytes(&grid(1))));
        match client.batch(over).await {
            Err(ClientError::BatchTooLarge { count, max }) => {
                assert_eq!((count, max), (batch::MAX_ITEMS + 1, batch::MAX_ITEMS));
            }
            other => panic!("expected the batch to be refused, got {other:?}"),
        }
        let none: Vec<(Op, Vec<u8>)> = Vec::new();
        assert!(client.batch(none).await.unwrap().is_empty());
        // A full batch goes.
        let full = (0..batch::MAX_ITEMS as u32).map(|n| (Op::Read, bytes(&grid(n))));
        let answers = client.batch(full).await.unwrap();
        assert_eq!(answers.len(), batch::MAX_ITEMS);
        for (n, answer) in answers.iter().enumerate() {
            assert_eq!(parse(answer.as_ref().unwrap()), grid(n as u32));
        }
        // The server saw the full batch alone.
        let seen = texts(&record);
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].as_array().map(Vec::len), Some(batch::MAX_ITEMS));
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_payload_that_is_not_json_is_refused_in_json_mode_without_sending() {
    tokio::time::timeout(BOUND, async {
        let (url, record) = server().await;
        let client = json_client(&url).await;
        assert!(matches!(
            client.request(Op::Read, b"n==1, not json").await,
            Err(ClientError::NotJson { op: Op::Read, .. })
        ));
        // In a batch, in either mode, one bad payload refuses the whole batch.
        for client in [
            client.clone(),
            Client::connect(&url, ClientConfig::new()).await.unwrap(),
        ] {
            let requests = [(Op::Read, bytes(&grid(1))), (Op::Nav, b"{\"cols\":".to_vec())];
            assert!(matches!(
                client.batch(requests).await,
                Err(ClientError::BatchNotJson {
                    index: 1,
                    op: Op::Nav,
                    ..
                })
            ));
        }
        // The next request is the first thing the server sees.
        assert_eq!(
            parse(&client.request(Op::Read, &bytes(&grid(3))).await.unwrap()),
            grid(3)
        );
        let seen = texts(&record);
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0][request::GRID], grid(3));
        // A binary-mode client sends any payload as it is.
        let binary = Client::connect(&url, ClientConfig::new()).await.unwrap();
        assert_eq!(binary.request(Op::Read, b"not json").await.unwrap(), b"not json");
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_json_push_is_delivered_with_its_watch_id() {
    tokio::time::timeout(BOUND, async {
        let (url, _) = server().await;
        let client = json_client(&url).await;
        let mut pushes = client.pushes().unwrap();
        let answer = client.request(SUBSCRIBE, &bytes(&grid(5))).await.unwrap();
        assert_eq!(parse(&answer), grid(5));
        let push = pushes.next().await.unwrap();
        assert_eq!(push.op, Op::WatchPoll);
        assert_eq!(push.watch_id.as_deref(), Some(WATCH_ID));
        assert_eq!(parse(&push.payload), grid(99));
        assert_eq!((client.unmatched_responses(), client.dropped_pushes()), (0, 0));
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_binary_mode_client_reads_a_batch_answer_and_a_json_push() {
    tokio::time::timeout(BOUND, async {
        let (url, record) = server().await;
        let client = Client::connect(&url, ClientConfig::new()).await.unwrap();
        let mut pushes = client.pushes().unwrap();
        // Binary requests still go as frames.
        assert_eq!(client.request(Op::Read, b"raw").await.unwrap(), b"raw");
        let answers = client
            .batch([(SUBSCRIBE, bytes(&grid(6))), (Op::Read, bytes(&grid(7)))])
            .await
            .unwrap();
        assert_eq!(parse(answers[0].as_ref().unwrap()), grid(6));
        assert_eq!(parse(answers[1].as_ref().unwrap()), grid(7));
        let push = pushes.next().await.unwrap();
        assert_eq!(push.watch_id.as_deref(), Some(WATCH_ID));
        assert_eq!(parse(&push.payload), grid(99));
        assert_eq!(record.lock().unwrap().binary, 1);
        assert_eq!(texts(&record).len(), 1);
        assert_eq!(client.unmatched_responses(), 0);
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_batch_item_unanswered_at_the_timeout_fails_alone_and_its_late_answer_matches_nothing() {
    tokio::time::timeout(BOUND, async {
        let (url, _) = server().await;
        let config = ClientConfig::new()
            .json_mode(true)
            .request_timeout(Some(Duration::from_millis(300)));
        let client = Client::connect(&url, config).await.unwrap();
        let answers = client
            .batch([(Op::Read, bytes(&grid(1))), (LATE, bytes(&grid(2)))])
            .await
            .unwrap();
        assert_eq!(parse(answers[0].as_ref().unwrap()), grid(1));
        assert!(
            matches!(answers[1], Err(ClientError::Timeout { op: LATE, .. })),
            "{:?}",
            answers[1]
        );
        // The late answer comes for an id nobody waits for any more.
        while client.unmatched_responses() == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(client.unmatched_responses(), 1);
        assert_eq!(
            parse(&client.request(Op::Read, &bytes(&grid(3))).await.unwrap()),
            grid(3)
        );
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn text_that_is_no_answer_is_counted_as_unmatched_and_the_connection_goes_on() {
    tokio::time::timeout(BOUND, async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("ws://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let mut socket = tokio_tungstenite::accept_hdr_async(stream, name_subprotocol)
                .await
                .unwrap();
            while let Some(Ok(message)) = socket.next().await {
                let Message::Text(text) = message else { continue };
                let envelope: Value = serde_json::from_str(&text).unwrap();
                let reply = object(&[
                    (response::GRID, envelope[request::GRID].clone()),
                    (response::ID, envelope[request::ID].clone()),
                ]);
                for junk in [
                    "not json".to_owned(),
                    "[1, \"two\", null]".to_owned(),
                    // An id that is a number, an id nobody waits for, a push without its watch id.
                    object(&[(response::GRID, grid(1)), (response::ID, Value::from(12345))]),
                    object(&[(response::GRID, grid(1)), (response::ID, Value::from("60000"))]),
                    object(&[
                        (TYPE_FIELD, Value::from(watch_push::KIND)),
                        (watch_push::GRID, grid(1)),
                    ]),
                ] {
                    socket.send(Message::text(junk)).await.unwrap();
                }
                socket.send(Message::text(reply)).await.unwrap();
            }
        });
        let client = json_client(&url).await;
        let answer = client.request(Op::Read, &bytes(&grid(4))).await.unwrap();
        assert_eq!(parse(&answer), grid(4));
        // One for the text that is not JSON, three for the array's items, three for the objects.
        assert_eq!(client.unmatched_responses(), 7);
        assert_eq!(client.dropped_pushes(), 0);
    })
    .await
    .unwrap();
}
