//! `hswire serve`: the sample site, or the site of a site file, over binary-mode WebSockets.
//!
//! Watches end with the connection that opened them (one clean-up task per connection,
//! started by its first watch), or when their lease runs out (swept on every push tick);
//! either way they also leave the push subscriptions.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use haystack_wire::connection::{
    Cancellation, FakeCredentials, Fault, Payload, Peer, Request, Role, Router, Server, ServerConfig,
    ServerTls, Subscribers, Users,
};
use haystack_wire::filter::FilterLimits;
use haystack_wire::{hayson, Compression, Limits, Op};
use libhaystack::val::{Date, DateTime, Grid, HaystackDict};

use crate::answers::Answers;
use crate::call::read_pem;
use crate::output::{io_words, users_words};
use crate::site::{Caller, Owner, Site, SiteError, SiteLimits, WatchLimits};

/// What `serve` takes.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The address to listen on, e.g. 127.0.0.1:8080 (port 0: any free port).
    #[arg(long)]
    listen: String,
    /// Serve the records of this Haystack 4 JSON grid (every row a record with a unique
    /// ref `id`; at most 32 MiB) instead of the bundled sample site. Its Number points
    /// get a simulated history and simulated changes for watches.
    #[arg(long, value_name = "FILE")]
    site: Option<PathBuf>,
    /// Agree to this algorithm when a client offers it (zlib or lzma).
    #[arg(long, value_parser = crate::names::compression)]
    compression: Option<Compression>,
    /// Agree to chunking when a client wants it.
    #[arg(long)]
    chunked: bool,
    /// Require this token as each connection's first message; with --users,
    /// let it in in place of a login, with full access.
    #[arg(long)]
    auth_token: Option<String>,
    /// Require a SCRAM-SHA-256 login of the users of this file (a JSON array
    /// of hs_py `user_to_dict` records; `hswire user add` makes one). Viewers
    /// may run the read-only ops, operators and admins also the write ops.
    #[arg(long, value_name = "FILE")]
    users: Option<PathBuf>,
    /// Speak TLS (wss://) with the certificate chain of this PEM file (with --tls-key).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert, a PEM file.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Require client certificates issued by a CA of this PEM file (mutual TLS).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    client_ca: Option<PathBuf>,
    /// Serve no page: without it, a GET of `/` (any request without an
    /// Upgrade header) gets the live page, which talks to this server over
    /// the WebSocket on the same address; with it, such a request gets 426
    /// Upgrade Required.
    #[arg(long)]
    no_page: bool,
    /// Let WebSocket upgrades from pages of this origin in (scheme://host[:port],
    /// repeatable; `*` for any). By default only clients that send no Origin
    /// (not browsers) and this server's own page are let in, and on a loopback
    /// address the page only under a loopback name (localhost, 127.0.0.1, [::1]);
    /// a page of any other origin is refused with HTTP 403.
    #[arg(long, value_name = "ORIGIN")]
    allow_origin: Vec<String>,
    /// Milliseconds between the simulated changes pushed to watches.
    #[arg(long, default_value_t = 1000)]
    push_interval_ms: u64,
    /// Connections served at once; past it, new ones are refused (HTTP 503).
    #[arg(long, default_value_t = 1000)]
    max_connections: usize,
    /// Seconds a new connection has for its WebSocket upgrade and token.
    #[arg(long, default_value_t = 10.0)]
    handshake_timeout: f64,
    /// Seconds of silence before a client is pinged (0: no keepalive); it
    /// then has as long again to answer.
    #[arg(long, default_value_t = 20.0)]
    ping_interval: f64,
    /// Seconds a client's socket may take no bytes before it is dropped (0: no limit).
    #[arg(long, default_value_t = 30.0)]
    write_timeout: f64,
    /// Seconds a request may take before it is stopped and answered with an error (0: no
    /// limit). A request is also stopped when its connection closes.
    #[arg(long, default_value_t = 30.0)]
    request_timeout: f64,
    /// The largest request accepted, in bytes: a WebSocket message, a frame, and what its
    /// compressed or chunked payload comes to. The site's requests are filters and lists of
    /// ids, a few hundred KB at most; a decoded request grid takes many times its size in
    /// memory.
    #[arg(long, default_value_t = DEFAULT_MAX_REQUEST)]
    max_request_bytes: usize,
    /// The most characters a read's filter may have; longer ones are refused unparsed.
    #[arg(long, default_value_t = FilterLimits::DEFAULT.max_len)]
    max_filter_length: usize,
    /// The most parentheses a read's filter may nest; deeper ones are refused unparsed.
    #[arg(long, default_value_t = FilterLimits::DEFAULT.max_depth)]
    max_filter_depth: usize,
    /// The longest watch lease granted, in seconds; longer requests get this.
    #[arg(long, default_value_t = WatchLimits::DEFAULT.max_lease_secs)]
    max_lease: u32,
}

