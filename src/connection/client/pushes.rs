//! The server's pushes, queued for whoever takes them, bounded in count and
//! in bytes.

use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::Stream;
use tokio::sync::mpsc;

use crate::protocol::Op;

/// A message the server pushed (watch updates).
///
/// It came either as a binary push frame or as a JSON `watch_push` text
/// message; a JSON push is given the op of watch updates,
/// [`Op::WatchPoll`], and its grid as the payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Push {
    /// The op the push carries (watchPoll for watch updates).
    pub op: Op,
    /// The payload, decompressed and reassembled (a JSON push: its grid, as
    /// the server wrote it).
    pub payload: Vec<u8>,
    /// The id of the watch the update belongs to: `Some` for a JSON push,
    /// `None` for a binary push frame, which carries none.
    pub watch_id: Option<String>,
}

impl Push {
    /// The bytes it holds, as counted against the push budget.
    fn bytes(&self) -> usize {
        self.payload
            .len()
            .saturating_add(self.watch_id.as_ref().map_or(0, String::len))
    }
}

/// The server's pushes, in the order they arrived; ends when the connection does.
///
/// Pushes wait here until taken, within two bounds: at most
/// [`ClientConfig::push_capacity`](super::ClientConfig::push_capacity)
/// pushes and at most
/// [`ClientConfig::push_budget`](super::ClientConfig::push_budget) bytes
/// (payload and watch id). A push that would break either bound is dropped (the newest one;
/// those already queued stay) and counted in
/// [`Client::dropped_pushes`](super::Client::dropped_pushes). A push's bytes
/// leave the budget when [`Pushes::next`] (or the [`Stream`]) hands it out.
#[derive(Debug)]
pub struct Pushes {
    queue: mpsc::Receiver<Push>,
    bytes: Arc<AtomicUsize>,
}

impl Pushes {
    /// The next push, or `None` once the connection is closed.
    pub async fn next(&mut self) -> Option<Push> {
        let push = self.queue.recv().await;
        self.release(push)
    }

    /// The bytes (payloads and watch ids) of the pushes waiting here, never more than the
    /// push budget.
    pub fn queued_bytes(&self) -> usize {
        self.bytes.load(Ordering::Acquire)
    }

    /// How many pushes wait here.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    fn release(&self, push: Option<Push>) -> Option<Push> {
        if let Some(push) = &push {
            self.bytes.fetch_sub(push.bytes(), Ordering::AcqRel);
        }
        push
    }
}

impl Stream for Pushes {
    type Item = Push;

    fn poll_next(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Option<Push>> {
        let this = self.get_mut();
        this.queue.poll_recv(context).map(|push| this.release(push))
    }
}

/// The reading side's end of the queue.
#[derive(Debug)]
pub(super) struct PushQueue {
    sender: mpsc::Sender<Push>,
    bytes: Arc<AtomicUsize>,
    budget: usize,
}

impl PushQueue {
    /// A queue of at most `capacity` pushes and `budget` bytes, and
    /// the [`Pushes`] that takes from it.
    pub(super) fn new(capacity: usize, budget: usize) -> (PushQueue, Pushes) {
        let (sender, queue) = mpsc::channel(capacity.max(1));
        let bytes = Arc::new(AtomicUsize::new(0));
        let pushes = Pushes {
            queue,
            bytes: Arc::clone(&bytes),
        };
        (
            PushQueue {
                sender,
                bytes,
                budget,
            },
            pushes,
        )
    }

    /// Queues `push`, or gives it back when it fits in neither the count nor
    /// the byte budget, or nobody takes pushes any more.
    ///
    /// Only the reading task adds, so the check and the addition cannot race
    /// another addition; [`Pushes`] only ever frees bytes in between.
    pub(super) fn offer(&self, push: Push) -> Result<(), Push> {
        let len = push.bytes();
        let free = self.budget.saturating_sub(self.bytes.load(Ordering::Acquire));
        if len > free {
            return Err(push);
        }
        self.bytes.fetch_add(len, Ordering::AcqRel);
        self.sender.try_send(push).map_err(|refused| {
            self.bytes.fetch_sub(len, Ordering::AcqRel);
            refused.into_inner()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn push(len: usize) -> Push {
        Push {
            op: Op::WatchPoll,
            payload: vec![7; len],
            watch_id: None,
        }
    }

    #[tokio::test]
    async fn a_push_past_the_byte_budget_is_refused_and_taking_one_frees_its_bytes() {
        let (queue, mut pushes) = PushQueue::new(100, 1000);
        assert!(queue.offer(push(600)).is_ok());
        assert!(queue.offer(push(400)).is_ok());
        assert_eq!(pushes.queued_bytes(), 1000);
        assert_eq!(queue.offer(push(1)).map_err(|push| push.payload.len()), Err(1));
        assert_eq!(pushes.next().await.map(|push| push.payload.len()), Some(600));
        assert_eq!(pushes.queued_bytes(), 400);
        assert!(queue.offer(push(600)).is_ok());
        assert_eq!((pushes.queued(), pushes.queued_bytes()), (2, 1000));
    }

    #[tokio::test]
    async fn a_push_past_the_count_is_refused_and_its_bytes_are_not_kept() {
        let (queue, pushes) = PushQueue::new(2, 1000);
        assert!(queue.offer(push(10)).is_ok());
        assert!(queue.offer(push(10)).is_ok());
        assert!(queue.offer(push(10)).is_err());
        assert_eq!((pushes.queued(), pushes.queued_bytes()), (2, 20));
    }

    #[test]
    fn a_push_larger_than_the_whole_budget_is_always_refused() {
        let (queue, pushes) = PushQueue::new(10, 1000);
        assert!(queue.offer(push(1001)).is_err());
        assert_eq!(pushes.queued_bytes(), 0);
        // Empty payloads cost nothing but still count.
        let (queue, pushes) = PushQueue::new(1, 0);
        assert!(queue.offer(push(0)).is_ok());
        assert!(queue.offer(push(0)).is_err());
        assert_eq!(pushes.queued(), 1);
    }

    #[tokio::test]
    async fn a_watch_id_counts_against_the_byte_budget() {
        let (queue, mut pushes) = PushQueue::new(10, 10);
        let with_id = |len: usize, id: &str| Push {
            watch_id: Some(id.to_owned()),
            ..push(len)
        };
        assert!(queue.offer(with_id(6, "w-12")).is_ok());
        assert_eq!(pushes.queued_bytes(), 10);
        assert!(queue.offer(with_id(0, "w")).is_err());
        assert_eq!(
            pushes.next().await.and_then(|push| push.watch_id).as_deref(),
            Some("w-12")
        );
        assert_eq!(pushes.queued_bytes(), 0);
    }
}
