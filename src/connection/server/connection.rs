//! One connection, from the WebSocket upgrade to its close: the handshake
//! deadline, the token, the read loop with its backpressure, keepalive and
//! reassembly timer, and the close code that says why it ended.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{Sink, Stream, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::error::{CapacityError, ProtocolError};
use tokio_tungstenite::tungstenite::handshake::server::{
    ErrorResponse, Request as HttpRequest, Response as HttpResponse,
};
use tokio_tungstenite::tungstenite::http::header::SEC_WEBSOCKET_PROTOCOL;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{self, Message};

use super::super::budget::{Account, MemoryBudget};
use super::super::control::{Closing, Control, Ended};
use super::super::error_grid::error_grid;
use super::super::handshake::{Answer, Offer, Session};
use super::super::outbox::{write_loop, Outbox, SendError};
use super::super::read_meter::{Meter, ReadMeter};
use super::super::websocket_config;
use super::super::write_deadline::WriteDeadline;
use super::config::{Permissions, ServerConfig};
use super::counters::Counters;
use super::envelope::{self, batch_answer, into_json, response_envelope, Envelope, OpField, Role, Text};
use super::head::{self, Checked, RequestRefused};
use super::login::{self, authenticate};
use super::payload::{self, Payload};
use super::peer::Peer;
use super::router::{Fault, Reply, Request, Router};
use super::work::{Cancellation, Cancelled, ComputeShare, Held};
use crate::decode::Decoder;
use crate::encode::unknown_op_response;
use crate::error::{Error, ErrorScope};
use crate::limits::Limits;
use crate::message::Message as WireMessage;
use crate::protocol::messages::{batch, hello};
use crate::protocol::{handshake, BaseHeader, Flags, HeaderError, Op};

/// How often a connection with unfinished chunk sequences looks for expired
/// ones when no chunk arrives to trigger the sweep.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// What a login in progress is counted as in the server's memory budget:
/// the fields it keeps of the client's messages (a user name, nonces, a
/// proof) and its SCRAM state, each message at most
/// [`ServerConfig::MAX_LOGIN_MESSAGE`], three of them.
const LOGIN_STATE: usize = 3 * ServerConfig::MAX_LOGIN_MESSAGE;

/// How long a connection waits for its close frame to go out when there is
/// no write deadline.
const DEFAULT_LINGER: Duration = Duration::from_secs(30);

/// How much a server connection's WebSocket layer reads per system call.
/// tungstenite's default, 128 KiB, is zero-filled on the first read and
/// kept for the connection's life: 128 KiB for every idle client. Requests
/// are small; a large one is still read whole, a few more calls.
const READ_BUFFER: usize = 8 << 10;

