//! Concurrent use (issue 15): a bounded, seeded stress of many processes over one mount,
//! the pools and a second, cycled mount, then the end invariants. Run on rhugetlbfs and on
//! the kernel's hugetlbfs in the same guest (the reference).
//!
//! Roles, one process each (`ROLES`): faulters of shared and private mappings (fork + COW,
//! with a second thread changing the mapping under the first), a truncate/fallocate/punch
//! process, a pool resizer (global, per node, overcommit), a mount cycler (size, min_size,
//! nr_inodes), a namespace process (create, unlink, rename, link), a killer (SIGKILLs
//! children in the middle of faults and fallocate) and a reader racing truncation.
//!
//! A watchdog in the parent fails the run when any process stops making progress for
//! `STALL_SECS` (printing the kernel stacks of every process of the run), and the end
//! checks are: free == nr, resv == 0, surplus == 0 for every size, no mount left, and for
//! rhugetlbfs the free memory after rmmod within `MEMFREE_SLACK_KB` of before insmod.
//!
//! Environment: `RH_STRESS_SEED` (replay one seed; printed by every run),
//! `RH_STRESS_SECS` (length of one run, default 20), `RH_STRESS_RUNS` (seeded runs in a
//! row, default 1), `RH_STRESS_ONLY` (`rh` or `kernel`: one implementation).

use crate::ensure;
use crate::fs_tests::pipe;
use crate::harness::{Suite, TestResult};
use crate::own_tests::{mount, umount};
use crate::sys;
use std::ffi::CString;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub fn register(s: &mut Suite) {
    s.add("stress_concurrent_use_invariants_2m", stress);
}

/// Which implementation a run is on, and where its files are.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Impl {
    Rh,
    Kernel,
}

impl Impl {
    fn fstype(self) -> &'static str {
        match self {
            Impl::Rh => "rhugetlbfs",
            Impl::Kernel => "hugetlbfs",
        }
    }

    /// The global directory of one size.
    fn hdir(self, kb: u64) -> String {
        match self {
            Impl::Rh => sys::hdir(kb),
            Impl::Kernel => format!("/sys/kernel/mm/hugepages/hugepages-{kb}kB"),
        }
    }

    /// The per-node directory of one size.
    fn node_hdir(self, nid: usize, kb: u64) -> String {
        match self {
            Impl::Rh => sys::node_hdir(nid, kb),
            Impl::Kernel => {
                format!("/sys/devices/system/node/node{nid}/hugepages/hugepages-{kb}kB")
            }
        }
    }

    fn counters(self, kb: u64) -> Result<[u64; 4], String> {
        let c = |n: &str| sys::read_u64(&format!("{}/{n}", self.hdir(kb)));
        Ok([
            c("nr_hugepages")?,
            c("free_hugepages")?,
            c("resv_hugepages")?,
            c("surplus_hugepages")?,
        ])
    }
}

const HS: usize = 2 << 20;
/// Files of the main mount, `f0`..`f{NFILES-1}`.
const NFILES: u64 = 6;
/// Largest file and mapping, in huge pages.
const MAXPAGES: u64 = 4;
/// The pool the run starts with and that the resizer moves around.
const POOL: u64 = 24;
/// A process that makes no progress for this long is stuck (a debug guest under TCG
/// takes well under a second for any one step of the roles below).
const STALL_SECS: u64 = 45;
/// Free memory after rmmod may differ from before insmod by this much: slab caches
/// (inodes, dentries, page tables, KASAN's quarantine on the debug kernel) grow and shrink
/// with the run and are not the module's.
const MEMFREE_SLACK_KB: u64 = 64 << 10;

/// A role: the loop one process of the run runs until the stop flag is set.
type Role = fn(&Ctx, &mut Rng);

const ROLES: [(&str, Role); 9] = [
    ("faulter-shared", faulter_shared),
    ("faulter-private", faulter_private),
    ("faulter-mixed", faulter_mixed),
    ("truncator", truncator),
    ("resizer", resizer),
    ("mount-cycler", mount_cycler),
    ("namespace", namespace),
    ("killer", killer),
    ("reader", reader),
];

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok()?.parse().ok()
}

