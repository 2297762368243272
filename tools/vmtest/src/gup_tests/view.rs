//! What the rest of the kernel sees of a shared mapping: `/proc/PID/pagemap` frames, smaps
//! (`KernelPageSize`, `Rss`, `FilePmdMapped`), and how the entries are sized with THP
//! "never", `MADV_NOHUGEPAGE` and `PR_SET_THP_DISABLE`.

use crate::harness::TestResult;
use crate::map::{Map, RW, SHARED};
use crate::os::in_child_bounded;
use crate::own_tests::{map_ok, Mnt};
use crate::sys::{self, Fs, ThpMode};
use anyhow::{ensure, Context, Result};
use rustix::mm::Advice;
use std::os::unix::fs::FileExt;

/// The pagemap entries (`/proc/self/pagemap`, one u64 per 4 KiB page) of `n` pages from
/// `addr`.
fn read_pagemap(addr: usize, n: usize) -> Result<Vec<u64>> {
    let f = std::fs::File::open("/proc/self/pagemap")?;
    let mut raw = vec![0u8; n * 8];
    f.read_exact_at(&mut raw, (addr / 4096 * 8) as u64)
        .context("read /proc/self/pagemap")?;
    Ok(raw
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
        .collect())
}

/// A page frame number of a pagemap entry (bits 0-54), if the page is present (bit 63).
fn frame(entry: u64) -> Option<u64> {
    (entry >> 63 == 1).then_some(entry & ((1 << 55) - 1))
}

/// pagemap (root reads frame numbers) shows every 4 KiB of each touched huge page present,
/// with consecutive frames from a frame aligned to the huge page: one physically
/// contiguous page each (for a 1 GiB `map=pmd` page too, its 512 folios in one range).
pub(super) fn pagemap(m: &Mnt) -> TestResult {
    let hs = m.hsize();
    let pages = if hs == 2 << 20 { 2 } else { 1 };
    let path = m.path("pm");
    let a = map_ok(&path, pages * hs, RW, SHARED)?;
    for off in (0..pages * hs).step_by(2 << 20) {
        a.set(off, 1);
    }
    let per = hs / 4096;
    let e = read_pagemap(a.addr(), pages * per)?;
    for p in 0..pages {
        let first = frame(e[p * per]).with_context(|| format!("page {p} not present"))?;
        ensure!(
            first != 0,
            "page {p}: frame 0 (pagemap hides frames from non-root?)"
        );
        ensure!(
            first % per as u64 == 0,
            "page {p}: first frame {first:#x} not aligned to the huge page"
        );
        for i in 0..per {
            let got = frame(e[p * per + i]);
            ensure!(
                got == Some(first + i as u64),
                "page {p}, 4 KiB #{i}: frame {got:?}, want {:#x}",
                first + i as u64
            );
        }
    }
    drop(a);
    sys::remove(&path)
}

/// smaps of a shared mapping with two pages touched: `KernelPageSize` is the huge page
/// size on both. rhugetlbfs's pages are file pages mapped by PMDs (`Rss` and
/// `FilePmdMapped` count them, as for a file on tmpfs with huge pages); hugetlbfs counts
/// its own in `Shared_Hugetlb`/`Private_Hugetlb` (by map count) and not in `Rss`. The
/// README lists this difference.
pub(super) fn smaps_pmd(m: &Mnt) -> TestResult {
    let (hs, kb) = (m.hsize(), m.hsize() as u64 >> 10);
    let path = m.path("sm");
    let a = map_ok(&path, 2 * hs, RW, SHARED)?;
    a.set(0, 1);
    a.set(hs + 5, 2);
    let s = sys::smaps(a.addr())?;
    let get = |k: &str| s.get(k).copied().unwrap_or(0);
    ensure!(
        get("KernelPageSize") == kb,
        "KernelPageSize {}",
        get("KernelPageSize")
    );
    let want = match m.fs {
        Fs::Rh => [("Rss", 2 * kb), ("FilePmdMapped", 2 * kb), ("Hugetlb", 0)],
        Fs::Kernel => [("Rss", 0), ("FilePmdMapped", 0), ("Hugetlb", 2 * kb)],
    };
    for (k, v) in want {
        let got = if k == "Hugetlb" {
            sys::smaps_hugetlb(&s)
        } else {
            get(k)
        };
        ensure!(got == v, "{k} {got} kB, want {v}");
    }
    drop(a);
    sys::remove(&path)
}

