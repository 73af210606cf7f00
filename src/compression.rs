//! zlib and raw LZMA2, with the parameters protocol.yaml gives them.
//!
//! Compression must be byte-identical to the reference: zlib comes from the
//! stock C library (flate2's `zlib` backend), LZMA2 from liblzma. Decompression
//! never writes past its cap, whatever the ratio, and insists on a complete
//! stream with nothing after it: both libraries accept a truncated stream or
//! trailing bytes silently unless the caller checks.

use flate2::{Compress, Decompress, FlushCompress, FlushDecompress};
use liblzma::stream::{Action, Filters, LzmaOptions, Status as LzmaStatus, Stream};

use crate::error::Error;
use crate::protocol::{compression_params, Compression};

/// Which implementation writes zlib streams.
///
/// Any zlib decoder reads either one's output, the reference's included; only
/// [`ZlibBackend::Stock`] writes the reference's bytes exactly.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ZlibBackend {
    /// The stock C zlib, as the reference uses: byte-identical frames.
    #[default]
    Stock,
    /// zlib-rs (feature `zlib-rs`): faster at the spec's level, with other
    /// bytes and a different compression ratio.
    #[cfg(feature = "zlib-rs")]
    ZlibRs,
}

/// Compresses payloads; keeps the zlib state between frames.
///
/// Resetting a zlib stream instead of making a new one saves allocating and
/// clearing its window and tables on every frame (`small_frame/zlib_2k_reused`
/// against `small_frame/zlib_2k_fresh` in `benches/codec.rs`). The liblzma
/// bindings cannot re-initialise a raw encoder in place, so LZMA sets up a
/// fresh encoder per frame.
pub struct Compressor {
    /// Made on first use: a zlib stream's tables cost about 256 KiB, and an
    /// encoder that never compresses (a v1 connection) should not pay for them.
    zlib: Option<Compress>,
    #[cfg(feature = "zlib-rs")]
    zlib_rs: Option<fast::ZlibRs>,
}

impl Compressor {
    /// A compressor for both algorithms, with the stock zlib.
    pub fn new() -> Self {
        Compressor {
            zlib: None,
            #[cfg(feature = "zlib-rs")]
            zlib_rs: None,
        }
    }

    /// A compressor whose zlib streams come from `backend`.
    pub fn with_zlib_backend(backend: ZlibBackend) -> Self {
        match backend {
            ZlibBackend::Stock => Compressor::new(),
            #[cfg(feature = "zlib-rs")]
            ZlibBackend::ZlibRs => Compressor {
                zlib_rs: Some(fast::ZlibRs::new()),
                ..Compressor::new()
            },
        }
    }

    /// The implementation that writes this compressor's zlib streams.
    pub fn zlib_backend(&self) -> ZlibBackend {
        #[cfg(feature = "zlib-rs")]
        if self.zlib_rs.is_some() {
            return ZlibBackend::ZlibRs;
        }
        ZlibBackend::Stock
    }

    /// Appends `input`, compressed with `algorithm`, to `out`.
    pub fn compress(&mut self, algorithm: Compression, input: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
        match algorithm {
            Compression::Zlib => {
                #[cfg(feature = "zlib-rs")]
                if let Some(zlib_rs) = &mut self.zlib_rs {
                    return zlib_rs.compress(input, out);
                }
                self.zlib(input, out)
            }
            Compression::Lzma => lzma_compress(input, out),
        }
    }

    fn zlib(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
        let failed = |reason: String| Error::CompressionFailed {
            algorithm: Compression::Zlib,
            reason,
        };
        let zlib = match &mut self.zlib {
            Some(zlib) => {
                zlib.reset();
                zlib
            }
            None => self.zlib.insert(Compress::new(
                flate2::Compression::new(compression_params::zlib::LEVEL),
                zlib_container(),
            )),
        };
        // With this much room one call finishes the stream.
        out.reserve(zlib_bound(input.len()));
        loop {
            let rest = input.get(counter(zlib.total_in())..).unwrap_or_default();
            let status = zlib
                .compress_vec(rest, out, FlushCompress::Finish)
                .map_err(|e| failed(e.to_string()))?;
            match status {
                flate2::Status::StreamEnd => return Ok(()),
                flate2::Status::Ok | flate2::Status::BufError => out.reserve(out.capacity().max(64)),
            }
        }
    }
}

