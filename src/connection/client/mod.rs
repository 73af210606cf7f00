//! The client side: connect, authenticate, negotiate, then correlate
//! concurrent requests with their responses and hand pushes to a stream.

mod capped;
mod config;
mod error;
mod json;
mod login;
#[cfg(feature = "libhaystack")]
mod ops;
mod pending;
mod pushes;
mod reader;
#[cfg(feature = "libhaystack")]
mod reconnect;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::sync::oneshot::{self, error::TryRecvError};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::{uri_mode, IntoClientRequest};
use tokio_tungstenite::tungstenite::error::UrlError;
use tokio_tungstenite::tungstenite::http::header::SEC_WEBSOCKET_PROTOCOL;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};
use tokio_tungstenite::tungstenite::stream::Mode;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::WebSocketStream;

use super::body::Body;
use super::handshake::{auth_message, Answer, Offer, Session};
use super::login_json::Received;
use super::outbox::{write_loop, Outbox, SendError};
use super::websocket_config;
use crate::protocol::messages::{auth_err, batch};
use crate::protocol::{handshake, BaseHeader, Op};
use capped::{Capped, OverCap};
pub use config::ClientConfig;
pub use error::{ClientError, HandshakeCap, LoginFailure, LoginStep};
use pending::{Ended, Form, Outcome, Registration, Shared};
use pushes::PushQueue;
pub use pushes::{Push, Pushes};
use reader::{read_loop, Keepalive, Reader};
#[cfg(feature = "libhaystack")]
pub use reconnect::{ConnectionState, Reconnect, ReconnectingClient};

/// A connection to a Haystack server speaking binary frames, or JSON
/// envelopes in [JSON mode](ClientConfig::json_mode).
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
    json_mode: bool,
    pushes: Arc<Mutex<Option<Pushes>>>,
    auth_token: Option<Arc<str>>,
}

impl Client {
    /// Opens a connection to `url` (`ws://host:port/path`) naming the spec's
    /// WebSocket subprotocol, sends the token, and negotiates when the config
    /// offers compression or chunking, all within
    /// [`ClientConfig::connect_timeout`] (else [`ClientError::ConnectTimeout`]).
    pub async fn connect(url: &str, config: ClientConfig) -> Result<Client, ClientError> {
        let after = config.connect_timeout;
        tokio::time::timeout(after, Client::open(url, &config))
            .await
            .unwrap_or_else(|_| {
                Err(ClientError::ConnectTimeout {
                    url: url.to_owned(),
                    after,
                })
            })
    }

    /// Everything [`Client::connect`] does, without its deadline: TCP (and
    /// TLS for `wss://`) made here, then as [`Client::connect_over`].
    async fn open(url: &str, config: &ClientConfig) -> Result<Client, ClientError> {
        let request = upgrade_request(url, config)?;
        match uri_mode(request.uri()).map_err(|source| connect_error(url, source))? {
            Mode::Plain => {
                let stream = tcp_stream(url, request.uri(), 80).await?;
                Client::open_over(stream, request, url, config).await
            }
            #[cfg(feature = "tls")]
            Mode::Tls => {
                let stream = tls_stream(url, request.uri(), config).await?;
                Client::open_over(stream, request, url, config).await
            }
            #[cfg(not(feature = "tls"))]
            Mode::Tls => Err(connect_error(
                url,
                tungstenite::Error::Url(UrlError::TlsFeatureNotEnabled),
            )),
        }
    }

