//! The request head of every new connection, read and checked by the server
//! before any WebSocket exists, so that whatever is wrong with it gets an
//! HTTP answer that says what, instead of a closed socket.
//!
//! At most [`MAX_HEAD`] bytes, within the handshake deadline
//! ([`ServerConfig::handshake_timeout`]); then, in this order:
//!
//! | what came | answer |
//! | --- | --- |
//! | the deadline, with part of a head | `408 Request Timeout` |
//! | no end of head within [`MAX_HEAD`] bytes, or more than [`MAX_HEADERS`] fields | `431 Request Header Fields Too Large` |
//! | not HTTP/1.0 or HTTP/1.1, a malformed field, two `Host` fields | `400 Bad Request` |
//! | no `Upgrade` field, with pages ([`ServerConfig::pages`]) | the page, as [`Pages`] says |
//! | no `Upgrade` field, without pages | `426 Upgrade Required`, `Upgrade: websocket` |
//! | an upgrade the WebSocket layer would refuse: not `GET`, HTTP/1.0, no `upgrade` token in `Connection`, `Upgrade` not `websocket`, a target that is not a URI, no or a malformed `Sec-WebSocket-Key` | `400 Bad Request` |
//! | `Sec-WebSocket-Version` missing or not 13 | `426 Upgrade Required`, `Sec-WebSocket-Version: 13` (RFC 6455 §4.4) |
//! | an `Origin` the server does not let in (see [`ServerConfig::check_origin`]) | `403 Forbidden` |
//! | anything else | the WebSocket upgrade, the bytes read handed to it first |
//!
//! Each refusal's body is a line of plain text saying what was wrong
//! ([`RequestRefused`]); the connection is closed after it. A connection
//! that sent nothing at all by the deadline asked nothing, and is closed
//! without an answer.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::http::header::{
    CONNECTION, HOST, ORIGIN, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_VERSION, UPGRADE,
};
use tokio_tungstenite::tungstenite::http::Uri;

use super::config::ServerConfig;
use super::http::{answer, Answer, Pages, Replay, MAX_HEAD};
use super::origin::OriginRefused;

/// The most header fields a head may have: the WebSocket layer's own cap
/// (tungstenite's `MAX_HEADERS`), so that no head this server takes is
/// refused there without an answer. Browsers send about 15.
pub const MAX_HEADERS: usize = 124;

/// How long the `408` answer to a head still arriving at the deadline may
/// take to write: it is a few hundred bytes into a socket the server has
/// written nothing to, so it goes at once unless the peer's window is shut,
/// and a peer that takes nothing does not hold the connection longer.
const LATE_ANSWER: Duration = Duration::from_secs(1);

/// The only WebSocket version there is (RFC 6455).
const WEBSOCKET_VERSION: &str = "13";

