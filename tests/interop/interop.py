"""Live interop between haystack-wire and the reference, haystack-py, on 127.0.0.1.

Part A runs the reference's WebSocketServer(binary=True) with fixed grids and
talks to it with our client: `hswire call` in each mode, and the
interop_client example for pushes and load. Part B runs `hswire serve` and
talks to it with the reference's WebSocketClient(binary=True). Part C does
both over TLS with client certificates made by the reference's
`generate_test_certificates`. Part D logs in with SCRAM-SHA-256 both ways:
the reference's client (JSON and binary modes) against `hswire serve
--users`, and `hswire call --user` against the reference's server with a
StorageAuthenticator. Part E covers the rest of the reference's WebSocket
protocol: its JSON-mode client and its batches against `hswire serve`,
`hswire call --batch` and `--json-mode` against its server, its reconnecting
client across a restart of `hswire serve`, our reconnecting client (the
reconnect_client example) across a restart of its server, and our request
builders' grids through its encoder (tests/interop/requests.py). Each check
prints one line; the script exits 1 if any check fails.

Usage: python interop.py --hswire PATH --client PATH --reconnect-client PATH --request-grids PATH
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import json
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from hs_py import ws_client, ws_server
from hs_py.encoding.json import decode_grid, encode_grid
from hs_py.errors import CallError, HaystackError
from hs_py.grid import Grid, GridBuilder
from hs_py.kinds import MARKER, Number, Ref
from hs_py.ops import HaystackOps
from hs_py.tls import TLSConfig, generate_test_certificates
from hs_py.ws_client import ReconnectingWebSocketClient, WebSocketClient
from hs_py.ws_codec import COMP_LZMA, COMP_ZLIB
from hs_py.ws_server import WebSocketServer

HOST = "127.0.0.1"
FAILURES: list[str] = []


def check(name: str, ok: bool, detail: str = "") -> None:
    print(f"{'PASS' if ok else 'FAIL'}  {name}{': ' + detail if detail else ''}", flush=True)
    if not ok:
        FAILURES.append(name)


# ---- comparing grids value by value -----------------------------------------


def same_value(a: Any, b: Any) -> bool:
    if isinstance(a, Number) and isinstance(b, Number):
        if math.isnan(a.val) or math.isnan(b.val):
            # The reference drops the unit of a NaN number when it reads one.
            return math.isnan(a.val) and math.isnan(b.val)
        return a.val == b.val and a.unit == b.unit
    if isinstance(a, Ref) and isinstance(b, Ref):
        return a.val == b.val and a.dis == b.dis
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_value(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b))
    if isinstance(a, Grid) and isinstance(b, Grid):
        return same_grid(a, b) is None
    return type(a) is type(b) and a == b


def same_grid(a: Grid, b: Grid) -> str | None:
    """None when the grids hold the same values, else where they differ.

    `ver` is left out of the meta: Haystack 4 JSON writers may add it."""
    meta_a = {k: v for k, v in a.meta.items() if k != "ver"}
    meta_b = {k: v for k, v in b.meta.items() if k != "ver"}
    if not same_value(meta_a, meta_b):
        return f"meta {meta_a!r} != {meta_b!r}"
    if a.col_names != b.col_names:
        return f"columns {a.col_names} != {b.col_names}"
    if len(a.rows) != len(b.rows):
        return f"{len(a.rows)} rows != {len(b.rows)} rows"
    for index, (row_a, row_b) in enumerate(zip(a.rows, b.rows)):
        if not same_value(row_a, row_b):
            return f"row {index}: {row_a!r} != {row_b!r}"
    return None


# ---- part A: the reference's server, our client -----------------------------

UTC = datetime.timezone.utc
SPECIALS = [Number(float("nan")), Number(float("inf"), "kW"), Number(float("-inf")), Number(1.5, "kW")]


def big_grid(rows: int = 3000) -> Grid:
    """A grid of about 400 KB, past the reference's 256 KiB chunking threshold."""
    builder = GridBuilder().set_meta({"title": "big", "flag": MARKER})
    for name in ("id", "dis", "val", "special", "ts", "day", "tags", "nested", "marker"):
        builder.add_col(name)
    start = datetime.datetime(2026, 10, 1, tzinfo=UTC)
    for i in range(rows):
        row: dict[str, Any] = {
            "id": Ref(f"p-{i}", f"Point {i}"),
            "dis": f"Point number {i} of the interop grid",
            "val": Number(i * 0.25, "°F"),
            "special": SPECIALS[i % len(SPECIALS)],
            "ts": start + datetime.timedelta(minutes=5 * i),
            "day": datetime.date(2026, 10, 1 + i % 28),
            "tags": ["a", f"t{i % 7}"],
            "nested": {"n": Number(float(i)), "ok": i % 2 == 0},
        }
        if i % 3 == 0:
            row["marker"] = MARKER
        builder.add_row(row)
    return builder.to_grid()


