// SPDX-License-Identifier: GPL-2.0

//! Mappings of rhugetlbfs files: `mmap`, `get_unmapped_area` and the `vm_operations`.
//!
//! Pages are inserted as PFN entries from `huge_fault` (`vmf_insert_pfn_pmd` for 2 MiB,
//! `vmf_insert_pfn_pud` for 1 GiB). Shared mappings are `VM_PFNMAP`; private ones
//! `VM_MIXEDMAP` (the kernel refuses `VM_PFNMAP` on copy-on-write mappings) and carry a
//! [`PrivMap`] in `vm_private_data`, one counted reference per VMA, kept right by
//! `open`/`close` across splits, `mremap` and `fork`. A 4 KiB fault (THP "never" or
//! disabled, or after a split) still maps a PMD entry where no page table sits, and gets
//! SIGBUS otherwise; either way it is counted as a fallback.
//!
//! C header: [`include/linux/mm.h`](srctree/include/linux/mm.h)

use super::fs::{inode_info, sb_arc, sb_info};
use super::shim;
use crate::acct::stats::FaultKind;
use crate::fs::private::PrivMap;
use crate::fs::SuperInfo;
use core::ops::Range;
use kernel::bindings;
use kernel::ffi::{c_int, c_uint, c_ulong, c_void};
use kernel::prelude::*;
use kernel::sync::{Arc, ArcBorrow};
use kernel::types::ForeignOwnable;

/// `MAP_FIXED` (uapi `asm-generic/mman-common.h`; not in the bindings).
const MAP_FIXED: c_ulong = 0x10;

const VM_FAULT_SIGBUS: bindings::vm_fault_t = bindings::vm_fault_reason_VM_FAULT_SIGBUS;
const VM_FAULT_NOPAGE: bindings::vm_fault_t = bindings::vm_fault_reason_VM_FAULT_NOPAGE;
const VM_FAULT_FALLBACK: bindings::vm_fault_t = bindings::vm_fault_reason_VM_FAULT_FALLBACK;
const VM_FAULT_SIGSEGV: bindings::vm_fault_t = bindings::vm_fault_reason_VM_FAULT_SIGSEGV;

/// `start`, `end`, `flags` of a VMA.
///
/// # Safety
///
/// `vma` must be a live VMA (its mm's lock held by the caller's context).
unsafe fn vma_info(vma: *const bindings::vm_area_struct) -> (u64, u64, u64) {
    let (mut start, mut end, mut flags) = (0, 0, 0);
    // SAFETY: By the safety requirements; the out-pointers are locals.
    unsafe { shim::rhugetlbfs_vma_info(vma, &mut start, &mut end, &mut flags) };
    (start as u64, end as u64, flags as u64)
}

/// The file's huge page indexes that `vma` maps.
///
/// # Safety
///
/// As [`vma_info`].
unsafe fn vma_idx(vma: *const bindings::vm_area_struct, sb: &SuperInfo) -> Range<u64> {
    // SAFETY: By the safety requirements.
    let ((start, end, _), pgoff) = unsafe { (vma_info(vma), (*vma).vm_pgoff as u64) };
    let from = pgoff >> sb.order();
    from..from + ((end - start) >> sb.page_shift())
}

/// The private state of a private VMA; `None` for a shared one, or a private one that lost
/// it (a child whose `fork` could not copy it).
///
/// # Safety
///
/// As [`vma_info`]; the borrow must end before the VMA is closed.
unsafe fn priv_map<'a>(vma: *const bindings::vm_area_struct) -> Option<ArcBorrow<'a, PrivMap>> {
    // SAFETY: By the safety requirements.
    let data = unsafe { (*vma).vm_private_data };
    if data.is_null() {
        return None;
    }
    // SAFETY: A non-null `vm_private_data` of our VMAs holds one `Arc<PrivMap>` reference
    // (from `rh_mmap` or `rh_vm_open`) until `rh_vm_close`, after every user of the VMA.
    Some(unsafe { <Arc<PrivMap> as ForeignOwnable>::borrow(data) })
}