fn stress() -> TestResult {
    let secs = env_u64("RH_STRESS_SECS").unwrap_or(20);
    let runs = env_u64("RH_STRESS_RUNS").unwrap_or(1);
    let first = env_u64("RH_STRESS_SEED").unwrap_or_else(|| {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64);
        t ^ (t >> 29) | 1
    });
    for i in 0..runs {
        let seed = first.wrapping_add(i);
        let only = std::env::var("RH_STRESS_ONLY").unwrap_or_default();
        for imp in [Impl::Rh, Impl::Kernel] {
            if !only.is_empty() && !format!("{imp:?}").eq_ignore_ascii_case(&only) {
                continue;
            }
            eprintln!(
                "    run {} of {runs}: {imp:?}, seed {seed}, {secs} s",
                i + 1
            );
            one_run(imp, seed, secs).map_err(|e| {
                format!(
                    "{imp:?}, seed {seed} (replay: RH_STRESS_SEED={seed} RH_STRESS_SECS={secs} \
                     rh-vmtest stress_concurrent): {e}"
                )
            })?;
        }
    }
    Ok(())
}

/// What every process of a run shares: the stop flag and one progress counter per role,
/// in a shared anonymous mapping made before the fork.
struct Ctx {
    imp: Impl,
    shared: &'static [AtomicU64],
}

const MAIN_DIR: &str = "/tmp/stress-main";
const CYCLE_DIR: &str = "/tmp/stress-cycle";

impl Ctx {
    fn stopped(&self) -> bool {
        self.shared[0].load(Ordering::Relaxed) != 0
    }

    fn progress(&self, role: usize) {
        self.shared[1 + role].fetch_add(1, Ordering::Relaxed);
    }

    fn file(&self, rng: &mut Rng) -> String {
        format!("{MAIN_DIR}/f{}", rng.below(NFILES))
    }
}

/// xorshift64*: a small, seedable generator, enough to replay a role's choices.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// The pool knobs of the implementation, set for the start of a run (and reset after).
fn set_pool(imp: Impl, nr: u64, overcommit: u64) -> TestResult {
    let d = imp.hdir(2048);
    sys::write_ok(
        &format!("{d}/nr_overcommit_hugepages"),
        &format!("{overcommit}\n"),
    )?;
    sys::write_ok(&format!("{d}/nr_hugepages"), &format!("{nr}\n"))
}

fn one_run(imp: Impl, seed: u64, secs: u64) -> TestResult {
    let _ = umount(MAIN_DIR);
    let _ = umount(CYCLE_DIR);
    let free0 = if imp == Impl::Rh {
        sys::ensure_unloaded()?;
        let f = sys::free_kb()?;
        sys::insmod(&[])?;
        Some(f)
    } else {
        None
    };
    let kernel_nr0 = match imp {
        Impl::Kernel => Some(imp.counters(2048)?[0]),
        Impl::Rh => None,
    };
    set_pool(imp, POOL, 0)?;
    let got = imp.counters(2048)?[0];
    ensure!(
        got == POOL,
        "SUITE SETUP FAILURE: the 2 MiB pool reached {got} of {POOL} pages"
    );
    for d in [MAIN_DIR, CYCLE_DIR] {
        std::fs::create_dir_all(d).map_err(|e| format!("mkdir {d}: {e}"))?;
    }
    mount(imp.fstype(), MAIN_DIR, "pagesize=2M")?;
    let res = run_roles(imp, seed, secs);
    // Whatever happened: no process of the run is left, so tear down and check.
    let end = teardown_and_check(imp, kernel_nr0);
    res?;
    end?;
    if let Some(free0) = free0 {
        sys::rmmod()?;
        let free1 = sys::free_kb()?;
        eprintln!(
            "    free memory after rmmod - before insmod: {} kB",
            free1 as i64 - free0 as i64
        );
        ensure!(
            free1 + MEMFREE_SLACK_KB >= free0,
            "free memory after rmmod {free1} kB, before insmod {free0} kB: {} kB missing \
             (tolerance {MEMFREE_SLACK_KB} kB)",
            free0 - free1
        );
    }
    Ok(())
}

