// SPDX-License-Identifier: (LGPL-2.1-or-later OR MIT)
/*
 * handoff_sysmon.c - the handoff that needs no kernel help: Go's sysmon.
 *
 * In kmod and perf mode (handoff_kmod.c, handoff_perf.c) the same thread
 * is only the preemption tick: it wakes every 10 ms while some P runs
 * goroutines, asks a G that has run for 10 ms to yield and starts an M for
 * an overdue timer, but never takes a P from a syscall (sched.sysmon_retake
 * is false; it is set only if an M could not register with /dev/gmp, or
 * open its perf event, whose blocks then nobody reports). Its name says
 * which it is: gmp-sysmon or gmp-tick.
 *
 * A thread outside the scheduler (no P) wakes every 20 us; after 50
 * consecutive rounds (about 1 ms) in which it retook nothing it doubles the
 * sleep, up to 10 ms; when every P is idle it sleeps until woken (a
 * syscall entry, a P leaving the idle list) or until the next timer. Each
 * round, for every P (Go's retake):
 *
 *  - a P that has run the same G for 10 ms gets p->preempt set: the G
 *    yields at its next libgmp call (cooperative preemption);
 *  - a P in a syscall is taken (__gmp_p_claim: one CAS on its status
 *    word, then handoffp) once it has been in the same syscall for a whole
 *    tick, if it has queued Gs or no M spins and no P is idle - or, in any
 *    case, after 10 ms.
 *
 * It also starts an M when a timer is overdue and an idle P could run it.
 * This is the baseline the /dev/gmp upcall will be measured against: the
 * upcall replaces the polling, the CAS stays the same.
 */
#include "internal.h"

#include <limits.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#define sched __gmp_sched

#define FORCE_PREEMPT_NS	(10 * 1000 * 1000)
#define DEEP_SLEEP_NS		(60LL * 1000 * 1000 * 1000)

static int retake(int64_t now)
{
	int n = 0;

	for (int i = 0; i < sched.gomaxprocs; i++) {
		struct p *p = &sched.allp[i];
		/* acquire: pairs with the release stores of acquirep/enter. */
		uint64_t s = load_acquire(&p->status);
		uint32_t state = P_STATE(s);
		bool sysretake = false;

		if (state == P_RUNNING || state == P_SYSCALL || state == P_GCODE) {
			uint32_t t = load_relaxed(&p->schedtick);

			if (p->sm_schedtick != t) {
				p->sm_schedtick = t;
				p->sm_schedwhen = now;
			} else if (p->sm_schedwhen + FORCE_PREEMPT_NS <= now) {
				/*
				 * Go's preemptone: only a running P has a G to
				 * ask (relaxed: a request, read at its next call).
				 * In a syscall, the slice's end makes the P
				 * retakable at once instead.
				 */
				if (state == P_RUNNING || state == P_GCODE)
					store_relaxed(&p->preempt, 1);
				sysretake = true;
			}
		}
		if (state != P_SYSCALL || !load_relaxed(&sched.sysmon_retake))
			continue;
		/* In the same syscall for more than one tick? */
		if (!sysretake && p->sm_syscalltick != P_SEQ(s)) {
			p->sm_syscalltick = P_SEQ(s);
			p->sm_syscallwhen = now;
			continue;
		}
		/* Nothing to run (no G queued, no completion on its ring) and
		 * someone to run it anyway: leave it (10 ms). */
		if (__gmp_runqempty(p) && !__gmp_poll_ready(p) &&
		    atomic_load(&sched.nmspinning) + atomic_load(&sched.npidle) > 0 &&
		    p->sm_syscallwhen + FORCE_PREEMPT_NS > now)
			continue;
		if (__gmp_p_claim(p, s)) {
			/*
			 * Count before handing the P on: what it runs next may
			 * end the program before this thread runs again.
			 */
			hstat_inc(sysmon_takes);
			__gmp_handoffp(p);
			n++;
		}
	}
	return n;
}

static void *sysmon(void *arg)
{
	int idle = 0;		/* rounds in a row that retook nothing */
	uint32_t delay = 0;	/* us */

	(void)arg;
	/*
	 * Linux stretches every sleep by the thread's timer slack (50 us by
	 * default), which makes Go's "20 us" tick about 70 us. Ask for 1 us,
	 * so the tick is what the rules say. Only this thread is affected.
	 */
	prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
	prctl(PR_SET_NAME, load_relaxed(&sched.sysmon_retake) ? "gmp-sysmon" : "gmp-tick");
	for (;;) {
		int64_t now, next;

		if (idle == 0)
			delay = 20;
		else if (idle > 50)
			delay *= 2;
		/* The tick of kmod and perf mode has nothing to poll for. */
		if (delay > 10 * 1000 || !load_relaxed(&sched.sysmon_retake))
			delay = 10 * 1000;
		usleep(delay);
		now = __gmp_nanotime();

		if (atomic_load(&sched.npidle) == sched.gomaxprocs) {
			__gmp_lock(&sched.lock);
			if (atomic_load(&sched.npidle) == sched.gomaxprocs) {
				int64_t sleep = DEEP_SLEEP_NS;
				bool woken;

				next = load_relaxed(&__gmp_timers_next);
				if (next != INT64_MAX && next - now < sleep)
					sleep = next - now > 0 ? next - now : 0;
				store_relaxed(&sched.sysmonwait, 1);
				__gmp_unlock(&sched.lock);
				woken = __gmp_notetsleep(&sched.sysmonnote, sleep);
				__gmp_lock(&sched.lock);
				store_relaxed(&sched.sysmonwait, 0);
				__gmp_noteclear(&sched.sysmonnote);
				if (woken) {
					idle = 0;
					delay = 20;
				}
				now = __gmp_nanotime();
			}
			__gmp_unlock(&sched.lock);
		}

		next = load_relaxed(&__gmp_timers_next);
		if (next < now && atomic_load(&sched.npidle) > 0)
			__gmp_startm(NULL, false);

		if (retake(now))
			idle = 0;
		else
			idle++;
	}
	return NULL;
}

void __gmp_sysmon_wake(void)
{
	__gmp_lock(&sched.lock);
	if (load_relaxed(&sched.sysmonwait)) {
		store_relaxed(&sched.sysmonwait, 0);
		__gmp_notewakeup(&sched.sysmonnote);
	}
	__gmp_unlock(&sched.lock);
}

int __gmp_sysmon_start(void)
{
	pthread_attr_t attr;
	int err;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	err = pthread_create(&sched.sysmon_thread, &attr, sysmon, NULL);
	pthread_attr_destroy(&attr);
	/* Named before the start returns (the thread names itself too, late). */
	if (!err)
		pthread_setname_np(sched.sysmon_thread,
				   load_relaxed(&sched.sysmon_retake) ? "gmp-sysmon" : "gmp-tick");
	return -err;
}
