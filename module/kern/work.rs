// SPDX-License-Identifier: GPL-2.0

//! Work off the calling thread:
//!
//! - the draining work: a delayed work that retries, every 100 ms while there is any, what
//!   [`Drain`] implementations left waiting (pages given back while something else still
//!   held a reference; see `crate::pool`);
//! - the zeroing workers ([`ZeroWorkers`]): per-node kernel threads that clear free pages;
//! - parallel jobs ([`run_jobs`]): pool growth spread over CPUs and nodes.
//!
//! The `delayed_work` itself is a static of `shim.c` (6.12's kernel crate has no delayed
//! work); it calls back through the function and data registered here.
//!
//! C header: [`include/linux/workqueue.h`](srctree/include/linux/workqueue.h)

use super::shim;
use core::marker::PhantomData;
use kernel::ffi::{c_int, c_uint, c_void};
use kernel::prelude::*;
use kernel::types::ForeignOwnable;

/// Something with work left to retry later.
pub(crate) trait Drain: Send + Sync + 'static {
    /// Retries; whether some work still waits.
    fn drain(&self) -> bool;

    /// Called once when the work is stopped for good (at unload), after its last run.
    fn stopped(&self);
}

/// The registered draining work of `T`. Dropping it disables the work and waits for a running
/// one to finish, then frees the registration.
///
/// # Invariants
///
/// `data` comes from `KBox<T>::into_foreign` and is registered with `shim.c`, with
/// [`Drainer::run`] as the callback, until drop.
pub(crate) struct Drainer<T: Drain> {
    data: *const c_void,
    _t: PhantomData<T>,
}

// SAFETY: `data` is only handed to the C side at creation and taken back in `drop`; it points
// to a `T: Send + Sync`.
unsafe impl<T: Drain> Send for Drainer<T> {}
// SAFETY: `&Drainer` gives no access to `data`.
unsafe impl<T: Drain> Sync for Drainer<T> {}

impl<T: Drain> Drainer<T> {
    /// Registers `target` with the work. Only one drainer may exist at a time (the work is
    /// one static).
    pub(crate) fn start(target: T) -> Result<Self> {
        let data = KBox::new(target, GFP_KERNEL)?.into_foreign();
        // SAFETY: `data` stays valid until `drop`, which stops the work before freeing it;
        // `run` is a function of the right signature for this `data`.
        unsafe { shim::rhugetlbfs_drain_start(Self::run, data) };
        // INVARIANT: Registered just above.
        Ok(Drainer {
            data,
            _t: PhantomData,
        })
    }

    /// The work's body.
    ///
    /// # Safety
    ///
    /// `data` must be the pointer a live `Drainer<T>` registered.
    unsafe extern "C" fn run(data: *const c_void) -> bool {
        // SAFETY: By the safety requirements the registration outlives this call (the drainer
        // waits for the work before freeing it).
        let target = unsafe { <KBox<T> as ForeignOwnable>::borrow(data) };
        target.drain()
    }
}

impl<T: Drain> Drop for Drainer<T> {
    fn drop(&mut self) {
        // SAFETY: Disables the work and waits for it; after this the C side never uses `data`.
        unsafe { shim::rhugetlbfs_drain_stop() };
        // SAFETY: By the type invariants `data` came from `into_foreign` and nobody uses it now.
        let target = unsafe { <KBox<T> as ForeignOwnable>::from_foreign(self.data) };
        target.stopped();
    }
}

/// Asks the work to run soon (work was left to retry). A no-op once the work is stopped.
pub(crate) fn kick_drain() {
    // SAFETY: Schedules a static delayed work; safe from any process context, and refused by
    // the workqueue once the work is disabled.
    unsafe { shim::rhugetlbfs_drain_kick() }
}

