//! rhugetlbfs / kernel ratios: every module backing against its kernel counterpart of the
//! same page size, and every module pool against the kernel's pool of that size, metric by
//! metric from one table per measurement ([`TLB`], [`FAULTS`], [`POOLS`]).

use super::{RatioRow, Report};
use crate::faults::FaultResult;
use crate::pools::PoolGrowth;
use crate::stats::{self, LatencySummary};
use crate::tlb::TlbSeries;
use crate::util::{fmt_size, size_tag};

/// Which direction of a metric is better.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Better {
    Lower,
    Higher,
}

impl Better {
    /// As the report spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Better::Lower => "lower",
            Better::Higher => "higher",
        }
    }
}

/// The two sides of a ratio: the module's measurement (the numerator) and its kernel
/// counterpart's (the denominator).
pub struct Pair<'a, T> {
    pub module: &'a T,
    pub kernel: &'a T,
}

/// A metric's values on the two sides of a pair: (module, kernel).
pub type Values = (Option<f64>, Option<f64>);

impl<T> Pair<'_, T> {
    /// A value read off each side the same way.
    fn each(&self, value: fn(&T) -> Option<f64>) -> Values {
        (value(self.module), value(self.kernel))
    }
}

/// One row of a ratio table: the metric as printed (with its unit), its values on the
/// two sides, and which direction is better. A row is left out where a side has no value
/// or the ratio module / kernel is not finite.
pub struct RatioSpec<T> {
    pub metric: fn(&Pair<'_, T>) -> String,
    pub values: fn(&Pair<'_, T>) -> Values,
    pub better: Better,
}

/// The working sets both chase series measured: (working set, module ns, kernel ns), in
/// the module's order.
fn common_points(p: &Pair<'_, TlbSeries>) -> Vec<(u64, f64, f64)> {
    p.module
        .points
        .iter()
        .filter_map(|m| p.kernel.ns_at(m.ws).map(|k| (m.ws, m.ns, k)))
        .collect()
}

/// TLB: the random chase at the largest common working set and over all of them (both
/// only where the series share a working set), and the chain's cost of a TLB miss.
pub const TLB: &[RatioSpec<TlbSeries>] = &[
    RatioSpec {
        metric: |p| {
            let ws = common_points(p).last().map_or(0, |c| c.0);
            format!("random chase ns/access @ {}", fmt_size(ws))
        },
        values: |p| {
            common_points(p)
                .last()
                .map_or((None, None), |&(_, m, k)| (Some(m), Some(k)))
        },
        better: Better::Lower,
    },
    RatioSpec {
        metric: |p| {
            let n = common_points(p).len();
            format!("random chase ns/access, geomean over {n} sizes")
        },
        values: |p| {
            let common = common_points(p);
            if common.is_empty() {
                return (None, None);
            }
            let side = |f: fn(&(u64, f64, f64)) -> f64| {
                stats::geomean(&common.iter().map(f).collect::<Vec<_>>())
            };
            (side(|c| c.1), side(|c| c.2))
        },
        better: Better::Lower,
    },
    RatioSpec {
        metric: |_| "chain extra ns per TLB miss".into(),
        values: |p| p.each(|t| t.derived.extra_ns_per_miss),
        better: Better::Lower,
    },
];

/// A latency in µs, where the summary counted anything.
fn us_if_counted(s: &LatencySummary, ns: u64) -> Option<f64> {
    (s.count > 0).then(|| ns as f64 / 1000.0)
}

/// Faults: write-fault latencies, read faults, populate and fallocate throughput.
pub const FAULTS: &[RatioSpec<FaultResult>] = &[
    RatioSpec {
        metric: |_| "warm write fault p50 (µs)".into(),
        values: |p| p.each(|f| us_if_counted(&f.warm, f.warm.p50_ns)),
        better: Better::Lower,
    },
    RatioSpec {
        metric: |_| "warm write fault p99 (µs)".into(),
        values: |p| p.each(|f| us_if_counted(&f.warm, f.warm.p99_ns)),
        better: Better::Lower,
    },
    RatioSpec {
        metric: |_| "cold write fault p50 (µs)".into(),
        values: |p| p.each(|f| us_if_counted(&f.cold, f.cold.p50_ns)),
        better: Better::Lower,
    },
    RatioSpec {
        metric: |_| "read fault p50 (µs)".into(),
        values: |p| p.each(|f| f.read.as_ref().map(|s| s.p50_ns as f64 / 1000.0)),
        better: Better::Lower,
    },
    RatioSpec {
        metric: |_| "populate GB/s".into(),
        values: |p| p.each(|f| f.populate_gbps),
        better: Better::Higher,
    },
    RatioSpec {
        metric: |_| "fallocate GB/s".into(),
        values: |p| p.each(|f| f.fallocate_gbps),
        better: Better::Higher,
    },
];

/// Pools: grow and shrink cost per page, and how much of the request was reached.
pub const POOLS: &[RatioSpec<PoolGrowth>] = &[
    RatioSpec {
        metric: |_| "pool grow µs/page".into(),
        values: |p| p.each(|g| g.grow_us_per_page),
        better: Better::Lower,
    },
    RatioSpec {
        metric: |_| "pool shrink µs/page".into(),
        values: |p| p.each(|g| g.shrink_us_per_page),
        better: Better::Lower,
    },
    RatioSpec {
        metric: |_| "pool pages reached / requested".into(),
        values: |p| p.each(|g| Some(g.reached as f64 / g.requested.max(1) as f64)),
        better: Better::Higher,
    },
];

/// The rows of `table` for one pair, named by the backings (or pools) of its two sides.
pub fn ratio_rows<T>(
    table: &[RatioSpec<T>],
    pair: &Pair<'_, T>,
    module: &str,
    kernel: &str,
) -> Vec<RatioRow> {
    table
        .iter()
        .filter_map(|spec| {
            let (Some(m), Some(k)) = (spec.values)(pair) else {
                return None;
            };
            Some(RatioRow {
                metric: (spec.metric)(pair),
                module_backing: module.to_string(),
                kernel_backing: kernel.to_string(),
                module_value: m,
                kernel_value: k,
                ratio: stats::ratio(m, k)?,
                better: spec.better.as_str().to_string(),
            })
        })
        .collect()
}

/// The kernel counterpart of a non-kernel backing with the same page size: a kernel hugetlbfs
/// mount first (same access path: a shared file), else MAP_HUGETLB.
fn kernel_counterpart(ids: &[(String, String, u64)], page_size: u64) -> Option<&str> {
    let same = |prefix: &str| {
        ids.iter()
            .find(|(id, imp, ps)| imp == "kernel" && *ps == page_size && id.starts_with(prefix))
            .map(|(id, _, _)| id.as_str())
    };
    same("hugetlbfs-").or_else(|| same("hugetlb-"))
}

/// Every measured module backing (sorted) with its kernel counterpart.
fn backing_pairs(r: &Report) -> Vec<(String, String)> {
    let mut ids: Vec<(String, String, u64)> = Vec::new();
    for t in &r.tlb {
        ids.push((t.backing.clone(), t.implementation.clone(), t.page_size));
    }
    for f in &r.faults {
        ids.push((f.backing.clone(), f.implementation.clone(), f.page_size));
    }
    ids.dedup();
    let mut modules: Vec<(String, u64)> = ids
        .iter()
        .filter(|(_, imp, _)| imp != "kernel")
        .map(|(id, _, ps)| (id.clone(), *ps))
        .collect();
    modules.sort();
    modules.dedup();
    modules
        .into_iter()
        .filter_map(|(mid, ps)| Some((mid, kernel_counterpart(&ids, ps)?.to_string())))
        .collect()
}

/// The measurements of the backings `mid` and `kid` in `items`, where both have one.
fn pair_of<'a, T>(
    items: &'a [T],
    backing: fn(&T) -> &str,
    mid: &str,
    kid: &str,
) -> Option<Pair<'a, T>> {
    Some(Pair {
        module: items.iter().find(|t| backing(t) == mid)?,
        kernel: items.iter().find(|t| backing(t) == kid)?,
    })
}

