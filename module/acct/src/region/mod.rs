// SPDX-License-Identifier: GPL-2.0

//! The reservation map: a set of `[from, to)` huge page index regions (upstream
//! `struct resv_map` and `struct file_region`, mm/hugetlb.c).
//!
//! For a shared mapping (one map per inode) a region records pages that have a reservation
//! or have been instantiated; for a private mapping (one map per owner VMA) it records the
//! pages whose reservation was consumed. The map only answers "how many pages of `[f, t)` are
//! (not) in the map" and records changes; the callers turn the answers into subpool and
//! hstate accounting exactly as upstream does.
//!
//! # Storage without an allocator
//!
//! The map keeps its regions sorted in the first `nr_regions` slots of a [`RegionStore`], a
//! growable array the caller provides: a `KVec<FileRegion>` in the kernel, a `Vec` or the
//! fixed-size [`FixedStore`] (host only) in tests. A store only hands out its slots and
//! grows; it never shrinks and never needs to drop or move entries itself, so a `KVec`
//! implementation is four lines of safe code (`as_slice`, `as_mut_slice`, `extend_with`).
//!
//! Regions are kept coalesced: sorted, non-empty, disjoint and never adjacent. Adding a range
//! therefore replaces all the regions it touches with one region, so any `region_add` needs at
//! most one new slot, however the map changed since its `region_chg`.
//!
//! # The two-phase protocol
//!
//! Upstream splits "add a range" in two so that the fallible allocation happens before any
//! accounting is committed:
//!
//! 1. [`ResvMap::region_chg`] returns how many pages of `[f, t)` are not in the map yet and
//!    makes sure one spare slot is set aside for the coming add (`adds_in_progress`). This is
//!    the only place an add allocates ([`RegionStore::try_grow`]); it may fail with
//!    [`RegionError::NoMem`] and then changes nothing.
//! 2. The caller charges the subpool and the hstate for the pages, then either commits with
//!    [`ResvMap::region_add`], which uses the slot set aside, never allocates and never fails
//!    for lack of memory, or gives up with [`ResvMap::region_abort`], which releases the slot.
//!
//! `region_add` returns the pages it actually added, which can be fewer than `region_chg`
//! announced if the map changed in between (a racing fault added a page); the caller gives
//! the difference back, as `hugetlb_reserve_pages` does.
//!
//! Upstream's `regions_needed` out-parameter is gone: with coalesced regions every add needs
//! exactly one slot, so `region_add` and `region_abort` need only the range (and not even that
//! for the abort).
//!
//! ```
//! use rhugetlbfs_acct::region::{FixedStore, ResvMap};
//!
//! let mut map = ResvMap::new(FixedStore::<8>::new());
//! // mmap of pages [0, 4): how many need a reservation?
//! let chg = map.region_chg(0, 4)?;
//! assert_eq!(chg, 4);
//! // ... hugepage_subpool_get_pages(chg), hugetlb_acct_memory(...) succeed ...
//! assert_eq!(map.region_add(0, 4)?, 4);
//! // A second mapping of [2, 6) only needs 2 more.
//! assert_eq!(map.region_chg(2, 6)?, 2);
//! map.region_abort()?; // ... but the subpool said no.
//! // Hole punch of page 1: one reservation to give back.
//! assert_eq!(map.region_del(1, 2)?, 1);
//! assert_eq!(map.region_count(0, 6), 3);
//! # Ok::<(), rhugetlbfs_acct::region::RegionError>(())
//! ```
//!
//! # Splitting on delete
//!
//! [`ResvMap::region_del`] needs one extra slot when the deleted range lies strictly inside a
//! region. It first uses a spare slot that no add in progress has claimed; failing that, it
//! calls [`RegionStore::try_grow`]. If that fails it returns [`RegionError::NoMem`] with the
//! map unchanged (upstream returns `-ENOMEM` and `hugetlb_unreserve_pages` propagates it;
//! callers fall back to `hugetlb_fix_reserve_counts`). Deleting to the end
//! (`t == u64::MAX`, upstream's `LONG_MAX`) never splits and never fails.
//!
//! # Locking and allocation
//!
//! All methods run under the map's lock. `try_grow` may allocate, so with a sleeping lock
//! (a mutex: every upstream caller of `region_*` runs in process context) the store can use
//! `GFP_KERNEL` directly. With a spinlock, the store must not sleep; it can fail instead,
//! and the caller then retries as upstream does after dropping its lock: on
//! `NoMem { needed_slots }`, unlock, build a new store with at least `needed_slots` slots, lock,
//! hand it over with [`ResvMap::replace_store`] (which moves the regions and gives back the
//! store not kept, to be freed after unlocking), and repeat the call. The module's maps sit
//! under a mutex and grow with `GFP_KERNEL`, so `replace_store` is host only: the tests keep
//! the pattern working for a caller that needs it.
//!
//! # Layout
//!
//! This file holds the map and the region algorithm (`region_chg`, `region_add`,
//! `region_abort`, `region_del`, `region_count`); `store` holds the storage side: the
//! [`RegionStore`] trait, [`FixedStore`], and the map's slot bookkeeping (spare slots,
//! growing, [`ResvMap::replace_store`]).