ABOUT = GridBuilder().add_col("serverName").add_col("productName").add_col("vendorName").add_row(
    {"serverName": "reference", "productName": "haystack-py", "vendorName": "interop"}
).to_grid()
SMALL = GridBuilder().add_col("id").add_col("curVal").add_row(
    {"id": Ref("a", "A"), "curVal": Number(float("nan"), "kW")}
).add_row({"id": Ref("b"), "curVal": Number(21.5, "°C")}).to_grid()
BIG = big_grid()


class FixedOps(HaystackOps):
    """Answers with fixed grids; `read` by `n==K` answers K, for load checks."""

    async def about(self) -> Grid:
        return ABOUT

    async def read(self, grid: Grid) -> Grid:
        filter_text = grid[0].get("filter", "") if grid.rows else ""
        if filter_text == "big":
            return BIG
        if filter_text.startswith("n=="):
            n = int(filter_text[3:])
            return GridBuilder().add_col("n").add_row({"n": Number(float(n))}).to_grid()
        return SMALL

    async def invoke_action(self, grid: Grid) -> Grid:
        raise HaystackError("no such action")

    async def watch_sub(self, grid: Grid) -> Grid:
        async def push_later() -> None:
            await asyncio.sleep(0.05)
            await self.push_watch("w-ref", SMALL)

        asyncio.get_running_loop().create_task(push_later())
        return GridBuilder().set_meta({"watchId": "w-ref"}).add_col("id").to_grid()


class Observed:
    """What the reference's server saw: capability offers and chunked responses."""

    offers: list[dict[str, Any]] = []
    chunked_frames = 0


def observe_reference_server() -> None:
    handle_capabilities = WebSocketServer._handle_capabilities
    encode_chunked = ws_server.encode_chunked_frames

    async def capabilities(self: WebSocketServer, ws: Any, msg: dict[str, Any]) -> None:
        Observed.offers.append(msg)
        await handle_capabilities(self, ws, msg)

    def chunked(*args: Any, **kwargs: Any) -> list[bytes]:
        frames = encode_chunked(*args, **kwargs)
        Observed.chunked_frames += len(frames)
        return frames

    WebSocketServer._handle_capabilities = capabilities  # type: ignore[method-assign]
    ws_server.encode_chunked_frames = chunked


async def run(*argv: str, within: float = 600) -> tuple[int, str, str]:
    """Runs a command to its end, killed after `within` seconds."""
    process = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), within)
    except TimeoutError:
        process.kill()
        await process.wait()
        return -1, "", f"killed after {within:.0f} s"
    return process.returncode or 0, out.decode(), err.decode()


def read_grid(filter_text: str) -> str:
    return encode_grid(GridBuilder().add_col("filter").add_row({"filter": filter_text}).to_grid()).decode()


MODES_A = [
    ("v1", {}, []),
    ("zlib", {"binary_compression": COMP_ZLIB}, ["--compression", "zlib"]),
    ("lzma", {"binary_compression": COMP_LZMA}, ["--compression", "lzma"]),
    ("chunked+zlib", {"binary_compression": COMP_ZLIB, "chunked": True}, ["--compression", "zlib", "--chunked"]),
    ("lzma asked, zlib-only server", {"binary_compression": COMP_ZLIB}, ["--compression", "lzma"]),
]


async def reference_server(**options: Any) -> tuple[WebSocketServer, str]:
    server = WebSocketServer(FixedOps(), host=HOST, port=0, binary=True, heartbeat=0, **options)
    await server.start()
    return server, f"ws://{HOST}:{server.port}"


