//! The client side: connect, authenticate, negotiate, then correlate
//! concurrent requests with their responses and hand pushes to a stream.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::{SinkExt, Stream, StreamExt};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::header::SEC_WEBSOCKET_PROTOCOL;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::WebSocketStream;

use super::body::{Body, BodyError};
use super::error_grid::error_dis;
use super::handshake::{auth_message, Answer, Offer, Session};
use super::ids::RequestIds;
use super::outbox::{write_loop, Outbox, SendError};
use super::websocket_config;
use crate::protocol::{handshake, BaseHeader, Compression, Flags, Op};
use crate::{Decoder, ErrorScope, Limits, Message as WireMessage};

/// How a [`Client`] connects.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    compression: Vec<Compression>,
    chunked: bool,
    auth_token: Option<String>,
    handshake_timeout: Duration,
    request_timeout: Option<Duration>,
    limits: Limits,
    push_capacity: usize,
}

impl ClientConfig {
    /// A v1 client: no token, no handshake, the default limits, a 30-second
    /// request timeout.
    pub fn new() -> Self {
        ClientConfig {
            compression: Vec::new(),
            chunked: false,
            auth_token: None,
            handshake_timeout: handshake::FALLBACK_TIMEOUT,
            request_timeout: Some(Duration::from_secs(30)),
            limits: Limits::DEFAULT,
            push_capacity: 1024,
        }
    }

    /// Offers these algorithms, in order of preference. A client that offers
    /// an algorithm or chunking opens with the capability handshake.
    pub fn compression(mut self, algorithms: impl IntoIterator<Item = Compression>) -> Self {
        self.compression = algorithms.into_iter().collect();
        self
    }

    /// Offers to receive (and send) chunked payloads.
    pub fn chunked(mut self, chunked: bool) -> Self {
        self.chunked = chunked;
        self
    }

    /// Sends `token` as the connection's first message.
    pub fn auth_token(mut self, token: impl Into<String>) -> Self {
        self.auth_token = Some(token.into());
        self
    }

    /// How long to wait for the server's answer to the offer before falling
    /// back to v1; the spec's default is [`handshake::FALLBACK_TIMEOUT`].
    pub fn handshake_timeout(mut self, wait: Duration) -> Self {
        self.handshake_timeout = wait;
        self
    }

    /// How long a request waits for its response (`None`: for ever).
    pub fn request_timeout(mut self, wait: Option<Duration>) -> Self {
        self.request_timeout = wait;
        self
    }

    /// What the client accepts from the server.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// How many pushes wait for [`Pushes`] before later ones are dropped (and counted).
    pub fn push_capacity(mut self, pushes: usize) -> Self {
        self.push_capacity = pushes.max(1);
        self
    }

    fn offers_anything(&self) -> bool {
        !self.compression.is_empty() || self.chunked
    }
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig::new()
    }
}

/// What went wrong with a connection or one request.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The WebSocket connection could not be opened.
    #[error("cannot connect to {url}: {source}")]
    Connect {
        /// The URL.
        url: String,
        /// What the WebSocket layer reported.
        #[source]
        source: Box<tungstenite::Error>,
    },
    /// The server answered with an error grid.
    #[error("the server answered the {op} request with an error: {dis}")]
    Remote {
        /// The op of the request.
        op: Op,
        /// The request id.
        request_id: u16,
        /// The error grid's `dis`.
        dis: String,
        /// The error grid, as sent.
        payload: Vec<u8>,
    },
    /// No response came in time.
    #[error("no response to the {op} request {request_id} within {after:?}")]
    Timeout {
        /// The op of the request.
        op: Op,
        /// The request id.
        request_id: u16,
        /// The timeout.
        after: Duration,
    },
    /// The response to the request carries another op.
    #[error("the {op} request {request_id} was answered with op {answered}")]
    OpMismatch {
        /// The op of the request.
        op: Op,
        /// The request id.
        request_id: u16,
        /// The op of the response.
        answered: Op,
    },
    /// Every request id is waiting for a response.
    #[error("all {pending} request ids are waiting for responses")]
    TooManyPending {
        /// How many requests are waiting.
        pending: usize,
    },
    /// The request could not be framed.
    #[error("cannot frame the {op} request: {source}")]
    Encode {
        /// The op of the request.
        op: Op,
        /// Why.
        #[source]
        source: crate::Error,
    },
    /// The response's frames were refused by the decoder.
    #[error("the response to the {op} request {request_id} was refused: {source}")]
    Frame {
        /// The op of the request.
        op: Op,
        /// The request id.
        request_id: u16,
        /// Why.
        #[source]
        source: crate::Error,
    },
    /// The request could not be made into a payload, or the response read as one.
    #[error("{op} payload: {source}")]
    Body {
        /// The op of the request.
        op: Op,
        /// Why.
        #[source]
        source: BodyError,
    },
    /// The connection is closed.
    #[error("connection closed: {reason}")]
    Closed {
        /// Why, as far as this side knows.
        reason: String,
    },
}

