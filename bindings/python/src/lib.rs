//! `haystack_wire._native`: the crate's codec for Python.
//!
//! Two surfaces share this module. The functions and `Assembler` serve
//! `haystack_wire.ws_codec`, the drop-in for `hs_py.ws_codec`, which keeps
//! the reference's signatures in Python and calls down here for the bytes.
//! `Encoder` and `Decoder` are the Pythonic API: one of each per connection,
//! keeping their compressor state.
//!
//! Every function takes its input as `bytes` without copying it, does its
//! work with the GIL released, and raises a subclass of `WireError`
//! (a `ValueError`) whose message is the crate's, naming the values at fault.

mod errors;
mod output;
mod segments;

use std::cell::RefCell;
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};
use std::time::{Duration, Instant};

use haystack_wire::protocol::{
    AlgorithmHeader, BaseHeader, Compression, Flags, FrameHeader, HeaderError, Op,
};
use haystack_wire::{ChunkAssembler, Clock, Compressor, Decompressor, Error, Reassembled, SystemClock};
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::{PyBytes, PyList, PyString, PyTuple};

use crate::errors::{chunk_error, to_py};
use crate::output::{bytes_of, RELEASE_GIL_FROM};
use crate::segments::{take_chunk, Segment, Segments};

thread_local! {
    /// One compressor per thread: its zlib state is reused from frame to frame.
    static COMPRESSOR: RefCell<Compressor> = RefCell::new(Compressor::new());
    /// One decompressor per thread, likewise.
    static DECOMPRESSOR: RefCell<Decompressor> = RefCell::new(Decompressor::new());
    /// The buffer each thread decompresses into before the result is copied
    /// into its `bytes`: reused, its pages stay mapped and its room grown.
    static INFLATED: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// The most room a thread's decompression buffer keeps between calls; a
/// larger payload's room is given back once it has been copied out.
const KEEP_INFLATED: usize = 8 << 20;

/// Runs `work` on this thread's emptied decompression buffer, then gives
/// back its room if it grew past [`KEEP_INFLATED`].
fn with_inflated<T>(work: impl FnOnce(&mut Vec<u8>) -> T) -> T {
    INFLATED.with_borrow_mut(|out| {
        out.clear();
        let result = work(out);
        if out.capacity() > KEEP_INFLATED {
            *out = Vec::new();
        }
        result
    })
}

/// The limits a receiver enforces on what a peer sends (the crate's `Limits`).
///
/// Every field is a number of bytes, except `max_chunks` and `max_pending`,
/// which count chunks and sequences.
#[pyclass(module = "haystack_wire._native", get_all, set_all, eq)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Limits {
    /// The largest frame accepted, in bytes on the wire.
    max_frame: usize,
    /// The most bytes one frame's payload may decompress to.
    max_frame_payload: usize,
    /// The most bytes a reassembled message may hold.
    max_message: usize,
    /// The most chunks one message may have.
    max_chunks: usize,
    /// The most incomplete sequences held at once.
    max_pending: usize,
    /// The most payload bytes held across all incomplete sequences.
    max_pending_bytes: usize,
}

const DEFAULT_LIMITS: haystack_wire::Limits = haystack_wire::Limits::DEFAULT;

#[pymethods]
impl Limits {
    /// Limits with the crate's defaults, each overridable by keyword.
    #[new]
    #[pyo3(signature = (
        *,
        max_frame = DEFAULT_LIMITS.max_frame,
        max_frame_payload = DEFAULT_LIMITS.max_frame_payload,
        max_message = DEFAULT_LIMITS.max_message,
        max_chunks = DEFAULT_LIMITS.max_chunks,
        max_pending = DEFAULT_LIMITS.max_pending,
        max_pending_bytes = DEFAULT_LIMITS.max_pending_bytes,
    ))]
    fn new(
        max_frame: usize,
        max_frame_payload: usize,
        max_message: usize,
        max_chunks: usize,
        max_pending: usize,
        max_pending_bytes: usize,
    ) -> Self {
        Limits {
            max_frame,
            max_frame_payload,
            max_message,
            max_chunks,
            max_pending,
            max_pending_bytes,
        }
    }

    fn __repr__(&self) -> String {
        format!(
            "Limits(max_frame={}, max_frame_payload={}, max_message={}, max_chunks={}, max_pending={}, max_pending_bytes={})",
            self.max_frame,
            self.max_frame_payload,
            self.max_message,
            self.max_chunks,
            self.max_pending,
            self.max_pending_bytes
        )
    }
}

