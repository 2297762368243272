// SPDX-License-Identifier: GPL-2.0

//! Module parameters (defined in `shim.c`: 6.12's `module!` macro has none).

use super::shim;

/// The `default_hugepagesz_kb` module parameter.
pub(crate) fn default_hugepagesz_kb() -> usize {
    // SAFETY: The C function only reads a module parameter with `READ_ONCE`; it has no
    // preconditions.
    unsafe { shim::rhugetlbfs_param_default_hugepagesz_kb() }
}

/// The `hugepages_2m` / `hugepages_1g` parameter for pages of `order` (0 for other orders).
pub(crate) fn hugepages(order: u32) -> u64 {
    // SAFETY: The C function only reads module parameters with `READ_ONCE`; it has no
    // preconditions.
    unsafe { shim::rhugetlbfs_param_hugepages(order) as u64 }
}

/// The `pmd_mappable_1g` parameter: 1 GiB pages made of 2 MiB folios from load on.
pub(crate) fn pmd_mappable_1g() -> bool {
    // SAFETY: The C function only reads a module parameter with `READ_ONCE`; it has no
    // preconditions.
    unsafe { shim::rhugetlbfs_param_pmd_mappable_1g() }
}
