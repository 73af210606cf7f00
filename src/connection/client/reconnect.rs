//! A client that stays connected: it reconnects after a drop, with
//! exponential backoff and full jitter, re-opens the watches opened through
//! it, and hands the pushes of every connection to one stream.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use libhaystack::val::{Grid, Ref, Value};
use tokio::sync::watch;
use tokio::time::Instant;

use super::super::body::Body;
use super::super::requests::{self, Request};
use super::ops::{response_grid, typed_ops};
use super::pending::Ended;
use super::pushes::{Push, PushQueue, Pushes};
use super::{Client, ClientConfig, ClientError};
use crate::protocol::Op;

/// How a [`ReconnectingClient`] waits between connection attempts.
///
/// After a failed attempt or a drop, the next attempt comes after a random
/// delay between zero and the current bound ("full jitter"), and the bound
/// doubles, from [`Reconnect::min_delay`] up to [`Reconnect::max_delay`]. A
/// connection that stayed up for [`Reconnect::stable_after`] puts the bound
/// back to the minimum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reconnect {
    min_delay: Duration,
    max_delay: Duration,
    stable_after: Duration,
}

impl Reconnect {
    /// The reference's bounds: 1 second at first, at most 60 seconds; the
    /// bound goes back to 1 second after a connection that lasted 30
    /// seconds.
    pub fn new() -> Reconnect {
        Reconnect {
            min_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(60),
            stable_after: Duration::from_secs(30),
        }
    }

    /// The bound of the first delay (and the least the bound ever is).
    pub fn min_delay(mut self, delay: Duration) -> Reconnect {
        self.min_delay = delay;
        self.max_delay = self.max_delay.max(delay);
        self
    }

    /// The largest the bound grows to; never less than the minimum.
    pub fn max_delay(mut self, delay: Duration) -> Reconnect {
        self.max_delay = delay.max(self.min_delay);
        self
    }

    /// How long a connection must last for the bound to go back to the minimum.
    pub fn stable_after(mut self, lasted: Duration) -> Reconnect {
        self.stable_after = lasted;
        self
    }

    /// The bound after `bound`.
    fn next(&self, bound: Duration) -> Duration {
        bound.saturating_mul(2).clamp(self.min_delay, self.max_delay)
    }
}

impl Default for Reconnect {
    fn default() -> Self {
        Reconnect::new()
    }
}

/// Where a [`ReconnectingClient`] stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConnectionState {
    /// Not connected: connecting, or waiting to try again.
    Connecting,
    /// Connected, its watches re-opened: requests go out at once.
    Connected,
    /// Closed by [`ReconnectingClient::close`] (or dropped): no more attempts.
    Closed,
}

/// What the requests see of the connection.
#[derive(Debug, Clone)]
struct Link {
    state: ConnectionState,
    client: Option<Client>,
    /// How many connections came up before and including this one.
    generation: u64,
}

/// A watch opened through the client, as it was asked for.
#[derive(Debug)]
struct OpenWatch {
    ids: Vec<Ref>,
    dis: String,
    lease: Option<Duration>,
    filter: Option<String>,
    /// The server's id for it on the connection of `generation`.
    current: String,
    generation: u64,
}

#[derive(Debug)]
struct Inner {
    url: String,
    config: ClientConfig,
    reconnect: Reconnect,
    link: watch::Sender<Link>,
    /// Keyed by the id the caller first got. Held across a watch request, so
    /// that re-opening after a reconnect sees every watch opened before.
    watches: tokio::sync::Mutex<HashMap<String, OpenWatch>>,
    /// The server's current id of each re-opened watch -> the caller's id,
    /// for the pushes that name their watch.
    renamed: Mutex<HashMap<String, String>>,
    pushes_in: Mutex<Option<PushQueue>>,
    pushes_out: Mutex<Option<Pushes>>,
    /// Pushes dropped by connections that ended, and by the shared queue.
    dropped: AtomicU64,
}

/// Takes a lock, whatever a panicking holder left behind.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Stops the background task when the last handle goes.
#[derive(Debug)]
struct Handle {
    inner: Arc<Inner>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.inner.shut();
    }
}

