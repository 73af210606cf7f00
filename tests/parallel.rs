//! Chunks compressed on rayon's pool are the same frames as chunks
//! compressed one after another.

use haystack_wire::{BaseHeader, Compression, Decoder, Encoder, Op};
use proptest::prelude::*;

fn payload(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31) ^ seed ^ (i / 977) as u8)
        .collect()
}

#[test]
fn the_grid_in_256_kib_chunks_is_byte_identical_in_parallel() {
    let grid = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/data/grid-5000.json"
    ))
    .unwrap();
    let big = grid.repeat(8);
    let base = BaseHeader::response(1, Op::HisRead);
    for algorithm in [None, Some(Compression::Zlib), Some(Compression::Lzma)] {
        let mut encoder = Encoder::new().with_compression(algorithm);
        let sequential = encoder.encode_chunked(base, &big).unwrap();
        let parallel = encoder.encode_chunked_parallel(base, &big).unwrap();
        assert_eq!(parallel.len(), 36);
        assert!(parallel == sequential, "{algorithm:?}: the frames differ");
    }
}

#[test]
fn an_empty_payload_is_one_empty_chunk_and_a_zero_chunk_size_is_refused() {
    let encoder = Encoder::new();
    let frames = encoder
        .encode_chunked_parallel(BaseHeader::push(Op::WatchPoll), b"")
        .unwrap();
    assert_eq!(frames.len(), 1);
    let message = Decoder::new().decode(&frames[0]).unwrap().unwrap();
    assert!(message.payload.is_empty());
    assert!(Encoder::new()
        .with_chunk_size(0)
        .encode_chunked_parallel(BaseHeader::push(Op::Read), b"x")
        .is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn parallel_frames_equal_sequential_frames(
        len in 0usize..20_000,
        chunk_size in 1usize..5_000,
        seed in any::<u8>(),
        zlib in any::<bool>(),
    ) {
        let data = payload(len, seed);
        let algorithm = zlib.then_some(Compression::Zlib);
        let mut encoder = Encoder::new().with_compression(algorithm).with_chunk_size(chunk_size);
        let base = BaseHeader::request(9, Op::Read);
        prop_assert_eq!(encoder.encode_chunked_parallel(base, &data).unwrap(), encoder.encode_chunked(base, &data).unwrap());
    }
}
