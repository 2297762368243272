//! 4. Zeroing: what pre-zeroed free pages buy rhugetlbfs, and what they cost.
//!
//! rhugetlbfs can clear free pool pages in the background (`zero_policy=background`, per-node
//! threads `rhugetlbfs_zero/<nid>`) so that a fault maps a page that is zero already, or clear
//! at fault time as upstream hugetlbfs does (`zero_policy=fault`). This section measures, on
//! the rhugetlbfs mounts given with `--mount` and the kernel's hugetlbfs in the same run:
//!
//! 1. first-touch write faults ([`cases`]): 4 KiB anonymous, kernel hugetlbfs, rhugetlbfs with
//!    a warm pre-zeroed pool, rhugetlbfs with `zero_policy=fault` on dirty pages, per size;
//! 2. a burst larger than the zeroed reserve and the refill after it (pages/s);
//! 3. the CPU time of the background threads per GiB they cleared during that refill;
//! 4. the module's own clearing speeds (`clear_speed`);
//! 5. pool growth from 0, kernel then rhugetlbfs and again the other way round ([`growth`]);
//! 6. the goals ([`goals`]);
//! 7. a user-space model of the clearing methods for hosts without the module ([`model`]).
//!
//! An older module without these files gets "not available" where a file is missing; no
//! mount, no module or no root gets "not measured" with the reason, and the run goes on.

pub mod cases;
pub mod goals;
pub mod growth;
pub mod model;
pub mod sysfs;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::backing::Backing;
use crate::faults::FaultCheck;
use crate::pools::{GrowPolicy, PoolDir};
use crate::stats::LatencySummary;
use crate::util::{fmt_size, progress, size_tag, GIB, MIB};

pub use goals::{Goal, GoalStatus};
use model::{ClearModel, ModelConfig};
use sysfs::{ClearSpeedRead, WarmWait, Worker, ZeroPool};

/// The page sizes the section compares.
pub const SIZES: [u64; 2] = [2 * MIB, GIB];

#[derive(Clone, Debug)]
pub struct ZeroConfig {
    /// Bytes faulted per pass for 2 MiB pages (and 4 KiB ones).
    pub fault_bytes: u64,
    /// 1 GiB pages faulted per pass.
    pub pages_1g: u64,
    /// Passes after the first (reported apart, as "warm").
    pub rounds: u32,
    /// Pages of the 2 MiB pool-growth test.
    pub growth_pages_2m: u64,
    /// Pages of the 1 GiB pool-growth test; 0: as many as fit in the memory available.
    pub growth_pages_1g: u64,
    /// Longest wait for a fully zeroed pool.
    pub timeout: Duration,
    pub model: ModelConfig,
    pub policy: GrowPolicy,
    /// `/proc` (a fake one in tests).
    pub proc_root: PathBuf,
}

/// What the section runs on, resolved by the caller.
#[derive(Clone, Debug, Default)]
pub struct Inputs {
    /// Per size in [`SIZES`]: the kernel hugetlbfs file backing, or why there is none.
    pub kernel: Vec<(u64, Result<Backing, String>)>,
    /// rhugetlbfs (module) mounts from `--mount`, each with its pool.
    pub module: Vec<Backing>,
    /// Why there is no module mount of a size, when none was given or it is unusable.
    pub module_reason: String,
    pub kernel_pools: Vec<PoolDir>,
    pub module_pools: Vec<PoolDir>,
}

/// A module pool's zeroing settings when the section started.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PoolSettings {
    pub pool: String,
    pub page_size: u64,
    pub zero_policy: Option<String>,
    pub clear_method: Option<String>,
    pub zeroed_hugepages: Option<u64>,
    pub free_hugepages: Option<u64>,
    /// Zeroing files this module does not have (older module).
    pub not_available: Vec<String>,
}

