//! How a server treats its connections: what it agrees to, and the limits
//! and deadlines that keep a public endpoint standing.

use std::sync::Arc;
use std::time::Duration;

use super::super::auth::{CredentialStore, FakeCredentials, IssuedTokens, LoginThrottle};
use super::super::capabilities::Capabilities;
use super::http::Pages;
use super::login::Login;
use super::origin::Origins;
use super::router::Fault;
use super::work::ComputePool;
use crate::limits::Limits;
use crate::protocol::{defaults, Compression, Op};

/// A permission hook's signature: the connection's user and the op asked.
type Hook = dyn Fn(Option<&str>, Op) -> Result<(), Fault> + Send + Sync;

/// Who may run which op: the hook of [`ServerConfig::permissions`], or
/// everyone everything.
#[derive(Clone, Default)]
pub(super) struct Permissions(Option<Arc<Hook>>);

impl Permissions {
    /// Whether `user` may run `op`; the error grid's fault when not.
    pub(super) fn check(&self, user: Option<&str>, op: Op) -> Result<(), Fault> {
        match &self.0 {
            Some(hook) => hook(user, op),
            None => Ok(()),
        }
    }
}

impl std::fmt::Debug for Permissions {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(if self.0.is_some() {
            "Permissions(hook)"
        } else {
            "Permissions(all)"
        })
    }
}

/// How a [`super::Server`] treats its connections.
///
/// Every limit and deadline has a default a public endpoint can live with;
/// each setter's documentation says what it stops and why its default is
/// what it is.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub(super) capabilities: Capabilities,
    pub(super) auth_token: Option<String>,
    pub(super) login: Option<Login>,
    /// `None` until [`ServerConfig::credentials`] or
    /// [`ServerConfig::fake_credentials`], and when the random source failed.
    pub(super) fake_credentials: Option<FakeCredentials>,
    pub(super) issued_tokens: Arc<IssuedTokens>,
    pub(super) login_throttle: Arc<LoginThrottle>,
    pub(super) limits: Limits,
    pub(super) max_in_flight: usize,
    pub(super) max_connections: usize,
    pub(super) handshake_timeout: Duration,
    pub(super) ping_interval: Option<Duration>,
    pub(super) pong_timeout: Duration,
    pub(super) write_timeout: Option<Duration>,
    pub(super) max_queued_bytes: usize,
    pub(super) memory_budget: usize,
    pub(super) reassembly_ttl: Duration,
    pub(super) shutdown_grace: Duration,
    pub(super) request_timeout: Option<Duration>,
    pub(super) compute: ComputePool,
    pub(super) permissions: Permissions,
    pub(super) pages: Pages,
    /// The origins let in besides the server's own: `origin.rs`.
    pub(super) origins: Origins,
    #[cfg(feature = "tls")]
    pub(super) tls: Option<super::super::tls::ServerTls>,
}

impl ServerConfig {
    /// The limits a server applies to what clients send, unless told
    /// otherwise: [`Limits::DEFAULT`] with frames (one WebSocket message each)
    /// of at most 16 MiB, tungstenite's own default frame size. A client's
    /// request is a filter, ids or a history to write, not a bulk download;
    /// the reference's server takes messages of at most 10 MB.
    pub const DEFAULT_LIMITS: Limits = Limits {
        max_frame: 16 << 20,
        ..Limits::DEFAULT
    };

    /// A server that agrees to no compression and no chunking, asks no
    /// token, and uses the default limits and deadlines.
    pub fn new() -> Self {
        ServerConfig {
            capabilities: Capabilities::new(),
            auth_token: None,
            login: None,
            fake_credentials: None,
            issued_tokens: Arc::new(IssuedTokens::new()),
            login_throttle: Arc::new(LoginThrottle::new()),
            limits: ServerConfig::DEFAULT_LIMITS,
            max_in_flight: 32,
            max_connections: 1_000,
            handshake_timeout: Duration::from_secs(10),
            ping_interval: Some(Duration::from_secs(20)),
            pong_timeout: Duration::from_secs(20),
            write_timeout: Some(Duration::from_secs(30)),
            max_queued_bytes: 8 << 20,
            memory_budget: 128 << 20,
            reassembly_ttl: defaults::REASSEMBLY_TTL,
            shutdown_grace: Duration::from_secs(10),
            request_timeout: Some(Self::DEFAULT_REQUEST_TIMEOUT),
            compute: ComputePool::for_this_machine(),
            permissions: Permissions::default(),
            pages: Pages::new(),
            origins: Origins::default(),
            #[cfg(feature = "tls")]
            tls: None,
        }
    }