/// Unmounts both mounts and checks the end invariants of every size.
fn teardown_and_check(imp: Impl, kernel_nr0: Option<u64>) -> TestResult {
    let mut errs = Vec::new();
    if let Ok(rd) = std::fs::read_dir(MAIN_DIR) {
        for e in rd.flatten() {
            let _ = std::fs::remove_file(e.path());
        }
    }
    for d in [CYCLE_DIR, MAIN_DIR] {
        // The cycled mount may or may not be mounted when its process stopped.
        if let Err(e) = umount(d) {
            if d == MAIN_DIR {
                errs.push(e);
            }
        }
    }
    let mounts = sys::read("/proc/mounts")?;
    if let Some(l) = mounts.lines().find(|l| l.contains("/tmp/stress-")) {
        errs.push(format!("a mount is left: {l}"));
    }
    let d = imp.hdir(2048);
    let _ = sys::write(&format!("{d}/nr_overcommit_hugepages"), "0\n");
    let sizes: &[u64] = if imp == Impl::Rh {
        &sys::SIZES
    } else {
        &[2048]
    };
    for &kb in sizes {
        let [nr, free, resv, surplus] = imp.counters(kb)?;
        if free != nr || resv != 0 || surplus != 0 {
            errs.push(format!(
                "{kb} kB pool at the end: nr {nr} free {free} resv {resv} surplus {surplus} \
                 (want free == nr, resv 0, surplus 0)"
            ));
        }
    }
    if imp == Impl::Rh {
        if let Ok(s) = sys::read(&format!("{d}/stats")) {
            if !errs.is_empty() {
                errs.push(format!("2 MiB stats:\n{s}"));
            }
        }
    }
    let nr0 = kernel_nr0.unwrap_or(0);
    let _ = sys::write(&format!("{d}/nr_hugepages"), &format!("{nr0}\n"));
    if errs.is_empty() {
        Ok(())
    } else {
        Err(errs.join("; "))
    }
}

