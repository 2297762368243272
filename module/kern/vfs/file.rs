// SPDX-License-Identifier: GPL-2.0

//! Open files, I/O control blocks and iterators: the views `read_iter`, `fallocate` and
//! `mmap` get.
//!
//! C header: [`include/linux/fs.h`](srctree/include/linux/fs.h),
//! [`include/linux/uio.h`](srctree/include/linux/uio.h)

use super::{FileSystem, INode};
use crate::kern::page::CachedFolio;
use crate::kern::shim;
use core::marker::PhantomData;
use kernel::bindings;
use kernel::types::Opaque;

/// An open regular file of filesystem `T`.
///
/// # Invariants
///
/// The file is open (so its inode, an inode of `T`, is live) for as long as the reference is
/// used.
#[repr(transparent)]
pub(crate) struct File<T: FileSystem> {
    file: Opaque<bindings::file>,
    _t: PhantomData<T>,
}

impl<T: FileSystem> File<T> {
    /// The view of `ptr`.
    ///
    /// # Safety
    ///
    /// `ptr` must point to a file of filesystem `T` that stays open for `'a`.
    pub(crate) unsafe fn from_raw<'a>(ptr: *const bindings::file) -> &'a Self {
        // SAFETY: `Self` is a transparent wrapper of `file`; the caller guarantees the type
        // invariants for `'a`.
        unsafe { &*ptr.cast() }
    }

    /// The file's inode.
    pub(crate) fn inode(&self) -> &INode<T> {
        // SAFETY: `f_inode` is set at open and never changes; an open file holds its inode.
        unsafe { INode::from_raw((*self.file.get()).f_inode) }
    }
}

/// The I/O control block of a `read_iter` call: the file and the position.
///
/// # Invariants
///
/// `iocb` is valid, and only this call uses it, for `'a`; its file is a regular file of `T`.
pub(crate) struct Kiocb<'a, T: FileSystem> {
    iocb: *mut bindings::kiocb,
    _t: PhantomData<(&'a (), T)>,
}

impl<'a, T: FileSystem> Kiocb<'a, T> {
    /// # Safety
    ///
    /// `iocb` must be valid, used by nobody else, for `'a`, its file a regular file of `T`.
    pub(super) unsafe fn from_raw(iocb: *mut bindings::kiocb) -> Self {
        // INVARIANT: By the safety requirements.
        Kiocb {
            iocb,
            _t: PhantomData,
        }
    }

    /// The file (open for the whole call).
    pub(crate) fn file(&self) -> &'a File<T> {
        // SAFETY: By the type invariants the iocb and its open file are valid for the call.
        unsafe { File::from_raw((*self.iocb).ki_filp) }
    }

    /// The position.
    pub(crate) fn pos(&self) -> i64 {
        // SAFETY: By the type invariants.
        unsafe { (*self.iocb).ki_pos }
    }

    /// Moves the position on by `n` bytes.
    pub(crate) fn advance(&mut self, n: usize) {
        // SAFETY: By the type invariants the iocb is ours for the call.
        unsafe { (*self.iocb).ki_pos += n as i64 };
    }
}

/// The destination of a read: user or kernel memory, as `struct iov_iter` describes it.
///
/// # Invariants
///
/// `iter` is valid, and only this call uses it, for the callback that made this.
pub(crate) struct IovIter {
    iter: *mut bindings::iov_iter,
}

impl IovIter {
    /// # Safety
    ///
    /// `iter` must be valid, used by nobody else, for as long as the result is used.
    pub(super) unsafe fn from_raw(iter: *mut bindings::iov_iter) -> Self {
        // INVARIANT: By the safety requirements.
        IovIter { iter }
    }

    /// The bytes left to fill.
    pub(crate) fn count(&self) -> usize {
        // SAFETY: By the type invariants.
        unsafe { shim::rhugetlbfs_iov_iter_count(self.iter) }
    }

    /// Copies `src` out; returns the bytes copied (fewer if a user page faulted). It may take
    /// page faults on user memory, so the caller must hold no lock a fault takes.
    pub(crate) fn copy_to(&mut self, src: &[u8]) -> usize {
        // SAFETY: By the type invariants; `src` is valid for `src.len()` bytes.
        unsafe { shim::rhugetlbfs_copy_to_iter(src.as_ptr().cast(), src.len(), self.iter) }
    }

    /// Copies `len` bytes at `offset` of `folio` out; returns the bytes copied (fewer if a user
    /// page faulted, none if the range is not inside the folio). As [`Self::copy_to`] for
    /// faults: only the folio reference is held.
    pub(crate) fn copy_folio(&mut self, folio: &CachedFolio, offset: u64, len: usize) -> usize {
        match offset.checked_add(len as u64) {
            Some(end) if end <= folio.size() => {}
            _ => return 0,
        }
        // SAFETY: By the type invariants of `self` and of `folio` (a referenced folio, alive
        // for the call); the range lies inside it.
        unsafe { shim::rhugetlbfs_copy_folio_to_iter(folio.pfn(), offset as usize, len, self.iter) }
    }

    /// Fills `n` bytes with zeros; returns the bytes done. As [`Self::copy_to`] for faults.
    pub(crate) fn zero(&mut self, n: usize) -> usize {
        // SAFETY: By the type invariants.
        unsafe { bindings::iov_iter_zero(n, self.iter) }
    }
}
