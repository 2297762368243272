# Shared settings and helpers for the rhugetlbfs tools. Sourced, never run.
# shellcheck shell=bash
# The settings below are for the scripts that source this file, so unused here:
# shellcheck disable=SC2034

RH_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# Everything big (kernel trees, cargo's build directory, logs) lives outside the work tree so a
# fresh clone reuses it and `git clean` never throws away an 8-minute kernel build.
RH_CACHE=${RHUGETLBFS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rhugetlbfs}
# Cargo's build directory too, unless the caller chose one: a fresh clone then reuses the
# compiled dependencies (cargo keys them itself) instead of rebuilding criterion and
# plotters while the VMs run. The guest sees it read-only at the same path.
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$RH_CACHE/target}
RH_TARGET=$CARGO_TARGET_DIR

# Toolchain pins. The kernel's Rust must be built by exactly the rustc the module uses.
RH_RUSTC=${RH_RUSTC:-/usr/bin/rustc}
RH_BINDGEN_VERSION=0.69.5
RH_BINDGEN=${RH_BINDGEN:-$RH_CACHE/cargo/bin/bindgen}
RH_LLVM=-19
# 6.12.19 changed the kernel crate's API (KBox/KVec, ffi crate, pub Error helpers); the module
# is written against that, and every kernel function it calls is exported by every 6.12.y
# from there (it does not use zap_page_range_single, which only Debian's kernels export), so
# any 6.12.y from 6.12.19 on is accepted and the exact one recorded.
RH_KERNEL_SERIES=6.12
RH_KERNEL_MIN_SUBLEVEL=19

rh_log() { printf '\033[1m[rh]\033[0m %s\n' "$*" >&2; }
rh_die() { printf '\033[1;31m[rh] error:\033[0m %s\n' "$*" >&2; exit 1; }

# The make variables every kernel-side build needs.
rh_kmake_vars() {
	printf '%s\n' "LLVM=$RH_LLVM" "RUSTC=$RH_RUSTC" "BINDGEN=$RH_BINDGEN" \
		"CLIPPY_DRIVER=/usr/bin/clippy-driver" "RUSTFMT=/usr/bin/rustfmt"
}

# Kernel source tarball shipped by Debian's linux-source-6.12, and its exact version.
rh_kernel_tarball() { ls /usr/src/linux-source-${RH_KERNEL_SERIES}.tar.xz 2>/dev/null; }
rh_kernel_version() {
	dpkg-query -W -f='${Version}' "linux-source-$RH_KERNEL_SERIES" 2>/dev/null | sed 's/-.*//'
}

# The cache key of a kernel tree: version, flavour, and everything that changes its output.
rh_kernel_key() {
	local flavour=$1
	local h
	h=$( {
		cat "$RH_ROOT/ci/kernel/base.config" "$RH_ROOT/ci/kernel/$flavour.config"
		"$RH_RUSTC" --version 2>/dev/null
		echo "bindgen $RH_BINDGEN_VERSION llvm $RH_LLVM"
	} | sha256sum | cut -c1-12)
	echo "$(rh_kernel_version)-$flavour-$h"
}

# Where the kernel tree of a flavour lives; KDIR overrides it (an existing build tree).
rh_kernel_dir() {
	if [ -n "${KDIR:-}" ]; then echo "$KDIR"; else echo "$RH_CACHE/kernel/$(rh_kernel_key "$1")"; fi
}

# What counts as a kernel splat in a guest log: fixed strings, one a line. Any match fails a
# VM run; the guest test harness reads the same file to blame the test that caused it.
RH_SPLAT_PATTERNS=$RH_ROOT/ci/splat-patterns.txt
