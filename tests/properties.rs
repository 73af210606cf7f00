//! Properties over random inputs: whatever is encoded decodes back to itself,
//! and no input makes the decoder panic.

use haystack_wire::{BaseHeader, Compression, Decoder, Encoder, Flags, Frame, Message, Op};
use proptest::prelude::*;

fn op() -> impl Strategy<Value = Op> {
    proptest::sample::select(Op::ALL.to_vec())
}

fn algorithm() -> impl Strategy<Value = Option<Compression>> {
    proptest::option::of(proptest::sample::select(Compression::ALL.to_vec()))
}

/// Any combination of the flags that say what a message is.
fn message_flags() -> impl Strategy<Value = Flags> {
    let kinds = Flags::RESPONSE | Flags::ERROR | Flags::PUSH;
    (0..=kinds.bits()).prop_map(move |bits| Flags::from_bits(bits & kinds.bits()))
}

proptest! {
    #[test]
    fn single_frames_round_trip(
        payload in proptest::collection::vec(any::<u8>(), 0..3000),
        op in op(),
        request_id in any::<u16>(),
        flags in message_flags(),
        algorithm in algorithm(),
        threshold in 0usize..2048,
    ) {
        let base = BaseHeader { flags, request_id, op };
        let frame = Encoder::new().with_compression(algorithm).with_threshold(threshold).encode(base, &payload).unwrap();
        let expect_compressed = algorithm.is_some() && payload.len() >= threshold;
        prop_assert_eq!(Frame::decode(&frame).unwrap().compression().is_some(), expect_compressed);
        let message = Decoder::new().decode(&frame).unwrap().unwrap();
        prop_assert_eq!((message.flags, message.request_id, message.op), (flags, request_id, op));
        prop_assert_eq!(&message.payload[..], &payload[..]);
    }

    #[test]
    fn chunked_sequences_round_trip_in_any_order(
        payload in proptest::collection::vec(any::<u8>(), 0..3000),
        op in op(),
        request_id in any::<u16>(),
        flags in message_flags(),
        algorithm in algorithm(),
        chunk_size in 1usize..700,
        order_seed in any::<u64>(),
    ) {
        let base = BaseHeader { flags, request_id, op };
        let mut frames = Encoder::new()
            .with_compression(algorithm)
            .with_chunk_size(chunk_size)
            .encode_chunked(base, &payload)
            .unwrap();
        prop_assert_eq!(frames.len(), payload.len().div_ceil(chunk_size).max(1));
        // A deterministic shuffle from the seed.
        let mut state = order_seed | 1;
        for i in (1..frames.len()).rev() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            frames.swap(i, (state % (i as u64 + 1)) as usize);
        }
        // Tiny chunk sizes make more chunks than the default limit allows; the
        // limit has tests of its own, this property is about the round trip.
        let mut decoder = Decoder::new().with_limits(haystack_wire::Limits {
            max_chunks: usize::from(u16::MAX),
            ..haystack_wire::Limits::DEFAULT
        });
        let messages: Vec<Message<'static>> = frames
            .iter()
            .filter_map(|f| decoder.decode(f).unwrap().map(Message::into_owned))
            .collect();
        prop_assert_eq!(messages.len(), 1);
        prop_assert_eq!((messages[0].flags, messages[0].request_id, messages[0].op), (flags, request_id, op));
        prop_assert_eq!(&messages[0].payload[..], &payload[..]);
        prop_assert_eq!(decoder.pending_count(), 0);
    }

    #[test]
    fn the_decoder_never_panics_on_random_frames(
        frames in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..32),
    ) {
        let mut decoder = Decoder::new();
        for frame in &frames {
            let _ = decoder.decode(frame);
        }
    }
}

/// One chunk a hostile peer might send: small ids and totals so that
/// sequences collide, complete, conflict and overflow.
fn hostile_chunk() -> impl Strategy<Value = (u16, usize, u16, u16, bool, usize)> {
    (0u16..6, 0usize..2, 0u16..6, 0u16..6, any::<bool>(), 0usize..400)
}

proptest! {
    #[test]
    fn the_assembler_never_holds_more_than_its_budgets(
        chunks in proptest::collection::vec(hostile_chunk(), 0..200),
    ) {
        let limits = haystack_wire::Limits {
            max_message: 900,
            max_chunks: 4,
            max_pending: 3,
            max_pending_bytes: 1000,
            ..haystack_wire::Limits::DEFAULT
        };
        let mut decoder = Decoder::new().with_limits(limits);
        for (request_id, op, index, total, error_flag, len) in chunks {
            let flags = if error_flag { Flags::RESPONSE | Flags::ERROR } else { Flags::RESPONSE };
            let header = haystack_wire::FrameHeader {
                chunk: Some(haystack_wire::protocol::ChunkHeader { index, total }),
                ..haystack_wire::FrameHeader::new(BaseHeader { flags, request_id, op: Op::ALL[op] })
            };
            let mut frame = Vec::new();
            header.encode_into(&mut frame);
            frame.resize(frame.len() + len, b'x');
            if let Ok(Some(message)) = decoder.decode(&frame) {
                prop_assert!(message.payload.len() <= limits.max_message);
            }
            prop_assert!(decoder.assembler().pending_bytes() <= limits.max_pending_bytes);
            prop_assert!(decoder.pending_count() <= limits.max_pending);
        }
    }
}
