//! Hostile use (issue 10): references to pool pages that outlive every mapping, forced
//! writes through ptrace and `/proc/PID/mem`, partial hole punches, truncation to the same
//! size. Each test runs the same steps on rhugetlbfs and on the kernel's own hugetlbfs in
//! this guest (the reference) and expects the same results, unless a line says why not.

use crate::ensure;
use crate::fs_tests::pipe;
use crate::harness::{Suite, TestResult};
use crate::sys::{self, counter};
use std::ffi::CString;
use std::os::unix::fs::FileExt;

pub fn register(s: &mut Suite) {
    s.add("own_vmsplice_holder_outlives_private_mapping_2m", || {
        both(2048, vmsplice_holder)
    });
    s.add("own_vmsplice_holder_outlives_private_mapping_1g", || {
        both(1048576, vmsplice_holder)
    });
    s.add("own_io_uring_pin_outlives_private_mapping_2m", || {
        both(2048, io_uring_holder)
    });
    s.add("own_forced_write_readonly_private_2m", || {
        both(2048, forced_write_readonly_private)
    });
    s.add("own_forced_write_readonly_private_1g", || {
        both(1048576, forced_write_readonly_private)
    });
    s.add("own_ptrace_poke_peek_shared_and_private_2m", || {
        both_n(2048, 4, ptrace_poke)
    });
    s.add("own_proc_mem_reads_shared_mapping_2m", || {
        both(2048, proc_mem_read_shared)
    });
    s.add("own_punch_partial_ranges_zero_exactly_2m", || {
        both_n(2048, 2, punch_partial)
    });
    s.add("own_punch_partial_ranges_zero_exactly_1g", || {
        both(1048576, punch_partial)
    });
    s.add("own_truncate_same_size_frees_pages_past_eof_2m", || {
        both_n(2048, 3, truncate_past_eof)
    });
    s.add(
        "own_partial_munmap_private_returns_page_and_reservation_2m",
        || both_n(2048, 3, partial_munmap_private),
    );
    s.add(
        "own_failed_mmap_on_min_size_mount_leaks_no_reservation_2m",
        || {
            // 6.12's hugetlbfs has the same arithmetic (`hugetlb_reserve_pages` puts all of
            // `chg` back into the subpool on failure) and its unmount then drives
            // `resv_hugepages` below zero, which would wreck the reference for the rest of the
            // suite: rhugetlbfs only.
            let m = Mnt::with_opts(Fs::Rh, 2048, 2, ",min_size=4M")?;
            failed_mmap_min_size(&m)?;
            m.unmount_and_check()
        },
    );
    s.add("own_unmount_min_size_while_pipe_holds_page_2m", || {
        for fs in [Fs::Rh, Fs::Kernel] {
            let m = Mnt::with_opts(fs, 2048, 2, ",min_size=2M")?;
            unmount_while_held(m).map_err(|e| format!("{fs:?}: {e}"))?;
        }
        Ok(())
    });
    s.add("own_munmap_beside_forced_writes_not_stalled_2m", || {
        both_n(2048, 2, munmap_beside_forced_writes)
    });
    s.add("own_punch_vs_mmap_munmap_and_writes_no_sigbus_2m", || {
        both_n(2048, 8, punch_mmap_writes)
    });
}

/// Which implementation a run is on.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Fs {
    /// rhugetlbfs, freshly loaded.
    Rh,
    /// The kernel's own hugetlbfs: the reference.
    Kernel,
}

/// Runs `f` on rhugetlbfs, then on the kernel's hugetlbfs, for pages of `kb`, with a pool
/// of one page.
fn both(kb: u64, f: fn(&Mnt) -> TestResult) -> TestResult {
    both_n(kb, 1, f)
}

/// As [`both`] with a pool of `pages` pages.
fn both_n(kb: u64, pages: u64, f: fn(&Mnt) -> TestResult) -> TestResult {
    for fs in [Fs::Rh, Fs::Kernel] {
        let m = Mnt::new(fs, kb, pages)?;
        f(&m).map_err(|e| format!("{fs:?} {kb} kB: {e}"))?;
        m.check_idle().map_err(|e| format!("{fs:?} {kb} kB: {e}"))?;
    }
    Ok(())
}

/// A mount of one implementation with a pool of `pages` free pages of `kb` (at least, for
/// the kernel's 1 GiB pool, which is the suite's keeper of three).
pub(crate) struct Mnt {
    pub(crate) fs: Fs,
    kb: u64,
    dir: &'static str,
    /// The kernel's 2 MiB pool size before the test, restored after.
    kernel_nr0: Option<u64>,
    _loan: Option<sys::Loan1g>,
}

const RH_DIR: &str = "/tmp/own-rh";
const KERNEL_DIR: &str = "/tmp/own-kernel";