/// Why a connection ended.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectionEnd {
    /// The client closed it, or went away.
    #[error("the client closed the connection")]
    ClientClosed,
    /// The connection carried a plain HTTP request (no `Upgrade` header),
    /// answered from [`ServerConfig::pages`] with this status, and closed.
    #[error("answered a plain HTTP request with {status}")]
    Page {
        /// The HTTP status of the answer.
        status: u16,
    },
    /// The request head was refused with an HTTP error answer (400, 403,
    /// 426, 431), before any WebSocket existed: not HTTP, an upgrade the
    /// WebSocket layer would refuse, an origin not let in, a plain request
    /// to a server without pages. See [`RequestRefused`].
    #[error("refused the request with HTTP {status}: {0}", status = .0.status())]
    Refused(#[source] RequestRefused),
    /// The WebSocket upgrade failed.
    #[error("the WebSocket upgrade failed: {0}")]
    Upgrade(#[source] Box<tungstenite::Error>),
    /// The upgrade, or the token, did not arrive within the handshake
    /// deadline. A request head still arriving then was answered `408`.
    #[error("no WebSocket upgrade and token within {after:?}")]
    HandshakeTimeout {
        /// The deadline ([`ServerConfig::handshake_timeout`]).
        after: Duration,
    },
    /// The token was missing or wrong.
    #[error("authentication failed")]
    AuthenticationFailed,
    /// The client sent a frame the server cannot read, or too much at once.
    #[error("the client broke the protocol: {0}")]
    Protocol(#[source] Error),
    /// The client sent a batch of more than the spec's cap of requests
    /// ([`batch::MAX_ITEMS`]); it is refused whole, none of it run. The count
    /// stops at the first item past the cap: the rest is never read.
    #[error("the client sent a batch of at least {items} requests, over the cap of {limit}")]
    BatchTooLarge {
        /// The items read before the batch was refused.
        items: usize,
        /// The cap.
        limit: usize,
    },
    /// The client broke the WebSocket protocol (RFC 6455) after the
    /// upgrade: a control frame over 125 bytes or fragmented, reserved bits
    /// or opcodes, an unmasked frame, a continuation of nothing (closed with
    /// 1002); or a text message that is not UTF-8 (closed with 1007).
    #[error("the client broke the WebSocket protocol: {0}")]
    WebSocketProtocol(#[source] Box<tungstenite::Error>),
    /// A WebSocket message or frame over the size limit.
    #[error("the client sent a message over the size limit: {0}")]
    TooLarge(#[source] Box<tungstenite::Error>),
    /// The client answered no ping: it is gone without closing.
    #[error("the client sent nothing for {silent_for:?}, not even a pong")]
    Unresponsive {
        /// How long nothing came.
        silent_for: Duration,
    },
    /// The client's socket took no bytes for the write deadline.
    #[error("the client took no bytes for {after:?}")]
    WriteStalled {
        /// The deadline ([`ServerConfig::write_timeout`]).
        after: Duration,
    },
    /// The client did not read its pushes: its queued output passed its budget.
    #[error("the client did not read: {queued} bytes queued, over its budget of {limit}")]
    NotReading {
        /// Bytes queued for it.
        queued: usize,
        /// The connection's output budget.
        limit: usize,
    },
    /// The server's memory budget was spent and this connection held the most.
    #[error("the server's memory budget of {limit} bytes was spent; this connection held {held}")]
    OverServerBudget {
        /// What it held.
        held: usize,
        /// The server-wide limit ([`ServerConfig::memory_budget`]).
        limit: usize,
    },
    /// The server is shutting down ([`super::Server::run_until`]).
    #[error("the server is shutting down")]
    ServerShutdown,
    /// The WebSocket layer failed.
    #[error("WebSocket error: {0}")]
    Socket(#[source] Box<tungstenite::Error>),
}

impl From<Closing> for ConnectionEnd {
    fn from(why: Closing) -> Self {
        match why {
            Closing::OverServerBudget { held, limit } => ConnectionEnd::OverServerBudget { held, limit },
            Closing::PushesNotRead { queued, limit } => ConnectionEnd::NotReading { queued, limit },
            Closing::WriteStalled { after } => ConnectionEnd::WriteStalled { after },
            Closing::ServerGoingAway => ConnectionEnd::ServerShutdown,
            Closing::WriterFailed { reason } => {
                ConnectionEnd::Socket(Box::new(tungstenite::Error::Io(std::io::Error::other(reason))))
            }
        }
    }
}

impl ConnectionEnd {
    /// The close frame that tells the client why, when one can still reach it.
    ///
    /// 1009 for a message or frame over the limit; 1008 for policy (the
    /// token, the budgets, a flood of unfinished sequences, a batch over its
    /// cap); 1002 for a frame header that cannot be read and for a breach of
    /// the WebSocket protocol; 1007 for a text message that is not UTF-8;
    /// 1011 for a client that answers no ping; 1013 when the server's shared
    /// memory is spent; 1001 when the server shuts down. A client that
    /// closed, a socket that failed or stalled, and a request answered over
    /// HTTP, get none.
    pub fn close_frame(&self) -> Option<CloseFrame> {
        let (code, reason) = match self {
            ConnectionEnd::AuthenticationFailed => (CloseCode::Policy, "authentication failed".to_owned()),
            ConnectionEnd::HandshakeTimeout { after } => (
                CloseCode::Policy,
                format!("no token within {} s", after.as_secs_f32()),
            ),
            ConnectionEnd::TooLarge(_) => (CloseCode::Size, "message too large".to_owned()),
            ConnectionEnd::WebSocketProtocol(error) => match &**error {
                tungstenite::Error::Utf8(_) => {
                    (CloseCode::Invalid, "a text message that is not UTF-8".to_owned())
                }
                other => (CloseCode::Protocol, format!("WebSocket protocol error: {other}")),
            },
            ConnectionEnd::Protocol(error) => protocol_close(error),
            ConnectionEnd::BatchTooLarge { items, limit } => (
                CloseCode::Policy,
                format!("batch of at least {items} requests, over the cap of {limit}"),
            ),
            ConnectionEnd::Unresponsive { .. } => (CloseCode::Error, "keepalive ping timeout".to_owned()),
            ConnectionEnd::NotReading { queued, limit } => (
                CloseCode::Policy,
                format!("not reading: {queued} bytes queued, budget {limit}"),
            ),
            ConnectionEnd::ServerShutdown => (CloseCode::Away, "server shutting down".to_owned()),
            ConnectionEnd::OverServerBudget { held, limit } => (
                CloseCode::Again,
                format!("server memory budget {limit} spent; this connection held {held}"),
            ),
            ConnectionEnd::ClientClosed
            | ConnectionEnd::Page { .. }
            | ConnectionEnd::Refused(_)
            | ConnectionEnd::Upgrade(_)
            | ConnectionEnd::WriteStalled { .. }
            | ConnectionEnd::Socket(_) => return None,
        };
        Some(CloseFrame {
            code,
            reason: short_reason(reason).into(),
        })
    }
}

/// The close code and reason for a frame the connection cannot go on after.
fn protocol_close(error: &Error) -> (CloseCode, String) {
    match error {
        Error::FrameTooLarge { len, limit } => (
            CloseCode::Size,
            format!("frame of {len} bytes over the limit {limit}"),
        ),
        Error::TooManyPending { limit, .. } => (
            CloseCode::Policy,
            format!("more than {limit} unfinished chunk sequences"),
        ),
        Error::PendingBytesExceeded { limit, .. } => (
            CloseCode::Policy,
            format!("unfinished chunk sequences over {limit} bytes"),
        ),
        Error::Header(header) => (CloseCode::Protocol, format!("unreadable frame header: {header}")),
        other => (CloseCode::Protocol, other.to_string()),
    }
}

/// A close reason fits in a control frame: at most 123 bytes of UTF-8.
fn short_reason(mut reason: String) -> String {
    const MAX: usize = 123;
    if reason.len() > MAX {
        let cut = (0..=MAX)
            .rev()
            .find(|&at| reason.is_char_boundary(at))
            .unwrap_or(0);
        reason.truncate(cut);
    }
    reason
}

static PEER_IDS: AtomicU64 = AtomicU64::new(1);

/// Serves one connection until it ends, from its WebSocket upgrade on:
/// [`super::Server::run`] does this for each TCP connection it accepts, and
/// custom accept loops can too, over any transport (a TLS stream, a Unix
/// socket, an in-memory pipe). A connection served this way has a memory
/// budget of its own ([`ServerConfig::memory_budget`]); the server's
/// connections share one.
pub async fn serve_connection<S>(stream: S, config: Arc<ServerConfig>, router: Arc<Router>) -> ConnectionEnd
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let slot = Slot::alone(&config);
    serve(stream, config, router, slot).await
}

/// A number for the next connection, unique within the process.
pub(super) fn next_id() -> u64 {
    PEER_IDS.fetch_add(1, Ordering::Relaxed)
}

/// What a connection shares with the server that serves it.
#[derive(Debug)]
pub(super) struct Slot {
    /// The connection's number.
    pub(super) id: u64,
    /// How the server asks it to close.
    pub(super) control: Arc<Control>,
    /// The memory it shares with the other connections.
    pub(super) budget: Arc<MemoryBudget>,
    /// What the server counts.
    pub(super) counters: Arc<Counters>,
    /// When its upgrade and token must have come.
    pub(super) deadline: Instant,
    /// The address the connection came from, when the transport has one.
    pub(super) remote: Option<SocketAddr>,
    /// The server's address the connection arrived at, when the transport
    /// has one: the origin check's loopback rule needs it.
    pub(super) local: Option<SocketAddr>,
}

impl Slot {
    /// The slot of a connection served on its own, with a budget of its own.
    fn alone(config: &ServerConfig) -> Slot {
        Slot {
            id: next_id(),
            control: Arc::new(Control::new()),
            budget: MemoryBudget::new(config.memory_budget),
            counters: Arc::default(),
            deadline: Instant::now() + config.handshake_timeout,
            remote: None,
            local: None,
        }
    }
}

/// Serves the connection of `slot` over `stream`, from the upgrade on, and
/// says in the log why it ended.
pub(super) async fn serve<S>(
    stream: S,
    config: Arc<ServerConfig>,
    router: Arc<Router>,
    slot: Slot,
) -> ConnectionEnd
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let counters = Arc::clone(&slot.counters);
    let end = upgrade_and_speak(stream, &config, &router, slot).await;
    log_end(&end, &counters);
    end
}

async fn upgrade_and_speak<S>(
    stream: S,
    config: &Arc<ServerConfig>,
    router: &Arc<Router>,
    slot: Slot,
) -> ConnectionEnd
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let account = Arc::new(slot.budget.open(slot.id, Arc::clone(&slot.control)));
    let meter = Meter::new(Arc::clone(&account), Arc::clone(&slot.control));
    let stream = ReadMeter::new(
        WriteDeadline::new(stream, config.write_timeout),
        Arc::clone(&meter),
    );
    // The request head is read and checked here first: a plain request or
    // a bad upgrade is answered over HTTP, a good one goes on with the bytes
    // read replayed.
    let stream = match head::check(stream, config, slot.deadline, slot.local).await {
        Checked::Upgrade(stream) => stream,
        Checked::Page(status) => return ConnectionEnd::Page { status },
        Checked::Refused(refused) => return ConnectionEnd::Refused(refused),
        Checked::Failed(error) => return ConnectionEnd::Upgrade(Box::new(tungstenite::Error::Io(error))),
        Checked::TimedOut => {
            return ConnectionEnd::HandshakeTimeout {
                after: config.handshake_timeout,
            }
        }
    };
    let upgrade = tokio_tungstenite::accept_hdr_async_with_config(
        stream,
        name_subprotocol,
        Some(websocket_config(&config.limits).read_buffer_size(READ_BUFFER)),
    );
    let socket = match tokio::time::timeout_at(slot.deadline, upgrade).await {
        Ok(Ok(socket)) => socket,
        Ok(Err(error)) => return ConnectionEnd::Upgrade(Box::new(error)),
        Err(_) => {
            return ConnectionEnd::HandshakeTimeout {
                after: config.handshake_timeout,
            }
        }
    };
    speak(socket, config, router, account, slot, Some(meter)).await
}

/// Serves one connection whose WebSocket upgrade the caller already made:
/// an axum or hyper application's upgraded socket, say, or any `Stream` +
/// `Sink` of tungstenite messages. The token (when the config asks one) must
/// come within [`ServerConfig::handshake_timeout`]; the rest is as for
/// [`serve_connection`], except what only the byte stream can give: the
/// write deadline and the metering of messages still arriving are the
/// transport's owner's to apply. Limit the message size where the upgrade is
/// made ([`ServerConfig::DEFAULT_LIMITS`] is a good start), and check the
/// upgrade's origin there too ([`ServerConfig::check_origin`]), as a
/// [`super::Server`] does. The connection has a memory budget of its own
/// ([`ServerConfig::memory_budget`]).
pub async fn serve_websocket<W>(socket: W, config: Arc<ServerConfig>, router: Arc<Router>) -> ConnectionEnd
where
    W: Stream<Item = Result<Message, tungstenite::Error>>
        + Sink<Message, Error = tungstenite::Error>
        + Unpin
        + Send
        + 'static,
{
    let slot = Slot::alone(&config);
    let counters = Arc::clone(&slot.counters);
    let account = Arc::new(slot.budget.open(slot.id, Arc::clone(&slot.control)));
    let end = speak(socket, &config, &router, account, slot, None).await;
    log_end(&end, &counters);
    end
}

/// Says why a connection ended: at `info` when the client misbehaved (a
/// refusal worth a look), at `debug` otherwise.
fn log_end(end: &ConnectionEnd, counters: &Counters) {
    match end {
        ConnectionEnd::ClientClosed
        | ConnectionEnd::ServerShutdown
        | ConnectionEnd::Socket(_)
        | ConnectionEnd::Page { .. }
        | ConnectionEnd::Refused(RequestRefused::NotAnUpgrade)
        | ConnectionEnd::Upgrade(_) => {
            tracing::debug!(end = %end, "connection ended");
        }
        _ => {
            Counters::one(&counters.closed_for_misbehaviour);
            tracing::info!(end = %end, "connection closed");
        }
    }
}

/// Everything after the upgrade: the token, the read loop, the close.
async fn speak<W>(
    socket: W,
    config: &Arc<ServerConfig>,
    router: &Arc<Router>,
    account: Arc<Account>,
    slot: Slot,
    meter: Option<Arc<Meter>>,
) -> ConnectionEnd
where
    W: Stream<Item = Result<Message, tungstenite::Error>>
        + Sink<Message, Error = tungstenite::Error>
        + Unpin
        + Send
        + 'static,
{
    let Slot {
        id,
        control,
        counters,
        deadline,
        remote,
        ..
    } = slot;
    let (sink, mut stream) = socket.split();
    let (outbox, writer) = Outbox::with_account(
        Session::V1,
        Arc::clone(&account),
        Arc::clone(&control),
        config.write_timeout,
    );
    let writer = tokio::spawn(write_loop(sink, writer));
    let outbox = Arc::new(outbox);
    let ended = Arc::new(Ended::default());
    let authenticated = match Held::charge(&account, LOGIN_STATE) {
        Ok(login_state) => {
            let user = authenticate(&mut stream, &outbox, config, deadline, remote).await;
            drop(login_state);
            user
        }
        Err(over) => Err(ConnectionEnd::OverServerBudget {
            held: over.held,
            limit: over.limit,
        }),
    };
    let end = match authenticated {
        Ok(user) => {
            let peer = Peer {
                id,
                remote,
                outbox: Arc::clone(&outbox),
                control: Arc::clone(&control),
                max_queued_bytes: config.max_queued_bytes,
                counters: Arc::clone(&counters),
                account: Arc::clone(&account),
                ended: Arc::clone(&ended),
                json_form: Arc::new(AtomicBool::new(false)),
            };
            Connection {
                config,
                router,
                peer,
                decoder: Decoder::new()
                    .with_limits(config.limits)
                    .with_ttl(config.reassembly_ttl),
                in_flight: Arc::new(Semaphore::new(config.max_in_flight)),
                compute: config.compute.share(),
                account: Arc::clone(&account),
                meter: meter.as_deref(),
                charged: 0,
                counters: Arc::clone(&counters),
                user,
            }
            .run(&mut stream)
            .await
        }
        Err(end) => end,
    };
    // Nobody reads answers from here on: handlers still running are dropped,
    // and their work on the compute pool is told to stop.
    ended.set();
    // Whatever the socket read and nobody will take is no longer held.
    if let Some(meter) = &meter {
        meter.message_taken();
    }
    let _ = outbox.close(end.close_frame()).await;
    drop(outbox);
    // Handlers still running hold the outbox; the writer ends with the close frame,
    // which the connection waits for: until then it still holds a socket. A socket
    // that takes nothing fails the write at the write deadline.
    let linger = config.write_timeout.unwrap_or(DEFAULT_LINGER);
    let _ = tokio::time::timeout(linger, writer).await;
    end
}

/// Names the spec's subprotocol in the upgrade response when the client
/// offers it, as the reference's client requires. A client that offers none
/// is still served: the subprotocol adds nothing this server needs.
// The signature is tungstenite's upgrade callback's; its error type is not ours to shrink.
#[allow(clippy::result_large_err)]
fn name_subprotocol(
    request: &HttpRequest,
    mut response: HttpResponse,
) -> Result<HttpResponse, ErrorResponse> {
    let offered = request
        .headers()
        .get_all(SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|list| list.split(','))
        .any(|name| name.trim() == handshake::SUBPROTOCOL);
    if offered {
        response.headers_mut().insert(
            SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static(handshake::SUBPROTOCOL),
        );
    }
    Ok(response)
}

/// Why a connection ends on an error of its WebSocket layer's read side.
pub(super) fn socket_end(error: tungstenite::Error) -> ConnectionEnd {
    match error {
        tungstenite::Error::Capacity(CapacityError::MessageTooLong { .. }) => {
            ConnectionEnd::TooLarge(Box::new(error))
        }
        // A client that dropped the TCP connection without a close frame
        // went away; it broke nothing a close frame could still tell it.
        tungstenite::Error::Protocol(ProtocolError::ResetWithoutClosingHandshake) => {
            ConnectionEnd::Socket(Box::new(error))
        }
        tungstenite::Error::Protocol(_) | tungstenite::Error::Utf8(_) => {
            ConnectionEnd::WebSocketProtocol(Box::new(error))
        }
        error => ConnectionEnd::Socket(Box::new(error)),
    }
}

/// The reading side of one authenticated connection.
struct Connection<'a> {
    config: &'a ServerConfig,
    router: &'a Arc<Router>,
    peer: Peer,
    decoder: Decoder,
    in_flight: Arc<Semaphore>,
    /// The connection's way into the compute pool.
    compute: ComputeShare,
    account: Arc<Account>,
    /// What the WebSocket layer holds of the message it is reading, when
    /// the connection owns the byte stream.
    meter: Option<&'a Meter>,
    /// The decoder's pending bytes, as charged to the account.
    charged: usize,
    counters: Arc<Counters>,
    /// The user the connection logged in as, for the permission hook and
    /// the handlers; `None` when anonymous or let in by the shared token.
    user: Option<Arc<str>>,
}

impl Drop for Connection<'_> {
    fn drop(&mut self) {
        // The decoder and its unfinished sequences go now, not when the writer does.
        self.account.release(self.charged);
    }
}

