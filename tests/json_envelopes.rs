//! The server's JSON text messages, as the reference's clients send them:
//! request envelopes and batches, answered in their form, mixed with binary
//! frames on one connection; watch pushes in each connection's form; the
//! permission hook. A raw WebSocket client speaks to a server on 127.0.0.1,
//! and every wait is bounded.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use haystack_wire::connection::{
    error_dis, Fault, Monitor, Reply, Router, Server, ServerConfig, Subscribers,
};
use haystack_wire::protocol::messages::batch::MAX_ITEMS;
use haystack_wire::{Encoder, Flags, Frame, Op};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

/// How long any one wait in these tests may take before it counts as a failure.
const PATIENCE: Duration = Duration::from_secs(10);

/// A small Haystack 4 JSON grid, as the reference writes one.
const GRID: &str = r#"{"_kind":"grid","meta":{"ver":"3.0"},"cols":[{"name":"id"}],"rows":[{"id":{"_kind":"ref","val":"p1"}}]}"#;

async fn start(config: ServerConfig, router: Router) -> (String, Monitor) {
    let server = Server::bind("127.0.0.1:0", config, router).await.unwrap();
    let url = format!("ws://{}", server.local_addr().unwrap());
    let monitor = server.monitor();
    tokio::spawn(server.run());
    (url, monitor)
}

async fn socket(url: &str) -> Socket {
    tokio::time::timeout(PATIENCE, tokio_tungstenite::connect_async(url))
        .await
        .expect("no connection in time")
        .unwrap()
        .0
}

/// `read` echoes its request grid; `about` answers a fixed grid.
fn echo_router() -> Router {
    Router::new()
        .route(Op::Read, |request| async move { Ok(request.payload) })
        .route(Op::About, |_| async { Ok(GRID.as_bytes().to_vec()) })
}

/// The next message that is not a ping or a pong.
async fn next(socket: &mut Socket) -> Message {
    tokio::time::timeout(PATIENCE, async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(message)) => return message,
                other => panic!("the connection ended: {other:?}"),
            }
        }
    })
    .await
    .expect("nothing came in time")
}

/// The next text message.
async fn next_text(socket: &mut Socket) -> String {
    match next(socket).await {
        Message::Text(text) => text.to_string(),
        other => panic!("expected a text message, got {other:?}"),
    }
}

/// The next text message, as JSON.
async fn next_json(socket: &mut Socket) -> Value {
    serde_json::from_str(&next_text(socket).await).unwrap()
}

/// The next binary frame's bytes.
async fn next_frame(socket: &mut Socket) -> Vec<u8> {
    match next(socket).await {
        Message::Binary(frame) => frame.to_vec(),
        other => panic!("expected a binary frame, got {other:?}"),
    }
}

async fn send_text(socket: &mut Socket, text: impl Into<String>) {
    socket.send(Message::text(text.into())).await.unwrap();
}

async fn send_json(socket: &mut Socket, value: &Value) {
    send_text(socket, value.to_string()).await;
}

/// The close frame that ends the connection, skipping whatever comes before it.
async fn close_frame(socket: &mut Socket) -> CloseFrame {
    tokio::time::timeout(PATIENCE, async {
        while let Some(message) = socket.next().await {
            if let Ok(Message::Close(frame)) = message {
                return frame.expect("a close frame with a code");
            }
        }
        panic!("the connection ended without a close frame");
    })
    .await
    .expect("the server did not close in time")
}

async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < PATIENCE, "{what}: not within {PATIENCE:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The `dis` of the error grid in a response envelope.
fn envelope_dis(envelope: &Value) -> String {
    error_dis(envelope["grid"].to_string().as_bytes()).expect("an error grid")
}