impl Default for Compressor {
    fn default() -> Self {
        Compressor::new()
    }
}

impl std::fmt::Debug for Compressor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compressor")
            .field("zlib_backend", &self.zlib_backend())
            .finish_non_exhaustive()
    }
}

/// Decompresses payloads under a cap; keeps the zlib state between frames.
pub struct Decompressor {
    /// Made on first use, like the compressor's.
    zlib: Option<Decompress>,
}

impl Decompressor {
    /// A decompressor for both algorithms.
    pub fn new() -> Self {
        Decompressor { zlib: None }
    }

    /// Appends `input`, decompressed with `algorithm`, to `out`, writing at most
    /// `limit` bytes. The stream must end exactly where `input` does.
    pub fn decompress(
        &mut self,
        algorithm: Compression,
        input: &[u8],
        limit: usize,
        out: &mut Vec<u8>,
    ) -> Result<(), Error> {
        match algorithm {
            Compression::Zlib => {
                let zlib = match &mut self.zlib {
                    Some(zlib) => {
                        zlib.reset(zlib_container());
                        zlib
                    }
                    None => self.zlib.insert(Decompress::new(zlib_container())),
                };
                bounded(algorithm, input, limit, out, |input, output| {
                    let in_before = zlib.total_in();
                    let status = zlib
                        .decompress_vec(input, output, FlushDecompress::Finish)
                        .map_err(|e| e.to_string())?;
                    Ok(Step {
                        consumed: counter(zlib.total_in() - in_before),
                        ended: status == flate2::Status::StreamEnd,
                    })
                })
            }
            Compression::Lzma => {
                let mut stream = Stream::new_raw_decoder(
                    &lzma_filters().map_err(|reason| Error::CompressionFailed { algorithm, reason })?,
                )
                .map_err(|e| Error::CompressionFailed {
                    algorithm,
                    reason: e.to_string(),
                })?;
                bounded(algorithm, input, limit, out, |input, output| {
                    let in_before = stream.total_in();
                    let status = stream
                        .process_vec(input, output, Action::Finish)
                        .map_err(|e| e.to_string())?;
                    Ok(Step {
                        consumed: counter(stream.total_in() - in_before),
                        ended: status == LzmaStatus::StreamEnd,
                    })
                })
            }
        }
    }
}

impl Default for Decompressor {
    fn default() -> Self {
        Decompressor::new()
    }
}

impl std::fmt::Debug for Decompressor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decompressor").finish_non_exhaustive()
    }
}

/// Whether zlib streams carry the zlib container (header and Adler-32), per the spec.
fn zlib_container() -> bool {
    compression_params::zlib::CONTAINER == "zlib"
}

/// zlib's deflateBound: the most bytes a zlib stream of `len` input bytes
/// takes, stored blocks and container included.
fn zlib_bound(len: usize) -> usize {
    len.saturating_add((len >> 12) + (len >> 14) + (len >> 25) + 19)
}

/// The zlib-rs compressor.
#[cfg(feature = "zlib-rs")]
mod fast {
    use zlib_rs::{compress_bound, Deflate, DeflateFlush, Status};

