// SPDX-License-Identifier: GPL-2.0

//! Declarations of the C helpers in `module/shim.c` (prototypes in `module/shim.h`).
//!
//! Private to [`crate::kern`]: each helper is wrapped once, with its contract, by the `kern`
//! module that owns the concept (pages in `page.rs`, parameters in `params.rs`, ...).

use kernel::ffi::{c_int, c_uint, c_ulong};

/// What `rhugetlbfs_alloc_buddy` returns on failure (`RH_NO_PFN`).
pub(super) const RH_NO_PFN: c_ulong = !0;

extern "C" {
    pub(super) fn rhugetlbfs_param_default_hugepagesz_kb() -> c_ulong;
    pub(super) fn rhugetlbfs_param_hugepages(order: c_uint) -> c_ulong;
    pub(super) fn rhugetlbfs_alloc_buddy(nid: c_int, order: c_uint, noretry: bool) -> c_ulong;
    pub(super) fn rhugetlbfs_free_buddy(pfn: c_ulong, order: c_uint);
    pub(super) fn rhugetlbfs_alloc_contig(start_pfn: c_ulong, nr_pages: c_ulong) -> c_int;
    pub(super) fn rhugetlbfs_pfn_to_nid(pfn: c_ulong) -> c_int;
    pub(super) fn rhugetlbfs_cond_resched();
    pub(super) fn rhugetlbfs_memory_nodes() -> c_ulong;
    pub(super) fn rhugetlbfs_nr_zones() -> c_int;
    pub(super) fn rhugetlbfs_zone_span(
        nid: c_int,
        zone_idx: c_int,
        start_pfn: *mut c_ulong,
        end_pfn: *mut c_ulong,
    ) -> c_int;
    pub(super) fn rhugetlbfs_pfn_info(
        pfn: c_ulong,
        nid: c_int,
        zone_idx: c_int,
        nr_pages: *mut c_ulong,
    ) -> c_int;
}
