#!/usr/bin/env python3
"""Side by side on the reference's own WebSocket benchmark: haystack-py's
server, `hswire serve` (the typed API), and the limit server's two modes, in
every binary mode of the benchmark, each server pinned to one core and the
load generator to the other.

    python3 scripts/side-by-side.py [--duration 15] [--warmup 3] [--connections 10]
        [--modes binary,binary+zlib] [--servers reference,typed,direct,echo]
        [--json FILE] [--noisy-ok] [--smoke]

For each mode and server it starts the server on 127.0.0.1 (a free port,
`taskset -c 1`), runs `hswire bench --json` against it (`taskset -c 0`), and
reads the server's CPU time over the measured window from /proc. It also
times the compressor alone on the same payloads (Python's zlib and lzma, the
system libraries the codec links, with the codec's parameters), and runs
the reference's own Python client against the reference and `hswire serve`.
It prints Markdown tables; --json FILE writes everything as JSON.

The servers:
  reference  hs_py.ws_server.WebSocketServer on the benchmark's 5,000 points
             (scripts/reference_server.py, in the venv of scripts/python-env.sh)
  typed      hswire serve --site FILE --no-page (libhaystack grids)
  direct     the limit_server example, --mode direct (response bytes built directly)
  echo       the limit_server example, --mode echo (the same bytes every time: the limit)

Before the first run and between runs it samples /proc/stat and refuses to
go on while other processes keep more than --busy-threshold percent of the
machine busy, unless --noisy-ok. --smoke is a short check for CI: every
server, two modes, about a second each, two connections, debug builds; it
fails unless every server answered without errors. Without haystack-py it
says so loudly and runs the Rust servers only. Only the standard library is
needed; every process started is stopped by its pid, also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import lzma
import os
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

# The modes of the reference's benchmark that speak binary frames, with what
# each offers: (name, compression, chunked).
MODES: list[tuple[str, str | None, bool]] = [
    ("binary", None, False),
    ("binary+chunked", None, True),
    ("binary+zlib", "zlib", False),
    ("binary+zlib+chunked", "zlib", True),
    ("binary+lzma", "lzma", False),
]
MODE_NAMES = [name for name, _, _ in MODES]
SERVERS = ["reference", "typed", "direct", "echo"]
SERVER_TITLES = {
    "reference": "reference (hs_py WebSocketServer)",
    "typed": "typed Rust (hswire serve)",
    "direct": "direct (limit_server --mode direct)",
    "echo": "echo limit (limit_server --mode echo)",
}
SMOKE_MODES = ["binary", "binary+zlib+chunked"]
READ_FILTER = "point and sensor"

# Bounds, in seconds.
BUILD_TIMEOUT = 3600
START_TIMEOUT = 60
STOP_TIMEOUT = 5
PORT_FREE_TIMEOUT = 5
BENCH_SLACK = 60


class Refused(Exception):
    """A run that cannot go on; its message says why."""


def loud(text: str) -> None:
    bar = "!" * 72
    print(f"{bar}\n!!! {text}\n{bar}", flush=True)


def protocol_constants() -> Any:
    """The generated Python constants of protocol.yaml (standard library only)."""
    path = ROOT / "bindings" / "python" / "python" / "haystack_wire" / "protocol.py"
    spec = importlib.util.spec_from_file_location("haystack_wire_protocol", path)
    if spec is None or spec.loader is None:
        raise Refused(f"cannot load the generated protocol constants from {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---------------------------------------------------------------------------
# The machine: quiet check, load, CPU time of a process
# ---------------------------------------------------------------------------


def cpu_totals() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    with open("/proc/stat") as stat:
        fields = [int(value) for value in stat.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    total = sum(fields[:8])  # guest time is already counted in user
    return total - idle, total


def busy_share(seconds: float) -> float:
    """The percentage of the machine's CPU time spent busy over `seconds`."""
    busy0, total0 = cpu_totals()
    time.sleep(seconds)
    busy1, total1 = cpu_totals()
    return 100.0 * (busy1 - busy0) / max(1, total1 - total0)


def load_average() -> str:
    with open("/proc/loadavg") as loadavg:
        return " ".join(loadavg.read().split()[:3])


