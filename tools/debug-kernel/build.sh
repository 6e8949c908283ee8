#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Build (once) the gmp debug kernel: Debian's linux-source-6.1, allnoconfig
# plus tools/debug-kernel/debug.config (KASAN, kmemleak, lockdep, debug
# objects, preempt notifiers), bzImage and `make modules_prepare`, so that
# gmp.ko can be built against the tree and booted with tools/vm/run.sh.
#
# Usage: tools/debug-kernel/build.sh [--key]
#   Prints two lines on stdout: the bzImage path, then the kernel build dir
#   (make -C DIR M=... modules). Progress goes to stderr. --key prints the
#   cache key only.
# Env:   GMP_CACHE  cache root (default /var/cache/gmp, or ~/.cache/gmp when
#                   that is not writable); the tree lands in
#                   $GMP_CACHE/debug-kernel/<key>/linux
#        JOBS       make -j (default nproc)
#        NICE       niceness of the compile (default 10: the host is shared)
# The key hashes the source package version and tarball, the fragment, this
# script and the compiler version: a second run with the same inputs prints
# the cached paths without rebuilding; an interrupted build resumes.
set -euo pipefail

prog=debug-kernel
here=$(cd "$(dirname "$0")" && pwd)
fragment=$here/debug.config
self=$here/build.sh

die() {
	echo "$prog: $*" >&2
	exit 1
}
msg() { echo "$prog: $*" >&2; }

tarball=$(ls /usr/src/linux-source-6.1.tar.* 2>/dev/null | head -n1 || true)
[ -n "$tarball" ] || die "/usr/src/linux-source-6.1.tar.* missing: run tools/deps.sh (package linux-source-6.1)"
for t in make gcc flex bison bc perl xz tar flock sha256sum; do
	command -v $t >/dev/null || die "$t missing (Debian packages: build-essential flex bison bc libelf-dev libssl-dev xz-utils)"
done
for h in /usr/include/libelf.h /usr/include/openssl/opensslv.h; do
	[ -f $h ] || die "$h missing (Debian packages: libelf-dev libssl-dev)"
done

cc=${CC:-gcc}
srcver=$(dpkg-query -W -f='${Version}' linux-source-6.1 2>/dev/null || echo unknown)
key=$({
	echo "linux-source-6.1 $srcver $(basename "$tarball") $(stat -c '%s %Y' "$tarball")"
	"$cc" --version | head -n1
	cat "$fragment" "$self"
} | sha256sum | cut -c1-16)
if [ "${1:-}" = --key ]; then
	echo "$key"
	exit 0
