#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# `make bench`: the handoff benchmarks in one VM boot (tools/bench/vm-bench.sh),
# then the echo benchmark on the host's loopback (tools/loadgen: libgmp's
# io_uring poller against Go's netpoller at 100, 1k and 10k connections;
# QUICK=1: 100 connections, one short run).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/tools/deps.sh"
"$top/tools/ksrc.sh" "$top/build/ksrc"
"$top/tools/bench/vm-bench.sh" "$@"
echo "bench: echo server, libgmp vs Go 1.19, loopback"
make -s -C "$top/tools/loadgen"
if [ -n "${QUICK:-}" ]; then
	export CONNS=${CONNS:-100} SECS=${SECS:-1} REPS=${REPS:-1}
fi
B="$top/build/loadgen" "$top/tools/loadgen/run.sh" | tee "$top/build/loadgen/bench-echo-table.txt"
