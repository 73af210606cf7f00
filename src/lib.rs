//! The Project Haystack binary WebSocket frame format, as spoken by `hs_py`
//! (haystack-py) in binary mode, generated from `protocol.yaml`.
//!
//! A frame is a 4-byte base header (flags, request id, op code), an algorithm
//! byte when the payload is compressed (zlib or raw LZMA2), a chunk header when
//! the payload is one chunk of a larger one, then the payload. The layout, the
//! flags, the op codes, the algorithms and the defaults are written once, in
//! `protocol.yaml`; the [`protocol`] module is generated from it at build time
//! and every other module uses its names.
//!
//! - [`Encoder`] builds frames byte-identical to the reference's: single frames
//!   (compressed from a threshold on) and chunked sequences.
//! - [`Decoder`] reads frames, decompresses under a cap and reassembles chunked
//!   sequences, borrowing the payload when no work is needed.
//! - [`Frame`] is the zero-copy view of one frame; [`protocol::FrameHeader`]
//!   its header.
//! - [`filter::FilterLimits`] bound a Haystack filter's length and nesting
//!   before any parser sees it.
//! - [`Limits`] bound what a peer can make a decoder hold: frame and message
//!   sizes, decompressed sizes, chunks per message, pending sequences and
//!   their bytes. Every refusal is a typed [`Error`] whose
//!   [`scope`](Error::scope) says whether to answer the request with an error
//!   frame or to close the connection.
//!
//! ```
//! use haystack_wire::{BaseHeader, Compression, Decoder, Encoder, Op};
//!
//! let payload = br#"{"_kind":"grid","meta":{"ver":"3.0"},"cols":[],"rows":[]}"#.repeat(40);
//! let mut encoder = Encoder::new()
//!     .with_compression(Some(Compression::Zlib))
//!     .with_chunk_size(512);
//! let frames = encoder.encode_chunked(BaseHeader::response(9, Op::Read), &payload)?;
//!
//! let mut decoder = Decoder::new();
//! let mut messages = Vec::new();
//! for frame in &frames {
//!     messages.extend(decoder.decode(frame)?.map(|m| m.into_owned()));
//! }
//! assert_eq!(messages.len(), 1);
//! assert_eq!(messages[0].payload, payload);
//! # Ok::<(), haystack_wire::Error>(())
//! ```
//!
//! # Features
//!
//! None is on by default; the codec above needs none of them. The items
//! each feature adds are labelled with it in the API docs.
//!
//! - `tokio`: the `connection` module, a client and a server over
//!   tokio-tungstenite, with the capability handshake, JSON text messages and
//!   batches, pushes, SCRAM-SHA-256 login and limits on what a peer can hold.
//! - `libhaystack`: the `hayson` module, grid payloads as libhaystack
//!   values (Haystack 4 JSON, the reference's `"NaN"` and `"INF"` included);
//!   with `tokio`, the client's typed helpers for the standard ops.
//! - `rayon`: `Encoder::encode_chunked_parallel`, the chunks of one payload
//!   compressed on rayon's thread pool, with the same bytes as
//!   [`Encoder::encode_chunked`].
//! - `zlib-rs`: `ZlibBackend::ZlibRs`, a faster zlib compressor whose bytes
//!   differ from the reference's (any zlib reader reads them).
//! - `tls`: TLS for the connection layer with rustls (`wss://` clients, TLS
//!   servers, client certificates); turns on `tokio`.
//!
//! # Tools
//!
//! - `hswire` (its own crate, `cargo install hswire`): `encode` a payload
//!   into hex frames, `decode` hex frames into JSON messages, `inspect` one
//!   frame field by field, `serve` a sample site or a site file of records,
//!   `call` a server with one request or a batch, and manage the users file
//!   of `serve --users` with `user`.
//! - `haystack-wire-codegen` (its own crate, the build dependency that
//!   generates [`protocol`]): validates `protocol.yaml`, writes the Python
//!   and JavaScript bindings and the Markdown protocol reference, and checks
//!   a new spec against the released one (`compat`).

#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod assembler;
mod clock;
pub mod compression;
#[cfg(feature = "tokio")]
pub mod connection;
pub mod fields;
pub mod filter;
#[cfg(feature = "libhaystack")]
pub mod hayson;
pub mod protocol;

mod decode;
mod encode;
mod error;
mod frame;
mod limits;
mod message;

pub use assembler::{ChunkAssembler, ChunkStore, Contiguous, Reassembled};
pub use clock::{Clock, ManualClock, SystemClock};
pub use compression::{Compressor, Decompressor, ZlibBackend};
pub use decode::Decoder;
pub use encode::{unknown_op_response, unknown_op_response_into, Encoder};
pub use error::{Error, ErrorScope};
pub use frame::{Frame, FrameKind};
pub use limits::Limits;
pub use message::Message;
pub use protocol::{BaseHeader, Compression, Flags, FrameHeader, Op};

/// The README's Rust examples, compiled (and the codec's run) as doc tests.
/// They use the connection layer, libhaystack grids and TLS, so they are
/// built when those features are on, as the README's test command has them.
#[cfg(all(doctest, feature = "tokio", feature = "libhaystack", feature = "tls"))]
#[doc = include_str!("../README.md")]
pub struct ReadmeExamples;
