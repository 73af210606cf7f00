//! The correlation table: which request waits for which response id.

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::Mutex;

use tokio::sync::oneshot;

use super::super::ids::RequestIds;
use super::ClientError;
use crate::protocol::Op;

pub(super) type Outcome = Result<Vec<u8>, ClientError>;

/// A request waiting for its response.
#[derive(Debug)]
pub(super) struct Waiter {
    pub(super) op: Op,
    /// Tells this registration from a later one that reuses its id.
    pub(super) ticket: u64,
    pub(super) reply: oneshot::Sender<Outcome>,
}

#[derive(Debug)]
pub(super) struct Pending {
    pub(super) ids: RequestIds,
    pub(super) waiting: HashMap<u16, Waiter>,
    pub(super) tickets: u64,
    pub(super) closed: Option<String>,
}

/// What the caller side and the reading task share.
#[derive(Debug)]
pub(super) struct Shared {
    pub(super) pending: Mutex<Pending>,
    pub(super) dropped_pushes: AtomicU64,
    pub(super) unmatched: AtomicU64,
}

impl Shared {
    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(super) fn register(&self, op: Op) -> Result<(u16, u64, oneshot::Receiver<Outcome>), ClientError> {
        let mut pending = self.lock();
        if let Some(reason) = &pending.closed {
            return Err(ClientError::Closed {
                reason: reason.clone(),
            });
        }
        let Pending { ids, waiting, .. } = &mut *pending;
        let id = ids
            .allocate(|id| waiting.contains_key(&id))
            .ok_or(ClientError::TooManyPending {
                pending: waiting.len(),
            })?;
        pending.tickets += 1;
        let ticket = pending.tickets;
        let (reply, outcome) = oneshot::channel();
        pending.waiting.insert(id, Waiter { op, ticket, reply });
        Ok((id, ticket, outcome))
    }

    /// Forgets a registration, unless its id already went to a later request.
    pub(super) fn forget(&self, id: u16, ticket: u64) {
        let mut pending = self.lock();
        if pending
            .waiting
            .get(&id)
            .is_some_and(|waiter| waiter.ticket == ticket)
        {
            pending.waiting.remove(&id);
        }
    }

    pub(super) fn take(&self, id: u16) -> Option<Waiter> {
        self.lock().waiting.remove(&id)
    }

    /// Fails every waiting request and refuses new ones.
    pub(super) fn close(&self, reason: String) {
        let waiting = {
            let mut pending = self.lock();
            pending.closed.get_or_insert(reason.clone());
            std::mem::take(&mut pending.waiting)
        };
        for waiter in waiting.into_values() {
            let _ = waiter.reply.send(Err(ClientError::Closed {
                reason: reason.clone(),
            }));
        }
    }
}

/// Removes a request's registration if its caller stops waiting early.
pub(super) struct Registration<'a> {
    pub(super) shared: &'a Shared,
    pub(super) id: u16,
    pub(super) ticket: u64,
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        self.shared.forget(self.id, self.ticket);
    }
}