/// `file_operations::mmap` (upstream `hugetlbfs_file_mmap`).
///
/// # Safety
///
/// VFS callback contract: `file` is one of our regular files, `vma` the new VMA, the mm
/// write-locked.
pub(crate) unsafe extern "C" fn rh_mmap(
    file: *mut bindings::file,
    vma: *mut bindings::vm_area_struct,
) -> c_int {
    // SAFETY: By the callback contract.
    let (inode, start, end, flags, pgoff) = unsafe {
        let (s, e, f) = vma_info(vma);
        ((*file).f_inode, s, e, f, (*vma).vm_pgoff as u64)
    };
    // SAFETY: `inode` is ours and alive (the file holds it).
    let (sb, info) = unsafe { (sb_info((*inode).i_sb), inode_info(inode)) };
    let Some(info) = info else {
        return ENODEV.to_errno();
    };
    let order = sb.order();
    let shift = sb.page_shift();
    let hsize = sb.page_size();
    if pgoff & ((1 << order) - 1) != 0 || start & (hsize - 1) != 0 || end & (hsize - 1) != 0 {
        return EINVAL.to_errno();
    }
    let private = flags & u64::from(bindings::VM_MAYSHARE) == 0;
    let noreserve = flags & u64::from(bindings::VM_NORESERVE) != 0;
    let from = pgoff >> order;
    let to = from + ((end - start) >> shift);
    let (ops, data) = if private {
        // SAFETY: `vma` and its mm are live; the super block is ours.
        let (mm, sb_ref) = unsafe { ((*vma).vm_mm as usize, sb_arc((*inode).i_sb)) };
        match PrivMap::new(sb_ref, mm, from..to, noreserve) {
            Ok(map) => (&VM_OPS_PRIVATE.0, map.into_foreign() as *mut c_void),
            Err(e) => return e.to_errno(),
        }
    } else {
        if !noreserve {
            if let Err(e) = info.reserve_shared(sb, from, to) {
                return e.to_errno();
            }
        }
        (&VM_OPS.0, core::ptr::null_mut())
    };
    // SAFETY: `vma` is being set up by us; the tables are static; `data` is one `Arc`
    // reference for `vm_private_data` (null for a shared mapping).
    unsafe { shim::rhugetlbfs_vma_setup(vma, ops, private, data) };
    if flags & u64::from(bindings::VM_WRITE) != 0 {
        let len = (to << shift) as i64;
        // SAFETY: `inode` is alive; `i_rwsem` serialises size changes (as `inode_lock`).
        unsafe {
            bindings::down_write(core::ptr::addr_of_mut!((*inode).i_rwsem));
            if (*inode).i_size < len {
                (*inode).i_size = len;
            }
            bindings::up_write(core::ptr::addr_of_mut!((*inode).i_rwsem));
        }
    }
    0
}

/// `file_operations::get_unmapped_area`: huge-page-aligned addresses; `EINVAL` for an
/// unaligned length or fixed address.
///
/// # Safety
///
/// VFS callback contract: called from `mmap` with `file` one of our regular files.
pub(crate) unsafe extern "C" fn rh_get_unmapped_area(
    file: *mut bindings::file,
    addr: c_ulong,
    len: c_ulong,
    _pgoff: c_ulong,
    flags: c_ulong,
) -> c_ulong {
    // SAFETY: By the callback contract.
    let sb = unsafe { sb_info((*(*file).f_inode).i_sb) };
    let hsize = sb.page_size() as c_ulong;
    let einval = EINVAL.to_errno() as isize as c_ulong;
    if len & (hsize - 1) != 0 {
        return einval;
    }
    if flags & MAP_FIXED != 0 {
        return if addr & (hsize - 1) != 0 {
            einval
        } else {
            addr
        };
    }
    // SAFETY: Called in mmap context, where `current->mm` is the target mm.
    unsafe { shim::rhugetlbfs_get_unmapped_area(addr, len, hsize, flags) }
}

