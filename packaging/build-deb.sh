#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Build gated's Debian 12 packages with dpkg-deb:
#
#   gated_<version>_<arch>.deb      the daemon and command (BINARY), the door
#                                   lock systemd runs (LOCK, gated-lock: static,
#                                   in /usr/lib/gated), its systemd units,
#                                   sysusers, udev rules, the example
#                                   configuration, and gated-fetch-models, which
#                                   fetches and verifies the dlib models;
#   gated-models_<version>_all.deb  the three dlib model files (CC0), taken
#                                   from the model cache after checking each
#                                   against models/SHA256SUMS.
#
# The package's Depends are derived from the libraries BINARY links against
# (readelf) and the shlibs files of the Debian packages that provide them: on
# this machine's dpkg database for amd64, from the arm64 sysroot's index
# (scripts/cross/sysroot.sh) for arm64. LOCK must be static (no interpreter,
# no shared library), so it adds none; a LOCK that is not is refused. The packages' files and modes are
# checked by packaging/deb_test.go; packaging/install-test.sh installs them
# into a throwaway Debian root. docs/packaging.md says what they do.
#
# Usage: packaging/build-deb.sh gated ARCH BINARY LOCK OUTDIR
#        packaging/build-deb.sh models OUTDIR
# (VERSION=... sets the version, as for make release; GATED_MODELS the model
# directory; DEB_COMPRESSION=gzip builds faster than the default xz, for
# tests.) Prints the path of the package it built.
set -euo pipefail
. "$(dirname "$0")/../scripts/cross/lib.sh"

what=${1:?usage: build-deb.sh gated ARCH BINARY LOCK OUTDIR | models OUTDIR}
pkgdir=$top/packaging
maintainer='gated developers <gated-dev@users.noreply.github.com>'
homepage=https://github.com/gated-dev/gated
command -v dpkg-deb >/dev/null || die "dpkg-deb is missing (apt install dpkg)"
command -v readelf >/dev/null || die "readelf is missing (apt install binutils)"

# deb_version: a Debian version for the version gated is stamped with:
# v1.2.3 -> 1.2.3, v1.2.3-4-gabcdef0 -> 1.2.3+4.gabcdef0, and without a tag
# 0~git<commit date>.<commit> (~ sorts it before any release). A build from
# a tree with changes gets +dirty.
deb_version() {
	local v d dirty=''
	v=$(go_version_string)
	case "$v" in *-dirty) dirty=+dirty v=${v%-dirty} ;; esac
	if [[ $v =~ ^[0-9a-f]{7,40}$ ]]; then
		d=$(git -C "$top" log -1 --format=%cd --date=format:%Y%m%d "$v" 2>/dev/null) || d=0
		v="0~git$d.$v"
	elif [[ $v =~ ^v?([0-9]+(\.[0-9A-Za-z]+)+)(-([0-9]+)-(g[0-9a-f]+))?$ ]]; then
		v=${BASH_REMATCH[1]}
		[ -z "${BASH_REMATCH[3]}" ] || v+="+${BASH_REMATCH[4]}.${BASH_REMATCH[5]}"
	else
		v="0~$(tr -c 'A-Za-z0-9.+~\n' . <<<"$v")"
	fi
	echo "$v$dirty"
}

# shlibs_depends ARCH BINARY: the Depends for the libraries BINARY needs.
shlibs_depends() {
	local arch=$1 bin=$2 shlibs needed lib name ver line deps=()
	if [ "$arch" = amd64 ]; then
		# This machine's packages; the arm64 ones of a multiarch set-up
		# are named <package>:arm64.shlibs.
		shlibs=$(find /var/lib/dpkg/info -name '*.shlibs' ! -name '*:arm64.shlibs' -exec cat {} +)
	else
		local sysroot
		sysroot=$("$top/scripts/cross/sysroot.sh")
		shlibs=$(cat "$sysroot/.gated/shlibs")
	fi
	needed=$(readelf -d "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]$/\1/p')
	[ -n "$needed" ] || die "$bin needs no shared library: is it gated?"
	for lib in $needed; do
		case "$lib" in ld-linux-*) continue ;; esac
		# libfoo.so.1.2 -> "libfoo 1.2"; libfoo-1.2.so -> "libfoo-1.2"
		if [[ $lib =~ ^(.*)\.so\.(.*)$ ]]; then
			name=${BASH_REMATCH[1]} ver=${BASH_REMATCH[2]}
		else
			name=${lib%.so} ver=
		fi
		line=$(awk -v n="$name" -v v="$ver" '$1 == n && $2 == v { $1 = ""; $2 = ""; sub(/^ +/, ""); print; exit }' <<<"$shlibs")
		[ -n "$line" ] || die "no shlibs entry for $lib ($arch): is the package that provides it installed (amd64) or in the sysroot (arm64)?"
		# Drop architecture qualifiers (libc6:arm64): Depends are per arch.
		# shellcheck disable=SC2001
		deps+=("$(sed 's/:[a-z0-9]*//g' <<<"$line")")
	done
	printf '%s\n' "${deps[@]}" | sort -u | paste -sd, - | sed 's/,/, /g'
}

