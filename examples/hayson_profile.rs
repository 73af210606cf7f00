//! Runs one Haystack 4 JSON operation on the bundled 5,000-row grid, for
//! instruction counts under callgrind (steady on a busy machine, where
//! timings are not).
//!
//! ```text
//! cargo build --release --features libhaystack --example hayson_profile
//! valgrind --tool=callgrind target/release/examples/hayson_profile decode
//! ```
//!
//! The operation is `decode` or `encode` (this crate's `hayson`),
//! `serde_json_decode` or `serde_json_encode` (serde_json's `Value` on the
//! same bytes), or `none`; the count of `none` (reading the file and
//! preparing both inputs) is what to subtract from the others. An optional
//! second argument repeats the operation.

use std::hint::black_box;
use std::process::ExitCode;

use haystack_wire::hayson;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let operation = args.next().unwrap_or_default();
    let times: usize = match args.next().map(|n| n.parse()) {
        None => 1,
        Some(Ok(n)) => n,
        Some(Err(_)) => {
            eprintln!("the repeat count is not a number");
            return ExitCode::FAILURE;
        }
    };
    let bytes = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/data/grid-5000.json"
    ))
    .expect("examples/data/grid-5000.json is bundled");
    let grid = hayson::decode_grid(&bytes).expect("the bundled grid decodes");
    let tree: serde_json::Value = serde_json::from_slice(&bytes).expect("the bundled grid is JSON");
    for _ in 0..times {
        match operation.as_str() {
            "decode" => drop(black_box(hayson::decode_grid(black_box(&bytes)))),
            "encode" => drop(black_box(hayson::encode_grid(black_box(&grid)))),
            "serde_json_decode" => drop(black_box(serde_json::from_slice::<serde_json::Value>(black_box(
                &bytes,
            )))),
            "serde_json_encode" => drop(black_box(serde_json::to_vec(black_box(&tree)))),
            "none" => {}
            other => {
                eprintln!("unknown operation {other:?}: decode, encode, serde_json_decode, serde_json_encode or none");
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}
