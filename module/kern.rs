// SPDX-License-Identifier: GPL-2.0

//! The thin unsafe layer: every `bindings::` call and C-struct access of the module.
//!
//! Each submodule wraps one C concept in small safe types whose `# Invariants` say what
//! they guarantee; the hugetlb logic above this layer is safe Rust.

pub(crate) mod kobject;
pub(crate) mod mm;
pub(crate) mod numa;
pub(crate) mod page;
pub(crate) mod params;
mod shim;
pub(crate) mod vec;
pub(crate) mod vfs;
pub(crate) mod work;
