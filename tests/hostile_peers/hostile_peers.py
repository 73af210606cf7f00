"""Hostile peers against `hswire serve` and `hswire call`, on the loopback only.

Each attack runs against a fresh `hswire serve --listen 127.0.0.1:0` started
here (the `call-` attacks against `hswire call`), measures what it did to the
server (memory from /proc/PID/status, whether it still serves) and prints one
line: `ok    name: figures` or `FAIL  name: figures`. A summary line follows;
the script exits 1 when any attack missed its target.

The attacks on `hswire serve` from `deep-filter` on also keep a healthy
client beside the attacker: this script again, with `--pulse URL`, in a
process of its own so that the attacker's work here cannot delay it. It asks
`about` every 0.1 s on its own connection; their lines give its p50 and p99
latency during the attack and for 2 s after it, the server's VmHWM, and what
the attacker was told. A second client address, 127.0.0.2, stands for another
host (Linux routes all of 127.0.0.0/8 to the loopback).

Every flag value, op code, header layout, handshake name and login message
comes from the generated binding,
bindings/python/python/haystack_wire/protocol.py, imported by path. Every
loop is bounded in count and time, and every process started here is stopped
by its pid at the end, also when an attack fails or the run is interrupted.

Usage: python hostile_peers.py --hswire PATH [--only NAME ...]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import importlib.util
import json
import math
import os
import re
import resource
import secrets
import signal
import sys
import tempfile
import time
import zlib
from collections import deque
from http import HTTPStatus
from pathlib import Path
from typing import Any, Awaitable, Callable

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.frames import CloseCode, Opcode, apply_mask
from websockets.utils import accept_key, generate_key

ROOT = Path(__file__).resolve().parents[2]


def load_binding() -> Any:
    path = ROOT / "bindings" / "python" / "python" / "haystack_wire" / "protocol.py"
    spec = importlib.util.spec_from_file_location("haystack_wire", path)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot load the binding at {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


hw = load_binding()

HOST = "127.0.0.1"
# The whole run stays inside this budget; an attack that would start past it
# is reported as not run. The calling script adds a hard cap a little above.
RUN_BUDGET = 450.0
# A request is a frame with none of the flags set.
REQUEST_FLAGS = 0
MB = 1024 * 1024
# The file limit of the servers that are not under the fd-limit attack.
SERVER_NOFILE = 4096


# ---- results ----------------------------------------------------------------

RESULTS: list[tuple[str, bool]] = []


def report(name: str, ok: bool, detail: str) -> None:
    print(f"{'ok  ' if ok else 'FAIL'}  {name}: {detail}", flush=True)
    RESULTS.append((name, ok))


# ---- frames and grids -------------------------------------------------------


def grid(cols: list[str], rows: list[dict[str, Any]], **meta: Any) -> bytes:
    """A Haystack 4 JSON grid."""
    body = {
        "_kind": "grid",
        "meta": {"ver": "3.0", **meta},
        "cols": [{"name": name} for name in cols],
        "rows": rows,
    }
    return json.dumps(body).encode()


EMPTY_GRID = grid(["empty"], [])


def number(value: float) -> dict[str, Any]:
    return {"_kind": "number", "val": value}


def request_frame(op: str, request_id: int, payload: bytes) -> bytes:
    return hw.BASE_HEADER.pack(REQUEST_FLAGS, request_id, hw.OP_CODES[op]) + payload


def read_header(frame: bytes) -> tuple[int, int, int, bytes]:
    """flags, request id, op code and the payload (as sent) of a frame."""
    flags, request_id, op = hw.BASE_HEADER.unpack_from(frame)
    return flags, request_id, op, frame[hw.header_size(flags) :]


def error_dis(payload: bytes) -> str:
    try:
        return str(json.loads(payload)["meta"]["dis"])
    except (ValueError, KeyError, TypeError):
        return f"an error frame of {len(payload)} bytes"


def first_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[0] if lines else ""


def p99(values: list[float]) -> float:
    """The 99th percentile, nearest rank."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)]


def p50(values: list[float]) -> float:
    """The median, nearest rank."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.5 * len(ordered)) - 1)]


def short(text: str, most: int = 90) -> str:
    """`text` on one line, cut to about `most` characters (errors may quote a whole filter)."""
    flat = " ".join(text.split())
    return flat if len(flat) <= most else f"{flat[: most - 3]}..."


def names_any(text: str, words: tuple[str, ...]) -> bool:
    """Whether `text` contains one of `words`, case aside."""
    lowered = text.lower()
    return any(word in lowered for word in words)


# ---- the server under attack ------------------------------------------------

PROCESSES: dict[int, asyncio.subprocess.Process] = {}


def limit_files(nofile: int) -> Callable[[], None]:
    """Sets a child's file limit before it runs; never above this process's hard limit,
    which only a privileged process may raise."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY:
        nofile = min(nofile, hard)

    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

    return apply


async def stop_process(process: asyncio.subprocess.Process) -> None:
    """Stops one process this script started, by its pid."""
    PROCESSES.pop(process.pid, None)
    if process.returncode is None:
        try:
            process.terminate()
            await asyncio.wait_for(process.wait(), 5)
        except ProcessLookupError:
            pass
        except asyncio.TimeoutError:
            process.kill()
            await process.wait()


