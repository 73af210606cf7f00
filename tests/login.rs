//! The SCRAM-SHA-256 login end to end: the `Client` against a `Server`
//! with a `Users` store, the token message with issued and shared tokens,
//! what the server does with logins it refuses, and how it slows down
//! password guessing.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use haystack_wire::connection::{
    auth_message, decode_base64url_text, encode_base64url, Backoff, Client, ClientConfig, ClientError,
    FakeCredentials, IssuedTokens, LoginFailure, LoginStep, LoginThrottle, Role, Router, ScramClient,
    ScramError, Server, ServerConfig, UserRecord, Users,
};
use haystack_wire::protocol::handshake;
use haystack_wire::protocol::messages::{
    auth_err, auth_ok, client_final, client_first, hello, hello_answer, login, server_first, TYPE_FIELD,
};
use haystack_wire::Op;
use serde_json::{Map, Value};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::time::Instant;
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

/// The address the tests' clients come from unless they say otherwise.
const HOME: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// Another address on the loopback network: Linux routes all of
/// 127.0.0.0/8 to the loopback interface.
const ELSEWHERE: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

/// A TCP connection to the server of `url` from the address `source`.
async fn tcp_from(source: IpAddr, url: &str) -> TcpStream {
    let server: SocketAddr = url.trim_start_matches("ws://").parse().unwrap();
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(source, 0)).unwrap();
    socket.connect(server).await.unwrap()
}

/// A raw WebSocket to the server of `url` from the address `source`.
async fn raw_socket_from(source: IpAddr, url: &str) -> tokio_tungstenite::WebSocketStream<TcpStream> {
    let (socket, _) = tokio_tungstenite::client_async(url, tcp_from(source, url).await)
        .await
        .unwrap();
    socket
}

/// A client of `url` connecting from the address `source`.
async fn connect_from(source: IpAddr, url: &str, config: ClientConfig) -> Result<Client, ClientError> {
    let stream = tcp_from(source, url).await;
    tokio::time::timeout(BOUND, Client::connect_over(stream, url, config))
        .await
        .unwrap()
}

/// Runs a login with a raw WebSocket client, the SCRAM part with the
/// library's state machine, and records what the server answered.
async fn raw_login(url: &str, user: &str, password: &str) -> Transcript {
    raw_login_from(HOME, url, user, password).await
}

