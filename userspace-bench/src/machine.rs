//! Machine facts recorded with every report.

use serde::{Deserialize, Serialize};

use crate::pools::PoolSnapshot;
use crate::util;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MachineFacts {
    pub cpu_model: String,
    pub cpus: usize,
    pub kernel_release: String,
    pub kernel_version: String,
    pub thp_enabled: String,
    pub thp_defrag: String,
    pub hw_counters: bool,
    pub hw_counters_reason: Option<String>,
    /// "bare metal", "virtualized (KVM)", "emulated (QEMU TCG)", ...
    pub execution: String,
    pub hypervisor: Option<String>,
    pub tcg: bool,
    pub freq_mhz: Option<f64>,
    pub freq_source: Option<String>,
    pub mem_total: u64,
    pub mem_available: u64,
    pub loadavg: String,
    pub root: bool,
    pub pools: Vec<PoolSnapshot>,
    /// Time for memset of 2 MiB into already-faulted memory (the floor for a 2 MiB fault).
    pub clear_2mib_us: Option<f64>,
    pub clear_gbps: Option<f64>,
}

impl MachineFacts {
    pub fn execution_warning(&self) -> Option<&'static str> {
        self.tcg.then_some(
            "TCG timings are not hardware timings (QEMU emulates the CPU and MMU in software)",
        )
    }
}

fn uname() -> (String, String) {
    // SAFETY: zeroed utsname is a valid out buffer.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: valid out pointer.
    if unsafe { libc::uname(&mut u) } != 0 {
        return (String::new(), String::new());
    }
    let s = |f: &[libc::c_char]| {
        let bytes: Vec<u8> = f
            .iter()
            .take_while(|&&c| c != 0)
            .map(|&c| c as u8)
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    (s(&u.release), s(&u.version))
}

/// First "model name" (x86) or "Hardware"/"CPU part" fallback from /proc/cpuinfo.
pub fn cpu_model(cpuinfo: &str) -> String {
    let field = |key: &str| {
        cpuinfo.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == key).then(|| v.trim().to_string())
        })
    };
    field("model name")
        .or_else(|| field("Hardware"))
        .or_else(|| field("CPU part").map(|p| format!("CPU part {p}")))
        .unwrap_or_else(|| "unknown".into())
}

pub fn cpu_flags(cpuinfo: &str) -> Vec<String> {
    cpuinfo
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == "flags").then(|| v.split_whitespace().map(String::from).collect())
        })
        .unwrap_or_default()
}

/// The hypervisor's CPUID signature (leaf 0x4000_0000): "KVMKVMKVM", "TCGTCGTCGTCG", ...
#[allow(unused_unsafe)]
fn hypervisor_signature() -> Option<String> {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: CPUID is always available on x86-64; leaf 0x40000000 is reserved for
        // hypervisors and harmless to query.
        let r = unsafe { std::arch::x86_64::__cpuid(0x4000_0000) };
        let mut b = Vec::with_capacity(12);
        for w in [r.ebx, r.ecx, r.edx] {
            b.extend_from_slice(&w.to_le_bytes());
        }
        let s: String = String::from_utf8_lossy(&b)
            .trim_matches(char::from(0))
            .trim()
            .to_string();
        (!s.is_empty() && s.chars().all(|c| c.is_ascii_graphic())).then_some(s)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        None
    }
}

/// Classify execution: (description, hypervisor, is_tcg).
pub fn classify_execution(
    flags: &[String],
    cpu_model: &str,
    signature: Option<&str>,
    dmi_vendor: Option<&str>,
) -> (String, Option<String>, bool) {
    let hv_flag = flags.iter().any(|f| f == "hypervisor");
    let sig = signature.unwrap_or("");
    let qemu_model = cpu_model.contains("QEMU Virtual CPU") || cpu_model.contains("QEMU TCG");
    let tcg = sig.starts_with("TCGTCG") || (qemu_model && !sig.starts_with("KVM"));
    let dmi = dmi_vendor.unwrap_or("").trim();
    if tcg {
        return (
            "emulated (QEMU TCG)".into(),
            Some(if sig.is_empty() {
                "QEMU".into()
            } else {
                sig.into()
            }),
            true,
        );
    }
    if !hv_flag && sig.is_empty() {
        return ("bare metal (no hypervisor flag)".into(), None, false);
    }
    let hv = match sig {
        s if s.starts_with("KVMKVMKVM") => "KVM",
        s if s.starts_with("Microsoft Hv") => "Hyper-V",
        s if s.starts_with("VMwareVMware") => "VMware",
        s if s.starts_with("XenVMMXenVMM") => "Xen",
        s if s.starts_with("VBoxVBoxVBox") => "VirtualBox",
        "" => "unknown hypervisor",
        s => s,
    };
    let desc = if dmi.is_empty() {
        format!("virtualized ({hv})")
    } else {
        format!("virtualized ({hv}, DMI vendor {dmi})")
    };
    (desc, Some(hv.to_string()), false)
}

