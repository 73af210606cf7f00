//! Building frames: one frame per message, or a chunked sequence.

use crate::compression::{Compressor, ZlibBackend};
use crate::error::Error;
use crate::frame::FrameKind;
use crate::protocol::{
    defaults, AlgorithmHeader, BaseHeader, ChunkHeader, Compression, FrameHeader, Op, RawBaseHeader,
};

/// Encodes messages into frames, the way the reference does.
///
/// One `Encoder` per connection: it keeps its compressor between frames. Every
/// method has a variant that appends to a caller's buffer, so a sender can
/// reuse one allocation for all its frames.
///
/// ```
/// use haystack_wire::{Encoder, Frame, Op, Compression};
///
/// let mut encoder = Encoder::new().with_compression(Some(Compression::Zlib));
/// let frame = encoder.request(7, Op::Read, br#"{"_kind":"grid"}"#)?;
/// // Below the compression threshold, the frame is a plain v1 frame.
/// assert_eq!(Frame::decode(&frame)?.compression(), None);
/// # Ok::<(), haystack_wire::Error>(())
/// ```
#[derive(Debug)]
pub struct Encoder {
    compression: Option<Compression>,
    threshold: usize,
    chunk_size: usize,
    compressor: Compressor,
}

impl Encoder {
    /// An encoder without compression and with the spec's defaults.
    pub fn new() -> Self {
        Encoder {
            compression: None,
            threshold: defaults::COMPRESS_THRESHOLD,
            chunk_size: defaults::CHUNK_SIZE,
            compressor: Compressor::new(),
        }
    }

    /// Compresses payloads with `algorithm` (`None`: never).
    pub fn with_compression(mut self, algorithm: Option<Compression>) -> Self {
        self.compression = algorithm;
        self
    }

    /// Compresses single-frame payloads of at least `bytes` (default
    /// [`defaults::COMPRESS_THRESHOLD`]). Chunks are always compressed when
    /// compression is on, as in the reference.
    pub fn with_threshold(mut self, bytes: usize) -> Self {
        self.threshold = bytes;
        self
    }

    /// Splits chunked payloads into chunks of `bytes` (default [`defaults::CHUNK_SIZE`]).
    pub fn with_chunk_size(mut self, bytes: usize) -> Self {
        self.chunk_size = bytes;
        self
    }

    /// Writes zlib streams with `backend` (default [`ZlibBackend::Stock`], the
    /// reference's bytes). Frames from any backend decode the same.
    pub fn with_zlib_backend(mut self, backend: ZlibBackend) -> Self {
        self.compressor = Compressor::with_zlib_backend(backend);
        self
    }

    /// The algorithm payloads are compressed with, if any.
    pub fn compression(&self) -> Option<Compression> {
        self.compression
    }

    /// Appends one frame carrying `payload` to `out`: compressed when
    /// compression is on and the payload reaches the threshold, else a v1 frame.
    #[inline]
    pub fn encode_into(&mut self, base: BaseHeader, payload: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
        let algorithm = self.compression.filter(|_| payload.len() >= self.threshold);
        self.write_frame(FrameHeader::new(base), algorithm, payload, out)
    }

    /// One frame carrying `payload`; see [`Encoder::encode_into`].
    pub fn encode(&mut self, base: BaseHeader, payload: &[u8]) -> Result<Vec<u8>, Error> {
        let mut out = Vec::new();
        self.encode_into(base, payload, &mut out)?;
        Ok(out)
    }

    /// A request frame.
    pub fn request(&mut self, request_id: u16, op: Op, payload: &[u8]) -> Result<Vec<u8>, Error> {
        self.encode(BaseHeader::request(request_id, op), payload)
    }

    /// A response frame; an error response when `is_error`.
    pub fn response(
        &mut self,
        request_id: u16,
        op: Op,
        payload: &[u8],
        is_error: bool,
    ) -> Result<Vec<u8>, Error> {
        let base = if is_error {
            BaseHeader::error_response(request_id, op)
        } else {
            BaseHeader::response(request_id, op)
        };
        self.encode(base, payload)
    }

    /// A push frame.
    pub fn push(&mut self, op: Op, payload: &[u8]) -> Result<Vec<u8>, Error> {
        self.encode(BaseHeader::push(op), payload)
    }

