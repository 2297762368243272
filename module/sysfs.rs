// SPDX-License-Identifier: GPL-2.0

//! The `/sys/fs/rhugetlbfs` tree, laid out like `/sys/kernel/mm/hugepages` and
//! `/sys/devices/system/node/nodeN/hugepages` so existing habits carry over:
//!
//! ```text
//! /sys/fs/rhugetlbfs/meminfo
//! /sys/fs/rhugetlbfs/hugepages/hugepages-<size>kB/{nr_hugepages, nr_overcommit_hugepages,
//!     free_hugepages, resv_hugepages, surplus_hugepages, draining_hugepages, stats,
//!     pmd_mappable, zero_policy, zeroed_hugepages, clear_method, clear_speed}
//! /sys/fs/rhugetlbfs/node/node<N>/hugepages/hugepages-<size>kB/{nr_hugepages,
//!     free_hugepages, surplus_hugepages, zeroed_hugepages}
//! ```
//!
//! `stats` holds what the kernel does not report (one `name value` per line; see the
//! README). Writes parse strictly: anything but a decimal number (optionally followed by
//! one newline) is `EINVAL` and changes nothing.

use crate::acct::hstate::ResizeTarget;
use crate::acct::parse;
use crate::acct::zero::{ClearMethod, ZeroPolicy};
use crate::kern::kobject::{attr_table, AttrDir, AttrOps, Dir, FsKobj, ShowBuf};
use crate::pool::HugePool;
use core::fmt::Write;
use kernel::c_str;
use kernel::fmt;
use kernel::prelude::*;
use kernel::str::CString;
use kernel::sync::Arc;

/// The pools, in the order of [`crate::pool::ORDERS`], and which one is the default size.
pub(crate) struct Pools {
    pub(crate) pools: KVec<Arc<HugePool>>,
    pub(crate) default: usize,
}

/// Parses a sysfs number write: EINVAL, or ERANGE for a number past 64 bits, as the kernel's
/// `kstrtoul` gives hugetlb's files.
fn parse_count(input: &[u8]) -> Result<u64> {
    parse::kstrtoul(input).map_err(|e| match e {
        parse::ParseError::Overflow => ERANGE,
        _ => EINVAL,
    })
}

/// `hugepages-<size>kB/` under `hugepages/`.
struct HstateAttrs {
    pool: Arc<HugePool>,
}

attr_table!(
    HSTATE_ATTRS,
    [
        (c_str!("nr_hugepages"), 0o644),
        (c_str!("nr_overcommit_hugepages"), 0o644),
        (c_str!("free_hugepages"), 0o444),
        (c_str!("resv_hugepages"), 0o444),
        (c_str!("surplus_hugepages"), 0o444),
        (c_str!("stats"), 0o444),
        (c_str!("draining_hugepages"), 0o444),
        (c_str!("pmd_mappable"), 0o644),
        (c_str!("zero_policy"), 0o644),
        (c_str!("zeroed_hugepages"), 0o444),
        (c_str!("clear_method"), 0o644),
        (c_str!("clear_speed"), 0o644),
    ]
);

impl AttrOps for HstateAttrs {
    const TABLE: &'static crate::kern::kobject::AttrTable = &HSTATE_ATTRS;

    fn show(&self, idx: usize, out: &mut ShowBuf) -> Result {
        // Counters are shown current: pages whose other holders are gone are given back.
        self.pool.drain();
        if idx == 5 {
            return show_stats(&self.pool, out);
        }
        if idx == 6 {
            return writeln!(out, "{}", self.pool.draining()).map_err(|_| EINVAL);
        }
        if idx == 7 {
            return writeln!(out, "{}", u8::from(self.pool.pmd_mappable())).map_err(|_| EINVAL);
        }
        match idx {
            8 => return writeln!(out, "{}", self.pool.zero_policy().name()).map_err(|_| EINVAL),
            9 => return writeln!(out, "{}", self.pool.zeroed_pages(None)).map_err(|_| EINVAL),
            10 => return writeln!(out, "{}", self.pool.clear_method().name()).map_err(|_| EINVAL),
            11 => return show_clear_speed(&self.pool, out),
            _ => {}
        }
        let c = self.pool.counters();
        let v = match idx {
            0 => c.nr_huge_pages,
            1 => c.nr_overcommit_huge_pages,
            2 => c.free_huge_pages,
            3 => c.resv_huge_pages,
            _ => c.surplus_huge_pages,
        };
        writeln!(out, "{v}").map_err(|_| EINVAL)
    }

