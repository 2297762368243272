// SPDX-License-Identifier: GPL-2.0

//! Resizing the persistent pool (upstream `set_max_huge_pages`), and the round-robin node
//! choice it and the surplus paths share (`next_nid_to_alloc`, `next_nid_to_free`,
//! `adjust_pool_surplus`, `remove_pool_hugetlb_folio`).

use super::counters::{node_dec, node_get, node_inc};
use super::nodemask::get_valid_node_allowed;
use super::{Hstate, HstateError, NodeMask};

/// Which nodes a resize acts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResizeTarget {
    /// The global `nr_hugepages` file: `count` is the new global persistent size, pages are
    /// allocated and freed round-robin over the mask (normally `node_states[N_MEMORY]`).
    Global(NodeMask),
    /// A per-node `nr_hugepages` file: `count` is the new persistent size *of that node*, and
    /// only that node's pages are allocated or freed.
    Node(usize),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ResizePhase {
    Grow,
    Shrink,
    Done,
}

/// An in-progress `set_max_huge_pages`, driven by [`Hstate::resize_step`].
///
/// Created by [`Hstate::set_max_huge_pages`]. The caller holds its resize mutex for the
/// plan's whole life and `hugetlb_lock` around each call on it.
#[derive(Clone, Debug)]
pub struct ResizePlan {
    count: u64,
    nodes: NodeMask,
    /// Upstream `node_alloc_noretry`: nodes where a try-hard allocation failed during this
    /// resize, so later attempts there do not try hard until one succeeds.
    noretry: NodeMask,
    phase: ResizePhase,
    /// Nodes tried without success for the page being allocated now.
    failed_attempts: u32,
    min_count: u64,
    pending: Option<(usize, bool)>,
    allocated: u64,
    freed: u64,
    interrupted: bool,
}

impl ResizePlan {
    /// Returns the target persistent pool size in global terms (after the per-node
    /// adjustment, saturated at `u64::MAX` as upstream saturates at `ULONG_MAX`).
    #[cfg(not(MODULE))]
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Returns the nodes this resize allocates on and frees from.
    pub fn nodes(&self) -> NodeMask {
        self.nodes
    }

    /// Returns how many fresh pages the resize still asks for if every allocation succeeds
    /// (0 once it shrinks or is done): what a caller may allocate ahead, in parallel, to hand
    /// to the [`ResizeStep::AllocFresh`] steps.
    pub fn pages_to_grow(&self, h: &Hstate) -> u64 {
        match self.phase {
            ResizePhase::Grow => self.count.saturating_sub(h.persistent_huge_pages()),
            _ => 0,
        }
    }

    /// Returns how many fresh pages this resize added to the pool so far.
    #[cfg(not(MODULE))]
    pub fn allocated(&self) -> u64 {
        self.allocated
    }

    /// Returns how many free pages this resize removed from the pool so far.
    #[cfg(not(MODULE))]
    pub fn freed(&self) -> u64 {
        self.freed
    }

    /// Returns whether the plan has finished.
    #[cfg(not(MODULE))]
    pub fn is_done(&self) -> bool {
        self.phase == ResizePhase::Done
    }

    /// Returns whether the plan stopped early because the caller saw a pending signal.
    #[cfg(not(MODULE))]
    pub fn was_interrupted(&self) -> bool {
        self.interrupted
    }
}

/// The next thing the caller must do for a [`ResizePlan`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResizeStep {
    /// Drop `hugetlb_lock`, allocate one fresh huge page on node `nid` only
    /// (`__GFP_THISNODE`; with `__GFP_RETRY_MAYFAIL` if `try_hard`, else `__GFP_NORETRY`),
    /// retake the lock and report with [`Hstate::resize_alloc_done`]. Then check for a
    /// pending signal and call [`Hstate::resize_interrupt`] if there is one.
    AllocFresh {
        /// Node to allocate on.
        nid: usize,
        /// Whether to try hard (upstream clears this after a try-hard failure on the node).
        try_hard: bool,
    },
    /// Take one page off node `nid`'s free list; the counters already dropped it. Free it to
    /// the buddy allocator after dropping the lock (collecting several first is fine).
    FreePage {
        /// Node whose free list gives up a page.
        nid: usize,
    },
    /// The resize is over; `persistent` is the persistent pool size now (what a read of
    /// `nr_hugepages` minus surplus shows), also stored as `max_huge_pages`.
    Done {
        /// Persistent huge pages after the resize.
        persistent: u64,
    },
}

