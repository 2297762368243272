//! rhugetlbfs's zeroing files next to a pool's `nr_hugepages` (`zero_policy`,
//! `zeroed_hugepages`, `clear_method`, `clear_speed`, the `stats` counters), the per-node
//! `zeroed_hugepages`, and the background workers `rhugetlbfs_zero/<nid>` under `/proc`.
//!
//! An older module has none of these files: every read says which file is missing
//! ("not available"), and the callers carry on without it.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::pools::PoolDir;
use crate::util;

/// Comm prefix of the module's background clearing threads (`rhugetlbfs_zero/<nid>`).
pub const WORKER_COMM: &str = "rhugetlbfs_zero";

/// A module pool and its zeroing files.
#[derive(Clone, Debug)]
pub struct ZeroPool {
    pub pool: PoolDir,
    /// A wait for a zeroed pool timed out: later waits give up sooner.
    timed_out: std::cell::Cell<bool>,
}

/// The longest wait once one wait of the same pool has timed out.
pub const AFTER_TIMEOUT: Duration = Duration::from_secs(5);

/// One file's value, or why there is none ("not available: ... (older module?)").
pub type Avail<T> = Result<T, String>;

/// `io::Error` of a zeroing file, as the report says it.
pub fn describe(file: &Path, e: &io::Error) -> String {
    let name = file
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    if e.kind() == io::ErrorKind::NotFound {
        format!("{name} not available (older module?)")
    } else {
        format!("{name}: {e}")
    }
}

/// The word a sysfs choice file shows: `fault`, or the bracketed one of `[auto] page`.
pub fn parse_word(text: &str) -> String {
    util::bracketed_choice(text).unwrap_or_else(|| text.trim().to_string())
}

/// `name value` lines (the `stats` file); lines that do not parse are left out.
pub fn parse_stats(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let k = it.next()?;
            let v = it.next()?.parse().ok()?;
            Some((k.to_string(), v))
        })
        .collect()
}

/// What `clear_speed` shows: MB/s (10^6 bytes per second, 0 = not measured) per method and
/// the methods `auto` stands for on the fault path and in the background.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ClearSpeedRead {
    pub page_mbps: Option<u64>,
    pub erms_mbps: Option<u64>,
    pub nt_mbps: Option<u64>,
    pub auto_fault: Option<String>,
    pub auto_background: Option<String>,
}

pub fn parse_clear_speed(text: &str) -> ClearSpeedRead {
    let mut r = ClearSpeedRead::default();
    for l in text.lines() {
        let mut it = l.split_whitespace();
        let (Some(k), Some(v)) = (it.next(), it.next()) else {
            continue;
        };
        match k {
            "page" => r.page_mbps = v.parse().ok(),
            "erms" => r.erms_mbps = v.parse().ok(),
            "nt" => r.nt_mbps = v.parse().ok(),
            "fault" => r.auto_fault = Some(v.to_string()),
            "background" => r.auto_background = Some(v.to_string()),
            _ => {}
        }
    }
    r
}

/// Zeroed and free pages of one NUMA node.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeZeroed {
    pub node: u32,
    pub zeroed: Option<u64>,
    pub free: Option<u64>,
}

impl ZeroPool {
    pub fn new(pool: PoolDir) -> ZeroPool {
        ZeroPool {
            pool,
            timed_out: std::cell::Cell::new(false),
        }
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.pool.file(name)
    }

    pub fn has(&self, name: &str) -> bool {
        self.file(name).exists()
    }

    fn read(&self, name: &str) -> Avail<String> {
        let f = self.file(name);
        std::fs::read_to_string(&f).map_err(|e| describe(&f, &e))
    }

    /// `zero_policy`: `background` or `fault`.
    pub fn policy(&self) -> Avail<String> {
        self.read("zero_policy").map(|t| parse_word(&t))
    }

    /// `clear_method`: `auto`, `page`, `erms` or `nt`.
    pub fn clear_method(&self) -> Avail<String> {
        self.read("clear_method").map(|t| parse_word(&t))
    }

