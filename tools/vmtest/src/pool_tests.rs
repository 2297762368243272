//! The huge page pools and their sysfs files (issue: pools).

use crate::harness::{Suite, TestResult};
use crate::os::{become_nobody, exited_0, fork, wait};
use crate::sys::{self, counters, hdir, set_nr, SIZES};
use anyhow::{anyhow, bail, ensure, Context, Result};
use rustix::io::Errno;
use std::os::unix::fs::MetadataExt;

pub fn register(s: &mut Suite) {
    s.add("pool_sysfs_layout_and_modes", sysfs_layout_and_modes);
    s.add("pool_grow_shrink_2m", grow_shrink_2m);
    s.add("pool_bad_input_changes_nothing", bad_input_changes_nothing);
    s.add("pool_overcommit_2m_and_1g", overcommit);
    s.add("pool_gigantic_runtime_allocation", gigantic_runtime);
    s.add("pool_per_node_resize", per_node_resize);
    s.add("pool_meminfo_matches_counters", meminfo_matches);
    s.add("pool_non_root_cannot_write", non_root_cannot_write);
    s.add("pool_concurrent_writers_and_readers", concurrent);
    s.add("pool_load_parameters", load_parameters);
    s.add("pool_bad_load_parameter_refused", bad_load_parameter);
    s.add("pool_unload_returns_memory", unload_returns_memory);
}

/// Tests that run after every other one.
///
/// Filling all memory with 2 MiB pages leaves the kernel's own unmovable allocations (slab,
/// page tables) made meanwhile to fall back into movable pageblocks all over memory, and
/// they stay there: a later allocation of a large page may then find no room. The 1 GiB
/// tests borrow boot-time pages and would not care; run last, this test disturbs none.
pub fn register_last(s: &mut Suite) {
    s.add(
        "pool_oversized_request_reaches_what_it_can",
        oversized_request,
    );
}

const ROOT: &str = "/sys/fs/rhugetlbfs";
fn ndir(nid: usize, kb: u64) -> String {
    format!("{ROOT}/node/node{nid}/hugepages/hugepages-{kb}kB")
}

/// Checks the invariants between global and per-node counters of one size.
fn check_consistent(kb: u64) -> Result<()> {
    let (nr, free, resv, surplus) = counters(kb)?;
    ensure!(free <= nr, "{kb}kB: free {free} > nr {nr}");
    ensure!(resv <= free, "{kb}kB: resv {resv} > free {free}");
    ensure!(surplus <= nr, "{kb}kB: surplus {surplus} > nr {nr}");
    let (mut snr, mut sfree, mut ssurp) = (0, 0, 0);
    for nid in sys::memory_nodes()? {
        let d = ndir(nid, kb);
        snr += sys::read_u64(&format!("{d}/nr_hugepages"))?;
        sfree += sys::read_u64(&format!("{d}/free_hugepages"))?;
        ssurp += sys::read_u64(&format!("{d}/surplus_hugepages"))?;
    }
    ensure!(
        (snr, sfree, ssurp) == (nr, free, surplus),
        "{kb}kB: per-node sums (nr {snr}, free {sfree}, surplus {ssurp}) != global ({nr}, {free}, {surplus})"
    );
    Ok(())
}

/// Loads the module fresh and empties its pools afterwards, whatever the test did.
struct Fresh;

impl Fresh {
    fn new() -> Result<Self> {
        sys::ensure_unloaded()?;
        sys::insmod(&[])?;
        Ok(Fresh)
    }
}

impl Drop for Fresh {
    fn drop(&mut self) {
        for kb in SIZES {
            let _ = set_nr(kb, 0);
        }
    }
}

