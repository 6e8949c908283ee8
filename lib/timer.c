// SPDX-License-Identifier: (LGPL-2.1-or-later OR MIT)
/*
 * timer.c - the runtime's timers: one binary min-heap under one lock.
 *
 * Go keeps a heap per P; one heap is simpler and the lock is taken once
 * per sleep, which is not the hot path this library optimises. Who runs
 * expired timers: any M at each schedule() and findrunnable() (a relaxed
 * load of __gmp_timers_next, and the clock only if a timer exists); the M
 * that parks last waits with a timeout for the earliest one (the "timer
 * M", sched.c); sysmon starts an M when a timer is overdue.
 *
 * Timer functions run with the timers lock held, so deleting a timer under
 * the lock guarantees its function is not running and will not run. They
 * may only ready a goroutine (which may take sched.lock: timers come before
 * sched in the lock order).
 */
#include "internal.h"

#include <limits.h>
#include <stdlib.h>

struct lock __gmp_timers_lock;
_Atomic int64_t __gmp_timers_next = INT64_MAX;

static struct timer **heap;
static size_t nheap, capheap;

static void update_next(void)
{
	/* relaxed: a hint; the Dekker pairs in sched.c use fences. */
	store_relaxed(&__gmp_timers_next, nheap ? heap[0]->when : INT64_MAX);
}

static void heap_set(size_t i, struct timer *t)
{
	heap[i] = t;
	t->idx = (int64_t)i;
}

static void sift_up(size_t i)
{
	struct timer *t = heap[i];

	while (i > 0) {
		size_t parent = (i - 1) / 2;

		if (heap[parent]->when <= t->when)
			break;
		heap_set(i, heap[parent]);
		i = parent;
	}
	heap_set(i, t);
}

static void sift_down(size_t i)
{
	struct timer *t = heap[i];

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= nheap)
			break;
		if (c + 1 < nheap && heap[c + 1]->when < heap[c]->when)
			c++;
		if (t->when <= heap[c]->when)
			break;
		heap_set(i, heap[c]);
		i = c;
	}
	heap_set(i, t);
}

bool __gmp_timer_add_locked(struct timer *t)
{
	if (nheap == capheap) {
		size_t cap = capheap ? capheap * 2 : 64;
		struct timer **h = realloc(heap, cap * sizeof(*h));

		if (!h)
			__gmp_fatal("timers: out of memory");
		heap = h;
		capheap = cap;
	}
	heap_set(nheap++, t);
	sift_up(nheap - 1);
	update_next();
	return heap[0] == t;
}

void __gmp_timer_del_locked(struct timer *t)
{
	size_t i;

	if (t->idx < 0)
		return;
	i = (size_t)t->idx;
	t->idx = -1;
	nheap--;
	if (i != nheap) {
		struct timer *last = heap[nheap];

		heap_set(i, last);
		sift_down(i);
		sift_up((size_t)last->idx);
	}
	update_next();
}

void __gmp_timers_run(int64_t now)
{
	__gmp_lock(&__gmp_timers_lock);
	while (nheap && heap[0]->when <= now) {
		struct timer *t = heap[0];

		__gmp_timer_del_locked(t);
		t->fn(t);
	}
	__gmp_unlock(&__gmp_timers_lock);
}

/* ---- sleep ------------------------------------------------------------- */

struct sleep_park {
	bool first;
	int64_t when;
};

static void sleep_fire(struct timer *t)
{
	/* Not runnext: sleepers expiring together run in deadline order. */
	__gmp_ready(container_of(t, struct g, timer), false);
}

static bool sleep_unlock(struct g *gp, void *arg)
{
	struct sleep_park *sp = arg;
	bool first = sp->first;
	int64_t when = sp->when;

	(void)gp;
	/* After this unlock the timer may fire and gp (and sp) run on. */
	__gmp_unlock(&__gmp_timers_lock);
	if (first)
		__gmp_wake_timer_sleeper(when);
	return true;
}

int gmp_sleep(int64_t ns)
{
	struct g *gp = __gmp_getg();
	struct sleep_park sp;

	if (!gp)
		return -EPERM;
	if (ns <= 0) {
		gmp_yield();
		return 0;
	}
	gp->timer.when = __gmp_nanotime() + ns;
	gp->timer.fn = sleep_fire;
	__gmp_lock(&__gmp_timers_lock);
	sp.first = __gmp_timer_add_locked(&gp->timer);
	sp.when = gp->timer.when;
	__gmp_park(sleep_unlock, &sp);
	return 0;
}
