# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
# Shared by tools/debug-kernel/check-debug.sh and tools/fuzz/fuzz-vm.sh
# (sourced, bash): the debug kernel, gmp.ko built against it, and the
# plan-side helpers (kmemleak scans, hang dumps).

dk_top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
dk_dir=$dk_top/tools/debug-kernel

# Boot messages of the debug kernel that match tools/vm/run.sh's error
# patterns without being errors ("kmemleak", "lockdep" are in the list),
# and kmemleak's own "N new suspected memory leaks" line: the plans check
# the leak report themselves (leak_check below) and put every reported
# object into the kernel log as "gmp-vm: kmemleak: unreferenced object ...",
# which is not allowed, so a leak still fails the run.
DK_ALLOW='kmemleak: Kernel memory leak detector initialized'
DK_ALLOW+='|RCU lockdep checking is enabled'
DK_ALLOW+='|kmemleak: [0-9]+ new suspected memory leaks'

# dk_kernel: build (or find cached) the debug kernel; sets DK_BZIMAGE, DK_KBUILD.
# GMP_DEBUG_KBUILD=DIR uses an already built tree instead (no build.sh).
dk_kernel() {
	local out
	if [ -n "${GMP_DEBUG_KBUILD:-}" ]; then
		DK_KBUILD=$GMP_DEBUG_KBUILD
		DK_BZIMAGE=$DK_KBUILD/arch/x86/boot/bzImage
		[ -f "$DK_BZIMAGE" ] && [ -d "$DK_KBUILD" ]
		return
	fi
	out=$("$dk_dir/build.sh") || return 1
	DK_BZIMAGE=$(sed -n 1p <<<"$out")
	DK_KBUILD=$(sed -n 2p <<<"$out")
	[ -f "$DK_BZIMAGE" ] && [ -d "$DK_KBUILD" ]
}

# dk_module KBUILD OUTDIR: gmp.ko against KBUILD, from a copy of the sources
# (as the top-level Makefile's `module` target does); prints the .ko path.
dk_module() {
	local kdir=$1 out=$2 f
	rm -rf "$out"
	mkdir -p "$out/kmod/include/uapi/linux"
	cp "$dk_top/Kbuild" "$out/"
	for f in "$dk_top"/kmod/Kbuild "$dk_top"/kmod/*.[ch]; do
		case $f in *.mod.c) ;; *) cp "$f" "$out/kmod/" ;; esac
	done
	cp "$dk_top/kmod/include/uapi/linux/gmp.h" "$out/kmod/include/uapi/linux/"
	make -s -C "$kdir" M="$out" W=1 KCFLAGS=-Werror modules >&2 || return 1
	[ -f "$out/kmod/gmp.ko" ] || return 1
	echo "$out/kmod/gmp.ko"
}

# dk_plan_lib: shell functions for a plan (busybox sh), printed to stdout.
#   leak_baseline   scan, then forget what boot left (echo clear)
#   leak_check      scan twice; any "unreferenced object" fails, and goes to
#                   the kernel log so that run.sh reports it too
#   lockdep_alive   fails if lockdep has turned itself off
#   hang_dump       sysrq w (blocked tasks) and l (all CPUs' backtraces)
#   watchdog SEC    in the background: hang_dump after SEC seconds
#   finish_debug    the common end: leak_check, unload, leak_check, lockdep_alive
dk_plan_lib() {
	cat <<'LIB'
KML=/sys/kernel/debug/kmemleak
leak_baseline() {
	[ -e $KML ] || mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
	if [ ! -e $KML ]; then
		echo "no $KML: this kernel has no kmemleak; leak checks skipped"
		return 0
	fi
	# An object is reported once unreferenced with an unchanged checksum
	# over two scans: scan twice, then forget what boot left behind.
	echo scan >$KML || return 1
	echo scan >$KML || return 1
	echo "kmemleak: $(grep -c 'unreferenced object' $KML) objects from boot forgotten"
	echo clear >$KML || return 1
	echo "kmemleak: baseline taken"
}
leak_check() {
	[ -e $KML ] || { echo "no kmemleak: skipped"; return 0; }
	# kmemleak reports objects older than 5 s only; two scans, as advised
	sleep 6
	echo scan >$KML || return 1
	sleep 2
	echo scan >$KML || return 1
	if grep -q 'unreferenced object' $KML; then
		echo "kmemleak: LEAKS:"
		cat $KML
		grep -m 400 . $KML | while IFS= read -r l; do
			echo "gmp-vm: kmemleak: $l" >/dev/kmsg
		done
		return 1
	fi
	echo "kmemleak: no leaks"
}
# lockdep switches itself off after its first report (or when its tables
# overflow): a run that ends with it off has checked less than it claims.
lockdep_alive() {
	[ -r /proc/lockdep_stats ] || { echo "no lockdep in this kernel"; return 0; }
	grep -E 'debug_locks:|lock-classes:|direct dependencies:' /proc/lockdep_stats
	grep -qE 'debug_locks: +1$' /proc/lockdep_stats
}
hang_dump() {
	echo 1 >/proc/sys/kernel/sysrq 2>/dev/null
	echo "gmp-vm: hang dump" >/dev/kmsg
	echo w >/proc/sysrq-trigger 2>/dev/null
	echo l >/proc/sysrq-trigger 2>/dev/null
	for p in /proc/[0-9]*; do
		case $(cat $p/comm 2>/dev/null) in
		gmp*|*_test)
			for t in $p/task/*; do
				echo "--- $t $(cat $t/comm 2>/dev/null) $(cut -d' ' -f3 $t/stat 2>/dev/null) wchan=$(cat $t/wchan 2>/dev/null)"
				cat $t/stack 2>/dev/null
			done ;;
		esac
	done
}
watchdog() {
	( sleep "$1"; echo "gmp-vm: watchdog: plan still running after $1 s" >/dev/kmsg; hang_dump ) &
}
# finish_debug: how every debug-kernel plan ends: leaks with the module
# loaded, unload, leaks again, lockdep still on.
finish_debug() {
	run leaks-loaded leak_check
	run rmmod unload_gmp
	run leaks-unloaded leak_check
	run debug-locks lockdep_alive
}
# run_bounded NAME CMD...: run with RUN_TIMEOUT=$TEST_TIMEOUT; on a timeout, dump.
run_bounded() {
	RUN_TIMEOUT=${TEST_TIMEOUT:-1800} run "$@"
	_rb_rc=$?
	case $_rb_rc in 124|137|143) hang_dump ;; esac
	return $_rb_rc
}
LIB
}
