//! `bytes` objects filled from Rust buffers with one copy.

use pyo3::exceptions::PyOverflowError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

/// Payloads from this size on are copied with the GIL released; below it, the
/// cost of releasing the GIL exceeds the copy's.
pub(crate) const RELEASE_GIL_FROM: usize = 64 * 1024;

/// A new `bytes` holding `parts` one after another.
///
/// The object is allocated at its final size and each part is copied into it
/// once; unlike `PyBytes::new_with`, its memory is not zeroed first, a pass
/// over the whole message that would cost about as much as the copy. Large
/// copies run with the GIL released: nothing else can see the object yet.
pub(crate) fn bytes_of<'py, P: AsRef<[u8]> + Sync>(
    py: Python<'py>,
    parts: &[P],
) -> PyResult<Bound<'py, PyBytes>> {
    let len: usize = parts.iter().map(|p| p.as_ref().len()).sum();
    let size = ffi::Py_ssize_t::try_from(len).map_err(|_| {
        PyOverflowError::new_err(format!(
            "a payload of {len} bytes is too large for a bytes object"
        ))
    })?;
    // SAFETY: with a null pointer, `PyBytes_FromStringAndSize` returns a new
    // bytes object of `size` bytes whose contents are not initialised (or
    // null with an exception set, which `from_owned_ptr_or_err` turns into
    // an error). This function holds the only reference to it until it
    // returns, and every one of its `len` bytes is written below first.
    let bytes = unsafe {
        Bound::from_owned_ptr_or_err(py, ffi::PyBytes_FromStringAndSize(std::ptr::null(), size))?
            .downcast_into_unchecked::<PyBytes>()
    };
    // SAFETY: `PyBytes_AsString` of a bytes object is never null and points
    // at its `len` bytes.
    let buffer = Buffer(unsafe { ffi::PyBytes_AsString(bytes.as_ptr()) }.cast::<u8>());
    let fill = move || {
        let buffer = buffer;
        let mut offset = 0;
        for part in parts {
            let part = part.as_ref();
            // SAFETY: the parts' lengths sum to `len`, so each lands within
            // the object's buffer, which does not overlap any part.
            unsafe { std::ptr::copy_nonoverlapping(part.as_ptr(), buffer.0.add(offset), part.len()) };
            offset += part.len();
        }
    };
    if len >= RELEASE_GIL_FROM {
        py.allow_threads(fill);
    } else {
        fill();
    }
    Ok(bytes)
}

/// The buffer of a `bytes` object being filled, handed to the thread that
/// copies into it while the GIL is released.
#[derive(Clone, Copy)]
struct Buffer(*mut u8);

// SAFETY: the object is not yet visible to any other code, so only the one
// thread given the pointer writes through it, and the object outlives the
// copy (`bytes_of` holds it until the copy returns).
unsafe impl Send for Buffer {}
