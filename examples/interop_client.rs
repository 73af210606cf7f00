//! Drives a server with the connection layer's client, for the interop
//! suite (tests/interop/interop.py) and by hand:
//!
//! ```text
//! interop_client load --url ws://127.0.0.1:8080 [--compression zlib|lzma] [--chunked]
//!                     [--concurrent 2000] [--sequential 70000] [--json]
//! interop_client push --url ws://127.0.0.1:8080 [--json]
//! ```
//!
//! `--json` sends every request as a JSON envelope instead of a binary
//! frame (the client's JSON mode; no compression or chunking is offered).
//!
//! `load` sends `read` requests with the filter `n==K` over one connection
//! (first all the concurrent ones at once, then the sequential ones one
//! after another) and checks that each response holds K: a lost or crossed
//! response is counted, never hidden. The server must answer `n==K` with a
//! grid whose first row has `n` = K, as the interop suite's server does.
//! `push` subscribes with `watchSub` and waits for the first push.
//! Both print one JSON line and exit 1 when something was wrong.

use std::process::ExitCode;
use std::str::FromStr;
use std::time::{Duration, Instant};

use haystack_wire::connection::{Client, ClientConfig};
use haystack_wire::{Compression, Op};
use serde_json::{json, Value};

struct Options {
    command: String,
    url: String,
    compression: Option<Compression>,
    chunked: bool,
    json: bool,
    concurrent: u32,
    sequential: u32,
}

fn options() -> Result<Options, String> {
    let mut args = std::env::args().skip(1);
    let command = args
        .next()
        .ok_or("usage: interop_client load|push --url URL [options]")?;
    let mut options = Options {
        command,
        url: String::new(),
        compression: None,
        chunked: false,
        json: false,
        concurrent: 2000,
        sequential: 70_000,
    };
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--url" => options.url = value()?,
            "--compression" => {
                options.compression = Some(Compression::from_str(&value()?).map_err(|e| e.to_string())?)
            }
            "--chunked" => options.chunked = true,
            "--json" => options.json = true,
            "--concurrent" => options.concurrent = value()?.parse().map_err(|_| "--concurrent: a count")?,
            "--sequential" => options.sequential = value()?.parse().map_err(|_| "--sequential: a count")?,
            other => return Err(format!("unknown option {other}")),
        }
    }
    if options.url.is_empty() {
        return Err("--url is required".into());
    }
    Ok(options)
}

fn read_request(n: u32) -> Value {
    json!({
        "_kind": "grid",
        "meta": {"ver": "3.0"},
        "cols": [{"name": "filter"}],
        "rows": [{"filter": format!("n=={n}")}],
    })
}

/// Whether the response answers `n`: its first row's `n` is n.
fn answers(response: &Value, n: u32) -> bool {
    response["rows"][0]["n"].as_f64() == Some(f64::from(n))
}

#[derive(Default)]
struct Tally {
    matched: u32,
    mismatched: u32,
    failed: u32,
    first_failure: Option<String>,
}

impl Tally {
    fn add(&mut self, n: u32, outcome: Result<Value, haystack_wire::connection::ClientError>) {
        match outcome {
            Ok(response) if answers(&response, n) => self.matched += 1,
            Ok(response) => {
                self.mismatched += 1;
                self.first_failure
                    .get_or_insert(format!("request {n} got {response}"));
            }
            Err(error) => {
                self.failed += 1;
                self.first_failure.get_or_insert(format!("request {n}: {error}"));
            }
        }
    }

    fn report(&self, seconds: f64) -> Value {
        json!({
            "matched": self.matched,
            "mismatched": self.mismatched,
            "failed": self.failed,
            "seconds": (seconds * 100.0).round() / 100.0,
            "first_failure": self.first_failure,
        })
    }
}

async fn load(client: &Client, options: &Options) -> (Value, bool) {
    let started = Instant::now();
    let tasks: Vec<_> = (0..options.concurrent)
        .map(|n| {
            let client = client.clone();
            tokio::spawn(async move { (n, client.call(Op::Read, &read_request(n)).await) })
        })
        .collect();
    let mut concurrent = Tally::default();
    for task in tasks {
        match task.await {
            Ok((n, outcome)) => concurrent.add(n, outcome),
            Err(error) => {
                concurrent.failed += 1;
                concurrent.first_failure.get_or_insert(error.to_string());
            }
        }
    }
    let concurrent_seconds = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let mut sequential = Tally::default();
    for n in 0..options.sequential {
        sequential.add(n, client.call(Op::Read, &read_request(n)).await);
    }
    let ok = concurrent.matched == options.concurrent && sequential.matched == options.sequential;
    let report = json!({
        "concurrent": concurrent.report(concurrent_seconds),
        "sequential": sequential.report(started.elapsed().as_secs_f64()),
        "unmatched_responses": client.unmatched_responses(),
    });
    (report, ok && client.unmatched_responses() == 0)
}

async fn push(client: &Client) -> Result<Value, String> {
    let mut pushes = client.pushes().ok_or("pushes already taken")?;
    let request = json!({"_kind": "grid", "meta": {"ver": "3.0", "watchDis": "interop"}, "cols": [{"name": "id"}], "rows": []});
    let answer: Value = client
        .call(Op::WatchSub, &request)
        .await
        .map_err(|e| e.to_string())?;
    let push = tokio::time::timeout(Duration::from_secs(10), pushes.next())
        .await
        .map_err(|_| "no push within 10 s")?
        .ok_or("the connection closed before a push")?;
    let grid: Value = serde_json::from_slice(&push.payload).map_err(|e| e.to_string())?;
    Ok(json!({
        "op": push.op.name(),
        "watch": answer["meta"]["watchId"],
        "push_watch_id": push.watch_id,
        "push_meta": grid["meta"],
    }))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let options = match options() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("interop_client: {message}");
            return ExitCode::from(2);
        }
    };
    let config = ClientConfig::new()
        .compression(options.compression)
        .chunked(options.chunked)
        .json_mode(options.json);
    let client = match Client::connect(&options.url, config).await {
        Ok(client) => client,
        Err(error) => {
            eprintln!("interop_client: {error}");
            return ExitCode::FAILURE;
        }
    };
    let (report, ok) = match options.command.as_str() {
        "load" => load(&client, &options).await,
        "push" => match push(&client).await {
            Ok(report) => (report, true),
            Err(message) => (json!({"error": message}), false),
        },
        other => {
            eprintln!("interop_client: unknown command {other}");
            return ExitCode::from(2);
        }
    };
    println!("{report}");
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
