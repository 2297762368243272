//! `rhbench`: run the benchmarks and write the report (Markdown on stdout, JSON and PNG
//! plots in `--out`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use rhbench::run::{self, BackingSel, Config};
use rhbench::util::{self, parse_size};

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum BackingArg {
    /// 4 KiB anonymous pages (MADV_NOHUGEPAGE)
    #[value(name = "4k")]
    Anon4k,
    /// Transparent huge pages (MADV_HUGEPAGE)
    Thp,
    /// Kernel hugetlb 2 MiB via MAP_HUGETLB|MAP_HUGE_2MB
    #[value(name = "hugetlb-2m")]
    Hugetlb2M,
    /// Kernel hugetlb 1 GiB via MAP_HUGETLB|MAP_HUGE_1GB
    #[value(name = "hugetlb-1g")]
    Hugetlb1G,
    /// A file on a kernel hugetlbfs mount, pagesize=2M
    #[value(name = "hugetlbfs-2m")]
    Hugetlbfs2M,
    /// A file on a kernel hugetlbfs mount, pagesize=1G
    #[value(name = "hugetlbfs-1g")]
    Hugetlbfs1G,
    /// All of the above (default)
    All,
    /// None of the above: only the --mount paths
    None,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum Section {
    Tlb,
    Faults,
    Pools,
    /// rhugetlbfs pre-zeroed pools vs clearing at fault time, clearing speeds, growth, goals
    Zeroing,
}

/// TLB-miss cost, page-fault latency, pool-growth and zeroing benchmarks for 4 KiB, THP, the
/// kernel's hugetlbfs (2 MiB / 1 GiB) and any hugetlbfs-like mount such as rhugetlbfs.
///
/// Root is needed only to change pool sizes (and to mount a temporary hugetlbfs); every pool
/// size changed is restored at exit, on failure and on Ctrl-C.
#[derive(Parser, Debug)]
#[command(name = "rhbench", version, about, long_about)]
struct Cli {
    /// Tiny sizes that run in seconds (used by the test suite)
    #[arg(long)]
    smoke: bool,

    /// Output directory for report.json, report.md and the PNG plots
    #[arg(long, default_value = "target/rhbench")]
    out: PathBuf,

    /// Backings to measure (comma separated or repeated)
    #[arg(
        long = "backing",
        value_enum,
        value_delimiter = ',',
        default_value = "all"
    )]
    backings: Vec<BackingArg>,

    /// A hugetlbfs-like mount to measure (e.g. rhugetlbfs at /mnt/rh2m); page size from
    /// statfs f_bsize. Repeatable.
    #[arg(long = "mount", value_name = "PATH")]
    mounts: Vec<PathBuf>,

    /// Sections to run (default: all)
    #[arg(long, visible_alias = "section", value_enum, value_delimiter = ',')]
    only: Vec<Section>,

    /// Smallest working set of the random chase
    #[arg(long, value_parser = parse_size)]
    min_ws: Option<u64>,

    /// Largest working set of the random chase (capped by memory and pools)
    #[arg(long, value_parser = parse_size)]
    max_ws: Option<u64>,

    /// Bytes per pointer slot in the random chase
    #[arg(long, value_parser = parse_size)]
    slot: Option<u64>,

    /// Dependent loads per timed run
    #[arg(long)]
    accesses: Option<u64>,

    /// Timed runs per point (the best is reported)
    #[arg(long)]
    repeats: Option<u32>,

    /// Seed of the chain generator
    #[arg(long)]
    seed: Option<u64>,

    /// Largest page count of the lmbench-style chains
    #[arg(long)]
    chain_max_pages: Option<u64>,

    /// Bytes faulted per pass for page sizes below 1 GiB
    #[arg(long, value_parser = parse_size)]
    fault_size: Option<u64>,

    /// 1 GiB pages faulted per pass
    #[arg(long)]
    fault_1g_pages: Option<u64>,

    /// Warm fault passes after the cold one
    #[arg(long)]
    fault_rounds: Option<u32>,

    /// Pages to grow 2 MiB pools by in the pool-growth test
    #[arg(long)]
    pool_pages_2m: Option<u64>,

    /// Pages to grow 1 GiB pools by in the pool-growth test
    #[arg(long)]
    pool_pages_1g: Option<u64>,

    /// Zeroing section: pages of the 2 MiB pool growth from 0 (kernel and rhugetlbfs)
    #[arg(long)]
    growth_pages_2m: Option<u64>,

    /// Zeroing section: pages of the 1 GiB pool growth from 0 (default 0: as many as fit)
    #[arg(long)]
    growth_pages_1g: Option<u64>,

    /// Zeroing section: longest wait for a fully zeroed rhugetlbfs pool, in seconds
    #[arg(long)]
    zero_timeout_s: Option<f64>,

    /// Never grow a pool by more than this in total
    #[arg(long, value_parser = parse_size)]
    max_pool_grow: Option<u64>,

    /// Do not change any pool size (use free pages only)
    #[arg(long)]
    no_grow: bool,

    /// Do not mount a temporary hugetlbfs when none is mounted
    #[arg(long)]
    no_auto_mount: bool,

    /// Kernel hugepage pools directory
    #[arg(long, default_value = "/sys/kernel/mm/hugepages")]
    kernel_sysfs: PathBuf,

    /// rhugetlbfs hugepage pools directory
    #[arg(long, default_value = "/sys/fs/rhugetlbfs/hugepages")]
    module_sysfs: PathBuf,

    /// CPU frequency for converting ns to cycles (default: cpufreq or /proc/cpuinfo)
    #[arg(long)]
    freq_mhz: Option<f64>,

    /// Skip the PNG plots
    #[arg(long)]
    no_plots: bool,

    /// No progress on stderr
    #[arg(short, long)]
    quiet: bool,

    /// Keep a grown pool this long before shrinking it (tests Ctrl-C restore)
    #[arg(long, hide = true, default_value_t = 0)]
    debug_hold_ms: u64,
}