def process_cpu_ms(pid: int) -> float | None:
    """utime + stime of process `pid` (all its threads) in milliseconds; None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            text = stat.read()
    except OSError:
        return None
    # The command name is in parentheses and may hold spaces: split after it.
    fields = text[text.rindex(")") + 2 :].split()
    ticks = int(fields[11]) + int(fields[12])  # fields 14 and 15 of proc(5)
    return ticks * 1000.0 / os.sysconf("SC_CLK_TCK")


@dataclass
class Quiet:
    """The quiet-machine checks of one run."""

    threshold: float
    noisy_ok: bool
    sample_s: float
    checks: list[dict] = field(default_factory=list)

    def check(self, when: str) -> None:
        share = busy_share(self.sample_s)
        # A busy moment (another build's link step) may pass: look twice more.
        tries = 1
        while share > self.threshold and tries < 3:
            time.sleep(2)
            share = busy_share(self.sample_s)
            tries += 1
        self.checks.append({"when": when, "busy_percent": round(share, 1), "load_average": load_average()})
        if share <= self.threshold:
            print(f"quiet check ({when}): other processes kept {share:.1f}% of the machine busy", flush=True)
            return
        words = (
            f"the machine is not quiet ({when}): other processes kept {share:.1f}% of it busy "
            f"(threshold {self.threshold:g}%; load average {load_average()})"
        )
        loud(words)
        if not self.noisy_ok:
            raise Refused(words + "; stop them, or pass --noisy-ok to measure anyway")

    def worst(self) -> float:
        return max((check["busy_percent"] for check in self.checks), default=0.0)


# ---------------------------------------------------------------------------
# Processes: every one started is kept here and stopped by its pid
# ---------------------------------------------------------------------------

STARTED: list[subprocess.Popen] = []


def stop_process(process: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL after STOP_TIMEOUT; waits for it to end."""
    if process.poll() is None:
        try:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT)
        except ProcessLookupError:
            pass
    if process in STARTED:
        STARTED.remove(process)


def stop_all() -> None:
    for process in list(STARTED):
        try:
            stop_process(process)
        except Exception as error:  # keep stopping the others
            print(f"side-by-side: cannot stop pid {process.pid}: {error}", file=sys.stderr)


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def run(argv: list[str], timeout: float, **options: Any) -> subprocess.CompletedProcess:
    """Runs `argv` to its end within `timeout` seconds (then kills it)."""
    if options.pop("capture_output", False):
        options.update(stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process = subprocess.Popen(argv, **options)
    STARTED.append(process)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        stdout, stderr = process.communicate()
        raise Refused(f"{shlex.join(argv)} did not end within {timeout:g} s")
    finally:
        if process in STARTED:
            STARTED.remove(process)
    return subprocess.CompletedProcess(argv, process.returncode, stdout, stderr)


@dataclass
class Running:
    """A server that printed its address."""

    process: subprocess.Popen
    url: str
    port: int
    log: Path


def start_server(argv: list[str], log: Path) -> Running:
    """Starts `argv`, waits for its `listening on ws://HOST:PORT` line."""
    errors = open(log, "wb")
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=errors, stdin=subprocess.DEVNULL)
    errors.close()
    STARTED.append(process)
    first: list[bytes] = []
    reader = threading.Thread(target=lambda: first.append(process.stdout.readline()), daemon=True)
    reader.start()
    reader.join(START_TIMEOUT)
    line = first[0].decode(errors="replace").strip() if first else ""
    if not line.startswith("listening on ws://"):
        stop_process(process)
        said = log.read_text(errors="replace").strip()[-2000:]
        raise Refused(
            f"{shlex.join(argv)} did not print its address within {START_TIMEOUT} s "
            f"(first line {line!r}); its stderr:\n{said}"
        )
    url = line.removeprefix("listening on ").strip()
    port = int(url.rsplit(":", 1)[1])
    # The rest of stdout is drained, so that the server never blocks on it.
    threading.Thread(target=process.stdout.read, daemon=True).start()
    return Running(process, url, port, log)


def stop_server(server: Running) -> None:
    stop_process(server.process)
    deadline = time.monotonic() + PORT_FREE_TIMEOUT
    while not port_free(server.port):
        if time.monotonic() > deadline:
            raise Refused(f"port {server.port} is still taken {PORT_FREE_TIMEOUT} s after its server stopped")
        time.sleep(0.1)


# ---------------------------------------------------------------------------
# What is run
# ---------------------------------------------------------------------------


