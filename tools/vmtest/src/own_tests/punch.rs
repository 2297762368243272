//! Hole punches and truncation: partial punches zero exactly their bytes, pages past EOF
//! are freed, and punches race mmap, munmap and writes.

use super::{map_ok, Mnt};
use crate::harness::TestResult;
use crate::map::{create_sized, RW, SHARED};
use crate::os::in_child_bounded;
use anyhow::{anyhow, ensure, Context};
use rustix::fs::FallocateFlags;
use std::os::unix::fs::FileExt;

/// `PUNCH_HOLE | KEEP_SIZE`.
const PUNCH: FallocateFlags = FallocateFlags::PUNCH_HOLE.union(FallocateFlags::KEEP_SIZE);

/// Issue 10, item 3: partial hole punches zero exactly the punched bytes: a range that
/// starts at a page's start, one that ends at a page's end, one inside a page and one
/// across a page boundary. Checked at every edge, against a model of the file.
pub(super) fn punch_partial(m: &Mnt) -> TestResult {
    let hs = m.hsize() as u64;
    let pages = if m.kb == 2048 { 2 } else { 1 };
    let len = hs * pages;
    let path = m.path("h");
    let f = create_sized(&path, len)?;
    let p = map_ok(&path, len as usize, RW, SHARED)?;
    // The bytes the checks look at are set; the model says what each must be after the
    // punches (0xAA, or 0 once punched).
    let k = 1u64 << 20;
    let punches: Vec<(u64, u64)> = if m.kb == 2048 {
        // A page's first half, the second page's first half, 8 KiB inside the first page,
        // and 512 KiB across the boundary between them.
        vec![(0, k), (hs, k / 2), (k + 4096, 8192), (hs - k / 4, k / 2)]
    } else {
        // The page's first and last 4 KiB, and an odd range in its middle.
        vec![(0, 4096), (hs - 4096, 4096), (hs / 2, 3 * 4096 + 17)]
    };
    let mut edges: Vec<u64> = vec![0, hs - 1, len - 1];
    for &(o, l) in &punches {
        edges.extend([o.saturating_sub(1), o, o + l - 1, o + l]);
    }
    edges.retain(|&e| e < len);
    edges.sort_unstable();
    edges.dedup();
    for &e in &edges {
        p.set(e as usize, 0xAA);
    }
    for &(o, l) in &punches {
        rustix::fs::fallocate(&f, PUNCH, o, l).with_context(|| format!("punch {o}+{l}"))?;
    }
    let punched = |e: u64| punches.iter().any(|&(o, l)| e >= o && e < o + l);
    let mut wrong = Vec::new();
    for &e in &edges {
        let want = if punched(e) { 0 } else { 0xAA };
        let got = p.get(e as usize);
        let mut b = [0u8];
        f.read_exact_at(&mut b, e)?;
        if got != want || b[0] != want {
            wrong.push(format!(
                "byte {e}: mapping {got:#x} read {:#x}, want {want:#x}",
                b[0]
            ));
        }
    }
    drop(p);
    ensure!(
        wrong.is_empty(),
        "after punching {punches:?}: {}",
        wrong.join("; ")
    );
    Ok(())
}

/// Issue 10, item 4: pages preallocated past EOF (`fallocate` with KEEP_SIZE) are freed by
/// an `ftruncate` to the current size, and by a punch past EOF.
pub(super) fn truncate_past_eof(m: &Mnt) -> TestResult {
    // Three pages: one inside the file, two past its end.
    let hs = m.hsize() as u64;
    let path = m.path("t");
    let f = create_sized(&path, hs)?;
    let falloc = |mode: FallocateFlags, off: u64, len: u64| {
        rustix::fs::fallocate(&f, mode, off, len)
            .with_context(|| format!("fallocate({mode:?}, {off}, {len})"))
    };
    falloc(FallocateFlags::empty(), 0, hs)?;
    falloc(FallocateFlags::KEEP_SIZE, hs, 2 * hs)?;
    let free = || m.counter("free_hugepages");
    ensure!(free()? == 0, "3 pages allocated, {} free", free()?);
    // A punch past EOF frees the page there.
    falloc(PUNCH, 2 * hs, hs)?;
    ensure!(
        free()? == 1,
        "after punching past EOF: {} free, want 1",
        free()?
    );
    // Truncation to the same size frees what is left past it.
    f.set_len(hs)?;
    ensure!(
        free()? == 2,
        "after ftruncate to the same size: {} free, want 2 (the page past EOF stays)",
        free()?
    );
    ensure!(f.metadata()?.len() == hs, "size changed");
    drop(f);
    crate::sys::remove(&path)?;
    ensure!(free()? == 3, "after unlink: {} free", free()?);
    Ok(())
}

/// Punches of the stress below; `RH_STRESS_ITERS` overrides (libhugetlbfs's
/// `fallocate_stress` does 20000).
fn stress_iters() -> u64 {
    std::env::var("RH_STRESS_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000)
}

/// Issue 17 (libhugetlbfs's `fallocate_stress`, scaled down): one thread writes through a
/// shared mapping of a 4-page file, another maps and unmaps the file over and over, and the
/// main thread punches single pages out of it, with free pages left in the pool. A write
/// to a punched page must get a fresh zeroed page: no SIGBUS. Run in a child, which SIGBUS
/// would kill.
pub(super) fn punch_mmap_writes(m: &Mnt) -> TestResult {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::Arc;
    let hs = m.hsize();
    let pages = 4u64;
    let path = m.path("stress");
    let f = create_sized(&path, pages * hs as u64)?;
    let iters = stress_iters();
    let len = pages as usize * hs;
    let secs = 60 + (iters / 10) as u32;
    in_child_bounded(secs, "the punch/mmap/write stress", || {
        let wmap = map_ok(&path, len, RW, SHARED)?;
        let w = wmap.addr();
        let stop = Arc::new(AtomicBool::new(false));
        let writes = Arc::new(AtomicU64::new(0));
        let writer = {
            let (stop, writes) = (stop.clone(), writes.clone());
            std::thread::spawn(move || {
                let mut i = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    // SAFETY: Inside the mapping, which lives until the threads are joined.
                    unsafe { *((w + (i % 4) * hs + (i * 4096) % hs) as *mut u8) = 1 };
                    i += 1;
                    writes.fetch_add(1, Ordering::Relaxed);
                }
            })
        };
        let mapper = {
            let (stop, path) = (stop.clone(), path.clone());
            std::thread::spawn(move || -> anyhow::Result<u64> {
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    drop(map_ok(&path, len, RW, SHARED)?);
                    n += 1;
                }
                Ok(n)
            })
        };
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut res = Ok(());
        for _ in 0..iters {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let off = (seed % pages) * hs as u64;
            if let Err(e) = rustix::fs::fallocate(&f, PUNCH, off, hs as u64) {
                res = Err(anyhow!("punch at {off}: {e}"));
                break;
            }
        }
        stop.store(true, Ordering::Relaxed);
        writer.join().map_err(|_| anyhow!("writer panicked"))?;
        let maps = mapper.join().map_err(|_| anyhow!("mapper panicked"))??;
        drop(wmap);
        res?;
        eprintln!(
            "    {iters} punches, {} writes, {maps} mmap/munmap cycles",
            writes.load(Ordering::Relaxed)
        );
        Ok(())
    })
}
