#!/usr/bin/env bash
# Builds the Python package (bindings/python) into a virtual environment and
# judges its drop-in codec with the reference's own tests: the four suites of
# haystack-py's sdist that exercise hs_py.ws_codec (the codec, the WebSocket
# layer, its client and its server) run once on the reference's codec, for the
# baseline, then with haystack_wire.ws_codec in place of hs_py.ws_codec, with
# a check that the swap took effect. Then the package's own tests, and its
# type stubs checked against the built module.
#
# Python >= 3.13 is found as scripts/python-env.sh finds it; without one, a
# loud banner and exit 0, so that the rest of CI goes on.
set -euo pipefail
cd "$(dirname "$0")/.."

loud() {
    echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
    echo "!!! NOT CHECKED: $1"
    echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
}

# The release whose tests are the judge, as scripts/python-env.sh installs it.
REFERENCE="haystack-py==0.1.10"
TARGET="${CARGO_TARGET_DIR:-$PWD/target}"
VENV="$TARGET/python-package-venv"
SDIST_DIR="$TARGET/reference-sdist"
SUITES=(tests/test_ws_codec.py tests/test_ws.py tests/test_ws_client_coverage.py tests/test_ws_server_coverage.py)
# Tests that need packages the reference does not install, by node id, each
# printed when it is left out: its FastAPI tests need starlette (an optional
# extra of haystack-py).
DESELECT=(
    tests/test_ws.py::TestFastapiWebSocket::test_ws_about
    tests/test_ws.py::TestFastapiWebSocket::test_ws_read
    tests/test_ws.py::TestFastapiWebSocket::test_ws_unknown_op
    tests/test_ws.py::TestFastapiWebSocket::test_ws_ops
)

if ! base_venv_python="$(scripts/python-env.sh)"; then
    loud "the Python package (no Python >= 3.13 with haystack-py; see above)"
    exit 0
fi
python="$("$base_venv_python" -c 'import sys; print(sys._base_executable)')"

echo "-- a virtual environment for the package: $VENV ($("$python" --version))"
if [[ ! -x "$VENV/bin/python" ]]; then
    "$python" -m venv "$VENV"
fi
pip=("$VENV/bin/python" -m pip --disable-pip-version-check --quiet)
"${pip[@]}" install "$REFERENCE" pytest pytest-asyncio httpx mypy

echo "-- pip install ./bindings/python"
"${pip[@]}" install --force-reinstall --no-deps ./bindings/python

echo "-- the reference's sdist and its tests"
if [[ ! -d "$SDIST_DIR/tests" ]]; then
    rm -rf "$SDIST_DIR" "$TARGET/reference-sdist-download"
    "${pip[@]}" download --no-deps --no-binary :all: "$REFERENCE" -d "$TARGET/reference-sdist-download"
    mkdir -p "$SDIST_DIR"
    tar -xzf "$TARGET"/reference-sdist-download/haystack_py-*.tar.gz -C "$SDIST_DIR" --strip-components=1
fi

deselect_args=()
for test in "${DESELECT[@]}"; do
    echo "deselected (needs a package the reference does not install): $test"
    deselect_args+=(--deselect "$test")
done

run_suites() {
    # The sdist's pyproject.toml holds the pytest settings (asyncio_mode = "auto").
    (cd "$SDIST_DIR" && "$VENV/bin/python" -m pytest -q -p no:cacheprovider \
        -c pyproject.toml --rootdir . -o asyncio_default_fixture_loop_scope=function \
        "${deselect_args[@]}" "$@")
}

echo "-- baseline: the reference's suites on its own codec"
run_suites "${SUITES[@]}"

echo "-- the reference's suites with haystack_wire.ws_codec as hs_py.ws_codec"
PYTHONPATH="$PWD/bindings/python/reference_suite" \
    run_suites -p hs_py_codec_swap "${SUITES[@]}" "$PWD/bindings/python/reference_suite/test_codec_swap.py"

echo "-- the package's own tests"
"$VENV/bin/python" -m pytest -q -p no:cacheprovider bindings/python/tests --ignore=bindings/python/tests/test_protocol.py

echo "-- the type stubs against the installed module (mypy.stubtest), and the package under mypy --strict"
(cd "$VENV" && "$VENV/bin/python" -m mypy.stubtest haystack_wire)
"$VENV/bin/python" -m mypy --strict --no-incremental -p haystack_wire
