#!/usr/bin/env bash
# The test command: installs what the tests need (once, under target/), then runs every test.
#   scripts/test.sh [extra cargo test args]
# Needs Rust, Python 3 with venv/pip and Node.js. In CI (CI=true) a missing tool is an error.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
cd "$here"
venv="$here/target/test-venv"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import awslambdaric' 2>/dev/null; then
  echo "== installing test tools into $venv (awslambdaric)"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check 'awslambdaric>=2,<5'
fi
export FAAS_TEST_RIC_PYTHON="$venv/bin/python"
if ! command -v node >/dev/null; then
  echo "node is not on the PATH: the Node.js runtime tests need it" >&2
  exit 1
fi
cargo test --workspace "$@"