@dataclass
class Setup:
    args: argparse.Namespace
    hswire: Path
    limit_server: Path
    site: Path
    python: str | None
    token: str
    workdir: Path
    pin_server: list[str]
    pin_client: list[str]


def mode_options(mode: str) -> list[str]:
    _, compression, chunked = next(entry for entry in MODES if entry[0] == mode)
    options = ["--compression", compression] if compression else []
    return options + (["--chunked"] if chunked else [])


def server_argv(setup: Setup, server: str, mode: str) -> list[str]:
    common = ["--listen", "127.0.0.1:0", "--auth-token", setup.token, *mode_options(mode)]
    if server == "reference":
        assert setup.python is not None
        return [*setup.pin_server, setup.python, str(ROOT / "scripts" / "reference_server.py"), *common]
    if server == "typed":
        return [*setup.pin_server, str(setup.hswire), "serve", "--site", str(setup.site), "--no-page", *common]
    return [*setup.pin_server, str(setup.limit_server), "--mode", server, "--site", str(setup.site), *common]


def measure(setup: Setup, server: str, mode: str, client: str) -> dict:
    """One server in one mode under one load generator: its figures and the server's CPU."""
    args = setup.args
    running = start_server(server_argv(setup, server, mode), setup.workdir / f"{server}-{mode}-{client}.log")
    try:
        if client == "hswire":
            argv = [
                *setup.pin_client, str(setup.hswire), "bench", "--json", "--url", running.url,
                "--auth-token", setup.token, "--connections", str(args.connections),
                "--duration", str(args.duration), "--warmup", str(args.warmup), *mode_options(mode),
            ]
        else:
            assert setup.python is not None
            argv = [
                *setup.pin_client, setup.python, str(ROOT / "scripts" / "reference_client.py"), "--url", running.url,
                "--auth-token", setup.token, "--connections", str(args.connections),
                "--duration", str(args.duration), "--warmup", str(args.warmup), *mode_options(mode),
            ]
        # The server's CPU time over the measured window: sampled when the warm-up
        # ends and when the measurement does, counted from the client's start.
        samples: dict[str, float | None] = {}

        def sample() -> None:
            started = time.monotonic()
            time.sleep(args.warmup)
            samples["from"] = process_cpu_ms(running.process.pid)
            samples["from_t"] = time.monotonic() - started
            time.sleep(args.duration)
            samples["to"] = process_cpu_ms(running.process.pid)
            samples["to_t"] = time.monotonic() - started

        sampler = threading.Thread(target=sample, daemon=True)
        before = process_cpu_ms(running.process.pid)
        sampler.start()
        done = run(argv, timeout=args.warmup + args.duration + BENCH_SLACK, capture_output=True)
        sampler.join(BENCH_SLACK)
        after = process_cpu_ms(running.process.pid)
    finally:
        stop_server(running)
    try:
        result = json.loads(done.stdout.decode().strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise Refused(
            f"{shlex.join(argv)} exited {done.returncode} without a JSON result; its stderr:\n"
            + done.stderr.decode(errors="replace")[-2000:]
        )
    cpu_window = None
    if samples.get("from") is not None and samples.get("to") is not None:
        cpu_window = samples["to"] - samples["from"]
    messages = result.get("messages", 0)
    result.update(
        {
            "server": server,
            "client": client,
            "exit_code": done.returncode,
            "server_cpu_ms_window": cpu_window,
            "server_cpu_ms_run": None if before is None or after is None else after - before,
            "server_cpu_ms_per_msg": round(cpu_window / messages, 3) if cpu_window and messages else None,
        }
    )
    shown = result["server_cpu_ms_per_msg"]
    print(
        f"  {server:<9} {mode:<20} {client:<6} {result.get('messages_per_sec', 0):>9} msg/s  "
        f"errors {result.get('errors', '?')}  p50 {result.get('latency_ms', {}).get('p50', '?')} ms  "
        f"server CPU {'-' if shown is None else f'{shown:.3f}'} ms/msg",
        flush=True,
    )
    return result


# ---------------------------------------------------------------------------
# The compressor alone
# ---------------------------------------------------------------------------


def fetch_payloads(setup: Setup) -> dict[str, bytes]:
    """The about and read answers of `hswire serve` on the site, as `hswire call` prints them."""
    running = start_server(server_argv(setup, "typed", "binary"), setup.workdir / "payloads.log")
    try:
        payloads = {}
        read_grid = json.dumps(
            {"_kind": "grid", "meta": {"ver": "3.0"}, "cols": [{"name": "filter"}], "rows": [{"filter": READ_FILTER}]}
        )
        for op, extra in (("about", []), ("read", ["--grid", read_grid])):
            argv = [str(setup.hswire), "call", "--url", running.url, "--auth-token", setup.token, op, *extra]
            done = run(argv, timeout=60, capture_output=True)
            if done.returncode != 0:
                raise Refused(f"{shlex.join(argv)} failed: {done.stderr.decode(errors='replace')[-2000:]}")
            payloads[op] = done.stdout.rstrip(b"\n")
        return payloads
    finally:
        stop_server(running)


def compressor_ms(payloads: dict[str, bytes], mode: str, protocol: Any, budget_s: float) -> dict | None:
    """Milliseconds the compressor alone takes per message of the loop in `mode`
    (the mean of about and read), as the codec compresses them: the whole payload
    from the threshold up, or each chunk of a chunked one. None without compression."""
    _, compression, chunked = next(entry for entry in MODES if entry[0] == mode)
    if compression is None:
        return None
    if compression == "zlib":
        def squeeze(data: bytes) -> bytes:
            return zlib.compress(data, protocol.ZLIB_LEVEL)
    else:
        filters = [{"id": lzma.FILTER_LZMA2, "preset": protocol.LZMA_PRESET}]

        def squeeze(data: bytes) -> bytes:
            return lzma.compress(data, format=lzma.FORMAT_RAW, filters=filters)

    def pieces(payload: bytes) -> list[bytes]:
        if chunked and len(payload) > protocol.CHUNK_THRESHOLD:
            size = protocol.CHUNK_SIZE
            return [payload[start : start + size] for start in range(0, len(payload), size)]
        return [payload] if len(payload) >= protocol.COMPRESS_THRESHOLD else []

    per_op = {}
    for op, payload in payloads.items():
        parts = pieces(payload)
        runs, spent = 0, 0.0
        while spent < budget_s or runs < 3:
            started = time.perf_counter()
            for part in parts:
                squeeze(part)
            spent += time.perf_counter() - started
            runs += 1
        per_op[op] = {"bytes": len(payload), "pieces": len(parts), "ms": round(spent / runs * 1000, 4)}
    mean = sum(entry["ms"] for entry in per_op.values()) / len(per_op)
    return {"ms_per_msg": round(mean, 4), "ops": per_op}


# ---------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------


def fmt_rate(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}" if value >= 100 else f"{value:,.1f}"


def fmt_ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}" if value >= 0.1 else f"{value:.3f}"


