"""Write examples/data/grid-5000.json, the bundled sample payload.

The grid is the reference's own benchmark shape (haystack-py 0.1.10,
benchmarks/bench_ws_compression.py): 5,000 point records, encoded as
Haystack 4 JSON by hs_py, 1,178,289 bytes.

Run from the repository root, with Python 3.13 or newer:

    python3.13 -m venv .venv && .venv/bin/pip install haystack-py==0.1.10
    .venv/bin/python scripts/gen_sample_grid.py
"""

from __future__ import annotations

import sys
from importlib.metadata import version
from pathlib import Path

REFERENCE_VERSION = "0.1.10"
ROWS = 5000
EXPECTED_SIZE = 1_178_289
OUT = Path("examples/data/grid-5000.json")


def main() -> int:
    if version("haystack-py") != REFERENCE_VERSION:
        sys.exit(f"needs haystack-py=={REFERENCE_VERSION}, found {version('haystack-py')}")
    from hs_py.encoding.json import encode_grid
    from hs_py.grid import Grid
    from hs_py.kinds import MARKER, Number, Ref

    rows = [
        {
            "id": Ref(f"p:{i}"),
            "dis": f"Point {i}",
            "point": MARKER,
            "sensor": MARKER,
            "kind": "Number",
            "unit": "°F",
            "curVal": Number(72.0 + (i % 30), "°F"),
            "siteRef": Ref("s:site-1"),
        }
        for i in range(ROWS)
    ]
    payload = encode_grid(Grid.make_rows(rows))
    if len(payload) != EXPECTED_SIZE:
        sys.exit(f"the grid encodes to {len(payload)} bytes, not {EXPECTED_SIZE}")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_bytes(payload)
    print(f"wrote {OUT}: {len(payload)} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
