//! What can go wrong with a connection or one request.

use std::time::Duration;

use tokio_tungstenite::tungstenite;

use super::super::body::BodyError;
use crate::protocol::Op;

/// What went wrong with a connection or one request.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The WebSocket connection could not be opened.
    #[error("cannot connect to {url}: {source}")]
    Connect {
        /// The URL.
        url: String,
        /// What the WebSocket layer reported.
        #[source]
        source: Box<tungstenite::Error>,
    },
    /// The connection was not open within [`ClientConfig::connect_timeout`](super::ClientConfig::connect_timeout):
    /// the server did not accept, upgrade, or finish the handshake in time.
    #[error("cannot connect to {url}: not connected within {after:?}")]
    ConnectTimeout {
        /// The URL.
        url: String,
        /// The deadline that passed.
        after: Duration,
    },
    /// The server sent more before the handshake was done than the client
    /// takes: more than [`ClientConfig::MAX_HANDSHAKE_BYTES`](super::ClientConfig::MAX_HANDSHAKE_BYTES)
    /// from the start of the connection to the capability answer (the
    /// upgrade response, the login's messages and the answer together), or a
    /// capability answer over [`ClientConfig::MAX_CAPABILITY_ANSWER`](super::ClientConfig::MAX_CAPABILITY_ANSWER).
    /// Nothing past the cap was read; the connection is dropped.
    #[error("cannot connect to {url}: the server sent more than {limit} bytes {cap} (at least {arrived})")]
    HandshakeTooLarge {
        /// The URL.
        url: String,
        /// Which cap was passed.
        cap: HandshakeCap,
        /// The cap, in bytes.
        limit: usize,
        /// The bytes that arrived: those read and at least one more, or the
        /// capability answer's length.
        arrived: usize,
    },
    /// A request header of the config cannot go into an HTTP request.
    #[error("request header `{name}`: {reason}")]
    BadHeader {
        /// The header's name, as given.
        name: String,
        /// Why it was refused.
        reason: String,
    },
    /// The server answered with an error grid.
    #[error("the server answered the {op} request with an error: {dis}")]
    Remote {
        /// The op of the request.
        op: Op,
        /// The request id.
        request_id: u16,
        /// The error grid's `dis`.
        dis: String,
        /// The error grid, as sent.
        payload: Vec<u8>,
    },
    /// No response came in time.
    #[error("no response to the {op} request {request_id} within {after:?}")]
    Timeout {
        /// The op of the request.
        op: Op,
        /// The request id.
        request_id: u16,
        /// The timeout.
        after: Duration,
    },
    /// The response to the request carries another op.
    #[error("the {op} request {request_id} was answered with op {answered}")]
    OpMismatch {
        /// The op of the request.
        op: Op,
        /// The request id.
        request_id: u16,
        /// The op of the response.
        answered: Op,
    },
    /// Every request id is waiting for a response.
    #[error("all {pending} request ids are waiting for responses")]
    TooManyPending {
        /// How many requests are waiting.
        pending: usize,
    },
    /// The request could not be framed.
    #[error("cannot frame the {op} request: {source}")]
    Encode {
        /// The op of the request.
        op: Op,
        /// Why.
        #[source]
        source: crate::error::Error,
    },
    /// The response's frames were refused by the decoder.
    #[error("the response to the {op} request {request_id} was refused: {source}")]
    Frame {
        /// The op of the request.
        op: Op,
        /// The request id.
        request_id: u16,
        /// Why.
        #[source]
        source: crate::error::Error,
    },
    /// In JSON form, a request's payload must be JSON (or empty), since the
    /// envelope embeds it as its grid; this one is not, and nothing was sent.
    #[error("the {op} request's payload is not JSON, which a JSON envelope needs: {source}")]
    NotJson {
        /// The op of the request.
        op: Op,
        /// Why it is not JSON.
        #[source]
        source: serde_json::Error,
    },
    /// A batch holds more requests than the spec allows in one
    /// ([`batch::MAX_ITEMS`](crate::protocol::messages::batch::MAX_ITEMS));
    /// nothing was sent.
    #[error("a batch of {count} requests is over the cap of {max}")]
    BatchTooLarge {
        /// How many requests the batch holds.
        count: usize,
        /// The most one batch may hold.
        max: usize,
    },
    /// A batch item's payload is not JSON; nothing of the batch was sent.
    #[error("batch item {index} ({op}): the payload is not JSON: {source}")]
    BatchNotJson {
        /// The item's position in the batch, from 0.
        index: usize,
        /// The item's op.
        op: Op,
        /// Why it is not JSON.
        #[source]
        source: serde_json::Error,
    },
    /// A response envelope names the request but carries no grid.
    #[error("the response to the {op} request {request_id} carries no grid")]
    NoGrid {
        /// The op of the request.
        op: Op,
        /// The request id.
        request_id: u16,
    },
    /// The request could not be made into a payload, or the response read as one.
    #[error("{op} payload: {source}")]
    Body {
        /// The op of the request.
        op: Op,
        /// Why.
        #[source]
        source: BodyError,
    },
    /// The server was declared dead by the keepalive: it said nothing for
    /// [`ClientConfig::ping_interval`](super::ClientConfig::ping_interval),
    /// then did not answer a ping within
    /// [`ClientConfig::pong_timeout`](super::ClientConfig::pong_timeout).
    /// The connection is dropped; every request, waiting or later, fails with this.
    #[error("the server stopped answering: nothing heard from it for {silent_for:?}, not even a pong")]
    Unresponsive {
        /// How long the server had been silent when it was declared dead.
        silent_for: Duration,
    },
    /// The login ([`ClientConfig::login`](super::ClientConfig::login)) failed.
    #[error("login to {url} as {user:?} failed at {step}: {reason}")]
    Login {
        /// The URL.
        url: String,
        /// The user name.
        user: String,
        /// Where it failed.
        step: LoginStep,
        /// Why.
        #[source]
        reason: LoginFailure,
    },
    /// The connection is closed.
    #[error("connection closed: {reason}")]
    Closed {
        /// Why, as far as this side knows.
        reason: String,
    },
    /// The connection dropped while the request waited for its response
    /// (a [`ReconnectingClient`](super::ReconnectingClient) request): the
    /// server may or may not have acted on it.
    #[error("the connection dropped while the {op} request waited for its response: {reason}")]
    ConnectionLost {
        /// The op of the request.
        op: Op,
        /// Why the connection ended, as far as this side knows.
        reason: String,
    },
    /// No connection came up within the request timeout (a
    /// [`ReconnectingClient`](super::ReconnectingClient) request made while
    /// it was reconnecting); the request was not sent.
    #[error("the {op} request was not sent: not connected within {after:?}")]
    Disconnected {
        /// The op of the request.
        op: Op,
        /// How long the request waited for a connection.
        after: Duration,
    },
}

