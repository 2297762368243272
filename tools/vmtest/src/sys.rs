//! Small helpers over the guest's files and commands.

use anyhow::{bail, ensure, Context, Result};
use rustix::io::Errno;
use std::process::Command;

/// The module under test (`RH_KO`, set by `tools/vm.sh`).
pub fn ko_path() -> Result<String> {
    std::env::var("RH_KO")
        .ok()
        .filter(|p| !p.is_empty())
        .context("RH_KO is not set: run through tools/vm.sh")
}

/// Runs a command; Ok(stdout) on success, Err with its stderr otherwise.
pub fn run(prog: &str, args: &[&str]) -> Result<String> {
    let out = Command::new(prog)
        .args(args)
        .output()
        .with_context(|| format!("cannot run {prog}"))?;
    ensure!(
        out.status.success(),
        "{prog} {} failed ({}): {}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Reads a whole (sysfs/proc) file as a string.
pub fn read(path: &str) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("read {path}"))
}

/// Removes a file.
pub fn remove(path: &str) -> Result<()> {
    std::fs::remove_file(path).with_context(|| format!("rm {path}"))
}

/// Whether the module is loaded, by `/proc/modules`.
pub fn module_loaded() -> Result<bool> {
    Ok(read("/proc/modules")?
        .lines()
        .any(|l| l.split_whitespace().next() == Some("rhugetlbfs")))
}

/// Loads the module with the given parameters.
pub fn insmod(params: &[&str]) -> Result<()> {
    let ko = ko_path()?;
    let mut args = vec![ko.as_str()];
    args.extend_from_slice(params);
    run("insmod", &args).map(drop)
}

/// Unloads the module.
pub fn rmmod() -> Result<()> {
    run("rmmod", &["rhugetlbfs"]).map(drop)
}

/// Makes sure the module is loaded (with default parameters).
pub fn ensure_loaded() -> Result<()> {
    if !module_loaded()? {
        insmod(&[])?;
    }
    Ok(())
}

/// Makes sure the module is not loaded.
pub fn ensure_unloaded() -> Result<()> {
    if module_loaded()? {
        rmmod()?;
    }
    Ok(())
}

/// Writes `data` to a (sysfs) file in one write(2); returns the errno on failure.
pub fn write(path: &str, data: &str) -> Result<(), Errno> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| errno_of(&e))?;
    f.write_all(data.as_bytes()).map_err(|e| errno_of(&e))
}

/// The errno of a failed std call (0 for an error that has none).
pub fn errno_of(e: &std::io::Error) -> Errno {
    Errno::from_raw_os_error(e.raw_os_error().unwrap_or(0))
}

/// Writes and expects success.
pub fn write_ok(path: &str, data: &str) -> Result<()> {
    write(path, data).with_context(|| format!("write {data:?} to {path}"))
}

/// Reads a file holding one unsigned number.
pub fn read_u64(path: &str) -> Result<u64> {
    let s = read(path)?;
    s.trim()
        .parse()
        .with_context(|| format!("{path} holds {s:?}, not a number"))
}

/// A `/proc/meminfo` field in kB.
pub fn meminfo_kb(field: &str) -> Result<u64> {
    let s = read("/proc/meminfo")?;
    s.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .with_context(|| format!("no {field} in /proc/meminfo"))
}

/// The NUMA nodes that have memory, from `/sys/devices/system/node/has_memory` ("0-1").
pub fn memory_nodes() -> Result<Vec<usize>> {
    let s = read("/sys/devices/system/node/has_memory").unwrap_or_else(|_| "0".into());
    let mut nodes = Vec::new();
    for part in s.trim().split(',').filter(|p| !p.is_empty()) {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let (a, b): (usize, usize) = (
            a.parse().with_context(|| format!("has_memory {s:?}"))?,
            b.parse().with_context(|| format!("has_memory {s:?}"))?,
        );
        nodes.extend(a..=b);
    }
    Ok(nodes)
}

/// Free memory in kB as the buddy allocator sees it: `MemFree` plus the pages parked on
/// per-CPU lists (`count:` lines of /proc/zoneinfo), which `MemFree` leaves out. Freed huge
/// pages can sit there for a while (order-9 pages have their own per-CPU lists with THP), so
/// `MemFree` alone wanders by tens of MiB. Page cache is dropped first for the same reason.
pub fn free_kb() -> Result<u64> {
    free_kb_inner()
}

