//! The `hswire serve` and `hswire call` contract, checked from outside: a
//! server process on 127.0.0.1 and one call process per request.

use std::io::Read;
use std::net::TcpListener;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

mod support;

use haystack_wire::connection::{Client, ClientConfig, ClientError};
use haystack_wire::Op;
use serde_json::{json, Value};
use support::Serve;

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

/// A watchSub grid opening a watch on `ids`, with a lease of `lease_secs` if given.
fn watch_sub_request(ids: &[&str], lease_secs: Option<u32>) -> Value {
    let mut meta = json!({"ver": "3.0", "watchDis": "test"});
    if let Some(secs) = lease_secs {
        meta["lease"] = json!({"_kind": "number", "val": secs, "unit": "s"});
    }
    let rows: Vec<Value> = ids
        .iter()
        .map(|id| json!({"id": {"_kind": "ref", "val": id}}))
        .collect();
    json!({"_kind": "grid", "meta": meta, "cols": [{"name": "id"}], "rows": rows})
}

fn watch_poll_request(watch: &str) -> Value {
    json!({
        "_kind": "grid", "meta": {"ver": "3.0", "watchId": watch},
        "cols": [{"name": "empty"}], "rows": [],
    })
}

fn watch_id(answer: &Value) -> String {
    answer["meta"]["watchId"]
        .as_str()
        .unwrap_or_else(|| panic!("no watchId in {answer}"))
        .to_owned()
}

/// The `dis` of the error a call was answered with.
fn remote_dis(result: Result<Value, ClientError>) -> String {
    match result {
        Err(ClientError::Remote { dis, .. }) => dis,
        other => panic!("expected an error grid, got {other:?}"),
    }
}

