//! The client's caps on what a server sends before the handshake is done,
//! against fake servers on 127.0.0.1 that answer the upgrade and then send
//! far too much; and the cap lifted once the handshake is done, against a
//! real server. Every wait bounded in time.

use std::time::Duration;

use haystack_wire::connection::{
    Client, ClientConfig, ClientError, HandshakeCap, Router, Server, ServerConfig,
};
use haystack_wire::protocol::handshake::SUBPROTOCOL;
use haystack_wire::{Compression, Op};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

/// How long any one wait in these tests may take before it counts as a failure.
const PATIENCE: Duration = Duration::from_secs(10);

/// The capability answer the fake servers announce: 50 MB.
const HUGE: usize = 50_000_000;

/// A client that opens with the capability handshake.
fn offering() -> ClientConfig {
    ClientConfig::new().compression([Compression::Zlib])
}

/// Reads an HTTP head and returns it as text.
async fn read_head(socket: &mut TcpStream) -> String {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0; 1];
        assert_eq!(
            socket.read(&mut byte).await.unwrap(),
            1,
            "the client sent no head"
        );
        head.push(byte[0]);
    }
    String::from_utf8(head).unwrap()
}

/// The 101 answer to an upgrade `request`, naming the subprotocol, with `extra` fields.
fn switching(request: &str, extra: &str) -> String {
    let key = request
        .split("\r\n")
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("sec-websocket-key")
                .then(|| value.trim())
        })
        .expect("a Sec-WebSocket-Key");
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\nSec-WebSocket-Protocol: {SUBPROTOCOL}\r\n{extra}\r\n",
        derive_accept_key(key.as_bytes())
    )
}

/// The header of an unmasked text frame of `len` bytes.
fn text_header(len: usize) -> Vec<u8> {
    let mut header = vec![0x81];
    match len {
        0..=125 => header.push(len as u8),
        126..=0xffff => {
            header.push(126);
            header.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            header.push(127);
            header.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    header
}

/// Writes `total` bytes of a message body in 64 KiB pieces; how many went
/// out before the socket failed, and whether it failed.
async fn stream_body(socket: &mut TcpStream, total: usize) -> (usize, bool) {
    let piece = vec![b'a'; 64 << 10];
    let mut written = 0;
    while written < total {
        let n = piece.len().min(total - written);
        if socket.write_all(&piece[..n]).await.is_err() {
            return (written, true);
        }
        written += n;
    }
    (written, false)
}

/// A fake server for one connection: `serve` gets the socket after the
/// client's upgrade head was read. Returns its URL and its task.
async fn fake<F, Fut, T>(serve: F) -> (String, JoinHandle<T>)
where
    F: FnOnce(TcpStream, String) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = T> + Send,
    T: Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let request = read_head(&mut socket).await;
        serve(socket, request).await
    });
    (url, task)
}

/// A fake server that answers the upgrade, then a 50 MB text message.
async fn huge_answer_server() -> (String, JoinHandle<(usize, bool)>) {
    fake(|mut socket, request| async move {
        socket
            .write_all(switching(&request, "").as_bytes())
            .await
            .unwrap();
        socket.write_all(&text_header(HUGE)).await.unwrap();
        stream_body(&mut socket, HUGE).await
    })
    .await
}

/// Asserts `result` failed on the cap of everything before the handshake,
/// having read nothing past it.
fn assert_connection_cap<T>(result: Result<T, ClientError>) {
    match result {
        Err(ClientError::HandshakeTooLarge {
            cap: HandshakeCap::Connection,
            limit,
            arrived,
            ..
        }) => {
            assert_eq!(limit, ClientConfig::MAX_HANDSHAKE_BYTES);
            assert_eq!(arrived, limit + 1, "read past the cap");
        }
        Err(other) => panic!("failed otherwise: {other}"),
        Ok(_) => panic!("connected"),
    }
}

/// The fake server's write of the message failed before its end: the
/// client stopped reading and dropped the connection.
async fn assert_client_left(server: JoinHandle<(usize, bool)>) {
    let (written, failed) = tokio::time::timeout(PATIENCE, server)
        .await
        .expect("the fake server's writes end in time")
        .unwrap();
    assert!(failed, "the client took all {written} bytes");
    assert!(written < HUGE, "the client took all {written} bytes");
}

