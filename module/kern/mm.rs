// SPDX-License-Identifier: GPL-2.0

//! Mappings: typed views of `struct vm_area_struct` and `struct vm_fault` (after mainline's
//! `rust/kernel/mm/virt.rs`, which 6.12 lacks), and the [`VmOperations`] trait whose
//! `#[vtable]` becomes a VMA's `vm_operations_struct`.
//!
//! A VMA is seen through one of three views, by what the caller's context holds; each
//! dereferences to [`VmaRef`], which reads the range, flags, offset and mm:
//!
//! - [`VmaNew`]: inside `file_operations::mmap`, before the VMA is visible; flags, operations
//!   and private data may be set.
//! - [`Vma`]: an established VMA of operations `V`, its mm's lock (or the VMA's) held for
//!   reading at least; its fields may be read and its entries zapped.
//! - [`VmaWrite`]: the same with the mm write-locked (`vm_ops->open` at a split, `mremap` or
//!   `fork`, and `vm_ops->mprotect`).
//!
//! The private data of a VMA of `V` is a `V::PrivateData` stored with [`ForeignOwnable`]: set
//! by [`VmaNew::set_ops`] or returned by `V::open` for a copy, taken back once, by `close`.
//!
//! C header: [`include/linux/mm.h`](srctree/include/linux/mm.h)

use super::page::HugePage;
use super::shim;
use super::vfs::{File, FileSystem};
use core::marker::PhantomData;
use core::ptr;
use kernel::bindings;
use kernel::error::VTABLE_DEFAULT_ERROR;
use kernel::ffi::{c_int, c_uint, c_ulong, c_void};
use kernel::prelude::*;
use kernel::types::{ForeignOwnable, Opaque};

/// VMA flags (`vm_flags_t` bits of `linux/mm.h`).
pub(crate) mod flags {
    /// A `vm_flags_t` value.
    pub(crate) type Flags = u64;
    /// Mapped writable now.
    pub(crate) const WRITE: Flags = kernel::bindings::VM_WRITE as Flags;
    /// May be made writable (`mprotect`).
    pub(crate) const MAYWRITE: Flags = kernel::bindings::VM_MAYWRITE as Flags;
    /// A shared mapping (`MAP_SHARED`), whether or not writable.
    pub(crate) const MAYSHARE: Flags = kernel::bindings::VM_MAYSHARE as Flags;
    /// `MAP_NORESERVE`.
    pub(crate) const NORESERVE: Flags = kernel::bindings::VM_NORESERVE as Flags;
    /// Entries are raw page frames, never refcounted pages.
    pub(crate) const PFNMAP: Flags = kernel::bindings::VM_PFNMAP as Flags;
    /// Entries may be raw page frames or refcounted pages.
    pub(crate) const MIXEDMAP: Flags = kernel::bindings::VM_MIXEDMAP as Flags;
    /// `MADV_HUGEPAGE`: `huge_fault` is called with THP "madvise" too.
    pub(crate) const HUGEPAGE: Flags = kernel::bindings::VM_HUGEPAGE as Flags;
    /// Never grown by `mremap`.
    pub(crate) const DONTEXPAND: Flags = kernel::bindings::VM_DONTEXPAND as Flags;
    /// Left out of core dumps.
    pub(crate) const DONTDUMP: Flags = kernel::bindings::VM_DONTDUMP as Flags;
}

/// What a fault handler answers (`vm_fault_t`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct VmFaultReason(bindings::vm_fault_t);

impl VmFaultReason {
    /// The handler mapped the page itself.
    pub(crate) const NOPAGE: Self = Self(bindings::vm_fault_reason_VM_FAULT_NOPAGE);
    /// No page there: `SIGBUS`.
    pub(crate) const SIGBUS: Self = Self(bindings::vm_fault_reason_VM_FAULT_SIGBUS);
    /// Not allowed: `SIGSEGV` (and GUP falls back to `access`).
    pub(crate) const SIGSEGV: Self = Self(bindings::vm_fault_reason_VM_FAULT_SIGSEGV);
    /// Not at this size: the core retries at the next smaller one.
    pub(crate) const FALLBACK: Self = Self(bindings::vm_fault_reason_VM_FAULT_FALLBACK);
}