/// Connects, opens one watch and closes the connection; the watch's id.
async fn watch_and_leave(url: String) -> String {
    let client = Client::connect(&url, ClientConfig::new())
        .await
        .expect("connects");
    let answer = client
        .call::<Value>(Op::WatchSub, &watch_sub_request(&["p-1-1-1"], None))
        .await
        .expect("watchSub is answered");
    client.close().await;
    watch_id(&answer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watches_end_with_their_connections_so_1100_clients_come_and_go_and_a_new_one_still_watches() {
    let serve = Serve::start(&[]);
    let run = async {
        // More connections than the site has watches (1,024), a hundred at a time: each
        // watchSub succeeds only if the watches of the connections before it were closed.
        let mut opened = Vec::new();
        for _ in 0..11 {
            let batch: Vec<_> = (0..100)
                .map(|_| tokio::spawn(watch_and_leave(serve.url.clone())))
                .collect();
            for task in batch {
                opened.push(task.await.expect("the client task finishes"));
            }
        }
        assert_eq!(opened.len(), 1_100);

        let client = Client::connect(&serve.url, ClientConfig::new())
            .await
            .expect("connects");
        let answer = client
            .call::<Value>(Op::WatchSub, &watch_sub_request(&["p-1-1-1"], None))
            .await
            .expect("a new client's watchSub succeeds");
        assert!(!opened.contains(&watch_id(&answer)));

        // Every earlier watch is gone, well before its minute of lease; the last ones may
        // take a moment, their connections having only just closed.
        for watch in [&opened[0], &opened[549], &opened[1_099]] {
            let mut dis = String::new();
            for _ in 0..50 {
                match client
                    .call::<Value>(Op::WatchPoll, &watch_poll_request(watch))
                    .await
                {
                    Err(ClientError::Remote { dis: text, .. }) => {
                        dis = text;
                        break;
                    }
                    other => {
                        other.expect("the poll is answered");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
            assert_eq!(dis, format!("unknown watch `{watch}`"));
        }
        client.close().await;
    };
    tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("the test finishes within a minute");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_not_polled_within_its_lease_is_closed_while_a_polled_one_stays_open() {
    let serve = Serve::start(&["--push-interval-ms", "100"]);
    let run = async {
        let client = Client::connect(&serve.url, ClientConfig::new())
            .await
            .expect("connects");
        let sub = |ids: &'static [&'static str]| {
            let client = client.clone();
            async move {
                let answer = client
                    .call::<Value>(Op::WatchSub, &watch_sub_request(ids, Some(2)))
                    .await
                    .expect("watchSub is answered");
                assert_eq!(answer["meta"]["lease"]["val"], 2.0, "{answer}");
                watch_id(&answer)
            }
        };
        let idle = sub(&["p-1-1-1"]).await;
        let polled = sub(&["p-1-1-2"]).await;
        // Three seconds, polling one watch every half second: its lease of two seconds
        // is renewed each time, the other's runs out.
        for _ in 0..6 {
            tokio::time::sleep(Duration::from_millis(500)).await;
            client
                .call::<Value>(Op::WatchPoll, &watch_poll_request(&polled))
                .await
                .expect("the polled watch stays open");
        }
        let dis = remote_dis(
            client
                .call::<Value>(Op::WatchPoll, &watch_poll_request(&idle))
                .await,
        );
        assert_eq!(dis, format!("unknown watch `{idle}`"));
        client.close().await;
    };
    tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .expect("the test finishes within half a minute");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_connection_opens_at_most_64_watches_and_another_still_opens_its_own() {
    let serve = Serve::start(&[]);
    let run = async {
        let greedy = Client::connect(&serve.url, ClientConfig::new())
            .await
            .expect("connects");
        for _ in 0..64 {
            greedy
                .call::<Value>(Op::WatchSub, &watch_sub_request(&[], None))
                .await
                .expect("watchSub is answered");
        }
        let dis = remote_dis(
            greedy
                .call::<Value>(Op::WatchSub, &watch_sub_request(&[], None))
                .await,
        );
        assert!(
            dis.ends_with(" has 64 open watches: at most 64 per connection"),
            "{dis}"
        );
        let other = Client::connect(&serve.url, ClientConfig::new())
            .await
            .expect("connects");
        other
            .call::<Value>(Op::WatchSub, &watch_sub_request(&[], None))
            .await
            .expect("another connection's watchSub succeeds");
        greedy.close().await;
        other.close().await;
    };
    tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .expect("the test finishes within half a minute");
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

#[test]
fn serve_and_call_speak_mutual_tls_with_certificates_from_files() {
    use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair};
    let dir = std::env::temp_dir().join(format!("hswire-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let write = |name: &str, pem: String| {
        let path = dir.join(name);
        std::fs::write(&path, pem).unwrap();
        path.to_string_lossy().into_owned()
    };
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(DnType::CommonName, "test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issue = |name: &str, usage| {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec![name.to_owned()]).unwrap();
        params.extended_key_usages = vec![usage];
        (
            params.signed_by(&key, &ca, &ca_key).unwrap().pem(),
            key.serialize_pem(),
        )
    };
    let (server_cert, server_key) = issue("127.0.0.1", ExtendedKeyUsagePurpose::ServerAuth);
    let (client_cert, client_key) = issue("client", ExtendedKeyUsagePurpose::ClientAuth);
    let ca_file = write("ca.pem", ca.pem());
    let (server_cert, server_key) = (write("server.pem", server_cert), write("server.key", server_key));
    let (client_cert, client_key) = (write("client.pem", client_cert), write("client.key", client_key));

    let serve = Serve::start(&[
        "--tls-cert",
        &server_cert,
        "--tls-key",
        &server_key,
        "--client-ca",
        &ca_file,
    ]);
    assert!(serve.url.starts_with("wss://"), "{}", serve.url);
    let about = grid(&serve.call(&[
        "--ca",
        &ca_file,
        "--cert",
        &client_cert,
        "--key",
        &client_key,
        "about",
    ]));
    assert!(about["rows"][0]["serverName"].is_string(), "{about}");

    let anonymous = serve.call(&["--ca", &ca_file, "--timeout", "5", "about"]);
    assert!(
        !anonymous.status.success(),
        "a client without a certificate was served"
    );
    let missing = serve.call(&["--ca", &dir.join("none.pem").to_string_lossy(), "about"]);
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(stderr.contains("none.pem"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_subscribes_in_json_gets_its_watch_pushes_as_json_watch_messages() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;

    let serve = Serve::start(&["--push-interval-ms", "100"]);
    let run = async {
        let (mut socket, _) = tokio_tungstenite::connect_async(serve.url.as_str())
            .await
            .expect("connects");
        let request = json!({"id": "1", "op": "watchSub", "grid": watch_sub_request(&["p-1-1-1"], None)});
        socket
            .send(Message::text(request.to_string()))
            .await
            .expect("sends");
        let mut watch = None;
        while let Some(message) = socket.next().await {
            let Message::Text(text) = message.expect("reads") else {
                continue;
            };
            let value: Value = serde_json::from_str(&text).expect("a JSON text message");
            match &watch {
                None => {
                    assert_eq!(value["id"], "1", "{value}");
                    watch = Some(watch_id(&value["grid"]));
                }
                Some(id) => {
                    assert_eq!(value["type"], "watch", "{value}");
                    assert_eq!(value["watchId"].as_str(), Some(id.as_str()), "{value}");
                    assert_eq!(value["grid"]["rows"][0]["id"]["val"], "p-1-1-1", "{value}");
                    return;
                }
            }
        }
        panic!("the connection ended before a push");
    };
    tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .expect("a JSON watch push within half a minute");
}

/// Runs `hswire call` with `args`, `stdin` on its standard input.
fn call_with_stdin(args: &[&str], stdin: &[u8]) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_hswire"))
        .arg("call")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("hswire call starts");
    // A call that fails before reading stdin closes it; what it says is checked instead.
    let _ = child.stdin.take().expect("stdin is piped").write_all(stdin);
    child.wait_with_output().expect("hswire call finishes")
}

/// A batch file of this test's own, removed on drop.
struct BatchFile(std::path::PathBuf);

impl BatchFile {
    fn new(name: &str, contents: &str) -> BatchFile {
        let path = std::env::temp_dir().join(format!("hswire-batch-{}-{name}.json", std::process::id()));
        std::fs::write(&path, contents).expect("the batch file is written");
        BatchFile(path)
    }

    fn path(&self) -> String {
        self.0.to_string_lossy().into_owned()
    }
}

impl Drop for BatchFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn stdout_lines(output: &Output) -> Vec<String> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

fn read_grid(filter: &str, limit: u32) -> Value {
    serde_json::from_str(&read_request(filter, limit)).expect("a JSON grid")
}

#[test]
fn call_with_json_mode_reads_the_same_records_as_a_binary_call() {
    let serve = Serve::start(&["--compression", "zlib"]);
    let request = read_request("point and temp and siteRef==@s-1", 7);
    let binary = grid(&serve.call(&["read", "--grid", &request]));
    // JSON mode offers nothing, so --compression changes nothing there.
    let json_mode = grid(&serve.call(&["--json-mode", "--compression", "zlib", "read", "--grid", &request]));
    assert_eq!(json_mode, binary);
    assert_eq!(json_mode["rows"].as_array().map(Vec::len), Some(7));
    let about = grid(&serve.call(&["--json-mode", "about"]));
    assert_eq!(about["rows"][0]["productName"], "haystack-wire");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_with_json_mode_sends_a_json_envelope_in_a_text_message() {
    use futures_util::{SinkExt, StreamExt};
    use haystack_wire::protocol::handshake::SUBPROTOCOL;
    use haystack_wire::protocol::messages::{request, response};
    use tokio_tungstenite::tungstenite::handshake::server::{
        ErrorResponse, Request as HttpRequest, Response as HttpResponse,
    };
    use tokio_tungstenite::tungstenite::http::header::SEC_WEBSOCKET_PROTOCOL;
    use tokio_tungstenite::tungstenite::http::HeaderValue;
    use tokio_tungstenite::tungstenite::Message;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let url = format!("ws://{}", listener.local_addr().expect("an address"));
    // One connection: the first message is recorded and answered as the reference does.
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.expect("accepts");
        // tungstenite's callback signature.
        #[allow(clippy::result_large_err)]
        fn name_subprotocol(
            _: &HttpRequest,
            mut answer: HttpResponse,
        ) -> Result<HttpResponse, ErrorResponse> {
            answer
                .headers_mut()
                .insert(SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static(SUBPROTOCOL));
            Ok(answer)
        }
        let mut socket = tokio_tungstenite::accept_hdr_async(stream, name_subprotocol)
            .await
            .expect("upgrades");
        let first = socket.next().await.expect("a message").expect("reads");
        let Message::Text(text) = first else {
            return Err(format!("the request came as {first:?}"));
        };
        let envelope: Value = serde_json::from_str(&text).expect("a JSON envelope");
        let mut answer = serde_json::Map::new();
        let rows = json!([{"dis": "from a text message"}]);
        answer.insert(
            response::GRID.to_owned(),
            json!({"_kind": "grid", "meta": {"ver": "3.0"}, "cols": [{"name": "dis"}], "rows": rows}),
        );
        answer.insert(response::ID.to_owned(), envelope[request::ID].clone());
        socket
            .send(Message::text(Value::Object(answer).to_string()))
            .await
            .expect("answers");
        let _ = socket.next().await;
        Ok(envelope)
    });
    let grid_json = read_request("site", 1);
    let call = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_hswire"))
            .args([
                "call",
                "--url",
                &url,
                "--json-mode",
                "--timeout",
                "10",
                "read",
                "--grid",
                &grid_json,
            ])
            .output()
            .expect("hswire call runs")
    });
    let (output, envelope) = tokio::time::timeout(Duration::from_secs(30), async {
        (
            call.await.expect("the call ends"),
            server.await.expect("the server ends"),
        )
    })
    .await
    .expect("done within half a minute");
    let envelope = envelope.expect("the request came as a text message");
    assert_eq!(envelope[request::OP], "read", "{envelope}");
    assert_eq!(envelope[request::GRID]["rows"][0]["filter"], "site", "{envelope}");
    assert!(envelope[request::ID].is_string(), "{envelope}");
    assert_eq!(grid(&output)["rows"][0]["dis"], "from a text message");
}

#[test]
fn a_batch_is_answered_in_order_one_line_per_request_equal_to_single_calls() {
    let serve = Serve::start(&[]);
    let reads = [("point and temp", 3), ("site", 2), ("equip and siteRef==@s-2", 4)];
    let items: Vec<Value> = reads
        .iter()
        .map(|(filter, limit)| json!({"op": "read", "grid": read_grid(filter, *limit)}))
        .chain([json!({"op": "about"})])
        .collect();
    let file = BatchFile::new("in-order", &Value::Array(items).to_string());
    for mode in [&[][..], &["--json-mode"]] {
        let output = serve.call(&[mode, &["--batch", &file.path()]].concat());
        assert!(output.status.success(), "{mode:?}: {output:?}");
        let lines = stdout_lines(&output);
        assert_eq!(lines.len(), 4, "{mode:?}: {lines:?}");
        for (line, (filter, limit)) in lines.iter().zip(reads) {
            let single = grid(&serve.call(&["read", "--grid", &read_request(filter, limit)]));
            let answer: Value = serde_json::from_str(line).expect("a grid line");
            assert_eq!(answer, single, "{mode:?}: {filter}");
            assert_eq!(answer["rows"].as_array().map(Vec::len), Some(limit as usize));
        }
        let about: Value = serde_json::from_str(&lines[3]).expect("a grid line");
        assert_eq!(about["rows"][0]["productName"], "haystack-wire", "{mode:?}");
    }
}

#[test]
fn a_failed_batch_item_prints_its_error_in_its_place_and_the_call_exits_1() {
    let serve = Serve::start(&[]);
    let batch = json!([
        {"op": "read", "grid": read_grid("site", 1)},
        {"op": "nav"},
        {"op": "read", "grid": read_grid("point and (", 1)},
        {"op": "read", "grid": read_grid("site", 2)},
    ]);
    for mode in [&[][..], &["--json-mode"]] {
        let output = call_with_stdin(
            &[&["--url", serve.url.as_str(), "--batch", "-"], mode].concat(),
            batch.to_string().as_bytes(),
        );
        assert_eq!(output.status.code(), Some(1), "{mode:?}: {output:?}");
        let lines = stdout_lines(&output);
        assert_eq!(lines.len(), 4, "{mode:?}: {lines:?}");
        let first: Value = serde_json::from_str(&lines[0]).expect("a grid line");
        assert_eq!(first["rows"].as_array().map(Vec::len), Some(1));
        assert_eq!(lines[1], "error: op `nav` is not supported by this server");
        assert!(
            lines[2].starts_with("error: bad filter `point and (`"),
            "{}",
            lines[2]
        );
        let last: Value = serde_json::from_str(&lines[3]).expect("a grid line");
        assert_eq!(last["rows"].as_array().map(Vec::len), Some(2));
    }
}

/// `hswire call --batch` with `contents` against a port nothing listens on:
/// its exit code and stderr.
fn refused_batch(name: &str, contents: &str) -> (Option<i32>, String, String) {
    let file = BatchFile::new(name, contents);
    let output = Command::new(env!("CARGO_BIN_EXE_hswire"))
        .args(["call", "--url", "ws://127.0.0.1:9", "--batch", &file.path()])
        .output()
        .expect("hswire call runs");
    assert!(output.stdout.is_empty(), "{output:?}");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
        file.path(),
    )
}

#[test]
fn a_bad_batch_file_is_refused_before_connecting_naming_the_file_the_item_and_the_fault() {
    // Nothing listens on port 9: each message is about the file, never the connection.
    let cases = [
        ("not-json", "[{\"op\": ", "not JSON"),
        (
            "not-array",
            "{\"op\": \"about\"}",
            "expected a JSON array of requests, found an object",
        ),
        (
            "not-object",
            "[{\"op\": \"about\"}, 7]",
            "item 1: expected an object with `op` and `grid`, found a number",
        ),
        (
            "no-op",
            "[{\"op\": \"about\"}, {\"op\": \"ops\"}, {\"grid\": null}]",
            "item 2: no `op`",
        ),
        (
            "unknown-op",
            "[{\"op\": \"frobnicate\"}]",
            "item 0: unknown op name `frobnicate`",
        ),
        (
            "op-not-string",
            "[{\"op\": 3}]",
            "item 0: `op` must be a string, found a number",
        ),
        (
            "bad-grid",
            "[{\"op\": \"about\"}, {\"op\": \"read\", \"grid\": {\"rows\": []}}]",
            "item 1: `grid`: $: expected a grid",
        ),
        (
            "unknown-key",
            "[{\"op\": \"about\", \"gird\": {}}]",
            "item 0: unknown key `gird`",
        ),
    ];
    for (name, contents, fault) in cases {
        let (code, stderr, path) = refused_batch(name, contents);
        assert_eq!(code, Some(1), "{name}: {stderr}");
        assert!(
            stderr.starts_with(&format!("hswire: --batch {path}: ")),
            "{name}: {stderr}"
        );
        assert!(stderr.contains(fault), "{name}: {stderr}");
        assert!(!stderr.contains("connect"), "{name}: {stderr}");
    }
    let missing = std::env::temp_dir().join(format!("hswire-batch-{}-missing.json", std::process::id()));
    let output = Command::new(env!("CARGO_BIN_EXE_hswire"))
        .args([
            "call",
            "--url",
            "ws://127.0.0.1:9",
            "--batch",
            &missing.to_string_lossy(),
        ])
        .output()
        .expect("hswire call runs");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&*missing.to_string_lossy()), "{stderr}");
}

#[test]
fn an_over_cap_batch_is_refused_before_connecting_naming_the_count_and_the_cap() {
    use haystack_wire::protocol::messages::batch::MAX_ITEMS;
    let items = vec![json!({"op": "about"}); MAX_ITEMS + 1];
    let (code, stderr, path) = refused_batch("over-cap", &Value::Array(items).to_string());
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(
        stderr,
        format!(
            "hswire: --batch {path}: a batch of {} requests is over the cap of {MAX_ITEMS}\n",
            MAX_ITEMS + 1
        )
    );
}

#[test]
fn a_batch_at_the_cap_is_sent_and_answered_whole() {
    use haystack_wire::protocol::messages::batch::MAX_ITEMS;
    let serve = Serve::start(&[]);
    let items = vec![json!({"op": "read", "grid": read_grid("site", 1)}); MAX_ITEMS];
    let file = BatchFile::new("at-cap", &Value::Array(items).to_string());
    let output = serve.call(&["--batch", &file.path()]);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(stdout_lines(&output).len(), MAX_ITEMS);
}

#[test]
fn a_call_names_an_op_or_a_batch_but_not_both() {
    let output = Command::new(env!("CARGO_BIN_EXE_hswire"))
        .args(["call", "--url", "ws://127.0.0.1:9"])
        .output()
        .expect("hswire call runs");
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let output = Command::new(env!("CARGO_BIN_EXE_hswire"))
        .args(["call", "--url", "ws://127.0.0.1:9", "--batch", "-", "about"])
        .output()
        .expect("hswire call runs");
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("cannot be used with"),
        "{output:?}"
    );
}

#[test]
fn a_batch_from_stdin_needs_the_password_of_user_on_the_command_line() {
    let output = call_with_stdin(
        &["--url", "ws://127.0.0.1:9", "--user", "ops", "--batch", "-"],
        b"[{\"op\": \"about\"}]",
    );
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "hswire: --batch - reads the requests from stdin, so --user needs its --password\n"
    );
}

