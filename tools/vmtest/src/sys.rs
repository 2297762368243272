//! Small helpers over the guest's files and commands.

use std::process::Command;

/// The module under test (`RH_KO`, set by `tools/vm.sh`).
pub fn ko_path() -> Result<String, String> {
    std::env::var("RH_KO")
        .ok()
        .filter(|p| !p.is_empty())
        .ok_or_else(|| "RH_KO is not set: run through tools/vm.sh".to_string())
}

/// Runs a command; Ok(stdout) on success, Err with its stderr otherwise.
pub fn run(prog: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(prog)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run {prog}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{prog} {} failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Reads a whole (sysfs/proc) file as a string.
pub fn read(path: &str) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("read {path}: {e}"))
}

/// Whether the module is loaded, by `/proc/modules`.
pub fn module_loaded() -> Result<bool, String> {
    Ok(read("/proc/modules")?
        .lines()
        .any(|l| l.split_whitespace().next() == Some("rhugetlbfs")))
}

/// Loads the module with the given parameters.
pub fn insmod(params: &[&str]) -> Result<(), String> {
    let ko = ko_path()?;
    let mut args = vec![ko.as_str()];
    args.extend_from_slice(params);
    run("insmod", &args).map(drop)
}

/// Unloads the module.
pub fn rmmod() -> Result<(), String> {
    run("rmmod", &["rhugetlbfs"]).map(drop)
}

/// Makes sure the module is loaded (with default parameters).
pub fn ensure_loaded() -> Result<(), String> {
    if !module_loaded()? {
        insmod(&[])?;
    }
    Ok(())
}

/// Makes sure the module is not loaded.
pub fn ensure_unloaded() -> Result<(), String> {
    if module_loaded()? {
        rmmod()?;
    }
    Ok(())
}

/// Writes `data` to a (sysfs) file in one write(2); returns the errno on failure.
pub fn write(path: &str, data: &str) -> Result<(), i32> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| e.raw_os_error().unwrap_or(0))?;
    f.write_all(data.as_bytes())
        .map_err(|e| e.raw_os_error().unwrap_or(0))
}

/// Writes and expects success.
pub fn write_ok(path: &str, data: &str) -> Result<(), String> {
    write(path, data).map_err(|e| format!("write {data:?} to {path}: errno {e}"))
}

/// Reads a file holding one unsigned number.
pub fn read_u64(path: &str) -> Result<u64, String> {
    let s = read(path)?;
    s.trim()
        .parse()
        .map_err(|e| format!("{path} holds {s:?}, not a number: {e}"))
}

/// A `/proc/meminfo` field in kB.
pub fn meminfo_kb(field: &str) -> Result<u64, String> {
    let s = read("/proc/meminfo")?;
    s.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .ok_or_else(|| format!("no {field} in /proc/meminfo"))
}

/// The NUMA nodes that have memory, from `/sys/devices/system/node/has_memory` ("0-1").
pub fn memory_nodes() -> Result<Vec<usize>, String> {
    let s = read("/sys/devices/system/node/has_memory").unwrap_or_else(|_| "0".into());
    let mut nodes = Vec::new();
    for part in s.trim().split(',').filter(|p| !p.is_empty()) {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let (a, b): (usize, usize) = (
            a.parse().map_err(|e| format!("has_memory {s:?}: {e}"))?,
            b.parse().map_err(|e| format!("has_memory {s:?}: {e}"))?,
        );
        nodes.extend(a..=b);
    }
    Ok(nodes)
}

/// Free memory in kB as the buddy allocator sees it: `MemFree` plus the pages parked on
/// per-CPU lists (`count:` lines of /proc/zoneinfo), which `MemFree` leaves out. Freed huge
/// pages can sit there for a while (order-9 pages have their own per-CPU lists with THP), so
/// `MemFree` alone wanders by tens of MiB. Page cache is dropped first for the same reason.
pub fn free_kb() -> Result<u64, String> {
    let _ = std::fs::write("/proc/sys/vm/drop_caches", "3");
    let zoneinfo = read("/proc/zoneinfo")?;
    let pcp_pages: u64 = zoneinfo
        .lines()
        .filter_map(|l| l.trim().strip_prefix("count:"))
        .filter_map(|v| v.trim().parse::<u64>().ok())
        .sum();
    Ok(meminfo_kb("MemFree")? + pcp_pages * 4)
}

/// The huge page sizes rhugetlbfs has, in kB.
pub const SIZES: [u64; 2] = [2048, 1048576];

/// `/sys/fs/rhugetlbfs/hugepages/hugepages-<kb>kB`.
pub fn hdir(kb: u64) -> String {
    format!("/sys/fs/rhugetlbfs/hugepages/hugepages-{kb}kB")
}

/// Writes the global `nr_hugepages` of one size.
pub fn set_nr(kb: u64, n: u64) -> Result<(), String> {
    write_ok(&format!("{}/nr_hugepages", hdir(kb)), &format!("{n}\n"))
}

/// Grows the 1 GiB pool to `n` pages as an administrator would on a busy machine. A small
/// guest (and the debug kernel's KASAN quarantine and kmemleak objects) can leave unmovable
/// pages in every free 1 GiB range for a while, as it would for the kernel's hugetlbfs: on
/// a shortfall the page cache and reclaimable slab are dropped,
/// memory is compacted, and the request is made again, twice at most. `Ok(false)` if the
/// pool still has fewer than `n` pages.
pub fn grow_1g(n: u64) -> Result<bool, String> {
    for attempt in 0..3 {
        if attempt > 0 {
            let _ = std::fs::write("/proc/sys/vm/drop_caches", "3");
            let _ = std::fs::write("/proc/sys/vm/compact_memory", "1");
            std::thread::sleep(std::time::Duration::from_secs(2));
        }
        set_nr(1048576, n)?;
        if counter(1048576, "nr_hugepages")? >= n {
            return Ok(true);
        }
    }
    Ok(false)
}

/// One counter file of one size (`free_hugepages`, ...).
pub fn counter(kb: u64, name: &str) -> Result<u64, String> {
    read_u64(&format!("{}/{name}", hdir(kb)))
}

/// The global counters of one size: (nr, free, resv, surplus).
pub fn counters(kb: u64) -> Result<(u64, u64, u64, u64), String> {
    Ok((
        counter(kb, "nr_hugepages")?,
        counter(kb, "free_hugepages")?,
        counter(kb, "resv_hugepages")?,
        counter(kb, "surplus_hugepages")?,
    ))
}
