# gated: the two commands a new user needs are `make demo` and `make test`.
# Both run `make setup` first, which installs what is missing and is cheap
# when everything is there.

GO        ?= go
# Evaluated once (:=), so that every binary and package of one make run
# carries the same version even if the tree changes meanwhile.
ifeq ($(origin VERSION),undefined)
VERSION   := $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
endif
export GATED_CACHE    ?= $(HOME)/.cache/gated
export GATED_MODELS   ?= $(GATED_CACHE)/models
export GATED_TESTDATA ?= $(abspath ../shared/testdata)

LDFLAGS := -X main.version=$(VERSION)
SUDO    := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)

.PHONY: all setup build demo test lint unit race bench fuzz release test-arm64 deb package-test clean

all: build

## setup: install Debian packages, fetch and verify models and demo photos (idempotent)
setup:
	@scripts/setup.sh
	@packaging/tools.sh

## build: bin/gated for this machine, bin/gated-lock (static: the door lock systemd runs) and bin/gated-eval (the accuracy measurements, docs/accuracy.md; not packaged)
build: setup
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/ ./cmd/gated ./cmd/gated-eval
	CGO_ENABLED=0 $(GO) build -ldflags '$(LDFLAGS)' -o bin/ ./cmd/gated-lock

## demo: run the gate pipeline on the simulated camera with real photos
demo: build
	bin/gated demo

## test: everything CI checks: both commands build; formatting, vet, staticcheck, unit tests with the real models and data
test: build lint unit

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

# cmd/gated's end-to-end tests of the real binary take about 15 min on 2 cores
# (2026-12-02); the package timeout leaves room for a slower machine.
unit:
	$(GO) test -count=1 -timeout 40m ./...
	@# The frame-to-relay benchmark drives the daemon's own camera path: run it
	@# once so that a change there cannot break `make bench` unseen.
	$(GO) test -count=1 -run '^$$' -bench 'FrameToRelay/yunet' -benchtime 1x ./internal/daemon/

## race: the pure-Go concurrent packages under the race detector
race: setup
	$(GO) test -count=1 -race ./internal/match/...

## bench: benchmarks behind docs/performance.md (one core for the matcher)
bench: setup
	scripts/bench.sh

## fuzz: run every fuzz target for FUZZTIME (default 30s) and keep the corpus
fuzz: setup
	scripts/fuzz.sh

## release: portable binaries for amd64 and arm64: gated, and gated-lock (static) (cross-built; see docs/arm64.md)
release: setup
	VERSION=$(VERSION) scripts/cross/build.sh amd64 dist/gated-linux-amd64
	VERSION=$(VERSION) scripts/cross/build.sh arm64 dist/gated-linux-arm64
	VERSION=$(VERSION) scripts/cross/build-lock.sh amd64 dist/gated-lock-linux-amd64
	VERSION=$(VERSION) scripts/cross/build-lock.sh arm64 dist/gated-lock-linux-arm64

## test-arm64: the arm64 build's tests under qemu-user-static (GATED_ARM64_FULL=1: every recognizer test)
test-arm64: setup
	VERSION=$(VERSION) scripts/cross/build.sh arm64 dist/gated-linux-arm64
	VERSION=$(VERSION) scripts/cross/build-lock.sh arm64 dist/gated-lock-linux-arm64
	scripts/cross/test-arm64.sh

## deb: Debian packages in dist/deb: gated for amd64 and arm64, gated-models (docs/packaging.md)
deb: release
	rm -rf dist/deb
	VERSION=$(VERSION) packaging/build-deb.sh gated amd64 dist/gated-linux-amd64 dist/gated-lock-linux-amd64 dist/deb
	VERSION=$(VERSION) packaging/build-deb.sh gated arm64 dist/gated-linux-arm64 dist/gated-lock-linux-arm64 dist/deb
	VERSION=$(VERSION) packaging/build-deb.sh models dist/deb

## package-test: install the amd64 packages into a throwaway Debian 12 root and check them (root)
package-test: deb
	$(SUDO) packaging/install-test.sh dist/deb/gated_*_amd64.deb dist/deb/gated-models_*_all.deb

clean:
	rm -rf bin dist
