// SPDX-License-Identifier: GPL-2.0

//! Mounts: their options and quotas, and the fault mutexes (upstream `hugetlbfs_sb_info`,
//! `hugetlbfs_fill_super`, `hugepage_subpool`, `hugetlb_fault_mutex_table`).
//!
//! A mount picks one pool (`pagesize=`), owns a subpool when `size=` or `min_size=` is
//! given (the core's [`Subpool`]) and counts inodes against `nr_inodes=`. The minimum size
//! is reserved in the pool at mount ([`HugePool::reserve`]) and released when the super
//! block goes away.

use super::inode::InodeInfo;
use crate::acct::parse::{HugeMap, MountOption, MountOptions, SubpoolLimits};
use crate::acct::subpool::Subpool;
use crate::acct::zero::Want;
use crate::kern::page::HugePage;
use crate::kern::vfs::{MountLog, ParamError, Statfs};
use crate::pool::{FreshPage, HugePool};
use core::fmt::{self, Write};
use kernel::new_mutex;
use kernel::prelude::*;
use kernel::sync::lock::{mutex::MutexBackend, Guard};
use kernel::sync::{Arc, Mutex};

/// Fault mutexes per mount (upstream `hugetlb_fault_mutex_table`, per super block here).
const NR_FAULT_MUTEXES: usize = 64;

/// What every mount needs from the module: the pools and the default size.
pub(crate) struct FsGlobals {
    pools: KVec<Arc<HugePool>>,
    default: usize,
}

impl FsGlobals {
    /// `pools` as the module holds them; `default` indexes the default size.
    pub(crate) fn new(pools: KVec<Arc<HugePool>>, default: usize) -> Result<Arc<Self>> {
        Ok(Arc::new(FsGlobals { pools, default }, GFP_KERNEL)?)
    }

    /// The page sizes in bytes that `pagesize=` accepts.
    fn page_sizes(&self) -> [u64; 2] {
        let mut sizes = [0; 2];
        for (slot, p) in sizes.iter_mut().zip(self.pools.iter()) {
            *slot = p.size_kb() << 10;
        }
        sizes
    }
}

/// A mount being set up (upstream `struct hugetlbfs_fs_context`).
pub(crate) struct MountCtx {
    globals: Arc<FsGlobals>,
    opts: MountOptions,
}

impl MountCtx {
    /// A new context with the default options.
    pub(crate) fn new(globals: Arc<FsGlobals>) -> Self {
        MountCtx {
            globals,
            opts: MountOptions::new(),
        }
    }

    /// Parses one `key[=value]` option (upstream `hugetlbfs_parse_param`).
    pub(crate) fn parse_param(
        &mut self,
        key: &[u8],
        value: Option<&[u8]>,
        log: &mut MountLog<'_>,
    ) -> core::result::Result<(), ParamError> {
        if MountOption::from_key(key).is_none() {
            return Err(ParamError::Unknown);
        }
        let sizes = self.globals.page_sizes();
        self.opts.parse_param(key, value, &sizes).map_err(|e| {
            let _ = write!(log, "{e}");
            ParamError::Bad(EINVAL)
        })
    }

