#!/usr/bin/env bash
# Boot the cached test kernel in QEMU and run one command in it as root.
#
#   tools/vm.sh [options] --exec 'CMD'      (or: tools/vm.sh [options] -- CMD ARGS...)
#
# The guest sees the host's filesystem read-only (the repository, cargo's build directory and the
# cache included), and these environment variables:
#   RH_KO    the freshly built rhugetlbfs.ko for this kernel flavour
#   RH_ROOT  the repository
#   RH_OUT   a writable directory for results (shared with the host)
# The exit status is the command's. The whole guest kernel log is kept; any WARNING, BUG,
# Oops, KASAN, lockdep or kmemleak report fails the run (exit 3) and is printed.
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"

usage() {
	cat <<USAGE
usage: tools/vm.sh [options] --exec 'CMD' | -- CMD [ARGS...]
  --flavour release|debug   kernel flavour (default: release)
  --memory SIZE             guest memory (default: 4G)
  --cpus N                  guest vCPUs (default: 2)
  --numa N                  split guest memory and CPUs into N NUMA nodes (default: 1)
  --accel auto|kvm|tcg      accelerator (default: auto, or \$RH_ACCEL)
  --timeout SECONDS         kill the guest after this long (default: 1800)
  --rwdir DIR               give the guest write access to DIR (repeatable)
  --append ARGS             more guest kernel command-line arguments (repeatable)
  --out DIR                 results directory (default: a new one under the cache)
  --no-module               do not build the module first
  -q, --quiet               do not echo the guest console
USAGE
	exit 2
}

flavour=release memory=4G cpus=2 numa=1 accel=${RH_ACCEL:-auto} timeout=1800
rwdirs=() out="" build_module=1 quiet=0 cmd="" append=""
while [ $# -gt 0 ]; do
	case "$1" in
	--flavour) flavour=${2:?}; shift 2 ;;
	--memory) memory=${2:?}; shift 2 ;;
	--cpus) cpus=${2:?}; shift 2 ;;
	--numa) numa=${2:?}; shift 2 ;;
	--accel) accel=${2:?}; shift 2 ;;
	--timeout) timeout=${2:?}; shift 2 ;;
	--rwdir) rwdirs+=("$(realpath "${2:?}")"); shift 2 ;;
	--append) append+=" ${2:?}"; shift 2 ;;
	--out) out=${2:?}; shift 2 ;;
	--no-module) build_module=0; shift ;;
	-q | --quiet) quiet=1; shift ;;
	--exec) cmd=${2:?}; shift 2 ;;
	--) shift; cmd=$(printf '%q ' "$@"); break ;;
	-h | --help) usage ;;
	*) echo "tools/vm.sh: unknown option '$1'" >&2; usage ;;
	esac
done
[ -n "$cmd" ] || { echo "tools/vm.sh: no command given" >&2; usage; }
case "$flavour" in release | debug) ;; *) rh_die "--flavour must be release or debug, not '$flavour'" ;; esac
[[ "$cpus" =~ ^[1-9][0-9]*$ ]] || rh_die "--cpus must be a positive number, not '$cpus'"
[[ "$numa" =~ ^[1-9][0-9]*$ ]] || rh_die "--numa must be a positive number, not '$numa'"
[[ "$timeout" =~ ^[1-9][0-9]*$ ]] || rh_die "--timeout must be a positive number of seconds, not '$timeout'"
[[ "$memory" =~ ^[1-9][0-9]*[MG]$ ]] || rh_die "--memory must look like 4G or 3072M, not '$memory'"
[ "$numa" -le "$cpus" ] || rh_die "--numa $numa needs at least $numa vCPUs (--cpus)"

# KVM only where it really runs a guest. Some hosts expose a /dev/kvm that cannot (the
# kvm_pvm backend here: boots crawl, then "KVM internal error"), so auto means KVM only
# with a usable /dev/kvm from a standard backend (kvm_intel/kvm_amd).
if [ "$accel" = auto ]; then
	accel=tcg
	if [ -r /dev/kvm ] && [ -w /dev/kvm ] && [ ! -d /sys/module/kvm_pvm ] &&
		{ [ -d /sys/module/kvm_intel ] || [ -d /sys/module/kvm_amd ]; }; then
		accel=kvm
	fi
fi
case "$accel" in kvm | tcg) ;; *) rh_die "--accel must be auto, kvm or tcg, not '$accel'" ;; esac

kdir=$("$RH_ROOT/tools/kernel.sh" "$flavour")
ko=""
[ $build_module = 0 ] || ko=$("$RH_ROOT/tools/module.sh" "$flavour")

if [ -z "$out" ]; then
	mkdir -p "$RH_CACHE/runs"
	out=$(mktemp -d "$RH_CACHE/runs/$(date +%Y%m%d-%H%M%S)-$flavour-XXXX")
fi
mkdir -p "$out"
out=$(realpath "$out")
rm -f "$out/cmd.out" "$out/cmd.rc" "$out/dmesg.txt" "$out/dmesg-scanned.txt" "$out/kmemleak.txt"
console=$out/console.log

