// SPDX-License-Identifier: GPL-2.0

//! The VFS side of a filesystem: the [`FileSystem`] trait a filesystem implements, its
//! [`Registration`], and the C operation tables whose callbacks are trampolines into it.
//!
//! Each callback turns its raw pointers into the typed views of [`sb`], [`inode`] and
//! [`file`], calls the safe implementation in the filesystem, and turns the `Result` back
//! into an errno. The filesystem decides; this layer only converts and does what the VFS
//! requires of every filesystem (instantiating dentries, link counts, freeing a symlink's
//! target). Nothing here names the filesystem's own types.
//!
//! Rust objects in C `void *` fields are stored with [`ForeignOwnable`] only, each taken back
//! exactly once:
//!
//! | field | holds | stored | taken back |
//! |---|---|---|---|
//! | the type's registration data | `Arc<T::Globals>` | [`Registration::new`] | its drop |
//! | `fs_context::fs_private` | `KBox<T::Context>` | `init_fs_context` | `fs_context_operations::free` |
//! | `super_block::s_fs_info` | `Arc<T::Data>` | `fill_super` | `kill_sb` |
//! | `inode::i_private` | `Pin<KBox<T::INodeData>>` | [`SuperBlock::new_inode`] | `evict_inode` |
//!
//! The `file_system_type` and the `fs_context` half of mounting are C (`shim.c`), because
//! `linux/fs_context.h` is not in 6.12's bindings; C calls back through [`shim::RhFsOps`].
//!
//! C header: [`include/linux/fs.h`](srctree/include/linux/fs.h)

pub(crate) mod file;
pub(crate) mod inode;
pub(crate) mod sb;

pub(crate) use file::{File, IovIter, Kiocb};
pub(crate) use inode::{INode, INodeLocked, Iattr, NewINode};
pub(crate) use sb::{NewSuperBlock, SeqFile, Statfs, SuperBlock};

use super::mm::VmaNew;
use super::shim;
use core::fmt::{self, Write};
use core::marker::PhantomData;
use core::ptr;
use kernel::bindings;
use kernel::ffi::{c_char, c_int, c_long, c_ulong, c_void};
use kernel::prelude::*;
use kernel::str::CStr;
use kernel::sync::Arc;
use kernel::types::ForeignOwnable;

/// `FALLOC_FL_KEEP_SIZE` (uapi `linux/falloc.h`).
pub(crate) const FALLOC_FL_KEEP_SIZE: i32 = 0x01;
/// `FALLOC_FL_PUNCH_HOLE` (uapi `linux/falloc.h`).
pub(crate) const FALLOC_FL_PUNCH_HOLE: i32 = 0x02;

/// `EOPNOTSUPP` (not among the kernel crate's error constants in 6.12).
pub(crate) fn eopnotsupp() -> Error {
    Error::from_errno(-(bindings::EOPNOTSUPP as i32))
}

/// What `parse_param` may answer besides success.
pub(crate) enum ParamError {
    /// Not an option of this filesystem (the VFS then handles `source` or reports it).
    Unknown,
    /// A bad option: the errno (the message is in the [`MountLog`]).
    Bad(Error),
}

