//! The server side: answer the handshake, dispatch each request to the
//! handler of its op, answer failures with error grids, and push.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{FutureExt, Stream, StreamExt};
use tokio::net::{TcpListener, TcpStream, ToSocketAddrs};
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::handshake::server::{
    ErrorResponse, Request as HttpRequest, Response as HttpResponse,
};
use tokio_tungstenite::tungstenite::http::header::SEC_WEBSOCKET_PROTOCOL;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{self, Message};

use super::error_grid::error_grid;
use super::handshake::{parse_auth, Answer, Offer, Session};
use super::outbox::{write_loop, Outbox, SendError};
use super::websocket_config;
use crate::protocol::{handshake, BaseHeader, Compression, Flags, Op};
use crate::{Decoder, ErrorScope, Limits, Message as WireMessage};

/// How a [`Server`] treats its connections.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    compression: Vec<Compression>,
    chunked: bool,
    auth_token: Option<String>,
    auth_timeout: Duration,
    limits: Limits,
    max_in_flight: usize,
}

impl ServerConfig {
    /// A server that agrees to no compression and no chunking, asks no
    /// token, uses the default limits, and runs up to 1,024 requests of one
    /// connection at once.
    pub fn new() -> Self {
        ServerConfig {
            compression: Vec::new(),
            chunked: false,
            auth_token: None,
            auth_timeout: Duration::from_secs(10),
            limits: Limits::DEFAULT,
            max_in_flight: 1024,
        }
    }

    /// The algorithms the server agrees to; the client's preference decides among them.
    pub fn compression(mut self, algorithms: impl IntoIterator<Item = Compression>) -> Self {
        self.compression = algorithms.into_iter().collect();
        self
    }

    /// Agrees to chunking with clients that want it.
    pub fn chunked(mut self, chunked: bool) -> Self {
        self.chunked = chunked;
        self
    }

    /// Requires `token` as each connection's first message.
    pub fn auth_token(mut self, token: impl Into<String>) -> Self {
        self.auth_token = Some(token.into());
        self
    }

    /// How long a connection has to send its token.
    pub fn auth_timeout(mut self, wait: Duration) -> Self {
        self.auth_timeout = wait;
        self
    }

    /// What the server accepts from a client.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// How many requests of one connection run at once; past that, the
    /// server stops reading that connection until one finishes.
    pub fn max_in_flight(mut self, requests: usize) -> Self {
        self.max_in_flight = requests.max(1);
        self
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig::new()
    }
}

/// A failed request: the text of the error grid the client gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    dis: String,
}

impl Fault {
    /// A failure described by `dis`.
    pub fn new(dis: impl Into<String>) -> Self {
        Fault { dis: dis.into() }
    }

    /// The error grid's `dis`.
    pub fn dis(&self) -> &str {
        &self.dis
    }
}

impl std::fmt::Display for Fault {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(&self.dis)
    }
}

/// One request, as a handler gets it.
#[derive(Debug)]
pub struct Request {
    /// The op.
    pub op: Op,
    /// The request id (the response carries it back).
    pub request_id: u16,
    /// The payload, decompressed and reassembled.
    pub payload: Vec<u8>,
    /// The connection it came on, to push to it later.
    pub peer: Peer,
}

/// What a handler returns: the response payload, or a fault for an error grid.
pub type Reply = Result<Vec<u8>, Fault>;

type BoxedHandler = Arc<dyn Fn(Request) -> Pin<Box<dyn Future<Output = Reply> + Send>> + Send + Sync>;

/// The handler of each op. A request for an op without a handler is
/// answered with an error grid saying so.
#[derive(Clone, Default)]
pub struct Router {
    routes: HashMap<Op, BoxedHandler>,
}

impl std::fmt::Debug for Router {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut ops: Vec<&str> = self.routes.keys().map(|op| op.name()).collect();
        ops.sort_unstable();
        formatter.debug_struct("Router").field("ops", &ops).finish()
    }
}

impl Router {
    /// A router without handlers.
    pub fn new() -> Self {
        Router::default()
    }

    /// Handles `op` with `handler`, replacing any handler it had.
    pub fn route<F, Fut>(mut self, op: Op, handler: F) -> Self
    where
        F: Fn(Request) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Reply> + Send + 'static,
    {
        self.routes
            .insert(op, Arc::new(move |request| Box::pin(handler(request))));
        self
    }