# The guest: QEMU with the host's / as a read-only 9p root, the results directory (and any
# --rwdir) shared read-write, and tools/lib/guest-boot.sh as init. No udev or systemd in the
# guest: their coldplug took minutes of a debug kernel's boot under TCG.
mem_mb=$((${memory%[MG]} * $([ "${memory: -1}" = G ] && echo 1024 || echo 1)))
qemu=(qemu-system-x86_64 -name rhugetlbfs -machine q35 -m "${mem_mb}M" -no-reboot
	-display none -vga none -monitor none -parallel none -net none -serial stdio)
if [ "$accel" = kvm ]; then
	qemu+=(-accel kvm -cpu host)
else
	qemu+=(-accel "tcg,thread=multi" -cpu max)
fi
if [ "$numa" -gt 1 ]; then
	per=$((mem_mb / numa)) cpn=$((cpus / numa))
	for ((n = 0; n < numa; n++)); do
		first=$((n * cpn)) last=$((n == numa - 1 ? cpus - 1 : (n + 1) * cpn - 1))
		qemu+=(-object "memory-backend-ram,id=mem$n,size=${per}M" -numa "node,memdev=mem$n,cpus=$first-$last")
	done
	# One socket per node: CPUs of one socket share a last-level cache, and the kernel
	# WARNs (topology_sane) when LLC siblings sit on different nodes.
	qemu+=(-smp "$cpus,sockets=$numa,cores=$cpn,threads=1")
else
	qemu+=(-smp "$cpus")
fi
share() { # share TAG PATH [readonly]
	qemu+=(-fsdev "local,id=$1,path=$2,security_model=none,multidevs=remap${3:+,readonly=on}"
		-device "virtio-9p-pci,fsdev=$1,mount_tag=$1")
}
share rhroot / readonly
share rhout "$out"
: >"$out/rwdirs"
for ((n = 0; n < ${#rwdirs[@]}; n++)); do
	share "rhrw$n" "${rwdirs[n]}"
	echo "${rwdirs[n]}" >>"$out/rwdirs"
done
# Never reboot silently on a panic: stop (-no-reboot), and let the missing cmd.rc tell. The
# root is read-only and nothing changes it during a run: cache=loose lets the guest keep
# what it read (it halved the debug guest's time from init to its first test).
qemu+=(-kernel "$kdir/arch/x86/boot/bzImage" -append "console=ttyS0 root=rhroot rootfstype=9p \
rootflags=trans=virtio,version=9p2000.L,msize=512000,cache=loose ro init=$RH_ROOT/tools/lib/guest-boot.sh \
rh_out=$out rh_cache=$RH_CACHE panic=-1 oops=panic panic_on_warn=0 printk.devkmsg=on$append")
{
	printf 'export RH_KO=%q RH_ROOT=%q RH_OUT=%q RH_FLAVOUR=%q RH_GUEST_CWD=%q\n' \
		"$ko" "$RH_ROOT" "$out" "$flavour" "$RH_ROOT"
	printf 'RH_GUEST_CMD=%q\n' "$cmd"
} >"$out/guest-env.sh"

[ $quiet = 1 ] || rh_log "vm[$flavour/$accel, ${memory}, ${cpus} vCPUs, $numa node(s)]: $cmd"
set +e
if [ $quiet = 1 ]; then
	timeout -k 10 "$timeout" "${qemu[@]}" </dev/null >"$console" 2>&1
else
	timeout -k 10 "$timeout" "${qemu[@]}" </dev/null 2>&1 | tee "$console"
fi
qemu_rc=${PIPESTATUS[0]}
set -e

rc=$(cat "$out/cmd.rc" 2>/dev/null || echo "")
[ $quiet = 0 ] || cat "$out/cmd.out" 2>/dev/null
log=$out/dmesg.txt
[ -s "$log" ] || log=$console
# Between the fault-injection tests' markers, an injected allocation failure's report
# (warn_alloc: "page allocation failure" or "vmalloc error", with a stack dump) is what was
# asked for: its "Call Trace:" lines do not count there. Every other report has its own
# header among the patterns (BUG, WARNING, KASAN, lockdep, hung task, stall) and still does.
filtered=$out/dmesg-scanned.txt
awk '/rh-vmtest: fault injection on/ { w = 1 } /rh-vmtest: fault injection off/ { w = 0 }
	!(w && /Call Trace:/)' "$log" >"$filtered" 2>/dev/null || cp "$log" "$filtered"
splats=$(grep -nF -f "$RH_SPLAT_PATTERNS" "$filtered" "$out/kmemleak.txt" 2>/dev/null || true)
if [ -n "$splats" ]; then
	echo "----- guest kernel log ($log) -----" >&2
	cat "$log" >&2
	[ ! -s "$out/kmemleak.txt" ] || { echo "----- kmemleak -----" >&2; cat "$out/kmemleak.txt" >&2; }
	echo "----- splats found -----" >&2
	echo "$splats" >&2
	rh_log "vm: FAILED: the guest kernel reported problems (full log: $log)"
	exit 3
fi
if [ -z "$rc" ]; then
	echo "----- guest console ($console) -----" >&2
	tail -80 "$console" >&2
	if [ "$qemu_rc" = 124 ] || [ "$qemu_rc" = 137 ]; then
		rh_log "vm: FAILED: timed out after ${timeout}s"
	else
		rh_log "vm: FAILED: the guest died before the command finished (qemu exit $qemu_rc: a kernel panic reboots, which ends QEMU)"
	fi
	exit 4
fi
[ $quiet = 1 ] || rh_log "vm: command exited $rc; results in $out"
exit "$rc"