def proc_status_kb(pid: int, field: str) -> int | None:
    """A `kB` field of /proc/PID/status (VmHWM, VmRSS), None once the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


class Serve:
    """One `hswire serve` process, its address and what it said on stderr."""

    def __init__(self, process: asyncio.subprocess.Process, url: str) -> None:
        self.process = process
        self.url = url
        self.port = int(url.rsplit(":", 1)[-1])
        self.stderr: deque[str] = deque(maxlen=5)
        self.hwm_kb = 0
        self.drains = [
            asyncio.ensure_future(self._drain(process.stdout, None)),
            asyncio.ensure_future(self._drain(process.stderr, self.stderr)),
        ]

    @classmethod
    async def start(cls, hswire: str, *flags: str, nofile: int = SERVER_NOFILE) -> Serve:
        process = await asyncio.create_subprocess_exec(
            hswire,
            "serve",
            "--listen",
            f"{HOST}:0",
            *flags,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            preexec_fn=limit_files(nofile),
        )
        PROCESSES[process.pid] = process
        assert process.stdout is not None
        try:
            line = (await asyncio.wait_for(process.stdout.readline(), 30)).decode().strip()
        except asyncio.TimeoutError:
            line = ""
        url = line.rsplit(" ", 1)[-1]
        if not url.startswith("ws://"):
            await stop_process(process)
            raise RuntimeError(f"hswire serve said {line!r} instead of its address")
        return cls(process, url)

    @staticmethod
    async def _drain(stream: asyncio.StreamReader | None, keep: deque[str] | None) -> None:
        if stream is None:
            return
        while line := await stream.readline():
            if keep is not None:
                keep.append(line.decode(errors="replace").strip())

    def status_kb(self, field: str) -> int | None:
        """A `kB` field of /proc/PID/status (VmHWM, VmRSS), None once the process is gone."""
        return proc_status_kb(self.process.pid, field)

    def sample(self) -> None:
        """Keeps the highest VmHWM seen, so that it survives the process."""
        hwm = self.status_kb("VmHWM")
        if hwm is not None:
            self.hwm_kb = max(self.hwm_kb, hwm)

    async def sample_every(self, seconds: float) -> None:
        while True:
            self.sample()
            await asyncio.sleep(seconds)

    def cpu_seconds(self) -> float | None:
        """The CPU time (user and system) the process used so far, None once it is gone."""
        try:
            with open(f"/proc/{self.process.pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            # utime and stime are fields 14 and 15; this list starts at field 3, the state.
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError, IndexError):
            return None

    def alive(self) -> bool:
        if self.process.returncode is not None:
            return False
        try:
            with open(f"/proc/{self.process.pid}/stat") as stat:
                # The state follows the command name in parentheses; Z is a zombie.
                return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
        except (OSError, IndexError):
            return False

    def fate(self) -> str:
        """'alive', or how it ended and the last thing it said."""
        if self.alive():
            return "server alive"
        said = self.stderr[-1] if self.stderr else "nothing on stderr"
        code = self.process.returncode
        return f"server gone (exit {code if code is not None else '?'}: {said})"

    async def stop(self) -> None:
        await stop_process(self.process)
        for drain in self.drains:
            drain.cancel()
        await asyncio.gather(*self.drains, return_exceptions=True)


# ---- clients ----------------------------------------------------------------


class CallFailed(Exception):
    """A request that got no successful response."""


class Client:
    """A binary-mode WebSocket client that names the subprotocol, with an optional reader."""

    def __init__(self, ws: ClientConnection, reading: bool) -> None:
        self.ws = ws
        self.next_id = 0
        self.waiting: dict[int, asyncio.Future[tuple[int, bytes]]] = {}
        self.pushes: list[float] = []
        self.texts: asyncio.Queue[str] = asyncio.Queue()
        self.ended: float | None = None
        self.reader = asyncio.ensure_future(self._read()) if reading else None

    @classmethod
    async def open(
        cls, url: str, timeout: float, reading: bool = True, max_queue: int = 16, source: str | None = None
    ) -> Client:
        """Connects; `source` picks the local address (any of 127.0.0.0/8 reaches the server)."""
        # Extra keyword arguments of `connect` go to the event loop's create_connection.
        local = {"local_addr": (source, 0)} if source is not None else {}
        ws = await asyncio.wait_for(
            connect(
                url,
                subprotocols=[hw.SUBPROTOCOL],
                compression=None,
                proxy=None,
                open_timeout=None,
                ping_interval=None,
                close_timeout=1,
                max_size=None,
                max_queue=max_queue,
                **local,
            ),
            timeout,
        )
        return cls(ws, reading)

    async def _read(self) -> None:
        try:
            async for message in self.ws:
                if isinstance(message, str):
                    self.texts.put_nowait(message)
                    continue
                flags, request_id, _, payload = read_header(message)
                if flags & hw.FLAG_PUSH:
                    self.pushes.append(time.monotonic())
                elif flags & hw.FLAG_RESPONSE:
                    waiter = self.waiting.pop(request_id, None)
                    if waiter is not None and not waiter.done():
                        waiter.set_result((flags, payload))
        except (ConnectionClosed, OSError, ValueError):
            pass
        finally:
            self.ended = time.monotonic()
            for waiter in self.waiting.values():
                if not waiter.done():
                    waiter.set_exception(CallFailed("the connection closed"))

    def new_id(self) -> int:
        while True:
            self.next_id = self.next_id % 0xFFFF + 1
            if self.next_id != hw.PUSH_REQUEST_ID and self.next_id not in self.waiting:
                return self.next_id

    async def call(self, op: str, payload: bytes = EMPTY_GRID, timeout: float = 10) -> bytes:
        """The payload of the successful response to one request."""
        flags, answer = await self.exchange(op, payload, timeout)
        if flags & hw.FLAG_ERROR:
            raise CallFailed(error_dis(answer))
        return answer

    async def exchange(self, op: str, payload: bytes = EMPTY_GRID, timeout: float = 10) -> tuple[int, bytes]:
        """The flags and payload of the response to one request, an error response included."""
        if self.reader is None:
            raise CallFailed("this client does not read")
        if self.reader.done():
            raise CallFailed("the connection closed")
        request_id = self.new_id()
        waiter: asyncio.Future[tuple[int, bytes]] = asyncio.get_running_loop().create_future()
        self.waiting[request_id] = waiter
        try:
            await self.ws.send(request_frame(op, request_id, payload))
            flags, answer = await asyncio.wait_for(waiter, timeout)
        except asyncio.TimeoutError:
            raise CallFailed(f"no response to {op} within {timeout:g} s") from None
        except (ConnectionClosed, OSError) as error:
            raise CallFailed(f"the connection closed: {error}") from None
        finally:
            self.waiting.pop(request_id, None)
            if waiter.done() and not waiter.cancelled():
                # The connection may end while the request is still being sent: the waiter's
                # failure is then seen here, not by the caller, and must not be reported unseen.
                waiter.exception()
        return flags, answer

    async def close(self) -> None:
        try:
            await asyncio.wait_for(self.ws.close(), 2)
        except (asyncio.TimeoutError, OSError, ConnectionClosed):
            pass
        if self.reader is not None:
            self.reader.cancel()
            await asyncio.gather(self.reader, return_exceptions=True)


async def open_or_none(url: str, timeout: float, **options: Any) -> Client | None:
    try:
        return await Client.open(url, timeout, **options)
    except Exception:  # refused, reset, timed out or a failed upgrade: not opened
        return None


async def close_all(clients: list[Client]) -> None:
    await asyncio.gather(*(client.close() for client in clients), return_exceptions=True)


async def bounded(count: int, concurrency: int, job: Callable[[int], Awaitable[Any]]) -> list[Any]:
    """Runs job(0..count) with at most `concurrency` at once; exceptions are returned."""
    gate = asyncio.Semaphore(concurrency)

    async def one(index: int) -> Any:
        async with gate:
            return await job(index)

    return await asyncio.gather(*(one(i) for i in range(count)), return_exceptions=True)


async def about_ok(client: Client, timeout: float = 10) -> bool:
    try:
        await client.call("about", EMPTY_GRID, timeout)
        return True
    except CallFailed:
        return False


async def one_about(url: str, timeout: float) -> bool:
    """A new client connects, does one about request and leaves."""
    client = await open_or_none(url, timeout)
    if client is None:
        return False
    try:
        return await about_ok(client, timeout)
    finally:
        await client.close()


async def point_ids(client: Client, filter_text: str, limit: int) -> list[Any]:
    """The ids (as Haystack JSON refs) of the points a read with this filter finds."""
    answer = await client.call("read", grid(["filter", "limit"], [{"filter": filter_text, "limit": number(limit)}]))
    rows = json.loads(answer).get("rows", [])
    return [row["id"] for row in rows if "id" in row]


def watch_sub(dis: str, ids: list[Any]) -> bytes:
    return grid(["id"], [{"id": ref} for ref in ids], watchDis=dis)


MARKER = {"_kind": "marker"}


def watch_request(watch_id: str, ids: list[Any] | None = None, **meta: Any) -> bytes:
    """A request grid naming an open watch (watchSub, watchUnsub, watchPoll), with ids as rows."""
    return grid(["id"], [{"id": ref} for ref in ids or []], watchId=watch_id, **meta)


def read_filter(text: str) -> bytes:
    return grid(["filter"], [{"filter": text}])


async def outcome(client: Client, op: str, payload: bytes, timeout: float = 10) -> tuple[str, Any]:
    """How a request fared: ("answer", the payload), ("error", its dis) or ("none", why no response came)."""
    try:
        flags, answer = await client.exchange(op, payload, timeout)
    except CallFailed as error:
        return "none", str(error)
    if flags & hw.FLAG_ERROR:
        return "error", error_dis(answer)
    return "answer", answer


def rows_of(payload: bytes) -> int:
    try:
        return len(json.loads(payload).get("rows", []))
    except (ValueError, AttributeError):
        return 0


def told(kind: str, value: Any) -> str:
    """An outcome in a few words: rows answered, the refusal, or why nothing came."""
    if kind == "answer":
        return f"answered ({rows_of(value):,} rows)"
    if kind == "error":
        return f"refused: {short(value)}"
    return f"no response ({short(value)})"


# ---- the healthy client -----------------------------------------------------

# A healthy client asks `about` this often, and gives each answer this long.
PULSE_EVERY = 0.1
PULSE_TIMEOUT = 5.0
# It stops by itself after this long, should nobody stop it.
PULSE_LONGEST = 120.0
# How long it goes on asking after an attack ends, and the least an attack counts as lasting.
AFTER_SECONDS = 2.0
MIN_ATTACK_SECONDS = 1.0
# The p99 of its `about` latency, during an attack and after it, unless an attack says otherwise.
HEALTHY_P99_MS = 100.0
# The peak resident set of a server under attack, unless an attack says otherwise.
HWM_BOUND_MB = 300.0


async def pulse_main(url: str, token: str | None) -> int:
    """The healthy client, in a process of its own: asks `about` every PULSE_EVERY seconds on
    one connection and prints `sent latency` (seconds, monotonic clock) per ask, `-` for the
    latency of one that got no successful answer, until its stdin closes."""
    try:
        client = await Client.open(url, 10)
        if token is not None:
            await client.ws.send(json.dumps({hw.AUTH_TOKEN_FIELD: token}))
    except Exception as error:  # no healthy client at all: the parent reports it
        print(f"failed: {type(error).__name__}: {error}", flush=True)
        return 1
    print("ready", flush=True)
    loop = asyncio.get_running_loop()
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    stopping = asyncio.ensure_future(stdin.read())

    async def ask() -> None:
        sent = time.monotonic()
        try:
            await client.call("about", EMPTY_GRID, PULSE_TIMEOUT)
            print(f"{sent:.6f} {time.monotonic() - sent:.6f}", flush=True)
        except CallFailed:
            print(f"{sent:.6f} -", flush=True)

    asks = []
    deadline = time.monotonic() + PULSE_LONGEST
    while not stopping.done() and time.monotonic() < deadline:
        asks.append(asyncio.ensure_future(ask()))
        await asyncio.wait([stopping], timeout=PULSE_EVERY)
    stopping.cancel()
    await asyncio.gather(*asks, stopping, return_exceptions=True)
    await client.close()
    return 0


class Pulse:
    """The healthy client of `pulse_main`, run by this script: its asks as (sent, latency or None)."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.asks: list[tuple[float, float | None]] = []
        self.stderr: deque[str] = deque(maxlen=3)
        self.drains = [
            asyncio.ensure_future(self._read()),
            asyncio.ensure_future(Serve._drain(process.stderr, self.stderr)),
        ]

    @classmethod
    async def start(cls, url: str, token: str | None = None) -> Pulse:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(Path(__file__).resolve()),
            "--pulse",
            url,
            *(["--pulse-token", token] if token is not None else []),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        PROCESSES[process.pid] = process
        assert process.stdout is not None
        try:
            line = (await asyncio.wait_for(process.stdout.readline(), 20)).decode().strip()
        except asyncio.TimeoutError:
            line = "no word within 20 s"
        if line != "ready":
            await stop_process(process)
            raise RuntimeError(f"the healthy client did not start: {line or 'it exited'}")
        return cls(process)

    async def _read(self) -> None:
        assert self.process.stdout is not None
        while line := await self.process.stdout.readline():
            try:
                sent, latency = line.decode().split()
                self.asks.append((float(sent), None if latency == "-" else float(latency)))
            except ValueError:
                pass

    def between(self, start: float, end: float) -> list[tuple[float, float | None]]:
        """The asks sent from `start` to `end`."""
        return [ask for ask in self.asks if start <= ask[0] < end]

    async def stop(self) -> None:
        """Lets the asks under way finish, then stops the process (by its pid if it lingers)."""
        if self.process.stdin is not None and not self.process.stdin.is_closing():
            self.process.stdin.close()
        try:
            await asyncio.wait_for(self.process.wait(), PULSE_TIMEOUT + 3)
        except asyncio.TimeoutError:
            pass
        await stop_process(self.process)
        await asyncio.gather(*self.drains, return_exceptions=True)


def latency_figures(asks: list[tuple[float, float | None]], bound_ms: float) -> tuple[bool, str]:
    """Whether every ask was answered with a p99 under `bound_ms`, and the p50, p99 and counts."""
    answered = [latency for _, latency in asks if latency is not None]
    if not answered:
        return False, f"none answered (0/{len(asks)})"
    ok = len(answered) == len(asks) and p99(answered) * 1000 < bound_ms
    return ok, (
        f"p50 {p50(answered) * 1000:.1f} ms, p99 {p99(answered) * 1000:.1f} ms ({len(answered)}/{len(asks)})"
    )


