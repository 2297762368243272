//! Small helpers: sizes, sysfs/procfs reads and writes, progress output.

use std::fs;
use std::io::{self, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

pub const KIB: u64 = 1024;
pub const MIB: u64 = 1024 * KIB;
pub const GIB: u64 = 1024 * MIB;
/// The base (smallest) page size this bench assumes for x86-64 / most arm64 kernels.
pub const BASE_PAGE: u64 = 4096;

/// Parse a size like `4096`, `4K`, `2M`, `2MiB`, `1G`, `1.5G` (binary units).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let lower = t.to_ascii_lowercase();
    let lower = lower
        .trim_end_matches("ib")
        .trim_end_matches('b')
        .trim()
        .to_string();
    let (num, mult) = match lower.chars().last() {
        Some('k') => (&lower[..lower.len() - 1], KIB),
        Some('m') => (&lower[..lower.len() - 1], MIB),
        Some('g') => (&lower[..lower.len() - 1], GIB),
        Some('t') => (&lower[..lower.len() - 1], 1024 * GIB),
        _ => (lower.as_str(), 1),
    };
    let num = num.trim();
    if let Ok(v) = num.parse::<u64>() {
        return v
            .checked_mul(mult)
            .ok_or_else(|| format!("size {t:?} overflows"));
    }
    match num.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok((v * mult as f64).round() as u64),
        _ => Err(format!(
            "cannot parse size {t:?} (examples: 4096, 4K, 2M, 1G)"
        )),
    }
}

/// Format bytes with binary units: `4 KiB`, `2 MiB`, `1 GiB`, `1.5 GiB`.
pub fn fmt_size(bytes: u64) -> String {
    const UNITS: [(u64, &str); 4] = [
        (1024 * GIB, "TiB"),
        (GIB, "GiB"),
        (MIB, "MiB"),
        (KIB, "KiB"),
    ];
    for (unit, name) in UNITS {
        if bytes >= unit {
            let v = bytes as f64 / unit as f64;
            return if bytes.is_multiple_of(unit) {
                format!("{} {name}", bytes / unit)
            } else {
                format!("{v:.1} {name}")
            };
        }
    }
    format!("{bytes} B")
}

/// Short page-size tag: `4K`, `2M`, `1G`.
pub fn size_tag(bytes: u64) -> String {
    if bytes >= GIB && bytes.is_multiple_of(GIB) {
        format!("{}G", bytes / GIB)
    } else if bytes >= MIB && bytes.is_multiple_of(MIB) {
        format!("{}M", bytes / MIB)
    } else if bytes >= KIB && bytes.is_multiple_of(KIB) {
        format!("{}K", bytes / KIB)
    } else {
        format!("{bytes}B")
    }
}

pub fn read_trim(path: &Path) -> io::Result<String> {
    Ok(fs::read_to_string(path)?.trim().to_string())
}

pub fn read_u64(path: &Path) -> io::Result<u64> {
    let s = read_trim(path)?;
    s.parse::<u64>().map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: {s:?}: {e}", path.display()),
        )
    })
}

/// Write a value the way `echo N > file` does (O_TRUNC, trailing newline).
pub fn write_str(path: &Path, value: &str) -> io::Result<()> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)?;
    f.write_all(format!("{value}\n").as_bytes())?;
    f.flush()
}

/// `true` when the calling process may write the file (access(2) W_OK).
pub fn writable(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: `c` is a valid NUL-terminated string for the duration of the call.
    unsafe { libc::access(c.as_ptr(), libc::W_OK) == 0 }
}

/// A `/proc/meminfo` value in bytes (the file gives kB).
pub fn meminfo_bytes(key: &str) -> Option<u64> {
    let text = fs::read_to_string("/proc/meminfo").ok()?;
    parse_meminfo(&text, key)
}

pub fn parse_meminfo(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (k, rest) = l.split_once(':')?;
        if k.trim() != key {
            return None;
        }
        let mut it = rest.split_whitespace();
        let v: u64 = it.next()?.parse().ok()?;
        Some(if it.next() == Some("kB") { v * 1024 } else { v })
    })
}

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// The mode selected in a sysfs "choice" file like `always [madvise] never`.
pub fn bracketed_choice(text: &str) -> Option<String> {
    let start = text.find('[')?;
    let end = text[start..].find(']')? + start;
    Some(text[start + 1..end].to_string())
}

pub fn round_up(v: u64, to: u64) -> u64 {
    v.div_ceil(to) * to
}

static QUIET: AtomicBool = AtomicBool::new(false);
static START: OnceLock<Instant> = OnceLock::new();

pub fn set_quiet(q: bool) {
    QUIET.store(q, Ordering::Relaxed);
    START.get_or_init(Instant::now);
}

/// Progress line on stderr, prefixed with seconds since start.
pub fn progress(msg: &str) {
    if QUIET.load(Ordering::Relaxed) {
        return;
    }
    let t = START.get_or_init(Instant::now).elapsed().as_secs_f64();
    eprintln!("[rhbench {t:7.1}s] {msg}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_and_format() {
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert_eq!(parse_size("4K").unwrap(), 4096);
        assert_eq!(parse_size("2M").unwrap(), 2 * MIB);
        assert_eq!(parse_size("2MiB").unwrap(), 2 * MIB);
        assert_eq!(parse_size("1g").unwrap(), GIB);
        assert_eq!(parse_size("1.5G").unwrap(), 3 * GIB / 2);
        assert!(parse_size("lots").is_err());
        assert_eq!(fmt_size(4096), "4 KiB");
        assert_eq!(fmt_size(3 * GIB / 2), "1.5 GiB");
        assert_eq!(fmt_size(100), "100 B");
        assert_eq!(size_tag(2 * MIB), "2M");
        assert_eq!(size_tag(GIB), "1G");
        assert_eq!(size_tag(4096), "4K");
    }

    #[test]
    fn meminfo_and_choice() {
        let t = "MemTotal:       24000000 kB\nMemAvailable:   1000 kB\nHugePages_Total:       0\n";
        assert_eq!(parse_meminfo(t, "MemAvailable"), Some(1000 * 1024));
        assert_eq!(parse_meminfo(t, "HugePages_Total"), Some(0));
        assert_eq!(parse_meminfo(t, "Nope"), None);
        assert_eq!(
            bracketed_choice("always [madvise] never").as_deref(),
            Some("madvise")
        );
        assert_eq!(bracketed_choice("nothing"), None);
        assert_eq!(round_up(5, 4), 8);
        assert_eq!(round_up(8, 4), 8);
    }
}
