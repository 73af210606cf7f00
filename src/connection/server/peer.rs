//! The sending side of one connection as handlers and pushers see it, and
//! the subscriptions that fan pushes out to many connections.
//!
//! A push never waits on its peer: it is encoded and queued at once, and a
//! peer whose queued output is over its budget (it is not reading) is
//! closed instead of being waited for. So one stalled subscriber costs the
//! others nothing.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use super::super::control::{Closing, Control, Ended};
use bytes::Bytes;

use super::super::budget::Account;
use super::super::handshake::Session;
use super::super::outbox::{Outbox, SendError};
use super::counters::Counters;
use super::envelope::{check_json, watch_push_message};
use super::work::{Held, OverBudget};
use crate::protocol::{BaseHeader, Op};

/// The sending side of one connection, for pushes.
#[derive(Debug, Clone)]
pub struct Peer {
    pub(super) id: u64,
    /// The address the connection came from, when the transport has one.
    pub(super) remote: Option<SocketAddr>,
    pub(super) outbox: Arc<Outbox>,
    pub(super) control: Arc<Control>,
    /// The output budget: past it, the peer is not keeping up.
    pub(super) max_queued_bytes: usize,
    pub(super) counters: Arc<Counters>,
    /// What the connection holds of the server's memory budget.
    pub(super) account: Arc<Account>,
    /// Set when the connection's read loop ends.
    pub(super) ended: Arc<Ended>,
    /// Whether the connection's latest single request was a JSON envelope:
    /// watch pushes then go out in JSON form ([`Peer::push_watch`]).
    pub(super) json_form: Arc<AtomicBool>,
}

/// Why a push did not go out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PushError {
    /// The connection is closed.
    #[error("connection {peer} is closed")]
    Closed {
        /// The peer's id.
        peer: u64,
    },
    /// The peer is not reading: its queued output is over its budget. The
    /// connection is closed (1008), and the push dropped.
    #[error(
        "connection {peer} is not reading: {queued} bytes queued, over its budget of {limit}; closing it"
    )]
    NotReading {
        /// The peer's id.
        peer: u64,
        /// Bytes queued for it.
        queued: usize,
        /// The connection's output budget ([`super::ServerConfig::max_queued_bytes`]).
        limit: usize,
    },
    /// The push could not be framed (too large for the chunk counter, say).
    #[error("the push to connection {peer} could not be framed: {source}")]
    Encode {
        /// The peer's id.
        peer: u64,
        /// Why.
        #[source]
        source: crate::error::Error,
    },
    /// A watch push to a connection in JSON form whose payload is not one
    /// JSON value, and so cannot be embedded in a text message.
    #[error("the watch push to connection {peer} is not JSON: {reason}")]
    NotJson {
        /// The peer's id.
        peer: u64,
        /// What the JSON parser reported.
        reason: String,
    },
}

impl Peer {
    /// A number unique to this connection within the process.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The address the connection came from: the TCP peer of a connection
    /// a [`super::Server`] accepted; `None` for one served with
    /// [`super::serve_connection`] or [`super::serve_websocket`], whose
    /// transport the server does not know. Behind a proxy, it is the
    /// proxy's address.
    pub fn remote_address(&self) -> Option<SocketAddr> {
        self.remote
    }

    /// Whether the connection is closed or closing.
    pub fn is_closed(&self) -> bool {
        self.ended.is_set() || self.outbox.is_closed() || self.control.is_closing()
    }

    /// Whether the connection has stopped reading requests for good: nobody
    /// will read an answer on it. (A server that shuts down is closing
    /// before that, while it lets the requests already read finish.)
    pub(super) fn has_ended(&self) -> bool {
        self.ended.is_set() || self.outbox.is_closed()
    }

    /// Resolves once [`Peer::has_ended`].
    pub(super) async fn ended(&self) {
        tokio::select! {
            () = self.ended.wait() => {}
            () = self.outbox.closed() => {}
        }
    }

    /// Resolves once the connection is closed, for clean-up that belongs to
    /// it (a watch that ends with its connection, say).
    pub fn closed(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let outbox = Arc::clone(&self.outbox);
        async move { outbox.closed().await }
    }

