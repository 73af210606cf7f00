//! What a decoder does with a peer that lies, floods or sends garbage: every
//! rule and limit, each refusal typed, the offending sequence dropped, and
//! everything else untouched.

use std::time::Duration;

use haystack_wire::protocol::{
    defaults, AlgorithmHeader, ChunkHeader, HeaderError, HeaderSection, RawBaseHeader,
};
use haystack_wire::{
    BaseHeader, Compression, Compressor, Decoder, Encoder, Error, ErrorScope, Flags, FrameHeader, Limits,
    ManualClock, Message, Op,
};

/// A frame with exactly this header and payload, whatever they say.
fn frame(header: FrameHeader, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    header.encode_into(&mut out);
    out.extend_from_slice(payload);
    out
}

fn chunk_header(base: BaseHeader, index: u16, total: u16) -> FrameHeader {
    FrameHeader {
        chunk: Some(ChunkHeader { index, total }),
        ..FrameHeader::new(base)
    }
}

fn chunk(base: BaseHeader, index: u16, total: u16, payload: &[u8]) -> Vec<u8> {
    frame(chunk_header(base, index, total), payload)
}

fn compressed(algorithm: Compression, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    Compressor::new().compress(algorithm, data, &mut out).unwrap();
    out
}

fn owned(result: Result<Option<Message<'_>>, Error>) -> Result<Option<Message<'static>>, Error> {
    result.map(|m| m.map(Message::into_owned))
}

const ZEROS: usize = 256 << 20;

// --- sizes ------------------------------------------------------------------

#[test]
fn a_frame_over_the_limit_is_refused_before_it_is_read() {
    let limits = Limits {
        max_frame: 100,
        ..Limits::DEFAULT
    };
    let big = Encoder::new().request(1, Op::Read, &[b'x'; 97]).unwrap();
    let error = Decoder::new().with_limits(limits).decode(&big).unwrap_err();
    assert_eq!(error, Error::FrameTooLarge { len: 101, limit: 100 });
    assert_eq!(error.scope(), ErrorScope::Connection);
}

#[test]
fn a_plain_frame_over_the_message_limit_is_refused() {
    let limits = Limits {
        max_message: 10,
        ..Limits::DEFAULT
    };
    let frame = Encoder::new().request(4, Op::Read, &[b'x'; 11]).unwrap();
    assert_eq!(
        Decoder::new().with_limits(limits).decode(&frame),
        Err(Error::MessageTooLarge {
            request_id: 4,
            op: Op::Read,
            limit: 10
        })
    );
}

#[test]
fn bombs_stop_at_the_frame_payload_limit() {
    let zeros = vec![0u8; ZEROS];
    for algorithm in Compression::ALL {
        let bomb = Encoder::new()
            .with_compression(Some(algorithm))
            .request(3, Op::HisWrite, &zeros)
            .unwrap();
        assert!(
            bomb.len() * 200 < ZEROS,
            "{algorithm}: {} bytes on the wire",
            bomb.len()
        );
        let error = Decoder::new().decode(&bomb).unwrap_err();
        assert_eq!(
            error,
            Error::DecompressedTooLarge {
                algorithm,
                limit: Limits::DEFAULT.max_frame_payload
            }
        );
        assert_eq!(error.scope(), ErrorScope::Message);
    }
}

#[test]
fn a_bomb_in_a_chunk_stops_at_the_message_room_and_drops_its_sequence() {
    let zeros = vec![0u8; ZEROS];
    let limits = Limits {
        max_message: 1 << 20,
        ..Limits::DEFAULT
    };
    for algorithm in Compression::ALL {
        let base = BaseHeader::response(8, Op::HisRead);
        let mut decoder = Decoder::new().with_limits(limits);
        let first = FrameHeader {
            algorithm: Some(AlgorithmHeader { algorithm }),
            ..chunk_header(base, 0, 2)
        };
        let second = FrameHeader {
            chunk: Some(ChunkHeader { index: 1, total: 2 }),
            ..first
        };
        assert_eq!(
            owned(decoder.decode(&frame(first, &compressed(algorithm, b"start")))),
            Ok(None)
        );
        let error = decoder
            .decode(&frame(second, &compressed(algorithm, &zeros)))
            .unwrap_err();
        assert_eq!(
            error,
            Error::MessageTooLarge {
                request_id: 8,
                op: Op::HisRead,
                limit: 1 << 20
            },
            "{algorithm}"
        );
        assert_eq!(
            (decoder.pending_count(), decoder.assembler().pending_bytes()),
            (0, 0)
        );
    }
}

#[test]
fn truncated_and_trailing_compressed_payloads_are_refused() {
    let data = b"grid rows ".repeat(300);
    for algorithm in Compression::ALL {
        let good = compressed(algorithm, &data);
        let header = FrameHeader {
            algorithm: Some(AlgorithmHeader { algorithm }),
            ..FrameHeader::new(BaseHeader::request(1, Op::Read))
        };
        let cut = frame(header, &good[..good.len() - 1]);
        assert_eq!(
            Decoder::new().decode(&cut),
            Err(Error::TruncatedCompressed {
                algorithm,
                len: good.len() - 1
            })
        );
        let mut long = good.clone();
        long.extend_from_slice(&[0, 0]);
        assert_eq!(
            Decoder::new().decode(&frame(header, &long)),
            Err(Error::TrailingCompressed {
                algorithm,
                trailing: 2
            })
        );
    }
}

// --- chunk rules ------------------------------------------------------------

#[test]
fn an_announced_total_over_the_chunk_limit_is_refused_on_the_first_chunk() {
    let limits = Limits {
        max_chunks: 16,
        ..Limits::DEFAULT
    };
    let mut decoder = Decoder::new().with_limits(limits);
    let base = BaseHeader::response(2, Op::Read);
    assert_eq!(
        decoder.decode(&chunk(base, 5, 17, b"x")),
        Err(Error::ChunkTotalTooLarge {
            request_id: 2,
            op: Op::Read,
            total: 17,
            limit: 16
        })
    );
    assert_eq!(
        (decoder.pending_count(), decoder.assembler().pending_bytes()),
        (0, 0)
    );
    assert_eq!(
        owned(decoder.decode(&chunk(base, 0, 16, b"x"))),
        Ok(None),
        "16 chunks are fine"
    );
}

#[test]
fn a_total_of_zero_and_an_index_past_the_total_are_refused() {
    let base = BaseHeader::response(2, Op::Read);
    let mut decoder = Decoder::new();
    assert_eq!(
        decoder.decode(&chunk(base, 0, 0, b"x")),
        Err(Error::ZeroChunkTotal {
            request_id: 2,
            op: Op::Read
        })
    );
    for index in [3, 4, u16::MAX] {
        assert_eq!(
            decoder.decode(&chunk(base, index, 3, b"x")),
            Err(Error::ChunkIndexOutOfRange {
                request_id: 2,
                op: Op::Read,
                index,
                total: 3
            })
        );
    }
    assert_eq!(decoder.pending_count(), 0);
}

/// Starts sequence (1, read) and a bystander (2, read), sends `bad` for
/// sequence 1, and checks that it is refused with `what` changed, that
/// sequence 1 is gone and that the bystander still completes.
fn assert_inconsistent(first: FrameHeader, bad: Vec<u8>, what: &str) {
    let mut decoder = Decoder::new();
    let bystander = BaseHeader::response(2, Op::Read);
    assert_eq!(owned(decoder.decode(&frame(first, b"one"))), Ok(None));
    assert_eq!(owned(decoder.decode(&chunk(bystander, 0, 2, b"by"))), Ok(None));
    match decoder.decode(&bad) {
        Err(Error::InconsistentChunk {
            request_id: 1,
            what: changed,
            ..
        }) => assert_eq!(changed, what),
        other => panic!("expected a change of {what}, got {other:?}"),
    }
    assert_eq!(decoder.pending_count(), 1, "only the bystander is left");
    let done = owned(decoder.decode(&chunk(bystander, 1, 2, b"stander")))
        .unwrap()
        .unwrap();
    assert_eq!(&done.payload[..], b"bystander");
}

#[test]
fn a_chunk_that_changes_the_total_is_refused() {
    let base = BaseHeader::response(1, Op::Read);
    assert_inconsistent(chunk_header(base, 0, 3), chunk(base, 1, 4, b"two"), "total");
}

#[test]
fn a_chunk_that_changes_the_flags_is_refused() {
    let base = BaseHeader::response(1, Op::Read);
    let error_base = BaseHeader::error_response(1, Op::Read);
    assert_inconsistent(chunk_header(base, 0, 3), chunk(error_base, 1, 3, b"two"), "flags");
}

#[test]
fn a_chunk_that_turns_compression_on_or_changes_the_algorithm_is_refused() {
    let base = BaseHeader::response(1, Op::Read);
    let zlib = |header: FrameHeader| FrameHeader {
        algorithm: Some(AlgorithmHeader {
            algorithm: Compression::Zlib,
        }),
        ..header
    };
    let lzma = FrameHeader {
        algorithm: Some(AlgorithmHeader {
            algorithm: Compression::Lzma,
        }),
        ..chunk_header(base, 1, 3)
    };
    // Both the compressed flag and the algorithm byte change here; the flags are compared first.
    assert_inconsistent(
        chunk_header(base, 0, 3),
        frame(
            zlib(chunk_header(base, 1, 3)),
            &compressed(Compression::Zlib, b"two"),
        ),
        "flags",
    );
    let mut decoder = Decoder::new();
    let first = frame(
        zlib(chunk_header(base, 0, 3)),
        &compressed(Compression::Zlib, b"one"),
    );
    assert_eq!(owned(decoder.decode(&first)), Ok(None));
    match decoder.decode(&frame(lzma, &compressed(Compression::Lzma, b"two"))) {
        Err(Error::InconsistentChunk {
            what, first, this, ..
        }) => assert_eq!(
            (what, first.as_str(), this.as_str()),
            ("compression", "zlib", "lzma")
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(decoder.pending_count(), 0);
}

#[test]
fn a_duplicate_chunk_is_refused_and_drops_its_sequence() {
    let base = BaseHeader::response(1, Op::Read);
    let mut decoder = Decoder::new();
    assert_eq!(owned(decoder.decode(&chunk(base, 0, 3, b"one"))), Ok(None));
    assert_eq!(
        decoder.decode(&chunk(base, 0, 3, b"one again")),
        Err(Error::DuplicateChunk {
            request_id: 1,
            op: Op::Read,
            index: 0
        })
    );
    assert_eq!(
        (decoder.pending_count(), decoder.assembler().pending_bytes()),
        (0, 0)
    );
}

#[test]
fn a_chunk_shorter_than_its_header_is_refused() {
    let full = chunk(BaseHeader::response(1, Op::Read), 0, 2, b"");
    for len in BaseHeader::LEN..full.len() {
        assert_eq!(
            Decoder::new().decode(&full[..len]),
            Err(Error::Header(HeaderError::Truncated {
                section: HeaderSection::Chunk,
                needed: full.len(),
                actual: len
            }))
        );
    }
}

#[test]
fn frames_setting_unused_flag_bits_are_refused() {
    let good = Encoder::new().request(1, Op::Read, b"{}").unwrap();
    for bit in 0..8 {
        let mask = 1u8 << bit;
        if !Flags::UNUSED.contains(Flags::from_bits(mask)) {
            continue;
        }
        let mut bad = good.clone();
        bad[BaseHeader::FLAGS_OFFSET] |= mask;
        let error = Decoder::new().decode(&bad).unwrap_err();
        assert_eq!(error, Error::Header(HeaderError::UnusedFlagBits { flags: mask }));
        assert_eq!(error.scope(), ErrorScope::Connection);
    }
}

// --- time and floods -----------------------------------------------------------

#[test]
fn the_ttl_counts_from_the_first_chunk() {
    let clock = ManualClock::new();
    let ttl = Duration::from_secs(10);
    let mut decoder = Decoder::with_clock(clock.clone()).with_ttl(ttl);
    let base = BaseHeader::response(1, Op::HisRead);
    decoder.decode(&chunk(base, 0, 3, b"a")).unwrap();
    clock.advance(Duration::from_secs(8));
    decoder.decode(&chunk(base, 1, 3, b"b")).unwrap();
    clock.advance(Duration::from_secs(3));
    // 11 s after the first chunk, 3 s after the last: expired all the same.
    let other = BaseHeader::response(2, Op::Read);
    decoder.decode(&chunk(other, 0, 2, b"x")).unwrap();
    assert_eq!(decoder.pending_count(), 1);
    assert_eq!(decoder.assembler().pending_bytes(), 1);
}

#[test]
fn a_flood_of_unfinished_sequences_stops_at_the_pending_limit() {
    let clock = ManualClock::new();
    let mut decoder = Decoder::with_clock(clock.clone());
    let limit = Limits::DEFAULT.max_pending;
    let mut refused = 0;
    for id in 0..10_000u16 {
        match decoder.decode(&chunk(BaseHeader::response(id, Op::Read), 0, 2, &[b'x'; 100])) {
            Ok(None) => {}
            Err(Error::TooManyPending { limit: l, .. }) if l == limit => refused += 1,
            other => panic!("{other:?}"),
        }
        assert!(decoder.pending_count() <= limit);
    }
    assert_eq!(refused, 10_000 - limit);
    assert_eq!(decoder.assembler().pending_bytes(), limit * 100);

    // Plain messages still get through, and sequences in progress still complete.
    let plain = Encoder::new().response(60_000, Op::About, b"{}", false).unwrap();
    assert_eq!(owned(decoder.decode(&plain)).unwrap().unwrap().request_id, 60_000);
    let done = owned(decoder.decode(&chunk(BaseHeader::response(0, Op::Read), 1, 2, b"!")))
        .unwrap()
        .unwrap();
    assert_eq!(done.payload.len(), 101);

    // Once the flood expires, new sequences are taken again.
    clock.advance(defaults::REASSEMBLY_TTL + Duration::from_secs(1));
    assert_eq!(
        owned(decoder.decode(&chunk(BaseHeader::response(9, Op::Nav), 0, 2, b"x"))),
        Ok(None)
    );
    assert_eq!(decoder.pending_count(), 1);
}

#[test]
fn the_pending_byte_budget_drops_the_sequence_that_would_pass_it() {
    let limits = Limits {
        max_pending_bytes: 1000,
        ..Limits::DEFAULT
    };
    let mut decoder = Decoder::new().with_limits(limits);
    let a = BaseHeader::response(1, Op::Read);
    let b = BaseHeader::response(2, Op::Read);
    decoder.decode(&chunk(a, 0, 3, &[b'a'; 400])).unwrap();
    decoder.decode(&chunk(b, 0, 3, &[b'b'; 400])).unwrap();
    assert_eq!(
        decoder.decode(&chunk(b, 1, 3, &[b'b'; 201])),
        Err(Error::PendingBytesExceeded {
            request_id: 2,
            op: Op::Read,
            limit: 1000
        })
    );
    assert_eq!(
        decoder.assembler().pending_bytes(),
        400,
        "b's 400 bytes are released"
    );
    decoder.decode(&chunk(a, 1, 3, &[b'a'; 300])).unwrap();
    let done = owned(decoder.decode(&chunk(a, 2, 3, &[b'a'; 300])))
        .unwrap()
        .unwrap();
    assert_eq!(done.payload.len(), 1000);
    assert_eq!(decoder.assembler().pending_bytes(), 0);
}

#[test]
fn a_sequence_over_the_message_limit_is_dropped() {
    let limits = Limits {
        max_message: 500,
        ..Limits::DEFAULT
    };
    let mut decoder = Decoder::new().with_limits(limits);
    let base = BaseHeader::response(5, Op::HisRead);
    decoder.decode(&chunk(base, 0, 2, &[b'x'; 300])).unwrap();
    assert_eq!(
        decoder.decode(&chunk(base, 1, 2, &[b'x'; 201])),
        Err(Error::MessageTooLarge {
            request_id: 5,
            op: Op::HisRead,
            limit: 500
        })
    );
    assert_eq!(
        (decoder.pending_count(), decoder.assembler().pending_bytes()),
        (0, 0)
    );
}

// --- a stream with bad frames in it ------------------------------------------

#[test]
fn a_valid_message_interleaved_with_bad_frames_comes_out_intact() {
    let payload = b"the one message that must arrive intact ".repeat(100);
    let good = Encoder::new()
        .with_compression(Some(Compression::Zlib))
        .with_chunk_size(500)
        .encode_chunked(BaseHeader::response(77, Op::Read), &payload)
        .unwrap();
    let other = BaseHeader::response(78, Op::Read);
    let mut unused_bits = Encoder::new().request(1, Op::Read, b"{}").unwrap();
    unused_bits[BaseHeader::FLAGS_OFFSET] |= Flags::UNUSED.bits();
    let mut bad_checksum = compressed(Compression::Zlib, b"a chunk whose checksum is wrong");
    *bad_checksum.last_mut().unwrap() ^= 0xff;
    let wrong_zlib = frame(
        FrameHeader {
            algorithm: Some(AlgorithmHeader {
                algorithm: Compression::Zlib,
            }),
            ..chunk_header(BaseHeader::response(79, Op::Read), 0, 2)
        },
        &bad_checksum,
    );
    let bad: Vec<Vec<u8>> = vec![
        vec![],
        vec![0x01, 0x00],
        unused_bits,
        chunk(other, 0, 0, b"zero total"),
        chunk(other, 9, 3, b"index past total"),
        chunk(other, 0, 3, b"a start"),
        chunk(other, 0, 3, b"a duplicate"),
        frame(
            FrameHeader {
                algorithm: Some(AlgorithmHeader {
                    algorithm: Compression::Lzma,
                }),
                ..FrameHeader::new(BaseHeader::request(3, Op::Nav))
            },
            b"not lzma",
        ),
        wrong_zlib,
    ];
    let mut decoder = Decoder::new();
    let mut messages = Vec::new();
    let mut errors = 0;
    let mut bad_frames = bad.iter();
    for frame in &good {
        for f in bad_frames.by_ref().take(2) {
            if decoder.decode(f).is_err() {
                errors += 1;
            }
        }
        if let Some(message) = owned(decoder.decode(frame)).expect("the good frames decode") {
            messages.push(message);
        }
    }
    for f in bad_frames {
        if decoder.decode(f).is_err() {
            errors += 1;
        }
    }
    // Every bad frame but the first chunk of sequence 78 is refused.
    assert_eq!(errors, bad.len() - 1);
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].request_id, 77);
    assert_eq!(messages[0].payload, payload);
}

#[test]
fn frames_with_an_unknown_op_leave_every_pending_sequence_as_it_was() {
    let first = b"the first half, ".to_vec();
    let second = b"and the second".to_vec();
    let whole = [first.clone(), second.clone()].concat();
    let mut decoder = Decoder::new();
    let read = BaseHeader::response(8, Op::Read);
    let nav = BaseHeader::request(9, Op::Nav);
    assert_eq!(owned(decoder.decode(&chunk(read, 0, 2, &first))), Ok(None));
    assert_eq!(owned(decoder.decode(&chunk(nav, 0, 2, &first))), Ok(None));
    assert_eq!(decoder.pending_count(), 2);

    // Op 200 in a plain request, in a chunk of the same request ids as the
    // pending sequences, compressed, and in a response and a push.
    assert_eq!(Op::from_code(200), None);
    let unknown = |flags: Flags, request_id: u16, tail: &[u8]| {
        let mut frame = RawBaseHeader {
            flags,
            request_id,
            op: 200,
        }
        .encode()
        .to_vec();
        frame.extend_from_slice(tail);
        frame
    };
    let chunk_tail = ChunkHeader { index: 1, total: 2 }.encode();
    let frames = [
        (unknown(Flags::EMPTY, 9, b"{}"), true),
        (unknown(Flags::CHUNKED, 9, &chunk_tail), true),
        (unknown(Flags::COMPRESSED, 8, &[0, 1, 2, 3]), true),
        (unknown(Flags::RESPONSE | Flags::CHUNKED, 8, &chunk_tail), false),
        (unknown(Flags::PUSH, 0, b"{}"), false),
    ];
    for (frame, answerable) in &frames {
        let error = decoder.decode(frame).unwrap_err();
        let Error::Header(header) = error else {
            panic!("{error}")
        };
        assert!(
            matches!(header, HeaderError::UnknownOp { code: 200, .. }),
            "{header}"
        );
        assert_eq!(header.answerable(), *answerable, "{header}");
        assert_eq!(error.scope(), ErrorScope::Message, "{header}");
        assert_eq!(decoder.pending_count(), 2, "{header}");
    }

    let done = owned(decoder.decode(&chunk(read, 1, 2, &second))).expect("the chunk decodes");
    assert_eq!(
        done.map(|m| (m.request_id, m.op, m.payload.into_owned())),
        Some((8, Op::Read, whole.clone()))
    );
    let done = owned(decoder.decode(&chunk(nav, 1, 2, &second))).expect("the chunk decodes");
    assert_eq!(
        done.map(|m| (m.request_id, m.op, m.payload.into_owned())),
        Some((9, Op::Nav, whole))
    );
    assert_eq!(decoder.pending_count(), 0);
}

#[test]
fn errors_say_whether_to_answer_or_to_close() {
    let message_errors = [
        Error::ZeroChunkTotal {
            request_id: 1,
            op: Op::Read,
        },
        Error::MessageTooLarge {
            request_id: 1,
            op: Op::Read,
            limit: 1,
        },
        Error::ChunkTotalTooLarge {
            request_id: 1,
            op: Op::Read,
            total: 9,
            limit: 1,
        },
        Error::TruncatedCompressed {
            algorithm: Compression::Zlib,
            len: 3,
        },
        // The spec's `unknown_ops` policy is `answer`: the frame goes, the connection stays.
        Error::Header(HeaderError::UnknownOp {
            code: 0,
            request_id: 1,
            flags: Flags::EMPTY,
        }),
        Error::Header(HeaderError::UnknownOp {
            code: 0,
            request_id: 0,
            flags: Flags::PUSH,
        }),
    ];
    for error in message_errors {
        assert_eq!(error.scope(), ErrorScope::Message, "{error}");
    }
    let connection_errors = [
        Error::FrameTooLarge { len: 2, limit: 1 },
        Error::TooManyPending {
            request_id: 1,
            op: Op::Read,
            limit: 1,
        },
        Error::PendingBytesExceeded {
            request_id: 1,
            op: Op::Read,
            limit: 1,
        },
        Error::Header(HeaderError::UnknownCompression { id: 9 }),
        Error::Header(HeaderError::UnusedFlagBits { flags: 0x80 }),
        Error::Header(HeaderError::Truncated {
            section: HeaderSection::Base,
            needed: BaseHeader::LEN,
            actual: 2,
        }),
    ];
    for error in connection_errors {
        assert_eq!(error.scope(), ErrorScope::Connection, "{error}");
    }
}
