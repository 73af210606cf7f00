#!/usr/bin/env bash
# Runs the generated bindings against the reference and the Rust crate:
# the Python module under a Python >= 3.13 with haystack-py (set up by
# scripts/python-env.sh), the JavaScript module under Node.js. Both talk to
# the crate through the `hswire` binary. A missing interpreter is reported
# loudly and skips that binding's check; a failing check fails the script.
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
    node --test bindings/typescript/
else
    loud "the JavaScript binding (no node on PATH)"
fi
