//! A server for the side-by-side benchmark (`scripts/side-by-side.py`): it
//! answers the loop of haystack-py's WebSocket benchmark, `about` and `read`
//! with a filter, on the records of a site file (the file `hswire serve
//! --site` reads; `hswire bench --write-site FILE` writes the benchmark's
//! 5,000 points), with answers made in one of two ways:
//!
//! - `--mode direct`: the response bytes built directly. The rows' Haystack 4
//!   JSON is taken from the file once, as text; each distinct filter is parsed
//!   and evaluated once (kept in a small bounded cache) to the indices of the
//!   rows it matches; each request then only joins those rows' text into a
//!   fresh buffer. `about` is written per request, with the current
//!   `serverTime`. Compression, chunking and framing are the server's work,
//!   per request.
//! - `--mode echo`: the limit, no work of the handler's: the two answers are
//!   built once at start as [`Payload::shared`], and every request is answered
//!   with a clone of the same payload (every `read`, whatever its filter, gets
//!   the rows of `--filter`), which the server compresses and frames once per
//!   kind of session and then only sends.
//!
//! Other ops get the router's error grid.
//!
//! ```text
//! hswire bench --write-site target/bench-site.json
//! cargo run --release --example limit_server --features tokio,libhaystack -- \
//!     --mode direct --site target/bench-site.json --listen 127.0.0.1:0 --auth-token T
//! hswire bench --url ws://127.0.0.1:PORT --auth-token T --json
//! ```
//!
//! The first line on stdout is `listening on ws://ADDR`, as `hswire serve`
//! prints it. The server runs until it is stopped (SIGTERM or Ctrl-C).

use std::collections::{BTreeSet, HashMap};
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex, PoisonError};

use haystack_wire::connection::{Fault, Payload, Request, Router, Server, ServerConfig};
use haystack_wire::{hayson, Compression, Op};
use libhaystack::defs::namespace::DEFAULT_NS;
use libhaystack::filter::eval::EvalContext;
use libhaystack::filter::path::Path as TagPath;
use libhaystack::filter::{Eval, Filter, PathResolver};
use libhaystack::val::{DateTime, Dict, Ref, Value};
use serde_json::value::RawValue;

/// The largest site file read, in bytes (as `hswire serve --site`).
const MAX_SITE_FILE_BYTES: u64 = 32 * 1024 * 1024;

/// Distinct filters whose matching rows are kept; past it, one is forgotten.
const CACHED_FILTERS: usize = 64;

/// The filter of the benchmark's read: the rows `--mode echo` answers with.
const BENCHMARK_FILTER: &str = "point and sensor";

/// The start of every answer: a Haystack 4 JSON grid with the meta `ver` "3.0".
const GRID_START: &str = r#"{"_kind":"grid","meta":{"ver":"3.0"},"cols":["#;

/// How the answers are made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Built per request from the rows' text.
    Direct,
    /// Built once, the same bytes for every request.
    Echo,
}

/// What the command line asks for.
#[derive(Debug)]
struct Options {
    mode: Mode,
    listen: String,
    site: PathBuf,
    compression: Option<Compression>,
    chunked: bool,
    auth_token: Option<String>,
    filter: String,
}

/// The command line, for errors and `--help`.
const USAGE: &str = "usage: limit_server --mode direct|echo --site FILE [--listen ADDR] \
[--compression zlib|lzma] [--chunked] [--auth-token T] [--filter TEXT]";

