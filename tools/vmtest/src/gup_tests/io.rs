//! I/O into and out of a shared mapping through GUP: O_DIRECT to a block device, io_uring
//! fixed buffers, `process_vm_readv`/`writev`, `vmsplice`, `MAP_POPULATE` and
//! `MADV_POPULATE_WRITE`. (ptrace and `/proc/PID/mem` of shared mappings: own_tests.)

use super::{check_pattern, faults, fill_pattern};
use crate::harness::TestResult;
use crate::map::{Map, RW, SHARED};
use crate::os::{in_child_bounded, pipe};
use crate::own_tests::{map_ok, Mnt};
use crate::sys::{self, Fs};
use anyhow::{ensure, Context, Result};
use rustix::fd::AsRawFd;
use rustix::mm::{Advice, MapFlags};
use std::os::unix::fs::{FileExt, OpenOptionsExt};

const MB: usize = 1 << 20;

/// The bytes `[off, off + n)` of `m` as a slice, for one system call that reads or writes
/// them.
///
/// # Safety
///
/// The slice is used only as a syscall's buffer during the call; no other code of the
/// program touches the range meanwhile.
unsafe fn span(m: &mut Map, off: usize, n: usize) -> &mut [u8] {
    assert!(
        off + n <= m.len(),
        "{off}+{n} outside a mapping of {}",
        m.len()
    );
    // SAFETY: Inside the mapping (asserted); the caller keeps the program's other accesses
    // away for the slice's use.
    unsafe { std::slice::from_raw_parts_mut(m.ptr().add(off), n) }
}

/// A loop device over a file in the guest's /tmp, detached on drop.
struct Loop {
    dev: String,
    img: String,
}

impl Loop {
    fn new(bytes: u64) -> Result<Loop> {
        let img = "/tmp/gup-loop.img".to_string();
        crate::map::create_sized(&img, bytes)?;
        let dev = sys::run("losetup", &["-f", "--show", &img])?
            .trim()
            .to_string();
        ensure!(dev.starts_with("/dev/loop"), "losetup printed {dev:?}");
        Ok(Loop { dev, img })
    }

    /// The device opened with `O_DIRECT`: I/O goes between the block device and the user
    /// buffer's pages, pinned by GUP for the transfer.
    fn open_direct(&self) -> Result<std::fs::File> {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_DIRECT)
            .open(&self.dev)
            .with_context(|| format!("open {} O_DIRECT", self.dev))
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        let _ = sys::run("losetup", &["-d", &self.dev]);
        let _ = std::fs::remove_file(&self.img);
    }
}

/// O_DIRECT both ways between a loop device and a shared mapping of the mount: a write from
/// the mapping's first MiB (GUP reads it), a read into its last MiB (GUP pins it for the
/// device to write), then the file's own contents checked through `read(2)`.
pub(super) fn o_direct(m: &Mnt) -> TestResult {
    let hs = m.hsize();
    let path = m.path("dio");
    let mut a = map_ok(&path, hs, RW, SHARED)?;
    let lp = Loop::new(4 * MB as u64)?;
    let dev = lp.open_direct()?;
    let mut want = vec![0u8; MB];
    fill_pattern(&mut want, 0, 0x5a);
    // SAFETY: The first MiB, written by this loop only.
    unsafe { span(&mut a, 0, MB) }.copy_from_slice(&want);
    // SAFETY: The first MiB is the buffer of this one write.
    let n = dev.write_at(unsafe { span(&mut a, 0, MB) }, 0);
    ensure!(
        matches!(n, Ok(len) if len == MB),
        "O_DIRECT write from the mapping: {n:?}"
    );
    // SAFETY: The last MiB is the buffer of this one read.
    let n = dev.read_at(unsafe { span(&mut a, hs - MB, MB) }, 0);
    ensure!(
        matches!(n, Ok(len) if len == MB),
        "O_DIRECT read into the mapping: {n:?}"
    );
    check_pattern(
        &a.read(hs - MB, MB),
        0,
        0x5a,
        "the mapping after the O_DIRECT read",
    )?;
    drop(a);
    let f = std::fs::File::open(&path)?;
    let mut got = vec![0u8; MB];
    f.read_exact_at(&mut got, (hs - MB) as u64)
        .context("read(2) of the file")?;
    check_pattern(&got, 0, 0x5a, "the file after the O_DIRECT read")?;
    drop(dev);
    drop(lp);
    sys::remove(&path)
}

