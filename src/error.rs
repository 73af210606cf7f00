//! The crate's error type, and what each error means for the connection.

use crate::protocol::{Compression, HeaderError, Op};

/// What an error means for the connection it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorScope {
    /// One message is refused: its frame's base header was read, so the peer
    /// can be answered with an error frame for that request, and the
    /// connection goes on. For a header error (an unknown op code, when the
    /// spec's policy keeps the connection), [`HeaderError::answerable`] says
    /// whether to answer, and [`crate::unknown_op_response`] builds the
    /// answer: an op code this version does not know has no
    /// [`BaseHeader`](crate::BaseHeader) to answer with.
    Message,
    /// The peer is broken or abusive (a frame that cannot be read at all, or a
    /// flood past the connection's budgets): close the connection.
    Connection,
}

/// Everything that can go wrong while encoding, decoding or reassembling frames.
///
/// Each variant carries the values that were wrong, so the message alone says
/// what a peer sent or what a caller asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The frame's header could not be read: too short, an unknown op code or
    /// algorithm id, or flag bits the spec rejects. Only an unknown op code,
    /// when the spec's policy answers it, spares the connection
    /// ([`HeaderError::keeps_connection`]).
    #[error(transparent)]
    Header(#[from] HeaderError),

    /// The frame is larger than the limit.
    #[error("frame of {len} bytes exceeds the limit of {limit} bytes")]
    FrameTooLarge {
        /// The frame's length.
        len: usize,
        /// The limit ([`crate::Limits::max_frame`]).
        limit: usize,
    },

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

    /// A sequence announces more chunks than a message may have; refused on the
    /// first chunk that arrives, before anything is stored.
    #[error("chunk of request {request_id} ({op}) announces {total} chunks, more than the limit of {limit}")]
    ChunkTotalTooLarge {
        /// The sequence's request id.
        request_id: u16,
        /// The sequence's op.
        op: Op,
        /// The total it announces.
        total: u16,
        /// The limit ([`crate::Limits::max_chunks`]).
        limit: usize,
    },

    /// A new sequence would exceed the number of incomplete sequences allowed.
    #[error("chunk of request {request_id} ({op}) would start a sequence past the limit of {limit} pending")]
    TooManyPending {
        /// The refused sequence's request id.
        request_id: u16,
        /// The refused sequence's op.
        op: Op,
        /// The limit ([`crate::Limits::max_pending`]).
        limit: usize,
    },

    /// A chunk would take the bytes held by all incomplete sequences past the budget.
    #[error("chunk of request {request_id} ({op}) would take pending sequences past {limit} bytes")]
    PendingBytesExceeded {
        /// The dropped sequence's request id.
        request_id: u16,
        /// The dropped sequence's op.
        op: Op,
        /// The limit ([`crate::Limits::max_pending_bytes`]).
        limit: usize,
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

impl Error {
    /// Whether the error refuses one message or condemns the connection.
    ///
    /// Decoding errors about one frame's payload or one sequence are
    /// [`ErrorScope::Message`]; the frame's base header says which request to
    /// answer. So is an unknown op code when the spec's policy keeps the
    /// connection ([`HeaderError::keeps_connection`]): the error carries the
    /// request id and the flags, and [`HeaderError::answerable`] says whether
    /// to answer. Any other header that cannot be read, a frame past the size
    /// limit, and floods past the pending budgets are
    /// [`ErrorScope::Connection`]. Errors of the sending side (chunk size,
    /// compressor failure) are reported as `Message`: they concern what was
    /// being sent, not the peer.
    pub fn scope(&self) -> ErrorScope {
        match self {
            Error::Header(error) if error.keeps_connection() => ErrorScope::Message,
            Error::Header(_)
            | Error::FrameTooLarge { .. }
            | Error::TooManyPending { .. }
            | Error::PendingBytesExceeded { .. } => ErrorScope::Connection,
            Error::CompressionFailed { .. }
            | Error::CorruptCompressed { .. }
            | Error::TruncatedCompressed { .. }
            | Error::TrailingCompressed { .. }
            | Error::DecompressedTooLarge { .. }
            | Error::ZeroChunkSize
            | Error::TooManyChunks { .. }
            | Error::ZeroChunkTotal { .. }
            | Error::ChunkIndexOutOfRange { .. }
            | Error::DuplicateChunk { .. }
            | Error::InconsistentChunk { .. }
            | Error::ChunkTotalTooLarge { .. }
            | Error::MessageTooLarge { .. } => ErrorScope::Message,
        }
    }
}
