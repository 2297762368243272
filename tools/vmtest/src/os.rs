//! The process-level calls the tests share: fork and wait, children with a time bound,
//! mounts, pipes, ptrace, signal dispositions, mbind. rustix covers most of them; for fork,
//! `_exit`, ptrace, alarm, signal dispositions and mbind it has no API, so each of those
//! is wrapped here once over libc.

use anyhow::{anyhow, bail, ensure, Context, Result};
use rustix::fd::{AsFd, OwnedFd};
use rustix::io::Errno;
use rustix::process::{Pid, Signal, WaitOptions, WaitStatus};
use std::ffi::CString;

use crate::map::Map;

/// Which side of a fork the caller is on.
enum Side {
    Child,
    Parent(Pid),
}

/// fork(2).
///
/// # Safety
///
/// On the child's side the caller runs its child code through [`run_child`], which never
/// returns into the caller's frames: the child's copies of the parent's state (buffers,
/// descriptors owned by values on the stack, the test harness) are never used or dropped.
unsafe fn raw_fork() -> Result<Side> {
    // SAFETY: fork has no memory-safety preconditions of its own; the caller keeps the
    // child out of the parent's code (above). The tests fork from their own thread with no
    // lock of ours held; a child that needed a lock another thread held at the fork would
    // hang, which the test's time bound or the suite's timeout catches.
    match unsafe { libc::fork() } {
        0 => Ok(Side::Child),
        p if p > 0 => Ok(Side::Parent(Pid::from_raw(p).expect("a positive pid"))),
        _ => Err(anyhow!("fork: {}", std::io::Error::last_os_error())),
    }
}

/// Runs `child` and leaves the process with its value as the exit status (101 if it
/// panicked): the forked child never comes back to the code that forked it.
fn run_child(child: impl FnOnce() -> i32) -> ! {
    let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(child)).unwrap_or(101);
    exit_now(code)
}

/// `_exit(code)`: leaves at once, without destructors or atexit handlers (a forked
/// child's copy of the parent's state is not its own to clean up).
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit has no preconditions.
    unsafe { libc::_exit(code) }
}

/// Forks a child that runs `child` and exits with the value it returns; the child's pid.
pub fn fork(child: impl FnOnce() -> i32) -> Result<Pid> {
    // SAFETY: The child's side goes straight to `run_child`.
    match unsafe { raw_fork()? } {
        Side::Child => run_child(child),
        Side::Parent(pid) => Ok(pid),
    }
}

/// As [`fork`], with a pipe from the child to the parent: the child gets the write end,
/// the parent the read end, and each side closes the other end.
pub fn fork_with_pipe(child: impl FnOnce(OwnedFd) -> i32) -> Result<(Pid, OwnedFd)> {
    let (r, w) = pipe()?;
    // SAFETY: The child's side goes straight to `run_child`.
    match unsafe { raw_fork()? } {
        Side::Child => {
            drop(r);
            run_child(|| child(w))
        }
        Side::Parent(pid) => {
            drop(w);
            Ok((pid, r))
        }
    }
}

/// Waits for the child `pid` to end; its status.
pub fn wait(pid: Pid) -> Result<WaitStatus> {
    let (_, status) = rustix::process::waitpid(Some(pid), WaitOptions::empty())
        .with_context(|| format!("waitpid {}", pid.as_raw_nonzero()))?
        .context("waitpid: no status")?;
    Ok(status)
}

/// Whether a status is a normal exit with status 0.
pub fn exited_0(status: WaitStatus) -> bool {
    status.exit_status() == Some(0)
}

/// Runs `f` in a forked child; Ok(None) if it exited 0, Ok(Some(sig)) if a signal killed it.
pub fn in_child(f: impl FnOnce() -> bool) -> Result<Option<i32>> {
    let pid = fork(|| i32::from(!f()))?;
    let status = wait(pid)?;
    if let Some(sig) = status.terminating_signal() {
        return Ok(Some(sig));
    }
    ensure!(
        exited_0(status),
        "child exited {:?} (status {:#x})",
        status.exit_status(),
        status.as_raw()
    );
    Ok(None)
}

/// Runs `f` in a forked child that SIGALRM kills after `secs` (a livelock in the kernel
/// ends there: an unhandled fatal signal stops GUP's retry loop). Ok if it exited 0; the
/// child's error otherwise.
pub fn in_child_bounded(secs: u32, what: &str, f: impl FnOnce() -> Result<()>) -> Result<()> {
    let (pid, r) = fork_with_pipe(|w| {
        alarm(secs);
        let res = f();
        if let Err(e) = &res {
            let _ = rustix::io::write(&w, format!("{e:#}").as_bytes());
        }
        i32::from(res.is_err())
    })?;
    let msg = read_message(&r);
    drop(r);
    let status = wait(pid)?;
    if let Some(sig) = status.terminating_signal() {
        if sig == Signal::ALARM.as_raw() {
            bail!("{what} did not finish in {secs} s (a livelock)");
        }
        bail!("{what}: killed by signal {sig}");
    }
    ensure!(exited_0(status), "{what}: {msg}");
    Ok(())
}

