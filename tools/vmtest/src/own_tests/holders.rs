//! Holders that outlive every mapping of a page: a pipe (`vmsplice`) and an io_uring
//! registered buffer (a long-term pin); a mount unmounted while a pipe holds its page.

use super::{map, map_ok, Mnt};
use crate::harness::TestResult;
use crate::map::{PRIVATE, RW, SHARED};
use crate::os::{pipe, umount};
use crate::sys::{self, Fs};
use anyhow::{bail, ensure, Context, Result};
use rustix::fd::OwnedFd;
use rustix::io::Errno;
use rustix::pipe::{IoSliceRaw, SpliceFlags};

/// A private page of file `a`, written with `A`s, 4 KiB of it spliced into a pipe, then
/// unmapped and the file deleted: the pipe (read end, write end) is its only holder.
fn pipe_holds_deleted_private_page(m: &Mnt) -> Result<(OwnedFd, OwnedFd)> {
    let a = map_ok(&m.path("a"), m.hsize(), RW, PRIVATE)?;
    a.fill(0, 4096, b'A');
    let (r, w) = pipe()?;
    // SAFETY: The slice is 4 KiB of our mapping, read by the kernel during the call only
    // (vmsplice takes references to the pages; no reference of ours outlives the call,
    // and nothing writes the range meanwhile).
    let n = unsafe {
        let head = std::slice::from_raw_parts(a.ptr(), 4096);
        rustix::pipe::vmsplice(&w, &[IoSliceRaw::from_slice(head)], SpliceFlags::empty())
    };
    ensure!(matches!(n, Ok(4096)), "vmsplice: {n:?}");
    drop(a);
    sys::remove(&m.path("a"))?;
    Ok((r, w))
}

/// Issue 10, item 1: a private page is written, 4 KiB of it spliced into a pipe
/// (`vmsplice` takes page references through GUP), then unmapped and its file deleted. The
/// pipe is now the page's only holder: the page must not be reused by another file of the
/// same mount (with a pool of one page, the next shared mapping finds no page: `ENOMEM`)
/// and the pipe must still read the first file's bytes. Once the pipe is closed the page
/// is free again.
pub(super) fn vmsplice_holder(m: &Mnt) -> TestResult {
    let hs = m.hsize();
    let (r, w) = pipe_holds_deleted_private_page(m)?;
    let nr = m.counter("nr_hugepages")?;
    let (free, draining) = (m.counter("free_hugepages")?, m.draining()?);
    ensure!(
        free == nr - 1,
        "the page the pipe holds counts as free: nr {nr} free {free}"
    );
    if m.fs == Fs::Rh {
        ensure!(draining == 1, "draining_hugepages {draining}, want 1");
    }
    // Another file wants a page: it must not get the held one.
    let b = match map(&m.path("b"), hs, RW, SHARED) {
        Ok(b) => {
            b.fill(0, 4096, b'B');
            Some(b)
        }
        Err(Errno::NOMEM) if free == 0 => None,
        Err(e) => bail!("mmap b: {e} with {free} free pages"),
    };
    let mut buf = vec![0u8; 4096];
    let got = rustix::io::read(&r, &mut buf);
    drop((r, w));
    let got_b = b.is_some();
    drop(b);
    ensure!(matches!(got, Ok(4096)), "read from the pipe: {got:?}");
    let wrong = buf.iter().filter(|&&c| c != b'A').count();
    ensure!(
        wrong == 0,
        "the pipe returned {wrong} bytes that are not the first file's (first: {:?}): the page was handed on while referenced",
        buf.iter().find(|&&c| c != b'A').map(|&c| c as char)
    );
    // The second file keeps its page, if it got one.
    let (free, draining) = (m.counter("free_hugepages")?, m.draining()?);
    ensure!(
        draining == 0 && free == nr - u64::from(got_b),
        "after closing the pipe: nr {nr} free {free} draining {draining}"
    );
    Ok(())
}

/// As [`vmsplice_holder`] with a long-term pin: an io_uring registered buffer
/// (`FOLL_LONGTERM`), which holds the page until it is unregistered.
pub(super) fn io_uring_holder(m: &Mnt) -> TestResult {
    use rustix::io_uring::{io_uring_params, io_uring_register, io_uring_setup, IoringRegisterOp};
    let hs = m.hsize();
    let a = map_ok(&m.path("a"), hs, RW, PRIVATE)?;
    a.fill(0, 4096, b'A');
    let mut params = io_uring_params::default();
    // SAFETY: One entry and a zeroed parameter block: no flags that take pointers or fds.
    let ring = unsafe { io_uring_setup(1, &mut params) }.context("io_uring_setup")?;
    let iov = libc::iovec {
        iov_base: a.ptr().cast(),
        iov_len: 4096,
    };
    // SAFETY: Registers 4 KiB of our mapping as a fixed buffer of our ring; the ring only
    // pins the pages (no I/O is submitted) and is closed before the function returns.
    let r = unsafe {
        io_uring_register(
            &ring,
            IoringRegisterOp::RegisterBuffers,
            (&raw const iov).cast(),
            1,
        )
    };
    if let Err(e) = r {
        drop(ring);
        drop(a);
        bail!("io_uring_register(BUFFERS): {e}");
    }
    drop(a);
    sys::remove(&m.path("a"))?;
    let nr = m.counter("nr_hugepages")?;
    let free = m.counter("free_hugepages")?;
    let draining = m.draining()?;
    // SAFETY: Unregisters the buffers of our ring (synchronous: the pin is dropped here);
    // no argument.
    let r = unsafe {
        io_uring_register(
            &ring,
            IoringRegisterOp::UnregisterBuffers,
            std::ptr::null(),
            0,
        )
    };
    drop(ring);
    r.context("io_uring_register(UNREGISTER)")?;
    ensure!(
        free == nr - 1,
        "the page the ring pins counts as free: nr {nr} free {free}"
    );
    if m.fs == Fs::Rh {
        ensure!(
            draining == 1,
            "draining_hugepages {draining} while pinned, want 1"
        );
    }
    let (free, draining) = (m.counter("free_hugepages")?, m.draining()?);
    ensure!(
        free == nr && draining == 0,
        "after unregistering: nr {nr} free {free} draining {draining}"
    );
    Ok(())
}

/// Issue 15: a private page of a `min_size=2M` mount (its reservation covered by the
/// mount's reserve) is written, spliced into a pipe, unmapped, its file deleted and the
/// mount unmounted while the pipe still holds the page (private: GUP refuses rhugetlbfs's
/// shared mappings, see issue 12). The reservation the page restores when it is finally freed
/// belongs to a mount that is gone: it must not come back once the pipe is closed.
pub(super) fn unmount_while_held(m: Mnt) -> TestResult {
    let pipe = pipe_holds_deleted_private_page(&m)?;
    umount(m.dir)?;
    drop(pipe);
    let (nr, free, resv) = (
        m.counter("nr_hugepages")?,
        m.counter("free_hugepages")?,
        m.counter("resv_hugepages")?,
    );
    ensure!(
        free == nr && resv == 0,
        "after unmount and closing the pipe: nr {nr} free {free} resv {resv}"
    );
    drop(m);
    Ok(())
}
