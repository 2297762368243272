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

/// A set of NUMA nodes (upstream `nodemask_t`, limited to [`MAX_NUMNODES`] bits).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NodeMask {
    bits: u64,
}

impl NodeMask {
    /// The empty mask.
    pub const EMPTY: NodeMask = NodeMask { bits: 0 };

    /// Builds a mask from its bit representation (bit `n` set means node `n`).
    pub const fn from_bits(bits: u64) -> Self {
        Self { bits }
    }

    /// Returns the bit representation.
    #[cfg(not(MODULE))]
    pub const fn bits(self) -> u64 {
        self.bits
    }

    /// Returns the mask holding only `nid` (upstream `init_nodemask_of_node`).
    pub fn of_node(nid: usize) -> Result<Self, HstateError> {
        let mut mask = Self::EMPTY;
        mask.set(nid)?;
        Ok(mask)
    }

    /// Returns the mask of nodes `0..nr_nodes`.
    #[cfg(not(MODULE))]
    pub fn first_n(nr_nodes: usize) -> Result<Self, HstateError> {
        if nr_nodes > MAX_NUMNODES {
            return Err(HstateError::InvalidNode(nr_nodes));
        }
        let bits = match u32::try_from(nr_nodes) {
            Ok(64) => u64::MAX,
            Ok(n) => 1u64.checked_shl(n).map_or(u64::MAX, |b| b.wrapping_sub(1)),
            Err(_) => u64::MAX,
        };
        Ok(Self { bits })
    }

    /// Adds `nid` to the mask.
    pub fn set(&mut self, nid: usize) -> Result<(), HstateError> {
        self.bits |= Self::bit(nid)?;
        Ok(())
    }

    /// Removes `nid` from the mask; ids out of range are ignored.
    pub fn clear(&mut self, nid: usize) {
        if let Ok(bit) = Self::bit(nid) {
            self.bits &= !bit;
        }
    }

    /// Returns whether `nid` is in the mask (never for ids out of range).
    pub fn contains(self, nid: usize) -> bool {
        Self::bit(nid).is_ok_and(|bit| self.bits & bit != 0)
    }

    /// Returns the number of nodes in the mask (upstream `nodes_weight`).
    pub fn weight(self) -> u32 {
        self.bits.count_ones()
    }

    /// Returns whether the mask is empty.
    pub fn is_empty(self) -> bool {
        self.bits == 0
    }

    /// Returns the lowest node in the mask (upstream `first_node`).
    pub fn first(self) -> Option<usize> {
        if self.bits == 0 {
            None
        } else {
            usize::try_from(self.bits.trailing_zeros()).ok()
        }
    }

    /// Returns the intersection of two masks.
    #[cfg(not(MODULE))]
    pub fn and(self, other: NodeMask) -> NodeMask {
        NodeMask {
            bits: self.bits & other.bits,
        }
    }

    /// Returns the next node after `nid` in the mask, wrapping around (upstream
    /// `next_node_in`); `None` only for an empty mask.
    pub fn next_in(self, nid: usize) -> Option<usize> {
        let above = match u32::try_from(nid) {
            Ok(n) if n < 63 => self.bits & u64::MAX.checked_shl(n.saturating_add(1)).unwrap_or(0),
            _ => 0,
        };
        if above != 0 {
            usize::try_from(above.trailing_zeros()).ok()
        } else {
            self.first()
        }
    }

    /// Iterates over the nodes in the mask in increasing order.
    pub fn iter(self) -> NodeMaskIter {
        NodeMaskIter { bits: self.bits }
    }

    fn bit(nid: usize) -> Result<u64, HstateError> {
        check_nid(nid)?;
        let shift = u32::try_from(nid).map_err(|_| HstateError::InvalidNode(nid))?;
        1u64.checked_shl(shift).ok_or(HstateError::InvalidNode(nid))
    }
}

/// Iterator over the nodes of a [`NodeMask`], lowest first.
#[derive(Clone, Debug)]
pub struct NodeMaskIter {
    bits: u64,
}

impl Iterator for NodeMaskIter {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        if self.bits == 0 {
            return None;
        }
        let nid = self.bits.trailing_zeros();
        // Clears the lowest set bit.
        self.bits &= self.bits.wrapping_sub(1);
        usize::try_from(nid).ok()
    }
}

