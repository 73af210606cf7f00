//! The axum example: one port serves an HTTP route and the Haystack
//! endpoint, which our client reaches with the subprotocol agreed.

#[path = "../examples/axum_mount.rs"]
#[allow(dead_code)]
mod example;

use haystack_wire::connection::{Client, ClientConfig};
use haystack_wire::Op;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn an_axum_app_serves_its_routes_and_the_haystack_endpoint_on_one_port() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, example::app(address)).await });

    let mut http = tokio::net::TcpStream::connect(address).await.unwrap();
    http.write_all(b"GET /health HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    http.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("ok"), "{answer}");

    let client = Client::connect(&format!("ws://{address}/haystack"), ClientConfig::new())
        .await
        .unwrap();
    let about = client.request(Op::About, b"").await.unwrap();
    assert!(String::from_utf8_lossy(&about).contains("\"serverName\":\"axum\""));
    // An op without a handler is answered through axum's socket too.
    let refused = client.request(Op::Read, b"").await;
    assert!(refused.is_err());
}

#[tokio::test]
async fn the_axum_route_refuses_a_page_of_another_site_with_403_before_the_upgrade() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, example::app(address)).await });

    let upgrade = |origin: &str| {
        format!(
            "GET /haystack HTTP/1.1\r\nHost: {address}\r\nOrigin: {origin}\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Sec-WebSocket-Version: 13\r\n\r\n"
        )
    };
    let status_line = |request: String| async move {
        let mut http = tokio::net::TcpStream::connect(address).await.unwrap();
        http.write_all(request.as_bytes()).await.unwrap();
        let mut line = Vec::new();
        while !line.ends_with(b"\r\n") {
            let mut byte = [0; 1];
            assert_eq!(http.read(&mut byte).await.unwrap(), 1, "no status line");
            line.push(byte[0]);
        }
        String::from_utf8_lossy(&line).into_owned()
    };
    let refused = status_line(upgrade("https://evil.example")).await;
    assert!(refused.starts_with("HTTP/1.1 403"), "{refused}");
    let upgraded = status_line(upgrade(&format!("http://{address}"))).await;
    assert!(upgraded.starts_with("HTTP/1.1 101"), "{upgraded}");
}
