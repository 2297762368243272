//! A user-space model of the module's clearing methods, in GB/s, for machines without the
//! module (the host): `rep stosb` per 4 KiB (the model of upstream's `clear_page` loop,
//! `page`), one `rep stosb` over the whole buffer (`erms`), and non-temporal `movnti`
//! stores with an `sfence` (`nt`). x86-64 only.
//!
//! The buffers: 2 MiB cleared again and again (cache-resident), 2 MiB pages of an arena
//! larger than the last-level cache cleared in turn (cold, as a free page is), and one large
//! buffer (1 GiB: a 1 GiB hugetlb page when one is free, else anonymous memory with
//! `MADV_HUGEPAGE`). Each is faulted in first and written with non-zero bytes before every
//! timed clear (untimed): a freed page is dirty, and some CPUs skip stores of zeros to lines
//! that are zero already, which makes clearing zeroed memory look faster than clearing dirty
//! memory. One more row clears the 2 MiB buffer while it is zero already, as repeated passes
//! over one page (the module's `clear_speed` measurement) do. The best of a few repetitions is
//! reported.

use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::backing::{self, Backing, Region};
use crate::pools::PoolDir;
use crate::stats;
use crate::util::{self, fmt_size, progress, BASE_PAGE, GIB, MIB};

/// Sizes and repetitions of the model.
#[derive(Clone, Debug)]
pub struct ModelConfig {
    /// The large buffer (1 GiB; smaller under `--smoke` and TCG).
    pub big_bytes: u64,
    /// The arena the cold 2 MiB clears rotate over (0: from the last-level cache size).
    pub arena_bytes: u64,
    /// Repetitions of the cold arena and of the large buffer.
    pub repeats: u32,
    /// Repetitions of the cache-resident 2 MiB buffer.
    pub hot_repeats: u32,
}

/// One buffer: GB/s of each method (`None` where it could not run).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelRow {
    pub buffer: String,
    /// Bytes of one clear.
    pub bytes: u64,
    /// Bytes the clears go over in turn (= `bytes` when one buffer is cleared again).
    pub span: u64,
    pub backing: String,
    pub repeats: u32,
    /// `rep stosb` of 4 KiB at a time (upstream's `clear_page` per 4 KiB; `page`).
    pub per_4k_stosb_gbps: Option<f64>,
    /// One `rep stosb` over the whole buffer (`erms`).
    pub stosb_gbps: Option<f64>,
    /// `movnti` 8-byte non-temporal stores, then `sfence` (`nt`).
    pub nt_gbps: Option<f64>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ClearModel {
    pub available: bool,
    /// Why not, when not available.
    pub reason: Option<String>,
    /// Last-level cache size, when sysfs tells it.
    pub llc_bytes: Option<u64>,
    pub rows: Vec<ModelRow>,
    pub notes: Vec<String>,
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    /// `rep stosb` of zeros.
    ///
    /// # Safety
    /// `p .. p + len` must be writable memory of this process.
    pub unsafe fn rep_stosb(p: *mut u8, len: usize) {
        std::arch::asm!(
            "rep stosb",
            inout("rcx") len => _,
            inout("rdi") p => _,
            in("al") 0u8,
            options(nostack, preserves_flags)
        );
    }

    /// `rep stosb` per 4 KiB, as `clear_page_erms` called for each 4 KiB page.
    ///
    /// # Safety
    /// As [`rep_stosb`].
    pub unsafe fn per_4k(p: *mut u8, len: usize) {
        let mut off = 0;
        while off < len {
            let n = (len - off).min(4096);
            rep_stosb(p.add(off), n);
            off += n;
        }
    }

    /// `movnti` stores of zeros, 64 bytes per iteration, then `sfence`.
    ///
    /// # Safety
    /// As [`rep_stosb`], and `p` 8-byte aligned.
    pub unsafe fn movnti(p: *mut u8, len: usize) {
        use std::arch::x86_64::{_mm_sfence, _mm_stream_si64};
        let q = p as *mut i64;
        let words = len / 8;
        let mut i = 0;
        while i + 8 <= words {
            for j in 0..8 {
                _mm_stream_si64(q.add(i + j), 0);
            }
            i += 8;
        }
        while i < words {
            _mm_stream_si64(q.add(i), 0);
            i += 1;
        }
        _mm_sfence();
        for k in words * 8..len {
            std::ptr::write_volatile(p.add(k), 0);
        }
    }
}

