// SPDX-License-Identifier: (LGPL-2.1-or-later OR MIT)
/*
 * poll_uring.c - the I/O poller: an io_uring per P (Go's netpoller, with
 * completions instead of readiness), or, where io_uring cannot be used,
 * the blocking calls of syscall.c with the P handed off.
 *
 * Why a ring per P, shared by the Ms, and not IORING_SETUP_SINGLE_ISSUER.
 * A P moves between Ms (threads). With SINGLE_ISSUER the kernel binds the
 * ring to the task that created it (io_uring_create: submitter_task =
 * current) and refuses a submission from any other task with -EEXIST
 * (tctx.c, __io_uring_add_tctx_node_from_submit); DEFER_TASKRUN needs
 * SINGLE_ISSUER and runs the deferred completions only in that task
 * (__io_run_local_work: -EEXIST otherwise; io_allowed_run_tw()). Both in
 * 6.1 and 6.12. A ring that follows its P cannot be single-issuer, and a
 * ring per M strands its completions whenever that M blocks or parks. So
 * each P's ring is an ordinary ring (COOP_TASKRUN where the kernel has
 * it: no IPI, the task work runs at the submitting M's next kernel entry
 * or wake-up) that any M may use under the ring's lock: in practice the
 * P's owner submits and reaps, and other Ms only try-lock it to reap
 * completions the owner is not there to see.
 *
 * An operation (struct ioop) lives on its goroutine's stack: the G fills
 * an SQE template and parks; io_commit (on g0, the G already G_WAITING)
 * puts it on its P's ring. Its SQEs are submitted in a batch at the next
 * schedule() that finds the run queue empty, or after a few schedules, or
 * at once if 16 wait. user_data is the op's address, with tag 1 for its
 * second SQE (a linked IORING_OP_LINK_TIMEOUT, or a cancel). The op counts
 * the CQEs it still expects; the reaper that sees the last one readies
 * the G (on the reaper's P), so the G returns only after the kernel has
 * finished with its buffer, whether the op completed, failed or was
 * cancelled by its deadline.
 *
 * Who reaps. A P's owner, at every schedule (two loads when nothing
 * came), after its local and the global queue in findrunnable, as Go
 * polls. An M looking for work, every ring with completions (try-lock:
 * Go's netpoll from findrunnable), so completions of a P whose M computes
 * or sits in a syscall are not stuck there. A reaper takes no more CQEs
 * than its local run queue has room for, so completions run in the order
 * they came; and now and then a P reaps a ring fuller than its own
 * (heavier_ring), which keeps the Ps' shares of the waiting goroutines
 * even. The idle wait: the M that parks while no other does becomes the poller M (sched.timer_m, formerly
 * the timer M): it ppoll()s the ring fds of the idle Ps with operations
 * in flight plus an eventfd, with the earliest timer as timeout - the
 * "io_uring_wait_cqe_timeout" over several rings; a ring fd is readable
 * while its CQ holds entries. On a completion it takes an idle P, reaps
 * and runs; it spins meanwhile, so that finding work it wakes another M,
 * which becomes the next poller (Go's handoff of the netpoll role). The
 * eventfd breaks the wait: a new earliest timer, or a P with operations
 * in flight going idle after the poller collected its set. No thread
 * polls, nothing spins while idle.
 *
 * No completion is lost. The number of requests in flight is not bounded
 * by the rings' size - it cannot be: requests that wait for data nobody
 * sends yet would hold the room that a request whose data came needs
 * (a bounded ring deadlocks an echo server with more connections than
 * CQ entries). So IORING_FEAT_NODROP is required (without it: blocking
 * mode): a completion that finds the CQ full goes to the kernel's
 * overflow list (IORING_SQ_CQ_OVERFLOW), which the reaper flushes
 * (io_uring_get_events) and reaps; the CQ is 16 times the SQ, so this is
 * rare. The kernel drops a completion only if it cannot allocate that
 * list entry, and counts it in cq.koverflow: then a goroutine would
 * wait forever, so we stop with a message instead. A request that finds
 * the SQ full (and a submit that cannot empty it: -EAGAIN, -ENOMEM)
 * waits in the ring's FIFO of pending ops and goes in at the next reap
 * or schedule, in order.
 *
 * Cancellation and lifetime. A deadline is a linked timeout: the kernel
 * cancels the op (-ECANCELED; -ETIMEDOUT to the caller) and the G still
 * waits for both CQEs. A select case on an fd's readiness (OP_SELPOLL) is
 * heap-allocated: when another case wins, the select asks the kernel to
 * cancel it (IORING_OP_ASYNC_CANCEL) and forgets it; the reaper frees it
 * when its last CQE comes. One not yet submitted is just unlinked.
 *
 * Fallback (sched.poller == GMP_POLLER_BLOCKING): io_uring_setup failed
 * (ENOSYS, EPERM: kernel.io_uring_disabled, seccomp), or an opcode or
 * NODROP is missing, or GMP_POLLER=blocking: syscall.c makes the plain
 * calls between gmp_syscall_enter/exit, deadlines poll(2) first, and a
 * select's fd case is a helper goroutine in poll(2) with an eventfd to
 * stop it.
 *
 * Locks: a ring's lock is taken last (nothing else is taken under it:
 * readied Gs are collected and readied after the unlock).
 */
