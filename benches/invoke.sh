#!/usr/bin/env bash
# Local invoke overhead of examples/functions/hello-python: warm invocations (environment
# kept), cold ones (a provider with idle_timeout 0) and the bare `python3 -c pass`, measured
# in the same run; prints p50 / p99 / max wall ms and the handler's own REPORT Duration.
#   FAAS_BENCH_WARM (default 500)  FAAS_BENCH_COLD (default 50)  FAAS_BENCH_PYTHON (default 50)
#   FAAS_BENCH_MEMORY (default 128: with cgroups, 128/1769 of a CPU, as on Lambda)
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
cargo bench -p faas-core --bench invoke --manifest-path "$here/Cargo.toml" "$@"
