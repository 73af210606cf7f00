//! `hswire bench` from outside: short runs against `hswire serve` on
//! 127.0.0.1 in every mode, its refusals, and the benchmark site it writes.
//! Every process started here is stopped by its pid, and every run is bounded.

use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

mod support;

use support::Serve;

/// The longest any one bench or call process may take here.
const PROCESS_LIMIT: Duration = Duration::from_secs(60);

/// `hswire serve` with `flags`, without its page: these tests speak only
/// the WebSocket protocol.
fn serve(flags: &[&str]) -> Serve {
    Serve::start_with(["--no-page"].iter().chain(flags))
}

/// Runs `hswire ARGS` to its end, killing it (by its pid) past [`PROCESS_LIMIT`].
fn hswire(args: &[&str]) -> Output {
    let child = Command::new(env!("CARGO_BIN_EXE_hswire"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("hswire starts");
    finish(child)
}

/// Waits for `child` within [`PROCESS_LIMIT`], then gathers its output.
fn finish(mut child: Child) -> Output {
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let out = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = stdout.read_to_end(&mut bytes);
        bytes
    });
    let err = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = stderr.read_to_end(&mut bytes);
        bytes
    });
    let deadline = Instant::now() + PROCESS_LIMIT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for hswire") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("hswire ran past {PROCESS_LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: out.join().expect("stdout reader"),
        stderr: err.join().expect("stderr reader"),
    }
}

/// A short `bench --json` run against `url` with `flags`; its JSON report.
fn bench(url: &str, flags: &[&str]) -> (Output, Value) {
    let mut args = vec![
        "bench",
        "--url",
        url,
        "--json",
        "--duration",
        "2",
        "--warmup",
        "0.5",
        "--connections",
        "2",
    ];
    args.extend_from_slice(flags);
    let output = hswire(&args);
    let report = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|error| panic!("stdout is not one JSON object ({error}): {output:?}"));
    (output, report)
}

fn number(report: &Value, pointer: &str) -> f64 {
    report
        .pointer(pointer)
        .and_then(Value::as_f64)
        .unwrap_or_else(|| panic!("no number at {pointer} in {report}"))
}

/// Asserts a clean run: answers counted, no error, percentiles in order.
fn assert_clean(output: &Output, report: &Value) {
    assert!(output.status.success(), "{output:?}");
    assert!(number(report, "/messages_per_sec") > 0.0, "{report}");
    assert!(number(report, "/messages") > 0.0, "{report}");
    assert_eq!(report["errors"], 0, "{report}");
    assert_eq!(report["connections"], 2, "{report}");
    let [p50, p90, p99, max] =
        ["p50", "p90", "p99", "max"].map(|name| number(report, &format!("/latency_ms/{name}")));
    assert!(0.0 < p50 && p50 <= p90 && p90 <= p99 && p99 <= max, "{report}");
}

