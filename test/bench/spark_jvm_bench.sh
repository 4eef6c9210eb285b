#!/usr/bin/env bash
# The JVM Spark connector against Spark's own format("image") and the Python data source
# (clients/python, Spark 4), same files, same server, same run: count(), where(cls = ...)
# .count(), a full read forcing the pixels (sum(length(image.data))), and read + resize 224
# + centercrop via transforms. One Spark JVM (local[2]) per source, so each has its own peak
# RSS. Wall time (median of 3 after a warm-up); CPU seconds of the Spark process tree (the
# JVM; for the Python source also its driver and Python workers) plus the imageflight
# server's (coordinator --standalone --capacity 2, with its descendants).
#
# Usage: test/bench/spark_jvm_bench.sh [DIR [LINE]]
#   DIR: a folder of images with cls=... folders (default: the sample corpus, 6x);
#        test/bench/photos.sh's folder has no cls= level: the where() rows are left out.
#   LINE: connector jar line (default 3.5_2.12).
#   IMAGEFLIGHT_PYTHON: the Python with PySpark 4 for the Python source (default .venv's).
#   COPIES=N: read DIR's top-level files N times over (hard links in one folder), so that a read is
#        long against what each query costs once (planning, a JVM's compilation of new code).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
line="${2:-3.5_2.12}"
py="${IMAGEFLIGHT_PYTHON:-$repo/.venv/bin/python}"
work="$(mktemp -d)"
trap 'kill "${pid:-}" 2>/dev/null || true; rm -rf "$work"' EXIT
jar="$("$repo/clients/spark/build.sh" "$line")"
cp="$jar:$(cat "$repo/clients/spark/sparkdeps/target/cp-$line.txt")"
(cd "$repo" && go build -o "$work/" ./cmd/coordinator)
dir="${1:-}"
if [ -z "$dir" ]; then
  dir="$work/images"
  mkdir -p "$dir"
  "$work/coordinator" gen-samples "$dir" >/dev/null
fi
dir="$(cd "$dir" && pwd)"
if [ "${COPIES:-1}" -gt 1 ]; then
  mkdir "$work/copies"
  for i in $(seq "$COPIES"); do
    for f in "$dir"/*; do # a flat folder, as test/bench/photos.sh's
      [ -f "$f" ] && { ln "$f" "$work/copies/c${i}_${f##*/}" 2>/dev/null || cp "$f" "$work/copies/c${i}_${f##*/}"; }
    done
  done
  dir="$work/copies"
fi
port=$((20000 + RANDOM % 20000))
"$work/coordinator" --standalone --capacity 2 --listen "127.0.0.1:$port" --gossip-listen "127.0.0.1:$((port + 1))" \
  --local-gossip --secret-file "$work/secret" --root "$dir" >"$work/server.log" 2>&1 &
pid=$!
mkdir -p "$work/classes"
javac -nowarn -d "$work/classes" -cp "$cp" "$repo/clients/spark/check/ConnectorBench.java"
sleep 2
echo "$(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg) at the start, $(find "$dir" -type f | wc -l) files, $(du -sh "$dir" | cut -f1); connector $line"
for source in image imageflight; do
  java -XX:+IgnoreUnrecognizedVMOptions --add-opens=java.base/java.nio=ALL-UNNAMED --add-opens=java.base/sun.nio.ch=ALL-UNNAMED \
    --add-opens=java.base/java.lang=ALL-UNNAMED --add-opens=java.base/java.util=ALL-UNNAMED \
    --add-opens=java.base/java.lang.invoke=ALL-UNNAMED --add-opens=java.base/java.util.concurrent=ALL-UNNAMED \
    -cp "$work/classes:$cp" ConnectorBench "grpc://127.0.0.1:$port" "$dir" "$pid" cats "$source" \
    >>"$work/rows" 2>"$work/java.log" || { tail -40 "$work/java.log"; exit 1; }
done
"$py" "$repo/test/bench/spark_source_bench.py" "grpc://127.0.0.1:$port" "$dir" "$pid" cats >>"$work/rows" 2>"$work/python.log" \
  || { tail -40 "$work/python.log"; exit 1; }
echo "load $(cut -d' ' -f1-3 /proc/loadavg) at the end"
python3 - "$work/rows" <<'PY'
import sys
rows, rss, order = {}, {}, []
for line in open(sys.argv[1]):
    f = line.rstrip("\n").split("\t")
    if f[0] == "ROW":
        if f[1] not in order:
            order.append(f[1])
        rows[f[1], f[2]] = (float(f[3]), float(f[4]), f[5])
    elif f[0] == "RSS":
        rss[f[1]] = f[2:]
def cell(q, s):
    r = rows.get((q, s))
    return f"{r[0]:.2f} / {r[1]:.2f}" if r else "—"
def ratio(q, a, b):
    ra, rb = rows.get((q, a)), rows.get((q, b))
    return f"{rb[1] / ra[1]:.1f}×" if ra and rb and ra[1] > 0 else ""
print('| query | `format("image")` wall / CPU-s | imageflight JVM wall / CPU-s | Python source wall / CPU-s '
      '| CPU: image / JVM | CPU: Python / JVM |')
print("| --- | --- | --- | --- | --- | --- |")
for q in order:
    print(f"| `{q}` | {cell(q, 'image')} | {cell(q, 'imageflight')} | {cell(q, 'python')} "
          f"| {ratio(q, 'imageflight', 'image')} | {ratio(q, 'imageflight', 'python')} |")
for q in order:
    results = {s: rows[q, s][2] for s in ("image", "imageflight", "python") if (q, s) in rows}
    if len(set(results.values())) > 1:
        print(f"results differ for {q}: {results} (on the sample corpus Spark's own source skips a "
              "zero-byte file and salvages a truncated JPEG: the deviations test/e2e/spark_assert_test.go documents)")
mb = lambda kb: f"{int(kb) / 1e6:.2f} GB"
print(f"peak RSS: format(\"image\") JVM {mb(rss['image'][0])}, imageflight JVM {mb(rss['imageflight'][0])}, "
      f"Python source JVM {mb(rss['python'][0])} (+ largest Python worker {mb(rss['python'][1])})")
PY
