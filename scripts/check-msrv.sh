#!/usr/bin/env bash
# The workspace's `rust-version` is a promise: every crate of the workspace,
# with all features, builds on that toolchain with the locked dependencies.
# This checks it with the toolchain itself, installed through rustup when it
# is missing. Without rustup (or without its download) it says so in a banner
# and exits 0, so that the rest of CI goes on.
set -euo pipefail
cd "$(dirname "$0")/.."

loud() {
    echo "################################################################"
    echo "## NOT CHECKED: $1"
    echo "################################################################"
}

version=$(sed -n '/^\[workspace.package\]/,/^\[/s/^rust-version *= *"\([0-9.]*\)".*/\1/p' Cargo.toml)
if [ -z "$version" ]; then
    echo "check-msrv: no rust-version under [workspace.package] in Cargo.toml" >&2
    exit 1
fi

if ! command -v rustup >/dev/null 2>&1; then
    loud "rust-version $version (no rustup to install that toolchain)"
    exit 0
fi
if ! rustup run "$version" rustc --version >/dev/null 2>&1; then
    if ! rustup toolchain install "$version" --profile minimal >/dev/null 2>&1; then
        loud "rust-version $version (rustup could not install that toolchain)"
        exit 0
    fi
fi

echo "-- cargo +$version check --workspace --all-features --locked"
cargo "+$version" check --workspace --all-features --locked
echo "rust-version $version: the workspace builds on $(rustup run "$version" rustc --version)"
