// SPDX-License-Identifier: GPL-2.0

//! Mappings of rhugetlbfs files: `mmap`, `get_unmapped_area`, and the VMA operations of the
//! three kinds of mapping (upstream `hugetlbfs_file_mmap`, `hugetlb_vm_ops`, `hugetlb_fault`,
//! `hugetlb_no_page`):
//!
//! - [`CachedVm`]: shared mappings of page-cache files (`map=pmd`: 2 MiB pages, and 1 GiB
//!   pages of 2 MiB folios). `fault` hands the core the folio, which maps it with a
//!   refcounted PMD; `map_pages` is the page cache's. Plain file VMAs, `VM_DONTEXPAND`.
//! - [`SharedVm`]: shared mappings of `map=pud` files: the module inserts a PUD PFN entry
//!   per page from `huge_fault`. `VM_PFNMAP`, for which the core calls `huge_fault` whatever
//!   the THP setting.
//! - [`PrivateVm`]: private mappings, `VM_MIXEDMAP` (the kernel refuses `VM_PFNMAP` on
//!   copy-on-write mappings), PFN entries of the mapping's own pages from `huge_fault`,
//!   which the core calls only with THP "always", or "madvise" and `VM_HUGEPAGE` (set here).
//!   Each carries a [`PrivMap`] in `vm_private_data`, one counted reference per VMA, kept
//!   right by `open`/`close` across splits, `mremap` and `fork`.
//!
//! On the PFN mappings a 4 KiB fault (THP "never" or disabled, or after a split) still maps
//! a PMD entry where no page table sits, and gets SIGBUS otherwise; either way it is counted
//! as a fallback. Every mapping is `VM_DONTEXPAND` (never grown by `mremap`, no khugepaged);
//! the PFN ones also `VM_DONTDUMP` (a core dump could not read them through GUP anyway).

use super::inode::InodeInfo;
use super::private::PrivMap;
use super::{FaultLock, RhFs, SuperInfo};
use crate::acct::stats::FaultKind;
use crate::kern::mm::{self, flags, VmFault, VmFaultReason, VmOperations, Vma, VmaNew, VmaWrite};
use crate::kern::page::HugePage;
use crate::kern::vfs::{File, INode};
use core::ops::Range;
use kernel::bindings;
use kernel::prelude::*;
use kernel::sync::Arc;

/// `MAP_FIXED` (uapi `asm-generic/mman-common.h`; not in the bindings).
const MAP_FIXED: usize = 0x10;

/// The file's huge page indexes that a VMA of `[start, end)` at base-page offset `pgoff`
/// maps.
fn idx_range(sb: &SuperInfo, start: usize, end: usize, pgoff: u64) -> Range<u64> {
    let from = pgoff >> sb.order();
    from..from + ((end - start) as u64 >> sb.page_shift())
}

/// `mmap` (upstream `hugetlbfs_file_mmap`): offset, start and end huge-page aligned; the
/// reservation taken (shared: the file's map; private: the new [`PrivMap`]); a writable
/// mapping past EOF extends `i_size` to its end.
pub(super) fn mmap(file: &File<RhFs>, vma: &VmaNew) -> Result {
    let inode = file.inode();
    let sb = inode.super_block().data();
    let info = inode.data().ok_or(ENODEV)?;
    let (start, end, vflags, pgoff) = (vma.start(), vma.end(), vma.flags(), vma.pgoff());
    let hsize = sb.page_size() as usize;
    if pgoff & ((1 << sb.order()) - 1) != 0 || start & (hsize - 1) != 0 || end & (hsize - 1) != 0 {
        return Err(EINVAL);
    }
    let private = vflags & flags::MAYSHARE == 0;
    let noreserve = vflags & flags::NORESERVE != 0;
    let idx = idx_range(&sb, start, end, pgoff);
    let to = idx.end;
    if private {
        let map = PrivMap::new(Arc::from(sb), vma.mm_id(), idx, noreserve)?;
        // A read-only private mapping stays read-only (see `fs::private`).
        let clear = if vflags & flags::WRITE == 0 {
            flags::MAYWRITE
        } else {
            0
        };
        vma.update_flags(
            flags::MIXEDMAP | flags::HUGEPAGE | flags::DONTEXPAND | flags::DONTDUMP,
            clear,
        );
        vma.set_ops::<PrivateVm>(Some(map));
    } else {
        if !noreserve {
            info.reserve_shared(&sb, idx.start, idx.end)?;
        }
        if sb.page_cache() {
            // The core maps the page-cache folios (refcounted, rmapped). `VM_DONTEXPAND`
            // keeps `mremap` from growing the mapping and khugepaged/MADV_COLLAPSE away
            // (`VM_NO_KHUGEPAGED`).
            vma.update_flags(flags::DONTEXPAND, 0);
            vma.set_ops::<CachedVm>(None);
        } else {
            vma.update_flags(flags::PFNMAP | flags::DONTEXPAND | flags::DONTDUMP, 0);
            vma.set_ops::<SharedVm>(None);
        }
    }
    if vflags & flags::WRITE != 0 {
        let len = (to << sb.page_shift()) as i64;
        let locked = inode.lock();
        if inode.size() < len {
            locked.set_size(len);
        }
    }
    Ok(())
}

