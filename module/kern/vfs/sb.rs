// SPDX-License-Identifier: GPL-2.0

//! Super blocks: typed views of `struct super_block` for a filesystem `T`, before and after
//! `fill_super` gave them their data.
//!
//! C header: [`include/linux/fs.h`](srctree/include/linux/fs.h)

use super::inode::NewINode;
use super::{FileSystem, INode, Tables};
use crate::kern::shim;
use core::fmt;
use core::marker::PhantomData;
use core::ptr;
use kernel::bindings;
use kernel::prelude::*;
use kernel::str::CStr;
use kernel::sync::{Arc, ArcBorrow};
use kernel::types::{ForeignOwnable, Opaque};

/// A super block of filesystem `T` whose `fill_super` gave it its data.
///
/// # Invariants
///
/// The super block is live for as long as the reference is used, and its `s_fs_info` holds
/// one `Arc<T::Data>` reference stored by [`NewSuperBlock::init`] with `into_foreign`; only
/// `kill_sb` takes it back, after every other callback of the super block.
#[repr(transparent)]
pub(crate) struct SuperBlock<T: FileSystem> {
    sb: Opaque<bindings::super_block>,
    _t: PhantomData<T>,
}

impl<T: FileSystem> SuperBlock<T> {
    /// The view of `ptr`.
    ///
    /// # Safety
    ///
    /// `ptr` must point to a super block of filesystem `T` whose `fill_super` set its data,
    /// live for `'a`.
    pub(crate) unsafe fn from_raw<'a>(ptr: *const bindings::super_block) -> &'a Self {
        // SAFETY: `Self` is a transparent wrapper of `super_block`; the caller guarantees the
        // type invariants for `'a`.
        unsafe { &*ptr.cast() }
    }

    pub(super) fn as_ptr(&self) -> *mut bindings::super_block {
        self.sb.get()
    }

    /// The mount's data.
    pub(crate) fn data(&self) -> ArcBorrow<'_, T::Data> {
        // SAFETY: `s_fs_info` is written once, before the super block is visible to anyone
        // else (`NewSuperBlock::init`), so this read does not race.
        let ptr = unsafe { (*self.as_ptr()).s_fs_info };
        // SAFETY: By the type invariants `ptr` came from `into_foreign` and is taken back
        // only in `kill_sb`, after every user of `&self`.
        unsafe { <Arc<T::Data> as ForeignOwnable>::borrow(ptr) }
    }

    /// The owner of the root directory, as ids of the initial user namespace (what
    /// `/proc/mounts` shows).
    pub(crate) fn root_owner(&self) -> (u32, u32) {
        // SAFETY: A ready super block has its root (set by `RootSlot::set`), which lives as
        // long as the super block.
        unsafe {
            let inode = (*(*self.as_ptr()).s_root).d_inode;
            (
                shim::rhugetlbfs_uid_shown(inode),
                shim::rhugetlbfs_gid_shown(inode),
            )
        }
    }

    /// Creates an inode of `mode` (upstream `hugetlbfs_get_inode`), owned as
    /// `inode_init_owner` says for `dir` (the root has none), with `T`'s operations for its
    /// kind and `data` in `i_private`. `ENOMEM` if no inode can be had.
    pub(crate) fn new_inode<'a>(
        &'a self,
        dir: Option<&INode<T>>,
        mode: u32,
        dev: u32,
        data: Option<Pin<KBox<T::INodeData>>>,
    ) -> Result<NewINode<'a, T>> {
        // SAFETY: `self` is live.
        let inode = unsafe { bindings::new_inode(self.as_ptr()) };
        if inode.is_null() {
            return Err(ENOMEM);
        }
        let (iop, fop) = Tables::<T>::ops_for(mode);
        let dir = dir.map_or(ptr::null_mut(), INode::as_ptr);
        // SAFETY: `inode` is new and visible to nobody else; `dir` is NULL or a live directory
        // of ours (a reference); the idmap of a new inode is `nop_mnt_idmap`, as upstream.
        unsafe {
            (*inode).i_ino = bindings::get_next_ino() as _;
            bindings::inode_init_owner(
                ptr::addr_of_mut!(bindings::nop_mnt_idmap),
                inode,
                dir,
                mode as _,
            );
            bindings::simple_inode_init_ts(inode);
            shim::rhugetlbfs_inode_set_ops(inode, iop, fop);
            match mode & bindings::S_IFMT {
                bindings::S_IFREG => {
                    shim::rhugetlbfs_mapping_setup(inode);
                    // Taken back once, in `evict_inode` (`INode::take_data`).
                    (*inode).i_private = data.map_or(ptr::null(), |d| d.into_foreign()).cast_mut();
                }
                // A directory's own "." link.
                bindings::S_IFDIR => bindings::inc_nlink(inode),
                bindings::S_IFLNK => {}
                _ => bindings::init_special_inode(inode, mode as _, dev),
            }
        }
        // SAFETY: `inode` is new, with the one reference `new_inode` returned, now the
        // `NewINode`'s.
        Ok(unsafe { NewINode::from_raw(inode) })
    }

    /// Creates a symlink inode pointing at `target` (kept in `i_link`, freed in
    /// `free_inode`).
    pub(crate) fn new_symlink<'a>(
        &'a self,
        dir: &INode<T>,
        target: &CStr,
    ) -> Result<NewINode<'a, T>> {
        // SAFETY: `target` is NUL-terminated.
        let link = unsafe { bindings::kstrdup(target.as_char_ptr(), bindings::GFP_KERNEL) };
        if link.is_null() {
            return Err(ENOMEM);
        }
        let new = match self.new_inode(Some(dir), bindings::S_IFLNK | 0o777, 0, None) {
            Ok(new) => new,
            Err(e) => {
                // SAFETY: `link` came from `kstrdup` and nobody else has it.
                unsafe { bindings::kfree(link.cast()) };
                return Err(e);
            }
        };
        // SAFETY: The inode is new, a symlink, and only ours; `free_inode` frees `i_link`.
        unsafe {
            (*new.as_ptr()).__bindgen_anon_4.i_link = link;
            (*new.as_ptr()).i_size = target.len() as i64;
        }
        Ok(new)
    }
}

