//! Pointer-chase chains.
//!
//! A chain is a set of pointer slots (byte offsets inside a mapping) and a `next` function that
//! forms a single cycle over them. It is written into memory as absolute pointers, then followed
//! with dependent loads (`p = *p`), so each load must wait for the previous one: the time per
//! load is the load-to-use latency of whatever level (cache, TLB, page walk, DRAM) serves it.
//!
//! * [`random_cycle`]: a Sattolo permutation over every slot of a working set (full random chase).
//! * [`page_chain`]: lmbench `tlb`-style: one pointer per page, random page order, random line
//!   within the page.
//! * [`packed_chain`]: the same number of pointers packed into consecutive cache lines (same
//!   cache footprint, few pages): the baseline that [`page_chain`] is compared against.

/// SplitMix64: tiny, fast, good enough for shuffles, and deterministic from a seed.
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0), by multiply-shift (bias < n / 2^64, irrelevant here).
    pub fn below(&mut self, n: u64) -> u64 {
        debug_assert!(n > 0);
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }
}

/// Sattolo's algorithm: a uniformly random cyclic permutation of `0..n`, returned as the
/// successor function `next[i]`. Following `next` from any slot visits all `n` slots once
/// and returns. Deterministic from `seed`.
pub fn random_cycle(n: usize, seed: u64) -> Vec<u32> {
    assert!(n >= 1, "a chain needs at least one slot");
    assert!(
        n as u64 <= u32::MAX as u64,
        "too many slots for u32 indices"
    );
    let mut a: Vec<u32> = (0..n as u32).collect();
    let mut rng = SplitMix64::new(seed);
    for i in (1..n).rev() {
        let j = rng.below(i as u64) as usize; // j < i: this is what makes it one cycle
        a.swap(i, j);
    }
    a
}

/// `true` when `next` is a permutation forming exactly one cycle through every slot.
pub fn is_single_cycle(next: &[u32]) -> bool {
    let n = next.len();
    if n == 0 {
        return false;
    }
    let mut seen = vec![false; n];
    let mut i = 0usize;
    for _ in 0..n {
        if seen[i] {
            return false;
        }
        seen[i] = true;
        let nx = next[i] as usize;
        if nx >= n {
            return false;
        }
        i = nx;
    }
    i == 0 && seen.iter().all(|&s| s)
}

/// A chain layout: pointer `i` lives at byte offset `offsets[i]` and points at `offsets[next[i]]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chain {
    pub offsets: Vec<usize>,
    pub next: Vec<u32>,
}

impl Chain {
    pub fn len(&self) -> usize {
        self.offsets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.offsets.is_empty()
    }

    /// Highest byte touched (exclusive), for sizing the mapping.
    pub fn span(&self) -> usize {
        self.offsets
            .iter()
            .max()
            .map_or(0, |&m| m + std::mem::size_of::<usize>())
    }

    /// Distinct pages (of `page` bytes) the chain touches.
    pub fn pages_touched(&self, page: usize) -> usize {
        let mut p: Vec<usize> = self.offsets.iter().map(|o| o / page).collect();
        p.sort_unstable();
        p.dedup();
        p.len()
    }

    /// Distinct cache lines (of `line` bytes) the chain touches.
    pub fn lines_touched(&self, line: usize) -> usize {
        self.pages_touched(line)
    }

    /// Write the chain as absolute pointers into `base`.
    ///
    /// # Safety
    /// `base..base+self.span()` must be valid, writable and pointer-aligned at every offset.
    pub unsafe fn write(&self, base: *mut u8) {
        for (i, &off) in self.offsets.iter().enumerate() {
            let target = base.add(self.offsets[self.next[i] as usize]);
            std::ptr::write(base.add(off) as *mut *mut u8, target);
        }
    }
}

/// lmbench `tlb` "initialize_tlb": one pointer per `page_stride` bytes over `pages` pages, in a
/// random cyclic page order, each at a random `line`-aligned offset inside its page.
pub fn page_chain(pages: usize, page_stride: usize, line: usize, seed: u64) -> Chain {
    assert!(page_stride >= line && page_stride.is_multiple_of(line) && line >= 8);
    let lines_per_page = (page_stride / line) as u64;
    let mut rng = SplitMix64::new(seed ^ 0x7061_6765);
    let offsets = (0..pages)
        .map(|p| p * page_stride + rng.below(lines_per_page) as usize * line)
        .collect();
    Chain {
        offsets,
        next: random_cycle(pages, seed),
    }
}

/// lmbench `tlb` "initialize_cache": `count` pointers packed one per consecutive `line`,
/// visited in a random cyclic order. Same cache footprint as [`page_chain`] with `count`
/// pages, but it spans only `count * line` bytes (few pages).
pub fn packed_chain(count: usize, line: usize, seed: u64) -> Chain {
    assert!(line >= 8);
    Chain {
        offsets: (0..count).map(|i| i * line).collect(),
        next: random_cycle(count, seed ^ 0x7061_636b),
    }
}

/// Write a full random cycle over `next.len()` slots of `slot` bytes each (pointer at the start
/// of each slot), sequentially: slot `i` gets the address of slot `next[i]`.
///
/// # Safety
/// `base..base + next.len() * slot` must be valid and writable; `slot` a multiple of 8.
pub unsafe fn write_slot_cycle(base: *mut u8, slot: usize, next: &[u32]) {
    for (i, &n) in next.iter().enumerate() {
        std::ptr::write(
            base.add(i * slot) as *mut *mut u8,
            base.add(n as usize * slot),
        );
    }
}

