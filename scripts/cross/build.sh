#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Build a portable gated for one architecture of Debian 12:
#
#   amd64: on this machine, as `make build` does, with go-face's C++ at
#          -march=x86-64-v2 (scripts/goface-portable.sh);
#   arm64: cross-built with Debian's aarch64-linux-gnu gcc against the arm64
#          sysroot (scripts/cross/sysroot.sh), go-face's C++ at
#          -march=armv8-a (NEON is part of ARMv8-A), Go's own code at
#          GOARM64=v8.0: it runs on any 64-bit ARM board.
#
# Then checks that the result is what it says: no "native" CPU flag reaches
# any compiler (cgo directives, pkg-config, the environment), and
# scripts/cross/check-cpu.sh reads the machine code of the cgo objects: the
# ELF machine, no instruction above the baseline, NEON used on arm64.
#
# Usage: scripts/cross/build.sh amd64|arm64 OUT      (VERSION=... sets the version)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/env.sh"

arch=${1:?usage: build.sh amd64|arm64 OUT}
out=${2:?usage: build.sh amd64|arm64 OUT}
version=$(go_version_string)
cd "$top"

"$top/scripts/goface-portable.sh"
cross_env "$arch"
case "$arch" in
amd64) want_march="-march=${GOFACE_MARCH_AMD64:-x86-64-v2}" elf='x86-64' ;;
arm64) want_march="-march=${GOFACE_MARCH_ARM64:-armv8-a}" elf='ARM aarch64' ;;
esac

# No CPU-specific flag may reach a compiler. go-face's directives must carry
# the portable target for this architecture; nothing may say "native".
grep -qF -- "$want_march" third_party/go-face/face.go ||
	die "third_party/go-face/face.go does not build with $want_march (scripts/goface-portable.sh)"
flags=$(go list -deps -f '{{if .CgoFiles}}{{.ImportPath}}: {{.CgoCFLAGS}} {{.CgoCPPFLAGS}} {{.CgoCXXFLAGS}} {{.CgoLDFLAGS}} {{.CgoPkgConfig}}{{end}}' ./cmd/gated)
flags+=$'\n'"env: ${CGO_CFLAGS:-} ${CGO_CPPFLAGS:-} ${CGO_CXXFLAGS:-} ${CGO_LDFLAGS:-} ${CC:-} ${CXX:-}"
flags+=$'\n'"pkg-config opencv4: $(pkg-config --cflags --libs opencv4)"
if grep -E -- '-m(arch|cpu|tune)=native' <<<"$flags"; then
	die "a native CPU flag would reach the $arch build (above)"
fi

mkdir -p "$(dirname "$out")"
# The external linker's inputs (the cgo objects) are kept here for
# check-cpu.sh.
mkdir -p "$top/dist"
linkdir=$(mktemp -d "$top/dist/.link-$arch.XXXXXX")
# shellcheck disable=SC2064 # expand $linkdir now
trap "rm -rf '$linkdir'" EXIT
start=$(date +%s)
go build -trimpath -ldflags "-X main.version=$version -tmpdir=$linkdir" -o "$out" ./cmd/gated
desc=$(file -b "$out")
case "$desc" in
*"$elf"*) ;;
*) die "$out is not a $elf binary: $desc" ;;
esac
log "$out ($arch, version $version, $(($(date +%s) - start)) s): ${desc%%, BuildID*}"
"$top/scripts/cross/check-cpu.sh" "$arch" "$out" "$linkdir"
