//! The rhugetlbfs filesystem: mounts, options, statfs, namespace (issue 4).
//!
//! Every test mounts on a fresh module and checks, once everything is unmounted, that no
//! page is reserved and every pool page is free.

use crate::ensure;
use crate::harness::{Suite, TestResult};
use crate::sys::{self, counter, counters, hdir, set_nr, SIZES};
use std::ffi::CString;
use std::os::unix::fs::MetadataExt;

pub fn register(s: &mut Suite) {
    s.add("fs_private_fork_cow_1g", private_fork_1g);
    s.add("fs_mount_defaults_and_proc_mounts", mount_defaults);
    s.add("fs_mount_every_option", mount_every_option);
    s.add("fs_mount_bad_options_einval", mount_bad_options);
    s.add("fs_statfs_fields", statfs_fields);
    s.add("fs_min_size_reserved_at_mount", min_size_reserve);
    s.add("fs_min_size_enomem_when_pool_short", min_size_enomem);
    s.add("fs_nr_inodes_limit", nr_inodes_limit);
    s.add("fs_namespace_ops", namespace_ops);
    s.add(
        "fs_pool_shrink_below_in_use_becomes_surplus",
        shrink_below_in_use,
    );
    s.add("fs_write_einval_read_holes_zero", write_read);
    s.add("fs_truncate_must_be_aligned", truncate_aligned);
    s.add("fs_permissions_enforced", permissions);
    s.add("fs_unload_refused_while_mounted", unload_refused);
    s.add(
        "fs_mmap_shared_two_processes_and_read",
        shared_two_processes,
    );
    s.add("fs_sigbus_past_eof_and_after_truncate", sigbus_eof_truncate);
    s.add("fs_mmap_enomem_when_pool_short", mmap_enomem);
    s.add(
        "fs_noreserve_sigbus_when_pool_empty_surplus_with_overcommit",
        noreserve_sigbus,
    );
    s.add("fs_size_quota_enomem_at_mmap", size_quota);
    s.add("fs_min_size_covers_mapping", min_size_covers_mapping);
    s.add("fs_unaligned_mmap_munmap_mprotect", unaligned);
    s.add(
        "fs_private_readonly_sees_file_stays_readonly",
        private_readonly,
    );
    s.add(
        "fs_private_cow_isolation_both_directions",
        private_isolation,
    );
    s.add("fs_private_fork_cow_2m", private_fork_2m);
    s.add("fs_private_reservations_owner_munmap", private_reservations);
    s.add(
        "fs_private_mprotect_and_mremap_keep_pages",
        private_mprotect_mremap,
    );
    s.add("fs_thp_never_or_disabled_still_huge_entries", thp_never);
    s.add("fs_recycled_pages_read_zero", recycled_zero);
    s.add("fs_fault_counters_and_smaps_2m", counters_smaps_2m);
    s.add("fs_gigantic_mapping_1g", gigantic_1g);
    s.add("fs_fallocate_prealloc_punch_counters", fallocate);
    s.add("fs_stress_faults_truncate_resize", stress);
    s.add("fs_umount_rmmod_restore_memory", umount_rmmod_memory);
}

const MNT: &str = "/tmp/rhfs";
const HUGETLBFS_MAGIC: i64 = 0x958458f6;

fn mount_at(dir: &str, opts: &str) -> Result<(), i32> {
    let _ = std::fs::create_dir_all(dir);
    let src = CString::new("none").unwrap();
    let tgt = CString::new(dir).unwrap();
    let fs = CString::new("rhugetlbfs").unwrap();
    let data = CString::new(opts).unwrap();
    // SAFETY: All strings are valid NUL-terminated C strings for the call.
    let r = unsafe {
        libc::mount(
            src.as_ptr(),
            tgt.as_ptr(),
            fs.as_ptr(),
            0,
            data.as_ptr().cast(),
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
    }
}

fn mount(opts: &str) -> Result<(), String> {
    mount_at(MNT, opts).map_err(|e| format!("mount -o {opts:?}: errno {e}"))
}

fn umount(dir: &str) -> Result<(), String> {
    let tgt = CString::new(dir).unwrap();
    // SAFETY: `tgt` is a valid C string.
    if unsafe { libc::umount(tgt.as_ptr()) } != 0 {
        return Err(format!("umount {dir}: {}", std::io::Error::last_os_error()));
    }
    Ok(())
}

/// The module loaded fresh with `pages` 2 MiB pages; on drop everything is unmounted and
/// the pool emptied.
struct Fresh;

impl Fresh {
    fn new(pages: u64) -> Result<Self, String> {
        let _ = umount(MNT);
        sys::ensure_unloaded()?;
        sys::insmod(&[])?;
        sys::pool_2m(pages)?;
        Ok(Fresh)
    }

    /// Unmounts and checks the invariant: all pages free, nothing reserved.
    fn finish(self) -> TestResult {
        let _ = umount(MNT);
        for kb in SIZES {
            let (nr, free, resv) = (
                counter(kb, "nr_hugepages")?,
                counter(kb, "free_hugepages")?,
                counter(kb, "resv_hugepages")?,
            );
            ensure!(
                free == nr && resv == 0,
                "{kb}kB after unmount: nr {nr} free {free} resv {resv}"
            );
        }
        Ok(())
    }
}

impl Drop for Fresh {
    fn drop(&mut self) {
        let _ = umount(MNT);
        for kb in SIZES {
            let _ = set_nr(kb, 0);
        }
    }
}

/// The /proc/mounts options of the mount at MNT.
fn proc_mount_opts() -> Result<String, String> {
    let m = sys::read("/proc/mounts")?;
    m.lines()
        .find(|l| l.split_whitespace().nth(1) == Some(MNT))
        .and_then(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.get(2) == Some(&"rhugetlbfs")).then(|| f.get(3).map(|s| s.to_string()))?
        })
        .ok_or_else(|| format!("no rhugetlbfs mount at {MNT} in /proc/mounts:\n{m}"))
}

fn statfs(dir: &str) -> Result<libc::statfs, String> {
    let p = CString::new(dir).unwrap();
    // SAFETY: zeroed statfs is a valid out-parameter.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: `p` is a C string, `st` writable.
    if unsafe { libc::statfs(p.as_ptr(), &mut st) } != 0 {
        return Err(format!("statfs {dir}: {}", std::io::Error::last_os_error()));
    }
    Ok(st)
}

fn errno_of(e: &std::io::Error) -> i32 {
    e.raw_os_error().unwrap_or(0)
}

fn mount_defaults() -> TestResult {
    let f = Fresh::new(0)?;
    mount("")?;
    let opts = proc_mount_opts()?;
    ensure!(
        opts.contains("pagesize=2M")
            && !opts.contains(",size=")
            && !opts.contains("min_size=")
            && !opts.contains("mode="),
        "default options shown as {opts:?}"
    );
    let md = std::fs::metadata(MNT).map_err(|e| e.to_string())?;
    ensure!(
        md.is_dir() && md.mode() & 0o7777 == 0o755,
        "root mode {:o}",
        md.mode()
    );
    ensure!(
        md.uid() == 0 && md.gid() == 0,
        "root owner {}:{}",
        md.uid(),
        md.gid()
    );
    // The `source` key is the VFS's, not an unknown option.
    f.finish()
}

