// SPDX-License-Identifier: GPL-2.0

//! Sysfs numbers, as lib/kstrtox.c: `kstrtoul(buf, 10, ...)` and the digit loop
//! (`_parse_integer`) the other parsers share.

use super::ParseError;

/// Parses the digits at the start of `s` in `radix` (at most 16): returns the value and the
/// number of bytes used. Digits past an overflow are still consumed, so the error is
/// `Overflow` rather than garbage, as upstream's `_parse_integer`.
pub(super) fn parse_digits(s: &[u8], radix: u32) -> (Result<u64, ParseError>, usize) {
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
pub(super) fn parse_unsigned(s: &[u8], radix: u32, allow_plus: bool) -> Result<u64, ParseError> {
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

#[cfg(test)]
mod tests {
    use super::super::*;
    use super::*;

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
}
