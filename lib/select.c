// SPDX-License-Identifier: (LGPL-2.1-or-later OR MIT)
/*
 * select.c - select over channels, after Go's runtime/select.go.
 *
 * 1. Shuffle the cases (pollorder: uniform among ready cases, so fair) and
 *    sort their channels by address (lockorder: no deadlock between two
 *    selects), then lock every channel once.
 * 2. Pass 1: the first case in pollorder that can proceed wins.
 * 3. Otherwise (no default): a sudog per case on every channel's queue, an
 *    optional timer, and park; the unlock callback releases the channels.
 *    The first waker to CAS g->selectdone 0 -> 1 owns the wakeup and sets
 *    g->param to its sudog (the timer sets none).
 * 4. Pass 3: lock again, take our other sudogs off their queues, report
 *    the winner.
 *
 * Cases on an fd's readiness (GMP_SELECT_POLL): pass 1 asks poll(2) with
 * no timeout; pass 2 arms a request per case with the poller
 * (poll_uring.c: an IORING_OP_POLL_ADD, or a helper goroutine in blocking
 * mode) while g->selectdone is 2, "arming": a completion that comes
 * before we park cannot ready us (we are not parked yet); it takes
 * selectdone 2 -> 1 instead, and the commit, failing its CAS 2 -> 0,
 * does not park: pass 3 finds that case fired (W_WON). In pass 3 every
 * fd case is finished before selectdone goes back to 0 - the winner
 * reports its revents, the others are cancelled - so no late completion
 * can touch this goroutine.
 */
#include "internal.h"

#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#define SELECT_STACK_CASES	8

struct selpark {
	struct gmp_select_case *cases;
	uint32_t *lockorder;
	size_t norder;		/* channel cases, in lockorder */
	bool timer;
	bool first;
	bool polls;		/* fd cases armed: selectdone is 2 */
	int64_t when;
};

static inline uintptr_t chkey(struct gmp_select_case *cases, uint32_t i)
{
	return (uintptr_t)cases[i].ch;
}

/* Heap sort of case indices by channel address (Go does the same). */
static void sort_lockorder(struct gmp_select_case *cases, uint32_t *lo, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		size_t j = i;
		uint32_t v = lo[i];
		uintptr_t c = chkey(cases, v);

		while (j > 0 && chkey(cases, lo[(j - 1) / 2]) < c) {
			lo[j] = lo[(j - 1) / 2];
			j = (j - 1) / 2;
		}
		lo[j] = v;
	}
	for (size_t i = n; i-- > 1;) {
		uint32_t v = lo[i];
		uintptr_t c = chkey(cases, v);
		size_t j = 0;

		lo[i] = lo[0];
		for (;;) {
			size_t k = 2 * j + 1;

			if (k >= i)
				break;
			if (k + 1 < i && chkey(cases, lo[k]) < chkey(cases, lo[k + 1]))
				k++;
			if (c < chkey(cases, lo[k])) {
				lo[j] = lo[k];
				j = k;
			} else {
				break;
			}
		}
		lo[j] = v;
	}
}

static void sellock(struct gmp_select_case *cases, uint32_t *lo, size_t n)
{
	struct gmp_chan *last = NULL;

	for (size_t i = 0; i < n; i++) {
		struct gmp_chan *c = cases[lo[i]].ch;

		if (c != last)
			__gmp_lock(&c->lock);
		last = c;
	}
}

/*
 * Unlock in reverse order. Once the last lock is released the select's
 * goroutine may run and its stack (cases, lo) change: touch nothing after.
 */
static void selunlock(struct gmp_select_case *cases, uint32_t *lo, size_t n)
{
	for (size_t i = n; i-- > 0;) {
		struct gmp_chan *c = cases[lo[i]].ch;

		if (i > 0 && c == cases[lo[i - 1]].ch)
			continue;	/* unlock at its first appearance */
		__gmp_unlock(&c->lock);
	}
}