def ratio(value: float | None, base: float | None, suffix: str = "x") -> str:
    if value is None or not base:
        return ""
    return f"{value / base:.2f}{suffix}"


def percent(value: float | None, base: float | None) -> str:
    if value is None or not base:
        return "-"
    return f"{100 * value / base:.0f}%"


def main_table(modes: list[str], results: dict, compressor: dict) -> str:
    head = (
        "| mode | reference msg/s | typed Rust msg/s (x ref) | direct msg/s (x ref) | echo limit msg/s "
        "| typed/echo | direct/echo | CPU ms/msg: reference | typed | direct | echo "
        "| compressor ms/msg | direct CPU / compressor |"
    )
    lines = [head, "|---|" + "---:|" * 12]
    for mode in modes:
        row = results.get(mode, {})

        def rate(server: str) -> float | None:
            return row[server]["messages_per_sec"] if server in row else None

        def cpu(server: str) -> float | None:
            return row[server].get("server_cpu_ms_per_msg") if server in row else None

        reference, typed, direct, echo = (rate(server) for server in SERVERS)
        squeeze = (compressor.get(mode) or {}).get("ms_per_msg")
        typed_text = fmt_rate(typed) + (f" ({ratio(typed, reference)})" if ratio(typed, reference) else "")
        direct_text = fmt_rate(direct) + (f" ({ratio(direct, reference)})" if ratio(direct, reference) else "")
        cpus = " | ".join(fmt_ms(cpu(server)) for server in SERVERS)
        lines.append(
            f"| {mode} | {fmt_rate(reference)} | {typed_text} | {direct_text} | {fmt_rate(echo)} "
            f"| {percent(typed, echo)} | {percent(direct, echo)} | {cpus} | {fmt_ms(squeeze)} "
            f"| {ratio(cpu('direct'), squeeze) or '-'} |"
        )
    return "\n".join(lines)


