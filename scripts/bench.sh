#!/usr/bin/env bash
# Run the benchmarks behind docs/performance.md and print their tables.
# The matcher runs on one core (GOMAXPROCS=1), as its target says.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "# $(date -u +%F) $(lscpu | sed -n 's/^Model name: *//p') ($(nproc) cores), $(go version | cut -d' ' -f3)"
GOMAXPROCS=1 go test -run '^$' -bench 'OneToN|Frame640x480|DescriptorPerFace' -benchtime "${BENCHTIME:-3s}" ./internal/recognizer/
GOMAXPROCS=1 go test -run '^$' -bench 'Lookup|Reindex' -benchmem -benchtime "${BENCHTIME:-3s}" ./internal/match/
