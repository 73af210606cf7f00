"""Types of the native core of haystack_wire (built from the Rust crate)."""

from typing import ClassVar, Optional, final

__all__ = [
    "Assembler",
    "ChunkError",
    "Decoder",
    "DecompressionError",
    "EncodeError",
    "Encoder",
    "HeaderError",
    "LimitExceeded",
    "Limits",
    "UnknownOperation",
    "WireError",
    "compress",
    "decode_frame",
    "decompress",
    "encode_chunked",
    "encode_frame",
]

class WireError(ValueError):
    """A frame, a payload or a chunk was refused, or could not be made."""

class HeaderError(WireError):
    """A frame's header cannot be read."""

class UnknownOperation(WireError):
    """An op name the protocol does not have."""

class LimitExceeded(WireError):
    """A frame, payload, message or the pending chunks would pass a limit."""

class DecompressionError(WireError):
    """A compressed payload is corrupt, truncated or followed by extra bytes."""

class ChunkError(WireError):
    """A chunk does not fit its sequence."""

class EncodeError(WireError):
    """A payload could not be encoded."""

@final
class Limits:
    """The limits a receiver enforces on what a peer sends."""

    __hash__: ClassVar[None]  # type: ignore[assignment]
    max_frame: int
    max_frame_payload: int
    max_message: int
    max_chunks: int
    max_pending: int
    max_pending_bytes: int
    def __new__(
        cls,
        *,
        max_frame: int = ...,
        max_frame_payload: int = ...,
        max_message: int = ...,
        max_chunks: int = ...,
        max_pending: int = ...,
        max_pending_bytes: int = ...,
    ) -> Limits: ...
    def __eq__(self, value: object, /) -> bool: ...

@final
class Assembler:
    """Reassembles chunked frames for the drop-in's ChunkAssembler."""

    def __new__(cls, ttl_seconds: float, limits: Limits) -> Assembler: ...
    def feed(self, flags: int, request_id: int, op: str, chunk_data: bytes) -> Optional[bytes]: ...
    def sweep_at(self, ahead: float) -> int: ...
    @property
    def pending_count(self) -> int: ...
    @property
    def pending_bytes(self) -> int: ...
    @property
    def limits(self) -> Limits: ...
    @limits.setter
    def limits(self, limits: Limits) -> None: ...

@final
class Encoder:
    """Encodes messages into frames; one per connection, keeping its compressor."""

    def __new__(cls, compression: Optional[int] = None, *, threshold: int = ..., chunk_size: int = ...) -> Encoder: ...
    def request(self, request_id: int, op: str, payload: bytes) -> bytes: ...
    def response(self, request_id: int, op: str, payload: bytes, *, is_error: bool = False) -> bytes: ...
    def push(self, op: str, payload: bytes) -> bytes: ...
    def chunked(self, flags: int, request_id: int, op: str, payload: bytes, *, parallel: bool = True) -> list[bytes]: ...

@final
class Decoder:
    """Turns the frames of one connection into messages, within limits."""

    def __new__(cls, limits: Optional[Limits] = None, *, ttl_seconds: Optional[float] = None) -> Decoder: ...
    def decode(self, frame: bytes) -> Optional[tuple[int, int, str, bytes]]: ...
    def sweep_expired(self) -> int: ...
    @property
    def pending_count(self) -> int: ...
    @property
    def pending_bytes(self) -> int: ...

def compress(data: bytes, algorithm: int) -> bytes: ...
def decompress(data: bytes, algorithm: int, limit: int) -> bytes: ...
def encode_frame(
    flags: int, request_id: int, op: int, payload: bytes, compression: Optional[int], threshold: int
) -> bytes: ...
def encode_chunked(
    flags: int,
    request_id: int,
    op: int,
    payload: bytes,
    compression: Optional[int],
    chunk_size: int,
    parallel: bool = True,
) -> list[bytes]: ...
def decode_frame(data: bytes, limits: Limits) -> tuple[int, int, str, bytes]: ...
