//! `hswire bench --pushes`: the receiving side of a push fan-out.
//!
//! Connections open at a bounded pace (at most [`HANDSHAKES_IN_FLIGHT`]
//! handshakes at once); each sends one `about`, so that the server knows
//! it, and then only takes the server's pushes until the end. A push's
//! latency is its receipt time minus the `pushedAt` tag of its grid's meta,
//! microseconds since the Unix epoch written by the server as it pushed:
//! the wall clocks agree when client and server share a machine. The tag is
//! found in the payload's first [`PUSHED_AT_WITHIN`] bytes (the meta comes
//! first in Haystack 4 JSON), without parsing the grid. Pushes received
//! after the warm-up are counted and timed; a push without a readable
//! `pushedAt` is an error.
//!
//! Each connection reads its own socket and decodes frames in place with
//! the library's [`Decoder`]: the least work per push the library allows
//! (see [`receiver`]).

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use haystack_wire::connection::{auth_message, requests, Answer, Capabilities, Offer, Session};
use haystack_wire::protocol::handshake;
use haystack_wire::{Compression, Decoder, Encoder, Flags, Op};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::header::SEC_WEBSOCKET_PROTOCOL;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::histogram::Histogram;
use super::report::{
    latency_json, latency_words, measured_words, mode, mode_words, offered, per_second, volume_words,
};
use super::{Args, Errors, CLOSE_WAIT};

/// Handshakes in flight at once while the connections open.
pub const HANDSHAKES_IN_FLIGHT: usize = 32;

/// How far into a push's payload `pushedAt` is looked for, in bytes.
pub const PUSHED_AT_WITHIN: usize = 512;

/// The request id of each connection's `about`.
const ABOUT_ID: u16 = 1;

/// Connections that fail to open whose failure is printed; later ones are only counted.
const CONNECT_FAILURES_SHOWN: u64 = 3;

/// The outcome of a push run.
pub struct PushReport {
    /// The server's URL.
    pub url: String,
    /// What the first connection opened agreed in the handshake.
    pub session: Session,
    /// The algorithm offered.
    pub offered_compression: Option<Compression>,
    /// Whether chunking was offered.
    pub offered_chunked: bool,
    /// Connections asked for.
    pub connections: u32,
    /// Connections that opened.
    pub opened: u64,
    /// Connections still open when the run ended.
    pub open_at_end: u64,
    /// The warm-up asked for.
    pub warmup: Duration,
    /// The time measured: the duration asked for, or less when interrupted.
    pub measured: Duration,
    /// Whether Ctrl-C ended the run early.
    pub interrupted: bool,
    /// Payload bytes of the counted pushes, as decoded.
    pub bytes: u64,
    /// Pushes without a readable `pushedAt`, and `about` requests that
    /// failed, warm-up included.
    pub errors: u64,
    /// The first few errors, in words.
    pub first_errors: Vec<String>,
    /// Latencies of the counted pushes: their samples are the deliveries.
    pub histogram: Histogram,
}

/// The `pushedAt` of a push grid's meta, in microseconds: a Number (a bare
/// JSON number, or `{"_kind": "number", "val": ...}`) or a Str of digits,
/// looked for in the first [`PUSHED_AT_WITHIN`] bytes only.
pub fn pushed_at(payload: &[u8]) -> Option<u64> {
    const KEY: &[u8] = b"\"pushedAt\"";
    let head = payload.get(..payload.len().min(PUSHED_AT_WITHIN))?;
    let at = head.windows(KEY.len()).position(|window| window == KEY)?;
    let rest = payload.get(at + KEY.len()..)?;
    let rest = skip_space(rest).strip_prefix(b":")?;
    let rest = skip_space(rest);
    match rest.first()? {
        b'"' => number_of(rest.get(1..)?),
        b'{' => {
            // A Number object: its `val`, within the object's first bytes.
            const VAL: &[u8] = b"\"val\"";
            let object = rest.get(..rest.len().min(96))?;
            let at = object.windows(VAL.len()).position(|window| window == VAL)?;
            let rest = skip_space(rest.get(at + VAL.len()..)?).strip_prefix(b":")?;
            number_of(skip_space(rest))
        }
        _ => number_of(rest),
    }
}