/// `get_unmapped_area`: huge-page-aligned addresses; `EINVAL` for an unaligned length or
/// fixed address.
pub(super) fn get_unmapped_area(
    file: &File<RhFs>,
    addr: usize,
    len: usize,
    flags: usize,
) -> Result<usize> {
    let hsize = file.inode().super_block().data().page_size() as usize;
    if len & (hsize - 1) != 0 {
        return Err(EINVAL);
    }
    if flags & MAP_FIXED != 0 {
        return if addr & (hsize - 1) != 0 {
            Err(EINVAL)
        } else {
            Ok(addr)
        };
    }
    mm::get_unmapped_area_aligned(addr, len, hsize, flags & !MAP_FIXED)
}

/// Where a fault or an access lands: the file, its mount, and the page index.
struct Target<'a> {
    inode: &'a INode<RhFs>,
    /// Offset of the address in the VMA.
    offset: u64,
    idx: u64,
}

impl<'a> Target<'a> {
    /// The target of `addr` in `vma`.
    fn of<V: VmOperations<FileSystem = RhFs>>(vma: &'a Vma<V>, addr: usize) -> Self {
        let inode = vma.file().inode();
        let sb = inode.super_block().data();
        let offset = (addr - vma.start()) as u64;
        let idx = (offset >> sb.page_shift()) + (vma.pgoff() >> sb.order());
        Target { inode, offset, idx }
    }

    /// Whether the index is below `i_size` (rounded up to a huge page). Checked under the
    /// fault mutex, and again where a new page is inserted.
    fn in_size(&self, sb: &SuperInfo) -> bool {
        let size = self.inode.size() as u64;
        self.idx < (size + sb.page_size() - 1) >> sb.page_shift()
    }
}

/// The VMA operations of this filesystem, and where each kind finds the page to map.
trait RhVm: VmOperations<FileSystem = RhFs> {
    /// Runs `f` on the page of `fault`'s index for `vma`: the file's (shared), or the private
    /// map's (`own` asks for the mapping's own copy).
    fn with_page<R>(
        vma: &Vma<Self>,
        sb: &SuperInfo,
        info: &InodeInfo,
        fault: &FaultLock<'_>,
        t: &Target<'_>,
        own: bool,
        f: impl FnOnce(&HugePage) -> R,
    ) -> Result<R>;
}

