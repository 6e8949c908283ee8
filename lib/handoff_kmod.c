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
 *    -> serve() -> __gmp_act_take()     still asleep in block seq? P still
 *                                      {P_SYSCALL, m, seq}? work for it?
 *    -> __gmp_p_claim()      sched.c   one CAS to P_IDLE: the P is ours
 *   acquirep(), schedule()   sched.c   the activation is the P's M now
 *   gmp_syscall_exit()       sched.c   disarm; the CAS back fails: an idle
 *                                      P, or queue the G globally and park
 *                                      (stopm: as an activation while the
 *                                      pool is short)
 *
 * Activations (activation.c). A few Ms park in GMP_IOC_WAIT, disarmed,
 * one event each (max_events 1): the module wakes one waiter per record,
 * so each woken activation serves one block and runs that P itself. An
 * event that comes while no activation is parked waits in the ring for
 * the next one to park; if the ring overflowed, GMP_EV_OVERFLOW comes
 * first and we rescan every P in a syscall instead (rescan()).
 *
 * Staleness. An event is acted upon only if the M is still asleep in that
 * very block (its slot says GMP_SLOT_BLOCKED with the event's seq) and
 * its P's status word still names it in a syscall; the CAS settles the
 * race with the M coming back. GMP_SETUP_NO_UNBLOCKED: the returning M
 * learns from the CAS, so UNBLOCKED records would only wake us for nothing.
 *
 * No work, no take; on-demand takes: activation.c.
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

static struct gmp_dev *dev;
static unsigned int test_ring_entries;
static _Atomic bool degraded;

int __gmp_kmod_init(bool required)
{
	struct gmp_dev_config cfg = {
		.size = sizeof(cfg),
		.setup_flags = GMP_SETUP_NO_UNBLOCKED,
		.ring_entries = test_ring_entries,
		.max_ms = GMP_MAX_MS_MAX,
		.features = GMP_FEAT_BLOCKED | GMP_FEAT_WAIT | GMP_FEAT_MMAP,
	};
	int ret = gmp_dev_open(&dev, &cfg);

	if (ret < 0 && required)
		fprintf(stderr, "gmp: GMP_HANDOFF=kmod: %s: %s%s\n", GMP_DEVICE_PATH,
			strerror(-ret), ret == -ENODEV ? " (is gmp.ko loaded?)" : "");
	return ret;
}

void __gmp_kmod_debug_line(const char *why)
{
	const struct gmp_info *info = gmp_dev_info(dev);

	fprintf(stderr, "gmp: handoff kmod (%s ABI %u, features %#llx, %u slots; "
		"%d activations%s; transparent %s; 10 ms preemption tick%s%s)\n",
		GMP_DEVICE_PATH, info->abi_version, (unsigned long long)info->features,
		info->max_ms, __gmp_pool_target(), __gmp_pin_mask(NULL) ? ", pinned" : "",
		sched.transparent ? "on" : "off",
		why ? "; " : "", why ? why : "");
}

void __gmp_kmod_register(struct m *m)
{
	struct gmp_slot *slot;
	int ret;

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
	m->armw = &slot->armed;
	m->transparent = sched.transparent;
}

void __gmp_kmod_unregister(struct m *m)
{
	if (m->kslot) {
		m->kslot = NULL;
		gmp_dev_unregister(dev);
	}
}

bool __gmp_kmod_asleep(struct m *bm, uint64_t st)
{
	struct gmp_slot *slot = bm->kslot;

	(void)st;
	return slot && gmp_dev_slot_state(slot) == GMP_SLOT_BLOCKED;
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
		bm = load_acquire(&__gmp_mtab[P_MID(st)]);
		if (!bm || !bm->kslot || gmp_dev_slot_state(bm->kslot) != GMP_SLOT_BLOCKED)
			continue;
		q = __gmp_act_take(p, st);
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
	bm = load_acquire(&__gmp_mtab[ev->m_id]);
	/* Awake since (the slot moved on), or no longer in that syscall. */
	st = bm && bm->kslot && gmp_dev_still_blocked(bm->kslot, ev->seq) ?
	     __gmp_act_takeable(bm, &p) : 0;
	if (!st) {
		hstat_inc(stale);
		return NULL;
	}
	p = __gmp_act_take(p, st);
	if (p)
		hstat_inc(upcall_takes);
	return p;
}

/*
 * Park this M (no P, disarmed, its place in the pool reserved) until an
 * upcall gives it a P; return that P, which the caller acquires and runs
 * (NULL: woken for nothing, and the pool is full without us).
 */
struct p *__gmp_kmod_activation(struct m *m)
{
	struct gmp_event ev;

	for (;;) {
		int n = gmp_dev_wait(dev, &ev, 1, -1);
		struct p *p;

		__gmp_pool_woken();
		if (n == 1) {
			m->wake_cpu = ev.type == GMP_EV_BLOCKED ? (int)ev.cpu : -1;
			p = serve(&ev);
			/* After serve(): a reader of the counter sees the decision. */
			hstat_inc(upcalls);
			if (p) {
				__gmp_pool_took();
				return p;
			}
		} else if (n != -EINTR) {
			__gmp_fatal("%s: GMP_IOC_WAIT: %s", GMP_DEVICE_PATH, strerror(-n));
		}
		if (!__gmp_pool_rejoin())
			return NULL;
	}
}

void __gmp_kmod_stats(struct gmp_handoff_stats *st)
{
	struct gmp_stats ks;

	if (gmp_dev_stats(dev, -1, &ks) == 0) {
		st->kblocks = ks.blocks;
		st->kwakeups = ks.wakeups;
		st->kevents = ks.events;
		st->koverflows = ks.overflows;
	}
}

/* ---- test hooks (hidden; selftests/lib link libgmp.a) ------------------ */

/* Before gmp_init: the ring's size (a power of two, 16..65536). */
HIDDEN void __gmp_kmod_test_ring(unsigned int entries);
void __gmp_kmod_test_ring(unsigned int entries)
{
	test_ring_entries = entries;
}
