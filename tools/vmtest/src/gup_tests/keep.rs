//! The module's pages stay the module's: a page pinned when its file loses it drains instead
//! of being reused; reclaim, compaction, splitting and collapsing leave the pages and their
//! data alone; no memory cgroup is charged for them.

use crate::harness::TestResult;
use crate::map::{Map, RW, SHARED};
use crate::os::{in_child_bounded, pipe};
use crate::own_tests::{map, map_ok, Mnt};
use crate::sys::{self, Fs};
use anyhow::{bail, ensure, Context, Result};
use rustix::fd::OwnedFd;
use rustix::fs::FallocateFlags;
use rustix::io::Errno;
use rustix::mm::Advice;
use std::os::unix::fs::FileExt;

/// A shared page of `name` written with `c`, 4 KiB of it spliced into a pipe and its first
/// 2 MiB registered with an io_uring ring (a long-term pin), then unmapped: the pipe and the
/// ring are its holders once the file lets go of it.
fn held_page(m: &Mnt, name: &str, c: u8) -> Result<(Map, (OwnedFd, OwnedFd), io_uring::IoUring)> {
    use rustix::pipe::{IoSliceRaw, SpliceFlags};
    let a = map_ok(&m.path(name), m.hsize(), RW, SHARED)?;
    a.fill(0, 4096, c);
    let (r, w) = pipe()?;
    // SAFETY: 4 KiB of our mapping, read by the kernel during the call only.
    let n = unsafe {
        let head = std::slice::from_raw_parts(a.ptr(), 4096);
        rustix::pipe::vmsplice(&w, &[IoSliceRaw::from_slice(head)], SpliceFlags::empty())
    };
    ensure!(matches!(n, Ok(4096)), "vmsplice: {n:?}");
    let ring = io_uring::IoUring::new(1).context("io_uring_setup")?;
    let iov = libc::iovec {
        iov_base: a.ptr().cast(),
        iov_len: 2 << 20,
    };
    // SAFETY: 2 MiB of our mapping; the pin holds the pages, not the mapping, and no I/O
    // is submitted with the buffer.
    unsafe { ring.submitter().register_buffers(&[iov]) }.context("register_buffers")?;
    Ok((a, (r, w), ring))
}

/// The page's file lets go of it (truncation, then a hole punch) while a pipe and an
/// io_uring registration hold it: it is not free, the pool (of one page) gives no page to
/// another file meanwhile, the pipe still reads the first file's bytes, and once both
/// holders let go the page is free again. On rhugetlbfs the page waits on the draining list
/// meanwhile.
pub(super) fn truncate_punch_pinned(m: &Mnt) -> TestResult {
    let hs = m.hsize();
    for (name, how) in [("t", "truncate"), ("p", "punch")] {
        let (a, (r, w), ring) = held_page(m, name, b'H')?;
        drop(a);
        let f = std::fs::OpenOptions::new().write(true).open(m.path(name))?;
        match how {
            "truncate" => f.set_len(0).context("truncate")?,
            _ => rustix::fs::fallocate(
                &f,
                FallocateFlags::PUNCH_HOLE | FallocateFlags::KEEP_SIZE,
                0,
                hs as u64,
            )
            .context("punch")?,
        }
        let (nr, free) = (m.counter("nr_hugepages")?, m.counter("free_hugepages")?);
        ensure!(
            free == nr - 1,
            "{how}: the held page counts as free: nr {nr} free {free}"
        );
        if m.fs == Fs::Rh {
            let d = m.draining()?;
            ensure!(d == 1, "{how}: draining_hugepages {d} while held, want 1");
        }
        match map(&m.path("other"), hs, RW, SHARED) {
            Err(Errno::NOMEM) => {}
            Ok(b) => {
                b.set(0, b'X');
                bail!("{how}: another file got a page while the only one is held");
            }
            Err(e) => bail!("{how}: mmap of another file: {e}"),
        }
        let mut buf = vec![0u8; 4096];
        let got = rustix::io::read(&r, &mut buf);
        ensure!(
            matches!(got, Ok(4096)),
            "{how}: read from the pipe: {got:?}"
        );
        ensure!(
            buf.iter().all(|&c| c == b'H'),
            "{how}: the pipe's bytes changed: the page was handed on while held"
        );
        ring.submitter()
            .unregister_buffers()
            .context("unregister_buffers")?;
        drop((ring, r, w, f));
        let (free, draining) = (m.counter("free_hugepages")?, m.draining()?);
        ensure!(
            free == nr && draining == 0,
            "{how}: once let go: nr {nr} free {free} draining {draining}"
        );
        sys::remove(&m.path(name))?;
        let _ = std::fs::remove_file(m.path("other"));
    }
    Ok(())
}