impl Connection<'_> {
    async fn run<S>(mut self, stream: &mut S) -> ConnectionEnd
    where
        S: Stream<Item = Result<Message, tungstenite::Error>> + Unpin,
    {
        let control = Arc::clone(&self.peer.control);
        let backlog = Arc::clone(self.peer.outbox.backlog());
        let far = Duration::from_secs(86_400 * 365);
        let sweep_every = SWEEP_EVERY.min(self.config.reassembly_ttl);
        let mut last_heard = Instant::now();
        let mut pinged = false;
        let keepalive = tokio::time::sleep(self.config.ping_interval.unwrap_or(far));
        let sweep = tokio::time::sleep(far);
        tokio::pin!(keepalive, sweep);
        loop {
            // Backpressure: no more requests while the client's output is over budget.
            while backlog.bytes() > self.config.max_queued_bytes {
                tokio::select! {
                    why = control.closed() => return self.finish(why).await,
                    () = backlog.drained() => {}
                }
                // Time spent not reading is not the client's silence.
                last_heard = Instant::now();
            }
            tokio::select! {
                biased;
                why = control.closed() => return self.finish(why).await,
                next = stream.next() => {
                    if let Some(meter) = self.meter {
                        meter.message_taken();
                    }
                    last_heard = Instant::now();
                    pinged = false;
                    let read = match next {
                        Some(Ok(Message::Binary(frame))) => {
                            self.peer.set_json_form(false);
                            self.read_frame(&frame).await
                        }
                        Some(Ok(Message::Text(text))) => self.read_text(&text).await,
                        Some(Ok(Message::Close(_))) | None => Err(ConnectionEnd::ClientClosed),
                        Some(Ok(_)) => Ok(()),
                        Some(Err(error)) => Err(socket_end(error)),
                    };
                    if let Err(end) = read {
                        return end;
                    }
                    if self.decoder.pending_count() > 0 && sweep.deadline() > Instant::now() + sweep_every {
                        sweep.as_mut().reset(Instant::now() + sweep_every);
                    }
                }
                () = &mut keepalive, if self.config.ping_interval.is_some() => {
                    let interval = self.config.ping_interval.unwrap_or(far);
                    let silent_for = last_heard.elapsed();
                    if pinged && silent_for >= interval + self.config.pong_timeout {
                        return ConnectionEnd::Unresponsive { silent_for };
                    }
                    if !pinged && silent_for >= interval {
                        if self.peer.outbox.send_ping().is_err() {
                            return control.closed().await.into();
                        }
                        pinged = true;
                    }
                    let next = if pinged { interval + self.config.pong_timeout } else { interval };
                    keepalive.as_mut().reset(last_heard + next);
                }
                () = &mut sweep => {
                    self.decoder.sweep_expired();
                    if let Err(end) = self.charge_pending() {
                        return end;
                    }
                    let next = if self.decoder.pending_count() > 0 { sweep_every } else { far };
                    sweep.as_mut().reset(Instant::now() + next);
                }
            }
        }
    }

    /// How the connection ends when asked to close from outside. A server
    /// that shuts down first lets the requests already read finish and their
    /// answers go out, within [`ServerConfig::shutdown_grace`]; no more
    /// requests are read meanwhile.
    async fn finish(&self, why: Closing) -> ConnectionEnd {
        if why == Closing::ServerGoingAway {
            let backlog = self.peer.outbox.backlog();
            let every_permit = u32::try_from(self.config.max_in_flight).unwrap_or(u32::MAX);
            let drained = async {
                // Every permit back: every handler is done and its answer queued.
                let _ = self.in_flight.acquire_many(every_permit).await;
                while backlog.bytes() > 0 {
                    backlog.drained().await;
                }
            };
            let _ = tokio::time::timeout(self.config.shutdown_grace, drained).await;
        }
        why.into()
    }

    /// Reads one text message: a capability offer, a JSON request envelope
    /// or a batch. Anything else is ignored and counted, as the reference
    /// ignores it; a batch over its cap ends the connection.
    async fn read_text(&self, text: &str) -> Result<(), ConnectionEnd> {
        match envelope::read_text(text) {
            Text::Object(envelope) => match envelope.role() {
                Role::Offer => {
                    self.answer_offer(text);
                    Ok(())
                }
                // A login opened where none is taken (no credential store, or
                // after the login): refused as the spec says, so that the
                // client is not left waiting for an answer that never comes.
                Role::Login if envelope.has_kind(hello::KIND) => {
                    tracing::info!("a login opened after the login, or on a server that takes none: refused");
                    Err(login::refuse(&self.peer.outbox).await)
                }
                Role::Login => {
                    self.ignore("a login message after the login");
                    Ok(())
                }
                Role::Request => self.start_envelope(&envelope).await,
            },
            Text::Batch(items) => self.start_batch(&items).await,
            Text::TooManyItems { seen } => Err(ConnectionEnd::BatchTooLarge {
                items: seen,
                limit: batch::MAX_ITEMS,
            }),
            Text::Other => {
                self.ignore("neither a JSON object nor a JSON array");
                Ok(())
            }
        }
    }

    /// Counts a text message that is ignored, and says why in the log.
    fn ignore(&self, why: &'static str) {
        Counters::one(&self.counters.ignored_messages);
        tracing::debug!(why, "text message ignored");
    }

    /// Answers a capability offer; an offer that cannot be read is ignored.
    fn answer_offer(&self, text: &str) {
        let Ok(offer) = Offer::parse(text) else {
            self.ignore("a capability offer that cannot be read");
            return;
        };
        self.peer.set_json_form(false);
        let answer = Answer::to_offer(&offer, &self.config.capabilities);
        let session = answer.session(&offer);
        tracing::Span::current().record(
            "session",
            tracing::field::display(format_args!(
                "v{} compression={} chunked={}",
                session.version.number(),
                session.compression.map_or("none", |algorithm| algorithm.name()),
                session.chunked
            )),
        );
        // The answer is queued before any frame of the new session, so the client reads it first.
        let _ = self.peer.outbox.queue_text(answer.to_json());
        self.peer.outbox.set_session(session);
    }

    async fn read_frame(&mut self, frame: &[u8]) -> Result<(), ConnectionEnd> {
        let limits = self.config.limits;
        // Decompression writes into memory the server has not counted yet:
        // it gets room from the shared budget first, and no more than that.
        let compressed = frame
            .first()
            .is_some_and(|flags| Flags::from_bits(*flags).contains(Flags::COMPRESSED));
        let room = if compressed {
            let room = self.account.reserve_up_to(limits.max_frame_payload);
            self.decoder.set_limits(Limits {
                max_frame_payload: room,
                ..limits
            });
            room
        } else {
            0
        };
        let decoded = self.decoder.decode(frame);
        if compressed {
            self.decoder.set_limits(limits);
            self.account.release(room);
        }
        let outcome = match decoded {
            Ok(Some(message)) => self.start(message).await,
            Ok(None) => Ok(()),
            Err(error) if error.scope() == ErrorScope::Message => {
                Counters::one(&self.counters.refused_frames);
                tracing::debug!(error = %error, scope = ?error.scope(), "frame refused, the connection goes on");
                self.refuse(frame, &error);
                Ok(())
            }
            Err(error) => Err(ConnectionEnd::Protocol(error)),
        };
        outcome?;
        self.charge_pending()
    }

    /// Keeps the account in step with what the decoder holds.
    fn charge_pending(&mut self) -> Result<(), ConnectionEnd> {
        let pending = self.decoder.pending_bytes();
        if pending > self.charged {
            self.account.charge(pending - self.charged).map_err(|exhausted| {
                ConnectionEnd::OverServerBudget {
                    held: exhausted.held,
                    limit: exhausted.limit,
                }
            })?;
        } else {
            self.account.release(self.charged - pending);
        }
        self.charged = pending;
        Ok(())
    }

    /// Answers a request whose frame was refused with an error response.
    fn refuse(&self, frame: &[u8], error: &Error) {
        if let Error::Header(header @ HeaderError::UnknownOp { code, request_id, .. }) = error {
            // A newer peer's op: answered under the op byte it sent, as the spec's policy says;
            // a response or push under such an op asked nothing and is dropped.
            if header.answerable() {
                let payload = error_grid(&format!("op code {code} is not known to this server"));
                let _ = self
                    .peer
                    .outbox
                    .send_frame(unknown_op_response(*request_id, *code, &payload));
            }
            return;
        }
        let Some(base) = frame
            .first_chunk()
            .and_then(|header| BaseHeader::decode(header).ok())
        else {
            return;
        };
        if is_request(base.flags) {
            let payload = error_grid(&format!("request refused: {error}"));
            let _ = self
                .peer
                .outbox
                .send_now(BaseHeader::error_response(base.request_id, base.op), &payload);
        }
    }

    /// What a request's task needs to run its handler, whatever form the
    /// request came in.
    fn handling(&self) -> Handling {
        Handling {
            router: Arc::clone(self.router),
            permissions: self.config.permissions.clone(),
            counters: Arc::clone(&self.counters),
            timeout: self.config.request_timeout,
        }
    }

    /// The request a handler gets.
    fn request(&self, op: Op, request_id: u16, payload: Vec<u8>) -> Request {
        Request {
            op,
            request_id,
            payload,
            peer: self.peer.clone(),
            user: self.user.clone(),
            cancellation: Cancellation::of(self.peer.clone()),
            compute: self.compute.clone(),
        }
    }

    /// Charges `bytes` to the connection's account.
    fn charge(&self, bytes: usize) -> Result<(), ConnectionEnd> {
        self.account
            .charge(bytes)
            .map_err(|exhausted| ConnectionEnd::OverServerBudget {
                held: exhausted.held,
                limit: exhausted.limit,
            })
    }

    /// Admits one request that holds `held` bytes until its handler is
    /// done: takes an in-flight permit (waiting while
    /// [`ServerConfig::max_in_flight`] requests run: no more is read
    /// meanwhile), counts it, and charges its bytes against the budget, so
    /// that requests waiting on slow handlers cannot pile up gigabytes.
    async fn admit(&self, held: usize) -> Result<Option<OwnedSemaphorePermit>, ConnectionEnd> {
        let permit = tokio::select! {
            permit = Arc::clone(&self.in_flight).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => return Ok(None),
            },
            why = self.peer.control.closed() => return Err(why.into()),
        };
        Counters::one(&self.counters.requests);
        Counters::add(&self.counters.bytes_in, held);
        self.charge(held)?;
        Ok(Some(permit))
    }

    /// Runs the request's handler on its own task, so that a slow request
    /// does not hold up the ones behind it.
    async fn start(&self, message: WireMessage<'_>) -> Result<(), ConnectionEnd> {
        if !is_request(message.flags) {
            // Clients send requests only; a response or a push from one answers nothing.
            return Ok(());
        }
        let held = message.payload.len();
        let Some(permit) = self.admit(held).await? else {
            return Ok(());
        };
        let (op, request_id) = (message.op, message.request_id);
        let request = self.request(op, request_id, message.payload.into_owned());
        let account = Arc::clone(&self.account);
        let handling = self.handling();
        let peer = self.peer.clone();
        let span = tracing::debug_span!("request", op = %op, request_id, bytes_in = held);
        let handled = async move {
            let reply = handling.run(request).await;
            let sent = match reply {
                Ok(payload) => send_payload(&peer, BaseHeader::response(request_id, op), &payload).await,
                Err(fault) => peer.outbox.send_now(
                    BaseHeader::error_response(request_id, op),
                    &error_grid(fault.dis()),
                ),
            };
            match sent {
                Err(SendError::Encode(error)) => {
                    // The response could not be framed (too large for the chunk counter, say): say so instead.
                    let payload = error_grid(&format!("the response could not be framed: {error}"));
                    let _ = peer
                        .outbox
                        .send_now(BaseHeader::error_response(request_id, op), &payload);
                }
                other => close_if_over_budget(&peer, other),
            }
            account.release(held);
            drop(permit);
        };
        tokio::spawn(tracing::Instrument::instrument(handled, span));
        Ok(())
    }

    /// The op an envelope names, or the fault that answers it: no op, an op
    /// that is not a name, a name this server does not know. Counted as a
    /// failed request.
    fn op_of(&self, envelope: &Envelope<'_>) -> Result<Op, Fault> {
        let fault = match envelope.op_name() {
            Ok(name) => match Op::from_name(&name) {
                Some(op) => return Ok(op),
                None => Fault::new(format!("op `{}` is not known to this server", excerpt(&name))),
            },
            Err(OpField::Missing) => Fault::new("the request names no op"),
            Err(OpField::NotAString(raw)) => {
                Fault::new(format!("the request's op is not a name: {}", excerpt(&raw)))
            }
        };
        Counters::one(&self.counters.requests);
        Counters::one(&self.counters.failed_requests);
        tracing::debug!(dis = fault.dis(), "JSON request refused");
        Err(fault)
    }

    /// Runs a JSON request envelope's handler on its own task, as a binary
    /// request's, and answers it with one response envelope. The connection's
    /// watch pushes go out in JSON form from now on.
    async fn start_envelope(&self, envelope: &Envelope<'_>) -> Result<(), ConnectionEnd> {
        self.peer.set_json_form(true);
        let id = envelope.id.map(|raw| raw.get().to_owned());
        let ch = envelope.ch.map(|raw| raw.get().to_owned());
        let op = match self.op_of(envelope) {
            Ok(op) => op,
            Err(fault) => {
                let grid = fault_grid(fault.dis());
                return self.answer_now(response_envelope(&grid, id.as_deref(), ch.as_deref()));
            }
        };
        let payload = grid_bytes(envelope);
        let held = payload.len() + id.as_ref().map_or(0, String::len) + ch.as_ref().map_or(0, String::len);
        let Some(permit) = self.admit(held).await? else {
            return Ok(());
        };
        let request = self.request(op, 0, payload);
        let account = Arc::clone(&self.account);
        let handling = self.handling();
        let peer = self.peer.clone();
        let span = tracing::debug_span!("request", op = %op, request_id = 0, bytes_in = held);
        let handled = async move {
            let reply = handling.run(request).await;
            let grid = handling.json_grid(reply);
            let sent = peer
                .outbox
                .send_text(response_envelope(&grid, id.as_deref(), ch.as_deref()));
            close_if_over_budget(&peer, sent);
            account.release(held);
            drop(permit);
        };
        tokio::spawn(tracing::Instrument::instrument(handled, span));
        Ok(())
    }

    /// Runs a batch's requests concurrently, each on its own task with its
    /// own in-flight permit, and answers them with one text message: their
    /// response envelopes, in request order. Each answer is held, and
    /// charged against the budget, until the whole batch is answered. A
    /// batch without requests gets no answer, as in the reference.
    async fn start_batch(&self, items: &[Envelope<'_>]) -> Result<(), ConnectionEnd> {
        if items.is_empty() {
            return Ok(());
        }
        let mut answers = Vec::with_capacity(items.len());
        for item in items {
            let id = item.id.map(|raw| raw.get().to_owned());
            let op = match self.op_of(item) {
                Ok(op) => op,
                Err(fault) => {
                    let answer = response_envelope(&fault_grid(fault.dis()), id.as_deref(), None);
                    self.charge(answer.len())?;
                    answers.push(BatchAnswer::Ready(answer));
                    continue;
                }
            };
            let payload = grid_bytes(item);
            let held = payload.len() + id.as_ref().map_or(0, String::len);
            let Some(permit) = self.admit(held).await? else {
                break;
            };
            let request = self.request(op, 0, payload);
            let account = Arc::clone(&self.account);
            let handling = self.handling();
            let peer = self.peer.clone();
            let span = tracing::debug_span!("request", op = %op, request_id = 0, bytes_in = held);
            let answer_id = id.clone();
            let handled = async move {
                let reply = handling.run(request).await;
                let grid = handling.json_grid(reply);
                let answer = response_envelope(&grid, answer_id.as_deref(), None);
                // Held until the whole batch is answered: it counts meanwhile.
                let charged = match account.charge(answer.len()) {
                    Ok(()) => answer.len(),
                    Err(exhausted) => {
                        peer.control.close(Closing::OverServerBudget {
                            held: exhausted.held,
                            limit: exhausted.limit,
                        });
                        0
                    }
                };
                account.release(held);
                drop(permit);
                (answer, charged)
            };
            let task = tokio::spawn(tracing::Instrument::instrument(handled, span));
            answers.push(BatchAnswer::Running { id, task });
        }
        let account = Arc::clone(&self.account);
        let peer = self.peer.clone();
        tokio::spawn(async move {
            let mut charged = 0;
            let mut texts = Vec::with_capacity(answers.len());
            for answer in answers {
                let text = match answer {
                    BatchAnswer::Ready(text) => {
                        charged += text.len();
                        text
                    }
                    BatchAnswer::Running { id, task } => match task.await {
                        Ok((text, held)) => {
                            charged += held;
                            text
                        }
                        Err(_) => response_envelope(&fault_grid("the request failed"), id.as_deref(), None),
                    },
                };
                texts.push(text);
            }
            let joined = batch_answer(&texts);
            drop(texts);
            account.release(charged);
            close_if_over_budget(&peer, peer.outbox.send_text(joined));
        });
        Ok(())
    }

    /// Queues an answer made without running a handler.
    fn answer_now(&self, text: String) -> Result<(), ConnectionEnd> {
        match self.peer.outbox.send_text(text) {
            Err(SendError::OverBudget(exhausted)) => Err(ConnectionEnd::OverServerBudget {
                held: exhausted.held,
                limit: exhausted.limit,
            }),
            Ok(()) | Err(SendError::Closed | SendError::Encode(_)) => Ok(()),
        }
    }
}