/// One read of up to 4 KiB from `fd` (a child's report through a pipe; empty at EOF).
pub fn read_message(fd: impl AsFd) -> String {
    let mut buf = vec![0u8; 4096];
    let n = rustix::io::read(fd, &mut buf).unwrap_or(0);
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// A pipe: (read end, write end).
pub fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    rustix::pipe::pipe().context("pipe")
}

/// mount(2) of a file system of type `fstype` at `dir` with the options `opts`.
pub fn mount_fs(fstype: &str, dir: &str, opts: &str) -> Result<(), Errno> {
    let data = CString::new(opts).map_err(|_| Errno::INVAL)?;
    rustix::mount::mount(
        "none",
        dir,
        fstype,
        rustix::mount::MountFlags::empty(),
        data.as_c_str(),
    )
}

/// As [`mount_fs`], the error with its context.
pub fn mount(fstype: &str, dir: &str, opts: &str) -> Result<()> {
    mount_fs(fstype, dir, opts).with_context(|| format!("mount -t {fstype} -o {opts} {dir}"))
}

/// umount(2).
pub fn umount(dir: &str) -> Result<()> {
    rustix::mount::unmount(dir, rustix::mount::UnmountFlags::empty())
        .with_context(|| format!("umount {dir}"))
}

/// Drops this process (a forked child, single-threaded: the calls change the calling
/// thread's credentials) to gid and uid 65534, nobody.
pub fn become_nobody() -> Result<(), Errno> {
    use rustix::process::{Gid, Uid};
    rustix::thread::set_thread_gid(Gid::from_raw(65534))?;
    rustix::thread::set_thread_uid(Uid::from_raw(65534))
}

/// `alarm(secs)`: SIGALRM after `secs`.
pub fn alarm(secs: u32) {
    // SAFETY: alarm has no preconditions.
    unsafe { libc::alarm(secs) };
}

/// Puts back the default action of `sig` (no handler of ours runs for it).
pub fn default_signal_action(sig: Signal) {
    // SAFETY: SIG_DFL runs no code of ours.
    unsafe { libc::signal(sig.as_raw(), libc::SIG_DFL) };
}

/// One ptrace(2) request that reads or writes the tracee, never this process's memory.
fn ptrace(req: libc::c_uint, pid: Pid, addr: u64, data: u64) -> Result<libc::c_long, Errno> {
    // SAFETY: The requests used (TRACEME, PEEKDATA, POKEDATA, CONT) take no pointer into
    // this process: `addr` is an address in the tracee, `data` a word or a signal number.
    // errno is cleared first, as a PEEK returns the word it read, so -1 alone is no error.
    let (r, e) = unsafe {
        *libc::__errno_location() = 0;
        let r = libc::ptrace(
            req,
            pid.as_raw_nonzero().get(),
            addr as *mut libc::c_void,
            data as *mut libc::c_void,
        );
        (r, *libc::__errno_location())
    };
    if r == -1 && e != 0 {
        return Err(Errno::from_raw_os_error(e));
    }
    Ok(r)
}

/// `PTRACE_TRACEME`: this process (a forked child) is traced by its parent.
pub fn ptrace_traceme() -> Result<(), Errno> {
    ptrace(libc::PTRACE_TRACEME, rustix::process::getpid(), 0, 0).map(drop)
}

/// `PTRACE_POKEDATA`: writes `word` at `addr` in the stopped tracee `pid`.
pub fn ptrace_poke(pid: Pid, addr: u64, word: u64) -> Result<(), Errno> {
    ptrace(libc::PTRACE_POKEDATA, pid, addr, word).map(drop)
}

/// `PTRACE_PEEKDATA`: the word at `addr` in the stopped tracee `pid`.
pub fn ptrace_peek(pid: Pid, addr: u64) -> Result<u64, Errno> {
    ptrace(libc::PTRACE_PEEKDATA, pid, addr, 0).map(|v| v as u64)
}

/// `PTRACE_CONT`: resumes the stopped tracee `pid`.
pub fn ptrace_cont(pid: Pid) -> Result<(), Errno> {
    ptrace(libc::PTRACE_CONT, pid, 0, 0).map(drop)
}

