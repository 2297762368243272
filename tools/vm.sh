#!/usr/bin/env bash
# Boot the cached test kernel with virtme-ng and run one command in it as root.
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
rm -f "$out/cmd.out" "$out/cmd.rc" "$out/dmesg.txt" "$out/kmemleak.txt"
console=$out/console.log

vng=(
	"$RH_VENV/bin/vng" --run "$kdir" --force-9p --verbose --user root
	--memory "$memory" --cpus "$cpus" --cwd / --rwdir "$out"
	# Never reboot silently on a panic: stop, and let the exit status (255) tell.
	--append "panic=-1 oops=panic panic_on_warn=0 printk.devkmsg=on$append"
)
for d in "${rwdirs[@]}"; do vng+=(--rwdir "$d"); done
[ "$accel" = kvm ] || vng+=(--disable-kvm)
if [ "$numa" -gt 1 ]; then
	mem_mb=$(( ${memory%[MG]} * $([ "${memory: -1}" = G ] && echo 1024 || echo 1) ))
	per=$((mem_mb / numa)) cpn=$((cpus / numa))
	for ((n = 0; n < numa; n++)); do
		first=$((n * cpn)) last=$((n == numa - 1 ? cpus - 1 : (n + 1) * cpn - 1))
		vng+=(--numa "${per}M,cpus=$first-$last")
	done
	# One socket per node: CPUs of one socket share a last-level cache, and the kernel
	# WARNs (topology_sane) when LLC siblings sit on different nodes.
	vng+=(--qemu-opts "-smp $cpus,sockets=$numa,cores=$((cpus / numa)),threads=1")
fi

guest_cmd="RH_KO=$(printf %q "$ko") RH_ROOT=$(printf %q "$RH_ROOT") RH_OUT=$(printf %q "$out") RH_FLAVOUR=$flavour"
guest_cmd+=" RH_GUEST_CWD=$(printf %q "$RH_ROOT") bash $(printf %q "$RH_ROOT/tools/lib/guest-init.sh") $(printf %q "$out") $(printf %q "$cmd")"

[ $quiet = 1 ] || rh_log "vm[$flavour/$accel, ${memory}, ${cpus} vCPUs, $numa node(s)]: $cmd"
# udev's script path and the venv's helpers must be on PATH for vng (see the notes).
export PATH="$RH_VENV/bin:$PATH:/usr/sbin:/sbin"
set +e
if [ $quiet = 1 ]; then
	timeout -k 10 "$timeout" "${vng[@]}" --exec "$guest_cmd" </dev/null >"$console" 2>&1
else
	timeout -k 10 "$timeout" "${vng[@]}" --exec "$guest_cmd" </dev/null 2>&1 | tee "$console"
fi
vng_rc=${PIPESTATUS[0]}
set -e

rc=$(cat "$out/cmd.rc" 2>/dev/null || echo "")
[ $quiet = 0 ] || cat "$out/cmd.out" 2>/dev/null
log=$out/dmesg.txt
[ -s "$log" ] || log=$console
splats=$(grep -nF -f "$RH_SPLAT_PATTERNS" "$log" "$out/kmemleak.txt" 2>/dev/null || true)
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
	if [ "$vng_rc" = 124 ] || [ "$vng_rc" = 137 ]; then
		rh_log "vm: FAILED: timed out after ${timeout}s"
	else
		rh_log "vm: FAILED: the guest died before the command finished (vng exit $vng_rc; a kernel panic gives 255)"
	fi
	exit 4
fi
[ $quiet = 1 ] || rh_log "vm: command exited $rc; results in $out"
exit "$rc"
