/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Functions of shim.c called from Rust (declared again, once, in shim.rs).
 */
#ifndef RHUGETLBFS_SHIM_H
#define RHUGETLBFS_SHIM_H

#include <linux/types.h>

unsigned long rhugetlbfs_param_default_hugepagesz_kb(void);
unsigned long rhugetlbfs_param_hugepages(unsigned int order);
bool rhugetlbfs_param_pmd_mappable_1g(void);

/* What rhugetlbfs_alloc_buddy() returns on failure. */
#define RH_NO_PFN (~0UL)

unsigned long rhugetlbfs_alloc_buddy(int nid, unsigned int order, bool noretry);
void rhugetlbfs_free_buddy(unsigned long pfn, unsigned int order);
int rhugetlbfs_alloc_contig(unsigned long start_pfn, unsigned long nr_pages);
bool rhugetlbfs_page_exclusive(unsigned long pfn);
bool rhugetlbfs_page_hwpoisoned(unsigned long pfn, unsigned long nr);
void rhugetlbfs_drain_start(bool (*run)(const void *data), const void *data);
void rhugetlbfs_drain_kick(void);
void rhugetlbfs_drain_stop(void);
int rhugetlbfs_pfn_to_nid(unsigned long pfn);
void rhugetlbfs_cond_resched(void);

/* Clearing methods (acct/src/zero.rs ClearMethod, kern/page.rs). */
enum {
	RH_CLEAR_PAGE = 0,
	RH_CLEAR_ERMS = 1,
	RH_CLEAR_NT = 2,
};

bool rhugetlbfs_clear_pages(unsigned long pfn, unsigned long nr, int method, bool stoppable);
bool rhugetlbfs_cpu_has_erms(void);

/* The zeroing workers and parallel jobs (kern/work.rs). */
int rhugetlbfs_zero_start(bool (*run)(const void *data, int nid), const void *data);
void rhugetlbfs_zero_kick(int nid);
void rhugetlbfs_zero_stop(void);
int rhugetlbfs_run_jobs(unsigned int nr, const int *nids,
			void (*fn)(const void *data, unsigned int idx, const void *jobs),
			const void *data);
bool rhugetlbfs_jobs_interrupted(const void *jobs);
unsigned int rhugetlbfs_node_nr_cpus(int nid);
unsigned int rhugetlbfs_nr_online_cpus(void);

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
int rhugetlbfs_numa_node_id(void);
int rhugetlbfs_nr_zones(void);
int rhugetlbfs_zone_span(int nid, int zone_idx, unsigned long *start_pfn, unsigned long *end_pfn);
int rhugetlbfs_pfn_info(unsigned long pfn, int nid, int zone_idx, unsigned long *nr_pages);

/* The filesystem (kern/fs.rs). */
struct inode;
struct inode_operations;
struct file_operations;
struct kstatfs;
struct iov_iter;
struct super_block;

/* The Rust half of mounting (kern/shim.rs RhFsOps, kern/vfs.rs Tables). */
struct rh_fs_ops {
	void *(*init_fs_context)(const void *data);
	void (*free_fs_context)(void *ctx);
	int (*parse_param)(void *ctx, const char *key, size_t key_len, const char *value,
			   size_t value_len, char *msg, size_t msg_len);
	int (*fill_super)(struct super_block *sb, void *ctx, char *msg, size_t msg_len);
	void (*kill_sb)(void *data);
};

int rhugetlbfs_register_fs(const char *name, const struct rh_fs_ops *ops, const void *data);
void rhugetlbfs_unregister_fs(void);
void rhugetlbfs_inode_set_ops(struct inode *inode, const struct inode_operations *iop,
			      const struct file_operations *fop);
struct dentry;
void rhugetlbfs_instantiate_pinned(struct inode *dir, struct dentry *dentry, struct inode *inode);
int rhugetlbfs_instantiate_tmpfile(struct inode *dir, struct file *file, struct inode *inode);
bool rhugetlbfs_make_ids(struct inode *inode, u32 uid, bool set_uid, u32 gid, bool set_gid);
u32 rhugetlbfs_uid_shown(const struct inode *inode);
u32 rhugetlbfs_gid_shown(const struct inode *inode);
void rhugetlbfs_fill_statfs(struct kstatfs *buf, u64 bsize, u64 blocks, u64 bfree, u64 files,
			    u64 ffree);
size_t rhugetlbfs_iov_iter_count(const struct iov_iter *iter);

/* Mappings and faults (kern/vma.rs). */
struct vm_area_struct;
struct vm_fault;

void rhugetlbfs_vma_update_flags(struct vm_area_struct *vma, unsigned long set,
				 unsigned long clear);
void rhugetlbfs_zap_fork_parent(struct vm_area_struct *child);
bool rhugetlbfs_private_still_mapped(struct vm_area_struct *vma);
void rhugetlbfs_zap_for_mprotect(struct vm_area_struct *vma, unsigned long start,
				 unsigned long end);
void rhugetlbfs_zap_range(struct vm_area_struct *vma, unsigned long start, unsigned long len);
bool rhugetlbfs_vmf_pmd_none(const struct vm_fault *vmf);
unsigned int rhugetlbfs_insert_pfn(struct vm_fault *vmf, unsigned long pfn, unsigned int order,
				   bool write);
void rhugetlbfs_copy_pages(unsigned long dst_pfn, unsigned long src_pfn, unsigned long nr);
void rhugetlbfs_copy_from_page(unsigned long pfn, unsigned long offset, void *dst, size_t len);
void rhugetlbfs_copy_to_page(unsigned long pfn, unsigned long offset, const void *src, size_t len);
size_t rhugetlbfs_copy_to_iter(const void *src, size_t len, struct iov_iter *iter);
void rhugetlbfs_zero_range(unsigned long pfn, unsigned long offset, size_t len);
unsigned long rhugetlbfs_get_unmapped_area(unsigned long addr, unsigned long len,
					   unsigned long align, unsigned long flags);

/* Page-cache folios. */
struct address_space;

void rhugetlbfs_mapping_setup(struct inode *inode);
int rhugetlbfs_cache_add(struct address_space *mapping, unsigned long pfn, pgoff_t index);
void rhugetlbfs_cache_remove(struct address_space *mapping, loff_t start, loff_t len);
unsigned long rhugetlbfs_cache_get(struct address_space *mapping, pgoff_t index, pgoff_t *first,
				   unsigned long *nr);
void rhugetlbfs_folio_put(unsigned long pfn);
size_t rhugetlbfs_copy_folio_to_iter(unsigned long pfn, size_t offset, size_t len,
				     struct iov_iter *iter);
unsigned int rhugetlbfs_fault_folio(struct vm_fault *vmf, unsigned long pfn);
bool rhugetlbfs_vmf_pmd_mappable(const struct vm_fault *vmf);

#endif /* RHUGETLBFS_SHIM_H */
