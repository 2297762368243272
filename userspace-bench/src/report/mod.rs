//! The report: one JSON document ([`Report`], written as is), a Markdown rendering
//! ([`markdown`], with the measurement tables in [`tables`] and the zeroing section and
//! the goals in [`zeroing`]), and rhugetlbfs/kernel ratios ([`ratios`]).

mod markdown;
mod ratios;
mod tables;
mod zeroing;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::faults::FaultResult;
use crate::machine::MachineFacts;
use crate::pools::{PoolGrowth, PoolSkip};
use crate::tlb::TlbSeries;
use crate::zeroing::{Goal, ZeroingReport};

pub use markdown::{fmt_ns, to_markdown};
pub use ratios::compute_ratios;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BackingStatus {
    pub id: String,
    pub label: String,
    pub implementation: String,
    pub page_size: u64,
    pub available: bool,
    pub reason: Option<String>,
    pub notes: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RatioRow {
    pub metric: String,
    pub module_backing: String,
    pub kernel_backing: String,
    pub module_value: f64,
    pub kernel_value: f64,
    /// module / kernel.
    pub ratio: f64,
    /// "lower" or "higher": which direction is better for this metric.
    pub better: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub tool: String,
    pub version: String,
    pub unix_time: u64,
    pub smoke: bool,
    pub config: serde_json::Value,
    pub machine: MachineFacts,
    pub backings: Vec<BackingStatus>,
    pub tlb: Vec<TlbSeries>,
    pub faults: Vec<FaultResult>,
    pub pools: Vec<PoolGrowth>,
    pub pools_skipped: Vec<PoolSkip>,
    pub ratios: Vec<RatioRow>,
    /// Section 4 (`None` when it did not run).
    #[serde(default)]
    pub zeroing: Option<ZeroingReport>,
    /// The goals, from section 4.
    #[serde(default)]
    pub goals: Vec<Goal>,
    pub notes: Vec<String>,
    pub skipped: Vec<String>,
    pub plots: Vec<String>,
}

/// Write `report.json` and `report.md` into `dir`. Returns their paths.
pub fn write_files(r: &Report, dir: &Path) -> std::io::Result<(PathBuf, PathBuf)> {
    std::fs::create_dir_all(dir)?;
    let json = dir.join("report.json");
    let md = dir.join("report.md");
    std::fs::write(&json, serde_json::to_string_pretty(r)? + "\n")?;
    std::fs::write(&md, to_markdown(r))?;
    Ok((json, md))
}

#[cfg(test)]
pub(crate) mod testdata {
    //! A small report with a module backing next to a kernel mount, for the unit tests.

    use super::*;
    use crate::stats::{ChainPoint, LatencySummary, TlbDerived};
    use crate::tlb::ChasePoint;

    pub(crate) fn series(id: &str, imp: &str, ps: u64, ns: &[(u64, f64)]) -> TlbSeries {
        TlbSeries {
            backing: id.into(),
            page_size: ps,
            implementation: imp.into(),
            points: ns
                .iter()
                .map(|&(ws, ns)| ChasePoint {
                    ws,
                    ns,
                    ns_median: ns,
                    dtlb_misses_per_access: None,
                    huge_fraction: None,
                })
                .collect(),
            chains: vec![ChainPoint {
                pages: 16,
                page_ns: 2.0,
                packed_ns: 2.0,
            }],
            derived: TlbDerived {
                extra_ns_per_miss: Some(if imp == "kernel" { 4.0 } else { 5.0 }),
                ..Default::default()
            },
            notes: vec![],
        }
    }

    pub(crate) fn fault(id: &str, imp: &str, p50: u64) -> FaultResult {
        let s = LatencySummary {
            count: 10,
            min_ns: p50 / 2,
            p50_ns: p50,
            p90_ns: p50 * 2,
            p99_ns: p50 * 3,
            p999_ns: p50 * 4,
            max_ns: p50 * 5,
            mean_ns: p50 as f64,
        };
        FaultResult {
            notes: vec!["shared note".into()],
            backing: id.into(),
            page_size: 2 << 20,
            implementation: imp.into(),
            pages_per_pass: 10,
            cold: s.clone(),
            warm: s,
            warm_passes: 1,
            read_kind: "zero page".into(),
            populate_method: "MAP_POPULATE".into(),
            populate_gbps: Some(10.0),
            ..Default::default()
        }
    }

    /// A zeroing section with every kind of row: measured and not measured cases, a burst
    /// with its refill and cost, clearing speeds, growth both ways, the model.
    pub(crate) fn zeroing() -> crate::zeroing::ZeroingReport {
        use crate::zeroing::model::{ClearModel, ModelRow};
        use crate::zeroing::sysfs::{ClearSpeedRead, WarmWait, Worker};
        use crate::zeroing::*;
        let lat = |p50: u64| LatencySummary {
            count: 8,
            p50_ns: p50,
            p99_ns: p50 * 2,
            ..Default::default()
        };
        let case = |id: &str, ps: u64, p50: u64| FaultCase {
            id: id.into(),
            label: id.into(),
            backing: id.into(),
            page_size: ps,
            measured: true,
            pages_per_pass: 4,
            passes: 3,
            warm: lat(p50),
            ..Default::default()
        };
        let warm = WarmWait {
            waited_ms: 12.0,
            timeout_ms: 60_000.0,
            zeroed: 4,
            free: 4,
            reached: true,
            nodes: vec![],
        };
        let growth = |round, imp: &str, ms| GrowthRun {
            round,
            implementation: imp.into(),
            page_size: 2 << 20,
            requested: 1000,
            reached: 1000,
            grow_ms: ms,
            grow_us_per_page: Some(ms),
            shrink_ms: 1.0,
            ..Default::default()
        };
        ZeroingReport {
            settings: vec![PoolSettings {
                pool: "/sys/fs/rhugetlbfs/hugepages/hugepages-2048kB".into(),
                page_size: 2 << 20,
                zero_policy: Some("background".into()),
                clear_method: Some("auto".into()),
                zeroed_hugepages: Some(0),
                free_hugepages: Some(0),
                not_available: vec![],
            }],
            workers: vec![Worker {
                pid: 42,
                comm: "rhugetlbfs_zero/0".into(),
            }],
            faults: vec![
                case("4K", 4096, 1_000),
                case("hugetlbfs-2M", 2 << 20, 100_000),
                FaultCase {
                    zero_policy: Some("background".into()),
                    clear_method: Some("auto (fault: erms)".into()),
                    warm_waits: vec![warm.clone(); 3],
                    zero_stats: [
                        ("zero_fault_hits".to_string(), 12),
                        ("zero_fault_inline".to_string(), 0),
                    ]
                    .into_iter()
                    .collect(),
                    ..case("rhugetlbfs-2M-background", 2 << 20, 1_800)
                },
                FaultCase {
                    zero_policy: Some("fault".into()),
                    zeroed_before: vec![0, 0, 0],
                    notes: vec!["pool resized | twice".into()],
                    ..case("rhugetlbfs-2M-fault", 2 << 20, 120_000)
                },
                FaultCase {
                    id: "hugetlbfs-1G".into(),
                    page_size: 1 << 30,
                    reason: Some("kernel 1G: 0 free pages".into()),
                    ..Default::default()
                },
            ],
            bursts: vec![
                BurstResult {
                    backing: "rhugetlbfs-2M".into(),
                    page_size: 2 << 20,
                    measured: true,
                    pool_free: 4,
                    dirtied: 2,
                    zeroed_at_burst: Some(2),
                    burst_pages: 4,
                    latency: lat(50_000),
                    refill: Some(Refill {
                        dirty_at_start: 4,
                        pages: 4,
                        ms: 2.0,
                        pages_per_s: Some(2000.0),
                        wait: warm,
                    }),
                    cost: Some(WorkerCost {
                        threads: vec![Worker {
                            pid: 42,
                            comm: "rhugetlbfs_zero/0".into(),
                        }],
                        ticks: 1,
                        ticks_per_s: 100,
                        cpu_ms: 10.0,
                        sched_ms: Some(1.5),
                        cleared_bytes: 8 << 20,
                        cpu_s_per_gib: Some(1.28),
                        sched_s_per_gib: Some(0.192),
                        module_clear_gbps: Some(6.0),
                        notes: vec!["utime+stime moved 1 clock ticks".into()],
                    }),
                    ..Default::default()
                },
                BurstResult {
                    page_size: 1 << 30,
                    reason: Some("no rhugetlbfs mount with pagesize=1G".into()),
                    ..Default::default()
                },
            ],
            clear_speed: vec![ClearSpeedResult {
                pool: String::new(),
                page_size: 2 << 20,
                measured_now: true,
                measure_ms: Some(3.0),
                reason: None,
                read: Some(ClearSpeedRead {
                    page_mbps: Some(9_500),
                    erms_mbps: Some(21_000),
                    nt_mbps: Some(0),
                    auto_fault: Some("erms".into()),
                    auto_background: Some("nt".into()),
                }),
                clear_method: Some("auto".into()),
            }],
            growth: vec![
                growth(1, "kernel", 100.0),
                growth(1, "rhugetlbfs", 30.0),
                growth(2, "rhugetlbfs", 40.0),
                growth(2, "kernel", 90.0),
            ],
            growth_skipped: vec![GrowthSkip {
                page_size: 1 << 30,
                reason: "no rhugetlbfs 1 GiB pool to compare with".into(),
            }],
            model: ClearModel {
                available: true,
                reason: None,
                llc_bytes: Some(32 << 20),
                rows: vec![ModelRow {
                    buffer: "1 GiB".into(),
                    bytes: 1 << 30,
                    span: 1 << 30,
                    backing: "anonymous, MADV_HUGEPAGE (100% THP)".into(),
                    repeats: 3,
                    per_4k_stosb_gbps: Some(25.5),
                    stosb_gbps: Some(90.8),
                    nt_gbps: Some(61.1),
                }],
                notes: vec![],
            },
            notes: vec!["a zeroing note".into()],
        }
    }

    pub(crate) fn sample() -> Report {
        let mut r = Report {
            tool: "rhbench".into(),
            version: "0.1.0".into(),
            machine: MachineFacts {
                cpu_model: "Test CPU".into(),
                hw_counters: false,
                hw_counters_reason: Some("no hardware PMU".into()),
                tcg: true,
                freq_mhz: Some(2000.0),
                ..Default::default()
            },
            backings: vec![BackingStatus {
                id: "hugetlb-1G".into(),
                label: "kernel hugetlb 1 GiB".into(),
                implementation: "kernel".into(),
                page_size: 1 << 30,
                available: false,
                reason: Some("pool empty | not root".into()),
                notes: vec![],
            }],
            tlb: vec![
                series("4K", "kernel", 4096, &[(1 << 20, 3.0), (1 << 30, 100.0)]),
                series(
                    "hugetlbfs-2M",
                    "kernel",
                    2 << 20,
                    &[(1 << 20, 2.0), (1 << 30, 40.0)],
                ),
                series(
                    "rhugetlbfs-2M",
                    "rhugetlbfs",
                    2 << 20,
                    &[(1 << 20, 2.0), (1 << 30, 44.0)],
                ),
            ],
            faults: vec![
                fault("hugetlbfs-2M", "kernel", 160_000),
                fault("rhugetlbfs-2M", "rhugetlbfs", 200_000),
            ],
            pools: vec![
                PoolGrowth {
                    pool: "/sys/kernel/mm/hugepages/hugepages-2048kB".into(),
                    implementation: "kernel".into(),
                    page_size: 2 << 20,
                    requested: 10,
                    start_nr: 0,
                    reached: 10,
                    grow_ms: 1.0,
                    grow_us_per_page: Some(100.0),
                    shrunk: 10,
                    shrink_ms: 0.5,
                    shrink_us_per_page: Some(50.0),
                    restored: true,
                    note: None,
                },
                PoolGrowth {
                    pool: "/sys/fs/rhugetlbfs/hugepages/hugepages-2048kB".into(),
                    implementation: "rhugetlbfs".into(),
                    page_size: 2 << 20,
                    requested: 10,
                    start_nr: 0,
                    reached: 5,
                    grow_ms: 1.0,
                    grow_us_per_page: Some(200.0),
                    shrunk: 5,
                    shrink_ms: 0.5,
                    shrink_us_per_page: Some(100.0),
                    restored: true,
                    note: Some("reached 5 of 10".into()),
                },
            ],
            zeroing: Some(zeroing()),
            ..Default::default()
        };
        r.ratios = compute_ratios(&r);
        r.goals = crate::zeroing::goals::evaluate(r.zeroing.as_ref());
        r
    }
}

#[cfg(test)]
mod tests {
    use super::testdata::sample;
    use super::*;

    #[test]
    fn json_round_trips() {
        let r = sample();
        let text = serde_json::to_string_pretty(&r).unwrap();
        let back: Report = serde_json::from_str(&text).unwrap();
        assert_eq!(back, r);
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["machine"]["tcg"], true);
        assert_eq!(v["tlb"][0]["points"][1]["ws"], 1u64 << 30);
        assert_eq!(v["faults"][1]["warm"]["p50_ns"], 200_000);
        assert_eq!(v["zeroing"]["faults"][2]["id"], "rhugetlbfs-2M-background");
        assert_eq!(v["zeroing"]["bursts"][0]["refill"]["pages_per_s"], 2000.0);
        assert_eq!(v["goals"][0]["status"], "met");
        assert_eq!(v["goals"][2]["status"], "not measured");
        // A report of before the zeroing section still parses.
        let mut old = v.clone();
        let o = old.as_object_mut().unwrap();
        o.remove("zeroing");
        o.remove("goals");
        let back: Report = serde_json::from_value(old).unwrap();
        assert!(back.zeroing.is_none() && back.goals.is_empty());
    }
}