static bool selparkcommit(struct g *gp, void *arg)
{
	struct selpark *sp = arg;
	bool first = sp->timer && sp->first, timer = sp->timer;
	int64_t when = sp->when;
	struct gmp_select_case *cases = sp->cases;
	uint32_t *lockorder = sp->lockorder;
	size_t norder = sp->norder;
	bool park = true;

	/*
	 * Once selectdone is 0 an fd case may ready us; we then wait in pass
	 * 3 for the locks we hold, but with neither a channel nor a timer
	 * nothing holds us: sp (our stack) is read above, not below.
	 */
	if (sp->polls) {
		uint32_t two = 2;

		/* acq_rel: an fd case that fired meanwhile took it 2 -> 1. */
		park = atomic_compare_exchange_strong_explicit(&gp->selectdone,
				&two, 0, memory_order_acq_rel, memory_order_acquire);
	}
	if (timer)
		__gmp_unlock(&__gmp_timers_lock);
	selunlock(cases, lockorder, norder);
	if (first)
		__gmp_wake_timer_sleeper(when);
	return park;
}

static void select_timer_fire(struct timer *t)
{
	struct g *gp = container_of(t, struct g, timer);
	uint32_t zero = 0;

	/* acq_rel: races with channel wakers for the wakeup. */
	if (atomic_compare_exchange_strong_explicit(&gp->selectdone, &zero, 1,
			memory_order_acq_rel, memory_order_relaxed)) {
		gp->param = NULL;
		__gmp_ready(gp, true);
	}
}

static bool case_active(const struct gmp_select_case *cs)
{
	return cs->op == GMP_SELECT_POLL ? cs->elem != NULL : cs->ch != NULL;
}

