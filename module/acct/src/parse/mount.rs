// SPDX-License-Identifier: GPL-2.0

//! The hugetlbfs mount options (fs/hugetlbfs/inode.c `hugetlbfs_parse_param` and
//! `hugetlbfs_validate`): option names, their values, the comma-separated option string, and
//! the page limits the options resolve to.

use core::fmt;

use super::cmdline::memparse;
use super::kstrtox::parse_unsigned;
use super::size::{hugetlbfs_size_to_hpages, parse_size_opt, SizeOpt};
use super::ParseError;

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
    /// `map=`: how pages are mapped, `pud` or `pmd` (rhugetlbfs only; see [`HugeMap`]).
    Map,
}

/// How a mount's huge pages are mapped (`map=`; rhugetlbfs only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HugeMap {
    /// One PUD entry per 1 GiB page, inserted by the module (no GUP on shared mappings):
    /// one TLB entry per page. 1 GiB mounts only, and their default.
    Pud,
    /// Page-cache folios of 2 MiB that the core maps with refcounted PMD entries (GUP,
    /// `O_DIRECT`, pins work). The only way for 2 MiB mounts; for 1 GiB mounts each page is
    /// 512 such folios of one contiguous range.
    Pmd,
}

impl MountOption {
    /// Every option, in upstream's `hugetlb_fs_parameters` order, then rhugetlbfs's own.
    pub const ALL: [MountOption; 8] = [
        MountOption::Gid,
        MountOption::MinSize,
        MountOption::Mode,
        MountOption::NrInodes,
        MountOption::PageSize,
        MountOption::Size,
        MountOption::Uid,
        MountOption::Map,
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
            Self::Map => "map",
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
    /// `map=`.
    Map(HugeMap),
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
    /// `map=pud` on a mount whose pages are smaller than a PUD.
    PudNeedsGigantic,
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
            MountErrorKind::PudNeedsGigantic => {
                write!(f, "Mount option '{key}=pud' needs pagesize=1G")
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

/// Parses a `map=` value: `pud` or `pmd`, exactly.
fn parse_map(s: &[u8]) -> Result<HugeMap, ParseError> {
    match s {
        b"pud" => Ok(HugeMap::Pud),
        b"pmd" => Ok(HugeMap::Pmd),
        b"" => Err(ParseError::Empty),
        _ => Err(ParseError::UnknownValue),
    }
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
        MountOption::Map => MountParam::Map(parse_map(v).map_err(bad)?),
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
    /// `map=`; `None` means the page size's default ([`MountOptions::huge_map`]).
    pub map: Option<HugeMap>,
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
            map: None,
        }
    }

    /// How the mount maps its pages: `map=` if given, else PUD entries for 1 GiB pages
    /// (`huge_page_shift` 30) and page-cache folios for 2 MiB ones.
    pub fn huge_map(&self, huge_page_shift: u32) -> HugeMap {
        self.map.unwrap_or(if huge_page_shift >= 30 {
            HugeMap::Pud
        } else {
            HugeMap::Pmd
        })
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
            MountParam::Map(map) => self.map = Some(map),
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
        if self.map == Some(HugeMap::Pud) && huge_page_shift < 30 {
            return Err(MountOptionError {
                key: MountOption::Map.name().as_bytes(),
                value: Some(b"pud"),
                kind: MountErrorKind::PudNeedsGigantic,
            });
        }
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
    use super::super::*;
    use super::*;
    use std::string::ToString;
    use std::vec::Vec;

    const SIZES: [u64; 2] = [2 << 20, 1 << 30];

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
                map: None,
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

    #[test]
    fn map_option() {
        // The defaults: PUD entries for 1 GiB pages, page-cache folios for 2 MiB ones.
        let o = MountOptions::new();
        assert_eq!(o.huge_map(30), HugeMap::Pud);
        assert_eq!(o.huge_map(21), HugeMap::Pmd);
        let mut o = MountOptions::new();
        o.parse_monolithic(b"pagesize=1G,map=pmd", &SIZES).unwrap();
        assert_eq!((o.map, o.huge_map(30)), (Some(HugeMap::Pmd), HugeMap::Pmd));
        o.parse_monolithic(b"map=pud", &SIZES).unwrap();
        assert_eq!(o.huge_map(30), HugeMap::Pud);
        // Only the two words, exactly; a value is required.
        for bad in [&b"PMD"[..], b"pmd ", b"2m", b"pte", b""] {
            let e = parse_mount_param(b"map", Some(bad), &SIZES).unwrap_err();
            assert!(matches!(e.kind, MountErrorKind::BadValue(_)), "{bad:?}");
        }
        let e = parse_mount_param(b"map", Some(b"bogus"), &SIZES).unwrap_err();
        assert_eq!(e.kind, MountErrorKind::BadValue(ParseError::UnknownValue));
        assert_eq!(
            e.to_string(),
            "Bad value 'bogus' for mount option 'map': not one of the values it takes"
        );
        assert_eq!(
            parse_mount_param(b"map", None, &SIZES).unwrap_err().kind,
            MountErrorKind::MissingValue
        );
        // PUD entries need 1 GiB pages; `map=pmd` on a 2 MiB mount is the default spelled out.
        let mut o = MountOptions::new();
        o.parse_monolithic(b"map=pud", &SIZES).unwrap();
        let e = o.resolve(21, 8).unwrap_err();
        assert_eq!(e.kind, MountErrorKind::PudNeedsGigantic);
        assert_eq!(e.to_string(), "Mount option 'map=pud' needs pagesize=1G");
        assert!(o.resolve(30, 8).is_ok());
        let mut o = MountOptions::new();
        o.parse_monolithic(b"map=pmd", &SIZES).unwrap();
        assert!(o.resolve(21, 8).is_ok());
    }
}
