#!/usr/bin/env bash
# Throughput and latency of a bearer-authenticated page of 20 books, next
# to a bare actix handler returning the same bytes (examples/bare.rs).
# Needs wrk (Debian: apt-get install wrk). Loopback only; stops by itself.
#
#   bench/load.sh                    # 10 s per target, 32 connections
#   DURATION=30s CONNECTIONS=64 bench/load.sh
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-1}
SHELF_PORT=${SHELF_PORT:-18181}
BARE_PORT=${BARE_PORT:-18182}
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }

cargo build --release --quiet --bin shelf --example bare
bin="${CARGO_TARGET_DIR:-target}/release"
work=$(mktemp -d)
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

export SHELF_DATABASE_URL="sqlite://$work/bench.db"
export SHELF_JWT_SECRET="benchmark-secret-that-is-at-least-32-bytes"
export SHELF_ADMIN_PASSWORD="benchmark-admin-password"
export RUST_LOG=${RUST_LOG:-warn}
"$bin/shelf" import data/sample_books.csv >/dev/null
SHELF_BIND="127.0.0.1:$SHELF_PORT" "$bin/shelf" >"$work/shelf.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$SHELF_PORT/health" >/dev/null && break; sleep 0.1; done

token=$(curl -sf -X POST "http://127.0.0.1:$SHELF_PORT/api/token" -H 'Content-Type: application/json' \
    -d "{\"username\":\"admin\",\"password\":\"$SHELF_ADMIN_PASSWORD\"}" | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
path="/api/v1/books?per_page=20&sortColumn=title"
curl -sf -H "Authorization: Bearer $token" "http://127.0.0.1:$SHELF_PORT$path" >"$work/page.json"
echo "page: $(wc -c <"$work/page.json") bytes, $(grep -o '"id":' "$work/page.json" | wc -l) books"

"$bin/examples/bare" "127.0.0.1:$BARE_PORT" "$work/page.json" &
pids+=($!)
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$BARE_PORT/" >/dev/null && break; sleep 0.1; done

run() {
    echo
    echo "== $1"
    shift
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$@" | grep -E "Requests/sec|Transfer/sec|^ +(50|75|90|99)%|Non-2xx"
}
run "shelf: bearer token, 20 books (RUST_LOG=$RUST_LOG)" -H "Authorization: Bearer $token" "http://127.0.0.1:$SHELF_PORT$path"
run "bare actix handler, same bytes" "http://127.0.0.1:$BARE_PORT$path"