fn kernel_hdir(kb: u64) -> String {
    format!("/sys/kernel/mm/hugepages/hugepages-{kb}kB")
}

impl Mnt {
    pub(crate) fn new(fs: Fs, kb: u64, pages: u64) -> Result<Self, String> {
        Self::with_opts(fs, kb, pages, "")
    }

    /// As [`Mnt::new`], mounted with `opts` (",min_size=..." and the like) after the
    /// page size.
    pub(crate) fn with_opts(fs: Fs, kb: u64, pages: u64, opts: &str) -> Result<Self, String> {
        let size = if kb == 2048 { "2M" } else { "1G" };
        let (dir, fstype, mut kernel_nr0, mut loan) = (
            if fs == Fs::Rh { RH_DIR } else { KERNEL_DIR },
            if fs == Fs::Rh {
                "rhugetlbfs"
            } else {
                "hugetlbfs"
            },
            None,
            None,
        );
        let _ = umount(dir);
        match (fs, kb) {
            (Fs::Rh, _) => {
                sys::ensure_unloaded()?;
                sys::insmod(&[])?;
                if kb == 2048 {
                    sys::pool_2m(pages)?;
                } else {
                    loan = Some(sys::lend_1g(pages)?);
                }
            }
            (Fs::Kernel, 2048) => {
                let nr = format!("{}/nr_hugepages", kernel_hdir(kb));
                kernel_nr0 = Some(sys::read_u64(&nr)?);
                sys::write_ok(&nr, &format!("{pages}\n"))?;
                let got = sys::read_u64(&nr)?;
                ensure!(
                    got == pages,
                    "SUITE SETUP FAILURE: the kernel's 2 MiB pool reached {got} of {pages}"
                );
            }
            (Fs::Kernel, _) => {
                let free = sys::read_u64(&format!("{}/free_hugepages", kernel_hdir(kb)))?;
                ensure!(
                    free >= pages,
                    "SUITE SETUP FAILURE: the kernel's 1 GiB pool (the keeper) has {free} free pages"
                );
            }
        }
        let m = Mnt {
            fs,
            kb,
            dir,
            kernel_nr0,
            _loan: loan,
        };
        std::fs::create_dir_all(dir).map_err(|e| format!("mkdir {dir}: {e}"))?;
        mount(fstype, dir, &format!("pagesize={size}{opts}"))?;
        Ok(m)
    }

    pub(crate) fn hsize(&self) -> usize {
        (self.kb as usize) << 10
    }

    pub(crate) fn path(&self, name: &str) -> String {
        format!("{}/{name}", self.dir)
    }

    /// A counter of this implementation's pool of this size.
    fn counter(&self, name: &str) -> Result<u64, String> {
        match self.fs {
            Fs::Rh => counter(self.kb, name),
            Fs::Kernel => sys::read_u64(&format!("{}/{name}", kernel_hdir(self.kb))),
        }
    }

    /// Pages given back but still referenced elsewhere (rhugetlbfs's `draining_hugepages`;
    /// the kernel's hugetlbfs shows them only as not free).
    fn draining(&self) -> Result<u64, String> {
        match self.fs {
            Fs::Rh => counter(self.kb, "draining_hugepages"),
            Fs::Kernel => Ok(0),
        }
    }

    /// The invariants once every file is gone: all pages free, nothing reserved or
    /// draining.
    pub(crate) fn check_idle(&self) -> TestResult {
        self.remove_files()?;
        self.expect_idle("after the test")
    }

    /// Removes the files, unmounts, and checks that the pool is idle with the mount gone
    /// (a `min_size` mount's reserve is given back only then).
    pub(crate) fn unmount_and_check(self) -> TestResult {
        self.remove_files()?;
        umount(self.dir)?;
        self.expect_idle("after unmount")
    }

    fn remove_files(&self) -> TestResult {
        for entry in std::fs::read_dir(self.dir).map_err(|e| e.to_string())? {
            let p = entry.map_err(|e| e.to_string())?.path();
            std::fs::remove_file(&p).map_err(|e| format!("rm {p:?}: {e}"))?;
        }
        Ok(())
    }

    /// All pages free, nothing reserved or draining.
    fn expect_idle(&self, when: &str) -> TestResult {
        let (nr, free, resv) = (
            self.counter("nr_hugepages")?,
            self.counter("free_hugepages")?,
            self.counter("resv_hugepages")?,
        );
        let draining = self.draining()?;
        ensure!(
            free == nr && resv == 0 && draining == 0,
            "{when}: nr {nr} free {free} resv {resv} draining {draining}"
        );
        Ok(())
    }
}

