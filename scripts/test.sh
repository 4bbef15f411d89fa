#!/usr/bin/env bash
# The test command: installs what the tests need (once, under target/), then runs every test.
#   scripts/test.sh [extra cargo test args]
# Needs Rust, Python 3 with venv/pip and Node.js. Installs into target/test-venv:
#   awslambdaric (a real Lambda runtime client), moto[server] (the AWS emulator), boto3 (a
#   client of the local server's Lambda Invoke API), gcp-storage-emulator (Cloud Storage) and
#   pytest (the unit-test script of the pipeline files users write); and into
#   target/test-npm: Azurite (Azure Blob).
#   The GCP and Azure tests also need `openssl` (the fake service account's RSA key, the fake
#   ARM's TLS certificate).
# In CI (CI=true) a missing tool makes the tests fail, never skip.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
cd "$here"
venv="$here/target/test-venv"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import awslambdaric, moto, boto3, pytest' 2>/dev/null \
   || [ ! -x "$venv/bin/moto_server" ] || [ ! -x "$venv/bin/gcp-storage-emulator" ]; then
  echo "== installing test tools into $venv (awslambdaric, moto[server], boto3, gcp-storage-emulator, pytest)"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check 'awslambdaric>=2,<5' 'moto[server]>=5.1,<6' 'boto3>=1.34' \
    'gcp-storage-emulator>=2024' 'pytest>=8'
fi
export FAAS_TEST_RIC_PYTHON="$venv/bin/python"
export FAAS_MOTO_SERVER="$venv/bin/moto_server"
export FAAS_GCS_EMULATOR="$venv/bin/gcp-storage-emulator"
if ! command -v openssl >/dev/null; then
  echo "openssl is not on the PATH: the GCP and Azure tests need it for their fakes' keys and certificate" >&2
  exit 1
fi
if ! command -v node >/dev/null; then
  echo "node is not on the PATH: the Node.js runtime tests and Azurite need it" >&2
  exit 1
fi
npm_dir="$here/target/test-npm"
if [ ! -x "$npm_dir/node_modules/.bin/azurite-blob" ]; then
  echo "== installing Azurite into $npm_dir"
  npm install --silent --no-audit --no-fund --prefix "$npm_dir" 'azurite@3'
fi
export FAAS_AZURITE_BLOB="$npm_dir/node_modules/.bin/azurite-blob"
cargo test --workspace --all-features "$@"
