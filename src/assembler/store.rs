//! Where a sequence's chunks wait for the last one.
//!
//! The assembler decides what is admitted and counts the bytes; a store only
//! keeps the chunks it is given and hands them back in order. [`Contiguous`]
//! joins them into one buffer as they arrive. A caller whose chunks already
//! live in buffers of their own (a language binding holding the frames it
//! was given, say) can keep those instead and join once, at the end, into
//! whatever its message must be.

use std::borrow::Cow;
use std::collections::BTreeMap;

/// How one sequence keeps its chunks until it is complete.
///
/// The assembler calls [`ChunkStore::add`] only for an index below the
/// sequence's total that the store does not hold yet, so a store needs no
/// checks of its own. A store must not allocate for the announced total:
/// that number is the peer's claim, and memory should grow only with chunks
/// that arrive.
pub trait ChunkStore: Sized {
    /// A chunk's payload, decompressed, as the store takes it.
    type Chunk<'a>;
    /// What a complete store gives back: the message, or its parts in order.
    type Whole;

    /// The payload bytes `chunk` brings, counted against the limits.
    fn chunk_len(chunk: &Self::Chunk<'_>) -> usize;

    /// An empty store for a sequence announced as `total` chunks.
    fn new(total: u16) -> Self;

    /// Whether chunk `index` is in.
    fn has(&self, index: u16) -> bool;

    /// Keeps chunk `index`.
    fn add(&mut self, index: u16, chunk: Self::Chunk<'_>);

    /// Whether every chunk of the announced total is in.
    fn is_complete(&self) -> bool;

    /// The chunks, in order, once the store is complete.
    fn finish(self) -> Self::Whole;
}

/// The default store: one buffer holding the chunks from the first to the
/// first gap, and the chunks beyond a gap apart until it is filled. A chunk
/// that arrives in order is copied once and never again.
#[derive(Debug)]
pub struct Contiguous {
    total: u16,
    /// Chunks `0..next`, joined: the message as far as it is contiguous. It
    /// grows by doubling ([`Contiguous::make_room`]), so its capacity stays
    /// within twice the bytes counted against the budgets (and large
    /// reallocations are remapped, not copied, by the system allocator).
    prefix: Vec<u8>,
    /// How many chunks `prefix` holds.
    next: u16,
    /// The length of chunk 0 (which is always the first to join the prefix),
    /// by which the sequence's announced size is reckoned.
    first_chunk_len: usize,
    /// Chunks that arrived ahead of a gap, until the gap is filled.
    ahead: BTreeMap<u16, Vec<u8>>,
}

impl Contiguous {
    /// Makes room for `more` bytes at the end of the prefix. Like a `Vec`, it
    /// doubles the capacity when it must grow, but not past the size the
    /// sequence announces, `total` chunks as long as the first, when that is
    /// enough: an honest message then ends in a buffer of its own size, not
    /// one up to twice as large. The announcement only ever lowers what is
    /// reserved; what is reserved never exceeds twice what has arrived.
    fn make_room(&mut self, more: usize) {
        let needed = self.prefix.len().saturating_add(more);
        if needed <= self.prefix.capacity() {
            return;
        }
        let announced = usize::from(self.total).saturating_mul(self.first_chunk_len);
        let doubled = self.prefix.capacity().saturating_mul(2).max(needed);
        let target = if announced >= needed {
            doubled.min(announced)
        } else {
            doubled
        };
        self.prefix.reserve_exact(target - self.prefix.len());
    }
}

impl ChunkStore for Contiguous {
    type Chunk<'a> = Cow<'a, [u8]>;
    type Whole = Vec<u8>;

    fn chunk_len(chunk: &Cow<'_, [u8]>) -> usize {
        chunk.len()
    }

    fn new(total: u16) -> Self {
        Contiguous {
            total,
            prefix: Vec::new(),
            next: 0,
            first_chunk_len: 0,
            ahead: BTreeMap::new(),
        }
    }

    fn has(&self, index: u16) -> bool {
        index < self.next || self.ahead.contains_key(&index)
    }

    /// In order, the chunk joins the prefix, with any chunks waiting behind
    /// it; otherwise it waits apart.
    fn add(&mut self, index: u16, chunk: Cow<'_, [u8]>) {
        if index != self.next {
            let mut owned = chunk.into_owned();
            // Decompression leaves spare capacity; what is held is what is counted.
            owned.shrink_to_fit();
            self.ahead.insert(index, owned);
            return;
        }
        if index == 0 {
            self.first_chunk_len = chunk.len();
        }
        match chunk {
            // A decompressed first chunk becomes the prefix as it is.
            Cow::Owned(owned) if self.prefix.is_empty() => self.prefix = owned,
            chunk => {
                self.make_room(chunk.len());
                self.prefix.extend_from_slice(&chunk);
            }
        }
        self.next += 1;
        while let Some(waiting) = self.ahead.remove(&self.next) {
            self.make_room(waiting.len());
            self.prefix.extend_from_slice(&waiting);
            self.next += 1;
        }
    }

    fn is_complete(&self) -> bool {
        self.next == self.total
    }

    fn finish(self) -> Vec<u8> {
        self.prefix
    }
}
