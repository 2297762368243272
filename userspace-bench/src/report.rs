//! The report: one JSON document, a Markdown rendering, and rhugetlbfs/kernel ratios.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::faults::FaultResult;
use crate::machine::MachineFacts;
use crate::pools::{PoolGrowth, PoolSkip};
use crate::stats;
use crate::tlb::TlbSeries;
use crate::util::{fmt_size, size_tag};

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

fn push_ratio(
    rows: &mut Vec<RatioRow>,
    metric: String,
    module: &str,
    kernel: &str,
    m: Option<f64>,
    k: Option<f64>,
    better: &str,
) {
    if let (Some(m), Some(k)) = (m, k) {
        if let Some(r) = stats::ratio(m, k) {
            rows.push(RatioRow {
                metric,
                module_backing: module.to_string(),
                kernel_backing: kernel.to_string(),
                module_value: m,
                kernel_value: k,
                ratio: r,
                better: better.to_string(),
            });
        }
    }
}

/// Side-by-side ratios module/kernel for every metric both sides have.
pub fn compute_ratios(r: &Report) -> Vec<RatioRow> {
    let mut rows = Vec::new();
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
    for (mid, ps) in &modules {
        let Some(kid) = kernel_counterpart(&ids, *ps) else {
            continue;
        };
        // TLB.
        let mt = r.tlb.iter().find(|t| &t.backing == mid);
        let kt = r.tlb.iter().find(|t| t.backing == kid);
        if let (Some(mt), Some(kt)) = (mt, kt) {
            let common: Vec<(u64, f64, f64)> = mt
                .points
                .iter()
                .filter_map(|p| kt.ns_at(p.ws).map(|k| (p.ws, p.ns, k)))
                .collect();
            if let Some(&(ws, m, k)) = common.last() {
                push_ratio(
                    &mut rows,
                    format!("random chase ns/access @ {}", fmt_size(ws)),
                    mid,
                    kid,
                    Some(m),
                    Some(k),
                    "lower",
                );
                let gm = stats::geomean(&common.iter().map(|c| c.1).collect::<Vec<_>>());
                let gk = stats::geomean(&common.iter().map(|c| c.2).collect::<Vec<_>>());
                push_ratio(
                    &mut rows,
                    format!(
                        "random chase ns/access, geomean over {} sizes",
                        common.len()
                    ),
                    mid,
                    kid,
                    gm,
                    gk,
                    "lower",
                );
            }
            push_ratio(
                &mut rows,
                "chain extra ns per TLB miss".into(),
                mid,
                kid,
                mt.derived.extra_ns_per_miss,
                kt.derived.extra_ns_per_miss,
                "lower",
            );
        }
        // Faults.
        let mf = r.faults.iter().find(|f| &f.backing == mid);
        let kf = r.faults.iter().find(|f| f.backing == kid);
        if let (Some(mf), Some(kf)) = (mf, kf) {
            let us = |v: u64| Some(v as f64 / 1000.0);
            let some_if =
                |s: &stats::LatencySummary, v: u64| (s.count > 0).then(|| v as f64 / 1000.0);
            push_ratio(
                &mut rows,
                "warm write fault p50 (µs)".into(),
                mid,
                kid,
                some_if(&mf.warm, mf.warm.p50_ns),
                some_if(&kf.warm, kf.warm.p50_ns),
                "lower",
            );
            push_ratio(
                &mut rows,
                "warm write fault p99 (µs)".into(),
                mid,
                kid,
                some_if(&mf.warm, mf.warm.p99_ns),
                some_if(&kf.warm, kf.warm.p99_ns),
                "lower",
            );
            push_ratio(
                &mut rows,
                "cold write fault p50 (µs)".into(),
                mid,
                kid,
                some_if(&mf.cold, mf.cold.p50_ns),
                some_if(&kf.cold, kf.cold.p50_ns),
                "lower",
            );
            push_ratio(
                &mut rows,
                "read fault p50 (µs)".into(),
                mid,
                kid,
                mf.read.as_ref().and_then(|s| us(s.p50_ns)),
                kf.read.as_ref().and_then(|s| us(s.p50_ns)),
                "lower",
            );
            push_ratio(
                &mut rows,
                "populate GB/s".into(),
                mid,
                kid,
                mf.populate_gbps,
                kf.populate_gbps,
                "higher",
            );
            push_ratio(
                &mut rows,
                "fallocate GB/s".into(),
                mid,
                kid,
                mf.fallocate_gbps,
                kf.fallocate_gbps,
                "higher",
            );
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
            push_ratio(
                &mut rows,
                "pool grow µs/page".into(),
                &mname,
                &kname,
                mp.grow_us_per_page,
                kp.grow_us_per_page,
                "lower",
            );
            push_ratio(
                &mut rows,
                "pool shrink µs/page".into(),
                &mname,
                &kname,
                mp.shrink_us_per_page,
                kp.shrink_us_per_page,
                "lower",
            );
            let frac = |p: &PoolGrowth| Some(p.reached as f64 / p.requested.max(1) as f64);
            push_ratio(
                &mut rows,
                "pool pages reached / requested".into(),
                &mname,
                &kname,
                frac(mp),
                frac(kp),
                "higher",
            );
        }
    }
    rows
}

