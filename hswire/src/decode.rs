//! `hswire decode`: hex frames on stdin, one JSON line per complete message,
//! then one per sequence still incomplete at the end of the input.
//!
//! Memory stays bounded whatever arrives: a line longer than the largest frame
//! the decoder accepts is skipped without being held, and the decoder enforces
//! its limits on everything else.

use std::collections::BTreeMap;
use std::io::{BufRead, Read, Write};
use std::process::ExitCode;
use std::time::Instant;

use haystack_wire::protocol::defaults;
use haystack_wire::{Decoder, Frame, Limits, Message, Op};

/// What `decode` takes: the decoder's limits, each defaulting to the library's.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The largest frame accepted, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = Limits::DEFAULT.max_frame)]
    max_frame: usize,
    /// The most bytes one frame's payload may decompress to.
    #[arg(long, value_name = "BYTES", default_value_t = Limits::DEFAULT.max_frame_payload)]
    max_frame_payload: usize,
    /// The most bytes a reassembled message may hold.
    #[arg(long, value_name = "BYTES", default_value_t = Limits::DEFAULT.max_message)]
    max_message: usize,
    /// The most chunks one message may have (raise it to read what
    /// `encode --chunk-size` wrote with a small chunk size).
    #[arg(long, value_name = "N", default_value_t = Limits::DEFAULT.max_chunks)]
    max_chunks: usize,
    /// The most incomplete sequences held at once.
    #[arg(long, value_name = "N", default_value_t = Limits::DEFAULT.max_pending)]
    max_pending: usize,
    /// The most payload bytes held across all incomplete sequences.
    #[arg(long, value_name = "BYTES", default_value_t = Limits::DEFAULT.max_pending_bytes)]
    max_pending_bytes: usize,
}

impl Args {
    fn limits(&self) -> Limits {
        Limits {
            max_frame: self.max_frame,
            max_frame_payload: self.max_frame_payload,
            max_message: self.max_message,
            max_chunks: self.max_chunks,
            max_pending: self.max_pending,
            max_pending_bytes: self.max_pending_bytes,
        }
    }
}

