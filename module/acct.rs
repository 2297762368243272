// SPDX-License-Identifier: GPL-2.0

//! The accounting core, compiled into the module from `module/acct/src`.
//!
//! These files have no kernel dependency and are also built on the host as the
//! `rhugetlbfs-acct` crate, where `cargo test` runs their unit and property tests. Siblings
//! refer to each other through `super::`, so they work under this parent module too. Not
//! every item is used by the module yet (the host tests use them all).
#![allow(dead_code, unreachable_pub)]

#[path = "acct/src/gigantic.rs"]
pub(crate) mod gigantic;
#[path = "acct/src/hstate.rs"]
pub(crate) mod hstate;
#[path = "acct/src/parse.rs"]
pub(crate) mod parse;
#[path = "acct/src/region.rs"]
pub(crate) mod region;
#[path = "acct/src/stats.rs"]
pub(crate) mod stats;
#[path = "acct/src/subpool.rs"]
pub(crate) mod subpool;
