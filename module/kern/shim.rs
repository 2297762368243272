// SPDX-License-Identifier: GPL-2.0

//! Declarations of the C helpers in `module/shim.c` (prototypes in `module/shim.h`).
//!
//! Private to [`crate::kern`]: each helper is wrapped once, with its contract, by the `kern`
//! module that owns the concept (pages in `page.rs`, parameters in `params.rs`, ...).

use kernel::bindings;
use kernel::ffi::{c_char, c_int, c_uint, c_ulong, c_void};

/// The Rust half of mounting, called by `shim.c`'s `fs_context` code (`struct rh_fs_ops` in
/// `shim.h`); see `kern::vfs::Tables` for each function's contract.
#[repr(C)]
pub(super) struct RhFsOps {
    pub(super) init_fs_context: unsafe extern "C" fn(data: *const c_void) -> *mut c_void,
    pub(super) free_fs_context: unsafe extern "C" fn(ctx: *mut c_void),
    pub(super) parse_param: unsafe extern "C" fn(
        ctx: *mut c_void,
        key: *const c_char,
        key_len: usize,
        value: *const c_char,
        value_len: usize,
        msg: *mut c_char,
        msg_len: usize,
    ) -> c_int,
    pub(super) fill_super: unsafe extern "C" fn(
        sb: *mut bindings::super_block,
        ctx: *mut c_void,
        msg: *mut c_char,
        msg_len: usize,
    ) -> c_int,
    pub(super) kill_sb: unsafe extern "C" fn(data: *mut c_void),
}

/// What `rhugetlbfs_alloc_buddy` returns on failure (`RH_NO_PFN`).
pub(super) const RH_NO_PFN: c_ulong = !0;

/// The clearing methods of `rhugetlbfs_clear_pages` (`RH_CLEAR_*` in `shim.h`).
pub(super) const RH_CLEAR_PAGE: c_int = 0;
pub(super) const RH_CLEAR_ERMS: c_int = 1;
pub(super) const RH_CLEAR_NT: c_int = 2;

