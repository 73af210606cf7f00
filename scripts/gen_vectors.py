"""Write tests/vectors/frames.json: conformance vectors made by the reference.

Every frame in the file comes from haystack-py's own codec (hs_py.ws_codec):
its encoders make the frames, its decoder and ChunkAssembler read them back,
and the script checks that the reference round-trips each payload before
writing anything. tests/conformance.rs then requires this crate to make the
same bytes and read back the same header and payload.

Run from the repository root, with Python 3.13 or newer:

    python3.13 -m venv .venv && .venv/bin/pip install haystack-py==0.1.10
    .venv/bin/python scripts/gen_vectors.py

The output is deterministic: the same file on every run.
"""

from __future__ import annotations

import datetime
import json
import sys
import zoneinfo
from importlib.metadata import version
from pathlib import Path

REFERENCE_VERSION = "0.1.10"
OUT = Path("tests/vectors/frames.json")


def require_reference() -> None:
    found = version("haystack-py")
    if found != REFERENCE_VERSION:
        sys.exit(f"needs haystack-py=={REFERENCE_VERSION}, found {found}")


require_reference()

from hs_py import ws_codec as wc  # noqa: E402
from hs_py.encoding.json import encode_grid  # noqa: E402
from hs_py.grid import Grid  # noqa: E402
from hs_py.kinds import MARKER, Number, Ref  # noqa: E402

ALGORITHMS: dict[str | None, int | None] = {None: None, "zlib": wc.COMP_ZLIB, "lzma": wc.COMP_LZMA}
KIND_FLAGS = (wc.FLAG_RESPONSE, wc.FLAG_ERROR, wc.FLAG_PUSH)


def point_grid(rows: int) -> Grid:
    """A grid of point records, the kind a read or a watch returns."""
    tz = zoneinfo.ZoneInfo("America/New_York")
    start = datetime.datetime(2026, 3, 1, 8, 0, tzinfo=tz)
    records = [
        {
            "id": Ref(f"p:site-1.ahu-{i // 10}.pt-{i}", f"AHU-{i // 10} point {i}"),
            "dis": f"AHU-{i // 10} point {i}",
            "point": MARKER,
            "kind": "Number",
            "curVal": Number(round(55.0 + (i * 7 % 400) / 10, 1), "°F"),
            "curStatus": "ok",
            "mod": start + datetime.timedelta(minutes=i),
            "siteRef": Ref("s:site-1", "Site 1"),
        }
        for i in range(rows)
    ]
    return Grid.make_rows(records)


