//! The read loop: frames and JSON text messages in, responses to their
//! waiters, pushes to their queue, and the keepalive that declares a
//! silent server dead.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use futures_util::{Stream, StreamExt};
use tokio::task::AbortHandle;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{self, Message};

use super::super::error_grid::{error_dis, json_error};
use super::super::outbox::Outbox;
use super::json::{self, Item};
use super::pending::{Ended, Form, Shared};
use super::pushes::PushQueue;
use super::{ClientError, Push};
use crate::decode::Decoder;
use crate::error::{Error, ErrorScope};
use crate::limits::Limits;
use crate::message::Message as WireMessage;
use crate::protocol::{BaseHeader, Flags, HeaderError, Op};

/// When to ping a quiet server, and how long it then has to answer.
#[derive(Debug, Clone, Copy)]
pub(super) struct Keepalive {
    pub(super) interval: Duration,
    pub(super) pong_timeout: Duration,
}

/// What the read loop needs besides the socket's read half.
#[derive(Debug)]
pub(super) struct Reader {
    pub(super) shared: Arc<Shared>,
    pub(super) pushes: PushQueue,
    pub(super) limits: Limits,
    pub(super) keepalive: Option<Keepalive>,
    /// Weak, so that the connection still closes when the last client goes.
    pub(super) outbox: Weak<Outbox>,
    /// The writing task, stopped when the server is declared dead so that
    /// the socket is dropped even if a write is stuck on it.
    pub(super) writer: AbortHandle,
}

/// Reads frames until the connection ends, then fails whatever still waits.
///
/// With keepalive on, a server silent for the ping interval is pinged, and
/// one still silent a pong timeout later is declared dead.
pub(super) async fn read_loop<S>(mut stream: S, reader: Reader)
where
    S: Stream<Item = Result<Message, tungstenite::Error>> + Unpin,
{
    let Reader {
        shared,
        pushes,
        limits,
        keepalive,
        outbox,
        writer,
    } = reader;
    let mut decoder = Decoder::new().with_limits(limits);
    let mut last_heard = Instant::now();
    let mut pinged: Option<Instant> = None;
    let ended = loop {
        let wake = keepalive.map(|keepalive| match pinged {
            None => last_heard + keepalive.interval,
            Some(at) => at + keepalive.pong_timeout,
        });
        let heard = tokio::select! {
            biased;
            heard = stream.next() => heard,
            () = quiet_until(wake) => {
                let now = Instant::now();
                if pinged.is_some() {
                    break Ended::Unresponsive(now.saturating_duration_since(last_heard));
                }
                pinged = Some(now);
                ping(&outbox);
                continue;
            }
        };
        last_heard = Instant::now();
        pinged = None;
        match heard {
            Some(Ok(Message::Binary(frame))) => {
                if let Err(reason) = read_frame(&mut decoder, &frame, &shared, &pushes) {
                    break Ended::Closed(reason);
                }
            }
            Some(Ok(Message::Text(text))) => read_text(&text, &shared, &pushes, &limits),
            Some(Ok(Message::Close(frame))) => {
                break Ended::Closed(format!(
                    "the server closed the connection{}",
                    describe_close(frame.as_ref())
                ))
            }
            // Pings are answered by the socket; pongs only count as heard.
            Some(Ok(_)) => {}
            Some(Err(error)) => break Ended::Closed(error.to_string()),
            None => break Ended::Closed("the connection ended".to_owned()),
        }
    };
    let unresponsive = matches!(ended, Ended::Unresponsive(_));
    // Requests learn why before the writer goes, so none of them sees a bare "closed".
    shared.close(ended);
    if unresponsive {
        writer.abort();
    }
}

/// A close frame in words: its code and reason, as the server gave them.
pub(super) fn describe_close(frame: Option<&CloseFrame>) -> String {
    match frame {
        Some(frame) if frame.reason.is_empty() => format!(" ({})", u16::from(frame.code)),
        Some(frame) => format!(" ({}: {})", u16::from(frame.code), frame.reason),
        None => String::new(),
    }
}

