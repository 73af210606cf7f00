//! A header field renamed in the spec (the flags field `flags` → `bits`, which
//! `compat` rates name-only) is renamed in every generated artefact, and each
//! artefact still works: the generators find fields by their role, never by
//! the name the committed spec happens to give them.
//!
//! Every artefact is regenerated into a temporary folder. The JavaScript and
//! Python modules are checked by text, and run under `node` and `python3`
//! when those are on PATH; a missing interpreter is reported loudly on stderr.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{edited, set};
use haystack_wire_codegen::artefacts::artefacts;
use haystack_wire_codegen::compat::{check, Group};
use haystack_wire_codegen::emit::{javascript, markdown, python, rust};
use haystack_wire_codegen::{parse, Protocol};

/// The committed spec with the flags field of the base header named `bits`.
fn renamed() -> Protocol {
    let text = edited(|s| {
        let field = &mut s["layout"][0]["fields"][0];
        assert_eq!(
            field["role"].as_str(),
            Some("flags"),
            "the first base field holds the flags"
        );
        set(field, "name", "bits");
    });
    parse(&text, Path::new("protocol.yaml")).expect("the renamed spec is valid")
}

/// A fresh temporary folder, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let dir = std::env::temp_dir().join(format!("codegen-renamed-field-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create a temporary folder");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Writes every artefact and the Rust module under `root`; returns the Rust source.
fn regenerate(root: &Path, protocol: &Protocol) -> String {
    for artefact in artefacts(protocol) {
        let path = root.join(artefact.path);
        std::fs::create_dir_all(path.parent().expect("a folder")).expect("create the artefact's folder");
        std::fs::write(&path, &artefact.text).expect("write the artefact");
    }
    let source = rust::generate(protocol).expect("the Rust module generates");
    std::fs::write(root.join("protocol.rs"), &source).expect("write the Rust module");
    source
}

fn read(root: &Path, path: &str) -> String {
    std::fs::read_to_string(root.join(path)).expect("the artefact was written")
}

/// Whether `program` runs at all; when not, says loudly what goes unchecked.
fn available(program: &str, unchecked: &str) -> bool {
    let found = Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        eprintln!("!!! NOT CHECKED: {unchecked} ({program} is not on PATH); only its text was checked");
    }
    found
}

#[test]
fn renaming_the_flags_field_is_name_only() {
    let base = parse(common::SPEC, Path::new("protocol.yaml")).expect("protocol.yaml is valid");
    let findings = check(&base, &renamed());
    let rules: Vec<(String, Group)> = findings.iter().map(|f| (f.rule.name(), f.group())).collect();
    assert_eq!(rules, [("FIELD_RENAMED".to_owned(), Group::Name)], "{findings:?}");
}

#[test]
fn every_artefact_follows_a_renamed_flags_field() {
    let dir = TempDir::new();
    let protocol = renamed();
    let source = regenerate(&dir.0, &protocol);

    // Rust: the field and every use of it take the new name.
    syn::parse_file(&source).expect("the Rust module parses");
    assert!(
        source.contains("pub bits: Flags,"),
        "no `bits` field in the Rust module"
    );
    assert!(
        source.contains("self.bits.bits()"),
        "BaseHeader does not write `bits`"
    );
    assert!(
        source.contains("base.bits.contains(Flags::COMPRESSED)"),
        "FrameHeader does not read `bits`"
    );
    assert!(
        !source.contains("pub flags: Flags,"),
        "the Rust module kept a `flags` field"
    );

    // Python: the struct's field names.
    let py = read(&dir.0, python::PATH);
    assert!(
        py.contains("BASE_HEADER_FIELDS: tuple[str, ...] = (\"bits\", \"request_id\", \"op\")"),
        "{py}"
    );

    // JavaScript: the flags are read from and written to the renamed key.
    let js = read(&dir.0, javascript::JS_PATH);
    for expected in [
        "const flags = field(header, \"bits\", 0xff);",
        "header.bits = view.getUint8(at + 0);",
        "const flags = header.bits;",
    ] {
        assert!(
            js.contains(expected),
            "`{expected}` is not in the JavaScript module"
        );
    }
    for stale in ["\"flags\"", "header.flags"] {
        assert!(!js.contains(stale), "the JavaScript module still uses `{stale}`");
    }
    let dts = read(&dir.0, javascript::DTS_PATH);
    assert!(dts.contains("  bits: number;"), "the declarations lack `bits`");
    assert!(!dts.contains("  flags: number;"), "the declarations kept `flags`");

    // Markdown: the layout table names the field.
    let md = read(&dir.0, markdown::PATH);
    assert!(
        md.contains("| 0 | 1 | `u8` | `bits` |"),
        "the reference lacks `bits`"
    );

    if available("node", "the regenerated JavaScript module under Node.js") {
        let script = dir.0.join("check.mjs");
        std::fs::write(&script, NODE_CHECK).expect("write the node script");
        let output = Command::new("node")
            .arg(&script)
            .current_dir(&dir.0)
            .output()
            .expect("node runs");
        assert!(
            output.status.success(),
            "node: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    if available("python3", "the regenerated Python module under Python") {
        let output = Command::new("python3")
            .arg("-c")
            .arg(PYTHON_CHECK)
            // The module's own folder: importing it as a plain module leaves
            // out the package around it, which needs the native extension.
            .current_dir(
                dir.0
                    .join(python::PATH)
                    .parent()
                    .expect("the module is in a folder"),
            )
            .output()
            .expect("python3 runs");
        assert!(
            output.status.success(),
            "python3: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// Encodes a compressed response with the renamed key and decodes it back.
const NODE_CHECK: &str = r#"
import assert from "node:assert/strict";
import * as wire from "./bindings/typescript/haystack_wire.js";

const view = new DataView(new ArrayBuffer(16));
const bits = wire.FLAG_RESPONSE | wire.FLAG_COMPRESSED;
const written = wire.encodeHeader(view, { bits, requestId: 7, op: wire.OP_CODES.read, algorithm: wire.COMP_ZLIB });
assert.equal(written, wire.headerSize(bits));
const { header, payloadOffset } = wire.decodeHeader(view);
assert.equal(payloadOffset, written);
assert.equal(header.bits, bits);
assert.equal(header.requestId, 7);
assert.equal(header.op, wire.OP_CODES.read);
assert.equal(header.algorithm, wire.COMP_ZLIB);
assert.equal(header.flags, undefined);
"#;

/// Packs and unpacks the base header under its renamed fields.
const PYTHON_CHECK: &str = r#"
import protocol as w
assert w.BASE_HEADER_FIELDS == ("bits", "request_id", "op"), w.BASE_HEADER_FIELDS
values = dict(zip(w.BASE_HEADER_FIELDS, w.BASE_HEADER.unpack(w.BASE_HEADER.pack(w.FLAG_RESPONSE, 7, w.OP_CODES["read"]))))
assert values == {"bits": w.FLAG_RESPONSE, "request_id": 7, "op": w.OP_CODES["read"]}, values
assert w.header_size(w.FLAG_COMPRESSED) == w.BASE_HEADER.size + w.ALGORITHM_HEADER.size
"#;
