#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# `make check-debug`: gmp.ko and its selftests under the debug kernel
# (KASAN, kmemleak, lockdep + PROVE_RCU, DEBUG_ATOMIC_SLEEP, DEBUG_LIST,
# DEBUG_OBJECTS, DEBUG_VM): build (or reuse) the kernel, build the module
# against it and the static selftests, boot it with tools/vm/run.sh, take a
# kmemleak baseline, load the module, run every selftest (and the runtime's
# VM suite when build/selftests-lib/static exists, as check-vm.sh does),
# scan for leaks with the module loaded, unload it, scan again. Fails on a
# failed test, a module that does not unload, any leak, or any KASAN,
# lockdep, RCU, BUG:, WARNING:, Oops report (run.sh scans the kernel log).
#
# Usage: tools/debug-kernel/check-debug.sh [TEST...]
#   TEST: selftest binary names to run (default: all), e.g. gmp_api
# Env:   VM_TIMEOUT    whole VM run, seconds (default 5400: TCG + KASAN is slow)
#        GMP_DEBUG_KBUILD  an already built debug tree (default: build.sh)
#        TEST_TIMEOUT  one test, seconds (default 1800)
#        VM_CPUS (2), VM_MEM (2048 MB), GMP_CACHE (see build.sh)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tools/debug-kernel/common.sh
. "$here/common.sh"
top=$dk_top
cd "$top"

t0=$(date +%s)
echo "check-debug: debug kernel"
dk_kernel || { echo "check-debug: the debug kernel did not build" >&2; exit 2; }
echo "check-debug: kernel $DK_BZIMAGE"

echo "check-debug: gmp.ko against $DK_KBUILD"
ko=$(dk_module "$DK_KBUILD" "$top/build/kmod/debug") ||
	{ echo "check-debug: gmp.ko did not build against the debug kernel" >&2; exit 1; }

echo "check-debug: selftests"
"$top/tools/ksrc.sh" "$top/build/ksrc" >/dev/null
make -s -C "$top/selftests/kmod" KSFT_DIR="$top/build/ksrc/tools/testing/selftests" \
	OUTPUT="$top/build/selftests/kmod"
tests=$top/build/selftests/kmod

files=$top/build/vm/files-debug
rm -rf "$files"
mkdir -p "$files/kmod"
cp "$ko" "$files/gmp.ko"
if [ $# -gt 0 ]; then
	for t in "$@"; do
		[ -x "$tests/$t" ] || { echo "check-debug: no test $tests/$t" >&2; exit 2; }
		cp "$tests/$t" "$files/kmod/"
	done
else
	find "$tests" -maxdepth 1 -type f -perm -u+x -exec cp {} "$files/kmod/" \;
	if [ -d "$top/build/selftests-lib/static" ]; then
		mkdir -p "$files/lib"
		find "$top/build/selftests-lib/static" -maxdepth 1 -type f -perm -u+x -name '*_test' \
			-exec cp {} "$files/lib/" \;
	fi
fi

vm_timeout=${VM_TIMEOUT:-5400}
plan=$files/plan.sh
{
	dk_plan_lib
	echo "TEST_TIMEOUT=${TEST_TIMEOUT:-1800}"
	# dumps stacks before run.sh's timeout kills the VM
	echo "watchdog $((vm_timeout - 240))"
	cat <<'PLAN'
must leak-baseline leak_baseline
must insmod insmod /gmp/gmp.ko
export GMP_KO=/gmp/gmp.ko
for t in /gmp/kmod/*; do
	run_bounded "kmod/${t##*/}" "$t"
done
if [ -d /gmp/lib ]; then
	# System calls and faults are several times slower here: lighter loads.
	export GMP_TEST_DIV=5
	for t in /gmp/lib/*; do
		run_bounded "lib/${t##*/}" "$t"
	done
fi
finish_debug
PLAN
} >"$plan"

rc=0
"$top/tools/vm/run.sh" --kernel "$DK_BZIMAGE" --plan "$plan" --files "$files" \
	--timeout "$vm_timeout" --cpus "${VM_CPUS:-2}" --mem "${VM_MEM:-2048}" \
	--allow "${VM_ALLOW:+$VM_ALLOW|}$DK_ALLOW" \
	--out "$top/build/vm/check-debug" || rc=$?
echo "check-debug: $((($(date +%s) - t0) / 60)) min $((($(date +%s) - t0) % 60)) s, rc=$rc"
exit $rc