def python_table(modes: list[str], results: dict) -> str:
    lines = [
        "| mode | reference server msg/s | p50 ms | server CPU ms/msg | hswire serve msg/s (x ref) | p50 ms "
        "| server CPU ms/msg |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for mode in modes:
        row = results.get(mode, {})
        cells = []
        base = row.get("reference", {}).get("messages_per_sec")
        for server in ("reference", "typed"):
            result = row.get(server)
            if result is None:
                cells += ["-", "-", "-"]
                continue
            rate = fmt_rate(result["messages_per_sec"])
            if server == "typed" and ratio(result["messages_per_sec"], base):
                rate += f" ({ratio(result['messages_per_sec'], base)})"
            cells += [rate, fmt_ms(result["latency_ms"].get("p50")), fmt_ms(result.get("server_cpu_ms_per_msg"))]
        lines.append(f"| {mode} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


# ---------------------------------------------------------------------------
# Setting up
# ---------------------------------------------------------------------------


def build(args: argparse.Namespace) -> tuple[Path, Path]:
    """Builds hswire and the limit_server example in one cargo run; their paths."""
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    if not target.is_absolute():
        target = ROOT / target
    profile = "release" if args.release else "debug"
    # One build for both packages, so that the library is compiled once with the
    # features of the binary and the example together.
    argv = [
        "cargo", "build", "--locked", "-p", "hswire", "-p", "haystack-wire",
        "--features", "haystack-wire/tokio,haystack-wire/libhaystack",
        "--bin", "hswire", "--example", "limit_server",
    ]
    if args.release:
        argv.append("--release")
    hswire, limit_server = target / profile / "hswire", target / profile / "examples" / "limit_server"
    if args.no_build:
        print(f"not building (--no-build): using {hswire} and {limit_server}", flush=True)
    else:
        print(f"== building: {shlex.join(argv)}", flush=True)
        done = run(argv, timeout=BUILD_TIMEOUT, cwd=ROOT)
        if done.returncode != 0:
            raise Refused(f"the build failed (exit {done.returncode})")
    for path in (hswire, limit_server):
        if not path.is_file():
            raise Refused(f"{path} is not there; build it, or run without --no-build")
    return hswire, limit_server


def reference_python(args: argparse.Namespace) -> tuple[str | None, str]:
    """The interpreter with haystack-py, or None and why not."""
    if args.python:
        return args.python, f"--python {args.python}"
    done = run([str(ROOT / "scripts" / "python-env.sh")], timeout=900, capture_output=True, cwd=ROOT)
    if done.returncode != 0:
        return None, done.stderr.decode(errors="replace").strip() or f"scripts/python-env.sh exited {done.returncode}"
    python = done.stdout.decode().strip().splitlines()[-1]
    if not os.path.isabs(python):
        python = str(ROOT / python)
    return python, "scripts/python-env.sh"


def pinning(args: argparse.Namespace) -> tuple[list[str], list[str], str]:
    taskset = shutil.which("taskset")
    cores = os.cpu_count() or 1
    if args.no_pin:
        return [], [], "not pinned (--no-pin)"
    if taskset is None or cores < 2:
        loud(f"not pinned: {'no taskset' if taskset is None else 'one core'}; server and client share the machine")
        return [], [], "not pinned (no taskset or one core)"
    server = [taskset, "-c", str(args.server_core)]
    client = [taskset, "-c", str(args.client_core)]
    return server, client, f"server on core {args.server_core}, load generator on core {args.client_core} (taskset)"


def machine() -> str:
    model = ""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            model = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), "")
    except OSError:
        pass
    return f"{os.cpu_count()} cores{', ' + model if model else ''}"


