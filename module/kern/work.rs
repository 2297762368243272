// SPDX-License-Identifier: GPL-2.0

//! The draining work: a delayed work that retries the pools' draining lists (pages given
//! back while something else still held a reference; see [`crate::pool`]).
//!
//! The `delayed_work` itself is a static of `shim.c` (6.12's kernel crate has no delayed
//! work); it calls [`rhugetlbfs_rs_drain`] with the pools registered here.
//!
//! C header: [`include/linux/workqueue.h`](srctree/include/linux/workqueue.h)

use super::shim;
use crate::pool::HugePool;
use kernel::ffi::c_void;
use kernel::prelude::*;
use kernel::sync::Arc;
use kernel::types::ForeignOwnable;

/// The pools the work drains.
type Pools = KBox<KVec<Arc<HugePool>>>;

/// The registered draining work. Dropping it disables the work and waits for a running
/// one to finish, then frees the registration.
///
/// # Invariants
///
/// `data` comes from [`Pools::into_foreign`] and is registered with `shim.c` until drop.
pub(crate) struct Drainer {
    data: *mut c_void,
}

// SAFETY: `data` is only handed to the C side at creation and taken back in `drop`; the
// pools it points to are `Send + Sync` (`Arc<HugePool>`).
unsafe impl Send for Drainer {}
// SAFETY: `&Drainer` gives no access to `data`.
unsafe impl Sync for Drainer {}

impl Drainer {
    /// Registers `pools` with the work.
    pub(crate) fn start(pools: KVec<Arc<HugePool>>) -> Result<Self> {
        let data = KBox::new(pools, GFP_KERNEL)?.into_foreign() as *mut c_void;
        // SAFETY: `data` stays valid until `drop`, which stops the work before freeing it.
        unsafe { shim::rhugetlbfs_drain_start(data) };
        // INVARIANT: Registered just above.
        Ok(Drainer { data })
    }
}

impl Drop for Drainer {
    fn drop(&mut self) {
        // SAFETY: Disables the work and waits for it; after this the C side never uses
        // `data` again.
        unsafe { shim::rhugetlbfs_drain_stop() };
        // SAFETY: By the type invariants `data` came from `into_foreign` and is no longer
        // used by anybody.
        let pools = unsafe { Pools::from_foreign(self.data) };
        for pool in pools.iter() {
            let held = pool.draining();
            if held > 0 {
                // The pool drops its references when it goes; each page then goes back to
                // the buddy allocator when its last holder lets go.
                pr_info!(
                    "{} {} kB pages still referenced elsewhere at unload: freed by their last holder\n",
                    held,
                    pool.size_kb()
                );
            }
        }
    }
}

/// Asks the work to run soon (a page went on a draining list). A no-op once the work is
/// stopped.
pub(crate) fn kick_drain() {
    // SAFETY: Schedules a static delayed work; safe from any process context, and refused
    // by the workqueue once the work is disabled.
    unsafe { shim::rhugetlbfs_drain_kick() }
}

/// The work's body: drains every pool; whether pages still wait.
///
/// # Safety
///
/// `data` is the pointer a live [`Drainer`] registered.
#[no_mangle]
unsafe extern "C" fn rhugetlbfs_rs_drain(data: *mut c_void) -> bool {
    // SAFETY: By the safety requirements the registration outlives this call (the drainer
    // waits for the work before freeing it).
    let pools = unsafe { Pools::borrow(data) };
    let mut more = false;
    for pool in pools.iter() {
        more |= pool.drain();
    }
    more
}