/// The operations of a kind of VMA; `#[vtable]`: `open`, `close` and `mprotect` are optional.
#[vtable]
pub(crate) trait VmOperations: Sized + 'static {
    /// The filesystem whose files these VMAs map.
    type FileSystem: FileSystem;
    /// What `vm_private_data` holds (`()` when nothing).
    type PrivateData: ForeignOwnable + Send + Sync;

    /// Whether `map_pages` is the page cache's own (`filemap_map_pages`: read faults map
    /// the file's uptodate folios around the address without calling `fault`).
    const MAP_PAGES: bool = false;

    /// `huge_fault`: a fault at PMD or PUD `order`.
    fn huge_fault(_vmf: &VmFault<'_, Self>, _order: u32) -> VmFaultReason {
        kernel::build_error(VTABLE_DEFAULT_ERROR)
    }

    /// `fault`: a fault at 4 KiB (or any size, for page-cache folios the core maps).
    fn fault(vmf: &VmFault<'_, Self>) -> VmFaultReason;

    /// `access` (ptrace, `/proc/PID/mem` where GUP cannot): copies between `buf` and the
    /// mapping at `addr`; the bytes done.
    fn access(_vma: &Vma<Self>, _addr: usize, _buf: &mut [u8], _write: bool) -> Result<usize> {
        kernel::build_error(VTABLE_DEFAULT_ERROR)
    }

    /// `pagesize` (smaps `KernelPageSize`).
    fn pagesize(vma: &Vma<Self>) -> usize;

    /// `may_split`: whether the VMA may be split at `addr`.
    fn may_split(vma: &Vma<Self>, addr: usize) -> Result;

    /// `open`: `vma` is a new copy of a VMA of these operations (a split, `mremap`, or the
    /// child's at `fork`); its `vm_private_data` is still the original's. Returns what the copy
    /// holds instead (the original keeps its own).
    fn open(_vma: &VmaWrite<Self>) -> Option<Self::PrivateData> {
        kernel::build_error(VTABLE_DEFAULT_ERROR)
    }

    /// `close`: the VMA goes away; `data` is its private data, taken back.
    fn close(_vma: &Vma<Self>, _data: Self::PrivateData) {
        kernel::build_error(VTABLE_DEFAULT_ERROR)
    }

    /// `mprotect`: the protection of `[start, end)` becomes `newflags`.
    fn mprotect(_vma: &VmaWrite<Self>, _start: usize, _end: usize, _newflags: u64) -> Result {
        kernel::build_error(VTABLE_DEFAULT_ERROR)
    }
}

/// The `vm_operations_struct` of `V`.
pub(crate) struct VmOpsTable<V: VmOperations>(PhantomData<V>);

impl<V: VmOperations> VmOpsTable<V> {
    const VTABLE: bindings::vm_operations_struct = bindings::vm_operations_struct {
        open: if V::HAS_OPEN { Some(Self::open) } else { None },
        close: if V::HAS_CLOSE {
            Some(Self::close)
        } else {
            None
        },
        mprotect: if V::HAS_MPROTECT {
            Some(Self::mprotect)
        } else {
            None
        },
        access: if V::HAS_ACCESS {
            Some(Self::access)
        } else {
            None
        },
        huge_fault: if V::HAS_HUGE_FAULT {
            Some(Self::huge_fault)
        } else {
            None
        },
        fault: Some(Self::fault),
        map_pages: if V::MAP_PAGES {
            Some(bindings::filemap_map_pages)
        } else {
            None
        },
        pagesize: Some(Self::pagesize),
        may_split: Some(Self::may_split),
        // SAFETY: The other callbacks are optional; all-zero is "none".
        ..unsafe { core::mem::zeroed() }
    };

