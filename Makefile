# gated: the two commands a new user needs are `make demo` and `make test`.
# Both run `make setup` first, which installs what is missing and is cheap
# when everything is there.

GO        ?= go
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
export GATED_CACHE    ?= $(HOME)/.cache/gated
export GATED_MODELS   ?= $(GATED_CACHE)/models
export GATED_TESTDATA ?= $(abspath ../shared/testdata)

LDFLAGS := -X main.version=$(VERSION)

.PHONY: all setup build demo test lint unit race bench fuzz release clean

all: build

## setup: install Debian packages, fetch and verify models and demo photos (idempotent)
setup:
	@scripts/setup.sh

## build: bin/gated for this machine
build: setup
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/gated ./cmd/gated

## demo: run the gate pipeline on the simulated camera with real photos
demo: build
	bin/gated demo

## test: everything CI checks: formatting, vet, staticcheck, unit tests with the real models and data
test: setup lint unit

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

unit:
	$(GO) test -count=1 -timeout 20m ./...

## race: the pure-Go concurrent packages under the race detector
race: setup
	$(GO) test -count=1 -race ./internal/match/...

## bench: benchmarks behind docs/performance.md (one core for the matcher)
bench: setup
	scripts/bench.sh

## fuzz: run every fuzz target for FUZZTIME (default 30s) and keep the corpus
fuzz: setup
	scripts/fuzz.sh

## release: portable binaries (see README, "Portable builds")
release: setup
	mkdir -p dist
	GOARCH=amd64 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o dist/gated-linux-amd64 ./cmd/gated

clean:
	rm -rf bin dist