/// The default of `--max-request-bytes`: 1 MiB.
const DEFAULT_MAX_REQUEST: usize = 1 << 20;
/// The least `--max-request-bytes` takes: a read of one filter of the longest length the
/// reference accepts, with room for its grid around it.
const MIN_MAX_REQUEST: usize = 16 << 10;

/// A number of seconds from the command line; 0 means none.
fn seconds(flag: &str, value: f64) -> Result<Option<Duration>, String> {
    if value == 0.0 {
        return Ok(None);
    }
    Duration::try_from_secs_f64(value)
        .map(Some)
        .map_err(|_| format!("--{flag}: {value} is not a number of seconds"))
}

pub fn run(args: &Args) -> Result<ExitCode, Box<dyn std::error::Error>> {
    // The site first: a bad site file stops the command before anything listens.
    let limits = SiteLimits {
        filter: FilterLimits {
            max_len: args.max_filter_length,
            max_depth: args.max_filter_depth,
        },
        watches: WatchLimits {
            max_lease_secs: args.max_lease.max(1),
            ..WatchLimits::DEFAULT
        },
    };
    let site = Arc::new(
        match &args.site {
            Some(path) => Site::from_file(path)?,
            None => Site::sample(),
        }
        .with_limits(limits),
    );
    // Logs go to stderr (stdout's first line is the address), filtered by RUST_LOG:
    // `warn` unless it says otherwise; `info` adds each refused or closed client,
    // `debug` every connection and request.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let watchers = Arc::new(Watchers::default());
        let handshake_timeout = seconds("handshake-timeout", args.handshake_timeout)?
            .ok_or("--handshake-timeout: a connection needs some time for its upgrade")?;
        let ping_interval = seconds("ping-interval", args.ping_interval)?;
        if args.max_request_bytes < MIN_MAX_REQUEST {
            return Err(format!(
                "--max-request-bytes: {} is too small; a request needs at least {MIN_MAX_REQUEST} bytes",
                args.max_request_bytes
            )
            .into());
        }
        let mut config = ServerConfig::new()
            .compression(args.compression)
            .chunked(args.chunked)
            .max_connections(args.max_connections)
            .handshake_timeout(handshake_timeout)
            .ping_interval(ping_interval)
            .write_timeout(seconds("write-timeout", args.write_timeout)?)
            .request_timeout(seconds("request-timeout", args.request_timeout)?)
            .limits(Limits {
                max_frame: args.max_request_bytes,
                max_frame_payload: args.max_request_bytes,
                max_message: args.max_request_bytes,
                ..ServerConfig::DEFAULT_LIMITS
            });
        if let Some(interval) = ping_interval {
            config = config.pong_timeout(interval);
        }
        if !args.no_page {
            config = config.pages(crate::page::pages());
        }
        for origin in &args.allow_origin {
            config = config
                .allow_origin(origin)
                .map_err(|error| format!("--allow-origin: {error}"))?;
        }
        if let Some(token) = &args.auth_token {
            config = config.auth_token(token.clone());
        }
        if let Some(file) = &args.users {
            config = with_users(config, file)?;
        }
        if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
            let (cert_pem, key_pem) = (read_pem(cert)?, read_pem(key)?);
            let files = match &args.client_ca {
                Some(ca) => format!("{} / {} / {}", cert.display(), key.display(), ca.display()),
                None => format!("{} / {}", cert.display(), key.display()),
            };
            let tls = match &args.client_ca {
                Some(ca) => ServerTls::requiring_client_certificates(&cert_pem, &key_pem, &read_pem(ca)?),
                None => ServerTls::new(&cert_pem, &key_pem),
            }
            .map_err(|error| format!("{files}: {error}"))?;
            config = config.tls(tls);
        }
        let scheme = if args.tls_cert.is_some() { "wss" } else { "ws" };
        let server = Server::bind(&args.listen, config, routes(&site, &watchers))
            .await
            .map_err(|error| format!("cannot listen on {}: {}", args.listen, io_words(&error)))?;
        // The address goes out first, on a line of its own, for scripts that listen on port 0.
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "listening on {scheme}://{}", server.local_addr()?)?;
        stdout.flush()?;
        drop(stdout);
        let interval = Duration::from_millis(args.push_interval_ms.max(1));
        tokio::spawn(push_changes(Arc::clone(&site), Arc::clone(&watchers), interval));
        // On Ctrl-C or SIGTERM the requests already read are answered, then every
        // client is told the server goes (1001) before the process ends.
        server.run_until(stop_signal()).await?;
        Ok(ExitCode::SUCCESS)
    })
}