/// Why the server answered a request head with an HTTP error and closed the
/// connection, before any WebSocket existed. Its text is the answer's body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestRefused {
    /// The head did not end within [`MAX_HEAD`] bytes (431).
    #[error("the request head is over {limit} bytes")]
    HeadTooLarge {
        /// [`MAX_HEAD`].
        limit: usize,
    },
    /// The head has more than [`MAX_HEADERS`] fields (431).
    #[error("the request has more than {limit} header fields")]
    TooManyHeaders {
        /// [`MAX_HEADERS`].
        limit: usize,
    },
    /// The request line is not `METHOD target HTTP/1.0` or `HTTP/1.1` (400).
    #[error("not an HTTP/1.x request")]
    NotHttp,
    /// A header field is not `name: value` with a token name and a value
    /// without control characters (400). Counted from 1.
    #[error("header field {field} is malformed")]
    MalformedField {
        /// Its position among the fields, from 1.
        field: usize,
    },
    /// More than one `Host` field (400, RFC 9112 §3.2).
    #[error("more than one Host field")]
    RepeatedHost,
    /// A plain request, on a server without pages (426): this address
    /// speaks WebSocket only.
    #[error("this address speaks WebSocket only: send a WebSocket upgrade")]
    NotAnUpgrade,
    /// An upgrade whose method is not `GET` (400).
    #[error("a WebSocket upgrade is a GET, not {method}")]
    UpgradeMethod {
        /// The method sent, or its start.
        method: String,
    },
    /// An upgrade over HTTP/1.0 (400).
    #[error("a WebSocket upgrade needs HTTP/1.1, not HTTP/1.0")]
    UpgradeVersion,
    /// An upgrade whose target is not a URI (400).
    #[error("the request target is not a URI")]
    UpgradeTarget,
    /// The `Connection` field is missing or has no `upgrade` token (400).
    #[error("the Connection field has no upgrade token")]
    NoConnectionUpgrade,
    /// The `Upgrade` field is not `websocket` (400).
    #[error("the Upgrade field is not websocket")]
    NotWebSocket,
    /// No `Sec-WebSocket-Version` (426, with `Sec-WebSocket-Version: 13`).
    #[error("no Sec-WebSocket-Version; this server speaks 13")]
    NoWebSocketVersion,
    /// `Sec-WebSocket-Version` is not 13 (426, with `Sec-WebSocket-Version: 13`).
    #[error("Sec-WebSocket-Version {sent} is not 13, the version this server speaks")]
    WebSocketVersion {
        /// The version sent, or its start.
        sent: String,
    },
    /// No `Sec-WebSocket-Key` (400).
    #[error("no Sec-WebSocket-Key")]
    NoKey,
    /// `Sec-WebSocket-Key` is not the base64 of 16 bytes (400).
    #[error("Sec-WebSocket-Key is not the base64 of 16 bytes")]
    BadKey,
    /// The `Origin` is not let in (403).
    #[error("{0}")]
    Origin(#[source] OriginRefused),
}

impl RequestRefused {
    /// The HTTP status it is answered with.
    pub fn status(&self) -> u16 {
        match self {
            RequestRefused::HeadTooLarge { .. } | RequestRefused::TooManyHeaders { .. } => 431,
            RequestRefused::NotAnUpgrade
            | RequestRefused::NoWebSocketVersion
            | RequestRefused::WebSocketVersion { .. } => 426,
            RequestRefused::Origin(_) => 403,
            RequestRefused::NotHttp
            | RequestRefused::MalformedField { .. }
            | RequestRefused::RepeatedHost
            | RequestRefused::UpgradeMethod { .. }
            | RequestRefused::UpgradeVersion
            | RequestRefused::UpgradeTarget
            | RequestRefused::NoConnectionUpgrade
            | RequestRefused::NotWebSocket
            | RequestRefused::NoKey
            | RequestRefused::BadKey => 400,
        }
    }

    /// The answer: status, the extra field the status needs, the reason as the body.
    fn answer(&self) -> Answer {
        let mut answer = Answer::refusal(self.status(), format!("{self}\n"));
        match self {
            RequestRefused::NotAnUpgrade => answer.extra = "Upgrade: websocket\r\n",
            RequestRefused::NoWebSocketVersion | RequestRefused::WebSocketVersion { .. } => {
                answer.extra = "Sec-WebSocket-Version: 13\r\n";
            }
            _ => {}
        }
        answer
    }
}

/// What became of a connection's request head.
pub(super) enum Checked<S> {
    /// An upgrade the WebSocket layer takes, from an origin let in: the
    /// stream, the bytes read handed back first.
    Upgrade(Replay<S>),
    /// A plain request answered from the pages with this status.
    Page(u16),
    /// Refused with an HTTP error answer.
    Refused(RequestRefused),
    /// The deadline passed before the head was complete; `408` was sent
    /// when part of it had come.
    TimedOut,
    /// The socket failed or closed before the head was complete.
    Failed(io::Error),
}

