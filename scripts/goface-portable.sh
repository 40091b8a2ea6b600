#!/usr/bin/env bash
# Make third_party/go-face: github.com/Kagami/go-face at a pinned version,
# taken from the Go module cache (checked against its pinned module hash),
# with one change: upstream builds its C++ part with -march=native, which
# makes binaries that crash with SIGILL on any other CPU and breaks arm64
# cross builds. The copy uses an explicit, portable target per architecture:
#
#   amd64: GOFACE_MARCH_AMD64 (default x86-64-v2: SSE4.2, any x86-64 CPU since 2009)
#   arm64: GOFACE_MARCH_ARM64 (default armv8-a: every 64-bit ARM board; NEON is part of it)
#
# go.mod replaces github.com/Kagami/go-face with this directory. Nothing of
# it is committed (see .gitignore); rerunning is cheap and idempotent.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
mod=github.com/Kagami/go-face
ver=v0.0.0-20210630145111-0c14797b4d0e
sum='h1:lqIUFzxaqyYqUn4MhzAvSAh4wIte/iLNcIEWxpT/qbc='
amd64=${GOFACE_MARCH_AMD64:-x86-64-v2}
arm64=${GOFACE_MARCH_ARM64:-armv8-a}
out=$top/third_party/go-face
stamp="$mod@$ver amd64=$amd64 arm64=$arm64"

log() { printf 'goface-portable: %s\n' "$*" >&2; }

if [ -f "$out/.gated-stamp" ] && [ "$(cat "$out/.gated-stamp")" = "$stamp" ]; then
	exit 0
fi

json=$(cd "$top" && GOFLAGS=-mod=mod go mod download -json "$mod@$ver")
dir=$(printf '%s' "$json" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
got=$(printf '%s' "$json" | sed -n 's/^[[:space:]]*"Sum": "\(.*\)",$/\1/p')
if [ "$got" != "$sum" ]; then
	log "error: $mod@$ver has module hash $got, want $sum: refusing it"
	exit 1
fi

tmp=$(mktemp -d "$top/third_party/.go-face.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
cp -R "$dir/." "$tmp/"
chmod -R u+w "$tmp"
rm -f "$tmp/example_test.go" "$tmp/face_test.go" # they need go-face's own test data

want='// #cgo CXXFLAGS: -std=c++1z -Wall -O3 -DNDEBUG -march=native'
if ! grep -qxF "$want" "$tmp/face.go"; then
	log "error: $tmp/face.go no longer has the expected cgo line: check the patch"
	exit 1
fi
awk -v want="$want" -v amd64="$amd64" -v arm64="$arm64" '
	$0 == want {
		print "// #cgo CXXFLAGS: -std=c++1z -Wall -O3 -DNDEBUG"
		print "// #cgo amd64 CXXFLAGS: -march=" amd64 " -mtune=generic"
		print "// #cgo arm64 CXXFLAGS: -march=" arm64
		next
	}
	{ print }' "$tmp/face.go" >"$tmp/face.go.new"
mv "$tmp/face.go.new" "$tmp/face.go"
printf '%s\n' "$stamp" >"$tmp/.gated-stamp"

rm -rf "$out"
mv "$tmp" "$out"
trap - EXIT
log "$mod@$ver copied to third_party/go-face (amd64: -march=$amd64, arm64: -march=$arm64)"
