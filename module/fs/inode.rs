// SPDX-License-Identifier: GPL-2.0

//! Per-file state: the file's pages (huge page index → page) and the reservation map, and
//! the fault, truncate and reservation logic on top (upstream `hugetlb_no_page`,
//! `hugetlb_reserve_pages`, `remove_inode_hugepages`, `hugetlb_unreserve_pages`).
//!
//! The page tree holds the pool's reference to each page: a page lives in the file from its
//! slot's creation to its removal here. On mounts that map through the page cache
//! ([`SuperInfo::page_cache`]) each page is also a folio of the inode's `address_space` (in
//! it from right after it is zeroed until it is removed here, first thing), so that the core
//! maps it with refcounted entries and GUP, `read` and the rest of the kernel find it there.
//!
//! # Locking
//!
//! - The fault mutex of `(file, index)` ([`SuperInfo::fault_lock`]) serialises everything
//!   that adds, removes, maps or reads the page at one index: faults, truncation, reads of
//!   it. The page calls take the held lock ([`FaultLock`]) and act on its index.
//! - `inner` protects the page tree and the reservation map, held briefly; taken inside a
//!   fault mutex, and it takes the pool's lock inside itself.
//! - Work on one page (zeroing, copying, mapping) runs with the page taken out of its slot
//!   and `inner` dropped ([`InodeInfo::with_page`]), so faults on other indexes go on. The empty slot
//!   stays in the tree, where truncation still finds the index; everyone who looks at a
//!   page's contents holds its fault mutex, so nobody else sees the slot empty.

use super::{FaultLock, RhFs, SuperInfo};
use crate::acct::region::{FileRegion, RegionError, RegionStore, ResvMap, StoreAllocError};
use crate::acct::zero::Want;
use crate::kern::page::HugePage;
use crate::kern::vfs::INode;
use crate::pool::FreshPage;
use kernel::new_mutex;
use kernel::prelude::*;
use kernel::rbtree::{RBTree, RBTreeNodeReservation};
use kernel::sync::Mutex;

/// The reservation map's region storage: a `KVec` grown on demand.
pub(crate) struct KVecStore(KVec<FileRegion>);

impl RegionStore for KVecStore {
    fn slots(&self) -> &[FileRegion] {
        &self.0
    }

    fn slots_mut(&mut self) -> &mut [FileRegion] {
        &mut self.0
    }

    fn try_grow(&mut self, min_slots: usize) -> core::result::Result<(), StoreAllocError> {
        let more = min_slots.saturating_sub(self.0.len());
        self.0
            .extend_with(more, FileRegion::EMPTY, GFP_KERNEL)
            .map_err(|_| StoreAllocError)
    }
}

/// A page of the file.
struct FilePage {
    page: HugePage,
    /// Whether it is in the inode's page cache (on page-cache mounts; a page whose insertion
    /// failed for want of memory is put in at its next fault).
    cached: bool,
}

struct InodeInner {
    /// The file's pages by huge page index; `None` only while the holder of the index's
    /// fault mutex works on the page outside the lock.
    pages: RBTree<u64, Option<FilePage>>,
    resv: ResvMap<KVecStore>,
}

/// The data of one regular file.
#[pin_data]
pub(crate) struct InodeInfo {
    #[pin]
    inner: Mutex<InodeInner>,
}

fn region_err(e: RegionError) -> Error {
    match e {
        RegionError::NoMem { .. } => ENOMEM,
        _ => EINVAL,
    }
}

impl InodeInfo {
    /// An empty file.
    pub(crate) fn new() -> Result<Pin<KBox<Self>>> {
        KBox::pin_init(
            pin_init!(InodeInfo {
                inner <- new_mutex!(InodeInner {
                    pages: RBTree::new(),
                    resv: ResvMap::new(KVecStore(KVec::new())),
                }),
            }),
            GFP_KERNEL,
        )
    }

