//! Bad input (issue 14, part 2): a catalogue of wrong or hostile arguments to every entry
//! point a user reaches (the writable sysfs files, mount options, `mmap` and its relatives
//! with every `madvise` advice, truncation, `fallocate` modes and ranges, the read and write
//! paths, opens, names, extended attributes, locks, the inode limit), each run on rhugetlbfs
//! and on the kernel's hugetlbfs in this guest.
//!
//! A case must give the result the table names for its side, and must change nothing: the
//! pool counters, the fixture's files (names, sizes, modes, link counts, and bytes of the
//! data file on both sides of its page boundary), the mount table and the `statfs` of the
//! mount are compared before and after every case. A case that succeeds undoes what it
//! made (a mount is unmounted, a scratch file removed) before the comparison. A row whose
//! two results differ is printed with `<- differs`; each is a line of the README's
//! differences list with its reason.

use crate::harness::{Suite, TestResult};
use crate::map::{create_sized, Map, PRIVATE, RW, SHARED};
use crate::os::{mount_fs, outcome, umount};
use crate::own_tests::Mnt;
use crate::sys::{self, Fs};
use anyhow::{bail, ensure, Context, Result};
use rustix::io::Errno;
use rustix::mm::{MapFlags, ProtFlags};
use std::ffi::CString;
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};

pub fn register(s: &mut Suite) {
    s.add("badinput_catalogue_against_hugetlbfs_2m", catalogue);
    s.add("badinput_rmmod_while_mounted_open_mapped", rmmod_cases);
}

/// One case: its group, what it does, and the result expected on each side.
struct Case {
    group: &'static str,
    name: &'static str,
    run: fn(&Fx) -> Result<String>,
    rh: &'static str,
    kernel: &'static str,
}

const fn c(
    group: &'static str,
    name: &'static str,
    run: fn(&Fx) -> Result<String>,
    rh: &'static str,
    kernel: &'static str,
) -> Case {
    Case {
        group,
        name,
        run,
        rh,
        kernel,
    }
}

/// Every advice of madvise(2) but MADV_HWPOISON and MADV_SOFT_OFFLINE (which poison or
/// migrate a page for good: not bad input, memory-failure injection), and one unknown.
const ADVICE: [(&str, i32); 22] = [
    ("NORMAL", libc::MADV_NORMAL),
    ("RANDOM", libc::MADV_RANDOM),
    ("SEQUENTIAL", libc::MADV_SEQUENTIAL),
    ("WILLNEED", libc::MADV_WILLNEED),
    ("DONTNEED", libc::MADV_DONTNEED),
    ("FREE", libc::MADV_FREE),
    ("REMOVE", libc::MADV_REMOVE),
    ("DONTFORK", libc::MADV_DONTFORK),
    ("DOFORK", libc::MADV_DOFORK),
    ("MERGEABLE", libc::MADV_MERGEABLE),
    ("UNMERGEABLE", libc::MADV_UNMERGEABLE),
    ("HUGEPAGE", libc::MADV_HUGEPAGE),
    ("NOHUGEPAGE", libc::MADV_NOHUGEPAGE),
    ("DONTDUMP", libc::MADV_DONTDUMP),
    ("WIPEONFORK", libc::MADV_WIPEONFORK),
    ("KEEPONFORK", libc::MADV_KEEPONFORK),
    ("POPULATE_READ", 22),
    ("DONTNEED_LOCKED", 24),
    ("COLLAPSE", 25),
    ("GUARD_INSTALL (unknown to 6.12)", 102),
    ("999 (unknown)", 999),
    ("-1 (unknown)", -1),
];

/// The results of [`ADVICE`] on a touched shared page: (rhugetlbfs, hugetlbfs).
const ADVICE_SHARED: [(&str, &str); 22] = [
    ("0", "0"),
    ("0", "0"),
    ("0", "0"),
    ("0", "0"),
    ("0", "0"),
    ("EINVAL", "EINVAL"),
    ("0", "0"),
    ("0", "0"),
    ("0", "0"),
    ("EINVAL", "EINVAL"),
    ("EINVAL", "EINVAL"),
    ("0", "0"),
    ("0", "0"),
    ("0", "0"),
    ("EINVAL", "EINVAL"),
    ("0", "0"),
    ("0", "0"),
    ("0", "0"),
    ("EINVAL", "EINVAL"),
    ("EINVAL", "EINVAL"),
    ("EINVAL", "EINVAL"),
    ("EINVAL", "EINVAL"),
];

/// The same on a written private page.
const ADVICE_PRIVATE: [(&str, &str); 22] = [
    ("0", "0"),
    ("0", "0"),
    ("0", "0"),
    ("0", "0"),
    ("0", "0"),
    ("EINVAL", "EINVAL"),
    ("EACCES", "EACCES"),
    ("0", "0"),
    ("0", "0"),
    ("EINVAL", "EINVAL"),
    ("EINVAL", "EINVAL"),
    ("0", "0"),
    ("0", "0"),
    ("0", "0"),
    ("EINVAL", "EINVAL"),
    ("0", "0"),
    ("0", "0"),
    ("0", "0"),
    ("EINVAL", "EINVAL"),
    ("EINVAL", "EINVAL"),
    ("EINVAL", "EINVAL"),
    ("EINVAL", "EINVAL"),
];