/// THP "never" does not keep the core from mapping a page-cache huge folio with a PMD
/// (`do_set_pmd` is not gated by the THP setting); hugetlbfs ignores THP altogether.
pub(super) fn thp_never(m: &Mnt) -> TestResult {
    let _thp = ThpMode::set("never")?;
    let (hs, kb) = (m.hsize(), m.hsize() as u64 >> 10);
    let path = m.path("never");
    let a = map_ok(&path, hs, RW, SHARED)?;
    a.set(hs - 1, 9);
    let s = sys::smaps(a.addr())?;
    let (key, got) = match m.fs {
        Fs::Rh => (
            "FilePmdMapped",
            s.get("FilePmdMapped").copied().unwrap_or(0),
        ),
        Fs::Kernel => ("Hugetlb", sys::smaps_hugetlb(&s)),
    };
    ensure!(got == kb, "THP never: {key} {got} kB, want {kb}");
    drop(a);
    sys::remove(&path)
}

/// What the huge-page knobs of the core do. `MADV_NOHUGEPAGE` on the mapping and
/// `PR_SET_THP_DISABLE` on the process make the core map rhugetlbfs's folios with 4 KiB
/// entries (still the same pages, still shared with every other mapping of the file: the
/// data is the file's); hugetlbfs ignores both and maps the huge page.
pub(super) fn nohugepage(m: &Mnt) -> TestResult {
    let (hs, kb) = (m.hsize(), m.hsize() as u64 >> 10);
    let path = m.path("nohuge");
    let check = |a: &Map, what: &str| -> Result<()> {
        // Two write faults, no fault-around (that is for read faults): two 4 KiB entries.
        a.set(0, 0x61);
        a.set(hs / 2, 0x62);
        let s = sys::smaps(a.addr())?;
        let get = |k: &str| s.get(k).copied().unwrap_or(0);
        match m.fs {
            Fs::Rh => ensure!(
                get("FilePmdMapped") == 0 && get("Rss") == 8,
                "{what}: FilePmdMapped {} kB, Rss {} kB (want 0 and two 4 KiB entries)",
                get("FilePmdMapped"),
                get("Rss")
            ),
            Fs::Kernel => ensure!(
                sys::smaps_hugetlb(&s) == kb,
                "{what}: {} kB of hugetlb pages, want {kb}",
                sys::smaps_hugetlb(&s)
            ),
        }
        Ok(())
    };
    let a = map_ok(&path, hs, RW, SHARED)?;
    a.advise(Advice::LinuxNoHugepage)
        .context("MADV_NOHUGEPAGE")?;
    check(&a, "MADV_NOHUGEPAGE")?;
    drop(a);
    // The data went to the file's page, as through any mapping.
    let f = std::fs::File::open(&path)?;
    let mut b = [0u8; 1];
    f.read_exact_at(&mut b, (hs / 2) as u64)?;
    ensure!(
        b[0] == 0x62,
        "the 4 KiB-mapped write is not in the file: {:#x}",
        b[0]
    );
    drop(f);
    sys::remove(&path)?;
    in_child_bounded(60, "PR_SET_THP_DISABLE child", || {
        crate::os::set_thp_disable().context("PR_SET_THP_DISABLE")?;
        let a = map_ok(&path, hs, RW, SHARED)?;
        check(&a, "PR_SET_THP_DISABLE")
    })?;
    sys::remove(&path)
}