    use super::{compression_params, counter, zlib_container, Compression, Error};

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
                let (Some(rest), Some(free)) = (input.get(read..), self.scratch.get_mut(written..room))
                else {
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
}

/// The raw LZMA2 filter chain both peers use.
fn lzma_filters() -> Result<Filters, String> {
    let options = LzmaOptions::new_preset(compression_params::lzma::PRESET).map_err(|e| e.to_string())?;
    let mut filters = Filters::new();
    filters.lzma2(&options);
    Ok(filters)
}

fn lzma_compress(input: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
    let failed = |reason: String| Error::CompressionFailed {
        algorithm: Compression::Lzma,
        reason,
    };
    let mut stream =
        Stream::new_raw_encoder(&lzma_filters().map_err(failed)?).map_err(|e| failed(e.to_string()))?;
    // LZMA2 stores incompressible data in uncompressed chunks of at most 64 KiB,
    // each with a 3-byte header: this bound is rarely reached and never passed
    // by more than a few bytes.
    out.reserve(input.len() + input.len() / 4096 * 3 + 64);
    loop {
        let rest = input.get(counter(stream.total_in())..).unwrap_or_default();
        match stream.process_vec(rest, out, Action::Finish) {
            Ok(LzmaStatus::StreamEnd) => return Ok(()),
            Ok(_) => out.reserve(out.capacity().max(64)),
            Err(e) => return Err(failed(e.to_string())),
        }
    }
}

/// What one call of a decompressor did.
struct Step {
    consumed: usize,
    ended: bool,
}

/// Runs `step` until the stream ends. `step` appends to the vector's spare
/// capacity and never grows it, so this function alone decides how much room
/// there is: it grows by doubling from four times the input, never past one
/// byte over `limit`, and a stream that fills that byte is over the limit.
/// The room is reserved, not zero-filled. On error `out` is left as it was.
fn bounded(
    algorithm: Compression,
    input: &[u8],
    limit: usize,
    out: &mut Vec<u8>,
    mut step: impl FnMut(&[u8], &mut Vec<u8>) -> Result<Step, String>,
) -> Result<(), Error> {
    let start = out.len();
    let ceiling = start.saturating_add(limit);
    // One byte past the ceiling tells "exactly at the limit" from "over it".
    let room_end = ceiling.saturating_add(1);
    let mut consumed = 0;
    let result = loop {
        if out.len() == out.capacity() {
            let guess = (out.len() - start).max(input.len().saturating_mul(4)).max(4096);
            let wanted = out.len().saturating_add(guess).min(room_end);
            out.reserve_exact(wanted.saturating_sub(out.len()));
        }
        let room = out.capacity() - out.len();
        let before = out.len();
        let rest = input.get(consumed..).unwrap_or_default();
        let did = match step(rest, out) {
            Ok(did) => did,
            Err(reason) => break Err(Error::CorruptCompressed { algorithm, reason }),
        };
        if out.len() > ceiling {
            break Err(Error::DecompressedTooLarge { algorithm, limit });
        }
        consumed += did.consumed;
        if did.ended {
            break match input.len().saturating_sub(consumed) {
                0 => Ok(()),
                trailing => Err(Error::TrailingCompressed { algorithm, trailing }),
            };
        }
        // All input read, room left over, no end of stream: the stream is cut short.
        if consumed >= input.len() && out.len() - before < room {
            break Err(Error::TruncatedCompressed {
                algorithm,
                len: input.len(),
            });
        }
    };
    if result.is_err() {
        out.truncate(start);
    }
    result
}

/// A library's byte counter as an index; the counters never exceed the slice
/// lengths they count, which are `usize`.
fn counter(count: u64) -> usize {
    usize::try_from(count).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(algorithm: Compression, data: &[u8]) -> Vec<u8> {
        let mut packed = Vec::new();
        Compressor::new().compress(algorithm, data, &mut packed).unwrap();
        let mut unpacked = Vec::new();
        Decompressor::new()
            .decompress(algorithm, &packed, data.len(), &mut unpacked)
            .unwrap();
        unpacked
    }

    #[test]
    fn both_algorithms_round_trip_empty_small_and_large_inputs() {
        let large: Vec<u8> = (0..300_000u32)
            .map(|i| (i % 251) as u8 ^ (i >> 9) as u8)
            .collect();
        for algorithm in Compression::ALL {
            for data in [&b""[..], b"x", &large] {
                assert_eq!(
                    roundtrip(algorithm, data),
                    data,
                    "{algorithm}, {} bytes",
                    data.len()
                );
            }
        }
    }

    #[test]
    fn a_payload_exactly_at_the_limit_is_accepted_and_one_byte_more_is_not() {
        let data = vec![b'a'; 10_000];
        for algorithm in Compression::ALL {
            let mut packed = Vec::new();
            Compressor::new().compress(algorithm, &data, &mut packed).unwrap();
            let mut d = Decompressor::new();
            let mut out = Vec::new();
            d.decompress(algorithm, &packed, 10_000, &mut out).unwrap();
            assert_eq!(out.len(), 10_000);
            let mut out = Vec::new();
            assert_eq!(
                d.decompress(algorithm, &packed, 9_999, &mut out),
                Err(Error::DecompressedTooLarge {
                    algorithm,
                    limit: 9_999
                })
            );
            assert!(out.is_empty(), "{algorithm} left {} bytes behind", out.len());
        }
    }

    fn packed(algorithm: Compression, data: &[u8]) -> Vec<u8> {
        let mut packed = Vec::new();
        Compressor::new().compress(algorithm, data, &mut packed).unwrap();
        packed
    }

    #[test]
    fn a_truncated_stream_is_rejected() {
        let data = b"some grid text, long enough to span a few blocks ".repeat(50);
        for algorithm in Compression::ALL {
            let packed = packed(algorithm, &data);
            for cut in [1, packed.len() / 2, packed.len() - 1] {
                let mut out = Vec::new();
                let result = Decompressor::new().decompress(algorithm, &packed[..cut], 1 << 20, &mut out);
                assert!(
                    matches!(
                        result,
                        Err(Error::TruncatedCompressed { .. } | Error::CorruptCompressed { .. })
                    ),
                    "{algorithm} cut at {cut}: {result:?}"
                );
                assert!(out.is_empty());
            }
            let mut out = Vec::new();
            assert_eq!(
                Decompressor::new().decompress(algorithm, &packed[..packed.len() - 1], 1 << 20, &mut out),
                Err(Error::TruncatedCompressed {
                    algorithm,
                    len: packed.len() - 1
                }),
                "{algorithm}: cut one byte before the end"
            );
        }
    }

    #[test]
    fn bytes_after_the_end_of_the_stream_are_rejected() {
        for algorithm in Compression::ALL {
            let mut packed = packed(algorithm, b"payload");
            packed.extend_from_slice(b"xyz");
            let mut out = Vec::new();
            assert_eq!(
                Decompressor::new().decompress(algorithm, &packed, 1 << 20, &mut out),
                Err(Error::TrailingCompressed {
                    algorithm,
                    trailing: 3
                })
            );
        }
    }

    #[test]
    fn garbage_is_reported_as_corrupt() {
        for algorithm in Compression::ALL {
            let mut out = Vec::new();
            let result = Decompressor::new().decompress(algorithm, &[0xff; 64], 1 << 20, &mut out);
            assert!(
                matches!(result, Err(Error::CorruptCompressed { .. })),
                "{algorithm}: {result:?}"
            );
        }
    }

    #[test]
    fn one_decompressor_serves_many_frames_of_both_algorithms() {
        let mut decompressor = Decompressor::new();
        for round in 0..3u8 {
            for algorithm in Compression::ALL {
                let data = vec![round; 5000];
                let mut out = Vec::new();
                decompressor
                    .decompress(algorithm, &packed(algorithm, &data), 5000, &mut out)
                    .unwrap();
                assert_eq!(out, data);
            }
        }
    }

    #[test]
    fn decompression_appends_after_what_the_buffer_holds() {
        let mut packed = Vec::new();
        Compressor::new()
            .compress(Compression::Zlib, b"payload", &mut packed)
            .unwrap();
        let mut out = b"head:".to_vec();
        Decompressor::new()
            .decompress(Compression::Zlib, &packed, 100, &mut out)
            .unwrap();
        assert_eq!(out, b"head:payload");
    }
}