#[rustfmt::skip]
fn cases() -> Vec<Case> {
    let mut v = vec![
        // sysfs: the pool's writable files, then read-only ones opened for writing.
        c("sysfs", "nr_hugepages '' (a write of 0 bytes)", |f| f.sysfs("nr_hugepages", ""), "0", "0"),
        c("sysfs", "nr_hugepages 'abc'", |f| f.sysfs("nr_hugepages", "abc"), "EINVAL", "EINVAL"),
        c("sysfs", "nr_hugepages '-1'", |f| f.sysfs("nr_hugepages", "-1"), "EINVAL", "EINVAL"),
        c("sysfs", "nr_hugepages '1x'", |f| f.sysfs("nr_hugepages", "1x"), "EINVAL", "EINVAL"),
        c("sysfs", "nr_hugepages ' 4'", |f| f.sysfs("nr_hugepages", " 4"), "EINVAL", "EINVAL"),
        c("sysfs", "nr_hugepages '0x4'", |f| f.sysfs("nr_hugepages", "0x4"), "EINVAL", "EINVAL"),
        c("sysfs", "nr_hugepages '4\\n\\n'", |f| f.sysfs("nr_hugepages", "4\n\n"), "EINVAL", "EINVAL"),
        c("sysfs", "nr_hugepages 2^64", |f| f.sysfs("nr_hugepages", "18446744073709551616"), "ERANGE", "ERANGE"),
        c("sysfs", "nr_hugepages '+4' (the current size)", |f| f.sysfs("nr_hugepages", "+4"), "0", "0"),
        c("sysfs", "nr_overcommit_hugepages 'abc'", |f| f.sysfs("nr_overcommit_hugepages", "abc"), "EINVAL", "EINVAL"),
        c("sysfs", "nr_overcommit_hugepages '-5'", |f| f.sysfs("nr_overcommit_hugepages", "-5"), "EINVAL", "EINVAL"),
        c("sysfs", "nr_overcommit_hugepages 2^64", |f| f.sysfs("nr_overcommit_hugepages", "18446744073709551616"), "ERANGE", "ERANGE"),
        c("sysfs", "node0 nr_hugepages 'abc'", |f| f.node_sysfs("abc"), "EINVAL", "EINVAL"),
        c("sysfs", "node0 nr_hugepages '-1'", |f| f.node_sysfs("-1"), "EINVAL", "EINVAL"),
        c("sysfs", "node0 nr_hugepages '\\n'", |f| f.node_sysfs("\n"), "EINVAL", "EINVAL"),
        c("sysfs", "1 GiB nr_hugepages 'x'", |f| f.sysfs_1g("nr_hugepages", "x"), "EINVAL", "EINVAL"),
        c("sysfs", "1 GiB nr_overcommit_hugepages '-1'", |f| f.sysfs_1g("nr_overcommit_hugepages", "-1"), "EINVAL", "EINVAL"),
        c("sysfs", "1 GiB pmd_mappable '2' (rhugetlbfs's)", |f| f.rh_only(|| sys_write(&sys::hdir(1048576), "pmd_mappable", "2")), "EINVAL", "n/a"),
        c("sysfs", "1 GiB pmd_mappable 'yes' (rhugetlbfs's)", |f| f.rh_only(|| sys_write(&sys::hdir(1048576), "pmd_mappable", "yes")), "EINVAL", "n/a"),
        c("sysfs", "zero_policy 'Background' (rhugetlbfs's)", |f| f.rh_only(|| sys_write(&sys::hdir(2048), "zero_policy", "Background")), "EINVAL", "n/a"),
        c("sysfs", "zero_policy 'fault\\n\\n' (rhugetlbfs's)", |f| f.rh_only(|| sys_write(&sys::hdir(2048), "zero_policy", "fault\n\n")), "EINVAL", "n/a"),
        c("sysfs", "1 GiB clear_method 'rep' (rhugetlbfs's)", |f| f.rh_only(|| sys_write(&sys::hdir(1048576), "clear_method", "rep")), "EINVAL", "n/a"),
        c("sysfs", "clear_speed '2' (rhugetlbfs's)", |f| f.rh_only(|| sys_write(&sys::hdir(2048), "clear_speed", "2")), "EINVAL", "n/a"),
        c("sysfs", "zeroed_hugepages opened for writing (rhugetlbfs's)", |f| f.rh_only(|| sys_write(&sys::hdir(2048), "zeroed_hugepages", "0")), "EACCES", "n/a"),
        c("sysfs", "free_hugepages opened for writing", |f| f.sysfs("free_hugepages", "0"), "EACCES", "EACCES"),
        c("sysfs", "resv_hugepages opened for writing", |f| f.sysfs("resv_hugepages", "0"), "EACCES", "EACCES"),
        c("sysfs", "surplus_hugepages opened for writing", |f| f.sysfs("surplus_hugepages", "0"), "EACCES", "EACCES"),
        c("sysfs", "node0 free_hugepages opened for writing", |f| sys_write(&f.m.fs.node_hdir(0, 2048), "free_hugepages", "0"), "EACCES", "EACCES"),
        c("sysfs", "meminfo opened for writing (rhugetlbfs's)", |f| f.rh_only(|| sys_write("/sys/fs/rhugetlbfs", "meminfo", "0")), "EACCES", "n/a"),
        // Mount options, at a second directory; a mount that succeeds is unmounted.
        c("mount", "pagesize=3M", |f| f.mount("pagesize=3M"), "EINVAL", "EINVAL"),
        c("mount", "pagesize=0", |f| f.mount("pagesize=0"), "EINVAL", "EINVAL"),
        c("mount", "pagesize=4K", |f| f.mount("pagesize=4K"), "EINVAL", "EINVAL"),
        c("mount", "pagesize=", |f| f.mount("pagesize="), "EINVAL", "EINVAL"),
        c("mount", "pagesize=2M,pagesize=1G (the last wins)", |f| f.mount("pagesize=2M,pagesize=1G"), "0", "0"),
        c("mount", "size=abc", |f| f.mount("size=abc"), "EINVAL", "EINVAL"),
        c("mount", "size=", |f| f.mount("size="), "EINVAL", "EINVAL"),
        c("mount", "size=10x (garbage after the number)", |f| f.mount("size=10x"), "EINVAL", "0"),
        c("mount", "size=200%", |f| f.mount("size=200%"), "0", "0"),
        c("mount", "size=0", |f| f.mount("size=0"), "0", "0"),
        c("mount", "size=2M,min_size=4M", |f| f.mount("size=2M,min_size=4M"), "EINVAL", "EINVAL"),
        c("mount", "min_size=abc", |f| f.mount("min_size=abc"), "EINVAL", "EINVAL"),
        c("mount", "min_size=1G (more than the pool)", |f| f.mount("min_size=1G"), "ENOMEM", "ENOMEM"),
        c("mount", "nr_inodes=abc", |f| f.mount("nr_inodes=abc"), "EINVAL", "EINVAL"),
        c("mount", "nr_inodes=1x", |f| f.mount("nr_inodes=1x"), "EINVAL", "0"),
        c("mount", "mode=0999", |f| f.mount("mode=0999"), "EINVAL", "EINVAL"),
        c("mount", "mode=abc", |f| f.mount("mode=abc"), "EINVAL", "EINVAL"),
        c("mount", "uid=abc", |f| f.mount("uid=abc"), "EINVAL", "EINVAL"),
        c("mount", "uid=-1", |f| f.mount("uid=-1"), "EINVAL", "EINVAL"),
        c("mount", "gid=4294967295", |f| f.mount("gid=4294967295"), "EINVAL", "EINVAL"),
        c("mount", "bogus", |f| f.mount("bogus"), "EINVAL", "EINVAL"),
        c("mount", "bogus=1", |f| f.mount("bogus=1"), "EINVAL", "EINVAL"),
        c("mount", "map=pud with pagesize=2M", |f| f.mount("pagesize=2M,map=pud"), "EINVAL", "EINVAL"),
        c("mount", "map=bogus", |f| f.mount("map=bogus"), "EINVAL", "EINVAL"),
        // mmap of a scratch file (two pages long), removed after each case.
        c("mmap", "length 0", |f| f.mmap(0, 0, RW, SHARED), "EINVAL", "EINVAL"),
        c("mmap", "offset 4 KiB (not huge-page aligned)", |f| f.mmap(2 << 20, 4096, RW, SHARED), "EINVAL", "EINVAL"),
        c("mmap", "offset 1 (not page aligned)", |f| f.mmap(2 << 20, 1, RW, SHARED), "EINVAL", "EINVAL"),
        c("mmap", "offset 2^63 - 2 MiB (end past loff_t)", |f| f.mmap(2 << 20, (1 << 63) - (2 << 20), RW, SHARED), "EOVERFLOW", "EOVERFLOW"),
        c("mmap", "offset 2^46, one page, shared", |f| f.mmap(2 << 20, 1 << 46, RW, SHARED), "0", "0"),
        c("mmap", "length 2^47 (more than the address space)", |f| f.mmap(1 << 47, 0, RW, SHARED), "ENOMEM", "ENOMEM"),
        c("mmap", "16 pages shared, pool of 4", |f| f.mmap(32 << 20, 0, RW, SHARED), "ENOMEM", "ENOMEM"),
        c("mmap", "16 pages private, pool of 4", |f| f.mmap(32 << 20, 0, RW, PRIVATE), "ENOMEM", "ENOMEM"),
        c("mmap", "16 pages private, MAP_NORESERVE", |f| f.mmap(32 << 20, 0, RW, PRIVATE | MapFlags::NORESERVE), "0", "0"),
        c("mmap", "length 4 KiB (hugetlbfs rounds it up to a page)", |f| f.mmap(4096, 0, RW, SHARED), "EINVAL", "0"),
        c("mmap", "PROT_EXEC", |f| f.mmap(2 << 20, 0, ProtFlags::READ | ProtFlags::EXEC, SHARED), "0", "0"),
        c("mmap", "PROT_WRITE, MAP_SHARED of an O_RDONLY fd", |f| f.mmap_fd(libc::O_RDONLY, RW.bits() as i32, libc::MAP_SHARED), "EACCES", "EACCES"),
        c("mmap", "PROT_READ of an O_WRONLY fd", |f| f.mmap_fd(libc::O_WRONLY, libc::PROT_READ, libc::MAP_SHARED), "EACCES", "EACCES"),
        c("mmap", "MAP_SHARED_VALIDATE with an unknown flag", |f| f.mmap_fd(libc::O_RDWR, libc::PROT_READ, libc::MAP_SHARED_VALIDATE | 0x20_0000), "EOPNOTSUPP", "EOPNOTSUPP"),
        c("mmap", "MAP_SHARED_VALIDATE | MAP_SYNC", |f| f.mmap_fd(libc::O_RDWR, libc::PROT_READ, libc::MAP_SHARED_VALIDATE | libc::MAP_SYNC), "EOPNOTSUPP", "EOPNOTSUPP"),
        c("mmap", "MAP_HUGETLB with a file descriptor", |f| f.mmap_fd(libc::O_RDWR, libc::PROT_READ, libc::MAP_SHARED | libc::MAP_HUGETLB), "EINVAL", "0"),
        c("mmap", "MAP_GROWSDOWN", |f| f.mmap_fd(libc::O_RDWR, libc::PROT_READ, libc::MAP_SHARED | libc::MAP_GROWSDOWN), "EINVAL", "EINVAL"),
        c("mmap", "of the directory", mmap_dir, "ENODEV", "ENODEV"),
        c("mmap", "MAP_FIXED at a 4 KiB-aligned address", |f| f.mmap_fixed(4096, libc::MAP_FIXED), "EINVAL", "EINVAL"),
        c("mmap", "MAP_FIXED_NOREPLACE over a mapping", |f| f.mmap_fixed(0, libc::MAP_FIXED_NOREPLACE), "EEXIST", "EEXIST"),
        // mprotect, munmap, mremap, msync, mlock of a two-page shared mapping.
        c("mprotect", "inside a page (4 KiB from the start)", |f| f.on_map(|p| mprotect(p + 4096, 4096, libc::PROT_READ)), "EINVAL", "EINVAL"),
        c("mprotect", "start not page aligned", |f| f.on_map(|p| mprotect(p + 1, 4096, libc::PROT_READ)), "EINVAL", "EINVAL"),
        c("mprotect", "unknown protection bit", |f| f.on_map(|p| mprotect(p, 2 << 20, libc::PROT_READ | 0x100)), "EINVAL", "EINVAL"),
        c("mprotect", "PROT_GROWSUP", |f| f.on_map(|p| mprotect(p, 2 << 20, libc::PROT_READ | libc::PROT_GROWSUP)), "EINVAL", "EINVAL"),
        c("mprotect", "length 0", |f| f.on_map(|p| mprotect(p, 0, libc::PROT_READ)), "0", "0"),
        c("mprotect", "PROT_WRITE on a shared mapping of an O_RDONLY fd", mprotect_readonly_fd, "EACCES", "EACCES"),
        c("munmap", "inside a page", |f| f.on_map(|p| munmap(p + 4096, 4096)), "EINVAL", "EINVAL"),
        c("munmap", "length 0", |f| f.on_map(|p| munmap(p, 0)), "EINVAL", "EINVAL"),
        c("munmap", "start not page aligned", |f| f.on_map(|p| munmap(p + 1, 2 << 20)), "EINVAL", "EINVAL"),
        c("mremap", "shrink to 4 KiB (hugetlbfs rounds it up to a page)", |f| f.on_map(|p| mremap(p, 4 << 20, 4096, 0)), "EINVAL", "0"),
        c("mremap", "from inside a page, shrinking", |f| f.on_map(|p| mremap(p + 4096, 8192, 4096, libc::MREMAP_MAYMOVE)), "EINVAL", "EINVAL"),
        c("mremap", "MREMAP_FIXED without MREMAP_MAYMOVE", |f| f.on_map(|p| mremap(p, 2 << 20, 2 << 20, libc::MREMAP_FIXED)), "EINVAL", "EINVAL"),
        c("mremap", "MREMAP_DONTUNMAP of a shared mapping", |f| f.on_map(|p| mremap(p, 2 << 20, 2 << 20, libc::MREMAP_MAYMOVE | libc::MREMAP_DONTUNMAP)), "EINVAL", "EINVAL"),
        c("mremap", "unknown flag", |f| f.on_map(|p| mremap(p, 2 << 20, 2 << 20, 0x80)), "EINVAL", "EINVAL"),
        c("msync", "MS_SYNC | MS_ASYNC", |f| f.on_map(|p| msync(p, 2 << 20, libc::MS_SYNC | libc::MS_ASYNC)), "EINVAL", "EINVAL"),
        c("msync", "start not page aligned", |f| f.on_map(|p| msync(p + 1, 4096, libc::MS_SYNC)), "EINVAL", "EINVAL"),
        c("msync", "MS_INVALIDATE | MS_SYNC", |f| f.on_map(|p| msync(p, 4 << 20, libc::MS_SYNC | libc::MS_INVALIDATE)), "0", "0"),
        c("mlock", "mlock2 with an unknown flag", |f| f.on_map(|p| mlock2(p, 2 << 20, 0x10)), "EINVAL", "EINVAL"),
        c("mlock", "mlock2(MLOCK_ONFAULT), then munlock", |f| f.on_map(|p| mlock2(p, 4 << 20, libc::MLOCK_ONFAULT as i32)), "0", "0"),
        c("madvise", "DONTNEED from inside a page", |f| f.on_map(|p| madvise(p + 4096, 4096, libc::MADV_DONTNEED)), "0", "EINVAL"),
        c("madvise", "DONTNEED, start not page aligned", |f| f.on_map(|p| madvise(p + 1, 4096, libc::MADV_DONTNEED)), "EINVAL", "EINVAL"),
        c("madvise", "REMOVE of a private mapping", |f| f.on_private(|p| madvise(p, 2 << 20, libc::MADV_REMOVE)), "EACCES", "EACCES"),
        // Truncation of the data file (which must not change) and of a scratch file.
        c("truncate", "ftruncate(-1)", |f| f.on_data(libc::O_RDWR, |fd| ftruncate(fd, -1)), "EINVAL", "EINVAL"),
        c("truncate", "ftruncate(1 MiB) (not page aligned)", |f| f.on_data(libc::O_RDWR, |fd| ftruncate(fd, 1 << 20)), "EINVAL", "EINVAL"),
        c("truncate", "ftruncate of an O_RDONLY fd", |f| f.on_data(libc::O_RDONLY, |fd| ftruncate(fd, 0)), "EINVAL", "EINVAL"),
        c("truncate", "truncate(path, 2 MiB + 1)", |f| truncate_path(&f.data(), (2 << 20) + 1), "EINVAL", "EINVAL"),
        c("truncate", "ftruncate of the directory", |f| f.on_path(&f.m.path("dir"), libc::O_RDONLY | libc::O_DIRECTORY, |fd| ftruncate(fd, 0)), "EINVAL", "EINVAL"),
        c("truncate", "ftruncate of a scratch file to 2^62", |f| f.on_scratch(|fd| ftruncate(fd, 1 << 62)), "0", "0"),
        c("truncate", "ftruncate of a scratch file to 2^63 - 2 MiB", |f| f.on_scratch(|fd| ftruncate(fd, i64::MAX - (2 << 20) + 1)), "0", "0"),
        // fallocate modes and ranges.
        c("fallocate", "PUNCH_HOLE without KEEP_SIZE", |f| f.on_data(libc::O_RDWR, |fd| fallocate(fd, libc::FALLOC_FL_PUNCH_HOLE, 0, 2 << 20)), "EOPNOTSUPP", "EOPNOTSUPP"),
        c("fallocate", "COLLAPSE_RANGE", |f| f.on_data(libc::O_RDWR, |fd| fallocate(fd, libc::FALLOC_FL_COLLAPSE_RANGE, 0, 2 << 20)), "EOPNOTSUPP", "EOPNOTSUPP"),
        c("fallocate", "ZERO_RANGE", |f| f.on_data(libc::O_RDWR, |fd| fallocate(fd, libc::FALLOC_FL_ZERO_RANGE, 0, 2 << 20)), "EOPNOTSUPP", "EOPNOTSUPP"),
        c("fallocate", "INSERT_RANGE", |f| f.on_data(libc::O_RDWR, |fd| fallocate(fd, libc::FALLOC_FL_INSERT_RANGE, 0, 2 << 20)), "EOPNOTSUPP", "EOPNOTSUPP"),
        c("fallocate", "UNSHARE_RANGE", |f| f.on_data(libc::O_RDWR, |fd| fallocate(fd, libc::FALLOC_FL_UNSHARE_RANGE, 0, 2 << 20)), "EOPNOTSUPP", "EOPNOTSUPP"),
        c("fallocate", "unknown mode bit", |f| f.on_data(libc::O_RDWR, |fd| fallocate(fd, 0x1000, 0, 2 << 20)), "EOPNOTSUPP", "EOPNOTSUPP"),
        c("fallocate", "offset -1", |f| f.on_data(libc::O_RDWR, |fd| fallocate(fd, 0, -1, 2 << 20)), "EINVAL", "EINVAL"),
        c("fallocate", "length 0", |f| f.on_data(libc::O_RDWR, |fd| fallocate(fd, 0, 0, 0)), "EINVAL", "EINVAL"),
        c("fallocate", "length -1", |f| f.on_data(libc::O_RDWR, |fd| fallocate(fd, 0, 0, -1)), "EINVAL", "EINVAL"),
        c("fallocate", "offset + length past 2^63", |f| f.on_data(libc::O_RDWR, |fd| fallocate(fd, 0, i64::MAX - 1, 2)), "EFBIG", "EFBIG"),
        c("fallocate", "KEEP_SIZE | PUNCH_HOLE, length -4096", |f| f.on_data(libc::O_RDWR, |fd| fallocate(fd, libc::FALLOC_FL_KEEP_SIZE | libc::FALLOC_FL_PUNCH_HOLE, 0, -4096)), "EINVAL", "EINVAL"),
        c("fallocate", "of an O_RDONLY fd", |f| f.on_data(libc::O_RDONLY, |fd| fallocate(fd, 0, 4 << 20, 2 << 20)), "EBADF", "EBADF"),
        c("fallocate", "punch of an O_RDONLY fd", |f| f.on_data(libc::O_RDONLY, |fd| fallocate(fd, libc::FALLOC_FL_KEEP_SIZE | libc::FALLOC_FL_PUNCH_HOLE, 0, 2 << 20)), "EBADF", "EBADF"),
        c("fallocate", "16 pages of a scratch file, pool of 4", fallocate_too_much, "ENOSPC, pages kept 2", "ENOSPC, pages kept 2"),
        // The read path, of the data file.
        c("read", "pread at offset -1", |f| f.on_data(libc::O_RDONLY, |fd| pread(fd, 16, -1)), "EINVAL", "EINVAL"),
        c("read", "pread past the end", |f| f.on_data(libc::O_RDONLY, |fd| pread(fd, 16, 8 << 20)), "0 bytes", "0 bytes"),
        c("read", "pread at 2^63 - 1", |f| f.on_data(libc::O_RDONLY, |fd| pread(fd, 16, i64::MAX)), "EINVAL", "EINVAL"),
        c("read", "pread of 3 bytes at offset 1", |f| f.on_data(libc::O_RDONLY, |fd| pread(fd, 3, 1)), "02 03 04", "02 03 04"),
        c("read", "pread across the page boundary", |f| f.on_data(libc::O_RDONLY, |fd| pread(fd, 4, (2 << 20) - 2)), "00 a5 5a 00", "00 a5 5a 00"),
        c("read", "pread into a NULL buffer", |f| f.on_data(libc::O_RDONLY, |fd| pread_to(fd, std::ptr::null_mut(), 4096, 0)), "EFAULT", "EFAULT"),
        c("read", "pread into a buffer whose second page is unmapped", |f| f.on_data(libc::O_RDONLY, pread_half_mapped), "4096 bytes", "4096 bytes"),
        c("read", "readv with 1025 iovecs (IOV_MAX + 1)", |f| f.on_data(libc::O_RDONLY, |fd| readv_n(fd, 1025, 1)), "EINVAL", "EINVAL"),
        c("read", "readv, total length past isize::MAX", |f| f.on_data(libc::O_RDONLY, |fd| readv_n(fd, 2, isize::MAX as usize)), "EFAULT", "EFAULT"),
        c("read", "read of an O_WRONLY fd", |f| f.on_data(libc::O_WRONLY, |fd| pread(fd, 16, 0)), "EBADF", "EBADF"),
        c("read", "read of the directory", |f| f.on_path(&f.m.path("dir"), libc::O_RDONLY | libc::O_DIRECTORY, |fd| pread(fd, 16, 0)), "EISDIR", "EISDIR"),
        // The write paths into the data file: none is supported.
        c("write", "write(2)", |f| f.on_data(libc::O_RDWR, write1), "EINVAL", "EINVAL"),
        c("write", "pwrite at 2 MiB", |f| f.on_data(libc::O_RDWR, |fd| pwrite(fd, 2 << 20)), "EINVAL", "EINVAL"),
        c("write", "writev", |f| f.on_data(libc::O_RDWR, writev1), "EINVAL", "EINVAL"),
        c("write", "splice from a pipe", |f| f.on_data(libc::O_RDWR, splice_in), "EINVAL", "EINVAL"),
        c("write", "sendfile from a file in /tmp", |f| f.on_data(libc::O_RDWR, sendfile_in), "EINVAL", "EINVAL"),
        c("write", "copy_file_range from a file in /tmp", |f| f.on_data(libc::O_RDWR, copy_range_in), "EXDEV", "EXDEV"),
        c("write", "copy_file_range within the mount", copy_range_within, "EINVAL", "EINVAL"),
        c("write", "sendfile from the file to /tmp", |f| f.on_data(libc::O_RDONLY, sendfile_out), "EINVAL", "EINVAL"),
        // Opens.
        c("open", "O_DIRECT", |f| f.open(&f.data(), libc::O_RDWR | libc::O_DIRECT), "EINVAL", "EINVAL"),
        c("open", "O_TMPFILE", |f| f.open(&f.m.path(""), libc::O_RDWR | libc::O_TMPFILE), "0", "0"),
        c("open", "O_TMPFILE sized, written through a mapping, closed", tmpfile_use, "0", "0"),
        c("open", "O_TMPFILE without write access", |f| f.open(&f.m.path(""), libc::O_RDONLY | libc::O_TMPFILE), "EINVAL", "EINVAL"),
        c("open", "O_CREAT | O_EXCL of an existing file", |f| f.open(&f.data(), libc::O_RDWR | libc::O_CREAT | libc::O_EXCL), "EEXIST", "EEXIST"),
        c("open", "the directory O_WRONLY", |f| f.open(&f.m.path("dir"), libc::O_WRONLY), "EISDIR", "EISDIR"),
        c("open", "O_CREAT in a missing directory", |f| f.open(&f.m.path("nodir/x"), libc::O_RDWR | libc::O_CREAT), "ENOENT", "ENOENT"),
        c("open", "O_DIRECTORY of a file", |f| f.open(&f.data(), libc::O_RDONLY | libc::O_DIRECTORY), "ENOTDIR", "ENOTDIR"),
        c("open", "a name of NAME_MAX + 1 bytes, O_CREAT", |f| f.open(&f.m.path(&"n".repeat(256)), libc::O_RDWR | libc::O_CREAT), "ENAMETOOLONG", "ENAMETOOLONG"),
        // Names.
        c("names", "mkdir of NAME_MAX + 1 bytes", |f| mkdir(&f.m.path(&"d".repeat(256))), "ENAMETOOLONG", "ENAMETOOLONG"),
        c("names", "mkdir of an existing name", |f| mkdir(&f.m.path("dir")), "EEXIST", "EEXIST"),
        c("names", "rmdir of a non-empty directory", |f| rmdir(&f.m.path("dir")), "ENOTEMPTY", "ENOTEMPTY"),
        c("names", "rmdir of a file", |f| rmdir(&f.data()), "ENOTDIR", "ENOTDIR"),
        c("names", "unlink of a directory", |f| unlink(&f.m.path("dir")), "EISDIR", "EISDIR"),
        c("names", "unlink of a missing name", |f| unlink(&f.m.path("missing")), "ENOENT", "ENOENT"),
        c("names", "rename to the other mount", |f| rename(&f.data(), &f.other("data"), 0), "EXDEV", "EXDEV"),
        c("names", "rename to /tmp", |f| rename(&f.data(), "/tmp/badinput-data", 0), "EXDEV", "EXDEV"),
        c("names", "link to the other mount", |f| link(&f.data(), &f.other("data")), "EXDEV", "EXDEV"),
        c("names", "link of the directory", |f| link(&f.m.path("dir"), &f.m.path("dir2")), "EPERM", "EPERM"),
        c("names", "rename of the directory into itself", |f| rename(&f.m.path("dir"), &f.m.path("dir/sub"), 0), "EINVAL", "EINVAL"),
        c("names", "rename of a file over a non-empty directory", |f| rename(&f.m.path("empty"), &f.m.path("dir"), 0), "EISDIR", "EISDIR"),
        c("names", "rename of the directory over a file", |f| rename(&f.m.path("dir"), &f.m.path("empty"), 0), "ENOTDIR", "ENOTDIR"),
        c("names", "RENAME_NOREPLACE over an existing file", |f| rename(&f.m.path("empty"), &f.data(), libc::RENAME_NOREPLACE), "EEXIST", "EEXIST"),
        c("names", "RENAME_WHITEOUT", |f| rename(&f.m.path("empty"), &f.m.path("e2"), libc::RENAME_WHITEOUT), "EINVAL", "EINVAL"),
        c("names", "RENAME_EXCHANGE twice", rename_exchange_twice, "0", "0"),
        c("names", "mknod of a FIFO, removed", |f| mknod_and_remove(&f.m.path("fifo"), libc::S_IFIFO | 0o600), "0", "0"),
        c("names", "mknod of a character device, removed", |f| mknod_and_remove(&f.m.path("chr"), libc::S_IFCHR | 0o600), "0", "0"),
        // Extended attributes and locks.
        c("xattr", "setxattr user.x", |f| setxattr(&f.data(), "user.x"), "EOPNOTSUPP", "EOPNOTSUPP"),
        c("xattr", "setxattr trusted.x", |f| setxattr(&f.data(), "trusted.x"), "EOPNOTSUPP", "EOPNOTSUPP"),
        c("xattr", "setxattr system.posix_acl_access", |f| setxattr(&f.data(), "system.posix_acl_access"), "EINVAL", "EINVAL"),
        c("xattr", "getxattr user.x", |f| getxattr(&f.data(), "user.x"), "EOPNOTSUPP", "EOPNOTSUPP"),
        c("xattr", "listxattr", |f| listxattr(&f.data()), "0 bytes", "0 bytes"),
        c("xattr", "removexattr user.x", |f| removexattr(&f.data(), "user.x"), "EOPNOTSUPP", "EOPNOTSUPP"),
        c("locks", "flock(LOCK_EX), then LOCK_UN", |f| f.on_data(libc::O_RDONLY, |fd| flock(fd, libc::LOCK_EX)), "0", "0"),
        c("locks", "flock with an unknown operation", |f| f.on_data(libc::O_RDONLY, |fd| flock(fd, 0x40)), "EINVAL", "EINVAL"),
        c("locks", "F_SETLK write lock of an O_RDONLY fd", |f| f.on_data(libc::O_RDONLY, |fd| setlk(fd, libc::F_SETLK, libc::F_WRLCK, 0, 0)), "EBADF", "EBADF"),
        c("locks", "F_SETLK at a negative start", |f| f.on_data(libc::O_RDWR, |fd| setlk(fd, libc::F_SETLK, libc::F_WRLCK, -4096, 0)), "EINVAL", "EINVAL"),
        c("locks", "F_OFD_SETLK with l_pid set", |f| f.on_data(libc::O_RDWR, |fd| setlk(fd, libc::F_OFD_SETLK, libc::F_WRLCK, 0, 1)), "EINVAL", "EINVAL"),
        c("locks", "F_SETLEASE F_RDLCK, then F_UNLCK", |f| f.on_data(libc::O_RDONLY, setlease), "0", "0"),
        c("inodes", "nr_inodes=3: files until the limit, then one more", nr_inodes_exhausted, "2 made, then ENOSPC", "2 made, then ENOSPC"),
    ];
    for (i, &(name, _)) in ADVICE.iter().enumerate() {
        v.push(Case {
            group: "madvise-shared",
            name,
            run: MADV_SHARED_RUNS[i],
            rh: ADVICE_SHARED[i].0,
            kernel: ADVICE_SHARED[i].1,
        });
        v.push(Case {
            group: "madvise-private",
            name,
            run: MADV_PRIVATE_RUNS[i],
            rh: ADVICE_PRIVATE[i].0,
            kernel: ADVICE_PRIVATE[i].1,
        });
    }
    v
}

