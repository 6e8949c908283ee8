// SPDX-License-Identifier: (LGPL-2.1-or-later OR MIT)
/*
 * sync_test.c - mutex, wait group and once under contention on all Ps.
 */
#include "gmp_test.h"

static struct gmp_waitgroup wg;

/* ---- mutex: mutual exclusion under contention ------------------------------ */

static struct gmp_mutex mu = GMP_MUTEX_INIT;
static long counter;		/* protected by mu, deliberately not atomic */
static _Atomic int inside;

static void locker(void *arg)
{
	int rounds = (int)(intptr_t)arg;

	for (int i = 0; i < rounds; i++) {
		GT_CHECK_EQ(0, gmp_mutex_lock(&mu));
		GT_CHECK_EQ(1, atomic_fetch_add(&inside, 1) + 1);
		counter++;
		if (i % 7 == 0)
			gmp_yield();	/* hold it across a switch */
		atomic_fetch_sub(&inside, 1);
		GT_CHECK_EQ(0, gmp_mutex_unlock(&mu));
	}
	gmp_wg_done(&wg);
}

static void mutex_main(void *arg)
{
	int per = SCALE(5000);

	(void)arg;
	for (int i = 0; i < 16; i++) {
		gmp_wg_add(&wg, 1);
		gmp_go(locker, (void *)(intptr_t)per);
	}
	gmp_wg_wait(&wg);
	GT_CHECK_EQ(16L * per, counter);
}

TEST(mutex_under_contention_all_ps)
{
	GT_RUN(0, mutex_main, NULL);
}

static void trylock_main(void *arg)
{
	struct gmp_mutex m = GMP_MUTEX_INIT;

	(void)arg;
	GT_CHECK_EQ(-EPERM, gmp_mutex_unlock(&m));	/* not held */
	GT_CHECK_EQ(0, gmp_mutex_trylock(&m));
	GT_CHECK_EQ(-EBUSY, gmp_mutex_trylock(&m));
	GT_CHECK_EQ(0, gmp_mutex_unlock(&m));
	GT_CHECK_EQ(0, gmp_mutex_lock(&m));
	GT_CHECK_EQ(0, gmp_mutex_unlock(&m));
	GT_CHECK_EQ(-EINVAL, gmp_mutex_lock(NULL));
}

TEST(mutex_trylock_and_errors)
{
	GT_RUN(1, trylock_main, NULL);
}

/* Waiters are served in FIFO order. */
static int fifo_log[8], fifo_pos;
static _Atomic int fifo_queued;

static void fifo_waiter(void *arg)
{
	atomic_fetch_add(&fifo_queued, 1);
	gmp_mutex_lock(&mu);
	fifo_log[fifo_pos++] = (int)(intptr_t)arg;
	gmp_mutex_unlock(&mu);
	gmp_wg_done(&wg);
}

static void fifo_main(void *arg)
{
	(void)arg;
	gmp_mutex_lock(&mu);
	for (int i = 0; i < 8; i++) {
		gmp_wg_add(&wg, 1);
		gmp_go(fifo_waiter, (void *)(intptr_t)i);
		/* Let it queue before the next one starts. */
		while (atomic_load(&fifo_queued) < i + 1)
			gmp_yield();
		gmp_yield();
	}
	gmp_mutex_unlock(&mu);
	gmp_wg_wait(&wg);
	for (int i = 0; i < 8; i++)
		GT_CHECK_EQ(i, fifo_log[i]);
}

TEST(mutex_waiters_fifo)
{
	GT_RUN(1, fifo_main, NULL);
}

/* ---- wait group ------------------------------------------------------------ */

static struct gmp_waitgroup wg2;
static _Atomic int wg_done_count, wg_waiters_out;

static void wg_worker(void *arg)
{
	(void)arg;
	gmp_yield();
	atomic_fetch_add(&wg_done_count, 1);
	gmp_wg_done(&wg2);
}

static void wg_waiter(void *arg)
{
	(void)arg;
	gmp_wg_wait(&wg2);
	/* Everyone's Done happened before any Wait returns. */
	GT_CHECK_EQ(SCALE(10000), atomic_load(&wg_done_count));
	atomic_fetch_add(&wg_waiters_out, 1);
	gmp_wg_done(&wg);
}

static void wg_main(void *arg)
{
	int n = SCALE(10000);

	(void)arg;
	GT_CHECK_EQ(0, gmp_wg_add(&wg2, n));
	for (int i = 0; i < 8; i++) {
		gmp_wg_add(&wg, 1);
		gmp_go(wg_waiter, NULL);
	}
	for (int i = 0; i < n; i++)
		gmp_go(wg_worker, NULL);
	gmp_wg_wait(&wg);
	GT_CHECK_EQ(8, atomic_load(&wg_waiters_out));
	/* Below zero is refused and leaves the counter alone. */
	GT_CHECK_EQ(-EINVAL, gmp_wg_done(&wg2));
	GT_CHECK_EQ(0, gmp_wg_wait(&wg2));
}

TEST(waitgroup_under_contention_all_ps)
{
	GT_RUN(0, wg_main, NULL);
}

/* ---- once ------------------------------------------------------------------ */

static struct gmp_once once = GMP_ONCE_INIT;
static _Atomic int once_runs, once_after;

static void once_fn(void *arg)
{
	(void)arg;
	gmp_yield();	/* others pile up meanwhile */
	atomic_fetch_add(&once_runs, 1);
}

static void once_caller(void *arg)
{
	(void)arg;
	GT_CHECK_EQ(0, gmp_once(&once, once_fn, NULL));
	GT_CHECK_EQ(1, atomic_load(&once_runs));	/* done before any return */
	atomic_fetch_add(&once_after, 1);
	gmp_wg_done(&wg);
}

static void once_main(void *arg)
{
	(void)arg;
	for (int i = 0; i < 64; i++) {
		gmp_wg_add(&wg, 1);
		gmp_go(once_caller, NULL);
	}
	gmp_wg_wait(&wg);
}

TEST(once_runs_once)
{
	GT_RUN(0, once_main, NULL);
	ASSERT_EQ(1, atomic_load(&once_runs));
	ASSERT_EQ(64, atomic_load(&once_after));
}

TEST_HARNESS_MAIN