pub fn run(args: &Args) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let limits = args.limits();
    // Two hex digits a byte, and room for a carriage return and stray spaces.
    let max_line = limits.max_frame.saturating_mul(2).saturating_add(64);
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut decoder = Decoder::new().with_limits(limits);
    let mut pending = Pending::default();
    let mut any_bad = false;
    let mut line = Vec::new();
    let mut number = 0;
    while let Some(whole) = read_line_capped(&mut input, max_line, &mut line)? {
        number += 1;
        let decoded = if !whole {
            Err(format!(
                "line of more than {max_line} characters: its frame would exceed the limit of {} bytes",
                limits.max_frame
            ))
        } else if line.trim_ascii().is_empty() {
            continue;
        } else {
            crate::hex::decode(&line).and_then(|frame| {
                pending.expire();
                let held = decoder.pending_count();
                let decoded = decoder.decode(&frame).map(|m| m.map(Message::into_owned));
                pending.follow(&frame, &decoded, held > decoder.pending_count());
                decoded.map_err(|e| e.to_string())
            })
        };
        match decoded {
            Ok(Some(message)) => writeln!(out, "{}", message_json(&message))?,
            Ok(None) => {}
            Err(error) => {
                any_bad = true;
                writeln!(
                    out,
                    "{{\"line\":{number},\"error\":{}}}",
                    serde_json::to_string(&error)?
                )?;
            }
        }
    }
    for ((request_id, op), sequence) in &pending.sequences {
        any_bad = true;
        writeln!(out, "{}", incomplete_json(request_id, op, sequence)?)?;
    }
    out.flush()?;
    Ok(if any_bad {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// The chunked sequences the decoder holds, followed from outside it, so that
/// those still incomplete at the end of the input can be named.
#[derive(Debug, Default)]
struct Pending {
    sequences: BTreeMap<(u16, Op), Sequence>,
}

/// What has arrived of one chunked sequence.
#[derive(Debug)]
struct Sequence {
    received: usize,
    total: u16,
    started: Instant,
}

impl Pending {
    /// Follows what the decoder did with `frame`: a stored chunk joins its
    /// sequence, a completed message ends it, and an error that made the
    /// decoder drop a sequence (`dropped`) drops the frame's.
    fn follow(
        &mut self,
        frame: &[u8],
        decoded: &Result<Option<Message<'static>>, haystack_wire::Error>,
        dropped: bool,
    ) {
        let Ok(parsed) = Frame::decode(frame) else {
            return;
        };
        let key = (parsed.request_id(), parsed.op());
        match (decoded, parsed.chunk()) {
            (Ok(None), Some(chunk)) => {
                let sequence = self.sequences.entry(key).or_insert_with(|| Sequence {
                    received: 0,
                    total: chunk.total,
                    started: Instant::now(),
                });
                sequence.received += 1;
            }
            (Ok(Some(_)), _) => {
                self.sequences.remove(&key);
            }
            (Err(_), _) if dropped => {
                self.sequences.remove(&key);
            }
            _ => {}
        }
    }

    /// Forgets the sequences the decoder has let expire: its clock started
    /// them a little earlier, so none is kept here after it is gone there.
    fn expire(&mut self) {
        self.sequences
            .retain(|_, sequence| sequence.started.elapsed() <= defaults::REASSEMBLY_TTL);
    }
}

/// `{"incomplete":{"request_id":N,"op":"NAME","received":N,"total":N},"error":"..."}`.
fn incomplete_json(request_id: &u16, op: &Op, sequence: &Sequence) -> serde_json::Result<String> {
    let words = format!(
        "the input ended with {} of the {} chunks of request {request_id} ({op})",
        sequence.received, sequence.total
    );
    Ok(format!(
        "{{\"incomplete\":{{\"request_id\":{request_id},\"op\":\"{}\",\"received\":{},\"total\":{}}},\"error\":{}}}",
        op.name(),
        sequence.received,
        sequence.total,
        serde_json::to_string(&words)?
    ))
}

/// Reads the next line into `line`, without its end, holding at most `cap`
/// bytes of it. `None` at the end of the input; `Some(false)` when the line
/// was longer than `cap`, in which case its rest is skipped and `line` is empty.
fn read_line_capped(
    input: &mut impl BufRead,
    cap: usize,
    line: &mut Vec<u8>,
) -> std::io::Result<Option<bool>> {
    line.clear();
    let limit = u64::try_from(cap).unwrap_or(u64::MAX).saturating_add(1);
    if input.by_ref().take(limit).read_until(b'\n', line)? == 0 {
        return Ok(None);
    }
    if line.last() == Some(&b'\n') {
        line.pop();
        return Ok(Some(true));
    }
    if line.len() <= cap {
        return Ok(Some(true));
    }
    line.clear();
    loop {
        let buffer = input.fill_buf()?;
        if buffer.is_empty() {
            break;
        }
        match buffer.iter().position(|&b| b == b'\n') {
            Some(end) => {
                input.consume(end + 1);
                break;
            }
            None => {
                let len = buffer.len();
                input.consume(len);
            }
        }
    }
    Ok(Some(false))
}

/// `{"request_id":N,"op":"NAME","flags":N,"payload_hex":"..."}`, keys in that order.
fn message_json(message: &Message<'_>) -> String {
    format!(
        "{{\"request_id\":{},\"op\":\"{}\",\"flags\":{},\"payload_hex\":\"{}\"}}",
        message.request_id,
        message.op.name(),
        message.flags.bits(),
        crate::hex::encode(&message.payload)
    )
}

#[cfg(test)]
mod tests {
    use super::read_line_capped;

    #[test]
    fn long_lines_are_skipped_without_being_held() {
        let mut input = &b"ab\n0123456789\ncd"[..];
        let mut line = Vec::new();
        assert_eq!(read_line_capped(&mut input, 4, &mut line).unwrap(), Some(true));
        assert_eq!(line, b"ab");
        assert_eq!(read_line_capped(&mut input, 4, &mut line).unwrap(), Some(false));
        assert!(line.is_empty() && line.capacity() <= 64);
        assert_eq!(read_line_capped(&mut input, 4, &mut line).unwrap(), Some(true));
        assert_eq!(line, b"cd");
        assert_eq!(read_line_capped(&mut input, 4, &mut line).unwrap(), None);
    }
}
