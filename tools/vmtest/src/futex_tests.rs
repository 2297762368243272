//! Process-shared futexes (issue 16): a `PTHREAD_PROCESS_SHARED` mutex and condition
//! variable used by two processes that map the file each on their own, and a robust mutex
//! whose owner is killed. A process-shared futex's key is the file page (GUP finds it: the
//! mapping's pages are page-cache folios), so each process must reach the same key from its
//! own mapping. Each test runs on rhugetlbfs and on the kernel's hugetlbfs in this guest.

use crate::harness::{Suite, TestResult};
use crate::map::{Map, RW, SHARED};
use crate::os::{fork_with_pipe, read_message, wait};
use crate::own_tests::{map_ok, Mnt};
use crate::sys::{self, Fs};
use anyhow::{bail, ensure, Context, Result};
use rustix::process::Signal;

pub fn register(s: &mut Suite) {
    s.add("futex_pshared_mutex_and_condvar_two_processes_2m", || {
        both(2048, "", &[], mutex_and_condvar)
    });
    s.add(
        "futex_pshared_mutex_and_condvar_two_processes_1g_map_pmd",
        || {
            both(
                1048576,
                ",map=pmd",
                &["pmd_mappable_1g=1"],
                mutex_and_condvar,
            )
        },
    );
    s.add("futex_robust_mutex_owner_killed_2m", || {
        both(2048, "", &[], robust_owner_killed)
    });
}

fn both(kb: u64, opts: &str, params: &[&str], f: fn(&Mnt) -> TestResult) -> TestResult {
    // Always both, on either kernel (issue 16 asks for the reference on each flavour); cheap.
    for fs in [Fs::Rh, Fs::Kernel] {
        let m = match fs {
            Fs::Rh => Mnt::with_module(fs, kb, 1, opts, params)?,
            Fs::Kernel => Mnt::new(fs, kb, 1)?,
        };
        f(&m).with_context(|| format!("{fs:?} {kb} kB"))?;
        m.check_idle().with_context(|| format!("{fs:?} {kb} kB"))?;
    }
    Ok(())
}

/// The shared state at the start of the file's page: a mutex, a condition variable and a
/// counter, all process-shared.
#[repr(C)]
struct Shared {
    mutex: libc::pthread_mutex_t,
    cond: libc::pthread_cond_t,
    stage: u32,
}

/// The `Shared` at the start of `m`.
///
/// # Safety
///
/// The mapping holds a `Shared` the caller initialised (or initialises through the
/// pointer), used only through pthread calls and volatile accesses while it is mapped.
unsafe fn shared(m: &Map) -> *mut Shared {
    assert!(m.len() >= std::mem::size_of::<Shared>());
    m.ptr().cast()
}

/// Checks a pthread return value.
fn pt(what: &str, r: i32) -> Result<()> {
    ensure!(r == 0, "{what}: {}", std::io::Error::from_raw_os_error(r));
    Ok(())
}

/// Initialises the mutex (robust if `robust`) and the condition variable as
/// process-shared.
///
/// # Safety
///
/// `s` points to a `Shared` in memory nobody else uses yet.
unsafe fn init(s: *mut Shared, robust: bool) -> Result<()> {
    // SAFETY: Attribute objects on our stack, destroyed after use; `s` as required.
    unsafe {
        let mut ma: libc::pthread_mutexattr_t = std::mem::zeroed();
        pt("mutexattr_init", libc::pthread_mutexattr_init(&mut ma))?;
        pt(
            "mutexattr_setpshared",
            libc::pthread_mutexattr_setpshared(&mut ma, libc::PTHREAD_PROCESS_SHARED),
        )?;
        if robust {
            pt(
                "mutexattr_setrobust",
                libc::pthread_mutexattr_setrobust(&mut ma, libc::PTHREAD_MUTEX_ROBUST),
            )?;
        }
        pt(
            "mutex_init",
            libc::pthread_mutex_init(&raw mut (*s).mutex, &ma),
        )?;
        libc::pthread_mutexattr_destroy(&mut ma);
        let mut ca: libc::pthread_condattr_t = std::mem::zeroed();
        pt("condattr_init", libc::pthread_condattr_init(&mut ca))?;
        pt(
            "condattr_setpshared",
            libc::pthread_condattr_setpshared(&mut ca, libc::PTHREAD_PROCESS_SHARED),
        )?;
        pt(
            "cond_init",
            libc::pthread_cond_init(&raw mut (*s).cond, &ca),
        )?;
        libc::pthread_condattr_destroy(&mut ca);
        (&raw mut (*s).stage).write_volatile(0);
    }
    Ok(())
}

/// Waits on the condition variable until `stage` is `want`, for 30 s at most.
///
/// # Safety
///
/// The caller holds the mutex of the initialised `s`.
unsafe fn wait_for(s: *mut Shared, want: u32, who: &str) -> Result<()> {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: Writes the time into our local.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut now) };
    let deadline = libc::timespec {
        tv_sec: now.tv_sec + 30,
        tv_nsec: now.tv_nsec,
    };
    // SAFETY: As required; the stage is read under the mutex.
    while unsafe { (&raw const (*s).stage).read_volatile() } != want {
        // SAFETY: We hold the mutex; the condition variable is initialised.
        let r = unsafe {
            libc::pthread_cond_timedwait(&raw mut (*s).cond, &raw mut (*s).mutex, &deadline)
        };
        if r == libc::ETIMEDOUT {
            bail!(
                "{who}: no signal within 30 s (a lost wakeup: the processes' futex keys differ?)"
            );
        }
        pt(&format!("{who}: cond_timedwait"), r)?;
    }
    Ok(())
}

