//! Statistics: latency summaries from HdrHistogram, CDFs, derived TLB-miss cost.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// A new latency histogram in nanoseconds: 1 ns .. 10 min, 3 significant digits.
pub fn latency_hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000_000, 3).expect("valid histogram bounds")
}

/// Record, counting values the histogram cannot hold instead of hiding them.
pub fn record(h: &mut Histogram<u64>, ns: u64, errors: &mut u64) {
    if h.record(ns.max(1)).is_err() {
        *errors += 1;
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencySummary {
    pub count: u64,
    pub min_ns: u64,
    pub p50_ns: u64,
    pub p90_ns: u64,
    pub p99_ns: u64,
    pub p999_ns: u64,
    pub max_ns: u64,
    pub mean_ns: f64,
}

impl LatencySummary {
    pub fn from_hist(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        LatencySummary {
            count: h.len(),
            min_ns: h.min(),
            p50_ns: h.value_at_quantile(0.50),
            p90_ns: h.value_at_quantile(0.90),
            p99_ns: h.value_at_quantile(0.99),
            p999_ns: h.value_at_quantile(0.999),
            max_ns: h.max(),
            mean_ns: h.mean(),
        }
    }
}

/// Empirical CDF points `(latency_ns, fraction <= latency)`, at most `max_points` of them.
pub fn cdf_points(h: &Histogram<u64>, max_points: usize) -> Vec<(f64, f64)> {
    let total = h.len();
    if total == 0 {
        return Vec::new();
    }
    let mut pts: Vec<(f64, f64)> = h
        .iter_recorded()
        .map(|v| {
            (
                h.highest_equivalent(v.value_iterated_to()) as f64,
                v.quantile_iterated_to(),
            )
        })
        .collect();
    if pts.len() > max_points && max_points >= 2 {
        let step = pts.len() as f64 / (max_points - 1) as f64;
        let last = *pts.last().unwrap();
        pts = (0..max_points - 1)
            .map(|i| pts[(i as f64 * step) as usize])
            .collect();
        pts.push(last);
    }
    pts
}

pub fn min(xs: &[f64]) -> f64 {
    xs.iter().copied().fold(f64::INFINITY, f64::min)
}

pub fn median(xs: &[f64]) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    let mut v = xs.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// `a / b` when both are finite and `b > 0`.
pub fn ratio(a: f64, b: f64) -> Option<f64> {
    (a.is_finite() && b.is_finite() && b > 0.0).then(|| a / b)
}

pub fn geomean(xs: &[f64]) -> Option<f64> {
    let v: Vec<f64> = xs
        .iter()
        .copied()
        .filter(|x| *x > 0.0 && x.is_finite())
        .collect();
    if v.is_empty() {
        return None;
    }
    Some((v.iter().map(|x| x.ln()).sum::<f64>() / v.len() as f64).exp())
}

/// GB/s (10^9 bytes per second).
pub fn gbps(bytes: u64, secs: f64) -> f64 {
    if secs <= 0.0 {
        return f64::NAN;
    }
    bytes as f64 / secs / 1e9
}

/// One point of the lmbench-style comparison: `pages` pointers, one per page vs packed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChainPoint {
    pub pages: u64,
    pub page_ns: f64,
    pub packed_ns: f64,
}

impl ChainPoint {
    pub fn ratio(&self) -> f64 {
        self.page_ns / self.packed_ns
    }
}

/// What the chain comparison says about the TLB.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TlbDerived {
    /// Largest page count whose page chain still ran within the threshold of the packed
    /// chain, when a later point exceeded it (≈ TLB entries reachable at this stride).
    pub tlb_entries_estimate: Option<u64>,
    /// Extra ns per access of the page chain over the packed chain at `at_pages`: with every
    /// access a TLB miss there, this is the cost of a (cache-resident) TLB miss.
    pub extra_ns_per_miss: Option<f64>,
    pub extra_cycles_per_miss: Option<f64>,
    pub at_pages: Option<u64>,
    /// The largest chain measured: past the last-level TLB's reach the difference there is
    /// the cost of a page walk (with cache-resident data), not only of an L1 TLB miss.
    pub largest_pages: Option<u64>,
    pub largest_extra_ns: Option<f64>,
    pub largest_extra_cycles: Option<f64>,
}

