// SPDX-License-Identifier: (LGPL-2.1-or-later OR MIT)
/*
 * time_test.c - sleep and timers: never early, wake in deadline order,
 * many sleepers on all Ps, and timers that fire while every P is idle.
 */
#include "gmp_test.h"

static struct gmp_waitgroup wg;

/* ---- sleepers wake in the order of their deadlines ------------------------ */

#define ORDERED 20
#define SPACING (3 * 1000 * 1000)
static _Atomic int order_pos, order_started;
static int order_log[ORDERED];
static _Atomic int64_t order_entered_max;
static gmp_chan_t *gate;
static _Atomic int64_t base;

static void ordered_sleeper(void *arg)
{
	int i = (int)(intptr_t)arg;
	int64_t now, prev;

	/* Everyone computes its deadline from one base, after a common gate. */
	atomic_fetch_add(&order_started, 1);
	gmp_chan_recv(gate, NULL);
	now = gmp_now();
	prev = atomic_load(&order_entered_max);
	while (now > prev && !atomic_compare_exchange_weak(&order_entered_max, &prev, now))
		;
	gmp_sleep(atomic_load(&base) + (int64_t)(i + 1) * SPACING - now);
	order_log[atomic_fetch_add(&order_pos, 1)] = i;
	gmp_wg_done(&wg);
}

/* One round: ORDERED sleepers whose deadlines start head_start from now. */
static void order_round(int64_t hs)
{
	atomic_store(&order_pos, 0);
	atomic_store(&order_started, 0);
	atomic_store(&order_entered_max, 0);
	GT_CHECK_EQ(0, gmp_chan_make(&gate, 0, 0));
	/* Spawned in reverse so that spawn order is not wake order. */
	for (int i = ORDERED - 1; i >= 0; i--) {
		gmp_wg_add(&wg, 1);
		gmp_go(ordered_sleeper, (void *)(intptr_t)i);
	}
	while (atomic_load(&order_started) < ORDERED)
		gmp_yield();
	atomic_store(&base, gmp_now() + hs);
	gmp_chan_close(gate);
	gmp_wg_wait(&wg);
	gmp_chan_free(gate);
}

/*
 * The order is only defined among sleepers that were all asleep before the
 * first deadline. A stalled machine (a loaded VM) can start a sleeper after
 * that, so such a round proves nothing: it is repeated with a head start
 * ten times longer, and the order is asserted on the first round that
 * qualifies.
 */
static _Atomic bool order_qualified;

static void order_main(void *arg)
{
	(void)arg;
	for (int64_t hs = 20 * 1000 * 1000; hs <= 2000LL * 1000 * 1000; hs *= 10) {
		order_round(hs);
		if (atomic_load(&order_entered_max) < atomic_load(&base) + SPACING) {
			atomic_store(&order_qualified, true);
			return;
		}
		printf("# a sleeper started after the first deadline with a %lld ms head start: again\n",
		       (long long)(hs / 1000000));
	}
}

TEST(sleep_wakes_in_deadline_order)
{
	GT_RUN(1, order_main, NULL);
	ASSERT_TRUE(atomic_load(&order_qualified));
	ASSERT_EQ(ORDERED, atomic_load(&order_pos));
	for (int i = 0; i < ORDERED; i++)
		ASSERT_EQ(i, order_log[i]);
}

/* ---- a sleep never ends early -------------------------------------------- */

static void not_early_main(void *arg)
{
	(void)arg;
	for (int64_t ns = 1000; ns <= 8 * 1000 * 1000; ns *= 4) {
		int64_t t0 = gmp_now();

		GT_CHECK_EQ(0, gmp_sleep(ns));
		GT_CHECK(gmp_now() - t0 >= ns);
	}
	GT_CHECK_EQ(0, gmp_sleep(0));	/* a yield */
	GT_CHECK_EQ(0, gmp_sleep(-5));
}

TEST(sleep_is_never_early)
{
	GT_RUN(2, not_early_main, NULL);
}

/* ---- many sleepers on all Ps ------------------------------------------------ */

static _Atomic int woke;

static void short_sleeper(void *arg)
{
	int64_t ns = (int64_t)(intptr_t)arg;
	int64_t t0 = gmp_now();

	for (int i = 0; i < 5; i++)
		gmp_sleep(ns);
	GT_CHECK(gmp_now() - t0 >= 5 * ns);
	atomic_fetch_add(&woke, 1);
	gmp_wg_done(&wg);
}

static void many_main(void *arg)
{
	int n = SCALE(2000);

	(void)arg;
	for (int i = 0; i < n; i++) {
		gmp_wg_add(&wg, 1);
		gmp_go(short_sleeper, (void *)(intptr_t)(1000 * (i % 50 + 1)));
	}
	gmp_wg_wait(&wg);
	GT_CHECK_EQ(n, atomic_load(&woke));
}

TEST(many_sleepers)
{
	GT_RUN(0, many_main, NULL);
}

/* ---- a timer fires while every P is idle (the timer M) ------------------- */

static void idle_main(void *arg)
{
	(void)arg;
	/* Nothing else exists: all Ms park, one with the timer's timeout. */
	for (int i = 0; i < 10; i++)
		GT_CHECK_EQ(0, gmp_sleep(3 * 1000 * 1000));
}

TEST(timer_fires_when_all_idle)
{
	GT_RUN(0, idle_main, NULL);
}

/* ---- an earlier timer added while an M sleeps for a later one ------------ */

static _Atomic int early_done, late_done;

static void late_sleeper(void *arg)
{
	(void)arg;
	gmp_sleep(200 * 1000 * 1000);
	atomic_store(&late_done, 1);
	gmp_wg_done(&wg);
}

static void early_main(void *arg)
{
	(void)arg;
	gmp_wg_add(&wg, 1);
	gmp_go(late_sleeper, NULL);
	gmp_sleep(2 * 1000 * 1000);	/* let the late one park first */
	gmp_sleep(2 * 1000 * 1000);	/* must not wait for the late one */
	GT_CHECK_EQ(0, atomic_load(&late_done));
	atomic_store(&early_done, 1);
	gmp_wg_wait(&wg);
}

TEST(earlier_timer_preempts_sleeping_m)
{
	GT_RUN(1, early_main, NULL);
	ASSERT_EQ(1, atomic_load(&early_done));
	ASSERT_EQ(1, atomic_load(&late_done));
}

TEST(sleep_outside_goroutine)
{
	ASSERT_EQ(-EPERM, gmp_sleep(1));
	ASSERT_GT(gmp_now(), 0);
}

TEST_HARNESS_MAIN