fn mount_every_option() -> TestResult {
    let f = Fresh::new(8)?;
    mount("pagesize=2M,size=8M,min_size=4M,nr_inodes=10,mode=1770,uid=1000,gid=2000")?;
    let opts = proc_mount_opts()?;
    for want in [
        "uid=1000",
        "gid=2000",
        "mode=1770",
        "nr_inodes=10",
        "pagesize=2M",
        "size=8388608",
        "min_size=4194304",
    ] {
        ensure!(opts.contains(want), "{want} missing from {opts:?}");
    }
    let md = std::fs::metadata(MNT).map_err(|e| e.to_string())?;
    ensure!(
        md.mode() & 0o7777 == 0o1770 && md.uid() == 1000 && md.gid() == 2000,
        "root {:o} {}:{}",
        md.mode(),
        md.uid(),
        md.gid()
    );
    umount(MNT)?;
    // Percentages of the pool and the 1 GiB size.
    mount("size=50%,min_size=25%")?;
    let opts = proc_mount_opts()?;
    ensure!(
        opts.contains("size=8388608") && opts.contains("min_size=4194304"),
        "50%/25% of 8 pages shown as {opts:?}"
    );
    umount(MNT)?;
    mount("pagesize=1G")?;
    let opts = proc_mount_opts()?;
    ensure!(opts.contains("pagesize=1024M"), "1G mount shows {opts:?}");
    let st = statfs(MNT)?;
    ensure!(st.f_bsize == 1 << 30, "1G mount f_bsize {}", st.f_bsize);
    umount(MNT)?;
    // Later options override earlier ones.
    mount("mode=0700,mode=0711")?;
    let md = std::fs::metadata(MNT).map_err(|e| e.to_string())?;
    ensure!(
        md.mode() & 0o777 == 0o711,
        "last mode= wins: {:o}",
        md.mode()
    );
    f.finish()
}

fn mount_bad_options() -> TestResult {
    let f = Fresh::new(4)?;
    for opts in [
        "bogus=1",
        "pagesize=4K",
        "pagesize=3M",
        "pagesize=x",
        "size=",
        "size",
        "size=abc",
        "size=-1",
        "min_size=K",
        "nr_inodes=1x",
        "mode=0999",
        "mode=abc",
        "uid=-1",
        "uid=x",
        "gid=4294967295",
        "size=2M,min_size=4M",
    ] {
        match mount_at(MNT, opts) {
            Err(e) => ensure!(e == libc::EINVAL, "-o {opts}: errno {e}, want EINVAL"),
            Ok(()) => {
                let _ = umount(MNT);
                return Err(format!("-o {opts} mounted"));
            }
        }
    }
    let log = sys::run("dmesg", &[])?;
    ensure!(
        log.contains("bogus") && log.contains("pagesize") && log.contains("nr_inodes"),
        "no kernel message naming the bad options"
    );
    f.finish()
}

fn statfs_fields() -> TestResult {
    let f = Fresh::new(8)?;
    mount("size=8M,nr_inodes=5")?;
    let st = statfs(MNT)?;
    ensure!(st.f_type == HUGETLBFS_MAGIC, "f_type {:x}", st.f_type);
    ensure!(st.f_bsize == 2 << 20, "f_bsize {}", st.f_bsize);
    ensure!(
        st.f_blocks == 4 && st.f_bfree == 4 && st.f_bavail == 4,
        "blocks {} bfree {} bavail {}",
        st.f_blocks,
        st.f_bfree,
        st.f_bavail
    );
    // The root directory is one of the 5 inodes.
    ensure!(
        st.f_files == 5 && st.f_ffree == 4,
        "files {} ffree {}",
        st.f_files,
        st.f_ffree
    );
    ensure!(st.f_namelen == 255, "namelen {}", st.f_namelen);
    std::fs::File::create(format!("{MNT}/a")).map_err(|e| e.to_string())?;
    ensure!(statfs(MNT)?.f_ffree == 3, "ffree after a create");
    std::fs::remove_file(format!("{MNT}/a")).map_err(|e| e.to_string())?;
    ensure!(statfs(MNT)?.f_ffree == 4, "ffree after unlink");
    umount(MNT)?;
    // No limits: zero, as upstream's simple_statfs-like answer.
    mount("")?;
    let st = statfs(MNT)?;
    ensure!(
        st.f_blocks == 0 && st.f_files == 0,
        "unlimited mount blocks {} files {}",
        st.f_blocks,
        st.f_files
    );
    f.finish()
}

fn min_size_reserve() -> TestResult {
    let f = Fresh::new(8)?;
    mount("min_size=6M")?;
    ensure!(
        counter(2048, "resv_hugepages")? == 3,
        "min_size=6M reserves 3 pages"
    );
    // A second mount cannot reserve more than what is left unreserved.
    ensure!(
        mount_at("/tmp/rhfs2", "min_size=12M") == Err(libc::ENOMEM),
        "min_size beyond the pool mounted"
    );
    mount_at("/tmp/rhfs2", "min_size=10M").map_err(|e| format!("second mount: errno {e}"))?;
    ensure!(counter(2048, "resv_hugepages")? == 8, "3 + 5 reserved");
    umount("/tmp/rhfs2")?;
    ensure!(counter(2048, "resv_hugepages")? == 3, "unmount released 5");
    f.finish()
}

fn min_size_enomem() -> TestResult {
    let f = Fresh::new(2)?;
    sys::write_ok(&format!("{}/nr_overcommit_hugepages", hdir(2048)), "0\n")?;
    ensure!(
        mount_at(MNT, "min_size=8M") == Err(libc::ENOMEM),
        "min_size=8M on 2 pages"
    );
    ensure!(
        counter(2048, "resv_hugepages")? == 0,
        "failed mount left a reservation"
    );
    // With overcommit, the reserve allocates surplus pages, returned at unmount.
    sys::write_ok(&format!("{}/nr_overcommit_hugepages", hdir(2048)), "4\n")?;
    mount("min_size=8M")?;
    ensure!(
        counter(2048, "resv_hugepages")? == 4 && counter(2048, "surplus_hugepages")? == 2,
        "surplus gathered for min_size"
    );
    umount(MNT)?;
    ensure!(
        counter(2048, "surplus_hugepages")? == 0,
        "surplus kept after unmount"
    );
    sys::write_ok(&format!("{}/nr_overcommit_hugepages", hdir(2048)), "0\n")?;
    f.finish()
}

fn nr_inodes_limit() -> TestResult {
    let f = Fresh::new(0)?;
    mount("nr_inodes=3")?;
    std::fs::File::create(format!("{MNT}/a")).map_err(|e| e.to_string())?;
    std::fs::create_dir(format!("{MNT}/d")).map_err(|e| e.to_string())?;
    let e = std::fs::File::create(format!("{MNT}/b")).err();
    ensure!(
        e.as_ref().map(errno_of) == Some(libc::ENOSPC),
        "4th inode: {e:?}, want ENOSPC"
    );
    f.finish()
}

fn namespace_ops() -> TestResult {
    let f = Fresh::new(0)?;
    mount("")?;
    let p = |s: &str| format!("{MNT}/{s}");
    let io = |r: std::io::Result<()>, what: &str| r.map_err(|e| format!("{what}: {e}"));
    std::fs::File::create(p("a")).map_err(|e| e.to_string())?;
    io(std::fs::create_dir(p("d")), "mkdir")?;
    io(std::fs::create_dir(p("d/e")), "mkdir nested")?;
    ensure!(
        std::fs::metadata(p("d"))
            .map_err(|e| e.to_string())?
            .nlink()
            == 3,
        "nlink of d"
    );
    io(std::fs::rename(p("a"), p("d/b")), "rename")?;
    ensure!(
        std::fs::metadata(p("a")).is_err(),
        "a still there after rename"
    );
    io(std::fs::hard_link(p("d/b"), p("c")), "link")?;
    ensure!(
        std::fs::metadata(p("c"))
            .map_err(|e| e.to_string())?
            .nlink()
            == 2,
        "nlink after link"
    );
    io(std::os::unix::fs::symlink("d/b", p("s")), "symlink")?;
    ensure!(
        std::fs::read_link(p("s"))
            .map_err(|e| e.to_string())?
            .to_str()
            == Some("d/b"),
        "readlink"
    );
    ensure!(
        std::fs::metadata(p("s"))
            .map_err(|e| e.to_string())?
            .is_file(),
        "symlink follows"
    );
    let fifo = CString::new(p("fifo")).unwrap();
    // SAFETY: `fifo` is a C string.
    ensure!(
        unsafe { libc::mknod(fifo.as_ptr(), libc::S_IFIFO | 0o600, 0) } == 0,
        "mknod fifo"
    );
    let e = std::fs::remove_dir(p("d")).err();
    ensure!(
        e.as_ref().map(errno_of) == Some(libc::ENOTEMPTY),
        "rmdir non-empty: {e:?}"
    );
    let mut names: Vec<String> = std::fs::read_dir(MNT)
        .map_err(|e| e.to_string())?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    names.sort();
    ensure!(names == ["c", "d", "fifo", "s"], "readdir {names:?}");
    io(std::fs::remove_file(p("d/b")), "unlink")?;
    io(std::fs::remove_file(p("c")), "unlink last link")?;
    io(std::fs::remove_dir(p("d/e")), "rmdir")?;
    io(std::fs::remove_dir(p("d")), "rmdir")?;
    io(std::fs::remove_file(p("s")), "unlink symlink")?;
    io(std::fs::remove_file(p("fifo")), "unlink fifo")?;
    f.finish()
}