/// ns formatted for humans: `850 ns`, `1.84 µs`, `158 µs`, `61.2 ms`.
pub fn fmt_ns(ns: f64) -> String {
    if !ns.is_finite() {
        return "–".into();
    }
    let (v, unit) = if ns < 1e3 {
        (ns, "ns")
    } else if ns < 1e6 {
        (ns / 1e3, "µs")
    } else if ns < 1e9 {
        (ns / 1e6, "ms")
    } else {
        (ns / 1e9, "s")
    };
    if v >= 100.0 {
        format!("{v:.0} {unit}")
    } else if v >= 10.0 {
        format!("{v:.1} {unit}")
    } else {
        format!("{v:.2} {unit}")
    }
}

fn opt(v: Option<f64>, f: impl Fn(f64) -> String) -> String {
    v.map_or_else(|| "–".to_string(), f)
}

/// Escape a value for a Markdown table cell.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// One bullet per distinct note, naming every backing it applies to.
fn write_grouped_notes(s: &mut String, notes: &[(&str, &str)]) {
    let mut order: Vec<&str> = Vec::new();
    let mut who: std::collections::HashMap<&str, Vec<&str>> = std::collections::HashMap::new();
    for &(b, n) in notes {
        let e = who.entry(n).or_default();
        if e.is_empty() {
            order.push(n);
        }
        if !e.contains(&b) {
            e.push(b);
        }
    }
    if !order.is_empty() {
        s.push('\n');
    }
    for n in order {
        let _ = writeln!(s, "- {}: {}", who[n].join(", "), cell(n));
    }
}

