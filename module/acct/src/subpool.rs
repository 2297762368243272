// SPDX-License-Identifier: GPL-2.0

//! Per-mount page accounting (upstream `struct hugepage_subpool`, mm/hugetlb.c).
//!
//! Each mount with a `size=` (maximum) or `min_size=` (minimum) option has a subpool. The
//! maximum caps the pages the mount uses or reserves (`used_hpages`); the minimum is reserved
//! in the global pool at mount time and held on the mount's behalf (`rsv_hpages`) while the
//! mount uses fewer pages.
//!
//! The subpool only answers "how many pages must the global pool be charged or credited";
//! the caller does that with the hstate (`hugetlb_acct_memory`). The order is upstream's:
//!
//! * mount: [`Subpool::new`], then reserve [`Subpool::min_reserve`] pages in the global pool
//!   (`hugepage_new_subpool` calls `hugetlb_acct_memory(h, min_hpages)`); if that fails, the
//!   mount fails;
//! * reserve (mmap, fault without reservation, fallocate): `gbl = hugepage_subpool_get_pages(n)?`
//!   then `hugetlb_acct_memory(gbl)`; if the latter fails, give the pages back with
//!   `hugepage_subpool_put_pages(n)` (ignoring its result, as upstream does);
//! * release (munmap of private ranges, truncate, hole punch, inode eviction, a freed page that
//!   did not consume a reservation): `gbl = hugepage_subpool_put_pages(n)` then
//!   `hugetlb_acct_memory(-gbl)`; in `free_huge_folio` a result of 0 forces the page's
//!   `restore_reserve` so the subpool keeps its minimum;
//! * unmount, once no page is used any more ([`Subpool::is_free`]): release
//!   [`Subpool::min_reserve`] pages from the global pool.
//!
//! The methods do not lock; the caller holds the subpool's spinlock around each call.
//!
//! # Invariants
//!
//! With `U` the pages the mount holds (gets minus puts), `G` the global reservations taken
//! on its behalf (the minimum at mount, plus what `get_pages` returned, minus what
//! `put_pages` returned): `G == U + rsv_hpages`, `rsv_hpages <= min_hpages`,
//! `U + rsv_hpages >= min_hpages` and, with a maximum, `used_hpages == U <= max_hpages`.
//! As upstream, `rsv_hpages` can stay above `min_hpages - U` for a while after a large put
//! (the mount then holds a little more than its minimum); it converges as pages come back.

use core::fmt;

/// Errors of the subpool accounting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubpoolError {
    /// The request would take the mount above its maximum size (upstream `-ENOMEM`).
    NoMem,
    /// `min_size` is larger than `size` (mount fails with `-EINVAL`).
    MinAboveMax,
    /// More pages put back than were taken: the caller's accounting is off.
    Underflow,
}

impl fmt::Display for SubpoolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NoMem => "subpool size limit reached",
            Self::MinAboveMax => "minimum size can not be greater than maximum size",
            Self::Underflow => "more subpool pages put back than taken",
        })
    }
}

/// The statfs block counts of a mount (upstream `hugetlbfs_statfs` with a subpool).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SubpoolStatfs {
    /// `f_blocks`: `max_hpages`, or `u64::MAX` (upstream's `-1`) without a maximum.
    pub blocks: u64,
    /// `f_bfree` and `f_bavail`: `max_hpages - used_hpages` (wrapping as upstream's `long`).
    pub bfree: u64,
}

/// The page accounting of one mount (upstream `struct hugepage_subpool`, minus its lock and
/// reference count, which stay with the caller).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Subpool {
    max_hpages: Option<u64>,
    min_hpages: Option<u64>,
    used_hpages: u64,
    rsv_hpages: u64,
}

impl Subpool {
    /// Creates the subpool of a mount (upstream `hugepage_new_subpool`, minus the global
    /// reservation of the minimum, which the caller makes with [`Subpool::min_reserve`]).
    ///
    /// `None` means "no limit" (upstream `-1`). Fails if both are given and
    /// `min_hpages > max_hpages`.
    pub fn new(max_hpages: Option<u64>, min_hpages: Option<u64>) -> Result<Self, SubpoolError> {
        if let (Some(max), Some(min)) = (max_hpages, min_hpages) {
            if min > max {
                return Err(SubpoolError::MinAboveMax);
            }
        }
        Ok(Self {
            max_hpages,
            min_hpages,
            used_hpages: 0,
            rsv_hpages: min_hpages.unwrap_or(0),
        })
    }

    /// Returns `max_hpages` (`None`: no maximum).
    #[cfg(not(MODULE))]
    pub fn max_hpages(&self) -> Option<u64> {
        self.max_hpages
    }

