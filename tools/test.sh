#!/usr/bin/env bash
# The whole test suite: host checks and tests, then the in-VM suite on both kernel flavours.
# Installs and builds whatever is missing first. Prints `N passed, N failed` last and exits
# non-zero if anything failed.
#
#   tools/test.sh [--flavour release|debug|both] [--host-only] [VM-TEST-FILTER...]
set -uo pipefail
. "$(dirname "$0")/lib/common.sh"

flavours=(release debug) host_only=0 filters=()
while [ $# -gt 0 ]; do
	case "$1" in
	--flavour)
		case "${2:-}" in
		release | debug) flavours=("$2") ;;
		both) flavours=(release debug) ;;
		*) rh_die "--flavour must be release, debug or both" ;;
		esac
		shift 2 ;;
	--host-only) host_only=1; shift ;;
	-h | --help) sed -n '2,6p' "$0"; exit 0 ;;
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

"$RH_ROOT/tools/setup.sh" || exit 1
cd "$RH_ROOT" || exit 1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# vm_suite FLAVOUR: the in-VM suite on one kernel flavour, output in $tmp/vm-FLAVOUR.out.
vm_suite() {
	"$RH_ROOT/tools/vm.sh" --flavour "$1" --memory 8G --cpus 2 --numa 2 -q \
		--exec "$RH_TARGET/release/rh-vmtest ${filters[*]}" >"$tmp/vm-$1.out" 2>&1
	echo $? >"$tmp/vm-$1.rc"
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

rh_log "host: rustfmt, clippy, cargo test"
check rustfmt cargo fmt --all --check
check rustfmt-module rustfmt --edition 2021 --check module/*.rs module/kern/*.rs module/fs/*.rs
check version-matches grep -q "^const VERSION: &str = \"$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml)\";" module/rhugetlbfs_main.rs
check clippy cargo clippy --workspace --all-targets --quiet -- -D warnings
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
		cat "$tmp/vm-$fl.out"
		tally "vm suite ($fl kernel)" "$tmp/vm-$fl.out" "$(cat "$tmp/vm-$fl.rc" 2>/dev/null || echo 1)"
	done
fi

rh_log "done in $(($(date +%s) - t0))s"
[ ${#failures[@]} -eq 0 ] || rh_log "failed: ${failures[*]}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
