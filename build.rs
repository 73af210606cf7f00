//! Generates the `protocol` module from protocol.yaml.
//!
//! All the work is in the haystack-wire-codegen crate; this file only says
//! where the spec is and where the code goes. A bad spec stops the build with
//! the generator's message (file, YAML path, offending value) and no backtrace.

use std::path::{Path, PathBuf};

fn main() {
    let manifest_dir =
        PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let spec = manifest_dir.join("protocol.yaml");
    // The spec is the generator's only input; the codegen crate itself is a
    // build dependency, which Cargo already tracks.
    println!("cargo:rerun-if-changed={}", spec.display());
    println!("cargo:rerun-if-changed=build.rs");

    let source = match haystack_wire_codegen::generate_rust_file(Path::new("protocol.yaml")) {
        Ok(source) => source,
        Err(error) => {
            eprintln!("error: {error}");
            std::process::exit(1);
        }
    };
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("protocol.rs");
    // Writing only when the text changed keeps the file's mtime, and so the
    // crate, from being rebuilt for nothing.
    if std::fs::read_to_string(&out).ok().as_deref() != Some(source.as_str()) {
        if let Err(error) = std::fs::write(&out, source) {
            eprintln!("error: cannot write {}: {error}", out.display());
            std::process::exit(1);
        }
    }
}
