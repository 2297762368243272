//! Fault injection (issue 14, part 1), on the debug kernel (FAULT_INJECTION, FAILSLAB,
//! FAIL_PAGE_ALLOC, their debugfs): module load, mount, file creation with a shared and a
//! private fault, fallocate and punch, pool growth of both sizes, each run again and again
//! with its N-th allocation failing (`/proc/thread-self/fail-nth`, slab and page
//! allocations alike, sleeping ones included), for N = 1, 2, ... until the N-th is past the
//! operation's last allocation; then a mixed workload with allocations failing at random.
//!
//! After every run the operation must have succeeded or failed with an errno it documents
//! (a fault may also end in SIGBUS or be retried), and the state must be back where it was:
//! the module loaded or not as the result says, pool counters at their baseline (free ==
//! nr, resv == 0, surplus == 0), nothing mounted. No splat while it runs (the harness), no
//! leak (kmemleak, scanned at the guest's end by tools/vm.sh; free memory after each
//! test's rmmod, `memory_back`).
//!
//! Registered only where `RH_FAULT_INJECTION=1` (tools/test.sh sets it for the debug suite);
//! there, a kernel without fault injection fails the tests.

use crate::harness::{Suite, TestResult};
use crate::map::{create_sized, Map, PRIVATE, RW, SHARED};
use crate::os::{fork, mount_fs, outcome, umount, wait};
use crate::sys::{self, Fs};
use anyhow::{bail, ensure, Context, Result};
use rustix::io::Errno;
use std::collections::BTreeMap;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;

pub fn register(s: &mut Suite) {
    if !std::env::var("RH_FAULT_INJECTION").is_ok_and(|v| v == "1") {
        return;
    }
    s.add("fault_nth_insmod", || memory_back(nth_insmod));
    s.add("fault_nth_mount_with_size_min_size_nr_inodes", || {
        memory_back(nth_mount)
    });
    s.add("fault_nth_create_map_shared_fault_2m", || {
        memory_back(|| nth_file_op(false))
    });
    s.add("fault_nth_private_cow_fault_2m", || {
        memory_back(|| nth_file_op(true))
    });
    s.add("fault_nth_fallocate_punch_truncate_2m", || {
        memory_back(nth_fallocate)
    });
    s.add("fault_nth_pool_growth_2m", || memory_back(nth_pool_2m));
    s.add("fault_nth_pool_growth_1g", || memory_back(nth_pool_1g));
    s.add("fault_random_mixed_workload_2m", || {
        memory_back(random_mixed)
    });
}

/// Free memory (with the slab, as the stress counts it) after the test's last rmmod may be
/// this much below before its first insmod: a leak of pages is whole 2 MiB pages.
const MEMFREE_SLACK_KB: u64 = 16 << 10;

/// Runs `f` (which loads the module and unloads it at its end) and checks that the free
/// memory came back: pages the injected failures made the module lose would not.
fn memory_back(f: impl FnOnce() -> TestResult) -> TestResult {
    sys::ensure_unloaded()?;
    let free0 = sys::free_or_slab_kb()?;
    f()?;
    sys::ensure_unloaded()?;
    let free1 = sys::free_or_slab_kb()?;
    println!(
        "    free memory after rmmod - before insmod: {} kB",
        free1 as i64 - free0 as i64
    );
    ensure!(
        free1 + MEMFREE_SLACK_KB >= free0,
        "{} kB less free memory after the test (tolerance {MEMFREE_SLACK_KB} kB)",
        free0 - free1
    );
    Ok(())
}

/// The most failure points one sweep tries (an operation with more is reported, and fails).
const MAX_POINTS: u32 = 3000;

/// The fault-injection knobs, set for the test and put back after: sleeping allocations
/// fail too (by default both injectors ignore them), pages of any order, quietly (a stack
/// dump per injected failure would be a "Call Trace:" splat).
struct Injector {
    saved: Vec<(String, String)>,
}

const DEBUGFS: &str = "/sys/kernel/debug";