    /// Creates the mount's state (upstream `hugetlbfs_validate` plus the subpool part of
    /// `hugetlbfs_fill_super`): picks the pool, resolves the limits and reserves `min_size`.
    /// A failure's one line of explanation goes to `log`.
    pub(crate) fn new_super(&self, log: &mut MountLog<'_>) -> Result<Arc<SuperInfo>> {
        let mut fail = |e: Error, msg: &dyn fmt::Display| {
            let _ = write!(log, "{msg}");
            e
        };
        let g = &self.globals;
        let pool = match self.opts.pagesize {
            None => g.pools.get(g.default),
            Some(bytes) => g.pools.iter().find(|p| p.size_kb() << 10 == bytes),
        }
        .ok_or_else(|| fail(EINVAL, &"no pool for the page size"))?
        .clone();
        let shift = pool.order() + kernel::bindings::PAGE_SHIFT;
        let limits = self
            .opts
            .resolve(shift, pool.max_huge_pages())
            .map_err(|e| fail(EINVAL, &e))?;
        if self.opts.huge_map(shift) == HugeMap::Pmd && !pool.pmd_mappable() {
            return Err(fail(
                EINVAL,
                &"map=pmd needs 1 GiB pages made of 2 MiB folios: write 1 to \
                  hugepages-1048576kB/pmd_mappable while the pool is empty",
            ));
        }
        let spool = if limits.needs_subpool() {
            let sp = Subpool::new(limits.max_hpages, limits.min_hpages)
                .map_err(|_| fail(EINVAL, &"min_size above size"))?;
            Some(sp)
        } else {
            None
        };
        let min = spool.as_ref().map_or(0, Subpool::min_reserve);
        pool.reserve(min)
            .map_err(|e| fail(e, &"the pool cannot cover min_size (mount reserve)"))?;
        let mut faults = KVec::new();
        for _ in 0..NR_FAULT_MUTEXES {
            let pushed = KBox::pin_init(new_mutex!(()), GFP_KERNEL)
                .and_then(|m| faults.push(m, GFP_KERNEL).map_err(Error::from));
            if let Err(e) = pushed {
                pool.unreserve(min);
                return Err(fail(e, &"out of memory"));
            }
        }
        let info_pool = pool.clone();
        // INVARIANT: `faults` got `NR_FAULT_MUTEXES` entries above and `min` pages were
        // reserved; on failure below the reserve is returned.
        let info = Arc::pin_init(
            pin_init!(SuperInfo {
                pool: info_pool,
                limits,
                opts: self.opts,
                faults,
                state <- new_mutex!(SbState {
                    spool,
                    free_inodes: self.opts.nr_inodes,
                }),
            }),
            GFP_KERNEL,
        );
        info.map_err(|e| {
            pool.unreserve(min);
            fail(e, &"out of memory")
        })
    }
}

/// What the state lock of a mount protects (upstream `sbinfo->stat_lock` and the subpool's
/// lock, merged).
struct SbState {
    spool: Option<Subpool>,
    /// Inodes still allowed (`None`: no `nr_inodes=` limit).
    free_inodes: Option<u64>,
}

/// One mounted filesystem (upstream `struct hugetlbfs_sb_info`).
///
/// # Invariants
///
/// `faults` holds exactly `NR_FAULT_MUTEXES` mutexes; `limits.min_hpages` pages are
/// reserved in `pool` until drop.
#[pin_data(PinnedDrop)]
pub(crate) struct SuperInfo {
    pool: Arc<HugePool>,
    limits: SubpoolLimits,
    opts: MountOptions,
    faults: KVec<Pin<KBox<Mutex<()>>>>,
    #[pin]
    state: Mutex<SbState>,
}

/// The fault mutex of one huge page of one file, held (upstream `hugetlb_fault_mutex_hash`
/// and its lock). Everything that adds, removes, maps or reads the page at [`Self::idx`] of
/// the file holds it, so [`InodeInfo`]'s page calls take it as an argument.
pub(crate) struct FaultLock<'a> {
    _guard: Guard<'a, (), MutexBackend>,
    file: *const InodeInfo,
    idx: u64,
}

impl FaultLock<'_> {
    /// The index of the page it protects.
    pub(crate) fn idx(&self) -> u64 {
        self.idx
    }

    /// Whether it protects a page of `file`.
    pub(crate) fn is_for(&self, file: &InodeInfo) -> bool {
        core::ptr::eq(self.file, file)
    }
}

impl SuperInfo {
    /// The huge page size in bytes.
    pub(crate) fn page_size(&self) -> u64 {
        self.pool.size_kb() << 10
    }