fn sysfs_layout_and_modes() -> TestResult {
    let _m = Fresh::new()?;
    let mut files = Vec::new();
    for kb in SIZES {
        for (f, mode) in [
            ("nr_hugepages", 0o644),
            ("nr_overcommit_hugepages", 0o644),
            ("free_hugepages", 0o444),
            ("resv_hugepages", 0o444),
            ("surplus_hugepages", 0o444),
            ("stats", 0o444),
            ("draining_hugepages", 0o444),
            ("pmd_mappable", 0o644),
            ("zero_policy", 0o644),
            ("zeroed_hugepages", 0o444),
            ("clear_method", 0o644),
            ("clear_speed", 0o644),
        ] {
            files.push((format!("{}/{f}", hdir(kb)), mode));
        }
        for nid in sys::memory_nodes()? {
            for (f, mode) in [
                ("nr_hugepages", 0o644),
                ("free_hugepages", 0o444),
                ("surplus_hugepages", 0o444),
                ("zeroed_hugepages", 0o444),
            ] {
                files.push((format!("{}/{f}", ndir(nid, kb)), mode));
            }
        }
    }
    files.push((format!("{ROOT}/meminfo"), 0o444));
    for (path, mode) in files {
        let md = std::fs::metadata(&path).with_context(|| path.clone())?;
        ensure!(
            md.mode() & 0o777 == mode,
            "{path}: mode {:o}, expected {mode:o}",
            md.mode() & 0o777
        );
        ensure!(md.uid() == 0 && md.gid() == 0, "{path} not owned by root");
    }
    Ok(())
}

fn grow_shrink_2m() -> TestResult {
    let _m = Fresh::new()?;
    let free0 = sys::free_kb()?;
    for (n, expect) in [(8, 8), (32, 32), (3, 3), (0, 0)] {
        set_nr(2048, n)?;
        let c = counters(2048)?;
        ensure!(
            c == (expect, expect, 0, 0),
            "after writing {n}: (nr, free, resv, surplus) = {c:?}"
        );
        check_consistent(2048)?;
        ensure!(counters(1048576)?.0 == 0, "the 1 GiB pool moved");
    }
    let free1 = sys::free_kb()?;
    // 32 pages were 64 MiB; allow 16 MiB of unrelated drift (slab, the test's own memory).
    ensure!(
        free1 + 16 * 1024 >= free0,
        "MemFree {free0} kB before, {free1} kB after shrinking to 0"
    );
    let stats = sys::read(&format!("{}/stats", hdir(2048)))?;
    ensure!(
        stats.lines().any(|l| l == "alloc_successes 32"),
        "stats do not count the 8 + 24 allocations:\n{stats}"
    );
    Ok(())
}

fn bad_input_changes_nothing() -> TestResult {
    let _m = Fresh::new()?;
    set_nr(2048, 5)?;
    let mut writable = Vec::new();
    for kb in SIZES {
        writable.push(format!("{}/nr_hugepages", hdir(kb)));
        writable.push(format!("{}/nr_overcommit_hugepages", hdir(kb)));
        for nid in sys::memory_nodes()? {
            writable.push(format!("{}/nr_hugepages", ndir(nid, kb)));
        }
    }
    let before: Vec<_> = SIZES
        .iter()
        .map(|&kb| counters(kb))
        .collect::<Result<_, _>>()?;
    let over0 = sys::read(&format!("{}/nr_overcommit_hugepages", hdir(2048)))?;
    for path in &writable {
        for bad in [
            "",
            "\n",
            "abc",
            "-1",
            "1x",
            " 1",
            "1 ",
            "+-1",
            "0x10",
            "1\n\n",
            "1.5",
            "18446744073709551616",
            "99999999999999999999999",
        ] {
            // Past 64 bits is ERANGE, as the kernel's kstrtoul gives hugetlb's files.
            let want = if bad.len() >= 20 && bad.bytes().all(|b| b.is_ascii_digit()) {
                Errno::RANGE
            } else {
                Errno::INVAL
            };
            match sys::write(path, bad) {
                Err(e) if e == want => {}
                // An empty write never reaches the store callback.
                Ok(()) if bad.is_empty() => {}
                other => bail!("write {bad:?} to {path}: {other:?}, expected {want:?}"),
            }
        }
    }
    let after: Vec<_> = SIZES
        .iter()
        .map(|&kb| counters(kb))
        .collect::<Result<_, _>>()?;
    ensure!(before == after, "counters changed: {before:?} -> {after:?}");
    let over1 = sys::read(&format!("{}/nr_overcommit_hugepages", hdir(2048)))?;
    ensure!(over0 == over1, "overcommit changed: {over0:?} -> {over1:?}");
    for path in [
        "free_hugepages",
        "resv_hugepages",
        "surplus_hugepages",
        "stats",
    ] {
        let p = format!("{}/{path}", hdir(2048));
        ensure!(sys::write(&p, "1").is_err(), "{p} accepted a write");
    }
    Ok(())
}

