//! perf-event counters: dTLB misses where a hardware PMU exists, and the software page-fault
//! counter (which works in VMs without a PMU).

use std::io;

use perf_event::events::{Cache, CacheId, CacheOp, CacheResult, Hardware, Software};
use perf_event::{Builder, Counter};

const DTLB_READ_MISS: Cache = Cache {
    which: CacheId::DTLB,
    operation: CacheOp::READ,
    result: CacheResult::MISS,
};

/// Why hardware counters are not usable, from perf_event_open's errno.
pub fn describe_open_error(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(libc::ENOENT) | Some(libc::ENODEV) | Some(libc::EOPNOTSUPP) => format!(
            "no hardware PMU ({e}); in a VM this is usually \"PMU not available due to virtualization\""
        ),
        Some(libc::EACCES) | Some(libc::EPERM) => format!(
            "permission denied ({e}); see /proc/sys/kernel/perf_event_paranoid"
        ),
        Some(libc::ENOSYS) => format!("perf_event_open not supported by this kernel ({e})"),
        _ => format!("cannot open hardware counters: {e}"),
    }
}

/// dTLB read misses (page walks on Intel/AMD) for this thread, user space only.
pub struct DtlbCounter {
    misses: Counter,
}

impl DtlbCounter {
    /// Open the counters, or say why not (once: the caller prints it once).
    pub fn open() -> Result<DtlbCounter, String> {
        // Plain cycles first: it tells "no PMU at all" apart from "no dTLB event".
        Builder::new(Hardware::CPU_CYCLES)
            .build()
            .map_err(|e| describe_open_error(&e))?;
        let misses = Builder::new(DTLB_READ_MISS)
            .build()
            .map_err(|e| format!("dTLB-load-misses: {}", describe_open_error(&e)))?;
        Ok(DtlbCounter { misses })
    }

    pub fn start(&mut self) -> io::Result<()> {
        self.misses.reset()?;
        self.misses.enable()
    }

    /// Stop and return the count, scaled for multiplexing.
    pub fn stop(&mut self) -> io::Result<u64> {
        self.misses.disable()?;
        let ct = self.misses.read_count_and_time()?;
        Ok(
            if ct.time_running > 0 && ct.time_running < ct.time_enabled {
                (ct.count as f64 * ct.time_enabled as f64 / ct.time_running as f64) as u64
            } else {
                ct.count
            },
        )
    }
}

/// Software page-fault counter for this thread.
pub struct FaultCounter {
    c: Counter,
}

impl FaultCounter {
    pub fn open() -> io::Result<FaultCounter> {
        let mut c = Builder::new(Software::PAGE_FAULTS).build()?;
        c.enable()?;
        Ok(FaultCounter { c })
    }

    pub fn read(&mut self) -> u64 {
        self.c.read().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_fault_counter_counts_first_touches() {
        // Software events work even without a PMU; skip quietly if perf is forbidden here.
        let Ok(mut fc) = FaultCounter::open() else {
            return;
        };
        let r = crate::backing::Backing::anon_4k()
            .map(64 * 4096, false)
            .unwrap();
        let before = fc.read();
        r.touch_all(4096);
        let faults = fc.read() - before;
        assert!((64..=70).contains(&faults), "{faults} faults for 64 pages");
    }

    #[test]
    fn open_errors_are_described() {
        let e = io::Error::from_raw_os_error(libc::ENOENT);
        assert!(describe_open_error(&e).contains("no hardware PMU"));
        let e = io::Error::from_raw_os_error(libc::EACCES);
        assert!(describe_open_error(&e).contains("perf_event_paranoid"));
    }
}