    /// Returns `min_hpages` (`None`: no minimum).
    #[cfg(not(MODULE))]
    pub fn min_hpages(&self) -> Option<u64> {
        self.min_hpages
    }

    /// Returns `used_hpages`: pages used or reserved against the maximum (only counted when
    /// there is a maximum, as upstream).
    #[cfg(not(MODULE))]
    pub fn used_hpages(&self) -> u64 {
        self.used_hpages
    }

    /// Returns `rsv_hpages`: global reservations held for the minimum and not in use.
    #[cfg(not(MODULE))]
    pub fn rsv_hpages(&self) -> u64 {
        self.rsv_hpages
    }

    /// Returns the global reservation the minimum size needs: taken at mount, released at
    /// unmount.
    pub fn min_reserve(&self) -> u64 {
        self.min_hpages.unwrap_or(0)
    }

    /// Returns whether no page is used any more (upstream `subpool_is_free`, without the
    /// reference count), so that unmount can release [`Subpool::min_reserve`].
    #[cfg(not(MODULE))]
    pub fn is_free(&self) -> bool {
        match (self.max_hpages, self.min_hpages) {
            (Some(_), _) => self.used_hpages == 0,
            (None, Some(min)) => self.rsv_hpages == min,
            (None, None) => true,
        }
    }

    /// Returns the statfs block counts.
    pub fn statfs(&self) -> SubpoolStatfs {
        let blocks = self.max_hpages.unwrap_or(u64::MAX);
        SubpoolStatfs {
            blocks,
            bfree: blocks.wrapping_sub(self.used_hpages),
        }
    }

    /// Takes `delta` pages (used or reserved) from the subpool (upstream
    /// `hugepage_subpool_get_pages`).
    ///
    /// Returns how many pages the global pool must be charged: `delta`, less whatever the
    /// minimum-size reserve already covers. [`SubpoolError::NoMem`] (nothing changed) if the
    /// maximum would be exceeded.
    pub fn hugepage_subpool_get_pages(&mut self, delta: u64) -> Result<u64, SubpoolError> {
        let mut used = self.used_hpages;
        if let Some(max) = self.max_hpages {
            used = used.checked_add(delta).ok_or(SubpoolError::NoMem)?;
            if used > max {
                return Err(SubpoolError::NoMem);
            }
        }
        let mut ret = delta;
        if self.min_hpages.is_some() && self.rsv_hpages > 0 {
            if delta > self.rsv_hpages {
                // Asking for more than the reserves held: the difference is new.
                ret = delta.saturating_sub(self.rsv_hpages);
                self.rsv_hpages = 0;
            } else {
                ret = 0;
                self.rsv_hpages = self.rsv_hpages.saturating_sub(delta);
            }
        }
        self.used_hpages = used;
        Ok(ret)
    }

    /// Undoes a [`Self::hugepage_subpool_get_pages`] of `delta` that returned `gbl`, after
    /// the global pool refused those `gbl` pages: exactly the state before the get, and
    /// nothing for the pool to drop.
    ///
    /// Not [`Self::hugepage_subpool_put_pages`] (which upstream's error paths use): that
    /// refills the minimum-size reserve with all of `delta`, while the get took only
    /// `delta - gbl` from it, so the reserve would claim global reservations nobody holds,
    /// and the unmount would give back more than was reserved.
    pub fn hugepage_subpool_undo_get(&mut self, delta: u64, gbl: u64) {
        if self.max_hpages.is_some() {
            self.used_hpages = self.used_hpages.saturating_sub(delta);
        }
        if self.min_hpages.is_some() {
            self.rsv_hpages = self.rsv_hpages.saturating_add(delta.saturating_sub(gbl));
        }
    }

