//! The Markdown of section 4 (zeroing: fault cases, burst and refill, the workers' CPU
//! time, clearing speeds, pool growth, the user-space clearing model) and of the goals.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::markdown::{cell, fmt_ns, opt};
use super::Report;
use crate::stats;
use crate::util::{fmt_size, size_tag};
use crate::zeroing::{ClearSpeedResult, FaultCase, GoalStatus, ZeroingReport};

/// Section 4.
pub fn zeroing(s: &mut String, r: &Report) {
    let Some(z) = &r.zeroing else {
        return;
    };
    let _ = writeln!(
        s,
        "\n## 4. Zeroing (pre-zeroed free pages)\n\n\
         rhugetlbfs `zero_policy=background` clears free pages in per-node threads so that a \
         fault maps a zeroed page; `zero_policy=fault` clears at fault time as the kernel's \
         hugetlbfs does."
    );
    settings(s, z);
    fault_cases(s, z);
    bursts(s, z);
    cost(s, z);
    clear_speed(s, z);
    growth(s, z);
    model(s, z);
    if !z.notes.is_empty() {
        s.push('\n');
        for n in &z.notes {
            let _ = writeln!(s, "- {}", cell(n));
        }
    }
}

fn settings(s: &mut String, z: &ZeroingReport) {
    if z.settings.is_empty() {
        return;
    }
    let _ = writeln!(
        s,
        "\n| rhugetlbfs pool | zero_policy | clear_method | zeroed / free at start | not available |\n|---|---|---|---:|---|"
    );
    for p in &z.settings {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} / {} | {} |",
            size_tag(p.page_size),
            p.zero_policy.as_deref().unwrap_or("–"),
            p.clear_method.as_deref().unwrap_or("–"),
            p.zeroed_hugepages.map_or("–".into(), |v| v.to_string()),
            p.free_hugepages.map_or("–".into(), |v| v.to_string()),
            if p.not_available.is_empty() {
                "–".to_string()
            } else {
                cell(&p.not_available.join(", "))
            }
        );
    }
}

/// `zero_fault_hits / zero_fault_inline` of a counter delta.
fn hits_inline(st: &BTreeMap<String, u64>) -> String {
    match (st.get("zero_fault_hits"), st.get("zero_fault_inline")) {
        (Some(h), Some(i)) => format!("{h} / {i}"),
        _ => "–".into(),
    }
}

fn pool_before(c: &FaultCase) -> String {
    if !c.warm_waits.is_empty() {
        let max = c.warm_waits.iter().map(|w| w.waited_ms).fold(0.0, f64::max);
        let cold = c.warm_waits.iter().filter(|w| !w.reached).count();
        if cold == 0 {
            format!("all zeroed (waits ≤ {max:.0} ms)")
        } else {
            let w = c.warm_waits.iter().find(|w| !w.reached).expect("one");
            format!(
                "**NOT warm** before {cold}/{} passes ({}/{} zeroed)",
                c.warm_waits.len(),
                w.zeroed,
                w.free
            )
        }
    } else if !c.zeroed_before.is_empty() {
        let z: Vec<String> = c.zeroed_before.iter().map(|v| v.to_string()).collect();
        format!("zeroed before each pass: {}", z.join(", "))
    } else {
        "–".into()
    }
}

fn fault_cases(s: &mut String, z: &ZeroingReport) {
    let _ = writeln!(
        s,
        "\n### First-touch write faults by zero policy (per page)\n\n\
         | case | page | zero_policy | clear_method | pages × passes | p50 | p99 | p50 ÷ 4K p50 | zeroed hits / inline clears | pool before the passes | note |\n\
         |---|---|---|---|---:|---:|---:|---:|---:|---|---|"
    );
    let base = z.case("4K").and_then(|c| c.p50_ns());
    for c in &z.faults {
        let Some(sum) = c.summary() else {
            let _ = writeln!(
                s,
                "| {} | {} | – | – | – | – | – | – | – | – | not measured: {} |",
                c.id,
                size_tag(c.page_size),
                cell(c.reason.as_deref().unwrap_or("?"))
            );
            continue;
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} × {} | {} | {} | {} | {} | {} | {} |",
            c.id,
            size_tag(c.page_size),
            c.zero_policy.as_deref().unwrap_or("–"),
            cell(c.clear_method.as_deref().unwrap_or("–")),
            c.pages_per_pass,
            c.passes,
            fmt_ns(sum.p50_ns as f64),
            fmt_ns(sum.p99_ns as f64),
            opt(
                base.and_then(|b| stats::ratio(sum.p50_ns as f64, b as f64)),
                |v| format!("{v:.1}×")
            ),
            hits_inline(&c.zero_stats),
            cell(&pool_before(c)),
            cell(&c.notes.join("; "))
        );
    }
    let _ = writeln!(
        s,
        "\np50/p99 are of the passes after the first (of the first where there is one pass); \
         the first pass is in report.json as `cold`."
    );
}

