// SPDX-License-Identifier: GPL-2.0

//! Property test: any sequence of region_chg / region_add / region_abort / region_del /
//! region_count gives the same answers as a naive bitmap, including the out-of-memory
//! answers, which must leave the map unchanged.

use std::cell::Cell;
use std::rc::Rc;

use proptest::prelude::*;
use rhugetlbfs_acct::region::{
    FileRegion, FixedStore, RegionError, RegionStore, ResvMap, StoreAllocError,
};

/// Indices the test uses; `u64::MAX` is also used as "to the end".
const UNIVERSE: u64 = 64;

/// A `Vec` store whose growth can be refused or capped, counting `try_grow` calls; the
/// flags are shared so the test can flip them while the map owns the store.
#[derive(Debug, Default)]
struct TestStore {
    slots: Vec<FileRegion>,
    refuse: Rc<Cell<bool>>,
    limit: Option<usize>,
    grow_calls: Rc<Cell<usize>>,
}

impl RegionStore for TestStore {
    fn slots(&self) -> &[FileRegion] {
        &self.slots
    }
    fn slots_mut(&mut self) -> &mut [FileRegion] {
        &mut self.slots
    }
    fn try_grow(&mut self, min_slots: usize) -> Result<(), StoreAllocError> {
        self.grow_calls.set(self.grow_calls.get() + 1);
        if self.refuse.get() || self.limit.is_some_and(|l| min_slots > l) {
            return Err(StoreAllocError);
        }
        if self.slots.len() < min_slots {
            // Grow by more than asked, like a real vector, with junk in the new slots.
            let want = (min_slots + 2).min(self.limit.unwrap_or(usize::MAX));
            self.slots.resize(want, FileRegion { from: 99, to: 3 });
        }
        Ok(())
    }
}

#[derive(Clone, Debug)]
enum Op {
    Chg(u64, u64),
    /// Commit the n-th pending chg (modulo), with its own range.
    Add(usize),
    /// Commit the n-th pending chg with another range (racy callers may do that).
    AddOther(usize, u64, u64),
    Abort(usize),
    Del(u64, u64),
    DelToEnd(u64),
    Count(u64, u64),
    /// Toggle whether the store may grow.
    Refuse(bool),
}

fn range() -> impl Strategy<Value = (u64, u64)> {
    (0..=UNIVERSE, 0..=UNIVERSE).prop_map(|(a, b)| (a.min(b), a.max(b)))
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => range().prop_map(|(f, t)| Op::Chg(f, t)),
        3 => any::<usize>().prop_map(Op::Add),
        1 => (any::<usize>(), range()).prop_map(|(i, (f, t))| Op::AddOther(i, f, t)),
        1 => any::<usize>().prop_map(Op::Abort),
        3 => range().prop_map(|(f, t)| Op::Del(f, t)),
        1 => (0..=UNIVERSE).prop_map(Op::DelToEnd),
        2 => range().prop_map(|(f, t)| Op::Count(f, t)),
        1 => prop::bool::weighted(0.3).prop_map(Op::Refuse),
    ]
}

/// The naive model: one bit per index.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Bitmap(u64);

impl Bitmap {
    fn mask(f: u64, t: u64) -> u64 {
        let t = t.min(UNIVERSE);
        if f >= t {
            return 0;
        }
        let upper = if t == 64 { u64::MAX } else { (1u64 << t) - 1 };
        upper & !((1u64 << f) - 1)
    }
    fn count(self, f: u64, t: u64) -> u64 {
        (self.0 & Self::mask(f, t)).count_ones().into()
    }
    fn regions(self) -> Vec<FileRegion> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < UNIVERSE {
            if self.0 & (1 << i) != 0 {
                let from = i;
                while i < UNIVERSE && self.0 & (1 << i) != 0 {
                    i += 1;
                }
                out.push(FileRegion { from, to: i });
            } else {
                i += 1;
            }
        }
        out
    }
}

fn check_same(map: &ResvMap<impl RegionStore>, bits: Bitmap, pending: usize) {
    map.check_invariants().unwrap();
    assert_eq!(map.regions(), bits.regions().as_slice());
    assert_eq!(map.adds_in_progress(), pending);
    assert_eq!(map.total_pages(), bits.count(0, UNIVERSE));
}

