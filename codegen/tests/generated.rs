//! The generated Rust, pinned: any change to the spec or to a generator shows
//! here as a reviewable diff (`cargo insta review`).

use std::path::Path;

use haystack_wire_codegen::{generate_rust_file, parse, rust};

const SPEC_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../protocol.yaml");

#[test]
fn generated_source_matches_the_snapshot() {
    let source = generate_rust_file(Path::new(SPEC_PATH)).expect("the spec generates");
    insta::assert_snapshot!("protocol.rs", source);
}

#[test]
fn generation_is_deterministic() {
    let text = std::fs::read_to_string(SPEC_PATH).expect("the spec is readable");
    let protocol = parse(&text, Path::new("protocol.yaml")).expect("the spec is valid");
    let first = rust::generate(&protocol).expect("generates");
    let second = rust::generate(&protocol).expect("generates");
    assert_eq!(first, second);
    assert!(first.starts_with("// @generated"), "no @generated header");
}

#[test]
fn every_generated_public_item_is_documented() {
    let source = generate_rust_file(Path::new(SPEC_PATH)).expect("the spec generates");
    let lines: Vec<&str> = source.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("pub ") && !trimmed.starts_with("pub fn") || trimmed.starts_with("pub fn") {
            let previous = lines[..i]
                .iter()
                .rev()
                .map(|l| l.trim_start())
                .find(|l| !l.starts_with("#["))
                .unwrap_or_default();
            assert!(
                previous.starts_with("///") || previous.starts_with("//!"),
                "undocumented public item at line {}: {line}",
                i + 1
            );
        }
    }
}
