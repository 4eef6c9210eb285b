#!/usr/bin/env bash
# The JVM Spark connector against Spark's own format("image"), same files, same run, one
# Spark JVM in local[2]: count(), where(cls = ...).count(), a full read forcing the pixels
# (sum(length(image.data))), and read + resize 224 + centercrop via transforms. Wall time
# (median of 3 after a warm-up), CPU seconds of the Spark JVM plus the imageflight server
# (coordinator --standalone --capacity 2), and the JVM's peak RSS.
#
# Usage: test/bench/spark_jvm_bench.sh [DIR [LINE]]
#   DIR: a folder of images with cls=... folders (default: the sample corpus, 6x);
#        test/bench/photos.sh's folder has no cls= level: the where() rows are left out.
#   LINE: connector jar line (default 3.5_2.12).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
line="${2:-3.5_2.12}"
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
port=$((20000 + RANDOM % 20000))
"$work/coordinator" --standalone --capacity 2 --listen "127.0.0.1:$port" --gossip-listen "127.0.0.1:$((port + 1))" \
  --local-gossip --secret-file "$work/secret" --root "$dir" >"$work/server.log" 2>&1 &
pid=$!
mkdir -p "$work/classes"
javac -nowarn -d "$work/classes" -cp "$cp" "$repo/clients/spark/check/ConnectorBench.java"
sleep 2
echo "$(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $(find "$dir" -type f | wc -l) files, $(du -sh "$dir" | cut -f1)"
java -XX:+IgnoreUnrecognizedVMOptions --add-opens=java.base/java.nio=ALL-UNNAMED --add-opens=java.base/sun.nio.ch=ALL-UNNAMED \
  --add-opens=java.base/java.lang=ALL-UNNAMED --add-opens=java.base/java.util=ALL-UNNAMED \
  --add-opens=java.base/java.lang.invoke=ALL-UNNAMED --add-opens=java.base/java.util.concurrent=ALL-UNNAMED \
  -cp "$work/classes:$cp" ConnectorBench "grpc://127.0.0.1:$port" "$dir" "$pid" cats 2>"$work/java.log" \
  || { tail -40 "$work/java.log"; exit 1; }
