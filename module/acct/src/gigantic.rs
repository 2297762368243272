// SPDX-License-Identifier: GPL-2.0

//! The search for gigantic (1 GiB) page candidates over a PFN span: the decision half of
//! upstream `alloc_contig_pages` and `pfn_range_valid_contig` (mm/page_alloc.c), which a
//! module cannot call in 6.12 (`alloc_contig_pages` is not exported).
//!
//! For each populated zone of the target node the kernel glue creates a [`GiganticScan`] over
//! the zone's `[zone_start_pfn, zone_end_pfn)` and asks it for candidates: ranges of
//! `1 << order` pages, aligned to their size and fully inside the span. The scan looks at
//! the pages through a [`PfnOracle`] the kernel implements and skips ranges holding a page
//! that cannot be part of a new gigantic page (holes, other zones, reserved, already huge,
//! unmovable or pinned). The kernel calls `alloc_contig_range` on each candidate it gets
//! until one succeeds, and reports every outcome with [`GiganticScan::report`].
//!
//! # Improvements over upstream
//!
//! * **Run lengths.** The oracle may say that a state holds for a run of pages (a free buddy
//!   block, a compound page, an offline memory section), so the scan steps over the run in
//!   one call instead of calling `pfn_to_online_page` for every PFN (the per-PFN walk was
//!   87% of the CPU time of large 1 GiB allocations in a 2026 upstream report).
//! * **Skipping bad runs.** A bad PFN rejects its candidate; a bad run that extends past the
//!   candidate rejects every candidate it overlaps without looking at them again.
//! * **Resuming.** Upstream restarts every gigantic allocation at the zone start, so growing
//!   the pool by N pages re-examines the same rejected ranges N times. A scan can start at a
//!   resume point ([`GiganticScan::resume_pfn`] of the previous scan, for example the range
//!   after the last success); it then wraps around once, so every candidate is still
//!   considered.
//! * **Remembering failures.** A range whose `alloc_contig_range` failed (migration failed,
//!   `-EBUSY`) is recorded in a small [`RecentFailures`] cache and skipped until its cooldown
//!   expires, instead of paying for the same failing migration again on the next page.
//!
//! The scan itself takes no lock and never sleeps; [`ScanStep::Yield`] lets the caller drop
//! the zone lock and `cond_resched()` after a bounded amount of work.

use core::fmt;

/// What the kernel knows about one page frame (or a run of them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PfnState {
    /// No online page: a hole, offline memory, or `pfn_to_online_page()` is NULL.
    Hole,
    /// The page belongs to another zone than the one scanned.
    OtherZone,
    /// `PageReserved`: firmware, kernel image, memblock reservations.
    Reserved,
    /// Part of a hugetlb page or of a compound page of pageblock order or more; migrating it
    /// would cost as much as the range is worth (upstream rejects `PageHuge`).
    Huge,
    /// In use and not migratable: pinned (`folio_maybe_dma_pinned`), slab, page tables,
    /// unmovable or isolated pageblocks.
    Unmovable,
    /// Free in the buddy allocator.
    Free,
    /// In use but migratable (LRU or `__PageMovable` pages in movable pageblocks):
    /// `alloc_contig_range` can move it.
    Movable,
}

impl PfnState {
    /// Returns why a range holding a page in this state is rejected, or `None` if such a page
    /// does not stop `alloc_contig_range`.
    pub fn reject_reason(self) -> Option<RejectReason> {
        match self {
            Self::Hole => Some(RejectReason::Hole),
            Self::OtherZone => Some(RejectReason::OtherZone),
            Self::Reserved => Some(RejectReason::Reserved),
            Self::Huge => Some(RejectReason::Huge),
            Self::Unmovable => Some(RejectReason::Unmovable),
            Self::Free | Self::Movable => None,
        }
    }
}

/// The state of the page frame asked for, and how many frames from it on share that state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PfnInfo {
    /// State of the page frame.
    pub state: PfnState,
    /// Number of consecutive frames, starting at the one asked for, known to be in the same
    /// state (0 is read as 1). Larger runs make the scan faster; 1 is always correct.
    pub nr_pages: u64,
}

