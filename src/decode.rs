//! Receiving frames: header, decompression and reassembly, under limits.

use std::borrow::Cow;

use crate::assembler::ChunkAssembler;
use crate::clock::{Clock, SystemClock};
use crate::compression::Decompressor;
use crate::error::Error;
use crate::frame::Frame;
use crate::limits::Limits;
use crate::message::{message_flags, Message};
use crate::protocol::Compression;

/// Turns the frames of one connection into messages.
///
/// A frame that is not chunked is a message on its own; a chunked frame joins
/// its sequence, and the message comes out with the sequence's last chunk. A
/// frame that needs no decompression and no reassembly is handed back borrowed.
///
/// Whatever the peer sends, the decoder holds no more than its [`Limits`]
/// allow; on a refusal, only the offending frame's sequence is dropped.
///
/// ```
/// use haystack_wire::{Decoder, Encoder, Op};
///
/// let frame = Encoder::new().request(7, Op::About, b"{}")?;
/// let message = Decoder::new().decode(&frame)?.expect("a single frame is a whole message");
/// assert_eq!((message.request_id, message.op, &message.payload[..]), (7, Op::About, &b"{}"[..]));
/// # Ok::<(), haystack_wire::Error>(())
/// ```
#[derive(Debug)]
pub struct Decoder<C: Clock = SystemClock> {
    decompressor: Decompressor,
    assembler: ChunkAssembler<C>,
    limits: Limits,
}

impl Decoder<SystemClock> {
    /// A decoder with the default limits, on the system clock.
    pub fn new() -> Self {
        Decoder::with_clock(SystemClock)
    }
}

impl Default for Decoder<SystemClock> {
    fn default() -> Self {
        Decoder::new()
    }
}

impl<C: Clock> Decoder<C> {
    /// A decoder with the default limits whose reassembly expiry follows `clock`.
    pub fn with_clock(clock: C) -> Self {
        Decoder {
            decompressor: Decompressor::new(),
            assembler: ChunkAssembler::with_clock(clock),
            limits: Limits::DEFAULT,
        }
    }

    /// Enforces `limits` instead of the defaults.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.assembler = self.assembler.with_limits(limits);
        self.limits = limits;
        self
    }

    /// Drops incomplete sequences older than `ttl` (default: the spec's reassembly TTL).
    pub fn with_ttl(mut self, ttl: std::time::Duration) -> Self {
        self.assembler = self.assembler.with_ttl(ttl);
        self
    }

    /// The limits in force.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// The reassembly state.
    pub fn assembler(&self) -> &ChunkAssembler<C> {
        &self.assembler
    }

    /// How many chunked sequences are incomplete.
    pub fn pending_count(&self) -> usize {
        self.assembler.pending_count()
    }

    /// How many payload bytes the incomplete sequences hold.
    pub fn pending_bytes(&self) -> usize {
        self.assembler.pending_bytes()
    }

    /// Drops the incomplete sequences older than the TTL and returns how many
    /// there were. Decoding sweeps as chunks arrive; a connection that wants
    /// expired sequences gone when nothing arrives calls this on a timer.
    pub fn sweep_expired(&mut self) -> usize {
        self.assembler.sweep_expired()
    }

    /// Replaces the limits in force; incomplete sequences are kept and meet
    /// the new limits with their next chunk.
    pub fn set_limits(&mut self, limits: Limits) {
        self.assembler.set_limits(limits);
        self.limits = limits;
    }

    /// Feeds one frame. Returns the message it completes, if any. On error the
    /// frame, and the sequence it belongs to, are dropped; other sequences are kept.
    pub fn decode<'a>(&mut self, bytes: &'a [u8]) -> Result<Option<Message<'a>>, Error> {
        self.decode_frame(bytes, None)
    }

    /// As [`Decoder::decode`], but a compressed frame that is not a chunk is
    /// decompressed into `buffer`, emptied first, and the message borrows it.
    /// A connection that keeps one buffer reuses its room from frame to frame
    /// instead of allocating for each compressed message. (Chunks are
    /// decompressed into buffers of their own: their sequence keeps them.)
    pub fn decode_with<'a>(
        &mut self,
        bytes: &'a [u8],
        buffer: &'a mut Vec<u8>,
    ) -> Result<Option<Message<'a>>, Error> {
        self.decode_frame(bytes, Some(buffer))
    }

    // Inlined so that `decode`, which passes no buffer, keeps its own code.
    #[inline(always)]
    fn decode_frame<'a>(
        &mut self,
        bytes: &'a [u8],
        buffer: Option<&'a mut Vec<u8>>,
    ) -> Result<Option<Message<'a>>, Error> {
        if bytes.len() > self.limits.max_frame {
            return Err(Error::FrameTooLarge {
                len: bytes.len(),
                limit: self.limits.max_frame,
            });
        }
        let frame = Frame::decode(bytes)?;
        if frame.chunk().is_none() {
            let limit = self.limits.max_frame_payload.min(self.limits.max_message);
            if frame.compression().is_none() && frame.payload.len() > self.limits.max_message {
                return Err(Error::MessageTooLarge {
                    request_id: frame.request_id(),
                    op: frame.op(),
                    limit: self.limits.max_message,
                });
            }
            let payload = match (frame.compression(), buffer) {
                (Some(algorithm), Some(buffer)) => {
                    buffer.clear();
                    self.decompressor
                        .decompress(algorithm, frame.payload, limit, buffer)?;
                    Cow::Borrowed(buffer.as_slice())
                }
                _ => self.payload(&frame, limit)?,
            };
            return Ok(Some(Message {
                flags: message_flags(frame.flags()),
                request_id: frame.request_id(),
                op: frame.op(),
                payload,
            }));
        }
        let room = self.assembler.admit(&frame.header)?;
        let limit = self.limits.max_frame_payload.min(room);
        let payload = match self.payload(&frame, limit) {
            Ok(payload) => payload,
            // The chunk did not fit its sequence's room, which was tighter than the frame limit.
            Err(Error::DecompressedTooLarge { .. }) if room < self.limits.max_frame_payload => {
                return Err(self.assembler.refuse_oversized(&frame.header));
            }
            Err(error) => {
                self.assembler.discard(frame.request_id(), frame.op());
                return Err(error);
            }
        };
        self.assembler.store(&frame.header, room, payload)
    }

    /// The frame's payload, decompressed if it is compressed, at most `limit` bytes.
    // Inlined so that a plain frame's borrowed payload stays in registers
    // instead of making a round trip through a returned `Result` in memory.
    #[inline(always)]
    fn payload<'a>(&mut self, frame: &Frame<'a>, limit: usize) -> Result<Cow<'a, [u8]>, Error> {
        match frame.compression() {
            None => Ok(Cow::Borrowed(frame.payload)),
            Some(algorithm) => self.decompress(algorithm, frame.payload, limit).map(Cow::Owned),
        }
    }

    /// `payload` decompressed with `algorithm`, at most `limit` bytes.
    fn decompress(&mut self, algorithm: Compression, payload: &[u8], limit: usize) -> Result<Vec<u8>, Error> {
        let mut out = Vec::new();
        self.decompressor
            .decompress(algorithm, payload, limit, &mut out)?;
        Ok(out)
    }
}
