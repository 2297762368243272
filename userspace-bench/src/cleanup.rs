//! Everything rhbench changes on the system, and how it is put back.
//!
//! Pool sizes (`nr_hugepages` files) and temporary hugetlbfs mounts are recorded in one
//! process-wide registry before they are changed. They are restored:
//! * when the guard object that changed them is dropped (normal end, `?` errors, panics);
//! * from a signal thread on SIGINT / SIGTERM / SIGHUP ([`install_signal_handler`]), which
//!   restores everything still registered and exits with 128 + signal.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use crate::util;

#[derive(Debug)]
struct PoolEntry {
    file: PathBuf,
    original: String,
    users: usize,
}

#[derive(Debug, Default)]
struct Registry {
    pools: Vec<PoolEntry>,
    mounts: Vec<PathBuf>,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    pools: Vec::new(),
    mounts: Vec::new(),
});

fn registry() -> MutexGuard<'static, Registry> {
    REGISTRY.lock().unwrap_or_else(|e| e.into_inner())
}

/// Holds a pool-size file (e.g. `.../hugepages-2048kB/nr_hugepages`) or another pool
/// setting (e.g. rhugetlbfs's `zero_policy`) changed by rhbench. The first guard for a file
/// remembers its original value; when the last guard for that file drops, the original
/// value is written back.
#[derive(Debug)]
pub struct PoolGuard {
    file: PathBuf,
}

impl PoolGuard {
    /// Register `file` (reading its current value as the original) without changing it.
    pub fn new(file: &Path) -> std::io::Result<PoolGuard> {
        let mut reg = registry();
        if let Some(e) = reg.pools.iter_mut().find(|e| e.file == file) {
            e.users += 1;
        } else {
            let original = util::read_trim(file)?;
            reg.pools.push(PoolEntry {
                file: file.to_path_buf(),
                original,
                users: 1,
            });
        }
        Ok(PoolGuard {
            file: file.to_path_buf(),
        })
    }

    pub fn file(&self) -> &Path {
        &self.file
    }

    /// The value the file had before rhbench first changed it.
    pub fn original(&self) -> Option<String> {
        registry()
            .pools
            .iter()
            .find(|e| e.file == self.file)
            .map(|e| e.original.clone())
    }

    /// Write a new value (under the registry lock, so a signal restore cannot interleave).
    pub fn set(&self, value: u64) -> std::io::Result<()> {
        self.set_word(&value.to_string())
    }

    /// Write a word such as `fault` to a setting file, like [`PoolGuard::set`].
    pub fn set_word(&self, value: &str) -> std::io::Result<()> {
        let _reg = registry();
        util::write_str(&self.file, value)
    }
}

impl Drop for PoolGuard {
    fn drop(&mut self) {
        let mut reg = registry();
        let Some(i) = reg.pools.iter().position(|e| e.file == self.file) else {
            return;
        };
        reg.pools[i].users -= 1;
        if reg.pools[i].users == 0 {
            let e = reg.pools.remove(i);
            if let Err(msg) = restore_one(&e) {
                eprintln!("rhbench: {msg}");
            }
        }
    }
}

fn restore_one(e: &PoolEntry) -> Result<(), String> {
    let now = util::read_trim(&e.file).unwrap_or_default();
    if now == e.original {
        return Ok(());
    }
    util::write_str(&e.file, &e.original).map_err(|err| {
        format!(
            "FAILED to restore {} to {} (now {now}): {err}",
            e.file.display(),
            e.original
        )
    })?;
    let after = util::read_trim(&e.file).unwrap_or_default();
    if after != e.original {
        // Pages still mapped by this process become surplus pages (nr_hugepages counts them)
        // and go back to the buddy allocator when they are unmapped, at the latest at exit.
        let surplus = e
            .file
            .parent()
            .and_then(|d| util::read_u64(&d.join("surplus_hugepages")).ok());
        if let (Some(sp), Ok(a), Ok(o)) = (surplus, after.parse::<u64>(), e.original.parse::<u64>())
        {
            if a.saturating_sub(sp) <= o {
                return Ok(());
            }
        }
        return Err(format!(
            "restored {} to {} but it reads {after} (pages still in use?)",
            e.file.display(),
            e.original
        ));
    }
    Ok(())
}

