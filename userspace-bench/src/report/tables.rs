//! The Markdown tables of the three measurements: TLB-miss cost, fault latency, pool
//! growth.

use std::fmt::Write as _;

use super::markdown::{cell, fmt_ns, opt, write_grouped_notes};
use super::Report;
use crate::stats;
use crate::util::{fmt_size, size_tag};

/// Section 1: the random chase, dTLB misses, the extra cost of 4 KiB translation, the
/// chains and the TLB notes.
pub fn tlb(s: &mut String, r: &Report) {
    if r.tlb.is_empty() {
        return;
    }
    chase_table(s, r);
    extra_cost_of_4k(s, r);
    chains_table(s, r);
}

/// The random chase by working set and backing, and the dTLB misses at the largest.
fn chase_table(s: &mut String, r: &Report) {
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
}

/// 4K minus each huge backing at the largest common working set.
fn extra_cost_of_4k(s: &mut String, r: &Report) {
    let m = &r.machine;
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
}

/// The chain comparison per backing, then the TLB notes.
fn chains_table(s: &mut String, r: &Report) {
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
    let notes = r.tlb.iter().map(|t| (t.backing.as_str(), &t.notes[..]));
    write_grouped_notes(s, &backing_notes(notes));
}

/// Section 2: write-fault latency per pass, read faults and throughput, the fault notes.
pub fn faults(s: &mut String, r: &Report) {
    if r.faults.is_empty() {
        return;
    }
    fault_latency_table(s, r);
    fault_read_table(s, r);
    let notes = r.faults.iter().map(|f| (f.backing.as_str(), &f.notes[..]));
    write_grouped_notes(s, &backing_notes(notes));
}

/// The write-fault latency of the cold and the warm passes, and the fault check.
fn fault_latency_table(s: &mut String, r: &Report) {
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
}

/// Read faults, populate and fallocate throughput.
fn fault_read_table(s: &mut String, r: &Report) {
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
}

/// Section 3: pool growth and shrinking, the pools' notes and the pools skipped.
pub fn pools(s: &mut String, r: &Report) {
    if r.pools.is_empty() && r.pools_skipped.is_empty() {
        return;
    }
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

/// Every note with the backing it is about, in order.
fn backing_notes<'a>(
    per_backing: impl Iterator<Item = (&'a str, &'a [String])>,
) -> Vec<(&'a str, &'a str)> {
    per_backing
        .flat_map(|(b, notes)| notes.iter().map(move |n| (b, n.as_str())))
        .collect()
}
