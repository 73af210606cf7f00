//! The main job on a realistic payload: a 5,000-row Haystack grid (the
//! reference's benchmark shape, bundled in `examples/data/grid-5000.json`)
//! encoded, compressed and chunked, then decoded and reassembled, with sizes
//! and times for each way of sending it.
//!
//! ```text
//! cargo run --release --example grid_roundtrip [PAYLOAD_FILE]
//! ```

use std::time::{Duration, Instant};

use haystack_wire::protocol::defaults;
use haystack_wire::{BaseHeader, Compression, Decoder, Encoder, Error, Message, Op};

/// How many times each way is timed; the fastest run is reported.
const RUNS: usize = 5;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (path, shown) = match std::env::args().nth(1) {
        Some(path) => (path.clone(), path),
        None => (
            concat!(env!("CARGO_MANIFEST_DIR"), "/examples/data/grid-5000.json").to_owned(),
            "examples/data/grid-5000.json (bundled)".to_owned(),
        ),
    };
    let payload = std::fs::read(&path).map_err(|e| format!("cannot read {shown}: {e}"))?;
    println!("payload: {shown}, {} bytes", payload.len());
    println!();
    println!(
        "{:<22}{:>8}{:>14}{:>12}{:>12}",
        "way", "frames", "wire bytes", "encode", "decode"
    );

    let base = BaseHeader::response(1, Op::Read);
    let ways: [(&str, Option<Compression>, bool); 6] = [
        ("single, plain", None, false),
        ("single, zlib", Some(Compression::Zlib), false),
        ("single, lzma", Some(Compression::Lzma), false),
        ("chunked, plain", None, true),
        ("chunked, zlib", Some(Compression::Zlib), true),
        ("chunked, lzma", Some(Compression::Lzma), true),
    ];
    for (name, algorithm, chunked) in ways {
        let mut encoder = Encoder::new()
            .with_compression(algorithm)
            .with_chunk_size(defaults::CHUNK_SIZE);
        let (frames, encode_time) = fastest(|| {
            if chunked {
                encoder.encode_chunked(base, &payload)
            } else {
                encoder.encode(base, &payload).map(|frame| vec![frame])
            }
        })?;
        let (message, decode_time) = fastest(|| reassemble(&frames))?;
        if message.payload != payload || message.request_id != base.request_id || message.op != base.op {
            return Err(format!("{name}: the decoded message differs from what was sent").into());
        }
        let wire: usize = frames.iter().map(Vec::len).sum();
        println!(
            "{name:<22}{:>8}{wire:>14}{:>12}{:>12}",
            frames.len(),
            show(encode_time),
            show(decode_time)
        );
    }
    println!();
    println!("every way decoded back to the same {} bytes", payload.len());
    Ok(())
}

/// Decodes `frames` with a fresh decoder and returns the one message they make.
fn reassemble(frames: &[Vec<u8>]) -> Result<Message<'static>, Error> {
    let mut decoder = Decoder::new();
    let mut message = None;
    for frame in frames {
        if let Some(m) = decoder.decode(frame)? {
            message = Some(m.into_owned());
        }
    }
    Ok(message.expect("the last frame completes the message"))
}

/// Runs `f` [`RUNS`] times; returns its last result and the fastest time.
fn fastest<T>(mut f: impl FnMut() -> Result<T, Error>) -> Result<(T, Duration), Error> {
    let mut best = Duration::MAX;
    let mut result = None;
    for _ in 0..RUNS {
        let start = Instant::now();
        let value = f()?;
        best = best.min(start.elapsed());
        result = Some(value);
    }
    Ok((result.expect("RUNS is not zero"), best))
}

fn show(time: Duration) -> String {
    format!("{:.2} ms", time.as_secs_f64() * 1e3)
}