/// A filesystem: what the VFS callbacks of [`Tables`] call.
///
/// All methods are safe: the trampolines have checked the C side's guarantees and hand over
/// typed views whose lifetimes end with the callback.
pub(crate) trait FileSystem: Sized + Send + Sync + 'static {
    /// The data registered with the type; every new mount context gets a reference.
    type Globals: Send + Sync;
    /// A mount being set up (`fs_context::fs_private`).
    type Context: Send;
    /// One mounted filesystem (`super_block::s_fs_info`).
    type Data: Send + Sync;
    /// The data of a regular file (`inode::i_private`).
    type INodeData: Send + Sync;

    /// The filesystem type's name (`file_system_type::name`, in `shim.c`).
    const NAME: &'static CStr;

    /// `init_fs_context`: a new mount context.
    fn init_context(globals: &Arc<Self::Globals>) -> Result<Self::Context>;

    /// `fs_context_operations::parse_param`: one `key[=value]` option.
    /// A failure's one line of explanation goes to `log`.
    fn parse_param(
        ctx: &mut Self::Context,
        key: &[u8],
        value: Option<&[u8]>,
        log: &mut MountLog<'_>,
    ) -> core::result::Result<(), ParamError>;

    /// `fill_super`: sets up the new super block (parameters, data, root directory). A
    /// failure's one line of explanation goes to `log`.
    fn fill_super(
        ctx: &Self::Context,
        sb: NewSuperBlock<'_, Self>,
        log: &mut MountLog<'_>,
    ) -> Result;

    /// `statfs`.
    fn statfs(sb: &SuperBlock<Self>) -> Statfs;

    /// `show_options`: the effective options for `/proc/mounts`.
    fn show_options(sb: &SuperBlock<Self>, m: &mut SeqFile) -> fmt::Result;

    /// `mknod` (behind `create` and `mkdir` too): a new inode of `mode` for `dir`, which the
    /// VFS then instantiates.
    fn mknod<'a>(dir: &'a INode<Self>, mode: u32, dev: u32) -> Result<NewINode<'a, Self>>;

    /// `symlink`: a new symlink inode pointing at `target`.
    fn symlink<'a>(dir: &'a INode<Self>, target: &CStr) -> Result<NewINode<'a, Self>>;

    /// `setattr`, after the generic checks (`setattr_prepare`) and before the generic copy
    /// (`setattr_copy`); the VFS holds the inode lock.
    fn setattr(inode: &INodeLocked<'_, Self>, attr: &Iattr) -> Result;

    /// `evict_inode`: the inode is going away; `data` is its `i_private`, taken back.
    fn evict_inode(inode: &INode<Self>, data: Option<Pin<KBox<Self::INodeData>>>);

    /// `read_iter`: bytes read into `to`, the position advanced.
    fn read_iter(iocb: &mut Kiocb<'_, Self>, to: &mut IovIter) -> Result<usize>;

    /// `fallocate`.
    fn fallocate(file: &File<Self>, mode: i32, offset: i64, len: i64) -> Result;

    /// `mmap`: sets up the new VMA.
    fn mmap(file: &File<Self>, vma: &VmaNew) -> Result;

    /// `get_unmapped_area`.
    fn get_unmapped_area(
        file: &File<Self>,
        addr: usize,
        len: usize,
        pgoff: usize,
        flags: usize,
    ) -> Result<usize>;
}

/// The registered filesystem type: registered by [`Registration::new`], unregistered on
/// drop.
///
/// # Invariants
///
/// `T`'s type is registered with `shim.c`, which holds `globals` (from
/// [`ForeignOwnable::into_foreign`] of an `Arc<T::Globals>`) until drop takes it back.
pub(crate) struct Registration<T: FileSystem> {
    globals: *const c_void,
    _t: PhantomData<T>,
}

// SAFETY: The registration only holds an `Arc<T::Globals>` reference (in foreign form), and
// `T::Globals: Send + Sync`.
unsafe impl<T: FileSystem> Send for Registration<T> {}
// SAFETY: `&Registration` gives access to nothing.
unsafe impl<T: FileSystem> Sync for Registration<T> {}

impl<T: FileSystem> Registration<T> {
    /// Registers `T`'s filesystem type; every mount context gets a reference to `globals`.
    pub(crate) fn new(globals: Arc<T::Globals>) -> Result<Self> {
        let data = globals.into_foreign();
        // SAFETY: The table is a promoted constant (`'static`); `data` stays valid until drop,
        // which unregisters first. Mounts and mount contexts pin the module (`owner`), so none
        // outlives the registration.
        let ret = unsafe {
            shim::rhugetlbfs_register_fs(T::NAME.as_char_ptr(), &Tables::<T>::FS_OPS, data)
        };
        if let Err(e) = kernel::error::to_result(ret) {
            // SAFETY: `data` came from `into_foreign` just above and was not registered.
            drop(unsafe { <Arc<T::Globals> as ForeignOwnable>::from_foreign(data) });
            return Err(e);
        }
        // INVARIANT: Registered just now with `data`.
        Ok(Registration {
            globals: data,
            _t: PhantomData,
        })
    }
}

impl<T: FileSystem> Drop for Registration<T> {
    fn drop(&mut self) {
        // SAFETY: By the type invariants the type is registered; after this no mount context
        // is created, and none is left (each pins the module).
        unsafe { shim::rhugetlbfs_unregister_fs() };
        // SAFETY: By the type invariants `globals` came from `into_foreign`; the C side no
        // longer uses it.
        drop(unsafe { <Arc<T::Globals> as ForeignOwnable>::from_foreign(self.globals) });
    }
}

/// The one line a failed option or mount leaves in the mount context's log (`errorfc` in
/// `shim.c`): a C buffer, always NUL-terminated, written at most once, truncated silently.
pub(crate) struct MountLog<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl MountLog<'_> {
    /// The log buffer the C side passed.
    ///
    /// # Safety
    ///
    /// `msg` must be NULL or valid for writes of `msg_len` bytes for `'a`.
    unsafe fn from_raw<'a>(msg: *mut c_char, msg_len: usize) -> MountLog<'a> {
        let buf = if msg.is_null() {
            &mut [][..]
        } else {
            // SAFETY: By the function's safety requirements.
            unsafe { core::slice::from_raw_parts_mut(msg.cast::<u8>(), msg_len) }
        };
        MountLog { buf, len: 0 }
    }
}