impl Drop for Mnt {
    fn drop(&mut self) {
        let _ = umount(self.dir);
        if let Some(nr0) = self.kernel_nr0 {
            let _ = sys::write(
                &format!("{}/nr_hugepages", kernel_hdir(self.kb)),
                &format!("{nr0}\n"),
            );
        }
        if self.fs == Fs::Rh && self.kb == 2048 {
            let _ = sys::set_nr(2048, 0);
        }
    }
}

pub(crate) fn mount(fstype: &str, dir: &str, opts: &str) -> TestResult {
    let c = |s: &str| CString::new(s).unwrap();
    let (src, tgt, fs, data) = (c("none"), c(dir), c(fstype), c(opts));
    // SAFETY: All strings are valid NUL-terminated C strings for the call.
    let r = unsafe {
        libc::mount(
            src.as_ptr(),
            tgt.as_ptr(),
            fs.as_ptr(),
            0,
            data.as_ptr().cast(),
        )
    };
    ensure!(
        r == 0,
        "mount -t {fstype} -o {opts} {dir}: {}",
        std::io::Error::last_os_error()
    );
    Ok(())
}

pub(crate) fn umount(dir: &str) -> TestResult {
    let tgt = CString::new(dir).unwrap();
    // SAFETY: `tgt` is a valid C string.
    if unsafe { libc::umount(tgt.as_ptr()) } != 0 {
        return Err(format!("umount {dir}: {}", std::io::Error::last_os_error()));
    }
    Ok(())
}

pub(crate) fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// A mapping of the whole first `len` bytes of `path` (created, and sized to `len` for a
/// shared writable one); Err(errno).
pub(crate) fn map(path: &str, len: usize, prot: i32, flags: i32) -> Result<*mut u8, i32> {
    use std::os::unix::io::AsRawFd;
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| e.raw_os_error().unwrap_or(0))?;
    if f.metadata().map(|m| m.len()).unwrap_or(0) < len as u64 {
        f.set_len(len as u64)
            .map_err(|e| e.raw_os_error().unwrap_or(0))?;
    }
    // SAFETY: A fresh mapping at an address the kernel picks.
    let p = unsafe { libc::mmap(std::ptr::null_mut(), len, prot, flags, f.as_raw_fd(), 0) };
    if p == libc::MAP_FAILED {
        return Err(errno());
    }
    Ok(p.cast())
}

pub(crate) const RW: i32 = libc::PROT_READ | libc::PROT_WRITE;

/// A mapping, unmapped on drop (so that a failed test leaves no mount busy).
pub(crate) struct Map {
    pub(crate) p: *mut u8,
    len: usize,
}

impl Drop for Map {
    fn drop(&mut self) {
        unmap(self.p, self.len);
    }
}

pub(crate) fn map_ok(path: &str, len: usize, prot: i32, flags: i32) -> Result<Map, String> {
    map(path, len, prot, flags)
        .map(|p| Map { p, len })
        .map_err(|e| format!("mmap {path}: errno {e}"))
}

fn unmap(p: *mut u8, len: usize) {
    // SAFETY: `p`/`len` is a whole mapping made by `map`.
    unsafe { libc::munmap(p.cast(), len) };
}

/// Fills `n` bytes at `p` with `b`.
fn fill(p: *mut u8, n: usize, b: u8) {
    // SAFETY: The callers pass ranges inside their mappings.
    unsafe { std::ptr::write_bytes(p, b, n) };
}

/// `path` created empty (or emptied) and sized to `len`, open for reading and writing.
fn create_sized(path: &str, len: u64) -> Result<std::fs::File, String> {
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| format!("create {path}: {e}"))?;
    f.set_len(len)
        .map_err(|e| format!("size {path} to {len}: {e}"))?;
    Ok(f)
}

fn close(fd: i32) {
    // SAFETY: Closes a descriptor the test owns.
    unsafe { libc::close(fd) };
}

/// A private page of file `a`, written with `A`s, 4 KiB of it spliced into a pipe, then
/// unmapped and the file deleted: the pipe (read end, write end) is its only holder.
fn pipe_holds_deleted_private_page(m: &Mnt) -> Result<(i32, i32), String> {
    let a = map_ok(&m.path("a"), m.hsize(), RW, libc::MAP_PRIVATE)?;
    fill(a.p, 4096, b'A');
    let (r, w) = pipe()?;
    let iov = libc::iovec {
        iov_base: a.p.cast(),
        iov_len: 4096,
    };
    // SAFETY: `iov` describes 4 KiB of our mapping.
    let n = unsafe { libc::vmsplice(w, &iov, 1, 0) };
    ensure!(
        n == 4096,
        "vmsplice: {n} ({})",
        std::io::Error::last_os_error()
    );
    drop(a);
    std::fs::remove_file(m.path("a")).map_err(|e| e.to_string())?;
    Ok((r, w))
}

