#!/usr/bin/env bash
# Runs every check and test of peerpath on a fresh machine, installing what
# it needs. CI runs exactly this (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"

echo "== go: $(go version)"

# The browser tests drive Debian's Chromium.
if ! command -v chromium >/dev/null 2>&1; then
	echo "== installing chromium (apt)"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq chromium >/dev/null
fi
# The C example jobs' test rebuilds their checked-in modules with Debian's
# clang for wasm32-wasi and compares the bytes (examples/c).
if ! command -v clang >/dev/null 2>&1 || [ ! -e /usr/lib/wasm32-wasi/crt1-command.o ]; then
	echo "== installing clang for wasm32-wasi (apt)"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq clang lld wasi-libc libclang-rt-dev-wasm32 >/dev/null
fi
go mod download

echo "== go mod tidy -diff"
# go.mod and go.sum must be exactly what `go mod tidy` writes: direct
# dependencies unmarked, nothing missing, nothing stale.
if ! go mod tidy -diff; then
	echo "go.mod/go.sum are not tidy: run go mod tidy"; exit 1
fi

echo "== gofmt"
bad=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$bad" ]; then
	echo "gofmt needed on:"; echo "$bad"; exit 1
fi

echo "== go vet"
go vet ./...

# Packages whose tests start real daemons as processes; they build the binary
# themselves and run without -race to keep CI within its budget.
e2e="./test/..."
# Everything else runs under the race detector: that is where concurrency lives.
pkgs=$(go list ./... | grep -v '/test/')

echo "== go test -race (packages)"
go test -race -timeout 15m $pkgs

echo "== go test (search simulation at CI size, latency asserted without -race)"
go test -timeout 5m -count=1 -run '^TestSimulate(Real)?CI$' ./internal/search/searchsim/

echo "== go test (messages simulation at CI size, latency asserted without -race)"
go test -timeout 5m -count=1 -run '^TestSimulateCI$' ./internal/msg/msgsim/

echo "== go test (end-to-end, real daemons and headless Chromium)"
go test -timeout 15m -count=1 $e2e
