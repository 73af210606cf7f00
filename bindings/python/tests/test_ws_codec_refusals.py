"""Where the reference trusts its peer, the drop-in refuses, naming the values."""

import struct
import zlib

import pytest

import haystack_wire
from haystack_wire import ws_codec as ours
from haystack_wire.protocol import BASE_HEADER, CHUNK_HEADER, OP_CODES

READ = OP_CODES["read"]


def chunk(index: int, total: int, data: bytes = b"abc", flags: int = ours.FLAG_CHUNKED, req_id: int = 5) -> bytes:
    return BASE_HEADER.pack(flags, req_id, READ) + CHUNK_HEADER.pack(index, total) + data


def feed(assembler, frame: bytes):
    return assembler.feed(*ours.decode_binary_frame(frame))


def test_every_refusal_is_a_value_error():
    for name in ("HeaderError", "LimitExceeded", "DecompressionError", "ChunkError", "EncodeError",
                 "UnknownOperation"):
        assert issubclass(getattr(haystack_wire, name), haystack_wire.WireError)
    assert issubclass(haystack_wire.WireError, ValueError)


def test_a_total_of_zero_is_refused():
    with pytest.raises(haystack_wire.ChunkError, match="request 5 .*total of 0"):
        feed(ours.ChunkAssembler(), chunk(0, 0))


def test_an_index_at_the_total_is_refused():
    with pytest.raises(haystack_wire.ChunkError, match="index 3 .* total 3"):
        feed(ours.ChunkAssembler(), chunk(3, 3))


def test_a_duplicate_chunk_is_refused_and_drops_its_sequence():
    assembler = ours.ChunkAssembler()
    assert feed(assembler, chunk(0, 2)) is None
    with pytest.raises(haystack_wire.ChunkError, match="Chunk 0 of request 5 .*arrived twice"):
        feed(assembler, chunk(0, 2))
    assert assembler.pending_count == 0


def test_a_chunk_that_changes_the_flags_is_refused():
    assembler = ours.ChunkAssembler()
    feed(assembler, chunk(0, 2))
    with pytest.raises(haystack_wire.ChunkError, match="flags"):
        feed(assembler, chunk(1, 2, flags=ours.FLAG_CHUNKED | ours.FLAG_RESPONSE))


def test_a_chunk_that_changes_the_total_is_refused():
    assembler = ours.ChunkAssembler()
    feed(assembler, chunk(0, 2))
    with pytest.raises(haystack_wire.ChunkError, match="total from 2 to 3"):
        feed(assembler, chunk(1, 3))


def test_a_total_past_the_limit_is_refused_on_its_first_chunk():
    with pytest.raises(haystack_wire.LimitExceeded, match="announces 9 chunks, more than the limit of 8"):
        feed(ours.ChunkAssembler(max_chunks=8), chunk(0, 9))


def test_sequences_past_the_pending_limit_are_refused():
    assembler = ours.ChunkAssembler(max_pending=2)
    feed(assembler, chunk(0, 2, req_id=1))
    feed(assembler, chunk(0, 2, req_id=2))
    with pytest.raises(haystack_wire.LimitExceeded, match="request 3 .*limit of 2 pending"):
        feed(assembler, chunk(0, 2, req_id=3))
    assert assembler.pending_count == 2


def test_a_message_past_its_limit_is_refused():
    assembler = ours.ChunkAssembler(max_message=5)
    feed(assembler, chunk(0, 3, b"abc"))
    with pytest.raises(haystack_wire.LimitExceeded, match="limit of 5 bytes"):
        feed(assembler, chunk(1, 3, b"def"))


def test_a_compressed_frame_past_the_payload_limit_is_refused(monkeypatch):
    monkeypatch.setattr(ours.LIMITS, "max_frame_payload", 1000)
    frame = BASE_HEADER.pack(ours.FLAG_COMPRESSED, 1, READ) + bytes([ours.COMP_ZLIB]) + zlib.compress(b"\0" * 5000)
    with pytest.raises(haystack_wire.LimitExceeded, match="limit of 1000 bytes"):
        ours.decode_binary_frame(frame)


def test_decompression_is_capped_by_the_module_limit(monkeypatch):
    monkeypatch.setattr(ours.LIMITS, "max_frame_payload", 100)
    with pytest.raises(haystack_wire.LimitExceeded, match="(?i)zlib payload decompresses to more than the limit of 100 bytes"):
        ours.decompress_payload(zlib.compress(b"\0" * 101), ours.COMP_ZLIB)


def test_a_truncated_or_overlong_stream_is_refused():
    packed = zlib.compress(b"hello" * 100)
    with pytest.raises(haystack_wire.DecompressionError):
        ours.decompress_payload(packed[:-4], ours.COMP_ZLIB)
    with pytest.raises(haystack_wire.DecompressionError, match="3 bytes follow"):
        ours.decompress_payload(packed + b"xyz", ours.COMP_ZLIB)


def test_unused_flag_bits_are_refused():
    with pytest.raises(haystack_wire.HeaderError, match="0x20"):
        ours.decode_binary_frame(struct.pack("!BHB", 0x20, 0, READ))


def test_cleanup_counts_the_ttl_from_the_first_chunk():
    import time

    assembler = ours.ChunkAssembler(ttl_seconds=5.0)
    feed(assembler, chunk(0, 3))
    start = time.monotonic()
    feed(assembler, chunk(1, 3))
    assembler.cleanup(start + 4.0)
    assert assembler.pending_count == 1
    assembler.cleanup(start + 6.0)
    assert assembler.pending_count == 0
