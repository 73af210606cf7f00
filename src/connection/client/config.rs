//! How a client connects: what it offers, how long it waits, what it accepts.

use std::time::Duration;

use super::super::auth::ScramLimits;
use super::super::capabilities::Capabilities;
use super::login::Credentials;
use crate::limits::Limits;
use crate::protocol::{handshake, Compression};

/// How a [`Client`](super::Client) connects.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub(super) capabilities: Capabilities,
    pub(super) headers: Vec<(String, String)>,
    #[cfg(feature = "tls")]
    pub(super) tls: Option<super::super::tls::ClientTls>,
    pub(super) auth_token: Option<String>,
    pub(super) login: Option<Credentials>,
    pub(super) scram_limits: ScramLimits,
    pub(super) handshake_timeout: Duration,
    pub(super) request_timeout: Option<Duration>,
    pub(super) limits: Limits,
    pub(super) push_capacity: usize,
    pub(super) push_budget: usize,
    pub(super) connect_timeout: Duration,
    pub(super) ping_interval: Option<Duration>,
    pub(super) pong_timeout: Duration,
    pub(super) json_mode: bool,
}

impl ClientConfig {
    /// The most a client reads from the start of a connection until the
    /// handshake is done (the capability answer in, or the v1 fallback
    /// taken): the upgrade response, the login's messages and the
    /// capability answer together, 64 KiB. They take a few KiB from any
    /// real server (the reference's upgrade response is under 300 bytes,
    /// its login messages a few hundred each); tungstenite's own cap on an
    /// upgrade response is the same 64 KiB. A server past it fails the
    /// connect with [`ClientError::HandshakeTooLarge`](super::ClientError::HandshakeTooLarge),
    /// checked as bytes arrive, so nothing larger is read, let alone
    /// buffered: without it, the client would take a 64 MiB message (its
    /// message limit) from a server it has not yet agreed anything with.
    /// Once the handshake is done the cap is lifted, and
    /// [`ClientConfig::limits`] applies.
    pub const MAX_HANDSHAKE_BYTES: usize = 64 << 10;

    /// The longest capability answer a client reads: 4 KiB. The answer is a
    /// JSON object of four fields, under 200 bytes from the reference; a
    /// longer one is no answer this client can use, and fails the connect
    /// with [`ClientError::HandshakeTooLarge`](super::ClientError::HandshakeTooLarge).
    pub const MAX_CAPABILITY_ANSWER: usize = 4 << 10;

    /// A v1 client: no token, no handshake, the default limits, 10 seconds
    /// to connect, a 30-second request timeout, up to 1,024 pushes and
    /// 16 MiB of them queued, and a ping after 20 quiet seconds that must be
    /// answered within 20 more.
    pub fn new() -> Self {
        ClientConfig {
            capabilities: Capabilities::new(),
            headers: Vec::new(),
            #[cfg(feature = "tls")]
            tls: None,
            auth_token: None,
            login: None,
            scram_limits: ScramLimits::default(),
            handshake_timeout: handshake::FALLBACK_TIMEOUT,
            request_timeout: Some(Duration::from_secs(30)),
            limits: Limits::DEFAULT,
            push_capacity: 1024,
            push_budget: 16 << 20,
            connect_timeout: Duration::from_secs(10),
            ping_interval: Some(Duration::from_secs(20)),
            pong_timeout: Duration::from_secs(20),
            json_mode: false,
        }
    }

    /// JSON mode: with `true`, every request goes as a JSON envelope in a
    /// text message (`{"id": "<request id>", "op": "<op>", "grid": <payload>}`)
    /// instead of a binary frame, as the reference's client sends them by
    /// default; responses come back as envelopes, matched by id. A payload
    /// must then be JSON (or empty, which sends no grid), else the request
    /// fails with [`ClientError::NotJson`](super::ClientError::NotJson)
    /// without being sent; an error grid (one whose meta has `err`) fails it
    /// with [`ClientError::Remote`](super::ClientError::Remote), as an error
    /// frame does.
    ///
    /// Nothing is compressed or chunked in JSON mode, so a JSON-mode client
    /// offers nothing and skips the capability handshake, whatever
    /// [`ClientConfig::compression`] and [`ClientConfig::chunked`] say.
    /// The default, `false`, is binary mode. Either way the client reads
    /// JSON responses, batch answers and JSON pushes, and
    /// [`Client::batch`](super::Client::batch) sends JSON.
    pub fn json_mode(mut self, json: bool) -> Self {
        self.json_mode = json;
        self
    }

    /// Offers these algorithms, in order of preference. A client that offers
    /// an algorithm or chunking opens with the capability handshake.
    pub fn compression(mut self, algorithms: impl IntoIterator<Item = Compression>) -> Self {
        self.capabilities = self.capabilities.compression(algorithms);
        self
    }

    /// Offers to receive (and send) chunked payloads.
    pub fn chunked(mut self, chunked: bool) -> Self {
        self.capabilities = self.capabilities.chunked(chunked);
        self
    }

