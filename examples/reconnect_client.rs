//! Shows the reconnecting client live, for the interop suite
//! (tests/interop/interop.py) and by hand:
//!
//! ```text
//! reconnect_client --url ws://127.0.0.1:8080 [--json] [--ids a,b] [--seconds 30]
//!                  [--min-delay-ms 1000] [--max-delay-ms 60000]
//! ```
//!
//! It opens a [`ReconnectingClient`], subscribes one watch (of `--ids`, none
//! by default) once the first connection is up, and prints one JSON line per
//! event until stdin is closed or `--seconds` have passed:
//!
//! - `{"event":"connected","connects":N}` each time a connection comes up
//!   (its watches already re-opened);
//! - `{"event":"disconnected"}` each time one ends;
//! - `{"event":"watch","watchId":..}` once the watch is open;
//! - `{"event":"push","op":..,"watchId":..,"rows":N}` per push, with the
//!   watch id the caller knows (a binary push names none: then the grid
//!   meta's, if any);
//! - `{"event":"end","connects":N,"pushes":N}` last.
//!
//! `--json` sends requests as JSON envelopes (the client's JSON mode).
//! Exits 1 when the watch could not be opened.

use std::io::Read;
use std::process::ExitCode;
use std::time::Duration;

use haystack_wire::connection::{ClientConfig, ConnectionState, Reconnect, ReconnectingClient};
use libhaystack::val::{HaystackDict, Ref};
use serde_json::{json, Value};

struct Options {
    url: String,
    json: bool,
    ids: Vec<String>,
    seconds: Option<f64>,
    min_delay: Duration,
    max_delay: Duration,
}

fn options() -> Result<Options, String> {
    let mut args = std::env::args().skip(1);
    let mut options = Options {
        url: String::new(),
        json: false,
        ids: Vec::new(),
        seconds: None,
        min_delay: Duration::from_secs(1),
        max_delay: Duration::from_secs(60),
    };
    let millis = |text: String, flag: &str| {
        text.parse::<u64>()
            .map(Duration::from_millis)
            .map_err(|_| format!("{flag}: a number of milliseconds"))
    };
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--url" => options.url = value()?,
            "--json" => options.json = true,
            "--ids" => {
                options.ids = value()?
                    .split(',')
                    .filter(|id| !id.is_empty())
                    .map(str::to_owned)
                    .collect()
            }
            "--seconds" => {
                let seconds: f64 = value()?.parse().map_err(|_| "--seconds: a number")?;
                if !(seconds.is_finite() && seconds > 0.0) {
                    return Err("--seconds: more than 0".into());
                }
                options.seconds = Some(seconds);
            }
            "--min-delay-ms" => options.min_delay = millis(value()?, "--min-delay-ms")?,
            "--max-delay-ms" => options.max_delay = millis(value()?, "--max-delay-ms")?,
            other => return Err(format!("unknown option {other}")),
        }
    }
    if options.url.is_empty() {
        return Err("--url is required".into());
    }
    Ok(options)
}

fn say(line: Value) {
    println!("{line}");
}

/// Resolves when stdin is closed (read to its end, or unreadable).
async fn stdin_closed() {
    let (closed, wait) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        let mut sink = [0u8; 256];
        let mut stdin = std::io::stdin().lock();
        while matches!(stdin.read(&mut sink), Ok(read) if read > 0) {}
        let _ = closed.send(());
    });
    let _ = wait.await;
}

/// Prints each connection coming up and going down, until the client closes.
async fn report_connections(client: ReconnectingClient) {
    loop {
        if client.wait_for(ConnectionState::Connected).await == ConnectionState::Closed {
            return;
        }
        say(json!({"event": "connected", "connects": client.connects()}));
        if client.wait_for(ConnectionState::Connecting).await == ConnectionState::Closed {
            return;
        }
        say(json!({"event": "disconnected"}));
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let options = match options() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("reconnect_client: {message}");
            return ExitCode::from(2);
        }
    };
    let config = ClientConfig::new()
        .json_mode(options.json)
        .request_timeout(Some(Duration::from_secs(10)));
    let reconnect = Reconnect::new()
        .min_delay(options.min_delay)
        .max_delay(options.max_delay);
    let client = ReconnectingClient::start(options.url.clone(), config, reconnect).await;
    let Some(mut pushes) = client.pushes() else {
        eprintln!("reconnect_client: the pushes were already taken");
        return ExitCode::FAILURE;
    };
    tokio::spawn(report_connections(client.clone()));
    let counted = tokio::spawn(async move {
        let mut count = 0u64;
        while let Some(push) = pushes.next().await {
            count += 1;
            let grid: Value = serde_json::from_slice(&push.payload).unwrap_or(Value::Null);
            let watch_id = push
                .watch_id
                .map(Value::from)
                .unwrap_or_else(|| grid["meta"]["watchId"].clone());
            let rows = grid["rows"].as_array().map_or(0, Vec::len);
            say(json!({"event": "push", "op": push.op.name(), "watchId": watch_id, "rows": rows}));
        }
        count
    });
    let stop = async {
        match options.seconds {
            Some(seconds) => {
                tokio::select! {
                    _ = stdin_closed() => {}
                    _ = tokio::time::sleep(Duration::from_secs_f64(seconds)) => {}
                }
            }
            None => stdin_closed().await,
        }
    };
    let ids: Vec<Ref> = options.ids.iter().map(|id| Ref::make(id, None)).collect();
    let run = async {
        match client.watch_sub(&ids, "reconnect_client", None, None).await {
            Ok(grid) => {
                let watch_id = grid
                    .meta
                    .as_ref()
                    .and_then(|meta| meta.get_str("watchId"))
                    .map(|id| id.value().to_string());
                say(json!({"event": "watch", "watchId": watch_id}));
                std::future::pending::<Result<(), String>>().await
            }
            Err(error) => Err(error.to_string()),
        }
    };
    let outcome = tokio::select! {
        () = stop => Ok(()),
        failed = run => failed,
    };
    client.close().await;
    let pushes = counted.await.unwrap_or(0);
    say(json!({"event": "end", "connects": client.connects(), "pushes": pushes}));
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("reconnect_client: watchSub: {message}");
            ExitCode::FAILURE
        }
    }
}
