#!/usr/bin/env python3
"""Push fan-out, side by side: the reference's WebSocketServer.push_watch and a
server written with this crate (examples/push_fanout.rs), each pushing a
50-row grid to 1,000 connections at a list of rates.

    scripts/push-fanout.py [--rates 10,25,50,100,200,400] [--connections 1000]
        [--warmup 2] [--duration 8] [--rows 50] [--compression zlib|lzma]
        [--servers reference,rust]
        [--json FILE] [--noisy-ok] [--profile release|debug] [--no-build]
    scripts/push-fanout.py --smoke

For each server and rate: the server starts pinned to core 1 (taskset) on
127.0.0.1 and a free port; `hswire bench --pushes`, pinned to core 0, opens
the connections, warms up, and measures deliveries per second and the latency
from each push's `pushedAt` to its receipt; the server's CPU share over the
measured seconds comes from /proc/PID/stat, and so does the bench's, which
shows when the receiving side is the limit. The server is then stopped by its
pid. A server's list of rates stops once it saturates (deliveries per second
no longer grow by 5%). Prints a Markdown table, each server's saturated
(largest) deliveries per second, and the ratio of the two.

A quiet-machine check comes first: the share of the CPUs busy over ~2 s
(/proc/stat) and the load average; above 15% busy the run is refused unless
--noisy-ok.

--smoke: a few connections, one rate, about a second each, for CI; exits
non-zero when a server delivers nothing or the bench reports errors. Without
a Python that can run the reference (scripts/python-env.sh), only the Rust
server runs and the reference is reported as NOT CHECKED.

Standard library only. Binaries come from CARGO_TARGET_DIR (or target/),
built first with cargo unless --no-build.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
TOKEN = "fanout-token"
SERVER_CORE = "1"
BENCH_CORE = "0"
QUIET_BUSY_LIMIT = 15.0
SATURATION_GROWTH = 1.05
START_WITHIN = 30.0
STOP_WITHIN = 5.0
FILES_WANTED = 8192


def loud(words: str) -> None:
    bar = "!" * 72
    print(f"{bar}\n!!! NOT CHECKED: {words}\n{bar}", flush=True)


def raise_file_limit() -> int:
    """Raises this process's soft limit on open files (children inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = FILES_WANTED if hard == resource.RLIM_INFINITY else min(FILES_WANTED, hard)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        return wanted
    return soft


def cpu_times() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs, from /proc/stat."""
    with open("/proc/stat") as stat:
        fields = [int(value) for value in stat.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    total = sum(fields[:8])
    return total - idle, total


def quiet_check(seconds: float = 2.0) -> tuple[float, str]:
    busy0, total0 = cpu_times()
    time.sleep(seconds)
    busy1, total1 = cpu_times()
    share = 100.0 * (busy1 - busy0) / max(1, total1 - total0)
    with open("/proc/loadavg") as loadavg:
        load = " ".join(loadavg.read().split()[:3])
    return share, load


def process_jiffies(pid: int) -> int | None:
    """utime + stime of a process (all its threads), or None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            text = stat.read()
    except OSError:
        return None
    # The command name may hold spaces; the fields after it are fixed.
    fields = text[text.rindex(")") + 2 :].split()
    return int(fields[11]) + int(fields[12])


def pinned(core: str, argv: list[str]) -> list[str]:
    taskset = shutil.which("taskset")
    return [taskset, "-c", core, *argv] if taskset else argv


