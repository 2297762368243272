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
#include <linux/gfp.h>
#include <linux/highmem.h>
#include <linux/mm.h>
#include <linux/sched.h>
#include <linux/memory_hotplug.h>
#include <linux/mmzone.h>
#include <linux/nodemask.h>
#include <linux/page-flags.h>

#include "shim.h"

/* Default huge page size in kB for mounts without pagesize= (2048 or 1048576). */
static unsigned long default_hugepagesz_kb = 2048;
module_param(default_hugepagesz_kb, ulong, 0444);
MODULE_PARM_DESC(default_hugepagesz_kb, "Default huge page size in kB: 2048 or 1048576");

/* Pool sizes to allocate at load, like the hugepages= boot parameter per size. */
static unsigned long hugepages_2m;
module_param(hugepages_2m, ulong, 0444);
MODULE_PARM_DESC(hugepages_2m, "2 MiB pages to allocate at load");

static unsigned long hugepages_1g;
module_param(hugepages_1g, ulong, 0444);
MODULE_PARM_DESC(hugepages_1g, "1 GiB pages to allocate at load");

unsigned long rhugetlbfs_param_default_hugepagesz_kb(void)
{
	return READ_ONCE(default_hugepagesz_kb);
}

unsigned long rhugetlbfs_param_hugepages(unsigned int order)
{
	switch (order) {
	case PMD_ORDER:
		return READ_ONCE(hugepages_2m);
	case PUD_ORDER:
		return READ_ONCE(hugepages_1g);
	default:
		return 0;
	}
}

/* ---- Pages (kern/page.rs) ---- */

unsigned long rhugetlbfs_alloc_buddy(int nid, unsigned int order, bool noretry)
{
	/*
	 * As alloc_buddy_hugetlb_folio(): this node only, no warning on failure, and retry
	 * hard only until a node has failed once (then __GFP_NORETRY avoids reclaim storms).
	 */
	gfp_t gfp = GFP_HIGHUSER | __GFP_COMP | __GFP_THISNODE | __GFP_NOWARN;
	struct page *page;

	gfp |= noretry ? __GFP_NORETRY : __GFP_RETRY_MAYFAIL;
	page = alloc_pages_node(nid, gfp, order);
	return page ? page_to_pfn(page) : RH_NO_PFN;
}

void rhugetlbfs_free_buddy(unsigned long pfn, unsigned int order)
{
	__free_pages(pfn_to_page(pfn), order);
}

int rhugetlbfs_alloc_contig(unsigned long start_pfn, unsigned long nr_pages)
{
	return alloc_contig_range(start_pfn, start_pfn + nr_pages, MIGRATE_MOVABLE,
				  GFP_HIGHUSER | __GFP_NOWARN);
}

int rhugetlbfs_pfn_to_nid(unsigned long pfn)
{
	return page_to_nid(pfn_to_page(pfn));
}

void rhugetlbfs_cond_resched(void)
{
	cond_resched();
}

/* ---- NUMA nodes, zones and page frames (kern/numa.rs) ---- */

unsigned long rhugetlbfs_memory_nodes(void)
{
	/* MAX_NUMNODES <= BITS_PER_LONG is checked at build time below. */
	return node_states[N_MEMORY].bits[0];
}
static_assert(MAX_NUMNODES <= BITS_PER_LONG);

int rhugetlbfs_nr_zones(void)
{
	return MAX_NR_ZONES;
}

int rhugetlbfs_zone_span(int nid, int zone_idx, unsigned long *start_pfn, unsigned long *end_pfn)
{
	struct zone *zone;

	if (nid < 0 || nid >= MAX_NUMNODES || !node_online(nid) || zone_idx < 0 ||
	    zone_idx >= MAX_NR_ZONES)
		return -EINVAL;
	zone = &NODE_DATA(nid)->node_zones[zone_idx];
	if (!populated_zone(zone))
		return -ENOENT;
	*start_pfn = zone->zone_start_pfn;
	*end_pfn = zone_end_pfn(zone);
	return 0;
}

/*
 * What alloc_contig_range() would make of one page frame: the oracle behind the module's
 * own 1 GiB candidate search (acct::gigantic). The values are RH_PFN_* in shim.h; *nr_pages
 * gets how many frames from pfn on are known to share the state. Lock-free and racy by
 * design, as pfn_range_valid_contig(): alloc_contig_range() has the final word.
 */
int rhugetlbfs_pfn_info(unsigned long pfn, int nid, int zone_idx, unsigned long *nr_pages)
{
	struct page *page = pfn_to_online_page(pfn);
	struct page *head;
	unsigned long order;

	*nr_pages = 1;
	if (!page) {
		/* Online-ness is per memory section: skip the rest of it. */
		*nr_pages = PAGES_PER_SECTION - (pfn & (PAGES_PER_SECTION - 1));
		return RH_PFN_HOLE;
	}
	if (page_to_nid(page) != nid || page_zonenum(page) != zone_idx)
		return RH_PFN_OTHER_ZONE;
	if (PageReserved(page))
		return RH_PFN_RESERVED;
	if (PageHuge(page))
		return RH_PFN_HUGE;
	if (PageBuddy(page)) {
		order = page_private(page);
		if (order <= MAX_PAGE_ORDER && IS_ALIGNED(pfn, 1UL << order))
			*nr_pages = 1UL << order;
		return RH_PFN_FREE;
	}
	if (PageCompound(page)) {
		head = compound_head(page);
		order = compound_order(head);
		if (order >= pageblock_order)
			return RH_PFN_HUGE;
		*nr_pages = page_to_pfn(head) + (1UL << order) - pfn;
		return (PageSlab(head) || folio_maybe_dma_pinned(page_folio(head))) ?
			       RH_PFN_UNMOVABLE : RH_PFN_MOVABLE;
	}
	/* Free pages on per-cpu lists and the tails of free buddy blocks have no references. */
	if (!page_count(page))
		return RH_PFN_FREE;
	/* Certainly unmovable: slab, page tables, pages pinned for DMA. */
	if (PageSlab(page) || PageTable(page) || folio_maybe_dma_pinned(page_folio(page)))
		return RH_PFN_UNMOVABLE;
	/*
	 * Anything else in use (LRU pages, movable_ops pages, pages between lists) may
	 * migrate: alloc_contig_range() tries, and a failure is remembered for a while.
	 */
	return RH_PFN_MOVABLE;
}