/// The ops that change something, as the reference's `hs_py.user.WRITE_OPS`:
/// viewers may not run them, operators and admins may.
const WRITE_OPS: [Op; 7] = [
    Op::HisWrite,
    Op::PointWrite,
    Op::InvokeAction,
    Op::WatchSub,
    Op::WatchUnsub,
    Op::WatchPoll,
    Op::Close,
];

/// Turns on the login of the users of `file`, and the permission hook of
/// their roles. A connection let in by the shared token has no user and
/// keeps full access.
fn with_users(config: ServerConfig, file: &Path) -> Result<ServerConfig, Box<dyn std::error::Error>> {
    let users = Users::load(file).map_err(|error| users_words(&error))?;
    let iterations = users
        .common_iterations()
        .unwrap_or(ServerConfig::DEFAULT_FAKE_ITERATIONS);
    let fake = FakeCredentials::new(iterations).map_err(|error| format!("{}: {error}", file.display()))?;
    let roles: HashMap<String, Role> = users
        .usernames()
        .filter_map(|name| Some((name.to_owned(), users.get(name)?.role)))
        .collect();
    let allowed = move |user: Option<&str>, op: Op| -> Result<(), Fault> {
        let Some(user) = user else {
            return Ok(());
        };
        let role = roles.get(user).copied().unwrap_or_default();
        if role < Role::Operator && WRITE_OPS.contains(&op) {
            return Err(Fault::new(format!(
                "{user} ({role}) may not run {op}: it needs the operator or admin role"
            )));
        }
        Ok(())
    };
    Ok(config
        .credentials(Arc::new(users))
        .fake_credentials(fake)
        .permissions(allowed))
}

/// Resolves on Ctrl-C, or on SIGTERM where there is one.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut terminate) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// The connections subscribed to each watch's pushes, and the connections whose watches
/// are closed when they end.
#[derive(Default)]
struct Watchers {
    subscribers: Subscribers<String>,
    /// Connections with a clean-up task waiting for them to close.
    guarded: Mutex<HashSet<u64>>,
}