/// `vm_operations_struct::huge_fault`: maps the page of the faulting index with one PMD or
/// PUD entry (upstream `hugetlb_fault` + `hugetlb_no_page`).
///
/// # Safety
///
/// MM callback contract: `vmf` describes a fault on one of our VMAs, mmap lock held.
unsafe extern "C" fn rh_huge_fault(
    vmf: *mut bindings::vm_fault,
    order: c_uint,
) -> bindings::vm_fault_t {
    // SAFETY: By the callback contract.
    let sb = unsafe { vmf_sb(vmf) };
    if order > sb.order() {
        // A PUD attempt on a 2 MiB mapping: the core retries at PMD order.
        return VM_FAULT_FALLBACK;
    }
    // A PMD attempt on a 1 GiB mapping happens only where a page table already sits at
    // the PUD level: the 1 GiB page is then mapped in 2 MiB pieces.
    // SAFETY: By the callback contract.
    unsafe { fault_at(vmf, order, false) }
}

/// `vm_operations_struct::fault`: a 4 KiB fault. The core comes here instead of
/// `huge_fault` when THP is "never" (for the `VM_MIXEDMAP` private mappings) or disabled for
/// the process (`PR_SET_THP_DISABLE`), and after it split a huge entry (a write to a
/// read-only entry of a private mapping). The page is still mapped with a PMD entry, the
/// whole 2 MiB page or a 2 MiB piece of a 1 GiB one, while no page table sits there;
/// never with 4 KiB entries. Counted as a fallback either way.
///
/// # Safety
///
/// MM callback contract.
unsafe extern "C" fn rh_fault(vmf: *mut bindings::vm_fault) -> bindings::vm_fault_t {
    // SAFETY: By the callback contract: `vmf->pmd` is the faulting address's PMD.
    if unsafe { shim::rhugetlbfs_vmf_pmd_none(vmf) } {
        // SAFETY: By the callback contract.
        return unsafe { fault_at(vmf, bindings::HPAGE_PMD_ORDER, true) };
    }
    // SAFETY: By the callback contract.
    let sb = unsafe { vmf_sb(vmf) };
    sb.pool().stats.record_fault(FaultKind::Fallback);
    VM_FAULT_SIGBUS
}

/// The mount of the file a fault is on.
///
/// # Safety
///
/// MM callback contract: `vmf` describes a fault on one of our VMAs.
unsafe fn vmf_sb<'a>(vmf: *const bindings::vm_fault) -> &'a SuperInfo {
    let mut vma = core::ptr::null_mut();
    let (mut address, mut write) = (0, false);
    // SAFETY: By the safety requirements; the VMA lives for the whole fault.
    unsafe {
        shim::rhugetlbfs_vmf_info(vmf, &mut vma, &mut address, &mut write);
        vma_sb(vma)
    }
}

