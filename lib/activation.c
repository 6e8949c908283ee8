// SPDX-License-Identifier: (LGPL-2.1-or-later OR MIT)
/*
 * activation.c - what the two upcall handoffs share: kmod (handoff_kmod.c,
 * gmp.ko tells us) and perf (handoff_perf.c, the kernel's context-switch
 * records tell us). Each learns that an armed M fell asleep in its own
 * way; from there on the path is the same:
 *
 *   __gmp_activation()        a spare M parked in the mode's wait
 *    -> mode's serve()        that M is still asleep in that block?
 *    -> __gmp_act_takeable()  its P still {P_SYSCALL or P_GCODE, M, seq}?
 *    -> __gmp_act_take()      work for it? then __gmp_p_claim(): one CAS
 *   acquirep(), schedule()    sched.c: the activation is the P's M now
 *
 * Activations. A few Ms (GMP_ACTIVATIONS, default GMP_MAXPROCS + 1 up to
 * 4) park in the mode's wait, disarmed, and each woken one serves one
 * block and runs that P itself, or goes back to the wait (or parks idle,
 * if the pool filled up meanwhile). The pool refills itself: Ms that lose
 * their P in a syscall, and Ms going idle, park there while it is short
 * (stopm); the activation that takes a P and leaves the pool empty starts
 * another one first (a parked M, else a new thread). Events that come
 * while no activation is parked wait (in the module's ring, or in the
 * Ms' perf rings) for the next one to park.
 *
 * Pinned activations (kmod mode; GMP_PIN_ACTIVATIONS, on by default with
 * two CPUs or more and at least as many activations). An activation pins
 * itself for its wait to a CPU where no other activation waits, its own if
 * it can (more activations than CPUs: the rest wait unpinned). gmp.ko
 * wakes the waiter that parked on the CPU the M blocks on; pinned there,
 * the kernel queues it on that CPU, and it runs the moment the M has
 * switched out. Unpinned, it would be sent to an idle CPU instead (an IPI,
 * and on the way out of idle). One woken for a block on another CPU than
 * its own (none waited there) moves there first (move_to_wake_cpu). Woken,
 * it leaves the CPU to the next activation to wait there at once, but
 * keeps its affinity while it runs the goroutine it took a P for, and
 * after: it gets every CPU back before it runs a goroutine again (another,
 * or that one back from a park or a yield) or parks for anything but an
 * activation's wait, not before. The sched_setaffinity call costs about as
 * much as the handoff: an M whose goroutine left it with nothing else to
 * run waits again as an activation, on the same CPU unless another
 * activation took it, with no syscall either way. Threads that goroutine
 * starts meanwhile inherit the one CPU (libgmp's own Ms are always created
 * with the process's CPUs).
 *
 * No work, no take. A P whose queue is empty is left to its sleeping M
 * (which then keeps it, without any lock, when it returns), unless nobody
 * could run new work (no idle P, no spinning M) and a timer, the global
 * queue or Gs waiting in another P's queue (to be stolen) need a P. Such
 * a P is remembered in p->kblocked; when a G is readied later while no P
 * is idle, wakep() takes it at once (__gmp_act_demand): "on demand",
 * after asking the mode whether its M still sleeps.
 */
#include "internal.h"

#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define sched __gmp_sched

struct hstats __gmp_hstats;
_Atomic int __gmp_act_nblocked;
_Atomic(struct m *) __gmp_mtab[GMP_MAX_M + 1];

static int pool_target;
/* Activations parked in the mode's wait, or on their way there. */
static _Atomic int pool;
/* Test hook (__gmp_kmod_test_hold): no M may join the pool meanwhile. */
static _Atomic int pool_hold;

/*
 * Pinned activations (kmod mode): the CPUs of the thread that started the
 * runtime, and per CPU the activations waiting pinned to it (0 or 1).
 */
static bool pin_want, pin_on;
static cpu_set_t pin_all;
static _Atomic int pin_count[CPU_SETSIZE];
static _Atomic unsigned long pin_syscalls;	/* sched_setaffinity calls made */

static int pin_init(void)
{
	const char *s = getenv("GMP_PIN_ACTIVATIONS");

	if (s && *s && strcmp(s, "0") && strcmp(s, "1")) {
		fprintf(stderr, "gmp: GMP_PIN_ACTIVATIONS=%s: want 0 or 1\n", s);
		return -EINVAL;
	}
	pin_want = !(s && *s == '0');
	pin_on = false;
	return 0;
}

