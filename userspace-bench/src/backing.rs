//! Memory backings: 4 KiB anonymous, THP, MAP_HUGETLB (2 MiB / 1 GiB), and files on a
//! hugetlbfs-like mount (the kernel's hugetlbfs, rhugetlbfs, ...), with the mapping object
//! ([`Region`]) that the benchmarks touch.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::pools::PoolDir;
use crate::util::{self, size_tag, BASE_PAGE, MIB};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum BackingKind {
    /// Private anonymous memory with MADV_NOHUGEPAGE (4 KiB pages even with THP "always").
    Anon4k,
    /// Private anonymous memory, 2 MiB aligned, MADV_HUGEPAGE.
    Thp,
    /// MAP_ANONYMOUS | MAP_HUGETLB | MAP_HUGE_<size>.
    HugetlbFlag,
    /// A file on a hugetlbfs-like mount, MAP_SHARED.
    Mount { path: PathBuf, fstype: String },
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Backing {
    /// Short id used in tables: `4K`, `THP`, `hugetlb-2M`, `hugetlbfs-2M`, `rhugetlbfs-2M`.
    pub id: String,
    /// Longer description with the mount path.
    pub label: String,
    pub kind: BackingKind,
    pub page_size: u64,
    /// "kernel" for the kernel's own paths, else the filesystem type (e.g. "rhugetlbfs").
    pub implementation: String,
    /// The pool its pages come from, when known.
    pub pool: Option<PoolDir>,
}

impl Backing {
    pub fn anon_4k() -> Backing {
        Backing {
            id: "4K".into(),
            label: "4 KiB anonymous (MADV_NOHUGEPAGE)".into(),
            kind: BackingKind::Anon4k,
            page_size: BASE_PAGE,
            implementation: "kernel".into(),
            pool: None,
        }
    }

    pub fn thp() -> Backing {
        Backing {
            id: "THP".into(),
            label: "THP 2 MiB (MADV_HUGEPAGE)".into(),
            kind: BackingKind::Thp,
            page_size: 2 * MIB,
            implementation: "kernel".into(),
            pool: None,
        }
    }

    pub fn hugetlb_flag(page_size: u64, pool: Option<PoolDir>) -> Backing {
        Backing {
            id: format!("hugetlb-{}", size_tag(page_size)),
            label: format!(
                "kernel hugetlb {} (MAP_HUGETLB|MAP_HUGE_{}B)",
                util::fmt_size(page_size),
                size_tag(page_size)
            ),
            kind: BackingKind::HugetlbFlag,
            page_size,
            implementation: "kernel".into(),
            pool,
        }
    }

    pub fn mount(path: &Path, fstype: &str, page_size: u64, pool: Option<PoolDir>) -> Backing {
        let implementation = if fstype == "hugetlbfs" {
            "kernel".to_string()
        } else {
            fstype.to_string()
        };
        Backing {
            id: format!("{fstype}-{}", size_tag(page_size)),
            label: format!(
                "{fstype} {} file at {}",
                util::fmt_size(page_size),
                path.display()
            ),
            kind: BackingKind::Mount {
                path: path.to_path_buf(),
                fstype: fstype.to_string(),
            },
            page_size,
            implementation,
            pool,
        }
    }

    pub fn is_huge(&self) -> bool {
        self.page_size > BASE_PAGE
    }

    /// Map `len` bytes (rounded up to the page size) of this backing.
    pub fn map(&self, len: u64, populate: bool) -> io::Result<Region> {
        let len = util::round_up(len.max(1), self.page_size);
        match &self.kind {
            BackingKind::Anon4k => {
                let r = Region::anon(len, 0, populate && !has_populate_write(), BASE_PAGE)?;
                // Keep THP "always" from turning this into huge pages; ignore errors.
                r.madvise(libc::MADV_NOHUGEPAGE).ok();
                if populate && has_populate_write() {
                    r.madvise(MADV_POPULATE_WRITE)?;
                }
                Ok(r)
            }
            BackingKind::Thp => {
                let r = Region::anon(len, 0, false, 2 * MIB)?;
                r.madvise(libc::MADV_HUGEPAGE)?;
                if populate && r.madvise(MADV_POPULATE_WRITE).is_err() {
                    r.touch_all(BASE_PAGE);
                }
                Ok(r)
            }
            BackingKind::HugetlbFlag => {
                let shift = self.page_size.trailing_zeros() as libc::c_int;
                let flags = libc::MAP_HUGETLB | (shift << libc::MAP_HUGE_SHIFT);
                Region::anon(len, flags, populate, self.page_size)
            }
            BackingKind::Mount { path, .. } => {
                let fd = Arc::new(create_unlinked(path)?);
                // SAFETY: valid fd; ftruncate on hugetlbfs sets the file size (page multiple).
                if unsafe { libc::ftruncate(fd.as_raw_fd(), len as libc::off_t) } != 0 {
                    return Err(io::Error::last_os_error());
                }
                Region::file(fd, len, populate, self.page_size)
            }
        }
    }
}

pub const MADV_POPULATE_WRITE: libc::c_int = 23;
/// statfs f_type of the kernel's hugetlbfs.
pub const HUGETLBFS_MAGIC: i64 = 0x9584_58f6;

/// MADV_POPULATE_WRITE exists since Linux 5.14.
fn has_populate_write() -> bool {
    static CACHE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *CACHE.get_or_init(|| {
        Region::anon(BASE_PAGE, 0, false, BASE_PAGE)
            .map(|r| r.madvise(MADV_POPULATE_WRITE).is_ok())
            .unwrap_or(false)
    })
}

static FILE_SEQ: AtomicU64 = AtomicU64::new(0);

/// Create a new file in `dir` and unlink it at once: its pages go back to the pool when the
/// last mapping and descriptor close, even if rhbench is killed.
fn create_unlinked(dir: &Path) -> io::Result<OwnedFd> {
    let name = dir.join(format!(
        ".rhbench-{}-{}",
        std::process::id(),
        FILE_SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let c = CString::new(name.as_os_str().as_bytes())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    // SAFETY: valid C string; flags and mode are plain integers.
    let fd = unsafe {
        libc::open(
            c.as_ptr(),
            libc::O_RDWR | libc::O_CREAT | libc::O_EXCL | libc::O_CLOEXEC,
            0o600,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by open and is owned by nobody else.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: valid C string.
    unsafe { libc::unlink(c.as_ptr()) };
    Ok(owned)
}

/// A mapping. Unmapped (and its file closed) on drop.
#[derive(Debug)]
pub struct Region {
    ptr: *mut u8,
    len: usize,
    /// The whole mapping (may include alignment slack that was unmapped already: no).
    fd: Option<Arc<OwnedFd>>,
    page_size: u64,
}

// SAFETY: a Region is an owned mapping; moving it across threads is fine.
unsafe impl Send for Region {}

impl Region {
    /// Anonymous private mapping aligned to `align` (over-map, then trim the slack).
    fn anon(len: u64, extra_flags: libc::c_int, populate: bool, align: u64) -> io::Result<Region> {
        let len = len as usize;
        let hugetlb = extra_flags & libc::MAP_HUGETLB != 0;
        let align = align as usize;
        // MAP_HUGETLB mappings are naturally aligned; others get over-mapped and trimmed.
        let map_len = if hugetlb || align <= BASE_PAGE as usize {
            len
        } else {
            len + align
        };
        let mut flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | extra_flags;
        if populate {
            flags |= libc::MAP_POPULATE;
        }
        // SAFETY: anonymous mapping request; the result is checked.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                map_len,
                libc::PROT_READ | libc::PROT_WRITE,
                flags,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let base = p as usize;
        let start = if map_len > len {
            let aligned = base.div_ceil(align) * align;
            // SAFETY: unmapping the unaligned head and the tail slack of our own mapping.
            unsafe {
                if aligned > base {
                    libc::munmap(base as *mut libc::c_void, aligned - base);
                }
                let end = base + map_len;
                let keep_end = aligned + len;
                if end > keep_end {
                    libc::munmap(keep_end as *mut libc::c_void, end - keep_end);
                }
            }
            aligned
        } else {
            base
        };
        Ok(Region {
            ptr: start as *mut u8,
            len,
            fd: None,
            page_size: align.max(BASE_PAGE as usize) as u64,
        })
    }

    fn file(fd: Arc<OwnedFd>, len: u64, populate: bool, page_size: u64) -> io::Result<Region> {
        let mut flags = libc::MAP_SHARED;
        if populate {
            flags |= libc::MAP_POPULATE;
        }
        // SAFETY: shared mapping of our own file; the result is checked.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len as usize,
                libc::PROT_READ | libc::PROT_WRITE,
                flags,
                fd.as_raw_fd(),
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Region {
            ptr: p as *mut u8,
            len: len as usize,
            fd: Some(fd),
            page_size,
        })
    }

    /// A second mapping of the same file (shared-page read faults). `None` for anonymous.
    pub fn map_again(&self) -> Option<io::Result<Region>> {
        let fd = self.fd.clone()?;
        Some(Region::file(fd, self.len as u64, false, self.page_size))
    }

    /// fallocate the whole file (allocates and zeroes every page): the "prefault" path of a
    /// hugetlbfs-like file system. `None` for anonymous memory.
    pub fn fallocate(&self) -> Option<io::Result<()>> {
        let fd = self.fd.as_ref()?;
        // SAFETY: valid fd; mode 0 allocates the range.
        let rc = unsafe { libc::fallocate(fd.as_raw_fd(), 0, 0, self.len as libc::off_t) };
        Some(if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        })
    }

    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr
    }
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn madvise(&self, advice: libc::c_int) -> io::Result<()> {
        // SAFETY: the range is our own mapping.
        let rc = unsafe { libc::madvise(self.ptr as *mut libc::c_void, self.len, advice) };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    /// Write one byte every `stride` bytes (faults everything in).
    pub fn touch_all(&self, stride: u64) {
        let mut off = 0usize;
        while off < self.len {
            // SAFETY: in bounds of our mapping.
            unsafe { std::ptr::write_volatile(self.ptr.add(off), 1) };
            off += stride as usize;
        }
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly what we mapped.
        unsafe {
            libc::munmap(self.ptr as *mut libc::c_void, self.len);
        }
    }
}

/// What `/proc/self/smaps` says about the mapping that contains an address.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmapsInfo {
    pub size_kb: u64,
    pub rss_kb: u64,
    pub anon_huge_kb: u64,
    pub kernel_page_kb: u64,
}

pub fn smaps_for(addr: usize) -> Option<SmapsInfo> {
    let text = std::fs::read_to_string("/proc/self/smaps").ok()?;
    parse_smaps(&text, addr)
}

pub fn parse_smaps(text: &str, addr: usize) -> Option<SmapsInfo> {
    let mut cur: Option<SmapsInfo> = None;
    for line in text.lines() {
        let first = line.split_whitespace().next().unwrap_or("");
        if let Some((a, b)) = first.split_once('-') {
            if let (Ok(s), Ok(e)) = (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16)) {
                if cur.is_some() {
                    return cur;
                }
                if s <= addr && addr < e {
                    cur = Some(SmapsInfo::default());
                }
                continue;
            }
        }
        let Some(info) = cur.as_mut() else { continue };
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let kb: u64 = v
            .split_whitespace()
            .next()
            .and_then(|x| x.parse().ok())
            .unwrap_or(0);
        match k {
            "Size" => info.size_kb = kb,
            "Rss" => info.rss_kb = kb,
            "AnonHugePages" => info.anon_huge_kb = kb,
            "KernelPageSize" => info.kernel_page_kb = kb,
            _ => {}
        }
    }
    cur
}

/// A mounted file system from `/proc/self/mounts`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountEntry {
    pub path: PathBuf,
    pub fstype: String,
    pub options: String,
}

