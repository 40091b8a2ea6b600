#!/usr/bin/env bash
# One-time, idempotent set-up of a Debian 12 machine for building and testing
# gated. Safe to run again: each step checks first and does only what is missing.
#
#   1. Debian packages: dlib, OpenBLAS/LAPACK, libjpeg, OpenCV, socat, strace
#      (deploy's kiosk test traces Chromium's system calls), ...
#   2. the dlib model files, SHA-256 verified, into $GATED_CACHE/models, and
#      the other face models of the registry (models/face.go): fr_feature,
#      which the gate may use, and MobileFace, which only gated-eval compares
#      (scripts/fetch-face-model.sh)
#   3. third_party/go-face: go-face with a portable -march (scripts/goface-portable.sh)
#   4. the real face photos `make demo` uses (scripts/fetch-demo-photos.sh)
#   5. libosdp in a Python venv: the independent OSDP reader the OSDP test
#      talks to (scripts/setup-libosdp.sh)
#   6. Go modules and tools (go mod download)
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
log() { printf 'setup: %s\n' "$*" >&2; }

# Debian packages. go-face links -lcblas, which only libatlas-base-dev ships
# in Debian 12; OpenBLAS is installed beside it and wins the libblas.so.3
# alternative (priority 100), so dlib runs on OpenBLAS.
pkgs=(build-essential pkg-config ca-certificates curl bzip2
	libdlib-dev libopenblas-dev libblas-dev liblapack-dev libatlas-base-dev
	libjpeg-dev libopencv-dev socat python3 python3-pip python3-venv systemd
	chromium fonts-noto-cjk strace syncthing)
command -v npm >/dev/null || pkgs+=(npm)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	log "installing Debian packages: ${missing[*]}"
	sudo=
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
arch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo x86_64-linux-gnu)
blas=$(update-alternatives --query "libblas.so.3-$arch" 2>/dev/null | awk '/^Value:/ { print $2 }')
case "$blas" in
*openblas*) ;;
*) log "warning: libblas.so.3 is $blas, not OpenBLAS: dlib runs several times slower (sudo update-alternatives --config libblas.so.3-$arch)" ;;
esac

# Go 1.26 is needed; Debian 12's go is older, but any go >= 1.21 fetches the
# toolchain named in go.mod by itself.
command -v go >/dev/null || { log "error: Go is not installed: install Go 1.26 from https://go.dev/dl/"; exit 1; }

"$top/scripts/fetch-models.sh"
"$top/scripts/fetch-face-model.sh"
"$top/scripts/goface-portable.sh"
"$top/scripts/fetch-demo-photos.sh"
"$top/scripts/setup-libosdp.sh" >/dev/null
go mod download
log "ready (models in ${GATED_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gated}/models)"
