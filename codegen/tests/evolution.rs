//! The protocol evolves on a temporary copy of the project, the way a
//! maintainer would change it, and every tool says what it should:
//!
//! 1. a new op `hisReadBatch`: the crate builds and the op round-trips, the
//!    bindings and the doc gain it, `compat` passes;
//! 2. `read` renumbered: `compat` fails with OP_CODE_CHANGED;
//! 3. a retired flag bit reused: validation refuses it while the retirement is
//!    listed, and `compat` fails with FLAG_BIT_REUSED once it is deleted;
//! 4. the unknown op policy set to `reject`: the crate builds, and no unknown
//!    op is answerable or spares the connection.
//!
//! The copy builds into `target/evolution`, a target folder of its own, so
//! that it never waits on the lock of the build running this test.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, PoisonError};

/// The workspace being tested.
fn project() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// What the copy needs to build: the workspace without docs or data. The
/// test files (`tests/*.rs`, not their data), the examples and the benches
/// come along because Cargo.toml declares some of them and would not parse
/// without; `hswire` because it is a member of the workspace.
const COPIED: [&str; 13] = [
    "Cargo.toml",
    "Cargo.lock",
    "build.rs",
    "protocol.yaml",
    "rustfmt.toml",
    "spec",
    "src",
    "codegen",
    "examples",
    "benches",
    "hswire",
    // The Python package's crate, a workspace member: its manifest and source.
    "bindings/python/Cargo.toml",
    "bindings/python/src",
];

fn copy(from: &Path, to: &Path) {
    if from.is_dir() {
        std::fs::create_dir_all(to).expect("create a folder in the copy");
        for entry in std::fs::read_dir(from).expect("read a folder of the project") {
            let entry = entry.expect("a folder entry");
            copy(&entry.path(), &to.join(entry.file_name()));
        }
    } else {
        if let Some(dir) = to.parent() {
            std::fs::create_dir_all(dir).expect("create a folder in the copy");
        }
        std::fs::copy(from, to).expect("copy a file of the project");
    }
}

/// A copy of the project in a fresh temporary folder, removed on drop.
struct Copy(PathBuf);

impl Copy {
    /// `name` keeps the copies of tests running side by side apart.
    fn new(name: &str) -> Copy {
        let root = std::env::temp_dir().join(format!("haystack-wire-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for item in COPIED {
            copy(&project().join(item), &root.join(item));
        }
        for entry in std::fs::read_dir(project().join("tests")).expect("read the tests folder") {
            let path = entry.expect("a folder entry").path();
            if path.extension().is_some_and(|extension| extension == "rs") {
                copy(
                    &path,
                    &root.join("tests").join(path.file_name().expect("a file name")),
                );
            }
        }
        let _ = std::fs::remove_dir_all(root.join("codegen/target"));
        Copy(root)
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.0.join(relative)
    }

    fn read(&self, relative: &str) -> String {
        std::fs::read_to_string(self.path(relative)).expect("read a file of the copy")
    }

    /// Writes a file of the copy, with its folder if it is new (`src/bin` for the probes).
    fn write(&self, relative: &str, text: &str) {
        let path = self.path(relative);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("create a folder in the copy");
        }
        std::fs::write(path, text).expect("write a file of the copy");
    }

    /// Replaces the one occurrence of `from` in the file.
    fn edit(&self, relative: &str, from: &str, to: &str) {
        let text = self.read(relative);
        assert_eq!(text.matches(from).count(), 1, "`{from}` once in {relative}");
        self.write(relative, &text.replacen(from, to, 1));
    }

    /// `compat` from the copy's released spec to its protocol.yaml: the exit
    /// code and the report.
    fn compat(&self) -> (Option<i32>, String) {
        let output = self.codegen(&[
            "compat",
            "--base",
            "spec/released/protocol.yaml",
            "--new",
            "protocol.yaml",
        ]);
        (output.status.code(), text(&output.stdout))
    }