/// Runs `f` on the page a fault or an access at `addr` of `vma` needs, under the index's fault
/// mutex. `EFAULT` past the end of the file; then `EPERM` if `deny` (checked under the mutex,
/// after the size); `ENOSPC`/`ENOMEM` when no page may be had.
fn with_target_page<V: RhVm, R>(
    vma: &Vma<V>,
    addr: usize,
    own: bool,
    deny: bool,
    f: impl FnOnce(&HugePage, &Target<'_>) -> R,
) -> Result<R> {
    let t = Target::of(vma, addr);
    let sb = t.inode.super_block().data();
    let info = t.inode.data().ok_or(EFAULT)?;
    let fault = sb.fault_lock(&info, t.idx);
    if !t.in_size(&sb) {
        return Err(EFAULT);
    }
    if deny {
        return Err(EPERM);
    }
    V::with_page(vma, &sb, &info, &fault, &t, own, |page| f(page, &t))
}

/// Maps the page of the faulting index, or the `order`-sized piece of it around the address,
/// with one entry of `order` (`PMD_ORDER` or `PUD_ORDER`, at most the page's).
/// `from_pte_level`: called by the 4 KiB handler (counted as a fallback).
fn fault_at<V: RhVm>(vmf: &VmFault<'_, V>, order: u32, from_pte_level: bool) -> VmFaultReason {
    let vma = vmf.vma();
    let vflags = vma.flags();
    // Only GUP with FOLL_FORCE (ptrace, /proc/PID/mem) writes where the VMA may not be
    // written. It follows such writes only through exclusive anonymous pages, so a read-only
    // entry mapped here would send it round again, forever. Failing makes the caller fall
    // back to `access`, which does the write in a private copy.
    let forced = vmf.is_write() && vflags & flags::WRITE == 0;
    // A writable private mapping maps its own pages writable, even on a read fault: see
    // `fs::private` for why it never holds a read-only entry. A shared one maps writable on
    // a write fault only.
    let write = if vflags & flags::MAYSHARE == 0 {
        vflags & flags::WRITE != 0
    } else {
        vmf.is_write()
    };
    let private = vflags & flags::MAYSHARE == 0;
    let mapped = with_target_page(vma, vmf.address(), write, forced, |page, t| {
        let sb = t.inode.super_block().data();
        if private && order == bindings::HPAGE_PUD_ORDER && page.is_pmd_folios() {
            // A PUD entry over 512 folios would make GUP (which follows this private
            // mapping's entries, and takes its references on the first page's folio for the
            // whole PUD) miscount them: 2 MiB entries then.
            return VmFaultReason::FALLBACK;
        }
        // The piece of the page the entry maps: all of it unless `order` is smaller.
        let piece = ((t.offset & (sb.page_size() - 1)) >> bindings::PAGE_SHIFT) as usize
            & !((1usize << order) - 1);
        // The page stays in the file (or the private map) while we hold the fault mutex,
        // and is unmapped before it is ever freed.
        let ret = vmf.insert(page, piece, order, write);
        if ret == VmFaultReason::NOPAGE {
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
    });
    match mapped {
        Ok(ret) => ret,
        Err(e) if e == EPERM => VmFaultReason::SIGSEGV,
        Err(_) => VmFaultReason::SIGBUS,
    }
}

/// `huge_fault`: maps the page of the faulting index with one PMD or PUD entry.
fn huge_fault<V: RhVm>(vmf: &VmFault<'_, V>, order: u32) -> VmFaultReason {
    let sb = vmf.vma().file().inode().super_block().data();
    if order > sb.order() {
        // A PUD attempt on a 2 MiB mapping: the core retries at PMD order.
        return VmFaultReason::FALLBACK;
    }
    // A PMD attempt on a 1 GiB mapping happens only where a page table already sits at the
    // PUD level: the 1 GiB page is then mapped in 2 MiB pieces.
    fault_at(vmf, order, false)
}

/// `fault`: a 4 KiB fault. The core comes here instead of `huge_fault` when THP is "never"
/// (for the `VM_MIXEDMAP` private mappings) or disabled for the process
/// (`PR_SET_THP_DISABLE`), and after it split a huge entry (a write to a read-only entry of a
/// private mapping). The page is still mapped with a PMD entry, the whole 2 MiB page or a
/// 2 MiB piece of a 1 GiB one, while no page table sits there; never with 4 KiB entries.
/// Counted as a fallback either way.
fn fault_4k<V: RhVm>(vmf: &VmFault<'_, V>) -> VmFaultReason {
    if vmf.pmd_is_none() {
        return fault_at(vmf, bindings::HPAGE_PMD_ORDER, true);
    }
    let sb = vmf.vma().file().inode().super_block().data();
    sb.pool().stats.record_fault(FaultKind::Fallback);
    VmFaultReason::SIGBUS
}

/// `access`: reads or writes `buf` at `addr` of the mapping for ptrace and `/proc/PID/mem`
/// where GUP cannot: the shared mappings' PFN entries, and forced writes into read-only
/// private mappings (which go to the mapping's own copy of the page, as upstream's
/// copy-on-write under FOLL_FORCE). Returns the bytes done, at most to the end of the huge
/// page: `EFAULT` for a write into a shared mapping that may not be written, past the end of
/// the file, or when no page may be had.
fn access<V: RhVm>(vma: &Vma<V>, addr: usize, buf: &mut [u8], write: bool) -> Result<usize> {
    if buf.is_empty() || addr < vma.start() || addr >= vma.end() {
        return Err(EINVAL);
    }
    let vflags = vma.flags();
    let private = vflags & flags::MAYSHARE == 0;
    let vm_write = vflags & flags::WRITE != 0;
    if write && !private && !vm_write {
        return Err(EFAULT);
    }
    // As a fault would: a writable mapping's own page; a write (forced, into a read-only
    // mapping) also makes it the mapping's own page.
    let done = with_target_page(vma, addr, vm_write || write, false, |page, t| {
        let hsize = page.size();
        let off = t.offset & (hsize - 1);
        let n = (buf.len() as u64).min(hsize - off) as usize;
        let r = if write {
            page.write(off, &buf[..n])
        } else {
            page.read(off, &mut buf[..n])
        };
        r.map(|()| (n, (addr as u64 - off) as usize, hsize as usize))
    })
    .map_err(|_| EFAULT)?;
    let (n, page_start, hsize) = done.map_err(|_| EFAULT)?;
    if write && private && !vm_write {
        // A read-only entry here may still map the file's page: the next fault maps the
        // mapping's own copy instead.
        vma.zap(page_start, hsize);
    }
    Ok(n)
}

/// The VMA operations of shared mappings.
pub(crate) struct SharedVm;

#[vtable]
impl VmOperations for SharedVm {
    type FileSystem = RhFs;
    type PrivateData = ();

    fn huge_fault(vmf: &VmFault<'_, Self>, order: u32) -> VmFaultReason {
        huge_fault(vmf, order)
    }

    fn fault(vmf: &VmFault<'_, Self>) -> VmFaultReason {
        fault_4k(vmf)
    }

    fn access(vma: &Vma<Self>, addr: usize, buf: &mut [u8], write: bool) -> Result<usize> {
        access(vma, addr, buf, write)
    }

    fn pagesize(vma: &Vma<Self>) -> usize {
        vma.file().inode().super_block().data().page_size() as usize
    }

    fn may_split(vma: &Vma<Self>, addr: usize) -> Result {
        may_split(vma, addr)
    }
}

impl RhVm for SharedVm {
    fn with_page<R>(
        _vma: &Vma<Self>,
        sb: &SuperInfo,
        info: &InodeInfo,
        fault: &FaultLock<'_>,
        t: &Target<'_>,
        _own: bool,
        f: impl FnOnce(&HugePage) -> R,
    ) -> Result<R> {
        info.with_page_or_alloc(sb, t.inode, fault, || t.in_size(sb), |page| f(page))
    }
}

/// The VMA operations of shared mappings of page-cache files: the core maps the folios
/// (`fault` hands it the folio, `map_pages` maps those already there around a read fault),
/// so GUP, `MAP_POPULATE`, `O_DIRECT`, pins and `/proc/PID/pagemap` see ordinary file pages.
/// The core maps one PMD per 2 MiB page unless `MADV_NOHUGEPAGE` or `PR_SET_THP_DISABLE`
/// forbid it, and 4 KiB entries of the same folio then.
pub(crate) struct CachedVm;

#[vtable]
impl VmOperations for CachedVm {
    type FileSystem = RhFs;
    type PrivateData = ();

    const MAP_PAGES: bool = true;

    /// Finds or makes the page of the faulting index (upstream `hugetlb_no_page` for a shared
    /// mapping) and hands its folio, locked, to the core; counted as a PMD fault when the
    /// core will map a PMD, as a fallback when it maps 4 KiB entries.
    fn fault(vmf: &VmFault<'_, Self>) -> VmFaultReason {
        let t = Target::of(vmf.vma(), vmf.address());
        let sb = t.inode.super_block().data();
        let Some(info) = t.inode.data() else {
            return VmFaultReason::SIGBUS;
        };
        let fault = sb.fault_lock(&info, t.idx);
        if !t.in_size(&sb) {
            return VmFaultReason::SIGBUS;
        }
        let base = ((t.offset & (sb.page_size() - 1)) >> bindings::PAGE_SHIFT) as usize;
        let pmd = vmf.pmd_mappable();
        let ret = info.with_page_or_alloc(
            &sb,
            t.inode,
            &fault,
            || t.in_size(&sb),
            |page| vmf.map_folio(page, base),
        );
        match ret {
            Ok(ret) => {
                sb.pool().stats.record_fault(if pmd {
                    FaultKind::Pmd
                } else {
                    FaultKind::Fallback
                });
                ret
            }
            Err(_) => VmFaultReason::SIGBUS,
        }
    }

    fn pagesize(vma: &Vma<Self>) -> usize {
        vma.file().inode().super_block().data().page_size() as usize
    }

    fn may_split(vma: &Vma<Self>, addr: usize) -> Result {
        may_split(vma, addr)
    }
}

/// `may_split`: only at huge page boundaries.
fn may_split<V: VmOperations<FileSystem = RhFs>>(vma: &Vma<V>, addr: usize) -> Result {
    let hsize = vma.file().inode().super_block().data().page_size() as usize;
    if addr & (hsize - 1) != 0 {
        return Err(EINVAL);
    }
    Ok(())
}

/// The VMA operations of private mappings: [`SharedVm`]'s, plus the [`PrivMap`]'s life.
pub(crate) struct PrivateVm;

impl RhVm for PrivateVm {
    fn with_page<R>(
        vma: &Vma<Self>,
        _sb: &SuperInfo,
        info: &InodeInfo,
        fault: &FaultLock<'_>,
        _t: &Target<'_>,
        own: bool,
        f: impl FnOnce(&HugePage) -> R,
    ) -> Result<R> {
        // A VMA without a map (a `fork` child that could not copy it) has no pages.
        let map = vma.private_data().ok_or(EFAULT)?;
        map.with_fault_page(info, fault, own, f)
    }
}

#[vtable]
impl VmOperations for PrivateVm {
    type FileSystem = RhFs;
    type PrivateData = Arc<PrivMap>;

    fn huge_fault(vmf: &VmFault<'_, Self>, order: u32) -> VmFaultReason {
        huge_fault(vmf, order)
    }

    fn fault(vmf: &VmFault<'_, Self>) -> VmFaultReason {
        fault_4k(vmf)
    }

    fn access(vma: &Vma<Self>, addr: usize, buf: &mut [u8], write: bool) -> Result<usize> {
        access(vma, addr, buf, write)
    }

    fn pagesize(vma: &Vma<Self>) -> usize {
        vma.file().inode().super_block().data().page_size() as usize
    }

    fn may_split(vma: &Vma<Self>, addr: usize) -> Result {
        may_split(vma, addr)
    }

    /// A split or `mremap` copy shares the map (one more reference); a `fork` child gets its
    /// own map sharing the pages, and the parent's entries are zapped so that neither side
    /// writes a shared page in place (upstream copies the entries write-protected; see
    /// `fs::private`).
    fn open(vma: &VmaWrite<Self>) -> Option<Arc<PrivMap>> {
        let map = vma.private_data()?;
        if vma.mm_id() == map.mm() {
            return Some(Arc::from(map));
        }
        let sb = vma.file().inode().super_block().data();
        let child = map.fork(
            vma.mm_id(),
            idx_range(&sb, vma.start(), vma.end(), vma.pgoff()),
        );
        vma.zap_fork_parent();
        // Without memory for its map the child loses the private pages: its faults there get
        // SIGBUS (as upstream's children when the owner needs a page back).
        child.ok()
    }

    /// Frees the VMA's private pages and gives back the reservations it did not use
    /// (upstream `hugetlb_vm_op_close`), unless another VMA of the mm still maps the range
    /// with the same map (`mremap`).
    fn close(vma: &Vma<Self>, map: Arc<PrivMap>) {
        if !vma.private_still_mapped() {
            let sb = vma.file().inode().super_block().data();
            map.release(idx_range(&sb, vma.start(), vma.end(), vma.pgoff()));
        }
    }

    /// A private VMA that becomes writable again is zapped, so that its next faults map its
    /// own pages writable (see `fs::private`).
    fn mprotect(vma: &VmaWrite<Self>, start: usize, end: usize, newflags: u64) -> Result {
        if newflags & flags::WRITE != 0 && vma.flags() & flags::WRITE == 0 {
            vma.zap_for_mprotect(start, end);
        }
        Ok(())
    }
}
