//! The login step of a connection, before its first request: the shared
//! token, a token issued by an earlier login, or the SCRAM-SHA-256 exchange
//! of the reference's text messages, all within the handshake deadline; a
//! SCRAM login waits the delay of its config's [`LoginThrottle`] before its
//! verdict goes out, after its last message was read.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{Stream, StreamExt};
use subtle::ConstantTimeEq;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::{self, Message};

use super::super::auth::{
    decode_base64url_text, encode_base64url, CredentialStore, LoginThrottle, RandomError, ScramError,
    ScramServer, ThrottleError,
};
use super::super::handshake::parse_auth;
use super::super::login_json::{object, Received};
use super::super::outbox::Outbox;
use super::config::ServerConfig;
use super::connection::{socket_end, ConnectionEnd};
use crate::protocol::handshake::AUTH_TOKEN_FIELD;
use crate::protocol::messages::{
    auth_err, auth_ok, client_final, client_first, hello, hello_answer, login, server_first,
};

/// How long a refused login waits for its `authErr` to go out before the
/// connection is closed: closing drops whatever is still queued, and a
/// client told nothing would not know the login failed rather than the
/// network. A client that does not read gets no more than this.
const AUTH_ERR_LINGER: Duration = Duration::from_secs(1);

/// Random bytes in a handshake token: 32, as many as in an issued token.
const HANDSHAKE_TOKEN_BYTES: usize = 32;

/// Where a server that takes logins looks its users up.
#[derive(Clone)]
pub(super) struct Login {
    /// The credential store.
    pub(super) store: Arc<dyn CredentialStore>,
}

impl fmt::Debug for Login {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Login").finish_non_exhaustive()
    }
}

/// Why a login did not go through.
enum Refusal {
    /// The connection ended on its own: the client left, the deadline
    /// passed, the socket failed. No `authErr` is sent.
    End(ConnectionEnd),
    /// The client failed the login: it is told with `authErr`, and the
    /// reason goes to the log.
    Refused(String),
}

impl From<ScramError> for Refusal {
    fn from(error: ScramError) -> Self {
        Refusal::Refused(error.to_string())
    }
}

impl From<ThrottleError> for Refusal {
    fn from(error: ThrottleError) -> Self {
        Refusal::Refused(error.to_string())
    }
}

impl From<RandomError> for Refusal {
    fn from(error: RandomError) -> Self {
        Refusal::Refused(error.to_string())
    }
}

/// Lets the connection in or not. Without a credential store, only the
/// shared token counts (when the config has one); with one, the client
/// must log in. Gives the user the connection logged in as: `None` when it
/// is anonymous or came in with the shared token. `remote` is the address
/// the connection came from, when the transport has one: the throttle
/// counts its failures.
pub(super) async fn authenticate<S>(
    stream: &mut S,
    outbox: &Outbox,
    config: &ServerConfig,
    deadline: Instant,
    remote: Option<SocketAddr>,
) -> Result<Option<Arc<str>>, ConnectionEnd>
where
    S: Stream<Item = Result<Message, tungstenite::Error>> + Unpin,
{
    let mut reader = LoginReader {
        stream,
        config,
        deadline,
    };
    let outcome = match &config.login {
        None => token_only(&mut reader, config).await.map(|()| None),
        Some(login) => {
            let address = remote.map(|remote| remote.ip());
            log_in(&mut reader, outbox, login, config, address).await
        }
    };
    match outcome {
        Ok(user) => Ok(user),
        Err(Refusal::End(end)) => Err(end),
        Err(Refusal::Refused(reason)) => {
            tracing::info!(reason = %reason, "login refused");
            Err(refuse(outbox).await)
        }
    }
}

/// Tells the client its login failed with `authErr`, waiting a little for
/// it to go out, and says how the connection ends: the spec's refusal is
/// followed by the close.
pub(super) async fn refuse(outbox: &Outbox) -> ConnectionEnd {
    if outbox
        .queue_text(object(&[(auth_err::TYPE, auth_err::KIND)]))
        .is_ok()
    {
        let backlog = outbox.backlog();
        let sent = async {
            while backlog.bytes() > 0 {
                backlog.drained().await;
            }
        };
        let _ = tokio::time::timeout(AUTH_ERR_LINGER, sent).await;
    }
    ConnectionEnd::AuthenticationFailed
}

