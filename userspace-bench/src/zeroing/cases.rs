//! Items 1-4 of the zeroing section: the fault cases, the burst and its refill, the
//! background threads' CPU time, and the module's clearing speeds.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::sysfs::{self, ZeroPool};
use super::{
    BurstResult, ClearSpeedResult, FaultCase, Refill, WorkerCost, ZeroConfig, ZeroingReport,
};
use crate::backing::Backing;
use crate::cleanup::PoolGuard;
use crate::faults::{self, FaultCheck};
use crate::pools;
use crate::stats::{self, LatencySummary};
use crate::util::{self, fmt_size, progress, size_tag, BASE_PAGE, GIB};

/// The ids and labels of the module's two cases of a size: background, then fault.
pub fn module_ids(page_size: u64) -> [(String, String); 2] {
    let tag = size_tag(page_size);
    let size = fmt_size(page_size);
    [
        (
            format!("rhugetlbfs-{tag}-background"),
            format!("rhugetlbfs {size}, zero_policy=background, warm pre-zeroed pool"),
        ),
        (
            format!("rhugetlbfs-{tag}-fault"),
            format!("rhugetlbfs {size}, zero_policy=fault, dirty pool"),
        ),
    ]
}

/// How often a wait for a zeroed pool looks: 1 GiB pages take long to clear.
fn poll_for(page_size: u64) -> Duration {
    if page_size >= GIB {
        Duration::from_millis(5)
    } else {
        Duration::from_millis(1)
    }
}

/// The passes of one case: the first apart from the others, the worst fault check.
struct Passes {
    cold: LatencySummary,
    warm: LatencySummary,
    check: Option<FaultCheck>,
    errors: u64,
    passes: u32,
}

/// `passes` first-touch write passes over `pages` pages of `b`; `before(i)` runs before
/// pass `i` (untimed) and may stop the case.
fn timed_passes(
    b: &Backing,
    pages: u64,
    passes: u32,
    check: bool,
    mut before: impl FnMut(u32) -> Result<(), String>,
) -> Result<Passes, String> {
    let mut cold = stats::latency_hist();
    let mut warm = stats::latency_hist();
    let mut errors = 0;
    let mut worst: Option<FaultCheck> = None;
    for i in 0..passes.max(1) {
        before(i)?;
        let h = if i == 0 { &mut cold } else { &mut warm };
        let c = faults::write_pass(b, pages, h, &mut errors, check)
            .map_err(|e| format!("map {}: {e}", fmt_size(pages * b.page_size)))?;
        if let Some(c) = c {
            if worst.as_ref().is_none_or(|w| w.ok) {
                worst = Some(c);
            }
        }
    }
    Ok(Passes {
        cold: LatencySummary::from_hist(&cold),
        warm: LatencySummary::from_hist(&warm),
        check: worst,
        errors,
        passes: passes.max(1),
    })
}

/// A measured case from its passes.
fn measured(id: &str, label: &str, b: &Backing, pages: u64, p: Passes) -> FaultCase {
    let mut notes = Vec::new();
    if p.errors > 0 {
        notes.push(format!(
            "{} latencies outside the histogram range",
            p.errors
        ));
    }
    if let Some(c) = &p.check {
        if !c.ok {
            notes.push(c.message.clone());
        }
    }
    let s = if p.warm.count > 0 { &p.warm } else { &p.cold };
    progress(&format!(
        "zeroing: {id}: p50 {} p99 {}",
        crate::report::fmt_ns(s.p50_ns as f64),
        crate::report::fmt_ns(s.p99_ns as f64)
    ));
    FaultCase {
        id: id.into(),
        label: label.into(),
        backing: b.id.clone(),
        implementation: b.implementation.clone(),
        page_size: b.page_size,
        measured: true,
        pages_per_pass: pages,
        passes: p.passes,
        cold: p.cold,
        warm: p.warm,
        check: p.check,
        notes,
        ..Default::default()
    }
}

