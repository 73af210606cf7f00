//! The SCRAM-SHA-256 login end to end: the `Client` against a `Server`
//! with a `Users` store, the token message with issued and shared tokens,
//! and what the server does with logins it refuses.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use haystack_wire::connection::{
    auth_message, decode_base64url_text, encode_base64url, Client, ClientConfig, ClientError,
    FakeCredentials, IssuedTokens, LoginFailure, LoginStep, Role, Router, ScramClient, ScramError, Server,
    ServerConfig, UserRecord, Users,
};
use haystack_wire::protocol::handshake;
use haystack_wire::protocol::messages::{
    auth_err, auth_ok, client_final, client_first, hello, hello_answer, login, server_first, TYPE_FIELD,
};
use haystack_wire::Op;
use serde_json::{Map, Value};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::http::header::SEC_WEBSOCKET_PROTOCOL;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

/// The fewest iterations clients accept, to keep the tests quick.
const ITERATIONS: u32 = 4096;

/// Every test is bounded in time: a hung login fails the test.
const BOUND: Duration = Duration::from_secs(20);

const SHARED_TOKEN: &str = "shared-token-of-the-tests";

fn users() -> Users {
    let mut users = Users::new();
    users
        .add("alice", "wonderland", Role::Operator, ITERATIONS)
        .unwrap();
    users.add("bob", "builder", Role::Viewer, ITERATIONS).unwrap();
    let mut carol = users.get("bob").unwrap().clone();
    carol.enabled = false;
    users.insert(
        "carol",
        UserRecord {
            credentials: haystack_wire::connection::ScramCredentials::derive("disabled", ITERATIONS).unwrap(),
            ..carol
        },
    );
    users
}

fn config() -> ServerConfig {
    ServerConfig::new()
        .credentials(Arc::new(users()))
        .fake_credentials(FakeCredentials::new(ITERATIONS).unwrap())
}

/// A router whose `about` answers with the user the request came from.
fn whoami_router() -> Router {
    Router::new().route(
        Op::About,
        |request: haystack_wire::connection::Request| async move {
            Ok(request.user.as_deref().unwrap_or("<none>").as_bytes().to_vec())
        },
    )
}

async fn start(config: ServerConfig) -> String {
    let server = Server::bind("127.0.0.1:0", config, whoami_router())
        .await
        .unwrap();
    let url = format!("ws://{}", server.local_addr().unwrap());
    tokio::spawn(server.run());
    url
}

async fn whoami(client: &Client) -> String {
    let answer = tokio::time::timeout(BOUND, client.request(Op::About, b"{}"))
        .await
        .unwrap()
        .unwrap();
    String::from_utf8(answer).unwrap()
}

async fn connect(url: &str, config: ClientConfig) -> Result<Client, ClientError> {
    tokio::time::timeout(BOUND, Client::connect(url, config))
        .await
        .unwrap()
}

fn login_failure(result: Result<Client, ClientError>) -> (LoginStep, LoginFailure) {
    match result {
        Err(ClientError::Login { step, reason, .. }) => (step, reason),
        Err(other) => panic!("expected a login error, got {other}"),
        Ok(_) => panic!("expected a login error, the login succeeded"),
    }
}

fn message(fields: &[(&str, &str)]) -> Message {
    let mut object = Map::new();
    for (key, value) in fields {
        object.insert((*key).to_owned(), Value::String((*value).to_owned()));
    }
    Message::text(Value::Object(object).to_string())
}

fn field(text: &str, key: &str) -> String {
    let value: Value = serde_json::from_str(text).unwrap();
    value[key].as_str().unwrap_or_default().to_owned()
}

/// What a client without the library sees of a login: the type of each
/// text message the server sent, then the close code and reason.
#[derive(Debug, PartialEq, Eq)]
struct Transcript {
    kinds: Vec<String>,
    close: Option<(CloseCode, String)>,
}