/// An io_uring ring with the mapping's first 2 MiB registered as fixed buffer 0 (a
/// long-term pin), then one `READ_FIXED` into it and one `WRITE_FIXED` out of it.
pub(super) fn io_uring_fixed(m: &Mnt) -> TestResult {
    use io_uring::{opcode, types, IoUring};
    let path = m.path("ring");
    let mut a = map_ok(&path, m.hsize(), RW, SHARED)?;
    let len = 64 * 1024;
    let mut src = vec![0u8; len];
    fill_pattern(&mut src, 0, 0x11);
    let src_path = "/tmp/gup-ring-src";
    let dst_path = "/tmp/gup-ring-dst";
    std::fs::write(src_path, &src)?;
    let srcf = std::fs::File::open(src_path)?;
    let dstf = crate::map::create_empty(dst_path)?;
    a.fill(len, len, 0);
    let mut out = vec![0u8; len];
    fill_pattern(&mut out, 0, 0x22);
    // SAFETY: The first 64 KiB, written by this loop only.
    unsafe { span(&mut a, 0, len) }.copy_from_slice(&out);
    let mut ring = IoUring::new(4).context("io_uring_setup")?;
    let iov = libc::iovec {
        iov_base: a.ptr().cast(),
        iov_len: 2 * MB,
    };
    // SAFETY: 2 MiB of our mapping, which outlives the registration (unregistered below
    // before the mapping goes).
    unsafe { ring.submitter().register_buffers(&[iov]) }.context("register_buffers")?;
    let run = |ring: &mut IoUring, e: io_uring::squeue::Entry| -> Result<i32> {
        // SAFETY: The entry's buffer is inside the registered buffer, which lives until
        // unregistered; the call waits for the completion.
        unsafe { ring.submission().push(&e) }.map_err(|_| anyhow::anyhow!("SQ full"))?;
        ring.submit_and_wait(1).context("io_uring_enter")?;
        let cqe = ring.completion().next().context("no completion")?;
        Ok(cqe.result())
    };
    // SAFETY: Within fixed buffer 0 (the mapping's first 2 MiB).
    let read = opcode::ReadFixed::new(
        types::Fd(srcf.as_raw_fd()),
        unsafe { a.ptr().add(len) },
        len as u32,
        0,
    )
    .offset(0)
    .build();
    let r = run(&mut ring, read)?;
    let write = opcode::WriteFixed::new(types::Fd(dstf.as_raw_fd()), a.ptr(), len as u32, 0)
        .offset(0)
        .build();
    let w = run(&mut ring, write)?;
    ring.submitter()
        .unregister_buffers()
        .context("unregister_buffers")?;
    drop(ring);
    ensure!(r == len as i32, "READ_FIXED into the mapping: {r}");
    ensure!(w == len as i32, "WRITE_FIXED from the mapping: {w}");
    check_pattern(&a.read(len, len), 0, 0x11, "the mapping after READ_FIXED")?;
    check_pattern(
        &std::fs::read(dst_path)?,
        0,
        0x22,
        "the file after WRITE_FIXED",
    )?;
    drop(a);
    let _ = std::fs::remove_file(src_path);
    let _ = std::fs::remove_file(dst_path);
    sys::remove(&path)
}

/// Another process reads and writes the mapping with `process_vm_readv`/`writev` (GUP in
/// the target's mm, no fallback to `vm_ops->access`).
pub(super) fn process_vm(m: &Mnt) -> TestResult {
    let path = m.path("pvm");
    let mut a = map_ok(&path, m.hsize(), RW, SHARED)?;
    let mut want = vec![0u8; 8192];
    fill_pattern(&mut want, 0, 0x33);
    // SAFETY: The first 8 KiB, written by this loop only.
    unsafe { span(&mut a, 0, 8192) }.copy_from_slice(&want);
    let (addr, parent) = (a.addr(), rustix::process::getpid().as_raw_nonzero().get());
    in_child_bounded(60, "process_vm child", || {
        let mut got = vec![0u8; 8192];
        let n = crate::os::process_vm(parent, addr, &mut got, false)?;
        ensure!(n == 8192, "process_vm_readv: {n} bytes");
        check_pattern(&got, 0, 0x33, "process_vm_readv")?;
        let mut put = vec![0u8; 4096];
        fill_pattern(&mut put, 0, 0x44);
        let n = crate::os::process_vm(parent, addr + 8192, &mut put, true)?;
        ensure!(n == 4096, "process_vm_writev: {n} bytes");
        Ok(())
    })?;
    check_pattern(
        &a.read(8192, 4096),
        0,
        0x44,
        "the mapping after process_vm_writev",
    )?;
    drop(a);
    sys::remove(&path)
}

