//! The behaviour the reference's `tests/test_ws_codec.py` checks, ported by
//! intent to this crate's API (its WebSocket integration tests belong to the
//! connection layer). Byte-level agreement with the reference is shown by
//! `conformance.rs`; these tests pin behaviour.

use std::time::Duration;

use haystack_wire::protocol::{defaults, HeaderError, HeaderSection, RawBaseHeader, UnknownOpName};
use haystack_wire::{
    unknown_op_response, unknown_op_response_into, BaseHeader, ChunkAssembler, ChunkStore, Compression,
    Decoder, Encoder, Error, ErrorScope, Flags, Frame, FrameHeader, FrameKind, ManualClock, Message, Op,
};

/// A Haystack 4 JSON grid of `rows` point records, like the reference's `_large_grid`.
fn grid_json(rows: usize) -> Vec<u8> {
    let rows: Vec<String> = (0..rows)
        .map(|i| {
            format!(
                r#"{{"id":{{"_kind":"ref","val":"p{i}"}},"dis":"Point {i} temperature sensor","val":{}}}"#,
                68.5 + i as f64
            )
        })
        .collect();
    format!(
        r#"{{"_kind":"grid","meta":{{"ver":"3.0"}},"cols":[{{"name":"id"}},{{"name":"dis"}},{{"name":"val"}}],"rows":[{}]}}"#,
        rows.join(",")
    )
    .into_bytes()
}

/// Decodes one frame that must be a whole message.
fn decode_one(frame: &[u8]) -> Message<'static> {
    Decoder::new()
        .decode(frame)
        .expect("the frame decodes")
        .expect("a single frame is a whole message")
        .into_owned()
}

/// Feeds `frames` through one decoder and returns the messages that complete.
fn decode_all<'a>(
    decoder: &mut Decoder<impl haystack_wire::Clock>,
    frames: impl IntoIterator<Item = &'a Vec<u8>>,
) -> Vec<Message<'static>> {
    frames
        .into_iter()
        .filter_map(|f| {
            decoder
                .decode(f)
                .expect("the frame decodes")
                .map(Message::into_owned)
        })
        .collect()
}

fn flags_of(frame: &[u8]) -> Flags {
    Frame::decode(frame).expect("the frame decodes").flags()
}

/// A code that no op has.
fn unknown_op_code() -> u8 {
    (0..=u8::MAX)
        .find(|&c| Op::from_code(c).is_none())
        .expect("some byte is no op code")
}

// --- op codes ---------------------------------------------------------------

#[test]
fn all_ops_of_the_reference_have_codes() {
    let reference = [
        "about",
        "ops",
        "formats",
        "close",
        "read",
        "nav",
        "hisRead",
        "hisWrite",
        "pointWrite",
        "watchSub",
        "watchUnsub",
        "watchPoll",
        "invokeAction",
    ];
    let ours: Vec<&str> = Op::ALL.iter().map(|op| op.name()).collect();
    assert_eq!(ours, reference);
}

#[test]
fn codes_and_names_map_back_to_their_op() {
    for op in Op::ALL {
        assert_eq!(Op::from_code(op.code()), Some(op));
        assert_eq!(Op::try_from(op.code()), Ok(op));
        assert_eq!(op.name().parse::<Op>(), Ok(op));
        assert_eq!(op.to_string(), op.name());
    }
    let mut codes: Vec<u8> = Op::ALL.iter().map(|op| op.code()).collect();
    codes.sort_unstable();
    codes.dedup();
    assert_eq!(codes.len(), Op::ALL.len(), "op codes are unique");
}

// --- round trips -----------------------------------------------------------

#[test]
fn request_round_trip() {
    let payload = grid_json(3);
    let frame = Encoder::new().request(42, Op::Read, &payload).unwrap();
    let message = decode_one(&frame);
    assert_eq!(message.flags, Flags::EMPTY);
    assert_eq!((message.request_id, message.op), (42, Op::Read));
    assert_eq!(message.payload, payload);
}

#[test]
fn response_round_trip() {
    let payload = grid_json(3);
    let frame = Encoder::new().response(7, Op::About, &payload, false).unwrap();
    let message = decode_one(&frame);
    assert_eq!(message.flags, Flags::RESPONSE);
    assert_eq!((message.request_id, message.op), (7, Op::About));
    assert_eq!(message.payload, payload);
}

