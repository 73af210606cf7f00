//! What the tool writes, in words a person reads: stdout that may be closed
//! under it (`hswire inspect f | head -1`), and I/O errors without their
//! `(os error N)` tail.

use std::error::Error;
use std::io::{self, ErrorKind, Write};

/// Writes `text` to stdout and flushes it. A reader that has gone shows as an
/// [`ErrorKind::BrokenPipe`] error, which [`is_broken_pipe`] recognises.
pub fn print(text: &str) -> io::Result<()> {
    let mut stdout = io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()
}

/// Whether `error`, or an error under it, is a write to a pipe whose reader
/// has gone: not a failure of the tool, so it ends quietly.
pub fn is_broken_pipe(error: &(dyn Error + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(error) = next {
        if error
            .downcast_ref::<io::Error>()
            .is_some_and(|error| error.kind() == ErrorKind::BrokenPipe)
        {
            return true;
        }
        next = error.source();
    }
    false
}

/// An I/O error in words: `No such file or directory`, not
/// `No such file or directory (os error 2)`.
pub fn io_words(error: &io::Error) -> String {
    let text = error.to_string();
    match error.raw_os_error() {
        Some(code) => text
            .strip_suffix(&format!(" (os error {code})"))
            .map_or_else(|| text.clone(), str::to_owned),
        None => text,
    }
}

/// A users-file error in words, the file named and the I/O error without its
/// `(os error N)` tail.
pub fn users_words(error: &haystack_wire::connection::UsersError) -> String {
    use haystack_wire::connection::UsersError;
    match error {
        UsersError::Read { path, source } => {
            format!(
                "cannot read the users file {}: {}",
                path.display(),
                io_words(source)
            )
        }
        UsersError::Write { path, source } => {
            format!(
                "cannot write the users file {}: {}",
                path.display(),
                io_words(source)
            )
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::io::{self, ErrorKind};

    use super::{io_words, is_broken_pipe};

    #[test]
    fn an_os_error_is_told_without_its_number() {
        let error = io::Error::from_raw_os_error(2);
        assert!(!io_words(&error).contains("os error"), "{}", io_words(&error));
        assert!(!io_words(&error).is_empty());
    }

    #[test]
    fn a_broken_pipe_is_recognised_inside_a_boxed_error() {
        let boxed: Box<dyn std::error::Error> = io::Error::from(ErrorKind::BrokenPipe).into();
        assert!(is_broken_pipe(boxed.as_ref()));
        let other: Box<dyn std::error::Error> = io::Error::from(ErrorKind::NotFound).into();
        assert!(!is_broken_pipe(other.as_ref()));
    }
}
