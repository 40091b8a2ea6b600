#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Build gated-lock, the door-lock command systemd runs before every start
# and after every stop of gated (deploy/gated.service), for one
# architecture: pure Go, CGO_ENABLED=0, so the same command cross-builds for
# arm64 with no sysroot or C toolchain (Go's own code at GOARM64=v8.0 or
# GOAMD64=v1, as scripts/cross/build.sh builds gated).
#
# Then checks that the result is what systemd relies on: an ELF executable
# for the architecture, statically linked (no interpreter, no shared
# library: it starts in milliseconds, and the package needs no Depends for
# it).
#
# Usage: scripts/cross/build-lock.sh amd64|arm64 OUT      (VERSION=... sets the version)
set -euo pipefail
. "$(dirname "$0")/lib.sh"

arch=${1:?usage: build-lock.sh amd64|arm64 OUT}
out=${2:?usage: build-lock.sh amd64|arm64 OUT}
version=$(go_version_string)
cd "$top"
case "$arch" in
amd64) elf='x86-64' goenv=(GOAMD64=v1) ;;
arm64) elf='ARM aarch64' goenv=(GOARM64=v8.0) ;;
*) die "unknown architecture $arch (amd64 or arm64)" ;;
esac
command -v readelf >/dev/null || die "readelf is missing (apt install binutils)"
command -v file >/dev/null || die "file is missing (apt install file)"

mkdir -p "$(dirname "$out")"
start=$(date +%s)
env CGO_ENABLED=0 GOOS=linux GOARCH="$arch" "${goenv[@]}" \
	go build -trimpath -ldflags "-X main.version=$version" -o "$out" ./cmd/gated-lock
desc=$(file -b "$out")
case "$desc" in
*"$elf"*", statically linked"*) ;;
*) die "$out is not a static $elf executable: $desc" ;;
esac
if readelf -lW "$out" | grep -q 'INTERP'; then die "$out asks for a program interpreter: not static"; fi
if readelf -dW "$out" 2>/dev/null | grep -q '(NEEDED)'; then die "$out needs shared libraries: not static"; fi
desc=${desc%%, Go BuildID*}
log "$out ($arch, version $version, $(($(date +%s) - start)) s, $(($(stat -c %s "$out") / 1024)) KiB): ${desc%%, BuildID*}"
