#!/usr/bin/env bash
# Runs every test of the workspace on a fresh machine: installs the wasm
# target and componentize-py if missing, builds the plugins and test
# guests, then runs the tests
# (one release build, shared by tests, benches and `prism run`), and a smoke
# run of each benchmark.
set -euo pipefail
cd "$(dirname "$0")/.."

rustup target add wasm32-wasip2 >/dev/null
# Python plugins are built with componentize-py (pinned: its output is
# what docs/benchmarks.md measured).
if ! componentize-py --version 2>/dev/null | grep -q "0.25.1"; then
    python3 -m pip install --quiet --disable-pip-version-check componentize-py==0.25.1
fi
# The dashboard's browser test drives Debian's Chromium through chromedriver
# (never a browser a test tool downloads: the machines have no internet).
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
    as_root=""
    [ "$(id -u)" = 0 ] || as_root="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $as_root apt-get install -y -q chromium chromium-driver >/dev/null \
        || { $as_root apt-get update -q >/dev/null && $as_root apt-get install -y -q chromium chromium-driver >/dev/null; }
fi
cargo build --release --locked --target wasm32-wasip2 \
    -p long-short-ratio -p liquidation-map -p funding-arb -p whale-detector -p hello -p prism-probe -p other-world -p future-contract -p contract-0-1 -p tiny-counter
cargo test --release --locked --workspace "$@"
# Install anywhere: `cargo install` into a temporary root, then `prism run`
# from an empty directory serves its API and the dashboard.
bash scripts/install-check.sh
# A cheap run of every benchmark, so none rots (figures: docs/benchmarks.md).
# --workspace: the features of the test build, so nothing is compiled again.
cargo bench --locked --workspace \
    --bench plugin_boundary --bench swap_latency --bench normalize --bench postgres_sink \
    --bench nats_pipeline --bench cluster_scale --bench density --bench replay_throughput \
    --bench rest_series --bench ws_latency -- --smoke