/// A `fn` per advice (a case's `run` is a plain function pointer).
macro_rules! advice_runs {
    ($how:ident, $($i:literal)*) => {
        [$(|f: &Fx| f.$how(|p| madvise(p, 2 << 20, ADVICE[$i].1))),*]
    };
}
const MADV_SHARED_RUNS: [fn(&Fx) -> Result<String>; 22] =
    advice_runs!(on_map, 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21);
const MADV_PRIVATE_RUNS: [fn(&Fx) -> Result<String>; 22] =
    advice_runs!(on_private, 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21);

/// What a case must leave as it found it.
#[derive(PartialEq, Eq, Debug)]
struct State {
    /// (nr, free, resv, surplus, overcommit) of both sizes.
    pools: Vec<(u64, u64, u64, u64, u64)>,
    /// Node 0's 2 MiB pool size.
    node0: u64,
    /// (name, size, mode, nlink) of every entry of the mount and of its directory.
    entries: Vec<(String, u64, u32, u64)>,
    /// Bytes of the data file around its start, its page boundary and its end.
    data: Vec<u8>,
    /// The mounts of this file system type.
    mounts: Vec<String>,
    /// statfs of the mount: free blocks, free inodes.
    statfs: (u64, u64),
}

/// The fixture of one implementation: a mount with a pool of 4 pages, a data file of two
/// pages with known bytes, an empty file, a directory with a file in it, and a second
/// mount of the same type.
struct Fx {
    m: Mnt,
    other_dir: &'static str,
}

