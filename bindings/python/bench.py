#!/usr/bin/env python3
"""haystack_wire against hs_py.ws_codec, from Python, on the reference's workloads, in one run.

The reference's codec is imported under its own name (no swap) and timed
beside this package on the same bytes: a header-only frame and a 162-byte
frame, the 5,000-row grid (examples/data/grid-5000.json) with zlib and LZMA,
and the 9.4 MB payload (eight copies of that grid) in 256 KiB chunks, raw and
zlib, encoded and reassembled. Each row checks first that both sides produce
the same bytes, then prints the medians and the ratio (reference time / ours;
above 1 is faster than the reference).

"drop-in" rows call haystack_wire.ws_codec with the reference's signatures;
"Encoder"/"Decoder" rows call the package's own objects, one per connection.

Usage, from the repository root, with haystack-py and this package installed:
    python bindings/python/bench.py [--budget SECONDS]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import timeit
from pathlib import Path

from hs_py import ws_codec as ref

import haystack_wire
from haystack_wire import ws_codec as ours

ROOT = Path(__file__).resolve().parents[2]
GRID = (ROOT / "examples/data/grid-5000.json").read_bytes()
BIG = GRID * 8
SMALL_GRID = (
    b'{"_kind":"grid","meta":{"ver":"3.0"},"cols":[{"name":"id"},{"name":"curVal"}],'
    b'"rows":[{"id":{"_kind":"ref","val":"p:1"},"curVal":{"_kind":"number","val":72.5,"unit":"F"}}]}'
)
# The 162-byte payload of the reference's small-frame figure, as benches/codec.rs cuts it.
SMALL = SMALL_GRID[:162].ljust(162, b" ")
RESPONSE = ref.FLAG_RESPONSE
# Turns each side takes per workload.
ROUNDS = 5
READ, HIS_READ = ref.OP_CODES["read"], ref.OP_CODES["hisRead"]


def median_seconds(function, budget: float) -> float:
    """The median time of one call, over repeats filling about `budget` seconds."""
    once = timeit.timeit(function, number=1)
    number = max(1, int(0.02 / max(once, 1e-9)))
    repeats = max(5, min(300, int(budget / max(once * number, 1e-9))))
    return statistics.median(t / number for t in timeit.repeat(function, number=number, repeat=repeats))


def ref_reassemble(frames: list[bytes]) -> bytes:
    assembler = ref.ChunkAssembler()
    whole = None
    for frame in frames:
        whole = assembler.feed(*ref.decode_binary_frame(frame))
    return whole


def dropin_reassemble(frames: list[bytes]) -> bytes:
    assembler = ours.ChunkAssembler()
    whole = None
    for frame in frames:
        whole = assembler.feed(*ours.decode_binary_frame(frame))
    return whole


def decoder_reassemble(frames: list[bytes]) -> bytes:
    decoder = haystack_wire.Decoder()
    message = None
    for frame in frames:
        message = decoder.decode(frame)
    return message[3]


def workloads():
    """(name, reference call, [(our API, our call)], how to compare results)."""
    same = lambda a, b: a == b  # noqa: E731
    payload_of = lambda ref_out, our_out: ref_out[3] == (our_out[3] if isinstance(our_out, tuple) else our_out)  # noqa: E731

    plain = haystack_wire.Encoder()
    decoder = haystack_wire.Decoder()
    header = ref._encode_payload(RESPONSE, 4242, HIS_READ, b"")
    small = ref._encode_payload(RESPONSE, 7, READ, SMALL)
    yield ("header-only frame encode", lambda: ref._encode_payload(RESPONSE, 4242, HIS_READ, b""),
           [("Encoder", lambda: plain.response(4242, "hisRead", b""))], same)
    yield ("header-only frame decode", lambda: ref.decode_binary_frame(header),
           [("drop-in", lambda: ours.decode_binary_frame(header)), ("Decoder", lambda: decoder.decode(header))],
           payload_of)
    yield ("small frame encode (162 B)", lambda: ref._encode_payload(RESPONSE, 7, READ, SMALL),
           [("Encoder", lambda: plain.response(7, "read", SMALL))], same)
    yield ("small frame decode (162 B)", lambda: ref.decode_binary_frame(small),
           [("drop-in", lambda: ours.decode_binary_frame(small)), ("Decoder", lambda: decoder.decode(small))],
           payload_of)

    for name, algorithm in (("zlib", ref.COMP_ZLIB), ("lzma", ref.COMP_LZMA)):
        encoder = haystack_wire.Encoder(algorithm)
        frame = ref._encode_payload(RESPONSE, 1, READ, GRID, algorithm)
        yield (f"grid 5,000 rows {name} encode", lambda a=algorithm: ref._encode_payload(RESPONSE, 1, READ, GRID, a),
               [("Encoder", lambda e=encoder: e.response(1, "read", GRID))], same)
        yield (f"grid 5,000 rows {name} decode", lambda f=frame: ref.decode_binary_frame(f),
               [("drop-in", lambda f=frame: ours.decode_binary_frame(f)),
                ("Decoder", lambda f=frame: decoder.decode(f))], payload_of)

    raw = haystack_wire.Encoder()
    zlib = haystack_wire.Encoder(ref.COMP_ZLIB)
    raw_frames = ref.encode_chunked_frames(RESPONSE, 1, "hisRead", BIG)
    zlib_frames = ref.encode_chunked_frames(RESPONSE, 1, "hisRead", BIG, compression=ref.COMP_ZLIB)
    yield ("9.4 MB chunked raw encode", lambda: ref.encode_chunked_frames(RESPONSE, 1, "hisRead", BIG),
           [("drop-in", lambda: ours.encode_chunked_frames(RESPONSE, 1, "hisRead", BIG)),
            ("Encoder", lambda: raw.chunked(RESPONSE, 1, "hisRead", BIG))], same)
    yield ("9.4 MB chunked raw reassemble", lambda: ref_reassemble(raw_frames),
           [("drop-in", lambda: dropin_reassemble(raw_frames)), ("Decoder", lambda: decoder_reassemble(raw_frames))],
           same)
    yield ("9.4 MB chunked zlib encode",
           lambda: ref.encode_chunked_frames(RESPONSE, 1, "hisRead", BIG, compression=ref.COMP_ZLIB),
           [("Encoder, one core", lambda: zlib.chunked(RESPONSE, 1, "hisRead", BIG, parallel=False)),
            ("Encoder, all cores", lambda: zlib.chunked(RESPONSE, 1, "hisRead", BIG, parallel=True)),
            ("drop-in (all cores)",
             lambda: ours.encode_chunked_frames(RESPONSE, 1, "hisRead", BIG, compression=ours.COMP_ZLIB))], same)
    yield ("9.4 MB chunked zlib reassemble", lambda: ref_reassemble(zlib_frames),
           [("drop-in", lambda: dropin_reassemble(zlib_frames)), ("Decoder", lambda: decoder_reassemble(zlib_frames))],
           same)


def show(seconds: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=2.0, help="seconds of repeats per side and workload (default 2)")
    args = parser.parse_args()

    print(f"Python {platform.python_version()}, haystack-py {_version('haystack-py')}, "
          f"haystack-wire {_version('haystack-wire')}, {os.cpu_count()} cores; "
          f"ratio = reference time / ours, medians")
    print()
    print("| workload | reference | haystack_wire API | haystack_wire | ratio |")
    print("|---|---:|---|---:|---:|")
    identical = True
    for name, theirs, mine, equal in workloads():
        expected = theirs()
        same = [equal(expected, call()) for _, call in mine]
        identical = identical and all(same)
        # The sides take turns, round after round, and each keeps the median
        # of its rounds: the allocator's state (whether a large buffer is
        # fresh pages or reused ones) then falls on both alike.
        rounds: list[list[float]] = [[] for _ in range(len(mine) + 1)]
        for _ in range(ROUNDS):
            rounds[0].append(median_seconds(theirs, args.budget / ROUNDS))
            for i, (_, call) in enumerate(mine, start=1):
                rounds[i].append(median_seconds(call, args.budget / ROUNDS))
        ref_time = statistics.median(rounds[0])
        for (api, _), ok, times in zip(mine, same, rounds[1:]):
            if not ok:
                print(f"| {name} | | {api} | DIFFERENT OUTPUT | |")
                continue
            our_time = statistics.median(times)
            print(f"| {name} | {show(ref_time)} | {api} | {show(our_time)} | {ref_time / our_time:.2f}x |")
        sys.stdout.flush()
    return 0 if identical else 1


def _version(distribution: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return "?"


if __name__ == "__main__":
    sys.exit(main())
