/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The one place for kernel-version differences. Kbuild probes the target
 * tree's headers and defines GMP_HAVE_* (see Kbuild); nothing else in the
 * module tests kernel versions.
 */
#ifndef GMP_COMPAT_H
#define GMP_COMPAT_H

#include <linux/mm.h>
#include <linux/sched.h>

/*
 * Did @p, now switching out, go to sleep (as opposed to being preempted)?
 * Up to 6.11 a sleeping task is dequeued before the switch: !on_rq. From
 * 6.12, delayed dequeue may leave a sleeping task on the runqueue with
 * se.sched_delayed set; task_is_runnable() sees through that.
 */
static inline bool gmp_task_sleeping(struct task_struct *p)
{
#ifdef GMP_HAVE_TASK_IS_RUNNABLE
	return !task_is_runnable(p);
#else
	return !READ_ONCE(p->on_rq);
#endif
}

/* vm_flags became read-only with the vm_flags_*() helpers of 6.3. */
static inline void gmp_vma_mod_flags(struct vm_area_struct *vma, vm_flags_t set,
				     vm_flags_t clear)
{
#ifdef GMP_HAVE_VM_FLAGS_MOD
	vm_flags_mod(vma, set, clear);
#else
	vma->vm_flags = (vma->vm_flags | set) & ~clear;
#endif
}

#endif /* GMP_COMPAT_H */
