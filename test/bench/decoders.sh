#!/usr/bin/env bash
# Decode speed per core: imageflight's decoders (pkg/imagerow) against the
# libraries' own tools on the same files — tjbench (libjpeg-turbo) for
# JPEG, dwebp (libwebp) for WebP — with the ratio printed. Not part of
# test/run.sh. Needs libjpeg-turbo-progs (tjbench) and webp (cwebp, dwebp);
# missing tools just leave their column empty.
#
#   test/bench/decoders.sh                       # ~3 min
#   ROUNDS=5 BENCHTIME=2s test/bench/decoders.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
benchtime=${BENCHTIME:-1s}

# 1920x1080 photo-like frame: baseline and progressive JPEG q90 4:2:0,
# PNG, lossy (q80) and lossless WebP.
IMAGEFLIGHT_BENCH_OUT=$dir go test -count=1 -run '^TestWriteBenchFiles$' ./pkg/imagerow/ >/dev/null

go test -c -o "$dir/imagerow.test" ./pkg/imagerow/

max() { awk -v a="$1" -v b="${2:-}" 'BEGIN { print (b == "" || a + 0 > b + 0) ? a : b }'; }

# ours FILE [reuse]: MP/s of one BenchmarkFiles run. One goroutine and
# GOMAXPROCS=1, so the GC gets no spare core that the single-threaded
# peers lack.
ours() {
  local sub=$1
  [ "${2:-}" = reuse ] && sub="$1/reuse"
  [ "${2:-}" = reuse ] || sub="$1\$"
  IMAGEFLIGHT_BENCH_DIR=$dir GOMAXPROCS=1 "$dir/imagerow.test" -test.run '^$' \
    -test.bench "^BenchmarkFiles/${sub}" -test.benchtime "$benchtime" |
    awk '/^BenchmarkFiles\// { for (i=1;i<=NF;i++) if ($(i+1)=="MP/s") { print $i; exit } }'
}

# peer FILE: MP/s of the library's own tool on the same file.
peer() {
  local f=$dir/$1
  case $1 in
    *.jpg)
      command -v tjbench >/dev/null || return 0
      tjbench "$f" -benchtime "${benchtime%s}" -warmup 0.5 2>/dev/null | awk '/Throughput/ { print $2; exit }' ;;
    *.webp)
      command -v dwebp >/dev/null || return 0
      # dwebp decodes once per run and prints its decode time (ms
      # resolution): best of 9 runs.
      local best=
      for _ in 1 2 3 4 5 6 7 8 9; do
        t=$(dwebp -v "$f" 2>&1 | awk '/Time to decode picture/ { print $NF }' | tr -d s)
        best=$(awk -v a="$t" -v b="$best" 'BEGIN { print (b == "" || a < b) ? a : b }')
      done
      awk -v t="$best" 'BEGIN { printf "%.1f", 1920*1080/t/1e6 }' ;;
  esac
}

# The machine is shared: measure ours and the peer alternately, ROUNDS
# times, and keep the best of each, so a burst of load hits both sides.
rounds=${ROUNDS:-5}
declare -A o orr pr
for f in photo-baseline.jpg photo-progressive.jpg photo-lossy.webp photo-lossless.webp photo.png; do
  for _ in $(seq "$rounds"); do
    o[$f]=$(max "$(ours "$f")" "${o[$f]:-}")
    orr[$f]=$(max "$(ours "$f" reuse)" "${orr[$f]:-}")
    p=$(peer "$f")
    [ -n "$p" ] && pr[$f]=$(max "$p" "${pr[$f]:-}")
  done
done

printf '\n%-24s %12s %16s %-10s %10s %8s %8s\n' file "ours MP/s" "ours reuse MP/s" peer "peer MP/s" ratio "ratio(reuse)"
for f in photo-baseline.jpg photo-progressive.jpg photo-lossy.webp photo-lossless.webp photo.png; do
  p=${pr[$f]:-}
  tool=-
  case $f in *.jpg) tool=tjbench ;; *.webp) tool=dwebp ;; esac
  if [ -n "$p" ]; then
    r=$(awk -v a="${o[$f]}" -v b="$p" 'BEGIN { printf "%.2fx", a/b }')
    rr=$(awk -v a="${orr[$f]}" -v b="$p" 'BEGIN { printf "%.2fx", a/b }')
  else
    tool=-; p=-; r=-; rr=-
  fi
  printf '%-24s %12s %16s %-10s %10s %8s %8s\n' "$f" "${o[$f]}" "${orr[$f]}" "$tool" "$p" "$r" "$rr"
done
printf '\n%s, %s cores, load average:%s\n' "$(uname -m)" "$(nproc)" "$(uptime | sed 's/.*load average://')"
