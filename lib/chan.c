// SPDX-License-Identifier: (LGPL-2.1-or-later OR MIT)
/*
 * chan.c - channels, after Go's runtime/chan.go.
 *
 * A channel is a lock, a ring buffer of dataqsiz elements and two queues
 * of waiting goroutines (sudogs on their own stacks). Invariants, as in
 * Go: at most one of recvq and sendq is non-empty; if the buffer has
 * elements, recvq is empty; if the buffer has room, sendq is empty.
 *
 * A sender that finds a waiting receiver copies its element straight into
 * the receiver's variable and readies it (into runnext: it runs next on
 * this P). A receiver of an unbuffered channel does the same from a
 * waiting sender; on a full buffered one it takes the head of the buffer
 * and moves the waiting sender's element to the tail, so order is kept.
 *
 * A sudog of a select is shared by several channels: whoever dequeues it
 * must first win the goroutine's selectdone CAS, otherwise another channel
 * (or the select's timeout) already woke it and the sudog is skipped.
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

/* ---- wait queues (the channel's lock held) -------------------------- */

void __gmp_waitq_enqueue(struct waitq *q, struct sudog *s)
{
	s->next = NULL;
	s->prev = q->last;
	if (q->last)
		q->last->next = s;
	else
		q->first = s;
	q->last = s;
}

struct sudog *__gmp_waitq_dequeue(struct waitq *q)
{
	for (;;) {
		struct sudog *s = q->first;
		uint32_t zero = 0;

		if (!s)
			return NULL;
		q->first = s->next;
		if (q->first)
			q->first->prev = NULL;
		else
			q->last = NULL;
		s->next = NULL;
		s->prev = NULL;
		/* acq_rel: a select's other wakers (other locks) race for it. */
		if (s->is_select && !atomic_compare_exchange_strong_explicit(
				&s->g->selectdone, &zero, 1, memory_order_acq_rel,
				memory_order_relaxed))
			continue;
		return s;
	}
}

void __gmp_waitq_remove(struct waitq *q, struct sudog *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else if (q->first == s)
		q->first = s->next;
	else
		return;		/* not queued (a waker dequeued it) */
	if (s->next)
		s->next->prev = s->prev;
	else
		q->last = s->prev;
	s->next = NULL;
	s->prev = NULL;
}

/* ---- element moves (the channel's lock held) ------------------------- */

static inline char *chanbuf(struct gmp_chan *c, size_t i)
{
	return c->buf + i * c->elemsize;
}

/* To a waiting receiver. The caller unlocks, then readies sg->g. */
void __gmp_chan_send_direct(struct gmp_chan *c, struct sudog *sg, const void *ep)
{
	if (sg->elem && c->elemsize)
		memcpy(sg->elem, ep, c->elemsize);
	sg->success = true;
	sg->g->param = sg;
}

/* From a waiting sender. The caller unlocks, then readies sg->g. */
void __gmp_chan_recv_direct(struct gmp_chan *c, struct sudog *sg, void *ep)
{
	if (c->dataqsiz == 0) {
		if (ep && c->elemsize)
			memcpy(ep, sg->elem, c->elemsize);
	} else {
		/* Full buffer: take its head, the sender's element goes last. */
		char *qp = chanbuf(c, c->recvx);

		if (ep)
			memcpy(ep, qp, c->elemsize);
		memcpy(qp, sg->elem, c->elemsize);
		if (++c->recvx == c->dataqsiz)
			c->recvx = 0;
		c->sendx = c->recvx;
	}
	sg->success = true;
	sg->g->param = sg;
}

void __gmp_chan_bufsend(struct gmp_chan *c, const void *ep)
{
	memcpy(chanbuf(c, c->sendx), ep, c->elemsize);
	if (++c->sendx == c->dataqsiz)
		c->sendx = 0;
	c->qcount++;
}

void __gmp_chan_bufrecv(struct gmp_chan *c, void *ep)
{
	char *qp = chanbuf(c, c->recvx);

	if (ep)
		memcpy(ep, qp, c->elemsize);
	memset(qp, 0, c->elemsize);
	if (++c->recvx == c->dataqsiz)
		c->recvx = 0;
	c->qcount--;
}

/* ---- the operations --------------------------------------------------- */

int gmp_chan_make(gmp_chan_t **ch, size_t elem_size, size_t capacity)
{
	struct gmp_chan *c;

	if (!ch || elem_size > (1U << 16) ||
	    (elem_size && capacity > SIZE_MAX / 2 / elem_size))
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->elemsize = elem_size;
	c->dataqsiz = capacity;
	c->buf = calloc(1, capacity * elem_size > 0 ? capacity * elem_size : 1);
	if (!c->buf) {
		free(c);
		return -ENOMEM;
	}
	*ch = c;
	return 0;
}

