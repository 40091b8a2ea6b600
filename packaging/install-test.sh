#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Install gated's amd64 package and gated-models into a throwaway Debian 12
# root and check what an administrator will see: dpkg installs them with
# their dependencies, the postinst makes the users, groups and the 0700
# state directory and says how to set the gate up, the service is enabled
# but its start conditions refuse (with that advice) until a configuration
# and a key exist, gated --version, the door lock the unit runs first and
# last (/usr/lib/gated/gated-lock: static, runs, fails naming what is
# missing, never stops the start), gated-fetch-models, then the README's
# set-up (example config, gated keygen) passes gated check and the
# conditions, systemd-analyze verify reads the installed unit, and a purge
# removes the state directory but not /etc/gated.
#
# The root is a Debian 12 minbase made by mmdebstrap from this machine's
# mirror, with the package's Depends already installed (so dpkg -i checks
# them without a network); it is cached as a tarball in
# $GATED_CACHE/roots, keyed by the Depends, and unpacked afresh under a
# temporary directory for every run, then deleted. Needs root (chroot).
#
# Usage: packaging/install-test.sh GATED_DEB MODELS_DEB      (log: dist/package-test.log)
set -euo pipefail
. "$(dirname "$0")/../scripts/cross/lib.sh"

gated_deb=$(realpath "${1:?usage: install-test.sh GATED_DEB MODELS_DEB}")
models_deb=$(realpath "${2:?usage: install-test.sh GATED_DEB MODELS_DEB}")
[ "$(id -u)" -eq 0 ] || die "needs root (chroot into the throwaway root): run it with sudo"
[ "$(dpkg-deb --field "$gated_deb" Architecture)" = amd64 ] || die "$gated_deb is not an amd64 package"
need_debs mmdebstrap

mkdir -p "$top/dist"
exec > >(tee "$top/dist/package-test.log") 2>&1
start=$(date +%s)
fails=0
ok() { printf 'ok    %s\n' "$*"; }
fail() {
	printf 'FAIL  %s\n' "$*"
	fails=$((fails + 1))
}
# expect DESCRIPTION WANT GOT: GOT must equal WANT.
expect() { if [ "$3" = "$2" ]; then ok "$1: $3"; else fail "$1: got '$3', want '$2'"; fi; }
# expect_in DESCRIPTION WANT TEXT: TEXT must contain WANT.
expect_in() { if grep -qF -- "$2" <<<"$3"; then ok "$1"; else fail "$1: no '$2' in: $3"; fi; }

# The root: minbase plus the first alternative of every dependency.
deps=$(dpkg-deb --field "$gated_deb" Depends | tr ',' '\n' | sed 's/|.*//; s/(.*)//; s/ //g' | sort -u | paste -sd, -)
mirror=$(debian_mirror)
key=$(printf '%s\n' "recipe=1" "$mirror" "$deps" | sha256sum | cut -c1-16)
tarball=$cache/roots/bookworm-amd64-$key.tar
if [ ! -f "$tarball" ]; then
	mkdir -p "$cache/roots"
	log "making a Debian 12 root with gated's dependencies (once; cached as $tarball): $deps"
	mmdebstrap --quiet --mode=root --variant=minbase --include="$deps" bookworm "$cache/roots/new-$key.tar" \
		"deb $mirror bookworm main" "deb $mirror bookworm-updates main" "deb $mirror-security bookworm-security main"
	rm -rf "$tarball" "$cache"/roots/bookworm-amd64-*.tar # older sets of Depends
	mv "$cache/roots/new-$key.tar" "$tarball"
fi
root=$(mktemp -d "${TMPDIR:-/tmp}/gated-root.XXXXXX")
cleanup() {
	umount "$root/proc" 2>/dev/null || true
	rm -rf --one-file-system "$root"
}
trap cleanup EXIT
tar -xf "$tarball" -C "$root"
mount -t proc proc "$root/proc"
cp "$gated_deb" "$models_deb" "$root/tmp/"
in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 /bin/sh -c "$1"; }

echo "# $(date -u '+%F %T') UTC: $(basename "$gated_deb") and $(basename "$models_deb") into a Debian $(cat "$root/etc/debian_version") root"
out=$(in_root "dpkg -i /tmp/$(basename "$models_deb") /tmp/$(basename "$gated_deb") 2>&1") || fail "dpkg -i: $out"
# shellcheck disable=SC2001
echo "$out" | sed 's/^/  dpkg: /'
expect "gated installed" "install ok installed" "$(in_root 'dpkg -s gated | sed -n "s/^Status: //p"')"
expect "gated-models installed" "install ok installed" "$(in_root 'dpkg -s gated-models | sed -n "s/^Status: //p"')"
expect_in "postinst says how to set up" "gated keygen --out /etc/gated/kek" "$out"
# The version the packaged binary prints on this machine, where it was built.
dpkg-deb --fsys-tarfile "$gated_deb" | tar -xOf - ./usr/bin/gated >"$root/tmp/gated.host"
chmod 0755 "$root/tmp/gated.host"
version=$("$root/tmp/gated.host" --version)
expect "gated --version in the root" "$version" "$(in_root 'gated --version')"
expect "user gated" "gated:/var/lib/gated:/usr/sbin/nologin" "$(in_root 'getent passwd gated' | cut -d: -f1,6,7)"
expect "gated in gated-staff" "gated" "$(in_root 'getent group gated-staff' | cut -d: -f4)"
expect "state directory" "700 gated:gated" "$(in_root 'stat -c "%a %U:%G" /var/lib/gated')"
expect "/etc/gated" "755 root:root" "$(in_root 'stat -c "%a %U:%G" /etc/gated')"
expect "service enabled" "/lib/systemd/system/gated.service" "$(in_root 'readlink /etc/systemd/system/multi-user.target.wants/gated.service')"

