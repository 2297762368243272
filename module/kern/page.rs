// SPDX-License-Identifier: GPL-2.0

//! Owned huge pages: naturally aligned runs of `1 << order` base pages.
//!
//! A [`HugePage`] is a compound page (a folio), either from the buddy allocator (2 MiB,
//! order 9) or a contiguous range taken with `alloc_contig_range(.., __GFP_COMP)` (1 GiB,
//! order 18, above `MAX_PAGE_ORDER`); or, for 1 GiB pages that the page cache holds (whose
//! folios are at most PMD-sized), one contiguous, aligned range of 512 such 2 MiB folios
//! ("chunked"). Either way it is freed the matching way when dropped, like
//! `kernel::page::Page` does for single pages.
//!
//! C header: [`include/linux/gfp.h`](srctree/include/linux/gfp.h)

use super::shim;
use super::work::WorkerCtx;
use crate::acct::zero::ClearMethod;
use kernel::bindings;
use kernel::ffi::c_int;
use kernel::prelude::*;

/// How a [`HugePage`] was allocated, and so how it is freed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Source {
    /// `alloc_pages_node(.., __GFP_COMP, order)`: freed with `__free_pages`.
    Buddy,
    /// `alloc_contig_range`: freed with `free_contig_range`.
    Contig,
    /// `alloc_contig_range` of each `CHUNK_ORDER` piece: freed piece by piece.
    Chunks,
}

/// The order of the folios a chunked page is made of: one PMD each.
const CHUNK_ORDER: u32 = bindings::HPAGE_PMD_ORDER;

/// A huge page owned by the pool.
///
/// # Invariants
///
/// The `1 << order` pages starting at `pfn` are allocated, owned by this object, and were
/// allocated as `source` says; `pfn` is aligned to `1 << order`.
pub(crate) struct HugePage {
    pfn: usize,
    order: u32,
    source: Source,
}

impl HugePage {
    /// Allocates a compound page of `order` (at most `MAX_PAGE_ORDER`) on node `nid` only.
    ///
    /// `noretry` asks the allocator not to try hard (used once a node has failed, as
    /// upstream's `node_alloc_noretry`). Never warns on failure.
    pub(crate) fn alloc_buddy(nid: u32, order: u32, noretry: bool) -> Result<Self> {
        if order > bindings::MAX_PAGE_ORDER {
            return Err(EINVAL);
        }
        let nid = i32::try_from(nid).map_err(|_| EINVAL)?;
        // SAFETY: May sleep (GFP_HIGHUSER); `order` is within the buddy allocator's range and
        // `nid` is an int, which `alloc_pages_node` accepts for any online node.
        let pfn = unsafe { shim::rhugetlbfs_alloc_buddy(nid, order, noretry) };
        if pfn == shim::RH_NO_PFN {
            return Err(ENOMEM);
        }
        // INVARIANT: We own the compound page of `order` at `pfn` (buddy pages of an order are
        // naturally aligned).
        Ok(HugePage {
            pfn,
            order,
            source: Source::Buddy,
        })
    }

    /// Takes the `1 << order` pages at `start_pfn` with `alloc_contig_range` (migrating what
    /// is movable there).
    ///
    /// The caller picks `start_pfn` (see `acct::gigantic`); it must be aligned and the whole
    /// range inside one zone, else `EINVAL`/`EBUSY` come back from the allocator.
    pub(crate) fn alloc_contig(start_pfn: usize, order: u32) -> Result<Self> {
        let nr = 1usize.checked_shl(order).ok_or(EINVAL)?;
        if start_pfn % nr != 0 {
            return Err(EINVAL);
        }
        // SAFETY: May sleep; `alloc_contig_range` checks the range itself and fails without
        // side effects when it cannot take it.
        let ret = unsafe { shim::rhugetlbfs_alloc_contig(start_pfn, nr) };
        kernel::error::to_result(ret)?;
        // INVARIANT: `alloc_contig_range` succeeded, so the range is ours.
        Ok(HugePage {
            pfn: start_pfn,
            order,
            source: Source::Contig,
        })
    }

