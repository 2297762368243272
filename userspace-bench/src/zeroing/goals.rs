//! Item 6: the goals, each `met`, `not met` or `not measured`, with its numbers.

use serde::{Deserialize, Serialize};

use super::{GrowthRun, ZeroingReport};
use crate::report::fmt_ns;
use crate::stats;
use crate::util::{fmt_size, size_tag, GIB, MIB};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum GoalStatus {
    #[serde(rename = "met")]
    Met,
    #[serde(rename = "not met")]
    NotMet,
    #[serde(rename = "not measured")]
    NotMeasured,
}

impl GoalStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            GoalStatus::Met => "met",
            GoalStatus::NotMet => "not met",
            GoalStatus::NotMeasured => "not measured",
        }
    }
}

/// `value <= threshold × reference`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Goal {
    pub id: String,
    pub goal: String,
    pub status: GoalStatus,
    pub value: Option<f64>,
    pub reference: Option<f64>,
    /// value / reference.
    pub ratio: Option<f64>,
    pub threshold: f64,
    /// Unit of value and reference: `ns` or `µs/page`.
    pub unit: String,
    /// The numbers in words, or why not measured.
    pub detail: String,
}

/// One side of a goal: the value with its name and caveats, or why there is none.
struct Side {
    value: f64,
    name: String,
    caveats: Vec<String>,
}

/// A goal value in its unit, for people.
pub fn fmt_value(v: f64, unit: &str) -> String {
    match unit {
        "ns" => fmt_ns(v),
        "µs/page" => format!("{} per page", fmt_ns(v * 1e3)),
        _ => format!("{v:.3} {unit}"),
    }
}

fn goal(
    id: &str,
    text: String,
    value: Result<Side, String>,
    reference: Result<Side, String>,
    threshold: f64,
    unit: &str,
) -> Goal {
    let mut g = Goal {
        id: id.into(),
        goal: text,
        status: GoalStatus::NotMeasured,
        value: None,
        reference: None,
        ratio: None,
        threshold,
        unit: unit.into(),
        detail: String::new(),
    };
    let (v, r) = match (value, reference) {
        (Ok(v), Ok(r)) => (v, r),
        (Err(e), _) | (_, Err(e)) => {
            g.detail = e;
            return g;
        }
    };
    g.value = Some(v.value);
    g.reference = Some(r.value);
    g.ratio = stats::ratio(v.value, r.value);
    let Some(ratio) = g.ratio else {
        g.detail = format!("{} is 0", r.name);
        return g;
    };
    g.status = if ratio <= threshold {
        GoalStatus::Met
    } else {
        GoalStatus::NotMet
    };
    let caveats: Vec<String> = v.caveats.into_iter().chain(r.caveats).collect();
    g.detail = format!(
        "{} {} vs {} {}: {:.4}× (goal ≤ {}×){}",
        v.name,
        fmt_value(v.value, unit),
        r.name,
        fmt_value(r.value, unit),
        ratio,
        threshold,
        if caveats.is_empty() {
            String::new()
        } else {
            format!("; {}", caveats.join("; "))
        }
    );
    g
}

/// The p50 of a fault case.
fn fault_p50(z: &ZeroingReport, id: &str) -> Result<Side, String> {
    let Some(c) = z.case(id) else {
        return Err(format!("{id}: not measured"));
    };
    let Some(p50) = c.p50_ns() else {
        return Err(format!(
            "{id}: {}",
            c.reason.as_deref().unwrap_or("no samples")
        ));
    };
    let mut caveats = Vec::new();
    if !c.pool_was_warm() {
        caveats.push(format!(
            "{id}: the pool was not fully zeroed before every pass"
        ));
    }
    if let Some(chk) = c.check.as_ref().filter(|k| k.fallback_pages > 0) {
        caveats.push(format!("{id}: {}", chk.message));
    }
    if c.zeroed_before.iter().any(|z| *z > 0) {
        caveats.push(format!("{id}: some pages were zeroed already"));
    }
    Ok(Side {
        value: p50 as f64,
        name: format!("{id} p50"),
        caveats,
    })
}

