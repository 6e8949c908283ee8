#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# `make check`: install what is missing, build, run every test (host and VM),
# and end with one plain line: "N passed, N failed, N skipped".
#
# Each stage's output goes to the terminal and to build/check/<stage>.log.
# A stage that prints TAP ("ok N ..." / "not ok N ...", kselftest style)
# counts one result per TAP line; a stage without TAP counts as one result
# of its own. A stage that fails without a "not ok" line counts as one
# failure too, so a crash or a timeout is never lost. Later stages run even
# when one fails; only a failed dependency install stops everything.
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1
logdir=build/check
rm -rf "$logdir"
mkdir -p "$logdir"
stages=()
start=$(date +%s)

# stage NAME CMD...: run CMD, log it, remember its exit status.
stage() {
	local name=$1 rc t0
	shift
	t0=$(date +%s)
	printf '\n=== %s\n' "$name"
	"$@" 2>&1 | tee "$logdir/$name.log"
	rc=${PIPESTATUS[0]}
	echo "$rc" >"$logdir/$name.rc"
	printf '=== %s: %s (%ss)\n' "$name" "$([ "$rc" = 0 ] && echo ok || echo "FAILED rc=$rc")" \
		"$(($(date +%s) - t0))"
	stages+=("$name")
	return "$rc"
}

stage deps tools/deps.sh || { echo "check: dependencies missing, stopping" >&2; exit 1; }
stage ksrc tools/ksrc.sh build/ksrc
stage style make -s style
stage module make -s module
stage sparse make -s sparse
stage selftests-build make -s selftests

if [ -f lib/Makefile ] && [ -f selftests/lib/Makefile ]; then
	stage lib-build make -s -C lib
	stage lib-host make -s -C selftests/lib check
	stage lib-static make -s -C selftests/lib static
	stage examples tools/examples-check.sh
fi

# The VM suite, once per test kernel.
for rel in $(tools/vm/kernels.sh); do
	if [ -n "${KERNELS:-}" ]; then
		keep=
		for k in $KERNELS; do case $rel in "$k"*) keep=1 ;; esac; done
		[ -n "$keep" ] || continue
	fi
	stage "vm-$rel" tools/vm/check-vm.sh "$rel"
done

# Summary.
passed=0 failed=0 skipped=0
for name in "${stages[@]}"; do
	log=$logdir/$name.log
	rc=$(cat "$logdir/$name.rc")
	tap_ok=$(grep -cE '^ok [0-9]+' "$log" | tr -d ' ')
	tap_skip=$(grep -E '^ok [0-9]+' "$log" | grep -c '# SKIP' | tr -d ' ')
	tap_fail=$(grep -cE '^not ok [0-9]+' "$log" | tr -d ' ')
	if [ $((tap_ok + tap_fail)) -eq 0 ]; then
		if [ "$rc" = 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
	else
		passed=$((passed + tap_ok - tap_skip))
		skipped=$((skipped + tap_skip))
		failed=$((failed + tap_fail))
		if [ "$rc" != 0 ] && [ "$tap_fail" -eq 0 ]; then
			failed=$((failed + 1))
		fi
	fi
	[ "$rc" = 0 ] || echo "check: stage $name failed (rc=$rc), see $log"
done
echo "check: $((($(date +%s) - start) / 60)) min $((($(date +%s) - start) % 60)) s"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
