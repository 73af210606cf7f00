//! The live page `hswire serve` answers plain HTTP requests with on its
//! WebSocket address, checked from outside: a server process on 127.0.0.1
//! and raw HTTP/1.1 over TCP, every read bounded in time.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

mod support;

use support::Serve;

impl Serve {
    /// Sends `request` as it is and reads the answer until the server closes.
    fn raw(&self, request: &[u8]) -> Answer {
        let mut stream = TcpStream::connect(self.address()).expect("connects");
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        stream.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
        stream.write_all(request).expect("sends the request");
        let mut bytes = Vec::new();
        // A reset after the answer (unread request bytes) still leaves the answer read.
        let _ = stream.read_to_end(&mut bytes);
        Answer::parse(&bytes)
    }

    fn get(&self, method: &str, path: &str) -> Answer {
        self.raw(
            format!(
                "{method} {path} HTTP/1.1\r\nHost: {}\r\nAccept: */*\r\n\r\n",
                self.address()
            )
            .as_bytes(),
        )
    }
}

/// An HTTP answer: status line, headers (names lowercased), body.
#[derive(Debug)]
struct Answer {
    status: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn parse(bytes: &[u8]) -> Answer {
        let end = bytes
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or_else(|| panic!("no complete head in {:?}", String::from_utf8_lossy(bytes)));
        let head = std::str::from_utf8(&bytes[..end]).expect("the head is text");
        let mut lines = head.split("\r\n");
        let status = lines.next().unwrap_or_default().to_owned();
        let headers = lines
            .filter_map(|line| line.split_once(':'))
            .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
            .collect();
        Answer {
            status,
            headers,
            body: bytes[end + 4..].to_vec(),
        }
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, value)| value.as_str())
    }
}

/// The checked-in file a path is served from.
fn checked_in(path: &str) -> Vec<u8> {
    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src/page")
        .join(path.trim_start_matches('/'));
    std::fs::read(&file).unwrap_or_else(|error| panic!("{}: {error}", file.display()))
}

/// The relative modules a JavaScript file imports (`from "./x.js"`).
fn imports(source: &str) -> Vec<String> {
    source
        .split("from \"./")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(|module| format!("/{module}"))
        .collect()
}

#[test]
fn a_plain_get_of_the_root_is_answered_with_the_page_under_a_same_origin_policy() {
    let serve = Serve::start(&["--compression", "zlib", "--chunked"]);
    let page = serve.get("GET", "/");
    assert_eq!(page.status, "HTTP/1.1 200 OK");
    assert_eq!(page.header("content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(
        page.header("content-length"),
        Some(page.body.len().to_string().as_str())
    );
    let policy = page.header("content-security-policy").expect("a policy");
    assert!(policy.starts_with("default-src 'self';"), "{policy}");
    assert!(!policy.contains("unsafe"), "{policy}");
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(page.body, checked_in("index.html"));
    let html = String::from_utf8(page.body).unwrap();
    assert!(html.contains(r#"<output id="hw-status""#));
    assert!(html.contains(r#"<script type="module" src="/app.js">"#));
    assert!(html.contains(r#"<link rel="icon" href="/favicon.svg""#));
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "nothing from elsewhere"
    );
}

#[test]
fn every_file_the_page_loads_is_served_as_checked_in_with_its_type() {
    let serve = Serve::start(&[]);
    let mut wanted = vec![
        "/app.js".to_owned(),
        "/style.css".to_owned(),
        "/favicon.svg".to_owned(),
    ];
    let mut served = Vec::new();
    while let Some(path) = wanted.pop() {
        if served.contains(&path) {
            continue;
        }
        let answer = serve.get("GET", &path);
        assert_eq!(answer.status, "HTTP/1.1 200 OK", "{path}");
        let expected_type = match path.rsplit('.').next() {
            Some("js") => "text/javascript; charset=utf-8",
            Some("css") => "text/css; charset=utf-8",
            Some("svg") => "image/svg+xml",
            other => panic!("unexpected file type {other:?}"),
        };
        assert_eq!(answer.header("content-type"), Some(expected_type), "{path}");
        assert_eq!(answer.body, checked_in(&path), "{path}");
        if path.ends_with(".js") {
            wanted.extend(imports(&String::from_utf8(answer.body).unwrap()));
        }
        served.push(path);
    }
    served.sort();
    assert_eq!(
        served,
        [
            "/app.js",
            "/assembler.js",
            "/errors.js",
            "/favicon.svg",
            "/frame.js",
            "/haystack_wire.js",
            "/socket.js",
            "/style.css"
        ]
    );
    // The modules are the JavaScript binding's own files.
    let binding = Path::new(env!("CARGO_MANIFEST_DIR")).join("../bindings/typescript/socket.js");
    assert_eq!(checked_in("/socket.js"), std::fs::read(binding).unwrap());
}

#[test]
fn a_head_request_gets_the_headers_and_no_body() {
    let serve = Serve::start(&[]);
    let answer = serve.get("HEAD", "/app.js");
    assert_eq!(answer.status, "HTTP/1.1 200 OK");
    assert_eq!(
        answer.header("content-length"),
        Some(checked_in("app.js").len().to_string().as_str())
    );
    assert!(answer.body.is_empty());
}

#[test]
fn other_paths_are_not_found_and_other_methods_not_allowed() {
    let serve = Serve::start(&[]);
    for path in [
        "/Cargo.toml",
        "/../Cargo.toml",
        "/src/page/app.js",
        "/%2e%2e/etc/passwd",
        "/app.js/",
    ] {
        assert_eq!(serve.get("GET", path).status, "HTTP/1.1 404 Not Found", "{path}");
    }
    for method in ["POST", "PUT", "DELETE", "OPTIONS"] {
        let answer = serve.get(method, "/");
        assert_eq!(answer.status, "HTTP/1.1 405 Method Not Allowed", "{method}");
        assert_eq!(answer.header("allow"), Some("GET, HEAD"));
    }
}

#[test]
fn a_request_head_past_the_limit_or_not_http_is_refused() {
    let serve = Serve::start(&[]);
    let mut long = format!("GET / HTTP/1.1\r\nHost: {}\r\nX-Filler: ", serve.address()).into_bytes();
    long.resize(20_000, b'a');
    assert_eq!(
        serve.raw(&long).status,
        "HTTP/1.1 431 Request Header Fields Too Large"
    );
    assert_eq!(serve.raw(b"HELLO\r\n\r\n").status, "HTTP/1.1 400 Bad Request");
}

#[test]
fn the_websocket_still_answers_on_the_same_address() {
    let serve = Serve::start(&["--compression", "zlib", "--chunked"]);
    assert_eq!(serve.get("GET", "/").status, "HTTP/1.1 200 OK");
    let output = Command::new(env!("CARGO_BIN_EXE_hswire"))
        .args([
            "call",
            "--url",
            &format!("ws://{}", serve.address()),
            "--compression",
            "zlib",
            "about",
        ])
        .output()
        .expect("hswire call runs");
    assert!(output.status.success(), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stdout).contains("hswire sample site"));
}

#[test]
fn with_no_page_a_plain_get_is_not_answered_with_the_page() {
    let serve = Serve::start(&["--no-page"]);
    let mut stream = TcpStream::connect(serve.address()).expect("connects");
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream
        .write_all(format!("GET / HTTP/1.1\r\nHost: {}\r\n\r\n", serve.address()).as_bytes())
        .unwrap();
    let mut bytes = Vec::new();
    let _ = stream.read_to_end(&mut bytes);
    let text = String::from_utf8_lossy(&bytes);
    assert!(!text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(!text.contains("hw-status"), "{text}");
}