/// Reads the request head of `stream` by `deadline`, and answers it unless
/// it is an upgrade to go on with (see the module's documentation).
/// `local` is the address the connection arrived at, for the origin check.
pub(super) async fn check<S>(
    mut stream: S,
    config: &ServerConfig,
    deadline: Instant,
    local: Option<SocketAddr>,
) -> Checked<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let head = match read(&mut stream, deadline).await {
        Ok(Read::Head(head)) => head,
        Ok(Read::TooLarge) => {
            let refused = RequestRefused::HeadTooLarge { limit: MAX_HEAD };
            return refuse(stream, refused, deadline).await;
        }
        Ok(Read::Late { partial }) => {
            if partial {
                let answer = Answer::refusal(408, "no complete request head in time\n".to_owned());
                let _ = tokio::time::timeout(LATE_ANSWER, send(&mut stream, &answer)).await;
            }
            return Checked::TimedOut;
        }
        Err(error) => return Checked::Failed(error),
    };
    let end = find_end(&head, 0).unwrap_or(head.len());
    let request = match Request::parse(&head[..end]) {
        Ok(request) => request,
        Err(refused) => return refuse(stream, refused, deadline).await,
    };
    if !request.fields.upgrade_named {
        if config.pages.is_empty() {
            return refuse(stream, RequestRefused::NotAnUpgrade, deadline).await;
        }
        return serve_page(stream, &request, &config.pages, deadline).await;
    }
    let checked = request.upgrade().and_then(|()| {
        config
            .check_origin(request.fields.origin, request.fields.host, local)
            .map_err(RequestRefused::Origin)
    });
    match checked {
        Ok(()) => Checked::Upgrade(Replay::new(head, stream)),
        Err(refused) => refuse(stream, refused, deadline).await,
    }
}

/// Answers a refusal by the deadline and closes.
async fn refuse<S>(mut stream: S, refused: RequestRefused, deadline: Instant) -> Checked<S>
where
    S: AsyncWrite + Unpin,
{
    match tokio::time::timeout_at(deadline, send(&mut stream, &refused.answer())).await {
        Ok(Err(error)) => Checked::Failed(error),
        Ok(Ok(())) | Err(_) => Checked::Refused(refused),
    }
}

/// Answers a plain request from the pages by the deadline and closes.
async fn serve_page<S>(mut stream: S, request: &Request<'_>, pages: &Pages, deadline: Instant) -> Checked<S>
where
    S: AsyncWrite + Unpin,
{
    let answer = answer(request.method, request.path(), pages);
    match tokio::time::timeout_at(deadline, send(&mut stream, &answer)).await {
        Ok(Ok(())) => Checked::Page(answer.code),
        Ok(Err(error)) => Checked::Failed(error),
        Err(_) => Checked::TimedOut,
    }
}

/// Writes `answer` and shuts the writing side.
async fn send<S: AsyncWrite + Unpin>(stream: &mut S, answer: &Answer) -> io::Result<()> {
    stream.write_all(&answer.head()).await?;
    if answer.with_body {
        stream.write_all(&answer.body).await?;
    }
    stream.flush().await?;
    let _ = stream.shutdown().await;
    Ok(())
}

/// How reading a head went.
enum Read {
    /// A complete head (and whatever came with it in the same reads).
    Head(Vec<u8>),
    /// [`MAX_HEAD`] bytes without the end of a head.
    TooLarge,
    /// The deadline passed; `partial` when some of a head had come.
    Late { partial: bool },
}

/// Reads until the blank line that ends a head, at most [`MAX_HEAD`]
/// bytes, by `deadline`. EOF before the end is an error.
async fn read<S: AsyncRead + Unpin>(stream: &mut S, deadline: Instant) -> io::Result<Read> {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        let room = (MAX_HEAD - head.len()).min(buf.len());
        let n = match tokio::time::timeout_at(deadline, stream.read(&mut buf[..room])).await {
            Ok(read) => read?,
            Err(_) => {
                return Ok(Read::Late {
                    partial: !head.is_empty(),
                })
            }
        };
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let searched = head.len();
        head.extend_from_slice(&buf[..n]);
        if find_end(&head, searched).is_some() {
            return Ok(Read::Head(head));
        }
        if head.len() >= MAX_HEAD {
            return Ok(Read::TooLarge);
        }
    }
}

