//! The `hswire serve` and `hswire call` contract, checked from outside: a
//! server process on 127.0.0.1 and one call process per request.

use std::io::Read;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A running `hswire serve`, stopped on drop.
struct Serve {
    child: Child,
    url: String,
}

impl Serve {
    fn start(flags: &[&str]) -> Serve {
        let mut child = Command::new(env!("CARGO_BIN_EXE_hswire"))
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(flags)
            .stdout(Stdio::piped())
            .spawn()
            .expect("hswire serve starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout is piped"))
            .read_line(&mut line)
            .expect("hswire serve says where it listens");
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        Serve { child, url }
    }

    fn call(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_hswire"))
            .args(["call", "--url", &self.url])
            .args(args)
            .output()
            .expect("hswire call runs")
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn grid(output: &Output) -> Value {
    assert!(output.status.success(), "{output:?}");
    serde_json::from_slice(&output.stdout).expect("stdout is one JSON grid")
}

fn read_request(filter: &str, limit: u32) -> String {
    serde_json::json!({
        "_kind": "grid", "meta": {"ver": "3.0"},
        "cols": [{"name": "filter"}, {"name": "limit"}],
        "rows": [{"filter": filter, "limit": limit}],
    })
    .to_string()
}

#[test]
fn serve_says_where_it_listens_and_call_prints_the_response_grid() {
    let serve = Serve::start(&[]);
    assert!(serve.url.starts_with("ws://127.0.0.1:"), "{}", serve.url);
    let about = grid(&serve.call(&["about"]));
    assert_eq!(about["_kind"], "grid");
    assert_eq!(about["rows"][0]["productName"], "haystack-wire");
}

#[test]
fn read_evaluates_haystack_filters_in_every_session() {
    let serve = Serve::start(&["--compression", "zlib", "--chunked"]);
    for flags in [
        &[][..],
        &["--compression", "zlib"],
        &["--compression", "lzma", "--chunked"],
    ] {
        let request = read_request("point and temp and siteRef==@s-2", 5);
        let answer = grid(&serve.call(&[flags, &["read", "--grid", &request]].concat()));
        let rows = answer["rows"].as_array().expect("rows");
        assert_eq!(rows.len(), 5, "{flags:?}");
        for row in rows {
            assert_eq!(row["temp"]["_kind"], "marker", "{row}");
            assert_eq!(row["siteRef"]["val"], "s-2", "{row}");
        }
    }
}

#[test]
fn a_month_of_history_comes_back_whole_with_its_nan_samples() {
    let serve = Serve::start(&["--compression", "lzma", "--chunked"]);
    let point =
        grid(&serve.call(&["read", "--grid", &read_request("point and his", 1)]))["rows"][0]["id"].clone();
    let request = serde_json::json!({
        "_kind": "grid", "meta": {"ver": "3.0"},
        "cols": [{"name": "id"}, {"name": "range"}],
        "rows": [{"id": point, "range": "2026-10-01,2026-10-31"}],
    })
    .to_string();
    let output = serve.call(&[
        "--compression",
        "lzma",
        "--chunked",
        "hisRead",
        "--grid",
        &request,
    ]);
    // Over the chunking threshold, so it crossed the wire in chunks.
    assert!(output.stdout.len() > 262_144, "{} bytes", output.stdout.len());
    let history = grid(&output);
    let rows = history["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 31 * 288);
    let nans = rows.iter().filter(|row| row["val"]["val"] == "NaN").count();
    assert!(nans > 0, "no NaN sample in the month");
}

#[test]
fn an_error_response_exits_1_with_its_dis_on_stderr() {
    let serve = Serve::start(&[]);
    let output = serve.call(&["nav"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty());
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "op `nav` is not supported by this server\n"
    );

    let output = serve.call(&["read", "--grid", &read_request("point and (", 1)]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&output.stderr).starts_with("bad filter `point and (`"),
        "{output:?}"
    );
}

#[test]
fn the_token_is_required_when_the_server_has_one() {
    let serve = Serve::start(&["--auth-token", "s3cret"]);
    assert!(serve.call(&["--auth-token", "s3cret", "about"]).status.success());
    let refused = serve.call(&["about"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("authentication failed"),
        "{refused:?}"
    );
}

#[test]
fn call_refuses_a_bad_grid_before_connecting() {
    // Nothing listens there; the grid is read first.
    let output = Command::new(env!("CARGO_BIN_EXE_hswire"))
        .args([
            "call",
            "--url",
            "ws://127.0.0.1:9",
            "read",
            "--grid",
            "{\"rows\":[]}",
        ])
        .output()
        .expect("hswire call runs");
    assert_eq!(output.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&output.stderr).starts_with("hswire: --grid: $: expected a grid"),
        "{output:?}"
    );
}

#[test]
fn call_gives_up_on_a_server_that_never_upgrades_after_its_timeout() {
    // Bound but never accepted from: the TCP connect succeeds (the kernel
    // queues it), the WebSocket upgrade is never answered.
    let listener = TcpListener::bind("127.0.0.1:0").expect("a port on 127.0.0.1");
    let url = format!("ws://{}", listener.local_addr().expect("its address"));
    let started = Instant::now();
    let mut call = Command::new(env!("CARGO_BIN_EXE_hswire"))
        .args(["call", "--url", &url, "--timeout", "1", "about"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("hswire call starts");
    let status = loop {
        if let Some(status) = call.try_wait().expect("hswire call can be waited for") {
            break status;
        }
        if started.elapsed() > Duration::from_secs(10) {
            let _ = call.kill();
            let _ = call.wait();
            panic!("hswire call still waiting after 10 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let elapsed = started.elapsed();
    let mut stderr = String::new();
    call.stderr
        .take()
        .expect("stderr is piped")
        .read_to_string(&mut stderr)
        .expect("stderr is text");
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert_eq!(
        stderr,
        format!("hswire: cannot connect to {url}: not connected within 1s\n")
    );
    assert!(elapsed >= Duration::from_secs(1), "gave up after {elapsed:?}");
    assert!(elapsed < Duration::from_secs(4), "gave up only after {elapsed:?}");
    drop(listener);
}
