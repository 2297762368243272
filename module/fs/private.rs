// SPDX-License-Identifier: GPL-2.0

//! Private mappings (`MAP_PRIVATE`): copy-on-write pages that never reach the file
//! (upstream `hugetlb_wp`, the private half of `hugetlb_no_page`, and the
//! `HPAGE_RESV_OWNER` reservation map of a private VMA).
//!
//! A [`PrivMap`] is the private state of one `mmap` call: the private pages by file index,
//! and the owner's reservation. The VMAs that a split or a partial `munmap` makes from
//! that mapping share it (they cover disjoint indexes); `fork` gives the child VMA a new
//! map whose entries share the parent's pages.
//!
//! # How it differs from upstream, and why
//!
//! rhugetlbfs maps pages as PFN entries (`VM_MIXEDMAP`), and the core MM cannot
//! write-protect-and-copy those: a write to a read-only huge entry of a private mapping is
//! split to 4 KiB and never reaches `huge_fault` (the 4 KiB handler can map a PMD entry
//! again, but a 1 GiB page only in 2 MiB pieces). So a writable private mapping never holds
//! a read-only entry:
//!
//! - Its first fault at an index, read or write, takes a private page, copied from the
//!   file's page as it is then (zeroed for a hole), and maps it writable. Upstream maps the
//!   file's page read-only until the first write; here a read already makes the copy, so a
//!   later change of the file is not seen through a private page once it was touched.
//! - At `fork` both sides' entries are zapped and the pages shared; the next fault on
//!   either side copies a shared page, or takes it as it is once it is no longer shared.
//!
//! A read-only private mapping cannot become writable (`mprotect` gets `EACCES`); it maps
//! the file's pages themselves and takes a private zeroed page only for a hole, as
//! upstream.
//!
//! Reservations follow upstream: the owner (the process that called `mmap`) reserves the
//! whole range at `mmap` unless `MAP_NORESERVE`; an index consumes its reservation with
//! its first private page; `munmap` of a range gives back what it did not consume. A child
//! after `fork` has no reservation: its copies are taken from the unreserved free pages,
//! and a fault that finds none gets SIGBUS.

use super::inode::InodeInfo;
use super::{FaultLock, SuperInfo};
use crate::acct::zero::Want;
use crate::kern::page::HugePage;
use core::ops::Range;
use core::sync::atomic::{AtomicUsize, Ordering};
use kernel::new_mutex;
use kernel::prelude::*;
use kernel::rbtree::{RBTree, RBTreeNodeReservation};
use kernel::sync::{Arc, Mutex, UniqueArc};

/// A private page, shared by the maps of a parent and its children until one of them
/// copies it.
struct PrivPage {
    /// `Some` from creation until drop, which gives it back.
    page: Option<HugePage>,
    sb: Arc<SuperInfo>,
    /// How many maps hold it ([`Holder`]s); one means it may be written in place.
    holders: AtomicUsize,
}

impl Drop for PrivPage {
    fn drop(&mut self) {
        if let Some(page) = self.page.take() {
            self.sb.free_page(page);
        }
    }
}

/// One map's hold on a private page: the count of holders follows these.
///
/// # Invariants
///
/// `self.0.holders` counts the live `Holder`s of `self.0`.
struct Holder(Arc<PrivPage>);

impl Holder {
    /// Whether no other map holds the page (after `fork`, until one side copies it).
    fn exclusive(&self) -> bool {
        self.0.holders.load(Ordering::Acquire) == 1
    }

    /// A hold for another map (the child's, at `fork`).
    fn share(&self) -> Self {
        self.0.holders.fetch_add(1, Ordering::AcqRel);
        // INVARIANT: One more holder, counted above.
        Holder(self.0.clone())
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        self.0.holders.fetch_sub(1, Ordering::AcqRel);
    }
}