fn write_read() -> TestResult {
    use std::io::{Read, Seek, SeekFrom, Write};
    let f = Fresh::new(0)?;
    mount("")?;
    let path = format!("{MNT}/f");
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|e| e.to_string())?;
    let e = file.write(b"x").err();
    ensure!(
        e.as_ref().map(errno_of) == Some(libc::EINVAL),
        "write: {e:?}, want EINVAL"
    );
    file.set_len(4 << 20)
        .map_err(|e| format!("ftruncate 4M: {e}"))?;
    let mut buf = Vec::new();
    file.read_to_end(&mut buf).map_err(|e| e.to_string())?;
    ensure!(
        buf.len() == 4 << 20 && buf.iter().all(|&b| b == 0),
        "hole read {} bytes",
        buf.len()
    );
    let end = file.seek(SeekFrom::End(0)).map_err(|e| e.to_string())?;
    ensure!(end == 4 << 20, "llseek end {end}");
    file.sync_all().map_err(|e| format!("fsync: {e}"))?;
    drop(file);
    f.finish()
}

fn truncate_aligned() -> TestResult {
    let f = Fresh::new(0)?;
    mount("")?;
    let path = format!("{MNT}/f");
    let file = std::fs::File::create(&path).map_err(|e| e.to_string())?;
    let e = file.set_len(4096).err();
    ensure!(
        e.as_ref().map(errno_of) == Some(libc::EINVAL),
        "ftruncate 4096: {e:?}"
    );
    file.set_len(2 << 20).map_err(|e| e.to_string())?;
    file.set_len(0).map_err(|e| e.to_string())?;
    ensure!(
        file.metadata().map_err(|e| e.to_string())?.len() == 0,
        "size after truncate"
    );
    f.finish()
}

fn permissions() -> TestResult {
    let f = Fresh::new(0)?;
    mount("mode=0755")?;
    std::fs::create_dir(format!("{MNT}/ro")).map_err(|e| e.to_string())?;
    // As nobody: creating in a 0755 root-owned directory fails; chmod by root works.
    let out = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "touch"])
        .arg(format!("{MNT}/ro/x"))
        .output();
    let denied = match out {
        Ok(o) => !o.status.success(),
        Err(_) => {
            // No setpriv in the guest: do it in a forked child.
            child_create_as_nobody(&format!("{MNT}/ro/x"))?
        }
    };
    ensure!(denied, "nobody created a file in a 0755 root directory");
    std::fs::set_permissions(
        format!("{MNT}/ro"),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .map_err(|e| e.to_string())?;
    ensure!(
        !child_create_as_nobody(&format!("{MNT}/ro/y"))?,
        "nobody denied after chmod 777"
    );
    f.finish()
}

/// Forks a child that drops to uid/gid 65534 and creates `path`; Ok(true) if it was denied.
fn child_create_as_nobody(path: &str) -> Result<bool, String> {
    let c = CString::new(path).unwrap();
    // SAFETY: The child only calls async-signal-safe functions before _exit.
    unsafe {
        let pid = libc::fork();
        if pid == 0 {
            if libc::setgid(65534) != 0 || libc::setuid(65534) != 0 {
                libc::_exit(2);
            }
            let fd = libc::open(c.as_ptr(), libc::O_CREAT | libc::O_RDWR, 0o600);
            libc::_exit(if fd >= 0 { 0 } else { 1 });
        }
        let mut status = 0;
        libc::waitpid(pid, &mut status, 0);
        match libc::WEXITSTATUS(status) {
            0 => Ok(false),
            1 => Ok(true),
            s => Err(format!("child exit {s}")),
        }
    }
}

fn unload_refused() -> TestResult {
    let f = Fresh::new(0)?;
    mount("")?;
    ensure!(sys::rmmod().is_err(), "rmmod succeeded while mounted");
    ensure!(sys::module_loaded()?, "module gone while mounted");
    f.finish()
}

fn umount_rmmod_memory() -> TestResult {
    let _ = umount(MNT);
    sys::ensure_unloaded()?;
    let free0 = sys::free_kb()?;
    {
        let f = Fresh::new(16)?;
        mount("size=16M,min_size=8M")?;
        for i in 0..20 {
            std::fs::File::create(format!("{MNT}/f{i}")).map_err(|e| e.to_string())?;
        }
        f.finish()?;
    }
    sys::rmmod()?;
    let free1 = sys::free_kb()?;
    ensure!(
        free1 + 16 * 1024 >= free0,
        "MemFree {free0} kB before, {free1} kB after rmmod"
    );
    Ok(())
}

const MB2: usize = 2 << 20;

/// An mmap of `len` bytes of `path` (created if needed); Err(errno).
fn map(path: &str, len: usize, off: i64, flags: i32) -> Result<*mut u8, i32> {
    use std::os::unix::io::AsRawFd;
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| errno_of(&e))?;
    // SAFETY: A fresh mapping at an address the kernel picks.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            flags,
            f.as_raw_fd(),
            off,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0));
    }
    Ok(p.cast())
}

fn map_ok(path: &str, len: usize, flags: i32) -> Result<*mut u8, String> {
    map(path, len, 0, flags).map_err(|e| format!("mmap {path} {len}: errno {e}"))
}

fn unmap(p: *mut u8, len: usize) {
    // SAFETY: `p`/`len` is a mapping made by `map`.
    unsafe { libc::munmap(p.cast(), len) };
}

/// Runs `f` in a forked child; Ok(None) if it exited 0, Ok(Some(sig)) if a signal killed it.
fn in_child(f: impl FnOnce() -> bool) -> Result<Option<i32>, String> {
    // SAFETY: The child runs `f` and exits without unwinding into the parent's state.
    unsafe {
        let pid = libc::fork();
        if pid == 0 {
            let ok = f();
            libc::_exit(if ok { 0 } else { 1 });
        }
        let mut status = 0;
        libc::waitpid(pid, &mut status, 0);
        if libc::WIFSIGNALED(status) {
            Ok(Some(libc::WTERMSIG(status)))
        } else if libc::WEXITSTATUS(status) == 0 {
            Ok(None)
        } else {
            Err(format!("child exited {}", libc::WEXITSTATUS(status)))
        }
    }
}

fn stat(kb: u64, name: &str) -> Result<u64, String> {
    let s = sys::read(&format!("{}/stats", hdir(kb)))?;
    s.lines()
        .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
        .ok_or_else(|| format!("no {name} in stats"))
}

const SHARED: i32 = libc::MAP_SHARED;