impl From<Limits> for haystack_wire::Limits {
    fn from(l: Limits) -> Self {
        haystack_wire::Limits {
            max_frame: l.max_frame,
            max_frame_payload: l.max_frame_payload,
            max_message: l.max_message,
            max_chunks: l.max_chunks,
            max_pending: l.max_pending,
            max_pending_bytes: l.max_pending_bytes,
        }
    }
}

/// The algorithm with id `id`, or the crate's error naming it.
fn algorithm(id: u8) -> Result<Compression, Error> {
    Compression::from_id(id).ok_or(Error::Header(HeaderError::UnknownCompression { id }))
}

/// The op with code `code`, or the crate's error naming it and the frame it was for.
fn op(code: u8, request_id: u16, flags: u8) -> Result<Op, Error> {
    Op::from_code(code).ok_or(Error::Header(HeaderError::UnknownOp {
        code,
        request_id,
        flags: Flags::from_bits(flags),
    }))
}

/// Compresses `data` with algorithm `algorithm` (an id), whatever its size.
#[pyfunction]
fn compress<'py>(py: Python<'py>, data: &[u8], algorithm: u8) -> PyResult<Bound<'py, PyBytes>> {
    let algorithm = self::algorithm(algorithm).map_err(to_py)?;
    let out = py
        .allow_threads(|| {
            let mut out = Vec::new();
            COMPRESSOR.with_borrow_mut(|c| c.compress(algorithm, data, &mut out))?;
            Ok::<_, Error>(out)
        })
        .map_err(to_py)?;
    Ok(PyBytes::new(py, &out))
}

/// Decompresses `data` with algorithm `algorithm` (an id), refusing to write
/// more than `limit` bytes; the stream must end exactly where `data` does.
#[pyfunction]
fn decompress<'py>(
    py: Python<'py>,
    data: &[u8],
    algorithm: u8,
    limit: usize,
) -> PyResult<Bound<'py, PyBytes>> {
    let algorithm = self::algorithm(algorithm).map_err(to_py)?;
    inflate(py, algorithm, data, limit)
}

/// `data` decompressed with `algorithm`, at most `limit` bytes, as `bytes`:
/// decompressed with the GIL released into this thread's reused buffer, then
/// copied once into the `bytes` object.
fn inflate<'py>(
    py: Python<'py>,
    algorithm: Compression,
    data: &[u8],
    limit: usize,
) -> PyResult<Bound<'py, PyBytes>> {
    with_inflated(|out| {
        py.allow_threads(|| DECOMPRESSOR.with_borrow_mut(|d| d.decompress(algorithm, data, limit, out)))
            .map_err(to_py)?;
        bytes_of(py, &[out])
    })
}

