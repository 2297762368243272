//! The whole run: machine facts, pool growth, then per backing fault latency and TLB cost,
//! the zeroing section, ratios and goals, plots and report files.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use crate::backing::{self, Backing, BackingKind};
use crate::cleanup::MountGuard;
use crate::faults::{self, FaultConfig};
use crate::machine;
use crate::perf::DtlbCounter;
use crate::pools::{self, GrowPolicy, PoolDir, Reservation};
use crate::report::{self, BackingStatus, Report};
use crate::tlb::{self, PermCache, TlbConfig};
use crate::util::{self, fmt_size, progress, size_tag, GIB, MIB};
use crate::zeroing::{self, model::ModelConfig, ZeroConfig};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum BackingSel {
    Anon4k,
    Thp,
    Hugetlb2M,
    Hugetlb1G,
    Hugetlbfs2M,
    Hugetlbfs1G,
}

impl BackingSel {
    /// Grouped by pool, so a pool grown for one backing is shrunk before the next pool grows.
    pub const ALL: [BackingSel; 6] = [
        BackingSel::Anon4k,
        BackingSel::Thp,
        BackingSel::Hugetlb2M,
        BackingSel::Hugetlbfs2M,
        BackingSel::Hugetlb1G,
        BackingSel::Hugetlbfs1G,
    ];
}

#[derive(Clone, Debug, Serialize)]
pub struct Config {
    pub tlb: bool,
    pub faults: bool,
    pub pools: bool,
    pub zeroing: bool,
    pub backings: Vec<BackingSel>,
    pub mounts: Vec<PathBuf>,
    pub min_ws: u64,
    pub max_ws: u64,
    pub slot: usize,
    pub accesses: u64,
    pub repeats: u32,
    pub seed: u64,
    pub chain_max_pages: u64,
    pub fault_bytes: u64,
    pub fault_1g_pages: u64,
    pub fault_rounds: u32,
    pub populate_rounds: u32,
    pub pool_pages_2m: u64,
    pub pool_pages_1g: u64,
    /// Zeroing section: pages of the 2 MiB pool growth from 0.
    pub growth_pages_2m: u64,
    /// Zeroing section: pages of the 1 GiB pool growth from 0 (0: as many as fit).
    pub growth_pages_1g: u64,
    /// Zeroing section: longest wait for a fully zeroed pool, in seconds.
    pub zero_timeout_s: f64,
    /// Zeroing section: the large buffer of the user-space clearing model.
    pub clear_model_bytes: u64,
    pub kernel_sysfs: PathBuf,
    pub module_sysfs: PathBuf,
    pub grow: bool,
    pub max_pool_grow: u64,
    pub auto_mount: bool,
    pub smoke: bool,
    pub freq_mhz: Option<f64>,
    pub hold_ms: u64,
    pub out: PathBuf,
    pub plots: bool,
}

impl Config {
    /// Full-size defaults.
    pub fn full(out: PathBuf) -> Config {
        Config {
            tlb: true,
            faults: true,
            pools: true,
            zeroing: true,
            backings: BackingSel::ALL.to_vec(),
            mounts: Vec::new(),
            min_ws: MIB,
            max_ws: 4 * GIB,
            slot: 64,
            accesses: 4_000_000,
            repeats: 3,
            seed: 0x5eed_2024,
            chain_max_pages: 16_384,
            fault_bytes: 256 * MIB,
            fault_1g_pages: 2,
            fault_rounds: 3,
            populate_rounds: 3,
            pool_pages_2m: 512,
            pool_pages_1g: 2,
            growth_pages_2m: 1000,
            growth_pages_1g: 0,
            zero_timeout_s: 60.0,
            clear_model_bytes: GIB,
            kernel_sysfs: PathBuf::from("/sys/kernel/mm/hugepages"),
            module_sysfs: PathBuf::from("/sys/fs/rhugetlbfs/hugepages"),
            grow: true,
            max_pool_grow: 16 * GIB,
            auto_mount: true,
            smoke: false,
            freq_mhz: None,
            hold_ms: 0,
            out,
            plots: true,
        }
    }

