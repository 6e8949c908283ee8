#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# `make bench`: everything runs in one VM boot; see tools/bench/vm-bench.sh.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/tools/deps.sh"
"$top/tools/ksrc.sh" "$top/build/ksrc"
exec "$top/tools/bench/vm-bench.sh" "$@"
