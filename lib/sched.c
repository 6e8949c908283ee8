// SPDX-License-Identifier: (LGPL-2.1-or-later OR MIT)
/*
 * sched.c - the goroutine scheduler: Go's runtime/proc.go, in C.
 *
 * G, M, P
 * -------
 * G: a goroutine. Its struct sits at the top of its own mmapped stack (one
 *    page holds both for a parked G), with a guard region below the stack.
 *    Dead Gs keep their stacks and are cached per P (64) and globally, so a
 *    spawn costs no system call once the cache is warm (stack.c).
 * M: a worker thread. Created on demand (startm -> newm), parked on a futex
 *    when idle (stopm); its thread ends only when a test asks (mexit), and
 *    its struct is never freed. Its own pthread stack is its "g0":
 *    the scheduler runs there; a G switches to g0 to block, yield or exit
 *    (mcall), and g0 picks the next G (schedule) and switches to it
 *    (execute). Two switches per handoff, but no G ever runs scheduler code
 *    on a stack another M might resume. The common case takes one: a G
 *    that parks releasing a lock, with runnext to run next, switches
 *    straight to it (park_direct, below).
 * P: a processor, GMP_MAXPROCS of them. An M needs a P to run Gs. A P owns
 *    a 256-entry lock-free run queue and a runnext slot (the G readied last,
 *    run next, so a producer/consumer pair shares a time slice).
 *
 * Finding work (schedule, findrunnable): every 61st schedule the global
 * queue first (fairness), then runnext and the local queue, then the global
 * queue, then stealing half of another P's queue (4 rounds over the Ps in
 * random order; runnext only in the last). An M that finds nothing gives
 * its P back to the idle list and parks.
 *
 * Spinning Ms. An M looking for work without having found any is
 * "spinning" (sched.nmspinning). When a G is readied and there is an idle P
 * but no spinning M, wakep() starts one; a spinning M that finds work stops
 * spinning and calls wakep() in its turn, so that bursts of new work fan
 * out one M at a time and an idle runtime has no spinning M. The race
 * between "an M stops spinning" and "a producer sees a spinning M and does
 * not wake anyone" is closed as in Go: the M decrements nmspinning, then
 * (after a full fence) looks at every run queue and the global queue once
 * more; the producer publishes its G, then (after a full fence) reads
 * npidle and nmspinning. One of them sees the other.
 *
 * Parking a G (__gmp_park): the G switches to g0, g0 marks it G_WAITING and
 * only then runs the caller's unlock function (a channel's lock, the timers
 * lock...). A waker needs that lock to find the G, so it can only call
 * __gmp_ready() once the G's context is saved. park_direct keeps that
 * order without g0: the G saves its context by switching to runnext, and
 * runnext, first thing when it runs, releases the lock (park_finish).
 *
 * System calls and the P status word (DESIGN.md, "The handoff protocol").
 * p->status packs {state, M id, syscall sequence}. gmp_syscall_enter()
 * stores {P_SYSCALL, m, ++seq} and detaches the P from the M (Go's
 * entersyscall). Whoever wants the P - sysmon after a tick, a kernel upcall
 * "M k blocked" (handoff_kmod) - calls __gmp_p_claim(p, {P_SYSCALL, k, seq}):
 * one CAS {P_SYSCALL, k, seq} -> {P_IDLE}, and on success handoffp() gives
 * the P to another M. gmp_syscall_exit() CASes {P_SYSCALL, m, seq} ->
 * {P_RUNNING, m, seq}; if that fails the P was taken: it takes an idle P,
 * else it queues its G on the global queue and parks (Go's exitsyscall).
 * The sequence number makes a stale taker (an upcall about an earlier
 * syscall of the same M) fail harmlessly. Beyond Go: before parking, the
 * returning M watches the idle list for a few microseconds, since the M
 * that took its P usually gives it back as soon as its G blocks.
 *
 * Who takes it (sched.handoff). sysmon (handoff_sysmon.c) polls. kmod
 * (handoff_kmod.c): every M registers with /dev/gmp as it starts (m_id =
 * its id) and arms its slot inside gmp_syscall_enter/exit only - never
 * on g0, where the runtime parks Ms on purpose - so gmp.ko reports the
 * block the moment the M sleeps and wakes a spare M parked in the device
 * (an activation), which claims the P with the same CAS and becomes its
 * M. An M whose P was taken parks as an activation while the pool is
 * short (stopm). A G readied while no P is idle takes at once a P whose
 * M the module reports asleep (wakep_local -> __gmp_act_demand). perf
 * (handoff_perf.c): the same without a module - every M opens a perf
 * context-switch event on itself as it starts, activations wait in
 * epoll_wait on all of them, and a switch-out record that is no
 * preemption, of an armed M, is the upcall; the runtime's own parking
 * disables the M's event (__gmp_perf_pause), which the M's next arming
 * enables again (__gmp_arm). What the two share is in activation.c.
 * With GMP_TRANSPARENT the M stays armed while G code runs, the P being
 * {P_GCODE, m, seq} then: see "transparent mode" below.
 *
 * Time slices (Go's schedtick/inheritTime): a G taken from runnext
 * inherits the running slice, so a pair of goroutines that ready each
 * other is one slice for sysmon's 10 ms rules, not a fresh slice per
 * switch (which would starve the rest of the queue and hide a P whose
 * pair keeps blocking in syscalls from the retake rule).
 *
 * Preemption is cooperative: sysmon (in kmod and perf mode, the same
 * thread as a plain 10 ms tick) sets p->preempt when a P has run the same
 * G for 10 ms; every libgmp call checks it (__gmp_preempt_check) and
 * yields.
 * Asynchronous preemption (a signal and a switch from the handler) is not
 * done: C code interrupted anywhere may hold a libc lock (malloc's),
 * and another G on the same thread would then deadlock on it.
 *
 * errno moves with its G: mcall (and park_direct) saves it before the
 * switch and writes it back after, on whatever thread the G resumes.
 *
 * Locks, in order: channel locks (address order) -> timers -> sched.lock
 * -> gflock. Memory orders: see each atomic; the run queue follows Go's
 * (load-acquire of head/tail, store-release of tail, CAS-release of head).
 */
#include "internal.h"

#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef GMP_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif
#ifdef GMP_TSAN
#include <sanitizer/tsan_interface.h>
#endif

struct sched __gmp_sched;
__thread struct m *__gmp_tls_m;
#ifdef GMP_TSAN
_Atomic unsigned long __gmp_barrier_word;
#endif

#define sched __gmp_sched

static pthread_mutex_t init_mutex = PTHREAD_MUTEX_INITIALIZER;
static uint32_t coprimes[256];
static int ncoprimes;

static struct g *goexit0(struct m *m, struct g *gp);

/* ---- random numbers ---------------------------------------------------- */

static uint64_t fastrand64(struct m *m)
{
	/* xorshift64* */
	uint64_t x = m->fastrand;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	m->fastrand = x;
	return x * 0x2545F4914F6CDD1DULL;
}

uint32_t __gmp_fastrandn(uint32_t n)
{
	struct m *m = __gmp_getm();
	static _Atomic uint64_t seed = 88172645463325252ULL;
	uint64_t r;

	if (m)
		r = fastrand64(m);
	else	/* relaxed: any value will do */
		r = atomic_fetch_add_explicit(&seed, 0x9E3779B97F4A7C15ULL,
					      memory_order_relaxed) * 0x2545F4914F6CDD1DULL;
	return (uint32_t)(((r >> 32) * (uint64_t)n) >> 32);
}

/* ---- local run queue (Go's runqput/runqget/runqgrab/runqsteal) ------- */

static bool runqputslow(struct p *p, struct g *gp, uint32_t h, uint32_t t);
static void globrunqputbatch(struct g *head, struct g *tail, int n);

/* Owner only. next: put gp in runnext, kicking the old runnext to the tail. */
static void runqput(struct p *p, struct g *gp, bool next)
{
	if (next) {
		/* acq_rel: publishes gp to a thief's CAS, takes the old one back. */
		gp = atomic_exchange_explicit(&p->runnext, gp, memory_order_acq_rel);
		if (!gp)
			return;
	}
	for (;;) {
		/* acquire: synchronise with consumers that advanced head. */
		uint32_t h = load_acquire(&p->runqhead);
		uint32_t t = load_relaxed(&p->runqtail);	/* we own tail */

		if (t - h < RUNQ_SIZE) {
			store_relaxed(&p->runq[t % RUNQ_SIZE], gp);
			/* release: makes the slot and the G visible to consumers. */
			store_release(&p->runqtail, t + 1);
			return;
		}
		if (runqputslow(p, gp, h, t))
			return;
		/* the queue is not full any more, retry */
	}
}

/* The local queue is full: move half of it and gp to the global queue. */
static bool runqputslow(struct p *p, struct g *gp, uint32_t h, uint32_t t)
{
	struct g *batch[RUNQ_SIZE / 2 + 1];
	uint32_t n = (t - h) / 2;

	if (n != RUNQ_SIZE / 2)
		__gmp_fatal("runqputslow: queue is not full");
	for (uint32_t i = 0; i < n; i++)
		batch[i] = load_relaxed(&p->runq[(h + i) % RUNQ_SIZE]);
	/* release: our slot reads happen before the slots may be reused. */
	if (!atomic_compare_exchange_strong_explicit(&p->runqhead, &h, h + n,
			memory_order_release, memory_order_relaxed))
		return false;
	batch[n] = gp;
	for (uint32_t i = 0; i < n; i++)
		batch[i]->schedlink = batch[i + 1];
	__gmp_lock(&sched.lock);
	globrunqputbatch(batch[0], batch[n], n + 1);
	__gmp_unlock(&sched.lock);
	return true;
}