    /// Tiny sizes that run in seconds (for tests).
    pub fn smoke(out: PathBuf) -> Config {
        Config {
            max_ws: 8 * MIB,
            accesses: 20_000,
            repeats: 1,
            chain_max_pages: 256,
            fault_bytes: 8 * MIB,
            fault_1g_pages: 1,
            fault_rounds: 1,
            populate_rounds: 1,
            pool_pages_2m: 4,
            pool_pages_1g: 1,
            growth_pages_2m: 4,
            zero_timeout_s: 10.0,
            clear_model_bytes: 32 * MIB,
            // Grow 2 MiB pools by a few pages at most; never take 1 GiB pages in smoke mode.
            max_pool_grow: 64 * MIB,
            smoke: true,
            ..Config::full(out)
        }
    }
}

fn unavailable(b: &Backing, reason: String) -> BackingStatus {
    progress(&format!("{}: unavailable: {reason}", b.id));
    BackingStatus {
        id: b.id.clone(),
        label: b.label.clone(),
        implementation: b.implementation.clone(),
        page_size: b.page_size,
        available: false,
        reason: Some(reason),
        notes: Vec::new(),
    }
}

/// Find (or make, as root) a kernel hugetlbfs mount for `page_size`.
fn kernel_mount(
    page_size: u64,
    table: &[backing::MountEntry],
    cfg: &Config,
    mounts_made: &mut Vec<MountGuard>,
    notes: &mut Vec<String>,
) -> Result<PathBuf, String> {
    for m in table.iter().filter(|m| m.fstype == "hugetlbfs") {
        if let Ok((_, bs)) = backing::statfs(&m.path) {
            if bs == page_size && util::writable(&m.path) {
                return Ok(m.path.clone());
            }
        }
    }
    if !cfg.auto_mount {
        return Err(format!(
            "no writable hugetlbfs mount with pagesize={} (auto-mount disabled)",
            size_tag(page_size)
        ));
    }
    if !util::is_root() {
        return Err(format!(
            "no hugetlbfs mount with pagesize={} (mount one, or run as root for a temporary one)",
            size_tag(page_size)
        ));
    }
    let g = MountGuard::mount_hugetlbfs(&std::env::temp_dir(), page_size)?;
    let p = g.path().to_path_buf();
    notes.push(format!(
        "mounted a temporary hugetlbfs (pagesize={}) at {}; removed at exit",
        size_tag(page_size),
        p.display()
    ));
    mounts_made.push(g);
    Ok(p)
}

/// Resolve the selected backings into concrete ones (or unavailable statuses).
fn resolve_backings(
    cfg: &Config,
    kernel_pools: &[PoolDir],
    mounts_made: &mut Vec<MountGuard>,
    notes: &mut Vec<String>,
) -> Vec<Result<Backing, BackingStatus>> {
    let table = backing::mounts();
    let mut out = Vec::new();
    let pool_for = |ps: u64| kernel_pools.iter().find(|p| p.page_size == ps).cloned();
    for sel in &cfg.backings {
        let r = match sel {
            BackingSel::Anon4k => Ok(Backing::anon_4k()),
            BackingSel::Thp => Ok(Backing::thp()),
            BackingSel::Hugetlb2M | BackingSel::Hugetlb1G => {
                let ps = if *sel == BackingSel::Hugetlb2M {
                    2 * MIB
                } else {
                    GIB
                };
                let b = Backing::hugetlb_flag(ps, pool_for(ps));
                if b.pool.is_none() {
                    Err(unavailable(
                        &b,
                        format!("the kernel has no {} huge page size", fmt_size(ps)),
                    ))
                } else {
                    Ok(b)
                }
            }
            BackingSel::Hugetlbfs2M | BackingSel::Hugetlbfs1G => {
                let ps = if *sel == BackingSel::Hugetlbfs2M {
                    2 * MIB
                } else {
                    GIB
                };
                let mut placeholder =
                    Backing::mount(Path::new("(none)"), "hugetlbfs", ps, pool_for(ps));
                placeholder.label = format!("kernel hugetlbfs {} file (no mount)", fmt_size(ps));
                if placeholder.pool.is_none() {
                    Err(unavailable(
                        &placeholder,
                        format!("the kernel has no {} huge page size", fmt_size(ps)),
                    ))
                } else {
                    match kernel_mount(ps, &table, cfg, mounts_made, notes) {
                        Ok(p) => Ok(Backing::mount(&p, "hugetlbfs", ps, pool_for(ps))),
                        Err(e) => Err(unavailable(&placeholder, e)),
                    }
                }
            }
        };
        out.push(r);
    }
    for m in &cfg.mounts {
        let r = backing::describe_mount(m, &table, kernel_pools, &cfg.module_sysfs).map_err(|e| {
            let b = Backing::mount(m, "unknown", 0, None);
            unavailable(&b, e)
        });
        out.push(r);
    }
    out
}