fn overcommit() -> TestResult {
    let _m = Fresh::new()?;
    let p2 = format!("{}/nr_overcommit_hugepages", hdir(2048));
    sys::write_ok(&p2, "7")?;
    ensure!(
        sys::read_u64(&p2)? == 7,
        "2 MiB overcommit does not read back 7"
    );
    sys::write_ok(&p2, "0")?;
    let p1 = format!("{}/nr_overcommit_hugepages", hdir(1048576));
    ensure!(
        sys::write(&p1, "1") == Err(Errno::INVAL),
        "1 GiB overcommit must be EINVAL, as upstream"
    );
    ensure!(sys::read_u64(&p1)? == 0, "1 GiB overcommit changed");
    Ok(())
}

fn oversized_request() -> TestResult {
    let _m = Fresh::new()?;
    let total_kb = sys::meminfo_kb("MemTotal")?;
    // Far more than memory: allocates what it can, reports the reached count, no error.
    set_nr(2048, u64::MAX)?;
    let (nr, free, _, _) = counters(2048)?;
    ensure!(nr > 0 && nr == free, "reached nr {nr}, free {free}");
    ensure!(
        nr * 2048 < total_kb,
        "reached {nr} pages, more than MemTotal {total_kb} kB"
    );
    check_consistent(2048)?;
    set_nr(2048, 0)?;
    ensure!(counters(2048)?.0 == 0, "did not shrink back to 0");
    Ok(())
}

fn gigantic_runtime() -> TestResult {
    let _m = Fresh::new()?;
    let _gb = sys::lend_1g(2)?;
    let (nr, free, _, _) = counters(1048576)?;
    let stats = sys::read(&format!("{}/stats", hdir(1048576)))?;
    ensure!(
        nr == 2 && free == 2,
        "1 GiB pool reached {nr} (free {free}), want 2; stats:\n{stats}"
    );
    check_consistent(1048576)?;
    println!("    1 GiB stats after allocating 2 pages:");
    for l in stats
        .lines()
        .filter(|l| l.starts_with("gigantic_") || l.starts_with("alloc_"))
    {
        println!("      {l}");
    }
    // The pages were lent by the kernel's pool (MemFree did not move): freeing them to the
    // buddy allocator must raise MemFree by 2 GiB, or the pool held no real memory.
    let free1 = sys::free_kb()?;
    set_nr(1048576, 0)?;
    ensure!(counters(1048576)? == (0, 0, 0, 0), "did not shrink to 0");
    let free2 = sys::free_kb()?;
    ensure!(
        free2.saturating_sub(free1) >= 2 * 1024 * 1024 - 64 * 1024,
        "MemFree only rose from {free1} to {free2} kB when 2 GiB of pages were freed"
    );
    Ok(())
}