/// A copy of the global counters, as the sysfs files and `/proc/meminfo` show them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HstateCounters {
    /// `nr_huge_pages`: pages in the pool, surplus included (`HugePages_Total`).
    pub nr_huge_pages: u64,
    /// `free_huge_pages`: pages on the free lists, reserved ones included (`HugePages_Free`).
    pub free_huge_pages: u64,
    /// `resv_huge_pages`: reservations not yet consumed (`HugePages_Rsvd`).
    pub resv_huge_pages: u64,
    /// `surplus_huge_pages`: pages above the persistent pool size (`HugePages_Surp`).
    pub surplus_huge_pages: u64,
    /// `nr_overcommit_huge_pages`: the surplus allocation limit.
    pub nr_overcommit_huge_pages: u64,
    /// `max_huge_pages`: the persistent pool size reached by the last resize.
    pub max_huge_pages: u64,
}

/// A copy of one node's counters, as the per-node sysfs files show them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NodeCounters {
    /// `nr_huge_pages_node[nid]`.
    pub nr_huge_pages: u64,
    /// `free_huge_pages_node[nid]`.
    pub free_huge_pages: u64,
    /// `surplus_huge_pages_node[nid]`.
    pub surplus_huge_pages: u64,
}

/// What the caller must do with a page given to [`Hstate::free_huge_page`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FreeAction {
    /// Put the page on the node's free list (upstream `enqueue_hugetlb_folio`).
    Enqueue,
    /// The page was a surplus page and has left the pool: return it to the buddy allocator
    /// (or `free_contig_range` for gigantic pages) after dropping the lock.
    ReturnToBuddy,
}

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
    #[cfg(not(MODULE))]
    pub fn nodes(&self) -> NodeMask {
        self.nodes
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

/// A violated invariant, reported by [`Hstate::check_invariants`].
#[cfg(not(MODULE))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InvariantViolation {
    /// `free_huge_pages > nr_huge_pages`.
    FreeAboveNr,
    /// `resv_huge_pages > free_huge_pages`.
    ResvAboveFree,
    /// `surplus_huge_pages > nr_huge_pages`.
    SurplusAboveNr,
    /// A node's free or surplus count is above its page count.
    Node(usize),
    /// The per-node counters do not sum to the global ones.
    NodeSums,
}

/// Direction of an [`Hstate::adjust_pool_surplus`] step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SurplusDelta {
    /// Turn one surplus page into a persistent one.
    Decrease,
    /// Turn one persistent page into a surplus one.
    Increase,
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

/// Reads a per-node counter; out-of-range ids read as zero.
fn node_get(counters: &[u64; MAX_NUMNODES], nid: usize) -> u64 {
    counters.get(nid).copied().unwrap_or(0)
}

/// Adds one to a per-node counter. Callers check `nid` and overflow first.
fn node_inc(counters: &mut [u64; MAX_NUMNODES], nid: usize) {
    if let Some(c) = counters.get_mut(nid) {
        *c = c.saturating_add(1);
    }
}

/// Subtracts one from a per-node counter. Callers check `nid` and underflow first.
fn node_dec(counters: &mut [u64; MAX_NUMNODES], nid: usize) {
    if let Some(c) = counters.get_mut(nid) {
        *c = c.saturating_sub(1);
    }
}

/// Upstream `get_valid_node_allowed`: `nid` if allowed, else the next allowed node.
fn get_valid_node_allowed(nid: usize, nodes_allowed: NodeMask) -> Option<usize> {
    if nodes_allowed.contains(nid) {
        Some(nid)
    } else {
        nodes_allowed.next_in(nid)
    }
}