/// One answer of a batch: made at once (an op that cannot run), or its
/// request's task, which returns the answer and the bytes it charged.
enum BatchAnswer {
    Ready(String),
    Running {
        id: Option<String>,
        task: JoinHandle<(String, usize)>,
    },
}

/// What a request's task needs to run its handler.
struct Handling {
    router: Arc<Router>,
    permissions: Permissions,
    counters: Arc<Counters>,
    /// How long a handler may run ([`ServerConfig::request_timeout`]).
    timeout: Option<Duration>,
}

impl Handling {
    /// Runs the request's handler, unless the permission hook refuses the
    /// request; counts and logs the outcome. The handler is dropped when its
    /// deadline passes or its connection ends, and its compute work is told
    /// to stop.
    async fn run(&self, request: Request) -> Reply {
        let started = Instant::now();
        let reply = match self.permissions.check(request.user.as_deref(), request.op) {
            Ok(()) => self.dispatch(request).await,
            Err(fault) => {
                tracing::debug!(dis = fault.dis(), "the permission hook refused the request");
                Err(fault)
            }
        };
        let (outcome, bytes_out) = match &reply {
            Ok(payload) => ("ok", payload.len()),
            Err(fault) => {
                Counters::one(&self.counters.failed_requests);
                tracing::debug!(dis = fault.dis(), "the handler failed");
                ("fault", 0)
            }
        };
        Counters::add(&self.counters.bytes_out, bytes_out);
        tracing::debug!(
            outcome,
            bytes_out,
            elapsed_ms = started.elapsed().as_secs_f64() * 1e3,
            "request answered"
        );
        reply
    }

