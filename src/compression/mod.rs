//! zlib and raw LZMA2, with the parameters protocol.yaml gives them.
//!
//! Compression must be byte-identical to the reference: zlib comes from the
//! stock C library (flate2's `zlib` backend), LZMA2 from liblzma. Decompression
//! never writes past its cap, whatever the ratio, and insists on a complete
//! stream with nothing after it: both libraries accept a truncated stream or
//! trailing bytes silently unless the caller checks.
//!
//! This module holds the public [`Compressor`] and [`Decompressor`] with the
//! stock zlib and LZMA2 streams; `capped` holds decompression under a cap,
//! and `zlib_rs` the optional zlib-rs compressor and decompressor (feature
//! `zlib-rs`).

use flate2::{Compress, FlushCompress};
#[cfg(not(feature = "zlib-rs"))]
use flate2::{Decompress, FlushDecompress};
use liblzma::stream::{Action, Filters, LzmaOptions, Status as LzmaStatus, Stream};

use crate::error::Error;
use crate::protocol::{compression_params, Compression};

mod capped;
#[cfg(feature = "zlib-rs")]
mod zlib_rs;

use capped::{bounded, Step};

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
    zlib_rs: Option<zlib_rs::ZlibRs>,
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
                zlib_rs: Some(zlib_rs::ZlibRs::new()),
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
///
/// zlib streams are read by the stock zlib, or with the feature `zlib-rs` by
/// zlib-rs, which gives the same bytes out of any stream, several times
/// faster (`grid_5000/zlib_decode` in `benches/codec.rs`).
pub struct Decompressor {
    /// Made on first use, like the compressor's.
    #[cfg(not(feature = "zlib-rs"))]
    zlib: Option<Decompress>,
    /// Made on first use, like the compressor's.
    #[cfg(feature = "zlib-rs")]
    zlib: Option<zlib_rs::Inflater>,
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
            #[cfg(feature = "zlib-rs")]
            Compression::Zlib => {
                let zlib = match &mut self.zlib {
                    Some(zlib) => {
                        zlib.reset();
                        zlib
                    }
                    None => self.zlib.insert(zlib_rs::Inflater::new()),
                };
                bounded(algorithm, input, limit, out, |input, output| {
                    zlib.step(input, output)
                })
            }
            #[cfg(not(feature = "zlib-rs"))]
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

    fn packed(algorithm: Compression, data: &[u8]) -> Vec<u8> {
        let mut packed = Vec::new();
        Compressor::new().compress(algorithm, data, &mut packed).unwrap();
        packed
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
}
