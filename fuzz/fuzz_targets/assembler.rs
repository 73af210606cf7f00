//! Fuzz-chosen sequences of chunked (and plain) frames through one decoder
//! with tight limits and a clock the fuzzer moves: no panic, and the held
//! memory and pending count never pass their budgets.

#![no_main]

use std::time::Duration;

use arbitrary::Arbitrary;
use haystack_wire::protocol::{AlgorithmHeader, ChunkHeader};
use haystack_wire::{
    BaseHeader, Compression, Compressor, Decoder, Flags, FrameHeader, Limits, ManualClock, Op,
};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Step {
    /// Few ids and ops, so that sequences collide.
    request_id: u8,
    op: u8,
    /// Raw flag bits, unused ones included.
    flags: u8,
    chunk: Option<(u8, u8)>,
    /// `None`: plain; `Some((algorithm, valid))`: compressed, with a real
    /// stream when `valid`, else the payload bytes as they are.
    compression: Option<(bool, bool)>,
    payload: Vec<u8>,
    /// Repeat the payload this many times before compressing (bombs).
    repeat: u8,
    advance_secs: u8,
}

const LIMITS: Limits = Limits {
    max_frame: 1 << 16,
    max_frame_payload: 1 << 15,
    max_message: 1 << 15,
    max_chunks: 8,
    max_pending: 4,
    max_pending_bytes: 1 << 16,
};

fuzz_target!(|steps: Vec<Step>| {
    let clock = ManualClock::new();
    let mut decoder = Decoder::with_clock(clock.clone())
        .with_limits(LIMITS)
        .with_ttl(Duration::from_secs(30));
    let mut compressor = Compressor::new();
    for step in steps {
        clock.advance(Duration::from_secs(u64::from(step.advance_secs % 16)));
        let op = Op::ALL[usize::from(step.op) % Op::ALL.len()];
        let base = BaseHeader {
            flags: Flags::from_bits(step.flags),
            request_id: u16::from(step.request_id % 4),
            op,
        };
        let algorithm = step.compression.map(|(lzma, _)| {
            if lzma {
                Compression::Lzma
            } else {
                Compression::Zlib
            }
        });
        let header = FrameHeader {
            algorithm: algorithm.map(|algorithm| AlgorithmHeader { algorithm }),
            chunk: step.chunk.map(|(index, total)| ChunkHeader {
                index: u16::from(index % 10),
                total: u16::from(total % 10),
            }),
            ..FrameHeader::new(base)
        };
        let mut frame = Vec::new();
        header.encode_into(&mut frame);
        match (algorithm, step.compression) {
            (Some(algorithm), Some((_, true))) => {
                let data = step.payload.repeat(usize::from(step.repeat).max(1) * 64);
                if compressor.compress(algorithm, &data, &mut frame).is_err() {
                    return;
                }
            }
            _ => frame.extend_from_slice(&step.payload),
        }
        if let Ok(Some(message)) = decoder.decode(&frame) {
            assert!(message.payload.len() <= LIMITS.max_message);
        }
        assert!(decoder.assembler().pending_bytes() <= LIMITS.max_pending_bytes);
        assert!(decoder.pending_count() <= LIMITS.max_pending);
    }
});
