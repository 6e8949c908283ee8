# SPDX-License-Identifier: (LGPL-2.1-or-later OR MIT)
# The guest side of `make bench` (tools/bench/vm-bench.sh): busybox sh,
# sourced from /gmp by the VM's init (tools/vm/run.sh), or by vm-bench.sh's
# host runner when /dev/gmp already exists on the host. Settings come from
# bench.conf next to it; run/log come from the runner.
#
# Everything it measures goes to stdout as "@..." lines, which
# tools/bench/report.py turns into the table, bench.json and the plot:
#   @env K=V ...                  where it ran
#   @step I N TEXT                progress
#   @na KEY REASON                a row that could not be measured
#   @fail KEY REASON              a run that should have worked and did not
#   @lat / @cdf NAME ...          latency figures (benchstat)
#   @tp RUNTIME REP KEY VALUE     throughput figures
#   @reg / @regmed / @reg-na      cost of being registered (regcost)
#   @csw / @cswmed / @csw-na      cost per context switch, raw (regcost -c)
#   @ovh RUNTIME REP KEY VALUE    the mode's cost per block and per syscall
#                                 inside libgmp (bench-gmp csw, syscall)
#   @wl-json LINE                 wakelat's JSON, line by line
#   @hstat RUN key=value ...      libgmp's handoff counters of a run
#   @note TEXT
# Nothing here asserts a timing.

. ./bench.conf
B=$(pwd)
R=${BENCH_TMP:-/tmp/gmp-bench}
rm -rf "$R"
mkdir -p "$R"

NSTEPS=$((1 + 2 * ROUNDS * 4 + 1 + TP_REPS * 4 + 2 + OVH_REPS * 3 + 1))
STEP=0
step() {
	STEP=$((STEP + 1))
	echo "@step $STEP $NSTEPS $*"
}

MOD_LOADED=

# why_of FILE: the reason a binary gave for failing (its last stderr line).
why_of() {
	grep -v '^bench: gmp_run' "$1" 2>/dev/null | tail -n 1 | tr -d '\r' | cut -c1-300
}
# failed KEY RC SECS: a "@fail" line for a run that should have worked.
failed() {
	case $2 in
	124|143) echo "@fail $1 timed out after $3 s (killed): $(why_of "$R/err")" ;;
	*) echo "@fail $1 rc=$2: $(why_of "$R/err")" ;;
	esac
	cat "$R/err"
	FAILED=1
}

# The handoff and throughput runs measure what happens when an M blocks in
# a system call: libgmp's io_uring poller would park the G instead (no M
# blocks, nothing to hand off), so they use the blocking poller.
export GMP_POLLER=blocking