fn skip_space(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|byte| !byte.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    bytes.get(start..).unwrap_or_default()
}

/// The non-negative number `bytes` start with: digits, or a JSON number with
/// a fraction or an exponent (truncated to a whole number).
fn number_of(bytes: &[u8]) -> Option<u64> {
    let end = bytes
        .iter()
        .take(40)
        .position(|byte| !matches!(byte, b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-'))
        .unwrap_or(bytes.len().min(40));
    let token = std::str::from_utf8(bytes.get(..end)?).ok()?;
    if let Ok(whole) = token.parse::<u64>() {
        return Some(whole);
    }
    let number: f64 = token.parse().ok()?;
    // The cast saturates; u64::MAX microseconds is no real time anyway.
    (number.is_finite() && number >= 0.0).then_some(number as u64)
}

/// Microseconds since the Unix epoch, now.
fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| u64::try_from(since.as_micros()).unwrap_or(u64::MAX))
}

/// The run's timeline in microseconds since the epoch, known once every
/// connection has opened or failed to.
struct Window {
    /// Pushes received from then on are counted (u64::MAX: not yet).
    from: AtomicU64,
}

/// What one connection measured.
struct Tally {
    bytes: u64,
    histogram: Histogram,
    open_at_end: bool,
}

/// Runs the push measurement.
pub async fn bench(args: &Args, opening: Opening) -> Result<PushReport, Box<dyn std::error::Error>> {
    let url = opening.url.clone();
    let url = url.as_str();
    if !url.starts_with("ws://") {
        return Err(format!("--pushes: {url}: only ws:// URLs").into());
    }
    let opening = Arc::new(opening);
    let count = args.connections;
    let errors = Arc::new(Errors::default());
    let window = Arc::new(Window {
        from: AtomicU64::new(u64::MAX),
    });
    let (stop, stopped) = watch::channel(false);
    let handshakes = Arc::new(Semaphore::new(HANDSHAKES_IN_FLIGHT));
    let (opened_tx, mut opened_rx) = mpsc::channel::<Result<Session, String>>(count as usize);
    let about = Arc::new(requests::about().encode());
    let mut workers = JoinSet::new();
    for index in 0..count {
        workers.spawn(receiver(
            index,
            Arc::clone(&opening),
            Arc::clone(&handshakes),
            opened_tx.clone(),
            Arc::clone(&about),
            Arc::clone(&window),
            stopped.clone(),
            Arc::clone(&errors),
        ));
    }
    drop(opened_tx);

    let mut opened = 0u64;
    let mut failed = 0u64;
    let mut session = None;
    let connecting = async {
        while let Some(outcome) = opened_rx.recv().await {
            match outcome {
                Ok(agreed) => {
                    opened += 1;
                    session.get_or_insert(agreed);
                }
                Err(words) => {
                    failed += 1;
                    if failed <= CONNECT_FAILURES_SHOWN {
                        eprintln!("hswire bench: connection failed to open: {words}");
                    } else if failed == CONNECT_FAILURES_SHOWN + 1 {
                        eprintln!("hswire bench: further failures to open are counted, not shown");
                    }
                }
            }
            if opened + failed == u64::from(count) {
                break;
            }
        }
    };
    let interrupted_connecting = tokio::select! {
        () = connecting => false,
        _ = tokio::signal::ctrl_c() => true,
    };
    if interrupted_connecting {
        let _ = stop.send(true);
        workers.shutdown().await;
        return Err("interrupted while connecting".into());
    }
    let Some(session) = session else {
        let _ = stop.send(true);
        workers.shutdown().await;
        return Err(format!("no connection to {url} opened ({failed} failed)").into());
    };
    eprintln!(
        "hswire bench: {opened} of {count} connections to {url} opened{}, agreed {} (protocol v{}; offered {}); \
         receiving pushes: {} s of warm-up, then {} s",
        if failed > 0 { format!(" ({failed} failed)") } else { String::new() },
        mode(&session),
        session.version.number(),
        offered(args.compression, args.chunked),
        args.warmup.as_secs_f64(),
        args.duration.as_secs_f64(),
    );

    let started = Instant::now();
    let (Some(measure_from), Some(end)) = (
        started.checked_add(args.warmup),
        started
            .checked_add(args.warmup)
            .and_then(|from| from.checked_add(args.duration)),
    ) else {
        let _ = stop.send(true);
        workers.shutdown().await;
        return Err("--warmup and --duration together are too long a run".into());
    };
    let warmup_micros = u64::try_from(args.warmup.as_micros()).unwrap_or(u64::MAX);
    window
        .from
        .store(now_micros().saturating_add(warmup_micros), Ordering::Relaxed);
    let interrupted = tokio::select! {
        _ = tokio::time::sleep_until(end.into()) => false,
        _ = tokio::signal::ctrl_c() => true,
    };
    let stopped_at = Instant::now().min(end);
    let _ = stop.send(true);
    let mut histogram = Histogram::new();
    let (mut bytes, mut open_at_end) = (0u64, 0u64);
    while let Some(joined) = workers.join_next().await {
        match joined {
            Ok(tally) => {
                histogram.merge(&tally.histogram);
                bytes = bytes.saturating_add(tally.bytes);
                open_at_end += u64::from(tally.open_at_end);
            }
            Err(error) => errors.note(format!("a connection's task ended abnormally: {error}")),
        }
    }
    if interrupted {
        eprintln!("hswire bench: interrupted; the result covers the time until then");
    }
    Ok(PushReport {
        url: url.to_owned(),
        session,
        offered_compression: args.compression,
        offered_chunked: args.chunked,
        connections: count,
        opened,
        open_at_end,
        warmup: args.warmup,
        measured: stopped_at.saturating_duration_since(measure_from),
        interrupted,
        bytes,
        errors: errors.count(),
        first_errors: errors.first(),
        histogram,
    })
}