    /// `zeroed_hugepages`: free pages already zeroed.
    pub fn zeroed(&self) -> Avail<u64> {
        let f = self.file("zeroed_hugepages");
        util::read_u64(&f).map_err(|e| describe(&f, &e))
    }

    pub fn free(&self) -> Avail<u64> {
        let f = self.file("free_hugepages");
        util::read_u64(&f).map_err(|e| describe(&f, &e))
    }

    pub fn clear_speed(&self) -> Avail<ClearSpeedRead> {
        self.read("clear_speed").map(|t| parse_clear_speed(&t))
    }

    /// Write `1` to `clear_speed`: the module measures every method on one free page now.
    pub fn measure_clear_speed(&self) -> Avail<()> {
        let f = self.file("clear_speed");
        if !f.exists() {
            return Err(describe(&f, &io::Error::from(io::ErrorKind::NotFound)));
        }
        util::write_str(&f, "1").map_err(|e| match e.raw_os_error() {
            Some(libc::ENOMEM) => "clear_speed: ENOMEM (the pool has no free page)".to_string(),
            _ => describe(&f, &e),
        })
    }

    /// The `stats` counters (empty map when the file is missing).
    pub fn stats(&self) -> BTreeMap<String, u64> {
        self.read("stats")
            .map(|t| parse_stats(&t))
            .unwrap_or_default()
    }

    /// The per-node directories of this pool size:
    /// `<root>/node/node<N>/hugepages/<hugepages-XkB>` where `<root>/hugepages/<hugepages-XkB>`
    /// is the pool.
    pub fn node_dirs(&self) -> Vec<(u32, PathBuf)> {
        let (Some(name), Some(root)) = (
            self.pool.path.file_name(),
            self.pool.path.parent().and_then(Path::parent),
        ) else {
            return Vec::new();
        };
        let Ok(rd) = std::fs::read_dir(root.join("node")) else {
            return Vec::new();
        };
        let mut v: Vec<(u32, PathBuf)> = rd
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let n: u32 = e.file_name().to_str()?.strip_prefix("node")?.parse().ok()?;
                Some((n, e.path().join("hugepages").join(name)))
            })
            .filter(|(_, p)| p.is_dir())
            .collect();
        v.sort();
        v
    }

    pub fn nodes(&self) -> Vec<NodeZeroed> {
        self.node_dirs()
            .into_iter()
            .map(|(node, d)| NodeZeroed {
                node,
                zeroed: util::read_u64(&d.join("zeroed_hugepages")).ok(),
                free: util::read_u64(&d.join("free_hugepages")).ok(),
            })
            .collect()
    }

    /// Wait until every free page is zeroed (`zeroed_hugepages >= free_hugepages`), polling
    /// every `poll`, for at most `timeout` (at most [`AFTER_TIMEOUT`] once a wait of this pool
    /// has timed out: a pool that does not get zeroed should not hold the run for long).
    pub fn wait_zeroed(&self, timeout: Duration, poll: Duration) -> Avail<WarmWait> {
        let timeout = if self.timed_out.get() {
            timeout.min(AFTER_TIMEOUT)
        } else {
            timeout
        };
        let t = Instant::now();
        loop {
            let zeroed = self.zeroed()?;
            let free = self.free()?;
            let waited = t.elapsed();
            if zeroed >= free || waited >= timeout {
                if zeroed < free {
                    self.timed_out.set(true);
                }
                return Ok(WarmWait {
                    waited_ms: waited.as_secs_f64() * 1e3,
                    timeout_ms: timeout.as_secs_f64() * 1e3,
                    zeroed,
                    free,
                    reached: zeroed >= free,
                    nodes: self.nodes(),
                });
            }
            std::thread::sleep(poll);
        }
    }
}

/// How a wait for a fully zeroed pool ended.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WarmWait {
    pub waited_ms: f64,
    pub timeout_ms: f64,
    pub zeroed: u64,
    pub free: u64,
    /// `zeroed >= free` before the timeout.
    pub reached: bool,
    pub nodes: Vec<NodeZeroed>,
}