    /// Opens the connection over `stream`, a transport the caller made (a
    /// TLS stream with a client certificate, a proxy tunnel, an in-memory
    /// pipe): the WebSocket upgrade for `url` goes over it, then the token
    /// and the handshake, as in [`Client::connect`], within the same
    /// [`ClientConfig::connect_timeout`].
    pub async fn connect_over<S>(stream: S, url: &str, config: ClientConfig) -> Result<Client, ClientError>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let after = config.connect_timeout;
        let open = async {
            let request = upgrade_request(url, &config)?;
            Client::open_over(stream, request, url, &config).await
        };
        tokio::time::timeout(after, open).await.unwrap_or_else(|_| {
            Err(ClientError::ConnectTimeout {
                url: url.to_owned(),
                after,
            })
        })
    }

    /// The WebSocket upgrade of `request` over `stream`, then as
    /// [`Client::begin`]; everything read until the handshake is done counts
    /// against [`ClientConfig::MAX_HANDSHAKE_BYTES`].
    async fn open_over<S>(
        stream: S,
        request: tungstenite::handshake::client::Request,
        url: &str,
        config: &ClientConfig,
    ) -> Result<Client, ClientError>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let stream = Capped::new(stream, ClientConfig::MAX_HANDSHAKE_BYTES);
        let (socket, _) = tokio_tungstenite::client_async_with_config(
            request,
            stream,
            Some(websocket_config(&config.limits)),
        )
        .await
        .map_err(|source| connect_error(url, source))?;
        Client::begin(socket, url, config).await
    }

    /// The token and the handshake over an upgraded socket, then the
    /// client, with the handshake's cap lifted.
    async fn begin<S>(
        mut socket: WebSocketStream<Capped<S>>,
        url: &str,
        config: &ClientConfig,
    ) -> Result<Client, ClientError>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let mut issued = None;
        if let Some(credentials) = &config.login {
            let token = login::log_in(&mut socket, credentials, config.scram_limits)
                .await
                .map_err(|(step, reason)| {
                    if let LoginFailure::Socket(error) = &reason {
                        if let Some(over) = over_cap(error) {
                            return too_large(url, over);
                        }
                    }
                    ClientError::Login {
                        url: url.to_owned(),
                        user: credentials.username.clone(),
                        step,
                        reason,
                    }
                })?;
            issued = Some(Arc::from(token));
        } else if let Some(token) = &config.auth_token {
            socket
                .send(Message::text(auth_message(token)))
                .await
                .map_err(closed)?;
        }
        // JSON mode compresses and chunks nothing, so it has nothing to offer.
        let session = if !config.json_mode && config.capabilities.offers_anything() {
            let offer = Offer::new(&config.capabilities);
            negotiate(&mut socket, &offer, config.handshake_timeout, url).await?
        } else {
            Session::V1
        };
        // The handshake is done: the connection's own limits apply from here on.
        socket.get_mut().lift();
        let mut client = Client::start(socket, session, config);
        client.auth_token = issued;
        Ok(client)
    }

    fn start<S>(socket: WebSocketStream<S>, session: Session, config: &ClientConfig) -> Client
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let (sink, stream) = socket.split();
        let (outbox, queue) = Outbox::new(session);
        let outbox = Arc::new(outbox);
        let shared = Arc::new(Shared::new());
        let (push_queue, pushes) = PushQueue::new(config.push_capacity, config.push_budget);
        let writer = tokio::spawn(write_loop(sink, queue));
        let reader = Reader {
            shared: Arc::clone(&shared),
            pushes: push_queue,
            limits: config.limits,
            keepalive: config.ping_interval.map(|interval| Keepalive {
                interval,
                pong_timeout: config.pong_timeout,
            }),
            outbox: Arc::downgrade(&outbox),
            writer: writer.abort_handle(),
        };
        tokio::spawn(read_loop(stream, reader));
        Client {
            shared,
            outbox,
            session,
            request_timeout: config.request_timeout,
            json_mode: config.json_mode,
            pushes: Arc::new(Mutex::new(Some(pushes))),
            auth_token: None,
        }
    }

    /// The token the server issued when this connection logged in
    /// ([`ClientConfig::login`]); `None` without a login. Another connection
    /// may present it as its token ([`ClientConfig::auth_token`]) for as long
    /// as the server keeps it.
    pub fn auth_token(&self) -> Option<&str> {
        self.auth_token.as_deref()
    }

    /// What the handshake agreed.
    pub fn session(&self) -> Session {
        self.session
    }

    /// The server's pushes. The first call takes them; later calls get `None`.
    /// Pushes nobody takes are dropped once [`ClientConfig::push_capacity`]
    /// of them, or [`ClientConfig::push_budget`] bytes of them, wait.
    pub fn pushes(&self) -> Option<Pushes> {
        self.pushes
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take()
    }

    /// Pushes dropped because their queue was full (in count or in bytes),
    /// or because nobody takes them any more.
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
    ///
    /// In [JSON mode](ClientConfig::json_mode) the request goes as a JSON
    /// envelope, and a payload that is not JSON is refused with
    /// [`ClientError::NotJson`] before anything is sent.
    pub async fn request(&self, op: Op, payload: &[u8]) -> Result<Vec<u8>, ClientError> {
        if self.json_mode {
            return self.request_json(op, payload).await;
        }
        let (request_id, ticket, outcome) = self.shared.register(op, Form::Binary)?;
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
        let deadline = self.request_timeout.map(|after| Instant::now() + after);
        self.outcome(op, request_id, outcome, deadline).await
    }

    /// [`Client::request`] as a JSON envelope.
    async fn request_json(&self, op: Op, payload: &[u8]) -> Result<Vec<u8>, ClientError> {
        let grid = json::grid_of(payload).map_err(|source| ClientError::NotJson { op, source })?;
        let (request_id, ticket, outcome) = self.shared.register(op, Form::Json)?;
        let _registration = Registration {
            shared: &self.shared,
            id: request_id,
            ticket,
        };
        let mut text = String::with_capacity(payload.len().saturating_add(64));
        json::write_envelope(&mut text, request_id, op, grid);
        self.send_text(text)?;
        let deadline = self.request_timeout.map(|after| Instant::now() + after);
        self.outcome(op, request_id, outcome, deadline).await
    }

    /// Sends `requests`, `(op, payload)` pairs whose payloads are JSON grids
    /// (or empty, for no grid), as one batch: a JSON array of request
    /// envelopes in one text message, in binary mode as in JSON mode, as the
    /// reference's client does. Returns the answers in the order of the
    /// requests, each its own result: an error grid fails its item only,
    /// with [`ClientError::Remote`].
    ///
    /// The request timeout applies to the batch as a whole: items still
    /// unanswered when it passes fail with [`ClientError::Timeout`], and
    /// their ids are released. An empty batch is answered at once, without
    /// sending anything. The batch as a whole fails, with nothing sent, when
    /// it holds more than [`batch::MAX_ITEMS`] requests
    /// ([`ClientError::BatchTooLarge`]), when a payload is not JSON
    /// ([`ClientError::BatchNotJson`]), or when not enough request ids are
    /// free ([`ClientError::TooManyPending`]).
    ///
    /// ```no_run
    /// # async fn demo(client: haystack_wire::connection::Client) -> Result<(), haystack_wire::connection::ClientError> {
    /// use haystack_wire::Op;
    ///
    /// let empty = br#"{"_kind":"grid","meta":{"ver":"3.0"},"cols":[{"name":"empty"}],"rows":[]}"#;
    /// let answers = client.batch([(Op::About, &empty[..]), (Op::Ops, &empty[..])]).await?;
    /// for answer in answers {
    ///     println!("{:?}", answer.map(String::from_utf8));
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn batch<P: AsRef<[u8]>>(
        &self,
        requests: impl IntoIterator<Item = (Op, P)>,
    ) -> Result<Vec<Result<Vec<u8>, ClientError>>, ClientError> {
        let requests: Vec<(Op, P)> = requests.into_iter().collect();
        if requests.len() > batch::MAX_ITEMS {
            return Err(ClientError::BatchTooLarge {
                count: requests.len(),
                max: batch::MAX_ITEMS,
            });
        }
        if requests.is_empty() {
            return Ok(Vec::new());
        }
        let mut grids = Vec::with_capacity(requests.len());
        for (index, (op, payload)) in requests.iter().enumerate() {
            let grid = json::grid_of(payload.as_ref()).map_err(|source| ClientError::BatchNotJson {
                index,
                op: *op,
                source,
            })?;
            grids.push((*op, grid));
        }
        // Every registration is dropped, and its id released, when this
        // returns or its caller stops waiting.
        let mut registrations = Vec::with_capacity(grids.len());
        let mut waiting = Vec::with_capacity(grids.len());
        let size = requests.iter().fold(2usize, |size, (_, payload)| {
            size.saturating_add(payload.as_ref().len()).saturating_add(64)
        });
        let mut text = String::with_capacity(size);
        text.push('[');
        for (op, grid) in grids {
            let (request_id, ticket, outcome) = self.shared.register(op, Form::Json)?;
            registrations.push(Registration {
                shared: &self.shared,
                id: request_id,
                ticket,
            });
            if !waiting.is_empty() {
                text.push(',');
            }
            json::write_envelope(&mut text, request_id, op, grid);
            waiting.push((op, request_id, outcome));
        }
        text.push(']');
        self.send_text(text)?;
        let deadline = self.request_timeout.map(|after| Instant::now() + after);
        let mut answers = Vec::with_capacity(waiting.len());
        for (op, request_id, outcome) in waiting {
            answers.push(self.outcome(op, request_id, outcome, deadline).await);
        }
        drop(registrations);
        Ok(answers)
    }

    /// [`Client::batch`] with [`Body`]s: each request is made into its
    /// payload, and each answer read as the same type. A request that
    /// cannot be made into a payload fails the batch, with nothing sent.
    pub async fn batch_call<B: Body>(
        &self,
        requests: &[(Op, B)],
    ) -> Result<Vec<Result<B, ClientError>>, ClientError> {
        let mut payloads = Vec::with_capacity(requests.len().min(batch::MAX_ITEMS + 1));
        for (op, body) in requests {
            let payload = body
                .to_payload()
                .map_err(|source| ClientError::Body { op: *op, source })?;
            payloads.push((*op, payload));
        }
        let answers = self.batch(payloads).await?;
        Ok(requests
            .iter()
            .zip(answers)
            .map(|((op, _), answer)| {
                answer.and_then(|payload| {
                    B::from_payload(payload).map_err(|source| ClientError::Body { op: *op, source })
                })
            })
            .collect())
    }

    /// Queues a text message, or says why the connection cannot take it.
    fn send_text(&self, text: String) -> Result<(), ClientError> {
        self.outbox.queue_text(text).map_err(|_| self.closed_error())
    }

    /// Waits for a registered request's outcome, until `deadline` if there is one.
    async fn outcome(
        &self,
        op: Op,
        request_id: u16,
        mut outcome: oneshot::Receiver<Outcome>,
        deadline: Option<Instant>,
    ) -> Result<Vec<u8>, ClientError> {
        let (Some(deadline), Some(after)) = (deadline, self.request_timeout) else {
            return outcome.await.unwrap_or_else(|_| Err(self.closed_error()));
        };
        match tokio::time::timeout_at(deadline, &mut outcome).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(_)) => Err(self.closed_error()),
            // An answer that came in time but was not yet polled (the
            // batch's later items, once the deadline has passed) still counts.
            Err(_) => match outcome.try_recv() {
                Ok(outcome) => outcome,
                Err(TryRecvError::Closed) => Err(self.closed_error()),
                Err(TryRecvError::Empty) => Err(ClientError::Timeout {
                    op,
                    request_id,
                    after,
                }),
            },
        }
    }

    /// Closes the connection; requests still waiting fail with [`ClientError::Closed`]
    /// (unless the connection had already ended otherwise, which they are then told).
    pub async fn close(self) {
        let _ = self.outbox.close(None).await;
        self.shared
            .close(Ended::Closed("closed by this client".to_owned()));
    }

    fn closed_error(&self) -> ClientError {
        self.shared
            .ended()
            .unwrap_or_else(|| Ended::Closed("the connection's writer stopped".to_owned()))
            .error()
    }
}

