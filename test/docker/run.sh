#!/usr/bin/env bash
# The docker compose cluster test: builds the images, brings up
# docker/docker-compose.yml (real HDFS: NameNode + 2 DataNodes, coordinator,
# 2 workers sharing hosts with the DataNodes, loader jobs) and checks it with
# test/docker/check.py (rows vs a local read, locality from metrics, docker
# kill / network disconnect of a worker, a DataNode stopped, the coordinator
# restarted). README.md, "Run a cluster with docker compose", is what it runs.
#
#   test/docker/run.sh                 # as root; measured on 2 busy cores: 3-6 min
#                                      # cold (debootstrap, apt layers), ~3 min warm
#   test/docker/run.sh --clean-cache   # remove the cache below and exit
#
# What it installs when missing (apt): docker.io docker-compose debootstrap
# maven, the cgo headers (libjpeg62-turbo-dev zlib1g-dev libwebp-dev) and
# python3-venv; the project virtualenv (test/python/setup.sh, with torch for the
# model check). Go >= 1.26 must
# be on PATH.
#
# It starts its own Docker engine (private socket, no default bridge) and
# stops it by pid on exit, success or not, after removing every container,
# network, volume and image it made. Kept between runs, in $CACHE
# (IMAGEFLIGHT_DOCKER_CACHE, default /var/cache/imageflight-docker): the
# engine's data root with the debootstrapped base image
# (imageflight-test/debian:bookworm) and BuildKit's layer cache (the apt
# installs). `test/docker/run.sh --clean-cache` deletes it.
#
# No registry is reachable where this runs, so it builds differently from a
# user (same Dockerfile, same compose file): the base image is debootstrapped
# and `docker import`ed; the Go binaries are built on the host and copied in
# (Dockerfile BINARIES=prebuilt); the Hadoop image is test/docker/hadoop
# (Debian's Java 17 + Hadoop's jars from Maven Central) instead of
# apache/hadoop:3. Traffic: loopback, the compose network it creates, and the
# package registries for the installs.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CACHE="${IMAGEFLIGHT_DOCKER_CACHE:-/var/cache/imageflight-docker}"
RUNDIR=/run/imageflight-docker
DOCKER=/usr/bin/docker   # Debian's client: its BuildKit needs no buildx plugin
BASE=imageflight-test/debian:bookworm
IF_IMAGE=imageflight-test/imageflight:test
HADOOP_IMAGE_TEST=imageflight-test/hadoop:test
SCALE=8
t0=$(date +%s)
log() { printf '[docker %4ds] %s\n' "$(( $(date +%s) - t0 ))" "$*"; }

if [[ "${1:-}" == --clean-cache ]]; then
  [[ -S "$RUNDIR/docker.sock" ]] && { echo "an engine is running on $RUNDIR/docker.sock; stop that run first" >&2; exit 1; }
  rm -rf "$CACHE"
  echo "removed $CACHE"
  exit 0
fi
[[ "$(id -u)" == 0 ]] || { echo "test/docker/run.sh must run as root (it starts a Docker engine)" >&2; exit 1; }