/// As [`free_kb`], plus the slab (`Slab:` of /proc/meminfo): the memory that is not the
/// pages of a leak. A leak of pages (a pool page or range never given back) shows; slab
/// that grows with a run does not: caches of inodes and dentries, and on the debug kernel
/// KASAN's quarantine of freed objects, which holds up to 1/32 of memory and fills over
/// the first minutes of a guest. Slab leaks are kmemleak's to find.
pub fn free_or_slab_kb() -> Result<u64> {
    Ok(free_kb_inner()? + meminfo_kb("Slab")?)
}

fn free_kb_inner() -> Result<u64> {
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
pub fn set_nr(kb: u64, n: u64) -> Result<()> {
    write_ok(&format!("{}/nr_hugepages", hdir(kb)), &format!("{n}\n"))
}

/// `/sys/devices/system/node/node<nid>/hugepages/hugepages-<kb>kB`: the kernel's own pool
/// of one size on one node.
fn keeper_dir_of(nid: usize, kb: u64) -> String {
    format!("/sys/devices/system/node/node{nid}/hugepages/hugepages-{kb}kB")
}

/// The kernel's own 1 GiB pool on one node, the keeper of the suite's 1 GiB pages.
fn keeper_dir(nid: usize) -> String {
    keeper_dir_of(nid, 1048576)
}

/// `/sys/fs/rhugetlbfs/node/node<nid>/hugepages/hugepages-<kb>kB`.
pub fn node_hdir(nid: usize, kb: u64) -> String {
    format!("/sys/fs/rhugetlbfs/node/node{nid}/hugepages/hugepages-{kb}kB")
}

/// 1 GiB pages lent to rhugetlbfs's pool by the kernel's own hugetlb pool.
///
/// A 1 GiB range free of unmovable pages cannot be hoped for late in a suite that reloads
/// the module and fills memory many times over (the debug kernel's KASAN quarantine and
/// kmemleak objects land anywhere). So the guest's kernel reserves 1 GiB pages at boot,
/// before memory fragments (`hugepagesz=1G hugepages=0:2,1:1`, see tools/test.sh), and a
/// test borrows them: one at a time, the kernel's pool on a node shrinks by one page, which
/// frees a whole aligned 1 GiB range, and rhugetlbfs's pool on the same node grows by one
/// at once, finding that range. Dropping the loan empties rhugetlbfs's 1 GiB pool (all its
/// pages must be free by then) and gives the pages back to the keeper.
pub struct Loan1g {
    /// Pages taken from the keeper, per node id.
    taken: Vec<u64>,
}

/// Borrows `n` 1 GiB pages into rhugetlbfs's pool (which must be empty of 1 GiB pages).
/// A shortfall is a failure of the suite's setup, not of the test, and says so, with both
/// pools' state and rhugetlbfs's 1 GiB statistics.
pub fn lend_1g(n: u64) -> Result<Loan1g> {
    let nodes = memory_nodes()?;
    let mut loan = Loan1g {
        taken: vec![0; nodes.iter().max().map_or(1, |m| m + 1)],
    };
    let (mut got, mut lost) = (0, 0);
    while got < n {
        // Spread a loan over the nodes: the node lent least so far, then the fullest keeper.
        let best = nodes
            .iter()
            .map(|&nid| {
                let free = read_u64(&format!("{}/free_hugepages", keeper_dir(nid))).unwrap_or(0);
                (nid, free)
            })
            .filter(|&(_, free)| free > 0)
            .min_by_key(|&(nid, free)| (loan.taken[nid], std::cmp::Reverse(free)));
        let Some((nid, _)) = best else {
            bail!(loan.setup_failure(n, got, lost));
        };
        let knr = format!("{}/nr_hugepages", keeper_dir(nid));
        let mnr = format!("{}/nr_hugepages", node_hdir(nid, 1048576));
        let (k, m) = (read_u64(&knr)?, read_u64(&mnr)?);
        write_ok(&knr, &format!("{}\n", k - 1))?;
        if read_u64(&knr)? != k - 1 {
            bail!(loan.setup_failure(n, got, lost));
        }
        loan.taken[nid] += 1;
        write_ok(&mnr, &format!("{}\n", m + 1))?;
        if read_u64(&mnr)? == m + 1 {
            got += 1;
        } else {
            // Something took a page of the freed range in between: the next keeper page.
            lost += 1;
        }
    }
    Ok(loan)
}

impl Loan1g {
    fn setup_failure(&self, want: u64, got: u64, lost: u64) -> String {
        let mut msg = format!(
            "SUITE SETUP FAILURE: could not lend {want} 1 GiB pages to rhugetlbfs ({got} lent, \
             {lost} ranges lost in the hand-over); the guest must boot with \
             `hugepagesz=1G hugepages=...` (tools/test.sh does)\n"
        );
        for nid in memory_nodes().unwrap_or_default() {
            let f = |d: &str, c: &str| read(&format!("{d}/{c}")).unwrap_or_default();
            msg += &format!(
                "    node {nid}: kernel pool nr {} free {}, rhugetlbfs nr {}\n",
                f(&keeper_dir(nid), "nr_hugepages").trim(),
                f(&keeper_dir(nid), "free_hugepages").trim(),
                f(&node_hdir(nid, 1048576), "nr_hugepages").trim(),
            );
        }
        msg + "    rhugetlbfs 1 GiB stats:\n"
            + &read(&format!("{}/stats", hdir(1048576))).unwrap_or_else(|e| format!("{e:#}"))
    }
}

impl Drop for Loan1g {
    fn drop(&mut self) {
        if module_loaded().unwrap_or(false) {
            let _ = set_nr(1048576, 0);
        }
        for (nid, &taken) in self.taken.iter().enumerate().filter(|(_, t)| **t > 0) {
            let knr = format!("{}/nr_hugepages", keeper_dir(nid));
            let Ok(k) = read_u64(&knr) else { continue };
            let _ = write(&knr, &format!("{}\n", k + taken));
            let back = read_u64(&knr).unwrap_or(0).saturating_sub(k);
            if back < taken {
                // The next loan has a spare page less; it fails loudly if that is too few.
                eprintln!(
                    "    note: the keeper got {back} of {taken} 1 GiB pages back on node {nid}"
                );
            }
        }
    }
}

/// Free memory of one NUMA node in kB (`/sys/devices/system/node/node<nid>/meminfo`).
pub fn node_free_kb(nid: usize) -> Result<u64> {
    let path = format!("/sys/devices/system/node/node{nid}/meminfo");
    read(&path)?
        .lines()
        .find_map(|l| l.split_once("MemFree:").map(|(_, v)| v.trim()))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .with_context(|| format!("no MemFree in {path}"))
}

/// Sets the 2 MiB pool to `n` pages as a test's precondition: reaching fewer is a failure
/// of the suite's setup (memory the suite should have left free), reported as such.
pub fn pool_2m(n: u64) -> Result<()> {
    set_nr(2048, n)?;
    let nr = counter(2048, "nr_hugepages")?;
    ensure!(
        nr == n,
        "SUITE SETUP FAILURE: the 2 MiB pool reached {nr} of {n} pages (MemFree {} kB)",
        meminfo_kb("MemFree").unwrap_or(0)
    );
    Ok(())
}

/// One counter file of one size of rhugetlbfs (`free_hugepages`, ...).
pub fn counter(kb: u64, name: &str) -> Result<u64> {
    Fs::Rh.counter(kb, name)
}

/// The global counters of one size of rhugetlbfs: (nr, free, resv, surplus).
pub fn counters(kb: u64) -> Result<(u64, u64, u64, u64)> {
    Fs::Rh.counters(kb)
}

/// Which implementation a test runs on: the tests that compare run the same steps on both.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Fs {
    /// rhugetlbfs.
    Rh,
    /// The kernel's own hugetlbfs: the reference.
    Kernel,
}

