#!/usr/bin/env bash
# Fuzz the server with its own OpenAPI documents: schemathesis 4 sends
# schema-valid (positive) and schema-invalid (negative) requests, then
# stateful sequences along the links it infers, for every operation of
# every api/openapi-*.json (v1; v2 too once api/openapi-v2.json exists) to
# a live server started from the built binary, and fails on any finding: a
# 5xx, a status, header, content type or body the document does not
# describe, a valid request refused, an invalid one accepted, an operation
# that ignores its credentials, a 405 without a matching Allow, ...
#
#   .ci/fuzz-openapi.sh                       # every document, a few minutes
#   FUZZ_EXAMPLES=200 .ci/fuzz-openapi.sh     # longer
#   FUZZ_ARGS=--continue-on-failure .ci/fuzz-openapi.sh   # every failure, not the first per operation
#
# Each document runs four times: with an admin bearer token, with an admin
# cookie session (and its CSRF token), with an API key holding every scope,
# and anonymously. The two operations that end the caller's own session
# (POST /api/token/revoke, DELETE /api/session) run last, after the others,
# with fresh credentials, so that they do not turn the rest of a run into
# 401s.
#
# Settings: SHELF_BIN (target/debug/shelf, built if missing), FUZZ_PORT
# (a free one), FUZZ_SEED (1), FUZZ_EXAMPLES (examples per operation and phase,
# 25), FUZZ_WORKERS (1: Python 3.11.7 compiling in two threads at once
# once failed inside schemathesis with "AST constructor recursion depth
# mismatch"), SHELF_CI_CACHE (~/.cache/shelf-ci: schemathesis's
# venv lives there, outside the checkout, created on first use). The server
# gets its own temporary SQLite database loaded with the sample catalog,
# rate limits far above what a run sends and a hashing thread per worker, so
# a 429 or a 503 is a finding too.
#
# One generation setting differs from schemathesis's defaults, for a reason:
# --generation-with-security-parameters false. Left on, schemathesis fills
# every security scheme an operation lists at once (Authorization, X-API-Key
# and the session cookie together); the server answers two credentials with
# 400 `multiple_credentials`, as its document says, but OpenAPI cannot
# express "exactly one of these", so every such case would be reported as a
# valid request refused. The credentials are given per run instead (-H), and
# the `ignored_auth` check still sends each operation without them and with
# wrong ones. No check is excluded.
set -euo pipefail
cd "$(dirname "$0")/.."

