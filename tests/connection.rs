//! The connection layer, our client against our server, and each of them
//! against a bare WebSocket peer that shows what goes over the wire.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use haystack_wire::connection::{
    error_dis, error_grid, Answer, Capabilities, Client, ClientConfig, ClientError, Fault, Offer, Reply,
    Router, Server, ServerConfig, Session, Subscribers,
};
use haystack_wire::protocol::{defaults, handshake, Version};
use haystack_wire::{BaseHeader, Compression, Decoder, Encoder, Flags, Frame, Op};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::server::{
    ErrorResponse, Request as HttpRequest, Response as HttpResponse,
};
use tokio_tungstenite::tungstenite::http::header::SEC_WEBSOCKET_PROTOCOL;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

/// A router whose `read` echoes the request and whose `hisRead` answers
/// with `len` bytes made from the request.
fn echo_router() -> Router {
    Router::new()
        .route(Op::Read, |request| async move { Ok(request.payload) })
        .route(Op::HisRead, |request| async move {
            let len: usize = String::from_utf8_lossy(&request.payload)
                .parse()
                .map_err(|_| Fault::new("bad length"))?;
            Ok(payload(len))
        })
        .route(Op::About, |_| async {
            Reply::Err(Fault::new("about is broken today"))
        })
        .route(Op::Formats, a_handler_with_a_bug)
}

/// A handler that panics.
async fn a_handler_with_a_bug(_: haystack_wire::connection::Request) -> Reply {
    panic!("a handler bug")
}

/// `len` bytes that compress but are not all alike.
fn payload(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| b"haystack grid payload "[i % 22] ^ (i / 1000) as u8)
        .collect()
}

async fn start(config: ServerConfig, router: Router) -> String {
    let server = Server::bind("127.0.0.1:0", config, router).await.unwrap();
    let url = format!("ws://{}", server.local_addr().unwrap());
    tokio::spawn(server.run());
    url
}

#[tokio::test]
async fn a_v1_client_sends_no_handshake_and_gets_plain_frames() {
    let url = start(
        ServerConfig::new().compression([Compression::Zlib]).chunked(true),
        echo_router(),
    )
    .await;
    let client = Client::connect(&url, ClientConfig::new()).await.unwrap();
    assert_eq!(client.session(), Session::V1);
    let big = payload(300_000);
    assert_eq!(client.request(Op::Read, &big).await.unwrap(), big);
    let small = b"{}".to_vec();
    assert_eq!(client.request(Op::Read, &small).await.unwrap(), small);
}

#[tokio::test]
async fn the_handshake_agrees_on_the_clients_first_supported_algorithm() {
    let url = start(
        ServerConfig::new()
            .compression([Compression::Zlib, Compression::Lzma])
            .chunked(true),
        echo_router(),
    )
    .await;
    let config = ClientConfig::new()
        .compression([Compression::Lzma, Compression::Zlib])
        .chunked(true);
    let client = Client::connect(&url, config).await.unwrap();
    assert_eq!(
        client.session(),
        Session {
            version: Version::V2,
            compression: Some(Compression::Lzma),
            chunked: true
        }
    );
    // A request over the threshold goes out chunked, and the response comes back chunked.
    let big = payload(700_000);
    assert_eq!(client.request(Op::Read, &big).await.unwrap(), big);

    let url = start(
        ServerConfig::new().compression([Compression::Zlib]),
        echo_router(),
    )
    .await;
    let config = ClientConfig::new().compression([Compression::Lzma]).chunked(true);
    let client = Client::connect(&url, config).await.unwrap();
    assert_eq!(
        client.session(),
        Session {
            version: Version::V2,
            compression: None,
            chunked: false
        }
    );
    assert_eq!(client.request(Op::Read, &big).await.unwrap(), big);
}

/// Connects a bare WebSocket, sends the offer and returns the answer text.
async fn bare_client(
    url: &str,
    offer: &Offer,
) -> (
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    Answer,
) {
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    socket.send(Message::text(offer.to_json())).await.unwrap();
    let Some(Ok(Message::Text(answer))) = socket.next().await else {
        panic!("no answer")
    };
    (socket, Answer::parse(&answer).unwrap())
}

