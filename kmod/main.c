// SPDX-License-Identifier: GPL-2.0
/*
 * gmp: scheduler-activation upcalls for user-level schedulers.
 *
 * The misc device /dev/gmp: module init and exit, and the file operations
 * (open, release, ioctl, read, poll, mmap). The ABI is
 * include/uapi/linux/gmp.h; internal.h tells how a block travels through
 * the other files.
 */
#include <linux/fs.h>
#include <linux/log2.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/poll.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>

#include "compat.h"
#include "internal.h"

struct workqueue_struct *gmp_wq;
/*
 * Groups and Ms have slab caches of their own, so that /proc/slabinfo
 * shows how many are alive (tools/soak), and module unload complains
 * about any left behind.
 */
struct kmem_cache *gmp_group_cache;
struct kmem_cache *gmp_m_cache;

/* Copy an ioctl argument in and check its size field (always first). */
static int gmp_arg_in(void *karg, const void __user *uarg, u32 size)
{
	if (copy_from_user(karg, uarg, size))
		return -EFAULT;
	if (*(u32 *)karg != size)
		return -EINVAL;
	return 0;
}

#define gmp_reserved_zero(r) (!memchr_inv((r), 0, sizeof(r)))

static long gmp_ioc_info(struct gmp_group *g, void __user *uarg)
{
	struct gmp_info info;
	int ret;

	ret = gmp_arg_in(&info, uarg, sizeof(info));
	if (ret)
		return ret;
	if (info.flags || !gmp_reserved_zero(info.reserved))
		return -EINVAL;

	mutex_lock(&g->lock);
	gmp_group_layout(g->entries, g->max_ms, &info);
	info.group_flags = g->flags;
	mutex_unlock(&g->lock);
	info.abi_version = GMP_ABI_VERSION;
	info.features = GMP_FEAT_ALL;
	if (!gmp_prewake_active())
		info.features &= ~GMP_FEAT_PREWAKE;

	return copy_to_user(uarg, &info, sizeof(info)) ? -EFAULT : 0;
}

static long gmp_ioc_setup(struct gmp_group *g, void __user *uarg)
{
	struct gmp_setup s;
	int ret;

	ret = gmp_arg_in(&s, uarg, sizeof(s));
	if (ret)
		return ret;
	if ((s.flags & ~GMP_SETUP_ALL) || !gmp_reserved_zero(s.reserved))
		return -EINVAL;
	if (s.ring_entries && (!is_power_of_2(s.ring_entries) ||
			       s.ring_entries < GMP_RING_ENTRIES_MIN ||
			       s.ring_entries > GMP_RING_ENTRIES_MAX))
		return -EINVAL;
	if (s.max_ms > GMP_MAX_MS_MAX)
		return -EINVAL;

	mutex_lock(&g->lock);
	if (g->mem) {
		ret = -EBUSY;
	} else {
		g->flags = s.flags;
		g->entries = s.ring_entries ?: GMP_RING_ENTRIES_DEFAULT;
		g->max_ms = s.max_ms ?: GMP_MAX_MS_DEFAULT;
	}
	mutex_unlock(&g->lock);
	return ret;
}

static long gmp_ioc_register(struct gmp_group *g, void __user *uarg)
{
	struct gmp_register r;
	int ret;

	ret = gmp_arg_in(&r, uarg, sizeof(r));
	if (ret)
		return ret;
	if ((r.flags & ~GMP_REGISTER_ALL) || !gmp_reserved_zero(r.reserved))
		return -EINVAL;

	ret = gmp_m_register(g, r.m_id, r.flags, &r.slot);
	if (ret)
		return ret;
	/* Registered: a fault here does not undo it; the slot is in the map too. */
	return copy_to_user(uarg, &r, sizeof(r)) ? -EFAULT : 0;
}

static long gmp_ioc_unregister(struct gmp_group *g, void __user *uarg)
{
	struct gmp_unregister u;
	int ret;

	ret = gmp_arg_in(&u, uarg, sizeof(u));
	if (ret)
		return ret;
	if (u.flags || !gmp_reserved_zero(u.reserved))
		return -EINVAL;
	return gmp_m_unregister(g);
}

