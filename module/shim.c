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
#include <linux/sizes.h>
#include <linux/memory_hotplug.h>
#include <linux/mmzone.h>
#include <linux/nodemask.h>
#include <linux/page-flags.h>
#include <linux/fs.h>
#include <linux/fs_context.h>
#include <linux/magic.h>
#include <linux/statfs.h>
#include <linux/uio.h>
#include <linux/cred.h>
#include <linux/uidgid.h>
#include <linux/huge_mm.h>
#include <linux/pfn_t.h>
#include <linux/mman.h>
#include <linux/err.h>
#include <linux/page_ref.h>
#include <linux/workqueue.h>
#include <linux/pagemap.h>
#include <linux/xarray.h>
#include <linux/memcontrol.h>
#include <linux/kthread.h>
#include <linux/instrumented.h>
#include <linux/completion.h>
#include <linux/wait.h>
#include <linux/cpumask.h>
#include <linux/slab.h>
#include <asm/cpufeature.h>

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

/* Whether 1 GiB pages are 512 2 MiB folios (map=pmd mounts); sysfs pmd_mappable later. */
static bool pmd_mappable_1g;
module_param(pmd_mappable_1g, bool, 0444);
MODULE_PARM_DESC(pmd_mappable_1g, "Make 1 GiB pages of 2 MiB folios, for map=pmd mounts");

bool rhugetlbfs_param_pmd_mappable_1g(void)
{
	return READ_ONCE(pmd_mappable_1g);
}

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
	/*
	 * __GFP_COMP makes the range one compound page, as upstream's gigantic folios: then
	 * free_contig_range gives it back with one folio_put (whole pageblocks), not 262144
	 * __free_page calls.
	 */
	return alloc_contig_range(start_pfn, start_pfn + nr_pages, MIGRATE_MOVABLE,
				  GFP_HIGHUSER | __GFP_NOWARN | __GFP_COMP);
}

/*
 * Whether the pool holds the only reference to the huge page at pfn. Its count is frozen
 * at the pool's one reference for the check, as split and migration do, so no speculative
 * get slips in between. GUP (slow GUP takes references on PFN-mapped huge entries in 6.12),
 * pipes, O_DIRECT and io_uring hold references that outlive a mapping.
 */
bool rhugetlbfs_page_exclusive(unsigned long pfn)
{
	struct folio *folio = pfn_folio(pfn);

	if (!folio_ref_freeze(folio, 1))
		return false;
	folio_ref_unfreeze(folio, 1);
	return true;
}

/* Whether any base page of the huge page at pfn is hardware-poisoned. */
bool rhugetlbfs_page_hwpoisoned(unsigned long pfn, unsigned long nr)
{
#ifdef CONFIG_MEMORY_FAILURE
	unsigned long i;

	if (folio_test_has_hwpoisoned(pfn_folio(pfn)))
		return true;
	for (i = 0; i < nr; i++)
		if (PageHWPoison(pfn_to_page(pfn + i)))
			return true;
#endif
	return false;
}

/*
 * The draining work (pool.rs): pages freed while something else still held a reference
 * wait on their pool's draining list; this work retries them every RH_DRAIN_MS while any
 * is left. Disabled (and waited for) before the module's data goes away.
 */
#define RH_DRAIN_MS 100
static bool (*rh_drain_run)(const void *data);
static const void *rh_drain_data;
static void rh_drain_fn(struct work_struct *work);
static DECLARE_DELAYED_WORK(rh_drain_work, rh_drain_fn);

static void rh_drain_fn(struct work_struct *work)
{
	bool (*run)(const void *data) = READ_ONCE(rh_drain_run);
	const void *data = READ_ONCE(rh_drain_data);

	if (run && run(data))
		schedule_delayed_work(&rh_drain_work, msecs_to_jiffies(RH_DRAIN_MS));
}

void rhugetlbfs_drain_start(bool (*run)(const void *data), const void *data)
{
	WRITE_ONCE(rh_drain_data, data);
	WRITE_ONCE(rh_drain_run, run);
}

