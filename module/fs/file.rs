// SPDX-License-Identifier: GPL-2.0

//! File operations: `read`, `fallocate` and size changes (upstream `hugetlbfs_read_iter`,
//! `hugetlbfs_fallocate`, `hugetlbfs_punch_hole`, `hugetlbfs_setattr`/`hugetlb_vmtruncate`).

use super::{RhFs, SuperInfo};
use crate::kern::vfs::{
    eopnotsupp, File, INode, INodeLocked, Iattr, IovIter, Kiocb, FALLOC_FL_KEEP_SIZE,
    FALLOC_FL_PUNCH_HOLE,
};
use kernel::bindings;
use kernel::prelude::*;

/// How much `read` copies per step through its bounce buffer.
const READ_CHUNK: usize = 64 * 1024;

/// `setattr`: a size change must be a multiple of the huge page size; every page at or past
/// the new size goes, even when the size does not shrink (pages preallocated past it with
/// `FALLOC_FL_KEEP_SIZE`), as upstream's `hugetlb_vmtruncate`.
pub(super) fn setattr(inode: &INodeLocked<'_, RhFs>, attr: &Iattr) -> Result {
    let Some(size) = attr.size() else {
        return Ok(());
    };
    let sb = inode.super_block().data();
    if size < 0 || (size as u64) & (sb.page_size() - 1) != 0 {
        return Err(EINVAL);
    }
    // Sets the size, then unmaps everything past it in every mapping.
    inode.truncate_setsize(size);
    if let Some(data) = inode.data() {
        data.remove_from(&sb, inode, (size as u64) >> sb.page_shift());
    }
    Ok(())
}

/// `read_iter`: the pages' contents, zeros for holes, up to `i_size`.
pub(super) fn read_iter(iocb: &mut Kiocb<'_, RhFs>, to: &mut IovIter) -> Result<usize> {
    let inode = iocb.file().inode();
    let sb = inode.super_block().data();
    if sb.page_cache() {
        read_cached(iocb, to, inode, &sb)
    } else {
        read_bounced(iocb, to, inode, &sb)
    }
}

/// `read` of a page-cache file: straight from the folios (a folio reference keeps the memory
/// meanwhile, so no lock is held while user memory is written), zeros for holes.
fn read_cached(
    iocb: &mut Kiocb<'_, RhFs>,
    to: &mut IovIter,
    inode: &INode<RhFs>,
    sb: &SuperInfo,
) -> Result<usize> {
    let hsize = sb.page_size();
    read_loop(iocb, to, inode, |pos, max, to| {
        let index = pos >> bindings::PAGE_SHIFT;
        match inode.cache_get(index) {
            Some(folio) => {
                let off = pos - (folio.first_index() << bindings::PAGE_SHIFT);
                let n = (folio.size() - off).min(max) as usize;
                (n, to.copy_folio(&folio, off, n))
            }
            None => {
                let n = (hsize - (pos & (hsize - 1))).min(max) as usize;
                (n, to.zero(n))
            }
        }
    })
}

/// `read` of a file whose pages are not in the page cache (1 GiB): a page is copied into a
/// bounce buffer under its fault mutex (so truncation cannot free it meanwhile), and to user
/// memory only after: a user page fault takes the mmap lock, which the fault path holds when
/// it takes a fault mutex.
fn read_bounced(
    iocb: &mut Kiocb<'_, RhFs>,
    to: &mut IovIter,
    inode: &INode<RhFs>,
    sb: &SuperInfo,
) -> Result<usize> {
    let data = inode.data();
    let hsize = sb.page_size();
    let mut bounce = KVec::<u8>::new();
    if data.is_some() {
        bounce.extend_with(READ_CHUNK, 0, GFP_KERNEL)?;
    }
    read_loop(iocb, to, inode, |pos, max, to| {
        let idx = pos >> sb.page_shift();
        let off = pos & (hsize - 1);
        let n = (hsize - off).min(max).min(READ_CHUNK as u64) as usize;
        let room = n.min(bounce.len());
        let buf = &mut bounce[..room];
        let found = data.as_ref().and_then(|d| {
            let fault = sb.fault_lock(d, idx);
            d.with_page(sb, &fault, |page| page.read(off, &mut *buf))
        });
        match found {
            Some(Ok(())) => (n, to.copy_to(buf)),
            // The range lies inside the page by construction: not reached.
            Some(Err(_)) => (n, 0),
            None => (n, to.zero(n)),
        }
    })
}

