//! What bounds a request's work: its deadline and its connection's life
//! ([`Cancellation`]), the pool that runs CPU-heavy work off the runtime's
//! threads with a fair share per connection ([`super::Request::compute`]),
//! and memory a handler keeps for a connection beyond one request
//! ([`Held`], from [`super::Peer::hold`]).
//!
//! A handler's future is dropped when its connection closes or its deadline
//! passes (see [`super::ServerConfig::request_timeout`]); work that runs on
//! a thread of its own cannot be dropped, so it asks its [`Cancellation`]
//! between steps and stops when told.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

use super::super::budget::Account;
use super::peer::Peer;
use super::router::Fault;

/// Whether a request is still wanted: its connection open, its deadline
/// not passed. Cheap to clone and to ask, and `Send`: blocking work asks it
/// every few thousand steps and stops when it says so.
///
/// ```
/// use std::time::{Duration, Instant};
/// use haystack_wire::connection::Cancellation;
///
/// let forever = Cancellation::never();
/// assert!(forever.check().is_ok());
/// let past = Cancellation::at(Instant::now() - Duration::from_secs(1));
/// assert!(past.is_cancelled());
/// ```
#[derive(Clone)]
pub struct Cancellation {
    connection: Option<Peer>,
    deadline: Option<Instant>,
    timeout: Option<Duration>,
}

impl fmt::Debug for Cancellation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cancellation")
            .field("connection", &self.connection.as_ref().map(Peer::id))
            .field("deadline", &self.deadline)
            .finish()
    }
}

/// Why a request is no longer wanted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Cancelled {
    /// The connection that asked is closed or closing: nobody will read the
    /// answer.
    #[error("the connection closed")]
    ConnectionClosed,
    /// The request's deadline passed.
    #[error("the request ran past its deadline{}", after.map_or(String::new(), |after| format!(" of {} s", after.as_secs_f64())))]
    DeadlinePassed {
        /// How long the request had, when it was given as a timeout.
        after: Option<Duration>,
    },
}

impl Cancellation {
    /// Never cancelled: for work run outside a server (tests, tools).
    pub fn never() -> Self {
        Cancellation {
            connection: None,
            deadline: None,
            timeout: None,
        }
    }

    /// Cancelled once `deadline` passes.
    pub fn at(deadline: Instant) -> Self {
        Cancellation {
            connection: None,
            deadline: Some(deadline),
            timeout: None,
        }
    }

    /// A request of `peer`'s, not yet given a deadline.
    pub(super) fn of(peer: Peer) -> Self {
        Cancellation {
            connection: Some(peer),
            deadline: None,
            timeout: None,
        }
    }

    /// Gives the request `timeout` from now.
    pub(super) fn start(&mut self, timeout: Option<Duration>) {
        self.timeout = timeout;
        self.deadline = timeout.and_then(|timeout| Instant::now().checked_add(timeout));
    }

    /// When the request stops being wanted, if it has a deadline. It is
    /// measured on the system's monotonic clock (`std::time::Instant`),
    /// which tokio's paused test clock does not move.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Why the request is no longer wanted, or `None` while it is.
    pub fn reason(&self) -> Option<Cancelled> {
        if self.connection.as_ref().is_some_and(Peer::has_ended) {
            return Some(Cancelled::ConnectionClosed);
        }
        match self.deadline {
            Some(deadline) if Instant::now() >= deadline => {
                Some(Cancelled::DeadlinePassed { after: self.timeout })
            }
            _ => None,
        }
    }

    /// Whether the request is no longer wanted.
    pub fn is_cancelled(&self) -> bool {
        self.reason().is_some()
    }

    /// `Err` with the reason once the request is no longer wanted: for `?`
    /// between the steps of long work.
    pub fn check(&self) -> Result<(), Cancelled> {
        self.reason().map_or(Ok(()), Err)
    }
}

impl From<Cancelled> for Fault {
    fn from(why: Cancelled) -> Self {
        Fault::new(format!("the request was stopped: {why}"))
    }
}

/// The threads CPU-heavy handler work runs on, shared by every connection
/// of a server, and how much of it one connection may hold.
#[derive(Debug, Clone)]
pub(super) struct ComputePool {
    threads: Arc<Semaphore>,
    size: usize,
    per_connection: usize,
}

impl ComputePool {
    /// A pool of `threads` (at least one), of which one connection holds at
    /// most `per_connection` (at least one, at most all) at once.
    pub(super) fn new(threads: usize, per_connection: usize) -> Self {
        let size = threads.clamp(1, Semaphore::MAX_PERMITS);
        ComputePool {
            threads: Arc::new(Semaphore::new(size)),
            size,
            per_connection: per_connection.clamp(1, size),
        }
    }

    /// As many threads as the machine has cores, half of them (at least
    /// one) per connection.
    pub(super) fn for_this_machine() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |cores| cores.get());
        ComputePool::new(cores, cores / 2)
    }

    /// The pool's threads.
    pub(super) fn size(&self) -> usize {
        self.size
    }

    /// The most threads one connection holds at once.
    pub(super) fn per_connection(&self) -> usize {
        self.per_connection
    }

    /// The share of a new connection.
    pub(super) fn share(&self) -> ComputeShare {
        ComputeShare {
            pool: Arc::clone(&self.threads),
            own: Arc::new(Semaphore::new(self.per_connection)),
        }
    }
}

/// One connection's way into the [`ComputePool`].
#[derive(Debug, Clone)]
pub(super) struct ComputeShare {
    pool: Arc<Semaphore>,
    own: Arc<Semaphore>,
}

