"""A drop-in for ``hs_py.ws_codec`` that does not trust its peer.

Every public name of the reference's module is here, with its signature and
defaults, so that the reference's WebSocket server and client run on this
codec once it stands in for theirs::

    import sys
    import haystack_wire.ws_codec

    sys.modules["hs_py.ws_codec"] = haystack_wire.ws_codec  # before hs_py is imported

The frames are the reference's, byte for byte. Where the reference takes
its peer at its word, this module does not: decompression stops at
``LIMITS.max_frame_payload`` bytes, a ``ChunkAssembler`` holds a bounded
number of sequences, chunks and bytes, and a chunk total of 0, an index past
the total, a repeated chunk or a chunk whose flags or compression differ from
its sequence's are refused. Every refusal is a ``ValueError`` (a subclass of
:class:`haystack_wire.WireError`) whose message names the limit or the values
at fault. Frames that set flag bits no version assigns are refused too.

The constants come from :mod:`haystack_wire.protocol`, which is generated
from the protocol's spec.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Optional

from haystack_wire import _native, protocol
from haystack_wire._native import Limits

if TYPE_CHECKING:
    from hs_py.grid import Grid

__all__ = [
    "CHUNK_SIZE",
    "CHUNK_THRESHOLD",
    "CODE_OPS",
    "COMPRESS_THRESHOLD",
    "COMP_LZMA",
    "COMP_ZLIB",
    "FLAG_CHUNKED",
    "FLAG_COMPRESSED",
    "FLAG_ERROR",
    "FLAG_PUSH",
    "FLAG_RESPONSE",
    "LIMITS",
    "OP_CODES",
    "ChunkAssembler",
    "Limits",
    "compress_payload",
    "decode_binary_frame",
    "decompress_payload",
    "encode_binary_push",
    "encode_binary_request",
    "encode_binary_response",
    "encode_chunked_frames",
]

FLAG_RESPONSE: int = protocol.FLAG_RESPONSE
"""The frame answers a request."""

FLAG_ERROR: int = protocol.FLAG_ERROR
"""The response carries an error grid."""

FLAG_PUSH: int = protocol.FLAG_PUSH
"""The server sent the frame unasked."""

FLAG_COMPRESSED: int = protocol.FLAG_COMPRESSED
"""The payload is compressed; the algorithm byte follows the base header."""

FLAG_CHUNKED: int = protocol.FLAG_CHUNKED
"""The frame is one chunk of a sequence; the chunk header follows."""

COMP_ZLIB: int = protocol.COMP_ZLIB
"""The zlib algorithm id."""

COMP_LZMA: int = protocol.COMP_LZMA
"""The raw LZMA2 algorithm id."""

COMPRESS_THRESHOLD: int = protocol.COMPRESS_THRESHOLD
"""Payloads of at least this many bytes are compressed when compression is on."""

CHUNK_SIZE: int = protocol.CHUNK_SIZE
"""The most payload bytes one chunk carries, before compression."""

CHUNK_THRESHOLD: int = protocol.CHUNK_THRESHOLD
"""Payloads larger than this are sent chunked, when chunking was agreed."""

OP_CODES: dict[str, int] = dict(protocol.OP_CODES)
"""Op names to op codes."""

CODE_OPS: dict[int, str] = dict(protocol.CODE_OPS)
"""Op codes to op names."""

LIMITS: Limits = Limits()
"""The limits this module enforces on what a peer sends.

