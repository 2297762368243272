//! Real pages (issue 12): shared mappings of page-cache folios that everything going through
//! GUP accepts, as the kernel's hugetlbfs pages are. Each test runs the same steps on
//! rhugetlbfs and on the kernel's hugetlbfs in this guest, and expects the same results
//! unless a line says why not; 1 GiB cases use a `map=pmd` mount (its pages made of 2 MiB
//! folios: `pmd_mappable_1g=1`) against the kernel's 1 GiB pages.

mod io;
mod keep;
mod map1g;
mod view;

use crate::harness::{Suite, TestResult};
use crate::own_tests::Mnt;
use crate::sys::{self, Fs};
use anyhow::{ensure, Context, Result};

pub fn register(s: &mut Suite) {
    s.add("gup_o_direct_loop_device_2m", || {
        both(2048, 2, io::o_direct)
    });
    s.add("gup_o_direct_loop_device_1g_map_pmd", || {
        both_1g_pmd(1, io::o_direct)
    });
    s.add("gup_io_uring_fixed_buffer_io_2m", || {
        both(2048, 1, io::io_uring_fixed)
    });
    s.add("gup_process_vm_readv_writev_2m", || {
        both(2048, 1, io::process_vm)
    });
    s.add("gup_vmsplice_from_shared_mapping_2m", || {
        both(2048, 1, io::vmsplice_shared)
    });
    s.add("gup_map_populate_and_madv_populate_write_2m", || {
        both(2048, 4, io::populate)
    });
    s.add("gup_pagemap_frames_2m", || both(2048, 2, view::pagemap));
    s.add("gup_pagemap_frames_1g_map_pmd", || {
        both_1g_pmd(1, view::pagemap)
    });
    s.add("gup_smaps_kernel_page_size_rss_pmd_mapped_2m", || {
        both(2048, 2, view::smaps_pmd)
    });
    s.add("gup_thp_never_still_one_pmd_per_page_2m", || {
        both(2048, 1, view::thp_never)
    });
    s.add("gup_nohugepage_and_thp_disable_map_4k_entries_2m", || {
        both(2048, 2, view::nohugepage)
    });
    s.add("gup_truncate_and_punch_while_pinned_2m", || {
        both(2048, 1, keep::truncate_punch_pinned)
    });
    s.add(
        "gup_drop_caches_compaction_split_collapse_data_intact_2m",
        || both(2048, 2, keep::data_survives),
    );
    s.add("gup_memcg_does_not_charge_pages_2m", || {
        both(2048, 4, keep::memcg_not_charged)
    });
    s.add(
        "gup_private_of_1g_map_pmd_in_2m_pieces",
        map1g::private_pieces,
    );
    s.add(
        "gup_pmd_mappable_and_map_option_bad_input",
        map1g::bad_input,
    );
}

/// Runs `f` on rhugetlbfs, then on the kernel's hugetlbfs, with a pool of `pages` pages of
/// `kb`, and checks each pool idle after.
fn both(kb: u64, pages: u64, f: fn(&Mnt) -> TestResult) -> TestResult {
    for &fs in sys::implementations() {
        let m = Mnt::new(fs, kb, pages)?;
        f(&m).with_context(|| format!("{fs:?} {kb} kB"))?;
        m.check_idle().with_context(|| format!("{fs:?} {kb} kB"))?;
    }
    Ok(())
}

/// As [`both`] for 1 GiB pages: rhugetlbfs with `map=pmd` (pages of 2 MiB folios), the
/// kernel's hugetlbfs with its own 1 GiB pages.
fn both_1g_pmd(pages: u64, f: fn(&Mnt) -> TestResult) -> TestResult {
    for &fs in sys::implementations() {
        let m = match fs {
            Fs::Rh => Mnt::with_module(fs, 1048576, pages, ",map=pmd", &["pmd_mappable_1g=1"])?,
            Fs::Kernel => Mnt::new(fs, 1048576, pages)?,
        };
        f(&m).with_context(|| format!("{fs:?} 1 GiB"))?;
        m.check_idle().with_context(|| format!("{fs:?} 1 GiB"))?;
    }
    Ok(())
}

/// A byte pattern that differs for every offset of a huge page and every `seed`.
fn pattern(off: usize, seed: u8) -> u8 {
    ((off / 4096) as u8)
        .wrapping_mul(31)
        .wrapping_add((off % 251) as u8)
        ^ seed
}

/// Fills `n` bytes of `buf` from its file offset `off` with [`pattern`].
fn fill_pattern(buf: &mut [u8], off: usize, seed: u8) {
    for (i, b) in buf.iter_mut().enumerate() {
        *b = pattern(off + i, seed);
    }
}

/// Checks that `got`, read from offset `off`, is [`pattern`] `seed`.
fn check_pattern(got: &[u8], off: usize, seed: u8, what: &str) -> Result<()> {
    let bad = got
        .iter()
        .enumerate()
        .find(|&(i, &b)| b != pattern(off + i, seed));
    ensure!(
        bad.is_none(),
        "{what}: byte {:#x} is {:#x}, want {:#x}",
        off + bad.map_or(0, |b| b.0),
        bad.map_or(0, |b| *b.1),
        bad.map_or(0, |b| pattern(off + b.0, seed))
    );
    Ok(())
}

/// This implementation's fault counter `name` (`faults_pmd`, ...) of `kb` pages; 0 for the
/// kernel's hugetlbfs, which counts none.
fn faults(m: &Mnt, kb: u64, name: &str) -> Result<u64> {
    match m.fs {
        Fs::Rh => sys::stat(kb, name),
        Fs::Kernel => Ok(0),
    }
}