/// Maps the page of the faulting index, or the `order`-sized piece of it around the
/// address, with one entry of `order` (`PMD_ORDER` or `PUD_ORDER`, at most the page's).
/// `from_pte_level`: called by the 4 KiB handler (counted as a fallback).
///
/// # Safety
///
/// MM callback contract: `vmf` describes a fault on one of our VMAs, and an entry of
/// `order` may be inserted at its address (for `PMD_ORDER` from the 4 KiB path: `vmf->pmd`
/// was empty).
unsafe fn fault_at(
    vmf: *mut bindings::vm_fault,
    order: u32,
    from_pte_level: bool,
) -> bindings::vm_fault_t {
    let mut vma = core::ptr::null_mut();
    let (mut address, mut write) = (0, false);
    // SAFETY: By the safety requirements.
    let (start, flags, pgoff, inode) = unsafe {
        shim::rhugetlbfs_vmf_info(vmf, &mut vma, &mut address, &mut write);
        let (s, _, f) = vma_info(vma);
        (s, f, (*vma).vm_pgoff as u64, (*(*vma).vm_file).f_inode)
    };
    // SAFETY: The VMA's file holds the inode.
    let (sb, info) = unsafe { (sb_info((*inode).i_sb), inode_info(inode)) };
    let Some(info) = info else {
        return VM_FAULT_SIGBUS;
    };
    let shift = sb.page_shift();
    let offset = address as u64 - start;
    let idx = (offset >> shift) + (pgoff >> sb.order());
    // SAFETY: `inode` is alive.
    let ino = unsafe { (*inode).i_ino } as u64;
    let _fault = sb.fault_lock(ino, idx);
    // The size is checked under the fault mutex, and again where a new page is inserted.
    let in_size = || {
        // SAFETY: `inode` is alive; a racy read of `i_size` is what `i_size_read` does on
        // 64-bit.
        let size = unsafe { core::ptr::read_volatile(core::ptr::addr_of!((*inode).i_size)) };
        idx < (size as u64 + sb.page_size() - 1) >> shift
    };
    if !in_size() {
        return VM_FAULT_SIGBUS;
    }
    if write && flags & u64::from(bindings::VM_WRITE) == 0 {
        // Only GUP with FOLL_FORCE (ptrace, /proc/PID/mem) writes where the VMA may not be
        // written. It follows such writes only through exclusive anonymous pages, so a
        // read-only entry mapped here would send it round again, forever. Failing makes the
        // caller fall back to `rh_access`, which does the write in a private copy.
        return VM_FAULT_SIGSEGV;
    }
    let page = if flags & u64::from(bindings::VM_MAYSHARE) == 0 {
        // SAFETY: `vma` is live for the fault.
        let Some(map) = (unsafe { priv_map(vma) }) else {
            return VM_FAULT_SIGBUS;
        };
        // A writable private mapping maps its own pages writable, even on a read fault:
        // see `fs::private` for why it never holds a read-only entry.
        write = flags & u64::from(bindings::VM_WRITE) != 0;
        map.fault(info, idx, write)
    } else {
        info.get_or_alloc(sb, idx, in_size)
    };
    let pfn = match page {
        Ok(pfn) => pfn,
        Err(_) => return VM_FAULT_SIGBUS,
    };
    // The piece of the page the entry maps: all of it unless `order` is smaller.
    let piece = ((offset & (sb.page_size() - 1)) >> bindings::PAGE_SHIFT) as usize
        & !((1usize << order) - 1);
    // SAFETY: `vmf` is the live fault; the page stays in the file (or the private map)
    // while we hold the fault mutex, and is unmapped before it is ever freed.
    let ret = unsafe { shim::rhugetlbfs_insert_pfn(vmf, pfn + piece, order, write) };
    if ret == VM_FAULT_NOPAGE {
        sb.pool()
            .stats
            .record_fault(if from_pte_level || order < sb.order() {
                FaultKind::Fallback
            } else if order == bindings::HPAGE_PUD_ORDER {
                FaultKind::Pud
            } else {
                FaultKind::Pmd
            });
    }
    ret
}

/// `vm_operations_struct::access`: reads or writes `len` bytes at `addr` of the mapping for
/// ptrace and `/proc/PID/mem` where GUP cannot: the shared mappings' PFN entries, and forced
/// writes into read-only private mappings (which go to the mapping's own copy of the page,
/// as upstream's copy-on-write under FOLL_FORCE). Returns the bytes done, at most to the end
/// of the huge page, or a negative errno: `EFAULT` for a write into a shared mapping that
/// may not be written, past the end of the file, or when no page may be had.
///
/// # Safety
///
/// MM callback contract: `vma` is one of ours, its mm locked; `buf` holds `len` bytes.
unsafe extern "C" fn rh_access(
    vma: *mut bindings::vm_area_struct,
    addr: c_ulong,
    buf: *mut c_void,
    len: c_int,
    write: c_int,
) -> c_int {
    let efault = EFAULT.to_errno();
    // SAFETY: By the callback contract.
    let ((start, end, flags), pgoff, inode) = unsafe {
        (
            vma_info(vma),
            (*vma).vm_pgoff as u64,
            (*(*vma).vm_file).f_inode,
        )
    };
    let (addr, write) = (addr as u64, write != 0);
    let Ok(len) = u64::try_from(len) else {
        return EINVAL.to_errno();
    };
    if len == 0 || addr < start || addr >= end {
        return EINVAL.to_errno();
    }
    let private = flags & u64::from(bindings::VM_MAYSHARE) == 0;
    let vm_write = flags & u64::from(bindings::VM_WRITE) != 0;
    if write && !private && !vm_write {
        return efault;
    }
    // SAFETY: The VMA's file holds the inode.
    let (sb, info, ino) = unsafe {
        (
            sb_info((*inode).i_sb),
            inode_info(inode),
            (*inode).i_ino as u64,
        )
    };
    let Some(info) = info else {
        return efault;
    };
    let (shift, hsize) = (sb.page_shift(), sb.page_size());
    let idx = ((addr - start) >> shift) + (pgoff >> sb.order());
    let off = (addr - start) & (hsize - 1);
    let n = len.min(hsize - off);
    let _fault = sb.fault_lock(ino, idx);
    let in_size = || {
        // SAFETY: `inode` is alive; a racy read of `i_size`, as `i_size_read` on 64-bit.
        let size = unsafe { core::ptr::read_volatile(core::ptr::addr_of!((*inode).i_size)) };
        idx < (size as u64 + hsize - 1) >> shift
    };
    if !in_size() {
        return efault;
    }
    let pfn = if private {
        // SAFETY: `vma` is live (its mm is locked).
        let Some(map) = (unsafe { priv_map(vma) }) else {
            return efault;
        };
        // As a fault would: a writable mapping's own page; a write (forced, into a
        // read-only mapping) also makes it the mapping's own page.
        map.fault(info, idx, vm_write || write)
    } else {
        info.get_or_alloc(sb, idx, in_size)
    };
    let Ok(pfn) = pfn else {
        return efault;
    };
    // SAFETY: The page stays in the file (or the private map) while we hold the index's
    // fault mutex; `[off, off + n)` lies inside it; `buf` holds at least `n` bytes.
    unsafe {
        if write {
            shim::rhugetlbfs_copy_to_page(pfn, off as c_ulong, buf, n as usize);
        } else {
            shim::rhugetlbfs_copy_from_page(pfn, off as c_ulong, buf, n as usize);
        }
    }
    if write && private && !vm_write {
        // A read-only entry here may still map the file's page: the next fault maps the
        // mapping's own copy instead.
        // SAFETY: `vma` is live, its mm locked; the range is the huge page's, inside it.
        unsafe { shim::rhugetlbfs_zap_range(vma, (addr - off) as c_ulong, hsize as c_ulong) };
    }
    n as c_int
}

