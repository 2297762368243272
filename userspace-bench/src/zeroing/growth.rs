//! Item 5: pool growth from 0 through `nr_hugepages`, the kernel's pool against
//! rhugetlbfs's of the same size: kernel first then rhugetlbfs, then once more the other
//! way round (fragmentation left by the first changes the second). 2 MiB pools grow by
//! `--growth-pages-2m` pages; 1 GiB pools are asked for as many pages as fit
//! (`--growth-pages-1g`, 0: from the memory available) and report how many they reached.
//! Every pool is registered with the cleanup registry first and put back at the end.

use std::time::Instant;

use super::{GrowthRun, GrowthSkip, ZeroConfig, SIZES};
use crate::cleanup::PoolGuard;
use crate::pools::PoolDir;
use crate::util::{self, fmt_size, progress, size_tag, GIB};

/// 1 GiB pages that fit: the memory available now, less max(1 GiB, 1/8 of the memory) for
/// everything else.
pub fn pages_that_fit(page_size: u64, mem_available: u64, mem_total: u64) -> u64 {
    let keep = GIB.max(mem_total / 8);
    mem_available.saturating_sub(keep) / page_size
}

/// Grow `pool` from its base (`nr_hugepages` now) by `n` pages, then shrink it back, timing
/// each write.
fn grow_once(pool: &PoolDir, guard: &PoolGuard, n: u64, round: u32) -> GrowthRun {
    let base = pool.nr().unwrap_or(0);
    let mut note = None;
    let t = Instant::now();
    if let Err(e) = guard.set(base + n) {
        note = Some(format!("grow write: {e}"));
    }
    let grow = t.elapsed();
    let reached = pool.nr().unwrap_or(base).saturating_sub(base);
    let t = Instant::now();
    if let Err(e) = guard.set(base) {
        note = Some(format!("shrink write: {e}"));
    }
    let shrink = t.elapsed();
    if reached < n && note.is_none() {
        note = Some(format!("reached {reached} of {n} pages"));
    }
    progress(&format!(
        "zeroing: growth round {round}: {}: {reached}/{n} pages in {:.1} ms",
        pool.label(),
        grow.as_secs_f64() * 1e3
    ));
    GrowthRun {
        round,
        implementation: pool.implementation.clone(),
        pool: pool.path.display().to_string(),
        page_size: pool.page_size,
        requested: n,
        base,
        reached,
        grow_ms: grow.as_secs_f64() * 1e3,
        grow_us_per_page: (reached > 0).then(|| grow.as_secs_f64() * 1e6 / reached as f64),
        shrink_ms: shrink.as_secs_f64() * 1e3,
        note,
    }
}