void __gmp_pin_setup(int handoff)
{
	/*
	 * kmod only: gmp.ko wakes the waiter parked on the CPU the M blocks
	 * on. perf's activations share one epoll, which wakes any of them,
	 * and pinned, the one woken could not go to an idle CPU. Nor could
	 * gmp.ko's fallback, a waiter parked elsewhere, for a block on a CPU
	 * with none: so only with an activation for every CPU.
	 */
	pin_on = pin_want && handoff == GMP_HANDOFF_KMOD &&
		 sched_getaffinity(0, sizeof(pin_all), &pin_all) == 0 &&
		 CPU_COUNT(&pin_all) >= 2 && pool_target >= CPU_COUNT(&pin_all);
}

bool __gmp_pin_mask(cpu_set_t *set)
{
	if (pin_on && set)
		*set = pin_all;
	return pin_on;
}

/* Claim CPU c for our wait: true if no other activation waits there. */
static bool pin_claim_cpu(int c)
{
	int zero = 0;

	return c >= 0 && c < CPU_SETSIZE && CPU_ISSET(c, &pin_all) &&
	       atomic_compare_exchange_strong(&pin_count[c], &zero, 1);
}

/* Claim a CPU where no activation waits, c first; -1 if none is left. */
static int pin_claim(int c)
{
	if (pin_claim_cpu(c))
		return c;
	for (int i = 0; i < CPU_SETSIZE; i++)
		if (i != c && pin_claim_cpu(i))
			return i;
	return -1;
}

/* sched_setaffinity for the calling M, counted (a test hook reads it). */
static int set_affinity(const cpu_set_t *set)
{
	atomic_fetch_add_explicit(&pin_syscalls, 1, memory_order_relaxed);
	return sched_setaffinity(0, sizeof(*set), set);
}

/* The calling M on CPU cpu alone: 0, or -1 if the kernel refuses. */
static int pin_to(struct m *m, int cpu)
{
	cpu_set_t one;

	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	if (set_affinity(&one) < 0)
		return -1;
	m->pinned = cpu + 1;
	return 0;
}

/*
 * Wait pinned to a CPU where no other activation waits: the one we are
 * still pinned to from our last wait if we can (no syscall), else ours,
 * else any. None left (more activations than CPUs): wait unpinned, so
 * that the kernel may place us on whatever CPU is idle when the module
 * falls back to us. Returns the CPU claimed, or -1.
 */
static int pin(struct m *m)
{
	int cpu;

	if (!pin_on)
		return -1;
	cpu = pin_claim(m->pinned ? m->pinned - 1 : sched_getcpu());
	if (cpu < 0) {
		__gmp_act_unpin(m);
		return -1;
	}
	/* Refused (the CPU went offline, a cpuset shrank): unpinned. */
	if (m->pinned != cpu + 1 && pin_to(m, cpu) < 0) {
		atomic_fetch_sub(&pin_count[cpu], 1);
		__gmp_act_unpin(m);
		return -1;
	}
	m->pin_fresh = false;
	hstat_inc(pins);
	return cpu;
}

/*
 * Every CPU again. Not in the activation's way to the goroutine it was
 * woken for: the syscall costs about as much as the handoff itself. See
 * __gmp_act_unpin.
 */
void __gmp_act_unpin_slow(struct m *m)
{
	cpu_set_t any;

	m->pinned = 0;
	m->pin_fresh = false;
	if (set_affinity(&pin_all) == 0)
		return;
	/*
	 * None of those CPUs is ours any more (a cpuset changed): ask for
	 * every CPU, which the kernel cuts down to the ones we may use.
	 */
	memset(&any, 0xff, sizeof(any));
	if (set_affinity(&any) < 0)
		__gmp_fatal("M%d: sched_setaffinity back to every CPU: %s", m->id,
			    strerror(errno));
}

int __gmp_pool_init(int procs)
{
	const char *s = getenv("GMP_ACTIVATIONS");
	int ret = pin_init();

	if (ret < 0)
		return ret;

	pool_target = procs + 1 < 4 ? procs + 1 : 4;
	if (s && *s) {
		char *end;
		long v = strtol(s, &end, 10);

		if (*end || v < 1 || v > 64) {
			fprintf(stderr, "gmp: GMP_ACTIVATIONS=%s: want 1..64\n", s);
			return -EINVAL;
		}
		pool_target = v;
	}
	return 0;
}

int __gmp_pool_target(void)
{
	return pool_target;
}

/* Reserve a place in the pool if it holds fewer than limit activations. */
static bool pool_reserve(int limit)
{
	int v = load_relaxed(&pool);

	if (load_relaxed(&pool_hold))
		return false;
	while (v < limit)
		if (atomic_compare_exchange_weak(&pool, &v, v + 1))
			return true;
	return false;
}

