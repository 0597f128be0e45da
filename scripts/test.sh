#!/usr/bin/env bash
# Runs every test of the workspace on a fresh machine: installs the wasm
# target if missing, builds the plugins and test guests, then runs the tests
# (one release build, shared by tests, benches and `prism run`).
set -euo pipefail
cd "$(dirname "$0")/.."

rustup target add wasm32-wasip2 >/dev/null
cargo build --release --locked --target wasm32-wasip2 \
    -p long-short-ratio -p liquidation-map -p funding-arb -p whale-detector -p hello -p prism-probe -p other-world -p future-contract -p tiny-counter
cargo test --release --locked --workspace "$@"
