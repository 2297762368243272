// SPDX-License-Identifier: GPL-2.0

//! Property test: random sequences of pool operations, driven the way the kernel glue drives
//! them (page lists on the "kernel" side, step APIs, injected allocation failures), against a
//! simple model of the global counters and the closed-form outcome of each operation.

use proptest::prelude::*;
use rhugetlbfs_acct::hstate::{
    FreeAction, Gather, GatherStep, Hstate, HstateError, NodeMask, ResizeStep, ResizeTarget,
};

const MAX_PAGE_ORDER: u32 = 10;

#[derive(Clone, Debug)]
enum Op {
    /// Global `nr_hugepages` write; allocation fails on the nodes of `fail`; optionally a
    /// signal arrives after `interrupt` successful allocations.
    Resize {
        count: u64,
        fail: u8,
        interrupt: Option<u8>,
    },
    /// Per-node `nr_hugepages` write.
    ResizeNode { nid: usize, count: u64, fail: u8 },
    /// A fault takes a free page.
    Dequeue { preferred: usize, use_reserve: bool },
    /// A fault allocates a surplus page because the pool had none.
    AllocSurplus {
        nid: usize,
        consume_reserve: bool,
        alloc_ok: bool,
    },
    /// The last reference to an in-use page goes (index into the in-use list).
    Free { index: usize, restore: bool },
    /// `hugetlb_acct_memory(delta)`; the first `ok_allocs` surplus allocations succeed.
    Reserve { delta: u64, ok_allocs: u64 },
    /// `hugetlb_acct_memory(-delta)`, `delta` taken modulo the outstanding reservations + 1.
    Unreserve { delta: u64 },
    /// `nr_overcommit_hugepages` write.
    SetOvercommit { nr: u64 },
}

fn op_strategy(nodes: usize) -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0u64..24, any::<u8>(), prop::option::weighted(0.15, 0u8..6))
            .prop_map(|(count, fail, interrupt)| Op::Resize { count, fail: fail & 0b0111, interrupt }),
        2 => (0..nodes, 0u64..12, any::<u8>())
            .prop_map(|(nid, count, fail)| Op::ResizeNode { nid, count, fail: fail & 0b0011 }),
        4 => (0..nodes, any::<bool>())
            .prop_map(|(preferred, use_reserve)| Op::Dequeue { preferred, use_reserve }),
        2 => (0..nodes, any::<bool>(), prop::bool::weighted(0.85))
            .prop_map(|(nid, consume_reserve, alloc_ok)| Op::AllocSurplus { nid, consume_reserve, alloc_ok }),
        4 => (any::<usize>(), prop::bool::weighted(0.2))
            .prop_map(|(index, restore)| Op::Free { index, restore }),
        3 => (0u64..8, 0u64..8).prop_map(|(delta, ok_allocs)| Op::Reserve { delta, ok_allocs }),
        2 => (0u64..8).prop_map(|delta| Op::Unreserve { delta }),
        1 => (0u64..10).prop_map(|nr| Op::SetOvercommit { nr }),
    ]
}

/// A page the "kernel" holds outside the free lists.
#[derive(Clone, Copy, Debug)]
struct InUse {
    nid: usize,
    restore_reserve: bool,
}

/// The global counters as the model predicts them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Model {
    nr: u64,
    free: u64,
    resv: u64,
    surplus: u64,
    overcommit: u64,
}

struct Sim {
    h: Hstate,
    nodes: usize,
    all: NodeMask,
    /// The kernel's free lists (page counts per node).
    free_list: Vec<u64>,
    in_use: Vec<InUse>,
    m: Model,
    /// Whether surplus may be above the overcommit limit (after a shrink or a lowering).
    excess_allowed: bool,
}

impl Sim {
    fn new(order: u32, nodes: usize) -> Self {
        Self {
            h: Hstate::new(order, MAX_PAGE_ORDER, 0).unwrap(),
            nodes,
            all: NodeMask::first_n(nodes).unwrap(),
            free_list: vec![0; nodes],
            in_use: Vec::new(),
            m: Model {
                nr: 0,
                free: 0,
                resv: 0,
                surplus: 0,
                overcommit: 0,
            },
            excess_allowed: false,
        }
    }

    fn node(&self, nid: usize) -> (u64, u64, u64) {
        let c = self.h.node_counters(nid);
        (c.nr_huge_pages, c.free_huge_pages, c.surplus_huge_pages)
    }

    fn persistent(m: &Model) -> u64 {
        m.nr - m.surplus
    }

