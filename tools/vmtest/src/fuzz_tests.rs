//! A seeded, bounded random-operation fuzzer (issue 14, part 3) over one rhugetlbfs mount
//! and the pool's sysfs files. Four fuzzer processes run episodes, each in a child with a
//! second thread: 20-60 operations picked at random from the whole surface (open with
//! random flags, close, ftruncate, fallocate in every mode, mmap with random lengths,
//! offsets, protections and flags, munmap, mprotect, madvise with every advice, mremap,
//! writes and reads through the mappings, fork with copy-on-write, pread, vmsplice into a
//! pipe held across operations, sysfs writes of good and bad values, mounts with random
//! options, names), arguments good and bad alike. Beside them the stress's killer
//! (SIGKILL of children mid-fault and mid-fallocate), resizer and mount cycler.
//!
//! It runs on the stress's frame (`stress_tests::one_run`): the progress watchdog (a
//! process without a step for 45 s fails the run, with every task's kernel stack), then
//! the end invariants (free == nr, resv == 0, surplus == 0 for both sizes, no mount left)
//! and, after rmmod, the free memory within the stress's tolerance. Bounded in time
//! (`RH_FUZZ_SECS`, default 20) and in count (`RH_FUZZ_OPS` operations per fuzzer, default
//! 4000); `RH_FUZZ_RUNS` seeded runs in a row (default 1); every run prints its seed, and
//! `RH_FUZZ_SEED=<seed> tools/rh test --flavour debug fuzz_random` replays one. A seed fixes
//! each process's choices, not the interleaving.

use crate::harness::{Suite, TestResult};
use crate::stress_tests::{
    self as st, env_u64, in_episode_child, open_rw, Ctx, Rng, Role, HS, MAIN_DIR, MAXPAGES,
};
use crate::sys::{self, Fs};
use anyhow::Context;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::Duration;

pub fn register(s: &mut Suite) {
    s.add("fuzz_random_operations_2m", fuzz);
}

const FUZZ_ROLES: [(&str, Role); 7] = [
    ("fuzzer-a", fuzzer),
    ("fuzzer-b", fuzzer),
    ("fuzzer-c", fuzzer),
    ("fuzzer-d", fuzzer),
    ("killer", st::killer),
    ("resizer", st::resizer),
    ("mount-cycler", st::mount_cycler),
];

fn fuzz() -> TestResult {
    let secs = env_u64("RH_FUZZ_SECS").unwrap_or(20);
    let runs = env_u64("RH_FUZZ_RUNS").unwrap_or(1);
    let first = env_u64("RH_FUZZ_SEED").unwrap_or_else(|| {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64);
        (t ^ (t >> 31)) | 1
    });
    for i in 0..runs {
        let seed = first.wrapping_add(i);
        eprintln!("    fuzz run {} of {runs}: seed {seed}, {secs} s", i + 1);
        st::one_run(Fs::Rh, seed, secs, &FUZZ_ROLES).with_context(|| {
            format!(
                "seed {seed} (replay: RH_FUZZ_SEED={seed} RH_FUZZ_SECS={secs} \
                 tools/rh test --flavour debug fuzz_random)"
            )
        })?;
    }
    Ok(())
}

/// Episodes until the run stops or the operation budget is spent. A spent fuzzer still
/// reports a step now and then: it is done, not stuck.
fn fuzzer(ctx: &Ctx, rng: &mut Rng) {
    let budget = env_u64("RH_FUZZ_OPS").unwrap_or(4000);
    let mut done = 0;
    while !ctx.stopped() {
        if done >= budget {
            ctx.progress();
            std::thread::sleep(Duration::from_millis(200));
            continue;
        }
        let n = 20 + rng.below(41);
        let (s1, s2) = (rng.next(), rng.next());
        let imp = ctx.imp;
        in_episode_child(move || {
            // Two threads over the same files, each with its own descriptors and mappings.
            let t = std::thread::spawn(move || Episode::new(s2).run(imp, n / 2));
            Episode::new(s1).run(imp, n - n / 2);
            let _ = t.join();
        });
        done += n;
        ctx.progress();
    }
}

/// One thread's state in an episode: its descriptors, mappings and pipes.
struct Episode {
    rng: Rng,
    fds: Vec<OwnedFd>,
    /// (address, length) of the mappings this thread made and has not unmapped whole.
    maps: Vec<(usize, usize)>,
    /// Pipes holding pages spliced from mappings, kept across operations.
    pipes: Vec<(OwnedFd, OwnedFd)>,
}