/// A [`Client`] that reconnects by itself.
///
/// It connects in a background task as [`Client::connect`] does (token,
/// handshake), and after a drop connects again with backoff (see
/// [`Reconnect`]). The watches opened through [`ReconnectingClient::watch_sub`]
/// are opened again on each new connection, before any request goes out on
/// it, and keep the id the caller first got: [`ReconnectingClient::watch_poll`],
/// [`ReconnectingClient::watch_unsub`] and [`ReconnectingClient::watch_close`]
/// take that id and send the server's current one. The pushes of every
/// connection come out of one [`Pushes`], within the config's push bounds; a
/// push whose grid meta names a re-opened watch by its `watchId` names it by
/// the caller's id.
///
/// A request waiting for its response when the connection drops fails with
/// [`ClientError::ConnectionLost`]; one made while disconnected waits for the
/// next connection up to [`ClientConfig::request_timeout`] (then
/// [`ClientError::Disconnected`]), and then has the request timeout again
/// for its response. Requests made through [`ReconnectingClient::call`] and
/// [`ReconnectingClient::request`] go out as given: their watch ids are not
/// translated.
///
/// Cheap to clone; the clones share the connection. [`ReconnectingClient::close`],
/// or dropping the last clone, stops it.
#[derive(Debug, Clone)]
pub struct ReconnectingClient {
    handle: Arc<Handle>,
}

impl ReconnectingClient {
    /// Starts connecting to `url` in the background and returns at once;
    /// requests wait for the connection (see the type's documentation).
    pub async fn start(
        url: impl Into<String>,
        config: ClientConfig,
        reconnect: Reconnect,
    ) -> ReconnectingClient {
        let (queue, pushes) = PushQueue::new(config.push_capacity, config.push_budget);
        let (link, _) = watch::channel(Link {
            state: ConnectionState::Connecting,
            client: None,
            generation: 0,
        });
        let inner = Arc::new(Inner {
            url: url.into(),
            config,
            reconnect,
            link,
            watches: tokio::sync::Mutex::new(HashMap::new()),
            renamed: Mutex::new(HashMap::new()),
            pushes_in: Mutex::new(Some(queue)),
            pushes_out: Mutex::new(Some(pushes)),
            dropped: AtomicU64::new(0),
        });
        tokio::spawn(supervise(Arc::clone(&inner)));
        ReconnectingClient {
            handle: Arc::new(Handle { inner }),
        }
    }

    fn inner(&self) -> &Inner {
        &self.handle.inner
    }

    /// Where the client stands now.
    pub fn state(&self) -> ConnectionState {
        self.inner().link.borrow().state
    }

    /// How many connections have come up so far (the first one included).
    pub fn connects(&self) -> u64 {
        self.inner().link.borrow().generation
    }

    /// Resolves once the client is in `wanted` state (at once if it is), or
    /// once it is closed. Unbounded: wrap it in a timeout.
    pub async fn wait_for(&self, wanted: ConnectionState) -> ConnectionState {
        let mut link = self.inner().link.subscribe();
        let reached = link
            .wait_for(|link| link.state == wanted || link.state == ConnectionState::Closed)
            .await
            .map_or(ConnectionState::Closed, |link| link.state);
        reached
    }

    /// The pushes of every connection, on one stream that ends when the
    /// client is closed. The first call takes them; later calls get `None`.
    pub fn pushes(&self) -> Option<Pushes> {
        lock(&self.inner().pushes_out).take()
    }

    /// Pushes dropped because a queue was full, over all connections.
    pub fn dropped_pushes(&self) -> u64 {
        let current = self
            .inner()
            .link
            .borrow()
            .client
            .as_ref()
            .map_or(0, Client::dropped_pushes);
        self.inner().dropped.load(Ordering::Relaxed) + current
    }

    /// Sends `body` as an `op` request and reads the response as the same type.
    pub async fn call<B: Body>(&self, op: Op, body: &B) -> Result<B, ClientError> {
        let payload = body
            .to_payload()
            .map_err(|source| ClientError::Body { op, source })?;
        let response = self.request(op, &payload).await?;
        B::from_payload(response).map_err(|source| ClientError::Body { op, source })
    }

    /// Sends `payload` as an `op` request on the current connection, waiting
    /// for one first if need be, and returns the response's payload.
    pub async fn request(&self, op: Op, payload: &[u8]) -> Result<Vec<u8>, ClientError> {
        let (client, _) = self.inner().connection(op).await?;
        self.inner().sent(op, client.request(op, payload).await)
    }

    /// Sends `request` and reads the response as a grid.
    async fn exchange(&self, request: &Request) -> Result<Grid, ClientError> {
        let payload = self.request(request.op(), &request.encode()).await?;
        response_grid(request, &payload)
    }

