// SPDX-License-Identifier: GPL-2.0

//! Kernel-independent accounting core of rhugetlbfs.
//!
//! This crate holds the parts of hugetlb that only count and decide, written so that the very
//! same source files are compiled twice:
//!
//! * on the host, as this library, for unit and property tests (`cargo test`);
//! * inside the kernel module, where `module/acct.rs` includes each file with
//!   `#[path = "acct/src/<file>.rs"] pub(crate) mod <file>;`. That build ignores this
//!   `lib.rs`, so every module file is self-contained: it uses only `core`, and reaches its
//!   siblings as `super::<sibling>`. A module split into parts is a directory included as
//!   `<dir>/mod.rs`: a file included with `#[path]` resolves its own `mod` items like a
//!   `mod.rs`, next to itself, so both builds read the same part files.
//!
//! Items only host code uses (the unit, property and model tests, and API the module has no
//! use for) are marked `#[cfg(not(MODULE))]`. Kbuild compiles module objects with
//! `--cfg MODULE`, so they are not compiled into rhugetlbfs.ko, and the module build's
//! dead-code lint sees everything that is: an item the module stops using shows up there as a
//! warning, and a module-side use of a host-only item fails to compile.
//!
//! Nothing here allocates, sleeps, locks or touches a page. The kernel glue owns the pages, the
//! locks and the allocators; it asks this code what to do and reports back what happened.
//!
//! | module | upstream counterpart |
//! |---|---|
//! | [`hstate`] | `struct hstate` counters, `set_max_huge_pages`, `adjust_pool_surplus`, `gather_surplus_pages`, `return_unused_surplus_pages`, `free_huge_folio`, `dequeue_hugetlb_folio_*` (mm/hugetlb.c) |
//! | [`region`] | `struct resv_map` / `struct file_region`, `region_chg/add/abort/del/count` (mm/hugetlb.c) |
//! | [`subpool`] | `struct hugepage_subpool`, `hugepage_subpool_get_pages/put_pages` (mm/hugetlb.c) |
//! | [`gigantic`] | `alloc_contig_pages` / `pfn_range_valid_contig` (mm/page_alloc.c) |
//! | [`stats`] | allocation and fault statistics the kernel does not keep |
//! | [`zero`] | pre-zeroed free pages, clearing policy and method (upstream clears at fault time: `folio_zero_user`) |
//! | [`parse`] | `kstrtoul` (lib/kstrtox.c), `memparse` (lib/cmdline.c), `hugetlbfs_parse_param` and `hugetlbfs_size_to_hpages` (fs/hugetlbfs/inode.c) |

#![no_std]
#![forbid(unsafe_code)]
// The kernel's own lints (see `rust_common_flags` in the kernel Makefile), so that the host
// build reports what the kernel build would.
#![warn(
    missing_docs,
    rust_2018_idioms,
    unreachable_pub,
    clippy::all,
    clippy::mut_mut,
    clippy::needless_bitwise_bool,
    clippy::ignored_unit_patterns,
    clippy::undocumented_unsafe_blocks,
    rustdoc::missing_crate_level_docs,
    rustdoc::unescaped_backticks
)]
#![deny(clippy::float_arithmetic, non_ascii_idents, unsafe_op_in_unsafe_fn)]
// No panic may be reachable from the kernel: no unwrap/expect/panic, no slice indexing, no
// unchecked arithmetic and no lossy casts in library code. Tests may do all of that.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::todo,
        clippy::unimplemented,
        clippy::unreachable,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects,
        clippy::cast_possible_truncation,
        clippy::cast_possible_wrap,
        clippy::cast_sign_loss
    )
)]

#[cfg(test)]
extern crate std;

pub mod gigantic;
pub mod hstate;
pub mod parse;
pub mod region;
pub mod stats;
pub mod subpool;
pub mod zero;
