//! Generates the `protocol` module from protocol.yaml.
//!
//! All the work is in the haystack-wire-codegen crate; this file only says
//! where the spec is and where the code goes. A bad spec stops the build with
//! the generator's message (file, YAML path, offending value) and no backtrace.

use std::path::{Path, PathBuf};

/// The spec, relative to the package root (where Cargo runs build scripts).
const SPEC: &str = "protocol.yaml";

fn main() {
    // The spec is the generator's only input; the codegen crate itself is a
    // build dependency, which Cargo already tracks.
    println!("cargo:rerun-if-changed={SPEC}");
    println!("cargo:rerun-if-changed=build.rs");

    let source =
        haystack_wire_codegen::generate_rust_file(Path::new(SPEC)).unwrap_or_else(|error| fail(&error));
    let out_dir = std::env::var_os("OUT_DIR").unwrap_or_else(|| fail(&"cargo did not set OUT_DIR"));
    let out = PathBuf::from(out_dir).join("protocol.rs");
    // Writing only when the text changed keeps the file's mtime, and so the
    // crate, from being rebuilt for nothing.
    if std::fs::read_to_string(&out).ok().as_deref() != Some(source.as_str()) {
        if let Err(error) = std::fs::write(&out, source) {
            fail(&format!("cannot write {}: {error}", out.display()));
        }
    }
}

/// Stops the build with one line on stderr, which Cargo shows as it is.
fn fail(error: &dyn std::fmt::Display) -> ! {
    eprintln!("error: {error}");
    std::process::exit(1)
}