/// One frame: `flags` (as given), `request_id`, op code `op`, and `payload`,
/// compressed with `compression` (an id) when it has at least `threshold`
/// bytes, as the reference's encoders do.
#[pyfunction]
#[pyo3(signature = (flags, request_id, op, payload, compression, threshold))]
fn encode_frame<'py>(
    py: Python<'py>,
    flags: u8,
    request_id: u16,
    op: u8,
    payload: &[u8],
    compression: Option<u8>,
    threshold: usize,
) -> PyResult<Bound<'py, PyBytes>> {
    let base = BaseHeader {
        flags: Flags::from_bits(flags),
        request_id,
        op: self::op(op, request_id, flags).map_err(to_py)?,
    };
    let algorithm = compression.map(algorithm).transpose().map_err(to_py)?;
    match algorithm.filter(|_| payload.len() >= threshold) {
        None => {
            let header = FrameHeader::new(base);
            let mut head = Vec::with_capacity(FrameHeader::MAX_LEN);
            header.encode_into(&mut head);
            bytes_of(py, &[&head[..], payload])
        }
        Some(algorithm) => {
            let out = py
                .allow_threads(|| {
                    let header = FrameHeader {
                        algorithm: Some(AlgorithmHeader { algorithm }),
                        ..FrameHeader::new(base)
                    };
                    let mut out = Vec::new();
                    header.encode_into(&mut out);
                    COMPRESSOR.with_borrow_mut(|c| c.compress(algorithm, payload, &mut out))?;
                    Ok::<_, Error>(out)
                })
                .map_err(to_py)?;
            Ok(PyBytes::new(py, &out))
        }
    }
}

/// `frames` as a list of `bytes`.
fn frame_list<'py>(py: Python<'py>, frames: Vec<Vec<u8>>) -> PyResult<Bound<'py, PyList>> {
    PyList::new(py, frames.iter().map(|f| PyBytes::new(py, f)))
}

/// A Python exception raised while frames are emitted, or the crate's error.
struct Raised(PyErr);

impl From<Error> for Raised {
    fn from(e: Error) -> Self {
        Raised(to_py(e))
    }
}

/// The chunked frames of `payload` as a list of `bytes`, made by `encoder`.
///
/// Uncompressed, each frame's header and chunk are copied once, straight
/// into its `bytes`. Compressed, the chunks are compressed with the GIL
/// released, on all cores when `parallel` and there is more than one chunk.
fn chunked_frames<'py>(
    py: Python<'py>,
    encoder: &mut haystack_wire::Encoder,
    base: BaseHeader,
    payload: &[u8],
    chunk_size: usize,
    parallel: bool,
) -> PyResult<Bound<'py, PyList>> {
    if encoder.compression().is_none() {
        let list = PyList::empty(py);
        let mut scratch = Vec::new();
        encoder
            .encode_chunked_parts(base, payload, &mut scratch, |head, chunk| {
                list.append(bytes_of(py, &[head, chunk]).map_err(Raised)?)
                    .map_err(Raised)
            })
            .map_err(|Raised(e)| e)?;
        return Ok(list);
    }
    let frames = py
        .allow_threads(|| {
            if parallel && payload.len() > chunk_size {
                encoder.encode_chunked_parallel(base, payload)
            } else {
                encoder.encode_chunked(base, payload)
            }
        })
        .map_err(to_py)?;
    frame_list(py, frames)
}

/// The chunked frames of `payload`: chunks of `chunk_size` bytes, each
/// compressed on its own with `compression` (an id) when given, on all cores
/// when `parallel` and there is more than one chunk to compress.
#[pyfunction]
#[pyo3(signature = (flags, request_id, op, payload, compression, chunk_size, parallel = true))]
#[allow(clippy::too_many_arguments)]
fn encode_chunked<'py>(
    py: Python<'py>,
    flags: u8,
    request_id: u16,
    op: u8,
    payload: &[u8],
    compression: Option<u8>,
    chunk_size: usize,
    parallel: bool,
) -> PyResult<Bound<'py, PyList>> {
    let base = BaseHeader {
        flags: Flags::from_bits(flags),
        request_id,
        op: self::op(op, request_id, flags).map_err(to_py)?,
    };
    let algorithm = compression.map(algorithm).transpose().map_err(to_py)?;
    let mut encoder = haystack_wire::Encoder::new()
        .with_compression(algorithm)
        .with_chunk_size(chunk_size);
    chunked_frames(py, &mut encoder, base, payload, chunk_size, parallel)
}

