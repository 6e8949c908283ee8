// SPDX-License-Identifier: GPL-2.0
/*
 * The early doorbell: an armed M that goes to sleep in __schedule().
 *
 * sched_out() sees a block only once the next task is picked, under the
 * runqueue lock, where nobody may be woken: its doorbell is an irq_work that
 * runs after the switch. Then the CPU the M left first switches to the idle
 * task, takes the doorbell's self-interrupt, wakes a waiter and switches
 * again; a waiter on another CPU hears of it only after all that.
 *
 * __schedule() announces the switch earlier: with IRQs off and before it
 * takes the runqueue lock, it calls rcu_note_context_switch(), whose first
 * act is the tracepoint rcu_utilization("Start context switch"). Nothing of
 * the scheduler is locked there (RCU itself may wake its own kthreads from
 * that spot), so the module attaches a probe to that tracepoint. For an
 * armed M whose state says it is going to sleep, the probe wakes one parked
 * waiter at once (gmp_prewake()): on this CPU, that waiter is the very task
 * the M's switch goes to, with no interrupt and no pass through idle; on
 * another CPU it wakes while the M is still switching out.
 *
 * This is only a head start. The record is still written by sched_out(),
 * which alone knows that the M did block: a preemption that finds the M's
 * state already set to sleep also comes here, and a wakeup may come first.
 * A prewoken waiter that finds no record gives its cover back (wait.c) and
 * parks again.
 *
 * The cost for everyone else: the tracepoint's static key is switched on
 * once, at load, so each context switch and scheduler tick of the machine
 * calls the probe twice (start and end), and each call tests the current
 * task's preempt-notifier list (the test the module's preempt notifiers
 * already cost each switch) and returns. `insmod gmp.ko prewake=0` leaves
 * the tracepoint alone; the doorbell then does all the work.
 */
#include <linux/module.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/string.h>
#include <linux/tracepoint.h>

#include "internal.h"

static bool gmp_prewake_on = true;
module_param_named(prewake, gmp_prewake_on, bool, 0444);
MODULE_PARM_DESC(prewake,
		 "Wake a waiter from the start of a blocking M's context switch (default: on)");

static struct tracepoint *gmp_tp;

/*
 * rcu_utilization, from __schedule() (IRQs off, no runqueue lock), the
 * scheduler tick and RCU's own work: only the first is ours.
 */
static void gmp_switch_probe(void *data, const char *s)
{
	struct task_struct *p = current;
	unsigned int state;
	struct gmp_m *m;

	/* Most tasks: one load and out. */
	if (likely(hlist_empty(&p->preempt_notifiers)))
		return;
	if (s[0] != 'S' || s[6] != 'c' || strcmp(s, "Start context switch"))
		return;
	/* __schedule() calls it with IRQs off; gmp_prewake() relies on it. */
	if (WARN_ON_ONCE(!irqs_disabled()))
		return;
	/* What __schedule() will test to decide that p blocks. */
	state = READ_ONCE(p->__state);
	if (state == TASK_RUNNING || state == TASK_RTLOCK_WAIT ||
	    state == TASK_DEAD || signal_pending_state(state, p))
		return;
	/* Only p changes its notifier list, and p is here. */
	m = gmp_current_m();
	if (!m || !READ_ONCE(m->slot->armed))
		return;
	m->prewoke = gmp_prewake(m->group, smp_processor_id());
}

static void gmp_find_tp(struct tracepoint *tp, void *priv)
{
	if (!strcmp(tp->name, "rcu_utilization"))
		*(struct tracepoint **)priv = tp;
}

void gmp_prewake_init(void)
{
	struct tracepoint *tp = NULL;
	int ret;

	if (!gmp_prewake_on)
		return;
	for_each_kernel_tracepoint(gmp_find_tp, &tp);
	if (!tp) {
		pr_info("no prewake (no rcu_utilization tracepoint): doorbell only\n");
		return;
	}
	ret = tracepoint_probe_register(tp, gmp_switch_probe, NULL);
	if (ret) {
		pr_info("no prewake (rcu_utilization probe: %d): doorbell only\n", ret);
		return;
	}
	gmp_tp = tp;
}

/* Is the probe in place (GMP_FEAT_PREWAKE)? */
bool gmp_prewake_active(void)
{
	return gmp_tp;
}

void gmp_prewake_exit(void)
{
	if (!gmp_tp)
		return;
	tracepoint_probe_unregister(gmp_tp, gmp_switch_probe, NULL);
	/* No CPU is in the probe after this: the module's text may go. */
	tracepoint_synchronize_unregister();
	gmp_tp = NULL;
}
