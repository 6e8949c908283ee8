#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# make check's examples stage (host): the examples build with -Werror, the
# echo server echoes exactly what each of many connections sends (both
# ways of serving: a buffer borrowed once the connection is readable, and
# with -s a buffer of its own; io_uring and blocking pollers), and the
# checksummer's sums are FNV-1a 64 of the files. TAP on stdout.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
ex=$top/examples
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"; [ -n "${spid:-}" ] && kill "$spid" 2>/dev/null' EXIT
n=0 fail=0
result() {	# RC NAME
	n=$((n + 1))
	if [ "$1" = 0 ]; then echo "ok $n $2"; else echo "not ok $n $2"; fail=1; fi
}

make -s -C "$top/lib" >/dev/null
make -s -C "$ex" -B CFLAGS='-O2 -g -Werror' >"$tmp/build.log" 2>&1
rc=$?
cat "$tmp/build.log"
result $rc "examples build with -Werror"
[ $rc = 0 ] || { echo "1..$n"; exit 1; }

# A client: CONNS connections open at once, each sends its own bytes (up
# to 3 buffers' worth) and must get exactly them back.
cat >"$tmp/client.py" <<'PY'
import socket, sys, random
port, conns = int(sys.argv[1]), int(sys.argv[2])
rnd = random.Random(port)
socks = [socket.create_connection(("127.0.0.1", port), timeout=20) for _ in range(conns)]
bad = 0
for rounds in range(3):
    for i, s in enumerate(socks):
        msg = bytes(rnd.randrange(256) for _ in range(rnd.choice((1, 64, 4096, 12289))))
        s.sendall(msg)
        got = b""
        while len(got) < len(msg):
            b = s.recv(65536)
            if not b:
                break
            got += b
        bad += got != msg
for s in socks:
    s.close()
print(f"client: {conns} connections, 3 rounds, {bad} wrong echoes")
sys.exit(1 if bad else 0)
PY

port=$((20000 + $$ % 20000))
for mode in "" "-s"; do
	for poller in uring blocking; do
		port=$((port + 1))
		GMP_POLLER=$poller "$ex/echo" $mode "$port" 2>"$tmp/echo.err" &
		spid=$!
		up=1
		for _ in $(seq 50); do
			if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then up=0; break; fi
			sleep 0.1
		done
		rc=$up
		[ $up = 0 ] && { timeout 120 python3 "$tmp/client.py" "$port" 100; rc=$?; }
		kill "$spid" 2>/dev/null
		wait "$spid" 2>/dev/null
		spid=
		[ $rc = 0 ] || cat "$tmp/echo.err"
		result $rc "echo ${mode:+$mode }GMP_POLLER=$poller: 100 connections, every byte echoed"
	done
done

# sum: against Python's FNV-1a 64 of the same files.
head -c 100000 /dev/urandom >"$tmp/a"
: >"$tmp/empty"
printf 'gmp' >"$tmp/c"
"$ex/sum" "$tmp/a" "$tmp/empty" "$tmp/c" >"$tmp/sum.out"
rc=$?
python3 - "$tmp/sum.out" "$tmp/a" "$tmp/empty" "$tmp/c" <<'PY' || rc=1
import sys
want = []
for p in sys.argv[2:]:
    h = 0xcbf29ce484222325
    data = open(p, "rb").read()
    for b in data:
        h = ((h ^ b) * 0x100000001b3) & (2**64 - 1)
    want.append(f"{h:016x} {len(data):12d}  {p}")
got = open(sys.argv[1]).read().splitlines()
print("\n".join(got))
sys.exit(0 if got == want else 1)
PY
result $rc "sum: FNV-1a 64 and size of each file, in command-line order"
"$ex/sum" "$tmp/nonexistent" >/dev/null 2>"$tmp/sum.err"
rc=$?
grep -q 'No such file' "$tmp/sum.err" && [ $rc != 0 ]
result $? "sum: a missing file is an error on stderr and a non-zero exit"
echo "1..$n"
exit $fail
