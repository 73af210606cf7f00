//! The server's connection layer against peers that misbehave: deadlines,
//! backpressure, fan-out past a stalled subscriber, the connection cap, the
//! shared memory budget, the reassembly timer and the close codes. Every
//! test runs on 127.0.0.1 with short limits, and ends by itself.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use haystack_wire::connection::{
    error_dis, Answer, Capabilities, Client, ClientConfig, FakeCredentials, Monitor, Offer, Peer, Reply,
    Router, Server, ServerConfig, Subscribers, Users,
};
use haystack_wire::protocol::messages::{hello, request, response};
use haystack_wire::protocol::RawBaseHeader;
use haystack_wire::{BaseHeader, Compression, Encoder, Flags, Frame, Limits, Op};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Mutex;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

/// How long any one wait in these tests may take before it counts as a failure.
const PATIENCE: Duration = Duration::from_secs(10);

async fn start(config: ServerConfig, router: Router) -> (String, Monitor) {
    let server = Server::bind("127.0.0.1:0", config, router).await.unwrap();
    let url = format!("ws://{}", server.local_addr().unwrap());
    let monitor = server.monitor();
    tokio::spawn(server.run());
    (url, monitor)
}

/// `len` bytes that zlib cannot shrink much.
fn noise(len: usize) -> Vec<u8> {
    let mut state = 0x2545_f491_u32;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state as u8
        })
        .collect()
}

/// A router whose `read` answers with as many bytes as the request's
/// payload says, counting the requests it ran.
fn sized_router(ran: Arc<AtomicUsize>) -> Router {
    Router::new().route(Op::Read, move |request| {
        let ran = Arc::clone(&ran);
        async move {
            ran.fetch_add(1, Ordering::SeqCst);
            let len: usize = String::from_utf8_lossy(&request.payload).parse().unwrap_or(0);
            Ok(noise(len))
        }
    })
}

async fn raw_socket(url: &str) -> Socket {
    tokio_tungstenite::connect_async(url).await.unwrap().0
}

/// The next close frame, skipping frames and pings; `None` if the socket ends without one.
async fn close_frame(socket: &mut Socket) -> Option<CloseFrame> {
    tokio::time::timeout(PATIENCE, async {
        while let Some(message) = socket.next().await {
            match message {
                Ok(Message::Close(frame)) => return frame,
                Ok(_) => {}
                Err(_) => return None,
            }
        }
        None
    })
    .await
    .expect("the server neither closed nor ended the connection in time")
}

async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < PATIENCE, "{what}: not within {PATIENCE:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_connection_that_never_upgrades_is_closed_at_the_handshake_deadline() {
    let deadline = Duration::from_millis(300);
    let (url, _) = start(ServerConfig::new().handshake_timeout(deadline), Router::new()).await;
    let addr = url.trim_start_matches("ws://").to_owned();
    let mut silent = TcpStream::connect(&addr).await.unwrap();
    let mut half = TcpStream::connect(&addr).await.unwrap();
    half.write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    // Silence asked nothing and gets no answer; half a head gets a 408.
    let mut buf = [0; 64];
    let read = tokio::time::timeout(PATIENCE, silent.read(&mut buf)).await;
    assert!(
        matches!(read, Ok(Ok(0) | Err(_))),
        "the server kept the connection: {read:?}"
    );
    let mut answer = Vec::new();
    let read = tokio::time::timeout(PATIENCE, half.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the server kept the connection");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408 Request Timeout\r\n"), "{answer}");
    let waited = started.elapsed();
    assert!(
        waited >= deadline - Duration::from_millis(50),
        "closed after {waited:?}, before the deadline"
    );
    assert!(waited < deadline * 5, "closed only after {waited:?}");
}

#[tokio::test]
async fn a_token_that_never_comes_is_a_policy_close_at_the_handshake_deadline() {
    let config = ServerConfig::new()
        .auth_token("s3cret")
        .handshake_timeout(Duration::from_millis(300));
    let (url, _) = start(config, Router::new()).await;
    let mut socket = raw_socket(&url).await;
    let close = close_frame(&mut socket).await.expect("a close frame");
    assert_eq!(close.code, CloseCode::Policy);
    assert!(close.reason.starts_with("no token within"), "{}", close.reason);
}