/// One process per role, the watchdog, and the stop.
fn run_roles(imp: Impl, seed: u64, secs: u64) -> TestResult {
    let words = 1 + ROLES.len();
    // SAFETY: A fresh shared anonymous mapping, never unmapped while the run's processes
    // live (it is leaked: a few bytes per run).
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    ensure!(p != libc::MAP_FAILED, "mmap of the shared counters failed");
    // SAFETY: The page is zeroed, aligned and large enough for `words` atomics, and lives
    // for the rest of the process (never unmapped).
    let shared: &'static [AtomicU64] =
        unsafe { std::slice::from_raw_parts(p.cast::<AtomicU64>(), words) };
    let ctx = Ctx { imp, shared };
    let mut kids = Vec::new();
    for (i, (name, f)) in ROLES.iter().enumerate() {
        let (r, w) = pipe()?;
        // SAFETY: The child runs its role and leaves with _exit; it never returns here.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // SAFETY: Closing the read end in the child.
            unsafe { libc::close(r) };
            let mut rng = Rng::new(seed ^ (i as u64 + 1).wrapping_mul(0x1000_0001));
            // SAFETY: A new process group per role, so that a role's own children can
            // be listed and killed together.
            unsafe { libc::setpgid(0, 0) };
            f(&ctx, &mut rng);
            // SAFETY: Leaving the child without running the parent's destructors.
            unsafe { libc::_exit(0) };
        }
        // SAFETY: The parent does not write to the child's pipe.
        unsafe { libc::close(w) };
        ensure!(pid > 0, "fork failed");
        kids.push((*name, pid, r));
    }
    let start = Instant::now();
    let mut last = vec![(0u64, Instant::now()); ROLES.len()];
    let mut stall = None;
    while start.elapsed() < Duration::from_secs(secs) && stall.is_none() {
        std::thread::sleep(Duration::from_millis(250));
        stall = check_progress(&ctx, &kids, &mut last);
    }
    shared[0].store(1, Ordering::Relaxed);
    // Every role checks the stop flag between steps; a step is bounded.
    let mut errs = Vec::new();
    if let Some(e) = stall {
        errs.push(e);
    }
    let stop = Instant::now();
    let mut alive: Vec<_> = kids.clone();
    while !alive.is_empty() {
        alive.retain(|&(name, pid, r)| {
            let mut status = 0;
            // SAFETY: Reaping our own child.
            let w = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
            if w == 0 {
                return true;
            }
            let msg = read_all(r);
            if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
                errs.push(format!("{name} failed ({status:#x}): {msg}"));
            }
            false
        });
        if !alive.is_empty() && stop.elapsed() > Duration::from_secs(STALL_SECS) {
            let names: Vec<_> = alive.iter().map(|k| k.0).collect();
            errs.push(format!(
                "no progress: {names:?} did not stop within {STALL_SECS} s\n{}",
                stacks(&alive.iter().map(|k| k.1).collect::<Vec<_>>())
            ));
            for &(_, pid, _) in &alive {
                // SAFETY: Killing our own children's process groups.
                unsafe { libc::kill(-pid, libc::SIGKILL) };
            }
            // A task stuck in the kernel may never die: stop waiting after a bound.
            let t = Instant::now();
            while t.elapsed() < Duration::from_secs(10) {
                // SAFETY: Reaping any child.
                if unsafe { libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) } < 0 {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // Any grandchild left (a role killed mid-step): kill its group, reap.
    for &(_, pid, _) in &kids {
        // SAFETY: Killing our own children's process groups.
        unsafe { libc::kill(-pid, libc::SIGKILL) };
    }
    let counts: Vec<_> = ROLES
        .iter()
        .enumerate()
        .map(|(i, (n, _))| format!("{n} {}", shared[1 + i].load(Ordering::Relaxed)))
        .collect();
    eprintln!("    steps: {}", counts.join(", "));
    if errs.is_empty() {
        Ok(())
    } else {
        Err(errs.join("; "))
    }
}

/// The roles that made no step for `STALL_SECS`, with every run process's kernel stack.
fn check_progress(
    ctx: &Ctx,
    kids: &[(&'static str, i32, i32)],
    last: &mut [(u64, Instant)],
) -> Option<String> {
    let mut stuck = Vec::new();
    for (i, (name, _, _)) in kids.iter().enumerate() {
        let n = ctx.shared[1 + i].load(Ordering::Relaxed);
        if n != last[i].0 {
            last[i] = (n, Instant::now());
        } else if last[i].1.elapsed() > Duration::from_secs(STALL_SECS) {
            stuck.push(*name);
        }
    }
    if stuck.is_empty() {
        return None;
    }
    Some(format!(
        "no progress for {STALL_SECS} s: {stuck:?} (a livelock or a stall)\n{}",
        stacks(&kids.iter().map(|k| k.1).collect::<Vec<_>>())
    ))
}

/// The state and kernel stack of every thread of every process in the groups `pgids`.
fn stacks(pgids: &[i32]) -> String {
    let mut out = String::new();
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in rd.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        // SAFETY: getpgid has no memory-safety preconditions.
        let pg = unsafe { libc::getpgid(pid) };
        if !pgids.contains(&pg) {
            continue;
        }
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
            continue;
        };
        for t in tasks.flatten() {
            let tp = t.path();
            let stat = std::fs::read_to_string(tp.join("stat")).unwrap_or_default();
            let stack = std::fs::read_to_string(tp.join("stack")).unwrap_or_default();
            out += &format!("    task {:?}: {}\n", tp, stat.trim());
            for l in stack.lines() {
                out += &format!("        {l}\n");
            }
        }
    }
    out
}

fn read_all(fd: i32) -> String {
    let mut buf = vec![0u8; 4096];
    // SAFETY: Reading into our buffer from our pipe, then closing it.
    let n = unsafe {
        let n = libc::read(fd, buf.as_mut_ptr().cast(), buf.len());
        libc::close(fd);
        n
    };
    String::from_utf8_lossy(&buf[..n.max(0) as usize]).into_owned()
}

/// Runs `f` in a child of the role and waits for it. A child that a signal ended is
/// normal here (SIGBUS when the pool runs dry under MAP_NORESERVE or a COW, SIGSEGV when
/// the second thread unmapped under the first, SIGKILL from the killer).
fn in_child(f: impl FnOnce()) -> Option<i32> {
    // SAFETY: The child runs `f` and leaves with _exit.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // A fault on a piece the second thread unmapped ends the child at once: Rust's
        // stack-overflow handler would spin on its thread-info lock first, seconds
        // under TCG ("deadlock in SIGSEGV handler").
        // SAFETY: Resetting two signals to their default action.
        unsafe {
            libc::signal(libc::SIGSEGV, libc::SIG_DFL);
            libc::signal(libc::SIGBUS, libc::SIG_DFL);
        }
        f();
        // SAFETY: Leaving the child without the parent's destructors.
        unsafe { libc::_exit(0) };
    }
    if pid < 0 {
        return None;
    }
    let mut status = 0;
    // SAFETY: Reaping our own child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    Some(status)
}