/// Reads one frame the way `hs_py.ws_codec.decode_binary_frame` does, under
/// `limits`: `(flags, request_id, op_name, payload)`, the payload
/// decompressed; for a chunked frame, everything after the base header, for
/// `Assembler.feed`.
#[pyfunction]
fn decode_frame<'py>(py: Python<'py>, data: &[u8], limits: Limits) -> PyResult<Bound<'py, PyTuple>> {
    if data.len() > limits.max_frame {
        return Err(to_py(Error::FrameTooLarge {
            len: data.len(),
            limit: limits.max_frame,
        }));
    }
    let (header, payload) = FrameHeader::decode(data).map_err(|e| to_py(e.into()))?;
    let base = header.base;
    let payload = if header.chunk.is_some() {
        bytes_of(py, &[data.get(BaseHeader::LEN..).unwrap_or_default()])?
    } else if let Some(a) = header.algorithm {
        let limit = limits.max_frame_payload.min(limits.max_message);
        inflate(py, a.algorithm, payload, limit)?
    } else {
        bytes_of(py, &[payload])?
    };
    (base.flags.bits(), base.request_id, op_name(py, base.op), payload).into_pyobject(py)
}

/// The clock of an `Assembler`: the system's monotonic clock, unless a sweep
/// at a caller's instant is under way.
#[derive(Debug, Clone, Default)]
struct SweepClock(Arc<Mutex<Option<Instant>>>);

impl Clock for SweepClock {
    fn now(&self) -> Instant {
        match self.0.lock() {
            Ok(at) => at.unwrap_or_else(Instant::now),
            Err(_) => Instant::now(),
        }
    }
}

/// Reassembles chunked frames the way `hs_py.ws_codec.ChunkAssembler` is
/// used, within limits: sequences keyed by (request id, op), a time to live
/// counted from each sequence's first chunk.
#[pyclass(module = "haystack_wire._native")]
struct Assembler {
    inner: ChunkAssembler<SweepClock, Segments>,
    clock: SweepClock,
    ttl: Duration,
    limits: Limits,
}

/// `seconds` as a duration, refusing what is not a finite, non-negative number.
fn duration(seconds: f64, what: &str) -> PyResult<Duration> {
    Duration::try_from_secs_f64(seconds).map_err(|_| {
        pyo3::exceptions::PyValueError::new_err(format!(
            "{what} must be a finite number of seconds >= 0, not {seconds}"
        ))
    })
}

impl Assembler {
    fn fresh(clock: &SweepClock, ttl: Duration, limits: Limits) -> ChunkAssembler<SweepClock, Segments> {
        ChunkAssembler::with_clock(clock.clone())
            .with_ttl(ttl)
            .with_limits(limits.into())
    }

    /// Feeds one chunk; `chunk_data` is everything after the base header.
    fn feed_chunk(
        &mut self,
        flags: u8,
        request_id: u16,
        op: Op,
        chunk_data: PyBackedBytes,
    ) -> Result<Option<Vec<Segment>>, FeedError> {
        let base = BaseHeader {
            flags: Flags::from_bits(flags),
            request_id,
            op,
        };
        if !base.flags.contains(Flags::CHUNKED) {
            return Err(FeedError::NotChunked(flags));
        }
        // The base header, then as much of the rest as the longest header
        // could need: enough to read the sections the flags announce.
        let mut head = [0u8; FrameHeader::MAX_LEN];
        let (front, back) = head.split_at_mut(BaseHeader::LEN);
        front.copy_from_slice(&base.encode());
        let take = back.len().min(chunk_data.len());
        back[..take].copy_from_slice(&chunk_data[..take]);
        let (header, _) = FrameHeader::decode(&head[..BaseHeader::LEN + take]).map_err(Error::from)?;
        let start = header.encoded_len() - BaseHeader::LEN;
        let max_frame_payload = self.limits.max_frame_payload;
        let done = DECOMPRESSOR.with_borrow_mut(|d| {
            take_chunk(&mut self.inner, d, max_frame_payload, &header, chunk_data, start)
        })?;
        Ok(done.map(|r| r.whole))
    }
}

/// Why a chunk was refused.
enum FeedError {
    /// The crate refused it.
    Wire(Error),
    /// Its flags lack the chunked flag.
    NotChunked(u8),
}