    /// The ops with a handler.
    pub fn ops(&self) -> impl Iterator<Item = Op> + '_ {
        self.routes.keys().copied()
    }

    /// Runs the handler of the request's op. A handler that panics is
    /// answered as a failure; the connection and the server go on.
    pub async fn dispatch(&self, request: Request) -> Reply {
        let op = request.op;
        let Some(handler) = self.routes.get(&op) else {
            return Err(Fault::new(format!("op `{op}` is not supported by this server")));
        };
        AssertUnwindSafe(handler(request))
            .catch_unwind()
            .await
            .unwrap_or_else(|_| Err(Fault::new(format!("the `{op}` handler failed"))))
    }
}

/// The sending side of one connection, for pushes.
#[derive(Debug, Clone)]
pub struct Peer {
    id: u64,
    outbox: Arc<Outbox>,
}

/// The connection of a [`Peer`] is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("connection {peer} is closed")]
pub struct PeerClosed {
    /// The peer's id.
    pub peer: u64,
}

impl Peer {
    /// A number unique to this connection within the process.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Whether the connection is closed.
    pub fn is_closed(&self) -> bool {
        self.outbox.is_closed()
    }

    /// Resolves once the connection is closed, for clean-up that belongs to
    /// it (a watch that ends with its connection, say).
    pub fn closed(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let outbox = Arc::clone(&self.outbox);
        async move { outbox.closed().await }
    }

    /// Pushes `payload` as `op` (compressed and chunked as the connection agreed).
    pub async fn push(&self, op: Op, payload: &[u8]) -> Result<(), PeerClosed> {
        self.outbox
            .send(BaseHeader::push(op), payload)
            .await
            .map_err(|_| PeerClosed { peer: self.id })
    }
}

/// Connections subscribed to keys (watch ids, say), for pushes.
#[derive(Debug)]
pub struct Subscribers<K> {
    by_key: Mutex<HashMap<K, Vec<Peer>>>,
}

