//! The correlation table: which request waits for which response id, and
//! why the connection ended once it has.

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::{oneshot, Notify};

use super::super::ids::RequestIds;
use super::ClientError;
use crate::protocol::Op;

pub(super) type Outcome = Result<Vec<u8>, ClientError>;

/// How a request went out, and so how its response must come back: a
/// binary frame is answered by a binary frame, a JSON envelope by a JSON
/// envelope, and an answer in the other form matches nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Form {
    /// A binary request frame.
    Binary,
    /// A JSON request envelope, alone or in a batch.
    Json,
}

/// A request waiting for its response.
#[derive(Debug)]
pub(super) struct Waiter {
    pub(super) op: Op,
    pub(super) form: Form,
    /// Tells this registration from a later one that reuses its id.
    pub(super) ticket: u64,
    pub(super) reply: oneshot::Sender<Outcome>,
}

/// Why the connection ended: what every request still waiting, and every
/// later one, is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Ended {
    /// Closed by either side, or lost; the text says why.
    Closed(String),
    /// Declared dead by the keepalive after this long without a word from the server.
    Unresponsive(Duration),
}

impl Ended {
    /// The error a request gets on a connection that ended this way.
    pub(super) fn error(&self) -> ClientError {
        match self {
            Ended::Closed(reason) => ClientError::Closed {
                reason: reason.clone(),
            },
            Ended::Unresponsive(silent_for) => ClientError::Unresponsive {
                silent_for: *silent_for,
            },
        }
    }
}

#[derive(Debug)]
pub(super) struct Pending {
    ids: RequestIds,
    waiting: HashMap<u16, Waiter>,
    tickets: u64,
    ended: Option<Ended>,
}

/// What the caller side and the reading task share.
#[derive(Debug)]
pub(super) struct Shared {
    pending: Mutex<Pending>,
    pub(super) dropped_pushes: AtomicU64,
    pub(super) unmatched: AtomicU64,
    /// Wakes whoever waits for the connection to end.
    ended_signal: Notify,
}

impl Shared {
    /// An empty table for a connection that is open.
    pub(super) fn new() -> Shared {
        Shared {
            pending: Mutex::new(Pending {
                ids: RequestIds::new(),
                waiting: HashMap::new(),
                tickets: 0,
                ended: None,
            }),
            dropped_pushes: AtomicU64::new(0),
            unmatched: AtomicU64::new(0),
            ended_signal: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(super) fn register(
        &self,
        op: Op,
        form: Form,
    ) -> Result<(u16, u64, oneshot::Receiver<Outcome>), ClientError> {
        let mut pending = self.lock();
        if let Some(ended) = &pending.ended {
            return Err(ended.error());
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
        pending.waiting.insert(
            id,
            Waiter {
                op,
                form,
                ticket,
                reply,
            },
        );
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

    /// The request waiting under `id`, if it went out in `form`.
    pub(super) fn take(&self, id: u16, form: Form) -> Option<Waiter> {
        let mut pending = self.lock();
        if pending.waiting.get(&id)?.form != form {
            return None;
        }
        pending.waiting.remove(&id)
    }

    /// Why the connection ended, if it has.
    pub(super) fn ended(&self) -> Option<Ended> {
        self.lock().ended.clone()
    }

    /// Fails every waiting request and refuses new ones. The first reason
    /// recorded is the one every request gets.
    pub(super) fn close(&self, ended: Ended) {
        let (ended, waiting) = {
            let mut pending = self.lock();
            let ended = pending.ended.get_or_insert(ended).clone();
            (ended, std::mem::take(&mut pending.waiting))
        };
        for waiter in waiting.into_values() {
            let _ = waiter.reply.send(Err(ended.error()));
        }
        self.ended_signal.notify_waiters();
    }

    /// Resolves once the connection has ended, with why.
    #[cfg(feature = "libhaystack")]
    pub(super) async fn until_ended(&self) -> Ended {
        loop {
            let signal = self.ended_signal.notified();
            tokio::pin!(signal);
            // Registered before the check, so an end between the two still wakes it.
            signal.as_mut().enable();
            if let Some(ended) = self.ended() {
                return ended;
            }
            signal.await;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_declared_unresponsive_fails_waiting_and_later_requests_alike() {
        let shared = Shared::new();
        let (_, _, mut outcome) = shared.register(Op::Read, Form::Binary).unwrap();
        let silent_for = Duration::from_millis(1500);
        shared.close(Ended::Unresponsive(silent_for));
        assert!(matches!(
            outcome.try_recv(),
            Ok(Err(ClientError::Unresponsive { silent_for: reported })) if reported == silent_for
        ));
        assert!(matches!(
            shared.register(Op::About, Form::Json),
            Err(ClientError::Unresponsive { silent_for: reported }) if reported == silent_for
        ));
        // A later close does not rewrite why the connection ended.
        shared.close(Ended::Closed("closed by this client".to_owned()));
        assert_eq!(shared.ended(), Some(Ended::Unresponsive(silent_for)));
    }

    #[test]
    fn a_response_in_the_other_form_leaves_the_request_waiting() {
        let shared = Shared::new();
        let (binary, _, _) = shared.register(Op::Read, Form::Binary).unwrap();
        let (json, _, _) = shared.register(Op::About, Form::Json).unwrap();
        assert!(shared.take(binary, Form::Json).is_none());
        assert!(shared.take(json, Form::Binary).is_none());
        assert_eq!(
            shared.take(binary, Form::Binary).map(|waiter| waiter.op),
            Some(Op::Read)
        );
        assert_eq!(
            shared.take(json, Form::Json).map(|waiter| waiter.op),
            Some(Op::About)
        );
    }
}
