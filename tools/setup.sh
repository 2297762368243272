#!/usr/bin/env bash
# Install everything rhugetlbfs needs on a Debian 12 machine. Idempotent: each step checks
# first and does nothing when already done. Fails with the name of the step when it cannot.
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"

APT_PACKAGES=(
	# The kernel's Rust: rustc + core source of the same version, clippy and rustfmt.
	rustc-web rust-web-src rust-web-clippy rustfmt-web
	# LLVM=-19 kernel build and libclang for bindgen.
	clang-19 lld-19 llvm-19 libclang-19-dev
	# Kernel build dependencies.
	make bc flex bison libelf-dev libssl-dev cpio kmod xz-utils dwarves rsync
	# Kernel source.
	"linux-source-$RH_KERNEL_SERIES"
	# Test VM: QEMU; busybox's reboot powers the guest off (its init is a bash script).
	qemu-system-x86 busybox-static
	# The test command's lint checks: shellcheck on the shell scripts, and perl for the
	# kernel's scripts/checkpatch.pl on the C shim (it needs more than perl-base).
	shellcheck perl
)

step() { RH_STEP=$1; rh_log "setup: $1"; }
# shellcheck disable=SC2154 # false positive: rc is assigned in the trap's string itself
trap 'rc=$?; [ $rc -ne 0 ] && printf "\033[1;31m[rh] setup failed in step: %s (exit %s)\033[0m\n" "${RH_STEP:-?}" $rc >&2' EXIT

step "permissions"
if [ "$(id -u)" -ne 0 ]; then
	missing=$(dpkg-query -W -f='${Status} ${Package}\n' "${APT_PACKAGES[@]}" 2>/dev/null | grep -vc '^install ok installed' || true)
	[ "$missing" = 0 ] || rh_die "setup needs root to install Debian packages (apt-get); rerun as root or install: ${APT_PACKAGES[*]}"
fi

step "disk space"
mkdir -p "$RH_CACHE"
need_gb=12   # measured 7 GiB: two kernel trees with objects 4 GiB, cargo target 1.2 GiB, packages ~2 GiB
avail_gb=$(df -BG --output=avail "$RH_CACHE" | tail -1 | tr -dc 0-9)
if [ ! -e "$RH_CACHE/.setup-done" ] && [ "$avail_gb" -lt "$need_gb" ]; then
	rh_die "only ${avail_gb} GiB free under $RH_CACHE; the first build needs about ${need_gb} GiB (set RHUGETLBFS_CACHE to a larger disk)"
fi

step "Debian packages"
missing=()
for p in "${APT_PACKAGES[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	rh_log "installing: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq || rh_die "apt-get update failed (no network to Debian's mirrors?)"
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >"$RH_CACHE/apt.log" 2>&1 ||
		{ tail -20 "$RH_CACHE/apt.log" >&2; rh_die "apt-get install failed, see $RH_CACHE/apt.log"; }
fi

step "kernel source version"
kv=$(rh_kernel_version)
case "$kv" in
	"$RH_KERNEL_SERIES".*) ;;
	*) rh_die "linux-source-$RH_KERNEL_SERIES reports version '$kv', expected $RH_KERNEL_SERIES.y" ;;
esac
sub=${kv#"$RH_KERNEL_SERIES".}
[ "${sub%%.*}" -ge "$RH_KERNEL_MIN_SUBLEVEL" ] ||
	rh_die "kernel $kv is older than $RH_KERNEL_SERIES.$RH_KERNEL_MIN_SUBLEVEL, whose Rust API the module is written for"
[ -n "$(rh_kernel_tarball)" ] || rh_die "linux-source-$RH_KERNEL_SERIES is installed but /usr/src/linux-source-$RH_KERNEL_SERIES.tar.xz is missing"

step "rustc for the kernel"
"$RH_RUSTC" --version >/dev/null || rh_die "$RH_RUSTC does not run"
rv=$("$RH_RUSTC" --version | awk '{print $2}')
[ -d "$("$RH_RUSTC" --print sysroot)/lib/rustlib/src/rust/library/core" ] ||
	rh_die "Rust core source for rustc $rv not found (package rust-web-src)"

step "bindgen-cli $RH_BINDGEN_VERSION"
if ! "$RH_BINDGEN" --version 2>/dev/null | grep -q "$RH_BINDGEN_VERSION"; then
	command -v cargo >/dev/null || rh_die "cargo is needed to install bindgen-cli"
	cargo install --quiet --locked --root "$RH_CACHE/cargo" bindgen-cli --version "$RH_BINDGEN_VERSION" ||
		rh_die "cargo install bindgen-cli $RH_BINDGEN_VERSION failed (no network to crates.io?)"
fi

touch "$RH_CACHE/.setup-done"
RH_STEP="done"
rh_log "setup complete: kernel $kv, rustc $rv, bindgen $RH_BINDGEN_VERSION, $(qemu-system-x86_64 --version | head -1)"
