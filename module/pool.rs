// SPDX-License-Identifier: GPL-2.0

//! Per-size huge page pools: upstream's `struct hstate` together with its free lists.
//!
//! The counters and every decision (how many pages to allocate or free, on which node,
//! surplus conversion) come from [`acct::hstate::Hstate`]; this file owns the pages and the
//! locks and does what the core asks, as `set_max_huge_pages` in mm/hugetlb.c does.
//!
//! # Locking
//!
//! - `resize` (upstream `h->resize_lock`) serialises pool resizes and owns the 1 GiB
//!   search state. Held across page allocation, which sleeps.
//! - `inner` (upstream `hugetlb_lock`, but per size) protects the counters and free lists.
//!   Never held while allocating or clearing a page. Taken inside `resize`.
//! - `cleared` is signalled (with `inner`) each time a worker puts back a page it took off a
//!   free list to clear: a caller counted out of a node's free pages whose lists are empty
//!   waits on it for that page ([`Pick::Wait`]).
//!
//! Both are mutexes: every path that frees a huge page here runs in process context (the
//! pages are never freed from `put_page`), so there is no need for a spinlock.
//!
//! # Page ownership
//!
//! The pool holds one reference to each of its pages. A page handed to user space can gain
//! more (slow GUP on the huge entries, `vmsplice` into a pipe, O_DIRECT, io_uring buffers),
//! and those may outlive every mapping. A page given back ([`HugePool::free_page`]) is
//! reused only once the pool's is the only reference left ([`HugePage::is_exclusive`]);
//! until then it waits on the `draining` list, still counted as in use (as upstream, where
//! `free_huge_folio` runs only when the last reference goes). The list is retried from a
//! delayed work (`kern::work`), before every allocation and resize, and when the counters
//! are read. A page with a hardware-poisoned base page never leaves the list. At unload the
//! pool drops its references and the last holder frees each page to the buddy allocator.
//!
//! # Pre-zeroed pages
//!
//! Each node has two free lists, *dirty* and *zeroed* (see [`crate::acct::zero`]). Every page
//! that becomes free (allocated, given back, drained) enters the dirty list; with the
//! `background` policy the node's worker ([`crate::kern::work::ZeroWorkers`]) takes it off,
//! clears it with no lock held, and puts it on the zeroed list. A fault takes a zeroed page
//! first ([`FreshPage::zeroed`] clears inline otherwise); a copy-on-write, a shrink and the
//! return of surplus pages take dirty pages first. A page a worker is clearing is on no list
//! and cannot be reached by anyone but the worker; pages referenced outside the pool
//! (draining) are on no free list either, so a worker never writes to memory someone else
//! can see.
//!
//! # Parallel growth
//!
//! A resize that adds pages first runs allocation jobs in parallel ([`kern::work::run_jobs`]):
//! per node, one job per CPU of the node for 2 MiB pages, and one range search per node for
//! 1 GiB pages; they stop at their share, at a failure, or at a signal to the writer. The
//! core then drives the resize as before, one page at a time, taking each page it asks for
//! on a node from what the jobs got there before allocating one itself. The counters change
//! only in that sequential loop, so they stay exact; pages the jobs got that the loop did not
//! take (a signal, an earlier stop) go back to the allocator.

use crate::acct::gigantic::{ContigOutcome, GiganticScan, RecentFailures, ScanStep};
use crate::acct::hstate::{
    FreeAction, Gather, GatherStep, Hstate, HstateCounters, NodeCounters, NodeMask, ResizeStep,
    ResizeTarget,
};
use crate::acct::stats::HugePageStats;
use crate::acct::zero::{ClearCase, ClearMethod, ClearSpeeds, FreeSplit, Pick, Want, ZeroPolicy};
use crate::kern::numa::{self, ZoneOracle};
use crate::kern::page::{self, HugePage};
use crate::kern::vec;
use crate::kern::work::{self, Drain, JobCtx, WorkerCtx, ZeroWork};
use kernel::bindings;
use kernel::prelude::*;
use kernel::sync::lock::{mutex::MutexBackend, Guard};
use kernel::sync::{Arc, CondVar, Mutex};
use kernel::time::Ktime;
use kernel::{new_condvar, new_mutex};

/// The page orders rhugetlbfs supports: 2 MiB (PMD) and 1 GiB (PUD) on x86_64.
pub(crate) const ORDERS: [u32; 2] = [bindings::HPAGE_PMD_ORDER, bindings::HPAGE_PUD_ORDER];

/// Frames the 1 GiB search examines between reschedule points.
const SCAN_BUDGET: u64 = 1 << 16;

/// A 1 GiB range that still failed after its retries is not tried again for this long (ms),
/// so that repeated resizes do not migrate the same pages over and over.
const RECENT_FAILURE_COOLDOWN_MS: u64 = 10_000;
/// Extra `alloc_contig_range` tries of a candidate range after a migration failure.
const CONTIG_RETRIES: usize = 2;

/// One node's 1 GiB search state, kept between allocations.
struct NodeSearch {
    /// Ranges of the node whose `alloc_contig_range` failed recently.
    recent: RecentFailures,
    /// Per zone: where the next search resumes (after the last success).
    resume_pfn: [u64; bindings::MAX_NR_ZONES as usize],
}

/// What the `resize` lock protects: the 1 GiB search state kept between allocations.
struct ResizeState {
    /// Whether new 1 GiB pages are made of 512 2 MiB folios (`pmd_mappable`), so that the page
    /// cache can hold them (`map=pmd` mounts). Changed only while the pool has no page.
    pmd_mappable: bool,
    /// Per node id (the length of the free lists): the search state, one per node so that
    /// the nodes are searched in parallel.
    search: KVec<NodeSearch>,
}

/// How the pool clears pages (the `clear_method` file and what was measured).
struct ClearConfig {
    method: ClearMethod,
    speeds: ClearSpeeds,
    /// What `Auto` uses on the fault path before anything is measured.
    fallback: ClearMethod,
}

