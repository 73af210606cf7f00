//! Plain HTTP on the WebSocket address: a fixed set of files, for a browser
//! page that then opens its WebSocket to the same server.
//!
//! Off unless [`ServerConfig::pages`](super::ServerConfig::pages) gives files.
//! Then the server reads each new connection's request head itself (at most
//! [`MAX_HEAD`] bytes, within the handshake deadline): a request with an
//! `Upgrade` header goes on to the WebSocket upgrade, the bytes already read
//! handed back first; any other is answered here and the connection closed.
//! Only `GET` and `HEAD` of the configured paths are served (404 for other
//! paths, 405 for other methods), one request per connection, each answer
//! with its length, its type, `nosniff` and a Content-Security-Policy that
//! lets the page load and connect to nothing but its own origin.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};

/// The longest request head read before the server decides what the
/// connection is: browsers send well under 2 KiB, and a WebSocket upgrade
/// with cookies and a token in the URL stays under 8 KiB.
pub const MAX_HEAD: usize = 8 << 10;

/// The policy every answer carries: scripts, styles, images and connections
/// (WebSockets included) from the page's own origin only; no plugins, no
/// framing, no forms, no `<base>`.
pub const CONTENT_SECURITY_POLICY: &str =
    "default-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// One file served at a fixed path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// The path it is served at, `/` included (`/`, `/app.js`); a query is ignored.
    pub path: &'static str,
    /// Its `Content-Type`, e.g. `text/html; charset=utf-8`.
    pub content_type: &'static str,
    /// Its bytes.
    pub body: &'static [u8],
}

/// The files a server answers plain HTTP requests with.
///
/// ```
/// use haystack_wire::connection::{Pages, ServerConfig};
///
/// let pages = Pages::new()
///     .page("/", "text/html; charset=utf-8", b"<!doctype html><title>hi</title>")
///     .page("/app.js", "text/javascript; charset=utf-8", b"export {};");
/// let config = ServerConfig::new().pages(pages);
/// # let _ = config;
/// ```
#[derive(Debug, Clone, Default)]
pub struct Pages {
    files: Arc<Vec<Page>>,
}

impl Pages {
    /// No files.
    pub fn new() -> Self {
        Pages::default()
    }

    /// Adds a file at `path` (replacing one already there).
    pub fn page(mut self, path: &'static str, content_type: &'static str, body: &'static [u8]) -> Self {
        let files = Arc::make_mut(&mut self.files);
        files.retain(|page| page.path != path);
        files.push(Page {
            path,
            content_type,
            body,
        });
        self
    }

    /// The files, in the order they were added.
    pub fn files(&self) -> &[Page] {
        &self.files
    }

    /// Whether there is no file to serve.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    fn get(&self, path: &str) -> Option<&Page> {
        self.files.iter().find(|page| page.path == path)
    }
}

/// What the first bytes of a connection turned out to be.
pub(super) enum Sniffed<S> {
    /// A WebSocket upgrade: the stream, the bytes already read handed back first.
    Upgrade(Replay<S>),
    /// A plain HTTP request, answered with this status.
    Answered(u16),
}

/// Reads the request head of `stream` and answers it from `pages` unless it
/// asks for an upgrade. Errors are the socket's.
pub(super) async fn sniff<S>(mut stream: S, pages: &Pages) -> io::Result<Sniffed<S>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    let end = loop {
        if let Some(end) = find_end(&head) {
            break Some(end);
        }
        if head.len() >= MAX_HEAD {
            break None;
        }
        let room = (MAX_HEAD - head.len()).min(buf.len());
        let n = stream.read(&mut buf[..room]).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        head.extend_from_slice(&buf[..n]);
    };
    let answer = match end {
        None => Answer::status(431, "Request Header Fields Too Large"),
        Some(end) => match Request::parse(&head[..end]) {
            None => Answer::status(400, "Bad Request"),
            Some(request) if request.upgrade => return Ok(Sniffed::Upgrade(Replay::new(head, stream))),
            Some(request) => answer(&request, pages),
        },
    };
    let status = answer.code;
    stream.write_all(&answer.head()).await?;
    if answer.with_body {
        stream.write_all(answer.body).await?;
    }
    stream.flush().await?;
    let _ = stream.shutdown().await;
    Ok(Sniffed::Answered(status))
}

/// The offset just past the blank line that ends the head, if it came.
fn find_end(head: &[u8]) -> Option<usize> {
    head.windows(4).position(|w| w == b"\r\n\r\n").map(|at| at + 4)
}

/// What the server needs of a request head.
struct Request<'a> {
    method: &'a str,
    path: &'a str,
    upgrade: bool,
}