#[tokio::test]
async fn a_client_that_answers_no_ping_is_closed_with_1011() {
    let config = ServerConfig::new()
        .ping_interval(Some(Duration::from_millis(200)))
        .pong_timeout(Duration::from_millis(200));
    let (url, _) = start(config, Router::new()).await;
    let mut socket = raw_socket(&url).await;
    // Not reading means not answering the server's pings.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let mut pings = 0;
    let close = loop {
        match tokio::time::timeout(PATIENCE, socket.next()).await.unwrap() {
            Some(Ok(Message::Ping(_))) => pings += 1,
            Some(Ok(Message::Close(frame))) => break frame.expect("a close frame"),
            other => panic!("expected pings then a close, got {other:?}"),
        }
    };
    assert_eq!(pings, 1, "one ping, then the close");
    assert_eq!(close.code, CloseCode::Error);
    assert_eq!(close.reason, "keepalive ping timeout");
}

#[tokio::test]
async fn keepalive_leaves_an_idle_client_that_answers_pings_alone() {
    let ran = Arc::new(AtomicUsize::new(0));
    let config = ServerConfig::new()
        .ping_interval(Some(Duration::from_millis(100)))
        .pong_timeout(Duration::from_millis(100));
    let (url, _) = start(config, sized_router(Arc::clone(&ran))).await;
    let client = Client::connect(&url, ClientConfig::new()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    assert_eq!(client.request(Op::Read, b"10").await.unwrap().len(), 10);
}

#[tokio::test]
async fn a_client_that_pipelines_and_never_reads_stops_being_read() {
    let ran = Arc::new(AtomicUsize::new(0));
    let config = ServerConfig::new()
        .max_in_flight(4)
        .max_queued_bytes(2 << 20)
        .write_timeout(None);
    let (url, monitor) = start(config, sized_router(Arc::clone(&ran))).await;
    let mut socket = raw_socket(&url).await;
    let requests = 300u16;
    // 300 requests for 1 MiB each: 300 MiB of answers if the server ran them all.
    let mut encoder = Encoder::new();
    let sender = tokio::spawn(async move {
        for id in 1..=requests {
            let frame = encoder.request(id, Op::Read, b"1048576").unwrap();
            socket.feed(Message::binary(frame)).await.unwrap();
        }
        socket.flush().await.unwrap();
        socket
    });
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let stalled_at = ran.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        ran.load(Ordering::SeqCst),
        stalled_at,
        "the server kept running requests"
    );
    assert!(
        stalled_at < 60,
        "{stalled_at} requests ran for a client that reads nothing"
    );
    let held = monitor.stats().memory_in_use;
    assert!(
        held < 24 << 20,
        "{held} bytes queued for a client that reads nothing"
    );

    // Once the client reads, every request is answered, in turn.
    let mut socket = tokio::time::timeout(PATIENCE, sender).await.unwrap().unwrap();
    let mut answered = 0;
    while answered < requests {
        match tokio::time::timeout(PATIENCE, socket.next()).await.unwrap() {
            Some(Ok(Message::Binary(frame))) => {
                let frame = Frame::decode(&frame).unwrap();
                assert!(frame.flags().contains(Flags::RESPONSE));
                assert_eq!(frame.payload.len(), 1 << 20);
                answered += 1;
            }
            Some(Ok(_)) => {}
            other => panic!("expected responses, got {other:?}"),
        }
    }
    assert_eq!(ran.load(Ordering::SeqCst), usize::from(requests));
}

#[tokio::test]
async fn a_client_whose_socket_takes_nothing_is_dropped_at_the_write_deadline() {
    let ran = Arc::new(AtomicUsize::new(0));
    let config = ServerConfig::new().write_timeout(Some(Duration::from_millis(500)));
    let (url, monitor) = start(config, sized_router(ran)).await;
    let mut socket = raw_socket(&url).await;
    let mut encoder = Encoder::new();
    for id in 1..=40u16 {
        let frame = encoder.request(id, Op::Read, b"1048576").unwrap();
        socket.feed(Message::binary(frame)).await.unwrap();
    }
    socket.flush().await.unwrap();
    wait_until("the server dropping the connection", || {
        monitor.stats().open_connections == 0
    })
    .await;
    assert_eq!(
        monitor.stats().memory_in_use,
        0,
        "the dropped connection still holds memory"
    );
}