/// Resolves at `wake`, or never when there is none.
async fn quiet_until(wake: Option<Instant>) {
    match wake {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Queues a ping. Queueing never waits, so a writer stuck on a full socket
/// does not stop the reading, which is what finds the server dead.
fn ping(outbox: &Weak<Outbox>) {
    // No outbox: every client is gone and the connection is closing anyway.
    if let Some(outbox) = outbox.upgrade() {
        let _ = outbox.send_ping();
    }
}

/// Feeds one frame; an `Err` is the reason to drop the connection.
fn read_frame(
    decoder: &mut Decoder,
    frame: &[u8],
    shared: &Shared,
    pushes: &PushQueue,
) -> Result<(), String> {
    match decoder.decode(frame) {
        Ok(Some(message)) => {
            deliver(message, shared, pushes);
            Ok(())
        }
        Ok(None) => Ok(()),
        Err(source) if source.scope() == ErrorScope::Message => {
            // The base header was readable: the request it answers fails, the connection goes on.
            // A push under an op this client does not know (a newer server's) is dropped.
            let request_id = match &source {
                Error::Header(HeaderError::UnknownOp {
                    request_id, flags, ..
                }) => flags.contains(Flags::RESPONSE).then_some(*request_id),
                _ => frame
                    .first_chunk()
                    .and_then(|header| BaseHeader::decode(header).ok())
                    .map(|base| base.request_id),
            };
            let Some(request_id) = request_id else {
                return Ok(());
            };
            if let Some(waiter) = shared.take(request_id, Form::Binary) {
                let _ = waiter.reply.send(Err(ClientError::Frame {
                    op: waiter.op,
                    request_id,
                    source,
                }));
            }
            Ok(())
        }
        Err(error) => Err(format!("the server sent a frame that cannot be read: {error}")),
    }
}

fn deliver(message: WireMessage<'_>, shared: &Shared, pushes: &PushQueue) {
    if message.flags.contains(Flags::PUSH) {
        let push = Push {
            op: message.op,
            payload: message.payload.into_owned(),
            watch_id: None,
        };
        if pushes.offer(push).is_err() {
            shared.dropped_pushes.fetch_add(1, Ordering::Relaxed);
        }
        return;
    }
    if !message.flags.contains(Flags::RESPONSE) {
        shared.unmatched.fetch_add(1, Ordering::Relaxed);
        return;
    }
    let request_id = message.request_id;
    let Some(waiter) = shared.take(request_id, Form::Binary) else {
        shared.unmatched.fetch_add(1, Ordering::Relaxed);
        return;
    };
    let payload = message.payload.into_owned();
    let outcome = if message.op != waiter.op {
        Err(ClientError::OpMismatch {
            op: waiter.op,
            request_id,
            answered: message.op,
        })
    } else if message.flags.contains(Flags::ERROR) {
        Err(ClientError::Remote {
            op: waiter.op,
            request_id,
            dis: error_dis(&payload).unwrap_or_else(|| "(the error grid has no dis)".to_owned()),
            payload,
        })
    } else {
        Ok(payload)
    };
    let _ = waiter.reply.send(outcome);
}

/// Reads one text message: a response envelope, a batch answer (an array of
/// them) or a JSON watch push. Anything else, and a text longer than
/// [`Limits::max_message`], is counted as unmatched and ignored; the
/// connection goes on.
fn read_text(text: &str, shared: &Shared, pushes: &PushQueue, limits: &Limits) {
    let unmatched = || {
        shared.unmatched.fetch_add(1, Ordering::Relaxed);
    };
    if text.len() > limits.max_message {
        unmatched();
        return;
    }
    let whole = json::read_text(text, &mut |item| match item {
        Item::Response { id, grid } => {
            let Some(waiter) = shared.take(id, Form::Json) else {
                unmatched();
                return;
            };
            let outcome = match grid {
                None => Err(ClientError::NoGrid {
                    op: waiter.op,
                    request_id: id,
                }),
                Some(grid) => {
                    let payload = grid.get().as_bytes().to_vec();
                    match json_error(grid.get()) {
                        Some(dis) => Err(ClientError::Remote {
                            op: waiter.op,
                            request_id: id,
                            dis: dis.unwrap_or_else(|| "(the error grid has no dis)".to_owned()),
                            payload,
                        }),
                        None => Ok(payload),
                    }
                }
            };
            let _ = waiter.reply.send(outcome);
        }
        Item::Push { watch_id, grid } => {
            let push = Push {
                op: Op::WatchPoll,
                payload: grid.get().as_bytes().to_vec(),
                watch_id: Some(watch_id),
            };
            if pushes.offer(push).is_err() {
                shared.dropped_pushes.fetch_add(1, Ordering::Relaxed);
            }
        }
        Item::Ignored => unmatched(),
    });
    if !whole {
        unmatched();
    }
}
