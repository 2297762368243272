// SPDX-License-Identifier: GPL-2.0

//! Pages in and out of the free lists for faults: `dequeue_hugetlb_folio_node_exact` /
//! `_nodemask` with the reservation handling of `dequeue_hugetlb_folio_vma`,
//! `free_huge_folio` and `enqueue_hugetlb_folio`.

use super::counters::{node_dec, node_get, node_inc};
use super::nodemask::get_valid_node_allowed;
use super::{check_nid, Hstate, HstateError, NodeMask};

/// What the caller must do with a page given to [`Hstate::free_huge_page`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FreeAction {
    /// Put the page on the node's free list (upstream `enqueue_hugetlb_folio`).
    Enqueue,
    /// The page was a surplus page and has left the pool: return it to the buddy allocator
    /// (or `free_contig_range` for gigantic pages) after dropping the lock.
    ReturnToBuddy,
}

impl Hstate {
    /// Returns whether node `nid` has a page that is not free (in use or in flight).
    fn has_nonfree_page(&self, nid: usize) -> bool {
        node_get(&self.nr_huge_pages_node, nid) > node_get(&self.free_huge_pages_node, nid)
    }

    /// Takes one free page off node `nid` for a fault (upstream
    /// `dequeue_hugetlb_folio_node_exact` plus the reservation handling of
    /// `dequeue_hugetlb_folio_vma`).
    ///
    /// With `use_reserve` (the caller's `vma_has_reserves()` said so) the page consumes a
    /// reservation: `resv_huge_pages` drops and the caller must mark the page
    /// `restore_reserve`. Without it, the page must come from the unreserved free pages.
    #[cfg(not(MODULE))]
    pub fn dequeue_huge_page_node_exact(
        &mut self,
        nid: usize,
        use_reserve: bool,
    ) -> Result<(), HstateError> {
        check_nid(nid)?;
        self.check_dequeue_allowed(use_reserve)?;
        if node_get(&self.free_huge_pages_node, nid) == 0 {
            return Err(HstateError::NoFreePagesOnNodes);
        }
        self.take_free_page(nid, use_reserve);
        Ok(())
    }

    /// Takes one free page for a fault from the nodes of `mask`, `preferred` first, then the
    /// others in increasing id order after it, wrapping around (an approximation of
    /// upstream's zonelist order in `dequeue_hugetlb_folio_nodemask`; callers that know the
    /// distances can loop over [`Hstate::dequeue_huge_page_node_exact`] instead).
    ///
    /// Returns the node the caller must take the page from. `use_reserve` as in
    /// [`Hstate::dequeue_huge_page_node_exact`].
    pub fn dequeue_huge_page_nodemask(
        &mut self,
        preferred: usize,
        mask: NodeMask,
        use_reserve: bool,
    ) -> Result<usize, HstateError> {
        if mask.is_empty() {
            return Err(HstateError::EmptyNodeMask);
        }
        self.check_dequeue_allowed(use_reserve)?;
        let start = get_valid_node_allowed(preferred, mask).ok_or(HstateError::EmptyNodeMask)?;
        let mut nid = start;
        for _ in 0..mask.weight() {
            if node_get(&self.free_huge_pages_node, nid) > 0 {
                self.take_free_page(nid, use_reserve);
                return Ok(nid);
            }
            nid = mask.next_in(nid).unwrap_or(start);
        }
        Err(HstateError::NoFreePagesOnNodes)
    }

    fn check_dequeue_allowed(&self, use_reserve: bool) -> Result<(), HstateError> {
        if use_reserve {
            if self.resv_huge_pages == 0 {
                return Err(HstateError::NoReservation);
            }
        } else if self.available_huge_pages() == 0 {
            // A mapping without reserves may not steal a page promised to another one.
            return Err(HstateError::NoFreePages);
        }
        Ok(())
    }

    fn take_free_page(&mut self, nid: usize, use_reserve: bool) {
        self.free_huge_pages = self.free_huge_pages.saturating_sub(1);
        node_dec(&mut self.free_huge_pages_node, nid);
        if use_reserve {
            self.resv_huge_pages = self.resv_huge_pages.saturating_sub(1);
        }
    }