    /// The handler's reply, within the request's deadline and its
    /// connection's life.
    async fn dispatch(&self, mut request: Request) -> Reply {
        request.cancellation.start(self.timeout);
        let peer = request.peer.clone();
        let dispatch = self.router.dispatch(request);
        let timed = async {
            match self.timeout {
                Some(after) => tokio::time::timeout(after, dispatch).await.unwrap_or_else(|_| {
                    tracing::debug!(after_s = after.as_secs_f64(), "the handler ran past its deadline");
                    Err(Cancelled::DeadlinePassed { after: Some(after) }.into())
                }),
                None => dispatch.await,
            }
        };
        tokio::select! {
            reply = timed => reply,
            () = peer.ended() => Err(Cancelled::ConnectionClosed.into()),
        }
    }

    /// The grid of a JSON answer: the reply when it is JSON, an error grid
    /// when the handler failed or returned what a text message cannot embed.
    fn json_grid(&self, reply: Reply) -> String {
        match reply {
            Ok(payload) => into_json(Vec::from(payload.bytes().clone())).unwrap_or_else(|reason| {
                Counters::one(&self.counters.failed_requests);
                tracing::debug!(reason, "the handler's reply is not JSON");
                fault_grid(&format!("the response is not JSON: {reason}"))
            }),
            Err(fault) => fault_grid(fault.dis()),
        }
    }
}

