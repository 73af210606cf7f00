//! The `hswire` command-line contract, checked from outside the process.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use haystack_wire::{BaseHeader, Compression, Encoder, Flags, Frame, Op};

fn hswire(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hswire"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("hswire starts");
    let written = child.stdin.take().expect("stdin is piped").write_all(stdin);
    // A command that fails on its arguments exits without reading stdin; its
    // exit status and stderr are what the test looks at then.
    if let Err(error) = written {
        assert_eq!(
            error.kind(),
            std::io::ErrorKind::BrokenPipe,
            "writing stdin: {error}"
        );
    }
    child.wait_with_output().expect("hswire finishes")
}

fn stdout_lines(output: &Output) -> Vec<String> {
    String::from_utf8(output.stdout.clone())
        .expect("stdout is UTF-8")
        .lines()
        .map(str::to_owned)
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
        .collect()
}

const GRID: &[u8] =
    br#"{"_kind":"grid","meta":{"ver":"3.0"},"cols":[{"name":"dis"}],"rows":[{"dis":"Site 1"}]}"#;

#[test]
fn encode_writes_one_lowercase_hex_frame_per_line() {
    let output = hswire(&["encode", "--op", "read", "--request-id", "7"], GRID);
    assert!(output.status.success(), "{output:?}");
    let expected = Encoder::new().request(7, Op::Read, GRID).unwrap();
    assert_eq!(stdout_lines(&output), [hex(&expected)]);
}

#[test]
fn encode_maps_kinds_to_flags_and_keeps_the_request_id_as_given() {
    for (kind, flags) in [
        ("request", Flags::EMPTY),
        ("response", Flags::RESPONSE),
        ("error", Flags::RESPONSE | Flags::ERROR),
        ("push", Flags::PUSH),
    ] {
        let output = hswire(
            &[
                "encode",
                "--op",
                "watchPoll",
                "--kind",
                kind,
                "--request-id",
                "513",
            ],
            GRID,
        );
        let frame = unhex(&stdout_lines(&output)[0]);
        let frame = Frame::decode(&frame).unwrap();
        assert_eq!(
            (frame.flags(), frame.request_id(), frame.op()),
            (flags, 513, Op::WatchPoll),
            "{kind}"
        );
    }
}

#[test]
fn encode_compresses_from_the_threshold_on() {
    let below = hswire(&["encode", "--op", "read", "--compression", "zlib"], GRID);
    assert_eq!(
        stdout_lines(&below),
        [hex(&Encoder::new().request(0, Op::Read, GRID).unwrap())]
    );
    for algorithm in Compression::ALL {
        let output = hswire(
            &[
                "encode",
                "--op",
                "read",
                "--compression",
                algorithm.name(),
                "--threshold",
                "10",
            ],
            GRID,
        );
        let expected = Encoder::new()
            .with_compression(Some(algorithm))
            .with_threshold(10)
            .request(0, Op::Read, GRID)
            .unwrap();
        assert_eq!(stdout_lines(&output), [hex(&expected)], "{algorithm}");
    }
}

#[test]
fn encode_with_a_chunk_size_writes_the_chunked_frames() {
    let output = hswire(
        &[
            "encode",
            "--op",
            "hisRead",
            "--kind",
            "response",
            "--request-id",
            "3",
            "--compression",
            "lzma",
            "--chunk-size",
            "20",
        ],
        GRID,
    );
    let expected = Encoder::new()
        .with_compression(Some(Compression::Lzma))
        .with_chunk_size(20)
        .encode_chunked(BaseHeader::response(3, Op::HisRead), GRID)
        .unwrap();
    assert_eq!(
        stdout_lines(&output),
        expected.iter().map(|f| hex(f)).collect::<Vec<_>>()
    );
}

#[test]
fn encode_rejects_an_unknown_op() {
    let output = hswire(&["encode", "--op", "hisReed"], GRID);
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("hisReed"),
        "{output:?}"
    );
}