void gmp_chan_free(gmp_chan_t *c)
{
	if (!c)
		return;
	free(c->buf);
	free(c);
}

static int chansend(struct gmp_chan *c, const void *ep, bool block)
{
	struct g *gp = __gmp_getg();
	struct sudog mysg, *sg;

	if (block && !gp)
		return -EPERM;
	if (!c)
		return block ? -EINVAL : -EAGAIN;
	if (gp)
		__gmp_preempt_check();
	__gmp_lock(&c->lock);
	if (c->closed) {
		__gmp_unlock(&c->lock);
		return -EPIPE;
	}
	sg = __gmp_waitq_dequeue(&c->recvq);
	if (sg) {
		__gmp_chan_send_direct(c, sg, ep);
		__gmp_unlock(&c->lock);
		__gmp_ready(sg->g, true);
		return 0;
	}
	if (c->qcount < c->dataqsiz) {
		__gmp_chan_bufsend(c, ep);
		__gmp_unlock(&c->lock);
		return 0;
	}
	if (!block) {
		__gmp_unlock(&c->lock);
		return -EAGAIN;
	}
	memset(&mysg, 0, sizeof(mysg));
	mysg.g = gp;
	mysg.elem = (void *)ep;
	mysg.c = c;
	gp->param = NULL;
	__gmp_waitq_enqueue(&c->sendq, &mysg);
	__gmp_park(__gmp_park_unlock, &c->lock);
	/* Woken by a receiver (success) or by close. */
	return mysg.success ? 0 : -EPIPE;
}

static int chanrecv(struct gmp_chan *c, void *ep, bool block)
{
	struct g *gp = __gmp_getg();
	struct sudog mysg, *sg;

	if (block && !gp)
		return -EPERM;
	if (!c)
		return block ? -EINVAL : -EAGAIN;
	if (gp)
		__gmp_preempt_check();
	__gmp_lock(&c->lock);
	if (c->closed && c->qcount == 0) {
		__gmp_unlock(&c->lock);
		if (ep)
			memset(ep, 0, c->elemsize);
		return -EPIPE;
	}
	sg = __gmp_waitq_dequeue(&c->sendq);
	if (sg) {
		__gmp_chan_recv_direct(c, sg, ep);
		__gmp_unlock(&c->lock);
		__gmp_ready(sg->g, true);
		return 0;
	}
	if (c->qcount > 0) {
		__gmp_chan_bufrecv(c, ep);
		__gmp_unlock(&c->lock);
		return 0;
	}
	if (!block) {
		__gmp_unlock(&c->lock);
		return -EAGAIN;
	}
	memset(&mysg, 0, sizeof(mysg));
	mysg.g = gp;
	mysg.elem = ep;
	mysg.c = c;
	gp->param = NULL;
	__gmp_waitq_enqueue(&c->recvq, &mysg);
	__gmp_park(__gmp_park_unlock, &c->lock);
	return mysg.success ? 0 : -EPIPE;
}

int gmp_chan_send(gmp_chan_t *c, const void *elem)
{
	return chansend(c, elem, true);
}

int gmp_chan_try_send(gmp_chan_t *c, const void *elem)
{
	return chansend(c, elem, false);
}

int gmp_chan_recv(gmp_chan_t *c, void *elem)
{
	return chanrecv(c, elem, true);
}

int gmp_chan_try_recv(gmp_chan_t *c, void *elem)
{
	return chanrecv(c, elem, false);
}

int gmp_chan_close(gmp_chan_t *c)
{
	struct sudog *list = NULL, *sg;

	if (!c)
		return -EINVAL;
	__gmp_lock(&c->lock);
	if (c->closed) {
		__gmp_unlock(&c->lock);
		return -EPIPE;
	}
	c->closed = true;
	/* Release every receiver (zero value, ok = false) and sender (error). */
	while ((sg = __gmp_waitq_dequeue(&c->recvq))) {
		if (sg->elem)
			memset(sg->elem, 0, c->elemsize);
		sg->success = false;
		sg->g->param = sg;
		sg->waitlink = list;
		list = sg;
	}
	while ((sg = __gmp_waitq_dequeue(&c->sendq))) {
		sg->success = false;
		sg->g->param = sg;
		sg->waitlink = list;
		list = sg;
	}
	__gmp_unlock(&c->lock);
	while (list) {
		struct g *gp;

		sg = list;
		/* Read the link before the G runs and its stack changes. */
		list = sg->waitlink;
		gp = sg->g;
		__gmp_ready(gp, true);
	}
	return 0;
}

size_t gmp_chan_len(gmp_chan_t *c)
{
	size_t n;

	if (!c)
		return 0;
	__gmp_lock(&c->lock);
	n = c->qcount;
	__gmp_unlock(&c->lock);
	return n;
}

size_t gmp_chan_cap(gmp_chan_t *c)
{
	return c ? c->dataqsiz : 0;
}