setup() {
	step "setup: module, fsync disk, kmod and perf mode probes"
	echo "@env kernel=$(uname -r) cpus=$(nproc) where=$BENCH_WHERE"
	echo "@env clocksource=$(cat /sys/devices/system/clocksource/clocksource0/current_clocksource 2>/dev/null || echo unknown)"
	if [ -e /dev/gmp ]; then
		echo "@env module=present"
	elif [ "$BENCH_WHERE" = host ]; then
		echo "@env module=absent"
		echo "no /dev/gmp on this machine" >"$R/insmod.err"
	elif insmod "$B/gmp.ko" 2>"$R/insmod.err"; then
		echo "@env module=loaded"
		MOD_LOADED=1
	else
		echo "@env module=failed"
		cat "$R/insmod.err"
	fi
	KMOD_WHY=
	if [ ! -e /dev/gmp ]; then
		KMOD_WHY="gmp.ko not loaded: $(tail -n 1 "$R/insmod.err" 2>/dev/null)"
	elif ! GMP_HANDOFF=kmod GMP_DEBUG=1 timeout 60 ./bench-gmp probe 1 >"$R/probe.out" 2>"$R/probe.err"; then
		KMOD_WHY="kmod mode unavailable: $(why_of "$R/probe.err")"
	elif grep -q '^@hstat .*mode=sysmon' "$R/probe.out"; then
		KMOD_WHY="kmod mode unavailable: GMP_HANDOFF=kmod ran sysmon"
	fi
	# The handoff libgmp says it uses (GMP_DEBUG=1), for the record.
	[ -n "$KMOD_WHY" ] || sed 's/^/@note GMP_HANDOFF=kmod GMP_DEBUG=1 says: /' "$R/probe.err" | head -n 3
	[ -z "$KMOD_WHY" ] || echo "@na kmod $KMOD_WHY"
	# perf mode: a context-switch perf event per M, no module.
	PERF_WHY=
	if ! GMP_HANDOFF=perf GMP_DEBUG=1 timeout 60 ./bench-gmp probe 1 >"$R/probe.out" 2>"$R/probe.err"; then
		PERF_WHY="perf mode unavailable: $(why_of "$R/probe.err")"
	elif ! grep -q '^@hstat .*mode=perf' "$R/probe.out"; then
		PERF_WHY="perf mode unavailable: GMP_HANDOFF=perf ran another mode"
	fi
	[ -n "$PERF_WHY" ] || sed 's/^/@note GMP_HANDOFF=perf GMP_DEBUG=1 says: /' "$R/probe.err" | head -n 3
	[ -z "$PERF_WHY" ] || echo "@na perf $PERF_WHY"
	echo "@env perf_event_paranoid=$(cat /proc/sys/kernel/perf_event_paranoid 2>/dev/null) uid=$(id -u 2>/dev/null)"

	# fsync must really block: a file system on a loop device (on tmpfs:
	# the loop worker does the I/O, the fsync caller sleeps until it is
	# done). On the host, a directory of the host's disk.
	FSYNC_DIR=
	if [ "$BENCH_WHERE" = host ]; then
		FSYNC_DIR=${BENCH_FSYNC_DIR:-$R}
		echo "@env fsync_dir=$FSYNC_DIR"
	else
		[ -f loop.ko.xz ] && unxz -f loop.ko.xz
		[ -f loop.ko ] && insmod ./loop.ko 2>/dev/null
		mkdir -p /mnt/disk
		if dd if=/dev/zero of=/tmp/disk.img bs=1M count=64 2>/dev/null &&
		   mke2fs -F -q /tmp/disk.img >/dev/null 2>&1 &&
		   mount -o loop /tmp/disk.img /mnt/disk 2>"$R/mount.err"; then
			FSYNC_DIR=/mnt/disk
			echo "@env fsync_dir=ext2-on-loop"
		else
			FSYNC_DIR=/tmp
			echo "@env fsync_dir=tmpfs"
			echo "@note no loop device ($(cat "$R/mount.err" 2>/dev/null)): fsync ran on tmpfs, where it does not block"
		fi
	fi
	return 0
}

# ------------------------------------------------------------------ latency

# hand RUNTIME MS N: one slice of handoff samples, appended to the raw file.
FAILED=
hand() {
	local rt=$1 ms=$2 n=$3 raw="$R/lat-$1-$2.raw" rc=0
	local tmo=$((60 + n * (ms + 30) / 1000))

	grep -qx "$rt-$ms" "$R/dead" 2>/dev/null && return 0
	case $rt in
	kmod)
		[ -z "$KMOD_WHY" ] || return 0
		env GMP_MAXPROCS=1 GMP_HANDOFF=kmod BENCH_RAW="$raw" \
			timeout $tmo ./bench-gmp handoff "$n" "$ms" >"$R/out" 2>"$R/err" || rc=$? ;;
	perf)
		[ -z "$PERF_WHY" ] || return 0
		env GMP_MAXPROCS=1 GMP_HANDOFF=perf BENCH_RAW="$raw" \
			timeout $tmo ./bench-gmp handoff "$n" "$ms" >"$R/out" 2>"$R/err" || rc=$? ;;
	sysmon)
		env GMP_MAXPROCS=1 GMP_HANDOFF=sysmon BENCH_RAW="$raw" \
			timeout $tmo ./bench-gmp handoff "$n" "$ms" >"$R/out" 2>"$R/err" || rc=$? ;;
	go)
		env GOMAXPROCS=1 BENCH_RAW="$raw" \
			timeout $tmo ./bench-go handoff "$n" "$ms" >"$R/out" 2>"$R/err" || rc=$? ;;
	esac
	sed -n "s/^@hstat handoff /@hstat lat-$rt-$ms /p" "$R/out"
	if [ $rc != 0 ]; then
		failed "lat-$rt-$ms" $rc $tmo
		echo "$rt-$ms" >>"$R/dead"
	fi
	return 0
}

