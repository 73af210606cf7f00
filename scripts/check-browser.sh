#!/usr/bin/env bash
# The live page of `hswire serve` in a real browser: starts
# `hswire serve --compression zlib --chunked` on 127.0.0.1 (a free port),
# opens the page in headless Chromium, waits (at most 60 s) until its status
# shows the session (zlib, chunked), points, a history chart and at least
# five pushes, checks the console stayed free of errors, and saves a
# screenshot.
#
#   scripts/check-browser.sh [SCREENSHOT.png]   (default: target/browser/page.png;
#                                                docs/browser.png is the README's)
#
# Chromium is Debian's `chromium`, installed with apt when missing; nothing
# downloads a browser of its own. The DevTools protocol is spoken by a small
# Node.js script (scripts/browser-check.mjs), no library. Without Node.js
# 20.10 or newer, or when Chromium cannot be had, it says so in a banner,
# prints UNCHECKED and exits 0; a check that fails exits 1.
set -euo pipefail
cd "$(dirname "$0")/.."

loud() {
    echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
    echo "!!! UNCHECKED: $1"
    echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
}

screenshot="${1:-${CARGO_TARGET_DIR:-$PWD/target}/browser/page.png}"

# Node.js 20.10 has a WebSocket (behind --experimental-websocket); 22 has it by default.
if ! command -v node >/dev/null 2>&1; then
    loud "the browser page (no node on PATH)"
    exit 0
fi
node_version="$(node --version)"
if ! node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 10) ? 0 : 1)'; then
    loud "the browser page (node $node_version has no WebSocket; 20.10 or newer is needed)"
    exit 0
fi
node_flags=()
if node --experimental-websocket -e '' 2>/dev/null; then
    node_flags=(--experimental-websocket --no-warnings)
fi

find_chromium() {
    command -v chromium || command -v chromium-browser || true
}
chromium="$(find_chromium)"
if [ -z "$chromium" ]; then
    echo "-- chromium is missing; installing Debian's package (apt-get, about a minute)"
    as_root=()
    if [ "$(id -u)" != 0 ]; then
        if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
            as_root=(sudo -n)
        fi
    fi
    if [ "$(id -u)" = 0 ] || [ "${#as_root[@]}" -gt 0 ]; then
        log="$(mktemp)"
        if "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive timeout 600 apt-get update >"$log" 2>&1 &&
            "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y chromium >>"$log" 2>&1; then
            chromium="$(find_chromium)"
        else
            tail -5 "$log"
        fi
        rm -f "$log"
    fi
fi
if [ -z "$chromium" ]; then
    loud "the browser page (no chromium, and apt-get could not install it)"
    exit 0
fi
echo "-- $("$chromium" --version 2>/dev/null || echo "$chromium"), node $node_version"

cargo build --locked -p hswire
HSWIRE="${CARGO_TARGET_DIR:-$PWD/target}/debug/hswire"

work="$(mktemp -d)"
server=""
cleanup() {
    if [ -n "$server" ]; then
        kill "$server" 2>/dev/null || true
        wait "$server" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

"$HSWIRE" serve --listen 127.0.0.1:0 --compression zlib --chunked >"$work/serve.out" 2>"$work/serve.err" &
server=$!
address=""
for _ in $(seq 1 200); do
    address="$(sed -n 's|^listening on ws://||p' "$work/serve.out")"
    [ -n "$address" ] && break
    if ! kill -0 "$server" 2>/dev/null; then
        cat "$work/serve.err"
        echo "hswire serve ended before it listened"
        exit 1
    fi
    sleep 0.1
done
if [ -z "$address" ]; then
    echo "hswire serve did not say where it listens within 20 s"
    exit 1
fi

mkdir -p "$(dirname "$screenshot")"
echo "-- the page at http://$address/ in headless chromium"
node "${node_flags[@]}" scripts/browser-check.mjs "$chromium" "http://$address/" "$screenshot"