/// The mount of the file `vma` maps.
///
/// # Safety
///
/// `vma` is one of our VMAs, live for `'a`.
unsafe fn vma_sb<'a>(vma: *const bindings::vm_area_struct) -> &'a SuperInfo {
    // SAFETY: By the safety requirements; the VMA's file holds the inode and the super
    // block while the VMA lives.
    unsafe { sb_info((*(*(*vma).vm_file).f_inode).i_sb) }
}

/// `vm_operations_struct::pagesize`: the huge page size (smaps `KernelPageSize`).
///
/// # Safety
///
/// MM callback contract: `vma` is one of ours.
unsafe extern "C" fn rh_pagesize(vma: *mut bindings::vm_area_struct) -> c_ulong {
    // SAFETY: By the callback contract.
    let sb = unsafe { vma_sb(vma) };
    sb.page_size() as c_ulong
}

/// `vm_operations_struct::may_split`: only at huge page boundaries.
///
/// # Safety
///
/// MM callback contract: `vma` is one of ours.
unsafe extern "C" fn rh_may_split(vma: *mut bindings::vm_area_struct, addr: c_ulong) -> c_int {
    // SAFETY: By the callback contract.
    let sb = unsafe { vma_sb(vma) };
    if addr as u64 & (sb.page_size() - 1) != 0 {
        return EINVAL.to_errno();
    }
    0
}

/// `vm_operations_struct::open` of a private VMA: a split or `mremap` copy shares the
/// map (one more reference); a `fork` child gets its own map sharing the pages, and the
/// parent's entries are zapped so that neither side writes a shared page in place
/// (upstream copies the entries write-protected; see `fs::private`).
///
/// # Safety
///
/// MM callback contract: `vma` is a new copy of one of our private VMAs, its mm
/// write-locked.
unsafe extern "C" fn rh_vm_open(vma: *mut bindings::vm_area_struct) {
    // SAFETY: By the callback contract; the copied `vm_private_data` is the original's,
    // which holds its reference until its own close, after this.
    let Some(map) = (unsafe { priv_map(vma) }) else {
        return;
    };
    // SAFETY: `vma` is live.
    let mm = unsafe { (*vma).vm_mm } as usize;
    if mm == map.mm() {
        // The new VMA's own reference; `vm_private_data` already has the pointer.
        let _ = Arc::from(map).into_foreign();
        return;
    }
    // SAFETY: `vma` is one of ours and live.
    let sb = unsafe { vma_sb(vma) };
    // SAFETY: `vma` is live.
    let child = map.fork(mm, unsafe { vma_idx(vma, sb) });
    // Without memory for its map the child loses the private pages: its faults there get
    // SIGBUS (as upstream's children when the owner needs a page back).
    let data = child.map_or(core::ptr::null_mut(), |m| m.into_foreign() as *mut c_void);
    // SAFETY: `vma` is the child's new VMA, not yet visible to anybody else; `dup_mmap` runs
    // in the parent with its mm write-locked, as `rhugetlbfs_zap_fork_parent` needs.
    unsafe {
        (*vma).vm_private_data = data;
        shim::rhugetlbfs_zap_fork_parent(vma);
    }
}

