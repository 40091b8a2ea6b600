#!/usr/bin/env bash
# Installs what the OSDP interop test (internal/fallback/osdp) needs: a Python
# venv holding libosdp, the independent OSDP implementation whose peripheral
# device (reader) role our control panel is tested against.
#
# Idempotent and cached: the venv lives in $GATED_CACHE/venv (default
# ${XDG_CACHE_HOME:-$HOME/.cache}/gated/venv) and is left alone when it
# already holds the pinned version. The package is pinned to an exact version
# and its wheels to SHA-256 hashes (pip --require-hashes, wheels only: nothing
# is compiled). Needs python3 with venv (Debian: python3 python3-venv) and,
# for the test itself, socat; scripts/setup.sh installs both.
#
# Prints the venv's python path; the test finds it there, or through
# GATED_LIBOSDP_PYTHON.
set -euo pipefail

version=3.2.9
cache=${GATED_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gated}
venv=$cache/venv
py=${PYTHON:-python3}
stamp=$venv/.libosdp-$version
log() { printf 'setup-libosdp: %s\n' "$*" >&2; }

if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] &&
	"$venv/bin/python" -c 'import osdp, osdp_sys' 2>/dev/null; then
	log "libosdp $version ready"
	echo "$venv/bin/python"
	exit 0
fi

command -v "$py" >/dev/null || { log "error: $py not found: apt install python3 python3-venv"; exit 1; }
command -v socat >/dev/null || log "warning: socat not found (the test needs it): apt install socat"

pyver=$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
case "$pyver" in
3.11 | 3.12 | 3.13) ;;
*) log "error: python $pyver: libosdp $version has wheels for python 3.11-3.13 only (set PYTHON=python3.11)"; exit 1 ;;
esac

if [ ! -x "$venv/bin/python" ]; then
	log "creating venv $venv (python $pyver)"
	mkdir -p "$cache"
	"$py" -m venv "$venv" || { log "error: venv failed: apt install python3-venv"; exit 1; }
fi

# Hashes of the libosdp 3.2.9 wheels on PyPI (manylinux x86_64 and aarch64,
# CPython 3.11-3.13). To move to a new version: pip download --no-deps
# --only-binary=:all: for each platform, then sha256sum.
req=$(mktemp)
trap 'rm -f "$req"' EXIT
cat >"$req" <<REQ
libosdp==$version \\
    --hash=sha256:d21da1987774c88e0f52ae9daa734646241f6001c17badfc978415720015d829 \\
    --hash=sha256:892011f1da09c3d6ec00180e06b002b43e4696fa14311ba91466d8d91904d93e \\
    --hash=sha256:d5c9f86b2a2d1d870d271b2af1e2ef5f79344a92a1601ec1162cbf470d2ecd1f \\
    --hash=sha256:757b1093f8994539cc1e26b688140eac9c69a6b8283ba75e123385857f681d54 \\
    --hash=sha256:09ffe6b7fb1f989e8c0f22f3e431af8e37c6c0554881c2e938ec46ca151589c6 \\
    --hash=sha256:afd4e310769a3ee7602a88f2b8a158c50451acbac8908c7f319604f065911df4
REQ
log "installing libosdp $version"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps \
	--only-binary=:all: --require-hashes -r "$req"
"$venv/bin/python" -c 'import osdp, osdp_sys' || { log "error: libosdp does not import"; exit 1; }
rm -f "$venv"/.libosdp-*
touch "$stamp"
log "libosdp $version ready"
echo "$venv/bin/python"