async def part_a(hswire: str, client: str) -> None:
    print("== part A: reference WebSocketServer(binary=True), our client", flush=True)
    observe_reference_server()
    for name, options, flags in MODES_A:
        server, url = await reference_server(**options)
        try:
            Observed.offers.clear()
            Observed.chunked_frames = 0
            for label, op, grid, expected in (
                ("about", "about", None, ABOUT),
                ("read (NaN, units)", "read", read_grid("small"), SMALL),
                (f"read ({len(encode_grid(BIG)):,} bytes)", "read", read_grid("big"), BIG),
            ):
                argv = [hswire, "call", "--url", url, *flags, op] + (["--grid", grid] if grid else [])
                code, out, err = await run(*argv)
                if code != 0:
                    check(f"A {name}: {label}", False, f"exit {code}: {err.strip()}")
                    continue
                # The baseline is what the reference itself reads from its own
                # encoding (it reads a unitless number nested in a dict as a float).
                baseline = decode_grid(encode_grid(expected))
                difference = same_grid(decode_grid(out.strip().encode()), baseline)
                check(f"A {name}: {label}", difference is None, difference or "same values")
            offered = Observed.offers[0] if Observed.offers else None
            if flags:
                want = {"type": "capabilities", "compression": [flags[1]], "chunked": "--chunked" in flags, "version": 2}
                check(f"A {name}: offer", offered == want, json.dumps(offered))
            else:
                check(f"A {name}: no handshake", not Observed.offers, json.dumps(Observed.offers))
            if options.get("chunked"):
                check(f"A {name}: the big grid came chunked", Observed.chunked_frames > 1, f"{Observed.chunked_frames} chunk frames")
        finally:
            await server.stop()

    server, url = await reference_server(auth_token="s3cret", binary_compression=COMP_ZLIB)
    try:
        code, out, _ = await run(hswire, "call", "--url", url, "--auth-token", "s3cret", "--compression", "zlib", "about")
        check("A token: right token", code == 0 and same_grid(decode_grid(out.strip().encode()), decode_grid(encode_grid(ABOUT))) is None)
        code, _, err = await run(hswire, "call", "--url", url, "--auth-token", "wrong", "about")
        check("A token: wrong token refused", code != 0, err.strip().splitlines()[-1] if err.strip() else "")
    finally:
        await server.stop()

    server, url = await reference_server(binary_compression=COMP_ZLIB)
    try:
        code, out, err = await run(hswire, "call", "--url", url, "invokeAction")
        check("A error grid: exit 1, dis on stderr", code == 1 and err == "no such action\n" and out == "", f"exit {code}, stderr {err!r}")
        code, out, err = await run(client, "push", "--url", url)
        ok = code == 0 and json.loads(out)["op"] == "watchPoll"
        check("A push received by our client", ok, out.strip() or err.strip())
        started = time.monotonic()
        code, out, err = await run(client, "load", "--url", url, "--compression", "zlib", "--concurrent", "2000", "--sequential", "70000")
        check("A load: 2,000 concurrent + 70,000 sequential", code == 0, f"{out.strip() or err.strip()} ({time.monotonic() - started:.1f} s)")
    finally:
        await server.stop()


# ---- part B: our server, the reference's client -----------------------------

MODES_B = [
    ("v1", [], {}),
    ("zlib", ["--compression", "zlib"], {"binary_compression": COMP_ZLIB}),
    ("lzma", ["--compression", "lzma"], {"binary_compression": COMP_LZMA}),
    ("chunked+zlib", ["--compression", "zlib", "--chunked"], {"binary_compression": COMP_ZLIB, "chunked": True}),
    ("lzma asked, zlib-only server", ["--compression", "zlib"], {"binary_compression": COMP_LZMA}),
]
MONTH = "2026-10-01,2026-10-31"


class Counted:
    chunks = 0


def observe_reference_client() -> None:
    original = ws_client.ChunkAssembler.feed

    def feed(self: Any, *args: Any) -> Any:
        Counted.chunks += 1
        return original(self, *args)

    ws_client.ChunkAssembler.feed = feed  # type: ignore[method-assign]


async def start_hswire_serve(hswire: str, *flags: str) -> tuple[asyncio.subprocess.Process, str]:
    process = await asyncio.create_subprocess_exec(
        hswire, "serve", "--listen", f"{HOST}:0", *flags, stdout=asyncio.subprocess.PIPE
    )
    assert process.stdout is not None
    line = (await asyncio.wait_for(process.stdout.readline(), 30)).decode().strip()
    url = line.rsplit(" ", 1)[-1]
    if not url.startswith(("ws://", "wss://")):
        raise RuntimeError(f"hswire serve said {line!r}")
    return process, url


async def stop(process: asyncio.subprocess.Process) -> None:
    process.terminate()
    await process.wait()


