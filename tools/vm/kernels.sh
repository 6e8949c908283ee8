#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Print the kernel releases gmp is tested on, one per line, derived from the
# installed header metapackages (never a hard-coded ABI number).
#
# Usage: tools/vm/kernels.sh              list the releases
#        tools/vm/kernels.sh --headers REL print the kbuild dir for REL
set -euo pipefail

# Header metapackages, in test order (oldest kernel first); each names its
# flavour after "linux-headers-[6.12-]": cloud-amd64, rt-amd64 (PREEMPT_RT).
metas=(linux-headers-cloud-amd64 linux-headers-6.12-cloud-amd64 linux-headers-6.12-rt-amd64)

headers_dir() {
	local rel=$1 d
	for d in "/lib/modules/$rel/build" "/usr/src/linux-headers-$rel"; do
		if [ -f "$d/Makefile" ]; then
			(cd "$d" && pwd -P)
			return 0
		fi
	done
	echo "kernels.sh: no headers for $rel (package linux-headers-$rel): run tools/deps.sh" >&2
	return 1
}

if [ "${1:-}" = --headers ]; then
	[ $# -eq 2 ] || { echo "usage: $0 --headers REL" >&2; exit 2; }
	headers_dir "$2"
	exit
fi
if [ $# -ne 0 ]; then
	echo "usage: $0 [--headers REL]" >&2
	exit 2
fi

rc=0
for m in "${metas[@]}"; do
	if ! deps=$(dpkg-query -W -f='${Depends}' "$m" 2>/dev/null) || [ -z "$deps" ]; then
		echo "kernels.sh: $m is not installed: run tools/deps.sh" >&2
		rc=1
		continue
	fi
	# "linux-headers-6.1.0-56-cloud-amd64 (= 6.1.192-2)" -> 6.1.0-56-cloud-amd64
	flavour=${m#linux-headers-}
	flavour=${flavour#6.12-}
	rel=$(printf '%s\n' "$deps" | sed 's/[,|]/\n/g' | sed -n \
		"s/^ *linux-headers-\\([^ ]*-$flavour\\)\\( .*\\)\\{0,1\\}\$/\\1/p" | head -n1)
	if [ -z "$rel" ]; then
		echo "kernels.sh: cannot find a release in the Depends of $m: $deps" >&2
		rc=1
		continue
	fi
	headers_dir "$rel" >/dev/null || { rc=1; continue; }
	echo "$rel"
done
exit $rc
