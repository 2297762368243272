// SPDX-License-Identifier: GPL-2.0

//! rhugetlbfs: hugetlbfs rebuilt as a loadable module.
//!
//! The crate mirrors the split of `mm/hugetlb.c` and `fs/hugetlbfs/inode.c`:
//!
//! - [`acct`]: the accounting core (pool counters, reservation regions, subpool quotas,
//!   1 GiB candidate search, input parsing). Plain Rust with no kernel dependency; the same
//!   files are unit- and property-tested on the host (`module/acct`, crate `rhugetlbfs-acct`).
//! - [`kern`]: the only place that touches `bindings::` and C structs: small safe wrappers
//!   with `# Invariants` docs.
//! - [`pool`] holds the per-size pools (upstream `struct hstate` and its free lists).
//! - [`sysfs`] builds `/sys/fs/rhugetlbfs`.
//!
//! - [`fs`] is the filesystem (`mount -t rhugetlbfs`), on the VFS and mm views of
//!   [`kern::vfs`] and [`kern::mm`].
//!
//! Load order is pools, then sysfs, the draining work, the zeroing workers, then the
//! filesystem type; unload runs in reverse (struct field order).
//!
//! C header: [`include/linux/hugetlb.h`](srctree/include/linux/hugetlb.h)

use kernel::prelude::*;
use kernel::sync::Arc;

mod acct;
mod fs;
mod kern;
mod pool;
mod sysfs;

use acct::hstate::ResizeTarget;
use pool::HugePool;

module! {
    type: RHugetlbfs,
    name: "rhugetlbfs",
    author: "rhugetlbfs developers",
    description: "hugetlbfs as a loadable module: huge page pools, mounts and faults",
    license: "GPL",
}

/// The module's version, printed at load; kept equal to the workspace version (the test
/// command checks it).
const VERSION: &str = "0.1.0";

/// The loaded module. Fields drop in order: the sysfs files go before the pools they show.
struct RHugetlbfs {
    _fs: kern::vfs::Registration<fs::RhFs>,
    _zero: kern::work::ZeroWorkers<pool::PoolSet>,
    _drain: kern::work::Drainer<pool::PoolSet>,
    _sysfs: sysfs::SysfsTree,
    _pools: KVec<Arc<HugePool>>,
}

impl kernel::Module for RHugetlbfs {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let default_kb = kern::params::default_hugepagesz_kb() as u64;
        let mut pools = KVec::new();
        for order in pool::ORDERS {
            pools.push(HugePool::new(order)?, GFP_KERNEL)?;
        }
        let Some(default) = pools.iter().position(|p| p.size_kb() == default_kb) else {
            pr_err!(
                "default_hugepagesz_kb={} is not a supported size (2048 or 1048576)\n",
                default_kb
            );
            return Err(EINVAL);
        };
        for p in pools.iter() {
            if p.is_gigantic() {
                p.set_pmd_mappable(kern::params::pmd_mappable_1g())?;
            }
            let want = kern::params::hugepages(p.order());
            if want > 0 {
                p.set_nr_hugepages(want, ResizeTarget::Global(p.nodes()))?;
                let got = p.counters().nr_huge_pages;
                if got < want {
                    pr_warn!(
                        "allocated {} of {} {} kB pages at load\n",
                        got,
                        want,
                        p.size_kb()
                    );
                }
            }
        }
        let shown = share(&pools)?;
        let sysfs = sysfs::SysfsTree::new(sysfs::Pools {
            pools: shown,
            default,
        })?;
        let fs_pools = share(&pools)?;
        let drain_pools = share(&pools)?;
        let drain = kern::work::Drainer::start(pool::PoolSet(drain_pools))?;
        let zero_pools = share(&pools)?;
        let zero = kern::work::ZeroWorkers::start(pool::PoolSet(zero_pools))?;
        let fs = kern::vfs::Registration::new(fs::FsGlobals::new(fs_pools, default)?)?;
        pr_info!(
            "rhugetlbfs {} loaded (default huge page size {} kB)\n",
            VERSION,
            default_kb
        );
        Ok(RHugetlbfs {
            _fs: fs,
            _zero: zero,
            _drain: drain,
            _sysfs: sysfs,
            _pools: pools,
        })
    }
}

/// Another handle on every pool, for one more owner (sysfs, the filesystem, the workers).
fn share(pools: &KVec<Arc<HugePool>>) -> Result<KVec<Arc<HugePool>>> {
    let mut v = KVec::with_capacity(pools.len(), GFP_KERNEL)?;
    for p in pools.iter() {
        v.push(p.clone(), GFP_KERNEL)?;
    }
    Ok(v)
}

impl Drop for RHugetlbfs {
    fn drop(&mut self) {
        pr_info!("rhugetlbfs {} unloaded\n", VERSION);
    }
}