/// The offset just past the blank line that ends the head, if it came;
/// `searched` bytes were looked through already.
fn find_end(head: &[u8], searched: usize) -> Option<usize> {
    let from = searched.saturating_sub(3);
    head.get(from..)?
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|at| from + at + 4)
}

/// The parts of a request head the server looks at.
pub(super) struct Request<'a> {
    /// The method.
    method: &'a str,
    /// The request target, query included.
    target: &'a str,
    /// HTTP/1.1 (else HTTP/1.0).
    http11: bool,
    /// The fields the upgrade and the origin check need.
    fields: Fields<'a>,
}

/// The first value of each field the server needs, as the WebSocket layer
/// reads them (it takes the first of repeated fields).
#[derive(Default)]
struct Fields<'a> {
    upgrade_named: bool,
    upgrade: Option<&'a [u8]>,
    connection: Option<&'a [u8]>,
    key: Option<&'a [u8]>,
    version: Option<&'a [u8]>,
    origin: Option<&'a [u8]>,
    host: Option<&'a [u8]>,
}

impl<'a> Request<'a> {
    /// Reads a head, its final blank line included: the request line and
    /// every field, each checked as HTTP/1.1 says (RFC 9112).
    fn parse(head: &'a [u8]) -> Result<Request<'a>, RequestRefused> {
        let head = head.strip_suffix(b"\r\n\r\n").unwrap_or(head);
        let mut lines = crlf_lines(head);
        let line = lines.next().ok_or(RequestRefused::NotHttp)?;
        let mut parts = line.split(|&b| b == b' ');
        let (Some(method), Some(target), Some(version), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(RequestRefused::NotHttp);
        };
        let http11 = match version {
            b"HTTP/1.1" => true,
            b"HTTP/1.0" => false,
            _ => return Err(RequestRefused::NotHttp),
        };
        if method.is_empty() || !method.iter().copied().all(is_tchar) {
            return Err(RequestRefused::NotHttp);
        }
        if target.is_empty() || !target.iter().all(|b| b.is_ascii_graphic()) {
            return Err(RequestRefused::NotHttp);
        }
        // Both are ASCII by now.
        let (Ok(method), Ok(target)) = (std::str::from_utf8(method), std::str::from_utf8(target)) else {
            return Err(RequestRefused::NotHttp);
        };
        let mut fields = Fields::default();
        let mut hosts = 0;
        for (index, line) in lines.enumerate() {
            let field = index + 1;
            if field > MAX_HEADERS {
                return Err(RequestRefused::TooManyHeaders { limit: MAX_HEADERS });
            }
            let malformed = RequestRefused::MalformedField { field };
            let Some(colon) = line.iter().position(|&b| b == b':') else {
                return Err(malformed);
            };
            let (name, value) = (&line[..colon], line[colon + 1..].trim_ascii());
            if name.is_empty()
                || !name.iter().copied().all(is_tchar)
                || !value.iter().copied().all(is_field_byte)
            {
                return Err(malformed);
            }
            let slot = match name {
                _ if name.eq_ignore_ascii_case(UPGRADE.as_str().as_bytes()) => {
                    fields.upgrade_named = true;
                    &mut fields.upgrade
                }
                _ if name.eq_ignore_ascii_case(CONNECTION.as_str().as_bytes()) => &mut fields.connection,
                _ if name.eq_ignore_ascii_case(SEC_WEBSOCKET_KEY.as_str().as_bytes()) => &mut fields.key,
                _ if name.eq_ignore_ascii_case(SEC_WEBSOCKET_VERSION.as_str().as_bytes()) => {
                    &mut fields.version
                }
                _ if name.eq_ignore_ascii_case(ORIGIN.as_str().as_bytes()) => &mut fields.origin,
                _ if name.eq_ignore_ascii_case(HOST.as_str().as_bytes()) => {
                    hosts += 1;
                    &mut fields.host
                }
                _ => continue,
            };
            slot.get_or_insert(value);
        }
        if hosts > 1 {
            return Err(RequestRefused::RepeatedHost);
        }
        Ok(Request {
            method,
            target,
            http11,
            fields,
        })
    }

    /// The path of the target, without its query.
    fn path(&self) -> &'a str {
        self.target.split(['?', '#']).next().unwrap_or(self.target)
    }