/// The methods in report order, with the function that models each.
#[cfg(target_arch = "x86_64")]
type ClearFn = unsafe fn(*mut u8, usize);

#[cfg(target_arch = "x86_64")]
const METHODS: [ClearFn; 3] = [x86::per_4k, x86::rep_stosb, x86::movnti];

/// Last-level cache size of CPU 0 from sysfs.
pub fn llc_bytes() -> Option<u64> {
    let rd = std::fs::read_dir("/sys/devices/system/cpu/cpu0/cache").ok()?;
    rd.filter_map(|e| e.ok())
        .filter_map(|e| {
            let level = util::read_u64(&e.path().join("level")).ok()?;
            let size = util::parse_size(&util::read_trim(&e.path().join("size")).ok()?).ok()?;
            Some((level, size))
        })
        .max()
        .map(|(_, s)| s)
}

/// How much of a mapping THP backs, as the report says it.
fn thp_backing(r: &Region) -> String {
    match backing::smaps_for(r.as_ptr() as usize) {
        Some(s) if s.rss_kb > 0 => format!(
            "anonymous, MADV_HUGEPAGE ({}% THP)",
            s.anon_huge_kb * 100 / s.rss_kb
        ),
        _ => "anonymous, MADV_HUGEPAGE".into(),
    }
}

/// A faulted-in buffer of `len` bytes: a 1 GiB hugetlb page when `len` is 1 GiB and the
/// kernel's 1 GiB pool has a free page (the pool is never grown here), else THP memory.
fn buffer(len: u64, pool_1g: Option<&PoolDir>) -> std::io::Result<(Region, String)> {
    if len == GIB {
        if let Some(p) = pool_1g.filter(|p| p.free().unwrap_or(0) >= 1) {
            if let Ok(r) = Backing::hugetlb_flag(GIB, Some(p.clone())).map(GIB, false) {
                r.touch_all(BASE_PAGE);
                return Ok((r, "kernel hugetlb 1 GiB page (MAP_HUGETLB)".into()));
            }
        }
    }
    let r = Backing::thp().map(len, false)?;
    r.touch_all(BASE_PAGE);
    let b = thp_backing(&r);
    Ok((r, b))
}