/// Which of the client's caps on what comes before the handshake is done a
/// server passed ([`ClientError::HandshakeTooLarge`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HandshakeCap {
    /// Every byte read from the start of the connection until the
    /// capability answer (or the v1 fallback) is in:
    /// [`ClientConfig::MAX_HANDSHAKE_BYTES`](super::ClientConfig::MAX_HANDSHAKE_BYTES).
    Connection,
    /// The capability answer's text:
    /// [`ClientConfig::MAX_CAPABILITY_ANSWER`](super::ClientConfig::MAX_CAPABILITY_ANSWER).
    CapabilityAnswer,
}

impl std::fmt::Display for HandshakeCap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            HandshakeCap::Connection => {
                "before the handshake was done (the upgrade response, the login and the capability answer together)"
            }
            HandshakeCap::CapabilityAnswer => "in its capability answer",
        })
    }
}

/// The step of the login where it failed: the client's message whose answer
/// was awaited, or being checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LoginStep {
    /// The `hello` naming the user, and the server's answer to it.
    Hello,
    /// The SCRAM client-first message, and the server-first message (its
    /// nonce, salt and iteration count) it is answered with.
    ClientFirst,
    /// The SCRAM client-final message with the proof, and the `authOk`
    /// answer with the server's signature and the token.
    ClientFinal,
}

impl std::fmt::Display for LoginStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LoginStep::Hello => "the hello",
            LoginStep::ClientFirst => "the client-first message",
            LoginStep::ClientFinal => "the client-final message",
        })
    }
}

/// Why a login failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoginFailure {
    /// The server answered `authErr`: a wrong password, an unknown or a
    /// disabled user, which it does not tell apart, or a message it refused.
    #[error("the server refused the login (authErr)")]
    Refused,
    /// The server closed the connection instead of answering.
    #[error("the server closed the connection")]
    Closed,
    /// The server answered with another message than the step's.
    #[error("the server answered with {found}, not a message of type {expected:?}")]
    UnexpectedMessage {
        /// The type of the answer expected.
        expected: &'static str,
        /// What came instead.
        found: String,
    },
    /// The server's answer is not a JSON object.
    #[error("the server's answer is not a JSON object")]
    NotJson,
    /// The server's answer lacks a string field.
    #[error("the server's answer has no string field {field:?}")]
    MissingField {
        /// The field.
        field: &'static str,
    },
    /// The server names another hash function than the one spoken.
    #[error("the server asks for the hash {hash:?}; only {supported} is spoken")]
    UnsupportedHash {
        /// The start of the name the server sent.
        hash: String,
        /// The hash function spoken.
        supported: &'static str,
    },
    /// The SCRAM exchange failed on this side: a bad server signature (the
    /// server does not know the credentials), an iteration count or salt out
    /// of the [`ScramLimits`](super::super::ScramLimits), a malformed message.
    #[error(transparent)]
    Scram(#[from] super::super::ScramError),
    /// The WebSocket layer failed.
    #[error("WebSocket error: {0}")]
    Socket(#[source] Box<tungstenite::Error>),
}