    /// # Safety
    ///
    /// MM callback contract: `vmf` describes a fault on a VMA of `V`, live for the call.
    unsafe extern "C" fn huge_fault(
        vmf: *mut bindings::vm_fault,
        order: c_uint,
    ) -> bindings::vm_fault_t {
        // SAFETY: The core calls this only for VMAs whose `vm_ops` is this table (so VMAs of
        // `V`), with `vmf` the fault it is handling, under the mmap or VMA lock.
        let vmf = unsafe { VmFault::<V>::from_raw(vmf) };
        V::huge_fault(&vmf, order).0
    }

    /// # Safety
    ///
    /// As [`Self::huge_fault`].
    unsafe extern "C" fn fault(vmf: *mut bindings::vm_fault) -> bindings::vm_fault_t {
        // SAFETY: The core calls this only for VMAs whose `vm_ops` is this table (so VMAs of
        // `V`), with `vmf` the fault it is handling, under the mmap or VMA lock.
        let vmf = unsafe { VmFault::<V>::from_raw(vmf) };
        V::fault(&vmf).0
    }

    /// # Safety
    ///
    /// MM callback contract: `vma` is a VMA of `V`, its mm locked; `buf` holds `len` bytes.
    unsafe extern "C" fn access(
        vma: *mut bindings::vm_area_struct,
        addr: c_ulong,
        buf: *mut c_void,
        len: c_int,
        write: c_int,
    ) -> c_int {
        let Ok(len) = usize::try_from(len) else {
            return EINVAL.to_errno();
        };
        // SAFETY: By the callback contract; `buf` is a kernel buffer of `len` bytes that only
        // this call uses (`__access_remote_vm`'s bounce buffer). An empty slice needs no
        // valid pointer.
        let (vma, buf) = unsafe {
            (
                Vma::<V>::from_raw(vma),
                if len == 0 {
                    &mut [][..]
                } else {
                    core::slice::from_raw_parts_mut(buf.cast::<u8>(), len)
                },
            )
        };
        match V::access(vma, addr, buf, write != 0) {
            Ok(n) => n as c_int,
            Err(e) => e.to_errno(),
        }
    }

    /// # Safety
    ///
    /// MM callback contract: `vma` is a VMA of `V`, live for the call.
    unsafe extern "C" fn pagesize(vma: *mut bindings::vm_area_struct) -> c_ulong {
        // SAFETY: The core calls this only for VMAs whose `vm_ops` is this table, live and
        // with their mm locked for the call (smaps and `__split_vma` hold the mmap lock).
        V::pagesize(unsafe { Vma::<V>::from_raw(vma) })
    }

    /// # Safety
    ///
    /// As [`Self::pagesize`].
    unsafe extern "C" fn may_split(vma: *mut bindings::vm_area_struct, addr: c_ulong) -> c_int {
        // SAFETY: The core calls this only for VMAs whose `vm_ops` is this table, live and
        // with their mm locked for the call (smaps and `__split_vma` hold the mmap lock).
        match V::may_split(unsafe { Vma::<V>::from_raw(vma) }, addr) {
            Ok(()) => 0,
            Err(e) => e.to_errno(),
        }
    }

    /// # Safety
    ///
    /// MM callback contract: `vma` is a new copy of a VMA of `V`, its mm write-locked; its
    /// `vm_private_data` is the original's, which keeps its own reference until its close,
    /// after this.
    unsafe extern "C" fn open(vma: *mut bindings::vm_area_struct) {
        // SAFETY: `vma_dup`/`__split_vma`/`dup_mmap` call `open` on the new copy of a VMA of
        // this table, its mm write-locked: `VmaWrite::from_raw`'s requirements.
        let data = V::open(unsafe { VmaWrite::<V>::from_raw(vma) });
        // SAFETY: The copied pointer is not this VMA's to drop (see above): it is overwritten
        // with this VMA's own, taken back by `close`. Nobody else sees the new VMA yet.
        unsafe {
            (*vma).vm_private_data = data.map_or(ptr::null(), |d| d.into_foreign()).cast_mut();
        }
    }

