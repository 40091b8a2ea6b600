#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Check that a gated binary built by scripts/cross/build.sh runs on every CPU
# of its architecture, by looking at the machine code this project compiles:
# the C and C++ objects of the cgo packages (go-face and dlib's templates,
# gocv's wrappers), which the Go linker leaves in LINKDIR (-ldflags
# -tmpdir=LINKDIR). The shared libraries come from Debian, built for
# Debian's own baseline; Go's own code is built for GOARM64=v8.0 / GOAMD64=v1
# and picks faster instructions only after asking the CPU.
#
#   arm64: every instruction is ARMv8.0-A with FP and Advanced SIMD (NEON):
#          no LSE atomics, CRC32, crypto, dot product, RCpc, FP16
#          arithmetic, SVE or later. And NEON is used: dlib's vector code
#          must be there (its count is printed).
#   amd64: nothing above x86-64-v2: no AVX/AVX-512 (VEX/EVEX) or BMI.
#
# libgcc's outline atomics (__aarch64_ldadd4_acq_rel and friends) are linked
# into the binary, not into these objects: they choose LSE at run time.
#
# Usage: scripts/cross/check-cpu.sh amd64|arm64 BINARY LINKDIR
set -euo pipefail
. "$(dirname "$0")/lib.sh"

arch=${1:?usage: check-cpu.sh amd64|arm64 BINARY LINKDIR}
bin=${2:?usage: check-cpu.sh amd64|arm64 BINARY LINKDIR}
linkdir=${3:?usage: check-cpu.sh amd64|arm64 BINARY LINKDIR}

case "$arch" in
arm64)
	objdump=aarch64-linux-gnu-objdump
	elf='ELF 64-bit LSB .*ARM aarch64'
	# Mnemonics that ARMv8.0-A with FP and Advanced SIMD does not have.
	forbidden='^(ld(add|clr|eor|set|smax|smin|umax|umin)[a-z]*|st(add|clr|eor|set|smax|smin|umax|umin)[a-z]*|swp[a-z]*|casp?[a-z]*|crc32c?[bhwx]|aes[demc]+|aesimc|sha(1|256|512)[a-z0-9]*|eor3|bcax|rax1|xar|sm[34][a-z0-9]*|[su]dot|usdot|[su]?mmla|usmmla|ldapu?r[a-z]*|sqrdml[as]h|fjcvtzs|frint(32|64)[xz]|cfinv|rmif|setf(8|16)|bf(cvtn?2?|dot|mlal[bt]|mmla)|ptrue|while[a-z]+)$'
	;;
amd64)
	objdump=objdump
	elf='ELF 64-bit LSB .*x86-64'
	# VEX/EVEX-encoded instructions (AVX, AVX2, AVX-512, FMA) and BMI1/2.
	forbidden='^(v[a-z0-9]+|andn|bextr|blsi|blsmsk|blsr|bzhi|pdep|pext|sarx|shlx|shrx|rorx|mulx|movbe|k[a-z]+)$'
	;;
*) die "unknown architecture $arch (amd64 or arm64)" ;;
esac
command -v "$objdump" >/dev/null || die "$objdump is missing (apt install binutils-aarch64-linux-gnu binutils)"

desc=$(file -b "$bin")
grep -Eq "$elf" <<<"$desc" || die "$bin is not a $arch binary: $desc"

shopt -s nullglob
objs=("$linkdir"/[0-9]*.o)
[ ${#objs[@]} -gt 0 ] || die "no cgo objects in $linkdir: build with -ldflags -tmpdir=$linkdir (scripts/cross/build.sh does)"

# One line per instruction: object, function, mnemonic, operands.
dis=$(for o in "${objs[@]}"; do
	"$objdump" -d --no-show-raw-insn "$o" | awk -v obj="${o##*/}" '
		/^[0-9a-f]+ <.*>:$/ { fn = $2; next }
		/^ +[0-9a-f]+:\t/ { split($0, f, "\t"); n = split(f[2], w, " "); print obj "\t" fn "\t" w[1] "\t" f[3] }'
done)
total=$(wc -l <<<"$dis")
[ "$total" -gt 100000 ] || die "only $total instructions in $linkdir: is it the link directory of $bin?"

bad=$(awk -F'\t' -v re="$forbidden" '$3 ~ re' <<<"$dis")
if [ "$arch" = arm64 ]; then
	# FP16 arithmetic on vectors of halves (ARMv8.2); the conversions
	# fcvtl/fcvtn to and from halves are ARMv8.0. SVE registers.
	bad+=$(awk -F'\t' '($3 ~ /^f/ && $3 !~ /^fcvt/ && $4 ~ /v[0-9]+\.[48]h/) || $4 ~ /(^|[ ,{])z[0-9]+\./' <<<"$dis")
fi
if [ -n "$bad" ]; then
	head -n 20 <<<"$bad" >&2
	die "$bin: $(wc -l <<<"$bad") instructions above the $arch baseline in the cgo objects (first 20 above)"
fi

summary="$total instructions in ${#objs[@]} cgo objects, none above the baseline"
if [ "$arch" = arm64 ]; then
	neon=$(awk -F'\t' '$4 ~ /(^|[ ,{])v[0-9]+\.(8b|16b|4h|8h|2s|4s|2d)/' <<<"$dis")
	dlib_neon=$(awk -F'\t' '$2 ~ /dlib/' <<<"$neon" | wc -l)
	[ "$dlib_neon" -gt 100 ] || die "$bin: only $dlib_neon NEON instructions in dlib's code: is NEON off?"
	summary+="; NEON: $(wc -l <<<"$neon") vector instructions, $dlib_neon of them in dlib"
fi
log "$bin: $summary"
