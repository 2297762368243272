// SPDX-License-Identifier: GPL-2.0

//! sysfs directories and attributes, backed by kobjects.
//!
//! Two kinds of directory:
//!
//! - [`Dir`]: a plain directory (`kobject_create_and_add`), for `hugepages/`, `node/`, ...
//! - [`AttrDir<T>`]: a directory whose files are the attributes of `T` (a [`AttrOps`]
//!   implementation). The kobject is embedded in a heap object next to `T`, and the
//!   kobject's `release` frees both, so a `show`/`store` racing with removal always sees a
//!   live `T` (kernfs drains active callers before the files disappear).
//!
//! Attribute tables are static ([`attr_table!`]); callbacks get the attribute's index.
//!
//! C header: [`include/linux/kobject.h`](srctree/include/linux/kobject.h),
//! [`include/linux/sysfs.h`](srctree/include/linux/sysfs.h)

use core::fmt;
use core::marker::PhantomData;
use core::ptr::{self, NonNull};
use kernel::bindings;
use kernel::c_str;
use kernel::error::to_result;
use kernel::prelude::*;
use kernel::str::CStr;
use kernel::types::Opaque;

/// Anything that is a kobject a directory can be created under.
pub(crate) trait Parent {
    /// The kobject, for `kobject_*_add`.
    fn kobj_ptr(&self) -> *mut bindings::kobject;
}

/// `/sys/fs`, the parent of `/sys/fs/rhugetlbfs`.
pub(crate) struct FsKobj;

impl Parent for FsKobj {
    fn kobj_ptr(&self) -> *mut bindings::kobject {
        // SAFETY: `fs_kobj` is set up at boot (`mnt_init`) before any module can load and is
        // never freed; reading the pointer is a plain load of an initialised global.
        unsafe { bindings::fs_kobj }
    }
}

/// A plain sysfs directory.
///
/// # Invariants
///
/// `kobj` is a valid kobject created by `kobject_create_and_add`, and this object owns one
/// reference to it.
pub(crate) struct Dir {
    kobj: NonNull<bindings::kobject>,
}

impl Dir {
    /// Creates the directory `name` under `parent`.
    pub(crate) fn new(name: &CStr, parent: &impl Parent) -> Result<Self> {
        // SAFETY: `name` is a valid NUL-terminated string (it is copied), and `parent`'s
        // kobject is valid for the duration of the call by the `Parent` contract.
        let kobj =
            unsafe { bindings::kobject_create_and_add(name.as_char_ptr(), parent.kobj_ptr()) };
        // INVARIANT: A non-null return is a new kobject holding one reference, now ours.
        NonNull::new(kobj).map(|kobj| Dir { kobj }).ok_or(ENOMEM)
    }
}

impl Parent for Dir {
    fn kobj_ptr(&self) -> *mut bindings::kobject {
        self.kobj.as_ptr()
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        // SAFETY: By the type invariants we own one reference, dropped exactly once here.
        unsafe { bindings::kobject_put(self.kobj.as_ptr()) };
    }
}

// SAFETY: A kobject reference may be dropped from any thread.
unsafe impl Send for Dir {}
// SAFETY: `&Dir` only hands out the pointer for parenting, which the kobject API allows
// concurrently.
unsafe impl Sync for Dir {}

/// The output buffer of a sysfs `show` (one page).
///
/// # Invariants
///
/// `buf` points to the page-sized buffer of the `show` call that made this, writable for
/// that call; `len < PAGE_SIZE` bytes of it are written.
pub(crate) struct ShowBuf {
    buf: *mut u8,
    len: usize,
}

impl ShowBuf {
    /// Bytes written so far.
    fn len(&self) -> usize {
        self.len
    }
}

impl fmt::Write for ShowBuf {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = bindings::PAGE_SIZE.saturating_sub(self.len + 1);
        if s.len() > room {
            return Err(fmt::Error);
        }
        // SAFETY: By the construction in `show_callback`, `buf` points to a page-sized buffer
        // and `len + s.len() < PAGE_SIZE` was checked just above.
        unsafe { ptr::copy_nonoverlapping(s.as_ptr(), self.buf.add(self.len), s.len()) };
        self.len += s.len();
        Ok(())
    }
}

/// The files of an [`AttrDir`].
pub(crate) trait AttrOps: Send + Sync + Sized {
    /// The attribute table, built with [`attr_table!`].
    const TABLE: &'static AttrTable;

    /// Formats attribute `idx` (an index into the table).
    fn show(&self, idx: usize, out: &mut ShowBuf) -> Result;

    /// Parses and applies a write to attribute `idx`. Only called for writable attributes.
    fn store(&self, idx: usize, input: &[u8]) -> Result;
}

/// A static table of sysfs attributes: what `kobj_type::default_groups` points at.
///
/// Build it with [`attr_table!`]; the fields are public only for that macro.
///
/// # Invariants
///
/// `groups` points to a static, NULL-terminated array of static attribute groups whose
/// attributes are `attrs`; nothing writes any of them after initialisation.
pub(crate) struct AttrTable {
    #[doc(hidden)]
    pub(crate) attrs: &'static [bindings::attribute],
    #[doc(hidden)]
    pub(crate) groups: *const *const bindings::attribute_group,
}

