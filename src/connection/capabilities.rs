//! What one side of a connection is willing to speak: the algorithms it
//! accepts and whether it takes chunks. The client offers its capabilities
//! in the handshake; the server answers from its own.

use crate::protocol::Compression;

/// The compression algorithms a peer accepts, in its order of preference,
/// and whether it sends and receives chunked payloads.
///
/// ```
/// use haystack_wire::connection::Capabilities;
/// use haystack_wire::Compression;
///
/// let capabilities = Capabilities::new()
///     .compression([Compression::Lzma, Compression::Zlib])
///     .chunked(true);
/// assert_eq!(capabilities.algorithms(), [Compression::Lzma, Compression::Zlib]);
/// assert!(capabilities.is_chunked());
/// assert!(!Capabilities::new().offers_anything());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities {
    compression: Vec<Compression>,
    chunked: bool,
}

impl Capabilities {
    /// No compression and no chunking: what a v1 peer speaks.
    pub fn new() -> Self {
        Capabilities::default()
    }

    /// Accepts these algorithms, in order of preference (the client's order
    /// decides which one a handshake agrees on).
    pub fn compression(mut self, algorithms: impl IntoIterator<Item = Compression>) -> Self {
        self.compression = algorithms.into_iter().collect();
        self
    }

    /// Accepts (and sends) chunked payloads.
    pub fn chunked(mut self, chunked: bool) -> Self {
        self.chunked = chunked;
        self
    }

    /// The algorithms accepted, in order of preference.
    pub fn algorithms(&self) -> &[Compression] {
        &self.compression
    }

    /// Whether chunked payloads are accepted.
    pub fn is_chunked(&self) -> bool {
        self.chunked
    }

    /// Whether there is anything to negotiate: an algorithm or chunking. A
    /// client with nothing to offer skips the handshake and speaks v1.
    pub fn offers_anything(&self) -> bool {
        !self.compression.is_empty() || self.chunked
    }
}