    /// Counts `bytes` that the server keeps for this connection beyond one
    /// request (a watch, what a handler caches for it) in the server's
    /// memory budget ([`super::ServerConfig::memory_budget`]), until the
    /// [`Held`] is dropped: keep it with what it counts. When the budget is
    /// spent, the connection holding the most is asked to close (1013) and
    /// the charge goes through, or, when that is this connection, the charge
    /// is refused.
    pub fn hold(&self, bytes: usize) -> Result<Held, OverBudget> {
        Held::charge(&self.account, bytes)
    }

    /// Bytes queued for this peer and not yet written to its socket.
    pub fn queued_bytes(&self) -> usize {
        self.outbox.backlog().bytes()
    }

    /// Whether the connection's latest single request came as a JSON
    /// envelope (rather than a binary frame or a capability offer): its
    /// watch pushes then go out as JSON text messages.
    pub fn speaks_json(&self) -> bool {
        self.json_form.load(Ordering::Relaxed)
    }

    /// Records the form of the connection's latest single request.
    pub(super) fn set_json_form(&self, json: bool) {
        self.json_form.store(json, Ordering::Relaxed);
    }

    /// Pushes `payload` as `op` in a binary push frame (compressed and
    /// chunked as the connection agreed), whatever form the connection's
    /// requests take: for pushes that exist only in binary form. A watch
    /// update goes through [`Peer::push_watch`] instead, which follows the
    /// connection's form. Never waits: the frames are queued at once. A peer
    /// whose queued output is already over its budget is closed instead.
    pub fn push(&self, op: Op, payload: &[u8]) -> Result<(), PushError> {
        self.check_reading()?;
        let sent = self.outbox.send_now(BaseHeader::push(op), payload);
        self.sent(sent, payload.len())
    }

    /// Pushes a watch update, `payload` being the grid of the entities that
    /// changed, in the connection's form: a JSON `watch` message carrying
    /// `watch_id` when its latest single request was a JSON envelope, else
    /// a binary push frame under op `watchPoll` (which carries no watch id,
    /// as in the reference). Budgets and errors are those of [`Peer::push`];
    /// a payload that is not JSON cannot go to a connection in JSON form
    /// ([`PushError::NotJson`]).
    pub fn push_watch(&self, watch_id: &str, payload: &[u8]) -> Result<(), PushError> {
        if !self.speaks_json() {
            return self.push(Op::WatchPoll, payload);
        }
        let grid = check_json(payload).map_err(|reason| PushError::NotJson {
            peer: self.id,
            reason,
        })?;
        self.check_reading()?;
        let sent = self.outbox.send_text(watch_push_message(watch_id, grid));
        self.sent(sent, payload.len())
    }

    /// Refuses a push to a peer whose queued output is over its budget, and
    /// closes that peer.
    fn check_reading(&self) -> Result<(), PushError> {
        let queued = self.queued_bytes();
        if queued > self.max_queued_bytes {
            Counters::one(&self.counters.pushes_refused);
            tracing::info!(
                peer = self.id,
                queued,
                limit = self.max_queued_bytes,
                "push refused: the peer is not reading"
            );
            self.control.close(Closing::PushesNotRead {
                queued,
                limit: self.max_queued_bytes,
            });
            return Err(PushError::NotReading {
                peer: self.id,
                queued,
                limit: self.max_queued_bytes,
            });
        }
        Ok(())
    }

    /// What a push's send came to: `bytes` counted out, or the push error.
    fn sent(&self, sent: Result<(), SendError>, bytes: usize) -> Result<(), PushError> {
        match sent {
            Ok(()) => {
                Counters::add(&self.counters.bytes_out, bytes);
                Ok(())
            }
            Err(SendError::Encode(source)) => Err(PushError::Encode {
                peer: self.id,
                source,
            }),
            Err(SendError::OverBudget(exhausted)) => {
                self.control.close(Closing::OverServerBudget {
                    held: exhausted.held,
                    limit: exhausted.limit,
                });
                Err(PushError::Closed { peer: self.id })
            }
            Err(SendError::Closed) => Err(PushError::Closed { peer: self.id }),
        }
    }
}

/// Connections subscribed to keys (watch ids, say), for pushes.
#[derive(Debug)]
pub struct Subscribers<K> {
    by_key: Mutex<HashMap<K, Vec<Peer>>>,
}

