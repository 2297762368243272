//! fallocate (preallocation, hole punches) and a stress of faults against truncation and
//! pool resizing.

use super::{map_ok, mount, Fresh, MB2, MNT};
use crate::harness::TestResult;
use crate::map::{create_empty, Map, RW, SHARED};
use crate::os::{in_child, umount};
use crate::sys::{self, counter, hdir};
use anyhow::{ensure, Context};
use rustix::fs::FallocateFlags;
use rustix::io::Errno;
use rustix::mm::MapFlags;

pub(super) fn fallocate() -> TestResult {
    let f = Fresh::new(4)?;
    mount("")?;
    let path = format!("{MNT}/f");
    let file = create_empty(&path)?;
    let fa = |mode: FallocateFlags, off: usize, len: usize| {
        rustix::fs::fallocate(&file, mode, off as u64, len as u64)
    };
    let free = || counter(2048, "free_hugepages");
    let size = || file.metadata().map(|m| m.len());
    // 3 MiB from 0 rounds out to pages 0 and 1; i_size becomes 3 MiB as upstream.
    fa(FallocateFlags::empty(), 0, 3 << 20).context("fallocate 0..3M")?;
    ensure!(
        free()? == 2 && size()? == 3 << 20,
        "prealloc: free {} size {}",
        free()?,
        size()?
    );
    fa(FallocateFlags::KEEP_SIZE, 2 * MB2, MB2).context("KEEP_SIZE")?;
    ensure!(
        free()? == 1 && size()? == 3 << 20,
        "KEEP_SIZE: free {} size {}",
        free()?,
        size()?
    );
    // Data in page 0, then a partial punch zeroes only its range.
    file.set_len(3 * MB2 as u64)?;
    let m = map_ok(&path, 3 * MB2, SHARED)?;
    m.fill(0, 3 * MB2, 0xff);
    ensure!(
        free()? == 1,
        "preallocated pages were not used by the mapping"
    );
    let punch = FallocateFlags::PUNCH_HOLE | FallocateFlags::KEEP_SIZE;
    fa(punch, 4096, 8192).context("partial punch")?;
    ensure!(
        m.get(4095) == 0xff && m.get(4096) == 0 && m.get(12287) == 0 && m.get(12288) == 0xff,
        "partial punch zeroed the wrong bytes"
    );
    ensure!(free()? == 1, "a partial punch freed a page");
    // A whole-page punch frees page 1, mapped or not; it reads zero (refault) afterwards.
    fa(punch, MB2, MB2).context("punch page 1")?;
    ensure!(free()? == 2, "punch did not free page 1: free {}", free()?);
    ensure!(m.get(MB2) == 0, "punched page did not read zero");
    ensure!(free()? == 1, "refault after punch");
    ensure!(
        fa(FallocateFlags::PUNCH_HOLE, 0, MB2) == Err(Errno::OPNOTSUPP),
        "PUNCH without KEEP_SIZE"
    );
    ensure!(
        fa(FallocateFlags::ZERO_RANGE, 0, MB2) == Err(Errno::OPNOTSUPP),
        "ZERO_RANGE"
    );
    ensure!(
        fa(FallocateFlags::empty(), 0, 100 * MB2) == Err(Errno::NOSPC),
        "prealloc beyond the pool"
    );
    drop(m);
    drop(file);
    sys::remove(&path)?;
    f.finish()
}

/// SIGBUS handler of the stress child: a page truncated away under a thread is replaced by
/// anonymous memory (a whole aligned huge page, which `may_split` allows), so the thread
/// goes on.
extern "C" fn on_sigbus(_sig: i32, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    // SAFETY: `info` is the kernel's siginfo for this SIGBUS.
    let addr = unsafe { (*info).si_addr() } as usize & !(MB2 - 1);
    // SAFETY: Replaces one huge page of the test's own mapping, which only the stress
    // threads touch, through raw addresses; mmap is a bare syscall (async-signal-safe).
    let _ = unsafe {
        rustix::mm::mmap_anonymous(addr as *mut _, MB2, RW, MapFlags::PRIVATE | MapFlags::FIXED)
    };
}

pub(super) fn stress() -> TestResult {
    let f = Fresh::new(12)?;
    sys::write_ok(&format!("{}/nr_overcommit_hugepages", hdir(2048)), "4\n")?;
    mount("")?;
    let path = format!("{MNT}/s");
    let pages = 8usize;
    let nr_path = format!("{}/nr_hugepages", hdir(2048));
    let r = in_child(|| {
        // SAFETY: Installs a plain SA_SIGINFO handler, which only remaps the faulting page.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_sigbus as *const () as usize;
            sa.sa_flags = libc::SA_SIGINFO;
            libc::sigaction(libc::SIGBUS, &sa, std::ptr::null_mut());
        }
        let Ok(p) = Map::of_path(&path, pages * MB2, 0, SHARED) else {
            return false;
        };
        // The threads write through raw addresses: the handler may replace a page under them.
        let base = p.addr();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut threads = Vec::new();
        for t in 0..4usize {
            let stop = stop.clone();
            threads.push(std::thread::spawn(move || {
                let mut x = t as u64 + 1;
                let mut n = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    // Threads 0 and 1 walk the same indexes in step; 2 and 3 jump around.
                    let idx = if t < 2 {
                        (n as usize) % pages
                    } else {
                        (x as usize) % pages
                    };
                    let off = idx * MB2 + (x as usize % (MB2 / 4096)) * 4096;
                    // SAFETY: Inside the mapping (or its anonymous replacement), which
                    // lives until the child exits.
                    unsafe { std::ptr::write_volatile((base + off) as *mut u8, t as u8) };
                    n += 1;
                }
            }));
        }
        let stop2 = stop.clone();
        let path3 = path.clone();
        threads.push(std::thread::spawn(move || {
            let Ok(file) = std::fs::OpenOptions::new().write(true).open(&path3) else {
                return;
            };
            let mut i = 0u64;
            while !stop2.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = file.set_len(((i % 4) * 2 * MB2 as u64).min((pages * MB2) as u64));
                let _ = file.set_len((pages * MB2) as u64);
                i += 1;
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        }));
        let stop3 = stop.clone();
        let nr_path = nr_path.clone();
        threads.push(std::thread::spawn(move || {
            let mut i = 0u64;
            while !stop3.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = std::fs::write(&nr_path, format!("{}\n", 8 + (i % 3) * 4));
                i += 1;
                std::thread::sleep(std::time::Duration::from_millis(7));
            }
        }));
        std::thread::sleep(std::time::Duration::from_secs(3));
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for t in threads {
            let _ = t.join();
        }
        // Left mapped: the child's exit unmaps it.
        std::mem::forget(p);
        true
    })?;
    ensure!(r.is_none(), "stress child died: {r:?}");
    sys::remove(&path)?;
    umount(MNT)?;
    ensure!(
        counter(2048, "resv_hugepages")? == 0,
        "reservations left after the stress"
    );
    ensure!(
        counter(2048, "surplus_hugepages")? == 0,
        "surplus left after the stress"
    );
    sys::write_ok(&format!("{}/nr_overcommit_hugepages", hdir(2048)), "0\n")?;
    f.finish()
}
