# Sourced by the scripts in scripts/cross and packaging: paths, logging and
# an idempotent installer for the Debian packages they need.
# shellcheck shell=bash

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck disable=SC2034 # used by the scripts that source this file
cache=${GATED_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gated}
sudo=
[ "$(id -u)" -eq 0 ] || sudo=sudo

log() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# need_debs PKG...: install those of the Debian packages that are missing
# (on this machine, amd64), quietly; does nothing when all are installed.
need_debs() {
	local p missing=()
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	log "installing Debian packages: ${missing[*]}"
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# debian_mirror: the Debian mirror this machine's apt uses (for the arm64
# sysroot and the install test's root), else deb.debian.org.
debian_mirror() {
	local m
	m=$(sed -n 's|^URIs: *\(https\?://[^ ]*/debian\)/\?$|\1|p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1)
	[ -n "$m" ] || m=$(sed -n 's|^deb \(\[[^]]*\] \)\?\(https\?://[^ ]*/debian\)/\? bookworm .*|\2|p' /etc/apt/sources.list 2>/dev/null | head -n1)
	echo "${m:-http://deb.debian.org/debian}"
}

# go_version_string: the version stamped into the binary, as the Makefile
# does it (VERSION overrides).
go_version_string() {
	if [ -n "${VERSION:-}" ]; then
		echo "$VERSION"
	else
		git -C "$top" describe --tags --always --dirty 2>/dev/null || echo dev
	fi
}
