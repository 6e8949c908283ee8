#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1-or-later OR MIT)
# Run libgmp's and Go's runtime benchmarks in one invocation and print a
# table. Numbers only; nothing is asserted. QUICK=1 for smaller runs.
set -euo pipefail
B=${B:-$(cd "$(dirname "$0")/../.." && pwd)/build/bench}
gmp=$B/bench-gmp
gobin=$B/bench-go
q=${QUICK:-0}
n_pp=$([ "$q" = 1 ] && echo 200000 || echo 2000000)
n_sp=$([ "$q" = 1 ] && echo 200000 || echo 1000000)
n_ho=$([ "$q" = 1 ] && echo 300 || echo 2000)
n_ho20=$([ "$q" = 1 ] && echo 20 || echo 100)
out=$(mktemp)
trap 'rm -f "$out"' EXIT

both() { # label procs args...
	local label=$1 procs=$2; shift 2
	env BENCH_LABEL="$label" GMP_MAXPROCS="$procs" GMP_HANDOFF=sysmon "$gmp" "$@" | sed -e '/^@/d' -e 's/^/gmp /' >>"$out"
	env BENCH_LABEL="$label" GOMAXPROCS="$procs" "$gobin" "$@" | sed 's/^/go /' >>"$out"
}

ncpu=$(nproc)
both "_1p" 1 pingpong "$n_pp"
both "_${ncpu}p" "$ncpu" pingpong "$n_pp"
both "_${ncpu}p" "$ncpu" spawn "$n_sp"
both "" "$ncpu" rss 100000
[ "$q" = 1 ] || both "" "$ncpu" rss 1000000
# The M must really block in read(2): no io_uring poller for these.
export GMP_POLLER=blocking
both "" 1 handoff "$n_ho" 0
both "" 1 handoff "$n_ho20" 20

printf '%-22s %12s %12s %8s\n' benchmark gmp go gmp/go
awk '{ v[$1" "$2] = $3; u[$2] = $4; if (!($2 in seen)) { seen[$2] = 1; order[n++] = $2 } }
     END { for (i = 0; i < n; i++) { k = order[i]; g = v["gmp " k]; o = v["go " k];
	   printf "%-22s %9s %-2s %9s %-2s %8s\n", k, g, u[k], o, u[k], (o > 0 ? sprintf("%.2f", g / o) : "-") } }' "$out"