/// `vm_operations_struct::close` of a private VMA: frees its private pages and gives back
/// the reservations it did not use (upstream `hugetlb_vm_op_close`), unless another VMA
/// of the mm still maps the range with the same state (`mremap`).
///
/// # Safety
///
/// MM callback contract: `vma` is one of our private VMAs going away.
unsafe extern "C" fn rh_vm_close(vma: *mut bindings::vm_area_struct) {
    // SAFETY: By the callback contract.
    let data = unsafe { (*vma).vm_private_data };
    if data.is_null() {
        return;
    }
    // SAFETY: `data` holds this VMA's `Arc<PrivMap>` reference, taken back here once.
    let map = unsafe { <Arc<PrivMap> as ForeignOwnable>::from_foreign(data) };
    // SAFETY: `vma` is live until close returns; its mm is locked by the caller. The
    // search compares the other VMAs' `vm_private_data` with this one's, so it runs before
    // that is cleared (cleared first, every file mapping of the mm at overlapping offsets,
    // such as its libraries, looked like another piece of this map).
    let still_mapped = unsafe {
        let still = shim::rhugetlbfs_private_still_mapped(vma);
        (*vma).vm_private_data = core::ptr::null_mut();
        still
    };
    if !still_mapped {
        // SAFETY: `vma` is one of ours and live.
        let sb = unsafe { vma_sb(vma) };
        // SAFETY: `vma` is live.
        map.release(unsafe { vma_idx(vma, sb) });
    }
}

/// `vm_operations_struct::mprotect`: a private VMA that becomes writable again is zapped,
/// so that its next faults map its own pages writable (see `fs::private`).
///
/// # Safety
///
/// MM callback contract: `vma` is one of ours, its mm write-locked, `[start, end)` in it.
unsafe extern "C" fn rh_vm_mprotect(
    vma: *mut bindings::vm_area_struct,
    start: c_ulong,
    end: c_ulong,
    newflags: c_ulong,
) -> c_int {
    // SAFETY: By the callback contract.
    let (_, _, flags) = unsafe { vma_info(vma) };
    let write = u64::from(bindings::VM_WRITE);
    if newflags as u64 & write != 0 && flags & write == 0 {
        // SAFETY: By the callback contract.
        unsafe { shim::rhugetlbfs_zap_for_mprotect(vma, start, end) };
    }
    0
}

/// A read-only C table in a static (see `fs::Table`).
#[repr(transparent)]
struct VmOps(bindings::vm_operations_struct);

// SAFETY: Never written after initialisation.
unsafe impl Sync for VmOps {}

static VM_OPS: VmOps = VmOps(bindings::vm_operations_struct {
    access: Some(rh_access),
    huge_fault: Some(rh_huge_fault),
    fault: Some(rh_fault),
    pagesize: Some(rh_pagesize),
    may_split: Some(rh_may_split),
    // SAFETY: The other callbacks are optional; all-zero is "none".
    ..unsafe { core::mem::zeroed() }
});

static VM_OPS_PRIVATE: VmOps = VmOps(bindings::vm_operations_struct {
    open: Some(rh_vm_open),
    close: Some(rh_vm_close),
    mprotect: Some(rh_vm_mprotect),
    access: Some(rh_access),
    huge_fault: Some(rh_huge_fault),
    fault: Some(rh_fault),
    pagesize: Some(rh_pagesize),
    may_split: Some(rh_may_split),
    // SAFETY: The other callbacks are optional; all-zero is "none".
    ..unsafe { core::mem::zeroed() }
});
