#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1-or-later OR MIT)
#
# `make bench`: build gmp.ko, libgmp, the benchmarks (static) and wakelat,
# boot the test kernel under qemu with the module (no slub_debug), and in
# that one boot measure
#   - handoff latency, one P (G A readies G B, then blocks in read(2) on a
#     pipe; time until B runs): libgmp kmod mode, libgmp sysmon mode, Go,
#     and the module's raw block-to-wake floor and the perf watcher
#     (wakelat); back-to-back and after 20 ms of computing; and libgmp's
#     perf mode (no module: a perf context-switch event per M);
#   - throughput, 2 Ps: computing goroutines mixed with goroutines blocked
#     in pipe reads (released by timers) and fsyncs, against the ideal;
#   - the cost of being a registered, armed M (getppid(2) loop), and of a
#     context switch, raw (two threads ping-pong on one CPU) with kmod
#     armed or a perf event, and inside libgmp per mode (bench-gmp csw,
#     syscall);
# then print the table, write build/bench/bench.json and latency.png.
# When /dev/gmp already exists on this machine it runs here instead.
# Numbers only: nothing is asserted about them.
#
# Environment:
#   BENCH_KERNEL=REL   kernel to boot: the first release of tools/vm/kernels.sh
#                      that starts with REL (default: the first, Debian's 6.1)
#   BENCH_WHERE=auto|vm|host   (auto: host when /dev/gmp exists, else vm)
#   BENCH_OUT=DIR      outputs (default build/bench)
#   QUICK=1            a short run (a few minutes) to try the pipeline
#   BENCH_N_B2B, BENCH_N_20MS, BENCH_ROUNDS, BENCH_WAKELAT_N,
#   BENCH_TP_WORK_MS, BENCH_TP_REPS, BENCH_REG_CALLS, BENCH_REG_ROUNDS,
#   BENCH_CSW_CALLS, BENCH_CSW_ROUNDS, BENCH_OVH_CSW_N, BENCH_OVH_SYS_N,
#   BENCH_OVH_REPS:
#                      sample counts (see the defaults below)
#   BENCH_TIMEOUT=SEC  the VM's time limit (default 2400)
#   VM_ACCEL           passed to tools/vm/run.sh
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
bdir=$top/tools/bench
B=${BENCH_OUT:-$top/build/bench}
mkdir -p "$B/logs"
B=$(cd "$B" && pwd)
t_start=$(date +%s)

# Sample counts. Under TCG (2 vCPUs) a back-to-back sample costs about
# 0.3 ms, an after-20-ms one about 28 ms (2000 of them: about 1 minute per
# runtime), a wakelat block several ms (6 runs of 2000 plus warm-ups: 2-3
# minutes), a throughput run about 4 s (15 of them). With the build and the
# boot the whole run takes 8-12 minutes there; QUICK=1 (about 2 minutes)
# to try the pipeline.
if [ "${QUICK:-0}" = 1 ]; then
	d_b2b=1000 d_20=100 d_rounds=2 d_wl=400 d_tpms=500 d_tpreps=1 d_regc=5000 d_regr=30
	d_cswc=1000 d_cswr=15 d_ovhc=5000 d_ovhs=200000 d_ovhr=1
else
	d_b2b=10000 d_20=2000 d_rounds=4 d_wl=2000 d_tpms=1000 d_tpreps=5 d_regc=5000 d_regr=150
	d_cswc=2000 d_cswr=45 d_ovhc=20000 d_ovhs=1000000 d_ovhr=3
fi
N_B2B=${BENCH_N_B2B:-$d_b2b}
N_20MS=${BENCH_N_20MS:-$d_20}
ROUNDS=${BENCH_ROUNDS:-$d_rounds}
WL_N=${BENCH_WAKELAT_N:-$d_wl}
TP_WORK_MS=${BENCH_TP_WORK_MS:-$d_tpms}
TP_REPS=${BENCH_TP_REPS:-$d_tpreps}
REG_CALLS=${BENCH_REG_CALLS:-$d_regc}
REG_ROUNDS=${BENCH_REG_ROUNDS:-$d_regr}
CSW_CALLS=${BENCH_CSW_CALLS:-$d_cswc}
CSW_ROUNDS=${BENCH_CSW_ROUNDS:-$d_cswr}
OVH_CSW_N=${BENCH_OVH_CSW_N:-$d_ovhc}
OVH_SYS_N=${BENCH_OVH_SYS_N:-$d_ovhs}
OVH_REPS=${BENCH_OVH_REPS:-$d_ovhr}
TP_ARGS="4 4 2 1000"	# computing Gs, pipe readers, fsync loops, release period (us)