    /// Takes the `1 << order` pages at `start_pfn` as contiguous 2 MiB folios, one
    /// `alloc_contig_range(.., __GFP_COMP)` each, trying a piece whose migration failed up to
    /// `retries` more times. On failure the pieces taken go back and the error is the last
    /// piece's.
    pub(crate) fn alloc_contig_chunks(
        start_pfn: usize,
        order: u32,
        retries: usize,
    ) -> Result<Self> {
        let nr = 1usize.checked_shl(order).ok_or(EINVAL)?;
        let chunk = 1usize << CHUNK_ORDER;
        if order <= CHUNK_ORDER || start_pfn % nr != 0 {
            return Err(EINVAL);
        }
        let mut done = 0;
        while done < nr {
            let mut ret;
            let mut tries = 0;
            loop {
                // SAFETY: May sleep; `alloc_contig_range` checks the range and fails without
                // side effects when it cannot take it. A piece is one aligned pageblock, so a
                // success is exactly one compound page of `CHUNK_ORDER`.
                ret = unsafe { shim::rhugetlbfs_alloc_contig(start_pfn + done, chunk) };
                if ret != EBUSY.to_errno() || tries == retries {
                    break;
                }
                tries += 1;
                cond_resched();
            }
            if let Err(e) = kernel::error::to_result(ret) {
                for taken in (0..done).step_by(chunk) {
                    // SAFETY: We took this piece above as one compound page of `chunk` pages.
                    unsafe { bindings::free_contig_range(start_pfn + taken, chunk as _) };
                }
                return Err(e);
            }
            done += chunk;
            cond_resched();
        }
        // INVARIANT: Every piece of the aligned range was taken, as `Chunks` pages are.
        Ok(HugePage {
            pfn: start_pfn,
            order,
            source: Source::Chunks,
        })
    }

    /// Whether the page is made of 2 MiB folios (pages of the buddy allocator are one 2 MiB
    /// folio; chunked 1 GiB pages 512): what the page cache can hold and the core map with
    /// PMD entries.
    pub(crate) fn is_pmd_folios(&self) -> bool {
        self.source == Source::Chunks || self.order == CHUNK_ORDER
    }

    /// The order of the page's folios.
    fn folio_order(&self) -> u32 {
        if self.source == Source::Chunks {
            CHUNK_ORDER
        } else {
            self.order
        }
    }

    /// The frame number of the head of the folio that holds base page `base`, if `base` lies
    /// inside the page.
    pub(super) fn folio_pfn(&self, base: usize) -> Option<usize> {
        (base < self.nr_pages()).then(|| self.pfn + (base & !((1usize << self.folio_order()) - 1)))
    }

    /// The page's folios: the base page each starts at, and its head's frame number.
    pub(super) fn folios(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        (0..self.nr_pages())
            .step_by(1 << self.folio_order())
            .map(|base| (base, self.pfn + base))
    }

    /// The frame number of base page `first`, if `[first, first + (1 << order))` is a
    /// naturally aligned piece of the page (what one PMD or PUD entry maps).
    pub(super) fn pfn_of(&self, first: usize, order: u32) -> Option<usize> {
        let n = 1usize.checked_shl(order)?;
        (first % n == 0 && first.checked_add(n)? <= self.nr_pages()).then_some(self.pfn + first)
    }

    /// The size in bytes.
    pub(crate) fn size(&self) -> u64 {
        (self.nr_pages() as u64) << bindings::PAGE_SHIFT
    }

    /// Checks that `[offset, offset + len)` lies inside the page.
    fn check_range(&self, offset: u64, len: usize) -> Result {
        match offset.checked_add(len as u64) {
            Some(end) if end <= self.size() => Ok(()),
            _ => Err(EINVAL),
        }
    }

    /// Copies the bytes at `offset` into `dst` (`EINVAL` if they do not lie inside the
    /// page). No user memory is touched, so the caller may hold locks a fault takes.
    pub(crate) fn read(&self, offset: u64, dst: &mut [u8]) -> Result {
        self.check_range(offset, dst.len())?;
        // SAFETY: By the type invariants the pages are allocated and ours, alive for the
        // borrow; the range was checked; `dst` is valid for its length and is not part of
        // the page (a kernel buffer the caller owns).
        unsafe {
            shim::rhugetlbfs_copy_from_page(
                self.pfn,
                offset as _,
                dst.as_mut_ptr().cast(),
                dst.len(),
            )
        };
        Ok(())
    }