def git_commit() -> str:
    try:
        done = subprocess.run(
            ["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True, timeout=10, check=False
        )
        return done.stdout.decode().strip() or "unknown"
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, help="seconds measured per run (default 15; --smoke 1)")
    parser.add_argument("--warmup", type=float, help="seconds of warm-up per run (default 3; --smoke 0.5)")
    parser.add_argument("--connections", type=int, help="connections per run (default 10; --smoke 2)")
    parser.add_argument("--modes", help=f"comma-separated, of {','.join(MODE_NAMES)} (default all)")
    parser.add_argument("--servers", help=f"comma-separated, of {','.join(SERVERS)} (default all)")
    parser.add_argument("--python-client", choices=["all", "binary", "none"], default="all",
                        help="modes for the reference's Python client (default all the --modes; binary: only binary)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write everything to FILE as JSON")
    parser.add_argument("--noisy-ok", action="store_true", help="measure even when the machine is not quiet")
    parser.add_argument("--busy-threshold", type=float, default=15.0,
                        help="percent of the machine others may keep busy (default 15)")
    parser.add_argument("--smoke", action="store_true",
                        help="a short check for CI: every server, two modes, ~1 s each, debug builds")
    parser.add_argument("--release", action=argparse.BooleanOptionalAction, default=None,
                        help="release builds (default: yes; with --smoke: no)")
    parser.add_argument("--no-build", action="store_true", help="use the binaries already built")
    parser.add_argument("--python", help="the interpreter with haystack-py (default: scripts/python-env.sh's)")
    parser.add_argument("--no-pin", action="store_true", help="do not pin the server and the client to cores")
    parser.add_argument("--server-core", type=int, default=1)
    parser.add_argument("--client-core", type=int, default=0)
    args = parser.parse_args()
    defaults = (1.0, 0.5, 2) if args.smoke else (15.0, 3.0, 10)
    args.duration = defaults[0] if args.duration is None else args.duration
    args.warmup = defaults[1] if args.warmup is None else args.warmup
    args.connections = defaults[2] if args.connections is None else args.connections
    args.release = (not args.smoke) if args.release is None else args.release
    if args.duration <= 0 or args.warmup < 0 or args.connections < 1:
        parser.error("--duration must be > 0, --warmup >= 0 and --connections >= 1")
    default_modes = SMOKE_MODES if args.smoke else MODE_NAMES
    args.modes = args.modes.split(",") if args.modes else default_modes
    args.servers = args.servers.split(",") if args.servers else SERVERS
    for name in args.modes:
        if name not in MODE_NAMES:
            parser.error(f"--modes: no mode is named `{name}`; the modes are: {', '.join(MODE_NAMES)}")
    for name in args.servers:
        if name not in SERVERS:
            parser.error(f"--servers: no server is named `{name}`; the servers are: {', '.join(SERVERS)}")
    return args


# ---------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------