#[tokio::test]
async fn a_50_mb_capability_answer_fails_the_connect_on_the_cap_without_being_read() {
    let (url, server) = huge_answer_server().await;
    let result = tokio::time::timeout(PATIENCE, Client::connect(&url, offering()))
        .await
        .expect("the connect ends in time");
    let Err(error) = &result else {
        panic!("connected");
    };
    let words = error.to_string();
    assert!(
        words.contains("the server sent more than 65536 bytes before the handshake was done"),
        "{words}"
    );
    assert_connection_cap(result);
    assert_client_left(server).await;
}

#[tokio::test]
async fn connect_over_a_stream_of_the_callers_has_the_same_cap() {
    let (url, server) = huge_answer_server().await;
    let address = url.trim_start_matches("ws://");
    let stream = TcpStream::connect(address).await.unwrap();
    let result = tokio::time::timeout(PATIENCE, Client::connect_over(stream, &url, offering()))
        .await
        .expect("the connect ends in time");
    assert_connection_cap(result);
    assert_client_left(server).await;
}

#[tokio::test]
async fn an_upgrade_response_over_the_cap_fails_the_connect() {
    let (url, _server) = fake(|mut socket, request| async move {
        let padding = format!("X-Padding: {}\r\n", "p".repeat(40 << 10));
        let answer = switching(&request, &padding.repeat(2));
        let _ = socket.write_all(answer.as_bytes()).await;
        socket
    })
    .await;
    let result = tokio::time::timeout(PATIENCE, Client::connect(&url, ClientConfig::new()))
        .await
        .expect("the connect ends in time");
    assert_connection_cap(result);
}

#[tokio::test]
async fn login_messages_over_the_cap_fail_the_connect_on_the_cap_not_the_login() {
    let (url, _server) = fake(|mut socket, request| async move {
        socket
            .write_all(switching(&request, "").as_bytes())
            .await
            .unwrap();
        // An "answer" to the hello, far over the cap.
        let body = format!("{{\"type\":\"{}\"}}", "x".repeat(100 << 10));
        let _ = socket.write_all(&text_header(body.len())).await;
        let _ = socket.write_all(body.as_bytes()).await;
        socket
    })
    .await;
    let config = ClientConfig::new().login("alice", "secret");
    let result = tokio::time::timeout(PATIENCE, Client::connect(&url, config))
        .await
        .expect("the connect ends in time");
    assert_connection_cap(result);
}

#[tokio::test]
async fn a_capability_answer_over_4_kib_fails_the_connect_naming_its_length() {
    let (url, server) = fake(|mut socket, request| async move {
        socket
            .write_all(switching(&request, "").as_bytes())
            .await
            .unwrap();
        let answer = format!(
            "{{\"type\":\"hs-handshake\",\"pad\":\"{}\"}}",
            "x".repeat(10 << 10)
        );
        socket.write_all(&text_header(answer.len())).await.unwrap();
        socket.write_all(answer.as_bytes()).await.unwrap();
        (socket, answer.len())
    })
    .await;
    let result = tokio::time::timeout(PATIENCE, Client::connect(&url, offering()))
        .await
        .expect("the connect ends in time");
    let (_socket, sent) = server.await.unwrap();
    match result {
        Err(ClientError::HandshakeTooLarge {
            cap: HandshakeCap::CapabilityAnswer,
            limit,
            arrived,
            ..
        }) => {
            assert_eq!(limit, ClientConfig::MAX_CAPABILITY_ANSWER);
            assert_eq!(arrived, sent);
        }
        Err(other) => panic!("failed otherwise: {other}"),
        Ok(_) => panic!("connected"),
    }
}

#[tokio::test]
async fn after_the_handshake_the_cap_is_lifted_and_large_responses_come_whole() {
    const LARGE: usize = 1 << 20;
    // Noise, so that the compressed frames are as large as the response.
    let mut state = 0x2545_f491_u32;
    let noise: Vec<u8> = (0..LARGE)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state as u8
        })
        .collect();
    let router = Router::new().route(Op::About, move |_| {
        let noise = noise.clone();
        async move { Ok(noise) }
    });
    let config = ServerConfig::new().compression([Compression::Zlib]);
    let server = Server::bind("127.0.0.1:0", config, router).await.unwrap();
    let url = format!("ws://{}", server.local_addr().unwrap());
    tokio::spawn(server.run());
    // With the capability handshake, and without it (v1).
    for config in [offering(), ClientConfig::new()] {
        let client = tokio::time::timeout(PATIENCE, Client::connect(&url, config))
            .await
            .expect("connects in time")
            .expect("connects");
        let answer = client.request(Op::About, b"").await.unwrap();
        assert_eq!(answer.len(), LARGE);
        client.close().await;
    }
}
