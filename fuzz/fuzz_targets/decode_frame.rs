//! Any bytes as one frame: the header decoder, the field view and a decoder
//! with small limits must never panic, and a header that decodes must encode
//! back to the same bytes.

#![no_main]

use haystack_wire::fields::header_fields;
use haystack_wire::protocol::{HeaderError, RawBaseHeader};
use haystack_wire::{Decoder, Error, Frame, Limits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for field in header_fields(data) {
        let _ = field.meaning();
    }
    match Frame::decode(data) {
        Ok(frame) => {
            let mut again = Vec::new();
            frame.encode_into(&mut again);
            assert_eq!(again, data, "a decoded frame encodes back to its bytes");
        }
        Err(Error::Header(HeaderError::UnknownOp {
            code,
            request_id,
            flags,
        })) => {
            // The error carries the base header as it is, for the answer.
            let raw = RawBaseHeader::decode(
                data.first_chunk()
                    .expect("an unknown op follows a whole base header"),
            );
            assert_eq!((raw.op, raw.request_id, raw.flags), (code, request_id, flags));
        }
        Err(_) => {}
    }
    let limits = Limits {
        max_frame_payload: 1 << 20,
        max_message: 1 << 20,
        max_pending_bytes: 2 << 20,
        ..Limits::DEFAULT
    };
    let mut decoder = Decoder::new().with_limits(limits);
    if let Ok(Some(message)) = decoder.decode(data) {
        assert!(message.payload.len() <= limits.max_message);
    }
});