class Observer:
    """An attack on a server seen from outside: the server's peak memory (VmHWM, sampled every
    0.1 s) and a healthy client's `about` latency on a connection of its own, from a process of
    its own (so that the attacker's work in this one does not delay it), during the attack
    and for AFTER_SECONDS after it."""

    def __init__(self, server: Serve, pulse: Pulse) -> None:
        self.server = server
        self.pulse = pulse
        self.sampler = asyncio.ensure_future(server.sample_every(0.1))
        self.started = time.monotonic()
        self.ended: float | None = None

    @classmethod
    async def start(cls, server: Serve, token: str | None = None) -> Observer:
        return cls(server, await Pulse.start(server.url, token))

    def begin(self) -> None:
        """The attack starts now."""
        self.started = time.monotonic()

    async def end(self) -> None:
        """The attack ended now; a short one is stretched to MIN_ATTACK_SECONDS, so that the
        healthy client asks a few times during every attack."""
        await asyncio.sleep(max(0.0, self.started + MIN_ATTACK_SECONDS - time.monotonic()))
        self.ended = time.monotonic()

    async def finish(self) -> None:
        """Ends the attack (if `end` was not called) and watches the AFTER_SECONDS after it."""
        if self.ended is None:
            await self.end()
        assert self.ended is not None
        await asyncio.sleep(max(0.0, self.ended + AFTER_SECONDS - time.monotonic()))
        self.server.sample()
        await self.stop()

    async def stop(self) -> None:
        self.sampler.cancel()
        await asyncio.gather(self.sampler, return_exceptions=True)
        await self.pulse.stop()

    def hwm_mb(self) -> float:
        self.server.sample()
        return self.server.hwm_kb / 1024

    def healthy(self, bound_ms: float = HEALTHY_P99_MS) -> tuple[bool, str]:
        """Whether the healthy client was answered within the bound, during and after; its figures."""
        ended = self.ended if self.ended is not None else time.monotonic()
        during_ok, during = latency_figures(self.pulse.between(self.started, ended), bound_ms)
        after_ok, after = latency_figures(self.pulse.between(ended, ended + AFTER_SECONDS), bound_ms)
        return during_ok and after_ok, f"healthy about during: {during}; after: {after}"

    def verdict(self, hwm_bound_mb: float = HWM_BOUND_MB, p99_bound_ms: float = HEALTHY_P99_MS) -> tuple[bool, str]:
        """Whether the server lived, stayed under its memory bound and kept the healthy client
        answered; and those figures, for the end of the report line."""
        healthy_ok, healthy = self.healthy(p99_bound_ms)
        hwm = self.hwm_mb()
        alive = self.server.alive()
        ok = alive and hwm < hwm_bound_mb and healthy_ok
        return ok, f"{healthy}; VmHWM {hwm:.0f} MB; {self.server.fate()}"


# ---- raw HTTP and WebSocket frames ------------------------------------------


