// SPDX-License-Identifier: GPL-2.0

//! NUMA nodes, their zones, and the page-frame oracle of the 1 GiB candidate search.
//!
//! C header: [`include/linux/mmzone.h`](srctree/include/linux/mmzone.h)

use super::shim;
use crate::acct::gigantic::{PfnInfo, PfnOracle, PfnState};

/// The nodes that have memory (`node_states[N_MEMORY]`), one bit per node id.
pub(crate) fn memory_nodes() -> u64 {
    // SAFETY: Reads a word of a kernel-global nodemask; no preconditions.
    unsafe { shim::rhugetlbfs_memory_nodes() as u64 }
}

/// The node of the CPU the caller runs on (it may move right after).
pub(crate) fn local_node() -> usize {
    // SAFETY: Reads the per-CPU node id; no preconditions.
    let nid = unsafe { shim::rhugetlbfs_numa_node_id() };
    usize::try_from(nid).unwrap_or(0)
}

/// The `[start_pfn, end_pfn)` span of one populated zone.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ZoneSpan {
    /// The node.
    pub(crate) nid: u32,
    /// The zone index within the node (`ZONE_DMA32`, `ZONE_NORMAL`, ...).
    pub(crate) zone_idx: u32,
    /// First page frame.
    pub(crate) start_pfn: u64,
    /// One past the last page frame.
    pub(crate) end_pfn: u64,
}

/// The populated zones of node `nid`, lowest first; at most `MAX_NR_ZONES`.
pub(crate) fn zones(nid: u32) -> impl Iterator<Item = ZoneSpan> {
    // SAFETY: Returns a compile-time constant.
    let nr_zones = unsafe { shim::rhugetlbfs_nr_zones() };
    (0..nr_zones).filter_map(move |zone_idx| {
        let (mut start, mut end) = (0, 0);
        // SAFETY: The C helper validates `nid` and `zone_idx` and writes the two outputs only
        // on success; both point to locals.
        let ret = unsafe { shim::rhugetlbfs_zone_span(nid as i32, zone_idx, &mut start, &mut end) };
        (ret == 0).then_some(ZoneSpan {
            nid,
            zone_idx: zone_idx as u32,
            start_pfn: start as u64,
            end_pfn: end as u64,
        })
    })
}

/// The kernel's view of the page frames of one zone, for [`crate::acct::gigantic`].
pub(crate) struct ZoneOracle {
    span: ZoneSpan,
}

impl ZoneOracle {
    /// An oracle for the frames of `span`'s zone.
    pub(crate) fn new(span: ZoneSpan) -> Self {
        ZoneOracle { span }
    }
}

impl PfnOracle for ZoneOracle {
    fn pfn_info(&mut self, pfn: u64) -> PfnInfo {
        let mut nr: usize = 1;
        // SAFETY: The C helper accepts any pfn (it checks `pfn_to_online_page`), reads page
        // flags without locks (a hint, as upstream's `pfn_range_valid_contig`), and writes
        // `nr`, a local.
        let state = unsafe {
            shim::rhugetlbfs_pfn_info(
                pfn as usize,
                self.span.nid as i32,
                self.span.zone_idx as i32,
                &mut nr,
            )
        };
        let state = match state {
            0 => PfnState::Hole,
            1 => PfnState::OtherZone,
            2 => PfnState::Reserved,
            3 => PfnState::Huge,
            5 => PfnState::Free,
            6 => PfnState::Movable,
            _ => PfnState::Unmovable,
        };
        PfnInfo {
            state,
            nr_pages: nr as u64,
        }
    }
}