# finish ROOT OUTDIR NAME: md5sums, Installed-Size, then the .deb with every
# file owned by root.
finish() {
	local root=$1 outdir=$2 name=$3
	(cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum) >"$root/DEBIAN/md5sums"
	chmod 0644 "$root/DEBIAN/md5sums"
	sed -i "s/^Installed-Size: .*/Installed-Size: $(du -sk --exclude=DEBIAN "$root" | cut -f1)/" "$root/DEBIAN/control"
	mkdir -p "$outdir"
	dpkg-deb --root-owner-group "-Z${DEB_COMPRESSION:-xz}" --build "$root" "$outdir/$name" >/dev/null
	echo "$outdir/$name"
}

# check_static ARCH BINARY: BINARY is a static ELF executable for ARCH.
check_static() {
	local arch=$1 bin=$2 machine
	case "$arch" in amd64) machine='Advanced Micro Devices X86-64' ;; arm64) machine='AArch64' ;; esac
	readelf -hW "$bin" | grep -q "Machine: *$machine\$" || die "$bin is not an $arch ELF executable"
	if readelf -lW "$bin" | grep -q INTERP || readelf -dW "$bin" 2>/dev/null | grep -q '(NEEDED)'; then
		die "$bin is not static: it would need Depends of its own (build it with scripts/cross/build-lock.sh $arch $bin)"
	fi
}

build_gated() {
	local arch=$1 bin=$2 lock=$3 outdir=$4 version root depends
	case "$arch" in amd64 | arm64) ;; *) die "unknown architecture $arch (amd64 or arm64)" ;; esac
	[ -x "$bin" ] || die "$bin is not there: build it first (scripts/cross/build.sh $arch $bin, or make release)"
	"$bin" --version >/dev/null 2>&1 || [ "$arch" != amd64 ] || die "$bin --version fails"
	[ -x "$lock" ] || die "$lock is not there: build it first (scripts/cross/build-lock.sh $arch $lock, or make release)"
	check_static "$arch" "$lock"
	"$lock" --version >/dev/null 2>&1 || [ "$arch" != amd64 ] || die "$lock --version fails"
	version=$(deb_version)
	depends=$(shlibs_depends "$arch" "$bin")
	root=$(mktemp -d "${TMPDIR:-/tmp}/gated-deb.XXXXXX")
	chmod 0755 "$root"
	# shellcheck disable=SC2064 # expand $root now
	trap "rm -rf '$root'" RETURN

	install -d -m 0755 "$root/DEBIAN" "$root/usr/bin" "$root/usr/sbin" "$root/lib/systemd/system" \
		"$root/usr/lib/gated" "$root/usr/lib/sysusers.d" "$root/lib/udev/rules.d" "$root/usr/share/doc/gated" \
		"$root/usr/share/gated/models" "$root/usr/share/gated/scripts"
	install -m 0755 "$bin" "$root/usr/bin/gated"
	# The door lock gated.service runs before every start and after every
	# stop: not a command for people, so not on PATH.
	install -m 0755 "$lock" "$root/usr/lib/gated/gated-lock"
	install -m 0644 "$top/deploy/gated.service" "$top/deploy/gated-kiosk.service" "$root/lib/systemd/system/"
	install -m 0644 "$top/deploy/gated.sysusers" "$root/usr/lib/sysusers.d/gated.conf"
	install -m 0644 "$top/deploy/99-gated.rules" "$root/lib/udev/rules.d/99-gated.rules"
	# The example configuration (gated check points at it) and the kiosk
	# drop-in: nothing in /etc, the administrator writes that.
	install -m 0644 "$top/deploy/gated.toml" "$root/usr/share/doc/gated/gated.toml"
	install -m 0644 "$top/configs/gated.toml" "$root/usr/share/doc/gated/gated.toml.reference"
	install -m 0644 "$top/deploy/gated.service.d/kiosk.conf" "$root/usr/share/doc/gated/kiosk.conf"
	install -m 0644 "$pkgdir/copyright" "$root/usr/share/doc/gated/copyright"
	# Model fetching, verified against the SHA-256 sums gated pins.
	install -m 0644 "$top/models/SHA256SUMS" "$root/usr/share/gated/models/SHA256SUMS"
	install -m 0755 "$top/scripts/fetch-models.sh" "$root/usr/share/gated/scripts/fetch-models.sh"
	install -m 0755 "$pkgdir/gated-fetch-models" "$root/usr/sbin/gated-fetch-models"
	install -m 0755 "$pkgdir/postinst" "$pkgdir/prerm" "$pkgdir/postrm" "$root/DEBIAN/"

	cat >"$root/DEBIAN/control" <<EOF
