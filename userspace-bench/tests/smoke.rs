//! Runs the `rhbench` binary end to end. Works without root and without host pools: as root
//! it may grow the host's 2 MiB pool by a few pages, and must put it back.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_rhbench");

fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rhbench-it-{tag}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    d
}

/// nr_hugepages of every host pool (empty when there is no hugetlb support).
fn host_pools() -> Vec<(PathBuf, String)> {
    let Ok(rd) = fs::read_dir("/sys/kernel/mm/hugepages") else {
        return Vec::new();
    };
    let mut v: Vec<(PathBuf, String)> = rd
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("nr_hugepages"))
        .filter_map(|p| fs::read_to_string(&p).ok().map(|s| (p, s)))
        .collect();
    v.sort();
    v
}

fn fake_pool(root: &Path, name: &str, nr: u64) -> PathBuf {
    let d = root.join(name);
    fs::create_dir_all(&d).unwrap();
    fs::write(d.join("nr_hugepages"), format!("{nr}\n")).unwrap();
    fs::write(d.join("free_hugepages"), format!("{nr}\n")).unwrap();
    d.join("nr_hugepages")
}

fn read(p: &Path) -> String {
    fs::read_to_string(p).unwrap().trim().to_string()
}

#[test]
fn smoke_run_writes_parseable_reports() {
    let out = tmpdir("smoke");
    let before = host_pools();
    let o = Command::new(BIN)
        .args(["--smoke", "--quiet", "--out"])
        .arg(&out)
        // Not a huge-page file system: reported unavailable, and the run goes on.
        .arg("--mount")
        .arg(&out)
        .output()
        .expect("run rhbench");
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "rhbench failed: {stderr}");
    assert_eq!(host_pools(), before, "host pool sizes changed");

    // Markdown on stdout and in report.md.
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("# rhbench report (smoke"), "{stdout}");
    let md = fs::read_to_string(out.join("report.md")).unwrap();
    for section in [
        "## Machine",
        "## Backings",
        "## 1. TLB-miss cost",
        "## 2. Fault latency",
        "## 4. Zeroing (pre-zeroed free pages)",
        "### Clearing methods (user-space model)",
        "## rhugetlbfs / kernel hugetlbfs",
        "## Goals",
    ] {
        assert!(md.contains(section), "missing {section}");
    }

    // JSON parses and holds what the Markdown shows.
    let v: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(v["tool"], "rhbench");
    assert_eq!(v["smoke"], true);
    assert!(!v["machine"]["kernel_release"].as_str().unwrap().is_empty());
    assert!(v["machine"]["hw_counters"].is_boolean());
    let backings = v["backings"].as_array().unwrap();
    assert!(
        backings.len() >= 7,
        "six kernel backings and the --mount are listed"
    );
    let m = backings.last().unwrap();
    assert_eq!(m["available"], false);
    assert!(
        m["reason"]
            .as_str()
            .unwrap()
            .contains("not a huge-page file system"),
        "{m}"
    );
    for b in backings {
        assert!(
            b["available"].as_bool().unwrap() || b["reason"].is_string(),
            "{b}"
        );
    }
    // 4 KiB anonymous memory is always there.
    let tlb = v["tlb"].as_array().unwrap();
    let k4 = tlb
        .iter()
        .find(|t| t["backing"] == "4K")
        .expect("4K TLB series");
    let pts = k4["points"].as_array().unwrap();
    assert_eq!(pts.len(), 4, "1..8 MiB in smoke mode");
    assert!(pts.iter().all(|p| p["ns"].as_f64().unwrap() > 0.0));
    assert!(!k4["chains"].as_array().unwrap().is_empty());
    let f4 = v["faults"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["backing"] == "4K")
        .unwrap();
    assert_eq!(f4["cold"]["count"], 2048);
    assert!(f4["warm"]["p50_ns"].as_u64().unwrap() > 0);

    // The zeroing section: the 4 KiB reference is always measured; without a module every
    // rhugetlbfs case and goal says "not measured" and why.
    let z = &v["zeroing"];
    let zf = z["faults"].as_array().unwrap();
    let z4 = zf.iter().find(|c| c["id"] == "4K").unwrap();
    assert_eq!(z4["measured"], true);
    assert!(z4["warm"]["p50_ns"].as_u64().unwrap() > 0);
    let bg = zf
        .iter()
        .find(|c| c["id"] == "rhugetlbfs-2M-background")
        .unwrap();
    if bg["measured"] == false {
        assert!(
            bg["reason"].as_str().unwrap().contains("rhugetlbfs"),
            "{bg}"
        );
    }
    assert!(z["model"]["available"].is_boolean());
    let goals = v["goals"].as_array().unwrap();
    assert_eq!(goals.len(), 7);
    for g in goals {
        let st = g["status"].as_str().unwrap();
        assert!(["met", "not met", "not measured"].contains(&st), "{g}");
        assert!(!g["detail"].as_str().unwrap().is_empty(), "{g}");
    }

    // Plots are PNG files.
    let plots = v["plots"].as_array().unwrap();
    assert!(plots.len() >= 2, "{plots:?}");
    for name in [
        "tlb_ns_per_access.png",
        "fault_latency_cdf.png",
        "tlb_chains.png",
    ] {
        let bytes = fs::read(out.join(name)).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{name}");
    }
    fs::remove_dir_all(&out).unwrap();
}

