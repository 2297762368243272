// SPDX-License-Identifier: GPL-2.0

//! Property test: the gigantic candidate search, with run-length hints, budgets and a resume
//! point, hands out exactly the candidates a naive per-PFN filter accepts, in wrap-around
//! order, and counts rejections by the same reasons.

use proptest::prelude::*;
use rhugetlbfs_acct::gigantic::{
    ContigOutcome, GiganticScan, PfnInfo, PfnOracle, PfnState, RecentFailures, RejectReason,
    ScanStep, RECENT_FAILURES,
};

const STATES: [PfnState; 7] = [
    PfnState::Hole,
    PfnState::OtherZone,
    PfnState::Reserved,
    PfnState::Huge,
    PfnState::Unmovable,
    PfnState::Free,
    PfnState::Movable,
];

struct Map {
    states: Vec<PfnState>,
    runs: bool,
    lookups: u64,
}

impl PfnOracle for Map {
    fn pfn_info(&mut self, pfn: u64) -> PfnInfo {
        self.lookups += 1;
        let i = usize::try_from(pfn).unwrap();
        let Some(&state) = self.states.get(i) else {
            return PfnInfo::single(PfnState::Hole);
        };
        let nr_pages = if self.runs {
            self.states[i..].iter().take_while(|&&s| s == state).count() as u64
        } else {
            1
        };
        PfnInfo { state, nr_pages }
    }
}

/// Memory as runs of states (so that long runs and whole good ranges occur).
fn memory() -> impl Strategy<Value = Vec<PfnState>> {
    prop::collection::vec(
        (
            prop::sample::select(STATES.to_vec()),
            1usize..80,
            prop::bool::weighted(0.7),
        ),
        1..40,
    )
    .prop_map(|runs| {
        let mut out = Vec::new();
        for (state, len, good) in runs {
            let state = if good { PfnState::Free } else { state };
            out.extend(std::iter::repeat_n(state, len));
        }
        out
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn scan_matches_naive_filter(
        states in memory(),
        order in 2u32..6,
        start in 0u64..64,
        len in 0u64..2000,
        resume in 0u64..2100,
        budget in 1u64..50,
        runs in any::<bool>(),
    ) {
        let end = start + len;
        let nr = 1u64 << order;
        // Naive: every aligned range inside [start, end), first bad pfn decides.
        let first = start.div_ceil(nr) * nr;
        let mut all = Vec::new();
        let mut c = first;
        while c + nr <= end {
            let bad = (c..c + nr).find_map(|pfn| {
                states.get(pfn as usize).copied().unwrap_or(PfnState::Hole).reject_reason()
            });
            all.push((c, bad));
            c += nr;
        }
        let k = all.len();
        let start_index = if resume >= first && ((resume - first) / nr) < k as u64 {
            ((resume - first) / nr) as usize
        } else {
            0
        };
        let order_visited: Vec<_> = (0..k).map(|i| all[(start_index + i) % k]).collect();
        let expected: Vec<u64> = order_visited.iter().filter(|(_, bad)| bad.is_none()).map(|(c, _)| *c).collect();
        let mut expected_rejects = [0u64; RejectReason::COUNT];
        for (_, bad) in &order_visited {
            if let Some(reason) = bad {
                expected_rejects[reason.index()] += 1;
            }
        }

        let mut map = Map { states, runs, lookups: 0 };
        let mut scan = GiganticScan::new(start, end, order, resume).unwrap();
        prop_assert_eq!(scan.nr_candidates(), k as u64);
        let mut recent = RecentFailures::new(u64::MAX);
        let mut got = Vec::new();
        let mut steps = 0;
        loop {
            steps += 1;
            prop_assert!(steps < 100_000);
            match scan.next_candidate(&mut map, &RecentFailures::new(0), 0, budget) {
                ScanStep::Candidate(r) => {
                    prop_assert_eq!(r.nr_pages, nr);
                    prop_assert!(r.start_pfn >= start && r.end_pfn() <= end);
                    prop_assert_eq!(r.start_pfn % nr, 0);
                    got.push(r.start_pfn);
                    scan.report(r, ContigOutcome::MigrationFailed, &mut recent, 0).unwrap();
                }
                ScanStep::Yield => {}
                ScanStep::Exhausted => break,
            }
        }
        prop_assert_eq!(&got, &expected);
        let counters = *scan.counters();
        prop_assert_eq!(counters.candidates_scanned, k as u64);
        prop_assert_eq!(counters.rejected, expected_rejects);
        prop_assert_eq!(counters.migration_failures, expected.len() as u64);
        prop_assert_eq!(counters.pfn_lookups, map.lookups);
        // Never more lookups than the naive walk (one per pfn of each candidate).
        prop_assert!(map.lookups <= k as u64 * nr);
        // A second scan skips the ranges that just failed, as far as the cache remembers
        // them (the newest RECENT_FAILURES ones).
        let remembered = expected.len().min(RECENT_FAILURES);
        let retried_expected = &expected[..expected.len() - remembered];
        let mut again = GiganticScan::new(start, end, order, resume).unwrap();
        let mut retried = Vec::new();
        loop {
            match again.next_candidate(&mut map, &recent, 1, u64::MAX) {
                ScanStep::Candidate(r) => {
                    retried.push(r.start_pfn);
                    again.report(r, ContigOutcome::OtherError, &mut recent, 1).unwrap();
                }
                ScanStep::Yield => prop_assert!(false),
                ScanStep::Exhausted => break,
            }
        }
        prop_assert_eq!(retried.as_slice(), retried_expected);
        prop_assert_eq!(
            again.counters().rejected[RejectReason::RecentFailure.index()],
            remembered as u64
        );
    }
}
