//! Reassembly holds the message, one chunk and little else: at its peak, at
//! most the payload plus one chunk plus 10%, raw or compressed, when the
//! chunks come in order.

#[path = "support/memory.rs"]
mod memory;

use haystack_wire::protocol::defaults;
use haystack_wire::{BaseHeader, Compression, Encoder, Op};

#[global_allocator]
static ALLOCATOR: memory::Counting = memory::Counting;

/// About 9.4 MB: eight copies of the 5,000-row grid.
fn payload() -> Vec<u8> {
    std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/data/grid-5000.json"
    ))
    .unwrap()
    .repeat(8)
}

fn frames(payload: &[u8], algorithm: Option<Compression>) -> Vec<Vec<u8>> {
    Encoder::new()
        .with_compression(algorithm)
        .with_chunk_size(defaults::CHUNK_SIZE)
        .encode_chunked(BaseHeader::response(1, Op::HisRead), payload)
        .unwrap()
}

// One test in this binary: the harness runs tests on parallel threads, and
// the counters are global.
#[test]
fn reassembly_peaks_within_the_payload_plus_one_chunk_plus_ten_percent() {
    let payload = payload();
    let mut cases = Vec::new();
    for (name, algorithm) in [("raw", None), ("zlib", Some(Compression::Zlib))] {
        let in_order = frames(&payload, algorithm);
        // Last chunk first: every chunk but chunk 0 waits for it.
        let mut reversed = in_order.clone();
        reversed.reverse();
        cases.push((format!("{name}, in order"), in_order, 1.10));
        // Chunks that wait are held beside the message they then join, which
        // grows while they are let go one by one: the 10% bound is for
        // chunks in order, as the reference and this crate send them, and
        // out of order the peak stays under twice the payload plus a chunk.
        cases.push((format!("{name}, reversed"), reversed, 2.0));
    }
    for (name, frames, bound) in cases {
        let measured = memory::reassembly_peak(&frames, defaults::CHUNK_SIZE);
        assert_eq!(measured.payload, payload.len(), "{name}");
        assert!(
            measured.ratio() <= bound,
            "{name}: the peak is {} bytes, {:.3}x the payload plus one chunk ({} bytes), over {bound}x",
            measured.peak,
            measured.ratio(),
            measured.payload + measured.chunk,
        );
        println!(
            "{name}: peak {} bytes, {:.3}x the payload plus one chunk",
            measured.peak,
            measured.ratio()
        );
    }
}
