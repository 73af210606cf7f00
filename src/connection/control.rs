//! Asking a connection to close from outside its read loop: the server's
//! budget, a push to a peer that does not read, the writer when the socket
//! stops taking bytes.

use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::Notify;

/// Why a connection is asked to close from outside its read loop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Closing {
    /// The server's memory budget is spent and this connection held the most.
    OverServerBudget {
        /// Bytes it held.
        held: usize,
        /// The server-wide limit.
        limit: usize,
    },
    /// Output queued for the peer passed its budget while pushes kept coming.
    PushesNotRead {
        /// Bytes queued.
        queued: usize,
        /// The connection's output budget.
        limit: usize,
    },
    /// The socket took no bytes for the write deadline.
    WriteStalled {
        /// The write deadline.
        after: Duration,
    },
    /// The server is shutting down.
    ServerGoingAway,
    /// The writer stopped (the socket failed).
    WriterFailed {
        /// What the WebSocket layer reported.
        reason: String,
    },
}

/// One connection's close request: the first reason wins.
#[derive(Debug, Default)]
pub(crate) struct Control {
    closing: Mutex<Option<Closing>>,
    notify: Notify,
}

impl Control {
    pub(crate) fn new() -> Control {
        Control::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Closing>> {
        self.closing
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Asks the connection to close for `why`, unless it already is.
    pub(crate) fn close(&self, why: Closing) {
        let mut closing = self.lock();
        if closing.is_none() {
            *closing = Some(why);
            drop(closing);
            self.notify.notify_one();
        }
    }

    /// Whether a close was asked for.
    pub(crate) fn is_closing(&self) -> bool {
        self.lock().is_some()
    }

    /// Resolves with the reason once a close is asked for.
    pub(crate) async fn closed(&self) -> Closing {
        loop {
            if let Some(why) = self.lock().clone() {
                return why;
            }
            self.notify.notified().await;
        }
    }
}

/// Set once a connection's read loop has ended: from then on nobody will
/// read an answer on it, and the work still running for it can stop.
#[derive(Debug, Default)]
pub(crate) struct Ended {
    ended: std::sync::atomic::AtomicBool,
    notify: Notify,
}

impl Ended {
    /// Marks the connection ended and wakes whoever waits for it.
    pub(crate) fn set(&self) {
        self.ended.store(true, std::sync::atomic::Ordering::Release);
        self.notify.notify_waiters();
    }

    /// Whether the connection has ended.
    pub(crate) fn is_set(&self) -> bool {
        self.ended.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Resolves once the connection has ended.
    pub(crate) async fn wait(&self) {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            // Registered before the flag is read, so a `set` in between is not missed.
            notified.as_mut().enable();
            if self.is_set() {
                return;
            }
            notified.await;
        }
    }
}