/// Issue 10, item 1: a private page is written, 4 KiB of it spliced into a pipe
/// (`vmsplice` takes page references through GUP), then unmapped and its file deleted. The
/// pipe is now the page's only holder: the page must not be reused by another file of the
/// same mount (with a pool of one page, the next shared mapping finds no page: `ENOMEM`)
/// and the pipe must still read the first file's bytes. Once the pipe is closed the page
/// is free again.
fn vmsplice_holder(m: &Mnt) -> TestResult {
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
    let b = match map(&m.path("b"), hs, RW, libc::MAP_SHARED) {
        Ok(b) => {
            fill(b, 4096, b'B');
            Some(b)
        }
        Err(libc::ENOMEM) if free == 0 => None,
        Err(e) => return Err(format!("mmap b: errno {e} with {free} free pages")),
    };
    let mut buf = vec![0u8; 4096];
    // SAFETY: Reads into a local buffer of 4096 bytes.
    let got = unsafe { libc::read(r, buf.as_mut_ptr().cast(), 4096) };
    close(r);
    close(w);
    if let Some(b) = b {
        unmap(b, hs);
    }
    ensure!(got == 4096, "read from the pipe: {got}");
    let wrong = buf.iter().filter(|&&c| c != b'A').count();
    ensure!(
        wrong == 0,
        "the pipe returned {wrong} bytes that are not the first file's (first: {:?}): the page was handed on while referenced",
        buf.iter().find(|&&c| c != b'A').map(|&c| c as char)
    );
    // The second file keeps its page, if it got one.
    let (free, draining) = (m.counter("free_hugepages")?, m.draining()?);
    ensure!(
        draining == 0 && free == nr - u64::from(b.is_some()),
        "after closing the pipe: nr {nr} free {free} draining {draining}"
    );
    Ok(())
}

/// `io_uring_setup(2)` and `io_uring_register(2)` (x86_64 numbers; no liburing here).
const SYS_IO_URING_SETUP: libc::c_long = 425;
const SYS_IO_URING_REGISTER: libc::c_long = 427;
const IORING_REGISTER_BUFFERS: libc::c_long = 0;
const IORING_UNREGISTER_BUFFERS: libc::c_long = 1;