/// Core frequency: cpufreq max if exposed, else /proc/cpuinfo "cpu MHz" (nominal / TSC in VMs).
pub fn frequency(cpuinfo: &str) -> (Option<f64>, Option<String>) {
    if let Ok(khz) = util::read_u64(std::path::Path::new(
        "/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq",
    )) {
        return (
            Some(khz as f64 / 1000.0),
            Some("cpufreq cpuinfo_max_freq".into()),
        );
    }
    let mhz = cpuinfo.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim() == "cpu MHz").then(|| v.trim().parse::<f64>().ok())?
    });
    match mhz {
        Some(m) if m > 0.0 => (
            Some(m),
            Some("/proc/cpuinfo cpu MHz (nominal; may differ from the real core clock)".into()),
        ),
        _ => (None, None),
    }
}

/// Time to memset 2 MiB of memory that is already faulted in (best of several chunks).
pub fn clear_baseline() -> Option<(f64, f64)> {
    let chunk = 2 * util::MIB as usize;
    let n = 32;
    let r = crate::backing::Backing::anon_4k()
        .map((chunk * n) as u64, true)
        .ok()?;
    r.touch_all(util::BASE_PAGE);
    let mut best = f64::INFINITY;
    for round in 0..3 {
        for i in 0..n {
            let t = std::time::Instant::now();
            // SAFETY: in bounds of our mapping.
            unsafe { std::ptr::write_bytes(r.as_ptr().add(i * chunk), round as u8 + 1, chunk) };
            std::hint::black_box(r.as_ptr());
            best = best.min(t.elapsed().as_secs_f64());
        }
    }
    Some((best * 1e6, crate::stats::gbps(chunk as u64, best)))
}

pub fn collect(
    hw: Result<(), String>,
    pools: Vec<PoolSnapshot>,
    freq_override: Option<f64>,
) -> MachineFacts {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let (release, version) = uname();
    let flags = cpu_flags(&cpuinfo);
    let model = cpu_model(&cpuinfo);
    let dmi = std::fs::read_to_string("/sys/class/dmi/id/sys_vendor").ok();
    let sig = hypervisor_signature();
    let (execution, hypervisor, tcg) =
        classify_execution(&flags, &model, sig.as_deref(), dmi.as_deref());
    let (freq_mhz, freq_source) = match freq_override {
        Some(f) => (Some(f), Some("--freq-mhz".to_string())),
        None => frequency(&cpuinfo),
    };
    let thp = |f: &str| {
        std::fs::read_to_string(format!("/sys/kernel/mm/transparent_hugepage/{f}"))
            .ok()
            .and_then(|t| util::bracketed_choice(&t))
            .unwrap_or_else(|| "unavailable".into())
    };
    let clear = clear_baseline();
    MachineFacts {
        cpu_model: model,
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        kernel_release: release,
        kernel_version: version,
        thp_enabled: thp("enabled"),
        thp_defrag: thp("defrag"),
        hw_counters: hw.is_ok(),
        hw_counters_reason: hw.err(),
        execution,
        hypervisor,
        tcg,
        freq_mhz,
        freq_source,
        mem_total: util::meminfo_bytes("MemTotal").unwrap_or(0),
        mem_available: util::meminfo_bytes("MemAvailable").unwrap_or(0),
        loadavg: std::fs::read_to_string("/proc/loadavg")
            .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
            .unwrap_or_default(),
        root: util::is_root(),
        pools,
        clear_2mib_us: clear.map(|c| c.0),
        clear_gbps: clear.map(|c| c.1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn execution_classification() {
        let (d, h, tcg) = classify_execution(&f(&["fpu", "sse"]), "Intel Xeon", None, None);
        assert!(d.starts_with("bare metal") && h.is_none() && !tcg);
        let (d, h, tcg) =
            classify_execution(&f(&["hypervisor"]), "Intel Xeon", Some("KVMKVMKVM"), None);
        assert_eq!(d, "virtualized (KVM)");
        assert_eq!(h.as_deref(), Some("KVM"));
        assert!(!tcg);
        let (d, _, tcg) = classify_execution(
            &f(&["hypervisor"]),
            "QEMU Virtual CPU version 2.5+",
            Some("TCGTCGTCGTCG"),
            Some("QEMU\n"),
        );
        assert_eq!(d, "emulated (QEMU TCG)");
        assert!(tcg);
        // QEMU model name without KVM signature is TCG too.
        assert!(classify_execution(&f(&["hypervisor"]), "QEMU Virtual CPU", None, None).2);
        // QEMU with KVM: virtualized, not TCG.
        let (d, _, tcg) = classify_execution(
            &f(&["hypervisor"]),
            "Common KVM processor",
            Some("KVMKVMKVM"),
            Some("QEMU"),
        );
        assert_eq!(d, "virtualized (KVM, DMI vendor QEMU)");
        assert!(!tcg);
        let m = MachineFacts {
            tcg: true,
            ..Default::default()
        };
        assert!(m
            .execution_warning()
            .unwrap()
            .contains("TCG timings are not hardware timings"));
    }

    #[test]
    fn cpuinfo_parsing() {
        let t = "processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Processor\ncpu MHz\t\t: 2300.000\nflags\t\t: fpu hypervisor pdpe1gb\n";
        assert_eq!(cpu_model(t), "Intel(R) Xeon(R) Processor");
        assert!(cpu_flags(t).contains(&"pdpe1gb".to_string()));
        assert_eq!(cpu_model(""), "unknown");
    }
}
