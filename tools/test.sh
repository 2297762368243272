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

rh_log "host: rustfmt, clippy, cargo test"
check rustfmt cargo fmt --all --check
check rustfmt-module rustfmt --edition 2021 --check module/*.rs module/kern/*.rs
check version-matches grep -q "^const VERSION: &str = \"$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml)\";" module/rhugetlbfs_main.rs
check clippy cargo clippy --workspace --all-targets --quiet -- -D warnings
cargo test --workspace 2>&1 | tee "$tmp/host.out"
tally "host cargo test" "$tmp/host.out" "${PIPESTATUS[0]}"

if [ $host_only = 0 ]; then
	check build-vmtest cargo build --release --quiet -p rh-vmtest
	for fl in "${flavours[@]}"; do
		rh_log "vm[$fl]: kernel, module, then the in-VM suite"
		"$RH_ROOT/tools/vm.sh" --flavour "$fl" --memory 8G --cpus 2 --numa 2 -q --exec "$RH_ROOT/target/release/rh-vmtest ${filters[*]}" \
			>"$tmp/vm-$fl.out" 2>&1
		rc=$?
		cat "$tmp/vm-$fl.out"
		# vm.sh echoes the console to its log only (-q): show the suite's lines.
		tally "vm suite ($fl kernel)" "$tmp/vm-$fl.out" $rc
	done
fi

rh_log "done in $(($(date +%s) - t0))s"
[ ${#failures[@]} -eq 0 ] || rh_log "failed: ${failures[*]}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
