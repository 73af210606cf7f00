"""A 1 GiB zlib bomb and a 1 GiB LZMA bomb are refused at the payload limit, by
every way in, without the memory they claim.

Each bomb is built here chunk by chunk, never holding more than 1 MiB of
zeros, and written to a file. Each refusal runs in a fresh interpreter, so
that its peak resident size (``ru_maxrss``) is the refusal's own.
"""

import json
import lzma
import subprocess
import sys
import textwrap
import zlib

import pytest

GIB = 1 << 30
BLOCK = bytes(1 << 20)
PEAK_LIMIT_BYTES = 200 * 1000 * 1000


def bomb(compressor) -> bytes:
    """1 GiB of zeros through `compressor`, fed 1 MiB at a time."""
    parts = [compressor.compress(BLOCK) for _ in range(GIB // len(BLOCK))]
    parts.append(compressor.flush())
    return b"".join(parts)


@pytest.fixture(scope="module")
def bombs(tmp_path_factory):
    """Files holding a zlib and a raw LZMA2 bomb, each 1 GiB of zeros when inflated."""
    folder = tmp_path_factory.mktemp("bombs")
    made = {
        "zlib": bomb(zlib.compressobj(9)),
        "lzma": bomb(lzma.LZMACompressor(format=lzma.FORMAT_RAW, filters=[{"id": lzma.FILTER_LZMA2, "preset": 0}])),
    }
    paths = {}
    for name, data in made.items():
        paths[name] = folder / f"{name}.bin"
        paths[name].write_bytes(data)
    return paths


# Runs in a fresh interpreter: reads the bomb, tries one way in, and prints
# what was raised and the process's peak resident size.
REFUSAL = textwrap.dedent(
    """
    import json, resource, sys
    import haystack_wire
    from haystack_wire import ws_codec
    from haystack_wire.protocol import ALGORITHM_HEADER, BASE_HEADER, CHUNK_HEADER, OP_CODES

    path, algorithm_name, way = sys.argv[1:4]
    data = open(path, "rb").read()
    algorithm = {"zlib": ws_codec.COMP_ZLIB, "lzma": ws_codec.COMP_LZMA}[algorithm_name]
    read = OP_CODES["read"]
    single = (
        BASE_HEADER.pack(ws_codec.FLAG_RESPONSE | ws_codec.FLAG_COMPRESSED, 1, read)
        + ALGORITHM_HEADER.pack(algorithm) + data
    )
    chunk = (
        BASE_HEADER.pack(ws_codec.FLAG_RESPONSE | ws_codec.FLAG_COMPRESSED | ws_codec.FLAG_CHUNKED, 1, read)
        + ALGORITHM_HEADER.pack(algorithm) + CHUNK_HEADER.pack(0, 2) + data
    )
    ways = {
        "decompress_payload": lambda: ws_codec.decompress_payload(data, algorithm),
        "decode_binary_frame": lambda: ws_codec.decode_binary_frame(single),
        "Decoder": lambda: haystack_wire.Decoder().decode(single),
        "Decoder, chunked": lambda: haystack_wire.Decoder().decode(chunk),
        "ChunkAssembler": lambda: ws_codec.ChunkAssembler().feed(*ws_codec.decode_binary_frame(chunk)),
    }
    try:
        ways[way]()
        raised = None
    except Exception as error:
        raised = error
    print(json.dumps({
        "raised": type(raised).__name__ if raised else None,
        "value_error": isinstance(raised, ValueError),
        "message": str(raised),
        "limit": ws_codec.LIMITS.max_frame_payload,
        "peak_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }))
    """
)

WAYS = ["decompress_payload", "decode_binary_frame", "Decoder", "Decoder, chunked", "ChunkAssembler"]


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize("algorithm", ["zlib", "lzma"])
def test_a_1_gib_bomb_is_refused_at_the_payload_limit_with_a_peak_under_200_mb(bombs, algorithm, way):
    done = subprocess.run(
        [sys.executable, "-c", REFUSAL, str(bombs[algorithm]), algorithm, way],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result = json.loads(done.stdout)
    print(f"{algorithm} bomb ({bombs[algorithm].stat().st_size:,} bytes), {way}: "
          f"{result['raised']}, peak RSS {result['peak_bytes'] / 1e6:.1f} MB")
    assert result["raised"] == "LimitExceeded"
    assert result["value_error"]
    assert f"limit of {result['limit']} bytes" in result["message"]
    assert result["peak_bytes"] < PEAK_LIMIT_BYTES
