//! The server's pushes, queued for whoever takes them.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::Stream;
use tokio::sync::mpsc;

use crate::protocol::Op;

/// A message the server pushed (watch updates).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Push {
    /// The op the push carries (watchPoll for watch updates).
    pub op: Op,
    /// The payload, decompressed and reassembled.
    pub payload: Vec<u8>,
}

/// The server's pushes, in the order they arrived; ends when the connection does.
#[derive(Debug)]
pub struct Pushes {
    pub(super) queue: mpsc::Receiver<Push>,
}

impl Pushes {
    /// The next push, or `None` once the connection is closed.
    pub async fn next(&mut self) -> Option<Push> {
        self.queue.recv().await
    }
}

impl Stream for Pushes {
    type Item = Push;

    fn poll_next(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Option<Push>> {
        self.queue.poll_recv(context)
    }
}