    /// Copies `src` into the page at `offset` (`EINVAL` if it does not fit inside).
    ///
    /// A shared borrow is enough: the page's memory is not Rust memory (user space may map
    /// and write it meanwhile, as with any write into a mapped file page); what the caller
    /// must ensure is that the bytes are the file's users' data (a ptrace write, say).
    pub(crate) fn write(&self, offset: u64, src: &[u8]) -> Result {
        self.check_range(offset, src.len())?;
        // SAFETY: As in `read`; the borrow keeps the page alive for the call.
        unsafe {
            shim::rhugetlbfs_copy_to_page(self.pfn, offset as _, src.as_ptr().cast(), src.len())
        };
        Ok(())
    }

    /// The number of base pages.
    fn nr_pages(&self) -> usize {
        1 << self.order
    }

    /// Zeroes the whole page with `method` (`Auto` stands for `Page` here: the caller
    /// resolves it). `&mut self`: nobody else can reach it through this object, and a page
    /// owned outside the pool's and files' trees is mapped nowhere.
    pub(crate) fn zero(&mut self, method: ClearMethod) {
        // SAFETY: By the type invariants the pages are allocated and ours; the exclusive
        // borrow keeps them alive for the call. Not stoppable, so any context that may sleep.
        unsafe {
            shim::rhugetlbfs_clear_pages(self.pfn, self.nr_pages(), clear_code(method), false)
        };
    }

    /// [`Self::zero`] in a zeroing worker, which stops between 2 MiB chunks when the worker
    /// is told to stop (unload). Whether the page was cleared completely.
    pub(crate) fn zero_in_worker(&mut self, method: ClearMethod, _worker: &WorkerCtx) -> bool {
        // SAFETY: As in `zero`; `WorkerCtx` exists only inside a zeroing worker's kernel
        // thread, where `kthread_should_stop()` may be called.
        unsafe { shim::rhugetlbfs_clear_pages(self.pfn, self.nr_pages(), clear_code(method), true) }
    }

    /// Zeroes `len` bytes at `offset` (the partial pages at the ends of a punched hole).
    /// `EINVAL` if the range does not lie inside the page.
    pub(crate) fn zero_range(&mut self, offset: u64, len: usize) -> Result {
        self.check_range(offset, len)?;
        // SAFETY: By the type invariants the pages are allocated and ours, and the range
        // was checked to lie inside them; the exclusive borrow keeps them alive.
        unsafe { shim::rhugetlbfs_zero_range(self.pfn, offset as _, len) };
        Ok(())
    }

    /// Copies `src` into this page (copy-on-write). Both must be of the same order;
    /// `EINVAL` otherwise.
    pub(crate) fn copy_from(&mut self, src: &HugePage) -> Result {
        if src.order != self.order {
            return Err(EINVAL);
        }
        // SAFETY: By the type invariants both ranges are allocated, of `nr_pages` frames,
        // and distinct objects own them (`self` exclusively borrowed, `src` shared), so they
        // do not overlap and stay alive for the call.
        unsafe { shim::rhugetlbfs_copy_pages(self.pfn, src.pfn, self.nr_pages()) };
        Ok(())
    }

    /// Whether the pool holds the only reference to the page: nothing outside it (GUP, a
    /// pipe, O_DIRECT, an io_uring buffer) still does, so it may be reused or freed.
    ///
    /// The count is frozen at our one reference for the check (`folio_ref_freeze`, as split
    /// and migration do): no speculative reference slips in meanwhile.
    pub(crate) fn is_exclusive(&self) -> bool {
        // SAFETY: By the type invariants each folio of the page is ours, and we hold one
        // reference to each for as long as `self` lives.
        self.folios()
            .all(|(_, pfn)| unsafe { shim::rhugetlbfs_page_exclusive(pfn) })
    }

