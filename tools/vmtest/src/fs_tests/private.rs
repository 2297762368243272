//! Private mappings: read-only ones, copy-on-write isolation, fork, the owner's
//! reservations, mprotect and mremap.

use super::{map_ok, mount, stat, Fresh, MB2, MNT};
use crate::harness::TestResult;
use crate::map::{Map, PRIVATE, SHARED};
use crate::os::{exited_0, fork, pipe, wait};
use crate::sys::{self, counter, counters};
use anyhow::{ensure, Context, Result};
use rustix::fd::AsFd;
use rustix::io::Errno;
use rustix::mm::{MapFlags, MprotectFlags, ProtFlags};

/// The first `n` bytes of `path` by read(2).
fn read_head(path: &str, n: usize) -> Result<Vec<u8>> {
    use std::io::Read;
    let mut buf = vec![0; n];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut buf))
        .with_context(|| format!("read {path}"))?;
    Ok(buf)
}

pub(super) fn readonly() -> TestResult {
    // The shared mapping's two pages, and the private mapping's two reserved ones.
    let f = Fresh::new(4)?;
    mount("")?;
    let path = format!("{MNT}/f");
    let p = map_ok(&path, 2 * MB2, SHARED)?;
    // Only the first page is touched, the second stays a hole.
    p.set(5, 0x42);
    let free0 = counter(2048, "free_hugepages")?;
    // A read-only private mapping sees the file's page itself and cannot become writable.
    let file = std::fs::File::open(&path)?;
    let q =
        Map::new(&file, 2 * MB2, ProtFlags::READ, PRIVATE, 0).context("read-only MAP_PRIVATE")?;
    drop(file);
    ensure!(
        q.get(5) == 0x42,
        "private mapping does not see the file's page"
    );
    ensure!(
        counter(2048, "free_hugepages")? == free0,
        "reading the file's page through a private mapping took a page"
    );
    // The hole reads zero from a private page that the file does not get.
    ensure!(q.get(MB2 + 7) == 0, "hole not zero");
    ensure!(
        counter(2048, "free_hugepages")? == free0 - 1,
        "a private read of a hole takes one private page"
    );
    let m = q.protect(0, MB2, MprotectFlags::READ | MprotectFlags::WRITE);
    ensure!(m == Err(Errno::ACCESS), "mprotect(PROT_WRITE) on it: {m:?}");
    drop(q);
    ensure!(
        counter(2048, "free_hugepages")? == free0,
        "munmap did not free the private page"
    );
    // Touching the hole through the shared mapping: it must still be a hole.
    ensure!(p.get(MB2 + 7) == 0, "file hole not zero");
    drop(p);
    sys::remove(&path)?;
    f.finish()
}

pub(super) fn isolation() -> TestResult {
    let f = Fresh::new(6)?;
    mount("")?;
    let path = format!("{MNT}/f");
    let len = 2 * MB2;
    let s = map_ok(&path, len, SHARED)?;
    s.set(5, 0x11);
    ensure!(counter(2048, "resv_hugepages")? == 1, "shared reservation");
    let p = map_ok(&path, len, PRIVATE)?;
    ensure!(
        counter(2048, "resv_hugepages")? == 3,
        "MAP_PRIVATE reserves its whole range for the owner (resv {})",
        counter(2048, "resv_hugepages")?
    );
    ensure!(
        p.get(5) == 0x11,
        "private read does not see the file's data"
    );
    p.set(5, 0x99);
    ensure!(
        s.get(5) == 0x11 && read_head(&path, 6)?[5] == 0x11,
        "a private write reached the file"
    );
    // File -> private: the file's data as it is when the private page is first touched.
    s.set(MB2 + 5, 0x33);
    ensure!(
        p.get(MB2 + 5) == 0x33,
        "private mapping does not see the file's page at fault time"
    );
    p.set(MB2 + 5, 0x44);
    ensure!(
        s.get(MB2 + 5) == 0x33,
        "second private write reached the file"
    );
    ensure!(
        counter(2048, "resv_hugepages")? == 0,
        "faults consumed every reservation (resv {})",
        counter(2048, "resv_hugepages")?
    );
    // Another private mapping sees the file, not the first one's private pages.
    let p2 = map_ok(&path, len, PRIVATE)?;
    let (a, b) = (p2.get(5), p2.get(MB2 + 5));
    ensure!(
        a == 0x11 && b == 0x33,
        "second private mapping saw {a:#x} {b:#x}"
    );
    ensure!(
        p.get(5) == 0x99 && p.get(MB2 + 5) == 0x44,
        "private data changed"
    );
    drop(p2);
    drop(p);
    drop(s);
    sys::remove(&path)?;
    f.finish()
}

