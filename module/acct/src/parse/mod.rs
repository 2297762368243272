// SPDX-License-Identifier: GPL-2.0

//! Strict parsing of sysfs writes and hugetlbfs mount options.
//!
//! * [`kstrtoul`]: the numbers written to `nr_hugepages` and friends, as lib/kstrtox.c
//!   `kstrtoul(buf, 10, ...)`: decimal, an optional leading `+`, one optional trailing `\n`.
//! * [`memparse`]: sizes with an optional `K`/`M`/`G`/`T`/`P`/`E` suffix, as lib/cmdline.c
//!   `memparse` (so `0x` hexadecimal and leading-`0` octal too), except that anything after
//!   the suffix and any overflow is an error instead of being ignored or wrapping.
//! * [`parse_size_opt`] and [`hugetlbfs_size_to_hpages`]: `size=` / `min_size=`, a byte size
//!   or a percentage of the pool, as fs/hugetlbfs/inode.c.
//! * [`split_options`], [`parse_mount_param`] and [`MountOptions`]: the mount options
//!   `pagesize`, `size`, `min_size`, `nr_inodes`, `mode`, `uid`, `gid`; every error names the
//!   option and the value ([`MountOptionError`] implements `Display` for the one-line kernel
//!   message).
//!
//! Where upstream is lax, this module is strict, and every error maps to `-EINVAL` (upstream
//! gives `-ERANGE` for an overflowing sysfs number; the rhugetlbfs interface documents
//! `-EINVAL`). In particular: nothing may follow a number but the suffixes listed above
//! (upstream ignores anything after a `memparse` suffix, so `pagesize=2MB` works there and
//! fails here); a percentage is plain decimal digits followed by `%`; `uid`/`gid` are decimal
//! without leading zeros (upstream also takes `0x` and octal forms, which would silently read
//! differently here, so they are refused instead), and `(uid_t)-1` is refused; `mode` above
//! `07777` is refused (upstream masks it).
//!
//! Inputs are byte slices (a sysfs buffer of `count` bytes, an `fs_parameter` string): no
//! NUL terminator is needed, and an embedded NUL is garbage.
//!
//! One file per grammar, named after its upstream source where there is one: `kstrtox`
//! (sysfs numbers, and the digit loop the others share), `cmdline` (`memparse`), `size`
//! (`size=` / `min_size=` values and page sizes) and `mount` (option names, their values,
//! the option string as a whole, and the limits it resolves to).

mod cmdline;
mod kstrtox;
mod mount;
mod size;

pub use kstrtox::kstrtoul;
pub use mount::{HugeMap, MountOption, MountOptions, SubpoolLimits};
pub use size::show_pagesize;

// Paths only host code names: the module parses through `MountOptions` (`split_options` and
// `OptionTokens` are host only) and shows its errors without naming their type.
#[cfg(not(MODULE))]
pub use cmdline::memparse;
#[cfg(not(MODULE))]
pub use mount::MountOptionError;
#[cfg(not(MODULE))]
pub use mount::{parse_mount_param, split_options, MountErrorKind, MountParam, OptionTokens};
#[cfg(not(MODULE))]
pub use size::{hugetlbfs_size_to_hpages, parse_size_opt, SizeOpt};

use core::fmt;

/// Why a number did not parse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// Nothing to parse (an empty string, or only the optional newline).
    Empty,
    /// A leading minus sign.
    Negative,
    /// No digit where the number should start (`"+"`, `"K"`, `" 1"`, `"%"`).
    NoDigits,
    /// Something follows the number (`"12x"`, `"1 "`, `"2MB"`, `"5\n\n"`).
    TrailingGarbage,
    /// The value does not fit (in 64 bits, or in the option's range).
    Overflow,
    /// A leading zero where upstream would switch to octal or hexadecimal (`uid=010`).
    LeadingZero,
    /// A word that is not one of those the option takes (`map=bogus`).
    UnknownValue,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Empty => "empty value",
            Self::Negative => "negative value",
            Self::NoDigits => "not a number",
            Self::TrailingGarbage => "trailing characters after the number",
            Self::Overflow => "value out of range",
            Self::LeadingZero => "leading zero (no octal or hexadecimal here)",
            Self::UnknownValue => "not one of the values it takes",
        })
    }
}
