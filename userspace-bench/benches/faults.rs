//! Criterion: first-touch write-fault time per page on 4 KiB, THP and hugetlb 2 MiB pages.
//! Criterion reports means per sample; the rhbench binary has the full HdrHistogram
//! distributions. HTML reports land in target/criterion.

use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, SamplingMode};
use rhbench::backing::Backing;
use rhbench::cleanup;
use rhbench::pools::{self, GrowPolicy};
use rhbench::util::MIB;

/// Pages mapped at a time: a sample of `iters` faults is done in chunks of this many.
const CHUNK: u64 = 32;

fn first_touch(c: &mut Criterion) {
    let kernel = pools::discover(std::path::Path::new("/sys/kernel/mm/hugepages"), "kernel");
    let mut backings = vec![Backing::anon_4k(), Backing::thp()];
    if let Some(p) = kernel.iter().find(|p| p.page_size == 2 * MIB) {
        backings.push(Backing::hugetlb_flag(2 * MIB, Some(p.clone())));
    }
    let mut group = c.benchmark_group("first_touch_fault");
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    for b in backings {
        let _res = b.pool.as_ref().map(|p| {
            pools::ensure_free(
                p,
                CHUNK,
                &GrowPolicy {
                    enabled: true,
                    max_bytes: CHUNK * 2 * MIB,
                },
            )
        });
        if b.map(b.page_size, false).is_err() {
            eprintln!("first_touch_fault: {} unavailable, skipped", b.id);
            continue;
        }
        group.bench_function(BenchmarkId::from_parameter(&b.id), |bench| {
            bench.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                let mut left = iters;
                while left > 0 {
                    let n = left.min(CHUNK);
                    let r = b.map(n * b.page_size, false).expect("map");
                    for i in 0..n as usize {
                        let t = Instant::now();
                        // SAFETY: page i of the mapping.
                        unsafe {
                            std::ptr::write_volatile(r.as_ptr().add(i * b.page_size as usize), 1)
                        };
                        total += t.elapsed();
                    }
                    left -= n;
                }
                total
            })
        });
    }
    group.finish();
}

fn main() {
    cleanup::install_signal_handler().expect("signal handler");
    rhbench::plot::register_fonts();
    let mut c = Criterion::default().configure_from_args();
    first_touch(&mut c);
    c.final_summary();
}
