// SPDX-License-Identifier: GPL-2.0

//! The VFS glue of the filesystem: registration, the mount-context callbacks (their C half
//! is in `shim.c`, since `fs_context` is not in the bindings), the super block, inode and
//! file operation tables, and inode creation.
//!
//! Every callback turns its raw pointers into references and calls the safe logic of
//! [`crate::fs`]. The super block's `s_fs_info` holds one reference of an
//! `Arc<SuperInfo>`, taken in `fill_super` and dropped after `kill_litter_super`.
//!
//! C header: [`include/linux/fs.h`](srctree/include/linux/fs.h)

use super::shim;
use crate::fs::inode::InodeInfo;
use crate::fs::{FsGlobals, MountCtx, MountError, SuperInfo};
use core::fmt::{self, Write};
use core::ptr;
use kernel::bindings;
use kernel::ffi::{c_char, c_int, c_uint, c_void};
use kernel::prelude::*;
use kernel::sync::{Arc, ArcBorrow};

/// A C operations table in a `static`.
///
/// # Invariants
///
/// The table is never written after initialisation; the C side only reads it.
#[repr(transparent)]
struct Table<T>(T);

// SAFETY: By the type invariants the table is read-only, so sharing it between threads is
// fine even though some tables hold raw pointers (`owner`).
unsafe impl<T> Sync for Table<T> {}

/// The registered filesystem type: registered by [`Registration::new`], unregistered on
/// drop.
///
/// # Invariants
///
/// `rhugetlbfs` is registered and the C side holds a pointer to `globals`, which this object
/// keeps alive.
pub(crate) struct Registration {
    _globals: Arc<FsGlobals>,
}

impl Registration {
    /// Registers the `rhugetlbfs` filesystem type.
    pub(crate) fn new(globals: Arc<FsGlobals>) -> Result<Self> {
        // SAFETY: The pointer stays valid while registered: we keep the `Arc` until drop,
        // which unregisters first. Mounts and mount contexts pin the module (`owner`), so
        // none outlives the registration.
        let ret =
            unsafe { shim::rhugetlbfs_register_fs(&*globals as *const FsGlobals as *mut c_void) };
        kernel::error::to_result(ret)?;
        // INVARIANT: Registered just now with a pointer to `globals`.
        Ok(Registration { _globals: globals })
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        // SAFETY: By the type invariants the type is registered.
        unsafe { shim::rhugetlbfs_unregister_fs() };
    }
}

/// Formats into a C buffer, always NUL-terminated, truncating silently.
struct MsgBuf<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl Write for MsgBuf<'_> {
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

/// Writes `err`'s message into `msg` and returns its errno.
///
/// # Safety
///
/// `msg` must be valid for writes of `msg_len` bytes.
unsafe fn report(err: MountError<'_>, msg: *mut c_char, msg_len: usize) -> c_int {
    if msg.is_null() || msg_len == 0 {
        return EINVAL.to_errno();
    }
    // SAFETY: By the function's safety requirements.
    let buf = unsafe { core::slice::from_raw_parts_mut(msg.cast::<u8>(), msg_len) };
    let mut w = MsgBuf { buf, len: 0 };
    match err {
        MountError::Unknown => -(bindings::ENOPARAM as c_int),
        MountError::Option(e) => {
            let _ = write!(w, "{e}");
            EINVAL.to_errno()
        }
        MountError::Other(e, what) => {
            let _ = w.write_str(what);
            e.to_errno()
        }
    }
}

/// `init_fs_context`: a new [`MountCtx`]; NULL on allocation failure.
///
/// # Safety
///
/// `data` must be the pointer given to `rhugetlbfs_register_fs` by [`Registration::new`],
/// while still registered.
#[no_mangle]
pub(crate) unsafe extern "C" fn rhugetlbfs_rs_init_fs_context(data: *mut c_void) -> *mut c_void {
    if data.is_null() {
        return ptr::null_mut();
    }
    // SAFETY: By the safety requirements `data` comes from `Arc::as_ptr` of a live
    // `Arc<FsGlobals>`.
    let globals: Arc<FsGlobals> = unsafe { ArcBorrow::from_raw(data as *const FsGlobals) }.into();
    match KBox::new(MountCtx::new(globals), GFP_KERNEL) {
        Ok(b) => KBox::into_raw(b).cast(),
        Err(_) => ptr::null_mut(),
    }
}

