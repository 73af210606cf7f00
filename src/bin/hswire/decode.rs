//! `hswire decode`: hex frames on stdin, one JSON line per complete message.
//!
//! Memory stays bounded whatever arrives: a line longer than the largest frame
//! the decoder accepts is skipped without being held, and the decoder enforces
//! its limits on everything else.

use std::io::{BufRead, Read, Write};
use std::process::ExitCode;

use haystack_wire::{Decoder, Limits, Message};

pub fn run() -> Result<ExitCode, Box<dyn std::error::Error>> {
    let limits = Limits::DEFAULT;
    // Two hex digits a byte, and room for a carriage return and stray spaces.
    let max_line = limits.max_frame.saturating_mul(2).saturating_add(64);
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut decoder = Decoder::new().with_limits(limits);
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
                decoder
                    .decode(&frame)
                    .map(|m| m.map(Message::into_owned))
                    .map_err(|e| e.to_string())
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
    out.flush()?;
    Ok(if any_bad {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
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