/// Direction of an [`Hstate::adjust_pool_surplus`] step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SurplusDelta {
    /// Turn one surplus page into a persistent one.
    Decrease,
    /// Turn one persistent page into a surplus one.
    Increase,
}

/// Upstream `hstate_next_node_to_alloc` / `hstate_next_node_to_free`: returns the saved node
/// (made valid for the mask) and advances the saved node round-robin.
fn next_node_round_robin(next: &mut usize, nodes_allowed: NodeMask) -> Option<usize> {
    let nid = get_valid_node_allowed(*next, nodes_allowed)?;
    *next = nodes_allowed.next_in(nid).unwrap_or(nid);
    Some(nid)
}

impl Hstate {
    /// Upstream `adjust_pool_surplus`: moves one page between the persistent and surplus
    /// counts on a node chosen round-robin. Returns whether a node qualified.
    fn adjust_pool_surplus(&mut self, nodes_allowed: NodeMask, delta: SurplusDelta) -> bool {
        for _ in 0..nodes_allowed.weight() {
            let found = match delta {
                SurplusDelta::Decrease => {
                    let Some(nid) =
                        next_node_round_robin(&mut self.next_nid_to_alloc, nodes_allowed)
                    else {
                        return false;
                    };
                    (node_get(&self.surplus_huge_pages_node, nid) > 0).then_some(nid)
                }
                SurplusDelta::Increase => {
                    let Some(nid) =
                        next_node_round_robin(&mut self.next_nid_to_free, nodes_allowed)
                    else {
                        return false;
                    };
                    (node_get(&self.surplus_huge_pages_node, nid)
                        < node_get(&self.nr_huge_pages_node, nid))
                    .then_some(nid)
                }
            };
            if let Some(nid) = found {
                match delta {
                    SurplusDelta::Decrease => {
                        self.surplus_huge_pages = self.surplus_huge_pages.saturating_sub(1);
                        node_dec(&mut self.surplus_huge_pages_node, nid);
                    }
                    SurplusDelta::Increase => {
                        self.surplus_huge_pages = self.surplus_huge_pages.saturating_add(1);
                        node_inc(&mut self.surplus_huge_pages_node, nid);
                    }
                }
                return true;
            }
        }
        false
    }

    /// Upstream `remove_pool_hugetlb_folio`: uncounts one free page from a node chosen
    /// round-robin (`next_nid_to_free`) and returns that node; the caller takes a page off
    /// its free list. With `acct_surplus` only nodes with surplus qualify and the page leaves
    /// the surplus count too; without it only nodes that have a non-surplus page qualify (see
    /// the [`hstate`](super) documentation).
    pub(super) fn remove_pool_huge_page(
        &mut self,
        nodes_allowed: NodeMask,
        acct_surplus: bool,
    ) -> Option<usize> {
        for _ in 0..nodes_allowed.weight() {
            let nid = next_node_round_robin(&mut self.next_nid_to_free, nodes_allowed)?;
            let nr = node_get(&self.nr_huge_pages_node, nid);
            let free = node_get(&self.free_huge_pages_node, nid);
            let surplus = node_get(&self.surplus_huge_pages_node, nid);
            let eligible = free > 0
                && if acct_surplus {
                    surplus > 0
                } else {
                    surplus < nr
                };
            if eligible {
                self.free_huge_pages = self.free_huge_pages.saturating_sub(1);
                node_dec(&mut self.free_huge_pages_node, nid);
                self.nr_huge_pages = self.nr_huge_pages.saturating_sub(1);
                node_dec(&mut self.nr_huge_pages_node, nid);
                if acct_surplus {
                    self.surplus_huge_pages = self.surplus_huge_pages.saturating_sub(1);
                    node_dec(&mut self.surplus_huge_pages_node, nid);
                }
                return Some(nid);
            }
        }
        None
    }

    /// Uncounts one free page that no reservation needs, surplus pages first, from a node of
    /// `nodes` chosen round-robin, and returns that node; `None` once every free page is
    /// needed or gone.
    ///
    /// For a teardown that counts every page out (the model tests'; the module frees its pages
    /// at unload without asking): with nothing mapped and no reservation left, calling this
    /// until it returns `None` empties the pool, including free surplus pages that a resize
    /// would leave alone (upstream leaves them too; they drain as faults reuse them).
    #[cfg(not(MODULE))]
    pub fn drain_free_huge_page(&mut self, nodes: NodeMask) -> Option<usize> {
        if self.free_huge_pages <= self.resv_huge_pages {
            return None;
        }
        let nid = if self.surplus_huge_pages > 0 {
            self.remove_pool_huge_page(nodes, true)
        } else {
            None
        };
        let nid = nid.or_else(|| self.remove_pool_huge_page(nodes, false))?;
        self.max_huge_pages = self.persistent_huge_pages();
        Some(nid)
    }