const DATA_LEN: usize = 4 << 20;

impl Fx {
    fn new(fs: Fs) -> Result<Self> {
        let m = Mnt::new(fs, 2048, 4)?;
        let other_dir = match fs {
            Fs::Rh => "/tmp/badinput-other-rh",
            Fs::Kernel => "/tmp/badinput-other-kernel",
        };
        std::fs::create_dir_all(other_dir)?;
        let _ = umount(other_dir);
        crate::os::mount(fs.fstype(), other_dir, "pagesize=2M")?;
        let fx = Fx { m, other_dir };
        let f = create_sized(&fx.data(), DATA_LEN as u64)?;
        let p = Map::new(&f, DATA_LEN, RW, SHARED, 0).context("map the data file")?;
        for i in 0..16 {
            p.set(i, i as u8 + 1);
        }
        p.set((2 << 20) - 1, 0xa5);
        p.set(2 << 20, 0x5a);
        p.set(DATA_LEN - 1, 0x77);
        drop(p);
        create_sized(&fx.m.path("empty"), 0)?;
        std::fs::create_dir(fx.m.path("dir"))?;
        create_sized(&fx.m.path("dir/inner"), 0)?;
        Ok(fx)
    }

    fn data(&self) -> String {
        self.m.path("data")
    }

    fn other(&self, name: &str) -> String {
        format!("{}/{name}", self.other_dir)
    }

