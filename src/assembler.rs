//! Reassembly of chunked sequences.
//!
//! Sequences are keyed by (request id, op), so chunks of several messages may
//! interleave, and the chunks of one message may come in any order. Memory
//! grows only with chunks that actually arrive: a sequence's announced total
//! is checked but never allocated for.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::protocol::{defaults, Compression, Flags, FrameHeader, HeaderSection, Op};
use crate::Error;

/// A source of the current time, so that expiry can be tested without waiting.
pub trait Clock {
    /// The current instant.
    fn now(&self) -> Instant;
}

/// The system's monotonic clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// A clock that moves only when told to; clones share the same time.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<Mutex<Instant>>);

impl ManualClock {
    /// A clock standing at the current instant.
    pub fn new() -> Self {
        ManualClock(Arc::new(Mutex::new(Instant::now())))
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let mut now = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        *now += by;
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        ManualClock::new()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        *self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A complete message: a single frame's payload, or a reassembled sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message<'a> {
    /// The message's flags: the frame's flags without those that announce
    /// header sections (compressed, chunked), which describe frames, not messages.
    pub flags: Flags,
    /// The request id.
    pub request_id: u16,
    /// The op.
    pub op: Op,
    /// The payload, decompressed; borrowed from the frame when it needed no work.
    pub payload: Cow<'a, [u8]>,
}

impl Message<'_> {
    /// The message with its payload owned.
    pub fn into_owned(self) -> Message<'static> {
        Message {
            flags: self.flags,
            request_id: self.request_id,
            op: self.op,
            payload: Cow::Owned(self.payload.into_owned()),
        }
    }
}

/// `flags` without the bits that announce header sections.
pub(crate) fn message_flags(flags: Flags) -> Flags {
    HeaderSection::ALL
        .iter()
        .filter_map(|section| section.present_when())
        .fold(flags, Flags::difference)
}

/// One sequence being reassembled.
#[derive(Debug)]
struct Sequence {
    total: u16,
    flags: Flags,
    compression: Option<Compression>,
    chunks: BTreeMap<u16, Vec<u8>>,
    bytes: usize,
    started: Instant,
}

/// Collects the chunks of chunked sequences and hands back each message once
/// all its chunks are in.
///
/// The assembler checks each chunk against its sequence before the caller
/// decompresses it ([`ChunkAssembler::admit`]), then stores the decompressed
/// chunk ([`ChunkAssembler::insert`]). [`crate::Decoder`] does both; use the
/// assembler directly to drive decompression yourself.
#[derive(Debug)]
pub struct ChunkAssembler<C: Clock = SystemClock> {
    pending: HashMap<(u16, Op), Sequence>,
    ttl: Duration,
    max_message: usize,
    clock: C,
}

impl ChunkAssembler<SystemClock> {
    /// An assembler on the system clock, with the spec's TTL and the default message limit.
    pub fn new() -> Self {
        ChunkAssembler::with_clock(SystemClock)
    }
}

impl Default for ChunkAssembler<SystemClock> {
    fn default() -> Self {
        ChunkAssembler::new()
    }
}

impl<C: Clock> ChunkAssembler<C> {
    /// An assembler on `clock`, with the spec's TTL ([`defaults::REASSEMBLY_TTL`])
    /// and the default message limit ([`crate::Limits::DEFAULT`]).
    pub fn with_clock(clock: C) -> Self {
        ChunkAssembler {
            pending: HashMap::new(),
            ttl: defaults::REASSEMBLY_TTL,
            max_message: crate::Limits::DEFAULT.max_message,
            clock,
        }
    }

    /// Drops incomplete sequences once they are older than `ttl`, counted from
    /// their first chunk.
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// Refuses sequences whose reassembled payload would exceed `bytes`.
    pub fn with_max_message(mut self, bytes: usize) -> Self {
        self.max_message = bytes;
        self
    }

    /// How many sequences are incomplete.
    pub fn pending_count(&self) -> usize {
        self.pending.len()
    }

    /// How many payload bytes the incomplete sequences hold.
    pub fn pending_bytes(&self) -> usize {
        self.pending.values().map(|s| s.bytes).sum()
    }

    /// Drops the sequences older than the TTL and returns how many there were.
    /// [`ChunkAssembler::admit`] calls it, so expiry needs no timer.
    pub fn sweep_expired(&mut self) -> usize {
        let now = self.clock.now();
        let before = self.pending.len();
        let ttl = self.ttl;
        self.pending
            .retain(|_, s| now.saturating_duration_since(s.started) <= ttl);
        before - self.pending.len()
    }

