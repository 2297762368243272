// SPDX-License-Identifier: GPL-2.0

//! The accounting core, compiled into the module from `module/core/src`.
//!
//! These files have no kernel dependency and are also built on the host as the
//! `rhugetlbfs-core` crate, where `cargo test` runs their unit and property tests. Siblings
//! refer to each other through `super::`, so they work under this parent module too.
