//! The bytes of each kind of frame, pinned as annotated hex: a change to the
//! layout, the flags, the op codes or the compressors shows here in review.
//! The annotation walks the generated field table, so it follows the spec.

use haystack_wire::fields::header_fields;
use haystack_wire::{BaseHeader, Compression, Encoder, Op};

/// One line per header field (offset, bytes, section.field, meaning), then the payload.
fn annotate(frame: &[u8]) -> String {
    let mut out = String::new();
    let fields = header_fields(frame);
    for field in &fields {
        let bytes = hex(field.bytes.expect("the frame holds its header"));
        out.push_str(&format!(
            "{:>2}  {bytes:<6} {:<20} {}\n",
            field.offset,
            field.name(),
            field.meaning()
        ));
    }
    let end = fields.last().map_or(0, |f| f.offset + f.layout.size);
    let payload = &frame[end..];
    out.push_str(&format!("{end:>2}  payload, {} bytes:\n", payload.len()));
    for line in payload.chunks(24) {
        out.push_str(&format!("    {}\n", hex(line)));
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

const PAYLOAD: &[u8] = br#"{"_kind":"grid","meta":{"ver":"3.0"},"cols":[{"name":"id"}],"rows":[]}"#;

fn compressed(algorithm: Compression) -> Encoder {
    Encoder::new().with_compression(Some(algorithm)).with_threshold(0)
}

#[test]
fn v1_request() {
    insta::assert_snapshot!(annotate(&Encoder::new().request(7, Op::Read, PAYLOAD).unwrap()));
}

#[test]
fn v1_response() {
    insta::assert_snapshot!(annotate(
        &Encoder::new().response(7, Op::Read, PAYLOAD, false).unwrap()
    ));
}

#[test]
fn v1_error_response() {
    insta::assert_snapshot!(annotate(
        &Encoder::new().response(7, Op::Read, PAYLOAD, true).unwrap()
    ));
}

#[test]
fn v1_push() {
    insta::assert_snapshot!(annotate(&Encoder::new().push(Op::WatchPoll, PAYLOAD).unwrap()));
}

#[test]
fn v2_zlib() {
    insta::assert_snapshot!(annotate(
        &compressed(Compression::Zlib)
            .response(513, Op::HisRead, PAYLOAD, false)
            .unwrap()
    ));
}

#[test]
fn v2_lzma() {
    insta::assert_snapshot!(annotate(
        &compressed(Compression::Lzma)
            .response(513, Op::HisRead, PAYLOAD, false)
            .unwrap()
    ));
}

#[test]
fn chunked_uncompressed() {
    let frames = Encoder::new()
        .with_chunk_size(32)
        .encode_chunked(BaseHeader::response(65535, Op::Read), PAYLOAD)
        .unwrap();
    let shown: Vec<String> = frames.iter().map(|f| annotate(f)).collect();
    insta::assert_snapshot!(shown.join("\n"));
}

#[test]
fn chunked_zlib() {
    let frames = compressed(Compression::Zlib)
        .with_chunk_size(48)
        .encode_chunked(BaseHeader::push(Op::WatchPoll), PAYLOAD)
        .unwrap();
    let shown: Vec<String> = frames.iter().map(|f| annotate(f)).collect();
    insta::assert_snapshot!(shown.join("\n"));
}

#[test]
fn chunked_lzma() {
    let frames = compressed(Compression::Lzma)
        .with_chunk_size(48)
        .encode_chunked(BaseHeader::request(2, Op::HisWrite), PAYLOAD)
        .unwrap();
    let shown: Vec<String> = frames.iter().map(|f| annotate(f)).collect();
    insta::assert_snapshot!(shown.join("\n"));
}