fn per_node_resize() -> TestResult {
    let nodes = sys::memory_nodes()?;
    ensure!(
        nodes.len() >= 2,
        "needs a guest with 2 NUMA nodes (tools/vm.sh --numa 2), has {nodes:?}"
    );
    let _m = Fresh::new()?;
    let (a, b) = (nodes[0], nodes[1]);
    // Precondition: room for the 15 pages on either node (the keeper's 1 GiB pages and the
    // kernel's own memory leave each node of the 8 GiB guest well over 1 GiB).
    for nid in [a, b] {
        let kb = sys::node_free_kb(nid)?;
        ensure!(
            kb >= 15 * 2048 * 4,
            "SUITE SETUP FAILURE: node {nid} has only {kb} kB free"
        );
    }
    let na = |n| format!("{}/nr_hugepages", ndir(n, 2048));
    sys::write_ok(&na(a), "6")?;
    ensure!(
        sys::read_u64(&na(a))? == 6 && sys::read_u64(&na(b))? == 0,
        "node {a} resize leaked to node {b}"
    );
    sys::write_ok(&na(b), "4")?;
    ensure!(
        sys::read_u64(&na(a))? == 6 && sys::read_u64(&na(b))? == 4,
        "node {b} resize touched node {a}"
    );
    ensure!(counters(2048)?.0 == 10, "global nr is not 6 + 4");
    check_consistent(2048)?;
    sys::write_ok(&na(a), "1")?;
    ensure!(
        sys::read_u64(&na(a))? == 1 && sys::read_u64(&na(b))? == 4,
        "shrinking node {a} only"
    );
    // Global growth goes round-robin over the nodes.
    set_nr(2048, 15)?;
    let (ca, cb) = (sys::read_u64(&na(a))?, sys::read_u64(&na(b))?);
    ensure!(
        ca + cb == 15 && ca >= 5 && cb >= 5,
        "round-robin growth gave {ca} + {cb}"
    );
    check_consistent(2048)?;
    Ok(())
}

fn meminfo_matches() -> TestResult {
    let _m = Fresh::new()?;
    set_nr(2048, 7)?;
    let m = sys::read(&format!("{ROOT}/meminfo"))?;
    let field = |name: &str| -> Option<u64> {
        m.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
    };
    ensure!(
        field("HugePages_Total:") == Some(7),
        "HugePages_Total in:\n{m}"
    );
    ensure!(
        field("HugePages_Free:") == Some(7),
        "HugePages_Free in:\n{m}"
    );
    ensure!(
        field("HugePages_Rsvd:") == Some(0),
        "HugePages_Rsvd in:\n{m}"
    );
    ensure!(
        field("HugePages_Surp:") == Some(0),
        "HugePages_Surp in:\n{m}"
    );
    ensure!(
        field("Hugepagesize:") == Some(2048),
        "Hugepagesize in:\n{m}"
    );
    ensure!(field("Hugetlb:") == Some(7 * 2048), "Hugetlb in:\n{m}");
    ensure!(
        field("hugepages-2048kB HugePages_Total:") == Some(7),
        "per-size block in:\n{m}"
    );
    ensure!(
        field("hugepages-1048576kB HugePages_Total:") == Some(0),
        "1 GiB block in:\n{m}"
    );
    let node_sum: u64 = sys::memory_nodes()?
        .iter()
        .filter_map(|n| field(&format!("Node {n} HugePages_Total:")))
        .sum();
    ensure!(node_sum == 7, "per-node lines sum to {node_sum} in:\n{m}");
    Ok(())
}

fn non_root_cannot_write() -> TestResult {
    let _m = Fresh::new()?;
    let path = format!("{}/nr_hugepages", hdir(2048));
    // A child that drops to nobody and tries to open the file for writing.
    let pid = fork(|| {
        if become_nobody().is_err() {
            return 2;
        }
        let r = rustix::fs::open(&path, rustix::fs::OFlags::WRONLY, rustix::fs::Mode::empty());
        i32::from(!matches!(r, Err(Errno::ACCESS)))
    })?;
    let status = wait(pid)?;
    ensure!(
        exited_0(status),
        "non-root open for writing was not refused with EACCES (child status {})",
        status.as_raw()
    );
    ensure!(counters(2048)?.0 == 0, "pool changed");
    Ok(())
}