    /// Drives a resize plan like the kernel: allocation outcomes from `fail`, free pages
    /// taken off the free lists.
    fn drive_resize(&mut self, target: ResizeTarget, count: u64, fail: u8, interrupt: Option<u8>) {
        let mut plan = self.h.set_max_huge_pages(count, target).unwrap();
        let mut successes = 0u8;
        loop {
            match self.h.resize_step(&mut plan).unwrap() {
                ResizeStep::AllocFresh { nid, .. } => {
                    assert!(plan.nodes().contains(nid));
                    if fail & (1 << nid) != 0 {
                        self.h.resize_alloc_done(&mut plan, None).unwrap();
                    } else {
                        self.h.resize_alloc_done(&mut plan, Some(nid)).unwrap();
                        self.free_list[nid] += 1;
                        successes += 1;
                        if interrupt == Some(successes) {
                            self.h.resize_interrupt(&mut plan);
                        }
                    }
                }
                ResizeStep::FreePage { nid } => {
                    assert!(plan.nodes().contains(nid));
                    assert!(self.free_list[nid] > 0, "freeing from an empty free list");
                    self.free_list[nid] -= 1;
                }
                ResizeStep::Done { persistent } => {
                    assert_eq!(persistent, self.h.persistent_huge_pages());
                    assert_eq!(self.h.max_huge_pages(), persistent);
                    return;
                }
            }
        }
    }