pub fn parse_mounts(text: &str) -> Vec<MountEntry> {
    text.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let _src = it.next()?;
            let path = it.next()?.replace("\\040", " ");
            let fstype = it.next()?.to_string();
            let options = it.next().unwrap_or("").to_string();
            Some(MountEntry {
                path: PathBuf::from(path),
                fstype,
                options,
            })
        })
        .collect()
}

pub fn mounts() -> Vec<MountEntry> {
    std::fs::read_to_string("/proc/self/mounts")
        .map(|t| parse_mounts(&t))
        .unwrap_or_default()
}

/// The mount containing `path` (longest matching mount point).
pub fn mount_of(path: &Path, table: &[MountEntry]) -> Option<MountEntry> {
    let canon = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    table
        .iter()
        .filter(|m| canon.starts_with(&m.path))
        .max_by_key(|m| m.path.as_os_str().len())
        .cloned()
}

/// statfs: (f_type, f_bsize). On hugetlbfs-like file systems f_bsize is the huge page size.
pub fn statfs(path: &Path) -> io::Result<(i64, u64)> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    // SAFETY: zeroed statfs is a valid out buffer.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: valid C string and out pointer.
    if unsafe { libc::statfs(c.as_ptr(), &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    #[allow(clippy::unnecessary_cast)]
    Ok((st.f_type as i64, st.f_bsize as u64))
}

/// Describe a user-given mount (`--mount PATH`): its fs type (from the mount table, or
/// "hugetlbfs" by magic), page size (statfs f_bsize), and its pool directory when one exists.
pub fn describe_mount(
    path: &Path,
    table: &[MountEntry],
    kernel_pools: &[PoolDir],
    module_sysfs: &Path,
) -> Result<Backing, String> {
    let (ftype, bsize) = statfs(path).map_err(|e| format!("{}: statfs: {e}", path.display()))?;
    let entry = mount_of(path, table);
    let fstype = match &entry {
        Some(m) => m.fstype.clone(),
        None if ftype == HUGETLBFS_MAGIC => "hugetlbfs".to_string(),
        None => "unknown".to_string(),
    };
    if bsize <= BASE_PAGE {
        return Err(format!(
            "{}: {fstype} with block size {bsize}: not a huge-page file system",
            path.display()
        ));
    }
    let pool = if fstype == "hugetlbfs" {
        kernel_pools.iter().find(|p| p.page_size == bsize).cloned()
    } else {
        // /sys/fs/<fstype>/hugepages first, then the configured module sysfs root.
        let by_name = PathBuf::from(format!("/sys/fs/{fstype}/hugepages"));
        crate::pools::discover(&by_name, &fstype)
            .into_iter()
            .chain(crate::pools::discover(module_sysfs, &fstype))
            .find(|p| p.page_size == bsize)
    };
    Ok(Backing::mount(path, &fstype, bsize, pool))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smaps_parsing_finds_the_right_vma() {
        let text = "\
7f0000000000-7f0000200000 rw-p 00000000 00:00 0
Size:               2048 kB
KernelPageSize:        4 kB
Rss:                2048 kB
AnonHugePages:      2048 kB
7f0000200000-7f0000400000 rw-s 00000000 00:2d 123  /dev/hugepages/x
Size:               2048 kB
KernelPageSize:     2048 kB
Rss:                   0 kB
AnonHugePages:         0 kB
";
        let a = parse_smaps(text, 0x7f0000000100).unwrap();
        assert_eq!(a.anon_huge_kb, 2048);
        assert_eq!(a.kernel_page_kb, 4);
        let b = parse_smaps(text, 0x7f0000200000).unwrap();
        assert_eq!(b.kernel_page_kb, 2048);
        assert_eq!(b.rss_kb, 0);
        assert!(parse_smaps(text, 0x10).is_none());
    }

    #[test]
    fn mount_table_parsing() {
        let t = "none /dev/hugepages hugetlbfs rw,relatime,pagesize=2M 0 0\n\
                 none /mnt/rh2m rhugetlbfs rw,pagesize=2M 0 0\n\
                 /dev/vda / ext4 rw 0 0\n";
        let m = parse_mounts(t);
        assert_eq!(m.len(), 3);
        assert_eq!(m[1].fstype, "rhugetlbfs");
        assert_eq!(
            mount_of(Path::new("/mnt/rh2m/sub"), &m).unwrap().fstype,
            "rhugetlbfs"
        );
        assert_eq!(mount_of(Path::new("/etc"), &m).unwrap().fstype, "ext4");
    }

    #[test]
    fn anon_mappings_work_and_align() {
        let r = Backing::anon_4k().map(3 * BASE_PAGE + 1, false).unwrap();
        assert_eq!(r.len(), 4 * BASE_PAGE as usize);
        r.touch_all(BASE_PAGE);
        // THP mappings are 2 MiB aligned whether or not THP is enabled.
        if let Ok(t) = Backing::thp().map(2 * MIB, false) {
            assert_eq!(t.as_ptr() as usize % (2 * MIB as usize), 0);
            assert!(smaps_for(t.as_ptr() as usize).is_some());
        }
        // An anonymous region has no file to map again or fallocate.
        assert!(r.map_again().is_none());
        assert!(r.fallocate().is_none());
    }

    #[test]
    fn mount_backing_naming() {
        let b = Backing::mount(Path::new("/mnt/rh2m"), "rhugetlbfs", 2 * MIB, None);
        assert_eq!(b.id, "rhugetlbfs-2M");
        assert_eq!(b.implementation, "rhugetlbfs");
        let k = Backing::mount(Path::new("/dev/hugepages"), "hugetlbfs", util::GIB, None);
        assert_eq!(k.id, "hugetlbfs-1G");
        assert_eq!(k.implementation, "kernel");
        assert_eq!(Backing::hugetlb_flag(2 * MIB, None).id, "hugetlb-2M");
        assert!(describe_mount(Path::new("/"), &[], &[], Path::new("/nonexistent")).is_err());
    }
}