/// A message the server pushed (watch updates).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Push {
    /// The op the push carries (watchPoll for watch updates).
    pub op: Op,
    /// The payload, decompressed and reassembled.
    pub payload: Vec<u8>,
}

/// The server's pushes, in the order they arrived; ends when the connection does.
#[derive(Debug)]
pub struct Pushes {
    queue: mpsc::Receiver<Push>,
}

impl Pushes {
    /// The next push, or `None` once the connection is closed.
    pub async fn next(&mut self) -> Option<Push> {
        self.queue.recv().await
    }
}

impl Stream for Pushes {
    type Item = Push;

    fn poll_next(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Option<Push>> {
        self.queue.poll_recv(context)
    }
}

type Outcome = Result<Vec<u8>, ClientError>;

/// A request waiting for its response.
#[derive(Debug)]
struct Waiter {
    op: Op,
    /// Tells this registration from a later one that reuses its id.
    ticket: u64,
    reply: oneshot::Sender<Outcome>,
}

#[derive(Debug)]
struct Pending {
    ids: RequestIds,
    waiting: HashMap<u16, Waiter>,
    tickets: u64,
    closed: Option<String>,
}

/// What the caller side and the reading task share.
#[derive(Debug)]
struct Shared {
    pending: Mutex<Pending>,
    dropped_pushes: AtomicU64,
    unmatched: AtomicU64,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn register(&self, op: Op) -> Result<(u16, u64, oneshot::Receiver<Outcome>), ClientError> {
        let mut pending = self.lock();
        if let Some(reason) = &pending.closed {
            return Err(ClientError::Closed {
                reason: reason.clone(),
            });
        }
        let Pending { ids, waiting, .. } = &mut *pending;
        let id = ids
            .allocate(|id| waiting.contains_key(&id))
            .ok_or(ClientError::TooManyPending {
                pending: waiting.len(),
            })?;
        pending.tickets += 1;
        let ticket = pending.tickets;
        let (reply, outcome) = oneshot::channel();
        pending.waiting.insert(id, Waiter { op, ticket, reply });
        Ok((id, ticket, outcome))
    }

    /// Forgets a registration, unless its id already went to a later request.
    fn forget(&self, id: u16, ticket: u64) {
        let mut pending = self.lock();
        if pending
            .waiting
            .get(&id)
            .is_some_and(|waiter| waiter.ticket == ticket)
        {
            pending.waiting.remove(&id);
        }
    }

    fn take(&self, id: u16) -> Option<Waiter> {
        self.lock().waiting.remove(&id)
    }

    /// Fails every waiting request and refuses new ones.
    fn close(&self, reason: String) {
        let waiting = {
            let mut pending = self.lock();
            pending.closed.get_or_insert(reason.clone());
            std::mem::take(&mut pending.waiting)
        };
        for waiter in waiting.into_values() {
            let _ = waiter.reply.send(Err(ClientError::Closed {
                reason: reason.clone(),
            }));
        }
    }
}

/// Removes a request's registration if its caller stops waiting early.
struct Registration<'a> {
    shared: &'a Shared,
    id: u16,
    ticket: u64,
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        self.shared.forget(self.id, self.ticket);
    }
}

/// A connection to a Haystack server speaking binary frames.
///
/// Cheap to clone; clones share the connection, and any number of tasks may
/// have requests in flight at once. The connection closes when the last
/// clone is dropped, or on [`Client::close`].
///
/// ```no_run
/// # async fn demo() -> Result<(), haystack_wire::connection::ClientError> {
/// use haystack_wire::connection::{Client, ClientConfig};
/// use haystack_wire::{Compression, Op};
///
/// let config = ClientConfig::new().compression([Compression::Zlib]).chunked(true);
/// let client = Client::connect("ws://127.0.0.1:8080", config).await?;
/// let about: serde_json::Value = client.call(Op::About, &serde_json::json!({
///     "_kind": "grid", "meta": {"ver": "3.0"}, "cols": [{"name": "empty"}], "rows": []
/// })).await?;
/// println!("{about}");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Client {
    shared: Arc<Shared>,
    outbox: Arc<Outbox>,
    session: Session,
    request_timeout: Option<Duration>,
    pushes: Arc<Mutex<Option<Pushes>>>,
}