#[test]
fn error_response_carries_response_and_error() {
    let frame = Encoder::new().response(3, Op::Read, &grid_json(1), true).unwrap();
    assert_eq!(decode_one(&frame).flags, Flags::RESPONSE | Flags::ERROR);
}

#[test]
fn push_round_trip_uses_the_push_request_id() {
    let payload = grid_json(2);
    let frame = Encoder::new().push(Op::WatchPoll, &payload).unwrap();
    let message = decode_one(&frame);
    assert_eq!(message.flags, Flags::PUSH);
    assert_eq!(message.request_id, defaults::PUSH_REQUEST_ID);
    assert_eq!(message.op, Op::WatchPoll);
    assert_eq!(message.payload, payload);
}

#[test]
fn a_plain_frame_is_decoded_without_copying_its_payload() {
    let frame = Encoder::new().request(1, Op::Nav, b"{}").unwrap();
    let message = Decoder::new().decode(&frame).unwrap().unwrap();
    assert!(matches!(message.payload, std::borrow::Cow::Borrowed(_)));
    assert_eq!(
        Frame::decode(&frame).unwrap().payload.as_ptr(),
        frame[BaseHeader::LEN..].as_ptr()
    );
}

// --- errors ----------------------------------------------------------------

#[test]
fn frames_shorter_than_the_base_header_are_rejected() {
    for len in 0..BaseHeader::LEN {
        let frame = vec![0u8; len];
        assert_eq!(
            Frame::decode(&frame),
            Err(Error::Header(HeaderError::Truncated {
                section: HeaderSection::Base,
                needed: BaseHeader::LEN,
                actual: len,
            }))
        );
    }
}

#[test]
fn an_unknown_op_code_is_reported_with_the_code_the_request_id_and_the_flags() {
    let code = unknown_op_code();
    let mut frame = Encoder::new().request(1, Op::Read, b"{}").unwrap();
    frame[BaseHeader::OP_OFFSET] = code;
    assert_eq!(
        Decoder::new().decode(&frame),
        Err(Error::Header(HeaderError::UnknownOp {
            code,
            request_id: 1,
            flags: Flags::EMPTY
        }))
    );
}

/// Op 200, which no version has used yet.
const NEWER_OP: u8 = 200;

/// A frame with op byte [`NEWER_OP`], these flags and this id, then `payload`.
fn newer_op_frame(flags: Flags, request_id: u16, payload: &[u8]) -> Vec<u8> {
    assert_eq!(Op::from_code(NEWER_OP), None, "op {NEWER_OP} is unknown");
    let mut frame = RawBaseHeader {
        flags,
        request_id,
        op: NEWER_OP,
    }
    .encode()
    .to_vec();
    frame.extend_from_slice(payload);
    frame
}