    /// Gives `delta` pages back to the subpool (upstream `hugepage_subpool_put_pages`).
    ///
    /// Returns how many global reservations the caller must drop: `delta`, less what goes
    /// back into the minimum-size reserve. [`SubpoolError::Underflow`] (nothing changed) if
    /// more pages come back than are used.
    pub fn hugepage_subpool_put_pages(&mut self, delta: u64) -> Result<u64, SubpoolError> {
        if self.max_hpages.is_some() {
            self.used_hpages = self
                .used_hpages
                .checked_sub(delta)
                .ok_or(SubpoolError::Underflow)?;
        }
        let mut ret = delta;
        if let Some(min) = self.min_hpages {
            if self.used_hpages < min {
                let back = self.rsv_hpages.saturating_add(delta);
                ret = back.saturating_sub(min);
                self.rsv_hpages = back.min(min);
            }
        }
        Ok(ret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_only() {
        let mut sp = Subpool::new(Some(4), None).unwrap();
        assert_eq!(sp.min_reserve(), 0);
        assert!(sp.is_free());
        assert_eq!(sp.hugepage_subpool_get_pages(3), Ok(3));
        assert_eq!(sp.hugepage_subpool_get_pages(2), Err(SubpoolError::NoMem));
        assert_eq!(sp.used_hpages(), 3);
        assert_eq!(
            sp.statfs(),
            SubpoolStatfs {
                blocks: 4,
                bfree: 1
            }
        );
        assert_eq!(sp.hugepage_subpool_get_pages(1), Ok(1));
        assert_eq!(
            sp.hugepage_subpool_get_pages(u64::MAX),
            Err(SubpoolError::NoMem)
        );
        assert_eq!(
            sp.hugepage_subpool_put_pages(5),
            Err(SubpoolError::Underflow)
        );
        assert_eq!(sp.hugepage_subpool_put_pages(4), Ok(4));
        assert!(sp.is_free());
    }

    #[test]
    fn min_only() {
        let mut sp = Subpool::new(None, Some(3)).unwrap();
        assert_eq!(sp.min_reserve(), 3);
        assert_eq!(sp.rsv_hpages(), 3);
        assert!(sp.is_free());
        // Covered by the minimum reserve.
        assert_eq!(sp.hugepage_subpool_get_pages(2), Ok(0));
        assert!(!sp.is_free());
        assert_eq!(sp.hugepage_subpool_get_pages(4), Ok(3));
        assert_eq!(sp.rsv_hpages(), 0);
        // Pages coming back refill the reserve first.
        assert_eq!(sp.hugepage_subpool_put_pages(1), Ok(0));
        assert_eq!(sp.hugepage_subpool_put_pages(5), Ok(3));
        assert_eq!(sp.rsv_hpages(), 3);
        assert!(sp.is_free());
        assert_eq!(
            sp.statfs(),
            SubpoolStatfs {
                blocks: u64::MAX,
                bfree: u64::MAX
            }
        );
    }

    #[test]
    fn max_and_min() {
        assert_eq!(
            Subpool::new(Some(1), Some(2)),
            Err(SubpoolError::MinAboveMax)
        );
        let mut sp = Subpool::new(Some(10), Some(2)).unwrap();
        assert_eq!(sp.hugepage_subpool_get_pages(5), Ok(3));
        assert_eq!(sp.used_hpages(), 5);
        // Back above the minimum: everything goes back to the global pool.
        assert_eq!(sp.hugepage_subpool_put_pages(2), Ok(2));
        // Dropping below the minimum: upstream refills rsv_hpages up to min with the whole
        // delta, so the mount briefly holds more than its minimum (U=1, rsv=2).
        assert_eq!(sp.hugepage_subpool_put_pages(2), Ok(0));
        assert_eq!(sp.rsv_hpages(), 2);
        assert_eq!(sp.hugepage_subpool_put_pages(1), Ok(1));
        assert!(sp.is_free());
        assert_eq!(sp.rsv_hpages(), 2);
    }

    #[test]
    fn undo_get_restores_the_state_before_it() {
        // Issue 15: a failed mmap on a min_size mount with part of the reserve in use.
        let mut sp = Subpool::new(None, Some(2)).unwrap();
        assert_eq!(sp.hugepage_subpool_get_pages(1), Ok(0));
        let before = sp;
        let gbl = sp.hugepage_subpool_get_pages(2).unwrap();
        assert_eq!(gbl, 1);
        sp.hugepage_subpool_undo_get(2, gbl);
        assert_eq!(sp, before);
        // What the put upstream uses there would leave: a reserve of 2 with one page out.
        let mut put = before;
        put.hugepage_subpool_get_pages(2).unwrap();
        put.hugepage_subpool_put_pages(2).unwrap();
        assert_eq!(put.rsv_hpages(), 2);
        let mut sp = Subpool::new(Some(5), Some(1)).unwrap();
        let before = sp;
        let gbl = sp.hugepage_subpool_get_pages(3).unwrap();
        sp.hugepage_subpool_undo_get(3, gbl);
        assert_eq!(sp, before);
    }

    #[test]
    fn no_limits() {
        let mut sp = Subpool::new(None, None).unwrap();
        assert_eq!(sp.hugepage_subpool_get_pages(7), Ok(7));
        assert_eq!(sp.hugepage_subpool_put_pages(7), Ok(7));
        assert!(sp.is_free());
        assert_eq!(sp.max_hpages(), None);
        assert_eq!(sp.min_hpages(), None);
    }

    #[test]
    fn errors_display() {
        use std::string::ToString;
        assert_eq!(
            SubpoolError::NoMem.to_string(),
            "subpool size limit reached"
        );
    }
}