/// Follow the chain `steps` times from `start` with dependent loads and return where it ends.
///
/// # Safety
/// `start` must point into a chain written by [`Chain::write`] or [`write_slot_cycle`] whose
/// memory stays valid for the call.
#[inline(never)]
pub unsafe fn chase(start: *const u8, steps: u64) -> *const u8 {
    let mut p = start;
    let mut left = steps;
    while left >= 16 {
        // 16 dependent loads per iteration: the loop overhead is hidden behind load latency.
        p = *(p as *const *const u8);
        p = *(p as *const *const u8);
        p = *(p as *const *const u8);
        p = *(p as *const *const u8);
        p = *(p as *const *const u8);
        p = *(p as *const *const u8);
        p = *(p as *const *const u8);
        p = *(p as *const *const u8);
        p = *(p as *const *const u8);
        p = *(p as *const *const u8);
        p = *(p as *const *const u8);
        p = *(p as *const *const u8);
        p = *(p as *const *const u8);
        p = *(p as *const *const u8);
        p = *(p as *const *const u8);
        p = *(p as *const *const u8);
        left -= 16;
    }
    while left > 0 {
        p = *(p as *const *const u8);
        left -= 1;
    }
    std::hint::black_box(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sattolo_is_one_cycle_over_every_slot() {
        for n in [1usize, 2, 3, 7, 64, 1000, 4096, 65_537] {
            for seed in [0u64, 1, 42, u64::MAX] {
                let next = random_cycle(n, seed);
                assert_eq!(next.len(), n);
                assert!(is_single_cycle(&next), "n={n} seed={seed}");
                if n > 1 {
                    assert!(
                        next.iter().enumerate().all(|(i, &x)| x as usize != i),
                        "no fixed points"
                    );
                }
            }
        }
    }

    #[test]
    fn sattolo_is_deterministic_and_seed_dependent() {
        assert_eq!(random_cycle(10_000, 7), random_cycle(10_000, 7));
        assert_ne!(random_cycle(10_000, 7), random_cycle(10_000, 8));
        // Not the trivial rotation i -> i+1: the order must be shuffled.
        let next = random_cycle(10_000, 7);
        let rotations = next
            .iter()
            .enumerate()
            .filter(|(i, &x)| x as usize == (i + 1) % 10_000)
            .count();
        assert!(rotations < 50, "{rotations} sequential successors");
    }

    #[test]
    fn single_cycle_checker_rejects_bad_permutations() {
        assert!(!is_single_cycle(&[]));
        assert!(is_single_cycle(&[0]));
        assert!(!is_single_cycle(&[0, 1])); // two fixed points
        assert!(!is_single_cycle(&[1, 0, 3, 2])); // two 2-cycles
        assert!(!is_single_cycle(&[1, 1])); // not a permutation
        assert!(!is_single_cycle(&[5, 0])); // out of range
        assert!(is_single_cycle(&[1, 2, 0]));
    }

    #[test]
    fn page_chain_has_one_pointer_per_page() {
        let c = page_chain(256, 4096, 64, 3);
        assert_eq!(c.len(), 256);
        assert!(is_single_cycle(&c.next));
        assert_eq!(c.pages_touched(4096), 256);
        assert_eq!(c.lines_touched(64), 256);
        for (p, &off) in c.offsets.iter().enumerate() {
            assert_eq!(off / 4096, p);
            assert_eq!(off % 64, 0);
        }
        // Line offsets vary (spreads cache sets), deterministic from the seed.
        let distinct: std::collections::HashSet<_> = c.offsets.iter().map(|o| o % 4096).collect();
        assert!(distinct.len() > 16);
        assert_eq!(c, page_chain(256, 4096, 64, 3));
    }

    #[test]
    fn packed_chain_has_same_footprint_in_few_pages() {
        let p = page_chain(512, 4096, 64, 9);
        let k = packed_chain(512, 64, 9);
        assert!(is_single_cycle(&k.next));
        assert_eq!(k.lines_touched(64), p.lines_touched(64));
        assert_eq!(k.pages_touched(4096), 8);
        assert_eq!(k.span(), 511 * 64 + 8);
    }

    #[test]
    fn written_chains_close_in_memory() {
        // Page chain in a real buffer: following it len() times returns to the start and
        // visits every pointer exactly once.
        let c = page_chain(64, 4096, 64, 11);
        let mut buf = vec![0u64; c.span().div_ceil(8)];
        let base = buf.as_mut_ptr() as *mut u8;
        unsafe {
            c.write(base);
            let start = base.add(c.offsets[0]) as *const u8;
            let mut seen = std::collections::HashSet::new();
            let mut p = start;
            for _ in 0..c.len() {
                assert!(seen.insert(p as usize));
                p = chase(p, 1);
            }
            assert_eq!(p, start);
            assert_eq!(chase(start, c.len() as u64 * 3), start);
        }

        // Slot cycle: same property, via the unrolled path.
        let next = random_cycle(1000, 5);
        let slot = 64;
        let mut buf = vec![0u64; 1000 * slot / 8];
        let base = buf.as_mut_ptr() as *mut u8;
        unsafe {
            write_slot_cycle(base, slot, &next);
            assert_eq!(chase(base, 1000), base as *const u8);
            assert_ne!(chase(base, 999), base as *const u8);
            assert_eq!(chase(base, 17_000), base as *const u8);
        }
    }
}
