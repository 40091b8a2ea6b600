#!/usr/bin/env bash
# Fetch the real face photos that `make demo` shows to the simulated camera:
# the test images of the face_recognition package (MIT licence; official
# White House portraits, public domain), from its source archive on PyPI.
# The archive's SHA-256 is pinned; a mismatch is refused.
#
# Usage: scripts/fetch-demo-photos.sh [dest]  (default: $GATED_CACHE/demo-photos)
set -euo pipefail

cache=${GATED_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gated}
dest=${1:-$cache/demo-photos}
ver=1.3.0
tgz=face_recognition-$ver.tar.gz
sha=5e5efdd1686aa566af0d3cc1313b131e4b197657a8ffd03669e6d3fad92705ec
photos=(obama.jpg obama2.jpg obama3.jpg biden.jpg obama_partial_face.jpg 32bit.png)

log() { printf 'fetch-demo-photos: %s\n' "$*" >&2; }

if [ -f "$dest/.complete" ] && [ "$(cat "$dest/.complete")" = "$sha" ]; then
	exit 0
fi
mkdir -p "$cache/download"
archive=$cache/download/$tgz
if [ ! -f "$archive" ] || [ "$(sha256sum "$archive" | cut -d' ' -f1)" != "$sha" ]; then
	log "downloading $tgz from PyPI"
	rm -f "$archive"
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	python3 -m pip download --quiet --no-deps --no-binary :all: "face_recognition==$ver" -d "$tmp" ||
		{ log "error: pip could not fetch face_recognition==$ver from PyPI"; exit 1; }
	mv "$tmp/$tgz" "$archive"
fi
got=$(sha256sum "$archive" | cut -d' ' -f1)
if [ "$got" != "$sha" ]; then
	log "error: $archive has SHA-256 $got, want $sha: refusing it"
	exit 1
fi
mkdir -p "$dest"
members=()
for p in "${photos[@]}"; do members+=("face_recognition-$ver/tests/test_images/$p"); done
tar -xzf "$archive" -C "$dest" --strip-components=3 "${members[@]}"
tar -xzf "$archive" -O "face_recognition-$ver/LICENSE" >"$dest/LICENSE.face_recognition"
printf '%s\n' "$sha" >"$dest/.complete"
log "demo photos in $dest"