fn passes(cfg: &ZeroConfig) -> u32 {
    1 + cfg.rounds
}

/// 4 KiB anonymous pages: the per-4 KiB write fault.
pub fn anon_4k(cfg: &ZeroConfig) -> FaultCase {
    let b = Backing::anon_4k();
    let label = "4 KiB anonymous (MADV_NOHUGEPAGE), per 4 KiB fault";
    let limit = util::meminfo_bytes("MemAvailable").unwrap_or(4 * GIB) / 2;
    let pages = (cfg.fault_bytes.min(limit) / BASE_PAGE).max(1);
    progress(&format!("zeroing: 4K: {pages} pages per pass"));
    match timed_passes(&b, pages, passes(cfg), true, |_| Ok(())) {
        Ok(p) => measured("4K", label, &b, pages, p),
        Err(e) => FaultCase::not_measured("4K", label, BASE_PAGE, e),
    }
}

/// Kernel hugetlbfs of one size (it clears at fault time).
pub fn kernel(b: Result<Backing, String>, ps: u64, pages: u64, cfg: &ZeroConfig) -> FaultCase {
    let id = format!("hugetlbfs-{}", size_tag(ps));
    let label = format!("kernel hugetlbfs {} (clears at fault time)", fmt_size(ps));
    let b = match b {
        Ok(b) => b,
        Err(e) => return FaultCase::not_measured(&id, &label, ps, e),
    };
    let Some(pool) = b.pool.clone() else {
        return FaultCase::not_measured(&id, &label, ps, "no kernel pool".into());
    };
    let res = pools::ensure_free(&pool, pages, &cfg.policy);
    if res.have == 0 {
        let why = res
            .note
            .clone()
            .unwrap_or_else(|| "pool has no free pages".into());
        return FaultCase::not_measured(&id, &label, ps, why);
    }
    let n = pages.min(res.have);
    progress(&format!("zeroing: {id}: {n} pages per pass"));
    let mut c = match timed_passes(&b, n, passes(cfg), true, |_| Ok(())) {
        Ok(p) => measured(&id, &label, &b, n, p),
        Err(e) => FaultCase::not_measured(&id, &label, ps, e),
    };
    if n < pages {
        c.notes
            .push(format!("{n} pages per pass instead of {pages} (pool)"));
    }
    c.notes.extend(res.note.clone());
    drop(res);
    c
}

/// Sets the module's `zero_policy`, registering the file for restore the first time.
struct PolicySetter<'a> {
    zp: &'a ZeroPool,
    guard: Option<PoolGuard>,
}

impl PolicySetter<'_> {
    fn set(&mut self, word: &str) -> Result<(), String> {
        let cur = self.zp.policy()?;
        if cur == word {
            return Ok(());
        }
        let f = self.zp.file("zero_policy");
        if !util::writable(&f) {
            return Err(format!(
                "zero_policy is {cur} and cannot be set to {word} (not root)"
            ));
        }
        if self.guard.is_none() {
            self.guard = Some(PoolGuard::new(&f).map_err(|e| sysfs::describe(&f, &e))?);
        }
        let g = self.guard.as_ref().expect("set above");
        g.set_word(word)
            .map_err(|e| format!("zero_policy={word}: {}", sysfs::describe(&f, &e)))?;
        let now = self.zp.policy()?;
        if now != word {
            return Err(format!("wrote zero_policy={word} but it reads {now}"));
        }
        progress(&format!(
            "zeroing: {}: zero_policy={word}",
            self.zp.pool.label()
        ));
        Ok(())
    }
}

/// `clear_method`, and what `auto` stands for in `case` (`fault` or `background`).
/// Fills in what a case under `policy` ran with: the policy, the fault path's method, and
/// the zeroing counters' change since `st0`.
fn with_policy(c: &mut FaultCase, policy: &str, zp: &ZeroPool, st0: &BTreeMap<String, u64>) {
    c.zero_policy = Some(policy.into());
    c.clear_method = method_desc(zp, "fault");
    c.zero_stats = sysfs::zero_deltas(st0, &zp.stats());
}

