#!/usr/bin/env bash
# The whole test suite: installs what it needs (Debian packages, Go
# modules, Maven jars for the HDFS minicluster, the Python virtualenv),
# then runs Go vet + tests (unit, multi-process end-to-end, real HDFS) and
# the Python tests (pyarrow, pandas, PySpark with Spark as the oracle).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n=== %s\n' "$*"; }

step "system packages"
need=()
[ -f /usr/include/jpeglib.h ] || need+=(libjpeg62-turbo-dev)
[ -f /usr/include/png.h ] || need+=(libpng-dev)
[ -f /usr/include/zlib.h ] || need+=(zlib1g-dev)
[ -f /usr/include/webp/decode.h ] || need+=(libwebp-dev)
command -v dwebp >/dev/null || need+=(webp)
command -v java >/dev/null || need+=(openjdk-17-jdk-headless)
command -v mvn >/dev/null || need+=(maven)
command -v kinit >/dev/null || need+=(krb5-user)   # ticket-cache logins in the Kerberos HDFS tests
python3 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
  else
    echo "missing packages: ${need[*]} (install them with apt-get)" >&2; exit 1
  fi
fi

step "go modules"
go mod download

if [ -x test/hdfs/setup.sh ]; then
  step "hdfs minicluster jars"
  test/hdfs/setup.sh
fi

if [ -x test/python/setup.sh ]; then
  step "python virtualenv (with PyTorch for the DataLoader tests)"
  IMAGEFLIGHT_TEST_TORCH=1 test/python/setup.sh
fi

step "gofmt, go vet, staticcheck"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.venv/*'))
if [ -n "$unformatted" ]; then echo "gofmt needed: $unformatted" >&2; exit 1; fi
go vet ./...
go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

step "go test"
go test -count=1 -timeout 15m ./...

step "go test -race (unit packages; fault tests with race-built binaries)"
go test -race -count=1 ./pkg/plan/ ./pkg/flight/ ./pkg/membership/ ./pkg/server/ ./pkg/imagerow/
GOFLAGS=-race go test -count=1 -run 'TestFaults' ./test/e2e/

step "go test, pure Go (CGO_ENABLED=0: image/jpeg instead of libjpeg-turbo)"
CGO_ENABLED=0 go test -count=1 ./pkg/imagerow/ ./pkg/corpus/ ./pkg/plan/ ./pkg/flight/

# Counted, not timed: a duration -fuzztime races the fuzz coordinator's own
# deadline on a loaded machine (go.dev/issue/75804, fixed in Go 1.27) and
# fails with "context deadline exceeded" and no crasher.
step "go test -fuzz (bounded: ${FUZZEXECS:=200000} inputs per target; crashers land in testdata/fuzz and stay as regression cases)"
for f in FuzzParseDescriptor FuzzVerifyTicket FuzzParseResume FuzzParseBatchMeta; do
  go test -run '^$' -fuzz "^$f\$" -fuzztime "${FUZZEXECS}x" -timeout 5m ./pkg/wire/
done
for f in FuzzDecodeJPEG FuzzDecodePNG FuzzDecodeGIF FuzzDecodeBMP FuzzDecodeTIFF FuzzDecodeWebP; do
  go test -run '^$' -fuzz "^$f\$" -fuzztime "${FUZZEXECS}x" -timeout 5m ./pkg/imagerow/
done

if [ -d test/python ]; then
  step "pytest"
  .venv/bin/python -m pytest -q test/python
fi

if [ -x test/docker/run.sh ]; then
  step "docker compose cluster (real HDFS, coordinator and workers in containers, faults)"
  if [ "$(id -u)" = 0 ]; then
    test/docker/run.sh
  else
    echo "the docker compose test needs root (it installs and starts its own Docker engine)" >&2; exit 1
  fi
fi