#[test]
fn a_wrong_token_is_refused_with_the_close_code_and_reason_in_words() {
    let serve = Serve::start(&["--auth-token", "s3cret"]);
    let refused = serve.call(&["--auth-token", "wrong", "about"]);
    assert_eq!(refused.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&refused.stderr),
        "hswire: connection closed: the server closed the connection (1008: authentication failed)\n"
    );
}

#[test]
fn serve_on_an_address_in_use_names_the_address_in_words() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("a port on 127.0.0.1");
    let address = taken.local_addr().expect("its address").to_string();
    let started = Instant::now();
    let mut serve = Command::new(env!("CARGO_BIN_EXE_hswire"))
        .args(["serve", "--listen", &address])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("hswire serve starts");
    let status = loop {
        if let Some(status) = serve.try_wait().expect("hswire serve can be waited for") {
            break status;
        }
        if started.elapsed() > Duration::from_secs(10) {
            let _ = serve.kill();
            let _ = serve.wait();
            panic!("hswire serve still running after 10 s on a taken address");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    serve
        .stderr
        .take()
        .expect("stderr is piped")
        .read_to_string(&mut stderr)
        .expect("stderr is text");
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert_eq!(
        stderr,
        format!("hswire: cannot listen on {address}: Address already in use\n")
    );
}

/// The `curVal` of `id`, read by id.
async fn cur_val(client: &Client, id: &str) -> Value {
    let request = json!({
        "_kind": "grid", "meta": {"ver": "3.0"},
        "cols": [{"name": "id"}],
        "rows": [{"id": {"_kind": "ref", "val": id}}],
    });
    let answer = client
        .call::<Value>(Op::Read, &request)
        .await
        .expect("read is answered");
    answer["rows"][0]["curVal"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_asked_again_sees_the_records_change_once_a_watched_point_moves() {
    let serve = Serve::start(&["--push-interval-ms", "50", "--compression", "zlib"]);
    let run = async {
        let config = ClientConfig::new().compression([haystack_wire::Compression::Zlib]);
        let client = Client::connect(&serve.url, config).await.expect("connects");
        let first = cur_val(&client, "p-1-1-1").await;
        assert_eq!(
            cur_val(&client, "p-1-1-1").await,
            first,
            "nothing watched, nothing moves"
        );
        let mut pushes = client.pushes().expect("pushes");
        client
            .call::<Value>(Op::WatchSub, &watch_sub_request(&["p-1-1-1"], None))
            .await
            .expect("watchSub is answered");
        loop {
            pushes.next().await.expect("a push");
            let now = cur_val(&client, "p-1-1-1").await;
            if now != first {
                // Asked again at once, the same request gets the new value too.
                assert_eq!(cur_val(&client, "p-1-1-1").await, now);
                return;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .expect("the point moves within half a minute");
}

#[test]
fn a_filter_past_the_limits_is_refused_unparsed_and_the_server_goes_on() {
    let serve = Serve::start(&[]);
    let deep = format!("{}point{}", "(".repeat(3_000), ")".repeat(3_000));
    let output = serve.call(&["read", "--grid", &read_request(&deep, 1)]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "filter refused: the filter nests parentheses 51 deep at character 50; at most 50 are accepted\n"
    );
    let long = format!("{}point", "point or ".repeat(2_000));
    let output = serve.call(&["read", "--grid", &read_request(&long, 1)]);
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .starts_with("filter refused: the filter is 10241 characters long"),
        "{output:?}"
    );
    assert!(serve.call(&["about"]).status.success(), "the server goes on");

    // The limits are the server's to set.
    let lenient = Serve::start(&["--max-filter-depth", "60", "--max-filter-length", "20000"]);
    let nested = format!("{}point{}", "(".repeat(55), ")".repeat(55));
    assert_eq!(
        grid(&lenient.call(&["read", "--grid", &read_request(&nested, 2)]))["rows"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    assert!(lenient
        .call(&["read", "--grid", &read_request(&long, 1)])
        .status
        .success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_is_unknown_to_every_connection_but_the_one_that_opened_it() {
    let serve = Serve::start(&[]);
    let run = async {
        let owner = Client::connect(&serve.url, ClientConfig::new())
            .await
            .expect("connects");
        let other = Client::connect(&serve.url, ClientConfig::new())
            .await
            .expect("connects");
        let watch = watch_id(
            &owner
                .call::<Value>(Op::WatchSub, &watch_sub_request(&["p-1-1-1"], None))
                .await
                .expect("watchSub is answered"),
        );
        assert!(watch.starts_with("w-") && watch.len() == 34, "{watch}");
        let dis = remote_dis(
            other
                .call::<Value>(Op::WatchPoll, &watch_poll_request(&watch))
                .await,
        );
        assert_eq!(dis, format!("unknown watch `{watch}`"));
        owner
            .call::<Value>(Op::WatchPoll, &watch_poll_request(&watch))
            .await
            .expect("the owner still polls it");
        owner.close().await;
        other.close().await;
    };
    tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .expect("the test finishes within half a minute");
}

#[test]
fn a_request_over_the_request_limit_is_refused_and_a_limit_too_small_stops_serve() {
    let serve = Serve::start(&["--max-request-bytes", "20000"]);
    let filter = format!("point and dis == \"{}\"", "x".repeat(30_000));
    let output = serve.call(&["read", "--grid", &read_request(&filter, 1)]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(serve.call(&["about"]).status.success(), "the server goes on");

    let output = Command::new(env!("CARGO_BIN_EXE_hswire"))
        .args(["serve", "--listen", "127.0.0.1:0", "--max-request-bytes", "100"])
        .output()
        .expect("hswire serve runs");
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty(), "it never listened");
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "hswire: --max-request-bytes: 100 is too small; a request needs at least 16384 bytes\n"
    );
}
