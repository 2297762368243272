//! Huge-page pools exposed through sysfs: the kernel's `/sys/kernel/mm/hugepages` and
//! rhugetlbfs's `/sys/fs/rhugetlbfs/hugepages` (same layout: `hugepages-<size>kB/` with
//! `nr_hugepages`, `free_hugepages`, ...). Growing, shrinking, and timing both.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::cleanup::PoolGuard;
use crate::util::{self, fmt_size};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolDir {
    pub path: PathBuf,
    pub page_size: u64,
    /// "kernel" or the module's name (e.g. "rhugetlbfs").
    pub implementation: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolSnapshot {
    pub path: String,
    pub implementation: String,
    pub page_size: u64,
    pub nr_hugepages: Option<u64>,
    pub free_hugepages: Option<u64>,
    pub writable: bool,
}

/// Parse `hugepages-2048kB` into bytes.
pub fn parse_pool_dir_name(name: &str) -> Option<u64> {
    let kb = name.strip_prefix("hugepages-")?.strip_suffix("kB")?;
    kb.parse::<u64>().ok().map(|k| k * 1024)
}

/// All `hugepages-<size>kB` directories under `root`, smallest page size first.
pub fn discover(root: &Path, implementation: &str) -> Vec<PoolDir> {
    let Ok(rd) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    let mut v: Vec<PoolDir> = rd
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let size = parse_pool_dir_name(e.file_name().to_str()?)?;
            Some(PoolDir {
                path: e.path(),
                page_size: size,
                implementation: implementation.to_string(),
            })
        })
        .collect();
    v.sort_by_key(|p| p.page_size);
    v
}

impl PoolDir {
    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
    pub fn nr(&self) -> std::io::Result<u64> {
        util::read_u64(&self.file("nr_hugepages"))
    }
    pub fn free(&self) -> std::io::Result<u64> {
        util::read_u64(&self.file("free_hugepages"))
    }
    pub fn writable(&self) -> bool {
        util::writable(&self.file("nr_hugepages"))
    }
    pub fn label(&self) -> String {
        format!("{} {}", self.implementation, util::size_tag(self.page_size))
    }
    pub fn snapshot(&self) -> PoolSnapshot {
        PoolSnapshot {
            path: self.path.display().to_string(),
            implementation: self.implementation.clone(),
            page_size: self.page_size,
            nr_hugepages: self.nr().ok(),
            free_hugepages: self.free().ok(),
            writable: self.writable(),
        }
    }
}

/// Policy for changing pools.
#[derive(Clone, Debug)]
pub struct GrowPolicy {
    /// Allowed to change pool sizes at all (`--no-grow` turns this off).
    pub enabled: bool,
    /// Never grow a pool by more than this many bytes in total.
    pub max_bytes: u64,
}

/// A pool grown (or not) so that at least `have` pages are free for the caller.
#[derive(Debug)]
pub struct Reservation {
    pub guard: Option<PoolGuard>,
    pub have: u64,
    pub note: Option<String>,
}

