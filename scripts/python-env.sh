#!/usr/bin/env bash
# Sets up a Python >= 3.13 virtual environment with the reference
# implementation (haystack-py) in target/python-venv, and prints the path of
# its interpreter. Exits 3, saying why on stderr, when that cannot be done
# here (no such Python, or PyPI out of reach); callers report it loudly.
set -euo pipefail
cd "$(dirname "$0")/.."

# The release the conformance vectors were made with.
REFERENCE="haystack-py==0.1.10"
VENV="target/python-venv"

new_enough() {
    "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 13) else 1)' 2>/dev/null
}

if [[ -x "$VENV/bin/python" ]] && "$VENV/bin/python" -c 'import hs_py.ws_codec' 2>/dev/null; then
    echo "$VENV/bin/python"
    exit 0
fi

candidates=(python3.14 python3.13 python3)
if command -v pyenv >/dev/null 2>&1; then
    root="$(pyenv root)"
    for dir in "$root"/versions/3.1[3-9]*/bin; do
        [[ -x "$dir/python3" ]] && candidates+=("$dir/python3")
    done
fi
python=""
for candidate in "${candidates[@]}"; do
    path="$(command -v "$candidate" 2>/dev/null || true)"
    if [[ -n "$path" ]] && new_enough "$path"; then
        python="$path"
        break
    fi
done
if [[ -z "$python" ]]; then
    echo "no Python >= 3.13 found (tried ${candidates[*]})" >&2
    exit 3
fi

rm -rf "$VENV"
if ! "$python" -m venv "$VENV" >&2; then
    echo "$python cannot create a virtual environment" >&2
    exit 3
fi
if ! "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "$REFERENCE" >&2; then
    echo "cannot install $REFERENCE from PyPI" >&2
    exit 3
fi
echo "$VENV/bin/python"