mod store;

pub use store::{RegionStore, StoreAllocError};

#[cfg(not(MODULE))]
pub use store::FixedStore;

use core::fmt;

/// One reserved region `[from, to)` of huge page indices (upstream `struct file_region`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FileRegion {
    /// First huge page index in the region.
    pub from: u64,
    /// First huge page index after the region.
    pub to: u64,
}

impl FileRegion {
    /// An empty region, the value spare slots hold.
    pub const EMPTY: FileRegion = FileRegion { from: 0, to: 0 };

    /// Returns the number of pages in the region.
    pub fn len(&self) -> u64 {
        self.to.saturating_sub(self.from)
    }

    /// Returns whether the region holds no page.
    #[cfg(not(MODULE))]
    pub fn is_empty(&self) -> bool {
        self.to <= self.from
    }
}

/// Errors of the reservation map. Every error leaves the map unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegionError {
    /// `from > to`.
    InvalidRange,
    /// The store could not grow; retry with a store of at least `needed_slots` slots (see
    /// [`ResvMap::replace_store`]). Upstream: `-ENOMEM`.
    NoMem {
        /// Slots the operation needs in total.
        needed_slots: usize,
    },
    /// `region_add` or `region_abort` without a matching `region_chg`.
    NoAddInProgress,
    /// Too many adds in progress or regions to count.
    Overflow,
    /// The store holds fewer slots than the map uses (it shrank behind the map's back).
    StoreShrunk,
}

impl fmt::Display for RegionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidRange => f.write_str("invalid range"),
            Self::NoMem { needed_slots } => {
                write!(f, "out of region entries ({needed_slots} needed)")
            }
            Self::NoAddInProgress => f.write_str("no region_chg in progress"),
            Self::Overflow => f.write_str("region count overflow"),
            Self::StoreShrunk => f.write_str("region store shrank"),
        }
    }
}

/// The reservation map of one inode or one private mapping (upstream `struct resv_map`).
#[derive(Clone, Debug)]
pub struct ResvMap<S: RegionStore> {
    store: S,
    nr_regions: usize,
    adds_in_progress: usize,
}

fn check_range(f: u64, t: u64) -> Result<(), RegionError> {
    if f <= t {
        Ok(())
    } else {
        Err(RegionError::InvalidRange)
    }
}

impl<S: RegionStore> ResvMap<S> {
    /// Creates an empty map on `store` (upstream `resv_map_alloc`); existing slot contents
    /// are ignored.
    pub fn new(store: S) -> Self {
        Self {
            store,
            nr_regions: 0,
            adds_in_progress: 0,
        }
    }

    /// Returns the regions, sorted, coalesced and non-empty.
    pub fn regions(&self) -> &[FileRegion] {
        self.store.slots().get(..self.nr_regions).unwrap_or(&[])
    }

    /// Returns the number of regions.
    #[cfg(not(MODULE))]
    pub fn nr_regions(&self) -> usize {
        self.nr_regions
    }

    /// Returns the number of `region_chg` calls not yet followed by `region_add` or
    /// `region_abort` (upstream `adds_in_progress`).
    #[cfg(not(MODULE))]
    pub fn adds_in_progress(&self) -> usize {
        self.adds_in_progress
    }

