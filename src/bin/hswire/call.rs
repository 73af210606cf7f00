//! `hswire call`: one request to a server, its response grid on stdout.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use haystack_wire::connection::{Client, ClientConfig, ClientError};
use haystack_wire::{hayson, Compression, Op};
use libhaystack::val::Grid;

/// What `call` takes.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The server's WebSocket URL, e.g. ws://127.0.0.1:8080.
    #[arg(long)]
    url: String,
    /// Offer this algorithm in the capability handshake (zlib or lzma).
    #[arg(long)]
    compression: Option<Compression>,
    /// Offer chunking in the capability handshake.
    #[arg(long)]
    chunked: bool,
    /// Send this token first.
    #[arg(long)]
    auth_token: Option<String>,
    /// Seconds to connect (TCP, WebSocket upgrade, token and handshake
    /// together), and then again for the response. A server that ignores
    /// the capability offer is only reached if this outlasts the handshake's
    /// fallback wait.
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = seconds)]
    timeout: Duration,
    /// The op, by its Haystack name (e.g. about, read, hisRead).
    op: Op,
    /// The request grid as Haystack 4 JSON (default: an empty grid).
    #[arg(long)]
    grid: Option<String>,
}

pub fn run(args: &Args) -> Result<ExitCode, Box<dyn std::error::Error>> {
    // Read the grid before connecting, so a typo costs no connection.
    let request = match &args.grid {
        Some(json) => hayson::decode_grid(json.as_bytes()).map_err(|error| format!("--grid: {error}"))?,
        None => Grid::make_empty(),
    };
    let mut config = ClientConfig::new()
        .compression(args.compression)
        .chunked(args.chunked)
        .connect_timeout(args.timeout)
        .request_timeout(Some(args.timeout));
    if let Some(token) = &args.auth_token {
        config = config.auth_token(token.clone());
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let client = Client::connect(&args.url, config).await?;
        let outcome = client.call::<Grid>(args.op, &request).await;
        client.close().await;
        match outcome {
            Ok(grid) => {
                let mut stdout = std::io::stdout().lock();
                stdout.write_all(&hayson::encode_grid(&grid))?;
                stdout.write_all(b"\n")?;
                Ok(ExitCode::SUCCESS)
            }
            Err(ClientError::Remote { dis, .. }) => {
                eprintln!("{dis}");
                Ok(ExitCode::FAILURE)
            }
            Err(error) => Err(error.into()),
        }
    })
}

/// A positive, finite number of seconds (fractions allowed).
fn seconds(text: &str) -> Result<Duration, String> {
    let seconds: f64 = text
        .parse()
        .map_err(|_| format!("`{text}` is not a number of seconds"))?;
    if seconds.is_nan() || seconds <= 0.0 {
        return Err(format!("`{text}`: the timeout must be more than 0 seconds"));
    }
    Duration::try_from_secs_f64(seconds).map_err(|_| format!("`{text}` seconds is too long a timeout"))
}