/// Reads the command line; a wrong one is described in words.
fn options(mut args: impl Iterator<Item = String>) -> Result<Options, String> {
    let (mut mode, mut site) = (None, None);
    let mut options = Options {
        mode: Mode::Direct,
        listen: "127.0.0.1:0".to_owned(),
        site: PathBuf::new(),
        compression: None,
        chunked: false,
        auth_token: None,
        filter: BENCHMARK_FILTER.to_owned(),
    };
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--mode" => {
                mode = Some(match value()?.as_str() {
                    "direct" => Mode::Direct,
                    "echo" => Mode::Echo,
                    other => return Err(format!("--mode: `{other}` is neither direct nor echo")),
                })
            }
            "--listen" => options.listen = value()?,
            "--site" => site = Some(PathBuf::from(value()?)),
            "--compression" => {
                let name = value()?;
                options.compression = Some(
                    Compression::from_name(&name)
                        .ok_or_else(|| format!("--compression: `{name}` is neither zlib nor lzma"))?,
                );
            }
            "--chunked" => options.chunked = true,
            "--auth-token" => options.auth_token = Some(value()?),
            "--filter" => options.filter = value()?,
            "--help" | "-h" => return Err(USAGE.to_owned()),
            other => return Err(format!("unknown argument `{other}`\n{USAGE}")),
        }
    }
    options.mode = mode.ok_or_else(|| format!("give --mode direct or --mode echo\n{USAGE}"))?;
    options.site = site.ok_or_else(|| format!("give --site FILE\n{USAGE}"))?;
    Ok(options)
}

/// The records of a site file: each row's JSON text as written, and the row as a dict
/// for the filters.
struct Site {
    /// Each row's Haystack 4 JSON, as the file has it.
    rows: Vec<Box<RawValue>>,
    /// The same rows, decoded.
    records: Vec<Dict>,
    /// Row position by its `id` (without the `@`).
    index: HashMap<String, usize>,
    /// When the server started, for `about`.
    boot_time: DateTime,
}

impl Site {
    /// Reads the site file at `path`, naming it in any error.
    fn load(path: &Path) -> Result<Site, String> {
        let shown = path.display();
        let file = File::open(path).map_err(|error| format!("cannot read site file {shown}: {error}"))?;
        let mut bytes = Vec::new();
        file.take(MAX_SITE_FILE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|error| format!("cannot read site file {shown}: {error}"))?;
        if bytes.len() as u64 > MAX_SITE_FILE_BYTES {
            return Err(format!(
                "site file {shown} is larger than {MAX_SITE_FILE_BYTES} bytes"
            ));
        }
        let top: HashMap<String, &RawValue> = serde_json::from_slice(&bytes)
            .map_err(|error| format!("site file {shown} is not a JSON object: {error}"))?;
        let rows_text = top
            .get("rows")
            .ok_or_else(|| format!("site file {shown} has no `rows`"))?;
        let rows: Vec<Box<RawValue>> = serde_json::from_str(rows_text.get())
            .map_err(|error| format!("site file {shown}: `rows` is not an array: {error}"))?;
        let grid = hayson::decode_grid(&bytes)
            .map_err(|error| format!("site file {shown} is not a Haystack 4 JSON grid: {error}"))?;
        if grid.rows.len() != rows.len() {
            return Err(format!(
                "site file {shown}: {} rows read as text, {} as records",
                rows.len(),
                grid.rows.len()
            ));
        }
        let mut index = HashMap::with_capacity(grid.rows.len());
        for (position, record) in grid.rows.iter().enumerate() {
            if let Some(Value::Ref(id)) = record.get("id") {
                index.insert(id.value().to_string(), position);
            }
        }
        Ok(Site {
            rows,
            records: grid.rows,
            index,
            boot_time: DateTime::utc_now(),
        })
    }

    /// The rows `filter` matches, as the start of their grid (up to the rows'
    /// opening bracket) and their positions.
    fn matching(&self, filter: &Filter) -> Matched {
        let resolver = Resolver { site: self };
        let rows: Vec<usize> = self
            .records
            .iter()
            .enumerate()
            .filter(|(_, record)| filter.eval(&EvalContext::make(record, &DEFAULT_NS, &resolver)))
            .map(|(position, _)| position)
            .collect();
        // Columns as `hswire serve` orders them: id, dis, then the other tags by name.
        let mut names: BTreeSet<&str> = BTreeSet::new();
        for &position in &rows {
            names.extend(self.records[position].keys().map(String::as_str));
        }
        let first = ["id", "dis"].into_iter().filter(|name| names.contains(name));
        let rest = names
            .iter()
            .copied()
            .filter(|name| !matches!(*name, "id" | "dis"));
        let head = grid_head(first.chain(rest));
        let size = head.len()
            + rows
                .iter()
                .map(|&row| self.rows[row].get().len() + 1)
                .sum::<usize>()
            + 2;
        Matched { head, rows, size }
    }

