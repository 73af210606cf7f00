"""Measures whether a failed login tells an unknown user from a wrong password
by its time: N logins with a wrong password and N with an unknown user,
interleaved, against `hswire serve --users` on 127.0.0.1, each made by the
reference's client (haystack-py). Prints both medians and their ratio.

A measurement, not a test: run it by hand and read the figures.

Usage: python scripts/login-timing.py --hswire target/release/hswire [--n 200]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path

from hs_py.errors import AuthError
from hs_py.user import Role, create_user, user_to_dict
from hs_py.ws_client import WebSocketClient

HOST = "127.0.0.1"


async def failed_login(url: str, username: str, password: str) -> float:
    started = time.perf_counter()
    try:
        async with WebSocketClient(url, binary=True, heartbeat=0, username=username, password=password, timeout=10):
            pass
    except AuthError:
        return time.perf_counter() - started
    raise RuntimeError(f"the login of {username!r} went through")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hswire", required=True)
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--iterations", type=int, default=4096)
    args = parser.parse_args()
    user = create_user("alice", "the right password", role=Role.OPERATOR, iterations=args.iterations)
    with tempfile.TemporaryDirectory() as directory:
        users_file = Path(directory) / "users.json"
        users_file.write_text(json.dumps([user_to_dict(user)]))
        process = await asyncio.create_subprocess_exec(
            args.hswire, "serve", "--listen", f"{HOST}:0", "--users", str(users_file), stdout=asyncio.subprocess.PIPE
        )
        try:
            assert process.stdout is not None
            url = (await asyncio.wait_for(process.stdout.readline(), 30)).decode().split()[-1]
            wrong: list[float] = []
            unknown: list[float] = []
            for i in range(args.n):
                # Interleaved, so that drift on the machine touches both alike.
                wrong.append(await failed_login(url, "alice", f"wrong password {i}"))
                unknown.append(await failed_login(url, f"nobody{i}", "any password"))
        finally:
            process.terminate()
            await process.wait()
    wrong_ms = statistics.median(wrong) * 1e3
    unknown_ms = statistics.median(unknown) * 1e3
    print(f"failed logins: {args.n} each, {args.iterations} iterations")
    print(f"median, wrong password: {wrong_ms:.3f} ms")
    print(f"median, unknown user:   {unknown_ms:.3f} ms")
    print(f"ratio unknown / wrong:  {unknown_ms / wrong_ms:.3f}")


if __name__ == "__main__":
    asyncio.run(main())
