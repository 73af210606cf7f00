"""The loop of the reference's WebSocket benchmark, run by its own client
(haystack-py's `WebSocketClient`) against any binary-mode Haystack server.

    python scripts/reference_client.py --url ws://127.0.0.1:8080 --auth-token T \
        [--compression zlib|lzma] [--chunked] [--connections 10] [--duration 15] [--warmup 3]

Each connection asks `about`, then `read("point and sensor")`, as raw grids,
one request after the other, and re-encodes each answer to count its size, as
the benchmark does. The warm-up runs on connections of its own, closed before
the measured run opens new ones. Prints one JSON object: `messages_per_sec`,
`errors`, `latency_ms` (p50, p90, p99, max), `messages` and the settings.
Needs haystack-py (scripts/python-env.sh makes a virtual environment with it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
import time
from dataclasses import dataclass, field

from hs_py.encoding.json import encode_grid
from hs_py.grid import Grid
from hs_py.ws_client import WebSocketClient
from hs_py.ws_codec import COMP_LZMA, COMP_ZLIB

ALGORITHMS = {"zlib": COMP_ZLIB, "lzma": COMP_LZMA}
FILTER = "point and sensor"


@dataclass
class Tally:
    """What the connections of one phase measured."""

    latencies: list[float] = field(default_factory=list)
    response_bytes: int = 0
    errors: int = 0
    first_errors: list[str] = field(default_factory=list)

    def failed(self, what: str) -> None:
        self.errors += 1
        if len(self.first_errors) < 5:
            self.first_errors.append(what)


async def connection(args: argparse.Namespace, tally: Tally, stop: asyncio.Event) -> None:
    """One connection's loop, until `stop` is set or the connection is gone."""
    options = {
        "auth_token": args.auth_token,
        "binary": True,
        "binary_compression": ALGORITHMS[args.compression] if args.compression else None,
        "chunked": args.chunked,
        "pythonic": False,
        "timeout": args.timeout,
        "heartbeat": 0,
    }
    try:
        async with WebSocketClient(args.url, **options) as client:
            requests = (("about", lambda: client.about(raw=True)), ("read", lambda: client.read(FILTER, raw=True)))
            while not stop.is_set():
                for name, request in requests:
                    if stop.is_set():
                        return
                    sent = time.monotonic()
                    try:
                        grid = await request()
                    except Exception as error:  # every failure is counted, the first few kept
                        tally.failed(f"{name}: {error!r}")
                        if "closed" in str(error).lower():
                            return
                        continue
                    tally.latencies.append(time.monotonic() - sent)
                    if isinstance(grid, Grid):
                        tally.response_bytes += len(encode_grid(grid))
    except Exception as error:
        tally.failed(f"connection: {type(error).__name__}: {error}")


async def phase(args: argparse.Namespace, seconds: float) -> tuple[Tally, float]:
    """Runs every connection for `seconds`; returns what they measured and the wall time."""
    tally, stop = Tally(), asyncio.Event()
    started = time.monotonic()
    tasks = [asyncio.create_task(connection(args, tally, stop)) for _ in range(args.connections)]
    await asyncio.sleep(seconds)
    stop.set()
    # A request in flight gets its answer or its timeout; then the connections close.
    await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), timeout=args.timeout + 5)
    return tally, time.monotonic() - started


def percentile(ordered: list[float], percent: float) -> float:
    """The nearest-rank percentile of sorted `ordered`, in milliseconds (0 when empty)."""
    if not ordered:
        return 0.0
    rank = max(1, math.ceil(len(ordered) * percent / 100))
    return round(ordered[min(rank, len(ordered)) - 1] * 1000, 3)


async def bench(args: argparse.Namespace) -> dict:
    warmup_messages = 0
    if args.warmup > 0:
        warm, _ = await phase(args, args.warmup)
        warmup_messages = len(warm.latencies)
    tally, wall = await phase(args, args.duration)
    ordered = sorted(tally.latencies)
    mode = "binary" + (f"+{args.compression}" if args.compression else "") + ("+chunked" if args.chunked else "")
    return {
        "client": "hs_py.ws_client.WebSocketClient",
        "url": args.url,
        "mode": mode,
        "connections": args.connections,
        "warmup_s": args.warmup,
        "duration_s": args.duration,
        "wall_time_s": round(wall, 3),
        "warmup_messages": warmup_messages,
        "messages": len(ordered),
        "messages_per_sec": round(len(ordered) / wall, 2) if wall > 0 else 0.0,
        "errors": tally.errors,
        "first_errors": tally.first_errors,
        "response_bytes": tally.response_bytes,
        "latency_ms": {
            "p50": percentile(ordered, 50),
            "p90": percentile(ordered, 90),
            "p99": percentile(ordered, 99),
            "max": round(ordered[-1] * 1000, 3) if ordered else 0.0,
        },
    }


def seconds(text: str) -> float:
    value = float(text)
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"`{text}` is not a number of seconds")
    return value


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="the server, e.g. ws://127.0.0.1:8080")
    parser.add_argument("--auth-token", default="", help="send this token first on every connection")
    parser.add_argument("--compression", choices=sorted(ALGORITHMS), help="ask for this compression")
    parser.add_argument("--chunked", action="store_true", help="ask for chunked transfer")
    parser.add_argument("--connections", type=int, default=10, help="connections (default 10)")
    parser.add_argument("--duration", type=seconds, default=15.0, help="seconds measured (default 15)")
    parser.add_argument("--warmup", type=seconds, default=3.0, help="seconds of warm-up before (default 3)")
    parser.add_argument("--timeout", type=seconds, default=10.0, help="seconds per request (default 10)")
    args = parser.parse_args()
    if args.connections < 1:
        parser.error("--connections must be at least 1")
    if args.duration <= 0:
        parser.error("--duration must be more than 0 seconds")
    try:
        result = asyncio.run(bench(args))
    except KeyboardInterrupt:
        print("reference_client: interrupted", file=sys.stderr)
        return 130
    except TimeoutError:
        print("reference_client: the connections did not close in time", file=sys.stderr)
        return 1
    print(json.dumps(result))
    return 0 if result["errors"] == 0 and result["messages"] > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