    /// Starts a resize of the persistent pool (upstream `set_max_huge_pages`, reached from the
    /// `nr_hugepages` stores through `__nr_hugepages_store_common`).
    ///
    /// For [`ResizeTarget::Node`], `count` is first made global as 6.12 does:
    /// `count += persistent_huge_pages - (nr_huge_pages_node[nid] - surplus_huge_pages_node[nid])`,
    /// saturating at `u64::MAX` ("allocate as many as possible"), and only `nid` is used.
    ///
    /// This call already does the first part of the work, which needs no lock drop: it turns
    /// surplus pages into persistent ones (`adjust_pool_surplus(-1)`) while the target is above
    /// the persistent count. Then drive the plan with [`Hstate::resize_step`].
    pub fn set_max_huge_pages(
        &mut self,
        count: u64,
        target: ResizeTarget,
    ) -> Result<ResizePlan, HstateError> {
        let (count, nodes) = match target {
            ResizeTarget::Global(mask) => {
                if mask.is_empty() {
                    return Err(HstateError::EmptyNodeMask);
                }
                (count, mask)
            }
            ResizeTarget::Node(nid) => {
                let mask = NodeMask::of_node(nid)?;
                let node_persistent = node_get(&self.nr_huge_pages_node, nid)
                    .saturating_sub(node_get(&self.surplus_huge_pages_node, nid));
                let others = self.persistent_huge_pages().saturating_sub(node_persistent);
                (count.saturating_add(others), mask)
            }
        };
        // Increase the pool size: first take pages out of surplus state.
        while self.surplus_huge_pages > 0 && count > self.persistent_huge_pages() {
            if !self.adjust_pool_surplus(nodes, SurplusDelta::Decrease) {
                break;
            }
        }
        Ok(ResizePlan {
            count,
            nodes,
            noretry: NodeMask::EMPTY,
            phase: ResizePhase::Grow,
            failed_attempts: 0,
            min_count: 0,
            pending: None,
            allocated: 0,
            freed: 0,
            interrupted: false,
        })
    }

    /// Returns the next step of a resize; see [`ResizeStep`].
    ///
    /// Growing: one [`ResizeStep::AllocFresh`] per missing page, on the next node round-robin
    /// (`next_nid_to_alloc`). A failed allocation moves on to the next allowed node; once every
    /// allowed node has failed for the same page the resize stops where it is (upstream's
    /// `goto out`), and is a partial success, not an error.
    ///
    /// Shrinking: the floor is `min_count = max(count, resv_huge_pages + pages in use)`; free
    /// pages are handed out as [`ResizeStep::FreePage`] round-robin (`next_nid_to_free`) down
    /// to the floor, then pages above `count` that are still in use become surplus
    /// (`adjust_pool_surplus(+1)`) and leave the pool when freed.
    pub fn resize_step(&mut self, plan: &mut ResizePlan) -> Result<ResizeStep, HstateError> {
        if plan.pending.is_some() {
            return Err(HstateError::Protocol);
        }
        if plan.phase == ResizePhase::Grow {
            if plan.count > self.persistent_huge_pages() {
                let nid = next_node_round_robin(&mut self.next_nid_to_alloc, plan.nodes)
                    .ok_or(HstateError::EmptyNodeMask)?;
                let try_hard = !plan.noretry.contains(nid);
                plan.pending = Some((nid, try_hard));
                return Ok(ResizeStep::AllocFresh { nid, try_hard });
            }
            // Decrease the pool size: never below what is in use or reserved.
            let in_use = self.nr_huge_pages.saturating_sub(self.free_huge_pages);
            plan.min_count = plan.count.max(self.resv_huge_pages.saturating_add(in_use));
            plan.phase = ResizePhase::Shrink;
        }
        if plan.phase == ResizePhase::Shrink {
            if plan.min_count < self.persistent_huge_pages() {
                if let Some(nid) = self.remove_pool_huge_page(plan.nodes, false) {
                    plan.freed = plan.freed.saturating_add(1);
                    return Ok(ResizeStep::FreePage { nid });
                }
            }
            // The rest of the excess becomes surplus, freed as the pages come back.
            while plan.count < self.persistent_huge_pages() {
                if !self.adjust_pool_surplus(plan.nodes, SurplusDelta::Increase) {
                    break;
                }
            }
            self.finish_resize(plan);
        }
        Ok(ResizeStep::Done {
            persistent: self.persistent_huge_pages(),
        })
    }