impl Write for MountLog<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for &b in s.as_bytes() {
            if self.len + 1 >= self.buf.len() {
                break;
            }
            if let Some(slot) = self.buf.get_mut(self.len) {
                *slot = b;
                self.len += 1;
            }
        }
        if let Some(slot) = self.buf.get_mut(self.len) {
            *slot = 0;
        }
        Ok(())
    }
}

/// The operation tables of filesystem `T`, each a constant whose callbacks convert and
/// forward to `T`.
pub(crate) struct Tables<T: FileSystem>(PhantomData<T>);

impl<T: FileSystem> Tables<T> {
    pub(super) const FS_OPS: shim::RhFsOps = shim::RhFsOps {
        init_fs_context: Self::init_fs_context,
        free_fs_context: Self::free_fs_context,
        parse_param: Self::parse_param,
        fill_super: Self::fill_super,
        kill_sb: Self::kill_sb,
    };

    const SUPER_OPS: bindings::super_operations = bindings::super_operations {
        statfs: Some(Self::statfs),
        show_options: Some(Self::show_options),
        evict_inode: Some(Self::evict_inode),
        free_inode: Some(Self::free_inode),
        drop_inode: Some(bindings::generic_delete_inode),
        // SAFETY: The other callbacks are optional; all-zero is "none".
        ..unsafe { core::mem::zeroed() }
    };

    const DIR_IOPS: bindings::inode_operations = bindings::inode_operations {
        lookup: Some(bindings::simple_lookup),
        create: Some(Self::create),
        link: Some(bindings::simple_link),
        unlink: Some(bindings::simple_unlink),
        symlink: Some(Self::symlink),
        mkdir: Some(Self::mkdir),
        rmdir: Some(bindings::simple_rmdir),
        mknod: Some(Self::mknod),
        rename: Some(bindings::simple_rename),
        setattr: Some(Self::setattr),
        tmpfile: Some(Self::tmpfile),
        // SAFETY: The other callbacks are optional; all-zero is "none".
        ..unsafe { core::mem::zeroed() }
    };

    const FILE_IOPS: bindings::inode_operations = bindings::inode_operations {
        setattr: Some(Self::setattr),
        // SAFETY: The other callbacks are optional; all-zero is "none".
        ..unsafe { core::mem::zeroed() }
    };

    const SYMLINK_IOPS: bindings::inode_operations = bindings::inode_operations {
        get_link: Some(bindings::simple_get_link),
        setattr: Some(Self::setattr),
        // SAFETY: The other callbacks are optional; all-zero is "none".
        ..unsafe { core::mem::zeroed() }
    };

    const FILE_FOPS: bindings::file_operations = bindings::file_operations {
        read_iter: Some(Self::read_iter),
        llseek: Some(bindings::default_llseek),
        fsync: Some(bindings::noop_fsync),
        mmap: Some(Self::mmap),
        fallocate: Some(Self::fallocate),
        get_unmapped_area: Some(Self::get_unmapped_area),
        // SAFETY: The other fields are optional or zero by default (`owner` is not needed: the
        // super block pins the module).
        ..unsafe { core::mem::zeroed() }
    };

