// SPDX-License-Identifier: GPL-2.0

//! The Rust side of `shim.c`: one documented safe wrapper per C helper.
//!
//! The C functions are declared here and nowhere else (their prototypes are in `shim.h`).

use kernel::ffi::c_ulong;

extern "C" {
    fn rhugetlbfs_param_default_hugepagesz_kb() -> c_ulong;
}

/// The `default_hugepagesz_kb` module parameter.
pub(crate) fn default_hugepagesz_kb() -> usize {
    // SAFETY: The C function only reads a module parameter with `READ_ONCE`; it has no
    // preconditions.
    unsafe { rhugetlbfs_param_default_hugepagesz_kb() }
}