    fn state(&self) -> Result<State> {
        let fs = self.m.fs;
        let mut pools = Vec::new();
        for kb in sys::SIZES {
            let (nr, free, resv, surplus) = fs.counters(kb)?;
            let over = fs.counter(kb, "nr_overcommit_hugepages")?;
            pools.push((nr, free, resv, surplus, over));
        }
        let node0 = sys::read_u64(&format!("{}/nr_hugepages", fs.node_hdir(0, 2048)))?;
        let mut entries = Vec::new();
        for dir in [self.m.path(""), self.m.path("dir")] {
            for e in std::fs::read_dir(&dir).with_context(|| format!("ls {dir}"))? {
                let e = e?;
                let md = e.metadata()?;
                entries.push((
                    format!("{dir}/{}", e.file_name().to_string_lossy()),
                    md.len(),
                    md.mode(),
                    md.nlink(),
                ));
            }
        }
        entries.sort();
        let f = File::open(self.data())?;
        let mut data = Vec::new();
        for (off, n) in [(0, 32), ((2 << 20) - 16, 32), (DATA_LEN - 16, 16)] {
            let mut b = vec![0u8; n];
            std::os::unix::fs::FileExt::read_exact_at(&f, &mut b, off as u64)?;
            data.extend(b);
        }
        let mounts = sys::read("/proc/self/mounts")?
            .lines()
            .filter(|l| l.split_whitespace().nth(2) == Some(fs.fstype()))
            .map(String::from)
            .collect();
        let st = rustix::fs::statfs(self.m.path("").as_str())?;
        Ok(State {
            pools,
            node0,
            entries,
            data,
            mounts,
            statfs: (st.f_bfree, st.f_ffree),
        })
    }

    /// Writes `value` to this implementation's 2 MiB pool file `file`.
    fn sysfs(&self, file: &str, value: &str) -> Result<String> {
        sys_write(&self.m.fs.hdir(2048), file, value)
    }

    fn sysfs_1g(&self, file: &str, value: &str) -> Result<String> {
        sys_write(&self.m.fs.hdir(1048576), file, value)
    }

    fn node_sysfs(&self, value: &str) -> Result<String> {
        sys_write(&self.m.fs.node_hdir(0, 2048), "nr_hugepages", value)
    }

    /// `f` on rhugetlbfs; "n/a" on hugetlbfs, which has no such file.
    fn rh_only(&self, f: impl FnOnce() -> Result<String>) -> Result<String> {
        match self.m.fs {
            Fs::Rh => f(),
            Fs::Kernel => Ok("n/a".into()),
        }
    }

    /// Mounts this type with `opts` at a third directory; unmounts what succeeded.
    fn mount(&self, opts: &str) -> Result<String> {
        let dir = "/tmp/badinput-mount";
        std::fs::create_dir_all(dir)?;
        let r = mount_fs(self.m.fs.fstype(), dir, opts);
        if r.is_ok() {
            umount(dir)?;
        }
        Ok(outcome(r))
    }

    /// mmap of `len` bytes at `off` of a scratch file two pages long.
    fn mmap(&self, len: usize, off: u64, prot: ProtFlags, flags: MapFlags) -> Result<String> {
        let path = self.m.path("scratch");
        let f = create_sized(&path, 4 << 20)?;
        let r = Map::new(&f, len, prot, flags, off).map(|mut p| {
            // hugetlbfs maps whole pages: unmap all of what it made (a 4 KiB munmap of a
            // 2 MiB hugetlb mapping is EINVAL, and the mapping would outlive the case).
            let addr = p.addr();
            p.forget_from(0);
            let _ = munmap(addr, len.next_multiple_of(2 << 20));
        });
        drop(f);
        sys::remove(&path)?;
        Ok(outcome(r))
    }