impl Watchers {
    /// Subscribes `peer` to `watch_id`, just opened or added to. The first time a
    /// connection gets a watch, one task starts that closes its watches when it ends.
    fn add(self: &Arc<Self>, site: &Arc<Site>, watch_id: String, peer: &Peer) {
        self.subscribers.subscribe(watch_id.clone(), peer);
        self.guard(site, peer);
        // The watch may have been closed (lease, or its connection) since the site answered;
        // a clean-up that ran before the subscription would have missed it.
        self.forget_if_closed(site, &watch_id);
    }

    fn guard(self: &Arc<Self>, site: &Arc<Site>, peer: &Peer) {
        let connection = peer.id();
        if !self.lock_guarded().insert(connection) {
            return;
        }
        let (site, watchers, closed) = (Arc::clone(site), Arc::clone(self), peer.closed());
        tokio::spawn(async move {
            closed.await;
            // Unguarded first: a watch opened from here on starts a new clean-up (which finds
            // the connection already closed), so none is left behind.
            watchers.lock_guarded().remove(&connection);
            for watch_id in site.close_watches_of(connection) {
                watchers.subscribers.remove_key(&watch_id);
            }
        });
    }

    /// Drops the subscriptions of `watch_id` if the site no longer has it.
    fn forget_if_closed(&self, site: &Site, watch_id: &str) {
        if !site.has_watch(watch_id) {
            self.subscribers.remove_key(&watch_id.to_string());
        }
    }

    fn lock_guarded(&self) -> std::sync::MutexGuard<'_, HashSet<u64>> {
        // A set insert or remove cannot be left half done.
        self.guarded.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Who asks: the connection, its user and its address, and the connection itself for what
/// is kept for it. The time and the request's cancellation are filled in when its work runs.
#[derive(Clone)]
struct Asker {
    owner: Owner,
    peer: Peer,
}

impl Asker {
    fn of(request: &Request) -> Asker {
        Asker {
            owner: Owner {
                connection: request.peer.id(),
                user: request.user.clone(),
                address: request.peer.remote_address().map(|address| address.ip()),
            },
            peer: request.peer.clone(),
        }
    }

