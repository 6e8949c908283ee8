// SPDX-License-Identifier: (LGPL-2.1-or-later OR MIT)
/*
 * sync.c - goroutine-aware mutex, wait group and once. Blocking parks the
 * goroutine, never the thread.
 *
 * The mutex hands ownership straight to the oldest waiter on unlock (FIFO,
 * like Go's starvation mode all the time): simple, and no waiter starves.
 * An uncontended lock and unlock are one CAS each.
 */
#include "internal.h"

#include <string.h>

struct mutex_impl {
	_Atomic uint32_t state;		/* 0 free, 1 held */
	struct lock lock;		/* protects the queue */
	struct waitq waiters;
};

struct wg_impl {
	_Atomic long counter;
	struct lock lock;
	struct waitq waiters;
};

struct once_impl {
	_Atomic uint32_t done;
	struct gmp_mutex mu;
};

_Static_assert(sizeof(struct mutex_impl) <= sizeof(struct gmp_mutex), "gmp_mutex");
_Static_assert(sizeof(struct wg_impl) <= sizeof(struct gmp_waitgroup), "gmp_waitgroup");
_Static_assert(sizeof(struct once_impl) <= sizeof(struct gmp_once), "gmp_once");

/* ---- mutex ------------------------------------------------------------- */

int gmp_mutex_trylock(struct gmp_mutex *mu)
{
	struct mutex_impl *m = (struct mutex_impl *)mu;
	uint32_t zero = 0;

	if (!mu)
		return -EINVAL;
	/* acquire: the previous holder's writes. */
	if (atomic_compare_exchange_strong_explicit(&m->state, &zero, 1,
			memory_order_acquire, memory_order_relaxed))
		return 0;
	return -EBUSY;
}

int gmp_mutex_lock(struct gmp_mutex *mu)
{
	struct mutex_impl *m = (struct mutex_impl *)mu;
	struct g *gp = __gmp_getg();
	struct sudog sg;

	if (!mu)
		return -EINVAL;
	if (!gp)
		return -EPERM;
	__gmp_preempt_check();
	if (gmp_mutex_trylock(mu) == 0)
		return 0;
	__gmp_lock(&m->lock);
	/* The holder may have left while we took the queue lock. */
	if (gmp_mutex_trylock(mu) == 0) {
		__gmp_unlock(&m->lock);
		return 0;
	}
	memset(&sg, 0, sizeof(sg));
	sg.g = gp;
	__gmp_waitq_enqueue(&m->waiters, &sg);
	__gmp_park(__gmp_park_unlock, &m->lock);
	/* The unlocker handed the mutex to us: state stayed 1. */
	return 0;
}

int gmp_mutex_unlock(struct gmp_mutex *mu)
{
	struct mutex_impl *m = (struct mutex_impl *)mu;
	struct sudog *sg;

	if (!mu)
		return -EINVAL;
	if (load_relaxed(&m->state) != 1)
		return -EPERM;
	__gmp_lock(&m->lock);
	sg = __gmp_waitq_dequeue(&m->waiters);
	if (!sg)
		store_release(&m->state, 0);	/* release: our critical section */
	__gmp_unlock(&m->lock);
	if (sg)
		__gmp_ready(sg->g, false);	/* handoff: ours writes via the run queue */
	__gmp_preempt_check();
	return 0;
}

/* ---- wait group ---------------------------------------------------------- */

int gmp_wg_add(struct gmp_waitgroup *wg, long delta)
{
	struct wg_impl *w = (struct wg_impl *)wg;
	struct sudog *sg, *list = NULL;
	long v;

	if (!wg)
		return -EINVAL;
	/* acq_rel: Done's writes happen before Wait returns (via the lock too). */
	v = atomic_fetch_add_explicit(&w->counter, delta, memory_order_acq_rel) + delta;
	if (v < 0) {
		atomic_fetch_sub_explicit(&w->counter, delta, memory_order_relaxed);
		return -EINVAL;
	}
	if (v > 0 || delta == 0)
		return 0;
	/* Reached zero: wake every waiter. */
	__gmp_lock(&w->lock);
	while ((sg = __gmp_waitq_dequeue(&w->waiters))) {
		sg->waitlink = list;
		list = sg;
	}
	__gmp_unlock(&w->lock);
	while (list) {
		sg = list;
		list = sg->waitlink;
		__gmp_ready(sg->g, false);
	}
	return 0;
}

int gmp_wg_done(struct gmp_waitgroup *wg)
{
	return gmp_wg_add(wg, -1);
}

int gmp_wg_wait(struct gmp_waitgroup *wg)
{
	struct wg_impl *w = (struct wg_impl *)wg;
	struct g *gp = __gmp_getg();
	struct sudog sg;

	if (!wg)
		return -EINVAL;
	if (!gp)
		return -EPERM;
	__gmp_preempt_check();
	if (atomic_load_explicit(&w->counter, memory_order_acquire) == 0)
		return 0;
	__gmp_lock(&w->lock);
	if (atomic_load_explicit(&w->counter, memory_order_acquire) == 0) {
		__gmp_unlock(&w->lock);
		return 0;
	}
	memset(&sg, 0, sizeof(sg));
	sg.g = gp;
	__gmp_waitq_enqueue(&w->waiters, &sg);
	__gmp_park(__gmp_park_unlock, &w->lock);
	return 0;
}

/* ---- once -------------------------------------------------------------- */

int gmp_once(struct gmp_once *once, void (*fn)(void *), void *arg)
{
	struct once_impl *o = (struct once_impl *)once;
	int ret;

	if (!once || !fn)
		return -EINVAL;
	/* acquire: fn's effects, published by the store-release below. */
	if (load_acquire(&o->done))
		return 0;
	ret = gmp_mutex_lock(&o->mu);
	if (ret < 0)
		return ret;
	if (!load_relaxed(&o->done)) {
		fn(arg);
		store_release(&o->done, 1);
	}
	gmp_mutex_unlock(&o->mu);
	return 0;
}
