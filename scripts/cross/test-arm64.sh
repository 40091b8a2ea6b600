#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Run gated's tests for linux/arm64 on this x86-64 machine: the test binaries
# are cross-built against the arm64 sysroot (scripts/cross/sysroot.sh) and run
# by qemu-user-static, emulating a Cortex-A72 (the Raspberry Pi 4's core:
# ARMv8.0-A with NEON, no LSE atomics) unless QEMU_CPU says otherwise, with
# the sysroot's Debian arm64 libraries (dlib, OpenBLAS, OpenCV, libc).
#
# What runs (see docs/arm64.md for the figures of the last run):
#   internal/store, internal/fallback, internal/fallback/osdp, internal/relay,
#   internal/match, internal/gate, internal/config, internal/control,
#   internal/linalg, internal/faces, internal/staffapi, internal/door, internal/readers,
#   internal/kiosk, internal/notice, internal/recognizer/cvutil: every test;
#   internal/recognizer, with the real dlib models: the tests listed in
#   $recognizer_tests (dlib runs about 65x slower under qemu; the two that
#   compare many photos would take 20 minutes), unless GATED_ARM64_FULL=1;
#   internal/recognizer/yunet: the tests in $yunet_run (its pass over the
#   411 East Asian photos only with GATED_ARM64_FULL=1).
#
# Helper programs the tests start run on the host: socat (serial ports are
# kernel ptys), libosdp's Python reader, curl. A test that re-runs its own
# binary (the store's lock and crash helpers) gets a wrapper as os.Args[0]
# that starts qemu again, since this machine has no binfmt_misc.
#
# A run fails when a test fails or is skipped, when a test named in
# $recognizer_run did not run, when dist/gated-linux-arm64 (built first if
# missing) does not print its version under qemu, or when
# dist/gated-lock-linux-arm64 (likewise) does not send the lock to a pty
# relay board under qemu.
#
# Logs: $out/log/<package>.log and the whole run in $out/test-arm64.log,
# where out is dist/test-arm64 unless GATED_ARM64_OUT says otherwise.
#
# Usage: scripts/cross/test-arm64.sh [package ...]     (default: the list above)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/env.sh"
cd "$top"

pkgs=("$@")
[ ${#pkgs[@]} -gt 0 ] || pkgs=(internal/store internal/fallback internal/fallback/osdp internal/relay
	internal/match internal/gate internal/config internal/control internal/linalg
	internal/faces internal/staffapi internal/door internal/readers internal/kiosk internal/notice internal/recognizer
	internal/recognizer/yunet internal/recognizer/cvutil)
recognizer_tests=(TestLoadNamesMissingAndCorruptFiles TestGroupPhotoHasTenFaces TestPhotoWithoutFace TestBadImagesAreErrors
	TestGreyscalePNGWorks TestClosedRecognizer TestAdviceInBothLanguages FuzzDecodeImage)
recognizer_run="^($(
	IFS='|'
	echo "${recognizer_tests[*]}"
))\$"
# YuNet's decoder, fuzz corpus and hand-checked photos; its pass over the
# 411 East Asian photos (268 s under qemu) only with GATED_ARM64_FULL=1.
yunet_run='^(TestDecode.*|TestSuppress|TestHandCheckedFace|TestGroupPhoto|TestNoFaceInAWall|TestOddSizesAndScaling|TestRefusals|FuzzDecode)$'
if [ "${GATED_ARM64_FULL:-0}" = 1 ]; then
	recognizer_run=.
	recognizer_tests=()
	yunet_run=.
fi

need_debs qemu-user-static socat curl file
"$top/scripts/goface-portable.sh"
"$top/scripts/fetch-models.sh" >/dev/null 2>&1 || "$top/scripts/fetch-models.sh"
"$top/scripts/fetch-face-model.sh" yunet
libosdp_python=$("$top/scripts/setup-libosdp.sh" 2>/dev/null)
cross_env arm64
qemu=$(command -v qemu-aarch64-static)
export QEMU_CPU=${QEMU_CPU:-cortex-a72}
export GATED_MODELS=${GATED_MODELS:-$cache/models}
export GATED_TESTDATA=${GATED_TESTDATA:-$(cd "$top/.." && pwd)/shared/testdata}
export GATED_LIBOSDP_PYTHON=${GATED_LIBOSDP_PYTHON:-$libosdp_python}
# One BLAS thread, as the benchmarks use: steadier, and qemu emulates
# threads on the host's two cores anyway.
export OPENBLAS_NUM_THREADS=1

out=${GATED_ARM64_OUT:-$top/dist/test-arm64}
[ -x "$top/dist/gated-linux-arm64" ] || "$top/scripts/cross/build.sh" arm64 "$top/dist/gated-linux-arm64"
rm -rf "$out"
mkdir -p "$out/bin" "$out/log"
exec > >(tee "$out/test-arm64.log") 2>&1

