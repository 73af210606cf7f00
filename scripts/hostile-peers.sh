#!/usr/bin/env bash
# Hostile peers against `hswire serve` and `hswire call`, on the loopback only
# (tests/hostile_peers/hostile_peers.py): file-limit exhaustion, silent and
# half-open connections, an unread pipeline, watch churn, idle connections,
# unfinished compressed chunked sequences, a server that never answers the
# upgrade, deep and costly filters, other connections' watch ids, huge watch
# names, watch capacity, refresh-poll floods, password guessing, foreign
# origins, malformed HTTP and frames, and a huge capability answer. One line
# per attack; exits 1 when any attack misses its target.
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
    loud "hostile peers against hswire serve and hswire call (no Python >= 3.13; see above)"
    exit 0
fi

cargo build --locked -p hswire
# The suite keeps itself within about 450 s; this cap stops it if it does not.
# On SIGTERM it stops the servers it started before it exits.
timeout --kill-after=15 470 "$python" tests/hostile_peers/hostile_peers.py \
    --hswire "${CARGO_TARGET_DIR:-target}/debug/hswire" "$@"
