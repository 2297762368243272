//! 2. Fault latency and prefault throughput.
//!
//! * First-touch write faults: map N pages, write one byte at the start of each page and time
//!   that store alone (it includes the fault: allocation + zeroing + mapping). The first pass
//!   ("cold") touches memory the pool or the host has never handed out; it is reported apart
//!   from the following "warm" passes.
//! * Every huge page must cost exactly one fault. After the timed store, the other 4 KiB
//!   sub-pages of the huge page are written too (untimed): on a real huge page they fault no
//!   more; if the mapping fell back to 4 KiB pages each costs a fault (512 per 2 MiB).
//! * Read faults: anonymous memory maps the (huge) zero page; a file on a hugetlbfs-like mount
//!   is read through a second mapping of already-populated pages (shared page-cache pages).
//! * Prefault throughput: MAP_POPULATE / MADV_POPULATE_WRITE and fallocate, in GB/s.

use std::time::Instant;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::backing::{Backing, BackingKind, Region};
use crate::perf::FaultCounter;
use crate::stats::{self, LatencySummary};
use crate::util::{fmt_size, progress, BASE_PAGE, GIB};

#[derive(Clone, Debug)]
pub struct FaultConfig {
    /// Bytes touched per pass for page sizes below 1 GiB.
    pub bytes: u64,
    /// Pages per pass for 1 GiB (and larger) pages.
    pub pages_1g: u64,
    /// Warm passes after the cold one.
    pub rounds: u32,
    pub populate_rounds: u32,
}