/// Grow time per page of one implementation over both orders (total time / total pages).
fn growth_per_page(z: &ZeroingReport, page_size: u64, kernel: bool) -> Result<Side, String> {
    let runs: Vec<&GrowthRun> = z
        .growth
        .iter()
        .filter(|r| r.page_size == page_size && (r.implementation == "kernel") == kernel)
        .collect();
    let who = if kernel { "kernel" } else { "rhugetlbfs" };
    if runs.is_empty() {
        let why = z
            .growth_skipped
            .iter()
            .find(|s| s.page_size == page_size)
            .map_or("not measured".to_string(), |s| s.reason.clone());
        return Err(format!("pool growth {}: {why}", size_tag(page_size)));
    }
    let pages: u64 = runs.iter().map(|r| r.reached).sum();
    let ms: f64 = runs.iter().map(|r| r.grow_ms).sum();
    if pages == 0 {
        return Err(format!(
            "pool growth {}: {who} reached no page",
            size_tag(page_size)
        ));
    }
    let reached: Vec<String> = runs
        .iter()
        .map(|r| format!("{}/{}", r.reached, r.requested))
        .collect();
    Ok(Side {
        value: ms * 1e3 / pages as f64,
        name: format!("{who} (reached {})", reached.join(", ")),
        caveats: Vec::new(),
    })
}

/// Every goal, in report order.
pub fn evaluate(z: Option<&ZeroingReport>) -> Vec<Goal> {
    let empty = ZeroingReport::default();
    let not_run = z.is_none();
    let z = z.unwrap_or(&empty);
    let side = |r: Result<Side, String>| {
        if not_run {
            Err("the zeroing section did not run".to_string())
        } else {
            r
        }
    };
    let mut goals = vec![
        goal(
            "fault_2m_background_vs_4k",
            "rhugetlbfs 2 MiB fault p50 (warm pre-zeroed pool) ≤ 2× the 4 KiB anonymous write fault p50".into(),
            side(fault_p50(z, "rhugetlbfs-2M-background")),
            side(fault_p50(z, "4K")),
            2.0,
            "ns",
        ),
        goal(
            "fault_2m_background_vs_kernel",
            "rhugetlbfs 2 MiB fault p50 (warm pre-zeroed pool) ≤ 0.05× kernel hugetlbfs 2 MiB fault p50".into(),
            side(fault_p50(z, "rhugetlbfs-2M-background")),
            side(fault_p50(z, "hugetlbfs-2M")),
            0.05,
            "ns",
        ),
        goal(
            "fault_1g_background_vs_kernel",
            "rhugetlbfs 1 GiB fault p50 (warm pre-zeroed pool) ≤ 0.001× kernel hugetlbfs 1 GiB fault p50".into(),
            side(fault_p50(z, "rhugetlbfs-1G-background")),
            side(fault_p50(z, "hugetlbfs-1G")),
            0.001,
            "ns",
        ),
    ];
    for ps in [2 * MIB, GIB] {
        let tag = size_tag(ps);
        goals.push(goal(
            &format!("fault_{}_fault_policy_vs_kernel", tag.to_lowercase()),
            format!(
                "zero_policy=fault: rhugetlbfs {} fault p50 ≤ 1.0× kernel hugetlbfs {} fault p50",
                fmt_size(ps),
                fmt_size(ps)
            ),
            side(fault_p50(z, &format!("rhugetlbfs-{tag}-fault"))),
            side(fault_p50(z, &format!("hugetlbfs-{tag}"))),
            1.0,
            "ns",
        ));
    }
    for ps in [2 * MIB, GIB] {
        let what = if ps == GIB {
            "the 1 GiB pages that fit".to_string()
        } else {
            let n = z
                .growth
                .iter()
                .find(|r| r.page_size == ps)
                .map_or("N".to_string(), |r| r.requested.to_string());
            format!("{n} × 2 MiB")
        };
        goals.push(goal(
            &format!("growth_{}_vs_kernel", size_tag(ps).to_lowercase()),
            format!("pool growth of {what} ≤ 0.5× the kernel's time (per page, both orders)"),
            side(growth_per_page(z, ps, false)),
            side(growth_per_page(z, ps, true)),
            0.5,
            "µs/page",
        ));
    }
    goals
}