    /// # Safety
    ///
    /// MM callback contract: `vma` is a VMA of `V` going away, its mm locked.
    unsafe extern "C" fn close(vma: *mut bindings::vm_area_struct) {
        // SAFETY: `remove_vma` (and `mremap`'s undo) call `close` once on a VMA of this table
        // that is going away, still live for the call.
        let ptr = unsafe { (*vma).vm_private_data };
        // SAFETY: A non-NULL `vm_private_data` of a VMA of `V` is its own (set by `set_ops` or
        // `open`), taken back only here, once.
        let Some(data) = (unsafe { V::PrivateData::try_from_foreign(ptr) }) else {
            return;
        };
        // SAFETY: As above, the VMA is live for the call and its mm locked. The field still
        // holds the (now owned) pointer during `V::close`: `Vma::private_still_mapped`
        // compares it with the other VMAs', never dereferencing it.
        V::close(unsafe { Vma::<V>::from_raw(vma) }, data);
        // SAFETY: The VMA is ours until close returns.
        unsafe { (*vma).vm_private_data = ptr::null_mut() };
    }

    /// # Safety
    ///
    /// MM callback contract: `vma` is a VMA of `V`, its mm write-locked, `[start, end)` in it.
    unsafe extern "C" fn mprotect(
        vma: *mut bindings::vm_area_struct,
        start: c_ulong,
        end: c_ulong,
        newflags: c_ulong,
    ) -> c_int {
        // SAFETY: `mprotect_fixup` calls this on a VMA of this table with the mm write-locked.
        let vma = unsafe { VmaWrite::<V>::from_raw(vma) };
        match V::mprotect(vma, start, end, newflags as u64) {
            Ok(()) => 0,
            Err(e) => e.to_errno(),
        }
    }
}

/// Reads `vm_start`, `vm_end` and `vm_flags`.
///
/// # Safety
///
/// `vma` must be live, its fields stable (a lock of the caller's context).
unsafe fn vma_fields(vma: *const bindings::vm_area_struct) -> (usize, usize, u64) {
    // SAFETY: By the safety requirements.
    unsafe {
        let range = (*vma).__bindgen_anon_1.__bindgen_anon_1;
        (
            range.vm_start,
            range.vm_end,
            (*vma).__bindgen_anon_2.vm_flags as u64,
        )
    }
}

/// What every view of a VMA can read: its range, flags, offset and mm.
///
/// # Invariants
///
/// The VMA is live, and its fields read here are stable (the caller's context holds the
/// mm's or the VMA's lock, or the VMA is not visible yet), for as long as the reference is
/// used.
#[repr(transparent)]
pub(crate) struct VmaRef {
    vma: Opaque<bindings::vm_area_struct>,
}

impl VmaRef {
    fn as_ptr(&self) -> *mut bindings::vm_area_struct {
        self.vma.get()
    }

    /// The first address.
    pub(crate) fn start(&self) -> usize {
        // SAFETY: By the type invariants the fields are stable while the reference is used.
        unsafe { vma_fields(self.as_ptr()).0 }
    }

    /// One past the last address.
    pub(crate) fn end(&self) -> usize {
        // SAFETY: By the type invariants.
        unsafe { vma_fields(self.as_ptr()).1 }
    }

    /// The flags ([`flags`]).
    pub(crate) fn flags(&self) -> flags::Flags {
        // SAFETY: By the type invariants.
        unsafe { vma_fields(self.as_ptr()).2 }
    }

    /// The file offset in base pages.
    pub(crate) fn pgoff(&self) -> u64 {
        // SAFETY: By the type invariants.
        unsafe { (*self.as_ptr()).vm_pgoff as u64 }
    }

    /// The mm, as an identity: compared, never dereferenced.
    pub(crate) fn mm_id(&self) -> usize {
        // SAFETY: By the type invariants.
        unsafe { (*self.as_ptr()).vm_mm as usize }
    }
}