pub fn to_markdown(r: &Report) -> String {
    let mut s = String::new();
    let m = &r.machine;
    let _ = writeln!(
        s,
        "# rhbench report{}\n",
        if r.smoke {
            " (smoke: tiny sizes, numbers not meaningful)"
        } else {
            ""
        }
    );
    if let Some(w) = m.execution_warning() {
        let _ = writeln!(s, "> **Warning: {w}.**\n");
    }
    if !m.hw_counters {
        let _ = writeln!(
            s,
            "> no hardware counters: {} — timing only.\n",
            m.hw_counters_reason.as_deref().unwrap_or("unknown reason")
        );
    }
    let _ = writeln!(s, "## Machine\n\n| fact | value |\n|---|---|");
    let facts: Vec<(&str, String)> = vec![
        ("CPU", format!("{} ({} CPUs)", m.cpu_model, m.cpus)),
        ("kernel", m.kernel_release.clone()),
        ("execution", m.execution.clone()),
        (
            "THP",
            format!("enabled={} defrag={}", m.thp_enabled, m.thp_defrag),
        ),
        (
            "hardware counters",
            if m.hw_counters {
                "yes".into()
            } else {
                "no".into()
            },
        ),
        (
            "frequency",
            opt(m.freq_mhz, |f| {
                format!("{f:.0} MHz ({})", m.freq_source.as_deref().unwrap_or("?"))
            }),
        ),
        (
            "memory",
            format!(
                "{} total, {} available",
                fmt_size(m.mem_total),
                fmt_size(m.mem_available)
            ),
        ),
        ("load average (start)", m.loadavg.clone()),
        (
            "memset 2 MiB (faulted memory)",
            match (m.clear_2mib_us, m.clear_gbps) {
                (Some(us), Some(g)) => format!(
                    "{} ({g:.1} GB/s): the floor for a 2 MiB fault",
                    fmt_ns(us * 1e3)
                ),
                _ => "–".into(),
            },
        ),
        (
            "root",
            if m.root {
                "yes".into()
            } else {
                "no (pool sizes not changed)".into()
            },
        ),
    ];
    for (k, v) in facts {
        let _ = writeln!(s, "| {k} | {} |", cell(&v));
    }
    for p in &m.pools {
        let _ = writeln!(
            s,
            "| pool {} {} | nr={} free={} ({}) |",
            p.implementation,
            size_tag(p.page_size),
            p.nr_hugepages.map_or("?".into(), |v| v.to_string()),
            p.free_hugepages.map_or("?".into(), |v| v.to_string()),
            cell(&p.path)
        );
    }

    let _ = writeln!(
        s,
        "\n## Backings\n\n| backing | page | implementation | status |\n|---|---|---|---|"
    );
    for b in &r.backings {
        let status = if b.available {
            "measured".to_string()
        } else {
            format!("**unavailable**: {}", b.reason.as_deref().unwrap_or("?"))
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} |",
            cell(&b.label),
            size_tag(b.page_size),
            b.implementation,
            cell(&status)
        );
    }

    // 1. TLB
    if !r.tlb.is_empty() {
        let _ = writeln!(s, "\n## 1. TLB-miss cost\n\n### Random full-permutation chase (ns per dependent load, best of runs)\n");
        let mut sizes: Vec<u64> = r
            .tlb
            .iter()
            .flat_map(|t| t.points.iter().map(|p| p.ws))
            .collect();
        sizes.sort_unstable();
        sizes.dedup();
        let _ = write!(s, "| working set |");
        for t in &r.tlb {
            let _ = write!(s, " {} |", t.backing);
        }
        let _ = write!(s, "\n|---|");
        for _ in &r.tlb {
            let _ = write!(s, "---:|");
        }
        s.push('\n');
        for ws in &sizes {
            let _ = write!(s, "| {} |", fmt_size(*ws));
            for t in &r.tlb {
                let _ = write!(s, " {} |", opt(t.ns_at(*ws), |v| format!("{v:.2}")));
            }
            s.push('\n');
        }
        if r.tlb
            .iter()
            .any(|t| t.points.iter().any(|p| p.dtlb_misses_per_access.is_some()))
        {
            let _ = writeln!(s, "\ndTLB misses per access at the largest working set:");
            for t in &r.tlb {
                if let Some(p) = t.points.last() {
                    let _ = writeln!(
                        s,
                        "- {}: {}",
                        t.backing,
                        opt(p.dtlb_misses_per_access, |v| format!("{v:.3}"))
                    );
                }
            }
        }
        // Derived: 4K minus each huge backing at the largest common working set.
        if let Some(base) = r.tlb.iter().find(|t| t.backing == "4K") {
            let mut lines = Vec::new();
            for t in r.tlb.iter().filter(|t| t.page_size > 4096) {
                if let Some(&(ws, d)) = stats::differences(&base.curve(), &t.curve()).last() {
                    let cyc = m.freq_mhz.map_or(String::new(), |f| {
                        format!(" ≈ {:.0} cycles", d * f / 1000.0)
                    });
                    lines.push(format!(
                        "- 4K − {} at {}: **{:+.2} ns per access**{cyc} (at working sets far beyond the 4 KiB TLB reach nearly every 4 KiB access misses the TLB)",
                        t.backing,
                        fmt_size(ws),
                        d
                    ));
                }
            }
            if !lines.is_empty() {
                let _ = writeln!(s, "\nExtra cost of 4 KiB translation (random chase):\n");
                for l in lines {
                    let _ = writeln!(s, "{l}");
                }
            }
        }
        let _ = writeln!(
            s,
            "\n### lmbench `tlb`-style chains (one pointer per 4 KiB page vs the same pointers packed)\n\n\
             First crossing (page/packed > 1.25): the pages before it fit the first-level TLB; the extra \
             time at twice that count is an L1-TLB miss. At the largest chain (span beyond the \
             last-level TLB) the extra time is a page walk with cache-resident data.\n\n\
             | backing | TLB entries (est.) | extra ns/miss | cycles | at pages | largest chain | span | extra ns there | cycles | page/packed |\n\
             |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        );
        for t in &r.tlb {
            let d = &t.derived;
            let last = t.chains.last();
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                t.backing,
                d.tlb_entries_estimate
                    .map_or("no crossing".into(), |v| v.to_string()),
                opt(d.extra_ns_per_miss, |v| format!("{v:.2}")),
                opt(d.extra_cycles_per_miss, |v| format!("{v:.0}")),
                d.at_pages.map_or("–".into(), |v| v.to_string()),
                d.largest_pages.map_or("–".into(), |v| v.to_string()),
                d.largest_pages.map_or("–".into(), |v| fmt_size(v * 4096)),
                opt(d.largest_extra_ns, |v| format!("{v:.2}")),
                opt(d.largest_extra_cycles, |v| format!("{v:.0}")),
                opt(last.map(|c| c.ratio()), |v| format!("{v:.2}×"))
            );
        }
        let tlb_notes: Vec<(&str, &str)> = r
            .tlb
            .iter()
            .flat_map(|t| {
                t.notes
                    .iter()
                    .map(move |n| (t.backing.as_str(), n.as_str()))
            })
            .collect();
        write_grouped_notes(&mut s, &tlb_notes);
    }

    // 2. Faults
    if !r.faults.is_empty() {
        let _ = writeln!(
            s,
            "\n## 2. Fault latency (first-touch write, per page)\n\n| backing | pass | pages | p50 | p90 | p99 | p99.9 | max | page/p50 | faults/page check |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---|"
        );
        for f in &r.faults {
            let check = f.check.as_ref().map_or("not checked".to_string(), |c| {
                if c.fallback_pages > 0 {
                    format!("**{}**", c.message)
                } else {
                    c.message.clone()
                }
            });
            for (pass, h, chk) in [("cold", &f.cold, check.as_str()), ("warm", &f.warm, "")] {
                let _ = writeln!(
                    s,
                    "| {} | {pass} | {} | {} | {} | {} | {} | {} | {} | {} |",
                    f.backing,
                    h.count,
                    fmt_ns(h.p50_ns as f64),
                    fmt_ns(h.p90_ns as f64),
                    fmt_ns(h.p99_ns as f64),
                    fmt_ns(h.p999_ns as f64),
                    fmt_ns(h.max_ns as f64),
                    opt(
                        stats::ratio(f.page_size as f64, h.p50_ns as f64),
                        |g| format!("{g:.1} GB/s")
                    ),
                    cell(chk)
                );
            }
        }
        let _ = writeln!(
            s,
            "\n| backing | read fault | read p50 | read p99 | populate | populate GB/s | fallocate GB/s |\n|---|---|---:|---:|---|---:|---:|"
        );
        for f in &r.faults {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} |",
                f.backing,
                cell(&f.read_kind),
                f.read
                    .as_ref()
                    .map_or("–".into(), |h| fmt_ns(h.p50_ns as f64)),
                f.read
                    .as_ref()
                    .map_or("–".into(), |h| fmt_ns(h.p99_ns as f64)),
                f.populate_method,
                opt(f.populate_gbps, |v| format!("{v:.2}")),
                opt(f.fallocate_gbps, |v| format!("{v:.2}"))
            );
        }
        let fault_notes: Vec<(&str, &str)> = r
            .faults
            .iter()
            .flat_map(|f| {
                f.notes
                    .iter()
                    .map(move |n| (f.backing.as_str(), n.as_str()))
            })
            .collect();
        write_grouped_notes(&mut s, &fault_notes);
    }

    // 3. Pools
    if !r.pools.is_empty() || !r.pools_skipped.is_empty() {
        let _ = writeln!(
            s,
            "\n## 3. Pool growth through sysfs\n\n| pool | page | requested | reached | grow | grow/page | shrink | shrink/page | restored |\n|---|---|---:|---:|---:|---:|---:|---:|---|"
        );
        for p in &r.pools {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                p.implementation,
                size_tag(p.page_size),
                p.requested,
                p.reached,
                fmt_ns(p.grow_ms * 1e6),
                opt(p.grow_us_per_page, |v| fmt_ns(v * 1e3)),
                fmt_ns(p.shrink_ms * 1e6),
                opt(p.shrink_us_per_page, |v| fmt_ns(v * 1e3)),
                if p.restored { "yes" } else { "**NO**" }
            );
        }
        for p in &r.pools {
            if let Some(n) = &p.note {
                let _ = writeln!(
                    s,
                    "\n- {} {}: {}",
                    p.implementation,
                    size_tag(p.page_size),
                    cell(n)
                );
            }
        }
        for k in &r.pools_skipped {
            let _ = writeln!(s, "\n- skipped {}: {}", k.pool, cell(&k.reason));
        }
    }

    // Ratios
    let _ = writeln!(s, "\n## rhugetlbfs / kernel hugetlbfs\n");
    if r.ratios.is_empty() {
        let _ = writeln!(s, "No module backing measured next to a kernel one (mount rhugetlbfs and pass `--mount PATH`).");
    } else {
        let _ = writeln!(s, "| metric | module | kernel | module value | kernel value | ratio | better |\n|---|---|---|---:|---:|---:|---|");
        for row in &r.ratios {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {:.3} | {:.3} | {:.2}× | {} |",
                cell(&row.metric),
                cell(&row.module_backing),
                cell(&row.kernel_backing),
                row.module_value,
                row.kernel_value,
                row.ratio,
                row.better
            );
        }
    }

    if !r.skipped.is_empty() || !r.notes.is_empty() {
        let _ = writeln!(s, "\n## Notes\n");
        for n in &r.notes {
            let _ = writeln!(s, "- {}", cell(n));
        }
        for n in &r.skipped {
            let _ = writeln!(s, "- skipped: {}", cell(n));
        }
    }
    if !r.plots.is_empty() {
        let _ = writeln!(s, "\n## Plots\n");
        for p in &r.plots {
            let _ = writeln!(s, "- {p}");
        }
    }
    s
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
mod tests {
    use super::*;
    use crate::stats::{ChainPoint, LatencySummary, TlbDerived};
    use crate::tlb::ChasePoint;