    /// Returns the total number of pages in the map.
    #[cfg(not(MODULE))]
    pub fn total_pages(&self) -> u64 {
        self.regions()
            .iter()
            .fold(0u64, |acc, rg| acc.saturating_add(rg.len()))
    }

    /// Returns the index of the first region ending at or after `pos` (`to >= pos`).
    fn first_touching(&self, pos: u64) -> usize {
        self.regions().partition_point(|rg| rg.to < pos)
    }

    /// Returns the index of the first region ending after `pos` (`to > pos`).
    fn first_ending_after(&self, pos: u64) -> usize {
        self.regions().partition_point(|rg| rg.to <= pos)
    }

    /// Counts the pages of `[f, t)` in the map (upstream `region_count`); empty or inverted
    /// ranges count 0.
    pub fn region_count(&self, f: u64, t: u64) -> u64 {
        if f >= t {
            return 0;
        }
        let start = self.first_ending_after(f);
        let mut count = 0u64;
        for rg in self.regions().iter().skip(start) {
            if rg.from >= t {
                break;
            }
            let seg_to = rg.to.min(t);
            let seg_from = rg.from.max(f);
            count = count.saturating_add(seg_to.saturating_sub(seg_from));
        }
        count
    }

    /// Starts adding `[f, t)`: returns how many of its pages are not in the map yet and sets
    /// one slot aside for the matching [`ResvMap::region_add`] (upstream `region_chg`).
    ///
    /// May grow the store; on [`RegionError::NoMem`] nothing changed and no add is in
    /// progress. Every successful call must be followed by exactly one `region_add` or
    /// `region_abort`.
    pub fn region_chg(&mut self, f: u64, t: u64) -> Result<u64, RegionError> {
        check_range(f, t)?;
        self.check_store()?;
        let needed = self
            .used_slots()
            .checked_add(1)
            .ok_or(RegionError::Overflow)?;
        let adds = self
            .adds_in_progress
            .checked_add(1)
            .ok_or(RegionError::Overflow)?;
        self.ensure_slots(needed)?;
        self.adds_in_progress = adds;
        Ok(t.saturating_sub(f).saturating_sub(self.region_count(f, t)))
    }

    /// Releases the slot set aside by a `region_chg` whose add will not happen (upstream
    /// `region_abort`; the range it took is not needed).
    pub fn region_abort(&mut self) -> Result<(), RegionError> {
        self.adds_in_progress = self
            .adds_in_progress
            .checked_sub(1)
            .ok_or(RegionError::NoAddInProgress)?;
        Ok(())
    }

    /// Adds `[f, t)` to the map, using the slot set aside by the matching `region_chg`, and
    /// returns the number of pages that were not in the map (upstream `region_add`).
    ///
    /// Never allocates and never fails for lack of memory. Errors: no add in progress, an
    /// inverted range, a shrunk store (all leave the map unchanged).
    pub fn region_add(&mut self, f: u64, t: u64) -> Result<u64, RegionError> {
        check_range(f, t)?;
        if self.adds_in_progress == 0 {
            return Err(RegionError::NoAddInProgress);
        }
        self.check_store()?;
        let added = t.saturating_sub(f).saturating_sub(self.region_count(f, t));
        if f < t {
            // Regions touching [f, t), adjacent ones included, are regions[i..j].
            let i = self.first_touching(f);
            let j = i.saturating_add(
                self.regions()
                    .iter()
                    .skip(i)
                    .take_while(|rg| rg.from <= t)
                    .count(),
            );
            if i == j {
                self.insert_region(i, FileRegion { from: f, to: t })?;
            } else {
                let first = self.regions().get(i).copied().unwrap_or(FileRegion::EMPTY);
                let last = self
                    .regions()
                    .get(j.saturating_sub(1))
                    .copied()
                    .unwrap_or(FileRegion::EMPTY);
                let merged = FileRegion {
                    from: first.from.min(f),
                    to: last.to.max(t),
                };
                self.replace_regions(i, j, merged)?;
            }
        }
        self.adds_in_progress = self.adds_in_progress.saturating_sub(1);
        Ok(added)
    }

