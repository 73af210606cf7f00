//! The small-frame path allocates nothing: reading a header, reading a frame,
//! decoding a plain frame into a message and encoding into a reused buffer.

// Only the counters are used here, not the reassembly helpers.
#[allow(dead_code)]
#[path = "support/memory.rs"]
mod memory;

use haystack_wire::{BaseHeader, Decoder, Encoder, Frame, FrameHeader, Op};

#[global_allocator]
static ALLOCATOR: memory::Counting = memory::Counting;

// One test in this binary: the harness runs tests on parallel threads, and
// the counters are global.
#[test]
fn headers_and_plain_frames_are_read_and_written_without_allocating() {
    let payload = vec![b'x'; 162];
    let mut encoder = Encoder::new();
    let mut decoder = Decoder::new();
    let mut out = Vec::with_capacity(256);
    let frame = encoder.response(7, Op::Read, &payload, false).unwrap();

    let before = memory::reset_peak();
    let header = BaseHeader::decode(frame[..BaseHeader::LEN].try_into().unwrap()).unwrap();
    let (full_header, _) = FrameHeader::decode(&frame).unwrap();
    let read = Frame::decode(&frame).unwrap();
    let message = decoder.decode(&frame).unwrap().unwrap();
    out.clear();
    encoder.encode_into(header, &payload, &mut out).unwrap();
    let allocated = memory::peak() - before;

    assert_eq!((header.request_id, header.op), (7, Op::Read));
    assert_eq!(full_header.base, header);
    assert_eq!(read.payload, &payload[..]);
    assert_eq!(&message.payload[..], &payload[..]);
    assert_eq!(out, frame);
    assert_eq!(allocated, 0, "the small-frame path allocated {allocated} bytes");
}
