//! Response payloads, and the frames made of them: once per request, or once
//! for every request that shares the payload.
//!
//! A handler that answers many requests with the same bytes (a cached read,
//! say) returns clones of one [`Payload::shared`]. The first request in each
//! kind of session (its compression, its chunking, the response's op and
//! flags) compresses and frames the bytes; every later one gets the same
//! frames, `Bytes` clones, with its own request id written into their
//! headers. Compressing a long payload is CPU work of milliseconds, so it
//! runs on a blocking thread rather than on the runtime's workers, shared or
//! not.

use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use tokio::sync::OnceCell;

use super::super::handshake::Session;
use super::super::outbox::{encode_in, encoder_for};
use crate::error::Error;
use crate::protocol::{BaseHeader, Compression, Flags, Op};

/// Compressing at least this many bytes runs on a blocking thread, not on
/// the runtime's workers. zlib at level 1 takes about 50 µs for 64 KiB on
/// this crate's benchmark machine, the most a worker should be held for one
/// request; below it, a thread hand-off costs more than it saves.
const OFFLOAD_MIN: usize = 64 * 1024;

/// The kinds of session one shared payload keeps frames for, at most. There
/// are three compression settings (none, zlib, LZMA) times two of chunking,
/// for a response and an error response; a payload answered under more ops
/// than that is framed anew for the ones past it.
const MAX_KINDS: usize = 16;

/// What a handler answers with: the payload's bytes and, for a shared
/// payload, the frames already made of them.
///
/// Cloning is cheap (a reference count), and clones of a shared payload
/// share its frames.
#[derive(Debug, Clone)]
pub struct Payload {
    bytes: Bytes,
    frames: Option<Arc<FrameSets>>,
}

impl Payload {
    /// A payload framed for each request it answers.
    pub fn new(bytes: impl Into<Bytes>) -> Payload {
        Payload {
            bytes: bytes.into(),
            frames: None,
        }
    }

    /// A payload meant to answer many requests: it is compressed and framed
    /// once per kind of session, and the frames are sent to every request
    /// answered with this payload or a clone of it. The frames live as long
    /// as the payload and its clones do.
    pub fn shared(bytes: impl Into<Bytes>) -> Payload {
        Payload {
            bytes: bytes.into(),
            frames: Some(Arc::new(FrameSets::default())),
        }
    }

    /// The payload's bytes.
    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// The payload's length in bytes.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Whether the payload's frames are made once and shared
    /// ([`Payload::shared`]).
    pub fn is_shared(&self) -> bool {
        self.frames.is_some()
    }

    /// Whether framing this payload in `session` is done on the connection's
    /// own encoder, at once; otherwise [`frames`] makes the frames.
    pub(super) fn frames_inline(&self, session: Session) -> bool {
        self.frames.is_none() && !offloaded(session, self.bytes.len())
    }
}

impl From<Bytes> for Payload {
    fn from(bytes: Bytes) -> Payload {
        Payload::new(bytes)
    }
}

impl From<Vec<u8>> for Payload {
    fn from(bytes: Vec<u8>) -> Payload {
        Payload::new(bytes)
    }
}

impl From<String> for Payload {
    fn from(text: String) -> Payload {
        Payload::new(text)
    }
}

impl From<&'static [u8]> for Payload {
    fn from(bytes: &'static [u8]) -> Payload {
        Payload::new(bytes)
    }
}

impl From<&'static str> for Payload {
    fn from(text: &'static str) -> Payload {
        Payload::new(text)
    }
}

/// What a set of frames depends on besides the payload: the header without
/// its request id, and the session's compression and chunking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Kind {
    flags: Flags,
    op: Op,
    compression: Option<Compression>,
    chunked: bool,
}

/// The frames of one kind of session, made by the first request that needs
/// them while the others wait.
type FrameCell = Arc<OnceCell<Arc<[Bytes]>>>;