/// Data written through a shared mapping survives `drop_caches`, compaction,
/// `MADV_COLD`/`MADV_PAGEOUT` on 4 KiB of a PMD (which tries to split the folio) and
/// `MADV_COLLAPSE`; on rhugetlbfs the pages stay PMD-mapped: nothing took or split them.
pub(super) fn data_survives(m: &Mnt) -> TestResult {
    let (hs, kb) = (m.hsize(), m.hsize() as u64 >> 10);
    let path = m.path("keep");
    let a = map_ok(&path, 2 * hs, RW, SHARED)?;
    for off in (0..2 * hs).step_by(4096) {
        a.set(off, super::pattern(off, 0x77));
    }
    sys::write_ok("/proc/sys/vm/drop_caches", "3\n")?;
    sys::write_ok("/proc/sys/vm/compact_memory", "1\n")?;
    // SAFETY: 4 KiB of our mapping, to which no reference exists.
    let advise4k = |adv| unsafe { rustix::mm::madvise(a.ptr().add(hs).cast(), 4096, adv) };
    for (what, adv) in [
        ("MADV_COLD", Advice::LinuxCold),
        ("MADV_PAGEOUT", Advice::LinuxPageOut),
    ] {
        let r = advise4k(adv);
        // hugetlbfs refuses these on hugetlb mappings; on rhugetlbfs the split they try
        // fails on the module's reference and they return 0 having done nothing.
        let want = if m.fs == Fs::Rh {
            Ok(())
        } else {
            Err(Errno::INVAL)
        };
        ensure!(r == want, "{what} of 4 KiB: {r:?}, want {want:?}");
    }
    let r = crate::os::madvise_collapse(&a);
    ensure!(r == Err(Errno::INVAL), "MADV_COLLAPSE: {r:?}, want EINVAL");
    for off in (0..2 * hs).step_by(4096) {
        let got = a.get(off);
        let want = super::pattern(off, 0x77);
        ensure!(got == want, "byte {off:#x} is {got:#x}, want {want:#x}");
    }
    let mut buf = vec![0u8; 64 * 1024];
    std::fs::File::open(&path)?.read_exact_at(&mut buf, hs as u64)?;
    ensure!(
        buf[0] == super::pattern(hs, 0x77),
        "read(2) after the reclaim attempts"
    );
    if m.fs == Fs::Rh {
        let pmd = sys::smaps_field(a.addr(), "FilePmdMapped")?;
        ensure!(
            pmd == 2 * kb,
            "FilePmdMapped {pmd} kB after them, want {}",
            2 * kb
        );
    }
    drop(a);
    sys::remove(&path)
}

const CGROUP: &str = "/sys/fs/cgroup";

/// The cgroup v2 hierarchy with the memory controller enabled for its children.
fn memcg_root() -> Result<()> {
    let mounts = sys::read("/proc/mounts")?;
    if !mounts
        .lines()
        .any(|l| l.split(' ').nth(2) == Some("cgroup2"))
    {
        std::fs::create_dir_all(CGROUP)?;
        crate::os::mount("cgroup2", CGROUP, "")?;
    }
    sys::write_ok(&format!("{CGROUP}/cgroup.subtree_control"), "+memory\n")
}

/// A child in a memory cgroup limited to 4 MiB maps and writes 8 MiB of the file: the pages
/// belong to the pool, not to the cgroup, so the child neither hits the limit nor charges
/// them (rhugetlbfs inserts its folios without a memcg charge; hugetlb pages are not
/// charged to memcg by default).
pub(super) fn memcg_not_charged(m: &Mnt) -> TestResult {
    memcg_root()?;
    let grp = format!("{CGROUP}/rh-gup-{:?}", m.fs);
    let _ = std::fs::remove_dir(&grp);
    std::fs::create_dir(&grp).with_context(|| format!("mkdir {grp}"))?;
    sys::write_ok(&format!("{grp}/memory.max"), &format!("{}\n", 4 << 20))?;
    let path = m.path("memcg");
    let len = 4 * m.hsize();
    crate::map::create_sized(&path, len as u64)?;
    let res = in_child_bounded(60, "child in the cgroup", || {
        sys::write_ok(
            &format!("{grp}/cgroup.procs"),
            &format!("{}\n", rustix::process::getpid().as_raw_nonzero()),
        )?;
        let a = Map::of_path(&path, len, 0, SHARED)?;
        for off in (0..len).step_by(4096) {
            a.set(off, 1);
        }
        let cur = sys::read_u64(&format!("{grp}/memory.current"))?;
        ensure!(
            cur < 4 << 20,
            "memory.current {cur} after writing {len} bytes of the file"
        );
        Ok(())
    });
    let events = sys::read(&format!("{grp}/memory.events")).unwrap_or_default();
    sys::remove(&path)?;
    let _ = std::fs::remove_dir(&grp);
    res.with_context(|| format!("memory.events: {}", events.replace('\n', ", ")))
}
