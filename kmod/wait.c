// SPDX-License-Identifier: GPL-2.0
/*
 * Activations: threads parked in the device, and the doorbell that wakes
 * them.
 *
 * sched_out() cannot wake anybody (it holds the runqueue lock), so it
 * rings the doorbell of its CPU, an irq_work that runs as soon as that CPU
 * has IRQs enabled again, right after the switch. The doorbell wakes one
 * parked waiter per record not already being served, preferring a waiter
 * that parked on this very CPU: the M that blocked has just left it, so
 * the woken activation usually runs here at once instead of waiting for an
 * IPI to another CPU.
 *
 * Earlier still, gmp_prewake() wakes a waiter from the start of the M's
 * switch (prewake.c), before any runqueue lock is taken: a waiter that
 * may run on this CPU then becomes the task the M switches to, with no
 * interrupt and no pass through the idle task; one on another CPU starts
 * waking while the M is still switching out. The prewoken waiter holds a
 * unit of g->pw_cover; the M's BLOCKED record claims it and rings no
 * doorbell. A waiter that finds no record (the M did not block after all)
 * takes its unit back, and once it is gone, the record's doorbell rings.
 *
 * The doorbell is a hard irq_work even on PREEMPT_RT, so it may only take
 * raw spinlocks: it wakes waiters under g->wait_lock (raw). Waking poll(2)
 * sleepers takes a wait_queue_head's spinlock_t, which sleeps on RT, so
 * that is left to a second, ordinary irq_work (g->poll_work).
 */
#include <linux/hrtimer.h>
#include <linux/ktime.h>
#include <linux/moduleparam.h>
#include <linux/poll.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>
#include <linux/slab.h>

#include "internal.h"

static void gmp_poll_fn(struct irq_work *work)
{
	struct gmp_group *g = container_of(work, struct gmp_group, poll_work);

	wake_up_interruptible_poll(&g->poll_wq, EPOLLIN | EPOLLRDNORM);
}

/* wait_lock held: take @w off the lists and wake it. */
static void gmp_waiter_wake_locked(struct gmp_group *g, struct gmp_waiter *w)
{
	list_del_init(&w->node);
	list_del_init(&w->cpu_node);
	w->woken = true;
	g->nr_woken++;
	g->nr_wakeups++;
	/* Under wait_lock: the waiter cannot leave before this returns. */
	wake_up_process(w->task);
}

/* Wake waiters for the records nobody is serving yet. */
static void gmp_wake_waiters(struct gmp_group *g, int cpu)
{
	struct gmp_waiter *w;
	unsigned long flags;
	u32 avail;

	avail = gmp_ring_avail(g);
	raw_spin_lock_irqsave(&g->wait_lock, flags);
	while (g->nr_woken < avail && !list_empty(&g->waiters)) {
		if (!list_empty(&g->cpu_waiters[cpu]))
			w = list_first_entry(&g->cpu_waiters[cpu], struct gmp_waiter, cpu_node);
		else
			w = list_first_entry(&g->waiters, struct gmp_waiter, node);
		gmp_waiter_wake_locked(g, w);
	}
	raw_spin_unlock_irqrestore(&g->wait_lock, flags);
}

/*
 * The start of an armed M's switch to sleep (IRQs off, no rq lock held).
 * Wake one parked waiter for the record it will push, preferring
 * one parked on this CPU; never the M itself (an armed M may be waiting in
 * the device). True if a waiter was woken.
 */
bool gmp_prewake(struct gmp_group *g, int cpu)
{
	struct gmp_waiter *w, *found = NULL;

	lockdep_assert_irqs_disabled();
	raw_spin_lock(&g->wait_lock);
	list_for_each_entry(w, &g->cpu_waiters[cpu], cpu_node) {
		if (w->task != current) {
			found = w;
			break;
		}
	}
	if (!found) {
		list_for_each_entry(w, &g->waiters, node) {
			if (w->task != current) {
				found = w;
				break;
			}
		}
	}
	if (found) {
		found->prewoken = true;
		found->pw_cpu = cpu;
		found->pw_m = get_task_struct(current);
		g->nr_prewakes++;
		atomic_inc(&g->pw_cover);
		gmp_waiter_wake_locked(g, found);
	}
	raw_spin_unlock(&g->wait_lock);
	return found;
}