    /// mmap of one page of a scratch file opened with `oflags`, with raw protection and
    /// flags (values rustix's types cannot hold).
    fn mmap_fd(&self, oflags: i32, prot: i32, flags: i32) -> Result<String> {
        let path = self.m.path("scratch");
        create_sized(&path, 4 << 20)?;
        let fd = open_raw(&path, oflags)?;
        // SAFETY: A new mapping where the kernel picks (no MAP_FIXED); unmapped below.
        let r = check_ptr(unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                2 << 20,
                prot,
                flags,
                fd.as_raw_fd(),
                0,
            )
        });
        if let Ok(p) = r {
            // SAFETY: What the mmap above made, used by nothing else.
            unsafe { libc::munmap(p, 2 << 20) };
        }
        drop(fd);
        sys::remove(&path)?;
        Ok(outcome(r))
    }

    /// mmap with MAP_FIXED-like `flags` at `misalign` bytes past a 2 MiB-aligned address
    /// inside a reservation of our own (an anonymous PROT_NONE mapping).
    fn mmap_fixed(&self, misalign: usize, flags: i32) -> Result<String> {
        let path = self.m.path("scratch");
        let f = create_sized(&path, 4 << 20)?;
        let res_len = 8 << 20;
        // SAFETY: A new anonymous reservation where the kernel picks; unmapped below.
        let res = check_ptr(unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                res_len,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        })
        .context("reserve address space")?;
        let at = ((res as usize + (2 << 20) - 1) & !((2 << 20) - 1)) + misalign;
        // SAFETY: `at..at + 2 MiB` lies inside our reservation, which nothing uses: a
        // fixed mapping there replaces only it.
        let r = check_ptr(unsafe {
            libc::mmap(
                at as *mut libc::c_void,
                2 << 20,
                libc::PROT_READ,
                libc::MAP_SHARED | flags,
                f.as_raw_fd(),
                0,
            )
        });
        // SAFETY: The reservation, and whatever the fixed mapping put inside it: ours.
        unsafe { libc::munmap(res, res_len) };
        drop(f);
        sys::remove(&path)?;
        Ok(outcome(r))
    }

    /// `f` on the address of a two-page shared mapping of a scratch file, its first page
    /// touched; the mapping is unmapped and the file removed after.
    fn on_map(&self, f: impl FnOnce(usize) -> Result<(), Errno>) -> Result<String> {
        self.on_mapping(SHARED, f)
    }

    /// As [`Fx::on_map`] with a private mapping, its first page written.
    fn on_private(&self, f: impl FnOnce(usize) -> Result<(), Errno>) -> Result<String> {
        self.on_mapping(PRIVATE, f)
    }

    fn on_mapping(
        &self,
        flags: MapFlags,
        f: impl FnOnce(usize) -> Result<(), Errno>,
    ) -> Result<String> {
        let path = self.m.path("scratch");
        let file = create_sized(&path, 4 << 20)?;
        let p = Map::new(&file, 4 << 20, RW, flags, 0).context("map the scratch file")?;
        p.set(0, 1);
        // The call may unmap or move parts of `p`, which the drop then unmaps again: a
        // no-op for a hole (nothing else of this thread maps meanwhile).
        let r = f(p.addr());
        drop(p);
        drop(file);
        sys::remove(&path)?;
        Ok(outcome(r))
    }

    /// `f` on a descriptor of the data file opened with `oflags`.
    fn on_data(
        &self,
        oflags: i32,
        f: impl FnOnce(BorrowedFd<'_>) -> Result<String, Errno>,
    ) -> Result<String> {
        self.on_path(&self.data(), oflags, f)
    }

    fn on_path(
        &self,
        path: &str,
        oflags: i32,
        f: impl FnOnce(BorrowedFd<'_>) -> Result<String, Errno>,
    ) -> Result<String> {
        let fd = open_raw(path, oflags)?;
        Ok(f(fd.as_fd()).unwrap_or_else(|e| outcome::<()>(Err(e))))
    }

    /// `f` on a scratch file (empty, read-write), removed after.
    fn on_scratch(
        &self,
        f: impl FnOnce(BorrowedFd<'_>) -> Result<String, Errno>,
    ) -> Result<String> {
        let path = self.m.path("scratch");
        let file = create_sized(&path, 0)?;
        let r = f(file.as_fd()).unwrap_or_else(|e| outcome::<()>(Err(e)));
        drop(file);
        sys::remove(&path)?;
        Ok(r)
    }

    /// open(2) of `path`; a descriptor it opened is closed, a file it made removed.
    fn open(&self, path: &str, oflags: i32) -> Result<String> {
        let existed = std::path::Path::new(path).exists();
        let r = open_raw(path, oflags);
        if r.is_ok() && !existed && oflags & libc::O_TMPFILE != libc::O_TMPFILE {
            sys::remove(path)?;
        }
        Ok(outcome(r))
    }
}

impl Drop for Fx {
    fn drop(&mut self) {
        // A case that failed half-way may leave its mount; the fixture's own go with `m`.
        let _ = umount("/tmp/badinput-mount");
        let _ = umount(self.other_dir);
    }
}

fn catalogue() -> TestResult {
    let cases = cases();
    ensure!(cases.len() >= 100, "only {} cases", cases.len());
    let mut rows: Vec<String> = Vec::new();
    let mut wrong = Vec::new();
    for &fs in sys::implementations() {
        let fx = Fx::new(fs)?;
        let mut before = fx.state().context("state before the cases")?;
        for (i, c) in cases.iter().enumerate() {
            let what = format!("{fs:?}: {}: {}", c.group, c.name);
            // A case that cannot run is a failure too; the others still run.
            let got = match (c.run)(&fx) {
                Ok(got) => got,
                Err(e) => {
                    wrong.push(format!("{what}: {e:#}"));
                    format!("error: {e:#}")
                }
            };
            let after = fx.state().with_context(|| format!("{what}: state after"))?;
            if after != before {
                wrong.push(format!("{what}: changed {}", diff(&before, &after)));
                before = after;
            }
            let want = if fs == Fs::Rh { c.rh } else { c.kernel };
            if got != want {
                wrong.push(format!("{what}: {got}, want {want}"));
            }
            match fs {
                Fs::Rh => rows.push(got),
                Fs::Kernel => {
                    let d = if rows[i] == got || got == "n/a" {
                        ""
                    } else {
                        "  <- differs"
                    };
                    println!(
                        "    {:<16} {:<58} rh {:<22} hugetlbfs {got}{d}",
                        c.group, c.name, rows[i]
                    );
                }
            }
        }
        std::fs::remove_file(fx.m.path("dir/inner"))?;
        std::fs::remove_dir(fx.m.path("dir"))?;
        if let Err(e) = fx.m.check_idle() {
            wrong.push(format!("{fs:?} after the catalogue: {e:#}"));
        }
    }
    println!("    {} cases on each side", cases.len());
    for w in &wrong {
        println!("    WRONG {w}");
    }
    ensure!(wrong.is_empty(), "{} wrong results", wrong.len());
    Ok(())
}

/// The fields in which two states differ.
fn diff(a: &State, b: &State) -> String {
    let mut d = Vec::new();
    if a.pools != b.pools {
        d.push(format!("pools {:?} -> {:?}", a.pools, b.pools));
    }
    if a.node0 != b.node0 {
        d.push(format!("node0 {} -> {}", a.node0, b.node0));
    }
    if a.entries != b.entries {
        d.push(format!("entries {:?} -> {:?}", a.entries, b.entries));
    }
    if a.data != b.data {
        d.push("the data file's bytes".into());
    }
    if a.mounts != b.mounts {
        d.push(format!("mounts {:?} -> {:?}", a.mounts, b.mounts));
    }
    if a.statfs != b.statfs {
        d.push(format!("statfs {:?} -> {:?}", a.statfs, b.statfs));
    }
    d.join(", ")
}

/// rmmod while the module is in use: with a mount, with only an open file of a lazily
/// unmounted mount, with only a mapping of one. Each is refused with EAGAIN (delete_module
/// with O_NONBLOCK, as rmmod calls it) and leaves the module loaded and working; once the
/// last user goes, rmmod succeeds. rhugetlbfs only: the kernel's hugetlbfs is built in.
fn rmmod_cases() -> TestResult {
    let dir = "/tmp/badinput-rmmod";
    std::fs::create_dir_all(dir)?;
    for holder in ["mount", "open file", "mapping"] {
        sys::ensure_unloaded()?;
        sys::insmod(&[])?;
        sys::pool_2m(1)?;
        crate::os::mount("rhugetlbfs", dir, "pagesize=2M")?;
        let path = format!("{dir}/f");
        let f = create_sized(&path, 2 << 20)?;
        let p = Map::new(&f, 2 << 20, RW, SHARED, 0).context("map")?;
        p.set(0, 9);
        let (file, map) = match holder {
            "mount" => (Some(f), Some(p)),
            "open file" => {
                drop(p);
                (Some(f), None)
            }
            _ => {
                drop(f);
                (None, Some(p))
            }
        };
        if holder != "mount" {
            rustix::mount::unmount(dir, rustix::mount::UnmountFlags::DETACH)
                .context("umount -l")?;
        }
        let r = delete_module();
        ensure!(
            r == Err(Errno::AGAIN),
            "rmmod with a {holder}: {}, want EAGAIN",
            outcome(r)
        );
        ensure!(
            sys::module_loaded()?,
            "rmmod with a {holder} unloaded the module"
        );
        if let Some(p) = &map {
            ensure!(
                p.get(0) == 9,
                "the mapping lost its byte after a refused rmmod"
            );
        }
        drop(map);
        drop(file);
        if holder == "mount" {
            sys::remove(&path)?;
            umount(dir)?;
        }
        // The lazily unmounted super block goes with its last user; then the module may.
        let mut tries = 0;
        while delete_module() == Err(Errno::AGAIN) {
            tries += 1;
            ensure!(
                tries < 100,
                "rmmod still refused 10 s after the {holder} went"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        ensure!(!sys::module_loaded()?, "the module is still loaded");
    }
    Ok(())
}

/// delete_module("rhugetlbfs", O_NONBLOCK), as rmmod does.
fn delete_module() -> Result<(), Errno> {
    let name = CString::new("rhugetlbfs").expect("no NUL");
    // SAFETY: A NUL-terminated name that lives across the call.
    let r = unsafe { libc::syscall(libc::SYS_delete_module, name.as_ptr(), libc::O_NONBLOCK) };
    check(r).map(drop)
}

fn sys_write(dir: &str, file: &str, value: &str) -> Result<String> {
    Ok(outcome(sys::write(&format!("{dir}/{file}"), value)))
}

fn mmap_dir(f: &Fx) -> Result<String> {
    let fd = open_raw(&f.m.path("dir"), libc::O_RDONLY | libc::O_DIRECTORY)?;
    // SAFETY: A new mapping where the kernel picks; unmapped below if made.
    let r = check_ptr(unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            2 << 20,
            libc::PROT_READ,
            libc::MAP_SHARED,
            fd.as_raw_fd(),
            0,
        )
    });
    if let Ok(p) = r {
        // SAFETY: What the mmap above made.
        unsafe { libc::munmap(p, 2 << 20) };
    }
    Ok(outcome(r))
}

fn mprotect_readonly_fd(f: &Fx) -> Result<String> {
    let path = f.m.path("scratch");
    create_sized(&path, 2 << 20)?;
    let fd = open_raw(&path, libc::O_RDONLY)?;
    let p = Map::new(&fd, 2 << 20, ProtFlags::READ, SHARED, 0).context("map read-only")?;
    let r = mprotect(p.addr(), 2 << 20, libc::PROT_READ | libc::PROT_WRITE);
    drop(p);
    drop(fd);
    sys::remove(&path)?;
    Ok(outcome(r))
}

fn truncate_path(path: &str, len: i64) -> Result<String> {
    let p = CString::new(path)?;
    // SAFETY: A NUL-terminated path that lives across the call.
    Ok(outcome(check(
        unsafe { libc::truncate(p.as_ptr(), len) }.into(),
    )))
}

/// fallocate of 16 pages past the data of a scratch file with a pool of 4 (2 taken by
/// the data file): ENOSPC, and how many pages the failed call left allocated.
fn fallocate_too_much(f: &Fx) -> Result<String> {
    let path = f.m.path("scratch");
    let file = create_sized(&path, 0)?;
    let free0 = f.m.counter("free_hugepages")?;
    let r = fallocate(file.as_fd(), 0, 0, 32 << 20);
    let kept = free0 - f.m.counter("free_hugepages")?;
    drop(file);
    sys::remove(&path)?;
    Ok(match r {
        Ok(_) => "0".into(),
        Err(e) => format!("{}, pages kept {kept}", outcome::<()>(Err(e))),
    })
}

fn pread_half_mapped(fd: BorrowedFd<'_>) -> Result<String, Errno> {
    // SAFETY: A new anonymous mapping where the kernel picks; unmapped below.
    let buf = check_ptr(unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            8192,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    })?;
    // SAFETY: The second page of our own mapping: only the kernel writes there below.
    unsafe { libc::munmap(buf.cast::<u8>().add(4096).cast(), 4096) };
    let r = pread_to(fd, buf.cast(), 8192, 0);
    // SAFETY: The first page, what is left of our mapping.
    unsafe { libc::munmap(buf, 4096) };
    r
}

/// An unnamed file used as a named one is: sized, mapped, written, read back; its page
/// goes back to the pool when it closes (the state check).
fn tmpfile_use(f: &Fx) -> Result<String> {
    let fd = match open_raw(&f.m.path(""), libc::O_RDWR | libc::O_TMPFILE) {
        Ok(fd) => fd,
        Err(e) => return Ok(outcome::<()>(Err(e))),
    };
    let file = File::from(fd);
    file.set_len(2 << 20).context("size the unnamed file")?;
    let p = Map::new(&file, 2 << 20, RW, SHARED, 0).context("map the unnamed file")?;
    p.set(100, 42);
    let mut b = [0u8; 1];
    std::os::unix::fs::FileExt::read_exact_at(&file, &mut b, 100)?;
    ensure!(b[0] == 42, "read back {}, want 42", b[0]);
    Ok("0".into())
}

fn rename_exchange_twice(f: &Fx) -> Result<String> {
    for _ in 0..2 {
        if let Err(e) = rename_raw(&f.m.path("empty"), &f.data(), libc::RENAME_EXCHANGE) {
            return Ok(outcome::<()>(Err(e)));
        }
    }
    Ok("0".into())
}

fn mknod_and_remove(path: &str, mode: u32) -> Result<String> {
    let p = CString::new(path)?;
    // SAFETY: A NUL-terminated path that lives across the call.
    let r = check(unsafe { libc::mknod(p.as_ptr(), mode, libc::makedev(1, 3)) }.into());
    if r.is_ok() {
        sys::remove(path)?;
    }
    Ok(outcome(r))
}

fn nr_inodes_exhausted(f: &Fx) -> Result<String> {
    let dir = "/tmp/badinput-mount";
    std::fs::create_dir_all(dir)?;
    crate::os::mount(f.m.fs.fstype(), dir, "pagesize=2M,nr_inodes=3")?;
    let mut made = 0;
    let mut end = String::from("no limit");
    for i in 0..4 {
        match open_raw(&format!("{dir}/f{i}"), libc::O_RDWR | libc::O_CREAT) {
            Ok(_) => made += 1,
            Err(e) => {
                end = outcome::<()>(Err(e));
                break;
            }
        }
    }
    for i in 0..made {
        sys::remove(&format!("{dir}/f{i}"))?;
    }
    // The limit counts live inodes: one more fits again.
    let again = open_raw(&format!("{dir}/g"), libc::O_RDWR | libc::O_CREAT).map(drop);
    if again.is_ok() {
        sys::remove(&format!("{dir}/g"))?;
    }
    umount(dir)?;
    if again.is_err() {
        bail!("no file could be made after the others were removed");
    }
    Ok(format!("{made} made, then {end}"))
}

fn copy_range_within(f: &Fx) -> Result<String> {
    let src = open_raw(&f.data(), libc::O_RDONLY)?;
    f.on_scratch(|fd| {
        // SAFETY: No pointers for the offsets (NULL: the descriptors' own).
        let r = unsafe {
            libc::copy_file_range(
                src.as_raw_fd(),
                std::ptr::null_mut(),
                fd.as_raw_fd(),
                std::ptr::null_mut(),
                4096,
                0,
            )
        };
        check(r as i64).map(|n| format!("{n} bytes"))
    })
}

// Thin wrappers of the raw calls (raw values that rustix's types cannot hold), each
// returning what the call returned or its errno.

/// The errno of the call that just failed.
fn last_errno() -> Errno {
    sys::errno_of(&std::io::Error::last_os_error())
}

fn check(r: i64) -> Result<i64, Errno> {
    if r < 0 {
        Err(last_errno())
    } else {
        Ok(r)
    }
}

fn check_ptr(p: *mut libc::c_void) -> Result<*mut libc::c_void, Errno> {
    if p == libc::MAP_FAILED {
        Err(last_errno())
    } else {
        Ok(p)
    }
}

fn open_raw(path: &str, oflags: i32) -> Result<OwnedFd, Errno> {
    let mut o = std::fs::OpenOptions::new();
    let acc = oflags & libc::O_ACCMODE;
    o.read(acc == libc::O_RDONLY || acc == libc::O_RDWR)
        .write(acc == libc::O_WRONLY || acc == libc::O_RDWR)
        .custom_flags(oflags & !libc::O_ACCMODE)
        .mode(0o600);
    o.open(path)
        .map(OwnedFd::from)
        .map_err(|e| sys::errno_of(&e))
}

fn mprotect(p: usize, len: usize, prot: i32) -> Result<(), Errno> {
    // SAFETY: A range of the caller's scratch mapping (or beside it, which the kernel
    // refuses); only protections change.
    check(unsafe { libc::mprotect(p as *mut _, len, prot) }.into()).map(drop)
}

fn munmap(p: usize, len: usize) -> Result<(), Errno> {
    // SAFETY: A range of the caller's scratch mapping, not touched again.
    check(unsafe { libc::munmap(p as *mut _, len) }.into()).map(drop)
}

fn mremap(p: usize, old: usize, new: usize, flags: i32) -> Result<(), Errno> {
    // SAFETY: A range of the caller's scratch mapping; a new mapping made is unmapped.
    let q = check_ptr(unsafe { libc::mremap(p as *mut _, old, new, flags, 0usize) })?;
    if q as usize != p {
        // SAFETY: What mremap made elsewhere, ours alone.
        unsafe { libc::munmap(q, new) };
    }
    Ok(())
}

fn msync(p: usize, len: usize, flags: i32) -> Result<(), Errno> {
    // SAFETY: A range of the caller's scratch mapping.
    check(unsafe { libc::msync(p as *mut _, len, flags) }.into()).map(drop)
}

fn mlock2(p: usize, len: usize, flags: i32) -> Result<(), Errno> {
    // SAFETY: A range of the caller's scratch mapping.
    let r = check(unsafe { libc::syscall(libc::SYS_mlock2, p, len, flags) });
    if r.is_ok() {
        // SAFETY: As above.
        unsafe { libc::munlock(p as *const _, len) };
    }
    r.map(drop)
}

fn madvise(p: usize, len: usize, advice: i32) -> Result<(), Errno> {
    // SAFETY: A range of the caller's scratch mapping, to which no reference exists.
    check(unsafe { libc::madvise(p as *mut _, len, advice) }.into()).map(drop)
}

fn ftruncate(fd: BorrowedFd<'_>, len: i64) -> Result<String, Errno> {
    // SAFETY: No pointers.
    check(unsafe { libc::ftruncate(fd.as_raw_fd(), len) }.into()).map(|_| "0".into())
}

fn fallocate(fd: BorrowedFd<'_>, mode: i32, off: i64, len: i64) -> Result<String, Errno> {
    // SAFETY: No pointers.
    check(unsafe { libc::fallocate(fd.as_raw_fd(), mode, off, len) }.into()).map(|_| "0".into())
}

fn pread(fd: BorrowedFd<'_>, n: usize, off: i64) -> Result<String, Errno> {
    let mut b = vec![0u8; n];
    let got = pread_to(fd, b.as_mut_ptr(), n, off)?;
    if got == "0 bytes" || n > 16 {
        return Ok(got);
    }
    let k: usize = got
        .split(' ')
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Ok(b[..k]
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(" "))
}

fn pread_to(fd: BorrowedFd<'_>, buf: *mut u8, n: usize, off: i64) -> Result<String, Errno> {
    // SAFETY: `buf` is writable for `n` bytes, or deliberately not (NULL, an unmapped
    // page): the kernel checks and fails with EFAULT, writing nothing of ours.
    let r = unsafe { libc::pread(fd.as_raw_fd(), buf.cast(), n, off) };
    check(r as i64).map(|k| format!("{k} bytes"))
}

/// readv of `count` iovecs of `each` bytes, all over one 16-byte buffer (the kernel
/// checks the lengths before it reads).
fn readv_n(fd: BorrowedFd<'_>, count: usize, each: usize) -> Result<String, Errno> {
    let mut b = [0u8; 16];
    let iov = vec![
        libc::iovec {
            iov_base: b.as_mut_ptr().cast(),
            iov_len: each,
        };
        count
    ];
    // SAFETY: `iov` holds `count` entries; lengths past the buffer are refused by the
    // kernel's total-length check in these cases, before any byte is written.
    let r = unsafe { libc::readv(fd.as_raw_fd(), iov.as_ptr(), count as i32) };
    check(r as i64).map(|k| format!("{k} bytes"))
}

fn write1(fd: BorrowedFd<'_>) -> Result<String, Errno> {
    rustix::io::write(fd, b"x").map(|n| format!("{n} bytes"))
}

fn pwrite(fd: BorrowedFd<'_>, off: u64) -> Result<String, Errno> {
    rustix::io::pwrite(fd, b"x", off).map(|n| format!("{n} bytes"))
}

fn writev1(fd: BorrowedFd<'_>) -> Result<String, Errno> {
    rustix::io::writev(fd, &[std::io::IoSlice::new(b"x")]).map(|n| format!("{n} bytes"))
}

fn splice_in(fd: BorrowedFd<'_>) -> Result<String, Errno> {
    let (r, w) = rustix::pipe::pipe()?;
    rustix::io::write(&w, b"x")?;
    let mut off = 0u64;
    rustix::pipe::splice(
        &r,
        None,
        fd,
        Some(&mut off),
        1,
        rustix::pipe::SpliceFlags::empty(),
    )
    .map(|n| format!("{n} bytes"))
}

fn tmp_source() -> Result<File, Errno> {
    let path = "/tmp/badinput-src";
    std::fs::write(path, b"xyz").map_err(|e| sys::errno_of(&e))?;
    let f = File::open(path).map_err(|e| sys::errno_of(&e))?;
    let _ = std::fs::remove_file(path);
    Ok(f)
}

fn sendfile_in(fd: BorrowedFd<'_>) -> Result<String, Errno> {
    let src = tmp_source()?;
    rustix::fs::sendfile(fd, &src, None, 3).map(|n| format!("{n} bytes"))
}

fn sendfile_out(fd: BorrowedFd<'_>) -> Result<String, Errno> {
    let path = "/tmp/badinput-dst";
    let dst = std::fs::File::create(path).map_err(|e| sys::errno_of(&e))?;
    let _ = std::fs::remove_file(path);
    rustix::fs::sendfile(&dst, fd, None, 4096).map(|n| format!("{n} bytes"))
}

fn copy_range_in(fd: BorrowedFd<'_>) -> Result<String, Errno> {
    let src = tmp_source()?;
    rustix::fs::copy_file_range(&src, None, fd, None, 3).map(|n| format!("{n} bytes"))
}

fn mkdir(path: &str) -> Result<String> {
    let r = rustix::fs::mkdir(path, rustix::fs::Mode::from_raw_mode(0o700));
    if r.is_ok() {
        std::fs::remove_dir(path)?;
    }
    Ok(outcome(r))
}

fn rmdir(path: &str) -> Result<String> {
    Ok(outcome(rustix::fs::rmdir(path)))
}

fn unlink(path: &str) -> Result<String> {
    Ok(outcome(rustix::fs::unlink(path)))
}

fn rename_raw(from: &str, to: &str, flags: u32) -> Result<(), Errno> {
    let (a, b) = (
        CString::new(from).expect("path"),
        CString::new(to).expect("path"),
    );
    // SAFETY: NUL-terminated paths that live across the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_renameat2,
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            flags,
        )
    };
    check(r).map(drop)
}

