//! The batch file of `hswire call --batch`: a JSON array of `{"op", "grid"}`
//! objects, read and checked whole before anything is sent.

use std::io::Read;

use haystack_wire::protocol::messages::{batch, request};
use haystack_wire::{hayson, Op};
use serde_json::Value;

/// What starts the line of a batch item that failed, in place of its grid.
pub const ERROR_PREFIX: &str = "error: ";

/// One request of a batch file, checked.
#[derive(Debug)]
pub struct BatchItem {
    /// The item's op.
    pub op: Op,
    /// The item's grid as Haystack 4 JSON, or empty for none.
    pub payload: Vec<u8>,
}

/// What is wrong with a batch file; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum BatchFileError {
    /// The file could not be read.
    #[error("--batch {file}: cannot read it: {}", crate::output::io_words(.source))]
    Read {
        /// The file, as given.
        file: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not JSON.
    #[error("--batch {file}: not JSON: {source}")]
    NotJson {
        /// The file, as given.
        file: String,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// The file's JSON is not an array.
    #[error("--batch {file}: expected a JSON array of requests, found {found}")]
    NotArray {
        /// The file, as given.
        file: String,
        /// The JSON type found instead.
        found: &'static str,
    },
    /// The batch holds more requests than one batch may.
    #[error("--batch {file}: a batch of {count} requests is over the cap of {max}")]
    OverCap {
        /// The file, as given.
        file: String,
        /// How many requests it holds.
        count: usize,
        /// The most one batch may hold.
        max: usize,
    },
    /// One item is not a request.
    #[error("--batch {file}: item {index}: {problem}")]
    Item {
        /// The file, as given.
        file: String,
        /// The item's position in the array, from 0.
        index: usize,
        /// What is wrong with it.
        problem: String,
    },
}

/// Reads and checks the batch file `file` (`-`: stdin).
pub fn read(file: &str) -> Result<Vec<BatchItem>, BatchFileError> {
    let mut text = Vec::new();
    let read = if file == "-" {
        std::io::stdin().lock().read_to_end(&mut text)
    } else {
        std::fs::File::open(file).and_then(|mut opened| opened.read_to_end(&mut text))
    };
    read.map_err(|source| BatchFileError::Read {
        file: file.to_owned(),
        source,
    })?;
    parse(file, &text)
}

/// Checks the batch `text` read from `file`.
pub fn parse(file: &str, text: &[u8]) -> Result<Vec<BatchItem>, BatchFileError> {
    let value: Value = serde_json::from_slice(text).map_err(|source| BatchFileError::NotJson {
        file: file.to_owned(),
        source,
    })?;
    let Value::Array(items) = value else {
        return Err(BatchFileError::NotArray {
            file: file.to_owned(),
            found: json_type(&value),
        });
    };
    if items.len() > batch::MAX_ITEMS {
        return Err(BatchFileError::OverCap {
            file: file.to_owned(),
            count: items.len(),
            max: batch::MAX_ITEMS,
        });
    }
    items
        .into_iter()
        .enumerate()
        .map(|(index, item)| {
            item_of(item).map_err(|problem| BatchFileError::Item {
                file: file.to_owned(),
                index,
                problem,
            })
        })
        .collect()
}

/// One item as a request, or what is wrong with it.
pub fn item_of(item: Value) -> Result<BatchItem, String> {
    let Value::Object(mut fields) = item else {
        return Err(format!(
            "expected an object with `{}` and `{}`, found {}",
            request::OP,
            request::GRID,
            json_type(&item)
        ));
    };
    let op = match fields.remove(request::OP) {
        Some(Value::String(name)) => name.parse::<Op>().map_err(|error| error.to_string())?,
        Some(other) => {
            return Err(format!(
                "`{}` must be a string, found {}",
                request::OP,
                json_type(&other)
            ))
        }
        None => return Err(format!("no `{}`", request::OP)),
    };
    let payload = match fields.remove(request::GRID) {
        Some(grid) => {
            let grid = hayson::decode_grid(grid.to_string().as_bytes())
                .map_err(|error| format!("`{}`: {error}", request::GRID))?;
            hayson::encode_grid(&grid)
        }
        None => Vec::new(),
    };
    if let Some(unknown) = fields.keys().next() {
        return Err(format!(
            "unknown key `{unknown}` (an item has `{}` and `{}`)",
            request::OP,
            request::GRID
        ));
    }
    Ok(BatchItem { op, payload })
}

/// The name of a JSON value's type, for messages.
pub fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
