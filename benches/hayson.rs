//! Haystack 4 JSON of libhaystack grids beside serde_json on the same bytes:
//! the reference's 5,000-row benchmark grid (1,178,289 bytes) decoded into a
//! libhaystack `Grid` and encoded back, next to `serde_json::Value` doing the
//! same with the same bytes. The ratio of the two is the figure to watch.
//!
//! ```text
//! cargo bench --features libhaystack --bench hayson
//! ```

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use haystack_wire::hayson;

/// The reference's benchmark grid: 5,000 rows, 1,178,289 bytes of JSON.
fn grid_5000() -> Vec<u8> {
    std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/data/grid-5000.json"
    ))
    .expect("examples/data/grid-5000.json is bundled")
}

fn grid_5000_json(c: &mut Criterion) {
    let bytes = grid_5000();
    let grid = hayson::decode_grid(&bytes).expect("the bundled grid decodes");
    let tree: serde_json::Value = serde_json::from_slice(&bytes).expect("the bundled grid is JSON");

    let mut group = c.benchmark_group("hayson_5000");
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(6));
    group.bench_function("hayson_decode", |b| {
        b.iter(|| hayson::decode_grid(black_box(&bytes)).expect("decodes"))
    });
    group.bench_function("serde_json_decode", |b| {
        b.iter(|| serde_json::from_slice::<serde_json::Value>(black_box(&bytes)).expect("parses"))
    });
    group.bench_function("hayson_encode", |b| {
        b.iter(|| hayson::encode_grid(black_box(&grid)))
    });
    group.bench_function("serde_json_encode", |b| {
        b.iter(|| serde_json::to_vec(black_box(&tree)).expect("writes"))
    });
    group.finish();
}

criterion_group!(benches, grid_5000_json);
criterion_main!(benches);
