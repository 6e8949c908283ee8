// SPDX-License-Identifier: GPL-2.0
/*
 * Ms: registered threads, and the preempt notifiers that watch them.
 *
 * A preempt notifier lives on its task's own list: only that task may link
 * or unlink it, with preemption disabled, never from inside a callback. So
 * a thread registers and unregisters itself, and finding "the M of the
 * current thread" is a walk of current's short notifier list.
 *
 * sched_out() runs in prepare_task_switch() with the runqueue lock held and
 * IRQs off; sched_in() runs after the switch, preemption disabled. Both do
 * O(1) work, touch only kernel memory (the slot through the kernel's own
 * mapping), and leave every wakeup to the doorbell (wait.c).
 *
 * A thread that exits while registered makes one last sched_out() with
 * __state == TASK_DEAD and never runs again. Its notifier is still being
 * walked at that moment, so the M is freed later: the final sched_out()
 * queues an irq_work, which runs once this CPU has finished the switch and
 * hands the M to a work item for process context.
 */
#include <linux/module.h>
#include <linux/sched.h>
#include <linux/sched/task_stack.h>
#include <linux/slab.h>
#include <linux/ktime.h>
#include <asm/syscall.h>

#include "compat.h"
#include "internal.h"

static struct preempt_ops gmp_preempt_ops;

/*
 * Push a record and ring the doorbell. @covered: a BLOCKED record that a
 * waiter woken by gmp_prewake() for this very block will take, so no
 * doorbell is needed for it (unless poll(2) sleepers want to hear of it).
 */
static void gmp_m_record(struct gmp_m *m, u16 type, int cpu, u64 now, bool covered)
{
	struct gmp_group *g = m->group;
	struct gmp_event ev = {
		.type = type,
		.m_id = m->m_id,
		.slot = m->slot_idx,
		.seq = m->seq,
		.time_ns = now,
		.syscall = -1,
		.cpu = cpu,
	};
	unsigned long flags;

	if (type == GMP_EV_BLOCKED)
		ev.syscall = syscall_get_nr(current, task_pt_regs(current));

	raw_spin_lock_irqsave(&g->prod_lock, flags);
	switch (type) {
	case GMP_EV_BLOCKED:
		g->nr_blocks++;
		break;
	case GMP_EV_UNBLOCKED:
		g->nr_unblocks++;
		if (g->flags & GMP_SETUP_NO_UNBLOCKED)
			goto out;
		break;
	case GMP_EV_PREEMPTED:
		g->nr_preempts++;
		break;
	}
	gmp_ring_push(g, &ev);
	/* After the push: a prewoken waiter that sees no cover finds the record. */
	if (!covered || !gmp_prewake_claim(g) || wq_has_sleeper(&g->poll_wq))
		gmp_bell_ring(g);
out:
	raw_spin_unlock_irqrestore(&g->prod_lock, flags);
}

static void gmp_sched_out(struct preempt_notifier *pn, struct task_struct *next)
{
	struct gmp_m *m = container_of(pn, struct gmp_m, pn);
	struct gmp_slot *slot = m->slot;
	unsigned int state = READ_ONCE(current->__state);
	int cpu = smp_processor_id();
	bool prewoke = m->prewoke;
	u64 now;

	/* The switch that gmp_switch_probe() announced is here, whatever it is. */
	m->prewoke = false;

	if (unlikely(state == TASK_DEAD)) {
		irq_work_queue(&m->dead_work);
		return;
	}
	if (!READ_ONCE(slot->armed))
		return;
	/*
	 * PREEMPT_RT makes spinlocks rtmutexes: a contended one puts the task
	 * to sleep in TASK_RTLOCK_WAIT where other kernels spin on the CPU.
	 * That is a short wait inside whatever the M is doing, not a block of
	 * its own, so it makes no event, on RT as elsewhere.
	 */
	if (state == TASK_RTLOCK_WAIT)
		return;

	if (gmp_task_sleeping(current)) {
		now = ktime_get_mono_fast_ns();
		m->seq++;
		m->blocks++;
		m->blocked = true;
		WRITE_ONCE(slot->seq, m->seq);
		WRITE_ONCE(slot->blocks, m->blocks);
		WRITE_ONCE(slot->block_ns, now);
		WRITE_ONCE(slot->cpu, cpu);
		/* The record is published after this (store-release of the tail). */
		WRITE_ONCE(slot->state, GMP_SLOT_BLOCKED);
		gmp_m_record(m, GMP_EV_BLOCKED, cpu, now, prewoke);
	} else if (m->group->flags & GMP_SETUP_PREEMPTED) {
		m->preempts++;
		WRITE_ONCE(slot->preempts, m->preempts);
		gmp_m_record(m, GMP_EV_PREEMPTED, cpu, ktime_get_mono_fast_ns(), false);
	}
}

static void gmp_sched_in(struct preempt_notifier *pn, int cpu)
{
	struct gmp_m *m = container_of(pn, struct gmp_m, pn);
	struct gmp_slot *slot = m->slot;

	if (!m->blocked)
		return;
	m->blocked = false;
	m->unblocks++;
	WRITE_ONCE(slot->unblocks, m->unblocks);
	WRITE_ONCE(slot->cpu, cpu);
	WRITE_ONCE(slot->state, GMP_SLOT_RUNNING);
	/* No clock read for a record the group does not want. */
	gmp_m_record(m, GMP_EV_UNBLOCKED, cpu,
		     m->group->flags & GMP_SETUP_NO_UNBLOCKED ? 0 : ktime_get_mono_fast_ns(),
		     false);
}