async fn next_frame(
    socket: &mut tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
) -> Vec<u8> {
    loop {
        match socket.next().await {
            Some(Ok(Message::Binary(frame))) => return frame.to_vec(),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            other => panic!("expected a frame, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn the_server_chunks_and_compresses_only_what_was_agreed() {
    let url = start(
        ServerConfig::new().compression([Compression::Zlib]).chunked(true),
        echo_router(),
    )
    .await;
    let len = defaults::CHUNK_SIZE * 2 + 10;

    let (mut socket, answer) = bare_client(
        &url,
        &Offer::new(&Capabilities::new().compression([Compression::Zlib]).chunked(true)),
    )
    .await;
    assert_eq!(answer.compression.as_deref(), Some(Compression::Zlib.name()));
    assert!(answer.chunked);
    let request = Encoder::new()
        .request(5, Op::HisRead, len.to_string().as_bytes())
        .unwrap();
    socket.send(Message::binary(request)).await.unwrap();
    let mut decoder = Decoder::new();
    for index in 0..3u16 {
        let frame = next_frame(&mut socket).await;
        let view = Frame::decode(&frame).unwrap();
        assert_eq!(view.request_id(), 5);
        assert_eq!(view.compression(), Some(Compression::Zlib));
        let chunk = view.chunk().expect("a chunk");
        assert_eq!((chunk.index, chunk.total), (index, 3));
        if let Some(message) = decoder.decode(&frame).unwrap() {
            assert_eq!(index, 2);
            assert_eq!(message.payload.as_ref(), payload(len).as_slice());
        }
    }

    // A client that did not ask for chunks gets one compressed frame.
    let (mut socket, answer) = bare_client(
        &url,
        &Offer::new(&Capabilities::new().compression([Compression::Zlib])),
    )
    .await;
    assert!(!answer.chunked);
    let request = Encoder::new()
        .request(6, Op::HisRead, len.to_string().as_bytes())
        .unwrap();
    socket.send(Message::binary(request)).await.unwrap();
    let frame = next_frame(&mut socket).await;
    let view = Frame::decode(&frame).unwrap();
    assert_eq!(
        (view.chunk(), view.compression()),
        (None, Some(Compression::Zlib))
    );

    // And one that offered nothing gets a plain v1 frame.
    let (mut socket, answer) = bare_client(&url, &Offer::new(&Capabilities::new())).await;
    assert_eq!(answer.compression, None);
    socket
        .send(Message::binary(
            Encoder::new().request(7, Op::HisRead, b"2000").unwrap(),
        ))
        .await
        .unwrap();
    let frame = next_frame(&mut socket).await;
    let view = Frame::decode(&frame).unwrap();
    assert_eq!(view.flags(), Flags::RESPONSE);
    assert_eq!(view.payload, payload(2000).as_slice());
}

/// Names the subprotocol in the upgrade response, as every Haystack server does.
#[allow(clippy::result_large_err)] // tungstenite's callback signature
fn name_subprotocol(_: &HttpRequest, mut response: HttpResponse) -> Result<HttpResponse, ErrorResponse> {
    response.headers_mut().insert(
        SEC_WEBSOCKET_PROTOCOL,
        HeaderValue::from_static(handshake::SUBPROTOCOL),
    );
    Ok(response)
}

/// A WebSocket server that never answers the offer and echoes each request
/// as a v1 response.
async fn silent_v1_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut socket = tokio_tungstenite::accept_hdr_async(stream, name_subprotocol)
                    .await
                    .unwrap();
                let mut encoder = Encoder::new();
                while let Some(Ok(message)) = socket.next().await {
                    if let Message::Binary(frame) = message {
                        let request = Frame::decode(&frame).unwrap();
                        let response = encoder
                            .response(request.request_id(), request.op(), request.payload, false)
                            .unwrap();
                        socket.send(Message::binary(response)).await.unwrap();
                    }
                }
            });
        }
    });
    url
}

#[tokio::test]
async fn a_client_without_an_answer_falls_back_to_v1() {
    let url = silent_v1_server().await;
    let config = ClientConfig::new()
        .compression([Compression::Zlib])
        .chunked(true)
        .handshake_timeout(Duration::from_millis(200));
    let client = Client::connect(&url, config).await.unwrap();
    assert_eq!(client.session(), Session::V1);
    // The fallback sends v1 frames, which this server reads.
    let big = payload(5_000);
    assert_eq!(client.request(Op::Read, &big).await.unwrap(), big);
}