#[test]
fn a_request_with_op_200_decodes_to_an_answerable_error_with_its_id_flags_and_code() {
    let frame = newer_op_frame(Flags::EMPTY, 42, br#"{"_kind":"grid"}"#);
    let error = Decoder::new().decode(&frame).unwrap_err();
    let expected = HeaderError::UnknownOp {
        code: NEWER_OP,
        request_id: 42,
        flags: Flags::EMPTY,
    };
    assert_eq!(error, Error::Header(expected));
    assert!(expected.answerable());
    assert!(expected.keeps_connection());
    assert_eq!(error.scope(), ErrorScope::Message);
}

#[test]
fn a_compressed_or_chunked_request_with_op_200_is_answerable_too() {
    for flags in [
        Flags::COMPRESSED,
        Flags::CHUNKED,
        Flags::COMPRESSED | Flags::CHUNKED,
    ] {
        // The sections the flags announce are never read: the base header is enough.
        let frame = newer_op_frame(flags, 9, &[0xff; 8]);
        let error = Decoder::new().decode(&frame).unwrap_err();
        let Error::Header(header) = error else {
            panic!("{flags}: {error}")
        };
        assert_eq!(
            header,
            HeaderError::UnknownOp {
                code: NEWER_OP,
                request_id: 9,
                flags
            }
        );
        assert!(header.answerable(), "{flags}");
    }
}

#[test]
fn a_response_or_a_push_with_op_200_is_not_answerable_and_only_its_frame_goes() {
    let kinds = [
        FrameKind::Response.flags(),
        FrameKind::ErrorResponse.flags(),
        FrameKind::Push.flags(),
        FrameKind::Response.flags() | Flags::CHUNKED,
    ];
    for flags in kinds {
        let error = Decoder::new()
            .decode(&newer_op_frame(flags, 3, b"{}"))
            .unwrap_err();
        let Error::Header(header) = error else {
            panic!("{flags}: {error}")
        };
        assert_eq!(
            header,
            HeaderError::UnknownOp {
                code: NEWER_OP,
                request_id: 3,
                flags
            }
        );
        assert!(!header.answerable(), "{flags}");
        assert!(header.keeps_connection(), "{flags}");
        assert_eq!(error.scope(), ErrorScope::Message, "{flags}");
    }
}

#[test]
fn unused_flag_bits_are_refused_before_the_op_code_is_looked_at() {
    let error = Decoder::new()
        .decode(&newer_op_frame(Flags::from_bits(0x80), 3, b"{}"))
        .unwrap_err();
    assert_eq!(error, Error::Header(HeaderError::UnusedFlagBits { flags: 0x80 }));
    assert_eq!(error.scope(), ErrorScope::Connection);
}

#[test]
fn the_answer_to_an_unknown_op_is_an_error_response_echoing_the_id_the_op_byte_and_the_payload() {
    let payload = br#"{"_kind":"grid","meta":{"ver":"3.0","err":{"_kind":"marker"}},"cols":[],"rows":[]}"#;
    let answer = unknown_op_response(42, NEWER_OP, payload);
    assert_eq!(answer.len(), RawBaseHeader::LEN + payload.len());
    let (header, rest) = answer.split_first_chunk().expect("a whole base header");
    assert_eq!(
        RawBaseHeader::decode(header),
        RawBaseHeader {
            flags: Flags::RESPONSE | Flags::ERROR,
            request_id: 42,
            op: NEWER_OP,
        }
    );
    assert_eq!(rest, payload);
    // The peer that sent op 200 reads the answer; this decoder knows no op 200,
    // reads the rest of the base header and, the frame being a response, does not answer it.
    let error = Decoder::new().decode(&answer).unwrap_err();
    assert_eq!(
        error,
        Error::Header(HeaderError::UnknownOp {
            code: NEWER_OP,
            request_id: 42,
            flags: Flags::RESPONSE | Flags::ERROR
        })
    );
    let Error::Header(header) = error else {
        unreachable!()
    };
    assert!(!header.answerable());

    let mut out = b"before".to_vec();
    unknown_op_response_into(42, NEWER_OP, payload, &mut out);
    assert_eq!(&out[..6], b"before");
    assert_eq!(&out[6..], &answer[..]);
}

#[test]
fn the_answer_with_a_known_op_byte_is_an_ordinary_error_response() {
    let answer = unknown_op_response(5, Op::Read.code(), b"{}");
    let message = decode_one(&answer);
    assert_eq!(message.flags, FrameKind::ErrorResponse.flags());
    assert_eq!((message.request_id, message.op), (5, Op::Read));
    assert_eq!(&message.payload[..], b"{}");
    assert_eq!(answer, Encoder::new().response(5, Op::Read, b"{}", true).unwrap());
}

#[test]
fn the_raw_base_header_writes_the_bytes_of_the_base_header() {
    for op in Op::ALL {
        let base = BaseHeader::response(0xbeef, op);
        let raw = RawBaseHeader::from(base);
        assert_eq!(raw.encode(), base.encode(), "{op}");
        assert_eq!(RawBaseHeader::decode(&base.encode()), raw, "{op}");
    }
}

#[test]
fn an_unknown_op_name_is_rejected_with_the_name() {
    assert_eq!(
        "bogusOp".parse::<Op>(),
        Err(UnknownOpName {
            name: "bogusOp".to_owned()
        })
    );
    assert_eq!(Op::from_name("Read"), None, "names are case-sensitive");
}

// --- compression -------------------------------------------------------------

#[test]
fn payloads_below_the_threshold_are_sent_as_v1_frames() {
    let payload = vec![b'a'; defaults::COMPRESS_THRESHOLD - 1];
    for algorithm in Compression::ALL {
        let compressed = Encoder::new()
            .with_compression(Some(algorithm))
            .request(1, Op::Read, &payload)
            .unwrap();
        let plain = Encoder::new().request(1, Op::Read, &payload).unwrap();
        assert_eq!(compressed, plain, "{algorithm}");
    }
}

#[test]
fn payloads_at_the_threshold_are_compressed_and_smaller() {
    let payload = vec![b'x'; defaults::COMPRESS_THRESHOLD + 100];
    for algorithm in Compression::ALL {
        let frame = Encoder::new()
            .with_compression(Some(algorithm))
            .request(1, Op::Read, &payload)
            .unwrap();
        let decoded = Frame::decode(&frame).unwrap();
        assert_eq!(decoded.compression(), Some(algorithm));
        assert!(decoded.flags().contains(Flags::COMPRESSED));
        assert!(decoded.payload.len() < payload.len(), "{algorithm}");
        assert_eq!(decode_one(&frame).payload, payload, "{algorithm}");
    }
}

#[test]
fn a_custom_threshold_applies() {
    let frame = Encoder::new()
        .with_compression(Some(Compression::Zlib))
        .with_threshold(1)
        .request(1, Op::Read, b"hello")
        .unwrap();
    assert_eq!(
        Frame::decode(&frame).unwrap().compression(),
        Some(Compression::Zlib)
    );
    assert_eq!(decode_one(&frame).payload, &b"hello"[..]);
}

#[test]
fn an_unknown_algorithm_id_is_rejected_with_the_id() {
    let unknown = (0..=u8::MAX)
        .find(|&id| Compression::from_id(id).is_none())
        .unwrap();
    assert_eq!(Compression::try_from(unknown).map_err(|e| e.id), Err(unknown));
    let mut frame = Encoder::new()
        .with_compression(Some(Compression::Zlib))
        .with_threshold(0)
        .request(1, Op::Read, b"data")
        .unwrap();
    frame[BaseHeader::LEN] = unknown;
    assert_eq!(
        Frame::decode(&frame),
        Err(Error::Header(HeaderError::UnknownCompression { id: unknown }))
    );
}

#[test]
fn compressed_frames_of_every_kind_round_trip() {
    let payload = grid_json(200);
    for algorithm in Compression::ALL {
        let mut encoder = Encoder::new().with_compression(Some(algorithm));
        let cases = [
            (encoder.request(42, Op::Read, &payload).unwrap(), Flags::EMPTY),
            (
                encoder.response(7, Op::Read, &payload, false).unwrap(),
                Flags::RESPONSE,
            ),
            (
                encoder.response(1, Op::Read, &payload, true).unwrap(),
                Flags::RESPONSE | Flags::ERROR,
            ),
            (encoder.push(Op::WatchPoll, &payload).unwrap(), Flags::PUSH),
        ];
        for (frame, flags) in cases {
            assert_eq!(flags_of(&frame), flags | Flags::COMPRESSED, "{algorithm}");
            let message = decode_one(&frame);
            assert_eq!(message.flags, flags, "message flags drop the compressed bit");
            assert_eq!(message.payload, payload);
        }
    }
}

#[test]
fn without_compression_frames_stay_v1() {
    let frame = Encoder::new().request(42, Op::Read, &grid_json(200)).unwrap();
    assert_eq!(flags_of(&frame), Flags::EMPTY);
    assert_eq!(decode_one(&frame).request_id, 42);
}

#[test]
fn one_decoder_reads_a_mix_of_compressed_and_plain_frames() {
    let small = Encoder::new()
        .with_compression(Some(Compression::Zlib))
        .request(1, Op::About, b"{}")
        .unwrap();
    let large = Encoder::new()
        .with_compression(Some(Compression::Zlib))
        .request(2, Op::Read, &grid_json(200))
        .unwrap();
    assert!(!flags_of(&small).contains(Flags::COMPRESSED));
    assert!(flags_of(&large).contains(Flags::COMPRESSED));
    let mut decoder = Decoder::new();
    let ids: Vec<u16> = decode_all(&mut decoder, [&small, &large])
        .iter()
        .map(|m| m.request_id)
        .collect();
    assert_eq!(ids, [1, 2]);
}

#[test]
fn a_compressed_frame_without_its_algorithm_byte_is_rejected() {
    let frame = [Flags::COMPRESSED.bits(), 0, 0, Op::About.code()];
    assert_eq!(
        FrameHeader::decode(&frame),
        Err(HeaderError::Truncated {
            section: HeaderSection::Algorithm,
            needed: BaseHeader::LEN + 1,
            actual: BaseHeader::LEN,
        })
    );
}

// --- chunked encoding ------------------------------------------------------

#[test]
fn a_small_payload_is_one_chunk() {
    let frames = Encoder::new()
        .with_chunk_size(1024)
        .encode_chunked(BaseHeader::request(1, Op::Read), b"small")
        .unwrap();
    assert_eq!(frames.len(), 1);
    assert!(flags_of(&frames[0]).contains(Flags::CHUNKED));
}

#[test]
fn chunk_count_is_the_ceiling_of_length_over_chunk_size() {
    let frames = Encoder::new()
        .with_chunk_size(300)
        .encode_chunked(BaseHeader::request(1, Op::Read), &[b'x'; 1000])
        .unwrap();
    assert_eq!(frames.len(), 4);
    for (i, frame) in frames.iter().enumerate() {
        let chunk = Frame::decode(frame).unwrap().chunk().unwrap();
        assert_eq!((usize::from(chunk.index), chunk.total), (i, 4));
    }
}

#[test]
fn every_chunk_is_compressed_when_compression_is_on() {
    let frames = Encoder::new()
        .with_compression(Some(Compression::Zlib))
        .with_chunk_size(500)
        .encode_chunked(BaseHeader::response(5, Op::Read), &[b'y'; 2000])
        .unwrap();
    assert_eq!(frames.len(), 4);
    for frame in &frames {
        assert!(flags_of(frame).contains(Flags::CHUNKED | Flags::COMPRESSED | Flags::RESPONSE));
    }
    // Even a chunk far below the single-frame threshold is compressed.
    let tiny = Encoder::new()
        .with_compression(Some(Compression::Lzma))
        .encode_chunked(BaseHeader::request(1, Op::Read), b"ab")
        .unwrap();
    assert_eq!(
        Frame::decode(&tiny[0]).unwrap().compression(),
        Some(Compression::Lzma)
    );
}

#[test]
fn an_empty_payload_is_still_one_chunk() {
    let frames = Encoder::new()
        .with_chunk_size(256)
        .encode_chunked(BaseHeader::request(1, Op::About), b"")
        .unwrap();
    assert_eq!(frames.len(), 1);
    let message = decode_all(&mut Decoder::new(), &frames);
    assert_eq!(message[0].payload.len(), 0);
}

#[test]
fn chunks_keep_the_given_flags() {
    let frames = Encoder::new()
        .with_chunk_size(100)
        .encode_chunked(BaseHeader::error_response(10, Op::Read), &b"data".repeat(100))
        .unwrap();
    for frame in &frames {
        assert_eq!(flags_of(frame), Flags::RESPONSE | Flags::ERROR | Flags::CHUNKED);
    }
}

#[test]
fn chunking_refuses_a_zero_chunk_size_and_more_chunks_than_the_header_counts() {
    let base = BaseHeader::request(1, Op::Read);
    assert_eq!(
        Encoder::new().with_chunk_size(0).encode_chunked(base, b"x"),
        Err(Error::ZeroChunkSize)
    );
    let payload = vec![0u8; usize::from(u16::MAX) + 1];
    assert!(matches!(
        Encoder::new().with_chunk_size(1).encode_chunked(base, &payload),
        Err(Error::TooManyChunks { needed: 65_536, .. })
    ));
}

// --- reassembly --------------------------------------------------------------

fn chunked(
    base: BaseHeader,
    payload: &[u8],
    chunk_size: usize,
    algorithm: Option<Compression>,
) -> Vec<Vec<u8>> {
    Encoder::new()
        .with_compression(algorithm)
        .with_chunk_size(chunk_size)
        .encode_chunked(base, payload)
        .unwrap()
}

#[test]
fn reassembles_in_order() {
    let payload = b"hello world, this is a chunked payload test!";
    let frames = chunked(BaseHeader::request(1, Op::Read), payload, 10, None);
    let messages = decode_all(&mut Decoder::new(), &frames);
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].payload, &payload[..]);
    assert_eq!(
        messages[0].flags,
        Flags::EMPTY,
        "message flags drop the chunked bit"
    );
}

