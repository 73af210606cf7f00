//! `hswire encode`: a payload on stdin, frames on stdout.

use std::io::{Read, Write};
use std::process::ExitCode;

use haystack_wire::protocol::defaults;
use haystack_wire::{BaseHeader, Compression, Encoder, FrameKind, Limits, Op};

/// What `encode` takes.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The op, by its Haystack name (e.g. read, hisRead).
    #[arg(long, value_parser = crate::names::op)]
    op: Op,
    /// The request id, used as given whatever the kind.
    #[arg(long, default_value_t = 0)]
    request_id: u16,
    /// What the frame is.
    #[arg(long, value_enum, default_value_t = KindArg::Request)]
    kind: KindArg,
    /// Compress with this algorithm (zlib or lzma).
    #[arg(long, value_parser = crate::names::compression)]
    compression: Option<Compression>,
    /// Without --chunk-size: compress only payloads of at least this many bytes.
    #[arg(long, default_value_t = defaults::COMPRESS_THRESHOLD)]
    threshold: usize,
    /// Split the payload into chunked frames of at most this many payload bytes.
    #[arg(long)]
    chunk_size: Option<usize>,
    /// With --chunk-size: the most chunks to write. A decoder with the default
    /// limits refuses more; `decode --max-chunks` reads up to its own count.
    #[arg(long, value_name = "N", requires = "chunk_size", default_value_t = Limits::DEFAULT.max_chunks)]
    max_chunks: usize,
    /// Write zlib streams with zlib-rs: faster, and not the reference's bytes.
    #[cfg(feature = "zlib-rs")]
    #[arg(long)]
    zlib_rs: bool,
}

/// The kinds as the command line spells them.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum KindArg {
    Request,
    Response,
    Error,
    Push,
}

impl From<KindArg> for FrameKind {
    fn from(kind: KindArg) -> FrameKind {
        match kind {
            KindArg::Request => FrameKind::Request,
            KindArg::Response => FrameKind::Response,
            KindArg::Error => FrameKind::ErrorResponse,
            KindArg::Push => FrameKind::Push,
        }
    }
}

pub fn run(args: &Args) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let mut payload = Vec::new();
    std::io::stdin().lock().read_to_end(&mut payload)?;
    let base = BaseHeader {
        flags: FrameKind::from(args.kind).flags(),
        request_id: args.request_id,
        op: args.op,
    };
    let mut encoder = Encoder::new()
        .with_compression(args.compression)
        .with_threshold(args.threshold);
    #[cfg(feature = "zlib-rs")]
    if args.zlib_rs {
        encoder = encoder.with_zlib_backend(haystack_wire::ZlibBackend::ZlibRs);
    }
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    match args.chunk_size {
        None => writeln!(out, "{}", crate::hex::encode(&encoder.encode(base, &payload)?))?,
        Some(size) => {
            // The frames are held until all are made, so that a count over the
            // limit writes nothing.
            let mut scratch = Vec::new();
            let mut lines = Vec::new();
            encoder = encoder.with_chunk_size(size);
            encoder.encode_chunked_with(base, &payload, &mut scratch, |frame| {
                lines.push(crate::hex::encode(frame));
                Ok::<_, haystack_wire::Error>(())
            })?;
            if lines.len() > args.max_chunks {
                return Err(format!(
                    "--chunk-size {size} cuts this payload into {} chunks, over the limit of {} chunks \
                     (a decoder with the default limits takes {}); raise --max-chunks here, and in \
                     `decode`, to write and read them",
                    lines.len(),
                    args.max_chunks,
                    Limits::DEFAULT.max_chunks
                )
                .into());
            }
            for line in lines {
                writeln!(out, "{line}")?;
            }
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
