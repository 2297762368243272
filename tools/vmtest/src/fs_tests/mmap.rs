//! Shared mappings: two processes and read(2), SIGBUS past EOF, reservations at mmap
//! (pool, quota, min_size, MAP_NORESERVE), alignment, a pool shrunk below its pages in use.

use super::{map_ok, mount, statfs, Fresh, MB2, MNT};
use crate::harness::TestResult;
use crate::map::{create_sized, Map, SHARED};
use crate::os::in_child;
use crate::sys::{self, counter, counters, hdir, set_nr};
use anyhow::ensure;
use rustix::io::Errno;
use rustix::mm::{MapFlags, MprotectFlags, ProtFlags};

pub(super) fn shared_two_processes() -> TestResult {
    use std::io::Read;
    let f = Fresh::new(4)?;
    mount("")?;
    let path = format!("{MNT}/f");
    let len = 2 * MB2;
    let m = map_ok(&path, len, SHARED)?;
    ensure!(
        counter(2048, "resv_hugepages")? == 2,
        "2 pages reserved at mmap"
    );
    ensure!(
        std::fs::metadata(&path)?.len() == len as u64,
        "a writable shared mapping extends i_size"
    );
    for i in (0..len).step_by(4096) {
        m.set(i, (i / 4096) as u8);
    }
    ensure!(
        counter(2048, "resv_hugepages")? == 0,
        "faults consumed the reservations"
    );
    let child = in_child(|| {
        let Ok(c) = Map::of_path(&path, len, 0, SHARED) else {
            return false;
        };
        let seen = (0..len).step_by(4096).all(|i| c.get(i) == (i / 4096) as u8);
        c.set(100, 0x5a);
        seen
    })?;
    ensure!(
        child.is_none(),
        "the second process did not see the data ({child:?})"
    );
    ensure!(
        m.get(100) == 0x5a,
        "the child's write is not visible to the parent"
    );
    let mut buf = Vec::new();
    std::fs::File::open(&path).and_then(|mut f| f.read_to_end(&mut buf))?;
    ensure!(buf.len() == len, "read {} bytes", buf.len());
    ensure!(
        buf[100] == 0x5a && buf[4096] == 1 && buf[MB2 + 4096] == 1,
        "read(2) content"
    );
    drop(m);
    sys::remove(&path)?;
    f.finish()
}

pub(super) fn sigbus_eof_truncate() -> TestResult {
    let f = Fresh::new(4)?;
    mount("")?;
    let path = format!("{MNT}/f");
    let file = create_sized(&path, MB2 as u64)?;
    // Read-only mapping of 2 pages over a 1-page file: the second is past EOF.
    let Ok(p) = Map::new(&file, 2 * MB2, ProtFlags::READ, SHARED, 0) else {
        anyhow::bail!("read-only mmap failed");
    };
    let r = in_child(|| p.get(0) == 0)?;
    ensure!(r.is_none(), "read of page 0: {r:?}");
    let r = in_child(|| p.get(MB2) == 0)?;
    ensure!(r == Some(libc::SIGBUS), "past EOF: {r:?}, want SIGBUS");
    drop(p);
    // Truncate a mapped, faulted file: the page goes, later faults SIGBUS.
    let q = map_ok(&path, 2 * MB2, SHARED)?;
    q.set(0, 1);
    q.set(MB2, 2);
    let free_before = counter(2048, "free_hugepages")?;
    file.set_len(MB2 as u64)?;
    ensure!(
        counter(2048, "free_hugepages")? == free_before + 1,
        "truncate did not free the page"
    );
    let r = in_child(|| q.get(MB2) == 2)?;
    ensure!(
        r == Some(libc::SIGBUS),
        "after truncate: {r:?}, want SIGBUS"
    );
    ensure!(q.get(0) == 1, "page 0 lost by truncate");
    drop(q);
    drop(file);
    sys::remove(&path)?;
    f.finish()
}

pub(super) fn mmap_enomem() -> TestResult {
    let f = Fresh::new(2)?;
    mount("")?;
    let r = Map::of_path(&format!("{MNT}/f"), 3 * MB2, 0, SHARED);
    ensure!(
        r.as_ref().err() == Some(&Errno::NOMEM),
        "3 pages on a 2-page pool: {r:?}"
    );
    ensure!(
        counter(2048, "resv_hugepages")? == 0,
        "failed mmap left a reservation"
    );
    let p = map_ok(&format!("{MNT}/f"), 2 * MB2, SHARED)?;
    ensure!(counter(2048, "resv_hugepages")? == 2, "2 reserved");
    drop(p);
    sys::remove(&format!("{MNT}/f"))?;
    f.finish()
}

pub(super) fn noreserve_sigbus() -> TestResult {
    let f = Fresh::new(1)?;
    mount("")?;
    let path = format!("{MNT}/f");
    let p = map_ok(&path, 2 * MB2, SHARED | MapFlags::NORESERVE)?;
    ensure!(
        counter(2048, "resv_hugepages")? == 0,
        "MAP_NORESERVE reserved"
    );
    p.set(0, 7);
    ensure!(counter(2048, "free_hugepages")? == 0, "the page was taken");
    // No page left in the pool.
    let r = in_child(|| {
        p.set(MB2, 1);
        true
    })?;
    ensure!(
        r == Some(libc::SIGBUS),
        "second page with an empty pool: {r:?}"
    );
    // With overcommit allowed, the fault takes a new surplus page instead (upstream
    // alloc_hugetlb_folio), freed with the file.
    sys::write_ok(&format!("{}/nr_overcommit_hugepages", hdir(2048)), "1")?;
    p.set(MB2, 1);
    ensure!(
        counters(2048)? == (2, 0, 0, 1),
        "surplus page at fault: {:?}",
        counters(2048)?
    );
    drop(p);
    sys::remove(&path)?;
    ensure!(
        counters(2048)? == (1, 1, 0, 0),
        "surplus page not freed with the file: {:?}",
        counters(2048)?
    );
    sys::write_ok(&format!("{}/nr_overcommit_hugepages", hdir(2048)), "0")?;
    f.finish()
}

