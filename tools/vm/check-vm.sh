#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The VM part of `make check` for one kernel release: boot it with gmp.ko
# and the static test binaries, load the module, run every selftest, unload
# the module (which must succeed once the tests are gone), and fail on any
# failed test or kernel splat (run.sh scans the guest's log).
# Usage: tools/vm/check-vm.sh RELEASE   (after `make module selftests`)
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
rel=${1:?usage: check-vm.sh RELEASE}
ko=$top/build/kmod/$rel/kmod/gmp.ko
tests=$top/build/selftests/kmod
[ -f "$ko" ] || { echo "check-vm: $ko missing: make module" >&2; exit 2; }
[ -d "$tests" ] || { echo "check-vm: $tests missing: make selftests" >&2; exit 2; }

files=$top/build/vm/files-$rel
rm -rf "$files"
mkdir -p "$files/kmod"
cp "$ko" "$files/gmp.ko"
find "$tests" -maxdepth 1 -type f -perm -u+x -exec cp {} "$files/kmod/" \;
if [ -d "$top/build/selftests-lib/static" ]; then
	mkdir -p "$files/lib"
	find "$top/build/selftests-lib/static" -maxdepth 1 -type f -perm -u+x \
		-name '*_test' -exec cp {} "$files/lib/" \;
fi

plan=$files/plan.sh
cat >"$plan" <<'PLAN'
# libgmp without the module: sysmon handoff (and kmod_test's auto fallback).
# The I/O tests once more with the poller's blocking fallback forced.
if [ -d /gmp/lib ]; then
	for t in /gmp/lib/*_test; do
		run "lib-sysmon/${t##*/}" "$t"
	done
	for t in /gmp/lib/io_test /gmp/lib/syscall_test /gmp/lib/select_test; do
		[ -x "$t" ] && run "lib-blocking/${t##*/}" env GMP_POLLER=blocking "$t"
	done
fi
must insmod insmod /gmp/gmp.ko
export GMP_KO=/gmp/gmp.ko
for t in /gmp/kmod/*; do
	run "kmod/${t##*/}" "$t"
done
# libgmp on the module: GMP_HANDOFF=auto now picks kmod.
if [ -d /gmp/lib ]; then
	for t in /gmp/lib/*_test; do
		run "lib-kmod/${t##*/}" "$t"
	done
fi
run rmmod unload_gmp
PLAN

exec "$top/tools/vm/run.sh" --kernel "$rel" --plan "$plan" --files "$files" \
	--append "slub_debug=FZPU" --timeout "${VM_TIMEOUT:-900}" \
	--out "$top/build/vm/check-$rel"