Package: gated
Version: $version
Architecture: $arch
Maintainer: $maintainer
Installed-Size: 0
Depends: $depends, systemd (>= 247), init-system-helpers
Recommends: gated-models | curl, bzip2
Suggests: cage, chromium
Section: admin
Priority: optional
Homepage: $homepage
Description: face-access gate controller
 gated opens a residential gate's door by face, card or PIN, on the gate's
 own board. Face templates are matched and stored encrypted on the device;
 the daemon listens on no network port; card and PIN always work.
 .
 The service starts once /etc/gated/gated.toml is valid and the device key
 /etc/gated/kek exists (see /usr/share/doc/gated/gated.toml and
 gated keygen). The dlib models come from the gated-models package or
 gated-fetch-models.
EOF
	finish "$root" "$outdir" "gated_${version}_$arch.deb"
}

build_models() {
	local outdir=$1 version root models rel
	version=$(deb_version)
	models=${GATED_MODELS:-$cache/models}
	root=$(mktemp -d "${TMPDIR:-/tmp}/gated-models-deb.XXXXXX")
	chmod 0755 "$root"
	# shellcheck disable=SC2064 # expand $root now
	trap "rm -rf '$root'" RETURN
	(cd "$models" && grep -v '^#' "$top/models/SHA256SUMS" | awk 'NF == 2 && $2 ~ /^(dlib|yunet)\//' | sha256sum --quiet -c -) ||
		die "the dlib and YuNet models in $models do not match models/SHA256SUMS: run scripts/fetch-models.sh and scripts/fetch-face-model.sh yunet"
	install -d -m 0755 "$root/DEBIAN" "$root/usr/share/gated/models/dlib" "$root/usr/share/gated/models/yunet" "$root/usr/share/doc/gated-models"
	grep -v '^#' "$top/models/SHA256SUMS" | awk 'NF == 2 && $2 ~ /^(dlib|yunet)\// { print $2 }' | while read -r rel; do
		install -m 0644 "$models/$rel" "$root/usr/share/gated/models/$rel"
	done
	install -m 0644 "$pkgdir/copyright.models" "$root/usr/share/doc/gated-models/copyright"
	cat >"$root/DEBIAN/control" <<EOF
Package: gated-models
Version: $version
Architecture: all
Maintainer: $maintainer
Installed-Size: 0
Section: misc
Priority: optional
Homepage: $homepage
Description: face models for gated
 The three dlib model files gated uses (5-point landmarks, the ResNet face
 descriptor, the MMOD face detector), by Davis King, CC0 1.0, and OpenCV
 Zoo's YuNet face detector (MIT), gated's default detector; each checked
 against gated's pinned SHA-256 when this package was built, and again by
 the daemon when it loads them.
EOF
	finish "$root" "$outdir" "gated-models_${version}_all.deb"
}

case "$what" in
gated) build_gated "${2:?ARCH}" "${3:?BINARY}" "${4:?LOCK}" "${5:?OUTDIR}" ;;
models) build_models "${2:?OUTDIR}" ;;
*) die "usage: build-deb.sh gated ARCH BINARY LOCK OUTDIR | models OUTDIR" ;;
esac