/// A temporary hugetlbfs mount made by rhbench: unmounted (and its directory removed) on drop.
#[derive(Debug)]
pub struct MountGuard {
    path: PathBuf,
}

impl MountGuard {
    /// Mount hugetlbfs with `pagesize` bytes at a new directory under `parent`.
    pub fn mount_hugetlbfs(parent: &Path, page_size: u64) -> Result<MountGuard, String> {
        use std::ffi::CString;
        use std::os::unix::ffi::OsStrExt;
        let dir = parent.join(format!(
            "rhbench-hugetlbfs-{}-{}",
            util::size_tag(page_size),
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
        let src = CString::new("none").unwrap();
        let fstype = CString::new("hugetlbfs").unwrap();
        let target = CString::new(dir.as_os_str().as_bytes()).unwrap();
        let opts = CString::new(format!("pagesize={},mode=0700", page_size)).unwrap();
        let mut reg = registry();
        // SAFETY: all pointers are valid NUL-terminated strings for the duration of the call.
        let rc = unsafe {
            libc::mount(
                src.as_ptr(),
                target.as_ptr(),
                fstype.as_ptr(),
                0,
                opts.as_ptr() as *const libc::c_void,
            )
        };
        if rc != 0 {
            let err = std::io::Error::last_os_error();
            let _ = std::fs::remove_dir(&dir);
            return Err(format!("mount hugetlbfs pagesize={page_size}: {err}"));
        }
        reg.mounts.push(dir.clone());
        Ok(MountGuard { path: dir })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn unmount(path: &Path) {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    if let Ok(c) = CString::new(path.as_os_str().as_bytes()) {
        // SAFETY: valid C string.
        unsafe {
            libc::umount2(c.as_ptr(), libc::MNT_DETACH);
        }
    }
    let _ = std::fs::remove_dir(path);
}

impl Drop for MountGuard {
    fn drop(&mut self) {
        let mut reg = registry();
        reg.mounts.retain(|m| m != &self.path);
        unmount(&self.path);
    }
}

/// Restore every registered pool and remove every temporary mount. Returns messages.
/// Used by the signal thread; also safe to call at any time (guards then find nothing to do).
pub fn restore_all() -> Vec<String> {
    let mut reg = registry();
    let mut msgs = Vec::new();
    for e in reg.pools.drain(..) {
        match restore_one(&e) {
            Ok(()) => msgs.push(format!(
                "restored {} = {} (pages still mapped are surplus and freed at exit)",
                e.file.display(),
                e.original
            )),
            Err(m) => msgs.push(m),
        }
    }
    for m in reg.mounts.drain(..) {
        unmount(&m);
        msgs.push(format!("unmounted {}", m.display()));
    }
    msgs
}

/// Serializes unit tests that touch the process-wide registry.
#[cfg(test)]
pub(crate) static TEST_LOCK: Mutex<()> = Mutex::new(());

#[cfg(test)]
pub(crate) fn test_lock() -> MutexGuard<'static, ()> {
    TEST_LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Number of pool files currently changed (for tests and the report).
pub fn registered_pools() -> usize {
    registry().pools.len()
}

/// Block SIGINT/SIGTERM/SIGHUP in this thread (call from `main` before any other thread
/// starts, so every thread inherits the mask) and handle them on a dedicated thread: restore
/// all pools and mounts, then exit with 128 + signal.
pub fn install_signal_handler() -> std::io::Result<()> {
    // SAFETY: plain libc signal-mask manipulation on a zeroed sigset_t.
    let set = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGHUP);
        let rc = libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        if rc != 0 {
            return Err(std::io::Error::from_raw_os_error(rc));
        }
        set
    };
    std::thread::Builder::new()
        .name("rhbench-signals".into())
        .spawn(move || loop {
            let mut sig: libc::c_int = 0;
            // SAFETY: `set` is a valid initialized signal set; `sig` is a valid out pointer.
            let rc = unsafe { libc::sigwait(&set, &mut sig) };
            if rc != 0 {
                continue;
            }
            eprintln!("\nrhbench: caught signal {sig}, restoring pool sizes and mounts");
            for m in restore_all() {
                eprintln!("rhbench: {m}");
            }
            // SAFETY: terminating the process; no Rust invariants depend on running destructors.
            unsafe { libc::_exit(128 + sig) };
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn fake_pool(dir: &Path, nr: u64) -> PathBuf {
        fs::create_dir_all(dir).unwrap();
        let f = dir.join("nr_hugepages");
        fs::write(&f, format!("{nr}\n")).unwrap();
        f
    }

    fn tmpdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "rhbench-cleanup-{tag}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn guard_restores_on_drop_and_nests() {
        let _l = test_lock();
        let d = tmpdir("nest");
        let f = fake_pool(&d.join("hugepages-2048kB"), 3);
        {
            let g1 = PoolGuard::new(&f).unwrap();
            g1.set(10).unwrap();
            assert_eq!(util::read_u64(&f).unwrap(), 10);
            {
                let g2 = PoolGuard::new(&f).unwrap();
                assert_eq!(g2.original().as_deref(), Some("3"));
                g2.set(20).unwrap();
            }
            // Inner guard gone, outer still holds the change.
            assert_eq!(util::read_u64(&f).unwrap(), 20);
        }
        assert_eq!(util::read_u64(&f).unwrap(), 3);
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn guard_restores_a_word_setting() {
        let _l = test_lock();
        let d = tmpdir("word");
        let f = d.join("zero_policy");
        fs::write(&f, "background\n").unwrap();
        {
            let g = PoolGuard::new(&f).unwrap();
            assert_eq!(g.original().as_deref(), Some("background"));
            g.set_word("fault").unwrap();
            assert_eq!(util::read_trim(&f).unwrap(), "fault");
        }
        assert_eq!(util::read_trim(&f).unwrap(), "background");
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn guard_restores_on_panic_unwind() {
        let _l = test_lock();
        let d = tmpdir("panic");
        let f = fake_pool(&d.join("hugepages-1048576kB"), 1);
        let f2 = f.clone();
        let r = std::panic::catch_unwind(move || {
            let g = PoolGuard::new(&f2).unwrap();
            g.set(7).unwrap();
            panic!("benchmark failed");
        });
        assert!(r.is_err());
        assert_eq!(util::read_u64(&f).unwrap(), 1);
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn restore_all_puts_back_everything_like_the_signal_thread() {
        let _l = test_lock();
        let d = tmpdir("all");
        let a = fake_pool(&d.join("a"), 0);
        let b = fake_pool(&d.join("b"), 5);
        let ga = PoolGuard::new(&a).unwrap();
        let gb = PoolGuard::new(&b).unwrap();
        ga.set(64).unwrap();
        gb.set(2).unwrap();
        let msgs = restore_all();
        assert!(
            msgs.iter()
                .filter(|m| m.contains(&d.display().to_string()))
                .count()
                >= 2,
            "{msgs:?}"
        );
        assert_eq!(util::read_u64(&a).unwrap(), 0);
        assert_eq!(util::read_u64(&b).unwrap(), 5);
        // Guards dropping afterwards must not write stale values.
        fs::write(&a, "9\n").unwrap();
        drop(ga);
        drop(gb);
        assert_eq!(util::read_u64(&a).unwrap(), 9);
        fs::remove_dir_all(&d).unwrap();
    }
}