#[test]
fn pool_growth_on_fake_sysfs_gives_ratios_and_restores() {
    let root = tmpdir("fakepools");
    let k2 = fake_pool(&root.join("kernel"), "hugepages-2048kB", 3);
    let k1 = fake_pool(&root.join("kernel"), "hugepages-1048576kB", 0);
    let m2 = fake_pool(&root.join("module"), "hugepages-2048kB", 1);
    let out = root.join("out");
    let o = Command::new(BIN)
        .args([
            "--only",
            "pools",
            "--backing",
            "none",
            "--quiet",
            "--no-plots",
        ])
        .args(["--pool-pages-2m", "5", "--pool-pages-1g", "1"])
        .arg("--kernel-sysfs")
        .arg(root.join("kernel"))
        .arg("--module-sysfs")
        .arg(root.join("module"))
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        (read(&k2).as_str(), read(&k1).as_str(), read(&m2).as_str()),
        ("3", "0", "1")
    );
    let v: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    let pools = v["pools"].as_array().unwrap();
    assert_eq!(pools.len(), 3);
    assert!(pools
        .iter()
        .all(|p| p["restored"] == true && p["reached"] == p["requested"]));
    let ratios = v["ratios"].as_array().unwrap();
    assert!(
        ratios.iter().any(|r| r["metric"] == "pool grow µs/page"),
        "{ratios:?}"
    );
    let md = fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("## 3. Pool growth"));
    fs::remove_dir_all(&root).unwrap();
}

#[test]
fn zeroing_section_on_fake_sysfs_grows_both_ways_and_restores() {
    let root = tmpdir("fakezero");
    let k2 = fake_pool(&root.join("kernel"), "hugepages-2048kB", 3);
    let m2 = fake_pool(&root.join("module"), "hugepages-2048kB", 1);
    let md = m2.parent().unwrap().to_path_buf();
    for (f, v) in [
        ("zero_policy", "background"),
        ("zeroed_hugepages", "1"),
        ("clear_method", "auto"),
        (
            "clear_speed",
            "page 0\nerms 0\nnt 0\nfault page\nbackground nt",
        ),
    ] {
        fs::write(md.join(f), format!("{v}\n")).unwrap();
    }
    let out = root.join("out");
    let o = Command::new(BIN)
        .args(["--smoke", "--section", "zeroing", "--backing", "none"])
        .args(["--quiet", "--no-plots", "--no-auto-mount"])
        .args(["--growth-pages-2m", "6", "--zero-timeout-s", "1"])
        .arg("--kernel-sysfs")
        .arg(root.join("kernel"))
        .arg("--module-sysfs")
        .arg(root.join("module"))
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!((read(&k2).as_str(), read(&m2).as_str()), ("3", "1"));
    assert_eq!(read(&md.join("zero_policy")), "background");
    let v: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    let z = &v["zeroing"];
    let growth = z["growth"].as_array().unwrap();
    let order: Vec<(u64, &str)> = growth
        .iter()
        .map(|g| {
            (
                g["round"].as_u64().unwrap(),
                g["implementation"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        order,
        [
            (1, "kernel"),
            (1, "rhugetlbfs"),
            (2, "rhugetlbfs"),
            (2, "kernel")
        ]
    );
    assert!(growth
        .iter()
        .all(|g| g["requested"] == 6 && g["reached"] == 6 && g["base"] == 0));
    let g2 = v["goals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["id"] == "growth_2m_vs_kernel")
        .unwrap();
    assert_ne!(g2["status"], "not measured", "{g2}");
    assert!(g2["goal"].as_str().unwrap().contains("6 × 2 MiB"), "{g2}");
    // No mount: the module's fault cases are not measured, its clearing speed is read.
    let bg = z["faults"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "rhugetlbfs-2M-background")
        .unwrap();
    assert_eq!(bg["measured"], false);
    assert!(bg["reason"].as_str().unwrap().contains("--mount"), "{bg}");
    // (A plain file takes the write of `1`, so the values read back are gone.)
    let cs = &z["clear_speed"][0];
    assert_eq!(cs["measured_now"], true, "{cs}");
    assert_eq!(cs["clear_method"], "auto", "{cs}");
    assert_eq!(z["settings"][0]["zero_policy"], "background");
    let md_text = fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md_text.contains("### Pool growth from 0"));
    assert!(!md_text.contains("## 1. TLB-miss cost"));
    fs::remove_dir_all(&root).unwrap();
}

#[test]
fn sigint_restores_fake_pools() {
    let root = tmpdir("sigint");
    let k2 = fake_pool(&root.join("kernel"), "hugepages-2048kB", 3);
    let m2 = fake_pool(&root.join("module"), "hugepages-2048kB", 1);
    let mut child = Command::new(BIN)
        .args([
            "--only",
            "pools",
            "--backing",
            "none",
            "--quiet",
            "--no-plots",
        ])
        .args(["--pool-pages-2m", "7", "--debug-hold-ms", "20000"])
        .arg("--kernel-sysfs")
        .arg(root.join("kernel"))
        .arg("--module-sysfs")
        .arg(root.join("module"))
        .arg("--out")
        .arg(root.join("out"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the kernel pool is grown (3 + 7), then interrupt.
    let t = Instant::now();
    while read(&k2) != "10" {
        assert!(t.elapsed() < Duration::from_secs(30), "pool never grew");
        assert!(child.try_wait().unwrap().is_none(), "rhbench exited early");
        std::thread::sleep(Duration::from_millis(20));
    }
    // SAFETY: sending SIGINT to our own child process.
    assert_eq!(
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) },
        0
    );
    let o = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("restored"), "{stderr}");
    assert_eq!(read(&k2), "3", "kernel pool restored after SIGINT");
    assert_eq!(read(&m2), "1", "module pool untouched");
    fs::remove_dir_all(&root).unwrap();
}
