//! Limits on a Haystack filter's text, checked before anything parses it.
//!
//! A filter comes from a peer (a `read` request's `filter` column) and a
//! filter parser is recursive: each pair of parentheses is one more level of
//! the parser's stack and, once parsed, of every walk over the expression
//! (evaluation, display, drop). A 6 KB filter nesting 3,000 parentheses is
//! enough to overflow a thread's stack and abort the process, so the nesting
//! is counted here, by a scan that does not recurse, before any parser sees
//! the text; the length is bounded too, since every term of a filter is
//! evaluated against every record a read scans.
//!
//! ```
//! use haystack_wire::filter::{FilterError, FilterLimits};
//!
//! let limits = FilterLimits::DEFAULT;
//! assert!(limits.check("point and (temp or humidity)").is_ok());
//!
//! let deep = format!("{}point{}", "(".repeat(3_000), ")".repeat(3_000));
//! assert!(matches!(limits.check(&deep), Err(FilterError::TooDeep { depth: 51, max: 50, .. })));
//! ```
//!
//! Parentheses inside string (`"…"`) and URI (`` `…` ``) literals are not
//! counted; a backslash escapes the next character inside them, as in the
//! Haystack filter grammar.

/// How long and how deeply nested a filter may be.
///
/// The defaults are the reference's (hs_py refuses a filter longer than
/// 10,240 characters or nested deeper than 50 parentheses before it parses
/// it), so that every filter the reference accepts is accepted here and none
/// it refuses is; a server may be stricter, and one with a parser that does
/// not recurse may allow more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FilterLimits {
    /// The most characters (Unicode scalar values, as the reference counts
    /// them) a filter may have.
    pub max_len: usize,
    /// The most parentheses a filter may nest: `(a)` is 1 deep, `((a))` 2.
    pub max_depth: usize,
}

/// Why a filter was refused before it was parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FilterError {
    /// The filter has more characters than allowed. `len` is counted only as
    /// far as needed: it is `max + 1` for any longer filter.
    #[error("the filter is {len} characters long or more; at most {max} are accepted")]
    TooLong {
        /// The characters counted (`max + 1` at most).
        len: usize,
        /// The limit ([`FilterLimits::max_len`]).
        max: usize,
    },
    /// The filter nests parentheses deeper than allowed.
    #[error("the filter nests parentheses {depth} deep at character {at}; at most {max} are accepted")]
    TooDeep {
        /// The depth reached (`max + 1`: the scan stops there).
        depth: usize,
        /// The limit ([`FilterLimits::max_depth`]).
        max: usize,
        /// The character offset of the parenthesis that went too deep.
        at: usize,
    },
}

impl FilterLimits {
    /// The reference's limits: 10,240 characters, 50 levels of parentheses.
    pub const DEFAULT: FilterLimits = FilterLimits {
        max_len: 10_240,
        max_depth: 50,
    };

    /// Checks `text` against the limits, in one pass over its characters
    /// that stops at the first limit passed: the work is bounded by the
    /// limits, not by the text's length, and nothing is allocated.
    pub fn check(&self, text: &str) -> Result<(), FilterError> {
        let mut depth = 0usize;
        // The literal being scanned, by its closing character, and whether
        // the previous character was a backslash inside it.
        let mut literal: Option<char> = None;
        let mut escaped = false;
        for (at, c) in text.chars().enumerate() {
            if at >= self.max_len {
                return Err(FilterError::TooLong {
                    len: at + 1,
                    max: self.max_len,
                });
            }
            match literal {
                Some(close) => {
                    if escaped {
                        escaped = false;
                    } else if c == '\\' {
                        escaped = true;
                    } else if c == close {
                        literal = None;
                    }
                }
                None => match c {
                    '"' | '`' => literal = Some(c),
                    '(' => {
                        depth += 1;
                        if depth > self.max_depth {
                            return Err(FilterError::TooDeep {
                                depth,
                                max: self.max_depth,
                                at,
                            });
                        }
                    }
                    ')' => depth = depth.saturating_sub(1),
                    _ => {}
                },
            }
        }
        Ok(())
    }
}

impl Default for FilterLimits {
    fn default() -> Self {
        FilterLimits::DEFAULT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(depth: usize) -> String {
        format!("{}point{}", "(".repeat(depth), ")".repeat(depth))
    }

    #[test]
    fn a_filter_at_the_limits_passes_and_one_past_them_is_refused() {
        let limits = FilterLimits::DEFAULT;
        assert_eq!(limits.check(&nested(50)), Ok(()));
        assert_eq!(
            limits.check(&nested(51)),
            Err(FilterError::TooDeep {
                depth: 51,
                max: 50,
                at: 50
            })
        );
        let long = "a".repeat(10_240);
        assert_eq!(limits.check(&long), Ok(()));
        assert_eq!(
            limits.check(&format!("{long}a")),
            Err(FilterError::TooLong {
                len: 10_241,
                max: 10_240
            })
        );
    }

    #[test]
    fn length_counts_characters_not_bytes() {
        let limits = FilterLimits {
            max_len: 4,
            max_depth: 50,
        };
        assert_eq!(
            limits.check("dis==\"é\""),
            Err(FilterError::TooLong { len: 5, max: 4 })
        );
        assert_eq!(limits.check("éééé"), Ok(()), "8 bytes, 4 characters");
    }

    #[test]
    fn the_scan_stops_at_the_limit_however_long_the_text() {
        let limits = FilterLimits {
            max_len: 10,
            max_depth: 3,
        };
        let huge = "x".repeat(16 << 20);
        assert_eq!(
            limits.check(&huge),
            Err(FilterError::TooLong { len: 11, max: 10 })
        );
        assert!(matches!(
            limits.check(&"(".repeat(16 << 20)),
            Err(FilterError::TooDeep { depth: 4, .. })
        ));
    }

    #[test]
    fn parentheses_inside_string_and_uri_literals_do_not_count() {
        let limits = FilterLimits {
            max_len: 1_000,
            max_depth: 1,
        };
        assert_eq!(limits.check(r#"(dis == "((((\"((((")"#), Ok(()));
        assert_eq!(limits.check("(uri == `((((\\`((`)"), Ok(()));
        assert!(limits.check(r#"(dis == "a") and ((b))"#).is_err());
    }

    #[test]
    fn closing_parentheses_never_make_the_depth_negative() {
        let limits = FilterLimits {
            max_len: 1_000,
            max_depth: 2,
        };
        assert_eq!(limits.check(")))))(a)"), Ok(()));
        assert!(limits.check(")))(((a)))").is_err());
    }

    #[test]
    fn the_errors_say_which_limit_and_where() {
        let limits = FilterLimits::DEFAULT;
        let deep = limits.check(&nested(3_000)).unwrap_err().to_string();
        assert_eq!(
            deep,
            "the filter nests parentheses 51 deep at character 50; at most 50 are accepted"
        );
        let long = limits.check(&"a".repeat(20_000)).unwrap_err().to_string();
        assert_eq!(
            long,
            "the filter is 10241 characters long or more; at most 10240 are accepted"
        );
    }
}