#[tokio::test]
async fn a_stalled_subscriber_does_not_hold_up_pushes_to_the_others() {
    let watchers = Arc::new(Subscribers::<u8>::new());
    let peers: Arc<Mutex<Vec<Peer>>> = Arc::default();
    let router = {
        let (watchers, peers) = (Arc::clone(&watchers), Arc::clone(&peers));
        Router::new().route(Op::WatchSub, move |request| {
            let (watchers, peers) = (Arc::clone(&watchers), Arc::clone(&peers));
            async move {
                watchers.subscribe(1, &request.peer);
                peers.lock().await.push(request.peer.clone());
                Ok(b"{}".to_vec())
            }
        })
    };
    let config = ServerConfig::new().max_queued_bytes(2 << 20).write_timeout(None);
    let (url, _) = start(config, router).await;
    let healthy = Client::connect(&url, ClientConfig::new().push_capacity(100).push_budget(64 << 20))
        .await
        .unwrap();
    healthy.request(Op::WatchSub, b"").await.unwrap();
    let mut pushes = healthy.pushes().unwrap();
    let mut stalled = raw_socket(&url).await;
    stalled
        .send(Message::binary(
            Encoder::new().request(1, Op::WatchSub, b"").unwrap(),
        ))
        .await
        .unwrap();
    wait_until("two subscribers", || {
        peers.try_lock().map(|peers| peers.len() == 2).unwrap_or(false)
    })
    .await;

    // 40 pushes of 512 KiB: 20 MiB for a subscriber that reads none of them.
    let payload = noise(512 << 10);
    let mut reached = Vec::new();
    for _ in 0..40 {
        reached.push(watchers.push(&1, Op::WatchPoll, &payload));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for n in 0..40 {
        let push = tokio::time::timeout(PATIENCE, pushes.next())
            .await
            .unwrap_or_else(|_| panic!("push {n} did not reach the healthy subscriber"))
            .unwrap();
        assert_eq!(push.payload.len(), payload.len());
    }
    assert_eq!(reached.first(), Some(&2));
    assert_eq!(
        reached.last(),
        Some(&1),
        "the stalled subscriber was not dropped: {reached:?}"
    );
    let close = close_frame(&mut stalled).await.expect("a close frame");
    assert_eq!(close.code, CloseCode::Policy);
    assert!(close.reason.starts_with("not reading"), "{}", close.reason);
}

#[tokio::test]
async fn past_the_connection_cap_new_connections_are_refused_and_the_others_go_on() {
    let ran = Arc::new(AtomicUsize::new(0));
    let (url, monitor) = start(ServerConfig::new().max_connections(2), sized_router(ran)).await;
    let first = Client::connect(&url, ClientConfig::new()).await.unwrap();
    let second = Client::connect(&url, ClientConfig::new()).await.unwrap();
    let refused = tokio::time::timeout(PATIENCE, Client::connect(&url, ClientConfig::new())).await;
    assert!(
        matches!(refused, Ok(Err(_))),
        "a third connection was not refused"
    );
    assert_eq!(monitor.stats().refused_connections, 1);
    assert_eq!(first.request(Op::Read, b"3").await.unwrap().len(), 3);
    assert_eq!(second.request(Op::Read, b"4").await.unwrap().len(), 4);
    first.close().await;
    wait_until("a place freed", || monitor.stats().open_connections == 1).await;
    let third = Client::connect(&url, ClientConfig::new()).await.unwrap();
    assert_eq!(third.request(Op::Read, b"5").await.unwrap().len(), 5);
}

/// A socket that agreed on zlib and chunking with the server.
async fn negotiated_socket(url: &str) -> Socket {
    let mut socket = raw_socket(url).await;
    let offer = Offer::new(&Capabilities::new().compression([Compression::Zlib]).chunked(true));
    socket.send(Message::text(offer.to_json())).await.unwrap();
    match tokio::time::timeout(PATIENCE, socket.next()).await.unwrap() {
        Some(Ok(Message::Text(text))) => {
            let session = Answer::parse(&text).unwrap().session(&offer);
            assert!(session.chunked && session.compression == Some(Compression::Zlib));
        }
        other => panic!("expected the answer, got {other:?}"),
    }
    socket
}

/// The first chunk (of two) of a sequence whose chunk inflates to `len` zero bytes.
fn unfinished_sequence(request_id: u16, len: usize) -> Vec<u8> {
    let mut encoder = Encoder::new()
        .with_compression(Some(Compression::Zlib))
        .with_chunk_size(len);
    let mut frames = encoder
        .encode_chunked(BaseHeader::request(request_id, Op::HisWrite), &vec![0; 2 * len])
        .unwrap();
    frames.swap_remove(0)
}

#[tokio::test]
async fn when_the_shared_budget_is_spent_the_connection_holding_the_most_is_closed() {
    let ran = Arc::new(AtomicUsize::new(0));
    let config = ServerConfig::new()
        .compression([Compression::Zlib])
        .chunked(true)
        .memory_budget(10 << 20)
        .limits(Limits {
            max_frame_payload: 4 << 20,
            ..Limits::DEFAULT
        });
    let (url, monitor) = start(config, sized_router(ran)).await;
    // The hog holds two unfinished sequences of 3 MiB each, from 6 KiB sent.
    let mut hog = negotiated_socket(&url).await;
    for id in [1, 2] {
        hog.send(Message::binary(unfinished_sequence(id, 3 << 20)))
            .await
            .unwrap();
    }
    wait_until("the hog's sequences held", || {
        monitor.stats().memory_in_use >= 6 << 20
    })
    .await;
    // A second connection holds less, and needs more than is left.
    let mut modest = negotiated_socket(&url).await;
    for id in [1, 2] {
        modest
            .send(Message::binary(unfinished_sequence(id, 5 << 19)))
            .await
            .unwrap();
    }
    let close = close_frame(&mut hog).await.expect("a close frame");
    assert_eq!(close.code, CloseCode::Again);
    assert!(
        close.reason.starts_with("server memory budget"),
        "{}",
        close.reason
    );
    // The modest connection is still served.
    modest
        .send(Message::binary(
            Encoder::new().request(3, Op::Read, b"7").unwrap(),
        ))
        .await
        .unwrap();
    let response = loop {
        match tokio::time::timeout(PATIENCE, modest.next()).await.unwrap() {
            Some(Ok(Message::Binary(frame))) => break frame,
            Some(Ok(_)) => {}
            other => panic!("expected a response, got {other:?}"),
        }
    };
    assert_eq!(Frame::decode(&response).unwrap().payload.len(), 7);
    assert!(monitor.stats().memory_in_use <= 10 << 20);
}

#[tokio::test]
async fn unfinished_sequences_expire_without_another_chunk_arriving() {
    let ran = Arc::new(AtomicUsize::new(0));
    let config = ServerConfig::new()
        .compression([Compression::Zlib])
        .chunked(true)
        .reassembly_ttl(Duration::from_millis(300));
    let (url, monitor) = start(config, sized_router(ran)).await;
    let mut socket = negotiated_socket(&url).await;
    socket
        .send(Message::binary(unfinished_sequence(1, 1 << 20)))
        .await
        .unwrap();
    wait_until("the sequence held", || monitor.stats().memory_in_use >= 1 << 20).await;
    let started = Instant::now();
    wait_until("the sequence expired", || monitor.stats().memory_in_use == 0).await;
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn close_codes_say_what_happened() {
    let limits = Limits {
        max_frame: 64 << 10,
        max_pending: 2,
        ..Limits::DEFAULT
    };
    let config = ServerConfig::new()
        .compression([Compression::Zlib])
        .chunked(true)
        .limits(limits);
    let (url, _) = start(config, Router::new()).await;

    // A WebSocket message over the limit: 1009.
    let mut socket = raw_socket(&url).await;
    socket.send(Message::binary(vec![0; 128 << 10])).await.unwrap();
    let close = close_frame(&mut socket).await.expect("a close frame");
    assert_eq!(close.code, CloseCode::Size);

    // More unfinished sequences than allowed: 1008, naming the limit.
    let mut socket = negotiated_socket(&url).await;
    for id in 1..=3 {
        socket
            .send(Message::binary(unfinished_sequence(id, 1 << 10)))
            .await
            .unwrap();
    }
    let close = close_frame(&mut socket).await.expect("a close frame");
    assert_eq!(close.code, CloseCode::Policy);
    assert_eq!(close.reason, "more than 2 unfinished chunk sequences");

    // A header that cannot be read: 1002.
    let mut socket = raw_socket(&url).await;
    socket.send(Message::binary(vec![0xff, 0, 1, 1])).await.unwrap();
    let close = close_frame(&mut socket).await.expect("a close frame");
    assert_eq!(close.code, CloseCode::Protocol);
}

#[tokio::test]
async fn a_request_with_an_op_this_server_does_not_know_is_answered_and_the_connection_goes_on() {
    let ran = Arc::new(AtomicUsize::new(0));
    let (url, monitor) = start(ServerConfig::new(), sized_router(ran)).await;
    let mut socket = raw_socket(&url).await;
    // A newer peer's op 200, as a request, then as a push (which asks nothing).
    let mut newer = Encoder::new().request(41, Op::Read, b"{}").unwrap();
    newer[BaseHeader::OP_OFFSET] = 200;
    let mut pushed = Encoder::new().push(Op::Read, b"{}").unwrap();
    pushed[BaseHeader::OP_OFFSET] = 200;
    socket.send(Message::binary(newer)).await.unwrap();
    socket.send(Message::binary(pushed)).await.unwrap();
    socket
        .send(Message::binary(
            Encoder::new().request(42, Op::Read, b"6").unwrap(),
        ))
        .await
        .unwrap();
    let mut answers = Vec::new();
    while answers.len() < 2 {
        match tokio::time::timeout(PATIENCE, socket.next()).await.unwrap() {
            Some(Ok(Message::Binary(frame))) => answers.push(frame.to_vec()),
            Some(Ok(Message::Ping(_))) => {}
            other => panic!("expected two answers, got {other:?}"),
        }
    }
    let echoed = RawBaseHeader::decode(answers[0].first_chunk().unwrap());
    assert_eq!((echoed.request_id, echoed.op), (41, 200));
    assert!(echoed.flags.contains(Flags::RESPONSE.union(Flags::ERROR)));
    let dis = error_dis(&answers[0][RawBaseHeader::LEN..]).unwrap();
    assert_eq!(dis, "op code 200 is not known to this server");
    let read = Frame::decode(&answers[1]).unwrap();
    assert_eq!((read.request_id(), read.payload.len()), (42, 6));
    let stats = monitor.stats();
    assert_eq!((stats.refused_frames, stats.requests), (2, 1));
    assert_eq!((stats.bytes_in, stats.bytes_out), (1, 6));
}

#[tokio::test]
async fn a_server_that_shuts_down_answers_the_requests_in_flight_then_closes_with_1001() {
    let router = Router::new().route(Op::HisRead, |_| async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        Ok(b"the month".to_vec())
    });
    let server = Server::bind("127.0.0.1:0", ServerConfig::new(), router)
        .await
        .unwrap();
    let url = format!("ws://{}", server.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(server.run_until(async {
        let _ = stopped.await;
    }));
    let mut socket = raw_socket(&url).await;
    socket
        .send(Message::binary(
            Encoder::new().request(1, Op::HisRead, b"").unwrap(),
        ))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let _ = stop.send(());
    let answer = loop {
        match tokio::time::timeout(PATIENCE, socket.next()).await.unwrap() {
            Some(Ok(Message::Binary(frame))) => break frame,
            Some(Ok(Message::Ping(_))) => {}
            other => panic!("expected the answer first, got {other:?}"),
        }
    };
    assert_eq!(Frame::decode(&answer).unwrap().payload, b"the month");
    let close = close_frame(&mut socket).await.expect("a close frame");
    assert_eq!(close.code, CloseCode::Away);
    tokio::time::timeout(PATIENCE, running)
        .await
        .expect("run_until returns once its connections are closed")
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn a_server_that_shuts_down_tells_its_clients_with_1001() {
    let ran = Arc::new(AtomicUsize::new(0));
    let server = Server::bind("127.0.0.1:0", ServerConfig::new(), sized_router(ran))
        .await
        .unwrap();
    let url = format!("ws://{}", server.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(server.run_until(async {
        let _ = stopped.await;
    }));
    let mut socket = raw_socket(&url).await;
    socket
        .send(Message::binary(
            Encoder::new().request(1, Op::Read, b"3").unwrap(),
        ))
        .await
        .unwrap();
    let _ = stop.send(());
    let close = close_frame(&mut socket).await.expect("a close frame");
    assert_eq!(close.code, CloseCode::Away);
    tokio::time::timeout(PATIENCE, running)
        .await
        .expect("run_until returns once its connections are closed")
        .unwrap()
        .unwrap();
    assert!(
        tokio::time::timeout(PATIENCE, tokio_tungstenite::connect_async(&url))
            .await
            .unwrap()
            .is_err(),
        "a stopped server accepted a connection"
    );
}

/// A raw TCP connection upgraded by hand, so that a test can send half a
/// WebSocket message.
async fn hand_upgraded(url: &str) -> TcpStream {
    let addr = url.trim_start_matches("ws://");
    let mut socket = TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    while !response.ends_with(b"\r\n\r\n") {
        let mut byte = [0; 1];
        assert_eq!(socket.read(&mut byte).await.unwrap(), 1, "no upgrade response");
        response.push(byte[0]);
    }
    assert!(
        response.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&response)
    );
    socket
}

/// The start of a masked binary WebSocket message announcing `len` bytes,
/// with `sent` of them (a zero mask leaves them as they are).
fn half_a_message(len: u64, sent: usize) -> Vec<u8> {
    let mut frame = vec![0x82, 0x80 | 127];
    frame.extend_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(&[0; 4]);
    frame.resize(frame.len() + sent, 0);
    frame
}

#[tokio::test]
async fn messages_still_arriving_count_against_the_shared_budget() {
    let ran = Arc::new(AtomicUsize::new(0));
    let config = ServerConfig::new().memory_budget(4 << 20);
    let (url, monitor) = start(config, sized_router(ran)).await;
    let mut hog = hand_upgraded(&url).await;
    hog.write_all(&half_a_message(10 << 20, 3 << 20)).await.unwrap();
    wait_until("the hog's bytes counted", || {
        monitor.stats().memory_in_use >= 3 << 20
    })
    .await;
    let mut modest = hand_upgraded(&url).await;
    modest
        .write_all(&half_a_message(10 << 20, 2 << 20))
        .await
        .unwrap();
    // The hog gets a close frame (1013) and its socket ends.
    let mut answer = Vec::new();
    tokio::time::timeout(PATIENCE, hog.read_to_end(&mut answer))
        .await
        .expect("the hog's connection ended")
        .ok();
    let code = CloseCode::Again.to_string();
    assert!(
        answer.len() >= 4 && answer[0] == 0x88,
        "no close frame: {answer:?}"
    );
    assert_eq!(u16::from_be_bytes([answer[2], answer[3]]).to_string(), code);
    wait_until("the hog's bytes released", || {
        monitor.stats().memory_in_use < 3 << 20
    })
    .await;
    assert_eq!(
        monitor.stats().open_connections,
        1,
        "the modest connection was closed too"
    );
}

#[tokio::test]
async fn requests_waiting_on_their_handlers_count_against_the_shared_budget() {
    // A handler that never finishes: every request stays held.
    let router = Router::new().route(Op::HisWrite, |_| std::future::pending::<Reply>());
    let (url, monitor) = start(ServerConfig::new().memory_budget(8 << 20), router).await;
    let mut socket = raw_socket(&url).await;
    let mut encoder = Encoder::new();
    for id in 1..=2 {
        let frame = encoder.request(id, Op::HisWrite, &noise(3 << 20)).unwrap();
        socket.send(Message::binary(frame)).await.unwrap();
    }
    wait_until("two requests held", || monitor.stats().memory_in_use >= 6 << 20).await;
    let frame = encoder.request(3, Op::HisWrite, &noise(3 << 20)).unwrap();
    socket.send(Message::binary(frame)).await.unwrap();
    let close = close_frame(&mut socket).await.expect("a close frame");
    assert_eq!(close.code, CloseCode::Again);
}

/// Log lines written while a test runs, for the tests that read them.
#[derive(Clone, Default)]
struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn a_connection_that_fails_authentication_is_logged_with_its_peer_and_why() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    // This test's runtime has one thread: the server's tasks log to this subscriber.
    let _guard = tracing::subscriber::set_default(subscriber);
    let (url, monitor) = start(ServerConfig::new().auth_token("s3cret"), Router::new()).await;
    let mut socket = raw_socket(&url).await;
    socket
        .send(Message::text(haystack_wire::connection::auth_message("guess")))
        .await
        .unwrap();
    let close = close_frame(&mut socket).await.expect("a close frame");
    assert_eq!(close.code, CloseCode::Policy);
    wait_until("the end logged", || {
        String::from_utf8_lossy(&captured.0.lock().unwrap()).contains("connection closed")
    })
    .await;
    let log = String::from_utf8_lossy(&captured.0.lock().unwrap()).into_owned();
    assert!(log.contains("end=authentication failed"), "{log}");
    assert!(log.contains("peer=127.0.0.1:"), "{log}");
    assert_eq!(monitor.stats().closed_for_misbehaviour, 1);
}

/// A router whose `read` answers with a JSON string of as many bytes as the
/// request's grid (a number) says, counting the requests it ran.
fn json_sized_router(ran: Arc<AtomicUsize>) -> Router {
    Router::new().route(Op::Read, move |request| {
        let ran = Arc::clone(&ran);
        async move {
            ran.fetch_add(1, Ordering::SeqCst);
            let len: usize = String::from_utf8_lossy(&request.payload).parse().unwrap_or(2);
            let mut answer = vec![b'x'; len.max(2)];
            answer[0] = b'"';
            *answer.last_mut().unwrap() = b'"';
            Ok(answer)
        }
    })
}

#[tokio::test]
async fn a_json_client_that_pipelines_and_never_reads_stops_being_read() {
    let ran = Arc::new(AtomicUsize::new(0));
    let config = ServerConfig::new()
        .max_in_flight(4)
        .max_queued_bytes(2 << 20)
        .write_timeout(None);
    let (url, monitor) = start(config, json_sized_router(Arc::clone(&ran))).await;
    let mut socket = raw_socket(&url).await;
    let requests = 300usize;
    // 300 envelopes asking 1 MiB each: 300 MiB of answers if the server ran them all.
    let sender = tokio::spawn(async move {
        for id in 1..=requests {
            let envelope = serde_json::json!({
                request::ID: id.to_string(),
                request::OP: Op::Read.name(),
                request::GRID: 1 << 20,
            });
            socket.feed(Message::text(envelope.to_string())).await.unwrap();
        }
        socket.flush().await.unwrap();
        socket
    });
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let stalled_at = ran.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        ran.load(Ordering::SeqCst),
        stalled_at,
        "the server kept running requests"
    );
    assert!(
        stalled_at < 60,
        "{stalled_at} requests ran for a client that reads nothing"
    );
    let held = monitor.stats().memory_in_use;
    assert!(
        held < 24 << 20,
        "{held} bytes queued for a client that reads nothing"
    );

    // Once the client reads, every request is answered.
    let mut socket = tokio::time::timeout(PATIENCE, sender).await.unwrap().unwrap();
    let mut answered = 0;
    while answered < requests {
        match tokio::time::timeout(PATIENCE, socket.next()).await.unwrap() {
            Some(Ok(Message::Text(text))) => {
                let answer: serde_json::Value = serde_json::from_str(text.as_str()).unwrap();
                assert_eq!(answer[response::GRID].as_str().map(str::len), Some((1 << 20) - 2));
                answered += 1;
            }
            Some(Ok(_)) => {}
            other => panic!("expected answers, got {other:?}"),
        }
    }
    assert_eq!(ran.load(Ordering::SeqCst), requests);
}

#[tokio::test]
async fn a_text_message_over_the_size_limit_is_closed_with_1009() {
    let limits = Limits {
        max_frame: 64 << 10,
        ..Limits::DEFAULT
    };
    let (url, _) = start(ServerConfig::new().limits(limits), Router::new()).await;
    let mut socket = raw_socket(&url).await;
    let grid = "x".repeat(128 << 10);
    let envelope =
        serde_json::json!({ request::ID: "1", request::OP: Op::About.name(), request::GRID: grid });
    socket.send(Message::text(envelope.to_string())).await.unwrap();
    let close = close_frame(&mut socket).await.expect("a close frame");
    assert_eq!(close.code, CloseCode::Size);
}

#[tokio::test]
async fn a_login_that_stops_half_way_is_a_policy_close_at_the_handshake_deadline() {
    let deadline = Duration::from_millis(300);
    let config = ServerConfig::new()
        .credentials(Arc::new(Users::new()))
        .fake_credentials(FakeCredentials::new(4096).unwrap())
        .handshake_timeout(deadline);
    let (url, _) = start(config, Router::new()).await;
    let mut socket = raw_socket(&url).await;
    let opening = serde_json::json!({ hello::TYPE: hello::KIND, hello::USERNAME: "YWxpY2U" });
    socket.send(Message::text(opening.to_string())).await.unwrap();
    let started = Instant::now();
    let close = close_frame(&mut socket).await.expect("a close frame");
    assert_eq!(close.code, CloseCode::Policy);
    assert!(
        started.elapsed() < deadline * 5,
        "closed only after {:?}",
        started.elapsed()
    );
}

/// A masked client frame (the mask all zeros leaves the payload as it is).
fn client_frame(first_byte: u8, payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![first_byte];
    match payload.len() {
        len @ 0..=125 => frame.push(0x80 | len as u8),
        len => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(len as u16).to_be_bytes());
        }
    }
    frame.extend_from_slice(&[0; 4]);
    frame.extend_from_slice(payload);
    frame
}

