#!/usr/bin/env bash
# Build (or reuse) the cached test kernel for one flavour and print its tree's path.
#
#   tools/kernel.sh [release|debug]
#
# The tree is keyed by kernel version + the hash of the config fragments and toolchain
# versions, lives under $RH_CACHE/kernel/, and is built once: later calls print the path at
# once. The module is built against that tree with `make -C <tree> M=...`.
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"

flavour=${1:-release}
case "$flavour" in release | debug) ;; *) rh_die "unknown kernel flavour '$flavour' (release or debug)" ;; esac

kdir=$(rh_kernel_dir "$flavour")
if [ -f "$kdir/.rh-built" ]; then
	echo "$kdir"
	exit 0
fi
# One build of a flavour at a time: a second caller (a VM run started meanwhile) waits for
# the first and then finds the tree built, instead of unpacking over it.
mkdir -p "$RH_CACHE/kernel"
exec 9>"$RH_CACHE/kernel/.build-$flavour.lock"
if ! flock -n 9; then
	rh_log "kernel[$flavour]: another build of this flavour is running; waiting for it"
	flock 9
fi
if [ -f "$kdir/.rh-built" ]; then
	echo "$kdir"
	exit 0
fi

[ -e "$RH_CACHE/.setup-done" ] || rh_die "toolchain not set up: run tools/setup.sh first"
tarball=$(rh_kernel_tarball) || rh_die "kernel source tarball missing (tools/setup.sh)"
tmp=$kdir.partial
log=$RH_CACHE/logs/kernel-$flavour.log
mkdir -p "$RH_CACHE/logs"
rm -rf "$tmp"
mkdir -p "$tmp"
# A failed or interrupted build leaves nothing half-made behind (the log stays).
trap 'rm -rf "$tmp"' EXIT

rh_log "kernel[$flavour]: unpacking $(basename "$tarball") into $tmp"
tar -xf "$tarball" -C "$tmp" --strip-components=1

mapfile -t mk < <(rh_kmake_vars)
kmake() { make -C "$tmp" ARCH=x86_64 "${mk[@]}" "$@"; }

rh_log "kernel[$flavour]: configuring (tinyconfig + ci/kernel/base.config + ci/kernel/$flavour.config)"
{
	kmake rustavailable
	kmake tinyconfig
	(cd "$tmp" && ARCH=x86_64 scripts/kconfig/merge_config.sh -m .config \
		"$RH_ROOT/ci/kernel/base.config" "$RH_ROOT/ci/kernel/$flavour.config")
	kmake olddefconfig
} >"$log" 2>&1 || { tail -30 "$log" >&2; rh_die "kernel[$flavour]: configuration failed, log: $log"; }

# Kconfig drops options whose dependencies are missing without a word; check every one.
dropped=$(grep -hE '^CONFIG_[A-Z0-9_]+=' "$RH_ROOT/ci/kernel/base.config" "$RH_ROOT/ci/kernel/$flavour.config" |
	while read -r line; do grep -qxF "$line" "$tmp/.config" || echo "$line"; done)
[ -z "$dropped" ] || rh_die "kernel[$flavour]: Kconfig dropped these options (missing dependencies?): ${dropped//$'\n'/ }"

jobs=$(($(nproc) + 1))
rh_log "kernel[$flavour]: building vmlinux bzImage modules with -j$jobs (about 7 minutes on 2 idle cores); log: $log"
start=$(date +%s)
kmake -j"$jobs" vmlinux bzImage modules >>"$log" 2>&1 &
pid=$!
# Progress: one line a minute with the object count and the last thing compiled.
while kill -0 $pid 2>/dev/null; do
	for _ in $(seq 60); do kill -0 $pid 2>/dev/null || break; sleep 1; done
	kill -0 $pid 2>/dev/null || break
	n=$(grep -cE '^\s+(CC|RUSTC|AS|LD)' "$log" || true)
	last=$(grep -E '^\s+(CC|RUSTC|AS|LD)' "$log" | tail -1 | sed 's/^ *//')
	rh_log "kernel[$flavour]: $(($(date +%s) - start))s, $n objects, last: $last"
done
wait $pid || { tail -40 "$log" >&2; rh_die "kernel[$flavour]: build failed, log: $log"; }

# Keep what M= builds and the VM need; the object files of a finished tree are most of its
# size but `make M=` needs the tree as built, so nothing is pruned.
echo "$(rh_kernel_version) $flavour built $(date -u +%FT%TZ) in $(($(date +%s) - start))s" >"$tmp/.rh-built"
rm -rf "$kdir"
mv "$tmp" "$kdir"
trap - EXIT
# Trees of this flavour built from other configs are stale: drop them (a few GiB each).
for old in "$RH_CACHE"/kernel/*-"$flavour"-*; do
	[ "$old" = "$kdir" ] || [ ! -f "$old/.rh-built" ] || { rh_log "kernel[$flavour]: removing stale tree $old"; rm -rf "$old"; }
done
rh_log "kernel[$flavour]: done in $(($(date +%s) - start))s: $kdir"
echo "$kdir"