#include "internal.h"
#include "poll.h"

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define sched __gmp_sched

#define TAG_AUX		1ULL	/* user_data of an op's second SQE */
#define TAG_MASK	3ULL
#define BATCH		16	/* submit at once when this many wait */
#define DEFER_MAX	4	/* ... or after this many schedules */

struct ioring {
	struct lock lock;
	struct io_uring ring;
	unsigned int cq_entries;
	_Atomic unsigned int inflight;	/* SQEs queued or in the kernel (lock) */
	_Atomic unsigned int unsubmitted;	/* SQEs not yet entered (lock) */
	struct ioop *pend_head, *pend_tail;
	_Atomic unsigned int npend;	/* ops in it (lock; a hint elsewhere) */
	/* statistics, under the lock */
	uint64_t ops, cqes, enters, queued, stolen, timeouts, cancels, overflows;
	unsigned int inflight_max;
} __attribute__((aligned(64)));

/* A select's fd case (heap). */
struct selpoll {
	struct ioop op;			/* uring */
	int fd;
	short events, revents;
	/* blocking mode: a helper goroutine in poll(2) */
	struct lock lock;
	int efd;
	_Atomic int refs;
};

static unsigned int entries = 256;
static unsigned int setup_flags;
static unsigned int features;
static unsigned int sq_entries, cq_entries;
static _Atomic unsigned int nrings;
static _Atomic uint64_t nwaits;
static char reason[160];

/* ---- rings ----------------------------------------------------------- */

static bool trylock(struct lock *l)
{
	uint32_t zero = 0;

	return atomic_compare_exchange_strong_explicit(&l->key, &zero, 1,
			memory_order_acquire, memory_order_relaxed);
}

static struct ioring *ring_new(int *err)
{
	struct ioring *r = aligned_alloc(64, sizeof(*r));
	struct io_uring_params par;
	int ret;

	if (!r) {
		*err = -ENOMEM;
		return NULL;
	}
	memset(r, 0, sizeof(*r));
	memset(&par, 0, sizeof(par));
	par.flags = setup_flags | IORING_SETUP_CQSIZE;
	par.cq_entries = 16 * entries;
	ret = io_uring_queue_init_params(entries, &r->ring, &par);
	if (ret == -EINVAL && (setup_flags & IORING_SETUP_COOP_TASKRUN)) {
		/* < 5.19: no COOP_TASKRUN; completions then IPI the submitter. */
		setup_flags &= ~IORING_SETUP_COOP_TASKRUN;
		memset(&par, 0, sizeof(par));
		par.flags = setup_flags | IORING_SETUP_CQSIZE;
		par.cq_entries = 16 * entries;
		ret = io_uring_queue_init_params(entries, &r->ring, &par);
	}
	if (ret < 0) {
		free(r);
		*err = ret;
		return NULL;
	}
	r->cq_entries = par.cq_entries;
	features = par.features;
	sq_entries = par.sq_entries;
	cq_entries = par.cq_entries;
	atomic_fetch_add_explicit(&nrings, 1, memory_order_relaxed);
	return r;
}

/* p's ring, created on first use by its owner. NULL (and *err) if none. */
static struct ioring *ring_of(struct p *p, int *err)
{
	struct ioring *r = load_acquire(&p->ring);

	if (likely(r))
		return r;
	r = ring_new(err);
	if (r)	/* release: the ring is set up before other Ms look at it */
		store_release(&p->ring, r);
	return r;
}

static inline unsigned int cq_head(struct ioring *r)
{
	return atomic_load_explicit((_Atomic unsigned int *)r->ring.cq.khead,
				    memory_order_relaxed);
}

static inline unsigned int cq_tail(struct ioring *r)
{
	/* acquire: the kernel wrote the CQEs before the tail. */
	return atomic_load_explicit((_Atomic unsigned int *)r->ring.cq.ktail,
				    memory_order_acquire);
}

/* Completions the kernel kept aside, the CQ being full (NODROP). */
static inline bool cq_overflow(struct ioring *r)
{
	return atomic_load_explicit((_Atomic unsigned int *)r->ring.sq.kflags,
				    memory_order_relaxed) & IORING_SQ_CQ_OVERFLOW;
}

static inline bool cq_pending(struct ioring *r)
{
	return cq_tail(r) != cq_head(r) || cq_overflow(r);
}