impl Fs {
    /// The file system type to mount.
    pub fn fstype(self) -> &'static str {
        match self {
            Fs::Rh => "rhugetlbfs",
            Fs::Kernel => "hugetlbfs",
        }
    }

    /// The global sysfs directory of one size.
    pub fn hdir(self, kb: u64) -> String {
        match self {
            Fs::Rh => hdir(kb),
            Fs::Kernel => format!("/sys/kernel/mm/hugepages/hugepages-{kb}kB"),
        }
    }

    /// The per-node sysfs directory of one size.
    pub fn node_hdir(self, nid: usize, kb: u64) -> String {
        match self {
            Fs::Rh => node_hdir(nid, kb),
            Fs::Kernel => keeper_dir_of(nid, kb),
        }
    }

    /// One global counter file of one size.
    pub fn counter(self, kb: u64, name: &str) -> Result<u64> {
        read_u64(&format!("{}/{name}", self.hdir(kb)))
    }

    /// The global counters of one size: (nr, free, resv, surplus).
    pub fn counters(self, kb: u64) -> Result<(u64, u64, u64, u64)> {
        Ok((
            self.counter(kb, "nr_hugepages")?,
            self.counter(kb, "free_hugepages")?,
            self.counter(kb, "resv_hugepages")?,
            self.counter(kb, "surplus_hugepages")?,
        ))
    }
}

