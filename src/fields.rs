//! A frame's header, field by field, for tools that show frames to people.
//!
//! Walks the generated layout table, so it follows whatever protocol.yaml says.

use crate::protocol::{Compression, Flags, Op};
use crate::protocol::{FieldLayout, FieldRole, HeaderSection, FIELDS};

/// One header field located in a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldView<'a> {
    /// The field's place in the layout.
    pub layout: &'static FieldLayout,
    /// Where the field starts, from the start of the frame.
    pub offset: usize,
    /// The field's bytes; `None` when the frame ends before them.
    pub bytes: Option<&'a [u8]>,
}

impl FieldView<'_> {
    /// `section.field`, e.g. `base.flags`.
    pub fn name(&self) -> String {
        format!("{}.{}", self.layout.section, self.layout.name)
    }

    /// The field as an unsigned big-endian integer, if its bytes are there.
    pub fn value(&self) -> Option<u64> {
        self.bytes
            .map(|b| b.iter().fold(0, |v, &byte| v << 8 | u64::from(byte)))
    }

    /// What the value means: flag names, the op's or the algorithm's name, or the number.
    pub fn meaning(&self) -> String {
        let Some(value) = self.value() else {
            return "missing".to_owned();
        };
        let byte = u8::try_from(value).ok();
        match self.layout.role {
            FieldRole::Flags => byte.map_or_else(|| value.to_string(), |b| Flags::from_bits(b).to_string()),
            FieldRole::Op => byte
                .and_then(Op::from_code)
                .map_or_else(|| format!("unknown op code {value}"), |op| op.to_string()),
            FieldRole::Compression => byte
                .and_then(Compression::from_id)
                .map_or_else(|| format!("unknown algorithm {value}"), |c| c.to_string()),
            FieldRole::RequestId | FieldRole::ChunkIndex | FieldRole::ChunkTotal => value.to_string(),
        }
    }
}

/// The header fields of `frame` in wire order: the base header's, then those
/// of each section the flags byte announces. Stops after the first field the
/// frame is too short for.
pub fn header_fields(frame: &[u8]) -> Vec<FieldView<'_>> {
    let flags = frame.first().map(|&b| Flags::from_bits(b)).unwrap_or_default();
    let mut views = Vec::with_capacity(FIELDS.len());
    let mut section_start = 0;
    for section in HeaderSection::ALL {
        if section.present_when().is_some_and(|flag| !flags.contains(flag)) {
            continue;
        }
        for layout in FIELDS.iter().filter(|f| f.section == section) {
            let offset = section_start + layout.offset;
            let bytes = frame.get(offset..offset + layout.size);
            views.push(FieldView {
                layout,
                offset,
                bytes,
            });
            if bytes.is_none() {
                return views;
            }
        }
        section_start += section.encoded_len();
    }
    views
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::Encoder;
    use crate::protocol::BaseHeader;

    #[test]
    fn fields_follow_the_flags_and_stop_where_the_frame_ends() {
        let frame = Encoder::new()
            .with_compression(Some(Compression::Lzma))
            .with_threshold(0)
            .encode(BaseHeader::push(Op::WatchPoll), b"{}")
            .unwrap();
        let names: Vec<String> = header_fields(&frame).iter().map(FieldView::name).collect();
        assert_eq!(
            names,
            ["base.flags", "base.request_id", "base.op", "algorithm.algorithm"]
        );
        let meanings: Vec<String> = header_fields(&frame).iter().map(FieldView::meaning).collect();
        assert_eq!(meanings, ["push | compressed", "0", "watchPoll", "lzma"]);

        let cut = header_fields(&frame[..2]);
        assert_eq!(cut.len(), 2);
        assert_eq!(cut[1].bytes, None);
        assert_eq!(cut[1].meaning(), "missing");
    }
}
