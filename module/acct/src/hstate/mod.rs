// SPDX-License-Identifier: GPL-2.0

//! Per-size huge page pool accounting: the counters of `struct hstate` and the decisions
//! `mm/hugetlb.c` takes on them.
//!
//! An [`Hstate`] only counts. The pages themselves (the per-node free lists, the page cache,
//! the allocators) live in the kernel glue, which reports every page movement here and asks
//! what to do next. Names follow mm/hugetlb.c so the two can be read side by side.
//!
//! # Locking
//!
//! Every `&mut self` method must run under the lock that upstream calls `hugetlb_lock` (one
//! spinlock for all hstates, or one per hstate: the core does not care). None of them sleeps
//! or allocates, and each does a bounded amount of work (a few passes over at most
//! [`MAX_NUMNODES`] nodes), except [`Hstate::set_max_huge_pages`], whose surplus conversion
//! loops once per converted page as upstream's does under the same lock. Readers take the
//! same lock and copy [`Hstate::counters`] / [`Hstate::node_counters`], so they never see torn
//! counters.
//!
//! Where upstream drops `hugetlb_lock` to allocate or free pages, this module exposes a step
//! API instead of a function: [`ResizePlan`] (`set_max_huge_pages`), [`Gather`]
//! (`gather_surplus_pages`) and [`ReturnSurplus`] (`return_unused_surplus_pages`). The caller
//! drives the steps, drops the lock where a step says so, and reports the outcome. Concurrent
//! resizes must be serialised by the caller (upstream's `h->resize_lock`, a mutex held across
//! the whole plan).
//!
//! # Page states
//!
//! Every page counted in `nr_huge_pages` is either *free* (on a free list, counted in
//! `free_huge_pages`) or *not free*: in use (mapped or in the page cache) or in flight (a
//! fresh surplus page held by a [`Gather`] before it is enqueued). Surplus is not a page
//! state but a count: `surplus_huge_pages` of the pages are to be returned to the buddy
//! allocator when they are freed, instead of going back on a free list.
//!
//! # Invariants
//!
//! Whenever the lock is not held, for the global counters and for every node `n` (provided
//! the caller follows the step protocols; the one window where they do not hold is between a
//! [`GatherStep::Commit`] and the [`Hstate::enqueue_huge_page`] calls that must follow it in
//! the same lock hold):
//!
//! * `free_huge_pages <= nr_huge_pages` and `free_huge_pages_node[n] <= nr_huge_pages_node[n]`;
//! * `surplus_huge_pages <= nr_huge_pages` and `surplus_huge_pages_node[n] <= nr_huge_pages_node[n]`;
//! * `resv_huge_pages <= free_huge_pages`: every reservation is backed by a free page;
//! * the per-node counters sum to the global ones.
//!
//! `surplus_huge_pages <= nr_overcommit_huge_pages` is *not* an invariant, exactly as
//! upstream: shrinking `nr_hugepages` below the pages in use turns the excess into surplus
//! regardless of the overcommit limit, and lowering `nr_overcommit_hugepages` leaves existing
//! surplus pages alone. What does hold: no surplus page is ever *allocated* while
//! `surplus_huge_pages >= nr_overcommit_huge_pages`, so allocation alone never takes surplus
//! above the limit, and surplus only drops (as pages are freed) once it is above it.
//! [`Hstate::check_invariants`] checks the list above.
//!
//! Two deliberate differences from mm/hugetlb.c keep the per-node invariants true in corner
//! cases where upstream can break them:
//!
//! * when a shrink removes a free page *without* surplus accounting, it only takes it from a
//!   node that has a non-surplus page (`surplus_huge_pages_node[n] < nr_huge_pages_node[n]`);
//!   upstream can pick a node whose only pages are surplus and leave
//!   `surplus_huge_pages_node[n] > nr_huge_pages_node[n]` behind. The global outcome is the same.
//! * [`Hstate::free_huge_page`] with `restore_reserve` always puts the page back on the free
//!   list, even on a node with surplus; upstream returns it to the buddy allocator and then
//!   increments `resv_huge_pages`, leaving a reservation without a free page behind it.
//!
//! Free surplus pages that no reservation needs can be left behind, as upstream (surplus is a
//! per-node count, not a page flag, so a fault may consume a reservation with a persistent
//! page while the surplus page that backed it stays free). Faults reuse them and they drain
//! when freed. At module unload the kernel glue frees its pages without counting them out;
//! the model tests empty the counters with [`Hstate::drain_free_huge_page`] to show that
//! nothing is left behind.
//!
//! # Layout
//!
//! The [`Hstate`] type is defined here; its methods are grouped by what upstream does with
//! them, one file each:
//!
//! * `counters`: the global and per-node counters, their copies for sysfs and meminfo, and
//!   [`Hstate::check_invariants`];
//! * `nodemask`: [`NodeMask`], the `nodemask_t` the other parts iterate over;
//! * `resize`: `set_max_huge_pages` as a [`ResizePlan`], with the round-robin node choice
//!   (`next_nid_to_alloc` / `next_nid_to_free`) and `adjust_pool_surplus`;
//! * `surplus`: the overcommit limit, surplus allocation, `gather_surplus_pages` ([`Gather`])
//!   and `return_unused_surplus_pages` ([`ReturnSurplus`]);
//! * `dequeue`: taking free pages for faults and giving freed pages back
//!   (`dequeue_hugetlb_folio_*`, `free_huge_folio`, `enqueue_hugetlb_folio`).
//!
//! # Example: a `nr_hugepages` write
//!
//! ```
//! use rhugetlbfs_acct::hstate::{Hstate, NodeMask, ResizeStep, ResizeTarget};
//!
//! let mut h = Hstate::new(9, 10, 0)?; // 2 MiB pages, MAX_PAGE_ORDER 10, first node 0.
//! let nodes = NodeMask::first_n(2)?; // node_states[N_MEMORY].
//! // Under resize_lock; each call below under hugetlb_lock.
//! let mut plan = h.set_max_huge_pages(3, ResizeTarget::Global(nodes))?;
//! loop {
//!     match h.resize_step(&mut plan)? {
//!         ResizeStep::AllocFresh { nid, try_hard: _ } => {
//!             // Drop hugetlb_lock, allocate on `nid`, retake the lock, report.
//!             let page_nid = Some(nid); // None if the allocation failed.
//!             h.resize_alloc_done(&mut plan, page_nid)?;
//!             // if signal_pending(current) { h.resize_interrupt(&mut plan); }
//!         }
//!         ResizeStep::FreePage { nid: _ } => { /* Move a page of `nid` to a local list. */ }
//!         ResizeStep::Done { persistent } => break assert_eq!(persistent, 3),
//!     }
//! }
//! // Drop hugetlb_lock, free the collected pages, drop resize_lock.
//! assert_eq!(h.node_counters(0).nr_huge_pages + h.node_counters(1).nr_huge_pages, 3);
//! # Ok::<(), rhugetlbfs_acct::hstate::HstateError>(())
//! ```

