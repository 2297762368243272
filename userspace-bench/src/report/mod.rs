//! The report: one JSON document ([`Report`], written as is), a Markdown rendering
//! ([`markdown`], with the measurement tables in [`tables`]), and rhugetlbfs/kernel ratios
//! ([`ratios`]).

mod markdown;
mod ratios;
mod tables;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::faults::FaultResult;
use crate::machine::MachineFacts;
use crate::pools::{PoolGrowth, PoolSkip};
use crate::tlb::TlbSeries;

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
            ..Default::default()
        };
        r.ratios = compute_ratios(&r);
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
    }
}