/// TCP to the URL's host, then TLS as the config says.
#[cfg(feature = "tls")]
async fn tls_stream(
    url: &str,
    uri: &tungstenite::http::Uri,
    config: &ClientConfig,
) -> Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>, ClientError> {
    use super::tls::{ClientTls, TlsRoots};
    let io_error = |error: std::io::Error| connect_error(url, tungstenite::Error::Io(error));
    let host = uri
        .host()
        .unwrap_or_default()
        .trim_start_matches('[')
        .trim_end_matches(']');
    let tcp = tcp_stream(url, uri, 443).await?;
    let tls = match &config.tls {
        Some(tls) => tls.clone(),
        None => ClientTls::new(TlsRoots::webpki()).map_err(|error| io_error(std::io::Error::other(error)))?,
    };
    let name = rustls_pki_types::ServerName::try_from(host.to_owned())
        .map_err(|error| io_error(std::io::Error::new(std::io::ErrorKind::InvalidInput, error)))?;
    tokio_rustls::TlsConnector::from(tls.0)
        .connect(name, tcp)
        .await
        .map_err(io_error)
}

/// Why the connection could not be opened: the handshake's cap, when a read
/// passed it, else what the WebSocket layer said.
fn connect_error(url: &str, source: tungstenite::Error) -> ClientError {
    if let Some(over) = over_cap(&source) {
        return too_large(url, over);
    }
    ClientError::Connect {
        url: url.to_owned(),
        source: Box::new(source),
    }
}

