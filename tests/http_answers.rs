//! What a `Server` answers at the HTTP layer, before any WebSocket exists:
//! malformed upgrades, a slow head, plain requests, origins. A real server
//! on 127.0.0.1 and raw TCP connections; every read bounded in time.

use std::time::Duration;

use haystack_wire::connection::{Monitor, Router, Server, ServerConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long any one wait in these tests may take before it counts as a failure.
const PATIENCE: Duration = Duration::from_secs(10);

/// A key of 16 bytes in base64 (RFC 6455's example).
const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

async fn start(config: ServerConfig) -> (String, Monitor) {
    let server = Server::bind("127.0.0.1:0", config, Router::new()).await.unwrap();
    let address = server.local_addr().unwrap().to_string();
    let monitor = server.monitor();
    tokio::spawn(server.run());
    (address, monitor)
}

/// An upgrade request for `address` with `fields` in place of (or besides) the usual ones.
fn upgrade(address: &str, replace: &[(&str, Option<&str>)]) -> String {
    upgrade_with_line("GET / HTTP/1.1", address, replace)
}

fn upgrade_with_line(line: &str, address: &str, replace: &[(&str, Option<&str>)]) -> String {
    let mut fields = vec![
        ("Host", Some(address.to_owned())),
        ("Upgrade", Some("websocket".to_owned())),
        ("Connection", Some("Upgrade".to_owned())),
        ("Sec-WebSocket-Key", Some(KEY.to_owned())),
        ("Sec-WebSocket-Version", Some("13".to_owned())),
    ];
    for (name, value) in replace {
        match fields.iter_mut().find(|(n, _)| n == name) {
            Some(field) => field.1 = value.map(str::to_owned),
            None => fields.push((name, value.map(str::to_owned))),
        }
    }
    let mut request = format!("{line}\r\n");
    for (name, value) in fields {
        if let Some(value) = value {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    request.push_str("\r\n");
    request
}

/// Sends `request` and reads everything until the server closes.
async fn answer_to(address: &str, request: &str) -> String {
    let mut socket = TcpStream::connect(address).await.unwrap();
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(PATIENCE, socket.read_to_end(&mut answer))
        .await
        .expect("the server closed the connection in time")
        .expect("the answer is read");
    String::from_utf8_lossy(&answer).into_owned()
}

/// Sends an upgrade and reads the response head; the socket stays open
/// when it is a 101.
async fn upgraded(address: &str, request: &str) -> (String, TcpStream) {
    let mut socket = TcpStream::connect(address).await.unwrap();
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    tokio::time::timeout(PATIENCE, async {
        while !head.ends_with(b"\r\n\r\n") {
            let mut byte = [0; 1];
            if socket.read(&mut byte).await.unwrap() == 0 {
                break;
            }
            head.push(byte[0]);
        }
    })
    .await
    .expect("an answer in time");
    (String::from_utf8_lossy(&head).into_owned(), socket)
}

fn status_line(answer: &str) -> &str {
    answer.split("\r\n").next().unwrap_or_default()
}

fn body(answer: &str) -> &str {
    answer.split_once("\r\n\r\n").map_or("", |(_, body)| body)
}

#[tokio::test]
async fn each_malformed_upgrade_is_answered_400_naming_what_is_wrong_and_a_bad_version_426() {
    let (address, monitor) = start(ServerConfig::new()).await;
    let cases: Vec<(String, &str, &str)> = vec![
        (
            upgrade_with_line("POST / HTTP/1.1", &address, &[]),
            "HTTP/1.1 400 Bad Request",
            "a WebSocket upgrade is a GET, not POST\n",
        ),
        (
            upgrade_with_line("GET / HTTP/1.0", &address, &[]),
            "HTTP/1.1 400 Bad Request",
            "a WebSocket upgrade needs HTTP/1.1, not HTTP/1.0\n",
        ),
        (
            upgrade(&address, &[("Connection", Some("keep-alive"))]),
            "HTTP/1.1 400 Bad Request",
            "the Connection field has no upgrade token\n",
        ),
        (
            upgrade(&address, &[("Upgrade", Some("h2c"))]),
            "HTTP/1.1 400 Bad Request",
            "the Upgrade field is not websocket\n",
        ),
        (
            upgrade(&address, &[("Sec-WebSocket-Key", None)]),
            "HTTP/1.1 400 Bad Request",
            "no Sec-WebSocket-Key\n",
        ),
        (
            upgrade(
                &address,
                &[("Sec-WebSocket-Key", Some("not base64 at all!!!!!!!"))],
            ),
            "HTTP/1.1 400 Bad Request",
            "Sec-WebSocket-Key is not the base64 of 16 bytes\n",
        ),
        (
            upgrade(&address, &[("Sec-WebSocket-Key", Some("c2hvcnQ="))]),
            "HTTP/1.1 400 Bad Request",
            "Sec-WebSocket-Key is not the base64 of 16 bytes\n",
        ),
        (
            "\x16\x03\x01\x02\x00 not http\r\n\r\n".to_owned(),
            "HTTP/1.1 400 Bad Request",
            "not an HTTP/1.x request\n",
        ),
        (
            upgrade(&address, &[("Sec-WebSocket-Version", Some("8"))]),
            "HTTP/1.1 426 Upgrade Required",
            "Sec-WebSocket-Version 8 is not 13, the version this server speaks\n",
        ),
        (
            upgrade(&address, &[("Sec-WebSocket-Version", None)]),
            "HTTP/1.1 426 Upgrade Required",
            "no Sec-WebSocket-Version; this server speaks 13\n",
        ),
    ];
    let count = cases.len() as u64;
    for (request, status, reason) in cases {
        let answer = answer_to(&address, &request).await;
        assert_eq!(status_line(&answer), status, "{request}");
        assert_eq!(body(&answer), reason, "{request}");
        assert!(
            answer.contains("\r\nContent-Type: text/plain; charset=utf-8\r\n"),
            "{answer}"
        );
        assert!(answer.contains("\r\nConnection: close\r\n"), "{answer}");
        if status.contains("426") {
            assert!(answer.contains("\r\nSec-WebSocket-Version: 13\r\n"), "{answer}");
        }
    }
    // Each was a client's fault, counted as such.
    let started = tokio::time::Instant::now();
    while monitor.stats().closed_for_misbehaviour < count {
        assert!(started.elapsed() < PATIENCE, "{:?}", monitor.stats());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_plain_request_to_a_server_without_pages_is_answered_426_upgrade_websocket() {
    let (address, _) = start(ServerConfig::new()).await;
    let answer = answer_to(&address, &format!("GET / HTTP/1.1\r\nHost: {address}\r\n\r\n")).await;
    assert_eq!(status_line(&answer), "HTTP/1.1 426 Upgrade Required");
    assert!(answer.contains("\r\nUpgrade: websocket\r\n"), "{answer}");
    assert_eq!(
        body(&answer),
        "this address speaks WebSocket only: send a WebSocket upgrade\n"
    );
}

#[tokio::test]
async fn a_head_still_arriving_at_the_deadline_is_answered_408() {
    let config = ServerConfig::new().handshake_timeout(Duration::from_millis(200));
    let (address, _) = start(config).await;
    let mut socket = TcpStream::connect(&address).await.unwrap();
    socket
        .write_all(format!("GET / HTTP/1.1\r\nHost: {address}\r\nUpgrade: web").as_bytes())
        .await
        .unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(PATIENCE, socket.read_to_end(&mut answer))
        .await
        .expect("the server closed the connection in time")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert_eq!(status_line(&answer), "HTTP/1.1 408 Request Timeout");
    assert_eq!(body(&answer), "no complete request head in time\n");
}

#[tokio::test]
async fn a_cross_origin_upgrade_is_answered_403_and_never_upgraded() {
    let (address, _) = start(ServerConfig::new()).await;
    let request = upgrade(&address, &[("Origin", Some("https://evil.example"))]);
    let answer = answer_to(&address, &request).await;
    assert_eq!(status_line(&answer), "HTTP/1.1 403 Forbidden");
    assert!(!answer.contains("101"), "{answer}");
    assert_eq!(
        body(&answer),
        "origin https://evil.example is not allowed: not this server's own (127.0.0.1) and not on its \
         allow-list\n"
    );
}

#[tokio::test]
async fn same_origin_no_origin_and_an_allowed_origin_are_upgraded() {
    let config = ServerConfig::new().allow_origin("https://App.Example").unwrap();
    let (address, _) = start(config).await;
    let own = format!("http://{address}");
    for origin in [None, Some(own.as_str()), Some("https://app.example:443")] {
        let request = upgrade(&address, &[("Origin", origin)]);
        let (head, _) = upgraded(&address, &request).await;
        assert!(
            head.starts_with("HTTP/1.1 101 Switching Protocols\r\n"),
            "{origin:?}: {head}"
        );
    }
    // A loopback name is the server's own too.
    let port = address.rsplit(':').next().unwrap();
    let host = format!("localhost:{port}");
    let request = upgrade(
        &address,
        &[("Host", Some(&host)), ("Origin", Some(&format!("http://{host}")))],
    );
    let (head, _) = upgraded(&address, &request).await;
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
}

#[tokio::test]
async fn a_rebound_name_on_a_loopback_listener_is_answered_403_unless_allowed() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let host = format!("evil.example:{}", listener.local_addr().unwrap().port());
    let origin = format!("http://{host}");
    let server = Server::from_listener(listener, ServerConfig::new(), Router::new());
    tokio::spawn(server.run());
    let request = upgrade(&address, &[("Host", Some(&host)), ("Origin", Some(&origin))]);
    let answer = answer_to(&address, &request).await;
    assert_eq!(status_line(&answer), "HTTP/1.1 403 Forbidden");
    assert_eq!(
        body(&answer),
        format!(
            "origin {origin} is not allowed: a loopback server lets in its own origin only under a \
             loopback name (localhost, 127.0.0.1, [::1])\n"
        )
    );

    // Named on the allow-list, the same request is let in.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let host = format!("evil.example:{}", listener.local_addr().unwrap().port());
    let origin = format!("http://{host}");
    let config = ServerConfig::new().allow_origin(&origin).unwrap();
    tokio::spawn(Server::from_listener(listener, config, Router::new()).run());
    let request = upgrade(&address, &[("Host", Some(&host)), ("Origin", Some(&origin))]);
    let (head, _) = upgraded(&address, &request).await;
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
}

#[tokio::test]
async fn star_lets_every_origin_in() {
    let (address, _) = start(ServerConfig::new().allow_origin("*").unwrap()).await;
    let request = upgrade(&address, &[("Origin", Some("https://evil.example"))]);
    let (head, _) = upgraded(&address, &request).await;
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
}

#[tokio::test]
async fn a_good_upgrade_is_answered_101_once_its_head_is_checked() {
    let (address, _) = start(ServerConfig::new()).await;
    let (head, _) = upgraded(&address, &upgrade(&address, &[])).await;
    assert!(head.starts_with("HTTP/1.1 101 Switching Protocols\r\n"), "{head}");
}