/// Make `need` pages free in `pool`, growing it if allowed. Returns how many are free now.
/// Never fails: with fewer pages than needed the note says why, and the caller decides.
pub fn ensure_free(pool: &PoolDir, need: u64, policy: &GrowPolicy) -> Reservation {
    let free = pool.free().unwrap_or(0);
    if free >= need {
        return Reservation {
            guard: None,
            have: free,
            note: None,
        };
    }
    let missing = need - free;
    let why_not = if !policy.enabled {
        Some("pool growth disabled (--no-grow)".to_string())
    } else if !pool.writable() {
        Some("not root: cannot grow the pool".to_string())
    } else if missing.saturating_mul(pool.page_size) > policy.max_bytes {
        Some(format!(
            "growing by {} exceeds the growth limit {}",
            fmt_size(missing * pool.page_size),
            fmt_size(policy.max_bytes)
        ))
    } else {
        None
    };
    if let Some(w) = why_not {
        return Reservation {
            guard: None,
            have: free,
            note: Some(format!(
                "{}: {free} free pages, need {need}; {w}",
                pool.label()
            )),
        };
    }
    let nr_file = pool.file("nr_hugepages");
    let guard = match PoolGuard::new(&nr_file) {
        Ok(g) => g,
        Err(e) => {
            return Reservation {
                guard: None,
                have: free,
                note: Some(format!("{}: {e}", nr_file.display())),
            }
        }
    };
    let nr = pool.nr().unwrap_or(0);
    let mut note = None;
    if let Err(e) = guard.set(nr + missing) {
        note = Some(format!("{}: grow to {}: {e}", pool.label(), nr + missing));
    }
    let have = pool.free().unwrap_or(0);
    if have < need && note.is_none() {
        note = Some(format!(
            "{}: grew to {} pages but only {have} free (need {need}): memory fragmented?",
            pool.label(),
            pool.nr().unwrap_or(0)
        ));
    }
    Reservation {
        guard: Some(guard),
        have,
        note,
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PoolGrowth {
    pub pool: String,
    pub implementation: String,
    pub page_size: u64,
    pub requested: u64,
    pub start_nr: u64,
    pub reached: u64,
    pub grow_ms: f64,
    pub grow_us_per_page: Option<f64>,
    pub shrunk: u64,
    pub shrink_ms: f64,
    pub shrink_us_per_page: Option<f64>,
    pub restored: bool,
    pub note: Option<String>,
}

/// Why a pool's growth measurement was skipped.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PoolSkip {
    pub pool: String,
    pub reason: String,
}

/// Grow `pool` by `n` pages through `nr_hugepages`, then shrink it back, timing each write.
/// `hold` keeps the grown pool for a while (used by the signal-restore test).
pub fn measure_growth(
    pool: &PoolDir,
    n: u64,
    policy: &GrowPolicy,
    hold: Duration,
) -> Result<PoolGrowth, PoolSkip> {
    let skip = |reason: String| PoolSkip {
        pool: pool.path.display().to_string(),
        reason,
    };
    if n == 0 {
        return Err(skip("0 pages requested".into()));
    }
    if !policy.enabled {
        return Err(skip("pool changes disabled (--no-grow)".into()));
    }
    if !pool.writable() {
        return Err(skip("not root: pool sizes cannot be changed".into()));
    }
    if n.saturating_mul(pool.page_size) > policy.max_bytes {
        return Err(skip(format!(
            "{n} pages = {} exceeds the growth limit {}",
            fmt_size(n * pool.page_size),
            fmt_size(policy.max_bytes)
        )));
    }
    let nr_file = pool.file("nr_hugepages");
    let guard = PoolGuard::new(&nr_file).map_err(|e| skip(format!("{e}")))?;
    let start = pool.nr().map_err(|e| skip(format!("{e}")))?;
    let mut note = None;

    let t0 = Instant::now();
    if let Err(e) = guard.set(start + n) {
        note = Some(format!("grow write: {e}"));
    }
    let grow = t0.elapsed();
    let after_grow = pool.nr().unwrap_or(start);
    let reached = after_grow.saturating_sub(start);
    if reached < n && note.is_none() {
        note = Some(format!(
            "reached {reached} of {n} pages (memory fragmented?)"
        ));
    }
    if !hold.is_zero() {
        std::thread::sleep(hold);
    }

    let t1 = Instant::now();
    if let Err(e) = guard.set(start) {
        note = Some(format!("shrink write: {e}"));
    }
    let shrink = t1.elapsed();
    let after_shrink = pool.nr().unwrap_or(after_grow);
    let shrunk = after_grow.saturating_sub(after_shrink);
    drop(guard);
    let restored = pool.nr().map(|v| v == start).unwrap_or(false);

    let per_page =
        |d: Duration, pages: u64| (pages > 0).then(|| d.as_secs_f64() * 1e6 / pages as f64);
    Ok(PoolGrowth {
        pool: pool.path.display().to_string(),
        implementation: pool.implementation.clone(),
        page_size: pool.page_size,
        requested: n,
        start_nr: start,
        reached,
        grow_ms: grow.as_secs_f64() * 1e3,
        grow_us_per_page: per_page(grow, reached),
        shrunk,
        shrink_ms: shrink.as_secs_f64() * 1e3,
        shrink_us_per_page: per_page(shrink, shrunk),
        restored,
        note,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn fake_root(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("rhbench-pools-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        for (name, nr, free) in [("hugepages-2048kB", 2, 1), ("hugepages-1048576kB", 0, 0)] {
            let p = d.join(name);
            fs::create_dir_all(&p).unwrap();
            fs::write(p.join("nr_hugepages"), format!("{nr}\n")).unwrap();
            fs::write(p.join("free_hugepages"), format!("{free}\n")).unwrap();
        }
        fs::create_dir_all(d.join("not-a-pool")).unwrap();
        d
    }

    fn policy() -> GrowPolicy {
        GrowPolicy {
            enabled: true,
            max_bytes: 64 * util::GIB,
        }
    }

    #[test]
    fn discovers_pools_sorted() {
        let _l = crate::cleanup::test_lock();
        let d = fake_root("disc");
        let pools = discover(&d, "kernel");
        assert_eq!(pools.len(), 2);
        assert_eq!(pools[0].page_size, 2 * util::MIB);
        assert_eq!(pools[1].page_size, util::GIB);
        assert_eq!(pools[0].label(), "kernel 2M");
        assert!(discover(&d.join("missing"), "x").is_empty());
        assert_eq!(parse_pool_dir_name("hugepages-64kB"), Some(65536));
        assert_eq!(parse_pool_dir_name("hugepages-kB"), None);
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn growth_measurement_restores_fake_sysfs() {
        let _l = crate::cleanup::test_lock();
        let d = fake_root("grow");
        let pool = &discover(&d, "rhugetlbfs")[0];
        let g = measure_growth(pool, 8, &policy(), Duration::ZERO).unwrap();
        assert_eq!(g.requested, 8);
        assert_eq!(g.start_nr, 2);
        assert_eq!(g.reached, 8); // a plain file takes any value
        assert_eq!(g.shrunk, 8);
        assert!(g.restored);
        assert!(g.grow_us_per_page.is_some());
        assert_eq!(pool.nr().unwrap(), 2);
        // Growth limit and n = 0 are skips, not changes.
        let small = GrowPolicy {
            enabled: true,
            max_bytes: util::MIB,
        };
        assert!(measure_growth(pool, 8, &small, Duration::ZERO).is_err());
        assert!(measure_growth(pool, 0, &policy(), Duration::ZERO).is_err());
        let off = GrowPolicy {
            enabled: false,
            max_bytes: u64::MAX,
        };
        assert!(measure_growth(pool, 1, &off, Duration::ZERO).is_err());
        assert_eq!(pool.nr().unwrap(), 2);
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn ensure_free_grows_and_guard_restores() {
        let _l = crate::cleanup::test_lock();
        let d = fake_root("ensure");
        let pool = &discover(&d, "kernel")[0];
        // Already enough free: nothing changes.
        let r = ensure_free(pool, 1, &policy());
        assert!(r.guard.is_none() && r.have == 1 && r.note.is_none());
        // Needs growth: nr goes 2 -> 5 (3 missing). The fake free file does not follow, so the
        // note reports the shortfall, and the guard restores nr on drop.
        let r = ensure_free(pool, 4, &policy());
        assert!(r.guard.is_some());
        assert_eq!(pool.nr().unwrap(), 5);
        assert!(r.note.as_deref().unwrap().contains("only 1 free"));
        drop(r);
        assert_eq!(pool.nr().unwrap(), 2);
        // Over the limit: not grown.
        let r = ensure_free(
            pool,
            1000,
            &GrowPolicy {
                enabled: true,
                max_bytes: util::MIB,
            },
        );
        assert!(r.guard.is_none());
        assert!(r.note.unwrap().contains("limit"));
        assert_eq!(pool.nr().unwrap(), 2);
        fs::remove_dir_all(&d).unwrap();
    }
}