/// The shared token as the first message, when the config asks one. A
/// wrong token closes the connection without a word, as the reference's
/// server does; a `hello` gets `authErr` first, so that a client trying to
/// log in learns this server takes no logins instead of waiting.
async fn token_only<S>(reader: &mut LoginReader<'_, S>, config: &ServerConfig) -> Result<(), Refusal>
where
    S: Stream<Item = Result<Message, tungstenite::Error>> + Unpin,
{
    let Some(expected) = &config.auth_token else {
        return Ok(());
    };
    let text = reader.next_text().await?;
    if let Some(token) = parse_auth(&text) {
        if same_token(&token, expected) {
            return Ok(());
        }
    }
    if Received::parse(&text).is_some_and(|message| message.kind() == Some(hello::KIND)) {
        return Err(Refusal::Refused(
            "a login on a server that takes only its shared token".into(),
        ));
    }
    tracing::info!("token refused: the first message is not the token message with the shared token");
    Err(Refusal::End(ConnectionEnd::AuthenticationFailed))
}

/// The login of a server with a credential store: the token message, or
/// the SCRAM exchange, throttled by the address it comes from and the name
/// it gives.
///
/// A token is 256 random bits: guessing one is hopeless, so the token
/// message is not throttled.
async fn log_in<S>(
    reader: &mut LoginReader<'_, S>,
    outbox: &Outbox,
    login: &Login,
    config: &ServerConfig,
    address: Option<IpAddr>,
) -> Result<Option<Arc<str>>, Refusal>
where
    S: Stream<Item = Result<Message, tungstenite::Error>> + Unpin,
{
    let first = reader.next_message().await?;
    if first.has(AUTH_TOKEN_FIELD) {
        return by_token(&first, config);
    }
    expect_kind(&first, hello::KIND)?;
    let username = decode_base64url_text(hello::USERNAME, required(&first, hello::USERNAME)?)?;
    let Some(fake) = &config.fake_credentials else {
        return Err(Refusal::Refused(
            "the fake credentials for unknown users could not be made (the random source failed)".into(),
        ));
    };
    let throttle: &LoginThrottle = &config.login_throttle;
    // Held until the verdict is out: the logins one address has in progress.
    let _slot = throttle.begin(address)?;
    let record = login.store.user(&username).await;
    let server = ScramServer::new(&username, record, fake);

    let token = handshake_token()?;
    send(
        outbox,
        object(&[
            (hello_answer::TYPE, hello_answer::KIND),
            (hello_answer::HANDSHAKE_TOKEN, &token),
            (hello_answer::HASH, login::HASH),
        ]),
    )?;

    let message = reader.next_message().await?;
    expect_kind(&message, client_first::KIND)?;
    check_handshake_token(&message, client_first::HANDSHAKE_TOKEN, &token)?;
    let data = decode_base64url_text(client_first::DATA, required(&message, client_first::DATA)?)?;
    let exchange = server.server_first(&data)?;
    let token = handshake_token()?;
    send(
        outbox,
        object(&[
            (server_first::TYPE, server_first::KIND),
            (server_first::HANDSHAKE_TOKEN, &token),
            (server_first::HASH, login::HASH),
            (
                server_first::DATA,
                &encode_base64url(exchange.message().as_bytes()),
            ),
        ]),
    )?;

    let message = reader.next_message().await?;
    expect_kind(&message, client_final::KIND)?;
    check_handshake_token(&message, client_final::HANDSHAKE_TOKEN, &token)?;
    let data = decode_base64url_text(client_final::DATA, required(&message, client_final::DATA)?)?;
    // The delay of the failures before this attempt, waited whatever its
    // outcome, so that the time to the answer does not tell a right
    // password from a wrong one, nor a known name from an unknown one (both
    // are counted by the name as sent). The outcome is counted at once, for
    // the attempts running alongside; the answer waits. Nothing is read
    // after this, so the wait does not run into the handshake deadline.
    let delay = throttle.delay(address, &username);
    let verdict = exchange.server_final(&data);
    match &verdict {
        Ok(_) => throttle.record_success(&username),
        Err(ScramError::AuthenticationFailed) => throttle.record_failure(address, &username),
        // A malformed final message tests no password.
        Err(_) => {}
    }
    if !delay.is_zero() {
        tracing::debug!(delay = ?delay, "login throttled");
        tokio::time::sleep(delay).await;
    }
    let success = verdict?;
    let issued = config.issued_tokens.issue(&success.username, success.role)?;
    send(
        outbox,
        object(&[
            (auth_ok::TYPE, auth_ok::KIND),
            (auth_ok::AUTH_TOKEN, &issued),
            (auth_ok::DATA, &encode_base64url(success.server_final.as_bytes())),
        ]),
    )?;
    tracing::debug!(user = %success.username, "logged in");
    Ok(Some(Arc::from(success.username)))
}

/// The token message of a server with a credential store: the shared token
/// (no user), or a token issued by an earlier login and still kept (its
/// user).
fn by_token(message: &Received, config: &ServerConfig) -> Result<Option<Arc<str>>, Refusal> {
    let Some(token) = message.str(AUTH_TOKEN_FIELD) else {
        return Err(Refusal::Refused("the token is not a string".into()));
    };
    if let Some(shared) = &config.auth_token {
        if same_token(token, shared) {
            return Ok(None);
        }
    }
    match config.issued_tokens.lookup(token) {
        Some(holder) => Ok(Some(Arc::from(holder.username))),
        None => Err(Refusal::Refused(
            "the token is neither the shared token nor one issued here that is still valid".into(),
        )),
    }
}

/// Checks the message's `type`.
fn expect_kind(message: &Received, expected: &str) -> Result<(), Refusal> {
    match message.kind() {
        Some(kind) if kind == expected => Ok(()),
        Some(kind) => Err(Refusal::Refused(format!(
            "expected a message of type {expected:?}, got {:?}",
            glimpse(kind)
        ))),
        None => Err(Refusal::Refused(format!(
            "expected a message of type {expected:?}, got one without a string type"
        ))),
    }
}

/// A string field the message must have.
fn required<'a>(message: &'a Received, key: &str) -> Result<&'a str, Refusal> {
    message
        .str(key)
        .ok_or_else(|| Refusal::Refused(format!("the {key:?} field is missing or not a string")))
}