/// Writes one byte to a pipe.
fn pipe_send(fd: impl AsFd) {
    let _ = rustix::io::write(fd, &[1u8]);
}

/// Reads one byte from a pipe; whether one came.
fn pipe_wait(fd: impl AsFd) -> bool {
    let mut b = [0u8];
    matches!(rustix::io::read(fd, &mut b), Ok(1))
}

/// A private mapping of `pages` huge pages of size `hsize` in a fresh file, then fork
/// isolation both ways: the child sees the parent's pre-fork data, and neither side sees
/// the other's writes after the fork.
fn fork_run(hsize: usize, pages: usize) -> TestResult {
    let path = format!("{MNT}/f");
    let len = hsize * pages;
    let m = map_ok(&path, len, PRIVATE)?;
    for i in 0..pages {
        m.set(i * hsize + 9, 0xa0 + i as u8);
    }
    let (c_rd, p_wr) = pipe()?;
    let (p_rd, c_wr) = pipe()?;
    let last = (pages - 1) * hsize + 9;
    // The child only touches its copy of the mapping and the pipes.
    let pid = fork(|| {
        let inherited = (0..pages).all(|i| m.get(i * hsize + 9) == 0xa0 + i as u8);
        m.set(9, 0xc0);
        pipe_send(&c_wr);
        let parent_wrote = pipe_wait(&c_rd);
        let want_last = if pages == 1 {
            0xc0
        } else {
            0xa0 + (pages - 1) as u8
        };
        let ok = inherited && parent_wrote && m.get(9) == 0xc0 && m.get(last) == want_last;
        i32::from(!ok)
    })?;
    let child_wrote = pipe_wait(&p_rd);
    // The child's write is not seen here; the parent's writes are not seen there.
    let parent_saw = m.get(9);
    if pages > 1 {
        m.set(last, 0xd0);
    }
    m.set(9, 0xd1);
    pipe_send(&p_wr);
    let status = wait(pid)?;
    drop((c_rd, p_wr, p_rd, c_wr));
    ensure!(child_wrote, "the child did not report");
    ensure!(
        exited_0(status),
        "the child saw the parent's post-fork writes or lost the pre-fork data (status {:#x})",
        status.as_raw()
    );
    ensure!(
        parent_saw == 0xa0,
        "the parent saw the child's write ({parent_saw:#x})"
    );
    ensure!(
        m.get(9) == 0xd1 && (pages == 1 || m.get(last) == 0xd0),
        "the parent's own writes"
    );
    ensure!(
        read_head(&path, 10)?[9] == 0,
        "private writes reached the file"
    );
    drop(m);
    sys::remove(&path)?;
    Ok(())
}

pub(super) fn fork_2m() -> TestResult {
    // The owner's 3 reserved pages, plus the copies the child takes after the fork.
    let f = Fresh::new(6)?;
    mount("")?;
    fork_run(MB2, 3)?;
    f.finish()
}