// `struct inode` and friends embed `struct module` pointers whose arch part is empty in
// bindgen's view; only pointers cross here, so the layout does not matter.
#[allow(improper_ctypes)]
extern "C" {
    pub(super) fn rhugetlbfs_param_default_hugepagesz_kb() -> c_ulong;
    pub(super) fn rhugetlbfs_param_hugepages(order: c_uint) -> c_ulong;
    pub(super) fn rhugetlbfs_param_pmd_mappable_1g() -> bool;
    pub(super) fn rhugetlbfs_alloc_buddy(nid: c_int, order: c_uint, noretry: bool) -> c_ulong;
    pub(super) fn rhugetlbfs_free_buddy(pfn: c_ulong, order: c_uint);
    pub(super) fn rhugetlbfs_alloc_contig(start_pfn: c_ulong, nr_pages: c_ulong) -> c_int;
    pub(super) fn rhugetlbfs_page_exclusive(pfn: c_ulong) -> bool;
    pub(super) fn rhugetlbfs_page_hwpoisoned(pfn: c_ulong, nr: c_ulong) -> bool;
    pub(super) fn rhugetlbfs_drain_start(
        run: unsafe extern "C" fn(*const c_void) -> bool,
        data: *const c_void,
    );
    pub(super) fn rhugetlbfs_drain_kick();
    pub(super) fn rhugetlbfs_drain_stop();
    pub(super) fn rhugetlbfs_pfn_to_nid(pfn: c_ulong) -> c_int;
    pub(super) fn rhugetlbfs_cond_resched();
    pub(super) fn rhugetlbfs_clear_pages(
        pfn: c_ulong,
        nr: c_ulong,
        method: c_int,
        stoppable: bool,
    ) -> bool;
    pub(super) fn rhugetlbfs_cpu_has_erms() -> bool;
    pub(super) fn rhugetlbfs_zero_start(
        run: unsafe extern "C" fn(*const c_void, c_int) -> bool,
        data: *const c_void,
    ) -> c_int;
    pub(super) fn rhugetlbfs_zero_kick(nid: c_int);
    pub(super) fn rhugetlbfs_zero_stop();
    pub(super) fn rhugetlbfs_run_jobs(
        nr: c_uint,
        nids: *const c_int,
        run: unsafe extern "C" fn(*const c_void, c_uint, *const c_void),
        data: *const c_void,
    ) -> c_int;
    pub(super) fn rhugetlbfs_jobs_interrupted(jobs: *const c_void) -> bool;
    pub(super) fn rhugetlbfs_node_nr_cpus(nid: c_int) -> c_uint;
    pub(super) fn rhugetlbfs_nr_online_cpus() -> c_uint;
    pub(super) fn rhugetlbfs_copy_pages(dst_pfn: c_ulong, src_pfn: c_ulong, nr: c_ulong);
    pub(super) fn rhugetlbfs_memory_nodes() -> c_ulong;
    pub(super) fn rhugetlbfs_numa_node_id() -> c_int;
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
    pub(super) fn rhugetlbfs_register_fs(
        name: *const c_char,
        ops: *const RhFsOps,
        data: *const c_void,
    ) -> c_int;
    pub(super) fn rhugetlbfs_unregister_fs();
    pub(super) fn rhugetlbfs_inode_set_ops(
        inode: *mut bindings::inode,
        iop: *const bindings::inode_operations,
        fop: *const bindings::file_operations,
    );
    pub(super) fn rhugetlbfs_instantiate_pinned(
        dir: *mut bindings::inode,
        dentry: *mut bindings::dentry,
        inode: *mut bindings::inode,
    );
    pub(super) fn rhugetlbfs_instantiate_tmpfile(
        dir: *mut bindings::inode,
        file: *mut bindings::file,
        inode: *mut bindings::inode,
    ) -> c_int;
    pub(super) fn rhugetlbfs_make_ids(
        inode: *mut bindings::inode,
        uid: u32,
        set_uid: bool,
        gid: u32,
        set_gid: bool,
    ) -> bool;
    pub(super) fn rhugetlbfs_uid_shown(inode: *const bindings::inode) -> u32;
    pub(super) fn rhugetlbfs_gid_shown(inode: *const bindings::inode) -> u32;
    pub(super) fn rhugetlbfs_fill_statfs(
        buf: *mut bindings::kstatfs,
        bsize: u64,
        blocks: u64,
        bfree: u64,
        files: u64,
        ffree: u64,
    );
    pub(super) fn rhugetlbfs_iov_iter_count(iter: *const bindings::iov_iter) -> usize;
    pub(super) fn rhugetlbfs_copy_from_page(
        pfn: c_ulong,
        offset: c_ulong,
        dst: *mut c_void,
        len: usize,
    );
    pub(super) fn rhugetlbfs_copy_to_page(
        pfn: c_ulong,
        offset: c_ulong,
        src: *const c_void,
        len: usize,
    );
    pub(super) fn rhugetlbfs_copy_to_iter(
        src: *const c_void,
        len: usize,
        iter: *mut bindings::iov_iter,
    ) -> usize;
    pub(super) fn rhugetlbfs_zero_range(pfn: c_ulong, offset: c_ulong, len: usize);
    pub(super) fn rhugetlbfs_vma_update_flags(
        vma: *mut bindings::vm_area_struct,
        set: c_ulong,
        clear: c_ulong,
    );
    pub(super) fn rhugetlbfs_zap_fork_parent(child: *mut bindings::vm_area_struct);
    pub(super) fn rhugetlbfs_private_still_mapped(vma: *mut bindings::vm_area_struct) -> bool;
    pub(super) fn rhugetlbfs_zap_for_mprotect(
        vma: *mut bindings::vm_area_struct,
        start: c_ulong,
        end: c_ulong,
    );
    pub(super) fn rhugetlbfs_zap_range(
        vma: *mut bindings::vm_area_struct,
        start: c_ulong,
        len: c_ulong,
    );
    pub(super) fn rhugetlbfs_vmf_pmd_none(vmf: *const bindings::vm_fault) -> bool;
    pub(super) fn rhugetlbfs_insert_pfn(
        vmf: *mut bindings::vm_fault,
        pfn: c_ulong,
        order: c_uint,
        write: bool,
    ) -> bindings::vm_fault_t;
    pub(super) fn rhugetlbfs_get_unmapped_area(
        addr: c_ulong,
        len: c_ulong,
        align: c_ulong,
        flags: c_ulong,
    ) -> c_ulong;
    pub(super) fn rhugetlbfs_mapping_setup(inode: *mut bindings::inode);
    pub(super) fn rhugetlbfs_cache_add(
        mapping: *mut bindings::address_space,
        pfn: c_ulong,
        index: c_ulong,
    ) -> c_int;
    pub(super) fn rhugetlbfs_cache_remove(
        mapping: *mut bindings::address_space,
        start: i64,
        len: i64,
    );
    pub(super) fn rhugetlbfs_cache_get(
        mapping: *mut bindings::address_space,
        index: c_ulong,
        first: *mut c_ulong,
        nr: *mut c_ulong,
    ) -> c_ulong;
    pub(super) fn rhugetlbfs_folio_put(pfn: c_ulong);
    pub(super) fn rhugetlbfs_copy_folio_to_iter(
        pfn: c_ulong,
        offset: usize,
        len: usize,
        iter: *mut bindings::iov_iter,
    ) -> usize;
    pub(super) fn rhugetlbfs_fault_folio(
        vmf: *mut bindings::vm_fault,
        pfn: c_ulong,
    ) -> bindings::vm_fault_t;
    pub(super) fn rhugetlbfs_vmf_pmd_mappable(vmf: *const bindings::vm_fault) -> bool;
}