    /// Accounts a page whose last reference is gone (upstream `free_huge_folio`).
    ///
    /// `restore_reserve` is the page's restore-reserve flag, possibly forced by the subpool:
    /// upstream sets it when `hugepage_subpool_put_pages(spool, 1)` returns 0 for a page that
    /// did not consume a reservation. The page then goes back on the free list and
    /// `resv_huge_pages` grows again. Otherwise, if the node has surplus pages, the page
    /// leaves the pool ([`FreeAction::ReturnToBuddy`]), else it is enqueued.
    pub fn free_huge_page(
        &mut self,
        nid: usize,
        restore_reserve: bool,
    ) -> Result<FreeAction, HstateError> {
        check_nid(nid)?;
        if !self.has_nonfree_page(nid) {
            return Err(HstateError::NotInUse(nid));
        }
        if restore_reserve {
            self.resv_huge_pages = self
                .resv_huge_pages
                .checked_add(1)
                .ok_or(HstateError::Overflow)?;
        }
        if !restore_reserve && node_get(&self.surplus_huge_pages_node, nid) > 0 {
            // Upstream remove_hugetlb_folio(h, folio, true): the page leaves the pool.
            self.nr_huge_pages = self.nr_huge_pages.saturating_sub(1);
            node_dec(&mut self.nr_huge_pages_node, nid);
            self.surplus_huge_pages = self.surplus_huge_pages.saturating_sub(1);
            node_dec(&mut self.surplus_huge_pages_node, nid);
            return Ok(FreeAction::ReturnToBuddy);
        }
        self.free_huge_pages = self.free_huge_pages.saturating_add(1);
        node_inc(&mut self.free_huge_pages_node, nid);
        Ok(FreeAction::Enqueue)
    }

    /// Puts an in-flight page of node `nid` on the free list (upstream
    /// `enqueue_hugetlb_folio`); used for the pages a [`GatherStep::Commit`](super::GatherStep::Commit) keeps.
    pub fn enqueue_huge_page(&mut self, nid: usize) -> Result<(), HstateError> {
        check_nid(nid)?;
        if !self.has_nonfree_page(nid) {
            return Err(HstateError::NotInUse(nid));
        }
        self.free_huge_pages = self.free_huge_pages.saturating_add(1);
        node_inc(&mut self.free_huge_pages_node, nid);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::super::*;
    use super::*;

    #[test]
    fn dequeue_honours_reservations() {
        let mut h = two_mb();
        resize(&mut h, 2, ResizeTarget::Global(all(2)));
        let mut g = Gather::new(1);
        assert!(matches!(
            h.gather_surplus_pages(&mut g),
            Ok(GatherStep::Commit { .. })
        ));
        // One unreserved page is left.
        assert_eq!(h.dequeue_huge_page_nodemask(1, all(2), false), Ok(1));
        assert_eq!(
            h.dequeue_huge_page_nodemask(0, all(2), false),
            Err(HstateError::NoFreePages)
        );
        assert_eq!(
            h.dequeue_huge_page_node_exact(1, true),
            Err(HstateError::NoFreePagesOnNodes)
        );
        assert_eq!(h.dequeue_huge_page_nodemask(1, all(2), true), Ok(0));
        assert_eq!(
            h.dequeue_huge_page_nodemask(1, all(2), true),
            Err(HstateError::NoReservation)
        );
        assert_eq!(
            h.dequeue_huge_page_nodemask(1, NodeMask::EMPTY, true),
            Err(HstateError::EmptyNodeMask)
        );
        // A page that consumed a reservation restores it when freed unused.
        assert_eq!(h.free_huge_page(0, true), Ok(FreeAction::Enqueue));
        assert_eq!(h.resv_huge_pages(), 1);
        assert_eq!(h.free_huge_page(0, false), Err(HstateError::NotInUse(0)));
        assert_eq!(h.free_huge_page(1, false), Ok(FreeAction::Enqueue));
        h.check_invariants().unwrap();
    }
}
