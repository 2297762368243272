//! Forced access: writes through `/proc/self/mem` and ptrace into read-only private
//! mappings, reads of shared mappings where GUP cannot go, and a `munmap` beside a stream
//! of forced writes.

use super::{map_ok, Mnt};
use crate::harness::TestResult;
use crate::map::{create_sized, PRIVATE, RW, SHARED};
use crate::os::{self, exited_0, fork, in_child_bounded, wait};
use crate::sys::Fs;
use anyhow::{anyhow, ensure, Context};
use rustix::io::Errno;
use rustix::mm::{MprotectFlags, ProtFlags};
use rustix::process::Signal;
use std::os::unix::fs::FileExt;

/// Issue 10, item 2: a written private mapping made read-only with `mprotect`, then a
/// write through `/proc/self/mem` (FOLL_FORCE), as debuggers do. It must finish at once,
/// never loop: run in a child that SIGALRM ends. rhugetlbfs does the write in the mapping's
/// own copy of the page; 6.12's hugetlbfs refuses forced writes into read-only hugetlb
/// mappings (`check_vma_flags`: "hugetlb does not support FOLL_FORCE|FOLL_WRITE"), so the
/// write fails there with EIO. Either way the file (a hole here, so that a 1 GiB page is
/// zeroed once rather than copied) stays as it was.
pub(super) fn forced_write_readonly_private(m: &Mnt) -> TestResult {
    let hs = m.hsize();
    let path = m.path("f");
    std::fs::File::create(&path).and_then(|f| f.set_len(hs as u64))?;
    let secs = if m.kb == 2048 { 60 } else { 600 };
    let completes = m.fs == Fs::Rh;
    in_child_bounded(secs, "a write through /proc/self/mem", || {
        let p = map_ok(&path, hs, RW, PRIVATE)?;
        p.set(1, b'P');
        p.protect(0, hs, MprotectFlags::READ).context("mprotect")?;
        let mem = std::fs::OpenOptions::new()
            .write(true)
            .open("/proc/self/mem")
            .context("open /proc/self/mem")?;
        let res = mem.write_at(b"xyz", p.addr() as u64 + 2);
        let want: &[u8] = if completes {
            ensure!(
                matches!(res, Ok(3)),
                "the forced write did not complete: {res:?}"
            );
            b"\0Pxyz\0"
        } else {
            ensure!(
                res.as_ref().map_err(|e| e.raw_os_error()) == Err(Some(libc::EIO)),
                "the forced write gave {res:?}, want EIO (6.12 hugetlbfs refuses it)"
            );
            b"\0P\0\0\0\0"
        };
        let seen = p.read(0, 6);
        ensure!(
            seen == want,
            "the mapping reads {seen:?} after the forced write"
        );
        Ok(())
    })?;
    let mut head = [0u8; 6];
    std::fs::File::open(&path).and_then(|f| f.read_exact_at(&mut head, 0))?;
    ensure!(
        head == [0; 6],
        "the forced write reached the file: {head:?}"
    );
    Ok(())
}

/// `ptrace(PTRACE_POKEDATA/PEEKDATA)` into a traced child's shared mapping (libhugetlbfs's
/// `ptrace-write-hugepage`; the write lands in the file) and into its read-only private one,
/// as a debugger sets a breakpoint: rhugetlbfs writes the child's own copy, 6.12's
/// hugetlbfs refuses with EIO (see [`forced_write_readonly_private`]).
pub(super) fn ptrace_poke(m: &Mnt) -> TestResult {
    let hs = m.hsize();
    let (sp, pp) = (m.path("s"), m.path("p"));
    let s = map_ok(&sp, hs, RW, SHARED)?;
    s.fill(0, 64, b's');
    let q = map_ok(&pp, hs, RW, SHARED)?;
    q.fill(0, 64, b'p');
    drop(q);
    // Read-only private, as a debugger's breakpoint target: only a forced write may change it.
    let p = map_ok(&pp, hs, ProtFlags::READ, PRIVATE)?;
    let word = u64::from_le_bytes(*b"POKEPOKE");
    let file_word = u64::from_le_bytes(*b"pppppppp");
    let (sa, pa) = (s.addr() as u64, p.addr() as u64);
    let private_ok = m.fs == Fs::Rh;
    let private_want = if private_ok { word } else { file_word };
    // The child stops for its tracer and then checks what it sees.
    let pid = fork(|| {
        let _ = os::ptrace_traceme();
        let me = rustix::process::getpid();
        let _ = rustix::process::kill_process(me, Signal::STOP);
        let ok = s.get_u64(0) == word && p.get_u64(0) == private_want;
        i32::from(!ok)
    })?;
    // Stopped (SIGSTOP) under ptrace.
    wait(pid)?;
    let mut errs = Vec::new();
    for (what, addr, ok, want) in [
        ("shared", sa, true, word),
        ("private", pa, private_ok, private_want),
    ] {
        let r = os::ptrace_poke(pid, addr, word);
        if ok {
            if let Err(e) = r {
                errs.push(format!("POKEDATA {what}: {e}"));
            }
        } else if r != Err(Errno::IO) {
            errs.push(format!("POKEDATA {what}: {r:?}, want EIO"));
        }
        match os::ptrace_peek(pid, addr) {
            Ok(v) if v == want => {}
            Ok(v) => errs.push(format!("PEEKDATA {what}: {v:#x}")),
            Err(e) => errs.push(format!("PEEKDATA {what}: {e}")),
        }
    }
    // Resumes and reaps our tracee.
    let _ = os::ptrace_cont(pid);
    let status = wait(pid)?;
    if !exited_0(status) {
        errs.push(format!(
            "the child did not see what was poked (status {:#x})",
            status.as_raw()
        ));
    }
    let (mine_s, mine_p) = (s.get_u64(0), p.get_u64(0));
    drop(s);
    drop(p);
    if mine_s != word {
        errs.push("the shared write is not in the file".into());
    }
    if mine_p == word {
        errs.push("the child's private write reached the parent's private mapping".into());
    }
    let mut head = [0u8; 8];
    std::fs::File::open(&pp).and_then(|f| f.read_exact_at(&mut head, 0))?;
    if &head != b"pppppppp" {
        errs.push("the private write reached the file".into());
    }
    ensure!(errs.is_empty(), "{}", errs.join("; "));
    Ok(())
}

