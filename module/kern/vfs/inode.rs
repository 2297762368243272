// SPDX-License-Identifier: GPL-2.0

//! Inodes: the typed view of `struct inode` for a filesystem `T`, the inode lock as a
//! witness type, and new inodes not yet in the dcache.
//!
//! C header: [`include/linux/fs.h`](srctree/include/linux/fs.h)

use super::{FileSystem, SuperBlock};
use crate::kern::page::{CachedFolio, HugePage};
use crate::kern::shim;
use core::marker::PhantomData;
use core::ops::Deref;
use core::ptr;
use kernel::bindings;
use kernel::prelude::*;
use kernel::types::{ForeignOwnable, Opaque};

/// An inode of filesystem `T`.
///
/// # Invariants
///
/// The inode is live for as long as the reference is used (a callback's argument, an open
/// file's or a mapping's inode), on a super block of `T` that is ready
/// ([`SuperBlock`]'s invariants). A regular file's `i_private` is NULL or holds a
/// `Pin<KBox<T::INodeData>>` stored with `into_foreign` by [`SuperBlock::new_inode`] and
/// taken back only by `evict_inode`, after every other user of the inode.
#[repr(transparent)]
pub(crate) struct INode<T: FileSystem> {
    inode: Opaque<bindings::inode>,
    _t: PhantomData<T>,
}

impl<T: FileSystem> INode<T> {
    /// The view of `ptr`.
    ///
    /// # Safety
    ///
    /// `ptr` must point to an inode of filesystem `T` that stays live for `'a`.
    pub(crate) unsafe fn from_raw<'a>(ptr: *const bindings::inode) -> &'a Self {
        // SAFETY: `Self` is a transparent wrapper of `inode`; the caller guarantees the type
        // invariants for `'a`.
        unsafe { &*ptr.cast() }
    }

    pub(super) fn as_ptr(&self) -> *mut bindings::inode {
        self.inode.get()
    }

    /// The file size (`i_size_read`).
    pub(crate) fn size(&self) -> i64 {
        // SAFETY: The inode is live. A racy read of `i_size` is what `i_size_read` does on
        // 64-bit; writers hold the inode lock ([`INodeLocked`]).
        unsafe { ptr::read_volatile(ptr::addr_of!((*self.as_ptr()).i_size)) }
    }

    /// The super block.
    pub(crate) fn super_block(&self) -> &SuperBlock<T> {
        // SAFETY: By the type invariants the super block is ready, and it outlives its inodes.
        unsafe { SuperBlock::from_raw((*self.as_ptr()).i_sb) }
    }

    /// The data of a regular file (`None` for other inodes).
    pub(crate) fn data(&self) -> Option<Pin<&T::INodeData>> {
        // SAFETY: `i_private` is written at creation, before the inode is visible, and cleared
        // only in `evict_inode`, after every other user.
        let ptr = unsafe { (*self.as_ptr()).i_private };
        if ptr.is_null() {
            return None;
        }
        // SAFETY: By the type invariants a non-NULL `i_private` came from `into_foreign` of a
        // `Pin<KBox<T::INodeData>>` and is taken back only after every user of `&self`.
        Some(unsafe { <Pin<KBox<T::INodeData>> as ForeignOwnable>::borrow(ptr) })
    }

    /// Takes the inode's data back from `i_private` and clears it.
    ///
    /// # Safety
    ///
    /// `ptr` must point to an inode of `T` being evicted: nobody else uses it any more.
    pub(super) unsafe fn take_data(ptr: *mut bindings::inode) -> Option<Pin<KBox<T::INodeData>>> {
        // SAFETY: By the safety requirements we are the inode's last user.
        unsafe {
            let data = (*ptr).i_private;
            (*ptr).i_private = ptr::null_mut();
            // By the type invariants `data` is NULL or came from `into_foreign`, once.
            <Pin<KBox<T::INodeData>> as ForeignOwnable>::try_from_foreign(data)
        }
    }

    /// Removes every mapping of the bytes `[start, start + len)` of the file, private copies
    /// of its pages included (`unmap_mapping_range(.., even_cows = 1)`).
    pub(crate) fn unmap_range(&self, start: u64, len: u64) {
        let clamp = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        // SAFETY: The inode and its mapping are live; `unmap_mapping_range` takes the locks it
        // needs.
        unsafe {
            bindings::unmap_mapping_range((*self.as_ptr()).i_mapping, clamp(start), clamp(len), 1)
        };
    }