impl Injector {
    fn new() -> Result<Self> {
        if !std::path::Path::new(&format!("{DEBUGFS}/failslab")).exists() {
            let _ = mount_fs("debugfs", DEBUGFS, "");
        }
        let mut saved = Vec::new();
        for (file, value) in [
            ("failslab/ignore-gfp-wait", "N"),
            ("failslab/verbose", "0"),
            ("fail_page_alloc/ignore-gfp-wait", "N"),
            ("fail_page_alloc/ignore-gfp-highmem", "N"),
            ("fail_page_alloc/min-order", "0"),
            ("fail_page_alloc/verbose", "0"),
        ] {
            let path = format!("{DEBUGFS}/{file}");
            let old = std::fs::read_to_string(&path).with_context(|| {
                format!("{path}: this kernel has no fault injection (the debug flavour has)")
            })?;
            sys::write_ok(&path, value)?;
            saved.push((path, old.trim().to_string()));
        }
        let _ = std::fs::write("/dev/kmsg", crate::harness::FAULT_INJECTION_ON);
        Ok(Injector { saved })
    }

    /// Sets both injectors to fail at random, for tasks with `make-it-fail` only.
    fn random(&mut self, probability: u32) -> Result<()> {
        for inj in ["failslab", "fail_page_alloc"] {
            // The task filter first: until it is on, a probability applies to every task,
            // this one's next writes included.
            for (file, value) in [
                ("task-filter", "Y".into()),
                ("interval", "1".into()),
                ("times", "-1".into()),
                ("space", "0".into()),
                ("probability", probability.to_string()),
            ] {
                let path = format!("{DEBUGFS}/{inj}/{file}");
                let old = std::fs::read_to_string(&path).with_context(|| path.clone())?;
                self.saved.push((path.clone(), old.trim().to_string()));
                sys::write_ok(&path, &value)?;
            }
        }
        Ok(())
    }
}

impl Drop for Injector {
    fn drop(&mut self) {
        for (path, old) in self.saved.iter().rev() {
            let _ = sys::write(path, old);
        }
        let _ = std::fs::write("/dev/kmsg", crate::harness::FAULT_INJECTION_OFF);
    }
}

/// This thread's `fail-nth`, opened once (an open while armed would count).
struct FailNth(File);

impl FailNth {
    fn open() -> Result<Self> {
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/proc/thread-self/fail-nth")
            .context("open /proc/thread-self/fail-nth")?;
        Ok(FailNth(f))
    }

    /// The `n`-th fault-injection point this thread reaches from now on fails.
    fn arm(&self, n: u32) -> Result<()> {
        self.0
            .write_at(n.to_string().as_bytes(), 0)
            .context("arm fail-nth")?;
        Ok(())
    }

    /// Disarms; whether the armed failure was injected.
    fn disarm(&self) -> Result<bool> {
        let mut b = [0u8; 16];
        let n = self.0.read_at(&mut b, 0).context("read fail-nth")?;
        let left: u64 = std::str::from_utf8(&b[..n])?.trim().parse()?;
        self.0.write_at(b"0", 0).context("disarm fail-nth")?;
        Ok(left == 0)
    }
}

/// What a sweep saw: how many failure points, and the outcomes.
#[derive(Default)]
struct Tally {
    points: u32,
    outcomes: BTreeMap<String, u32>,
}

impl Tally {
    fn print(&self, what: &str) {
        let o: Vec<String> = self
            .outcomes
            .iter()
            .map(|(k, v)| format!("{k} x{v}"))
            .collect();
        println!(
            "    {what}: {} allocation points, each failed once: {}",
            self.points,
            o.join(", ")
        );
    }
}

/// Runs `op` with its N-th fault-injection point failing, N = 1, 2, ..., until a run no
/// longer reaches the N-th; `check` judges each run's outcome and restores the state.
fn sweep(
    what: &str,
    op: impl FnMut(&FailNth, u32) -> Result<String>,
    check: impl FnMut(&str) -> Result<()>,
) -> Result<Tally> {
    sweep_points(what, 1..=MAX_POINTS, false, op, check)
}

/// As [`sweep`] over the points `ns` only (in order; it ends at the first not reached,
/// unless `window`, where a point past a shorter run's end is counted and skipped).
fn sweep_points(
    what: &str,
    ns: impl IntoIterator<Item = u32>,
    window: bool,
    mut op: impl FnMut(&FailNth, u32) -> Result<String>,
    mut check: impl FnMut(&str) -> Result<()>,
) -> Result<Tally> {
    let _inj = Injector::new()?;
    let nth = FailNth::open()?;
    let mut t = Tally::default();
    for n in ns {
        let got = op(&nth, n).with_context(|| format!("{what}: failing point {n}"))?;
        check(&got).with_context(|| format!("{what}: failing point {n}: outcome {got}"))?;
        if got.ends_with("(not reached)") {
            if window {
                *t.outcomes.entry("past the run's end".into()).or_default() += 1;
                continue;
            }
            t.print(what);
            return Ok(t);
        }
        t.points += 1;
        *t.outcomes.entry(got).or_default() += 1;
        if n == MAX_POINTS {
            bail!("{what}: more than {MAX_POINTS} allocation points");
        }
    }
    t.print(what);
    Ok(t)
}