    /// Checks a chunked frame's header against its sequence, before its payload
    /// is decompressed, and returns how many payload bytes the sequence can
    /// still take. On error the sequence is dropped.
    ///
    /// A header that is not chunked belongs to no sequence; `admit` returns the
    /// message limit for it.
    pub fn admit(&mut self, header: &FrameHeader) -> Result<usize, Error> {
        self.sweep_expired();
        let Some(chunk) = header.chunk else {
            return Ok(self.max_message);
        };
        let (request_id, op) = (header.base.request_id, header.base.op);
        let result = self.check(header, chunk.index, chunk.total);
        if result.is_err() {
            self.pending.remove(&(request_id, op));
        }
        result
    }

    fn check(&self, header: &FrameHeader, index: u16, total: u16) -> Result<usize, Error> {
        let (request_id, op) = (header.base.request_id, header.base.op);
        if total == 0 {
            return Err(Error::ZeroChunkTotal { request_id, op });
        }
        if index >= total {
            return Err(Error::ChunkIndexOutOfRange {
                request_id,
                op,
                index,
                total,
            });
        }
        let Some(seq) = self.pending.get(&(request_id, op)) else {
            return Ok(self.max_message);
        };
        let inconsistent = |what, first: String, this: String| Error::InconsistentChunk {
            request_id,
            op,
            index,
            what,
            first,
            this,
        };
        if seq.total != total {
            return Err(inconsistent("total", seq.total.to_string(), total.to_string()));
        }
        if seq.flags != header.base.flags {
            return Err(inconsistent(
                "flags",
                seq.flags.to_string(),
                header.base.flags.to_string(),
            ));
        }
        let compression = header.algorithm.map(|a| a.algorithm);
        if seq.compression != compression {
            let show = |c: Option<Compression>| c.map_or_else(|| "none".to_owned(), |c| c.to_string());
            return Err(inconsistent(
                "compression",
                show(seq.compression),
                show(compression),
            ));
        }
        if seq.chunks.contains_key(&index) {
            return Err(Error::DuplicateChunk {
                request_id,
                op,
                index,
            });
        }
        Ok(self.max_message.saturating_sub(seq.bytes))
    }

    /// Forgets the sequence of (`request_id`, `op`), if there is one.
    pub fn discard(&mut self, request_id: u16, op: Op) {
        self.pending.remove(&(request_id, op));
    }

    /// Stores one chunk, already decompressed, after [`ChunkAssembler::admit`]
    /// accepted its header; returns the message when it was the last one missing.
    pub fn insert(
        &mut self,
        header: &FrameHeader,
        payload: Cow<'_, [u8]>,
    ) -> Result<Option<Message<'static>>, Error> {
        let room = self.admit(header)?;
        self.store(header, room, payload)
    }

    /// Stores a chunk whose header `admit` accepted with `room` bytes left.
    pub(crate) fn store(
        &mut self,
        header: &FrameHeader,
        room: usize,
        payload: Cow<'_, [u8]>,
    ) -> Result<Option<Message<'static>>, Error> {
        let Some(chunk) = header.chunk else {
            return Ok(None);
        };
        let (request_id, op) = (header.base.request_id, header.base.op);
        if payload.len() > room {
            self.pending.remove(&(request_id, op));
            return Err(Error::MessageTooLarge {
                request_id,
                op,
                limit: self.max_message,
            });
        }
        let now = self.clock.now();
        let seq = self.pending.entry((request_id, op)).or_insert_with(|| Sequence {
            total: chunk.total,
            flags: header.base.flags,
            compression: header.algorithm.map(|a| a.algorithm),
            chunks: BTreeMap::new(),
            bytes: 0,
            started: now,
        });
        seq.bytes += payload.len();
        seq.chunks.insert(chunk.index, payload.into_owned());
        if seq.chunks.len() < usize::from(seq.total) {
            return Ok(None);
        }
        let Some(seq) = self.pending.remove(&(request_id, op)) else {
            return Ok(None);
        };
        Ok(Some(Message {
            flags: message_flags(seq.flags),
            request_id,
            op,
            payload: Cow::Owned(concat(seq.chunks, seq.bytes)),
        }))
    }
}

/// The chunks in index order, in one buffer sized once.
fn concat(chunks: BTreeMap<u16, Vec<u8>>, bytes: usize) -> Vec<u8> {
    if chunks.len() == 1 {
        return chunks.into_values().next().unwrap_or_default();
    }
    let mut out = Vec::with_capacity(bytes);
    for chunk in chunks.into_values() {
        out.extend_from_slice(&chunk);
    }
    out
}