/// The WebSocket layer's read size per system call. tungstenite zero-fills
/// this much of its buffer before each read; its default, 128 KiB, costs
/// more than the push itself when pushes are a few KiB.
const READ_BUFFER: usize = 16 * 1024;

/// One connection's socket after the upgrade.
type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// What a receiver needs to open its connection.
pub struct Opening {
    /// The server's URL (ws:// only).
    pub url: String,
    /// The token sent first, if any.
    pub auth_token: Option<String>,
    /// What is offered in the capability handshake.
    pub capabilities: Capabilities,
    /// How long opening may take, the upgrade, the token and the handshake together.
    pub timeout: Duration,
}

/// Opens one connection: the upgrade (naming the Haystack subprotocol), the
/// token, and the capability handshake when anything is offered.
async fn open(opening: &Opening) -> Result<(Socket, Session), String> {
    let mut request = opening
        .url
        .as_str()
        .into_client_request()
        .map_err(|error| error.to_string())?;
    request.headers_mut().insert(
        SEC_WEBSOCKET_PROTOCOL,
        HeaderValue::from_static(handshake::SUBPROTOCOL),
    );
    let config = WebSocketConfig::default().read_buffer_size(READ_BUFFER);
    let (mut socket, _) = tokio_tungstenite::connect_async_with_config(request, Some(config), true)
        .await
        .map_err(|error| format!("cannot connect to {}: {error}", opening.url))?;
    if let Some(token) = &opening.auth_token {
        socket
            .send(WsMessage::text(auth_message(token)))
            .await
            .map_err(|error| format!("sending the token: {error}"))?;
    }
    if !opening.capabilities.offers_anything() {
        return Ok((socket, Session::V1));
    }
    let offer = Offer::new(&opening.capabilities);
    socket
        .send(WsMessage::text(offer.to_json()))
        .await
        .map_err(|error| format!("sending the capability offer: {error}"))?;
    // The answer is a text message; pushes may come before it and are skipped.
    loop {
        match socket.next().await {
            Some(Ok(WsMessage::Text(text))) => {
                return Ok((
                    socket,
                    Answer::parse(&text).map_or(Session::V1, |answer| answer.session(&offer)),
                ))
            }
            Some(Ok(WsMessage::Close(_))) | None => {
                return Err("the server closed the connection during the handshake".into())
            }
            Some(Ok(_)) => {}
            Some(Err(error)) => return Err(format!("during the handshake: {error}")),
        }
    }
}