static void add_relaxed(_Atomic unsigned int *v, int d)
{
	/* Written under the ring lock only; read as a hint elsewhere. */
	store_relaxed(v, load_relaxed(v) + d);
}

/* Lock held: hand the SQ to the kernel. */
static void ring_submit(struct ioring *r)
{
	int ret;

	if (!load_relaxed(&r->unsubmitted))
		return;
	ret = io_uring_submit(&r->ring);
	r->enters++;
	/* -EAGAIN/-ENOMEM: no memory for requests now; they stay, we retry. */
	if (ret < 0 && ret != -EAGAIN && ret != -EBUSY && ret != -EINTR && ret != -ENOMEM)
		__gmp_fatal("io_uring_enter: %s", strerror(-ret));
	store_relaxed(&r->unsubmitted, io_uring_sq_ready(&r->ring));
}

/*
 * Lock held: room for n more SQEs in the SQ, together (a linked pair must
 * go in one submit): submit what is there if need be.
 */
static bool room(struct ioring *r, unsigned int n)
{
	if (io_uring_sq_space_left(&r->ring) < n)
		ring_submit(r);
	return io_uring_sq_space_left(&r->ring) >= n;
}

static struct io_uring_sqe *sqe_get(struct ioring *r)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);

	if (!sqe)	/* room() said there was one */
		__gmp_fatal("io_uring: no free SQE");
	return sqe;
}

/* Lock held, room(): op's SQEs into the SQ. */
static void sq_put(struct ioring *r, struct ioop *op)
{
	struct io_uring_sqe *sqe = sqe_get(r);

	*sqe = op->sqe;
	io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)op);
	if (op->nsqe == 2) {
		sqe->flags |= IOSQE_IO_LINK;
		sqe = sqe_get(r);
		io_uring_prep_link_timeout(sqe, &op->ts, IORING_TIMEOUT_ABS);
		io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)op | TAG_AUX);
	}
	op->ncqe = op->nsqe;
	add_relaxed(&r->inflight, op->nsqe);
	add_relaxed(&r->unsubmitted, op->nsqe);
	if (load_relaxed(&r->inflight) > r->inflight_max)
		r->inflight_max = load_relaxed(&r->inflight);
	r->ops++;
}

/* Lock held, room(): a request to cancel op (in flight) into the SQ. */
static void sq_put_cancel(struct ioring *r, struct ioop *op)
{
	struct io_uring_sqe *sqe = sqe_get(r);

	io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)op, 0);
	io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)op | TAG_AUX);
	op->ncqe++;
	add_relaxed(&r->inflight, 1);
	add_relaxed(&r->unsubmitted, 1);
	r->cancels++;
}

static void pend_append(struct ioring *r, struct ioop *op, bool cancel)
{
	op->next = NULL;
	op->pending = true;
	op->cancel = cancel;
	if (r->pend_tail)
		r->pend_tail->next = op;
	else
		r->pend_head = op;
	r->pend_tail = op;
	add_relaxed(&r->npend, 1);
	r->queued++;
}

static void pend_unlink(struct ioring *r, struct ioop *op)
{
	struct ioop **pp = &r->pend_head, *prev = NULL;

	while (*pp && *pp != op) {
		prev = *pp;
		pp = &(*pp)->next;
	}
	if (!*pp)
		__gmp_fatal("io_uring: op not in the pending queue");
	*pp = op->next;
	if (r->pend_tail == op)
		r->pend_tail = prev;
	op->pending = false;
	add_relaxed(&r->npend, -1);
}

/* Lock held: as many pending ops as fit go into the SQ, in order. */
static void pend_drain(struct ioring *r)
{
	struct ioop *op;

	while ((op = r->pend_head) && room(r, op->cancel ? 1 : op->nsqe)) {
		r->pend_head = op->next;
		if (!r->pend_head)
			r->pend_tail = NULL;
		op->pending = false;
		add_relaxed(&r->npend, -1);
		if (op->cancel)
			sq_put_cancel(r, op);
		else
			sq_put(r, op);
	}
}

/* Lock held: op into the SQ, or at the end of the FIFO if it must wait. */
static void ring_add(struct ioring *r, struct ioop *op)
{
	op->ring = r;
	if (!r->pend_head && room(r, op->nsqe))
		sq_put(r, op);
	else
		pend_append(r, op, false);
}

struct glist {
	struct g *head, *tail;
};

static void glist_push(struct glist *l, struct g *gp)
{
	gp->schedlink = NULL;
	if (l->tail)
		l->tail->schedlink = gp;
	else
		l->head = gp;
	l->tail = gp;
}