/// The handshake's cap error inside a WebSocket error, if that is what it is.
fn over_cap(error: &tungstenite::Error) -> Option<OverCap> {
    match error {
        tungstenite::Error::Io(io) => OverCap::within(io),
        _ => None,
    }
}

/// The connect failed on [`ClientConfig::MAX_HANDSHAKE_BYTES`].
fn too_large(url: &str, over: OverCap) -> ClientError {
    ClientError::HandshakeTooLarge {
        url: url.to_owned(),
        cap: HandshakeCap::Connection,
        limit: over.limit,
        arrived: over.arrived,
    }
}

/// TCP to the URL's host, at its port or `default_port`.
async fn tcp_stream(
    url: &str,
    uri: &tungstenite::http::Uri,
    default_port: u16,
) -> Result<tokio::net::TcpStream, ClientError> {
    let Some(host) = uri.host() else {
        return Err(connect_error(url, tungstenite::Error::Url(UrlError::NoHostName)));
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port = uri.port_u16().unwrap_or(default_port);
    let tcp = tokio::net::TcpStream::connect((host, port))
        .await
        .map_err(|error| connect_error(url, tungstenite::Error::Io(error)))?;
    let _ = tcp.set_nodelay(true);
    Ok(tcp)
}

/// The upgrade request for `url`: the spec's subprotocol, and the config's headers.
fn upgrade_request(
    url: &str,
    config: &ClientConfig,
) -> Result<tungstenite::handshake::client::Request, ClientError> {
    let mut request = url
        .into_client_request()
        .map_err(|source| connect_error(url, source))?;
    let headers = request.headers_mut();
    for (name, value) in &config.headers {
        let bad = |reason: String| ClientError::BadHeader {
            name: name.clone(),
            reason,
        };
        let header = HeaderName::from_bytes(name.as_bytes()).map_err(|error| bad(error.to_string()))?;
        let value = HeaderValue::from_str(value).map_err(|error| bad(error.to_string()))?;
        headers.append(header, value);
    }
    headers.insert(
        SEC_WEBSOCKET_PROTOCOL,
        HeaderValue::from_static(handshake::SUBPROTOCOL),
    );
    Ok(request)
}

fn closed(error: tungstenite::Error) -> ClientError {
    ClientError::Closed {
        reason: error.to_string(),
    }
}

/// Sends the offer and waits for the answer. No answer in time, or a text
/// that is not one, means a v1 server, as in the reference; an `authErr`
/// means the server refused the token sent before the offer. An answer over
/// [`ClientConfig::MAX_CAPABILITY_ANSWER`] fails the connect.
async fn negotiate<S>(
    socket: &mut WebSocketStream<S>,
    offer: &Offer,
    wait: Duration,
    url: &str,
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
                if text.len() > ClientConfig::MAX_CAPABILITY_ANSWER {
                    return Err(ClientError::HandshakeTooLarge {
                        url: url.to_owned(),
                        cap: HandshakeCap::CapabilityAnswer,
                        limit: ClientConfig::MAX_CAPABILITY_ANSWER,
                        arrived: text.len(),
                    });
                }
                if Received::parse(&text).is_some_and(|message| message.kind() == Some(auth_err::KIND)) {
                    return Err(ClientError::Closed {
                        reason: "the server refused the token (authErr)".to_owned(),
                    });
                }
                return Ok(Answer::parse(&text).map_or(Session::V1, |answer| answer.session(offer)));
            }
            Ok(Some(Ok(Message::Close(frame)))) => {
                return Err(ClientError::Closed {
                    reason: format!(
                        "the server closed the connection during the handshake{}",
                        reader::describe_close(frame.as_ref())
                    ),
                })
            }
            // No frame is owed to a client that has not asked anything yet; pings are answered by the socket.
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(error))) => {
                return Err(match over_cap(&error) {
                    Some(over) => too_large(url, over),
                    None => closed(error),
                })
            }
            Ok(None) => {
                return Err(ClientError::Closed {
                    reason: "the server closed the connection during the handshake".to_owned(),
                })
            }
        }
    }
}