#[test]
fn decode_prints_each_complete_message_as_json() {
    let frames = Encoder::new()
        .with_compression(Some(Compression::Zlib))
        .with_chunk_size(30)
        .encode_chunked(BaseHeader::error_response(12, Op::Read), GRID)
        .unwrap();
    let push = Encoder::new().push(Op::WatchPoll, b"{}").unwrap();
    let mut input: Vec<String> = frames.iter().map(|f| hex(f)).collect();
    input.push(String::new());
    input.push(hex(&push).to_uppercase());
    let output = hswire(&["decode"], input.join("\n").as_bytes());
    assert!(output.status.success(), "{output:?}");
    let error_flags = (Flags::RESPONSE | Flags::ERROR).bits();
    assert_eq!(
        stdout_lines(&output),
        [
            format!(
                r#"{{"request_id":12,"op":"read","flags":{error_flags},"payload_hex":"{}"}}"#,
                hex(GRID)
            ),
            format!(
                r#"{{"request_id":0,"op":"watchPoll","flags":{},"payload_hex":"{}"}}"#,
                Flags::PUSH.bits(),
                hex(b"{}")
            ),
        ]
    );
}

#[test]
fn decode_reports_bad_lines_and_goes_on() {
    let good = hex(&Encoder::new().request(5, Op::Nav, b"{}").unwrap());
    let input = format!("zz\n\n{}\n00\n{good}\n", hex(&[0, 0, 0, 0xff]));
    let output = hswire(&["decode"], input.as_bytes());
    assert_eq!(output.status.code(), Some(1));
    let lines = stdout_lines(&output);
    assert_eq!(lines.len(), 4, "{lines:?}");
    let parsed: Vec<serde_json::Value> = lines.iter().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(parsed[0]["line"], 1);
    assert_eq!(parsed[1]["line"], 3, "blank lines are skipped but counted");
    assert!(parsed[1]["error"]
        .as_str()
        .unwrap()
        .contains("unknown op code 255"));
    assert_eq!(parsed[2]["line"], 4);
    assert!(parsed[2]["error"].as_str().unwrap().contains("too short"));
    assert_eq!(parsed[3]["request_id"], 5);
}

#[test]
fn inspect_shows_every_field_and_the_payload() {
    let payload = GRID.repeat(20);
    let frames = Encoder::new()
        .with_compression(Some(Compression::Zlib))
        .with_chunk_size(payload.len())
        .encode_chunked(BaseHeader::response(9, Op::Read), &payload)
        .unwrap();
    let single = Encoder::new()
        .with_compression(Some(Compression::Zlib))
        .response(9, Op::Read, GRID, false)
        .unwrap();
    let output = hswire(&["inspect"], hex(&frames[0]).as_bytes());
    assert!(output.status.success(), "{output:?}");
    let text = String::from_utf8(output.stdout).unwrap();
    for expected in [
        "base.flags",
        "response | compressed | chunked",
        "base.request_id",
        "algorithm.algorithm",
        "zlib",
        "chunk.index",
        "chunk.total",
        "1 of 1",
        &format!("{} bytes decompressed", payload.len()),
    ] {
        assert!(text.contains(expected), "no `{expected}` in:\n{text}");
    }

    let file = std::env::temp_dir().join(format!("hswire-inspect-{}.bin", std::process::id()));
    std::fs::write(&file, &single).unwrap();
    let output = hswire(&["inspect", "--raw", file.to_str().unwrap()], b"");
    std::fs::remove_file(&file).ok();
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(
        text.contains("payload (JSON):\n{\n  \"_kind\": \"grid\""),
        "{text}"
    );
    assert!(text.contains("read"), "{text}");
}

#[test]
fn inspect_reports_a_bad_frame() {
    let output = hswire(&["inspect"], b"080001");
    assert_eq!(output.status.code(), Some(1));
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.contains("missing") && text.contains("too short"), "{text}");
}