/// Reads the server's next frame off a hand-upgraded socket, which must be
/// a close frame: its code and reason.
async fn read_close(socket: &mut TcpStream) -> (u16, String) {
    tokio::time::timeout(PATIENCE, async {
        let mut header = [0; 2];
        socket
            .read_exact(&mut header)
            .await
            .expect("a frame from the server");
        assert_eq!(header[0], 0x88, "a final close frame");
        let len = usize::from(header[1] & 0x7f);
        assert!(
            (2..=125).contains(&len),
            "a close frame with a code, of {len} bytes"
        );
        let mut payload = vec![0; len];
        socket.read_exact(&mut payload).await.unwrap();
        let code = u16::from_be_bytes([payload[0], payload[1]]);
        (
            code,
            String::from_utf8(payload[2..].to_vec()).expect("a UTF-8 reason"),
        )
    })
    .await
    .expect("a close frame in time")
}

#[tokio::test]
async fn a_ping_over_125_bytes_is_closed_with_1002_and_counted_as_misbehaviour() {
    let (url, monitor) = start(ServerConfig::new(), Router::new()).await;
    let mut socket = hand_upgraded(&url).await;
    socket.write_all(&client_frame(0x89, &[7; 126])).await.unwrap();
    let (code, reason) = read_close(&mut socket).await;
    assert_eq!(code, 1002);
    assert!(reason.starts_with("WebSocket protocol error: "), "{reason}");
    assert!(reason.contains("125"), "{reason}");
    wait_until("counted as misbehaviour", || {
        monitor.stats().closed_for_misbehaviour == 1
    })
    .await;
}