/// What the map's lock protects.
struct PrivInner {
    pages: RBTree<u64, Holder>,
    /// Reservations of the owner not yet consumed nor given back.
    resv_left: u64,
}

/// The private state of one `mmap` (upstream: the private VMA's `resv_map` plus its
/// anonymous huge pages).
///
/// # Invariants
///
/// In the owner's map every index in `resv` either has a page (its reservation consumed)
/// or counts in `resv_left`, until the range of the VMA that covers it is released.
#[pin_data(PinnedDrop)]
pub(crate) struct PrivMap {
    sb: Arc<SuperInfo>,
    /// The address of the `mm_struct` of the VMAs sharing this map: compared, never
    /// dereferenced (tells a `fork` from a split in `vm_ops->open`).
    mm: usize,
    /// File indexes reserved for the owner; empty for a child or `MAP_NORESERVE`.
    resv: Range<u64>,
    #[pin]
    inner: Mutex<PrivInner>,
}

fn overlap(a: &Range<u64>, b: &Range<u64>) -> u64 {
    a.end.min(b.end).saturating_sub(a.start.max(b.start))
}

impl PrivMap {
    /// The map of a new private mapping of file pages `idx` in `mm`, reserving them unless
    /// `noreserve` (upstream `hugetlb_reserve_pages` for a private VMA). `ENOMEM` and
    /// nothing reserved when the subpool or the pool cannot cover them.
    pub(crate) fn new(
        sb: Arc<SuperInfo>,
        mm: usize,
        idx: Range<u64>,
        noreserve: bool,
    ) -> Result<Arc<Self>> {
        let resv = if noreserve { 0..0 } else { idx };
        let n = resv.end - resv.start;
        sb.reserve_pages(n)?;
        let sb2 = sb.clone();
        Arc::pin_init(
            pin_init!(PrivMap {
                sb,
                mm,
                resv,
                inner <- new_mutex!(PrivInner { pages: RBTree::new(), resv_left: n }),
            }),
            GFP_KERNEL,
        )
        .inspect_err(|_| sb2.unreserve_pages(n))
    }

    /// The `mm_struct` address of the VMAs that share this map.
    pub(crate) fn mm(&self) -> usize {
        self.mm
    }

    /// The map of a child's VMA at `fork`: the parent's pages in `idx`, shared (the caller
    /// then zaps the parent's entries so both sides fault again), and no reservation.
    pub(crate) fn fork(&self, mm: usize, idx: Range<u64>) -> Result<Arc<Self>> {
        let mut pages = RBTree::new();
        {
            let inner = self.inner.lock();
            for (&i, h) in inner.pages.iter() {
                if idx.contains(&i) {
                    pages.try_create_and_insert(i, h.share(), GFP_KERNEL)?;
                }
            }
        }
        Arc::pin_init(
            pin_init!(PrivMap {
                sb: self.sb.clone(),
                mm,
                resv: 0..0,
                inner <- new_mutex!(PrivInner { pages, resv_left: 0 }),
            }),
            GFP_KERNEL,
        )
    }