    /// Splits `payload` into chunked frames and hands each to `emit`, in order,
    /// all built in the one buffer `scratch`: ceil(len / chunk size) frames (one
    /// for an empty payload), each chunk compressed on its own when compression
    /// is on, `base`'s flags on every frame.
    pub fn encode_chunked_with<E>(
        &mut self,
        base: BaseHeader,
        payload: &[u8],
        scratch: &mut Vec<u8>,
        mut emit: impl FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<(), E>
    where
        E: From<Error>,
    {
        self.chunk_frames(base, payload, scratch, true, |frame, _| emit(frame))
    }

    /// As [`Encoder::encode_chunked_with`], but each frame comes in two parts
    /// that are sent one after the other: what is built in `scratch` (the
    /// header, or the whole frame when its chunk is compressed), then the
    /// chunk itself, borrowed from `payload` when it goes uncompressed (empty
    /// otherwise). A vectored write, or a binding filling buffers of its own,
    /// then copies each uncompressed chunk once instead of twice.
    pub fn encode_chunked_parts<E>(
        &mut self,
        base: BaseHeader,
        payload: &[u8],
        scratch: &mut Vec<u8>,
        emit: impl FnMut(&[u8], &[u8]) -> Result<(), E>,
    ) -> Result<(), E>
    where
        E: From<Error>,
    {
        self.chunk_frames(base, payload, scratch, false, emit)
    }

    /// The loop of both: with `whole`, every frame is built whole in
    /// `scratch`; without, an uncompressed chunk is handed over apart.
    fn chunk_frames<E>(
        &mut self,
        base: BaseHeader,
        payload: &[u8],
        scratch: &mut Vec<u8>,
        whole: bool,
        mut emit: impl FnMut(&[u8], &[u8]) -> Result<(), E>,
    ) -> Result<(), E>
    where
        E: From<Error>,
    {
        let total = self.chunk_count(payload.len())?;
        let mut chunks = payload.chunks(self.chunk_size);
        for index in 0..total {
            // `chunks` yields nothing for an empty payload, which still makes one empty chunk.
            let chunk = chunks.next().unwrap_or_default();
            let header = FrameHeader {
                chunk: Some(ChunkHeader { index, total }),
                ..FrameHeader::new(base)
            };
            scratch.clear();
            if whole || self.compression.is_some() {
                self.write_frame(header, self.compression, chunk, scratch)?;
                emit(scratch, &[])?;
            } else {
                header.encode_into(scratch);
                emit(scratch, chunk)?;
            }
        }
        Ok(())
    }

    /// The chunked frames of `payload`; see [`Encoder::encode_chunked_with`].
    pub fn encode_chunked(&mut self, base: BaseHeader, payload: &[u8]) -> Result<Vec<Vec<u8>>, Error> {
        let mut frames = Vec::with_capacity(usize::from(self.chunk_count(payload.len())?));
        let mut scratch = Vec::new();
        self.encode_chunked_with(base, payload, &mut scratch, |frame| {
            frames.push(frame.to_vec());
            Ok::<(), Error>(())
        })?;
        Ok(frames)
    }

    /// The chunked frames of `payload`, each chunk compressed on rayon's
    /// thread pool: the same frames, byte for byte, as
    /// [`Encoder::encode_chunked`], since every chunk is compressed on its own
    /// either way.
    #[cfg(feature = "rayon")]
    pub fn encode_chunked_parallel(&self, base: BaseHeader, payload: &[u8]) -> Result<Vec<Vec<u8>>, Error> {
        use rayon::prelude::*;

        let total = self.chunk_count(payload.len())?;
        (0..total)
            .into_par_iter()
            // One chunk per task: a worker that falls behind gives up the rest
            // of its share chunk by chunk, not half at a time.
            .with_max_len(1)
            .map(|index| {
                let start = usize::from(index).saturating_mul(self.chunk_size);
                let end = start.saturating_add(self.chunk_size).min(payload.len());
                let chunk = payload.get(start..end).unwrap_or_default();
                let header = FrameHeader {
                    chunk: Some(ChunkHeader { index, total }),
                    ..FrameHeader::new(base)
                };
                parallel::frame(header, self.compression, self.compressor.zlib_backend(), chunk)
            })
            .collect()
    }

    /// How many chunks a payload of `len` bytes takes.
    fn chunk_count(&self, len: usize) -> Result<u16, Error> {
        if self.chunk_size == 0 {
            return Err(Error::ZeroChunkSize);
        }
        let needed = len.div_ceil(self.chunk_size).max(1);
        u16::try_from(needed).map_err(|_| Error::TooManyChunks {
            len,
            chunk_size: self.chunk_size,
            needed,
            max: usize::from(u16::MAX),
        })
    }

    fn write_frame(
        &mut self,
        header: FrameHeader,
        algorithm: Option<Compression>,
        payload: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), Error> {
        write_frame(&mut self.compressor, header, algorithm, payload, out)
    }
}

/// Appends one frame: `header` (with the algorithm section when `algorithm`
/// is set), then `payload`, compressed with `compressor` if so.
fn write_frame(
    compressor: &mut Compressor,
    mut header: FrameHeader,
    algorithm: Option<Compression>,
    payload: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    header.algorithm = algorithm.map(|algorithm| AlgorithmHeader { algorithm });
    header.encode_into(out);
    match algorithm {
        Some(algorithm) => compressor.compress(algorithm, payload, out),
        None => {
            out.extend_from_slice(payload);
            Ok(())
        }
    }
}

/// The answer to a request whose op code the receiver does not know: an
/// uncompressed, unchunked error response to `request_id` that echoes the op
/// byte `op_code` as received, then `payload` (an error grid the caller makes).
///
/// A decoder reports such a request as [`HeaderError::UnknownOp`] with
/// [`HeaderError::answerable`] set; its fields are the arguments here.
///
/// ```
/// use haystack_wire::protocol::{HeaderError, RawBaseHeader};
/// use haystack_wire::{unknown_op_response, Decoder, Error, Flags, FrameKind};
///
/// // A request with op code 200, which this version does not know.
/// let request = RawBaseHeader { flags: Flags::EMPTY, request_id: 7, op: 200 }.encode();
/// let error = Decoder::new().decode(&request).unwrap_err();
/// let Error::Header(header @ HeaderError::UnknownOp { code, request_id, .. }) = error else {
///     panic!("op 200 is unknown: {error}");
/// };
/// assert!(header.answerable());
///
/// let answer = unknown_op_response(request_id, code, br#"{"_kind":"grid"}"#);
/// let echoed = RawBaseHeader::decode(answer.first_chunk().expect("a whole header"));
/// assert_eq!(echoed.flags, FrameKind::ErrorResponse.flags());
/// assert_eq!((echoed.request_id, echoed.op), (7, 200));
/// ```
///
/// [`HeaderError::UnknownOp`]: crate::protocol::HeaderError::UnknownOp
/// [`HeaderError::answerable`]: crate::protocol::HeaderError::answerable
pub fn unknown_op_response(request_id: u16, op_code: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(RawBaseHeader::LEN + payload.len());
    unknown_op_response_into(request_id, op_code, payload, &mut out);
    out
}

/// Appends the frame of [`unknown_op_response`] to `out`.
pub fn unknown_op_response_into(request_id: u16, op_code: u8, payload: &[u8], out: &mut Vec<u8>) {
    let header = RawBaseHeader {
        flags: FrameKind::ErrorResponse.flags(),
        request_id,
        op: op_code,
    };
    out.reserve(RawBaseHeader::LEN + payload.len());
    out.extend_from_slice(&header.encode());
    out.extend_from_slice(payload);
}

impl Default for Encoder {
    fn default() -> Self {
        Encoder::new()
    }
}

/// Per-thread state for [`Encoder::encode_chunked_parallel`].
#[cfg(feature = "rayon")]
mod parallel {
    use std::cell::RefCell;