/// Upstream `hstate_next_node_to_alloc` / `hstate_next_node_to_free`: returns the saved node
/// (made valid for the mask) and advances the saved node round-robin.
fn next_node_round_robin(next: &mut usize, nodes_allowed: NodeMask) -> Option<usize> {
    let nid = get_valid_node_allowed(*next, nodes_allowed)?;
    *next = nodes_allowed.next_in(nid).unwrap_or(nid);
    Some(nid)
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

    /// Returns a copy of the global counters.
    pub fn counters(&self) -> HstateCounters {
        HstateCounters {
            nr_huge_pages: self.nr_huge_pages,
            free_huge_pages: self.free_huge_pages,
            resv_huge_pages: self.resv_huge_pages,
            surplus_huge_pages: self.surplus_huge_pages,
            nr_overcommit_huge_pages: self.nr_overcommit_huge_pages,
            max_huge_pages: self.max_huge_pages,
        }
    }

    /// Returns a copy of node `nid`'s counters (zeros for ids out of range).
    pub fn node_counters(&self, nid: usize) -> NodeCounters {
        NodeCounters {
            nr_huge_pages: node_get(&self.nr_huge_pages_node, nid),
            free_huge_pages: node_get(&self.free_huge_pages_node, nid),
            surplus_huge_pages: node_get(&self.surplus_huge_pages_node, nid),
        }
    }

    /// Returns `nr_huge_pages`.
    #[cfg(not(MODULE))]
    pub fn nr_huge_pages(&self) -> u64 {
        self.nr_huge_pages
    }

    /// Returns `resv_huge_pages`.
    pub fn resv_huge_pages(&self) -> u64 {
        self.resv_huge_pages
    }

    /// Returns `surplus_huge_pages`.
    #[cfg(not(MODULE))]
    pub fn surplus_huge_pages(&self) -> u64 {
        self.surplus_huge_pages
    }

    /// Returns `max_huge_pages`, the base of `size=N%` mount options.
    pub fn max_huge_pages(&self) -> u64 {
        self.max_huge_pages
    }

    /// Returns `next_nid_to_free`.
    #[cfg(not(MODULE))]
    pub fn next_nid_to_free(&self) -> usize {
        self.next_nid_to_free
    }

    /// Returns `nr_huge_pages - surplus_huge_pages` (upstream `persistent_huge_pages`).
    pub fn persistent_huge_pages(&self) -> u64 {
        self.nr_huge_pages.saturating_sub(self.surplus_huge_pages)
    }

    /// Returns free pages not promised to a reservation (upstream `available_huge_pages`).
    pub fn available_huge_pages(&self) -> u64 {
        self.free_huge_pages.saturating_sub(self.resv_huge_pages)
    }

    /// Returns the free pages on the nodes of `mask` (upstream `allowed_mems_nr`).
    #[cfg(not(MODULE))]
    pub fn allowed_mems_nr(&self, mask: NodeMask) -> u64 {
        mask.iter().fold(0u64, |acc, nid| {
            acc.saturating_add(node_get(&self.free_huge_pages_node, nid))
        })
    }

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

    /// Checks the invariants listed in the [module documentation](self).
    #[cfg(not(MODULE))]
    pub fn check_invariants(&self) -> Result<(), InvariantViolation> {
        if self.free_huge_pages > self.nr_huge_pages {
            return Err(InvariantViolation::FreeAboveNr);
        }
        if self.resv_huge_pages > self.free_huge_pages {
            return Err(InvariantViolation::ResvAboveFree);
        }
        if self.surplus_huge_pages > self.nr_huge_pages {
            return Err(InvariantViolation::SurplusAboveNr);
        }
        let (mut nr, mut free, mut surplus) = (0u64, 0u64, 0u64);
        for nid in 0..MAX_NUMNODES {
            let c = self.node_counters(nid);
            if c.free_huge_pages > c.nr_huge_pages || c.surplus_huge_pages > c.nr_huge_pages {
                return Err(InvariantViolation::Node(nid));
            }
            nr = nr.saturating_add(c.nr_huge_pages);
            free = free.saturating_add(c.free_huge_pages);
            surplus = surplus.saturating_add(c.surplus_huge_pages);
        }
        if nr != self.nr_huge_pages
            || free != self.free_huge_pages
            || surplus != self.surplus_huge_pages
        {
            return Err(InvariantViolation::NodeSums);
        }
        Ok(())
    }

    // ---------------------------------------------------------------------------------------
    // Page lifecycle events.
    // ---------------------------------------------------------------------------------------

    /// Counts a new page on `nid` that is neither free nor surplus yet (upstream
    /// `__prep_account_new_huge_page`). Checks everything before changing anything.
    fn account_new_page(
        &mut self,
        nid: usize,
        surplus: bool,
        free: bool,
    ) -> Result<(), HstateError> {
        check_nid(nid)?;
        let overflow = |v: u64| v.checked_add(1).ok_or(HstateError::Overflow);
        overflow(self.nr_huge_pages)?;
        overflow(node_get(&self.nr_huge_pages_node, nid))?;
        // Free and surplus counts never exceed nr, so they cannot overflow once nr does not.
        self.nr_huge_pages = self.nr_huge_pages.saturating_add(1);
        node_inc(&mut self.nr_huge_pages_node, nid);
        if surplus {
            self.surplus_huge_pages = self.surplus_huge_pages.saturating_add(1);
            node_inc(&mut self.surplus_huge_pages_node, nid);
        }
        if free {
            self.free_huge_pages = self.free_huge_pages.saturating_add(1);
            node_inc(&mut self.free_huge_pages_node, nid);
        }
        Ok(())
    }

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
    /// `enqueue_hugetlb_folio`); used for the pages a [`GatherStep::Commit`] keeps.
    pub fn enqueue_huge_page(&mut self, nid: usize) -> Result<(), HstateError> {
        check_nid(nid)?;
        if !self.has_nonfree_page(nid) {
            return Err(HstateError::NotInUse(nid));
        }
        self.free_huge_pages = self.free_huge_pages.saturating_add(1);
        node_inc(&mut self.free_huge_pages_node, nid);
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

    // ---------------------------------------------------------------------------------------
    // Round-robin node selection.
    // ---------------------------------------------------------------------------------------

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
    /// the module documentation).
    fn remove_pool_huge_page(
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

    // ---------------------------------------------------------------------------------------
    // set_max_huge_pages.
    // ---------------------------------------------------------------------------------------

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

    // ---------------------------------------------------------------------------------------
    // Reservations: hugetlb_acct_memory.
    // ---------------------------------------------------------------------------------------

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
    use super::*;
    use std::vec::Vec;

    const MAX_PAGE_ORDER: u32 = 10;

    fn all(n: usize) -> NodeMask {
        NodeMask::first_n(n).unwrap()
    }

    fn two_mb() -> Hstate {
        Hstate::new(9, MAX_PAGE_ORDER, 0).unwrap()
    }

    /// Drives a resize, allocating successfully unless `fail(nid)` says otherwise; returns
    /// the nodes of freed pages.
    fn drive(h: &mut Hstate, mut plan: ResizePlan, fail: impl Fn(usize) -> bool) -> Vec<usize> {
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

    fn resize(h: &mut Hstate, count: u64, target: ResizeTarget) -> Vec<usize> {
        let plan = h.set_max_huge_pages(count, target).unwrap();
        drive(h, plan, |_| false)
    }

    #[test]
    fn nodemask_basics() {
        let mut m = NodeMask::EMPTY;
        assert!(m.is_empty());
        assert_eq!(m.next_in(0), None);
        m.set(3).unwrap();
        m.set(63).unwrap();
        assert_eq!(m.set(64), Err(HstateError::InvalidNode(64)));
        assert!(m.contains(3) && m.contains(63) && !m.contains(4) && !m.contains(1000));
        assert_eq!(m.weight(), 2);
        assert_eq!(m.first(), Some(3));
        assert_eq!(m.next_in(3), Some(63));
        assert_eq!(m.next_in(63), Some(3));
        assert_eq!(m.next_in(10), Some(63));
        assert_eq!(m.next_in(usize::MAX), Some(3));
        assert_eq!(m.iter().collect::<Vec<_>>(), [3, 63]);
        m.clear(3);
        m.clear(99);
        assert_eq!(m.iter().collect::<Vec<_>>(), [63]);
        assert_eq!(all(64).weight(), 64);
        assert_eq!(all(0), NodeMask::EMPTY);
        assert_eq!(all(2).bits(), 0b11);
        assert!(NodeMask::first_n(65).is_err());
        assert_eq!(NodeMask::of_node(5).unwrap().bits(), 1 << 5);
        assert_eq!(all(4).and(NodeMask::from_bits(0b1010)).bits(), 0b1010);
    }

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
