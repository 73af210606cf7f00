//! `hswire bench`: a load generator for binary-mode Haystack WebSocket servers.
//!
//! Each connection sends the requests of its loop one after the other, each
//! after the answer to the one before, for the warm-up and then the measured
//! duration. By default the loop is haystack-py's WebSocket benchmark's:
//! `about`, then `read` of `point and sensor`. A request's latency runs from
//! its send to its response; requests answered after the warm-up are counted
//! and timed, into a histogram of fixed size whatever the run's length.
//!
//! With `--pushes`, connections send nothing but one `about` and time the
//! server's pushes instead ([`pushes`]).

mod histogram;
mod plan;
mod pushes;
mod report;
pub mod site;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use haystack_wire::connection::{Capabilities, Client, ClientConfig, ClientError};
use haystack_wire::{Compression, Op};
use tokio::sync::watch;
use tokio::task::JoinSet;

use self::histogram::Histogram;
use self::plan::Planned;
use self::report::Report;

/// Failed requests whose error is printed as it happens; later ones are only counted.
const ERRORS_SHOWN: u64 = 5;

/// How long a connection has to close once the run is over.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

/// What `bench` takes.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The server's WebSocket URL, e.g. ws://127.0.0.1:8080 (wss:// for TLS).
    #[arg(long, required_unless_present = "write_site")]
    url: Option<String>,
    /// Send this token first on every connection.
    #[arg(long)]
    auth_token: Option<String>,
    /// Connections, each running the loop on its own (with --pushes: each
    /// receiving pushes).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    connections: u32,
    /// Seconds measured, after the warm-up.
    #[arg(long, value_name = "SECS", default_value = "15", value_parser = duration_seconds, allow_negative_numbers = true)]
    duration: Duration,
    /// Seconds run before the measurement starts (0: none); requests answered
    /// in them are neither counted nor timed.
    #[arg(long, value_name = "SECS", default_value = "3", value_parser = warmup_seconds, allow_negative_numbers = true)]
    warmup: Duration,
    /// Offer this algorithm in the capability handshake (zlib or lzma).
    #[arg(long, value_parser = crate::names::compression)]
    compression: Option<Compression>,
    /// Offer chunking in the capability handshake.
    #[arg(long)]
    chunked: bool,
    /// Loop this op alone instead of the default loop (e.g. read, ops, hisRead),
    /// with --filter for read, or --grid.
    #[arg(long, value_parser = crate::names::op, conflicts_with = "request")]
    op: Option<Op>,
    /// The filter of the loop's read (default: `point and sensor`).
    #[arg(long, conflicts_with = "grid")]
    filter: Option<String>,
    /// The request grid of --op, as Haystack 4 JSON (default: an empty grid).
    #[arg(long, requires = "op")]
    grid: Option<String>,
    /// Loop the requests of FILE: one {"op": "<name>", "grid": <grid>} object,
    /// or an array of them (the form of `hswire call --batch`). Repeat it to
    /// make a longer loop; the requests go in the order given.
    #[arg(long, value_name = "FILE", conflicts_with = "filter")]
    request: Vec<PathBuf>,
    /// Measure the server's pushes instead of requests: each connection
    /// (opened at most 32 handshakes at a time) sends one `about`, then only
    /// receives pushes. A push's latency runs from the `pushedAt` tag of its
    /// grid's meta (microseconds since the Unix epoch, a Number or a Str, so
    /// the server must be on this machine's clock) to its receipt; a push
    /// without one is an error. Reports deliveries per second and how many
    /// connections opened and stayed open.
    /// ws:// URLs only.
    #[arg(long, conflicts_with_all = ["op", "request", "filter", "grid", "ca", "cert"])]
    pushes: bool,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
    /// Seconds to connect, and then for each response; a request not
    /// answered in time counts as an error.
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = crate::call::seconds)]
    timeout: Duration,
    /// Threads of the load generator (default: one per core).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    threads: Option<u16>,
    /// For wss:// URLs: trust the CA certificates of this PEM file instead of
    /// the Mozilla roots.
    #[arg(long, value_name = "FILE")]
    ca: Option<PathBuf>,
    /// For wss:// servers that require one: present the certificate chain of
    /// this PEM file (with --key).
    #[arg(long, value_name = "FILE", requires = "key")]
    cert: Option<PathBuf>,
    /// The private key of --cert, a PEM file.
    #[arg(long, value_name = "FILE", requires = "cert")]
    key: Option<PathBuf>,
    /// Write the records of haystack-py's WebSocket benchmark (5,000 points)
    /// to FILE as a site file for `hswire serve --site`, and exit.
    #[arg(long, value_name = "FILE", conflicts_with = "url")]
    write_site: Option<PathBuf>,
}

