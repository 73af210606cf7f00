//! The loop of requests each connection of `hswire bench` sends, built and
//! checked before anything connects.

use std::io::Read;
use std::path::Path;

use haystack_wire::connection::requests::{self, Request};
use haystack_wire::{hayson, Op};
use libhaystack::val::Grid;
use serde_json::Value;

use super::Args;
use crate::batch_file::{item_of, json_type};
use crate::output::io_words;

/// The filter of the default loop's read: the reference benchmark's.
pub const DEFAULT_FILTER: &str = "point and sensor";

/// The largest request file read, in bytes.
const MAX_REQUEST_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// The most requests one loop holds.
const MAX_LOOP: usize = 10_000;

/// One request of the loop: its op and its payload, encoded once.
#[derive(Debug)]
pub struct Planned {
    /// The request's op.
    pub op: Op,
    /// Its grid as Haystack 4 JSON.
    pub payload: Vec<u8>,
}

impl From<Request> for Planned {
    fn from(request: Request) -> Planned {
        Planned {
            op: request.op(),
            payload: request.encode(),
        }
    }
}

/// The loop the arguments ask for.
pub fn of(args: &Args) -> Result<Vec<Planned>, String> {
    if !args.request.is_empty() {
        let mut planned = Vec::new();
        for path in &args.request {
            planned.extend(from_file(path)?);
            if planned.len() > MAX_LOOP {
                return Err(format!("--request: more than {MAX_LOOP} requests in one loop"));
            }
        }
        return Ok(planned);
    }
    let filter = args.filter.as_deref().unwrap_or(DEFAULT_FILTER);
    let Some(op) = args.op else {
        return Ok(vec![
            requests::about().into(),
            requests::read(filter, None).into(),
        ]);
    };
    if let Some(json) = &args.grid {
        let grid = hayson::decode_grid(json.as_bytes()).map_err(|error| format!("--grid: {error}"))?;
        return Ok(vec![Request::new(op, &grid).into()]);
    }
    if op == Op::Read {
        return Ok(vec![requests::read(filter, None).into()]);
    }
    if args.filter.is_some() {
        return Err(format!(
            "--filter goes with the read op, not {}; give --grid for other ops",
            op.name()
        ));
    }
    Ok(vec![Request::new(op, &Grid::make_empty()).into()])
}

/// The requests of one `--request` file: one `{"op", "grid"}` object, or an array of them.
fn from_file(path: &Path) -> Result<Vec<Planned>, String> {
    let name = path.display();
    let mut text = Vec::new();
    std::fs::File::open(path)
        .and_then(|file| file.take(MAX_REQUEST_FILE_BYTES + 1).read_to_end(&mut text))
        .map_err(|error| format!("--request {name}: cannot read it: {}", io_words(&error)))?;
    if text.len() as u64 > MAX_REQUEST_FILE_BYTES {
        return Err(format!(
            "--request {name}: larger than {MAX_REQUEST_FILE_BYTES} bytes, the most read"
        ));
    }
    let value: Value =
        serde_json::from_slice(&text).map_err(|error| format!("--request {name}: not JSON: {error}"))?;
    let items = match value {
        Value::Array(items) => items,
        Value::Object(_) => vec![value],
        other => {
            return Err(format!(
                "--request {name}: expected a request object or an array of them, found {}",
                json_type(&other)
            ))
        }
    };
    if items.is_empty() {
        return Err(format!("--request {name}: no requests in it"));
    }
    items
        .into_iter()
        .enumerate()
        .map(|(index, item)| {
            item_of(item)
                .map(|item| Planned {
                    op: item.op,
                    payload: item.payload,
                })
                .map_err(|problem| format!("--request {name}: item {index}: {problem}"))
        })
        .collect()
}
