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
        })
    }
}

/// Parses the digits at the start of `s` in `radix` (at most 16): returns the value and the
/// number of bytes used. Digits past an overflow are still consumed, so the error is
/// `Overflow` rather than garbage, as upstream's `_parse_integer`.
fn parse_digits(s: &[u8], radix: u32) -> (Result<u64, ParseError>, usize) {
    let mut value: Option<u64> = Some(0);
    let mut used = 0usize;
    for &c in s {
        let Some(digit) = char::from(c).to_digit(radix) else {
            break;
        };
        value = value
            .and_then(|v| v.checked_mul(u64::from(radix)))
            .and_then(|v| v.checked_add(u64::from(digit)));
        used = used.saturating_add(1);
    }
    let result = match (used, value) {
        (0, _) => Err(ParseError::NoDigits),
        (_, Some(v)) => Ok(v),
        (_, None) => Err(ParseError::Overflow),
    };
    (result, used)
}

/// Parses a whole unsigned number in `radix` after an optional `+`; `s` must hold nothing
/// else.
fn parse_unsigned(s: &[u8], radix: u32, allow_plus: bool) -> Result<u64, ParseError> {
    let s = match s.split_first() {
        None => return Err(ParseError::Empty),
        Some((b'-', _)) => return Err(ParseError::Negative),
        Some((b'+', rest)) if allow_plus => rest,
        Some(_) => s,
    };
    let (value, used) = parse_digits(s, radix);
    let value = value?;
    if used != s.len() {
        return Err(ParseError::TrailingGarbage);
    }
    Ok(value)
}

/// Parses a sysfs number as `kstrtoul(buf, 10, &n)`: decimal, optional leading `+`, one
/// optional trailing newline, nothing else (no spaces, no sign, no base prefix).
pub fn kstrtoul(buf: &[u8]) -> Result<u64, ParseError> {
    let s = buf.strip_suffix(b"\n").unwrap_or(buf);
    parse_unsigned(s, 10, true)
}

/// Parses a size as `memparse`: a number in C notation (decimal, `0x` hexadecimal, leading-`0`
/// octal) with an optional `K`, `M`, `G`, `T`, `P` or `E` suffix (either case), which
/// multiplies by 2^10 .. 2^60. Nothing may follow; an overflow is an error.
pub fn memparse(s: &[u8]) -> Result<u64, ParseError> {
    let (value, rest) = memparse_prefix(s)?;
    if !rest.is_empty() {
        return Err(ParseError::TrailingGarbage);
    }
    Ok(value)
}

/// `memparse` on a prefix of `s`: returns the value and what follows it.
fn memparse_prefix(s: &[u8]) -> Result<(u64, &[u8]), ParseError> {
    match s.first() {
        None => return Err(ParseError::Empty),
        Some(b'-') => return Err(ParseError::Negative),
        Some(c) if !c.is_ascii_digit() => return Err(ParseError::NoDigits),
        Some(_) => {}
    }
    // Upstream `_parse_integer_fixup_radix` with base 0.
    let (radix, digits) = match s {
        [b'0', x, h, ..] if (*x == b'x' || *x == b'X') && h.is_ascii_hexdigit() => {
            (16, s.get(2..).unwrap_or(&[]))
        }
        [b'0', ..] => (8, s),
        _ => (10, s),
    };
    let (value, used) = parse_digits(digits, radix);
    let value = value?;
    let rest = digits.get(used..).unwrap_or(&[]);
    let shift = match rest.first().map(u8::to_ascii_uppercase) {
        Some(b'K') => 10,
        Some(b'M') => 20,
        Some(b'G') => 30,
        Some(b'T') => 40,
        Some(b'P') => 50,
        Some(b'E') => 60,
        _ => return Ok((value, rest)),
    };
    let rest = rest.get(1..).unwrap_or(&[]);
    if value.leading_zeros() < shift {
        return Err(ParseError::Overflow);
    }
    let value = value.checked_shl(shift).ok_or(ParseError::Overflow)?;
    Ok((value, rest))
}

/// A `size=` or `min_size=` value: bytes, or a percentage of the pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SizeOpt {
    /// A size in bytes (memparse notation).
    Bytes(u64),
    /// A percentage of the huge page pool (`max_huge_pages`) at mount time; may exceed 100.
    Percent(u64),
}