#[tokio::test(start_paused = true)]
async fn the_default_fallback_waits_the_specs_timeout() {
    let url = silent_v1_server().await;
    let started = tokio::time::Instant::now();
    let config = ClientConfig::new().compression([Compression::Zlib]);
    let client = Client::connect(&url, config).await.unwrap();
    assert_eq!(client.session(), Session::V1);
    // The paused clock moves only by timers, so this is the handshake's wait, exactly.
    assert!(started.elapsed() >= handshake::FALLBACK_TIMEOUT);
    assert!(started.elapsed() < handshake::FALLBACK_TIMEOUT + Duration::from_secs(1));
}

#[tokio::test]
async fn failures_come_back_as_error_grids_with_their_dis() {
    let url = start(ServerConfig::new(), echo_router()).await;
    let client = Client::connect(&url, ClientConfig::new()).await.unwrap();
    let remote = |result: Result<Vec<u8>, ClientError>| match result {
        Err(ClientError::Remote { dis, payload, .. }) => {
            assert_eq!(error_dis(&payload).as_deref(), Some(dis.as_str()));
            dis
        }
        other => panic!("expected an error response, got {other:?}"),
    };
    assert_eq!(
        remote(client.request(Op::About, b"").await),
        "about is broken today"
    );
    assert_eq!(
        remote(client.request(Op::Nav, b"").await),
        "op `nav` is not supported by this server"
    );
    assert_eq!(
        remote(client.request(Op::Formats, b"").await),
        "the `formats` handler failed"
    );
    assert_eq!(remote(client.request(Op::HisRead, b"many").await), "bad length");
    // The connection survives all of them.
    assert_eq!(client.request(Op::Read, b"ok").await.unwrap(), b"ok");
}

