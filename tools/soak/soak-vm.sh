#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# `make soak`: gmp.ko under load for minutes, in the normal (Debian) kernel
# with slub_debug=FZPU. Rounds of the module's stress test (many Ms on every
# vCPU blocking and unblocking, every block accounted for: gmp_stress), each
# loading the module for SOAK_ROUND_MS, until SOAK_SECONDS have passed.
# Between rounds, with nothing of gmp's left running, the plan samples what
# the module holds: /sys/module/gmp/refcnt (one per open group file and per
# M), the group memories in /proc/vmallocinfo, and the module's own slab
# caches (gmp_group, gmp_m) in /proc/slabinfo; during a round, the same
# every 10 s. It fails on a failed round, on a refcnt or vmalloc count not
# back to zero after a round, on slab usage above the first idle sample
# (memory must stay flat), on a module that does not unload, and on any
# splat (run.sh). Not part of `make check`: it takes minutes by design.
#
# Usage: tools/soak/soak-vm.sh [SECONDS]      (default 600)
# Env:   SOAK_KERNEL    a release of tools/vm/kernels.sh (default: the first)
#        SOAK_ROUND_MS  load per round in ms (default 30000)
#        VM_CPUS (2), VM_MEM (2048 MB), VM_TIMEOUT (SECONDS + 900)
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"

secs=${1:-600}
case $secs in '' | *[!0-9]*) echo "usage: $0 [SECONDS]" >&2; exit 2 ;; esac
round_ms=${SOAK_ROUND_MS:-30000}
case $round_ms in '' | *[!0-9]*) echo "soak: SOAK_ROUND_MS=$round_ms: want ms" >&2; exit 2 ;; esac
rel=${SOAK_KERNEL:-$("$top/tools/vm/kernels.sh" | sed -n 1p)}
t0=$(date +%s)

make -s module KERNELS="$rel"
make -s selftests
ko=$top/build/kmod/$rel/kmod/gmp.ko
stress=$top/build/selftests/kmod/gmp_stress
[ -f "$ko" ] && [ -x "$stress" ] || { echo "soak: build failed" >&2; exit 1; }

files=$top/build/vm/files-soak
rm -rf "$files"
mkdir -p "$files"
cp "$ko" "$files/gmp.ko"
cp "$stress" "$files/"

plan=$files/plan.sh
{
	echo "SOAK_SECONDS=$secs"
	echo "export GMP_STRESS_MS=$round_ms"
	cat <<'PLAN'
export GMP_KO=/gmp/gmp.ko
must insmod insmod /gmp/gmp.ko
# sample: "refcnt vmalloc-areas gmp_group-objects gmp_m-objects"
sample() {
	r=$(cat /sys/module/gmp/refcnt)
	v=$(grep -c '\[gmp\]' /proc/vmallocinfo)
	gs=$(awk '$1 == "gmp_group" { print $2 }' /proc/slabinfo)
	ms=$(awk '$1 == "gmp_m" { print $2 }' /proc/slabinfo)
	echo "$r $v ${gs:-0} ${ms:-0}"
}
# idle_check N: after round N, everything of gmp's gone and slabs flat.
idle_check() {
	i=0
	# Ms of exited threads are freed by a work item: give it a moment.
	while set -- $(sample); [ "$1" != 0 ] || [ "$2" != 0 ]; do
		i=$((i + 1))
		[ $i -lt 100 ] || break
		sleep 0.1
	done
	echo "soak: idle after round $N: refcnt $1, vmalloc areas $2, gmp_group objects $3, gmp_m objects $4"
	[ "$1" = 0 ] || { echo "soak: refcnt $1 after the round (Ms or groups left)"; return 1; }
	[ "$2" = 0 ] || { echo "soak: $2 group memories left in vmalloc"; return 1; }
	if [ -z "${IDLE_G:-}" ]; then
		IDLE_G=$3 IDLE_M=$4
	elif [ "$3" -gt "$IDLE_G" ] || [ "$4" -gt "$IDLE_M" ]; then
		echo "soak: slab objects grew: gmp_group $IDLE_G -> $3, gmp_m $IDLE_M -> $4"
		return 1
	fi
}
busy_samples() {
	while :; do
		sleep 10
		set -- $(sample)
		echo "soak: busy: refcnt $1, vmalloc areas $2, gmp_group objects $3, gmp_m objects $4"
	done
}
read -r start _ </proc/uptime
start=${start%%.*}
N=0
while :; do
	read -r now _ </proc/uptime
	now=${now%%.*}
	[ $((now - start)) -lt "$SOAK_SECONDS" ] || break
	N=$((N + 1))
	busy_samples &
	bp=$!
	run "round-$N/gmp_stress" /gmp/gmp_stress
	rc=$?
	kill $bp 2>/dev/null
	wait $bp 2>/dev/null
	[ $rc = 0 ] || { fail soak "round $N failed"; break; }
	run "round-$N/idle" idle_check || break
done
log "soak: $N rounds in $((now - start)) s"
run rmmod unload_gmp
PLAN
} >"$plan"

rc=0
"$top/tools/vm/run.sh" --kernel "$rel" --plan "$plan" --files "$files" \
	--append "slub_debug=FZPU" --cpus "${VM_CPUS:-2}" --mem "${VM_MEM:-2048}" \
	--timeout "${VM_TIMEOUT:-$((secs + 900))}" --out "$top/build/vm/soak-$rel" || rc=$?
grep -E '^soak: ' "$top/build/vm/soak-$rel/results.log" 2>/dev/null | sed -n '1p;$p' || true
echo "soak: $((($(date +%s) - t0) / 60)) min $((($(date +%s) - t0) % 60)) s, rc=$rc"
exit $rc