/// `fs_context_operations::free`.
///
/// # Safety
///
/// `ctx` must be NULL or a pointer returned by [`rhugetlbfs_rs_init_fs_context`], not used
/// again.
#[no_mangle]
pub(crate) unsafe extern "C" fn rhugetlbfs_rs_free_fs_context(ctx: *mut c_void) {
    if !ctx.is_null() {
        // SAFETY: By the safety requirements we own the box.
        drop(unsafe { KBox::from_raw(ctx.cast::<MountCtx>()) });
    }
}

/// `fs_context_operations::parse_param`: 0, `-ENOPARAM` for options not ours, or an error
/// with its one-line message in `msg`.
///
/// # Safety
///
/// `ctx` must come from [`rhugetlbfs_rs_init_fs_context`] and not be used concurrently;
/// `key` valid for `key_len` bytes; `value` NULL or valid for `value_len` bytes; `msg`
/// valid for writes of `msg_len` bytes.
#[no_mangle]
pub(crate) unsafe extern "C" fn rhugetlbfs_rs_parse_param(
    ctx: *mut c_void,
    key: *const c_char,
    key_len: usize,
    value: *const c_char,
    value_len: usize,
    msg: *mut c_char,
    msg_len: usize,
) -> c_int {
    // SAFETY: By the safety requirements.
    let ctx = unsafe { &mut *ctx.cast::<MountCtx>() };
    // SAFETY: By the safety requirements.
    let key = unsafe { core::slice::from_raw_parts(key.cast::<u8>(), key_len) };
    let value = if value.is_null() {
        None
    } else {
        // SAFETY: By the safety requirements.
        Some(unsafe { core::slice::from_raw_parts(value.cast::<u8>(), value_len) })
    };
    match ctx.parse_param(key, value) {
        Ok(()) => 0,
        // SAFETY: `msg` as required above.
        Err(e) => unsafe { report(e, msg, msg_len) },
    }
}

/// The mount of `sb`.
///
/// # Safety
///
/// `sb` must be a live super block of this filesystem whose `fill_super` succeeded.
pub(super) unsafe fn sb_info<'a>(sb: *const bindings::super_block) -> &'a SuperInfo {
    // SAFETY: `s_fs_info` holds an `Arc<SuperInfo>` reference from `fill_super` until
    // `kill_sb`, which runs after every other callback of the super block.
    unsafe { &*((*sb).s_fs_info as *const SuperInfo) }
}

/// A counted reference to the mount of `sb` (for state that may outlive a callback, such
/// as the private pages of a mapping).
///
/// # Safety
///
/// As [`sb_info`].
pub(super) unsafe fn sb_arc(sb: *const bindings::super_block) -> Arc<SuperInfo> {
    // SAFETY: `s_fs_info` holds an `Arc<SuperInfo>` reference (see `sb_info`), so the
    // pointer came from `Arc::into_raw` and the object is alive; the borrow is turned into
    // a new reference at once.
    Arc::from(unsafe { ArcBorrow::from_raw((*sb).s_fs_info as *const SuperInfo) })
}