impl ClearConfig {
    fn method(&self, case: ClearCase) -> ClearMethod {
        self.speeds.choose(self.method, case, self.fallback)
    }
}

/// A page given back while something outside the pool still held a reference to it.
struct DrainingPage {
    page: HugePage,
    /// The `restore_reserve` of its [`HugePool::free_page`], applied when it drains.
    restore_reserve: bool,
}

/// One parallel allocation job of a resize ([`HugePool::grow_in_parallel`]).
struct GrowJob<'a> {
    nid: usize,
    /// Pages to allocate at most.
    quota: u64,
    got: KVec<HugePage>,
    /// The node's 1 GiB search state (1 GiB pools; one job per node has it).
    search: Option<&'a mut NodeSearch>,
}

/// What the `inner` lock protects.
struct PoolInner {
    hstate: Hstate,
    /// Free pages per node id whose contents are unknown. Its length is the highest memory
    /// node id + 1.
    dirty: KVec<KVec<HugePage>>,
    /// Free pages per node id known to be zero (cleared since their last user let go).
    zeroed: KVec<KVec<HugePage>>,
    /// The counts of `dirty`, `zeroed` and the pages workers are clearing.
    split: FreeSplit,
    clear: ClearConfig,
    /// Pages given back but still referenced elsewhere; counted as in use. Its capacity is
    /// at least `nr_huge_pages` (see [`HugePool::reserve_slot`]), so pushing never allocates.
    draining: KVec<DrainingPage>,
}

/// One huge page size with its pool.
#[pin_data]
pub(crate) struct HugePool {
    order: u32,
    /// The nodes with memory at load time (the mask resizes use).
    nodes: NodeMask,
    #[pin]
    resize: Mutex<ResizeState>,
    #[pin]
    inner: Mutex<PoolInner>,
    /// Signalled when a page being cleared is back on a list (see the locking notes).
    #[pin]
    cleared: CondVar,
    /// Statistics the kernel does not keep (lock-free counters).
    pub(crate) stats: HugePageStats,
}

impl HugePool {
    /// Creates an empty pool for pages of `order`.
    pub(crate) fn new(order: u32) -> Result<Arc<Self>> {
        let nodes = NodeMask::from_bits(numa::memory_nodes());
        let first = nodes.first().ok_or(ENODEV)?;
        let hstate = Hstate::new(order, bindings::MAX_PAGE_ORDER, first).map_err(|_| EINVAL)?;
        let mut dirty = KVec::new();
        let mut zeroed = KVec::new();
        let mut search = KVec::new();
        let last = nodes.iter().last().unwrap_or(first);
        for _ in 0..=last {
            dirty.push(KVec::new(), GFP_KERNEL)?;
            zeroed.push(KVec::new(), GFP_KERNEL)?;
            search.push(
                NodeSearch {
                    recent: RecentFailures::new(RECENT_FAILURE_COOLDOWN_MS),
                    resume_pfn: [0; bindings::MAX_NR_ZONES as usize],
                },
                GFP_KERNEL,
            )?;
        }
        let fallback = if page::cpu_has_erms() {
            ClearMethod::Erms
        } else {
            ClearMethod::Page
        };
        // 2 MiB pages are 2 MiB folios; 1 GiB pages one folio until set otherwise.
        let pmd_folios = order <= bindings::HPAGE_PMD_ORDER;
        Arc::pin_init(
            pin_init!(HugePool {
                order,
                nodes,
                resize <- new_mutex!(ResizeState {
                    pmd_mappable: pmd_folios,
                    search,
                }),
                inner <- new_mutex!(PoolInner {
                    hstate,
                    dirty,
                    zeroed,
                    split: FreeSplit::new(ZeroPolicy::Background),
                    clear: ClearConfig {
                        method: ClearMethod::Auto,
                        speeds: ClearSpeeds::default(),
                        fallback,
                    },
                    draining: KVec::new(),
                }),
                cleared <- new_condvar!(),
                stats: HugePageStats::new(),
            }),
            GFP_KERNEL,
        )
    }

    /// The page order.
    pub(crate) fn order(&self) -> u32 {
        self.order
    }

    /// The page size in kB (2048, 1048576).
    pub(crate) fn size_kb(&self) -> u64 {
        (bindings::PAGE_SIZE as u64 >> 10) << self.order
    }

    /// Whether pages of this size are above the buddy allocator's largest order.
    pub(crate) fn is_gigantic(&self) -> bool {
        self.order > bindings::MAX_PAGE_ORDER
    }

    /// The nodes with memory.
    pub(crate) fn nodes(&self) -> NodeMask {
        self.nodes
    }

    /// A consistent copy of the global counters.
    pub(crate) fn counters(&self) -> HstateCounters {
        self.inner.lock().hstate.counters()
    }

    /// A consistent copy of node `nid`'s counters.
    pub(crate) fn node_counters(&self, nid: usize) -> NodeCounters {
        self.inner.lock().hstate.node_counters(nid)
    }

    /// Sets `nr_overcommit_hugepages`; `EINVAL` for 1 GiB pages, as upstream.
    pub(crate) fn set_nr_overcommit(&self, nr: u64) -> Result {
        self.inner
            .lock()
            .hstate
            .set_nr_overcommit_huge_pages(nr)
            .map_err(|_| EINVAL)
    }

