//! `hswire serve`: the sample site over binary-mode WebSockets.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use haystack_wire::connection::{Fault, Request, Router, Server, ServerConfig, Subscribers};
use haystack_wire::{hayson, Compression, Op};
use libhaystack::val::{Date, DateTime, Grid, HaystackDict};

use crate::site::{Site, SiteError};

/// What `serve` takes.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The address to listen on, e.g. 127.0.0.1:8080 (port 0: any free port).
    #[arg(long)]
    listen: String,
    /// Agree to this algorithm when a client offers it (zlib or lzma).
    #[arg(long)]
    compression: Option<Compression>,
    /// Agree to chunking when a client wants it.
    #[arg(long)]
    chunked: bool,
    /// Require this token as each connection's first message.
    #[arg(long)]
    auth_token: Option<String>,
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
}

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
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let site = Arc::new(Site::sample());
        let watchers = Arc::new(Subscribers::<String>::new());
        let handshake_timeout = seconds("handshake-timeout", args.handshake_timeout)?
            .ok_or("--handshake-timeout: a connection needs some time for its upgrade")?;
        let ping_interval = seconds("ping-interval", args.ping_interval)?;
        let mut config = ServerConfig::new()
            .compression(args.compression)
            .chunked(args.chunked)
            .max_connections(args.max_connections)
            .handshake_timeout(handshake_timeout)
            .ping_interval(ping_interval)
            .write_timeout(seconds("write-timeout", args.write_timeout)?);
        if let Some(interval) = ping_interval {
            config = config.pong_timeout(interval);
        }
        if let Some(token) = &args.auth_token {
            config = config.auth_token(token.clone());
        }
        let server = Server::bind(&args.listen, config, routes(&site, &watchers)).await?;
        // The address goes out first, on a line of its own, for scripts that listen on port 0.
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "listening on ws://{}", server.local_addr()?)?;
        stdout.flush()?;
        drop(stdout);
        let interval = Duration::from_millis(args.push_interval_ms.max(1));
        tokio::spawn(push_changes(Arc::clone(&site), Arc::clone(&watchers), interval));
        tokio::select! {
            served = server.run() => served?,
            _ = tokio::signal::ctrl_c() => {}
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// One handler per op the site answers; other ops get the router's error grid.
fn routes(site: &Arc<Site>, watchers: &Arc<Subscribers<String>>) -> Router {
    let plain = |op: Op| {
        let site = Arc::clone(site);
        move |request: Request| {
            let site = Arc::clone(&site);
            async move {
                let answer = site
                    .handle(op, &request_grid(&request)?, today())
                    .map_err(fault)?;
                Ok(hayson::encode_grid(&answer))
            }
        }
    };
    let subscribing = {
        let (site, watchers) = (Arc::clone(site), Arc::clone(watchers));
        move |request: Request| {
            let (site, watchers) = (Arc::clone(&site), Arc::clone(&watchers));
            async move {
                let answer = site.watch_sub(&request_grid(&request)?).map_err(fault)?;
                if let Some(watch_id) = meta_str(&answer, "watchId") {
                    watchers.subscribe(watch_id, &request.peer);
                }
                Ok(hayson::encode_grid(&answer))
            }
        }
    };
    let unsubscribing = {
        let (site, watchers) = (Arc::clone(site), Arc::clone(watchers));
        move |request: Request| {
            let (site, watchers) = (Arc::clone(&site), Arc::clone(&watchers));
            async move {
                let grid = request_grid(&request)?;
                let answer = site.watch_unsub(&grid).map_err(fault)?;
                let closing = grid.meta.as_ref().is_some_and(|meta| meta.has("close"));
                if let (true, Some(watch_id)) = (closing, meta_str(&grid, "watchId")) {
                    watchers.unsubscribe(&watch_id, request.peer.id());
                }
                Ok(hayson::encode_grid(&answer))
            }
        }
    };
    [
        Op::About,
        Op::Ops,
        Op::Formats,
        Op::Read,
        Op::HisRead,
        Op::WatchPoll,
    ]
    .into_iter()
    .fold(Router::new(), |router, op| router.route(op, plain(op)))
    .route(Op::WatchSub, subscribing)
    .route(Op::WatchUnsub, unsubscribing)
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
fn request_grid(request: &Request) -> Result<Grid, Fault> {
    if request.payload.is_empty() {
        return Ok(Grid::make_empty());
    }
    hayson::decode_grid(&request.payload)
        .map_err(|error| Fault::new(format!("the {} request is not a grid: {error}", request.op)))
}

fn fault(error: SiteError) -> Fault {
    Fault::new(error.to_string())
}

/// Moves the simulated points on and pushes each watch's changes to the
/// connections subscribed to it.
async fn push_changes(site: Arc<Site>, watchers: Arc<Subscribers<String>>, interval: Duration) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        for (watch_id, changes) in site.tick() {
            if changes.rows.is_empty() || !watchers.has_subscribers(&watch_id) {
                continue;
            }
            watchers.push(&watch_id, Op::WatchPoll, &hayson::encode_grid(&changes));
        }
    }
}