fn method_desc(zp: &ZeroPool, case: &str) -> Option<String> {
    let m = zp.clear_method().ok()?;
    let auto = zp.clear_speed().ok().and_then(|s| match case {
        "fault" => s.auto_fault,
        _ => s.auto_background,
    });
    Some(match auto {
        Some(a) if m == "auto" => format!("auto ({case}: {a})"),
        _ => m,
    })
}

/// Map `pages` pages of `b`, write each, and free them: they come back dirty.
fn touch_and_free(b: &Backing, pages: u64) -> Result<(), String> {
    if pages == 0 {
        return Ok(());
    }
    let r = b
        .map(pages * b.page_size, false)
        .map_err(|e| format!("map {}: {e}", fmt_size(pages * b.page_size)))?;
    r.touch_all(b.page_size);
    Ok(())
}

/// Leave no zeroed page in the pool (policy `fault` set): resize it to what is in use and
/// back (fresh pages count as dirty), or, where that is not allowed or not enough, map,
/// write and free the free pages.
fn make_dirty(zp: &ZeroPool, b: &Backing, cfg: &ZeroConfig) -> Result<Vec<String>, String> {
    let mut notes = Vec::new();
    if zp.zeroed()? == 0 {
        return Ok(notes);
    }
    if cfg.policy.enabled && zp.pool.writable() {
        let nr = zp.pool.nr().map_err(|e| format!("nr_hugepages: {e}"))?;
        let free = zp.free()?;
        let file = zp.pool.file("nr_hugepages");
        let g = PoolGuard::new(&file).map_err(|e| sysfs::describe(&file, &e))?;
        let r = g.set(nr - free).and_then(|_| g.set(nr));
        drop(g);
        let z = zp.zeroed()?;
        notes.push(format!(
            "pool resized {nr} -> {} -> {nr} pages to start from dirty pages: {z} zeroed after{}",
            nr - free,
            r.err().map_or(String::new(), |e| format!(" ({e})"))
        ));
        if z == 0 {
            return Ok(notes);
        }
    }
    let free = zp.free()?;
    touch_and_free(b, free)?;
    notes.push(format!(
        "{free} free pages mapped, written and freed to make them dirty: {} zeroed after",
        zp.zeroed()?
    ));
    Ok(notes)
}

/// The module's clearing speeds (item 4): measured now (as root, with a free page), or the
/// module's last values.
fn clear_speed(zp: &ZeroPool) -> ClearSpeedResult {
    let mut out = ClearSpeedResult {
        pool: zp.pool.path.display().to_string(),
        page_size: zp.pool.page_size,
        clear_method: zp.clear_method().ok(),
        ..Default::default()
    };
    let f = zp.file("clear_speed");
    if !f.exists() {
        out.reason = Some("clear_speed not available (older module?)".into());
        return out;
    }
    if !util::writable(&f) {
        out.reason = Some("not root: not measured now (the module's last values)".into());
    } else if zp.free().unwrap_or(0) == 0 {
        out.reason = Some("the pool has no free page: not measured now".into());
    } else {
        progress(&format!(
            "zeroing: {}: measuring clear_speed",
            zp.pool.label()
        ));
        let t = Instant::now();
        match zp.measure_clear_speed() {
            Ok(()) => {
                out.measured_now = true;
                out.measure_ms = Some(t.elapsed().as_secs_f64() * 1e3);
            }
            Err(e) => out.reason = Some(e),
        }
    }
    match zp.clear_speed() {
        Ok(s) => out.read = Some(s),
        Err(e) => out.reason = Some(e),
    }
    out
}

