//! Text helpers shared by every generator: case conversions and line wrapping.

/// `hisRead` → `HisRead`, `chunk_index` → `ChunkIndex`.
pub fn pascal(name: &str) -> String {
    let mut out = String::new();
    let mut upper = true;
    for c in name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// `request_id` → `requestId`; camelCase names stay as they are.
pub fn camel(name: &str) -> String {
    let pascal = pascal(name);
    let mut chars = pascal.chars();
    chars
        .next()
        .map(|first| first.to_ascii_lowercase().to_string() + chars.as_str())
        .unwrap_or_default()
}

/// `hisRead` → `HIS_READ`: the model's neutral naming, which every
/// emitter shares.
pub use crate::model::bindings::shouty;

/// `hisRead` → `his_read`.
pub fn snake(name: &str) -> String {
    shouty(name).to_ascii_lowercase()
}

/// Splits `text` into lines of at most `width` characters (a longer word gets
/// a line of its own). Blank lines in `text` separate paragraphs and come out
/// as empty lines.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    for (i, paragraph) in text.split("\n\n").enumerate() {
        if i > 0 {
            lines.push(String::new());
        }
        let mut line = String::new();
        for word in paragraph.split_whitespace() {
            if !line.is_empty() && line.len() + 1 + word.len() > width {
                lines.push(std::mem::take(&mut line));
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
        if !line.is_empty() {
            lines.push(line);
        }
    }
    lines
}

/// `1 byte`, `4 bytes`.
pub fn bytes(n: usize) -> String {
    if n == 1 {
        "1 byte".to_owned()
    } else {
        format!("{n} bytes")
    }
}

/// `text` as a double-quoted literal that Python, JavaScript and JSON all read
/// back as the same string.
pub fn quoted(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `bytes` in base64url without padding (RFC 4648 section 5), as the text
/// messages carry user names and SCRAM data.
pub fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        // One input byte makes two characters, two make three, three make four.
        for i in 0..=chunk.len() {
            let index = (n >> (18 - 6 * i)) & 0x3F;
            out.push(char::from(ALPHABET[index as usize]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_convert_between_cases() {
        assert_eq!(pascal("hisRead"), "HisRead");
        assert_eq!(pascal("chunk_index"), "ChunkIndex");
        assert_eq!(camel("request_id"), "requestId");
        assert_eq!(camel("hisRead"), "hisRead");
        assert_eq!(shouty("hisRead"), "HIS_READ");
        assert_eq!(shouty("chunk_size"), "CHUNK_SIZE");
        assert_eq!(snake("invokeAction"), "invoke_action");
    }

    #[test]
    fn wrapping_keeps_the_width_and_paragraphs() {
        let text = format!("{} tail\n\nsecond", "word ".repeat(30));
        let lines = wrap(&text, 40);
        assert!(lines.iter().all(|l| l.len() <= 40), "{lines:?}");
        assert_eq!(lines[lines.len() - 2], "");
        assert_eq!(lines.last().map(String::as_str), Some("second"));
    }

    #[test]
    fn base64url_is_unpadded_and_url_safe() {
        assert_eq!(base64url(b""), "");
        assert_eq!(base64url(b"f"), "Zg");
        assert_eq!(base64url(b"fo"), "Zm8");
        assert_eq!(base64url(b"foo"), "Zm9v");
        assert_eq!(base64url(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64url(&[0xFB, 0xFF]), "-_8");
    }

    #[test]
    fn quoting_escapes_what_the_languages_share() {
        assert_eq!(quoted("a \"b\" \\ c\n"), "\"a \\\"b\\\" \\\\ c\\n\"");
        assert_eq!(quoted("\u{1}"), "\"\\u0001\"");
    }
}
