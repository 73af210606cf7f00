//! `hswire serve --site FILE`: a Haystack 4 JSON grid of records served in place of the
//! bundled sample site, and a bad site file refused in words that name it. Each test
//! writes its own site file to a temporary folder.

use std::ffi::OsStr;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use haystack_wire::connection::{Client, ClientConfig};
use haystack_wire::Op;
use serde_json::{json, Value};

mod support;

use support::Serve;

/// A temporary folder, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let path = std::env::temp_dir().join(format!("hswire-site-file-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create a temporary folder");
        TempDir(path)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).expect("write a site file");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn marker() -> Value {
    json!({"_kind": "marker"})
}

fn reference(id: &str) -> Value {
    json!({"_kind": "ref", "val": id})
}

/// A small building: a site, an equip, three Number points (two sensors) and a Bool one.
fn building() -> Value {
    let rows = json!([
        {"id": reference("t-site"), "dis": "Test Site", "site": marker(), "geoCity": "Hugo", "tz": "Denver"},
        {"id": reference("t-ahu"), "dis": "Test AHU", "equip": marker(), "ahu": marker(), "siteRef": reference("t-site")},
        {"id": reference("t-dat"), "dis": "Discharge Air Temp", "point": marker(), "sensor": marker(), "his": marker(),
         "kind": "Number", "unit": "°F", "equipRef": reference("t-ahu"), "siteRef": reference("t-site"),
         "curVal": {"_kind": "number", "val": 55, "unit": "°F"}},
        {"id": reference("t-valve"), "dis": "Cooling Valve", "point": marker(), "sensor": marker(), "his": marker(),
         "kind": "Number", "unit": "%", "equipRef": reference("t-ahu"), "siteRef": reference("t-site")},
        {"id": reference("t-sp"), "dis": "Discharge Air Temp Sp", "point": marker(), "sp": marker(),
         "kind": "Number", "unit": "°F", "equipRef": reference("t-ahu"), "siteRef": reference("t-site")},
        {"id": reference("t-fan"), "dis": "Fan Status", "point": marker(), "sensor": marker(), "kind": "Bool",
         "equipRef": reference("t-ahu"), "siteRef": reference("t-site")},
    ]);
    json!({
        "_kind": "grid",
        "meta": {"ver": "3.0", "doc": "a test building"},
        "cols": [{"name": "id"}, {"name": "dis"}],
        "rows": rows,
    })
}

/// `hswire serve --site SITE` with `flags`.
fn serve(site: &Path, flags: &[&str]) -> Serve {
    let args = [OsStr::new("--site"), site.as_os_str()];
    Serve::start_with(args.into_iter().chain(flags.iter().map(OsStr::new)))
}

impl Serve {
    /// The answer grid of `op` with `request`, which must succeed.
    fn answer(&self, op: &str, request: &Value) -> Value {
        let output = self.call(&[op, "--grid", &request.to_string()]);
        assert!(output.status.success(), "{op}: {output:?}");
        serde_json::from_slice(&output.stdout).expect("stdout is one JSON grid")
    }

    /// The `dis` of the error `op` with `request` is answered with.
    fn refusal(&self, op: &str, request: &Value) -> String {
        let output = self.call(&[op, "--grid", &request.to_string()]);
        assert_eq!(output.status.code(), Some(1), "{op}: {output:?}");
        String::from_utf8_lossy(&output.stderr).trim_end().to_owned()
    }
}

fn filter_request(filter: &str) -> Value {
    json!({"_kind": "grid", "meta": {"ver": "3.0"}, "cols": [{"name": "filter"}], "rows": [{"filter": filter}]})
}

fn id_request(ids: &[&str]) -> Value {
    let rows: Vec<Value> = ids.iter().map(|id| json!({"id": reference(id)})).collect();
    json!({"_kind": "grid", "meta": {"ver": "3.0"}, "cols": [{"name": "id"}], "rows": rows})
}

fn his_request(id: &str, range: &str) -> Value {
    json!({
        "_kind": "grid", "meta": {"ver": "3.0"},
        "cols": [{"name": "id"}, {"name": "range"}],
        "rows": [{"id": reference(id), "range": range}],
    })
}