#[test]
fn reassembles_out_of_order() {
    let payload = b"abcdefghijklmnopqrstuvwxyz";
    let mut frames = chunked(BaseHeader::request(1, Op::Read), payload, 5, None);
    frames.rotate_right(1);
    frames.swap(2, 4);
    let messages = decode_all(&mut Decoder::new(), &frames);
    assert_eq!(messages[0].payload, &payload[..]);
}

#[test]
fn reassembles_compressed_chunks() {
    for algorithm in Compression::ALL {
        let payload = b"repeated data ".repeat(200);
        let frames = chunked(
            BaseHeader::response(3, Op::HisRead),
            &payload,
            500,
            Some(algorithm),
        );
        let messages = decode_all(&mut Decoder::new(), &frames);
        assert_eq!(messages.len(), 1);
        assert_eq!(messages[0].payload, payload, "{algorithm}");
        assert_eq!(messages[0].flags, Flags::RESPONSE);
    }
}

#[test]
fn counts_pending_sequences() {
    let frames = chunked(BaseHeader::request(1, Op::Read), &[b'x'; 100], 30, None);
    let mut decoder = Decoder::new();
    for frame in &frames[..frames.len() - 1] {
        assert_eq!(decoder.decode(frame).unwrap(), None);
    }
    assert_eq!(decoder.pending_count(), 1);
    assert!(decoder.decode(&frames[frames.len() - 1]).unwrap().is_some());
    assert_eq!(decoder.pending_count(), 0);
}

