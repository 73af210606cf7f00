"""haystack_wire.ws_codec makes the reference's bytes and reads them back."""

import itertools

import pytest

from haystack_wire import ws_codec as ours

# A payload of some structure, so that both algorithms have something to find.
PAYLOAD = b"".join(b'{"id":"@p%d","dis":"Point %d","curVal":%d.5},' % (i, i, i) for i in range(700))
ALGORITHMS = [None, ours.COMP_ZLIB, ours.COMP_LZMA]


def grid(rows: int):
    from hs_py.grid import Grid
    from hs_py.kinds import MARKER, Number, Ref

    return Grid.make_rows(
        [{"id": Ref(f"p{i}"), "dis": f"Point {i}", "point": MARKER, "cur": Number(68.5 + i, "°F")} for i in range(rows)]
    )


@pytest.mark.parametrize("rows", [0, 1, 200])
@pytest.mark.parametrize("compression", ALGORITHMS)
def test_frames_of_every_kind_and_algorithm_are_the_reference_bytes(reference, rows, compression):
    g = grid(rows)
    cases = [
        (ours.encode_binary_request(513, "read", g, compression=compression),
         reference.encode_binary_request(513, "read", g, compression=compression)),
        (ours.encode_binary_response(513, "hisRead", g, compression=compression),
         reference.encode_binary_response(513, "hisRead", g, compression=compression)),
        (ours.encode_binary_response(7, "read", g, is_error=True, compression=compression),
         reference.encode_binary_response(7, "read", g, is_error=True, compression=compression)),
        (ours.encode_binary_push("watchPoll", g, compression=compression),
         reference.encode_binary_push("watchPoll", g, compression=compression)),
    ]
    for mine, theirs in cases:
        assert mine == theirs
        assert ours.decode_binary_frame(mine) == reference.decode_binary_frame(theirs)


@pytest.mark.parametrize("compression", ALGORITHMS)
@pytest.mark.parametrize("chunk_size", [1000, len(PAYLOAD) // 5, 4096, len(PAYLOAD) + 1])
@pytest.mark.parametrize("flags", [0, ours.FLAG_RESPONSE, ours.FLAG_RESPONSE | ours.FLAG_ERROR, ours.FLAG_PUSH])
def test_chunked_frames_are_the_reference_bytes_whether_or_not_the_size_divides_the_payload(
    reference, compression, chunk_size, flags
):
    mine = ours.encode_chunked_frames(flags, 9, "read", PAYLOAD, compression=compression, chunk_size=chunk_size)
    theirs = reference.encode_chunked_frames(flags, 9, "read", PAYLOAD, compression=compression, chunk_size=chunk_size)
    assert mine == theirs


@pytest.mark.parametrize("compression", ALGORITHMS)
def test_the_reference_chunks_reassemble_in_any_order(reference, compression):
    frames = reference.encode_chunked_frames(
        ours.FLAG_RESPONSE, 3, "read", PAYLOAD, compression=compression, chunk_size=3000
    )
    for order in (frames, frames[::-1], frames[1::2] + frames[::2]):
        assembler = ours.ChunkAssembler()
        results = [assembler.feed(*ours.decode_binary_frame(frame)) for frame in order]
        assert results[:-1] == [None] * (len(order) - 1)
        assert results[-1] == PAYLOAD
        assert assembler.pending_count == 0


@pytest.mark.parametrize("algorithm", [ours.COMP_ZLIB, ours.COMP_LZMA])
def test_compressed_payloads_are_the_reference_bytes(reference, algorithm):
    for data, threshold in itertools.product([b"", b"x", PAYLOAD], [0, 1, ours.COMPRESS_THRESHOLD]):
        mine = ours.compress_payload(data, algorithm, threshold)
        assert mine == reference.compress_payload(data, algorithm, threshold)
        if mine[1] is not None:
            assert ours.decompress_payload(mine[0], algorithm) == data


def test_every_public_name_of_the_reference_is_here_with_the_same_value(reference):
    for name in reference.__all__ + [n for n in dir(reference) if n.startswith(("FLAG_", "COMP_"))]:
        assert hasattr(ours, name), name
    for name in ("FLAG_RESPONSE", "FLAG_ERROR", "FLAG_PUSH", "FLAG_COMPRESSED", "FLAG_CHUNKED", "COMP_ZLIB",
                 "COMP_LZMA", "COMPRESS_THRESHOLD", "CHUNK_SIZE", "CHUNK_THRESHOLD", "OP_CODES", "CODE_OPS"):
        assert getattr(ours, name) == getattr(reference, name), name
