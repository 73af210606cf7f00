//! The listening side: accept connections for as long as the server runs,
//! whatever `accept()` reports, and no more of them at once than the cap.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream, ToSocketAddrs};
use tokio::sync::Semaphore;

use std::collections::HashMap;
use std::future::Future;

use super::super::budget::MemoryBudget;
use super::super::control::{Closing, Control};
use super::config::ServerConfig;
use super::connection::{next_id, serve, Slot};
use super::counters::Counters;
use super::router::Router;

/// The first pause after an `accept()` error that is not about one
/// connection (out of file descriptors, say); it doubles up to
/// [`ACCEPT_BACKOFF_MAX`] while the errors go on.
const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(10);
/// The longest pause between two `accept()` attempts after errors: a freed
/// descriptor is used within a second.
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// How long a server that shuts down waits, past its grace, for the close
/// frames to go out.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// What a server refuses with when it serves as many connections as it may.
const SERVICE_UNAVAILABLE: &[u8] =
    b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";

/// A listening server: one task per connection, one per request.
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    config: Arc<ServerConfig>,
    router: Arc<Router>,
    state: Arc<State>,
}

/// What a running server shares with its [`Monitor`]s.
#[derive(Debug)]
struct State {
    budget: Arc<MemoryBudget>,
    connections: Arc<Semaphore>,
    max_connections: usize,
    refused: AtomicU64,
    accept_errors: AtomicU64,
    last_accept_error: std::sync::Mutex<Option<String>>,
    /// Every connection being served, to ask them all to close at shutdown.
    open: std::sync::Mutex<HashMap<u64, Arc<Control>>>,
    counters: Arc<Counters>,
}

