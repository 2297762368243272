#!/usr/bin/env bash
# The whole test suite: host checks and tests, then the in-VM suite on both kernel flavours.
# Installs and builds whatever is missing first. Prints `N passed, N failed` last and exits
# non-zero if anything failed.
#
#   tools/test.sh [--flavour release|debug|both] [--repeat N] [--host-only] [VM-TEST-FILTER...]
#
# --repeat N boots N fresh guests per flavour, one after the other, and runs the in-VM suite
# in each: every run's result is printed and counted, so flakiness shows as a number.
# RH_STRESS_SEED/_RUNS/_SECS/_ONLY/_ROLES in the environment reach the guest (the concurrency stress).
set -uo pipefail
. "$(dirname "$0")/lib/common.sh"

flavours=(release debug) host_only=0 filters=() repeat=1
while [ $# -gt 0 ]; do
	case "$1" in
	--flavour)
		case "${2:-}" in
		release | debug) flavours=("$2") ;;
		both) flavours=(release debug) ;;
		*) rh_die "--flavour must be release, debug or both" ;;
		esac
		shift 2 ;;
	--repeat)
		[[ "${2:-}" =~ ^[1-9][0-9]*$ ]] || rh_die "--repeat needs a positive number of runs"
		repeat=$2
		shift 2 ;;
	--host-only) host_only=1; shift ;;
	-h | --help) sed -n '2,10p' "$0"; exit 0 ;;
	-*) rh_die "unknown option '$1' (see --help)" ;;
	*) filters+=("$1"); shift ;;
	esac
done

passed=0 failed=0 failures=()
t0=$(date +%s)
# check NAME CMD...: one pass/fail line for a whole command.
check() {
	local name=$1
	shift
	if "$@"; then
		passed=$((passed + 1)); rh_log "check $name: ok"
	else
		failed=$((failed + 1)); failures+=("$name"); rh_log "check $name: FAILED"
	fi
}
# tally NAME OUTPUT-FILE RC: add the counts a test runner printed; a runner that failed
# without printing counts fails once.
tally() {
	local name=$1 file=$2 rc=$3 p f
	p=$(grep -oE '[0-9]+ passed' "$file" | awk '{s+=$1} END{print s+0}')
	f=$(grep -oE '[0-9]+ failed' "$file" | awk '{s+=$1} END{print s+0}')
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
	passed=$((passed + p)) failed=$((failed + f))
	[ "$f" -eq 0 ] || failures+=("$name")
	rh_log "$name: $p passed, $f failed"
}
# checkpatch_shim: the kernel's style checker on the C shim, with its CHECK-level tests
# (--strict). checkpatch.pl is the release kernel tree's; without one (--host-only or
# --flavour debug on a cold cache) it and the word lists it reads beside it are unpacked once
# from the same source tarball, 20 s rather than a kernel build. shim.h goes without
# CONST_STRUCT, which fires on its forward declarations (`struct file_operations;`), and a
# declaration cannot be const; shim.c, where ops tables are defined, keeps it.
checkpatch_shim() {
	local cp dir rc=0
	cp=$(rh_kernel_dir release)/scripts/checkpatch.pl
	if [ ! -f "$cp" ]; then
		dir=$RH_CACHE/checkpatch/$(rh_kernel_version)
		cp=$dir/scripts/checkpatch.pl
		if [ ! -f "$cp" ]; then
			rm -rf "$dir" "$dir.partial" && mkdir -p "$dir.partial" &&
				tar -xf "$(rh_kernel_tarball)" -C "$dir.partial" --strip-components=1 --wildcards \
					'*/scripts/checkpatch.pl' '*/scripts/spelling.txt' '*/scripts/const_structs.checkpatch' &&
				mv "$dir.partial" "$dir" || return 1
		fi
	fi
	"$cp" --no-tree --strict --show-types --quiet --file module/shim.c || rc=1
	"$cp" --no-tree --strict --show-types --quiet --ignore CONST_STRUCT --file module/shim.h || rc=1
	return $rc
}

"$RH_ROOT/tools/setup.sh" || exit 1
cd "$RH_ROOT" || exit 1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The guest's kernel reserves 1 GiB pages at boot, before memory fragments, in its own
# hugetlb pool: the keeper the suite lends 1 GiB pages from to the tests that need them
# (tools/vmtest/src/sys.rs, `lend_1g`). Three: two for the tests that map two at once, one
# spare for a hand-over that loses its range.
vm_append="hugepagesz=1G hugepages=0:2,1:1"

# The debug guest boots in 2-10 min and runs its suite in 4-25 min under TCG, depending on
# the day and on what else runs beside it: vm.sh's default of 30 min killed a healthy run
# on a slow day. An hour still ends a hung guest (the debug kernel's hung-task and
# soft-lockup detectors report most hangs well before) within CI's 90 minutes.
vm_timeout=3600