async def part_b(hswire: str) -> None:
    print("== part B: hswire serve, reference WebSocketClient(binary=True)", flush=True)
    observe_reference_client()
    baseline: dict[str, Grid] = {}
    for name, flags, options in MODES_B:
        process, url = await start_hswire_serve(hswire, *flags)
        try:
            Counted.chunks = 0
            async with WebSocketClient(url, binary=True, pythonic=False, heartbeat=0, **options) as client:
                points = await client.read("point and his", 5, raw=True)
                point = points[0]["id"]
                results = {
                    "about": await client.about(raw=True),
                    "read": await client.read("point and temp", 50, raw=True),
                    "hisRead month": await client.his_read(point, MONTH, raw=True),
                }
            his = results["hisRead month"]
            for label, grid in results.items():
                if name == "v1":
                    baseline[label] = grid
                    detail = f"{len(grid.rows)} rows"
                    ok = len(grid.rows) > 0
                else:
                    # The clocks move; the rest of about must not.
                    strip = (lambda g: g) if label != "about" else drop_server_time
                    difference = same_grid(strip(grid), strip(baseline[label]))
                    ok, detail = difference is None, difference or f"{len(grid.rows)} rows, same values as v1"
                check(f"B {name}: {label}", ok, detail)
            nans = [i for i, row in enumerate(his.rows) if isinstance(row.get("val"), Number) and math.isnan(row["val"].val)]
            check(f"B {name}: hisRead has 8,928 samples, NaN among them", len(his.rows) == 8928 and bool(nans), f"{len(his.rows)} rows, NaN at {nans[:3]}…")
            if options.get("chunked"):
                check(f"B {name}: the month came chunked", Counted.chunks > 1, f"{Counted.chunks} chunks reassembled by the reference")
            else:
                check(f"B {name}: nothing chunked", Counted.chunks == 0, f"{Counted.chunks} chunks")
        finally:
            await stop(process)

    process, url = await start_hswire_serve(hswire, "--compression", "zlib", "--chunked")
    try:
        # Our client and the reference's get the same month from our server.
        points = decode_grid((await run(hswire, "call", "--url", url, "read", "--grid", read_grid("point and his")))[1].encode())
        point = points.rows[0]["id"]
        request = encode_grid(GridBuilder().add_col("id").add_col("range").add_row({"id": point, "range": MONTH}).to_grid()).decode()
        code, out, err = await run(hswire, "call", "--url", url, "--compression", "zlib", "--chunked", "hisRead", "--grid", request)
        ours = decode_grid(out.strip().encode()) if code == 0 else None
        async with WebSocketClient(url, binary=True, pythonic=False, heartbeat=0, binary_compression=COMP_ZLIB, chunked=True) as client:
            theirs = await client.his_read(point, MONTH, raw=True)
            difference = same_grid(ours, theirs) if ours is not None else err.strip()
            check("B both clients read the same month", difference is None, difference or f"{len(theirs.rows)} rows")

            pushes: asyncio.Queue[tuple[str, Grid]] = asyncio.Queue()
            client.on_watch_push(lambda op, grid: pushes.put_nowait((op, grid)))
            sub = await client.watch_sub([point], "interop", raw=True)
            watch_id = sub.meta.get("watchId")
            op, grid = await asyncio.wait_for(pushes.get(), 10)
            check("B watch push through the reference's callback", op == "watchPoll" and grid.meta.get("watchId") == watch_id, f"op {op}, watchId {grid.meta.get('watchId')}, {len(grid.rows)} rows")

            try:
                await client._call("nav", Grid.make_empty())
                check("B unknown op: error grid", False, "no error")
            except CallError as error:
                check("B unknown op: error grid", "nav" in str(error), str(error))

            ids = [row["id"] for row in (await client.read("point", 2000, raw=True)).rows]
            started = time.monotonic()
            answers = await asyncio.gather(*(client.read_by_ids([ref], raw=True) for ref in ids), return_exceptions=True)
            matched = sum(1 for ref, answer in zip(ids, answers) if isinstance(answer, Grid) and answer.rows and answer.rows[0]["id"].val == ref.val)
            check(f"B load: {len(ids):,} concurrent requests from the reference's client", len(ids) == 2000 and matched == 2000, f"{matched} matched in {time.monotonic() - started:.1f} s")
    finally:
        await stop(process)

    process, url = await start_hswire_serve(hswire, "--auth-token", "s3cret")
    try:
        async with WebSocketClient(url, binary=True, pythonic=False, heartbeat=0, auth_token="s3cret") as client:
            about = await client.about(raw=True)
            check("B token: the reference's client authenticates", len(about.rows) == 1)
    finally:
        await stop(process)


# ---- part C: both over TLS, with client certificates ----------------------

MODES_C = [
    ("v1", {}, []),
    ("chunked+zlib", {"binary_compression": COMP_ZLIB, "chunked": True}, ["--compression", "zlib", "--chunked"]),
]


async def part_c(hswire: str) -> None:
    print("== part C: TLS both ways, with client certificates", flush=True)
    with tempfile.TemporaryDirectory() as directory:
        server_tls = generate_test_certificates(directory)
        files = {name: str(Path(directory) / name) for name in ("ca.pem", "server.pem", "server.key", "client.pem", "client.key")}
        our_certificate = ["--ca", files["ca.pem"], "--cert", files["client.pem"], "--key", files["client.key"]]

        # The reference's server requires client certificates (mutual TLS, TLS 1.3).
        for name, options, flags in MODES_C:
            server = WebSocketServer(FixedOps(), host=HOST, port=0, binary=True, heartbeat=0, tls=server_tls, **options)
            await server.start()
            url = f"wss://{HOST}:{server.port}"
            try:
                code, out, err = await run(hswire, "call", "--url", url, *our_certificate, *flags, "read", "--grid", read_grid("big"))
                if code == 0:
                    difference = same_grid(decode_grid(out.strip().encode()), decode_grid(encode_grid(BIG)))
                    check(f"C {name}: hswire call with a client certificate reads the big grid", difference is None, difference or "same values")
                else:
                    check(f"C {name}: hswire call with a client certificate reads the big grid", False, f"exit {code}: {err.strip()}")
                code, _, err = await run(hswire, "call", "--url", url, "--ca", files["ca.pem"], "--timeout", "5", "about")
                check(f"C {name}: hswire call without a certificate is refused", code != 0, err.strip().splitlines()[-1] if err.strip() else "")
            finally:
                await server.stop()

        # hswire serve requires them too; the reference's client presents its own.
        client_tls = TLSConfig(
            certificate_path=files["client.pem"], private_key_path=files["client.key"], ca_certificates_path=files["ca.pem"]
        )
        server_flags = ["--tls-cert", files["server.pem"], "--tls-key", files["server.key"], "--client-ca", files["ca.pem"]]
        for name, options, flags in MODES_C:
            process, url = await start_hswire_serve(hswire, *server_flags, *flags)
            try:
                check(f"C {name}: hswire serve says wss://", url.startswith("wss://"), url)
                async with WebSocketClient(url, binary=True, pythonic=False, heartbeat=0, tls=client_tls, **options) as client:
                    point = (await client.read("point and his", 1, raw=True))[0]["id"]
                    month = await client.his_read(point, MONTH, raw=True)
                check(f"C {name}: the reference's client reads a month over TLS", len(month.rows) == 8928, f"{len(month.rows)} rows")
                anonymous = TLSConfig(ca_certificates_path=files["ca.pem"])
                try:
                    async with WebSocketClient(url, binary=True, pythonic=False, heartbeat=0, tls=anonymous, timeout=5) as client:
                        await client.about(raw=True)
                    check(f"C {name}: the reference's client without a certificate is refused", False, "served")
                except Exception as error:  # noqa: BLE001 - any refusal will do
                    check(f"C {name}: the reference's client without a certificate is refused", True, type(error).__name__)
            finally:
                await stop(process)