/// Parses a `size=`/`min_size=` value: `N%` (plain decimal `N`) or a [`memparse`] size.
pub fn parse_size_opt(s: &[u8]) -> Result<SizeOpt, ParseError> {
    if let Some(digits) = s.strip_suffix(b"%") {
        return match digits.first() {
            None => Err(ParseError::NoDigits),
            Some(c) if !c.is_ascii_digit() => Err(if *c == b'-' {
                ParseError::Negative
            } else {
                ParseError::NoDigits
            }),
            Some(_) => parse_unsigned(digits, 10, false).map(SizeOpt::Percent),
        };
    }
    memparse(s).map(SizeOpt::Bytes)
}

/// Converts a size option to huge pages (upstream `hugetlbfs_size_to_hpages`): bytes are
/// rounded down to whole huge pages; a percentage is of `max_huge_pages`, rounded down.
pub fn hugetlbfs_size_to_hpages(
    size: SizeOpt,
    huge_page_shift: u32,
    max_huge_pages: u64,
) -> Result<u64, ParseError> {
    match size {
        SizeOpt::Bytes(bytes) => Ok(bytes.checked_shr(huge_page_shift).unwrap_or(0)),
        SizeOpt::Percent(pct) => pct
            .checked_mul(max_huge_pages)
            .map(|v| v / 100)
            .ok_or(ParseError::Overflow),
    }
}

/// Returns a huge page size as `hugetlbfs_show_options` prints it: `(2, b'M')` for 2 MiB,
/// `(1024, b'M')` for 1 GiB, `(64, b'K')` for 64 KiB.
pub fn show_pagesize(bytes: u64) -> (u64, u8) {
    let kib = bytes / 1024;
    if kib >= 1024 {
        (kib / 1024, b'M')
    } else {
        (kib, b'K')
    }
}

/// A hugetlbfs mount option.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MountOption {
    /// `pagesize=`: the huge page size (memparse), one of the supported sizes.
    PageSize,
    /// `size=`: the mount's maximum size, bytes or `N%` of the pool.
    Size,
    /// `min_size=`: the size reserved at mount, bytes or `N%` of the pool.
    MinSize,
    /// `nr_inodes=`: the maximum number of inodes (memparse).
    NrInodes,
    /// `mode=`: the root directory's mode, octal.
    Mode,
    /// `uid=`: the root directory's owner, decimal.
    Uid,
    /// `gid=`: the root directory's group, decimal.
    Gid,
}

impl MountOption {
    /// Every option, in upstream's `hugetlb_fs_parameters` order.
    pub const ALL: [MountOption; 7] = [
        MountOption::Gid,
        MountOption::MinSize,
        MountOption::Mode,
        MountOption::NrInodes,
        MountOption::PageSize,
        MountOption::Size,
        MountOption::Uid,
    ];

    /// Returns the option's name as written in a mount command.
    pub const fn name(self) -> &'static str {
        match self {
            Self::PageSize => "pagesize",
            Self::Size => "size",
            Self::MinSize => "min_size",
            Self::NrInodes => "nr_inodes",
            Self::Mode => "mode",
            Self::Uid => "uid",
            Self::Gid => "gid",
        }
    }

    /// Looks an option up by its exact (case-sensitive) name.
    pub fn from_key(key: &[u8]) -> Option<Self> {
        Self::ALL
            .iter()
            .copied()
            .find(|opt| opt.name().as_bytes() == key)
    }
}

/// A parsed mount option.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MountParam {
    /// `pagesize=`, in bytes, known to be supported.
    PageSize(u64),
    /// `size=`.
    Size(SizeOpt),
    /// `min_size=`.
    MinSize(SizeOpt),
    /// `nr_inodes=` (at most `i64::MAX`, the kernel's `long`).
    NrInodes(u64),
    /// `mode=`, masked with `01777` as upstream.
    Mode(u16),
    /// `uid=`, to be mapped with `make_kuid` in the mounter's namespace.
    Uid(u32),
    /// `gid=`, to be mapped with `make_kgid` in the mounter's namespace.
    Gid(u32),
}

/// What is wrong with a mount option.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MountErrorKind {
    /// Not a hugetlbfs option (upstream `fs_parse` returns `-ENOPARAM`, which lets the VFS
    /// handle `source`; anything else ends as `-EINVAL`).
    Unknown,
    /// The option needs a value (`size` instead of `size=1G`).
    MissingValue,
    /// The value did not parse.
    BadValue(ParseError),
    /// `pagesize=` parsed, but no pool has that size (upstream: "Unsupported page size").
    UnsupportedPageSize(u64),
    /// `min_size` resolves to more pages than `size`.
    MinAboveMax,
}

