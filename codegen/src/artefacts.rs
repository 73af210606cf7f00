//! The generated files that are checked in, and the check that they are fresh.
//!
//! The Rust module is generated at build time and never checked in; the
//! bindings and the reference doc are, so that people and other languages
//! can use them without Rust. A test regenerates them all and fails, naming
//! the command to run, when a checked-in copy differs.

use std::path::Path;

use crate::emit::{javascript, markdown, python};
use crate::model::Protocol;

/// One checked-in generated file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artefact {
    /// Its path, relative to the project root (the folder of protocol.yaml).
    pub path: &'static str,
    /// The codegen command that writes it.
    pub command: &'static str,
    /// What the spec generates for it.
    pub text: String,
}

/// Every checked-in generated file, as the spec generates it now.
pub fn artefacts(protocol: &Protocol) -> Vec<Artefact> {
    vec![
        Artefact {
            path: python::PATH,
            command: "python",
            text: python::generate(protocol),
        },
        Artefact {
            path: javascript::JS_PATH,
            command: "typescript",
            text: javascript::generate_js(protocol),
        },
        Artefact {
            path: javascript::DTS_PATH,
            command: "typescript",
            text: javascript::generate_dts(protocol),
        },
        Artefact {
            path: markdown::PATH,
            command: "markdown",
            text: markdown::generate(protocol),
        },
    ]
}

/// The artefacts whose copy under `root` is missing or differs from what the
/// spec generates.
pub fn stale(root: &Path, protocol: &Protocol) -> Vec<Artefact> {
    artefacts(protocol)
        .into_iter()
        .filter(|a| std::fs::read_to_string(root.join(a.path)).ok().as_deref() != Some(a.text.as_str()))
        .collect()
}
