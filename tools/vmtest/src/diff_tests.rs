//! The differences from the kernel's hugetlbfs (issue 16), as one table: every case runs on
//! rhugetlbfs and on hugetlbfs in this guest, and each result must be the one the table
//! gives for that side. A row whose two results differ is a difference the README lists
//! with its reason ("What differs from hugetlbfs"); a row whose results agree is a
//! behaviour that once differed and was fixed. The whole table is printed either way.

use crate::harness::{Suite, TestResult};
use crate::map::{Map, PRIVATE, RW, SHARED};
use crate::os::{mbind_move, mount_fs, outcome, umount};
use crate::own_tests::{map_ok, Mnt};
use crate::sys::{self, Fs};
use anyhow::{ensure, Context, Result};
use rustix::mm::{Advice, MapFlags, MremapFlags};

pub fn register(s: &mut Suite) {
    s.add("diff_table_against_hugetlbfs_2m", table);
}

/// One case: what it does, and the result expected on rhugetlbfs and on hugetlbfs.
struct Case {
    name: &'static str,
    run: fn(&Mnt) -> Result<String>,
    rh: &'static str,
    kernel: &'static str,
}

const CASES: &[Case] = &[
    Case {
        name: "madvise(MADV_DODUMP), shared",
        run: |m| madvise_shared(m, Advice::LinuxDoDump),
        rh: "EINVAL",
        kernel: "0",
    },
    Case {
        name: "madvise(MADV_DONTNEED), shared",
        run: |m| madvise_shared(m, Advice::LinuxDontNeed),
        rh: "0",
        kernel: "0",
    },
    Case {
        name: "madvise(MADV_COLD), private",
        run: |m| madvise_private(m, Advice::LinuxCold),
        rh: "0",
        kernel: "EINVAL",
    },
    Case {
        name: "madvise(MADV_PAGEOUT), private",
        run: |m| madvise_private(m, Advice::LinuxPageOut),
        rh: "0",
        kernel: "EINVAL",
    },
    Case {
        name: "madvise(MADV_POPULATE_WRITE), shared",
        run: |m| madvise_shared(m, Advice::LinuxPopulateWrite),
        rh: "0",
        kernel: "0",
    },
    Case {
        name: "madvise(MADV_COLD), shared",
        run: |m| madvise_shared(m, Advice::LinuxCold),
        rh: "0",
        kernel: "EINVAL",
    },
    Case {
        name: "madvise(MADV_PAGEOUT), shared",
        run: |m| madvise_shared(m, Advice::LinuxPageOut),
        rh: "0",
        kernel: "EINVAL",
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
        run: mbind_move_both,
        rh: "EIO",
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
        rh: "0",
        kernel: "0",
    },
    Case {
        name: "FUTEX_WAKE (process-shared) on a written private mapping",
        run: futex_wake_private,
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
    // Always both, on either kernel: the table is the comparison (issue 16), and cheap.
    for fs in [Fs::Rh, Fs::Kernel] {
        let m = Mnt::new(fs, 2048, 16)?;
        for (i, c) in CASES.iter().enumerate() {
            let got = (c.run)(&m).with_context(|| format!("{fs:?}: {}", c.name))?;
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
            .with_context(|| format!("{fs:?} after the table"))?;
    }
    ensure!(wrong.is_empty(), "{}", wrong.join("; "));
    Ok(())
}

/// A mapping of the mount's file `name` with its first byte written.
fn touched(m: &Mnt, name: &str, flags: MapFlags) -> Result<Map> {
    let p = map_ok(&m.path(name), m.hsize(), RW, flags)?;
    p.set(0, 1);
    Ok(p)
}

fn madvise_shared(m: &Mnt, advice: Advice) -> Result<String> {
    let p = touched(m, "madv-s", SHARED)?;
    Ok(outcome(p.advise(advice)))
}

fn madvise_private(m: &Mnt, advice: Advice) -> Result<String> {
    let p = touched(m, "madv-p", PRIVATE)?;
    Ok(outcome(p.advise(advice)))
}

fn dontneed_private(m: &Mnt) -> Result<String> {
    let s = touched(m, "dn", SHARED)?;
    let p = map_ok(&m.path("dn"), m.hsize(), RW, PRIVATE)?;
    p.set(0, 2);
    let r = p.advise(Advice::LinuxDontNeed);
    if r.is_err() {
        return Ok(outcome(r));
    }
    let (seen, file) = (p.get(0), s.get(0));
    Ok(match seen {
        2 => "private copy kept".into(),
        v if v == file => "file seen".into(),
        v => format!("read {v}"),
    })
}

fn mremap(m: &Mnt, factor: usize) -> Result<String> {
    let p = touched(m, "mremap", SHARED)?;
    let hs = m.hsize();
    let (old, new) = if factor == 0 {
        (0, hs)
    } else {
        (hs, hs * factor)
    };
    // SAFETY: mremap of our mapping (with old_len 0: a second mapping of the same pages,
    // elsewhere); a new mapping it makes is unmapped below, and `p` is not touched again
    // (its drop unmaps what is left of the old range).
    let q = unsafe { rustix::mm::mremap(p.ptr().cast(), old, new, MremapFlags::MAYMOVE) };
    let Ok(q) = q else {
        return Ok(outcome(q));
    };
    // SAFETY: What mremap made, ours alone.
    let _ = unsafe { rustix::mm::munmap(q, new) };
    Ok("0".into())
}

/// Binds the touched page to node 0, then to node 1 (the guest has two): one of the two
/// must move it. The first failure, or 0.
fn mbind_move_both(m: &Mnt) -> Result<String> {
    let p = touched(m, "mbind", SHARED)?;
    for node in 0..2 {
        let r = mbind_move(&p, node);
        if r.is_err() {
            return Ok(outcome(r));
        }
    }
    Ok("0".into())
}

fn mmap_size_max(m: &Mnt) -> Result<String> {
    // A mapping request the kernel refuses; were it to succeed, it is unmapped. (The file
    // is not sized first, as `map` would.)
    Ok(outcome(Map::of_path(&m.path("big"), usize::MAX, 0, SHARED)))
}

fn mount_nr_inodes_0(m: &Mnt) -> Result<String> {
    let dir = "/tmp/diff-nr-inodes";
    std::fs::create_dir_all(dir)?;
    match mount_fs(m.fs.fstype(), dir, "pagesize=2M,nr_inodes=0") {
        Ok(()) => {
            let r = std::fs::File::create(format!("{dir}/f"));
            umount(dir)?;
            Ok(match r {
                Ok(_) => "mounted, file created".into(),
                Err(e) => format!("mounted, create {}", outcome::<()>(Err(sys::errno_of(&e)))),
            })
        }
        Err(e) => Ok(outcome::<()>(Err(e))),
    }
}

fn futex_wake_shared(m: &Mnt) -> Result<String> {
    let p = touched(m, "futex", SHARED)?;
    // FUTEX_WAKE, process-shared (no FUTEX_PRIVATE_FLAG), on a word of our mapping.
    let r = rustix::thread::futex::wake(p.atomic_u32(0), rustix::thread::futex::Flags::empty(), 1);
    Ok(outcome(r))
}

fn futex_wake_private(m: &Mnt) -> Result<String> {
    let p = touched(m, "futex-private", PRIVATE)?;
    p.set(0, 1);
    // As above, on the mapping's own (copied) page.
    let r = rustix::thread::futex::wake(p.atomic_u32(0), rustix::thread::futex::Flags::empty(), 1);
    Ok(outcome(r))
}

fn symlink(m: &Mnt) -> Result<String> {
    Ok(outcome(rustix::fs::symlink("target", m.path("link"))))
}