    /// Resizes the persistent pool (the `nr_hugepages` stores; upstream `set_max_huge_pages`).
    ///
    /// `target` says whether `count` is global or one node's. Growing allocates page by page
    /// with the counters' lock dropped, stops at a pending signal, and may reach less than
    /// asked: that is not an error, the counters say what was reached.
    pub(crate) fn set_nr_hugepages(&self, count: u64, target: ResizeTarget) -> Result {
        if let ResizeTarget::Node(nid) = target {
            if !self.nodes.contains(nid) {
                return Err(EINVAL);
            }
        }
        let mut resize = self.resize.lock();
        let mut inner = self.inner.lock();
        self.drain_locked(&mut inner);
        let mut plan = inner
            .hstate
            .set_max_huge_pages(count, target)
            .map_err(|_| EINVAL)?;
        // What the parallel jobs got, per node id; the loop below takes from it first.
        let mut stock = match plan.pages_to_grow(&inner.hstate) {
            0 | 1 => KVec::new(),
            n => {
                drop(inner);
                let stock = self.grow_in_parallel(&mut resize, plan.nodes(), n);
                inner = self.inner.lock();
                stock
            }
        };
        loop {
            match inner.hstate.resize_step(&mut plan).map_err(|_| EINVAL)? {
                ResizeStep::AllocFresh { nid, try_hard } => {
                    // A page the jobs got is at hand; otherwise allocate, lock dropped.
                    let page = match stock.get_mut(nid).and_then(vec::pop) {
                        Some(page) => Some(page),
                        None => {
                            drop(inner);
                            let page = self.alloc_fresh(&mut resize, nid, try_hard);
                            inner = self.inner.lock();
                            page
                        }
                    };
                    // A page we cannot make room for on the free list counts as a failure.
                    let page = page.filter(|p| Self::reserve_slot(&mut inner, p).is_ok());
                    let got = page.as_ref().map(|p| p.nid() as usize);
                    match inner.hstate.resize_alloc_done(&mut plan, got) {
                        Ok(()) => {
                            if let Some(page) = page {
                                // The workers are woken once at the end: clearing beside
                                // the growth would only slow it down.
                                Self::enqueue_quiet(&mut inner, page)?;
                            }
                        }
                        // The page could not be counted: it goes straight back.
                        Err(_) => drop(page),
                    }
                    if kernel::current!().signal_pending() {
                        inner.hstate.resize_interrupt(&mut plan);
                        break;
                    }
                }
                ResizeStep::FreePage { nid } => {
                    // Dropping the page returns it to the buddy allocator.
                    if self.take_free(&mut inner, nid, Want::Any).is_none() {
                        return Err(EINVAL);
                    }
                }
                ResizeStep::Done { .. } => break,
            }
        }
        // Pages the jobs got beyond what the loop took go back (lock dropped).
        let wake = inner.split.policy() == ZeroPolicy::Background;
        drop(inner);
        drop(stock);
        if wake {
            self.wake_workers();
        }
        Ok(())
    }

    /// Allocates up to `nr` fresh pages on the nodes of `nodes` in parallel, for a resize to
    /// take (see "Parallel growth"): the pages per node id. Empty if the jobs could not be
    /// set up; the resize then allocates every page itself.
    fn grow_in_parallel(
        &self,
        resize: &mut ResizeState,
        nodes: NodeMask,
        nr: u64,
    ) -> KVec<KVec<HugePage>> {
        let nr_nodes = u64::from(nodes.weight().max(1));
        let share = nr.div_ceil(nr_nodes);
        let pmd_mappable = resize.pmd_mappable;
        let mut jobs: KVec<GrowJob<'_>> = KVec::new();
        let mut nids: KVec<i32> = KVec::new();
        let cpus = work::nr_online_cpus().max(1);
        for (nid, search) in resize.search.iter_mut().enumerate() {
            if !nodes.contains(nid) {
                continue;
            }
            // 2 MiB: one job per CPU of the node (all on one node's zone lock, but most of an
            // allocation is outside it); 1 GiB: one range search per node.
            let per_node = if self.is_gigantic() {
                1
            } else {
                work::node_nr_cpus(nid).clamp(1, cpus)
            };
            let each = share.div_ceil(per_node as u64);
            let mut search = Some(search);
            for j in 0..per_node as u64 {
                let quota = each.min(share.saturating_sub(j * each));
                if quota == 0 {
                    break;
                }
                let job = GrowJob {
                    nid,
                    quota,
                    got: KVec::new(),
                    search: search.take(),
                };
                if jobs.push(job, GFP_KERNEL).is_err() || nids.push(nid as i32, GFP_KERNEL).is_err()
                {
                    return KVec::new();
                }
            }
        }
        let run = |job: &mut GrowJob<'_>, ctx: &JobCtx| self.grow_job(job, pmd_mappable, ctx);
        if work::run_jobs(&mut jobs, &nids, &run).is_err() {
            return KVec::new();
        }
        let mut stock: KVec<KVec<HugePage>> = KVec::new();
        for job in jobs.iter_mut() {
            while stock.len() <= job.nid {
                if stock.push(KVec::new(), GFP_KERNEL).is_err() {
                    // Whatever cannot be handed over goes back with `jobs`.
                    return stock;
                }
            }
            let Some(list) = stock.get_mut(job.nid) else {
                continue;
            };
            if list.reserve(job.got.len(), GFP_KERNEL).is_err() {
                continue;
            }
            while let Some(page) = vec::pop(&mut job.got) {
                let _ = list.push(page, GFP_NOWAIT);
            }
        }
        stock
    }

    /// One job of [`Self::grow_in_parallel`]: allocates its quota on its node, stopping at
    /// the first failure or a signal to the writer.
    fn grow_job(&self, job: &mut GrowJob<'_>, pmd_mappable: bool, ctx: &JobCtx) {
        if job
            .got
            .reserve(job.quota.min(1 << 16) as usize, GFP_KERNEL)
            .is_err()
        {
            return;
        }
        while (job.got.len() as u64) < job.quota && !ctx.interrupted() {
            let page = self.alloc_timed(
                job.search.as_deref_mut(),
                pmd_mappable,
                job.nid,
                true,
                &|| ctx.interrupted(),
            );
            let Some(page) = page else {
                return;
            };
            if job.got.push(page, GFP_KERNEL).is_err() {
                return;
            }
        }
    }

