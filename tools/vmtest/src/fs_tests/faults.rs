//! Fault paths and what they count: PMD and PUD faults, the 4 KiB fallback (THP "never",
//! `PR_SET_THP_DISABLE`), smaps' page size, zeroed recycled pages, a 1 GiB mapping.

use super::{map_ok, mount, stat, Fresh, MB2, MNT};
use crate::harness::TestResult;
use crate::map::{Map, PRIVATE, SHARED};
use crate::os::{in_child, umount};
use crate::sys::{self, ThpMode};
use anyhow::{ensure, Result};

/// With THP "never" the core skips `huge_fault` for the private (`VM_MIXEDMAP`) mappings,
/// and `PR_SET_THP_DISABLE` skips it for every file mapping: the 4 KiB handler then maps
/// the page with a PMD entry (a 2 MiB piece of a 1 GiB page), counted as a fallback.
pub(super) fn thp_never() -> TestResult {
    let f = Fresh::new(4)?;
    let _gb = sys::lend_1g(1)?;
    let _thp = ThpMode::set("never")?;
    mount("")?;
    let path = format!("{MNT}/f");
    let (pmd0, fb0) = (stat(2048, "faults_pmd")?, stat(2048, "faults_fallback")?);
    let s = map_ok(&path, MB2, SHARED)?;
    s.set(3, 0x33);
    let p = map_ok(&path, MB2, PRIVATE)?;
    let seen = p.get(3);
    p.set(4, 0x44);
    let (file4, priv4) = (s.get(4), p.get(4));
    ensure!(
        seen == 0x33 && priv4 == 0x44 && file4 == 0,
        "private mapping with THP never: saw {seen:#x}, wrote {priv4:#x}, file {file4:#x}"
    );
    let (pmd, fb) = (
        stat(2048, "faults_pmd")? - pmd0,
        stat(2048, "faults_fallback")? - fb0,
    );
    ensure!(
        pmd == 1 && fb == 1,
        "shared fault should be a PMD fault, private a fallback: pmd +{pmd}, fallback +{fb}"
    );
    let kps = smaps_kernel_page_size(p.addr())?;
    ensure!(kps == 2048, "KernelPageSize {kps} kB");
    // PR_SET_THP_DISABLE: even the shared (VM_PFNMAP) mapping takes the 4 KiB path.
    let child = in_child(|| {
        if rustix::thread::disable_transparent_huge_pages(true).is_err() {
            return false;
        }
        let Ok(q) = Map::of_path(&path, MB2, 0, SHARED) else {
            return false;
        };
        q.get(3) == 0x33
    })?;
    ensure!(child.is_none(), "PR_SET_THP_DISABLE child: {child:?}");
    drop(p);
    drop(s);
    sys::remove(&path)?;
    umount(MNT)?;
    mount("pagesize=1G")?;
    let g = format!("{MNT}/g");
    let fb0 = stat(1048576, "faults_fallback")?;
    let q = map_ok(&g, 1 << 30, PRIVATE)?;
    // Three 2 MiB pieces of its page.
    q.set(5, 5);
    q.set((512 << 20) + 5, 6);
    let ok = q.get(5) == 5 && q.get((512 << 20) + 5) == 6 && q.get(MB2 + 5) == 0;
    let fb = stat(1048576, "faults_fallback")? - fb0;
    ensure!(ok, "1 GiB private data with THP never");
    ensure!(
        fb == 3,
        "1 GiB page in 2 MiB pieces: fallback +{fb}, want 3"
    );
    drop(q);
    sys::remove(&g)?;
    f.finish()
}

pub(super) fn recycled_zero() -> TestResult {
    let f = Fresh::new(2)?;
    mount("")?;
    for (name, fill) in [("a", 0xaau8), ("b", 0x55)] {
        let path = format!("{MNT}/{name}");
        let m = map_ok(&path, 2 * MB2, SHARED)?;
        ensure!(
            m.read(0, 2 * MB2).iter().all(|&b| b == 0),
            "file {name}: a recycled page is not zero"
        );
        m.fill(0, 2 * MB2, fill);
        drop(m);
        sys::remove(&path)?;
    }
    f.finish()
}

/// The `KernelPageSize` in kB of the mapping holding `addr`, from /proc/self/smaps.
fn smaps_kernel_page_size(addr: usize) -> Result<u64> {
    sys::smaps_field(addr, "KernelPageSize")
}

pub(super) fn counters_smaps_2m() -> TestResult {
    let f = Fresh::new(4)?;
    mount("")?;
    let (pmd0, fb0) = (stat(2048, "faults_pmd")?, stat(2048, "faults_fallback")?);
    let m = map_ok(&format!("{MNT}/a"), 4 * MB2, SHARED)?;
    // Every 4 KiB page is touched.
    for i in (0..4 * MB2).step_by(4096) {
        m.set(i, 1);
    }
    let (pmd, fb) = (
        stat(2048, "faults_pmd")? - pmd0,
        stat(2048, "faults_fallback")? - fb0,
    );
    ensure!(
        pmd == 4 && fb == 0,
        "faults: {pmd} PMD, {fb} fallback; want 4 and 0"
    );
    let kps = smaps_kernel_page_size(m.addr())?;
    ensure!(kps == 2048, "KernelPageSize {kps} kB");
    eprintln!("    fault counters: faults_pmd +{pmd}, faults_fallback +{fb}");
    drop(m);
    sys::remove(&format!("{MNT}/a"))?;
    f.finish()
}

pub(super) fn gigantic_1g() -> TestResult {
    let f = Fresh::new(0)?;
    let _gb = sys::lend_1g(1)?;
    mount("pagesize=1G")?;
    let gb = 1usize << 30;
    let pud0 = stat(1048576, "faults_pud")?;
    let m = map_ok(&format!("{MNT}/g"), gb, SHARED)?;
    ensure!(
        m.addr().is_multiple_of(gb),
        "address {:?} not 1 GiB aligned",
        m.ptr()
    );
    for i in (0..gb).step_by(4096) {
        ensure!(m.get(i) == 0, "1 GiB page not zeroed at {i}");
        m.set(i, (i >> 12) as u8);
    }
    ensure!(
        (0..gb).step_by(4096).all(|i| m.get(i) == (i >> 12) as u8),
        "1 GiB pattern"
    );
    let pud = stat(1048576, "faults_pud")? - pud0;
    let fb = stat(1048576, "faults_fallback")?;
    ensure!(
        pud == 1 && fb == 0,
        "1 GiB faults: {pud} PUD, {fb} fallback"
    );
    let kps = smaps_kernel_page_size(m.addr())?;
    ensure!(kps == 1048576, "KernelPageSize {kps} kB");
    eprintln!("    fault counters: faults_pud +{pud}, faults_fallback {fb}");
    drop(m);
    sys::remove(&format!("{MNT}/g"))?;
    f.finish()
}
