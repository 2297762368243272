// SPDX-License-Identifier: GPL-2.0

//! Per-size statistics the kernel does not keep: pool allocation attempts, outcomes and time,
//! the gigantic range search, and how faults were mapped.
//!
//! The counters are relaxed atomics, so they can be bumped from any context without a lock
//! (allocation runs with `hugetlb_lock` dropped). Each counter is read atomically, but a
//! [`StatsSnapshot`] is not one consistent cut across counters: a reader racing with an
//! allocation may see the attempt without its outcome. Durations are supplied by the caller
//! (for example from `ktime_get_ns()`); the core has no clock.
//!
//! [`StatsSnapshot::entries`] gives `(name, value)` pairs in a fixed order, so the kernel can
//! print one `name value` line per entry to sysfs or debugfs without this module knowing the
//! format.

use core::sync::atomic::{AtomicU64, Ordering};

use super::gigantic::{RejectReason, ScanCounters};

/// How a fault was mapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// A PMD entry mapped a 2 MiB page.
    Pmd,
    /// A PUD entry mapped a 1 GiB page.
    Pud,
    /// The fault fell back to base-page (PTE) mappings.
    Fallback,
}

/// Live counters of one huge page size.
#[derive(Debug, Default)]
pub struct HugePageStats {
    alloc_attempts: AtomicU64,
    alloc_successes: AtomicU64,
    alloc_failures: AtomicU64,
    alloc_time_ns: AtomicU64,
    alloc_time_max_ns: AtomicU64,
    gigantic_candidates_scanned: AtomicU64,
    gigantic_rejected: [AtomicU64; RejectReason::COUNT],
    gigantic_pfn_lookups: AtomicU64,
    gigantic_contig_attempts: AtomicU64,
    gigantic_migration_failures: AtomicU64,
    gigantic_other_failures: AtomicU64,
    faults_pmd: AtomicU64,
    faults_pud: AtomicU64,
    faults_fallback: AtomicU64,
    draining_events: AtomicU64,
    drained_pages: AtomicU64,
    zero_background_pages: AtomicU64,
    zero_fault_hits: AtomicU64,
    zero_fault_inline: AtomicU64,
    clear_background_bytes: AtomicU64,
    clear_background_ns: AtomicU64,
    clear_inline_bytes: AtomicU64,
    clear_inline_ns: AtomicU64,
}

/// Adds to a counter, saturating instead of wrapping.
fn add(counter: &AtomicU64, n: u64) {
    if n == 0 {
        return;
    }
    // fetch_update only fails if the closure returns None, which it never does.
    let _ = counter.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
        Some(v.saturating_add(n))
    });
}

