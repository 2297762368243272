// SPDX-License-Identifier: GPL-2.0

//! Pre-zeroed free pages: which free pages are known to be zero, which are being cleared,
//! and the choices around clearing (policy, method).
//!
//! Upstream clears a huge page at fault time (`folio_zero_user`, 4 KiB at a time). The
//! module keeps each node's free pages in two lists instead, *dirty* (contents unknown: a
//! fresh buddy or contiguous range, or a page given back by a file) and *zeroed*, plus the
//! pages a background worker has taken off the dirty list to clear (*clearing*). A fault
//! that will map its page takes a zeroed one first and clears inline only when none is
//! ready; a copy-on-write or a shrink, which overwrite or drop the contents anyway, take a
//! dirty one first so the zeroed pages stay for faults.
//!
//! [`FreeSplit`] only counts, like [`super::hstate::Hstate`]: the kernel glue owns the lists
//! and reports each move. Its invariant, with the pool lock held: for every node,
//! `dirty + zeroed + clearing` is the number of pages the node's lists and workers hold, and
//! equals `free_huge_pages_node` plus the pages of faults that have been counted out of the
//! free pages and wait for a clearing page ([`Pick::Wait`]).
//!
//! The rule that matters: a page moves to *zeroed* only from *clearing* after a complete
//! clear, and a page given back always enters *dirty*, so a page taken as zeroed was cleared
//! after its last user let go of it.

use super::hstate::{HstateError, MAX_NUMNODES};

/// When free pages are cleared (the `zero_policy` sysfs file).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ZeroPolicy {
    /// At fault time, on the faulting CPU, as upstream (`fault`).
    Fault,
    /// In the background, by per-node workers, as soon as a page is free (`background`).
    Background,
}

/// How a page is cleared (the `clear_method` sysfs file).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClearMethod {
    /// Per case, the fastest method measured (see [`ClearSpeeds::choose`]).
    Auto,
    /// `clear_highpage` on each 4 KiB page, as upstream.
    Page,
    /// One `rep stosb` pass over the whole page through the direct map.
    Erms,
    /// Non-temporal stores over the whole page, then a store fence.
    Nt,
}

/// Where a clear happens, for [`ClearSpeeds::choose`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClearCase {
    /// On the fault path, for a page small enough to stay in the CPU's caches (2 MiB): user
    /// space writes it right after, so a clear that leaves it cached is worth more than its
    /// raw bandwidth says.
    FaultCached,
    /// On the fault path, for a page far larger than any cache (1 GiB).
    Fault,
    /// In a background worker: the page may sit on the list for long.
    Background,
}

/// A sysfs word file's values: each value with its name.
trait Words: Copy + PartialEq + 'static {
    const ALL: &'static [(Self, &'static str)];
}

/// The name of `v` in its table.
fn word_name<T: Words>(v: T) -> &'static str {
    T::ALL
        .iter()
        .find(|(w, _)| *w == v)
        .map_or("", |(_, name)| name)
}

/// Parses a sysfs write: exactly one name of the table, optionally followed by one newline
/// (as `echo` writes).
fn parse_word<T: Words>(input: &[u8]) -> Option<T> {
    let word = input.strip_suffix(b"\n").unwrap_or(input);
    T::ALL
        .iter()
        .find(|(_, name)| name.as_bytes() == word)
        .map(|(w, _)| *w)
}

impl Words for ZeroPolicy {
    const ALL: &'static [(Self, &'static str)] = &[
        (ZeroPolicy::Fault, "fault"),
        (ZeroPolicy::Background, "background"),
    ];
}

impl Words for ClearMethod {
    const ALL: &'static [(Self, &'static str)] = &[
        (ClearMethod::Auto, "auto"),
        (ClearMethod::Page, "page"),
        (ClearMethod::Erms, "erms"),
        (ClearMethod::Nt, "nt"),
    ];
}

impl ZeroPolicy {
    /// The sysfs name.
    pub fn name(self) -> &'static str {
        word_name(self)
    }

    /// Parses a sysfs write (see [`parse_word`]).
    pub fn parse(input: &[u8]) -> Option<Self> {
        parse_word(input)
    }
}

impl ClearMethod {
    /// The sysfs name.
    pub fn name(self) -> &'static str {
        word_name(self)
    }

    /// Parses a sysfs write (see [`parse_word`]).
    pub fn parse(input: &[u8]) -> Option<Self> {
        parse_word(input)
    }
}

