//! The differences from the kernel's hugetlbfs (issue 16), as one table: every case runs on
//! rhugetlbfs and on hugetlbfs in this guest, and each result must be the one the table
//! gives for that side. A row whose two results differ is a difference the README lists
//! with its reason ("What differs from hugetlbfs"); a row whose results agree is a
//! behaviour that once differed and was fixed. The whole table is printed either way.

use crate::harness::{Suite, TestResult};
use crate::own_tests::{errno, map_ok, mount, umount, Fs, Mnt, RW};
use std::ffi::CString;

pub fn register(s: &mut Suite) {
    s.add("diff_table_against_hugetlbfs_2m", table);
}

/// One case: what it does, and the result expected on rhugetlbfs and on hugetlbfs.
struct Case {
    name: &'static str,
    run: fn(&Mnt) -> Result<String, String>,
    rh: &'static str,
    kernel: &'static str,
}

const CASES: &[Case] = &[
    Case {
        name: "madvise(MADV_DODUMP), shared",
        run: |m| madvise_shared(m, libc::MADV_DODUMP),
        rh: "EINVAL",
        kernel: "0",
    },
    Case {
        name: "madvise(MADV_DONTNEED), shared",
        run: |m| madvise_shared(m, libc::MADV_DONTNEED),
        rh: "EINVAL",
        kernel: "0",
    },
    Case {
        name: "madvise(MADV_COLD), private",
        run: |m| madvise_private(m, libc::MADV_COLD),
        rh: "0",
        kernel: "EINVAL",
    },
    Case {
        name: "madvise(MADV_PAGEOUT), private",
        run: |m| madvise_private(m, libc::MADV_PAGEOUT),
        rh: "0",
        kernel: "EINVAL",
    },
    Case {
        name: "madvise(MADV_POPULATE_WRITE), shared",
        run: |m| madvise_shared(m, libc::MADV_POPULATE_WRITE),
        rh: "EINVAL",
        kernel: "0",
    },
    Case {
        name: "MADV_DONTNEED on a written private mapping, then read",
        run: dontneed_private,
        rh: "private copy kept",
        kernel: "file seen",
    },
    Case {
        name: "mremap growth (MREMAP_MAYMOVE)",
        run: |m| mremap(m, 2),
        rh: "EFAULT",
        kernel: "EINVAL",
    },
    Case {
        name: "mremap with old_len 0",
        run: |m| mremap(m, 0),
        rh: "EFAULT",
        kernel: "EINVAL",
    },
    Case {
        name: "mbind(MPOL_BIND, STRICT | MOVE) of a touched page to each node",
        run: mbind_move,
        rh: "0",
        kernel: "0",
    },
    Case {
        name: "mmap of length SIZE_MAX",
        run: mmap_size_max,
        rh: "ENOMEM",
        kernel: "EINVAL",
    },
    Case {
        name: "mount -o nr_inodes=0",
        run: mount_nr_inodes_0,
        rh: "ENOMEM",
        kernel: "ENOMEM",
    },
    Case {
        name: "FUTEX_WAKE (process-shared) on a shared mapping",
        run: futex_wake_shared,
        rh: "EFAULT",
        kernel: "0",
    },
    Case {
        name: "symlink",
        run: symlink,
        rh: "0",
        kernel: "EINVAL",
    },
];

fn table() -> TestResult {
    let mut rows = Vec::new();
    let mut wrong = Vec::new();
    for fs in [Fs::Rh, Fs::Kernel] {
        let m = Mnt::new(fs, 2048, 16)?;
        for (i, c) in CASES.iter().enumerate() {
            let got = (c.run)(&m).map_err(|e| format!("{fs:?}: {}: {e}", c.name))?;
            let want = if fs == Fs::Rh { c.rh } else { c.kernel };
            if got != want {
                wrong.push(format!("{fs:?}: {}: {got}, want {want}", c.name));
            }
            if fs == Fs::Rh {
                rows.push((i, got));
            } else if let Some(row) = rows.get_mut(i) {
                let diff = if row.1 == got { "" } else { "  <- differs" };
                println!("    {:<66} rh {:<18} hugetlbfs {got}{diff}", c.name, row.1);
            }
        }
        m.check_idle()
            .map_err(|e| format!("{fs:?} after the table: {e}"))?;
    }
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(wrong.join("; "))
    }
}

/// 0 or the errno's name.
fn outcome(r: i64) -> String {
    if r >= 0 {
        return "0".into();
    }
    let e = errno();
    match e {
        libc::EINVAL => "EINVAL".into(),
        libc::EFAULT => "EFAULT".into(),
        libc::ENOMEM => "ENOMEM".into(),
        libc::ENOSPC => "ENOSPC".into(),
        libc::EIO => "EIO".into(),
        libc::EPERM => "EPERM".into(),
        libc::EBUSY => "EBUSY".into(),
        _ => format!("errno {e}"),
    }
}

fn touched(m: &Mnt, name: &str, flags: i32) -> Result<crate::own_tests::Map, String> {
    let p = map_ok(&m.path(name), m.hsize(), RW, flags)?;
    // SAFETY: Inside the mapping.
    unsafe { *p.p = 1 };
    Ok(p)
}