    /// The answer of `matched`: its rows' text joined into one new buffer.
    fn join(&self, matched: &Matched, limit: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(matched.size);
        out.extend_from_slice(matched.head.as_bytes());
        for (n, &row) in matched.rows.iter().take(limit).enumerate() {
            if n > 0 {
                out.push(b',');
            }
            out.extend_from_slice(self.rows[row].get().as_bytes());
        }
        out.extend_from_slice(b"]}");
        out
    }

    /// The `about` grid, with the current `serverTime`.
    fn about(&self, mode: Mode) -> Vec<u8> {
        let time = |value: DateTime| hayson::to_value(&Value::from(value)).to_string();
        let server_name = match mode {
            Mode::Direct => "limit_server (direct)",
            Mode::Echo => "limit_server (echo)",
        };
        let row = serde_json::json!({
            "haystackVersion": "4.0",
            "serverName": server_name,
            "productName": "haystack-wire",
            "productVersion": env!("CARGO_PKG_VERSION"),
            "vendorName": "haystack-wire",
            "tz": "UTC",
        });
        let mut out = grid_head(
            [
                "haystackVersion",
                "serverName",
                "serverTime",
                "serverBootTime",
                "productName",
                "productVersion",
                "vendorName",
                "tz",
            ]
            .into_iter(),
        )
        .into_bytes();
        // The fixed tags, then the two times, in one row object.
        let fixed = row.to_string();
        out.extend_from_slice(&fixed.as_bytes()[..fixed.len() - 1]);
        write!(
            out,
            r#","serverTime":{},"serverBootTime":{}}}]}}"#,
            time(DateTime::utc_now()),
            time(self.boot_time)
        )
        .unwrap_or_default();
        out
    }
}

/// `{"_kind":"grid","meta":{"ver":"3.0"},"cols":[...],"rows":[` with these column names.
fn grid_head<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let mut head = String::from(GRID_START);
    for (n, name) in names.enumerate() {
        if n > 0 {
            head.push(',');
        }
        head.push_str(r#"{"name":"#);
        head.push_str(&serde_json::Value::from(name).to_string());
        head.push('}');
    }
    head.push_str(r#"],"rows":["#);
    head
}

/// The rows a filter matched.
struct Matched {
    /// The grid's text up to its first row.
    head: String,
    /// The matching rows' positions.
    rows: Vec<usize>,
    /// The length of the whole answer.
    size: usize,
}

/// Follows ref paths (`equipRef->siteRef->dis`) from record to record.
struct Resolver<'a> {
    site: &'a Site,
}

impl Resolver<'_> {
    /// The record with this id (without the `@`).
    fn lookup(&self, id: &str) -> Option<&Dict> {
        self.site.records.get(*self.site.index.get(id)?)
    }
}

impl PathResolver for Resolver<'_> {
    fn resolve_for(&self, root: &Dict, path: &TagPath) -> Value {
        let mut current = root;
        let last = path.len().saturating_sub(1);
        for (n, segment) in path.iter().enumerate() {
            let Some(value) = current.get(&segment.to_string()) else {
                return Value::Null;
            };
            if n == last {
                return value.clone();
            }
            current = match value {
                Value::Ref(next) => match self.lookup(next.value()) {
                    Some(record) => record,
                    None => return Value::Null,
                },
                Value::Dict(inner) => inner,
                _ => return Value::Null,
            };
        }
        Value::Null
    }

    fn resolve(&self, _path: &TagPath) -> Value {
        Value::Null
    }

    fn resolve_ref(&self, reference: &Ref) -> Option<Dict> {
        self.lookup(reference.value()).cloned()
    }
}

