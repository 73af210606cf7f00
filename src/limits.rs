//! How much a receiver accepts from its peer.
//!
//! # Why these defaults
//!
//! The protocol itself needs little: the reference cuts payloads into 256 KiB
//! chunks and its largest realistic messages (months of history, big reads) are
//! tens of MiB. Mature stacks agree on the order of magnitude: tungstenite
//! accepts WebSocket messages of up to 64 MiB (frames of 16 MiB), so nothing
//! larger can reach a decoder behind it with its defaults anyway. h2's fix for
//! the 2024 CONTINUATION flood bounds not only the bytes of a header block but
//! the number of frames that may build one, because every frame costs
//! bookkeeping of its own; the chunk count here does the same for sequences.
//!
//! - [`Limits::max_frame`] 64 MiB: one frame is one WebSocket message, so
//!   tungstenite's message limit; a v1 peer that never chunks still fits.
//! - [`Limits::max_frame_payload`] 64 MiB: an unchunked compressed message
//!   decompresses in one piece, so it gets the message limit too.
//! - [`Limits::max_message`] 64 MiB: the same bound, for reassembled messages.
//! - [`Limits::max_chunks`] 1,024: 64 MiB in the reference's 256 KiB chunks is
//!   256 chunks; four times that leaves room for peers that cut smaller ones,
//!   and no more, since each chunk is a map entry and an allocation.
//! - [`Limits::max_pending`] 64: incomplete sequences at once. A client has a
//!   few chunked responses in flight, not hundreds; a flood of first chunks
//!   stops here.
//! - [`Limits::max_pending_bytes`] 128 MiB: all incomplete sequences together,
//!   two full-size messages in flight.
//!
//! A decoder with these limits holds at most `max_pending_bytes` in pending
//! chunks, plus one frame being decompressed (`max_frame_payload`), plus the
//! message being put together (`max_message`): about 256 MiB at the very
//! worst, whatever the peer sends.

/// The bounds a [`crate::Decoder`] enforces on what a peer sends.
///
/// A peer's claims (a chunk total, a compressed size) are never trusted for an
/// allocation: buffers grow with what actually arrives and stop at these
/// bounds. Build your own from [`Limits::DEFAULT`]:
///
/// ```
/// use haystack_wire::Limits;
///
/// let tight = Limits { max_message: 4 << 20, max_pending: 8, ..Limits::DEFAULT };
/// assert_eq!(tight.max_chunks, Limits::DEFAULT.max_chunks);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest frame accepted, in bytes on the wire.
    pub max_frame: usize,
    /// The most bytes one frame's payload may decompress to. With chunking,
    /// this bounds each chunk; without, the whole message.
    pub max_frame_payload: usize,
    /// The most bytes a reassembled message may hold.
    pub max_message: usize,
    /// The most chunks one message may have; a sequence announcing more is
    /// refused on its first chunk.
    pub max_chunks: usize,
    /// The most incomplete sequences held at once.
    pub max_pending: usize,
    /// The most payload bytes held across all incomplete sequences.
    pub max_pending_bytes: usize,
}

impl Limits {
    /// The default limits; the module documentation gives the reasoning.
    pub const DEFAULT: Limits = Limits {
        max_frame: 64 << 20,
        max_frame_payload: 64 << 20,
        max_message: 64 << 20,
        max_chunks: 1024,
        max_pending: 64,
        max_pending_bytes: 128 << 20,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DEFAULT
    }
}