#[tokio::test]
async fn a_frame_the_server_cannot_decompress_is_answered_with_an_error() {
    let url = start(ServerConfig::new(), echo_router()).await;
    let (mut socket, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    let mut frame = Encoder::new()
        .with_compression(Some(Compression::Zlib))
        .request(9, Op::Read, &payload(5000))
        .unwrap();
    frame.truncate(frame.len() - 10);
    socket.send(Message::binary(frame)).await.unwrap();
    let response = next_frame(&mut socket).await;
    let view = Frame::decode(&response).unwrap();
    assert_eq!((view.request_id(), view.op()), (9, Op::Read));
    assert!(view.flags().contains(Flags::ERROR));
    let dis = error_dis(view.payload).unwrap();
    assert!(dis.starts_with("request refused: zlib data of"), "{dis}");

    // A frame whose header cannot be read closes the connection.
    socket.send(Message::binary(vec![0xff, 0, 1, 1])).await.unwrap();
    match socket.next().await {
        Some(Ok(Message::Close(Some(close)))) => {
            assert_eq!(close.code, CloseCode::Protocol);
            assert!(
                close.reason.starts_with("unreadable frame header: "),
                "{}",
                close.reason
            );
        }
        other => panic!("expected a close, got {other:?}"),
    }
}

#[tokio::test]
async fn two_thousand_concurrent_requests_are_each_answered_with_their_own_response() {
    let url = start(
        ServerConfig::new().compression([Compression::Zlib]),
        echo_router(),
    )
    .await;
    let client = Client::connect(&url, ClientConfig::new().compression([Compression::Zlib]))
        .await
        .unwrap();
    let tasks: Vec<_> = (0..2000)
        .map(|n| {
            let client = client.clone();
            tokio::spawn(async move {
                // Every tenth request is large enough to be compressed.
                let body = if n % 10 == 0 {
                    format!("{n}:{}", "x".repeat(2000))
                } else {
                    n.to_string()
                };
                let answer = client.request(Op::Read, body.as_bytes()).await.unwrap();
                answer == body.as_bytes()
            })
        })
        .collect();
    let mut matched = 0;
    for task in tasks {
        matched += usize::from(task.await.unwrap());
    }
    assert_eq!(matched, 2000);
    assert_eq!(client.unmatched_responses(), 0);
}

#[tokio::test]
async fn request_ids_wrap_past_u16_on_one_connection() {
    let url = start(ServerConfig::new(), echo_router()).await;
    let client = Client::connect(&url, ClientConfig::new()).await.unwrap();
    for n in 0..70_000u32 {
        let body = n.to_be_bytes();
        assert_eq!(client.request(Op::Read, &body).await.unwrap(), body);
    }
}

#[tokio::test]
async fn a_late_response_times_out_and_is_not_given_to_the_next_request() {
    let router = Router::new().route(Op::Read, |request| async move {
        if request.payload == b"slow" {
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        Ok(request.payload)
    });
    let url = start(ServerConfig::new(), router).await;
    let config = ClientConfig::new().request_timeout(Some(Duration::from_millis(50)));
    let client = Client::connect(&url, config).await.unwrap();
    match client.request(Op::Read, b"slow").await {
        Err(ClientError::Timeout { op: Op::Read, .. }) => {}
        other => panic!("expected a timeout, got {other:?}"),
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(client.unmatched_responses(), 1);
    assert_eq!(client.request(Op::Read, b"fast").await.unwrap(), b"fast");
}

#[tokio::test]
async fn pushes_reach_subscribed_connections_only() {
    let watchers = Arc::new(Subscribers::<String>::new());
    let subscribed = Arc::new(AtomicUsize::new(0));
    let router = {
        let watchers = Arc::clone(&watchers);
        let subscribed = Arc::clone(&subscribed);
        Router::new().route(Op::WatchSub, move |request| {
            let watchers = Arc::clone(&watchers);
            let subscribed = Arc::clone(&subscribed);
            async move {
                watchers.subscribe("w-1".to_owned(), &request.peer);
                subscribed.fetch_add(1, Ordering::SeqCst);
                Ok(b"{}".to_vec())
            }
        })
    };
    let url = start(
        ServerConfig::new().compression([Compression::Lzma]).chunked(true),
        router,
    )
    .await;
    let config = ClientConfig::new().compression([Compression::Lzma]).chunked(true);
    let watcher = Client::connect(&url, config.clone()).await.unwrap();
    let bystander = Client::connect(&url, config).await.unwrap();
    let mut pushes = watcher.pushes().expect("pushes");
    assert!(watcher.pushes().is_none(), "pushes are taken once");
    let mut bystander_pushes = bystander.pushes().unwrap();
    watcher.request(Op::WatchSub, b"{}").await.unwrap();
    assert_eq!(subscribed.load(Ordering::SeqCst), 1);

    let small = b"{\"changed\":1}".to_vec();
    let large = payload(600_000);
    assert_eq!(watchers.push(&"w-1".to_owned(), Op::WatchPoll, &small), 1);
    assert_eq!(watchers.push(&"w-1".to_owned(), Op::WatchPoll, &large), 1);
    let first = pushes.next().await.unwrap();
    assert_eq!((first.op, first.payload), (Op::WatchPoll, small));
    let second = pushes.next().await.unwrap();
    assert_eq!(second.payload, large);

    // The bystander never subscribed.
    let nothing = tokio::time::timeout(Duration::from_millis(100), bystander_pushes.next()).await;
    assert!(nothing.is_err(), "the bystander got a push");

    // Once the watcher is gone, pushing to it reaches nobody and forgets it.
    watcher.close().await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(watchers.push(&"w-1".to_owned(), Op::WatchPoll, b"{}"), 0);
    assert!(!watchers.has_subscribers(&"w-1".to_owned()));
}

#[tokio::test]
async fn one_push_reaches_subscribers_of_different_sessions_each_in_its_own_frames() {
    let watchers = Arc::new(Subscribers::<String>::new());
    let router = {
        let watchers = Arc::clone(&watchers);
        Router::new().route(Op::WatchSub, move |request| {
            let watchers = Arc::clone(&watchers);
            async move {
                watchers.subscribe("w-1".to_owned(), &request.peer);
                Ok(b"{}".to_vec())
            }
        })
    };
    let url = start(
        ServerConfig::new()
            .compression([Compression::Zlib, Compression::Lzma])
            .chunked(true),
        router,
    )
    .await;
    let configs = [
        ClientConfig::new(),
        ClientConfig::new().compression([Compression::Zlib]),
        ClientConfig::new().compression([Compression::Zlib]).chunked(true),
        ClientConfig::new().compression([Compression::Lzma]).chunked(true),
        ClientConfig::new().compression([Compression::Lzma]).chunked(true),
    ];
    let mut clients = Vec::new();
    for config in configs {
        let client = Client::connect(&url, config).await.unwrap();
        let pushes = client.pushes().unwrap();
        client.request(Op::WatchSub, b"{}").await.unwrap();
        clients.push((client, pushes));
    }
    let large = payload(700_000);
    assert_eq!(watchers.push_watch(&"w-1".to_owned(), "w-1", &large), 5);
    for (client, pushes) in &mut clients {
        let push = tokio::time::timeout(Duration::from_secs(10), pushes.next())
            .await
            .expect("the push arrives")
            .unwrap();
        assert_eq!(
            (push.op, push.payload.len()),
            (Op::WatchPoll, large.len()),
            "{:?}",
            client.session()
        );
        assert!(
            push.payload == large,
            "the payload of {:?} is the one pushed",
            client.session()
        );
    }
}

#[tokio::test]
async fn a_shared_payload_answers_many_clients_each_with_its_request_id_and_in_its_session() {
    let answer = haystack_wire::connection::Payload::shared(payload(500_000));
    let router = Router::new().route(Op::Read, move |_| {
        let answer = answer.clone();
        async move { Ok(answer) }
    });
    let url = start(
        ServerConfig::new()
            .compression([Compression::Zlib, Compression::Lzma])
            .chunked(true),
        router,
    )
    .await;
    let configs = [
        ClientConfig::new(),
        ClientConfig::new().compression([Compression::Zlib]),
        ClientConfig::new().compression([Compression::Zlib]).chunked(true),
        ClientConfig::new().compression([Compression::Lzma]),
    ];
    for config in configs {
        let client = Client::connect(&url, config).await.unwrap();
        // Several requests at once: each answer carries its own request id.
        let answers = futures_util::future::join_all((0..4).map(|_| client.request(Op::Read, b"{}"))).await;
        for answer in answers {
            assert!(answer.unwrap() == payload(500_000), "{:?}", client.session());
        }
    }
}

#[tokio::test]
async fn the_token_is_checked_before_anything_else() {
    let url = start(
        ServerConfig::new()
            .auth_token("s3cret")
            .compression([Compression::Zlib]),
        echo_router(),
    )
    .await;
    let config = ClientConfig::new().compression([Compression::Zlib]);
    let client = Client::connect(&url, config.clone().auth_token("s3cret"))
        .await
        .unwrap();
    assert_eq!(client.session().compression, Some(Compression::Zlib));
    assert_eq!(client.request(Op::Read, b"in").await.unwrap(), b"in");

    for wrong in [config.clone().auth_token("guess"), config] {
        match Client::connect(&url, wrong).await {
            Err(ClientError::Closed { reason }) => {
                assert!(reason.contains("authentication failed"), "{reason}")
            }
            Ok(client) => panic!("connected without the token: {:?}", client.session()),
            Err(other) => panic!("unexpected error {other}"),
        }
    }
}

#[tokio::test]
async fn the_error_grid_is_the_reference_shape() {
    let grid: serde_json::Value = serde_json::from_slice(&error_grid("boom")).unwrap();
    assert_eq!(grid["_kind"], "grid");
    assert_eq!(grid["meta"]["err"]["_kind"], "marker");
    assert_eq!(grid["meta"]["dis"], "boom");
    assert_eq!(
        BaseHeader::error_response(3, Op::Read).flags,
        Flags::RESPONSE.union(Flags::ERROR)
    );
}

#[tokio::test]
async fn the_server_names_the_subprotocol_a_client_offers() {
    let url = start(ServerConfig::new(), echo_router()).await;
    let mut request = url.as_str().into_client_request().unwrap();
    request.headers_mut().insert(
        SEC_WEBSOCKET_PROTOCOL,
        HeaderValue::from_static(handshake::SUBPROTOCOL),
    );
    let (_, response) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(response.headers()[SEC_WEBSOCKET_PROTOCOL], handshake::SUBPROTOCOL);
    // A client that names none is served without one.
    let (_, response) = tokio_tungstenite::connect_async(&url).await.unwrap();
    assert!(response.headers().get(SEC_WEBSOCKET_PROTOCOL).is_none());
}

#[tokio::test]
async fn a_server_that_accepts_but_never_upgrades_fails_the_connect_at_its_deadline() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}", listener.local_addr().unwrap());
    // Accepts, then says nothing, for at most 5 s.
    let holder = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        tokio::time::sleep(Duration::from_secs(5)).await;
        drop(stream);
    });
    let deadline = Duration::from_millis(300);
    let started = Instant::now();
    let outcome = tokio::time::timeout(
        Duration::from_secs(5),
        Client::connect(&url, ClientConfig::new().connect_timeout(deadline)),
    )
    .await
    .expect("the connect gave up by itself");
    let elapsed = started.elapsed();
    match outcome {
        Err(error @ ClientError::ConnectTimeout { .. }) => {
            let ClientError::ConnectTimeout { url: at, after } = &error else {
                unreachable!()
            };
            assert_eq!((at.as_str(), *after), (url.as_str(), deadline));
            let message = error.to_string();
            assert!(message.contains(&url) && message.contains("300ms"), "{message}");
        }
        Ok(client) => panic!(
            "connected to a server that never upgraded: {:?}",
            client.session()
        ),
        Err(other) => panic!("expected a connect timeout, got {other}"),
    }
    assert!(elapsed >= deadline, "gave up after {elapsed:?}");
    assert!(elapsed < deadline * 5, "gave up only after {elapsed:?}");
    holder.abort();
}