    /// Removes `[f, t)` from the map and returns the number of pages removed (upstream
    /// `region_del`). `t == u64::MAX` deletes everything from `f` on.
    ///
    /// Splitting a region needs one more slot: a spare one if there is one, else the store
    /// grows. If it cannot, [`RegionError::NoMem`] is returned and nothing changed.
    pub fn region_del(&mut self, f: u64, t: u64) -> Result<u64, RegionError> {
        check_range(f, t)?;
        self.check_store()?;
        if f == t {
            return Ok(0);
        }
        let i = self.first_ending_after(f);
        let Some(&rg) = self.regions().get(i) else {
            return Ok(0);
        };
        if rg.from >= t {
            return Ok(0);
        }
        if rg.from < f && t < rg.to {
            // Must split: [f, t) lies strictly inside this one region.
            let needed = self
                .used_slots()
                .checked_add(1)
                .ok_or(RegionError::Overflow)?;
            self.ensure_slots(needed)?;
            self.set_region(
                i,
                FileRegion {
                    from: rg.from,
                    to: f,
                },
            )?;
            self.insert_region(i.saturating_add(1), FileRegion { from: t, to: rg.to })?;
            return Ok(t.saturating_sub(f));
        }
        let mut deleted = 0u64;
        // Trim the end of a region that starts before f.
        let mut first_whole = i;
        if rg.from < f {
            deleted = rg.to.min(t).saturating_sub(f);
            self.set_region(
                i,
                FileRegion {
                    from: rg.from,
                    to: f,
                },
            )?;
            first_whole = i.saturating_add(1);
        }
        // Remove regions inside [f, t), then trim the start of one that ends after t.
        let mut end_whole = first_whole;
        while let Some(&rg) = self.regions().get(end_whole) {
            if rg.from >= t {
                break;
            }
            if rg.to <= t {
                deleted = deleted.saturating_add(rg.len());
                end_whole = end_whole.saturating_add(1);
            } else {
                deleted = deleted.saturating_add(t.saturating_sub(rg.from));
                self.set_region(end_whole, FileRegion { from: t, to: rg.to })?;
                break;
            }
        }
        self.remove_regions(first_whole, end_whole)?;
        Ok(deleted)
    }

    /// Checks that the regions are sorted, non-empty, disjoint and not adjacent, and that the
    /// store holds the slots set aside.
    #[cfg(not(MODULE))]
    pub fn check_invariants(&self) -> Result<(), RegionError> {
        self.check_store()?;
        let regions = self.regions();
        if regions.iter().any(FileRegion::is_empty) {
            return Err(RegionError::InvalidRange);
        }
        if regions.windows(2).any(|w| match w {
            [a, b] => a.to >= b.from,
            _ => false,
        }) {
            return Err(RegionError::InvalidRange);
        }
        Ok(())
    }

    fn set_region(&mut self, index: usize, region: FileRegion) -> Result<(), RegionError> {
        let nr = self.nr_regions;
        let slot = self
            .store
            .slots_mut()
            .get_mut(..nr)
            .and_then(|regions| regions.get_mut(index))
            .ok_or(RegionError::StoreShrunk)?;
        *slot = region;
        Ok(())
    }

    /// Inserts `region` at `index`, using the first slot past the regions.
    fn insert_region(&mut self, index: usize, region: FileRegion) -> Result<(), RegionError> {
        let nr = self.nr_regions;
        let new_nr = nr.checked_add(1).ok_or(RegionError::Overflow)?;
        let window = self
            .store
            .slots_mut()
            .get_mut(index..new_nr)
            .ok_or(RegionError::StoreShrunk)?;
        window.rotate_right(1);
        if let Some(slot) = window.first_mut() {
            *slot = region;
        }
        self.nr_regions = new_nr;
        Ok(())
    }

    /// Replaces `regions[i..j]` (at least one) with `region`.
    fn replace_regions(
        &mut self,
        i: usize,
        j: usize,
        region: FileRegion,
    ) -> Result<(), RegionError> {
        self.set_region(i, region)?;
        self.remove_regions(i.saturating_add(1), j)
    }