impl FaultConfig {
    pub fn pages_for(&self, page_size: u64) -> u64 {
        if page_size >= GIB {
            self.pages_1g
        } else {
            (self.bytes / page_size).max(1)
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FaultCheck {
    pub pages: u64,
    pub total_faults: u64,
    pub min_per_page: u64,
    pub max_per_page: u64,
    /// Pages whose timed store did not cost exactly one fault.
    pub pages_not_one: u64,
    /// Huge pages whose 4 KiB sub-pages faulted separately (fell back to 4 KiB pages).
    pub fallback_pages: u64,
    pub ok: bool,
    pub message: String,
}

#[derive(Default)]
struct CheckAcc {
    pages: u64,
    total: u64,
    min: u64,
    max: u64,
    not_one: u64,
    fallback: u64,
}

impl CheckAcc {
    fn add(&mut self, timed: u64, whole_page: u64, subpages: u64) {
        if self.pages == 0 {
            self.min = whole_page;
        }
        self.pages += 1;
        self.total += whole_page;
        self.min = self.min.min(whole_page);
        self.max = self.max.max(whole_page);
        if timed != 1 {
            self.not_one += 1;
        }
        if subpages > 1 && whole_page >= subpages / 2 {
            self.fallback += 1;
        }
    }

    fn finish(&self, page_size: u64) -> FaultCheck {
        let ok = self.pages > 0 && self.min == 1 && self.max == 1;
        let message = if self.fallback > 0 {
            format!(
                "FALLBACK: {} of {} {} touches cost ~{} faults each: these are 4 KiB pages, not huge pages",
                self.fallback,
                self.pages,
                fmt_size(page_size),
                page_size / BASE_PAGE
            )
        } else if ok {
            format!(
                "exactly 1 fault per {} page ({} first touches)",
                fmt_size(page_size),
                self.pages
            )
        } else {
            format!(
                "{} faults per {} page (min {}, max {}, {} pages not exactly 1)",
                self.total as f64 / self.pages.max(1) as f64,
                fmt_size(page_size),
                self.min,
                self.max,
                self.not_one
            )
        };
        FaultCheck {
            pages: self.pages,
            total_faults: self.total,
            min_per_page: self.min,
            max_per_page: self.max,
            pages_not_one: self.not_one,
            fallback_pages: self.fallback,
            ok,
            message,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FaultResult {
    pub backing: String,
    pub page_size: u64,
    pub implementation: String,
    pub pages_per_pass: u64,
    pub cold: LatencySummary,
    pub warm: LatencySummary,
    pub warm_passes: u32,
    pub read_kind: String,
    pub read: Option<LatencySummary>,
    pub check: Option<FaultCheck>,
    pub populate_method: String,
    pub populate_gbps: Option<f64>,
    pub fallocate_gbps: Option<f64>,
    /// Downsampled CDFs (latency ns, fraction) for plots.
    pub cold_cdf: Vec<(f64, f64)>,
    pub warm_cdf: Vec<(f64, f64)>,
    pub notes: Vec<String>,
}

/// Map `pages` pages, time a one-byte store (or load) into each, count faults.
#[allow(clippy::too_many_arguments)]
fn touch_pass(
    backing: &Backing,
    pages: u64,
    write: bool,
    hist: &mut Histogram<u64>,
    errors: &mut u64,
    fc: &mut Option<FaultCounter>,
    acc: Option<&mut CheckAcc>,
    source: Option<&Region>,
) -> std::io::Result<()> {
    let ps = backing.page_size as usize;
    let region = match source {
        Some(src) => src.map_again().expect("file-backed")?,
        None => backing.map(pages * backing.page_size, false)?,
    };
    let base = region.as_ptr();
    let subpages = ps / BASE_PAGE as usize;
    let mut acc = acc;
    for i in 0..pages as usize {
        // SAFETY: `i * ps` is within the mapping of `pages` pages.
        let p = unsafe { base.add(i * ps) };
        let c0 = fc.as_mut().map_or(0, |f| f.read());
        let t = Instant::now();
        // SAFETY: in bounds; volatile so the access is not elided.
        unsafe {
            if write {
                std::ptr::write_volatile(p, 1);
            } else {
                std::hint::black_box(std::ptr::read_volatile(p));
            }
        }
        let dt = t.elapsed();
        let c1 = fc.as_mut().map_or(0, |f| f.read());
        if let Some(acc) = acc.as_deref_mut() {
            for s in 1..subpages {
                // SAFETY: sub-page of the same huge page, in bounds.
                unsafe { std::ptr::write_volatile(p.add(s * BASE_PAGE as usize), 1) };
            }
            let c2 = fc.as_mut().map_or(0, |f| f.read());
            acc.add(c1 - c0, c2 - c0, subpages as u64);
        }
        stats::record(hist, dt.as_nanos() as u64, errors);
    }
    drop(region);
    Ok(())
}

/// One timed first-touch write pass over `pages` fresh pages of `backing` (the pass of the
/// fault benchmark), for other sections. With `check`, the other 4 KiB sub-pages of each page
/// are written too (untimed) and the faults per page are counted (`None` without a software
/// fault counter); without it nothing runs between the timed stores. The pages go back to
/// their pool (or the system) before this returns.
pub fn write_pass(
    backing: &Backing,
    pages: u64,
    hist: &mut Histogram<u64>,
    errors: &mut u64,
    check: bool,
) -> std::io::Result<Option<FaultCheck>> {
    let mut fc = if check {
        FaultCounter::open().ok()
    } else {
        None
    };
    let mut acc = CheckAcc::default();
    touch_pass(
        backing,
        pages,
        true,
        hist,
        errors,
        &mut fc,
        check.then_some(&mut acc),
        None,
    )?;
    Ok(fc.map(|_| acc.finish(backing.page_size)))
}

fn time_populate(backing: &Backing, bytes: u64, rounds: u32) -> std::io::Result<f64> {
    let mut secs = Vec::new();
    let mut fc = FaultCounter::open().ok();
    for _ in 0..rounds.max(1) {
        let t = Instant::now();
        let r = backing.map(bytes, true)?;
        secs.push(t.elapsed().as_secs_f64());
        // A populated mapping takes no fault on touch. mm_populate() silently skips some
        // mappings (VM_PFNMAP ones, such as rhugetlbfs's): then the time above measured
        // nothing, and saying so beats printing an absurd GB/s.
        if let Some(f) = fc.as_mut() {
            let before = f.read();
            let pages = r.len() / backing.page_size as usize;
            for i in 0..pages {
                // SAFETY: in bounds of the mapping; volatile so the read is not elided.
                unsafe {
                    std::hint::black_box(std::ptr::read_volatile(
                        r.as_ptr().add(i * backing.page_size as usize),
                    ))
                };
            }
            let faults = f.read() - before;
            if faults > 0 {
                return Err(std::io::Error::other(format!(
                    "{} did not prefault: {faults} faults touching the {pages} pages afterwards \
                     (mm_populate skips VM_PFNMAP mappings)",
                    populate_method(backing)
                )));
            }
        }
        drop(r);
    }
    Ok(stats::gbps(bytes, stats::median(&secs)))
}

fn time_fallocate(backing: &Backing, bytes: u64, rounds: u32) -> Option<std::io::Result<f64>> {
    if !matches!(backing.kind, BackingKind::Mount { .. }) {
        return None;
    }
    let mut secs = Vec::new();
    for _ in 0..rounds.max(1) {
        let r = match backing.map(bytes, false) {
            Ok(r) => r,
            Err(e) => return Some(Err(e)),
        };
        let t = Instant::now();
        match r.fallocate()? {
            Ok(()) => secs.push(t.elapsed().as_secs_f64()),
            Err(e) => return Some(Err(e)),
        }
    }
    Some(Ok(stats::gbps(bytes, stats::median(&secs))))
}

pub fn populate_method(backing: &Backing) -> &'static str {
    match backing.kind {
        BackingKind::Anon4k => "MADV_POPULATE_WRITE",
        BackingKind::Thp => "MADV_HUGEPAGE + MADV_POPULATE_WRITE",
        BackingKind::HugetlbFlag => "MAP_POPULATE",
        BackingKind::Mount { .. } => "MAP_POPULATE (MAP_SHARED file)",
    }
}

/// Run the fault measurements for one backing with `pages` pages per pass.
pub fn run(backing: &Backing, pages: u64, cfg: &FaultConfig) -> Result<FaultResult, String> {
    let mut fc = FaultCounter::open().ok();
    let mut notes = Vec::new();
    if fc.is_none() {
        notes.push("software page-fault counter unavailable: faults per page not checked".into());
    }
    let bytes = pages * backing.page_size;
    let mut errors = 0u64;
    let mut acc = CheckAcc::default();

    progress(&format!(
        "faults {}: cold pass over {pages} pages ({})",
        backing.id,
        fmt_size(bytes)
    ));
    let mut cold = stats::latency_hist();
    touch_pass(
        backing,
        pages,
        true,
        &mut cold,
        &mut errors,
        &mut fc,
        Some(&mut acc),
        None,
    )
    .map_err(|e| format!("map {}: {e}", fmt_size(bytes)))?;
    let mut warm = stats::latency_hist();
    for round in 0..cfg.rounds {
        progress(&format!(
            "faults {}: warm pass {}/{}",
            backing.id,
            round + 1,
            cfg.rounds
        ));
        touch_pass(
            backing,
            pages,
            true,
            &mut warm,
            &mut errors,
            &mut fc,
            Some(&mut acc),
            None,
        )
        .map_err(|e| format!("map {}: {e}", fmt_size(bytes)))?;
    }
    let check = fc.as_ref().map(|_| acc.finish(backing.page_size));
    if let Some(c) = &check {
        if c.fallback_pages > 0 {
            eprintln!("\n!!! rhbench: {}: {}\n", backing.id, c.message);
        }
    }

    // Read faults.
    let mut read_hist = stats::latency_hist();
    let (read_kind, read) = match backing.kind {
        BackingKind::Mount { .. } => {
            let r = (|| -> std::io::Result<()> {
                let src = backing.map(bytes, true)?;
                // Put every page in the page cache (MAP_POPULATE alone may not have: it
                // skips PFN mappings), so the timed reads below map existing pages.
                for i in 0..src.len() / backing.page_size as usize {
                    // SAFETY: in bounds of the mapping; volatile so the write is not elided.
                    unsafe {
                        std::ptr::write_volatile(
                            src.as_ptr().add(i * backing.page_size as usize),
                            1,
                        )
                    };
                }
                touch_pass(
                    backing,
                    pages,
                    false,
                    &mut read_hist,
                    &mut errors,
                    &mut fc,
                    None,
                    Some(&src),
                )
            })();
            (
                "shared page-cache page (second mapping of a populated file)",
                r,
            )
        }
        BackingKind::HugetlbFlag => (
            "private hugetlb (allocates and zeroes: no zero page)",
            touch_pass(
                backing,
                pages,
                false,
                &mut read_hist,
                &mut errors,
                &mut fc,
                None,
                None,
            ),
        ),
        BackingKind::Thp => (
            "huge zero page",
            touch_pass(
                backing,
                pages,
                false,
                &mut read_hist,
                &mut errors,
                &mut fc,
                None,
                None,
            ),
        ),
        BackingKind::Anon4k => (
            "zero page",
            touch_pass(
                backing,
                pages,
                false,
                &mut read_hist,
                &mut errors,
                &mut fc,
                None,
                None,
            ),
        ),
    };
    let read = match read {
        Ok(()) => Some(LatencySummary::from_hist(&read_hist)),
        Err(e) => {
            notes.push(format!("read faults: {e}"));
            None
        }
    };

    progress(&format!("faults {}: prefault throughput", backing.id));
    let populate_gbps = match time_populate(backing, bytes, cfg.populate_rounds) {
        Ok(g) => Some(g),
        Err(e) => {
            notes.push(format!("populate: {e}"));
            None
        }
    };
    let fallocate_gbps = match time_fallocate(backing, bytes, cfg.populate_rounds) {
        None => None,
        Some(Ok(g)) => Some(g),
        Some(Err(e)) => {
            notes.push(format!("fallocate: {e}"));
            None
        }
    };
    if errors > 0 {
        notes.push(format!("{errors} latencies outside the histogram range"));
    }
    Ok(FaultResult {
        backing: backing.id.clone(),
        page_size: backing.page_size,
        implementation: backing.implementation.clone(),
        pages_per_pass: pages,
        cold: LatencySummary::from_hist(&cold),
        warm: LatencySummary::from_hist(&warm),
        warm_passes: cfg.rounds,
        read_kind: read_kind.to_string(),
        read,
        check,
        populate_method: populate_method(backing).to_string(),
        populate_gbps,
        fallocate_gbps,
        cold_cdf: stats::cdf_points(&cold, 200),
        warm_cdf: stats::cdf_points(&warm, 200),
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_accumulator_flags_fallback() {
        let mut a = CheckAcc::default();
        for _ in 0..4 {
            a.add(1, 1, 512);
        }
        let c = a.finish(2 << 20);
        assert!(c.ok && c.fallback_pages == 0, "{c:?}");
        assert!(c.message.contains("exactly 1 fault"));
        a.add(1, 512, 512);
        let c = a.finish(2 << 20);
        assert!(!c.ok);
        assert_eq!(c.fallback_pages, 1);
        assert!(c.message.starts_with("FALLBACK"), "{}", c.message);
        let mut b = CheckAcc::default();
        b.add(1, 1, 1);
        b.add(0, 0, 1);
        let c = b.finish(4096);
        assert!(!c.ok && c.fallback_pages == 0 && c.pages_not_one == 1);
    }

    #[test]
    fn tiny_4k_fault_run() {
        let cfg = FaultConfig {
            bytes: 64 * 4096,
            pages_1g: 1,
            rounds: 1,
            populate_rounds: 1,
        };
        let b = Backing::anon_4k();
        let r = run(&b, cfg.pages_for(b.page_size), &cfg).unwrap();
        assert_eq!(r.pages_per_pass, 64);
        assert_eq!(r.cold.count, 64);
        assert_eq!(r.warm.count, 64);
        assert_eq!(r.read.as_ref().unwrap().count, 64);
        assert!(r.populate_gbps.unwrap() > 0.0);
        assert!(r.fallocate_gbps.is_none());
        if let Some(c) = &r.check {
            assert_eq!(c.fallback_pages, 0);
            assert!(c.min_per_page >= 1, "{c:?}");
        }
        assert_eq!(cfg.pages_for(GIB), 1);
    }
}
