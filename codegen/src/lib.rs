//! Reads `protocol.yaml`, validates it and generates the haystack-wire
//! protocol bindings.
//!
//! The flow is one-way, one step a module:
//!
//! 1. [`spec`]: serde types that mirror the YAML as written;
//! 2. [`validate`]: every rule of the model, each failure naming the YAML path;
//! 3. [`model`]: the validated protocol the generators read;
//! 4. [`rust`]: one token generator per concern, formatted once at the end.
//!
//! `build.rs` of haystack-wire calls [`generate_rust_file`] and writes the result
//! into `OUT_DIR`. The other generators ([`python`], [`javascript`],
//! [`markdown`]) write the checked-in bindings and docs listed in
//! [`artefacts`]; [`compat`] tells whether an edit of the spec breaks the wire.
//! The `haystack-wire-codegen` command runs them all.

pub mod artefacts;
pub mod compat;
pub mod javascript;
pub mod markdown;
pub mod model;
pub mod python;
pub mod rust;
pub mod spec;
pub mod validate;

mod error;
mod text;

use std::path::Path;

pub use error::Error;
pub use model::Protocol;

/// Reads, parses and validates the spec at `path`.
pub fn load(path: &Path) -> Result<Protocol, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
        file: path.to_path_buf(),
        source,
    })?;
    parse(&text, path)
}

/// Parses and validates spec text; `file` is only used to name it in errors.
pub fn parse(text: &str, file: &Path) -> Result<Protocol, Error> {
    let spec: spec::Spec = serde_norway::from_str(text).map_err(|e| Error::Parse {
        file: file.to_path_buf(),
        location: e
            .location()
            .map(|l| format!("line {} column {}: ", l.line(), l.column()))
            .unwrap_or_default(),
        message: without_location(&e),
    })?;
    validate::validate(&spec, file)
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

/// Reads the spec at `path` and returns the generated Rust module, formatted.
pub fn generate_rust_file(path: &Path) -> Result<String, Error> {
    let protocol = load(path)?;
    rust::generate(&protocol).map_err(|source| Error::Generated {
        file: path.to_path_buf(),
        source,
    })
}
