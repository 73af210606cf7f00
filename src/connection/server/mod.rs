//! The server side: accept connections, answer the handshake, dispatch each
//! request to the handler of its op, answer failures with error grids, and
//! push; with every limit and deadline a public endpoint needs.
//!
//! - [`config`]: what the server agrees to, its limits and deadlines.
//! - [`accept`]: the accept loop, the connection cap, the shared budget.
//! - [`connection`]: one connection from upgrade to close: binary frames,
//!   JSON envelopes and batches, each answered in its form.
//! - [`envelope`]: the JSON text messages it reads and writes.
//! - [`head`]: each connection's request head, read and checked before the
//!   upgrade, and answered over HTTP when it is refused.
//! - [`origin`]: which web pages may open a WebSocket to it.
//! - [`http`]: the files it serves to plain HTTP requests, when given some.
//! - [`login`]: the token or the SCRAM login before the first request.
//! - [`router`]: requests, handlers, replies.
//! - [`payload`]: reply payloads, and the frames made of them, once per
//!   request or once for all the requests that share them.
//! - [`peer`]: pushes to one connection and fan-out to many.
//! - [`work`]: a request's deadline and cancellation, the compute pool and
//!   its share per connection, memory kept for a connection.

mod accept;
mod config;
mod connection;
mod counters;
mod envelope;
mod head;
mod http;
mod login;
mod origin;
mod payload;
mod peer;
mod router;
mod work;

pub use accept::{Monitor, Server, ServerStats};
pub use config::ServerConfig;
pub use connection::{serve_connection, serve_websocket, ConnectionEnd};
pub use head::{RequestRefused, MAX_HEADERS};
pub use http::{Page, Pages, CONTENT_SECURITY_POLICY, MAX_HEAD};
pub use origin::{OriginError, OriginRefused};
pub use payload::Payload;
pub use peer::{Peer, PushError, Subscribers};
pub use router::{Fault, Reply, Request, Router};
pub use work::{Cancellation, Cancelled, Held, OverBudget};