/*
 * A prewoken M's record is pushed: take the cover of its waiter. False if
 * there is none left (the waiter gave up on the block): ring the doorbell.
 * Fully ordered, and after the push: a waiter whose own claim then fails
 * finds the record.
 */
bool gmp_prewake_claim(struct gmp_group *g)
{
	return atomic_dec_if_positive(&g->pw_cover) >= 0;
}

static void gmp_bell_fn(struct irq_work *work)
{
	struct gmp_bell *bell = container_of(work, struct gmp_bell, work);
	struct gmp_group *g = bell->group;

	gmp_wake_waiters(g, smp_processor_id());
	if (wq_has_sleeper(&g->poll_wq))
		irq_work_queue(&g->poll_work);
}

/*
 * Ring this CPU's doorbell. Any context with preemption disabled, including
 * sched_out() under the runqueue lock: irq_work_queue() only sets a flag
 * and raises a self-interrupt.
 */
void gmp_bell_ring(struct gmp_group *g)
{
	irq_work_queue(&this_cpu_ptr(g->bells)->work);
}

int gmp_wait_init(struct gmp_group *g)
{
	int cpu;

	raw_spin_lock_init(&g->wait_lock);
	INIT_LIST_HEAD(&g->waiters);
	atomic_set(&g->pw_cover, 0);
	init_waitqueue_head(&g->poll_wq);
	init_irq_work(&g->poll_work, gmp_poll_fn);

	g->cpu_waiters = kcalloc(nr_cpu_ids, sizeof(*g->cpu_waiters), GFP_KERNEL);
	if (!g->cpu_waiters)
		return -ENOMEM;
	g->bells = alloc_percpu(struct gmp_bell);
	if (!g->bells) {
		kfree(g->cpu_waiters);
		return -ENOMEM;
	}
	for_each_possible_cpu(cpu) {
		struct gmp_bell *bell = per_cpu_ptr(g->bells, cpu);

		INIT_LIST_HEAD(&g->cpu_waiters[cpu]);
		bell->work = IRQ_WORK_INIT_HARD(gmp_bell_fn);
		bell->group = g;
	}
	return 0;
}

/* No M can ring any more: wait for doorbells still running, then free. */
void gmp_wait_destroy(struct gmp_group *g)
{
	int cpu;

	for_each_possible_cpu(cpu)
		irq_work_sync(&per_cpu_ptr(g->bells, cpu)->work);
	irq_work_sync(&g->poll_work);
	free_percpu(g->bells);
	kfree(g->cpu_waiters);
}

static void gmp_waiter_park(struct gmp_group *g, struct gmp_waiter *w)
{
	int cpu = raw_smp_processor_id();

	raw_spin_lock_irq(&g->wait_lock);
	w->woken = false;
	w->prewoken = false;
	list_add_tail(&w->node, &g->waiters);
	list_add_tail(&w->cpu_node, &g->cpu_waiters[cpu]);
	raw_spin_unlock_irq(&g->wait_lock);
}

/* Off the lists if no doorbell took us off already; true if one did. */
static bool gmp_waiter_unpark(struct gmp_group *g, struct gmp_waiter *w)
{
	bool woken;

	raw_spin_lock_irq(&g->wait_lock);
	woken = w->woken;
	if (!woken) {
		list_del_init(&w->node);
		list_del_init(&w->cpu_node);
	}
	raw_spin_unlock_irq(&g->wait_lock);
	return woken;
}

/*
 * A woken waiter has taken what it came for: the doorbell may count again.
 * Records may be left that no doorbell will ring for (one a prewoken waiter
 * was counted on for, when it took another): wake for those here.
 */
static void gmp_waiter_done(struct gmp_group *g)
{
	bool more;

	raw_spin_lock_irq(&g->wait_lock);
	g->nr_woken--;
	more = !list_empty(&g->waiters) && g->nr_woken < gmp_ring_avail(g);
	raw_spin_unlock_irq(&g->wait_lock);
	if (more)
		gmp_wake_waiters(g, raw_smp_processor_id());
}