fn shared_two_processes() -> TestResult {
    use std::io::Read;
    let f = Fresh::new(4)?;
    mount("")?;
    let path = format!("{MNT}/f");
    let len = 2 * MB2;
    let p = map_ok(&path, len, SHARED)?;
    ensure!(
        counter(2048, "resv_hugepages")? == 2,
        "2 pages reserved at mmap"
    );
    ensure!(
        std::fs::metadata(&path).map_err(|e| e.to_string())?.len() == len as u64,
        "a writable shared mapping extends i_size"
    );
    // SAFETY: `p` maps `len` bytes.
    let m = unsafe { std::slice::from_raw_parts_mut(p, len) };
    for (i, b) in m.iter_mut().enumerate().step_by(4096) {
        *b = (i / 4096) as u8;
    }
    ensure!(
        counter(2048, "resv_hugepages")? == 0,
        "faults consumed the reservations"
    );
    let path2 = path.clone();
    let child = in_child(move || {
        let Ok(q) = map(&path2, len, 0, SHARED) else {
            return false;
        };
        // SAFETY: `q` maps `len` bytes.
        let c = unsafe { std::slice::from_raw_parts_mut(q, len) };
        let seen = c
            .iter()
            .enumerate()
            .step_by(4096)
            .all(|(i, &b)| b == (i / 4096) as u8);
        c[100] = 0x5a;
        seen
    })?;
    ensure!(
        child.is_none(),
        "the second process did not see the data ({child:?})"
    );
    ensure!(
        m[100] == 0x5a,
        "the child's write is not visible to the parent"
    );
    let mut buf = Vec::new();
    std::fs::File::open(&path)
        .and_then(|mut f| f.read_to_end(&mut buf))
        .map_err(|e| e.to_string())?;
    ensure!(buf.len() == len, "read {} bytes", buf.len());
    ensure!(
        buf[100] == 0x5a && buf[4096] == 1 && buf[MB2 + 4096] == 1,
        "read(2) content"
    );
    unmap(p, len);
    std::fs::remove_file(&path).map_err(|e| e.to_string())?;
    f.finish()
}

fn sigbus_eof_truncate() -> TestResult {
    let f = Fresh::new(4)?;
    mount("")?;
    let path = format!("{MNT}/f");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|e| e.to_string())?;
    file.set_len(MB2 as u64).map_err(|e| e.to_string())?;
    // Read-only mapping of 2 pages over a 1-page file: the second is past EOF.
    use std::os::unix::io::AsRawFd;
    // SAFETY: A fresh shared read-only mapping.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            2 * MB2,
            libc::PROT_READ,
            SHARED,
            file.as_raw_fd(),
            0,
        )
    };
    ensure!(p != libc::MAP_FAILED, "read-only mmap failed");
    let p = p as *mut u8;
    // SAFETY: Reads inside the mapping.
    let r = in_child(|| unsafe { std::ptr::read_volatile(p) } == 0)?;
    ensure!(r.is_none(), "read of page 0: {r:?}");
    // SAFETY: Reads inside the mapping, past EOF.
    let r = in_child(|| unsafe { std::ptr::read_volatile(p.add(MB2)) } == 0)?;
    ensure!(r == Some(libc::SIGBUS), "past EOF: {r:?}, want SIGBUS");
    unmap(p, 2 * MB2);
    // Truncate a mapped, faulted file: the page goes, later faults SIGBUS.
    let q = map_ok(&path, 2 * MB2, SHARED)?;
    // SAFETY: Inside the mapping.
    unsafe {
        *q = 1;
        *q.add(MB2) = 2;
    }
    let free_before = counter(2048, "free_hugepages")?;
    file.set_len(MB2 as u64).map_err(|e| e.to_string())?;
    ensure!(
        counter(2048, "free_hugepages")? == free_before + 1,
        "truncate did not free the page"
    );
    // SAFETY: Inside the mapping, now past EOF.
    let r = in_child(|| unsafe { std::ptr::read_volatile(q.add(MB2)) } == 2)?;
    ensure!(
        r == Some(libc::SIGBUS),
        "after truncate: {r:?}, want SIGBUS"
    );
    // SAFETY: Inside the mapping.
    ensure!(unsafe { *q } == 1, "page 0 lost by truncate");
    unmap(q, 2 * MB2);
    drop(file);
    std::fs::remove_file(&path).map_err(|e| e.to_string())?;
    f.finish()
}

fn mmap_enomem() -> TestResult {
    let f = Fresh::new(2)?;
    mount("")?;
    let r = map(&format!("{MNT}/f"), 3 * MB2, 0, SHARED);
    ensure!(r == Err(libc::ENOMEM), "3 pages on a 2-page pool: {r:?}");
    ensure!(
        counter(2048, "resv_hugepages")? == 0,
        "failed mmap left a reservation"
    );
    let p = map_ok(&format!("{MNT}/f"), 2 * MB2, SHARED)?;
    ensure!(counter(2048, "resv_hugepages")? == 2, "2 reserved");
    unmap(p, 2 * MB2);
    std::fs::remove_file(format!("{MNT}/f")).map_err(|e| e.to_string())?;
    f.finish()
}

fn noreserve_sigbus() -> TestResult {
    let f = Fresh::new(1)?;
    mount("")?;
    let path = format!("{MNT}/f");
    let p = map_ok(&path, 2 * MB2, SHARED | libc::MAP_NORESERVE)?;
    ensure!(
        counter(2048, "resv_hugepages")? == 0,
        "MAP_NORESERVE reserved"
    );
    // SAFETY: Inside the mapping.
    unsafe { *p = 7 };
    ensure!(counter(2048, "free_hugepages")? == 0, "the page was taken");
    // SAFETY: Inside the mapping; no page left in the pool.
    let r = in_child(|| unsafe {
        *p.add(MB2) = 1;
        true
    })?;
    ensure!(
        r == Some(libc::SIGBUS),
        "second page with an empty pool: {r:?}"
    );
    // With overcommit allowed, the fault takes a new surplus page instead (upstream
    // alloc_hugetlb_folio), freed with the file.
    sys::write_ok(&format!("{}/nr_overcommit_hugepages", hdir(2048)), "1")?;
    // SAFETY: Inside the mapping.
    unsafe { *p.add(MB2) = 1 };
    ensure!(
        counters(2048)? == (2, 0, 0, 1),
        "surplus page at fault: {:?}",
        counters(2048)?
    );
    unmap(p, 2 * MB2);
    std::fs::remove_file(&path).map_err(|e| e.to_string())?;
    ensure!(
        counters(2048)? == (1, 1, 0, 0),
        "surplus page not freed with the file: {:?}",
        counters(2048)?
    );
    sys::write_ok(&format!("{}/nr_overcommit_hugepages", hdir(2048)), "0")?;
    f.finish()
}

fn size_quota() -> TestResult {
    let f = Fresh::new(8)?;
    mount("size=4M")?;
    let r = map(&format!("{MNT}/a"), 3 * MB2, 0, SHARED);
    ensure!(r == Err(libc::ENOMEM), "6M on a 4M quota: {r:?}");
    let p = map_ok(&format!("{MNT}/a"), 2 * MB2, SHARED)?;
    ensure!(
        statfs(MNT)?.f_bfree == 0,
        "statfs bfree with the quota used"
    );
    let r = map(&format!("{MNT}/b"), MB2, 0, SHARED);
    ensure!(r == Err(libc::ENOMEM), "quota exhausted: {r:?}");
    unmap(p, 2 * MB2);
    std::fs::remove_file(format!("{MNT}/a")).map_err(|e| e.to_string())?;
    ensure!(statfs(MNT)?.f_bfree == 2, "statfs bfree after unlink");
    std::fs::remove_file(format!("{MNT}/b")).ok();
    f.finish()
}

fn min_size_covers_mapping() -> TestResult {
    let f = Fresh::new(4)?;
    mount("min_size=4M")?;
    ensure!(counter(2048, "resv_hugepages")? == 2, "min_size reserve");
    // The mapping uses the mount's reserve: no extra global reservation.
    let p = map_ok(&format!("{MNT}/a"), 2 * MB2, SHARED)?;
    ensure!(
        counter(2048, "resv_hugepages")? == 2,
        "mapping inside min_size"
    );
    // SAFETY: Inside the mapping.
    unsafe { *p = 1 };
    unmap(p, 2 * MB2);
    std::fs::remove_file(format!("{MNT}/a")).map_err(|e| e.to_string())?;
    ensure!(
        counter(2048, "resv_hugepages")? == 2,
        "the reserve is back after unlink"
    );
    f.finish()
}