fn bursts(s: &mut String, z: &ZeroingReport) {
    if z.bursts.is_empty() {
        return;
    }
    let _ = writeln!(
        s,
        "\n### Burst larger than the zeroed reserve, and the refill\n\n\
         Every free page zeroed; `dirtied` pages mapped, written and freed (dirty); then at \
         once a burst of faults. The refill is the time from the burst's pages being freed \
         until `zeroed_hugepages == free_hugepages` again."
    );
    if z.bursts.iter().any(|b| b.measured) {
        let _ = writeln!(
            s,
            "\n| backing | free pages | dirtied | zeroed at burst | burst pages | p50 | p99 | zeroed hits / inline clears | refill pages | refill time | refill pages/s | complete |\n\
             |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
        );
    }
    for b in z.bursts.iter().filter(|b| b.measured) {
        let rf = b.refill.as_ref();
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            b.backing,
            b.pool_free,
            b.dirtied,
            b.zeroed_at_burst.map_or("–".into(), |v| v.to_string()),
            b.burst_pages,
            fmt_ns(b.latency.p50_ns as f64),
            fmt_ns(b.latency.p99_ns as f64),
            hits_inline(&b.zero_stats),
            rf.map_or("–".into(), |f| f.pages.to_string()),
            rf.map_or("–".into(), |f| fmt_ns(f.ms * 1e6)),
            opt(rf.and_then(|f| f.pages_per_s), |v| format!("{v:.0}")),
            rf.map_or("–", |f| if f.wait.reached {
                "yes"
            } else {
                "**timed out**"
            })
        );
    }
    for b in &z.bursts {
        if let Some(why) = &b.reason {
            let _ = writeln!(
                s,
                "\n- burst {}: not measured: {}",
                size_tag(b.page_size),
                cell(why)
            );
        }
        for n in &b.notes {
            let _ = writeln!(s, "\n- burst {}: {}", b.backing, cell(n));
        }
    }
}

fn cost(s: &mut String, z: &ZeroingReport) {
    let rows: Vec<_> = z
        .bursts
        .iter()
        .filter_map(|b| Some((b, b.cost.as_ref()?)))
        .collect();
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(
        s,
        "\n### Background threads' CPU time over the refill\n\n\
         | backing | threads | CPU (utime+stime) | CPU (schedstat) | cleared | CPU s per GiB (utime+stime) | CPU s per GiB (schedstat) | module clear GB/s |\n\
         |---|---|---:|---:|---:|---:|---:|---:|"
    );
    for (b, c) in &rows {
        let names: Vec<&str> = c.threads.iter().map(|w| w.comm.as_str()).collect();
        if names.is_empty() {
            let _ = writeln!(s, "| {} | none found | – | – | – | – | – | – |", b.backing);
            continue;
        }
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            b.backing,
            cell(&names.join(", ")),
            fmt_ns(c.cpu_ms * 1e6),
            opt(c.sched_ms, |v| fmt_ns(v * 1e6)),
            fmt_size(c.cleared_bytes),
            opt(c.cpu_s_per_gib, |v| format!("{v:.3}")),
            opt(c.sched_s_per_gib, |v| format!("{v:.3}")),
            opt(c.module_clear_gbps, |v| format!("{v:.2}"))
        );
    }
    for (b, c) in &rows {
        for n in &c.notes {
            let _ = writeln!(s, "\n- {}: {}", b.backing, cell(n));
        }
    }
}