/* The selectdone race of a select's fd case that fired (ring lock held). */
static void selpoll_fire(struct ioop *op, struct g *gp, struct glist *l)
{
	for (;;) {
		uint32_t v = 0;

		/* acq_rel: races with channel wakers and the select's commit. */
		if (atomic_compare_exchange_strong_explicit(&gp->selectdone, &v, 1,
				memory_order_acq_rel, memory_order_acquire)) {
			gp->param = op;
			glist_push(l, gp);
			return;
		}
		if (v != 2)
			return;		/* another case won */
		/* 2: the select is still arming, not parked: it finds us W_WON. */
		if (atomic_compare_exchange_strong_explicit(&gp->selectdone, &v, 1,
				memory_order_acq_rel, memory_order_acquire)) {
			op->state = W_WON;
			return;
		}
	}
}

/* Lock held: the last CQE of op came. */
static void op_done(struct ioring *r, struct ioop *op, struct glist *l)
{
	if (op->kind == OP_SYNC) {
		glist_push(l, op->g);
		return;
	}
	/* OP_SELPOLL */
	if (op->state == W_ORPHAN) {
		if (op->pending)	/* its cancel had not gone in yet */
			pend_unlink(r, op);
		free(container_of(op, struct selpoll, op));
		return;
	}
	op->state = W_FIRED;
	selpoll_fire(op, op->g, l);
}

/*
 * Lock held: reap at most max CQEs, in completion order. max is the room
 * in the reaper's run queue: the rest stay in the CQ (and the kernel's
 * overflow list behind it, NODROP) for the next reap, so that a burst of
 * completions never spills into the global queue, where it would wait
 * behind goroutines whose completions came later (Go's netpoll, too, only
 * runs when the local queue is empty). Each CQE readies at most one G.
 */
static unsigned int reap_cq(struct ioring *r, struct glist *l, unsigned int max)
{
	struct io_uring_cqe *cqe;
	unsigned int head, n = 0;

	io_uring_for_each_cqe(&r->ring, head, cqe) {
		struct ioop *op;

		if (n == max)
			break;
		op = (struct ioop *)(uintptr_t)(cqe->user_data & ~TAG_MASK);
		if (cqe->user_data & TAG_AUX)
			op->res2 = cqe->res;
		else
			op->res = cqe->res;
		n++;
		if (--op->ncqe == 0)
			op_done(r, op, l);
	}
	if (n)
		io_uring_cq_advance(&r->ring, n);
	return n;
}

/* Lock held: reap up to max CQEs, the kernel's overflow too; Gs to ready on l. */
static unsigned int ring_reap(struct ioring *r, struct glist *l, unsigned int max)
{
	unsigned int n = 0;

	for (;;) {
		n += reap_cq(r, l, max - n);
		if (n == max || likely(!cq_overflow(r)))
			break;
		/* NODROP kept them: GETEVENTS moves them into the CQ we emptied. */
		io_uring_get_events(&r->ring);
		r->overflows++;
		if (!cq_pending(r))
			break;
	}
	if (unlikely(IO_URING_READ_ONCE(*r->ring.cq.koverflow)))
		__gmp_fatal("io_uring: %u completions dropped (no memory for the "
			    "CQ overflow): their goroutines would wait forever",
			    IO_URING_READ_ONCE(*r->ring.cq.koverflow));
	if (n) {
		add_relaxed(&r->inflight, -(int)n);
		r->cqes += n;
	}
	if (r->pend_head)
		pend_drain(r);
	return n;
}

/* Test hook (io_test): told each G a reaper readies, in that order. */
HIDDEN void (*__gmp_test_reaped)(int64_t id);
void (*__gmp_test_reaped)(int64_t id);

static void ready_all(struct glist *l)
{
	struct g *gp = l->head;

	while (gp) {
		struct g *next = gp->schedlink;

		if (unlikely(__gmp_test_reaped))
			__gmp_test_reaped(gp->id);
		__gmp_ready(gp, false);
		gp = next;
	}
}

/* ---- the scheduler's side ------------------------------------------- */

/*
 * Balance. A goroutine's next request goes on the ring of the P it runs
 * on, so a ring's share of the requests in flight is its P's share of the
 * goroutines waiting for I/O. With every P busy nothing evens that out
 * (no local queue empties, nobody steals), and the goroutines of the
 * fuller ring wait longer for their turn: a tail that Go's one netpoller
 * does not have. So every few schedules a P that is about to reap looks
 * at another P's ring: if that one has completions and clearly more
 * requests in flight, the P reaps there instead (try-lock). The goroutines
 * it readies run here and put their next request on our ring.
 */
static struct ioring *heavier_ring(struct p *p, struct ioring *r)
{
	int procs = sched.gomaxprocs;
	unsigned int mine, theirs;
	struct ioring *o;

	o = load_acquire(&sched.allp[(p->id + 1 + __gmp_fastrandn(procs - 1)) % procs].ring);
	if (!o || !cq_pending(o))
		return NULL;
	mine = load_relaxed(&r->inflight);
	theirs = load_relaxed(&o->inflight);
	if (theirs <= mine + mine / 8 + BATCH || !trylock(&o->lock))
		return NULL;
	return o;
}