impl From<Error> for FeedError {
    fn from(e: Error) -> Self {
        FeedError::Wire(e)
    }
}

#[pymethods]
impl Assembler {
    /// An assembler dropping sequences `ttl_seconds` after their first chunk,
    /// enforcing `limits`.
    #[new]
    fn new(ttl_seconds: f64, limits: Limits) -> PyResult<Self> {
        let ttl = duration(ttl_seconds, "ttl_seconds")?;
        let clock = SweepClock::default();
        Ok(Assembler {
            inner: Assembler::fresh(&clock, ttl, limits),
            clock,
            ttl,
            limits,
        })
    }

    /// Feeds one chunked frame's parts, as `decode_frame` returned them;
    /// returns the whole payload when this chunk completes its sequence.
    fn feed<'py>(
        &mut self,
        py: Python<'py>,
        flags: u8,
        request_id: u16,
        op: &Bound<'py, PyString>,
        chunk_data: Bound<'py, PyBytes>,
    ) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let op = op_of(py, op)?;
        let chunk_data = PyBackedBytes::from(chunk_data);
        let done = py
            .allow_threads(|| self.feed_chunk(flags, request_id, op, chunk_data))
            .map_err(|e| match e {
                FeedError::Wire(e) => to_py(e),
                FeedError::NotChunked(flags) => chunk_error(format!(
                    "A frame with flags {flags:#04x} is not chunked: only chunked frames are fed to an assembler"
                )),
            })?;
        done.map(|parts| bytes_of(py, &parts)).transpose()
    }

    /// Drops the sequences whose first chunk is older than the TTL at the
    /// instant `ahead` seconds from now (negative: in the past).
    fn sweep_at(&mut self, ahead: f64) -> PyResult<usize> {
        if ahead.is_nan() {
            return Err(pyo3::exceptions::PyValueError::new_err(
                "the instant to sweep at is NaN",
            ));
        }
        let now = Instant::now();
        let at = if ahead >= 0.0 {
            Duration::try_from_secs_f64(ahead)
                .ok()
                .and_then(|d| now.checked_add(d))
        } else {
            Duration::try_from_secs_f64(-ahead)
                .ok()
                .and_then(|d| now.checked_sub(d))
        };
        let Some(at) = at else {
            if ahead > 0.0 {
                // Later than any clock reading: every sequence has expired.
                let dropped = self.inner.pending_count();
                self.inner = Assembler::fresh(&self.clock, self.ttl, self.limits);
                return Ok(dropped);
            }
            // Earlier than any sequence: none has expired.
            return Ok(0);
        };
        if let Ok(mut slot) = self.clock.0.lock() {
            *slot = Some(at);
        }
        let dropped = self.inner.sweep_expired();
        if let Ok(mut slot) = self.clock.0.lock() {
            *slot = None;
        }
        Ok(dropped)
    }

    /// How many sequences are incomplete.
    #[getter]
    fn pending_count(&self) -> usize {
        self.inner.pending_count()
    }

    /// How many payload bytes the incomplete sequences hold.
    #[getter]
    fn pending_bytes(&self) -> usize {
        self.inner.pending_bytes()
    }

    /// The limits in force.
    #[getter]
    fn limits(&self) -> Limits {
        self.limits
    }

    /// Replaces the limits; incomplete sequences meet them with their next chunk.
    #[setter]
    fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
        self.inner.set_limits(limits.into());
    }
}

/// The op named `name`, or the error the drop-in raises for it.
fn op_named(name: &str) -> PyResult<Op> {
    Op::from_name(name).ok_or_else(|| errors::unknown_operation(name))
}

/// Each op's name as an interned Python string, with the op.
static OP_NAMES: pyo3::sync::GILOnceCell<Vec<(Py<PyString>, Op)>> = pyo3::sync::GILOnceCell::new();