impl PfnInfo {
    /// Information about one frame only.
    #[cfg(not(MODULE))]
    pub const fn single(state: PfnState) -> Self {
        Self { state, nr_pages: 1 }
    }
}

/// The kernel's view of page frames, implemented by the glue (`pfn_to_online_page`,
/// `page_zone`, `PageReserved`, `PageHuge`, `PageBuddy`/`buddy_order`, `PageLRU`, ...).
pub trait PfnOracle {
    /// Returns the state of frame `pfn`, with the run of frames sharing it.
    fn pfn_info(&mut self, pfn: u64) -> PfnInfo;
}

/// Why a candidate range was skipped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RejectReason {
    /// A hole or offline memory.
    Hole,
    /// A page of another zone.
    OtherZone,
    /// A reserved page.
    Reserved,
    /// An existing huge or large compound page.
    Huge,
    /// An unmovable or pinned page.
    Unmovable,
    /// `alloc_contig_range` failed on this range recently.
    RecentFailure,
}

impl RejectReason {
    /// Number of reasons, the length of [`ScanCounters::rejected`].
    pub const COUNT: usize = 6;

    /// All reasons, in [`RejectReason::index`] order.
    #[cfg(not(MODULE))]
    pub const ALL: [RejectReason; RejectReason::COUNT] = [
        RejectReason::Hole,
        RejectReason::OtherZone,
        RejectReason::Reserved,
        RejectReason::Huge,
        RejectReason::Unmovable,
        RejectReason::RecentFailure,
    ];

    /// Returns the reason's index into per-reason counter arrays.
    pub const fn index(self) -> usize {
        match self {
            Self::Hole => 0,
            Self::OtherZone => 1,
            Self::Reserved => 2,
            Self::Huge => 3,
            Self::Unmovable => 4,
            Self::RecentFailure => 5,
        }
    }

    /// Returns the reason's name, the suffix of its `gigantic_rejected_*` statistic (the
    /// statistics' tests check that the two agree).
    #[cfg(not(MODULE))]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Hole => "hole",
            Self::OtherZone => "other_zone",
            Self::Reserved => "reserved",
            Self::Huge => "huge",
            Self::Unmovable => "unmovable",
            Self::RecentFailure => "recent_failure",
        }
    }
}

/// A range of page frames `[start_pfn, start_pfn + nr_pages)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PfnRange {
    /// First frame.
    pub start_pfn: u64,
    /// Number of frames.
    pub nr_pages: u64,
}

impl PfnRange {
    /// Returns the first frame after the range (saturating).
    #[cfg(not(MODULE))]
    pub fn end_pfn(&self) -> u64 {
        self.start_pfn.saturating_add(self.nr_pages)
    }
}

/// The outcome of `alloc_contig_range` on a candidate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContigOutcome {
    /// The range is now the caller's.
    Allocated,
    /// Isolation or migration failed (`-EBUSY`); the range is remembered as recently failed.
    MigrationFailed,
    /// Another error (`-ENOMEM`, `-EINTR`); not held against the range.
    OtherError,
}

/// Counters of one scan, added to the per-size statistics afterwards.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScanCounters {
    /// Candidate ranges considered (accepted or rejected).
    pub candidates_scanned: u64,
    /// Candidates rejected, per [`RejectReason::index`].
    pub rejected: [u64; RejectReason::COUNT],
    /// Oracle calls made.
    pub pfn_lookups: u64,
    /// `alloc_contig_range` calls reported.
    pub contig_attempts: u64,
    /// Of which succeeded.
    pub contig_successes: u64,
    /// Of which failed with a migration failure.
    pub migration_failures: u64,
    /// Of which failed otherwise.
    pub other_failures: u64,
}

impl ScanCounters {
    /// Returns the total of rejected candidates.
    #[cfg(not(MODULE))]
    pub fn total_rejected(&self) -> u64 {
        self.rejected
            .iter()
            .fold(0u64, |acc, &n| acc.saturating_add(n))
    }

