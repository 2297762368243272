// SPDX-License-Identifier: GPL-2.0

//! Property test: random get/put/failed-get sequences keep the subpool invariants and the global
//! reservation balance (`G == U + rsv_hpages`), and fail exactly when the maximum says so.

use proptest::prelude::*;
use rhugetlbfs_acct::subpool::{Subpool, SubpoolError};

#[derive(Clone, Debug)]
enum Op {
    Get(u64),
    /// Put back `n` modulo the pages held, plus one.
    Put(u64),
    /// A get of `n` whose global charge the pool refuses, undone.
    FailedGet(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u64..12).prop_map(Op::Get),
        (0u64..12).prop_map(Op::Put),
        (0u64..12).prop_map(Op::FailedGet),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    #[test]
    fn subpool_keeps_its_balance(
        max in prop::option::of(0u64..30),
        min in prop::option::of(0u64..30),
        ops in prop::collection::vec(op(), 1..100),
    ) {
        let mut sp = match Subpool::new(max, min) {
            Ok(sp) => sp,
            Err(e) => {
                prop_assert_eq!(e, SubpoolError::MinAboveMax);
                prop_assert!(matches!((max, min), (Some(a), Some(b)) if b > a));
                return Ok(());
            }
        };
        // U: pages the mount holds; G: global reservations taken on its behalf.
        let mut held = 0u64;
        let mut global = sp.min_reserve();
        for op in ops {
            match op {
                Op::Get(n) => {
                    let over = max.is_some_and(|m| held + n > m);
                    match sp.hugepage_subpool_get_pages(n) {
                        Ok(charge) => {
                            prop_assert!(!over);
                            prop_assert!(charge <= n);
                            held += n;
                            global += charge;
                        }
                        Err(e) => {
                            prop_assert!(over);
                            prop_assert_eq!(e, SubpoolError::NoMem);
                        }
                    }
                }
                Op::FailedGet(n) => {
                    // Nothing changes: neither the subpool nor the global reservations.
                    let before = sp;
                    if let Ok(charge) = sp.hugepage_subpool_get_pages(n) {
                        sp.hugepage_subpool_undo_get(n, charge);
                    }
                    prop_assert_eq!(sp, before);
                }
                Op::Put(n) => {
                    let n = n % (held + 1);
                    let credit = sp.hugepage_subpool_put_pages(n).unwrap();
                    prop_assert!(credit <= n);
                    held -= n;
                    global -= credit;
                }
            }
            let min_pages = min.unwrap_or(0);
            prop_assert_eq!(global, held + sp.rsv_hpages());
            prop_assert!(sp.rsv_hpages() <= min_pages);
            prop_assert!(held + sp.rsv_hpages() >= min_pages);
            if let Some(m) = max {
                prop_assert_eq!(sp.used_hpages(), held);
                prop_assert!(held <= m);
                prop_assert_eq!(sp.statfs().bfree, m - held);
            } else {
                prop_assert_eq!(sp.used_hpages(), 0);
            }
        }
        // Unmount: once everything is back, only the minimum is still reserved.
        let credit = sp.hugepage_subpool_put_pages(held).unwrap();
        global -= credit;
        prop_assert!(sp.is_free());
        prop_assert_eq!(global, sp.min_reserve());
        // More than held is refused when the maximum counts pages.
        if max.is_some() {
            prop_assert_eq!(sp.hugepage_subpool_put_pages(1), Err(SubpoolError::Underflow));
        }
    }
}
