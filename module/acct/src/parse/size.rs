// SPDX-License-Identifier: GPL-2.0

//! `size=` and `min_size=` values (bytes or a percentage of the pool) and their conversion
//! to huge pages, as fs/hugetlbfs/inode.c `hugetlbfs_size_to_hpages`; the page size as
//! `hugetlbfs_show_options` prints it.

use super::cmdline::memparse;
use super::kstrtox::parse_unsigned;
use super::ParseError;

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

#[cfg(test)]
mod tests {
    use super::super::*;
    use super::*;

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
}
