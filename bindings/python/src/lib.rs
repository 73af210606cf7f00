//! `haystack_wire._native`: the crate's codec for Python.

use pyo3::prelude::*;

/// The native module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__doc__", "The native core of haystack_wire.")?;
    Ok(())
}