class Server:
    """A push server started as a child, stopped by its pid."""

    def __init__(self, argv: list[str]) -> None:
        self.process = subprocess.Popen(
            pinned(SERVER_CORE, argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.stderr: list[str] = []
        self.url = self._first_line()
        threading.Thread(target=self._drain, daemon=True).start()

    def _first_line(self) -> str:
        found: list[str] = []
        reader = threading.Thread(target=lambda: found.append(self.process.stdout.readline()), daemon=True)
        reader.start()
        reader.join(START_WITHIN)
        line = found[0].strip() if found else ""
        if not line.startswith("listening on ws://"):
            self.stop()
            err = self.process.stderr.read() if self.process.stderr else ""
            raise RuntimeError(f"the server did not say where it listens (got {line!r}): {err.strip()[-2000:]}")
        return line.removeprefix("listening on ").strip()

    def _drain(self) -> None:
        for line in self.process.stderr:
            if len(self.stderr) < 50:
                self.stderr.append(line.rstrip())
        for _ in self.process.stdout:
            pass

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        try:
            os.kill(self.process.pid, signal.SIGTERM)
            self.process.wait(STOP_WITHIN)
        except subprocess.TimeoutExpired:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(STOP_WITHIN)
        except ProcessLookupError:
            pass


def bench(hswire: Path, url: str, server_pid: int, args: argparse.Namespace) -> dict:
    """One `hswire bench --pushes` run; its JSON report, with the server's CPU share."""
    argv = pinned(
        BENCH_CORE,
        [
            str(hswire),
            "bench",
            "--pushes",
            "--url",
            url,
            "--auth-token",
            TOKEN,
            "--connections",
            str(args.connections),
            "--warmup",
            str(args.warmup),
            "--duration",
            str(args.duration),
            "--json",
            *(["--compression", args.compression] if args.compression else []),
        ],
    )
    process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    started = threading.Event()
    stderr: list[str] = []

    def read_stderr() -> None:
        for line in process.stderr:
            stderr.append(line.rstrip())
            if "receiving pushes" in line:
                started.set()

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    out: list[str] = []
    out_reader = threading.Thread(target=lambda: out.append(process.stdout.read()), daemon=True)
    out_reader.start()
    limit = START_WITHIN + 120 + args.warmup + args.duration
    cpu: dict[str, float | None] = {"server": None, "bench": None}
    pids = {"server": server_pid, "bench": process.pid}
    try:
        if started.wait(START_WITHIN + 90):
            time.sleep(args.warmup)
            before = {name: process_jiffies(pid) for name, pid in pids.items()}
            at0 = time.monotonic()
            time.sleep(args.duration)
            after = {name: process_jiffies(pid) for name, pid in pids.items()}
            at1 = time.monotonic()
            for name in pids:
                if before[name] is not None and after[name] is not None:
                    cpu[name] = round(100.0 * (after[name] - before[name]) / os.sysconf("SC_CLK_TCK") / (at1 - at0), 1)
        process.wait(limit)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise RuntimeError(f"hswire bench ran past {limit:.0f} s: {' | '.join(stderr[-5:])}")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    out_reader.join(5)
    reader.join(5)
    text = out[0] if out else ""
    try:
        report = json.loads(text)
    except json.JSONDecodeError:
        raise RuntimeError(f"hswire bench gave no report (exit {process.returncode}): {' | '.join(stderr[-5:])}")
    report["server_cpu_percent"] = cpu["server"]
    report["bench_cpu_percent"] = cpu["bench"]
    report["exit_code"] = process.returncode
    return report


def target_dir() -> Path:
    return Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))


def build(profile: str) -> None:
    argv = [
        "cargo",
        "build",
        "--locked",
        "-p",
        "hswire",
        "-p",
        "haystack-wire",
        "--features",
        "haystack-wire/tokio",
        "--bin",
        "hswire",
        "--example",
        "push_fanout",
    ]
    if profile == "release":
        argv.append("--release")
    subprocess.run(argv, cwd=ROOT, check=True, timeout=3600)


def reference_python() -> str | None:
    found = subprocess.run(
        [str(ROOT / "scripts/python-env.sh")], cwd=ROOT, stdout=subprocess.PIPE, text=True, timeout=900
    )
    if found.returncode != 0:
        return None
    path = found.stdout.strip()
    return str(ROOT / path) if not os.path.isabs(path) else path


def server_argv(name: str, rate: float, args: argparse.Namespace, binaries: dict) -> list[str]:
    common = ["--rate", str(rate), "--rows", str(args.rows), "--auth-token", TOKEN]
    if args.compression:
        common += ["--compression", args.compression]
    if name == "rust":
        return [str(binaries["push_fanout"]), "--listen", f"{HOST}:0", *common]
    return [binaries["python"], str(ROOT / "scripts/reference_push_server.py"), "--host", HOST, "--port", "0", *common]