/// A mount option error; `Display` gives the one-line kernel message naming the option.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MountOptionError<'a> {
    /// The option as written.
    pub key: &'a [u8],
    /// The value as written, if any.
    pub value: Option<&'a [u8]>,
    /// What is wrong.
    pub kind: MountErrorKind,
}

/// Displays bytes from user input: printable ASCII as is, anything else as `\xNN`.
///
/// Byte-wise on purpose: `<[u8]>::utf8_chunks` is newer than the kernel's minimum Rust
/// (1.78), and option strings are ASCII in practice.
struct ShowBytes<'a>(&'a [u8]);

impl fmt::Display for ShowBytes<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for &b in self.0 {
            if b.is_ascii_graphic() || b == b' ' {
                write!(f, "{}", char::from(b))?;
            } else {
                write!(f, "\\x{b:02x}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Display for MountOptionError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key = ShowBytes(self.key);
        match self.kind {
            MountErrorKind::Unknown => write!(f, "Unknown mount option '{key}'"),
            MountErrorKind::MissingValue => write!(f, "Missing value for mount option '{key}'"),
            MountErrorKind::BadValue(err) => write!(
                f,
                "Bad value '{}' for mount option '{key}': {err}",
                ShowBytes(self.value.unwrap_or(&[]))
            ),
            MountErrorKind::UnsupportedPageSize(bytes) => write!(
                f,
                "Unsupported page size {} MB for mount option '{key}'",
                bytes / (1024 * 1024)
            ),
            MountErrorKind::MinAboveMax => {
                f.write_str("Minimum size can not be greater than maximum size")
            }
        }
    }
}

/// Parses a `uid=`/`gid=` value: decimal, no sign, no leading zero, not `(u32)-1`.
fn parse_id(s: &[u8]) -> Result<u32, ParseError> {
    if s.len() > 1 && s.first() == Some(&b'0') {
        return Err(ParseError::LeadingZero);
    }
    let id = parse_unsigned(s, 10, false)?;
    match u32::try_from(id) {
        Ok(id) if id != u32::MAX => Ok(id),
        _ => Err(ParseError::Overflow),
    }
}

/// Parses a `mode=` value: octal (upstream `fsparam_u32oct`), at most `07777`, masked with
/// `01777` as upstream (set-id bits are dropped).
fn parse_mode(s: &[u8]) -> Result<u16, ParseError> {
    let mode = parse_unsigned(s, 8, true)?;
    if mode > 0o7777 {
        return Err(ParseError::Overflow);
    }
    u16::try_from(mode & 0o1777).map_err(|_| ParseError::Overflow)
}

/// Parses a memparse value that must start with a digit (upstream checks `isdigit` for
/// `size`, `min_size` and `nr_inodes`, because memparse alone would take `K` as 0).
fn parse_nr_inodes(s: &[u8]) -> Result<u64, ParseError> {
    let n = memparse(s)?;
    if i64::try_from(n).is_err() {
        return Err(ParseError::Overflow);
    }
    Ok(n)
}

/// Parses one mount option (what `fs_context_operations::parse_param` receives).
///
/// `supported_page_sizes` lists the huge page sizes in bytes that `pagesize=` may select.
pub fn parse_mount_param<'a>(
    key: &'a [u8],
    value: Option<&'a [u8]>,
    supported_page_sizes: &[u64],
) -> Result<MountParam, MountOptionError<'a>> {
    let err = |kind| MountOptionError { key, value, kind };
    let option = MountOption::from_key(key).ok_or(err(MountErrorKind::Unknown))?;
    let v = value.ok_or(err(MountErrorKind::MissingValue))?;
    let bad = |e| err(MountErrorKind::BadValue(e));
    Ok(match option {
        MountOption::PageSize => {
            let bytes = memparse(v).map_err(bad)?;
            if !supported_page_sizes.contains(&bytes) {
                return Err(err(MountErrorKind::UnsupportedPageSize(bytes)));
            }
            MountParam::PageSize(bytes)
        }
        MountOption::Size => MountParam::Size(parse_size_opt(v).map_err(bad)?),
        MountOption::MinSize => MountParam::MinSize(parse_size_opt(v).map_err(bad)?),
        MountOption::NrInodes => MountParam::NrInodes(parse_nr_inodes(v).map_err(bad)?),
        MountOption::Mode => MountParam::Mode(parse_mode(v).map_err(bad)?),
        MountOption::Uid => MountParam::Uid(parse_id(v).map_err(bad)?),
        MountOption::Gid => MountParam::Gid(parse_id(v).map_err(bad)?),
    })
}

