//! `hswire call`: one request to a server, its response grid on stdout.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use haystack_wire::connection::{Client, ClientConfig, ClientError, ClientTls, TlsRoots};
use haystack_wire::{hayson, Compression, Op};
use libhaystack::val::Grid;

use crate::password::read_password;

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
    /// Log in as this user (SCRAM-SHA-256) instead of sending a token.
    #[arg(long, conflicts_with = "auth_token")]
    user: Option<String>,
    /// The password of --user; without it, the password is prompted without
    /// echo on a terminal, or read as one line from stdin.
    #[arg(long, requires = "user")]
    password: Option<String>,
    /// Seconds to connect (TCP, WebSocket upgrade, token and handshake
    /// together), and then again for the response. A server that ignores
    /// the capability offer is only reached if this outlasts the handshake's
    /// fallback wait.
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = seconds)]
    timeout: Duration,
    /// For wss:// URLs: trust the CA certificates of this PEM file instead of
    /// the Mozilla roots.
    #[arg(long, value_name = "FILE")]
    ca: Option<PathBuf>,
    /// For wss:// servers that require one: present the certificate chain of
    /// this PEM file (with --key).
    #[arg(long, value_name = "FILE", requires = "key")]
    cert: Option<PathBuf>,
    /// The private key of --cert, a PEM file.
    #[arg(long, value_name = "FILE", requires = "cert")]
    key: Option<PathBuf>,
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
    if let Some(user) = &args.user {
        let password = match &args.password {
            Some(password) => password.clone(),
            None => read_password(&format!("password for {user}: "))?,
        };
        config = config.login(user.clone(), password);
    }
    if args.ca.is_some() || args.cert.is_some() {
        config = config.tls(client_tls(args)?);
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

/// The TLS setting the flags ask for, each file named when it fails.
fn client_tls(args: &Args) -> Result<ClientTls, String> {
    let roots = match &args.ca {
        Some(path) => {
            TlsRoots::from_pem(&read_pem(path)?).map_err(|error| format!("{}: {error}", path.display()))?
        }
        None => TlsRoots::webpki(),
    };
    match (&args.cert, &args.key) {
        (Some(cert), Some(key)) => {
            ClientTls::with_client_certificate(roots, &read_pem(cert)?, &read_pem(key)?)
                .map_err(|error| format!("{} / {}: {error}", cert.display(), key.display()))
        }
        _ => ClientTls::new(roots).map_err(|error| error.to_string()),
    }
}

/// A PEM file's bytes.
pub fn read_pem(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|error| format!("{}: {error}", path.display()))
}