# --- packages --------------------------------------------------------------
need=()
[[ -x /usr/bin/docker && -x /usr/sbin/dockerd ]] || need+=(docker.io)
command -v docker-compose >/dev/null || need+=(docker-compose)
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v mvn >/dev/null || need+=(maven)
[[ -f /usr/include/jpeglib.h ]] || need+=(libjpeg62-turbo-dev)
[[ -f /usr/include/zlib.h ]] || need+=(zlib1g-dev)
[[ -f /usr/include/webp/decode.h ]] || need+=(libwebp-dev)
python3 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)
if (( ${#need[@]} )); then
  log "apt-get install ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
command -v go >/dev/null || { echo "go (>= 1.26) not on PATH" >&2; exit 1; }
# torch + onnxscript: the model check exports a real architecture (check_model.py).
[[ -x "$repo/.venv/bin/python" ]] && "$repo/.venv/bin/python" -c 'import imageflight, pyarrow.flight, onnxruntime, torch, onnxscript' 2>/dev/null \
  || IMAGEFLIGHT_TEST_TORCH=1 "$repo/test/python/setup.sh"

# --- engine ----------------------------------------------------------------
work="$(mktemp -d /tmp/imageflight-docker-XXXXXX)"
mkdir -p "$CACHE" "$RUNDIR"
export DOCKER_HOST="unix://$RUNDIR/docker.sock" DOCKER_BUILDKIT=1
export COMPOSE_PROJECT_NAME=imageflight COMPOSE_HTTP_TIMEOUT=300
compose=(docker-compose -p imageflight -f "$repo/docker/docker-compose.yml")
dockerd_pid=""

cleanup() {
  local rc=$?
  set +e
  if [[ -n "$dockerd_pid" ]]; then
    if (( rc != 0 )); then
      log "FAILED (exit $rc): service states and log tails follow"
      "${compose[@]}" ps 2>&1
      "${compose[@]}" logs --no-color --tail 30 2>&1 | tail -200
    fi
    log "cleanup: containers, networks, volumes, test images"
    timeout 120 "${compose[@]}" down -v --remove-orphans --timeout 5 >/dev/null 2>&1
    # Anything the checks started outside compose (none expected), then our images.
    ids=$(timeout 30 "$DOCKER" ps -aq); [[ -n "$ids" ]] && timeout 60 "$DOCKER" rm -f $ids >/dev/null 2>&1
    timeout 60 "$DOCKER" rmi -f "$IF_IMAGE" "$HADOOP_IMAGE_TEST" >/dev/null 2>&1
    timeout 60 "$DOCKER" network prune -f >/dev/null 2>&1
    timeout 60 "$DOCKER" volume prune -f >/dev/null 2>&1
    timeout 60 "$DOCKER" image prune -f >/dev/null 2>&1   # dangling only; the base stays
    timeout 60 "$DOCKER" builder prune -f --keep-storage 3GB >/dev/null 2>&1   # cap the cache
    kill -TERM "$dockerd_pid" 2>/dev/null
    for _ in $(seq 1 40); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.5; done
    kill -KILL "$dockerd_pid" 2>/dev/null
    wait "$dockerd_pid" 2>/dev/null
  fi
  rm -rf "$work"
  log "done (exit $rc) in $(( $(date +%s) - t0 ))s"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [[ -f "$RUNDIR/dockerd.pid" ]] && kill -0 "$(cat "$RUNDIR/dockerd.pid")" 2>/dev/null; then
  echo "a Docker engine from another run is still up (pid $(cat "$RUNDIR/dockerd.pid"), $RUNDIR); stop it first" >&2
  exit 1
fi
log "starting dockerd (log: $work/dockerd.log)"
dockerd --host "$DOCKER_HOST" --data-root "$CACHE/engine" --exec-root "$RUNDIR/exec" \
  --pidfile "$RUNDIR/dockerd.pid" --bridge none > "$work/dockerd.log" 2>&1 &
dockerd_pid=$!
for i in $(seq 1 60); do
  "$DOCKER" version >/dev/null 2>&1 && break
  kill -0 "$dockerd_pid" 2>/dev/null || { tail -20 "$work/dockerd.log" >&2; exit 1; }
  (( i == 60 )) && { echo "dockerd did not answer in 30 s" >&2; tail -20 "$work/dockerd.log" >&2; exit 1; }
  sleep 0.5
done
# A leftover of an interrupted run would hold the fixed addresses and names.
"${compose[@]}" down -v --remove-orphans --timeout 1 >/dev/null 2>&1 || true

# --- base image --------------------------------------------------------------
if ! "$DOCKER" image inspect "$BASE" >/dev/null 2>&1; then
  mirror=$(grep -rhE '^(URIs:|deb )' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null |
           grep -oE 'https?://[^ ]*/debian/?( |$)' | grep -v security | head -1 | tr -d ' ' || true)
  mirror=${mirror:-http://deb.debian.org/debian}
  log "debootstrap --variant=minbase bookworm from $mirror"
  rm -rf "$CACHE/rootfs.tmp"
  debootstrap --variant=minbase bookworm "$CACHE/rootfs.tmp" "$mirror" > "$work/debootstrap.log" 2>&1 \
    || { tail -20 "$work/debootstrap.log" >&2; exit 1; }
  tar -C "$CACHE/rootfs.tmp" -c . | "$DOCKER" import - "$BASE" >/dev/null
  rm -rf "$CACHE/rootfs.tmp"
fi

# --- binaries, jars, images ----------------------------------------------------
log "go build (cgo) coordinator, worker"
mkdir -p "$work/ctx-imageflight/bin" "$work/ctx-hadoop"
(cd "$repo" && CGO_ENABLED=1 go build -trimpath -o "$work/ctx-imageflight/bin/" ./cmd/coordinator ./cmd/worker)
log "Hadoop jars (Maven Central, cached in ~/.m2)"
mvn -B -q -f "$repo/test/docker/hadoop/pom.xml" dependency:copy-dependencies \
  -DoutputDirectory="$work/ctx-hadoop/lib" -DincludeScope=runtime
cp "$repo/test/docker/hadoop/Dockerfile" "$repo/test/docker/hadoop/hdfs" "$work/ctx-hadoop/"
log "docker build $IF_IMAGE (docker/Dockerfile, BINARIES=prebuilt) and $HADOOP_IMAGE_TEST"
# The image's ONNX Runtime: the host virtualenv's (ONNXRUNTIME=prebuilt: PyPI is
# reached here through a TLS proxy that the image's CA certificates do not know).
mkdir -p "$work/ctx-imageflight/onnxruntime"
cp "$("$repo/.venv/bin/python" -c 'import glob, os, onnxruntime as o; print(sorted(glob.glob(os.path.join(os.path.dirname(o.__file__), "capi", "libonnxruntime.so.*")))[-1])')" \
  "$work/ctx-imageflight/onnxruntime/"
"$DOCKER" build -q --network host -f "$repo/docker/Dockerfile" --build-arg BASE_IMAGE="$BASE" \
  --build-arg BINARIES=prebuilt --build-arg ONNXRUNTIME=prebuilt \
  -t "$IF_IMAGE" "$work/ctx-imageflight" >/dev/null
"$DOCKER" build -q --network host --build-arg BASE_IMAGE="$BASE" -t "$HADOOP_IMAGE_TEST" "$work/ctx-hadoop" >/dev/null

# --- the cluster (README: "Run a cluster with docker compose") ----------------
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
export IMAGEFLIGHT_IMAGE="$IF_IMAGE" HADOOP_IMAGE="$HADOOP_IMAGE_TEST"
export IMAGEFLIGHT_PORT="$(free_port)" HDFS_HTTP_PORT="$(free_port)"
# Small batches so that every split spans many batches and faults land mid-stream.
export IMAGEFLIGHT_SAMPLES_SCALE=$SCALE IMAGEFLIGHT_BATCH_BYTES=1048576
subnet=${IMAGEFLIGHT_SUBNET:-172.28.86}
log "docker-compose up (coordinator on 127.0.0.1:$IMAGEFLIGHT_PORT, network $subnet.0/24)"
"${compose[@]}" up -d --no-build > "$work/up.log" 2>&1 || { cat "$work/up.log" >&2; exit 1; }
for i in $(seq 1 180); do
  states=$("$DOCKER" inspect -f '{{.State.Status}} {{.State.ExitCode}}' $("${compose[@]}" ps -q load1 load2) | sort -u)
  [[ "$states" == "exited 0" ]] && break
  if grep -qE '^exited [1-9]' <<<"$states" || (( i == 180 )); then
    echo "HDFS loaders failed or timed out: $states" >&2
    "${compose[@]}" logs --no-color load1 load2 >&2
    exit 1
  fi
  sleep 1
done
log "HDFS loaded; running test/docker/check.py"
"$repo/.venv/bin/python" "$repo/test/docker/check.py" \
  --coordinator "grpc://127.0.0.1:$IMAGEFLIGHT_PORT" --webhdfs "127.0.0.1:$HDFS_HTTP_PORT" \
  --compose "${compose[*]}" --docker "$DOCKER" --network imageflight_default \
  --bin "$work/ctx-imageflight/bin" --scale "$SCALE" --report "$work/report.json"
log "numbers: $(tr -d "\n " < "$work/report.json")"