fn rename(from: &str, to: &str, flags: u32) -> Result<String> {
    let r = rename_raw(from, to, flags);
    if r.is_ok() {
        bail!("rename {from} -> {to} succeeded");
    }
    Ok(outcome(r))
}

fn link(from: &str, to: &str) -> Result<String> {
    let r = rustix::fs::link(from, to);
    if r.is_ok() {
        std::fs::remove_file(to)?;
    }
    Ok(outcome(r))
}

fn setxattr(path: &str, name: &str) -> Result<String> {
    Ok(outcome(rustix::fs::setxattr(
        path,
        name,
        b"v",
        rustix::fs::XattrFlags::empty(),
    )))
}

fn getxattr(path: &str, name: &str) -> Result<String> {
    let mut b = [0u8; 16];
    Ok(outcome(rustix::fs::getxattr(path, name, &mut b[..])))
}

fn listxattr(path: &str) -> Result<String> {
    let mut b = [0u8; 256];
    Ok(match rustix::fs::listxattr(path, &mut b[..]) {
        Ok(n) => format!("{n} bytes"),
        Err(e) => outcome::<()>(Err(e)),
    })
}

fn removexattr(path: &str, name: &str) -> Result<String> {
    Ok(outcome(rustix::fs::removexattr(path, name)))
}