    /// `init_fs_context`: a new context; NULL on failure.
    ///
    /// # Safety
    ///
    /// `data` must be the pointer [`Registration::new`] registered, while still registered.
    unsafe extern "C" fn init_fs_context(data: *const c_void) -> *mut c_void {
        // SAFETY: By the safety requirements `data` is the registration's `Arc<T::Globals>`,
        // which lives until it is unregistered, after this call.
        let globals = unsafe { <Arc<T::Globals> as ForeignOwnable>::borrow(data) };
        let ctx = T::init_context(&Arc::from(globals))
            .and_then(|ctx| KBox::new(ctx, GFP_KERNEL).map_err(Into::into));
        match ctx {
            Ok(b) => b.into_foreign().cast_mut(),
            Err(_) => ptr::null_mut(),
        }
    }

    /// `fs_context_operations::free`.
    ///
    /// # Safety
    ///
    /// `ctx` must be NULL or a pointer returned by [`Self::init_fs_context`], not used again.
    unsafe extern "C" fn free_fs_context(ctx: *mut c_void) {
        // SAFETY: By the safety requirements `ctx` is NULL or a context's box, freed only here.
        drop(unsafe { <KBox<T::Context> as ForeignOwnable>::try_from_foreign(ctx) });
    }

    /// `fs_context_operations::parse_param`: 0, `-ENOPARAM` for options not ours, or an error
    /// with its one-line message in `msg`.
    ///
    /// # Safety
    ///
    /// `ctx` must come from [`Self::init_fs_context`], and the VFS must not use it
    /// concurrently (it serialises a context's calls); `key` valid for `key_len` bytes;
    /// `value` NULL or valid for `value_len` bytes; `msg` valid for writes of `msg_len` bytes.
    unsafe extern "C" fn parse_param(
        ctx: *mut c_void,
        key: *const c_char,
        key_len: usize,
        value: *const c_char,
        value_len: usize,
        msg: *mut c_char,
        msg_len: usize,
    ) -> c_int {
        // SAFETY: By the safety requirements the box is alive and nobody else uses it during
        // the call, so a unique reference is fine.
        let ctx = unsafe { &mut *ctx.cast::<T::Context>() };
        // SAFETY: By the safety requirements.
        let key = unsafe { core::slice::from_raw_parts(key.cast::<u8>(), key_len) };
        let value = (!value.is_null()).then(|| {
            // SAFETY: By the safety requirements.
            unsafe { core::slice::from_raw_parts(value.cast::<u8>(), value_len) }
        });
        // SAFETY: `msg` as required above.
        let mut log = unsafe { MountLog::from_raw(msg, msg_len) };
        match T::parse_param(ctx, key, value, &mut log) {
            Ok(()) => 0,
            Err(ParamError::Unknown) => -(bindings::ENOPARAM as c_int),
            Err(ParamError::Bad(e)) => e.to_errno(),
        }
    }

    /// `fill_super` (from `get_tree_nodev`).
    ///
    /// # Safety
    ///
    /// `sb` must be a new super block being filled by this thread only, `ctx` a context from
    /// [`Self::init_fs_context`], `msg` valid for writes of `msg_len` bytes.
    unsafe extern "C" fn fill_super(
        sb: *mut bindings::super_block,
        ctx: *mut c_void,
        msg: *mut c_char,
        msg_len: usize,
    ) -> c_int {
        // SAFETY: By the safety requirements the context is alive for the call.
        let ctx = unsafe { &*ctx.cast::<T::Context>() };
        // SAFETY: By the safety requirements `sb` is new and ours to fill.
        let new = unsafe { NewSuperBlock::from_raw(sb, &Self::SUPER_OPS) };
        // SAFETY: `msg` as required above.
        let mut log = unsafe { MountLog::from_raw(msg, msg_len) };
        match T::fill_super(ctx, new, &mut log) {
            Ok(()) => 0,
            Err(e) => e.to_errno(),
        }
    }

