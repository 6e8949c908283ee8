// SPDX-License-Identifier: (LGPL-2.1-or-later OR MIT)
/*
 * handoff_kmod.c - the handoff through gmp.ko: the kernel tells us the
 * moment an M blocks, and a spare M takes its P. No polling thread.
 *
 * The path of a block, by function name:
 *
 *   gmp_syscall_enter()      sched.c   P -> {P_SYSCALL, m, seq}; arm the
 *                                      M's slot (one store, no syscall)
 *   ... the M sleeps in the kernel; gmp.ko's sched_out sees it armed,
 *   records GMP_EV_BLOCKED {m_id, seq} and wakes one parked activation,
 *   preferably on the CPU the M just left ...
 *   __gmp_kmod_activation()  here      returns from GMP_IOC_WAIT
 *    -> serve() -> take()               still asleep in block seq? P still
 *                                      {P_SYSCALL, m, seq}? work for it?
 *    -> __gmp_p_claim()      sched.c   one CAS to P_IDLE: the P is ours
 *   acquirep(), schedule()   sched.c   the activation is the P's M now
 *   gmp_syscall_exit()       sched.c   disarm; the CAS back fails: an idle
 *                                      P, or queue the G globally and park
 *                                      (stopm: as an activation while the
 *                                      pool is short)
 *
 * Activations. A few Ms (GMP_ACTIVATIONS, default GMP_MAXPROCS + 1 up to
 * 4) park in GMP_IOC_WAIT, disarmed, one event each (max_events 1): the
 * module wakes one waiter per record, so each woken activation serves one
 * block and runs that P itself. The pool refills itself: Ms that lose
 * their P in a syscall, and Ms going idle, park there while it is short
 * (stopm); the activation that takes a P and leaves the pool empty starts
 * another one first (a parked M, else a new thread). An event that comes
 * while no activation is parked waits in the ring for the next one to
 * park; if the ring overflowed, GMP_EV_OVERFLOW comes first and we rescan
 * every P in a syscall instead (rescan()).
 *
 * Staleness. An event is acted upon only if the M is still asleep in that
 * very block (its slot says GMP_SLOT_BLOCKED with the event's seq) and
 * its P's status word still names it in a syscall; the CAS settles the
 * race with the M coming back. GMP_SETUP_NO_UNBLOCKED: the returning M
 * learns from the CAS, so UNBLOCKED records would only wake us for nothing.
 *
 * No work, no take. A P whose queue is empty is left to its sleeping M
 * (which then keeps it, without any lock, when it returns), unless nobody
 * could run new work (no idle P, no spinning M) and a timer or the global
 * queue needs a P. Such a P is remembered in p->kblocked; when a G is
 * readied later while no P is idle, wakep() takes it at once
 * (__gmp_kmod_demand): "on demand".
 *
 * Transparent mode (GMP_TRANSPARENT, sched.c's gcode_*): G code runs with
 * the slot armed and the P {P_GCODE, m, seq}, which take() treats like a
 * syscall. The kernel futex waits of the runtime itself are never armed
 * (lock.c disarms around them), nor is an activation's own wait.
 *
 * The thread besides the Ms: the 10 ms preemption tick (handoff_sysmon.c
 * with sched.sysmon_retake false), which never takes a P from a syscall.
 */
#include "internal.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define sched __gmp_sched

struct hstats __gmp_hstats;
_Atomic int __gmp_kmod_nblocked;

static struct gmp_dev *dev;
static int pool_target;
/* Activations parked in GMP_IOC_WAIT, or on their way there. */
static _Atomic int pool;
/* Test hook (__gmp_kmod_test_hold): no M may join the pool meanwhile. */
static _Atomic int pool_hold;
static unsigned int test_ring_entries;
static _Atomic bool degraded;
/* M id -> M, for the events (an M's id is its m_id); published at register. */
static _Atomic(struct m *) mtab[GMP_MAX_M + 1];