/// The fields of the /proc/self/smaps entry of the mapping holding `addr`, in kB (the
/// `name: value kB` lines; `VmFlags` and other lines left out).
pub fn smaps(addr: usize) -> Result<std::collections::HashMap<String, u64>> {
    let s = read("/proc/self/smaps")?;
    let mut inside = false;
    let mut fields = std::collections::HashMap::new();
    for l in s.lines() {
        if let Some((range, _)) = l.split_once(' ') {
            if let Some((a, b)) = range.split_once('-') {
                if let (Ok(a), Ok(b)) = (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16))
                {
                    if inside {
                        break;
                    }
                    inside = a <= addr && addr < b;
                    continue;
                }
            }
        }
        if inside {
            if let Some((k, v)) = l.split_once(':') {
                if let Some(n) = v
                    .trim()
                    .strip_suffix("kB")
                    .and_then(|n| n.trim().parse().ok())
                {
                    fields.insert(k.to_string(), n);
                }
            }
        }
    }
    ensure!(inside, "no smaps entry for {addr:#x}");
    Ok(fields)
}

/// The hugetlb pages of an smaps entry in kB (`Shared_Hugetlb` and `Private_Hugetlb`: the
/// kernel splits them by the pages' map count, not by the mapping's kind).
pub fn smaps_hugetlb(s: &std::collections::HashMap<String, u64>) -> u64 {
    ["Shared_Hugetlb", "Private_Hugetlb"]
        .iter()
        .map(|k| s.get(*k).copied().unwrap_or(0))
        .sum()
}

/// One field (in kB) of the smaps entry of the mapping holding `addr`.
pub fn smaps_field(addr: usize, field: &str) -> Result<u64> {
    smaps(addr)?
        .get(field)
        .copied()
        .with_context(|| format!("no {field} in the smaps entry for {addr:#x}"))
}

/// The system THP mode (`/sys/kernel/mm/transparent_hugepage/enabled`), put back on drop.
pub struct ThpMode(String);

const THP_ENABLED: &str = "/sys/kernel/mm/transparent_hugepage/enabled";

impl ThpMode {
    /// Sets the mode (`always`, `madvise`, `never`).
    pub fn set(mode: &str) -> Result<Self> {
        let cur = read(THP_ENABLED)?;
        let old = cur
            .split_whitespace()
            .find_map(|w| w.strip_prefix('[')?.strip_suffix(']'))
            .with_context(|| format!("THP mode in {cur:?}"))?
            .to_string();
        write_ok(THP_ENABLED, mode)?;
        Ok(ThpMode(old))
    }
}

impl Drop for ThpMode {
    fn drop(&mut self) {
        let _ = write_ok(THP_ENABLED, &self.0);
    }
}

/// One counter of rhugetlbfs's `stats` file for pages of `kb`.
pub fn stat(kb: u64, name: &str) -> Result<u64> {
    let s = read(&format!("{}/stats", hdir(kb)))?;
    s.lines()
        .find_map(|l| {
            let (k, v) = l.split_once(' ')?;
            (k == name).then(|| v.trim().parse().ok())?
        })
        .with_context(|| format!("no {name} in stats"))
}

/// The implementations a test runs on: rhugetlbfs, then the kernel's hugetlbfs (the
/// reference), unless `RH_REFERENCE=0` (the debug kernel's suite: the reference's behaviour
/// does not depend on the kernel's debug options, and the release kernel's suite compares
/// with it; the debug suite checks rhugetlbfs under KASAN, lockdep and kmemleak).
pub fn implementations() -> &'static [Fs] {
    if std::env::var("RH_REFERENCE").is_ok_and(|v| v == "0") {
        &[Fs::Rh]
    } else {
        &[Fs::Rh, Fs::Kernel]
    }
}
