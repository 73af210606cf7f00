//! `hswire inspect`: frames, field by field, as a person wants to read them.
//!
//! The fields, their offsets and sizes come from the generated layout table
//! (`protocol::FIELDS`), so this command shows whatever protocol.yaml says.

use std::fmt::Write as _;
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use haystack_wire::fields::header_fields;
use haystack_wire::protocol::Version;
use haystack_wire::{Compression, Decompressor, Flags, Frame, Limits};

use crate::output::{io_words, print};

/// What `inspect` takes.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Read one frame as raw bytes instead of hex text.
    #[arg(long)]
    raw: bool,
    /// The file holding the frames (hex, one frame a line, as `encode`
    /// writes them); stdin when absent.
    file: Option<PathBuf>,
}

pub fn run(args: &Args) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let input = match &args.file {
        Some(path) => std::fs::read(path)
            .map_err(|error| format!("cannot read {}: {}", path.display(), io_words(&error)))?,
        None => {
            let mut input = Vec::new();
            std::io::stdin()
                .lock()
                .read_to_end(&mut input)
                .map_err(|error| format!("cannot read stdin: {}", io_words(&error)))?;
            input
        }
    };
    let frames = if args.raw {
        vec![(None, input)]
    } else {
        hex_frames(&input)?
    };
    let mut all_ok = true;
    let count = frames.len();
    for (position, (line, frame)) in frames.iter().enumerate() {
        let mut report = String::new();
        if count > 1 {
            if position > 0 {
                report.push('\n');
            }
            let _ = write!(report, "frame {} of {count}", position + 1);
            if let Some(line) = line {
                let _ = write!(report, " (line {line})");
            }
            report.push('\n');
        }
        let (text, ok) = describe(frame);
        report.push_str(&text);
        all_ok &= ok;
        print(&report)?;
    }
    Ok(if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// A frame, and the line of the input it was on (none for raw input).
type LinedFrame = (Option<usize>, Vec<u8>);

/// The frames of hex text: one a line, blank lines skipped, spaces within a
/// line ignored; each with its line number.
fn hex_frames(input: &[u8]) -> Result<Vec<LinedFrame>, String> {
    let text = std::str::from_utf8(input).map_err(|_| "the input is not hex text (use --raw for bytes)")?;
    let mut frames = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let digits: String = line.split_whitespace().collect();
        if digits.is_empty() {
            continue;
        }
        let frame =
            crate::hex::decode(digits.as_bytes()).map_err(|error| format!("line {}: {error}", index + 1))?;
        frames.push((Some(index + 1), frame));
    }
    if frames.is_empty() {
        return Err("the input holds no frame".into());
    }
    Ok(frames)
}

/// The report for `frame`, and whether the frame was valid.
fn describe(frame: &[u8]) -> (String, bool) {
    let mut out = String::new();
    let _ = writeln!(out, "frame: {} bytes", frame.len());
    let _ = writeln!(out, "{:<8}{:<14}{:<21}meaning", "offset", "bytes", "field");
    for field in header_fields(frame) {
        let bytes = field.bytes.map_or_else(|| "-".to_owned(), spaced_hex);
        let _ = writeln!(
            out,
            "{:<8}{bytes:<14}{:<21}{}",
            span(field.offset, field.layout.size),
            field.name(),
            field.meaning()
        );
    }

    let frame = match Frame::decode(frame) {
        Ok(frame) => frame,
        Err(error) => {
            let _ = writeln!(out, "error: {error}");
            return (out, false);
        }
    };

    // The newest version among the flags that are set: a frame is v2 as soon as it uses a v2 flag.
    let version = Flags::NAMED
        .iter()
        .filter(|(_, flag)| frame.flags().contains(*flag))
        .filter_map(|(_, flag)| flag.since())
        .chain(Version::ALL.first().copied())
        .max()
        .map_or(0, Version::number);
    let _ = writeln!(
        out,
        "summary: v{version} frame; flags {}; request id {}; op {}",
        frame.flags(),
        frame.request_id(),
        frame.op()
    );
    if let Some(chunk) = frame.chunk() {
        let _ = writeln!(
            out,
            "chunk:   {} of {} (index {})",
            u32::from(chunk.index) + 1,
            chunk.total,
            chunk.index
        );
    }
    let offset = frame.header.encoded_len();
    let _ = write!(out, "payload: {} bytes at offset {offset}", frame.payload.len());
    let payload = match frame.compression() {
        None => {
            let _ = writeln!(out, ", not compressed");
            frame.payload.to_vec()
        }
        Some(algorithm) => match decompress(algorithm, frame.payload) {
            Ok(payload) => {
                let _ = writeln!(
                    out,
                    ", {algorithm}-compressed, {} bytes decompressed",
                    payload.len()
                );
                payload
            }
            Err(error) => {
                let _ = writeln!(out, ", {algorithm}-compressed\nerror: {error}");
                return (out, false);
            }
        },
    };
    out.push_str(&show_payload(&payload));
    (out, true)
}

fn decompress(algorithm: Compression, data: &[u8]) -> Result<Vec<u8>, haystack_wire::Error> {
    let mut out = Vec::new();
    Decompressor::new().decompress(algorithm, data, Limits::DEFAULT.max_frame_payload, &mut out)?;
    Ok(out)
}

fn span(at: usize, size: usize) -> String {
    if size == 1 {
        at.to_string()
    } else {
        format!("{at}-{}", at + size - 1)
    }
}

fn spaced_hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The payload pretty-printed when it is JSON, else a short preview.
fn show_payload(payload: &[u8]) -> String {
    if payload.is_empty() {
        return String::new();
    }
    if let Ok(json) = serde_json::from_slice::<serde_json::Value>(payload) {
        if let Ok(pretty) = serde_json::to_string_pretty(&json) {
            return format!("payload (JSON):\n{pretty}\n");
        }
    }
    const PREVIEW: usize = 256;
    let shown = &payload[..payload.len().min(PREVIEW)];
    let more = if payload.len() > PREVIEW { " ..." } else { "" };
    match std::str::from_utf8(shown) {
        Ok(text) => format!("payload (text, not JSON):\n{text}{more}\n"),
        Err(_) => format!("payload (bytes):\n{}{more}\n", spaced_hex(shown)),
    }
}
