// SPDX-License-Identifier: GPL-2.0

//! The draining work: a delayed work that retries, every 100 ms while there is any, what
//! [`Drain`] implementations left waiting (pages given back while something else still held
//! a reference; see `crate::pool`).
//!
//! The `delayed_work` itself is a static of `shim.c` (6.12's kernel crate has no delayed
//! work); it calls back through the function and data registered here.
//!
//! C header: [`include/linux/workqueue.h`](srctree/include/linux/workqueue.h)

use super::shim;
use core::marker::PhantomData;
use kernel::ffi::c_void;
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
