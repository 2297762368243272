// SPDX-License-Identifier: GPL-2.0

//! rhugetlbfs: hugetlbfs rebuilt as a loadable module.
//!
//! The crate mirrors the split of `mm/hugetlb.c` and `fs/hugetlbfs/inode.c`:
//!
//! - [`acct`]: the accounting core (pool counters, reservation regions, subpool quotas,
//!   1 GiB candidate search, input parsing). Plain Rust with no kernel dependency; the same
//!   files are unit- and property-tested on the host (`module/core`).
//! - `kern`: the only place that touches `bindings::` and C structs: small safe wrappers
//!   with `# Invariants` docs.
//!
//! Load order is pools, then sysfs, then filesystem registration; unload runs in reverse.
//!
//! C header: [`include/linux/hugetlb.h`](srctree/include/linux/hugetlb.h)

use kernel::prelude::*;

mod acct;
mod shim;

module! {
    type: RHugetlbfs,
    name: "rhugetlbfs",
    author: "rhugetlbfs developers",
    description: "hugetlbfs as a loadable module: huge page pools, mounts and faults",
    license: "GPL",
}

/// The module's version, printed at load; kept equal to the workspace version (the host test
/// suite checks it).
const VERSION: &str = "0.1.0";

/// The loaded module.
struct RHugetlbfs;

impl kernel::Module for RHugetlbfs {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        pr_info!(
            "rhugetlbfs {} loaded (default huge page size {} kB)\n",
            VERSION,
            shim::default_hugepagesz_kb()
        );
        Ok(RHugetlbfs)
    }
}

impl Drop for RHugetlbfs {
    fn drop(&mut self) {
        pr_info!("rhugetlbfs {} unloaded\n", VERSION);
    }
}
