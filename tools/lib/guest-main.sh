#!/bin/bash
# The main job's guest side (tools/run.sh): load the module and print the state of the
# huge page pools and mounts, the kernel's and rhugetlbfs's.
set -euo pipefail
insmod "$RH_KO"
echo "== module"
grep '^rhugetlbfs ' /proc/modules
for p in /sys/module/rhugetlbfs/parameters/*; do echo "$(basename "$p") = $(cat "$p")"; done
echo "== kernel hugetlb pools (/sys/kernel/mm/hugepages)"
for d in /sys/kernel/mm/hugepages/hugepages-*; do
	printf '%-24s nr=%s free=%s resv=%s surplus=%s\n' "$(basename "$d")" "$(cat "$d/nr_hugepages")" \
		"$(cat "$d/free_hugepages")" "$(cat "$d/resv_hugepages")" "$(cat "$d/surplus_hugepages")"
done
if [ -d /sys/fs/rhugetlbfs ]; then
	echo "== rhugetlbfs pools (/sys/fs/rhugetlbfs)"
	cat /sys/fs/rhugetlbfs/meminfo
fi
echo "== mounts"
grep -E 'hugetlbfs|rhugetlbfs' /proc/mounts || echo "(no hugetlbfs or rhugetlbfs mounts)"
echo "== /proc/meminfo"
grep -E '^(MemTotal|MemFree|HugePages_|Hugepagesize|Hugetlb)' /proc/meminfo
rmmod rhugetlbfs
echo "== module unloaded"