impl<K: std::hash::Hash + Eq + Clone> Subscribers<K> {
    /// No subscriptions.
    pub fn new() -> Self {
        Subscribers {
            by_key: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, Vec<Peer>>> {
        self.by_key
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Subscribes `peer` to `key` (once, however often it asks).
    pub fn subscribe(&self, key: K, peer: &Peer) {
        let mut by_key = self.lock();
        let peers = by_key.entry(key).or_default();
        if !peers.iter().any(|known| known.id == peer.id) {
            peers.push(peer.clone());
        }
    }

    /// Unsubscribes the peer with id `peer` from `key`.
    pub fn unsubscribe(&self, key: &K, peer: u64) {
        let mut by_key = self.lock();
        if let Some(peers) = by_key.get_mut(key) {
            peers.retain(|known| known.id != peer);
            if peers.is_empty() {
                by_key.remove(key);
            }
        }
    }

    /// Drops every subscription to `key`.
    pub fn remove_key(&self, key: &K) {
        self.lock().remove(key);
    }

    /// Whether any open connection is subscribed to `key`.
    pub fn has_subscribers(&self, key: &K) -> bool {
        self.lock()
            .get(key)
            .is_some_and(|peers| peers.iter().any(|peer| !peer.is_closed()))
    }

    /// Pushes `payload` to every connection subscribed to `key`, forgetting
    /// closed ones. Returns how many it reached.
    pub async fn push(&self, key: &K, op: Op, payload: &[u8]) -> usize {
        let peers = self.lock().get(key).cloned().unwrap_or_default();
        let mut reached = 0;
        for peer in &peers {
            match peer.push(op, payload).await {
                Ok(()) => reached += 1,
                Err(PeerClosed { peer }) => self.unsubscribe(key, peer),
            }
        }
        reached
    }
}

impl<K: std::hash::Hash + Eq + Clone> Default for Subscribers<K> {
    fn default() -> Self {
        Subscribers::new()
    }
}

/// A listening server: one task per connection, one per request.
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    config: Arc<ServerConfig>,
    router: Arc<Router>,
}

impl Server {
    /// Listens on `addr`.
    pub async fn bind(
        addr: impl ToSocketAddrs,
        config: ServerConfig,
        router: Router,
    ) -> std::io::Result<Server> {
        Ok(Server {
            listener: TcpListener::bind(addr).await?,
            config: Arc::new(config),
            router: Arc::new(router),
        })
    }

    /// The address it listens on (useful after binding port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Accepts connections for ever; a connection's failure ends only that connection.
    pub async fn run(self) -> std::io::Result<()> {
        loop {
            let (stream, _) = self.listener.accept().await?;
            let _ = stream.set_nodelay(true);
            tokio::spawn(serve_connection(
                stream,
                Arc::clone(&self.config),
                Arc::clone(&self.router),
            ));
        }
    }
}

/// Why a connection ended.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectionEnd {
    /// The client closed it, or went away.
    #[error("the client closed the connection")]
    ClientClosed,
    /// The WebSocket upgrade failed.
    #[error("the WebSocket upgrade failed: {0}")]
    Upgrade(#[source] Box<tungstenite::Error>),
    /// The token was missing, wrong or late.
    #[error("authentication failed")]
    AuthenticationFailed,
    /// The client sent a frame the server cannot read, or too much at once.
    #[error("the client broke the protocol: {0}")]
    Protocol(#[source] crate::Error),
    /// The WebSocket layer failed.
    #[error("WebSocket error: {0}")]
    Socket(#[source] Box<tungstenite::Error>),
}

static PEER_IDS: AtomicU64 = AtomicU64::new(1);

/// Serves one accepted TCP connection until it ends; [`Server::run`] calls
/// this for each, and custom accept loops can too.
pub async fn serve_connection(
    stream: TcpStream,
    config: Arc<ServerConfig>,
    router: Arc<Router>,
) -> ConnectionEnd {
    let socket = match tokio_tungstenite::accept_hdr_async_with_config(
        stream,
        name_subprotocol,
        Some(websocket_config(&config.limits)),
    )
    .await
    {
        Ok(socket) => socket,
        Err(error) => return ConnectionEnd::Upgrade(Box::new(error)),
    };
    let (sink, mut stream) = socket.split();
    let (outbox, queue) = Outbox::new(Session::V1);
    let writer = tokio::spawn(write_loop(sink, queue));
    let outbox = Arc::new(outbox);
    let end = match authenticate(&mut stream, &config).await {
        Ok(()) => {
            let peer = Peer {
                id: PEER_IDS.fetch_add(1, Ordering::Relaxed),
                outbox: Arc::clone(&outbox),
            };
            Connection {
                config: &config,
                router: &router,
                peer,
                decoder: Decoder::new().with_limits(config.limits),
                in_flight: Arc::new(Semaphore::new(config.max_in_flight)),
            }
            .run(&mut stream)
            .await
        }
        Err(end) => end,
    };
    let _ = outbox.close(close_frame(&end)).await;
    drop(outbox);
    // Handlers still running hold the outbox; the writer ends with the last of them.
    drop(writer);
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

fn close_frame(end: &ConnectionEnd) -> Option<CloseFrame> {
    let (code, reason) = match end {
        ConnectionEnd::AuthenticationFailed => (CloseCode::Policy, "authentication failed"),
        ConnectionEnd::Protocol(crate::Error::FrameTooLarge { .. }) => (CloseCode::Size, "frame too large"),
        ConnectionEnd::Protocol(_) => (CloseCode::Protocol, "unreadable frame"),
        _ => return None,
    };
    Some(CloseFrame {
        code,
        reason: reason.into(),
    })
}

async fn authenticate<S>(stream: &mut S, config: &ServerConfig) -> Result<(), ConnectionEnd>
where
    S: Stream<Item = Result<Message, tungstenite::Error>> + Unpin,
{
    let Some(expected) = &config.auth_token else {
        return Ok(());
    };
    let first = tokio::time::timeout(config.auth_timeout, stream.next()).await;
    match first {
        Ok(Some(Ok(Message::Text(text)))) => match parse_auth(&text) {
            Some(token) if same_token(token.as_bytes(), expected.as_bytes()) => Ok(()),
            _ => Err(ConnectionEnd::AuthenticationFailed),
        },
        Ok(None | Some(Ok(Message::Close(_)))) => Err(ConnectionEnd::ClientClosed),
        Ok(Some(Err(error))) => Err(ConnectionEnd::Socket(Box::new(error))),
        _ => Err(ConnectionEnd::AuthenticationFailed),
    }
}

/// Compares tokens in time that depends on their lengths only, so that the
/// time taken does not tell a guesser how much of a token was right.
fn same_token(given: &[u8], expected: &[u8]) -> bool {
    given.len() == expected.len()
        && given
            .iter()
            .zip(expected)
            .fold(0u8, |diff, (a, b)| diff | (a ^ b))
            == 0
}

/// The reading side of one authenticated connection.
struct Connection<'a> {
    config: &'a ServerConfig,
    router: &'a Arc<Router>,
    peer: Peer,
    decoder: Decoder,
    in_flight: Arc<Semaphore>,
}

impl Connection<'_> {
    async fn run<S>(mut self, stream: &mut S) -> ConnectionEnd
    where
        S: Stream<Item = Result<Message, tungstenite::Error>> + Unpin,
    {
        loop {
            match stream.next().await {
                Some(Ok(Message::Binary(frame))) => {
                    if let Err(end) = self.read_frame(&frame).await {
                        return end;
                    }
                }
                Some(Ok(Message::Text(text))) => self.answer_offer(&text).await,
                Some(Ok(Message::Close(_))) | None => return ConnectionEnd::ClientClosed,
                Some(Ok(_)) => {}
                Some(Err(error)) => return ConnectionEnd::Socket(Box::new(error)),
            }
        }
    }

    /// Answers a capability offer; other text is not part of binary mode and is ignored.
    async fn answer_offer(&self, text: &str) {
        let Ok(offer) = Offer::parse(text) else {
            return;
        };
        let answer = Answer::to_offer(
            &offer,
            &super::Capabilities::new()
                .compression(self.config.compression.iter().copied())
                .chunked(self.config.chunked),
        );
        let session = answer.session(&offer);
        // The answer is queued before any frame of the new session, so the client reads it first.
        let _ = self.peer.outbox.send_text(answer.to_json()).await;
        self.peer.outbox.set_session(session);
    }

    async fn read_frame(&mut self, frame: &[u8]) -> Result<(), ConnectionEnd> {
        match self.decoder.decode(frame) {
            Ok(Some(message)) => {
                self.start(message).await;
                Ok(())
            }
            Ok(None) => Ok(()),
            Err(error) if error.scope() == ErrorScope::Message => {
                if let Some(base) = frame
                    .first_chunk()
                    .and_then(|header| BaseHeader::read(header).ok())
                {
                    if is_request(base.flags) {
                        let payload = error_grid(&format!("request refused: {error}"));
                        let _ = self
                            .peer
                            .outbox
                            .send(BaseHeader::error_response(base.request_id, base.op), &payload)
                            .await;
                    }
                }
                Ok(())
            }
            Err(error) => Err(ConnectionEnd::Protocol(error)),
        }
    }

    /// Runs the request's handler on its own task, so that a slow request
    /// does not hold up the ones behind it.
    async fn start(&self, message: WireMessage<'_>) {
        if !is_request(message.flags) {
            // Clients send requests only; a response or a push from one answers nothing.
            return;
        }
        let Ok(permit) = Arc::clone(&self.in_flight).acquire_owned().await else {
            return;
        };
        let request = Request {
            op: message.op,
            request_id: message.request_id,
            payload: message.payload.into_owned(),
            peer: self.peer.clone(),
        };
        let router = Arc::clone(self.router);
        tokio::spawn(async move {
            let (op, request_id, outbox) = (request.op, request.request_id, Arc::clone(&request.peer.outbox));
            let sent = match router.dispatch(request).await {
                Ok(payload) => outbox.send(BaseHeader::response(request_id, op), &payload).await,
                Err(fault) => {
                    outbox
                        .send(
                            BaseHeader::error_response(request_id, op),
                            &error_grid(fault.dis()),
                        )
                        .await
                }
            };
            if let Err(SendError::Encode(error)) = sent {
                // The response could not be framed (too large for the chunk counter, say): say so instead.
                let payload = error_grid(&format!("the response could not be framed: {error}"));
                let _ = outbox
                    .send(BaseHeader::error_response(request_id, op), &payload)
                    .await;
            }
            drop(permit);
        });
    }
}

fn is_request(flags: Flags) -> bool {
    !flags.intersects(Flags::RESPONSE.union(Flags::PUSH))
}