    fn series(id: &str, imp: &str, ps: u64, ns: &[(u64, f64)]) -> TlbSeries {
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

    fn fault(id: &str, imp: &str, p50: u64) -> FaultResult {
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

    fn sample() -> Report {
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

    #[test]
    fn markdown_has_every_section_and_escapes_cells() {
        let md = to_markdown(&sample());
        for needle in [
            "# rhbench report",
            "TCG timings are not hardware timings",
            "no hardware counters",
            "## Machine",
            "## 1. TLB-miss cost",
            "| 1 GiB | 100.00 | 40.00 | 44.00 |",
            "4K − hugetlbfs-2M at 1 GiB: **+60.00 ns per access** ≈ 120 cycles",
            "## 2. Fault latency",
            "| rhugetlbfs-2M | cold | 10 | 200 µs |",
            "| 10.5 GB/s |",
            "- hugetlbfs-2M, rhugetlbfs-2M: shared note",
            "## 3. Pool growth",
            "## rhugetlbfs / kernel hugetlbfs",
            "1.25×",
            "pool empty \\| not root",
        ] {
            assert!(md.contains(needle), "missing {needle:?} in\n{md}");
        }
        // Every table row has the same number of cells as its header.
        let mut cols = None;
        for line in md.lines() {
            if line.starts_with('|') {
                let n = line.replace("\\|", "").matches('|').count();
                if line.starts_with("|---") || line.starts_with("|--") {
                    continue;
                }
                match cols {
                    None => cols = Some(n),
                    Some(c) => assert_eq!(c, n, "ragged row: {line}"),
                }
            } else {
                cols = None;
            }
        }
    }

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

    #[test]
    fn ns_formatting() {
        assert_eq!(fmt_ns(850.0), "850 ns");
        assert_eq!(fmt_ns(1840.0), "1.84 µs");
        assert_eq!(fmt_ns(158_000.0), "158 µs");
        assert_eq!(fmt_ns(61_200_000.0), "61.2 ms");
        assert_eq!(fmt_ns(f64::NAN), "–");
    }
}