/// The loop of `read`: `step(pos, max, to)` copies at most `max` bytes from file position
/// `pos` and returns how many it tried and how many it did; fewer done than tried (a user
/// page faulted) ends the read, with `EFAULT` if nothing was read.
fn read_loop(
    iocb: &mut Kiocb<'_, RhFs>,
    to: &mut IovIter,
    inode: &INode<RhFs>,
    mut step: impl FnMut(u64, u64, &mut IovIter) -> (usize, usize),
) -> Result<usize> {
    let mut total = 0usize;
    loop {
        let (size, pos, left) = (inode.size(), iocb.pos(), to.count());
        if pos >= size || left == 0 {
            break;
        }
        let max = (size - pos).min(left as i64) as u64;
        let (tried, done) = step(pos as u64, max, to);
        iocb.advance(done);
        total += done;
        if done < tried || tried == 0 {
            if total == 0 {
                return Err(EFAULT);
            }
            break;
        }
    }
    Ok(total)
}

/// `fallocate`: 0 and `KEEP_SIZE` preallocate whole huge pages around the range (zeroed);
/// `PUNCH_HOLE | KEEP_SIZE` frees the whole pages inside it (unmapping them) and zeroes the
/// partial ones at its ends. Other modes `EOPNOTSUPP`.
pub(super) fn fallocate(file: &File<RhFs>, mode: i32, offset: i64, len: i64) -> Result {
    if mode & !(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE) != 0 || mode == FALLOC_FL_PUNCH_HOLE {
        return Err(eopnotsupp());
    }
    if offset < 0 || len <= 0 || offset.checked_add(len).is_none() {
        return Err(EINVAL);
    }
    let inode = file.inode();
    let sb = inode.super_block().data();
    let data = inode.data().ok_or(ENODEV)?;
    let shift = sb.page_shift();
    let hsize = sb.page_size();
    let (start, end) = (offset as u64, (offset + len) as u64);
    // Held for the whole call (upstream `inode_lock`).
    let locked = inode.lock();
    if mode & FALLOC_FL_PUNCH_HOLE != 0 {
        // Upstream `hugetlbfs_punch_hole`: whole pages in the hole are unmapped and freed, the
        // bytes of partial pages at either end zeroed in place. Not bounded by `i_size`:
        // pages preallocated past it with KEEP_SIZE are punched too.
        let hole_start = start.next_multiple_of(hsize);
        let hole_end = end & !(hsize - 1);
        // The head: `[start, min(end, hole_start))`, inside one page.
        if start < hole_start {
            let head_end = end.min(hole_start);
            data.zero_partial(
                &sb,
                start >> shift,
                start & (hsize - 1),
                (head_end - start) as usize,
            );
        }
        // The tail: `[hole_end, end)`, unless the head already covered it.
        if end > hole_end && end > hole_start {
            data.zero_partial(&sb, hole_end >> shift, 0, (end - hole_end) as usize);
        }
        if hole_start < hole_end {
            // Unmapped before being freed, and again under each fault mutex.
            inode.unmap_range(hole_start, hole_end - hole_start);
            data.punch(&sb, inode, hole_start >> shift, hole_end >> shift);
        }
        return Ok(());
    }
    locked.newsize_ok(end as i64)?;
    data.prealloc(
        &sb,
        inode,
        start >> shift,
        (end + hsize - 1) >> shift,
        || kernel::current!().signal_pending(),
    )?;
    if mode & FALLOC_FL_KEEP_SIZE == 0 && inode.size() < end as i64 {
        locked.set_size(end as i64);
    }
    Ok(())
}