/// The parameters of a new super block.
pub(crate) struct SuperParams {
    /// `s_blocksize_bits` (the block size is `1 << blocksize_bits`).
    pub(crate) blocksize_bits: u8,
    /// `s_magic` (what `statfs` reports as `f_type`).
    pub(crate) magic: u64,
}

/// A super block inside `fill_super`, before its data is set.
///
/// # Invariants
///
/// `sb` is a new super block of `T` that only this thread sees until `fill_super` returns.
pub(crate) struct NewSuperBlock<'a, T: FileSystem> {
    sb: *mut bindings::super_block,
    ops: &'static bindings::super_operations,
    _t: PhantomData<(&'a (), T)>,
}

impl<'a, T: FileSystem> NewSuperBlock<'a, T> {
    /// # Safety
    ///
    /// `sb` must be a new super block of `T` being filled by this thread, for `'a`.
    pub(super) unsafe fn from_raw(
        sb: *mut bindings::super_block,
        ops: &'static bindings::super_operations,
    ) -> Self {
        // INVARIANT: By the safety requirements.
        NewSuperBlock {
            sb,
            ops,
            _t: PhantomData,
        }
    }

    /// Sets the super block's parameters and gives it `data` (kept until `kill_sb`): it is
    /// then ready for inodes. The [`RootSlot`] sets the root directory.
    pub(crate) fn init(
        self,
        params: SuperParams,
        data: Arc<T::Data>,
    ) -> (&'a SuperBlock<T>, RootSlot<'a, T>) {
        // SAFETY: By the type invariants only this thread sees `sb`; `kill_sb` takes back the
        // `Arc` reference stored in `s_fs_info`, also when `fill_super` fails later.
        unsafe {
            (*self.sb).s_maxbytes = i64::MAX;
            (*self.sb).s_blocksize = 1 << params.blocksize_bits;
            (*self.sb).s_blocksize_bits = params.blocksize_bits;
            (*self.sb).s_magic = params.magic as _;
            (*self.sb).s_op = self.ops;
            (*self.sb).s_time_gran = 1;
            (*self.sb).s_fs_info = data.into_foreign().cast_mut();
        }
        // SAFETY: The super block now has its data, as `SuperBlock`'s invariants require, and
        // lives for `'a` (the rest of `fill_super`, then as long as it is mounted).
        let sb = unsafe { SuperBlock::from_raw(self.sb) };
        (
            sb,
            RootSlot {
                sb: self.sb,
                _t: PhantomData,
            },
        )
    }
}

/// The right to set a new super block's root directory, once.
///
/// # Invariants
///
/// As [`NewSuperBlock`]'s.
pub(crate) struct RootSlot<'a, T: FileSystem> {
    sb: *mut bindings::super_block,
    _t: PhantomData<(&'a (), T)>,
}

impl<T: FileSystem> RootSlot<'_, T> {
    /// Makes `root` the root directory (`d_make_root`). `ENOMEM` on failure, which drops the
    /// inode.
    pub(crate) fn set(self, root: NewINode<'_, T>) -> Result {
        // SAFETY: `d_make_root` consumes the inode reference (dropping it on failure).
        let dentry = unsafe { bindings::d_make_root(root.into_raw()) };
        if dentry.is_null() {
            return Err(ENOMEM);
        }
        // SAFETY: By the type invariants the super block is ours to fill; on a later failure
        // the VFS releases `s_root` with the super block.
        unsafe { (*self.sb).s_root = dentry };
        Ok(())
    }
}

/// The numbers `statfs` reports (the rest of `struct kstatfs` is fixed: `f_type` is the
/// super block's magic, `f_namelen` `NAME_MAX`).
pub(crate) struct Statfs {
    pub(crate) bsize: u64,
    pub(crate) blocks: u64,
    pub(crate) bfree: u64,
    pub(crate) files: u64,
    pub(crate) ffree: u64,
}

/// The `seq_file` of a `show_options` call.
///
/// # Invariants
///
/// `m` is a live `seq_file` for the duration of the callback that made this.
pub(crate) struct SeqFile(*mut bindings::seq_file);

impl SeqFile {
    /// # Safety
    ///
    /// `m` must be a live `seq_file` for as long as the result is used.
    pub(super) unsafe fn from_raw(m: *mut bindings::seq_file) -> Self {
        // INVARIANT: By the safety requirements.
        SeqFile(m)
    }
}

impl fmt::Write for SeqFile {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        // SAFETY: By the type invariants `self.0` is live; `s` is valid for `s.len()` bytes.
        unsafe { bindings::seq_write(self.0, s.as_ptr().cast(), s.len()) };
        Ok(())
    }
}