#[tokio::test]
async fn an_envelope_is_answered_with_its_id_and_ch_echoed_after_the_grid() {
    let (url, _) = start(ServerConfig::new(), echo_router()).await;
    let mut socket = socket(&url).await;
    send_text(
        &mut socket,
        format!(r#"{{"id":"1","op":"read","grid":{GRID},"ch":{{"room":[1,2]}}}}"#),
    )
    .await;
    // Byte for byte the reference's envelope: grid first, then id, then ch.
    assert_eq!(
        next_text(&mut socket).await,
        format!(r#"{{"grid":{GRID},"id":"1","ch":{{"room":[1,2]}}}}"#)
    );
    // An id that is not a string is echoed as received; no ch, none echoed.
    send_text(&mut socket, r#"{"op":"about","id":7}"#).await;
    assert_eq!(
        next_text(&mut socket).await,
        format!(r#"{{"grid":{GRID},"id":7}}"#)
    );
    // No id, none echoed.
    send_text(&mut socket, r#"{"op":"about"}"#).await;
    assert_eq!(next_text(&mut socket).await, format!(r#"{{"grid":{GRID}}}"#));
}

#[tokio::test]
async fn an_envelope_with_an_unknown_op_is_answered_with_an_error_naming_it() {
    let (url, monitor) = start(ServerConfig::new(), echo_router()).await;
    let mut socket = socket(&url).await;
    send_json(&mut socket, &json!({"id": "2", "op": "frobnicate", "ch": 5})).await;
    let answer = next_json(&mut socket).await;
    assert_eq!((&answer["id"], &answer["ch"]), (&json!("2"), &json!(5)));
    assert_eq!(
        envelope_dis(&answer),
        "op `frobnicate` is not known to this server"
    );
    send_json(&mut socket, &json!({"id": "3"})).await;
    assert_eq!(
        envelope_dis(&next_json(&mut socket).await),
        "the request names no op"
    );
    let stats = monitor.stats();
    assert_eq!((stats.requests, stats.failed_requests), (2, 2));
}

#[tokio::test]
async fn an_envelope_without_a_grid_reaches_its_handler_as_an_empty_payload() {
    let router = Router::new().route(Op::Read, |request| async move {
        Ok(
            json!({"payloadBytes": request.payload.len(), "requestId": request.request_id})
                .to_string()
                .into_bytes(),
        )
    });
    let (url, _) = start(ServerConfig::new(), router).await;
    let mut socket = socket(&url).await;
    for envelope in [
        json!({"id": "a", "op": "read"}),
        json!({"id": "b", "op": "read", "grid": null}),
    ] {
        send_json(&mut socket, &envelope).await;
        let answer = next_json(&mut socket).await;
        assert_eq!(
            answer["grid"],
            json!({"payloadBytes": 0, "requestId": 0}),
            "{envelope}"
        );
    }
}

#[tokio::test]
async fn a_handler_failure_is_answered_with_an_error_grid_envelope() {
    let router = Router::new()
        .route(Op::Nav, |_| async { Reply::Err(Fault::new("no such nav")) })
        .route(Op::Read, |_| async { Ok(b"not json".to_vec()) });
    let (url, monitor) = start(ServerConfig::new(), router).await;
    let mut socket = socket(&url).await;
    send_json(&mut socket, &json!({"id": "1", "op": "nav"})).await;
    let failed = next_json(&mut socket).await;
    assert_eq!(
        (envelope_dis(&failed), &failed["id"]),
        ("no such nav".to_owned(), &json!("1"))
    );
    // A reply that is not JSON cannot be embedded: the client gets an error grid instead.
    send_json(&mut socket, &json!({"id": "2", "op": "read"})).await;
    let not_json = next_json(&mut socket).await;
    assert!(
        envelope_dis(&not_json).starts_with("the response is not JSON"),
        "{not_json}"
    );
    // An op without a handler.
    send_json(&mut socket, &json!({"id": "3", "op": "hisRead"})).await;
    assert_eq!(
        envelope_dis(&next_json(&mut socket).await),
        "op `hisRead` is not supported by this server"
    );
    assert_eq!(monitor.stats().failed_requests, 3);
}

#[tokio::test]
async fn a_batch_runs_its_items_at_once_and_answers_them_in_order_even_when_the_first_is_the_slowest() {
    // Each handler waits until all three run: a batch run one item after the
    // other would never get there.
    let started = Arc::new(AtomicUsize::new(0));
    let all_started = Arc::new(Notify::new());
    let router = Router::new().route(Op::Read, {
        let (started, all_started) = (Arc::clone(&started), Arc::clone(&all_started));
        move |request| {
            let (started, all_started) = (Arc::clone(&started), Arc::clone(&all_started));
            async move {
                if started.fetch_add(1, Ordering::SeqCst) + 1 == 3 {
                    all_started.notify_waiters();
                }
                let everyone = async {
                    while started.load(Ordering::SeqCst) < 3 {
                        let notified = all_started.notified();
                        if started.load(Ordering::SeqCst) >= 3 {
                            break;
                        }
                        notified.await;
                    }
                };
                if tokio::time::timeout(PATIENCE, everyone).await.is_err() {
                    return Err(Fault::new("the batch's items did not run at once"));
                }
                let grid: Value = serde_json::from_slice(&request.payload).unwrap();
                let delay = grid["delayMs"].as_u64().unwrap();
                tokio::time::sleep(Duration::from_millis(delay)).await;
                Ok(request.payload)
            }
        }
    });
    let (url, _) = start(ServerConfig::new(), router).await;
    let mut socket = socket(&url).await;
    let batch = json!([
        {"id": "slow", "op": "read", "grid": {"delayMs": 300}, "ch": "dropped"},
        {"id": "fast", "op": "read", "grid": {"delayMs": 0}},
        {"id": "middle", "op": "read", "grid": {"delayMs": 50}},
    ]);
    send_json(&mut socket, &batch).await;
    let answer = next_json(&mut socket).await;
    assert_eq!(
        answer,
        json!([
            {"grid": {"delayMs": 300}, "id": "slow"},
            {"grid": {"delayMs": 0}, "id": "fast"},
            {"grid": {"delayMs": 50}, "id": "middle"},
        ])
    );
}

#[tokio::test]
async fn items_of_a_batch_that_are_not_objects_are_skipped_and_a_batch_of_none_is_not_answered() {
    let (url, monitor) = start(ServerConfig::new(), echo_router()).await;
    let mut socket = socket(&url).await;
    send_text(
        &mut socket,
        r#"[1, {"id":"x","op":"about"}, "s", null, [], {"id":"y","op":"nope"}]"#,
    )
    .await;
    let answer = next_json(&mut socket).await;
    let items = answer.as_array().expect("an array");
    assert_eq!(items.len(), 2, "{answer}");
    assert_eq!(
        items[0],
        json!({"grid": serde_json::from_str::<Value>(GRID).unwrap(), "id": "x"})
    );
    assert_eq!(envelope_dis(&items[1]), "op `nope` is not known to this server");
    // Neither an empty batch nor one of no object is answered: the next
    // answer is the single request's.
    send_text(&mut socket, "[]").await;
    send_text(&mut socket, "[1, 2, \"three\"]").await;
    send_json(&mut socket, &json!({"id": "after", "op": "about"})).await;
    assert_eq!(next_json(&mut socket).await["id"], "after");
    assert_eq!(monitor.stats().requests, 3);
}

#[tokio::test]
async fn a_batch_at_the_cap_is_answered_and_one_past_it_closes_the_connection_with_1008() {
    let (url, monitor) = start(ServerConfig::new(), echo_router()).await;
    let mut socket = socket(&url).await;
    let items: Vec<Value> = (0..MAX_ITEMS).map(|n| json!({"id": n, "op": "about"})).collect();
    send_json(&mut socket, &Value::Array(items)).await;
    let answer = next_json(&mut socket).await;
    let answered = answer.as_array().expect("an array");
    assert_eq!(answered.len(), MAX_ITEMS);
    assert!(answered
        .iter()
        .enumerate()
        .all(|(n, item)| item["id"] == json!(n)));

    let items: Vec<Value> = (0..=MAX_ITEMS).map(|n| json!({"id": n, "op": "about"})).collect();
    send_json(&mut socket, &Value::Array(items)).await;
    let close = close_frame(&mut socket).await;
    assert_eq!(close.code, CloseCode::Policy);
    assert_eq!(
        close.reason.as_str(),
        format!(
            "batch of at least {} requests, over the cap of {MAX_ITEMS}",
            MAX_ITEMS + 1
        )
    );
    // None of the refused batch ran.
    assert_eq!(monitor.stats().requests, u64::try_from(MAX_ITEMS).unwrap());
}

#[tokio::test]
async fn a_batch_of_two_million_items_is_refused_at_the_cap_without_being_read_whole() {
    // 4 MB of tiny items, under the message limit; the server's budget is
    // little more than the message itself.
    let budget = 6 << 20;
    let (url, monitor) = start(ServerConfig::new().memory_budget(budget), echo_router()).await;
    let mut socket = socket(&url).await;
    let mut huge = String::with_capacity(4_000_002);
    huge.push('[');
    huge.push_str(&"0,".repeat(1_999_999));
    huge.push_str("0]");
    send_text(&mut socket, huge).await;
    let close = close_frame(&mut socket).await;
    // A policy close for the cap, not 1013 for a spent budget.
    assert_eq!(close.code, CloseCode::Policy);
    assert!(
        close.reason.contains(&format!("cap of {MAX_ITEMS}")),
        "{}",
        close.reason
    );
    // What follows the first item past the cap is never read: here it is not even JSON.
    let mut socket = self::socket(&url).await;
    send_text(
        &mut socket,
        format!("[{} and then no JSON at all", "0,".repeat(MAX_ITEMS + 1)),
    )
    .await;
    let close = close_frame(&mut socket).await;
    assert_eq!(close.code, CloseCode::Policy);
    assert!(
        close.reason.contains(&format!("cap of {MAX_ITEMS}")),
        "{}",
        close.reason
    );
    wait_until("the budget given back", || monitor.stats().memory_in_use == 0).await;
    let stats = monitor.stats();
    assert_eq!((stats.requests, stats.memory_budget), (0, budget));
}

#[tokio::test]
async fn binary_and_json_requests_interleave_on_one_connection_each_answered_in_its_form() {
    let (url, _) = start(ServerConfig::new(), echo_router()).await;
    let mut socket = socket(&url).await;
    let mut encoder = Encoder::new();
    socket
        .send(Message::binary(
            encoder.request(10, Op::Read, b"{\"n\":1}").unwrap(),
        ))
        .await
        .unwrap();
    let frame = next_frame(&mut socket).await;
    let frame = Frame::decode(&frame).unwrap();
    assert_eq!((frame.request_id(), frame.payload), (10, &b"{\"n\":1}"[..]));
    send_json(&mut socket, &json!({"id": "j1", "op": "read", "grid": {"n": 2}})).await;
    assert_eq!(
        next_json(&mut socket).await,
        json!({"grid": {"n": 2}, "id": "j1"})
    );
    socket
        .send(Message::binary(
            encoder.request(11, Op::Read, b"{\"n\":3}").unwrap(),
        ))
        .await
        .unwrap();
    let frame = next_frame(&mut socket).await;
    let frame = Frame::decode(&frame).unwrap();
    assert_eq!((frame.request_id(), frame.payload), (11, &b"{\"n\":3}"[..]));
    // Text the server does not read is ignored, and the connection goes on.
    send_text(&mut socket, "not json").await;
    send_text(&mut socket, r#""a string""#).await;
    // A login step out of place is ignored too (a `hello`, which opens a
    // login, is refused instead: see tests/login.rs).
    send_text(
        &mut socket,
        r#"{"type":"scram","handshakeToken":"t","data":"eA"}"#,
    )
    .await;
    send_json(&mut socket, &json!({"id": "j2", "op": "read", "grid": {"n": 4}})).await;
    assert_eq!(
        next_json(&mut socket).await,
        json!({"grid": {"n": 4}, "id": "j2"})
    );
}

#[tokio::test]
async fn ignored_text_messages_are_counted() {
    let (url, monitor) = start(ServerConfig::new(), echo_router()).await;
    let mut socket = socket(&url).await;
    for text in [
        "not json",
        "3",
        r#"{"type":"scram","data":"x"}"#,
        r#"{"authToken":"t"}"#,
    ] {
        send_text(&mut socket, text).await;
    }
    send_json(&mut socket, &json!({"id": "last", "op": "about"})).await;
    assert_eq!(next_json(&mut socket).await["id"], "last");
    assert_eq!(monitor.stats().ignored_messages, 4);
}

#[tokio::test]
async fn a_watch_push_reaches_each_connection_in_the_form_of_its_latest_request() {
    let watchers = Arc::new(Subscribers::<String>::new());
    let subscribed = Arc::new(AtomicUsize::new(0));
    let router = Router::new().route(Op::WatchSub, {
        let (watchers, subscribed) = (Arc::clone(&watchers), Arc::clone(&subscribed));
        move |request| {
            let (watchers, subscribed) = (Arc::clone(&watchers), Arc::clone(&subscribed));
            async move {
                watchers.subscribe("w-1".to_owned(), &request.peer);
                subscribed.fetch_add(1, Ordering::SeqCst);
                Ok(b"{}".to_vec())
            }
        }
    });
    let (url, _) = start(ServerConfig::new(), router).await;
    let mut json_client = socket(&url).await;
    send_json(&mut json_client, &json!({"id": "1", "op": "watchSub"})).await;
    assert_eq!(next_json(&mut json_client).await, json!({"grid": {}, "id": "1"}));
    let mut binary_client = socket(&url).await;
    binary_client
        .send(Message::binary(
            Encoder::new().request(5, Op::WatchSub, b"").unwrap(),
        ))
        .await
        .unwrap();
    let answer = next_frame(&mut binary_client).await;
    assert_eq!(Frame::decode(&answer).unwrap().request_id(), 5);
    wait_until("both subscribed", || subscribed.load(Ordering::SeqCst) == 2).await;

    assert_eq!(watchers.push_watch(&"w-1".to_owned(), "w-1", GRID.as_bytes()), 2);
    assert_eq!(
        next_text(&mut json_client).await,
        format!(r#"{{"type":"watch","watchId":"w-1","grid":{GRID}}}"#)
    );
    let pushed = next_frame(&mut binary_client).await;
    let pushed = Frame::decode(&pushed).unwrap();
    assert!(pushed.flags().contains(Flags::PUSH));
    assert_eq!((pushed.op(), pushed.payload), (Op::WatchPoll, GRID.as_bytes()));

    // A JSON-mode connection cannot embed a push that is not JSON; the binary one still gets it.
    assert_eq!(watchers.push_watch(&"w-1".to_owned(), "w-1", b"not json"), 1);
    let pushed = next_frame(&mut binary_client).await;
    assert_eq!(Frame::decode(&pushed).unwrap().payload, b"not json");
}

/// What the permission hook was asked: the user and the op.
type Asked = (Option<String>, Op);

#[tokio::test]
async fn the_permission_hook_refuses_an_op_in_every_form_without_running_its_handler() {
    let ran = Arc::new(AtomicUsize::new(0));
    let asked: Arc<Mutex<Vec<Asked>>> = Arc::default();
    let router = Router::new()
        .route(Op::HisWrite, {
            let ran = Arc::clone(&ran);
            move |_| {
                ran.fetch_add(1, Ordering::SeqCst);
                async { Ok(b"{}".to_vec()) }
            }
        })
        .route(Op::About, |_| async { Ok(GRID.as_bytes().to_vec()) });
    let config = ServerConfig::new().permissions({
        let asked = Arc::clone(&asked);
        move |user, op| {
            asked.lock().unwrap().push((user.map(str::to_owned), op));
            match op {
                Op::HisWrite => Err(Fault::new("hisWrite is not yours to run")),
                _ => Ok(()),
            }
        }
    });
    let (url, _) = start(config, router).await;
    let mut socket = socket(&url).await;

    socket
        .send(Message::binary(
            Encoder::new().request(3, Op::HisWrite, b"{}").unwrap(),
        ))
        .await
        .unwrap();
    let refused = next_frame(&mut socket).await;
    let refused = Frame::decode(&refused).unwrap();
    assert!(refused.flags().contains(Flags::RESPONSE.union(Flags::ERROR)));
    assert_eq!(refused.request_id(), 3);
    assert_eq!(
        error_dis(refused.payload).as_deref(),
        Some("hisWrite is not yours to run")
    );

    send_json(&mut socket, &json!({"id": "j", "op": "hisWrite", "grid": {}})).await;
    let refused = next_json(&mut socket).await;
    assert_eq!(
        (envelope_dis(&refused), &refused["id"]),
        ("hisWrite is not yours to run".to_owned(), &json!("j"))
    );

    send_json(
        &mut socket,
        &json!([{"id": "b1", "op": "about"}, {"id": "b2", "op": "hisWrite"}]),
    )
    .await;
    let answer = next_json(&mut socket).await;
    assert_eq!(answer[0]["id"], "b1");
    assert!(error_dis(answer[0]["grid"].to_string().as_bytes()).is_none());
    assert_eq!(envelope_dis(&answer[1]), "hisWrite is not yours to run");

    assert_eq!(ran.load(Ordering::SeqCst), 0, "a refused handler ran");
    // The batch's items run at once: their checks come in either order.
    let asked = asked.lock().unwrap().clone();
    assert_eq!(asked.len(), 4, "{asked:?}");
    assert!(asked.iter().all(|(user, _)| user.is_none()), "{asked:?}");
    let refused_ops = asked.iter().filter(|(_, op)| *op == Op::HisWrite).count();
    assert_eq!(refused_ops, 3, "{asked:?}");
}