    fn reject(&mut self, reason: RejectReason, candidates: u64) {
        self.candidates_scanned = self.candidates_scanned.saturating_add(candidates);
        if let Some(n) = self.rejected.get_mut(reason.index()) {
            *n = n.saturating_add(candidates);
        }
    }
}

/// Number of ranges a [`RecentFailures`] cache remembers.
pub const RECENT_FAILURES: usize = 16;

/// A small cache of candidate ranges whose `alloc_contig_range` failed recently.
///
/// Time is whatever monotonic unit the caller uses (jiffies, nanoseconds): entries older than
/// the cooldown are ignored, and the oldest entry makes room for a new one. A cache kept for a
/// single resize can use a cooldown of `u64::MAX` ("never retry in this resize").
#[derive(Clone, Debug)]
pub struct RecentFailures {
    entries: [(u64, u64); RECENT_FAILURES],
    len: usize,
    next: usize,
    cooldown: u64,
}

impl RecentFailures {
    /// Creates an empty cache whose entries expire `cooldown` time units after the failure.
    pub const fn new(cooldown: u64) -> Self {
        Self {
            entries: [(0, 0); RECENT_FAILURES],
            len: 0,
            next: 0,
            cooldown,
        }
    }

    /// Records that the range starting at `start_pfn` failed at time `now`.
    pub fn note(&mut self, start_pfn: u64, now: u64) {
        if let Some(entry) = self
            .entries
            .iter_mut()
            .take(self.len)
            .find(|(pfn, _)| *pfn == start_pfn)
        {
            entry.1 = now;
            return;
        }
        if let Some(entry) = self.entries.get_mut(self.next) {
            *entry = (start_pfn, now);
        }
        self.next = self.next.saturating_add(1) % RECENT_FAILURES;
        self.len = self.len.saturating_add(1).min(RECENT_FAILURES);
    }

    /// Returns whether the range starting at `start_pfn` failed less than the cooldown ago.
    pub fn is_recent(&self, start_pfn: u64, now: u64) -> bool {
        self.entries
            .iter()
            .take(self.len)
            .any(|&(pfn, when)| pfn == start_pfn && now.saturating_sub(when) < self.cooldown)
    }

    /// Forgets everything (for example after a `compact_memory` write).
    #[cfg(not(MODULE))]
    pub fn clear(&mut self) {
        self.len = 0;
        self.next = 0;
    }

    /// Returns the number of ranges remembered (expired ones included).
    #[cfg(not(MODULE))]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Returns whether the cache is empty.
    #[cfg(not(MODULE))]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// Errors of [`GiganticScan::new`] and [`GiganticScan::report`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GiganticError {
    /// `order` is 63 or more.
    InvalidOrder,
    /// `start_pfn > end_pfn`.
    InvalidSpan,
    /// `report` without an outstanding candidate, or for another range.
    Protocol,
}

impl fmt::Display for GiganticError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::InvalidOrder => "invalid gigantic page order",
            Self::InvalidSpan => "invalid pfn span",
            Self::Protocol => "candidate reported out of order",
        })
    }
}

/// The next thing the caller must do for a [`GiganticScan`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScanStep {
    /// Try `alloc_contig_range` on this range (after dropping the zone lock), then
    /// [`GiganticScan::report`] the outcome.
    Candidate(PfnRange),
    /// The work budget is spent: drop locks, `cond_resched()`, check for signals, then call
    /// [`GiganticScan::next_candidate`] again.
    Yield,
    /// Every candidate of the span was considered.
    Exhausted,
}

/// A search for gigantic page candidates over one PFN span (one zone).
#[derive(Clone, Debug)]
pub struct GiganticScan {
    /// Candidate order.
    order: u32,
    /// Pages per candidate (`1 << order`).
    nr_pages: u64,
    /// First candidate (the span start aligned up).
    first_pfn: u64,
    /// Number of candidates in the span.
    nr_candidates: u64,
    /// Candidate index the scan started at.
    start_index: u64,
    /// Candidates considered so far (the current one included once it is done).
    visited: u64,
    /// Next frame to examine inside the current candidate, if one is half examined.
    cursor: Option<u64>,
    /// The candidate handed out and not reported yet.
    pending: Option<u64>,
    /// Candidate index to resume a later scan at.
    resume_index: u64,
    counters: ScanCounters,
}