    fn apply(&mut self, op: &Op) {
        let gigantic = self.h.hstate_is_gigantic();
        let before = self.m;
        let mut shrink_made_surplus = false;
        match *op {
            Op::Resize {
                count,
                fail,
                interrupt,
            } => {
                let m = &mut self.m;
                let p = Self::persistent(m);
                let conv = m.surplus.min(count.saturating_sub(p));
                m.surplus -= conv;
                let p1 = Self::persistent(m);
                let mut need = count.saturating_sub(p1);
                let allowed_fail = u8::try_from(self.all.bits()).unwrap() & fail;
                let all_fail = allowed_fail == u8::try_from(self.all.bits()).unwrap();
                let mut stopped = false;
                if need > 0 && all_fail {
                    need = 0;
                    stopped = true;
                }
                if let Some(k) = interrupt.filter(|&k| k > 0) {
                    if need >= u64::from(k) {
                        need = u64::from(k);
                        stopped = true;
                    }
                }
                m.nr += need;
                m.free += need;
                if !stopped {
                    let min_count = count.max(m.resv + m.nr - m.free);
                    let remove = Self::persistent(m).saturating_sub(min_count);
                    m.nr -= remove;
                    m.free -= remove;
                    let conv_up = Self::persistent(m).saturating_sub(count);
                    m.surplus += conv_up;
                    shrink_made_surplus = conv_up > 0;
                }
                self.drive_resize(ResizeTarget::Global(self.all), count, fail, interrupt);
            }
            Op::ResizeNode { nid, count, fail } => {
                let (nr_x, free_x, surplus_x) = self.node(nid);
                let m = &mut self.m;
                let p = Self::persistent(m);
                let count_g = count.saturating_add(p - (nr_x - surplus_x));
                let conv = surplus_x.min(count_g.saturating_sub(p));
                m.surplus -= conv;
                let surplus_x = surplus_x - conv;
                let need = count_g.saturating_sub(Self::persistent(m));
                if need > 0 && fail & (1 << nid) != 0 {
                    // Every allowed node failed: stop before shrinking.
                } else {
                    m.nr += need;
                    m.free += need;
                    let (nr_x, free_x) = (nr_x + need, free_x + need);
                    let min_count = count_g.max(m.resv + m.nr - m.free);
                    let remove = Self::persistent(m)
                        .saturating_sub(min_count)
                        .min(free_x)
                        .min(nr_x - surplus_x);
                    m.nr -= remove;
                    m.free -= remove;
                    let nr_x = nr_x - remove;
                    let conv_up = Self::persistent(m)
                        .saturating_sub(count_g)
                        .min(nr_x - surplus_x);
                    m.surplus += conv_up;
                    shrink_made_surplus = conv_up > 0;
                }
                self.drive_resize(ResizeTarget::Node(nid), count, fail, None);
                let (nr_after, _, _) = self.node(nid);
                if need > 0 && fail & (1 << nid) == 0 {
                    assert_eq!(nr_after, nr_x + need, "growth happens on the node only");
                }
            }
            Op::Dequeue {
                preferred,
                use_reserve,
            } => {
                let m = &mut self.m;
                let expect_ok = if use_reserve {
                    m.resv > 0
                } else {
                    m.free > m.resv
                };
                let preferred_has_free = self.h.node_counters(preferred).free_huge_pages > 0;
                let got = self
                    .h
                    .dequeue_huge_page_nodemask(preferred, self.all, use_reserve);
                if expect_ok {
                    let nid = got.unwrap();
                    if preferred_has_free {
                        assert_eq!(nid, preferred);
                    }
                    assert!(self.free_list[nid] > 0);
                    self.free_list[nid] -= 1;
                    self.in_use.push(InUse {
                        nid,
                        restore_reserve: use_reserve,
                    });
                    m.free -= 1;
                    if use_reserve {
                        m.resv -= 1;
                    }
                } else {
                    let err = got.unwrap_err();
                    assert!(
                        matches!(err, HstateError::NoReservation | HstateError::NoFreePages),
                        "{err:?}"
                    );
                }
            }
            Op::AllocSurplus {
                nid,
                consume_reserve,
                alloc_ok,
            } => {
                let m = &mut self.m;
                let check = self.h.alloc_surplus_huge_page_check();
                assert_eq!(check.is_ok(), !gigantic && m.surplus < m.overcommit);
                if check.is_ok() && alloc_ok {
                    let got = self.h.alloc_surplus_huge_page_commit(nid, consume_reserve);
                    if consume_reserve && m.resv == 0 {
                        assert_eq!(got, Err(HstateError::NoReservation));
                    } else {
                        got.unwrap();
                        m.nr += 1;
                        m.surplus += 1;
                        if consume_reserve {
                            m.resv -= 1;
                        }
                        self.in_use.push(InUse {
                            nid,
                            restore_reserve: consume_reserve,
                        });
                    }
                }
            }
            Op::Free { index, restore } => {
                if self.in_use.is_empty() {
                    // Nothing in use: any free must be refused.
                    for nid in 0..self.nodes {
                        assert_eq!(
                            self.h.free_huge_page(nid, false),
                            Err(HstateError::NotInUse(nid))
                        );
                    }
                } else {
                    let page = self.in_use.swap_remove(index % self.in_use.len());
                    // A page that did not consume a reservation may still restore one
                    // (subpool minimum); only do that when one was consumed somewhere.
                    let restore = page.restore_reserve || restore;
                    let surplus_n = self.h.node_counters(page.nid).surplus_huge_pages;
                    let m = &mut self.m;
                    let action = self.h.free_huge_page(page.nid, restore).unwrap();
                    if restore {
                        m.resv += 1;
                    }
                    if !restore && surplus_n > 0 {
                        assert_eq!(action, FreeAction::ReturnToBuddy);
                        m.nr -= 1;
                        m.surplus -= 1;
                    } else {
                        assert_eq!(action, FreeAction::Enqueue);
                        m.free += 1;
                        self.free_list[page.nid] += 1;
                    }
                }
            }
            Op::Reserve { delta, ok_allocs } => {
                let m = &mut self.m;
                let needed = (m.resv + delta).saturating_sub(m.free);
                let can_alloc = if gigantic {
                    0
                } else {
                    ok_allocs.min(m.overcommit.saturating_sub(m.surplus))
                };
                let expect_ok = needed == 0 || can_alloc >= needed;
                if expect_ok {
                    m.resv += delta;
                    m.nr += needed;
                    m.free += needed;
                    m.surplus += needed;
                }
                let ok = self.drive_gather(delta, ok_allocs);
                assert_eq!(ok, expect_ok);
            }
            Op::Unreserve { delta } => {
                let delta = delta % (self.m.resv + 1);
                let removable: u64 = (0..self.nodes)
                    .map(|nid| {
                        let (_, free, surplus) = self.node(nid);
                        free.min(surplus)
                    })
                    .sum();
                let m = &mut self.m;
                let removed = delta.min(m.surplus).min(removable);
                m.resv -= delta;
                m.nr -= removed;
                m.free -= removed;
                m.surplus -= removed;
                let mut ret = self.h.return_unused_surplus_pages(delta).unwrap();
                let mut n = 0;
                while let Some(nid) = self.h.return_unused_surplus_next(&mut ret, self.all) {
                    assert!(self.free_list[nid] > 0);
                    self.free_list[nid] -= 1;
                    n += 1;
                }
                assert_eq!(n, removed);
            }
            Op::SetOvercommit { nr } => {
                let got = self.h.set_nr_overcommit_huge_pages(nr);
                if gigantic {
                    assert_eq!(got, Err(HstateError::GiganticNoOvercommit));
                } else {
                    got.unwrap();
                    self.m.overcommit = nr;
                    shrink_made_surplus = nr < self.m.surplus;
                }
            }
        }
        self.check(op, &before, shrink_made_surplus);
    }