/// A WebSocket server that answers the first request only after pushing
/// `pushes` watch updates of `len` bytes each.
async fn pushing_server(pushes: usize, len: usize) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let mut socket = tokio_tungstenite::accept_hdr_async(stream, name_subprotocol)
            .await
            .unwrap();
        let mut encoder = Encoder::new();
        let update = payload(len);
        while let Some(Ok(message)) = socket.next().await {
            if let Message::Binary(frame) = message {
                let request = Frame::decode(&frame).unwrap();
                for _ in 0..pushes {
                    let push = encoder.push(Op::WatchPoll, &update).unwrap();
                    socket.send(Message::binary(push)).await.unwrap();
                }
                let response = encoder
                    .response(request.request_id(), request.op(), request.payload, false)
                    .unwrap();
                socket.send(Message::binary(response)).await.unwrap();
            }
        }
    });
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_nobody_takes_are_dropped_once_their_bytes_reach_the_budget() {
    const MIB: usize = 1 << 20;
    let sent = 100;
    let budget = 4 * MIB;
    let url = pushing_server(sent, MIB).await;
    let config = ClientConfig::new().push_budget(budget);
    let client = Client::connect(&url, config).await.unwrap();
    let pushes = client.pushes().unwrap();

    // Watches the queue while the pushes pour in, taking none of them.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let stop = Arc::clone(&stop);
        tokio::spawn(async move {
            let mut most = 0;
            while !stop.load(Ordering::Acquire) {
                most = most.max(pushes.queued_bytes());
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            (most.max(pushes.queued_bytes()), pushes)
        })
    };
    // The response comes after every push, so once it is here all were read.
    let answer = tokio::time::timeout(Duration::from_secs(30), client.request(Op::Read, b"go"))
        .await
        .expect("the pushes and the response arrived");
    assert_eq!(answer.unwrap(), b"go");
    stop.store(true, Ordering::Release);
    let (most, mut pushes) = sampler.await.unwrap();

    assert!(
        most <= budget,
        "{most} bytes queued, over the {budget}-byte budget"
    );
    assert_eq!((pushes.queued(), pushes.queued_bytes()), (4, budget));
    assert_eq!(client.dropped_pushes(), (sent - 4) as u64);
    // Taking a push frees its bytes; the ones kept are the oldest, intact.
    let first = pushes.next().await.unwrap();
    assert_eq!((first.op, first.payload), (Op::WatchPoll, payload(MIB)));
    assert_eq!(pushes.queued_bytes(), budget - MIB);
}

