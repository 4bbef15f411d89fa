#!/usr/bin/env bash
# 50 functions to the fake Cloud Functions + Cloud Run: one at a time against bounded
# concurrency, then an unchanged redeploy with call counts. Needs openssl (the fake's key).
#   FAAS_BENCH_OPERATION_MS (default 300)  FAAS_BENCH_CONCURRENCY (default 8)
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
cargo bench -p faas-gcp --bench deploy50 --manifest-path "$here/Cargo.toml"