void __gmp_pool_fill(void)
{
	while (pool_reserve(pool_target))
		__gmp_startm_activation();
}

bool __gmp_pool_join(void)
{
	return pool_reserve(pool_target);
}

void __gmp_pool_woken(void)
{
	atomic_fetch_sub(&pool, 1);
}

bool __gmp_pool_rejoin(void)
{
	/*
	 * Not past the target: while we were awake another M may have
	 * joined, and an activation woken for nothing (perf wakes one for
	 * every switch record) would otherwise push the pool over it.
	 */
	return pool_reserve(pool_target);
}

void __gmp_pool_took(void)
{
	/* Never leave the pool empty: the next block needs one. */
	if (pool_reserve(1))
		__gmp_startm_activation();
}

int __gmp_pool_parked(void)
{
	return load_relaxed(&pool);
}

/* ---- taking a P from a sleeping M ------------------------------------ */

/*
 * Remember a P left to its sleeping M, for takers on demand. Unless the
 * hint is already of a later block: an activation that judged an older
 * one can get here after the M came back, blocked again and another
 * activation left the P for that; its hint must stay, or the taker on
 * demand, seeing the status moved on from ours, would never take the P.
 */
static void leave_blocked(struct p *p, uint64_t st)
{
	uint64_t old = atomic_load(&p->kblocked);

	do {
		/* The P's sequence word, wrapping: older is negative apart. */
		if (old && (int32_t)(P_SEQ(st) - P_SEQ(old)) < 0)
			return;
		/* seq_cst: Dekker with wakep(), which publishes work, then looks. */
	} while (!atomic_compare_exchange_weak(&p->kblocked, &old, st));
	if (!old)
		atomic_fetch_add(&__gmp_act_nblocked, 1);
}

/* Test hook: leave_blocked() on P i; P i's hint after it. */
HIDDEN uint64_t __gmp_test_leave_blocked(int i, uint64_t st);
uint64_t __gmp_test_leave_blocked(int i, uint64_t st)
{
	leave_blocked(&sched.allp[i], st);
	return atomic_load(&sched.allp[i].kblocked);
}

/* Test hook: __gmp_act_forget() on P i; how many Ps have a hint after it. */
HIDDEN int __gmp_test_forget_blocked(int i, uint64_t st);
int __gmp_test_forget_blocked(int i, uint64_t st)
{
	__gmp_act_forget(&sched.allp[i], st);
	return atomic_load(&__gmp_act_nblocked);
}

/* Does another P's queue hold a G that an M with p could steal? */
static bool stealable(struct p *p)
{
	for (int i = 0; i < sched.gomaxprocs; i++)
		if (&sched.allp[i] != p && !__gmp_runqempty(&sched.allp[i]))
			return true;
	return false;
}

/*
 * Would another M have something to do on p? Its own queue or ring's
 * completions; or, when no P is idle and no M spins (nobody else would
 * notice), the global queue, a timer, or Gs waiting in another P's queue
 * (Go's handoffp() starts a spinning M then, which steals them).
 */
static bool p_wanted(struct p *p)
{
	/* Its queue, or completions on its ring (the poller's Gs). */
	if (!__gmp_runqempty(p) || __gmp_poll_ready(p))
		return true;
	if (atomic_load(&sched.npidle) + atomic_load(&sched.nmspinning) > 0)
		return false;
	return atomic_load(&sched.runqsize) > 0 ||
	       load_relaxed(&__gmp_timers_next) != INT64_MAX || stealable(p);
}

struct p *__gmp_act_take(struct p *p, uint64_t st)
{
	if (!p_wanted(p)) {
		leave_blocked(p, st);
		/* Work published meanwhile saw no kblocked: look again. */
		if (!p_wanted(p))
			return NULL;
	}
	if (!__gmp_p_claim(p, st)) {
		hstat_inc(stale);	/* the M came back first */
		return NULL;
	}
	__gmp_act_forget(p, st);
	return p;
}

uint64_t __gmp_act_takeable(struct m *bm, struct p **pp)
{
	struct p *p = load_acquire(&bm->kp);
	uint64_t st;

	if (!p)
		return 0;
	/* acquire: pairs with the store-release of the M's status word. */
	st = load_acquire(&p->status);
	if ((P_STATE(st) != P_SYSCALL && P_STATE(st) != P_GCODE) ||
	    P_MID(st) != (uint32_t)bm->id)
		return 0;
	*pp = p;
	return st;
}

/* Is bm, whose P's word was st, still asleep in that very syscall? */
static bool asleep(struct m *bm, uint64_t st)
{
	if (sched.handoff == GMP_HANDOFF_PERF)
		return __gmp_perf_asleep(bm, st);
	return __gmp_kmod_asleep(bm, st);
}

