// SPDX-License-Identifier: GPL-2.0

//! Per-file state: the page cache (huge page index → page) and the reservation map, and
//! the fault, truncate and reservation logic on top (upstream `hugetlb_no_page`,
//! `hugetlb_reserve_pages`, `remove_inode_hugepages`, `hugetlb_unreserve_pages`).
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

use super::{FaultLock, SuperInfo};
use crate::acct::region::{FileRegion, RegionError, RegionStore, ResvMap, StoreAllocError};
use crate::kern::page::HugePage;
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

struct InodeInner {
    /// The file's pages by huge page index; `None` only while the holder of the index's
    /// fault mutex works on the page outside the lock.
    pages: RBTree<u64, Option<HugePage>>,
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
        let mut page = self
            .inner
            .lock()
            .pages
            .get_mut(&idx)
            .and_then(Option::take)?;
        let r = f(&mut page);
        self.put_back(sb, idx, page);
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
        if let Some(mut page) = taken {
            let r = f(&mut page);
            self.put_back(sb, idx, page);
            return Ok(r);
        }
        let node = RBTreeNodeReservation::new(GFP_KERNEL)?;
        let mut page = {
            let mut inner = self.inner.lock();
            // Only holders of this index's fault mutex add its slot: still none.
            if !in_size() {
                return Err(EFAULT);
            }
            let reserved = inner.resv.region_count(idx, idx + 1) == 1;
            let page = if reserved {
                sb.pool().alloc_for_fault(true)?
            } else {
                inner.resv.region_chg(idx, idx + 1).map_err(region_err)?;
                match sb.alloc_unreserved() {
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
            page
        };
        // Zeroed with only the fault mutex held: other indexes fault meanwhile, and reads
        // and truncation of this index wait for the mutex. Mapped nowhere yet.
        page.zero();
        let r = f(&mut page);
        self.put_back(sb, idx, page);
        Ok(r)
    }

    /// Puts `page` into the empty slot at `idx`, which the caller made and kept by holding
    /// the index's fault mutex.
    fn put_back(&self, sb: &SuperInfo, idx: u64, page: HugePage) {
        let mut inner = self.inner.lock();
        match inner.pages.get_mut(&idx) {
            Some(slot) => *slot = Some(page),
            // Only fault mutex holders remove slots, so this cannot happen; if it did, the
            // page goes back to the pool rather than leak.
            None => {
                drop(inner);
                sb.free_page(page);
            }
        }
    }

    /// Allocates (zeroed) every missing page in `[from, to)` (upstream
    /// `hugetlbfs_fallocate`): charged as a fault would be. `ENOSPC` when the quota or the
    /// pool is exhausted, `EINTR` on a signal; pages allocated before stay.
    pub(crate) fn prealloc(
        &self,
        sb: &SuperInfo,
        from: u64,
        to: u64,
        signal_pending: impl Fn() -> bool,
    ) -> Result {
        for idx in from..to {
            if signal_pending() {
                return Err(EINTR);
            }
            let fault = sb.fault_lock(self, idx);
            self.with_page_or_alloc(sb, &fault, || true, |_| ())
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
    /// `remove_inode_hugepages` + `hugetlb_unreserve_pages` for a truncation).
    /// `unmap(idx)` removes every mapping of page `idx`, and
    /// runs under the index's fault mutex before the page is freed (a fault may have mapped
    /// it again after the caller's first unmap, as upstream's `hugetlb_vmdelete_list` in the
    /// loop). The caller lowered `i_size` first, so no fault adds a page here meanwhile and
    /// the reservation map can be cut once, at the end.
    pub(crate) fn remove_from(&self, sb: &SuperInfo, from: u64, unmap: impl Fn(u64)) {
        let freed = self.remove_pages(sb, from, u64::MAX, unmap, false);
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
    pub(crate) fn punch(&self, sb: &SuperInfo, from: u64, to: u64, unmap: impl Fn(u64)) {
        self.remove_pages(sb, from, to, unmap, true);
    }

    /// Removes and frees the pages in `[from, to)`; with `unreserve_each`, each page's
    /// reservation entry too (see [`Self::punch`]). Returns the pages freed.
    fn remove_pages(
        &self,
        sb: &SuperInfo,
        from: u64,
        to: u64,
        unmap: impl Fn(u64),
        unreserve_each: bool,
    ) -> u64 {
        let mut freed = 0u64;
        let mut remove = |idx: u64| {
            let _fault = sb.fault_lock(self, idx);
            unmap(idx);
            let (page, chg) = {
                let mut inner = self.inner.lock();
                let page = inner.pages.remove(&idx).flatten();
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