/// Runs a login with a raw WebSocket client, the SCRAM part with the
/// library's state machine, and records what the server answered.
async fn raw_login(url: &str, user: &str, password: &str) -> Transcript {
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let mut kinds = Vec::new();
    let mut close = None;
    let scram = ScramClient::new(user).unwrap();
    socket
        .send(message(&[
            (hello::TYPE, hello::KIND),
            (hello::USERNAME, &encode_base64url(user.as_bytes())),
        ]))
        .await
        .unwrap();
    let mut scram = Some(scram);
    let mut proof = None;
    while let Some(Ok(next)) = socket.next().await {
        let text = match next {
            Message::Text(text) => text.as_str().to_owned(),
            Message::Close(frame) => {
                close = frame.map(|frame| (frame.code, frame.reason.as_str().to_owned()));
                break;
            }
            _ => continue,
        };
        let kind = field(&text, TYPE_FIELD);
        kinds.push(kind.clone());
        if let (true, Some(scram)) = (
            kind == hello_answer::KIND && proof.is_none() && kinds.len() == 1,
            &scram,
        ) {
            let token = field(&text, hello_answer::HANDSHAKE_TOKEN);
            let first = scram.client_first().to_owned();
            socket
                .send(message(&[
                    (client_first::TYPE, client_first::KIND),
                    (client_first::HANDSHAKE_TOKEN, &token),
                    (client_first::DATA, &encode_base64url(first.as_bytes())),
                ]))
                .await
                .unwrap();
        } else if kind == server_first::KIND && proof.is_none() {
            let token = field(&text, server_first::HANDSHAKE_TOKEN);
            let data = decode_base64url_text(server_first::DATA, &field(&text, server_first::DATA)).unwrap();
            let last = scram.take().unwrap().client_final(password, &data).unwrap();
            socket
                .send(message(&[
                    (client_final::TYPE, client_final::KIND),
                    (client_final::HANDSHAKE_TOKEN, &token),
                    (client_final::DATA, &encode_base64url(last.message().as_bytes())),
                ]))
                .await
                .unwrap();
            proof = Some(last);
        }
    }
    Transcript { kinds, close }
}

#[tokio::test]
async fn a_user_logs_in_and_its_requests_carry_its_name() {
    let url = start(config()).await;
    let client = connect(&url, ClientConfig::new().login("alice", "wonderland"))
        .await
        .unwrap();
    assert!(client.auth_token().is_some_and(|token| !token.is_empty()));
    assert_eq!(whoami(&client).await, "alice");
}

#[tokio::test]
async fn a_wrong_password_is_refused_at_the_client_final_step() {
    let url = start(config()).await;
    let (step, reason) =
        login_failure(connect(&url, ClientConfig::new().login("alice", "looking-glass")).await);
    assert_eq!(step, LoginStep::ClientFinal);
    assert!(matches!(reason, LoginFailure::Refused), "{reason}");
}

#[tokio::test]
async fn an_unknown_user_is_refused_at_the_same_step_with_the_same_error_and_close_as_a_wrong_password() {
    let url = start(config()).await;
    let (step, reason) = login_failure(connect(&url, ClientConfig::new().login("mallory", "anything")).await);
    assert_eq!(step, LoginStep::ClientFinal);
    assert!(matches!(reason, LoginFailure::Refused), "{reason}");

    let unknown = tokio::time::timeout(BOUND, raw_login(&url, "mallory", "anything"))
        .await
        .unwrap();
    let wrong = tokio::time::timeout(BOUND, raw_login(&url, "alice", "looking-glass"))
        .await
        .unwrap();
    assert_eq!(
        unknown.kinds,
        [hello_answer::KIND, server_first::KIND, auth_err::KIND]
    );
    assert_eq!(
        unknown.close.as_ref().map(|(code, _)| *code),
        Some(CloseCode::Policy)
    );
    assert_eq!(unknown, wrong);
}

#[tokio::test]
async fn a_disabled_user_is_refused_like_a_wrong_password() {
    let url = start(config()).await;
    let (step, reason) = login_failure(connect(&url, ClientConfig::new().login("carol", "disabled")).await);
    assert_eq!(step, LoginStep::ClientFinal);
    assert!(matches!(reason, LoginFailure::Refused), "{reason}");
    let disabled = tokio::time::timeout(BOUND, raw_login(&url, "carol", "disabled"))
        .await
        .unwrap();
    let wrong = tokio::time::timeout(BOUND, raw_login(&url, "alice", "looking-glass"))
        .await
        .unwrap();
    assert_eq!(disabled, wrong);
}

#[tokio::test]
async fn a_token_issued_by_a_login_lets_a_second_connection_in_as_the_same_user_until_it_expires() {
    let lifetime = Duration::from_millis(300);
    let url = start(config().issued_tokens(Arc::new(IssuedTokens::with_limits(lifetime, 100)))).await;
    let first = connect(&url, ClientConfig::new().login("bob", "builder"))
        .await
        .unwrap();
    let token = first.auth_token().unwrap().to_owned();

    let second = connect(&url, ClientConfig::new().auth_token(&token))
        .await
        .unwrap();
    assert_eq!(whoami(&second).await, "bob");

    tokio::time::sleep(lifetime + Duration::from_millis(200)).await;
    let third = connect(&url, ClientConfig::new().auth_token(&token))
        .await
        .unwrap();
    // The token message has no answer of its own: the refusal shows as the
    // connection closing before the first request is answered.
    let refused = tokio::time::timeout(BOUND, third.request(Op::About, b"{}"))
        .await
        .unwrap();
    assert!(refused.is_err(), "an expired token still let a request through");
}