fn madvise_shared(m: &Mnt, advice: i32) -> Result<String, String> {
    let p = touched(m, "madv-s", libc::MAP_SHARED)?;
    // SAFETY: madvise on our mapping.
    let r = unsafe { libc::madvise(p.p.cast(), m.hsize(), advice) };
    Ok(outcome(r.into()))
}

fn madvise_private(m: &Mnt, advice: i32) -> Result<String, String> {
    let p = touched(m, "madv-p", libc::MAP_PRIVATE)?;
    // SAFETY: madvise on our mapping.
    let r = unsafe { libc::madvise(p.p.cast(), m.hsize(), advice) };
    Ok(outcome(r.into()))
}

fn dontneed_private(m: &Mnt) -> Result<String, String> {
    let s = touched(m, "dn", libc::MAP_SHARED)?;
    let p = map_ok(&m.path("dn"), m.hsize(), RW, libc::MAP_PRIVATE)?;
    // SAFETY: Inside the mappings.
    unsafe { *p.p = 2 };
    // SAFETY: madvise on our mapping.
    let r = unsafe { libc::madvise(p.p.cast(), m.hsize(), libc::MADV_DONTNEED) };
    if r != 0 {
        return Ok(outcome(r.into()));
    }
    // SAFETY: Inside the mappings.
    let (seen, file) = unsafe { (*p.p, *s.p) };
    Ok(match seen {
        2 => "private copy kept".into(),
        v if v == file => "file seen".into(),
        v => format!("read {v}"),
    })
}

fn mremap(m: &Mnt, factor: usize) -> Result<String, String> {
    let p = touched(m, "mremap", libc::MAP_SHARED)?;
    let hs = m.hsize();
    let (old, new) = if factor == 0 {
        (0, hs)
    } else {
        (hs, hs * factor)
    };
    // SAFETY: mremap of our mapping; a new mapping it makes is unmapped below.
    let q = unsafe { libc::mremap(p.p.cast(), old, new, libc::MREMAP_MAYMOVE) };
    if q == libc::MAP_FAILED {
        return Ok(outcome(-1));
    }
    // SAFETY: What mremap made (`p`'s drop unmaps the old range, if anything is left).
    unsafe { libc::munmap(q, new) };
    Ok("0".into())
}

/// Binds the touched page to node 0, then to node 1 (the guest has two): one of the two
/// must move it. The first failure, or 0.
fn mbind_move(m: &Mnt) -> Result<String, String> {
    let p = touched(m, "mbind", libc::MAP_SHARED)?;
    for node in 0..2 {
        let mask: u64 = 1 << node;
        // SAFETY: mbind(2) of our mapping with a one-word node mask.
        let r = unsafe {
            libc::syscall(
                libc::SYS_mbind,
                p.p,
                m.hsize(),
                2, // MPOL_BIND
                &mask,
                64,
                3, // MPOL_MF_STRICT | MPOL_MF_MOVE
            )
        };
        if r != 0 {
            return Ok(outcome(r));
        }
    }
    Ok("0".into())
}

fn mmap_size_max(m: &Mnt) -> Result<String, String> {
    use std::os::unix::io::AsRawFd;
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(m.path("big"))
        .map_err(|e| e.to_string())?;
    // SAFETY: A mapping request the kernel refuses; were it to succeed, it is unmapped.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            usize::MAX,
            RW,
            libc::MAP_SHARED,
            f.as_raw_fd(),
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return Ok(outcome(-1));
    }
    // SAFETY: See above.
    unsafe { libc::munmap(p, usize::MAX) };
    Ok("0".into())
}

fn mount_nr_inodes_0(m: &Mnt) -> Result<String, String> {
    let dir = "/tmp/diff-nr-inodes";
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let fstype = if m.fs == Fs::Rh {
        "rhugetlbfs"
    } else {
        "hugetlbfs"
    };
    match mount(fstype, dir, "pagesize=2M,nr_inodes=0") {
        Ok(()) => {
            let r = std::fs::File::create(format!("{dir}/f"));
            umount(dir)?;
            Ok(match r {
                Ok(_) => "mounted, file created".into(),
                Err(e) => format!("mounted, create {}", outcome_of(&e)),
            })
        }
        Err(_) => Ok(outcome(-1)),
    }
}

fn outcome_of(e: &std::io::Error) -> String {
    // SAFETY: Sets our thread's errno for `outcome` to read.
    unsafe { *libc::__errno_location() = e.raw_os_error().unwrap_or(0) };
    outcome(-1)
}

fn futex_wake_shared(m: &Mnt) -> Result<String, String> {
    let p = touched(m, "futex", libc::MAP_SHARED)?;
    // SAFETY: FUTEX_WAKE (process-shared: no FUTEX_PRIVATE_FLAG) on a word of our mapping.
    let r = unsafe {
        libc::syscall(
            libc::SYS_futex,
            p.p,
            libc::FUTEX_WAKE,
            1,
            std::ptr::null::<libc::timespec>(),
            std::ptr::null::<u32>(),
            0,
        )
    };
    Ok(outcome(r))
}

fn symlink(m: &Mnt) -> Result<String, String> {
    let (target, link) = (
        CString::new("target").unwrap(),
        CString::new(m.path("link")).unwrap(),
    );
    // SAFETY: Valid C strings.
    let r = unsafe { libc::symlink(target.as_ptr(), link.as_ptr()) };
    Ok(outcome(r.into()))
}