/// How many fault-injection points one run of `op` reaches (armed far past its last).
fn count_points(op: impl FnOnce(&FailNth, u32) -> Result<String>) -> Result<u32> {
    const FAR: u32 = 1 << 30;
    let _inj = Injector::new()?;
    let nth = FailNth::open()?;
    nth.arm(FAR)?;
    op(&nth, FAR)?;
    let mut b = [0u8; 16];
    let k = nth.0.read_at(&mut b, 0)?;
    let left: u32 = std::str::from_utf8(&b[..k])?.trim().parse()?;
    nth.0.write_at(b"0", 0)?;
    Ok(FAR - left)
}

/// Arms the `n`-th point (`n` from the sweep: one more than the points seen so far), runs
/// `f`, disarms; `f`'s outcome, marked "(not reached)" if no failure was injected.
fn armed(nth: &FailNth, n: u32, f: impl FnOnce() -> Result<(), Errno>) -> Result<String> {
    nth.arm(n)?;
    let r = f();
    let fired = nth.disarm()?;
    let o = outcome(r);
    Ok(if fired {
        o
    } else {
        format!("{o} (not reached)")
    })
}

/// The pool of `kb` is idle: every page free, nothing reserved or surplus.
fn idle(kb: u64, nr: u64) -> Result<()> {
    let (n, free, resv, surplus) = sys::counters(kb)?;
    ensure!(
        n == nr && free == nr && resv == 0 && surplus == 0,
        "{kb} kB pool nr {n} free {free} resv {resv} surplus {surplus}, want {nr} free"
    );
    Ok(())
}

/// The module loader reaches some 800 allocation points before the module's init and a
/// few after, 1-2 s a load on the debug kernel under TCG: the sweep takes the first ten
/// (the loader's refusals) and the last `INIT_POINTS` (the module's init, its unwinding
/// on every failure, and the loader's work after it), every one of those. The count
/// differs a little from load to load (kmemleak's and the first load's own allocations):
/// the window is measured on a second load and reaches 20 past its end.
const INIT_POINTS: u32 = 160;

fn nth_insmod() -> TestResult {
    sys::ensure_unloaded()?;
    let ko = File::open(sys::ko_path()?).context("open the module")?;
    let mut total = 0;
    for _ in 0..2 {
        total = count_points(|_, _| {
            finit_module(&ko).context("insmod, no failure injected")?;
            Ok(String::new())
        })?;
        sys::rmmod()?;
    }
    println!("    insmod reaches {total} allocation points");
    let first = total.saturating_sub(INIT_POINTS).max(11);
    let t = sweep_points(
        "insmod",
        (1..=10).chain(first..=total + 20),
        true,
        |nth, n| armed(nth, n, || finit_module(&ko)),
        |got| {
            let loaded = sys::module_loaded()?;
            let registered = sys::read("/proc/filesystems")?.contains("\trhugetlbfs\n");
            let sysfs = std::path::Path::new("/sys/fs/rhugetlbfs").exists();
            if got.starts_with('0') {
                ensure!(loaded && registered && sysfs, "loaded, but not whole");
                idle(2048, 0)?;
                sys::rmmod()?;
            } else {
                ensure!(
                    !loaded && !registered && !sysfs,
                    "failed, but left loaded {loaded}, registered {registered}, sysfs {sysfs}"
                );
            }
            Ok(())
        },
    )?;
    ensure!(t.points > 0, "no allocation point was reached");
    Ok(())
}

/// delete_module's partner: finit_module(fd, "", 0).
fn finit_module(ko: &File) -> Result<(), Errno> {
    // SAFETY: An open descriptor and a NUL-terminated empty parameter string, both alive
    // across the call.
    let r = unsafe { libc::syscall(libc::SYS_finit_module, ko.as_raw_fd(), c"".as_ptr(), 0) };
    if r < 0 {
        Err(sys::errno_of(&std::io::Error::last_os_error()))
    } else {
        Ok(())
    }
}