# ---- part D: SCRAM logins both ways ----------------------------------------

PASSWORD = "correct horse battery staple"


async def part_d(hswire: str) -> None:
    print("== part D: SCRAM-SHA-256 logins both ways", flush=True)
    from hs_py.errors import AuthError
    from hs_py.auth_types import StorageAuthenticator
    from hs_py.storage.memory import InMemoryAdapter
    from hs_py.user import Role, create_user, user_to_dict

    operator = create_user("ops", PASSWORD, role=Role.OPERATOR, iterations=4096)
    viewer = create_user("eve", PASSWORD, role=Role.VIEWER, iterations=4096)
    with tempfile.TemporaryDirectory() as directory:
        users_file = Path(directory) / "users.json"
        users_file.write_text(json.dumps([user_to_dict(operator), user_to_dict(viewer)]))
        process, url = await start_hswire_serve(hswire, "--users", str(users_file), "--auth-token", "s3cret")
        try:
            for mode, options in (("JSON", {}), ("binary", {"binary": True})):
                async with WebSocketClient(url, pythonic=False, heartbeat=0, username="ops", password=PASSWORD, **options) as client:
                    about = await client.about(raw=True)
                check(f"D {mode}: the reference's client logs in to hswire serve --users and calls about", len(about.rows) == 1)
                try:
                    async with WebSocketClient(url, pythonic=False, heartbeat=0, username="ops", password="wrong", timeout=5, **options) as client:
                        await client.about(raw=True)
                    check(f"D {mode}: a wrong password is refused", False, "served")
                except AuthError as error:
                    check(f"D {mode}: a wrong password is refused", True, f"AuthError: {error}")
                try:
                    async with WebSocketClient(url, pythonic=False, heartbeat=0, username="nobody", password=PASSWORD, timeout=5, **options) as client:
                        await client.about(raw=True)
                    check(f"D {mode}: an unknown user is refused", False, "served")
                except AuthError as error:
                    check(f"D {mode}: an unknown user is refused", True, f"AuthError: {error}")
                async with WebSocketClient(url, pythonic=False, heartbeat=0, username="eve", password=PASSWORD, **options) as client:
                    point = (await client.read("point and his", 1, raw=True))[0]["id"]
                    try:
                        await client.watch_sub([point], "viewer", raw=True)
                        check(f"D {mode}: a viewer may read but not subscribe", False, "watchSub served")
                    except CallError as error:
                        check(f"D {mode}: a viewer may read but not subscribe", "viewer" in str(error), str(error))
            # A server with users still lets the shared token in, with full access.
            async with WebSocketClient(url, pythonic=False, heartbeat=0, auth_token="s3cret", binary=True) as client:
                about = await client.about(raw=True)
            check("D the shared token still lets the reference's client in", len(about.rows) == 1)
        finally:
            await stop(process)

    # A server that takes no logins refuses one at once instead of leaving the client waiting.
    process, url = await start_hswire_serve(hswire)
    try:
        started = time.monotonic()
        try:
            async with asyncio.timeout(10):
                async with WebSocketClient(url, pythonic=False, heartbeat=0, username="ops", password=PASSWORD) as client:
                    await client.about(raw=True)
            check("D a login to hswire serve without --users is refused at once", False, "served")
        except AuthError as error:
            took = time.monotonic() - started
            check("D a login to hswire serve without --users is refused at once", took < 5, f"AuthError after {took:.2f} s: {error}")
        except TimeoutError:
            check("D a login to hswire serve without --users is refused at once", False, "no answer within 10 s")
    finally:
        await stop(process)

    adapter = InMemoryAdapter()
    await adapter.start()
    await adapter.create_user(operator)
    server = WebSocketServer(FixedOps(), host=HOST, port=0, binary=True, heartbeat=0, authenticator=StorageAuthenticator(adapter))
    await server.start()
    url = f"ws://{HOST}:{server.port}"
    try:
        code, out, err = await run(hswire, "call", "--url", url, "--user", "ops", "--password", PASSWORD, "read", "--grid", read_grid("big"))
        if code == 0:
            difference = same_grid(decode_grid(out.strip().encode()), decode_grid(encode_grid(BIG)))
            check("D hswire call --user logs in to the reference's server and reads", difference is None, difference or "same values")
        else:
            check("D hswire call --user logs in to the reference's server and reads", False, f"exit {code}: {err.strip()}")
        code, _, err = await run(hswire, "call", "--url", url, "--user", "ops", "--password", "wrong", "--timeout", "5", "about")
        last = err.strip().splitlines()[-1] if err.strip() else ""
        check("D hswire call with a wrong password exits 1 naming the URL", code == 1 and url in last, last)
    finally:
        await server.stop()