/// `mbind(MPOL_BIND, MPOL_MF_STRICT | MPOL_MF_MOVE)` of the whole mapping to one node.
pub fn mbind_move(map: &Map, node: u32) -> Result<(), Errno> {
    const MPOL_BIND: libc::c_long = 2;
    const MPOL_MF_STRICT_MOVE: libc::c_long = 3;
    let mask: u64 = 1 << node;
    // SAFETY: mbind of our own mapping with a one-word node mask that lives across the
    // call; moving pages keeps their contents, and nothing holds a reference into them.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mbind,
            map.ptr(),
            map.len(),
            MPOL_BIND,
            &mask,
            64,
            MPOL_MF_STRICT_MOVE,
        )
    };
    if r != 0 {
        return Err(Errno::from_raw_os_error(
            std::io::Error::last_os_error().raw_os_error().unwrap_or(0),
        ));
    }
    Ok(())
}

/// `process_vm_readv` (or `process_vm_writev` if `write`) of `buf.len()` bytes at `addr`
/// of process `pid`; the bytes done.
pub fn process_vm(pid: i32, addr: usize, buf: &mut [u8], write: bool) -> Result<usize> {
    let local = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let remote = libc::iovec {
        iov_base: addr as *mut libc::c_void,
        iov_len: buf.len(),
    };
    // SAFETY: `local` describes `buf`, ours for the call; the remote range is another
    // process's memory, which the kernel checks and accesses through GUP.
    let n = unsafe {
        if write {
            libc::process_vm_writev(pid, &local, 1, &remote, 1, 0)
        } else {
            libc::process_vm_readv(pid, &local, 1, &remote, 1, 0)
        }
    };
    if n < 0 {
        bail!(
            "process_vm_{}: {}",
            if write { "writev" } else { "readv" },
            std::io::Error::last_os_error()
        );
    }
    Ok(n as usize)
}

/// `prctl(PR_SET_THP_DISABLE, 1)`: no transparent huge pages for this process (and its
/// children), which also makes the core map page-cache huge folios with 4 KiB entries.
pub fn set_thp_disable() -> Result<(), Errno> {
    // SAFETY: prctl on ourselves with integer arguments only.
    if unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) } != 0 {
        return Err(Errno::from_raw_os_error(
            std::io::Error::last_os_error().raw_os_error().unwrap_or(0),
        ));
    }
    Ok(())
}

/// `madvise(MADV_COLLAPSE)` of the whole mapping (rustix has no such advice): asks
/// khugepaged's collapse to make huge pages of it now.
pub fn madvise_collapse(map: &Map) -> Result<(), Errno> {
    // SAFETY: madvise of our own mapping; a collapse, if any, keeps the contents.
    if unsafe { libc::madvise(map.ptr().cast(), map.len(), libc::MADV_COLLAPSE) } != 0 {
        return Err(Errno::from_raw_os_error(
            std::io::Error::last_os_error().raw_os_error().unwrap_or(0),
        ));
    }
    Ok(())
}

/// "0", or the name of the errno (`errno N` for one without a name here): how the tables
/// of expected results spell a call's outcome.
pub fn outcome<T>(r: Result<T, Errno>) -> String {
    let e = match r {
        Ok(_) => return "0".into(),
        Err(e) => e,
    };
    let name = match e {
        Errno::PERM => "EPERM",
        Errno::NOENT => "ENOENT",
        Errno::INTR => "EINTR",
        Errno::IO => "EIO",
        Errno::NXIO => "ENXIO",
        Errno::BADF => "EBADF",
        Errno::AGAIN => "EAGAIN",
        Errno::NOMEM => "ENOMEM",
        Errno::ACCESS => "EACCES",
        Errno::FAULT => "EFAULT",
        Errno::BUSY => "EBUSY",
        Errno::EXIST => "EEXIST",
        Errno::XDEV => "EXDEV",
        Errno::NODEV => "ENODEV",
        Errno::NOTDIR => "ENOTDIR",
        Errno::ISDIR => "EISDIR",
        Errno::INVAL => "EINVAL",
        Errno::FBIG => "EFBIG",
        Errno::NOSPC => "ENOSPC",
        Errno::SPIPE => "ESPIPE",
        Errno::ROFS => "EROFS",
        Errno::MLINK => "EMLINK",
        Errno::RANGE => "ERANGE",
        Errno::NAMETOOLONG => "ENAMETOOLONG",
        Errno::NOSYS => "ENOSYS",
        Errno::NOTEMPTY => "ENOTEMPTY",
        Errno::NODATA => "ENODATA",
        Errno::OVERFLOW => "EOVERFLOW",
        Errno::OPNOTSUPP => "EOPNOTSUPP",
        Errno::NOTTY => "ENOTTY",
        Errno::TXTBSY => "ETXTBSY",
        _ => return format!("errno {}", e.raw_os_error()),
    };
    name.into()
}