fn config(cli: &Cli) -> Config {
    let mut c = if cli.smoke {
        Config::smoke(cli.out.clone())
    } else {
        Config::full(cli.out.clone())
    };
    if !cli.only.is_empty() {
        c.tlb = cli.only.contains(&Section::Tlb);
        c.faults = cli.only.contains(&Section::Faults);
        c.pools = cli.only.contains(&Section::Pools);
        c.zeroing = cli.only.contains(&Section::Zeroing);
    }
    let mut sel = Vec::new();
    for b in &cli.backings {
        match b {
            BackingArg::All => sel.extend(BackingSel::ALL),
            BackingArg::None => {}
            BackingArg::Anon4k => sel.push(BackingSel::Anon4k),
            BackingArg::Thp => sel.push(BackingSel::Thp),
            BackingArg::Hugetlb2M => sel.push(BackingSel::Hugetlb2M),
            BackingArg::Hugetlb1G => sel.push(BackingSel::Hugetlb1G),
            BackingArg::Hugetlbfs2M => sel.push(BackingSel::Hugetlbfs2M),
            BackingArg::Hugetlbfs1G => sel.push(BackingSel::Hugetlbfs1G),
        }
    }
    let mut seen = Vec::new();
    sel.retain(|s| {
        let new = !seen.contains(s);
        seen.push(*s);
        new
    });
    c.backings = sel;
    c.mounts = cli.mounts.clone();
    if let Some(v) = cli.min_ws {
        c.min_ws = v;
    }
    if let Some(v) = cli.max_ws {
        c.max_ws = v;
    }
    if let Some(v) = cli.slot {
        c.slot = (v as usize).max(8).next_multiple_of(8);
    }
    if let Some(v) = cli.accesses {
        c.accesses = v.max(16);
    }
    if let Some(v) = cli.repeats {
        c.repeats = v.max(1);
    }
    if let Some(v) = cli.seed {
        c.seed = v;
    }
    if let Some(v) = cli.chain_max_pages {
        c.chain_max_pages = v;
    }
    if let Some(v) = cli.fault_size {
        c.fault_bytes = v;
    }
    if let Some(v) = cli.fault_1g_pages {
        c.fault_1g_pages = v;
    }
    if let Some(v) = cli.fault_rounds {
        c.fault_rounds = v;
    }
    if let Some(v) = cli.pool_pages_2m {
        c.pool_pages_2m = v;
    }
    if let Some(v) = cli.pool_pages_1g {
        c.pool_pages_1g = v;
    }
    if let Some(v) = cli.growth_pages_2m {
        c.growth_pages_2m = v;
    }
    if let Some(v) = cli.growth_pages_1g {
        c.growth_pages_1g = v;
    }
    if let Some(v) = cli.zero_timeout_s {
        c.zero_timeout_s = v;
    }
    if let Some(v) = cli.max_pool_grow {
        c.max_pool_grow = v;
    }
    c.grow = !cli.no_grow;
    c.auto_mount = !cli.no_auto_mount;
    c.kernel_sysfs = cli.kernel_sysfs.clone();
    c.module_sysfs = cli.module_sysfs.clone();
    c.freq_mhz = cli.freq_mhz;
    c.plots = !cli.no_plots;
    c.hold_ms = cli.debug_hold_ms;
    c
}

fn main() -> ExitCode {
    // Before any other thread exists, so every thread inherits the blocked signals and only
    // the handler thread sees SIGINT/SIGTERM/SIGHUP.
    if let Err(e) = rhbench::cleanup::install_signal_handler() {
        eprintln!("rhbench: cannot install signal handler: {e}");
        return ExitCode::FAILURE;
    }
    let cli = Cli::parse();
    util::set_quiet(cli.quiet);
    let cfg = config(&cli);
    let mut report = run::run(&cfg);
    match run::write_outputs(&mut report, &cfg) {
        Ok(md) => {
            println!("{md}");
            eprintln!(
                "rhbench: wrote {} and {}",
                cfg.out.join("report.json").display(),
                cfg.out.join("report.md").display()
            );
            // Everything must have been put back by now.
            let left = rhbench::cleanup::restore_all();
            for m in left {
                eprintln!("rhbench: late cleanup: {m}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("rhbench: writing the report to {}: {e}", cfg.out.display());
            ExitCode::FAILURE
        }
    }
}