    /// `kill_sb`, after `kill_litter_super`: drops the mount's data.
    ///
    /// # Safety
    ///
    /// `data` must be the `s_fs_info` of a super block of `T` that is gone (NULL if
    /// `fill_super` failed before setting it).
    unsafe extern "C" fn kill_sb(data: *mut c_void) {
        // SAFETY: By the safety requirements this is the reference `fill_super` stored (via
        // `NewSuperBlock::init`), and nobody uses it any more.
        drop(unsafe { <Arc<T::Data> as ForeignOwnable>::try_from_foreign(data) });
    }

    /// The inode and file operations for an inode of `mode`.
    pub(super) fn ops_for(
        mode: u32,
    ) -> (
        &'static bindings::inode_operations,
        *const bindings::file_operations,
    ) {
        match mode & bindings::S_IFMT {
            bindings::S_IFREG => (&Self::FILE_IOPS, &Self::FILE_FOPS),
            bindings::S_IFDIR => (
                &Self::DIR_IOPS,
                ptr::addr_of!(bindings::simple_dir_operations),
            ),
            bindings::S_IFLNK => (&Self::SYMLINK_IOPS, ptr::null()),
            _ => (&Self::FILE_IOPS, ptr::null()),
        }
    }

    /// `statfs`.
    ///
    /// # Safety
    ///
    /// VFS callback contract: `dentry` is on a live super block of `T`, `buf` writable.
    unsafe extern "C" fn statfs(
        dentry: *mut bindings::dentry,
        buf: *mut bindings::kstatfs,
    ) -> c_int {
        // SAFETY: By the callback contract the dentry's super block is live and ready.
        let sb = unsafe { SuperBlock::<T>::from_raw((*dentry).d_sb) };
        let s = T::statfs(sb);
        // SAFETY: `buf` is writable for the call.
        unsafe { shim::rhugetlbfs_fill_statfs(buf, s.bsize, s.blocks, s.bfree, s.files, s.ffree) };
        0
    }

    /// `show_options`.
    ///
    /// # Safety
    ///
    /// VFS callback contract: `m` is a live seq_file, `root` the root of a mount of `T`.
    unsafe extern "C" fn show_options(
        m: *mut bindings::seq_file,
        root: *mut bindings::dentry,
    ) -> c_int {
        // SAFETY: By the callback contract the root's super block is live and ready.
        let sb = unsafe { SuperBlock::<T>::from_raw((*root).d_sb) };
        // SAFETY: By the callback contract `m` is live for the call.
        let mut m = unsafe { SeqFile::from_raw(m) };
        let _ = T::show_options(sb, &mut m);
        0
    }

    /// `evict_inode`.
    ///
    /// # Safety
    ///
    /// VFS callback contract: `inode` is an inode of `T` being evicted, with no user left.
    unsafe extern "C" fn evict_inode(inode: *mut bindings::inode) {
        // SAFETY: By the callback contract the inode is ours and alive for the call; nobody
        // else looks at `i_private` any more.
        let data = unsafe { INode::<T>::take_data(inode) };
        // SAFETY: As above.
        T::evict_inode(unsafe { INode::<T>::from_raw(inode) }, data);
        // SAFETY: By the callback contract; what every `evict_inode` must end with.
        unsafe {
            bindings::truncate_inode_pages_final(ptr::addr_of_mut!((*inode).i_data));
            bindings::clear_inode(inode);
        }
    }

    /// `free_inode` (after an RCU grace period): frees a symlink's target, then the inode.
    ///
    /// # Safety
    ///
    /// VFS callback contract: `inode` is dead and no RCU walker can see it.
    unsafe extern "C" fn free_inode(inode: *mut bindings::inode) {
        // SAFETY: By the callback contract; `i_link` is only set on our symlinks, by
        // `SuperBlock::new_symlink`, from `kstrdup`.
        unsafe {
            if u32::from((*inode).i_mode) & bindings::S_IFMT == bindings::S_IFLNK {
                bindings::kfree((*inode).__bindgen_anon_4.i_link.cast());
            }
            bindings::free_inode_nonrcu(inode);
        }
    }