/// As [`vmsplice_holder`] with a long-term pin: an io_uring registered buffer
/// (`FOLL_LONGTERM`), which holds the page until it is unregistered.
fn io_uring_holder(m: &Mnt) -> TestResult {
    let hs = m.hsize();
    let a = map_ok(&m.path("a"), hs, RW, libc::MAP_PRIVATE)?;
    fill(a.p, 4096, b'A');
    let mut params = [0u8; 120]; // struct io_uring_params
                                 // SAFETY: io_uring_setup with 1 entry and a zeroed parameter block of the right size.
    let ring = unsafe { libc::syscall(SYS_IO_URING_SETUP, 1, params.as_mut_ptr()) } as i32;
    ensure!(
        ring >= 0,
        "io_uring_setup: {}",
        std::io::Error::last_os_error()
    );
    let iov = libc::iovec {
        iov_base: a.p.cast(),
        iov_len: 4096,
    };
    // SAFETY: Registers 4 KiB of our mapping as a fixed buffer of our ring.
    let r = unsafe {
        libc::syscall(
            SYS_IO_URING_REGISTER,
            ring,
            IORING_REGISTER_BUFFERS,
            &iov,
            1,
        )
    };
    if r != 0 {
        let e = std::io::Error::last_os_error();
        close(ring);
        drop(a);
        return Err(format!("io_uring_register(BUFFERS): {e}"));
    }
    drop(a);
    std::fs::remove_file(m.path("a")).map_err(|e| e.to_string())?;
    let nr = m.counter("nr_hugepages")?;
    let free = m.counter("free_hugepages")?;
    let draining = m.draining()?;
    // SAFETY: Unregisters the buffers of our ring (synchronous: the pin is dropped here).
    let r = unsafe {
        libc::syscall(
            SYS_IO_URING_REGISTER,
            ring,
            IORING_UNREGISTER_BUFFERS,
            0usize,
            0,
        )
    };
    close(ring);
    ensure!(
        r == 0,
        "io_uring_register(UNREGISTER): {}",
        std::io::Error::last_os_error()
    );
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

/// Runs `f` in a forked child that SIGALRM kills after `secs` (a livelock in the kernel
/// ends there: an unhandled fatal signal stops GUP's retry loop). Ok if it exited 0.
fn in_child_bounded(secs: u32, what: &str, f: impl FnOnce() -> Result<(), String>) -> TestResult {
    let (r, w) = pipe()?;
    // SAFETY: The child runs `f`, reports through the pipe and exits without unwinding.
    unsafe {
        let pid = libc::fork();
        if pid == 0 {
            libc::close(r);
            libc::alarm(secs);
            let res = f();
            let msg = match &res {
                Ok(()) => String::new(),
                Err(e) => e.clone(),
            };
            libc::write(w, msg.as_ptr().cast(), msg.len());
            libc::_exit(i32::from(res.is_err()));
        }
        close(w);
        let mut msg = vec![0u8; 4096];
        let n = libc::read(r, msg.as_mut_ptr().cast(), msg.len()).max(0) as usize;
        close(r);
        let mut status = 0;
        libc::waitpid(pid, &mut status, 0);
        if libc::WIFSIGNALED(status) {
            let sig = libc::WTERMSIG(status);
            return Err(if sig == libc::SIGALRM {
                format!("{what} did not finish in {secs} s (a livelock)")
            } else {
                format!("{what}: killed by signal {sig}")
            });
        }
        ensure!(
            libc::WEXITSTATUS(status) == 0,
            "{what}: {}",
            String::from_utf8_lossy(&msg[..n])
        );
    }
    Ok(())
}

/// Issue 10, item 2: a written private mapping made read-only with `mprotect`, then a
/// write through `/proc/self/mem` (FOLL_FORCE), as debuggers do. It must finish at once,
/// never loop: run in a child that SIGALRM ends. rhugetlbfs does the write in the mapping's
/// own copy of the page; 6.12's hugetlbfs refuses forced writes into read-only hugetlb
/// mappings (`check_vma_flags`: "hugetlb does not support FOLL_FORCE|FOLL_WRITE"), so the
/// write fails there with EIO. Either way the file (a hole here, so that a 1 GiB page is
/// zeroed once rather than copied) stays as it was.
fn forced_write_readonly_private(m: &Mnt) -> TestResult {
    let hs = m.hsize();
    let path = m.path("f");
    std::fs::File::create(&path)
        .and_then(|f| f.set_len(hs as u64))
        .map_err(|e| e.to_string())?;
    let secs = if m.kb == 2048 { 60 } else { 600 };
    let completes = m.fs == Fs::Rh;
    let child_path = path.clone();
    in_child_bounded(secs, "a write through /proc/self/mem", move || {
        let p = map_ok(&child_path, hs, RW, libc::MAP_PRIVATE)?;
        // SAFETY: Inside the mapping.
        unsafe { *p.p.add(1) = b'P' };
        // SAFETY: `p` is our whole mapping.
        ensure!(
            unsafe { libc::mprotect(p.p.cast(), hs, libc::PROT_READ) } == 0,
            "mprotect: {}",
            std::io::Error::last_os_error()
        );
        let mem = std::fs::OpenOptions::new()
            .write(true)
            .open("/proc/self/mem")
            .map_err(|e| format!("open /proc/self/mem: {e}"))?;
        let res = mem.write_at(b"xyz", p.p as u64 + 2);
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
        // SAFETY: Inside the (read-only) mapping.
        let seen = unsafe { std::slice::from_raw_parts(p.p, 6).to_vec() };
        ensure!(
            seen == want,
            "the mapping reads {seen:?} after the forced write"
        );
        Ok(())
    })?;
    let mut head = [0u8; 6];
    std::fs::File::open(&path)
        .and_then(|f| f.read_exact_at(&mut head, 0))
        .map_err(|e| e.to_string())?;
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
fn ptrace_poke(m: &Mnt) -> TestResult {
    let hs = m.hsize();
    let (sp, pp) = (m.path("s"), m.path("p"));
    let s = map_ok(&sp, hs, RW, libc::MAP_SHARED)?;
    fill(s.p, 64, b's');
    let q = map_ok(&pp, hs, RW, libc::MAP_SHARED)?;
    fill(q.p, 64, b'p');
    drop(q);
    // Read-only private, as a debugger's breakpoint target: only a forced write may change it.
    let p = map_ok(&pp, hs, libc::PROT_READ, libc::MAP_PRIVATE)?;
    let word = u64::from_le_bytes(*b"POKEPOKE");
    let file_word = u64::from_le_bytes(*b"pppppppp");
    let (sa, pa) = (s.p as u64, p.p as u64);
    let private_ok = m.fs == Fs::Rh;
    let private_want = if private_ok { word } else { file_word };
    // SAFETY: fork; the child stops for its tracer and then checks what it sees.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: In the child: trace me, stop, then read our own mappings.
        unsafe {
            libc::ptrace(libc::PTRACE_TRACEME, 0, 0, 0);
            libc::raise(libc::SIGSTOP);
            let ok = *(sa as *const u64) == word && *(pa as *const u64) == private_want;
            libc::_exit(if ok { 0 } else { 1 });
        }
    }
    let mut status = 0;
    // SAFETY: Waits for our child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    let mut errs = Vec::new();
    for (what, addr, ok, want) in [
        ("shared", sa, true, word),
        ("private", pa, private_ok, private_want),
    ] {
        // SAFETY: PTRACE_POKEDATA/PEEKDATA on our stopped tracee.
        unsafe {
            let r = libc::ptrace(libc::PTRACE_POKEDATA, pid, addr, word);
            let e = errno();
            if ok && r != 0 {
                errs.push(format!(
                    "POKEDATA {what}: {}",
                    std::io::Error::from_raw_os_error(e)
                ));
            } else if !ok && (r != -1 || e != libc::EIO) {
                errs.push(format!("POKEDATA {what}: {r} (errno {e}), want EIO"));
            }
            *libc::__errno_location() = 0;
            let v = libc::ptrace(libc::PTRACE_PEEKDATA, pid, addr, 0) as u64;
            if v != want {
                errs.push(format!(
                    "PEEKDATA {what}: {v:#x} ({})",
                    std::io::Error::last_os_error()
                ));
            }
        }
    }
    // SAFETY: Resumes and reaps our tracee.
    unsafe {
        libc::ptrace(libc::PTRACE_CONT, pid, 0, 0);
        libc::waitpid(pid, &mut status, 0);
    }
    if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
        errs.push(format!(
            "the child did not see what was poked (status {status:#x})"
        ));
    }
    // SAFETY: Inside our own mappings.
    let (mine_s, mine_p) = unsafe { (*(s.p as *const u64), *(p.p as *const u64)) };
    drop(s);
    drop(p);
    if mine_s != word {
        errs.push("the shared write is not in the file".into());
    }
    if mine_p == word {
        errs.push("the child's private write reached the parent's private mapping".into());
    }
    let mut head = [0u8; 8];
    std::fs::File::open(&pp)
        .and_then(|f| f.read_exact_at(&mut head, 0))
        .map_err(|e| e.to_string())?;
    if &head != b"pppppppp" {
        errs.push("the private write reached the file".into());
    }
    ensure!(errs.is_empty(), "{}", errs.join("; "));
    Ok(())
}