/// `fill_super` (from `get_tree_nodev`): sets up the super block and the root directory.
///
/// # Safety
///
/// `sb` must be a new super block being filled, `ctx` a context from
/// [`rhugetlbfs_rs_init_fs_context`], `msg` valid for writes of `msg_len` bytes.
#[no_mangle]
pub(crate) unsafe extern "C" fn rhugetlbfs_rs_fill_super(
    sb: *mut bindings::super_block,
    ctx: *mut c_void,
    msg: *mut c_char,
    msg_len: usize,
) -> c_int {
    // SAFETY: By the safety requirements.
    let ctx = unsafe { &*ctx.cast::<MountCtx>() };
    let info = match ctx.new_super() {
        Ok(info) => info,
        // SAFETY: `msg` as required above.
        Err(e) => return unsafe { report(e, msg, msg_len) },
    };
    let opts = *ctx.options();
    // SAFETY: `sb` is a new super block that only this thread sees until `fill_super`
    // returns; `kill_sb` releases the `Arc` reference stored in `s_fs_info`.
    unsafe {
        (*sb).s_maxbytes = i64::MAX;
        (*sb).s_blocksize = info.page_size() as _;
        (*sb).s_blocksize_bits = info.page_shift() as u8;
        (*sb).s_magic = bindings::HUGETLBFS_MAGIC as _;
        (*sb).s_op = &SUPER_OPS.0;
        (*sb).s_time_gran = 1;
        (*sb).s_fs_info = Arc::into_raw(info) as *mut c_void;
    }
    let mode = u32::from(opts.mode) | bindings::S_IFDIR;
    // SAFETY: `sb` has its `s_fs_info` set above; no parent for the root; the idmap of a
    // root inode is `nop_mnt_idmap` as upstream.
    // The root counts against `nr_inodes`, so `nr_inodes=0` fails here: `ENOMEM`, as
    // upstream's `hugetlbfs_fill_super` for any root inode failure.
    let root = match unsafe { new_inode(sb, ptr::null_mut(), mode, 0) } {
        Ok(inode) => inode,
        Err(_) => return ENOMEM.to_errno(),
    };
    // SAFETY: `root` is the new inode, ours to set up.
    let ok = unsafe {
        shim::rhugetlbfs_make_ids(
            root,
            opts.uid.unwrap_or(0),
            opts.uid.is_some(),
            opts.gid.unwrap_or(0),
            opts.gid.is_some(),
        )
    };
    // SAFETY: `d_make_root` consumes the inode reference (dropping it on failure).
    let dentry = unsafe { bindings::d_make_root(root) };
    if dentry.is_null() {
        return ENOMEM.to_errno();
    }
    // SAFETY: `sb` is ours to fill; on failure the VFS releases `s_root` with the sb.
    unsafe { (*sb).s_root = dentry };
    if !ok {
        // SAFETY: `msg` as required above.
        return unsafe {
            report(
                MountError::Other(EINVAL, "uid or gid not valid in this namespace"),
                msg,
                msg_len,
            )
        };
    }
    0
}

/// `kill_sb`, after `kill_litter_super`: drops the mount's [`SuperInfo`].
///
/// # Safety
///
/// `info` must be the `s_fs_info` of a super block that is gone.
#[no_mangle]
pub(crate) unsafe extern "C" fn rhugetlbfs_rs_put_super(info: *mut c_void) {
    // SAFETY: By the safety requirements this is the reference `fill_super` stored.
    drop(unsafe { Arc::from_raw(info as *const SuperInfo) });
}

/// The data of a regular file, `None` for other inodes.
///
/// # Safety
///
/// `inode` must be a live inode of this filesystem.
pub(super) unsafe fn inode_info<'a>(inode: *const bindings::inode) -> Option<&'a InodeInfo> {
    // SAFETY: `i_private` of our regular files holds a pinned `InodeInfo` box from
    // `new_inode` until `evict_inode`, after the last user of the inode.
    unsafe { ((*inode).i_private as *const InodeInfo).as_ref() }
}