    /// The huge page shift (21 for 2 MiB).
    pub(crate) fn page_shift(&self) -> u32 {
        self.pool.order() + kernel::bindings::PAGE_SHIFT
    }

    /// Whether the mount's files keep their pages in the page cache, as folios the core maps
    /// with refcounted, rmapped entries (`map=pmd`: 2 MiB pages, and 1 GiB pages made of 512
    /// 2 MiB folios), rather than mapping them itself with PFN entries (`map=pud`, the 1 GiB
    /// default: a PUD entry each; 6.12 has no refcounted PUD outside hugetlb).
    pub(crate) fn page_cache(&self) -> bool {
        self.opts.huge_map(self.page_shift()) == HugeMap::Pmd
    }

    /// The pool of the mount's page size.
    pub(crate) fn pool(&self) -> &HugePool {
        &self.pool
    }

    /// The huge page order.
    pub(crate) fn order(&self) -> u32 {
        self.pool.order()
    }

    /// The options the mount was made with.
    pub(crate) fn options(&self) -> &MountOptions {
        &self.opts
    }

    /// Locks the fault mutex of page `idx` of `file`. The hash mixes the file's identity
    /// (the address of its data, as upstream hashes the `address_space`) and the index.
    pub(crate) fn fault_lock<'a>(&'a self, file: &InodeInfo, idx: u64) -> FaultLock<'a> {
        const GOLDEN: u64 = 0x9e37_79b9_7f4a_7c15;
        let id = file as *const InodeInfo as usize as u64;
        let h = (id.wrapping_mul(GOLDEN) ^ idx).wrapping_mul(GOLDEN) >> 58;
        // `faults` has `NR_FAULT_MUTEXES` entries from `new_super` on (a type invariant of
        // `SuperInfo`), so the index is in bounds.
        let slot = (h as usize) % NR_FAULT_MUTEXES;
        FaultLock {
            _guard: self.faults[slot].lock(),
            file,
            idx,
        }
    }

    /// Charges `delta` pages to the subpool; returns what the pool must reserve. `ENOMEM`
    /// over the size limit.
    pub(crate) fn subpool_get(&self, delta: u64) -> Result<u64> {
        match self.state.lock().spool.as_mut() {
            Some(sp) => sp.hugepage_subpool_get_pages(delta).map_err(|_| ENOMEM),
            None => Ok(delta),
        }
    }

    /// Gives `delta` pages back to the subpool; returns the reservations the pool drops.
    pub(crate) fn subpool_put(&self, delta: u64) -> u64 {
        match self.state.lock().spool.as_mut() {
            Some(sp) => sp.hugepage_subpool_put_pages(delta).unwrap_or(0),
            None => delta,
        }
    }

    /// Reserves `n` pages for a mapping (upstream `hugetlb_reserve_pages` minus the maps):
    /// the subpool first, then the pool. `ENOMEM` and nothing reserved on failure.
    pub(crate) fn reserve_pages(&self, n: u64) -> Result {
        let gbl = self.subpool_get(n)?;
        self.pool
            .reserve(gbl)
            .inspect_err(|_| self.subpool_undo(n, gbl))
    }

    /// Drops `n` reservations taken by [`Self::reserve_pages`] and not consumed.
    pub(crate) fn unreserve_pages(&self, n: u64) {
        let back = self.subpool_put(n);
        self.pool.unreserve(back);
    }

    /// Takes a page no reservation covers (upstream `alloc_hugetlb_folio` when
    /// `vma_needs_reservation`): charged to the subpool, then taken from the pool's
    /// unreserved free pages. `ENOSPC` over the quota, `ENOMEM` without a free page.
    pub(crate) fn alloc_unreserved(&self, want: Want) -> Result<FreshPage> {
        let gbl = self.subpool_get(1).map_err(|_| ENOSPC)?;
        self.pool
            .alloc_for_fault(gbl == 0, want)
            .inspect_err(|_| self.subpool_undo(1, gbl))
    }

    /// Undoes `subpool_get(n)`, which returned `gbl`, after the pool refused those `gbl`
    /// pages: the subpool goes back to exactly where it was, and the pool, which took
    /// nothing, is not touched (see `Subpool::hugepage_subpool_undo_get`).
    fn subpool_undo(&self, n: u64, gbl: u64) {
        if let Some(sp) = self.state.lock().spool.as_mut() {
            sp.hugepage_subpool_undo_get(n, gbl);
        }
    }

    /// Frees a page of a file (upstream `free_huge_folio` with the subpool).
    pub(crate) fn free_page(&self, page: HugePage) {
        let restore = self.subpool_put(1) == 0;
        self.pool.free_page(page, restore);
    }

    /// Counts a new inode against `nr_inodes` (upstream `hugetlbfs_dec_free_inodes`);
    /// `ENOSPC` when none is left.
    pub(crate) fn take_inode(&self) -> Result {
        let mut st = self.state.lock();
        match st.free_inodes {
            Some(0) => Err(ENOSPC),
            Some(ref mut n) => {
                *n -= 1;
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// Gives an inode back (upstream `hugetlbfs_inc_free_inodes`).
    pub(crate) fn put_inode(&self) {
        let mut st = self.state.lock();
        if let Some(ref mut n) = st.free_inodes {
            *n = n.saturating_add(1);
        }
    }

    /// The statfs numbers (upstream `hugetlbfs_statfs`): blocks from the subpool, files from
    /// `nr_inodes`; zero where there is no limit.
    pub(crate) fn statfs(&self) -> Statfs {
        let st = self.state.lock();
        let (blocks, bfree) = st.spool.as_ref().map_or((0, 0), |sp| {
            let s = sp.statfs();
            (s.blocks, s.bfree)
        });
        let (files, ffree) = match (self.opts.nr_inodes, st.free_inodes) {
            (Some(max), Some(free)) => (max, free),
            _ => (0, 0),
        };
        Statfs {
            bsize: self.page_size(),
            blocks,
            bfree,
            files,
            ffree,
        }
    }

    /// Writes the effective options for /proc/mounts (upstream `hugetlbfs_show_options`);
    /// `uid`/`gid` are the root directory's owner as seen from the initial namespace.
    pub(crate) fn show_options(&self, w: &mut impl fmt::Write, uid: u32, gid: u32) -> fmt::Result {
        if uid != 0 {
            write!(w, ",uid={uid}")?;
        }
        if gid != 0 {
            write!(w, ",gid={gid}")?;
        }
        if self.opts.mode != MountOptions::DEFAULT_MODE {
            write!(w, ",mode={:o}", self.opts.mode)?;
        }
        if let Some(n) = self.opts.nr_inodes {
            write!(w, ",nr_inodes={n}")?;
        }
        if self.opts.huge_map(self.page_shift()) == HugeMap::Pmd && self.page_shift() >= 30 {
            // Only where it is not the page size's default.
            w.write_str(",map=pmd")?;
        }
        let (size, unit) = crate::acct::parse::show_pagesize(self.page_size());
        write!(w, ",pagesize={size}{}", char::from(unit))?;
        let shift = self.page_shift();
        if let Some(max) = self.limits.max_hpages {
            write!(w, ",size={}", max << shift)?;
        }
        if let Some(min) = self.limits.min_hpages {
            write!(w, ",min_size={}", min << shift)?;
        }
        Ok(())
    }
}

#[pinned_drop]
impl PinnedDrop for SuperInfo {
    fn drop(self: Pin<&mut Self>) {
        // Unmount: every inode is gone, so the subpool is free and its minimum reserve goes
        // back to the pool (upstream `unlock_or_release_subpool`).
        let min = self.limits.min_hpages.unwrap_or(0);
        self.pool.unreserve(min);
    }
}
