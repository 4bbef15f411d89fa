#!/usr/bin/env bash
# 50 functions to moto: one at a time against bounded concurrency, then an unchanged redeploy
# with request counts. Installs moto like the tests do.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
venv="$here/target/test-venv"
[ -x "$venv/bin/moto_server" ] || { python3 -m venv "$venv"; "$venv/bin/pip" install --quiet 'moto[server]>=5.1,<6'; }
FAAS_MOTO_SERVER="$venv/bin/moto_server" cargo bench -p faas-aws --bench deploy50 --manifest-path "$here/Cargo.toml"