/// What the zeroing section runs on: kernel hugetlbfs mounts (found or made, as for the
/// backings) and the module mounts among `--mount`.
fn zeroing_inputs(
    cfg: &Config,
    kernel_pools: &[PoolDir],
    module_pools: &[PoolDir],
    mounts_made: &mut Vec<MountGuard>,
    notes: &mut Vec<String>,
) -> zeroing::Inputs {
    // Read again: temporary mounts made for the backings count.
    let table = backing::mounts();
    let kernel = zeroing::SIZES
        .iter()
        .map(|&ps| {
            let b = match kernel_pools.iter().find(|p| p.page_size == ps) {
                None => Err(format!("the kernel has no {} huge page size", fmt_size(ps))),
                Some(pool) => kernel_mount(ps, &table, cfg, mounts_made, notes)
                    .map(|p| Backing::mount(&p, "hugetlbfs", ps, Some(pool.clone()))),
            };
            (ps, b)
        })
        .collect();
    let mut module = Vec::new();
    let mut why = Vec::new();
    for m in &cfg.mounts {
        match backing::describe_mount(m, &table, kernel_pools, &cfg.module_sysfs) {
            Ok(b) if b.implementation == "kernel" => {
                why.push(format!("{}: a kernel hugetlbfs mount", m.display()))
            }
            Ok(b) if b.pool.is_none() => why.push(format!(
                "{}: no {} pool directory under {}",
                m.display(),
                b.implementation,
                cfg.module_sysfs.display()
            )),
            Ok(b) => module.push(b),
            Err(e) => why.push(e),
        }
    }
    let module_reason = if !module.is_empty() {
        String::new()
    } else if cfg.mounts.is_empty() {
        let mut s = "no rhugetlbfs mount (pass --mount PATH)".to_string();
        if module_pools.is_empty() {
            s += &format!(
                "; no rhugetlbfs pools at {} (module not loaded)",
                cfg.module_sysfs.display()
            );
        }
        s
    } else {
        format!("no usable rhugetlbfs mount: {}", why.join("; "))
    };
    zeroing::Inputs {
        kernel,
        module,
        module_reason,
        kernel_pools: kernel_pools.to_vec(),
        module_pools: module_pools.to_vec(),
    }
}

/// The zeroing section's sizes from the run's.
fn zeroing_config(cfg: &Config, policy: &GrowPolicy, tcg: bool) -> ZeroConfig {
    ZeroConfig {
        fault_bytes: cfg.fault_bytes,
        pages_1g: cfg.fault_1g_pages,
        rounds: cfg.fault_rounds,
        growth_pages_2m: cfg.growth_pages_2m,
        growth_pages_1g: cfg.growth_pages_1g,
        timeout: Duration::try_from_secs_f64(cfg.zero_timeout_s.max(0.0))
            .unwrap_or(Duration::from_secs(3600)),
        model: ModelConfig {
            big_bytes: if tcg {
                cfg.clear_model_bytes.min(64 * MIB)
            } else {
                cfg.clear_model_bytes
            },
            arena_bytes: if cfg.smoke || tcg { 16 * MIB } else { 0 },
            repeats: cfg.repeats.max(1),
            hot_repeats: if cfg.smoke || tcg { 10 } else { 100 },
        },
        policy: policy.clone(),
        proc_root: PathBuf::from("/proc"),
    }
}

