//! The namespace and plain file I/O: create, link, rename, mknod, readdir, write(2) and
//! read(2), truncation to aligned sizes, permissions.

use super::{mount, Fresh, MNT};
use crate::harness::TestResult;
use crate::map::create_empty;
use crate::os::{become_nobody, fork, wait};
use crate::sys;
use anyhow::{bail, ensure, Context, Result};
use rustix::fs::{FileType, Mode, OFlags, CWD};
use rustix::io::Errno;
use std::os::unix::fs::MetadataExt;

pub(super) fn namespace_ops() -> TestResult {
    let f = Fresh::new(0)?;
    mount("")?;
    let p = |s: &str| format!("{MNT}/{s}");
    let io = |r: std::io::Result<()>, what: &str| r.with_context(|| what.to_string());
    std::fs::File::create(p("a"))?;
    io(std::fs::create_dir(p("d")), "mkdir")?;
    io(std::fs::create_dir(p("d/e")), "mkdir nested")?;
    ensure!(std::fs::metadata(p("d"))?.nlink() == 3, "nlink of d");
    io(std::fs::rename(p("a"), p("d/b")), "rename")?;
    ensure!(
        std::fs::metadata(p("a")).is_err(),
        "a still there after rename"
    );
    io(std::fs::hard_link(p("d/b"), p("c")), "link")?;
    ensure!(std::fs::metadata(p("c"))?.nlink() == 2, "nlink after link");
    io(std::os::unix::fs::symlink("d/b", p("s")), "symlink")?;
    ensure!(
        std::fs::read_link(p("s"))?.to_str() == Some("d/b"),
        "readlink"
    );
    ensure!(std::fs::metadata(p("s"))?.is_file(), "symlink follows");
    let fifo = rustix::fs::mknodat(CWD, p("fifo"), FileType::Fifo, Mode::from(0o600), 0);
    ensure!(fifo.is_ok(), "mknod fifo: {fifo:?}");
    let e = std::fs::remove_dir(p("d")).err();
    ensure!(
        e.as_ref().map(sys::errno_of) == Some(Errno::NOTEMPTY),
        "rmdir non-empty: {e:?}"
    );
    let mut names: Vec<String> = std::fs::read_dir(MNT)?
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

pub(super) fn write_read() -> TestResult {
    use std::io::{Read, Seek, SeekFrom, Write};
    let f = Fresh::new(0)?;
    mount("")?;
    let path = format!("{MNT}/f");
    let mut file = create_empty(&path)?;
    let e = file.write(b"x").err();
    ensure!(
        e.as_ref().map(sys::errno_of) == Some(Errno::INVAL),
        "write: {e:?}, want EINVAL"
    );
    file.set_len(4 << 20).context("ftruncate 4M")?;
    let mut buf = Vec::new();
    file.read_to_end(&mut buf)?;
    ensure!(
        buf.len() == 4 << 20 && buf.iter().all(|&b| b == 0),
        "hole read {} bytes",
        buf.len()
    );
    let end = file.seek(SeekFrom::End(0))?;
    ensure!(end == 4 << 20, "llseek end {end}");
    file.sync_all().context("fsync")?;
    drop(file);
    f.finish()
}

pub(super) fn truncate_aligned() -> TestResult {
    let f = Fresh::new(0)?;
    mount("")?;
    let path = format!("{MNT}/f");
    let file = std::fs::File::create(&path)?;
    let e = file.set_len(4096).err();
    ensure!(
        e.as_ref().map(sys::errno_of) == Some(Errno::INVAL),
        "ftruncate 4096: {e:?}"
    );
    file.set_len(2 << 20)?;
    file.set_len(0)?;
    ensure!(file.metadata()?.len() == 0, "size after truncate");
    f.finish()
}

pub(super) fn permissions() -> TestResult {
    let f = Fresh::new(0)?;
    mount("mode=0755")?;
    std::fs::create_dir(format!("{MNT}/ro"))?;
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
    )?;
    ensure!(
        !child_create_as_nobody(&format!("{MNT}/ro/y"))?,
        "nobody denied after chmod 777"
    );
    f.finish()
}

/// Forks a child that drops to uid/gid 65534 and creates `path`; Ok(true) if it was denied.
fn child_create_as_nobody(path: &str) -> Result<bool> {
    let pid = fork(|| {
        if become_nobody().is_err() {
            return 2;
        }
        let flags = OFlags::CREATE | OFlags::RDWR;
        match rustix::fs::open(path, flags, Mode::from(0o600)) {
            Ok(_) => 0,
            Err(_) => 1,
        }
    })?;
    match wait(pid)?.exit_status() {
        Some(0) => Ok(false),
        Some(1) => Ok(true),
        s => bail!("child exit {s:?}"),
    }
}
