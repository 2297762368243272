// SPDX-License-Identifier: GPL-2.0

//! Surplus pages: the overcommit limit, surplus allocation for faults
//! (`alloc_surplus_hugetlb_folio`), and the two halves of `hugetlb_acct_memory`:
//! `gather_surplus_pages` as a [`Gather`] and `return_unused_surplus_pages` as a
//! [`ReturnSurplus`].

use super::{check_nid, Hstate, HstateError, NodeMask};

/// An in-progress `gather_surplus_pages`, driven by [`Hstate::gather_surplus_pages`].
///
/// Used by `hugetlb_acct_memory(delta > 0)`: makes sure `resv_huge_pages + delta` free pages
/// exist, allocating surplus pages if needed, then commits the reservation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gather {
    delta: u64,
    allocated: u64,
    alloc_failed: bool,
    finished: bool,
}

impl Gather {
    /// Starts gathering pages for a reservation of `delta` pages.
    pub fn new(delta: u64) -> Self {
        Self {
            delta,
            allocated: 0,
            alloc_failed: false,
            finished: false,
        }
    }

    /// Records that a surplus allocation failed; the next step then gives up.
    pub fn note_alloc_failure(&mut self) {
        self.alloc_failed = true;
    }
}

/// The next thing the caller must do for a [`Gather`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GatherStep {
    /// Drop the lock and allocate up to `nr_pages` surplus pages (any allowed node). For each
    /// page: retake the lock, call [`Hstate::gather_page_added`] (on error free the page to
    /// the buddy allocator and call [`Gather::note_alloc_failure`]), keep the page on a
    /// private list. On an allocation failure call [`Gather::note_alloc_failure`] and stop.
    /// Then call [`Hstate::gather_surplus_pages`] again under the lock.
    Allocate {
        /// Pages still missing.
        nr_pages: u64,
    },
    /// The reservation is committed (`resv_huge_pages += delta`). Before dropping the lock,
    /// call [`Hstate::enqueue_huge_page`] for `enqueue` of the private pages; give each of
    /// the other `release` pages to [`Hstate::free_huge_page`] (`restore_reserve = false`).
    Commit {
        /// Private pages to put on the free lists now.
        enqueue: u64,
        /// Private pages not needed any more.
        release: u64,
    },
    /// Not enough pages: nothing was reserved. Give each of the `release` private pages to
    /// [`Hstate::free_huge_page`] (`restore_reserve = false`) and fail with `-ENOMEM`.
    Fail {
        /// Private pages to release.
        release: u64,
    },
}

/// An in-progress `return_unused_surplus_pages`, driven by
/// [`Hstate::return_unused_surplus_next`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReturnSurplus {
    remaining: u64,
}

impl ReturnSurplus {
    /// Returns how many more surplus pages may still be freed.
    #[cfg(not(MODULE))]
    pub fn remaining(&self) -> u64 {
        self.remaining
    }
}

impl Hstate {
    /// Sets `nr_overcommit_huge_pages` (the sysfs store).
    ///
    /// Refused for gigantic sizes, as upstream (`-EINVAL`). Lowering the limit below the
    /// current surplus frees nothing; the surplus drains as pages are freed.
    pub fn set_nr_overcommit_huge_pages(&mut self, nr: u64) -> Result<(), HstateError> {
        if self.gigantic {
            return Err(HstateError::GiganticNoOvercommit);
        }
        self.nr_overcommit_huge_pages = nr;
        Ok(())
    }

    /// Checks, before dropping the lock to allocate, whether a surplus page may be allocated
    /// (first half of upstream `alloc_surplus_hugetlb_folio`).
    pub fn alloc_surplus_huge_page_check(&self) -> Result<(), HstateError> {
        if self.gigantic {
            return Err(HstateError::GiganticNoSurplus);
        }
        if self.surplus_huge_pages >= self.nr_overcommit_huge_pages {
            return Err(HstateError::OvercommitExhausted);
        }
        Ok(())
    }

