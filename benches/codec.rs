//! The codec on the reference's own workloads (the payload sizes of its
//! published figures), with memcpy of the same bytes as the ceiling.
//! `scripts/compare.py` runs these and the reference on the same payloads and
//! prints the ratios; to run the benchmarks alone:
//!
//! ```text
//! cargo bench --features rayon,zlib-rs --bench codec
//! ```
//!
//! Benchmark ids are `group/name`; the comparison script reads them from
//! `target/criterion`, so renaming one is a change to that script too.

use std::hint::black_box;
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkGroup, Criterion, Throughput};
use haystack_wire::protocol::defaults;
use haystack_wire::{BaseHeader, Compression, Decoder, Encoder, Frame, Op};

/// The reference's benchmark grid: 5,000 rows, 1,178,289 bytes of JSON.
fn grid_5000() -> Vec<u8> {
    std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/data/grid-5000.json"
    ))
    .expect("examples/data/grid-5000.json is bundled")
}

/// About 9.4 MB: eight copies of the 5,000-row grid, as in the reference's chunking figures.
fn payload_9mb() -> Vec<u8> {
    grid_5000().repeat(8)
}

/// A small response of 162 bytes, the size of the reference's small-frame figure.
fn small_payload() -> Vec<u8> {
    let grid = br#"{"_kind":"grid","meta":{"ver":"3.0"},"cols":[{"name":"id"},{"name":"curVal"}],"rows":[{"id":{"_kind":"ref","val":"p:1"},"curVal":{"_kind":"number","val":72.5,"unit":"F"}}]}"#;
    let mut payload = grid.to_vec();
    payload.resize(162, b' ');
    payload
}

fn header(c: &mut Criterion) {
    let base = BaseHeader::response(4242, Op::HisRead);
    let bytes = base.encode();
    let mut group = c.benchmark_group("header");
    group.bench_function("encode", |b| b.iter(|| black_box(black_box(base).encode())));
    group.bench_function("decode", |b| b.iter(|| BaseHeader::decode(black_box(&bytes))));
    group.finish();
}

fn small_frame(c: &mut Criterion) {
    let payload = small_payload();
    let mut group = c.benchmark_group("small_frame");
    group.throughput(Throughput::Bytes(payload.len() as u64));
    let mut encoder = Encoder::new();
    let mut decoder = Decoder::new();
    let mut out = Vec::with_capacity(256);
    group.bench_function("encode_decode", |b| {
        b.iter(|| {
            out.clear();
            encoder
                .encode_into(BaseHeader::response(7, Op::Read), black_box(&payload), &mut out)
                .unwrap();
            let message = decoder.decode(&out).unwrap().unwrap();
            black_box(message.payload.len())
        })
    });
    // The floor under `encode_decode`: a frame holds its payload, so making
    // one copies the payload at least once.
    group.bench_function("memcpy", |b| {
        b.iter(|| {
            out.clear();
            out.extend_from_slice(black_box(&payload));
            black_box(out.len())
        })
    });
    // Compressed small frames, where reusing the compressor's state matters most.
    for algorithm in [Compression::Zlib, Compression::Lzma] {
        let payload = grid_5000()[..2048].to_vec();
        let mut encoder = Encoder::new().with_compression(Some(algorithm));
        let mut decoder = Decoder::new();
        group.bench_function(format!("{algorithm}_2k_reused"), |b| {
            b.iter(|| {
                out.clear();
                encoder
                    .encode_into(BaseHeader::response(7, Op::Read), &payload, &mut out)
                    .unwrap();
                black_box(decoder.decode(&out).unwrap().unwrap().payload.len())
            })
        });
        group.bench_function(format!("{algorithm}_2k_fresh"), |b| {
            b.iter(|| {
                out.clear();
                let mut encoder = Encoder::new().with_compression(Some(algorithm));
                encoder
                    .encode_into(BaseHeader::response(7, Op::Read), &payload, &mut out)
                    .unwrap();
                black_box(Decoder::new().decode(&out).unwrap().unwrap().payload.len())
            })
        });
    }
    group.finish();
}

fn grid_5000_compressed(c: &mut Criterion) {
    let payload = grid_5000();
    let mut group = c.benchmark_group("grid_5000");
    group.throughput(Throughput::Bytes(payload.len() as u64));
    group.sample_size(20);
    for algorithm in [Compression::Zlib, Compression::Lzma] {
        let encoder = Encoder::new().with_compression(Some(algorithm));
        encode_and_decode(&mut group, &algorithm.to_string(), encoder, &payload);
    }
    // The optional zlib-rs backend: other bytes, measured for speed and size.
    #[cfg(feature = "zlib-rs")]
    {
        let encoder = Encoder::new()
            .with_compression(Some(Compression::Zlib))
            .with_zlib_backend(haystack_wire::ZlibBackend::ZlibRs);
        encode_and_decode(&mut group, "zlib_rs", encoder, &payload);
    }
    group.finish();
}