    typed_ops!();

    /// `watchSub`: opens a watch of `ids` named `watch_dis`, with a `lease`
    /// and a server-side `filter` when given, and remembers it, to open it
    /// again after a reconnect. The response's meta carries the watch's
    /// `watchId`: the id to use with this client for as long as the watch
    /// lives, whatever the server calls it after a reconnect.
    pub async fn watch_sub(
        &self,
        ids: &[Ref],
        watch_dis: &str,
        lease: Option<Duration>,
        filter: Option<&str>,
    ) -> Result<Grid, ClientError> {
        let inner = self.inner();
        let request = requests::watch_sub(ids, watch_dis, lease, filter);
        let (client, generation) = inner.connection(request.op()).await?;
        let mut watches = inner.watches.lock().await;
        let grid = inner.exchange_on(&client, &request).await?;
        if let Some(watch_id) = watch_id(&grid) {
            watches.insert(
                watch_id.clone(),
                OpenWatch {
                    ids: ids.to_vec(),
                    dis: watch_dis.to_owned(),
                    lease,
                    filter: filter.map(str::to_owned),
                    current: watch_id,
                    generation,
                },
            );
        }
        Ok(grid)
    }

    /// `watchUnsub` of `ids` from the watch `watch_id` (the id
    /// [`ReconnectingClient::watch_sub`] gave); they are not re-opened after
    /// a reconnect.
    pub async fn watch_unsub(&self, watch_id: &str, ids: &[Ref]) -> Result<(), ClientError> {
        let inner = self.inner();
        let (client, _) = inner.connection(Op::WatchUnsub).await?;
        let mut watches = inner.watches.lock().await;
        let current = watches
            .get(watch_id)
            .map_or(watch_id, |watch| watch.current.as_str());
        inner
            .exchange_on(&client, &requests::watch_unsub(current, ids))
            .await?;
        if let Some(watch) = watches.get_mut(watch_id) {
            watch.ids.retain(|id| !ids.contains(id));
        }
        Ok(())
    }

    /// `watchPoll` of the watch `watch_id` (the id
    /// [`ReconnectingClient::watch_sub`] gave): its changes, or every record
    /// when `refresh`.
    pub async fn watch_poll(&self, watch_id: &str, refresh: bool) -> Result<Grid, ClientError> {
        let inner = self.inner();
        let (client, _) = inner.connection(Op::WatchPoll).await?;
        let current = inner.current_id(watch_id).await;
        inner
            .exchange_on(&client, &requests::watch_poll(&current, refresh))
            .await
    }

    /// `watchUnsub` that closes the watch `watch_id` (the id
    /// [`ReconnectingClient::watch_sub`] gave). The watch is forgotten even
    /// when the request fails: it is not re-opened after a reconnect.
    pub async fn watch_close(&self, watch_id: &str) -> Result<(), ClientError> {
        let inner = self.inner();
        let (client, _) = inner.connection(Op::WatchUnsub).await?;
        let mut watches = inner.watches.lock().await;
        let forgotten = watches.remove(watch_id);
        let current = forgotten
            .as_ref()
            .map_or(watch_id, |watch| watch.current.as_str());
        lock(&inner.renamed).remove(current);
        inner
            .exchange_on(&client, &requests::watch_close(current))
            .await
            .map(drop)
    }

    /// Stops reconnecting and closes the connection. Requests waiting for a
    /// connection, and later ones, fail with [`ClientError::Closed`]; the
    /// pushes end once those already queued are taken.
    pub async fn close(&self) {
        let client = self.inner().shut();
        if let Some(client) = client {
            client.close().await;
        }
    }
}

impl Inner {
    /// Marks the client closed; gives back the connection it had, if any.
    fn shut(&self) -> Option<Client> {
        let mut client = None;
        self.link.send_modify(|link| {
            link.state = ConnectionState::Closed;
            client = link.client.take();
        });
        lock(&self.pushes_in).take();
        client
    }

    fn is_closed(&self) -> bool {
        self.link.borrow().state == ConnectionState::Closed
    }

    fn closed_error() -> ClientError {
        ClientError::Closed {
            reason: "the reconnecting client is closed".to_owned(),
        }
    }