def fmt_ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", default="10,25,50,100,200,400", help="ticks per second, comma-separated")
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--rows", type=int, default=50)
    parser.add_argument(
        "--compression",
        choices=["zlib", "lzma"],
        help="both servers push compressed (each compresses a push once for all its connections)",
    )
    parser.add_argument("--servers", default="reference,rust", help="which servers, in order")
    parser.add_argument("--json", metavar="FILE", help="also write the rows and the summary to FILE")
    parser.add_argument("--noisy-ok", action="store_true", help="run even when the machine is busy")
    parser.add_argument("--smoke", action="store_true", help="a short check for CI (a few connections, one rate)")
    parser.add_argument("--profile", choices=["release", "debug"], help="the build to run (default: release; debug with --smoke)")
    parser.add_argument("--no-build", action="store_true", help="use the binaries as built")
    args = parser.parse_args()
    if args.smoke:
        args.connections, args.warmup, args.duration, args.rates = 5, 0.5, 1.0, "20"
    profile = args.profile or ("debug" if args.smoke else "release")
    rates = [float(rate) for rate in args.rates.split(",") if rate.strip()]
    servers = [name.strip() for name in args.servers.split(",") if name.strip()]
    if not rates or any(rate <= 0 for rate in rates) or not set(servers) <= {"reference", "rust"} or not servers:
        parser.error("--rates: positive numbers; --servers: reference and/or rust")

    busy, load = quiet_check()
    print(f"machine: {busy:.1f}% of CPU busy over 2 s before the run, load average {load}; "
          f"{os.cpu_count()} CPUs; servers on core {SERVER_CORE}, bench on core {BENCH_CORE}"
          + ("" if shutil.which("taskset") else " (taskset missing: NOT pinned)"), flush=True)
    if busy > QUIET_BUSY_LIMIT and not (args.noisy_ok or args.smoke):
        print(f"the machine is busy ({busy:.1f}% > {QUIET_BUSY_LIMIT:.0f}%); give --noisy-ok to run anyway", file=sys.stderr)
        return 2
    files = raise_file_limit()
    if files < args.connections + 100:
        print(f"warning: only {files} open files allowed, {args.connections} connections asked", file=sys.stderr)

    if not args.no_build:
        build(profile)
    binaries: dict = {
        "hswire": target_dir() / profile / "hswire",
        "push_fanout": target_dir() / profile / "examples" / "push_fanout",
    }
    if "reference" in servers:
        binaries["python"] = reference_python()
        if binaries["python"] is None:
            loud("the reference's push fan-out (no Python >= 3.13 with haystack-py; see above)")
            servers.remove("reference")
            if not servers:
                return 0 if args.smoke else 1

    rows: list[dict] = []
    failures: list[str] = []
    for name in servers:
        best = 0.0
        for rate in rates:
            server = None
            try:
                server = Server(server_argv(name, rate, args, binaries))
                report = bench(binaries["hswire"], server.url, server.pid, args)
            except (RuntimeError, OSError) as error:
                failures.append(f"{name} at {rate:g}/s: {error}")
                print(f"{name} at {rate:g}/s: FAILED: {error}", file=sys.stderr, flush=True)
                break
            finally:
                if server is not None:
                    server.stop()
            row = {
                "server": name,
                "rate": rate,
                "deliveries_per_sec": report.get("deliveries_per_sec", 0.0),
                "p50_ms": report.get("latency_ms", {}).get("p50"),
                "p99_ms": report.get("latency_ms", {}).get("p99"),
                "max_ms": report.get("latency_ms", {}).get("max"),
                "server_cpu_percent": report.get("server_cpu_percent"),
                "bench_cpu_percent": report.get("bench_cpu_percent"),
                "connections_opened": report.get("connections_opened"),
                "connections_open_at_end": report.get("connections_open_at_end"),
                "errors": report.get("errors"),
                "deliveries": report.get("deliveries", 0),
            }
            rows.append(row)
            print(
                f"{name} at {rate:g} ticks/s: {row['deliveries_per_sec']:,.0f} deliveries/s, "
                f"p50 {fmt_ms(row['p50_ms'])} ms, p99 {fmt_ms(row['p99_ms'])} ms, server CPU {row['server_cpu_percent']}%, bench CPU {row['bench_cpu_percent']}%, "
                f"{row['connections_open_at_end']}/{args.connections} open, errors {row['errors']}",
                flush=True,
            )
            if row["errors"] or not row["deliveries"]:
                failures.append(f"{name} at {rate:g}/s: {row['errors']} errors, {row['deliveries']} deliveries")
            if row["deliveries_per_sec"] < best * SATURATION_GROWTH:
                break
            best = max(best, row["deliveries_per_sec"])

    print()
    print(f"{args.connections} connections, {args.rows}-row grid, {args.warmup:g} s warm-up + {args.duration:g} s measured")
    print()
    print("| server | rate (ticks/s) | deliveries/s | p50 ms | p99 ms | server CPU % | bench CPU % | connections open |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        print(
            f"| {row['server']} | {row['rate']:g} | {row['deliveries_per_sec']:,.0f} | {fmt_ms(row['p50_ms'])} | "
            f"{fmt_ms(row['p99_ms'])} | {fmt_ms(row['server_cpu_percent'])} | {fmt_ms(row['bench_cpu_percent'])} | "
            f"{row['connections_open_at_end']} |"
        )
    summary: dict = {}
    for name in servers:
        mine = [row for row in rows if row["server"] == name]
        if mine:
            top = max(mine, key=lambda row: row["deliveries_per_sec"])
            summary[name] = {"saturated_deliveries_per_sec": top["deliveries_per_sec"], "at_rate": top["rate"], "p99_ms": top["p99_ms"]}
    print()
    for name, top in summary.items():
        print(f"{name}: saturated at {top['saturated_deliveries_per_sec']:,.0f} deliveries/s "
              f"(rate {top['at_rate']:g}, p99 {fmt_ms(top['p99_ms'])} ms)")
    if "rust" in summary and "reference" in summary and summary["reference"]["saturated_deliveries_per_sec"] > 0:
        ratio = summary["rust"]["saturated_deliveries_per_sec"] / summary["reference"]["saturated_deliveries_per_sec"]
        summary["ratio_rust_to_reference"] = round(ratio, 2)
        print(f"Rust / reference: {ratio:.2f}x")
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"machine": {"busy_percent": round(busy, 1), "load": load}, "connections": args.connections,
                       "rows": rows, "summary": summary, "failures": failures}, out, indent=2)
    if failures:
        print("failures:\n  " + "\n  ".join(failures), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