    /// Reports the outcome of a [`ResizeStep::AllocFresh`]: `Some(nid)` with the node the
    /// new page is on, or `None` if the allocation failed.
    ///
    /// A new page enters the pool as a free persistent page (upstream
    /// `prep_and_add_allocated_folios`). On error (no allocation outstanding, or a bad node id)
    /// nothing is counted and the caller must free the page it got.
    pub fn resize_alloc_done(
        &mut self,
        plan: &mut ResizePlan,
        result: Option<usize>,
    ) -> Result<(), HstateError> {
        let (asked, try_hard) = plan.pending.ok_or(HstateError::Protocol)?;
        let added = match result {
            Some(nid) => self.account_new_page(nid, false, true),
            None => Err(HstateError::NoFreePages),
        };
        plan.pending = None;
        match added {
            Ok(()) => {
                // A success without trying hard means memory got better: try hard again.
                if !try_hard {
                    plan.noretry.clear(asked);
                }
                plan.failed_attempts = 0;
                plan.allocated = plan.allocated.saturating_add(1);
                Ok(())
            }
            Err(err) => {
                if try_hard {
                    // Best effort only: `asked` came from the mask, so it is in range.
                    let _ = plan.noretry.set(asked);
                }
                plan.failed_attempts = plan.failed_attempts.saturating_add(1);
                if plan.failed_attempts >= plan.nodes.weight() {
                    self.finish_resize(plan);
                }
                match result {
                    Some(_) => Err(err),
                    None => Ok(()),
                }
            }
        }
    }

    /// Stops a resize early because a signal is pending (upstream's bail-out in the grow
    /// loop); returns the persistent pool size reached, which is what `nr_hugepages` reads.
    ///
    /// An outstanding [`ResizeStep::AllocFresh`] must be reported first; if it was not, it is
    /// treated as failed.
    pub fn resize_interrupt(&mut self, plan: &mut ResizePlan) -> u64 {
        plan.pending = None;
        plan.interrupted = true;
        self.finish_resize(plan);
        self.persistent_huge_pages()
    }