impl WarmWait {
    pub fn describe(&self) -> String {
        if self.reached {
            format!(
                "warm: {}/{} zeroed after {:.0} ms",
                self.zeroed, self.free, self.waited_ms
            )
        } else {
            format!(
                "NOT warm: {}/{} zeroed at the {:.0} ms timeout",
                self.zeroed, self.free, self.timeout_ms
            )
        }
    }
}

/// `counter` after minus before (0 when missing on either side or gone backwards).
pub fn delta(before: &BTreeMap<String, u64>, after: &BTreeMap<String, u64>, k: &str) -> u64 {
    match (before.get(k), after.get(k)) {
        (Some(b), Some(a)) => a.saturating_sub(*b),
        _ => 0,
    }
}

/// The zeroing counters of `stats`, after minus before; empty without a `stats` file or
/// without these counters (older module).
pub fn zero_deltas(
    before: &BTreeMap<String, u64>,
    after: &BTreeMap<String, u64>,
) -> BTreeMap<String, u64> {
    const KEYS: [&str; 7] = [
        "zero_background_pages",
        "zero_fault_hits",
        "zero_fault_inline",
        "clear_background_bytes",
        "clear_background_ns",
        "clear_inline_bytes",
        "clear_inline_ns",
    ];
    KEYS.iter()
        .filter(|k| after.contains_key(**k))
        .map(|k| (k.to_string(), delta(before, after, k)))
        .collect()
}

/// A thread of `/proc` with its CPU time.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Worker {
    pub pid: u32,
    pub comm: String,
}

/// (comm, utime, stime) from the text of `/proc/<pid>/stat`. The comm is inside the first
/// `(` and the last `)`; utime and stime are fields 14 and 15.
pub fn parse_proc_stat(text: &str) -> Option<(String, u64, u64)> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text.get(open + 1..close)?.to_string();
    let rest: Vec<&str> = text.get(close + 1..)?.split_whitespace().collect();
    // rest[0] is field 3 (state): field n is rest[n - 3].
    let utime = rest.get(11)?.parse().ok()?;
    let stime = rest.get(12)?.parse().ok()?;
    Some((comm, utime, stime))
}

/// Every process under `proc_root` whose comm starts with `prefix` (kernel threads are
/// processes of their own there).
pub fn find_workers(proc_root: &Path, prefix: &str) -> Vec<Worker> {
    let Ok(rd) = std::fs::read_dir(proc_root) else {
        return Vec::new();
    };
    let mut v: Vec<Worker> = rd
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let comm = std::fs::read_to_string(e.path().join("comm")).ok()?;
            let comm = comm.trim_end_matches('\n');
            comm.starts_with(prefix).then(|| Worker {
                pid,
                comm: comm.to_string(),
            })
        })
        .collect();
    v.sort_by_key(|w| w.pid);
    v
}

/// CPU time of a set of threads at one moment.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CpuSample {
    /// utime + stime summed, in clock ticks.
    pub ticks: u64,
    /// Run time from `/proc/<pid>/schedstat` (ns), when every thread has one.
    pub sched_ns: Option<u64>,
    /// Threads whose files could not be read (gone, or not permitted).
    pub unreadable: u32,
}

pub fn clock_ticks_per_s() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as u64
    } else {
        100
    }
}