/*
 * Owner only. *inherit: the G came from runnext and inherits the current
 * time slice (Go's inheritTime): a pair of goroutines handing work to each
 * other through runnext shares one slice and is preempted after 10 ms like
 * a single goroutine, instead of starving the rest of the queue.
 */
static struct g *runqget(struct p *p, bool *inherit)
{
	struct g *next = load_relaxed(&p->runnext);

	*inherit = false;
	/* A thief may take runnext too, hence the CAS (acquire: the G). */
	if (next && atomic_compare_exchange_strong_explicit(&p->runnext, &next,
			NULL, memory_order_acquire, memory_order_relaxed)) {
		*inherit = true;
		return next;
	}
	for (;;) {
		uint32_t h = load_acquire(&p->runqhead);
		uint32_t t = load_relaxed(&p->runqtail);
		struct g *gp;

		if (t == h)
			return NULL;
		gp = load_relaxed(&p->runq[h % RUNQ_SIZE]);
		/* release: commits the consume, like a thief's. */
		if (atomic_compare_exchange_weak_explicit(&p->runqhead, &h, h + 1,
				memory_order_release, memory_order_relaxed))
			return gp;
	}
}

/*
 * Take half of p's queue into batch[batchhead...] (the thief's own queue).
 * May be called by any M.
 */
static uint32_t runqgrab(struct p *p, _Atomic(struct g *) *batch,
			 uint32_t batchhead, bool stealnext)
{
	for (;;) {
		uint32_t h = load_acquire(&p->runqhead);
		/* acquire: pairs with the owner's store-release of tail. */
		uint32_t t = load_acquire(&p->runqtail);
		uint32_t n = t - h;

		n -= n / 2;
		if (n == 0) {
			struct g *next;

			if (!stealnext)
				return 0;
			next = load_relaxed(&p->runnext);
			if (!next)
				return 0;
			/*
			 * The owner is probably about to run it (it was just
			 * readied, e.g. by a channel send): give it a moment,
			 * or we bounce Gs between Ps. Go sleeps 3 us too.
			 */
			uint32_t st = P_STATE(load_relaxed(&p->status));

			if (st == P_RUNNING || st == P_GCODE)
				usleep(3);
			if (!atomic_compare_exchange_strong_explicit(&p->runnext,
					&next, NULL, memory_order_acquire,
					memory_order_relaxed))
				continue;
			store_relaxed(&batch[batchhead % RUNQ_SIZE], next);
			return 1;
		}
		if (n > RUNQ_SIZE / 2)	/* h and t read inconsistently */
			continue;
		for (uint32_t i = 0; i < n; i++)
			store_relaxed(&batch[(batchhead + i) % RUNQ_SIZE],
				      load_relaxed(&p->runq[(h + i) % RUNQ_SIZE]));
		/* release: commits the consume; the copies above may be stale
		 * if it fails, and are then overwritten on the next try. */
		if (atomic_compare_exchange_strong_explicit(&p->runqhead, &h, h + n,
				memory_order_release, memory_order_relaxed))
			return n;
	}
}

/* Steal half of p2's queue into p's; return one G to run. */
static struct g *runqsteal(struct p *p, struct p *p2, bool stealnext)
{
	uint32_t t = load_relaxed(&p->runqtail);
	uint32_t n = runqgrab(p2, p->runq, t, stealnext);
	struct g *gp;
	uint32_t h;

	if (n == 0)
		return NULL;
	n--;
	gp = load_relaxed(&p->runq[(t + n) % RUNQ_SIZE]);
	if (n == 0)
		return gp;
	h = load_acquire(&p->runqhead);
	if (t - h + n >= RUNQ_SIZE)
		__gmp_fatal("runqsteal: runq overflow");
	store_release(&p->runqtail, t + n);
	return gp;
}

unsigned int __gmp_runqroom(struct p *p)
{
	/* The owner calls: others (thieves) only move head forward, so the
	 * room can but grow under us. */
	return RUNQ_SIZE - (load_relaxed(&p->runqtail) - load_acquire(&p->runqhead));
}

bool __gmp_runqempty(struct p *p)
{
	/* Go's runqempty: a consistent snapshot of head, tail and runnext. */
	for (;;) {
		uint32_t h = load_acquire(&p->runqhead);
		uint32_t t = load_acquire(&p->runqtail);
		struct g *next = load_acquire(&p->runnext);

		if (t == load_acquire(&p->runqtail))
			return h == t && next == NULL;
	}
}

/* ---- global run queue (sched.lock held) -------------------------------- */

static void globrunqput(struct g *gp)
{
	gp->schedlink = NULL;
	if (sched.runqtail)
		sched.runqtail->schedlink = gp;
	else
		sched.runqhead = gp;
	sched.runqtail = gp;
	atomic_fetch_add(&sched.runqsize, 1);	/* seq_cst: see wakep() */
}

static void globrunqputbatch(struct g *head, struct g *tail, int n)
{
	tail->schedlink = NULL;
	if (sched.runqtail)
		sched.runqtail->schedlink = head;
	else
		sched.runqhead = head;
	sched.runqtail = tail;
	atomic_fetch_add(&sched.runqsize, n);
}

static struct g *globrunqpop(void)
{
	struct g *gp = sched.runqhead;

	sched.runqhead = gp->schedlink;
	if (!sched.runqhead)
		sched.runqtail = NULL;
	return gp;
}

/* Take a batch; the caller's local queue must be empty if max != 1. */
static struct g *globrunqget(struct p *p, int max)
{
	int size = load_relaxed(&sched.runqsize);
	int n;
	struct g *gp;

	if (size == 0)
		return NULL;
	n = size / sched.gomaxprocs + 1;
	if (n > size)
		n = size;
	if (max > 0 && n > max)
		n = max;
	if (n > RUNQ_SIZE / 2)
		n = RUNQ_SIZE / 2;
	atomic_fetch_sub(&sched.runqsize, n);
	gp = globrunqpop();
	while (--n > 0)
		runqput(p, globrunqpop(), false);
	return gp;
}

/* ---- idle P and M lists (sched.lock held) ----------------------------- */

static void pidleput(struct p *p)
{
	if (!__gmp_runqempty(p))
		__gmp_fatal("pidleput: P has runnable goroutines");
	p->link = sched.pidle;
	sched.pidle = p;
	atomic_fetch_add(&sched.npidle, 1);	/* seq_cst: see wakep() */
}

static struct p *pidleget(void)
{
	struct p *p = sched.pidle;

	if (p) {
		sched.pidle = p->link;
		atomic_fetch_sub(&sched.npidle, 1);
	}
	return p;
}

static void mput(struct m *m)
{
	m->schedlink = sched.midle;
	sched.midle = m;
	sched.nmidle++;
}

static struct m *mget(void)
{
	struct m *m = sched.midle;

	if (m) {
		sched.midle = m->schedlink;
		sched.nmidle--;
	}
	return m;
}

/* ---- P ownership ------------------------------------------------------ */

static void acquirep(struct m *m, struct p *p)
{
	if (m->p || p->m)
		__gmp_fatal("acquirep: M%d or P%d already bound", m->id, p->id);
	m->p = p;
	p->m = m;
	/* release: for sysmon, which reads it without other synchronisation. */
	store_release(&p->status, P_STATUS(P_RUNNING, m->id, p->seq));
	if (load_relaxed(&sched.sysmonwait))
		__gmp_sysmon_wake();
}

static struct p *releasep(struct m *m)
{
	struct p *p = m->p;

	p->m = NULL;
	m->p = NULL;
	store_release(&p->status, P_STATUS(P_IDLE, 0, p->seq));
	return p;
}

/* ---- Ms ---------------------------------------------------------------- */

static _Noreturn void schedule(struct m *m);
static void stopm(struct m *m);
static void wakep_local(void);

static void *mstart(void *arg)
{
	struct m *m = arg;

	__gmp_tls_m = m;
	m->errnop = gmp_errno_location();
	if (__gmp_stack_thread_init(m) < 0)
		__gmp_fatal("M%d: cannot set up its signal stack", m->id);
#ifdef GMP_TSAN
	m->tsan_g0 = __tsan_get_current_fiber();
#endif
	m->tid = (int)gettid();
	if (__gmp_uses_activations(sched.handoff))
		__gmp_act_register(m);
	if (m->kactivate) {
		/* A new spare M: it runs the first P an upcall gives it. */
		struct p *p;

		m->kactivate = false;
		p = __gmp_activation(m);
		if (p)
			acquirep(m, p);
		else
			stopm(m);
	} else {
		acquirep(m, m->nextp);
		m->nextp = NULL;
	}
	schedule(m);
}

/* A new M for p, or (activation) a spare M parking in /dev/gmp at once. */
static void newm(struct p *p, bool spinning, bool activation)
{
	struct m *m = calloc(1, sizeof(*m));
	pthread_attr_t attr;
	cpu_set_t set;
	int err;

	if (!m)
		__gmp_fatal("newm: out of memory");
	__gmp_lock(&sched.lock);
	m->id = ++sched.mcount;
	if (sched.mcount > 10000)
		__gmp_fatal("thread limit: 10000 Ms");
	m->alllink = sched.allm;
	sched.allm = m;
	__gmp_unlock(&sched.lock);
	m->nextp = p;
	m->spinning = spinning;
	m->kactivate = activation;
	m->pr.fd = -1;
	m->pollbreak = -1;
	m->fastrand = 0x9E3779B97F4A7C15ULL * (uint64_t)(m->id + 1) ^
		      (uint64_t)__gmp_nanotime();
	if (!m->fastrand)
		m->fastrand = 1;
	/*
	 * The process's CPUs, not the creator's mask: it may be an activation,
	 * pinned. Refused (none of them is ours any more): the creator's.
	 */
	for (bool pin = __gmp_pin_mask(&set);; pin = false) {
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		if (pin)
			pthread_attr_setaffinity_np(&attr, sizeof(set), &set);
		err = pthread_create(&m->thread, &attr, mstart, m);
		pthread_attr_destroy(&attr);
		if (err != EINVAL || !pin)
			break;
	}
	if (err)
		__gmp_fatal("newm: pthread_create: %s", strerror(err));
}