    fn finish_resize(&mut self, plan: &mut ResizePlan) {
        plan.phase = ResizePhase::Done;
        self.max_huge_pages = self.persistent_huge_pages();
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::super::*;
    use super::*;

    #[test]
    fn grow_round_robin_and_shrink() {
        let mut h = two_mb();
        let freed = resize(&mut h, 5, ResizeTarget::Global(all(2)));
        assert!(freed.is_empty());
        let c = h.counters();
        assert_eq!(
            (c.nr_huge_pages, c.free_huge_pages, c.max_huge_pages),
            (5, 5, 5)
        );
        assert_eq!(h.node_counters(0).nr_huge_pages, 3);
        assert_eq!(h.node_counters(1).nr_huge_pages, 2);
        let freed = resize(&mut h, 1, ResizeTarget::Global(all(2)));
        assert_eq!(freed.len(), 4);
        assert_eq!(h.nr_huge_pages(), 1);
        // Round-robin freeing keeps nodes balanced.
        assert_eq!(
            h.node_counters(0).nr_huge_pages + h.node_counters(1).nr_huge_pages,
            1
        );
        assert_eq!(h.max_huge_pages(), 1);
    }

    #[test]
    fn grow_stops_when_every_node_fails() {
        let mut h = two_mb();
        let plan = h
            .set_max_huge_pages(10, ResizeTarget::Global(all(2)))
            .unwrap();
        drive(&mut h, plan, |nid| nid == 1);
        // Node 1 fails, node 0 keeps succeeding: the target is still reached.
        assert_eq!(h.nr_huge_pages(), 10);
        assert_eq!(h.node_counters(1).nr_huge_pages, 0);
        let plan = h
            .set_max_huge_pages(20, ResizeTarget::Global(all(2)))
            .unwrap();
        drive(&mut h, plan, |_| true);
        assert_eq!(h.nr_huge_pages(), 10);
        assert_eq!(h.max_huge_pages(), 10);
    }

    #[test]
    fn noretry_tracks_failed_nodes() {
        let mut h = two_mb();
        let mut plan = h
            .set_max_huge_pages(3, ResizeTarget::Global(all(2)))
            .unwrap();
        let ResizeStep::AllocFresh {
            nid: 0,
            try_hard: true,
        } = h.resize_step(&mut plan).unwrap()
        else {
            panic!()
        };
        h.resize_alloc_done(&mut plan, None).unwrap();
        let ResizeStep::AllocFresh {
            nid: 1,
            try_hard: true,
        } = h.resize_step(&mut plan).unwrap()
        else {
            panic!()
        };
        h.resize_alloc_done(&mut plan, Some(1)).unwrap();
        // Node 0 failed while trying hard: it is now tried without.
        let ResizeStep::AllocFresh {
            nid: 0,
            try_hard: false,
        } = h.resize_step(&mut plan).unwrap()
        else {
            panic!()
        };
        h.resize_alloc_done(&mut plan, Some(0)).unwrap();
        let ResizeStep::AllocFresh {
            nid: 1,
            try_hard: true,
        } = h.resize_step(&mut plan).unwrap()
        else {
            panic!()
        };
        h.resize_alloc_done(&mut plan, Some(1)).unwrap();
        // Node 0 succeeded without trying hard: it is tried hard again.
        assert_eq!(
            h.resize_step(&mut plan).unwrap(),
            ResizeStep::Done { persistent: 3 }
        );
        assert!(plan.is_done() && plan.allocated() == 3 && plan.freed() == 0);
        assert!(!plan.noretry.contains(0));
    }

    #[test]
    fn protocol_errors_change_nothing() {
        let mut h = two_mb();
        let mut plan = h
            .set_max_huge_pages(2, ResizeTarget::Global(all(1)))
            .unwrap();
        assert_eq!(
            h.resize_alloc_done(&mut plan, Some(0)),
            Err(HstateError::Protocol)
        );
        h.resize_step(&mut plan).unwrap();
        assert_eq!(h.resize_step(&mut plan), Err(HstateError::Protocol));
        assert_eq!(
            h.resize_alloc_done(&mut plan, Some(99)),
            Err(HstateError::InvalidNode(99))
        );
        assert_eq!(h.nr_huge_pages(), 0);
        assert_eq!(
            h.set_max_huge_pages(1, ResizeTarget::Global(NodeMask::EMPTY))
                .unwrap_err(),
            HstateError::EmptyNodeMask
        );
        assert_eq!(
            h.set_max_huge_pages(1, ResizeTarget::Node(64)).unwrap_err(),
            HstateError::InvalidNode(64)
        );
    }

    #[test]
    fn interrupt_keeps_partial_progress() {
        let mut h = two_mb();
        let mut plan = h
            .set_max_huge_pages(100, ResizeTarget::Global(all(1)))
            .unwrap();
        for _ in 0..3 {
            let ResizeStep::AllocFresh { nid, .. } = h.resize_step(&mut plan).unwrap() else {
                panic!()
            };
            h.resize_alloc_done(&mut plan, Some(nid)).unwrap();
        }
        assert_eq!(h.resize_interrupt(&mut plan), 3);
        assert!(plan.was_interrupted());
        assert_eq!(
            h.resize_step(&mut plan).unwrap(),
            ResizeStep::Done { persistent: 3 }
        );
        assert_eq!(h.max_huge_pages(), 3);
    }

    #[test]
    fn shrink_below_in_use_makes_surplus() {
        let mut h = two_mb();
        resize(&mut h, 4, ResizeTarget::Global(all(1)));
        for _ in 0..3 {
            h.dequeue_huge_page_nodemask(0, all(1), false).unwrap();
        }
        let freed = resize(&mut h, 0, ResizeTarget::Global(all(1)));
        assert_eq!(freed, [0]);
        let c = h.counters();
        assert_eq!(
            (c.nr_huge_pages, c.free_huge_pages, c.surplus_huge_pages),
            (3, 0, 3)
        );
        // Surplus above the overcommit limit is allowed after a shrink.
        assert_eq!(c.nr_overcommit_huge_pages, 0);
        // Freed surplus pages leave the pool.
        assert_eq!(h.free_huge_page(0, false), Ok(FreeAction::ReturnToBuddy));
        assert_eq!(h.nr_huge_pages(), 2);
        // Growing again converts the surplus back first, without allocating.
        let mut plan = h
            .set_max_huge_pages(2, ResizeTarget::Global(all(1)))
            .unwrap();
        assert_eq!(h.surplus_huge_pages(), 0);
        assert_eq!(
            h.resize_step(&mut plan).unwrap(),
            ResizeStep::Done { persistent: 2 }
        );
        assert_eq!(h.free_huge_page(0, false), Ok(FreeAction::Enqueue));
        h.check_invariants().unwrap();
    }

    #[test]
    fn shrink_keeps_reserved_pages() {
        let mut h = two_mb();
        resize(&mut h, 4, ResizeTarget::Global(all(1)));
        let mut g = Gather::new(3);
        assert_eq!(
            h.gather_surplus_pages(&mut g),
            Ok(GatherStep::Commit {
                enqueue: 0,
                release: 0
            })
        );
        let freed = resize(&mut h, 0, ResizeTarget::Global(all(1)));
        assert_eq!(freed.len(), 1);
        let c = h.counters();
        assert_eq!(
            (
                c.nr_huge_pages,
                c.free_huge_pages,
                c.resv_huge_pages,
                c.surplus_huge_pages
            ),
            (3, 3, 3, 3)
        );
        // Releasing the reservation frees the surplus pages.
        let mut ret = h.return_unused_surplus_pages(3).unwrap();
        let mut n = 0;
        while h.return_unused_surplus_next(&mut ret, all(1)).is_some() {
            n += 1;
        }
        assert_eq!(n, 3);
        assert_eq!(
            h.counters(),
            HstateCounters {
                max_huge_pages: 0,
                ..Default::default()
            }
        );
    }

    #[test]
    fn per_node_resize() {
        let mut h = two_mb();
        resize(&mut h, 4, ResizeTarget::Global(all(2)));
        resize(&mut h, 5, ResizeTarget::Node(1));
        assert_eq!(h.node_counters(0).nr_huge_pages, 2);
        assert_eq!(h.node_counters(1).nr_huge_pages, 5);
        assert_eq!(h.max_huge_pages(), 7);
        let freed = resize(&mut h, 0, ResizeTarget::Node(0));
        assert_eq!(freed, [0, 0]);
        assert_eq!(h.nr_huge_pages(), 5);
        // A huge per-node count saturates instead of wrapping.
        let plan = h
            .set_max_huge_pages(u64::MAX, ResizeTarget::Node(0))
            .unwrap();
        assert_eq!(plan.count(), u64::MAX);
        assert_eq!(plan.nodes(), NodeMask::of_node(0).unwrap());
    }

    #[test]
    fn shrink_skips_nodes_whose_pages_are_all_surplus() {
        let mut h = two_mb();
        h.set_nr_overcommit_huge_pages(1).unwrap();
        resize(&mut h, 3, ResizeTarget::Node(1));
        // Reserve 4 pages: the fourth is a surplus page gathered on node 0.
        let mut g = Gather::new(4);
        assert_eq!(
            h.gather_surplus_pages(&mut g),
            Ok(GatherStep::Allocate { nr_pages: 1 })
        );
        h.gather_page_added(&mut g, 0).unwrap();
        assert_eq!(
            h.gather_surplus_pages(&mut g),
            Ok(GatherStep::Commit {
                enqueue: 1,
                release: 0
            })
        );
        h.enqueue_huge_page(0).unwrap();
        // Drop three reservations without freeing any surplus page.
        let ret = h.return_unused_surplus_pages(3).unwrap();
        assert_eq!(ret.remaining(), 1);
        h.check_invariants().unwrap();
        assert_eq!(h.next_nid_to_free(), 0);
        // Node 0 holds only a (free) surplus page. Upstream's round-robin would take it first
        // and leave node 0 with surplus 1 and nr 0; the core takes node 1's pages instead.
        let freed = resize(&mut h, 0, ResizeTarget::Global(all(2)));
        assert_eq!(freed, [1, 1]);
        assert_eq!(
            h.node_counters(0),
            NodeCounters {
                nr_huge_pages: 1,
                free_huge_pages: 1,
                surplus_huge_pages: 1
            }
        );
        assert_eq!(
            h.node_counters(1),
            NodeCounters {
                nr_huge_pages: 1,
                free_huge_pages: 1,
                surplus_huge_pages: 1
            }
        );
        assert_eq!(h.resv_huge_pages(), 1);
        h.check_invariants().unwrap();
    }
}
