#!/usr/bin/env bash
# Checks the install the README describes: `cargo install --locked --path
# host/cli` into a temporary root, then `prism run` from an empty directory
# (no config there) serves /health, the dashboard and the reference
# plugins, and writes nothing into that directory. Run by scripts/test.sh
# after the plugins are built.
set -euo pipefail
cd "$(dirname "$0")/.."

work="$(mktemp -d)"
pid=""
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

# The shared target directory: the install reuses the test build's artifacts.
cargo install --quiet --locked --path host/cli --root "$work/root" \
    --target-dir "${CARGO_TARGET_DIR:-target}"
mkdir "$work/elsewhere" "$work/data"
cd "$work/elsewhere"
PRISM_DATA_DIR="$work/data" PRISM_LOG=warn "$work/root/bin/prism" run --listen 127.0.0.1:0 \
    > "$work/stdout" 2> "$work/stderr" &
pid=$!

fail() {
    echo "install check: $*" >&2
    echo "--- prism's log:" >&2
    cat "$work/stderr" >&2
    exit 1
}

address=""
for _ in $(seq 1 300); do
    address="$(sed -n 's/^prism: API listening on //p' "$work/stdout")"
    [ -n "$address" ] && break
    kill -0 "$pid" 2>/dev/null || fail "prism run exited"
    sleep 0.1
done
[ -n "$address" ] || fail "no API address printed within 30 s"

get() { curl -fsS --max-time 5 "$address$1"; }
health="$(get /health)" || fail "GET /health failed"
grep -q '"status":"ok"' <<< "$health" || fail "/health is not ok: $health"
# Read the whole page before matching: with pipefail, `grep -q` leaving at
# the first match can make curl fail writing the rest of the body.
dashboard="$(get /dashboard/)" || fail "GET /dashboard/ failed"
grep -q '<title>Prism</title>' <<< "$dashboard" || fail "/dashboard/ is not the dashboard"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$address/")" = 303 ] || fail "/ does not lead to the dashboard"
running=0
for _ in $(seq 1 100); do
    running="$(get /api/v1/plugins | grep -o '"state":"running"' | wc -l)"
    [ "$running" -ge 4 ] && break
    sleep 0.1
done
[ "$running" -ge 4 ] || fail "the reference plugins are not all running ($running)"
[ -z "$(ls -A "$work/elsewhere")" ] || fail "prism wrote into the current directory: $(ls -A "$work/elsewhere")"
echo "install check: cargo install, then prism run from another directory: ok ($address)"