#[tokio::test]
async fn a_server_that_stops_reading_is_declared_dead_and_its_requests_fail() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}", listener.local_addr().unwrap());
    let (resume, resumed) = oneshot::channel::<()>();
    let (report, ended) = oneshot::channel::<bool>();
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let mut socket = tokio_tungstenite::accept_hdr_async(stream, name_subprotocol)
            .await
            .unwrap();
        // Reads nothing, so pings go unanswered and the request unread.
        let _ = tokio::time::timeout(Duration::from_secs(5), resumed).await;
        // Then reads what is left: the client must have dropped the socket.
        let gone = tokio::time::timeout(Duration::from_secs(2), async {
            while let Some(Ok(_)) = socket.next().await {}
        })
        .await
        .is_ok();
        let _ = report.send(gone);
    });

    let (ping, pong) = (Duration::from_millis(200), Duration::from_millis(200));
    let config = ClientConfig::new()
        .ping_interval(Some(ping))
        .pong_timeout(pong)
        .request_timeout(None);
    let started = Instant::now();
    let client = Client::connect(&url, config).await.unwrap();
    let outcome = tokio::time::timeout(Duration::from_secs(5), client.request(Op::Read, b"anyone?"))
        .await
        .expect("the request failed by itself");
    let elapsed = started.elapsed();
    match outcome {
        Err(ClientError::Unresponsive { silent_for }) => {
            assert!(silent_for >= ping + pong, "declared dead after {silent_for:?}")
        }
        other => panic!("expected the keepalive error, got {other:?}"),
    }
    assert!(elapsed >= ping + pong, "failed after {elapsed:?}");
    assert!(
        elapsed < ping + pong + Duration::from_secs(1),
        "failed only after {elapsed:?}"
    );
    // Later requests fail the same way, at once.
    assert!(matches!(
        client.request(Op::About, b"").await,
        Err(ClientError::Unresponsive { .. })
    ));
    resume.send(()).unwrap();
    assert!(ended.await.unwrap(), "the client kept the socket open");
}

