//! The Markdown rendering of a report: the header, the machine and the backings, the
//! measurement sections (in [`super::tables`] and [`super::zeroing`]), the ratios, the
//! goals, notes and plots.

use std::fmt::Write as _;

use super::{tables, zeroing, Report};
use crate::machine::MachineFacts;
use crate::util::{fmt_size, size_tag};

pub fn to_markdown(r: &Report) -> String {
    let mut s = String::new();
    header(&mut s, r);
    machine(&mut s, &r.machine);
    backings(&mut s, r);
    tables::tlb(&mut s, r);
    tables::faults(&mut s, r);
    tables::pools(&mut s, r);
    zeroing::zeroing(&mut s, r);
    ratios(&mut s, r);
    zeroing::goals(&mut s, r);
    notes_and_plots(&mut s, r);
    s
}

/// The title and the warnings about the numbers.
fn header(s: &mut String, r: &Report) {
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
}

/// The machine's facts and its pools.
fn machine(s: &mut String, m: &MachineFacts) {
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
}

/// Every backing and whether it was measured.
fn backings(s: &mut String, r: &Report) {
    let _ = writeln!(
        s,
        "\n## Backings\n\n| backing | page | implementation | status |\n|---|---|---|---|"
    );
    // Backings are mapped by the fault and TLB sections only (absent from old configs: yes).
    let on = |k: &str| r.config.get(k).and_then(|v| v.as_bool()).unwrap_or(true);
    let used = on("faults") || on("tlb");
    for b in &r.backings {
        let status = if b.available && !used {
            "not used (no fault or TLB section run)".to_string()
        } else if b.available {
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
}

/// The rhugetlbfs / kernel ratio table.
fn ratios(s: &mut String, r: &Report) {
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
}

/// The run's notes, what it skipped, and the plots it wrote.
fn notes_and_plots(s: &mut String, r: &Report) {
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

/// A value, or a dash where there is none.
pub(super) fn opt(v: Option<f64>, f: impl Fn(f64) -> String) -> String {
    v.map_or_else(|| "–".to_string(), f)
}

/// Escape a value for a Markdown table cell.
pub(super) fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// One bullet per distinct note, naming every backing it applies to.
pub(super) fn write_grouped_notes(s: &mut String, notes: &[(&str, &str)]) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testdata::sample;

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
            "## 4. Zeroing (pre-zeroed free pages)",
            "| rhugetlbfs-2M-background | 2M | background | auto (fault: erms) | 4 × 3 | 1.80 µs | 3.60 µs | 1.8× | 12 / 0 | all zeroed (waits ≤ 12 ms) |  |",
            "pool resized \\| twice",
            "| hugetlbfs-1G | 1G | – | – | – | – | – | – | – | – | not measured: kernel 1G: 0 free pages |",
            "| rhugetlbfs-2M | 4 | 2 | 2 | 4 | 50.0 µs | 100 µs | – | 4 | 2.00 ms | 2000 | yes |",
            "- burst 1G: not measured: no rhugetlbfs mount with pagesize=1G",
            "| rhugetlbfs-2M | rhugetlbfs_zero/0 | 10.0 ms | 1.50 ms | 8 MiB | 1.280 | 0.192 | 6.00 |",
            "| rhugetlbfs 2M | yes (3 ms) | 9.50 | 21.00 | – | erms | nt | auto |",
            "| 2 (rhugetlbfs first) | rhugetlbfs | 2M | 1000 | 1000 | 40.0 ms | 40.0 µs | 1.00 ms |",
            "- growth 1G: not measured: no rhugetlbfs 1 GiB pool to compare with",
            "### Clearing methods (user-space model)",
            "| 1 GiB | anonymous, MADV_HUGEPAGE (100% THP) | 3 | 25.50 | 90.80 | 61.10 |",
            "## Goals",
            "| **met** | 1.80 µs | 1.00 µs | 1.8000× |",
            "| **not met** | 120 µs | 100 µs | 1.2000× |",
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
    fn ns_formatting() {
        assert_eq!(fmt_ns(850.0), "850 ns");
        assert_eq!(fmt_ns(1840.0), "1.84 µs");
        assert_eq!(fmt_ns(158_000.0), "158 µs");
        assert_eq!(fmt_ns(61_200_000.0), "61.2 ms");
        assert_eq!(fmt_ns(f64::NAN), "–");
    }
}