fn open_rw(path: &str, create: bool) -> i32 {
    let c = CString::new(path).unwrap();
    let flags = libc::O_RDWR | if create { libc::O_CREAT } else { 0 };
    // SAFETY: A valid C string.
    unsafe { libc::open(c.as_ptr(), flags, 0o644) }
}

fn close(fd: i32) {
    if fd >= 0 {
        // SAFETY: Our own descriptor.
        unsafe { libc::close(fd) };
    }
}

/// Maps `pages` huge pages of a file of the main mount (sizing it if it is shorter),
/// touches them, and meanwhile a second thread changes the mapping; sometimes forks a
/// child that writes (copy-on-write for a private mapping).
fn fault_episode(ctx: &Ctx, rng: &mut Rng, shared: bool) {
    let path = ctx.file(rng);
    let pages = 1 + rng.below(MAXPAGES);
    let len = pages as usize * HS;
    let noreserve = rng.chance(20);
    let fork_cow = rng.chance(40);
    let second = rng.below(4);
    let seed2 = rng.next();
    in_child(move || {
        let fd = open_rw(&path, true);
        if fd < 0 {
            return;
        }
        // SAFETY: `stat` is plain data; all zeroes is a valid value.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: fstat into a local.
        unsafe { libc::fstat(fd, &mut st) };
        if shared && (st.st_size as usize) < len {
            // SAFETY: ftruncate of our descriptor.
            unsafe { libc::ftruncate(fd, len as i64) };
        }
        let flags = if shared {
            libc::MAP_SHARED
        } else {
            libc::MAP_PRIVATE
        } | if noreserve { libc::MAP_NORESERVE } else { 0 };
        // SAFETY: A fresh mapping at an address the kernel picks.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                flags,
                fd,
                0,
            )
        };
        close(fd);
        if p == libc::MAP_FAILED {
            return;
        }
        let base = p as usize;
        let changer = std::thread::spawn(move || {
            let mut r = Rng::new(seed2);
            std::thread::sleep(Duration::from_micros(r.below(3000)));
            let off = r.below(pages) as usize * HS;
            let pg = base + off;
            // SAFETY: Changes of our own mapping; the toucher may fault on them.
            unsafe {
                match second {
                    0 => {
                        libc::mprotect(pg as *mut _, HS, libc::PROT_READ);
                    }
                    1 => {
                        let advice = [
                            libc::MADV_DONTNEED,
                            libc::MADV_REMOVE,
                            libc::MADV_DONTFORK,
                            libc::MADV_NORMAL,
                        ][r.below(4) as usize];
                        libc::madvise(pg as *mut _, HS, advice);
                    }
                    2 if off + HS < len => {
                        // Unaligned: a huge page plus 4 KiB of the next one (the munmap
                        // the stall was seen in), which fails at the split; then aligned.
                        libc::munmap(pg as *mut _, HS + 4096);
                        libc::munmap(pg as *mut _, HS);
                    }
                    2 => {
                        libc::munmap(pg as *mut _, HS);
                    }
                    _ => {
                        // A debugger's poke: a forced write through /proc/self/mem into a
                        // page made read-only (the FOLL_FORCE path of issue 10).
                        libc::mprotect(pg as *mut _, HS, libc::PROT_READ);
                        let mem = b"/proc/self/mem\0";
                        let fd = libc::open(mem.as_ptr().cast(), libc::O_RDWR);
                        if fd >= 0 {
                            libc::pwrite(fd, b"x".as_ptr().cast(), 1, (pg + 8) as i64);
                            libc::close(fd);
                        }
                    }
                }
            }
        });
        for i in 0..pages as usize {
            // SAFETY: Inside the mapping (a SIGSEGV/SIGBUS ends this child, counted as
            // normal by `in_child`'s callers).
            unsafe { std::ptr::write_volatile((base + i * HS + 64) as *mut u8, 0x5a) };
        }
        if fork_cow {
            in_child(|| {
                for i in 0..pages as usize {
                    // SAFETY: As above, in the forked copy.
                    unsafe { std::ptr::write_volatile((base + i * HS + 128) as *mut u8, 1) };
                }
            });
        }
        let _ = changer.join();
        // SAFETY: Unmapping our own mapping (parts may be gone already).
        unsafe { libc::munmap(p, len) };
    });
}