/// Run everything and return the report (files are written by [`write_outputs`]).
pub fn run(cfg: &Config) -> Report {
    let mut notes: Vec<String> = Vec::new();
    let mut skipped: Vec<String> = Vec::new();
    let policy = GrowPolicy {
        enabled: cfg.grow,
        max_bytes: cfg.max_pool_grow,
    };

    progress("probing machine (counters, pools, memset baseline)");
    let mut dtlb = match DtlbCounter::open() {
        Ok(c) => Some(c),
        Err(reason) => {
            eprintln!("rhbench: no hardware counters ({reason}); reporting timing only");
            notes.push(format!("no hardware counters: {reason}"));
            None
        }
    };
    let kernel_pools = pools::discover(&cfg.kernel_sysfs, "kernel");
    let module_pools = pools::discover(&cfg.module_sysfs, "rhugetlbfs");
    let snapshots = kernel_pools
        .iter()
        .chain(module_pools.iter())
        .map(|p| p.snapshot())
        .collect();
    let hw = match &dtlb {
        Some(_) => Ok(()),
        None => Err(notes
            .last()
            .cloned()
            .unwrap_or_default()
            .trim_start_matches("no hardware counters: ")
            .to_string()),
    };
    let machine = machine::collect(hw, snapshots, cfg.freq_mhz);
    if let Some(w) = machine.execution_warning() {
        eprintln!("rhbench: WARNING: {w}");
        notes.push(w.to_string());
    }
    if machine
        .loadavg
        .split_whitespace()
        .next()
        .and_then(|l| l.parse::<f64>().ok())
        .unwrap_or(0.0)
        > 0.5 * machine.cpus as f64
    {
        notes.push(format!(
            "the machine was busy at start (load average {}): timings may be noisy",
            machine.loadavg
        ));
    }
    if !util::is_root() {
        skipped.push(
            "not root: pool sizes were not changed; only pages already free were used".into(),
        );
    }
    if module_pools.is_empty() {
        skipped.push(format!(
            "no rhugetlbfs pools at {} (module not loaded)",
            cfg.module_sysfs.display()
        ));
    }

    // 3. Pool growth first, from the pools' original state.
    let mut pool_results = Vec::new();
    let mut pool_skips = Vec::new();
    if cfg.pools {
        for p in kernel_pools.iter().chain(module_pools.iter()) {
            let n = match p.page_size {
                s if s == 2 * MIB => cfg.pool_pages_2m,
                s if s == GIB => cfg.pool_pages_1g,
                _ => continue,
            };
            progress(&format!("pools: grow/shrink {} by {n} pages", p.label()));
            match pools::measure_growth(p, n, &policy, Duration::from_millis(cfg.hold_ms)) {
                Ok(g) => {
                    progress(&format!(
                        "pools: {}: reached {}/{} in {:.1} ms, shrink {:.1} ms",
                        p.label(),
                        g.reached,
                        g.requested,
                        g.grow_ms,
                        g.shrink_ms
                    ));
                    pool_results.push(g)
                }
                Err(s) => {
                    progress(&format!("pools: {}: skipped: {}", p.label(), s.reason));
                    pool_skips.push(s)
                }
            }
        }
    }

    // Backings.
    let mut mounts_made = Vec::new();
    let resolved = resolve_backings(cfg, &kernel_pools, &mut mounts_made, &mut notes);
    let mut statuses = Vec::new();
    let mut tlb_series = Vec::new();
    let mut fault_results = Vec::new();
    let ws_all = tlb::working_sets(cfg.min_ws, cfg.max_ws);
    let tlb_cfg = TlbConfig {
        working_sets: ws_all.clone(),
        slot: cfg.slot,
        accesses: cfg.accesses,
        repeats: cfg.repeats,
        seed: cfg.seed,
        chain_pages: tlb::chain_pages(cfg.chain_max_pages),
        line: 64,
    };
    let fault_cfg = FaultConfig {
        bytes: cfg.fault_bytes,
        pages_1g: cfg.fault_1g_pages,
        rounds: cfg.fault_rounds,
        populate_rounds: cfg.populate_rounds,
    };
    let mem_avail = util::meminfo_bytes("MemAvailable").unwrap_or(4 * GIB);
    let perm_bytes = (cfg.max_ws / cfg.slot as u64) * 4;
    let mut perms = PermCache::new(cfg.seed, (perm_bytes * 2).min(mem_avail / 8) as usize);
    // Pool reservations, held while later backings still use the same pool.
    let mut reservations: HashMap<PathBuf, Vec<Reservation>> = HashMap::new();
    let pool_users: Vec<Option<PathBuf>> = resolved
        .iter()
        .map(|r| {
            r.as_ref()
                .ok()
                .and_then(|b| b.pool.as_ref().map(|p| p.path.clone()))
        })
        .collect();

    for (idx, r) in resolved.into_iter().enumerate() {
        // Release pools no remaining backing needs.
        let still: Vec<&PathBuf> = pool_users[idx..].iter().flatten().collect();
        reservations.retain(|k, _| still.contains(&k));

        let b = match r {
            Ok(b) => b,
            Err(status) => {
                statuses.push(status);
                continue;
            }
        };
        if b.kind == BackingKind::Thp && machine.thp_enabled == "never" {
            statuses.push(unavailable(
                &b,
                "THP is disabled (transparent_hugepage/enabled = never)".into(),
            ));
            continue;
        }
        let mut bnotes = Vec::new();
        let fault_pages_wanted = fault_cfg.pages_for(b.page_size);
        let tlb_max = if cfg.tlb { cfg.max_ws } else { 0 };
        // Memory limits: anonymous backings use at most half of what is available.
        let (mut fault_pages, mut tlb_cap) = (fault_pages_wanted, tlb_max);
        if let Some(pool) = &b.pool {
            let want_tlb_pages = util::round_up(tlb_max, b.page_size) / b.page_size;
            let need = want_tlb_pages.max(if cfg.faults { fault_pages_wanted } else { 0 });
            let have_now: u64 = reservations
                .get(&pool.path)
                .map_or(0, |v| v.iter().map(|r| r.have).max().unwrap_or(0));
            if have_now < need {
                let res = pools::ensure_free(pool, need, &policy);
                if let Some(n) = &res.note {
                    bnotes.push(n.clone());
                }
                reservations.entry(pool.path.clone()).or_default().push(res);
            }
            let have = reservations
                .get(&pool.path)
                .map_or(0, |v| v.iter().map(|r| r.have).max().unwrap_or(0));
            // Nothing to map when neither faults nor TLB run (`--only pools,zeroing`).
            if have == 0 && need > 0 {
                let why = bnotes
                    .last()
                    .cloned()
                    .unwrap_or_else(|| "pool has no free pages".into());
                statuses.push(unavailable(&b, why));
                continue;
            }
            fault_pages = fault_pages.min(have);
            // Largest power-of-two working set that fits in the free pages.
            tlb_cap = tlb_cap.min(have * b.page_size);
        } else {
            let limit = mem_avail / 2;
            tlb_cap = tlb_cap.min(limit.saturating_sub(perm_bytes));
            fault_pages = fault_pages.min((limit / b.page_size).max(1));
        }
        if fault_pages < fault_pages_wanted && cfg.faults {
            bnotes.push(format!(
                "fault passes use {fault_pages} pages instead of {fault_pages_wanted} (pool/memory)"
            ));
        }

        let mut any_ok = false;
        let mut failure = None;
        if cfg.faults {
            match faults::run(&b, fault_pages, &fault_cfg) {
                Ok(f) => {
                    if let Some(c) = &f.check {
                        if c.fallback_pages > 0 {
                            notes.push(format!("{}: {}", b.id, c.message));
                        }
                    }
                    fault_results.push(f);
                    any_ok = true;
                }
                Err(e) => failure = Some(format!("fault test: {e}")),
            }
        }
        if cfg.tlb {
            let ws: Vec<u64> = ws_all.iter().copied().filter(|w| *w <= tlb_cap).collect();
            if ws.len() < ws_all.len() {
                bnotes.push(format!(
                    "random chase capped at {} (of {}) by {}",
                    ws.last().map_or("0".into(), |w| fmt_size(*w)),
                    fmt_size(cfg.max_ws),
                    if b.pool.is_some() {
                        "free pool pages"
                    } else {
                        "available memory"
                    }
                ));
            }
            let map_len = ws
                .last()
                .copied()
                .unwrap_or(0)
                .max(cfg.chain_max_pages * util::BASE_PAGE)
                .min(tlb_cap.max(b.page_size));
            progress(&format!(
                "tlb {}: mapping {}",
                b.id,
                fmt_size(util::round_up(map_len, b.page_size))
            ));
            match b.map(map_len, false) {
                Ok(region) => {
                    let c = TlbConfig {
                        working_sets: ws,
                        ..tlb_cfg.clone()
                    };
                    tlb_series.push(tlb::run(
                        &b,
                        &region,
                        &c,
                        &mut perms,
                        &mut dtlb,
                        machine.freq_mhz,
                    ));
                    any_ok = true;
                }
                Err(e) => {
                    let msg = format!("tlb: map {}: {e}", fmt_size(map_len));
                    if failure.is_none() {
                        failure = Some(msg);
                    } else {
                        bnotes.push(msg);
                    }
                }
            }
        }
        let mut st = BackingStatus {
            id: b.id.clone(),
            label: b.label.clone(),
            implementation: b.implementation.clone(),
            page_size: b.page_size,
            available: any_ok || (!cfg.faults && !cfg.tlb),
            reason: None,
            notes: bnotes,
        };
        if let Some(f) = failure {
            if any_ok {
                st.notes.push(f);
            } else {
                progress(&format!("{}: unavailable: {f}", b.id));
                st.reason = Some(f);
            }
        }
        for n in &st.notes {
            notes.push(format!("{}: {n}", b.id));
        }
        statuses.push(st);
    }
    drop(reservations);

    // 4. Zeroing, with no reservation left over.
    let (zeroing, goals) = if cfg.zeroing {
        let inputs = zeroing_inputs(
            cfg,
            &kernel_pools,
            &module_pools,
            &mut mounts_made,
            &mut notes,
        );
        let zc = zeroing_config(cfg, &policy, machine.tcg);
        let mut z = zeroing::run(&inputs, &zc);
        if machine.tcg && zc.model.big_bytes < cfg.clear_model_bytes {
            z.model.notes.push(format!(
                "TCG: the model's large buffer is {} (emulated stores are slow)",
                fmt_size(zc.model.big_bytes)
            ));
        }
        let g = zeroing::goals::evaluate(Some(&z));
        (Some(z), g)
    } else {
        (None, Vec::new())
    };
    drop(mounts_made);

    let mut report = Report {
        tool: "rhbench".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        unix_time: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        smoke: cfg.smoke,
        config: serde_json::to_value(cfg).unwrap_or_default(),
        machine,
        backings: statuses,
        tlb: tlb_series,
        faults: fault_results,
        pools: pool_results,
        pools_skipped: pool_skips,
        ratios: Vec::new(),
        zeroing,
        goals,
        notes,
        skipped,
        plots: Vec::new(),
    };
    report.ratios = report::compute_ratios(&report);
    report
}

