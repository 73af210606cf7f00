//! How a client connects: what it offers, how long it waits, what it accepts.

use std::time::Duration;

use super::super::capabilities::Capabilities;
use crate::protocol::{handshake, Compression};
use crate::Limits;

/// How a [`Client`](super::Client) connects.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub(super) capabilities: Capabilities,
    pub(super) auth_token: Option<String>,
    pub(super) handshake_timeout: Duration,
    pub(super) request_timeout: Option<Duration>,
    pub(super) limits: Limits,
    pub(super) push_capacity: usize,
}

impl ClientConfig {
    /// A v1 client: no token, no handshake, the default limits, a 30-second
    /// request timeout.
    pub fn new() -> Self {
        ClientConfig {
            capabilities: Capabilities::new(),
            auth_token: None,
            handshake_timeout: handshake::FALLBACK_TIMEOUT,
            request_timeout: Some(Duration::from_secs(30)),
            limits: Limits::DEFAULT,
            push_capacity: 1024,
        }
    }

    /// Offers these algorithms, in order of preference. A client that offers
    /// an algorithm or chunking opens with the capability handshake.
    pub fn compression(mut self, algorithms: impl IntoIterator<Item = Compression>) -> Self {
        self.capabilities = self.capabilities.compression(algorithms);
        self
    }

    /// Offers to receive (and send) chunked payloads.
    pub fn chunked(mut self, chunked: bool) -> Self {
        self.capabilities = self.capabilities.chunked(chunked);
        self
    }

    /// Offers these capabilities, replacing what [`ClientConfig::compression`]
    /// and [`ClientConfig::chunked`] set.
    pub fn capabilities(mut self, capabilities: Capabilities) -> Self {
        self.capabilities = capabilities;
        self
    }

    /// Sends `token` as the connection's first message.
    pub fn auth_token(mut self, token: impl Into<String>) -> Self {
        self.auth_token = Some(token.into());
        self
    }

    /// How long to wait for the server's answer to the offer before falling
    /// back to v1; the spec's default is [`handshake::FALLBACK_TIMEOUT`].
    pub fn handshake_timeout(mut self, wait: Duration) -> Self {
        self.handshake_timeout = wait;
        self
    }

    /// How long a request waits for its response (`None`: for ever).
    pub fn request_timeout(mut self, wait: Option<Duration>) -> Self {
        self.request_timeout = wait;
        self
    }

    /// What the client accepts from the server.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// How many pushes wait for [`Pushes`](super::Pushes) before later ones are dropped (and counted).
    pub fn push_capacity(mut self, pushes: usize) -> Self {
        self.push_capacity = pushes.max(1);
        self
    }
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig::new()
    }
}
