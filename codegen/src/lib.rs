//! Reads `protocol.yaml`, validates it and generates the haystack-wire
//! protocol bindings.
//!
//! The flow is one-way, one step a module:
//!
//! 1. [`spec`]: serde types that mirror the YAML as written, and the parser;
//! 2. [`validate`]: every rule of the model, each failure naming the YAML path;
//! 3. [`model`]: the validated protocol the generators read;
//! 4. [`emit`]: one generator per target language ([`emit::rust`],
//!    [`emit::python`], [`emit::javascript`], [`emit::markdown`]).
//!
//! `build.rs` of haystack-wire calls [`generate_rust_file`] and writes the result
//! into `OUT_DIR`. The other generators write the checked-in bindings and docs
//! listed in [`artefacts`]; [`compat`] tells whether an edit of the spec breaks
//! the wire. The `haystack-wire-codegen` command runs them all.

pub mod artefacts;
pub mod compat;
pub mod emit;
pub mod model;
pub mod spec;
pub mod validate;

mod error;

use std::path::Path;

pub use error::Error;
pub use model::Protocol;

/// Reads, parses and validates the spec at `path`.
pub fn load(path: &Path) -> Result<Protocol, Error> {
    validate::validate(&spec::read(path)?, path)
}

/// Parses and validates spec text; `file` is only used to name it in errors.
pub fn parse(text: &str, file: &Path) -> Result<Protocol, Error> {
    validate::validate(&spec::from_str(text, file)?, file)
}

/// Reads the spec at `path` and returns the generated Rust module, formatted.
pub fn generate_rust_file(path: &Path) -> Result<String, Error> {
    let protocol = load(path)?;
    emit::rust::generate(&protocol).map_err(|source| Error::Generated {
        file: path.to_path_buf(),
        source,
    })
}