impl Client {
    /// Opens a connection to `url` (`ws://host:port/path`) naming the spec's
    /// WebSocket subprotocol, sends the token, and negotiates when the config
    /// offers compression or chunking.
    pub async fn connect(url: &str, config: ClientConfig) -> Result<Client, ClientError> {
        let connect_error = |source| ClientError::Connect {
            url: url.to_owned(),
            source: Box::new(source),
        };
        let mut request = url.into_client_request().map_err(connect_error)?;
        request.headers_mut().insert(
            SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static(handshake::SUBPROTOCOL),
        );
        let (mut socket, _) = tokio_tungstenite::connect_async_with_config(
            request,
            Some(websocket_config(&config.limits)),
            true,
        )
        .await
        .map_err(connect_error)?;
        if let Some(token) = &config.auth_token {
            socket
                .send(Message::text(auth_message(token)))
                .await
                .map_err(closed)?;
        }
        let session = if config.offers_anything() {
            let offer = Offer::new(&config.compression, config.chunked);
            negotiate(&mut socket, &offer, config.handshake_timeout).await?
        } else {
            Session::V1
        };
        Ok(Client::start(socket, session, &config))
    }

    fn start<S>(socket: WebSocketStream<S>, session: Session, config: &ClientConfig) -> Client
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let (sink, stream) = socket.split();
        let (outbox, queue) = Outbox::new(session);
        let shared = Arc::new(Shared {
            pending: Mutex::new(Pending {
                ids: RequestIds::new(),
                waiting: HashMap::new(),
                tickets: 0,
                closed: None,
            }),
            dropped_pushes: AtomicU64::new(0),
            unmatched: AtomicU64::new(0),
        });
        let (push_sender, push_queue) = mpsc::channel(config.push_capacity);
        tokio::spawn(write_loop(sink, queue));
        tokio::spawn(read_loop(stream, Arc::clone(&shared), push_sender, config.limits));
        Client {
            shared,
            outbox: Arc::new(outbox),
            session,
            request_timeout: config.request_timeout,
            pushes: Arc::new(Mutex::new(Some(Pushes { queue: push_queue }))),
        }
    }

    /// What the handshake agreed.
    pub fn session(&self) -> Session {
        self.session
    }

    /// The server's pushes. The first call takes them; later calls get `None`.
    /// Pushes nobody takes are dropped once [`ClientConfig::push_capacity`] wait.
    pub fn pushes(&self) -> Option<Pushes> {
        self.pushes
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take()
    }

    /// Pushes dropped because their queue was full.
    pub fn dropped_pushes(&self) -> u64 {
        self.shared.dropped_pushes.load(Ordering::Relaxed)
    }

    /// Responses that matched no waiting request (late, after a timeout, or bogus).
    pub fn unmatched_responses(&self) -> u64 {
        self.shared.unmatched.load(Ordering::Relaxed)
    }

    /// Sends `body` as an `op` request and reads the response as the same type.
    pub async fn call<B: Body>(&self, op: Op, body: &B) -> Result<B, ClientError> {
        let payload = body
            .to_payload()
            .map_err(|source| ClientError::Body { op, source })?;
        let response = self.request(op, &payload).await?;
        B::from_payload(response).map_err(|source| ClientError::Body { op, source })
    }

    /// Sends `payload` as an `op` request and returns the response's payload.
    /// An error response is [`ClientError::Remote`], with the grid's `dis`.
    pub async fn request(&self, op: Op, payload: &[u8]) -> Result<Vec<u8>, ClientError> {
        let (request_id, ticket, outcome) = self.shared.register(op)?;
        let _registration = Registration {
            shared: &self.shared,
            id: request_id,
            ticket,
        };
        self.outbox
            .send(BaseHeader::request(request_id, op), payload)
            .await
            .map_err(|error| match error {
                SendError::Encode(source) => ClientError::Encode { op, source },
                SendError::Closed | SendError::OverBudget(_) => self.closed_error(),
            })?;
        let outcome = match self.request_timeout {
            Some(after) => tokio::time::timeout(after, outcome)
                .await
                .map_err(|_| ClientError::Timeout {
                    op,
                    request_id,
                    after,
                })?,
            None => outcome.await,
        };
        outcome.unwrap_or_else(|_| Err(self.closed_error()))
    }

    /// Closes the connection; requests still waiting fail with [`ClientError::Closed`].
    pub async fn close(self) {
        let _ = self.outbox.close(None).await;
        self.shared.close("closed by this client".to_owned());
    }

    fn closed_error(&self) -> ClientError {
        let reason = self.shared.lock().closed.clone();
        ClientError::Closed {
            reason: reason.unwrap_or_else(|| "the connection's writer stopped".to_owned()),
        }
    }
}

