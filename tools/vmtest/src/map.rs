//! Mappings of test files: one type for every test's `mmap`, with volatile accessors, so
//! that a test reads and writes its pages without raw pointers (every access reaches the
//! page: the tests are about the faults it takes).

use anyhow::{Context, Result};
use rustix::fd::AsFd;
use rustix::io::Errno;
use rustix::mm::{Advice, MapFlags, MprotectFlags, ProtFlags};
use std::sync::atomic::AtomicU32;

/// Readable and writable.
pub const RW: ProtFlags = ProtFlags::READ.union(ProtFlags::WRITE);
pub const SHARED: MapFlags = MapFlags::SHARED;
pub const PRIVATE: MapFlags = MapFlags::PRIVATE;

/// A mapping the suite made, unmapped on drop (so that a failed test leaves no mount busy).
///
/// # Invariants
///
/// `p..p + len` was returned by `mmap` and belongs to this value until it is dropped: no
/// other code maps over it or unmaps it, except through [`Map::unmap_range`], whose
/// callers no longer touch the range. The accessors create no references into the
/// mapping (another process or the kernel may change it at any time), but to atomics.
#[derive(Debug)]
pub struct Map {
    p: *mut u8,
    len: usize,
}

impl Map {
    /// `mmap(NULL, len, prot, flags, fd, off)`; `flags` without `MAP_FIXED`.
    pub fn new(
        fd: impl AsFd,
        len: usize,
        prot: ProtFlags,
        flags: MapFlags,
        off: u64,
    ) -> Result<Map, Errno> {
        assert!(!flags.intersects(MapFlags::FIXED | MapFlags::FIXED_NOREPLACE));
        // SAFETY: A new mapping at an address the kernel picks (no MAP_FIXED): it replaces
        // nothing of this process.
        let p = unsafe { rustix::mm::mmap(std::ptr::null_mut(), len, prot, flags, fd, off)? };
        Ok(Map { p: p.cast(), len })
    }

    /// A mapping of `len` bytes of `path` at `off`, read-write, the file opened read-write
    /// and created if missing (its size left as it is); Err(errno).
    pub fn of_path(path: &str, len: usize, off: u64, flags: MapFlags) -> Result<Map, Errno> {
        let f = open_rw_create(path)?;
        Map::new(&f, len, RW, flags, off)
    }

    /// The first address.
    pub fn ptr(&self) -> *mut u8 {
        self.p
    }

    /// The first address as a number.
    pub fn addr(&self) -> usize {
        self.p as usize
    }

