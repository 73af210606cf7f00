//! The generated Rust, pinned: any change to the spec or to a generator shows
//! here as a reviewable diff (`cargo insta review`).

mod common;

use std::path::Path;

use common::edited_protocol;
use haystack_wire_codegen::emit::rust;
use haystack_wire_codegen::{generate_rust_file, parse};
use quote::ToTokens;
use serde_norway::Value;

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

/// The body of the method `name` of `impl HeaderError` in `source`, as tokens.
fn header_error_method(source: &str, name: &str) -> String {
    let file = syn::parse_file(source).expect("the generated source parses");
    file.items
        .iter()
        .filter_map(|item| match item {
            syn::Item::Impl(block) if block.self_ty.to_token_stream().to_string() == "HeaderError" => {
                Some(block)
            }
            _ => None,
        })
        .flat_map(|block| &block.items)
        .find_map(|item| match item {
            syn::ImplItem::Fn(method) if method.sig.ident == name => {
                Some(method.block.to_token_stream().to_string())
            }
            _ => None,
        })
        .unwrap_or_else(|| panic!("no HeaderError::{name} in the generated source"))
}

#[test]
fn under_reject_no_header_error_is_answerable_or_spares_the_connection() {
    let protocol = edited_protocol(|s| s["unknown_ops"]["policy"] = Value::from("reject"));
    let source = rust::generate(&protocol).expect("generates");
    assert_eq!(header_error_method(&source, "answerable"), "{ false }");
    assert_eq!(header_error_method(&source, "keeps_connection"), "{ false }");
    assert!(source.contains("The spec's policy is `reject`: nothing is answerable."));
}

#[test]
fn under_answer_an_unknown_op_is_answerable_unless_the_frame_is_a_response_or_a_push() {
    let source = generate_rust_file(Path::new(SPEC_PATH)).expect("the spec generates");
    let answerable = header_error_method(&source, "answerable");
    assert!(
        answerable.contains("HeaderError :: UnknownOp { flags , .. } =>")
            && answerable.contains("! flags . intersects (Flags :: RESPONSE . union (Flags :: PUSH))")
            && answerable.contains("_ => false"),
        "{answerable}"
    );
    let keeps = header_error_method(&source, "keeps_connection");
    assert!(keeps.contains("HeaderError :: UnknownOp { .. }"), "{keeps}");
    // Another choice of flags in the spec is another mask in the code.
    let protocol = edited_protocol(|s| s["unknown_ops"]["answered_unless"] = Value::from(vec!["push"]));
    let source = rust::generate(&protocol).expect("generates");
    assert!(header_error_method(&source, "answerable").contains("intersects (Flags :: PUSH)"));
}