/* Run some M (a parked one, else a new one) on p, or on an idle P. */
void __gmp_startm(struct p *p, bool spinning)
{
	struct m *nm;

	__gmp_lock(&sched.lock);
	if (!p) {
		p = pidleget();
		if (!p) {
			__gmp_unlock(&sched.lock);
			/* The caller counted us as spinning; nobody to wake. */
			if (spinning && atomic_fetch_sub(&sched.nmspinning, 1) <= 0)
				__gmp_fatal("startm: negative nmspinning");
			return;
		}
	}
	nm = mget();
	__gmp_unlock(&sched.lock);
	if (!nm) {
		newm(p, spinning, false);
		return;
	}
	if (nm->spinning || nm->nextp)
		__gmp_fatal("startm: M%d is not idle", nm->id);
	nm->spinning = spinning;
	nm->nextp = p;
	__gmp_notewakeup(&nm->park);	/* release: nextp and spinning */
}

/*
 * A spare M for the activation pool (whose place the caller reserved): a
 * parked M if there is one, else a new thread. Not a spinning M.
 */
void __gmp_startm_activation(void)
{
	struct m *nm;

	__gmp_lock(&sched.lock);
	nm = mget();
	__gmp_unlock(&sched.lock);
	if (!nm) {
		newm(NULL, false, true);
		return;
	}
	if (nm->spinning || nm->nextp)
		__gmp_fatal("startm: M%d is not idle", nm->id);
	nm->kactivate = true;
	__gmp_notewakeup(&nm->park);	/* release: kactivate */
}

static _Noreturn void mexit(struct m *m);

/*
 * Park this M until it gets a P: from startm, or, in kmod and perf mode
 * while the activation pool is short, from an upcall it waits for.
 */
static void stopm(struct m *m)
{
	struct p *p;

	if (m->p || m->spinning)
		__gmp_fatal("stopm: M%d holds a P or spins", m->id);
	for (;;) {
		if (__gmp_uses_activations(sched.handoff) && __gmp_pool_join() &&
		    (p = __gmp_activation(m))) {
			acquirep(m, p);
			return;
		}
		__gmp_act_unpin(m);
		__gmp_lock(&sched.lock);
		mput(m);
		__gmp_unlock(&sched.lock);
		__gmp_perf_pause(m);	/* perf: our own parking is nobody's news */
		__gmp_notesleep(&m->park);
		__gmp_noteclear(&m->park);
		if (m->exiting)
			mexit(m);
		if (m->kactivate) {
			m->kactivate = false;
			p = __gmp_activation(m);
			if (p) {
				acquirep(m, p);
				return;
			}
			continue;	/* the pool filled up without us */
		}
		acquirep(m, m->nextp);
		m->nextp = NULL;
		return;
	}
}

/*
 * End this idle M's thread, leaving nothing of it behind but its struct
 * (never freed: takers may hold it): its handoff registration (perf: the
 * event, its ring and its fd) and its signal stack. Only the test hook
 * below asks for it so far; an idle-M reaper would too.
 */
static _Atomic int nmexited;	/* Ms that ended their thread (mexit) */

static _Noreturn void mexit(struct m *m)
{
	atomic_fetch_add(&nmexited, 1);
	if (__gmp_uses_activations(sched.handoff))
		__gmp_act_unregister(m);
	__gmp_stack_thread_fini(m);
	__gmp_tls_m = NULL;
	pthread_exit(NULL);
}

/*
 * Test hook (hidden; selftests/lib link libgmp.a): every M parked idle
 * exits. Returns how many were told to, their thread ids in tids[max].
 */
HIDDEN int __gmp_test_exit_idle_ms(int *tids, int max);
int __gmp_test_exit_idle_ms(int *tids, int max)
{
	struct m *list, *m, *next;
	int n = 0;

	__gmp_lock(&sched.lock);
	list = sched.midle;
	sched.midle = NULL;
	sched.nmidle = 0;
	__gmp_unlock(&sched.lock);
	for (m = list; m; m = next, n++) {
		next = m->schedlink;
		if (n < max)
			tids[n] = m->tid;
		m->exiting = true;
		__gmp_notewakeup(&m->park);	/* release: exiting */
	}
	return n;
}

/* Test hooks: the calling G's P's time-slice counter, and whether sysmon
 * has asked that P's G to yield (-1: not on a P). */
HIDDEN long __gmp_test_schedtick(void);
long __gmp_test_schedtick(void)
{
	struct m *m = __gmp_getm();

	return m && m->p ? (long)load_relaxed(&m->p->schedtick) : -1;
}

HIDDEN int __gmp_test_preempt_asked(void);
int __gmp_test_preempt_asked(void)
{
	struct m *m = __gmp_getm();

	return m && m->p ? (int)load_relaxed(&m->p->preempt) : -1;
}

/* Test hook: how many Ms there are (made and not ended by mexit). */
HIDDEN int __gmp_test_live_ms(void);
int __gmp_test_live_ms(void)
{
	int n;

	__gmp_lock(&sched.lock);
	n = sched.mcount - atomic_load(&nmexited);
	__gmp_unlock(&sched.lock);
	return n;
}

/* Test hook: how many Ms are parked idle (on sched.midle) now. */
HIDDEN int __gmp_test_idle_ms(void);
int __gmp_test_idle_ms(void)
{
	int n;

	__gmp_lock(&sched.lock);
	n = sched.nmidle;
	__gmp_unlock(&sched.lock);
	return n;
}

/*
 * Test hook: the scheduler's state in one line per P and one for the
 * rest, into buf (a test's report when it seems to hang). Lock-free,
 * relaxed reads of words others write: a snapshot, maybe torn, that
 * works even if the hang holds sched.lock.
 */
HIDDEN void __gmp_test_dump(char *buf, size_t len);
void __gmp_test_dump(char *buf, size_t len)
{
	size_t n = 0;

#define DUMP(...) do {							\
		int w_ = snprintf(buf + n, len - n, __VA_ARGS__);	\
									\
		if (w_ > 0)						\
			n = (size_t)w_ < len - n ? n + w_ : len - 1;	\
	} while (0)
	if (!len)
		return;
	buf[0] = '\0';
	for (int i = 0; i < sched.gomaxprocs; i++) {
		struct p *p = &sched.allp[i];
		uint64_t s = load_relaxed(&p->status);
		uint64_t kb = load_relaxed(&p->kblocked);

		DUMP("P%d state %u m %u seq %u runq %u runnext %d kblocked %s schedtick %u nsched %llu\n",
		     i, P_STATE(s), P_MID(s), P_SEQ(s),
		     load_relaxed(&p->runqtail) - load_relaxed(&p->runqhead),
		     load_relaxed(&p->runnext) != NULL, kb ? "yes" : "no",
		     load_relaxed(&p->schedtick),
		     (unsigned long long)load_relaxed(&p->nsched));
	}
	DUMP("global runq %d, idle Ps %d, spinning Ms %d, blocked Ps %d, pool %d\n",
	     atomic_load_explicit(&sched.runqsize, memory_order_relaxed),
	     atomic_load_explicit(&sched.npidle, memory_order_relaxed),
	     atomic_load_explicit(&sched.nmspinning, memory_order_relaxed),
	     atomic_load_explicit(&__gmp_act_nblocked, memory_order_relaxed),
	     __gmp_pool_parked());
#undef DUMP
}

/*
 * Park this M as the one that wakes up for the earliest timer and, with
 * the uring poller, for completions on the rings of idle Ps (the poller
 * M), unless another M already is; then a P that went idle with requests
 * in flight (released, if not NULL) must be added to that M's set: break
 * its wait. Returns holding a P.
 */
static void stopm_timed(struct m *m, int64_t when, struct p *released)
{
	bool uring = sched.poller == GMP_POLLER_URING;
	struct p *p;
	int64_t now;

	__gmp_lock(&sched.lock);
	if (sched.timer_m) {
		/* Our P went idle after the poller collected its rings: under
		 * the lock, so that it is that very poller we wake. */
		if (uring && released && __gmp_poll_inflight(released))
			__gmp_poll_break(sched.timer_m);
		__gmp_unlock(&sched.lock);
		stopm(m);
		return;
	}
	/* The rings to watch, collected under the lock that orders us with
	 * Ps going idle later (they see timer_m and break our wait). */
	if (uring && __gmp_poll_collect(m) == 0 && when == INT64_MAX) {
		__gmp_unlock(&sched.lock);
		stopm(m);
		return;
	}
	sched.timer_m = m;
	sched.timer_until = when;
	__gmp_unlock(&sched.lock);

	now = __gmp_nanotime();
	__gmp_act_unpin(m);	/* a wait of no activation's */
	__gmp_perf_pause(m);
	if (uring)
		__gmp_poll_block(m, when);
	else if (when > now)
		__gmp_notetsleep(&m->park, when - now);

	__gmp_lock(&sched.lock);
	if (sched.timer_m == m)
		sched.timer_m = NULL;
	/* A waker clears timer_m and wakes us under the lock: it is done. */
	p = pidleget();
	__gmp_unlock(&sched.lock);
	__gmp_noteclear(&m->park);
	if (p) {
		acquirep(m, p);
		/*
		 * Uring: spin, so that finding work (completions of any ring,
		 * stolen by findrunnable) we wake another M, which becomes
		 * the next poller if Ps with requests in flight stay idle.
		 */
		if (uring) {
			m->spinning = true;
			atomic_fetch_add(&sched.nmspinning, 1);
		}
		return;
	}
	/* Every P is busy: their Ms run the timers when they schedule. */
	stopm(m);
}