mod counters;
mod dequeue;
mod nodemask;
mod resize;
mod surplus;

pub use counters::{HstateCounters, NodeCounters};
pub use dequeue::FreeAction;
pub use nodemask::NodeMask;
pub use resize::{ResizeStep, ResizeTarget};
pub use surplus::{Gather, GatherStep};

// Paths only host code names: the module gets these types from the methods that return
// them (`InvariantViolation` itself is host only).
#[cfg(not(MODULE))]
pub use counters::InvariantViolation;
#[cfg(not(MODULE))]
pub use nodemask::NodeMaskIter;
#[cfg(not(MODULE))]
pub use resize::ResizePlan;
#[cfg(not(MODULE))]
pub use surplus::ReturnSurplus;

use core::fmt;

/// Maximum number of NUMA nodes the core tracks (upstream `MAX_NUMNODES`).
///
/// The kernel glue must ignore (or refuse) nodes with an id at or above this bound.
pub const MAX_NUMNODES: usize = 64;

/// Largest supported huge page order; bounds `1 << order` arithmetic well inside `u64`.
pub const MAX_HSTATE_ORDER: u32 = 40;

/// Errors of the hstate accounting.
///
/// Every method that returns an error leaves the counters unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HstateError {
    /// A node id at or above [`MAX_NUMNODES`].
    InvalidNode(usize),
    /// An operation was given an empty node mask.
    EmptyNodeMask,
    /// A huge page order above [`MAX_HSTATE_ORDER`].
    InvalidOrder(u32),
    /// `nr_overcommit_hugepages` cannot be set for gigantic pages (sysfs returns `-EINVAL`).
    GiganticNoOvercommit,
    /// Surplus pages cannot be allocated for gigantic pages.
    GiganticNoSurplus,
    /// `surplus_huge_pages` has reached `nr_overcommit_huge_pages`.
    OvercommitExhausted,
    /// No free page that is not reserved for someone else.
    NoFreePages,
    /// A free page exists, but none on the allowed nodes.
    NoFreePagesOnNodes,
    /// The caller asked to consume a reservation while `resv_huge_pages` is zero.
    NoReservation,
    /// A page was reported freed (or enqueued) on a node where the counters have no page that
    /// is not already free: the caller's bookkeeping and the counters disagree.
    NotInUse(usize),
    /// More reservations released than are held.
    ResvUnderflow,
    /// A counter would overflow.
    Overflow,
    /// A step API was driven out of order (for example, a new step requested while an
    /// allocation outcome is still unreported).
    Protocol,
}

