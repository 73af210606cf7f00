//! What a server counts as it runs, for [`super::Monitor::stats`].

use std::sync::atomic::{AtomicU64, Ordering};

/// Counters shared by a server's connections.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) requests: AtomicU64,
    pub(crate) failed_requests: AtomicU64,
    pub(crate) refused_frames: AtomicU64,
    pub(crate) closed_for_misbehaviour: AtomicU64,
    pub(crate) bytes_in: AtomicU64,
    pub(crate) bytes_out: AtomicU64,
    pub(crate) pushes_refused: AtomicU64,
    pub(crate) ignored_messages: AtomicU64,
}

impl Counters {
    /// Adds `n` to `counter`.
    pub(crate) fn add(counter: &AtomicU64, n: usize) {
        counter.fetch_add(u64::try_from(n).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// Adds one to `counter`.
    pub(crate) fn one(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}