    /// `mknod` (and behind `create`, `mkdir`): a new inode instantiated at `dentry`, pinned
    /// in the dcache as in ramfs.
    ///
    /// # Safety
    ///
    /// VFS callback contract: `dir` is a locked directory of `T`, `dentry` a negative dentry
    /// in it.
    unsafe extern "C" fn mknod(
        _idmap: *mut bindings::mnt_idmap,
        dir: *mut bindings::inode,
        dentry: *mut bindings::dentry,
        mode: bindings::umode_t,
        dev: bindings::dev_t,
    ) -> c_int {
        // SAFETY: By the callback contract `dir` is a live directory of ours.
        let dir_ref = unsafe { INode::<T>::from_raw(dir) };
        match T::mknod(dir_ref, u32::from(mode), dev) {
            // SAFETY: By the callback contract `dentry` is negative and in `dir`.
            Ok(new) => unsafe {
                new.instantiate_pinned(dir_ref, dentry);
                0
            },
            Err(e) => e.to_errno(),
        }
    }

    /// `create`: a regular file.
    ///
    /// # Safety
    ///
    /// As [`Self::mknod`].
    unsafe extern "C" fn create(
        idmap: *mut bindings::mnt_idmap,
        dir: *mut bindings::inode,
        dentry: *mut bindings::dentry,
        mode: bindings::umode_t,
        _excl: bool,
    ) -> c_int {
        // SAFETY: The VFS calls `create` as it calls `mknod`: a locked directory of ours and
        // a negative dentry in it, which is what `mknod` requires.
        unsafe { Self::mknod(idmap, dir, dentry, mode | bindings::S_IFREG as u16, 0) }
    }

    /// `mkdir`.
    ///
    /// # Safety
    ///
    /// As [`Self::mknod`].
    unsafe extern "C" fn mkdir(
        idmap: *mut bindings::mnt_idmap,
        dir: *mut bindings::inode,
        dentry: *mut bindings::dentry,
        mode: bindings::umode_t,
    ) -> c_int {
        // SAFETY: As for `create`: `mkdir` gets a locked directory of ours and a negative
        // dentry in it.
        let ret = unsafe { Self::mknod(idmap, dir, dentry, mode | bindings::S_IFDIR as u16, 0) };
        if ret == 0 {
            // SAFETY: `dir` is locked by the VFS; the new ".." link.
            unsafe { bindings::inc_nlink(dir) };
        }
        ret
    }

    /// `tmpfile` (`open(O_TMPFILE)`): a regular file with no name, opened in `file`; it goes
    /// when the last descriptor closes unless `linkat` gives it one.
    ///
    /// # Safety
    ///
    /// VFS callback contract (`vfs_tmpfile`): `dir` is a directory of `T`, `file` is being
    /// opened on a new negative dentry in it that nobody else has seen.
    unsafe extern "C" fn tmpfile(
        _idmap: *mut bindings::mnt_idmap,
        dir: *mut bindings::inode,
        file: *mut bindings::file,
        mode: bindings::umode_t,
    ) -> c_int {
        // SAFETY: By the callback contract `dir` is a live directory of ours.
        let dir_ref = unsafe { INode::<T>::from_raw(dir) };
        match T::mknod(dir_ref, u32::from(mode) | bindings::S_IFREG, 0) {
            // SAFETY: By the callback contract `file` is being opened on a new negative dentry
            // in `dir`.
            Ok(new) => unsafe { new.instantiate_tmpfile(dir_ref, file) },
            Err(e) => e.to_errno(),
        }
    }

    /// `symlink`.
    ///
    /// # Safety
    ///
    /// As [`Self::mknod`]; `target` a NUL-terminated string.
    unsafe extern "C" fn symlink(
        _idmap: *mut bindings::mnt_idmap,
        dir: *mut bindings::inode,
        dentry: *mut bindings::dentry,
        target: *const c_char,
    ) -> c_int {
        // SAFETY: By the callback contract `dir` is a live directory of ours.
        let dir_ref = unsafe { INode::<T>::from_raw(dir) };
        // SAFETY: By the callback contract `target` is NUL-terminated and lives for the call.
        let target = unsafe { CStr::from_char_ptr(target) };
        match T::symlink(dir_ref, target) {
            // SAFETY: By the callback contract `dentry` is negative and in `dir`.
            Ok(new) => unsafe {
                new.instantiate_pinned(dir_ref, dentry);
                0
            },
            Err(e) => e.to_errno(),
        }
    }

