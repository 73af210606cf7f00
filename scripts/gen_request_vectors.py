"""Write tests/vectors/requests/: the request grids of the reference's client.

Each case builds its grid with hs_py's GridBuilder exactly as
hs_py.ws_client.WebSocketClient builds the request of that op, and writes
encode_grid's bytes to tests/vectors/requests/<case>.json; index.json maps
each case to the op it goes under. tests/requests.rs requires this crate's
builders (haystack_wire::connection::requests) to make the same grids, and
tests/interop/requests.py checks them byte for byte through the reference's
encoder.

Run from the repository root, with the reference installed:

    .venv/bin/python scripts/gen_request_vectors.py

The output is deterministic: the same files on every run.
"""

from __future__ import annotations

import datetime
import json
import sys
import zoneinfo
from importlib.metadata import version
from pathlib import Path

REFERENCE_VERSION = "0.1.10"
OUT = Path("tests/vectors/requests")

from hs_py.encoding.json import encode_grid  # noqa: E402
from hs_py.grid import Grid, GridBuilder  # noqa: E402
from hs_py.kinds import MARKER, Number, Ref  # noqa: E402

NEW_YORK = zoneinfo.ZoneInfo("America/New_York")
A = Ref("a")
B = Ref("b", "Boiler B")
P1 = Ref("p1")


# Each function repeats the body of the WebSocketClient method named in
# its docstring, with the arguments the matching Rust case passes.


def about() -> tuple[str, Grid]:
    """about()"""
    return "about", Grid.make_empty()


def ops() -> tuple[str, Grid]:
    """ops()"""
    return "ops", Grid.make_empty()


def formats() -> tuple[str, Grid]:
    """formats()"""
    return "formats", Grid.make_empty()


def _read(filter: str, limit: int | None) -> Grid:
    row = {"filter": filter}
    if limit is not None:
        row["limit"] = Number(float(limit))
    return GridBuilder().add_col("filter").add_col("limit").add_row(row).to_grid()


def read() -> tuple[str, Grid]:
    """read("site and equip")"""
    return "read", _read("site and equip", None)


def read_limit() -> tuple[str, Grid]:
    """read("point", 10)"""
    return "read", _read("point", 10)


def read_by_ids() -> tuple[str, Grid]:
    """read_by_ids([a, b])"""
    builder = GridBuilder().add_col("id")
    for ref in [A, B]:
        builder.add_row({"id": ref})
    return "read", builder.to_grid()


def _nav(nav_id: str | None) -> Grid:
    return GridBuilder().add_col("navId").add_row({"navId": nav_id}).to_grid()


def nav_root() -> tuple[str, Grid]:
    """nav()"""
    return "nav", _nav(None)


def nav() -> tuple[str, Grid]:
    """nav("site-1")"""
    return "nav", _nav("site-1")


def his_read() -> tuple[str, Grid]:
    """his_read(p1, "yesterday")"""
    grid = GridBuilder().add_col("id").add_col("range").add_row({"id": P1, "range": "yesterday"})
    return "hisRead", grid.to_grid()


def his_read_batch() -> tuple[str, Grid]:
    """his_read_batch([a, b], "2024-01-01,2024-01-02")"""
    builder = GridBuilder().set_meta({"range": "2024-01-01,2024-01-02"}).add_col("id")
    for ref in [A, B]:
        builder.add_row({"id": ref})
    return "hisRead", builder.to_grid()


def _items() -> list[dict]:
    return [
        {"ts": datetime.datetime(2024, 1, 1, 0, 0, tzinfo=NEW_YORK), "val": Number(1.5, "kW")},
        {"ts": datetime.datetime(2024, 1, 1, 0, 15, tzinfo=NEW_YORK), "val": Number(float("nan"))},
    ]


def his_write() -> tuple[str, Grid]:
    """his_write(p1, items)"""
    builder = GridBuilder().set_meta({"id": P1}).add_col("ts").add_col("val")
    for item in _items():
        builder.add_row(item)
    return "hisWrite", builder.to_grid()


def his_write_batch() -> tuple[str, Grid]:
    """his_write_batch(grid): the caller's grid as it is"""
    items = _items()
    grid = (
        GridBuilder()
        .add_col("ts")
        .add_col("v0", {"id": A})
        .add_col("v1", {"id": B})
        .add_row({"ts": items[0]["ts"], "v0": Number(1.0), "v1": Number(2.0)})
        .add_row({"ts": items[1]["ts"], "v0": Number(3.0)})
        .to_grid()
    )
    return "hisWrite", grid


