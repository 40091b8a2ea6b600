#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Make (once) and print the arm64 sysroot gated is cross-built against and its
# tests run in under qemu: Debian 12 arm64's dlib, OpenBLAS, LAPACK, ATLAS
# (for libcblas), libjpeg and OpenCV development packages, with everything
# they depend on, extracted into $GATED_CACHE/sysroot-arm64.
#
# Why a sysroot and not multiarch: libopencv-dev:arm64 cannot be installed
# beside the amd64 OpenCV (libgdal32 is not Multi-Arch: same), and a sysroot
# leaves this machine's dpkg database alone.
#
# How: mmdebstrap's "extract" variant downloads the packages and their
# dependencies from the Debian mirror this machine uses and unpacks them.
# Nothing arm64 is executed (no qemu, no binfmt_misc needed) and no
# maintainer script runs, so this script does by hand the one thing those
# would have done that linking needs: the libblas/liblapack alternatives,
# pointed at OpenBLAS as on the build machine. An index of the unpacked
# packages and their shlibs files is kept in $sysroot/.gated/ for
# packaging/build-deb.sh, which derives the arm64 package's Depends from it.
#
# Reruns print the path at once; the sysroot is rebuilt only when the
# package list, the mirror or this script's recipe changes (about 90 s and
# 1.3 GB).
#
# Usage: scripts/cross/sysroot.sh        prints the sysroot's path
set -euo pipefail
. "$(dirname "$0")/lib.sh"

arch=arm64
triplet=aarch64-linux-gnu
sysroot=${GATED_SYSROOT_ARM64:-$cache/sysroot-$arch}
# The same libraries scripts/setup.sh installs for amd64, plus the C and C++
# development files of the target.
pkgs=(libc6-dev libstdc++-12-dev
	libdlib-dev libopenblas-dev libblas-dev liblapack-dev libatlas-base-dev
	libjpeg-dev libopencv-dev)
mirror=$(debian_mirror)
recipe=4 # bump when what this script does to the tree changes
stamp="recipe=$recipe arch=$arch mirror=$mirror pkgs=${pkgs[*]}"

if [ -f "$sysroot/.gated/stamp" ] && [ "$(cat "$sysroot/.gated/stamp")" = "$stamp" ]; then
	echo "$sysroot"
	exit 0
fi

need_debs mmdebstrap dpkg-dev
mkdir -p "$cache"
tmp="$sysroot.new"
$sudo rm -rf "$tmp"
log "extracting Debian 12 $arch packages into $sysroot (about 90 s, 1.3 GB): ${pkgs[*]}"
include=$(
	IFS=,
	echo "${pkgs[*]}"
)
# The extract hook runs while the downloaded .debs are still in the tree's
# apt cache: it records each package, its version and its shlibs file.
# shellcheck disable=SC2016 # $1 is expanded by mmdebstrap's hook shell
index='mkdir -p "$1/.gated"
	for d in "$1"/var/cache/apt/archives/*.deb; do
		dpkg-deb --show --showformat="\${Package} \${Version} \${Architecture}\n" "$d"
		dpkg-deb --ctrl-tarfile "$d" | tar -xOf - ./shlibs 2>/dev/null | grep -v "^udeb:" >>"$1/.gated/shlibs" || true
	done | sort >"$1/.gated/packages"'
$sudo mmdebstrap --quiet --mode=root --variant=extract --architectures="$arch" \
	--include="$include" --extract-hook="$index" \
	bookworm "$tmp" \
	"deb $mirror bookworm main" \
	"deb $mirror bookworm-updates main" \
	"deb $mirror-security bookworm-security main"

# The alternatives the postinst scripts of libopenblas0-pthread and
# libopenblas-pthread-dev would register (OpenBLAS has the highest priority,
# so it is what a gate with these packages gets too). Relative links, so
# they resolve inside the sysroot.
libdir=$tmp/usr/lib/$triplet
for l in libblas.so libblas.so.3 liblapack.so liblapack.so.3 libopenblas.so libopenblas.so.0; do
	[ -e "$libdir/openblas-pthread/$l" ] || die "$libdir/openblas-pthread/$l is missing: has libopenblas-dev changed?"
	$sudo ln -sfn "openblas-pthread/$l" "$libdir/$l"
done
# Every library a link or a test will need must be there.
for l in libdlib.so libcblas.so libjpeg.so libopencv_core.so libopencv_dnn.so.406 libblas.so.3 liblapack.so.3; do
	[ -e "$libdir/$l" ] || die "$libdir/$l is missing from the sysroot"
done
[ -e "$tmp/lib/ld-linux-aarch64.so.1" ] || die "the sysroot has no dynamic loader"

# The owner does not matter in a sysroot: make it the caller's, so that
# nothing later needs root to read or clean it.
[ -z "$sudo" ] || $sudo chown -R "$(id -u):$(id -g)" "$tmp"
printf '%s\n' "$stamp" >"$tmp/.gated/stamp"
rm -rf "$sysroot"
mv "$tmp" "$sysroot"
log "$arch sysroot ready: $sysroot ($(wc -l <"$sysroot/.gated/packages") packages, $(du -sh "$sysroot" | cut -f1))"
echo "$sysroot"