int __gmp_kmod_init(bool required, int procs)
{
	struct gmp_dev_config cfg = {
		.size = sizeof(cfg),
		.setup_flags = GMP_SETUP_NO_UNBLOCKED,
		.ring_entries = test_ring_entries,
		.max_ms = GMP_MAX_MS_MAX,
		.features = GMP_FEAT_BLOCKED | GMP_FEAT_WAIT | GMP_FEAT_MMAP,
	};
	const char *s = getenv("GMP_ACTIVATIONS");
	int ret;

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
	ret = gmp_dev_open(&dev, &cfg);
	if (ret < 0 && required)
		fprintf(stderr, "gmp: GMP_HANDOFF=kmod: %s: %s%s\n", GMP_DEVICE_PATH,
			strerror(-ret), ret == -ENODEV ? " (is gmp.ko loaded?)" : "");
	return ret;
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

static void pool_fill(void)
{
	while (pool_reserve(pool_target))
		__gmp_startm_activation();
}

void __gmp_kmod_start(void)
{
	pool_fill();
}

bool __gmp_kmod_join_pool(void)
{
	return pool_reserve(pool_target);
}

void __gmp_kmod_debug_line(void)
{
	const struct gmp_info *info = gmp_dev_info(dev);

	fprintf(stderr, "gmp: handoff kmod (%s ABI %u, features %#llx, %u slots; "
		"%d activations; transparent %s; 10 ms preemption tick)\n",
		GMP_DEVICE_PATH, info->abi_version, (unsigned long long)info->features,
		info->max_ms, pool_target, sched.transparent ? "on" : "off");
}

void __gmp_kmod_register(struct m *m)
{
	struct gmp_slot *slot;
	int ret;

	if (m->id > GMP_MAX_M)
		__gmp_fatal("M%d: id beyond %d", m->id, GMP_MAX_M);
	ret = gmp_dev_register(dev, (uint32_t)m->id, 0, &slot);
	if (ret < 0) {
		/*
		 * The module cannot watch this M (all slots taken): sysmon's
		 * polling takes over the syscalls of such Ms.
		 */
		if (!atomic_exchange(&degraded, true)) {
			const char *s = getenv("GMP_DEBUG");

			if (s && *s && strcmp(s, "0"))
				fprintf(stderr, "gmp: M%d cannot register with %s (%s): "
					"sysmon polls for it\n", m->id, GMP_DEVICE_PATH,
					strerror(-ret));
			store_relaxed(&sched.sysmon_retake, true);
			__gmp_sysmon_wake();
		}
		return;
	}
	m->kslot = slot;
	m->transparent = sched.transparent;
	/* release: the M's fields are set before an activation finds it. */
	store_release(&mtab[m->id], m);
}

/* ---- taking a P from a sleeping M ------------------------------------ */

/* Remember a P left to its sleeping M, for takers on demand. */
static void leave_blocked(struct p *p, uint64_t st)
{
	/* seq_cst: Dekker with wakep(), which publishes work, then looks. */
	if (!atomic_exchange(&p->kblocked, st))
		atomic_fetch_add(&__gmp_kmod_nblocked, 1);
}

/*
 * Would another M have something to do on p? Its own queue or ring's
 * completions; or, when no P is idle and no M spins (nobody else would
 * notice), the global queue or a timer, as Go's handoffp() reasons.
 */
static bool p_wanted(struct p *p)
{
	/* Its queue, or completions on its ring (the poller's Gs). */
	if (!__gmp_runqempty(p) || __gmp_poll_ready(p))
		return true;
	if (atomic_load(&sched.npidle) + atomic_load(&sched.nmspinning) > 0)
		return false;
	return atomic_load(&sched.runqsize) > 0 ||
	       load_relaxed(&__gmp_timers_next) != INT64_MAX;
}

/*
 * p's status is st, {P_SYSCALL or P_GCODE, bm, seq}, and bm sleeps: claim
 * p if it is wanted, else leave it for later. The P, or NULL.
 */
static struct p *take(struct p *p, uint64_t st)
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
	__gmp_kmod_forget(p, st);
	return p;
}

/* The status word of the P bm may lose, if bm holds one in that state. */
static uint64_t takeable(struct m *bm, struct p **pp)
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

/* The ring overflowed: events were lost. Look at every P instead. */
static struct p *rescan(void)
{
	struct p *mine = NULL;

	for (int i = 0; i < sched.gomaxprocs; i++) {
		struct p *p = &sched.allp[i], *q;
		uint64_t st = load_acquire(&p->status);
		struct m *bm;

		if (P_STATE(st) != P_SYSCALL && P_STATE(st) != P_GCODE)
			continue;
		bm = load_acquire(&mtab[P_MID(st)]);
		if (!bm || !bm->kslot || gmp_dev_slot_state(bm->kslot) != GMP_SLOT_BLOCKED)
			continue;
		q = take(p, st);
		if (!q)
			continue;
		hstat_inc(upcall_takes);
		if (!mine)
			mine = q;
		else
			__gmp_handoffp(q);
	}
	return mine;
}

