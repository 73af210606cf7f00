#!/usr/bin/env bash
# Runs the generated bindings against the reference and the Rust crate:
# the Python module under a Python >= 3.13 with haystack-py (set up by
# scripts/python-env.sh), the JavaScript modules under Node.js (and their
# declarations under tsc). Both talk to the crate through the `hswire`
# binary, the JavaScript client also to a live `hswire serve`. A missing
# interpreter is reported loudly and skips that binding's check; a failing
# check fails the script.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --locked -p hswire
HSWIRE="${CARGO_TARGET_DIR:-$PWD/target}/debug/hswire"
export HSWIRE

loud() {
    echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
    echo "!!! NOT CHECKED: $1"
    echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
}

echo "-- Python binding vs hs_py.ws_codec and hswire"
if python="$(scripts/python-env.sh)"; then
    "$python" -m unittest discover -s bindings/python/tests -p test_protocol.py -v
else
    loud "the Python binding (no Python >= 3.13 with haystack-py; see above)"
fi

echo "-- JavaScript binding vs hswire"
if command -v node >/dev/null 2>&1; then
    # Node 20.10+ has a WebSocket behind a flag (22 by default); without one,
    # the tests against a live hswire serve say they are skipped.
    node_flags=()
    if node --experimental-websocket -e '' 2>/dev/null; then
        node_flags=(--experimental-websocket --no-warnings)
    fi
    node "${node_flags[@]}" --test bindings/typescript/
else
    loud "the JavaScript binding (no node on PATH)"
fi

# The declarations and a typed usage file, checked by TypeScript's compiler,
# installed from npm into the target dir (never globally) on the first run.
echo "-- TypeScript declarations (tsc --noEmit)"
tools="${CARGO_TARGET_DIR:-$PWD/target}/node-tools"
tsc="$tools/node_modules/.bin/tsc"
if [ ! -x "$tsc" ] && command -v npm >/dev/null 2>&1; then
    npm install --prefix "$tools" --no-save --no-audit --no-fund --loglevel=error typescript@5.9.3 || true
fi
if [ -x "$tsc" ] && command -v node >/dev/null 2>&1; then
    "$tsc" --version
    "$tsc" -p bindings/typescript/tsconfig.json
else
    loud "the TypeScript declarations (no node, or npm could not install typescript)"
fi
