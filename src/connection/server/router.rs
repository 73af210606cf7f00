//! Requests and their handlers: what a handler gets, what it returns, and
//! the table that picks the handler of each op.

use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;

use futures_util::FutureExt;

use super::payload::Payload;
use super::peer::Peer;
use super::work::{Cancellation, ComputeShare};
use crate::protocol::Op;

/// A failed request: the text of the error grid the client gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    dis: String,
}

impl Fault {
    /// A failure described by `dis`.
    pub fn new(dis: impl Into<String>) -> Self {
        Fault { dis: dis.into() }
    }

    /// The error grid's `dis`.
    pub fn dis(&self) -> &str {
        &self.dis
    }
}

impl std::fmt::Display for Fault {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(&self.dis)
    }
}

/// One request, as a handler gets it.
#[derive(Debug)]
pub struct Request {
    /// The op.
    pub op: Op,
    /// The request id of a binary frame (the response carries it back);
    /// 0 for a request that came as a JSON envelope, whose id is echoed as
    /// received and is not the handler's to see.
    pub request_id: u16,
    /// The payload, decompressed and reassembled: the request grid's JSON
    /// bytes, for a JSON envelope as for a frame; empty when the request
    /// carried no grid.
    pub payload: Vec<u8>,
    /// The connection it came on, to push to it later.
    pub peer: Peer,
    /// The user the connection logged in as; `None` when it is anonymous or
    /// was let in by the shared token ([`super::ServerConfig::auth_token`]).
    pub user: Option<Arc<str>>,
    /// Whether the request is still wanted.
    pub(super) cancellation: Cancellation,
    /// The connection's way into the server's compute pool.
    pub(super) compute: ComputeShare,
}

impl Request {
    /// Whether the request is still wanted: its connection open, its
    /// deadline ([`super::ServerConfig::request_timeout`]) not passed. The
    /// handler's future is dropped at either; work on a thread of its own
    /// ([`Request::compute`]) asks this between steps.
    pub fn cancellation(&self) -> &Cancellation {
        &self.cancellation
    }

    /// Runs `work` on the server's compute pool, off the runtime's threads,
    /// and gives its result: the place for anything that takes more than a
    /// fraction of a millisecond (decoding a request grid, evaluating a
    /// filter over many records, building and encoding a large answer), so
    /// that it holds up neither other connections' small requests nor
    /// pushes. The pool has [`super::ServerConfig::compute_threads`] threads,
    /// of which one connection holds at most
    /// [`super::ServerConfig::compute_per_connection`] at once; its other
    /// requests wait their turn, so a connection asking for expensive work
    /// over and over slows itself, not the others.
    ///
    /// `work` gets the request's [`Cancellation`] and should return with
    /// its reason (`cancellation.check()?`, through `From<Cancelled> for
    /// Fault`) once it says the request is no longer wanted: the connection
    /// closed, or the deadline passed. Its thread stays counted against the
    /// pool until it returns. A panic in `work` answers the request as a
    /// failure.
    pub async fn compute<T, F>(&self, work: F) -> Result<T, Fault>
    where
        F: FnOnce(&Cancellation) -> Result<T, Fault> + Send + 'static,
        T: Send + 'static,
    {
        self.compute.run(self.cancellation.clone(), work).await
    }
}

/// What a handler returns: the response payload, or a fault for an error grid.
///
/// A [`Payload`] is made from a `Vec<u8>`, a `String` or [`Bytes`](bytes::Bytes); a handler
/// that answers many requests with the same bytes returns clones of one
/// [`Payload::shared`], and the server compresses and frames them once per
/// kind of session instead of once per request.
pub type Reply = Result<Payload, Fault>;

type BoxedHandler = Arc<dyn Fn(Request) -> Pin<Box<dyn Future<Output = Reply> + Send>> + Send + Sync>;

/// The handler of each op. A request for an op without a handler is
/// answered with an error grid saying so.
#[derive(Clone, Default)]
pub struct Router {
    routes: HashMap<Op, BoxedHandler>,
}

impl std::fmt::Debug for Router {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut ops: Vec<&str> = self.routes.keys().map(|op| op.name()).collect();
        ops.sort_unstable();
        formatter.debug_struct("Router").field("ops", &ops).finish()
    }
}

impl Router {
    /// A router without handlers.
    pub fn new() -> Self {
        Router::default()
    }

    /// Handles `op` with `handler`, replacing any handler it had. The
    /// handler answers with anything that becomes a [`Payload`] (a
    /// `Vec<u8>`, a `String`, [`Bytes`](bytes::Bytes), a `Payload` itself).
    pub fn route<F, Fut, P>(mut self, op: Op, handler: F) -> Self
    where
        F: Fn(Request) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<P, Fault>> + Send + 'static,
        P: Into<Payload> + 'static,
    {
        let handler = Arc::new(handler);
        self.routes.insert(
            op,
            Arc::new(move |request| {
                let answer = handler(request);
                Box::pin(async move { answer.await.map(Into::into) })
            }),
        );
        self
    }

    /// The ops with a handler.
    pub fn ops(&self) -> impl Iterator<Item = Op> + '_ {
        self.routes.keys().copied()
    }

    /// Runs the handler of the request's op. A handler that panics is
    /// answered as a failure; the connection and the server go on.
    pub async fn dispatch(&self, request: Request) -> Reply {
        let op = request.op;
        let Some(handler) = self.routes.get(&op) else {
            return Err(Fault::new(format!("op `{op}` is not supported by this server")));
        };
        AssertUnwindSafe(handler(request))
            .catch_unwind()
            .await
            .unwrap_or_else(|_| Err(Fault::new(format!("the `{op}` handler failed"))))
    }
}
