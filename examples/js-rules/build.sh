#!/usr/bin/env bash
# Installs the pinned JavaScript toolchain (npm ci) and builds the component
# into ../../target/examples/js_rules.wasm.
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p ../../target/examples
[ -d node_modules ] || npm ci --no-audit --no-fund --silent
node build.mjs ../../target/examples/js_rules.wasm