    /// The algorithms the server agrees to; the client's preference decides among them.
    pub fn compression(mut self, algorithms: impl IntoIterator<Item = Compression>) -> Self {
        self.capabilities = self.capabilities.compression(algorithms);
        self
    }

    /// Answers plain HTTP requests (those without an `Upgrade` header) on the
    /// WebSocket address with these files: a browser page and its scripts,
    /// say, that then open a WebSocket to the same server. Off by default:
    /// without files, a plain request is answered `426 Upgrade Required`.
    /// See [`Pages`] for what is answered and how.
    pub fn pages(mut self, pages: Pages) -> Self {
        self.pages = pages;
        self
    }

    /// Agrees to chunking with clients that want it.
    pub fn chunked(mut self, chunked: bool) -> Self {
        self.capabilities = self.capabilities.chunked(chunked);
        self
    }

    /// Agrees to these capabilities, replacing what [`ServerConfig::compression`]
    /// and [`ServerConfig::chunked`] set.
    pub fn capabilities(mut self, capabilities: Capabilities) -> Self {
        self.capabilities = capabilities;
        self
    }

    /// Requires `token` as each connection's first message. With
    /// [`ServerConfig::credentials`], the token message with this token is
    /// let in in place of a login, with no user.
    pub fn auth_token(mut self, token: impl Into<String>) -> Self {
        self.auth_token = Some(token.into());
        self
    }

    /// The longest text message a client may send while logging in: 4 KiB.
    /// The longest login message, a client-final message with its nonce and
    /// proof, takes a few hundred bytes, and a `hello` grows only with the
    /// user name; a client that has not logged in yet gets no more of the
    /// server's parsing than that. A longer one is answered `authErr` and
    /// the connection is closed (1008).
    pub const MAX_LOGIN_MESSAGE: usize = 4 << 10;

    /// The PBKDF2 iteration count of unknown users' fake credentials when
    /// [`ServerConfig::credentials`] makes them: 600,000, what the
    /// reference gives new users. Give a store whose users have another
    /// count its own with [`ServerConfig::fake_credentials`].
    pub const DEFAULT_FAKE_ITERATIONS: u32 = 600_000;

    /// Requires a login on each connection, checked against `store`: the
    /// first text message is the SCRAM-SHA-256 `hello` and the exchange
    /// follows, or the token message with the shared token
    /// ([`ServerConfig::auth_token`]) or a token this server issued after an
    /// earlier login and still keeps ([`ServerConfig::issued_tokens`]).
    /// Anything else is answered `authErr` and the connection is closed
    /// (1008). The whole login falls within
    /// [`ServerConfig::handshake_timeout`], but for the wait of a throttled
    /// one ([`ServerConfig::login_throttle`]).
    ///
    /// A name the store does not know runs the exchange with fake
    /// credentials ([`FakeCredentials`], random for the process, with
    /// [`ServerConfig::DEFAULT_FAKE_ITERATIONS`] unless
    /// [`ServerConfig::fake_credentials`] says otherwise) and fails at the
    /// last step, as a wrong password and a disabled user do.
    pub fn credentials(mut self, store: Arc<dyn CredentialStore>) -> Self {
        if self.fake_credentials.is_none() {
            self.fake_credentials = FakeCredentials::new(Self::DEFAULT_FAKE_ITERATIONS).ok();
        }
        self.login = Some(Login { store });
        self
    }

