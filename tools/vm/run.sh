#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Boot a Debian cloud kernel under qemu with a busybox initramfs, run a test
# plan in it and report the results. See tools/vm/README.md.
#
# Usage: tools/vm/run.sh --kernel REL|VMLINUZ --plan PLAN.sh [--files DIR]
#            [--timeout SEC] [--cpus N] [--mem MB] [--append "CMDLINE"]
#            [--out DIR] [--allow REGEX] [--no-keyhold]
#            [--tcg-thread single|multi]
# Env:   VM_ACCEL=auto|kvm|tcg (default auto), VM_ALLOW=REGEX,
#        VM_TCG_THREAD=single|multi (overrides --tcg-thread),
#        VM_TSC=reliable|probe (TCG: tsc=reliable on the command line, or not)
# Exit:  0 every framed command exited 0, the plan ran to its end and the
#        guest kernel log is clean; 1 otherwise; 2 usage or setup error.
set -euo pipefail

prog=${0##*/}
top=$(cd "$(dirname "$0")/../.." && pwd)
vmdir=$top/tools/vm

usage() {
	sed -n '6,14s/^# \{0,1\}//p' "$0" >&2
	exit 2
}
die() {
	echo "$prog: $*" >&2
	exit 2
}

kernel='' plan='' files='' out='' append='' allow=${VM_ALLOW:-}
tmo=300 cpus=2 mem=1024 keyhold=1 tcg_thread=single
while [ $# -gt 0 ]; do
	case $1 in
	--no-keyhold) keyhold=''; shift; continue ;;
	--kernel|--plan|--files|--timeout|--cpus|--mem|--append|--out|--allow|--tcg-thread)
		[ $# -ge 2 ] || die "$1 needs an argument"
		case $1 in
		--kernel) kernel=$2 ;;
		--plan) plan=$2 ;;
		--files) files=$2 ;;
		--timeout) tmo=$2 ;;
		--cpus) cpus=$2 ;;
		--mem) mem=$2 ;;
		--append) append=$2 ;;
		--out) out=$2 ;;
		--allow) allow=$2 ;;
		--tcg-thread) tcg_thread=$2 ;;
		esac
		shift 2 ;;
	-h|--help) usage ;;
	*) echo "$prog: unknown argument: $1" >&2; usage ;;
	esac
done
if [ -z "$kernel" ] || [ -z "$plan" ]; then usage; fi
[ -f "$plan" ] || die "no plan file $plan"
[ -z "$files" ] || [ -d "$files" ] || die "--files $files is not a directory"
for n in "$tmo" "$cpus" "$mem"; do
	case $n in '' | *[!0-9]*) die "not a number: $n" ;; esac
done
for t in qemu-system-x86_64 cpio gzip timeout; do
	command -v "$t" >/dev/null || die "$t missing: run tools/deps.sh"
done
busybox=/bin/busybox
[ -x $busybox ] || die "$busybox missing: run tools/deps.sh (busybox-static)"
if LC_ALL=C readelf -l $busybox 2>/dev/null | grep -q 'program interpreter'; then
	die "$busybox is dynamically linked: install busybox-static (tools/deps.sh)"
fi