impl GiganticScan {
    /// Creates a scan of `[start_pfn, end_pfn)` for ranges of `1 << order` pages, starting at
    /// the candidate containing `resume_pfn` (or the first one if `resume_pfn` is outside the
    /// span) and wrapping around once.
    pub fn new(
        start_pfn: u64,
        end_pfn: u64,
        order: u32,
        resume_pfn: u64,
    ) -> Result<Self, GiganticError> {
        if order >= 63 {
            return Err(GiganticError::InvalidOrder);
        }
        if start_pfn > end_pfn {
            return Err(GiganticError::InvalidSpan);
        }
        let nr_pages = 1u64 << order;
        let mask = nr_pages.wrapping_sub(1);
        // Upstream ALIGN(zone_start_pfn, nr_pages); a start that cannot be aligned up has no
        // candidate at all.
        let (first_pfn, nr_candidates) = match start_pfn.checked_add(mask) {
            Some(v) => {
                let first = v & !mask;
                let span = end_pfn.saturating_sub(first);
                (first, span >> order)
            }
            None => (start_pfn, 0),
        };
        let start_index = if resume_pfn >= first_pfn {
            let index = resume_pfn.saturating_sub(first_pfn) >> order;
            if index < nr_candidates {
                index
            } else {
                0
            }
        } else {
            0
        };
        Ok(Self {
            order,
            nr_pages,
            first_pfn,
            nr_candidates,
            start_index,
            visited: 0,
            cursor: None,
            pending: None,
            resume_index: start_index,
            counters: ScanCounters::default(),
        })
    }

    /// Returns the number of candidate ranges in the span.
    #[cfg(not(MODULE))]
    pub fn nr_candidates(&self) -> u64 {
        self.nr_candidates
    }

    /// Returns the counters of this scan so far.
    pub fn counters(&self) -> &ScanCounters {
        &self.counters
    }

    /// Returns a PFN for the next scan of the same span to resume at: the candidate after the
    /// last success, or where this scan started if nothing succeeded.
    pub fn resume_pfn(&self) -> u64 {
        self.candidate_start(self.resume_index)
    }

    fn candidate_start(&self, index: u64) -> u64 {
        let offset = index.checked_mul(self.nr_pages).unwrap_or(0);
        self.first_pfn.saturating_add(offset)
    }

    /// Candidate index of the `visited`-th candidate of the scan.
    fn index_of(&self, visited: u64) -> u64 {
        self.start_index
            .saturating_add(visited)
            .checked_rem(self.nr_candidates)
            .unwrap_or(0)
    }

    /// Returns the next candidate, examining at most `budget` frames (at least one) through
    /// `oracle` and skipping ranges `recent` remembers as failed at time `now`.
    pub fn next_candidate<O: PfnOracle + ?Sized>(
        &mut self,
        oracle: &mut O,
        recent: &RecentFailures,
        now: u64,
        budget: u64,
    ) -> ScanStep {
        if self.pending.is_some() {
            // The caller must report first; handing out the same range again is harmless.
            if let Some(index) = self.pending {
                return ScanStep::Candidate(PfnRange {
                    start_pfn: self.candidate_start(index),
                    nr_pages: self.nr_pages,
                });
            }
        }
        let mut lookups = 0u64;
        while self.visited < self.nr_candidates {
            let index = self.index_of(self.visited);
            let start = self.candidate_start(index);
            let end = start.saturating_add(self.nr_pages);
            let mut pfn = match self.cursor {
                Some(pfn) => pfn,
                None => {
                    if recent.is_recent(start, now) {
                        self.counters.reject(RejectReason::RecentFailure, 1);
                        self.visited = self.visited.saturating_add(1);
                        continue;
                    }
                    start
                }
            };
            let mut rejected = false;
            while pfn < end {
                if lookups >= budget.max(1) {
                    self.cursor = Some(pfn);
                    return ScanStep::Yield;
                }
                lookups = lookups.saturating_add(1);
                self.counters.pfn_lookups = self.counters.pfn_lookups.saturating_add(1);
                let info = oracle.pfn_info(pfn);
                let run_end = pfn.saturating_add(info.nr_pages.max(1));
                if let Some(reason) = info.state.reject_reason() {
                    self.reject_run(index, reason, run_end);
                    rejected = true;
                    break;
                }
                pfn = run_end;
            }
            self.cursor = None;
            if rejected {
                continue;
            }
            self.visited = self.visited.saturating_add(1);
            self.counters.candidates_scanned = self.counters.candidates_scanned.saturating_add(1);
            self.pending = Some(index);
            return ScanStep::Candidate(PfnRange {
                start_pfn: start,
                nr_pages: self.nr_pages,
            });
        }
        ScanStep::Exhausted
    }

