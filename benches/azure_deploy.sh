#!/usr/bin/env bash
# 50 function apps to the fake ARM + Kudu with Azurite: one at a time against bounded
# concurrency, then an unchanged redeploy with call counts. Installs Azurite like the tests.
#   FAAS_BENCH_OPERATION_MS (default 300)  FAAS_BENCH_CONCURRENCY (default 8)
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
npm_dir="$here/target/test-npm"
[ -x "$npm_dir/node_modules/.bin/azurite-blob" ] || npm install --silent --no-audit --no-fund --prefix "$npm_dir" 'azurite@3'
FAAS_AZURITE_BLOB="$npm_dir/node_modules/.bin/azurite-blob" cargo bench -p faas-azure --bench deploy50 --manifest-path "$here/Cargo.toml"