/// Creates an inode of `mode` on `sb` (upstream `hugetlbfs_get_inode`), counted against
/// `nr_inodes`, owned as `inode_init_owner` says for `dir`.
///
/// # Safety
///
/// `sb` must be a live super block of this filesystem with `s_fs_info` set; `dir` NULL or a
/// directory inode of it.
unsafe fn new_inode(
    sb: *mut bindings::super_block,
    dir: *mut bindings::inode,
    mode: u32,
    dev: u32,
) -> Result<*mut bindings::inode> {
    // SAFETY: By the safety requirements.
    let info = unsafe { sb_info(sb) };
    let data = if mode & bindings::S_IFMT == bindings::S_IFREG {
        Some(InodeInfo::new()?)
    } else {
        None
    };
    info.take_inode()?;
    // SAFETY: `sb` is live.
    let inode = unsafe { bindings::new_inode(sb) };
    if inode.is_null() {
        info.put_inode();
        return Err(ENOMEM);
    }
    // SAFETY: `inode` is new and not yet visible to anyone else; `dir` as required.
    unsafe {
        (*inode).i_ino = bindings::get_next_ino() as _;
        bindings::inode_init_owner(
            ptr::addr_of_mut!(bindings::nop_mnt_idmap),
            inode,
            dir,
            mode as _,
        );
        bindings::simple_inode_init_ts(inode);
        match mode & bindings::S_IFMT {
            bindings::S_IFREG => {
                shim::rhugetlbfs_inode_set_ops(inode, &FILE_IOPS.0, &FILE_FOPS.0);
                if let Some(data) = data {
                    // Freed in `rh_evict_inode`; the box is never moved out of.
                    (*inode).i_private = KBox::into_raw(Pin::into_inner_unchecked(data)).cast();
                }
            }
            bindings::S_IFDIR => {
                shim::rhugetlbfs_inode_set_ops(
                    inode,
                    &DIR_IOPS.0,
                    &bindings::simple_dir_operations,
                );
                // A directory's own "." link.
                bindings::inc_nlink(inode);
            }
            bindings::S_IFLNK => {
                shim::rhugetlbfs_inode_set_ops(inode, &SYMLINK_IOPS.0, ptr::null())
            }
            _ => {
                shim::rhugetlbfs_inode_set_ops(inode, &FILE_IOPS.0, ptr::null());
                bindings::init_special_inode(inode, mode as _, dev);
            }
        }
    }
    Ok(inode)
}

/// `mknod` (also behind `create`, `mkdir`): a new inode instantiated at `dentry`, pinned in
/// the dcache as in ramfs.
///
/// # Safety
///
/// VFS callback contract: `dir` is a locked directory of ours, `dentry` a negative dentry in
/// it.
unsafe extern "C" fn rh_mknod(
    _idmap: *mut bindings::mnt_idmap,
    dir: *mut bindings::inode,
    dentry: *mut bindings::dentry,
    mode: bindings::umode_t,
    dev: bindings::dev_t,
) -> c_int {
    // SAFETY: By the callback contract `dir` is ours.
    match unsafe { new_inode((*dir).i_sb, dir, u32::from(mode), dev) } {
        Ok(inode) => {
            // SAFETY: `inode` is new; `dentry` is negative; the extra dentry reference
            // keeps it in the dcache (dropped by `kill_litter_super` or unlink/rmdir).
            unsafe {
                shim::rhugetlbfs_instantiate_pinned(dir, dentry, inode);
            }
            0
        }
        Err(e) => e.to_errno(),
    }
}

/// `create`: a regular file.
///
/// # Safety
///
/// As [`rh_mknod`].
unsafe extern "C" fn rh_create(
    idmap: *mut bindings::mnt_idmap,
    dir: *mut bindings::inode,
    dentry: *mut bindings::dentry,
    mode: bindings::umode_t,
    _excl: bool,
) -> c_int {
    // SAFETY: Same contract.
    unsafe { rh_mknod(idmap, dir, dentry, mode | bindings::S_IFREG as u16, 0) }
}

/// `mkdir`.
///
/// # Safety
///
/// As [`rh_mknod`].
unsafe extern "C" fn rh_mkdir(
    idmap: *mut bindings::mnt_idmap,
    dir: *mut bindings::inode,
    dentry: *mut bindings::dentry,
    mode: bindings::umode_t,
) -> c_int {
    // SAFETY: Same contract.
    let ret = unsafe { rh_mknod(idmap, dir, dentry, mode | bindings::S_IFDIR as u16, 0) };
    if ret == 0 {
        // SAFETY: `dir` is locked by the VFS; the new ".." link.
        unsafe { bindings::inc_nlink(dir) };
    }
    ret
}

