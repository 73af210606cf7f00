//! The client's SCRAM-SHA-256 login over the reference's text messages,
//! before the capability handshake: it proves the password, checks that
//! the server knows the user's credentials, and keeps the token issued.

use std::fmt;

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use super::super::auth::{decode_base64url_text, encode_base64url, ScramClient, ScramLimits};
use super::super::login_json::{object, Received};
use super::error::{LoginFailure, LoginStep};
use crate::protocol::messages::{
    auth_err, auth_ok, client_final, client_first, hello, hello_answer, login, server_first,
};

/// A user name and password to log in with, kept in memory only.
#[derive(Clone)]
pub(super) struct Credentials {
    pub(super) username: String,
    pub(super) password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// Runs the login over `socket` and gives the token the server issued.
pub(super) async fn log_in<S>(
    socket: &mut WebSocketStream<S>,
    credentials: &Credentials,
    limits: ScramLimits,
) -> Result<String, (LoginStep, LoginFailure)>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let at = |step: LoginStep| move |failure: LoginFailure| (step, failure);

    let step = LoginStep::Hello;
    let client = ScramClient::new(&credentials.username)
        .map_err(|error| (step, error.into()))?
        .with_limits(limits);
    let hello = object(&[
        (hello::TYPE, hello::KIND),
        (
            hello::USERNAME,
            &encode_base64url(credentials.username.as_bytes()),
        ),
    ]);
    let answer = exchange(socket, hello, hello_answer::KIND)
        .await
        .map_err(at(step))?;
    let token = field(&answer, hello_answer::HANDSHAKE_TOKEN).map_err(at(step))?;
    check_hash(&answer, hello_answer::HASH).map_err(at(step))?;

    let step = LoginStep::ClientFirst;
    let first = object(&[
        (client_first::TYPE, client_first::KIND),
        (client_first::HANDSHAKE_TOKEN, token),
        (
            client_first::DATA,
            &encode_base64url(client.client_first().as_bytes()),
        ),
    ]);
    let answer = exchange(socket, first, server_first::KIND)
        .await
        .map_err(at(step))?;
    let token = field(&answer, server_first::HANDSHAKE_TOKEN).map_err(at(step))?;
    check_hash(&answer, server_first::HASH).map_err(at(step))?;
    let data = field(&answer, server_first::DATA).map_err(at(step))?;
    let data = decode_base64url_text(server_first::DATA, data).map_err(|error| (step, error.into()))?;
    let proof = client
        .client_final(&credentials.password, &data)
        .map_err(|error| (step, error.into()))?;

    let step = LoginStep::ClientFinal;
    let last = object(&[
        (client_final::TYPE, client_final::KIND),
        (client_final::HANDSHAKE_TOKEN, token),
        (client_final::DATA, &encode_base64url(proof.message().as_bytes())),
    ]);
    let answer = exchange(socket, last, auth_ok::KIND).await.map_err(at(step))?;
    let data = field(&answer, auth_ok::DATA).map_err(at(step))?;
    let data = decode_base64url_text(auth_ok::DATA, data).map_err(|error| (step, error.into()))?;
    proof
        .verify_server_final(&data)
        .map_err(|error| (step, error.into()))?;
    field(&answer, auth_ok::AUTH_TOKEN)
        .map(str::to_owned)
        .map_err(at(step))
}

/// Sends `text` and reads the server's answer, which must be of type
/// `expected` (`authErr` is a refusal).
async fn exchange<S>(
    socket: &mut WebSocketStream<S>,
    text: String,
    expected: &'static str,
) -> Result<Received, LoginFailure>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    socket
        .send(Message::text(text))
        .await
        .map_err(|error| LoginFailure::Socket(Box::new(error)))?;
    let text = loop {
        match socket.next().await {
            Some(Ok(Message::Text(text))) => break text,
            Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
            Some(Ok(Message::Binary(_))) => {
                return Err(LoginFailure::UnexpectedMessage {
                    expected,
                    found: "a binary message".into(),
                })
            }
            Some(Ok(Message::Close(_))) | None => return Err(LoginFailure::Closed),
            Some(Err(error)) => return Err(LoginFailure::Socket(Box::new(error))),
        }
    };
    let answer = Received::parse(&text).ok_or(LoginFailure::NotJson)?;
    match answer.kind() {
        Some(kind) if kind == expected => Ok(answer),
        Some(kind) if kind == auth_err::KIND => Err(LoginFailure::Refused),
        Some(kind) => Err(LoginFailure::UnexpectedMessage {
            expected,
            found: format!(
                "a message of type {:?}",
                kind.chars().take(32).collect::<String>()
            ),
        }),
        None => Err(LoginFailure::UnexpectedMessage {
            expected,
            found: "a message without a type".into(),
        }),
    }
}

/// A string field the answer must have.
fn field<'a>(answer: &'a Received, key: &'static str) -> Result<&'a str, LoginFailure> {
    answer.str(key).ok_or(LoginFailure::MissingField { field: key })
}

/// The hash the server names must be the one spoken.
fn check_hash(answer: &Received, key: &'static str) -> Result<(), LoginFailure> {
    let hash = field(answer, key)?;
    if hash == login::HASH {
        Ok(())
    } else {
        Err(LoginFailure::UnsupportedHash {
            hash: hash.chars().take(32).collect(),
            supported: login::HASH,
        })
    }
}