    /// Runs `f` on the page to map at the fault lock's index (upstream `hugetlb_fault` for a
    /// private VMA). The caller has checked that the index is below `i_size`.
    ///
    /// `writable` says the VMA may be written: the page is then this map's own, to be mapped
    /// writable. Otherwise it may be the file's page, to be mapped read-only.
    /// `ENOSPC`/`ENOMEM` when no page may be had (the fault gets SIGBUS).
    pub(crate) fn with_fault_page<R>(
        &self,
        file: &InodeInfo,
        fault: &FaultLock<'_>,
        writable: bool,
        f: impl FnOnce(&HugePage) -> R,
    ) -> Result<R> {
        let idx = fault.idx();
        // The page shared with another map, to copy; `None` for a first fault here.
        let shared = {
            let inner = self.inner.lock();
            match inner.pages.get(&idx) {
                Some(h) if !writable || h.exclusive() => {
                    let own = h.0.clone();
                    drop(inner);
                    // The `Arc` keeps the page while `f` maps it.
                    return own.page.as_ref().map(f).ok_or(EINVAL);
                }
                Some(h) => Some(h.0.clone()),
                None => None,
            }
        };
        let mut f = Some(f);
        if shared.is_none() && !writable {
            // A read-only mapping maps the file's page itself, if there is one.
            let mapped = file.with_page(&self.sb, fault, |page| f.take().map(|f| f(page)));
            if let Some(r) = mapped.flatten() {
                return Ok(r);
            }
        }
        let node = RBTreeNodeReservation::new(GFP_KERNEL)?;
        let slot = UniqueArc::<PrivPage>::new_uninit(GFP_KERNEL)?;
        // A copy after `fork` overwrites every byte: a dirty page saves a zeroed one for a
        // fault that needs it. Otherwise the file's page is copied, or a hole zeroed.
        let want = if shared.is_some() {
            Want::Any
        } else {
            Want::Zeroed
        };
        let mut page = {
            let mut inner = self.inner.lock();
            // The first page of a reserved index consumes its reservation; a copy after
            // `fork` or an index outside the reservation is charged as a new page.
            if shared.is_none() && self.resv.contains(&idx) && inner.resv_left > 0 {
                let page = self.sb.pool().alloc_for_fault(true, want)?;
                inner.resv_left -= 1;
                page
            } else {
                self.sb.alloc_unreserved(want)?
            }
        };
        let (filled, page) = match &shared {
            // Mapped nowhere writable while shared, so it does not change under the copy.
            Some(src) => match src.page.as_ref() {
                Some(src) => (page.page_mut().copy_from(src), page.filled()),
                None => (Err(EINVAL), page.filled()),
            },
            None => match file.with_page(&self.sb, fault, |src| page.page_mut().copy_from(src)) {
                Some(copied) => (copied, page.filled()),
                None => (Ok(()), page.zeroed(self.sb.pool())),
            },
        };
        let new = slot.write(PrivPage {
            page: Some(page),
            sb: self.sb.clone(),
            holders: AtomicUsize::new(1),
        });
        // A page that could not be filled goes back with the `PrivPage` (reservation
        // consumed, as for any page of the map that is freed).
        filled?;
        // INVARIANT: This is the page's first and only holder.
        let holder = Holder(Arc::from(new));
        let own = holder.0.clone();
        // A copy replaces the shared page (dropping this map's hold on it).
        let old = self.inner.lock().pages.insert(node.into_node(idx, holder));
        drop(old);
        let f = f.ok_or(EINVAL)?;
        own.page.as_ref().map(f).ok_or(EINVAL)
    }

    /// Drops the private pages of file indexes `idx` and gives back the reservations they
    /// did not consume (upstream `hugetlb_vm_op_close` for a VMA going away, whole or in
    /// part).
    pub(crate) fn release(&self, idx: Range<u64>) {
        let mut consumed = 0;
        let give_back = {
            let mut inner = self.inner.lock();
            while let Some(cursor) = inner.pages.cursor_lower_bound(&idx.start) {
                let key = *cursor.current().0;
                if key >= idx.end {
                    break;
                }
                if self.resv.contains(&key) {
                    consumed += 1;
                }
                let (_, node) = cursor.remove_current();
                drop(node);
            }
            let n = (overlap(&idx, &self.resv) - consumed).min(inner.resv_left);
            inner.resv_left -= n;
            n
        };
        self.sb.unreserve_pages(give_back);
    }
}

#[pinned_drop]
impl PinnedDrop for PrivMap {
    fn drop(self: Pin<&mut Self>) {
        // Every VMA released its range on close; what is left here was never covered by
        // one (a failed `mmap`), and goes back now.
        let left = self.inner.lock().resv_left;
        self.sb.unreserve_pages(left);
    }
}