/// Iterator over the `key[=value]` items of a comma-separated option string; see
/// [`split_options`].
#[cfg(not(MODULE))]
#[derive(Clone, Debug)]
pub struct OptionTokens<'a> {
    rest: Option<&'a [u8]>,
}

#[cfg(not(MODULE))]
impl<'a> Iterator for OptionTokens<'a> {
    type Item = (&'a [u8], Option<&'a [u8]>);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let rest = self.rest?;
            let (token, after) = match rest.iter().position(|&c| c == b',') {
                Some(i) => (rest.get(..i)?, rest.get(i.saturating_add(1)..)),
                None => (rest, None),
            };
            self.rest = after;
            if token.is_empty() {
                continue;
            }
            return Some(match token.iter().position(|&c| c == b'=') {
                Some(i) => (token.get(..i)?, token.get(i.saturating_add(1)..)),
                None => (token, None),
            });
        }
    }
}

/// Splits a mount option string (`"pagesize=2M,size=50%,mode=0700"`) at commas into
/// `(key, value)` pairs, splitting each item at its first `=`, as the VFS's
/// `vfs_parse_monolithic_sep` does; empty items are skipped. An item starting with `=`
/// yields an empty key (which [`parse_mount_param`] rejects; the VFS skips it).
#[cfg(not(MODULE))]
pub fn split_options(s: &[u8]) -> OptionTokens<'_> {
    OptionTokens { rest: Some(s) }
}

/// The mount options after parsing (upstream `struct hugetlbfs_fs_context`, before
/// `hugetlbfs_validate`). Later options override earlier ones, as upstream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MountOptions {
    /// `pagesize=` in bytes; `None` means the default huge page size.
    pub pagesize: Option<u64>,
    /// `size=`; `None` means no maximum.
    pub size: Option<SizeOpt>,
    /// `min_size=`; `None` means no minimum.
    pub min_size: Option<SizeOpt>,
    /// `nr_inodes=`; `None` means no limit.
    pub nr_inodes: Option<u64>,
    /// `mode=` of the root directory.
    pub mode: u16,
    /// `uid=`; `None` means the mounter's fsuid.
    pub uid: Option<u32>,
    /// `gid=`; `None` means the mounter's fsgid.
    pub gid: Option<u32>,
}

impl Default for MountOptions {
    fn default() -> Self {
        Self::new()
    }
}

/// The page limits of a mount, resolved from its options (upstream `max_hpages` and
/// `min_hpages` of `struct hugetlbfs_fs_context`, with `None` for `-1`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SubpoolLimits {
    /// Maximum huge pages, from `size=`.
    pub max_hpages: Option<u64>,
    /// Minimum huge pages reserved at mount, from `min_size=`.
    pub min_hpages: Option<u64>,
}

impl SubpoolLimits {
    /// Returns whether the mount needs a subpool (upstream: `size` or `min_size` given).
    pub fn needs_subpool(&self) -> bool {
        self.max_hpages.is_some() || self.min_hpages.is_some()
    }
}

impl MountOptions {
    /// The root directory mode without `mode=`.
    pub const DEFAULT_MODE: u16 = 0o755;

    /// Returns the defaults (upstream `hugetlbfs_init_fs_context`).
    pub const fn new() -> Self {
        Self {
            pagesize: None,
            size: None,
            min_size: None,
            nr_inodes: None,
            mode: Self::DEFAULT_MODE,
            uid: None,
            gid: None,
        }
    }

    /// Records a parsed option.
    pub fn apply(&mut self, param: MountParam) {
        match param {
            MountParam::PageSize(bytes) => self.pagesize = Some(bytes),
            MountParam::Size(size) => self.size = Some(size),
            MountParam::MinSize(size) => self.min_size = Some(size),
            MountParam::NrInodes(n) => self.nr_inodes = Some(n),
            MountParam::Mode(mode) => self.mode = mode,
            MountParam::Uid(uid) => self.uid = Some(uid),
            MountParam::Gid(gid) => self.gid = Some(gid),
        }
    }

