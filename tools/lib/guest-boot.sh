#!/bin/bash
# PID 1 of the test VM (tools/vm.sh boots the kernel with init= this script; the root file
# system is the host's /, read-only, over 9p). Mounts what the tests and guest-init.sh need,
# runs the command that vm.sh wrote into the results directory, and powers the guest off.
# No udev, no systemd: devtmpfs has every device node the tests use, and skipping the
# coldplug saves minutes of a debug kernel's boot under TCG.
#
# The kernel hands init the command line's unknown `key=value` words as environment: rh_out
# is the results directory (shared read-write over 9p, tag rhout, mounted at the same path),
# rh_cache the host's cache directory.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# The checkout this script is in, found before /tmp is covered (a clone may live there).
root=$(cd "$(dirname "$0")/../.." && pwd)
mount -t proc proc /proc
mount -t sysfs sys /sys
mountpoint -q /dev || mount -t devtmpfs dev /dev
mkdir -p /dev/pts /dev/shm 2>/dev/null
mount -t devpts devpts /dev/pts 2>/dev/null
mount -t tmpfs tmpfs /dev/shm 2>/dev/null
mount -t tmpfs -o mode=0755 tmpfs /run
# The guest gets its own /tmp, but a checkout or cache under the host's /tmp (a CI clone made
# with mktemp -d) must stay visible: the host's /tmp is kept at /run/host-tmp and those two
# are bound back at their own paths (read-only, as the rest of the host's /).
mkdir -p /run/host-tmp && mount --bind /tmp /run/host-tmp
mount -t tmpfs -o mode=1777 tmpfs /tmp
# shellcheck disable=SC2154 # rh_cache comes from the kernel command line (see above)
for p in "$root" "${rh_cache:-}"; do
	case "$p" in
	/tmp/?*) mkdir -p "$p" && mount --bind "/run/host-tmp/${p#/tmp/}" "$p" ;;
	esac
done
opts=trans=virtio,version=9p2000.L,msize=512000
# shellcheck disable=SC2154 # rh_out comes from the kernel command line (see above)
mkdir -p "$rh_out" 2>/dev/null
mount -t 9p -o "$opts" rhout "$rh_out" || {
	echo "guest-boot: cannot mount the results directory $rh_out" >/dev/console
	busybox reboot -f
}
# More writable directories: tag rhrwN at the path on line N of rwdirs.
n=0
while read -r dir; do
	[ -n "$dir" ] && mkdir -p "$dir" 2>/dev/null
	[ -n "$dir" ] && mount -t 9p -o "$opts" "rhrw$n" "$dir"
	n=$((n + 1))
done <"$rh_out/rwdirs"
hostname rhugetlbfs-vm
cd /
# shellcheck disable=SC1091 # written by vm.sh for this boot
. "$rh_out/guest-env.sh"
bash "$RH_ROOT/tools/lib/guest-init.sh" "$rh_out" "$RH_GUEST_CMD" </dev/null >/dev/console 2>&1
sync
busybox reboot -f