/// A VMA being set up by `file_operations::mmap`.
///
/// # Invariants
///
/// The VMA is new, visible to nobody else, its mm write-locked, for as long as the reference
/// is used (so [`VmaRef`]'s invariants hold too).
#[repr(transparent)]
pub(crate) struct VmaNew {
    vma: VmaRef,
}

impl core::ops::Deref for VmaNew {
    type Target = VmaRef;

    fn deref(&self) -> &VmaRef {
        &self.vma
    }
}

impl VmaNew {
    /// # Safety
    ///
    /// `ptr` must be a VMA inside `mmap` as the type invariants say, for `'a`.
    pub(crate) unsafe fn from_raw<'a>(ptr: *mut bindings::vm_area_struct) -> &'a Self {
        // SAFETY: `Self` is a transparent wrapper of `VmaRef`, itself one of the VMA; the
        // caller guarantees the invariants.
        unsafe { &*ptr.cast() }
    }

    /// Sets `set` and clears `clear` (`vm_flags_set`/`vm_flags_clear`).
    pub(crate) fn update_flags(&self, set: flags::Flags, clear: flags::Flags) {
        // SAFETY: By the type invariants the mm is write-locked, as the helpers assert.
        unsafe {
            shim::rhugetlbfs_vma_update_flags(self.as_ptr(), set as c_ulong, clear as c_ulong)
        };
    }

    /// Installs `V`'s operations and `data` as the private data (taken back by `V::close`, or
    /// dropped now if `V` has no `close`).
    pub(crate) fn set_ops<V: VmOperations>(&self, data: Option<V::PrivateData>) {
        let data = if V::HAS_CLOSE { data } else { None };
        // SAFETY: By the type invariants the VMA is ours to set up; the table is a promoted
        // constant; the private data is this VMA's own reference.
        unsafe {
            (*self.as_ptr()).vm_ops = &VmOpsTable::<V>::VTABLE;
            (*self.as_ptr()).vm_private_data =
                data.map_or(ptr::null(), |d| d.into_foreign()).cast_mut();
        }
    }
}

/// An established VMA of operations `V`.
///
/// # Invariants
///
/// The VMA is live, its `vm_ops` is `V`'s table (so its file is a regular file of
/// `V::FileSystem` and its private data, if any, a `V::PrivateData`), and its mm (or the VMA)
/// is locked at least for reading, for as long as the reference is used.
#[repr(transparent)]
pub(crate) struct Vma<V: VmOperations> {
    vma: VmaRef,
    _v: PhantomData<V>,
}

impl<V: VmOperations> core::ops::Deref for Vma<V> {
    type Target = VmaRef;

    fn deref(&self) -> &VmaRef {
        &self.vma
    }
}

impl<V: VmOperations> Vma<V> {
    /// # Safety
    ///
    /// `ptr` must be a VMA as the type invariants say, for `'a`.
    pub(crate) unsafe fn from_raw<'a>(ptr: *const bindings::vm_area_struct) -> &'a Self {
        // SAFETY: `Self` is a transparent wrapper of `VmaRef`, itself one of the VMA; the
        // caller guarantees the invariants.
        unsafe { &*ptr.cast() }
    }

    /// The file mapped.
    pub(crate) fn file(&self) -> &File<V::FileSystem> {
        // SAFETY: By the type invariants the VMA maps a regular file of `V::FileSystem`, and a
        // VMA holds its file open.
        unsafe { File::from_raw((*self.as_ptr()).vm_file) }
    }