# The door lock: static (no interpreter, no library: nothing in Depends for
# it), the same version as gated, and it answers.
lock=/usr/lib/gated/gated-lock
expect "gated-lock installed" "755 root:root" "$(in_root "stat -c '%a %U:%G' $lock")"
expect_in "gated-lock is static" "statically linked" "$(file -b "$root$lock")"
expect "gated-lock --version in the root" "gated-lock ${version#gated }" "$(in_root "$lock --version")"
expect_in "gated-lock --help" "usage: gated-lock [--config FILE]" "$(in_root "$lock --help")"

# The unit's start conditions, as systemd would run them. The first is the
# door lock, with "-": systemd goes on whatever it exits with.
unit=$root/lib/systemd/system/gated.service
cond_lock=$(sed -n 's/^ExecCondition=-\(\/usr\/lib\/gated\/gated-lock .*\)$/\1/p' "$unit")
stop_lock=$(sed -n 's/^ExecStopPost=\(\/usr\/lib\/gated\/gated-lock .*\)$/\1/p' "$unit")
expect "first command of the unit: the lock, failure ignored" "ExecCondition=-$cond_lock" "$(grep -m1 '^Exec' "$unit")"
expect "ExecStopPost: the same lock" "$cond_lock" "$stop_lock"
if out=$(in_root "$cond_lock 2>&1"); then fail "the lock passed without a configuration"; else
	expect_in "not configured: the lock fails (and the next condition says why), naming the file" "/etc/gated/gated.toml" "$out"
fi
cond_check=$(sed -n 's/^ExecCondition=\(\/usr\/bin\/gated .*\)$/\1/p' "$unit")
cond_key=$(sed -n "s/^ExecCondition=\/bin\/sh -c '\(.*\)'$/\1/p" "$unit")
if [ -z "$cond_check" ] || [ -z "$cond_key" ]; then fail "the installed unit lacks its two ExecCondition= lines"; fi
if out=$(in_root "$cond_check 2>&1"); then fail "condition '$cond_check' passed without a configuration"; else
	expect_in "not configured: the condition refuses and points at the example" "/usr/share/doc/gated/gated.toml" "$out"
fi
if out=$(in_root "$cond_key 2>&1"); then fail "the key condition passed without a key"; else
	expect_in "no key: the condition refuses and says how to make one" "gated keygen --out /etc/gated/kek" "$out"
fi

out=$(in_root 'gated-fetch-models 2>&1') || fail "gated-fetch-models: $out"
expect_in "gated-fetch-models verifies the installed models" "models verified in /usr/share/gated/models" "$out"

# The README's set-up, then the same checks.
in_root 'cp /usr/share/doc/gated/gated.toml /etc/gated/gated.toml && gated keygen --out /etc/gated/kek' >/dev/null
expect "key" "600 root:root" "$(in_root 'stat -c "%a %U:%G" /etc/gated/kek')"
out=$(in_root 'gated check --config /etc/gated/gated.toml 2>&1') || fail "gated check: $out"
expect_in "gated check on the example configuration" ": ok (" "$out"
if out=$(in_root "$cond_check 2>&1 && $cond_key 2>&1"); then ok "configured: both start conditions pass"; else
	fail "configured, but a start condition refuses: $out"
fi
# No relay board in the root: the lock the unit runs fails, exit 1, naming
# the board; "-" lets the start go on.
out=$(in_root "$cond_lock 2>&1; echo \"exit \$?\"")
expect_in "configured, no board: the lock names it" "/dev/gate-relay" "$out"
expect_in "configured, no board: the lock says the door may be open" "NOT CONFIRMED LOCKED" "$out"
expect_in "configured, no board: the lock exits 1" "exit 1" "$out"
out=$(in_root 'systemd-analyze verify /lib/systemd/system/gated.service 2>&1') || fail "systemd-analyze verify: $out"
expect "systemd-analyze verify on the installed unit" "" "$out"

# Removal and purge.
in_root 'echo residents >/var/lib/gated/store.db'
in_root 'dpkg --purge gated' >/dev/null 2>&1 || fail "dpkg --purge gated"
expect "purge deletes the state directory" "gone" "$(in_root 'test -e /var/lib/gated && echo there || echo gone')"
expect "purge keeps the key" "kept" "$(in_root 'test -s /etc/gated/kek && echo kept || echo gone')"
expect "purge removes the binary" "gone" "$(in_root 'test -e /usr/bin/gated && echo there || echo gone')"
expect "purge removes the lock" "gone" "$(in_root 'test -e /usr/lib/gated && echo there || echo gone')"
in_root 'dpkg --purge gated-models' >/dev/null 2>&1 || fail "dpkg --purge gated-models"
expect "models removed" "gone" "$(in_root 'test -e /usr/share/gated && echo there || echo gone')"

echo "# $((fails)) failed; $(($(date +%s) - start)) s; log in dist/package-test.log"
[ "$fails" -eq 0 ] || die "$fails checks failed"