/// Lengths and offsets around the interesting edges: whole pages, a page and a bit,
/// unaligned, zero, huge, negative (as u64).
fn length(rng: &mut Rng) -> u64 {
    match rng.below(8) {
        0 => 0,
        1 => 4096,
        2 => HS as u64 - 4096,
        3 => HS as u64 + 4096,
        4 => 1 << 46,
        5 => u64::MAX - 4095,
        _ => (1 + rng.below(MAXPAGES)) * HS as u64,
    }
}

/// madvise values: every advice but MADV_HWPOISON/SOFT_OFFLINE (memory-failure
/// injection, not input), and unknown ones.
const ADVICE: [i32; 24] = [
    0, 1, 2, 3, 4, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 999,
];

/// Pool file values: small counts (the pool stays near its size: a large count would take
/// the guest's memory from the other processes) and malformed ones.
const POOL_VALUES: [&str; 9] = [
    "0\n",
    "8\n",
    "24\n",
    "30\n",
    "abc",
    "-1",
    "",
    "99999999999999999999",
    " 4",
];

/// Mount options, good and bad, for a mount made and unmounted in one operation.
const MOUNT_OPTS: [&str; 8] = [
    "pagesize=2M",
    "pagesize=2M,size=4M,min_size=2M",
    "pagesize=2M,nr_inodes=2",
    "pagesize=3M",
    "size=10%,min_size=200%",
    "pagesize=1G,map=pmd",
    "min_size=1G",
    "mode=0777,uid=1,gid=1,size=0",
];

impl Episode {
    fn new(seed: u64) -> Self {
        Episode {
            rng: Rng::new(seed),
            fds: Vec::new(),
            maps: Vec::new(),
            pipes: Vec::new(),
        }
    }

    fn file(&mut self) -> String {
        format!("{MAIN_DIR}/f{}", self.rng.below(6))
    }

    fn fd(&mut self) -> Option<i32> {
        if self.fds.is_empty() {
            return None;
        }
        let i = self.rng.below(self.fds.len() as u64) as usize;
        Some(self.fds[i].as_raw_fd())
    }

    fn run(mut self, imp: Fs, n: u64) {
        for _ in 0..n {
            self.step(imp);
        }
        for (p, len) in self.maps.drain(..) {
            // SAFETY: Our own mapping (or what is left of it): nothing else uses it.
            unsafe { libc::munmap(p as *mut _, len) };
        }
    }