    /// Whether the WebSocket layer takes this upgrade: its checks, in its
    /// order, each refusal naming what was wrong.
    fn upgrade(&self) -> Result<(), RequestRefused> {
        if self.method != "GET" {
            return Err(RequestRefused::UpgradeMethod {
                method: self.method.chars().take(16).collect(),
            });
        }
        if !self.http11 {
            return Err(RequestRefused::UpgradeVersion);
        }
        if Uri::try_from(self.target).is_err() {
            return Err(RequestRefused::UpgradeTarget);
        }
        // The WebSocket layer reads these two as text only (visible ASCII).
        let text = |value: Option<&'a [u8]>| value.and_then(|value| std::str::from_utf8(value).ok());
        let upgrade_token = text(self.fields.connection).is_some_and(|list| {
            list.split([' ', ','])
                .any(|token| token.eq_ignore_ascii_case("upgrade"))
        });
        if !upgrade_token {
            return Err(RequestRefused::NoConnectionUpgrade);
        }
        if !text(self.fields.upgrade).is_some_and(|name| name.eq_ignore_ascii_case("websocket")) {
            return Err(RequestRefused::NotWebSocket);
        }
        match self.fields.version {
            None => return Err(RequestRefused::NoWebSocketVersion),
            Some(sent) if sent != WEBSOCKET_VERSION.as_bytes() => {
                return Err(RequestRefused::WebSocketVersion {
                    sent: String::from_utf8_lossy(&sent[..sent.len().min(16)]).into_owned(),
                })
            }
            Some(_) => {}
        }
        let key = self.fields.key.ok_or(RequestRefused::NoKey)?;
        let decoded = (key.len() == 24).then(|| STANDARD.decode(key).ok()).flatten();
        if decoded.is_none_or(|bytes| bytes.len() != 16) {
            return Err(RequestRefused::BadKey);
        }
        Ok(())
    }
}

/// The lines of a head, split at each CRLF; a bare CR or LF stays in its
/// line, where no part of a head allows it.
fn crlf_lines(head: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = Some(head);
    std::iter::from_fn(move || {
        let text = rest?;
        match text.windows(2).position(|w| w == b"\r\n") {
            Some(at) => {
                rest = Some(&text[at + 2..]);
                Some(&text[..at])
            }
            None => {
                rest = None;
                Some(text)
            }
        }
    })
}

