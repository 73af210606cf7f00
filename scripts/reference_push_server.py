"""The reference's push fan-out: haystack-py's WebSocketServer in binary mode,
pushing one grid of points to every connected client R times a second.

    python scripts/reference_push_server.py [--host 127.0.0.1] [--port 0]
        [--rate 100] [--rows 50] [--compression zlib|lzma] [--chunked]
        [--auth-token T]

Runs under the interpreter scripts/python-env.sh prints (haystack-py 0.1.10).
Prints `listening on ws://HOST:PORT` first. Each tick builds a grid of ROWS
points with the tags of the reference benchmark's points (id, dis, point,
sensor, kind, unit, curVal, siteRef), whose meta holds `pushedAt`: the tick's
wall-clock time in microseconds since the Unix epoch, so that a receiver on
the same machine (`hswire bench --pushes`) can time each delivery. The server
encodes the push once and sends it to each connection (`push_watch`). A tick
that falls behind is delayed, not bunched. Stops on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import signal
import sys
import time

from hs_py.grid import Grid, GridBuilder
from hs_py.kinds import MARKER, Number, Ref
from hs_py.ops import HaystackOps
from hs_py.storage.memory import InMemoryAdapter
from hs_py.ws_codec import COMP_LZMA, COMP_ZLIB
from hs_py.ws_server import WebSocketServer

WATCH_ID = "fanout"
COLUMNS = ("id", "dis", "point", "sensor", "kind", "unit", "curVal", "siteRef")


def tick_grid(rows: int, tick: int, pushed_at: int) -> Grid:
    """The grid of one tick: `rows` points, curVal moving with `tick`."""
    builder = GridBuilder().set_meta({"ver": "3.0", "pushedAt": Number(float(pushed_at))})
    for name in COLUMNS:
        builder.add_col(name)
    site = Ref("s:site-1")
    for i in range(rows):
        builder.add_row(
            {
                "id": Ref(f"p:{i}"),
                "dis": f"Point {i}",
                "point": MARKER,
                "sensor": MARKER,
                "kind": "Number",
                "unit": "°F",
                "curVal": Number(float(72 + (i + tick) % 30), "°F"),
                "siteRef": site,
            }
        )
    return builder.to_grid()


def raise_file_limit(wanted: int = 4096) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY:
        wanted = min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


async def ticker(server: WebSocketServer, rate: float, rows: int) -> None:
    period = 1.0 / rate
    due = time.monotonic()
    tick = 0
    while True:
        grid = tick_grid(rows, tick, time.time_ns() // 1000)
        await server.push_watch(WATCH_ID, grid)
        tick += 1
        # The next tick is one period after this one was due, or now when
        # this one ran late: late ticks are delayed, never bunched.
        due = max(due + period, time.monotonic())
        await asyncio.sleep(max(0.0, due - time.monotonic()))


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--rate", type=float, default=100.0, help="ticks per second")
    parser.add_argument("--rows", type=int, default=50)
    parser.add_argument("--compression", choices=["zlib", "lzma"])
    parser.add_argument("--chunked", action="store_true")
    parser.add_argument("--auth-token", default="")
    args = parser.parse_args()
    if not args.rate > 0 or args.rows < 1:
        parser.error("--rate must be more than 0 and --rows at least 1")
    raise_file_limit()
    compression = {"zlib": COMP_ZLIB, "lzma": COMP_LZMA, None: None}[args.compression]
    server = WebSocketServer(
        HaystackOps(storage=InMemoryAdapter()),
        host=args.host,
        port=args.port,
        binary=True,
        heartbeat=0,
        auth_token=args.auth_token,
        binary_compression=compression,
        chunked=args.chunked,
    )
    await server.start()
    print(f"listening on ws://{args.host}:{server.port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    pushing = asyncio.create_task(ticker(server, args.rate, args.rows))
    await stop.wait()
    pushing.cancel()
    try:
        await asyncio.wait_for(server.stop(), 5)
    except (TimeoutError, asyncio.CancelledError):
        pass
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