    /// One random operation. Raw libc calls: the arguments are meant to be wrong at times,
    /// which typed wrappers would not let through.
    fn step(&mut self, imp: Fs) {
        let op = self.rng.below(20);
        match op {
            0 => {
                let flags = [
                    libc::O_RDWR | libc::O_CREAT,
                    libc::O_RDONLY,
                    libc::O_WRONLY,
                    libc::O_RDWR | libc::O_TRUNC,
                    libc::O_RDWR | libc::O_DIRECT,
                    libc::O_RDWR | libc::O_TMPFILE,
                ][self.rng.below(6) as usize];
                let path = if flags & libc::O_TMPFILE == libc::O_TMPFILE {
                    MAIN_DIR.to_string()
                } else {
                    self.file()
                };
                let c = std::ffi::CString::new(path).expect("no NUL");
                // SAFETY: A NUL-terminated path alive across the call.
                let fd = unsafe { libc::open(c.as_ptr(), flags, 0o644) };
                if fd >= 0 && self.fds.len() < 8 {
                    // SAFETY: A descriptor open(2) just returned, owned by nobody else.
                    self.fds
                        .push(unsafe { std::os::fd::FromRawFd::from_raw_fd(fd) });
                } else if fd >= 0 {
                    // SAFETY: As above; closed at once.
                    unsafe { libc::close(fd) };
                }
            }
            1 => {
                if !self.fds.is_empty() {
                    let i = self.rng.below(self.fds.len() as u64) as usize;
                    self.fds.swap_remove(i);
                }
            }
            2 => {
                if let Some(fd) = self.fd() {
                    let len = length(&mut self.rng) as i64;
                    // SAFETY: No pointers.
                    unsafe { libc::ftruncate(fd, len) };
                }
            }
            3 => {
                if let Some(fd) = self.fd() {
                    let mode = [0, 1, 3, 0x10, 0x8, 0x20, 0x40, 0x100][self.rng.below(8) as usize];
                    let (off, len) = (length(&mut self.rng) as i64, length(&mut self.rng) as i64);
                    // SAFETY: No pointers.
                    unsafe { libc::fallocate(fd, mode, off, len) };
                }
            }
            4 => {
                if let Some(fd) = self.fd() {
                    let len = length(&mut self.rng) as usize;
                    let off = [0, HS as i64, 4096, (1 << 46)][self.rng.below(4) as usize];
                    let prot = [libc::PROT_READ | libc::PROT_WRITE, libc::PROT_READ, 0x100]
                        [self.rng.below(3) as usize];
                    let flags = [
                        libc::MAP_SHARED,
                        libc::MAP_PRIVATE,
                        libc::MAP_PRIVATE | libc::MAP_NORESERVE,
                        libc::MAP_SHARED | libc::MAP_POPULATE,
                        libc::MAP_SHARED_VALIDATE | 0x20_0000,
                    ][self.rng.below(5) as usize];
                    // SAFETY: A new mapping where the kernel picks (no MAP_FIXED).
                    let p = unsafe { libc::mmap(std::ptr::null_mut(), len, prot, flags, fd, off) };
                    if p != libc::MAP_FAILED {
                        self.maps.push((p as usize, len));
                    }
                }
            }
            5 => {
                if let Some((p, len)) = self.pick_map() {
                    let (a, l) = self.subrange(p, len);
                    // SAFETY: Inside our own mapping; a piece unmapped is not touched again
                    // but by accesses that end the episode (SIGSEGV).
                    unsafe { libc::munmap(a as *mut _, l) };
                }
            }
            6 => {
                if let Some((p, len)) = self.pick_map() {
                    let (a, l) = self.subrange(p, len);
                    let prot = [
                        libc::PROT_NONE,
                        libc::PROT_READ,
                        libc::PROT_READ | libc::PROT_WRITE,
                        0x100,
                    ][self.rng.below(4) as usize];
                    // SAFETY: Inside our own mapping; only protections change.
                    unsafe { libc::mprotect(a as *mut _, l, prot) };
                }
            }
            7 => {
                if let Some((p, len)) = self.pick_map() {
                    let (a, l) = self.subrange(p, len);
                    let adv = ADVICE[self.rng.below(ADVICE.len() as u64) as usize];
                    // SAFETY: Inside our own mapping, to which no reference exists.
                    unsafe { libc::madvise(a as *mut _, l, adv) };
                }
            }
            8 => {
                if let Some((p, len)) = self.pick_map() {
                    let new = length(&mut self.rng) as usize;
                    // SAFETY: Our own mapping; where it moves, the table follows.
                    let q = unsafe { libc::mremap(p as *mut _, len, new, libc::MREMAP_MAYMOVE) };
                    if q != libc::MAP_FAILED {
                        self.maps.retain(|&(a, _)| a != p);
                        self.maps.push((q as usize, new));
                    }
                }
            }
            9..=11 => {
                if let Some((p, len)) = self.pick_map() {
                    let off = (self.rng.below(len.div_ceil(HS) as u64 * 2) as usize * HS / 2)
                        .min(len.saturating_sub(1));
                    let a = (p + off) as *mut u8;
                    // SAFETY: Inside our own mapping, which the other thread does not use; a
                    // hole, a read-only piece or a page past the file's end ends the episode
                    // (SIGSEGV, SIGBUS), which is what the episode child is for.
                    unsafe {
                        if op == 9 {
                            std::ptr::read_volatile(a);
                        } else {
                            std::ptr::write_volatile(a, op as u8);
                        }
                    }
                }
            }
            12 => {
                // A child that writes a mapping (copy-on-write for private ones) and exits.
                if let Some((p, _)) = self.pick_map() {
                    // SAFETY: fork in the episode child; the child only writes one byte of
                    // its copy of the mapping and leaves with _exit.
                    unsafe {
                        let pid = libc::fork();
                        if pid == 0 {
                            std::ptr::write_volatile(p as *mut u8, 9);
                            libc::_exit(0);
                        } else if pid > 0 {
                            libc::waitpid(pid, std::ptr::null_mut(), 0);
                        }
                    }
                }
            }
            13 => {
                if let Some(fd) = self.fd() {
                    let mut b = [0u8; 4096];
                    let off = length(&mut self.rng) as i64;
                    // SAFETY: `b` has room for the length passed.
                    unsafe { libc::pread(fd, b.as_mut_ptr().cast(), b.len(), off) };
                }
            }
            14 => {
                // A page reference held by a pipe across later operations (and episodes'
                // ends): vmsplice of a piece of a mapping.
                if let Some((p, len)) = self.pick_map() {
                    if let Ok((r, w)) = rustix::pipe::pipe() {
                        let iov = libc::iovec {
                            iov_base: p as *mut _,
                            iov_len: len.min(HS),
                        };
                        // SAFETY: `iov` names our own mapping; the kernel takes references
                        // to its pages (or fails).
                        unsafe { libc::vmsplice(w.as_raw_fd(), &iov, 1, 0) };
                        if self.pipes.len() < 4 {
                            self.pipes.push((r, w));
                        }
                    }
                }
            }
            15 => {
                let d = imp.hdir(2048);
                let file = ["nr_hugepages", "nr_overcommit_hugepages"][self.rng.below(2) as usize];
                let v = POOL_VALUES[self.rng.below(POOL_VALUES.len() as u64) as usize];
                let _ = sys::write(&format!("{d}/{file}"), v);
            }
            16 => {
                // In a child process of its own: the other thread's fault (SIGSEGV ends the
                // whole episode) must not strike between the mount and its unmount. The
                // child makes only raw system calls (no allocation after a fork from a
                // threaded process). A directory per thread; under the stress's prefix, so
                // a mount left fails the run.
                let dir = format!(
                    "/tmp/stress-fuzz-{}",
                    rustix::thread::gettid().as_raw_nonzero()
                );
                let _ = std::fs::create_dir_all(&dir);
                let opts = MOUNT_OPTS[self.rng.below(MOUNT_OPTS.len() as u64) as usize];
                let c = |s: &str| std::ffi::CString::new(s).expect("no NUL");
                let (cdir, cfile, cty, copts) =
                    (c(&dir), c(&format!("{dir}/x")), c(imp.fstype()), c(opts));
                // SAFETY: fork; the child uses only the C strings made above and raw
                // system calls, and leaves with _exit.
                unsafe {
                    let pid = libc::fork();
                    if pid == 0 {
                        let src = c"none".as_ptr();
                        if libc::mount(src, cdir.as_ptr(), cty.as_ptr(), 0, copts.as_ptr().cast())
                            == 0
                        {
                            let fd =
                                libc::open(cfile.as_ptr(), libc::O_RDWR | libc::O_CREAT, 0o600);
                            if fd >= 0 {
                                libc::close(fd);
                            }
                            if libc::umount2(cdir.as_ptr(), 0) != 0 {
                                // A child the other thread forked meanwhile may hold the
                                // descriptor for a moment: the mount goes when it exits.
                                libc::umount2(cdir.as_ptr(), libc::MNT_DETACH);
                            }
                        }
                        libc::_exit(0);
                    } else if pid > 0 {
                        libc::waitpid(pid, std::ptr::null_mut(), 0);
                    }
                }
                let _ = std::fs::remove_dir(&dir);
            }
            17 => {
                let (a, b) = (self.file(), self.file());
                let _ = match self.rng.below(4) {
                    0 => std::fs::rename(&a, &b),
                    1 => std::fs::hard_link(&a, &b),
                    2 => std::fs::remove_file(&a),
                    _ => open_rw(&a, true).map(drop).map_err(std::io::Error::from),
                };
            }
            18 => {
                self.pipes.pop();
            }
            _ => {
                if let Some(fd) = self.fd() {
                    // SAFETY: No pointers.
                    unsafe { libc::fsync(fd) };
                    // SAFETY: No pointers.
                    unsafe { libc::lseek(fd, length(&mut self.rng) as i64, libc::SEEK_SET) };
                }
            }
        }
    }

    fn pick_map(&mut self) -> Option<(usize, usize)> {
        if self.maps.is_empty() {
            return None;
        }
        let i = self.rng.below(self.maps.len() as u64) as usize;
        Some(self.maps[i])
    }

    /// A piece of a mapping: whole, the first or last page, or an unaligned 4 KiB.
    fn subrange(&mut self, p: usize, len: usize) -> (usize, usize) {
        match self.rng.below(4) {
            0 => (p, len),
            1 => (p, len.min(HS)),
            2 if len > HS => (p + len - HS, HS),
            _ => (p + 4096, 4096),
        }
    }
}
