//! The read loop: frames in, responses to their waiters, pushes to their queue.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use futures_util::{Stream, StreamExt};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::{self, Message};

use super::super::error_grid::error_dis;
use super::pending::Shared;
use super::{ClientError, Push};
use crate::protocol::{BaseHeader, Flags};
use crate::{Decoder, ErrorScope, Limits, Message as WireMessage};

/// Reads frames until the connection ends, then fails whatever still waits.
pub(super) async fn read_loop<S>(
    mut stream: S,
    shared: Arc<Shared>,
    pushes: mpsc::Sender<Push>,
    limits: Limits,
) where
    S: Stream<Item = Result<Message, tungstenite::Error>> + Unpin,
{
    let mut decoder = Decoder::new().with_limits(limits);
    let reason = loop {
        match stream.next().await {
            Some(Ok(Message::Binary(frame))) => {
                if let Err(reason) = read_frame(&mut decoder, &frame, &shared, &pushes) {
                    break reason;
                }
            }
            Some(Ok(Message::Close(frame))) => break format!("the server closed the connection ({frame:?})"),
            // Text has no meaning after the handshake; pings are answered by the socket.
            Some(Ok(_)) => {}
            Some(Err(error)) => break error.to_string(),
            None => break "the connection ended".to_owned(),
        }
    };
    shared.close(reason);
}

/// Feeds one frame; an `Err` is the reason to drop the connection.
fn read_frame(
    decoder: &mut Decoder,
    frame: &[u8],
    shared: &Shared,
    pushes: &mpsc::Sender<Push>,
) -> Result<(), String> {
    match decoder.decode(frame) {
        Ok(Some(message)) => {
            deliver(message, shared, pushes);
            Ok(())
        }
        Ok(None) => Ok(()),
        Err(source) if source.scope() == ErrorScope::Message => {
            // The base header was readable: the request it answers fails, the connection goes on.
            let Some(base) = frame
                .first_chunk()
                .and_then(|header| BaseHeader::read(header).ok())
            else {
                return Ok(());
            };
            if let Some(waiter) = shared.take(base.request_id) {
                let request_id = base.request_id;
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

fn deliver(message: WireMessage<'_>, shared: &Shared, pushes: &mpsc::Sender<Push>) {
    if message.flags.contains(Flags::PUSH) {
        let push = Push {
            op: message.op,
            payload: message.payload.into_owned(),
        };
        if pushes.try_send(push).is_err() {
            shared.dropped_pushes.fetch_add(1, Ordering::Relaxed);
        }
        return;
    }
    if !message.flags.contains(Flags::RESPONSE) {
        shared.unmatched.fetch_add(1, Ordering::Relaxed);
        return;
    }
    let request_id = message.request_id;
    let Some(waiter) = shared.take(request_id) else {
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
