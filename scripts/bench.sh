#!/usr/bin/env bash
# Run the benchmarks behind docs/performance.md and print their tables.
# The matcher runs on one core (GOMAXPROCS=1), as its target says; the face
# pipeline with one OpenBLAS thread (steadier on a 2-core machine).
set -euo pipefail
cd "$(dirname "$0")/.."
t=${BENCHTIME:-2s}
echo "# $(date -u +%F) $(lscpu | sed -n 's/^Model name: *//p') ($(nproc) cores), $(go version | cut -d' ' -f3)"
GOMAXPROCS=1 go test -run '^$' -bench 'Lookup|Reindex' -benchmem -benchtime "$t" ./internal/match/
GOMAXPROCS=1 go test -run '^$' -bench 'OneToN' -benchtime "$t" ./internal/recognizer/
OPENBLAS_NUM_THREADS=1 go test -run '^$' -bench 'Frame640x480|DescriptorPerFace' -benchtime 20x ./internal/recognizer/
GOMAXPROCS=1 go test -run '^$' -bench DescriptorPerFace -benchtime "$t" ./internal/recognizer/featurenet/ ./cmd/gated-eval/internal/mobileface/
go test -run '^$' -bench Fit -benchtime 1x ./internal/calibrate/
OPENBLAS_NUM_THREADS=1 go test -run '^$' -bench Pipelines640x480 -benchtime 40x ./internal/recognizer/facemodel/
OPENBLAS_NUM_THREADS=1 go test -run '^$' -bench FrameToRelay -benchtime 200x ./internal/daemon/
go test -run '^$' -bench DaemonMemory -benchtime 1x ./cmd/gated/
go test -run '^$' -bench 'CardToRelay' -benchtime 300x ./internal/fallback/
OPENBLAS_NUM_THREADS=1 go test -run '^$' -bench NIRCheck -benchtime 50x ./internal/recognizer/nirface/
go test -run '^$' -bench . ./internal/fallback/osdp/ ./internal/relay/
GATED_BENCH_RESIDENTS=${GATED_BENCH_RESIDENTS:-100000} GATED_BENCH_AUDIT=${GATED_BENCH_AUDIT:-1000000} go test -run '^$' -bench . -benchtime 3x ./internal/store/
