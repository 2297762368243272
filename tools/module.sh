#!/usr/bin/env bash
# Build rhugetlbfs.ko against a cached kernel tree and print the .ko's path.
#
#   tools/module.sh [release|debug]
#
# This is the standard out-of-tree build (`make -C $KDIR M=<dir>`), run on a copy of the
# repository's Kbuild + module/ under $RH_CACHE/modbuild/<flavour>-<checkout>: 6.12 writes
# objects into the source directory, so each kernel flavour gets its own copy and the work
# tree stays clean. Only changed files are rebuilt (rsync keeps mtimes). CLIPPY=1 is on: the kernel's
# lints apply to the module, and a warning fails the build.
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"

flavour=${1:-release}
kdir=$("$RH_ROOT/tools/kernel.sh" "$flavour")
# One staging copy per flavour and per checkout, so two work trees never share objects.
stage=$RH_CACHE/modbuild/$flavour-$(printf %s "$RH_ROOT" | sha256sum | cut -c1-8)
mkdir -p "$stage"
rsync -a --delete \
	--exclude='*.o' --exclude='*.ko' --exclude='*.mod' --exclude='*.mod.c' --exclude='.*.cmd' \
	--exclude='*.rmeta' --exclude='*.d' --exclude='modules.order' --exclude='Module.symvers' \
	--exclude='/module/acct/target' \
	--include='/Kbuild' --include='/module/***' --exclude='*' \
	"$RH_ROOT/" "$stage/"

mapfile -t mk < <(rh_kmake_vars)
# One log per staging copy: two checkouts building at once must not read each other's.
log=$RH_CACHE/logs/module-$(basename "$stage").log
mkdir -p "$(dirname "$log")"
if ! make -C "$kdir" ARCH=x86_64 "${mk[@]}" CLIPPY=1 M="$stage" -j"$(nproc)" modules >"$log" 2>&1; then
	cat "$log" >&2
	rh_die "module[$flavour]: build failed (log: $log)"
fi
# Rust warnings do not stop make; they stop us.
if grep -qE '^(warning|error)(\[|:)|: (warning|error):' "$log"; then
	cat "$log" >&2
	rh_die "module[$flavour]: the build printed warnings (log: $log)"
fi
ko=$stage/module/rhugetlbfs.ko
[ -f "$ko" ] || rh_die "module[$flavour]: $ko was not produced"
echo "$ko"