static __attribute__((noinline)) void poll_sched(struct p *p, struct ioring *r,
						  bool flush, bool look)
{
	struct glist l = { NULL, NULL };
	unsigned int unsub, room;
	struct ioring *o;
	bool sub;

	unsub = load_relaxed(&r->unsubmitted);
	sub = unsub && (flush || unsub >= BATCH || ++p->io_defer >= DEFER_MAX ||
			__gmp_runqempty(p));
	room = __gmp_runqroom(p);
	o = room && look ? heavier_ring(p, r) : NULL;
	if (o) {
		o->stolen += ring_reap(o, &l, room);
		ring_submit(o);		/* its pending ops may have gone in */
		__gmp_unlock(&o->lock);
		room = 0;
	}
	if (!sub && (!room || !cq_pending(r)) && !load_relaxed(&r->npend))
		goto out;
	__gmp_lock(&r->lock);
	if (sub) {
		ring_submit(r);
		p->io_defer = 0;
	}
	/* Pending ops may have gone in: submit them too. */
	ring_reap(r, &l, room);
	if (sub || r->pend_head != NULL || load_relaxed(&r->unsubmitted) >= BATCH)
		ring_submit(r);
	__gmp_unlock(&r->lock);
out:
	ready_all(&l);
}

bool __gmp_poll_idle(struct p *p)
{
	struct ioring *r = load_relaxed(&p->ring);	/* ours: we made it, or got the P */

	/* Nothing in flight: nothing to submit, nothing in the CQ. */
	return !r || (!load_relaxed(&r->inflight) && !load_relaxed(&r->npend));
}

void __gmp_poll_sched(struct p *p, bool flush)
{
	struct ioring *r = load_relaxed(&p->ring);	/* ours: we made it, or got the P */
	bool look;

	if (!r)
		return;
	/* Every 4th schedule, a look at another ring (heavier_ring). */
	look = sched.gomaxprocs >= 2 && !(p->io_tick++ & 3);
	/* This runs at every schedule: done in a few loads if we can. */
	if (!look && __gmp_poll_idle(p))
		return;
	poll_sched(p, r, flush, look);
}

void __gmp_poll_flush(struct p *p)
{
	struct ioring *r = load_relaxed(&p->ring);

	if (!r || !load_relaxed(&r->unsubmitted))
		return;
	__gmp_lock(&r->lock);
	ring_submit(r);
	__gmp_unlock(&r->lock);
	p->io_defer = 0;
}

bool __gmp_poll_steal(void)
{
	struct m *m = __gmp_getm();
	int procs = sched.gomaxprocs;
	uint32_t start = __gmp_fastrandn(procs);
	bool any = false;

	for (int i = 0; i < procs; i++) {
		struct p *p = &sched.allp[(start + i) % procs];
		struct ioring *r = load_acquire(&p->ring);
		struct glist l = { NULL, NULL };
		unsigned int n, room = __gmp_runqroom(m->p);

		if (!room)
			break;
		if (!r || !cq_pending(r) || !trylock(&r->lock))
			continue;
		n = ring_reap(r, &l, room);
		ring_submit(r);
		if (p != m->p)
			r->stolen += n;
		__gmp_unlock(&r->lock);
		if (l.head) {
			ready_all(&l);
			any = true;
		}
	}
	return any;
}

bool __gmp_poll_ready(struct p *p)
{
	struct ioring *r = load_acquire(&p->ring);

	return r && cq_pending(r);
}

bool __gmp_poll_inflight(struct p *p)
{
	struct ioring *r = load_acquire(&p->ring);

	return r && load_relaxed(&r->inflight) > 0;
}

/* sched.lock held; m is becoming the poller M. */
int __gmp_poll_collect(struct m *m)
{
	int n = 0;

	if (!m->pollfds) {
		m->pollfds = calloc(sched.gomaxprocs + 1, sizeof(*m->pollfds));
		m->pollbreak = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (!m->pollfds || m->pollbreak < 0)
			__gmp_fatal("poller: %s", strerror(errno));
	}
	for (struct p *p = sched.pidle; p && n < sched.gomaxprocs; p = p->link) {
		struct ioring *r = load_acquire(&p->ring);

		if (r && load_relaxed(&r->inflight)) {
			m->pollfds[n].fd = r->ring.ring_fd;
			m->pollfds[n].events = POLLIN;
			m->pollfds[n].revents = 0;
			n++;
		}
	}
	m->npollfds = n;
	return n;
}

