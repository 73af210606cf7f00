//! `hswire decode`: hex frames on stdin, one JSON line per complete message.

use std::io::{BufRead, Write};
use std::process::ExitCode;

use haystack_wire::{Decoder, Message};

pub fn run() -> Result<ExitCode, Box<dyn std::error::Error>> {
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut decoder = Decoder::new();
    let mut any_bad = false;
    for (i, line) in stdin.lock().lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let decoded = crate::hex::decode(&line).and_then(|frame| {
            decoder
                .decode(&frame)
                .map(|m| m.map(Message::into_owned))
                .map_err(|e| e.to_string())
        });
        match decoded {
            Ok(Some(message)) => writeln!(out, "{}", message_json(&message))?,
            Ok(None) => {}
            Err(error) => {
                any_bad = true;
                writeln!(
                    out,
                    "{{\"line\":{},\"error\":{}}}",
                    i + 1,
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
