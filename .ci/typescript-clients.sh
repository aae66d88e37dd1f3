#!/usr/bin/env bash
# A strict TypeScript client from each OpenAPI document: openapi-typescript
# generates the types of every api/openapi-*.json and `tsc --strict` (with
# exactOptionalPropertyTypes) compiles them, with .ci/typescript/NAME.check.ts
# where one exists: the fields, enums and bodies a client relies on. A
# document that stops compiling, or drifts from what the check uses, fails.
#
# The tools are installed on first use into SHELF_CI_CACHE
# (~/.cache/shelf-ci/typescript), outside the checkout.
set -euo pipefail
cd "$(dirname "$0")/.."

OPENAPI_TYPESCRIPT_VERSION=7.13.0
TYPESCRIPT_VERSION=5.9.3
tools=${SHELF_CI_CACHE:-$HOME/.cache/shelf-ci}/typescript
bin=$tools/node_modules/.bin

installed() { # PACKAGE VERSION
    [ "$(node -p "require('$tools/node_modules/$1/package.json').version" 2>/dev/null)" = "$2" ]
}
if ! installed openapi-typescript "$OPENAPI_TYPESCRIPT_VERSION" || ! installed typescript "$TYPESCRIPT_VERSION"; then
    echo "installing openapi-typescript $OPENAPI_TYPESCRIPT_VERSION and typescript $TYPESCRIPT_VERSION into $tools" >&2
    mkdir -p "$tools"
    npm install --prefix "$tools" --no-audit --no-fund --silent \
        "openapi-typescript@$OPENAPI_TYPESCRIPT_VERSION" "typescript@$TYPESCRIPT_VERSION"
fi

work=$(mktemp -d /tmp/shelf-ts.XXXXXX)
trap 'rm -rf "$work"' EXIT

shopt -s nullglob
documents=(api/openapi-*.json)
[ ${#documents[@]} -gt 0 ] || { echo "no api/openapi-*.json" >&2; exit 1; }
for document in "${documents[@]}"; do
    name=$(basename "$document" .json)
    "$bin/openapi-typescript" "$document" --output "$work/$name.ts" >/dev/null
    sources=("$work/$name.ts")
    if [ -f ".ci/typescript/$name.check.ts" ]; then
        cp ".ci/typescript/$name.check.ts" "$work/"
        sources+=("$work/$name.check.ts")
    fi
    "$bin/tsc" --strict --exactOptionalPropertyTypes --noUncheckedIndexedAccess --noEmit \
        --target es2022 --module esnext --moduleResolution bundler "${sources[@]}"
    echo "$document: the strict TypeScript client compiles" >&2
done