/// `symlink`: the target is kept in `i_link` (freed in `free_inode`).
///
/// # Safety
///
/// As [`rh_mknod`]; `target` a NUL-terminated string.
unsafe extern "C" fn rh_symlink(
    _idmap: *mut bindings::mnt_idmap,
    dir: *mut bindings::inode,
    dentry: *mut bindings::dentry,
    target: *const c_char,
) -> c_int {
    // SAFETY: `target` is a NUL-terminated string from the VFS.
    let link = unsafe { bindings::kstrdup(target, bindings::GFP_KERNEL) };
    if link.is_null() {
        return ENOMEM.to_errno();
    }
    // SAFETY: By the callback contract.
    match unsafe { new_inode((*dir).i_sb, dir, bindings::S_IFLNK | 0o777, 0) } {
        Ok(inode) => {
            // SAFETY: `inode` is new and a symlink; as in `rh_mknod`.
            unsafe {
                (*inode).__bindgen_anon_4.i_link = link;
                (*inode).i_size = bindings::strlen(link) as i64;
                shim::rhugetlbfs_instantiate_pinned(dir, dentry, inode);
            }
            0
        }
        Err(e) => {
            // SAFETY: `link` came from `kstrdup` and is not referenced.
            unsafe { bindings::kfree(link.cast()) };
            e.to_errno()
        }
    }
}

/// `setattr` (upstream `hugetlbfs_setattr`): generic checks; a size change must be a
/// multiple of the huge page size.
///
/// # Safety
///
/// VFS callback contract: `dentry` is positive and its inode locked.
unsafe extern "C" fn rh_setattr(
    idmap: *mut bindings::mnt_idmap,
    dentry: *mut bindings::dentry,
    attr: *mut bindings::iattr,
) -> c_int {
    // SAFETY: By the callback contract.
    let ret = unsafe { bindings::setattr_prepare(idmap, dentry, attr) };
    if ret != 0 {
        return ret;
    }
    // SAFETY: By the callback contract `dentry` is positive and `attr` valid.
    let (inode, valid, size) = unsafe { ((*dentry).d_inode, (*attr).ia_valid, (*attr).ia_size) };
    // SAFETY: `inode` is a live inode of ours.
    let info = unsafe { sb_info((*inode).i_sb) };
    if valid & bindings::ATTR_SIZE != 0 {
        if size < 0 || (size as u64) & (info.page_size() - 1) != 0 {
            return EINVAL.to_errno();
        }
        // SAFETY: The inode is locked by the VFS; `truncate_setsize` sets the size, then
        // unmaps everything past it in every mapping.
        let (mapping, ino) = unsafe {
            bindings::truncate_setsize(inode, size);
            ((*inode).i_mapping, (*inode).i_ino as u64)
        };
        // Every page at or past the new size goes, even when the size does not shrink
        // (pages preallocated past it with KEEP_SIZE), as upstream's `hugetlb_vmtruncate`.
        // SAFETY: `inode` is live.
        if let Some(data) = unsafe { inode_info(inode) } {
            let hsize = info.page_size();
            let shift = info.page_shift();
            data.remove_from(info, ino, (size as u64) >> shift, |idx| {
                // SAFETY: `mapping` is the live inode's; a fault that raced with the size
                // change may have mapped the page again.
                unsafe {
                    bindings::unmap_mapping_range(mapping, (idx << shift) as i64, hsize as i64, 1)
                }
            });
        }
    }
    // SAFETY: By the callback contract.
    unsafe { bindings::setattr_copy(idmap, inode, attr) };
    0
}