/// One connection: opens (within the handshake bound), says `about`, and
/// takes pushes until `stopped` turns true or the connection ends.
///
/// It reads its own socket and decodes frames in place with the library's
/// [`Decoder`] rather than through [`haystack_wire::connection::Client`],
/// whose pushes each take a copy into their own buffer, a queue, and a
/// second task: at a thousand connections that path could not keep up.
#[allow(clippy::too_many_arguments)]
async fn receiver(
    index: u32,
    opening: Arc<Opening>,
    handshakes: Arc<Semaphore>,
    opened: mpsc::Sender<Result<Session, String>>,
    about: Arc<Vec<u8>>,
    window: Arc<Window>,
    mut stopped: watch::Receiver<bool>,
    errors: Arc<Errors>,
) -> Tally {
    let mut tally = Tally {
        bytes: 0,
        histogram: Histogram::new(),
        open_at_end: false,
    };
    let connected = {
        // The semaphore is never closed; without a permit, connect anyway.
        let _permit = handshakes.acquire().await.ok();
        tokio::time::timeout(opening.timeout, open(&opening)).await
    };
    let mut socket = match connected {
        Ok(Ok((socket, session))) => {
            let _ = opened.send(Ok(session)).await;
            socket
        }
        Ok(Err(words)) => {
            let _ = opened.send(Err(format!("connection {index}: {words}"))).await;
            return tally;
        }
        Err(_) => {
            let _ = opened
                .send(Err(format!(
                    "connection {index}: not open after {} s",
                    opening.timeout.as_secs_f64()
                )))
                .await;
            return tally;
        }
    };
    drop(opened);
    // A v1 frame, understood in every session.
    match Encoder::new().request(ABOUT_ID, Op::About, &about) {
        Ok(frame) => {
            if let Err(error) = socket.send(WsMessage::binary(frame)).await {
                errors.note(format!("connection {index}, about: {error}"));
            }
        }
        Err(error) => errors.note(format!("connection {index}, about: {error}")),
    }
    let mut decoder = Decoder::new();
    let mut open = true;
    loop {
        let heard = tokio::select! {
            biased;
            _ = stopped.changed() => break,
            heard = socket.next() => heard,
        };
        let frame = match heard {
            Some(Ok(WsMessage::Binary(frame))) => frame,
            Some(Ok(WsMessage::Close(_))) | None | Some(Err(_)) => {
                open = false;
                break;
            }
            // Text (a JSON message), pings (answered by the socket), pongs.
            Some(Ok(_)) => continue,
        };
        let message = match decoder.decode(&frame) {
            Ok(Some(message)) => message,
            // A chunk of a message still arriving.
            Ok(None) => continue,
            Err(error) => {
                errors.note(format!(
                    "connection {index}: a frame that cannot be read: {error}"
                ));
                continue;
            }
        };
        if !message.flags.contains(Flags::PUSH) {
            if message.flags.contains(Flags::ERROR) {
                errors.note(format!("connection {index}, about: answered with an error"));
            }
            continue;
        }
        let received = now_micros();
        let Some(pushed) = pushed_at(&message.payload) else {
            errors.note(format!(
                "connection {index}: a {} push of {} bytes without a readable pushedAt in its first {PUSHED_AT_WITHIN} bytes",
                message.op.name(),
                message.payload.len()
            ));
            continue;
        };
        if received >= window.from.load(Ordering::Relaxed) {
            tally.bytes = tally.bytes.saturating_add(message.payload.len() as u64);
            tally
                .histogram
                .record(Duration::from_micros(received.saturating_sub(pushed)));
        }
    }
    tally.open_at_end = open;
    let _ = tokio::time::timeout(CLOSE_WAIT, socket.close(None)).await;
    tally
}