#[test]
fn drops_sequences_older_than_the_ttl() {
    let clock = ManualClock::new();
    let frames = chunked(BaseHeader::request(1, Op::Read), &[b'x'; 100], 30, None);
    let mut assembler = ChunkAssembler::with_clock(clock.clone()).with_ttl(Duration::from_secs(5));
    let first = Frame::decode(&frames[0]).unwrap();
    assembler.insert(&first.header, first.payload.into()).unwrap();
    assert_eq!(assembler.pending_count(), 1);
    clock.advance(Duration::from_secs(10));
    assert_eq!(assembler.sweep_expired(), 1);
    assert_eq!(assembler.pending_count(), 0);
}

#[test]
fn keeps_sequences_younger_than_the_ttl() {
    let clock = ManualClock::new();
    let frames = chunked(BaseHeader::request(1, Op::Read), &[b'x'; 100], 30, None);
    let mut decoder = Decoder::with_clock(clock.clone());
    decoder.decode(&frames[0]).unwrap();
    clock.advance(defaults::REASSEMBLY_TTL);
    assert_eq!(decoder.pending_count(), 1);
    // The rest still completes the message at exactly the TTL.
    assert_eq!(decode_all(&mut decoder, &frames[1..]).len(), 1);
}

#[test]
fn expired_sequences_are_swept_as_frames_arrive() {
    let clock = ManualClock::new();
    let stale = chunked(BaseHeader::request(1, Op::Read), &[b'x'; 100], 30, None);
    let other = chunked(BaseHeader::request(3, Op::Read), &[b'y'; 100], 30, None);
    let mut decoder = Decoder::with_clock(clock.clone()).with_ttl(Duration::from_secs(5));
    decoder.decode(&stale[0]).unwrap();
    clock.advance(Duration::from_secs(6));
    // No explicit sweep: feeding a chunk of another sequence drops the stale one.
    decoder.decode(&other[0]).unwrap();
    assert_eq!(decoder.pending_count(), 1);
    assert_eq!(decode_all(&mut decoder, &other[1..]).len(), 1);
    assert_eq!(decoder.pending_count(), 0);
}