/// lmbench `tlb` logic: find the first page count where `page/packed > threshold`; the TLB
/// covers the point before it. The miss cost is `page - packed` at twice that count (or the
/// largest measured point beyond it). No crossing: no TLB pressure at these page counts.
pub fn derive_tlb(points: &[ChainPoint], threshold: f64, freq_mhz: Option<f64>) -> TlbDerived {
    let mut pts: Vec<&ChainPoint> = points
        .iter()
        .filter(|p| p.page_ns.is_finite() && p.packed_ns.is_finite() && p.packed_ns > 0.0)
        .collect();
    pts.sort_by_key(|p| p.pages);
    let cycles = |ns: f64| freq_mhz.map(|f| ns * f / 1000.0);
    let largest = pts
        .last()
        .map(|p| (p.pages, (p.page_ns - p.packed_ns).max(0.0)));
    let base = TlbDerived {
        largest_pages: largest.map(|l| l.0),
        largest_extra_ns: largest.map(|l| l.1),
        largest_extra_cycles: largest.and_then(|l| cycles(l.1)),
        ..Default::default()
    };
    let Some(idx) = pts.iter().position(|p| p.ratio() > threshold) else {
        return base;
    };
    let entries = (idx > 0).then(|| pts[idx - 1].pages);
    let cross = pts[idx].pages;
    // Prefer the first point at >= 2x the crossing (well past the TLB), else the largest.
    let at = pts
        .iter()
        .find(|p| p.pages >= cross * 2)
        .copied()
        .unwrap_or(pts[pts.len() - 1]);
    let extra = (at.page_ns - at.packed_ns).max(0.0);
    TlbDerived {
        tlb_entries_estimate: entries,
        extra_ns_per_miss: Some(extra),
        extra_cycles_per_miss: cycles(extra),
        at_pages: Some(at.pages),
        ..base
    }
}