/// Measured clearing speeds of one page size, in MB/s (0: not measured).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClearSpeeds {
    /// [`ClearMethod::Page`].
    pub page: u64,
    /// [`ClearMethod::Erms`].
    pub erms: u64,
    /// [`ClearMethod::Nt`].
    pub nt: u64,
}

impl ClearSpeeds {
    /// MB/s from `bytes` cleared in `ns` nanoseconds (0 if `ns` is 0).
    pub fn mb_per_s(bytes: u64, ns: u64) -> u64 {
        // bytes * 1000 / ns is MB/s (10^6 bytes per second). No u128: the kernel has no
        // 128-bit division; a page is far below the 18 PB where the product overflows.
        match bytes.checked_mul(1000) {
            Some(v) => v.checked_div(ns).unwrap_or(0),
            None => bytes.checked_div(ns).unwrap_or(0).saturating_mul(1000),
        }
    }

    /// Whether every method has been measured.
    pub fn measured(&self) -> bool {
        self.page != 0 && self.erms != 0 && self.nt != 0
    }

    /// The method `configured` stands for in `case`: itself unless [`ClearMethod::Auto`].
    ///
    /// `Auto` takes the fastest measured method; for [`ClearCase::FaultCached`] the fastest
    /// temporal one (`page`, `erms`) unless non-temporal stores are more than twice as
    /// fast: a temporal clear leaves the page in the cache for the user's first writes,
    /// which at most saves fetching the page once more, and an `nt` clear twice as fast
    /// leaves that much time to spare. Elsewhere the fastest of all three: a 1 GiB page
    /// does not fit in any cache anyway, and a background clear should not evict the cache
    /// of whatever else runs. Unmeasured, `Auto` is `fallback` on the fault path (what the
    /// CPU is known to do well) and `Nt` in the background.
    pub fn choose(
        &self,
        configured: ClearMethod,
        case: ClearCase,
        fallback: ClearMethod,
    ) -> ClearMethod {
        if configured != ClearMethod::Auto {
            return configured;
        }
        if !self.measured() {
            return match case {
                ClearCase::FaultCached | ClearCase::Fault => fallback,
                ClearCase::Background => ClearMethod::Nt,
            };
        }
        let temporal = if self.erms >= self.page {
            (ClearMethod::Erms, self.erms)
        } else {
            (ClearMethod::Page, self.page)
        };
        let nt_wins = match case {
            ClearCase::FaultCached => self.nt / 2 > temporal.1,
            _ => self.nt > temporal.1,
        };
        if nt_wins {
            ClearMethod::Nt
        } else {
            temporal.0
        }
    }
}

/// What the pages a caller takes will be used for, for [`FreeSplit::pick`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Want {
    /// The page is mapped or read by user space next: a zeroed page saves the clear.
    Zeroed,
    /// The contents are overwritten or dropped (copy-on-write, shrink): a dirty page first.
    Any,
}

/// Which list [`FreeSplit::pick`] took the page from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pick {
    /// Pop the node's zeroed list: the page needs no clear.
    Zeroed,
    /// Pop the node's dirty list: the page must be cleared before user space sees it.
    Dirty,
    /// Both lists are empty and a worker is clearing a page of this node: wait until it
    /// reports back ([`FreeSplit::end_clear`]) and pick again. Nothing was counted.
    Wait,
}

/// One node's share of [`FreeSplit`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NodeSplit {
    /// Free pages whose contents are unknown.
    pub dirty: u64,
    /// Free pages known to be zero.
    pub zeroed: u64,
    /// Pages a worker has taken off the dirty list to clear.
    pub clearing: u64,
}

impl NodeSplit {
    /// All the pages the node's lists and workers hold.
    #[cfg(not(MODULE))]
    pub fn total(&self) -> u64 {
        self.dirty
            .saturating_add(self.zeroed)
            .saturating_add(self.clearing)
    }
}

/// The zeroed / dirty / clearing counts of one pool's free pages, per node.
#[derive(Clone, Debug)]
pub struct FreeSplit {
    nodes: [NodeSplit; MAX_NUMNODES],
    policy: ZeroPolicy,
}

impl FreeSplit {
    /// No pages; `policy` as given.
    pub const fn new(policy: ZeroPolicy) -> Self {
        FreeSplit {
            nodes: [NodeSplit {
                dirty: 0,
                zeroed: 0,
                clearing: 0,
            }; MAX_NUMNODES],
            policy,
        }
    }

    /// The policy.
    pub fn policy(&self) -> ZeroPolicy {
        self.policy
    }

