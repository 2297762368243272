/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Functions of shim.c called from Rust (declared again, once, in shim.rs).
 */
#ifndef RHUGETLBFS_SHIM_H
#define RHUGETLBFS_SHIM_H

unsigned long rhugetlbfs_param_default_hugepagesz_kb(void);

#endif /* RHUGETLBFS_SHIM_H */