    /// Reserves pages `[from, to)` for a shared mapping (upstream `hugetlb_reserve_pages`
    /// for `VM_MAYSHARE`): the reservation map first (two-phase), then the subpool, then
    /// the pool. `ENOMEM` and nothing reserved on failure.
    pub(crate) fn reserve_shared(&self, sb: &SuperInfo, from: u64, to: u64) -> Result {
        let mut inner = self.inner.lock();
        let chg = inner.resv.region_chg(from, to).map_err(region_err)?;
        if let Err(e) = sb.reserve_pages(chg) {
            let _ = inner.resv.region_abort();
            return Err(e);
        }
        // Under the lock nobody added to the range meanwhile, so the add adds `chg` pages.
        inner.resv.region_add(from, to).map_err(region_err)?;
        Ok(())
    }

    /// Checks that `fault` is a fault lock of this file.
    fn check(&self, fault: &FaultLock<'_>) -> Result {
        if fault.is_for(self) {
            Ok(())
        } else {
            pr_err!("a fault lock of another file was used\n");
            Err(EINVAL)
        }
    }

    /// Runs `f` on the page at the fault lock's index: `None` for a hole.
    ///
    /// The page is taken out of its slot meanwhile and the tree's lock dropped (see the
    /// module's locking notes), so `f` may take long (zeroing, copying 1 GiB): only holders
    /// of the same fault mutex look at the slot, and truncation still finds the index.
    pub(crate) fn with_page<R>(
        &self,
        sb: &SuperInfo,
        fault: &FaultLock<'_>,
        f: impl FnOnce(&mut HugePage) -> R,
    ) -> Option<R> {
        self.check(fault).ok()?;
        let idx = fault.idx();
        let mut fp = self
            .inner
            .lock()
            .pages
            .get_mut(&idx)
            .and_then(Option::take)?;
        let r = f(&mut fp.page);
        self.put_back(sb, idx, fp);
        Some(r)
    }

    /// Runs `f` on the page at the fault lock's index, taking and zeroing a new page first if
    /// there is none (upstream `hugetlb_no_page` plus `alloc_hugetlb_folio`).
    ///
    /// `in_size()` (the index is below `i_size`) is checked under the tree's lock, in the
    /// same critical section that inserts the page's slot: truncation changes `i_size`
    /// before it takes that lock to collect indexes, so a page is either seen (and freed)
    /// by it or not added at all (`EFAULT`).
    ///
    /// A page without a reservation is charged to the subpool and the pool's unreserved
    /// free pages, and its index is added to the reservation map (as upstream's commit).
    /// `ENOSPC`/`ENOMEM` when no page may be had (the fault then gets SIGBUS).
    pub(crate) fn with_page_or_alloc<R>(
        &self,
        sb: &SuperInfo,
        inode: &INode<RhFs>,
        fault: &FaultLock<'_>,
        in_size: impl Fn() -> bool,
        f: impl FnOnce(&mut HugePage) -> R,
    ) -> Result<R> {
        self.check(fault)?;
        let idx = fault.idx();
        let taken = match self.inner.lock().pages.get_mut(&idx) {
            // An empty slot belongs to a fault mutex holder, and that is us.
            Some(slot) => Some(slot.take().ok_or(EBUSY)?),
            None => None,
        };
        let mut fp = match taken {
            Some(fp) => fp,
            None => {
                let fresh = self.alloc_slot(sb, idx, in_size)?;
                // Zeroed (unless the pool's workers did already) with only the fault mutex
                // held: other indexes fault meanwhile, and reads and truncation of this index
                // wait for the mutex. Mapped nowhere, and in no page cache, yet.
                let page = fresh.zeroed(sb.pool());
                FilePage {
                    page,
                    cached: false,
                }
            }
        };
        if sb.page_cache() && !fp.cached {
            // Into the page cache only now, zeroed: from here the core may map it.
            match inode.cache_add(&fp.page, idx << sb.order()) {
                Ok(()) => fp.cached = true,
                Err(e) => {
                    // Kept in the file; the next fault tries again.
                    self.put_back(sb, idx, fp);
                    return Err(e);
                }
            }
        }
        let r = f(&mut fp.page);
        self.put_back(sb, idx, fp);
        Ok(r)
    }