    /// Sets the policy. Pages already zeroed stay zeroed (they need no clear whatever the
    /// policy); a page being cleared finishes.
    pub fn set_policy(&mut self, policy: ZeroPolicy) {
        self.policy = policy;
    }

    /// Node `nid`'s counts (all zero for a node id out of range).
    pub fn node(&self, nid: usize) -> NodeSplit {
        self.nodes.get(nid).copied().unwrap_or_default()
    }

    /// Zeroed free pages over all nodes.
    pub fn zeroed(&self) -> u64 {
        self.nodes
            .iter()
            .fold(0u64, |acc, n| acc.saturating_add(n.zeroed))
    }

    fn node_mut(&mut self, nid: usize) -> Result<&mut NodeSplit, HstateError> {
        self.nodes.get_mut(nid).ok_or(HstateError::InvalidNode(nid))
    }

    /// A page entered node `nid`'s dirty list (allocated, given back, or drained). Returns
    /// whether a worker should be woken for it.
    pub fn added_dirty(&mut self, nid: usize) -> Result<bool, HstateError> {
        let policy = self.policy;
        let n = self.node_mut(nid)?;
        n.dirty = n.dirty.checked_add(1).ok_or(HstateError::Overflow)?;
        Ok(policy == ZeroPolicy::Background)
    }

    /// Chooses the list to take a page of node `nid` from, for a caller the pool counters
    /// already counted out of the node's free pages; counts the page out of that list.
    /// `NotInUse` if the node has no page at all (the counters and the lists disagree).
    pub fn pick(&mut self, nid: usize, want: Want) -> Result<Pick, HstateError> {
        let n = self.node_mut(nid)?;
        let zeroed_first = want == Want::Zeroed;
        let pick = match (n.zeroed > 0, n.dirty > 0) {
            (true, true) if zeroed_first => Pick::Zeroed,
            (true, true) => Pick::Dirty,
            (true, false) => Pick::Zeroed,
            (false, true) => Pick::Dirty,
            (false, false) if n.clearing > 0 => Pick::Wait,
            (false, false) => return Err(HstateError::NotInUse(nid)),
        };
        match pick {
            Pick::Zeroed => n.zeroed = n.zeroed.saturating_sub(1),
            Pick::Dirty => n.dirty = n.dirty.saturating_sub(1),
            Pick::Wait => {}
        }
        Ok(pick)
    }

    /// Whether a worker of node `nid` has a page to clear now (background policy and a dirty
    /// page); if so, counts one dirty page as clearing: the caller pops it off the dirty list
    /// and clears it with the lock dropped.
    pub fn begin_clear(&mut self, nid: usize) -> bool {
        if self.policy != ZeroPolicy::Background {
            return false;
        }
        match self.nodes.get_mut(nid) {
            Some(n) if n.dirty > 0 => {
                n.dirty = n.dirty.saturating_sub(1);
                n.clearing = n.clearing.saturating_add(1);
                true
            }
            _ => false,
        }
    }

    /// Takes any free page of node `nid` off its list to be cleared (to measure the clearing
    /// methods on): a dirty one first, else a zeroed one. Counted as clearing; `None` if the
    /// node has no page on its lists.
    pub fn begin_measure(&mut self, nid: usize) -> Option<Pick> {
        let n = self.nodes.get_mut(nid)?;
        let pick = if n.dirty > 0 {
            n.dirty = n.dirty.saturating_sub(1);
            Pick::Dirty
        } else if n.zeroed > 0 {
            n.zeroed = n.zeroed.saturating_sub(1);
            Pick::Zeroed
        } else {
            return None;
        };
        n.clearing = n.clearing.saturating_add(1);
        Some(pick)
    }