/// `vmsplice` of 4 KiB of a shared mapping into a pipe: the pipe holds references to the
/// page and gives back the bytes.
pub(super) fn vmsplice_shared(m: &Mnt) -> TestResult {
    use rustix::pipe::{IoSliceRaw, SpliceFlags};
    let path = m.path("splice");
    let a = map_ok(&path, m.hsize(), RW, SHARED)?;
    a.fill(0, 4096, b'S');
    let (r, w) = pipe()?;
    // SAFETY: 4 KiB of our mapping, read by the kernel during the call only.
    let n = unsafe {
        let head = std::slice::from_raw_parts(a.ptr(), 4096);
        rustix::pipe::vmsplice(&w, &[IoSliceRaw::from_slice(head)], SpliceFlags::empty())
    };
    ensure!(matches!(n, Ok(4096)), "vmsplice of a shared mapping: {n:?}");
    let mut buf = vec![0u8; 4096];
    let got = rustix::io::read(&r, &mut buf);
    ensure!(matches!(got, Ok(4096)), "read from the pipe: {got:?}");
    ensure!(
        buf.iter().all(|&c| c == b'S'),
        "the pipe's bytes are not the mapping's"
    );
    drop((r, w, a));
    sys::remove(&path)
}

/// `MAP_POPULATE` maps all four pages at `mmap`, `MADV_POPULATE_WRITE` at `madvise`: the
/// fault counter moves then, and not when the pages are touched after; smaps shows them
/// resident before the touch.
pub(super) fn populate(m: &Mnt) -> TestResult {
    let (hs, kb) = (m.hsize(), m.hsize() as u64 >> 10);
    let path = m.path("pop");
    let len = 4 * hs;
    crate::map::create_sized(&path, len as u64)?;
    let resident = |a: &Map| -> Result<u64> {
        let s = sys::smaps(a.addr())?;
        Ok(match m.fs {
            Fs::Rh => s.get("Rss").copied().unwrap_or(0),
            Fs::Kernel => sys::smaps_hugetlb(&s),
        })
    };
    for how in ["MAP_POPULATE", "MADV_POPULATE_WRITE"] {
        let f0 = faults(m, kb, "faults_pmd")?;
        let a = match how {
            "MAP_POPULATE" => Map::of_path(&path, len, 0, SHARED | MapFlags::POPULATE)
                .with_context(|| format!("mmap {how}"))?,
            _ => {
                let a = Map::of_path(&path, len, 0, SHARED)?;
                a.advise(Advice::LinuxPopulateWrite)
                    .with_context(|| format!("madvise {how}"))?;
                a
            }
        };
        let f1 = faults(m, kb, "faults_pmd")?;
        let rss = resident(&a)?;
        ensure!(
            rss == (len as u64) >> 10,
            "{how}: {rss} kB resident before any touch, want {}",
            len >> 10
        );
        for p in 0..4 {
            a.set(p * hs + 7, p as u8 + 1);
        }
        let f2 = faults(m, kb, "faults_pmd")?;
        if m.fs == Fs::Rh {
            ensure!(
                f1 - f0 == 4 && f2 == f1,
                "{how}: {} PMD faults at populate, {} when touched after (want 4, 0)",
                f1 - f0,
                f2 - f1
            );
        }
        drop(a);
        if how == "MAP_POPULATE" {
            // Start the second round from holes again.
            std::fs::OpenOptions::new()
                .write(true)
                .open(&path)?
                .set_len(0)?;
            std::fs::OpenOptions::new()
                .write(true)
                .open(&path)?
                .set_len(len as u64)?;
        }
    }
    sys::remove(&path)
}