impl<K: std::hash::Hash + Eq + Clone> Subscribers<K> {
    /// No subscriptions.
    pub fn new() -> Self {
        Subscribers {
            by_key: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, Vec<Peer>>> {
        self.by_key
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Subscribes `peer` to `key` (once, however often it asks).
    pub fn subscribe(&self, key: K, peer: &Peer) {
        let mut by_key = self.lock();
        let peers = by_key.entry(key).or_default();
        if !peers.iter().any(|known| known.id == peer.id) {
            peers.push(peer.clone());
        }
    }

    /// Unsubscribes the peer with id `peer` from `key`.
    pub fn unsubscribe(&self, key: &K, peer: u64) {
        let mut by_key = self.lock();
        if let Some(peers) = by_key.get_mut(key) {
            peers.retain(|known| known.id != peer);
            if peers.is_empty() {
                by_key.remove(key);
            }
        }
    }

    /// Drops every subscription to `key`.
    pub fn remove_key(&self, key: &K) {
        self.lock().remove(key);
    }

    /// Whether any open connection is subscribed to `key`.
    pub fn has_subscribers(&self, key: &K) -> bool {
        self.lock()
            .get(key)
            .is_some_and(|peers| peers.iter().any(|peer| !peer.is_closed()))
    }

    /// Pushes `payload` to every connection subscribed to `key`, without
    /// waiting on any of them; forgets the closed ones and those closed for
    /// not reading. The frames are made once for all the connections that
    /// share a session (compression and chunking) and queued to each of them
    /// without copying. Returns how many it reached.
    pub fn push(&self, key: &K, op: Op, payload: &[u8]) -> usize {
        let peers = self.lock().get(key).cloned().unwrap_or_default();
        let mut frames = SharedFrames::new(BaseHeader::push(op), payload);
        let mut reached = 0;
        for peer in &peers {
            match frames.push_to(peer) {
                Ok(()) => reached += 1,
                Err(PushError::Encode { .. }) => {}
                Err(_) => self.unsubscribe(key, peer.id),
            }
        }
        reached
    }

    /// Pushes a watch update to every connection subscribed to `key`, each
    /// in its own form ([`Peer::push_watch`]); otherwise as
    /// [`Subscribers::push`], binary frames made once per session. Returns
    /// how many it reached.
    pub fn push_watch(&self, key: &K, watch_id: &str, payload: &[u8]) -> usize {
        let peers = self.lock().get(key).cloned().unwrap_or_default();
        let mut frames = SharedFrames::new(BaseHeader::push(Op::WatchPoll), payload);
        let mut reached = 0;
        for peer in &peers {
            let pushed = if peer.speaks_json() {
                peer.push_watch(watch_id, payload)
            } else {
                frames.push_to(peer)
            };
            match pushed {
                Ok(()) => reached += 1,
                Err(PushError::Encode { .. } | PushError::NotJson { .. }) => {}
                Err(_) => self.unsubscribe(key, peer.id),
            }
        }
        reached
    }
}

/// One push's frames, made once per session for the fan-out of
/// [`Subscribers`].
struct SharedFrames<'a> {
    base: BaseHeader,
    payload: &'a [u8],
    /// The frames made so far, by session; a fan-out meets a few sessions
    /// at most (three compression settings times two of chunking).
    made: Vec<(Session, Result<Vec<Bytes>, crate::error::Error>)>,
}

impl<'a> SharedFrames<'a> {
    fn new(base: BaseHeader, payload: &'a [u8]) -> Self {
        SharedFrames {
            base,
            payload,
            made: Vec::new(),
        }
    }

    /// Queues the push to `peer` in binary form, as [`Peer::push`] does,
    /// with the frames of its session, made by the first peer that has it.
    fn push_to(&mut self, peer: &Peer) -> Result<(), PushError> {
        peer.check_reading()?;
        let session = peer.outbox.session();
        let at = match self.made.iter().position(|(known, _)| *known == session) {
            Some(at) => at,
            None => {
                let frames = peer.outbox.encode_frames(self.base, self.payload);
                self.made.push((session, frames));
                self.made.len() - 1
            }
        };
        let sent = match &self.made[at].1 {
            Ok(frames) => peer.outbox.send_frames(frames),
            Err(error) => Err(SendError::Encode(error.clone())),
        };
        peer.sent(sent, self.payload.len())
    }
}

impl<K: std::hash::Hash + Eq + Clone> Default for Subscribers<K> {
    fn default() -> Self {
        Subscribers::new()
    }
}
