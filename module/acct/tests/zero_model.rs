// SPDX-License-Identifier: GPL-2.0

//! Property test: the free-page split against a model of real lists of pages whose bytes are
//! tracked. Random frees, fault takes, shrink takes, worker clears (complete or stopped),
//! measurements and policy flips; the rule checked at every take: a page the split says is
//! zeroed was cleared completely after it was last given back, and the counts match the
//! lists.

use proptest::prelude::*;
use rhugetlbfs_acct::zero::{FreeSplit, Pick, Want, ZeroPolicy};

const NODES: usize = 2;

#[derive(Clone, Debug)]
enum Op {
    /// A page given back (dirty) on node n.
    Free(usize),
    /// A caller counted out of node n's free pages takes one.
    Take(usize, bool),
    /// A worker of node n starts a clear.
    BeginClear(usize),
    /// A clear of node n (a worker's or a measure's) ends: complete, or stopped midway.
    EndClear(usize, bool),
    /// A measurement takes any page of node n to clear.
    Measure(usize),
    /// The policy flips.
    Policy(bool),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..NODES).prop_map(Op::Free),
        3 => (0..NODES, any::<bool>()).prop_map(|(n, z)| Op::Take(n, z)),
        2 => (0..NODES).prop_map(Op::BeginClear),
        2 => (0..NODES, any::<bool>()).prop_map(|(n, c)| Op::EndClear(n, c)),
        1 => (0..NODES).prop_map(Op::Measure),
        1 => any::<bool>().prop_map(Op::Policy),
    ]
}

/// A page: whether every byte is zero now.
#[derive(Clone, Copy, Debug)]
struct Page {
    zero: bool,
}

#[derive(Default)]
struct Node {
    dirty: Vec<Page>,
    zeroed: Vec<Page>,
    clearing: Vec<Page>,
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    #[test]
    fn zeroed_pages_are_zero_and_counts_match(ops in prop::collection::vec(op(), 1..200)) {
        let mut split = FreeSplit::new(ZeroPolicy::Background);
        let mut nodes: Vec<Node> = (0..NODES).map(|_| Node::default()).collect();
        for op in ops {
            match op {
                Op::Free(n) => {
                    // A user's page: its bytes are the user's.
                    split.added_dirty(n).unwrap();
                    nodes[n].dirty.push(Page { zero: false });
                }
                Op::Take(n, zeroed) => {
                    let node = &mut nodes[n];
                    let want = if zeroed { Want::Zeroed } else { Want::Any };
                    match split.pick(n, want) {
                        Ok(Pick::Zeroed) => {
                            prop_assert!(want != Want::Any || node.dirty.is_empty(),
                                "a shrink took a zeroed page while dirty ones were free");
                            let p = node.zeroed.pop().expect("zeroed list empty");
                            prop_assert!(p.zero, "a page taken as zeroed was not zero");
                        }
                        Ok(Pick::Dirty) => {
                            prop_assert!(want != Want::Zeroed || node.zeroed.is_empty(),
                                "a fault took a dirty page while zeroed ones were free");
                            node.dirty.pop().expect("dirty list empty");
                        }
                        Ok(Pick::Wait) => {
                            prop_assert!(node.dirty.is_empty() && node.zeroed.is_empty());
                            prop_assert!(!node.clearing.is_empty());
                        }
                        Err(_) => prop_assert!(node.dirty.is_empty() && node.zeroed.is_empty()
                            && node.clearing.is_empty()),
                    }
                }
                Op::BeginClear(n) => {
                    let background = split.policy() == ZeroPolicy::Background;
                    if split.begin_clear(n) {
                        prop_assert!(background);
                        let p = nodes[n].dirty.pop().expect("begin_clear without a dirty page");
                        nodes[n].clearing.push(p);
                    } else {
                        prop_assert!(!background || nodes[n].dirty.is_empty());
                    }
                }
                Op::EndClear(n, complete) => {
                    if let Some(mut p) = nodes[n].clearing.pop() {
                        // A stopped clear leaves some bytes as they were; a complete one
                        // zeroes a page whatever it held.
                        p.zero = complete || p.zero;
                        split.end_clear(n, complete).unwrap();
                        if complete {
                            nodes[n].zeroed.push(p)
                        } else {
                            nodes[n].dirty.push(p)
                        }
                    } else {
                        prop_assert!(split.end_clear(n, complete).is_err());
                    }
                }
                Op::Measure(n) => match split.begin_measure(n) {
                    Some(Pick::Dirty) => {
                        let p = nodes[n].dirty.pop().expect("dirty");
                        nodes[n].clearing.push(p);
                    }
                    Some(Pick::Zeroed) => {
                        prop_assert!(nodes[n].dirty.is_empty(), "a measure took a zeroed page first");
                        let p = nodes[n].zeroed.pop().expect("zeroed");
                        nodes[n].clearing.push(p);
                    }
                    Some(Pick::Wait) => prop_assert!(false, "a measure never waits"),
                    None => prop_assert!(nodes[n].dirty.is_empty() && nodes[n].zeroed.is_empty()),
                },
                Op::Policy(bg) => split.set_policy(if bg { ZeroPolicy::Background } else { ZeroPolicy::Fault }),
            }
            for (n, node) in nodes.iter().enumerate() {
                let s = split.node(n);
                prop_assert_eq!(s.dirty as usize, node.dirty.len());
                prop_assert_eq!(s.zeroed as usize, node.zeroed.len());
                prop_assert_eq!(s.clearing as usize, node.clearing.len());
            }
            prop_assert_eq!(split.zeroed() as usize, nodes.iter().map(|n| n.zeroed.len()).sum::<usize>());
        }
    }
}
