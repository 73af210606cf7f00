//! Reassembly of chunked sequences.
//!
//! Sequences are keyed by (request id, op), so chunks of several messages may
//! interleave, and the chunks of one message may come in any order. Memory
//! grows only with chunks that actually arrive: a sequence's announced total
//! is checked but never allocated for.

mod store;

use std::borrow::Cow;
use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::clock::{Clock, SystemClock};
use crate::error::Error;
use crate::limits::Limits;
use crate::message::{message_flags, Message};
use crate::protocol::{defaults, Compression, Flags, FrameHeader, Op};

pub use store::{ChunkStore, Contiguous};

/// One sequence being reassembled: what its first chunk fixed, what it
/// holds, and its chunks in a store.
#[derive(Debug)]
struct Sequence<S> {
    total: u16,
    flags: Flags,
    compression: Option<Compression>,
    bytes: usize,
    started: Instant,
    store: S,
}

/// Collects the chunks of chunked sequences and hands back each message once
/// all its chunks are in, within [`Limits`].
///
/// The assembler checks each chunk against its sequence and the limits before
/// the caller decompresses it ([`ChunkAssembler::admit`]), then stores the
/// decompressed chunk ([`ChunkAssembler::insert`]). [`crate::Decoder`] does
/// both; use the assembler directly to drive decompression yourself.
///
/// Every refusal drops the offending sequence and releases its memory; other
/// sequences are untouched. Duplicate chunks are refused, not overwritten:
/// a peer that repeats a chunk is broken, and keeping either copy would hide it.
///
/// The chunks wait in a [`ChunkStore`], by default [`Contiguous`]; with
/// another store, [`ChunkAssembler::insert_chunk`] takes its chunks and
/// hands back what it keeps ([`Reassembled`]).
#[derive(Debug)]
pub struct ChunkAssembler<C: Clock = SystemClock, S: ChunkStore = Contiguous> {
    pending: HashMap<(u16, Op), Sequence<S>>,
    /// Payload bytes held by all pending sequences: the sum of their `bytes`.
    held: usize,
    ttl: Duration,
    limits: Limits,
    clock: C,
}

impl ChunkAssembler<SystemClock> {
    /// An assembler on the system clock, with the spec's TTL and the default limits.
    pub fn new() -> Self {
        ChunkAssembler::with_clock(SystemClock)
    }
}

impl Default for ChunkAssembler<SystemClock> {
    fn default() -> Self {
        ChunkAssembler::new()
    }
}

impl<C: Clock, S: ChunkStore> ChunkAssembler<C, S> {
    /// An assembler on `clock`, with the spec's TTL ([`defaults::REASSEMBLY_TTL`])
    /// and the default limits ([`Limits::DEFAULT`]).
    pub fn with_clock(clock: C) -> Self {
        ChunkAssembler {
            pending: HashMap::new(),
            held: 0,
            ttl: defaults::REASSEMBLY_TTL,
            limits: Limits::DEFAULT,
            clock,
        }
    }

    /// Drops incomplete sequences once they are older than `ttl`, counted from
    /// their first chunk.
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// Enforces `limits`: the message, chunk count and pending budgets (the
    /// frame limits are the decoder's).
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Replaces the limits in force; incomplete sequences are kept and meet
    /// the new limits with their next chunk.
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    /// How many sequences are incomplete.
    pub fn pending_count(&self) -> usize {
        self.pending.len()
    }

    /// How many payload bytes the incomplete sequences hold.
    pub fn pending_bytes(&self) -> usize {
        self.held
    }

    /// Drops the sequences older than the TTL and returns how many there were.
    /// [`ChunkAssembler::admit`] calls it, so expiry needs no timer.
    pub fn sweep_expired(&mut self) -> usize {
        let now = self.clock.now();
        let ttl = self.ttl;
        let before = self.pending.len();
        let mut released = 0;
        self.pending.retain(|_, s| {
            let keep = now.saturating_duration_since(s.started) <= ttl;
            if !keep {
                released += s.bytes;
            }
            keep
        });
        self.held -= released;
        before - self.pending.len()
    }

    /// Forgets the sequence of (`request_id`, `op`), if there is one, and
    /// releases its memory.
    pub fn discard(&mut self, request_id: u16, op: Op) {
        self.remove(request_id, op);
    }

    fn remove(&mut self, request_id: u16, op: Op) -> Option<Sequence<S>> {
        let seq = self.pending.remove(&(request_id, op))?;
        self.held -= seq.bytes;
        Some(seq)
    }

    /// Checks a frame's header against its sequence and the limits, before its
    /// payload is decompressed, and returns how many payload bytes the chunk
    /// may bring. On error the sequence is dropped.
    ///
    /// A header that is not chunked belongs to no sequence; `admit` returns the
    /// message limit for it.
    pub fn admit(&mut self, header: &FrameHeader) -> Result<usize, Error> {
        self.sweep_expired();
        let Some(chunk) = header.chunk else {
            return Ok(self.limits.max_message);
        };
        let (request_id, op) = (header.base.request_id, header.base.op);
        match self.check(header, chunk.index, chunk.total) {
            Ok(()) => {
                let (message, budget) = self.room(request_id, op);
                Ok(message.min(budget))
            }
            Err(error) => {
                self.remove(request_id, op);
                Err(error)
            }
        }
    }

