#!/usr/bin/env bash
# Live interop with the reference, haystack-py, on 127.0.0.1 only: its
# WebSocketServer(binary=True) against our client, and its
# WebSocketClient(binary=True) against `hswire serve`; then JSON mode, batches,
# reconnecting clients both ways and request grids (tests/interop/interop.py).
# Arguments are passed on to it (e.g. `--only D`).
# Needs a Python >= 3.13 (found and set up by scripts/python-env.sh); without
# one it says so loudly and exits 0, so that the rest of CI still runs.
set -euo pipefail
cd "$(dirname "$0")/.."

loud() {
    echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
    echo "!!! NOT CHECKED: $1"
    echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
}

if ! python="$(scripts/python-env.sh)"; then
    loud "live interop with the reference (no Python >= 3.13 with haystack-py; see above)"
    exit 0
fi

target="${CARGO_TARGET_DIR:-target}"
# One build for both packages, so that the library is compiled once with the
# features the binary and the examples need together.
cargo build --locked -p hswire -p haystack-wire --features haystack-wire/tokio,haystack-wire/libhaystack \
    --bin hswire --example interop_client --example reconnect_client --example request_grids
"$python" tests/interop/interop.py \
    --hswire "$target/debug/hswire" \
    --client "$target/debug/examples/interop_client" \
    --reconnect-client "$target/debug/examples/reconnect_client" \
    --request-grids "$target/debug/examples/request_grids" \
    "$@"