# ---- part E: JSON mode, batches, reconnects, request grids ------------------


EMPTY = GridBuilder().to_grid()


def read_by_filter(filter_text: str, limit: int) -> Grid:
    return GridBuilder().add_col("filter").add_col("limit").add_row({"filter": filter_text, "limit": Number(float(limit))}).to_grid()


def his_read_request(point: Ref, span: str) -> Grid:
    return GridBuilder().add_col("id").add_col("range").add_row({"id": point, "range": span}).to_grid()


async def part_e_json_client(hswire: str) -> None:
    # (1) The reference's client in its default JSON mode (binary=False) against hswire serve.
    process, url = await start_hswire_serve(hswire, "--push-interval-ms", "200")
    try:
        async with WebSocketClient(url, pythonic=False, heartbeat=0) as client:
            about = await client.about(raw=True)
            check("E JSON client: about", len(about.rows) == 1 and about.rows[0].get("productName") == "haystack-wire", f"{about.rows[0].get('productName') if about.rows else None}")
            points = await client.read("point and his", 5, raw=True)
            check("E JSON client: read", len(points.rows) == 5, f"{len(points.rows)} rows")
            point = points.rows[0]["id"]
            month = await client.his_read(point, MONTH, raw=True)
            nans = [i for i, row in enumerate(month.rows) if isinstance(row.get("val"), Number) and math.isnan(row["val"].val)]
            check("E JSON client: hisRead month, NaN among the samples", len(month.rows) == 8928 and bool(nans), f"{len(month.rows)} rows, NaN at {nans[:3]}…")
            pushes: asyncio.Queue[tuple[str, Grid]] = asyncio.Queue()
            client.on_watch_push(lambda watch_id, grid: pushes.put_nowait((watch_id, grid)))
            sub = await client.watch_sub([point], "interop-json", raw=True)
            watch_id = sub.meta.get("watchId")
            try:
                pushed_id, grid = await asyncio.wait_for(pushes.get(), 10)
                ids = [row["id"].val for row in grid.rows if isinstance(row.get("id"), Ref)]
                check("E JSON client: watch push through on_watch_push", pushed_id == watch_id and point.val in ids, f"watchId {pushed_id} (subscribed {watch_id}), rows {ids}")
            except TimeoutError:
                check("E JSON client: watch push through on_watch_push", False, "no push within 10 s")
    finally:
        await stop(process)


async def part_e_batches(hswire: str) -> None:
    # (2) The reference's batch() in both of its modes against hswire serve.
    process, url = await start_hswire_serve(hswire)
    try:
        for label, binary in (("binary=True", True), ("JSON mode", False)):
            async with WebSocketClient(url, binary=binary, pythonic=False, heartbeat=0) as client:
                point = (await client.read("point and his", 1, raw=True)).rows[0]["id"]
                calls = [
                    ("read", read_by_filter("point and temp", 3)),
                    ("about", EMPTY),
                    ("hisRead", his_read_request(point, "2026-10-01")),
                    ("read", read_by_filter("site", 2)),
                    ("read", read_by_filter("equip and siteRef==@s-2", 4)),
                ]
                answers = await asyncio.wait_for(client.batch(*calls), 30)
                singles = [await client._call(op, grid) for op, grid in calls]
                problems = []
                for index, ((op, _), answer, single) in enumerate(zip(calls, answers, singles)):
                    strip = drop_server_time if op == "about" else (lambda g: g)
                    difference = same_grid(strip(answer), strip(single))
                    if difference is not None:
                        problems.append(f"item {index} ({op}): {difference}")
                rows = [len(answer.rows) for answer in answers]
                check(f"E batch() {label}: answers in order, equal to single calls", len(answers) == len(calls) and not problems, "; ".join(problems) or f"{len(answers)} answers, rows {rows}")
    finally:
        await stop(process)


