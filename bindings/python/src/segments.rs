//! A chunk store that keeps chunks where Python already holds them.
//!
//! A chunk that is not compressed stays in the `bytes` object it came in: the
//! store keeps a reference to that object and where the payload starts, and
//! copies nothing until the message is complete. A decompressed chunk is kept
//! as the buffer it was decompressed into. The parts are then copied once,
//! straight into the message's `bytes` ([`crate::output::bytes_of`]).

use std::collections::BTreeMap;

use haystack_wire::protocol::FrameHeader;
use haystack_wire::{ChunkAssembler, ChunkStore, Clock, Decompressor, Error, Reassembled};
use pyo3::pybacked::PyBackedBytes;

/// One chunk's payload.
pub(crate) enum Segment {
    /// In a `bytes` object of the caller's, from `start` to its end.
    Shared { bytes: PyBackedBytes, start: usize },
    /// Decompressed into a buffer of its own.
    Owned(Vec<u8>),
}

impl AsRef<[u8]> for Segment {
    fn as_ref(&self) -> &[u8] {
        match self {
            Segment::Shared { bytes, start } => bytes.get(*start..).unwrap_or_default(),
            Segment::Owned(buffer) => buffer,
        }
    }
}

/// The chunks of one sequence, by index, until all `total` are in.
pub(crate) struct Segments {
    total: u16,
    parts: BTreeMap<u16, Segment>,
}

impl ChunkStore for Segments {
    type Chunk<'a> = Segment;
    type Whole = Vec<Segment>;

    fn chunk_len(chunk: &Segment) -> usize {
        chunk.as_ref().len()
    }

    fn new(total: u16) -> Self {
        Segments {
            total,
            parts: BTreeMap::new(),
        }
    }

    fn has(&self, index: u16) -> bool {
        self.parts.contains_key(&index)
    }

    fn add(&mut self, index: u16, chunk: Segment) {
        self.parts.insert(index, chunk);
    }

    fn is_complete(&self) -> bool {
        self.parts.len() == usize::from(self.total)
    }

    fn finish(self) -> Vec<Segment> {
        self.parts.into_values().collect()
    }
}

/// Admits one chunk, whose header is `header` and whose payload is
/// `bytes[start..]`, and stores it: as it is when it is not compressed,
/// decompressed when it is, within the room its sequence has left and
/// `max_frame_payload`. Returns the parts of the message it completes.
///
/// The checks and their order are [`haystack_wire::Decoder`]'s: the header
/// against its sequence and the limits before anything is decompressed, a
/// chunk that decompresses past its room refused with the limit it hit, and
/// the sequence dropped on any refusal.
pub(crate) fn take_chunk<C: Clock>(
    assembler: &mut ChunkAssembler<C, Segments>,
    decompressor: &mut Decompressor,
    max_frame_payload: usize,
    header: &FrameHeader,
    bytes: PyBackedBytes,
    start: usize,
) -> Result<Option<Reassembled<Vec<Segment>>>, Error> {
    let room = assembler.admit(header)?;
    let segment = match header.algorithm {
        None => Segment::Shared { bytes, start },
        Some(a) => {
            let limit = max_frame_payload.min(room);
            let mut out = Vec::new();
            let payload = bytes.get(start..).unwrap_or_default();
            match decompressor.decompress(a.algorithm, payload, limit, &mut out) {
                Ok(()) => Segment::Owned(out),
                // The chunk did not fit its sequence's room, which was tighter than the frame limit.
                Err(Error::DecompressedTooLarge { .. }) if room < max_frame_payload => {
                    return Err(assembler.refuse_oversized(header));
                }
                Err(error) => {
                    assembler.discard(header.base.request_id, header.base.op);
                    return Err(error);
                }
            }
        }
    };
    assembler.insert_chunk(header, segment)
}