latency() {
	local ms r rt n
	for ms in 0 20; do
		if [ $ms = 0 ]; then n=$N_B2B; else n=$N_20MS; fi
		r=1
		while [ $r -le $ROUNDS ]; do
			for rt in kmod perf sysmon go; do
				step "handoff latency, $([ $ms = 0 ] && echo back-to-back || echo "after $ms ms computing"): $rt, round $r/$ROUNDS ($((n / ROUNDS)) samples)"
				hand $rt $ms $((n / ROUNDS))
			done
			r=$((r + 1))
		done
		for rt in kmod perf sysmon go; do
			if grep -qx "$rt-$ms" "$R/dead" 2>/dev/null; then
				rm -f "$R/lat-$rt-$ms.raw"
			fi
			[ -s "$R/lat-$rt-$ms.raw" ] && ./benchstat "$rt-$ms" <"$R/lat-$rt-$ms.raw"
		done
	done
	[ -z "$FAILED" ]
}

# The module's raw block-to-wake floor and the perf watcher (wakelat).
wakelat_run() {
	local rc=0 m p
	step "raw block-to-wake floor: wakelat kmod and perf, 3 placements ($WL_N blocks each)"
	timeout $((120 + WL_N / 5)) ./wakelat -n "$WL_N" -j "$R/wakelat.json" -r "$R/wakelat.csv" || rc=$?
	case $rc in
	0) ;;
	4) echo "@na wakelat every mode unavailable (wakelat exit 4)" ;;
	*) echo "@fail wakelat rc=$rc" ;;
	esac
	[ -f "$R/wakelat.json" ] && sed 's/^/@wl-json /' "$R/wakelat.json"
	if [ -f "$R/wakelat.csv" ]; then
		for m in kmod perf; do
			for p in same other none; do
				awk -F, -v m=$m -v p=$p '
					NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
					$c["mode"] == m && $c["placement"] == p { print $c["block_to_wake_ns"] }' \
					"$R/wakelat.csv" >"$R/wl.raw"
				[ -s "$R/wl.raw" ] && ./benchstat "wl-$m-$p" <"$R/wl.raw"
			done
		done
	fi
	[ $rc = 0 ] || [ $rc = 4 ]
}

# ------------------------------------------------------------------ throughput