void __gmp_poll_block(struct m *m, int64_t until)
{
	struct timespec ts, *tsp = NULL;
	int n = m->npollfds;
	uint64_t v;

	if (until != INT64_MAX) {
		int64_t left = until - __gmp_nanotime();

		if (left < 0)
			left = 0;
		ts.tv_sec = left / 1000000000;
		ts.tv_nsec = left % 1000000000;
		tsp = &ts;
	}
	m->pollfds[n].fd = m->pollbreak;
	m->pollfds[n].events = POLLIN;
	m->pollfds[n].revents = 0;
	atomic_fetch_add_explicit(&nwaits, 1, memory_order_relaxed);
	/* EINTR (a signal, task work of ours) is a wake-up like the others. */
	(void)ppoll(m->pollfds, n + 1, tsp, NULL);
	/* Ours alone: a break for a later wait of ours is not lost, it only
	 * makes that wait return at once (the eventfd stays readable). */
	if (read(m->pollbreak, &v, sizeof(v)) < 0 && errno != EAGAIN)
		__gmp_fatal("poller: read(eventfd): %s", strerror(errno));
}

void __gmp_poll_break(struct m *tm)
{
	uint64_t one = 1;

	if (tm && write(tm->pollbreak, &one, sizeof(one)) < 0 && errno != EAGAIN)
		__gmp_fatal("poller: write(eventfd): %s", strerror(errno));
}

void __gmp_poll_kick(void)
{
	struct m *tm;

	__gmp_lock(&sched.lock);
	tm = sched.timer_m;
	if (tm)
		__gmp_poll_break(tm);
	__gmp_unlock(&sched.lock);
	if (!tm)
		__gmp_wakep();	/* an M that finds nothing becomes the poller */
}

/* ---- goroutines' operations ---------------------------------------- */

/* On g0 with gp parked: put op on our P's ring. */
static bool io_commit(struct g *gp, void *arg)
{
	struct ioop *op = arg;
	struct m *m = __gmp_getm();
	struct ioring *r;
	int err;

	if (unlikely(!m->p)) {
		/* Transparent mode: our P was taken. Run again, try again. */
		op->retry = RETRY_NOP;
		return false;
	}
	r = ring_of(m->p, &err);
	if (unlikely(!r)) {
		/* No ring for this P (EMFILE...): the blocking call instead. */
		op->retry = RETRY_FALLBACK;
		return false;
	}
	op->g = gp;
	__gmp_lock(&r->lock);
	ring_add(r, op);
	if (load_relaxed(&r->unsubmitted) >= BATCH)
		ring_submit(r);
	__gmp_unlock(&r->lock);
	/* From here a reaper may ready gp: op is not ours to touch. */
	return true;
}

/*
 * [G, uring] Run the request in op->sqe, with a deadline if deadline >= 0.
 * False if the ring could not be used (the caller makes the plain call);
 * else *res is the CQE's result, -ETIMEDOUT if the deadline cancelled it.
 */

bool __gmp_io_run(struct ioop *op, int64_t deadline, long *res)
{
	op->kind = OP_SYNC;
	op->nsqe = 1;
	op->res2 = 0;
	if (deadline >= 0) {
		op->nsqe = 2;
		op->ts.tv_sec = deadline / 1000000000;
		op->ts.tv_nsec = deadline % 1000000000;
	}
	do {
		op->retry = RETRY_NONE;
		__gmp_park(io_commit, op);
	} while (op->retry == RETRY_NOP);
	if (op->retry == RETRY_FALLBACK)
		return false;
	*res = op->res;
	if (deadline >= 0 && op->res == -ECANCELED && op->res2 == -ETIME) {
		struct ioring *r = op->ring;

		*res = -ETIMEDOUT;
		__gmp_lock(&r->lock);
		r->timeouts++;
		__gmp_unlock(&r->lock);
	}
	return true;
}

/* ---- a select's fd case --------------------------------------------- */

static void selpoll_put(struct selpoll *w)
{
	if (atomic_fetch_sub(&w->refs, 1) == 1) {
		close(w->efd);
		free(w);
	}
}

/* Blocking mode: a goroutine waits in poll(2) for the fd or the eventfd. */
static void selpoll_helper(void *arg)
{
	struct selpoll *w = arg;
	struct pollfd pfd[2] = {
		{ .fd = w->fd, .events = w->events },
		{ .fd = w->efd, .events = POLLIN },
	};
	struct glist l = { NULL, NULL };
	int r;

	do
		r = gmp_poll(pfd, 2, -1);
	while (r == -EINTR);
	__gmp_lock(&w->lock);
	if (w->op.state == W_ARMED && (r < 0 || pfd[0].revents)) {
		w->op.state = W_FIRED;
		w->revents = r < 0 ? POLLERR : pfd[0].revents;
		w->op.res = w->revents;
		selpoll_fire(&w->op, w->op.g, &l);
	}
	__gmp_unlock(&w->lock);
	selpoll_put(w);
	ready_all(&l);
}