/// One shared payload's frames, per kind of session.
#[derive(Debug, Default)]
struct FrameSets {
    sets: Mutex<Vec<(Kind, FrameCell)>>,
}

impl FrameSets {
    /// The cell of `kind`'s frames (made empty when new); none when the
    /// payload already keeps frames for [`MAX_KINDS`] kinds.
    fn cell(&self, kind: Kind) -> Option<FrameCell> {
        let mut sets = self.sets.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((_, cell)) = sets.iter().find(|(known, _)| *known == kind) {
            return Some(Arc::clone(cell));
        }
        if sets.len() >= MAX_KINDS {
            return None;
        }
        let cell = Arc::new(OnceCell::new());
        sets.push((kind, Arc::clone(&cell)));
        Some(cell)
    }
}

/// Whether making `len` bytes' frames in `session` is long enough to leave
/// the runtime's workers for.
fn offloaded(session: Session, len: usize) -> bool {
    session.compression.is_some() && len >= OFFLOAD_MIN
}

/// The frames of `payload` under `base` in `session`: the shared ones with
/// `base`'s request id, or new ones; made on a blocking thread when long.
pub(super) async fn frames(
    payload: &Payload,
    base: BaseHeader,
    session: Session,
) -> Result<Vec<Bytes>, Error> {
    let Some(sets) = &payload.frames else {
        return make(payload.bytes.clone(), base, session).await;
    };
    let kind = Kind {
        flags: base.flags,
        op: base.op,
        compression: session.compression,
        chunked: session.chunked,
    };
    let Some(cell) = sets.cell(kind) else {
        return make(payload.bytes.clone(), base, session).await;
    };
    let shared = cell
        .get_or_try_init(|| async { make(payload.bytes.clone(), base, session).await.map(Arc::from) })
        .await?;
    Ok(shared
        .iter()
        .map(|frame| with_request_id(frame, base.request_id))
        .collect())
}

/// Frames `payload` with a new encoder: on a blocking thread when long.
async fn make(payload: Bytes, base: BaseHeader, session: Session) -> Result<Vec<Bytes>, Error> {
    if !offloaded(session, payload.len()) {
        return make_here(&payload, base, session);
    }
    let kept = payload.clone();
    match tokio::task::spawn_blocking(move || make_here(&payload, base, session)).await {
        Ok(frames) => frames,
        // The blocking pool did not run it to its end (the runtime is
        // shutting down): the frames are made here after all.
        Err(_) => make_here(&kept, base, session),
    }
}

/// Frames `payload` with a new encoder, on this thread.
fn make_here(payload: &[u8], base: BaseHeader, session: Session) -> Result<Vec<Bytes>, Error> {
    let frames = encode_in(&mut encoder_for(session), session, base, payload)?;
    Ok(frames.into_iter().map(Bytes::from).collect())
}

