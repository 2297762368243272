#!/bin/bash
# Runs inside the test VM as root (started by tools/lib/guest-boot.sh, the guest's init).
# $1: results directory (writable, shared with the host); the rest: the command to run.
# Leaves cmd.out, cmd.rc and dmesg.txt (the whole kernel log, after a kmemleak scan when the kernel
# has kmemleak) in the results directory; exits with the command's status.
out=$1
shift
mountpoint -q /sys/kernel/debug || mount -t debugfs none /sys/kernel/debug 2>/dev/null
export PATH="$PATH:/usr/sbin:/sbin"
# The debug kernel's soft-lockup detector: TCG runs code 10-50 times slower than hardware, so
# a loop that is fine on hardware could look stuck after the default 20 s; 60 s here.
[ ! -w /proc/sys/kernel/watchdog_thresh ] || echo 30 >/proc/sys/kernel/watchdog_thresh
cd "${RH_GUEST_CWD:-/}" || exit 125
# The command's own output also goes to cmd.out, apart from the kernel's console noise.
bash -c "$*" 2>&1 | tee "$out/cmd.out"
rc=${PIPESTATUS[0]}
echo "$rc" >"$out/cmd.rc"
if [ -w /sys/kernel/debug/kmemleak ]; then
	# One scan: objects older than kmemleak's minimum age (5 s) that nothing references are
	# reported at once; the module's were freed long before. A scan of an 8 GiB guest takes
	# minutes under TCG with KASAN, so only one.
	echo scan >/sys/kernel/debug/kmemleak
	cat /sys/kernel/debug/kmemleak >"$out/kmemleak.txt"
fi
dmesg >"$out/dmesg.txt"
exit "$rc"
