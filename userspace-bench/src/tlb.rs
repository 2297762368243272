//! 1. TLB-miss cost.
//!
//! * lmbench `tlb`-style chains: for N pages, a chain with one pointer per 4 KiB of virtual
//!   space (random page order, random line in each page) vs the same N pointers packed into
//!   consecutive lines. Both touch N cache lines (cache-resident), so their difference is
//!   translation. On huge-page backings the N "pages" share a few huge pages: no difference.
//! * Random full-permutation chase: a Sattolo cycle over every `slot` (64 B) of working sets
//!   from 1 MiB up to 4 GiB. The same permutation (same virtual access pattern) is used for
//!   every backing, so only the translation differs.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::backing::{smaps_for, Backing, Region};
use crate::chain::{self, chase};
use crate::perf::DtlbCounter;
use crate::stats::{self, ChainPoint, TlbDerived};
use crate::util::{fmt_size, progress, BASE_PAGE};

#[derive(Clone, Debug)]
pub struct TlbConfig {
    pub working_sets: Vec<u64>,
    /// Bytes per slot of the random chase (one pointer per slot).
    pub slot: usize,
    /// Loads per timed run.
    pub accesses: u64,
    pub repeats: u32,
    pub seed: u64,
    /// Page counts for the lmbench-style chain comparison.
    pub chain_pages: Vec<u64>,
    pub line: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChasePoint {
    pub ws: u64,
    /// Best of the repeats (ns per dependent load).
    pub ns: f64,
    pub ns_median: f64,
    pub dtlb_misses_per_access: Option<f64>,
    /// For THP: fraction of the region backed by huge pages (AnonHugePages / Rss).
    pub huge_fraction: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TlbSeries {
    pub backing: String,
    pub page_size: u64,
    pub implementation: String,
    pub points: Vec<ChasePoint>,
    pub chains: Vec<ChainPoint>,
    pub derived: TlbDerived,
    pub notes: Vec<String>,
}

impl TlbSeries {
    pub fn ns_at(&self, ws: u64) -> Option<f64> {
        self.points.iter().find(|p| p.ws == ws).map(|p| p.ns)
    }
    pub fn curve(&self) -> Vec<(u64, f64)> {
        self.points.iter().map(|p| (p.ws, p.ns)).collect()
    }
}

/// Successor arrays by slot count, shared by all backings (same pattern everywhere).
pub struct PermCache {
    seed: u64,
    cap_bytes: usize,
    map: BTreeMap<usize, Arc<Vec<u32>>>,
}

impl PermCache {
    pub fn new(seed: u64, cap_bytes: usize) -> Self {
        PermCache {
            seed,
            cap_bytes,
            map: BTreeMap::new(),
        }
    }

    pub fn get(&mut self, slots: usize) -> Arc<Vec<u32>> {
        if let Some(p) = self.map.get(&slots) {
            return p.clone();
        }
        if slots >= 1 << 22 {
            progress(&format!("generating random cycle over {slots} slots"));
        }
        let p = Arc::new(chain::random_cycle(slots, self.seed ^ slots as u64));
        let used: usize = self.map.values().map(|v| v.len() * 4).sum();
        if used + slots * 4 <= self.cap_bytes {
            self.map.insert(slots, p.clone());
        }
        p
    }
}

/// Follow the chain from `start`: one warm-up run, then `repeats` timed runs of `accesses`.
/// Returns (best ns/access, median ns/access, dTLB misses per access).
///
/// # Safety
/// `start` must point into a closed chain in live memory.
unsafe fn time_chase(
    start: *const u8,
    accesses: u64,
    repeats: u32,
    dtlb: &mut Option<DtlbCounter>,
) -> (f64, f64, Option<f64>) {
    let mut p = chase(start, (accesses / 4).max(1));
    let mut per = Vec::with_capacity(repeats as usize);
    if let Some(c) = dtlb.as_mut() {
        c.start().ok();
    }
    for _ in 0..repeats.max(1) {
        let t = Instant::now();
        p = chase(p, accesses);
        per.push(t.elapsed().as_secs_f64() * 1e9 / accesses as f64);
    }
    let misses = dtlb
        .as_mut()
        .and_then(|c| c.stop().ok())
        .map(|m| m as f64 / (accesses as f64 * repeats.max(1) as f64));
    std::hint::black_box(p);
    (stats::min(&per), stats::median(&per), misses)
}

/// Run both TLB measurements on one backing's region (already mapped, at least as large as
/// the largest working set that fits).
pub fn run(
    backing: &Backing,
    region: &Region,
    cfg: &TlbConfig,
    perms: &mut PermCache,
    dtlb: &mut Option<DtlbCounter>,
    freq_mhz: Option<f64>,
) -> TlbSeries {
    let base = region.as_ptr();
    let len = region.len() as u64;
    let mut notes = Vec::new();

    // lmbench-style chains.
    let mut chains = Vec::new();
    let chain_accesses = (cfg.accesses / 4).max(10_000);
    for &n in &cfg.chain_pages {
        if n * BASE_PAGE > len {
            notes.push(format!(
                "chains stop at {} pages: region is {}",
                n / 2,
                fmt_size(len)
            ));
            break;
        }
        let pc = chain::page_chain(n as usize, BASE_PAGE as usize, cfg.line, cfg.seed ^ n);
        let kc = chain::packed_chain(n as usize, cfg.line, cfg.seed ^ n);
        // SAFETY: both chains fit in the region (checked above: span <= n pages).
        let (page_ns, packed_ns) = unsafe {
            pc.write(base);
            let (page_ns, _, _) = time_chase(
                base.add(pc.offsets[0]),
                chain_accesses,
                cfg.repeats,
                &mut None,
            );
            kc.write(base);
            let (packed_ns, _, _) = time_chase(
                base.add(kc.offsets[0]),
                chain_accesses,
                cfg.repeats,
                &mut None,
            );
            (page_ns, packed_ns)
        };
        chains.push(ChainPoint {
            pages: n,
            page_ns,
            packed_ns,
        });
    }
    let derived = stats::derive_tlb(&chains, 1.25, freq_mhz);
    if let Some(n) = splintered(backing.page_size, &derived) {
        notes.push(format!(
            "the per-page chain slows down (> 1.25x packed) while spanning only {n} huge page(s): \
             the TLB holds translations smaller than the huge page. In a VM this means the host \
             backs guest memory with smaller pages (splintered TLB entries); huge pages then help \
             through shorter (nested) page walks, not through TLB reach"
        ));
    }
    if let Some(last) = chains.last() {
        progress(&format!(
            "tlb {}: chains up to {} pages: page {:.2} ns vs packed {:.2} ns",
            backing.id, last.pages, last.page_ns, last.packed_ns
        ));
    }

    // Random full-permutation chase.
    let mut points = Vec::new();
    for &ws in &cfg.working_sets {
        if ws > len {
            notes.push(format!("random chase capped at {}", fmt_size(len)));
            break;
        }
        let slots = (ws as usize / cfg.slot).max(2);
        let next = perms.get(slots);
        // SAFETY: slots * slot <= ws <= region length.
        let (ns, ns_median, misses) = unsafe {
            chain::write_slot_cycle(base, cfg.slot, &next);
            time_chase(base, cfg.accesses, cfg.repeats, dtlb)
        };
        let huge_fraction = match backing.kind {
            crate::backing::BackingKind::Thp => smaps_for(base as usize)
                .filter(|s| s.rss_kb > 0)
                .map(|s| s.anon_huge_kb as f64 / s.rss_kb as f64),
            _ => None,
        };
        progress(&format!(
            "tlb {}: ws {:>8}: {:7.2} ns/access{}",
            backing.id,
            fmt_size(ws),
            ns,
            huge_fraction.map_or(String::new(), |f| format!(" (THP {:.0}%)", f * 100.0))
        ));
        points.push(ChasePoint {
            ws,
            ns,
            ns_median,
            dtlb_misses_per_access: misses,
            huge_fraction,
        });
    }
    if let Some(f) = points.last().and_then(|p| p.huge_fraction) {
        if f < 0.9 {
            notes.push(format!(
                "only {:.0}% of the THP region is backed by huge pages (fragmentation / defrag setting)",
                f * 100.0
            ));
        }
    }
    notes.dedup();
    TlbSeries {
        backing: backing.id.clone(),
        page_size: backing.page_size,
        implementation: backing.implementation.clone(),
        points,
        chains,
        derived,
        notes,
    }
}

/// When a huge-page backing's chain crosses the threshold while spanning only a few of its
/// pages, its TLB entries cannot be that large: returns the number of huge pages spanned.
pub fn splintered(page_size: u64, d: &TlbDerived) -> Option<u64> {
    if page_size <= BASE_PAGE {
        return None;
    }
    let crossing_pages = d.tlb_entries_estimate? * 2;
    let spanned = (crossing_pages * BASE_PAGE).div_ceil(page_size);
    (spanned <= 8).then_some(spanned)
}

/// Powers of two from `min` to `max` (inclusive when `max` is a power of two).
pub fn working_sets(min: u64, max: u64) -> Vec<u64> {
    let mut v = Vec::new();
    let mut ws = min.max(4096).next_power_of_two();
    while ws <= max {
        v.push(ws);
        ws *= 2;
    }
    v
}

/// Chain page counts: 16, 32, ... up to `max`.
pub fn chain_pages(max: u64) -> Vec<u64> {
    let mut v = Vec::new();
    let mut n = 16u64;
    while n <= max {
        v.push(n);
        n *= 2;
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::{GIB, MIB};

    #[test]
    fn sweeps() {
        assert_eq!(
            working_sets(MIB, 8 * MIB),
            vec![MIB, 2 * MIB, 4 * MIB, 8 * MIB]
        );
        assert_eq!(working_sets(MIB, 4 * GIB).len(), 13);
        assert_eq!(chain_pages(100), vec![16, 32, 64]);
    }

    #[test]
    fn splinter_detection() {
        let d = TlbDerived {
            tlb_entries_estimate: Some(64),
            ..Default::default()
        };
        assert_eq!(splintered(2 * MIB, &d), Some(1));
        assert_eq!(splintered(BASE_PAGE, &d), None);
        let big = TlbDerived {
            tlb_entries_estimate: Some(16_384),
            ..Default::default()
        };
        assert_eq!(splintered(2 * MIB, &big), None);
        assert_eq!(splintered(2 * MIB, &TlbDerived::default()), None);
    }

    #[test]
    fn tiny_run_on_4k_pages() {
        let b = Backing::anon_4k();
        let cfg = TlbConfig {
            working_sets: working_sets(64 * 1024, 256 * 1024),
            slot: 64,
            accesses: 20_000,
            repeats: 1,
            seed: 1,
            chain_pages: chain_pages(32),
            line: 64,
        };
        let r = b.map(256 * 1024, false).unwrap();
        let mut perms = PermCache::new(1, 1 << 20);
        let s = run(&b, &r, &cfg, &mut perms, &mut None, Some(1000.0));
        assert_eq!(s.points.len(), 3);
        assert_eq!(s.chains.len(), 2);
        assert!(s.points.iter().all(|p| p.ns > 0.0 && p.ns.is_finite()));
        assert_eq!(s.ns_at(64 * 1024), Some(s.points[0].ns));
    }
}