/// `frame` with its header's request id set to `request_id`: the same bytes
/// when it already has it, else a copy with the header written anew.
fn with_request_id(frame: &Bytes, request_id: u16) -> Bytes {
    let Some(header) = frame
        .get(..BaseHeader::LEN)
        .and_then(|head| <&[u8; BaseHeader::LEN]>::try_from(head).ok())
    else {
        return frame.clone();
    };
    let Ok(mut base) = BaseHeader::decode(header) else {
        return frame.clone();
    };
    if base.request_id == request_id {
        return frame.clone();
    }
    base.request_id = request_id;
    let mut copy = BytesMut::from(&frame[..]);
    copy[..BaseHeader::LEN].copy_from_slice(&base.encode());
    copy.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::Decoder;
    use crate::protocol::Version;

    fn session(compression: Option<Compression>, chunked: bool) -> Session {
        Session {
            version: Version::V2,
            compression,
            chunked,
        }
    }

    /// `len` bytes that compress, but not to nothing.
    fn grid_like(len: usize) -> Vec<u8> {
        (0..len)
            .map(|i| b"{\"_kind\":\"grid\",\"rows\":[]}"[i % 26] ^ (i / 4096) as u8)
            .collect()
    }

    /// The payload and request id the frames decode to.
    fn decoded(frames: &[Bytes]) -> (Vec<u8>, u16) {
        let mut decoder = Decoder::new();
        for frame in frames {
            if let Some(message) = decoder.decode(frame).expect("the frames decode") {
                return (message.payload.into_owned(), message.request_id);
            }
        }
        panic!("the frames end before the message does");
    }

    #[tokio::test]
    async fn a_shared_payload_is_framed_once_and_its_frames_are_reused_for_the_same_request_id() {
        let payload = Payload::shared(grid_like(200_000));
        let zlib = session(Some(Compression::Zlib), false);
        let first = frames(&payload, BaseHeader::response(7, Op::Read), zlib)
            .await
            .unwrap();
        let again = frames(&payload.clone(), BaseHeader::response(7, Op::Read), zlib)
            .await
            .unwrap();
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].as_ptr(), again[0].as_ptr(), "the same frame, not a copy");
        assert_eq!(decoded(&again), (grid_like(200_000), 7));
    }

    #[tokio::test]
    async fn a_shared_payload_answers_each_request_with_its_own_request_id_in_every_chunk() {
        let payload = Payload::shared(grid_like(1_000_000));
        let chunked = session(Some(Compression::Zlib), true);
        let first = frames(&payload, BaseHeader::response(1, Op::Read), chunked)
            .await
            .unwrap();
        let second = frames(&payload, BaseHeader::response(2, Op::Read), chunked)
            .await
            .unwrap();
        assert!(first.len() > 1, "the payload is chunked");
        assert_eq!(first.len(), second.len());
        for (one, two) in first.iter().zip(&second) {
            assert_eq!(
                one[BaseHeader::LEN..],
                two[BaseHeader::LEN..],
                "the same chunk after the header"
            );
            assert_ne!(one[..BaseHeader::LEN], two[..BaseHeader::LEN]);
        }
        assert_eq!(decoded(&first), (grid_like(1_000_000), 1));
        assert_eq!(decoded(&second), (grid_like(1_000_000), 2));
    }

    #[tokio::test]
    async fn a_shared_payload_keeps_frames_per_session_kind() {
        let payload = Payload::shared(grid_like(100_000));
        let plain = frames(&payload, BaseHeader::response(3, Op::Read), session(None, false))
            .await
            .unwrap();
        let lzma = frames(
            &payload,
            BaseHeader::response(3, Op::Read),
            session(Some(Compression::Lzma), false),
        )
        .await
        .unwrap();
        assert!(
            lzma[0].len() < plain[0].len(),
            "the LZMA session gets LZMA frames"
        );
        assert_eq!(decoded(&plain), (grid_like(100_000), 3));
        assert_eq!(decoded(&lzma), (grid_like(100_000), 3));
    }

    #[tokio::test]
    async fn a_long_compressed_payload_that_is_not_shared_is_framed_off_the_runtime_to_the_same_bytes() {
        let payload = Payload::new(grid_like(OFFLOAD_MIN * 4));
        let zlib = session(Some(Compression::Zlib), false);
        assert!(
            !payload.frames_inline(zlib),
            "long and compressed: made elsewhere"
        );
        assert!(
            payload.frames_inline(session(None, false)),
            "not compressed: made at once"
        );
        let made = frames(&payload, BaseHeader::response(9, Op::HisRead), zlib)
            .await
            .unwrap();
        let inline = encode_in(
            &mut encoder_for(zlib),
            zlib,
            BaseHeader::response(9, Op::HisRead),
            payload.bytes(),
        )
        .unwrap();
        assert_eq!(made.len(), 1);
        assert_eq!(made[0][..], inline[0][..]);
    }

    #[test]
    fn a_frame_too_short_for_a_header_is_left_as_it_is() {
        let short = Bytes::from_static(&[1, 2]);
        assert_eq!(with_request_id(&short, 5), short);
    }
}