impl ComputeShare {
    /// Runs `work` on a thread of the pool once this connection's share and
    /// the pool both have room; tokio's semaphores queue in order, so the
    /// connections waiting take turns. The permits go with the work and are
    /// given back when it returns, not when the caller stops waiting for it:
    /// work that ignores its cancellation keeps its thread counted.
    pub(super) async fn run<T, F>(&self, cancellation: Cancellation, work: F) -> Result<T, Fault>
    where
        F: FnOnce(&Cancellation) -> Result<T, Fault> + Send + 'static,
        T: Send + 'static,
    {
        let stopped = || Fault::new("the server is no longer running work");
        let own = Arc::clone(&self.own)
            .acquire_owned()
            .await
            .map_err(|_| stopped())?;
        let pooled = Arc::clone(&self.pool)
            .acquire_owned()
            .await
            .map_err(|_| stopped())?;
        cancellation.check()?;
        tokio::task::spawn_blocking(move || {
            let _turn = (own, pooled);
            work(&cancellation)
        })
        .await
        .unwrap_or_else(|_| Err(Fault::new("the request's work failed")))
    }
}

/// Memory a server keeps for a connection beyond one request (a watch and
/// its records, say), counted in the server's shared memory budget
/// ([`super::ServerConfig::memory_budget`]) until it is dropped. Made by
/// [`super::Peer::hold`]; drop it with what it counts.
#[derive(Debug)]
pub struct Held {
    account: Arc<Account>,
    bytes: usize,
}

/// The server's memory budget cannot take what was asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the server's memory budget of {limit} bytes is spent: this connection holds {held} and asked {wanted} more")]
pub struct OverBudget {
    /// The bytes asked for.
    pub wanted: usize,
    /// What the connection held when it asked.
    pub held: usize,
    /// The server-wide limit.
    pub limit: usize,
}

impl Held {
    /// Charges `bytes` to `account`.
    pub(super) fn charge(account: &Arc<Account>, bytes: usize) -> Result<Held, OverBudget> {
        account.charge(bytes).map_err(|exhausted| OverBudget {
            wanted: bytes,
            held: exhausted.held,
            limit: exhausted.limit,
        })?;
        Ok(Held {
            account: Arc::clone(account),
            bytes,
        })
    }

    /// The bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Holds `bytes` instead: gives back what is no longer needed, or
    /// charges what is added (and holds what it held before when the budget
    /// cannot take it).
    pub fn resize(&mut self, bytes: usize) -> Result<(), OverBudget> {
        if bytes <= self.bytes {
            self.account.release(self.bytes - bytes);
        } else {
            let more = bytes - self.bytes;
            self.account.charge(more).map_err(|exhausted| OverBudget {
                wanted: more,
                held: exhausted.held,
                limit: exhausted.limit,
            })?;
        }
        self.bytes = bytes;
        Ok(())
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.account.release(self.bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connection::budget::MemoryBudget;
    use crate::connection::control::Control;

    #[test]
    fn a_deadline_in_the_past_cancels_and_says_so() {
        let mut cancellation = Cancellation::never();
        assert_eq!(cancellation.check(), Ok(()));
        cancellation.start(Some(Duration::ZERO));
        assert_eq!(
            cancellation.check(),
            Err(Cancelled::DeadlinePassed {
                after: Some(Duration::ZERO)
            })
        );
        assert_eq!(
            Fault::from(Cancelled::DeadlinePassed {
                after: Some(Duration::from_secs(30))
            })
            .dis(),
            "the request was stopped: the request ran past its deadline of 30 s"
        );
    }

    #[test]
    fn memory_held_is_counted_until_dropped_and_refused_past_the_budget() {
        let budget = MemoryBudget::new(1_000);
        let account = Arc::new(budget.open(1, Arc::new(Control::new())));
        let mut held = Held::charge(&account, 600).unwrap();
        assert_eq!(budget.used(), 600);
        held.resize(800).unwrap();
        assert_eq!(budget.used(), 800);
        let refused = held.resize(1_200).unwrap_err();
        assert_eq!((refused.wanted, refused.held, refused.limit), (400, 800, 1_000));
        assert_eq!(held.bytes(), 800, "a refused resize keeps what was held");
        held.resize(100).unwrap();
        assert_eq!(budget.used(), 100);
        drop(held);
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn a_pool_is_never_empty_and_a_share_never_exceeds_it() {
        let pool = ComputePool::new(0, 0);
        assert_eq!((pool.size(), pool.per_connection()), (1, 1));
        let pool = ComputePool::new(4, 9);
        assert_eq!((pool.size(), pool.per_connection()), (4, 4));
    }

    #[tokio::test]
    async fn one_connection_holds_at_most_its_share_of_the_pool() {
        let pool = ComputePool::new(2, 1);
        let (first, second) = (pool.share(), pool.share());
        let (started, release) = (Arc::new(Semaphore::new(0)), Arc::new(std::sync::Barrier::new(2)));
        let busy = {
            let (started, release) = (Arc::clone(&started), Arc::clone(&release));
            let first = first.clone();
            tokio::spawn(async move {
                first
                    .run(Cancellation::never(), move |_| {
                        started.add_permits(1);
                        release.wait();
                        Ok(1)
                    })
                    .await
            })
        };
        let _ = started.acquire().await.unwrap();
        // The first connection's second job waits for its first; the other
        // connection's job runs on the pool's other thread meanwhile.
        let waiting = {
            let first = first.clone();
            tokio::spawn(async move { first.run(Cancellation::never(), |_| Ok(2)).await })
        };
        assert_eq!(second.run(Cancellation::never(), |_| Ok(3)).await, Ok(3));
        assert!(!waiting.is_finished());
        release.wait();
        assert_eq!(busy.await.unwrap(), Ok(1));
        assert_eq!(waiting.await.unwrap(), Ok(2));
    }
}