const DIR: &str = "/tmp/fault-mnt";

fn nth_mount() -> TestResult {
    sys::ensure_unloaded()?;
    sys::insmod(&[])?;
    sys::pool_2m(2)?;
    std::fs::create_dir_all(DIR)?;
    sweep(
        "mount",
        |nth, n| {
            armed(nth, n, || {
                mount_fs(
                    "rhugetlbfs",
                    DIR,
                    "pagesize=2M,size=4M,min_size=2M,nr_inodes=10,mode=0700",
                )
            })
        },
        |got| {
            let mounted = sys::read("/proc/self/mounts")?.contains(DIR);
            if got.starts_with('0') {
                ensure!(mounted, "succeeded but not mounted");
                ensure!(
                    sys::counter(2048, "resv_hugepages")? == 1,
                    "min_size not reserved"
                );
                umount(DIR)?;
            } else {
                ensure!(!mounted, "failed but mounted");
                ensure!(got.starts_with("ENOMEM"), "want ENOMEM");
            }
            idle(2048, 2)
        },
    )?;
    sys::set_nr(2048, 0)?;
    sys::rmmod()
}

/// Mounts a fresh 2 MiB mount with a pool of `pages` for a sweep of file operations.
fn file_mount(pages: u64) -> Result<()> {
    sys::ensure_unloaded()?;
    sys::insmod(&[])?;
    sys::pool_2m(pages)?;
    std::fs::create_dir_all(DIR)?;
    crate::os::mount("rhugetlbfs", DIR, "pagesize=2M")
}

fn file_unmount() -> TestResult {
    umount(DIR)?;
    sys::set_nr(2048, 0)?;
    sys::rmmod()
}

/// In a child (a fault may end in SIGBUS): create a file, size it, map it shared, write
/// the first page, and (private) map it privately and write the copy. The child's outcome:
/// 0, an errno, or the signal that ended it.
fn nth_file_op(private: bool) -> TestResult {
    file_mount(3)?;
    let what = if private {
        "private COW fault"
    } else {
        "create, map, fault"
    };
    sweep(
        what,
        |_, armed_n| {
            let pid = fork(move || {
                die_of_faults();
                let r = (|| -> Result<String> {
                    let nth = FailNth::open()?;
                    let path = format!("{DIR}/f");
                    if private {
                        // The file's page exists first; the armed part is the private copy.
                        let f = create_sized(&path, 2 << 20)?;
                        Map::new(&f, 2 << 20, RW, SHARED, 0)?.set(0, 7);
                        let p = Map::new(&f, 2 << 20, RW, PRIVATE, 0)?;
                        armed(&nth, armed_n, || {
                            p.set(1, 8);
                            Ok(())
                        })
                    } else {
                        armed(&nth, armed_n, || {
                            let f = crate::map::open_rw_create(&path)?;
                            f.set_len(2 << 20).map_err(|e| sys::errno_of(&e))?;
                            let p = Map::new(&f, 2 << 20, RW, SHARED, 0)?;
                            p.set(0, 7);
                            Ok(())
                        })
                    }
                })();
                let code = match r.as_deref() {
                    Ok("0") => 0,
                    Ok(o) if o.ends_with("(not reached)") => 2,
                    Ok(o) if o.starts_with("ENOMEM") => 3,
                    Ok(o) if o.starts_with("ENOSPC") => 4,
                    Ok(_) => 5,
                    Err(_) => 6,
                };
                crate::os::exit_now(code)
            })?;
            let st = wait(pid)?;
            Ok(match (st.terminating_signal(), st.exit_status()) {
                (Some(sig), _) => format!("signal {sig}"),
                (None, Some(0)) => "0".into(),
                (None, Some(2)) => "0 (not reached)".into(),
                (None, Some(3)) => "ENOMEM".into(),
                (None, Some(4)) => "ENOSPC".into(),
                (None, c) => format!("child exit {c:?}"),
            })
        },
        |got| {
            ensure!(
                ["0", "ENOMEM", "ENOSPC", "signal 7"]
                    .iter()
                    .any(|o| got.starts_with(o)),
                "not a documented outcome"
            );
            let path = format!("{DIR}/f");
            if std::path::Path::new(&path).exists() {
                sys::remove(&path)?;
            }
            idle(2048, 3)
        },
    )?;
    file_unmount()
}