fn get(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

impl HugePageStats {
    /// Creates zeroed counters.
    pub const fn new() -> Self {
        Self {
            alloc_attempts: AtomicU64::new(0),
            alloc_successes: AtomicU64::new(0),
            alloc_failures: AtomicU64::new(0),
            alloc_time_ns: AtomicU64::new(0),
            alloc_time_max_ns: AtomicU64::new(0),
            gigantic_candidates_scanned: AtomicU64::new(0),
            gigantic_rejected: [const { AtomicU64::new(0) }; RejectReason::COUNT],
            gigantic_pfn_lookups: AtomicU64::new(0),
            gigantic_contig_attempts: AtomicU64::new(0),
            gigantic_migration_failures: AtomicU64::new(0),
            gigantic_other_failures: AtomicU64::new(0),
            faults_pmd: AtomicU64::new(0),
            faults_pud: AtomicU64::new(0),
            faults_fallback: AtomicU64::new(0),
            draining_events: AtomicU64::new(0),
            drained_pages: AtomicU64::new(0),
            zero_background_pages: AtomicU64::new(0),
            zero_fault_hits: AtomicU64::new(0),
            zero_fault_inline: AtomicU64::new(0),
            clear_background_bytes: AtomicU64::new(0),
            clear_background_ns: AtomicU64::new(0),
            clear_inline_bytes: AtomicU64::new(0),
            clear_inline_ns: AtomicU64::new(0),
        }
    }

    /// Records one fresh page allocation attempt (pool growth or surplus) that took
    /// `duration_ns` and did or did not produce a page.
    pub fn record_alloc(&self, success: bool, duration_ns: u64) {
        add(&self.alloc_attempts, 1);
        if success {
            add(&self.alloc_successes, 1);
        } else {
            add(&self.alloc_failures, 1);
        }
        add(&self.alloc_time_ns, duration_ns);
        self.alloc_time_max_ns
            .fetch_max(duration_ns, Ordering::Relaxed);
    }

    /// Adds the counters of a finished (or abandoned) gigantic range scan.
    pub fn add_scan(&self, scan: &ScanCounters) {
        add(&self.gigantic_candidates_scanned, scan.candidates_scanned);
        for (counter, &n) in self.gigantic_rejected.iter().zip(scan.rejected.iter()) {
            add(counter, n);
        }
        add(&self.gigantic_pfn_lookups, scan.pfn_lookups);
        add(&self.gigantic_contig_attempts, scan.contig_attempts);
        add(&self.gigantic_migration_failures, scan.migration_failures);
        add(&self.gigantic_other_failures, scan.other_failures);
    }

    /// Records how a fault was mapped.
    pub fn record_fault(&self, kind: FaultKind) {
        add(
            match kind {
                FaultKind::Pmd => &self.faults_pmd,
                FaultKind::Pud => &self.faults_pud,
                FaultKind::Fallback => &self.faults_fallback,
            },
            1,
        );
    }

    /// Records a page given back while something else still referenced it (it waits on the
    /// draining list).
    pub fn record_draining(&self) {
        add(&self.draining_events, 1);
    }

    /// Records a page that left the draining list once nothing else referenced it.
    pub fn record_drained(&self) {
        add(&self.drained_pages, 1);
    }

    /// Records a page a background worker cleared completely: `bytes` in `ns`.
    pub fn record_background_clear(&self, bytes: u64, ns: u64) {
        add(&self.zero_background_pages, 1);
        add(&self.clear_background_bytes, bytes);
        add(&self.clear_background_ns, ns);
    }

    /// Records a page taken to be mapped that was already zeroed (no clear on the fault
    /// path).
    pub fn record_zeroed_hit(&self) {
        add(&self.zero_fault_hits, 1);
    }

    /// Records a page cleared on the fault path (none was zeroed): `bytes` in `ns`.
    pub fn record_inline_clear(&self, bytes: u64, ns: u64) {
        add(&self.zero_fault_inline, 1);
        add(&self.clear_inline_bytes, bytes);
        add(&self.clear_inline_ns, ns);
    }

    /// Resets every counter to zero.
    #[cfg(not(MODULE))]
    pub fn reset(&self) {
        for counter in self.all_counters() {
            counter.store(0, Ordering::Relaxed);
        }
    }

    fn all_counters(&self) -> [&AtomicU64; NR_STATS] {
        let [r0, r1, r2, r3, r4, r5] = &self.gigantic_rejected;
        [
            &self.alloc_attempts,
            &self.alloc_successes,
            &self.alloc_failures,
            &self.alloc_time_ns,
            &self.alloc_time_max_ns,
            &self.gigantic_candidates_scanned,
            r0,
            r1,
            r2,
            r3,
            r4,
            r5,
            &self.gigantic_pfn_lookups,
            &self.gigantic_contig_attempts,
            &self.gigantic_migration_failures,
            &self.gigantic_other_failures,
            &self.faults_pmd,
            &self.faults_pud,
            &self.faults_fallback,
            &self.draining_events,
            &self.drained_pages,
            &self.zero_background_pages,
            &self.zero_fault_hits,
            &self.zero_fault_inline,
            &self.clear_background_bytes,
            &self.clear_background_ns,
            &self.clear_inline_bytes,
            &self.clear_inline_ns,
        ]
    }

    /// Returns a copy of every counter.
    pub fn snapshot(&self) -> StatsSnapshot {
        let mut values = [0u64; NR_STATS];
        for (value, counter) in values.iter_mut().zip(self.all_counters()) {
            *value = get(counter);
        }
        StatsSnapshot { values }
    }
}

/// Number of entries in a [`StatsSnapshot`].
pub const NR_STATS: usize = 28;

/// Names of the entries of a [`StatsSnapshot`], in order; the sysfs/debugfs file prints one
/// `name value` line for each.
pub const STAT_NAMES: [&str; NR_STATS] = [
    "alloc_attempts",
    "alloc_successes",
    "alloc_failures",
    "alloc_time_ns",
    "alloc_time_max_ns",
    "gigantic_candidates_scanned",
    "gigantic_rejected_hole",
    "gigantic_rejected_other_zone",
    "gigantic_rejected_reserved",
    "gigantic_rejected_huge",
    "gigantic_rejected_unmovable",
    "gigantic_rejected_recent_failure",
    "gigantic_pfn_lookups",
    "gigantic_contig_attempts",
    "gigantic_migration_failures",
    "gigantic_other_failures",
    "faults_pmd",
    "faults_pud",
    "faults_fallback",
    "draining_events",
    "drained_pages",
    "zero_background_pages",
    "zero_fault_hits",
    "zero_fault_inline",
    "clear_background_bytes",
    "clear_background_ns",
    "clear_inline_bytes",
    "clear_inline_ns",
];

/// A copy of the statistics of one size, independent of any output format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    values: [u64; NR_STATS],
}

