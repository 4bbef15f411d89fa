#!/usr/bin/env bash
# Median time of a local invoke of examples/functions/hello-python against
# `python3 -c 'import json'`, measured in the same criterion run.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
cargo bench -p faas-core --bench invoke --manifest-path "$here/Cargo.toml" "$@"
