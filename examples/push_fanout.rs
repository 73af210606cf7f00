//! A push fan-out server: every connection that asks `about` is subscribed,
//! and a ticker pushes one grid of points to all of them, `--rate` times a
//! second, as a watch update (op watchPoll, as the reference's `push_watch`).
//!
//! ```text
//! cargo run --release --example push_fanout --features tokio -- \
//!     [--listen 127.0.0.1:0] [--rate 100] [--rows 50] \
//!     [--compression zlib|lzma] [--chunked] [--auth-token T]
//! hswire bench --pushes --url ws://127.0.0.1:PORT --connections 1000
//! ```
//!
//! It prints `listening on ws://ADDR` first. Each tick builds a grid of
//! `--rows` points (the tags of haystack-py's benchmark points: id, dis,
//! point, sensor, kind, unit, curVal, siteRef), whose meta carries
//! `pushedAt`, the tick's wall-clock time in microseconds since the Unix
//! epoch, so that a receiver on the same machine can time each delivery.
//! The grid is encoded to Haystack 4 JSON once per tick, straight into
//! bytes, and pushed with [`Subscribers::push_watch`]. A tick that falls
//! behind is delayed, not bunched. `scripts/push-fanout.py` runs it beside
//! the reference's server.
//!
//! Pushes are queued at once, never waited for; so that a server pushing
//! faster than its sockets drain delays its ticks (as the reference's
//! `push_watch`, which awaits each send, does) instead of queueing until
//! the slowest connections are closed for not reading, a tick waits while
//! the subscribers hold on average more than `--backlog` grids unsent
//! (default 2; 0: never wait), for at most a second.

use std::fmt::Write;
use std::process::ExitCode;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use haystack_wire::connection::{Fault, Peer, Router, Server, ServerConfig, Subscribers};
use haystack_wire::{Compression, Op};
use tokio::time::MissedTickBehavior;

/// The one subscription key: every subscriber gets every push.
type Everyone = ();

/// The watch id the pushes carry (to connections in JSON form only; a
/// binary push frame carries none).
const WATCH_ID: &str = "fanout";

/// File descriptors wanted: a thousand connections and some to spare.
const WANTED_FILES: u64 = 4096;

/// How often a tick looks again at the backlog it waits on.
const BACKLOG_POLL: Duration = Duration::from_millis(1);

/// The longest a tick waits on the backlog.
const BACKLOG_WAIT: Duration = Duration::from_secs(1);

struct Options {
    listen: String,
    rate: f64,
    rows: usize,
    compression: Option<Compression>,
    chunked: bool,
    auth_token: Option<String>,
    backlog: usize,
}

const USAGE: &str = "usage: push_fanout [--listen ADDR] [--rate TICKS_PER_SEC] [--rows N] \
                     [--compression zlib|lzma] [--chunked] [--auth-token T] [--backlog GRIDS]";

fn options() -> Result<Options, String> {
    let mut args = std::env::args().skip(1);
    let mut options = Options {
        listen: "127.0.0.1:0".into(),
        rate: 100.0,
        rows: 50,
        compression: None,
        chunked: false,
        auth_token: None,
        backlog: 2,
    };
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--listen" => options.listen = value()?,
            "--rate" => {
                options.rate = value()?
                    .parse()
                    .ok()
                    .filter(|rate: &f64| rate.is_finite() && *rate > 0.0 && *rate <= 100_000.0)
                    .ok_or("--rate: ticks per second, more than 0 and at most 100000")?
            }
            "--rows" => {
                options.rows = value()?
                    .parse()
                    .ok()
                    .filter(|rows| (1..=100_000).contains(rows))
                    .ok_or("--rows: a count from 1 to 100000")?
            }
            "--compression" => {
                let name = value()?;
                options.compression = Some(match name.as_str() {
                    "zlib" => Compression::Zlib,
                    "lzma" => Compression::Lzma,
                    _ => return Err(format!("--compression: zlib or lzma, not `{name}`")),
                })
            }
            "--chunked" => options.chunked = true,
            "--auth-token" => options.auth_token = Some(value()?),
            "--backlog" => {
                options.backlog = value()?
                    .parse()
                    .map_err(|_| "--backlog: a number of grids (0: never wait)")?
            }
            "--help" | "-h" => return Err(USAGE.into()),
            other => return Err(format!("unknown option {other}\n{USAGE}")),
        }
    }
    Ok(options)
}

/// Raises the soft limit on open files towards [`WANTED_FILES`] (never past
/// the hard limit); returns the soft limit in force.
fn raise_file_limit() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit into the struct it is given.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return 0;
    }
    let wanted = WANTED_FILES.min(limit.rlim_max);
    if limit.rlim_cur < wanted {
        let raised = libc::rlimit {
            rlim_cur: wanted,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: setrlimit only reads the struct it is given.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            return wanted;
        }
    }
    limit.rlim_cur
}