fn faulter_shared(ctx: &Ctx, rng: &mut Rng) {
    while !ctx.stopped() {
        fault_episode(ctx, rng, true);
        ctx.progress(0);
    }
}

fn faulter_private(ctx: &Ctx, rng: &mut Rng) {
    while !ctx.stopped() {
        fault_episode(ctx, rng, false);
        ctx.progress(1);
    }
}

fn faulter_mixed(ctx: &Ctx, rng: &mut Rng) {
    while !ctx.stopped() {
        let shared = rng.chance(50);
        fault_episode(ctx, rng, shared);
        ctx.progress(2);
    }
}

/// ftruncate (aligned and not), fallocate (with and without KEEP_SIZE) and hole punches
/// over random ranges of the main mount's files.
fn truncator(ctx: &Ctx, rng: &mut Rng) {
    while !ctx.stopped() {
        let fd = open_rw(&ctx.file(rng), rng.chance(50));
        if fd >= 0 {
            let hs = HS as i64;
            let off = rng.below(MAXPAGES + 1) as i64 * hs + if rng.chance(20) { 4096 } else { 0 };
            let len = (1 + rng.below(MAXPAGES)) as i64 * hs - if rng.chance(20) { 4096 } else { 0 };
            // SAFETY: Calls on our own descriptor.
            unsafe {
                match rng.below(4) {
                    0 => {
                        libc::ftruncate(fd, off);
                    }
                    1 => {
                        libc::fallocate(fd, 0, off, len);
                    }
                    2 => {
                        libc::fallocate(fd, libc::FALLOC_FL_KEEP_SIZE, off, len);
                    }
                    _ => {
                        libc::fallocate(
                            fd,
                            libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
                            off,
                            len,
                        );
                    }
                }
            }
            close(fd);
        }
        ctx.progress(3);
        std::thread::sleep(Duration::from_millis(rng.below(5)));
    }
}

/// The pool moved around: global size, one node's size, overcommit.
fn resizer(ctx: &Ctx, rng: &mut Rng) {
    let nodes = sys::memory_nodes().unwrap_or_else(|_| vec![0]);
    while !ctx.stopped() {
        let d = ctx.imp.hdir(2048);
        match rng.below(3) {
            0 => {
                let _ = sys::write(
                    &format!("{d}/nr_hugepages"),
                    &format!("{}\n", rng.below(2 * POOL)),
                );
            }
            1 => {
                let nid = nodes[rng.below(nodes.len() as u64) as usize];
                let nd = ctx.imp.node_hdir(nid, 2048);
                let _ = sys::write(
                    &format!("{nd}/nr_hugepages"),
                    &format!("{}\n", rng.below(POOL)),
                );
            }
            _ => {
                let _ = sys::write(
                    &format!("{d}/nr_overcommit_hugepages"),
                    &format!("{}\n", rng.below(8)),
                );
            }
        }
        ctx.progress(4);
        std::thread::sleep(Duration::from_millis(20 + rng.below(80)));
    }
}

