//! The zlib-rs backend writes other bytes than the stock zlib, but streams
//! that any zlib decoder reads back to the same payload.

use std::io::Read;

use haystack_wire::{BaseHeader, Compression, Decoder, Decompressor, Encoder, Error, Frame, Op, ZlibBackend};
use proptest::prelude::*;

fn grid() -> Vec<u8> {
    std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/data/grid-5000.json"
    ))
    .unwrap()
}

fn fast_zlib() -> Encoder {
    Encoder::new()
        .with_compression(Some(Compression::Zlib))
        .with_zlib_backend(ZlibBackend::ZlibRs)
}

#[test]
fn the_default_backend_is_the_stock_zlib() {
    assert_eq!(ZlibBackend::default(), ZlibBackend::Stock);
    assert_eq!(
        haystack_wire::Compressor::new().zlib_backend(),
        ZlibBackend::Stock
    );
    let compressor = haystack_wire::Compressor::with_zlib_backend(ZlibBackend::ZlibRs);
    assert_eq!(compressor.zlib_backend(), ZlibBackend::ZlibRs);
}

#[test]
fn the_grid_compressed_by_zlib_rs_reads_back_through_the_stock_zlib() {
    let grid = grid();
    let frame = fast_zlib()
        .encode(BaseHeader::response(3, Op::Read), &grid)
        .unwrap();
    let view = Frame::decode(&frame).unwrap();
    assert_eq!(view.compression(), Some(Compression::Zlib));
    assert!(
        view.payload.len() < grid.len() / 10,
        "{} bytes",
        view.payload.len()
    );
    let mut stock = Vec::new();
    flate2::read::ZlibDecoder::new(view.payload)
        .read_to_end(&mut stock)
        .unwrap();
    assert!(stock == grid, "the payload differs");
    let message = Decoder::new().decode(&frame).unwrap().unwrap();
    assert_eq!((message.request_id, message.op), (3, Op::Read));
    assert!(*message.payload == grid[..], "the payload differs");
}

/// The stock zlib's stream of `data`, at the spec's level.
fn stock_zlib(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    haystack_wire::Compressor::new()
        .compress(Compression::Zlib, data, &mut out)
        .unwrap();
    out
}

#[test]
fn zlib_rs_decompression_reads_the_stock_stream_up_to_the_cap_and_not_a_byte_past_it() {
    // Long enough to span several of the windows the decompressor fills.
    let grid = grid();
    let stream = stock_zlib(&grid);
    let mut out = Vec::new();
    let mut decompressor = Decompressor::new();
    decompressor
        .decompress(Compression::Zlib, &stream, grid.len(), &mut out)
        .unwrap();
    assert!(out == grid, "the payload differs");
    out.clear();
    let over = decompressor.decompress(Compression::Zlib, &stream, grid.len() - 1, &mut out);
    assert!(
        matches!(over, Err(Error::DecompressedTooLarge { limit, .. }) if limit == grid.len() - 1),
        "{over:?}"
    );
    assert!(out.is_empty(), "a refusal leaves the buffer as it was");
}

#[test]
fn zlib_rs_decompression_refuses_what_the_stock_zlib_would_let_through_or_refuse() {
    let grid = grid();
    let stream = stock_zlib(&grid);
    let mut decompressor = Decompressor::new();
    let mut read =
        |input: &[u8]| decompressor.decompress(Compression::Zlib, input, usize::MAX, &mut Vec::new());
    assert!(matches!(
        read(&stream[..stream.len() - 5]),
        Err(Error::TruncatedCompressed { .. })
    ));
    let mut trailing = stream.clone();
    trailing.extend_from_slice(b"more");
    assert!(matches!(
        read(&trailing),
        Err(Error::TrailingCompressed { trailing: 4, .. })
    ));
    let mut corrupt = stream.clone();
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0xff; // the Adler-32 no longer matches
    assert!(matches!(read(&corrupt), Err(Error::CorruptCompressed { .. })));
    assert!(matches!(
        read(b"not zlib at all"),
        Err(Error::CorruptCompressed { .. })
    ));
    // And after all that, the same decompressor still reads a good stream.
    let mut out = Vec::new();
    decompressor
        .decompress(Compression::Zlib, &stream, usize::MAX, &mut out)
        .unwrap();
    assert!(out == grid);
}

#[test]
fn one_encoder_compresses_many_frames_in_a_row() {
    let grid = grid();
    let mut encoder = fast_zlib();
    let mut decoder = Decoder::new();
    for len in [1024, 70_000, 3_000, grid.len()] {
        let frame = encoder
            .encode(BaseHeader::push(Op::WatchPoll), &grid[..len])
            .unwrap();
        let message = decoder.decode(&frame).unwrap().unwrap();
        assert!(
            *message.payload == grid[..len],
            "{len} bytes: the payload differs"
        );
    }
}

#[test]
fn chunks_compressed_by_zlib_rs_reassemble() {
    let big = grid().repeat(3);
    let mut encoder = fast_zlib();
    let frames = encoder
        .encode_chunked(BaseHeader::response(5, Op::HisRead), &big)
        .unwrap();
    assert_eq!(frames.len(), big.len().div_ceil(256 * 1024));
    let mut decoder = Decoder::new();
    let mut whole = None;
    for frame in &frames {
        whole = decoder.decode(frame).unwrap().map(|message| message.into_owned());
    }
    assert!(*whole.unwrap().payload == big[..], "the payload differs");
}

#[cfg(feature = "rayon")]
#[test]
fn parallel_chunks_by_zlib_rs_equal_sequential_ones() {
    let big = grid().repeat(3);
    let mut encoder = fast_zlib();
    let base = BaseHeader::response(5, Op::HisRead);
    let sequential = encoder.encode_chunked(base, &big).unwrap();
    // The stock backend on the same pool threads first, so that the threads
    // must switch their compressors.
    let stock = Encoder::new().with_compression(Some(Compression::Zlib));
    assert_eq!(
        stock.encode_chunked_parallel(base, &big).unwrap().len(),
        sequential.len()
    );
    assert!(
        encoder.encode_chunked_parallel(base, &big).unwrap() == sequential,
        "the frames differ"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_payload_round_trips(data in proptest::collection::vec(any::<u8>(), 1024..40_000), repeat in 1usize..4) {
        let data = data.repeat(repeat);
        let frame = fast_zlib().encode(BaseHeader::request(1, Op::HisWrite), &data).unwrap();
        let message = Decoder::new().decode(&frame).unwrap().unwrap();
        prop_assert!(*message.payload == data[..]);
    }
}
