#!/usr/bin/env bash
# The main job: set up, build the kernel, the module and the benchmarks, measure on the
# host (hardware TLB numbers: the host kernel has hugetlbfs), then boot the test VM, load
# the module and measure the kernel's hugetlbfs and rhugetlbfs side by side in the same
# guest (TCG timings: read the ratios, not the absolute numbers). Prints both reports.
#
#   tools/run.sh [--vm-only | --host-only] [--quick] [vm options: --flavour, --memory, ...]
#
# The first run takes about 30 minutes (two kernel builds); later runs about 10 minutes,
# or 3 with --quick. Reports: $RHUGETLBFS_CACHE/report/{host,vm}/report.{md,json} + PNGs.
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"

host=1 vm=1 quick=0 vmargs=()
while [ $# -gt 0 ]; do
	case "$1" in
	--vm-only) host=0; shift ;;
	--host-only) vm=0; shift ;;
	--quick) quick=1; shift ;;
	-h | --help) sed -n '2,11p' "$0"; exit 0 ;;
	*) vmargs+=("$1"); shift ;;
	esac
done

"$RH_ROOT/tools/setup.sh"
(cd "$RH_ROOT" && cargo build --release --quiet -p userspace-bench -p rh-vmtest) ||
	rh_die "cargo build of the benchmarks failed"
out=$RH_CACHE/report
mkdir -p "$out/host" "$out/vm"

if [ $host = 1 ]; then
	rh_log "host: rhbench (kernel backings on real hardware; about 4 minutes, --quick: 1)"
	hostargs=(--out "$out/host")
	[ $quick = 0 ] || hostargs+=(--max-ws 1G --fault-size 64M --fault-1g-pages 1 --pool-pages-2m 128)
	"$RH_TARGET/release/rhbench" "${hostargs[@]}"
fi

if [ $vm = 1 ]; then
	rh_log "vm: module + rhbench in the guest (kernel hugetlbfs and rhugetlbfs side by side)"
	RH_QUICK=$quick "$RH_ROOT/tools/vm.sh" --memory 8G --cpus 2 "${vmargs[@]}" --rwdir "$out/vm" \
		--exec "RH_QUICK=$quick RH_REPORT=$(printf %q "$out/vm") RH_TARGET=$(printf %q "$RH_TARGET") bash $(printf %q "$RH_ROOT/tools/lib/guest-main.sh")"
fi
rh_log "reports: $out/host/report.md, $out/vm/report.md (JSON and PNG plots beside them)"
