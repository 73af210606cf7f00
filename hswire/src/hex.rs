//! Lowercase hex, the CLI's text form of frames.

use std::fmt::Write;

/// `bytes` as lowercase hex.
pub fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        // Writing into a String cannot fail.
        let _ = write!(out, "{byte:02x}");
    }
    out
}

/// Hex text (either case, surrounding whitespace ignored) as bytes.
pub fn decode(text: &[u8]) -> Result<Vec<u8>, String> {
    let text = text.trim_ascii();
    if !text.len().is_multiple_of(2) {
        return Err(format!("hex text has an odd number of digits ({})", text.len()));
    }
    text.chunks(2)
        .enumerate()
        .map(|(i, pair)| {
            let digit = |c: u8| (c as char).to_digit(16);
            match (digit(pair[0]), digit(pair[1])) {
                (Some(high), Some(low)) => Ok((high * 16 + low) as u8),
                _ => Err(format!(
                    "invalid hex digit at position {}: {:?}",
                    i * 2,
                    String::from_utf8_lossy(pair)
                )),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn round_trips_and_rejects_bad_text() {
        assert_eq!(super::encode(&[0x00, 0x0a, 0xff]), "000aff");
        assert_eq!(super::decode(b" 000AfF\n"), Ok(vec![0x00, 0x0a, 0xff]));
        assert!(super::decode(b"abc").is_err());
        assert!(super::decode(b"zz").is_err());
    }
}