    /// Whether the pool's pages are made of 2 MiB folios the page cache can hold: always for
    /// 2 MiB pages; for 1 GiB pages as set with [`Self::set_pmd_mappable`].
    pub(crate) fn pmd_mappable(&self) -> bool {
        self.resize.lock().pmd_mappable
    }

    /// Makes new 1 GiB pages 512 contiguous 2 MiB folios (`true`) or one folio (`false`).
    /// `EBUSY` while the pool holds any page (free, in use or draining): every page of a pool
    /// has the same make. `EINVAL` to make 2 MiB pages anything but 2 MiB folios.
    pub(crate) fn set_pmd_mappable(&self, on: bool) -> Result {
        if !self.is_gigantic() {
            return if on { Ok(()) } else { Err(EINVAL) };
        }
        let mut resize = self.resize.lock();
        let mut inner = self.inner.lock();
        self.drain_locked(&mut inner);
        if resize.pmd_mappable != on && inner.hstate.counters().nr_huge_pages != 0 {
            return Err(EBUSY);
        }
        resize.pmd_mappable = on;
        Ok(())
    }

    /// The persistent pool size (`max_huge_pages`), the base of `size=N%` mount options.
    pub(crate) fn max_huge_pages(&self) -> u64 {
        self.inner.lock().hstate.max_huge_pages()
    }

    /// Reserves `delta` pages (upstream `hugetlb_acct_memory(h, delta)` with `delta > 0`):
    /// makes sure `resv_huge_pages + delta` free pages exist, allocating surplus pages within
    /// `nr_overcommit_hugepages`, then counts the reservation. `ENOMEM` and nothing reserved
    /// if the pool cannot cover it.
    pub(crate) fn reserve(&self, delta: u64) -> Result {
        if delta == 0 {
            return Ok(());
        }
        let mut gather = Gather::new(delta);
        let mut private: KVec<HugePage> = KVec::new();
        let mut inner = self.inner.lock();
        self.drain_locked(&mut inner);
        let mut next = self.nodes.first().unwrap_or(0);
        loop {
            match inner
                .hstate
                .gather_surplus_pages(&mut gather)
                .map_err(|_| EINVAL)?
            {
                GatherStep::Allocate { nr_pages } => {
                    drop(inner);
                    let mut fresh = KVec::new();
                    let mut failed = false;
                    for _ in 0..nr_pages {
                        let nid = next;
                        next = self.nodes.next_in(nid).unwrap_or(0);
                        match HugePage::alloc_buddy(nid as u32, self.order, true) {
                            Ok(p) => {
                                if fresh.push(p, GFP_KERNEL).is_err() {
                                    failed = true;
                                    break;
                                }
                            }
                            Err(_) => {
                                failed = true;
                                break;
                            }
                        }
                    }
                    inner = self.inner.lock();
                    while let Some(page) = vec::pop(&mut fresh) {
                        let nid = page.nid() as usize;
                        let counted = Self::reserve_slot(&mut inner, &page).is_ok()
                            && private.reserve(1, GFP_KERNEL).is_ok()
                            && inner.hstate.gather_page_added(&mut gather, nid).is_ok();
                        if counted {
                            private.push(page, GFP_NOWAIT)?;
                        } else {
                            failed = true;
                        }
                    }
                    if failed {
                        gather.note_alloc_failure();
                    }
                }
                GatherStep::Commit { enqueue, .. } => {
                    for _ in 0..enqueue {
                        if let Some(page) = vec::pop(&mut private) {
                            inner
                                .hstate
                                .enqueue_huge_page(page.nid() as usize)
                                .map_err(|_| EINVAL)?;
                            Self::enqueue(&mut inner, page)?;
                        }
                    }
                    Self::release_private(&mut inner, &mut private);
                    return Ok(());
                }
                GatherStep::Fail { .. } => {
                    Self::release_private(&mut inner, &mut private);
                    return Err(ENOMEM);
                }
            }
        }
    }

    /// Takes a page for a fault (upstream `alloc_hugetlb_folio`), consuming a reservation
    /// if `use_reserve`: a free page, the local node's first
    /// (`dequeue_hugetlb_folio_vma`); without a reservation and without a free page, a new
    /// surplus page within `nr_overcommit_hugepages` (`alloc_buddy_hugetlb_folio_with_mpol`;
    /// 2 MiB only, as upstream). `ENOMEM` when no page may be had.
    ///
    /// `want` says what the page is for: a page user space sees as it is comes from the
    /// zeroed list first; one the caller overwrites from the dirty list first.
    pub(crate) fn alloc_for_fault(&self, use_reserve: bool, want: Want) -> Result<FreshPage> {
        let local = numa::local_node();
        let local = if self.nodes.contains(local) {
            local
        } else {
            self.nodes.first().unwrap_or(0)
        };
        {
            let mut inner = self.inner.lock();
            self.drain_locked(&mut inner);
            match inner
                .hstate
                .dequeue_huge_page_nodemask(local, self.nodes, use_reserve)
            {
                Ok(nid) => {
                    let method = inner.clear.method(self.fault_case());
                    return match self.take_free(&mut inner, nid, want) {
                        Some((page, zeroed)) => Ok(FreshPage {
                            page,
                            zeroed,
                            method,
                        }),
                        None => Err(EINVAL),
                    };
                }
                Err(_) if use_reserve => return Err(ENOMEM),
                Err(_) => inner
                    .hstate
                    .alloc_surplus_huge_page_check()
                    .map_err(|_| ENOMEM)?,
            }
        }
        let page = HugePage::alloc_buddy(local as u32, self.order, false)?;
        let mut inner = self.inner.lock();
        let method = inner.clear.method(self.fault_case());
        let counted = Self::reserve_slot(&mut inner, &page).is_ok()
            && inner
                .hstate
                .alloc_surplus_huge_page_commit(page.nid() as usize, false)
                .is_ok();
        if !counted {
            // The limit was reached meanwhile: the page goes straight back.
            drop(inner);
            drop(page);
            return Err(ENOMEM);
        }
        Ok(FreshPage {
            page,
            zeroed: false,
            method,
        })
    }

