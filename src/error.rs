//! The crate's error type.

use crate::protocol::{Compression, HeaderError, Op};

/// Everything that can go wrong while encoding, decoding or reassembling frames.
///
/// Each variant carries the values that were wrong, so the message alone says
/// what a peer sent or what a caller asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The frame's header could not be read: too short, an unknown op code or
    /// algorithm id, or flag bits the spec rejects.
    #[error(transparent)]
    Header(#[from] HeaderError),

    /// The compressor failed; this does not depend on the input and points to
    /// an exhausted allocator or a broken compression library.
    #[error("{algorithm} compression failed: {reason}")]
    CompressionFailed {
        /// The algorithm.
        algorithm: Compression,
        /// What the library reported.
        reason: String,
    },

    /// The compressed data is not a valid stream of its algorithm.
    #[error("corrupt {algorithm} data: {reason}")]
    CorruptCompressed {
        /// The algorithm the frame announced.
        algorithm: Compression,
        /// What the library reported.
        reason: String,
    },

    /// The compressed data stops before the end of its stream.
    #[error("{algorithm} data of {len} bytes ends before the end of its stream")]
    TruncatedCompressed {
        /// The algorithm the frame announced.
        algorithm: Compression,
        /// The length of the compressed data.
        len: usize,
    },

    /// Bytes follow the end of the compressed stream.
    #[error("{trailing} bytes follow the end of the {algorithm} stream")]
    TrailingCompressed {
        /// The algorithm the frame announced.
        algorithm: Compression,
        /// How many bytes follow the stream.
        trailing: usize,
    },

    /// Decompressing one frame's payload would exceed the limit.
    #[error("{algorithm} payload decompresses to more than the limit of {limit} bytes")]
    DecompressedTooLarge {
        /// The algorithm the frame announced.
        algorithm: Compression,
        /// The limit that was hit ([`crate::Limits::max_frame_payload`]).
        limit: usize,
    },

    /// The chunk size given to the encoder is zero.
    #[error("the chunk size must be at least one byte")]
    ZeroChunkSize,

    /// The payload needs more chunks than the chunk header can count.
    #[error("a payload of {len} bytes needs {needed} chunks of {chunk_size} bytes; the chunk header counts at most {max}")]
    TooManyChunks {
        /// The payload's length.
        len: usize,
        /// The chunk size asked for.
        chunk_size: usize,
        /// The chunks it would take.
        needed: usize,
        /// The most the chunk header can count.
        max: usize,
    },

    /// A chunked frame announces a sequence of zero chunks, which can never complete.
    #[error("chunk of request {request_id} ({op}) announces a total of 0 chunks")]
    ZeroChunkTotal {
        /// The sequence's request id.
        request_id: u16,
        /// The sequence's op.
        op: Op,
    },

    /// A chunk's index is at or past the total.
    #[error("chunk index {index} of request {request_id} ({op}) is not below its total {total}")]
    ChunkIndexOutOfRange {
        /// The sequence's request id.
        request_id: u16,
        /// The sequence's op.
        op: Op,
        /// The chunk's index.
        index: u16,
        /// The total it announces.
        total: u16,
    },

    /// A chunk arrived twice.
    #[error("chunk {index} of request {request_id} ({op}) arrived twice")]
    DuplicateChunk {
        /// The sequence's request id.
        request_id: u16,
        /// The sequence's op.
        op: Op,
        /// The repeated index.
        index: u16,
    },

    /// A chunk disagrees with the first chunk of its sequence about the total,
    /// the flags or the compression.
    #[error(
        "chunk {index} of request {request_id} ({op}) changes the sequence's {what} from {first} to {this}"
    )]
    InconsistentChunk {
        /// The sequence's request id.
        request_id: u16,
        /// The sequence's op.
        op: Op,
        /// The chunk's index.
        index: u16,
        /// What changed: `total`, `flags` or `compression`.
        what: &'static str,
        /// The value set by the sequence's first chunk.
        first: String,
        /// The value in this chunk.
        this: String,
    },

    /// A reassembled message would exceed the limit.
    #[error("message of request {request_id} ({op}) exceeds the limit of {limit} bytes")]
    MessageTooLarge {
        /// The sequence's request id.
        request_id: u16,
        /// The sequence's op.
        op: Op,
        /// The limit that was hit ([`crate::Limits::max_message`]).
        limit: usize,
    },
}