/// An error grid, as text.
fn fault_grid(dis: &str) -> String {
    // error_grid writes JSON text, always UTF-8.
    String::from_utf8(error_grid(dis)).unwrap_or_default()
}

/// The request grid's JSON bytes; none when the envelope has no grid.
fn grid_bytes(envelope: &Envelope<'_>) -> Vec<u8> {
    envelope
        .grid
        .map_or_else(Vec::new, |grid| grid.get().as_bytes().to_vec())
}

/// Sends a handler's payload under `base`: framed at once on the
/// connection's encoder when it is short or not compressed, else with the
/// frames [`payload::frames`] makes (shared, or made off the runtime's
/// workers).
async fn send_payload(peer: &Peer, base: BaseHeader, payload: &Payload) -> Result<(), SendError> {
    let session = peer.outbox.session();
    if payload.frames_inline(session) {
        return peer.outbox.send_now(base, payload.bytes());
    }
    let frames = payload::frames(payload, base, session)
        .await
        .map_err(SendError::Encode)?;
    peer.outbox.send_frames(&frames)
}

/// Closes the connection whose answer the server's spent budget refused.
fn close_if_over_budget(peer: &Peer, sent: Result<(), SendError>) {
    if let Err(SendError::OverBudget(exhausted)) = sent {
        peer.control.close(Closing::OverServerBudget {
            held: exhausted.held,
            limit: exhausted.limit,
        });
    }
}

/// At most the first 64 bytes of what a client sent, for an error's text.
fn excerpt(text: &str) -> String {
    const MAX: usize = 64;
    if text.len() <= MAX {
        return text.to_owned();
    }
    let cut = (0..=MAX).rev().find(|&at| text.is_char_boundary(at)).unwrap_or(0);
    format!("{}…", &text[..cut])
}

fn is_request(flags: Flags) -> bool {
    !flags.intersects(Flags::RESPONSE.union(Flags::PUSH))
}