/// Every size that has both pools: both orders. Sizes not measured are in the second list;
/// `notes` gets what changed the plan (fewer pages than asked).
pub fn run(
    kernel_pools: &[PoolDir],
    module_pools: &[PoolDir],
    cfg: &ZeroConfig,
    notes: &mut Vec<String>,
) -> (Vec<GrowthRun>, Vec<GrowthSkip>) {
    let mut runs = Vec::new();
    let mut skipped = Vec::new();
    for ps in SIZES {
        let skip = |reason: String| {
            progress(&format!(
                "zeroing: growth {}: not measured: {reason}",
                size_tag(ps)
            ));
            GrowthSkip {
                page_size: ps,
                reason,
            }
        };
        let k = kernel_pools.iter().find(|p| p.page_size == ps);
        let m = module_pools.iter().find(|p| p.page_size == ps);
        let (k, m) = match (k, m) {
            (Some(k), Some(m)) => (k, m),
            (None, _) => {
                skipped.push(skip(format!(
                    "the kernel has no {} huge page size",
                    fmt_size(ps)
                )));
                continue;
            }
            (_, None) => {
                skipped.push(skip(format!(
                    "no rhugetlbfs {} pool to compare with",
                    fmt_size(ps)
                )));
                continue;
            }
        };
        if !cfg.policy.enabled {
            skipped.push(skip("pool changes disabled (--no-grow)".into()));
            continue;
        }
        if !k.writable() || !m.writable() {
            skipped.push(skip("not root: pool sizes cannot be changed".into()));
            continue;
        }
        let guards = (
            PoolGuard::new(&k.file("nr_hugepages")),
            PoolGuard::new(&m.file("nr_hugepages")),
        );
        let (gk, gm) = match guards {
            (Ok(a), Ok(b)) => (a, b),
            (Err(e), _) | (_, Err(e)) => {
                skipped.push(skip(format!("nr_hugepages: {e}")));
                continue;
            }
        };
        // From 0 (pages in use stay: the base).
        let _ = gk.set(0);
        let _ = gm.set(0);
        let want = if ps >= GIB {
            match cfg.growth_pages_1g {
                0 => pages_that_fit(
                    ps,
                    util::meminfo_bytes("MemAvailable").unwrap_or(0),
                    util::meminfo_bytes("MemTotal").unwrap_or(0),
                ),
                n => n,
            }
        } else {
            cfg.growth_pages_2m
        };
        let cap = cfg.policy.max_bytes / ps;
        let n = want.min(cap);
        if n == 0 {
            skipped.push(skip(if want == 0 {
                "no room: 0 pages requested or no memory available for them".to_string()
            } else {
                format!(
                    "even one page exceeds the growth limit {}",
                    fmt_size(cfg.policy.max_bytes)
                )
            }));
            continue;
        }
        if n < want {
            notes.push(format!(
                "pool growth {}: {n} pages instead of {want}: the growth limit is {}",
                size_tag(ps),
                fmt_size(cfg.policy.max_bytes)
            ));
        }
        progress(&format!(
            "zeroing: growth {}: {n} pages, kernel then rhugetlbfs, then the other way",
            size_tag(ps)
        ));
        runs.push(grow_once(k, &gk, n, 1));
        runs.push(grow_once(m, &gm, n, 1));
        runs.push(grow_once(m, &gm, n, 2));
        runs.push(grow_once(k, &gk, n, 2));
        drop(gm);
        drop(gk);
    }
    (runs, skipped)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pools::{self, GrowPolicy};
    use std::fs;
    use std::path::PathBuf;
    use std::time::Duration;

    fn fake(root: &std::path::Path, name: &str, nr: u64) -> PathBuf {
        let d = root.join(name);
        fs::create_dir_all(&d).unwrap();
        fs::write(d.join("nr_hugepages"), format!("{nr}\n")).unwrap();
        fs::write(d.join("free_hugepages"), format!("{nr}\n")).unwrap();
        d.join("nr_hugepages")
    }

    #[test]
    fn both_orders_on_fake_pools_and_restore() {
        let _l = crate::cleanup::test_lock();
        let d = std::env::temp_dir().join(format!("rhbench-zgrow-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        let k2 = fake(&d.join("k"), "hugepages-2048kB", 3);
        let m2 = fake(&d.join("m"), "hugepages-2048kB", 0);
        let k1 = fake(&d.join("k"), "hugepages-1048576kB", 1);
        let cfg = ZeroConfig {
            fault_bytes: 0,
            pages_1g: 1,
            rounds: 0,
            growth_pages_2m: 10,
            growth_pages_1g: 2,
            timeout: Duration::ZERO,
            model: super::super::model::ModelConfig {
                big_bytes: 0,
                arena_bytes: 0,
                repeats: 1,
                hot_repeats: 1,
            },
            policy: GrowPolicy {
                enabled: true,
                max_bytes: 64 * GIB,
            },
            proc_root: PathBuf::from("/proc"),
        };
        let kp = pools::discover(&d.join("k"), "kernel");
        let mp = pools::discover(&d.join("m"), "rhugetlbfs");
        let mut notes = Vec::new();
        let (runs, skipped) = run(&kp, &mp, &cfg, &mut notes);
        assert!(notes.is_empty());
        assert_eq!(runs.len(), 4, "{runs:?}");
        let order: Vec<(u32, &str)> = runs
            .iter()
            .map(|r| (r.round, r.implementation.as_str()))
            .collect();
        assert_eq!(
            order,
            [
                (1, "kernel"),
                (1, "rhugetlbfs"),
                (2, "rhugetlbfs"),
                (2, "kernel")
            ]
        );
        assert!(runs.iter().all(|r| r.base == 0 && r.reached == 10));
        // No module 1 GiB pool: skipped, and the kernel's is untouched.
        assert_eq!(skipped.len(), 1);
        assert!(skipped[0].reason.contains("no rhugetlbfs 1 GiB pool"));
        assert_eq!(util::read_u64(&k2).unwrap(), 3);
        assert_eq!(util::read_u64(&m2).unwrap(), 0);
        assert_eq!(util::read_u64(&k1).unwrap(), 1);
        // The growth limit caps the pages.
        let small = ZeroConfig {
            policy: GrowPolicy {
                enabled: true,
                max_bytes: 8 << 20,
            },
            ..cfg.clone()
        };
        let (runs, _) = run(&kp, &mp, &small, &mut notes);
        assert!(runs.iter().all(|r| r.requested == 4));
        assert!(notes[0].contains("4 pages instead of 10"), "{notes:?}");
        let off = ZeroConfig {
            policy: GrowPolicy {
                enabled: false,
                max_bytes: 0,
            },
            ..cfg
        };
        let (runs, skipped) = run(&kp, &mp, &off, &mut notes);
        assert!(runs.is_empty());
        assert!(skipped[0].reason.contains("--no-grow"));
        assert_eq!(util::read_u64(&k2).unwrap(), 3);
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn pages_that_fit_keeps_a_reserve() {
        assert_eq!(pages_that_fit(GIB, 7 * GIB + GIB / 2, 8 * GIB), 6);
        assert_eq!(pages_that_fit(GIB, GIB / 2, 8 * GIB), 0);
        assert_eq!(pages_that_fit(GIB, 60 * GIB, 64 * GIB), 52);
    }
}
