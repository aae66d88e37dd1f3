#!/usr/bin/env bash
# Peak memory under hostile but legal load: 50 connections at once each
# sending a 1 MiB add_tag body (valid JSON padded with spaces, the largest
# allowed) and 50 sending 1 MiB + 1 byte (413), against a release build on
# a fresh SQLite database. Prints the server's resident memory when idle
# (after start-up and one sign-in) and its peak during the load (VmHWM,
# reset just before the load starts), and the answers' statuses.
#
#   bench/memory.sh                 # 50 + 50
#   VALID=100 OVERSIZED=100 bench/memory.sh
#
# Linux only (reads /proc). Needs no tool beyond the Rust toolchain.
set -euo pipefail
cd "$(dirname "$0")/.."

VALID=${VALID:-50}
OVERSIZED=${OVERSIZED:-50}
PORT=${PORT:-18191}

cargo build --release --quiet --bin shelf --example body_flood
bin="${CARGO_TARGET_DIR:-target}/release"
work=$(mktemp -d)
pid=""
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

export SHELF_DATABASE_URL="sqlite://$work/shelf.db"
export SHELF_BIND="127.0.0.1:$PORT"
export SHELF_JWT_SECRET="memory-benchmark-secret-at-least-32-bytes"
export SHELF_ADMIN_PASSWORD="memory-benchmark-password"
export SHELF_RATE_LIMITS=false
export RUST_LOG=${RUST_LOG:-warn}
printf 'title,author\nDune,Frank Herbert\n' > "$work/one.csv"
"$bin/shelf" import "$work/one.csv" >/dev/null
"$bin/shelf" >"$work/server.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do
    (echo > "/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
    sleep 0.1
done

kib() { awk -v k="$1" '$1 == k":" { print $2 }' "/proc/$pid/status"; }
# Sign in (argon2 runs once), then let the server settle.
exec 3<>"/dev/tcp/127.0.0.1/$PORT"
body="{\"username\":\"admin\",\"password\":\"$SHELF_ADMIN_PASSWORD\"}"
printf 'POST /api/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s' \
    "${#body}" "$body" >&3
token=$(cat <&3 | sed -E 's/.*"access_token":"([^"]+)".*/\1/' | tail -n 1)
exec 3>&-
sleep 1
idle=$(kib VmRSS)
echo 5 > "/proc/$pid/clear_refs"   # VmHWM := VmRSS, so the peak is the load's
answers=$("$bin/examples/body_flood" "$PORT" "$token" "$VALID" "$OVERSIZED")
peak=$(kib VmHWM)
printf '%-28s %s\n' "load" "$VALID x 1 MiB + $OVERSIZED x (1 MiB + 1 B), at once"
printf '%-28s %s\n' "answers" "$answers"
printf '%-28s %d MiB\n' "idle RSS" $((idle / 1024))
printf '%-28s %d MiB\n' "peak RSS during the load" $((peak / 1024))