async def part_e_our_batches(hswire: str) -> None:
    # hswire call --batch and --json-mode against the reference's server, in both of its modes.
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "batch.json"
        items = [
            {"op": "about"},
            {"op": "read", "grid": json.loads(read_grid("small"))},
            {"op": "invokeAction"},
            {"op": "read", "grid": json.loads(read_grid("n==7"))},
        ]
        path.write_text(json.dumps(items))
        for label, binary in (("binary=True", True), ("binary=False", False)):
            server = WebSocketServer(FixedOps(), host=HOST, port=0, binary=binary, heartbeat=0)
            await server.start()
            url = f"ws://{HOST}:{server.port}"
            try:
                for flags in ([], ["--json-mode"]):
                    name = f"E hswire call --batch {' '.join(flags) or '(binary)'} against WebSocketServer({label})"
                    code, out, err = await run(hswire, "call", "--url", url, *flags, "--batch", str(path))
                    lines = out.strip().splitlines()
                    if code != 1 or len(lines) != 4:
                        check(name, False, f"exit {code}, {len(lines)} lines: {err.strip() or out.strip()}")
                        continue
                    problems = []
                    for index, expected in ((0, ABOUT), (1, SMALL)):
                        difference = same_grid(decode_grid(lines[index].encode()), decode_grid(encode_grid(expected)))
                        if difference is not None:
                            problems.append(f"line {index}: {difference}")
                    if lines[2] != "error: no such action":
                        problems.append(f"line 2: {lines[2]!r}")
                    n = decode_grid(lines[3].encode())
                    # The reference reads a unitless number as a float.
                    if not n.rows or getattr(n.rows[0]["n"], "val", n.rows[0]["n"]) != 7:
                        problems.append(f"line 3: {lines[3]}")
                    check(name, not problems, "; ".join(problems) or "4 answers in order, the error in its place, exit 1")
                code, out, err = await run(hswire, "call", "--url", url, "--json-mode", "read", "--grid", read_grid("small"))
                difference = same_grid(decode_grid(out.strip().encode()), decode_grid(encode_grid(SMALL))) if code == 0 else err.strip()
                check(f"E hswire call --json-mode against WebSocketServer({label})", difference is None, difference or "same values")
            finally:
                await server.stop()


async def part_e_reference_reconnects(hswire: str) -> None:
    # (3) The reference's ReconnectingWebSocketClient across a restart of hswire serve on one port.
    process, url = await start_hswire_serve(hswire)
    port = url.rsplit(":", 1)[-1]
    connects = 0
    connected = asyncio.Event()

    async def on_connect() -> None:
        nonlocal connects
        connects += 1
        connected.set()

    client = ReconnectingWebSocketClient(url, pythonic=False, heartbeat=0, timeout=10, min_reconnect_delay=0.1, max_reconnect_delay=0.5, on_connect=on_connect)
    try:
        await asyncio.wait_for(client.start(), 15)
        first = await client.about(raw=True)
        connected.clear()
        await stop(process)
        process, again = await start_hswire_serve_on(hswire, f"{HOST}:{port}")
        try:
            await asyncio.wait_for(connected.wait(), 15)
            about = await client.about(raw=True)
            ok = connects == 2 and len(first.rows) == 1 and len(about.rows) == 1 and again == url
            check("E ReconnectingWebSocketClient across a restart of hswire serve", ok, f"on_connect fired {connects} times, about after the restart: {len(about.rows)} row")
        except TimeoutError:
            check("E ReconnectingWebSocketClient across a restart of hswire serve", False, f"on_connect fired {connects} times within 15 s")
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.stop(), 10)
        await stop(process)


async def start_hswire_serve_on(hswire: str, address: str) -> tuple[asyncio.subprocess.Process, str]:
    """hswire serve on a given address, retried briefly while the port is still taken."""
    deadline = time.monotonic() + 10
    while True:
        process = await asyncio.create_subprocess_exec(
            hswire, "serve", "--listen", address, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL
        )
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), 30)).decode().strip()
        if line.startswith("listening on "):
            return process, line.rsplit(" ", 1)[-1]
        await process.wait()
        if time.monotonic() > deadline:
            raise RuntimeError(f"hswire serve could not listen on {address} again")
        await asyncio.sleep(0.2)


class CountingOps(FixedOps):
    """FixedOps that counts the watchSub requests of every server it serves."""

    def __init__(self) -> None:
        super().__init__()
        self.watch_subs = 0

    async def watch_sub(self, grid: Grid) -> Grid:
        self.watch_subs += 1
        return await super().watch_sub(grid)


async def stop_with_clients(server: WebSocketServer) -> None:
    """Stops listening, closes the open connections, then stops the server.

    The reference's stop() waits for its connections to end (asyncio's
    wait_closed does since Python 3.12), which a reconnecting client never
    does by itself."""
    if server._server is not None:
        server._server.close()
    for ws in set(server._connections):
        with contextlib.suppress(Exception):
            await asyncio.wait_for(ws.close(), 5)
    if server._server is not None:
        server._server.close_clients()
    await asyncio.wait_for(server.stop(), 10)