fn unaligned() -> TestResult {
    let f = Fresh::new(4)?;
    mount("")?;
    let path = format!("{MNT}/f");
    std::fs::File::create(&path)
        .and_then(|f| f.set_len(4 * MB2 as u64))
        .map_err(|e| e.to_string())?;
    ensure!(
        map(&path, MB2, 4096, SHARED) == Err(libc::EINVAL),
        "offset 4096"
    );
    ensure!(
        map(&path, MB2 + 4096, 0, SHARED) == Err(libc::EINVAL),
        "length 2M+4K"
    );
    let p = map_ok(&path, 2 * MB2, SHARED)?;
    // SAFETY: Inside the mapping.
    unsafe { *p = 1 };
    ensure!(
        (p as usize).is_multiple_of(MB2),
        "address {p:?} not 2M aligned"
    );
    // SAFETY: Partial munmap/mprotect inside the mapping.
    let (u, m) = unsafe {
        (
            libc::munmap(p.add(4096).cast(), 4096),
            libc::mprotect(p.cast(), 4096, libc::PROT_READ),
        )
    };
    let e = std::io::Error::last_os_error().raw_os_error();
    ensure!(
        u != 0 && m != 0 && e == Some(libc::EINVAL),
        "partial munmap {u} / mprotect {m}"
    );
    // Splitting at a huge page boundary is fine.
    // SAFETY: The second huge page of the mapping.
    ensure!(
        unsafe { libc::munmap(p.add(MB2).cast(), MB2) } == 0,
        "aligned partial munmap"
    );
    // MAP_FIXED at an unaligned address.
    use std::os::unix::io::AsRawFd;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|e| e.to_string())?;
    // SAFETY: A fixed mapping over our own (unmapped) second half, 4 KiB off.
    let q = unsafe {
        libc::mmap(
            p.add(MB2 + 4096).cast(),
            MB2,
            libc::PROT_READ,
            SHARED | libc::MAP_FIXED,
            file.as_raw_fd(),
            0,
        )
    };
    ensure!(
        q == libc::MAP_FAILED,
        "MAP_FIXED at an unaligned address mapped"
    );
    unmap(p, MB2);
    drop(file);
    std::fs::remove_file(&path).map_err(|e| e.to_string())?;
    f.finish()
}

/// A mapping of `len` bytes of `path` with `prot` and `flags` at offset 0; Err(errno).
fn map_prot(path: &str, len: usize, prot: i32, flags: i32) -> Result<*mut u8, i32> {
    use std::os::unix::io::AsRawFd;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(prot & libc::PROT_WRITE != 0 && flags & SHARED != 0)
        .open(path)
        .map_err(|e| errno_of(&e))?;
    // SAFETY: A fresh mapping at an address the kernel picks.
    let p = unsafe { libc::mmap(std::ptr::null_mut(), len, prot, flags, f.as_raw_fd(), 0) };
    if p == libc::MAP_FAILED {
        return Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0));
    }
    Ok(p.cast())
}

/// The first `n` bytes of `path` by read(2).
fn read_head(path: &str, n: usize) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let mut buf = vec![0; n];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut buf))
        .map_err(|e| format!("read {path}: {e}"))?;
    Ok(buf)
}

const PRIVATE: i32 = libc::MAP_PRIVATE;

fn private_readonly() -> TestResult {
    // The shared mapping's two pages, and the private mapping's two reserved ones.
    let f = Fresh::new(4)?;
    mount("")?;
    let path = format!("{MNT}/f");
    let p = map_ok(&path, 2 * MB2, SHARED)?;
    // SAFETY: `p` maps two huge pages; only the first is touched, the second stays a hole.
    unsafe { *p.add(5) = 0x42 };
    let free0 = counter(2048, "free_hugepages")?;
    // A read-only private mapping sees the file's page itself and cannot become writable.
    let q = map_prot(&path, 2 * MB2, libc::PROT_READ, PRIVATE)
        .map_err(|e| format!("read-only MAP_PRIVATE: errno {e}"))?;
    // SAFETY: Inside the mapping.
    ensure!(
        unsafe { *q.add(5) } == 0x42,
        "private mapping does not see the file's page"
    );
    ensure!(
        counter(2048, "free_hugepages")? == free0,
        "reading the file's page through a private mapping took a page"
    );
    // The hole reads zero from a private page that the file does not get.
    // SAFETY: Inside the mapping.
    ensure!(unsafe { *q.add(MB2 + 7) } == 0, "hole not zero");
    ensure!(
        counter(2048, "free_hugepages")? == free0 - 1,
        "a private read of a hole takes one private page"
    );
    // SAFETY: mprotect of our own mapping.
    let m = unsafe { libc::mprotect(q.cast(), MB2, libc::PROT_READ | libc::PROT_WRITE) };
    let e = std::io::Error::last_os_error().raw_os_error();
    ensure!(
        m != 0 && e == Some(libc::EACCES),
        "mprotect(PROT_WRITE) on it: {m} {e:?}"
    );
    unmap(q, 2 * MB2);
    ensure!(
        counter(2048, "free_hugepages")? == free0,
        "munmap did not free the private page"
    );
    // SAFETY: Touching the hole through the shared mapping: it must still be a hole.
    ensure!(unsafe { *p.add(MB2 + 7) } == 0, "file hole not zero");
    unmap(p, 2 * MB2);
    std::fs::remove_file(&path).map_err(|e| e.to_string())?;
    f.finish()
}

fn private_isolation() -> TestResult {
    let f = Fresh::new(6)?;
    mount("")?;
    let path = format!("{MNT}/f");
    let len = 2 * MB2;
    let s = map_ok(&path, len, SHARED)?;
    // SAFETY: `s` maps two huge pages.
    let sm = unsafe { std::slice::from_raw_parts_mut(s, len) };
    sm[5] = 0x11;
    ensure!(counter(2048, "resv_hugepages")? == 1, "shared reservation");
    let p = map_ok(&path, len, PRIVATE)?;
    ensure!(
        counter(2048, "resv_hugepages")? == 3,
        "MAP_PRIVATE reserves its whole range for the owner (resv {})",
        counter(2048, "resv_hugepages")?
    );
    // SAFETY: `p` maps two huge pages.
    let pm = unsafe { std::slice::from_raw_parts_mut(p, len) };
    ensure!(pm[5] == 0x11, "private read does not see the file's data");
    pm[5] = 0x99;
    ensure!(
        sm[5] == 0x11 && read_head(&path, 6)?[5] == 0x11,
        "a private write reached the file"
    );
    // File -> private: the file's data as it is when the private page is first touched.
    sm[MB2 + 5] = 0x33;
    ensure!(
        pm[MB2 + 5] == 0x33,
        "private mapping does not see the file's page at fault time"
    );
    pm[MB2 + 5] = 0x44;
    ensure!(sm[MB2 + 5] == 0x33, "second private write reached the file");
    ensure!(
        counter(2048, "resv_hugepages")? == 0,
        "faults consumed every reservation (resv {})",
        counter(2048, "resv_hugepages")?
    );
    // Another private mapping sees the file, not the first one's private pages.
    let p2 = map_ok(&path, len, PRIVATE)?;
    // SAFETY: `p2` maps two huge pages.
    let (a, b) = unsafe { (*p2.add(5), *p2.add(MB2 + 5)) };
    ensure!(
        a == 0x11 && b == 0x33,
        "second private mapping saw {a:#x} {b:#x}"
    );
    ensure!(pm[5] == 0x99 && pm[MB2 + 5] == 0x44, "private data changed");
    unmap(p2, len);
    unmap(p, len);
    unmap(s, len);
    std::fs::remove_file(&path).map_err(|e| e.to_string())?;
    f.finish()
}

/// A pipe; (read end, write end).
pub(crate) fn pipe() -> Result<(i32, i32), String> {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for two descriptors.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
        return Err(format!("pipe: {}", std::io::Error::last_os_error()));
    }
    Ok((fds[0], fds[1]))
}

fn pipe_send(fd: i32) {
    // SAFETY: Writes one byte from a local.
    unsafe { libc::write(fd, [1u8].as_ptr().cast(), 1) };
}

fn pipe_wait(fd: i32) -> bool {
    let mut b = [0u8];
    // SAFETY: Reads one byte into a local.
    unsafe { libc::read(fd, b.as_mut_ptr().cast(), 1) == 1 }
}