    /// Counts a freshly allocated surplus page on `nid` that goes straight to a fault (second
    /// half of upstream `alloc_surplus_hugetlb_folio`, plus the reservation handling of
    /// `alloc_hugetlb_folio`).
    ///
    /// Re-checks the overcommit limit, which may have been reached while the lock was
    /// dropped: on error the caller frees the page straight to the buddy allocator (upstream's
    /// "temporary" page). With `consume_reserve` the page consumes a reservation, as a
    /// dequeued page would.
    pub fn alloc_surplus_huge_page_commit(
        &mut self,
        nid: usize,
        consume_reserve: bool,
    ) -> Result<(), HstateError> {
        check_nid(nid)?;
        self.alloc_surplus_huge_page_check()?;
        if consume_reserve && self.resv_huge_pages == 0 {
            return Err(HstateError::NoReservation);
        }
        self.account_new_page(nid, true, false)?;
        if consume_reserve {
            self.resv_huge_pages = self.resv_huge_pages.saturating_sub(1);
        }
        Ok(())
    }

    /// One step of upstream `gather_surplus_pages`, the `delta > 0` half of
    /// `hugetlb_acct_memory`; see [`GatherStep`] for what the caller does next.
    ///
    /// The pages needed are `resv_huge_pages + delta - (free_huge_pages + in-flight pages)`.
    /// Recomputed at every step, as upstream recomputes after retaking the lock. Gigantic
    /// sizes, an exhausted overcommit limit or a reported allocation failure end in
    /// [`GatherStep::Fail`] when pages are still missing.
    ///
    /// After a [`GatherStep::Commit`], upstream's `hugetlb_acct_memory` also checks
    /// `delta > allowed_mems_nr()` (cpuset/mempolicy nodes); a caller doing the same uses
    /// [`Hstate::allowed_mems_nr`] and, if it fails, [`Hstate::return_unused_surplus_pages`]
    /// with `delta` before failing.
    pub fn gather_surplus_pages(&mut self, gather: &mut Gather) -> Result<GatherStep, HstateError> {
        if gather.finished {
            return Err(HstateError::Protocol);
        }
        let want = self
            .resv_huge_pages
            .checked_add(gather.delta)
            .ok_or(HstateError::Overflow)?;
        let have = self.free_huge_pages.saturating_add(gather.allocated);
        if want <= have {
            // Commit the whole reservation now so nobody steals the pages as they are
            // enqueued; `enqueue <= allocated` because `want <= free + allocated`.
            let enqueue = want.saturating_sub(self.free_huge_pages);
            self.resv_huge_pages = want;
            gather.finished = true;
            return Ok(GatherStep::Commit {
                enqueue,
                release: gather.allocated.saturating_sub(enqueue),
            });
        }
        if gather.alloc_failed || self.alloc_surplus_huge_page_check().is_err() {
            gather.finished = true;
            return Ok(GatherStep::Fail {
                release: gather.allocated,
            });
        }
        Ok(GatherStep::Allocate {
            nr_pages: want.saturating_sub(have),
        })
    }

    /// Counts a surplus page allocated for a [`Gather`] on `nid` (in flight: in
    /// `nr_huge_pages` and `surplus_huge_pages`, not free, held privately by the caller).
    ///
    /// On error (the overcommit limit was reached meanwhile, bad node) nothing is counted:
    /// the caller frees the page to the buddy allocator and calls
    /// [`Gather::note_alloc_failure`].
    pub fn gather_page_added(
        &mut self,
        gather: &mut Gather,
        nid: usize,
    ) -> Result<(), HstateError> {
        if gather.finished {
            return Err(HstateError::Protocol);
        }
        check_nid(nid)?;
        self.alloc_surplus_huge_page_check()?;
        self.account_new_page(nid, true, false)?;
        gather.allocated = gather.allocated.saturating_add(1);
        Ok(())
    }

    /// Starts upstream `return_unused_surplus_pages`, the `delta < 0` half of
    /// `hugetlb_acct_memory`: drops `unused` reservations now and allows up to
    /// `min(unused, surplus_huge_pages)` free surplus pages to be freed with
    /// [`Hstate::return_unused_surplus_next`].
    pub fn return_unused_surplus_pages(
        &mut self,
        unused: u64,
    ) -> Result<ReturnSurplus, HstateError> {
        self.resv_huge_pages = self
            .resv_huge_pages
            .checked_sub(unused)
            .ok_or(HstateError::ResvUnderflow)?;
        Ok(ReturnSurplus {
            remaining: unused.min(self.surplus_huge_pages),
        })
    }