#[test]
fn decode_keeps_its_contract_on_a_hostile_stream() {
    let payload = GRID.repeat(30);
    let good = Encoder::new()
        .with_compression(Some(Compression::Lzma))
        .with_chunk_size(1000)
        .encode_chunked(BaseHeader::response(40, Op::Read), &payload)
        .unwrap();
    let bomb = Encoder::new()
        .with_compression(Some(Compression::Zlib))
        .request(41, Op::HisWrite, &vec![0u8; 128 << 20])
        .unwrap();
    let mut unused_bits = Encoder::new().request(42, Op::Read, b"{}").unwrap();
    unused_bits[0] |= Flags::UNUSED.bits();
    // Bad lines 2, 3 and 5 around the good sequence's chunks.
    let mut lines = vec![
        hex(&good[0]),
        hex(&bomb),
        "0b".to_owned(),
        hex(&good[1]),
        hex(&unused_bits),
    ];
    lines.extend(good[2..].iter().map(|frame| hex(frame)));
    let output = hswire(&["decode"], lines.join("\n").as_bytes());
    assert_eq!(output.status.code(), Some(1));
    let printed: Vec<serde_json::Value> = stdout_lines(&output)
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let errors: Vec<u64> = printed.iter().filter_map(|v| v["line"].as_u64()).collect();
    assert_eq!(errors, [2, 3, 5], "{printed:?}");
    assert!(
        printed[0]["error"].as_str().unwrap().contains("limit"),
        "{printed:?}"
    );
    let messages: Vec<&serde_json::Value> =
        printed.iter().filter(|v| v.get("request_id").is_some()).collect();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["request_id"], 40);
    assert_eq!(messages[0]["payload_hex"], hex(&payload));
}