#[tokio::test]
async fn keepalive_does_not_fire_on_a_healthy_idle_connection() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}", listener.local_addr().unwrap());
    let pings = Arc::new(AtomicUsize::new(0));
    {
        let pings = Arc::clone(&pings);
        // Reads all the time, so the socket answers each ping with a pong.
        tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let mut socket = tokio_tungstenite::accept_hdr_async(stream, name_subprotocol)
                .await
                .unwrap();
            let mut encoder = Encoder::new();
            while let Some(Ok(message)) = socket.next().await {
                match message {
                    Message::Ping(_) => {
                        pings.fetch_add(1, Ordering::SeqCst);
                    }
                    Message::Binary(frame) => {
                        let request = Frame::decode(&frame).unwrap();
                        let response = encoder
                            .response(request.request_id(), request.op(), request.payload, false)
                            .unwrap();
                        socket.send(Message::binary(response)).await.unwrap();
                    }
                    _ => {}
                }
            }
        });
    }
    let config = ClientConfig::new()
        .ping_interval(Some(Duration::from_millis(100)))
        .pong_timeout(Duration::from_millis(500));
    let client = Client::connect(&url, config).await.unwrap();
    // Ten intervals of silence from both sides.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(pings.load(Ordering::SeqCst) >= 3, "the client did not ping");
    let answer = tokio::time::timeout(Duration::from_secs(5), client.request(Op::Read, b"still here"))
        .await
        .expect("answered in time");
    assert_eq!(answer.unwrap(), b"still here");
}

#[tokio::test]
async fn a_response_under_an_op_this_client_does_not_know_fails_that_request_alone() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let mut socket = tokio_tungstenite::accept_hdr_async(stream, name_subprotocol)
            .await
            .unwrap();
        let mut encoder = Encoder::new();
        while let Some(Ok(message)) = socket.next().await {
            if let Message::Binary(frame) = message {
                let request = Frame::decode(&frame).unwrap();
                let mut response = encoder
                    .response(request.request_id(), request.op(), request.payload, false)
                    .unwrap();
                // A newer server answers `read` under an op byte this client does not know,
                // and pushes under it too.
                if request.op() == Op::Read {
                    response[BaseHeader::OP_OFFSET] = 200;
                    let mut push = encoder.push(Op::WatchPoll, b"{}").unwrap();
                    push[BaseHeader::OP_OFFSET] = 200;
                    socket.send(Message::binary(push)).await.unwrap();
                }
                socket.send(Message::binary(response)).await.unwrap();
            }
        }
    });
    let client = Client::connect(&url, ClientConfig::new()).await.unwrap();
    let started = std::time::Instant::now();
    let refused = client.request(Op::Read, b"{}").await;
    assert!(
        matches!(refused, Err(ClientError::Frame { op: Op::Read, .. })),
        "{refused:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the request waited for its timeout"
    );
    // The connection goes on.
    assert_eq!(client.request(Op::About, b"ok").await.unwrap(), b"ok");
}