# Kernel: a release (fetched and cached by fetch-kernel.sh) or a vmlinuz path.
if [ -f "$kernel" ]; then
	vmlinuz=$kernel
	rel=${kernel##*/}
	rel=${rel#vmlinuz-}
else
	rel=$kernel
	vmlinuz=$("$vmdir/fetch-kernel.sh" "$rel") || die "cannot fetch kernel $rel"
fi
out=${out:-$top/build/vm/run-$rel}

# Accelerator.
accel=${VM_ACCEL:-auto}
# KVM is used only with a hardware backend (kvm_intel/kvm_amd): some hosts
# offer /dev/kvm through kvm_pvm (PVM), which runs only PVM-built guest
# kernels; Debian's kernels hang there right after the real-mode setup.
kvm_why() {
	if ! { : <>/dev/kvm; } 2>/dev/null; then
		echo "/dev/kvm cannot be opened read-write"
	elif [ ! -d /sys/module/kvm_intel ] && [ ! -d /sys/module/kvm_amd ]; then
		echo "the KVM backend is not kvm_intel/kvm_amd ($(cd /sys/module &&
			echo kvm_* | tr ' ' ,)): it cannot boot Debian's kernels"
	fi
}
case $accel in
auto) if [ -z "$(kvm_why)" ]; then accel=kvm; else accel=tcg; fi ;;
kvm) why=$(kvm_why); [ -z "$why" ] || die "VM_ACCEL=kvm: $why; use VM_ACCEL=tcg" ;;
tcg) ;;
*) die "VM_ACCEL must be auto, kvm or tcg (not $accel)" ;;
esac
if [ "$accel" = kvm ]; then cpu=host; else cpu=max; fi
# TCG: one host thread for all vCPUs (single, the default) or one each
# (multi). With multi, guest kernels took int3 oopses right after a static
# key was patched (perf's context-switch key, gmp.ko's preempt-notifier key
# at rmmod): the emulator let a vCPU run stale code. single keeps 2 vCPUs,
# interleaved instead of parallel, at little cost for these tests; the
# benchmark asks for multi, where parallel vCPUs matter.
tcg_thread=${VM_TCG_THREAD:-$tcg_thread}
case $tcg_thread in
single|multi) ;;
*) die "VM_TCG_THREAD/--tcg-thread must be single or multi (not $tcg_thread)" ;;
esac
accelopt=$accel
# TCG: `-cpu max` has no invariant-TSC bit (TCG does not offer invtsc), and
# a guest kernel takes the TSC of a non-Intel CPU without it for
# unsynchronized across CPUs: it falls back to the HPET clocksource, and
# every clock_gettime() in the guest becomes a system call and an emulated
# HPET read, where a machine reads its TSC in the vDSO. TCG's TSC is the
# host's, one counter for all vCPUs: tell the guest to trust it.
tsc=${VM_TSC:-reliable}
case $tsc in
reliable|probe) ;;
*) die "VM_TSC must be reliable or probe (not $tsc)" ;;
esac
[ "$accel" != tcg ] || [ "$tsc" != reliable ] || append="tsc=reliable${append:+ $append}"
[ "$accel" != tcg ] || accelopt=tcg,thread=$tcg_thread

# Fresh output directory (only the files this script writes are removed).
mkdir -p "$out"
out=$(cd "$out" && pwd)
rm -rf "$out/tests"
rm -f "$out"/{console,results,dmesg,qemu,kernel-log}.log "$out"/{summary.txt,initramfs.cpio.gz,cmdline}
mkdir -p "$out/tests"

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

# ---------------------------------------------------------------- initramfs
root=$stage/root
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,run,root,gmp,lib/modules}
cp $busybox "$root/bin/busybox"
while IFS= read -r applet; do
	[ "$applet" = bin/busybox ] || [ -e "$root/$applet" ] ||
		ln -s /bin/busybox "$root/$applet"
done < <($busybox --list-full)
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$root/etc/passwd"
printf 'root:x:0:\n' >"$root/etc/group"
[ -z "$files" ] || cp -a "$files/." "$root/gmp/"
# keyhold (keyhold.c): perf's context-switch static keys switched on once,
# at boot, not back and forth by the tests (a TCG text-patching hazard).
if [ -n "$keyhold" ]; then
	kh=$top/build/vm/keyhold
	if [ ! -x "$kh" ] || [ "$vmdir/keyhold.c" -nt "$kh" ]; then
		mkdir -p "${kh%/*}"
		cc -static -O2 -Wall -Wextra -Werror -o "$kh.tmp" "$vmdir/keyhold.c" ||
			die "cannot build $kh"
		mv "$kh.tmp" "$kh"
	fi
	cp "$kh" "$root/bin/gmp-keyhold"