/// Parent and child each map the file (at different addresses) and hand a stage counter
/// back and forth under the mutex, waking each other with the condition variable.
fn mutex_and_condvar(m: &Mnt) -> TestResult {
    let path = m.path("pthread");
    let a = map_ok(&path, m.hsize(), RW, SHARED)?;
    // SAFETY: The new file's first bytes, used only through these calls from here on.
    let s = unsafe { shared(&a) };
    // SAFETY: Nobody else maps the file yet.
    unsafe { init(s, false)? };
    let (child_path, hs) = (path.clone(), m.hsize());
    let (pid, r) = fork_with_pipe(move |w| {
        crate::os::alarm(60);
        let res = (|| -> Result<()> {
            // A mapping of its own: the futex key must come from the file, not the address.
            let b = map_ok(&child_path, hs, RW, SHARED)?;
            // SAFETY: The parent initialised the `Shared` at the file's start.
            let t = unsafe { shared(&b) };
            // SAFETY: The mutex and condition variable are initialised and process-shared.
            unsafe {
                pt("child: lock", libc::pthread_mutex_lock(&raw mut (*t).mutex))?;
                (&raw mut (*t).stage).write_volatile(1);
                pt(
                    "child: signal",
                    libc::pthread_cond_signal(&raw mut (*t).cond),
                )?;
                let r = wait_for(t, 2, "child");
                libc::pthread_mutex_unlock(&raw mut (*t).mutex);
                r
            }
        })();
        if let Err(e) = &res {
            let _ = rustix::io::write(&w, format!("{e:#}").as_bytes());
        }
        i32::from(res.is_err())
    })?;
    // SAFETY: The initialised `Shared`; the child uses it only through pthread calls.
    let res = unsafe {
        pt(
            "parent: lock",
            libc::pthread_mutex_lock(&raw mut (*s).mutex),
        )
        .and_then(|()| {
            let r = wait_for(s, 1, "parent").and_then(|()| {
                (&raw mut (*s).stage).write_volatile(2);
                pt(
                    "parent: broadcast",
                    libc::pthread_cond_broadcast(&raw mut (*s).cond),
                )
            });
            libc::pthread_mutex_unlock(&raw mut (*s).mutex);
            r
        })
    };
    if res.is_err() {
        let _ = rustix::process::kill_process(pid, Signal::KILL);
    }
    let msg = read_message(&r);
    let status = wait(pid)?;
    res?;
    ensure!(
        crate::os::exited_0(status),
        "the child failed ({:#x}): {msg}",
        status.as_raw()
    );
    drop(a);
    sys::remove(&path)
}

/// A child locks a robust, process-shared mutex and is killed holding it: the kernel's
/// robust-list walk at the child's exit marks the futex word `FUTEX_OWNER_DIED` and wakes a
/// waiter (both through the futex's shared key), so the parent gets `EOWNERDEAD`, makes the
/// mutex consistent and can use it again.
fn robust_owner_killed(m: &Mnt) -> TestResult {
    let path = m.path("robust");
    let a = map_ok(&path, m.hsize(), RW, SHARED)?;
    // SAFETY: The new file's first bytes, used only through these calls from here on.
    let s = unsafe { shared(&a) };
    // SAFETY: Nobody else maps the file yet.
    unsafe { init(s, true)? };
    let (child_path, hs) = (path.clone(), m.hsize());
    let (pid, r) = fork_with_pipe(move |w| {
        let Ok(b) = map_ok(&child_path, hs, RW, SHARED) else {
            return 1;
        };
        // SAFETY: The parent initialised the robust mutex at the file's start.
        let t = unsafe { shared(&b) };
        // SAFETY: As above.
        if unsafe { libc::pthread_mutex_lock(&raw mut (*t).mutex) } != 0 {
            return 2;
        }
        let _ = rustix::io::write(&w, b"locked");
        // Holds the lock until killed.
        loop {
            std::thread::sleep(std::time::Duration::from_secs(1));
        }
    })?;
    let msg = read_message(&r);
    if msg != "locked" {
        let _ = rustix::process::kill_process(pid, Signal::KILL);
        let _ = wait(pid);
        bail!("the child did not lock the mutex: {msg:?}");
    }
    rustix::process::kill_process(pid, Signal::KILL).context("kill the owner")?;
    let _ = wait(pid)?;
    // SAFETY: The initialised robust mutex; its owner is dead.
    let got = unsafe { libc::pthread_mutex_lock(&raw mut (*s).mutex) };
    ensure!(
        got == libc::EOWNERDEAD,
        "lock after the owner was killed: {} (want EOWNERDEAD)",
        std::io::Error::from_raw_os_error(got)
    );
    // SAFETY: We hold the mutex (EOWNERDEAD hands it over inconsistent).
    unsafe {
        pt(
            "mutex_consistent",
            libc::pthread_mutex_consistent(&raw mut (*s).mutex),
        )?;
        pt("unlock", libc::pthread_mutex_unlock(&raw mut (*s).mutex))?;
        pt("lock again", libc::pthread_mutex_lock(&raw mut (*s).mutex))?;
        pt(
            "unlock again",
            libc::pthread_mutex_unlock(&raw mut (*s).mutex),
        )?;
    }
    drop(a);
    sys::remove(&path)
}