/// Reading a shared mapping through `/proc/self/mem` (GUP cannot follow its entries on
/// rhugetlbfs; `vm_ops->access` does the read).
fn proc_mem_read_shared(m: &Mnt) -> TestResult {
    let hs = m.hsize();
    let s = map_ok(&m.path("s"), hs, RW, libc::MAP_SHARED)?;
    fill(s.p, 4096, b'r');
    // SAFETY: Inside the mapping, one byte past the first 4 KiB.
    unsafe { *s.p.add(4096) = b'!' };
    let mut buf = [0u8; 4097];
    let res =
        std::fs::File::open("/proc/self/mem").and_then(|f| f.read_exact_at(&mut buf, s.p as u64));
    drop(s);
    res.map_err(|e| format!("read from /proc/self/mem: {e}"))?;
    ensure!(
        buf[..4096].iter().all(|&c| c == b'r') && buf[4096] == b'!',
        "read back wrong bytes"
    );
    Ok(())
}

/// Issue 10, item 3: partial hole punches zero exactly the punched bytes: a range that
/// starts at a page's start, one that ends at a page's end, one inside a page and one
/// across a page boundary. Checked at every edge, against a model of the file.
fn punch_partial(m: &Mnt) -> TestResult {
    use std::os::unix::io::AsRawFd;
    let hs = m.hsize() as u64;
    let pages = if m.kb == 2048 { 2 } else { 1 };
    let len = hs * pages;
    let path = m.path("h");
    let f = create_sized(&path, len)?;
    let p = map_ok(&path, len as usize, RW, libc::MAP_SHARED)?;
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
        // SAFETY: Inside the mapping.
        unsafe { *p.p.add(e as usize) = 0xAA };
    }
    for &(o, l) in &punches {
        // SAFETY: fallocate on our file.
        let r = unsafe {
            libc::fallocate(
                f.as_raw_fd(),
                libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
                o as i64,
                l as i64,
            )
        };
        ensure!(r == 0, "punch {o}+{l}: {}", std::io::Error::last_os_error());
    }
    let punched = |e: u64| punches.iter().any(|&(o, l)| e >= o && e < o + l);
    let mut wrong = Vec::new();
    for &e in &edges {
        let want = if punched(e) { 0 } else { 0xAA };
        // SAFETY: Inside the mapping.
        let got = unsafe { *p.p.add(e as usize) };
        let mut b = [0u8];
        f.read_exact_at(&mut b, e).map_err(|e| e.to_string())?;
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
fn truncate_past_eof(m: &Mnt) -> TestResult {
    use std::os::unix::io::AsRawFd;
    // Three pages: one inside the file, two past its end.
    let hs = m.hsize() as i64;
    let path = m.path("t");
    let f = create_sized(&path, hs as u64)?;
    let falloc = |mode: i32, off: i64, len: i64| {
        // SAFETY: fallocate on our file.
        let r = unsafe { libc::fallocate(f.as_raw_fd(), mode, off, len) };
        if r == 0 {
            Ok(())
        } else {
            Err(format!(
                "fallocate({mode}, {off}, {len}): {}",
                std::io::Error::last_os_error()
            ))
        }
    };
    falloc(0, 0, hs)?;
    falloc(libc::FALLOC_FL_KEEP_SIZE, hs, 2 * hs)?;
    let free = || m.counter("free_hugepages");
    ensure!(free()? == 0, "3 pages allocated, {} free", free()?);
    // A punch past EOF frees the page there.
    falloc(
        libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
        2 * hs,
        hs,
    )?;
    ensure!(
        free()? == 1,
        "after punching past EOF: {} free, want 1",
        free()?
    );
    // Truncation to the same size frees what is left past it.
    f.set_len(hs as u64).map_err(|e| e.to_string())?;
    ensure!(
        free()? == 2,
        "after ftruncate to the same size: {} free, want 2 (the page past EOF stays)",
        free()?
    );
    ensure!(
        f.metadata().map_err(|e| e.to_string())?.len() == hs as u64,
        "size changed"
    );
    drop(f);
    std::fs::remove_file(&path).map_err(|e| e.to_string())?;
    ensure!(free()? == 3, "after unlink: {} free", free()?);
    Ok(())
}

/// Issue 15: `munmap` of part of a private mapping gives back, at once, the pages and
/// the unconsumed reservations of that part (upstream `hugetlb_vm_op_close` on the piece),
/// not only when the last piece goes. Every process has other file mappings at small file
/// offsets (its libraries), which rhugetlbfs once took for another piece of the same
/// mapping and so kept everything until the whole mapping was gone.
fn partial_munmap_private(m: &Mnt) -> TestResult {
    let hs = m.hsize();
    let state = || -> Result<(u64, u64), String> {
        Ok((m.counter("free_hugepages")?, m.counter("resv_hugepages")?))
    };
    // Unmapped whole on drop (munmap of what is gone already is a no-op), so that a
    // failure leaves the mount free for the next test.
    let whole = map_ok(&m.path("p"), 2 * hs, RW, libc::MAP_PRIVATE)?;
    let p = whole.p;
    ensure!(
        state()? == (3, 2),
        "after mmap: (free, resv) {:?}, want (3, 2)",
        state()?
    );
    fill(p, 4096, 1);
    ensure!(
        state()? == (2, 1),
        "after a write to page 0: (free, resv) {:?}, want (2, 1)",
        state()?
    );
    // Page 0 first: its file offsets (0..2 MiB) are where the libraries' mappings are.
    unmap(p, hs);
    ensure!(
        state()? == (3, 1),
        "after munmap of the written page 0: (free, resv) {:?}, want (3, 1)",
        state()?
    );
    // SAFETY: The second page of our mapping.
    unmap(unsafe { p.add(hs) }, hs);
    ensure!(
        state()? == (3, 0),
        "after munmap of the untouched page 1: (free, resv) {:?}, want (3, 0)",
        state()?
    );
    Ok(())
}

/// Issue 15, the leaked reservation: on a `min_size=4M` mount (its reserve: two global
/// reservations), a mapping of one page takes one from the reserve; a second mapping of
/// two pages takes the other and asks the pool for one more, which a pool of two cannot
/// give. The failed `mmap` must leave everything as it was: once undone with the
/// subpool's put, the reserve claimed two pages again while one was still out, and the
/// unmount gave back one reservation less than it should (`resv_hugepages` 1 for good).
fn failed_mmap_min_size(m: &Mnt) -> TestResult {
    let hs = m.hsize();
    let resv = || m.counter("resv_hugepages");
    ensure!(resv()? == 2, "after mount: resv {}, want 2", resv()?);
    let a = map_ok(&m.path("a"), hs, RW, libc::MAP_SHARED)?;
    ensure!(resv()? == 2, "after mmap of a: resv {}, want 2", resv()?);
    match map(&m.path("b"), 2 * hs, RW, libc::MAP_SHARED) {
        Err(libc::ENOMEM) => {}
        Ok(_) => return Err("mmap of b succeeded with a pool of two pages".into()),
        Err(e) => return Err(format!("mmap of b: errno {e}, want ENOMEM")),
    }
    ensure!(
        resv()? == 2,
        "after the failed mmap of b: resv {}, want 2",
        resv()?
    );
    // The reserve covers exactly one more page: a one-page mapping still fits.
    let c = map_ok(&m.path("c"), hs, RW, libc::MAP_SHARED)?;
    fill(a.p, 4096, 1);
    fill(c.p, 4096, 1);
    drop((a, c));
    Ok(())
}

/// Issue 15: a private page of a `min_size=2M` mount (its reservation covered by the
/// mount's reserve) is written, spliced into a pipe, unmapped, its file deleted and the
/// mount unmounted while the pipe still holds the page (private: GUP refuses rhugetlbfs's
/// shared mappings, see issue 12). The reservation the page restores when it is finally freed
/// belongs to a mount that is gone: it must not come back once the pipe is closed.
fn unmount_while_held(m: Mnt) -> TestResult {
    let (r, w) = pipe_holds_deleted_private_page(&m)?;
    let fs = m.fs;
    let counter = |name: &str| match fs {
        Fs::Rh => counter(2048, name),
        Fs::Kernel => sys::read_u64(&format!("{}/{name}", kernel_hdir(2048))),
    };
    umount(m.dir)?;
    close(r);
    close(w);
    let (nr, free, resv) = (
        counter("nr_hugepages")?,
        counter("free_hugepages")?,
        counter("resv_hugepages")?,
    );
    ensure!(
        free == nr && resv == 0,
        "after unmount and closing the pipe: nr {nr} free {free} resv {resv}"
    );
    drop(m);
    Ok(())
}

/// Issue 15, the stall: a thread writes through `/proc/self/mem` into a read-only private
/// page over and over (as a debugger pokes breakpoints) while another thread of the same
/// process unmaps the next page with a 2 MiB + 4 KiB `munmap`. Each forced write holds the
/// mmap lock for reading; if one never ends (the livelock of issue 10, a FOLL_FORCE fault
/// that GUP retried forever), the `munmap`, which needs the lock for writing, waits
/// forever. Both must finish: run in a child that SIGALRM ends.
fn munmap_beside_forced_writes(m: &Mnt) -> TestResult {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let hs = m.hsize();
    let path = m.path("f");
    create_sized(&path, 2 * hs as u64)?;
    in_child_bounded(60, "munmap beside forced writes", move || {
        let p =
            map(&path, 2 * hs, RW, libc::MAP_PRIVATE).map_err(|e| format!("mmap: errno {e}"))?;
        fill(p, 4096, b'P');
        // SAFETY: The first page of our mapping; the VMA splits at the page boundary.
        let r = unsafe { libc::mprotect(p.cast(), hs, libc::PROT_READ) };
        ensure!(r == 0, "mprotect: {}", std::io::Error::last_os_error());
        let stop = Arc::new(AtomicBool::new(false));
        let started = Arc::new(AtomicBool::new(false));
        let addr = p as u64;
        let poker = {
            let (stop, started) = (stop.clone(), started.clone());
            std::thread::spawn(move || -> Result<(), String> {
                let mem = std::fs::OpenOptions::new()
                    .write(true)
                    .open("/proc/self/mem")
                    .map_err(|e| format!("open /proc/self/mem: {e}"))?;
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
        // SAFETY: The second page of our mapping, and 4 KiB past its end (nothing).
        let r = unsafe { libc::munmap(p.add(hs).cast(), hs + 4096) };
        let err = std::io::Error::last_os_error();
        stop.store(true, Ordering::Relaxed);
        poker.join().map_err(|_| "poker panicked".to_string())??;
        ensure!(r == 0, "munmap of 2 MiB + 4 KiB: {err}");
        unmap(p, hs);
        Ok(())
    })
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
fn punch_mmap_writes(m: &Mnt) -> TestResult {
    use std::os::unix::io::AsRawFd;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::Arc;
    let hs = m.hsize();
    let pages = 4u64;
    let path = m.path("stress");
    let f = create_sized(&path, pages * hs as u64)?;
    let iters = stress_iters();
    let len = pages as usize * hs;
    let secs = 60 + (iters / 10) as u32;
    in_child_bounded(secs, "the punch/mmap/write stress", move || {
        let wmap = map_ok(&path, len, RW, libc::MAP_SHARED)?;
        let w = wmap.p as usize;
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
            std::thread::spawn(move || -> Result<u64, String> {
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    drop(map_ok(&path, len, RW, libc::MAP_SHARED)?);
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
            let off = (seed % pages) as i64 * hs as i64;
            // SAFETY: fallocate on our file.
            let r = unsafe {
                libc::fallocate(
                    f.as_raw_fd(),
                    libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
                    off,
                    hs as i64,
                )
            };
            if r != 0 {
                res = Err(format!(
                    "punch at {off}: {}",
                    std::io::Error::last_os_error()
                ));
                break;
            }
        }
        stop.store(true, Ordering::Relaxed);
        writer.join().map_err(|_| "writer panicked".to_string())?;
        let maps = mapper.join().map_err(|_| "mapper panicked".to_string())??;
        drop(wmap);
        res?;
        eprintln!(
            "    {iters} punches, {} writes, {maps} mmap/munmap cycles",
            writes.load(Ordering::Relaxed)
        );
        Ok(())
    })
}
