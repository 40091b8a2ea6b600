# Sourced (after lib.sh) by build.sh and test-arm64.sh: cross_env ARCH sets
# up the Go and C toolchains to build gated for linux/ARCH. For arm64 it
# also sets $sysroot.
# shellcheck shell=bash
# shellcheck disable=SC2154 # $top comes from lib.sh

cross_env() {
	case "$1" in
	amd64)
		export CGO_ENABLED=1 GOOS=linux GOARCH=amd64 GOAMD64=v1
		unset PKG_CONFIG_SYSROOT_DIR PKG_CONFIG_LIBDIR
		;;
	arm64)
		need_debs crossbuild-essential-arm64 pkg-config
		sysroot=$("$top/scripts/cross/sysroot.sh")
		export CGO_ENABLED=1 GOOS=linux GOARCH=arm64 GOARM64=v8.0
		export CC="aarch64-linux-gnu-gcc --sysroot=$sysroot"
		export CXX="aarch64-linux-gnu-g++ --sysroot=$sysroot"
		# -Wno-psabi: silence GCC's note that C++17 changed how std::pair is
		# passed on AArch64 in GCC 10.1 (everything here is built by GCC 12).
		export CGO_CXXFLAGS="${CGO_CXXFLAGS:--g -O2} -Wno-psabi"
		# gocv finds OpenCV through pkg-config opencv4: the sysroot's .pc
		# files only, with their -I/-L paths moved into the sysroot.
		export PKG_CONFIG=pkg-config
		export PKG_CONFIG_SYSROOT_DIR=$sysroot
		export PKG_CONFIG_LIBDIR=$sysroot/usr/lib/aarch64-linux-gnu/pkgconfig:$sysroot/usr/share/pkgconfig
		;;
	*) die "unknown architecture $1 (amd64 or arm64)" ;;
	esac
}
