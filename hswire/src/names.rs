//! Command-line parsers for the protocol's named values: a name that names
//! nothing is answered with the list of those that do.

use haystack_wire::{Compression, Op};

/// An op by its Haystack name (e.g. `read`, `hisRead`).
pub fn op(text: &str) -> Result<Op, String> {
    Op::from_name(text).ok_or_else(|| unknown("op", "ops", text, Op::ALL.iter().map(|op| op.name())))
}

/// A compression algorithm by its name (e.g. `zlib`).
pub fn compression(text: &str) -> Result<Compression, String> {
    Compression::from_name(text).ok_or_else(|| {
        unknown(
            "compression algorithm",
            "algorithms",
            text,
            Compression::ALL.iter().map(|algorithm| algorithm.name()),
        )
    })
}

/// ``no op is named `x`; the ops are: a, b, c``.
fn unknown<'a>(what: &str, plural: &str, text: &str, names: impl Iterator<Item = &'a str>) -> String {
    let names: Vec<&str> = names.collect();
    format!(
        "no {what} is named `{text}`; the {plural} are: {}",
        names.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use haystack_wire::{Compression, Op};

    #[test]
    fn every_name_parses_and_an_unknown_one_lists_them_all() {
        for op in Op::ALL {
            assert_eq!(super::op(op.name()), Ok(op));
        }
        let error = super::op("reed").unwrap_err();
        assert!(Op::ALL.iter().all(|op| error.contains(op.name())), "{error}");
        for algorithm in Compression::ALL {
            assert_eq!(super::compression(algorithm.name()), Ok(algorithm));
        }
        let error = super::compression("gzip").unwrap_err();
        assert!(
            Compression::ALL
                .iter()
                .all(|algorithm| error.contains(algorithm.name())),
            "{error}"
        );
    }
}