/* One record from GMP_IOC_WAIT: a P for the activation to run, or NULL. */
static struct p *serve(const struct gmp_event *ev)
{
	struct p *p = NULL;
	uint64_t st;
	struct m *bm;

	if (ev->type == GMP_EV_OVERFLOW) {
		hstat_inc(overflows);
		return rescan();
	}
	if (ev->type != GMP_EV_BLOCKED || ev->m_id > GMP_MAX_M)
		return NULL;
	bm = load_acquire(&mtab[ev->m_id]);
	/* Awake since (the slot moved on), or no longer in that syscall. */
	st = bm && gmp_dev_still_blocked(bm->kslot, ev->seq) ? takeable(bm, &p) : 0;
	if (!st) {
		hstat_inc(stale);
		return NULL;
	}
	p = take(p, st);
	if (p)
		hstat_inc(upcall_takes);
	return p;
}

/*
 * Park this M (no P, disarmed, its place in the pool reserved) until an
 * upcall gives it a P; return that P, which the caller acquires and runs.
 */
struct p *__gmp_kmod_activation(struct m *m)
{
	struct gmp_event ev;

	if (m->p || m->karmed)
		__gmp_fatal("activation: M%d holds a P or is armed", m->id);
	for (;;) {
		int n = gmp_dev_wait(dev, &ev, 1, -1);
		struct p *p;

		atomic_fetch_sub(&pool, 1);
		if (n == 1) {
			p = serve(&ev);
			/* After serve(): a reader of the counter sees the decision. */
			hstat_inc(upcalls);
			if (p) {
				/* Never leave the pool empty: the next block needs one. */
				if (pool_reserve(1))
					__gmp_startm_activation();
				return p;
			}
		} else if (n != -EINTR) {
			__gmp_fatal("%s: GMP_IOC_WAIT: %s", GMP_DEVICE_PATH, strerror(-n));
		}
		atomic_fetch_add(&pool, 1);
	}
}

/*
 * A G was readied and no P is idle: take a P whose M an activation left
 * asleep in a syscall, and start an M on it (handoffp). One P per call.
 */
void __gmp_kmod_demand(void)
{
	for (int i = 0; i < sched.gomaxprocs; i++) {
		struct p *p = &sched.allp[i];
		uint64_t st = load_relaxed(&p->kblocked);
		struct m *bm;

		if (!st || !atomic_compare_exchange_strong(&p->kblocked, &st, 0))
			continue;
		atomic_fetch_sub(&__gmp_kmod_nblocked, 1);
		bm = load_acquire(&mtab[P_MID(st)]);
		/* Awake again, on its way back to this P (or back): leave it. */
		if (!bm || gmp_dev_slot_state(bm->kslot) != GMP_SLOT_BLOCKED ||
		    load_acquire(&p->status) != st)
			continue;
		if (__gmp_p_claim(p, st)) {
			hstat_inc(demand_takes);
			__gmp_handoffp(p);
			return;
		}
	}
}

void __gmp_kmod_stats(struct gmp_handoff_stats *st)
{
	struct gmp_stats ks;

	st->activations = load_relaxed(&pool);
	if (gmp_dev_stats(dev, -1, &ks) == 0) {
		st->kblocks = ks.blocks;
		st->kwakeups = ks.wakeups;
		st->kevents = ks.events;
		st->koverflows = ks.overflows;
	}
}

/* ---- test hooks (hidden; selftests/lib link libgmp.a) ------------------ */

/*
 * on: from now on no M joins the activation pool (before gmp_init: none
 * is started), so blocks queue up in the ring. off: fill the pool again.
 */
HIDDEN void __gmp_kmod_test_hold(bool on);
void __gmp_kmod_test_hold(bool on)
{
	store_relaxed(&pool_hold, on);
	if (!on && dev && load_acquire(&sched.started))
		pool_fill();
}

/* Before gmp_init: the ring's size (a power of two, 16..65536). */
HIDDEN void __gmp_kmod_test_ring(unsigned int entries);
void __gmp_kmod_test_ring(unsigned int entries)
{
	test_ring_entries = entries;
}