/// Proof that code runs in a zeroing worker's kernel thread (made only by
/// [`ZeroWorkers`]), for what only such a thread may do (a clear that stops at unload).
pub(crate) struct WorkerCtx {
    nid: usize,
    /// Not `Send`: the proof is about the current thread.
    _thread: PhantomData<*const ()>,
}

impl WorkerCtx {
    /// The node whose free pages this worker clears.
    pub(crate) fn nid(&self) -> usize {
        self.nid
    }
}

/// What the zeroing workers do.
pub(crate) trait ZeroWork: Send + Sync + 'static {
    /// Clears at most one free page of node `worker.nid()`; whether there was one (the
    /// worker then runs again at once, else it sleeps until [`kick_zero`]).
    fn zero_one(&self, worker: &WorkerCtx) -> bool;
}

/// The zeroing workers of `T`: one kernel thread per memory node (`rhugetlbfs_zero/<nid>`),
/// at the lowest priority, on that node's CPUs. Dropping it stops every thread (a clear in
/// progress stops at its next 2 MiB chunk) and waits for them, then frees the registration.
///
/// # Invariants
///
/// `data` comes from `KBox<T>::into_foreign` and is registered with `shim.c`, with
/// [`ZeroWorkers::run`] as the callback, until drop.
pub(crate) struct ZeroWorkers<T: ZeroWork> {
    data: *const c_void,
    _t: PhantomData<T>,
}

// SAFETY: As for `Drainer`: `data` is only handed to the C side and taken back in `drop`; it
// points to a `T: Send + Sync`.
unsafe impl<T: ZeroWork> Send for ZeroWorkers<T> {}
// SAFETY: `&ZeroWorkers` gives no access to `data`.
unsafe impl<T: ZeroWork> Sync for ZeroWorkers<T> {}

impl<T: ZeroWork> ZeroWorkers<T> {
    /// Starts the threads. Only one set may exist at a time (the threads are statics of
    /// `shim.c`). Each runs once at start, so work left from before is found.
    pub(crate) fn start(target: T) -> Result<Self> {
        let data = KBox::new(target, GFP_KERNEL)?.into_foreign();
        // SAFETY: `data` stays valid until the threads are stopped (in `drop`, or by the shim
        // itself when it fails); `run` has the right signature for this `data`.
        let ret = unsafe { shim::rhugetlbfs_zero_start(Self::run, data) };
        if ret != 0 {
            // SAFETY: The shim stopped the threads it had started: nobody uses `data`.
            drop(unsafe { <KBox<T> as ForeignOwnable>::from_foreign(data) });
            return Err(Error::from_errno(ret));
        }
        // INVARIANT: Registered just above.
        Ok(ZeroWorkers {
            data,
            _t: PhantomData,
        })
    }

    /// A worker's body.
    ///
    /// # Safety
    ///
    /// `data` must be the pointer a live `ZeroWorkers<T>` registered, and the caller one of
    /// its kernel threads.
    unsafe extern "C" fn run(data: *const c_void, nid: c_int) -> bool {
        // SAFETY: By the safety requirements the registration outlives this call (the
        // threads are stopped before it is freed).
        let target = unsafe { <KBox<T> as ForeignOwnable>::borrow(data) };
        let worker = WorkerCtx {
            nid: usize::try_from(nid).unwrap_or(0),
            _thread: PhantomData,
        };
        target.zero_one(&worker)
    }
}

impl<T: ZeroWork> Drop for ZeroWorkers<T> {
    fn drop(&mut self) {
        // SAFETY: Stops every thread and waits for each; after this the C side never uses
        // `data`.
        unsafe { shim::rhugetlbfs_zero_stop() };
        // SAFETY: By the type invariants `data` came from `into_foreign` and nobody uses it now.
        drop(unsafe { <KBox<T> as ForeignOwnable>::from_foreign(self.data) });
    }
}

