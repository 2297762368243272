// SPDX-License-Identifier: GPL-2.0

//! Where a [`ResvMap`] keeps its regions: the caller's [`RegionStore`], the fixed-size
//! [`FixedStore`], and the map's bookkeeping of the store's slots (in use, set aside for adds
//! in progress, spare), including growing the store and swapping it for a bigger one.

use super::{FileRegion, RegionError, ResvMap};

/// The allocation of a [`RegionStore`] failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoreAllocError;

/// Growable slot array that holds a [`ResvMap`]'s regions; implemented by the caller.
///
/// The map uses a prefix of the slots for its regions and treats the rest as spare; it never
/// asks the store to shrink.
pub trait RegionStore {
    /// Returns all slots. The length must not change except through `try_grow`.
    fn slots(&self) -> &[FileRegion];

    /// Returns all slots, mutably.
    fn slots_mut(&mut self) -> &mut [FileRegion];

    /// Grows the store to at least `min_slots` slots, keeping the contents of the existing
    /// ones (new slots may hold anything). May allocate; must not panic. Returns an error,
    /// with the store unchanged, if it cannot grow.
    fn try_grow(&mut self, min_slots: usize) -> Result<(), StoreAllocError>;
}

/// A [`RegionStore`] of `N` slots that cannot grow; needs no allocator.
#[cfg(not(MODULE))]
#[derive(Clone, Debug)]
pub struct FixedStore<const N: usize> {
    slots: [FileRegion; N],
}

#[cfg(not(MODULE))]
impl<const N: usize> FixedStore<N> {
    /// Creates a store of `N` empty slots.
    pub const fn new() -> Self {
        Self {
            slots: [FileRegion::EMPTY; N],
        }
    }
}

#[cfg(not(MODULE))]
impl<const N: usize> Default for FixedStore<N> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(not(MODULE))]
impl<const N: usize> RegionStore for FixedStore<N> {
    fn slots(&self) -> &[FileRegion] {
        &self.slots
    }

    fn slots_mut(&mut self) -> &mut [FileRegion] {
        &mut self.slots
    }

    fn try_grow(&mut self, min_slots: usize) -> Result<(), StoreAllocError> {
        if min_slots <= N {
            Ok(())
        } else {
            Err(StoreAllocError)
        }
    }
}

impl<S: RegionStore> ResvMap<S> {
    /// Returns the slots neither holding a region nor set aside for an add in progress.
    #[cfg(not(MODULE))]
    pub fn spare_slots(&self) -> usize {
        self.store
            .slots()
            .len()
            .saturating_sub(self.nr_regions)
            .saturating_sub(self.adds_in_progress)
    }

    /// Returns the store.
    #[cfg(not(MODULE))]
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Gives up the store (upstream `resv_map_release` frees the entries with the map).
    #[cfg(not(MODULE))]
    pub fn into_store(self) -> S {
        self.store
    }

    /// Moves the regions into `new` if it has at least the slots the map uses now plus
    /// one spare, and returns the store not kept: `Ok(old)` when `new` was taken, `Err(new)`
    /// when it was too small. Both are to be freed after dropping the lock.
    #[cfg(not(MODULE))]
    pub fn replace_store(&mut self, mut new: S) -> Result<S, S> {
        let used = self.used_slots();
        let Some(needed) = used.checked_add(1) else {
            return Err(new);
        };
        if new.slots().len() < needed {
            return Err(new);
        }
        let copied = match (
            new.slots_mut().get_mut(..self.nr_regions),
            self.store.slots().get(..self.nr_regions),
        ) {
            (Some(dst), Some(src)) => {
                dst.copy_from_slice(src);
                true
            }
            _ => false,
        };
        if !copied {
            return Err(new);
        }
        Ok(core::mem::replace(&mut self.store, new))
    }

    /// Returns the number of slots in use or set aside.
    pub(super) fn used_slots(&self) -> usize {
        self.nr_regions.saturating_add(self.adds_in_progress)
    }

    pub(super) fn check_store(&self) -> Result<(), RegionError> {
        if self.store.slots().len() < self.used_slots() {
            Err(RegionError::StoreShrunk)
        } else {
            Ok(())
        }
    }

    /// Makes the store hold at least `needed` slots, growing it if it must.
    pub(super) fn ensure_slots(&mut self, needed: usize) -> Result<(), RegionError> {
        if self.store.slots().len() >= needed {
            return Ok(());
        }
        let grown = self.store.try_grow(needed);
        if grown.is_err() || self.store.slots().len() < needed {
            return Err(RegionError::NoMem {
                needed_slots: needed,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::super::*;
    use super::*;
    use std::vec::Vec;

    #[test]
    fn replace_store_retry_pattern() {
        let mut map = ResvMap::new(VecStore {
            refuse: true,
            ..Default::default()
        });
        let Err(RegionError::NoMem { needed_slots }) = map.region_chg(0, 4) else {
            panic!()
        };
        // "Drop the lock", build a bigger store, "retake the lock", swap, retry.
        let too_small = VecStore::default();
        let too_small = map.replace_store(too_small).unwrap_err();
        assert!(too_small.slots.is_empty());
        let new = VecStore {
            slots: std::vec![FileRegion::EMPTY; needed_slots],
            refuse: true,
            grows: 0,
        };
        let old = map.replace_store(new).unwrap();
        assert!(old.slots.is_empty());
        assert_eq!(map.region_chg(0, 4).unwrap(), 4);
        assert_eq!(map.region_add(0, 4).unwrap(), 4);
        // Regions survive another swap.
        let bigger = VecStore {
            slots: std::vec![FileRegion::EMPTY; 8],
            ..Default::default()
        };
        map.replace_store(bigger).unwrap();
        assert_eq!(map.regions(), [rg(0, 4)]);
        assert_eq!(map.into_store().slots.len(), 8);
    }

    #[test]
    fn shrunk_store_is_reported() {
        struct Shrinking(Vec<FileRegion>);
        impl RegionStore for Shrinking {
            fn slots(&self) -> &[FileRegion] {
                &self.0
            }
            fn slots_mut(&mut self) -> &mut [FileRegion] {
                &mut self.0
            }
            fn try_grow(&mut self, _min: usize) -> Result<(), StoreAllocError> {
                // Claims success without growing.
                Ok(())
            }
        }
        let mut map = ResvMap::new(Shrinking(std::vec![FileRegion::EMPTY; 2]));
        map.region_chg(0, 1).unwrap();
        map.region_add(0, 1).unwrap();
        map.region_chg(3, 4).unwrap();
        assert_eq!(
            map.region_chg(6, 7),
            Err(RegionError::NoMem { needed_slots: 3 })
        );
        map.store.0.clear();
        assert_eq!(map.region_add(3, 4), Err(RegionError::StoreShrunk));
        assert_eq!(map.region_del(0, 1), Err(RegionError::StoreShrunk));
        assert!(map.regions().is_empty());
    }
}