    /// Takes a free page off node `nid`'s lists for a caller the counters already counted
    /// out of the node's free pages: the list `want` prefers, waiting for a worker if the
    /// node's only free pages are being cleared. The page and whether it is known zero;
    /// `None` (logged) if the lists and the counters disagree.
    fn take_free(
        &self,
        inner: &mut Guard<'_, PoolInner, MutexBackend>,
        nid: usize,
        want: Want,
    ) -> Option<(HugePage, bool)> {
        loop {
            let (list, zeroed) = match inner.split.pick(nid, want) {
                Ok(Pick::Zeroed) => (inner.zeroed.get_mut(nid), true),
                Ok(Pick::Dirty) => (inner.dirty.get_mut(nid), false),
                Ok(Pick::Wait) => {
                    self.cleared.wait(inner);
                    continue;
                }
                Err(_) => (None, false),
            };
            return match list.and_then(vec::pop) {
                Some(page) => Some((page, zeroed)),
                None => {
                    pr_err!("free list of node {} out of sync with its counters\n", nid);
                    None
                }
            };
        }
    }

    /// Gives back a page taken by [`Self::alloc_for_fault`] (upstream `free_huge_folio`);
    /// `restore_reserve` puts its reservation back too. A page something else still holds
    /// waits on the draining list, counted as in use, until it is the pool's alone.
    pub(crate) fn free_page(&self, page: HugePage, restore_reserve: bool) {
        let mut inner = self.inner.lock();
        if page.is_exclusive() && !page.is_hwpoisoned() {
            let back = Self::free_exclusive(&mut inner, page, restore_reserve, self.size_kb());
            drop(inner);
            drop(back);
            return;
        }
        self.stats.record_draining();
        // Room was reserved when the page entered the pool (`reserve_slot`). Were there none,
        // the push drops the page, that is our reference only: its last holder frees it,
        // and the pool keeps counting it as in use.
        if inner
            .draining
            .push(
                DrainingPage {
                    page,
                    restore_reserve,
                },
                GFP_NOWAIT,
            )
            .is_err()
        {
            pr_err!("draining list had no room reserved: a page left the pool uncounted\n");
        }
        drop(inner);
        work::kick_drain();
    }

    /// Accounts an exclusive page given back: on its node's free list, or, if it leaves
    /// the pool (surplus), returned to be dropped by the caller once the lock is released.
    fn free_exclusive(
        inner: &mut PoolInner,
        page: HugePage,
        restore_reserve: bool,
        size_kb: u64,
    ) -> Option<HugePage> {
        match inner
            .hstate
            .free_huge_page(page.nid() as usize, restore_reserve)
        {
            Ok(FreeAction::Enqueue) => {
                // The node list kept room for every page of its node (`reserve_slot`).
                let _ = Self::enqueue(inner, page);
                None
            }
            Ok(FreeAction::ReturnToBuddy) => Some(page),
            Err(_) => {
                pr_err!("freed a {} kB page the pool did not count\n", size_kb);
                Some(page)
            }
        }
    }

    /// Gives back the draining pages nobody else holds any more; whether some still wait.
    pub(crate) fn drain(&self) -> bool {
        self.drain_locked(&mut self.inner.lock())
    }

    /// [`Self::drain`] with the lock held. Pages that leave the pool are freed under the
    /// lock: rare, and the lock is a mutex.
    fn drain_locked(&self, inner: &mut PoolInner) -> bool {
        let mut i = 0;
        while i < inner.draining.len() {
            let ready = inner
                .draining
                .get(i)
                .is_some_and(|d| d.page.is_exclusive() && !d.page.is_hwpoisoned());
            if !ready {
                i += 1;
                continue;
            }
            let last = inner.draining.len() - 1;
            inner.draining.swap(i, last);
            let Some(d) = vec::pop(&mut inner.draining) else {
                break;
            };
            self.stats.record_drained();
            let back = Self::free_exclusive(inner, d.page, d.restore_reserve, self.size_kb());
            drop(back);
        }
        !inner.draining.is_empty()
    }

    /// Pages given back that something else still references.
    pub(crate) fn draining(&self) -> u64 {
        self.inner.lock().draining.len() as u64
    }

    /// Gives in-flight surplus pages of a gather back (`free_huge_page` without
    /// `restore_reserve`); those that leave the pool are dropped (freed) here.
    fn release_private(inner: &mut PoolInner, private: &mut KVec<HugePage>) {
        while let Some(page) = vec::pop(private) {
            match inner.hstate.free_huge_page(page.nid() as usize, false) {
                Ok(FreeAction::Enqueue) => {
                    let _ = Self::enqueue(inner, page);
                }
                Ok(FreeAction::ReturnToBuddy) | Err(_) => drop(page),
            }
        }
    }

    /// Drops `delta` reservations (upstream `hugetlb_acct_memory(h, -delta)`), freeing free
    /// surplus pages no reservation needs any more.
    pub(crate) fn unreserve(&self, delta: u64) {
        if delta == 0 {
            return;
        }
        let mut freed = KVec::new();
        {
            let mut inner = self.inner.lock();
            let delta = delta - Self::cancel_pending_restores(&mut inner, delta);
            let Ok(mut ret) = inner.hstate.return_unused_surplus_pages(delta) else {
                pr_err!("reservations of {} kB pages out of sync\n", self.size_kb());
                return;
            };
            while let Some(nid) = inner
                .hstate
                .return_unused_surplus_next(&mut ret, self.nodes)
            {
                match self.take_free(&mut inner, nid, Want::Any) {
                    Some((page, _)) => {
                        if freed.push(page, GFP_NOWAIT).is_err() {
                            break;
                        }
                    }
                    None => break,
                }
            }
        }
        // Dropping the pages (lock released) returns them to the buddy allocator.
        drop(freed);
    }