void __gmp_wake_timer_sleeper(int64_t when)
{
	struct m *tm;

	__gmp_lock(&sched.lock);
	tm = sched.timer_m;
	if (tm) {
		if (sched.timer_until > when) {
			sched.timer_m = NULL;
			__gmp_notewakeup(&tm->park);
			/* The poller M waits in ppoll, not on its note. */
			if (sched.poller == GMP_POLLER_URING)
				__gmp_poll_break(tm);
		}
		__gmp_unlock(&sched.lock);
		return;
	}
	__gmp_unlock(&sched.lock);
	__gmp_wakep();	/* an M that finds nothing becomes the timer M */
}

/* Start a spinning M if there is an idle P and nobody spins (Go's wakep). */
void __gmp_wakep(void)
{
	/* Dekker with findrunnable: our work is published before we look. */
	full_barrier();
	wakep_local();
}

/*
 * wakep() without the barrier, after a runqput on our own P. If an M going
 * idle misses that G, no work is lost, only parallelism: the G is on our
 * P, whose M runs it next (or sysmon takes the P if we block in a
 * syscall). Go's wakep has no barrier either.
 */
static void wakep_local(void)
{
	int zero = 0;

	if (atomic_load_explicit(&sched.npidle, memory_order_relaxed) == 0) {
		/*
		 * kmod, perf: no idle P, but maybe a P whose M sleeps in a
		 * syscall (an activation left it, having nothing to run then):
		 * take it now. Relaxed loads: hints, re-checked by the taker.
		 */
		if (load_relaxed(&__gmp_act_nblocked) > 0 &&
		    atomic_load_explicit(&sched.nmspinning, memory_order_relaxed) == 0)
			__gmp_act_demand();
		return;
	}
	if (atomic_load(&sched.nmspinning) != 0 ||
	    !atomic_compare_exchange_strong(&sched.nmspinning, &zero, 1))
		return;
	__gmp_startm(NULL, true);
}

static void resetspinning(struct m *m)
{
	m->spinning = false;
	if (atomic_fetch_sub(&sched.nmspinning, 1) <= 0)
		__gmp_fatal("resetspinning: negative nmspinning");
	/* We found work: maybe there is more, let another M look. */
	__gmp_wakep();
}

/* p was taken from a syscall (or its M leaves it): find it an M. */
static void handoffp(struct p *p)
{
	int zero = 0;
	int64_t when;

	if (!__gmp_runqempty(p) || atomic_load(&sched.runqsize) ||
	    (sched.poller == GMP_POLLER_URING && __gmp_poll_ready(p))) {
		__gmp_startm(p, false);
		return;
	}
	/* No local work; if nobody spins and no P is idle, help look. */
	if (atomic_load(&sched.nmspinning) + atomic_load(&sched.npidle) == 0 &&
	    atomic_compare_exchange_strong(&sched.nmspinning, &zero, 1)) {
		__gmp_startm(p, true);
		return;
	}
	__gmp_lock(&sched.lock);
	if (atomic_load(&sched.runqsize)) {
		__gmp_unlock(&sched.lock);
		__gmp_startm(p, false);
		return;
	}
	pidleput(p);
	__gmp_unlock(&sched.lock);
	when = load_relaxed(&__gmp_timers_next);
	if (when != INT64_MAX)
		__gmp_wake_timer_sleeper(when);
	/* Requests in flight on an idle P: the poller M must watch its ring
	 * (break its wait to collect it), or some M must become it. */
	if (sched.poller == GMP_POLLER_URING && __gmp_poll_inflight(p))
		__gmp_poll_kick();
}

void __gmp_handoffp(struct p *p)
{
	handoffp(p);
}

/* ---- transparent mode (kmod, perf): G code runs with the P takeable ----- */

/*
 * With GMP_TRANSPARENT an M's slot is armed while its goroutine's code
 * runs, and the P's status is {P_GCODE, m, seq}: an activation told that
 * the M sleeps takes the P with one CAS, exactly as from a syscall. So the
 * M owns its P only between a successful reclaim (a CAS back to
 * P_RUNNING, which also disarms) and the next gcode_enter(). Every path
 * that touches the P from goroutine context reclaims first; one that finds
 * the P gone (m->p = NULL) stops the goroutine at once through
 * gcode_stop(). p->m is NULL while the P is takeable, as in a syscall, so
 * that a taker may acquirep() it.
 */
static void gcode_enter(struct m *m)
{
	struct p *p = m->p;

	p->seq++;	/* a taker's old expectation fails from here on */
	m->kseq = p->seq;
	p->m = NULL;
	store_relaxed(&m->kp, p);
	/* release: our P work happens before a taker's CAS (acq_rel). */
	store_release(&p->status, P_STATUS(P_GCODE, m->id, p->seq));
	__gmp_arm(m);
}

/* Back in the runtime: own the P again, or learn it is gone (false). */
static bool gcode_reclaim(struct m *m)
{
	struct p *p = m->p;
	uint64_t want;

	__gmp_disarm(m);
	if (!p)
		return false;
	want = P_STATUS(P_GCODE, m->id, m->kseq);
	/* acq_rel: pairs with a taker's CAS; no taker can win after this. */
	if (atomic_compare_exchange_strong_explicit(&p->status, &want,
			P_STATUS(P_RUNNING, m->id, m->kseq),
			memory_order_acq_rel, memory_order_relaxed)) {
		p->m = m;
		__gmp_act_forget(p, want);
		return true;
	}
	m->p = NULL;
	hstat_inc(lost);
	return false;
}

/* Has our P been taken? One load: a hint good enough to stop early. */
static bool gcode_lost(struct m *m)
{
	return load_relaxed(&m->p->status) != P_STATUS(P_GCODE, m->id, m->kseq);
}

static struct g *exitsyscall0(struct m *m, struct g *gp);
static void mcall(struct g *(*fn)(struct m *, struct g *), bool dying);
static void gcode_stop(struct m *m);

/* After touching the P from G code: back to G code, or stop if it was gone. */
static void gcode_lost_or_enter(struct m *m)
{
	if (m->p)
		gcode_enter(m);
	else
		gcode_stop(m);
}

/* The goroutine's P is gone: queue it (or run it on an idle P) elsewhere. */
static void gcode_stop(struct m *m)
{
	if (m->p) {
		m->p = NULL;
		hstat_inc(lost);
	}
	__gmp_disarm(m);
	mcall(exitsyscall0, false);
}

/* ---- switching --------------------------------------------------------- */

#ifdef GMP_ASAN
#define ASAN_FAKE(p)	(p)
#else
#define ASAN_FAKE(p)	NULL
#endif

/*
 * Leave the running stack for gp's (its rsp saved in *save_sp, ASan's fake
 * stack in *fake) and tell the sanitizers; returns when switched back to.
 */
static inline void switch_stack(void **save_sp, void **fake, struct g *gp)
{
#ifdef GMP_ASAN
	__sanitizer_start_switch_fiber(fake, gp->stack_lo, gp->stack_size);
#else
	(void)fake;
#endif
#ifdef GMP_TSAN
	__tsan_switch_to_fiber(gp->tsan_fiber, 0);
#endif
	__gmp_ctx_switch(save_sp, gp->sp);
#ifdef GMP_ASAN
	__sanitizer_finish_switch_fiber(*fake, NULL, NULL);
#endif
}

/* On g0: run gp until it switches back. */
static void switch_to_g(struct m *m, struct g *gp)
{
	switch_stack(&m->g0sp, ASAN_FAKE(&m->asan_g0_fake_stack), gp);
}

/*
 * First thing a G does when it runs again: if the G before it switched to
 * it straight (park_direct), release what that one parked on, now that its
 * context is saved and a waker may run it elsewhere.
 */
static inline void park_finish(struct m *m)
{
	struct g *prev = m->park_prev;

	if (prev) {
		m->park_prev = NULL;
		m->park_fn = NULL;
		/* Always true: park_direct is for __gmp_park_unlock only. */
		__gmp_park_unlock(prev, m->park_arg);
	}
}

/*
 * On gp: switch to the M's scheduler, which runs fn(m, gp) (Go's mcall).
 * Returns when gp is run again, on this M or another.
 */
static void mcall(struct g *(*fn)(struct m *, struct g *), bool dying)
{
	struct m *m = __gmp_getm();
	struct g *gp = m->curg;
	int saved_errno = *m->errnop;

	__gmp_stack_check(gp);
	m->mcall_fn = fn;
#ifdef GMP_ASAN
	__sanitizer_start_switch_fiber(dying ? NULL : &gp->asan_fake_stack,
				       m->g0_stack_lo, m->g0_stack_size);
#else
	(void)dying;
#endif
#ifdef GMP_TSAN
	__tsan_switch_to_fiber(m->tsan_g0, 0);
#endif
	__gmp_ctx_switch(&gp->sp, m->g0sp);
	/* Resumed, maybe on another thread: m is stale from here on. */
#ifdef GMP_ASAN
	__sanitizer_finish_switch_fiber(gp->asan_fake_stack, NULL, NULL);
#endif
	m = __gmp_getm();
	park_finish(m);
	*m->errnop = saved_errno;
}