    /// The private data, if there is any.
    pub(crate) fn private_data(&self) -> Option<<V::PrivateData as ForeignOwnable>::Borrowed<'_>> {
        // SAFETY: By the type invariants.
        let ptr = unsafe { (*self.as_ptr()).vm_private_data };
        if ptr.is_null() {
            return None;
        }
        // SAFETY: By the type invariants a non-NULL pointer is a `V::PrivateData` taken back
        // only by `close`, after every user of the VMA.
        Some(unsafe { V::PrivateData::borrow(ptr) })
    }

    /// Whether another VMA of the same mm maps part of this one's file range with the same
    /// private data (`mremap` closes the old VMA after moving its entries to the new one).
    /// Always `false` at exit, where the VMAs closed before are being freed.
    pub(crate) fn private_still_mapped(&self) -> bool {
        // SAFETY: By the type invariants the VMA is live and its mm locked.
        unsafe { shim::rhugetlbfs_private_still_mapped(self.as_ptr()) }
    }

    /// Removes the entries of `[start, start + len)`: those of every mapping of the same file
    /// range, this one's included (`zap_page_range_single`, which would do this VMA's only,
    /// is not exported by kernel.org 6.12.y; the others fault once more).
    pub(crate) fn zap(&self, start: usize, len: usize) {
        // SAFETY: By the type invariants the mm is locked, as the helper asserts; the core
        // clamps the range to the VMA.
        unsafe { shim::rhugetlbfs_zap_range(self.as_ptr(), start, len) };
    }
}

/// An established VMA of operations `V` whose mm is write-locked.
///
/// # Invariants
///
/// As [`Vma`]'s, with the mm write-locked.
#[repr(transparent)]
pub(crate) struct VmaWrite<V: VmOperations> {
    vma: Vma<V>,
}

impl<V: VmOperations> VmaWrite<V> {
    /// # Safety
    ///
    /// `ptr` must be a VMA of `V` whose mm is write-locked, for `'a`.
    pub(crate) unsafe fn from_raw<'a>(ptr: *const bindings::vm_area_struct) -> &'a Self {
        // SAFETY: `Self` is a transparent wrapper of `Vma<V>`, itself one of the VMA; the
        // caller guarantees the invariants.
        unsafe { &*ptr.cast() }
    }

    /// At `fork` (from `open` of the child's VMA): zaps the parent's VMA at the same range, so
    /// that no writable entry of it is copied into the child (`dup_mmap` runs in the parent
    /// with both mms write-locked, before `copy_page_range`). As [`Vma::zap`], the file
    /// range's other mappings go too.
    pub(crate) fn zap_fork_parent(&self) {
        // SAFETY: By the type invariants; the helper checks that the VMA at the same address
        // in `current->mm` maps the same file range before zapping it.
        unsafe { shim::rhugetlbfs_zap_fork_parent(self.vma.as_ptr()) };
    }

    /// From `mprotect`: keeps faults under the per-VMA lock out until the new protection is
    /// in place and zaps `[start, end)` (as [`Vma::zap`]), so the next faults map with it.
    pub(crate) fn zap_for_mprotect(&self, start: usize, end: usize) {
        // SAFETY: By the type invariants the mm is write-locked.
        unsafe { shim::rhugetlbfs_zap_for_mprotect(self.vma.as_ptr(), start, end) };
    }
}

impl<V: VmOperations> core::ops::Deref for VmaWrite<V> {
    type Target = Vma<V>;

    fn deref(&self) -> &Vma<V> {
        &self.vma
    }
}

/// A page fault on a VMA of operations `V`.
///
/// # Invariants
///
/// `vmf` describes a fault on a live VMA of `V` being handled by this thread, with the locks
/// the fault path holds, for `'a`.
pub(crate) struct VmFault<'a, V: VmOperations> {
    vmf: *mut bindings::vm_fault,
    _v: PhantomData<(&'a (), V)>,
}