/// A character of a token (a method, a field name): RFC 9110 §5.6.2.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// A byte a field value may hold: visible ASCII, space, tab, and obs-text.
fn is_field_byte(b: u8) -> bool {
    b == b'\t' || b == b' ' || b.is_ascii_graphic() || b >= 0x80
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_tungstenite::tungstenite::handshake::server::create_response;
    use tokio_tungstenite::tungstenite::http;

    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

    /// An upgrade request head with `fields` after the request line.
    fn upgrade_with(line: &str, fields: &[(&str, &str)]) -> Vec<u8> {
        let mut head = format!("{line}\r\n");
        for (name, value) in fields {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        head.into_bytes()
    }

    fn good_fields() -> Vec<(&'static str, &'static str)> {
        vec![
            ("Host", "127.0.0.1:8080"),
            ("Upgrade", "websocket"),
            ("Connection", "keep-alive, Upgrade"),
            ("Sec-WebSocket-Key", KEY),
            ("Sec-WebSocket-Version", "13"),
        ]
    }

    fn with(name: &'static str, value: &'static str) -> Vec<(&'static str, &'static str)> {
        let mut fields: Vec<_> = good_fields().into_iter().filter(|(n, _)| *n != name).collect();
        if !value.is_empty() {
            fields.push((name, value));
        }
        fields
    }

    fn verdict(head: &[u8]) -> Result<(), RequestRefused> {
        Request::parse(head)?.upgrade()
    }

    /// What the WebSocket layer makes of the same head.
    fn tungstenite_takes(head: &[u8]) -> bool {
        let text = std::str::from_utf8(head).unwrap();
        let mut lines = text.split("\r\n");
        let mut parts = lines.next().unwrap().split(' ');
        let (method, target, version) = (
            parts.next().unwrap(),
            parts.next().unwrap(),
            parts.next().unwrap(),
        );
        let mut builder =
            http::Request::builder()
                .method(method)
                .uri(target)
                .version(if version == "HTTP/1.1" {
                    http::Version::HTTP_11
                } else {
                    http::Version::HTTP_10
                });
        for line in lines.take_while(|line| !line.is_empty()) {
            let (name, value) = line.split_once(':').unwrap();
            builder = builder.header(name.trim(), value.trim());
        }
        create_response(&builder.body(()).unwrap()).is_ok()
    }

    #[test]
    fn a_good_upgrade_passes_here_and_in_the_websocket_layer() {
        let head = upgrade_with("GET /ws?x=1 HTTP/1.1", &good_fields());
        assert_eq!(verdict(&head), Ok(()));
        assert!(tungstenite_takes(&head));
    }

    #[test]
    fn each_upgrade_the_websocket_layer_refuses_is_refused_here_naming_what_is_wrong() {
        let cases = [
            (
                upgrade_with("POST / HTTP/1.1", &good_fields()),
                RequestRefused::UpgradeMethod {
                    method: "POST".into(),
                },
            ),
            (
                upgrade_with("GET / HTTP/1.1", &with("Connection", "keep-alive")),
                RequestRefused::NoConnectionUpgrade,
            ),
            (
                upgrade_with("GET / HTTP/1.1", &with("Connection", "")),
                RequestRefused::NoConnectionUpgrade,
            ),
            (
                upgrade_with("GET / HTTP/1.1", &with("Upgrade", "h2c")),
                RequestRefused::NotWebSocket,
            ),
            (
                upgrade_with("GET / HTTP/1.1", &with("Sec-WebSocket-Version", "8")),
                RequestRefused::WebSocketVersion { sent: "8".into() },
            ),
            (
                upgrade_with("GET / HTTP/1.1", &with("Sec-WebSocket-Version", "")),
                RequestRefused::NoWebSocketVersion,
            ),
            (
                upgrade_with("GET / HTTP/1.1", &with("Sec-WebSocket-Key", "")),
                RequestRefused::NoKey,
            ),
            (
                upgrade_with("GET / HTTP/1.1", &with("Sec-WebSocket-Key", "c2hvcnQ=")),
                RequestRefused::BadKey,
            ),
            (
                // 24 characters of base64, but of 17 bytes.
                upgrade_with(
                    "GET / HTTP/1.1",
                    &with("Sec-WebSocket-Key", "AAAAAAAAAAAAAAAAAAAAAAA="),
                ),
                RequestRefused::BadKey,
            ),
        ];
        for (head, expected) in cases {
            assert_eq!(
                verdict(&head),
                Err(expected),
                "{}",
                String::from_utf8_lossy(&head)
            );
            assert!(!tungstenite_takes(&head), "{}", String::from_utf8_lossy(&head));
        }
        // HTTP/1.0: the layer's parser refuses it before its checks.
        let old = upgrade_with("GET / HTTP/1.0", &good_fields());
        assert_eq!(verdict(&old), Err(RequestRefused::UpgradeVersion));
    }

    #[test]
    fn statuses_are_400_but_426_for_the_version_431_for_size_and_403_for_origin() {
        assert_eq!(RequestRefused::BadKey.status(), 400);
        assert_eq!(RequestRefused::NoWebSocketVersion.status(), 426);
        assert_eq!(RequestRefused::NotAnUpgrade.status(), 426);
        assert_eq!(RequestRefused::TooManyHeaders { limit: 1 }.status(), 431);
        let origin = OriginRefused::NoHost { origin: "x".into() };
        assert_eq!(RequestRefused::Origin(origin).status(), 403);
    }

    #[test]
    fn heads_that_are_not_http_or_have_malformed_fields_are_refused() {
        for head in [
            &b"\x16\x03\x01 hello\r\n\r\n"[..],
            b"GET / HTTP/2.0\r\n\r\n",
            b"GET  / HTTP/1.1\r\n\r\n",
            b"GET /a b HTTP/1.1\r\n\r\n",
            b"G(T / HTTP/1.1\r\n\r\n",
        ] {
            assert_eq!(
                Request::parse(head).err(),
                Some(RequestRefused::NotHttp),
                "{head:?}"
            );
        }
        for head in [
            &b"GET / HTTP/1.1\r\nHost : x\r\n\r\n"[..],
            b"GET / HTTP/1.1\r\nno colon\r\n\r\n",
            b"GET / HTTP/1.1\r\n folded\r\n\r\n",
            b"GET / HTTP/1.1\r\nX: a\x01b\r\n\r\n",
            b"GET / HTTP/1.1\r\nX: bare\nY: lf\r\n\r\n",
        ] {
            assert_eq!(
                Request::parse(head).err(),
                Some(RequestRefused::MalformedField { field: 1 }),
                "{head:?}"
            );
        }
        let twice = b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n";
        assert_eq!(Request::parse(twice).err(), Some(RequestRefused::RepeatedHost));
        let mut many = b"GET / HTTP/1.1\r\n".to_vec();
        for _ in 0..=MAX_HEADERS {
            many.extend_from_slice(b"X: y\r\n");
        }
        many.extend_from_slice(b"\r\n");
        assert_eq!(
            Request::parse(&many).err(),
            Some(RequestRefused::TooManyHeaders { limit: MAX_HEADERS })
        );
    }

    #[test]
    fn the_end_of_a_head_is_found_across_reads() {
        assert_eq!(find_end(b"GET / HTTP/1.1\r\n\r", 0), None);
        assert_eq!(find_end(b"GET / HTTP/1.1\r\n\r\n", 17), Some(18));
        assert_eq!(find_end(b"\r\n\r\nrest", 0), Some(4));
    }

    fn pages() -> Pages {
        Pages::new()
            .page("/", "text/html; charset=utf-8", b"<p>hi</p>")
            .page("/app.js", "text/javascript; charset=utf-8", b"export {};")
    }

    fn soon() -> Instant {
        Instant::now() + Duration::from_secs(10)
    }

    /// Sends `request` to `check` over a pipe: the answer written back, or
    /// the bytes the upgrade is handed.
    async fn exchange_with(request: &[u8], config: &ServerConfig) -> (String, Option<Vec<u8>>) {
        let (mut client, server) = tokio::io::duplex(64 << 10);
        client.write_all(request).await.unwrap();
        match check(server, config, soon(), None).await {
            Checked::Upgrade(mut replay) => {
                let mut first = vec![0; request.len()];
                replay.read_exact(&mut first).await.unwrap();
                (String::new(), Some(first))
            }
            Checked::Failed(error) => panic!("{error}"),
            _ => {
                let mut out = Vec::new();
                client.read_to_end(&mut out).await.unwrap();
                (String::from_utf8(out).unwrap(), None)
            }
        }
    }

    async fn exchange(request: &[u8]) -> (String, Option<Vec<u8>>) {
        exchange_with(request, &ServerConfig::new().pages(pages())).await
    }

    #[tokio::test]
    async fn a_get_of_a_known_path_is_answered_with_the_file_and_its_type() {
        let (answer, _) = exchange(b"GET /app.js?v=1 HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
        assert!(answer.contains("Content-Type: text/javascript; charset=utf-8\r\n"));
        assert!(answer.contains("Content-Length: 10\r\n"));
        let policy = super::super::http::CONTENT_SECURITY_POLICY;
        assert!(answer.contains(&format!("Content-Security-Policy: {policy}\r\n")));
        assert!(answer.ends_with("\r\n\r\nexport {};"));
    }

    #[tokio::test]
    async fn a_head_request_gets_the_headers_without_the_body() {
        let (answer, _) = exchange(b"HEAD / HTTP/1.1\r\n\r\n").await;
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(answer.contains("Content-Length: 9\r\n"));
        assert!(answer.ends_with("\r\n\r\n"));
    }

    #[tokio::test]
    async fn an_unknown_path_is_not_found_and_another_method_not_allowed() {
        let (missing, _) = exchange(b"GET /../etc/passwd HTTP/1.1\r\n\r\n").await;
        assert!(missing.starts_with("HTTP/1.1 404 Not Found\r\n"), "{missing}");
        let (post, _) = exchange(b"POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n").await;
        assert!(post.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"), "{post}");
        assert!(post.contains("Allow: GET, HEAD\r\n"));
    }

    #[tokio::test]
    async fn a_head_past_the_limit_is_refused_and_garbage_is_a_bad_request() {
        let mut long = b"GET / HTTP/1.1\r\nX: ".to_vec();
        long.resize(MAX_HEAD + 100, b'a');
        let (answer, _) = exchange(&long).await;
        assert!(answer.starts_with("HTTP/1.1 431 "), "{answer}");
        assert!(
            answer.ends_with("the request head is over 8192 bytes\n"),
            "{answer}"
        );
        let (garbage, _) = exchange(b"\x16\x03\x01 hello\r\n\r\n").await;
        assert!(garbage.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{garbage}");
        assert!(
            garbage.ends_with("\r\n\r\nnot an HTTP/1.x request\n"),
            "{garbage}"
        );
    }

    #[tokio::test]
    async fn an_upgrade_request_is_handed_back_with_the_bytes_already_read() {
        let request = upgrade_with("GET / HTTP/1.1", &good_fields());
        let (_, replayed) = exchange(&request).await;
        assert_eq!(replayed.as_deref(), Some(&request[..]));
    }

    #[tokio::test]
    async fn a_plain_request_to_a_server_without_pages_is_told_to_upgrade() {
        let (answer, _) = exchange_with(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", &ServerConfig::new()).await;
        assert!(
            answer.starts_with("HTTP/1.1 426 Upgrade Required\r\n"),
            "{answer}"
        );
        assert!(answer.contains("\r\nUpgrade: websocket\r\n"), "{answer}");
        assert!(answer.contains("\r\nConnection: close\r\n"), "{answer}");
    }

    #[tokio::test]
    async fn a_bad_websocket_version_is_answered_426_with_the_version_spoken() {
        let request = upgrade_with("GET / HTTP/1.1", &with("Sec-WebSocket-Version", "8"));
        let (answer, replayed) = exchange(&request).await;
        assert_eq!(replayed, None);
        assert!(
            answer.starts_with("HTTP/1.1 426 Upgrade Required\r\n"),
            "{answer}"
        );
        assert!(answer.contains("\r\nSec-WebSocket-Version: 13\r\n"), "{answer}");
        assert!(answer.ends_with("Sec-WebSocket-Version 8 is not 13, the version this server speaks\n"));
    }

    #[tokio::test]
    async fn a_head_still_arriving_at_the_deadline_gets_408_and_silence_gets_nothing() {
        let deadline = Duration::from_millis(100);
        let (mut client, server) = tokio::io::duplex(64 << 10);
        client.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").await.unwrap();
        let checked = check(server, &ServerConfig::new(), Instant::now() + deadline, None).await;
        assert!(matches!(checked, Checked::TimedOut));
        drop(checked);
        let mut out = String::new();
        client.read_to_string(&mut out).await.unwrap();
        assert!(out.starts_with("HTTP/1.1 408 Request Timeout\r\n"), "{out}");

        let (mut silent, server) = tokio::io::duplex(64 << 10);
        let checked = check(server, &ServerConfig::new(), Instant::now() + deadline, None).await;
        assert!(matches!(checked, Checked::TimedOut));
        drop(checked);
        let mut out = Vec::new();
        silent.read_to_end(&mut out).await.unwrap();
        assert_eq!(out, b"");
    }
}
