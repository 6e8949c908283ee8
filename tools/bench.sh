#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# `make bench`: the block-to-wake microbenchmark (tools/wakelat: gmp.ko's
# activation vs a perf context-switch watcher, each placement) in one boot
# of the first test kernel, without slub_debug. The table is printed and
# kept in build/bench/wakelat.txt, every figure in build/bench/wakelat.json.
# BENCH_KERNEL=<release prefix> picks another kernel; BENCH_ARGS is passed
# to wakelat (default: -n 2000 -R 4).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
tools/deps.sh
tools/ksrc.sh build/ksrc

rel=
for r in $(tools/vm/kernels.sh); do
	case $r in "${BENCH_KERNEL:-}"*) rel=$r; break ;; esac
done
[ -n "$rel" ] || { echo "bench: no test kernel matches '${BENCH_KERNEL:-}'" >&2; exit 2; }

make -s module KERNELS="$rel"
files=build/bench/files
out=build/bench/vm
rm -rf "$files"
mkdir -p "$files" build/bench
make -s -C tools/wakelat OUTPUT="$top/$files"
cp "build/kmod/$rel/kmod/gmp.ko" "$files/"
cat >"$files/plan.sh" <<PLAN
must insmod insmod /gmp/gmp.ko
run wakelat /gmp/wakelat ${BENCH_ARGS:--n 2000 -R 4} -j /tmp/wakelat.json
run json cat /tmp/wakelat.json
PLAN
echo "bench: booting $rel (this takes a few minutes under TCG)"
tools/vm/run.sh --kernel "$rel" --plan "$files/plan.sh" --files "$files" \
	--timeout "${BENCH_TIMEOUT:-1800}" --out "$out" >"$out.log" 2>&1 || {
	cat "$out.log"
	exit 1
}
cp "$out/tests/wakelat.log" build/bench/wakelat.txt
cp "$out/tests/json.log" build/bench/wakelat.json
cat build/bench/wakelat.txt
echo "bench: table in build/bench/wakelat.txt, figures in build/bench/wakelat.json"