fn nth_fallocate() -> TestResult {
    file_mount(3)?;
    let path = format!("{DIR}/f");
    sweep(
        "fallocate, punch, truncate",
        |nth, n| {
            let f = create_sized(&path, 0)?;
            let fd = f.as_raw_fd();
            armed(nth, n, || {
                fallocate(fd, 0, 0, 4 << 20)?;
                fallocate(
                    fd,
                    libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
                    0,
                    2 << 20,
                )?;
                f.set_len(2 << 20).map_err(|e| sys::errno_of(&e))
            })
        },
        |got| {
            ensure!(
                ["0", "ENOMEM", "ENOSPC"].iter().any(|o| got.starts_with(o)),
                "not a documented outcome"
            );
            sys::remove(&path)?;
            idle(2048, 3)
        },
    )?;
    file_unmount()
}

fn fallocate(fd: i32, mode: i32, off: i64, len: i64) -> Result<(), Errno> {
    // SAFETY: No pointers; `fd` is open for the call.
    if unsafe { libc::fallocate(fd, mode, off, len) } < 0 {
        Err(sys::errno_of(&std::io::Error::last_os_error()))
    } else {
        Ok(())
    }
}

fn nth_pool_2m() -> TestResult {
    sys::ensure_unloaded()?;
    sys::insmod(&[])?;
    let path = format!("{}/nr_hugepages", sys::hdir(2048));
    let f = std::fs::OpenOptions::new().write(true).open(&path)?;
    sweep(
        "2 MiB pool growth to 4",
        |nth, n| {
            armed(nth, n, || {
                f.write_at(b"4\n", 0)
                    .map(drop)
                    .map_err(|e| sys::errno_of(&e))
            })
        },
        |got| {
            ensure!(
                ["0", "ENOMEM"].iter().any(|o| got.starts_with(o)),
                "not a documented outcome"
            );
            let nr = sys::counter(2048, "nr_hugepages")?;
            ensure!(nr <= 4, "nr {nr} after growing to 4");
            // A page that could not be allocated ends the growth there, as upstream's
            // set_max_huge_pages: a shorter pool, not an error.
            idle(2048, nr)?;
            sys::set_nr(2048, 0)?;
            idle(2048, 0)
        },
    )?;
    sys::rmmod()
}

/// One 1 GiB page: the keeper (the kernel's boot-time pool, see `sys::lend_1g`) on a node
/// lends it (its range freed), rhugetlbfs's pool on that node grows by one with the N-th
/// allocation failing, and the page goes back after.
fn nth_pool_1g() -> TestResult {
    sys::ensure_unloaded()?;
    sys::insmod(&[])?;
    let keeper = |nid| format!("{}/nr_hugepages", Fs::Kernel.node_hdir(nid, 1048576));
    let nid = sys::memory_nodes()?
        .into_iter()
        .find(|&nid| sys::read_u64(&keeper(nid)).unwrap_or(0) > 0)
        .with_context(|| {
            format!(
                "SUITE SETUP FAILURE: the keeper has no 1 GiB page on any node (global {})",
                sys::read("/sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages")
                    .unwrap_or_default()
                    .trim()
            )
        })?;
    let knr = keeper(nid);
    let mnr = format!("{}/nr_hugepages", sys::node_hdir(nid, 1048576));
    let k0 = sys::read_u64(&knr)?;
    let f = std::fs::OpenOptions::new().write(true).open(&mnr)?;
    let r = sweep(
        "1 GiB page allocation",
        |nth, n| {
            sys::write_ok(&knr, &format!("{}\n", k0 - 1))?;
            ensure!(
                sys::read_u64(&knr)? == k0 - 1,
                "SUITE SETUP FAILURE: the keeper did not give a page"
            );
            armed(nth, n, || {
                f.write_at(b"1\n", 0)
                    .map(drop)
                    .map_err(|e| sys::errno_of(&e))
            })
        },
        |got| {
            ensure!(
                ["0", "ENOMEM"].iter().any(|o| got.starts_with(o)),
                "not a documented outcome"
            );
            let nr = sys::read_u64(&mnr)?;
            ensure!(nr <= 1, "nr {nr}");
            idle(1048576, nr)?;
            sys::write_ok(&mnr, "0\n")?;
            idle(1048576, 0)?;
            sys::write_ok(&knr, &format!("{k0}\n"))?;
            ensure!(
                sys::read_u64(&knr)? == k0,
                "SUITE SETUP FAILURE: the keeper did not get its page back"
            );
            Ok(())
        },
    );
    let _ = sys::write(&knr, &format!("{k0}\n"));
    r?;
    sys::rmmod()
}