    /// Of `delta` reservations to drop, cancels those not yet back: the pending
    /// `restore_reserve`s of draining pages, as many as the count is short of `delta`.
    /// Returns how many were cancelled.
    ///
    /// A page freed with its reservation restored gives the reservation back only when it
    /// drains. If the reservation's owner drops it first (a `min_size` mount unmounted while
    /// a pipe still holds the page its reserve had covered), the count is one short now and
    /// one too high after the drain: a reservation nobody holds, for good. Upstream keeps
    /// the subpool alive until such pages come back; the pool does the same accounting here.
    fn cancel_pending_restores(inner: &mut PoolInner, delta: u64) -> u64 {
        let mut short = delta.saturating_sub(inner.hstate.resv_huge_pages());
        let mut cancelled = 0;
        for d in inner.draining.iter_mut() {
            if short == 0 {
                break;
            }
            if d.restore_reserve {
                d.restore_reserve = false;
                short -= 1;
                cancelled += 1;
            }
        }
        cancelled
    }

    /// Makes sure `page`'s node list can hold every page of its node, this one included, and
    /// the draining list every page of the pool.
    ///
    /// This keeps the lists' invariant: the capacity of `free[nid]` is at least
    /// `nr_huge_pages_node[nid]` and that of `draining` at least `nr_huge_pages`, so putting
    /// a page back ([`Self::enqueue`], [`Self::free_page`]) never allocates and cannot fail.
    fn reserve_slot(inner: &mut PoolInner, page: &HugePage) -> Result {
        let nid = page.nid() as usize;
        let nr = inner.hstate.node_counters(nid).nr_huge_pages;
        let nr = usize::try_from(nr.saturating_add(1)).map_err(|_| EINVAL)?;
        // Both lists: a node's pages may all be dirty, or all zeroed.
        for list in [inner.dirty.get_mut(nid), inner.zeroed.get_mut(nid)] {
            let list = list.ok_or(EINVAL)?;
            let needed = nr.saturating_sub(list.len());
            list.reserve(needed, GFP_KERNEL).map_err(|_| ENOMEM)?;
        }
        // And the draining list room for every page of the pool.
        let total = inner.hstate.counters().nr_huge_pages.saturating_add(1);
        let needed = usize::try_from(total)
            .map_err(|_| EINVAL)?
            .saturating_sub(inner.draining.len());
        inner
            .draining
            .reserve(needed, GFP_KERNEL)
            .map_err(|_| ENOMEM)
    }

    /// Puts a page on its node's dirty free list and wakes the node's zeroing worker. The
    /// counters already include it.
    fn enqueue(inner: &mut PoolInner, page: HugePage) -> Result {
        let nid = page.nid() as usize;
        if Self::enqueue_quiet(inner, page)? {
            work::kick_zero(nid);
        }
        Ok(())
    }

    /// [`Self::enqueue`] without waking the worker; whether it should be woken.
    fn enqueue_quiet(inner: &mut PoolInner, page: HugePage) -> Result<bool> {
        let nid = page.nid() as usize;
        Self::push_list(&mut inner.dirty, page)?;
        inner.split.added_dirty(nid).map_err(|_| EINVAL)
    }

    /// Pushes `page` on its node's list of `lists`. Room was reserved when the page entered
    /// the pool (`reserve_slot`), so this does not allocate.
    fn push_list(lists: &mut KVec<KVec<HugePage>>, page: HugePage) -> Result {
        let nid = page.nid() as usize;
        let list = lists.get_mut(nid).ok_or(EINVAL)?;
        list.push(page, GFP_NOWAIT).map_err(|_| {
            pr_err!("free list of node {} had no room reserved\n", nid);
            ENOMEM
        })
    }

    /// Allocates one fresh page on `nid` (lock dropped), timing it for the statistics.
    fn alloc_fresh(
        &self,
        resize: &mut ResizeState,
        nid: usize,
        try_hard: bool,
    ) -> Option<HugePage> {
        let pmd_mappable = resize.pmd_mappable;
        let interrupted = || kernel::current!().signal_pending();
        self.alloc_timed(
            resize.search.get_mut(nid),
            pmd_mappable,
            nid,
            try_hard,
            &interrupted,
        )
    }

    /// Allocates one fresh page on `nid` and records it in the statistics: 1 GiB pages with
    /// the node's search state `search` (none: no page), giving up when `interrupted()`;
    /// 2 MiB pages from the buddy allocator, trying hard if `try_hard`.
    fn alloc_timed(
        &self,
        search: Option<&mut NodeSearch>,
        pmd_mappable: bool,
        nid: usize,
        try_hard: bool,
        interrupted: &dyn Fn() -> bool,
    ) -> Option<HugePage> {
        let start = Ktime::ktime_get();
        let page = if self.is_gigantic() {
            search.and_then(|s| self.alloc_gigantic(s, pmd_mappable, nid as u32, interrupted))
        } else {
            HugePage::alloc_buddy(nid as u32, self.order, !try_hard).ok()
        };
        self.stats.record_alloc(page.is_some(), elapsed_ns(start));
        page
    }