static long gmp_ioc_wait(struct gmp_group *g, void __user *uarg)
{
	struct gmp_wait w;
	long n;
	int ret;

	ret = gmp_arg_in(&w, uarg, sizeof(w));
	if (ret)
		return ret;
	if ((w.flags & ~GMP_WAIT_ALL) || !gmp_reserved_zero(w.reserved))
		return -EINVAL;
	if (!w.max_events || w.max_events > GMP_WAIT_EVENTS_MAX)
		return -EINVAL;
	if (!w.events || !access_ok(u64_to_user_ptr(w.events),
				    (size_t)w.max_events * sizeof(struct gmp_event)))
		return -EFAULT;

	n = gmp_wait_events(g, u64_to_user_ptr(w.events), w.max_events, w.timeout_ns,
			    w.flags & GMP_WAIT_NONBLOCK);
	if (n < 0)
		return n;
	w.nr_events = n;
	w.overflow = READ_ONCE(g->nr_overflows);
	return copy_to_user(uarg, &w, sizeof(w)) ? -EFAULT : 0;
}

static long gmp_ioc_stats(struct gmp_group *g, void __user *uarg)
{
	struct gmp_stats s;
	unsigned long flags;
	struct gmp_m *m;
	int ret;

	ret = gmp_arg_in(&s, uarg, sizeof(s));
	if (ret)
		return ret;
	if ((s.flags & ~GMP_STATS_ALL) || (!(s.flags & GMP_STATS_M) && s.m_id) ||
	    !gmp_reserved_zero(s.reserved))
		return -EINVAL;
	/* Output fields may hold anything on the way in: clear what we do not set. */
	s.wakeups = 0;
	s.events = 0;
	s.overflows = 0;
	s.prewakes = 0;

	mutex_lock(&g->lock);
	s.nr_ms = g->nr_ms;
	if (s.flags & GMP_STATS_M) {
		m = gmp_m_find_locked(g, s.m_id);
		if (!m) {
			mutex_unlock(&g->lock);
			return -ENOENT;
		}
		/* Written by the M's own callbacks; a snapshot is all we promise. */
		s.blocks = READ_ONCE(m->blocks);
		s.unblocks = READ_ONCE(m->unblocks);
		s.preempts = READ_ONCE(m->preempts);
	} else {
		raw_spin_lock_irqsave(&g->prod_lock, flags);
		s.blocks = g->nr_blocks;
		s.unblocks = g->nr_unblocks;
		s.preempts = g->nr_preempts;
		s.events = g->nr_events;
		s.overflows = g->nr_overflows;
		raw_spin_unlock_irqrestore(&g->prod_lock, flags);
		raw_spin_lock_irqsave(&g->wait_lock, flags);
		s.wakeups = g->nr_wakeups;
		s.prewakes = g->nr_prewakes;
		raw_spin_unlock_irqrestore(&g->wait_lock, flags);
	}
	mutex_unlock(&g->lock);

	return copy_to_user(uarg, &s, sizeof(s)) ? -EFAULT : 0;
}

static long gmp_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct gmp_group *g = file->private_data;
	long (*fn)(struct gmp_group *g, void __user *uarg);

	switch (cmd) {
	case GMP_IOC_INFO:
		fn = gmp_ioc_info;
		break;
	case GMP_IOC_SETUP:
		fn = gmp_ioc_setup;
		break;
	case GMP_IOC_REGISTER:
		fn = gmp_ioc_register;
		break;
	case GMP_IOC_UNREGISTER:
		fn = gmp_ioc_unregister;
		break;
	case GMP_IOC_WAIT:
		fn = gmp_ioc_wait;
		break;
	case GMP_IOC_STATS:
		fn = gmp_ioc_stats;
		break;
	default:
		return -ENOTTY;
	}
	if (!gmp_group_owned(g))
		return -EPERM;
	return fn(g, (void __user *)arg);
}

static ssize_t gmp_read(struct file *file, char __user *buf, size_t count, loff_t *ppos)
{
	struct gmp_group *g = file->private_data;
	size_t max = count / sizeof(struct gmp_event);
	long n;

	if (!gmp_group_owned(g))
		return -EPERM;
	if (!max)
		return -EINVAL;
	n = gmp_wait_events(g, (struct gmp_event __user *)buf,
			    min_t(size_t, max, GMP_WAIT_EVENTS_MAX), -1,
			    file->f_flags & O_NONBLOCK);
	if (n == -EINTR)
		return -ERESTARTSYS;
	if (n < 0)
		return n;
	return n * sizeof(struct gmp_event);
}

