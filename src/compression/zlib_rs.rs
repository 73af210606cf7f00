//! zlib-rs (feature `zlib-rs`): as the zlib compressor, faster at the spec's
//! level than the stock library, with other bytes and a different ratio; as
//! the zlib decompressor, the same bytes out of any stream, faster.

use zlib_rs::{compress_bound, Deflate, DeflateFlush, Inflate, InflateFlush, Status};

use super::capped::Step;
use super::{counter, zlib_container};
use crate::error::Error;
use crate::protocol::{compression_params, Compression};

/// zlib's largest window, as the stock library uses by default.
const WINDOW_BITS: u8 = 15;

/// How much of a decompression buffer's spare room is zero-filled for
/// zlib-rs to write into at a time.
const ZERO_FILL_WINDOW: usize = 256 * 1024;

/// A zlib-rs stream and the buffer it writes into.
pub(super) struct ZlibRs {
    deflate: Deflate,
    /// zlib-rs writes into a slice, not a vector's spare room; this buffer
    /// is zero-filled as it grows, to the largest bound seen, and reused;
    /// only the compressed bytes are copied out of it.
    scratch: Vec<u8>,
}

fn failed(reason: &str) -> Error {
    Error::CompressionFailed {
        algorithm: Compression::Zlib,
        reason: format!("zlib-rs: {reason}"),
    }
}

impl ZlibRs {
    pub(super) fn new() -> Self {
        let level = i32::try_from(compression_params::zlib::LEVEL).unwrap_or(-1);
        ZlibRs {
            deflate: Deflate::new(level, zlib_container(), WINDOW_BITS),
            scratch: Vec::new(),
        }
    }

    pub(super) fn compress(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
        self.deflate.reset();
        // zlib-rs's own bound (its fastest level can need more than the
        // stock library's); should a stream still not end, the buffer grows.
        let mut room = compress_bound(input.len());
        loop {
            if self.scratch.len() < room {
                self.scratch.resize(room, 0);
            }
            let read = counter(self.deflate.total_in());
            let written = counter(self.deflate.total_out());
            let (Some(rest), Some(free)) = (input.get(read..), self.scratch.get_mut(written..room)) else {
                return Err(failed("the stream's counters passed its buffers"));
            };
            let status = self
                .deflate
                .compress(rest, free, DeflateFlush::Finish)
                .map_err(|e| failed(e.as_str()))?;
            if status == Status::StreamEnd {
                let written = counter(self.deflate.total_out());
                out.extend_from_slice(self.scratch.get(..written).unwrap_or_default());
                return Ok(());
            }
            room = room.saturating_mul(2);
        }
    }
}

/// A zlib-rs inflate stream, reset between payloads.
pub(super) struct Inflater {
    inflate: Inflate,
}

impl Inflater {
    pub(super) fn new() -> Self {
        Inflater {
            inflate: Inflate::new(zlib_container(), WINDOW_BITS),
        }
    }

    /// Readies the stream for a new payload.
    pub(super) fn reset(&mut self) {
        self.inflate.reset(zlib_container());
    }

    /// One step of [`super::capped::bounded`]: inflates into `out`'s spare
    /// room until the stream ends, the room is full or the input runs out.
    /// zlib-rs writes into a slice, so the room is zero-filled as it is
    /// used, one window of [`ZERO_FILL_WINDOW`] bytes at a time: room that
    /// is reserved but never written is never touched, and a bomb's memory
    /// is what it decompressed to, not what was reserved for it.
    pub(super) fn step(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<Step, String> {
        let read = self.inflate.total_in();
        loop {
            let start = out.len();
            let end = start.saturating_add(ZERO_FILL_WINDOW).min(out.capacity());
            out.resize(end, 0);
            let rest = input
                .get(counter(self.inflate.total_in() - read)..)
                .unwrap_or_default();
            let before = self.inflate.total_out();
            let status = self.inflate.decompress(
                rest,
                out.get_mut(start..).unwrap_or_default(),
                InflateFlush::Finish,
            );
            let written = counter(self.inflate.total_out() - before);
            out.truncate(start.saturating_add(written));
            let status = status.map_err(|e| self.inflate.error_message().unwrap_or(e.as_str()).to_owned())?;
            let ended = status == Status::StreamEnd;
            // A window left unfilled means the input ran out (or the stream ended).
            if ended || out.len() == out.capacity() || written < end - start {
                return Ok(Step {
                    consumed: counter(self.inflate.total_in() - read),
                    ended,
                });
            }
        }
    }
}
