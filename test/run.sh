#!/usr/bin/env bash
# The whole test suite: installs what it needs (Debian packages, Go
# modules, Maven jars for the HDFS minicluster, the Python virtualenv, the
# SynapseML transforms oracle), then runs Go vet + tests (unit, multi-process
# end-to-end, real HDFS) and the Python tests (pyarrow, pandas, PySpark with
# Spark as the oracle, SynapseML's ImageTransformer as the transforms oracle).
#
# Every stage runs even when an earlier one failed (a failed install makes
# later stages fail too, and they say so), so one failure never hides the
# others. Each stage runs in a subshell with `set -euo pipefail`: within a
# stage the first failing command ends that stage. The run ends with one
# table of every stage's result and duration, then a last line
# "N passed, N failed"; the exit status is non-zero if any stage failed.
set -uo pipefail
cd "$(dirname "$0")/.."

# Ctrl-C stops the whole run, not just the current stage.
trap 'printf "\ninterrupted\n" >&2; exit 130' INT TERM

names=() results=() durations=()

# stage NAME FUNCTION: runs FUNCTION in a subshell with errexit, timed.
stage() {
  local name=$1 fn=$2 start=$SECONDS rc
  printf '\n=== %s\n' "$name"
  ( set -euo pipefail; "$fn" )
  rc=$?
  local took=$(( SECONDS - start ))
  names+=("$name") durations+=("$took")
  if [ "$rc" -eq 0 ]; then results+=(PASS); else results+=(FAIL); fi
  printf '=== %s: %s (exit %d) in %dm%02ds\n' "$name" "${results[-1]}" "$rc" $(( took / 60 )) $(( took % 60 ))
}

system_packages() {
  local need=()
  [ -f /usr/include/jpeglib.h ] || need+=(libjpeg62-turbo-dev)
  [ -f /usr/include/zlib.h ] || need+=(zlib1g-dev)
  [ -f /usr/include/webp/decode.h ] || need+=(libwebp-dev)
  command -v dwebp >/dev/null || need+=(webp)
  command -v java >/dev/null || need+=(openjdk-17-jdk-headless)
  command -v mvn >/dev/null || need+=(maven)
  command -v kinit >/dev/null || need+=(krb5-user)   # ticket-cache logins in the Kerberos HDFS tests
  [ -x /usr/bin/chromium ] || need+=(chromium)        # the console's browser test (Playwright drives it)
  python3 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)
  if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
    else
      echo "missing packages: ${need[*]} (install them with apt-get)" >&2; return 1
    fi
  fi
}

go_modules() { go mod download; }

hdfs_jars() { test/hdfs/setup.sh; }

python_venv() { IMAGEFLIGHT_TEST_TORCH=1 test/python/setup.sh; }

# The transforms oracle: Spark 3.5 (PyPI pyspark 3.5.9) + SynapseML 1.1.0 in
# their own virtualenv, SynapseML's jars (OpenCV 3.2.0) from Maven Central.
synapseml_oracle() { test/synapseml/setup.sh; }

lint() {
  local unformatted
  unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.venv/*'))
  if [ -n "$unformatted" ]; then echo "gofmt needed: $unformatted" >&2; return 1; fi
  go vet ./...
  go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...
  # test/e2e/spark_test.go builds only with the tag of its own stage.
  go vet -tags sparkjvm ./test/e2e/
  go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 -tags sparkjvm ./test/e2e/
}

# -timeout is per package: the HDFS packages start JVM clusters, which a
# loaded machine starves for many minutes.
go_test() { go test -count=1 -timeout 90m ./...; }

race_unit() {
  go test -race -count=1 -timeout 30m ./pkg/plan/ ./pkg/planner/ ./pkg/pipeline/ ./pkg/flight/ ./pkg/membership/ ./pkg/server/ ./pkg/imagerow/
}

# Fault tests with race-built binaries.
race_faults() { GOFLAGS=-race go test -count=1 -timeout 30m -run 'TestFaults' ./test/e2e/; }

# CGO_ENABLED=0: image/jpeg instead of libjpeg-turbo.
pure_go() { CGO_ENABLED=0 go test -count=1 -timeout 30m ./pkg/imagerow/ ./pkg/corpus/ ./pkg/plan/ ./pkg/planner/ ./pkg/schema/ ./pkg/pipeline/ ./pkg/flight/ ./pkg/wire/ ./pkg/stage/ ./pkg/model/ ./pkg/client/; }

# Counted, not timed: a duration -fuzztime races the fuzz coordinator's own
# deadline on a loaded machine (go.dev/issue/75804, fixed in Go 1.27) and
# fails with "context deadline exceeded" and no crasher. Crashers land in
# testdata/fuzz and stay as regression cases.
fuzz() {
  local f n=${FUZZEXECS:-200000}
  echo "bounded: $n inputs per target"
  for f in FuzzParseDescriptor FuzzVerifyTicket FuzzParseResume FuzzParseBatchMeta; do
    go test -run '^$' -fuzz "^$f\$" -fuzztime "${n}x" -timeout 20m ./pkg/wire/
  done
  for f in FuzzDecodeJPEG FuzzDecodePNG FuzzDecodeGIF FuzzDecodeBMP FuzzDecodeTIFF FuzzDecodeWebP; do
    go test -run '^$' -fuzz "^$f\$" -fuzztime "${n}x" -timeout 20m ./pkg/imagerow/
  done
  go test -run '^$' -fuzz '^FuzzReadIO$' -fuzztime "${n}x" -timeout 20m ./pkg/model/
}

pytest_stage() { .venv/bin/python -m pytest -q test/python; }

# The JVM Spark connector (clients/spark): its three jars built with Maven (Maven Central
# on the first run, offline after), each checked in real Spark in local[2] against a real
# coordinator and workers (test/e2e/spark_test.go); the README's PySpark example runs in
# the virtualenv's PySpark.
spark_jvm() {
  clients/spark/build.sh
  go test -tags sparkjvm -count=1 -timeout 60m -run '^TestSparkConnector$' ./test/e2e/
}

# Real HDFS, coordinator and workers in containers, faults.
docker_stage() {
  if [ "$(id -u)" != 0 ]; then
    echo "the docker compose test needs root (it installs and starts its own Docker engine)" >&2; return 1
  fi
  test/docker/run.sh
}

stage "system packages" system_packages
stage "go modules" go_modules
stage "hdfs minicluster jars" hdfs_jars
stage "python virtualenv (with PyTorch)" python_venv
stage "synapseml oracle (Spark 3.5, SynapseML 1.1.0)" synapseml_oracle
stage "gofmt, go vet, staticcheck" lint
stage "go test" go_test
stage "go test -race (unit packages)" race_unit
stage "go test -race (fault tests, race-built binaries)" race_faults
stage "go test, pure Go (CGO_ENABLED=0)" pure_go
stage "go test -fuzz" fuzz
stage "pytest" pytest_stage
stage "spark connector (JVM)" spark_jvm
stage "docker compose cluster" docker_stage

passed=0 failed=0
printf '\n=== summary\n'
printf '%-50s %-6s %9s\n' stage result duration
for i in "${!names[@]}"; do
  d=${durations[$i]}
  printf '%-50s %-6s %5dm%02ds\n' "${names[$i]}" "${results[$i]}" $(( d / 60 )) $(( d % 60 ))
  if [ "${results[$i]}" = PASS ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
done
printf 'total %dm%02ds\n' $(( SECONDS / 60 )) $(( SECONDS % 60 ))
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
