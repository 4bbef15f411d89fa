#!/usr/bin/env bash
# Packaging benchmark on the shared corpus: faas-package against Info-ZIP (`zip -r -X -q`),
# measured in the same run. Per tree (a private copy of it, so edits never touch the corpus),
# the median wall time over N runs of:
#   zip      Info-ZIP from scratch (`zip -r -X -q`)
#   cold     faas --no-cache
#   warm-1   faas with a warm entry cache and stat index, one source file changed before each run
#   warm-0   faas with a warm cache and index, nothing changed (the first run writes a new
#            path, so it copies entries from the priming build's zip; the others find the
#            zip at their output path is the package)
#   warm-0n  the same, each run writing a new path (entries copied from the last run's zip)
# with ratios against Info-ZIP and against faas's own cold build, the peak RSS of each faas
# mode (`/usr/bin/time`), and whether cold and warm zips are byte-identical.
# FAAS_BENCH_BIG=1 also generates a 250 MB / 100,000-file tree and measures it (peak RSS
# goal: 64 MB, cold and warm). BENCH_CRITERION=1 then runs `cargo bench -p faas-package`.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
root="${FAAS_CORPUS:-/tmp/faas-corpus}"
runs="${RUNS:-5}"
if [ ! -d "$root/py-medium" ] || [ ! -d "$root/node-many" ]; then
  python3 "$here/../shared/bench/make_corpus.py" --root "$root"
fi
target="${CARGO_TARGET_DIR:-$here/target}"
cargo build --release -q -p examples --example package --manifest-path "$here/Cargo.toml"
bin="$target/release/examples/package"
work="$(mktemp -d "${TMPDIR:-/tmp}/faas-bench.XXXXXX")"
trap 'rm -rf "$work"' EXIT

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
now() { date +%s.%N; }
ratio() { echo "$1 / $2" | bc -l; }
sha() { sha256sum "$1" | cut -d' ' -f1; }
# Peak RSS in MiB (time's %M is KiB) of one run of the command (a program, not a shell function).
rss_mb() { { /usr/bin/time -f "%M" "$@" > /dev/null; } 2>&1 | tail -1 | awk '{printf "%.1f", $1 / 1024}'; }
faas() { "$bin" "$1" --out "$2" --json "${@:3}"; }

# bench TREE-DIR EDIT-FILE (relative) LABEL RUNS
bench() {
  local src="$1" edit="$2" label="$3" n="$4" cache="$work/cache-$3"
  [ -f "$src/$edit" ] || { echo "no file $edit to edit in $src" >&2; exit 1; }
  : > "$work/cold.t"; : > "$work/zip.t"; : > "$work/warm1.t"; : > "$work/warm0.t"
  for i in $(seq "$n"); do
    rm -f "$work/info.zip"
    t0=$(now); (cd "$src" && zip -r -X -q "$work/info.zip" .); t1=$(now)
    echo "$t1 - $t0" | bc >> "$work/zip.t"
    t0=$(now); faas "$src" "$work/cold.zip" --no-cache > /dev/null; t1=$(now)
    echo "$t1 - $t0" | bc >> "$work/cold.t"
  done
  local cold_sha; cold_sha=$(sha "$work/cold.zip")
  # Prime the cache and the index. Files copied just now are "racy" (changed within 2 s of
  # the indexing build), so wait until they are not, as an unchanged CI checkout would be.
  sleep 2.5
  faas "$src" "$work/prime.zip" --cache-dir "$cache" > /dev/null
  local warm_ok=yes
  for i in $(seq "$n"); do
    t0=$(now); faas "$src" "$work/warm0.zip" --cache-dir "$cache" > "$work/warm0.json"; t1=$(now)
    echo "$t1 - $t0" | bc >> "$work/warm0.t"
    [ "$(sha "$work/warm0.zip")" = "$cold_sha" ] || warm_ok=NO
  done
  # Nothing changed, each run to a new path: entries copied from the last run's zip.
  : > "$work/warm0n.t"
  for i in $(seq "$n"); do
    t0=$(now); faas "$src" "$work/warm0-$i.zip" --cache-dir "$cache" > "$work/warm0n.json"; t1=$(now)
    echo "$t1 - $t0" | bc >> "$work/warm0n.t"
    [ "$(sha "$work/warm0-$i.zip")" = "$cold_sha" ] || warm_ok=NO
    [ "$i" -gt 1 ] && rm -f "$work/warm0-$((i - 1)).zip"
  done
  local reused0n; reused0n=$(grep -o '"reused":[0-9]*' "$work/warm0n.json" | cut -d: -f2)
  local unread; unread=$(grep -o '"files_unread":[0-9]*' "$work/warm0.json" | cut -d: -f2)
  local files; files=$(grep -o '"files":[0-9]*' "$work/warm0.json" | cut -d: -f2)
  local r_warm0; r_warm0=$(rss_mb "$bin" "$src" --out "$work/rss.zip" --json --cache-dir "$cache")
  for i in $(seq "$n"); do
    echo "# bench edit $label $i $(now)" >> "$src/$edit"
    t0=$(now); faas "$src" "$work/warm1.zip" --cache-dir "$cache" > "$work/warm1.json"; t1=$(now)
    echo "$t1 - $t0" | bc >> "$work/warm1.t"
  done
  local hits1; hits1=$(grep -o '"hits":[0-9]*' "$work/warm1.json" | cut -d: -f2)
  local misses1; misses1=$(grep -o '"misses":[0-9]*' "$work/warm1.json" | cut -d: -f2)
  local reused1; reused1=$(grep -o '"reused":[0-9]*' "$work/warm1.json" | cut -d: -f2)
  local reused0; reused0=$(grep -o '"reused":[0-9]*' "$work/warm0.json" | cut -d: -f2)
  faas "$src" "$work/cold1.zip" --no-cache > /dev/null
  [ "$(sha "$work/warm1.zip")" = "$(sha "$work/cold1.zip")" ] || warm_ok=NO
  echo "# bench edit $label rss $(now)" >> "$src/$edit"
  local r_warm1; r_warm1=$(rss_mb "$bin" "$src" --out "$work/rss.zip" --json --cache-dir "$cache")
  local r_cold; r_cold=$(rss_mb "$bin" "$src" --out "$work/rss.zip" --json --no-cache)
  local z c w1 w0
  z=$(median < "$work/zip.t"); c=$(median < "$work/cold.t")
  w1=$(median < "$work/warm1.t"); w0=$(median < "$work/warm0.t"); local w0n; w0n=$(median < "$work/warm0n.t")
  printf '%-9s %6s files  zip -r -X %.3f s | cold %.3f s (%.2fx zip) | warm-1 %.3f s (%.1fx zip, %.1fx cold; %s hits, %s of them copied from the previous zip, %s compressed: %s) | warm-0 %.3f s (%.1fx zip, %.1fx cold; %s/%s unread, %s copied)\n' \
    "$label" "$files" "$z" "$c" "$(ratio "$z" "$c")" "$w1" "$(ratio "$z" "$w1")" "$(ratio "$c" "$w1")" "$hits1" "$reused1" "$misses1" "$edit" \
    "$w0" "$(ratio "$z" "$w0")" "$(ratio "$c" "$w0")" "$unread" "$files" "$reused0"
  printf '%-9s warm-0 to a new path each run %.3f s (%.1fx zip, %.1fx cold; %s copied from the previous zip)\n' \
    "" "$w0n" "$(ratio "$z" "$w0n")" "$(ratio "$c" "$w0n")" "$reused0n"
  printf '%-9s peak RSS cold %s MiB, warm-1 %s MiB, warm-0 %s MiB; warm zips byte-identical to cold: %s; zipped %s bytes (Info-ZIP %s)\n' \
    "" "$r_cold" "$r_warm1" "$r_warm0" "$warm_ok" "$(stat -c %s "$work/cold.zip")" "$(stat -c %s "$work/info.zip")"
}

