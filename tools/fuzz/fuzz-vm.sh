#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# `make fuzz`: run gmp_fuzz against gmp.ko in the debug kernel (KASAN,
# kmemleak, lockdep; tools/debug-kernel/), then unload the module (which
# must succeed: every M, group and mapping gone) and scan for leaks.
# Fails on an oracle failure or hang reported by the fuzzer, a module that
# does not unload, a leak, or any splat in the kernel log.
#
# Usage: tools/fuzz/fuzz-vm.sh [SECONDS] [SEED]
#   SECONDS  fuzzing time (default 300); SEED: default from the clock
#            (printed; rerun with it to replay the same operation sequences)
# Env:   FUZZ_PROCS   episodes at once (default: 2)
#        FUZZ_FAULTS  1 (default): one failed kernel allocation in some gmp
#                     calls (failslab + /proc/thread-self/fail-nth); 0: none
#        FUZZ_HANG    seconds after which an episode counts as hung (300)
#        FUZZ_EXTRA   more gmp_fuzz options, e.g. '-X ring-alias' (steer
#                     clear of a known bug until it is fixed)
#        FUZZ_KERNEL  a Debian release (tools/vm/kernels.sh) instead of the
#                     debug kernel: faster, no KASAN/kmemleak/lockdep
#        GMP_DEBUG_KBUILD  an already built debug tree (default: build.sh)
#        FUZZ_KO      a prebuilt gmp.ko for that kernel (default: built from kmod/)
#        VM_CPUS (2), VM_MEM (2048 MB), VM_TIMEOUT (SECONDS + 1800)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tools/debug-kernel/common.sh
. "$here/../debug-kernel/common.sh"
top=$dk_top
cd "$top"

secs=${1:-300}
seed=${2:-}
case $secs in '' | *[!0-9]*) echo "usage: $0 [SECONDS] [SEED]" >&2; exit 2 ;; esac
procs=${FUZZ_PROCS:-2}
faults=${FUZZ_FAULTS:-1}
hang=${FUZZ_HANG:-300}
t0=$(date +%s)

allow=$DK_ALLOW
if [ -n "${FUZZ_KERNEL:-}" ]; then
	kernel=$FUZZ_KERNEL
	kdir=$("$top/tools/vm/kernels.sh" --headers "$kernel")
	append=slub_debug=FZPU
	out=$top/build/vm/fuzz-$kernel
	modout=$top/build/kmod/fuzz-$kernel
else
	echo "fuzz-vm: debug kernel"
	dk_kernel || { echo "fuzz-vm: the debug kernel did not build" >&2; exit 2; }
	kernel=$DK_BZIMAGE
	kdir=$DK_KBUILD
	append=
	out=$top/build/vm/fuzz-debug
	modout=$top/build/kmod/fuzz-debug
fi
if [ -n "${FUZZ_KO:-}" ]; then
	ko=$FUZZ_KO	# e.g. an older gmp.ko, to see whether a fixed bug is found
else
	echo "fuzz-vm: gmp.ko against $kdir"
	ko=$(dk_module "$kdir" "$modout") ||
		{ echo "fuzz-vm: gmp.ko did not build" >&2; exit 1; }
fi
echo "fuzz-vm: gmp_fuzz"
make -s -C "$top/tools/fuzz" OUTPUT="$top/build/fuzz"

files=$top/build/vm/files-fuzz
rm -rf "$files"
mkdir -p "$files"
cp "$ko" "$files/gmp.ko"
cp "$top/build/fuzz/gmp_fuzz" "$files/"

args="-t $secs -P $procs -H $hang${FUZZ_EXTRA:+ $FUZZ_EXTRA}"
[ -z "$seed" ] || args+=" -s $seed"
if [ "$faults" = 1 ]; then
	args+=" -f"
	# Injected failures of vmalloc()'s own allocations make it print a
	# warning with a backtrace (warn_alloc: "vmalloc error: ..."): a
	# "Call Trace:" that is the point of the exercise, not a bug. Every
	# real splat has its own header line (BUG:, WARNING:, ...), still caught.
	allow+='|Call Trace:|vmalloc error:|page allocation failure|warn_alloc'
fi
vm_timeout=${VM_TIMEOUT:-$((secs + 1800))}

plan=$files/plan.sh
{
	dk_plan_lib
	echo "TEST_TIMEOUT=$((secs + hang + 600))"
	echo "watchdog $((vm_timeout - 240))"
	echo "FUZZ_FAULTS=$faults"
	echo "FUZZ_ARGS='$args'"
	cat <<'PLAN'
must leak-baseline leak_baseline
must insmod insmod /gmp/gmp.ko
failslab_on() {
	d=/sys/kernel/debug/failslab
	[ -d $d ] || { echo "no $d: fault injection off"; return 0; }
	# fail-nth only: no random failures, any GFP_KERNEL allocation, silent
	echo 0 >$d/probability && echo 0 >$d/interval && echo -1 >$d/times &&
	echo 0 >$d/space && echo 0 >$d/verbose && echo N >$d/ignore-gfp-wait &&
	echo Y >$d/task-filter || return 1
	echo "failslab: fail-nth armed"
}
[ "$FUZZ_FAULTS" != 1 ] || must failslab failslab_on
# shellcheck disable=SC2086
run_bounded fuzz /gmp/gmp_fuzz $FUZZ_ARGS
finish_debug
PLAN
} >"$plan"

rc=0
"$top/tools/vm/run.sh" --kernel "$kernel" --plan "$plan" --files "$files" \
	--timeout "$vm_timeout" --cpus "${VM_CPUS:-2}" --mem "${VM_MEM:-2048}" \
	${append:+--append "$append"} --allow "${VM_ALLOW:+$VM_ALLOW|}$allow" \
	--out "$out" || rc=$?
grep -E '^gmp_fuzz: [0-9]+ ops in' "$out/tests/fuzz.log" 2>/dev/null | sed 's/^/fuzz-vm: /' || true
echo "fuzz-vm: $((($(date +%s) - t0) / 60)) min $((($(date +%s) - t0) % 60)) s, rc=$rc"
exit $rc