/*
 * A G was readied and no P is idle: take a P whose M an activation left
 * asleep in a syscall, and start an M on it (handoffp). One P per call.
 */
void __gmp_act_demand(void)
{
	for (int i = 0; i < sched.gomaxprocs; i++) {
		struct p *p = &sched.allp[i];
		uint64_t st = load_relaxed(&p->kblocked);
		struct m *bm;

		if (!st || !atomic_compare_exchange_strong(&p->kblocked, &st, 0))
			continue;
		atomic_fetch_sub(&__gmp_act_nblocked, 1);
		bm = load_acquire(&__gmp_mtab[P_MID(st)]);
		/* Awake again, on its way back to this P (or back): leave it. */
		if (!bm || load_acquire(&p->status) != st || !asleep(bm, st))
			continue;
		if (__gmp_p_claim(p, st)) {
			hstat_inc(demand_takes);
			__gmp_handoffp(p);
			return;
		}
	}
}

/* ---- the mode's side ---------------------------------------------------- */

/*
 * Woken, pinned, for a block on another CPU: no activation waited on the
 * M's CPU (ours had just taken a P there, say, and its goroutine blocked
 * at once). Here we preempted whatever ran, while the CPU the M left
 * idles; the goroutine would run pinned here for as long as it computes.
 * Go where the M was instead (the kernel moves us at once), pinned there
 * for that goroutine as usual; unpinned if the kernel refuses.
 */
static void move_to_wake_cpu(struct m *m)
{
	if (m->wake_cpu >= CPU_SETSIZE || !CPU_ISSET(m->wake_cpu, &pin_all))
		return;
	if (pin_to(m, m->wake_cpu) < 0)
		__gmp_act_unpin(m);
}

struct p *__gmp_activation(struct m *m)
{
	struct p *p;
	int cpu;

	if (m->p || m->karmed)
		__gmp_fatal("activation: M%d holds a P or is armed", m->id);
	m->wake_cpu = -1;
	cpu = pin(m);
	if (sched.handoff == GMP_HANDOFF_PERF)
		p = __gmp_perf_activation(m);
	else
		p = __gmp_kmod_activation(m);
	/* Our wait is over: the next activation may wait on this CPU. */
	if (cpu >= 0)
		atomic_fetch_sub(&pin_count[cpu], 1);
	/*
	 * Woken for nothing: our caller (stopm) unpins us before it parks us
	 * idle, and if we rejoin the pool at once, pin() finds us pinned
	 * still, without a syscall each way.
	 */
	if (p) {
		m->pin_fresh = true;	/* run its first goroutine pinned */
		if (cpu >= 0 && m->wake_cpu >= 0 && m->wake_cpu != cpu)
			move_to_wake_cpu(m);
	}
	return p;
}

void __gmp_act_register(struct m *m)
{
	if (m->id > GMP_MAX_M)
		__gmp_fatal("M%d: id beyond %d", m->id, GMP_MAX_M);
	if (sched.handoff == GMP_HANDOFF_PERF)
		__gmp_perf_register(m);
	else
		__gmp_kmod_register(m);
	/* release: the M's fields are set before an activation finds it. */
	if (m->armw)
		store_release(&__gmp_mtab[m->id], m);
}

void __gmp_act_unregister(struct m *m)
{
	if (m->karmed)
		__gmp_fatal("M%d exits armed", m->id);
	store_release(&__gmp_mtab[m->id], NULL);
	m->armw = NULL;
	if (sched.handoff == GMP_HANDOFF_PERF)
		__gmp_perf_unregister(m);
	else
		__gmp_kmod_unregister(m);
}

/* ---- test hooks (hidden; selftests/lib link libgmp.a) ------------------ */

/*
 * on: from now on no M joins the activation pool (before gmp_init: none
 * is started), so blocks wait to be read. off: fill the pool again.
 * (kmod and perf mode; named for the mode that had it first.)
 */
HIDDEN void __gmp_kmod_test_hold(bool on);
void __gmp_kmod_test_hold(bool on)
{
	store_relaxed(&pool_hold, on);
	if (!on && load_acquire(&sched.started) && __gmp_uses_activations(sched.handoff))
		__gmp_pool_fill();
}

/* Test hook (hidden): the sched_setaffinity calls pinning has made so far. */
HIDDEN unsigned long __gmp_test_pin_syscalls(void);
unsigned long __gmp_test_pin_syscalls(void)
{
	return atomic_load_explicit(&pin_syscalls, memory_order_relaxed);
}