/// One first-touch write-fault case (item 1).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FaultCase {
    /// `4K`, `hugetlbfs-2M`, `rhugetlbfs-2M-background`, `rhugetlbfs-2M-fault`, ...
    pub id: String,
    pub label: String,
    pub backing: String,
    pub implementation: String,
    pub page_size: u64,
    /// The module's `zero_policy` during the passes.
    pub zero_policy: Option<String>,
    /// The module's `clear_method`, and what `auto` used on the fault path.
    pub clear_method: Option<String>,
    pub measured: bool,
    /// Why not measured.
    pub reason: Option<String>,
    pub pages_per_pass: u64,
    pub passes: u32,
    /// The first pass.
    pub cold: LatencySummary,
    /// The passes after it.
    pub warm: LatencySummary,
    pub check: Option<FaultCheck>,
    /// Background policy: the wait for a fully zeroed pool before each pass.
    pub warm_waits: Vec<WarmWait>,
    /// Fault policy: `zeroed_hugepages` before each pass (0 when every page is dirty).
    pub zeroed_before: Vec<u64>,
    /// The module's zeroing counters over the passes (after minus before).
    pub zero_stats: BTreeMap<String, u64>,
    pub notes: Vec<String>,
}

impl FaultCase {
    pub fn not_measured(id: &str, label: &str, page_size: u64, reason: String) -> FaultCase {
        progress(&format!("zeroing: {id}: not measured: {reason}"));
        FaultCase {
            id: id.into(),
            label: label.into(),
            page_size,
            reason: Some(reason),
            ..Default::default()
        }
    }

    /// The summary the goals use: the warm passes, or the first where there are no others.
    pub fn summary(&self) -> Option<&LatencySummary> {
        if !self.measured {
            None
        } else if self.warm.count > 0 {
            Some(&self.warm)
        } else if self.cold.count > 0 {
            Some(&self.cold)
        } else {
            None
        }
    }

    pub fn p50_ns(&self) -> Option<u64> {
        self.summary().map(|s| s.p50_ns)
    }

    /// Every warm wait ended with the pool fully zeroed (vacuously true without waits).
    pub fn pool_was_warm(&self) -> bool {
        self.warm_waits.iter().all(|w| w.reached)
    }
}

/// `clear_speed` of one module pool (item 4).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ClearSpeedResult {
    pub pool: String,
    pub page_size: u64,
    /// `1` was written (and the module measured) in this run.
    pub measured_now: bool,
    pub measure_ms: Option<f64>,
    /// Why there was no measurement now (the values shown are then the module's last ones).
    pub reason: Option<String>,
    pub read: Option<ClearSpeedRead>,
    pub clear_method: Option<String>,
}

impl ClearSpeedResult {
    /// GB/s from the module's MB/s (both decimal), `None` for 0 (not measured).
    pub fn gbps(mbps: Option<u64>) -> Option<f64> {
        mbps.filter(|v| *v > 0).map(|v| v as f64 / 1000.0)
    }
}

/// The refill after a burst (item 2).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Refill {
    /// Free pages not zeroed right after the burst's pages were freed.
    pub dirty_at_start: u64,
    /// Pages the background cleared until the pool was zeroed again (`zero_background_pages`,
    /// or `dirty_at_start` without the counter).
    pub pages: u64,
    pub ms: f64,
    pub pages_per_s: Option<f64>,
    pub wait: WarmWait,
}

/// CPU time of the background threads over the refill (item 3).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WorkerCost {
    pub threads: Vec<Worker>,
    /// utime + stime of all threads, in clock ticks, over the refill.
    pub ticks: u64,
    pub ticks_per_s: u64,
    pub cpu_ms: f64,
    /// The same from `/proc/<pid>/schedstat` (ns resolution), where it exists.
    pub sched_ms: Option<f64>,
    /// `clear_background_bytes` over the refill.
    pub cleared_bytes: u64,
    /// utime + stime seconds per GiB cleared.
    pub cpu_s_per_gib: Option<f64>,
    pub sched_s_per_gib: Option<f64>,
    /// The module's own clearing time (`clear_background_ns`) over the refill, as GB/s.
    pub module_clear_gbps: Option<f64>,
    pub notes: Vec<String>,
}

/// A burst of faults larger than the zeroed reserve (item 2).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BurstResult {
    pub backing: String,
    pub page_size: u64,
    pub measured: bool,
    pub reason: Option<String>,
    /// Free pages of the pool, all zeroed before the dirtying.
    pub pool_free: u64,
    /// Pages mapped, written and freed (dirty) right before the burst.
    pub dirtied: u64,
    /// `zeroed_hugepages` as the burst started.
    pub zeroed_at_burst: Option<u64>,
    /// Pages faulted in the burst.
    pub burst_pages: u64,
    pub latency: LatencySummary,
    /// The module's zeroing counters over the burst.
    pub zero_stats: BTreeMap<String, u64>,
    pub refill: Option<Refill>,
    pub cost: Option<WorkerCost>,
    pub notes: Vec<String>,
}