/// Run the model. `pool_1g` is the kernel's 1 GiB pool, if any (only a free page is used).
pub fn run(cfg: &ModelConfig, pool_1g: Option<&PoolDir>) -> ClearModel {
    let llc = llc_bytes();
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (cfg, pool_1g);
        return ClearModel {
            available: false,
            reason: Some(format!(
                "not available: the model is x86-64 only (this is {})",
                std::env::consts::ARCH
            )),
            llc_bytes: llc,
            ..Default::default()
        };
    }
    #[cfg(target_arch = "x86_64")]
    {
        let mut m = ClearModel {
            available: true,
            llc_bytes: llc,
            ..Default::default()
        };
        let avail = util::meminfo_bytes("MemAvailable").unwrap_or(4 * GIB);
        let chunk = 2 * MIB;
        let arena = if cfg.arena_bytes > 0 {
            cfg.arena_bytes
        } else {
            (4 * llc.unwrap_or(32 * MIB)).max(64 * MIB)
        };
        let arena = util::round_up(arena.min(avail / 8).max(chunk), chunk);
        let mut big = cfg.big_bytes.max(chunk);
        while big > chunk && big > avail / 4 {
            big /= 2;
        }
        if big < cfg.big_bytes {
            m.notes.push(format!(
                "large buffer {} instead of {} (memory available {})",
                fmt_size(big),
                fmt_size(cfg.big_bytes),
                fmt_size(avail)
            ));
        }
        // (name, bytes per clear, span, repetitions, dirty before each clear)
        let plans: [(String, u64, u64, u32, bool); 4] = [
            (
                "2 MiB, same buffer, dirty (cache-resident)".into(),
                chunk,
                chunk,
                cfg.hot_repeats,
                true,
            ),
            (
                "2 MiB, same buffer, already zero (repeated passes, as clear_speed)".into(),
                chunk,
                chunk,
                cfg.hot_repeats,
                false,
            ),
            (
                format!(
                    "2 MiB pages of a {} arena in turn ({})",
                    fmt_size(arena),
                    match llc {
                        Some(l) if arena < 2 * l =>
                            "smaller than twice the last-level cache: not cold",
                        _ => "cold",
                    }
                ),
                chunk,
                arena,
                cfg.repeats,
                true,
            ),
            (
                format!("{}, dirty", fmt_size(big)),
                big,
                big,
                cfg.repeats,
                true,
            ),
        ];
        for (name, bytes, span, repeats, dirty) in plans {
            progress(&format!("zeroing: clearing model, {name}"));
            let (region, backing) = match buffer(span, pool_1g) {
                Ok(b) => b,
                Err(e) => {
                    m.notes.push(format!("{name}: map {}: {e}", fmt_size(span)));
                    continue;
                }
            };
            let mut best = [f64::INFINITY; 3];
            for _ in 0..repeats.max(1) {
                for (k, f) in METHODS.iter().enumerate() {
                    if dirty {
                        // SAFETY: the whole mapping is writable and faulted in.
                        unsafe { std::ptr::write_bytes(region.as_ptr(), 0x5a, span as usize) };
                        std::hint::black_box(region.as_ptr());
                    }
                    let t = Instant::now();
                    let mut off = 0usize;
                    while off < span as usize {
                        // SAFETY: `off .. off + bytes` is within the mapping of `span` bytes,
                        // which is writable, faulted in and page aligned.
                        unsafe { f(region.as_ptr().add(off), bytes as usize) };
                        off += bytes as usize;
                    }
                    std::hint::black_box(region.as_ptr());
                    best[k] = best[k].min(t.elapsed().as_secs_f64());
                }
            }
            let g = |k: usize| Some(stats::gbps(span, best[k])).filter(|v| v.is_finite());
            m.rows.push(ModelRow {
                buffer: name,
                bytes,
                span,
                backing,
                repeats: repeats.max(1),
                per_4k_stosb_gbps: g(0),
                stosb_gbps: g(1),
                nt_gbps: g(2),
            });
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiny_model_runs_and_clears() {
        let cfg = ModelConfig {
            big_bytes: 4 * MIB,
            arena_bytes: 4 * MIB,
            repeats: 1,
            hot_repeats: 2,
        };
        let m = run(&cfg, None);
        if cfg!(target_arch = "x86_64") {
            assert!(m.available, "{m:?}");
            assert_eq!(m.rows.len(), 4, "{m:?}");
            assert_eq!(m.rows[2].span, 4 * MIB);
            for r in &m.rows {
                for v in [r.per_4k_stosb_gbps, r.stosb_gbps, r.nt_gbps] {
                    assert!(v.unwrap() > 0.0, "{r:?}");
                }
            }
        } else {
            assert!(!m.available);
            assert!(m.reason.unwrap().contains("not available"));
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn every_method_writes_zeros_everywhere() {
        for f in METHODS {
            let mut v = vec![0xa5a5_a5a5_a5a5_a5a5u64; (3 * 4096 + 24) / 8];
            // SAFETY: the vector's buffer is writable and 8-byte aligned.
            unsafe { f(v.as_mut_ptr() as *mut u8, v.len() * 8) };
            assert!(v.iter().all(|&w| w == 0));
        }
        // An odd tail after the 8-byte words.
        let mut v = vec![u64::MAX; 10];
        // SAFETY: as above; 77 of the 80 bytes.
        unsafe { x86::movnti(v.as_mut_ptr() as *mut u8, 77) };
        assert!(v[..9].iter().all(|&w| w == 0));
        assert_eq!(
            v[9], 0xffff_ff00_0000_0000,
            "the last 3 bytes are left alone"
        );
    }
}
