// SPDX-License-Identifier: GPL-2.0

//! Sets of NUMA nodes (upstream `nodemask_t`, include/linux/nodemask.h).

#[cfg(not(MODULE))]
use super::MAX_NUMNODES;
use super::{check_nid, HstateError};

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

/// Upstream `get_valid_node_allowed`: `nid` if allowed, else the next allowed node.
pub(super) fn get_valid_node_allowed(nid: usize, nodes_allowed: NodeMask) -> Option<usize> {
    if nodes_allowed.contains(nid) {
        Some(nid)
    } else {
        nodes_allowed.next_in(nid)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::super::*;
    use super::*;
    use std::vec::Vec;

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
}
