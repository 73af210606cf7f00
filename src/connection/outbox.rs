//! The sending side of a connection: frames are encoded by whoever sends
//! them, counted in bytes, and written by one task that owns the socket's
//! write half.
//!
//! The queue is bounded in bytes, not in messages: every queued byte is
//! counted in the connection's [`Backlog`] and charged to its [`Account`]
//! (the server's shared budget, on a server), and given back once the
//! writer has handed it to the socket. What a full backlog means is the
//! caller's policy: the server stops reading requests, and refuses pushes.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Sink, SinkExt};
use tokio::sync::{mpsc, Notify};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{self, Message};

use super::budget::{Account, Exhausted};
use super::control::{Closing, Control};
use super::handshake::Session;
use crate::encode::Encoder;
use crate::error::Error;
use crate::protocol::{defaults, BaseHeader};

/// The connection's writer went away; nothing more can be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WriterGone;

/// Why a message could not be sent.
#[derive(Debug)]
pub(crate) enum SendError {
    /// The payload could not be framed (for example, it needs more chunks than a u16 counts).
    Encode(Error),
    /// The server's memory budget is spent and this connection holds the most.
    OverBudget(Exhausted),
    /// The connection is closed or closing.
    Closed,
}

/// What is queued for one connection's writer, in bytes, and what the
/// writer reports back.
#[derive(Debug)]
pub(crate) struct Backlog {
    bytes: AtomicUsize,
    account: Arc<Account>,
    /// Signalled whenever the writer gives bytes back.
    drained: Notify,
    /// Set once the connection is closing: queued data is dropped unsent.
    discard: AtomicBool,
    control: Arc<Control>,
    write_timeout: Option<Duration>,
}

impl Backlog {
    /// Bytes queued and not yet handed to the socket.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Resolves after the writer next gives bytes back.
    pub(crate) async fn drained(&self) {
        self.drained.notified().await;
    }

    fn release(&self, bytes: usize) {
        self.bytes.fetch_sub(bytes, Ordering::Relaxed);
        self.account.release(bytes);
        self.drained.notify_one();
    }

    fn failed(&self, error: &tungstenite::Error) {
        let why = match (error, self.write_timeout) {
            (tungstenite::Error::Io(io), Some(after)) if io.kind() == std::io::ErrorKind::TimedOut => {
                Closing::WriteStalled { after }
            }
            _ => Closing::WriterFailed {
                reason: error.to_string(),
            },
        };
        self.control.close(why);
    }
}

/// One queued WebSocket message and the bytes it is counted as.
#[derive(Debug)]
struct Queued {
    message: Message,
    bytes: usize,
}

/// The receiving end of an [`Outbox`], for [`write_loop`].
#[derive(Debug)]
pub(crate) struct Writer {
    queue: mpsc::UnboundedReceiver<Queued>,
    backlog: Arc<Backlog>,
}

impl Drop for Writer {
    fn drop(&mut self) {
        // Whatever was never written is given back, and later sends fail.
        self.queue.close();
        while let Ok(queued) = self.queue.try_recv() {
            self.backlog.release(queued.bytes);
        }
    }
}

/// Encodes messages for one connection and queues them for its writer.
#[derive(Debug)]
pub(crate) struct Outbox {
    /// Kept between frames so the compressor's state is reused, and locked only
    /// while encoding: never across an await.
    state: Mutex<(Encoder, Session)>,
    queue: mpsc::UnboundedSender<Queued>,
    /// Held while one message's frames are queued, so that the chunks of two
    /// messages sent at once from two threads do not interleave.
    queueing: Mutex<()>,
    backlog: Arc<Backlog>,
}

impl Outbox {
    /// An outbox speaking `session` that counts its bytes on its own, and
    /// the receiving end for [`write_loop`].
    pub(crate) fn new(session: Session) -> (Outbox, Writer) {
        Outbox::with_account(
            session,
            Arc::new(Account::unshared()),
            Arc::new(Control::new()),
            None,
        )
    }

    /// An outbox whose queued bytes are charged to `account`; the writer
    /// asks `control` to close the connection when the socket fails or
    /// takes nothing for `write_timeout`.
    pub(crate) fn with_account(
        session: Session,
        account: Arc<Account>,
        control: Arc<Control>,
        write_timeout: Option<Duration>,
    ) -> (Outbox, Writer) {
        let (queue, receiver) = mpsc::unbounded_channel();
        let backlog = Arc::new(Backlog {
            bytes: AtomicUsize::new(0),
            account,
            drained: Notify::new(),
            discard: AtomicBool::new(false),
            control,
            write_timeout,
        });
        let outbox = Outbox {
            state: Mutex::new((encoder_for(session), session)),
            queue,
            queueing: Mutex::new(()),
            backlog: Arc::clone(&backlog),
        };
        (
            outbox,
            Writer {
                queue: receiver,
                backlog,
            },
        )
    }

    /// What is queued, and how the writer is doing.
    pub(crate) fn backlog(&self) -> &Arc<Backlog> {
        &self.backlog
    }

    /// The session frames are sent in now.
    pub(crate) fn session(&self) -> Session {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .1
    }

    /// Switches to `session`, once the handshake agreed on it.
    pub(crate) fn set_session(&self, session: Session) {
        let mut state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        *state = (encoder_for(session), session);
    }

    /// Sends one message: chunked when the session allows it and the payload
    /// is over the threshold, compressed as the session says. Never waits:
    /// the bytes are queued and counted.
    pub(crate) async fn send(&self, base: BaseHeader, payload: &[u8]) -> Result<(), SendError> {
        self.send_now(base, payload)
    }