fi
cp "$plan" "$root/plan.sh"

cat >"$root/init" <<'INIT'
#!/bin/sh
# gmp test VM init, written by tools/vm/run.sh.
export PATH=/gmp:/sbin:/usr/sbin:/bin:/usr/bin HOME=/root TERM=dumb
mount -t devtmpfs devtmpfs /dev
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t tmpfs -o mode=1777 tmpfs /tmp
mkdir -p /dev/shm /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
mount -t devpts devpts /dev/pts
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
ifconfig lo 127.0.0.1 up 2>/dev/null || ip link set lo up 2>/dev/null
mkdir -p "/lib/modules/$(uname -r)"
ln -sf /proc/self/fd /dev/fd
# Results channel: the second serial port. The console (ttyS0) keeps the
# kernel's messages only.
stty -F /dev/ttyS1 raw -echo 2>/dev/null
exec </dev/null >/dev/ttyS1 2>&1

GMP_KREL=$(uname -r)
GMP_NCPUS=$(nproc)
export GMP_KREL GMP_NCPUS

# run NAME CMD [ARGS...]: run CMD, framing its output; returns CMD's status.
run() {
	local _gmp_n=$1 _gmp_rc
	shift
	echo "gmp-vm: begin $_gmp_n" >/dev/kmsg
	echo "### BEGIN $_gmp_n"
	if [ -n "${RUN_TIMEOUT:-}" ]; then
		timeout "$RUN_TIMEOUT" "$@"
	else
		"$@"
	fi
	_gmp_rc=$?
	echo "### END $_gmp_n rc=$_gmp_rc"
	echo "gmp-vm: end $_gmp_n rc=$_gmp_rc" >/dev/kmsg
	return $_gmp_rc
}
# must NAME CMD [ARGS...]: like run, but a failure ends the plan.
must() {
	run "$@" && return 0
	echo "### ABORT $1"
	exit 1
}
# fail NAME MESSAGE...: record a failed check without running anything.
fail() {
	local _gmp_n=$1
	shift
	echo "gmp-vm: fail $_gmp_n" >/dev/kmsg
	echo "### BEGIN $_gmp_n"
	echo "$*"
	echo "### END $_gmp_n rc=1"
}
# unload_gmp: rmmod gmp, retried for 5 s (the Ms of exited threads are
# freed by a work item shortly after their last switch).
unload_gmp() {
	_gmp_i=0
	while ! rmmod gmp 2>/dev/null; do
		_gmp_i=$((_gmp_i + 1))
		[ "$_gmp_i" -lt 50 ] || { rmmod gmp; return 1; }
		sleep 0.1
	done
}
# log MESSAGE...: an unframed line on the results channel and in dmesg.
log() {
	echo "# $*"
	echo "gmp-vm: $*" >/dev/kmsg
}

# The plan runs in a subshell from /gmp: a syntax error, an exit or a failed
# must ends it, and the dmesg and the power-off below still happen.
read -r _gmp_up _ </proc/uptime
echo "### GMP-VM-START $GMP_KREL uptime=$_gmp_up"
[ ! -x /bin/gmp-keyhold ] || /bin/gmp-keyhold </dev/null >/dev/kmsg 2>&1 &
cd /gmp
(. /plan.sh; exit 0)
_gmp_rc=$?
cd /
read -r _gmp_up _ </proc/uptime
echo "### PLAN-END rc=$_gmp_rc uptime=$_gmp_up"
echo "### BEGIN dmesg"
dmesg
echo "### END dmesg"
echo "### GMP-VM-DONE"
# The last close of ttyS1 waits until the UART has sent everything.
exec >/dev/null 2>&1
sync
poweroff -f
sleep 2
reboot -f
INIT
chmod 755 "$root/init"

(cd "$root" && find . -print0 | LC_ALL=C sort -z |
	cpio --null -o -H newc -R 0:0 --quiet) | gzip -1 >"$out/initramfs.cpio.gz"

