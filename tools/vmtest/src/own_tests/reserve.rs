//! Reservations given back at the right moment: a partial munmap of a private mapping, a
//! failed mmap on a `min_size` mount.

use super::{map, map_ok, Mnt};
use crate::harness::TestResult;
use crate::map::{PRIVATE, RW, SHARED};
use anyhow::{bail, ensure, Result};
use rustix::io::Errno;

/// Issue 15: `munmap` of part of a private mapping gives back, at once, the pages and
/// the unconsumed reservations of that part (upstream `hugetlb_vm_op_close` on the piece),
/// not only when the last piece goes. Every process has other file mappings at small file
/// offsets (its libraries), which rhugetlbfs once took for another piece of the same
/// mapping and so kept everything until the whole mapping was gone.
pub(super) fn partial_munmap_private(m: &Mnt) -> TestResult {
    let hs = m.hsize();
    let state = || -> Result<(u64, u64)> {
        Ok((m.counter("free_hugepages")?, m.counter("resv_hugepages")?))
    };
    // Unmapped on drop (munmap of what is gone already is a no-op), so that a failure
    // leaves the mount free for the next test.
    let mut whole = map_ok(&m.path("p"), 2 * hs, RW, PRIVATE)?;
    ensure!(
        state()? == (3, 2),
        "after mmap: (free, resv) {:?}, want (3, 2)",
        state()?
    );
    whole.fill(0, 4096, 1);
    ensure!(
        state()? == (2, 1),
        "after a write to page 0: (free, resv) {:?}, want (2, 1)",
        state()?
    );
    // Page 0 first: its file offsets (0..2 MiB) are where the libraries' mappings are.
    // SAFETY: The first page of our mapping, not touched again; nothing is mapped until
    // the second page goes too (only counters are read).
    let _ = unsafe { whole.unmap_range(0, hs) };
    ensure!(
        state()? == (3, 1),
        "after munmap of the written page 0: (free, resv) {:?}, want (3, 1)",
        state()?
    );
    // SAFETY: The second page of our mapping, not touched again.
    let _ = unsafe { whole.unmap_range(hs, hs) };
    ensure!(
        state()? == (3, 0),
        "after munmap of the untouched page 1: (free, resv) {:?}, want (3, 0)",
        state()?
    );
    Ok(())
}

/// Issue 15, the leaked reservation: on a `min_size=4M` mount (its reserve: two global
/// reservations), a mapping of one page takes one from the reserve; a second mapping of
/// two pages takes the other and asks the pool for one more, which a pool of two cannot
/// give. The failed `mmap` must leave everything as it was: once undone with the
/// subpool's put, the reserve claimed two pages again while one was still out, and the
/// unmount gave back one reservation less than it should (`resv_hugepages` 1 for good).
pub(super) fn failed_mmap_min_size(m: &Mnt) -> TestResult {
    let hs = m.hsize();
    let resv = || m.counter("resv_hugepages");
    ensure!(resv()? == 2, "after mount: resv {}, want 2", resv()?);
    let a = map_ok(&m.path("a"), hs, RW, SHARED)?;
    ensure!(resv()? == 2, "after mmap of a: resv {}, want 2", resv()?);
    match map(&m.path("b"), 2 * hs, RW, SHARED) {
        Err(Errno::NOMEM) => {}
        Ok(_) => bail!("mmap of b succeeded with a pool of two pages"),
        Err(e) => bail!("mmap of b: {e}, want ENOMEM"),
    }
    ensure!(
        resv()? == 2,
        "after the failed mmap of b: resv {}, want 2",
        resv()?
    );
    // The reserve covers exactly one more page: a one-page mapping still fits.
    let c = map_ok(&m.path("c"), hs, RW, SHARED)?;
    a.fill(0, 4096, 1);
    c.fill(0, 4096, 1);
    drop((a, c));
    Ok(())
}