/// As [`raw_login`], from the address `source`.
async fn raw_login_from(source: IpAddr, url: &str, user: &str, password: &str) -> Transcript {
    let mut socket = raw_socket_from(source, url).await;
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

/// A server with `throttle`, which the test keeps to look at.
async fn start_throttled(throttle: &Arc<LoginThrottle>) -> String {
    start(config().login_throttle(Arc::clone(throttle))).await
}

/// A raw login timed from its first byte to the server's close.
async fn timed_raw_login(source: IpAddr, url: &str, user: &str, password: &str) -> (Transcript, Duration) {
    let started = Instant::now();
    let transcript = tokio::time::timeout(BOUND, raw_login_from(source, url, user, password))
        .await
        .unwrap();
    (transcript, started.elapsed())
}

#[tokio::test]
async fn a_wrong_password_from_one_address_is_slowed_down_and_the_right_one_still_works_from_another() {
    let throttle = Arc::new(
        LoginThrottle::new()
            .address_backoff(Backoff {
                free_failures: 1,
                first_delay: Duration::from_millis(200),
                max_delay: Duration::from_millis(800),
            })
            .user_backoff(Backoff {
                free_failures: 1,
                first_delay: Duration::from_millis(100),
                max_delay: Duration::from_millis(300),
            }),
    );
    let url = start_throttled(&throttle).await;
    let ms = Duration::from_millis;

    // Before each guess, the delay it will wait: free, then doubling, then
    // the address's cap; each guess takes at least that long to its authErr.
    let mut delays = Vec::new();
    for _ in 0..5 {
        let delay = throttle.delay(Some(HOME), "alice");
        let (transcript, took) = timed_raw_login(HOME, &url, "alice", "looking-glass").await;
        assert_eq!(transcript.kinds.last().map(String::as_str), Some(auth_err::KIND));
        assert!(
            took >= delay,
            "a guess answered after {took:?}, before its delay of {delay:?}"
        );
        delays.push(delay);
    }
    assert_eq!(delays, [ms(0), ms(200), ms(400), ms(800), ms(800)]);

    // Any user from that address now waits the address's delay; the user
    // from another address waits at most the user's cap, and gets in.
    assert_eq!(throttle.delay(Some(HOME), "bob"), ms(800));
    let user_delay = throttle.delay(Some(ELSEWHERE), "alice");
    assert_eq!(user_delay, ms(300));
    let started = Instant::now();
    let client = connect_from(ELSEWHERE, &url, ClientConfig::new().login("alice", "wonderland"))
        .await
        .unwrap();
    assert!(
        started.elapsed() >= user_delay,
        "the right password skipped the delay"
    );
    assert_eq!(whoami(&client).await, "alice");

    // The success cleared alice's failures, not the address's.
    assert_eq!(throttle.delay(Some(ELSEWHERE), "alice"), ms(0));
    assert_eq!(throttle.delay(Some(HOME), "bob"), ms(800));
}

#[tokio::test]
async fn an_unknown_user_and_a_wrong_password_take_the_same_path_and_wait_the_same_delay() {
    let throttle = Arc::new(
        LoginThrottle::new()
            .address_backoff(Backoff::NONE)
            .user_backoff(Backoff {
                free_failures: 1,
                first_delay: Duration::from_millis(300),
                max_delay: Duration::from_secs(1),
            }),
    );
    let url = start_throttled(&throttle).await;
    let mut seen = Vec::new();
    for user in ["mallory", "alice"] {
        let mut attempts = Vec::new();
        for _ in 0..2 {
            let delay = throttle.delay(Some(HOME), user);
            let (transcript, took) = timed_raw_login(HOME, &url, user, "looking-glass").await;
            assert!(
                took >= delay,
                "{user}: answered after {took:?}, before its delay of {delay:?}"
            );
            attempts.push((transcript, delay));
        }
        seen.push((attempts, throttle.delay(Some(HOME), user)));
    }
    let (unknown, wrong) = (&seen[0], &seen[1]);
    assert_eq!(unknown, wrong, "an unknown name and a wrong password differ");
    let (attempts, next) = unknown;
    assert_eq!(
        attempts[0].0.kinds,
        [hello_answer::KIND, server_first::KIND, auth_err::KIND]
    );
    assert_eq!(
        attempts.iter().map(|(_, delay)| *delay).collect::<Vec<_>>(),
        [Duration::ZERO, Duration::from_millis(300)]
    );
    assert_eq!(*next, Duration::from_millis(600));
}

#[tokio::test]
async fn a_throttled_login_gets_its_answer_even_when_the_delay_outlasts_the_handshake_deadline() {
    let deadline = Duration::from_secs(2);
    let delay = Duration::from_millis(2500);
    let throttle = LoginThrottle::new().user_backoff(Backoff {
        free_failures: 0,
        first_delay: delay,
        max_delay: delay,
    });
    let url = start(
        config()
            .handshake_timeout(deadline)
            .login_throttle(Arc::new(throttle)),
    )
    .await;
    let started = Instant::now();
    let (right, wrong) = tokio::join!(
        connect(&url, ClientConfig::new().login("alice", "wonderland")),
        connect(&url, ClientConfig::new().login("bob", "not-the-builder")),
    );
    assert!(started.elapsed() >= delay);
    assert_eq!(whoami(&right.unwrap()).await, "alice");
    let (step, reason) = login_failure(wrong);
    assert_eq!(step, LoginStep::ClientFinal);
    assert!(matches!(reason, LoginFailure::Refused), "{reason}");
}

/// Opens a login as alice on a raw socket and reads the server's answer to
/// the `hello`.
async fn open_login(source: IpAddr, url: &str) -> (tokio_tungstenite::WebSocketStream<TcpStream>, String) {
    let mut socket = raw_socket_from(source, url).await;
    socket
        .send(message(&[
            (hello::TYPE, hello::KIND),
            (hello::USERNAME, &encode_base64url(b"alice")),
        ]))
        .await
        .unwrap();
    let answer = tokio::time::timeout(BOUND, next_text(&mut socket))
        .await
        .unwrap()
        .unwrap_or_default();
    (socket, field(&answer, TYPE_FIELD))
}

#[tokio::test]
async fn logins_past_the_bound_of_one_address_are_refused_at_once_without_counting_a_failure() {
    let throttle = Arc::new(LoginThrottle::new().max_logins_per_address(2));
    let url = start_throttled(&throttle).await;
    let (first, kind) = open_login(HOME, &url).await;
    assert_eq!(kind, hello_answer::KIND);
    let (_second, kind) = open_login(HOME, &url).await;
    assert_eq!(kind, hello_answer::KIND);

    let (mut third, kind) = open_login(HOME, &url).await;
    assert_eq!(kind, auth_err::KIND);
    match tokio::time::timeout(BOUND, third.next()).await.unwrap() {
        Some(Ok(Message::Close(Some(frame)))) => assert_eq!(frame.code, CloseCode::Policy),
        other => panic!("expected a close frame, got {other:?}"),
    }
    assert_eq!(
        throttle.tracked_users(),
        0,
        "a refusal for the bound counted as a failure"
    );

    // Another address is not held back; and once a login of the first
    // address ends, the address may start another.
    let client = connect_from(ELSEWHERE, &url, ClientConfig::new().login("alice", "wonderland"))
        .await
        .unwrap();
    assert_eq!(whoami(&client).await, "alice");
    drop(first);
    let started = Instant::now();
    loop {
        let (_socket, kind) = open_login(HOME, &url).await;
        if kind == hello_answer::KIND {
            break;
        }
        assert_eq!(kind, auth_err::KIND);
        assert!(started.elapsed() < BOUND, "the ended login still holds its place");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The user a token lets in, or `None` when the server refuses it.
async fn holder(url: &str, token: &str) -> Option<String> {
    let client = connect(url, ClientConfig::new().auth_token(token)).await.ok()?;
    let answer = tokio::time::timeout(BOUND, client.request(Op::About, b"{}"))
        .await
        .unwrap()
        .ok()?;
    Some(String::from_utf8(answer).unwrap())
}

#[tokio::test]
async fn a_user_logging_in_past_the_per_user_cap_withdraws_only_their_own_oldest_tokens() {
    let tokens = IssuedTokens::with_limits(IssuedTokens::DEFAULT_LIFETIME, 10_000).with_per_user_cap(3);
    let url = start(config().issued_tokens(Arc::new(tokens))).await;
    let bob = connect(&url, ClientConfig::new().login("bob", "builder"))
        .await
        .unwrap()
        .auth_token()
        .unwrap()
        .to_owned();
    let mut alice = Vec::new();
    for _ in 0..5 {
        let client = connect(&url, ClientConfig::new().login("alice", "wonderland"))
            .await
            .unwrap();
        alice.push(client.auth_token().unwrap().to_owned());
    }
    assert_eq!(holder(&url, &bob).await.as_deref(), Some("bob"));
    for (i, token) in alice.iter().enumerate() {
        let expected = (i >= 2).then_some("alice");
        assert_eq!(
            holder(&url, token).await.as_deref(),
            expected,
            "alice's token {i}"
        );
    }
}

#[tokio::test]
async fn a_login_in_progress_is_counted_in_the_memory_budget_until_it_ends() {
    let server = Server::bind("127.0.0.1:0", config(), whoami_router())
        .await
        .unwrap();
    let url = format!("ws://{}", server.local_addr().unwrap());
    let monitor = server.monitor();
    tokio::spawn(server.run());
    let in_use = || monitor.stats().memory_in_use;
    // Three logins: within what one address may have in progress at once.
    let logins: Vec<_> = futures_util::future::join_all((0..3).map(|_| open_login(HOME, &url))).await;
    assert!(logins.iter().all(|(_, kind)| kind == hello_answer::KIND));
    // Three messages of at most 4 KiB each, for each of the three logins.
    let counted = 3 * 3 * ServerConfig::MAX_LOGIN_MESSAGE;
    assert!(in_use() >= counted, "{} bytes in use", in_use());
    drop(logins);
    let released = async {
        while in_use() >= ServerConfig::MAX_LOGIN_MESSAGE {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(BOUND, released)
        .await
        .unwrap_or_else(|_| panic!("{} bytes still in use after the logins ended", in_use()));
}