/// `read_iter` (upstream `hugetlbfs_read_iter`): the pages' contents, zeros for holes, up
/// to `i_size`.
///
/// # Safety
///
/// VFS callback contract: `iocb` and `to` are valid for the call.
unsafe extern "C" fn rh_read_iter(
    iocb: *mut bindings::kiocb,
    to: *mut bindings::iov_iter,
) -> isize {
    // SAFETY: By the callback contract.
    let inode = unsafe { (*(*iocb).ki_filp).f_inode };
    // SAFETY: The open file holds the inode.
    let (sb, data, ino) = unsafe {
        (
            sb_info((*inode).i_sb),
            inode_info(inode),
            (*inode).i_ino as u64,
        )
    };
    let hsize = sb.page_size();
    let mut bounce = KVec::<u8>::new();
    if data.is_some() && bounce.extend_with(READ_CHUNK, 0, GFP_KERNEL).is_err() {
        return ENOMEM.to_errno() as isize;
    }
    let mut total = 0usize;
    loop {
        // SAFETY: As above; a racy `i_size` read, as `i_size_read` on 64-bit.
        let (size, pos) = unsafe {
            (
                ptr::read_volatile(ptr::addr_of!((*inode).i_size)),
                (*iocb).ki_pos,
            )
        };
        // SAFETY: `to` is valid for the call.
        let left = unsafe { shim::rhugetlbfs_iov_iter_count(to) };
        if pos >= size || left == 0 {
            break;
        }
        let pos = pos as u64;
        let idx = pos >> sb.page_shift();
        let off = pos & (hsize - 1);
        let n = (hsize - off)
            .min(size as u64 - pos)
            .min(left as u64)
            .min(READ_CHUNK as u64) as usize;
        // The page is copied into `bounce` under its fault mutex (so truncation cannot free
        // it meanwhile), and to user memory only after: a user page fault takes the mmap
        // lock, which the fault path holds when it takes a fault mutex.
        let found = {
            let _fault = sb.fault_lock(ino, idx);
            match data.and_then(|d| d.lookup(idx)) {
                Some(pfn) => {
                    // SAFETY: The page stays in the file while we hold its fault mutex;
                    // `bounce` has `READ_CHUNK >= n` bytes.
                    unsafe {
                        shim::rhugetlbfs_copy_from_page(
                            pfn,
                            off as _,
                            bounce.as_mut_ptr().cast(),
                            n,
                        )
                    };
                    true
                }
                None => false,
            }
        };
        let done = if found {
            // SAFETY: `bounce` holds `n` initialised bytes; `to` is valid for the call.
            unsafe { shim::rhugetlbfs_copy_to_iter(bounce.as_ptr().cast(), n, to) }
        } else {
            // SAFETY: `to` is valid for the call.
            unsafe { bindings::iov_iter_zero(n, to) }
        };
        // SAFETY: `iocb` is valid for the call.
        unsafe { (*iocb).ki_pos += done as i64 };
        total += done;
        if done < n {
            if total == 0 {
                return EFAULT.to_errno() as isize;
            }
            break;
        }
    }
    total as isize
}

/// `FALLOC_FL_KEEP_SIZE` and `FALLOC_FL_PUNCH_HOLE` (uapi `linux/falloc.h`).
const FALLOC_FL_KEEP_SIZE: c_int = 0x01;
const FALLOC_FL_PUNCH_HOLE: c_int = 0x02;

