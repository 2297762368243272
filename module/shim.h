/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Functions of shim.c called from Rust (declared again, once, in shim.rs).
 */
#ifndef RHUGETLBFS_SHIM_H
#define RHUGETLBFS_SHIM_H

#include <linux/types.h>

unsigned long rhugetlbfs_param_default_hugepagesz_kb(void);
unsigned long rhugetlbfs_param_hugepages(unsigned int order);

/* What rhugetlbfs_alloc_buddy() returns on failure. */
#define RH_NO_PFN (~0UL)

unsigned long rhugetlbfs_alloc_buddy(int nid, unsigned int order, bool noretry);
void rhugetlbfs_free_buddy(unsigned long pfn, unsigned int order);
int rhugetlbfs_alloc_contig(unsigned long start_pfn, unsigned long nr_pages);
int rhugetlbfs_pfn_to_nid(unsigned long pfn);
void rhugetlbfs_cond_resched(void);

/* Page frame states for rhugetlbfs_pfn_info(); kern/numa.rs maps them to acct::gigantic. */
enum {
	RH_PFN_HOLE = 0,
	RH_PFN_OTHER_ZONE = 1,
	RH_PFN_RESERVED = 2,
	RH_PFN_HUGE = 3,
	RH_PFN_UNMOVABLE = 4,
	RH_PFN_FREE = 5,
	RH_PFN_MOVABLE = 6,
};

unsigned long rhugetlbfs_memory_nodes(void);
int rhugetlbfs_nr_zones(void);
int rhugetlbfs_zone_span(int nid, int zone_idx, unsigned long *start_pfn, unsigned long *end_pfn);
int rhugetlbfs_pfn_info(unsigned long pfn, int nid, int zone_idx, unsigned long *nr_pages);

#endif /* RHUGETLBFS_SHIM_H */
