"""Checks this crate's request grids byte for byte through the reference's encoder.

Given a directory of grids written by `examples/request_grids.rs` (one
<case>.json per case of tests/vectors/requests), decodes each with
hs_py.encoding.json.decode_grid, encodes it again with encode_grid, and
compares the bytes with encode_grid of the grid the reference's own client
builds for the same call (scripts/gen_request_vectors.py). Exits 1 when any
case differs or is missing, after naming each one.

    cargo run --example request_grids --features tokio,libhaystack -- target/request-grids
    .venv/bin/python tests/interop/requests.py target/request-grids
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from hs_py.encoding.json import decode_grid, encode_grid

ROOT = Path(__file__).resolve().parents[2]


def reference_cases():
    spec = importlib.util.spec_from_file_location(
        "gen_request_vectors", ROOT / "scripts" / "gen_request_vectors.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.build()


def main() -> int:
    if len(sys.argv) != 2:
        print("usage: requests.py <directory of our request grids>", file=sys.stderr)
        return 2
    ours_dir = Path(sys.argv[1])
    failures = 0
    cases = reference_cases()
    for name, (_op, theirs) in cases.items():
        path = ours_dir / f"{name}.json"
        if not path.exists():
            print(f"MISSING {name}")
            failures += 1
            continue
        again = encode_grid(decode_grid(path.read_bytes()))
        if again == theirs:
            print(f"same    {name}")
        else:
            print(f"DIFFERS {name}\n  ours:   {again.decode()}\n  theirs: {theirs.decode()}")
            failures += 1
    print(f"{len(cases) - failures} of {len(cases)} request grids are byte for byte the reference's")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
