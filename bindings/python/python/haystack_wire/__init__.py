"""Project Haystack binary WebSocket frames (hs_py binary mode), from the
haystack-wire Rust crate.

- :mod:`haystack_wire.ws_codec` stands in for ``hs_py.ws_codec``:
  ``sys.modules["hs_py.ws_codec"] = haystack_wire.ws_codec`` before hs_py is
  imported runs the reference's server and client on this codec.
- :class:`Encoder` and :class:`Decoder` are the API for new code: one of each
  per connection, bytes in and bytes out, the GIL released while they work.
- :mod:`haystack_wire.protocol` holds the protocol's constants, generated
  from its spec.

Every refusal is a :class:`WireError`, a ``ValueError``.
"""

from haystack_wire import protocol
from haystack_wire._native import (
    ChunkError,
    DecompressionError,
    Decoder,
    EncodeError,
    Encoder,
    HeaderError,
    LimitExceeded,
    Limits,
    UnknownOperation,
    WireError,
)

__all__ = [
    "ChunkError",
    "DecompressionError",
    "Decoder",
    "EncodeError",
    "Encoder",
    "HeaderError",
    "LimitExceeded",
    "Limits",
    "UnknownOperation",
    "WireError",
    "protocol",
]
