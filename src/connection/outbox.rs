//! The sending side of a connection: frames are encoded by whoever sends
//! them and written by one task that owns the socket's write half.

use std::sync::Mutex;

use futures_util::{Sink, SinkExt};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;

use super::handshake::Session;
use crate::protocol::{defaults, BaseHeader};
use crate::{Encoder, Error};

/// How many WebSocket messages may wait for the writer before senders wait too.
const QUEUE: usize = 256;

/// The connection's writer went away; nothing more can be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WriterGone;

/// Why a message could not be sent.
#[derive(Debug)]
pub(crate) enum SendError {
    /// The payload could not be framed (for example, it needs more chunks than a u16 counts).
    Encode(Error),
    /// The connection is closed.
    Closed,
}

/// Encodes messages for one connection and queues them for its writer.
#[derive(Debug)]
pub(crate) struct Outbox {
    /// Kept between frames so the compressor's state is reused, and locked only
    /// while encoding: never across an await.
    state: Mutex<(Encoder, Session)>,
    queue: mpsc::Sender<Message>,
}

impl Outbox {
    /// An outbox speaking `session`, and the receiving end for [`write_loop`].
    pub(crate) fn new(session: Session) -> (Outbox, mpsc::Receiver<Message>) {
        let (queue, writer) = mpsc::channel(QUEUE);
        let outbox = Outbox {
            state: Mutex::new((encoder_for(session), session)),
            queue,
        };
        (outbox, writer)
    }

    /// Switches to `session`, once the handshake agreed on it.
    pub(crate) fn set_session(&self, session: Session) {
        let mut state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        *state = (encoder_for(session), session);
    }

    /// Sends one message: chunked when the session allows it and the payload
    /// is over the threshold, compressed as the session says.
    pub(crate) async fn send(&self, base: BaseHeader, payload: &[u8]) -> Result<(), SendError> {
        let frames = self.encode(base, payload).map_err(SendError::Encode)?;
        for frame in frames {
            self.queue
                .send(Message::Binary(frame.into()))
                .await
                .map_err(|_| SendError::Closed)?;
        }
        Ok(())
    }

    /// Sends a text message (the handshake and the token).
    pub(crate) async fn send_text(&self, text: String) -> Result<(), WriterGone> {
        self.queue.send(Message::text(text)).await.map_err(|_| WriterGone)
    }

    /// Asks the writer to close the connection with `frame`.
    pub(crate) async fn close(&self, frame: Option<CloseFrame>) -> Result<(), WriterGone> {
        self.queue
            .send(Message::Close(frame))
            .await
            .map_err(|_| WriterGone)
    }

    /// Whether the writer is gone.
    pub(crate) fn is_closed(&self) -> bool {
        self.queue.is_closed()
    }

    /// Resolves once the writer is gone.
    pub(crate) async fn closed(&self) {
        self.queue.closed().await;
    }

    fn encode(&self, base: BaseHeader, payload: &[u8]) -> Result<Vec<Vec<u8>>, Error> {
        let mut state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let (encoder, session) = &mut *state;
        if session.chunked && payload.len() > defaults::CHUNK_THRESHOLD {
            encoder.encode_chunked(base, payload)
        } else {
            encoder.encode(base, payload).map(|frame| vec![frame])
        }
    }

    /// Queues a WebSocket ping (the client's keepalive).
    pub(crate) async fn send_ping(&self) -> Result<(), WriterGone> {
        self.queue
            .send(Message::Ping(Default::default()))
            .await
            .map_err(|_| WriterGone)
    }
}

fn encoder_for(session: Session) -> Encoder {
    Encoder::new().with_compression(session.compression)
}

/// Writes queued messages until the queue closes or a close frame goes out,
/// flushing whenever the queue runs dry so that batches share a syscall.
pub(crate) async fn write_loop<S>(mut sink: S, mut queue: mpsc::Receiver<Message>)
where
    S: Sink<Message> + Unpin,
{
    while let Some(message) = queue.recv().await {
        let closing = matches!(message, Message::Close(_));
        if sink.feed(message).await.is_err() {
            return;
        }
        if (closing || queue.is_empty()) && sink.flush().await.is_err() {
            return;
        }
        if closing {
            return;
        }
    }
    // Every sender is gone: the connection is no longer wanted.
    let _ = sink.close().await;
}
