//! The one error type of the code generator.

use std::path::PathBuf;

/// Why the spec could not be turned into code.
///
/// Every variant names the spec file; spec problems also name the YAML path
/// (as in `ops[4].code`) and the offending value, so the message alone is
/// enough to find and fix the entry.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The spec file could not be read.
    #[error("{file}: cannot read the spec: {source}")]
    Read {
        /// The spec file.
        file: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The file is not YAML of the spec's shape: a missing key, a wrong type, an
    /// unknown key, or a word outside a fixed vocabulary (a wire type, a role, ...).
    #[error("{file}: {location}{message}")]
    Parse {
        /// The spec file.
        file: PathBuf,
        /// `line N column M: ` when the YAML parser knows where.
        location: String,
        /// What the parser said, with the YAML path of the entry when it knows it.
        message: String,
    },
    /// The spec parses but breaks a rule of the protocol model.
    #[error("{file}: {path}: {problem}")]
    Invalid {
        /// The spec file.
        file: PathBuf,
        /// The YAML path of the offending entry, e.g. `layout[1].fields[0].type`.
        path: String,
        /// What is wrong, with the offending value.
        problem: String,
    },
    /// The generated tokens are not valid Rust (a generator bug, never a spec problem).
    #[error("generated code for {file} does not parse as Rust: {source}")]
    Generated {
        /// The spec file.
        file: PathBuf,
        /// What syn said.
        source: syn::Error,
    },
}