echo "runs: $runs (medians); $(nproc) cores; $(date -u +%FT%TZ)"
for tree in py-medium node-many; do
  cp -a "$root/$tree" "$work/$tree"
  case "$tree" in
    py-medium) edit=$(cd "$work/$tree" && find app -maxdepth 1 -name '*.py' ! -name '__init__.py' | sort | awk 'NR == 1') ;;
    node-many) edit=$(cd "$work/$tree" && find . -name '*.js' -path '*/lib/*' | sort | awk 'NR == 1') ;;
  esac
  bench "$work/$tree" "$edit" "$tree" "$runs"
  rm -rf "$work/$tree" "$work/cache-$tree"
done

if [ "${FAAS_BENCH_BIG:-0}" = 1 ]; then
  big="$work/big"
  python3 - "$big" <<'EOF'
import os, random, sys
root = sys.argv[1]
rng = random.Random(250)
words = ("def return self value import class none true false data config request "
         "response handler event context result error index items json path name").split()
pool = " ".join(rng.choice(words) + ("\n" if rng.random() < 0.1 else "") for _ in range(400_000)).encode()
total, n = 250 * 1000 * 1000, 100_000
for i in range(n):
    d = os.path.join(root, "pkg%03d" % (i % 500), "sub%02d" % (i // 500 % 20))
    os.makedirs(d, exist_ok=True)
    size = int(rng.lognormvariate(7.3, 0.9)) if i < n - 1 else 0
    at = rng.randrange(0, len(pool) - 65536)
    body = b"# file %d\n" % i + pool[at:at + min(size, 65536)]
    with open(os.path.join(d, "m%06d.py" % i), "wb") as f:
        f.write(body)
    total -= len(body)
# The rest of 250 MB in a few large files (streamed entries).
k = 0
while total > 0:
    chunk = min(total, 20 * 1000 * 1000)
    with open(os.path.join(root, "blob%02d.bin" % k), "wb") as f:
        f.write((pool * (chunk // len(pool) + 1))[:chunk])
    total -= chunk
    k += 1
with open(os.path.join(root, "lambda_function.py"), "w") as f:
    f.write("def lambda_handler(e, c):\n    return 1\n")
EOF
  printf 'big tree: %s files, %s MB of file content\n' "$(find "$big" -type f | wc -l)" \
    "$(find "$big" -type f -printf '%s\n' | awk '{s += $1} END {printf "%.1f", s / 1e6}')"
  bench "$big" lambda_function.py big "${BIG_RUNS:-1}"
fi

if [ "${BENCH_CRITERION:-0}" = 1 ]; then
  FAAS_CORPUS="$root" cargo bench -p faas-package --manifest-path "$here/Cargo.toml"
fi