    /// Takes a page for the empty index `idx` and leaves its slot in the tree, empty, for the
    /// caller (the holder of its fault mutex) to fill. Charged as upstream's
    /// `alloc_hugetlb_folio`: a reserved index consumes its reservation, another is charged to
    /// the subpool and the pool's unreserved pages and added to the reservation map.
    fn alloc_slot(
        &self,
        sb: &SuperInfo,
        idx: u64,
        in_size: impl Fn() -> bool,
    ) -> Result<FreshPage> {
        let node = RBTreeNodeReservation::new(GFP_KERNEL)?;
        let mut inner = self.inner.lock();
        // Only holders of this index's fault mutex add its slot: still none.
        if !in_size() {
            return Err(EFAULT);
        }
        let reserved = inner.resv.region_count(idx, idx + 1) == 1;
        let page = if reserved {
            sb.pool().alloc_for_fault(true, Want::Zeroed)?
        } else {
            inner.resv.region_chg(idx, idx + 1).map_err(region_err)?;
            match sb.alloc_unreserved(Want::Zeroed) {
                Ok(page) => {
                    let _ = inner.resv.region_add(idx, idx + 1);
                    page
                }
                Err(e) => {
                    let _ = inner.resv.region_abort();
                    return Err(e);
                }
            }
        };
        // The slot goes in now, empty, so that truncation sees the index.
        inner.pages.insert(node.into_node(idx, None));
        Ok(page)
    }

    /// Puts `fp` into the empty slot at `idx`, which the caller made and kept by holding
    /// the index's fault mutex.
    fn put_back(&self, sb: &SuperInfo, idx: u64, fp: FilePage) {
        let mut inner = self.inner.lock();
        match inner.pages.get_mut(&idx) {
            Some(slot) => *slot = Some(fp),
            // Only fault mutex holders remove slots, and they remove a page from the page
            // cache first, so this cannot happen; if it did, the page goes back to the pool
            // rather than leak.
            None => {
                drop(inner);
                sb.free_page(fp.page);
            }
        }
    }

    /// Allocates (zeroed) every missing page in `[from, to)` (upstream
    /// `hugetlbfs_fallocate`): charged as a fault would be. `ENOSPC` when the quota or the
    /// pool is exhausted, `EINTR` on a signal; pages allocated before stay.
    pub(crate) fn prealloc(
        &self,
        sb: &SuperInfo,
        inode: &INode<RhFs>,
        from: u64,
        to: u64,
        signal_pending: impl Fn() -> bool,
    ) -> Result {
        for idx in from..to {
            if signal_pending() {
                return Err(EINTR);
            }
            let fault = sb.fault_lock(self, idx);
            self.with_page_or_alloc(sb, inode, &fault, || true, |_| ())
                .map_err(|_| ENOSPC)?;
        }
        Ok(())
    }

    /// Zeroes `[off, off + len)` of page `idx` if it is present (partial pages at the ends
    /// of a punched hole).
    pub(crate) fn zero_partial(&self, sb: &SuperInfo, idx: u64, off: u64, len: usize) {
        let fault = sb.fault_lock(self, idx);
        self.with_page(sb, &fault, |page| {
            // The caller keeps the range within one page; were it not, nothing is zeroed.
            let _ = page.zero_range(off, len);
        });
    }

    /// The indexes of the pages at or after `from`.
    fn indexes_from(&self, from: u64) -> Result<KVec<u64>> {
        let inner = self.inner.lock();
        let mut v = KVec::new();
        for (&idx, _) in inner.pages.iter() {
            if idx >= from {
                v.push(idx, GFP_KERNEL)?;
            }
        }
        Ok(v)
    }