    fn store(&self, idx: usize, input: &[u8]) -> Result {
        match idx {
            8 => {
                let policy = ZeroPolicy::parse(input).ok_or(EINVAL)?;
                self.pool.set_zero_policy(policy);
                return Ok(());
            }
            10 => {
                let method = ClearMethod::parse(input).ok_or(EINVAL)?;
                self.pool.set_clear_method(method);
                return Ok(());
            }
            _ => {}
        }
        let n = parse_count(input)?;
        match idx {
            11 if n == 1 => self.pool.measure_clear(),
            11 => Err(EINVAL),
            0 => self
                .pool
                .set_nr_hugepages(n, ResizeTarget::Global(self.pool.nodes())),
            1 => self.pool.set_nr_overcommit(n),
            7 => match n {
                0 | 1 => self.pool.set_pmd_mappable(n == 1),
                _ => Err(EINVAL),
            },
            _ => Err(EACCES),
        }
    }
}

/// `hugepages-<size>kB/` under `node/node<N>/hugepages/`.
struct NodeAttrs {
    pool: Arc<HugePool>,
    nid: usize,
}

attr_table!(
    NODE_ATTRS,
    [
        (c_str!("nr_hugepages"), 0o644),
        (c_str!("free_hugepages"), 0o444),
        (c_str!("surplus_hugepages"), 0o444),
        (c_str!("zeroed_hugepages"), 0o444),
    ]
);

impl AttrOps for NodeAttrs {
    const TABLE: &'static crate::kern::kobject::AttrTable = &NODE_ATTRS;

    fn show(&self, idx: usize, out: &mut ShowBuf) -> Result {
        self.pool.drain();
        let c = self.pool.node_counters(self.nid);
        let v = match idx {
            0 => c.nr_huge_pages,
            1 => c.free_huge_pages,
            2 => c.surplus_huge_pages,
            _ => self.pool.zeroed_pages(Some(self.nid)),
        };
        writeln!(out, "{v}").map_err(|_| EINVAL)
    }

    fn store(&self, idx: usize, input: &[u8]) -> Result {
        let n = parse_count(input)?;
        match idx {
            0 => self.pool.set_nr_hugepages(n, ResizeTarget::Node(self.nid)),
            _ => Err(EACCES),
        }
    }
}

/// `/sys/fs/rhugetlbfs` itself: `meminfo`.
struct RootAttrs {
    pools: Pools,
}

attr_table!(ROOT_ATTRS, [(c_str!("meminfo"), 0o444)]);

impl AttrOps for RootAttrs {
    const TABLE: &'static crate::kern::kobject::AttrTable = &ROOT_ATTRS;

    fn show(&self, _idx: usize, out: &mut ShowBuf) -> Result {
        show_meminfo(&self.pools, out).map_err(|_| EINVAL)
    }

    fn store(&self, _idx: usize, _input: &[u8]) -> Result {
        Err(EACCES)
    }
}

/// `/proc/meminfo`'s hugetlb block for the default size, then every size, then per node.
fn show_meminfo(p: &Pools, out: &mut ShowBuf) -> core::fmt::Result {
    for pool in p.pools.iter() {
        pool.drain();
    }
    let mut hugetlb_kb = 0u64;
    for pool in p.pools.iter() {
        hugetlb_kb = hugetlb_kb.saturating_add(pool.counters().nr_huge_pages * pool.size_kb());
    }
    if let Some(def) = p.pools.get(p.default) {
        let c = def.counters();
        writeln!(out, "HugePages_Total: {:>8}", c.nr_huge_pages)?;
        writeln!(out, "HugePages_Free:  {:>8}", c.free_huge_pages)?;
        writeln!(out, "HugePages_Rsvd:  {:>8}", c.resv_huge_pages)?;
        writeln!(out, "HugePages_Surp:  {:>8}", c.surplus_huge_pages)?;
        writeln!(out, "Hugepagesize:    {:>8} kB", def.size_kb())?;
    }
    writeln!(out, "Hugetlb:         {:>8} kB", hugetlb_kb)?;
    for pool in p.pools.iter() {
        let c = pool.counters();
        let kb = pool.size_kb();
        writeln!(out)?;
        writeln!(
            out,
            "hugepages-{kb}kB HugePages_Total: {:>8}",
            c.nr_huge_pages
        )?;
        writeln!(
            out,
            "hugepages-{kb}kB HugePages_Free:  {:>8}",
            c.free_huge_pages
        )?;
        writeln!(
            out,
            "hugepages-{kb}kB HugePages_Rsvd:  {:>8}",
            c.resv_huge_pages
        )?;
        writeln!(
            out,
            "hugepages-{kb}kB HugePages_Surp:  {:>8}",
            c.surplus_huge_pages
        )?;
        for nid in pool.nodes().iter() {
            let n = pool.node_counters(nid);
            writeln!(
                out,
                "hugepages-{kb}kB Node {nid} HugePages_Total: {:>8}",
                n.nr_huge_pages
            )?;
            writeln!(
                out,
                "hugepages-{kb}kB Node {nid} HugePages_Free:  {:>8}",
                n.free_huge_pages
            )?;
            writeln!(
                out,
                "hugepages-{kb}kB Node {nid} HugePages_Surp:  {:>8}",
                n.surplus_huge_pages
            )?;
        }
    }
    if let Some(def) = p.pools.get(p.default) {
        writeln!(out)?;
        for nid in def.nodes().iter() {
            let n = def.node_counters(nid);
            writeln!(out, "Node {nid} HugePages_Total: {:>8}", n.nr_huge_pages)?;
            writeln!(out, "Node {nid} HugePages_Free:  {:>8}", n.free_huge_pages)?;
            writeln!(
                out,
                "Node {nid} HugePages_Surp:  {:>8}",
                n.surplus_huge_pages
            )?;
        }
    }
    Ok(())
}