fn closed(error: tungstenite::Error) -> ClientError {
    ClientError::Closed {
        reason: error.to_string(),
    }
}

/// Sends the offer and waits for the answer. No answer in time, or a text
/// that is not one, means a v1 server, as in the reference.
async fn negotiate<S>(
    socket: &mut WebSocketStream<S>,
    offer: &Offer,
    wait: Duration,
) -> Result<Session, ClientError>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    socket
        .send(Message::text(offer.to_json()))
        .await
        .map_err(closed)?;
    let deadline = Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, socket.next()).await {
            Err(_) => return Ok(Session::V1),
            Ok(Some(Ok(Message::Text(text)))) => {
                return Ok(Answer::parse(&text).map_or(Session::V1, |answer| answer.session(offer)));
            }
            Ok(Some(Ok(Message::Close(frame)))) => {
                return Err(ClientError::Closed {
                    reason: format!("the server closed the connection during the handshake ({frame:?})"),
                })
            }
            // No frame is owed to a client that has not asked anything yet; pings are answered by the socket.
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(error))) => return Err(closed(error)),
            Ok(None) => {
                return Err(ClientError::Closed {
                    reason: "the server closed the connection during the handshake".to_owned(),
                })
            }
        }
    }
}

/// Reads frames until the connection ends, then fails whatever still waits.
async fn read_loop<S>(mut stream: S, shared: Arc<Shared>, pushes: mpsc::Sender<Push>, limits: Limits)
where
    S: Stream<Item = Result<Message, tungstenite::Error>> + Unpin,
{
    let mut decoder = Decoder::new().with_limits(limits);
    let reason = loop {
        match stream.next().await {
            Some(Ok(Message::Binary(frame))) => {
                if let Err(reason) = read_frame(&mut decoder, &frame, &shared, &pushes) {
                    break reason;
                }
            }
            Some(Ok(Message::Close(frame))) => break format!("the server closed the connection ({frame:?})"),
            // Text has no meaning after the handshake; pings are answered by the socket.
            Some(Ok(_)) => {}
            Some(Err(error)) => break error.to_string(),
            None => break "the connection ended".to_owned(),
        }
    };
    shared.close(reason);
}

/// Feeds one frame; an `Err` is the reason to drop the connection.
fn read_frame(
    decoder: &mut Decoder,
    frame: &[u8],
    shared: &Shared,
    pushes: &mpsc::Sender<Push>,
) -> Result<(), String> {
    match decoder.decode(frame) {
        Ok(Some(message)) => {
            deliver(message, shared, pushes);
            Ok(())
        }
        Ok(None) => Ok(()),
        Err(source) if source.scope() == ErrorScope::Message => {
            // The base header was readable: the request it answers fails, the connection goes on.
            let Some(base) = frame
                .first_chunk()
                .and_then(|header| BaseHeader::read(header).ok())
            else {
                return Ok(());
            };
            if let Some(waiter) = shared.take(base.request_id) {
                let request_id = base.request_id;
                let _ = waiter.reply.send(Err(ClientError::Frame {
                    op: waiter.op,
                    request_id,
                    source,
                }));
            }
            Ok(())
        }
        Err(error) => Err(format!("the server sent a frame that cannot be read: {error}")),
    }
}

fn deliver(message: WireMessage<'_>, shared: &Shared, pushes: &mpsc::Sender<Push>) {
    if message.flags.contains(Flags::PUSH) {
        let push = Push {
            op: message.op,
            payload: message.payload.into_owned(),
        };
        if pushes.try_send(push).is_err() {
            shared.dropped_pushes.fetch_add(1, Ordering::Relaxed);
        }
        return;
    }
    if !message.flags.contains(Flags::RESPONSE) {
        shared.unmatched.fetch_add(1, Ordering::Relaxed);
        return;
    }
    let request_id = message.request_id;
    let Some(waiter) = shared.take(request_id) else {
        shared.unmatched.fetch_add(1, Ordering::Relaxed);
        return;
    };
    let payload = message.payload.into_owned();
    let outcome = if message.op != waiter.op {
        Err(ClientError::OpMismatch {
            op: waiter.op,
            request_id,
            answered: message.op,
        })
    } else if message.flags.contains(Flags::ERROR) {
        Err(ClientError::Remote {
            op: waiter.op,
            request_id,
            dis: error_dis(&payload).unwrap_or_else(|| "(the error grid has no dis)".to_owned()),
            payload,
        })
    } else {
        Ok(payload)
    };
    let _ = waiter.reply.send(outcome);
}