/// A second mount with size, min_size and nr_inodes, used and unmounted over and over.
fn mount_cycler(ctx: &Ctx, rng: &mut Rng) {
    while !ctx.stopped() {
        let mut opts = String::from("pagesize=2M");
        if rng.chance(50) {
            opts += &format!(",size={}M", 2 * (1 + rng.below(8)));
        }
        // 6.12's hugetlbfs undoes a failed reservation on a min_size mount with the
        // subpool's put and then drives resv_hugepages below zero at unmount (the defect
        // rhugetlbfs had, see own_failed_mmap_on_min_size_mount_leaks_no_reservation_2m):
        // the reference runs without min_size, or it would be wrecked for the suite.
        let min = rng.below(6);
        if rng.chance(50) && ctx.imp == Impl::Rh {
            opts += &format!(",min_size={}M", 2 * min);
        }
        if rng.chance(50) {
            opts += &format!(",nr_inodes={}", 1 + rng.below(4));
        }
        if mount(ctx.imp.fstype(), CYCLE_DIR, &opts).is_ok() {
            for i in 0..rng.below(4) {
                let path = format!("{CYCLE_DIR}/c{i}");
                let pages = 1 + rng.below(3) as usize;
                let shared = rng.chance(50);
                let fd = open_rw(&path, true);
                if fd < 0 {
                    continue;
                }
                in_child(|| {
                    // SAFETY: Calls on our own descriptor and mapping.
                    unsafe {
                        if shared {
                            libc::ftruncate(fd, (pages * HS) as i64);
                        }
                        let flag = if shared {
                            libc::MAP_SHARED
                        } else {
                            libc::MAP_PRIVATE
                        };
                        let p = libc::mmap(
                            std::ptr::null_mut(),
                            pages * HS,
                            libc::PROT_READ | libc::PROT_WRITE,
                            flag,
                            fd,
                            0,
                        );
                        if p != libc::MAP_FAILED {
                            std::ptr::write_volatile(p.cast::<u8>(), 7);
                            libc::munmap(p, pages * HS);
                        }
                    }
                });
                close(fd);
            }
            // Unlink some, keep others: the umount frees what is left.
            for i in 0..4 {
                if rng.chance(50) {
                    let _ = std::fs::remove_file(format!("{CYCLE_DIR}/c{i}"));
                }
            }
            let _ = umount(CYCLE_DIR);
        }
        ctx.progress(5);
    }
}

/// create, unlink, rename and link among the main mount's names.
fn namespace(ctx: &Ctx, rng: &mut Rng) {
    while !ctx.stopped() {
        let (a, b) = (ctx.file(rng), ctx.file(rng));
        match rng.below(4) {
            0 => close(open_rw(&a, true)),
            1 => {
                let _ = std::fs::remove_file(&a);
            }
            2 => {
                let _ = std::fs::rename(&a, &b);
            }
            _ => {
                let _ = std::fs::hard_link(&a, &b);
            }
        }
        ctx.progress(6);
        std::thread::sleep(Duration::from_millis(rng.below(10)));
    }
}

/// Children that fault or fallocate, SIGKILLed at a random moment.
fn killer(ctx: &Ctx, rng: &mut Rng) {
    while !ctx.stopped() {
        let path = ctx.file(rng);
        let pages = 1 + rng.below(MAXPAGES) as usize;
        let falloc = rng.chance(50);
        let delay = rng.below(20_000);
        // SAFETY: The child works and is killed; it leaves with _exit if it finishes.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            let fd = open_rw(&path, true);
            // SAFETY: Calls on our own descriptor and mapping.
            unsafe {
                if falloc {
                    libc::fallocate(fd, 0, 0, (pages * HS) as i64);
                } else {
                    let p = libc::mmap(
                        std::ptr::null_mut(),
                        pages * HS,
                        libc::PROT_READ | libc::PROT_WRITE,
                        libc::MAP_PRIVATE,
                        fd,
                        0,
                    );
                    if p != libc::MAP_FAILED {
                        for i in 0..pages {
                            std::ptr::write_volatile(p.cast::<u8>().add(i * HS), 3);
                        }
                    }
                }
                libc::_exit(0);
            }
        }
        if pid > 0 {
            std::thread::sleep(Duration::from_micros(delay));
            // SAFETY: Killing and reaping our own child.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, std::ptr::null_mut(), 0);
            }
        }
        ctx.progress(7);
    }
}

/// Reads of the main mount's files at random offsets, racing the truncator.
fn reader(ctx: &Ctx, rng: &mut Rng) {
    let mut buf = vec![0u8; 64 << 10];
    while !ctx.stopped() {
        let fd = open_rw(&ctx.file(rng), false);
        if fd >= 0 {
            let off = rng.below(MAXPAGES * HS as u64 + HS as u64);
            // SAFETY: Reading into our buffer.
            unsafe { libc::pread(fd, buf.as_mut_ptr().cast(), buf.len(), off as i64) };
            close(fd);
        }
        ctx.progress(8);
    }
}
