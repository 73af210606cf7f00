#!/usr/bin/env python3
"""Our codec against the reference's, on the same payloads, in one run.

Runs `cargo bench --features rayon,zlib-rs --bench codec` (criterion), times the reference's
hs_py.ws_codec on the same payloads with timeit, checks that our compressed
frames are byte-identical to the reference's, and prints a Markdown table of
medians and ratios (reference time / our time), with memcpy of the same bytes
as the ceiling for the uncompressed chunked rows and the small frame. Then runs
`cargo bench --bench memory` for the peak memory of our reassembly and prints
it beside the reference's, as tracemalloc sees it.

Usage (a Python >= 3.13 with haystack-py; scripts/python-env.sh makes one):
    $(scripts/python-env.sh) scripts/compare.py [--skip-bench]
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import statistics
import subprocess
import sys
import timeit
import tracemalloc
from pathlib import Path

from hs_py import ws_codec as ref

ROOT = Path(__file__).resolve().parent.parent
GRID = (ROOT / "examples/data/grid-5000.json").read_bytes()
BIG = GRID * 8
READ, HIS_READ = ref.OP_CODES["read"], ref.OP_CODES["hisRead"]
SMALL_GRID = (
    b'{"_kind":"grid","meta":{"ver":"3.0"},"cols":[{"name":"id"},{"name":"curVal"}],'
    b'"rows":[{"id":{"_kind":"ref","val":"p:1"},"curVal":{"_kind":"number","val":72.5,"unit":"F"}}]}'
)
# 162 bytes, as benches/codec.rs cuts it.
SMALL = SMALL_GRID[:162].ljust(162, b" ")


def median_seconds(function, budget: float = 2.0) -> float:
    """The median time of one call, over repeats filling about `budget` seconds."""
    once = timeit.timeit(function, number=1)
    number = max(1, int(0.05 / max(once, 1e-9)))
    repeats = max(5, min(200, int(budget / max(once * number, 1e-9))))
    return statistics.median(t / number for t in timeit.repeat(function, number=number, repeat=repeats))


def reassemble(frames: list[bytes]) -> bytes:
    assembler = ref.ChunkAssembler()
    whole = None
    for frame in frames:
        flags, req_id, op, payload = ref.decode_binary_frame(frame)
        whole = assembler.feed(flags, req_id, op, payload)
    assert whole is not None
    return whole


def reference_times() -> dict[str, float]:
    header = ref._HEADER.pack(ref.FLAG_RESPONSE, 4242, HIS_READ)
    small_2k = GRID[:2048]
    times = {
        "header/encode": median_seconds(lambda: ref._HEADER.pack(ref.FLAG_RESPONSE, 4242, HIS_READ)),
        "header/decode": median_seconds(lambda: ref.decode_binary_frame(header)),
        "small_frame/encode_decode": median_seconds(
            lambda: ref.decode_binary_frame(ref._encode_payload(ref.FLAG_RESPONSE, 7, READ, SMALL))
        ),
    }
    for name, algorithm in (("zlib", ref.COMP_ZLIB), ("lzma", ref.COMP_LZMA)):
        times[f"small_frame/{name}_2k_reused"] = median_seconds(
            lambda: ref.decode_binary_frame(ref._encode_payload(ref.FLAG_RESPONSE, 7, READ, small_2k, algorithm))
        )
        times[f"grid_5000/{name}_encode"] = median_seconds(
            lambda: ref._encode_payload(ref.FLAG_RESPONSE, 1, READ, GRID, algorithm)
        )
        frame = ref._encode_payload(ref.FLAG_RESPONSE, 1, READ, GRID, algorithm)
        times[f"grid_5000/{name}_decode"] = median_seconds(lambda: ref.decode_binary_frame(frame))
    for name, algorithm in (("raw", None), ("zlib", ref.COMP_ZLIB)):
        encode = lambda: ref.encode_chunked_frames(  # noqa: E731
            ref.FLAG_RESPONSE, 1, "hisRead", BIG, compression=algorithm, chunk_size=ref.CHUNK_SIZE
        )
        times[f"chunked_9mb/{name}_encode"] = median_seconds(encode, budget=4.0)
        frames = encode()
        times[f"chunked_9mb/{name}_reassemble"] = median_seconds(lambda: reassemble(frames), budget=4.0)
    return times


def reference_reassembly_peaks() -> list[str]:
    """The most memory the reference's reassembly holds at once, in order."""
    lines = []
    for name, algorithm in (("raw", None), ("zlib", ref.COMP_ZLIB)):
        frames = ref.encode_chunked_frames(
            ref.FLAG_RESPONSE, 1, "hisRead", BIG, compression=algorithm, chunk_size=ref.CHUNK_SIZE
        )
        tracemalloc.start()
        whole = reassemble(frames)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        ratio = peak / (len(whole) + ref.CHUNK_SIZE)
        lines.append(f"reference reassembly peak, {name}, in order: {peak} bytes, {ratio:.3f}x the payload plus one chunk")
    return lines