fi
[ $# -eq 0 ] || die "usage: $0 [--key]"

cache=${GMP_CACHE:-}
if [ -z "$cache" ]; then
	cache=/var/cache/gmp
	if ! mkdir -p "$cache" 2>/dev/null || [ ! -w "$cache" ]; then
		cache=${XDG_CACHE_HOME:-$HOME/.cache}/gmp
	fi
fi
base=$cache/debug-kernel
dir=$base/$key
tree=$dir/linux
bz=$tree/arch/x86/boot/bzImage
mkdir -p "$dir"

done_ok() {
	[ -f "$dir/done" ] && [ -f "$bz" ] && [ -f "$tree/Module.symvers" ] &&
		[ -f "$tree/scripts/mod/modpost" ]
}
report() {
	echo "$bz"
	echo "$tree"
}

if done_ok; then
	report
	exit 0
fi

# One builder per key; a concurrent caller waits and then finds it done.
exec 9>"$dir/.lock"
if ! flock -n 9; then
	msg "another build of $key is running; waiting for it"
	flock 9
fi
if done_ok; then
	report
	exit 0
fi

t0=$(date +%s)
log=$dir/build.log
: >"$log"
msg "building the debug kernel in $tree (log: $log)"

# 1. Source. A half-extracted tree is thrown away; a half-built one is kept
#    (make resumes it). When a finished tree of the same source and compiler
#    exists under another key (the fragment or this script changed), start
#    from a copy of it: Kbuild then rebuilds only what the changed options
#    touch (fixdep tracks CONFIG_ dependencies per file), minutes instead of
#    a full build.
want_src="source $tarball $srcver"
want_cc="compiler $("$cc" --version | head -n1)"
if [ ! -f "$tree/.gmp-extracted" ]; then
	rm -rf "$tree" "$dir/extract"
	mkdir -p "$dir/extract"
	seed=
	for d in $(ls -td "$base"/*/ 2>/dev/null); do
		d=${d%/}
		[ "$d" != "$dir" ] && [ -f "$d/done" ] && [ -f "$d/linux/.gmp-extracted" ] || continue
		grep -qxF "$want_src" "$d/done" && grep -qxF "$want_cc" "$d/done" || continue
		seed=$d
		break
	done
	if [ -n "$seed" ]; then
		msg "starting from the tree of $(basename "$seed") (incremental rebuild)"
		cp -a "$seed/linux" "$dir/extract/linux"
		rm -f "$dir/extract/linux/arch/x86/boot/bzImage"
		mv "$dir/extract/linux" "$tree"
	else
		msg "extracting $tarball"
		tar -xf "$tarball" -C "$dir/extract"
		top=$(ls "$dir/extract")
		[ "$(echo "$top" | wc -l)" = 1 ] || die "unexpected tarball layout: $top"
		mv "$dir/extract/$top" "$tree"
		touch "$tree/.gmp-extracted"
	fi
	rmdir "$dir/extract"
fi

# 2. Configuration: allnoconfig + fragment, then check that every line of
#    the fragment survived (an option whose dependencies are unmet is
#    silently dropped by Kconfig).
cd "$tree"
make -s allnoconfig >>"$log" 2>&1 || die "make allnoconfig failed (see $log)"
scripts/kconfig/merge_config.sh -m .config "$fragment" >>"$log" 2>&1 ||
	die "merge_config.sh failed (see $log)"
make -s olddefconfig >>"$log" 2>&1 || die "make olddefconfig failed (see $log)"
bad=()
while IFS= read -r line; do
	case $line in
	CONFIG_*=*)
		grep -qxF -- "$line" .config ||
			bad+=("want $line, got: $(grep -E "^${line%%=*}=|^# ${line%%=*} is not set" .config || echo 'absent (dependencies unmet)')") ;;
	'# CONFIG_'*' is not set')
		opt=${line#\# }
		opt=${opt%% *}
		if grep -q "^$opt=" .config; then
			bad+=("want $opt unset, got: $(grep "^$opt=" .config)")
		fi ;;
	esac
done <"$fragment"
if [ ${#bad[@]} -gt 0 ]; then
	msg "the fragment did not apply ($fragment):"
	printf '  %s\n' "${bad[@]}" >&2
	exit 1
fi
cp .config "$dir/config"

# 3. Build. make bzImage also writes vmlinux.symvers; the modules of this
#    config (kvm) are not built, so Module.symvers is vmlinux's.
jobs=${JOBS:-$(nproc)}
msg "make -j$jobs bzImage ($(grep -c '^CONFIG_.*=[ym]' .config) options set; 10-20 minutes on 2 cores)"
if ! nice -n "${NICE:-10}" make -j"$jobs" bzImage >>"$log" 2>&1; then
	tail -n 40 "$log" >&2
	die "make bzImage failed (see $log)"
fi
if ! make -j"$jobs" modules_prepare >>"$log" 2>&1; then
	tail -n 40 "$log" >&2
	die "make modules_prepare failed (see $log)"
fi
[ -f vmlinux.symvers ] || die "vmlinux.symvers missing after make bzImage"
cp vmlinux.symvers Module.symvers
[ -f "$bz" ] || die "no $bz after the build"

t1=$(date +%s)
{
	echo "key $key"
	echo "$want_src"
	echo "$want_cc"
	echo "kernelrelease $(make -s kernelrelease)"
	echo "built $(date -u +%FT%TZ) in $((t1 - t0))s with -j$jobs"
} >"$dir/done.tmp"
mv "$dir/done.tmp" "$dir/done"
msg "built in $((t1 - t0))s: $bz"
report
