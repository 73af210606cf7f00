//! Peak memory of reassembling the 9.4 MB payload from 256 KiB chunks, raw and
//! zlib, in order and last chunk first. Not a criterion benchmark: it counts
//! bytes, not time, and prints one line per case for `scripts/compare.py`.
//!
//! Run with `cargo bench --bench memory`.

#[path = "../tests/support/memory.rs"]
mod memory;

use haystack_wire::protocol::defaults;
use haystack_wire::{BaseHeader, Compression, Encoder, Op};

#[global_allocator]
static ALLOCATOR: memory::Counting = memory::Counting;

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not, and
    // then there is nothing to measure.
    if !std::env::args().any(|arg| arg == "--bench") {
        return;
    }
    let grid = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/data/grid-5000.json"
    ))
    .expect("examples/data/grid-5000.json is readable");
    let payload = grid.repeat(8);
    for (name, algorithm) in [("raw", None), ("zlib", Some(Compression::Zlib))] {
        let in_order = Encoder::new()
            .with_compression(algorithm)
            .with_chunk_size(defaults::CHUNK_SIZE)
            .encode_chunked(BaseHeader::response(1, Op::HisRead), &payload)
            .expect("the payload encodes");
        let mut reversed = in_order.clone();
        reversed.reverse();
        for (order, frames) in [("in order", &in_order), ("last chunk first", &reversed)] {
            let measured = memory::reassembly_peak(frames, defaults::CHUNK_SIZE);
            println!(
                "reassembly peak, {name}, {order}: {} bytes for a {}-byte payload, {:.3}x the payload plus one chunk",
                measured.peak,
                measured.payload,
                measured.ratio(),
            );
        }
    }
}