/// A private mapping of `pages` huge pages of size `hsize` in a fresh file, then fork
/// isolation both ways: the child sees the parent's pre-fork data, and neither side sees
/// the other's writes after the fork.
fn private_fork_run(hsize: usize, pages: usize) -> TestResult {
    let path = format!("{MNT}/f");
    let len = hsize * pages;
    let p = map_ok(&path, len, PRIVATE)?;
    // SAFETY: `p` maps `len` bytes.
    let m = unsafe { std::slice::from_raw_parts_mut(p, len) };
    for i in 0..pages {
        m[i * hsize + 9] = 0xa0 + i as u8;
    }
    let (c_rd, p_wr) = pipe()?;
    let (p_rd, c_wr) = pipe()?;
    // SAFETY: fork; the child only touches its copy of the mapping and the pipes, then
    // exits.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: The child's copy of the private mapping.
        let m = unsafe { std::slice::from_raw_parts_mut(p, len) };
        let inherited = (0..pages).all(|i| m[i * hsize + 9] == 0xa0 + i as u8);
        m[9] = 0xc0;
        pipe_send(c_wr);
        let parent_wrote = pipe_wait(c_rd);
        let last = (pages - 1) * hsize + 9;
        let want_last = if pages == 1 {
            0xc0
        } else {
            0xa0 + (pages - 1) as u8
        };
        let ok = inherited && parent_wrote && m[9] == 0xc0 && m[last] == want_last;
        // SAFETY: Leaves the child without running the parent's destructors.
        unsafe { libc::_exit(if ok { 0 } else { 1 }) };
    }
    ensure!(pid > 0, "fork: {}", std::io::Error::last_os_error());
    let child_wrote = pipe_wait(p_rd);
    // The child's write is not seen here; the parent's writes are not seen there.
    let parent_saw = m[9];
    let last = (pages - 1) * hsize + 9;
    if pages > 1 {
        m[last] = 0xd0;
    }
    m[9] = 0xd1;
    pipe_send(p_wr);
    let mut status = 0;
    // SAFETY: Waits for our child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    for fd in [c_rd, p_wr, p_rd, c_wr] {
        // SAFETY: Our pipe descriptors.
        unsafe { libc::close(fd) };
    }
    ensure!(child_wrote, "the child did not report");
    ensure!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "the child saw the parent's post-fork writes or lost the pre-fork data (status {status:#x})"
    );
    ensure!(
        parent_saw == 0xa0,
        "the parent saw the child's write ({parent_saw:#x})"
    );
    ensure!(
        m[9] == 0xd1 && (pages == 1 || m[last] == 0xd0),
        "the parent's own writes"
    );
    ensure!(
        read_head(&path, 10)?[9] == 0,
        "private writes reached the file"
    );
    unmap(p, len);
    std::fs::remove_file(&path).map_err(|e| e.to_string())?;
    Ok(())
}

fn private_fork_2m() -> TestResult {
    // The owner's 3 reserved pages, plus the copies the child takes after the fork.
    let f = Fresh::new(6)?;
    mount("")?;
    private_fork_run(MB2, 3)?;
    f.finish()
}

fn private_fork_1g() -> TestResult {
    let f = Fresh::new(0)?;
    let _gb = sys::lend_1g(2)?;
    mount("pagesize=1G")?;
    let pud0 = stat(1048576, "faults_pud")?;
    private_fork_run(1 << 30, 1)?;
    let pud = stat(1048576, "faults_pud")? - pud0;
    let fb = stat(1048576, "faults_fallback")?;
    ensure!(fb == 0, "{fb} fallback faults");
    eprintln!("    1 GiB private fork: faults_pud +{pud}, faults_fallback {fb}");
    f.finish()
}

fn private_reservations() -> TestResult {
    let f = Fresh::new(4)?;
    mount("")?;
    let path = format!("{MNT}/f");
    // More than the pool can cover: ENOMEM, nothing reserved.
    std::fs::File::create(&path).map_err(|e| e.to_string())?;
    let r = map(&path, 5 * MB2, 0, PRIVATE);
    ensure!(r == Err(libc::ENOMEM), "5 pages of 4: {r:?}, want ENOMEM");
    ensure!(
        counter(2048, "resv_hugepages")? == 0,
        "refused mapping reserved"
    );
    let p = map_ok(&path, 4 * MB2, PRIVATE)?;
    ensure!(counter(2048, "resv_hugepages")? == 4, "owner reserves 4");
    // SAFETY: Inside the mapping: page 0 and page 3.
    unsafe {
        *p = 1;
        *p.add(3 * MB2) = 3;
    }
    ensure!(
        counters(2048)? == (4, 2, 2, 0),
        "after two faults: {:?}",
        counters(2048)?
    );
    // munmap of pages 2..4: page 3's page is freed, page 2's reservation given back.
    // SAFETY: The aligned tail of our mapping.
    ensure!(
        unsafe { libc::munmap(p.add(2 * MB2).cast(), 2 * MB2) } == 0,
        "partial munmap"
    );
    ensure!(
        counters(2048)? == (4, 3, 1, 0),
        "after munmap of the tail: {:?}",
        counters(2048)?
    );
    unmap(p, 2 * MB2);
    ensure!(
        counters(2048)? == (4, 4, 0, 0),
        "after munmap: {:?}",
        counters(2048)?
    );
    // MAP_NORESERVE: nothing reserved, faults take free pages.
    let q = map_ok(&path, 4 * MB2, PRIVATE | libc::MAP_NORESERVE)?;
    ensure!(counter(2048, "resv_hugepages")? == 0, "NORESERVE reserved");
    // SAFETY: Inside the mapping.
    unsafe { *q.add(MB2) = 1 };
    ensure!(counter(2048, "free_hugepages")? == 3, "NORESERVE fault");
    unmap(q, 4 * MB2);
    std::fs::remove_file(&path).map_err(|e| e.to_string())?;
    f.finish()
}

fn private_mprotect_mremap() -> TestResult {
    let f = Fresh::new(4)?;
    mount("")?;
    let path = format!("{MNT}/f");
    let len = 2 * MB2;
    let p = map_ok(&path, len, PRIVATE)?;
    // SAFETY: Inside the mapping.
    unsafe { *p.add(17) = 0x17 };
    // SAFETY: mprotect of our own mapping, read-only then writable again.
    let (a, b) = unsafe {
        (
            libc::mprotect(p.cast(), len, libc::PROT_READ),
            libc::mprotect(p.cast(), len, libc::PROT_READ | libc::PROT_WRITE),
        )
    };
    ensure!(a == 0 && b == 0, "mprotect: {a} {b}");
    // SAFETY: Inside the mapping, writable again.
    unsafe {
        ensure!(*p.add(17) == 0x17, "data lost by mprotect");
        *p.add(18) = 0x18;
    }
    let free = counter(2048, "free_hugepages")?;
    // mremap to another huge-page-aligned place: the private pages move with it.
    let hole = map_ok(&format!("{MNT}/spot"), len, SHARED)?;
    unmap(hole, len);
    // SAFETY: Moves our mapping to an aligned address we just freed.
    let q = unsafe {
        libc::mremap(
            p.cast(),
            len,
            len,
            libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED,
            hole.cast::<libc::c_void>(),
        )
    };
    ensure!(
        q != libc::MAP_FAILED,
        "mremap: {}",
        std::io::Error::last_os_error()
    );
    let q = q as *mut u8;
    // SAFETY: The moved mapping.
    unsafe {
        ensure!(
            *q.add(17) == 0x17 && *q.add(18) == 0x18,
            "mremap lost the private data"
        );
        *q.add(MB2) = 1;
    }
    ensure!(
        counter(2048, "free_hugepages")? == free - 1,
        "mremap freed or leaked pages"
    );
    unmap(q, len);
    std::fs::remove_file(&path).map_err(|e| e.to_string())?;
    std::fs::remove_file(format!("{MNT}/spot")).map_err(|e| e.to_string())?;
    f.finish()
}

/// The system THP mode, put back on drop.
struct ThpMode(String);

const THP_ENABLED: &str = "/sys/kernel/mm/transparent_hugepage/enabled";

impl ThpMode {
    fn set(mode: &str) -> Result<Self, String> {
        let cur = sys::read(THP_ENABLED)?;
        let old = cur
            .split_whitespace()
            .find_map(|w| w.strip_prefix('[')?.strip_suffix(']'))
            .ok_or_else(|| format!("THP mode in {cur:?}"))?
            .to_string();
        sys::write_ok(THP_ENABLED, mode)?;
        Ok(ThpMode(old))
    }
}