#[tokio::test]
async fn a_fragmented_ping_and_reserved_bits_are_closed_with_1002() {
    let (url, _) = start(ServerConfig::new(), Router::new()).await;
    // A ping without FIN; a binary frame with RSV1 set.
    for first_byte in [0x09, 0x80 | 0x40 | 0x02] {
        let mut socket = hand_upgraded(&url).await;
        socket.write_all(&client_frame(first_byte, b"x")).await.unwrap();
        let (code, reason) = read_close(&mut socket).await;
        assert_eq!(code, 1002, "{first_byte:#x}: {reason}");
    }
}

#[tokio::test]
async fn a_text_message_that_is_not_utf8_is_closed_with_1007() {
    let (url, _) = start(ServerConfig::new(), Router::new()).await;
    let mut socket = hand_upgraded(&url).await;
    socket
        .write_all(&client_frame(0x81, &[0xc3, 0x28]))
        .await
        .unwrap();
    let (code, reason) = read_close(&mut socket).await;
    assert_eq!(code, 1007);
    assert_eq!(reason, "a text message that is not UTF-8");
}

#[tokio::test]
async fn a_protocol_breach_during_the_login_is_closed_with_1002_too() {
    let config = ServerConfig::new().auth_token("s3cret");
    let (url, _) = start(config, Router::new()).await;
    let mut socket = hand_upgraded(&url).await;
    socket.write_all(&client_frame(0x89, &[7; 200])).await.unwrap();
    let (code, _) = read_close(&mut socket).await;
    assert_eq!(code, 1002);
}
