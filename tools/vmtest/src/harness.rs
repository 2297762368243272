//! A minimal test runner: named tests, per-test kernel-log checks, a summary line.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::OpenOptionsExt;
use std::time::Instant;

/// The result of one test: an error with its context chain (printed `context: cause`).
pub type TestResult = anyhow::Result<()>;

/// A named test.
struct Test {
    name: &'static str,
    f: fn() -> TestResult,
}

/// The registered tests, run in registration order (later tests may rely on state that
/// earlier ones checked, e.g. the module being loadable).
pub struct Suite {
    tests: Vec<Test>,
}

impl Suite {
    pub fn new() -> Self {
        Suite { tests: Vec::new() }
    }

    pub fn add(&mut self, name: &'static str, f: fn() -> TestResult) {
        self.tests.push(Test { name, f });
    }

    pub fn list(&self) {
        for t in &self.tests {
            println!("{}", t.name);
        }
    }

    /// Runs every test whose name contains one of `filters` (all when empty).
    pub fn run(&self, filters: &[&str]) -> bool {
        let patterns = splat_patterns();
        let mut kmsg = KmsgTail::open();
        let mut injecting = false;
        let (mut passed, mut failed) = (0, 0);
        for t in &self.tests {
            if !filters.is_empty() && !filters.iter().any(|f| t.name.contains(f)) {
                continue;
            }
            let start = Instant::now();
            let mut result = (t.f)();
            let new_log = kmsg.as_mut().map(KmsgTail::read_new).unwrap_or_default();
            if let Some(line) = splat_line(&new_log, &patterns, &mut injecting) {
                let msg = format!("kernel log splat: {line}");
                result = Err(match result {
                    Ok(()) => anyhow::anyhow!(msg),
                    Err(e) => anyhow::anyhow!("{e:#}; {msg}"),
                });
            }
            let ms = start.elapsed().as_millis();
            match result {
                Ok(()) => {
                    passed += 1;
                    println!("test {} ... ok ({ms} ms)", t.name);
                }
                Err(e) => {
                    failed += 1;
                    println!("test {} ... FAILED ({ms} ms)\n    {e:#}", t.name);
                    if !new_log.is_empty() {
                        println!("    kernel log during the test:");
                        for l in new_log.lines() {
                            println!("      {l}");
                        }
                    }
                }
            }
        }
        println!("vm-suite: {passed} passed, {failed} failed");
        failed == 0
    }
}

/// The first line of `log` that matches a splat pattern. Between the fault-injection
/// markers (`FAULT_INJECTION_ON`/`_OFF`, state in `injecting` across calls), an injected
/// allocation failure's stack dump ("Call Trace:" of warn_alloc) does not count: every other
/// report has a header of its own among the patterns. As tools/vm.sh's scan of the whole log.
fn splat_line<'a>(log: &'a str, patterns: &[String], injecting: &mut bool) -> Option<&'a str> {
    for l in log.lines() {
        if l.contains(FAULT_INJECTION_ON) {
            *injecting = true;
        } else if l.contains(FAULT_INJECTION_OFF) {
            *injecting = false;
        }
        let hit = patterns
            .iter()
            .any(|p| l.contains(p.as_str()) && !(*injecting && p == "Call Trace:"));
        if hit {
            return Some(l);
        }
    }
    None
}

/// The kernel-log markers around fault injection (written by `fault_tests`).
pub const FAULT_INJECTION_ON: &str = "rh-vmtest: fault injection on";
pub const FAULT_INJECTION_OFF: &str = "rh-vmtest: fault injection off";

/// The splat patterns shared with `tools/vm.sh`.
fn splat_patterns() -> Vec<String> {
    let path = std::env::var("RH_ROOT")
        .map(|r| format!("{r}/ci/splat-patterns.txt"))
        .unwrap_or_else(|_| "ci/splat-patterns.txt".into());
    match std::fs::read_to_string(&path) {
        Ok(s) => s
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect(),
        Err(e) => {
            eprintln!("rh-vmtest: cannot read {path}: {e}; per-test splat checks are off");
            Vec::new()
        }
    }
}

/// Reads the kernel log records appended since the last call, from `/dev/kmsg`.
struct KmsgTail {
    file: File,
}

impl KmsgTail {
    fn open() -> Option<Self> {
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open("/dev/kmsg")
            .ok()?;
        file.seek(SeekFrom::End(0)).ok()?;
        Some(KmsgTail { file })
    }

    fn read_new(&mut self) -> String {
        let mut out = String::new();
        let mut buf = vec![0u8; 8192];
        loop {
            match self.file.read(&mut buf) {
                // Each read returns one record: "prio,seq,ts,flags;message\n".
                Ok(n) if n > 0 => {
                    let rec = String::from_utf8_lossy(&buf[..n]);
                    let msg = rec.split_once(';').map_or(&*rec, |(_, m)| m);
                    out.push_str(msg.lines().next().unwrap_or(""));
                    out.push('\n');
                }
                // EPIPE: records were overwritten; carry on from the next one.
                Err(e) if e.raw_os_error() == Some(libc::EPIPE) => continue,
                _ => break,
            }
        }
        out
    }
}