    /// Removes `regions[i..j]`.
    fn remove_regions(&mut self, i: usize, j: usize) -> Result<(), RegionError> {
        if j <= i {
            return Ok(());
        }
        let nr = self.nr_regions;
        let count = j.saturating_sub(i);
        let tail = self
            .store
            .slots_mut()
            .get_mut(i..nr)
            .ok_or(RegionError::StoreShrunk)?;
        if count > tail.len() {
            return Err(RegionError::StoreShrunk);
        }
        tail.rotate_left(count);
        self.nr_regions = nr.saturating_sub(count);
        Ok(())
    }
}

/// Helpers shared by the unit tests of both parts.
#[cfg(test)]
mod test_util {
    use super::*;
    use std::vec::Vec;

    /// A `Vec`-backed store that can be told to refuse growing.
    #[derive(Debug, Default)]
    pub(super) struct VecStore {
        pub(super) slots: Vec<FileRegion>,
        pub(super) refuse: bool,
        pub(super) grows: usize,
    }

    impl RegionStore for VecStore {
        fn slots(&self) -> &[FileRegion] {
            &self.slots
        }
        fn slots_mut(&mut self) -> &mut [FileRegion] {
            &mut self.slots
        }
        fn try_grow(&mut self, min_slots: usize) -> Result<(), StoreAllocError> {
            if self.refuse {
                return Err(StoreAllocError);
            }
            self.grows += 1;
            if self.slots.len() < min_slots {
                self.slots
                    .resize(min_slots, FileRegion { from: 77, to: 78 });
            }
            Ok(())
        }
    }

    pub(super) fn rg(from: u64, to: u64) -> FileRegion {
        FileRegion { from, to }
    }

    pub(super) fn add(map: &mut ResvMap<impl RegionStore>, f: u64, t: u64) -> u64 {
        let chg = map.region_chg(f, t).unwrap();
        let added = map.region_add(f, t).unwrap();
        assert_eq!(chg, added);
        map.check_invariants().unwrap();
        added
    }
}

#[cfg(test)]
mod tests {
    use super::test_util::*;
    use super::*;

    #[test]
    fn chg_add_coalesce() {
        let mut map = ResvMap::new(VecStore::default());
        assert_eq!(add(&mut map, 10, 20), 10);
        assert_eq!(add(&mut map, 30, 40), 10);
        assert_eq!(map.regions(), [rg(10, 20), rg(30, 40)]);
        // Adjacent ranges merge.
        assert_eq!(add(&mut map, 20, 25), 5);
        assert_eq!(map.regions(), [rg(10, 25), rg(30, 40)]);
        // A range spanning both fills the gap only.
        assert_eq!(add(&mut map, 0, 50), 50 - 15 - 10);
        assert_eq!(map.regions(), [rg(0, 50)]);
        assert_eq!(add(&mut map, 5, 6), 0);
        assert_eq!(map.total_pages(), 50);
        assert_eq!(map.adds_in_progress(), 0);
        assert_eq!(add(&mut map, 60, 60), 0);
        assert_eq!(map.nr_regions(), 1);
    }

    #[test]
    fn add_never_allocates_even_after_races() {
        let mut map = ResvMap::new(VecStore::default());
        // Two chg calls in progress at once, then the map changes under the first.
        assert_eq!(map.region_chg(0, 10).unwrap(), 10);
        assert_eq!(map.region_chg(20, 30).unwrap(), 10);
        let grows = map.store().grows;
        map.store.refuse = true;
        assert_eq!(map.region_add(20, 30).unwrap(), 10);
        assert_eq!(map.region_add(0, 10).unwrap(), 10);
        assert_eq!(map.store().grows, grows);
        assert_eq!(map.regions(), [rg(0, 10), rg(20, 30)]);
        // chg/add racing with a fault that adds a page inside: add returns less than chg.
        map.store.refuse = false;
        assert_eq!(map.region_chg(40, 45).unwrap(), 5);
        add(&mut map, 42, 43);
        assert_eq!(map.region_add(40, 45).unwrap(), 4);
        map.check_invariants().unwrap();
    }