    /// Offers these capabilities, replacing what [`ClientConfig::compression`]
    /// and [`ClientConfig::chunked`] set.
    pub fn capabilities(mut self, capabilities: Capabilities) -> Self {
        self.capabilities = capabilities;
        self
    }

    /// Sends `token` as the connection's first message.
    pub fn auth_token(mut self, token: impl Into<String>) -> Self {
        self.auth_token = Some(token.into());
        self
    }

    /// Logs in as `user` with `password` (SCRAM-SHA-256, the reference's
    /// login) before the capability handshake, in place of the token
    /// message: [`Client::connect`](super::Client::connect) checks the
    /// server's signature too, so a server that does not know the
    /// credentials is not trusted, and keeps the token the server issues
    /// ([`Client::auth_token`](super::Client::auth_token)). A failed login
    /// fails the connect with [`ClientError::Login`](super::ClientError::Login).
    /// The password is kept in memory for reconnections and never shown by
    /// `Debug`. Takes precedence over [`ClientConfig::auth_token`].
    pub fn login(mut self, user: impl Into<String>, password: impl Into<String>) -> Self {
        self.login = Some(Credentials {
            username: user.into(),
            password: password.into(),
        });
        self
    }

    /// The bounds the login puts on the server's iteration count and salt:
    /// default [`ScramLimits::default`] (the reference client's).
    pub fn scram_limits(mut self, limits: ScramLimits) -> Self {
        self.scram_limits = limits;
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

    /// Adds an HTTP header to the WebSocket upgrade request (`Authorization`,
    /// a cookie); a name given twice is sent twice. A name or value HTTP
    /// cannot carry fails the connect with
    /// [`ClientError::BadHeader`](super::ClientError::BadHeader).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// How to speak TLS to `wss://` servers: which roots to trust, and a
    /// client certificate when the server asks one. Without it, a `wss://`
    /// URL trusts the Mozilla roots ([`TlsRoots::webpki`](super::super::TlsRoots::webpki))
    /// and presents no certificate. Feature `tls`.
    #[cfg(feature = "tls")]
    pub fn tls(mut self, tls: super::super::tls::ClientTls) -> Self {
        self.tls = Some(tls);
        self
    }

    /// What the client accepts from the server.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// How long [`Client::connect`](super::Client::connect) may take in all:
    /// the TCP connect, the WebSocket upgrade, the token and the capability
    /// handshake together. Past it, the connect fails with
    /// [`ClientError::ConnectTimeout`](super::ClientError::ConnectTimeout).
    /// The default is 10 seconds, the reference client's.
    ///
    /// A server that never answers the offer is only found to be a v1 server
    /// after [`ClientConfig::handshake_timeout`]; keep this deadline longer
    /// than that wait, or such a server is never reached.
    pub fn connect_timeout(mut self, deadline: Duration) -> Self {
        self.connect_timeout = deadline;
        self
    }

    /// How many pushes wait for [`Pushes`](super::Pushes) before later ones
    /// are dropped (and counted). The default is 1,024.
    ///
    /// Pushes are bounded by count and by bytes ([`ClientConfig::push_budget`]):
    /// when either bound is reached, the newest push is dropped and counted in
    /// [`Client::dropped_pushes`](super::Client::dropped_pushes); the pushes
    /// already queued are kept.
    pub fn push_capacity(mut self, pushes: usize) -> Self {
        self.push_capacity = pushes.max(1);
        self
    }

    /// How many payload bytes of pushes may wait for [`Pushes`](super::Pushes)
    /// at once. A push that would take the queue past this is dropped and
    /// counted in [`Client::dropped_pushes`](super::Client::dropped_pushes),
    /// as when [`ClientConfig::push_capacity`] is reached; a push larger than
    /// the whole budget is always dropped. Bytes are freed as soon as
    /// [`Pushes`](super::Pushes) hands a push out.
    ///
    /// The default, 16 MiB, holds thousands of ordinary watch updates (a few
    /// KiB each), while a server that floods a client nobody reads costs that
    /// much memory and no more: a count alone would let 1,024 pushes of up to
    /// [`Limits::max_message`] each pile up, gigabytes.
    pub fn push_budget(mut self, bytes: usize) -> Self {
        self.push_budget = bytes;
        self
    }

    /// Keepalive: when nothing has been heard from the server for this long,
    /// the client sends a WebSocket ping. Anything the server sends counts as
    /// heard: a pong, a ping, a frame (a whole WebSocket message; one still
    /// arriving does not count yet). `None` turns keepalive off. The default
    /// is 20 seconds.
    pub fn ping_interval(mut self, interval: Option<Duration>) -> Self {
        self.ping_interval = interval;
        self
    }

    /// How long after its ping the server has to say anything. If nothing
    /// comes, the server is declared dead: every waiting request fails with
    /// [`ClientError::Unresponsive`](super::ClientError::Unresponsive), so do
    /// later ones, and the socket is dropped. The default is 20 seconds.
    pub fn pong_timeout(mut self, wait: Duration) -> Self {
        self.pong_timeout = wait;
        self
    }
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig::new()
    }
}