    use super::{write_frame, Compression, Compressor, Error, FrameHeader, ZlibBackend};

    thread_local! {
        /// Each pool thread keeps one compressor and one scratch buffer for
        /// every chunk it is given, in this call and the next: making a zlib
        /// stream and a chunk-sized buffer per chunk costs fresh pages each
        /// time, which the other threads of the process feel as well.
        static WORKSPACE: RefCell<(Compressor, Vec<u8>)> = RefCell::new((Compressor::new(), Vec::new()));
    }

    /// One frame of `header` and `chunk`, compressed with `algorithm` if set,
    /// zlib streams by `backend`.
    pub(super) fn frame(
        header: FrameHeader,
        algorithm: Option<Compression>,
        backend: ZlibBackend,
        chunk: &[u8],
    ) -> Result<Vec<u8>, Error> {
        if algorithm.is_none() {
            // Without compression the frame's size is known: the chunk is copied once.
            let mut frame = Vec::with_capacity(FrameHeader::MAX_LEN + chunk.len());
            header.encode_into(&mut frame);
            frame.extend_from_slice(chunk);
            return Ok(frame);
        }
        WORKSPACE.with_borrow_mut(|(compressor, scratch)| {
            if compressor.zlib_backend() != backend {
                *compressor = Compressor::with_zlib_backend(backend);
            }
            // The compressor reserves the worst case, more than the chunk
            // itself; the frame keeps only the bytes it needs.
            scratch.clear();
            write_frame(compressor, header, algorithm, chunk, scratch)?;
            Ok(scratch.to_vec())
        })
    }
}