    /// The fake credentials of names the credential store does not know:
    /// give them the iteration count the store's users have (see
    /// [`Users::common_iterations`](super::super::Users::common_iterations)),
    /// so that the count does not tell a name apart. Takes effect with
    /// [`ServerConfig::credentials`], before or after it.
    pub fn fake_credentials(mut self, fake: FakeCredentials) -> Self {
        self.fake_credentials = Some(fake);
        self
    }

    /// Where the tokens issued after a login are kept, and for how long
    /// they stay valid: by default a set of its own for this config
    /// ([`IssuedTokens::new`]: an hour, 10,000 tokens, 100 per user, so
    /// that one account logging in again and again churns only its own),
    /// shared by every connection served with it. Pass one set to several
    /// servers to let a token of one in on the others.
    pub fn issued_tokens(mut self, tokens: Arc<IssuedTokens>) -> Self {
        self.issued_tokens = tokens;
        self
    }

    /// What slows down password guessing: by default a throttle of its own
    /// for this config ([`LoginThrottle::new`]), shared by every connection
    /// served with it. Failed logins are counted per address (an IPv6
    /// address by its /64) and per user name; after a few, each login from
    /// that address or as that user waits for its verdict, whatever the
    /// password: up to 30 s per address, 2 s per user, so that the user,
    /// from an address of their own, is never locked out. The wait comes
    /// after the client's last login message and does not count against
    /// [`ServerConfig::handshake_timeout`]. One address has at most 4 logins
    /// in progress; a `hello` past them is answered `authErr` at once.
    /// Connections without an address ([`super::serve_connection`],
    /// [`super::serve_websocket`]) are throttled per user only. Pass one
    /// throttle to several servers to count their failures together;
    /// [`LoginThrottle::off`] turns it off.
    pub fn login_throttle(mut self, throttle: Arc<LoginThrottle>) -> Self {
        self.login_throttle = throttle;
        self
    }

    /// How long a new connection has for the WebSocket upgrade and, when the
    /// server asks one, its token: default 10 s, as the reference. Stops
    /// connections that open a socket and send nothing, or half a request,
    /// from holding a place for ever.
    pub fn handshake_timeout(mut self, wait: Duration) -> Self {
        self.handshake_timeout = wait;
        self
    }

    /// What the server accepts from a client: default
    /// [`ServerConfig::DEFAULT_LIMITS`].
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// How many requests of one connection run at once: default 32. Past
    /// that, the server stops reading that connection until one finishes,
    /// so a client that pipelines thousands of requests gets them answered
    /// in turn instead of holding thousands of responses at once.
    pub fn max_in_flight(mut self, requests: usize) -> Self {
        self.max_in_flight = requests.max(1);
        self
    }

    /// How many connections are served at once: default 1,000, as the
    /// reference. Past it, a new connection is refused at once (an HTTP 503,
    /// then the socket is closed) while the others carry on.
    pub fn max_connections(mut self, connections: usize) -> Self {
        self.max_connections = connections.max(1);
        self
    }

    /// Keepalive: when a client has sent nothing for `interval`, the server
    /// pings it, and closes the connection (1011) when nothing comes back
    /// within [`ServerConfig::pong_timeout`]. Default 20 s, as the
    /// reference's WebSocket library; `None` turns keepalive off. Finds
    /// peers that vanished without closing (a cable pulled, a NAT that
    /// forgot the flow).
    pub fn ping_interval(mut self, interval: Option<Duration>) -> Self {
        self.ping_interval = interval;
        self
    }

    /// How long a pinged client has to answer: default 20 s.
    pub fn pong_timeout(mut self, wait: Duration) -> Self {
        self.pong_timeout = wait;
        self
    }

    /// How long a client's socket may take no bytes at all while the server
    /// has output for it, before the connection is dropped: default 30 s;
    /// `None` waits for ever. A slow client that keeps reading is never cut
    /// off: only time without any progress counts.
    pub fn write_timeout(mut self, wait: Option<Duration>) -> Self {
        self.write_timeout = wait;
        self
    }