SCHEMATHESIS_VERSION=4.32.5
cache=${SHELF_CI_CACHE:-$HOME/.cache/shelf-ci}
venv=$cache/venv
# A port nobody listens on: other servers run on this machine too.
port=${FUZZ_PORT:-$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
seed=${FUZZ_SEED:-1}
examples=${FUZZ_EXAMPLES:-25}
workers=${FUZZ_WORKERS:-1}
shelf=${SHELF_BIN:-${CARGO_TARGET_DIR:-target}/debug/shelf}
origin="http://127.0.0.1:$port"
repo=$PWD
# What the documents' own formats (`isbn`) mean, for the generator.
hooks=$repo/.ci/schemathesis_hooks.py

if ! "$venv/bin/st" --version 2>/dev/null | grep -qF "$SCHEMATHESIS_VERSION"; then
    echo "installing schemathesis $SCHEMATHESIS_VERSION into $venv" >&2
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi
[ -x "$shelf" ] || cargo build --quiet --locked --bin shelf

work=$(mktemp -d /tmp/shelf-fuzz.XXXXXX)
server=
cleanup() {
    if [ -n "$server" ]; then
        kill "$server" 2>/dev/null || true
        wait "$server" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

admin_password="fuzz-admin-password-$RANDOM$RANDOM"
export SHELF_DATABASE_URL="sqlite://$work/shelf.db"
export SHELF_BIND="127.0.0.1:$port"
export SHELF_JWT_SECRET="fuzz-secret-that-is-at-least-32-bytes-long"
export SHELF_ADMIN_PASSWORD="$admin_password"
export SHELF_PASSWORD_THREADS=$workers
export RUST_LOG=${RUST_LOG:-error}
for limit in ANONYMOUS AUTHENTICATED SEARCH_ANONYMOUS STATUS_CHANGE LOGIN_IP LOGIN_FAILURES \
    LOGIN_CLIENT_FAILURES CREDENTIAL_FAILURES; do
    export "SHELF_LIMIT_$limit=1000/1s"
done

"$shelf" import data/sample_books.csv >"$work/import.log"
"$shelf" >"$work/server.log" 2>&1 &
server=$!
for _ in $(seq 100); do
    kill -0 "$server" 2>/dev/null || break
    curl -sf "$origin/health" >/dev/null && break
    sleep 0.1
done
if ! kill -0 "$server" 2>/dev/null || ! curl -sf "$origin/health" >/dev/null; then
    echo "the server did not start:" >&2
    cat "$work/server.log" >&2
    exit 1
fi

sign_in='{"username":"admin","password":"'"$admin_password"'"}'
json_field() { python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

# Fresh credentials as st options, one function per kind.
bearer() {
    local token
    token=$(curl -sf -X POST "$origin/api/token" -H 'Content-Type: application/json' -d "$sign_in" |
        json_field access_token)
    credentials=(-H "Authorization: Bearer $token")
}
cookie() {
    local headers csrf session
    headers=$(curl -sf -D - -o "$work/session.json" -X POST "$origin/api/session" \
        -H 'Content-Type: application/json' -d "$sign_in")
    session=$(printf '%s\n' "$headers" | sed -nE 's/^set-cookie: (__Host-shelf_session=[^;]*);.*/\1/Ip')
    csrf=$(json_field csrf_token <"$work/session.json")
    credentials=(-H "Cookie: $session" -H "X-CSRF-Token: $csrf")
}
api_key() {
    bearer
    local key
    key=$(curl -sf -X POST "$origin/api/v1/api-keys" "${credentials[@]}" -H 'Content-Type: application/json' \
        -d '{"name":"fuzz","scopes":["books:read","books:write","library:read","library:write"],"current_password":"'"$admin_password"'"}' |
        json_field key)
    credentials=(-H "X-API-Key: $key")
}
anonymous() { credentials=(); }

failed=0
# run NAME DOCUMENT [st run options...]
run() {
    local name=$1 document=$2
    shift 2
    echo "== schemathesis: $name" >&2
    # From the scratch directory: schemathesis writes its caches in the
    # working directory.
    if ! (cd "$work" && SCHEMATHESIS_HOOKS="$hooks" "$venv/bin/st" --config-file "$repo/.ci/schemathesis.toml" run "$repo/$document" --url "$origin" \
        --seed "$seed" --max-examples "$examples" --workers "$workers" --checks all --mode all \
        --no-color --output-truncate false --suppress-health-check all --generation-database none \
        --generation-with-security-parameters false ${FUZZ_ARGS:-} "$@"); then
        failed=1
    fi
}

ending='^(revoke_token|delete_session)$'
shopt -s nullglob
# FUZZ_DOCUMENTS narrows the run (e.g. api/openapi-v2.json) while working.
read -r -a documents <<<"${FUZZ_DOCUMENTS:-$(echo api/openapi-*.json)}"
[ ${#documents[@]} -gt 0 ] || { echo "no api/openapi-*.json" >&2; exit 1; }
for document in "${documents[@]}"; do
    version=$(basename "$document" .json)
    version=${version#openapi-}
    # The documents' paths are absolute (/api/v1/..., /api/token), so the
    # base is the origin; the server must serve each at /api/VERSION/openapi.json.
    if ! curl -sf "$origin/api/$version/openapi.json" | cmp -s - "$document"; then
        echo "$origin/api/$version/openapi.json differs from $document" >&2
        failed=1
    fi
    for credential in bearer cookie api_key anonymous; do
        "$credential"
        run "$version, $credential" "$document" ${credentials[@]+"${credentials[@]}"} \
            --exclude-operation-id-regex "$ending"
    done
    for credential in bearer cookie; do
        "$credential"
        run "$version, $credential, ending its own session" "$document" "${credentials[@]}" \
            --include-operation-id-regex "$ending"
    done
done

if [ "$failed" != 0 ]; then
    echo "schemathesis found problems; the server's log:" >&2
    tail -n 20 "$work/server.log" >&2 || true
    exit 1
fi
echo "schemathesis: no findings" >&2