    /// The module's own `alloc_contig_pages`: walks the node's populated zones for a 1 GiB
    /// range the core's candidate filter accepts, and takes the first that
    /// `alloc_contig_range` can migrate free. Gives up when `interrupted()` (a signal to the
    /// writer).
    fn alloc_gigantic(
        &self,
        search: &mut NodeSearch,
        pmd_mappable: bool,
        nid: u32,
        interrupted: &dyn Fn() -> bool,
    ) -> Option<HugePage> {
        for span in numa::zones(nid) {
            let resume = search
                .resume_pfn
                .get(span.zone_idx as usize)
                .copied()
                .unwrap_or(0);
            let Ok(mut scan) = GiganticScan::new(span.start_pfn, span.end_pfn, self.order, resume)
            else {
                continue;
            };
            let mut oracle = ZoneOracle::new(span);
            let mut found = None;
            loop {
                let now = now_ms();
                match scan.next_candidate(&mut oracle, &search.recent, now, SCAN_BUDGET) {
                    ScanStep::Candidate(range) => {
                        let start = range.start_pfn as usize;
                        // A migration failure is often transient (a page briefly pinned or
                        // in flight): the same range (or 2 MiB piece of it) is tried up to
                        // twice more before it counts as failed and cools down. Small guests
                        // have only a few candidate ranges per node.
                        let result = if pmd_mappable {
                            HugePage::alloc_contig_chunks(start, self.order, CONTIG_RETRIES)
                        } else {
                            let mut result = HugePage::alloc_contig(start, self.order);
                            for _ in 0..CONTIG_RETRIES {
                                if !matches!(&result, Err(e) if *e == EBUSY) {
                                    break;
                                }
                                page::cond_resched();
                                result = HugePage::alloc_contig(start, self.order);
                            }
                            result
                        };
                        let outcome = match &result {
                            Ok(_) => ContigOutcome::Allocated,
                            Err(e) if *e == EBUSY => ContigOutcome::MigrationFailed,
                            Err(_) => ContigOutcome::OtherError,
                        };
                        let _ = scan.report(range, outcome, &mut search.recent, now);
                        if let Ok(page) = result {
                            found = Some(page);
                            break;
                        }
                        if interrupted() {
                            break;
                        }
                    }
                    ScanStep::Yield => {
                        page::cond_resched();
                        if interrupted() {
                            break;
                        }
                    }
                    ScanStep::Exhausted => break,
                }
            }
            self.stats.add_scan(scan.counters());
            if let Some(slot) = search.resume_pfn.get_mut(span.zone_idx as usize) {
                *slot = scan.resume_pfn();
            }
            if found.is_some() {
                return found;
            }
        }
        None
    }
}

/// A page taken for a fault ([`HugePool::alloc_for_fault`]), before user space may see it.
///
/// # Invariants
///
/// If `zeroed`, every byte of `page` is zero: it came off a zeroed list, where a page goes
/// only after a complete clear while nothing else could reach it.
pub(crate) struct FreshPage {
    page: HugePage,
    zeroed: bool,
    /// How to clear it if it must be cleared (the pool's fault-path method when taken).
    method: ClearMethod,
}

impl FreshPage {
    /// The page, for a caller that fills it ([`Self::filled`]) or reads it.
    pub(crate) fn page_mut(&mut self) -> &mut HugePage {
        &mut self.page
    }

    /// The page once the caller has written every byte of it (a copy-on-write copy).
    pub(crate) fn filled(self) -> HugePage {
        self.page
    }

    /// The page with every byte zero: cleared now, unless it was already, and counted in
    /// `pool`'s statistics either way.
    pub(crate) fn zeroed(mut self, pool: &HugePool) -> HugePage {
        if self.zeroed {
            pool.stats.record_zeroed_hit();
        } else {
            let start = Ktime::ktime_get();
            self.page.zero(self.method);
            pool.stats
                .record_inline_clear(self.page.size(), elapsed_ns(start));
        }
        self.page
    }
}

/// What the clearing-speed measurement found, for the `clear_speed` file.
pub(crate) struct ClearReport {
    pub(crate) speeds: ClearSpeeds,
    /// What the configured method stands for on the fault path and in the background.
    pub(crate) fault: ClearMethod,
    pub(crate) background: ClearMethod,
}

impl HugePool {
    /// The case of a clear on the fault path: 2 MiB pages may stay cached, 1 GiB ones not.
    fn fault_case(&self) -> ClearCase {
        if self.is_gigantic() {
            ClearCase::Fault
        } else {
            ClearCase::FaultCached
        }
    }

    /// The zeroing policy (`zero_policy`).
    pub(crate) fn zero_policy(&self) -> ZeroPolicy {
        self.inner.lock().split.policy()
    }

    /// Sets the zeroing policy; `background` wakes every node's worker for the dirty pages
    /// already free.
    pub(crate) fn set_zero_policy(&self, policy: ZeroPolicy) {
        self.inner.lock().split.set_policy(policy);
        if policy == ZeroPolicy::Background {
            self.wake_workers();
        }
    }

    /// Wakes every node's zeroing worker (dirty pages may be waiting on every node).
    fn wake_workers(&self) {
        for nid in self.nodes.iter() {
            work::kick_zero(nid);
        }
    }

    /// The configured clearing method (`clear_method`).
    pub(crate) fn clear_method(&self) -> ClearMethod {
        self.inner.lock().clear.method
    }

    /// Sets the clearing method.
    pub(crate) fn set_clear_method(&self, method: ClearMethod) {
        self.inner.lock().clear.method = method;
    }

    /// Free pages known to be zero, over all nodes or on node `nid`.
    pub(crate) fn zeroed_pages(&self, nid: Option<usize>) -> u64 {
        let inner = self.inner.lock();
        match nid {
            Some(nid) => inner.split.node(nid).zeroed,
            None => inner.split.zeroed(),
        }
    }

    /// The measured speeds and what the configured method stands for now.
    pub(crate) fn clear_report(&self) -> ClearReport {
        let inner = self.inner.lock();
        ClearReport {
            speeds: inner.clear.speeds,
            fault: inner.clear.method(self.fault_case()),
            background: inner.clear.method(ClearCase::Background),
        }
    }

