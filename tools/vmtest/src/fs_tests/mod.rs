//! The rhugetlbfs filesystem: mounts, options, statfs, namespace (issue 4), shared and
//! private mappings, faults, truncation and fallocate.
//!
//! Every test mounts on a fresh module and checks, once everything is unmounted, that no
//! page is reserved and every pool page is free.

mod faults;
mod mmap;
mod mount;
mod namespace;
mod private;
mod truncate;

use crate::harness::{Suite, TestResult};
use crate::map::Map;
use crate::os::{mount_fs, umount};
use crate::sys::{self, counter, set_nr, SIZES};
use anyhow::{ensure, Context, Result};
use rustix::io::Errno;
use rustix::mm::MapFlags;

pub fn register(s: &mut Suite) {
    s.add("fs_private_fork_cow_1g", private::fork_1g);
    s.add("fs_mount_defaults_and_proc_mounts", mount::defaults);
    s.add("fs_mount_every_option", mount::every_option);
    s.add("fs_mount_bad_options_einval", mount::bad_options);
    s.add("fs_statfs_fields", mount::statfs_fields);
    s.add("fs_min_size_reserved_at_mount", mount::min_size_reserve);
    s.add("fs_min_size_enomem_when_pool_short", mount::min_size_enomem);
    s.add("fs_nr_inodes_limit", mount::nr_inodes_limit);
    s.add("fs_namespace_ops", namespace::namespace_ops);
    s.add(
        "fs_pool_shrink_below_in_use_becomes_surplus",
        mmap::shrink_below_in_use,
    );
    s.add("fs_write_einval_read_holes_zero", namespace::write_read);
    s.add("fs_truncate_must_be_aligned", namespace::truncate_aligned);
    s.add("fs_permissions_enforced", namespace::permissions);
    s.add("fs_unload_refused_while_mounted", mount::unload_refused);
    s.add(
        "fs_mmap_shared_two_processes_and_read",
        mmap::shared_two_processes,
    );
    s.add(
        "fs_sigbus_past_eof_and_after_truncate",
        mmap::sigbus_eof_truncate,
    );
    s.add("fs_mmap_enomem_when_pool_short", mmap::mmap_enomem);
    s.add(
        "fs_noreserve_sigbus_when_pool_empty_surplus_with_overcommit",
        mmap::noreserve_sigbus,
    );
    s.add("fs_size_quota_enomem_at_mmap", mmap::size_quota);
    s.add("fs_min_size_covers_mapping", mmap::min_size_covers_mapping);
    s.add("fs_unaligned_mmap_munmap_mprotect", mmap::unaligned);
    s.add(
        "fs_private_readonly_sees_file_stays_readonly",
        private::readonly,
    );
    s.add(
        "fs_private_cow_isolation_both_directions",
        private::isolation,
    );
    s.add("fs_private_fork_cow_2m", private::fork_2m);
    s.add(
        "fs_private_reservations_owner_munmap",
        private::reservations,
    );
    s.add(
        "fs_private_mprotect_and_mremap_keep_pages",
        private::mprotect_mremap,
    );
    s.add(
        "fs_thp_never_or_disabled_still_huge_entries",
        faults::thp_never,
    );
    s.add("fs_recycled_pages_read_zero", faults::recycled_zero);
    s.add("fs_fault_counters_and_smaps_2m", faults::counters_smaps_2m);
    s.add("fs_gigantic_mapping_1g", faults::gigantic_1g);
    s.add("fs_fallocate_prealloc_punch_counters", truncate::fallocate);
    s.add("fs_stress_faults_truncate_resize", truncate::stress);
    s.add("fs_umount_rmmod_restore_memory", mount::umount_rmmod_memory);
}

/// Where the tests mount.
const MNT: &str = "/tmp/rhfs";
const MB2: usize = 2 << 20;

/// Mounts rhugetlbfs at `dir` (made if missing) with `opts`; Err(errno).
fn mount_at(dir: &str, opts: &str) -> Result<(), Errno> {
    let _ = std::fs::create_dir_all(dir);
    mount_fs("rhugetlbfs", dir, opts)
}

/// Mounts rhugetlbfs at MNT with `opts`.
fn mount(opts: &str) -> TestResult {
    mount_at(MNT, opts).with_context(|| format!("mount -o {opts:?}"))
}

/// The module loaded fresh with `pages` 2 MiB pages; on drop everything is unmounted and
/// the pool emptied.
struct Fresh;

impl Fresh {
    fn new(pages: u64) -> Result<Self> {
        let _ = umount(MNT);
        sys::ensure_unloaded()?;
        sys::insmod(&[])?;
        sys::pool_2m(pages)?;
        Ok(Fresh)
    }

    /// Unmounts and checks the invariant: all pages free, nothing reserved.
    fn finish(self) -> TestResult {
        let _ = umount(MNT);
        for kb in SIZES {
            let (nr, free, resv) = (
                counter(kb, "nr_hugepages")?,
                counter(kb, "free_hugepages")?,
                counter(kb, "resv_hugepages")?,
            );
            ensure!(
                free == nr && resv == 0,
                "{kb}kB after unmount: nr {nr} free {free} resv {resv}"
            );
        }
        Ok(())
    }
}

impl Drop for Fresh {
    fn drop(&mut self) {
        let _ = umount(MNT);
        for kb in SIZES {
            let _ = set_nr(kb, 0);
        }
    }
}

/// statfs(2) of `dir`.
fn statfs(dir: &str) -> Result<rustix::fs::StatFs> {
    rustix::fs::statfs(dir).with_context(|| format!("statfs {dir}"))
}

/// A read-write mapping of the first `len` bytes of `path` (created if needed, its size
/// left as it is).
fn map_ok(path: &str, len: usize, flags: MapFlags) -> Result<Map> {
    Map::of_path(path, len, 0, flags).with_context(|| format!("mmap {path} {len}"))
}

use crate::sys::stat;