async def next_event(process: asyncio.subprocess.Process, wanted: str, seen: list[dict[str, Any]], within: float = 15) -> dict[str, Any] | None:
    """The next line of the reconnect_client whose event is `wanted`, keeping every line in `seen`."""
    assert process.stdout is not None
    deadline = time.monotonic() + within
    while (left := deadline - time.monotonic()) > 0:
        try:
            line = await asyncio.wait_for(process.stdout.readline(), left)
        except TimeoutError:
            return None
        if not line:
            return None
        event = json.loads(line)
        seen.append(event)
        if event.get("event") == wanted:
            return event
    return None


async def part_e_our_reconnects(client: str) -> None:
    # (4) Our ReconnectingClient against the reference's WebSocketServer, restarted on one port.
    for label, binary in (("binary=True", True), ("binary=False", False)):
        name = f"E our ReconnectingClient across a restart of WebSocketServer({label})"
        ops = CountingOps()
        server = WebSocketServer(ops, host=HOST, port=0, binary=binary, heartbeat=0)
        await server.start()
        port = server.port
        flags = [] if binary else ["--json"]
        process = await asyncio.create_subprocess_exec(
            client, "--url", f"ws://{HOST}:{port}", *flags, "--seconds", "60", "--min-delay-ms", "100", "--max-delay-ms", "500",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )
        seen: list[dict[str, Any]] = []
        try:
            before = await next_event(process, "push", seen)
            await stop_with_clients(server)
            server = WebSocketServer(ops, host=HOST, port=port, binary=binary, heartbeat=0)
            await server.start()
            reconnected = await next_event(process, "connected", seen) if before else None
            if reconnected is not None and reconnected.get("connects") == 1:
                reconnected = await next_event(process, "connected", seen)
            after = await next_event(process, "push", seen) if reconnected else None
            assert process.stdin is not None
            process.stdin.close()
            end = await next_event(process, "end", seen, 10)
            ok = bool(before and reconnected and after and end) and reconnected.get("connects") == 2 and ops.watch_subs == 2
            ids = "" if binary else f" (watch id {before and before.get('watchId')!r} before, {after and after.get('watchId')!r} after)"
            detail = f"a push before and a push after the restart{ids}, connects {reconnected and reconnected.get('connects')}, the server's watchSub count {ops.watch_subs}"
            check(name, ok, detail if ok else f"{detail}; lines {seen}")
        finally:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
            await stop_with_clients(server)


async def part_e_request_grids(request_grids: str) -> None:
    # (5) Our typed helpers' request grids, byte for byte through the reference's encoder.
    with tempfile.TemporaryDirectory() as directory:
        code, _, err = await run(request_grids, directory)
        if code != 0:
            check("E request grids written", False, f"exit {code}: {err.strip()}")
            return
        script = Path(__file__).resolve().parent / "requests.py"
        code, out, err = await run(sys.executable, str(script), directory)
        last = out.strip().splitlines()[-1] if out.strip() else err.strip()
        check("E request grids equal the reference client's through its encoder", code == 0, last)


async def part_e(hswire: str, reconnect_client: str, request_grids: str) -> None:
    print("== part E: JSON mode, batches, reconnects and request grids", flush=True)
    await part_e_json_client(hswire)
    await part_e_batches(hswire)
    await part_e_our_batches(hswire)
    await part_e_reference_reconnects(hswire)
    await part_e_our_reconnects(reconnect_client)
    await part_e_request_grids(request_grids)


def drop_server_time(grid: Grid) -> Grid:
    """The about grid without the clock readings, which differ from one server run to the next."""
    clocks = ("serverTime", "serverBootTime")
    rows = [{k: v for k, v in row.items() if k not in clocks} for row in grid.rows]
    builder = GridBuilder().set_meta(dict(grid.meta))
    for name in grid.col_names:
        if name not in clocks:
            builder.add_col(name)
    for row in rows:
        builder.add_row(row)
    return builder.to_grid()


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hswire", required=True)
    parser.add_argument("--client", required=True)
    parser.add_argument("--reconnect-client", required=True)
    parser.add_argument("--request-grids", required=True)
    parser.add_argument("--only", choices=["A", "B", "C", "D", "E"], help="run one part only")
    args = parser.parse_args()
    if args.only in (None, "A"):
        await part_a(args.hswire, args.client)
    if args.only in (None, "B"):
        await part_b(args.hswire)
    if args.only in (None, "C"):
        await part_c(args.hswire)
    if args.only in (None, "D"):
        await part_d(args.hswire)
    if args.only in (None, "E"):
        await part_e(args.hswire, args.reconnect_client, args.request_grids)
    if FAILURES:
        print(f"{len(FAILURES)} interop check(s) failed: {', '.join(FAILURES)}")
        return 1
    print("all interop checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