def upgrade_request(port: int, *, key: bool = True, origin: str | None = None) -> bytes:
    """A WebSocket upgrade request for the subprotocol, as a browser or a script sends it."""
    lines = [
        "GET / HTTP/1.1",
        f"Host: {HOST}:{port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        *([f"Sec-WebSocket-Key: {generate_key()}"] if key else []),
        "Sec-WebSocket-Version: 13",
        f"Sec-WebSocket-Protocol: {hw.SUBPROTOCOL}",
        *([f"Origin: {origin}"] if origin is not None else []),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def read_head(reader: asyncio.StreamReader, most: int = 65536) -> bytes:
    """An HTTP head, up to its blank line; what came before the end if the peer closed first."""
    head = b""
    while b"\r\n\r\n" not in head and len(head) < most:
        try:
            piece = await reader.read(1)
        except OSError:
            break
        if not piece:
            break
        head += piece
    return head


def status_of(head: bytes) -> tuple[int | None, str]:
    """The status code and the status line of an HTTP answer head (None, '' when there is none)."""
    line = head.split(b"\r\n", 1)[0].decode(errors="replace").strip()
    parts = line.split(" ", 2)
    if len(parts) >= 2 and parts[0].startswith("HTTP/") and parts[1].isdigit():
        return int(parts[1]), line
    return None, line


def header_of(head: bytes, name: str) -> str | None:
    for line in head.decode(errors="replace").split("\r\n")[1:]:
        field, _, value = line.partition(":")
        if field.strip().lower() == name.lower():
            return value.strip()
    return None


async def http_answer(port: int, request: bytes, timeout: float) -> tuple[int | None, str]:
    """Sends a raw request on a new connection; the status code and line of the answer."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection(HOST, port), 5)
    try:
        writer.write(request)
        await writer.drain()
        try:
            head = await asyncio.wait_for(read_head(reader), timeout)
        except asyncio.TimeoutError:
            head = b""
        return status_of(head)
    finally:
        writer.close()


def ws_frame(opcode: int, payload: bytes, *, fin: bool = True, mask: bool = False) -> bytes:
    """One WebSocket frame, whatever its payload length (control frames included)."""
    first = (0x80 if fin else 0) | opcode
    size = len(payload)
    masked = 0x80 if mask else 0
    if size < 126:
        head = bytes([first, masked | size])
    elif size < 1 << 16:
        head = bytes([first, masked | 126]) + size.to_bytes(2, "big")
    else:
        head = bytes([first, masked | 127]) + size.to_bytes(8, "big")
    if not mask:
        return head + payload
    key = secrets.token_bytes(4)
    return head + key + apply_mask(payload, key)


async def read_ws_frame(reader: asyncio.StreamReader, most: int = 1 << 20) -> tuple[bool, int, bytes]:
    """One WebSocket frame: fin, opcode and payload (unmasked); IncompleteReadError at the end."""
    first, second = await reader.readexactly(2)
    size = second & 0x7F
    if size == 126:
        size = int.from_bytes(await reader.readexactly(2), "big")
    elif size == 127:
        size = int.from_bytes(await reader.readexactly(8), "big")
    if size > most:
        raise ValueError(f"a frame of {size:,} bytes")
    key = await reader.readexactly(4) if second & 0x80 else b""
    payload = await reader.readexactly(size)
    return bool(first & 0x80), first & 0x0F, apply_mask(payload, key) if key else payload


# ---- logins -----------------------------------------------------------------

SALTED: dict[tuple[str, bytes, int], bytes] = {}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def from_b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def login_message(name: str, **fields: str) -> str:
    """A login message by its name in the binding, its fields checked against the binding."""
    unknown = set(fields) - set(hw.MESSAGE_FIELDS[name])
    if unknown:
        raise ValueError(f"{name} has no field {sorted(unknown)}")
    return json.dumps({hw.MESSAGE_TYPE_FIELD: hw.MESSAGE_TYPES[name], **fields})


async def next_text(client: Client, timeout: float) -> dict[str, Any] | None:
    """The next JSON text message, None when the connection ends or it does not come in time."""
    assert client.reader is not None
    getter = asyncio.ensure_future(client.texts.get())
    done, _ = await asyncio.wait({getter, client.reader}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    if getter in done:
        text = getter.result()
    else:
        getter.cancel()
        await asyncio.gather(getter, return_exceptions=True)
        try:
            text = client.texts.get_nowait()
        except asyncio.QueueEmpty:
            return None
    try:
        message = json.loads(text)
    except ValueError:
        return None
    return message if isinstance(message, dict) else None


def is_message(message: dict[str, Any] | None, name: str) -> bool:
    return message is not None and message.get(hw.MESSAGE_TYPE_FIELD) == hw.MESSAGE_TYPES[name]


async def log_in(url: str, user: str, password: str, timeout: float, source: str | None = None) -> tuple[str, str]:
    """A SCRAM-SHA-256 login on a new connection, as the binding's `LOGIN_STEPS` go:
    ("ok", the issued token), ("refused", the step that got the refusal) or ("none", why)."""
    deadline = time.monotonic() + timeout

    def left() -> float:
        return max(0.01, deadline - time.monotonic())

    _, username_key = hw.MESSAGE_HELLO_FIELDS
    _, token_key, _ = hw.MESSAGE_HELLO_ANSWER_FIELDS
    _, _, data_key = hw.MESSAGE_CLIENT_FIRST_FIELDS
    _, issued_key, _ = hw.MESSAGE_AUTH_OK_FIELDS
    algorithm = hw.LOGIN_HASH.replace("-", "").lower()
    client = await open_or_none(url, left(), source=source)
    if client is None:
        return "none", "no connection"
    try:
        await client.ws.send(login_message("hello", **{username_key: b64url(user.encode())}))
        answer = await next_text(client, left())
        if not is_message(answer, "hello_answer"):
            return ("refused", "hello") if is_message(answer, hw.LOGIN_REFUSAL) else ("none", "no hello answer")
        assert answer is not None
        gs2 = "n,,"
        first_bare = f"n={user},r={b64url(secrets.token_bytes(18))}"
        await client.ws.send(
            login_message(
                "client_first",
                **{token_key: answer[token_key], data_key: b64url((gs2 + first_bare).encode())},
            )
        )
        answer = await next_text(client, left())
        if not is_message(answer, "server_first"):
            return ("refused", "client-first") if is_message(answer, hw.LOGIN_REFUSAL) else ("none", "no server-first")
        assert answer is not None
        server_first = from_b64url(answer[data_key]).decode()
        params = dict(part.split("=", 1) for part in server_first.split(","))
        salt, iterations = base64.b64decode(params["s"]), int(params["i"])
        cache = (password, salt, iterations)
        if cache not in SALTED:
            SALTED[cache] = hashlib.pbkdf2_hmac(algorithm, password.encode(), salt, iterations)
        client_key = hmac.digest(SALTED[cache], b"Client Key", algorithm)
        stored_key = hashlib.new(algorithm, client_key).digest()
        final_bare = f"c={base64.b64encode(gs2.encode()).decode()},r={params['r']}"
        signature = hmac.digest(stored_key, f"{first_bare},{server_first},{final_bare}".encode(), algorithm)
        proof = bytes(a ^ b for a, b in zip(client_key, signature))
        final = f"{final_bare},p={base64.b64encode(proof).decode()}"
        await client.ws.send(
            login_message("client_final", **{token_key: answer[token_key], data_key: b64url(final.encode())})
        )
        answer = await next_text(client, left())
        if is_message(answer, "auth_ok"):
            assert answer is not None
            return "ok", str(answer[issued_key])
        return ("refused", "client-final") if is_message(answer, hw.LOGIN_REFUSAL) else ("none", "no verdict")
    except (ConnectionClosed, OSError) as error:
        return "none", f"the connection closed: {error}"
    except (KeyError, ValueError, TypeError) as error:
        return "none", f"an unreadable login message: {error}"
    finally:
        await client.close()


# ---- the attacks ------------------------------------------------------------


async def fd_limit(hswire: str) -> None:
    """400 held connections against a server with 256 files, then 100 new clients."""
    server = await Serve.start(hswire, nofile=256)
    held: list[Client] = []
    try:
        opened = await asyncio.gather(*(open_or_none(server.url, 5) for _ in range(400)))
        held = [client for client in opened if client is not None]
        upgraded = len(held)
        await asyncio.sleep(1)
        alive_while_held = server.alive()
        await close_all(held)
        held = []
        await asyncio.sleep(0.5)
        served = sum(await asyncio.gather(*(one_about(server.url, 10) for _ in range(100))))
        ok = alive_while_held and served == 100
        report(
            "fd-limit",
            ok,
            f"under a file limit of 256, {upgraded}/400 connections upgraded; "
            f"{'server alive' if alive_while_held else server.fate()} while held; "
            f"{served}/100 new clients served",
        )
    finally:
        await close_all(held)
        await server.stop()


async def silent(hswire: str) -> None:
    """200 connections that never finish an upgrade must be closed within 15 s."""
    server = await Serve.start(hswire)
    upgrade = (
        f"GET / HTTP/1.1\r\nHost: {HOST}:{server.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        f"Sec-WebSocket-Protocol: {hw.SUBPROTOCOL}\r\n\r\n"
    ).encode()
    half = upgrade[: len(upgrade) // 2]
    writers: list[asyncio.StreamWriter] = []
    try:
        readers: list[asyncio.StreamReader] = []
        for index in range(200):
            reader, writer = await asyncio.wait_for(asyncio.open_connection(HOST, server.port), 5)
            if index % 2:
                writer.write(half)
                await writer.drain()
            readers.append(reader)
            writers.append(writer)
        started = time.monotonic()

        async def closed_after(reader: asyncio.StreamReader) -> float | None:
            try:
                # Whatever the server says before it closes (an HTTP error, say) is read and dropped.
                while await reader.read(65536):
                    pass
            except OSError:
                pass
            return time.monotonic() - started

        async def within(reader: asyncio.StreamReader) -> float | None:
            try:
                return await asyncio.wait_for(closed_after(reader), 15)
            except asyncio.TimeoutError:
                return None

        times = [t for t in await asyncio.gather(*(within(r) for r in readers)) if t is not None]
        last = f", the last after {max(times):.1f} s" if times else ""
        report(
            "silent",
            len(times) == 200,
            f"200 silent connections (100 sent nothing, 100 half an upgrade request), "
            f"{len(times)} closed within 15 s{last}; {server.fate()}",
        )
    finally:
        for writer in writers:
            writer.close()
        await server.stop()


HIS_RANGE = "2024-01-01,2024-01-31"
PIPELINE_SECONDS = 30.0


async def pipeline(hswire: str) -> None:
    """400 month-long hisReads that are never read vs a healthy client's pushes and requests."""
    server = await Serve.start(hswire)
    sampler = asyncio.ensure_future(server.sample_every(0.2))
    healthy: Client | None = None
    attacker: Client | None = None
    sender: asyncio.Future[None] | None = None
    try:
        healthy = await Client.open(server.url, 10)
        points = await point_ids(healthy, "point and his", 20)
        if not points:
            report("pipeline", False, "the site's read of `point and his` found no point")
            return
        his_read = grid(["id", "range"], [{"id": points[0], "range": HIS_RANGE}])
        month = await healthy.call("hisRead", his_read, 30)
        await healthy.call("watchSub", watch_sub("pipeline", points), 10)

        attacker = await Client.open(server.url, 10, reading=False, max_queue=1)
        sent = 0

        async def flood() -> None:
            nonlocal sent
            assert attacker is not None
            for request_id in range(1, 401):
                await attacker.ws.send(request_frame("hisRead", request_id, his_read))
                sent += 1

        started = time.monotonic()
        sender = asyncio.ensure_future(flood())
        latencies: list[float] = []
        failures: list[str] = []

        async def timed_about() -> None:
            assert healthy is not None
            asked = time.monotonic()
            try:
                await healthy.call("about", EMPTY_GRID, 5)
                latencies.append(time.monotonic() - asked)
            except CallFailed as error:
                failures.append(str(error))

        asks = []
        while time.monotonic() - started < PIPELINE_SECONDS:
            asks.append(asyncio.ensure_future(timed_about()))
            await asyncio.sleep(0.5)
        ended = time.monotonic()
        await asyncio.gather(*asks)
        server.sample()
        pushes = [t for t in healthy.pushes if started <= t <= ended]
        marks = [started, *pushes, ended]
        gap = max(b - a for a, b in zip(marks, marks[1:]))
        hwm_mb = server.hwm_kb / 1024
        ok = hwm_mb < 300 and gap <= 3 and not failures and bool(latencies)
        latency = f"p99 {p99(latencies) * 1000:.0f} ms" if latencies else "no latency"
        failed = f" (first failure: {failures[0]})" if failures else ""
        report(
            "pipeline",
            ok,
            f"{sent}/400 month hisReads ({len(month):,} bytes each) sent unread; VmHWM {hwm_mb:.0f} MB; "
            f"{len(pushes)} pushes in {ended - started:.0f} s, largest gap {gap:.1f} s; "
            f"{len(latencies)}/{len(asks)} about requests answered, {latency}{failed}; {server.fate()}",
        )
    finally:
        sampler.cancel()
        if sender is not None:
            sender.cancel()
        await asyncio.gather(*(t for t in (sampler, sender) if t is not None), return_exceptions=True)
        await close_all([c for c in (healthy, attacker) if c is not None])
        await server.stop()


async def watch_churn(hswire: str) -> None:
    """1,100 clients each open a watch and leave without closing it; then one more must get one."""
    server = await Serve.start(hswire)
    try:
        probe = await Client.open(server.url, 10)
        try:
            points = await point_ids(probe, "point", 1)
        finally:
            await probe.close()
        if not points:
            report("watch-churn", False, "the site's read of `point` found no point")
            return

        async def churn(index: int) -> bool:
            client = await Client.open(server.url, 10)
            try:
                await client.call("watchSub", watch_sub(f"churn {index}", points), 10)
                return True
            finally:
                await client.close()

        outcomes = await bounded(1100, 50, churn)
        succeeded = sum(1 for outcome in outcomes if outcome is True)
        last_error = next((str(o) or type(o).__name__ for o in reversed(outcomes) if isinstance(o, BaseException)), "")
        client = await Client.open(server.url, 10)
        try:
            await client.call("watchSub", watch_sub("after the churn", points), 10)
            final, ok = "succeeded", True
        except CallFailed as error:
            final, ok = f"refused: {error}", False
        finally:
            await client.close()
        refused = f" (last refusal: {last_error})" if last_error else ""
        report(
            "watch-churn",
            ok,
            f"{succeeded}/1100 clients opened a watch and left without closing it{refused}; "
            f"a new client's watchSub {final}",
        )
    finally:
        await server.stop()


async def idle(hswire: str) -> None:
    """What 1,000 upgraded, idle connections cost the server."""
    # The warm-up connection below is the 1,001st.
    server = await Serve.start(hswire, "--max-connections", "1001", nofile=SERVER_NOFILE)
    held: list[Client] = []
    try:
        # One connection first, so that what the first one sets up is not counted per connection.
        warm = await Client.open(server.url, 10)
        held.append(warm)
        await about_ok(warm)
        await asyncio.sleep(1)
        before = server.status_kb("VmRSS") or 0
        opened = await bounded(1000, 100, lambda _: Client.open(server.url, 10, reading=False))
        held += [client for client in opened if isinstance(client, Client)]
        count = len(held) - 1
        await asyncio.sleep(1)
        after = server.status_kb("VmRSS") or 0
        per = (after - before) / max(count, 1)
        report(
            "idle",
            count == 1000 and per <= 32,
            f"{count}/1000 idle connections; VmRSS {before / 1024:.1f} MB -> {after / 1024:.1f} MB, "
            f"{per:.1f} KB per connection; {server.fate()}",
        )
    finally:
        await close_all(held)
        await server.stop()


PENDING_PAYLOAD = 63 * MB
# The request limit pending-bytes runs the server with: 64 MiB, the frame limit of the library's
# defaults, so that a chunk of PENDING_PAYLOAD is taken and held.
PENDING_REQUEST_LIMIT = 64 * MB


async def pending_bytes(hswire: str) -> None:
    """10 connections, each leaving 2 zlib chunked sequences of ~63 MiB unfinished."""
    # Requests as large as the library's frame limit, not hswire serve's 1 MiB: at 1 MiB each
    # first chunk is refused on its own as it decompresses, and the shared memory budget, what
    # this attack is against, would not be reached.
    server = await Serve.start(
        hswire,
        "--compression",
        hw.COMPRESSION_NAMES[hw.COMP_ZLIB],
        "--chunked",
        "--max-request-bytes",
        str(PENDING_REQUEST_LIMIT),
    )
    sampler = asyncio.ensure_future(server.sample_every(0.1))
    clients: list[Client] = []
    try:
        # The densest zlib stream (about 1,000:1 on zeros), not the level peers send by
        # default: a decoder takes any level, and an attacker picks the one that costs most.
        compressed = await asyncio.to_thread(zlib.compress, bytes(PENDING_PAYLOAD), zlib.Z_BEST_COMPRESSION)
        flags = REQUEST_FLAGS | hw.FLAG_COMPRESSED | hw.FLAG_CHUNKED
        zlib_name = hw.COMPRESSION_NAMES[hw.COMP_ZLIB]
        type_key, compression_key, chunked_key, version_key = hw.HANDSHAKE_FIELDS
        offer = json.dumps(
            {type_key: hw.HANDSHAKE_TYPE, compression_key: [zlib_name], chunked_key: True, version_key: hw.HANDSHAKE_VERSION}
        )
        agreed = 0
        sent = 0
        for _ in range(10):
            client = await Client.open(server.url, 10)
            clients.append(client)
            await client.ws.send(offer)
            try:
                answer = json.loads(await asyncio.wait_for(client.texts.get(), hw.HANDSHAKE_FALLBACK_TIMEOUT))
            except (asyncio.TimeoutError, ValueError):
                answer = {}
            if answer.get(compression_key) == zlib_name and answer.get(chunked_key) is True:
                agreed += 1
            for request_id in (1, 2):
                frame = (
                    hw.BASE_HEADER.pack(flags, request_id, hw.OP_CODES["read"])
                    + hw.ALGORITHM_HEADER.pack(hw.COMP_ZLIB)
                    + hw.CHUNK_HEADER.pack(0, 2)
                    + compressed
                )
                try:
                    await asyncio.wait_for(client.ws.send(frame), 10)
                    sent += 1
                except (asyncio.TimeoutError, ConnectionClosed, OSError):
                    break
        await asyncio.sleep(5)
        server.sample()
        closed = [client for client in clients if client.reader is not None and client.reader.done()]
        codes: dict[str, int] = {}
        for client in closed:
            rcvd = client.ws.protocol.close_rcvd
            code = str(rcvd.code) if rcvd is not None else "no close frame"
            codes[code] = codes.get(code, 0) + 1
        how = ", ".join(f"{code} x{n}" for code, n in sorted(codes.items()))
        hwm_mb = server.hwm_kb / 1024
        report(
            "pending-bytes",
            hwm_mb < 300,
            f"{agreed}/10 handshakes agreed to zlib and chunking; {sent}/20 first chunks of "
            f"{PENDING_PAYLOAD // MB} MiB ({len(compressed):,} bytes compressed) sent; VmHWM {hwm_mb:.0f} MB; "
            f"{len(closed)}/10 connections closed by the server{f' ({how})' if how else ''}; {server.fate()}",
        )
    finally:
        sampler.cancel()
        await asyncio.gather(sampler, return_exceptions=True)
        await close_all(clients)
        await server.stop()


async def call_no_upgrade(hswire: str) -> None:
    """`hswire call` against a server that accepts and never answers the upgrade."""
    held: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)
        try:
            while await reader.read(65536):
                pass
        except OSError:
            pass

    listener = await asyncio.start_server(hold, HOST, 0)
    port = listener.sockets[0].getsockname()[1]
    process: asyncio.subprocess.Process | None = None
    try:
        started = time.monotonic()
        process = await asyncio.create_subprocess_exec(
            hswire,
            "call",
            "--url",
            f"ws://{HOST}:{port}",
            "about",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        PROCESSES[process.pid] = process
        try:
            _, err = await asyncio.wait_for(process.communicate(), 30)
            seconds = time.monotonic() - started
            code = process.returncode
            ok = code != 0 and seconds <= 10.5
            said = first_line(err.decode(errors="replace")) or "nothing on stderr"
            detail = f"exit {code} after {seconds:.1f} s; stderr: {said}"
        except asyncio.TimeoutError:
            ok = False
            detail = "still waiting after 30 s; stopped"
        report("call-no-upgrade", ok, f"a listener that accepts and never answers: {detail}")
    finally:
        if process is not None:
            await stop_process(process)
        for writer in held:
            writer.close()
        listener.close()


DEEP_FILTER = "(" * 3000 + "point" + ")" * 3000
LONG_FILTER = "point or " * 2200 + "point"
# A filter a real client sends, with a few parentheses.
FAIR_FILTER = "(point and (sensor or cmd)) and (temp or (air and not sp))"


async def deep_filter(hswire: str) -> None:
    """A read whose filter nests 3,000 parentheses and one of 20,000 characters: each refused
    in words naming its limit, the connection still answering, a fair filter still read."""
    server = await Serve.start(hswire)
    observer: Observer | None = None
    client: Client | None = None
    try:
        observer = await Observer.start(server)
        client = await Client.open(server.url, 10)
        observer.begin()
        fair_kind, fair = await outcome(client, "read", read_filter(FAIR_FILTER))
        long_kind, long_said = await outcome(client, "read", read_filter(LONG_FILTER))
        deep_kind, deep_said = await outcome(client, "read", read_filter(DEEP_FILTER))
        about_after = await about_ok(client, 5)
        await observer.end()
        await observer.finish()
        fair_ok = fair_kind == "answer" and rows_of(fair) > 0
        long_ok = long_kind == "error" and names_any(long_said, ("long", "length", "characters"))
        deep_ok = deep_kind == "error" and names_any(deep_said, ("deep", "nest"))
        healthy_ok, figures = observer.verdict()
        report(
            "deep-filter",
            fair_ok and long_ok and deep_ok and about_after and healthy_ok,
            f"a filter with a few parentheses {told(fair_kind, fair)}; "
            f"{len(LONG_FILTER):,} characters {told(long_kind, long_said)}; "
            f"3,000 nested parentheses ({len(DEEP_FILTER):,} characters) {told(deep_kind, deep_said)}; "
            f"then about on that connection {'answered' if about_after else 'not answered'}; {figures}",
        )
    finally:
        if client is not None:
            await client.close()
        if observer is not None:
            await observer.stop()
        await server.stop()


# The most characters a filter of filter-cpu has; its shapes, each term joined with `or`.
FILTER_CAP = 10_240
FILTER_PROBE = 1_024
FILTER_TERMS = {
    "or": "point",
    "is-a": "^point",
    "path": 'siteRef->geoCity == "x"',
    "wildcard": "id *== @s-1",
}
FILTER_IN_FLIGHT = 16
FILTER_SECONDS = 8.0
FILTER_P99_MS = 50.0
# The CPU the server may still use, in seconds per second, from 1 s after the attacker left.
IDLE_CPU = 0.2
# The last term of every read of filter-cpu, numbered so that no two reads are the same.
UNIQUE_TERM = " or u{:07}"


def or_filter(term: str, most: int) -> str:
    """`term or term or ...`, as many terms as fit in `most` characters."""
    count = max(1, (most + 4) // (len(term) + 4))
    return " or ".join([term] * count)


async def filter_cpu(hswire: str) -> None:
    """16 reads in flight for 8 s with the costliest filters that fit in 10,240 characters, no
    two the same, then the attacker leaves: the healthy client stays answered and the work
    stops."""
    server = await Serve.start(hswire)
    observer: Observer | None = None
    attacker: Client | None = None
    workers: list[asyncio.Future[None]] = []
    try:
        observer = await Observer.start(server)
        attacker = await Client.open(server.url, 10)
        # Each shape once at a tenth of the length: the slowest is kept.
        probes: dict[str, float] = {}
        for shape, term in FILTER_TERMS.items():
            asked = time.monotonic()
            await outcome(attacker, "read", read_filter(or_filter(term, FILTER_PROBE)), 10)
            probes[shape] = time.monotonic() - asked
        worst = max(probes, key=lambda shape: probes[shape])
        # Every read different, so that no answer kept from an earlier one serves it: the
        # slowest shape, then a tag of its own.
        base = or_filter(FILTER_TERMS[worst], FILTER_CAP - len(UNIQUE_TERM.format(0)))
        sent = 0

        def next_payload() -> bytes:
            nonlocal sent
            sent += 1
            return read_filter(base + UNIQUE_TERM.format(sent))

        text = base + UNIQUE_TERM.format(0)
        counts = {"answer": 0, "error": 0, "none": 0}
        refusals: list[str] = []
        observer.begin()
        deadline = time.monotonic() + FILTER_SECONDS

        async def keep_reading() -> None:
            assert attacker is not None
            while time.monotonic() < deadline:
                kind, value = await outcome(attacker, "read", next_payload(), FILTER_SECONDS + 10)
                counts[kind] += 1
                if kind == "error" and not refusals:
                    refusals.append(short(value, 70))
                if kind == "none":
                    return

        workers = [asyncio.ensure_future(keep_reading()) for _ in range(FILTER_IN_FLIGHT)]
        await asyncio.sleep(max(0.0, deadline - time.monotonic()))
        await attacker.close()
        await observer.end()
        assert observer.ended is not None
        left = observer.ended
        cpu = [server.cpu_seconds()]
        for second in (1, 2):
            await asyncio.sleep(max(0.0, left + second - time.monotonic()))
            cpu.append(server.cpu_seconds())
        await asyncio.gather(*workers, return_exceptions=True)
        await observer.finish()
        if None in cpu:
            first = later = math.inf
            spent = "CPU unknown (the server is gone)"
        else:
            first, later = cpu[1] - cpu[0], cpu[2] - cpu[1]  # type: ignore[operator]
            spent = f"server CPU {first:.2f} s/s in the first second after the attacker left, {later:.2f} s/s in the next"
        healthy_ok, figures = observer.verdict(p99_bound_ms=FILTER_P99_MS)
        probed = ", ".join(f"{shape} {seconds * 1000:.0f} ms" for shape, seconds in probes.items())
        refused = f" (refusal: {refusals[0]})" if refusals else ""
        report(
            "filter-cpu",
            later < IDLE_CPU and healthy_ok,
            f"probes of {FILTER_PROBE:,} characters ({probed}), worst `{worst}`; {FILTER_IN_FLIGHT} reads in flight "
            f"for {FILTER_SECONDS:.0f} s with {len(text):,} characters: {counts['answer']} answered, "
            f"{counts['error']} refused{refused}, {counts['none']} cut off when it left; {spent}; {figures}",
        )
    finally:
        for worker in workers:
            worker.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        if attacker is not None:
            await attacker.close()
        if observer is not None:
            await observer.stop()
        await server.stop()


def made_up(watch_id: str) -> str:
    """An id of the same shape as `watch_id`, its last character changed within its class."""
    if not watch_id:
        return "w"
    last = watch_id[-1]
    for alphabet in ("0123456789", "abcdef", "ghijklmnopqrstuvwxyz", "ABCDEF", "GHIJKLMNOPQRSTUVWXYZ", "-_"):
        if last in alphabet:
            return watch_id[:-1] + alphabet[(alphabet.index(last) + 1) % len(alphabet)]
    return watch_id[:-1] + ("x" if last != "x" else "y")


async def watch_theft(hswire: str) -> None:
    """Connection B uses connection A's watch id: every op answered as for an unknown id,
    no guessed id works, and A's watch lives on."""
    server = await Serve.start(hswire)
    observer: Observer | None = None
    owner: Client | None = None
    thief: Client | None = None
    try:
        observer = await Observer.start(server)
        owner = await Client.open(server.url, 10)
        thief = await Client.open(server.url, 10)
        points = await point_ids(owner, "point", 6)
        if len(points) < 6:
            report("watch-theft", False, "the site's read of `point` found fewer than 6 points")
            return
        observer.begin()
        opened = json.loads(await owner.call("watchSub", watch_sub("owned by A", points[:3])))
        watch_id = str(opened["meta"]["watchId"])
        fake = made_up(watch_id)
        attempts: list[tuple[str, str, Callable[[str], bytes]]] = [
            ("watchPoll", "watchPoll", lambda wid: watch_request(wid)),
            ("watchPoll refresh", "watchPoll", lambda wid: watch_request(wid, refresh=MARKER)),
            ("watchSub adding ids", "watchSub", lambda wid: watch_request(wid, points[3:])),
            ("watchSub lease 86400", "watchSub", lambda wid: watch_request(wid, lease=number(86400))),
        ]
        closing = ("watchUnsub close", "watchUnsub", lambda wid: watch_request(wid, close=MARKER))
        outcomes: list[str] = []
        fake_refusals: list[str] = []
        alike = 0

        async def steal(name: str, op: str, build: Callable[[str], bytes]) -> None:
            nonlocal alike
            assert thief is not None
            kind, said = await outcome(thief, op, build(watch_id))
            fake_kind, fake_said = await outcome(thief, op, build(fake))
            fake_refusals.append(told(fake_kind, fake_said))
            # Each refusal may name the id it was given: compared with the id left out.
            same = (
                kind == "error"
                and fake_kind == "error"
                and said.replace(watch_id, "<id>") == fake_said.replace(fake, "<id>")
            )
            alike += same
            outcomes.append(f"{name} {'refused as unknown' if same else told(kind, said)}")

        for attempt in attempts:
            await steal(*attempt)
        # Guessed ids while A's watch is still open: none may work.
        guessed = 0
        for n in range(1, 51):
            kind, _ = await outcome(thief, "watchPoll", watch_request(f"w-{n}"))
            guessed += kind == "answer"
        await steal(*closing)
        owner_kind, owner_said = await outcome(owner, "watchPoll", watch_request(watch_id))
        await observer.end()
        await observer.finish()
        healthy_ok, figures = observer.verdict()
        ok = alike == len(attempts) + 1 and guessed == 0 and owner_kind == "answer" and healthy_ok
        report(
            "watch-theft",
            ok,
            f"A's watch `{watch_id}`, B's made-up `{fake}` ({fake_refusals[0]}); from B: "
            f"{'; '.join(outcomes)}; {guessed}/50 guesses w-1..w-50 answered; "
            f"then A's watchPoll {told(owner_kind, owner_said)}; {figures}",
        )
    finally:
        await close_all([c for c in (owner, thief) if c is not None])
        if observer is not None:
            await observer.stop()
        await server.stop()


WATCH_DIS_BYTES = 15 * MB
WATCH_DIS_COUNT = 40
# The longest watchDis an answer may carry back for the watch to count as bounded.
BOUNDED_DIS = 64 * 1024
# Words of a refusal that names a size limit.
LIMIT_WORDS = ("long", "length", "characters", "bytes", "at most", "limit", "large")
# How far above its starting VmRSS the server may stay once the attacker has left.
RSS_KEPT_MB = 50.0


# A watchDis under the server's default request limit (1 MiB), so that only the site's own
# limit on watchDis can refuse it.
WATCH_DIS_SMALLER = 900 * 1024
# The close code of a message over the size limit (RFC 6455).
CLOSE_TOO_BIG = 1009


async def watch_dis(hswire: str) -> None:
    """40 watchSubs with a 15 MiB watchDis, then 40 with a 900 KiB one: each refused in words
    naming a limit (or, for a message over the server's request limit, its connection closed
    with 1009, the next one sent on a new connection), or accepted with its dis cut short;
    the memory given back when the connections close."""
    server = await Serve.start(hswire)
    observer: Observer | None = None
    attacker: Client | None = None
    try:
        observer = await Observer.start(server)
        attacker = await Client.open(server.url, 10)
        points = await point_ids(attacker, "point", 1)
        await asyncio.sleep(0.5)
        rss_before = (server.status_kb("VmRSS") or 0) / 1024
        counts = {"refused": 0, "closed 1009": 0, "bounded": 0, "whole": 0, "other": 0}
        refusals: list[str] = []
        observer.begin()
        for size in (WATCH_DIS_BYTES, WATCH_DIS_SMALLER):
            payload = watch_sub("d" * size, points)
            for _ in range(WATCH_DIS_COUNT):
                if attacker is None:
                    attacker = await Client.open(server.url, 10)
                kind, value = await outcome(attacker, "watchSub", payload, 20)
                if kind == "error":
                    if names_any(value, LIMIT_WORDS):
                        counts["refused"] += 1
                        if len(refusals) < 2 and value not in refusals:
                            refusals.append(value)
                    else:
                        counts["other"] += 1
                elif kind == "answer":
                    dis = str(json.loads(value).get("meta", {}).get("watchDis", ""))
                    counts["bounded" if len(dis) <= BOUNDED_DIS else "whole"] += 1
                else:
                    rcvd = attacker.ws.protocol.close_rcvd
                    code = rcvd.code if rcvd is not None else None
                    counts["closed 1009" if code == CLOSE_TOO_BIG else "other"] += 1
                    await attacker.close()
                    attacker = None
        if attacker is not None:
            await attacker.close()
            attacker = None
        await observer.end()
        await observer.finish()
        # The allocator may hand memory back a little after the connection is gone.
        rss_after = math.inf
        for _ in range(20):
            rss_after = (server.status_kb("VmRSS") or 0) / 1024
            if rss_after <= rss_before + RSS_KEPT_MB or not server.alive():
                break
            await asyncio.sleep(0.1)
        healthy_ok, figures = observer.verdict()
        server.sample()
        hwm_mb = server.hwm_kb / 1024
        refused_all = counts["refused"] + counts["closed 1009"] + counts["bounded"] == 2 * WATCH_DIS_COUNT
        ok = refused_all and hwm_mb < 300 and rss_after <= rss_before + RSS_KEPT_MB and healthy_ok
        said = "; ".join(short(text, 70) for text in refusals)
        report(
            "watch-dis",
            ok,
            f"{WATCH_DIS_COUNT} watchSubs with a {WATCH_DIS_BYTES // MB} MiB watchDis and {WATCH_DIS_COUNT} with "
            f"{WATCH_DIS_SMALLER // 1024} KiB: {counts['refused']} refused naming a limit"
            f"{f' ({said})' if said else ''}, {counts['closed 1009']} closed with 1009 (over the request limit), "
            f"{counts['bounded']} accepted with a dis of at most {BOUNDED_DIS // 1024} KiB, {counts['whole']} "
            f"accepted whole, {counts['other']} refused otherwise; VmHWM {hwm_mb:.0f} MB; VmRSS "
            f"{rss_before:.0f} MB before, {rss_after:.0f} MB after the connections closed; {figures}",
        )
    finally:
        if attacker is not None:
            await attacker.close()
        if observer is not None:
            await observer.stop()
        await server.stop()


CAPACITY_CONNECTIONS = 20
CAPACITY_TRIES = 200
OTHER_SOURCE = "127.0.0.2"


async def watch_capacity(hswire: str) -> None:
    """20 connections from 127.0.0.1 open watches until refused (or 200 each); a client from
    127.0.0.2 must still get one."""
    server = await Serve.start(hswire)
    observer: Observer | None = None
    attackers: list[Client] = []
    try:
        observer = await Observer.start(server)
        probe = await Client.open(server.url, 10)
        try:
            points = await point_ids(probe, "point", 1)
        finally:
            await probe.close()
        opened = await asyncio.gather(*(open_or_none(server.url, 10) for _ in range(CAPACITY_CONNECTIONS)))
        attackers = [client for client in opened if client is not None]
        observer.begin()

        async def fill(index: int) -> tuple[int, str]:
            """How many watches one connection got, and the refusal that stopped it."""
            client = attackers[index]
            for n in range(CAPACITY_TRIES):
                kind, value = await outcome(client, "watchSub", watch_sub(f"capacity {index}.{n}", points), 10)
                if kind != "answer":
                    return n, str(value)
            return CAPACITY_TRIES, ""

        # One connection after the other, so that whatever one connection may hold shows.
        counts = [await fill(index) for index in range(len(attackers))]
        other = await open_or_none(server.url, 10, source=OTHER_SOURCE)
        if other is None:
            other_kind, other_said = "none", f"no connection from {OTHER_SOURCE}"
        else:
            try:
                other_kind, other_said = await outcome(other, "watchSub", watch_sub("from elsewhere", points))
            finally:
                await other.close()
        await observer.end()
        await close_all(attackers)
        attackers = []
        await observer.finish()
        got = [n for n, _ in counts]
        # The refusals, grouped with their numbers left out; one example of each.
        kinds: dict[str, tuple[str, int]] = {}
        for _, said in counts:
            if said:
                key = re.sub(r"\d+", "#", said)
                example, seen = kinds.get(key, (said, 0))
                kinds[key] = (example, seen + 1)
        refusals = "; ".join(f"'{short(example, 70)}' x{seen}" for example, seen in list(kinds.values())[:3])
        healthy_ok, figures = observer.verdict()
        report(
            "watch-capacity",
            other_kind == "answer" and healthy_ok,
            f"{len(counts)} connections from {HOST} opened {sum(got):,} watches "
            f"(most {max(got, default=0)}, fewest {min(got, default=0)} per connection); "
            f"refusals: {refusals or 'none'}; a watchSub from {OTHER_SOURCE} "
            f"{'succeeded' if other_kind == 'answer' else told(other_kind, other_said)}; {figures}",
        )
    finally:
        await close_all(attackers)
        if observer is not None:
            await observer.stop()
        await server.stop()


POLL_CONNECTIONS = 4
POLL_IN_FLIGHT = 16
POLL_SECONDS = 8.0
POLL_P99_MS = 50.0


async def watch_poll_flood(hswire: str) -> None:
    """4 connections each watch every point and keep 16 watchPolls with `refresh` in flight for
    8 s: the healthy client's `about` stays fast. Each connection comes from an address of its
    own (127.0.0.11, .12, ...), so that the server's cap on the records one address watches
    does not refuse the watches before the flood starts."""
    server = await Serve.start(hswire)
    observer: Observer | None = None
    attackers: list[Client] = []
    workers: list[asyncio.Future[None]] = []
    try:
        observer = await Observer.start(server)
        attackers = [
            await Client.open(server.url, 10, source=f"127.0.0.{11 + index}") for index in range(POLL_CONNECTIONS)
        ]
        watches: list[str] = []
        watched = 0
        for index, client in enumerate(attackers):
            points = await point_ids(client, "point", 4096)
            watched = max(watched, len(points))
            opened = json.loads(await client.call("watchSub", watch_sub(f"flood {index}", points), 30))
            watches.append(str(opened["meta"]["watchId"]))
        counts = {"answer": 0, "error": 0, "none": 0}
        received = 0
        refusals: list[str] = []
        observer.begin()
        deadline = time.monotonic() + POLL_SECONDS

        async def keep_polling(client: Client, watch_id: str) -> None:
            nonlocal received
            payload = watch_request(watch_id, refresh=MARKER)
            while time.monotonic() < deadline:
                kind, value = await outcome(client, "watchPoll", payload, POLL_SECONDS + 10)
                counts[kind] += 1
                if kind == "answer":
                    received += len(value)
                elif kind == "error" and not refusals:
                    refusals.append(short(value, 70))
                elif kind == "none":
                    return

        workers = [
            asyncio.ensure_future(keep_polling(client, watch_id))
            for client, watch_id in zip(attackers, watches)
            for _ in range(POLL_IN_FLIGHT)
        ]
        await asyncio.sleep(max(0.0, deadline - time.monotonic()))
        await close_all(attackers)
        attackers = []
        await observer.end()
        await asyncio.gather(*workers, return_exceptions=True)
        await observer.finish()
        healthy_ok, figures = observer.verdict(p99_bound_ms=POLL_P99_MS)
        refused = f" (refusal: {refusals[0]})" if refusals else ""
        report(
            "watch-poll-flood",
            healthy_ok,
            f"{POLL_CONNECTIONS} watches of {watched:,} points, {POLL_IN_FLIGHT} refresh polls in flight on each "
            f"for {POLL_SECONDS:.0f} s: {counts['answer']:,} answered ({received / MB:,.0f} MiB), "
            f"{counts['error']} refused{refused}, {counts['none']} cut off at the end; {figures}",
        )
    finally:
        for worker in workers:
            worker.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        await close_all(attackers)
        if observer is not None:
            await observer.stop()
        await server.stop()


LOGIN_ITERATIONS = 4096
LOGIN_SECONDS = 8.0
LOGIN_WORKERS = 4
# How long attempts still under way at the end may take to get their verdict.
LOGIN_GRACE = 3.0
# How long the right password may take from another address.
LOGIN_RIGHT_WITHIN = 5.0
TOKEN_LOGINS = 150


async def add_user(hswire: str, users: Path, name: str, password: str) -> None:
    """`hswire user add` with the fewest iterations it takes, the password on stdin."""
    process = await asyncio.create_subprocess_exec(
        hswire,
        "user",
        "add",
        "--iterations",
        str(LOGIN_ITERATIONS),
        str(users),
        name,
        "--role",
        "viewer",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    PROCESSES[process.pid] = process
    try:
        _, err = await asyncio.wait_for(process.communicate(f"{password}\n".encode()), 30)
    finally:
        await stop_process(process)
    if process.returncode != 0:
        raise RuntimeError(f"hswire user add {name}: {first_line(err.decode(errors='replace'))}")


async def login_throttle(hswire: str) -> None:
    """Wrong passwords for one user as fast as 4 connections at a time go, for 8 s: the
    verdicts must slow down, the right password from another address must still get in,
    and many logins of one user must not evict another user's token."""
    with tempfile.TemporaryDirectory() as directory:
        users = Path(directory) / "users.json"
        passwords = {"alice": secrets.token_urlsafe(12), "bob": secrets.token_urlsafe(12)}
        for name, password in passwords.items():
            await add_user(hswire, users, name, password)
        wrong = secrets.token_urlsafe(12)
        shared = secrets.token_urlsafe(24)
        server = await Serve.start(hswire, "--users", str(users), "--auth-token", shared)
        observer: Observer | None = None
        try:
            observer = await Observer.start(server, shared)
            # (started, ended, outcome) of each wrong password.
            attempts: list[tuple[float, float, str]] = []
            observer.begin()
            start = observer.started
            deadline = start + LOGIN_SECONDS
            cutoff = deadline + LOGIN_GRACE

            async def guess() -> None:
                while time.monotonic() < deadline:
                    began = time.monotonic()
                    kind, _ = await log_in(server.url, "alice", wrong, cutoff - began)
                    attempts.append((began, time.monotonic(), kind))

            async def right_password(after: float) -> tuple[bool, str]:
                await asyncio.sleep(after)
                began = time.monotonic()
                kind, said = await log_in(server.url, "alice", passwords["alice"], LOGIN_RIGHT_WITHIN, OTHER_SOURCE)
                took = time.monotonic() - began
                if kind == "ok" and took <= LOGIN_RIGHT_WITHIN:
                    return True, f"in after {took:.2f} s"
                return False, f"{'refused at ' if kind == 'refused' else 'failed: '}{said} after {took:.2f} s"

            during = asyncio.ensure_future(right_password(LOGIN_SECONDS / 2))
            await asyncio.gather(*(guess() for _ in range(LOGIN_WORKERS)))
            await observer.end()
            during_ok, during_said = await during
            after_ok, after_said = await right_password(0)
            await observer.finish()

            verdicts = sorted((a for a in attempts if a[2] == "refused"), key=lambda a: a[1])
            first = [a for a in verdicts if a[1] < start + 1]
            last = [a for a in verdicts if deadline - 2 <= a[1] < deadline]
            first_rate, last_rate = len(first), len(last) / 2
            first_ms = p50([(a[1] - a[0]) * 1000 for a in first]) if first else math.inf
            last_ms = [(a[1] - a[0]) * 1000 for a in verdicts[-4:]]
            unanswered = sum(1 for a in attempts if a[2] != "refused")
            slowed = first_rate > 0 and last_rate < first_rate / 10
            longer = unanswered > 0 or bool(last_ms and p50(last_ms) > 2 * first_ms)
            throttle_ok, figures = observer.verdict()
        finally:
            if observer is not None:
                await observer.stop()
            await server.stop()

        # Tokens, on a server of their own that saw no wrong password.
        server = await Serve.start(hswire, "--users", str(users))
        try:
            kind, bob_token = await log_in(server.url, "bob", passwords["bob"], 10)
            alice = await bounded(
                TOKEN_LOGINS, LOGIN_WORKERS, lambda _: log_in(server.url, "alice", passwords["alice"], 10)
            )
            alice_in = sum(1 for result in alice if isinstance(result, tuple) and result[0] == "ok")
            kept = False
            if kind == "ok":
                client = await open_or_none(server.url, 10)
                if client is not None:
                    try:
                        await client.ws.send(json.dumps({hw.AUTH_TOKEN_FIELD: bob_token}))
                        kept = await about_ok(client, 5)
                    except (ConnectionClosed, OSError):
                        kept = False
                    finally:
                        await client.close()
            token_said = (
                f"bob's token {'still let in' if kept else 'refused'} after {alice_in}/{TOKEN_LOGINS} logins of alice"
                if kind == "ok"
                else f"bob could not log in ({bob_token})"
            )
        finally:
            await server.stop()

    latencies = ", ".join(f"{ms:.0f}" for ms in last_ms) or "none"
    report(
        "login-throttle",
        slowed and longer and during_ok and after_ok and kept and throttle_ok,
        f"wrong passwords for alice, {LOGIN_WORKERS} at a time for {LOGIN_SECONDS:.0f} s: {len(verdicts):,} authErr, "
        f"{first_rate:,}/s in the first second (median {first_ms:.0f} ms), {last_rate:,.0f}/s in the last 2 s; "
        f"the last 4 took {latencies} ms to authErr; {unanswered} without a verdict; the right password "
        f"from {OTHER_SOURCE}: {during_said} during, {after_said} after; {token_said}; {figures}",
    )


async def origin(hswire: str) -> None:
    """Upgrades with a foreign Origin are refused (403); without one, or from the server's own
    origin, they go through (101)."""
    server = await Serve.start(hswire)
    observer: Observer | None = None
    try:
        observer = await Observer.start(server)
        observer.begin()
        port = server.port
        foreign = await http_answer(port, upgrade_request(port, origin="http://evil.example"), 5)
        without = await http_answer(port, upgrade_request(port), 5)
        own = await http_answer(port, upgrade_request(port, origin=f"http://{HOST}:{port}"), 5)
        await observer.end()
        await observer.finish()
        healthy_ok, figures = observer.verdict()

        def said(answer: tuple[int | None, str]) -> str:
            return answer[1] or "no answer"

        ok = (
            foreign[0] == HTTPStatus.FORBIDDEN
            and without[0] == HTTPStatus.SWITCHING_PROTOCOLS
            and own[0] == HTTPStatus.SWITCHING_PROTOCOLS
            and healthy_ok
        )
        report(
            "origin",
            ok,
            f"Origin http://evil.example: {said(foreign)}; no Origin: {said(without)}; "
            f"Origin http://{HOST}:{port}: {said(own)}; {figures}",
        )
    finally:
        if observer is not None:
            await observer.stop()
        await server.stop()


HANDSHAKE_TIMEOUT = 2
SLOW_SECONDS = 8.0


async def until_closed(reader: asyncio.StreamReader, most: float) -> tuple[bytes, float | None]:
    """Everything the peer says, and after how long it closed (None: not within `most` s)."""
    started = time.monotonic()
    data = b""

    async def gather_all() -> None:
        nonlocal data
        while len(data) < 65536:
            try:
                piece = await reader.read(4096)
            except OSError:
                return
            if not piece:
                return
            data += piece

    try:
        await asyncio.wait_for(gather_all(), most)
        return data, time.monotonic() - started
    except asyncio.TimeoutError:
        return data, None


async def http_answers(hswire: str) -> None:
    """What the server says before it closes: 400 to an upgrade without a key, 408 to a head
    that comes one byte a second, a 1002 close to a ping of 200 bytes."""
    server = await Serve.start(hswire, "--handshake-timeout", str(HANDSHAKE_TIMEOUT))
    observer: Observer | None = None
    writers: list[asyncio.StreamWriter] = []
    try:
        observer = await Observer.start(server)
        observer.begin()
        port = server.port
        no_key = await http_answer(port, upgrade_request(port, key=False), 5)
        parts = no_key[1].split(" ", 2)
        no_key_ok = no_key[0] == HTTPStatus.BAD_REQUEST and len(parts) == 3 and bool(parts[2].strip())

        # A head one byte a second.
        reader, writer = await asyncio.wait_for(asyncio.open_connection(HOST, port), 5)
        writers.append(writer)
        listening = asyncio.ensure_future(until_closed(reader, SLOW_SECONDS))
        sent = 0
        for byte in upgrade_request(port):
            if listening.done():
                break
            try:
                writer.write(bytes([byte]))
                await writer.drain()
            except OSError:
                break
            sent += 1
            await asyncio.wait([listening], timeout=1)
        slow_data, slow_closed = await listening
        slow_code, slow_line = status_of(slow_data)
        slow_ok = slow_code == HTTPStatus.REQUEST_TIMEOUT and slow_closed is not None
        closed = f"closed after {slow_closed:.1f} s" if slow_closed is not None else f"open after {SLOW_SECONDS:.0f} s"

        # A ping with a payload over the 125 bytes a control frame may carry.
        reader, writer = await asyncio.wait_for(asyncio.open_connection(HOST, port), 5)
        writers.append(writer)
        writer.write(upgrade_request(port))
        await writer.drain()
        upgraded, _ = status_of(await asyncio.wait_for(read_head(reader), 5))
        close_code: int | None = None
        ping_said = "no close frame"
        if upgraded == HTTPStatus.SWITCHING_PROTOCOLS:
            writer.write(ws_frame(Opcode.PING, b"p" * 200, mask=True))
            await writer.drain()
            try:
                for _ in range(16):
                    _, opcode, payload = await asyncio.wait_for(read_ws_frame(reader), 5)
                    if opcode == Opcode.CLOSE:
                        close_code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else None
                        ping_said = f"close {close_code}" if close_code is not None else "a close frame without a code"
                        break
            except asyncio.TimeoutError:
                ping_said = "no close frame within 5 s"
            except (asyncio.IncompleteReadError, OSError, ValueError):
                ping_said = "closed with no close frame"
        else:
            ping_said = f"the upgrade got {upgraded}"
        ping_ok = close_code == CloseCode.PROTOCOL_ERROR
        await observer.end()
        await observer.finish()
        healthy_ok, figures = observer.verdict()
        report(
            "http-answers",
            no_key_ok and slow_ok and ping_ok and healthy_ok,
            f"upgrade without Sec-WebSocket-Key: {no_key[1] or 'closed with no answer'}; "
            f"head at a byte a second ({sent} bytes sent, --handshake-timeout {HANDSHAKE_TIMEOUT}): "
            f"{slow_line or 'no answer'}, {closed}; masked ping of 200 bytes: {ping_said}; {figures}",
        )
    finally:
        for writer in writers:
            writer.close()
        if observer is not None:
            await observer.stop()
        await server.stop()


BIG_ANSWER_BYTES = 50_000_000
BIG_ANSWER_FRAME = MB
CALL_WITHIN = 5.0
CALL_HWM_MB = 64.0


async def call_big_answer(hswire: str) -> None:
    """`hswire call` against a listener whose capability answer is a 50 MB text message: it
    must give up within 5 s, in words, without holding the message."""
    events: list[str] = []
    writers: list[asyncio.StreamWriter] = []
    # Bytes of the answer the listener got onto the socket before hswire stopped taking them.
    answer_sent = 0
    type_key, compression_key, chunked_key, version_key = hw.HANDSHAKE_FIELDS
    body = json.dumps({type_key: hw.HANDSHAKE_TYPE, compression_key: None, chunked_key: False, version_key: hw.HANDSHAKE_VERSION})
    # Valid JSON, only far too long: the padding is whitespace inside the object.
    answer = ("{" + " " * (BIG_ANSWER_BYTES - len(body)) + body[1:]).encode()

    async def serve_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal answer_sent
        writers.append(writer)
        if len(writers) > 1:
            return
        try:
            head = await asyncio.wait_for(read_head(reader), 10)
            key = header_of(head, "Sec-WebSocket-Key")
            if key is None:
                events.append("an upgrade request without a key")
                return
            writer.write(
                (
                    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    f"Sec-WebSocket-Accept: {accept_key(key)}\r\nSec-WebSocket-Protocol: {hw.SUBPROTOCOL}\r\n\r\n"
                ).encode()
            )
            _, opcode, _ = await asyncio.wait_for(read_ws_frame(reader), 10)
            if opcode != Opcode.TEXT:
                events.append(f"a first message of opcode {opcode} instead of the offer")
                return
            sent = 0
            try:
                for at in range(0, len(answer), BIG_ANSWER_FRAME):
                    piece = answer[at : at + BIG_ANSWER_FRAME]
                    last = at + BIG_ANSWER_FRAME >= len(answer)
                    writer.write(ws_frame(Opcode.TEXT if at == 0 else Opcode.CONT, piece, fin=last))
                    await writer.drain()
                    sent += len(piece)
            except OSError:
                pass
            answer_sent = sent
            events.append(f"{sent / 1e6:.0f} MB of the answer sent")
            for _ in range(16):
                _, opcode, payload = await asyncio.wait_for(read_ws_frame(reader), 10)
                if opcode == Opcode.BINARY:
                    events.append("hswire took it and sent its request")
                    _, request_id, op, _ = read_header(payload)
                    response = hw.BASE_HEADER.pack(hw.FLAG_RESPONSE, request_id, op) + grid(
                        ["serverName"], [{"serverName": "a big answer"}]
                    )
                    writer.write(ws_frame(Opcode.BINARY, response))
                    await writer.drain()
                elif opcode == Opcode.CLOSE:
                    code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else None
                    events.append(f"hswire sent a close ({code})")
                    return
        except (asyncio.IncompleteReadError, OSError):
            events.append("hswire hung up")
        except asyncio.TimeoutError:
            events.append("hswire went quiet")
        except ValueError as error:
            events.append(f"hswire sent {error}")

    listener = await asyncio.start_server(serve_once, HOST, 0)
    port = listener.sockets[0].getsockname()[1]
    process: asyncio.subprocess.Process | None = None
    peak_kb = 0
    sampler: asyncio.Future[None] | None = None
    try:
        started = time.monotonic()
        process = await asyncio.create_subprocess_exec(
            hswire,
            "call",
            "--url",
            f"ws://{HOST}:{port}",
            "--compression",
            hw.COMPRESSION_NAMES[hw.COMP_ZLIB],
            "about",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        PROCESSES[process.pid] = process
        pid = process.pid

        async def sample() -> None:
            nonlocal peak_kb
            while True:
                peak_kb = max(peak_kb, proc_status_kb(pid, "VmHWM") or 0)
                await asyncio.sleep(0.01)

        sampler = asyncio.ensure_future(sample())
        try:
            _, err = await asyncio.wait_for(process.communicate(), 20)
            seconds = time.monotonic() - started
            code = process.returncode
            said = first_line(err.decode(errors="replace"))
            # A process that is gone before the first sample was taken held too little for too
            # short a time to be seen; the answer it never took is then the measure.
            held_little = peak_kb / 1024 < CALL_HWM_MB and answer_sent < BIG_ANSWER_BYTES
            ok = code != 0 and seconds <= CALL_WITHIN and bool(said) and held_little
            detail = f"exit {code} after {seconds:.1f} s; stderr: {short(said, 120) or 'nothing'}"
        except asyncio.TimeoutError:
            ok = False
            detail = "still running after 20 s; stopped"
        report(
            "call-big-answer",
            ok,
            f"a capability answer of {BIG_ANSWER_BYTES / 1e6:.0f} MB in {BIG_ANSWER_FRAME // MB} MiB frames: "
            f"{', '.join(events) or 'no connection'}; {detail}; "
            f"{f'VmHWM {peak_kb / 1024:.1f} MB (sampled every 10 ms)' if peak_kb else 'gone before its memory was first sampled (10 ms)'}",
        )
    finally:
        if sampler is not None:
            sampler.cancel()
            await asyncio.gather(sampler, return_exceptions=True)
        if process is not None:
            await stop_process(process)
        for writer in writers:
            writer.close()
        listener.close()


ATTACKS: list[tuple[str, Callable[[str], Awaitable[None]], float]] = [
    ("fd-limit", fd_limit, 45),
    ("silent", silent, 25),
    ("pipeline", pipeline, 60),
    ("watch-churn", watch_churn, 45),
    ("idle", idle, 40),
    ("pending-bytes", pending_bytes, 30),
    ("call-no-upgrade", call_no_upgrade, 35),
    ("deep-filter", deep_filter, 30),
    ("filter-cpu", filter_cpu, 45),
    ("watch-theft", watch_theft, 30),
    ("watch-dis", watch_dis, 50),
    ("watch-capacity", watch_capacity, 30),
    ("watch-poll-flood", watch_poll_flood, 40),
    ("login-throttle", login_throttle, 45),
    ("origin", origin, 20),
    ("http-answers", http_answers, 30),
    ("call-big-answer", call_big_answer, 30),
]


def raise_own_file_limit() -> int:
    """The suite holds over 1,000 sockets at once: its soft file limit goes up to the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else 65536
    if soft == resource.RLIM_INFINITY or soft >= wanted:
        return soft
    resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    return wanted


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hswire")
    parser.add_argument("--only", action="append", help="run only this attack (repeatable)")
    # The healthy client the attacks start in a process of their own (see `pulse_main`).
    parser.add_argument("--pulse", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--pulse-token", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.pulse:
        return await pulse_main(args.pulse, args.pulse_token)
    if not args.hswire:
        parser.error("--hswire is required")
    unknown = set(args.only or []) - {name for name, _, _ in ATTACKS}
    if unknown:
        parser.error(f"no attack named {', '.join(sorted(unknown))}")
    limit = raise_own_file_limit()
    if limit < 2 * SERVER_NOFILE:
        print(f"warning: this process may open only {limit} files", flush=True)

    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        if task is not None:
            loop.add_signal_handler(signum, task.cancel)

    deadline = time.monotonic() + RUN_BUDGET
    try:
        for name, attack, cap in ATTACKS:
            if args.only and name not in args.only:
                continue
            left = deadline - time.monotonic()
            if left < cap / 2:
                report(name, False, f"not run: {left:.0f} s of the run's {RUN_BUDGET:.0f} s left")
                continue
            try:
                await asyncio.wait_for(attack(args.hswire), min(cap, left))
            except asyncio.TimeoutError:
                report(name, False, f"did not finish within {min(cap, left):.0f} s")
            except Exception as error:  # an attack that breaks down has missed its target
                report(name, False, f"{type(error).__name__}: {error}")
    except asyncio.CancelledError:
        print("interrupted", flush=True)
        RESULTS.append(("interrupted", False))
    finally:
        for process in list(PROCESSES.values()):
            await stop_process(process)
    passed = sum(1 for _, ok in RESULTS if ok)
    failed = len(RESULTS) - passed
    print(f"hostile peers: {passed} passed, {failed} failed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
