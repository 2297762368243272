//! rhbench: what huge pages buy on this machine, and how rhugetlbfs compares with the
//! kernel's hugetlbfs.
//!
//! 1. TLB-miss cost ([`tlb`]): lmbench-style per-page vs packed chains, and a random
//!    full-permutation pointer chase over working sets from 1 MiB to 4 GiB, per backing.
//! 2. Fault latency ([`faults`]): first-touch write faults per page into an HdrHistogram,
//!    cold pass apart from warm passes, one-fault-per-huge-page check with the software
//!    page-fault counter, read faults, MAP_POPULATE / fallocate throughput.
//! 3. Pool growth ([`pools`]): grow/shrink through `nr_hugepages`, kernel and rhugetlbfs.
//! 4. Zeroing ([`zeroing`]): rhugetlbfs's pre-zeroed pools against clearing at fault time,
//!    the refill after a burst and its CPU cost, clearing speeds, pool growth from 0, the
//!    goals, and a user-space model of the clearing methods.
//!
//! Every pool size it changes is put back ([`cleanup`]), also on SIGINT/SIGTERM.

pub mod backing;
pub mod chain;
pub mod cleanup;
pub mod faults;
pub mod machine;
pub mod perf;
pub mod plot;
pub mod pools;
pub mod report;
pub mod run;
pub mod stats;
pub mod tlb;
pub mod util;
pub mod zeroing;