impl fmt::Display for HstateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidNode(nid) => write!(f, "invalid node id {nid}"),
            Self::EmptyNodeMask => f.write_str("empty node mask"),
            Self::InvalidOrder(order) => write!(f, "unsupported huge page order {order}"),
            Self::GiganticNoOvercommit => f.write_str("gigantic pages have no overcommit"),
            Self::GiganticNoSurplus => f.write_str("gigantic pages have no surplus allocation"),
            Self::OvercommitExhausted => f.write_str("overcommit limit reached"),
            Self::NoFreePages => f.write_str("no unreserved free huge page"),
            Self::NoFreePagesOnNodes => f.write_str("no free huge page on the allowed nodes"),
            Self::NoReservation => f.write_str("no reservation to consume"),
            Self::NotInUse(nid) => write!(f, "no in-use huge page on node {nid}"),
            Self::ResvUnderflow => f.write_str("more reservations released than held"),
            Self::Overflow => f.write_str("counter overflow"),
            Self::Protocol => f.write_str("step API driven out of order"),
        }
    }
}

/// Checks that `nid` can index the per-node arrays.
fn check_nid(nid: usize) -> Result<(), HstateError> {
    if nid < MAX_NUMNODES {
        Ok(())
    } else {
        Err(HstateError::InvalidNode(nid))
    }
}

/// The counters and decisions of one huge page size (upstream `struct hstate`).
#[derive(Clone, Debug)]
pub struct Hstate {
    #[cfg(not(MODULE))]
    order: u32,
    gigantic: bool,
    next_nid_to_alloc: usize,
    next_nid_to_free: usize,
    max_huge_pages: u64,
    nr_huge_pages: u64,
    free_huge_pages: u64,
    resv_huge_pages: u64,
    surplus_huge_pages: u64,
    nr_overcommit_huge_pages: u64,
    nr_huge_pages_node: [u64; MAX_NUMNODES],
    free_huge_pages_node: [u64; MAX_NUMNODES],
    surplus_huge_pages_node: [u64; MAX_NUMNODES],
}