/// Microseconds since the Unix epoch, now.
fn now_micros() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_micros())
}

/// The tick's grid as Haystack 4 JSON, written into `out` (cleared first):
/// `pushedAt` in the meta, which comes first, then `rows` points whose
/// `curVal` moves with `tick`.
fn write_grid(out: &mut String, rows: usize, tick: u64, pushed_at: u128) {
    out.clear();
    let _ = write!(
        out,
        r#"{{"_kind":"grid","meta":{{"ver":"3.0","pushedAt":{pushed_at}}},"cols":[{{"name":"id"}},{{"name":"dis"}},{{"name":"point"}},{{"name":"sensor"}},{{"name":"kind"}},{{"name":"unit"}},{{"name":"curVal"}},{{"name":"siteRef"}}],"rows":["#
    );
    for i in 0..rows {
        if i > 0 {
            out.push(',');
        }
        let value = 72 + (i as u64 + tick) % 30;
        let _ = write!(
            out,
            r#"{{"id":{{"_kind":"ref","val":"p:{i}"}},"dis":"Point {i}","point":{{"_kind":"marker"}},"sensor":{{"_kind":"marker"}},"kind":"Number","unit":"°F","curVal":{{"_kind":"number","val":{value},"unit":"°F"}},"siteRef":{{"_kind":"ref","val":"s:site-1"}}}}"#
        );
    }
    out.push_str("]}");
}

/// The subscribers' mean backlog in bytes; forgets the closed ones.
fn mean_backlog(peers: &Mutex<Vec<Peer>>) -> usize {
    let mut peers = peers.lock().unwrap_or_else(PoisonError::into_inner);
    peers.retain(|peer| !peer.is_closed());
    let total: usize = peers.iter().map(Peer::queued_bytes).sum();
    total / peers.len().max(1)
}

/// The `about` answer.
const ABOUT: &str = r#"{"_kind":"grid","meta":{"ver":"3.0"},"cols":[{"name":"haystackVersion"},{"name":"productName"}],"rows":[{"haystackVersion":"4.0","productName":"push_fanout"}]}"#;

#[tokio::main]
async fn main() -> ExitCode {
    let options = match options() {
        Ok(options) => options,
        Err(words) => {
            eprintln!("push_fanout: {words}");
            return ExitCode::from(2);
        }
    };
    let files = raise_file_limit();
    if files < 1100 {
        eprintln!(
            "push_fanout: only {files} open files allowed; a thousand connections need more (ulimit -n)"
        );
    }
    let subscribers: Arc<Subscribers<Everyone>> = Arc::new(Subscribers::new());
    let joining = Arc::clone(&subscribers);
    let peers: Arc<Mutex<Vec<Peer>>> = Arc::default();
    let known = Arc::clone(&peers);
    let router = Router::new().route(Op::About, move |request| {
        joining.subscribe((), &request.peer);
        let mut known = known.lock().unwrap_or_else(PoisonError::into_inner);
        if !known.iter().any(|peer| peer.id() == request.peer.id()) {
            known.push(request.peer.clone());
        }
        async move { Ok::<_, Fault>(ABOUT) }
    });
    let mut config = ServerConfig::new()
        .compression(options.compression)
        .chunked(options.chunked)
        .max_connections(10_000);
    if let Some(token) = &options.auth_token {
        config = config.auth_token(token.clone());
    }
    let server = match Server::bind(options.listen.as_str(), config, router).await {
        Ok(server) => server,
        Err(error) => {
            eprintln!("push_fanout: cannot listen on {}: {error}", options.listen);
            return ExitCode::FAILURE;
        }
    };
    match server.local_addr() {
        Ok(addr) => println!("listening on ws://{addr}"),
        Err(error) => {
            eprintln!("push_fanout: no local address: {error}");
            return ExitCode::FAILURE;
        }
    }
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(Duration::from_secs_f64(1.0 / options.rate));
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut grid = String::new();
        let mut tick = 0u64;
        loop {
            ticks.tick().await;
            if options.backlog > 0 && !grid.is_empty() {
                let limit = options.backlog.saturating_mul(grid.len());
                let waiting_since = tokio::time::Instant::now();
                while mean_backlog(&peers) > limit && waiting_since.elapsed() < BACKLOG_WAIT {
                    tokio::time::sleep(BACKLOG_POLL).await;
                }
            }
            write_grid(&mut grid, options.rows, tick, now_micros());
            subscribers.push_watch(&(), WATCH_ID, grid.as_bytes());
            tick = tick.wrapping_add(1);
        }
    });
    if let Err(error) = server.run().await {
        eprintln!("push_fanout: {error}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
