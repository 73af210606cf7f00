//! Site files: a Haystack 4 JSON grid of records (such as the Alpha and Bravo building
//! models haystack-py benchmarks with), read and checked for `hswire serve --site`.
//!
//! Every row is a record and needs a unique ref `id`; the records are served as they are
//! written. Records with the `point` marker and `kind` `"Number"` get a simulated value
//! model, as the sample's points do: a daily swing around their numeric `curVal` (50
//! without one), kept within 0..100 when their `unit` is `%`, with the same 5-minute
//! history, NaN samples and simulated changes for watches. Those values are made up; the
//! file's own tags are not. Other points have no history, and their records do not change.

use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::path::Path;

use haystack_wire::hayson;
use libhaystack::val::{Dict, HaystackDict, Value};

use super::error::describe;
use super::records::{mix, Built, PointModel};
use crate::output::io_words;

/// The largest site file read, in bytes: 32 MiB, some thirty times the Alpha model.
pub const MAX_SITE_FILE_BYTES: u64 = 32 * 1024 * 1024;

/// The level of a simulated point without a numeric `curVal`.
const DEFAULT_LEVEL: f64 = 50.0;

/// Why a site file cannot be served; each message names the file.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum SiteFileError {
    /// The file cannot be opened or read.
    #[error("cannot read site file {path}: {reason}")]
    Read { path: String, reason: String },
    /// The file is larger than [`MAX_SITE_FILE_BYTES`].
    #[error("site file {path} is {size} bytes; at most {max} are read")]
    TooLarge { path: String, size: u64, max: u64 },
    /// The file is not JSON.
    #[error("site file {path} is not valid JSON: {message} at line {line}, column {column}")]
    Json {
        path: String,
        message: String,
        line: usize,
        column: usize,
    },
    /// The file is JSON but not a Haystack 4 JSON grid.
    #[error("site file {path} is not a Haystack 4 JSON grid: {reason}")]
    NotAGrid { path: String, reason: String },
    /// A row has no `id`.
    #[error("site file {path}: $.rows[{row}] has no `id`; every record needs one")]
    MissingId { path: String, row: usize },
    /// A row's `id` is not a ref.
    #[error("site file {path}: $.rows[{row}].id must be a ref, not {found}")]
    IdNotARef { path: String, row: usize, found: String },
    /// Two rows have the same `id`.
    #[error("site file {path}: $.rows[{first}] and $.rows[{row}] both have the id @{id}")]
    DuplicateId {
        path: String,
        id: String,
        first: usize,
        row: usize,
    },
}

/// Reads the site file at `path`: its records, in file order, and the value model of each
/// one that is a simulated point.
pub fn load(path: &Path) -> Result<Built, SiteFileError> {
    let shown = path.display().to_string();
    let bytes = read_bounded(path, &shown)?;
    let json: serde_json::Value = serde_json::from_slice(&bytes).map_err(|error| {
        let text = error.to_string();
        let suffix = format!(" at line {} column {}", error.line(), error.column());
        SiteFileError::Json {
            path: shown.clone(),
            message: text.strip_suffix(&suffix).unwrap_or(&text).to_string(),
            line: error.line(),
            column: error.column(),
        }
    })?;
    drop(bytes);
    let grid = hayson::grid_from_value(&json).map_err(|error| SiteFileError::NotAGrid {
        path: shown.clone(),
        reason: error.to_string(),
    })?;
    drop(json);

    let mut first_row_of = HashMap::with_capacity(grid.rows.len());
    let mut models = Vec::with_capacity(grid.rows.len());
    for (row, record) in grid.rows.iter().enumerate() {
        let id = match record.get("id") {
            Some(Value::Ref(id)) => id.value().to_string(),
            None | Some(Value::Null) => return Err(SiteFileError::MissingId { path: shown, row }),
            other => {
                return Err(SiteFileError::IdNotARef {
                    path: shown,
                    row,
                    found: describe(other),
                })
            }
        };
        models.push(model_of(&id, record));
        if let Some(first) = first_row_of.insert(id.clone(), row) {
            return Err(SiteFileError::DuplicateId {
                path: shown,
                id,
                first,
                row,
            });
        }
    }
    Ok(Built {
        records: grid.rows,
        models,
    })
}

/// The whole file, refused past [`MAX_SITE_FILE_BYTES`] whatever its size claims.
fn read_bounded(path: &Path, shown: &str) -> Result<Vec<u8>, SiteFileError> {
    let unreadable = |error: std::io::Error| SiteFileError::Read {
        path: shown.to_string(),
        reason: io_words(&error),
    };
    let too_large = |size: u64| SiteFileError::TooLarge {
        path: shown.to_string(),
        size,
        max: MAX_SITE_FILE_BYTES,
    };
    let file = File::open(path).map_err(unreadable)?;
    let size = file.metadata().map_err(unreadable)?.len();
    if size > MAX_SITE_FILE_BYTES {
        return Err(too_large(size));
    }
    // The file may grow between the size check and the read: at most one byte past the
    // limit is read, enough to tell.
    let mut bytes = Vec::new();
    file.take(MAX_SITE_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(unreadable)?;
    let read = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
    if read > MAX_SITE_FILE_BYTES {
        return Err(too_large(read));
    }
    Ok(bytes)
}

/// The simulated value model of the record with id `id`, if it is a Number point.
fn model_of(id: &str, record: &Dict) -> Option<PointModel> {
    if !record.has("point") || record.get_str("kind").map(|kind| kind.value()) != Some("Number") {
        return None;
    }
    let unit = record
        .get_str("unit")
        .map(|unit| unit.value().to_string())
        .unwrap_or_default();
    let level = record
        .get_num("curVal")
        .map(|current| current.value)
        .filter(|level| level.is_finite())
        .unwrap_or(DEFAULT_LEVEL);
    let bounds = if unit == "%" {
        (0.0, 100.0)
    } else {
        (f64::NEG_INFINITY, f64::INFINITY)
    };
    Some(PointModel::around(seed_of(id), level, bounds, unit))
}

/// A seed from the bytes of an id (FNV-1a, then mixed), the same on every run.
fn seed_of(id: &str) -> u64 {
    let hash = id.bytes().fold(0xCBF2_9CE4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01B3)
    });
    mix(hash)
}