fn clear_speed(s: &mut String, z: &ZeroingReport) {
    if z.clear_speed.is_empty() {
        return;
    }
    let _ = writeln!(
        s,
        "\n### Clearing speed measured by the module (`clear_speed`)\n\n\
         | pool | measured now | page GB/s | erms GB/s | nt GB/s | auto: fault | auto: background | clear_method |\n\
         |---|---|---:|---:|---:|---|---|---|"
    );
    for c in &z.clear_speed {
        let rd = c.read.clone().unwrap_or_default();
        let g = |v: Option<u64>| opt(ClearSpeedResult::gbps(v), |x| format!("{x:.2}"));
        let _ = writeln!(
            s,
            "| rhugetlbfs {} | {} | {} | {} | {} | {} | {} | {} |",
            size_tag(c.page_size),
            if c.measured_now {
                c.measure_ms
                    .map_or("yes".to_string(), |m| format!("yes ({m:.0} ms)"))
            } else {
                "no".to_string()
            },
            g(rd.page_mbps),
            g(rd.erms_mbps),
            g(rd.nt_mbps),
            rd.auto_fault.as_deref().unwrap_or("–"),
            rd.auto_background.as_deref().unwrap_or("–"),
            c.clear_method.as_deref().unwrap_or("–")
        );
    }
    for c in &z.clear_speed {
        if let Some(why) = &c.reason {
            let _ = writeln!(s, "\n- rhugetlbfs {}: {}", size_tag(c.page_size), cell(why));
        }
    }
}

fn growth(s: &mut String, z: &ZeroingReport) {
    if z.growth.is_empty() && z.growth_skipped.is_empty() {
        return;
    }
    let _ = writeln!(
        s,
        "\n### Pool growth from 0 (`echo N > nr_hugepages`), both orders"
    );
    if !z.growth.is_empty() {
        let _ = writeln!(
            s,
            "\n| round | pool | page | requested | reached | grow | grow/page | shrink |\n\
             |---:|---|---|---:|---:|---:|---:|---:|"
        );
    }
    for g in &z.growth {
        let _ = writeln!(
            s,
            "| {} ({}) | {} | {} | {} | {} | {} | {} | {} |",
            g.round,
            if g.round == 1 {
                "kernel first"
            } else {
                "rhugetlbfs first"
            },
            g.implementation,
            size_tag(g.page_size),
            g.requested,
            g.reached,
            fmt_ns(g.grow_ms * 1e6),
            opt(g.grow_us_per_page, |v| fmt_ns(v * 1e3)),
            fmt_ns(g.shrink_ms * 1e6)
        );
    }
    for g in &z.growth {
        if let Some(n) = &g.note {
            let _ = writeln!(
                s,
                "\n- round {} {} {}: {}",
                g.round,
                g.implementation,
                size_tag(g.page_size),
                cell(n)
            );
        }
    }
    for k in &z.growth_skipped {
        let _ = writeln!(
            s,
            "\n- growth {}: not measured: {}",
            size_tag(k.page_size),
            cell(&k.reason)
        );
    }
}

fn model(s: &mut String, z: &ZeroingReport) {
    let m = &z.model;
    let _ = writeln!(s, "\n### Clearing methods (user-space model)\n");
    if !m.available {
        let _ = writeln!(s, "{}", m.reason.as_deref().unwrap_or("not available"));
        return;
    }
    let _ = writeln!(
        s,
        "What each clearing method of the module does, from user space, in GB/s (best of \
         the repetitions){}.\n\n\
         | buffer | backing | repetitions | rep stosb per 4 KiB (`page`) | one rep stosb (`erms`) | movnti + sfence (`nt`) |\n\
         |---|---|---:|---:|---:|---:|",
        m.llc_bytes
            .map_or(String::new(), |l| format!("; last-level cache {}", fmt_size(l)))
    );
    for row in &m.rows {
        let g = |v: Option<f64>| opt(v, |x| format!("{x:.2}"));
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} |",
            cell(&row.buffer),
            cell(&row.backing),
            row.repeats,
            g(row.per_4k_stosb_gbps),
            g(row.stosb_gbps),
            g(row.nt_gbps)
        );
    }
    for n in &m.notes {
        let _ = writeln!(s, "\n- {}", cell(n));
    }
}

/// The goals, each met / not met / not measured.
pub fn goals(s: &mut String, r: &Report) {
    if r.goals.is_empty() {
        return;
    }
    let _ = writeln!(
        s,
        "\n## Goals\n\n| goal | status | value | reference | ratio | numbers |\n|---|---|---:|---:|---:|---|"
    );
    for g in &r.goals {
        let status = match g.status {
            GoalStatus::Met => "**met**",
            GoalStatus::NotMet => "**not met**",
            GoalStatus::NotMeasured => "not measured",
        };
        let v = |x: Option<f64>| opt(x, |x| crate::zeroing::goals::fmt_value(x, &g.unit));
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} |",
            cell(&g.goal),
            status,
            v(g.value),
            v(g.reference),
            opt(g.ratio, |x| format!("{x:.4}×")),
            cell(&g.detail)
        );
    }
    if r.machine.tcg {
        let _ = writeln!(
            s,
            "\nTCG: the times are emulated; read the ratios, and take met / not met as indications only."
        );
    }
}