/// Item 4 for a module pool without a mount of its size.
pub fn clear_speed_only(zp: &ZeroPool, cfg: &ZeroConfig) -> ClearSpeedResult {
    let res = pools::ensure_free(&zp.pool, 1, &cfg.policy);
    if zp.policy().as_deref() == Ok("background") {
        // The workers idle, so the measurement has the CPU alone.
        let _ = zp.wait_zeroed(cfg.timeout, poll_for(zp.pool.page_size));
    }
    let mut c = clear_speed(zp);
    if let (Some(n), None) = (&res.note, &c.reason) {
        c.reason = Some(n.clone());
    }
    drop(res);
    c
}

/// Items 1-4 for one module mount: clearing speeds, the background and fault cases, the
/// burst with its refill and the workers' CPU time.
pub fn module(b: &Backing, pages: u64, cfg: &ZeroConfig, r: &mut ZeroingReport) {
    let ps = b.page_size;
    let [(bg_id, bg_label), (f_id, f_label)] = module_ids(ps);
    let not_measured = |r: &mut ZeroingReport, why: String| {
        r.faults
            .push(FaultCase::not_measured(&bg_id, &bg_label, ps, why.clone()));
        r.faults
            .push(FaultCase::not_measured(&f_id, &f_label, ps, why.clone()));
        r.bursts.push(BurstResult {
            backing: b.id.clone(),
            page_size: ps,
            reason: Some(why),
            ..Default::default()
        });
    };
    let Some(pool) = b.pool.clone() else {
        not_measured(r, format!("{}: no pool directory found", b.label));
        return;
    };
    let zp = ZeroPool::new(pool.clone());
    let res = pools::ensure_free(&pool, pages, &cfg.policy);
    if res.have == 0 {
        let why = res
            .note
            .clone()
            .unwrap_or_else(|| "pool has no free pages".into());
        not_measured(r, why);
        r.clear_speed.push(clear_speed(&zp));
        return;
    }
    let n = pages.min(res.have);
    let poll = poll_for(ps);
    let mut setter = PolicySetter {
        zp: &zp,
        guard: None,
    };
    let mut size_notes: Vec<String> = res.note.iter().cloned().collect();
    if n < pages {
        size_notes.push(format!("{n} pages per pass instead of {pages} (pool)"));
    }

    // Background, warm: clearing speeds first (so `auto` chooses from measurements, with the
    // workers idle), then the passes, each on a fully zeroed pool.
    let bg = setter.set("background");
    if bg.is_ok() {
        progress(&format!("zeroing: {bg_id}: waiting for a zeroed pool"));
        let _ = zp.wait_zeroed(cfg.timeout, poll);
    }
    r.clear_speed.push(clear_speed(&zp));
    let bg_case = match &bg {
        Err(e) if !zp.has("zero_policy") => {
            // An older module: no pre-zeroing to measure; its plain faults still count.
            let plain_id = format!("rhugetlbfs-{}", size_tag(ps));
            let plain_label = format!("rhugetlbfs {} (no zero_policy)", fmt_size(ps));
            if let Ok(p) = timed_passes(b, n, passes(cfg), true, |_| Ok(())) {
                r.faults.push(measured(&plain_id, &plain_label, b, n, p));
            }
            FaultCase::not_measured(&bg_id, &bg_label, ps, e.clone())
        }
        Err(e) => FaultCase::not_measured(&bg_id, &bg_label, ps, e.clone()),
        Ok(()) => {
            let st0 = zp.stats();
            let mut waits = Vec::new();
            let p = timed_passes(b, n, passes(cfg), true, |_| {
                let w = zp.wait_zeroed(cfg.timeout, poll)?;
                if !w.reached {
                    progress(&format!("zeroing: {bg_id}: {}", w.describe()));
                }
                waits.push(w);
                Ok(())
            });
            match p {
                Ok(p) => {
                    let mut c = measured(&bg_id, &bg_label, b, n, p);
                    with_policy(&mut c, "background", &zp, &st0);
                    let cold: Vec<&sysfs::WarmWait> = waits.iter().filter(|w| !w.reached).collect();
                    if let Some(w) = cold.first() {
                        c.notes.push(format!(
                            "the pool was not fully zeroed before {} of {} passes (first: {})",
                            cold.len(),
                            waits.len(),
                            w.describe()
                        ));
                    }
                    c.warm_waits = waits;
                    c
                }
                Err(e) => FaultCase::not_measured(&bg_id, &bg_label, ps, e),
            }
        }
    };
    r.faults.push(bg_case);

    // Fault policy on dirty pages.
    let f_case = match setter.set("fault") {
        Err(e) => FaultCase::not_measured(&f_id, &f_label, ps, e),
        Ok(()) => {
            let mut notes = Vec::new();
            let st0 = zp.stats();
            let mut zeroed_before = Vec::new();
            let p = timed_passes(b, n, passes(cfg), true, |_| {
                if zp.zeroed()? > 0 {
                    notes.extend(make_dirty(&zp, b, cfg)?);
                }
                zeroed_before.push(zp.zeroed()?);
                Ok(())
            });
            match p {
                Ok(p) => {
                    let mut c = measured(&f_id, &f_label, b, n, p);
                    with_policy(&mut c, "fault", &zp, &st0);
                    c.zeroed_before = zeroed_before;
                    // Once each, however many passes needed it.
                    for n in notes {
                        if !c.notes.contains(&n) {
                            c.notes.push(n);
                        }
                    }
                    c
                }
                Err(e) => FaultCase::not_measured(&f_id, &f_label, ps, e),
            }
        }
    };
    r.faults.push(f_case);

    // The burst, with background clearing again.
    let burst_res = match setter.set("background") {
        Err(e) => BurstResult {
            backing: b.id.clone(),
            page_size: ps,
            reason: Some(e),
            ..Default::default()
        },
        Ok(()) => burst(b, &zp, n, cfg),
    };
    r.bursts.push(burst_res);
    for c in r
        .faults
        .iter_mut()
        .filter(|c| c.page_size == ps && c.measured)
    {
        if c.id == bg_id || c.id == f_id {
            c.notes.extend(size_notes.iter().cloned());
        }
    }
    drop(setter);
    drop(res);
}