impl Hstate {
    /// Creates an empty pool for pages of `order` (upstream `hugetlb_add_hstate`).
    ///
    /// `max_page_order` is the kernel's `MAX_PAGE_ORDER`: sizes above it are gigantic
    /// (`hstate_is_gigantic`), which means no overcommit and no surplus allocation.
    /// `first_memory_node` seeds `next_nid_to_alloc` and `next_nid_to_free`.
    pub fn new(
        order: u32,
        max_page_order: u32,
        first_memory_node: usize,
    ) -> Result<Self, HstateError> {
        if order > MAX_HSTATE_ORDER {
            return Err(HstateError::InvalidOrder(order));
        }
        check_nid(first_memory_node)?;
        Ok(Self {
            #[cfg(not(MODULE))]
            order,
            gigantic: order > max_page_order,
            next_nid_to_alloc: first_memory_node,
            next_nid_to_free: first_memory_node,
            max_huge_pages: 0,
            nr_huge_pages: 0,
            free_huge_pages: 0,
            resv_huge_pages: 0,
            surplus_huge_pages: 0,
            nr_overcommit_huge_pages: 0,
            nr_huge_pages_node: [0; MAX_NUMNODES],
            free_huge_pages_node: [0; MAX_NUMNODES],
            surplus_huge_pages_node: [0; MAX_NUMNODES],
        })
    }

    /// Returns the number of base pages per huge page (upstream `pages_per_huge_page`).
    #[cfg(not(MODULE))]
    pub fn pages_per_huge_page(&self) -> u64 {
        1u64 << self.order.min(MAX_HSTATE_ORDER)
    }

    /// Returns the huge page shift for a base page shift (upstream `huge_page_shift`).
    #[cfg(not(MODULE))]
    pub fn huge_page_shift(&self, page_shift: u32) -> u32 {
        self.order.saturating_add(page_shift)
    }

    /// Returns whether this size is gigantic (upstream `hstate_is_gigantic`).
    #[cfg(not(MODULE))]
    pub fn hstate_is_gigantic(&self) -> bool {
        self.gigantic
    }
}

/// Helpers shared by the unit tests of every part.
#[cfg(test)]
mod test_util {
    use super::*;
    use std::vec::Vec;

    pub(super) const MAX_PAGE_ORDER: u32 = 10;

    pub(super) fn all(n: usize) -> NodeMask {
        NodeMask::first_n(n).unwrap()
    }

    pub(super) fn two_mb() -> Hstate {
        Hstate::new(9, MAX_PAGE_ORDER, 0).unwrap()
    }

    /// Drives a resize, allocating successfully unless `fail(nid)` says otherwise; returns
    /// the nodes of freed pages.
    pub(super) fn drive(
        h: &mut Hstate,
        mut plan: ResizePlan,
        fail: impl Fn(usize) -> bool,
    ) -> Vec<usize> {
        let mut freed = Vec::new();
        loop {
            match h.resize_step(&mut plan).unwrap() {
                ResizeStep::AllocFresh { nid, .. } => {
                    let r = if fail(nid) { None } else { Some(nid) };
                    h.resize_alloc_done(&mut plan, r).unwrap();
                }
                ResizeStep::FreePage { nid } => freed.push(nid),
                ResizeStep::Done { .. } => break,
            }
            h.check_invariants().unwrap();
        }
        freed
    }

    pub(super) fn resize(h: &mut Hstate, count: u64, target: ResizeTarget) -> Vec<usize> {
        let plan = h.set_max_huge_pages(count, target).unwrap();
        drive(h, plan, |_| false)
    }
}

#[cfg(test)]
mod tests {
    use super::test_util::*;
    use super::*;

    #[test]
    fn new_rejects_bad_arguments() {
        assert_eq!(
            Hstate::new(41, 10, 0).unwrap_err(),
            HstateError::InvalidOrder(41)
        );
        assert_eq!(
            Hstate::new(9, 10, 64).unwrap_err(),
            HstateError::InvalidNode(64)
        );
        let h = Hstate::new(18, 10, 0).unwrap();
        assert!(h.hstate_is_gigantic());
        assert_eq!(h.pages_per_huge_page(), 262_144);
        assert_eq!(h.huge_page_shift(12), 30);
        assert!(!two_mb().hstate_is_gigantic());
        assert_eq!(two_mb().pages_per_huge_page(), 512);
    }

    #[test]
    fn errors_display() {
        use std::string::ToString;
        assert_eq!(HstateError::InvalidNode(3).to_string(), "invalid node id 3");
        assert_eq!(
            HstateError::GiganticNoOvercommit.to_string(),
            "gigantic pages have no overcommit"
        );
    }
}