fn concurrent() -> TestResult {
    let _m = Fresh::new()?;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || -> Result<u64> {
                let mut reads = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let m = sys::read(&format!("{ROOT}/meminfo"))?;
                    let get = |n: &str| {
                        m.lines()
                            .find_map(|l| l.strip_prefix(n))
                            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
                            .unwrap_or(u64::MAX)
                    };
                    let (t, f) = (get("HugePages_Total:"), get("HugePages_Free:"));
                    if f > t {
                        bail!("torn read: free {f} > total {t}");
                    }
                    reads += 1;
                }
                Ok(reads)
            })
        })
        .collect();
    let writers: Vec<_> = (0..3u64)
        .map(|w| {
            std::thread::spawn(move || -> Result<()> {
                for i in 0..20u64 {
                    set_nr(2048, (w * 7 + i * 3) % 24)?;
                }
                Ok(())
            })
        })
        .collect();
    for w in writers {
        w.join().map_err(|_| anyhow!("writer panicked"))??;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for r in readers {
        r.join().map_err(|_| anyhow!("reader panicked"))??;
    }
    check_consistent(2048)?;
    set_nr(2048, 9)?;
    ensure!(
        counters(2048)? == (9, 9, 0, 0),
        "final write of 9 not reflected"
    );
    Ok(())
}

fn load_parameters() -> TestResult {
    sys::ensure_unloaded()?;
    sys::insmod(&["hugepages_2m=6", "default_hugepagesz_kb=1048576"])?;
    let _m = Fresh; // empties the pools when done
    ensure!(
        counters(2048)? == (6, 6, 0, 0),
        "hugepages_2m=6 not allocated at load"
    );
    let m = sys::read(&format!("{ROOT}/meminfo"))?;
    ensure!(
        m.lines()
            .any(|l| l.starts_with("Hugepagesize:") && l.contains("1048576 kB")),
        "default size not 1 GiB in meminfo:\n{m}"
    );
    Ok(())
}

fn bad_load_parameter() -> TestResult {
    sys::ensure_unloaded()?;
    for bad in ["default_hugepagesz_kb=4096", "default_hugepagesz_kb=0"] {
        ensure!(sys::insmod(&[bad]).is_err(), "insmod with {bad} succeeded");
        ensure!(!sys::module_loaded()?, "module loaded with {bad}");
    }
    Ok(())
}

/// Load with 1 GiB of 2 MiB pages, then unload: MemFree must fall and come back by that
/// much. The tolerance (32 MiB both ways) covers what the rest of the guest frees or takes
/// meanwhile: with 128 MiB and 8 MiB it failed once (MemFree fell by 118.8 MiB only).
fn unload_returns_memory() -> TestResult {
    const PAGES: u64 = 512;
    const SLACK_KB: u64 = 32 * 1024;
    let want_kb = PAGES * 2048;
    sys::ensure_unloaded()?;
    let free0 = sys::free_kb()?;
    sys::insmod(&[&format!("hugepages_2m={PAGES}")])?;
    ensure!(
        counters(2048)?.0 == PAGES,
        "SUITE SETUP FAILURE: {PAGES} pages not allocated at load (MemFree {free0} kB)"
    );
    let free1 = sys::free_kb()?;
    ensure!(
        free0.saturating_sub(free1) + SLACK_KB >= want_kb,
        "MemFree {free0} -> {free1} kB for {want_kb} kB of pages"
    );
    sys::rmmod()?;
    let free2 = sys::free_kb()?;
    ensure!(
        free2 + SLACK_KB >= free0,
        "MemFree {free0} kB before load, {free2} kB after rmmod"
    );
    Ok(())
}