def sized_payload(size: int) -> bytes:
    """ASCII grid-like text cut to exactly `size` bytes."""
    unit = b'{"id":{"_kind":"ref","val":"p:%d"},"dis":"Point %d","curVal":72.5},'
    text = b"".join(unit % (i, i) for i in range(size // 40 + 2))
    return text[:size]


def hexed(data: bytes) -> str:
    return data.hex()


def single(
    name: str,
    frame: bytes,
    *,
    flags: int,
    req_id: int,
    op: str,
    payload: bytes,
    compression: str | None,
    threshold: int,
) -> dict:
    d_flags, d_id, d_op, d_payload = wc.decode_binary_frame(frame)
    if d_payload != payload:
        sys.exit(f"{name}: the reference does not round-trip its own frame")
    return {
        "name": name,
        "mode": "single",
        "flags": flags,
        "request_id": req_id,
        "op": op,
        "compression": compression,
        "threshold": threshold,
        "payload_hex": hexed(payload),
        "frames_hex": [hexed(frame)],
        "decoded": {"flags": d_flags, "request_id": d_id, "op": d_op, "payload_hex": hexed(d_payload)},
    }


def raw_single(name: str, flags: int, req_id: int, op: str, payload: bytes, compression: str | None,
               threshold: int = wc.COMPRESS_THRESHOLD) -> dict:
    """A single frame from the reference's frame builder, for any flags and threshold."""
    frame = wc._encode_payload(flags, req_id, wc.OP_CODES[op], payload, ALGORITHMS[compression], threshold)
    return single(name, frame, flags=flags, req_id=req_id, op=op, payload=payload,
                  compression=compression, threshold=threshold)


def chunked(name: str, flags: int, req_id: int, op: str, payload: bytes, compression: str | None,
            chunk_size: int) -> dict:
    frames = wc.encode_chunked_frames(flags, req_id, op, payload, compression=ALGORITHMS[compression],
                                      chunk_size=chunk_size)
    assembler = wc.ChunkAssembler()
    results = []
    header = None
    for frame in frames:
        d_flags, d_id, d_op, data = wc.decode_binary_frame(frame)
        header = (d_flags, d_id, d_op)
        result = assembler.feed(d_flags, d_id, d_op, data)
        if result is not None:
            results.append(result)
    if results != [payload] or header is None:
        sys.exit(f"{name}: the reference does not reassemble its own frames")
    d_flags, d_id, d_op = header
    return {
        "name": name,
        "mode": "chunked",
        "flags": flags,
        "request_id": req_id,
        "op": op,
        "compression": compression,
        "chunk_size": chunk_size,
        "payload_hex": hexed(payload),
        "frames_hex": [hexed(f) for f in frames],
        "decoded": {"flags": d_flags, "request_id": d_id, "op": d_op, "payload_hex": hexed(payload)},
    }


def label(compression: str | None) -> str:
    return compression or "plain"


def vectors() -> list[dict]:
    out: list[dict] = []
    small = encode_grid(point_grid(2))

    # 1. Every op, as a plain request.
    for i, op in enumerate(wc.OP_CODES):
        frame = wc.encode_binary_request(100 + i, op, point_grid(2))
        out.append(single(f"op-{op}", frame, flags=0, req_id=100 + i, op=op, payload=small,
                          compression=None, threshold=wc.COMPRESS_THRESHOLD))

    # 2 and 3. Every combination of the response, error and push bits, single and chunked.
    mid = sized_payload(2000)
    big = sized_payload(3000)
    for flags in range(8):
        for compression in ALGORITHMS:
            out.append(raw_single(f"flags-{flags:02x}-single-{label(compression)}", flags, 300 + flags,
                                  "read", mid, compression))
            out.append(chunked(f"flags-{flags:02x}-chunked-{label(compression)}", flags, 400 + flags,
                               "hisRead", big, compression, 1000))

    # 4. Sizes around the compression threshold, with the default threshold.
    t = wc.COMPRESS_THRESHOLD
    for size in (0, 1, t - 1, t, t + 1):
        for compression in ALGORITHMS:
            out.append(raw_single(f"size-{size}-{label(compression)}", wc.FLAG_RESPONSE, 7, "read",
                                  sized_payload(size), compression))

    # 5. The reference's public encoders on a realistic grid.
    grid = point_grid(50)
    payload = encode_grid(grid)
    for compression, algo in ALGORITHMS.items():
        tag = label(compression)
        for req_id in (1, 7, 65535):
            frame = wc.encode_binary_request(req_id, "read", grid, compression=algo)
            out.append(single(f"request-{req_id}-grid50-{tag}", frame, flags=0, req_id=req_id, op="read",
                              payload=payload, compression=compression, threshold=t))
        frame = wc.encode_binary_response(7, "read", grid, compression=algo)
        out.append(single(f"response-grid50-{tag}", frame, flags=wc.FLAG_RESPONSE, req_id=7, op="read",
                          payload=payload, compression=compression, threshold=t))
        frame = wc.encode_binary_response(8, "hisRead", grid, is_error=True, compression=algo)
        out.append(single(f"error-grid50-{tag}", frame, flags=wc.FLAG_RESPONSE | wc.FLAG_ERROR, req_id=8,
                          op="hisRead", payload=payload, compression=compression, threshold=t))
        frame = wc.encode_binary_push("watchPoll", grid, compression=algo)
        out.append(single(f"push-grid50-{tag}", frame, flags=wc.FLAG_PUSH, req_id=0, op="watchPoll",
                          payload=payload, compression=compression, threshold=t))

    # 6. A realistic multi-row grid, chunked with sizes that divide it and that do not.
    rows = 120
    large = encode_grid(point_grid(rows))
    while len(large) % 4:
        rows += 1
        large = encode_grid(point_grid(rows))
    for compression in ALGORITHMS:
        tag = label(compression)
        out.append(chunked(f"grid{rows}-chunk-quarter-{tag}", wc.FLAG_RESPONSE, 21, "read", large, compression,
                           len(large) // 4))
        out.append(chunked(f"grid{rows}-chunk-4096-{tag}", wc.FLAG_RESPONSE, 22, "read", large, compression,
                           4096))

    # 7. An empty payload is still one chunk.
    for compression in ALGORITHMS:
        out.append(chunked(f"empty-chunked-{label(compression)}", 0, 31, "about", b"", compression, 256))

    # 8. A payload of exactly one chunk, and of one chunk and one byte.
    for size in (1000, 1001):
        for compression in ALGORITHMS:
            out.append(chunked(f"chunk-edge-{size}-{label(compression)}", wc.FLAG_PUSH, 0, "watchPoll",
                               sized_payload(size), compression, 1000))
    return out


def main() -> int:
    document = {
        "generator": f"haystack-py {REFERENCE_VERSION} (hs_py.ws_codec)",
        "defaults": {
            "compress_threshold": wc.COMPRESS_THRESHOLD,
            "chunk_size": wc.CHUNK_SIZE,
            "chunk_threshold": wc.CHUNK_THRESHOLD,
        },
        "vectors": vectors(),
    }
    names = [v["name"] for v in document["vectors"]]
    if len(names) != len(set(names)):
        sys.exit("vector names are not unique")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(document, indent=1) + "\n")
    print(f"wrote {OUT}: {len(names)} vectors, {OUT.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