def our_reassembly_peaks() -> list[str]:
    out = subprocess.run(
        ["cargo", "bench", "--locked", "--bench", "memory"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout
    return [line for line in out.splitlines() if line.startswith("reassembly peak")]


def our_times() -> dict[str, float]:
    times = {}
    for estimates in (ROOT / "target/criterion").glob("*/*/new/estimates.json"):
        name = f"{estimates.parts[-4]}/{estimates.parts[-3]}"
        times[name] = json.loads(estimates.read_text())["median"]["point_estimate"] / 1e9
    return times


def hswire(*args: str, stdin: bytes) -> list[bytes]:
    binary = ROOT / "target/release/hswire"
    out = subprocess.run([binary, *args], input=stdin, capture_output=True, check=True).stdout
    return [bytes.fromhex(line) for line in out.decode().split()]


def identical() -> list[str]:
    """Our frames against the reference's, byte for byte."""
    lines = []
    for name, algorithm in (("zlib", ref.COMP_ZLIB), ("lzma", ref.COMP_LZMA)):
        ours = hswire("encode", "--op", "read", "--kind", "response", "--request-id", "1", "--compression", name, stdin=GRID)
        theirs = [ref._encode_payload(ref.FLAG_RESPONSE, 1, READ, GRID, algorithm)]
        lines.append(f"5,000-row grid, {name}: {'identical' if ours == theirs else 'DIFFERENT'} ({len(theirs[0]):,} bytes)")
    ours = hswire(
        "encode", "--op", "hisRead", "--kind", "response", "--request-id", "1",
        "--compression", "zlib", "--chunk-size", str(ref.CHUNK_SIZE), stdin=BIG,
    )
    theirs = ref.encode_chunked_frames(ref.FLAG_RESPONSE, 1, "hisRead", BIG, compression=ref.COMP_ZLIB, chunk_size=ref.CHUNK_SIZE)
    lines.append(f"9.4 MB in 256 KiB zlib chunks: {'identical' if ours == theirs else 'DIFFERENT'} ({len(theirs)} frames)")
    # The optional zlib-rs backend: other bytes, which the reference must read back.
    [fast] = hswire("encode", "--op", "read", "--kind", "response", "--request-id", "1", "--compression", "zlib", "--zlib-rs", stdin=GRID)
    stock = ref._encode_payload(ref.FLAG_RESPONSE, 1, READ, GRID, ref.COMP_ZLIB)
    read_back = ref.decode_binary_frame(fast)[3] == GRID
    lines.append(
        f"5,000-row grid, zlib-rs: {len(fast):,} bytes ({len(fast) / len(stock):.2f}x the stock zlib's {len(stock):,}), "
        f"{'read back by the reference' if read_back else 'NOT READ BACK by the reference'}"
    )
    return lines


def show(seconds: float) -> str:
    for unit, scale in (("s", 1), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--skip-bench", action="store_true", help="use the criterion results already in target/")
    args = parser.parse_args()
    if not args.skip_bench:
        subprocess.run(["cargo", "bench", "--locked", "--features", "rayon,zlib-rs", "--bench", "codec"], cwd=ROOT, check=True)
    subprocess.run(["cargo", "build", "--release", "--locked", "-p", "hswire", "--features", "zlib-rs"], cwd=ROOT, check=True)
    ours = our_times()
    theirs = reference_times()
    memcpy = ours.get("chunked_9mb/memcpy")
    small_memcpy = ours.get("small_frame/memcpy")

    print(f"\nPython {sys.version.split()[0]}, haystack-py {importlib.metadata.version('haystack-py')}, {os.cpu_count()} cores\n")
    print("| workload | reference | haystack-wire | ratio | share of memcpy |")
    print("|---|---:|---:|---:|---:|")
    for name, reference in theirs.items():
        mine = ours.get(name)
        if mine is None:
            print(f"| {name} | {show(reference)} | (not benchmarked) | | |")
            continue
        share = ""
        if memcpy and name.startswith("chunked_9mb/raw"):
            share = f"{memcpy / mine:.0%}"
        elif small_memcpy and name == "small_frame/encode_decode":
            share = f"{small_memcpy / mine:.0%}"
        print(f"| {name} | {show(reference)} | {show(mine)} | {reference / mine:.1f}x | {share} |")
    extra = {name: t for name, t in ours.items() if name not in theirs}
    for name, mine in sorted(extra.items()):
        print(f"| {name} | | {show(mine)} | | |")
    if small_memcpy:
        print(f"\nmemcpy of the {len(SMALL)}-byte small payload into a reused buffer: {show(small_memcpy)}")
    if memcpy:
        print(f"memcpy of {len(BIG):,} bytes: {show(memcpy)} ({len(BIG) / memcpy / 1e9:.1f} GB/s)")
    one_core, every_core = ours.get("chunked_9mb/zlib_encode"), ours.get("chunked_9mb/zlib_encode_parallel")
    halves = ours.get("chunked_9mb/zlib_encode_two_halves")
    if one_core and every_core:
        print(f"zlib chunks on {os.cpu_count()} cores (feature rayon): {show(every_core)}, {one_core / every_core:.2f}x one core")
    fast, stock = ours.get("grid_5000/zlib_rs_encode"), ours.get("grid_5000/zlib_encode")
    if fast and stock:
        print(f"zlib-rs backend (feature zlib-rs), 5,000-row grid: encode {show(fast)}, {stock / fast:.2f}x the stock zlib; "
              f"decode of its stream {show(ours.get('grid_5000/zlib_rs_decode', 0.0))}")
    if one_core and halves:
        print(f"two threads, half the chunks each, nothing shared: {show(halves)}, {one_core / halves:.2f}x one core")
    print()
    for line in our_reassembly_peaks() + reference_reassembly_peaks():
        print(line)
    print()
    for line in identical():
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
