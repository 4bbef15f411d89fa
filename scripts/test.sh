#!/usr/bin/env bash
# The test command: installs what the tests need (once, under target/), then runs every test.
#   scripts/test.sh [extra cargo test args]
# Needs Rust, Python 3 with venv/pip and Node.js. Installs into target/test-venv:
#   awslambdaric (a real Lambda runtime client), moto[server] (the AWS emulator), boto3 (a
#   client of the local server's Lambda Invoke API), gcp-storage-emulator (Cloud Storage) and
#   pytest (the unit-test script of the pipeline files users write), and the official clients
#   the GCP and Azure fakes are proved against (google-cloud-functions, google-cloud-run,
#   google-api-python-client for its discovery documents, azure-mgmt-web at api-version
#   2023-12-01, azure-mgmt-storage at 2023-05-01: the versions faas sends); and into
#   target/test-npm: Azurite (Azure Blob).
#   The GCP and Azure tests also need `openssl` (the fake service account's RSA key, the fake
#   ARM's TLS certificate).
# In CI (CI=true) a missing tool makes the tests fail, never skip.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
cd "$here"
venv="$here/target/test-venv"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import awslambdaric, moto, boto3, pytest' 2>/dev/null \
   || ! "$venv/bin/python" -c 'from google.cloud import functions_v2, run_v2; import googleapiclient; from azure.mgmt.web import v2023_12_01; from azure.mgmt.storage import v2023_05_01' 2>/dev/null \
   || [ ! -x "$venv/bin/moto_server" ] || [ ! -x "$venv/bin/gcp-storage-emulator" ]; then
  echo "== installing test tools into $venv (awslambdaric, moto[server], boto3, gcp-storage-emulator, pytest, official GCP and Azure clients)"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check 'awslambdaric>=2,<5' 'moto[server]>=5.1,<6' 'boto3>=1.34' \
    'gcp-storage-emulator>=2024' 'pytest>=8'
  # azure-mgmt-web 7.3 ships (and defaults to) api-version 2023-12-01 as azure.mgmt.web.v2023_12_01,
  # azure-mgmt-storage 21.2 ships v2023_05_01; the tests import those modules, so a release
  # without them fails the check above. The GCP checker's discovery excerpts came from
  # google-api-python-client 2.202.
  "$venv/bin/pip" install --quiet --disable-pip-version-check 'google-cloud-functions>=1.18,<2' \
    'google-cloud-run>=0.10,<1' 'google-api-python-client>=2.150,<3' 'azure-mgmt-web>=7.3,<8' \
    'azure-mgmt-storage>=21.2,<22'
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