/// Each op's name as an interned Python string, made once.
fn op_names(py: Python<'_>) -> &[(Py<PyString>, Op)] {
    OP_NAMES.get_or_init(py, || {
        Op::ALL
            .iter()
            .map(|&op| (PyString::intern(py, op.name()).unbind(), op))
            .collect()
    })
}

/// The name of `op` as a Python string: the interned one, without a new object.
fn op_name<'py>(py: Python<'py>, op: Op) -> Bound<'py, PyString> {
    match op_names(py).iter().find(|(_, o)| *o == op) {
        Some((name, _)) => name.bind(py).clone(),
        None => PyString::new(py, op.name()),
    }
}

/// The op named by the Python string `name`. A name written as a literal in
/// Python code is the interned string itself, found by identity without
/// reading its text; any other is read and looked up.
fn op_of(py: Python<'_>, name: &Bound<'_, PyString>) -> PyResult<Op> {
    if let Some((_, op)) = op_names(py)
        .iter()
        .find(|(interned, _)| interned.as_ptr() == name.as_ptr())
    {
        return Ok(*op);
    }
    op_named(&name.to_cow()?)
}

/// `state` locked for this thread. While another thread holds it, this one
/// blocks with the GIL released, so that the holder can take the GIL to
/// finish, then tries again with the GIL held. A lock poisoned by a panic is
/// taken as it is: the codec's state stays consistent between calls, and
/// nothing here panics while holding it.
fn locked<'a, T: Send>(py: Python<'_>, state: &'a Mutex<T>) -> MutexGuard<'a, T> {
    loop {
        match state.try_lock() {
            Ok(guard) => return guard,
            Err(TryLockError::Poisoned(poisoned)) => return poisoned.into_inner(),
            Err(TryLockError::WouldBlock) => py.allow_threads(|| {
                // Waits for the holder to let go; the lock is taken for real
                // above, where the GIL is held again.
                drop(state.lock());
            }),
        }
    }
}

/// Encodes messages into frames; one per connection, keeping its compressor.
///
/// `compression` is an algorithm id or `None`; single frames are compressed
/// from `threshold` bytes on, chunks always. Threads may share one encoder:
/// their calls take turns.
#[pyclass(module = "haystack_wire._native", frozen)]
struct Encoder {
    inner: Mutex<haystack_wire::Encoder>,
    compression: Option<Compression>,
    threshold: usize,
    chunk_size: usize,
}

impl Encoder {
    /// One frame of `payload`. Below the compression threshold (or without
    /// compression) the frame is written straight into its `bytes`, with the
    /// GIL held unless the payload is large; compressed, it is made with the
    /// GIL released by the encoder's compressor.
    fn frame<'py>(&self, py: Python<'py>, base: BaseHeader, payload: &[u8]) -> PyResult<Bound<'py, PyBytes>> {
        if self.compression.is_none() || payload.len() < self.threshold {
            // A v1 frame: the base header, its flags as they go on the wire, then the payload.
            let head = BaseHeader {
                flags: FrameHeader::new(base).wire_flags(),
                ..base
            }
            .encode();
            return bytes_of(py, &[&head[..], payload]);
        }
        let encoder: &mut haystack_wire::Encoder = &mut locked(py, &self.inner);
        let frame = py
            .allow_threads(|| encoder.encode(base, payload))
            .map_err(to_py)?;
        Ok(PyBytes::new(py, &frame))
    }
}

#[pymethods]
impl Encoder {
    /// An encoder with the spec's defaults unless given.
    #[new]
    #[pyo3(signature = (compression = None, *, threshold = haystack_wire::protocol::defaults::COMPRESS_THRESHOLD, chunk_size = haystack_wire::protocol::defaults::CHUNK_SIZE))]
    fn new(compression: Option<u8>, threshold: usize, chunk_size: usize) -> PyResult<Self> {
        let algorithm = compression.map(algorithm).transpose().map_err(to_py)?;
        Ok(Encoder {
            inner: Mutex::new(
                haystack_wire::Encoder::new()
                    .with_compression(algorithm)
                    .with_threshold(threshold)
                    .with_chunk_size(chunk_size),
            ),
            compression: algorithm,
            threshold,
            chunk_size,
        })
    }

