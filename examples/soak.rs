//! A soak of `hswire serve`: many clients for minutes, the way real ones
//! behave, with the server's memory at the start and the end.
//!
//! ```text
//! soak --url ws://127.0.0.1:8080 [--clients 20] [--duration 300] [--server-pid PID]
//! ```
//!
//! Each client connects offering zlib and chunking and loops: a `read` by
//! filter, a month of `hisRead` of one point (chunked when agreed); every
//! tenth round it opens a watch, waits for a push, and reconnects without
//! closing the watch, as a client that drops its connection would.
//! Requests that fail are counted, not hidden. Prints one JSON line:
//! requests, errors, pushes, requests per second, and the server's resident
//! memory (from `/proc/PID/status`) at the start and the end.

use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use haystack_wire::connection::{Client, ClientConfig};
use haystack_wire::{Compression, Op};
use serde_json::{json, Value};

struct Options {
    url: String,
    clients: usize,
    duration: Duration,
    server_pid: Option<u32>,
}

fn options() -> Result<Options, String> {
    let mut args = std::env::args().skip(1);
    let mut options = Options {
        url: String::new(),
        clients: 20,
        duration: Duration::from_secs(300),
        server_pid: None,
    };
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--url" => options.url = value()?,
            "--clients" => options.clients = value()?.parse().map_err(|_| "--clients: a count")?,
            "--duration" => {
                options.duration = Duration::from_secs(value()?.parse().map_err(|_| "--duration: seconds")?)
            }
            "--server-pid" => options.server_pid = Some(value()?.parse().map_err(|_| "--server-pid: a pid")?),
            other => return Err(format!("unknown option {other}")),
        }
    }
    if options.url.is_empty() {
        return Err("usage: soak --url URL [--clients N] [--duration SECS] [--server-pid PID]".into());
    }
    Ok(options)
}

/// The server's resident memory in KiB, if it can be read.
fn rss_kib(pid: Option<u32>) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{}/status", pid?)).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn grid(cols: &[&str], row: Value) -> Value {
    json!({
        "_kind": "grid",
        "meta": {"ver": "3.0"},
        "cols": cols.iter().map(|name| json!({"name": name})).collect::<Vec<_>>(),
        "rows": [row],
    })
}

#[derive(Default)]
struct Counts {
    requests: AtomicU64,
    errors: AtomicU64,
    pushes: AtomicU64,
    reconnects: AtomicU64,
}

fn config() -> ClientConfig {
    ClientConfig::new().compression([Compression::Zlib]).chunked(true)
}

/// The first point with history, by its id.
async fn a_point(url: &str) -> Result<Value, String> {
    let client = Client::connect(url, config()).await.map_err(|e| e.to_string())?;
    let request = grid(
        &["filter", "limit"],
        json!({"filter": "point and his", "limit": 1}),
    );
    let answer: Value = client.call(Op::Read, &request).await.map_err(|e| e.to_string())?;
    client.close().await;
    answer["rows"][0]["id"]
        .as_object()
        .map(|id| Value::Object(id.clone()))
        .ok_or_else(|| format!("no point with history in {answer}"))
}

async fn one_client(url: String, point: Value, until: Instant, counts: Arc<Counts>) {
    let read = grid(&["filter"], json!({"filter": "point and temp"}));
    let his = grid(
        &["id", "range"],
        json!({"id": point, "range": "2026-10-01,2026-10-31"}),
    );
    let watch = grid(&["id"], json!({"id": point}));
    let mut watch = watch;
    watch["meta"]["watchDis"] = json!("soak");
    watch["meta"]["lease"] = json!({"_kind": "number", "val": 30, "unit": "s"});
    let mut round = 0u64;
    'connection: while Instant::now() < until {
        let Ok(client) = Client::connect(&url, config()).await else {
            counts.errors.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let mut pushes = client.pushes();
        while Instant::now() < until {
            round += 1;
            for (op, body) in [(Op::Read, &read), (Op::HisRead, &his)] {
                counts.requests.fetch_add(1, Ordering::Relaxed);
                if client.call::<Value>(op, body).await.is_err() {
                    counts.errors.fetch_add(1, Ordering::Relaxed);
                }
            }
            if round.is_multiple_of(10) {
                counts.requests.fetch_add(1, Ordering::Relaxed);
                if client.call::<Value>(Op::WatchSub, &watch).await.is_err() {
                    counts.errors.fetch_add(1, Ordering::Relaxed);
                } else if let Some(pushes) = pushes.as_mut() {
                    if let Ok(Some(_)) = tokio::time::timeout(Duration::from_secs(5), pushes.next()).await {
                        counts.pushes.fetch_add(1, Ordering::Relaxed);
                    }
                }
                // Gone without closing the watch, as a dropped client would be.
                drop(client);
                counts.reconnects.fetch_add(1, Ordering::Relaxed);
                continue 'connection;
            }
        }
        client.close().await;
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let options = match options() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let point = match a_point(&options.url).await {
        Ok(point) => point,
        Err(message) => {
            eprintln!("soak: {message}");
            return ExitCode::FAILURE;
        }
    };
    let rss_start = rss_kib(options.server_pid);
    let counts = Arc::new(Counts::default());
    let started = Instant::now();
    let until = started + options.duration;
    let tasks: Vec<_> = (0..options.clients)
        .map(|_| {
            tokio::spawn(one_client(
                options.url.clone(),
                point.clone(),
                until,
                Arc::clone(&counts),
            ))
        })
        .collect();
    for task in tasks {
        let _ = task.await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let requests = counts.requests.load(Ordering::Relaxed);
    let report = json!({
        "clients": options.clients,
        "seconds": (elapsed * 10.0).round() / 10.0,
        "requests": requests,
        "errors": counts.errors.load(Ordering::Relaxed),
        "pushes": counts.pushes.load(Ordering::Relaxed),
        "reconnects": counts.reconnects.load(Ordering::Relaxed),
        "requests_per_sec": (requests as f64 / elapsed * 10.0).round() / 10.0,
        "server_rss_kib_start": rss_start,
        "server_rss_kib_end": rss_kib(options.server_pid),
    });
    println!("{report}");
    if counts.errors.load(Ordering::Relaxed) > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
