//! Loading and unloading the module.

use crate::harness::{Suite, TestResult};
use crate::sys;
use anyhow::{ensure, Context};

pub fn register(s: &mut Suite) {
    s.add("module_load", module_load);
    s.add("module_params_visible", module_params_visible);
    s.add("module_unload", module_unload);
    s.add("module_reload_cycles", module_reload_cycles);
    s.add("debug_kernel_hang_detectors_armed", hang_detectors);
}

/// The debug kernel turns livelocks and tasks stuck in D state into splats the suite
/// catches: the hung-task detector (60 s) and the soft-lockup detector (threshold raised
/// to 30 s, 60 s for a soft lockup, by the guest init for TCG). The release kernel has
/// neither, by design (timings).
fn hang_detectors() -> TestResult {
    let debug = std::env::var("RH_FLAVOUR").as_deref() == Ok("debug");
    // The value, or the error as one line.
    let read = |path: &str| sys::read_u64(path).map_err(|e| format!("{e:#}"));
    let hung = read("/proc/sys/kernel/hung_task_timeout_secs");
    let thresh = read("/proc/sys/kernel/watchdog_thresh");
    let soft = read("/proc/sys/kernel/soft_watchdog");
    if !debug {
        ensure!(
            hung.is_err(),
            "the release kernel has a hung-task detector: {hung:?}"
        );
        return Ok(());
    }
    ensure!(hung == Ok(60), "hung_task_timeout_secs: {hung:?}, want 60");
    ensure!(thresh == Ok(30), "watchdog_thresh: {thresh:?}, want 30");
    ensure!(soft == Ok(1), "soft_watchdog: {soft:?}, want 1");
    Ok(())
}

fn module_load() -> TestResult {
    sys::ensure_unloaded()?;
    sys::insmod(&[])?;
    ensure!(
        sys::module_loaded()?,
        "rhugetlbfs not in /proc/modules after insmod"
    );
    ensure!(
        std::path::Path::new("/sys/module/rhugetlbfs").is_dir(),
        "/sys/module/rhugetlbfs missing after insmod"
    );
    let log = sys::run("dmesg", &[])?;
    ensure!(
        log.lines()
            .any(|l| l.contains("rhugetlbfs: rhugetlbfs ") && l.contains(" loaded")),
        "no load line with the version in the kernel log"
    );
    Ok(())
}

fn module_params_visible() -> TestResult {
    sys::ensure_loaded()?;
    let v = sys::read("/sys/module/rhugetlbfs/parameters/default_hugepagesz_kb")?;
    ensure!(
        v.trim() == "2048",
        "default_hugepagesz_kb reads {v:?}, expected 2048"
    );
    Ok(())
}

fn module_unload() -> TestResult {
    sys::ensure_loaded()?;
    sys::rmmod()?;
    ensure!(
        !sys::module_loaded()?,
        "rhugetlbfs still in /proc/modules after rmmod"
    );
    ensure!(
        !std::path::Path::new("/sys/module/rhugetlbfs").exists(),
        "/sys/module/rhugetlbfs still present after rmmod"
    );
    Ok(())
}

fn module_reload_cycles() -> TestResult {
    sys::ensure_unloaded()?;
    for i in 0..3 {
        sys::insmod(&[]).with_context(|| format!("cycle {i}"))?;
        sys::rmmod().with_context(|| format!("cycle {i}"))?;
    }
    ensure!(!sys::module_loaded()?, "module left loaded");
    Ok(())
}