static void execute(struct m *m, struct g *gp, bool inherit)
{
	struct p *p = m->p;

	/*
	 * A new time slice, unless inherited, or unless gp is the G this M
	 * just preempted, back at once (nothing else was there to run): it
	 * goes on hogging the P, and sysmon must go on seeing that. A
	 * preemption is only noticed at the G's next runtime call, often
	 * the one that enters a syscall; Go preempts on time (a signal),
	 * so there the hog's P is retaken at sysmon's first look
	 * (sysretake), not one tick later as a fresh slice would have it.
	 * One writer (the owner); relaxed: sysmon only compares values.
	 */
	if (!inherit && gp != m->preempted)
		store_relaxed(&p->schedtick, load_relaxed(&p->schedtick) + 1);
	__gmp_act_unpin_ran(m);
	m->pin_fresh = false;	/* the goroutine an activation woke for */
	m->preempted = NULL;
	store_relaxed(&p->preempt, 0);
	store_relaxed(&p->nsched, load_relaxed(&p->nsched) + 1);
	gp->m = m;
	m->curg = gp;
	store_relaxed(&gp->status, G_RUNNING);
	if (m->transparent)
		gcode_enter(m);
	switch_to_g(m, gp);
	if (m->transparent && m->p)
		gcode_reclaim(m);
}

/* ---- finding work ----------------------------------------------------- */

static void check_timers(void)
{
	int64_t next = load_relaxed(&__gmp_timers_next);
	int64_t now;

	if (next == INT64_MAX)
		return;
	now = __gmp_nanotime();
	if (next <= now)
		__gmp_timers_run(now);
}

static struct g *stealwork(struct m *m, struct p *p)
{
	int procs = sched.gomaxprocs;

	for (int i = 0; i < 4; i++) {
		bool last = i == 3;
		uint32_t pos = __gmp_fastrandn(procs);
		uint32_t step = coprimes[__gmp_fastrandn(ncoprimes)];

		for (int k = 0; k < procs; k++, pos = (pos + step) % procs) {
			struct p *p2 = &sched.allp[pos];
			struct g *gp;

			if (p2 == p)
				continue;
			/* An idle P has nothing to steal. */
			if (P_STATE(load_relaxed(&p2->status)) == P_IDLE)
				continue;
			gp = runqsteal(p, p2, last);
			if (gp)
				return gp;
		}
	}
	(void)m;
	return NULL;
}

/* Find a runnable G, parking the M as long as there is none. */
static struct g *findrunnable(struct m *m, bool *inherit)
{
	for (;;) {
		struct p *p = m->p, *released;
		struct g *gp;
		bool was_spinning;
		int procs = sched.gomaxprocs;
		int64_t when;

		check_timers();
		/* Submit what waits. */
		if (sched.poller == GMP_POLLER_URING)
			__gmp_poll_flush(p);
		gp = runqget(p, inherit);
		if (gp)
			return gp;
		/* The global queue before new completions, as in Go. */
		if (atomic_load(&sched.runqsize)) {
			__gmp_lock(&sched.lock);
			gp = globrunqget(p, 0);
			__gmp_unlock(&sched.lock);
			if (gp)
				return gp;
		}
		/* Reap what came (Go's netpoll(0)). */
		if (sched.poller == GMP_POLLER_URING) {
			__gmp_poll_sched(p, true);
			gp = runqget(p, inherit);
			if (gp)
				return gp;
		}
		/* Limit spinning Ms to half the busy Ps, as Go does. */
		if (m->spinning || 2 * atomic_load(&sched.nmspinning) <
				   procs - atomic_load(&sched.npidle)) {
			if (!m->spinning) {
				m->spinning = true;
				atomic_fetch_add(&sched.nmspinning, 1);
			}
			gp = stealwork(m, p);
			if (gp)
				return gp;
		}
		/* Completions on any P's ring (its M busy, in a syscall, or idle). */
		if (sched.poller == GMP_POLLER_URING && __gmp_poll_steal())
			continue;

		/* Nothing: give the P back. */
		__gmp_lock(&sched.lock);
		if (atomic_load(&sched.runqsize)) {
			gp = globrunqget(p, 0);
			__gmp_unlock(&sched.lock);
			return gp;
		}
		released = releasep(m);
		pidleput(p);
		__gmp_unlock(&sched.lock);

		was_spinning = m->spinning;
		if (m->spinning) {
			m->spinning = false;
			if (atomic_fetch_sub(&sched.nmspinning, 1) <= 0)
				__gmp_fatal("findrunnable: negative nmspinning");
		}
		/* Dekker with wakep(): look again now that we are not spinning. */
		full_barrier();
		p = NULL;
		for (int i = 0; i < procs; i++) {
			if (!__gmp_runqempty(&sched.allp[i]) ||
			    atomic_load(&sched.runqsize)) {
				__gmp_lock(&sched.lock);
				p = pidleget();
				__gmp_unlock(&sched.lock);
				break;
			}
		}
		if (p) {
			acquirep(m, p);
			if (was_spinning) {
				m->spinning = true;
				atomic_fetch_add(&sched.nmspinning, 1);
			}
			continue;
		}
		when = load_relaxed(&__gmp_timers_next);
		if (when != INT64_MAX || sched.poller == GMP_POLLER_URING)
			stopm_timed(m, when, released);
		else
			stopm(m);
	}
}

static _Noreturn void schedule(struct m *m)
{
	struct g *gp = NULL;
	bool inherit = false;

	for (;;) {
		if (!gp) {
			struct p *p = m->p;

			inherit = false;
			check_timers();
			/* Reap completions; submit requests (batched). */
			if (sched.poller == GMP_POLLER_URING && load_relaxed(&p->ring))
				__gmp_poll_sched(p, false);
			/* Every 61 ticks, the global queue first: fairness. */
			if (load_relaxed(&p->schedtick) % 61 == 0 &&
			    atomic_load(&sched.runqsize) > 0) {
				__gmp_lock(&sched.lock);
				gp = globrunqget(p, 1);
				__gmp_unlock(&sched.lock);
			}
			if (!gp)
				gp = runqget(p, &inherit);
			if (!gp)
				gp = findrunnable(m, &inherit);
			if (m->spinning)
				resetspinning(m);
		}
		execute(m, gp, inherit);
		/* gp switched back to us through mcall. */
		gp = m->curg;
		m->curg = NULL;
		gp = m->mcall_fn(m, gp);
		if (unlikely(!m->p)) {
			/* Transparent: the P was taken while gp's code ran. */
			if (gp) {
				gp = exitsyscall0(m, gp);
			} else {
				struct p *p;

				__gmp_lock(&sched.lock);
				p = pidleget();
				__gmp_unlock(&sched.lock);
				if (p)
					acquirep(m, p);
				else
					stopm(m);
			}
		}
		inherit = true;	/* the same G again (park_m, exitsyscall0) */
	}
}

/* ---- G lifecycle --------------------------------------------------------- */

/*
 * Dead Gs with their stacks. A P keeps two chains of up to GF_BATCH: the one
 * it takes from and puts to, and a full spare; the global list is a list of
 * chains (the head G of each holds the next chain and its length). Moving
 * a chain is O(1): a G's header sits on its own stack's top page, so a walk
 * down a chain would miss the cache at every G.
 */
#define GF_BATCH	32

static void gf_pushchain(struct g *head, int n)
{
	__gmp_lock(&sched.gflock);
	head->gbatch = sched.gfree;
	head->gbatchn = n;
	sched.gfree = head;
	sched.ngfree += n;
	__gmp_unlock(&sched.gflock);
}

/* Take a whole chain (p != NULL) or one G off the global list. */
static struct g *gf_popglobal(bool whole, int *np)
{
	struct g *gp;

	__gmp_lock(&sched.gflock);
	gp = sched.gfree;
	if (!gp) {
		__gmp_unlock(&sched.gflock);
		return NULL;
	}
	if (whole || gp->gbatchn == 1) {
		sched.gfree = gp->gbatch;
		*np = gp->gbatchn;
	} else {
		struct g *rest = gp->schedlink;

		rest->gbatch = gp->gbatch;
		rest->gbatchn = gp->gbatchn - 1;
		sched.gfree = rest;
		*np = 1;
	}
	sched.ngfree -= *np;
	__gmp_unlock(&sched.gflock);
	gp->gbatch = NULL;
	return gp;
}

static void gfput(struct p *p, struct g *gp)
{
	if (!p) {	/* transparent: our P was taken; the global list */
		gp->schedlink = NULL;
		gf_pushchain(gp, 1);
		return;
	}
	if (p->ngfree == GF_BATCH) {
		if (p->gspare)
			gf_pushchain(p->gspare, GF_BATCH);
		p->gspare = p->gfree;
		p->gfree = NULL;
		p->ngfree = 0;
	}
	gp->schedlink = p->gfree;
	p->gfree = gp;
	p->ngfree++;
}

static struct g *gfget(struct p *p)
{
	struct g *gp;
	int n;

	if (!p)
		return gf_popglobal(false, &n);
	if (!p->gfree) {
		if (p->gspare) {
			p->gfree = p->gspare;
			p->ngfree = GF_BATCH;
			p->gspare = NULL;
		} else {
			p->gfree = gf_popglobal(true, &n);
			if (!p->gfree)
				return NULL;
			p->ngfree = n;
		}
	}
	gp = p->gfree;
	p->gfree = gp->schedlink;
	p->ngfree--;
	return gp;
}

static void run_key_dtors(struct g *gp)
{
	/* acquire: pairs with gmp_key_create; no key, no work. */
	int nkeys = load_acquire(&sched.nkeys);

	for (int pass = 0; pass < 4 && nkeys; pass++) {
		bool any = false;

		for (int k = 0; k < nkeys; k++) {
			void *v = gp->keys[k];
			void (*dtor)(void *) = load_acquire(&sched.key_dtor[k]);

			if (!v)
				continue;
			gp->keys[k] = NULL;
			if (dtor) {
				dtor(v);
				any = true;
			}
		}
		if (!any)
			break;
	}
}