/// A temporary folder, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let path = std::env::temp_dir().join(format!("hswire-bench-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create a temporary folder");
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn bench_runs_the_reference_loop_in_every_mode_without_errors() {
    let zlib = serve(&["--compression", "zlib", "--chunked", "--auth-token", "secret"]);
    let lzma = serve(&["--compression", "lzma"]);
    let token = ["--auth-token", "secret"];
    for (serve, offer, mode) in [
        (&zlib, &[][..], "binary"),
        (&zlib, &["--chunked"][..], "binary+chunked"),
        (&zlib, &["--compression", "zlib"][..], "binary+zlib"),
        (
            &zlib,
            &["--compression", "zlib", "--chunked"][..],
            "binary+zlib+chunked",
        ),
        (&lzma, &["--compression", "lzma"][..], "binary+lzma"),
    ] {
        let mut flags: Vec<&str> = offer.to_vec();
        if std::ptr::eq(serve, &zlib) {
            flags.extend_from_slice(&token);
        }
        let (output, report) = bench(&serve.url, &flags);
        assert_clean(&output, &report);
        assert_eq!(report["mode"], mode, "{report}");
        assert_eq!(report["ops"], json!(["about", "read"]), "{report}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(&format!("agreed {mode} ")), "{stderr}");
    }
}

#[test]
fn a_request_file_makes_the_loop_and_an_op_runs_alone() {
    let serve = serve(&[]);
    let folder = TempDir::new("requests");
    let file = folder.0.join("loop.json");
    let loop_of_two = json!([
        {"op": "ops"},
        {"op": "read", "grid": {"_kind": "grid", "meta": {"ver": "3.0"}, "cols": [{"name": "filter"}],
                                "rows": [{"filter": "site"}]}},
    ]);
    std::fs::write(&file, loop_of_two.to_string()).expect("write the request file");
    let file = file.to_str().expect("a UTF-8 path");
    let (output, report) = bench(&serve.url, &["--request", file, "--request", file]);
    assert_clean(&output, &report);
    assert_eq!(report["ops"], json!(["ops", "read", "ops", "read"]), "{report}");

    let (output, report) = bench(&serve.url, &["--op", "read", "--filter", "equip"]);
    assert_clean(&output, &report);
    assert_eq!(report["ops"], json!(["read"]), "{report}");
}

#[test]
fn requests_the_server_refuses_are_counted_as_errors_and_shown_in_words() {
    let serve = serve(&[]);
    // hisRead needs an id and a range: an empty grid is answered with an error grid.
    let (output, report) = bench(&serve.url, &["--op", "hisRead"]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(number(&report, "/errors") > 0.0, "{report}");
    assert_eq!(report["messages"], 0, "{report}");
    let first = report["first_errors"][0]
        .as_str()
        .expect("the first error in words");
    assert!(first.contains("hisRead"), "{first}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("hswire bench: error: connection"), "{stderr}");
}

#[test]
fn an_unreachable_url_fails_in_one_line_naming_the_address() {
    // A port that was free a moment ago, and nobody listens on now.
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let url = format!("ws://127.0.0.1:{port}");
    let output = hswire(&["bench", "--url", &url, "--duration", "1", "--timeout", "5"]);
    assert!(!output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.contains(&format!("127.0.0.1:{port}")), "{stderr}");
    assert!(output.stdout.is_empty(), "{output:?}");
}

#[test]
fn bad_options_are_refused_in_words_before_connecting() {
    let url = "ws://127.0.0.1:9";
    for (flags, words) in [
        (&["--connections", "0"][..], "0 is not in 1..=10000"),
        (
            &["--duration", "0"][..],
            "the duration must be more than 0 seconds",
        ),
        (&["--duration", "soon"][..], "`soon` is not a number of seconds"),
        (&["--warmup", "-1"][..], "the warm-up cannot be negative"),
        (
            &["--compression", "gzip"][..],
            "no compression algorithm is named `gzip`",
        ),
        (&["--op", "reed"][..], "no op is named `reed`"),
        (
            &["--op", "about", "--filter", "site"][..],
            "--filter goes with the read op, not about",
        ),
        (&["--op", "read", "--grid", "{"][..], "--grid:"),
        (
            &["--request", "/nonexistent/loop.json"][..],
            "--request /nonexistent/loop.json: cannot read it",
        ),
    ] {
        let mut args = vec!["bench", "--url", url];
        args.extend_from_slice(flags);
        let output = hswire(&args);
        assert!(!output.status.success(), "{flags:?}: {output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(words), "{flags:?}: {stderr}");
        assert!(!stderr.contains("cannot connect"), "{flags:?}: {stderr}");
    }
}

#[cfg(unix)]
#[test]
fn ctrl_c_stops_the_run_early_with_the_partial_result() {
    let serve = serve(&[]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_hswire"))
        .args([
            "bench",
            "--url",
            &serve.url,
            "--json",
            "--duration",
            "50",
            "--warmup",
            "0",
            "--connections",
            "2",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("hswire bench starts");
    // The run has started once it says what the connections agreed.
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr is piped"));
    let mut line = String::new();
    stderr
        .read_line(&mut line)
        .expect("hswire bench reports its start");
    assert!(line.contains("agreed binary"), "{line}");
    child.stderr = Some(stderr.into_inner());
    std::thread::sleep(Duration::from_millis(1500));
    let interrupt = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill -INT runs");
    assert!(interrupt.success());
    let started = Instant::now();
    let output = finish(child);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    let report: Value = serde_json::from_slice(&output.stdout).expect("stdout is one JSON object");
    assert_eq!(report["interrupted"], true, "{report}");
    let measured = number(&report, "/duration_s");
    assert!(measured > 1.0 && measured < 50.0, "{report}");
    assert!(number(&report, "/messages_per_sec") > 0.0, "{report}");
    assert_eq!(report["errors"], 0, "{report}");
}

#[test]
fn the_benchmark_site_serves_5000_points_to_read_point_and_sensor() {
    let folder = TempDir::new("site");
    let site = folder.0.join("bench-site.json");
    let site_name = site.to_str().expect("a UTF-8 path");
    let output = hswire(&["bench", "--write-site", site_name]);
    assert!(output.status.success(), "{output:?}");
    let serve = serve(&["--site", site_name]);
    let request = json!({"_kind": "grid", "meta": {"ver": "3.0"}, "cols": [{"name": "filter"}],
                         "rows": [{"filter": "point and sensor"}]});
    let output = hswire(&[
        "call",
        "--url",
        &serve.url,
        "read",
        "--grid",
        &request.to_string(),
    ]);
    assert!(output.status.success(), "{output:?}");
    let grid: Value = serde_json::from_slice(&output.stdout).expect("stdout is one JSON grid");
    let rows = grid["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 5000);
    assert_eq!(rows[4999]["dis"], "Point 4999", "{}", rows[4999]);
    assert_eq!(rows[4999]["siteRef"]["val"], "s:site-1", "{}", rows[4999]);
}

/// A push fan-out server on 127.0.0.1 in this process, as
/// `examples/push_fanout.rs` of the library: every connection that asks
/// `about` is subscribed, and every 10 ms each subscriber gets a small grid
/// of points whose meta holds `pushedAt` (microseconds since the Unix epoch),
/// or not when `stamped` is false. It stops when dropped.
struct Fanout {
    url: String,
    _runtime: tokio::runtime::Runtime,
}

fn fanout(stamped: bool) -> Fanout {
    use haystack_wire::connection::{Fault, Router, Server, ServerConfig, Subscribers};
    use haystack_wire::Op;
    use std::sync::Arc;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a runtime");
    let url = runtime.block_on(async move {
        let subscribers: Arc<Subscribers<()>> = Arc::new(Subscribers::new());
        let joining = Arc::clone(&subscribers);
        let router = Router::new().route(Op::About, move |request| {
            joining.subscribe((), &request.peer);
            async move {
                Ok::<_, Fault>(r#"{"_kind":"grid","meta":{"ver":"3.0"},"cols":[{"name":"empty"}],"rows":[]}"#)
            }
        });
        let server = Server::bind("127.0.0.1:0", ServerConfig::new(), router)
            .await
            .expect("the fan-out server listens");
        let url = format!("ws://{}", server.local_addr().expect("its address"));
        tokio::spawn(server.run());
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(Duration::from_millis(10));
            loop {
                ticks.tick().await;
                let micros = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .expect("after the epoch")
                    .as_micros();
                let meta = if stamped {
                    format!(r#"{{"ver":"3.0","pushedAt":{micros}}}"#)
                } else {
                    r#"{"ver":"3.0"}"#.to_owned()
                };
                let grid = format!(
                    r#"{{"_kind":"grid","meta":{meta},"cols":[{{"name":"id"}},{{"name":"curVal"}}],"rows":[{{"id":{{"_kind":"ref","val":"p:1"}},"curVal":{{"_kind":"number","val":72,"unit":"°F"}}}}]}}"#
                );
                subscribers.push_watch(&(), "w", grid.as_bytes());
            }
        });
        url
    });
    Fanout {
        url,
        _runtime: runtime,
    }
}

/// A short `bench --pushes --json` run against `url` with 3 connections.
fn bench_pushes(url: &str) -> (Output, Value) {
    let output = hswire(&[
        "bench",
        "--pushes",
        "--url",
        url,
        "--json",
        "--connections",
        "3",
        "--warmup",
        "0.3",
        "--duration",
        "1",
    ]);
    let report = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|error| panic!("stdout is not one JSON object ({error}): {output:?}"));
    (output, report)
}

#[test]
fn bench_pushes_counts_the_deliveries_of_a_fanout_server_without_errors() {
    let server = fanout(true);
    let (output, report) = bench_pushes(&server.url);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(report["pushes"], true, "{report}");
    assert!(number(&report, "/deliveries") > 0.0, "{report}");
    assert!(number(&report, "/deliveries_per_sec") > 0.0, "{report}");
    assert_eq!(report["errors"], 0, "{report}");
    assert_eq!(report["connections"], 3, "{report}");
    assert_eq!(report["connections_opened"], 3, "{report}");
    assert_eq!(report["connections_open_at_end"], 3, "{report}");
    let [p50, p90, p99, max] =
        ["p50", "p90", "p99", "max"].map(|name| number(&report, &format!("/latency_ms/{name}")));
    assert!(p50 <= p90 && p90 <= p99 && p99 <= max, "{report}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("3 of 3 connections"), "{stderr}");
}

#[test]
fn pushes_without_pushed_at_are_counted_as_errors() {
    let server = fanout(false);
    let (output, report) = bench_pushes(&server.url);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(number(&report, "/errors") > 0.0, "{report}");
    assert_eq!(report["deliveries"], 0, "{report}");
    let first = report["first_errors"][0]
        .as_str()
        .expect("the first error in words");
    assert!(first.contains("pushedAt"), "{first}");
}

#[test]
fn bench_pushes_refuses_the_options_of_a_request_loop() {
    for flags in [&["--op", "read"][..], &["--filter", "site"][..]] {
        let mut args = vec!["bench", "--pushes", "--url", "ws://127.0.0.1:9"];
        args.extend_from_slice(flags);
        let output = hswire(&args);
        assert!(!output.status.success(), "{flags:?}: {output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("cannot be used with"), "{flags:?}: {stderr}");
    }
}
