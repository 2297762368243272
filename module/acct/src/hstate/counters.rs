// SPDX-License-Identifier: GPL-2.0

//! The counters of `struct hstate`, global and per node: the copies that sysfs and
//! `/proc/meminfo` read, the derived counts upstream computes from them, and the invariants
//! that tie them together.

#[cfg(not(MODULE))]
use super::NodeMask;
use super::{check_nid, Hstate, HstateError, MAX_NUMNODES};

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

/// Reads a per-node counter; out-of-range ids read as zero.
pub(super) fn node_get(counters: &[u64; MAX_NUMNODES], nid: usize) -> u64 {
    counters.get(nid).copied().unwrap_or(0)
}

/// Adds one to a per-node counter. Callers check `nid` and overflow first.
pub(super) fn node_inc(counters: &mut [u64; MAX_NUMNODES], nid: usize) {
    if let Some(c) = counters.get_mut(nid) {
        *c = c.saturating_add(1);
    }
}

/// Subtracts one from a per-node counter. Callers check `nid` and underflow first.
pub(super) fn node_dec(counters: &mut [u64; MAX_NUMNODES], nid: usize) {
    if let Some(c) = counters.get_mut(nid) {
        *c = c.saturating_sub(1);
    }
}

impl Hstate {
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

    /// Checks the invariants listed in the [module documentation](super).
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

    /// Counts a new page on `nid` that is neither free nor surplus yet (upstream
    /// `__prep_account_new_huge_page`). Checks everything before changing anything.
    pub(super) fn account_new_page(
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
}