    /// A page taken with [`Self::begin_clear`] or [`Self::begin_measure`] comes back, zeroed
    /// if the clear completed (a worker told to stop leaves it incomplete: dirty).
    pub fn end_clear(&mut self, nid: usize, zeroed: bool) -> Result<(), HstateError> {
        let n = self.node_mut(nid)?;
        n.clearing = n
            .clearing
            .checked_sub(1)
            .ok_or(HstateError::NotInUse(nid))?;
        if zeroed {
            n.zeroed = n.zeroed.saturating_add(1);
        } else {
            n.dirty = n.dirty.saturating_add(1);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_takes_names_and_one_newline_only() {
        assert_eq!(ZeroPolicy::parse(b"fault"), Some(ZeroPolicy::Fault));
        assert_eq!(
            ZeroPolicy::parse(b"background\n"),
            Some(ZeroPolicy::Background)
        );
        for bad in [
            &b""[..],
            b"\n",
            b"fault\n\n",
            b" fault",
            b"Fault",
            b"back",
            b"fault\0",
        ] {
            assert_eq!(ZeroPolicy::parse(bad), None, "{bad:?}");
        }
        assert_eq!(ClearMethod::parse(b"nt\n"), Some(ClearMethod::Nt));
        assert_eq!(ClearMethod::parse(b"auto"), Some(ClearMethod::Auto));
        assert_eq!(ClearMethod::parse(b"rep"), None);
        for &(m, name) in <ClearMethod as Words>::ALL {
            assert_eq!(m.name(), name);
            assert_eq!(ClearMethod::parse(name.as_bytes()), Some(m));
        }
        for &(p, name) in <ZeroPolicy as Words>::ALL {
            assert_eq!(p.name(), name);
            assert_eq!(ZeroPolicy::parse(name.as_bytes()), Some(p));
        }
    }

    #[test]
    fn choose_prefers_temporal_on_the_fault_path() {
        let s = ClearSpeeds {
            page: 10_000,
            erms: 12_000,
            nt: 20_000,
        };
        assert_eq!(
            s.choose(ClearMethod::Auto, ClearCase::FaultCached, ClearMethod::Page),
            ClearMethod::Erms
        );
        // Under TCG, say: nt many times faster than emulated string stores.
        let tcg = ClearSpeeds {
            page: 950,
            erms: 970,
            nt: 13_000,
        };
        assert_eq!(
            tcg.choose(ClearMethod::Auto, ClearCase::FaultCached, ClearMethod::Erms),
            ClearMethod::Nt
        );
        assert_eq!(
            s.choose(ClearMethod::Auto, ClearCase::Fault, ClearMethod::Page),
            ClearMethod::Nt
        );
        assert_eq!(
            s.choose(ClearMethod::Auto, ClearCase::Background, ClearMethod::Page),
            ClearMethod::Nt
        );
        let slow_nt = ClearSpeeds { nt: 5_000, ..s };
        assert_eq!(
            slow_nt.choose(ClearMethod::Auto, ClearCase::Background, ClearMethod::Page),
            ClearMethod::Erms
        );
        assert_eq!(
            s.choose(ClearMethod::Page, ClearCase::Background, ClearMethod::Erms),
            ClearMethod::Page
        );
        let none = ClearSpeeds::default();
        assert_eq!(
            none.choose(ClearMethod::Auto, ClearCase::Fault, ClearMethod::Page),
            ClearMethod::Page
        );
        assert_eq!(
            none.choose(ClearMethod::Auto, ClearCase::Background, ClearMethod::Page),
            ClearMethod::Nt
        );
        assert_eq!(ClearSpeeds::mb_per_s(2 << 20, 1_000_000), 2097);
        assert_eq!(ClearSpeeds::mb_per_s(1, 0), 0);
    }

    #[test]
    fn pick_prefers_by_want_and_waits_only_on_clearing() {
        let mut s = FreeSplit::new(ZeroPolicy::Background);
        assert!(s.added_dirty(0).unwrap());
        assert!(s.added_dirty(0).unwrap());
        assert!(s.begin_clear(0));
        s.end_clear(0, true).unwrap();
        assert_eq!(
            s.node(0),
            NodeSplit {
                dirty: 1,
                zeroed: 1,
                clearing: 0
            }
        );
        assert_eq!(s.pick(0, Want::Any), Ok(Pick::Dirty));
        assert!(!s.begin_clear(0));
        assert!(s.added_dirty(0).unwrap());
        assert_eq!(s.pick(0, Want::Zeroed), Ok(Pick::Zeroed));
        assert!(s.begin_clear(0));
        assert_eq!(s.pick(0, Want::Zeroed), Ok(Pick::Wait));
        s.end_clear(0, false).unwrap();
        assert_eq!(s.pick(0, Want::Zeroed), Ok(Pick::Dirty));
        assert_eq!(s.pick(0, Want::Zeroed), Err(HstateError::NotInUse(0)));
        assert!(s.end_clear(0, true).is_err());
        s.set_policy(ZeroPolicy::Fault);
        assert!(!s.added_dirty(1).unwrap());
        assert!(!s.begin_clear(1));
        assert_eq!(s.begin_measure(1), Some(Pick::Dirty));
        assert_eq!(
            s.pick(MAX_NUMNODES, Want::Any),
            Err(HstateError::InvalidNode(MAX_NUMNODES))
        );
    }
}
