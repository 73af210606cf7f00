//! The peak memory of reassembly, read by a global allocator that counts the
//! bytes held and the most held at once, over the system allocator. Shared by
//! the memory and allocation tests and the memory benchmark; each installs
//! [`Counting`] in its own binary, whose other threads must be quiet while it
//! measures.
//!
//! A reallocation counts as the new size replacing the old one: the system
//! allocator moves large blocks by remapping pages, not by holding two copies.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// The counting allocator; install with `#[global_allocator]`.
pub struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn gained(bytes: usize) {
    let live = LIVE.fetch_add(bytes, Relaxed) + bytes;
    PEAK.fetch_max(live, Relaxed);
}

fn released(bytes: usize) {
    LIVE.fetch_sub(bytes, Relaxed);
}

// SAFETY: every call is passed to the system allocator unchanged; the
// counters only observe the sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `alloc` is the system allocator's.
        let block = unsafe { System.alloc(layout) };
        if !block.is_null() {
            gained(layout.size());
        }
        block
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let block = unsafe { System.alloc_zeroed(layout) };
        if !block.is_null() {
            gained(layout.size());
        }
        block
    }

    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        // SAFETY: `block` came from this allocator, which is the system's.
        unsafe { System.dealloc(block, layout) };
        released(layout.size());
    }

    unsafe fn realloc(&self, block: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as for `dealloc`, with the caller's contract for `realloc`.
        let moved = unsafe { System.realloc(block, layout, new_size) };
        if !moved.is_null() {
            released(layout.size());
            gained(new_size);
        }
        moved
    }
}

/// Bytes held now.
pub fn live() -> usize {
    LIVE.load(Relaxed)
}

/// Starts a new peak from what is held now, and returns that.
pub fn reset_peak() -> usize {
    let live = live();
    PEAK.store(live, Relaxed);
    live
}

/// The most bytes held at once since the last [`reset_peak`].
pub fn peak() -> usize {
    PEAK.load(Relaxed)
}

/// What reassembling one message held.
#[derive(Debug, Clone, Copy)]
pub struct Reassembly {
    /// The message's length.
    pub payload: usize,
    /// The longest chunk's payload, after decompression.
    pub chunk: usize,
    /// The most bytes held at once while decoding the frames, above what was
    /// held before (the frames themselves), the message included.
    pub peak: usize,
}

impl Reassembly {
    /// The peak as a share of the payload plus one chunk.
    pub fn ratio(&self) -> f64 {
        self.peak as f64 / (self.payload + self.chunk) as f64
    }
}

/// Decodes `frames`, one chunked message, with a fresh decoder and measures
/// what that held at its peak. `chunk` is the chunk size the frames were made
/// with. Panics if the frames are not one whole message.
pub fn reassembly_peak(frames: &[Vec<u8>], chunk: usize) -> Reassembly {
    let before = reset_peak();
    let mut decoder = haystack_wire::Decoder::new();
    let mut payload = 0;
    for frame in frames {
        if let Some(message) = decoder.decode(frame).expect("the frames decode") {
            payload = message.payload.len();
        }
    }
    let peak = peak() - before;
    drop(decoder);
    assert!(payload > 0, "the frames made no message");
    Reassembly { payload, chunk, peak }
}