pub(super) fn size_quota() -> TestResult {
    let f = Fresh::new(8)?;
    mount("size=4M")?;
    let r = Map::of_path(&format!("{MNT}/a"), 3 * MB2, 0, SHARED);
    ensure!(
        r.as_ref().err() == Some(&Errno::NOMEM),
        "6M on a 4M quota: {r:?}"
    );
    let p = map_ok(&format!("{MNT}/a"), 2 * MB2, SHARED)?;
    ensure!(
        statfs(MNT)?.f_bfree == 0,
        "statfs bfree with the quota used"
    );
    let r = Map::of_path(&format!("{MNT}/b"), MB2, 0, SHARED);
    ensure!(
        r.as_ref().err() == Some(&Errno::NOMEM),
        "quota exhausted: {r:?}"
    );
    drop(p);
    sys::remove(&format!("{MNT}/a"))?;
    ensure!(statfs(MNT)?.f_bfree == 2, "statfs bfree after unlink");
    std::fs::remove_file(format!("{MNT}/b")).ok();
    f.finish()
}

pub(super) fn min_size_covers_mapping() -> TestResult {
    let f = Fresh::new(4)?;
    mount("min_size=4M")?;
    ensure!(counter(2048, "resv_hugepages")? == 2, "min_size reserve");
    // The mapping uses the mount's reserve: no extra global reservation.
    let p = map_ok(&format!("{MNT}/a"), 2 * MB2, SHARED)?;
    ensure!(
        counter(2048, "resv_hugepages")? == 2,
        "mapping inside min_size"
    );
    p.set(0, 1);
    drop(p);
    sys::remove(&format!("{MNT}/a"))?;
    ensure!(
        counter(2048, "resv_hugepages")? == 2,
        "the reserve is back after unlink"
    );
    f.finish()
}

pub(super) fn unaligned() -> TestResult {
    let f = Fresh::new(4)?;
    mount("")?;
    let path = format!("{MNT}/f");
    std::fs::File::create(&path).and_then(|f| f.set_len(4 * MB2 as u64))?;
    ensure!(
        Map::of_path(&path, MB2, 4096, SHARED).err() == Some(Errno::INVAL),
        "offset 4096"
    );
    ensure!(
        Map::of_path(&path, MB2 + 4096, 0, SHARED).err() == Some(Errno::INVAL),
        "length 2M+4K"
    );
    let mut p = map_ok(&path, 2 * MB2, SHARED)?;
    p.set(0, 1);
    ensure!(
        p.addr().is_multiple_of(MB2),
        "address {:?} not 2M aligned",
        p.ptr()
    );
    // SAFETY: A partial munmap inside the mapping that must fail; were it to succeed (the
    // test fails then), nothing touches or maps that 4 KiB again.
    let u = unsafe { p.unmap_range(4096, 4096) };
    let m = p.protect(0, 4096, MprotectFlags::READ);
    ensure!(
        u.is_err() && m == Err(Errno::INVAL),
        "partial munmap {u:?} / mprotect {m:?}"
    );
    // Splitting at a huge page boundary is fine.
    // SAFETY: The second huge page of the mapping, not touched again.
    let half = unsafe { p.unmap_range(MB2, MB2) };
    ensure!(half.is_ok(), "aligned partial munmap: {half:?}");
    // MAP_FIXED at an unaligned address.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)?;
    // SAFETY: A fixed mapping over our own (unmapped) second half, 4 KiB off, which the
    // kernel must refuse; nothing of the program lives there.
    let q = unsafe {
        rustix::mm::mmap(
            p.ptr().wrapping_add(MB2 + 4096).cast(),
            MB2,
            ProtFlags::READ,
            SHARED | MapFlags::FIXED,
            &file,
            0,
        )
    };
    ensure!(q.is_err(), "MAP_FIXED at an unaligned address mapped");
    drop(p);
    drop(file);
    sys::remove(&path)?;
    f.finish()
}

/// Shrinking the pool below the pages in use frees the free ones and turns the rest of the
/// excess into surplus, which leaves the pool when the pages come back (set_max_huge_pages).
pub(super) fn shrink_below_in_use() -> TestResult {
    let f = Fresh::new(4)?;
    mount("")?;
    let len = 3 * MB2;
    let path = format!("{MNT}/inuse");
    let p = map_ok(&path, len, SHARED)?;
    for i in 0..3 {
        p.set(i * MB2, 1);
    }
    let state = || counters(2048);
    ensure!(
        state()? == (4, 1, 0, 0),
        "3 pages in use of 4: {:?}",
        state()?
    );
    set_nr(2048, 1)?;
    // The one free page goes; two of the three in use are above the target: surplus.
    ensure!(
        state()? == (3, 0, 0, 2),
        "after shrinking to 1 with 3 in use: (nr, free, resv, surplus) = {:?}",
        state()?
    );
    drop(p);
    sys::remove(&path)?;
    // The surplus pages left the pool as they were freed; one persistent page stays.
    ensure!(
        state()? == (1, 1, 0, 0),
        "after freeing the file: (nr, free, resv, surplus) = {:?}",
        state()?
    );
    f.finish()
}
