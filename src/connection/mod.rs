//! Binary-mode Haystack over WebSockets, on tokio and tokio-tungstenite:
//! a [`Client`] and a [`Server`] that speak the frames of this crate with
//! the reference's peers.
//!
//! - The client sends the token message when it has one, opens with the
//!   capability handshake when it offers compression or chunking (and falls
//!   back to v1 when no answer comes within
//!   [`FALLBACK_TIMEOUT`](crate::protocol::handshake::FALLBACK_TIMEOUT)),
//!   correlates any number of concurrent requests with their responses by
//!   request id ([`RequestIds`]), surfaces error responses as
//!   [`ClientError::Remote`] with the error grid's `dis`, and hands pushes
//!   to [`Pushes`]. It can also speak the reference's JSON form: requests
//!   as JSON envelopes ([`ClientConfig::json_mode`]), several requests in
//!   one batch ([`Client::batch`]), and it reads JSON responses, batch
//!   answers and JSON watch pushes in either mode. Against a faulty server it gives up connecting at a
//!   deadline, keeps queued pushes within a count and a byte budget, and
//!   pings a quiet server, declaring it dead when nothing answers (see
//!   [`ClientConfig`]).
//! - The server checks the token, answers the handshake (the client's first
//!   algorithm it supports; chunking only when both want it), runs each
//!   request's handler from a [`Router`] on its own task, answers failures
//!   with error grids, chunks responses over the threshold, and pushes
//!   through [`Peer`] and [`Subscribers`]. Facing the internet, it caps
//!   connections, survives `accept()` errors, puts deadlines on the
//!   handshake, on silent peers and on stalled writes, stops reading a peer
//!   whose output is over its budget, and bounds the memory of all
//!   connections together (see [`ServerConfig`]); a request under an op
//!   code it does not know is answered, not fatal. It also answers the
//!   reference's JSON text requests, mixed freely with frames: a request
//!   envelope with one response envelope, a batch of envelopes with one
//!   array in request order (refused whole past its cap); watch pushes go
//!   out in the form of each connection's latest request
//!   ([`Peer::push_watch`]), and a permission hook may refuse any op
//!   ([`ServerConfig::permissions`]).
//!
//! Payloads are bytes, [`serde_json::Value`]s or, with the `libhaystack`
//! feature, libhaystack grids: see [`Body`].
//!
//! Both sides send only what the handshake agreed, and read whatever a
//! valid frame holds: the reference's server compresses with its own
//! algorithm even when the handshake agreed on none, and its responses must
//! still be read.

mod auth;
mod body;
mod budget;
mod capabilities;
mod client;
mod control;
mod error_grid;
mod handshake;
mod ids;
mod login_json;
mod network;
mod outbox;
mod read_meter;
#[cfg(feature = "libhaystack")]
pub mod requests;
mod server;
#[cfg(feature = "tls")]
mod tls;
mod write_deadline;

pub use auth::{
    decode_base64url, decode_base64url_text, encode_base64url, escape_username, unescape_username, Backoff,
    CredentialStore, CredentialsError, FakeCredentials, IssuedTokens, LoginSlot, LoginThrottle, Lookup,
    RandomError, Role, ScramClient, ScramClientFinal, ScramCredentials, ScramError, ScramLimits,
    ScramMessage, ScramServer, ScramServerFirst, ScramServerSuccess, ThrottleError, TokenHolder, UnknownRole,
    UserRecord, Users, UsersError,
};
pub use body::{Body, BodyError};
pub use capabilities::Capabilities;
pub use client::{Client, ClientConfig, ClientError, HandshakeCap, LoginFailure, LoginStep, Push, Pushes};
#[cfg(feature = "libhaystack")]
pub use client::{ConnectionState, Reconnect, ReconnectingClient};
pub use error_grid::{error_dis, error_grid};
pub use handshake::{auth_message, parse_auth, Answer, HandshakeError, Offer, Session};
pub use ids::RequestIds;
pub use network::client_network;
pub use server::{
    serve_connection, serve_websocket, Cancellation, Cancelled, ConnectionEnd, Fault, Held, Monitor,
    OriginError, OriginRefused, OverBudget, Page, Pages, Payload, Peer, PushError, Reply, Request,
    RequestRefused, Router, Server, ServerConfig, ServerStats, Subscribers, CONTENT_SECURITY_POLICY,
    MAX_HEAD, MAX_HEADERS,
};
#[cfg(feature = "tls")]
pub use tls::{ClientTls, ServerTls, TlsError, TlsRoots};

use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::limits::Limits;
use crate::protocol::FrameHeader;

/// The WebSocket layer's own bounds, from the frame limits: one WebSocket
/// message is one frame, so nothing larger than a frame is ever needed.
fn websocket_config(limits: &Limits) -> WebSocketConfig {
    let largest = limits.max_frame.saturating_add(FrameHeader::MAX_LEN);
    WebSocketConfig::default()
        .max_message_size(Some(largest))
        .max_frame_size(Some(largest))
}
