#!/usr/bin/env bash
# Run every fuzz target of the project for FUZZTIME each (default 30s), then
# keep the corpus: new interesting inputs found in Go's fuzz cache are copied
# into the package's testdata/fuzz/<Target>/, where `go test` replays them.
#
# Usage: scripts/fuzz.sh [package pattern...]   (default ./...)
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-30s}
cache=$(go env GOCACHE)/fuzz
pkgs=("$@")
[ ${#pkgs[@]} -gt 0 ] || pkgs=(./...)

for pkg in $(go list "${pkgs[@]}"); do
	dir=$(go list -f '{{.Dir}}' "$pkg")
	for target in $(go test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true); do
		echo "fuzz: $pkg $target for $fuzztime" >&2
		go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg"
		src=$cache/$pkg/$target
		if [ -d "$src" ]; then
			mkdir -p "$dir/testdata/fuzz/$target"
			cp -n "$src"/* "$dir/testdata/fuzz/$target/" 2>/dev/null || true
		fi
	done
done