pub(super) fn fork_1g() -> TestResult {
    let f = Fresh::new(0)?;
    let _gb = sys::lend_1g(2)?;
    mount("pagesize=1G")?;
    let pud0 = stat(1048576, "faults_pud")?;
    fork_run(1 << 30, 1)?;
    let pud = stat(1048576, "faults_pud")? - pud0;
    let fb = stat(1048576, "faults_fallback")?;
    ensure!(fb == 0, "{fb} fallback faults");
    eprintln!("    1 GiB private fork: faults_pud +{pud}, faults_fallback {fb}");
    f.finish()
}

pub(super) fn reservations() -> TestResult {
    let f = Fresh::new(4)?;
    mount("")?;
    let path = format!("{MNT}/f");
    // More than the pool can cover: ENOMEM, nothing reserved.
    std::fs::File::create(&path)?;
    let r = Map::of_path(&path, 5 * MB2, 0, PRIVATE);
    ensure!(
        r.as_ref().err() == Some(&Errno::NOMEM),
        "5 pages of 4: {r:?}, want ENOMEM"
    );
    ensure!(
        counter(2048, "resv_hugepages")? == 0,
        "refused mapping reserved"
    );
    let mut p = map_ok(&path, 4 * MB2, PRIVATE)?;
    ensure!(counter(2048, "resv_hugepages")? == 4, "owner reserves 4");
    // Page 0 and page 3.
    p.set(0, 1);
    p.set(3 * MB2, 3);
    ensure!(
        counters(2048)? == (4, 2, 2, 0),
        "after two faults: {:?}",
        counters(2048)?
    );
    // munmap of pages 2..4: page 3's page is freed, page 2's reservation given back.
    // SAFETY: The aligned tail of our mapping, not touched again.
    let tail = unsafe { p.unmap_range(2 * MB2, 2 * MB2) };
    ensure!(tail.is_ok(), "partial munmap: {tail:?}");
    ensure!(
        counters(2048)? == (4, 3, 1, 0),
        "after munmap of the tail: {:?}",
        counters(2048)?
    );
    drop(p);
    ensure!(
        counters(2048)? == (4, 4, 0, 0),
        "after munmap: {:?}",
        counters(2048)?
    );
    // MAP_NORESERVE: nothing reserved, faults take free pages.
    let q = map_ok(&path, 4 * MB2, PRIVATE | MapFlags::NORESERVE)?;
    ensure!(counter(2048, "resv_hugepages")? == 0, "NORESERVE reserved");
    q.set(MB2, 1);
    ensure!(counter(2048, "free_hugepages")? == 3, "NORESERVE fault");
    drop(q);
    sys::remove(&path)?;
    f.finish()
}

pub(super) fn mprotect_mremap() -> TestResult {
    let f = Fresh::new(4)?;
    mount("")?;
    let path = format!("{MNT}/f");
    let len = 2 * MB2;
    let p = map_ok(&path, len, PRIVATE)?;
    p.set(17, 0x17);
    // Read-only, then writable again.
    let (a, b) = (
        p.protect(0, len, MprotectFlags::READ),
        p.protect(0, len, MprotectFlags::READ | MprotectFlags::WRITE),
    );
    ensure!(a.is_ok() && b.is_ok(), "mprotect: {a:?} {b:?}");
    ensure!(p.get(17) == 0x17, "data lost by mprotect");
    p.set(18, 0x18);
    let free = counter(2048, "free_hugepages")?;
    // mremap to another huge-page-aligned place: the private pages move with it.
    let hole = map_ok(&format!("{MNT}/spot"), len, SHARED)?.ptr();
    // SAFETY: `hole` is the aligned range the mapping above held, unmapped again as it
    // was dropped: no memory of the program.
    let q = unsafe { p.move_to(hole) }.context("mremap")?;
    ensure!(
        q.get(17) == 0x17 && q.get(18) == 0x18,
        "mremap lost the private data"
    );
    q.set(MB2, 1);
    ensure!(
        counter(2048, "free_hugepages")? == free - 1,
        "mremap freed or leaked pages"
    );
    drop(q);
    sys::remove(&path)?;
    sys::remove(&format!("{MNT}/spot"))?;
    f.finish()
}