// SAFETY: By the type invariants everything the table points to is static and never
// written, so sharing it between threads only shares reads.
unsafe impl Sync for AttrTable {}

/// Makes `T` shareable between threads as a static; for the statics [`attr_table!`] builds.
///
/// # Invariants
///
/// Only [`attr_table!`] makes these, for C tables (attributes, their pointer arrays,
/// groups) that are never written after initialisation.
#[doc(hidden)]
#[repr(transparent)]
pub(crate) struct StaticCell<T>(pub(crate) T);

// SAFETY: By the type invariants the contents are only ever read, by sysfs and by us.
unsafe impl<T> Sync for StaticCell<T> {}

/// An attribute's `struct attribute`, for [`attr_table!`].
#[doc(hidden)]
pub(crate) const fn attribute(name: &'static CStr, mode: u16) -> bindings::attribute {
    // SAFETY: All zeroes is a valid `struct attribute` (null name, no lockdep keys); the
    // fields that matter are set below.
    let mut a: bindings::attribute = unsafe { core::mem::zeroed() };
    a.name = name.as_char_ptr();
    a.mode = mode;
    a
}

/// An attribute group over a NULL-terminated attribute pointer array, for [`attr_table!`].
#[doc(hidden)]
pub(crate) const fn group(attrs: *const *mut bindings::attribute) -> bindings::attribute_group {
    // SAFETY: All zeroes is a valid `struct attribute_group` (no name, no callbacks).
    let mut g: bindings::attribute_group = unsafe { core::mem::zeroed() };
    g.attrs = attrs.cast_mut();
    g
}

/// Builds a static [`AttrTable`]: `attr_table!(NAME, [(c_str!("file"), 0o644), ...]);`
macro_rules! attr_table {
    ($name:ident, [$(($file:expr, $mode:expr)),+ $(,)?]) => {
        static $name: $crate::kern::kobject::AttrTable = {
            const N: usize = [$($mode),+].len();
            static ATTRS: $crate::kern::kobject::StaticCell<[kernel::bindings::attribute; N]> =
                $crate::kern::kobject::StaticCell([$($crate::kern::kobject::attribute($file, $mode)),+]);
            static PTRS: $crate::kern::kobject::StaticCell<[*mut kernel::bindings::attribute; N + 1]> = {
                let mut p = [core::ptr::null_mut(); N + 1];
                let mut i = 0;
                while i < N {
                    p[i] = core::ptr::addr_of!(ATTRS.0[i]).cast_mut();
                    i += 1;
                }
                $crate::kern::kobject::StaticCell(p)
            };
            static GROUP: $crate::kern::kobject::StaticCell<kernel::bindings::attribute_group> =
                $crate::kern::kobject::StaticCell($crate::kern::kobject::group(PTRS.0.as_ptr()));
            static GROUPS: $crate::kern::kobject::StaticCell<[*const kernel::bindings::attribute_group; 2]> =
                $crate::kern::kobject::StaticCell([core::ptr::addr_of!(GROUP.0), core::ptr::null()]);
            $crate::kern::kobject::AttrTable { attrs: &ATTRS.0, groups: GROUPS.0.as_ptr() }
        };
    };
}
pub(crate) use attr_table;

/// The heap object behind an [`AttrDir`]: the kobject and the data its files show.
#[repr(C)]
struct Inner<T> {
    kobj: Opaque<bindings::kobject>,
    data: T,
}

/// A sysfs directory whose files are `T`'s attributes.
///
/// # Invariants
///
/// `inner` points to a live `Inner<T>` whose kobject was initialised and added with
/// `AttrDir::<T>::KTYPE`; this object owns one reference to that kobject. The `Inner<T>` is
/// freed by the ktype's `release` when the last reference goes.
pub(crate) struct AttrDir<T: AttrOps> {
    inner: NonNull<Inner<T>>,
    _p: PhantomData<T>,
}

impl<T: AttrOps> AttrDir<T> {
    const SYSFS_OPS: bindings::sysfs_ops = bindings::sysfs_ops {
        show: Some(Self::show_callback),
        store: Some(Self::store_callback),
    };

    const KTYPE: bindings::kobj_type = bindings::kobj_type {
        release: Some(Self::release_callback),
        sysfs_ops: &Self::SYSFS_OPS,
        default_groups: T::TABLE.groups.cast_mut(),
        child_ns_type: None,
        namespace: None,
        get_ownership: None,
    };