static _Noreturn void goexit1(void)
{
	struct g *gp = __gmp_getg();

	run_key_dtors(gp);
	mcall(goexit0, true);
	__gmp_fatal("goexit: dead goroutine resumed");
}

static _Noreturn void gentry(void)
{
	struct g *gp = __gmp_getg();

#ifdef GMP_ASAN
	__sanitizer_finish_switch_fiber(NULL, NULL, NULL);
#endif
	park_finish(__gmp_getm());
	*__gmp_getm()->errnop = 0;
	gp->fn(gp->arg);
	goexit1();
}

static struct g *goexit0(struct m *m, struct g *gp)
{
	store_relaxed(&gp->status, G_DEAD);
	gp->m = NULL;
	gp->param = NULL;
#ifdef GMP_TSAN
	/* A fresh fiber per goroutine: the old one's shadow stack ends here. */
	__tsan_destroy_fiber(gp->tsan_fiber);
	gp->tsan_fiber = NULL;
#endif
	gfput(m->p, gp);
	return NULL;
}

/* Go's goidcache: a P takes ids GOID_BATCH at a time, off the shared line. */
#define GOID_BATCH	16

static int64_t goid_next(struct p *p)
{
	if (!p)
		return atomic_fetch_add_explicit(&sched.goidgen, 1, memory_order_relaxed) + 1;
	if (p->goidcache == p->goidcacheend) {
		p->goidcache = atomic_fetch_add_explicit(&sched.goidgen, GOID_BATCH,
							 memory_order_relaxed) + 1;
		p->goidcacheend = p->goidcache + GOID_BATCH;
	}
	return p->goidcache++;
}

static struct g *newproc(void (*fn)(void *), void *arg, int64_t *idp)
{
	struct m *m = __gmp_getm();
	/* Transparent: a goroutine owns its P only once it reclaims it. */
	bool gcode = m && m->transparent && m->curg && m->p;
	struct p *p = gcode ? (gcode_reclaim(m) ? m->p : NULL) : m ? m->p : NULL;
	struct g *gp = gfget(p);
	int64_t id;

	if (!gp) {
		gp = __gmp_stack_alloc(sched.stack_size);
		if (!gp) {
			if (gcode)
				gcode_lost_or_enter(m);
			return NULL;
		}
	}
#ifdef GMP_ASAN
	/* Frames of the previous owner of this stack left their redzones. */
	__asan_unpoison_memory_region(gp->stack_lo, gp->stack_size);
	gp->asan_fake_stack = NULL;
#endif
#ifdef GMP_TSAN
	gp->tsan_fiber = __tsan_create_fiber(0);
#endif
	/* A dead G has no keys, no timer, no param, selectdone 0 and no M. */
	id = goid_next(p);
	gp->id = id;
	gp->fn = fn;
	gp->arg = arg;
	if (gp->name[0])
		gp->name[0] = '\0';
	__gmp_ctx_init(gp, gentry);
	store_relaxed(&gp->status, G_RUNNABLE);
	/* gp may already run (and even be gone): use only id from here. */
	if (p) {
		runqput(p, gp, true);
		wakep_local();
	} else {
		__gmp_lock(&sched.lock);
		globrunqput(gp);
		__gmp_unlock(&sched.lock);
		__gmp_wakep();
	}
	*idp = id;
	if (gcode)
		gcode_lost_or_enter(m);
	return gp;
}

/* ---- park / ready / yield ------------------------------------------------ */

static struct g *park_m(struct m *m, struct g *gp)
{
	bool (*fn)(struct g *, void *) = m->park_fn;

	/* release (via the unlock in fn): wakers see G_WAITING. */
	store_relaxed(&gp->status, G_WAITING);
	gp->m = NULL;
	m->park_fn = NULL;
	if (fn && !fn(gp, m->park_arg)) {
		store_relaxed(&gp->status, G_RUNNABLE);
		return gp;	/* changed its mind: run it again at once */
	}
	return NULL;
}

/*
 * park_m and the scheduler's next pick in one, without the switch to g0
 * and back: when the G parks releasing a lock (channels, mutexes, wait
 * groups) and the scheduler would run runnext next, switch to runnext at
 * once; it releases the lock for us (park_finish). Anything else the
 * scheduler would do first (a timer due, the poller, the global queue's
 * turn, transparent mode) takes the usual way.
 */
static bool park_direct(struct m *m, void *lock)
{
	struct p *p = m->p;
	struct g *gp = m->curg, *next;
	int64_t when = load_relaxed(&__gmp_timers_next);
	int saved_errno;

	/* Pinned: execute() gives us every CPU back before next runs. */
	if (m->transparent || !p || m->pinned)
		return false;
	if (when != INT64_MAX && when <= __gmp_nanotime())
		return false;
	if (load_relaxed(&p->schedtick) % 61 == 0 && atomic_load(&sched.runqsize) > 0)
		return false;
	if (sched.poller == GMP_POLLER_URING && !__gmp_poll_idle(p))
		return false;
	next = load_relaxed(&p->runnext);
	/* A thief may take it too (acquire: the G), as in runqget. */
	if (!next || !atomic_compare_exchange_strong_explicit(&p->runnext, &next,
			NULL, memory_order_acquire, memory_order_relaxed))
		return false;

	saved_errno = *m->errnop;
	__gmp_stack_check(gp);
	/* park_m: wakers see G_WAITING once the lock is released. */
	store_relaxed(&gp->status, G_WAITING);
	gp->m = NULL;
	m->park_prev = gp;
	m->park_fn = __gmp_park_unlock;
	m->park_arg = lock;
	/* execute(m, next, true): runnext inherits the time slice. */
	m->preempted = NULL;
	store_relaxed(&p->preempt, 0);
	store_relaxed(&p->nsched, load_relaxed(&p->nsched) + 1);
	next->m = m;
	m->curg = next;
	store_relaxed(&next->status, G_RUNNING);
	switch_stack(&gp->sp, ASAN_FAKE(&gp->asan_fake_stack), next);
	/* Resumed, maybe on another thread. */
	m = __gmp_getm();
	park_finish(m);
	*m->errnop = saved_errno;
	return true;
}

void __gmp_park(bool (*unlockf)(struct g *gp, void *arg), void *arg)
{
	struct m *m = __gmp_getm();

	if (unlockf == __gmp_park_unlock && park_direct(m, arg))
		return;
	m->park_fn = unlockf;
	m->park_arg = arg;
	mcall(park_m, false);
}

bool __gmp_park_unlock(struct g *gp, void *lock)
{
	(void)gp;
	__gmp_unlock(lock);
	return true;
}

void __gmp_ready(struct g *gp, bool next)
{
	uint32_t old;
	struct m *m;
	bool gcode;

	/*
	 * acquire: the G's saved state (written before park) is ours now.
	 * One waker only, by the protocol of whatever it waited on (that
	 * lock or CAS orders us after park_m's store): no CAS needed.
	 */
	old = load_acquire(&gp->status);
	if (unlikely(old != G_WAITING))
		__gmp_fatal("ready: goroutine %lld in state %u",
			    (long long)gp->id, old);
	store_relaxed(&gp->status, G_RUNNABLE);
	m = __gmp_getm();
	/* Transparent, from goroutine code: the P is ours once reclaimed. */
	gcode = m && m->transparent && m->curg && m->p;
	if (gcode)
		gcode_reclaim(m);
	if (m && m->p) {
		runqput(m->p, gp, next);
		wakep_local();
		if (gcode)
			gcode_enter(m);
	} else if (gcode) {
		__gmp_lock(&sched.lock);
		globrunqput(gp);
		__gmp_unlock(&sched.lock);
		__gmp_wakep();
		gcode_stop(m);	/* no lock held by any caller in G context */
	} else {
		__gmp_lock(&sched.lock);
		globrunqput(gp);
		__gmp_unlock(&sched.lock);
		__gmp_wakep();
	}
}

static struct g *gosched_m(struct m *m, struct g *gp)
{
	(void)m;
	store_relaxed(&gp->status, G_RUNNABLE);
	gp->m = NULL;
	__gmp_lock(&sched.lock);
	globrunqput(gp);
	__gmp_unlock(&sched.lock);
	__gmp_wakep();
	return NULL;
}

/* gosched_m for a G that sysmon asked to yield. */
static struct g *preempt_m(struct m *m, struct g *gp)
{
	m->preempted = gp;
	return gosched_m(m, gp);
}

void gmp_yield(void)
{
	struct m *m = __gmp_getm();

	if (!m || !m->curg || !m->p)
		return;
	mcall(gosched_m, false);
}

void __gmp_preempt_slow(struct m *m)
{
	/* Transparent: the earliest place a P-less M stops at. */
	if (m->transparent && unlikely(gcode_lost(m)))
		gcode_stop(m);
	/* relaxed: a late or early yield is harmless. */
	else if (unlikely(load_relaxed(&m->p->preempt)))
		mcall(preempt_m, false);
}

void gmp_preempt_check(void)
{
	__gmp_preempt_check();
}

_Noreturn void gmp_exit(void)
{
	struct m *m = __gmp_getm();

	if (!m || !m->curg)
		__gmp_fatal("gmp_exit called outside a goroutine");
	goexit1();
}

/* ---- system calls (Go's entersyscall / exitsyscall) ------------------- */

/*
 * Transparent mode: G code is takeable already, so a syscall changes
 * nothing but the G's status; entry and exit only check (one load each)
 * that the P is still ours, and stop the goroutine if it is not.
 */
static int tp_syscall_enter(struct m *m)
{
	if (m->ksyscall)
		return -EBUSY;
	if (unlikely(gcode_lost(m))) {
		gcode_stop(m);
		/* Resumed on a P, in G code again, maybe on another M. */
		m = __gmp_getm();
	}
	m->ksyscall = true;
	store_relaxed(&m->curg->status, G_SYSCALL);
	return 0;
}