    /// Parses one option and records it (upstream `hugetlbfs_parse_param`).
    pub fn parse_param<'a>(
        &mut self,
        key: &'a [u8],
        value: Option<&'a [u8]>,
        supported_page_sizes: &[u64],
    ) -> Result<(), MountOptionError<'a>> {
        self.apply(parse_mount_param(key, value, supported_page_sizes)?);
        Ok(())
    }

    /// Parses a whole comma-separated option string; on error nothing is recorded.
    #[cfg(not(MODULE))]
    pub fn parse_monolithic<'a>(
        &mut self,
        options: &'a [u8],
        supported_page_sizes: &[u64],
    ) -> Result<(), MountOptionError<'a>> {
        let mut parsed = *self;
        for (key, value) in split_options(options) {
            parsed.parse_param(key, value, supported_page_sizes)?;
        }
        *self = parsed;
        Ok(())
    }

    /// Resolves `size=`/`min_size=` to huge pages for the chosen pool and checks
    /// `min_size <= size` (upstream `hugetlbfs_validate`).
    ///
    /// `huge_page_shift` is the shift of the pool's page size (21 for 2 MiB) and
    /// `max_huge_pages` its persistent size now, the base of percentages.
    pub fn resolve(
        &self,
        huge_page_shift: u32,
        max_huge_pages: u64,
    ) -> Result<SubpoolLimits, MountOptionError<'static>> {
        let convert = |size: Option<SizeOpt>, option: MountOption| {
            size.map(|s| hugetlbfs_size_to_hpages(s, huge_page_shift, max_huge_pages))
                .transpose()
                .map_err(|e| MountOptionError {
                    key: option.name().as_bytes(),
                    value: None,
                    kind: MountErrorKind::BadValue(e),
                })
        };
        let max_hpages = convert(self.size, MountOption::Size)?;
        let min_hpages = convert(self.min_size, MountOption::MinSize)?;
        if let (Some(max), Some(min)) = (max_hpages, min_hpages) {
            if min > max {
                return Err(MountOptionError {
                    key: MountOption::MinSize.name().as_bytes(),
                    value: None,
                    kind: MountErrorKind::MinAboveMax,
                });
            }
        }
        Ok(SubpoolLimits {
            max_hpages,
            min_hpages,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;
    use std::vec::Vec;

    const SIZES: [u64; 2] = [2 << 20, 1 << 30];

    #[test]
    fn kstrtoul_accepts() {
        for (s, v) in [
            (&b"0"[..], 0),
            (b"42", 42),
            (b"42\n", 42),
            (b"+7", 7),
            (b"+7\n", 7),
            (b"007", 7),
            (b"18446744073709551615", u64::MAX),
            (b"18446744073709551615\n", u64::MAX),
        ] {
            assert_eq!(kstrtoul(s), Ok(v), "{:?}", s);
        }
    }

    #[test]
    fn kstrtoul_rejects() {
        use ParseError::*;
        for (s, e) in [
            (&b""[..], Empty),
            (b"\n", Empty),
            (b"-1", Negative),
            (b"-0", Negative),
            (b"+", NoDigits),
            (b"+\n", NoDigits),
            (b"++1", NoDigits),
            (b"+-1", NoDigits),
            (b" 1", NoDigits),
            (b"\t1", NoDigits),
            (b"abc", NoDigits),
            (b"0x10", TrailingGarbage),
            (b"1 ", TrailingGarbage),
            (b"1\n\n", TrailingGarbage),
            (b"1\r\n", TrailingGarbage),
            (b"1\0", TrailingGarbage),
            (b"12abc", TrailingGarbage),
            (b"1.5", TrailingGarbage),
            (b"1e3", TrailingGarbage),
            (b"1K", TrailingGarbage),
            (b"18446744073709551616", Overflow),
            (b"99999999999999999999999", Overflow),
            (b"99999999999999999999999x", Overflow),
        ] {
            assert_eq!(
                kstrtoul(s),
                Err(e),
                "{:?}",
                std::string::String::from_utf8_lossy(s)
            );
        }
    }

    #[test]
    fn memparse_accepts() {
        for (s, v) in [
            (&b"0"[..], 0u64),
            (b"4096", 4096),
            (b"2M", 2 << 20),
            (b"2m", 2 << 20),
            (b"1G", 1 << 30),
            (b"1g", 1 << 30),
            (b"1024K", 1 << 20),
            (b"3k", 3072),
            (b"1T", 1 << 40),
            (b"1p", 1 << 50),
            (b"15E", 15 << 60),
            (b"0x200000", 2 << 20),
            (b"0X1k", 1024),
            (b"0x1G", 1 << 30),
            // In hexadecimal `E` is a digit, not a suffix (as upstream).
            (b"0x1E", 30),
            (b"0x1eK", 30 << 10),
            (b"010", 8),
            (b"00", 0),
            (b"0M", 0),
            (b"18446744073709551615", u64::MAX),
            (b"0xffffffffffffffff", u64::MAX),
            (b"17179869183G", 17_179_869_183 << 30),
        ] {
            assert_eq!(memparse(s), Ok(v), "{:?}", s);
        }
    }

    #[test]
    fn memparse_rejects() {
        use ParseError::*;
        for (s, e) in [
            (&b""[..], Empty),
            (b"-2M", Negative),
            (b"+2M", NoDigits),
            (b"M", NoDigits),
            (b" 2M", NoDigits),
            (b"x10", NoDigits),
            (b"2MB", TrailingGarbage),
            (b"2M ", TrailingGarbage),
            (b"2M\n", TrailingGarbage),
            (b"2 M", TrailingGarbage),
            (b"1.5G", TrailingGarbage),
            (b"2Mi", TrailingGarbage),
            (b"2KK", TrailingGarbage),
            (b"2Z", TrailingGarbage),
            (b"08", TrailingGarbage),
            (b"0x", TrailingGarbage),
            (b"0xg", TrailingGarbage),
            (b"0x1y", TrailingGarbage),
            (b"16E", Overflow),
            (b"17179869184G", Overflow),
            (b"18446744073709551616", Overflow),
            (b"0x10000000000000000", Overflow),
            (b"18446744073709551615K", Overflow),
        ] {
            assert_eq!(
                memparse(s),
                Err(e),
                "{:?}",
                std::string::String::from_utf8_lossy(s)
            );
        }
    }

    #[test]
    fn size_options() {
        use ParseError::*;
        assert_eq!(parse_size_opt(b"50%"), Ok(SizeOpt::Percent(50)));
        assert_eq!(parse_size_opt(b"0%"), Ok(SizeOpt::Percent(0)));
        assert_eq!(parse_size_opt(b"250%"), Ok(SizeOpt::Percent(250)));
        assert_eq!(parse_size_opt(b"1G"), Ok(SizeOpt::Bytes(1 << 30)));
        assert_eq!(parse_size_opt(b"%"), Err(NoDigits));
        assert_eq!(parse_size_opt(b"-5%"), Err(Negative));
        assert_eq!(parse_size_opt(b"+5%"), Err(NoDigits));
        assert_eq!(parse_size_opt(b"5%%"), Err(TrailingGarbage));
        assert_eq!(parse_size_opt(b"5M%"), Err(TrailingGarbage));
        assert_eq!(parse_size_opt(b"0x5%"), Err(TrailingGarbage));
        assert_eq!(parse_size_opt(b"5.5%"), Err(TrailingGarbage));
        assert_eq!(parse_size_opt(b"5 %"), Err(TrailingGarbage));
        assert_eq!(parse_size_opt(b"5%x"), Err(TrailingGarbage));
        assert_eq!(parse_size_opt(b"99999999999999999999%"), Err(Overflow));
        assert_eq!(parse_size_opt(b""), Err(Empty));
        assert_eq!(parse_size_opt(b"K"), Err(NoDigits));

        // hugetlbfs_size_to_hpages.
        assert_eq!(
            hugetlbfs_size_to_hpages(SizeOpt::Bytes(5 << 20), 21, 0),
            Ok(2)
        );
        assert_eq!(
            hugetlbfs_size_to_hpages(SizeOpt::Bytes((2 << 20) - 1), 21, 0),
            Ok(0)
        );
        assert_eq!(
            hugetlbfs_size_to_hpages(SizeOpt::Bytes(u64::MAX), 64, 0),
            Ok(0)
        );
        assert_eq!(hugetlbfs_size_to_hpages(SizeOpt::Percent(50), 21, 3), Ok(1));
        assert_eq!(
            hugetlbfs_size_to_hpages(SizeOpt::Percent(100), 21, 7),
            Ok(7)
        );
        assert_eq!(
            hugetlbfs_size_to_hpages(SizeOpt::Percent(200), 30, 7),
            Ok(14)
        );
        assert_eq!(hugetlbfs_size_to_hpages(SizeOpt::Percent(1), 21, 99), Ok(0));
        assert_eq!(
            hugetlbfs_size_to_hpages(SizeOpt::Percent(u64::MAX), 21, 2),
            Err(Overflow)
        );
    }

    #[test]
    fn pagesize_show() {
        assert_eq!(show_pagesize(2 << 20), (2, b'M'));
        assert_eq!(show_pagesize(1 << 30), (1024, b'M'));
        assert_eq!(show_pagesize(64 << 10), (64, b'K'));
    }

    #[test]
    fn tokenizer() {
        let got: Vec<_> = split_options(b"a=1,,b,c=,=d,e=f=g,").collect();
        assert_eq!(
            got,
            [
                (&b"a"[..], Some(&b"1"[..])),
                (b"b", None),
                (b"c", Some(b"")),
                (b"", Some(b"d")),
                (b"e", Some(b"f=g")),
            ]
        );
        assert_eq!(split_options(b"").count(), 0);
        assert_eq!(split_options(b",,,").count(), 0);
    }

    #[test]
    fn mount_options_good() {
        let mut o = MountOptions::new();
        o.parse_monolithic(
            b"pagesize=1G,size=50%,min_size=2G,nr_inodes=1k,mode=0700,uid=1000,gid=0",
            &SIZES,
        )
        .unwrap();
        assert_eq!(
            o,
            MountOptions {
                pagesize: Some(1 << 30),
                size: Some(SizeOpt::Percent(50)),
                min_size: Some(SizeOpt::Bytes(2 << 30)),
                nr_inodes: Some(1024),
                mode: 0o700,
                uid: Some(1000),
                gid: Some(0),
            }
        );
        // Later options override earlier ones; mode drops set-id bits as upstream.
        o.parse_monolithic(b"pagesize=2M,mode=+7777,pagesize=0x200000", &SIZES)
            .unwrap();
        assert_eq!(o.pagesize, Some(2 << 20));
        assert_eq!(o.mode, 0o1777);
        assert_eq!(MountOptions::default().mode, 0o755);
        assert_eq!(
            parse_mount_param(b"uid", Some(b"4294967294"), &SIZES),
            Ok(MountParam::Uid(u32::MAX - 1))
        );
        assert_eq!(
            parse_mount_param(b"mode", Some(b"0"), &SIZES),
            Ok(MountParam::Mode(0))
        );
        assert_eq!(
            parse_mount_param(b"nr_inodes", Some(b"0"), &SIZES),
            Ok(MountParam::NrInodes(0))
        );
        assert_eq!(
            parse_mount_param(b"size", Some(b"0"), &SIZES),
            Ok(MountParam::Size(SizeOpt::Bytes(0)))
        );
    }

    #[test]
    fn mount_options_bad() {
        use MountErrorKind::*;
        use ParseError::*;
        type Case = (&'static [u8], Option<&'static [u8]>, MountErrorKind);
        let cases: &[Case] = &[
            (b"bogus", Some(b"1"), Unknown),
            (b"Size", Some(b"1"), Unknown),
            (b"", Some(b"1"), Unknown),
            (b"size ", Some(b"1"), Unknown),
            (b"size", None, MissingValue),
            (b"pagesize", None, MissingValue),
            (b"mode", None, MissingValue),
            (b"pagesize", Some(b""), BadValue(Empty)),
            (b"pagesize", Some(b"2MB"), BadValue(TrailingGarbage)),
            (b"pagesize", Some(b"M"), BadValue(NoDigits)),
            (b"pagesize", Some(b"-2M"), BadValue(Negative)),
            (b"pagesize", Some(b"4K"), UnsupportedPageSize(4096)),
            (b"pagesize", Some(b"0"), UnsupportedPageSize(0)),
            (b"pagesize", Some(b"2G"), UnsupportedPageSize(2 << 30)),
            (b"pagesize", Some(b"99E"), BadValue(Overflow)),
            (b"size", Some(b""), BadValue(Empty)),
            (b"size", Some(b"K"), BadValue(NoDigits)),
            (b"size", Some(b"1x"), BadValue(TrailingGarbage)),
            (b"size", Some(b"-1"), BadValue(Negative)),
            (b"size", Some(b"50%x"), BadValue(TrailingGarbage)),
            (b"size", Some(b"20E"), BadValue(Overflow)),
            (b"min_size", Some(b"1,5G"), BadValue(TrailingGarbage)),
            (b"min_size", Some(b"%"), BadValue(NoDigits)),
            (b"nr_inodes", Some(b""), BadValue(Empty)),
            (b"nr_inodes", Some(b"k"), BadValue(NoDigits)),
            (b"nr_inodes", Some(b"10 "), BadValue(TrailingGarbage)),
            (b"nr_inodes", Some(b"8E"), BadValue(Overflow)),
            (b"nr_inodes", Some(b"-1"), BadValue(Negative)),
            (b"mode", Some(b""), BadValue(Empty)),
            (b"mode", Some(b"8"), BadValue(NoDigits)),
            (b"mode", Some(b"78"), BadValue(TrailingGarbage)),
            (b"mode", Some(b"0o755"), BadValue(TrailingGarbage)),
            (b"mode", Some(b"rwx"), BadValue(NoDigits)),
            (b"mode", Some(b"-755"), BadValue(Negative)),
            (b"mode", Some(b"10000"), BadValue(Overflow)),
            (
                b"mode",
                Some(b"77777777777777777777777"),
                BadValue(Overflow),
            ),
            (b"uid", Some(b""), BadValue(Empty)),
            (b"uid", Some(b"-1"), BadValue(Negative)),
            (b"uid", Some(b"+1"), BadValue(NoDigits)),
            (b"uid", Some(b"0x10"), BadValue(LeadingZero)),
            (b"uid", Some(b"010"), BadValue(LeadingZero)),
            (b"gid", Some(b"00"), BadValue(LeadingZero)),
            (b"uid", Some(b"root"), BadValue(NoDigits)),
            (b"uid", Some(b"4294967295"), BadValue(Overflow)),
            (b"uid", Some(b"4294967296"), BadValue(Overflow)),
            (b"gid", Some(b"1 "), BadValue(TrailingGarbage)),
            (b"gid", Some(b"99999999999999999999999"), BadValue(Overflow)),
        ];
        for &(key, value, kind) in cases {
            let err = parse_mount_param(key, value, &SIZES).unwrap_err();
            assert_eq!(
                err,
                MountOptionError { key, value, kind },
                "{:?}={:?}",
                key,
                value
            );
        }
        // A failing string records nothing.
        let mut o = MountOptions::new();
        let err = o.parse_monolithic(b"mode=700,size=1x", &SIZES).unwrap_err();
        assert_eq!(err.key, b"size");
        assert_eq!(o, MountOptions::new());
    }

    #[test]
    fn error_messages_name_the_option() {
        let e = parse_mount_param(b"size", Some(b"1x"), &SIZES).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Bad value '1x' for mount option 'size': trailing characters after the number"
        );
        let e = parse_mount_param(b"pagesize", Some(b"4M"), &SIZES).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Unsupported page size 4 MB for mount option 'pagesize'"
        );
        let e = parse_mount_param(b"fo\x01o\xff", None, &SIZES).unwrap_err();
        assert_eq!(e.to_string(), "Unknown mount option 'fo\\x01o\\xff'");
        let e = parse_mount_param(b"uid", None, &SIZES).unwrap_err();
        assert_eq!(e.to_string(), "Missing value for mount option 'uid'");
    }

    #[test]
    fn resolve_limits() {
        let mut o = MountOptions::new();
        assert_eq!(
            o.resolve(21, 10),
            Ok(SubpoolLimits {
                max_hpages: None,
                min_hpages: None
            })
        );
        assert!(!o.resolve(21, 10).unwrap().needs_subpool());
        o.parse_monolithic(b"size=50%,min_size=4M", &SIZES).unwrap();
        let limits = o.resolve(21, 10).unwrap();
        assert_eq!(
            limits,
            SubpoolLimits {
                max_hpages: Some(5),
                min_hpages: Some(2)
            }
        );
        assert!(limits.needs_subpool());
        // min_size above size.
        let err = o.resolve(21, 3).unwrap_err();
        assert_eq!(err.kind, MountErrorKind::MinAboveMax);
        assert_eq!(err.key, b"min_size");
        assert_eq!(
            err.to_string(),
            "Minimum size can not be greater than maximum size"
        );
        // min_size alone is fine whatever its size.
        let mut o = MountOptions::new();
        o.parse_monolithic(b"min_size=100%", &SIZES).unwrap();
        assert_eq!(o.resolve(30, 4).unwrap().min_hpages, Some(4));
        // Percentage overflow is an error, not a wrap.
        let mut o = MountOptions::new();
        o.parse_monolithic(b"size=18446744073709551615%", &SIZES)
            .unwrap();
        assert_eq!(
            o.resolve(21, 2).unwrap_err().kind,
            MountErrorKind::BadValue(ParseError::Overflow)
        );
        assert_eq!(
            MountOption::from_key(b"min_size"),
            Some(MountOption::MinSize)
        );
        for opt in MountOption::ALL {
            assert_eq!(MountOption::from_key(opt.name().as_bytes()), Some(opt));
        }
        assert_eq!(ParseError::Empty.to_string(), "empty value");
    }
}
