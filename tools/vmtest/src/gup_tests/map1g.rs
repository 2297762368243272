//! 1 GiB pages made of 2 MiB folios (`pmd_mappable`, `map=pmd`): private mappings of them,
//! and bad input to the knob and the mount option. rhugetlbfs only: the kernel's hugetlbfs
//! has neither.

use crate::harness::TestResult;
use crate::map::{PRIVATE, RW, SHARED};
use crate::os::{mount_fs, umount};
use crate::own_tests::{map_ok, Mnt};
use crate::sys::{self, Fs};
use anyhow::{ensure, Context, Result};
use rustix::io::Errno;

const GB: usize = 1 << 30;

/// A private mapping of a file on a `map=pmd` mount, whose page is 512 folios: the core
/// would count a PUD entry's GUP references on the first page's folio only, so the private
/// page is mapped in 2 MiB pieces (fallback faults, no PUD fault), and copy-on-write keeps
/// the file and the mapping apart as for any private mapping.
pub(super) fn private_pieces() -> TestResult {
    let m = Mnt::with_module(Fs::Rh, 1048576, 2, ",map=pmd", &["pmd_mappable_1g=1"])?;
    let path = m.path("priv");
    let s = map_ok(&path, GB, RW, SHARED)?;
    s.set(0, b'f');
    s.set(GB / 2, b'g');
    drop(s);
    let (pud0, fb0) = (
        sys::stat(1048576, "faults_pud")?,
        sys::stat(1048576, "faults_fallback")?,
    );
    let p = map_ok(&path, GB, RW, PRIVATE)?;
    let seen = (p.get(0), p.get(GB / 2));
    p.set(0, b'P');
    p.set(GB / 2 + 1, b'Q');
    let (pud, fb) = (
        sys::stat(1048576, "faults_pud")? - pud0,
        sys::stat(1048576, "faults_fallback")? - fb0,
    );
    ensure!(
        seen == (b'f', b'g'),
        "the private mapping saw {seen:?} of the file"
    );
    ensure!(
        pud == 0 && fb >= 2,
        "private faults on a page of 512 folios: {pud} PUD, {fb} 2 MiB (want 0 and 2 or more)"
    );
    drop(p);
    let s = map_ok(&path, GB, RW, SHARED)?;
    ensure!(
        (s.get(0), s.get(GB / 2 + 1)) == (b'f', 0),
        "a private write reached the file"
    );
    drop(s);
    sys::remove(&path)?;
    m.check_idle()
}

/// Writes `v` to `file` expecting `want`; the value read back must be `after`.
fn knob(file: &str, v: &str, want: Result<(), Errno>, after: &str) -> Result<()> {
    let r = sys::write(file, v);
    ensure!(r == want, "write {v:?} to {file}: {r:?}, want {want:?}");
    let now = sys::read(file)?;
    ensure!(
        now.trim() == after,
        "{file} reads {now:?} after {v:?}, want {after}"
    );
    Ok(())
}

/// `pmd_mappable` takes exactly 0 or 1, only while the 1 GiB pool is empty, and is always
/// 1 for 2 MiB pages; `map=` takes exactly `pud` or `pmd`, `map=pud` needs 1 GiB pages, and
/// `map=pmd` on 1 GiB pages needs `pmd_mappable`. Each refusal changes nothing: no mount,
/// no counter moved. The module refuses a bad `pmd_mappable_1g`.
pub(super) fn bad_input() -> TestResult {
    sys::ensure_unloaded()?;
    let r = sys::insmod(&["pmd_mappable_1g=2"]);
    ensure!(
        r.is_err() && !sys::module_loaded()?,
        "insmod pmd_mappable_1g=2 was accepted"
    );
    sys::insmod(&[])?;
    let (k2, k1) = (
        format!("{}/pmd_mappable", sys::hdir(2048)),
        format!("{}/pmd_mappable", sys::hdir(1048576)),
    );
    ensure!(sys::read(&k2)?.trim() == "1", "2 MiB pmd_mappable is not 1");
    knob(&k2, "0\n", Err(Errno::INVAL), "1")?;
    knob(&k2, "1\n", Ok(()), "1")?;
    for bad in ["2\n", "x\n", "\n", "1 \n", "-1\n", "01x"] {
        knob(&k1, bad, Err(Errno::INVAL), "0")?;
    }
    knob(&k1, "1\n", Ok(()), "1")?;
    knob(&k1, "0\n", Ok(()), "0")?;
    let dir = "/tmp/gup-bad";
    std::fs::create_dir_all(dir)?;
    let _ = umount(dir);
    let counters = || -> Result<Vec<(u64, u64, u64, u64)>> {
        sys::SIZES.iter().map(|&kb| sys::counters(kb)).collect()
    };
    let before = counters()?;
    for (opts, what) in [
        (
            "pagesize=1G,map=pmd",
            "map=pmd with 1 GiB pages of one folio",
        ),
        ("pagesize=2M,map=pud", "map=pud with 2 MiB pages"),
        ("pagesize=1G,map=PMD", "map=PMD"),
        ("pagesize=1G,map=", "map= empty"),
        ("pagesize=1G,map", "map without a value"),
        ("pagesize=1G,map=pte", "map=pte"),
    ] {
        let r = mount_fs("rhugetlbfs", dir, opts);
        if r.is_ok() {
            let _ = umount(dir);
        }
        ensure!(
            r == Err(Errno::INVAL),
            "mount -o {opts} ({what}): {r:?}, want EINVAL"
        );
    }
    let mounts = sys::read("/proc/mounts")?;
    ensure!(!mounts.contains(dir), "a refused mount is left: {mounts}");
    ensure!(counters()? == before, "a refused mount moved the counters");
    // With pages in the pool the make cannot change.
    let loan = sys::lend_1g(1)?;
    knob(&k1, "1\n", Err(Errno::BUSY), "0")?;
    drop(loan);
    knob(&k1, "1\n", Ok(()), "1")?;
    mount_fs("rhugetlbfs", dir, "pagesize=1G,map=pmd").context("map=pmd with pmd_mappable")?;
    let shown = sys::read("/proc/mounts")?;
    ensure!(
        shown
            .lines()
            .any(|l| l.contains(dir) && l.contains("map=pmd")),
        "/proc/mounts does not show map=pmd: {shown}"
    );
    umount(dir)?;
    Ok(())
}