# ---------------------------------------------------------------- boot
cmdline="console=ttyS0 panic=-1 oops=panic printk.devkmsg=on${append:+ $append}"
echo "$cmdline" >"$out/cmdline"
esc() { printf '%s' "${1//,/,,}"; }
qemu=(qemu-system-x86_64 -accel "$accelopt" -cpu "$cpu" -smp "$cpus" -m "$mem"
	-nographic -nodefaults -no-reboot
	-chardev "file,id=con,path=$(esc "$out/console.log")" -serial chardev:con
	-chardev "file,id=res,path=$(esc "$out/results.log")" -serial chardev:res
	-kernel "$vmlinuz" -initrd "$out/initramfs.cpio.gz" -append "$cmdline")
printf '%q ' "${qemu[@]}" >"$out/qemu.log"
echo >>"$out/qemu.log"

echo "$prog: booting $rel ($accelopt, ${cpus} cpus, ${mem} MB, timeout ${tmo}s), logs in $out"
t0=$(date +%s%N)
set +e
timeout -k 10 "$tmo" "${qemu[@]}" </dev/null >>"$out/qemu.log" 2>&1
qrc=$?
set -e
t1=$(date +%s%N)
secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')
sed -i 's/\r$//' "$out/console.log" "$out/results.log" 2>/dev/null || true

# ---------------------------------------------------------------- results
# Split the results channel: per-test logs, dmesg.log, a status table, and
# the readable stream printed to stdout.
status=$stage/status
awk -v out="$out" -v status="$status" '
function fname(n,   f) {
	f = n
	gsub(/[^A-Za-z0-9._+-]/, "_", f)
	if (f in seen) f = f "." (++seen[f]); else seen[f] = 0
	return out "/tests/" f ".log"
}
function unfinished() {
	print name[depth] "\tunfinished" > status
	close(lf[depth]); depth--
}
indmesg {
	if ($0 == "### END dmesg") { indmesg = 0; dmesgdone = 1; next }
	print > (out "/dmesg.log"); next
}
$0 == "### BEGIN dmesg" { indmesg = 1; printf "" > (out "/dmesg.log"); next }
/^### BEGIN / {
	n = substr($0, 11)
	name[++depth] = n; lf[depth] = fname(n); printf "" > lf[depth]
	print "=== " n; next
}
/^### END .* rc=-?[0-9]+$/ {
	n = substr($0, 9); sub(/ rc=-?[0-9]+$/, "", n)
	rc = $NF; sub(/^rc=/, "", rc)
	for (i = depth; i > 0 && name[i] != n; i--) ;
	if (i == 0) { print n "\t" rc > status; next }	# END without BEGIN
	while (depth > i) unfinished()
	print n "\t" rc > status
	print "=== " n ": " (rc == 0 ? "ok" : "FAIL (rc=" rc ")")
	close(lf[depth]); depth--; next
}
/^### ABORT / { print "@abort\taborted by must " substr($0, 11) > status; next }
/^### PLAN-END / {
	rc = $3; sub(/^rc=/, "", rc)
	print "@plan-end\t" rc "\t" $4 > status; next
}
/^### GMP-VM-START / { print "@start\t" $4 > status; next }
$0 == "### GMP-VM-DONE" { print "@done\t0" > status; next }
{
	print
	for (i = 1; i <= depth; i++) print > lf[i]
}
END {
	while (depth > 0) unfinished()
	if (indmesg && !dmesgdone) print "@dmesg\tunfinished" > status
}' "$out/results.log"
touch "$status"

# Guest kernel log check: the dmesg section and the console.
pat='BUG:|WARNING:|Oops|general protection|KASAN|possible circular locking'
pat+='|lockdep|inconsistent lock state|self-detected stall|rcu: INFO'
pat+='|detected stalls|blocked for more than|kmemleak|Kernel panic|UBSAN'
pat+='|list_add corruption|list_del corruption|Call Trace:'
pat+='|BUG [^ ]+ [(]'	# slub_debug reports on 6.1: "BUG kmalloc-64 (Tainted: ...): ..."