static int tp_syscall_exit(struct m *m)
{
	if (!m->ksyscall)
		return -EINVAL;
	m->ksyscall = false;
	store_relaxed(&m->curg->status, G_RUNNING);
	if (unlikely(gcode_lost(m)))
		gcode_stop(m);
	return 0;
}

int gmp_syscall_enter(void)
{
	struct m *m = __gmp_getm();
	struct p *p;

	if (!m || !m->curg)
		return -EPERM;
	if (m->transparent && m->p)
		return tp_syscall_enter(m);
	if (m->oldp || !m->p)
		return -EBUSY;
	p = m->p;
	/* Requests of our Gs waiting to be submitted: not for a syscall long. */
	if (sched.poller == GMP_POLLER_URING)
		__gmp_poll_flush(p);
	p->seq++;
	m->syscallseq = p->seq;
	store_relaxed(&m->curg->status, G_SYSCALL);
	m->oldp = p;
	m->p = NULL;
	p->m = NULL;
	store_relaxed(&m->kp, p);
	/*
	 * release: everything this M did to the P (its queue, its G cache)
	 * happens before a taker's successful CAS (acq_rel) on the word.
	 */
	store_release(&p->status, P_STATUS(P_SYSCALL, m->id, p->seq));
	if (load_relaxed(&sched.sysmonwait))
		__gmp_sysmon_wake();
	/* kmod, perf: from here our blocks are reported (one store). */
	__gmp_arm(m);
	return 0;
}

static struct g *exitsyscall0(struct m *m, struct g *gp)
{
	struct p *p;

	store_relaxed(&gp->status, G_RUNNABLE);
	gp->m = NULL;
	__gmp_lock(&sched.lock);
	p = pidleget();
	if (!p)
		globrunqput(gp);
	__gmp_unlock(&sched.lock);
	if (p) {
		acquirep(m, p);
		return gp;
	}
	/*
	 * No idle P. In kmod and perf mode the Ps may all be held by Ms
	 * asleep in syscalls that an activation left alone (nothing to run
	 * then), and no sysmon comes to retake one: gp is such a G to run
	 * now, so the on-demand path must hear of it (wakep does that).
	 */
	__gmp_wakep();
	stopm(m);
	return NULL;
}

int gmp_syscall_exit(void)
{
	struct m *m = __gmp_getm();
	struct p *p;
	uint64_t want;

	if (!m || !m->curg)
		return -EPERM;
	if (m->transparent && m->p)
		return tp_syscall_exit(m);
	p = m->oldp;
	if (!p)
		return -EINVAL;
	m->oldp = NULL;
	/* Before the CAS: once we own the P again, no block may be reported. */
	__gmp_disarm(m);
	want = P_STATUS(P_SYSCALL, m->id, m->syscallseq);
	/* acq_rel: if a taker had the P and gave it back idle we do not get here. */
	if (atomic_compare_exchange_strong_explicit(&p->status, &want,
			P_STATUS(P_RUNNING, m->id, m->syscallseq),
			memory_order_acq_rel, memory_order_acquire)) {
		m->p = p;
		p->m = m;
		store_relaxed(&m->curg->status, G_RUNNING);
		/* An activation left this syscall to on-demand takers: not any more. */
		__gmp_act_forget(p, want);
		return 0;
	}
	/*
	 * The P was taken. Any idle P will do. The M that took ours often
	 * gives it back within a microsecond or two (its G blocks at once),
	 * so look for a little while before parking: cheaper than parking
	 * this thread and waking another to run us.
	 */
	for (int spin = 0; spin < 50; spin++) {
		if (atomic_load(&sched.npidle) > 0) {
			__gmp_lock(&sched.lock);
			p = pidleget();
			__gmp_unlock(&sched.lock);
			if (p) {
				acquirep(m, p);
				store_relaxed(&m->curg->status, G_RUNNING);
				return 0;
			}
		}
		/* Yield, not pause: the other M may share our CPU. */
		if (spin >= 10)
			sched_yield();
		else
			__builtin_ia32_pause();
	}
	/* None: queue ourselves globally and park this M (it is spare now). */
	mcall(exitsyscall0, false);
	return 0;
}

/*
 * Take p from its M: status is what the taker saw, {P_SYSCALL, mid, seq}
 * or {P_GCODE, mid, seq}. True: the P is the caller's now (P_IDLE, not on
 * the idle list), to run or to hand off. False: the M came back first, or
 * another taker won; nothing was done.
 */
bool __gmp_p_claim(struct p *p, uint64_t status)
{
	/* acq_rel: pairs with the store-release of gmp_syscall_enter/gcode_enter. */
	return atomic_compare_exchange_strong_explicit(&p->status, &status,
			P_STATUS(P_IDLE, 0, P_SEQ(status)), memory_order_acq_rel,
			memory_order_relaxed);
}

/* ---- start-up ---------------------------------------------------------- */

static int parse_size(const char *s, size_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -EINVAL;
	if (*end == 'k' || *end == 'K') {
		v <<= 10;
		end++;
	} else if (*end == 'm' || *end == 'M') {
		v <<= 20;
		end++;
	}
	if (*end)
		return -EINVAL;
	*out = v;
	return 0;
}

static bool debug_on(void)
{
	const char *s = getenv("GMP_DEBUG");

	return s && *s && strcmp(s, "0");
}

static int do_init(const struct gmp_config *cfg)
{
	int procs = 0, handoff = GMP_HANDOFF_DEFAULT, ret;
	int poller = GMP_POLLER_DEFAULT;
	unsigned int ring_entries = 0;
	bool transparent = false, debug = debug_on();
	char kwhy[160] = "", pwhy[200] = "", autowhy[400] = "";
	size_t stack = 0;
	const char *s;
	long pagesz = sysconf(_SC_PAGESIZE);

	if (cfg) {
		if (cfg->size != sizeof(*cfg) || (cfg->flags & ~GMP_CONFIG_TRANSPARENT))
			return -EINVAL;
		for (size_t i = 0; i < sizeof(cfg->reserved) / sizeof(cfg->reserved[0]); i++)
			if (cfg->reserved[i])
				return -EINVAL;
		if (cfg->maxprocs > 1024 || cfg->handoff < 0 ||
		    cfg->handoff > GMP_HANDOFF_PERF || cfg->poller < 0 ||
		    cfg->poller > GMP_POLLER_BLOCKING || cfg->ring_entries > 4096 ||
		    cfg->ring_entries == 1 ||
		    (cfg->ring_entries & (cfg->ring_entries - 1)))
			return -EINVAL;
		procs = cfg->maxprocs;
		stack = cfg->stack_size;
		handoff = cfg->handoff;
		transparent = cfg->flags & GMP_CONFIG_TRANSPARENT;
		poller = cfg->poller;
		ring_entries = cfg->ring_entries;
	}
	if (!transparent && (s = getenv("GMP_TRANSPARENT")) && *s) {
		if (strcmp(s, "0") && strcmp(s, "1")) {
			fprintf(stderr, "gmp: GMP_TRANSPARENT=%s: want 0 or 1\n", s);
			return -EINVAL;
		}
		transparent = !strcmp(s, "1");
	}
	if (!procs && (s = getenv("GMP_MAXPROCS")) && *s) {
		char *end;
		long v = strtol(s, &end, 10);

		if (*end || v < 1 || v > 1024) {
			fprintf(stderr, "gmp: GMP_MAXPROCS=%s: want 1..1024\n", s);
			return -EINVAL;
		}
		procs = v;
	}
	if (!procs) {
		cpu_set_t set;

		if (sched_getaffinity(0, sizeof(set), &set) == 0)
			procs = CPU_COUNT(&set);
		if (procs < 1)
			procs = 1;
	}
	if (!stack && (s = getenv("GMP_STACK_SIZE")) && *s) {
		if (parse_size(s, &stack) < 0) {
			fprintf(stderr, "gmp: GMP_STACK_SIZE=%s: want bytes, k or M\n", s);
			return -EINVAL;
		}
	}
	if (!stack)
		stack = 64 * 1024;
	if (stack < 16 * 1024)
		stack = 16 * 1024;
	if (stack > ((size_t)1 << 30))
		return -EINVAL;
	stack = (stack + pagesz - 1) & ~((size_t)pagesz - 1);

	if (handoff == GMP_HANDOFF_DEFAULT) {
		s = getenv("GMP_HANDOFF");
		if (!s || !*s || !strcmp(s, "auto"))
			handoff = GMP_HANDOFF_AUTO;
		else if (!strcmp(s, "sysmon"))
			handoff = GMP_HANDOFF_SYSMON;
		else if (!strcmp(s, "kmod"))
			handoff = GMP_HANDOFF_KMOD;
		else if (!strcmp(s, "perf"))
			handoff = GMP_HANDOFF_PERF;
		else {
			fprintf(stderr, "gmp: GMP_HANDOFF=%s: want sysmon, kmod, perf or auto\n", s);
			return -EINVAL;
		}
	}
	/* A bad variable is an error even if the mode picked would not use it. */
	if (handoff != GMP_HANDOFF_SYSMON && (ret = __gmp_pool_init(procs)) < 0)
		return ret;
	if ((handoff == GMP_HANDOFF_PERF || handoff == GMP_HANDOFF_AUTO) &&
	    (ret = __gmp_perf_config()) < 0)
		return ret;
	/* auto: kmod, else perf, else sysmon; each refusal's reason kept. */
	if (handoff == GMP_HANDOFF_KMOD || handoff == GMP_HANDOFF_AUTO) {
		ret = __gmp_kmod_init(handoff == GMP_HANDOFF_KMOD);
		if (ret == 0) {
			handoff = GMP_HANDOFF_KMOD;
		} else if (handoff == GMP_HANDOFF_KMOD) {
			return ret;
		} else {
			snprintf(kwhy, sizeof(kwhy), "%s: %s%s", GMP_DEVICE_PATH, strerror(-ret),
				 ret == -ENODEV ? " (gmp.ko not loaded)" : "");
			if (debug)
				fprintf(stderr, "gmp: auto: kmod refused: %s\n", kwhy);
		}
	}
	if (handoff == GMP_HANDOFF_PERF || handoff == GMP_HANDOFF_AUTO) {
		ret = __gmp_perf_init(handoff == GMP_HANDOFF_PERF, pwhy, sizeof(pwhy));
		if (ret < 0 && handoff == GMP_HANDOFF_PERF)
			return ret;
		if (ret == 0) {
			handoff = GMP_HANDOFF_PERF;
		} else {
			handoff = GMP_HANDOFF_SYSMON;
			if (debug)
				fprintf(stderr, "gmp: auto: perf refused: %s\n", pwhy);
		}
	}
	if (*kwhy)
		snprintf(autowhy, sizeof(autowhy), "auto: %s%s%s", kwhy, *pwhy ? "; " : "",
			 pwhy);
	/* Transparent mode needs to see blocks; sysmon cannot tell one. */
	if (!__gmp_uses_activations(handoff) && transparent) {
		transparent = false;
		if (debug)
			fprintf(stderr, "gmp: GMP_TRANSPARENT ignored: it needs /dev/gmp or perf\n");
	}

	sched.allp = aligned_alloc(64, sizeof(struct p) * procs);
	if (!sched.allp)
		return -ENOMEM;
	memset(sched.allp, 0, sizeof(struct p) * procs);
	sched.gomaxprocs = procs;
	sched.stack_size = stack;
	sched.handoff = handoff;
	sched.transparent = transparent;
	__gmp_pin_setup(handoff);
	/* kmod, perf: sysmon is only the preemption tick (handoff_sysmon.c). */
	store_relaxed(&sched.sysmon_retake, handoff == GMP_HANDOFF_SYSMON);
	ncoprimes = 0;
	for (int i = 1; i <= procs && ncoprimes < 256; i++) {
		int a = i, b = procs;

		while (b) {
			int t = a % b;

			a = b;
			b = t;
		}
		if (a == 1)
			coprimes[ncoprimes++] = i;
	}
	for (int i = procs - 1; i >= 0; i--) {
		struct p *p = &sched.allp[i];

		p->id = i;
		store_relaxed(&p->status, P_STATUS(P_IDLE, 0, 0));
		__gmp_lock(&sched.lock);
		pidleput(p);
		__gmp_unlock(&sched.lock);
	}
	/* Before any M runs: the probe ring becomes P0's. */
	ret = __gmp_poll_init(poller, ring_entries, procs);
	if (ret < 0)
		return ret;
	ret = __gmp_stack_install_handler();
	if (ret < 0)
		return ret;
	ret = __gmp_sysmon_start();
	if (ret < 0)
		return ret;
	if (__gmp_uses_activations(handoff))
		__gmp_pool_fill();
	if (debug) {
		if (handoff == GMP_HANDOFF_KMOD)
			__gmp_kmod_debug_line(NULL);
		else if (handoff == GMP_HANDOFF_PERF)
			__gmp_perf_debug_line(*autowhy ? autowhy : NULL);
		else if (*autowhy)
			fprintf(stderr, "gmp: handoff sysmon (%s)\n", autowhy);
		else
			fprintf(stderr, "gmp: handoff sysmon (asked for)\n");
		__gmp_poll_debug_line();
	}
	store_release(&sched.started, 1);
	return 0;
}