echo "# $(date -u '+%F %T') UTC, $(lscpu | sed -n 's/^Model name: *//p') ($(nproc) cores), $(go version | cut -d' ' -f3), $("$qemu" --version | head -n1), QEMU_CPU=$QEMU_CPU"
start=$(date +%s)
args=()
for p in "${pkgs[@]}"; do args+=("./$p"); done
go test -c -o "$out/bin/" "${args[@]}"
echo "# test binaries cross-built in $(($(date +%s) - start)) s:"
(cd "$out/bin" && file -- *.test | sed 's/, BuildID.*//; s/^/#   /')

failed=()
printf '\n%-24s %-6s %8s  %s\n' package result seconds tests
for p in "${pkgs[@]}"; do
	name=${p##*/}
	bin=$out/bin/$name.test
	wrap=$out/bin/$name.qemu
	# The wrapper is what os.Args[0] names: a host script, so a test that
	# execs its own binary gets qemu again.
	# shellcheck disable=SC2016 # "$0" and "$@" are the wrapper's own
	printf '#!/bin/sh\nexec %s -L %s -0 "$0" %s "$@"\n' "$qemu" "$sysroot" "$bin" >"$wrap"
	chmod +x "$wrap"
	run=.
	[ "$p" = internal/recognizer ] && run=$recognizer_run
	[ "$p" = internal/recognizer/yunet ] && run=$yunet_run
	t0=$(date +%s)
	set +e
	(cd "$top/$p" && "$qemu" -L "$sysroot" -0 "$wrap" "$bin" -test.v -test.count=1 -test.timeout=30m -test.run="$run") >"$out/log/$name.log" 2>&1
	rc=$?
	set -e
	secs=$(($(date +%s) - t0))
	pass=$(grep -c '^\s*--- PASS' "$out/log/$name.log" || true)
	fail=$(grep -c '^\s*--- FAIL' "$out/log/$name.log" || true)
	skip=$(grep -c '^\s*--- SKIP' "$out/log/$name.log" || true)
	result=ok
	if [ "$rc" -ne 0 ] || [ "$skip" -gt 0 ] || [ "$pass" -eq 0 ]; then
		result=FAIL
		failed+=("$p")
	fi
	if [ "$p" = internal/recognizer ]; then
		for t in "${recognizer_tests[@]}"; do
			grep -q "^--- PASS: $t " "$out/log/$name.log" || { echo "# $t did not pass (renamed?)"; result=FAIL; failed+=("$p"); }
		done
	fi
	only=
	if [ "$run" != . ]; then
		only=" (only $run)"
		[ "$p" = internal/recognizer ] && only=" (only ${recognizer_tests[*]})"
	fi
	printf '%-24s %-6s %8d  %d passed, %d failed, %d skipped%s\n' "$p" "$result" "$secs" "$pass" "$fail" "$skip" "$only"
done
echo
for p in "${failed[@]}"; do
	echo "=== $p: log tail"
	tail -n 40 "$out/log/${p##*/}.log"
done
file -b "$top/dist/gated-linux-arm64" | sed 's/, BuildID.*//; s/^/# file dist\/gated-linux-arm64: /'
v=$("$qemu" -L "$sysroot" "$top/dist/gated-linux-arm64" --version) || failed+=("gated --version")
echo "# dist/gated-linux-arm64 --version under qemu: $v"
case "$v" in "gated "*) ;; *) failed+=("gated --version") ;; esac

# gated-lock (static, no sysroot needed) locks a pty relay board under qemu:
# the LCUS frame A0 01 00 A1 reaches the other end.
lock=$top/dist/gated-lock-linux-arm64
[ -x "$lock" ] || "$top/scripts/cross/build-lock.sh" arm64 "$lock"
file -b "$lock" | sed 's/, Go BuildID.*//; s/, BuildID.*//; s/^/# file dist\/gated-lock-linux-arm64: /'
lockdir=$(mktemp -d)
socat pty,raw,echo=0,link="$lockdir/device" pty,raw,echo=0,link="$lockdir/peer" 2>/dev/null &
socat_pid=$!
for _ in $(seq 50); do [ -e "$lockdir/peer" ] && [ -e "$lockdir/device" ] && break; sleep 0.1; done
timeout 10 head -c4 "$lockdir/peer" >"$lockdir/frame" &
reader=$!
printf '[relay]\ntype = "lcus"\ndevice = "%s"\n' "$lockdir/device" >"$lockdir/gated.toml"
t0=$(date +%s%N)
v=$("$qemu" "$lock" --config "$lockdir/gated.toml" 2>&1) || failed+=("gated-lock")
t1=$(date +%s%N)
wait "$reader" || true
frame=$(od -An -tx1 "$lockdir/frame" | tr -d ' \n')
kill "$socat_pid" 2>/dev/null || true
wait "$socat_pid" 2>/dev/null || true
rm -rf "$lockdir"
echo "# dist/gated-lock-linux-arm64 under qemu ($(((t1 - t0) / 1000000)) ms): ${v%%$'\n'*}; the board got: ${frame:-nothing}"
[ "$frame" = a00100a1 ] || failed+=("gated-lock")
echo "# total $(($(date +%s) - start)) s; logs in ${out#"$top"/}/log/"
[ ${#failed[@]} -eq 0 ] || die "failed under qemu: ${failed[*]}"
