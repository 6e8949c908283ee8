#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Echo benchmark on loopback: libgmp's echo server (a goroutine per
# connection, io_uring poller) against Go 1.19's (a goroutine per
# connection, netpoller), both with 2 Ps/GOMAXPROCS unless PROCS is set,
# libgmp's twice: "gmp" waits for readability holding no buffer and then
# borrows one (examples/echo.c), "gmp-stack" receives into a buffer of its
# own on its stack (echo -s), as the Go server reads into a []byte of its own,
# under the same closed-loop load (tools/loadgen): 64-byte requests, a
# warm-up second, then SECONDS measured; requests/s, p50/p99/max latency,
# and the server's peak RSS (VmHWM) after the run. Each cell is the median
# of REPS runs, the servers alternating (noise from other load on the host
# hits both); "vs go" is the median over reps of a server's requests/s over
# Go's in the same rep, with the number of reps it was ahead. Bounded:
# every run ends after WARMUP + SECONDS whatever the server does; a server
# that does not start is reported, not waited for.
#
#   make -C tools/loadgen && tools/loadgen/run.sh
#   CONNS="100 1000 10000" SECONDS=5 REPS=5 PROCS=2 SERVERS="gmp gmp-stack go" POLLER=uring|blocking
# Output: a table on stdout, raw lines in $B/bench-echo.txt.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
B=${B:-$here/../../build/loadgen}
CONNS=${CONNS:-"100 1000 10000"}
SECS=${SECONDS_RUN:-${SECS:-5}}
REPS=${REPS:-5}
PROCS=${PROCS:-2}
SERVERS=${SERVERS:-"gmp gmp-stack go"}
SIZE=${SIZE:-64}
port=${PORT:-17300}
raw=$B/bench-echo.txt

for f in loadgen echo-gmp echo-go; do
	[ -x "$B/$f" ] || { echo "run.sh: $B/$f missing: make -C tools/loadgen" >&2; exit 2; }
done
# 10k connections: two fds each side, in one process each.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
need=$(( $(echo "$CONNS" | tr ' ' '\n' | sort -n | tail -1) + 100 ))
if [ "$(ulimit -n)" -lt "$need" ]; then
	echo "run.sh: RLIMIT_NOFILE $(ulimit -n) < $need: raise the hard limit" >&2
	exit 2
fi
: >"$raw"

start_server() {	# NAME PORT -> pid in $spid
	case $1 in
	gmp) GMP_MAXPROCS=$PROCS GMP_POLLER=${POLLER:-} "$B/echo-gmp" "$2" 2>/dev/null & ;;
	gmp-stack) GMP_MAXPROCS=$PROCS GMP_POLLER=${POLLER:-} "$B/echo-gmp" -s "$2" 2>/dev/null & ;;
	go) GOMAXPROCS=$PROCS "$B/echo-go" "$2" 2>/dev/null & ;;
	esac
	spid=$!
	for _ in $(seq 50); do	# up to 5 s for the listener
		if (exec 3<>"/dev/tcp/127.0.0.1/$2") 2>/dev/null; then return 0; fi
		sleep 0.1
	done
	return 1
}

for c in $CONNS; do
	for r in $(seq "$REPS"); do
		for s in $SERVERS; do
			port=$((port + 1))
			if ! start_server "$s" "$port"; then
				echo "server=$s conns=$c rep=$r error=no-listener" >>"$raw"
				kill "$spid" 2>/dev/null || true
				continue
			fi
			line=$(timeout $((SECS + 60)) "$B/loadgen" -p "$port" -c "$c" -d "$SECS" -w 1 -s "$SIZE" || echo "error=loadgen")
			rss=$(awk '/VmHWM/ {print $2}' "/proc/$spid/status" 2>/dev/null || echo 0)
			kill "$spid" 2>/dev/null || true
			wait "$spid" 2>/dev/null || true
			echo "server=$s rep=$r $line rss_kb=$rss" | tee -a "$raw" >&2
		done
	done
done

# The table: medians per (server, conns).
python3 - "$raw" "$SERVERS" "$CONNS" <<'PY'
import sys, statistics
raw, servers, conns = sys.argv[1], sys.argv[2].split(), sys.argv[3].split()
rows = {}
for line in open(raw):
    kv = dict(x.split('=', 1) for x in line.split() if '=' in x)
    if 'rps' not in kv:
        continue
    rows.setdefault((kv['server'], kv['conns']), []).append(kv)
def med(v, k):
    return statistics.median(float(x[k]) for x in v)
# Against Go, rep by rep: the servers of a rep ran back to back, under the
# same load from the rest of the host, which drifts across reps.
def vs_go(s, c):
    if s == 'go' or 'go' not in servers:
        return ''
    go = {x['rep']: float(x['rps']) for x in rows.get(('go', c), [])}
    r = [float(x['rps']) / go[x['rep']] for x in rows.get((s, c), [])
         if go.get(x['rep'])]
    if not r:
        return ''
    return f"{statistics.median(r):.2f} ({sum(x > 1 for x in r)}/{len(r)})"
print("| conns | server | requests/s | vs go (ahead) | p50 us | p99 us | max us | RSS MB | errors |")
print("|---:|---|---:|---:|---:|---:|---:|---:|---:|")
for c in conns:
    for s in servers:
        v = rows.get((s, c))
        if not v:
            print(f"| {c} | {s} | failed | | | | | | |")
            continue
        print(f"| {c} | {s} | {med(v,'rps'):.0f} | {vs_go(s, c)} | "
              f"{med(v,'p50_us'):.0f} | "
              f"{med(v,'p99_us'):.0f} | {med(v,'max_us'):.0f} | "
              f"{med(v,'rss_kb')/1024:.1f} | {sum(int(x['errors']) for x in v)} |")
PY