/// Wakes node `nid`'s zeroing worker (a page to clear appeared there). A no-op while no
/// workers run; callable with locks held (it only sets a flag and wakes a thread).
pub(crate) fn kick_zero(nid: usize) {
    let nid = c_int::try_from(nid).unwrap_or(c_int::MAX);
    // SAFETY: The shim checks the node id and whether a thread exists.
    unsafe { shim::rhugetlbfs_zero_kick(nid) }
}

/// What a job of [`run_jobs`] may ask of its caller.
pub(crate) struct JobCtx {
    /// The shim's `struct rh_jobs`, alive while any job runs.
    jobs: *const c_void,
}

impl JobCtx {
    /// Whether the task that started the jobs has a signal pending (the jobs then stop, as
    /// the task itself would).
    pub(crate) fn interrupted(&self) -> bool {
        // SAFETY: `jobs` is the shim's context of the running jobs, valid until the last
        // one returns, and this object lives only inside a job.
        unsafe { shim::rhugetlbfs_jobs_interrupted(self.jobs) }
    }
}

/// The borrowed state of [`run_jobs`] for its trampoline.
struct Scope<'a, S, F> {
    states: *mut S,
    len: usize,
    f: &'a F,
}

/// Runs `f` on every element of `states` in parallel, element `i` on a CPU of node
/// `nids[i]` (the unbound workqueue), and returns when all are done: each job borrows its
/// element mutably and the caller's `f` shared, as `std::thread::scope` over `iter_mut`.
/// The caller sleeps meanwhile without reacting to signals; the jobs see them through
/// [`JobCtx::interrupted`]. `EINVAL` if the slices' lengths differ; `ENOMEM` if the jobs
/// could not be set up (then none ran).
pub(crate) fn run_jobs<S: Send, F: Fn(&mut S, &JobCtx) + Sync>(
    states: &mut [S],
    nids: &[c_int],
    f: &F,
) -> Result {
    if states.len() != nids.len() {
        return Err(EINVAL);
    }
    let nr = c_uint::try_from(states.len()).map_err(|_| EINVAL)?;
    let scope = Scope {
        states: states.as_mut_ptr(),
        len: states.len(),
        f,
    };
    // SAFETY: `scope` and `nids` outlive the call, which returns only once every job has
    // finished; `job::<S, F>` matches the data passed.
    let ret = unsafe {
        shim::rhugetlbfs_run_jobs(
            nr,
            nids.as_ptr(),
            job::<S, F>,
            (&scope as *const Scope<'_, S, F>).cast(),
        )
    };
    kernel::error::to_result(ret)
}

/// One job of [`run_jobs`].
///
/// # Safety
///
/// `data` must point to the live `Scope<S, F>` of a running `run_jobs`, and each `idx` below
/// its `len` be passed to exactly one job.
unsafe extern "C" fn job<S: Send, F: Fn(&mut S, &JobCtx) + Sync>(
    data: *const c_void,
    idx: c_uint,
    jobs: *const c_void,
) {
    // SAFETY: By the safety requirements `data` is a live `Scope<S, F>`.
    let scope = unsafe { &*data.cast::<Scope<'_, S, F>>() };
    let idx = idx as usize;
    if idx >= scope.len {
        return;
    }
    // SAFETY: `idx` is in bounds, and no other job gets it, so this is the only reference to
    // the element while the job runs; `run_jobs` holds the slice's unique borrow throughout.
    let state = unsafe { &mut *scope.states.add(idx) };
    (scope.f)(state, &JobCtx { jobs });
}

/// Online CPUs of node `nid`.
pub(crate) fn node_nr_cpus(nid: usize) -> usize {
    let nid = c_int::try_from(nid).unwrap_or(-1);
    // SAFETY: The shim checks the node id.
    unsafe { shim::rhugetlbfs_node_nr_cpus(nid) as usize }
}

/// Online CPUs.
pub(crate) fn nr_online_cpus() -> usize {
    // SAFETY: Reads a counter; no requirements.
    unsafe { shim::rhugetlbfs_nr_online_cpus() as usize }
}
