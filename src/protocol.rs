//! The wire format, generated at build time from `protocol.yaml`.
//!
//! Flags, op codes, compression ids, header layouts, defaults and the
//! handshake's names all come from the spec; the rest of the crate uses the
//! names defined here and restates none of the values. The generated source is
//! pinned by a snapshot test (`codegen/tests/snapshots/`), so every change to it
//! shows in review.

include!(concat!(env!("OUT_DIR"), "/protocol.rs"));