pub fn run(args: &Args) -> Result<ExitCode, Box<dyn std::error::Error>> {
    if let Some(path) = &args.write_site {
        site::write(path)?;
        eprintln!("wrote {} points to {}", site::POINTS, path.display());
        return Ok(ExitCode::SUCCESS);
    }
    let Some(url) = args.url.as_deref() else {
        return Err("give --url, or --write-site".into());
    };
    // The loop is built and checked before anything connects (none with --pushes).
    let plan: Option<Arc<[Planned]>> = if args.pushes {
        None
    } else {
        Some(plan::of(args)?.into())
    };
    let mut config = ClientConfig::new()
        .compression(args.compression)
        .chunked(args.chunked)
        .connect_timeout(args.timeout)
        .request_timeout(Some(args.timeout));
    if let Some(token) = &args.auth_token {
        config = config.auth_token(token.clone());
    }
    if args.ca.is_some() || args.cert.is_some() {
        config = config.tls(crate::call::tls_of(
            args.ca.as_deref(),
            args.cert.as_deref(),
            args.key.as_deref(),
        )?);
    }
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = args.threads {
        runtime.worker_threads(usize::from(threads));
    }
    let runtime = runtime.enable_all().build()?;
    let Some(plan) = plan else {
        let opening = pushes::Opening {
            url: url.to_owned(),
            auth_token: args.auth_token.clone(),
            capabilities: Capabilities::new()
                .compression(args.compression)
                .chunked(args.chunked),
            timeout: args.timeout,
        };
        let report = runtime.block_on(pushes::bench(args, opening))?;
        if args.json {
            crate::output::print(&format!("{}\n", report.json()))?;
        } else {
            crate::output::print(&report.table())?;
        }
        return Ok(if report.errors == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    };
    let report = runtime.block_on(bench(args, url, config, plan))?;
    if args.json {
        crate::output::print(&format!("{}\n", report.json()))?;
    } else {
        crate::output::print(&report.table())?;
    }
    Ok(if report.errors == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Connects every connection, runs the loops, and gathers what they measured.
async fn bench(
    args: &Args,
    url: &str,
    config: ClientConfig,
    plan: Arc<[Planned]>,
) -> Result<Report, Box<dyn std::error::Error>> {
    let clients = tokio::select! {
        clients = connect_all(url, &config, args.connections) => clients?,
        _ = tokio::signal::ctrl_c() => return Err("interrupted while connecting".into()),
    };
    let Some(session) = clients.first().map(Client::session) else {
        return Err(format!("no connection to {url} opened").into());
    };
    let mixed = clients.iter().any(|client| client.session() != session);
    if mixed {
        eprintln!("hswire bench: the connections agreed different sessions; the first one's is reported");
    }
    eprintln!(
        "hswire bench: {} connections to {url}, agreed {} (protocol v{}; offered {}); {} s of warm-up, then {} s",
        clients.len(),
        report::mode(&session),
        session.version.number(),
        report::offered(args.compression, args.chunked),
        args.warmup.as_secs_f64(),
        args.duration.as_secs_f64(),
    );

    let errors = Arc::new(Errors::default());
    let (stop, stopped) = watch::channel(false);
    let started = Instant::now();
    let (Some(measure_from), Some(end)) = (
        started.checked_add(args.warmup),
        started
            .checked_add(args.warmup)
            .and_then(|from| from.checked_add(args.duration)),
    ) else {
        return Err("--warmup and --duration together are too long a run".into());
    };
    let mut workers = JoinSet::new();
    for (index, client) in clients.into_iter().enumerate() {
        workers.spawn(worker(
            index,
            client,
            Arc::clone(&plan),
            measure_from,
            stopped.clone(),
            Arc::clone(&errors),
        ));
    }
    let interrupted = tokio::select! {
        _ = tokio::time::sleep_until(end.into()) => false,
        _ = tokio::signal::ctrl_c() => true,
    };
    let stopped_at = Instant::now().min(end);
    // Workers stop when it changes; a send fails only when none is left to hear it.
    let _ = stop.send(true);
    let mut histogram = Histogram::new();
    let mut bytes = 0u64;
    while let Some(joined) = workers.join_next().await {
        match joined {
            Ok(tally) => {
                histogram.merge(&tally.histogram);
                bytes = bytes.saturating_add(tally.bytes);
            }
            Err(error) => errors.note(format!("a connection's task ended abnormally: {error}")),
        }
    }
    if interrupted {
        eprintln!("hswire bench: interrupted; the result covers the time until then");
    }
    Ok(Report {
        url: url.to_owned(),
        session,
        offered_compression: args.compression,
        offered_chunked: args.chunked,
        connections: args.connections,
        ops: plan.iter().map(|planned| planned.op).collect(),
        warmup: args.warmup,
        measured: stopped_at.saturating_duration_since(measure_from),
        interrupted,
        messages: histogram.samples(),
        bytes,
        errors: errors.count(),
        first_errors: errors.first(),
        histogram,
    })
}

/// Opens `count` connections at once; the first failure fails them all.
async fn connect_all(url: &str, config: &ClientConfig, count: u32) -> Result<Vec<Client>, ClientError> {
    let mut connecting = JoinSet::new();
    for index in 0..count {
        let (url, config) = (url.to_owned(), config.clone());
        connecting.spawn(async move { (index, Client::connect(&url, config).await) });
    }
    let mut clients = Vec::with_capacity(count as usize);
    let mut failure = None;
    while let Some(joined) = connecting.join_next().await {
        match joined {
            Ok((index, Ok(client))) => clients.push((index, client)),
            Ok((_, Err(error))) => {
                failure.get_or_insert(error);
            }
            // A task that panicked or was cancelled leaves its connection out.
            Err(_) => {}
        }
    }
    if let Some(error) = failure {
        for (_, client) in clients {
            let _ = tokio::time::timeout(CLOSE_WAIT, client.close()).await;
        }
        return Err(error);
    }
    clients.sort_by_key(|(index, _)| *index);
    Ok(clients.into_iter().map(|(_, client)| client).collect())
}

/// What one connection measured: its counted answers are its histogram's samples.
struct Tally {
    bytes: u64,
    histogram: Histogram,
}

/// One connection's loop, until `stopped` turns true or the connection is gone.
async fn worker(
    index: usize,
    client: Client,
    plan: Arc<[Planned]>,
    measure_from: Instant,
    mut stopped: watch::Receiver<bool>,
    errors: Arc<Errors>,
) -> Tally {
    let mut tally = Tally {
        bytes: 0,
        histogram: Histogram::new(),
    };
    'run: loop {
        for planned in plan.iter() {
            if *stopped.borrow() {
                break 'run;
            }
            let sent = Instant::now();
            let outcome = tokio::select! {
                biased;
                _ = stopped.changed() => break 'run,
                outcome = client.request(planned.op, &planned.payload) => outcome,
            };
            let answered = Instant::now();
            match outcome {
                Ok(payload) => {
                    if answered >= measure_from {
                        tally.bytes = tally.bytes.saturating_add(payload.len() as u64);
                        tally.histogram.record(answered - sent);
                    }
                }
                Err(error) => {
                    let gone = connection_gone(&error);
                    errors.note(format!("connection {index}, {}: {error}", planned.op.name()));
                    if gone {
                        break 'run;
                    }
                }
            }
        }
    }
    let _ = tokio::time::timeout(CLOSE_WAIT, client.close()).await;
    tally
}

/// Whether `error` leaves the connection unable to carry more requests.
fn connection_gone(error: &ClientError) -> bool {
    matches!(
        error,
        ClientError::Closed { .. }
            | ClientError::ConnectionLost { .. }
            | ClientError::Disconnected { .. }
            | ClientError::Unresponsive { .. }
    )
}

/// The run's failed requests: counted, and the first few kept in words.
#[derive(Default)]
struct Errors {
    count: AtomicU64,
    first: Mutex<Vec<String>>,
}

impl Errors {
    /// Counts one failure; prints and keeps it when it is among the first.
    fn note(&self, words: String) {
        let seen = self.count.fetch_add(1, Ordering::Relaxed);
        if seen < ERRORS_SHOWN {
            eprintln!("hswire bench: error: {words}");
            self.first
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(words);
        } else if seen == ERRORS_SHOWN {
            eprintln!("hswire bench: further errors are counted, not shown");
        }
    }

    fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    fn first(&self) -> Vec<String> {
        self.first.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

/// The measured time: more than 0 seconds (fractions allowed).
fn duration_seconds(text: &str) -> Result<Duration, String> {
    let seconds = seconds_of(text, "duration")?;
    if seconds == 0.0 {
        return Err(format!("`{text}`: the duration must be more than 0 seconds"));
    }
    Duration::try_from_secs_f64(seconds).map_err(|_| format!("`{text}` seconds is too long a duration"))
}

/// The warm-up: 0 seconds or more (fractions allowed).
fn warmup_seconds(text: &str) -> Result<Duration, String> {
    let seconds = seconds_of(text, "warm-up")?;
    Duration::try_from_secs_f64(seconds).map_err(|_| format!("`{text}` seconds is too long a warm-up"))
}

/// `text` as a number of seconds, 0 or more; `what` names it in the refusal.
fn seconds_of(text: &str, what: &str) -> Result<f64, String> {
    let seconds: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a number of seconds"))?;
    if seconds.is_nan() || seconds < 0.0 {
        return Err(format!("`{text}`: the {what} cannot be negative"));
    }
    Ok(seconds)
}