/// Write plots, JSON and Markdown into `cfg.out`. Returns the Markdown.
pub fn write_outputs(report: &mut Report, cfg: &Config) -> std::io::Result<String> {
    std::fs::create_dir_all(&cfg.out)?;
    if cfg.plots {
        let tag = if report.smoke { " (smoke)" } else { "" };
        let mut plot = |name: &str, res: Result<(), Box<dyn std::error::Error>>| {
            let p = cfg.out.join(name);
            match res {
                Ok(()) => report.plots.push(p.display().to_string()),
                Err(e) => report.notes.push(format!("plot {name} not written: {e}")),
            }
        };
        if !report.tlb.is_empty() {
            let p = cfg.out.join("tlb_ns_per_access.png");
            plot(
                "tlb_ns_per_access.png",
                crate::plot::tlb_plot(
                    &report.tlb,
                    &p,
                    &format!("Random pointer chase: ns per access vs working set{tag}"),
                ),
            );
            let p = cfg.out.join("tlb_chains.png");
            plot(
                "tlb_chains.png",
                crate::plot::chain_plot(
                    &report.tlb,
                    &p,
                    &format!("lmbench-style chains: per-page / packed{tag}"),
                ),
            );
        }
        if !report.faults.is_empty() {
            let p = cfg.out.join("fault_latency_cdf.png");
            plot(
                "fault_latency_cdf.png",
                crate::plot::fault_cdf_plot(
                    &report.faults,
                    &p,
                    &format!("First-touch write-fault latency CDF{tag}"),
                ),
            );
        }
    }
    report::write_files(report, &cfg.out)?;
    Ok(report::to_markdown(report))
}
