#!/usr/bin/env bash
# Throughput and latency of a bearer-authenticated page of 20 books
# (GET /api/v1/books?per_page=20), served by:
#
#   1. shelf with the rate limiter in process: every request is checked
#      against two quotas, like the defaults (1000/1h and 10000/1d), raised
#      so that the benchmark is never refused;
#   2. shelf with the limiter off (SHELF_RATE_LIMITS=false);
#   3. shelf with the limiter in Redis (BENCH_REDIS_URL, by default
#      redis://127.0.0.1:6379), same quotas, under a key prefix of its own
#      that is deleted afterwards; skipped when Redis does not answer;
#   4. a bare actix handler returning the same bytes (examples/bare.rs).
#
# Needs wrk (Debian: apt-get install wrk), and redis-cli for 3. Loopback
# only; stops by itself.
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
UNLIMITED_PORT=${UNLIMITED_PORT:-18183}
REDIS_SHELF_PORT=${REDIS_SHELF_PORT:-18184}
BENCH_REDIS_URL=${BENCH_REDIS_URL:-redis://127.0.0.1:6379}
# Checked on every request, never reached in a benchmark.
BENCH_QUOTAS=${BENCH_QUOTAS:-1000000/1h,10000000/1d}
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }

cargo build --release --quiet --bin shelf --example bare
bin="${CARGO_TARGET_DIR:-target}/release"
work=$(mktemp -d)
pids=()
redis_prefix=""
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    if [ -n "$redis_prefix" ]; then
        redis-cli -u "$BENCH_REDIS_URL" --scan --pattern "${redis_prefix}*" |
            xargs -r redis-cli -u "$BENCH_REDIS_URL" DEL >/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

export SHELF_JWT_SECRET="benchmark-secret-that-is-at-least-32-bytes"
export SHELF_ADMIN_PASSWORD="benchmark-admin-password"
export RUST_LOG=${RUST_LOG:-warn}
path="/api/v1/books?per_page=20&sortColumn=title"

# start NAME PORT PROGRAM [VAR=VALUE...]: a server on its own copy of the
# sample catalog; sets $token to a bearer token for its admin.
start() {
    local name=$1 port=$2 program=$3
    shift 3
    local db="sqlite://$work/$name.db"
    SHELF_DATABASE_URL="$db" "$bin/shelf" import data/sample_books.csv >/dev/null
    env SHELF_DATABASE_URL="$db" SHELF_BIND="127.0.0.1:$port" "$@" "$program" >"$work/$name.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done
    curl -sf "http://127.0.0.1:$port/health" >/dev/null || { cat "$work/$name.log" >&2; exit 1; }
    token=$(curl -sf -X POST "http://127.0.0.1:$port/api/token" -H 'Content-Type: application/json' \
        -d "{\"username\":\"admin\",\"password\":\"$SHELF_ADMIN_PASSWORD\"}" |
        sed -E 's/.*"access_token":"([^"]+)".*/\1/')
    # What the limiter says about this server's page (nothing when off).
    limit=$(curl -sf -D - -o /dev/null -H "Authorization: Bearer $token" "http://127.0.0.1:$port$path" |
        tr -d '\r' | sed -n 's/^ratelimit-policy: //Ip')
    echo "$name on :$port, RateLimit-Policy: ${limit:-none}"
}

run() {
    echo
    echo "== $1"
    shift
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$@" | grep -E "Requests/sec|Transfer/sec|^ +(50|75|90|99)%|Non-2xx|Socket errors"
}

start limited "$SHELF_PORT" "$bin/shelf" SHELF_LIMIT_AUTHENTICATED="$BENCH_QUOTAS"
limited_token=$token
curl -sf -H "Authorization: Bearer $token" "http://127.0.0.1:$SHELF_PORT$path" >"$work/page.json"
echo "page: $(wc -c <"$work/page.json") bytes, $(grep -o '"id":' "$work/page.json" | wc -l) books"

start unlimited "$UNLIMITED_PORT" "$bin/shelf" SHELF_RATE_LIMITS=false
unlimited_token=$token

redis_token=""
if command -v redis-cli >/dev/null && [ "$(redis-cli -u "$BENCH_REDIS_URL" PING 2>/dev/null)" = "PONG" ]; then
    redis_prefix="shelf-bench-$$-$(date +%s):"
    start redis "$REDIS_SHELF_PORT" "$bin/shelf" SHELF_LIMIT_AUTHENTICATED="$BENCH_QUOTAS" \
        SHELF_REDIS_URL="$BENCH_REDIS_URL" SHELF_REDIS_PREFIX="$redis_prefix"
    redis_token=$token
else
    echo "no Redis answers at $BENCH_REDIS_URL: the Redis store is not measured"
fi

"$bin/examples/bare" "127.0.0.1:$BARE_PORT" "$work/page.json" &
pids+=($!)
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$BARE_PORT/" >/dev/null && break; sleep 0.1; done

run "shelf: bearer token, 20 books, limiter in process ($BENCH_QUOTAS) (RUST_LOG=$RUST_LOG)" \
    -H "Authorization: Bearer $limited_token" "http://127.0.0.1:$SHELF_PORT$path"
run "shelf: bearer token, 20 books, limiter off (SHELF_RATE_LIMITS=false)" \
    -H "Authorization: Bearer $unlimited_token" "http://127.0.0.1:$UNLIMITED_PORT$path"
if [ -n "$redis_token" ]; then
    run "shelf: bearer token, 20 books, limiter in Redis ($BENCH_REDIS_URL, $BENCH_QUOTAS)" \
        -H "Authorization: Bearer $redis_token" "http://127.0.0.1:$REDIS_SHELF_PORT$path"
    keys=$(redis-cli -u "$BENCH_REDIS_URL" --scan --pattern "${redis_prefix}*" | wc -l)
    echo "   ($keys key(s) under $redis_prefix, deleted on exit)"
fi
run "bare actix handler, same bytes" "http://127.0.0.1:$BARE_PORT$path"