/// `fallocate` (upstream `hugetlbfs_fallocate`): 0 and `KEEP_SIZE` preallocate whole huge
/// pages around the range (zeroed); `PUNCH_HOLE | KEEP_SIZE` frees the whole pages inside
/// it (unmapping them) and zeroes the partial ones at its ends. Other modes `EOPNOTSUPP`.
///
/// # Safety
///
/// VFS callback contract: `file` is an open regular file of ours.
unsafe extern "C" fn rh_fallocate(
    file: *mut bindings::file,
    mode: c_int,
    offset: i64,
    len: i64,
) -> kernel::ffi::c_long {
    if mode & !(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE) != 0 || mode == FALLOC_FL_PUNCH_HOLE {
        return -(bindings::EOPNOTSUPP as kernel::ffi::c_long);
    }
    if offset < 0 || len <= 0 || offset.checked_add(len).is_none() {
        return EINVAL.to_errno() as _;
    }
    // SAFETY: The open file holds the inode.
    let inode = unsafe { (*file).f_inode };
    // SAFETY: `inode` is a live inode of ours.
    let (sb, data, ino) = unsafe {
        (
            sb_info((*inode).i_sb),
            inode_info(inode),
            (*inode).i_ino as u64,
        )
    };
    let Some(data) = data else {
        return ENODEV.to_errno() as _;
    };
    let shift = sb.page_shift();
    let hsize = sb.page_size();
    let (start, end) = (offset as u64, (offset + len) as u64);
    // SAFETY: `i_rwsem` is the inode lock (upstream `inode_lock`), held for the whole call.
    unsafe { bindings::down_write(ptr::addr_of_mut!((*inode).i_rwsem)) };
    let ret = if mode & FALLOC_FL_PUNCH_HOLE != 0 {
        // Upstream `hugetlbfs_punch_hole`: whole pages in the hole are unmapped and freed,
        // the bytes of partial pages at either end zeroed in place. Not bounded by `i_size`:
        // pages preallocated past it with KEEP_SIZE are punched too.
        let hole_start = start.next_multiple_of(hsize);
        let hole_end = end & !(hsize - 1);
        // The head: `[start, min(end, hole_start))`, inside one page.
        if start < hole_start {
            let head_end = end.min(hole_start);
            data.zero_partial(
                sb,
                ino,
                start >> shift,
                start & (hsize - 1),
                (head_end - start) as usize,
            );
        }
        // The tail: `[hole_end, end)`, unless the head already covered it.
        if end > hole_end && end > hole_start {
            data.zero_partial(sb, ino, hole_end >> shift, 0, (end - hole_end) as usize);
        }
        if hole_start < hole_end {
            // SAFETY: `inode` is live; the pages are unmapped before being freed, and
            // again under each fault mutex.
            let mapping = unsafe { (*inode).i_mapping };
            let unmap = |from: u64, n: u64| {
                // SAFETY: `mapping` is the live inode's.
                unsafe {
                    bindings::unmap_mapping_range(
                        mapping,
                        (from << shift) as i64,
                        (n << shift) as i64,
                        1,
                    )
                }
            };
            unmap(hole_start >> shift, (hole_end - hole_start) >> shift);
            data.punch(sb, ino, hole_start >> shift, hole_end >> shift, |idx| {
                unmap(idx, 1)
            });
        }
        Ok(())
    } else {
        // SAFETY: `inode` is live and locked.
        let ok = unsafe { bindings::inode_newsize_ok(inode, end as i64) };
        kernel::error::to_result(ok)
            .and_then(|()| {
                data.prealloc(sb, ino, start >> shift, (end + hsize - 1) >> shift, || {
                    kernel::current!().signal_pending()
                })
            })
            .map(|()| {
                // SAFETY: `inode` is live and locked.
                unsafe {
                    if mode & FALLOC_FL_KEEP_SIZE == 0 && (*inode).i_size < end as i64 {
                        (*inode).i_size = end as i64;
                    }
                }
            })
    };
    // SAFETY: Taken above.
    unsafe { bindings::up_write(ptr::addr_of_mut!((*inode).i_rwsem)) };
    match ret {
        Ok(()) => 0,
        Err(e) => e.to_errno() as _,
    }
}

/// How much `read` copies per step through its bounce buffer.
const READ_CHUNK: usize = 64 * 1024;

/// `statfs` (upstream `hugetlbfs_statfs`).
///
/// # Safety
///
/// VFS callback contract: `dentry` is of a live super block of ours, `buf` writable.
unsafe extern "C" fn rh_statfs(
    dentry: *mut bindings::dentry,
    buf: *mut bindings::kstatfs,
) -> c_int {
    // SAFETY: By the callback contract.
    let info = unsafe { sb_info((*dentry).d_sb) };
    let s = info.statfs();
    // SAFETY: `buf` is writable.
    unsafe { shim::rhugetlbfs_fill_statfs(buf, s.bsize, s.blocks, s.bfree, s.files, s.ffree) };
    0
}

/// Writes formatted text to a `seq_file`.
struct SeqWriter(*mut bindings::seq_file);

impl Write for SeqWriter {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        // SAFETY: `self.0` is the live seq_file of a `show_options` call.
        unsafe { bindings::seq_write(self.0, s.as_ptr().cast(), s.len()) };
        Ok(())
    }
}

/// `show_options` (upstream `hugetlbfs_show_options`).
///
/// # Safety
///
/// VFS callback contract: `m` is a live seq_file, `root` the root of a mount of ours.
unsafe extern "C" fn rh_show_options(
    m: *mut bindings::seq_file,
    root: *mut bindings::dentry,
) -> c_int {
    // SAFETY: By the callback contract.
    let (info, uid, gid) = unsafe {
        let sb = (*root).d_sb;
        let inode = (*(*sb).s_root).d_inode;
        (
            sb_info(sb),
            shim::rhugetlbfs_uid_shown(inode),
            shim::rhugetlbfs_gid_shown(inode),
        )
    };
    let _ = info.show_options(&mut SeqWriter(m), uid, gid);
    0
}