    /// Drives `hugetlb_acct_memory(delta)` like the kernel; returns whether it succeeded.
    fn drive_gather(&mut self, delta: u64, ok_allocs: u64) -> bool {
        let mut g = Gather::new(delta);
        let mut private: Vec<usize> = Vec::new();
        let mut allocs = 0u64;
        loop {
            match self.h.gather_surplus_pages(&mut g).unwrap() {
                GatherStep::Allocate { nr_pages } => {
                    assert!(nr_pages > 0);
                    for _ in 0..nr_pages {
                        if allocs >= ok_allocs || self.h.alloc_surplus_huge_page_check().is_err() {
                            g.note_alloc_failure();
                            break;
                        }
                        let nid = usize::try_from(allocs).unwrap() % self.nodes;
                        allocs += 1;
                        self.h.gather_page_added(&mut g, nid).unwrap();
                        private.push(nid);
                    }
                }
                GatherStep::Commit { enqueue, release } => {
                    assert_eq!(enqueue + release, u64::try_from(private.len()).unwrap());
                    for (i, nid) in private.iter().copied().enumerate() {
                        if u64::try_from(i).unwrap() < enqueue {
                            self.h.enqueue_huge_page(nid).unwrap();
                            self.free_list[nid] += 1;
                        } else if self.h.free_huge_page(nid, false).unwrap() == FreeAction::Enqueue
                        {
                            self.free_list[nid] += 1;
                        }
                    }
                    return true;
                }
                GatherStep::Fail { release } => {
                    assert_eq!(release, u64::try_from(private.len()).unwrap());
                    for nid in private {
                        assert_eq!(
                            self.h.free_huge_page(nid, false),
                            Ok(FreeAction::ReturnToBuddy)
                        );
                    }
                    return false;
                }
            }
        }
    }

    fn check(&mut self, op: &Op, before: &Model, shrink_made_surplus: bool) {
        let c = self.h.counters();
        let got = Model {
            nr: c.nr_huge_pages,
            free: c.free_huge_pages,
            resv: c.resv_huge_pages,
            surplus: c.surplus_huge_pages,
            overcommit: c.nr_overcommit_huge_pages,
        };
        assert_eq!(got, self.m, "after {op:?} from {before:?}");
        self.h.check_invariants().unwrap();
        // The kernel's lists agree with the per-node counters.
        for nid in 0..self.nodes {
            let (nr, free, _) = self.node(nid);
            assert_eq!(free, self.free_list[nid], "node {nid} free list");
            let in_use = self.in_use.iter().filter(|p| p.nid == nid).count();
            assert_eq!(
                nr,
                free + u64::try_from(in_use).unwrap(),
                "node {nid} pages"
            );
        }
        for nid in self.nodes..rhugetlbfs_acct::hstate::MAX_NUMNODES {
            assert_eq!(self.node(nid), (0, 0, 0));
        }
        // Surplus above the overcommit limit only after a shrink or a lowering, and only
        // until it drains.
        if self.m.surplus > self.m.overcommit {
            self.excess_allowed = self.excess_allowed || shrink_made_surplus;
            assert!(self.excess_allowed, "surplus above overcommit after {op:?}");
            assert!(self.m.surplus <= before.surplus || shrink_made_surplus);
        } else {
            self.excess_allowed = false;
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn pool_matches_model(
        gigantic in prop::bool::weighted(0.25),
        (nodes, ops) in (1usize..=3).prop_flat_map(|n| (Just(n), prop::collection::vec(op_strategy(n), 1..120))),
    ) {
        let mut sim = Sim::new(if gigantic { 18 } else { 9 }, nodes);
        for op in &ops {
            sim.apply(op);
        }
        // Tear down like module unload: free everything, drop every reservation, shrink to 0.
        while let Some(page) = sim.in_use.pop() {
            let action = sim.h.free_huge_page(page.nid, page.restore_reserve).unwrap();
            if action == FreeAction::Enqueue {
                sim.free_list[page.nid] += 1;
            }
        }
        let resv = sim.h.resv_huge_pages();
        let mut ret = sim.h.return_unused_surplus_pages(resv).unwrap();
        while let Some(nid) = sim.h.return_unused_surplus_next(&mut ret, sim.all) {
            sim.free_list[nid] -= 1;
        }
        sim.drive_resize(ResizeTarget::Global(sim.all), 0, 0, None);
        while let Some(nid) = sim.h.drain_free_huge_page(sim.all) {
            sim.free_list[nid] -= 1;
        }
        sim.h.check_invariants().unwrap();
        let c = sim.h.counters();
        prop_assert_eq!((c.nr_huge_pages, c.free_huge_pages, c.resv_huge_pages, c.surplus_huge_pages), (0, 0, 0, 0));
        prop_assert!(sim.free_list.iter().all(|&n| n == 0));
    }
}