#[test]
fn interleaved_sequences_reassemble_independently() {
    let a = b"aaaa".repeat(50);
    let b = b"bbbb".repeat(50);
    let frames_a = chunked(BaseHeader::request(1, Op::Read), &a, 40, None);
    let frames_b = chunked(BaseHeader::response(2, Op::Read), &b, 30, None);
    let mut interleaved = Vec::new();
    for i in 0..frames_a.len().max(frames_b.len()) {
        interleaved.extend(frames_a.get(i));
        interleaved.extend(frames_b.get(i));
    }
    let messages = decode_all(&mut Decoder::new(), interleaved);
    assert_eq!(messages.len(), 2);
    let by_id = |id| {
        messages
            .iter()
            .find(|m| m.request_id == id)
            .map(|m| m.payload.to_vec())
    };
    assert_eq!(by_id(1), Some(a));
    assert_eq!(by_id(2), Some(b));
}

#[test]
fn the_same_request_id_with_another_op_is_another_sequence() {
    let read = chunked(BaseHeader::request(9, Op::Read), b"read-payload", 4, None);
    let nav = chunked(BaseHeader::request(9, Op::Nav), b"nav-payload!", 4, None);
    let mut decoder = Decoder::new();
    let messages = decode_all(&mut decoder, read.iter().zip(&nav).flat_map(|(r, n)| [r, n]));
    let ops: Vec<(Op, Vec<u8>)> = messages.iter().map(|m| (m.op, m.payload.to_vec())).collect();
    assert_eq!(
        ops,
        [
            (Op::Read, b"read-payload".to_vec()),
            (Op::Nav, b"nav-payload!".to_vec())
        ]
    );
}