static unsigned int gmp_prewake_spin_us = 100;
module_param_named(prewake_spin_us, gmp_prewake_spin_us, uint, 0644);
MODULE_PARM_DESC(prewake_spin_us,
		 "Longest a prewoken waiter on another CPU spins for the M's record (us)");

/*
 * A prewoken waiter found no record. If the M that woke it is on another
 * CPU and still on its way to sleep, its record is a few instructions away:
 * spin for it, as a mutex waiter spins on an owner that is running, bounded
 * in time (at most 1 ms whatever the parameter says) and yielding to
 * anything else that wants this CPU. The M's state ends the spin too: it
 * is TASK_RUNNING again if it did not sleep after all (a wakeup or signal
 * came first and __schedule() picked it again, so no sched_out() and no
 * record), and a real sleep leaves it set until after the record's push,
 * since a wakeup waits for the switch to finish (p->on_cpu).
 */
static void gmp_prewake_spin(struct gmp_group *g, struct gmp_waiter *w)
{
	unsigned int us = min_t(unsigned int, READ_ONCE(gmp_prewake_spin_us), 1000);
	u64 end;

	if (w->pw_cpu == raw_smp_processor_id() || !us)
		return;
	end = ktime_get_mono_fast_ns() + us * NSEC_PER_USEC;
	/* acquire: a record pushed before the M ran again is seen below. */
	while (smp_load_acquire(&w->pw_m->__state) != TASK_RUNNING &&
	       !gmp_ring_avail(g)) {
		if (need_resched() || signal_pending(current) ||
		    ktime_get_mono_fast_ns() > end)
			break;
		cpu_relax();
	}
}

/*
 * Give back a prewoken waiter's unit of cover, if no record has claimed it:
 * from then on the M's record rings its own doorbell. False if a record
 * claimed it first; that record is in the ring now (or was taken).
 */
static bool gmp_prewake_withdraw(struct gmp_group *g)
{
	if (atomic_dec_if_positive(&g->pw_cover) >= 0)
		return true;
	/* Pairs with the claim, which comes after the push. */
	smp_mb();
	return false;
}

/*
 * The body of GMP_IOC_WAIT and read(2): return up to @max records, parking
 * until there is one. @timeout_ns < 0 waits forever, 0 never sleeps.
 */
long gmp_wait_events(struct gmp_group *g, struct gmp_event __user *buf, u32 max,
		     s64 timeout_ns, bool nonblock)
{
	struct gmp_waiter w = { .task = current };
	bool woken = false, expired = false;
	ktime_t expires = 0;
	long n;

	if (timeout_ns == 0)
		nonblock = true;
	else if (timeout_ns > 0)
		expires = ktime_add_safe(ktime_get(), ns_to_ktime(timeout_ns));

	for (;;) {
		n = gmp_ring_consume(g, buf, max);
		if (woken && w.prewoken) {
			if (!n) {
				gmp_prewake_spin(g, &w);
				n = gmp_ring_consume(g, buf, max);
			}
			if (!gmp_prewake_withdraw(g) && !n)
				n = gmp_ring_consume(g, buf, max);
			w.prewoken = false;
			put_task_struct(w.pw_m);
			w.pw_m = NULL;
		}
		if (woken) {
			gmp_waiter_done(g);
			woken = false;
		}
		if (n)
			return n;
		if (nonblock)
			return -EAGAIN;
		if (expired)
			return -ETIMEDOUT;
		if (signal_pending(current))
			return -EINTR;

		/* Records there but taken by others, or a hostile head: no spinning. */
		cond_resched();
		set_current_state(TASK_INTERRUPTIBLE);
		gmp_waiter_park(g, &w);
		/* A record published before we were on the list: no doorbell for us. */
		if (!gmp_ring_avail(g)) {
			if (timeout_ns < 0)
				schedule();
			else if (!schedule_hrtimeout_range(&expires, 0, HRTIMER_MODE_ABS))
				expired = true;
		} else if (timeout_ns > 0 && ktime_after(ktime_get(), expires)) {
			expired = true;
		}
		__set_current_state(TASK_RUNNING);
		woken = gmp_waiter_unpark(g, &w);
	}
}