def point_write_array() -> tuple[str, Grid]:
    """point_write_array(p1)"""
    return "pointWrite", GridBuilder().add_col("id").add_row({"id": P1}).to_grid()


def _point_write(id: Ref, level: int, val, who: str = "", duration: Number | None = None) -> Grid:
    row = {"id": id, "level": Number(float(level)), "val": val, "who": who}
    if duration is not None:
        row["duration"] = duration
    builder = GridBuilder()
    for col in ["id", "level", "val", "who", "duration"]:
        builder.add_col(col)
    builder.add_row(row)
    return builder.to_grid()


def point_write() -> tuple[str, Grid]:
    """point_write(p1, 8, 72 degF, "operator", 30min)"""
    return "pointWrite", _point_write(P1, 8, Number(72.0, "°F"), "operator", Number(30.0, "min"))


def point_write_release() -> tuple[str, Grid]:
    """point_write(p1, 16, None)"""
    return "pointWrite", _point_write(P1, 16, None)


def _watch_sub(ids: list[Ref], watch_dis: str, lease: Number | None, filter: str | None) -> Grid:
    meta = {"watchDis": watch_dis}
    if lease is not None:
        meta["lease"] = lease
    if filter is not None:
        meta["filter"] = filter
    builder = GridBuilder().set_meta(meta).add_col("id")
    for ref in ids:
        builder.add_row({"id": ref})
    return builder.to_grid()


def watch_sub() -> tuple[str, Grid]:
    """watch_sub([a, b], "boilers", 60s, filter="point")"""
    return "watchSub", _watch_sub([A, B], "boilers", Number(60.0, "s"), "point")


def watch_sub_plain() -> tuple[str, Grid]:
    """watch_sub([a], "one")"""
    return "watchSub", _watch_sub([A], "one", None, None)


def watch_unsub() -> tuple[str, Grid]:
    """watch_unsub("w-1", [a])"""
    builder = GridBuilder().set_meta({"watchId": "w-1"}).add_col("id")
    for ref in [A]:
        builder.add_row({"id": ref})
    return "watchUnsub", builder.to_grid()


def watch_close() -> tuple[str, Grid]:
    """watch_close("w-1")"""
    return "watchUnsub", GridBuilder().set_meta({"watchId": "w-1", "close": MARKER}).add_col("id").to_grid()


def _watch_poll(watch_id: str, refresh: bool) -> Grid:
    meta = {"watchId": watch_id}
    if refresh:
        meta["refresh"] = MARKER
    return GridBuilder().set_meta(meta).to_grid()


def watch_poll() -> tuple[str, Grid]:
    """watch_poll("w-1")"""
    return "watchPoll", _watch_poll("w-1", False)


def watch_poll_refresh() -> tuple[str, Grid]:
    """watch_poll("w-1", True)"""
    return "watchPoll", _watch_poll("w-1", True)


def _invoke_action(id: Ref, action: str, args: dict | None) -> Grid:
    builder = GridBuilder().set_meta({"id": id, "action": action})
    if args:
        for key in args:
            builder.add_col(key)
        builder.add_row(args)
    return builder.to_grid()


def invoke_action() -> tuple[str, Grid]:
    """invoke_action(p1, "setMode", {"mode": "auto", "delay": 5min})"""
    return "invokeAction", _invoke_action(P1, "setMode", {"mode": "auto", "delay": Number(5.0, "min")})


def invoke_action_no_args() -> tuple[str, Grid]:
    """invoke_action(p1, "reset")"""
    return "invokeAction", _invoke_action(P1, "reset", None)


CASES = [
    about, ops, formats, read, read_limit, read_by_ids, nav_root, nav, his_read, his_read_batch,
    his_write, his_write_batch, point_write_array, point_write, point_write_release, watch_sub,
    watch_sub_plain, watch_unsub, watch_close, watch_poll, watch_poll_refresh, invoke_action,
    invoke_action_no_args,
]


def build() -> dict[str, tuple[str, bytes]]:
    """Every case: its name -> (op, encode_grid bytes)."""
    return {case.__name__: (case()[0], encode_grid(case()[1])) for case in CASES}


def main() -> None:
    found = version("haystack-py")
    if found != REFERENCE_VERSION:
        sys.exit(f"needs haystack-py=={REFERENCE_VERSION}, found {found}")
    OUT.mkdir(parents=True, exist_ok=True)
    index = {}
    for name, (op, payload) in build().items():
        (OUT / f"{name}.json").write_bytes(payload + b"\n")
        index[name] = op
    (OUT / "index.json").write_text(json.dumps(index, indent=2) + "\n")
    print(f"wrote {len(index)} request grids to {OUT}")


if __name__ == "__main__":
    main()