    /// Measures every clearing method on one free page of the pool (the `clear_speed` write),
    /// in the caller's context. `ENOMEM` if the pool has no free page on its lists. The page
    /// stays free (and ends up zeroed) meanwhile: a fault that needs it waits.
    pub(crate) fn measure_clear(&self) -> Result {
        let (nid, mut page, _) = self.take_to_clear(None).ok_or(ENOMEM)?;
        let speeds = Self::measure(&mut page, None);
        self.put_cleared(nid, page, speeds.is_some(), speeds);
        Ok(())
    }

    /// Clears `page` once untimed, then once with each method, timing each (in a worker:
    /// stops when told to, `None`). The page ends zeroed if `Some`. The untimed pass takes
    /// the first touch's costs (cache and TLB misses, a TCG guest's soft-TLB fills) so that
    /// no method pays them for the others.
    fn measure(page: &mut HugePage, worker: Option<&WorkerCtx>) -> Option<ClearSpeeds> {
        let mut speeds = ClearSpeeds::default();
        let passes = [
            ClearMethod::Page,
            ClearMethod::Nt,
            ClearMethod::Page,
            ClearMethod::Erms,
        ];
        for (i, method) in passes.into_iter().enumerate() {
            let start = Ktime::ktime_get();
            let done = match worker {
                Some(w) => page.zero_in_worker(method, w),
                None => {
                    page.zero(method);
                    true
                }
            };
            if !done {
                return None;
            }
            if i == 0 {
                continue;
            }
            let mb = ClearSpeeds::mb_per_s(page.size(), elapsed_ns(start).max(1));
            match method {
                ClearMethod::Nt => speeds.nt = mb.max(1),
                ClearMethod::Page => speeds.page = mb.max(1),
                _ => speeds.erms = mb.max(1),
            }
        }
        Some(speeds)
    }

    /// Takes a free page off a list to clear it with no lock held: with a worker, a dirty
    /// page of its node if the policy is `background`; without one (a measurement), any free
    /// page of any node. Counted as clearing until [`Self::put_cleared`].
    ///
    /// Also returns the method to clear with in the background, `None` while the methods
    /// were never measured (the page is then used to measure them).
    fn take_to_clear(
        &self,
        worker: Option<&WorkerCtx>,
    ) -> Option<(usize, HugePage, Option<ClearMethod>)> {
        let mut inner = self.inner.lock();
        let (nid, zeroed) = match worker {
            Some(w) => {
                if !inner.split.begin_clear(w.nid()) {
                    return None;
                }
                (w.nid(), false)
            }
            None => self.nodes.iter().find_map(|nid| {
                let pick = inner.split.begin_measure(nid)?;
                Some((nid, pick == Pick::Zeroed))
            })?,
        };
        let method = inner
            .clear
            .speeds
            .measured()
            .then(|| inner.clear.method(ClearCase::Background));
        let list = if zeroed {
            inner.zeroed.get_mut(nid)
        } else {
            inner.dirty.get_mut(nid)
        };
        match list.and_then(vec::pop) {
            Some(page) => Some((nid, page, method)),
            None => {
                pr_err!("free list of node {} out of sync with its counters\n", nid);
                // Nothing was taken: the count goes back as it was.
                let _ = inner.split.end_clear(nid, zeroed);
                None
            }
        }
    }

    /// Puts back a page taken with [`Self::take_to_clear`], on the zeroed list if the clear
    /// completed, and wakes whoever waits for it; `speeds`, if the page was measured on,
    /// become the pool's.
    fn put_cleared(&self, nid: usize, page: HugePage, zeroed: bool, speeds: Option<ClearSpeeds>) {
        let mut inner = self.inner.lock();
        if let Some(speeds) = speeds {
            inner.clear.speeds = speeds;
        }
        let lists = if zeroed {
            &mut inner.zeroed
        } else {
            &mut inner.dirty
        };
        if Self::push_list(lists, page).is_ok() {
            let _ = inner.split.end_clear(nid, zeroed);
        }
        drop(inner);
        self.cleared.notify_all();
    }

    /// A zeroing worker's step for this pool: clears one dirty free page of the worker's node
    /// with the background method; whether there was one. The first page of a pool whose
    /// methods were never measured is used to measure them (the clears zero it too).
    fn zero_one(&self, worker: &WorkerCtx) -> bool {
        let Some((nid, mut page, method)) = self.take_to_clear(Some(worker)) else {
            return false;
        };
        let start = Ktime::ktime_get();
        let (done, speeds, passes) = match method {
            Some(method) => (page.zero_in_worker(method, worker), None, 1),
            // A measurement clears the page once untimed and once per method.
            None => {
                let speeds = Self::measure(&mut page, Some(worker));
                (speeds.is_some(), speeds, 4)
            }
        };
        if done {
            self.stats
                .record_background_clear(page.size() * passes, elapsed_ns(start));
        }
        self.put_cleared(nid, page, done, speeds);
        true
    }
}

/// Nanoseconds since `start`, for the statistics.
fn elapsed_ns(start: Ktime) -> u64 {
    u64::try_from((Ktime::ktime_get() - start).to_ns()).unwrap_or(0)
}

/// Milliseconds of monotonic time, for the recent-failure cache.
fn now_ms() -> u64 {
    u64::try_from(Ktime::ktime_get().to_ms()).unwrap_or(0)
}

/// Every pool, for the draining work ([`crate::kern::work`]).
pub(crate) struct PoolSet(pub(crate) KVec<Arc<HugePool>>);

impl ZeroWork for PoolSet {
    fn zero_one(&self, worker: &WorkerCtx) -> bool {
        // Smaller pages first: one 1 GiB clear takes as long as 512 of them.
        self.0.iter().any(|pool| pool.zero_one(worker))
    }
}

impl Drain for PoolSet {
    fn drain(&self) -> bool {
        let mut more = false;
        for pool in self.0.iter() {
            more |= pool.drain();
        }
        more
    }

    fn stopped(&self) {
        for pool in self.0.iter() {
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