/// Item 2 and 3: with `n` pages to fault and every free page zeroed, dirty enough pages that
/// the zeroed reserve is `n / 2`, fault `n` pages at once, then time the refill and the
/// workers' CPU time over it.
fn burst(b: &Backing, zp: &ZeroPool, n: u64, cfg: &ZeroConfig) -> BurstResult {
    let ps = b.page_size;
    let mut out = BurstResult {
        backing: b.id.clone(),
        page_size: ps,
        burst_pages: n,
        ..Default::default()
    };
    let poll = poll_for(ps);
    let r = (|| -> Result<(), String> {
        progress(&format!(
            "zeroing: burst {}: waiting for a zeroed pool",
            b.id
        ));
        let w = zp.wait_zeroed(cfg.timeout, poll)?;
        if !w.reached {
            out.notes
                .push(format!("before the dirtying: {}", w.describe()));
        }
        let free = zp.free()?;
        out.pool_free = free;
        // Reserve left zeroed: n / 2, so the burst is larger than the reserve.
        let dirty = free.saturating_sub(n / 2);
        out.dirtied = dirty;
        let workers = sysfs::find_workers(&cfg.proc_root, sysfs::WORKER_COMM);
        touch_and_free(b, dirty)?;
        out.zeroed_at_burst = zp.zeroed().ok();
        let st0 = zp.stats();
        progress(&format!(
            "zeroing: burst {}: {n} faults, {} of {free} free pages zeroed",
            b.id,
            out.zeroed_at_burst.map_or("?".into(), |z| z.to_string())
        ));
        let mut h = stats::latency_hist();
        let mut errors = 0;
        faults::write_pass(b, n, &mut h, &mut errors, false)
            .map_err(|e| format!("map {}: {e}", fmt_size(n * ps)))?;
        // Everything is free again, dirty: the refill starts.
        let t0 = Instant::now();
        let z0 = zp.zeroed()?;
        let f0 = zp.free()?;
        let cpu0 = sysfs::sample_cpu(&cfg.proc_root, &workers);
        let st1 = zp.stats();
        out.latency = LatencySummary::from_hist(&h);
        out.measured = true;
        out.zero_stats = sysfs::zero_deltas(&st0, &st1);
        if errors > 0 {
            out.notes
                .push(format!("{errors} latencies outside the histogram range"));
        }
        let wait = zp.wait_zeroed(cfg.timeout, poll)?;
        let secs = t0.elapsed().as_secs_f64();
        let cpu1 = sysfs::sample_cpu(&cfg.proc_root, &workers);
        let st2 = zp.stats();
        let dirty_at_start = f0.saturating_sub(z0);
        let pages = if st2.contains_key("zero_background_pages") {
            sysfs::delta(&st1, &st2, "zero_background_pages")
        } else {
            dirty_at_start
        };
        progress(&format!(
            "zeroing: refill {}: {pages} pages in {:.1} ms{}",
            b.id,
            secs * 1e3,
            if wait.reached { "" } else { " (timed out)" }
        ));
        out.refill = Some(Refill {
            dirty_at_start,
            pages,
            ms: secs * 1e3,
            pages_per_s: (secs > 0.0 && pages > 0).then(|| pages as f64 / secs),
            wait,
        });
        out.cost = Some(worker_cost(&workers, &cpu0, &cpu1, &st1, &st2, pages * ps));
        Ok(())
    })();
    if let Err(e) = r {
        if !out.measured {
            out.reason = Some(e);
        } else {
            out.notes.push(e);
        }
    }
    out
}

