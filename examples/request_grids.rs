//! Writes the request grids of this crate's builders
//! (`haystack_wire::connection::requests`), one file per case of
//! tests/vectors/requests, into a directory, so that the reference can read
//! them back: `tests/interop/requests.py <directory>` decodes each with the
//! reference's decoder, encodes it again with its encoder, and compares the
//! bytes with those of the reference's own client.
//!
//! ```text
//! cargo run --example request_grids --features tokio,libhaystack -- target/request-grids
//! python tests/interop/requests.py target/request-grids
//! ```

#[path = "../tests/support/request_cases.rs"]
mod request_cases;

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(dir) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: request_grids <directory>");
        return ExitCode::from(2);
    };
    if let Err(error) = std::fs::create_dir_all(&dir) {
        eprintln!("cannot create {}: {error}", dir.display());
        return ExitCode::FAILURE;
    }
    let cases = request_cases::cases();
    for (name, request) in &cases {
        let path = dir.join(format!("{name}.json"));
        let mut bytes = request.encode();
        bytes.push(b'\n');
        if let Err(error) = std::fs::write(&path, bytes) {
            eprintln!("cannot write {}: {error}", path.display());
            return ExitCode::FAILURE;
        }
        println!("{name}\t{}", request.op());
    }
    println!("wrote {} request grids to {}", cases.len(), dir.display());
    ExitCode::SUCCESS
}