    /// Rejects candidate `index` and every following candidate (up to the wrap point) that
    /// starts before `run_end`, the end of a bad run.
    fn reject_run(&mut self, index: u64, reason: RejectReason, run_end: u64) {
        let start = self.candidate_start(index);
        // Candidates overlapping [start, run_end): ceil((run_end - start) / nr_pages).
        let span = run_end.saturating_sub(start);
        let overlapped = span
            .saturating_add(self.nr_pages.wrapping_sub(1))
            .checked_shr(self.order)
            .unwrap_or(0)
            .max(1);
        // Do not run past the end of the span or past the candidates left in this scan.
        let to_span_end = self.nr_candidates.saturating_sub(index);
        let left = self.nr_candidates.saturating_sub(self.visited);
        let skipped = overlapped.min(to_span_end).min(left).max(1);
        self.counters.reject(reason, skipped);
        self.visited = self.visited.saturating_add(skipped);
    }

    /// Reports the outcome of `alloc_contig_range` on the last candidate; a migration failure
    /// is noted in `recent` at time `now`.
    pub fn report(
        &mut self,
        range: PfnRange,
        outcome: ContigOutcome,
        recent: &mut RecentFailures,
        now: u64,
    ) -> Result<(), GiganticError> {
        let index = self.pending.ok_or(GiganticError::Protocol)?;
        if range.start_pfn != self.candidate_start(index) || range.nr_pages != self.nr_pages {
            return Err(GiganticError::Protocol);
        }
        self.pending = None;
        let c = &mut self.counters;
        c.contig_attempts = c.contig_attempts.saturating_add(1);
        match outcome {
            ContigOutcome::Allocated => {
                c.contig_successes = c.contig_successes.saturating_add(1);
                self.resume_index = index
                    .saturating_add(1)
                    .checked_rem(self.nr_candidates)
                    .unwrap_or(0);
            }
            ContigOutcome::MigrationFailed => {
                c.migration_failures = c.migration_failures.saturating_add(1);
                recent.note(range.start_pfn, now);
            }
            ContigOutcome::OtherError => {
                c.other_failures = c.other_failures.saturating_add(1);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    /// A synthetic memory map: a state per pfn, plus optional run hints.
    struct Map {
        states: Vec<PfnState>,
        runs: bool,
        lookups: u64,
    }

    impl Map {
        fn new(n: usize) -> Self {
            Self {
                states: std::vec![PfnState::Free; n],
                runs: false,
                lookups: 0,
            }
        }
    }

    impl PfnOracle for Map {
        fn pfn_info(&mut self, pfn: u64) -> PfnInfo {
            self.lookups += 1;
            let i = pfn as usize;
            let state = self.states.get(i).copied().unwrap_or(PfnState::Hole);
            if !self.runs {
                return PfnInfo::single(state);
            }
            let run = self.states[i.min(self.states.len())..]
                .iter()
                .take_while(|&&s| s == state)
                .count()
                .max(1);
            PfnInfo {
                state,
                nr_pages: run as u64,
            }
        }
    }

    fn collect(scan: &mut GiganticScan, map: &mut Map, recent: &RecentFailures) -> Vec<u64> {
        let mut out = Vec::new();
        let mut never = RecentFailures::new(0);
        loop {
            match scan.next_candidate(map, recent, 0, u64::MAX) {
                ScanStep::Candidate(r) => {
                    out.push(r.start_pfn);
                    scan.report(r, ContigOutcome::OtherError, &mut never, 0)
                        .unwrap();
                }
                ScanStep::Yield => unreachable!(),
                ScanStep::Exhausted => return out,
            }
        }
    }

    #[test]
    fn candidates_are_aligned_and_inside_the_span() {
        let mut map = Map::new(100);
        let mut scan = GiganticScan::new(3, 70, 4, 0).unwrap();
        assert_eq!(scan.nr_candidates(), 3);
        let got = collect(&mut scan, &mut map, &RecentFailures::new(0));
        assert_eq!(got, [16, 32, 48]);
        assert_eq!(scan.counters().candidates_scanned, 3);
        // Span too small or unalignable.
        assert_eq!(GiganticScan::new(1, 16, 4, 0).unwrap().nr_candidates(), 0);
        assert_eq!(
            GiganticScan::new(u64::MAX - 3, u64::MAX, 4, 0)
                .unwrap()
                .nr_candidates(),
            0
        );
        assert_eq!(GiganticScan::new(0, 16, 4, 0).unwrap().nr_candidates(), 1);
        assert_eq!(
            GiganticScan::new(5, 4, 4, 0).unwrap_err(),
            GiganticError::InvalidSpan
        );
        assert_eq!(
            GiganticScan::new(0, 4, 63, 0).unwrap_err(),
            GiganticError::InvalidOrder
        );
    }

    #[test]
    fn bad_pages_reject_with_reasons() {
        let mut map = Map::new(128);
        map.states[5] = PfnState::Reserved;
        map.states[20] = PfnState::Movable;
        map.states[40] = PfnState::Unmovable;
        map.states[63] = PfnState::Huge;
        map.states[64] = PfnState::OtherZone;
        map.states[127] = PfnState::Hole;
        let mut scan = GiganticScan::new(0, 128, 4, 0).unwrap();
        let got = collect(&mut scan, &mut map, &RecentFailures::new(0));
        assert_eq!(got, [16, 80, 96]);
        let c = scan.counters();
        assert_eq!(c.candidates_scanned, 8);
        assert_eq!(c.total_rejected(), 5);
        for (reason, n) in [
            (RejectReason::Reserved, 1),
            (RejectReason::Unmovable, 1),
            (RejectReason::Huge, 1),
            (RejectReason::OtherZone, 1),
            (RejectReason::Hole, 1),
        ] {
            assert_eq!(c.rejected[reason.index()], n, "{}", reason.name());
        }
    }

    #[test]
    fn runs_skip_whole_candidates() {
        let mut map = Map::new(1 << 12);
        map.runs = true;
        for s in &mut map.states[0..2000] {
            *s = PfnState::Hole;
        }
        let mut scan = GiganticScan::new(0, 1 << 12, 8, 0).unwrap();
        let got = collect(&mut scan, &mut map, &RecentFailures::new(0));
        // 2000 pfns of hole cover candidates 0..=7 (2000/256 = 7.8).
        assert_eq!(got.first(), Some(&2048));
        assert_eq!(got.len(), 8);
        assert_eq!(scan.counters().rejected[RejectReason::Hole.index()], 8);
        // One lookup for the hole, one per free candidate (a single free run each).
        assert_eq!(map.lookups, 1 + 8);
    }

    #[test]
    fn budget_yields_and_resumes_mid_candidate() {
        let mut map = Map::new(64);
        map.states[40] = PfnState::Reserved;
        let mut scan = GiganticScan::new(0, 64, 5, 0).unwrap();
        let never = RecentFailures::new(0);
        let mut yields = 0;
        let mut got = Vec::new();
        loop {
            match scan.next_candidate(&mut map, &never, 0, 7) {
                ScanStep::Yield => yields += 1,
                ScanStep::Candidate(r) => {
                    got.push(r.start_pfn);
                    scan.report(r, ContigOutcome::OtherError, &mut RecentFailures::new(0), 0)
                        .unwrap();
                }
                ScanStep::Exhausted => break,
            }
        }
        assert_eq!(got, [0]);
        assert_eq!(yields, 5);
        // Every pfn of the first candidate and pfns 32..=40 of the second were examined once.
        assert_eq!(map.lookups, 32 + 9);
    }

    #[test]
    fn resume_wraps_around_once() {
        let mut map = Map::new(64);
        let mut scan = GiganticScan::new(0, 64, 4, 35).unwrap();
        let got = collect(&mut scan, &mut map, &RecentFailures::new(0));
        assert_eq!(got, [32, 48, 0, 16]);
        // After a success, the next scan resumes past it.
        let mut scan = GiganticScan::new(0, 64, 4, 0).unwrap();
        let ScanStep::Candidate(r) = scan.next_candidate(&mut map, &RecentFailures::new(0), 0, 100)
        else {
            panic!()
        };
        scan.report(r, ContigOutcome::Allocated, &mut RecentFailures::new(0), 0)
            .unwrap();
        assert_eq!(scan.resume_pfn(), 16);
        assert_eq!(GiganticScan::new(0, 64, 4, 1000).unwrap().resume_pfn(), 0);
        // A bad run at the end of the span does not skip past the wrap point.
        map.runs = true;
        for s in &mut map.states[50..64] {
            *s = PfnState::Hole;
        }
        let mut scan = GiganticScan::new(0, 64, 4, 48).unwrap();
        assert_eq!(
            collect(&mut scan, &mut map, &RecentFailures::new(0)),
            [0, 16, 32]
        );
    }

    #[test]
    fn recent_failures_are_skipped_until_cooldown() {
        let mut map = Map::new(64);
        let mut recent = RecentFailures::new(10);
        let mut scan = GiganticScan::new(0, 64, 4, 0).unwrap();
        let ScanStep::Candidate(r) = scan.next_candidate(&mut map, &recent, 100, 1000) else {
            panic!()
        };
        assert_eq!(
            scan.report(
                PfnRange {
                    start_pfn: 16,
                    nr_pages: 16
                },
                ContigOutcome::Allocated,
                &mut recent,
                100
            ),
            Err(GiganticError::Protocol)
        );
        scan.report(r, ContigOutcome::MigrationFailed, &mut recent, 100)
            .unwrap();
        assert_eq!(
            scan.report(r, ContigOutcome::Allocated, &mut recent, 100),
            Err(GiganticError::Protocol)
        );
        assert_eq!(scan.counters().migration_failures, 1);
        assert!(recent.is_recent(0, 105));
        assert!(!recent.is_recent(0, 110));
        let mut scan = GiganticScan::new(0, 64, 4, 0).unwrap();
        let got = collect(&mut scan, &mut map, &recent);
        assert_eq!(got, [16, 32, 48]);
        assert_eq!(
            scan.counters().rejected[RejectReason::RecentFailure.index()],
            1
        );
        // The cache keeps the newest entries.
        let mut recent = RecentFailures::new(u64::MAX);
        for pfn in 0..(RECENT_FAILURES as u64 + 4) {
            recent.note(pfn, 0);
        }
        recent.note(10, 0);
        assert_eq!(recent.len(), RECENT_FAILURES);
        assert!(!recent.is_recent(0, 1) && recent.is_recent(19, 1) && recent.is_recent(4, 1));
        recent.clear();
        assert!(recent.is_empty() && !recent.is_recent(19, 1));
    }

    #[test]
    fn pending_candidate_is_handed_out_again() {
        let mut map = Map::new(32);
        let mut scan = GiganticScan::new(0, 32, 4, 0).unwrap();
        let never = RecentFailures::new(0);
        let a = scan.next_candidate(&mut map, &never, 0, 100);
        let b = scan.next_candidate(&mut map, &never, 0, 100);
        assert_eq!(a, b);
        assert_eq!(scan.counters().candidates_scanned, 1);
    }
}