int __gmp_start(void)
{
	int ret = 0;

	if (likely(load_acquire(&sched.started)))
		return 0;
	pthread_mutex_lock(&init_mutex);
	if (!load_relaxed(&sched.started))
		ret = do_init(NULL);
	pthread_mutex_unlock(&init_mutex);
	return ret;
}

int gmp_init(const struct gmp_config *cfg)
{
	int ret;

	pthread_mutex_lock(&init_mutex);
	if (load_relaxed(&sched.started))
		ret = -EBUSY;
	else
		ret = do_init(cfg);
	pthread_mutex_unlock(&init_mutex);
	return ret;
}

/* ---- public calls -------------------------------------------------------- */

struct run_arg {
	void (*fn)(void *);
	void *arg;
	_Atomic uint32_t done;
};

static void main_entry(void *arg)
{
	struct run_arg *ra = arg;

	ra->fn(ra->arg);
	/* release: the goroutine's work is visible to gmp_run's caller. */
	store_release(&ra->done, 1);
	__gmp_futex_wake(&ra->done, 1);
}

int gmp_run(void (*main_fn)(void *), void *arg)
{
	struct run_arg ra = { .fn = main_fn, .arg = arg };
	int64_t id;
	int ret;

	if (!main_fn)
		return -EINVAL;
	if (__gmp_getm())
		return -EDEADLK;
	ret = __gmp_start();
	if (ret < 0)
		return ret;
	if (!newproc(main_entry, &ra, &id))
		return -ENOMEM;
	while (!load_acquire(&ra.done))
		__gmp_futex_wait(&ra.done, 0, -1);
	return 0;
}

int64_t gmp_go(void (*fn)(void *), void *arg)
{
	int64_t id;
	int ret;

	if (!fn)
		return -EINVAL;
	ret = __gmp_start();
	if (ret < 0)
		return ret;
	__gmp_preempt_check();
	/*
	 * Our P's run queue is full and our put would kick runnext into it,
	 * spilling half of it to the global queue: let it run first. Twice
	 * at most: the global queue's turn may bring us back at once, and
	 * the poller or other goroutines may keep the queue full (then the
	 * spill it is).
	 */
	for (int i = 0; i < 2; i++) {
		struct m *m = __gmp_getm();

		if (!m || !m->p || !m->curg || __gmp_runqroom(m->p) ||
		    !load_relaxed(&m->p->runnext))
			break;
		gmp_yield();
	}
	if (!newproc(fn, arg, &id))
		return -ENOMEM;
	return id;
}

bool __gmp_spawn(void (*fn)(void *), void *arg)
{
	int64_t id;

	return newproc(fn, arg, &id) != NULL;
}

int64_t gmp_self(void)
{
	struct g *gp = __gmp_getg();

	return gp ? gp->id : 0;
}

int gmp_set_name(const char *name)
{
	struct g *gp = __gmp_getg();

	if (!gp)
		return -EPERM;
	if (!name)
		return -EINVAL;
	strncpy(gp->name, name, sizeof(gp->name) - 1);
	gp->name[sizeof(gp->name) - 1] = '\0';
	return 0;
}

int gmp_handoff_mode(void)
{
	return load_acquire(&sched.started) ? sched.handoff : 0;
}

int gmp_handoff_stats(struct gmp_handoff_stats *st)
{
	if (!st || st->size != sizeof(*st))
		return -EINVAL;
	if (!load_acquire(&sched.started))
		return -EAGAIN;
	memset(st, 0, sizeof(*st));
	st->size = sizeof(*st);
	st->mode = sched.handoff;
	st->transparent = sched.transparent;
	st->sysmon_takes = load_relaxed(&__gmp_hstats.sysmon_takes);
	st->upcall_takes = load_relaxed(&__gmp_hstats.upcall_takes);
	st->demand_takes = load_relaxed(&__gmp_hstats.demand_takes);
	st->upcalls = load_relaxed(&__gmp_hstats.upcalls);
	st->stale = load_relaxed(&__gmp_hstats.stale);
	st->overflows = load_relaxed(&__gmp_hstats.overflows);
	st->lost = load_relaxed(&__gmp_hstats.lost);
	st->perf_takes = load_relaxed(&__gmp_hstats.perf_takes);
	st->perf_blocks = load_relaxed(&__gmp_hstats.perf_blocks);
	st->perf_lost = load_relaxed(&__gmp_hstats.perf_lost);
	st->pins = load_relaxed(&__gmp_hstats.pins);
	if (__gmp_uses_activations(sched.handoff))
		st->activations = __gmp_pool_parked();
	if (sched.handoff == GMP_HANDOFF_KMOD)
		__gmp_kmod_stats(st);
	return 0;
}

int gmp_maxprocs(void)
{
	return load_acquire(&sched.started) ? sched.gomaxprocs : 0;
}

int gmp_p_index(void)
{
	struct m *m = __gmp_getm();

	if (!m || !m->curg || !m->p)
		return -EPERM;
	return m->p->id;
}

/* ---- per-goroutine storage -------------------------------------------- */

int gmp_key_create(gmp_key_t *key, void (*dtor)(void *))
{
	unsigned int k;

	if (!key)
		return -EINVAL;
	pthread_mutex_lock(&init_mutex);
	k = load_relaxed(&sched.nkeys);
	if (k >= GMP_KEYS_MAX) {
		pthread_mutex_unlock(&init_mutex);
		return -EAGAIN;
	}
	store_relaxed(&sched.key_dtor[k], dtor);
	/* release: the destructor is in place before the key is usable. */
	store_release(&sched.nkeys, k + 1);
	pthread_mutex_unlock(&init_mutex);
	*key = k;
	return 0;
}

void *gmp_getspecific(gmp_key_t key)
{
	struct g *gp = __gmp_getg();

	if (!gp || key >= GMP_KEYS_MAX)
		return NULL;
	return gp->keys[key];
}

int gmp_setspecific(gmp_key_t key, void *val)
{
	struct g *gp = __gmp_getg();

	if (!gp)
		return -EPERM;
	if (key >= load_acquire(&sched.nkeys))
		return -EINVAL;
	gp->keys[key] = val;
	return 0;
}
