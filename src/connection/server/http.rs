//! Plain HTTP on the WebSocket address: a fixed set of files, for a browser
//! page that then opens its WebSocket to the same server; and the answers
//! the server's HTTP refusals are written with.
//!
//! Off unless [`ServerConfig::pages`](super::ServerConfig::pages) gives files.
//! The server reads each new connection's request head itself (see
//! `head.rs`): a request with an `Upgrade` header goes on to the WebSocket
//! upgrade, the bytes already read handed back first ([`Replay`]); with
//! files, any other is answered here and the connection closed. Only `GET`
//! and `HEAD` of the configured paths are served (404 for other paths, 405
//! for other methods), one request per connection, each answer with its
//! length, its type, `nosniff` and a Content-Security-Policy that lets the
//! page load and connect to nothing but its own origin.

use std::borrow::Cow;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

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

/// An HTTP answer: status, fields, body.
pub(super) struct Answer {
    /// The status code.
    pub(super) code: u16,
    reason: &'static str,
    content_type: &'static str,
    /// The body: a file, or a refusal's reason.
    pub(super) body: Cow<'static, [u8]>,
    /// Whether the body is sent (not for `HEAD`).
    pub(super) with_body: bool,
    allow: bool,
    /// More fields, each ending in CRLF (`Upgrade: websocket` for a 426).
    pub(super) extra: &'static str,
}

impl Answer {
    /// An error answer with `code`, its reason phrase and `text` as a plain-text body.
    pub(super) fn refusal(code: u16, text: String) -> Answer {
        Answer {
            code,
            reason: reason_phrase(code),
            content_type: "text/plain; charset=utf-8",
            body: Cow::Owned(text.into_bytes()),
            with_body: true,
            allow: false,
            extra: "",
        }
    }

    fn status(code: u16, reason: &'static str) -> Answer {
        Answer {
            code,
            reason,
            content_type: "text/plain; charset=utf-8",
            body: Cow::Borrowed(reason.as_bytes()),
            with_body: true,
            allow: false,
            extra: "",
        }
    }

    /// The status line and fields, the blank line included.
    pub(super) fn head(&self) -> Vec<u8> {
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
        head.push_str(self.extra);
        head.push_str("\r\n");
        head.into_bytes()
    }
}

/// The reason phrase of the error statuses the server answers with.
fn reason_phrase(code: u16) -> &'static str {
    match code {
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        426 => "Upgrade Required",
        431 => "Request Header Fields Too Large",
        _ => "Error",
    }
}

/// The answer to a plain request of `method` for `path` from `pages`.
pub(super) fn answer(method: &str, path: &str, pages: &Pages) -> Answer {
    let head_only = method == "HEAD";
    if method != "GET" && !head_only {
        return Answer {
            allow: true,
            ..Answer::status(405, "Method Not Allowed")
        };
    }
    let mut answer = match pages.get(path) {
        Some(page) => Answer {
            code: 200,
            reason: "OK",
            content_type: page.content_type,
            body: Cow::Borrowed(page.body),
            with_body: true,
            allow: false,
            extra: "",
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