#[tokio::test]
async fn a_server_and_a_client_talk_over_an_in_memory_pipe() {
    let (near, far) = tokio::io::duplex(64 << 10);
    let config = ServerConfig::new().compression([Compression::Zlib]).chunked(true);
    let served = tokio::spawn(haystack_wire::connection::serve_connection(
        far,
        Arc::new(config),
        Arc::new(echo_router()),
    ));
    let config = ClientConfig::new().compression([Compression::Zlib]).chunked(true);
    let client = Client::connect_over(near, "ws://in-memory/", config)
        .await
        .unwrap();
    assert!(client.session().chunked);
    let big = payload(600_000);
    assert_eq!(client.request(Op::Read, &big).await.unwrap(), big);
    client.close().await;
    let end = tokio::time::timeout(Duration::from_secs(10), served)
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(end, haystack_wire::connection::ConnectionEnd::ClientClosed),
        "{end}"
    );
}

#[tokio::test]
async fn the_configs_headers_go_with_the_upgrade_request() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}", listener.local_addr().unwrap());
    let (seen, heard) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let mut seen = Some(seen);
        // The signature is tungstenite's upgrade callback's.
        #[allow(clippy::result_large_err)]
        let callback = |request: &HttpRequest, response: HttpResponse| {
            let values: Vec<String> = request
                .headers()
                .get_all("x-site")
                .iter()
                .map(|value| value.to_str().unwrap().to_owned())
                .collect();
            let authorization = request.headers().get("authorization").cloned();
            if let Some(seen) = seen.take() {
                let _ = seen.send((authorization, values));
            }
            name_subprotocol(request, response)
        };
        let mut socket = tokio_tungstenite::accept_hdr_async(stream, callback)
            .await
            .unwrap();
        while let Some(Ok(_)) = socket.next().await {}
    });
    let config = ClientConfig::new()
        .header("Authorization", "Bearer s3cret")
        .header("X-Site", "north")
        .header("X-Site", "south");
    let _client = Client::connect(&url, config).await.unwrap();
    let (authorization, sites) = heard.await.unwrap();
    assert_eq!(authorization.unwrap(), "Bearer s3cret");
    assert_eq!(sites, ["north", "south"]);

    let refused = Client::connect(&url, ClientConfig::new().header("Bad Name", "x")).await;
    assert!(
        matches!(&refused, Err(ClientError::BadHeader { name, .. }) if name == "Bad Name"),
        "{refused:?}"
    );
}

#[tokio::test]
async fn a_websocket_upgraded_elsewhere_is_served_as_it_is() {
    let (near, far) = tokio::io::duplex(64 << 10);
    let served = tokio::spawn(async move {
        // The upgrade is the caller's, as an HTTP framework's would be.
        let socket = tokio_tungstenite::accept_hdr_async(far, name_subprotocol)
            .await
            .unwrap();
        let config = ServerConfig::new()
            .auth_token("s3cret")
            .compression([Compression::Zlib]);
        haystack_wire::connection::serve_websocket(socket, Arc::new(config), Arc::new(echo_router())).await
    });
    let config = ClientConfig::new()
        .auth_token("s3cret")
        .compression([Compression::Zlib]);
    let client = Client::connect_over(near, "ws://in-memory/", config)
        .await
        .unwrap();
    assert_eq!(client.session().compression, Some(Compression::Zlib));
    let big = payload(100_000);
    assert_eq!(client.request(Op::Read, &big).await.unwrap(), big);
    client.close().await;
    let end = tokio::time::timeout(Duration::from_secs(10), served)
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(end, haystack_wire::connection::ConnectionEnd::ClientClosed),
        "{end}"
    );
}