/// Checks the handshake token a step carries, in constant time.
fn check_handshake_token(message: &Received, key: &str, expected: &str) -> Result<(), Refusal> {
    let given = required(message, key)?;
    if bool::from(given.as_bytes().ct_eq(expected.as_bytes())) {
        Ok(())
    } else {
        Err(Refusal::Refused(
            "the handshake token is not the one of this login".into(),
        ))
    }
}

/// A new handshake token: random bytes in unpadded base64url.
fn handshake_token() -> Result<String, RandomError> {
    let mut bytes = [0u8; HANDSHAKE_TOKEN_BYTES];
    getrandom::fill(&mut bytes).map_err(RandomError::from)?;
    Ok(encode_base64url(&bytes))
}

/// Queues a login message.
fn send(outbox: &Outbox, text: String) -> Result<(), Refusal> {
    outbox
        .queue_text(text)
        .map_err(|_| Refusal::End(ConnectionEnd::ClientClosed))
}

/// Compares tokens in time that depends on their lengths only, so that the
/// time taken does not tell a guesser how much of a token was right.
pub(super) fn same_token(given: &str, expected: &str) -> bool {
    bool::from(given.as_bytes().ct_eq(expected.as_bytes()))
}

/// The start of a value a client sent, for a log line.
fn glimpse(value: &str) -> String {
    value.chars().take(32).collect()
}

/// Reads the login's messages within the handshake deadline.
struct LoginReader<'a, S> {
    stream: &'a mut S,
    config: &'a ServerConfig,
    deadline: Instant,
}

impl<S> LoginReader<'_, S>
where
    S: Stream<Item = Result<Message, tungstenite::Error>> + Unpin,
{
    /// The next text message, no longer than
    /// [`ServerConfig::MAX_LOGIN_MESSAGE`]. Pings and pongs are skipped;
    /// anything else fails the login.
    async fn next_text(&mut self) -> Result<String, Refusal> {
        loop {
            let next = tokio::time::timeout_at(self.deadline, self.stream.next()).await;
            return match next {
                Ok(Some(Ok(Message::Text(text)))) => {
                    if text.len() > ServerConfig::MAX_LOGIN_MESSAGE {
                        Err(Refusal::Refused(format!(
                            "a login message of {} bytes, over the cap of {}",
                            text.len(),
                            ServerConfig::MAX_LOGIN_MESSAGE
                        )))
                    } else {
                        Ok(text.as_str().to_owned())
                    }
                }
                // Pings before the login are answered by the socket and wait for nothing.
                Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
                Ok(None | Some(Ok(Message::Close(_)))) => Err(Refusal::End(ConnectionEnd::ClientClosed)),
                Ok(Some(Ok(_))) => Err(Refusal::Refused("a binary message before the login".into())),
                Ok(Some(Err(error))) => Err(Refusal::End(socket_end(error))),
                Err(_) => Err(Refusal::End(ConnectionEnd::HandshakeTimeout {
                    after: self.config.handshake_timeout,
                })),
            };
        }
    }

    /// The next text message, as a JSON object.
    async fn next_message(&mut self) -> Result<Received, Refusal> {
        let text = self.next_text().await?;
        Received::parse(&text)
            .ok_or_else(|| Refusal::Refused("a login message that is not a JSON object".into()))
    }
}
