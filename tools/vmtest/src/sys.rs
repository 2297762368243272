//! Small helpers over the guest's files and commands.

use std::process::Command;

/// The module under test (`RH_KO`, set by `tools/vm.sh`).
pub fn ko_path() -> Result<String, String> {
    std::env::var("RH_KO")
        .ok()
        .filter(|p| !p.is_empty())
        .ok_or_else(|| "RH_KO is not set: run through tools/vm.sh".to_string())
}

/// Runs a command; Ok(stdout) on success, Err with its stderr otherwise.
pub fn run(prog: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(prog)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run {prog}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{prog} {} failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Reads a whole (sysfs/proc) file as a string.
pub fn read(path: &str) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("read {path}: {e}"))
}

/// Whether the module is loaded, by `/proc/modules`.
pub fn module_loaded() -> Result<bool, String> {
    Ok(read("/proc/modules")?
        .lines()
        .any(|l| l.split_whitespace().next() == Some("rhugetlbfs")))
}

/// Loads the module with the given parameters.
pub fn insmod(params: &[&str]) -> Result<(), String> {
    let ko = ko_path()?;
    let mut args = vec![ko.as_str()];
    args.extend_from_slice(params);
    run("insmod", &args).map(drop)
}

/// Unloads the module.
pub fn rmmod() -> Result<(), String> {
    run("rmmod", &["rhugetlbfs"]).map(drop)
}

/// Makes sure the module is loaded (with default parameters).
pub fn ensure_loaded() -> Result<(), String> {
    if !module_loaded()? {
        insmod(&[])?;
    }
    Ok(())
}

/// Makes sure the module is not loaded.
pub fn ensure_unloaded() -> Result<(), String> {
    if module_loaded()? {
        rmmod()?;
    }
    Ok(())
}
