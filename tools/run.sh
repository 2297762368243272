#!/usr/bin/env bash
# The main job: set up, build the kernel and the module, boot the test VM, load the module
# and report. Everything missing is installed or built first (the first run takes about
# 25 minutes, later ones about a minute).
#
#   tools/run.sh [--flavour release|debug] [--memory SIZE] [--cpus N] [--numa N]
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"

"$RH_ROOT/tools/setup.sh"
out=$RH_CACHE/report
mkdir -p "$out"
exec "$RH_ROOT/tools/vm.sh" --out "$out" "$@" --exec "bash $(printf %q "$RH_ROOT/tools/lib/guest-main.sh")"