/// Allocations fail at random (`PROBABILITY` percent) for a child that creates, maps and
/// faults shared and private pages, fallocates, punches, truncates and reads on a mount
/// it made first (the mount's own 200 points have their sweep), 200 rounds; every step
/// may fail. After each, with injection off: the pool idle, nothing mounted; after all,
/// the module unloads.
const PROBABILITY: u32 = 3;

fn random_mixed() -> TestResult {
    sys::ensure_unloaded()?;
    sys::insmod(&[])?;
    sys::pool_2m(4)?;
    std::fs::create_dir_all(DIR)?;
    let mut inj = Injector::new()?;
    inj.random(PROBABILITY)?;
    let mut outcomes: BTreeMap<String, u32> = BTreeMap::new();
    for round in 0..200u32 {
        let pid = fork(move || {
            die_of_faults();
            let mut code = 0;
            // Opened before the failures start: an open could fail, a write of it cannot.
            let Ok(fail) = std::fs::OpenOptions::new()
                .write(true)
                .open("/proc/thread-self/make-it-fail")
            else {
                crate::os::exit_now(8)
            };
            if mount_fs("rhugetlbfs", DIR, "pagesize=2M,size=8M,min_size=2M").is_ok() {
                let _ = fail.write_at(b"1", 0);
                let path = format!("{DIR}/f{round}");
                // Mappings are unmapped with the failures off (munmap itself may fail with
                // ENOMEM under them, and a mapping left would keep the mount busy).
                let mut maps = Vec::new();
                if let Ok(f) = crate::map::open_rw_create(&path) {
                    if f.set_len(4 << 20).is_ok() {
                        if let Ok(p) = Map::new(&f, 4 << 20, RW, SHARED, 0) {
                            p.set(0, 1);
                            p.set(2 << 20, 2);
                            maps.push(p);
                        }
                        if let Ok(p) = Map::new(&f, 2 << 20, RW, PRIVATE, 0) {
                            p.set(5, 3);
                            maps.push(p);
                        }
                        let fd = f.as_raw_fd();
                        let _ = fallocate(fd, 0, 0, 6 << 20);
                        let _ = fallocate(
                            fd,
                            libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
                            0,
                            2 << 20,
                        );
                        let mut b = [0u8; 64];
                        let _ = f.read_at(&mut b, (2 << 20) - 32);
                        let _ = f.set_len(0);
                    }
                    code = 1;
                } else {
                    code = 2;
                }
                let _ = std::fs::remove_file(&path);
                if fail.write_at(b"0", 0).is_err() {
                    crate::os::exit_now(7);
                }
                drop(maps);
                if umount(DIR).is_err() {
                    code = 9;
                }
            }
            crate::os::exit_now(code)
        })?;
        let st = wait(pid)?;
        let o = match (st.terminating_signal(), st.exit_status()) {
            (Some(sig), _) => format!("signal {sig}"),
            (None, Some(0)) => "mount failed".into(),
            (None, Some(2)) => "create failed".into(),
            (None, Some(1)) => "rounds done".into(),
            (None, c) => format!("exit {c:?}"),
        };
        *outcomes.entry(o).or_default() += 1;
        // Whatever the child got, nothing may stay behind.
        if sys::read("/proc/self/mounts")?.contains(DIR) {
            umount(DIR).context("a child's mount stayed behind and cannot be unmounted")?;
        }
        idle(2048, 4).with_context(|| format!("after round {round}"))?;
    }
    drop(inj);
    let o: Vec<String> = outcomes.iter().map(|(k, v)| format!("{k} x{v}")).collect();
    println!(
        "    200 rounds at {PROBABILITY}% failing allocations: {}",
        o.join(", ")
    );
    ensure!(
        !outcomes.keys().any(|k| k.starts_with("exit")),
        "a child could not unmount its mount"
    );
    sys::set_nr(2048, 0)?;
    sys::rmmod()
}

/// In a forked child: SIGBUS and SIGSEGV kill at once (the Rust runtime's handler is for
/// stack overflows and can spin in a child of a threaded parent).
fn die_of_faults() {
    crate::os::default_signal_action(rustix::process::Signal::BUS);
    crate::os::default_signal_action(rustix::process::Signal::SEGV);
}