    fn check(&self, header: &FrameHeader, index: u16, total: u16) -> Result<(), Error> {
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
        if usize::from(total) > self.limits.max_chunks {
            return Err(Error::ChunkTotalTooLarge {
                request_id,
                op,
                total,
                limit: self.limits.max_chunks,
            });
        }
        let Some(seq) = self.pending.get(&(request_id, op)) else {
            if self.pending.len() >= self.limits.max_pending {
                return Err(Error::TooManyPending {
                    request_id,
                    op,
                    limit: self.limits.max_pending,
                });
            }
            return Ok(());
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
        if seq.store.has(index) {
            return Err(Error::DuplicateChunk {
                request_id,
                op,
                index,
            });
        }
        Ok(())
    }

    /// The bytes the sequence of (`request_id`, `op`) may still take: under
    /// the message limit, and under the pending budget.
    fn room(&self, request_id: u16, op: Op) -> (usize, usize) {
        let bytes = self.pending.get(&(request_id, op)).map_or(0, |s| s.bytes);
        (
            self.limits.max_message.saturating_sub(bytes),
            self.limits.max_pending_bytes.saturating_sub(self.held),
        )
    }

    /// Drops the sequence of a chunk that brought more than the room
    /// [`ChunkAssembler::admit`] gave it, and names the limit it hit: the
    /// message's, or the pending budget's. For a caller that learns a chunk's
    /// size while decompressing it under that room.
    pub fn refuse_oversized(&mut self, header: &FrameHeader) -> Error {
        let (request_id, op) = (header.base.request_id, header.base.op);
        let (message, budget) = self.room(request_id, op);
        self.remove(request_id, op);
        if message <= budget {
            Error::MessageTooLarge {
                request_id,
                op,
                limit: self.limits.max_message,
            }
        } else {
            Error::PendingBytesExceeded {
                request_id,
                op,
                limit: self.limits.max_pending_bytes,
            }
        }
    }

    /// Stores one chunk of this assembler's store, already decompressed, and
    /// returns the store's message when it was the last one missing. Checks
    /// the header first, as [`ChunkAssembler::admit`] does.
    pub fn insert_chunk(
        &mut self,
        header: &FrameHeader,
        chunk: S::Chunk<'_>,
    ) -> Result<Option<Reassembled<S::Whole>>, Error> {
        let room = self.admit(header)?;
        self.store_chunk(header, room, chunk)
    }

    /// Stores a chunk whose header `admit` accepted with `room` bytes left.
    fn store_chunk(
        &mut self,
        header: &FrameHeader,
        room: usize,
        chunk: S::Chunk<'_>,
    ) -> Result<Option<Reassembled<S::Whole>>, Error> {
        let Some(position) = header.chunk else {
            return Ok(None);
        };
        let len = S::chunk_len(&chunk);
        if len > room {
            return Err(self.refuse_oversized(header));
        }
        let (request_id, op) = (header.base.request_id, header.base.op);
        let now = self.clock.now();
        let seq = self.pending.entry((request_id, op)).or_insert_with(|| Sequence {
            total: position.total,
            flags: header.base.flags,
            compression: header.algorithm.map(|a| a.algorithm),
            bytes: 0,
            started: now,
            store: S::new(position.total),
        });
        seq.bytes += len;
        self.held += len;
        seq.store.add(position.index, chunk);
        if !seq.store.is_complete() {
            return Ok(None);
        }
        let Some(seq) = self.remove(request_id, op) else {
            return Ok(None);
        };
        Ok(Some(Reassembled {
            flags: message_flags(seq.flags),
            request_id,
            op,
            whole: seq.store.finish(),
        }))
    }
}

impl<C: Clock> ChunkAssembler<C> {
    /// Stores one chunk, already decompressed; returns the message when it was
    /// the last one missing. Checks the header first, as
    /// [`ChunkAssembler::admit`] does.
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
        Ok(self.store_chunk(header, room, payload)?.map(|done| Message {
            flags: done.flags,
            request_id: done.request_id,
            op: done.op,
            payload: Cow::Owned(done.whole),
        }))
    }
}

/// A sequence whose chunks are all in, as its store hands it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reassembled<W> {
    /// The message's flags: the sequence's, without the chunked and
    /// compressed bits (as [`Message::flags`]).
    pub flags: Flags,
    /// The request id the chunks carried.
    pub request_id: u16,
    /// The op the chunks carried.
    pub op: Op,
    /// What the store gives back: with [`Contiguous`], the payload.
    pub whole: W,
}