impl StatsSnapshot {
    /// Returns `(name, value)` for every statistic, in [`STAT_NAMES`] order.
    pub fn entries(&self) -> [(&'static str, u64); NR_STATS] {
        let mut out = [("", 0u64); NR_STATS];
        for ((slot, &name), &value) in out
            .iter_mut()
            .zip(STAT_NAMES.iter())
            .zip(self.values.iter())
        {
            *slot = (name, value);
        }
        out
    }

    /// Returns the value of the statistic called `name`, if there is one.
    #[cfg(not(MODULE))]
    pub fn get(&self, name: &str) -> Option<u64> {
        STAT_NAMES
            .iter()
            .position(|&n| n == name)
            .and_then(|i| self.values.get(i).copied())
    }

    /// Returns the mean allocation time in nanoseconds (0 before the first attempt).
    #[cfg(not(MODULE))]
    pub fn alloc_time_mean_ns(&self) -> u64 {
        let attempts = self.get("alloc_attempts").unwrap_or(0);
        let total = self.get("alloc_time_ns").unwrap_or(0);
        total.checked_div(attempts).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_reasons() {
        for reason in RejectReason::ALL {
            let name = std::format!("gigantic_rejected_{}", reason.name());
            assert_eq!(STAT_NAMES[6 + reason.index()], name);
        }
        let mut sorted = STAT_NAMES.to_vec();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), NR_STATS);
    }

    #[test]
    fn counts_and_snapshot() {
        let stats = HugePageStats::new();
        stats.record_alloc(true, 100);
        stats.record_alloc(false, 300);
        stats.record_fault(FaultKind::Pmd);
        stats.record_fault(FaultKind::Pud);
        stats.record_fault(FaultKind::Fallback);
        stats.record_fault(FaultKind::Fallback);
        let mut scan = ScanCounters {
            candidates_scanned: 5,
            pfn_lookups: 42,
            contig_attempts: 2,
            contig_successes: 1,
            migration_failures: 1,
            ..Default::default()
        };
        scan.rejected[RejectReason::Reserved.index()] = 3;
        stats.add_scan(&scan);
        stats.add_scan(&scan);
        let snap = stats.snapshot();
        assert_eq!(snap.get("alloc_attempts"), Some(2));
        assert_eq!(snap.get("alloc_successes"), Some(1));
        assert_eq!(snap.get("alloc_failures"), Some(1));
        assert_eq!(snap.get("alloc_time_ns"), Some(400));
        assert_eq!(snap.get("alloc_time_max_ns"), Some(300));
        assert_eq!(snap.alloc_time_mean_ns(), 200);
        assert_eq!(snap.get("gigantic_candidates_scanned"), Some(10));
        assert_eq!(snap.get("gigantic_rejected_reserved"), Some(6));
        assert_eq!(snap.get("gigantic_rejected_hole"), Some(0));
        assert_eq!(snap.get("gigantic_pfn_lookups"), Some(84));
        assert_eq!(snap.get("gigantic_contig_attempts"), Some(4));
        assert_eq!(snap.get("gigantic_migration_failures"), Some(2));
        assert_eq!(snap.get("faults_fallback"), Some(2));
        assert_eq!(snap.get("draining_events"), Some(0));
        assert_eq!(snap.get("nope"), None);
        let entries = snap.entries();
        assert_eq!(entries[0], ("alloc_attempts", 2));
        assert_eq!(entries[18], ("faults_fallback", 2));
        stats.record_draining();
        stats.record_draining();
        stats.record_drained();
        let snap = stats.snapshot();
        assert_eq!(snap.get("draining_events"), Some(2));
        assert_eq!(snap.get("drained_pages"), Some(1));
        stats.record_background_clear(2 << 20, 500);
        stats.record_background_clear(2 << 20, 700);
        stats.record_zeroed_hit();
        stats.record_inline_clear(4096, 9);
        let snap = stats.snapshot();
        assert_eq!(snap.get("zero_background_pages"), Some(2));
        assert_eq!(snap.get("clear_background_bytes"), Some(4 << 20));
        assert_eq!(snap.get("clear_background_ns"), Some(1200));
        assert_eq!(snap.get("zero_fault_hits"), Some(1));
        assert_eq!(snap.get("zero_fault_inline"), Some(1));
        assert_eq!(snap.get("clear_inline_bytes"), Some(4096));
        assert_eq!(snap.get("clear_inline_ns"), Some(9));
        stats.reset();
        assert_eq!(stats.snapshot(), StatsSnapshot::default());
        assert_eq!(StatsSnapshot::default().alloc_time_mean_ns(), 0);
    }

    #[test]
    fn counters_saturate() {
        let stats = HugePageStats::new();
        stats.record_alloc(true, u64::MAX);
        stats.record_alloc(true, 5);
        assert_eq!(stats.snapshot().get("alloc_time_ns"), Some(u64::MAX));
    }
}
