//! The Python exceptions, and the crate's errors mapped onto them.
//!
//! Every exception derives from `WireError`, itself a `ValueError`, so code
//! written for `hs_py.ws_codec` (which raises `ValueError`) catches them all.
//! The message is the crate's, which names the limit and the values at fault,
//! starting with a capital letter.

use haystack_wire::protocol::{HeaderError as CrateHeaderError, HeaderSection};
use haystack_wire::Error;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

pyo3::create_exception!(
    haystack_wire._native,
    WireError,
    PyValueError,
    "A frame, a payload or a chunk was refused, or could not be made."
);
pyo3::create_exception!(
    haystack_wire._native,
    HeaderError,
    WireError,
    "A frame's header cannot be read: too short, an unknown op code or algorithm, or flag bits no version assigns."
);
pyo3::create_exception!(
    haystack_wire._native,
    UnknownOperation,
    WireError,
    "An op name the protocol does not have."
);
pyo3::create_exception!(
    haystack_wire._native,
    LimitExceeded,
    WireError,
    "A frame, payload, message or the pending chunks would pass a limit."
);
pyo3::create_exception!(
    haystack_wire._native,
    DecompressionError,
    WireError,
    "A compressed payload is corrupt, truncated or followed by extra bytes."
);
pyo3::create_exception!(
    haystack_wire._native,
    ChunkError,
    WireError,
    "A chunk does not fit its sequence: a total of 0, an index out of range, a duplicate or changed flags."
);
pyo3::create_exception!(
    haystack_wire._native,
    EncodeError,
    WireError,
    "A payload could not be encoded: a chunk size of 0, too many chunks, or a failing compressor."
);

/// Adds the exceptions to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("WireError", py.get_type::<WireError>())?;
    m.add("HeaderError", py.get_type::<HeaderError>())?;
    m.add("UnknownOperation", py.get_type::<UnknownOperation>())?;
    m.add("LimitExceeded", py.get_type::<LimitExceeded>())?;
    m.add("DecompressionError", py.get_type::<DecompressionError>())?;
    m.add("ChunkError", py.get_type::<ChunkError>())?;
    m.add("EncodeError", py.get_type::<EncodeError>())?;
    Ok(())
}

/// `message` with its first letter in upper case, as Python messages go.
fn sentence(message: String) -> String {
    let mut chars = message.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => message,
    }
}

/// The exception for one of the crate's errors.
pub fn to_py(error: Error) -> PyErr {
    let message = sentence(error.to_string());
    match error {
        // The reference says "missing algorithm byte"; its tests look for it.
        Error::Header(CrateHeaderError::Truncated {
            section: HeaderSection::Algorithm,
            ..
        }) => HeaderError::new_err(format!("Compressed frame missing algorithm byte: {}", error)),
        Error::Header(_) => HeaderError::new_err(message),
        Error::FrameTooLarge { .. }
        | Error::DecompressedTooLarge { .. }
        | Error::ChunkTotalTooLarge { .. }
        | Error::TooManyPending { .. }
        | Error::PendingBytesExceeded { .. }
        | Error::MessageTooLarge { .. } => LimitExceeded::new_err(message),
        Error::CorruptCompressed { .. }
        | Error::TruncatedCompressed { .. }
        | Error::TrailingCompressed { .. } => DecompressionError::new_err(message),
        Error::ZeroChunkTotal { .. }
        | Error::ChunkIndexOutOfRange { .. }
        | Error::DuplicateChunk { .. }
        | Error::InconsistentChunk { .. } => ChunkError::new_err(message),
        Error::ZeroChunkSize | Error::TooManyChunks { .. } | Error::CompressionFailed { .. } => {
            EncodeError::new_err(message)
        }
        // The crate may add errors; until this binding names them, they are wire errors.
        _ => WireError::new_err(message),
    }
}

/// A `ChunkError` with `message`.
pub fn chunk_error(message: String) -> PyErr {
    ChunkError::new_err(message)
}

/// The error for an op name the protocol does not have; the reference's
/// tests look for "Unknown operation".
pub fn unknown_operation(name: &str) -> PyErr {
    UnknownOperation::new_err(format!(
        "Unknown operation {name:?}: the protocol has no op of that name"
    ))
}