    /// The current connection and its generation, waiting for one up to the
    /// request timeout.
    async fn connection(&self, op: Op) -> Result<(Client, u64), ClientError> {
        let mut link = self.link.subscribe();
        let ready = link.wait_for(|link| {
            link.state == ConnectionState::Closed
                || (link.state == ConnectionState::Connected
                    && link.client.as_ref().is_some_and(|client| !client.has_ended()))
        });
        let ready = match self.config.request_timeout {
            Some(after) => tokio::time::timeout(after, ready)
                .await
                .map_err(|_| ClientError::Disconnected { op, after })?,
            None => ready.await,
        };
        let ready = ready.map_err(|_| Inner::closed_error())?;
        match (&ready.state, &ready.client) {
            (ConnectionState::Connected, Some(client)) => Ok((client.clone(), ready.generation)),
            _ => Err(Inner::closed_error()),
        }
    }

    /// What a request sent on a connection comes to: the connection's end
    /// is [`ClientError::ConnectionLost`], unless this client was closed.
    fn sent<T>(&self, op: Op, outcome: Result<T, ClientError>) -> Result<T, ClientError> {
        outcome.map_err(|error| match error {
            ClientError::Closed { .. } if self.is_closed() => Inner::closed_error(),
            ClientError::Closed { reason } => ClientError::ConnectionLost { op, reason },
            ClientError::Unresponsive { .. } => ClientError::ConnectionLost {
                op,
                reason: error.to_string(),
            },
            other => other,
        })
    }

    async fn exchange_on(&self, client: &Client, request: &Request) -> Result<Grid, ClientError> {
        let op = request.op();
        let payload = self.sent(op, client.request(op, &request.encode()).await)?;
        response_grid(request, &payload)
    }

    /// The server's id now for the caller's `watch_id`.
    async fn current_id(&self, watch_id: &str) -> String {
        self.watches
            .lock()
            .await
            .get(watch_id)
            .map_or_else(|| watch_id.to_owned(), |watch| watch.current.clone())
    }

    /// Opens again, on `client`, every remembered watch not opened on it yet.
    /// One that fails stays as it was and is tried again on the next connection.
    async fn reopen_watches(&self, client: &Client, generation: u64) {
        let mut watches = self.watches.lock().await;
        for (first, watch) in watches.iter_mut() {
            if watch.generation == generation {
                continue;
            }
            let request = requests::watch_sub(&watch.ids, &watch.dis, watch.lease, watch.filter.as_deref());
            let reopened = self.exchange_on(client, &request).await;
            match reopened.as_ref().map(watch_id) {
                Ok(Some(current)) => {
                    let mut renamed = lock(&self.renamed);
                    renamed.remove(&watch.current);
                    if current != *first {
                        renamed.insert(current.clone(), first.clone());
                    }
                    watch.current = current;
                    watch.generation = generation;
                }
                Ok(None) => tracing::warn!(watch = %first, "the re-opened watch has no watchId"),
                Err(error) => tracing::warn!(watch = %first, %error, "cannot re-open the watch"),
            }
        }
    }