pub fn sample_cpu(proc_root: &Path, workers: &[Worker]) -> CpuSample {
    let mut s = CpuSample {
        sched_ns: Some(0),
        ..Default::default()
    };
    for w in workers {
        let dir = proc_root.join(w.pid.to_string());
        match std::fs::read_to_string(dir.join("stat"))
            .ok()
            .and_then(|t| parse_proc_stat(&t))
        {
            Some((_, u, st)) => s.ticks += u + st,
            None => s.unreadable += 1,
        }
        let sched: Option<u64> = std::fs::read_to_string(dir.join("schedstat"))
            .ok()
            .and_then(|t| t.split_whitespace().next()?.parse().ok());
        s.sched_ns = match (s.sched_ns, sched) {
            (Some(a), Some(b)) => Some(a + b),
            _ => None,
        };
    }
    s
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::fs;

    /// A fake module tree: `<root>/hugepages/hugepages-2048kB/{...}` and one node directory.
    pub(crate) fn fake_module(tag: &str, with_zero_files: bool) -> PathBuf {
        let d = std::env::temp_dir().join(format!("rhbench-zero-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        let p = d.join("hugepages/hugepages-2048kB");
        fs::create_dir_all(&p).unwrap();
        fs::write(p.join("nr_hugepages"), "4\n").unwrap();
        fs::write(p.join("free_hugepages"), "4\n").unwrap();
        let n = d.join("node/node0/hugepages/hugepages-2048kB");
        fs::create_dir_all(&n).unwrap();
        fs::write(n.join("free_hugepages"), "4\n").unwrap();
        if with_zero_files {
            fs::write(p.join("zero_policy"), "background\n").unwrap();
            fs::write(p.join("zeroed_hugepages"), "4\n").unwrap();
            fs::write(p.join("clear_method"), "auto\n").unwrap();
            fs::write(
                p.join("clear_speed"),
                "page 9000\nerms 12000\nnt 0\nfault erms\nbackground page\n",
            )
            .unwrap();
            fs::write(
                p.join("stats"),
                "faults_pmd 3\nzero_fault_hits 2\nzero_fault_inline 1\nclear_inline_bytes 2097152\n",
            )
            .unwrap();
            fs::write(n.join("zeroed_hugepages"), "4\n").unwrap();
        } else {
            fs::write(p.join("stats"), "faults_pmd 3\n").unwrap();
        }
        d
    }

    #[test]
    fn reads_every_file_of_a_fake_pool() {
        let d = fake_module("read", true);
        let zp =
            ZeroPool::new(crate::pools::discover(&d.join("hugepages"), "rhugetlbfs")[0].clone());
        assert_eq!(zp.policy().unwrap(), "background");
        assert_eq!(zp.clear_method().unwrap(), "auto");
        assert_eq!(zp.zeroed().unwrap(), 4);
        let cs = zp.clear_speed().unwrap();
        assert_eq!(cs.page_mbps, Some(9000));
        assert_eq!(cs.nt_mbps, Some(0));
        assert_eq!(cs.auto_fault.as_deref(), Some("erms"));
        assert_eq!(cs.auto_background.as_deref(), Some("page"));
        assert_eq!(zp.stats()["zero_fault_hits"], 2);
        let nodes = zp.nodes();
        assert_eq!(
            nodes,
            vec![NodeZeroed {
                node: 0,
                zeroed: Some(4),
                free: Some(4)
            }]
        );
        let w = zp
            .wait_zeroed(Duration::from_secs(1), Duration::from_millis(1))
            .unwrap();
        assert!(w.reached && w.zeroed == 4 && w.free == 4);
        assert!(w.describe().starts_with("warm: 4/4"));
        // Not all zeroed: the wait ends at the timeout and says so.
        fs::write(zp.file("zeroed_hugepages"), "1\n").unwrap();
        let w = zp
            .wait_zeroed(Duration::from_millis(20), Duration::from_millis(5))
            .unwrap();
        assert!(!w.reached && w.waited_ms >= 20.0);
        assert!(w.describe().contains("NOT warm: 1/4"), "{}", w.describe());
        // After a timeout the next waits are capped.
        fs::write(zp.file("zeroed_hugepages"), "4\n").unwrap();
        let w = zp
            .wait_zeroed(Duration::from_secs(3600), Duration::from_millis(50))
            .unwrap();
        assert_eq!(w.timeout_ms, AFTER_TIMEOUT.as_secs_f64() * 1e3);
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn an_older_module_says_not_available() {
        let d = fake_module("old", false);
        let zp =
            ZeroPool::new(crate::pools::discover(&d.join("hugepages"), "rhugetlbfs")[0].clone());
        let e = zp.policy().unwrap_err();
        assert!(e.contains("zero_policy not available"), "{e}");
        assert!(zp
            .zeroed()
            .unwrap_err()
            .contains("zeroed_hugepages not available"));
        assert!(zp
            .measure_clear_speed()
            .unwrap_err()
            .contains("clear_speed not available"));
        assert!(zp
            .wait_zeroed(Duration::ZERO, Duration::ZERO)
            .unwrap_err()
            .contains("not available"));
        // The stats file has no zeroing counters: no deltas.
        assert!(zero_deltas(&zp.stats(), &zp.stats()).is_empty());
        assert_eq!(zp.nodes()[0].zeroed, None);
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn parsers() {
        assert_eq!(parse_word("fault\n"), "fault");
        assert_eq!(parse_word("[auto] page erms nt\n"), "auto");
        let s = parse_stats("a 1\nb x\n\nc 3 extra\n");
        assert_eq!(s.len(), 2);
        assert_eq!(s["c"], 3);
        let before = parse_stats("zero_fault_hits 5\nclear_inline_ns 10\n");
        let after = parse_stats("zero_fault_hits 9\nclear_inline_ns 4\nzero_fault_inline 2\n");
        let d = zero_deltas(&before, &after);
        assert_eq!(d["zero_fault_hits"], 4);
        assert_eq!(d["clear_inline_ns"], 0, "gone backwards: 0");
        assert_eq!(d["zero_fault_inline"], 0, "missing before: 0");
        assert!(!d.contains_key("clear_background_ns"));
        // A comm with spaces and parentheses.
        let stat = "123 (rhugetlbfs_zero/0) S 2 0 0 0 -1 2129984 0 0 0 0 17 42 0 0 20 0 1 0 5";
        assert_eq!(
            parse_proc_stat(stat),
            Some(("rhugetlbfs_zero/0".to_string(), 17, 42))
        );
        let odd = "7 (a) b (c)) R 1 1 1 0 -1 0 0 0 0 0 3 4 0 0";
        assert_eq!(parse_proc_stat(odd), Some(("a) b (c)".to_string(), 3, 4)));
        assert_eq!(parse_proc_stat("garbage"), None);
    }

    #[test]
    fn finds_threads_by_comm_in_a_fake_proc() {
        let d = std::env::temp_dir().join(format!("rhbench-proc-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        for (pid, comm, u, s) in [
            (10, "rhugetlbfs_zero/0", 5, 7),
            (11, "rhugetlbfs_zero/1", 1, 1),
            (12, "kworker/0:1", 100, 100),
        ] {
            let p = d.join(pid.to_string());
            fs::create_dir_all(&p).unwrap();
            fs::write(p.join("comm"), format!("{comm}\n")).unwrap();
            fs::write(
                p.join("stat"),
                format!("{pid} ({comm}) S 2 0 0 0 -1 0 0 0 0 0 {u} {s} 0 0 20 0 1 0 5\n"),
            )
            .unwrap();
            fs::write(p.join("schedstat"), "1000 20 3\n").unwrap();
        }
        fs::create_dir_all(d.join("self")).unwrap();
        let w = find_workers(&d, WORKER_COMM);
        assert_eq!(w.len(), 2);
        assert_eq!(w[1].comm, "rhugetlbfs_zero/1");
        let s = sample_cpu(&d, &w);
        assert_eq!(s.ticks, 14);
        assert_eq!(s.sched_ns, Some(2000));
        assert_eq!(s.unreadable, 0);
        fs::remove_dir_all(d.join("11")).unwrap();
        let s = sample_cpu(&d, &w);
        assert_eq!((s.ticks, s.sched_ns, s.unreadable), (12, None, 1));
        assert!(clock_ticks_per_s() > 0);
        fs::remove_dir_all(&d).unwrap();
    }
}
