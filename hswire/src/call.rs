//! `hswire call`: one request to a server, its response grid on stdout; or a
//! batch of requests from a file, one answer per line.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use haystack_wire::connection::{Client, ClientConfig, ClientError, ClientTls, TlsRoots};
use haystack_wire::{hayson, Compression, Op};
use libhaystack::val::Grid;

use crate::batch_file::{self, BatchItem};
use crate::output::io_words;
use crate::password::read_password;

/// What `call` takes.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The server's WebSocket URL, e.g. ws://127.0.0.1:8080.
    #[arg(long)]
    url: String,
    /// Offer this algorithm in the capability handshake (zlib or lzma).
    #[arg(long, value_parser = crate::names::compression)]
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
    /// Send the request as a JSON envelope in a text message
    /// ({"id": .., "op": .., "grid": ..}) instead of a binary frame, as the
    /// reference's client does by default. Nothing is compressed or chunked
    /// then, so --compression and --chunked offer nothing.
    #[arg(long)]
    json_mode: bool,
    /// Send the requests of FILE (`-`: stdin) as one batch: a JSON array of
    /// {"op": "<name>", "grid": <Haystack 4 JSON grid>} objects, the grid
    /// optional. Prints one line per answer, in the order of the requests:
    /// the response grid, or `error: ` and what went wrong; exits 1 if any
    /// request failed. A batch over the protocol's cap of requests is refused
    /// before connecting.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["op", "grid"])]
    batch: Option<String>,
    /// The op, by its Haystack name (e.g. about, read, hisRead).
    #[arg(required_unless_present = "batch", value_parser = crate::names::op)]
    op: Option<Op>,
    /// The request grid as Haystack 4 JSON (default: an empty grid).
    #[arg(long)]
    grid: Option<String>,
}

/// What is sent: one request, or a batch of them.
enum Requests {
    One(Op, Grid),
    Batch(Vec<BatchItem>),
}

pub fn run(args: &Args) -> Result<ExitCode, Box<dyn std::error::Error>> {
    // Read the grid or the batch before connecting, so a typo costs no connection.
    if args.batch.as_deref() == Some("-") && args.user.is_some() && args.password.is_none() {
        return Err("--batch - reads the requests from stdin, so --user needs its --password".into());
    }
    let requests = match (&args.batch, args.op) {
        (Some(file), _) => Requests::Batch(batch_file::read(file)?),
        (None, Some(op)) => Requests::One(
            op,
            match &args.grid {
                Some(json) => {
                    hayson::decode_grid(json.as_bytes()).map_err(|error| format!("--grid: {error}"))?
                }
                None => Grid::make_empty(),
            },
        ),
        (None, None) => return Err("name an op, or give --batch".into()),
    };
    let mut config = ClientConfig::new()
        .compression(args.compression)
        .chunked(args.chunked)
        .json_mode(args.json_mode)
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
        let (op, request) = match requests {
            Requests::One(op, request) => (op, request),
            Requests::Batch(items) => {
                let outcome = batch(&client, items).await;
                client.close().await;
                return outcome;
            }
        };
        let outcome = client.call::<Grid>(op, &request).await;
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

/// Sends `items` as one batch and prints one line per answer: the grid, or
/// `error: ` and why the item failed. Exit 1 when any item failed.
async fn batch(client: &Client, items: Vec<BatchItem>) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let answers = client
        .batch(items.into_iter().map(|item| (item.op, item.payload)))
        .await?;
    let mut stdout = std::io::stdout().lock();
    let mut failed = false;
    for answer in answers {
        let line = match answer {
            // The grid as `call` prints it: read, then written again as Haystack 4 JSON.
            Ok(payload) => match hayson::decode_grid(&payload) {
                Ok(grid) => hayson::encode_grid(&grid),
                Err(error) => {
                    failed = true;
                    format!("{}the answer is not a grid: {error}", batch_file::ERROR_PREFIX).into_bytes()
                }
            },
            Err(ClientError::Remote { dis, .. }) => {
                failed = true;
                format!("{}{dis}", batch_file::ERROR_PREFIX).into_bytes()
            }
            Err(error) => {
                failed = true;
                format!("{}{error}", batch_file::ERROR_PREFIX).into_bytes()
            }
        };
        stdout.write_all(&line)?;
        stdout.write_all(b"\n")?;
    }
    stdout.flush()?;
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// A positive, finite number of seconds (fractions allowed).
pub fn seconds(text: &str) -> Result<Duration, String> {
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
    tls_of(args.ca.as_deref(), args.cert.as_deref(), args.key.as_deref())
}

/// The TLS setting of `--ca`, `--cert` and `--key`, each file named when it fails.
pub fn tls_of(ca: Option<&Path>, cert: Option<&Path>, key: Option<&Path>) -> Result<ClientTls, String> {
    let roots = match ca {
        Some(path) => {
            TlsRoots::from_pem(&read_pem(path)?).map_err(|error| format!("{}: {error}", path.display()))?
        }
        None => TlsRoots::webpki(),
    };
    match (cert, key) {
        (Some(cert), Some(key)) => {
            ClientTls::with_client_certificate(roots, &read_pem(cert)?, &read_pem(key)?)
                .map_err(|error| format!("{} / {}: {error}", cert.display(), key.display()))
        }
        _ => ClientTls::new(roots).map_err(|error| error.to_string()),
    }
}

/// A PEM file's bytes.
pub fn read_pem(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|error| format!("cannot read {}: {}", path.display(), io_words(&error)))
}