/// Runs `ops` on a map over `store`, whose shared flags are `refuse` and `grow_calls`.
fn run(store: TestStore, ops: &[Op]) {
    let refuse = store.refuse.clone();
    let grow_calls = store.grow_calls.clone();
    let mut map = ResvMap::new(store);
    let mut bits = Bitmap::default();
    let mut pending: Vec<(u64, u64)> = Vec::new();
    for op in ops {
        let before = bits;
        let slots = map.store().slots().len();
        let used = map.nr_regions() + map.adds_in_progress();
        match *op {
            Op::Chg(f, t) => match map.region_chg(f, t) {
                Ok(chg) => {
                    assert_eq!(chg, (t - f) - bits.count(f, t));
                    pending.push((f, t));
                }
                Err(RegionError::NoMem { needed_slots }) => {
                    assert_eq!(needed_slots, used + 1);
                    assert!(slots < needed_slots, "NoMem with enough slots");
                }
                Err(e) => panic!("{e:?}"),
            },
            Op::Add(i) | Op::AddOther(i, _, _) => {
                if pending.is_empty() {
                    assert_eq!(map.region_add(0, 1), Err(RegionError::NoAddInProgress));
                } else {
                    let (f0, t0) = pending.remove(i % pending.len());
                    let (f, t) = match *op {
                        Op::AddOther(_, f, t) => (f, t),
                        _ => (f0, t0),
                    };
                    let calls = grow_calls.get();
                    let added = map.region_add(f, t).unwrap();
                    assert_eq!(grow_calls.get(), calls, "region_add allocated");
                    assert_eq!(added, (t - f) - bits.count(f, t));
                    bits.0 |= Bitmap::mask(f, t);
                }
            }
            Op::Abort(i) => {
                if pending.is_empty() {
                    assert_eq!(map.region_abort(), Err(RegionError::NoAddInProgress));
                } else {
                    pending.remove(i % pending.len());
                    map.region_abort().unwrap();
                }
            }
            Op::Del(f, t) => del(&mut map, &mut bits, f, t, slots, used),
            Op::DelToEnd(f) => del(&mut map, &mut bits, f, u64::MAX, slots, used),
            Op::Count(f, t) => {
                assert_eq!(map.region_count(f, t), bits.count(f, t));
                if f != t {
                    assert_eq!(map.region_count(t, f), 0);
                }
            }
            Op::Refuse(r) => refuse.set(r),
        }
        check_same(&map, bits, pending.len());
        if bits != before {
            assert!(matches!(
                op,
                Op::Add(..) | Op::AddOther(..) | Op::Del(..) | Op::DelToEnd(..)
            ));
        }
    }
    // Finish the pending adds: they cannot fail even if the store refuses to grow.
    refuse.set(true);
    while let Some((f, t)) = pending.pop() {
        assert_eq!(map.region_add(f, t).unwrap(), (t - f) - bits.count(f, t));
        bits.0 |= Bitmap::mask(f, t);
    }
    check_same(&map, bits, 0);
    assert_eq!(
        map.region_del(0, u64::MAX).unwrap(),
        bits.count(0, UNIVERSE)
    );
    assert_eq!(map.nr_regions(), 0);
}

fn del(map: &mut ResvMap<TestStore>, bits: &mut Bitmap, f: u64, t: u64, slots: usize, used: usize) {
    let splits = map.regions().iter().any(|rg| rg.from < f && t < rg.to);
    match map.region_del(f, t) {
        Ok(deleted) => {
            assert_eq!(deleted, bits.count(f, t));
            bits.0 &= !Bitmap::mask(f, t);
        }
        Err(RegionError::NoMem { needed_slots }) => {
            assert!(splits, "NoMem without a split");
            assert_ne!(t, u64::MAX);
            assert_eq!(needed_slots, used + 1);
            assert!(slots < needed_slots);
        }
        Err(e) => panic!("{e:?}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    /// Growth always allowed, unless a `Refuse(true)` op says otherwise.
    #[test]
    fn matches_bitmap(ops in prop::collection::vec(op(), 1..120)) {
        run(TestStore::default(), &ops);
    }

    /// A store capped at a few slots, like `FixedStore`: chg and split-del hit `NoMem`.
    #[test]
    fn capped_store_matches_bitmap(
        cap in 0usize..6,
        ops in prop::collection::vec(op(), 1..120),
    ) {
        run(TestStore { limit: Some(cap), ..TestStore::default() }, &ops);
    }
}

#[test]
fn fixed_store_cap() {
    let mut map = ResvMap::new(FixedStore::<3>::new());
    for i in 0..3u64 {
        assert_eq!(map.region_chg(i * 2, i * 2 + 1), Ok(1));
        assert_eq!(map.region_add(i * 2, i * 2 + 1), Ok(1));
    }
    assert_eq!(
        map.region_chg(10, 11),
        Err(RegionError::NoMem { needed_slots: 4 })
    );
    // Filling the gaps merges everything into one region, freeing slots.
    assert_eq!(map.region_del(0, 6), Ok(3));
    assert_eq!(map.region_chg(0, 6), Ok(6));
    assert_eq!(map.region_add(0, 6), Ok(6));
    assert_eq!(map.region_del(2, 3), Ok(1));
    assert_eq!(
        map.regions(),
        [FileRegion { from: 0, to: 2 }, FileRegion { from: 3, to: 6 }]
    );
}

/// The spinlock retry path: on every `NoMem`, build a bigger store "outside the lock" and
/// hand it over with `replace_store`.
#[test]
fn retry_with_replaced_store() {
    let refuse = Rc::new(Cell::new(true));
    let mut map = ResvMap::new(TestStore {
        refuse: refuse.clone(),
        ..TestStore::default()
    });
    let mut bits = Bitmap::default();
    for i in 0..20u64 {
        let (f, t) = (i * 3, i * 3 + 1);
        let chg = loop {
            match map.region_chg(f, t) {
                Ok(chg) => break chg,
                Err(RegionError::NoMem { needed_slots }) => {
                    let new = TestStore {
                        slots: vec![FileRegion::default(); needed_slots],
                        refuse: refuse.clone(),
                        ..TestStore::default()
                    };
                    let old = map.replace_store(new).unwrap();
                    drop(old);
                }
                Err(e) => panic!("{e:?}"),
            }
        };
        assert_eq!(chg, 1);
        assert_eq!(map.region_add(f, t).unwrap(), 1);
        bits.0 |= Bitmap::mask(f, t);
    }
    check_same(&map, bits, 0);
}
