#!/usr/bin/env bash
# A simulated fleet of 2,000 functions in 4 regions against Lambda's documented control-plane
# rates: the adaptive limiter against a fixed concurrency, then an unchanged redeploy.
# Simulated time (tokio's paused clock); no emulator needed.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
cargo bench -p faas-core --bench fleet --manifest-path "$here/Cargo.toml"
