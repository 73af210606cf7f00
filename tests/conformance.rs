//! Conformance with the reference: `tests/vectors/frames.json` holds frames
//! made by haystack-py 0.1.10 itself (`scripts/gen_vectors.py`). For every
//! vector, our encoder must produce the same bytes and our decoder must give
//! back the header and payload the reference's decoder gave. No Python needed.

use std::collections::BTreeSet;

use haystack_wire::protocol::defaults;
use haystack_wire::{BaseHeader, Compression, Decoder, Encoder, Flags, Frame, Message, Op};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct VectorFile {
    generator: String,
    defaults: Defaults,
    vectors: Vec<Vector>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Defaults {
    compress_threshold: usize,
    chunk_size: usize,
    chunk_threshold: usize,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Vector {
    name: String,
    mode: Mode,
    flags: u8,
    request_id: u16,
    op: String,
    compression: Option<String>,
    threshold: Option<usize>,
    chunk_size: Option<usize>,
    payload_hex: String,
    frames_hex: Vec<String>,
    decoded: Decoded,
}

#[derive(Debug, Deserialize, PartialEq, Eq, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum Mode {
    Single,
    Chunked,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Decoded {
    flags: u8,
    request_id: u16,
    op: String,
    payload_hex: String,
}

fn load() -> VectorFile {
    let text = include_str!("vectors/frames.json");
    serde_json::from_str(text).expect("tests/vectors/frames.json parses")
}

fn unhex(text: &str) -> Vec<u8> {
    assert!(text.len().is_multiple_of(2), "odd hex length");
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("vector hex is valid"))
        .collect()
}

fn op(name: &str) -> Op {
    name.parse()
        .unwrap_or_else(|_| panic!("vector op `{name}` is one of ours"))
}

fn algorithm(name: &Option<String>) -> Option<Compression> {
    name.as_deref().map(|n| {
        n.parse()
            .unwrap_or_else(|_| panic!("vector algorithm `{n}` is one of ours"))
    })
}

/// The frames our encoder makes for the vector's input.
fn encode(v: &Vector) -> Vec<Vec<u8>> {
    let base = BaseHeader {
        flags: Flags::from_bits(v.flags),
        request_id: v.request_id,
        op: op(&v.op),
    };
    let payload = unhex(&v.payload_hex);
    let encoder = Encoder::new().with_compression(algorithm(&v.compression));
    match v.mode {
        Mode::Single => {
            let threshold = v.threshold.expect("single vectors give their threshold");
            vec![encoder
                .with_threshold(threshold)
                .encode(base, &payload)
                .expect("encodes")]
        }
        Mode::Chunked => {
            let chunk_size = v.chunk_size.expect("chunked vectors give their chunk size");
            encoder
                .with_chunk_size(chunk_size)
                .encode_chunked(base, &payload)
                .expect("encodes")
        }
    }
}

/// The messages our decoder gives for the vector's frames.
fn decode(frames: &[Vec<u8>]) -> Vec<Message<'static>> {
    let mut decoder = Decoder::new();
    frames
        .iter()
        .filter_map(|f| decoder.decode(f).expect("decodes").map(Message::into_owned))
        .collect()
}

#[test]
fn the_vectors_come_from_the_reference_with_our_defaults() {
    let file = load();
    assert!(
        file.generator.contains("haystack-py 0.1.10"),
        "{}",
        file.generator
    );
    assert_eq!(file.defaults.compress_threshold, defaults::COMPRESS_THRESHOLD);
    assert_eq!(file.defaults.chunk_size, defaults::CHUNK_SIZE);
    assert_eq!(file.defaults.chunk_threshold, defaults::CHUNK_THRESHOLD);
}