impl PushReport {
    /// Deliveries counted: pushes received after the warm-up.
    pub fn deliveries(&self) -> u64 {
        self.histogram.samples()
    }

    /// Deliveries per second measured (0 when nothing was measured).
    pub fn deliveries_per_sec(&self) -> f64 {
        per_second(self.deliveries(), self.measured)
    }

    /// The report as one JSON object.
    pub fn json(&self) -> Value {
        json!({
            "url": self.url,
            "mode": mode(&self.session),
            "version": self.session.version.number(),
            "compression": self.session.compression.map(|algorithm| algorithm.name()),
            "chunked": self.session.chunked,
            "pushes": true,
            "connections": self.connections,
            "connections_opened": self.opened,
            "connections_open_at_end": self.open_at_end,
            "warmup_s": self.warmup.as_secs_f64(),
            "duration_s": (self.measured.as_secs_f64() * 1e3).round() / 1e3,
            "interrupted": self.interrupted,
            "deliveries": self.deliveries(),
            "deliveries_per_sec": (self.deliveries_per_sec() * 10.0).round() / 10.0,
            "push_bytes": self.bytes,
            "errors": self.errors,
            "first_errors": self.first_errors,
            "latency_ms": latency_json(&self.histogram),
        })
    }

    /// The report as a table for people.
    pub fn table(&self) -> String {
        let mut table = String::new();
        let mut row = |name: &str, value: String| {
            let _ = writeln!(table, "{name:<14} {value}");
        };
        row("url", self.url.clone());
        row(
            "mode",
            mode_words(&self.session, self.offered_compression, self.offered_chunked),
        );
        row(
            "connections",
            format!(
                "{} asked, {} opened, {} open at the end",
                self.connections, self.opened, self.open_at_end
            ),
        );
        row("warm-up", format!("{:.1} s", self.warmup.as_secs_f64()));
        row("measured", measured_words(self.measured, self.interrupted));
        row("deliveries", self.deliveries().to_string());
        row("deliveries/s", format!("{:.1}", self.deliveries_per_sec()));
        row("pushes", volume_words(self.bytes, self.measured));
        row("errors", self.errors.to_string());
        row("latency ms", latency_words(&self.histogram));
        table
    }
}

#[cfg(test)]
mod tests {
    use super::{pushed_at, PUSHED_AT_WITHIN};

    #[test]
    fn pushed_at_is_read_as_a_bare_number_a_number_object_or_a_str() {
        for (payload, expected) in [
            (
                r#"{"_kind":"grid","meta":{"ver":"3.0","pushedAt":1764000000123456},"cols":[]}"#,
                1_764_000_000_123_456,
            ),
            (
                r#"{"_kind":"grid","meta":{"pushedAt": 1764000000123456.0},"rows":[]}"#,
                1_764_000_000_123_456,
            ),
            (
                r#"{"meta":{"pushedAt":{"_kind":"number","val":1.764e15,"unit":"µs"}}}"#,
                1_764_000_000_000_000,
            ),
            (
                r#"{"meta":{"pushedAt":"1764000000000001"}}"#,
                1_764_000_000_000_001,
            ),
        ] {
            assert_eq!(pushed_at(payload.as_bytes()), Some(expected), "{payload}");
        }
    }

    #[test]
    fn a_push_without_pushed_at_in_its_first_bytes_has_none() {
        assert_eq!(pushed_at(br#"{"_kind":"grid","meta":{"ver":"3.0"}}"#), None);
        assert_eq!(pushed_at(br#"{"meta":{"pushedAt":"soon"}}"#), None);
        assert_eq!(pushed_at(br#"{"meta":{"pushedAt":-5}}"#), None);
        assert_eq!(pushed_at(b""), None);
        let late = format!(
            r#"{{"meta":{{"ver":"{}","pushedAt":1}}}}"#,
            "x".repeat(PUSHED_AT_WITHIN)
        );
        assert_eq!(pushed_at(late.as_bytes()), None);
    }
}
