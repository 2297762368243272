// SPDX-License-Identifier: GPL-2.0

//! What `KVec` lacks in 6.12.

use kernel::prelude::*;

/// Removes and returns the last element (`Vec::pop`).
pub(crate) fn pop<T>(v: &mut KVec<T>) -> Option<T> {
    let len = v.len().checked_sub(1)?;
    // SAFETY: `len < v.len()`, so the element at `len` is initialised; shrinking the length
    // first hands its ownership to us, and it is read exactly once.
    unsafe {
        v.set_len(len);
        Some(core::ptr::read(v.as_ptr().add(len)))
    }
}
