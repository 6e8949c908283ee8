#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Download Debian's kernel image package for release REL with
# `apt-get download`, unpack it with `dpkg-deb -x` (never installed) and
# print the path of its vmlinuz. Cached: a second call downloads nothing.
#
# Usage: tools/vm/fetch-kernel.sh REL [OUTDIR]
#        (default OUTDIR: build/vm/kernels/REL in the repository)
set -euo pipefail

if [ $# -lt 1 ] || [ $# -gt 2 ] || [ -z "$1" ]; then
	echo "usage: $0 REL [OUTDIR]" >&2
	exit 2
fi
rel=$1
top=$(cd "$(dirname "$0")/../.." && pwd)
out=${2:-$top/build/vm/kernels/$rel}
vmlinuz=$out/boot/vmlinuz-$rel

if [ -f "$vmlinuz" ]; then
	echo "$vmlinuz"
	exit 0
fi

# Package name: signed image first, then the unsigned one (same kernel).
find_pkg() {
	local p
	for p in "linux-image-$rel" "linux-image-$rel-unsigned"; do
		if apt-cache show --no-all-versions "$p" >/dev/null 2>&1; then
			echo "$p"
			return 0
		fi
	done
	return 1
}
if ! pkg=$(find_pkg); then
	# Empty or stale package lists (fresh machine): refresh once.
	if [ "$(id -u)" -eq 0 ]; then
		echo "fetch-kernel: linux-image-$rel not in the package lists; running apt-get update" >&2
		apt-get update -qq >&2
	fi
	pkg=$(find_pkg) || {
		echo "fetch-kernel: no package linux-image-${rel}[-unsigned] in the apt lists." >&2
		echo "fetch-kernel: if Debian has moved to a newer ABI, upgrade the headers:" >&2
		echo "  apt-get install --only-upgrade linux-headers-cloud-amd64 linux-headers-6.12-cloud-amd64" >&2
		exit 1
	}
fi

# Prefer the exact version of the installed headers, so the module built
# against them matches the image; fall back to the candidate.
hver=$(dpkg-query -W -f='${Version}' "linux-headers-$rel" 2>/dev/null || true)

mkdir -p "$(dirname "$out")"
tmp=$(mktemp -d "$out.tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
echo "fetch-kernel: downloading $pkg${hver:+ (headers version $hver)}" >&2
(
	cd "$tmp"
	if [ -z "$hver" ] || ! apt-get download -q "$pkg=$hver" >/dev/null 2>&1; then
		apt-get download -q "$pkg" >&2
	fi
)
debs=("$tmp"/*.deb)
[ -f "${debs[0]}" ] || { echo "fetch-kernel: apt-get download $pkg produced no .deb" >&2; exit 1; }
dpkg-deb -x "${debs[0]}" "$tmp/root"
if [ ! -f "$tmp/root/boot/vmlinuz-$rel" ]; then
	echo "fetch-kernel: ${debs[0]##*/} has no boot/vmlinuz-$rel" >&2
	exit 1
fi
dpkg-deb -f "${debs[0]}" Package Version >"$tmp/root/PACKAGE"
# Another fetch of the same release may have finished meanwhile: keep its.
if [ ! -f "$vmlinuz" ]; then
	rm -rf "$out"
	mv -T "$tmp/root" "$out" 2>/dev/null || [ -f "$vmlinuz" ]
fi
echo "fetch-kernel: unpacked ${debs[0]##*/} into $out" >&2
echo "$vmlinuz"