# The stress test's knobs (RH_STRESS_SEED, _RUNS, _SECS, _ONLY, _ITERS, _ROLES) and RH_REFERENCE
# (0: rhugetlbfs only; 1: the kernel's hugetlbfs too, the default but on debug) reach the guest.
# Values are words, or (_ROLES) role names like faulter-shared,truncator: nothing the shell
# would expand in the guest's command line.
vm_env=$(env | grep -E '^RH_(STRESS_[A-Z]+|FUZZ_[A-Z]+|REFERENCE)=[A-Za-z0-9,-]+$' | tr '\n' ' ' || true)

# vm_suite FLAVOUR: the in-VM suite on one kernel flavour, `repeat` times, each in a fresh
# guest; output of run R in $tmp/vm-FLAVOUR-R.out.
vm_suite() {
	local r env=$vm_env
	# The debug kernel checks rhugetlbfs under KASAN, lockdep and kmemleak; the reference
	# runs of the kernel's hugetlbfs (whose behaviour the debug options do not change) are
	# the release suite's, which halves the debug suite's time.
	[ "$1" != debug ] || [[ "$env" == *RH_REFERENCE=* ]] || env+="RH_REFERENCE=0 "
	# The fault-injection tests need the debug kernel's FAULT_INJECTION (and fail without it).
	[ "$1" != debug ] || env+="RH_FAULT_INJECTION=1 "
	for ((r = 1; r <= repeat; r++)); do
		[ "$repeat" = 1 ] || rh_log "vm[$1]: run $r of $repeat"
		"$RH_ROOT/tools/vm.sh" --flavour "$1" --memory 8G --cpus 2 --numa 2 -q --append "$vm_append" --timeout "$vm_timeout" \
			--exec "$env$RH_TARGET/release/rh-vmtest ${filters[*]}" >"$tmp/vm-$1-$r.out" 2>&1
		echo $? >"$tmp/vm-$1-$r.rc"
		[ "$repeat" = 1 ] || rh_log "vm[$1]: run $r: $(grep -E '[0-9]+ passed, [0-9]+ failed' "$tmp/vm-$1-$r.out" | tail -1) (exit $(cat "$tmp/vm-$1-$r.rc"))"
	done
}

# The debug kernel's VM is the long pole (KASAN and lockdep under TCG: ~2 minutes of boot,
# ~4 of tests and the kmemleak scan), and it keeps about one core busy: start it first and do
# the host checks and the other flavours meanwhile.
vm_pids=()
if [ $host_only = 0 ]; then
	# Kernels first, in the foreground: on a cold cache this is where the time goes, and its
	# progress should be seen. Then the module for each flavour (a warning fails it).
	for fl in "${flavours[@]}"; do
		"$RH_ROOT/tools/kernel.sh" "$fl" >/dev/null || exit 1
		check "module-build-$fl" "$RH_ROOT/tools/module.sh" "$fl"
	done
	check build-vmtest cargo build --release --quiet -p rh-vmtest
	for fl in "${flavours[@]}"; do
		if [ "$fl" = debug ] && [ ${#flavours[@]} -gt 1 ]; then
			rh_log "vm[debug]: kernel, module, then the in-VM suite (in the background)"
			vm_suite debug &
			vm_pids+=($!)
		fi
	done
fi

rh_log "host: rustfmt, clippy, checkpatch, shellcheck, cargo test"
check rustfmt cargo fmt --all --check
check rustfmt-module rustfmt --edition 2021 --check module/*.rs module/kern/*.rs module/kern/*/*.rs module/fs/*.rs
check version-matches grep -q "^const VERSION: &str = \"$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml)\";" module/rhugetlbfs_main.rs
check clippy cargo clippy --workspace --all-targets --quiet -- -D warnings
check checkpatch checkpatch_shim
# -x -P SCRIPTDIR: follow `. "$(dirname "$0")/lib/common.sh"`, so what a script uses from it counts.
check shellcheck shellcheck -x -P SCRIPTDIR tools/rh tools/*.sh tools/lib/*.sh .ci/run
cargo test --workspace 2>&1 | tee "$tmp/host.out"
tally "host cargo test" "$tmp/host.out" "${PIPESTATUS[0]}"

if [ $host_only = 0 ]; then
	for fl in "${flavours[@]}"; do
		if [ "$fl" = debug ] && [ ${#flavours[@]} -gt 1 ]; then continue; fi
		rh_log "vm[$fl]: kernel, module, then the in-VM suite"
		vm_suite "$fl"
	done
	[ ${#vm_pids[@]} -eq 0 ] || { rh_log "waiting for the debug kernel's VM"; wait "${vm_pids[@]}"; }
	for fl in "${flavours[@]}"; do
		for ((r = 1; r <= repeat; r++)); do
			name="vm suite ($fl kernel)"
			[ "$repeat" = 1 ] || name="vm suite ($fl kernel, run $r of $repeat)"
			cat "$tmp/vm-$fl-$r.out"
			tally "$name" "$tmp/vm-$fl-$r.out" "$(cat "$tmp/vm-$fl-$r.rc" 2>/dev/null || echo 1)"
		done
	done
fi

rh_log "done in $(($(date +%s) - t0))s"
[ ${#failures[@]} -eq 0 ] || rh_log "failed: ${failures[*]}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