# ------------------------------------------------------------ progress line
tty=0
[ -t 1 ] && tty=1
elapsed() {
	local s=$(($(date +%s) - t_start))
	printf '%d:%02d' $((s / 60)) $((s % 60))
}
last_progress=''
progress() {
	if [ $tty = 1 ]; then
		printf '\r\033[K[%s] %s' "$(elapsed)" "$*"
	elif [ "$*" != "$last_progress" ]; then
		printf '[%s] %s\n' "$(elapsed)" "$*"
	fi
	last_progress="$*"
}
progress_end() {
	[ $tty = 0 ] || printf '\r\033[K'
}
die() {
	progress_end
	echo "vm-bench: $*" >&2
	exit 1
}
# step NAME LOG CMD...: run a build step quietly, its output in LOG.
build_step() {
	local what=$1 log=$2
	shift 2
	progress "build: $what"
	if ! "$@" >"$log" 2>&1; then
		progress_end
		echo "vm-bench: build of $what failed; the end of $log:" >&2
		tail -n 30 "$log" >&2
		exit 1
	fi
}

# ------------------------------------------------------------ where
where=${BENCH_WHERE:-auto}
case $where in
auto) if [ -e /dev/gmp ]; then where=host; else where=vm; fi ;;
vm|host) ;;
*) die "BENCH_WHERE must be auto, vm or host" ;;
esac
if [ $where = host ] && [ ! -e /dev/gmp ]; then
	echo "vm-bench: BENCH_WHERE=host without /dev/gmp: the kmod rows will be n/a" >&2
fi
kernel=''
if [ $where = vm ]; then
	# The first release of kernels.sh that starts with $BENCH_KERNEL.
	kernel=''
	for r in $("$top/tools/vm/kernels.sh"); do
		case $r in "${BENCH_KERNEL:-}"*) kernel=$r; break ;; esac
	done
	[ -n "$kernel" ] || die "no test kernel matches '${BENCH_KERNEL:-}' in tools/vm/kernels.sh (tools/deps.sh installs the headers)"
fi

