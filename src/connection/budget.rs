//! The server-wide memory budget: what all connections hold at once in
//! unfinished chunk sequences, queued output and decompression room.
//!
//! Each connection charges its own [`Account`]; the accounts share one
//! [`MemoryBudget`]. A charge that would take the total past the limit finds
//! the connection holding the most and asks it to close, so that one abusive
//! peer (or a few) cannot make the server refuse the well-behaved ones. When
//! the charging connection is itself the largest holder, the charge is
//! refused and that connection is the one closed.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use super::control::{Closing, Control};

/// Memory shared by all connections of one server, in bytes.
#[derive(Debug)]
pub(crate) struct MemoryBudget {
    limit: usize,
    used: AtomicUsize,
    holders: Mutex<HashMap<u64, Holder>>,
}

#[derive(Debug)]
struct Holder {
    held: Arc<AtomicUsize>,
    control: Arc<Control>,
}

/// The budget is spent and this connection holds the most.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Exhausted {
    /// What this connection held when the charge was refused.
    pub(crate) held: usize,
    /// The server-wide limit.
    pub(crate) limit: usize,
}

impl MemoryBudget {
    pub(crate) fn new(limit: usize) -> Arc<MemoryBudget> {
        Arc::new(MemoryBudget {
            limit,
            used: AtomicUsize::new(0),
            holders: Mutex::new(HashMap::new()),
        })
    }

    /// Bytes charged across all connections.
    pub(crate) fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// The limit.
    pub(crate) fn limit(&self) -> usize {
        self.limit
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Holder>> {
        self.holders
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Opens the account of connection `id`, closed through `control` when it
    /// holds the most of a spent budget.
    pub(crate) fn open(self: &Arc<Self>, id: u64, control: Arc<Control>) -> Account {
        let held = Arc::new(AtomicUsize::new(0));
        self.lock().insert(
            id,
            Holder {
                held: Arc::clone(&held),
                control,
            },
        );
        Account {
            id,
            held,
            budget: Some(Arc::clone(self)),
        }
    }

    /// Asks the largest holder other than `except` to close, unless it
    /// already is; returns false when `except` holds at least as much as
    /// any other, closing or not.
    fn evict_largest(&self, except: u64, own: usize) -> bool {
        let holders = self.lock();
        let largest = holders
            .iter()
            .filter(|(id, _)| **id != except)
            .map(|(_, holder)| (holder.held.load(Ordering::Relaxed), &holder.control))
            .max_by_key(|(held, _)| *held);
        match largest {
            Some((held, control)) if held > own => {
                control.close(Closing::OverServerBudget {
                    held,
                    limit: self.limit,
                });
                true
            }
            _ => false,
        }
    }
}

/// What one connection holds of the server's budget. Dropping it releases
/// everything it still holds.
#[derive(Debug)]
pub(crate) struct Account {
    id: u64,
    held: Arc<AtomicUsize>,
    budget: Option<Arc<MemoryBudget>>,
}

impl Account {
    /// An account that shares no budget (a client's, or a connection served
    /// outside a server): it only counts.
    pub(crate) fn unshared() -> Account {
        Account {
            id: 0,
            held: Arc::new(AtomicUsize::new(0)),
            budget: None,
        }
    }

    /// What this account holds.
    pub(crate) fn held(&self) -> usize {
        self.held.load(Ordering::Relaxed)
    }

    /// Charges `bytes`. Past the server's limit, the largest other holder is
    /// asked to close and the charge goes through (its memory is on its way
    /// back); when this connection is the largest, the charge is refused.
    pub(crate) fn charge(&self, bytes: usize) -> Result<(), Exhausted> {
        let Some(budget) = &self.budget else {
            self.held.fetch_add(bytes, Ordering::Relaxed);
            return Ok(());
        };
        let used = budget
            .used
            .fetch_add(bytes, Ordering::Relaxed)
            .saturating_add(bytes);
        if used > budget.limit {
            let own = self.held();
            if !budget.evict_largest(self.id, own.saturating_add(bytes)) {
                budget.used.fetch_sub(bytes, Ordering::Relaxed);
                return Err(Exhausted {
                    held: own,
                    limit: budget.limit,
                });
            }
        }
        self.held.fetch_add(bytes, Ordering::Relaxed);
        Ok(())
    }

    /// Charges what is left of the budget, up to `wanted`: room for work
    /// whose size is not known in advance (decompression). When less than
    /// `wanted` is left and another connection holds more than this one, that
    /// connection is asked to close and `wanted` is charged in full; else
    /// only what is left is. Returns the bytes charged.
    pub(crate) fn reserve_up_to(&self, wanted: usize) -> usize {
        let Some(budget) = &self.budget else {
            self.held.fetch_add(wanted, Ordering::Relaxed);
            return wanted;
        };
        if budget.used().saturating_add(wanted) > budget.limit && budget.evict_largest(self.id, self.held()) {
            // The largest holder's memory is on its way back.
            budget.used.fetch_add(wanted, Ordering::Relaxed);
            self.held.fetch_add(wanted, Ordering::Relaxed);
            return wanted;
        }
        let mut used = budget.used.load(Ordering::Relaxed);
        loop {
            let room = budget.limit.saturating_sub(used).min(wanted);
            match budget
                .used
                .compare_exchange_weak(used, used + room, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => {
                    self.held.fetch_add(room, Ordering::Relaxed);
                    return room;
                }
                Err(now) => used = now,
            }
        }
    }

    /// Gives `bytes` back.
    pub(crate) fn release(&self, bytes: usize) {
        let bytes = bytes.min(self.held());
        self.held.fetch_sub(bytes, Ordering::Relaxed);
        if let Some(budget) = &self.budget {
            budget.used.fetch_sub(bytes, Ordering::Relaxed);
        }
    }
}

impl Drop for Account {
    fn drop(&mut self) {
        self.release(self.held());
        if let Some(budget) = &self.budget {
            budget.lock().remove(&self.id);
        }
    }
}
