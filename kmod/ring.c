// SPDX-License-Identifier: GPL-2.0
/*
 * The event ring shared with user space.
 *
 * Producers are the preempt notifiers of the group's Ms, on any CPU, with
 * the runqueue lock held in sched_out(): they serialise on g->prod_lock,
 * write the record and publish it with a store-release of the tail.
 *
 * Consumers take no lock. A consumer copies record `head`, then claims it
 * by compare-and-swapping head to head + 1; a failed CAS means another
 * consumer (read(2), GMP_IOC_WAIT, or user space through the mapping) took
 * it, and the copy is thrown away. The producer never reuses a record's
 * place until head has moved past it, so a successful CAS proves the copy
 * was whole. The kernel's private tail is the truth: user space can write
 * the mapped tail and head, and can only hurt itself by doing so.
 */
#include <linux/minmax.h>
#include <linux/sched/signal.h>
#include <linux/smp.h>
#include <linux/ktime.h>
#include <linux/uaccess.h>

#include "internal.h"

/* The group's ring, or NULL before its shared memory exists. */
struct gmp_ring *gmp_group_ring(struct gmp_group *g)
{
	/* Pairs with the store-release in gmp_group_mem_locked(). */
	return smp_load_acquire(&g->ring);
}

/* Records below the returned index are complete. */
static u32 gmp_ring_tail(struct gmp_group *g)
{
	/* Pairs with the store-release in gmp_ring_push(). */
	return smp_load_acquire(&g->tail);
}

/*
 * Append @ev. Called with g->prod_lock held and IRQs off, from sched_out()
 * or sched_in(): no allocation, no wakeup, O(1).
 */
void gmp_ring_push(struct gmp_group *g, const struct gmp_event *ev)
{
	u32 tail = g->tail;
	u32 head = READ_ONCE(g->ring->head);

	if (tail - head >= g->entries) {
		g->nr_overflows++;
		atomic64_inc(&g->lost_pending);
		WRITE_ONCE(g->ring->overflow, g->nr_overflows);
		return;
	}
	g->events[tail & (g->entries - 1)] = *ev;
	g->nr_events++;
	/* Pairs with the smp_load_acquire() of consumers: record, then tail. */
	smp_store_release(&g->tail, tail + 1);
	WRITE_ONCE(g->ring->tail, tail + 1);
}

/* Records a consumer can take now, counting a pending overflow notice. */
u32 gmp_ring_avail(struct gmp_group *g)
{
	u32 tail, head, n;

	if (!gmp_group_ring(g))
		return 0;
	/* head first: a tail read later is never behind it (see below). */
	head = READ_ONCE(g->ring->head);
	tail = gmp_ring_tail(g);
	n = tail - head > g->entries ? 0 : tail - head;
	return n + (atomic64_read(&g->lost_pending) ? 1 : 0);
}

/*
 * Claim the oldest record into @dst: 1 if done, 0 if empty (or taken by
 * others), -EFAULT, or -EINTR. A CAS fails when another consumer was
 * faster, but also, forever, when user space keeps writing head, e.g. with
 * @dst aliasing the mapped ring itself. So the retries are bounded (fair
 * competitors cannot beat us entries + 16 times in a row), and each one is
 * a point where the caller can be rescheduled and a signal ends the call.
 */
static int gmp_ring_pop_user(struct gmp_group *g, struct gmp_event __user *dst)
{
	struct gmp_ring *ring = g->ring;
	struct gmp_event ev;
	u32 head, tail, tries;

	for (tries = 0; tries < g->entries + 16; tries++, cond_resched()) {
		if (signal_pending(current))
			return -EINTR;
		/*
		 * head, then tail: consumers only move head up to a tail they
		 * saw, so a tail read after head is at or past it, and a head
		 * beyond it can only be user space's doing. (Read the other
		 * way round, a stale tail makes a fresh head look bogus.)
		 */
		head = READ_ONCE(ring->head);
		tail = gmp_ring_tail(g);
		if (head == tail)
			return 0;
		if (tail - head > g->entries) {
			/* User space scribbled on head: make the ring sane again. */
			cmpxchg(&ring->head, head, tail);
			continue;
		}
		/*
		 * This copy may race with the producer refilling the record if
		 * another consumer claims it first; the CAS below then fails
		 * and the copy is discarded.
		 */
		memcpy(&ev, &g->events[head & (g->entries - 1)], sizeof(ev));
		/* Copy out before claiming, so a fault loses nothing. */
		if (copy_to_user(dst, &ev, sizeof(ev)))
			return -EFAULT;
		if (cmpxchg(&ring->head, head, head + 1) == head)
			return 1;
	}
	return 0;
}

/*
 * Copy up to @max records to @buf: first a GMP_EV_OVERFLOW notice if
 * records were lost, then the ring's oldest records. Returns how many were
 * copied, or -EFAULT or -EINTR if not even the first could be.
 */
long gmp_ring_consume(struct gmp_group *g, struct gmp_event __user *buf, u32 max)
{
	s64 lost;
	long n = 0;
	int ret;

	if (!gmp_group_ring(g))
		return 0;

	lost = atomic64_xchg(&g->lost_pending, 0);
	if (lost) {
		struct gmp_event ev = {
			.type = GMP_EV_OVERFLOW,
			.m_id = U32_MAX,
			.slot = U32_MAX,
			.seq = (u32)min_t(s64, lost, U32_MAX),
			.time_ns = ktime_get_ns(),
			.syscall = -1,
			.cpu = raw_smp_processor_id(),
		};

		if (copy_to_user(buf, &ev, sizeof(ev))) {
			atomic64_add(lost, &g->lost_pending);
			return -EFAULT;
		}
		n++;
	}

	while (n < max) {
		ret = gmp_ring_pop_user(g, buf + n);
		if (ret < 0)
			return n ? n : ret;
		if (!ret)
			break;
		n++;
	}
	return n;
}
