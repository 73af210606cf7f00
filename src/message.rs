//! A complete message, as a decoder hands it back.

use std::borrow::Cow;

use crate::protocol::{Flags, HeaderSection, Op};

/// A complete message: a single frame's payload, or a reassembled sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message<'a> {
    /// The message's flags: the frame's flags without those that announce
    /// header sections (compressed, chunked), which describe frames, not messages.
    pub flags: Flags,
    /// The request id.
    pub request_id: u16,
    /// The op.
    pub op: Op,
    /// The payload, decompressed; borrowed from the frame when it needed no work.
    pub payload: Cow<'a, [u8]>,
}

impl Message<'_> {
    /// The message with its payload owned.
    pub fn into_owned(self) -> Message<'static> {
        Message {
            flags: self.flags,
            request_id: self.request_id,
            op: self.op,
            payload: Cow::Owned(self.payload.into_owned()),
        }
    }
}

/// `flags` without the bits that announce header sections.
#[inline]
pub(crate) fn message_flags(flags: Flags) -> Flags {
    HeaderSection::ALL
        .iter()
        .filter_map(|section| section.present_when())
        .fold(flags, Flags::difference)
}