/// `evict_inode`: the inode's count goes back to `nr_inodes`.
///
/// # Safety
///
/// VFS callback contract: `inode` is being evicted.
unsafe extern "C" fn rh_evict_inode(inode: *mut bindings::inode) {
    // SAFETY: By the callback contract.
    unsafe {
        let info = sb_info((*inode).i_sb);
        if let Some(data) = inode_info(inode) {
            // No mapping is left (a mapping holds its file, hence the inode).
            data.remove_from(info, (*inode).i_ino as u64, 0, |_| ());
            (*inode).i_private = ptr::null_mut();
            drop(Pin::new_unchecked(KBox::from_raw(
                data as *const InodeInfo as *mut InodeInfo,
            )));
        }
        bindings::truncate_inode_pages_final(ptr::addr_of_mut!((*inode).i_data));
        bindings::clear_inode(inode);
        info.put_inode();
    }
}

/// `free_inode` (after an RCU grace period): frees a symlink's target, then the inode.
///
/// # Safety
///
/// VFS callback contract: `inode` is dead and no RCU walker can see it.
unsafe extern "C" fn rh_free_inode(inode: *mut bindings::inode) {
    // SAFETY: By the callback contract; `i_link` is only set on our symlinks, by
    // `rh_symlink`, from `kstrdup`.
    unsafe {
        if u32::from((*inode).i_mode) & bindings::S_IFMT == bindings::S_IFLNK {
            bindings::kfree((*inode).__bindgen_anon_4.i_link.cast());
        }
        bindings::free_inode_nonrcu(inode);
    }
}

static SUPER_OPS: Table<bindings::super_operations> = Table(bindings::super_operations {
    statfs: Some(rh_statfs),
    show_options: Some(rh_show_options),
    evict_inode: Some(rh_evict_inode),
    free_inode: Some(rh_free_inode),
    drop_inode: Some(bindings::generic_delete_inode),
    // SAFETY: The other callbacks are optional; all-zero is "none".
    ..unsafe { core::mem::zeroed() }
});

static DIR_IOPS: Table<bindings::inode_operations> = Table(bindings::inode_operations {
    lookup: Some(bindings::simple_lookup),
    create: Some(rh_create),
    link: Some(bindings::simple_link),
    unlink: Some(bindings::simple_unlink),
    symlink: Some(rh_symlink),
    mkdir: Some(rh_mkdir),
    rmdir: Some(bindings::simple_rmdir),
    mknod: Some(rh_mknod),
    rename: Some(bindings::simple_rename),
    setattr: Some(rh_setattr),
    // SAFETY: The other callbacks are optional; all-zero is "none".
    ..unsafe { core::mem::zeroed() }
});

static FILE_IOPS: Table<bindings::inode_operations> = Table(bindings::inode_operations {
    setattr: Some(rh_setattr),
    // SAFETY: The other callbacks are optional; all-zero is "none".
    ..unsafe { core::mem::zeroed() }
});

static SYMLINK_IOPS: Table<bindings::inode_operations> = Table(bindings::inode_operations {
    get_link: Some(bindings::simple_get_link),
    setattr: Some(rh_setattr),
    // SAFETY: The other callbacks are optional; all-zero is "none".
    ..unsafe { core::mem::zeroed() }
});

static FILE_FOPS: Table<bindings::file_operations> = Table(bindings::file_operations {
    read_iter: Some(rh_read_iter),
    llseek: Some(bindings::default_llseek),
    fsync: Some(bindings::noop_fsync),
    mmap: Some(super::vma::rh_mmap),
    fallocate: Some(rh_fallocate),
    get_unmapped_area: Some(super::vma::rh_get_unmapped_area),
    // SAFETY: The other fields are optional or zero by default (`owner` is not needed: the
    // super block pins the module).
    ..unsafe { core::mem::zeroed() }
});

/// `rhugetlbfs_make_ids` and friends take ids as `u32`, the C `u32` of `kuid_t`.
const _: () = assert!(core::mem::size_of::<c_uint>() == 4);
