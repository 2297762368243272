//! Criterion: random pointer chase (ns per dependent load) on 4 KiB, THP and hugetlb 2 MiB
//! pages at a few working sets. HTML reports land in target/criterion.

use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use rhbench::backing::Backing;
use rhbench::chain::{chase, random_cycle, write_slot_cycle};
use rhbench::cleanup;
use rhbench::pools::{self, GrowPolicy};
use rhbench::util::{fmt_size, MIB};

const SLOT: usize = 64;

fn backings() -> Vec<Backing> {
    let kernel = pools::discover(std::path::Path::new("/sys/kernel/mm/hugepages"), "kernel");
    let mut v = vec![Backing::anon_4k(), Backing::thp()];
    if let Some(p) = kernel.iter().find(|p| p.page_size == 2 * MIB) {
        v.push(Backing::hugetlb_flag(2 * MIB, Some(p.clone())));
    }
    v
}

fn random_chase(c: &mut Criterion) {
    let sizes = [4 * MIB, 64 * MIB, 256 * MIB];
    let max = *sizes.last().unwrap();
    let mut group = c.benchmark_group("random_chase");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .throughput(Throughput::Elements(1));
    for b in backings() {
        // Pages for hugetlb: grown as root (restored on drop / Ctrl-C), else what is free.
        let _res = b.pool.as_ref().map(|p| {
            pools::ensure_free(
                p,
                max / b.page_size,
                &GrowPolicy {
                    enabled: true,
                    max_bytes: 1 << 30,
                },
            )
        });
        let Ok(region) = b.map(max, false) else {
            eprintln!("random_chase: {} unavailable, skipped", b.id);
            continue;
        };
        for ws in sizes {
            let next = random_cycle(ws as usize / SLOT, ws);
            // SAFETY: the cycle covers ws bytes of a region of max >= ws bytes.
            unsafe { write_slot_cycle(region.as_ptr(), SLOT, &next) };
            let mut p = region.as_ptr() as *const u8;
            group.bench_with_input(
                BenchmarkId::new(b.id.clone(), fmt_size(ws)),
                &ws,
                |bench, _| {
                    bench.iter_custom(|iters| {
                        let t = Instant::now();
                        // SAFETY: p stays on the chain written above.
                        p = unsafe { chase(p, iters) };
                        t.elapsed()
                    })
                },
            );
        }
    }
    group.finish();
}

fn main() {
    cleanup::install_signal_handler().expect("signal handler");
    rhbench::plot::register_fonts();
    let mut c = Criterion::default().configure_from_args();
    random_chase(&mut c);
    c.final_summary();
}