impl State {
    fn open(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Control>>> {
        self.open.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Figures of a running server, from [`Monitor::stats`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerStats {
    /// Connections being served (from accept to close).
    pub open_connections: usize,
    /// Connections refused because [`ServerConfig::max_connections`] were open.
    pub refused_connections: u64,
    /// `accept()` calls that failed; the server went on after each.
    pub accept_errors: u64,
    /// What the last failed `accept()` reported.
    pub last_accept_error: Option<String>,
    /// Bytes of the shared memory budget in use.
    pub memory_in_use: usize,
    /// The shared memory budget ([`ServerConfig::memory_budget`]).
    pub memory_budget: usize,
    /// Requests handed to their handlers.
    pub requests: u64,
    /// Requests answered with an error grid (a fault, a panic, no handler, an
    /// answer that could not be framed).
    pub failed_requests: u64,
    /// Frames refused on their own, the connection going on
    /// ([`crate::ErrorScope::Message`]): a bad compressed payload, a chunk
    /// that breaks its sequence, an unknown op.
    pub refused_frames: u64,
    /// Connections closed for what the client did: the token, a deadline, a
    /// limit, a budget, an unreadable frame.
    pub closed_for_misbehaviour: u64,
    /// Request payload bytes received, after decompression and reassembly.
    pub bytes_in: u64,
    /// Response and push payload bytes sent, before compression.
    pub bytes_out: u64,
    /// Pushes refused because their peer was not reading (it is then closed).
    pub pushes_refused: u64,
    /// Text messages ignored, as the reference ignores them: not JSON,
    /// neither an object nor an array, or a login message after the login.
    pub ignored_messages: u64,
}

/// Reads a server's figures while it runs.
#[derive(Debug, Clone)]
pub struct Monitor {
    state: Arc<State>,
}

impl Monitor {
    /// The figures now.
    pub fn stats(&self) -> ServerStats {
        let state = &self.state;
        ServerStats {
            open_connections: state.max_connections - state.connections.available_permits(),
            refused_connections: state.refused.load(Ordering::Relaxed),
            accept_errors: state.accept_errors.load(Ordering::Relaxed),
            last_accept_error: state
                .last_accept_error
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .clone(),
            memory_in_use: state.budget.used(),
            memory_budget: state.budget.limit(),
            requests: load(&state.counters.requests),
            failed_requests: load(&state.counters.failed_requests),
            refused_frames: load(&state.counters.refused_frames),
            closed_for_misbehaviour: load(&state.counters.closed_for_misbehaviour),
            bytes_in: load(&state.counters.bytes_in),
            bytes_out: load(&state.counters.bytes_out),
            pushes_refused: load(&state.counters.pushes_refused),
            ignored_messages: load(&state.counters.ignored_messages),
        }
    }
}

impl Server {
    /// Listens on `addr`.
    pub async fn bind(
        addr: impl ToSocketAddrs,
        config: ServerConfig,
        router: Router,
    ) -> std::io::Result<Server> {
        let listener = TcpListener::bind(addr).await?;
        Ok(Server::from_listener(listener, config, router))
    }

    /// Serves on a listener the caller bound.
    pub fn from_listener(listener: TcpListener, config: ServerConfig, router: Router) -> Server {
        let state = Arc::new(State {
            budget: MemoryBudget::new(config.memory_budget),
            connections: Arc::new(Semaphore::new(config.max_connections)),
            max_connections: config.max_connections,
            refused: AtomicU64::new(0),
            accept_errors: AtomicU64::new(0),
            last_accept_error: std::sync::Mutex::new(None),
            open: std::sync::Mutex::new(HashMap::new()),
            counters: Arc::default(),
        });
        Server {
            listener,
            config: Arc::new(config),
            router: Arc::new(router),
            state,
        }
    }

    /// The address it listens on (useful after binding port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// A handle that reads the server's figures while it runs.
    pub fn monitor(&self) -> Monitor {
        Monitor {
            state: Arc::clone(&self.state),
        }
    }

    /// Accepts connections for ever. A connection's failure ends only that
    /// connection, and a failed `accept()` (no file descriptor left, say)
    /// ends nothing: it is counted ([`Monitor::stats`]), the server pauses
    /// briefly, and tries again. Past [`ServerConfig::max_connections`], a
    /// new connection is answered with an HTTP 503 and closed at once.
    pub async fn run(self) -> std::io::Result<()> {
        self.run_until(std::future::pending()).await
    }

    /// [`Server::run`] until `shutdown` resolves; then stops accepting and
    /// reading requests, lets the requests already read finish and their
    /// answers go out within [`ServerConfig::shutdown_grace`], closes every
    /// connection with 1001, and returns once they are closed (or a second
    /// after the grace, whichever comes first).
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) -> std::io::Result<()> {
        let state = Arc::clone(&self.state);
        let grace = self.config.shutdown_grace;
        tokio::select! {
            () = self.accept_loop() => {}
            () = shutdown => {}
        }
        // No new connection is accepted from here on.
        drop(self);
        let closing: Vec<Arc<Control>> = state.open().values().cloned().collect();
        for control in closing {
            control.close(Closing::ServerGoingAway);
        }
        let deadline = tokio::time::Instant::now() + grace + CLOSE_GRACE;
        while state.connections.available_permits() < state.max_connections
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Ok(())
    }

    async fn accept_loop(&self) {
        let mut backoff = Duration::ZERO;
        loop {
            match self.listener.accept().await {
                Ok((stream, address)) => {
                    backoff = Duration::ZERO;
                    self.admit(stream, address);
                }
                Err(error) => {
                    self.state.accept_errors.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(error = %error, "accept() failed; the server goes on");
                    let text = error.to_string();
                    *self
                        .state
                        .last_accept_error
                        .lock()
                        .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(text);
                    if !about_one_connection(&error) {
                        backoff = (backoff * 2).clamp(ACCEPT_BACKOFF_MIN, ACCEPT_BACKOFF_MAX);
                        tokio::time::sleep(backoff).await;
                    }
                }
            }
        }
    }

    fn admit(&self, stream: TcpStream, address: SocketAddr) {
        let Ok(place) = Arc::clone(&self.state.connections).try_acquire_owned() else {
            self.state.refused.fetch_add(1, Ordering::Relaxed);
            tracing::info!(peer = %address, max = self.state.max_connections, "connection refused: the server is full");
            // Best effort and never waiting: the socket is closed right after.
            let _ = stream.try_write(SERVICE_UNAVAILABLE);
            return;
        };
        let _ = stream.set_nodelay(true);
        let local = stream.local_addr().ok();
        let (config, router, state) = (
            Arc::clone(&self.config),
            Arc::clone(&self.router),
            Arc::clone(&self.state),
        );
        let (id, control) = (next_id(), Arc::new(Control::new()));
        state.open().insert(id, Arc::clone(&control));
        let span = tracing::info_span!("connection", id, peer = %address, session = tracing::field::Empty);
        let served = async move {
            let slot = Slot {
                id,
                control,
                budget: Arc::clone(&state.budget),
                counters: Arc::clone(&state.counters),
                deadline: tokio::time::Instant::now() + config.handshake_timeout,
                remote: Some(address),
                local,
            };
            #[cfg(feature = "tls")]
            if let Some(tls) = config.tls.clone() {
                // Boxed: the TLS states are large, and a plain connection's task should not
                // be sized for them.
                Box::pin(serve_tls(stream, tls, config, router, slot)).await;
                state.open().remove(&id);
                drop(place);
                return;
            }
            serve(stream, config, router, slot).await;
            state.open().remove(&id);
            drop(place);
        };
        tokio::spawn(tracing::Instrument::instrument(served, span));
    }
}

/// The TLS handshake within the connection's deadline, then the connection.
#[cfg(feature = "tls")]
async fn serve_tls(
    stream: TcpStream,
    tls: super::super::tls::ServerTls,
    config: Arc<ServerConfig>,
    router: Arc<Router>,
    slot: Slot,
) {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls.0);
    // A failed or late TLS handshake ends the connection before it is one.
    match tokio::time::timeout_at(slot.deadline, acceptor.accept(stream)).await {
        Ok(Ok(stream)) => {
            serve(stream, config, router, slot).await;
        }
        Ok(Err(error)) => tracing::info!(error = %error, "TLS handshake failed"),
        Err(_) => tracing::info!("no TLS handshake within the handshake deadline"),
    }
}

fn load(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

/// Errors of one connection that was already gone when accepted: the next
/// `accept()` can go ahead at once.
fn about_one_connection(error: &std::io::Error) -> bool {
    use std::io::ErrorKind;
    matches!(
        error.kind(),
        ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset | ErrorKind::Interrupted
    )
}