/// Reading a shared mapping through `/proc/self/mem` (GUP cannot follow its entries on
/// rhugetlbfs; `vm_ops->access` does the read).
pub(super) fn proc_mem_read_shared(m: &Mnt) -> TestResult {
    let hs = m.hsize();
    let s = map_ok(&m.path("s"), hs, RW, SHARED)?;
    s.fill(0, 4096, b'r');
    // One byte past the first 4 KiB.
    s.set(4096, b'!');
    let mut buf = [0u8; 4097];
    let res = std::fs::File::open("/proc/self/mem")
        .and_then(|f| f.read_exact_at(&mut buf, s.addr() as u64));
    drop(s);
    res.context("read from /proc/self/mem")?;
    ensure!(
        buf[..4096].iter().all(|&c| c == b'r') && buf[4096] == b'!',
        "read back wrong bytes"
    );
    Ok(())
}

/// Issue 15, the stall: a thread writes through `/proc/self/mem` into a read-only private
/// page over and over (as a debugger pokes breakpoints) while another thread of the same
/// process unmaps the next page with a 2 MiB + 4 KiB `munmap`. Each forced write holds the
/// mmap lock for reading; if one never ends (the livelock of issue 10, a FOLL_FORCE fault
/// that GUP retried forever), the `munmap`, which needs the lock for writing, waits
/// forever. Both must finish: run in a child that SIGALRM ends.
pub(super) fn munmap_beside_forced_writes(m: &Mnt) -> TestResult {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let hs = m.hsize();
    let path = m.path("f");
    create_sized(&path, 2 * hs as u64)?;
    in_child_bounded(60, "munmap beside forced writes", || {
        let mut p = super::map(&path, 2 * hs, RW, PRIVATE).context("mmap")?;
        p.fill(0, 4096, b'P');
        // The first page of our mapping; the VMA splits at the page boundary.
        p.protect(0, hs, MprotectFlags::READ).context("mprotect")?;
        let stop = Arc::new(AtomicBool::new(false));
        let started = Arc::new(AtomicBool::new(false));
        let addr = p.addr() as u64;
        let poker = {
            let (stop, started) = (stop.clone(), started.clone());
            std::thread::spawn(move || -> anyhow::Result<()> {
                let mem = std::fs::OpenOptions::new()
                    .write(true)
                    .open("/proc/self/mem")
                    .context("open /proc/self/mem")?;
                started.store(true, Ordering::Relaxed);
                while !stop.load(Ordering::Relaxed) {
                    // Done in the private copy (rhugetlbfs) or EIO (6.12 hugetlbfs).
                    let _ = mem.write_at(b"x", addr + 8);
                }
                Ok(())
            })
        };
        // The munmap goes in once the writes have started (a slow debug guest takes more
        // than a moment to start a thread), while they go on.
        while !started.load(Ordering::Relaxed) {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
        // SAFETY: The second page of our mapping, and 4 KiB past its end (nothing of the
        // program: the mapping's address was rounded up inside a larger free range); none
        // of it is touched again.
        let r = unsafe { rustix::mm::munmap(p.ptr().wrapping_add(hs).cast(), hs + 4096) };
        // The second page is gone (if the munmap worked): the drop unmaps the first.
        p.forget_from(hs);
        stop.store(true, Ordering::Relaxed);
        poker.join().map_err(|_| anyhow!("poker panicked"))??;
        r.context("munmap of 2 MiB + 4 KiB")?;
        drop(p);
        Ok(())
    })
}