impl<V: VmOperations> VmFault<'_, V> {
    /// # Safety
    ///
    /// `vmf` must be a fault as the type invariants say, for `'a`.
    unsafe fn from_raw<'a>(vmf: *mut bindings::vm_fault) -> VmFault<'a, V> {
        // INVARIANT: By the safety requirements.
        VmFault {
            vmf,
            _v: PhantomData,
        }
    }

    /// The VMA.
    pub(crate) fn vma(&self) -> &Vma<V> {
        // SAFETY: By the type invariants the VMA is one of `V`, live and locked for the fault.
        unsafe { Vma::from_raw((*self.vmf).__bindgen_anon_1.vma) }
    }

    /// The faulting address.
    pub(crate) fn address(&self) -> usize {
        // SAFETY: By the type invariants.
        unsafe { (*self.vmf).__bindgen_anon_1.address }
    }

    /// Whether it is a write fault.
    pub(crate) fn is_write(&self) -> bool {
        // SAFETY: By the type invariants.
        unsafe { (*self.vmf).flags & bindings::fault_flag_FAULT_FLAG_WRITE != 0 }
    }

    /// Whether nothing is mapped at the fault's PMD (a 4 KiB fault may then insert a PMD
    /// entry; over a page table the insertion would do nothing and the fault repeat).
    pub(crate) fn pmd_is_none(&self) -> bool {
        // SAFETY: By the type invariants; the helper reads the PMD locklessly, as the fault
        // path does.
        unsafe { shim::rhugetlbfs_vmf_pmd_none(self.vmf) }
    }

    /// Whether the core will map a PMD for a page-cache folio this fault returns: nothing is
    /// mapped at the PMD yet, and neither `MADV_NOHUGEPAGE` nor `PR_SET_THP_DISABLE` is on
    /// (the core maps 4 KiB entries of the same folio then).
    pub(crate) fn pmd_mappable(&self) -> bool {
        // SAFETY: By the type invariants; the helper reads the PMD locklessly and the VMA's and
        // mm's flags, as the fault path does.
        unsafe { shim::rhugetlbfs_vmf_pmd_mappable(self.vmf) }
    }

    /// Hands the page-cache folio of `page` that holds its base page `base` to the core to
    /// map (`VM_FAULT_LOCKED`: with a reference for the mapping, and locked, so truncation
    /// cannot take it out before the core maps it). The folio must be in the file's page
    /// cache at the fault's index.
    pub(crate) fn map_folio(&self, page: &HugePage, base: usize) -> VmFaultReason {
        let Some(pfn) = page.folio_pfn(base) else {
            return VmFaultReason::SIGBUS;
        };
        // SAFETY: By the type invariants the fault is live; `pfn` is the head of a folio the
        // caller keeps in the page cache (its pool reference) while it holds the fault mutex,
        // which it does for this call.
        VmFaultReason(unsafe { shim::rhugetlbfs_fault_folio(self.vmf, pfn) })
    }

    /// Maps the `1 << order` base pages of `page` starting at base page `first` with one
    /// entry of `order` (PMD or PUD) at the fault's address, writable if `write`. The caller
    /// keeps `page` from being freed until it is unmapped (the entry holds no reference).
    pub(crate) fn insert(
        &self,
        page: &HugePage,
        first: usize,
        order: u32,
        write: bool,
    ) -> VmFaultReason {
        let Some(pfn) = page.pfn_of(first, order) else {
            return VmFaultReason::SIGBUS;
        };
        // SAFETY: By the type invariants the fault is live; `pfn` is a naturally aligned run
        // of `1 << order` frames inside `page`.
        VmFaultReason(unsafe { shim::rhugetlbfs_insert_pfn(self.vmf, pfn, order, write) })
    }
}

/// An unmapped area of `len` bytes aligned to `align` in the current mm (over-allocate by
/// `align`, then round up), near `addr` if it is not zero.
pub(crate) fn get_unmapped_area_aligned(
    addr: usize,
    len: usize,
    align: usize,
    flags: usize,
) -> Result<usize> {
    // SAFETY: Called from `get_unmapped_area`, in mmap context, where `current->mm` is the
    // target mm.
    let ret = unsafe { shim::rhugetlbfs_get_unmapped_area(addr, len, align, flags) };
    if ret >= (-(bindings::MAX_ERRNO as isize)) as usize {
        return Err(Error::from_errno(ret as isize as i32));
    }
    Ok(ret)
}
