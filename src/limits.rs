//! How much a receiver accepts from its peer.

/// The bounds a [`crate::Decoder`] enforces on what a peer sends.
///
/// A peer's claims (a chunk total, a compressed size) are never trusted for an
/// allocation: buffers grow with what actually arrives and stop at these bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The most bytes one frame's payload may decompress to. With chunking, this
    /// bounds each chunk; without, the whole message.
    pub max_frame_payload: usize,
    /// The most bytes a reassembled message may hold.
    pub max_message: usize,
}

impl Limits {
    /// 64 MiB, tungstenite's default for one WebSocket message: a receiver behind
    /// tungstenite never sees a larger frame, and messages of tens of MiB (months
    /// of history) still fit.
    pub const DEFAULT_MAX_MESSAGE: usize = 64 << 20;

    /// The default limits: [`Limits::DEFAULT_MAX_MESSAGE`] for a frame's
    /// decompressed payload and for a reassembled message.
    pub const DEFAULT: Limits = Limits {
        max_frame_payload: Self::DEFAULT_MAX_MESSAGE,
        max_message: Self::DEFAULT_MAX_MESSAGE,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DEFAULT
    }
}
