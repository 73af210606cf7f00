//! Reading `protocol.yaml` into a [`Spec`].

use std::path::Path;

use super::Spec;
use crate::Error;

/// Reads and parses the spec at `path`.
pub fn read(path: &Path) -> Result<Spec, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
        file: path.to_path_buf(),
        source,
    })?;
    from_str(&text, path)
}

/// Parses spec text; `file` is only used to name it in errors.
pub fn from_str(text: &str, file: &Path) -> Result<Spec, Error> {
    serde_norway::from_str(text).map_err(|e| Error::Parse {
        file: file.to_path_buf(),
        location: e
            .location()
            .map(|l| format!("line {} column {}: ", l.line(), l.column()))
            .unwrap_or_default(),
        message: without_location(&e),
    })
}

/// The parser's message without the ` at line N column M` it ends with, since
/// [`Error::Parse`] puts the location first.
fn without_location(error: &serde_norway::Error) -> String {
    let message = error.to_string();
    match error.location() {
        Some(l) => message
            .strip_suffix(&format!(" at line {} column {}", l.line(), l.column()))
            .map_or_else(|| message.clone(), str::to_owned),
        None => message,
    }
}