    /// Creates the directory `name` under `parent`, with `T`'s files showing `data`.
    pub(crate) fn new(name: &CStr, parent: &impl Parent, data: T) -> Result<Self> {
        let inner = KBox::new(
            Inner {
                kobj: Opaque::uninit(),
                data,
            },
            GFP_KERNEL,
        )?;
        let inner = KBox::into_raw(inner);
        // SAFETY: `inner` is a valid allocation we own; `kobject_init` requires zeroed memory.
        unsafe { ptr::write_bytes(Opaque::raw_get(ptr::addr_of!((*inner).kobj)), 0, 1) };
        // SAFETY: The kobject is zeroed and not yet initialised; the ktype is a `'static`
        // promoted constant; `name` is passed through "%s", so it is not a format string;
        // `parent`'s kobject is valid for the call.
        let ret = unsafe {
            bindings::kobject_init_and_add(
                Opaque::raw_get(ptr::addr_of!((*inner).kobj)),
                &Self::KTYPE,
                parent.kobj_ptr(),
                c_str!("%s").as_char_ptr(),
                name.as_char_ptr(),
            )
        };
        if let Err(e) = to_result(ret) {
            // SAFETY: After `kobject_init_and_add` fails, the kobject is initialised and must
            // be released with `kobject_put`, which calls `release_callback` and frees `inner`.
            unsafe { bindings::kobject_put(Opaque::raw_get(ptr::addr_of!((*inner).kobj))) };
            return Err(e);
        }
        // INVARIANT: The kobject is initialised and added with `KTYPE`; the initial reference
        // is now ours.
        Ok(AttrDir {
            // SAFETY: `KBox::into_raw` never returns null.
            inner: unsafe { NonNull::new_unchecked(inner) },
            _p: PhantomData,
        })
    }

    /// Recovers the `Inner<T>` from its kobject.
    ///
    /// # Safety
    ///
    /// `kobj` must be the kobject of a live `Inner<T>` created by [`AttrDir::new`].
    unsafe fn inner_of(kobj: *mut bindings::kobject) -> *mut Inner<T> {
        // `kobj` is the first field of the `repr(C)` `Inner<T>`, so the addresses coincide.
        kobj.cast()
    }

    /// The index of `attr` in `T`'s table, if it is one of them.
    fn index_of(attr: *const bindings::attribute) -> Option<usize> {
        T::TABLE.attrs.iter().position(|a| ptr::eq(a, attr))
    }

    /// # Safety
    ///
    /// Called by sysfs only, for a kobject of this ktype, with `buf` a page-sized buffer.
    unsafe extern "C" fn show_callback(
        kobj: *mut bindings::kobject,
        attr: *mut bindings::attribute,
        buf: *mut kernel::ffi::c_char,
    ) -> isize {
        let Some(idx) = Self::index_of(attr) else {
            return EIO.to_errno() as isize;
        };
        // SAFETY: sysfs calls us only for kobjects of `KTYPE`, which are all embedded in a
        // live `Inner<T>` while their files can be opened.
        let data = unsafe { &(*Self::inner_of(kobj)).data };
        let mut out = ShowBuf {
            buf: buf.cast(),
            len: 0,
        };
        match data.show(idx, &mut out) {
            Ok(()) => out.len() as isize,
            Err(e) => e.to_errno() as isize,
        }
    }

    /// # Safety
    ///
    /// Called by sysfs only, for a kobject of this ktype, with `buf` valid for `count` bytes.
    unsafe extern "C" fn store_callback(
        kobj: *mut bindings::kobject,
        attr: *mut bindings::attribute,
        buf: *const kernel::ffi::c_char,
        count: usize,
    ) -> isize {
        let Some(idx) = Self::index_of(attr) else {
            return EIO.to_errno() as isize;
        };
        // SAFETY: As in `show_callback`.
        let data = unsafe { &(*Self::inner_of(kobj)).data };
        // SAFETY: sysfs passes a buffer of `count` readable bytes.
        let input = unsafe { core::slice::from_raw_parts(buf.cast::<u8>(), count) };
        match data.store(idx, input) {
            Ok(()) => count as isize,
            Err(e) => e.to_errno() as isize,
        }
    }

    /// # Safety
    ///
    /// Called by the kobject core only, once, when the last reference to a kobject of this
    /// ktype is dropped.
    unsafe extern "C" fn release_callback(kobj: *mut bindings::kobject) {
        // SAFETY: The kobject is embedded in an `Inner<T>` allocated by `KBox` in `new`, and
        // this is the last reference, so we may free it.
        drop(unsafe { KBox::from_raw(Self::inner_of(kobj)) });
    }
}

impl<T: AttrOps> Parent for AttrDir<T> {
    fn kobj_ptr(&self) -> *mut bindings::kobject {
        // SAFETY: By the type invariants `inner` is live; this only computes a field address.
        unsafe { Opaque::raw_get(ptr::addr_of!((*self.inner.as_ptr()).kobj)) }
    }
}

impl<T: AttrOps> Drop for AttrDir<T> {
    fn drop(&mut self) {
        // SAFETY: By the type invariants we own one reference, dropped exactly once here; the
        // files are removed and, once sysfs callers are drained, `release_callback` frees
        // the object.
        unsafe { bindings::kobject_put(self.kobj_ptr()) };
    }
}

// SAFETY: `T: Send + Sync`, and the kobject reference may be dropped from any thread.
unsafe impl<T: AttrOps> Send for AttrDir<T> {}
// SAFETY: `&AttrDir<T>` only gives `&T` (which is `Sync`) and the kobject for parenting.
unsafe impl<T: AttrOps> Sync for AttrDir<T> {}
