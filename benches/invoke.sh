#!/usr/bin/env bash
# Local invoke overhead, all in one run (faas-core/benches/invoke.rs), of
# examples/functions/hello-python: sequential warm invocations (environment kept) against as
# many cold ones (a provider with idle_timeout 0) and the bare `python3 -c pass`; then the same
# function through LocalProvider::serve's Invoke API over HTTP, one client and concurrent ones;
# prints p50 / p99 / max ms per call, total wall time, calls/s, the handler's own REPORT
# Duration, and the ratios against the baselines.
#   FAAS_BENCH_WARM, FAAS_BENCH_COLD (default 1000 each)  FAAS_BENCH_PYTHON (default 50)
#   FAAS_BENCH_SERVE (calls through serve per client count, default 1000)
#   FAAS_BENCH_CLIENTS (default 8)  FAAS_BENCH_ANCHOR (round trips per emulator, default 500)
#   FAAS_BENCH_MEMORY (default 128: with cgroups, 128/1769 of a CPU, as on Lambda)
#   FAAS_BENCH_ANCHOR_MEMORY (the Rust function on our side, default 1769: one vCPU)
# At 128 MB a cold start is CPU-throttled (~0.8 s here), so 1,000 cold calls take ~13 min:
# FAAS_BENCH_COLD=300 keeps a run under 10 minutes.
#
# The cargo-lambda anchor, FAAS_BENCH_CARGO_LAMBDA=1: cargo-lambda installs from PyPI (its
# wheel ships the binary; into target/bench-venv unless `cargo lambda` is on the PATH). The
# script writes a crate outside the workspace (a temporary directory) with the source of
# examples/functions/hello-rust (the `lambda_runtime` crate), starts `cargo lambda watch
# --release` on it (FAAS_BENCH_CARGO_LAMBDA_PORT, default 9311), waits until its first
# invocation answers (the build), and the bench times HTTP POSTs to both Invoke API
# endpoints: watch's, and serve's with the binary watch built deployed as the bootstrap of a
# provided.al2023 function (the same code on both). The watch process group is ended on exit.
# Needs crates.io for lambda_runtime's dependencies (as any build of the examples does).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
target="${CARGO_TARGET_DIR:-$here/target}"

if [ "${FAAS_BENCH_CARGO_LAMBDA:-0}" = 1 ]; then
  if ! cargo lambda --version >/dev/null 2>&1; then
    if [ ! -x "$target/bench-venv/bin/cargo-lambda" ]; then
      python3 -m venv "$target/bench-venv"
      "$target/bench-venv/bin/pip" install --quiet cargo-lambda
    fi
    export PATH="$target/bench-venv/bin:$PATH"
  fi
  port="${FAAS_BENCH_CARGO_LAMBDA_PORT:-9311}"
  crate="$(mktemp -d)"
  mkdir -p "$crate/src"
  cp "$here/examples/functions/hello-rust/main.rs" "$crate/src/main.rs"
  cat >"$crate/Cargo.toml" <<'EOF'
[package]
name = "hello-rust"
version = "0.1.0"
edition = "2021"

[dependencies]
lambda_runtime = "1"
serde_json = "1"
tokio = { version = "1", features = ["macros", "rt-multi-thread"] }

[workspace]
EOF
  # The build is kept in target/ for the next run; the crate itself is not in the workspace.
  built="$target/bench-cargo-lambda"
  (cd "$crate" && CARGO_TARGET_DIR="$built" exec setsid cargo lambda watch --release \
    --ignore-changes -A 127.0.0.1 -P "$port" >"$crate/watch.log" 2>&1) &
  watch=$!
  trap 'kill -- -"$watch" 2>/dev/null || kill "$watch" 2>/dev/null || true; rm -rf "$crate"' EXIT
  url="http://127.0.0.1:$port"
  echo "cargo lambda watch: building hello-rust in $crate (log: watch.log there)" >&2
  for _ in $(seq 600); do
    if curl -fsS -m 600 -o /dev/null -X POST -d '{}' "$url/2015-03-31/functions/hello-rust/invocations" 2>/dev/null; then
      ready=1
      break
    fi
    sleep 1
  done
  if [ -z "${ready:-}" ]; then
    tail -20 "$crate/watch.log" >&2
    echo "cargo lambda watch did not answer on $url" >&2
    exit 1
  fi
  export FAAS_BENCH_CARGO_LAMBDA_URL="$url"
  # The very binary watch runs: serve runs it as the bootstrap of a provided.al2023 function.
  export FAAS_BENCH_RUST_BOOTSTRAP="$built/release/hello-rust"
fi

cargo bench -p faas-core --bench invoke --manifest-path "$here/Cargo.toml" "$@"
