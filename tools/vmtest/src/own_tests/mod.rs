//! Hostile use (issue 10): references to pool pages that outlive every mapping, forced
//! writes through ptrace and `/proc/PID/mem`, partial hole punches, truncation to the same
//! size. Each test runs the same steps on rhugetlbfs and on the kernel's own hugetlbfs in
//! this guest (the reference) and expects the same results, unless a line says why not.

mod forced;
mod holders;
mod punch;
mod reserve;

use crate::harness::{Suite, TestResult};
use crate::map::{open_rw_create, Map};
use crate::os::{mount, umount};
use crate::sys::{self, Fs};
use anyhow::{ensure, Context, Result};
use rustix::io::Errno;
use rustix::mm::{MapFlags, ProtFlags};

pub fn register(s: &mut Suite) {
    s.add("own_vmsplice_holder_outlives_private_mapping_2m", || {
        both(2048, holders::vmsplice_holder)
    });
    s.add("own_vmsplice_holder_outlives_private_mapping_1g", || {
        both(1048576, holders::vmsplice_holder)
    });
    s.add("own_io_uring_pin_outlives_private_mapping_2m", || {
        both(2048, holders::io_uring_holder)
    });
    s.add("own_forced_write_readonly_private_2m", || {
        both(2048, forced::forced_write_readonly_private)
    });
    s.add("own_forced_write_readonly_private_1g", || {
        both(1048576, forced::forced_write_readonly_private)
    });
    s.add("own_ptrace_poke_peek_shared_and_private_2m", || {
        both_n(2048, 4, forced::ptrace_poke)
    });
    s.add("own_proc_mem_reads_shared_mapping_2m", || {
        both(2048, forced::proc_mem_read_shared)
    });
    s.add("own_punch_partial_ranges_zero_exactly_2m", || {
        both_n(2048, 2, punch::punch_partial)
    });
    s.add("own_punch_partial_ranges_zero_exactly_1g", || {
        both(1048576, punch::punch_partial)
    });
    s.add("own_truncate_same_size_frees_pages_past_eof_2m", || {
        both_n(2048, 3, punch::truncate_past_eof)
    });
    s.add(
        "own_partial_munmap_private_returns_page_and_reservation_2m",
        || both_n(2048, 3, reserve::partial_munmap_private),
    );
    s.add(
        "own_failed_mmap_on_min_size_mount_leaks_no_reservation_2m",
        || {
            // 6.12's hugetlbfs has the same arithmetic (`hugetlb_reserve_pages` puts all of
            // `chg` back into the subpool on failure) and its unmount then drives
            // `resv_hugepages` below zero, which would wreck the reference for the rest of the
            // suite: rhugetlbfs only.
            let m = Mnt::with_opts(Fs::Rh, 2048, 2, ",min_size=4M")?;
            reserve::failed_mmap_min_size(&m)?;
            m.unmount_and_check()
        },
    );
    s.add("own_unmount_min_size_while_pipe_holds_page_2m", || {
        for &fs in sys::implementations() {
            let m = Mnt::with_opts(fs, 2048, 2, ",min_size=2M")?;
            holders::unmount_while_held(m).with_context(|| format!("{fs:?}"))?;
        }
        Ok(())
    });
    s.add("own_munmap_beside_forced_writes_not_stalled_2m", || {
        both_n(2048, 2, forced::munmap_beside_forced_writes)
    });
    s.add("own_punch_vs_mmap_munmap_and_writes_no_sigbus_2m", || {
        both_n(2048, 8, punch::punch_mmap_writes)
    });
}

/// Runs `f` on rhugetlbfs, then on the kernel's hugetlbfs, for pages of `kb`, with a pool
/// of one page.
fn both(kb: u64, f: fn(&Mnt) -> TestResult) -> TestResult {
    both_n(kb, 1, f)
}

/// As [`both`] with a pool of `pages` pages.
fn both_n(kb: u64, pages: u64, f: fn(&Mnt) -> TestResult) -> TestResult {
    for &fs in sys::implementations() {
        let m = Mnt::new(fs, kb, pages)?;
        f(&m).with_context(|| format!("{fs:?} {kb} kB"))?;
        m.check_idle().with_context(|| format!("{fs:?} {kb} kB"))?;
    }
    Ok(())
}

/// A mount of one implementation with a pool of `pages` free pages of `kb` (at least, for
/// the kernel's 1 GiB pool, which is the suite's keeper of three).
pub(crate) struct Mnt {
    pub(crate) fs: Fs,
    kb: u64,
    dir: &'static str,
    /// The kernel's 2 MiB pool size before the test, restored after.
    kernel_nr0: Option<u64>,
    _loan: Option<sys::Loan1g>,
}

const RH_DIR: &str = "/tmp/own-rh";
const KERNEL_DIR: &str = "/tmp/own-kernel";

impl Mnt {
    pub(crate) fn new(fs: Fs, kb: u64, pages: u64) -> Result<Self> {
        Self::with_opts(fs, kb, pages, "")
    }

    /// As [`Mnt::new`], mounted with `opts` (",min_size=..." and the like) after the
    /// page size.
    pub(crate) fn with_opts(fs: Fs, kb: u64, pages: u64, opts: &str) -> Result<Self> {
        Self::with_module(fs, kb, pages, opts, &[])
    }