/* [G] A select's fd case, armed (selectdone == 2 meanwhile). */

int __gmp_selpoll_start(int fd, short events, struct selpoll **wp)
{
	struct m *m = __gmp_getm();
	struct selpoll *w = calloc(1, sizeof(*w));
	struct ioring *r;
	int err;

	if (!w)
		return -ENOMEM;
	w->fd = fd;
	w->events = events;
	w->efd = -1;
	w->op.g = m->curg;
	w->op.kind = OP_SELPOLL;
	w->op.state = W_ARMED;
	w->op.nsqe = 1;
	if (sched.poller == GMP_POLLER_BLOCKING) {
		w->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (w->efd < 0) {
			err = -errno;
			free(w);
			return err;
		}
		atomic_store(&w->refs, 2);
		/* Not gmp_go: it may yield, and we hold the select's channels. */
		if (!__gmp_spawn(selpoll_helper, w)) {
			close(w->efd);
			free(w);
			return -ENOMEM;
		}
		*wp = w;
		return 0;
	}
	/* In transparent mode m->p may be another M's by now: the lock still
	 * makes the ring ours to use; the kick below makes sure it is seen. */
	r = m->p ? ring_of(m->p, &err) : load_acquire(&sched.allp[0].ring);
	if (!r) {
		free(w);
		return err;
	}
	io_uring_prep_poll_add(&w->op.sqe, fd, (unsigned int)(unsigned short)events);
	__gmp_lock(&r->lock);
	ring_add(r, &w->op);
	if (m->transparent || load_relaxed(&r->unsubmitted) >= BATCH)
		ring_submit(r);
	__gmp_unlock(&r->lock);
	if (m->transparent)
		__gmp_poll_kick();
	*wp = w;
	return 0;
}

/*
 * [G] After the select woke: w's revents if it is the winner (won: the
 * select's param named it, or it fired while the select was arming), else
 * -1. Either way w is the poller's from here (freed, or cancelled and
 * freed by the reaper of its last CQE).
 */

int __gmp_selpoll_finish(struct selpoll *w, bool won)
{
	struct ioring *r = w->op.ring;
	int ret = -1;

	if (sched.poller == GMP_POLLER_BLOCKING) {
		__gmp_lock(&w->lock);
		if (won || w->op.state == W_WON) {
			ret = w->revents;
		} else if (w->op.state == W_ARMED) {
			uint64_t one = 1;

			w->op.state = W_ORPHAN;
			if (write(w->efd, &one, sizeof(one)) < 0)
				__gmp_fatal("select: write(eventfd): %s", strerror(errno));
		}
		__gmp_unlock(&w->lock);
		selpoll_put(w);
		return ret;
	}
	__gmp_lock(&r->lock);
	if (won || w->op.state == W_WON) {
		int res = w->op.res;

		ret = res > 0 ? res : res == -EBADF ? POLLNVAL : POLLERR;
		free(w);
	} else if (w->op.state == W_FIRED) {
		free(w);
	} else if (w->op.pending) {
		pend_unlink(r, &w->op);
		free(w);
	} else {
		/* In flight: cancel it; the reaper of its last CQE frees it. */
		w->op.state = W_ORPHAN;
		w->op.g = NULL;
		if (!r->pend_head && room(r, 1))
			sq_put_cancel(r, &w->op);
		else
			pend_append(r, &w->op, true);
		ring_submit(r);
	}
	__gmp_unlock(&r->lock);
	return ret;
}

/* ---- start-up, mode, statistics ------------------------------------- */

static const uint8_t needed_ops[] = {
	IORING_OP_READ, IORING_OP_WRITE, IORING_OP_READV, IORING_OP_WRITEV,
	IORING_OP_RECV, IORING_OP_SEND, IORING_OP_RECVMSG, IORING_OP_SENDMSG,
	IORING_OP_ACCEPT, IORING_OP_CONNECT, IORING_OP_OPENAT, IORING_OP_CLOSE,
	IORING_OP_FSYNC, IORING_OP_SHUTDOWN, IORING_OP_POLL_ADD,
	IORING_OP_LINK_TIMEOUT, IORING_OP_ASYNC_CANCEL,
};