    /// Puts `page`'s folios into the file's page cache from index `index` (in base pages;
    /// aligned to the page). `EEXIST` if something is there already, `ENOMEM` without memory
    /// for the cache's tree; then nothing is left in the cache.
    ///
    /// The page must be zeroed or hold the file's data: from here on the core maps it where the
    /// file is mapped, `read` copies it out and GUP takes references on it. The caller keeps
    /// the page (its pool reference) until it took it out again with [`Self::cache_remove`].
    pub(crate) fn cache_add(&self, page: &HugePage, index: u64) -> Result {
        if !page.is_pmd_folios() {
            return Err(EINVAL);
        }
        for (base, pfn) in page.folios() {
            let at = index + base as u64;
            // SAFETY: The inode and its mapping are live; the folio is a large folio the caller
            // owns (its pool reference), mapped nowhere and in no mapping; the helper checks
            // the index's alignment and takes the references the page cache holds.
            let ret =
                unsafe { shim::rhugetlbfs_cache_add((*self.as_ptr()).i_mapping, pfn, at as _) };
            if let Err(e) = kernel::error::to_result(ret) {
                // The folios put in before this one come out again.
                let shift = bindings::PAGE_SHIFT;
                self.cache_remove(index << shift, (base as u64) << shift);
                return Err(e);
            }
        }
        Ok(())
    }

    /// Takes the folios in the bytes `[start, start + len)` out of the page cache, unmapping
    /// them where the core mapped them (`truncate_inode_pages_range`); the range holds whole
    /// folios only. Entries mapped by the module itself (PFN entries) must be removed before
    /// ([`Self::unmap_range`]): the page cache does not see them.
    pub(crate) fn cache_remove(&self, start: u64, len: u64) {
        let (Ok(start), Ok(len)) = (i64::try_from(start), i64::try_from(len)) else {
            return;
        };
        if len == 0 {
            return;
        }
        // SAFETY: The inode and its mapping are live; truncation takes the folio locks it
        // needs and may sleep, as callers allow.
        unsafe { shim::rhugetlbfs_cache_remove((*self.as_ptr()).i_mapping, start, len) };
    }

    /// The page-cache folio holding file index `index` (in base pages), with a reference.
    pub(crate) fn cache_get(&self, index: u64) -> Option<CachedFolio> {
        let (mut first, mut nr) = (0, 0);
        // SAFETY: The inode and its mapping are live; the outputs are locals.
        let pfn = unsafe {
            shim::rhugetlbfs_cache_get((*self.as_ptr()).i_mapping, index as _, &mut first, &mut nr)
        };
        // SAFETY: A non-zero result is a folio head the helper took a reference to for us.
        (pfn != 0).then(|| unsafe { CachedFolio::from_raw(pfn, first as u64, nr) })
    }

    /// Takes the inode lock (`inode_lock`, the `i_rwsem` for writing).
    pub(crate) fn lock(&self) -> INodeGuard<'_, T> {
        // SAFETY: The inode is live; the guard releases the lock.
        unsafe { bindings::down_write(ptr::addr_of_mut!((*self.as_ptr()).i_rwsem)) };
        // INVARIANT: Locked just above.
        INodeGuard(INodeLocked { inode: self })
    }
}

/// An inode whose lock (`i_rwsem`) is held for writing: what size changes require.
///
/// # Invariants
///
/// The inode's `i_rwsem` is held for writing for as long as this lives.
pub(crate) struct INodeLocked<'a, T: FileSystem> {
    inode: &'a INode<T>,
}

impl<'a, T: FileSystem> INodeLocked<'a, T> {
    /// The view of an inode the VFS has locked for the callback.
    ///
    /// # Safety
    ///
    /// `ptr` must point to a live inode of `T` whose `i_rwsem` the caller's context holds for
    /// writing, for `'a`.
    pub(super) unsafe fn from_raw(ptr: *const bindings::inode) -> Self {
        // INVARIANT: By the safety requirements.
        INodeLocked {
            // SAFETY: By the safety requirements.
            inode: unsafe { INode::from_raw(ptr) },
        }
    }

    /// Sets `i_size`.
    pub(crate) fn set_size(&self, size: i64) {
        // SAFETY: By the type invariants the lock that serialises size changes is held.
        unsafe { (*self.inode.as_ptr()).i_size = size };
    }

    /// `inode_newsize_ok`: `EFBIG` past the limits, `ETXTBSY` for a swapfile, ...
    pub(crate) fn newsize_ok(&self, size: i64) -> Result {
        // SAFETY: The inode is live and locked.
        kernel::error::to_result(unsafe { bindings::inode_newsize_ok(self.inode.as_ptr(), size) })
    }

    /// `truncate_setsize`: sets the size, then unmaps everything past it in every mapping.
    pub(crate) fn truncate_setsize(&self, size: i64) {
        // SAFETY: The inode is live and locked, as `truncate_setsize` requires.
        unsafe { bindings::truncate_setsize(self.inode.as_ptr(), size) };
    }
}

impl<T: FileSystem> Deref for INodeLocked<'_, T> {
    type Target = INode<T>;

    fn deref(&self) -> &INode<T> {
        self.inode
    }
}

/// The inode lock, taken by [`INode::lock`] and released on drop.
///
/// # Invariants
///
/// This object took the lock and releases it on drop.
pub(crate) struct INodeGuard<'a, T: FileSystem>(INodeLocked<'a, T>);