/// One timed `nr_hugepages` write (item 5).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GrowthRun {
    /// 1: kernel first, 2: rhugetlbfs first.
    pub round: u32,
    pub implementation: String,
    pub pool: String,
    pub page_size: u64,
    pub requested: u64,
    /// `nr_hugepages` after the shrink to 0 (pages in use stay).
    pub base: u64,
    pub reached: u64,
    pub grow_ms: f64,
    pub grow_us_per_page: Option<f64>,
    pub shrink_ms: f64,
    pub note: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GrowthSkip {
    pub page_size: u64,
    pub reason: String,
}

/// Everything the section measured (`zeroing` in report.json).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ZeroingReport {
    pub settings: Vec<PoolSettings>,
    /// The `rhugetlbfs_zero/*` threads found at the start.
    pub workers: Vec<Worker>,
    pub faults: Vec<FaultCase>,
    pub bursts: Vec<BurstResult>,
    pub clear_speed: Vec<ClearSpeedResult>,
    pub growth: Vec<GrowthRun>,
    pub growth_skipped: Vec<GrowthSkip>,
    pub model: ClearModel,
    pub notes: Vec<String>,
}

impl ZeroingReport {
    pub fn case(&self, id: &str) -> Option<&FaultCase> {
        self.faults.iter().find(|c| c.id == id)
    }
}

fn settings(zp: &ZeroPool) -> PoolSettings {
    let mut missing = Vec::new();
    for f in [
        "zero_policy",
        "zeroed_hugepages",
        "clear_method",
        "clear_speed",
    ] {
        if !zp.has(f) {
            missing.push(f.to_string());
        }
    }
    let stats = zp.stats();
    if !stats.contains_key("zero_fault_hits") {
        missing.push("stats: zero_* / clear_* counters".into());
    }
    if zp
        .node_dirs()
        .iter()
        .any(|(_, d)| !d.join("zeroed_hugepages").exists())
    {
        missing.push("node/node<N>/.../zeroed_hugepages".into());
    }
    PoolSettings {
        pool: zp.pool.path.display().to_string(),
        page_size: zp.pool.page_size,
        zero_policy: zp.policy().ok(),
        clear_method: zp.clear_method().ok(),
        zeroed_hugepages: zp.zeroed().ok(),
        free_hugepages: zp.free().ok(),
        not_available: missing,
    }
}