static int selectgo(struct gmp_select_case *cases, size_t n, bool block,
		    int64_t timeout)
{
	struct g *gp = __gmp_getg();
	uint32_t st_order[2 * SELECT_STACK_CASES];
	struct sudog st_sg[SELECT_STACK_CASES];
	struct selpoll *st_w[SELECT_STACK_CASES];
	struct pollfd st_pfd[SELECT_STACK_CASES];
	uint32_t *pollorder, *lockorder;
	struct sudog *sgs, *sg, *won;
	struct selpoll **ws;
	struct pollfd *pfds;
	size_t norder = 0, nlock = 0, npoll = 0;
	struct selpark sp;
	int casi = -1, ret, armerr = 0;
	void *heap = NULL;

	if (!gp)
		return -EPERM;
	if ((n && !cases) || n > INT_MAX / 2)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (cases[i].op != GMP_SELECT_RECV && cases[i].op != GMP_SELECT_SEND &&
		    cases[i].op != GMP_SELECT_POLL)
			return -EINVAL;
	__gmp_preempt_check();

	if (n <= SELECT_STACK_CASES) {
		pollorder = st_order;
		lockorder = st_order + SELECT_STACK_CASES;
		sgs = st_sg;
		ws = st_w;
		pfds = st_pfd;
	} else {
		heap = malloc(n * (2 * sizeof(uint32_t) + sizeof(struct sudog) +
				   sizeof(struct selpoll *) + sizeof(struct pollfd)));
		if (!heap)
			return -ENOMEM;
		sgs = heap;
		ws = (struct selpoll **)(sgs + n);
		pfds = (struct pollfd *)(ws + n);
		pollorder = (uint32_t *)(pfds + n);
		lockorder = pollorder + n;
	}

	/* A random permutation of the active cases (Fisher-Yates). */
	norder = nlock = npoll = 0;
	for (size_t i = 0; i < n; i++) {
		uint32_t j;

		if (!case_active(&cases[i]))
			continue;
		j = __gmp_fastrandn((uint32_t)norder + 1);
		pollorder[norder] = pollorder[j];
		pollorder[j] = (uint32_t)i;
		norder++;
	}
	if (norder == 0) {
		free(heap);
		if (!block)
			return -EAGAIN;
		if (timeout >= 0) {
			gmp_sleep(timeout);
			return -ETIMEDOUT;
		}
		return -EINVAL;		/* would block forever */
	}
	/* Channel cases in lock order; fd cases asked once, without waiting. */
	for (size_t k = 0; k < norder; k++) {
		uint32_t i = pollorder[k];

		if (cases[i].op != GMP_SELECT_POLL) {
			lockorder[nlock++] = i;
		} else {
			const struct pollfd *u = cases[i].elem;

			pfds[npoll].fd = u->fd;
			pfds[npoll].events = u->events;
			pfds[npoll].revents = 0;
			ws[npoll] = NULL;
			npoll++;
		}
	}
	if (npoll && poll(pfds, npoll, 0) < 0) {
		ret = -errno;
		free(heap);
		return ret;
	}
	sort_lockorder(cases, lockorder, nlock);
	sellock(cases, lockorder, nlock);

	/* Pass 1: anything ready? */
	for (size_t k = 0; k < norder; k++) {
		uint32_t i = pollorder[k];
		struct gmp_select_case *cs = &cases[i];
		struct gmp_chan *c = cs->ch;

		if (cs->op == GMP_SELECT_POLL) {
			struct pollfd *u = cs->elem;
			size_t pi = 0;

			/* Its slot in pfds: fd cases keep pollorder's order. */
			for (size_t kk = 0; kk < k; kk++)
				pi += cases[pollorder[kk]].op == GMP_SELECT_POLL;
			if (!pfds[pi].revents)
				continue;
			selunlock(cases, lockorder, nlock);
			u->revents = pfds[pi].revents;
			cs->result = u->revents;
			casi = i;
			goto out;
		}
		if (cs->op == GMP_SELECT_RECV) {
			sg = __gmp_waitq_dequeue(&c->sendq);
			if (sg) {
				__gmp_chan_recv_direct(c, sg, cs->elem);
				selunlock(cases, lockorder, nlock);
				__gmp_ready(sg->g, true);
				cs->result = 0;
				casi = i;
				goto out;
			}
			if (c->qcount > 0) {
				__gmp_chan_bufrecv(c, cs->elem);
				selunlock(cases, lockorder, nlock);
				cs->result = 0;
				casi = i;
				goto out;
			}
			if (c->closed) {
				selunlock(cases, lockorder, nlock);
				if (cs->elem)
					memset(cs->elem, 0, c->elemsize);
				cs->result = -EPIPE;
				casi = i;
				goto out;
			}
		} else {
			if (c->closed) {
				selunlock(cases, lockorder, nlock);
				cs->result = -EPIPE;
				casi = i;
				goto out;
			}
			sg = __gmp_waitq_dequeue(&c->recvq);
			if (sg) {
				__gmp_chan_send_direct(c, sg, cs->elem);
				selunlock(cases, lockorder, nlock);
				__gmp_ready(sg->g, true);
				cs->result = 0;
				casi = i;
				goto out;
			}
			if (c->qcount < c->dataqsiz) {
				__gmp_chan_bufsend(c, cs->elem);
				selunlock(cases, lockorder, nlock);
				cs->result = 0;
				casi = i;
				goto out;
			}
		}
	}
	if (!block || timeout == 0) {
		selunlock(cases, lockorder, nlock);
		free(heap);
		return timeout == 0 ? -ETIMEDOUT : -EAGAIN;
	}

	/* Pass 2: wait on every channel and fd. */
	gp->param = NULL;
	for (size_t k = 0; k < nlock; k++) {
		uint32_t i = lockorder[k];
		struct gmp_chan *c = cases[i].ch;

		sg = &sgs[k];
		memset(sg, 0, sizeof(*sg));
		sg->g = gp;
		sg->is_select = true;
		sg->elem = cases[i].elem;
		sg->c = c;
		__gmp_waitq_enqueue(cases[i].op == GMP_SELECT_SEND ? &c->sendq : &c->recvq, sg);
	}
	if (npoll) {
		/* relaxed: it is 0 (no waiter can touch it: channel wakers need
		 * the locks we hold); the ring locks order it with the reapers. */
		store_relaxed(&gp->selectdone, 2);
		for (size_t k = 0; k < npoll; k++) {
			ret = __gmp_selpoll_start(pfds[k].fd, pfds[k].events, &ws[k]);
			if (ret < 0) {
				ws[k] = NULL;
				armerr = ret;	/* undone below, as if woken */
				break;
			}
		}
	}
	sp.cases = cases;
	sp.lockorder = lockorder;
	sp.norder = nlock;
	sp.polls = npoll > 0;
	sp.timer = timeout > 0 && !armerr;
	sp.first = false;
	sp.when = 0;
	if (sp.timer) {
		gp->timer.when = __gmp_nanotime() + timeout;
		gp->timer.fn = select_timer_fire;
		__gmp_lock(&__gmp_timers_lock);
		sp.first = __gmp_timer_add_locked(&gp->timer);
		sp.when = gp->timer.when;
	}
	if (!armerr) {
		__gmp_park(selparkcommit, &sp);
	} else {
		/* An fd case could not be armed: unwind as if woken, no channel
		 * waker may pick us meanwhile (selectdone 2 -> 1 if still 2). */
		uint32_t two = 2;

		atomic_compare_exchange_strong(&gp->selectdone, &two, 1);
		selunlock(cases, lockorder, nlock);
	}

	/* Pass 3: woken by a channel or an fd (param), or the timer (none). */
	if (sp.timer) {
		/* Under the lock, so the timer function is not running. */
		__gmp_lock(&__gmp_timers_lock);
		__gmp_timer_del_locked(&gp->timer);
		__gmp_unlock(&__gmp_timers_lock);
	}
	won = gp->param;
	/* The fd cases first: after this none can touch us. */
	for (size_t k = 0, pi = 0; k < norder; k++) {
		uint32_t i = pollorder[k];
		int rev;

		if (cases[i].op != GMP_SELECT_POLL)
			continue;
		if (ws[pi]) {
			rev = __gmp_selpoll_finish(ws[pi], (void *)won == (void *)ws[pi]);
			if (rev >= 0 && casi < 0) {
				struct pollfd *u = cases[i].elem;

				u->revents = (short)rev;
				cases[i].result = rev;
				casi = i;
			}
		}
		pi++;
	}
	sellock(cases, lockorder, nlock);
	/* relaxed: every waker needs one of the locks we now hold, or the
	 * timers lock, and the timer is gone; fd cases are finished. */
	store_relaxed(&gp->selectdone, 0);
	gp->param = NULL;
	for (size_t k = 0; k < nlock; k++) {
		uint32_t i = lockorder[k];
		struct gmp_chan *c = cases[i].ch;

		sg = &sgs[k];
		if (sg == won) {
			casi = i;
			cases[i].result = sg->success ? 0 : -EPIPE;
		} else {
			__gmp_waitq_remove(cases[i].op == GMP_SELECT_SEND ?
					   &c->sendq : &c->recvq, sg);
		}
	}
	selunlock(cases, lockorder, nlock);
	if (armerr) {
		free(heap);
		return armerr;
	}
	if (casi < 0) {
		if (!won && sp.timer) {
			free(heap);
			return -ETIMEDOUT;
		}
		__gmp_fatal("select: bad wakeup");
	}
out:
	free(heap);
	ret = casi;
	return ret;
}

int gmp_select(struct gmp_select_case *cases, size_t n, unsigned int flags)
{
	if (flags & ~GMP_SELECT_NONBLOCK)
		return -EINVAL;
	return selectgo(cases, n, !(flags & GMP_SELECT_NONBLOCK), -1);
}

int gmp_select_timeout(struct gmp_select_case *cases, size_t n, int64_t timeout_ns)
{
	return selectgo(cases, n, true, timeout_ns < 0 ? -1 : timeout_ns);
}