// --- caller buffers ------------------------------------------------------------

#[test]
fn encoding_appends_to_the_callers_buffer() {
    let mut out = b"prefix".to_vec();
    Encoder::new()
        .encode_into(BaseHeader::request(1, Op::Ops), b"{}", &mut out)
        .unwrap();
    assert_eq!(&out[..6], b"prefix");
    assert_eq!(out[6..], Encoder::new().request(1, Op::Ops, b"{}").unwrap());
}

#[test]
fn chunked_encoding_builds_every_frame_in_one_scratch_buffer() {
    let payload = grid_json(50);
    let expected = chunked(
        BaseHeader::request(4, Op::Read),
        &payload,
        700,
        Some(Compression::Zlib),
    );
    let mut scratch = Vec::new();
    let mut seen = Vec::new();
    Encoder::new()
        .with_compression(Some(Compression::Zlib))
        .with_chunk_size(700)
        .encode_chunked_with(
            BaseHeader::request(4, Op::Read),
            &payload,
            &mut scratch,
            |frame| {
                seen.push(frame.to_vec());
                Ok::<(), Error>(())
            },
        )
        .unwrap();
    assert_eq!(seen, expected);
}

#[test]
fn a_header_announces_exactly_the_sections_it_has() {
    // Flags given by the caller cannot claim a section that is not there.
    let base = BaseHeader {
        flags: Flags::RESPONSE | Flags::COMPRESSED | Flags::CHUNKED,
        ..BaseHeader::request(1, Op::Read)
    };
    let frame = Encoder::new().encode(base, b"{}").unwrap();
    assert_eq!(flags_of(&frame), Flags::RESPONSE);
    assert_eq!(decode_one(&frame).payload, &b"{}"[..]);
}

#[test]
fn chunked_frames_in_parts_are_the_frames_and_an_uncompressed_chunk_is_borrowed() {
    let payload = grid_json(50);
    for algorithm in [None, Some(Compression::Zlib), Some(Compression::Lzma)] {
        let expected = chunked(BaseHeader::request(4, Op::Read), &payload, 700, algorithm);
        let mut scratch = Vec::new();
        let mut seen = Vec::new();
        let mut borrowed = 0;
        Encoder::new()
            .with_compression(algorithm)
            .with_chunk_size(700)
            .encode_chunked_parts(
                BaseHeader::request(4, Op::Read),
                &payload,
                &mut scratch,
                |head, chunk| {
                    if !chunk.is_empty() {
                        // The chunk is the caller's payload itself, not a copy.
                        let start = chunk.as_ptr() as usize - payload.as_ptr() as usize;
                        assert_eq!(&payload[start..start + chunk.len()], chunk);
                        borrowed += 1;
                    }
                    seen.push([head, chunk].concat());
                    Ok::<(), Error>(())
                },
            )
            .unwrap();
        assert_eq!(seen, expected, "{algorithm:?}");
        let uncompressed = if algorithm.is_none() { expected.len() } else { 0 };
        assert_eq!(borrowed, uncompressed, "{algorithm:?}");
    }
}