    /// Whether a base page of it is hardware-poisoned (never with `CONFIG_MEMORY_FAILURE`
    /// off, as in the test kernels).
    pub(crate) fn is_hwpoisoned(&self) -> bool {
        // SAFETY: By the type invariants the `nr_pages` frames from `pfn` are ours.
        unsafe { shim::rhugetlbfs_page_hwpoisoned(self.pfn, self.nr_pages()) }
    }

    /// The NUMA node the page is on.
    pub(crate) fn nid(&self) -> u32 {
        // SAFETY: By the type invariants `pfn` is an allocated, hence valid, page frame.
        let nid = unsafe { shim::rhugetlbfs_pfn_to_nid(self.pfn) };
        u32::try_from(nid).unwrap_or(0)
    }
}

/// Dropping a page drops the pool's reference. If nothing else holds one, the page goes back
/// to the buddy allocator at once; otherwise the last holder's `put_page` frees it there.
/// Nothing of the module stays attached to the page (no `mapping`, no destructor), so that
/// may happen after the module is gone.
impl Drop for HugePage {
    fn drop(&mut self) {
        match self.source {
            // SAFETY: By the type invariants we own the compound page of `order` at `pfn`.
            Source::Buddy => unsafe { shim::rhugetlbfs_free_buddy(self.pfn, self.order) },
            // SAFETY: By the type invariants we own the range taken by `alloc_contig_range`.
            Source::Contig => unsafe { bindings::free_contig_range(self.pfn, 1 << self.order) },
            Source::Chunks => {
                let chunk = 1usize << CHUNK_ORDER;
                for (_, pfn) in self.folios() {
                    // SAFETY: By the type invariants we own each piece, one compound page of
                    // `chunk` pages.
                    unsafe { bindings::free_contig_range(pfn, chunk as _) };
                }
            }
        }
    }
}

/// A reference to a folio of a file's page cache (from [`crate::kern::vfs::INode::cache_get`]),
/// dropped on drop. It keeps the memory from going anywhere (the pool reuses a page only when
/// it holds the only reference), not the folio in the file.
///
/// # Invariants
///
/// `pfn` is the head of a folio of `nr` pages whose first page had index `first` in its file
/// when found, and this object holds one reference to it.
pub(crate) struct CachedFolio {
    pfn: usize,
    first: u64,
    nr: usize,
}

impl CachedFolio {
    /// # Safety
    ///
    /// The caller hands over one reference to the folio described, as the type invariants
    /// say.
    pub(super) unsafe fn from_raw(pfn: usize, first: u64, nr: usize) -> Self {
        // INVARIANT: By the safety requirements.
        CachedFolio { pfn, first, nr }
    }

    pub(super) fn pfn(&self) -> usize {
        self.pfn
    }

    /// The file index (in base pages) of its first page.
    pub(crate) fn first_index(&self) -> u64 {
        self.first
    }

    /// The size in bytes.
    pub(crate) fn size(&self) -> u64 {
        (self.nr as u64) << bindings::PAGE_SHIFT
    }
}

impl Drop for CachedFolio {
    fn drop(&mut self) {
        // SAFETY: By the type invariants we hold one reference, dropped exactly once here.
        unsafe { shim::rhugetlbfs_folio_put(self.pfn) };
    }
}

/// The shim's code for a clearing method.
fn clear_code(method: ClearMethod) -> c_int {
    match method {
        ClearMethod::Auto | ClearMethod::Page => shim::RH_CLEAR_PAGE,
        ClearMethod::Erms => shim::RH_CLEAR_ERMS,
        ClearMethod::Nt => shim::RH_CLEAR_NT,
    }
}

/// Whether the CPU has enhanced `rep movsb/stosb` (ERMS): what `Auto` clears with on the
/// fault path until the methods are measured.
pub(crate) fn cpu_has_erms() -> bool {
    // SAFETY: Reads the boot CPU's feature bits; no requirements.
    unsafe { shim::rhugetlbfs_cpu_has_erms() }
}

/// Yields the CPU if the scheduler wants it (long loops over many pages).
pub(crate) fn cond_resched() {
    // SAFETY: Called from process context only (pool resizing, faults), where sleeping is
    // allowed.
    unsafe { shim::rhugetlbfs_cond_resched() }
}