    /// A request frame.
    fn request<'py>(
        &self,
        py: Python<'py>,
        request_id: u16,
        op: &Bound<'py, PyString>,
        payload: &[u8],
    ) -> PyResult<Bound<'py, PyBytes>> {
        self.frame(py, BaseHeader::request(request_id, op_of(py, op)?), payload)
    }

    /// A response frame; an error response when `is_error`.
    #[pyo3(signature = (request_id, op, payload, *, is_error = false))]
    fn response<'py>(
        &self,
        py: Python<'py>,
        request_id: u16,
        op: &Bound<'py, PyString>,
        payload: &[u8],
        is_error: bool,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let op = op_of(py, op)?;
        let base = if is_error {
            BaseHeader::error_response(request_id, op)
        } else {
            BaseHeader::response(request_id, op)
        };
        self.frame(py, base, payload)
    }

    /// A push frame.
    fn push<'py>(
        &self,
        py: Python<'py>,
        op: &Bound<'py, PyString>,
        payload: &[u8],
    ) -> PyResult<Bound<'py, PyBytes>> {
        self.frame(py, BaseHeader::push(op_of(py, op)?), payload)
    }

    /// The chunked frames of `payload`, with `flags` (the response, error and
    /// push bits) on each; chunks compressed on all cores when `parallel`.
    #[pyo3(signature = (flags, request_id, op, payload, *, parallel = true))]
    fn chunked<'py>(
        &self,
        py: Python<'py>,
        flags: u8,
        request_id: u16,
        op: &str,
        payload: &[u8],
        parallel: bool,
    ) -> PyResult<Bound<'py, PyList>> {
        let base = BaseHeader {
            flags: Flags::from_bits(flags),
            request_id,
            op: op_named(op)?,
        };
        let encoder: &mut haystack_wire::Encoder = &mut locked(py, &self.inner);
        chunked_frames(py, encoder, base, payload, self.chunk_size, parallel)
    }
}

/// Turns the frames of one connection into messages, within limits.
///
/// `decode` returns `(flags, request_id, op, payload)` for each complete
/// message (the flags without the compressed and chunked bits), and `None`
/// for a chunk that does not complete its sequence. Threads may share one
/// decoder: their frames are decoded one at a time, in the order their calls
/// take the decoder.
#[pyclass(module = "haystack_wire._native", frozen)]
struct Decoder {
    inner: Mutex<Connection>,
}

/// What a `Decoder` keeps for its connection.
struct Connection {
    /// Reads the frames that are not chunks.
    plain: haystack_wire::Decoder,
    /// Reassembles the chunks, keeping the ones not compressed in the
    /// `bytes` they came in.
    chunks: ChunkAssembler<SystemClock, Segments>,
    /// Decompresses the chunks.
    decompressor: Decompressor,
    /// The buffer compressed frames that are not chunks are decompressed
    /// into before their `bytes` are made: reused, up to [`KEEP_INFLATED`].
    inflated: Vec<u8>,
    limits: haystack_wire::Limits,
}

impl Connection {
    /// Reads one chunk, held in `frame`, into its sequence.
    fn chunk(&mut self, frame: PyBackedBytes) -> Result<Option<Reassembled<Vec<Segment>>>, Error> {
        if frame.len() > self.limits.max_frame {
            return Err(Error::FrameTooLarge {
                len: frame.len(),
                limit: self.limits.max_frame,
            });
        }
        let (header, payload) = FrameHeader::decode(&frame)?;
        let start = frame.len() - payload.len();
        take_chunk(
            &mut self.chunks,
            &mut self.decompressor,
            self.limits.max_frame_payload,
            &header,
            frame,
            start,
        )
    }
}