scan() {
	# prints "[in TEST] line" for each offending line of a kernel log
	awk -v pat="$pat" -v allow="$allow" '
	/gmp-vm: begin / { t = $0; sub(/.*gmp-vm: begin /, "", t); st[++d] = t; next }
	/gmp-vm: end / { if (d > 0) d--; next }
	/Kernel command line:|Command line:/ { next }
	$0 ~ pat && !(allow != "" && $0 ~ allow) {
		print (d > 0 ? "[in " st[d] "] " : "") $0
	}' "$1"
}
: >"$out/kernel-log.log"
[ -f "$out/dmesg.log" ] && scan "$out/dmesg.log" >>"$out/kernel-log.log"
# Console lines not already reported from dmesg (e.g. a panic after it).
scan "$out/console.log" | while IFS= read -r l; do
	grep -qxF -- "$l" "$out/kernel-log.log" || printf '%s\n' "$l"
done >"$stage/conhits"
cat "$stage/conhits" >>"$out/kernel-log.log"

# ---------------------------------------------------------------- verdict
pass=0 failed=0 failures=()
start_up='' end_up='' plan_rc='' finished=0 aborted=0 abort_msg=''
while IFS=$'\t' read -r name rc extra; do
	case $name in
	@start) start_up=${rc#uptime=} ;;
	@plan-end) plan_rc=$rc end_up=${extra#uptime=} ;;
	@done) finished=1 ;;
	@abort) aborted=1 abort_msg=$rc ;;	# the failed must is reported as a test
	@dmesg) failures+=("dmesg section cut short") ;;
	*)
		if [ "$rc" = 0 ]; then
			pass=$((pass + 1))
		elif [ "$rc" = unfinished ]; then
			failures+=("$name: did not finish")
		else
			failures+=("$name: rc=$rc")
		fi ;;
	esac
done <"$status"

if [ -n "$plan_rc" ] && [ "$plan_rc" != 0 ] && [ $aborted = 0 ]; then
	failures+=("plan: ended early with rc=$plan_rc (syntax error or exit)")
fi
if [ "$qrc" = 124 ] || [ "$qrc" = 137 ]; then
	failures+=("timeout: the VM was killed after ${tmo}s")
elif [ "$finished" != 1 ]; then
	failures+=("the guest never reached its end marker (crash or panic; qemu rc=$qrc)")
elif [ "$qrc" != 0 ]; then
	failures+=("qemu exited with $qrc (see $out/qemu.log)")
fi
if [ -s "$out/kernel-log.log" ]; then
	failures+=("guest kernel log has errors ($out/kernel-log.log)")
fi
failed=${#failures[@]}

{
	echo "kernel $rel accel $accel cpus $cpus mem $mem"
	echo "cmdline $cmdline"
	echo "qemu-wall ${secs}s guest-uptime-at-plan-start ${start_up:-?}s at-plan-end ${end_up:-?}s"
	echo "passed $pass failed $failed"
	printf '%s\n' "${failures[@]}"
} >"$out/summary.txt"

echo "$prog: $rel ($accel): qemu ran ${secs}s; guest plan started at ${start_up:-?}s uptime, ended at ${end_up:-?}s"
if [ ${#failures[@]} -gt 0 ]; then
	echo "$prog: FAILED:"
	printf '  %s\n' "${failures[@]}"
	[ $aborted = 0 ] || echo "  (the plan stopped there: $abort_msg)"
	if [ -s "$out/kernel-log.log" ]; then
		head -n 50 "$out/kernel-log.log" | sed 's/^/    /'
	fi
	if [ "$finished" != 1 ]; then
		echo "  last console lines ($out/console.log):"
		tail -n 30 "$out/console.log" | sed 's/^/    /'
	fi
fi
echo "vm: $pass passed, $failed failed"
[ ${#failures[@]} -eq 0 ]
