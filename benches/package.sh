#!/usr/bin/env bash
# Packaging benchmark on the shared corpus: faas-package against Info-ZIP (`zip -r -X -q`),
# measured in the same run. Prints per tree the median wall time of each over N runs, the
# ratio, faas's peak RSS, and whether two faas runs gave byte-identical zips; then runs the
# criterion benchmark (`cargo bench -p faas-package`) unless BENCH_CRITERION=0.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
root="${FAAS_CORPUS:-/tmp/faas-corpus}"
runs="${RUNS:-5}"
if [ ! -d "$root/py-medium" ] || [ ! -d "$root/node-many" ]; then
  python3 "$here/../shared/bench/make_corpus.py" --root "$root"
fi
cargo build --release -q -p examples --example package --manifest-path "$here/Cargo.toml"
bin="$here/target/release/examples/package"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
now() { date +%s.%N; }

for tree in py-medium node-many; do
  src="$root/$tree"
  : > "$work/faas.t"; : > "$work/zip.t"
  for i in $(seq "$runs"); do
    t0=$(now); "$bin" "$src" --out "$work/faas.zip" --json > "$work/faas-$i.json"; t1=$(now)
    echo "$t1 - $t0" | bc >> "$work/faas.t"
    rm -f "$work/info.zip"
    t0=$(now); (cd "$src" && zip -r -X -q "$work/info.zip" .); t1=$(now)
    echo "$t1 - $t0" | bc >> "$work/zip.t"
  done
  rss_kb=$( { /usr/bin/time -f "%M" "$bin" "$src" --out "$work/rss.zip" --json > /dev/null; } 2>&1 | tail -1)
  f=$(median < "$work/faas.t"); z=$(median < "$work/zip.t")
  shas=$(grep -ho '"sha256":"[0-9a-f]*"' "$work"/faas-*.json | sort -u | wc -l)
  printf '%-10s faas %.3f s  zip -r -X %.3f s  speedup %.2fx  peak RSS %d MB  identical across %d runs: %s  zipped %s bytes (Info-ZIP %s)\n' \
    "$tree" "$f" "$z" "$(echo "$z / $f" | bc -l)" "$((rss_kb / 1024))" "$runs" "$([ "$shas" = 1 ] && echo yes || echo NO)" \
    "$(stat -c %s "$work/faas.zip")" "$(stat -c %s "$work/info.zip")"
done
if [ "${BENCH_CRITERION:-1}" != 0 ]; then
  FAAS_CORPUS="$root" cargo bench -p faas-package --manifest-path "$here/Cargo.toml"
fi