    #[test]
    fn chg_nomem_changes_nothing() {
        let mut map = ResvMap::new(FixedStore::<2>::new());
        add(&mut map, 0, 1);
        map.region_chg(5, 6).unwrap();
        // Both slots used (one region, one add in progress).
        assert_eq!(
            map.region_chg(8, 9),
            Err(RegionError::NoMem { needed_slots: 3 })
        );
        assert_eq!(map.adds_in_progress(), 1);
        map.region_abort().unwrap();
        assert_eq!(map.region_abort(), Err(RegionError::NoAddInProgress));
        assert_eq!(map.region_add(0, 1), Err(RegionError::NoAddInProgress));
        assert_eq!(map.region_chg(8, 9).unwrap(), 1);
        assert_eq!(map.region_add(8, 9).unwrap(), 1);
        assert_eq!(map.regions(), [rg(0, 1), rg(8, 9)]);
    }

    #[test]
    fn del_trims_removes_and_splits() {
        let mut map = ResvMap::new(VecStore::default());
        add(&mut map, 0, 10);
        add(&mut map, 20, 30);
        add(&mut map, 40, 50);
        assert_eq!(map.region_del(5, 45).unwrap(), 5 + 10 + 5);
        assert_eq!(map.regions(), [rg(0, 5), rg(45, 50)]);
        assert_eq!(map.region_del(1, 3).unwrap(), 2);
        assert_eq!(map.regions(), [rg(0, 1), rg(3, 5), rg(45, 50)]);
        assert_eq!(map.region_del(0, 1).unwrap(), 1);
        assert_eq!(map.region_del(100, 200).unwrap(), 0);
        assert_eq!(map.region_del(5, 45).unwrap(), 0);
        assert_eq!(map.region_del(7, 7).unwrap(), 0);
        assert_eq!(map.region_del(4, u64::MAX).unwrap(), 6);
        assert_eq!(map.regions(), [rg(3, 4)]);
        assert_eq!(map.region_del(6, 5), Err(RegionError::InvalidRange));
        map.check_invariants().unwrap();
    }

    #[test]
    fn del_split_uses_spare_then_grows_then_fails_cleanly() {
        let mut map = ResvMap::new(FixedStore::<2>::new());
        add(&mut map, 0, 10);
        assert_eq!(map.spare_slots(), 1);
        assert_eq!(map.region_del(2, 3).unwrap(), 1);
        assert_eq!(map.regions(), [rg(0, 2), rg(3, 10)]);
        assert_eq!(
            map.region_del(5, 6),
            Err(RegionError::NoMem { needed_slots: 3 })
        );
        assert_eq!(map.regions(), [rg(0, 2), rg(3, 10)]);
        // Deleting to the end never splits.
        assert_eq!(map.region_del(5, u64::MAX).unwrap(), 5);

        // A slot set aside for an add is not taken by a split.
        let mut map = ResvMap::new(FixedStore::<2>::new());
        add(&mut map, 0, 10);
        map.region_chg(20, 21).unwrap();
        assert_eq!(
            map.region_del(2, 3),
            Err(RegionError::NoMem { needed_slots: 3 })
        );
        assert_eq!(map.region_add(20, 21).unwrap(), 1);
    }

    #[test]
    fn count_and_errors() {
        let mut map = ResvMap::new(FixedStore::<8>::default());
        add(&mut map, 2, 4);
        add(&mut map, 6, 9);
        assert_eq!(map.region_count(0, 100), 5);
        assert_eq!(map.region_count(3, 7), 2);
        assert_eq!(map.region_count(4, 6), 0);
        assert_eq!(map.region_count(7, 3), 0);
        assert_eq!(map.region_chg(5, 4), Err(RegionError::InvalidRange));
        assert_eq!(map.region_chg(0, u64::MAX).unwrap(), u64::MAX - 5);
        assert_eq!(map.region_add(0, u64::MAX).unwrap(), u64::MAX - 5);
        assert_eq!(map.regions(), [rg(0, u64::MAX)]);
        assert_eq!(map.region_del(0, u64::MAX).unwrap(), u64::MAX);
        assert_eq!(map.nr_regions(), 0);
    }
}