impl<'a, T: FileSystem> Deref for INodeGuard<'a, T> {
    type Target = INodeLocked<'a, T>;

    fn deref(&self) -> &INodeLocked<'a, T> {
        &self.0
    }
}

impl<T: FileSystem> Drop for INodeGuard<'_, T> {
    fn drop(&mut self) {
        // SAFETY: By the type invariants we took the lock.
        unsafe { bindings::up_write(ptr::addr_of_mut!((*self.0.inode.as_ptr()).i_rwsem)) };
    }
}

/// An inode just created, not yet in the dcache.
///
/// # Invariants
///
/// `inode` is a new inode of `T` on a live super block, with one reference that this object
/// owns; nobody else has seen it.
pub(crate) struct NewINode<'a, T: FileSystem> {
    inode: *mut bindings::inode,
    _t: PhantomData<(&'a SuperBlock<T>, T)>,
}

impl<T: FileSystem> NewINode<'_, T> {
    /// # Safety
    ///
    /// `inode` must be a new inode of `T` whose one reference the caller hands over.
    pub(super) unsafe fn from_raw(inode: *mut bindings::inode) -> Self {
        // INVARIANT: By the safety requirements.
        NewINode {
            inode,
            _t: PhantomData,
        }
    }

    pub(super) fn as_ptr(&self) -> *mut bindings::inode {
        self.inode
    }

    /// Gives up the reference (to a callee that consumes it).
    pub(super) fn into_raw(self) -> *mut bindings::inode {
        let inode = self.inode;
        core::mem::forget(self);
        inode
    }

    /// Sets the owner from ids of the mounter's user namespace (`uid=`/`gid=` of the root
    /// directory); `false`, and nothing set, if one is not valid there.
    pub(crate) fn set_owner(&self, uid: Option<u32>, gid: Option<u32>) -> bool {
        // SAFETY: By the type invariants the inode is ours alone.
        unsafe {
            shim::rhugetlbfs_make_ids(
                self.inode,
                uid.unwrap_or(0),
                uid.is_some(),
                gid.unwrap_or(0),
                gid.is_some(),
            )
        }
    }

    /// Instantiates the inode at `dentry`, pinned in the dcache as in ramfs (the extra dentry
    /// reference is dropped by `kill_litter_super` or unlink/rmdir).
    ///
    /// # Safety
    ///
    /// `dentry` must be a negative dentry in `dir`, which the caller's context holds locked.
    pub(super) unsafe fn instantiate_pinned(self, dir: &INode<T>, dentry: *mut bindings::dentry) {
        // SAFETY: By the safety requirements; `d_instantiate` consumes our reference.
        unsafe { shim::rhugetlbfs_instantiate_pinned(dir.as_ptr(), dentry, self.into_raw()) };
    }
}

impl<T: FileSystem> NewINode<'_, T> {
    /// Instantiates the inode as the unnamed file `file` is being opened on (`d_tmpfile`, link
    /// count 0) and finishes the open; the errno of a failed open, whose file then drops the
    /// inode with its dentry.
    ///
    /// # Safety
    ///
    /// `file` must be in a `tmpfile` call of `dir`: being opened, on a new negative dentry.
    pub(super) unsafe fn instantiate_tmpfile(
        self,
        dir: &INode<T>,
        file: *mut bindings::file,
    ) -> core::ffi::c_int {
        // SAFETY: By the safety requirements; `d_tmpfile` consumes our reference.
        unsafe { shim::rhugetlbfs_instantiate_tmpfile(dir.as_ptr(), file, self.into_raw()) }
    }
}

impl<T: FileSystem> Drop for NewINode<'_, T> {
    fn drop(&mut self) {
        // SAFETY: By the type invariants we own the one reference of an inode nobody else has
        // seen; dropping it evicts the inode.
        unsafe { bindings::iput(self.inode) };
    }
}

/// The attributes of a `setattr` call.
///
/// # Invariants
///
/// `attr` is valid for the duration of the callback that made this.
#[repr(transparent)]
pub(crate) struct Iattr {
    attr: Opaque<bindings::iattr>,
}

impl Iattr {
    /// # Safety
    ///
    /// `ptr` must be valid for reads for `'a`.
    pub(super) unsafe fn from_raw<'a>(ptr: *const bindings::iattr) -> &'a Self {
        // SAFETY: `Self` is a transparent wrapper of `iattr`; valid by the safety requirements.
        unsafe { &*ptr.cast() }
    }

    /// The new size, if the call changes it.
    pub(crate) fn size(&self) -> Option<i64> {
        // SAFETY: By the type invariants the attributes are valid; nobody writes them meanwhile.
        let (valid, size) = unsafe {
            let a = self.attr.get();
            ((*a).ia_valid, (*a).ia_size)
        };
        (valid & bindings::ATTR_SIZE != 0).then_some(size)
    }
}