/* Can this kernel give us what we need? 0, or -errno with reason[] set. */
static int probe(struct p *p0)
{
	struct io_uring_probe *pr;
	struct ioring *r;
	int err = 0;
	FILE *f;

	r = ring_new(&err);
	if (!r) {
		int dis = -1;

		f = fopen("/proc/sys/kernel/io_uring_disabled", "r");
		if (f) {
			if (fscanf(f, "%d", &dis) != 1)
				dis = -1;
			fclose(f);
		}
		snprintf(reason, sizeof(reason), "io_uring_setup: %s%s", strerror(-err),
			 dis > 0 ? " (kernel.io_uring_disabled)" : "");
		return err;
	}
	if (!(features & IORING_FEAT_NODROP)) {
		snprintf(reason, sizeof(reason), "no IORING_FEAT_NODROP");
		err = -EOPNOTSUPP;
	}
	pr = io_uring_get_probe_ring(&r->ring);
	for (size_t i = 0; !err && pr && i < sizeof(needed_ops); i++) {
		if (!io_uring_opcode_supported(pr, needed_ops[i])) {
			snprintf(reason, sizeof(reason), "opcode %u not supported",
				 needed_ops[i]);
			err = -EOPNOTSUPP;
		}
	}
	if (!pr && !err) {
		snprintf(reason, sizeof(reason), "IORING_REGISTER_PROBE failed");
		err = -EOPNOTSUPP;
	}
	io_uring_free_probe(pr);
	if (err) {
		io_uring_queue_exit(&r->ring);
		free(r);
		atomic_fetch_sub(&nrings, 1);
		return err;
	}
	store_release(&p0->ring, r);
	return 0;
}

int __gmp_poll_init(int want, unsigned int ring_entries, int procs)
{
	const char *s;
	int ret;

	if (want == GMP_POLLER_DEFAULT) {
		s = getenv("GMP_POLLER");
		if (!s || !*s || !strcmp(s, "auto"))
			want = GMP_POLLER_DEFAULT;
		else if (!strcmp(s, "uring"))
			want = GMP_POLLER_URING;
		else if (!strcmp(s, "blocking"))
			want = GMP_POLLER_BLOCKING;
		else {
			fprintf(stderr, "gmp: GMP_POLLER=%s: want uring, blocking or auto\n", s);
			return -EINVAL;
		}
	}
	s = getenv("GMP_URING_ENTRIES");
	if (!ring_entries && s && *s) {
		char *end;
		long v = strtol(s, &end, 10);

		if (*end || v < 2 || v > 4096 || (v & (v - 1))) {
			fprintf(stderr, "gmp: GMP_URING_ENTRIES=%s: want a power of two, 2..4096\n", s);
			return -EINVAL;
		}
		ring_entries = v;
	}
	if (ring_entries)
		entries = ring_entries;
	sched.poller = GMP_POLLER_BLOCKING;
	if (want == GMP_POLLER_BLOCKING) {
		snprintf(reason, sizeof(reason), "asked for");
		return 0;
	}
	setup_flags = IORING_SETUP_COOP_TASKRUN;
	s = getenv("GMP_URING_COOP");	/* for measurements: 0 takes IPIs */
	if (s && !strcmp(s, "0"))
		setup_flags = 0;
	ret = probe(&sched.allp[0]);
	if (ret < 0) {
		if (want == GMP_POLLER_URING) {
			fprintf(stderr, "gmp: GMP_POLLER=uring: %s\n", reason);
			return ret;
		}
		return 0;
	}
	(void)procs;
	sched.poller = GMP_POLLER_URING;
	return 0;
}

void __gmp_poll_debug_line(void)
{
	if (sched.poller == GMP_POLLER_URING)
		fprintf(stderr, "gmp: poller uring (a ring per P, %u SQ / %u CQ entries, "
			"%s, features %#x)\n", sq_entries, cq_entries,
			setup_flags & IORING_SETUP_COOP_TASKRUN ? "COOP_TASKRUN" : "IPI task work",
			features);
	else
		fprintf(stderr, "gmp: poller blocking (%s)\n", reason);
}

int gmp_poller_mode(void)
{
	return load_acquire(&sched.started) ? sched.poller : 0;
}

int gmp_poller_stats(struct gmp_poller_stats *st)
{
	if (!st || st->size != sizeof(*st))
		return -EINVAL;
	if (!load_acquire(&sched.started))
		return -EAGAIN;
	memset(st, 0, sizeof(*st));
	st->size = sizeof(*st);
	st->mode = sched.poller;
	st->waits = load_relaxed(&nwaits);
	if (sched.poller != GMP_POLLER_URING)
		return 0;
	st->rings = load_relaxed(&nrings);
	st->sq_entries = sq_entries;
	st->cq_entries = cq_entries;
	st->features = features;
	for (int i = 0; i < sched.gomaxprocs; i++) {
		struct ioring *r = load_acquire(&sched.allp[i].ring);

		if (!r)
			continue;
		__gmp_lock(&r->lock);
		st->ops += r->ops;
		st->cqes += r->cqes;
		st->enters += r->enters;
		st->queued += r->queued;
		st->stolen += r->stolen;
		st->timeouts += r->timeouts;
		st->cancels += r->cancels;
		st->cq_overflows += r->overflows;
		if (r->inflight_max > st->inflight_max)
			st->inflight_max = r->inflight_max;
		__gmp_unlock(&r->lock);
	}
	return 0;
}