static __poll_t gmp_poll(struct file *file, poll_table *wait)
{
	struct gmp_group *g = file->private_data;

	if (!gmp_group_owned(g))
		return EPOLLERR;
	poll_wait(file, &g->poll_wq, wait);
	return gmp_ring_avail(g) ? EPOLLIN | EPOLLRDNORM : 0;
}

static int gmp_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct gmp_group *g = file->private_data;
	unsigned long len = vma->vm_end - vma->vm_start;
	int ret;

	if (!gmp_group_owned(g))
		return -EPERM;
	if (vma->vm_pgoff || !(vma->vm_flags & VM_SHARED))
		return -EINVAL;
	if (vma->vm_flags & VM_EXEC)
		return -EPERM;

	mutex_lock(&g->lock);
	ret = gmp_group_mem_locked(g);
	if (!ret && len > g->mem_size)
		ret = -EINVAL;
	if (!ret) {
		/* Not inherited by fork: a child is another process. */
		gmp_vma_mod_flags(vma, VM_DONTCOPY | VM_DONTDUMP, VM_MAYEXEC);
		ret = remap_vmalloc_range(vma, g->mem, 0);
	}
	mutex_unlock(&g->lock);
	return ret;
}

static int gmp_open(struct inode *inode, struct file *file)
{
	struct gmp_group *g = gmp_group_create();

	if (IS_ERR(g))
		return PTR_ERR(g);
	file->private_data = g;
	return nonseekable_open(inode, file);
}

static int gmp_release(struct inode *inode, struct file *file)
{
	struct gmp_group *g = file->private_data;

	/* Ms still registered keep the group; their threads may re-register elsewhere. */
	WRITE_ONCE(g->released, true);
	gmp_group_put(g);
	return 0;
}

static const struct file_operations gmp_fops = {
	.owner = THIS_MODULE,
	.open = gmp_open,
	.release = gmp_release,
	.unlocked_ioctl = gmp_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.read = gmp_read,
	.poll = gmp_poll,
	.mmap = gmp_mmap,
};

static struct miscdevice gmp_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "gmp",
	.fops = &gmp_fops,
	.mode = 0666,
};

static int __init gmp_init(void)
{
	int ret;

	gmp_group_cache = KMEM_CACHE(gmp_group, 0);
	gmp_m_cache = KMEM_CACHE(gmp_m, 0);
	gmp_wq = alloc_workqueue("gmp", 0, 0);
	if (!gmp_group_cache || !gmp_m_cache || !gmp_wq) {
		ret = -ENOMEM;
		goto err_mem;
	}
	/*
	 * Preempt notifiers sit behind a static key. Enable it once for the
	 * module's life, as KVM does per VM: flipping it as Ms come and go
	 * would live-patch __schedule() under every running task each time.
	 * The price for threads that never register is a test of their own
	 * empty notifier list at each switch while the module is loaded.
	 */
	preempt_notifier_inc();
	gmp_prewake_init();
	ret = misc_register(&gmp_misc);
	if (ret) {
		gmp_prewake_exit();
		preempt_notifier_dec();
		goto err_mem;
	}
	pr_info("ABI %d, /dev/%s\n", GMP_ABI_VERSION, gmp_misc.name);
	return 0;

err_mem:
	if (gmp_wq)
		destroy_workqueue(gmp_wq);
	kmem_cache_destroy(gmp_m_cache);
	kmem_cache_destroy(gmp_group_cache);
	return ret;
}

static void __exit gmp_exit(void)
{
	misc_deregister(&gmp_misc);
	/* Waits for the last M-freeing work item to return. */
	destroy_workqueue(gmp_wq);
	gmp_prewake_exit();
	preempt_notifier_dec();
	kmem_cache_destroy(gmp_m_cache);
	kmem_cache_destroy(gmp_group_cache);
}

module_init(gmp_init);
module_exit(gmp_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("gmp: scheduler-activation upcalls for user-level schedulers");
MODULE_VERSION("0.1");