impl<'a> Request<'a> {
    /// The request line and whether a header names an upgrade; `None` when
    /// the head is not HTTP/1.x.
    fn parse(head: &'a [u8]) -> Option<Request<'a>> {
        let text = std::str::from_utf8(head).ok()?;
        let mut lines = text.split("\r\n");
        let mut parts = lines.next()?.split(' ');
        let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || !version.starts_with("HTTP/1.") || method.is_empty() {
            return None;
        }
        let mut upgrade = false;
        for line in lines.take_while(|line| !line.is_empty()) {
            let (name, _) = line.split_once(':')?;
            upgrade |= name.trim().eq_ignore_ascii_case("upgrade");
        }
        let path = target.split(['?', '#']).next().unwrap_or(target);
        Some(Request {
            method,
            path,
            upgrade,
        })
    }
}

/// An answer: status, headers, body.
struct Answer {
    code: u16,
    reason: &'static str,
    content_type: &'static str,
    body: &'static [u8],
    with_body: bool,
    allow: bool,
}

impl Answer {
    fn status(code: u16, reason: &'static str) -> Answer {
        Answer {
            code,
            reason,
            content_type: "text/plain; charset=utf-8",
            body: reason.as_bytes(),
            with_body: true,
            allow: false,
        }
    }

    fn head(&self) -> Vec<u8> {
        let mut head = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n\
             Content-Security-Policy: {CONTENT_SECURITY_POLICY}\r\n\
             X-Content-Type-Options: nosniff\r\nReferrer-Policy: no-referrer\r\n\
             Cache-Control: no-cache\r\nConnection: close\r\n",
            self.code,
            self.reason,
            self.content_type,
            self.body.len()
        );
        if self.allow {
            head.push_str("Allow: GET, HEAD\r\n");
        }
        head.push_str("\r\n");
        head.into_bytes()
    }
}

fn answer(request: &Request<'_>, pages: &Pages) -> Answer {
    let head_only = request.method == "HEAD";
    if request.method != "GET" && !head_only {
        return Answer {
            allow: true,
            ..Answer::status(405, "Method Not Allowed")
        };
    }
    let mut answer = match pages.get(request.path) {
        Some(page) => Answer {
            code: 200,
            reason: "OK",
            content_type: page.content_type,
            body: page.body,
            with_body: true,
            allow: false,
        },
        None => Answer::status(404, "Not Found"),
    };
    answer.with_body = !head_only;
    answer
}

/// A stream that yields `prefix` before what it reads from `inner`.
#[derive(Debug)]
pub(super) struct Replay<S> {
    prefix: Vec<u8>,
    at: usize,
    inner: S,
}

impl<S> Replay<S> {
    /// `inner`, with `prefix` read first.
    pub(super) fn new(prefix: Vec<u8>, inner: S) -> Replay<S> {
        Replay { prefix, at: 0, inner }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Replay<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if let Some(rest) = this.prefix.get(this.at..).filter(|rest| !rest.is_empty()) {
            let n = rest.len().min(buf.remaining());
            buf.put_slice(&rest[..n]);
            this.at += n;
            if this.at == this.prefix.len() {
                this.prefix = Vec::new();
                this.at = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Replay<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pages() -> Pages {
        Pages::new()
            .page("/", "text/html; charset=utf-8", b"<p>hi</p>")
            .page("/app.js", "text/javascript; charset=utf-8", b"export {};")
    }

    async fn exchange(request: &[u8]) -> (String, Option<Vec<u8>>) {
        let (mut client, server) = tokio::io::duplex(64 << 10);
        client.write_all(request).await.unwrap();
        let sniffed = sniff(server, &pages()).await.unwrap();
        match sniffed {
            Sniffed::Answered(_) => {
                let mut out = Vec::new();
                client.read_to_end(&mut out).await.unwrap();
                (String::from_utf8(out).unwrap(), None)
            }
            Sniffed::Upgrade(mut replay) => {
                let mut first = vec![0; request.len()];
                replay.read_exact(&mut first).await.unwrap();
                (String::new(), Some(first))
            }
        }
    }

    #[tokio::test]
    async fn a_get_of_a_known_path_is_answered_with_the_file_and_its_type() {
        let (answer, _) = exchange(b"GET /app.js?v=1 HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
        assert!(answer.contains("Content-Type: text/javascript; charset=utf-8\r\n"));
        assert!(answer.contains("Content-Length: 10\r\n"));
        assert!(answer.contains(&format!("Content-Security-Policy: {CONTENT_SECURITY_POLICY}\r\n")));
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
        let (garbage, _) = exchange(b"\x16\x03\x01 hello\r\n\r\n").await;
        assert!(garbage.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{garbage}");
    }

    #[tokio::test]
    async fn an_upgrade_request_is_handed_back_with_the_bytes_already_read() {
        let request = b"GET / HTTP/1.1\r\nupgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
        let (_, replayed) = exchange(request).await;
        assert_eq!(replayed.as_deref(), Some(&request[..]));
    }
}