#[pymethods]
impl Decoder {
    /// A decoder with `limits` (default: the crate's) and a reassembly TTL
    /// (default: the spec's).
    #[new]
    #[pyo3(signature = (limits = None, *, ttl_seconds = None))]
    fn new(limits: Option<Limits>, ttl_seconds: Option<f64>) -> PyResult<Self> {
        let limits = limits.map_or(haystack_wire::Limits::DEFAULT, Into::into);
        let mut plain = haystack_wire::Decoder::new().with_limits(limits);
        let mut chunks = ChunkAssembler::with_clock(SystemClock).with_limits(limits);
        if let Some(seconds) = ttl_seconds {
            let ttl = duration(seconds, "ttl_seconds")?;
            plain = plain.with_ttl(ttl);
            chunks = chunks.with_ttl(ttl);
        }
        Ok(Decoder {
            inner: Mutex::new(Connection {
                plain,
                chunks,
                decompressor: Decompressor::new(),
                inflated: Vec::new(),
                limits,
            }),
        })
    }

    /// Feeds one frame; returns the message it completes, if any.
    fn decode<'py>(
        &self,
        py: Python<'py>,
        frame: Bound<'py, PyBytes>,
    ) -> PyResult<Option<Bound<'py, PyTuple>>> {
        let connection: &mut Connection = &mut locked(py, &self.inner);
        let flags = Flags::from_bits(frame.as_bytes().first().copied().unwrap_or_default());
        if flags.contains(Flags::CHUNKED) {
            let frame = PyBackedBytes::from(frame);
            let done = if flags.contains(Flags::COMPRESSED) || frame.len() >= RELEASE_GIL_FROM {
                py.allow_threads(|| connection.chunk(frame))
            } else {
                connection.chunk(frame)
            }
            .map_err(to_py)?;
            return done
                .map(|r| {
                    (
                        r.flags.bits(),
                        r.request_id,
                        op_name(py, r.op),
                        bytes_of(py, &r.whole)?,
                    )
                        .into_pyobject(py)
                })
                .transpose();
        }
        let frame = frame.as_bytes();
        let Connection { plain, inflated, .. } = connection;
        // Releasing the GIL costs more than reading a small plain frame.
        let message = if flags.contains(Flags::COMPRESSED) || frame.len() >= RELEASE_GIL_FROM {
            py.allow_threads(|| plain.decode_with(frame, inflated))
        } else {
            plain.decode_with(frame, inflated)
        }
        .map_err(to_py)?;
        let message = message
            .map(|m| {
                (
                    m.flags.bits(),
                    m.request_id,
                    op_name(py, m.op),
                    bytes_of(py, &[&m.payload])?,
                )
                    .into_pyobject(py)
            })
            .transpose();
        if inflated.capacity() > KEEP_INFLATED {
            *inflated = Vec::new();
        }
        message
    }

    /// How many sequences are incomplete.
    #[getter]
    fn pending_count(&self, py: Python<'_>) -> usize {
        locked(py, &self.inner).chunks.pending_count()
    }

    /// How many payload bytes the incomplete sequences hold.
    #[getter]
    fn pending_bytes(&self, py: Python<'_>) -> usize {
        locked(py, &self.inner).chunks.pending_bytes()
    }

    /// Drops the incomplete sequences whose first chunk is older than the
    /// TTL, and returns how many there were. Decoding sweeps as chunks
    /// arrive; call this on a timer when none may.
    fn sweep_expired(&self, py: Python<'_>) -> usize {
        let connection: &mut Connection = &mut locked(py, &self.inner);
        py.allow_threads(|| connection.chunks.sweep_expired())
    }
}

/// The native module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    errors::register(m)?;
    m.add_class::<Limits>()?;
    m.add_class::<Assembler>()?;
    m.add_class::<Encoder>()?;
    m.add_class::<Decoder>()?;
    m.add_function(wrap_pyfunction!(compress, m)?)?;
    m.add_function(wrap_pyfunction!(decompress, m)?)?;
    m.add_function(wrap_pyfunction!(encode_frame, m)?)?;
    m.add_function(wrap_pyfunction!(encode_chunked, m)?)?;
    m.add_function(wrap_pyfunction!(decode_frame, m)?)?;
    Ok(())
}