    /// The output budget of one connection, in bytes: default 8 MiB. Past
    /// it, the server stops reading the client's requests until its output
    /// drains (backpressure), and a push to it closes the connection (1008)
    /// instead of queueing more. A few large responses fit; a client that
    /// asks and never reads holds at most this plus what its running
    /// requests ([`ServerConfig::max_in_flight`]) answer.
    pub fn max_queued_bytes(mut self, bytes: usize) -> Self {
        self.max_queued_bytes = bytes;
        self
    }

    /// The memory all connections share, in bytes: default 128 MiB, two
    /// largest messages. It counts messages while they arrive, unfinished
    /// chunk sequences, room for decompression, requests until their
    /// handlers are done, and queued output. When a connection needs more
    /// than is left, the connection holding the most is closed (1013), so
    /// N abusive connections cannot hold N times one connection's limits
    /// and the well-behaved ones carry on.
    pub fn memory_budget(mut self, bytes: usize) -> Self {
        self.memory_budget = bytes;
        self
    }
}

impl ServerConfig {
    /// How long an unfinished chunk sequence is kept, from its first chunk:
    /// default the spec's [`defaults::REASSEMBLY_TTL`]. Expired sequences are
    /// dropped on a timer of their own, whether or not more chunks arrive.
    pub fn reassembly_ttl(mut self, ttl: Duration) -> Self {
        self.reassembly_ttl = ttl;
        self
    }

    /// How long a server that shuts down ([`super::Server::run_until`]) lets
    /// the requests already read finish and their answers go out before it
    /// closes each connection with 1001: default 10 s.
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.shutdown_grace = grace;
        self
    }

    /// How long a request's handler has by default: 30 s. A month of
    /// history or a read of every record of a large site takes well under a
    /// second; a handler still running after this much is stuck or doing
    /// work nobody waits for.
    pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

    /// How long a request's handler may run, from when it starts: default
    /// [`ServerConfig::DEFAULT_REQUEST_TIMEOUT`]; `None` for no limit. Past
    /// it, the handler's future is dropped, its work on the compute pool is
    /// told to stop ([`super::Request::cancellation`]), and the client gets
    /// an error grid saying the request was stopped. A handler is also
    /// dropped, and its work told to stop, when its connection closes: a
    /// client that asks for expensive work and leaves does not leave the
    /// work running.
    pub fn request_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// The threads of the compute pool ([`super::Request::compute`]), where
    /// handlers run their CPU-heavy work: default as many as the machine has
    /// cores, so that the heavy work of all clients together never takes
    /// more than the machine; at least one. Each config made with
    /// [`ServerConfig::new`] has a pool of its own, shared by every
    /// connection served with it (and with its clones); setting it makes a
    /// new pool, and keeps the share per connection within it.
    pub fn compute_threads(mut self, threads: usize) -> Self {
        self.compute = ComputePool::new(threads, self.compute.per_connection());
        self
    }

    /// How many of the compute pool's threads one connection holds at once:
    /// default half of them (at least one), so that one client, however much
    /// it asks, leaves room for the others, and the connections waiting for
    /// the pool take turns. At least one, at most the pool.
    pub fn compute_per_connection(mut self, threads: usize) -> Self {
        self.compute = ComputePool::new(self.compute.size(), threads);
        self
    }

    /// Decides who may run which op: `hook` gets the connection's user
    /// (`None` when it is anonymous or was let in by the shared token) and
    /// the request's op, before its handler runs. A refusal answers the
    /// request with the fault's error grid, in the form the request came in
    /// (a frame, a JSON envelope, a batch's item), and the handler does not
    /// run. Without a hook, everyone may run every op that has a handler.
    pub fn permissions<F>(mut self, hook: F) -> Self
    where
        F: Fn(Option<&str>, Op) -> Result<(), Fault> + Send + Sync + 'static,
    {
        self.permissions = Permissions(Some(Arc::new(hook)));
        self
    }

    /// Speaks TLS (`wss://`) on every connection a [`super::Server`]
    /// accepts; the TLS handshake counts against the handshake deadline.
    /// Feature `tls`.
    #[cfg(feature = "tls")]
    pub fn tls(mut self, tls: super::super::tls::ServerTls) -> Self {
        self.tls = Some(tls);
        self
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig::new()
    }
}
