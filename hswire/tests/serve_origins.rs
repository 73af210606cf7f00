//! Which web pages may open a WebSocket to `hswire serve`: its own page and
//! clients without an Origin by default, more with `--allow-origin`. A
//! server process on 127.0.0.1 and raw upgrade requests over TCP, every read
//! bounded in time.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

mod support;

use support::Serve;

/// The status line `hswire serve` answers an upgrade with `origin` (none
/// when `None`) and `host` with.
fn status_of_upgrade(serve: &Serve, origin: Option<&str>, host: &str) -> String {
    let mut stream = TcpStream::connect(serve.address()).expect("connects");
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let origin = origin
        .map(|origin| format!("Origin: {origin}\r\n"))
        .unwrap_or_default();
    let request = format!(
        "GET / HTTP/1.1\r\nHost: {host}\r\n{origin}Upgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).expect("sends the upgrade");
    let mut line = Vec::new();
    let mut byte = [0; 1];
    while !line.ends_with(b"\r\n") {
        assert_eq!(
            stream.read(&mut byte).expect("reads the answer"),
            1,
            "no status line"
        );
        line.push(byte[0]);
    }
    String::from_utf8_lossy(&line).trim_end().to_owned()
}

#[test]
fn by_default_the_own_page_and_clients_without_origin_are_let_in_and_other_sites_get_403() {
    let serve = Serve::start(&[]);
    let own = format!("http://{}", serve.address());
    let port = serve.address().rsplit(':').next().unwrap().to_owned();
    let switching = "HTTP/1.1 101 Switching Protocols";
    assert_eq!(status_of_upgrade(&serve, None, serve.address()), switching);
    assert_eq!(status_of_upgrade(&serve, Some(&own), serve.address()), switching);
    let localhost = format!("localhost:{port}");
    assert_eq!(
        status_of_upgrade(&serve, Some(&format!("http://{localhost}")), &localhost),
        switching
    );
    assert_eq!(
        status_of_upgrade(&serve, Some("https://evil.example"), serve.address()),
        "HTTP/1.1 403 Forbidden"
    );
    // A name that resolves to the loopback address is not the page's own.
    let rebound = format!("evil.example:{port}");
    assert_eq!(
        status_of_upgrade(&serve, Some(&format!("http://{rebound}")), &rebound),
        "HTTP/1.1 403 Forbidden"
    );
}

#[test]
fn allow_origin_lets_the_origins_named_in_and_star_lets_any_in() {
    let serve = Serve::start(&[
        "--allow-origin",
        "https://app.example",
        "--allow-origin",
        "http://localhost:5173",
    ]);
    let switching = "HTTP/1.1 101 Switching Protocols";
    assert_eq!(
        status_of_upgrade(&serve, Some("https://app.example"), serve.address()),
        switching
    );
    assert_eq!(
        status_of_upgrade(&serve, Some("http://localhost:5173"), serve.address()),
        switching
    );
    assert_eq!(
        status_of_upgrade(&serve, Some("https://other.example"), serve.address()),
        "HTTP/1.1 403 Forbidden"
    );
    let any = Serve::start(&["--allow-origin", "*"]);
    assert_eq!(
        status_of_upgrade(&any, Some("https://other.example"), any.address()),
        switching
    );
}

#[test]
fn a_bad_allow_origin_stops_serve_before_it_listens_naming_the_value() {
    let output = Command::new(env!("CARGO_BIN_EXE_hswire"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--allow-origin",
            "app.example",
        ])
        .output()
        .expect("hswire serve runs");
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(output.stdout.is_empty(), "it listened: {output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with("hswire: --allow-origin: \"app.example\" is not an origin"),
        "{stderr}"
    );
}

#[test]
fn serve_help_says_what_the_default_lets_in() {
    let output = Command::new(env!("CARGO_BIN_EXE_hswire"))
        .args(["serve", "--help"])
        .output()
        .expect("hswire serve --help runs");
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(help.contains("--allow-origin <ORIGIN>"), "{help}");
    assert!(
        help.contains("By default only clients that send no Origin"),
        "{help}"
    );
}