#[tokio::test]
async fn the_shared_token_still_lets_a_connection_in_without_a_user() {
    let url = start(config().auth_token(SHARED_TOKEN)).await;
    let client = connect(&url, ClientConfig::new().auth_token(SHARED_TOKEN))
        .await
        .unwrap();
    assert_eq!(whoami(&client).await, "<none>");

    let (mut socket, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    socket
        .send(Message::text(auth_message("not-the-token")))
        .await
        .unwrap();
    let answer = tokio::time::timeout(BOUND, socket.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(field(answer.to_text().unwrap(), TYPE_FIELD), auth_err::KIND);
}

#[tokio::test]
async fn a_login_message_over_the_cap_is_refused_and_the_connection_closed() {
    let url = start(config()).await;
    let (mut socket, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    let long_name = "x".repeat(ServerConfig::MAX_LOGIN_MESSAGE);
    socket
        .send(message(&[
            (hello::TYPE, hello::KIND),
            (hello::USERNAME, &encode_base64url(long_name.as_bytes())),
        ]))
        .await
        .unwrap();
    let answer = tokio::time::timeout(BOUND, socket.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(field(answer.to_text().unwrap(), TYPE_FIELD), auth_err::KIND);
    let close = tokio::time::timeout(BOUND, socket.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    match close {
        Message::Close(Some(frame)) => assert_eq!(frame.code, CloseCode::Policy),
        other => panic!("expected a close frame, got {other:?}"),
    }
}

#[tokio::test]
async fn a_step_with_another_handshake_token_is_refused() {
    let url = start(config()).await;
    let (mut socket, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    socket
        .send(message(&[
            (hello::TYPE, hello::KIND),
            (hello::USERNAME, &encode_base64url(b"alice")),
        ]))
        .await
        .unwrap();
    let answer = tokio::time::timeout(BOUND, socket.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(field(answer.to_text().unwrap(), hello_answer::HASH), login::HASH);
    let first = ScramClient::new("alice").unwrap();
    socket
        .send(message(&[
            (client_first::TYPE, client_first::KIND),
            (client_first::HANDSHAKE_TOKEN, "a-token-never-issued"),
            (
                client_first::DATA,
                &encode_base64url(first.client_first().as_bytes()),
            ),
        ]))
        .await
        .unwrap();
    let answer = tokio::time::timeout(BOUND, socket.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(field(answer.to_text().unwrap(), TYPE_FIELD), auth_err::KIND);
}

#[tokio::test]
async fn the_handler_and_the_log_in_see_each_connections_own_user() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let router = {
        let seen = Arc::clone(&seen);
        Router::new().route(Op::Read, move |request: haystack_wire::connection::Request| {
            let seen = Arc::clone(&seen);
            async move {
                seen.lock()
                    .unwrap()
                    .push(request.user.as_deref().map(str::to_owned));
                Ok(Vec::new())
            }
        })
    };
    let server = Server::bind("127.0.0.1:0", config().auth_token(SHARED_TOKEN), router)
        .await
        .unwrap();
    let url = format!("ws://{}", server.local_addr().unwrap());
    tokio::spawn(server.run());
    for config in [
        ClientConfig::new().login("alice", "wonderland"),
        ClientConfig::new().login("bob", "builder"),
        ClientConfig::new().auth_token(SHARED_TOKEN),
    ] {
        let client = connect(&url, config).await.unwrap();
        tokio::time::timeout(BOUND, client.request(Op::Read, b"{}"))
            .await
            .unwrap()
            .unwrap();
    }
    assert_eq!(
        *seen.lock().unwrap(),
        [Some("alice".to_owned()), Some("bob".to_owned()), None]
    );
}

/// A server that runs the exchange as a genuine one would, then signs the
/// end with a signature that does not come from the user's credentials.
async fn impostor() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        #[allow(clippy::result_large_err)] // tungstenite's callback signature
        let name_subprotocol = |_: &Request, mut response: Response| {
            response.headers_mut().insert(
                SEC_WEBSOCKET_PROTOCOL,
                HeaderValue::from_static(handshake::SUBPROTOCOL),
            );
            Ok(response)
        };
        let mut socket = tokio_tungstenite::accept_hdr_async(stream, name_subprotocol)
            .await
            .unwrap();
        if next_text(&mut socket).await.is_none() {
            return;
        }
        let reply = message;
        socket
            .send(reply(&[
                (hello_answer::TYPE, hello_answer::KIND),
                (hello_answer::HANDSHAKE_TOKEN, "t1"),
                (hello_answer::HASH, login::HASH),
            ]))
            .await
            .unwrap();
        let Some(text) = next_text(&mut socket).await else {
            return;
        };
        let first = decode_base64url_text(client_first::DATA, &field(&text, client_first::DATA)).unwrap();
        let nonce = first.split(",r=").nth(1).unwrap().to_owned();
        let server_first_message =
            format!("r={nonce}impostor,s={},i={ITERATIONS}", encode_standard(&[7; 16]));
        socket
            .send(reply(&[
                (server_first::TYPE, server_first::KIND),
                (server_first::HANDSHAKE_TOKEN, "t2"),
                (server_first::HASH, login::HASH),
                (
                    server_first::DATA,
                    &encode_base64url(server_first_message.as_bytes()),
                ),
            ]))
            .await
            .unwrap();
        let _ = socket.next().await;
        let bogus = format!("v={}", encode_standard(&[0; 32]));
        socket
            .send(reply(&[
                (auth_ok::TYPE, auth_ok::KIND),
                (auth_ok::AUTH_TOKEN, "worthless"),
                (auth_ok::DATA, &encode_base64url(bogus.as_bytes())),
            ]))
            .await
            .unwrap();
        let _ = socket.next().await;
    });
    url
}

async fn next_text<S>(socket: &mut tokio_tungstenite::WebSocketStream<S>) -> Option<String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    loop {
        match socket.next().await {
            Some(Ok(Message::Text(text))) => return Some(text.as_str().to_owned()),
            Some(Ok(_)) => continue,
            _ => return None,
        }
    }
}

fn encode_standard(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[tokio::test]
async fn a_server_whose_signature_is_wrong_fails_the_login() {
    let url = impostor().await;
    let (step, reason) = login_failure(connect(&url, ClientConfig::new().login("alice", "wonderland")).await);
    assert_eq!(step, LoginStep::ClientFinal);
    assert!(
        matches!(reason, LoginFailure::Scram(ScramError::ServerSignature)),
        "{reason}"
    );
}

#[tokio::test]
async fn the_permission_hook_sees_the_user_name_of_the_login() {
    let asked = Arc::new(Mutex::new(Vec::new()));
    let hook = {
        let asked = Arc::clone(&asked);
        move |user: Option<&str>, op: Op| {
            asked.lock().unwrap().push((user.map(str::to_owned), op));
            if user == Some("bob") {
                Err(haystack_wire::connection::Fault::new("bob may not"))
            } else {
                Ok(())
            }
        }
    };
    let url = start(config().permissions(hook)).await;
    let alice = connect(&url, ClientConfig::new().login("alice", "wonderland"))
        .await
        .unwrap();
    assert_eq!(whoami(&alice).await, "alice");
    let bob = connect(&url, ClientConfig::new().login("bob", "builder"))
        .await
        .unwrap();
    let refused = tokio::time::timeout(BOUND, bob.request(Op::About, b"{}"))
        .await
        .unwrap();
    assert!(
        matches!(&refused, Err(ClientError::Remote { dis, .. }) if dis == "bob may not"),
        "{refused:?}"
    );
    assert_eq!(
        *asked.lock().unwrap(),
        [
            (Some("alice".to_owned()), Op::About),
            (Some("bob".to_owned()), Op::About)
        ]
    );
}

#[tokio::test]
async fn a_server_that_takes_no_logins_refuses_a_hello_instead_of_leaving_the_client_waiting() {
    for server in [ServerConfig::new(), ServerConfig::new().auth_token(SHARED_TOKEN)] {
        let url = start(server).await;
        let transcript = tokio::time::timeout(BOUND, raw_login(&url, "alice", "secret"))
            .await
            .unwrap();
        assert_eq!(transcript.kinds, [auth_err::KIND]);
        assert_eq!(transcript.close.map(|(code, _)| code), Some(CloseCode::Policy));
    }
}

#[tokio::test]
async fn a_client_logging_in_to_a_server_that_takes_no_logins_fails_at_once_with_the_servers_refusal() {
    let url = start(ServerConfig::new()).await;
    let outcome = tokio::time::timeout(BOUND, connect(&url, ClientConfig::new().login("alice", "secret")))
        .await
        .unwrap();
    let (step, failure) = login_failure(outcome);
    assert_eq!(step, LoginStep::Hello);
    assert!(matches!(failure, LoginFailure::Refused), "{failure:?}");
}

#[tokio::test]
async fn a_client_whose_token_a_login_server_refuses_fails_to_connect_instead_of_falling_back_to_v1() {
    let url = start(config().auth_token(SHARED_TOKEN)).await;
    let offering = ClientConfig::new()
        .compression([haystack_wire::Compression::Zlib])
        .auth_token("not-the-token");
    match tokio::time::timeout(BOUND, connect(&url, offering))
        .await
        .unwrap()
    {
        Err(ClientError::Closed { reason }) => assert!(reason.contains("refused the token"), "{reason}"),
        Ok(client) => panic!("connected with a refused token: {:?}", client.session()),
        Err(other) => panic!("unexpected error {other}"),
    }
}
