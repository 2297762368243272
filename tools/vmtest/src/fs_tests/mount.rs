//! Mounts: options, /proc/mounts, statfs, min_size reserves, the inode limit, unloading.

use super::{mount, mount_at, statfs, Fresh, MNT};
use crate::harness::TestResult;
use crate::os::umount;
use crate::sys::{self, counter, hdir};
use anyhow::{bail, ensure, Context, Result};
use rustix::io::Errno;
use std::os::unix::fs::MetadataExt;

const HUGETLBFS_MAGIC: i64 = 0x958458f6;

/// The /proc/mounts options of the mount at MNT.
fn proc_mount_opts() -> Result<String> {
    let m = sys::read("/proc/mounts")?;
    m.lines()
        .find(|l| l.split_whitespace().nth(1) == Some(MNT))
        .and_then(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.get(2) == Some(&"rhugetlbfs")).then(|| f.get(3).map(|s| s.to_string()))?
        })
        .with_context(|| format!("no rhugetlbfs mount at {MNT} in /proc/mounts:\n{m}"))
}

pub(super) fn defaults() -> TestResult {
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
    let md = std::fs::metadata(MNT)?;
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

pub(super) fn every_option() -> TestResult {
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
    let md = std::fs::metadata(MNT)?;
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
    let md = std::fs::metadata(MNT)?;
    ensure!(
        md.mode() & 0o777 == 0o711,
        "last mode= wins: {:o}",
        md.mode()
    );
    f.finish()
}

pub(super) fn bad_options() -> TestResult {
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
            Err(e) => ensure!(e == Errno::INVAL, "-o {opts}: {e}, want EINVAL"),
            Ok(()) => {
                let _ = umount(MNT);
                bail!("-o {opts} mounted");
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

pub(super) fn statfs_fields() -> TestResult {
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
    std::fs::File::create(format!("{MNT}/a"))?;
    ensure!(statfs(MNT)?.f_ffree == 3, "ffree after a create");
    sys::remove(&format!("{MNT}/a"))?;
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

pub(super) fn min_size_reserve() -> TestResult {
    let f = Fresh::new(8)?;
    mount("min_size=6M")?;
    ensure!(
        counter(2048, "resv_hugepages")? == 3,
        "min_size=6M reserves 3 pages"
    );
    // A second mount cannot reserve more than what is left unreserved.
    ensure!(
        mount_at("/tmp/rhfs2", "min_size=12M") == Err(Errno::NOMEM),
        "min_size beyond the pool mounted"
    );
    mount_at("/tmp/rhfs2", "min_size=10M").context("second mount")?;
    ensure!(counter(2048, "resv_hugepages")? == 8, "3 + 5 reserved");
    umount("/tmp/rhfs2")?;
    ensure!(counter(2048, "resv_hugepages")? == 3, "unmount released 5");
    f.finish()
}

pub(super) fn min_size_enomem() -> TestResult {
    let f = Fresh::new(2)?;
    sys::write_ok(&format!("{}/nr_overcommit_hugepages", hdir(2048)), "0\n")?;
    ensure!(
        mount_at(MNT, "min_size=8M") == Err(Errno::NOMEM),
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

pub(super) fn nr_inodes_limit() -> TestResult {
    let f = Fresh::new(0)?;
    mount("nr_inodes=3")?;
    std::fs::File::create(format!("{MNT}/a"))?;
    std::fs::create_dir(format!("{MNT}/d"))?;
    let e = std::fs::File::create(format!("{MNT}/b")).err();
    ensure!(
        e.as_ref().map(sys::errno_of) == Some(Errno::NOSPC),
        "4th inode: {e:?}, want ENOSPC"
    );
    f.finish()
}

pub(super) fn unload_refused() -> TestResult {
    let f = Fresh::new(0)?;
    mount("")?;
    ensure!(sys::rmmod().is_err(), "rmmod succeeded while mounted");
    ensure!(sys::module_loaded()?, "module gone while mounted");
    f.finish()
}

pub(super) fn umount_rmmod_memory() -> TestResult {
    let _ = umount(MNT);
    sys::ensure_unloaded()?;
    let free0 = sys::free_kb()?;
    {
        let f = Fresh::new(16)?;
        mount("size=16M,min_size=8M")?;
        for i in 0..20 {
            std::fs::File::create(format!("{MNT}/f{i}"))?;
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
