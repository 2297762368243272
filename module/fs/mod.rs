// SPDX-License-Identifier: GPL-2.0

//! The filesystem (`mount -t rhugetlbfs`): upstream `fs/hugetlbfs/inode.c` and the file side
//! of `mm/hugetlb.c`, as safe code on the VFS and mm views of [`crate::kern`].
//!
//! - [`super_`]: mounts, options, subpools, the fault mutexes.
//! - [`inode`]: a file's pages and reservation map; faults, truncation, preallocation.
//! - [`file`]: `read`, `fallocate`, size changes.
//! - [`mmap`]: `mmap` and the VMA operations (faults, `access`, private VMAs' life).
//! - [`private`]: private (copy-on-write) mappings.
//!
//! [`RhFs`] is what the VFS calls: each method here is the filesystem's answer to one VFS
//! callback, converted by [`crate::kern::vfs::Tables`].

pub(crate) mod file;
pub(crate) mod inode;
pub(crate) mod mmap;
pub(crate) mod private;
pub(crate) mod super_;

pub(crate) use super_::{FaultLock, FsGlobals, MountCtx, SuperInfo};

use crate::kern::mm::VmaNew;
use crate::kern::vfs::sb::SuperParams;
use crate::kern::vfs::{
    File, FileSystem, INode, INodeLocked, Iattr, IovIter, Kiocb, MountLog, NewINode, NewSuperBlock,
    ParamError, SeqFile, Statfs, SuperBlock,
};
use core::fmt::{self, Write};
use inode::InodeInfo;
use kernel::bindings;
use kernel::c_str;
use kernel::prelude::*;
use kernel::str::CStr;
use kernel::sync::Arc;

/// rhugetlbfs, as the VFS sees it.
pub(crate) struct RhFs;

/// Creates an inode of `mode` on `sb` (upstream `hugetlbfs_get_inode`), counted against
/// `nr_inodes`: `ENOSPC` past it. A regular file gets its page tree and reservation map.
fn new_inode<'a>(
    sb: &'a SuperBlock<RhFs>,
    dir: Option<&INode<RhFs>>,
    mode: u32,
    dev: u32,
) -> Result<NewINode<'a, RhFs>> {
    let info = sb.data();
    let data = if mode & bindings::S_IFMT == bindings::S_IFREG {
        Some(InodeInfo::new()?)
    } else {
        None
    };
    info.take_inode()?;
    // Once made, an inode gives its count back when evicted; before, here.
    sb.new_inode(dir, mode, dev, data)
        .inspect_err(|_| info.put_inode())
}

impl FileSystem for RhFs {
    type Globals = FsGlobals;
    type Context = MountCtx;
    type Data = SuperInfo;
    type INodeData = InodeInfo;

    const NAME: &'static CStr = c_str!("rhugetlbfs");

    fn init_context(globals: &Arc<FsGlobals>) -> Result<MountCtx> {
        Ok(MountCtx::new(globals.clone()))
    }

    fn parse_param(
        ctx: &mut MountCtx,
        key: &[u8],
        value: Option<&[u8]>,
        log: &mut MountLog<'_>,
    ) -> core::result::Result<(), ParamError> {
        ctx.parse_param(key, value, log)
    }

    fn fill_super(ctx: &MountCtx, new: NewSuperBlock<'_, Self>, log: &mut MountLog<'_>) -> Result {
        let info = ctx.new_super(log)?;
        let params = SuperParams {
            blocksize_bits: info.page_shift() as u8,
            magic: bindings::HUGETLBFS_MAGIC as u64,
        };
        let opts = *info.options();
        let (sb, root_slot) = new.init(params, info);
        // The root counts against `nr_inodes`, so `nr_inodes=0` fails here: `ENOMEM`, as
        // upstream's `hugetlbfs_fill_super` for any root inode failure.
        let root =
            new_inode(sb, None, u32::from(opts.mode) | bindings::S_IFDIR, 0).map_err(|_| ENOMEM)?;
        let owned = root.set_owner(opts.uid, opts.gid);
        root_slot.set(root)?;
        if !owned {
            let _ = write!(log, "uid or gid not valid in this namespace");
            return Err(EINVAL);
        }
        Ok(())
    }

    fn statfs(sb: &SuperBlock<Self>) -> Statfs {
        sb.data().statfs()
    }

    fn show_options(sb: &SuperBlock<Self>, m: &mut SeqFile) -> fmt::Result {
        let (uid, gid) = sb.root_owner();
        sb.data().show_options(m, uid, gid)
    }

    fn mknod<'a>(dir: &'a INode<Self>, mode: u32, dev: u32) -> Result<NewINode<'a, Self>> {
        new_inode(dir.super_block(), Some(dir), mode, dev)
    }

    fn symlink<'a>(dir: &'a INode<Self>, target: &CStr) -> Result<NewINode<'a, Self>> {
        let sb = dir.super_block();
        let info = sb.data();
        info.take_inode()?;
        sb.new_symlink(dir, target)
            .inspect_err(|_| info.put_inode())
    }

    fn setattr(inode: &INodeLocked<'_, Self>, attr: &Iattr) -> Result {
        file::setattr(inode, attr)
    }

    fn evict_inode(inode: &INode<Self>, data: Option<Pin<KBox<InodeInfo>>>) {
        let sb = inode.super_block().data();
        if let Some(data) = data {
            // No mapping is left (a mapping holds its file, hence the inode).
            data.remove_from(&sb, inode, 0);
        }
        sb.put_inode();
    }

    fn read_iter(iocb: &mut Kiocb<'_, Self>, to: &mut IovIter) -> Result<usize> {
        file::read_iter(iocb, to)
    }

    fn fallocate(file: &File<Self>, mode: i32, offset: i64, len: i64) -> Result {
        file::fallocate(file, mode, offset, len)
    }

    fn mmap(file: &File<Self>, vma: &VmaNew) -> Result {
        mmap::mmap(file, vma)
    }

    fn get_unmapped_area(
        file: &File<Self>,
        addr: usize,
        len: usize,
        _pgoff: usize,
        flags: usize,
    ) -> Result<usize> {
        mmap::get_unmapped_area(file, addr, len, flags)
    }
}