#[test]
fn a_compressed_frame_decoded_with_a_buffer_lands_in_it_and_equals_the_plain_decode() {
    let payload = grid_json(200);
    let mut buffer = Vec::new();
    for algorithm in [Compression::Zlib, Compression::Lzma] {
        let frame = Encoder::new()
            .with_compression(Some(algorithm))
            .encode(BaseHeader::response(9, Op::HisRead), &payload)
            .unwrap();
        let expected = decode_one(&frame);
        let mut decoder = Decoder::new();
        let message = decoder.decode_with(&frame, &mut buffer).unwrap().unwrap();
        assert_eq!(message.clone().into_owned(), expected);
        assert!(
            std::ptr::eq(message.payload.as_ptr(), buffer.as_ptr()),
            "{algorithm}"
        );
    }
    // A plain frame borrows the frame, and a chunk goes to its sequence.
    let plain = Encoder::new()
        .encode(BaseHeader::request(3, Op::Read), b"{}")
        .unwrap();
    let message = Decoder::new().decode_with(&plain, &mut buffer).unwrap().unwrap();
    assert_eq!(message.payload, &b"{}"[..]);
    let frames = chunked(
        BaseHeader::request(1, Op::Read),
        &payload,
        500,
        Some(Compression::Zlib),
    );
    let mut decoder = Decoder::new();
    let mut whole = None;
    for frame in &frames {
        whole = decoder
            .decode_with(frame, &mut buffer)
            .unwrap()
            .map(Message::into_owned);
    }
    assert_eq!(whole.unwrap().payload, &payload[..]);
}

/// A store that keeps each chunk apart, as a binding holding its callers'
/// buffers would, and hands them back in order.
#[derive(Debug)]
struct Apart {
    total: u16,
    parts: std::collections::BTreeMap<u16, Vec<u8>>,
}

impl ChunkStore for Apart {
    type Chunk<'a> = Vec<u8>;
    type Whole = Vec<Vec<u8>>;

    fn chunk_len(chunk: &Vec<u8>) -> usize {
        chunk.len()
    }

    fn new(total: u16) -> Self {
        Apart {
            total,
            parts: Default::default(),
        }
    }

    fn has(&self, index: u16) -> bool {
        self.parts.contains_key(&index)
    }

    fn add(&mut self, index: u16, chunk: Vec<u8>) {
        self.parts.insert(index, chunk);
    }

    fn is_complete(&self) -> bool {
        self.parts.len() == usize::from(self.total)
    }

    fn finish(self) -> Vec<Vec<u8>> {
        self.parts.into_values().collect()
    }
}

#[test]
fn an_assembler_with_a_store_of_its_own_keeps_the_rules_and_hands_back_the_parts_in_order() {
    let payload = b"0123456789".repeat(10);
    let frames = chunked(BaseHeader::response(5, Op::HisRead), &payload, 30, None);
    let mut assembler: ChunkAssembler<ManualClock, Apart> = ChunkAssembler::with_clock(ManualClock::new());
    let chunk = |frame: &Vec<u8>| {
        let frame = Frame::decode(frame).unwrap();
        (frame.header, frame.payload.to_vec())
    };
    // Out of order, with a duplicate refused on the way.
    let (header, body) = chunk(&frames[2]);
    assert_eq!(assembler.insert_chunk(&header, body).unwrap(), None);
    let (header, body) = chunk(&frames[0]);
    assert_eq!(assembler.insert_chunk(&header, body.clone()).unwrap(), None);
    assert_eq!(assembler.pending_bytes(), 60);
    assert!(matches!(
        assembler.insert_chunk(&header, body),
        Err(Error::DuplicateChunk { index: 0, .. })
    ));
    // The refusal dropped the sequence; sent again, it completes.
    assert_eq!(assembler.pending_count(), 0);
    let mut done = None;
    for frame in [&frames[3], &frames[1], &frames[0], &frames[2]] {
        let (header, body) = chunk(frame);
        done = assembler.insert_chunk(&header, body).unwrap();
    }
    let done = done.expect("the last chunk completes the sequence");
    assert_eq!(
        (done.flags, done.request_id, done.op),
        (Flags::RESPONSE, 5, Op::HisRead)
    );
    assert_eq!(done.whole.len(), frames.len());
    assert_eq!(done.whole.concat(), payload);
    assert_eq!(assembler.pending_bytes(), 0);
}