/// `(ws, a - b)` for each working set present in both series (ns/access differences).
pub fn differences(a: &[(u64, f64)], b: &[(u64, f64)]) -> Vec<(u64, f64)> {
    a.iter()
        .filter_map(|&(ws, x)| b.iter().find(|(w, _)| *w == ws).map(|&(_, y)| (ws, x - y)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_percentiles() {
        let mut h = latency_hist();
        let mut err = 0;
        for v in 1..=1000u64 {
            record(&mut h, v * 1000, &mut err); // 1 µs .. 1 ms uniformly
        }
        assert_eq!(err, 0);
        let s = LatencySummary::from_hist(&h);
        assert_eq!(s.count, 1000);
        let close = |a: u64, b: u64| (a as f64 - b as f64).abs() / b as f64 <= 0.002;
        assert!(close(s.min_ns, 1_000), "{s:?}");
        assert!(close(s.p50_ns, 500_000), "{s:?}");
        assert!(close(s.p90_ns, 900_000), "{s:?}");
        assert!(close(s.p99_ns, 990_000), "{s:?}");
        assert!(close(s.p999_ns, 999_000), "{s:?}");
        assert!(close(s.max_ns, 1_000_000), "{s:?}");
        assert!((s.mean_ns - 500_500.0).abs() / 500_500.0 < 0.002);
        assert_eq!(LatencySummary::from_hist(&latency_hist()).count, 0);
    }

    #[test]
    fn out_of_range_values_are_counted_not_hidden() {
        let mut h = latency_hist();
        let mut err = 0;
        record(&mut h, 0, &mut err); // clamped to 1 ns, fine
        record(&mut h, u64::MAX, &mut err);
        assert_eq!(err, 1);
        assert_eq!(h.len(), 1);
    }

    #[test]
    fn cdf_is_monotonic_and_ends_at_one() {
        let mut h = latency_hist();
        let mut err = 0;
        for v in 0..10_000u64 {
            record(&mut h, 1000 + (v * 7919) % 50_000, &mut err);
        }
        let pts = cdf_points(&h, 50);
        assert!(pts.len() <= 50 && pts.len() >= 2);
        assert!(pts.windows(2).all(|w| w[0].0 <= w[1].0 && w[0].1 <= w[1].1));
        assert!((pts.last().unwrap().1 - 1.0).abs() < 1e-9);
        assert!(cdf_points(&latency_hist(), 10).is_empty());
    }

    #[test]
    fn median_min_ratio_geomean() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
        assert_eq!(min(&[3.0, 1.0, 2.0]), 1.0);
        assert_eq!(ratio(2.0, 4.0), Some(0.5));
        assert_eq!(ratio(2.0, 0.0), None);
        assert_eq!(ratio(f64::NAN, 1.0), None);
        assert!((geomean(&[1.0, 4.0]).unwrap() - 2.0).abs() < 1e-12);
        assert_eq!(geomean(&[]), None);
        assert!((gbps(2_000_000_000, 2.0) - 1.0).abs() < 1e-12);
    }

    fn pt(pages: u64, page_ns: f64, packed_ns: f64) -> ChainPoint {
        ChainPoint {
            pages,
            page_ns,
            packed_ns,
        }
    }

    #[test]
    fn derived_tlb_cost_lmbench_style() {
        // Flat at 2 ns until 64 pages fit, then page chain jumps to 12 ns (10 ns per miss).
        let pts = vec![
            pt(16, 2.0, 2.0),
            pt(32, 2.1, 2.0),
            pt(64, 2.2, 2.0),
            pt(128, 9.0, 2.0),
            pt(256, 12.0, 2.0),
            pt(512, 12.1, 2.1),
        ];
        let d = derive_tlb(&pts, 1.25, Some(2000.0));
        assert_eq!(d.tlb_entries_estimate, Some(64));
        assert_eq!(d.at_pages, Some(256));
        assert!((d.extra_ns_per_miss.unwrap() - 10.0).abs() < 1e-9);
        assert!((d.extra_cycles_per_miss.unwrap() - 20.0).abs() < 1e-9);
        assert_eq!(d.largest_pages, Some(512));
        assert!((d.largest_extra_ns.unwrap() - 10.0).abs() < 1e-9);
        assert!((d.largest_extra_cycles.unwrap() - 20.0).abs() < 1e-9);
        // Order of input does not matter.
        let mut rev = pts.clone();
        rev.reverse();
        assert_eq!(derive_tlb(&rev, 1.25, Some(2000.0)), d);
    }

    #[test]
    fn derived_tlb_cost_without_pressure_or_with_early_crossing() {
        let flat = vec![pt(16, 2.0, 2.0), pt(1024, 2.1, 2.0)];
        let d = derive_tlb(&flat, 1.25, None);
        assert_eq!(d.tlb_entries_estimate, None);
        assert_eq!(d.extra_ns_per_miss, None);
        assert_eq!(d.largest_pages, Some(1024));
        assert!((d.largest_extra_ns.unwrap() - 0.1).abs() < 1e-9);
        assert_eq!(derive_tlb(&[], 1.25, None), TlbDerived::default());
        // Already over the threshold at the first point: entries unknown, cost at the largest.
        let early = vec![pt(16, 5.0, 2.0), pt(32, 6.0, 2.0)];
        let d = derive_tlb(&early, 1.25, None);
        assert_eq!(d.tlb_entries_estimate, None);
        assert_eq!(d.at_pages, Some(32));
        assert_eq!(d.extra_ns_per_miss, Some(4.0));
        assert_eq!(d.extra_cycles_per_miss, None);
        // Negative differences clamp to zero.
        let neg = vec![pt(16, 2.0, 2.0), pt(32, 3.0, 2.0), pt(64, 2.5, 2.6)];
        assert_eq!(derive_tlb(&neg, 1.25, None).extra_ns_per_miss, Some(0.0));
    }

    #[test]
    fn differences_on_common_working_sets() {
        let a = vec![(1, 10.0), (2, 20.0), (4, 40.0)];
        let b = vec![(2, 5.0), (4, 10.0), (8, 1.0)];
        assert_eq!(differences(&a, &b), vec![(2, 15.0), (4, 30.0)]);
    }
}
