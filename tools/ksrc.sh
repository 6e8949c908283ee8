#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Extract the files gmp borrows from Debian's linux-source-6.1 at build time
# (never committed): the kselftest harness, its lib.mk, and checkpatch.pl
# with its data files. Usage: tools/ksrc.sh [OUTDIR]  (default build/ksrc)
set -euo pipefail
out=${1:-build/ksrc}
tarball=$(ls /usr/src/linux-source-6.1.tar.* 2>/dev/null | head -n1 || true)
if [ -z "$tarball" ]; then
	echo "ksrc: /usr/src/linux-source-6.1.tar.* missing: run tools/deps.sh (package linux-source-6.1)" >&2
	exit 1
fi
stamp="$out/.stamp"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$tarball $(stat -c %Y "$tarball")" ]; then
	exit 0
fi
files="tools/testing/selftests/kselftest_harness.h
tools/testing/selftests/kselftest.h
tools/testing/selftests/lib.mk
scripts/checkpatch.pl
scripts/spelling.txt
scripts/const_structs.checkpatch"
top=$(basename "$tarball" | sed 's/\.tar\..*//')
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# shellcheck disable=SC2086
tar -xf "$tarball" -C "$tmp" $(printf "$top/%s " $files)
rm -rf "$out"
mkdir -p "$out"
cp -a "$tmp/$top/." "$out/"
echo "$tarball $(stat -c %Y "$tarball")" >"$stamp"
echo "ksrc: extracted harness and checkpatch into $out"