# ------------------------------------------------------------ build
files=$B/$where-files
rm -rf "$files"
mkdir -p "$files"
if [ $where = vm ]; then
	# Our own build directory: a concurrent `make check` keeps its own.
	build_step "gmp.ko for $kernel" "$B/logs/module.log" \
		make -C "$top" module KERNELS="$kernel" BUILD="$B"
	ko=$B/kmod/$kernel/kmod/gmp.ko
	[ -f "$ko" ] || die "no $ko after the module build (is $kernel in tools/vm/kernels.sh?)"
	cp "$ko" "$files/"
	progress "fetch: kernel $kernel"
	vmlinuz=$("$top/tools/vm/fetch-kernel.sh" "$kernel" 2>"$B/logs/fetch.log") ||
		die "cannot fetch kernel $kernel: $(tail -n 3 "$B/logs/fetch.log")"
	# The loop driver, for a file system whose fsync really blocks.
	kroot=${vmlinuz%/boot/*}
	loop=$(find "$kroot/lib/modules/$kernel" -name 'loop.ko*' 2>/dev/null | head -n 1 || true)
	[ -z "$loop" ] || cp "$loop" "$files/"
fi
build_step "libgmp" "$B/logs/lib.log" make -C "$top/lib" O="$B/lib"
build_step "benchmarks (C static, Go static CGO_ENABLED=0)" "$B/logs/bench.log" \
	make -C "$bdir" B="$B" LIBO="$B/lib" all
build_step "wakelat" "$B/logs/wakelat.log" make -C "$top/tools/wakelat" OUTPUT="$B/wakelat"
cp "$B/bench-gmp" "$B/bench-go" "$B/benchstat" "$B/regcost" "$B/wakelat/wakelat" "$files/"
for f in bench-gmp bench-go benchstat regcost wakelat; do
	if LC_ALL=C readelf -l "$files/$f" 2>/dev/null | grep -q 'program interpreter'; then
		die "$f is dynamically linked; the VM has no libc"
	fi
done
cat >"$files/bench.conf" <<EOF
BENCH_WHERE=$where
N_B2B=$N_B2B
N_20MS=$N_20MS
ROUNDS=$ROUNDS
WL_N=$WL_N
TP_WORK_MS=$TP_WORK_MS
TP_REPS=$TP_REPS
TP_ARGS="$TP_ARGS"
REG_CALLS=$REG_CALLS
REG_ROUNDS=$REG_ROUNDS
CSW_CALLS=$CSW_CALLS
CSW_ROUNDS=$CSW_ROUNDS
OVH_CSW_N=$OVH_CSW_N
OVH_SYS_N=$OVH_SYS_N
OVH_REPS=$OVH_REPS
EOF
cp "$bdir/plan.sh" "$files/plan.sh"
t_built=$(date +%s)

# ------------------------------------------------------------ run
run_dir=$B/$where-run
mkdir -p "$run_dir"
results=$run_dir/results.log
accel=''
run_rc=0

# Show the guest's latest "@step I N TEXT" line until PID exits.
monitor() {
	local pid=$1 what=$2 st
	while kill -0 "$pid" 2>/dev/null; do
		st=$(grep -a '^@step ' "$results" 2>/dev/null | tail -n 1 | tr -d '\r' || true)
		if [ -n "$st" ]; then
			set -- $st
			local i=$2 n=$3
			shift 3
			progress "$what [$i/$n] $*"
		else
			progress "$what: starting"
		fi
		sleep 1
	done
}

if [ $where = vm ]; then
	rm -f "$results"
	# --no-keyhold: every row runs with perf's context-switch keys as a
	# user's machine has them (off unless a perf row or watcher runs);
	# --tcg-thread multi: the vCPUs run in parallel, as a machine's CPUs.
	"$top/tools/vm/run.sh" --kernel "$kernel" --plan "$bdir/plan.sh" --files "$files" \
		--no-keyhold --tcg-thread multi --out "$run_dir" --timeout "${BENCH_TIMEOUT:-2400}" >"$B/logs/vm.log" 2>&1 &
	pid=$!
	monitor $pid "VM $kernel"
	wait $pid || run_rc=$?
	progress_end
	accel=$(awk '$1 == "kernel" { print $4 }' "$run_dir/summary.txt" 2>/dev/null || true)
else
	# The host runner: run.sh's plan helpers, in bash.
	(
		cd "$files"
		run() {
			local n=$1 rc=0
			shift
			echo "### BEGIN $n"
			"$@" || rc=$?
			echo "### END $n rc=$rc"
			return $rc
		}
		log() { echo "# $*"; }
		export BENCH_TMP=$run_dir/tmp
		. ./plan.sh
	) >"$results" 2>&1 &
	pid=$!
	monitor $pid "host"
	wait $pid || run_rc=$?
	progress_end
	grep -q '^### END .* rc=[1-9]' "$results" && run_rc=1
fi
t_ran=$(date +%s)

progress "report"
rep_rc=0
python3 "$bdir/report.py" --results "$results" --out "$B" --where "$where" \
	--kernel "${kernel:-$(uname -r)}" --accel "${accel:-none}" \
	--t-start "$t_start" --t-built "$t_built" --t-ran "$t_ran" --vm-rc "$run_rc" \
	--vm-log "$B/logs/vm.log" || rep_rc=$?
progress_end
if [ "$run_rc" != 0 ]; then
	echo
	echo "vm-bench: the $where run reported failures (exit $run_rc):"
	if [ $where = vm ]; then
		sed -n '/FAILED:/,$p' "$B/logs/vm.log" | head -n 40
		echo "  full log: $B/logs/vm.log, $run_dir/"
	else
		grep -a '^### END .* rc=[1-9]\|^@fail' "$results" | head -n 20
	fi
	exit 1
fi
exit $rep_rc