    /// `setattr` (upstream `hugetlbfs_setattr`'s frame: generic checks, the filesystem's part,
    /// the generic copy).
    ///
    /// # Safety
    ///
    /// VFS callback contract: `dentry` is positive, of ours, its inode locked; `attr` valid.
    unsafe extern "C" fn setattr(
        idmap: *mut bindings::mnt_idmap,
        dentry: *mut bindings::dentry,
        attr: *mut bindings::iattr,
    ) -> c_int {
        // SAFETY: `notify_change` passes its idmap, a positive dentry and the attributes, all
        // valid for the call.
        let ret = unsafe { bindings::setattr_prepare(idmap, dentry, attr) };
        if ret != 0 {
            return ret;
        }
        // SAFETY: By the callback contract the inode is a live inode of ours, locked by the
        // VFS for the call; `attr` is valid for the call.
        let (inode, iattr) = unsafe {
            (
                INodeLocked::<T>::from_raw((*dentry).d_inode),
                Iattr::from_raw(attr),
            )
        };
        if let Err(e) = T::setattr(&inode, iattr) {
            return e.to_errno();
        }
        // SAFETY: As for `setattr_prepare`; the VFS holds the inode lock `setattr_copy` needs.
        unsafe { bindings::setattr_copy(idmap, (*dentry).d_inode, attr) };
        0
    }

    /// `read_iter`.
    ///
    /// # Safety
    ///
    /// VFS callback contract: `iocb` and `to` are valid for the call, `iocb`'s file one of
    /// our regular files.
    unsafe extern "C" fn read_iter(
        iocb: *mut bindings::kiocb,
        to: *mut bindings::iov_iter,
    ) -> isize {
        // SAFETY: By the callback contract; only this call uses them meanwhile.
        let (mut iocb, mut to) = unsafe { (Kiocb::<T>::from_raw(iocb), IovIter::from_raw(to)) };
        match T::read_iter(&mut iocb, &mut to) {
            Ok(n) => n as isize,
            Err(e) => e.to_errno() as isize,
        }
    }

    /// `fallocate`.
    ///
    /// # Safety
    ///
    /// VFS callback contract: `file` is an open regular file of ours.
    unsafe extern "C" fn fallocate(
        file: *mut bindings::file,
        mode: c_int,
        offset: i64,
        len: i64,
    ) -> c_long {
        // SAFETY: By the callback contract the file is open for the call.
        let file = unsafe { File::<T>::from_raw(file) };
        match T::fallocate(file, mode, offset, len) {
            Ok(()) => 0,
            Err(e) => e.to_errno() as c_long,
        }
    }

    /// `mmap`.
    ///
    /// # Safety
    ///
    /// VFS callback contract: `file` is one of our regular files, `vma` the new VMA being set
    /// up, its mm write-locked.
    unsafe extern "C" fn mmap(
        file: *mut bindings::file,
        vma: *mut bindings::vm_area_struct,
    ) -> c_int {
        // SAFETY: `mmap_region` calls us with an open file of ours (its `f_op` is this table)
        // and the new VMA, not yet in the mm's tree, the mm write-locked: what both views
        // require.
        let (file, vma) = unsafe { (File::<T>::from_raw(file), VmaNew::from_raw(vma)) };
        match T::mmap(file, vma) {
            Ok(()) => 0,
            Err(e) => e.to_errno(),
        }
    }

    /// `get_unmapped_area`: an address, or a negative errno cast to an address.
    ///
    /// # Safety
    ///
    /// VFS callback contract: called from `mmap` with `file` one of our regular files.
    unsafe extern "C" fn get_unmapped_area(
        file: *mut bindings::file,
        addr: c_ulong,
        len: c_ulong,
        pgoff: c_ulong,
        flags: c_ulong,
    ) -> c_ulong {
        // SAFETY: By the callback contract the file is open for the call.
        let file = unsafe { File::<T>::from_raw(file) };
        match T::get_unmapped_area(file, addr, len, pgoff, flags) {
            Ok(a) => a,
            Err(e) => e.to_errno() as isize as c_ulong,
        }
    }
}
