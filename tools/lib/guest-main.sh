#!/bin/bash
# The main job's guest side (tools/run.sh): load the module, show the pools and mounts,
# mount rhugetlbfs when the module provides the filesystem, and run rhbench on the
# kernel's hugetlbfs and rhugetlbfs in this same guest. TCG is slow, so sizes are modest.
set -euo pipefail
insmod "$RH_KO"
# shellcheck disable=SC2154 # false positive: the trap's string assigns m itself (for m in)
trap 'for m in /tmp/rh2m /tmp/rh1g; do umount "$m" 2>/dev/null || true; done; rmmod rhugetlbfs 2>/dev/null || true' EXIT
echo "== module"
grep '^rhugetlbfs ' /proc/modules
for p in /sys/module/rhugetlbfs/parameters/*; do echo "$(basename "$p") = $(cat "$p")"; done
echo "== kernel hugetlb pools (/sys/kernel/mm/hugepages)"
for d in /sys/kernel/mm/hugepages/hugepages-*; do
	printf '%-24s nr=%s free=%s resv=%s surplus=%s\n' "$(basename "$d")" "$(cat "$d/nr_hugepages")" \
		"$(cat "$d/free_hugepages")" "$(cat "$d/resv_hugepages")" "$(cat "$d/surplus_hugepages")"
done
echo "== rhugetlbfs pools (/sys/fs/rhugetlbfs/meminfo)"
cat /sys/fs/rhugetlbfs/meminfo
mounts=()
if grep -qw rhugetlbfs /proc/filesystems; then
	mkdir -p /tmp/rh2m /tmp/rh1g
	mount -t rhugetlbfs -o pagesize=2M none /tmp/rh2m && mounts+=(--mount /tmp/rh2m)
	mount -t rhugetlbfs -o pagesize=1G none /tmp/rh1g && mounts+=(--mount /tmp/rh1g)
else
	echo "(this module build has no rhugetlbfs filesystem yet: pools only)"
fi
echo "== mounts"
grep -E 'hugetlbfs' /proc/mounts || echo "(none)"
echo "== rhbench"
args=(--out "$RH_REPORT" --max-ws 512M --fault-size 128M --fault-1g-pages 1 --pool-pages-2m 256 --pool-pages-1g 2)
[ "${RH_QUICK:-0}" = 0 ] || args=(--out "$RH_REPORT" --max-ws 64M --fault-size 32M --fault-1g-pages 1 --pool-pages-2m 64 --pool-pages-1g 1 --accesses 200000)
"$RH_TARGET/release/rhbench" "${args[@]}" "${mounts[@]}"