/// Item 3: the workers' CPU time between two samples per GiB cleared in the background.
fn worker_cost(
    workers: &[sysfs::Worker],
    cpu0: &sysfs::CpuSample,
    cpu1: &sysfs::CpuSample,
    st0: &std::collections::BTreeMap<String, u64>,
    st1: &std::collections::BTreeMap<String, u64>,
    estimate_bytes: u64,
) -> WorkerCost {
    let tck = sysfs::clock_ticks_per_s();
    let ticks = cpu1.ticks.saturating_sub(cpu0.ticks);
    let mut c = WorkerCost {
        threads: workers.to_vec(),
        ticks,
        ticks_per_s: tck,
        cpu_ms: ticks as f64 * 1e3 / tck as f64,
        sched_ms: match (cpu0.sched_ns, cpu1.sched_ns) {
            (Some(a), Some(b)) if !workers.is_empty() => Some(b.saturating_sub(a) as f64 / 1e6),
            _ => None,
        },
        ..Default::default()
    };
    if workers.is_empty() {
        c.notes
            .push(format!("no {}/* threads found", sysfs::WORKER_COMM));
        return c;
    }
    if cpu1.unreadable > 0 {
        c.notes.push(format!(
            "{} thread(s) could not be read at the end",
            cpu1.unreadable
        ));
    }
    c.cleared_bytes = if st1.contains_key("clear_background_bytes") {
        sysfs::delta(st0, st1, "clear_background_bytes")
    } else {
        c.notes.push(
            "clear_background_bytes not available: bytes estimated from the pages refilled".into(),
        );
        estimate_bytes
    };
    let gib = c.cleared_bytes as f64 / GIB as f64;
    if c.cleared_bytes > 0 {
        c.cpu_s_per_gib = Some(c.cpu_ms / 1e3 / gib);
        c.sched_s_per_gib = c.sched_ms.map(|m| m / 1e3 / gib);
    }
    let ns = sysfs::delta(st0, st1, "clear_background_ns");
    if ns > 0 {
        c.module_clear_gbps = Some(stats::gbps(c.cleared_bytes, ns as f64 / 1e9));
    }
    if ticks < 10 {
        c.notes.push(format!(
            "utime+stime moved {ticks} clock ticks (1/{tck} s each): too coarse for this window{}",
            if c.sched_ms.is_some() {
                "; the schedstat figure is precise"
            } else {
                ""
            }
        ));
    }
    c
}