    /// The length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    fn at(&self, off: usize, n: usize) -> *mut u8 {
        assert!(
            off.checked_add(n).is_some_and(|end| end <= self.len),
            "{off}+{n} outside a mapping of {}",
            self.len
        );
        self.p.wrapping_add(off)
    }

    /// The byte at `off`.
    pub fn get(&self, off: usize) -> u8 {
        let p = self.at(off, 1);
        // SAFETY: Inside the mapping (the type's invariant, `at`'s bound).
        unsafe { p.read_volatile() }
    }

    /// Writes the byte at `off`.
    pub fn set(&self, off: usize, v: u8) {
        let p = self.at(off, 1);
        // SAFETY: As in `get`.
        unsafe { p.write_volatile(v) }
    }

    /// The aligned word at `off`.
    pub fn get_u64(&self, off: usize) -> u64 {
        let p = self.at(off, 8);
        assert!(off.is_multiple_of(8), "unaligned word at {off}");
        // SAFETY: As in `get`; the mapping is page-aligned, so `p` is aligned.
        unsafe { p.cast::<u64>().read_volatile() }
    }

    /// The aligned 32-bit word at `off` as an atomic (a futex word).
    pub fn atomic_u32(&self, off: usize) -> &AtomicU32 {
        let p = self.at(off, 4);
        assert!(off.is_multiple_of(4), "unaligned word at {off}");
        // SAFETY: Inside the mapping and aligned (the mapping is page-aligned); the
        // reference lives no longer than `self`, hence the mapping; an atomic may be
        // changed by others at any time.
        unsafe { AtomicU32::from_ptr(p.cast()) }
    }

    /// Writes `n` bytes `v` from `off`.
    pub fn fill(&self, off: usize, n: usize, v: u8) {
        let p = self.at(off, n);
        // SAFETY: As in `get`; a memset through the raw pointer, no reference made.
        unsafe { p.write_bytes(v, n) }
    }

    /// A copy of `n` bytes from `off`.
    pub fn read(&self, off: usize, n: usize) -> Vec<u8> {
        let p = self.at(off, n);
        let mut v = vec![0u8; n];
        // SAFETY: As in `get`; `v` has room for `n` bytes and is not inside the mapping.
        unsafe { std::ptr::copy_nonoverlapping(p, v.as_mut_ptr(), n) };
        v
    }

    /// `mprotect` of `len` bytes from `off`. A later access it forbids faults (SIGSEGV),
    /// which ends the process: no memory of the program is changed.
    pub fn protect(&self, off: usize, len: usize, prot: MprotectFlags) -> Result<(), Errno> {
        let p = self.at(off, len);
        // SAFETY: Inside the mapping; only its protection changes.
        unsafe { rustix::mm::mprotect(p.cast(), len, prot) }
    }

    /// `madvise` of the whole mapping (which may drop its pages: nothing holds a reference
    /// into it).
    pub fn advise(&self, advice: Advice) -> Result<(), Errno> {
        // SAFETY: The whole mapping, to which no reference exists.
        unsafe { rustix::mm::madvise(self.p.cast(), self.len, advice) }
    }

    /// `munmap` of `len` bytes from `off` (or its failure, where the kernel refuses to
    /// split a huge page). A tail unmapped is no longer part of the value; a range inside
    /// is unmapped again by the drop, a no-op while it is a hole.
    ///
    /// # Safety
    ///
    /// Once it succeeds nothing touches the range again, and until the drop the program
    /// maps nothing there (the kernel could place such a mapping in the hole).
    pub unsafe fn unmap_range(&mut self, off: usize, len: usize) -> Result<(), Errno> {
        let p = self.at(off, len);
        // SAFETY: Inside the mapping; the caller no longer touches the range.
        unsafe { rustix::mm::munmap(p.cast(), len)? };
        if off + len == self.len {
            self.forget_from(off);
        }
        Ok(())
    }

    /// Gives up the range from `len` on, which other code unmapped: accesses there are
    /// refused and the drop leaves it alone.
    pub fn forget_from(&mut self, len: usize) {
        self.len = self.len.min(len);
    }

    /// Moves the whole mapping to `to` (`mremap` with `MREMAP_MAYMOVE | MREMAP_FIXED`); on
    /// failure the mapping is unmapped.
    ///
    /// # Safety
    ///
    /// `to..to + len` is no memory the program uses: the move replaces whatever is there.
    pub unsafe fn move_to(self, to: *mut u8) -> Result<Map, Errno> {
        let flags = rustix::mm::MremapFlags::MAYMOVE;
        // SAFETY: The whole mapping, ours; the caller vouches for the target range.
        let q = unsafe {
            rustix::mm::mremap_fixed(self.p.cast(), self.len, self.len, flags, to.cast())?
        };
        // The old range is gone with the move: the new value owns the new one.
        let len = std::mem::ManuallyDrop::new(self).len;
        Ok(Map { p: q.cast(), len })
    }
}

impl Drop for Map {
    fn drop(&mut self) {
        // SAFETY: The whole mapping, ours by the type's invariant, unmapped once.
        let _ = unsafe { rustix::mm::munmap(self.p.cast(), self.len) };
    }
}

/// `path` opened read-write, created if missing (its size left as it is).
pub fn open_rw_create(path: &str) -> Result<std::fs::File, Errno> {
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| crate::sys::errno_of(&e))
}

/// `path` created empty (or emptied), open for reading and writing.
pub fn create_empty(path: &str) -> Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(path)
        .with_context(|| format!("create {path}"))
}

/// `path` created empty (or emptied) and sized to `len`, open for reading and writing.
pub fn create_sized(path: &str, len: u64) -> Result<std::fs::File> {
    let f = create_empty(path)?;
    f.set_len(len)
        .with_context(|| format!("size {path} to {len}"))?;
    Ok(f)
}
