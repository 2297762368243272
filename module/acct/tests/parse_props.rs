// SPDX-License-Identifier: GPL-2.0

//! Property tests for the parsers: round trips, agreement with simple reference parsers
//! written with `std`, and no panic on arbitrary bytes.

use proptest::prelude::*;
use rhugetlbfs_acct::parse::{
    kstrtoul, memparse, parse_mount_param, parse_size_opt, split_options, MountOptions, SizeOpt,
};

const SIZES: [u64; 2] = [2 << 20, 1 << 30];

/// Reference for `kstrtoul`: optional '+', decimal digits, one optional '\n'.
fn ref_kstrtoul(s: &[u8]) -> Option<u64> {
    let s = s.strip_suffix(b"\n").unwrap_or(s);
    let s = s.strip_prefix(b"+").unwrap_or(s);
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(s).ok()?.parse().ok()
}

/// Reference for strict `memparse`, computed in u128: C-style radix prefix, the longest run
/// of digits of that radix (so in hexadecimal an `E` is a digit, not a suffix), then at most
/// one suffix letter.
fn ref_memparse(s: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(s).ok()?;
    let hex_body = text
        .strip_prefix("0x")
        .or_else(|| text.strip_prefix("0X"))
        .filter(|rest| rest.starts_with(|c: char| c.is_ascii_hexdigit()));
    let (body, radix) = match hex_body {
        Some(rest) => (rest, 16),
        None if text.starts_with('0') => (text, 8),
        None => (text, 10),
    };
    let ndigits = body.chars().take_while(|c| c.is_digit(radix)).count();
    if ndigits == 0 {
        return None;
    }
    let (digits, suffix) = body.split_at(ndigits);
    let shift = match suffix.to_ascii_uppercase().as_str() {
        "" => 0,
        "K" => 10,
        "M" => 20,
        "G" => 30,
        "T" => 40,
        "P" => 50,
        "E" => 60,
        _ => return None,
    };
    let v = u128::from_str_radix(digits, radix).ok()?;
    if v > u128::from(u64::MAX) {
        return None;
    }
    u64::try_from(v << shift).ok()
}

fn alphabet() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop::sample::select(b"0123456789+-\n xXaAfFkKmMgGtTpPeE%,=.".to_vec()),
        0..24,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    #[test]
    fn kstrtoul_round_trip(n in any::<u64>(), plus in any::<bool>(), nl in any::<bool>()) {
        let s = format!("{}{}{}", if plus { "+" } else { "" }, n, if nl { "\n" } else { "" });
        prop_assert_eq!(kstrtoul(s.as_bytes()), Ok(n));
    }

    #[test]
    fn kstrtoul_matches_reference(s in alphabet()) {
        prop_assert_eq!(kstrtoul(&s).ok(), ref_kstrtoul(&s));
    }

    #[test]
    fn memparse_round_trip(n in any::<u64>(), suffix in 0usize..7, lower in any::<bool>(), hex in any::<bool>()) {
        let shift = suffix as u32 * 10;
        let n = n >> shift;
        let letter = ["", "K", "M", "G", "T", "P", "E"][suffix];
        let letter = if lower { letter.to_lowercase() } else { letter.to_string() };
        // In hexadecimal an E suffix would read as a digit, as upstream.
        let hex = hex && suffix != 6;
        let s = if hex { format!("0x{n:x}{letter}") } else { format!("{n}{letter}") };
        prop_assert_eq!(memparse(s.as_bytes()), Ok(n << shift));
    }

    #[test]
    fn memparse_matches_reference(s in alphabet()) {
        prop_assert_eq!(memparse(&s).ok(), ref_memparse(&s));
    }

    #[test]
    fn size_opt_percent_round_trip(n in any::<u64>()) {
        prop_assert_eq!(parse_size_opt(format!("{n}%").as_bytes()), Ok(SizeOpt::Percent(n)));
    }

    #[test]
    fn nothing_panics(key in prop::collection::vec(any::<u8>(), 0..12), value in prop::option::of(prop::collection::vec(any::<u8>(), 0..24)), s in prop::collection::vec(any::<u8>(), 0..64)) {
        let _ = kstrtoul(&s);
        let _ = memparse(&s);
        let _ = parse_size_opt(&s);
        if let Err(e) = parse_mount_param(&key, value.as_deref(), &SIZES) {
            let _ = e.to_string();
        }
        let mut o = MountOptions::new();
        let before = o;
        match o.parse_monolithic(&s, &SIZES) {
            Ok(()) => {
                let _ = o.resolve(21, u64::MAX);
            }
            Err(e) => {
                prop_assert_eq!(o, before);
                let _ = e.to_string();
            }
        }
        // Tokens never contain a comma, and keys never contain '='.
        for (k, v) in split_options(&s) {
            prop_assert!(!k.contains(&b',') && !k.contains(&b'='));
            prop_assert!(!v.unwrap_or(&[]).contains(&b','));
        }
    }

    #[test]
    fn known_options_round_trip(
        pagesize in prop::sample::select(vec!["2M", "2m", "2048K", "0x200000", "1G", "1024M", "1073741824"]),
        size in prop::option::of(0u64..1 << 40),
        pct in prop::option::of(0u64..500),
        mode in 0u16..0o7777,
        uid in prop::option::of(0u32..u32::MAX),
    ) {
        let mut opts = format!("pagesize={pagesize},mode={mode:o}");
        if let Some(size) = size {
            opts.push_str(&format!(",size={size}"));
        }
        if let Some(pct) = pct {
            opts.push_str(&format!(",min_size={pct}%"));
        }
        if let Some(uid) = uid {
            opts.push_str(&format!(",uid={uid}"));
        }
        let mut o = MountOptions::new();
        o.parse_monolithic(opts.as_bytes(), &SIZES).unwrap();
        prop_assert!(o.pagesize == Some(2 << 20) || o.pagesize == Some(1 << 30));
        prop_assert_eq!(o.mode, mode & 0o1777);
        prop_assert_eq!(o.size, size.map(SizeOpt::Bytes));
        prop_assert_eq!(o.min_size, pct.map(SizeOpt::Percent));
        prop_assert_eq!(o.uid, uid);
    }
}
