//! Capped decompression: a stream is decompressed into room that grows by
//! doubling and never past one byte over the cap, and must end exactly where
//! its input does.

use crate::error::Error;
use crate::protocol::Compression;

/// What one call of a decompressor did.
pub(super) struct Step {
    /// Input bytes the call read.
    pub(super) consumed: usize,
    /// Whether the stream ended.
    pub(super) ended: bool,
}

/// Runs `step` until the stream ends. `step` appends to the vector's spare
/// capacity and never grows it, so this function alone decides how much room
/// there is: it grows by doubling from four times the input, never past one
/// byte over `limit`, and a stream that fills that byte is over the limit.
/// The room is reserved, not zero-filled. On error `out` is left as it was.
pub(super) fn bounded(
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

#[cfg(test)]
mod tests {
    use crate::compression::{Compressor, Decompressor};
    use crate::error::Error;
    use crate::protocol::Compression;

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