fn flock(fd: BorrowedFd<'_>, op: i32) -> Result<String, Errno> {
    // SAFETY: No pointers.
    check(unsafe { libc::flock(fd.as_raw_fd(), op) }.into())?;
    // SAFETY: No pointers.
    unsafe { libc::flock(fd.as_raw_fd(), libc::LOCK_UN) };
    Ok("0".into())
}

fn setlk(fd: BorrowedFd<'_>, cmd: i32, ty: i32, start: i64, pid: i32) -> Result<String, Errno> {
    // SAFETY: A zeroed flock is a valid value of the plain C struct.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = ty as i16;
    fl.l_whence = libc::SEEK_SET as i16;
    fl.l_start = start;
    fl.l_len = 4096;
    fl.l_pid = pid;
    // SAFETY: `fl` lives across the call.
    check(unsafe { libc::fcntl(fd.as_raw_fd(), cmd, &mut fl) }.into())?;
    fl.l_type = libc::F_UNLCK as i16;
    // SAFETY: As above.
    unsafe { libc::fcntl(fd.as_raw_fd(), cmd, &mut fl) };
    Ok("0".into())
}

fn setlease(fd: BorrowedFd<'_>) -> Result<String, Errno> {
    // SAFETY: No pointers.
    check(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETLEASE, libc::F_RDLCK) }.into())?;
    // SAFETY: No pointers.
    unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETLEASE, libc::F_UNLCK) };
    Ok("0".into())
}