    /// Frees every page from index `from` on and drops the reservations there (upstream
    /// `remove_inode_hugepages` + `hugetlb_unreserve_pages` for a truncation). Each page is
    /// unmapped again under its fault mutex before it is freed (a fault may have mapped it
    /// again after the caller's first unmap, as upstream's `hugetlb_vmdelete_list` in the
    /// loop). The caller lowered `i_size` first, so no fault adds a page here meanwhile and
    /// the reservation map can be cut once, at the end.
    pub(crate) fn remove_from(&self, sb: &SuperInfo, inode: &INode<RhFs>, from: u64) {
        let freed = self.remove_pages(sb, inode, from, u64::MAX, false);
        let chg = self
            .inner
            .lock()
            .resv
            .region_del(from, u64::MAX)
            .unwrap_or(freed);
        let back = sb.subpool_put(chg.saturating_sub(freed));
        sb.pool().unreserve(back);
    }

    /// Frees the pages in `[from, to)` (hole punch; upstream `remove_inode_hugepages` with
    /// `truncate_op == false`). Within `i_size` faults go on meanwhile, so each page's
    /// reservation entry goes with the page, in the same critical section under its fault
    /// mutex: a fault right after finds neither and charges a new page as unreserved. A
    /// window between the two let a fault count an index as reserved that no longer was,
    /// consuming another mapping's reservation (SIGBUS for that one later with free pages
    /// left). Entries of indexes without a page stay: the mappings that reserved them still
    /// expect them, as upstream.
    pub(crate) fn punch(&self, sb: &SuperInfo, inode: &INode<RhFs>, from: u64, to: u64) {
        self.remove_pages(sb, inode, from, to, true);
    }

    /// Removes and frees the pages in `[from, to)`; with `unreserve_each`, each page's
    /// reservation entry too (see [`Self::punch`]). Returns the pages freed.
    ///
    /// A page leaves every mapping (its PFN entries, and the core's entries of its folio)
    /// and the page cache before it leaves the tree; it is then freed through the pool, which
    /// reuses it only once nothing else holds a reference (GUP, pipes, `read`).
    fn remove_pages(
        &self,
        sb: &SuperInfo,
        inode: &INode<RhFs>,
        from: u64,
        to: u64,
        unreserve_each: bool,
    ) -> u64 {
        let mut freed = 0u64;
        let (shift, hsize) = (sb.page_shift(), sb.page_size());
        let mut remove = |idx: u64| {
            let _fault = sb.fault_lock(self, idx);
            inode.unmap_range(idx << shift, hsize);
            inode.cache_remove(idx << shift, hsize);
            let (page, chg) = {
                let mut inner = self.inner.lock();
                let page = inner.pages.remove(&idx).flatten().map(|fp| fp.page);
                let chg = match (&page, unreserve_each) {
                    (Some(_), true) => Some(inner.resv.region_del(idx, idx + 1)),
                    _ => None,
                };
                (page, chg)
            };
            let Some(page) = page else { return false };
            sb.free_page(page);
            freed += 1;
            match chg {
                // The page consumed its entry's reservation: nothing more to give back.
                Some(Ok(chg)) => {
                    let back = sb.subpool_put(chg.saturating_sub(1));
                    sb.pool().unreserve(back);
                }
                // No memory to split the region: the entry stays, so back it with a new
                // reservation (upstream `hugetlb_fix_reserve_counts`).
                Some(Err(_)) => {
                    if sb.reserve_pages(1).is_err() {
                        pr_warn!("reservation count of a punched page could not be fixed\n");
                    }
                }
                None => {}
            }
            true
        };
        // Without memory for the index list, pages are removed one lock round at a time.
        let idxs = self.indexes_from(from).unwrap_or_default();
        for idx in idxs.iter().copied().filter(|&i| i < to) {
            remove(idx);
        }
        // Then one forward pass for pages added meanwhile. Never back to `from`: within
        // `i_size` faults refill a punched hole as fast as it is punched, and a rescan from
        // the start would chase them for as long as they fault (upstream's
        // `remove_inode_hugepages` also walks the range once; later pages stay).
        let mut at = from;
        while at < to {
            let next = self
                .inner
                .lock()
                .pages
                .iter()
                .map(|(&k, _)| k)
                .find(|&k| k >= at && k < to);
            let Some(idx) = next else { break };
            remove(idx);
            at = idx + 1;
        }
        freed
    }
}