void rhugetlbfs_drain_kick(void)
{
	schedule_delayed_work(&rh_drain_work, msecs_to_jiffies(RH_DRAIN_MS));
}

void rhugetlbfs_drain_stop(void)
{
	disable_delayed_work_sync(&rh_drain_work);
	WRITE_ONCE(rh_drain_run, NULL);
	WRITE_ONCE(rh_drain_data, NULL);
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

/* The node of the CPU we run on (faults take pages there first, as upstream's mempolicy). */
int rhugetlbfs_numa_node_id(void)
{
	return numa_node_id();
}

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

/* ---- The filesystem type and its mount context (kern/fs.rs) ---- */

/*
 * fs_context and fs_parameter are not in the Rust bindings (fs_context.h is not included
 * there), so the file_system_type and the fs_context_operations live here; every callback
 * hands over to the Rust side's struct rh_fs_ops (kern/vfs.rs) with plain arguments.
 */

/* What the Rust side registered with the type; valid while it is registered. */
static const struct rh_fs_ops *rh_fs_ops;
static const void *rh_fs_data;

static void rh_fc_free(struct fs_context *fc)
{
	rh_fs_ops->free_fs_context(fc->fs_private);
}

static int rh_fc_parse_param(struct fs_context *fc, struct fs_parameter *param)
{
	char msg[160];
	const char *value = NULL;
	size_t len = 0;
	int ret;

	if (param->type == fs_value_is_string) {
		value = param->string;
		len = param->size;
	} else if (param->type != fs_value_is_flag) {
		return invalfc(fc, "Bad value for '%s'", param->key);
	}
	msg[0] = '\0';
	ret = rh_fs_ops->parse_param(fc->fs_private, param->key, strlen(param->key), value, len,
				     msg, sizeof(msg));
	if (ret && msg[0])
		errorfc(fc, "%s", msg);
	return ret;
}

static int rh_fill_super(struct super_block *sb, struct fs_context *fc)
{
	char msg[160];
	int ret;

	msg[0] = '\0';
	ret = rh_fs_ops->fill_super(sb, fc->fs_private, msg, sizeof(msg));
	if (ret && msg[0])
		errorfc(fc, "%s", msg);
	return ret;
}

static int rh_fc_get_tree(struct fs_context *fc)
{
	return get_tree_nodev(fc, rh_fill_super);
}

static const struct fs_context_operations rh_fc_ops = {
	.free = rh_fc_free,
	.parse_param = rh_fc_parse_param,
	.get_tree = rh_fc_get_tree,
};

static int rh_init_fs_context(struct fs_context *fc)
{
	fc->fs_private = rh_fs_ops->init_fs_context(rh_fs_data);
	if (!fc->fs_private)
		return -ENOMEM;
	fc->ops = &rh_fc_ops;
	return 0;
}

static void rh_kill_sb(struct super_block *sb)
{
	void *info = sb->s_fs_info;

	kill_litter_super(sb);
	rh_fs_ops->kill_sb(info);
}

static struct file_system_type rh_fs_type = {
	.owner = THIS_MODULE,
	.init_fs_context = rh_init_fs_context,
	.kill_sb = rh_kill_sb,
};

/*
 * One type per module: ops and data are set before the type is visible, so the callbacks,
 * which can only run while it is registered, read them without further ordering.
 */
int rhugetlbfs_register_fs(const char *name, const struct rh_fs_ops *ops, const void *data)
{
	int ret;

	if (rh_fs_ops)
		return -EBUSY;
	rh_fs_type.name = name;
	rh_fs_ops = ops;
	rh_fs_data = data;
	ret = register_filesystem(&rh_fs_type);
	if (ret) {
		rh_fs_ops = NULL;
		rh_fs_data = NULL;
	}
	return ret;
}

void rhugetlbfs_unregister_fs(void)
{
	unregister_filesystem(&rh_fs_type);
	rh_fs_ops = NULL;
	rh_fs_data = NULL;
}

/* ---- Inodes (kern/fs.rs) ---- */

void rhugetlbfs_inode_set_ops(struct inode *inode, const struct inode_operations *iop,
			      const struct file_operations *fop)
{
	inode->i_op = iop;
	inode->i_fop = fop;
}

/* As ramfs: the new dentry gets an extra reference that pins it in the dcache. */
void rhugetlbfs_instantiate_pinned(struct inode *dir, struct dentry *dentry, struct inode *inode)
{
	d_instantiate(dentry, inode);
	dget(dentry);
	inode_set_mtime_to_ts(dir, inode_set_ctime_current(dir));
}

/* As hugetlbfs_tmpfile: d_tmpfile drops the link count to 0 and marks the inode linkable. */
int rhugetlbfs_instantiate_tmpfile(struct inode *dir, struct file *file, struct inode *inode)
{
	inode_set_mtime_to_ts(dir, inode_set_ctime_current(dir));
	d_tmpfile(file, inode);
	return finish_open_simple(file, 0);
}

bool rhugetlbfs_make_ids(struct inode *inode, u32 uid, bool set_uid, u32 gid, bool set_gid)
{
	kuid_t kuid = make_kuid(current_user_ns(), uid);
	kgid_t kgid = make_kgid(current_user_ns(), gid);

	if ((set_uid && !uid_valid(kuid)) || (set_gid && !gid_valid(kgid)))
		return false;
	if (set_uid)
		inode->i_uid = kuid;
	if (set_gid)
		inode->i_gid = kgid;
	return true;
}

u32 rhugetlbfs_uid_shown(const struct inode *inode)
{
	return from_kuid_munged(&init_user_ns, inode->i_uid);
}

u32 rhugetlbfs_gid_shown(const struct inode *inode)
{
	return from_kgid_munged(&init_user_ns, inode->i_gid);
}

void rhugetlbfs_fill_statfs(struct kstatfs *buf, u64 bsize, u64 blocks, u64 bfree, u64 files,
			    u64 ffree)
{
	buf->f_type = HUGETLBFS_MAGIC;
	buf->f_bsize = bsize;
	buf->f_namelen = NAME_MAX;
	buf->f_blocks = blocks;
	buf->f_bfree = bfree;
	buf->f_bavail = bfree;
	buf->f_files = files;
	buf->f_ffree = ffree;
}

size_t rhugetlbfs_iov_iter_count(const struct iov_iter *iter)
{
	return iov_iter_count(iter);
}

/* ---- Mappings and faults (kern/vma.rs) ---- */

/* From file_operations::mmap, mm write-locked (as vm_flags_set/clear assert). */
void rhugetlbfs_vma_update_flags(struct vm_area_struct *vma, unsigned long set,
				 unsigned long clear)
{
	vm_flags_clear(vma, clear);
	vm_flags_set(vma, set);
}

/*
 * Removes the entries of [start, start + len) of vma: those of every mapping of the same
 * file range, private ones included (unmap_mapping_range with even_cows). zap_page_range_single
 * would do only vma's, but kernel.org 6.12.y does not export it to modules; the other
 * mappings simply fault once more.
 */
static void rh_zap_file_range(struct vm_area_struct *vma, unsigned long start, unsigned long len)
{
	loff_t from = ((loff_t)vma->vm_pgoff << PAGE_SHIFT) + (start - vma->vm_start);

	unmap_mapping_range(vma->vm_file->f_mapping, from, len, 1);
}

/*
 * At fork, from vm_ops->open of the child's VMA: zaps the parent's VMA at the same range
 * (dup_mmap runs in the parent, its mmap lock held for writing, before copy_page_range),
 * so that no writable entry of a private page is copied and both sides fault again.
 */
void rhugetlbfs_zap_fork_parent(struct vm_area_struct *child)
{
	struct vm_area_struct *parent = vma_lookup(current->mm, child->vm_start);

	mmap_assert_write_locked(current->mm);
	if (parent && parent != child && parent->vm_file == child->vm_file &&
	    parent->vm_end == child->vm_end)
		rh_zap_file_range(parent, parent->vm_start, parent->vm_end - parent->vm_start);
}

/*
 * From vm_ops->close: whether another VMA of the same mm still maps part of vma's file
 * range with the same private state. mremap closes the old VMA after moving its entries to
 * the new one, and closes the new one if the move fails: the pages stay then. Not asked at
 * exit_mmap (no user left), where the VMAs already closed are being freed.
 */
bool rhugetlbfs_private_still_mapped(struct vm_area_struct *vma)
{
	struct mm_struct *mm = vma->vm_mm;
	unsigned long first = vma->vm_pgoff, last = vma->vm_pgoff + vma_pages(vma);
	struct vm_area_struct *v;

	VMA_ITERATOR(vmi, mm, 0);

	if (!atomic_read(&mm->mm_users))
		return false;
	mmap_assert_locked(mm);
	for_each_vma(vmi, v) {
		if (v == vma || v->vm_private_data != vma->vm_private_data)
			continue;
		if (v->vm_pgoff < last && first < v->vm_pgoff + vma_pages(v))
			return true;
	}
	return false;
}

/*
 * From vm_ops->mprotect, mmap lock held for writing: keeps faults under the per-VMA lock
 * out until the new protection is in place, and zaps [start, end) so that the next faults
 * map with it.
 */
void rhugetlbfs_zap_for_mprotect(struct vm_area_struct *vma, unsigned long start,
				 unsigned long end)
{
	vma_start_write(vma);
	rh_zap_file_range(vma, start, end - start);
}

/* From vm_ops->access, mmap lock held: drops the entries of [start, start + len). */
void rhugetlbfs_zap_range(struct vm_area_struct *vma, unsigned long start, unsigned long len)
{
	mmap_assert_locked(vma->vm_mm);
	rh_zap_file_range(vma, start, len);
}

/*
 * Whether nothing is mapped at the fault's PMD (the 4 KiB path may then insert a PMD
 * entry; over a page table vmf_insert_pfn_pmd would do nothing and the fault repeat).
 */
bool rhugetlbfs_vmf_pmd_none(const struct vm_fault *vmf)
{
	return vmf->pmd && pmd_none(pmdp_get_lockless(vmf->pmd));
}

vm_fault_t rhugetlbfs_insert_pfn(struct vm_fault *vmf, unsigned long pfn, unsigned int order,
				 bool write)
{
	pfn_t p = __pfn_to_pfn_t(pfn, 0);

	if (order == PMD_ORDER)
		return vmf_insert_pfn_pmd(vmf, p, write);
	if (order == PUD_ORDER)
		return vmf_insert_pfn_pud(vmf, p, write);
	return VM_FAULT_SIGBUS;
}

/*
 * Clearing (kern/page.rs, acct/src/zero.rs). A huge page is cleared in 2 MiB chunks with a
 * reschedule point between them (1 GiB pages are 512 chunks), by one of:
 *  - RH_CLEAR_PAGE: clear_highpage() on each 4 KiB page, as upstream's folio_zero_user();
 *  - RH_CLEAR_ERMS: one "rep stosb" over the chunk through the direct map (x86_64 has no
 *    highmem: the chunk is contiguous there), which lets fast-string microcode work on more
 *    than 4 KiB at a time;
 *  - RH_CLEAR_NT: non-temporal 8-byte stores (movnti) over the chunk, then a store fence, so
 *    that a background clear does not evict the cache of whatever else runs.
 * The asm stores are invisible to KASAN and KCSAN: instrument_write() tells them first, so a
 * clear of memory the module does not own is reported like any other bad write.
 */
#define RH_CLEAR_CHUNK (SZ_2M >> PAGE_SHIFT)

#ifdef CONFIG_X86_64
static void rh_clear_erms(void *addr, size_t len)
{
	asm volatile("rep stosb" : "+D"(addr), "+c"(len) : "a"(0) : "memory");
}

static void rh_clear_nt(void *addr, size_t len)
{
	unsigned long *p = addr, *end = addr + len;

	for (; p < end; p += 8)
		asm volatile("movnti %1, 0(%0)\n\t"
			     "movnti %1, 8(%0)\n\t"
			     "movnti %1, 16(%0)\n\t"
			     "movnti %1, 24(%0)\n\t"
			     "movnti %1, 32(%0)\n\t"
			     "movnti %1, 40(%0)\n\t"
			     "movnti %1, 48(%0)\n\t"
			     "movnti %1, 56(%0)"
			     :
			     : "r"(p), "r"(0UL)
			     : "memory");
}
#else
static void rh_clear_erms(void *addr, size_t len)
{
	memset(addr, 0, len);
}

static void rh_clear_nt(void *addr, size_t len)
{
	memset(addr, 0, len);
}
#endif

bool rhugetlbfs_clear_pages(unsigned long pfn, unsigned long nr, int method, bool stoppable)
{
	unsigned long done, i, n;
	bool complete = true;

	for (done = 0; done < nr; done += n) {
		void *addr = page_address(pfn_to_page(pfn + done));

		n = min(nr - done, RH_CLEAR_CHUNK);
		instrument_write(addr, n << PAGE_SHIFT);
		if (method == RH_CLEAR_ERMS) {
			rh_clear_erms(addr, n << PAGE_SHIFT);
		} else if (method == RH_CLEAR_NT) {
			rh_clear_nt(addr, n << PAGE_SHIFT);
		} else {
			for (i = 0; i < n; i++)
				clear_highpage(pfn_to_page(pfn + done + i));
		}
		if (nr > RH_CLEAR_CHUNK) {
			cond_resched();
			if (stoppable && done + n < nr && kthread_should_stop()) {
				complete = false;
				break;
			}
		}
	}
	if (method == RH_CLEAR_NT)
		wmb(); /* movnti stores are weakly ordered: fence before publishing */
	return complete;
}

bool rhugetlbfs_cpu_has_erms(void)
{
#ifdef CONFIG_X86_64
	return boot_cpu_has(X86_FEATURE_ERMS);
#else
	return false;
#endif
}

/*
 * The zeroing workers (kern/work.rs ZeroWorkers): one kernel thread per memory node, at the
 * lowest priority and allowed on that node's CPUs only, calls run(data, nid) while it
 * reports work done and sleeps until rhugetlbfs_zero_kick(nid) otherwise. The kick flag is
 * cleared before each run, so a kick that arrives during a run that found nothing makes the
 * thread run once more instead of being lost.
 */
struct rh_zero_thread {
	struct task_struct *task;
	wait_queue_head_t wq;
	atomic_t kick;
};

static struct rh_zero_thread rh_zero_threads[MAX_NUMNODES];
static bool (*rh_zero_run)(const void *data, int nid);
static const void *rh_zero_data;

static int rh_zero_fn(void *arg)
{
	int nid = (long)arg;
	struct rh_zero_thread *t = &rh_zero_threads[nid];

	set_user_nice(current, MAX_NICE);
	while (!kthread_should_stop()) {
		atomic_set(&t->kick, 0);
		if (rh_zero_run(rh_zero_data, nid)) {
			cond_resched();
			continue;
		}
		wait_event_interruptible(t->wq, atomic_read(&t->kick) || kthread_should_stop());
	}
	return 0;
}

void rhugetlbfs_zero_stop(void)
{
	int nid;

	for (nid = 0; nid < MAX_NUMNODES; nid++) {
		struct task_struct *task = READ_ONCE(rh_zero_threads[nid].task);

		if (!task)
			continue;
		kthread_stop(task);
		WRITE_ONCE(rh_zero_threads[nid].task, NULL);
	}
	rh_zero_run = NULL;
	rh_zero_data = NULL;
}

int rhugetlbfs_zero_start(bool (*run)(const void *data, int nid), const void *data)
{
	int nid;

	rh_zero_run = run;
	rh_zero_data = data;
	for_each_node_state(nid, N_MEMORY) {
		struct rh_zero_thread *t = &rh_zero_threads[nid];
		const struct cpumask *cpus = cpumask_of_node(nid);
		struct task_struct *task;

		init_waitqueue_head(&t->wq);
		atomic_set(&t->kick, 1);
		task = kthread_create_on_node(rh_zero_fn, (void *)(long)nid, nid,
					      "rhugetlbfs_zero/%d", nid);
		if (IS_ERR(task)) {
			rhugetlbfs_zero_stop();
			return PTR_ERR(task);
		}
		/* A memory-only node has no CPUs: its thread runs anywhere. */
		if (!cpumask_empty(cpus))
			set_cpus_allowed_ptr(task, cpus);
		WRITE_ONCE(t->task, task);
		wake_up_process(task);
	}
	return 0;
}

void rhugetlbfs_zero_kick(int nid)
{
	struct rh_zero_thread *t;

	if (nid < 0 || nid >= MAX_NUMNODES)
		return;
	t = &rh_zero_threads[nid];
	if (!READ_ONCE(t->task))
		return;
	atomic_set(&t->kick, 1);
	wake_up(&t->wq);
}

/*
 * Parallel jobs (kern/work.rs scoped_jobs): runs fn(data, i) for each i < nr on the unbound
 * workqueue, job i on a CPU of node nids[i], and returns when all are done. The caller
 * sleeps in TASK_IDLE meanwhile (a long 1 GiB search is not a hung task); the jobs see its
 * signals through rhugetlbfs_jobs_interrupted().
 */
struct rh_jobs {
	void (*fn)(const void *data, unsigned int idx, const void *jobs);
	const void *data;
	struct task_struct *caller;
	atomic_t left;
	struct completion done;
};

struct rh_job {
	struct work_struct work;
	struct rh_jobs *jobs;
	unsigned int idx;
};

static void rh_job_fn(struct work_struct *work)
{
	struct rh_job *job = container_of(work, struct rh_job, work);
	struct rh_jobs *jobs = job->jobs;

	jobs->fn(jobs->data, job->idx, jobs);
	if (atomic_dec_and_test(&jobs->left))
		complete(&jobs->done);
}

int rhugetlbfs_run_jobs(unsigned int nr, const int *nids,
			void (*fn)(const void *data, unsigned int idx, const void *jobs),
			const void *data)
{
	struct rh_jobs jobs = { .fn = fn, .data = data, .caller = current };
	struct rh_job *job;
	unsigned int i;

	if (!nr)
		return 0;
	job = kvcalloc(nr, sizeof(*job), GFP_KERNEL);
	if (!job)
		return -ENOMEM;
	atomic_set(&jobs.left, nr);
	init_completion(&jobs.done);
	for (i = 0; i < nr; i++) {
		int nid = nids[i];

		INIT_WORK(&job[i].work, rh_job_fn);
		job[i].jobs = &jobs;
		job[i].idx = i;
		if (nid < 0 || nid >= MAX_NUMNODES || !node_online(nid))
			nid = NUMA_NO_NODE;
		queue_work_node(nid, system_unbound_wq, &job[i].work);
	}
	wait_for_completion_state(&jobs.done, TASK_IDLE);
	kvfree(job);
	return 0;
}

bool rhugetlbfs_jobs_interrupted(const void *jobs)
{
	return signal_pending(((const struct rh_jobs *)jobs)->caller);
}

unsigned int rhugetlbfs_node_nr_cpus(int nid)
{
	if (nid < 0 || nid >= MAX_NUMNODES)
		return 0;
	return cpumask_weight(cpumask_of_node(nid));
}

unsigned int rhugetlbfs_nr_online_cpus(void)
{
	return num_online_cpus();
}

/* Copies nr base pages from src_pfn to dst_pfn (copy-on-write of a private page). */
void rhugetlbfs_copy_pages(unsigned long dst_pfn, unsigned long src_pfn, unsigned long nr)
{
	unsigned long i;

	for (i = 0; i < nr; i++) {
		copy_highpage(pfn_to_page(dst_pfn + i), pfn_to_page(src_pfn + i));
		if ((i & 511) == 511)
			cond_resched();
	}
}

/*
 * Copies len bytes at offset of the huge page at pfn into a kernel buffer, base page by
 * base page (memcpy_from_page maps one base page). No user memory is touched here, so
 * callers may hold locks that a page fault takes.
 */
void rhugetlbfs_copy_from_page(unsigned long pfn, unsigned long offset, void *dst, size_t len)
{
	size_t done = 0;

	while (done < len) {
		unsigned long off = offset + done;
		size_t n = min_t(size_t, len - done, PAGE_SIZE - (off & ~PAGE_MASK));

		memcpy_from_page(dst + done, pfn_to_page(pfn + (off >> PAGE_SHIFT)),
				 off & ~PAGE_MASK, n);
		done += n;
	}
}

/* The other way: len bytes from a kernel buffer into the huge page at pfn, at offset. */
void rhugetlbfs_copy_to_page(unsigned long pfn, unsigned long offset, const void *src, size_t len)
{
	size_t done = 0;

	while (done < len) {
		unsigned long off = offset + done;
		size_t n = min_t(size_t, len - done, PAGE_SIZE - (off & ~PAGE_MASK));

		memcpy_to_page(pfn_to_page(pfn + (off >> PAGE_SHIFT)), off & ~PAGE_MASK,
			       src + done, n);
		done += n;
	}
}

size_t rhugetlbfs_copy_to_iter(const void *src, size_t len, struct iov_iter *iter)
{
	return copy_to_iter(src, len, iter);
}

/* An unmapped area of len bytes aligned to align: over-allocate by align, then align up. */
unsigned long rhugetlbfs_get_unmapped_area(unsigned long addr, unsigned long len,
					   unsigned long align, unsigned long flags)
{
	unsigned long ret;

	if (len + align < len)
		return -ENOMEM;
	ret = mm_get_unmapped_area(current->mm, NULL, addr ? ALIGN(addr, align) : 0,
				   len + align, 0, flags & ~MAP_FIXED);
	if (IS_ERR_VALUE(ret))
		return ret;
	return ALIGN(ret, align);
}

/* Zeroes len bytes at offset of the huge page at pfn (partial pages of a hole punch). */
void rhugetlbfs_zero_range(unsigned long pfn, unsigned long offset, size_t len)
{
	size_t done = 0;

	while (done < len) {
		unsigned long off = offset + done;
		size_t n = min_t(size_t, len - done, PAGE_SIZE - (off & ~PAGE_MASK));

		memzero_page(pfn_to_page(pfn + (off >> PAGE_SHIFT)), off & ~PAGE_MASK, n);
		done += n;
		if (((off + n) & (SZ_2M - 1)) == 0)
			cond_resched();
	}
}

/* ---- Page-cache folios (kern/vfs/inode.rs, kern/mm.rs) ---- */

/*
 * A regular file's mapping holds the module's huge folios: large folios (else removing a
 * PMD-sized folio WARNs in filemap_nr_thps_dec), never reclaimed, dirtied by a no-op (there
 * is no writeback: a shared write fault's folio_mark_dirty must not touch the LRU or a bdi).
 */
static const struct address_space_operations rh_aops = {
	.dirty_folio = noop_dirty_folio,
};

void rhugetlbfs_mapping_setup(struct inode *inode)
{
	struct address_space *mapping = inode->i_mapping;

	mapping->a_ops = &rh_aops;
	mapping_set_large_folios(mapping);
	mapping_set_unevictable(mapping);
}

/*
 * Puts the huge folio at pfn (the module's, one reference held by its pool) into mapping at
 * index, as hugetlb_add_to_page_cache() does with __filemap_add_folio(), which is not
 * exported: no LRU, no memcg charge, so the module can always take the folio back. The folio
 * is zeroed or holds the file's data: it goes in uptodate, and dirty so that nothing outside
 * the module ever drops it (mapping_evict_folio skips dirty folios). The page cache holds
 * folio_nr_pages() references, dropped by truncate_inode_pages_range().
 * -EEXIST if something is there already, -ENOMEM without memory for the xarray.
 */
int rhugetlbfs_cache_add(struct address_space *mapping, unsigned long pfn, pgoff_t index)
{
	struct folio *folio = pfn_folio(pfn);
	long nr = folio_nr_pages(folio);
	XA_STATE_ORDER(xas, &mapping->i_pages, index, folio_order(folio));

	if (!folio_test_large(folio) || (index & (nr - 1)) || folio->mapping)
		return -EINVAL;
	folio_mark_uptodate(folio);
	folio_ref_add(folio, nr);
	folio->mapping = mapping;
	folio->index = index;
	do {
		xas_lock_irq(&xas);
		if (xas_find_conflict(&xas)) {
			xas_set_err(&xas, -EEXIST);
		} else {
			xas_store(&xas, folio);
			if (!xas_error(&xas)) {
				mapping->nrpages += nr;
				/* What filemap_unaccount_folio() takes back at removal. */
				__lruvec_stat_mod_folio(folio, NR_FILE_PAGES, nr);
				__lruvec_stat_mod_folio(folio, NR_FILE_THPS, nr);
			}
		}
		xas_unlock_irq(&xas);
	} while (xas_nomem(&xas, GFP_KERNEL));
	if (xas_error(&xas)) {
		folio->mapping = NULL;
		folio_put_refs(folio, nr);
		return xas_error(&xas);
	}
	folio_mark_dirty(folio);
	return 0;
}

/*
 * Drops the bytes [start, start + len) from the page cache: the folios there are unmapped
 * if still mapped, taken out of the mapping and their page-cache references dropped. Only
 * whole folios are ever in the range.
 */
void rhugetlbfs_cache_remove(struct address_space *mapping, loff_t start, loff_t len)
{
	truncate_inode_pages_range(mapping, start, start + len - 1);
}

/*
 * The folio at index of mapping, with a reference (the caller's, dropped with
 * rhugetlbfs_folio_put), or 0 for a hole. Sets *first to the index of its first page and
 * *nr to its number of pages.
 */
unsigned long rhugetlbfs_cache_get(struct address_space *mapping, pgoff_t index, pgoff_t *first,
				   unsigned long *nr)
{
	struct folio *folio = __filemap_get_folio(mapping, index, 0, 0);

	if (IS_ERR(folio))
		return 0;
	*first = folio->index;
	*nr = folio_nr_pages(folio);
	return folio_pfn(folio);
}

void rhugetlbfs_folio_put(unsigned long pfn)
{
	folio_put(pfn_folio(pfn));
}

/* Copies len bytes at offset of the folio at pfn to iter; the bytes copied. */
size_t rhugetlbfs_copy_folio_to_iter(unsigned long pfn, size_t offset, size_t len,
				     struct iov_iter *iter)
{
	return copy_folio_to_iter(pfn_folio(pfn), offset, len, iter);
}

/*
 * From vm_ops->fault, the fault mutex held: hands the folio at pfn to the core to map, with
 * a reference for the mapping and locked, so that truncation (which takes the folio lock)
 * cannot remove it before finish_fault() maps it.
 */
vm_fault_t rhugetlbfs_fault_folio(struct vm_fault *vmf, unsigned long pfn)
{
	struct folio *folio = pfn_folio(pfn);

	folio_get(folio);
	folio_lock(folio);
	vmf->page = folio_file_page(folio, vmf->pgoff);
	return VM_FAULT_LOCKED;
}

/*
 * Whether finish_fault() would map a PMD for this fault: nothing mapped at the PMD yet, and
 * neither MADV_NOHUGEPAGE nor PR_SET_THP_DISABLE on (do_set_pmd() refuses then, and maps
 * 4 KiB entries of the same folio instead).
 */
bool rhugetlbfs_vmf_pmd_mappable(const struct vm_fault *vmf)
{
	return rhugetlbfs_vmf_pmd_none(vmf) && !vma_thp_disabled(vmf->vma, vmf->vma->vm_flags);
}
