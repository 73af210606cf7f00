//! zlib-rs as the zlib compressor (feature `zlib-rs`): faster at the spec's
//! level than the stock library, with other bytes and a different ratio.

use zlib_rs::{compress_bound, Deflate, DeflateFlush, Status};

use super::{counter, zlib_container};
use crate::error::Error;
use crate::protocol::{compression_params, Compression};

/// zlib's largest window, as the stock library uses by default.
const WINDOW_BITS: u8 = 15;

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