    /// Queues a push of the current connection on the shared stream.
    fn forward(&self, push: Push) {
        let push = self.rename(push);
        let refused = match &*lock(&self.pushes_in) {
            Some(queue) => queue.offer(push).is_err(),
            None => false,
        };
        if refused {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// `push` with its watch id the caller's, when it names a watch the
    /// server knows under another id since a reconnect: the id of a JSON push,
    /// and the `watchId` of its grid's meta.
    fn rename(&self, mut push: Push) -> Push {
        let renamed = lock(&self.renamed);
        if renamed.is_empty() {
            return push;
        }
        if let Some(first) = push.watch_id.as_ref().and_then(|current| renamed.get(current)) {
            push.watch_id = Some(first.clone());
        }
        let Ok(mut grid) = serde_json::from_slice::<serde_json::Value>(&push.payload) else {
            return push;
        };
        let Some(named) = grid.get_mut("meta").and_then(|meta| meta.get_mut("watchId")) else {
            return push;
        };
        let Some(first) = named.as_str().and_then(|current| renamed.get(current)) else {
            return push;
        };
        *named = serde_json::Value::String(first.clone());
        push.payload = grid.to_string().into_bytes();
        push
    }
}

/// The watch id in a `watchSub` response's meta.
fn watch_id(grid: &Grid) -> Option<String> {
    match grid.meta.as_ref()?.get("watchId")? {
        Value::Str(id) => Some(id.value().to_owned()),
        Value::Ref(id) => Some(id.value().to_owned()),
        _ => None,
    }
}

/// A random delay between zero and `bound`.
fn jitter(bound: Duration) -> Duration {
    let random = std::collections::hash_map::RandomState::new().hash_one(Instant::now());
    // The top 53 bits as a fraction in [0, 1].
    let fraction = (random >> 11) as f64 / (1u64 << 53) as f64;
    bound.mul_f64(fraction)
}

/// The background task: connects, watches the connection end, waits, and
/// connects again, until the client is closed.
async fn supervise(inner: Arc<Inner>) {
    let mut closed = inner.link.subscribe();
    let mut bound = inner.reconnect.min_delay;
    loop {
        let attempt = tokio::select! {
            attempt = Client::connect(&inner.url, inner.config.clone()) => attempt,
            _ = closed.wait_for(|link| link.state == ConnectionState::Closed) => return,
        };
        match attempt {
            Ok(client) => {
                let began = Instant::now();
                serve(&inner, &client).await;
                inner
                    .dropped
                    .fetch_add(client.dropped_pushes(), Ordering::Relaxed);
                if inner.is_closed() {
                    client.close().await;
                    return;
                }
                if began.elapsed() >= inner.reconnect.stable_after {
                    bound = inner.reconnect.min_delay;
                }
            }
            Err(error) => {
                tracing::debug!(url = %inner.url, %error, "cannot connect; trying again");
            }
        }
        let delay = jitter(bound);
        bound = inner.reconnect.next(bound);
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            _ = closed.wait_for(|link| link.state == ConnectionState::Closed) => return,
        }
    }
}

/// One connection's life: its pushes forwarded, its watches re-opened, then
/// published to the requests until it ends or the client is closed.
async fn serve(inner: &Arc<Inner>, client: &Client) {
    if let Some(mut pushes) = client.pushes() {
        let forwarder = Arc::clone(inner);
        tokio::spawn(async move {
            while let Some(push) = pushes.next().await {
                forwarder.forward(push);
            }
        });
    }
    let generation = inner.link.borrow().generation + 1;
    inner.reopen_watches(client, generation).await;
    let published = inner.link.send_if_modified(|link| {
        if link.state == ConnectionState::Closed {
            return false;
        }
        *link = Link {
            state: ConnectionState::Connected,
            client: Some(client.clone()),
            generation,
        };
        true
    });
    if published {
        tracing::info!(url = %inner.url, connects = generation, "connected");
        let mut closed = inner.link.subscribe();
        let ended = tokio::select! {
            ended = client.until_ended() => Some(ended),
            _ = closed.wait_for(|link| link.state == ConnectionState::Closed) => None,
        };
        if let Some(ended) = ended {
            tracing::info!(url = %inner.url, ended = %ended.error(), "connection lost; reconnecting");
        }
    }
    inner.link.send_if_modified(|link| {
        if link.state == ConnectionState::Closed {
            return false;
        }
        link.state = ConnectionState::Connecting;
        link.client = None;
        true
    });
}

impl Client {
    /// Whether the connection has ended.
    pub(super) fn has_ended(&self) -> bool {
        self.shared.ended().is_some()
    }

    /// Resolves once the connection has ended, with why.
    pub(super) async fn until_ended(&self) -> Ended {
        self.shared.until_ended().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_bound_doubles_from_the_minimum_up_to_the_maximum() {
        let reconnect = Reconnect::new()
            .min_delay(Duration::from_millis(100))
            .max_delay(Duration::from_millis(500));
        let mut bound = Duration::from_millis(100);
        let mut bounds = Vec::new();
        for _ in 0..5 {
            bound = reconnect.next(bound);
            bounds.push(bound.as_millis());
        }
        assert_eq!(bounds, [200, 400, 500, 500, 500]);
    }

    #[test]
    fn a_maximum_below_the_minimum_is_raised_to_it() {
        let reconnect = Reconnect::new()
            .min_delay(Duration::from_secs(5))
            .max_delay(Duration::from_secs(2));
        assert_eq!(reconnect.next(Duration::from_secs(5)), Duration::from_secs(5));
    }

    #[test]
    fn a_jittered_delay_never_exceeds_its_bound_and_varies() {
        let bound = Duration::from_millis(1000);
        let delays: Vec<Duration> = (0..64).map(|_| jitter(bound)).collect();
        assert!(delays.iter().all(|delay| *delay <= bound));
        assert!(delays.iter().any(|delay| *delay != delays[0]));
    }
}