throughput() {
	local r=1 rt rc tmo=$((60 + TP_WORK_MS / 100))
	while [ $r -le $TP_REPS ]; do
		for rt in kmod perf sysmon go; do
			step "throughput, 2 Ps: $rt, run $r/$TP_REPS (${TP_WORK_MS} ms of work)"
			grep -qx "$rt-tp" "$R/dead" 2>/dev/null && continue
			rc=0
			case $rt in
			kmod)
				[ -z "$KMOD_WHY" ] || continue
				env GMP_MAXPROCS=2 GMP_HANDOFF=kmod timeout $tmo \
					./bench-gmp throughput "$TP_WORK_MS" $TP_ARGS "$FSYNC_DIR" \
					>"$R/out" 2>"$R/err" || rc=$? ;;
			perf)
				[ -z "$PERF_WHY" ] || continue
				env GMP_MAXPROCS=2 GMP_HANDOFF=perf timeout $tmo \
					./bench-gmp throughput "$TP_WORK_MS" $TP_ARGS "$FSYNC_DIR" \
					>"$R/out" 2>"$R/err" || rc=$? ;;
			sysmon)
				env GMP_MAXPROCS=2 GMP_HANDOFF=sysmon timeout $tmo \
					./bench-gmp throughput "$TP_WORK_MS" $TP_ARGS "$FSYNC_DIR" \
					>"$R/out" 2>"$R/err" || rc=$? ;;
			go)
				env GOMAXPROCS=2 timeout $tmo \
					./bench-go throughput "$TP_WORK_MS" $TP_ARGS "$FSYNC_DIR" \
					>"$R/out" 2>"$R/err" || rc=$? ;;
			esac
			if [ $rc != 0 ]; then
				failed "tp-$rt" $rc $tmo
				echo "$rt-tp" >>"$R/dead"
				continue
			fi
			awk -v rt=$rt -v r=$r '
				$1 == "@hstat" { $1 = ""; $2 = ""; print "@hstat tp-" rt "-" r $0; next }
				{ print "@tp " rt " " r " " $1 " " $2 }' "$R/out"
		done
		r=$((r + 1))
	done
	[ -z "$FAILED" ]
}

regcost_run() {
	step "cost of being registered: getppid(2) loop, $REG_ROUNDS rounds of $REG_CALLS"
	./regcost -n "$REG_CALLS" -r "$REG_ROUNDS" || return 1
	step "cost per context switch, raw: pipe ping-pong on one CPU, $CSW_ROUNDS rounds of $CSW_CALLS"
	./regcost -c -n "$CSW_CALLS" -r "$CSW_ROUNDS"
}

# The mode's cost inside libgmp, 2 Ps: per block (two Gs ping-pong through
# pipes, every read blocks) and per non-blocking syscall (gmp_syscall
# getppid), in kmod, perf and sysmon mode (sysmon: no per-switch hook).
overhead() {
	local r=1 rt rc tmo=$((120 + OVH_CSW_N / 500)) what
	while [ $r -le $OVH_REPS ]; do
		for rt in kmod perf sysmon; do
			step "mode cost: $rt, run $r/$OVH_REPS ($OVH_CSW_N round trips, $OVH_SYS_N syscalls)"
			case $rt in
			kmod) [ -z "$KMOD_WHY" ] || continue ;;
			perf) [ -z "$PERF_WHY" ] || continue ;;
			esac
			grep -qx "$rt-ovh" "$R/dead" 2>/dev/null && continue
			for what in "csw $OVH_CSW_N" "syscall $OVH_SYS_N"; do
				rc=0
				env GMP_MAXPROCS=2 GMP_HANDOFF=$rt timeout $tmo ./bench-gmp $what \
					>"$R/out" 2>"$R/err" || rc=$?
				if [ $rc != 0 ]; then
					failed "ovh-$rt" $rc $tmo
					echo "$rt-ovh" >>"$R/dead"
					break
				fi
				awk -v rt=$rt -v r=$r -v w="${what%% *}" '
					$1 == "@hstat" { $1 = ""; $2 = ""; print "@hstat ovh-" rt "-" w "-" r $0; next }
					{ print "@ovh " rt " " r " " $1 " " $2 }' "$R/out"
			done
		done
		r=$((r + 1))
	done
	[ -z "$FAILED" ]
}

run setup setup
run latency latency
run wakelat wakelat_run
run throughput throughput
run regcost regcost_run
run overhead overhead
[ "$BENCH_WHERE" = host ] || umount /mnt/disk 2>/dev/null
# The module we loaded must go away cleanly after all that.
[ -z "$MOD_LOADED" ] || run rmmod rmmod gmp
echo "@step $NSTEPS $NSTEPS done"