/// The ids of a grid's rows, "" for a row without one.
fn ids(grid: &Value) -> Vec<String> {
    grid["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|row| row["id"]["val"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn a_site_file_answers_about_ops_formats_and_read_by_filter_and_by_id() {
    let dir = TempDir::new("answers");
    let site = dir.write("building.json", &building().to_string());
    let serve = serve(&site, &[]);
    let empty = json!({"_kind": "grid", "meta": {"ver": "3.0"}, "cols": [{"name": "empty"}], "rows": []});

    let about = serve.answer("about", &empty);
    assert_eq!(about["rows"][0]["serverName"], "hswire site file building.json");
    assert_eq!(about["rows"][0]["productName"], "haystack-wire");
    let ops = serve.answer("ops", &empty);
    let names: Vec<&str> = ops["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .filter_map(|row| row["name"].as_str())
        .collect();
    assert_eq!(
        names,
        [
            "about",
            "ops",
            "formats",
            "read",
            "hisRead",
            "watchSub",
            "watchUnsub",
            "watchPoll"
        ]
    );
    let formats = serve.answer("formats", &empty);
    assert_eq!(formats["rows"][0]["mime"], "application/json");

    let sensors = serve.answer("read", &filter_request("point and sensor"));
    assert_eq!(ids(&sensors), ["t-dat", "t-valve", "t-fan"]);
    // The file's tags come back as written.
    assert_eq!(sensors["rows"][0]["curVal"]["val"], 55.0);
    assert_eq!(sensors["rows"][0]["dis"], "Discharge Air Temp");
    let in_hugo = serve.answer(
        "read",
        &filter_request("point and equipRef->siteRef->geoCity==\"Hugo\""),
    );
    assert_eq!(ids(&in_hugo), ["t-dat", "t-valve", "t-sp", "t-fan"]);

    let by_id = serve.answer("read", &id_request(&["t-sp", "nowhere", "t-site"]));
    assert_eq!(ids(&by_id), ["t-sp", "", "t-site"]);
}

#[test]
fn his_read_simulates_a_number_point_and_refuses_other_records_in_words() {
    let dir = TempDir::new("history");
    let site = dir.write("building.json", &building().to_string());
    let serve = serve(&site, &[]);

    let history = serve.answer("hisRead", &his_request("t-valve", "2026-10-01"));
    assert_eq!(history["meta"]["id"]["val"], "t-valve");
    let rows = history["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 288);
    assert_eq!(rows[0]["ts"]["val"], "2026-10-01T00:00:00Z");
    for row in rows {
        let value = &row["val"];
        if value["val"] == "NaN" {
            continue;
        }
        assert_eq!(value["unit"], "%", "{row}");
        let value = value["val"].as_f64().expect("a number");
        assert!((0.0..=100.0).contains(&value), "{row}");
    }
    // The same file gives the same history on every request.
    assert_eq!(
        serve.answer("hisRead", &his_request("t-valve", "2026-10-01")),
        history
    );

    assert_eq!(
        serve.refusal("hisRead", &his_request("t-fan", "today")),
        "hisRead: @t-fan is a Bool point; only Number points have a simulated history"
    );
    assert_eq!(
        serve.refusal("hisRead", &his_request("t-ahu", "today")),
        "hisRead: @t-ahu is not a point of this site"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_on_a_site_file_point_sees_its_simulated_value_change() {
    let dir = TempDir::new("watch");
    let site = dir.write("building.json", &building().to_string());
    let serve = serve(&site, &["--push-interval-ms", "20"]);
    let run = async {
        let client = Client::connect(&serve.url, ClientConfig::new())
            .await
            .expect("connects");
        let sub = json!({
            "_kind": "grid", "meta": {"ver": "3.0", "watchDis": "test"},
            "cols": [{"name": "id"}], "rows": [{"id": reference("t-dat")}, {"id": reference("t-fan")}],
        });
        let answer = client
            .call::<Value>(Op::WatchSub, &sub)
            .await
            .expect("watchSub is answered");
        assert_eq!(ids(&answer), ["t-dat", "t-fan"]);
        let watch = answer["meta"]["watchId"].as_str().expect("a watchId").to_owned();
        let poll = json!({
            "_kind": "grid", "meta": {"ver": "3.0", "watchId": watch},
            "cols": [{"name": "empty"}], "rows": [],
        });
        // Ticks every 20 ms move the Number point on; the Bool point never changes.
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let changed = client
                .call::<Value>(Op::WatchPoll, &poll)
                .await
                .expect("watchPoll is answered");
            if changed["rows"].as_array().is_some_and(|rows| !rows.is_empty()) {
                assert_eq!(ids(&changed), ["t-dat"]);
                assert!(changed["rows"][0]["curVal"]["val"].is_number(), "{changed}");
                break;
            }
        }
        client.close().await;
    };
    tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .expect("a change shows within half a minute");
}

/// Runs `hswire serve --site FILE`, which must refuse the file and exit by itself within
/// ten seconds (it is killed then, and the test fails).
fn refused(site: &Path) -> (Option<i32>, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hswire"))
        .args(["serve", "--listen", "127.0.0.1:0", "--site"])
        .arg(site)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("hswire serve starts");
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for hswire serve") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("hswire serve --site {} kept running", site.display());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stdout = String::new();
    let mut stderr = String::new();
    child
        .stdout
        .take()
        .expect("piped")
        .read_to_string(&mut stdout)
        .expect("stdout");
    child
        .stderr
        .take()
        .expect("piped")
        .read_to_string(&mut stderr)
        .expect("stderr");
    (status.code(), stdout, stderr)
}

/// Checks that serving `site` fails with exit code 1, nothing on stdout and `expected` on
/// stderr, after `hswire: `.
fn assert_refused(site: &Path, expected: &str) {
    let (code, stdout, stderr) = refused(site);
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(stdout, "", "nothing listens");
    assert_eq!(stderr, format!("hswire: {expected}\n"));
}

#[test]
fn a_missing_site_file_is_refused_naming_it() {
    let dir = TempDir::new("missing");
    let site = dir.0.join("nowhere.json");
    assert_refused(
        &site,
        &format!(
            "cannot read site file {}: No such file or directory",
            site.display()
        ),
    );
}

#[test]
fn a_site_file_that_is_not_json_is_refused_with_its_line_and_column() {
    let dir = TempDir::new("not-json");
    let site = dir.write("broken.json", "{\"_kind\": \"grid\",\n  \"rows\": [oops]}\n");
    assert_refused(
        &site,
        &format!(
            "site file {} is not valid JSON: expected value at line 2, column 12",
            site.display()
        ),
    );
}

#[test]
fn a_site_file_that_is_not_a_grid_is_refused_naming_it() {
    let dir = TempDir::new("not-a-grid");
    let site = dir.write("list.json", "[1, 2, 3]");
    assert_refused(
        &site,
        &format!(
            "site file {} is not a Haystack 4 JSON grid: $: expected a grid (an object with \"_kind\":\"grid\"), found an array of 3 items",
            site.display()
        ),
    );
}

#[test]
fn a_site_file_row_without_an_id_or_with_a_string_id_is_refused_naming_the_row() {
    let dir = TempDir::new("no-id");
    let mut grid = building();
    grid["rows"][2].as_object_mut().expect("a row").remove("id");
    let site = dir.write("no-id.json", &grid.to_string());
    assert_refused(
        &site,
        &format!(
            "site file {}: $.rows[2] has no `id`; every record needs one",
            site.display()
        ),
    );

    let mut grid = building();
    grid["rows"][1]["id"] = json!("t-ahu");
    let site = dir.write("string-id.json", &grid.to_string());
    assert_refused(
        &site,
        &format!(
            "site file {}: $.rows[1].id must be a ref, not the string \"t-ahu\"",
            site.display()
        ),
    );
}

#[test]
fn a_site_file_with_a_duplicate_id_is_refused_naming_both_rows() {
    let dir = TempDir::new("duplicate");
    let mut grid = building();
    grid["rows"][4]["id"] = reference("t-dat");
    let site = dir.write("duplicate.json", &grid.to_string());
    assert_refused(
        &site,
        &format!(
            "site file {}: $.rows[2] and $.rows[4] both have the id @t-dat",
            site.display()
        ),
    );
}

#[test]
fn a_site_file_over_the_size_limit_is_refused_before_it_is_read() {
    let dir = TempDir::new("too-large");
    let site = dir.0.join("huge.json");
    // A sparse file: its size is what is checked, and no byte of it is read.
    let file = std::fs::File::create(&site).expect("create the file");
    file.set_len(32 * 1024 * 1024 + 1).expect("size the file");
    drop(file);
    assert_refused(
        &site,
        &format!(
            "site file {} is 33554433 bytes; at most 33554432 are read",
            site.display()
        ),
    );
}
