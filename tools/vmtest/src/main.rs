//! The in-VM integration suite of rhugetlbfs.
//!
//! Runs as root inside the test guest (started by `tools/vm.sh`), with `RH_KO` naming the
//! module built for the running kernel. Each test is a named function; a test fails when it
//! returns an error or when the kernel log gains a splat while it runs (the patterns are
//! `ci/splat-patterns.txt`, shared with the host-side scan of the whole log).
//!
//! Usage: `rh-vmtest [--list] [SUBSTRING...]`. Prints one line per test and a final
//! `N passed, N failed` line; exits 1 if anything failed.

mod badinput_tests;
mod diff_tests;
mod fault_tests;
mod fs_tests;
mod futex_tests;
mod fuzz_tests;
mod gup_tests;
mod harness;
mod map;
mod module_tests;
mod os;
mod own_tests;
mod pool_tests;
mod stress_tests;
mod sys;
mod zero_tests;

use harness::Suite;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut suite = Suite::new();
    module_tests::register(&mut suite);
    pool_tests::register(&mut suite);
    fs_tests::register(&mut suite);
    own_tests::register(&mut suite);
    gup_tests::register(&mut suite);
    futex_tests::register(&mut suite);
    diff_tests::register(&mut suite);
    badinput_tests::register(&mut suite);
    zero_tests::register(&mut suite);
    fault_tests::register(&mut suite);
    stress_tests::register(&mut suite);
    fuzz_tests::register(&mut suite);
    pool_tests::register_last(&mut suite);
    if args.iter().any(|a| a == "--list") {
        suite.list();
        return;
    }
    let filters: Vec<&str> = args.iter().map(String::as_str).collect();
    std::process::exit(if suite.run(&filters) { 0 } else { 1 });
}
