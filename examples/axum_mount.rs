//! The Haystack endpoint mounted at a path of an axum application, beside
//! its ordinary HTTP routes, on one port:
//!
//! ```text
//! cargo run --example axum_mount --features tokio -- 127.0.0.1:8080
//! curl http://127.0.0.1:8080/health
//! hswire call --url ws://127.0.0.1:8080/haystack about
//! ```
//!
//! axum makes the WebSocket upgrade (naming the `haystack` subprotocol) and
//! hands over its own socket type; [`AxumSocket`] turns it into the stream
//! and sink of tungstenite messages that
//! [`serve_websocket`](haystack_wire::connection::serve_websocket) takes.
//! Before the upgrade, the route makes the origin check a `Server` makes
//! ([`ServerConfig::check_origin`]): a page of another site gets a 403.
//! `tests/axum_mount.rs` runs this app and talks to both routes.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::ws::{self, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::header::{HOST, ORIGIN};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::{Sink, Stream};
use haystack_wire::connection::{serve_websocket, Router, ServerConfig};
use haystack_wire::protocol::handshake;
use haystack_wire::Op;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{self, Message};

/// What the Haystack route needs: the server's config and handlers, and
/// the address the app listens on (for the origin check's loopback rule).
#[derive(Clone)]
pub struct Haystack {
    config: Arc<ServerConfig>,
    router: Arc<Router>,
    local: Option<SocketAddr>,
}

/// The application listening on `local`: `GET /health` and the Haystack
/// endpoint at `/haystack`.
pub fn app(local: SocketAddr) -> axum::Router {
    let router = Router::new().route(Op::About, |_| async {
        Ok(br#"{"_kind":"grid","meta":{"ver":"3.0"},"cols":[{"name":"serverName"}],"rows":[{"serverName":"axum"}]}"#.to_vec())
    });
    let haystack = Haystack {
        config: Arc::new(ServerConfig::new()),
        router: Arc::new(router),
        local: Some(local),
    };
    axum::Router::new()
        .route("/health", get(|| async { "ok" }))
        .route("/haystack", get(upgrade))
        .with_state(haystack)
}

async fn upgrade(
    upgrade: WebSocketUpgrade,
    headers: HeaderMap,
    State(haystack): State<Haystack>,
) -> Response {
    // A page of another site may not talk to the endpoint in its visitor's name.
    let origin = headers.get(ORIGIN).map(|value| value.as_bytes());
    let host = headers.get(HOST).map(|value| value.as_bytes());
    if let Err(refused) = haystack.config.check_origin(origin, host, haystack.local) {
        return (StatusCode::FORBIDDEN, format!("{refused}\n")).into_response();
    }
    // The WebSocket layer here is axum's: it takes the server's message limit.
    let largest = ServerConfig::DEFAULT_LIMITS.max_frame;
    upgrade
        .protocols([handshake::SUBPROTOCOL])
        .max_message_size(largest)
        .max_frame_size(largest)
        .on_upgrade(move |socket| async move {
            serve_websocket(AxumSocket(socket), haystack.config, haystack.router).await;
        })
        .into_response()
}

/// axum's WebSocket as a `Stream` + `Sink` of tungstenite messages.
pub struct AxumSocket(pub WebSocket);

fn from_axum(message: ws::Message) -> Message {
    match message {
        ws::Message::Text(text) => Message::text(text.as_str()),
        ws::Message::Binary(bytes) => Message::Binary(bytes),
        ws::Message::Ping(bytes) => Message::Ping(bytes),
        ws::Message::Pong(bytes) => Message::Pong(bytes),
        ws::Message::Close(frame) => Message::Close(frame.map(|frame| CloseFrame {
            code: CloseCode::from(frame.code),
            reason: frame.reason.as_str().into(),
        })),
    }
}

fn to_axum(message: Message) -> ws::Message {
    match message {
        Message::Text(text) => ws::Message::Text(text.as_str().into()),
        Message::Binary(bytes) => ws::Message::Binary(bytes),
        Message::Ping(bytes) => ws::Message::Ping(bytes),
        Message::Pong(bytes) => ws::Message::Pong(bytes),
        Message::Close(frame) => ws::Message::Close(frame.map(|frame| ws::CloseFrame {
            code: frame.code.into(),
            reason: frame.reason.as_str().into(),
        })),
        // Raw frames are never sent by the connection layer.
        Message::Frame(_) => ws::Message::Binary(Default::default()),
    }
}

fn socket_error(error: axum::Error) -> tungstenite::Error {
    tungstenite::Error::Io(std::io::Error::other(error))
}

impl Stream for AxumSocket {
    type Item = Result<Message, tungstenite::Error>;

    fn poll_next(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Pin::new(&mut self.0)
            .poll_next(context)
            .map(|next| next.map(|message| message.map(from_axum).map_err(socket_error)))
    }
}

impl Sink<Message> for AxumSocket {
    type Error = tungstenite::Error;

    fn poll_ready(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut self.0).poll_ready(context).map_err(socket_error)
    }

    fn start_send(mut self: Pin<&mut Self>, message: Message) -> Result<(), Self::Error> {
        Pin::new(&mut self.0)
            .start_send(to_axum(message))
            .map_err(socket_error)
    }

    fn poll_flush(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut self.0).poll_flush(context).map_err(socket_error)
    }

    fn poll_close(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut self.0).poll_close(context).map_err(socket_error)
    }
}

#[allow(dead_code)] // the test includes this file for `app`
#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let address = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8080".to_owned());
    let listener = tokio::net::TcpListener::bind(&address).await?;
    let local = listener.local_addr()?;
    println!("listening on http://{local}");
    axum::serve(listener, app(local)).await?;
    Ok(())
}