impl Drop for ThpMode {
    fn drop(&mut self) {
        let _ = sys::write_ok(THP_ENABLED, &self.0);
    }
}

/// With THP "never" the core skips `huge_fault` for the private (`VM_MIXEDMAP`) mappings,
/// and `PR_SET_THP_DISABLE` skips it for every file mapping: the 4 KiB handler then maps
/// the page with a PMD entry (a 2 MiB piece of a 1 GiB page), counted as a fallback.
fn thp_never() -> TestResult {
    let f = Fresh::new(4)?;
    let _gb = sys::lend_1g(1)?;
    let _thp = ThpMode::set("never")?;
    mount("")?;
    let path = format!("{MNT}/f");
    let (pmd0, fb0) = (stat(2048, "faults_pmd")?, stat(2048, "faults_fallback")?);
    let s = map_ok(&path, MB2, SHARED)?;
    // SAFETY: Inside the mapping.
    unsafe { *s.add(3) = 0x33 };
    let p = map_ok(&path, MB2, PRIVATE)?;
    // SAFETY: Inside the mapping.
    let seen = unsafe {
        let seen = *p.add(3);
        *p.add(4) = 0x44;
        seen
    };
    // SAFETY: Inside the mappings.
    let (file4, priv4) = unsafe { (*s.add(4), *p.add(4)) };
    ensure!(
        seen == 0x33 && priv4 == 0x44 && file4 == 0,
        "private mapping with THP never: saw {seen:#x}, wrote {priv4:#x}, file {file4:#x}"
    );
    let (pmd, fb) = (
        stat(2048, "faults_pmd")? - pmd0,
        stat(2048, "faults_fallback")? - fb0,
    );
    ensure!(
        pmd == 1 && fb == 1,
        "shared fault should be a PMD fault, private a fallback: pmd +{pmd}, fallback +{fb}"
    );
    let kps = smaps_kernel_page_size(p as usize)?;
    ensure!(kps == 2048, "KernelPageSize {kps} kB");
    // PR_SET_THP_DISABLE: even the shared (VM_PFNMAP) mapping takes the 4 KiB path.
    let path2 = path.clone();
    let child = in_child(move || {
        // SAFETY: prctl on ourselves.
        if unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) } != 0 {
            return false;
        }
        let Ok(q) = map(&path2, MB2, 0, SHARED) else {
            return false;
        };
        // SAFETY: Inside the mapping.
        unsafe { *q.add(3) == 0x33 }
    })?;
    ensure!(child.is_none(), "PR_SET_THP_DISABLE child: {child:?}");
    unmap(p, MB2);
    unmap(s, MB2);
    std::fs::remove_file(&path).map_err(|e| e.to_string())?;
    umount(MNT)?;
    mount("pagesize=1G")?;
    let g = format!("{MNT}/g");
    let fb0 = stat(1048576, "faults_fallback")?;
    let q = map_ok(&g, 1 << 30, PRIVATE)?;
    // SAFETY: Inside the 1 GiB mapping: three 2 MiB pieces of its page.
    let ok = unsafe {
        *q.add(5) = 5;
        *q.add((512 << 20) + 5) = 6;
        *q.add(5) == 5 && *q.add((512 << 20) + 5) == 6 && *q.add(MB2 + 5) == 0
    };
    let fb = stat(1048576, "faults_fallback")? - fb0;
    ensure!(ok, "1 GiB private data with THP never");
    ensure!(
        fb == 3,
        "1 GiB page in 2 MiB pieces: fallback +{fb}, want 3"
    );
    unmap(q, 1 << 30);
    std::fs::remove_file(&g).map_err(|e| e.to_string())?;
    f.finish()
}

fn recycled_zero() -> TestResult {
    let f = Fresh::new(2)?;
    mount("")?;
    for (name, fill) in [("a", 0xaau8), ("b", 0x55)] {
        let path = format!("{MNT}/{name}");
        let p = map_ok(&path, 2 * MB2, SHARED)?;
        // SAFETY: `p` maps 2 huge pages.
        let m = unsafe { std::slice::from_raw_parts_mut(p, 2 * MB2) };
        ensure!(
            m.iter().all(|&b| b == 0),
            "file {name}: a recycled page is not zero"
        );
        m.fill(fill);
        unmap(p, 2 * MB2);
        std::fs::remove_file(&path).map_err(|e| e.to_string())?;
    }
    f.finish()
}

fn smaps_kernel_page_size(addr: usize) -> Result<u64, String> {
    let s = sys::read("/proc/self/smaps")?;
    let mut inside = false;
    for l in s.lines() {
        if let Some((range, _)) = l.split_once(' ') {
            if let Some((a, b)) = range.split_once('-') {
                if let (Ok(a), Ok(b)) = (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16))
                {
                    inside = a <= addr && addr < b;
                    continue;
                }
            }
        }
        if inside {
            if let Some(v) = l.strip_prefix("KernelPageSize:") {
                return v
                    .trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse()
                    .map_err(|e| format!("{e}"));
            }
        }
    }
    Err(format!("no smaps entry for {addr:#x}"))
}

fn counters_smaps_2m() -> TestResult {
    let f = Fresh::new(4)?;
    mount("")?;
    let (pmd0, fb0) = (stat(2048, "faults_pmd")?, stat(2048, "faults_fallback")?);
    let p = map_ok(&format!("{MNT}/a"), 4 * MB2, SHARED)?;
    // SAFETY: `p` maps 4 huge pages; every 4 KiB page is touched.
    let m = unsafe { std::slice::from_raw_parts_mut(p, 4 * MB2) };
    for b in m.iter_mut().step_by(4096) {
        *b = 1;
    }
    let (pmd, fb) = (
        stat(2048, "faults_pmd")? - pmd0,
        stat(2048, "faults_fallback")? - fb0,
    );
    ensure!(
        pmd == 4 && fb == 0,
        "faults: {pmd} PMD, {fb} fallback; want 4 and 0"
    );
    let kps = smaps_kernel_page_size(p as usize)?;
    ensure!(kps == 2048, "KernelPageSize {kps} kB");
    eprintln!("    fault counters: faults_pmd +{pmd}, faults_fallback +{fb}");
    unmap(p, 4 * MB2);
    std::fs::remove_file(format!("{MNT}/a")).map_err(|e| e.to_string())?;
    f.finish()
}

fn gigantic_1g() -> TestResult {
    let f = Fresh::new(0)?;
    let _gb = sys::lend_1g(1)?;
    mount("pagesize=1G")?;
    let gb = 1usize << 30;
    let pud0 = stat(1048576, "faults_pud")?;
    let p = map_ok(&format!("{MNT}/g"), gb, SHARED)?;
    ensure!(
        (p as usize).is_multiple_of(gb),
        "address {p:?} not 1 GiB aligned"
    );
    // SAFETY: `p` maps 1 GiB.
    let m = unsafe { std::slice::from_raw_parts_mut(p, gb) };
    for (i, b) in m.iter_mut().enumerate().step_by(4096) {
        ensure!(*b == 0, "1 GiB page not zeroed at {i}");
        *b = (i >> 12) as u8;
    }
    ensure!(
        m.iter()
            .enumerate()
            .step_by(4096)
            .all(|(i, &b)| b == (i >> 12) as u8),
        "1 GiB pattern"
    );
    let pud = stat(1048576, "faults_pud")? - pud0;
    let fb = stat(1048576, "faults_fallback")?;
    ensure!(
        pud == 1 && fb == 0,
        "1 GiB faults: {pud} PUD, {fb} fallback"
    );
    let kps = smaps_kernel_page_size(p as usize)?;
    ensure!(kps == 1048576, "KernelPageSize {kps} kB");
    eprintln!("    fault counters: faults_pud +{pud}, faults_fallback {fb}");
    unmap(p, gb);
    std::fs::remove_file(format!("{MNT}/g")).map_err(|e| e.to_string())?;
    f.finish()
}

