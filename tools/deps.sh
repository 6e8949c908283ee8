#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Install the Debian packages gmp needs to build and test, only those that
# are missing: silent and fast when everything is present.
#
# Usage: tools/deps.sh [PACKAGE...]   (default: every package below)
set -euo pipefail

all_pkgs=(
	build-essential			# gcc, make
	linux-headers-cloud-amd64	# headers for the 6.1 test kernel
	linux-headers-6.12-cloud-amd64	# headers for the 6.12 test kernel
	linux-headers-6.12-rt-amd64	# headers for the 6.12 PREEMPT_RT test kernel
	linux-source-6.1		# kselftest harness, checkpatch.pl (tools/ksrc.sh)
	qemu-system-x86			# test VM (tools/vm/run.sh)
	busybox-static			# test VM initramfs
	cpio				# test VM initramfs
	liburing-dev
	sparse
	golang-go
	gnuplot-nox
	python3
	flex bison bc libelf-dev libssl-dev xz-utils	# the debug kernel (make check-debug)
)

if [ $# -gt 0 ]; then
	pkgs=("$@")
else
	pkgs=("${all_pkgs[@]}")
fi

if [ ! -r /etc/debian_version ] || ! command -v dpkg-query >/dev/null 2>&1 ||
   ! command -v apt-get >/dev/null 2>&1; then
	echo "deps.sh: this is not a Debian system (no dpkg/apt-get)." >&2
	echo "deps.sh: install the equivalents of these Debian packages by hand:" >&2
	echo "  ${pkgs[*]}" >&2
	exit 1
fi

missing=()
for p in "${pkgs[@]}"; do
	st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$st" = installed ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=()
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		sudo=(sudo)
	else
		echo "deps.sh: missing packages: ${missing[*]}" >&2
		echo "deps.sh: run as root (or install sudo) to install them" >&2
		exit 1
	fi
fi

echo "deps.sh: installing: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
	apt-get install -y -qq -o Dpkg::Use-Pty=0 --no-install-recommends "${missing[@]}"
