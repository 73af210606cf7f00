//! The `haystack-wire-codegen` command line, checked from outside the process.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The workspace's spec.
fn spec() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../protocol.yaml")
}

#[test]
fn writing_the_rust_module_into_a_closed_pipe_ends_quietly() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_haystack-wire-codegen"))
        .arg("--spec")
        .arg(spec())
        .arg("rust")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("haystack-wire-codegen starts");
    // Closed at once, as `haystack-wire-codegen rust | true` does, long
    // before the spec is read and the module made.
    drop(child.stdout.take());
    let output = child.wait_with_output().expect("haystack-wire-codegen finishes");
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert_eq!(String::from_utf8_lossy(&output.stderr), "");
}

#[test]
fn a_spec_that_does_not_parse_is_reported_with_its_location_once() {
    let dir = std::env::temp_dir().join(format!("codegen-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("protocol.yaml");
    let text = std::fs::read_to_string(spec()).unwrap().replacen(
        "\n  - name: about\n",
        "\n  - name: about\n    colour: red\n",
        1,
    );
    std::fs::write(&file, text).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_haystack-wire-codegen"))
        .arg("--spec")
        .arg(&file)
        .arg("rust")
        .output()
        .expect("haystack-wire-codegen runs");
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let message = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        message.starts_with(&format!("error: {}: line ", file.display())),
        "{message}"
    );
    assert_eq!(message.matches("line ").count(), 1, "{message}");
    assert_eq!(message.matches("column ").count(), 1, "{message}");
}