#[test]
fn our_encoder_makes_the_reference_bytes() {
    let file = load();
    for v in &file.vectors {
        let expected: Vec<Vec<u8>> = v.frames_hex.iter().map(|h| unhex(h)).collect();
        let ours = encode(v);
        assert_eq!(ours.len(), expected.len(), "{}: frame count", v.name);
        for (i, (ours, theirs)) in ours.iter().zip(&expected).enumerate() {
            assert!(
                ours == theirs,
                "{}: frame {i} differs\n ours:   {ours:02x?}\n theirs: {theirs:02x?}",
                v.name
            );
        }
    }
}

#[test]
fn our_decoder_gives_back_what_the_reference_decoded() {
    let file = load();
    for v in &file.vectors {
        let frames: Vec<Vec<u8>> = v.frames_hex.iter().map(|h| unhex(h)).collect();
        // The header as the reference reads it: its flags include the compressed
        // and chunked bits.
        for frame in &frames {
            let header = Frame::decode(frame).unwrap_or_else(|e| panic!("{}: {e}", v.name));
            assert_eq!(header.flags().bits(), v.decoded.flags, "{}: header flags", v.name);
        }
        let messages = decode(&frames);
        assert_eq!(messages.len(), 1, "{}: one message", v.name);
        let message = &messages[0];
        let announced = Flags::COMPRESSED | Flags::CHUNKED;
        assert_eq!(
            message.flags,
            Flags::from_bits(v.decoded.flags).difference(announced),
            "{}: message flags",
            v.name
        );
        assert_eq!(message.request_id, v.decoded.request_id, "{}", v.name);
        assert_eq!(message.op, op(&v.decoded.op), "{}", v.name);
        assert!(
            message.payload == unhex(&v.decoded.payload_hex),
            "{}: payload",
            v.name
        );
        assert_eq!(
            v.decoded.payload_hex, v.payload_hex,
            "{}: the reference round-trips",
            v.name
        );
    }
}

#[test]
fn the_vectors_cover_what_the_issue_asks_for() {
    let file = load();
    let vectors = &file.vectors;
    let names: BTreeSet<&str> = vectors.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(names.len(), vectors.len(), "vector names are unique");

    let ops: BTreeSet<Op> = vectors.iter().map(|v| op(&v.op)).collect();
    assert_eq!(ops.len(), Op::ALL.len(), "every op");

    let algorithms = [None, Some(Compression::Zlib), Some(Compression::Lzma)];
    for mode in [Mode::Single, Mode::Chunked] {
        for flags in 0..=(Flags::RESPONSE | Flags::ERROR | Flags::PUSH).bits() {
            for algorithm in algorithms {
                assert!(
                    vectors.iter().any(|v| v.mode == mode
                        && v.flags == flags
                        && crate::algorithm(&v.compression) == algorithm),
                    "no {mode:?} vector with flags {flags:#04x} and {algorithm:?}"
                );
            }
        }
    }

    let threshold = defaults::COMPRESS_THRESHOLD;
    for size in [0, threshold - 1, threshold, threshold + 1] {
        for algorithm in algorithms {
            assert!(
                vectors.iter().any(|v| v.mode == Mode::Single
                    && v.payload_hex.len() / 2 == size
                    && v.threshold == Some(threshold)
                    && crate::algorithm(&v.compression) == algorithm),
                "no single vector of {size} bytes with {algorithm:?}"
            );
        }
    }

    let chunked: Vec<&Vector> = vectors.iter().filter(|v| v.mode == Mode::Chunked).collect();
    let divides = |v: &&Vector| {
        v.chunk_size
            .is_some_and(|c| (v.payload_hex.len() / 2).is_multiple_of(c))
    };
    assert!(
        chunked.iter().any(|v| divides(v) && v.frames_hex.len() > 1),
        "a chunk size that divides"
    );
    assert!(
        chunked.iter().any(|v| !divides(v) && v.frames_hex.len() > 1),
        "a chunk size that does not"
    );
    assert!(
        vectors
            .iter()
            .any(|v| v.payload_hex.len() / 2 > 10_000 && v.payload_hex.contains(&hex(b"\"rows\""))),
        "a realistic multi-row grid"
    );
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