/// Runs `hswire` with `stdin` after closing the read end of its stdout, as
/// `hswire ... | head -0` would.
fn hswire_into_a_closed_pipe(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hswire"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("hswire starts");
    // Closed before the input is written, so before anything is printed.
    drop(child.stdout.take());
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(stdin)
        .expect("hswire reads its input");
    child.wait_with_output().expect("hswire finishes")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The frames `encode --chunk-size` writes for `payload`, one hex line each.
fn chunked_lines(request_id: u16, payload: &[u8], chunk_size: usize) -> Vec<String> {
    Encoder::new()
        .with_chunk_size(chunk_size)
        .encode_chunked(BaseHeader::response(request_id, Op::Read), payload)
        .unwrap()
        .iter()
        .map(|frame| hex(frame))
        .collect()
}

#[test]
fn inspect_and_encode_into_a_closed_pipe_end_quietly() {
    let lines = chunked_lines(1, &GRID.repeat(10), 100).join("\n");
    for (args, stdin) in [
        (&["inspect"][..], lines.as_bytes()),
        (&["encode", "--op", "read", "--chunk-size", "10"], GRID),
        (&["decode"], lines.as_bytes()),
    ] {
        let output = hswire_into_a_closed_pipe(args, stdin);
        assert_eq!(output.status.code(), Some(0), "{args:?}: {output:?}");
        assert_eq!(stderr(&output), "", "{args:?}");
    }
}

#[test]
fn inspect_of_a_missing_file_names_the_file_in_words() {
    let file = std::env::temp_dir().join(format!("hswire-missing-{}.hex", std::process::id()));
    let output = hswire(&["inspect", file.to_str().unwrap()], b"");
    assert_eq!(output.status.code(), Some(1));
    let text = stderr(&output);
    assert!(
        text.starts_with(&format!("hswire: cannot read {}: ", file.display())),
        "{text}"
    );
    assert!(!text.contains("os error"), "{text}");
    assert_eq!(text.lines().count(), 1, "{text}");
}

#[test]
fn inspect_shows_each_frame_of_a_file_of_several() {
    let payload = GRID.repeat(3);
    let lines = chunked_lines(4, &payload, 100);
    assert_eq!(lines.len(), 3);
    let output = hswire(&["inspect"], (lines.join("\n") + "\n").as_bytes());
    assert!(output.status.success(), "{output:?}");
    let text = String::from_utf8(output.stdout).unwrap();
    for (index, size) in [100, 100, payload.len() - 200].into_iter().enumerate() {
        let number = index + 1;
        assert!(
            text.contains(&format!("frame {number} of 3 (line {number})")),
            "{text}"
        );
        assert!(
            text.contains(&format!("chunk:   {number} of 3 (index {index})")),
            "{text}"
        );
        assert!(text.contains(&format!("payload: {size} bytes")), "{text}");
    }
}

#[test]
fn decode_reports_each_sequence_still_incomplete_at_the_end_of_the_input() {
    let lines = chunked_lines(6, &GRID.repeat(3), 100);
    let output = hswire(&["decode"], lines[..2].join("\n").as_bytes());
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let printed = stdout_lines(&output);
    assert_eq!(printed.len(), 1, "{printed:?}");
    let report: serde_json::Value = serde_json::from_str(&printed[0]).unwrap();
    assert_eq!(
        report["incomplete"],
        serde_json::json!({"request_id": 6, "op": "read", "received": 2, "total": 3})
    );
    assert_eq!(
        report["error"],
        "the input ended with 2 of the 3 chunks of request 6 (read)"
    );
}

#[test]
fn encode_refuses_more_chunks_than_a_default_decoder_takes_unless_told() {
    let payload = vec![b'x'; 1500];
    let refused = hswire(&["encode", "--op", "read", "--chunk-size", "1"], &payload);
    assert_eq!(refused.status.code(), Some(1));
    assert!(refused.stdout.is_empty(), "nothing is written when refused");
    let text = stderr(&refused);
    assert!(
        text.contains("1500 chunks")
            && text.contains("limit of 1024 chunks")
            && text.contains("--max-chunks"),
        "{text}"
    );

    let encoded = hswire(
        &[
            "encode",
            "--op",
            "read",
            "--chunk-size",
            "1",
            "--max-chunks",
            "1500",
        ],
        &payload,
    );
    assert!(encoded.status.success(), "{encoded:?}");
    assert_eq!(stdout_lines(&encoded).len(), 1500);

    let refused = hswire(&["decode"], &encoded.stdout);
    assert_eq!(refused.status.code(), Some(1));
    let decoded = hswire(&["decode", "--max-chunks", "1500"], &encoded.stdout);
    assert!(decoded.status.success(), "{decoded:?}");
    let message: serde_json::Value = serde_json::from_str(&stdout_lines(&decoded)[0]).unwrap();
    assert_eq!(message["payload_hex"], hex(&payload));
}

#[test]
fn decode_takes_each_of_its_limits_as_a_flag() {
    let frame = hex(&Encoder::new().request(2, Op::Read, GRID).unwrap());
    for (flag, value, words) in [
        ("--max-frame", "20", "limit of 20 bytes"),
        ("--max-message", "20", "20"),
    ] {
        let output = hswire(&["decode", flag, value], frame.as_bytes());
        assert_eq!(output.status.code(), Some(1), "{flag}");
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            text.contains("\"error\"") && text.contains(words),
            "{flag}: {text}"
        );
    }
    let lines = chunked_lines(3, GRID, 10).join("\n");
    let output = hswire(&["decode", "--max-pending", "0"], lines.as_bytes());
    assert_eq!(output.status.code(), Some(1));
    let output = hswire(&["decode", "--max-pending-bytes", "0"], lines.as_bytes());
    assert_eq!(output.status.code(), Some(1));
}

#[test]
fn an_unknown_op_or_compression_name_is_answered_with_the_valid_names() {
    let output = hswire(&["encode", "--op", "hisReed"], GRID);
    assert_eq!(output.status.code(), Some(2));
    let text = stderr(&output);
    for op in Op::ALL {
        assert!(text.contains(op.name()), "no `{op}` in {text}");
    }
    let output = hswire(&["encode", "--op", "read", "--compression", "gzip"], GRID);
    assert_eq!(output.status.code(), Some(2));
    let text = stderr(&output);
    assert!(text.contains("gzip"), "{text}");
    for algorithm in Compression::ALL {
        assert!(text.contains(algorithm.name()), "no `{algorithm}` in {text}");
    }
}
