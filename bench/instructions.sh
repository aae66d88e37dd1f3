#!/usr/bin/env bash
# Instructions per request, counted by callgrind: unlike timings they do not
# depend on what else the machine is doing, so before/after comparisons of
# one request's cost hold even on a busy 2-core box.
#
# A release shelf (limiter in process, RUST_LOG=warn) and the bare actix
# handler returning the same bytes each run under valgrind; after a warm-up
# the counters are zeroed, one connection asks for the bearer page of 20 for
# DURATION seconds, and the total over all threads is divided by the
# requests served.
#
#   bench/instructions.sh                    # identity
#   ENCODING=br bench/instructions.sh
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-15}
ENCODING=${ENCODING:-identity}
PORT=${PORT:-18195}
page="/api/v1/books?per_page=20&sortColumn=title"

cargo build --release --quiet --bin shelf --example bare --example loadgen
bin="${CARGO_TARGET_DIR:-target}/release"
work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

export SHELF_JWT_SECRET="instructions-benchmark-secret-32-bytes-long"
export SHELF_ADMIN_PASSWORD="instructions-benchmark-password"
export SHELF_DATABASE_URL="sqlite://$work/shelf.db"
export SHELF_LIMIT_AUTHENTICATED="3600000/1h,86400000/1d"
export RUST_LOG=warn
"$bin/shelf" import data/sample_books.csv >/dev/null

wait_for() { for _ in $(seq 300); do curl -sf "http://127.0.0.1:$1$2" >/dev/null 2>&1 && return; sleep 0.2; done; }

# measure NAME PORT COMMAND...: instructions per request of COMMAND's server.
measure() {
    local name=$1 port=$2
    shift 2
    valgrind --tool=callgrind --callgrind-out-file="$work/$name.%p" "$@" >"$work/$name.log" 2>&1 &
    local pid=$!
    pids+=("$pid")
    wait_for "$port" "${probe:-/health}"
    "$bin/examples/loadgen" get "127.0.0.1:$port" --label warm-up --path "$page" "${auth[@]}" \
        -H "Accept-Encoding: $ENCODING" --connections 1 --duration 2 --warmup 0 >/dev/null
    callgrind_control -z "$pid" >/dev/null 2>&1
    local row
    row=$("$bin/examples/loadgen" get "127.0.0.1:$port" --label "$name" --path "$page" "${auth[@]}" \
        -H "Accept-Encoding: $ENCODING" --connections 1 --duration "$DURATION" --warmup 0)
    callgrind_control -d "$pid" >/dev/null 2>&1
    sleep 1
    local requests total
    requests=$(echo "$row" | awk -F'|' '{ gsub(/ /, "", $7); print $7 }')
    total=$(cat "$work/$name".* 2>/dev/null | awk '/^summary:/ { s += $2 } END { print s }')
    kill "$pid" 2>/dev/null || true
    printf '| %s | %s | %.1fk |\n' "$name" "$requests" "$(echo "$total / $requests / 1000" | bc -l)"
}

SHELF_BIND="127.0.0.1:$PORT" "$bin/shelf" >"$work/plain.log" 2>&1 &
plain=$!
wait_for "$PORT" /health
token=$(curl -sf -X POST "http://127.0.0.1:$PORT/api/token" -H 'Content-Type: application/json' \
    -d "{\"username\":\"admin\",\"password\":\"$SHELF_ADMIN_PASSWORD\"}" | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
curl -sf -H "Authorization: Bearer $token" -H 'Accept-Encoding: identity' "http://127.0.0.1:$PORT$page" >"$work/page.json"
kill "$plain"

echo "| per request, \`Accept-Encoding: $ENCODING\` | requests | instructions |"
echo "|---|---|---|"
auth=(-H "Authorization: Bearer $token")
SHELF_BIND="127.0.0.1:$((PORT + 1))" measure shelf $((PORT + 1)) "$bin/shelf"
auth=()
probe=/ measure "bare actix handler, same bytes" $((PORT + 2)) "$bin/examples/bare" "127.0.0.1:$((PORT + 2))" "$work/page.json"