    /// The caller, now.
    fn caller(self, cancellation: &Cancellation) -> Caller {
        Caller {
            owner: self.owner,
            now: Instant::now(),
            today: today(),
            cancellation: cancellation.clone(),
            peer: Some(self.peer),
        }
    }
}

/// One handler per op the site answers; other ops get the router's error grid.
///
/// `about`, `ops` and `formats` are answered at once: they read nothing of the request and
/// take microseconds. Every other op decodes a request grid and does work that grows with
/// it (a filter over every record, a month of history, a watch of thousands of records), so
/// it runs on the server's compute pool ([`Request::compute`]): off the runtime's threads,
/// one connection holding at most its share of the pool, stopped when the request's
/// deadline passes or its connection closes.
fn routes(site: &Arc<Site>, watchers: &Arc<Watchers>) -> Router {
    // A read asked again while no record changed gets the answer it got before: the
    // same bytes, which the server frames once per kind of session.
    let answers = Arc::new(Answers::default());
    let constant = |op: Op| {
        let site = Arc::clone(site);
        move |_: Request| {
            let answer = site
                .describe(op)
                .map(|grid| hayson::encode_grid(&grid))
                .map_err(fault);
            async move { answer }
        }
    };
    let computed = |op: Op| {
        let (site, watchers, answers) = (Arc::clone(site), Arc::clone(watchers), Arc::clone(&answers));
        move |mut request: Request| {
            let (site, watchers, answers) = (Arc::clone(&site), Arc::clone(&watchers), Arc::clone(&answers));
            async move {
                let version = (op == Op::Read).then(|| site.version());
                if let Some(kept) = version.and_then(|version| answers.get(&request.payload, version)) {
                    return Ok(kept);
                }
                let payload = std::mem::take(&mut request.payload);
                let asker = Asker::of(&request);
                let work = {
                    let site = Arc::clone(&site);
                    move |cancellation: &Cancellation| {
                        let grid = request_grid(op, &payload)?;
                        let answer = site.handle(op, &grid, &asker.caller(cancellation));
                        let opened = match &answer {
                            Ok(answer) if op == Op::WatchSub => meta_str(answer, "watchId"),
                            _ => None,
                        };
                        // Named by a watchUnsub, which may close it even when refused (a watch
                        // past its lease).
                        let named = (op == Op::WatchUnsub)
                            .then(|| meta_str(&grid, "watchId"))
                            .flatten();
                        let bytes = answer.map(|answer| hayson::encode_grid(&answer)).map_err(fault);
                        Ok((bytes, opened, named, payload))
                    }
                };
                let (bytes, opened, named, payload) = request.compute(work).await?;
                if let Some(watch_id) = opened {
                    watchers.add(&site, watch_id, &request.peer);
                }
                if let Some(watch_id) = named {
                    // A closed watch leaves the subscriptions of every connection.
                    watchers.forget_if_closed(&site, &watch_id);
                }
                let bytes = bytes?;
                let Some(version) = version else {
                    return Ok(Payload::new(bytes));
                };
                let answer = Payload::shared(bytes);
                answers.keep(&payload, version, &answer);
                Ok(answer)
            }
        }
    };
    let router = [Op::About, Op::Ops, Op::Formats]
        .into_iter()
        .fold(Router::new(), |router, op| router.route(op, constant(op)));
    [Op::Read, Op::HisRead, Op::WatchSub, Op::WatchUnsub, Op::WatchPoll]
        .into_iter()
        .fold(router, |router, op| router.route(op, computed(op)))
}

/// A string tag of the grid's meta.
fn meta_str(grid: &Grid, tag: &str) -> Option<String> {
    grid.meta
        .as_ref()?
        .get_str(tag)
        .map(|text| text.value().to_string())
}

/// Today in UTC, the day hisRead's `today` and `yesterday` count from.
fn today() -> Date {
    Date::from(DateTime::utc_now().date_naive())
}

/// The request grid; an empty payload reads as an empty grid, as GET-style ops send.
fn request_grid(op: Op, payload: &[u8]) -> Result<Grid, Fault> {
    if payload.is_empty() {
        return Ok(Grid::make_empty());
    }
    hayson::decode_grid(payload)
        .map_err(|error| Fault::new(format!("the {op} request is not a grid: {error}")))
}

fn fault(error: SiteError) -> Fault {
    Fault::new(error.to_string())
}

/// Closes the watches whose lease ran out, moves the simulated points on and pushes each
/// watch's changes to the connections subscribed to it, once every `interval`. Each tick's
/// work (the site's bookkeeping, the grids, their encoding and framing) runs on a blocking
/// thread, not on the runtime's, and the next tick waits for it: a tick that takes longer
/// than the interval delays the next instead of piling up.
async fn push_changes(site: Arc<Site>, watchers: Arc<Watchers>, interval: Duration) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let (site, watchers) = (Arc::clone(&site), Arc::clone(&watchers));
        if tokio::task::spawn_blocking(move || push_tick(&site, &watchers))
            .await
            .is_err()
        {
            eprintln!("hswire serve: a push tick failed; the next one goes on");
        }
    }
}

/// One tick of [`push_changes`].
fn push_tick(site: &Site, watchers: &Watchers) {
    let tick = site.tick(Instant::now());
    for watch_id in &tick.expired {
        watchers.subscribers.remove_key(watch_id);
    }
    for (watch_id, changes) in tick.changes {
        if changes.rows.is_empty() || !watchers.subscribers.has_subscribers(&watch_id) {
            continue;
        }
        // Each subscriber gets the update in its own form: a binary push, or a JSON watch message.
        watchers
            .subscribers
            .push_watch(&watch_id, &watch_id, &hayson::encode_grid(&changes));
    }
}
