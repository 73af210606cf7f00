"""The reference's WebSocket server, haystack-py's `WebSocketServer`, on the
data of its own WebSocket benchmark (`benchmarks/bench_ws_compression.py`):
5,000 point entities in an `InMemoryAdapter`, in binary mode.

    python scripts/reference_server.py --listen 127.0.0.1:0 --auth-token T \
        [--compression zlib|lzma] [--chunked]

The first line on stdout is `listening on ws://HOST:PORT`; the server then
runs until SIGTERM or SIGINT. Needs haystack-py (scripts/python-env.sh makes
a virtual environment with it).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from hs_py.kinds import MARKER, Number, Ref
from hs_py.ops import HaystackOps
from hs_py.storage.memory import InMemoryAdapter
from hs_py.ws_codec import COMP_LZMA, COMP_ZLIB
from hs_py.ws_server import WebSocketServer

# The benchmark's data set: as many points, with the same tags and values.
POINTS = 5000
ALGORITHMS = {"zlib": COMP_ZLIB, "lzma": COMP_LZMA}


def benchmark_points(count: int) -> list[dict]:
    """The benchmark's point records: `p:0` .. `p:{count-1}`, all on one site ref."""
    records = []
    for index in range(count):
        records.append(
            {
                "id": Ref(f"p:{index}"),
                "dis": f"Point {index}",
                "point": MARKER,
                "sensor": MARKER,
                "kind": "Number",
                "unit": "°F",
                "curVal": Number(72.0 + index % 30, "°F"),
                "siteRef": Ref("s:site-1"),
            }
        )
    return records


def address(text: str) -> tuple[str, int]:
    """HOST:PORT from the command line (port 0: any free port)."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise argparse.ArgumentTypeError(f"`{text}` is not HOST:PORT")
    return host, int(port)


async def serve(args: argparse.Namespace) -> None:
    storage = InMemoryAdapter()
    await storage.start()
    storage.load_entities(benchmark_points(args.points))
    host, port = args.listen
    server = WebSocketServer(
        HaystackOps(storage=storage),
        auth_token=args.auth_token,
        host=host,
        port=port,
        heartbeat=0,
        binary=True,
        binary_compression=ALGORITHMS.get(args.compression) if args.compression else None,
        chunked=args.chunked,
    )
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    print(f"listening on ws://{host}:{server.port}", flush=True)
    try:
        await stop.wait()
    finally:
        await server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listen", type=address, default=("127.0.0.1", 0), help="HOST:PORT (default 127.0.0.1:0)")
    parser.add_argument("--auth-token", default="", help="require this token first on every connection")
    parser.add_argument("--compression", choices=sorted(ALGORITHMS), help="compress frames with this algorithm")
    parser.add_argument("--chunked", action="store_true", help="send large payloads in chunks")
    parser.add_argument("--points", type=int, default=POINTS, help=f"how many points (default {POINTS})")
    args = parser.parse_args()
    try:
        asyncio.run(serve(args))
    except OSError as error:
        print(f"reference_server: cannot listen on {args.listen[0]}:{args.listen[1]}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