    /// [`Outbox::send`], from code that cannot await.
    pub(crate) fn send_now(&self, base: BaseHeader, payload: &[u8]) -> Result<(), SendError> {
        if self.backlog.discard.load(Ordering::Relaxed) || self.queue.is_closed() {
            return Err(SendError::Closed);
        }
        let frames = self.encode(base, payload).map_err(SendError::Encode)?;
        self.queue_all(frames.into_iter().map(|frame| Message::Binary(frame.into())))
    }

    /// Sends one text message (a JSON envelope, a batch's answer, a JSON
    /// push), counted and charged as frames are. Never waits.
    pub(crate) fn send_text(&self, text: String) -> Result<(), SendError> {
        if self.backlog.discard.load(Ordering::Relaxed) || self.queue.is_closed() {
            return Err(SendError::Closed);
        }
        self.queue_all(std::iter::once(Message::text(text)))
    }

    /// Queues already-encoded frames (an answer the encoder cannot make, say).
    pub(crate) fn send_frame(&self, frame: Vec<u8>) -> Result<(), SendError> {
        self.queue_all(std::iter::once(Message::Binary(frame.into())))
    }

    /// Queues the frames of one message, encoded elsewhere for this
    /// connection's session (and perhaps shared with other connections:
    /// `Bytes` clones, not copies). Never waits.
    pub(crate) fn send_frames(&self, frames: &[Bytes]) -> Result<(), SendError> {
        if self.backlog.discard.load(Ordering::Relaxed) || self.queue.is_closed() {
            return Err(SendError::Closed);
        }
        self.queue_all(frames.iter().cloned().map(Message::Binary))
    }

    /// The frames of one message in the connection's session, made with its
    /// encoder, for [`Outbox::send_frames`] on this and other connections.
    pub(crate) fn encode_frames(&self, base: BaseHeader, payload: &[u8]) -> Result<Vec<Bytes>, Error> {
        Ok(self.encode(base, payload)?.into_iter().map(Bytes::from).collect())
    }

    fn queue_all(&self, messages: impl ExactSizeIterator<Item = Message>) -> Result<(), SendError> {
        let messages: Vec<Message> = messages.collect();
        let _queueing = self
            .queueing
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let bytes: usize = messages.iter().map(Message::len).sum();
        self.backlog
            .account
            .charge(bytes)
            .map_err(SendError::OverBudget)?;
        self.backlog.bytes.fetch_add(bytes, Ordering::Relaxed);
        let mut unsent = bytes;
        for message in messages {
            let len = message.len();
            if self.queue.send(Queued { message, bytes: len }).is_err() {
                self.backlog.release(unsent);
                return Err(SendError::Closed);
            }
            unsent -= len;
        }
        Ok(())
    }

    /// Queues a text message (the handshake and the token).
    pub(crate) fn queue_text(&self, text: String) -> Result<(), WriterGone> {
        self.send_control(Message::text(text))
    }

    /// Sends a keepalive ping.
    pub(crate) fn send_ping(&self) -> Result<(), WriterGone> {
        self.send_control(Message::Ping(Default::default()))
    }

    fn send_control(&self, message: Message) -> Result<(), WriterGone> {
        let bytes = message.len();
        self.backlog.account.charge(bytes).map_err(|_| WriterGone)?;
        self.backlog.bytes.fetch_add(bytes, Ordering::Relaxed);
        self.queue.send(Queued { message, bytes }).map_err(|_| {
            self.backlog.release(bytes);
            WriterGone
        })
    }

    /// Asks the writer to close the connection with `frame`, dropping what
    /// is still queued: nobody will read it.
    pub(crate) async fn close(&self, frame: Option<CloseFrame>) -> Result<(), WriterGone> {
        self.backlog.discard.store(true, Ordering::Relaxed);
        self.queue
            .send(Queued {
                message: Message::Close(frame),
                bytes: 0,
            })
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
        encode_in(encoder, *session, base, payload)
    }
}

/// The frames of one message in `session`: chunked when the session allows
/// it and the payload is over the threshold, else one frame; compressed as
/// `encoder` is set up to.
pub(crate) fn encode_in(
    encoder: &mut Encoder,
    session: Session,
    base: BaseHeader,
    payload: &[u8],
) -> Result<Vec<Vec<u8>>, Error> {
    if session.chunked && payload.len() > defaults::CHUNK_THRESHOLD {
        encoder.encode_chunked(base, payload)
    } else {
        encoder.encode(base, payload).map(|frame| vec![frame])
    }
}

/// An encoder for `session`'s frames.
pub(crate) fn encoder_for(session: Session) -> Encoder {
    Encoder::new().with_compression(session.compression)
}

/// Writes queued messages until the queue closes or a close frame goes out,
/// flushing whenever the queue runs dry so that batches share a syscall.
/// A socket that fails (or stalls past the write deadline) ends it, and the
/// connection is asked to close.
pub(crate) async fn write_loop<S>(mut sink: S, mut writer: Writer)
where
    S: Sink<Message, Error = tungstenite::Error> + Unpin,
{
    let backlog = Arc::clone(&writer.backlog);
    while let Some(Queued { message, bytes }) = writer.queue.recv().await {
        let closing = matches!(message, Message::Close(_));
        if !closing && backlog.discard.load(Ordering::Relaxed) {
            backlog.release(bytes);
            continue;
        }
        let fed = sink.feed(message).await;
        backlog.release(bytes);
        if let Err(error) = fed {
            backlog.failed(&error);
            return;
        }
        if closing || writer.queue.is_empty() {
            if let Err(error) = sink.flush().await {
                backlog.failed(&error);
                return;
            }
        }
        if closing {
            return;
        }
    }
    // Every sender is gone: the connection is no longer wanted.
    let _ = sink.close().await;
}