static struct preempt_ops gmp_preempt_ops = {
	.sched_in = gmp_sched_in,
	.sched_out = gmp_sched_out,
};

/* The M of the current thread, in any group, or NULL. */
struct gmp_m *gmp_current_m(void)
{
	struct preempt_notifier *pn;

	/* Only current changes its own list, so no lock is needed. */
	hlist_for_each_entry(pn, &current->preempt_notifiers, link)
		if (pn->ops == &gmp_preempt_ops)
			return container_of(pn, struct gmp_m, pn);
	return NULL;
}

/* Unlink the M from its group and free it; process context, off any list walk. */
static void gmp_m_free(struct gmp_m *m)
{
	struct gmp_group *g = m->group;
	struct gmp_slot *slot = m->slot;

	irq_work_sync(&m->dead_work);

	mutex_lock(&g->lock);
	list_del(&m->node);
	g->nr_ms--;
	WRITE_ONCE(slot->armed, 0);
	WRITE_ONCE(slot->m_id, 0);
	WRITE_ONCE(slot->tid, 0);
	WRITE_ONCE(slot->state, GMP_SLOT_FREE);
	g->slot_seq[m->slot_idx] = m->seq;
	clear_bit(m->slot_idx, g->slot_map);
	mutex_unlock(&g->lock);

	kmem_cache_free(gmp_m_cache, m);
	gmp_group_put(g);
	/* Last: module_exit() drains gmp_wq before the module text goes. */
	module_put(THIS_MODULE);
}

static void gmp_m_free_fn(struct work_struct *work)
{
	gmp_m_free(container_of(work, struct gmp_m, free_work));
}

static void gmp_m_dead_fn(struct irq_work *work)
{
	struct gmp_m *m = container_of(work, struct gmp_m, dead_work);

	queue_work(gmp_wq, &m->free_work);
}

/* The current thread's M leaves its list; only the thread itself may do this. */
static void gmp_m_detach(struct gmp_m *m)
{
	preempt_disable();
	preempt_notifier_unregister(&m->pn);
	preempt_enable();
	gmp_m_free(m);
}

struct gmp_m *gmp_m_find_locked(struct gmp_group *g, u32 m_id)
{
	struct gmp_m *m;

	lockdep_assert_held(&g->lock);
	list_for_each_entry(m, &g->ms, node)
		if (m->m_id == m_id)
			return m;
	return NULL;
}

int gmp_m_register(struct gmp_group *g, u32 m_id, u32 flags, u32 *slot_out)
{
	struct gmp_m *m, *old;
	struct gmp_slot *slot;
	u32 idx;
	int ret;

	old = gmp_current_m();
	if (old) {
		/* A registration whose group's file is gone is dropped. */
		if (!READ_ONCE(old->group->released))
			return -EBUSY;
		gmp_m_detach(old);
	}

	m = kmem_cache_zalloc(gmp_m_cache, GFP_KERNEL);
	if (!m)
		return -ENOMEM;

	mutex_lock(&g->lock);
	ret = gmp_group_mem_locked(g);
	if (ret)
		goto err_unlock;
	ret = -EEXIST;
	if (gmp_m_find_locked(g, m_id))
		goto err_unlock;
	ret = -ENOSPC;
	idx = find_first_zero_bit(g->slot_map, g->max_ms);
	if (idx >= g->max_ms)
		goto err_unlock;
	set_bit(idx, g->slot_map);

	preempt_notifier_init(&m->pn, &gmp_preempt_ops);
	init_irq_work(&m->dead_work, gmp_m_dead_fn);
	INIT_WORK(&m->free_work, gmp_m_free_fn);
	m->group = g;
	m->m_id = m_id;
	m->slot_idx = idx;
	m->tid = task_pid_vnr(current);
	slot = &g->slots[idx];
	m->slot = slot;
	m->seq = g->slot_seq[idx];	/* a reused slot keeps counting */
	WRITE_ONCE(slot->m_id, m_id);
	WRITE_ONCE(slot->tid, m->tid);
	WRITE_ONCE(slot->blocks, 0);
	WRITE_ONCE(slot->unblocks, 0);
	WRITE_ONCE(slot->preempts, 0);
	WRITE_ONCE(slot->cpu, raw_smp_processor_id());
	WRITE_ONCE(slot->state, GMP_SLOT_RUNNING);
	WRITE_ONCE(slot->armed, !!(flags & GMP_REGISTER_ARMED));
	list_add_tail(&m->node, &g->ms);
	g->nr_ms++;
	gmp_group_get(g);
	/* The file pins the module now; the M keeps it pinned after close. */
	__module_get(THIS_MODULE);
	mutex_unlock(&g->lock);

	preempt_disable();
	preempt_notifier_register(&m->pn);
	preempt_enable();

	*slot_out = idx;
	return 0;

err_unlock:
	mutex_unlock(&g->lock);
	kmem_cache_free(gmp_m_cache, m);
	return ret;
}

int gmp_m_unregister(struct gmp_group *g)
{
	struct gmp_m *m = gmp_current_m();

	if (!m || m->group != g)
		return -ENOENT;
	gmp_m_detach(m);
	return 0;
}
