// SPDX-License-Identifier: GPL-2.0
/*
 * The C half of rhugetlbfs.ko: what the 6.12 kernel crate cannot express.
 *
 * - Module parameters (6.12's Rust `module!` macro has none).
 * - Wrappers for static inline functions and macros that bindgen does not turn into
 *   callable symbols. Each is prefixed rhugetlbfs_ and wrapped once on the Rust side
 *   (module/shim.rs); nothing else in the crate calls these directly.
 */
#include <linux/module.h>
#include <linux/moduleparam.h>

#include "shim.h"

/* Default huge page size in kB for mounts without pagesize= (2048 or 1048576). */
static unsigned long default_hugepagesz_kb = 2048;
module_param(default_hugepagesz_kb, ulong, 0444);
MODULE_PARM_DESC(default_hugepagesz_kb, "Default huge page size in kB: 2048 or 1048576");

unsigned long rhugetlbfs_param_default_hugepagesz_kb(void)
{
	return READ_ONCE(default_hugepagesz_kb);
}
