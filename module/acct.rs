// SPDX-License-Identifier: GPL-2.0

//! The accounting core, compiled into the module from `module/acct/src`.
//!
//! These files have no kernel dependency and are also built on the host as the
//! `rhugetlbfs-acct` crate, where `cargo test` runs their unit and property tests. Siblings
//! refer to each other through `super::`, so they work under this parent module too. Items
//! only the host uses are `#[cfg(not(MODULE))]` and left out of this build (see the crate
//! docs in `acct/src/lib.rs`); everything else here is used by the module.

// The items are `pub` for the host crate's users; here the whole tree is crate-private.
#![allow(unreachable_pub)]

#[path = "acct/src/gigantic.rs"]
pub(crate) mod gigantic;
#[path = "acct/src/hstate/mod.rs"]
pub(crate) mod hstate;
#[path = "acct/src/parse/mod.rs"]
pub(crate) mod parse;
#[path = "acct/src/region/mod.rs"]
pub(crate) mod region;
#[path = "acct/src/stats.rs"]
pub(crate) mod stats;
#[path = "acct/src/subpool.rs"]
pub(crate) mod subpool;
#[path = "acct/src/zero.rs"]
pub(crate) mod zero;