#[cfg(test)]
mod tests {
    use super::super::{FaultCase, GrowthSkip};
    use super::*;
    use crate::stats::LatencySummary;

    fn case(id: &str, p50: u64) -> FaultCase {
        FaultCase {
            id: id.into(),
            measured: true,
            warm: LatencySummary {
                count: 4,
                p50_ns: p50,
                p99_ns: p50 * 2,
                ..Default::default()
            },
            ..Default::default()
        }
    }

    fn run(imp: &str, round: u32, ps: u64, reached: u64, ms: f64) -> GrowthRun {
        GrowthRun {
            round,
            implementation: imp.into(),
            page_size: ps,
            requested: 1000,
            reached,
            grow_ms: ms,
            ..Default::default()
        }
    }

    #[test]
    fn statuses_and_numbers() {
        let z = ZeroingReport {
            faults: vec![
                case("4K", 1_000),
                case("hugetlbfs-2M", 100_000),
                case("rhugetlbfs-2M-background", 1_500),
                case("rhugetlbfs-2M-fault", 120_000),
                FaultCase::not_measured("hugetlbfs-1G", "k", GIB, "pool empty".into()),
            ],
            growth: vec![
                run("kernel", 1, 2 * MIB, 1000, 100.0),
                run("rhugetlbfs", 1, 2 * MIB, 1000, 30.0),
                run("rhugetlbfs", 2, 2 * MIB, 1000, 50.0),
                run("kernel", 2, 2 * MIB, 1000, 100.0),
            ],
            growth_skipped: vec![GrowthSkip {
                page_size: GIB,
                reason: "no rhugetlbfs 1 GiB pool to compare with".into(),
            }],
            ..Default::default()
        };
        let g = evaluate(Some(&z));
        let by = |id: &str| g.iter().find(|x| x.id == id).unwrap();
        let a = by("fault_2m_background_vs_4k");
        assert_eq!(a.status, GoalStatus::Met);
        assert!((a.ratio.unwrap() - 1.5).abs() < 1e-9);
        assert!(
            a.detail.contains("1.50 µs vs 4K p50 1.00 µs"),
            "{}",
            a.detail
        );
        assert_eq!(by("fault_2m_background_vs_kernel").status, GoalStatus::Met);
        let f = by("fault_2m_fault_policy_vs_kernel");
        assert_eq!(f.status, GoalStatus::NotMet);
        assert!((f.ratio.unwrap() - 1.2).abs() < 1e-9);
        let k = by("fault_1g_background_vs_kernel");
        assert_eq!(k.status, GoalStatus::NotMeasured);
        assert!(k.detail.contains("not measured"), "{}", k.detail);
        let gr = by("growth_2m_vs_kernel");
        assert_eq!(gr.status, GoalStatus::Met);
        assert!((gr.ratio.unwrap() - 0.4).abs() < 1e-9);
        assert!(gr.goal.contains("1000 × 2 MiB"));
        assert!(
            gr.detail.contains("reached 1000/1000, 1000/1000"),
            "{}",
            gr.detail
        );
        let g1 = by("growth_1g_vs_kernel");
        assert_eq!(g1.status, GoalStatus::NotMeasured);
        assert!(g1.detail.contains("no rhugetlbfs 1 GiB pool"));
        assert_eq!(g.len(), 7);
        // Serialized as the report spells it.
        let v = serde_json::to_value(&g).unwrap();
        assert_eq!(v[0]["status"], "met");
        assert_eq!(v[2]["status"], "not measured");
        assert_eq!(v[3]["status"], "not met");
        // Without the section, everything is not measured.
        assert!(evaluate(None)
            .iter()
            .all(|g| g.status == GoalStatus::NotMeasured && g.detail.contains("did not run")));
    }
}