    /// Builds the copy's binary `bin` in `target/evolution` and runs it.
    ///
    /// The copies of all these tests build there, and Cargo hashes a
    /// workspace member the same wherever it sits, so they share the
    /// artefacts and the build script's output. One copy builds at a time,
    /// and its spec is written again first: newer than the build script's
    /// last run, it is generated again from this copy's spec instead of the
    /// module of the copy built before being reused.
    fn cargo_run(&self, bin: &str) -> Output {
        static BUILDS: Mutex<()> = Mutex::new(());
        let _one_at_a_time = BUILDS.lock().unwrap_or_else(PoisonError::into_inner);
        let spec = self.read("protocol.yaml");
        self.write("protocol.yaml", &spec);
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        Command::new(cargo)
            .current_dir(&self.0)
            .env("CARGO_TARGET_DIR", project().join("target/evolution"))
            .args(["run", "--quiet", "--offline", "--locked", "--bin", bin])
            .output()
            .expect("run cargo on the copy")
    }

    /// Runs the codegen command on the copy's spec.
    fn codegen(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_haystack-wire-codegen"))
            .current_dir(&self.0)
            .args(args)
            .output()
            .expect("run haystack-wire-codegen")
    }
}

impl Drop for Copy {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

const NEW_OP: &str = "  - name: hisReadBatch
    code: 19
    doc: Reads the histories of several points over one time range.

compression:";

/// Checks the new op from Rust: it exists with its code and survives a round trip.
const PROBE: &str = r#"
use haystack_wire::{BaseHeader, Decoder, Encoder, Op};

fn main() {
    let op = Op::from_name("hisReadBatch").expect("the new op is generated");
    assert_eq!(op.code(), 19);
    let frame = Encoder::new().encode(BaseHeader::request(7, op), b"{}").expect("encodes");
    let message = Decoder::new().decode(&frame).expect("decodes").expect("complete");
    assert_eq!((message.op, message.request_id, &message.payload[..]), (Op::HisReadBatch, 7, &b"{}"[..]));
    println!("hisReadBatch round-trips as code {}", op.code());
}
"#;

#[test]
fn a_new_op_builds_round_trips_and_passes_compat() {
    let copy = Copy::new("new-op");
    copy.edit("protocol.yaml", "\ncompression:", &format!("\n{NEW_OP}"));

    let generated = copy.codegen(&["generate"]);
    assert!(generated.status.success(), "{}", text(&generated.stderr));
    assert!(copy
        .read("bindings/python/python/haystack_wire/protocol.py")
        .contains("\"hisReadBatch\": 19,"));
    assert!(copy
        .read("bindings/python/python/haystack_wire/protocol.py")
        .contains("19: \"hisReadBatch\","));
    assert!(copy
        .read("bindings/typescript/haystack_wire.js")
        .contains("hisReadBatch: 19,"));
    assert!(copy
        .read("bindings/typescript/haystack_wire.d.ts")
        .contains("hisReadBatch: 19;"));
    assert!(copy
        .read("docs/PROTOCOL.md")
        .contains("| 19 | `0x13` | `hisReadBatch` |"));

    let (code, report) = copy.compat();
    assert_eq!(code, Some(0), "{report}");
    assert!(report.contains("0 WIRE, 0 NAME; compatible"), "{report}");

    // The crate itself regenerates from the edited spec and carries the op.
    copy.write("src/bin/evolution_probe.rs", PROBE);
    let run = copy.cargo_run("evolution_probe");
    assert!(run.status.success(), "{}", text(&run.stderr));
    assert_eq!(text(&run.stdout), "hisReadBatch round-trips as code 19\n");
}

/// Checks, under `policy: reject`, that an unknown op answers nothing and closes the connection.
const REJECT_PROBE: &str = r#"
use haystack_wire::protocol::{HeaderError, RawBaseHeader};
use haystack_wire::{Decoder, Error, ErrorScope, Flags};

fn main() {
    for flags in [Flags::EMPTY, Flags::RESPONSE, Flags::PUSH] {
        let frame = RawBaseHeader { flags, request_id: 7, op: 200 }.encode();
        let error = Decoder::new().decode(&frame).expect_err("op 200 is unknown");
        let Error::Header(header) = error.clone() else {
            panic!("not a header error: {error}");
        };
        assert_eq!(header, HeaderError::UnknownOp { code: 200, request_id: 7, flags });
        assert!(!header.answerable(), "{flags}");
        assert!(!header.keeps_connection(), "{flags}");
        assert_eq!(error.scope(), ErrorScope::Connection, "{flags}");
    }
    println!("under reject, an unknown op answers nothing and closes the connection");
}
"#;

#[test]
fn a_reject_policy_builds_and_leaves_nothing_answerable() {
    let copy = Copy::new("reject-unknown-ops");
    copy.edit(
        "protocol.yaml",
        "unknown_ops:\n  policy: answer\n",
        "unknown_ops:\n  policy: reject\n",
    );
    // The released spec has no entry, which reads as `reject`: nothing changed for peers.
    let (code, report) = copy.compat();
    assert_eq!(code, Some(0), "{report}");

    copy.write("src/bin/reject_probe.rs", REJECT_PROBE);
    let run = copy.cargo_run("reject_probe");
    assert!(run.status.success(), "{}", text(&run.stderr));
    assert_eq!(
        text(&run.stdout),
        "under reject, an unknown op answers nothing and closes the connection\n"
    );
}

#[test]
fn a_renumbered_op_fails_compat_naming_the_rule() {
    let copy = Copy::new("renumbered-op");
    copy.edit(
        "protocol.yaml",
        "  - name: read\n    code: 10\n",
        "  - name: read\n    code: 40\n",
    );
    let (code, report) = copy.compat();
    assert_eq!(code, Some(1), "{report}");
    assert!(
        report.contains(
            "protocol.yaml: ops[4].code: OP_CODE_CHANGED [WIRE] op `read` moved from code 10 to code 40"
        ),
        "{report}"
    );
    assert!(report.contains("1 WIRE, 0 NAME; incompatible"), "{report}");
}

#[test]
fn a_reused_retired_bit_fails_validation_and_compat() {
    let copy = Copy::new("reused-bit");
    // A release that retired bit 7 (say, a `priority` flag of an earlier version).
    let retired =
        "  flags:\n    - name: priority\n      bit: 7\n      retired: 2\n      doc: Never used by a peer.\n";
    copy.edit(
        "spec/released/protocol.yaml",
        "  bits: [5, 6, 7]",
        "  bits: [5, 6]",
    );
    copy.edit("spec/released/protocol.yaml", "  flags: []\n", retired);
    let new_flag = "  - name: urgent\n    bit: 7\n    since: 2\n    doc: Handle before anything else.\n\nunused_flag_bits:";

    // Keeping the retirement and taking the bit: the spec itself is refused.
    copy.edit("protocol.yaml", "  bits: [5, 6, 7]", "  bits: [5, 6]");
    copy.edit("protocol.yaml", "  flags: []\n", retired);
    copy.edit("protocol.yaml", "\nunused_flag_bits:", &format!("\n{new_flag}"));
    let generated = copy.codegen(&["generate"]);
    let error = text(&generated.stderr);
    assert_eq!(generated.status.code(), Some(2), "{error}");
    assert!(
        error.contains("flags[5].bit: bit 7 belonged to flag `priority`, retired in version 2"),
        "{error}"
    );

    // Deleting the retirement to get the bit past validation: compat catches it.
    copy.edit("protocol.yaml", retired, "  flags: []\n");
    let (code, report) = copy.compat();
    assert_eq!(code, Some(1), "{report}");
    assert!(
        report.contains("protocol.yaml: flags[5].bit: FLAG_BIT_REUSED [WIRE] flag `urgent` takes bit 7, retired in version 2"),
        "{report}"
    );
}