/// SIGBUS handler of the stress child: a page truncated away under a thread is replaced by
/// anonymous memory (a whole aligned huge page, which `may_split` allows), so the thread
/// goes on.
extern "C" fn on_sigbus(_sig: i32, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    // SAFETY: `info` is the kernel's siginfo for this SIGBUS.
    let addr = unsafe { (*info).si_addr() } as usize & !(MB2 - 1);
    // SAFETY: Replaces one huge page of the test's own mapping; mmap is async-signal-safe.
    unsafe {
        libc::mmap(
            addr as *mut libc::c_void,
            MB2,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
            -1,
            0,
        );
    }
}

fn stress() -> TestResult {
    let f = Fresh::new(12)?;
    sys::write_ok(&format!("{}/nr_overcommit_hugepages", hdir(2048)), "4\n")?;
    mount("")?;
    let path = format!("{MNT}/s");
    let pages = 8usize;
    let path2 = path.clone();
    let nr_path = format!("{}/nr_hugepages", hdir(2048));
    let r = in_child(move || {
        // SAFETY: Installs a plain SA_SIGINFO handler.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_sigbus as *const () as usize;
            sa.sa_flags = libc::SA_SIGINFO;
            libc::sigaction(libc::SIGBUS, &sa, std::ptr::null_mut());
        }
        let Ok(p) = map(&path2, pages * MB2, 0, SHARED) else {
            return false;
        };
        let base = p as usize;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut threads = Vec::new();
        for t in 0..4usize {
            let stop = stop.clone();
            threads.push(std::thread::spawn(move || {
                let mut x = t as u64 + 1;
                let mut n = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    // Threads 0 and 1 walk the same indexes in step; 2 and 3 jump around.
                    let idx = if t < 2 {
                        (n as usize) % pages
                    } else {
                        (x as usize) % pages
                    };
                    let off = idx * MB2 + (x as usize % (MB2 / 4096)) * 4096;
                    // SAFETY: Inside the mapping (or its anonymous replacement).
                    unsafe { std::ptr::write_volatile((base + off) as *mut u8, t as u8) };
                    n += 1;
                }
            }));
        }
        let stop2 = stop.clone();
        let path3 = path2.clone();
        threads.push(std::thread::spawn(move || {
            let Ok(file) = std::fs::OpenOptions::new().write(true).open(&path3) else {
                return;
            };
            let mut i = 0u64;
            while !stop2.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = file.set_len(((i % 4) * 2 * MB2 as u64).min((pages * MB2) as u64));
                let _ = file.set_len((pages * MB2) as u64);
                i += 1;
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        }));
        let stop3 = stop.clone();
        threads.push(std::thread::spawn(move || {
            let mut i = 0u64;
            while !stop3.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = std::fs::write(&nr_path, format!("{}\n", 8 + (i % 3) * 4));
                i += 1;
                std::thread::sleep(std::time::Duration::from_millis(7));
            }
        }));
        std::thread::sleep(std::time::Duration::from_secs(3));
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for t in threads {
            let _ = t.join();
        }
        true
    })?;
    ensure!(r.is_none(), "stress child died: {r:?}");
    std::fs::remove_file(&path).map_err(|e| e.to_string())?;
    umount(MNT)?;
    ensure!(
        counter(2048, "resv_hugepages")? == 0,
        "reservations left after the stress"
    );
    ensure!(
        counter(2048, "surplus_hugepages")? == 0,
        "surplus left after the stress"
    );
    sys::write_ok(&format!("{}/nr_overcommit_hugepages", hdir(2048)), "0\n")?;
    f.finish()
}

fn fallocate() -> TestResult {
    use std::os::unix::io::AsRawFd;
    let f = Fresh::new(4)?;
    mount("")?;
    let path = format!("{MNT}/f");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|e| e.to_string())?;
    let fd = file.as_raw_fd();
    let fa = |mode: i32, off: usize, len: usize| -> Result<(), i32> {
        // SAFETY: Plain syscall on our fd.
        if unsafe { libc::fallocate(fd, mode, off as i64, len as i64) } == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
        }
    };
    let free = || counter(2048, "free_hugepages");
    let size = || file.metadata().map(|m| m.len()).map_err(|e| e.to_string());
    // 3 MiB from 0 rounds out to pages 0 and 1; i_size becomes 3 MiB as upstream.
    fa(0, 0, 3 << 20).map_err(|e| format!("fallocate 0..3M: errno {e}"))?;
    ensure!(
        free()? == 2 && size()? == 3 << 20,
        "prealloc: free {} size {}",
        free()?,
        size()?
    );
    fa(libc::FALLOC_FL_KEEP_SIZE, 2 * MB2, MB2).map_err(|e| format!("KEEP_SIZE: errno {e}"))?;
    ensure!(
        free()? == 1 && size()? == 3 << 20,
        "KEEP_SIZE: free {} size {}",
        free()?,
        size()?
    );
    // Data in page 0, then a partial punch zeroes only its range.
    file.set_len(3 * MB2 as u64).map_err(|e| e.to_string())?;
    let p = map_ok(&path, 3 * MB2, SHARED)?;
    // SAFETY: `p` maps 3 huge pages.
    let m = unsafe { std::slice::from_raw_parts_mut(p, 3 * MB2) };
    m.fill(0xff);
    ensure!(
        free()? == 1,
        "preallocated pages were not used by the mapping"
    );
    let punch = libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE;
    fa(punch, 4096, 8192).map_err(|e| format!("partial punch: errno {e}"))?;
    ensure!(
        m[4095] == 0xff && m[4096] == 0 && m[12287] == 0 && m[12288] == 0xff,
        "partial punch zeroed the wrong bytes"
    );
    ensure!(free()? == 1, "a partial punch freed a page");
    // A whole-page punch frees page 1, mapped or not; it reads zero (refault) afterwards.
    fa(punch, MB2, MB2).map_err(|e| format!("punch page 1: errno {e}"))?;
    ensure!(free()? == 2, "punch did not free page 1: free {}", free()?);
    ensure!(m[MB2] == 0, "punched page did not read zero");
    ensure!(free()? == 1, "refault after punch");
    ensure!(
        fa(libc::FALLOC_FL_PUNCH_HOLE, 0, MB2) == Err(libc::EOPNOTSUPP),
        "PUNCH without KEEP_SIZE"
    );
    ensure!(
        fa(libc::FALLOC_FL_ZERO_RANGE, 0, MB2) == Err(libc::EOPNOTSUPP),
        "ZERO_RANGE"
    );
    ensure!(
        fa(0, 0, 100 * MB2) == Err(libc::ENOSPC),
        "prealloc beyond the pool"
    );
    unmap(p, 3 * MB2);
    drop(file);
    std::fs::remove_file(&path).map_err(|e| e.to_string())?;
    f.finish()
}

/// Shrinking the pool below the pages in use frees the free ones and turns the rest of the
/// excess into surplus, which leaves the pool when the pages come back (set_max_huge_pages).
fn shrink_below_in_use() -> TestResult {
    let f = Fresh::new(4)?;
    mount("")?;
    let len = 3 * (2 << 20);
    let path = format!("{MNT}/inuse");
    let p = map_ok(&path, len, libc::MAP_SHARED)?;
    for i in 0..3 {
        // SAFETY: inside the 3-page mapping.
        unsafe { std::ptr::write_volatile(p.add(i * (2 << 20)), 1u8) };
    }
    let state = || counters(2048);
    ensure!(
        state()? == (4, 1, 0, 0),
        "3 pages in use of 4: {:?}",
        state()?
    );
    set_nr(2048, 1)?;
    // The one free page goes; two of the three in use are above the target: surplus.
    ensure!(
        state()? == (3, 0, 0, 2),
        "after shrinking to 1 with 3 in use: (nr, free, resv, surplus) = {:?}",
        state()?
    );
    unmap(p, len);
    std::fs::remove_file(&path).map_err(|e| e.to_string())?;
    // The surplus pages left the pool as they were freed; one persistent page stays.
    ensure!(
        state()? == (1, 1, 0, 0),
        "after freeing the file: (nr, free, resv, surplus) = {:?}",
        state()?
    );
    f.finish()
}
