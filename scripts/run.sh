#!/usr/bin/env bash
# Builds the host and the plugins, then runs Prism on its default config
# (the built-in simulator; the API on http://127.0.0.1:8080). Extra
# arguments go to `prism run`.
set -euo pipefail
cd "$(dirname "$0")/.."

rustup target add wasm32-wasip2 >/dev/null
cargo build --release --locked --target wasm32-wasip2 -p long-short-ratio -p liquidation-map -p funding-arb -p whale-detector -p hello
cargo build --release --locked -p prism-host
exec target/release/prism run --config config/prism.toml "$@"