    /// Uncounts one free surplus page on a node with surplus, round-robin over `nodes`
    /// (normally `node_states[N_MEMORY]`) and returns that node; the caller takes a page off
    /// its free list and frees it to the buddy allocator after dropping the lock. `None` when
    /// the budget is spent or no node has a free surplus page.
    pub fn return_unused_surplus_next(
        &mut self,
        ret: &mut ReturnSurplus,
        nodes: NodeMask,
    ) -> Option<usize> {
        if ret.remaining == 0 {
            return None;
        }
        let nid = self.remove_pool_huge_page(nodes, true)?;
        ret.remaining = ret.remaining.saturating_sub(1);
        Some(nid)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::super::*;
    use super::*;

    #[test]
    fn surplus_allocation_respects_overcommit() {
        let mut h = two_mb();
        assert_eq!(
            h.alloc_surplus_huge_page_check(),
            Err(HstateError::OvercommitExhausted)
        );
        h.set_nr_overcommit_huge_pages(1).unwrap();
        h.alloc_surplus_huge_page_check().unwrap();
        assert_eq!(
            h.alloc_surplus_huge_page_commit(0, true),
            Err(HstateError::NoReservation)
        );
        h.alloc_surplus_huge_page_commit(0, false).unwrap();
        assert_eq!(
            h.alloc_surplus_huge_page_commit(0, false),
            Err(HstateError::OvercommitExhausted)
        );
        let c = h.counters();
        assert_eq!(
            (c.nr_huge_pages, c.free_huge_pages, c.surplus_huge_pages),
            (1, 0, 1)
        );
        assert_eq!(h.free_huge_page(0, false), Ok(FreeAction::ReturnToBuddy));
        assert_eq!(
            h.counters(),
            HstateCounters {
                nr_overcommit_huge_pages: 1,
                ..Default::default()
            }
        );
    }

    #[test]
    fn gigantic_has_no_overcommit_or_surplus() {
        let mut h = Hstate::new(18, MAX_PAGE_ORDER, 0).unwrap();
        assert_eq!(
            h.set_nr_overcommit_huge_pages(1),
            Err(HstateError::GiganticNoOvercommit)
        );
        assert_eq!(
            h.alloc_surplus_huge_page_check(),
            Err(HstateError::GiganticNoSurplus)
        );
        let mut g = Gather::new(1);
        assert_eq!(
            h.gather_surplus_pages(&mut g),
            Ok(GatherStep::Fail { release: 0 })
        );
        assert_eq!(h.gather_surplus_pages(&mut g), Err(HstateError::Protocol));
        resize(&mut h, 1, ResizeTarget::Global(all(1)));
        let mut g = Gather::new(1);
        assert_eq!(
            h.gather_surplus_pages(&mut g),
            Ok(GatherStep::Commit {
                enqueue: 0,
                release: 0
            })
        );
        assert_eq!(h.resv_huge_pages(), 1);
    }

    #[test]
    fn gather_allocates_and_releases_extras() {
        let mut h = two_mb();
        h.set_nr_overcommit_huge_pages(10).unwrap();
        resize(&mut h, 1, ResizeTarget::Global(all(2)));
        let mut g = Gather::new(3);
        assert_eq!(
            h.gather_surplus_pages(&mut g),
            Ok(GatherStep::Allocate { nr_pages: 2 })
        );
        h.gather_page_added(&mut g, 0).unwrap();
        h.gather_page_added(&mut g, 1).unwrap();
        // Meanwhile someone freed a page into the pool: one in-flight page is not needed.
        let mut plan = h
            .set_max_huge_pages(2, ResizeTarget::Global(all(2)))
            .unwrap();
        // (The surplus pages in flight are converted to persistent first.)
        assert_eq!(
            h.resize_step(&mut plan).unwrap(),
            ResizeStep::Done { persistent: 2 }
        );
        assert_eq!(h.surplus_huge_pages(), 1);
        assert_eq!(
            h.gather_surplus_pages(&mut g),
            Ok(GatherStep::Commit {
                enqueue: 2,
                release: 0
            })
        );
        h.enqueue_huge_page(0).unwrap();
        h.enqueue_huge_page(1).unwrap();
        assert_eq!(h.resv_huge_pages(), 3);
        h.check_invariants().unwrap();

        let mut h = two_mb();
        h.set_nr_overcommit_huge_pages(10).unwrap();
        let mut g = Gather::new(2);
        assert_eq!(
            h.gather_surplus_pages(&mut g),
            Ok(GatherStep::Allocate { nr_pages: 2 })
        );
        h.gather_page_added(&mut g, 0).unwrap();
        h.gather_page_added(&mut g, 0).unwrap();
        h.gather_page_added(&mut g, 1).unwrap();
        assert_eq!(
            h.gather_surplus_pages(&mut g),
            Ok(GatherStep::Commit {
                enqueue: 2,
                release: 1
            })
        );
        h.enqueue_huge_page(0).unwrap();
        h.enqueue_huge_page(0).unwrap();
        assert_eq!(h.free_huge_page(1, false), Ok(FreeAction::ReturnToBuddy));
        let c = h.counters();
        assert_eq!(
            (
                c.nr_huge_pages,
                c.free_huge_pages,
                c.resv_huge_pages,
                c.surplus_huge_pages
            ),
            (2, 2, 2, 2)
        );
        h.check_invariants().unwrap();
    }

    #[test]
    fn gather_failure_releases_everything() {
        let mut h = two_mb();
        h.set_nr_overcommit_huge_pages(2).unwrap();
        let mut g = Gather::new(3);
        assert_eq!(
            h.gather_surplus_pages(&mut g),
            Ok(GatherStep::Allocate { nr_pages: 3 })
        );
        h.gather_page_added(&mut g, 0).unwrap();
        h.gather_page_added(&mut g, 0).unwrap();
        assert_eq!(
            h.gather_page_added(&mut g, 0),
            Err(HstateError::OvercommitExhausted)
        );
        g.note_alloc_failure();
        assert_eq!(
            h.gather_surplus_pages(&mut g),
            Ok(GatherStep::Fail { release: 2 })
        );
        assert_eq!(h.gather_page_added(&mut g, 0), Err(HstateError::Protocol));
        assert_eq!(h.free_huge_page(0, false), Ok(FreeAction::ReturnToBuddy));
        assert_eq!(h.free_huge_page(0, false), Ok(FreeAction::ReturnToBuddy));
        assert_eq!(
            h.counters(),
            HstateCounters {
                nr_overcommit_huge_pages: 2,
                ..Default::default()
            }
        );
    }

    #[test]
    fn return_unused_checks_and_budget() {
        let mut h = two_mb();
        assert_eq!(
            h.return_unused_surplus_pages(1),
            Err(HstateError::ResvUnderflow)
        );
        resize(&mut h, 2, ResizeTarget::Global(all(1)));
        let mut g = Gather::new(2);
        h.gather_surplus_pages(&mut g).unwrap();
        let mut ret = h.return_unused_surplus_pages(2).unwrap();
        // No surplus: nothing to free.
        assert_eq!(ret.remaining(), 0);
        assert_eq!(h.return_unused_surplus_next(&mut ret, all(1)), None);
        assert_eq!(h.nr_huge_pages(), 2);
        assert_eq!(h.allowed_mems_nr(all(1)), 2);
        assert_eq!(h.allowed_mems_nr(NodeMask::of_node(1).unwrap()), 0);
    }

    #[test]
    fn overflow_is_an_error() {
        let mut h = two_mb();
        resize(&mut h, 1, ResizeTarget::Global(all(1)));
        let mut g = Gather::new(1);
        h.gather_surplus_pages(&mut g).unwrap();
        let mut g = Gather::new(u64::MAX);
        assert_eq!(h.gather_surplus_pages(&mut g), Err(HstateError::Overflow));
        assert_eq!(h.resv_huge_pages(), 1);
        // A reservation of everything is merely impossible, not an overflow.
        let mut g = Gather::new(u64::MAX - 1);
        assert_eq!(
            h.gather_surplus_pages(&mut g),
            Ok(GatherStep::Fail { release: 0 })
        );
    }
}
