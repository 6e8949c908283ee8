// SPDX-License-Identifier: GPL-2.0
/*
 * Groups: one per open() of /dev/gmp, bound to the opener's thread group.
 *
 * A group lives as long as its file or any of its Ms (each holds a
 * reference), so a thread that outlives close(2) still writes into valid
 * memory. The shared memory (ring control, records, slots) is one
 * vmalloc_user() area, created on first use, so GMP_IOC_SETUP can size it.
 */
#include <linux/bitmap.h>
#include <linux/hashtable.h>
#include <linux/log2.h>
#include <linux/mm.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>

#include "internal.h"

static_assert(sizeof(struct gmp_event) == 32);
static_assert(sizeof(struct gmp_slot) == 64);
static_assert(sizeof(struct gmp_ring) <= PAGE_SIZE);
static_assert(sizeof(struct gmp_info) % 8 == 0);
static_assert(sizeof(struct gmp_setup) % 8 == 0);
static_assert(sizeof(struct gmp_register) % 8 == 0);
static_assert(sizeof(struct gmp_unregister) % 8 == 0);
static_assert(sizeof(struct gmp_wait) % 8 == 0);
static_assert(sizeof(struct gmp_stats) % 8 == 0);

/* Live groups per owning process, to bound what one process can pin. */
struct gmp_owner {
	struct hlist_node node;
	struct pid *pid;
	unsigned int groups;
};

static DEFINE_MUTEX(gmp_owners_lock);
static DEFINE_HASHTABLE(gmp_owners, 6);

static struct gmp_owner *gmp_owner_find(struct pid *pid)
{
	struct gmp_owner *o;

	hash_for_each_possible(gmp_owners, o, node, (unsigned long)pid)
		if (o->pid == pid)
			return o;
	return NULL;
}

static int gmp_owner_charge(struct pid *pid)
{
	struct gmp_owner *o;
	int ret = 0;

	mutex_lock(&gmp_owners_lock);
	o = gmp_owner_find(pid);
	if (!o) {
		o = kzalloc(sizeof(*o), GFP_KERNEL);
		if (!o) {
			ret = -ENOMEM;
			goto out;
		}
		o->pid = get_pid(pid);
		hash_add(gmp_owners, &o->node, (unsigned long)pid);
	}
	if (o->groups >= GMP_GROUPS_PER_PROCESS_MAX)
		ret = -EMFILE;
	else
		o->groups++;
out:
	mutex_unlock(&gmp_owners_lock);
	return ret;
}

static void gmp_owner_uncharge(struct pid *pid)
{
	struct gmp_owner *o;

	mutex_lock(&gmp_owners_lock);
	o = gmp_owner_find(pid);
	if (!WARN_ON_ONCE(!o || !o->groups) && !--o->groups) {
		hash_del(&o->node);
		put_pid(o->pid);
		kfree(o);
	}
	mutex_unlock(&gmp_owners_lock);
}

struct gmp_group *gmp_group_create(void)
{
	struct pid *owner = task_tgid(current);
	struct gmp_group *g;
	int ret;

	ret = gmp_owner_charge(owner);
	if (ret)
		return ERR_PTR(ret);
	g = kmem_cache_zalloc(gmp_group_cache, GFP_KERNEL);
	if (!g)
		goto err;
	if (gmp_wait_init(g)) {
		kmem_cache_free(gmp_group_cache, g);
		goto err;
	}
	kref_init(&g->ref);
	mutex_init(&g->lock);
	raw_spin_lock_init(&g->prod_lock);
	INIT_LIST_HEAD(&g->ms);
	atomic64_set(&g->lost_pending, 0);
	g->owner = get_pid(owner);
	g->entries = GMP_RING_ENTRIES_DEFAULT;
	g->max_ms = GMP_MAX_MS_DEFAULT;
	return g;

err:
	gmp_owner_uncharge(owner);
	return ERR_PTR(-ENOMEM);
}

void gmp_group_get(struct gmp_group *g)
{
	kref_get(&g->ref);
}

static void gmp_group_release(struct kref *ref)
{
	struct gmp_group *g = container_of(ref, struct gmp_group, ref);

	WARN_ON(!list_empty(&g->ms));
	gmp_wait_destroy(g);
	vfree(g->mem);
	kfree(g->slot_seq);
	bitmap_free(g->slot_map);
	gmp_owner_uncharge(g->owner);
	put_pid(g->owner);
	mutex_destroy(&g->lock);
	kmem_cache_free(gmp_group_cache, g);
}

/* Process context only: the last put frees vmalloc memory and syncs irq_work. */
void gmp_group_put(struct gmp_group *g)
{
	might_sleep();
	kref_put(&g->ref, gmp_group_release);
}

/* Is the caller a thread of the process that opened the group? */
bool gmp_group_owned(const struct gmp_group *g)
{
	return task_tgid(current) == g->owner;
}

void gmp_group_layout(u32 entries, u32 max_ms, struct gmp_info *info)
{
	u64 events_end;

	info->ring_entries = entries;
	info->max_ms = max_ms;
	info->event_size = sizeof(struct gmp_event);
	info->slot_size = sizeof(struct gmp_slot);
	info->ring_offset = 0;
	info->events_offset = PAGE_SIZE;
	events_end = info->events_offset + (u64)entries * sizeof(struct gmp_event);
	info->slots_offset = ALIGN(events_end, SMP_CACHE_BYTES);
	info->mmap_size = PAGE_ALIGN(info->slots_offset +
				     (u64)max_ms * sizeof(struct gmp_slot));
}

/* Create the shared memory if it does not exist yet; g->lock held. */
int gmp_group_mem_locked(struct gmp_group *g)
{
	struct gmp_info lay;
	struct gmp_ring *ring;
	void *mem;

	lockdep_assert_held(&g->lock);
	if (g->mem)
		return 0;

	gmp_group_layout(g->entries, g->max_ms, &lay);
	g->slot_map = bitmap_zalloc(g->max_ms, GFP_KERNEL);
	g->slot_seq = kcalloc(g->max_ms, sizeof(*g->slot_seq), GFP_KERNEL);
	mem = vmalloc_user(lay.mmap_size);
	if (!g->slot_map || !g->slot_seq || !mem) {
		vfree(mem);
		kfree(g->slot_seq);
		g->slot_seq = NULL;
		bitmap_free(g->slot_map);
		g->slot_map = NULL;
		return -ENOMEM;
	}
	g->mem = mem;
	g->mem_size = lay.mmap_size;
	g->events = mem + lay.events_offset;
	g->slots = mem + lay.slots_offset;
	ring = mem + lay.ring_offset;
	ring->entries = g->entries;
	/* Lock-free readers (poll, the doorbell) test g->ring: publish last. */
	smp_store_release(&g->ring, ring);
	return 0;
}

int gmp_group_mem(struct gmp_group *g)
{
	int ret;

	mutex_lock(&g->lock);
	ret = gmp_group_mem_locked(g);
	mutex_unlock(&g->lock);
	return ret;
}