Change its fields to change them for every later call; a
:class:`ChunkAssembler` takes a copy when it is made, and each of its
limits may also be given when making it.
"""

_TTL_DEFAULT: float = float(protocol.REASSEMBLY_TTL)


def _require_opcode(op: str) -> int:
    code = OP_CODES.get(op)
    if code is None:
        raise _native.UnknownOperation(f"Unknown operation {op!r}: the protocol has no op of that name")
    return code


def _algorithm_id(algorithm: int) -> int:
    if algorithm not in protocol.COMPRESSION_NAMES:
        raise _native.HeaderError(
            f"Unknown compression algorithm {algorithm!r}: the ids are {sorted(protocol.COMPRESSION_NAMES)}"
        )
    return algorithm


def compress_payload(
    data: bytes,
    algorithm: int = COMP_ZLIB,
    threshold: int = COMPRESS_THRESHOLD,
) -> tuple[bytes, Optional[int]]:
    """Compresses *data* with *algorithm* when it has at least *threshold* bytes.

    Returns ``(payload, algorithm)``; below the threshold, *data* itself and
    ``None``.
    """
    if len(data) < threshold:
        return data, None
    return _native.compress(data, _algorithm_id(algorithm)), algorithm


def decompress_payload(data: bytes, algorithm: int) -> bytes:
    """Decompresses *data* with *algorithm*, up to ``LIMITS.max_frame_payload`` bytes.

    Raises :class:`haystack_wire.LimitExceeded` past the limit and
    :class:`haystack_wire.DecompressionError` for a corrupt, truncated or
    overlong stream.
    """
    return _native.decompress(data, _algorithm_id(algorithm), LIMITS.max_frame_payload)


def _encode_grid(grid: Grid) -> bytes:
    # hs_py is imported only when a grid is encoded, so that this module can
    # stand in for hs_py.ws_codec before hs_py itself is imported.
    from hs_py.encoding.json import encode_grid

    return encode_grid(grid)


def encode_binary_request(
    req_id: int,
    op: str,
    grid: Grid,
    *,
    compression: Optional[int] = None,
) -> bytes:
    """A request frame for *grid* (an ``hs_py`` grid, encoded as Haystack JSON)."""
    opcode = _require_opcode(op)
    return _native.encode_frame(0, req_id, opcode, _encode_grid(grid), compression, COMPRESS_THRESHOLD)


def encode_binary_response(
    req_id: int,
    op: str,
    grid: Grid,
    *,
    is_error: bool = False,
    compression: Optional[int] = None,
) -> bytes:
    """A response frame for *grid*; an error response when *is_error*."""
    opcode = _require_opcode(op)
    flags = FLAG_RESPONSE | (FLAG_ERROR if is_error else 0)
    return _native.encode_frame(flags, req_id, opcode, _encode_grid(grid), compression, COMPRESS_THRESHOLD)


def encode_binary_push(
    op: str,
    grid: Grid,
    *,
    compression: Optional[int] = None,
) -> bytes:
    """A push frame for *grid*, with the push request id."""
    opcode = _require_opcode(op)
    return _native.encode_frame(
        FLAG_PUSH, protocol.PUSH_REQUEST_ID, opcode, _encode_grid(grid), compression, COMPRESS_THRESHOLD
    )


def decode_binary_frame(data: bytes) -> tuple[int, int, str, bytes]:
    """Reads a frame: ``(flags, req_id, op_name, payload)``.

    A compressed payload comes back decompressed. For a chunked frame the
    payload is everything after the base header, to be given to
    :meth:`ChunkAssembler.feed`.
    """
    return _native.decode_frame(data, LIMITS)


def encode_chunked_frames(
    flags: int,
    req_id: int,
    op: str,
    payload: bytes,
    *,
    compression: Optional[int] = None,
    chunk_size: int = CHUNK_SIZE,
) -> list[bytes]:
    """Splits *payload* into chunked frames of *chunk_size* bytes, each
    compressed on its own when *compression* is given (on all cores)."""
    opcode = _require_opcode(op)
    return _native.encode_chunked(flags, req_id, opcode, payload, compression, chunk_size)


class ChunkAssembler:
    """Puts chunked frames back together, within limits.

    Sequences are keyed by request id and op; an incomplete one is dropped
    *ttl_seconds* after its first chunk, by :meth:`cleanup` or by the next
    :meth:`feed`. The limits default to the module's ``LIMITS`` at the time
    the assembler is made; each may be given here instead.
    """

    def __init__(
        self,
        ttl_seconds: float = _TTL_DEFAULT,
        *,
        max_frame_payload: Optional[int] = None,
        max_message: Optional[int] = None,
        max_chunks: Optional[int] = None,
        max_pending: Optional[int] = None,
        max_pending_bytes: Optional[int] = None,
    ) -> None:
        given = {
            "max_frame_payload": max_frame_payload,
            "max_message": max_message,
            "max_chunks": max_chunks,
            "max_pending": max_pending,
            "max_pending_bytes": max_pending_bytes,
        }
        limits = Limits(
            max_frame=LIMITS.max_frame,
            **{name: getattr(LIMITS, name) if value is None else value for name, value in given.items()},
        )
        self._ttl = ttl_seconds
        self._native = _native.Assembler(ttl_seconds, limits)

    def feed(
        self,
        flags: int,
        req_id: int,
        op: str,
        chunk_data: bytes,
    ) -> Optional[bytes]:
        """Takes one chunk, as :func:`decode_binary_frame` returned it.

        Returns the whole payload, decompressed, when this chunk completes
        its sequence, else ``None``. A refused chunk drops its sequence.
        """
        return self._native.feed(flags, req_id, op, chunk_data)

    def cleanup(self, now: float) -> None:
        """Drops the sequences whose first chunk came more than the TTL before
        *now*, a ``time.monotonic()`` reading."""
        self._native.sweep_at(now - time.monotonic())

    @property
    def pending_count(self) -> int:
        """How many sequences are incomplete."""
        return self._native.pending_count

    @property
    def pending_bytes(self) -> int:
        """How many payload bytes the incomplete sequences hold."""
        return self._native.pending_bytes

    @property
    def limits(self) -> Limits:
        """The limits this assembler enforces."""
        return self._native.limits