    /// As [`Mnt::with_opts`], rhugetlbfs loaded with the module parameters `params` (the
    /// kernel's hugetlbfs ignores them).
    pub(crate) fn with_module(
        fs: Fs,
        kb: u64,
        pages: u64,
        opts: &str,
        params: &[&str],
    ) -> Result<Self> {
        let size = if kb == 2048 { "2M" } else { "1G" };
        let dir = if fs == Fs::Rh { RH_DIR } else { KERNEL_DIR };
        let (mut kernel_nr0, mut loan) = (None, None);
        let _ = umount(dir);
        match (fs, kb) {
            (Fs::Rh, _) => {
                sys::ensure_unloaded()?;
                sys::insmod(params)?;
                if kb == 2048 {
                    sys::pool_2m(pages)?;
                } else {
                    loan = Some(sys::lend_1g(pages)?);
                }
            }
            (Fs::Kernel, 2048) => {
                let nr = format!("{}/nr_hugepages", fs.hdir(kb));
                kernel_nr0 = Some(sys::read_u64(&nr)?);
                sys::write_ok(&nr, &format!("{pages}\n"))?;
                let got = sys::read_u64(&nr)?;
                ensure!(
                    got == pages,
                    "SUITE SETUP FAILURE: the kernel's 2 MiB pool reached {got} of {pages}"
                );
            }
            (Fs::Kernel, _) => {
                let free = fs.counter(kb, "free_hugepages")?;
                ensure!(
                    free >= pages,
                    "SUITE SETUP FAILURE: the kernel's 1 GiB pool (the keeper) has {free} free pages"
                );
            }
        }
        let m = Mnt {
            fs,
            kb,
            dir,
            kernel_nr0,
            _loan: loan,
        };
        std::fs::create_dir_all(dir).with_context(|| format!("mkdir {dir}"))?;
        mount(fs.fstype(), dir, &format!("pagesize={size}{opts}"))?;
        Ok(m)
    }

    pub(crate) fn hsize(&self) -> usize {
        (self.kb as usize) << 10
    }

    pub(crate) fn path(&self, name: &str) -> String {
        format!("{}/{name}", self.dir)
    }

    /// A counter of this implementation's pool of this size.
    pub(crate) fn counter(&self, name: &str) -> Result<u64> {
        self.fs.counter(self.kb, name)
    }

    /// Pages given back but still referenced elsewhere (rhugetlbfs's `draining_hugepages`;
    /// the kernel's hugetlbfs shows them only as not free).
    pub(crate) fn draining(&self) -> Result<u64> {
        match self.fs {
            Fs::Rh => self.counter("draining_hugepages"),
            Fs::Kernel => Ok(0),
        }
    }

    /// The invariants once every file is gone: all pages free, nothing reserved or
    /// draining.
    pub(crate) fn check_idle(&self) -> TestResult {
        self.remove_files()?;
        self.expect_idle("after the test")
    }

    /// Removes the files, unmounts, and checks that the pool is idle with the mount gone
    /// (a `min_size` mount's reserve is given back only then).
    pub(crate) fn unmount_and_check(self) -> TestResult {
        self.remove_files()?;
        umount(self.dir)?;
        self.expect_idle("after unmount")
    }

    fn remove_files(&self) -> TestResult {
        for entry in std::fs::read_dir(self.dir)? {
            let p = entry?.path();
            std::fs::remove_file(&p).with_context(|| format!("rm {p:?}"))?;
        }
        Ok(())
    }

    /// All pages free, nothing reserved or draining.
    fn expect_idle(&self, when: &str) -> TestResult {
        let (nr, free, resv) = (
            self.counter("nr_hugepages")?,
            self.counter("free_hugepages")?,
            self.counter("resv_hugepages")?,
        );
        let draining = self.draining()?;
        ensure!(
            free == nr && resv == 0 && draining == 0,
            "{when}: nr {nr} free {free} resv {resv} draining {draining}"
        );
        Ok(())
    }
}

impl Drop for Mnt {
    fn drop(&mut self) {
        let _ = umount(self.dir);
        if let Some(nr0) = self.kernel_nr0 {
            let _ = sys::write(
                &format!("{}/nr_hugepages", self.fs.hdir(self.kb)),
                &format!("{nr0}\n"),
            );
        }
        if self.fs == Fs::Rh && self.kb == 2048 {
            let _ = sys::set_nr(2048, 0);
        }
    }
}

/// A mapping of the whole first `len` bytes of `path` (created, and sized to at least
/// `len`: the kernel's hugetlbfs does not extend a file at mmap); Err(errno).
pub(crate) fn map(path: &str, len: usize, prot: ProtFlags, flags: MapFlags) -> Result<Map, Errno> {
    let f = open_rw_create(path)?;
    if f.metadata().map(|m| m.len()).unwrap_or(0) < len as u64 {
        f.set_len(len as u64).map_err(|e| sys::errno_of(&e))?;
    }
    Map::new(&f, len, prot, flags, 0)
}

/// As [`map`], the error with its context.
pub(crate) fn map_ok(path: &str, len: usize, prot: ProtFlags, flags: MapFlags) -> Result<Map> {
    map(path, len, prot, flags).with_context(|| format!("mmap {path}"))
}