/// Side-by-side ratios module/kernel for every metric both sides have: per module backing
/// its TLB then its fault rows, then the pools.
pub fn compute_ratios(r: &Report) -> Vec<RatioRow> {
    let mut rows = Vec::new();
    for (mid, kid) in backing_pairs(r) {
        if let Some(pair) = pair_of(&r.tlb, |t| &t.backing, &mid, &kid) {
            rows.extend(ratio_rows(TLB, &pair, &mid, &kid));
        }
        if let Some(pair) = pair_of(&r.faults, |f| &f.backing, &mid, &kid) {
            rows.extend(ratio_rows(FAULTS, &pair, &mid, &kid));
        }
    }
    // Pools: module pool vs kernel pool of the same page size.
    for mp in r.pools.iter().filter(|p| p.implementation != "kernel") {
        if let Some(kp) = r
            .pools
            .iter()
            .find(|p| p.implementation == "kernel" && p.page_size == mp.page_size)
        {
            let mname = format!("{} pool {}", mp.implementation, size_tag(mp.page_size));
            let kname = format!("kernel pool {}", size_tag(kp.page_size));
            let pair = Pair {
                module: mp,
                kernel: kp,
            };
            rows.extend(ratio_rows(POOLS, &pair, &mname, &kname));
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testdata::sample;

    #[test]
    fn ratios_pair_module_with_kernel_mount() {
        let r = sample();
        let get = |m: &str| r.ratios.iter().find(|x| x.metric.starts_with(m)).unwrap();
        let t = get("random chase ns/access @");
        assert_eq!(t.kernel_backing, "hugetlbfs-2M");
        assert_eq!(t.module_backing, "rhugetlbfs-2M");
        assert!((t.ratio - 1.1).abs() < 1e-9);
        assert!((get("warm write fault p50").ratio - 1.25).abs() < 1e-9);
        assert!((get("chain extra ns").ratio - 1.25).abs() < 1e-9);
        assert!((get("populate GB/s").ratio - 1.0).abs() < 1e-9);
        assert!((get("pool grow").ratio - 2.0).abs() < 1e-9);
        assert!((get("pool pages reached").ratio - 0.5).abs() < 1e-9);
        // No fallocate on either side: no row.
        assert!(r.ratios.iter().all(|x| x.metric != "fallocate GB/s"));
        // Falls back to MAP_HUGETLB when there is no kernel mount.
        let ids = vec![("hugetlb-2M".to_string(), "kernel".to_string(), 2u64 << 20)];
        assert_eq!(kernel_counterpart(&ids, 2 << 20), Some("hugetlb-2M"));
        assert_eq!(kernel_counterpart(&ids, 1 << 30), None);
    }

    /// Every value differs, by metric and by side, so that a row that read another
    /// metric, another field, or the sides swapped, gives other numbers than these.
    #[test]
    fn every_table_row_reads_its_own_metric_on_each_side() {
        use crate::stats::{ChainPoint, LatencySummary, TlbDerived};
        use crate::tlb::ChasePoint;
        let lat = |count, p50_ns, p99_ns| LatencySummary {
            count,
            p50_ns,
            p99_ns,
            ..Default::default()
        };
        let fault = |id: &str, imp: &str, base: u64| FaultResult {
            backing: id.into(),
            implementation: imp.into(),
            page_size: 2 << 20,
            cold: lat(1, base + 1000, base + 1900),
            warm: lat(1, base + 3000, base + 4000),
            read: Some(lat(1, base + 5000, base + 5900)),
            populate_gbps: Some((base / 1000) as f64 + 6.0),
            fallocate_gbps: Some((base / 1000) as f64 + 7.0),
            ..Default::default()
        };
        let series = |id: &str, imp: &str, ns: &[(u64, f64)], extra: f64| TlbSeries {
            backing: id.into(),
            implementation: imp.into(),
            page_size: 2 << 20,
            points: ns
                .iter()
                .map(|&(ws, ns)| ChasePoint {
                    ws,
                    ns,
                    ns_median: ns + 100.0,
                    dtlb_misses_per_access: None,
                    huge_fraction: None,
                })
                .collect(),
            chains: vec![ChainPoint {
                pages: 16,
                page_ns: 9.0,
                packed_ns: 1.0,
            }],
            derived: TlbDerived {
                extra_ns_per_miss: Some(extra),
                extra_cycles_per_miss: Some(extra * 100.0),
                ..Default::default()
            },
            notes: vec![],
        };
        let pool = |imp: &str, reached, grow, shrink| PoolGrowth {
            pool: String::new(),
            implementation: imp.into(),
            page_size: 2 << 20,
            requested: 4,
            start_nr: 0,
            reached,
            grow_ms: 1000.0,
            grow_us_per_page: Some(grow),
            shrunk: reached,
            shrink_ms: 2000.0,
            shrink_us_per_page: Some(shrink),
            restored: true,
            note: None,
        };
        let (g, m) = (1u64 << 30, 1u64 << 20);
        let r = Report {
            tlb: vec![
                series(
                    "hugetlbfs-2M",
                    "kernel",
                    &[(m, 1.0), (64 * m, 4.0), (g, 16.0)],
                    4.0,
                ),
                // 4 GiB has no kernel point: the largest common working set is 1 GiB.
                series(
                    "rhugetlbfs-2M",
                    "rhugetlbfs",
                    &[(m, 2.0), (64 * m, 8.0), (g, 32.0), (4 * g, 50.0)],
                    5.0,
                ),
            ],
            faults: vec![
                fault("hugetlbfs-2M", "kernel", 20_000),
                fault("rhugetlbfs-2M", "rhugetlbfs", 10_000),
            ],
            pools: vec![
                pool("kernel", 4, 100.0, 60.0),
                pool("rhugetlbfs", 3, 300.0, 30.0),
            ],
            ..Default::default()
        };
        let (mb, kb) = ("rhugetlbfs-2M", "hugetlbfs-2M");
        let (mp, kp) = ("rhugetlbfs pool 2M", "kernel pool 2M");
        let want: &[(&str, &str, &str, f64, f64, &str)] = &[
            (
                "random chase ns/access @ 1 GiB",
                mb,
                kb,
                32.0,
                16.0,
                "lower",
            ),
            // Geomeans of (2, 8, 32) and (1, 4, 16).
            (
                "random chase ns/access, geomean over 3 sizes",
                mb,
                kb,
                8.0,
                4.0,
                "lower",
            ),
            ("chain extra ns per TLB miss", mb, kb, 5.0, 4.0, "lower"),
            ("warm write fault p50 (µs)", mb, kb, 13.0, 23.0, "lower"),
            ("warm write fault p99 (µs)", mb, kb, 14.0, 24.0, "lower"),
            ("cold write fault p50 (µs)", mb, kb, 11.0, 21.0, "lower"),
            ("read fault p50 (µs)", mb, kb, 15.0, 25.0, "lower"),
            ("populate GB/s", mb, kb, 16.0, 26.0, "higher"),
            ("fallocate GB/s", mb, kb, 17.0, 27.0, "higher"),
            ("pool grow µs/page", mp, kp, 300.0, 100.0, "lower"),
            ("pool shrink µs/page", mp, kp, 30.0, 60.0, "lower"),
            (
                "pool pages reached / requested",
                mp,
                kp,
                0.75,
                1.0,
                "higher",
            ),
        ];
        let got = compute_ratios(&r);
        let close = |a: f64, b: f64| (a - b).abs() < 1e-9 * b.abs().max(1.0);
        assert_eq!(got.len(), want.len(), "{got:#?}");
        for (row, &(metric, module, kernel, mv, kv, better)) in got.iter().zip(want) {
            assert_eq!(
                (row.metric.as_str(), row.module_backing.as_str()),
                (metric, module)
            );
            assert_eq!(row.kernel_backing, kernel, "{metric}");
            assert!(
                close(row.module_value, mv) && close(row.kernel_value, kv),
                "{metric}: {} / {}, want {mv} / {kv}",
                row.module_value,
                row.kernel_value
            );
            assert!(close(row.ratio, mv / kv), "{metric}: ratio {}", row.ratio);
            assert_eq!(row.better, better, "{metric}");
        }

        // A side without a value, or a summary that counted nothing, leaves its rows out.
        let mut r2 = r.clone();
        r2.faults[0].fallocate_gbps = None;
        r2.faults[1].warm.count = 0;
        r2.tlb[0].points.truncate(0);
        let metrics: Vec<String> = compute_ratios(&r2).into_iter().map(|x| x.metric).collect();
        assert_eq!(
            metrics,
            [
                "chain extra ns per TLB miss",
                "cold write fault p50 (µs)",
                "read fault p50 (µs)",
                "populate GB/s",
                "pool grow µs/page",
                "pool shrink µs/page",
                "pool pages reached / requested",
            ]
        );
    }
}