/// `{name}_encode`: one frame of `payload` made by `encoder` into a reused
/// buffer; `{name}_decode`: that frame decoded.
fn encode_and_decode(
    group: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    mut encoder: Encoder,
    payload: &[u8],
) {
    let base = BaseHeader::response(1, Op::Read);
    let mut out = Vec::with_capacity(payload.len());
    group.bench_function(format!("{name}_encode"), |b| {
        b.iter(|| {
            out.clear();
            encoder.encode_into(base, payload, &mut out).unwrap();
            black_box(out.len())
        })
    });
    let frame = encoder.encode(base, payload).unwrap();
    let mut decoder = Decoder::new();
    group.bench_function(format!("{name}_decode"), |b| {
        b.iter(|| black_box(decoder.decode(&frame).unwrap().unwrap().payload.len()))
    });
}

fn chunked_9mb(c: &mut Criterion) {
    let payload = payload_9mb();
    let base = BaseHeader::response(1, Op::HisRead);
    let mut group = c.benchmark_group("chunked_9mb");
    group.throughput(Throughput::Bytes(payload.len() as u64));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(8));

    let mut target = vec![0u8; payload.len()];
    group.bench_function("memcpy", |b| {
        b.iter(|| {
            target.copy_from_slice(black_box(&payload));
            black_box(target.len())
        })
    });

    for (name, algorithm) in [("raw", None), ("zlib", Some(Compression::Zlib))] {
        let mut encoder = Encoder::new()
            .with_compression(algorithm)
            .with_chunk_size(defaults::CHUNK_SIZE);
        let mut scratch = Vec::with_capacity(defaults::CHUNK_SIZE + 64);
        group.bench_function(format!("{name}_encode"), |b| {
            b.iter(|| {
                let mut wire = 0;
                encoder
                    .encode_chunked_with(base, &payload, &mut scratch, |frame| {
                        wire += black_box(frame).len();
                        Ok::<(), haystack_wire::Error>(())
                    })
                    .unwrap();
                wire
            })
        });
        let frames = encoder.encode_chunked(base, &payload).unwrap();
        group.bench_function(format!("{name}_reassemble"), |b| {
            b.iter_batched(
                Decoder::new,
                |mut decoder| {
                    let mut whole = None;
                    for frame in &frames {
                        whole = decoder
                            .decode(frame)
                            .unwrap()
                            .map(|message| message.payload.len());
                    }
                    whole.expect("the last chunk completes the message")
                },
                BatchSize::LargeInput,
            )
        });
    }
    // The same zlib chunks, compressed on every core (feature `rayon`).
    #[cfg(feature = "rayon")]
    {
        let encoder = Encoder::new()
            .with_compression(Some(Compression::Zlib))
            .with_chunk_size(defaults::CHUNK_SIZE);
        group.bench_function("zlib_encode_parallel", |b| {
            b.iter(|| encoder.encode_chunked_parallel(base, &payload).unwrap().len())
        });
    }
    // What two cores give this work when nothing is shared: each of two
    // threads compresses half of the chunks with its own encoder. The parallel
    // encoder's speed-up is read against this one as well as against one core.
    let halves = payload.split_at(payload.len().div_ceil(defaults::CHUNK_SIZE) / 2 * defaults::CHUNK_SIZE);
    let mut workers = [halves.0, halves.1].map(|half| {
        let encoder = Encoder::new()
            .with_compression(Some(Compression::Zlib))
            .with_chunk_size(defaults::CHUNK_SIZE);
        (encoder, Vec::with_capacity(defaults::CHUNK_SIZE + 64), half)
    });
    group.bench_function("zlib_encode_two_halves", |b| {
        b.iter(|| {
            std::thread::scope(|scope| {
                let running = workers.each_mut().map(|(encoder, scratch, half)| {
                    scope.spawn(move || {
                        let mut wire = 0;
                        encoder
                            .encode_chunked_with(base, half, scratch, |frame| {
                                wire += frame.len();
                                Ok::<(), haystack_wire::Error>(())
                            })
                            .unwrap();
                        wire
                    })
                });
                running.map(|worker| worker.join().unwrap()).iter().sum::<usize>()
            })
        })
    });
    // Reading a frame's header and finding its payload, without decoding it.
    let frames = Encoder::new().encode_chunked(base, &payload).unwrap();
    group.bench_function("raw_frame_views", |b| {
        b.iter(|| {
            frames
                .iter()
                .map(|frame| Frame::decode(frame).unwrap().payload.len())
                .sum::<usize>()
        })
    });
    group.finish();
}

criterion_group!(benches, header, small_frame, grid_5000_compressed, chunked_9mb);
criterion_main!(benches);
