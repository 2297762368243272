// SPDX-License-Identifier: GPL-2.0

//! Sizes with a `K`..`E` suffix, as lib/cmdline.c `memparse`, made strict: nothing may
//! follow the suffix and an overflow is an error.

use super::kstrtox::parse_digits;
use super::ParseError;

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

#[cfg(test)]
mod tests {
    use super::super::*;
    use super::*;

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
}