/// The filter and limit of a read request (`limit`: all rows when absent).
fn read_request(payload: &[u8]) -> Result<(String, usize), Fault> {
    let grid: serde_json::Value = serde_json::from_slice(payload)
        .map_err(|error| Fault::new(format!("the read request is not JSON: {error}")))?;
    let row = &grid["rows"][0];
    let filter = row["filter"]
        .as_str()
        .ok_or_else(|| Fault::new("this server answers reads by filter only: the request has no `filter`"))?;
    let limit = match &row["limit"] {
        serde_json::Value::Null => usize::MAX,
        serde_json::Value::Number(number) => number.as_f64().map_or(usize::MAX, |n| n.max(0.0) as usize),
        other => match other["val"].as_f64() {
            Some(n) => n.max(0.0) as usize,
            None => return Err(Fault::new(format!("the read's limit {other} is not a number"))),
        },
    };
    Ok((filter.to_owned(), limit))
}

/// Each distinct filter's matching rows, for `--mode direct`.
struct Filters {
    site: Arc<Site>,
    cache: Mutex<HashMap<String, Arc<Matched>>>,
}

impl Filters {
    /// The rows `text` matches: from the cache, or parsed and evaluated once.
    fn matched(&self, text: &str) -> Result<Arc<Matched>, Fault> {
        if let Some(matched) = self.lock().get(text) {
            return Ok(Arc::clone(matched));
        }
        let filter = Filter::try_from(text)
            .map_err(|error| Fault::new(format!("the filter `{text}` is not valid: {error}")))?;
        let matched = Arc::new(self.site.matching(&filter));
        let mut cache = self.lock();
        if cache.len() >= CACHED_FILTERS {
            if let Some(old) = cache.keys().next().cloned() {
                cache.remove(&old);
            }
        }
        cache.insert(text.to_owned(), Arc::clone(&matched));
        Ok(matched)
    }

    /// The cache; a panic elsewhere cannot leave an insert or a remove half done.
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Matched>>> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The handlers of `about` and `read` in the mode of `options`.
fn routes(site: Arc<Site>, options: &Options) -> Result<Router, String> {
    match options.mode {
        Mode::Direct => {
            let filters = Arc::new(Filters {
                site: Arc::clone(&site),
                cache: Mutex::new(HashMap::new()),
            });
            Ok(Router::new()
                .route(Op::About, move |_: Request| {
                    let answer = site.about(Mode::Direct);
                    async move { Ok(answer) }
                })
                .route(Op::Read, move |request: Request| {
                    let filters = Arc::clone(&filters);
                    async move {
                        let (filter, limit) = read_request(&request.payload)?;
                        let matched = filters.matched(&filter)?;
                        Ok(filters.site.join(&matched, limit))
                    }
                }))
        }
        Mode::Echo => {
            let filter = Filter::try_from(options.filter.as_str())
                .map_err(|error| format!("--filter `{}` is not valid: {error}", options.filter))?;
            let read = Payload::shared(site.join(&site.matching(&filter), usize::MAX));
            let about = Payload::shared(site.about(Mode::Echo));
            Ok(Router::new()
                .route(Op::About, move |_: Request| {
                    let answer = about.clone();
                    async move { Ok(answer) }
                })
                .route(Op::Read, move |_: Request| {
                    let answer = read.clone();
                    async move { Ok(answer) }
                }))
        }
    }
}

/// Loads the site, listens, prints the address and serves until stopped.
async fn serve(options: Options) -> Result<(), String> {
    let site = Arc::new(Site::load(&options.site)?);
    let router = routes(site, &options)?;
    let mut config = ServerConfig::new()
        .compression(options.compression)
        .chunked(options.chunked);
    if let Some(token) = &options.auth_token {
        config = config.auth_token(token.clone());
    }
    let server = Server::bind(&options.listen, config, router)
        .await
        .map_err(|error| format!("cannot listen on {}: {error}", options.listen))?;
    let address = server
        .local_addr()
        .map_err(|error| format!("cannot tell the address listened on: {error}"))?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "listening on ws://{address}")
        .and_then(|()| stdout.flush())
        .map_err(|error| format!("cannot write to stdout: {error}"))?;
    drop(stdout);
    server
        .run()
        .await
        .map_err(|error| format!("the server stopped: {error}"))
}

/// Reads the command line and serves; errors end the process with a message.
fn main() -> ExitCode {
    let options = match options(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(words) => {
            eprintln!("limit_server: {words}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("limit_server: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(options)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(words) => {
            eprintln!("limit_server: {words}");
            ExitCode::FAILURE
        }
    }
}
