//! One frame on the wire: its header, and its payload borrowed from the input.

use crate::error::Error;
use crate::protocol::{defaults, BaseHeader, ChunkHeader, Compression, Flags, FrameHeader, Op};

/// What a frame is, as its response, error and push flags say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FrameKind {
    /// A client's request: none of the three flags.
    Request,
    /// A server's answer to a request: `response`.
    Response,
    /// A server's answer carrying an error grid: `response` and `error`.
    ErrorResponse,
    /// A message the server sends unasked: `push`.
    Push,
}

impl FrameKind {
    /// Every kind.
    pub const ALL: [FrameKind; 4] = [
        FrameKind::Request,
        FrameKind::Response,
        FrameKind::ErrorResponse,
        FrameKind::Push,
    ];

    /// The flags a frame of this kind carries.
    pub const fn flags(self) -> Flags {
        match self {
            FrameKind::Request => Flags::EMPTY,
            FrameKind::Response => Flags::RESPONSE,
            FrameKind::ErrorResponse => Flags::RESPONSE.union(Flags::ERROR),
            FrameKind::Push => Flags::PUSH,
        }
    }
}

impl BaseHeader {
    /// The header of a request.
    pub const fn request(request_id: u16, op: Op) -> BaseHeader {
        BaseHeader {
            flags: FrameKind::Request.flags(),
            request_id,
            op,
        }
    }

    /// The header of a response to request `request_id`.
    pub const fn response(request_id: u16, op: Op) -> BaseHeader {
        BaseHeader {
            flags: FrameKind::Response.flags(),
            request_id,
            op,
        }
    }

    /// The header of an error response to request `request_id`.
    pub const fn error_response(request_id: u16, op: Op) -> BaseHeader {
        BaseHeader {
            flags: FrameKind::ErrorResponse.flags(),
            request_id,
            op,
        }
    }

    /// The header of a push, which carries the push request id.
    pub const fn push(op: Op) -> BaseHeader {
        BaseHeader {
            flags: FrameKind::Push.flags(),
            request_id: defaults::PUSH_REQUEST_ID,
            op,
        }
    }
}

/// A decoded frame: the header, and the payload as it is on the wire
/// (compressed when the header says so), borrowed from the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    /// The frame's header.
    pub header: FrameHeader,
    /// The bytes after the header.
    pub payload: &'a [u8],
}

impl<'a> Frame<'a> {
    /// Reads a frame; copies nothing.
    #[inline]
    pub fn decode(bytes: &'a [u8]) -> Result<Frame<'a>, Error> {
        let (header, payload) = FrameHeader::decode(bytes)?;
        Ok(Frame { header, payload })
    }

    /// The flags as received.
    pub const fn flags(&self) -> Flags {
        self.header.base.flags
    }

    /// The request id.
    pub const fn request_id(&self) -> u16 {
        self.header.base.request_id
    }

    /// The op.
    pub const fn op(&self) -> Op {
        self.header.base.op
    }

    /// The algorithm the payload is compressed with, if it is.
    pub fn compression(&self) -> Option<Compression> {
        self.header.algorithm.map(|a| a.algorithm)
    }

    /// The chunk header, if the frame is one chunk of a sequence.
    pub const fn chunk(&self) -> Option<ChunkHeader> {
        self.header.chunk
    }

    /// Appends the frame's bytes to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.reserve(self.header.encoded_len() + self.payload.len());
        self.header.encode_into(out);
        out.extend_from_slice(self.payload);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_carry_the_flags_of_the_reference() {
        // request 0, response 0x01, error 0x03, push 0x04
        let bits: Vec<u8> = FrameKind::ALL.iter().map(|k| k.flags().bits()).collect();
        assert_eq!(bits, [0x00, 0x01, 0x03, 0x04]);
        assert_eq!(BaseHeader::push(Op::WatchPoll).request_id, 0);
    }
}