/// Run the section.
pub fn run(inp: &Inputs, cfg: &ZeroConfig) -> ZeroingReport {
    let mut r = ZeroingReport::default();
    for p in &inp.module_pools {
        let s = settings(&ZeroPool::new(p.clone()));
        if !s.not_available.is_empty() {
            r.notes.push(format!(
                "rhugetlbfs {}: not available (older module?): {}",
                size_tag(p.page_size),
                s.not_available.join(", ")
            ));
        }
        r.settings.push(s);
    }
    r.workers = sysfs::find_workers(&cfg.proc_root, sysfs::WORKER_COMM);
    if !inp.module_pools.is_empty() && r.workers.is_empty() {
        r.notes.push(format!(
            "no {}/* threads under {} (older module, or zero_policy=fault)",
            sysfs::WORKER_COMM,
            cfg.proc_root.display()
        ));
    }

    // 7. The model first, on a quiet machine; its 1 GiB buffer on a 1 GiB page if one may be
    // had.
    let pool_1g = inp.kernel_pools.iter().find(|p| p.page_size == GIB);
    let res = pool_1g
        .filter(|_| cfg.model.big_bytes == GIB)
        .map(|p| crate::pools::ensure_free(p, 1, &cfg.policy));
    r.model = model::run(&cfg.model, pool_1g);
    drop(res);

    // 1. 4 KiB anonymous pages, once.
    r.faults.push(cases::anon_4k(cfg));

    // 1.-4. Per size: the kernel, then the module.
    for ps in SIZES {
        let tag = size_tag(ps);
        let pages = if ps >= GIB {
            cfg.pages_1g
        } else {
            (cfg.fault_bytes / ps).max(1)
        };
        let kernel = inp
            .kernel
            .iter()
            .find(|(s, _)| *s == ps)
            .map(|(_, b)| b.clone())
            .unwrap_or_else(|| Err(format!("the kernel has no {} huge page size", fmt_size(ps))));
        r.faults.push(cases::kernel(kernel, ps, pages, cfg));

        let pool = inp.module_pools.iter().find(|p| p.page_size == ps);
        let mount = inp.module.iter().find(|b| b.page_size == ps);
        match (mount, pool) {
            (Some(b), _) => cases::module(b, pages, cfg, &mut r),
            (None, pool) => {
                let reason = if inp.module.is_empty() && !inp.module_reason.is_empty() {
                    inp.module_reason.clone()
                } else {
                    format!("no rhugetlbfs mount with pagesize={tag} (pass --mount PATH)")
                };
                for (id, label) in cases::module_ids(ps) {
                    r.faults
                        .push(FaultCase::not_measured(&id, &label, ps, reason.clone()));
                }
                r.bursts.push(BurstResult {
                    page_size: ps,
                    reason: Some(reason.clone()),
                    ..Default::default()
                });
                // The clearing speeds need a pool only, not a mount.
                if let Some(p) = pool {
                    r.clear_speed
                        .push(cases::clear_speed_only(&ZeroPool::new(p.clone()), cfg));
                }
            }
        }
    }

    // 5. Pool growth, with nothing else holding pages.
    let (runs, skipped) = growth::run(&inp.kernel_pools, &inp.module_pools, cfg, &mut r.notes);
    r.growth = runs;
    r.growth_skipped = skipped;
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cleanup::MountGuard;
    use crate::pools::{self, GrowPolicy};
    use crate::util;
    use std::path::Path;

    /// The section end to end with the module's cases on the kernel's hugetlbfs under a fake
    /// rhugetlbfs pool directory (plain files: the policy writes stick, the counts stay).
    /// Root only: it grows the host's 2 MiB pool by a few pages and puts it back.
    #[test]
    fn module_cases_on_kernel_hugetlbfs_under_a_fake_pool() {
        let _l = crate::cleanup::test_lock();
        let kpool = pools::discover(Path::new("/sys/kernel/mm/hugepages"), "kernel")
            .into_iter()
            .find(|p| p.page_size == 2 * MIB);
        let (true, Some(kpool)) = (util::is_root(), kpool) else {
            eprintln!("skipped: needs root and a 2 MiB hugetlb pool");
            return;
        };
        let policy = GrowPolicy {
            enabled: true,
            max_bytes: 64 * MIB,
        };
        let before = kpool.nr().unwrap();
        let mnt = match MountGuard::mount_hugetlbfs(&std::env::temp_dir(), 2 * MIB) {
            Ok(m) => m,
            Err(e) => {
                eprintln!("skipped: {e}");
                return;
            }
        };
        let res = pools::ensure_free(&kpool, 8, &policy);
        if res.have >= 8 {
            let fake = sysfs::tests::fake_module("cases", true);
            let mpool = pools::discover(&fake.join("hugepages"), "rhugetlbfs")[0].clone();
            let inputs = Inputs {
                kernel: vec![(
                    2 * MIB,
                    Ok(Backing::mount(
                        mnt.path(),
                        "hugetlbfs",
                        2 * MIB,
                        Some(kpool.clone()),
                    )),
                )],
                module: vec![Backing::mount(
                    mnt.path(),
                    "rhugetlbfs",
                    2 * MIB,
                    Some(mpool.clone()),
                )],
                module_reason: String::new(),
                kernel_pools: Vec::new(),
                module_pools: vec![mpool.clone()],
            };
            let cfg = ZeroConfig {
                fault_bytes: 8 * MIB,
                pages_1g: 1,
                rounds: 1,
                growth_pages_2m: 4,
                growth_pages_1g: 0,
                timeout: Duration::from_millis(100),
                model: ModelConfig {
                    big_bytes: 4 * MIB,
                    arena_bytes: 4 * MIB,
                    repeats: 1,
                    hot_repeats: 1,
                },
                policy: policy.clone(),
                proc_root: PathBuf::from("/proc"),
            };
            let z = run(&inputs, &cfg);
            let ids: Vec<(&str, bool)> = z
                .faults
                .iter()
                .map(|c| (c.id.as_str(), c.measured))
                .collect();
            assert_eq!(
                ids,
                [
                    ("4K", true),
                    ("hugetlbfs-2M", true),
                    ("rhugetlbfs-2M-background", true),
                    ("rhugetlbfs-2M-fault", true),
                    ("hugetlbfs-1G", false),
                    ("rhugetlbfs-1G-background", false),
                    ("rhugetlbfs-1G-fault", false),
                ],
                "{:#?}",
                z.faults
            );
            let bg = z.case("rhugetlbfs-2M-background").unwrap();
            assert_eq!(bg.warm_waits.len(), 2);
            assert!(bg.pool_was_warm());
            assert_eq!(bg.zero_policy.as_deref(), Some("background"));
            assert_eq!(bg.check.as_ref().map(|c| c.fallback_pages), Some(0));
            let f = z.case("rhugetlbfs-2M-fault").unwrap();
            // The fake count never drops: every pass found zeroed pages and said so.
            assert_eq!(f.zeroed_before, [4, 4]);
            assert!(
                f.notes.iter().any(|n| n.contains("to make them dirty")),
                "{f:?}"
            );
            let b = &z.bursts[0];
            assert!(b.measured, "{b:?}");
            assert_eq!((b.pool_free, b.dirtied, b.burst_pages), (4, 2, 4));
            assert!(b.refill.as_ref().unwrap().wait.reached);
            assert_eq!(z.clear_speed.len(), 1);
            assert!(z.clear_speed[0].measured_now);
            assert!(z.growth.is_empty());
            assert_eq!(z.growth_skipped.len(), 2);
            // Everything changed on the fake pool is back.
            let p = fake.join("hugepages/hugepages-2048kB");
            assert_eq!(
                util::read_trim(&p.join("zero_policy")).unwrap(),
                "background"
            );
            assert_eq!(util::read_u64(&p.join("nr_hugepages")).unwrap(), 4);
            let goals = goals::evaluate(Some(&z));
            let g = goals
                .iter()
                .find(|g| g.id == "fault_2m_fault_policy_vs_kernel")
                .unwrap();
            assert_ne!(g.status, GoalStatus::NotMeasured, "{g:?}");
            assert!(g.detail.contains("some pages were zeroed already"), "{g:?}");
            std::fs::remove_dir_all(&fake).unwrap();

            // An older module without the zeroing files: its plain faults are measured, the
            // rest says "not available".
            let old = sysfs::tests::fake_module("cases-old", false);
            let opool = pools::discover(&old.join("hugepages"), "rhugetlbfs")[0].clone();
            let inputs = Inputs {
                kernel: Vec::new(),
                module: vec![Backing::mount(
                    mnt.path(),
                    "rhugetlbfs",
                    2 * MIB,
                    Some(opool.clone()),
                )],
                module_reason: String::new(),
                kernel_pools: Vec::new(),
                module_pools: vec![opool],
            };
            let z = run(&inputs, &cfg);
            assert!(z.case("rhugetlbfs-2M").unwrap().measured, "{:#?}", z.faults);
            for id in ["rhugetlbfs-2M-background", "rhugetlbfs-2M-fault"] {
                let c = z.case(id).unwrap();
                assert!(!c.measured);
                assert!(
                    c.reason.as_ref().unwrap().contains("not available"),
                    "{c:?}"
                );
            }
            assert!(z.bursts[0]
                .reason
                .as_ref()
                .unwrap()
                .contains("not available"));
            assert!(z.clear_speed[0]
                .reason
                .as_ref()
                .unwrap()
                .contains("not available"));
            assert!(z.settings[0]
                .not_available
                .contains(&"zero_policy".to_string()));
            std::fs::remove_dir_all(&old).unwrap();
        } else {
            eprintln!("skipped: {:?}", res.note);
        }
        drop(res);
        drop(mnt);
        assert_eq!(kpool.nr().unwrap(), before, "host pool restored");
    }
}