def side_by_side(args: argparse.Namespace) -> int:
    started = datetime.datetime.now(datetime.timezone.utc)
    command = shlex.join([os.path.relpath(sys.argv[0], ROOT) if sys.argv[0] else "side-by-side.py", *sys.argv[1:]])
    protocol = protocol_constants()
    quiet = Quiet(args.busy_threshold, args.noisy_ok or args.smoke, 0.5 if args.smoke else 2.0)
    hswire, limit_server = build(args)

    python, python_source = (None, "not needed")
    unchecked = []
    if "reference" in args.servers or args.python_client != "none":
        python, python_source = reference_python(args)
        if python is None:
            loud(f"UNCHECKED: the reference (no Python with haystack-py: {python_source}); Rust servers only")
            unchecked.append(f"the reference's server and client ({python_source})")
    servers = [server for server in args.servers if server != "reference" or python is not None]

    pin_server, pin_client, pinned = pinning(args)
    token = secrets.token_hex(12)
    with tempfile.TemporaryDirectory(prefix="side-by-side-") as directory:
        workdir = Path(directory)
        site = workdir / "bench-site.json"
        done = run([str(hswire), "bench", "--write-site", str(site)], timeout=120, capture_output=True)
        if done.returncode != 0:
            raise Refused(f"hswire bench --write-site failed: {done.stderr.decode(errors='replace')}")
        setup = Setup(args, hswire, limit_server, site, python, token, workdir, pin_server, pin_client)

        header = [
            "# Side by side: the reference's WebSocket benchmark",
            "",
            f"- command: `{command}`",
            f"- started: {started.strftime('%Y-%m-%d %H:%M UTC')}; commit {git_commit()}; "
            f"{'release' if args.release else 'debug'} builds",
            f"- each run: {args.connections} connections, {args.warmup:g} s warm-up, then {args.duration:g} s "
            f"measured; the loop `about`, `read(\"{READ_FILTER}\")`",
            f"- machine: {machine()}; {pinned}; load average at start {load_average()}",
        ]
        print("\n".join(header), flush=True)
        quiet.check("before the first run")

        print("== the compressor alone, on the payloads of hswire serve", flush=True)
        payloads = fetch_payloads(setup)
        compressor = {}
        # Timed on the servers' core, as the servers compress.
        affinity = os.sched_getaffinity(0)
        if pin_server:
            os.sched_setaffinity(0, {args.server_core})
        try:
            for mode in args.modes:
                compressor[mode] = compressor_ms(payloads, mode, protocol, 0.05 if args.smoke else 1.0)
                if compressor[mode]:
                    print(f"  {mode:<20} {compressor[mode]['ms_per_msg']:.3f} ms/msg", flush=True)
        finally:
            os.sched_setaffinity(0, affinity)

        print("== hswire bench against each server", flush=True)
        results: dict[str, dict[str, dict]] = {}
        for mode in args.modes:
            for server in servers:
                if not args.smoke:
                    quiet.check(f"before {server} in {mode}")
                results.setdefault(mode, {})[server] = measure(setup, server, mode, "hswire")

        python_results: dict[str, dict[str, dict]] = {}
        python_modes = []
        if python is not None and args.python_client != "none":
            python_modes = [mode for mode in args.modes if args.python_client == "all" or mode == "binary"]
            print("== the reference's Python client against the reference and hswire serve", flush=True)
            for mode in python_modes:
                for server in ("reference", "typed"):
                    if not args.smoke:
                        quiet.check(f"before the Python client on {server} in {mode}")
                    python_results.setdefault(mode, {})[server] = measure(setup, server, mode, "python")

    finished = datetime.datetime.now(datetime.timezone.utc)
    header.append(
        f"- quiet checks: others kept at most {quiet.worst():.1f}% of the machine busy "
        f"(threshold {args.busy_threshold:g}%); took {(finished - started).total_seconds():.0f} s"
    )
    for item in unchecked:
        header.append(f"- UNCHECKED: {item}")
    report = "\n".join(header) + "\n\n## hswire bench (one Rust load generator) against each server\n\n"
    report += main_table(args.modes, results, compressor)
    report += (
        "\n\nServer CPU is the server process's user and system time over the measured window, per "
        "message answered. The compressor column is Python's zlib / lzma (the system libraries) on the "
        "about and read payloads with the codec's parameters, averaged over the two; the last column "
        "compares the direct path's server CPU with it (the aim: at most 1.3x)."
    )
    if python_results:
        report += "\n\n## The reference's Python client (hs_py WebSocketClient) against both servers\n\n"
        report += python_table(python_modes, python_results)
    print("\n" + report, flush=True)

    if args.json:
        document = {
            "command": command,
            "started": started.isoformat(),
            "finished": finished.isoformat(),
            "commit": git_commit(),
            "release": args.release,
            "connections": args.connections,
            "warmup_s": args.warmup,
            "duration_s": args.duration,
            "machine": machine(),
            "pinning": pinned,
            "quiet_checks": quiet.checks,
            "unchecked": unchecked,
            "payload_bytes": {op: len(payload) for op, payload in payloads.items()},
            "compressor": compressor,
            "hswire_bench": results,
            "python_client": python_results,
            "markdown": report,
        }
        args.json.write_text(json.dumps(document, indent=2) + "\n")
        print(f"wrote {args.json}", flush=True)

    failed = [
        f"{result['server']} in {mode} ({result['client']} client): "
        f"{result.get('errors')} errors, {result.get('messages_per_sec')} msg/s"
        for table in (results, python_results)
        for mode, row in table.items()
        for result in row.values()
        if result.get("errors") or not result.get("messages_per_sec")
    ]
    if failed:
        loud("FAILED: " + "; ".join(failed))
        return 1
    if args.smoke:
        checked = len([result for table in (results, python_results) for row in table.values() for result in row])
        print(f"smoke: ok, {checked} runs answered without errors", flush=True)
    return 0


def interrupted(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main() -> int:
    args = parse()
    # SIGTERM unwinds as Ctrl-C does, so that everything started is stopped
    # (SIGINT too when the parent shell left it ignored, as for background jobs).
    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGINT, interrupted)
    try:
        return side_by_side(args)
    except Refused as refusal:
        print(f"side-by-side: {refusal}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("side-by-side: interrupted; stopping what was started", file=sys.stderr)
        return 130
    finally:
        stop_all()


if __name__ == "__main__":
    sys.exit(main())