/// The `clear_speed` file: MB/s of each method as last measured (0: not yet), then what
/// the configured method stands for on the fault path and in the background.
fn show_clear_speed(pool: &HugePool, out: &mut ShowBuf) -> Result {
    let r = pool.clear_report();
    (|| -> core::fmt::Result {
        writeln!(out, "page {}", r.speeds.page)?;
        writeln!(out, "erms {}", r.speeds.erms)?;
        writeln!(out, "nt {}", r.speeds.nt)?;
        writeln!(out, "fault {}", r.fault.name())?;
        writeln!(out, "background {}", r.background.name())
    })()
    .map_err(|_| EINVAL)
}

/// The `stats` file: one `name value` per line.
fn show_stats(pool: &HugePool, out: &mut ShowBuf) -> Result {
    let snap = pool.stats.snapshot();
    for (name, value) in snap.entries() {
        writeln!(out, "{name} {value}").map_err(|_| EINVAL)?;
    }
    writeln!(out, "draining_hugepages {}", pool.draining()).map_err(|_| EINVAL)
}

/// The whole tree. Dropping it removes it, children first (field order).
pub(crate) struct SysfsTree {
    _node_hstates: KVec<AttrDir<NodeAttrs>>,
    _node_hugepages: KVec<Dir>,
    _node_dirs: KVec<Dir>,
    _node: Dir,
    _hstates: KVec<AttrDir<HstateAttrs>>,
    _hugepages: Dir,
    _root: AttrDir<RootAttrs>,
}

impl SysfsTree {
    /// Creates `/sys/fs/rhugetlbfs` for `pools`.
    pub(crate) fn new(pools: Pools) -> Result<Self> {
        let list: KVec<Arc<HugePool>> = {
            let mut v = KVec::new();
            for p in pools.pools.iter() {
                v.push(p.clone(), GFP_KERNEL)?;
            }
            v
        };
        let nodes = list.first().map(|p| p.nodes()).ok_or(EINVAL)?;
        let root = AttrDir::new(c_str!("rhugetlbfs"), &FsKobj, RootAttrs { pools })?;
        let hugepages = Dir::new(c_str!("hugepages"), &root)?;
        let mut hstates = KVec::new();
        for pool in list.iter() {
            let name = CString::try_from_fmt(fmt!("hugepages-{}kB", pool.size_kb()))?;
            let dir = AttrDir::new(&name, &hugepages, HstateAttrs { pool: pool.clone() })?;
            hstates.push(dir, GFP_KERNEL)?;
        }
        let node = Dir::new(c_str!("node"), &root)?;
        let (mut node_dirs, mut node_hugepages, mut node_hstates) =
            (KVec::new(), KVec::new(), KVec::new());
        for nid in nodes.iter() {
            let name = CString::try_from_fmt(fmt!("node{}", nid))?;
            let nd = Dir::new(&name, &node)?;
            let hp = Dir::new(c_str!("hugepages"), &nd)?;
            for pool in list.iter() {
                let name = CString::try_from_fmt(fmt!("hugepages-{}kB", pool.size_kb()))?;
                let data = NodeAttrs {
                    pool: pool.clone(),
                    nid,
                };
                node_hstates.push(AttrDir::new(&name, &hp, data)?, GFP_KERNEL)?;
            }
            node_dirs.push(nd, GFP_KERNEL)?;
            node_hugepages.push(hp, GFP_KERNEL)?;
        }
        Ok(SysfsTree {
            _node_hstates: node_hstates,
            _node_hugepages: node_hugepages,
            _node_dirs: node_dirs,
            _node: node,
            _hstates: hstates,
            _hugepages: hugepages,
            _root: root,
        })
    }
}
