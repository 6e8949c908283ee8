// SPDX-License-Identifier: (LGPL-2.1-or-later OR MIT)
/*
 * sched_test.c - goroutines: spawn/run/exit, yield, work stealing,
 * cooperative preemption, errno across migration, per-goroutine storage,
 * runtime configuration.
 */
#include "gmp_test.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- spawn, run and exit 100k goroutines ---------------------------- */

static _Atomic long spawned_ran;
static struct gmp_waitgroup spawn_wg;

static void spawn_child(void *arg)
{
	atomic_fetch_add(&spawned_ran, (long)(intptr_t)arg);
	gmp_wg_done(&spawn_wg);
}

static void spawn_main(void *arg)
{
	long n = (long)(intptr_t)arg;

	for (long i = 1; i <= n; i++) {
		gmp_wg_add(&spawn_wg, 1);
		GT_CHECK(gmp_go(spawn_child, (void *)(intptr_t)i) > 0);
	}
	gmp_wg_wait(&spawn_wg);
}

TEST(spawn_100k)
{
	long n = SCALE(100000);

	GT_RUN(0, spawn_main, (void *)(intptr_t)n);
	ASSERT_EQ(n * (n + 1) / 2, atomic_load(&spawned_ran));
}

/* Goroutines that exit through gmp_exit() from a nested call. */
static _Atomic int exit_after;

static void (*volatile exit_fn)(void) = gmp_exit;

static void exit_deep(int depth)
{
	if (depth == 0)
		exit_fn();
	else
		exit_deep(depth - 1);
	atomic_fetch_add(&exit_after, 1000);	/* never reached */
}

static void exit_child(void *arg)
{
	(void)arg;
	atomic_fetch_add(&exit_after, 1);
	gmp_wg_done(&spawn_wg);
	exit_deep(5);
}

static void exit_main(void *arg)
{
	(void)arg;
	for (int i = 0; i < 1000; i++) {
		gmp_wg_add(&spawn_wg, 1);
		gmp_go(exit_child, NULL);
	}
	gmp_wg_wait(&spawn_wg);
	/* Let every child reach gmp_exit. */
	for (int i = 0; i < 100; i++)
		gmp_yield();
}

TEST(exit_from_nested_call)
{
	GT_RUN(0, exit_main, NULL);
	ASSERT_EQ(1000, atomic_load(&exit_after));
}

/* Goroutine ids are unique and positive; gmp_self() is 0 outside. */
static int64_t ids[64];

static void id_child(void *arg)
{
	ids[(intptr_t)arg] = gmp_self();
	gmp_wg_done(&spawn_wg);
}

static void id_main(void *arg)
{
	(void)arg;
	GT_CHECK(gmp_self() > 0);
	for (int i = 0; i < 64; i++) {
		gmp_wg_add(&spawn_wg, 1);
		gmp_go(id_child, (void *)(intptr_t)i);
	}
	gmp_wg_wait(&spawn_wg);
	for (int i = 0; i < 64; i++) {
		GT_CHECK(ids[i] > 0);
		for (int j = 0; j < i; j++)
			GT_CHECK(ids[i] != ids[j]);
	}
}

TEST(goroutine_ids)
{
	ASSERT_EQ(0, gmp_self());
	GT_RUN(0, id_main, NULL);
}

/*
 * A goroutine that spawns faster than its P runs what it spawns stops
 * when the P's run queue is full (256 and runnext) and lets the queue run
 * before it goes on: the spawned goroutines do not pile up.
 */
#define PILE_GS 2000
static _Atomic long pile_ran;
static long pile_max;

static void pile_child(void *arg)
{
	(void)arg;
	atomic_fetch_add(&pile_ran, 1);
	gmp_wg_done(&spawn_wg);
}

static void pile_main(void *arg)
{
	(void)arg;
	for (long i = 1; i <= PILE_GS; i++) {
		gmp_wg_add(&spawn_wg, 1);
		GT_CHECK(gmp_go(pile_child, NULL) > 0);
		if (i - atomic_load(&pile_ran) > pile_max)
			pile_max = i - atomic_load(&pile_ran);
	}
	gmp_wg_wait(&spawn_wg);
}

TEST(spawner_lets_a_full_run_queue_run)
{
	GT_RUN(1, pile_main, NULL);
	ASSERT_EQ(PILE_GS, atomic_load(&pile_ran));
	TH_LOG("at most %ld goroutines waited to run", pile_max);
	ASSERT_LE(pile_max, 256 + 1);
	ASSERT_GE(pile_max, 1);
}

/* ---- yield lets the other goroutines of a P run ------------------------ */

static _Atomic int turn_log[64];
static _Atomic int turn_pos;

static void yielder(void *arg)
{
	for (int i = 0; i < 8; i++) {
		turn_log[atomic_fetch_add(&turn_pos, 1)] = (int)(intptr_t)arg;
		gmp_yield();
	}
	gmp_wg_done(&spawn_wg);
}

static void yield_main(void *arg)
{
	(void)arg;
	gmp_wg_add(&spawn_wg, 2);
	gmp_go(yielder, (void *)1);
	gmp_go(yielder, (void *)2);
	gmp_wg_wait(&spawn_wg);
}

TEST(yield_interleaves_on_one_p)
{
	int switches = 0;

	GT_RUN(1, yield_main, NULL);
	ASSERT_EQ(16, atomic_load(&turn_pos));
	for (int i = 1; i < 16; i++)
		switches += turn_log[i] != turn_log[i - 1];
	/* Without yield one would run its 8 turns, then the other: 1 switch. */
	ASSERT_GE(switches, 8);
}

/* ---- work stealing spreads work over the Ps ---------------------------- */

#define STEAL_GS 64
static _Atomic int ran_on[1024];
static _Atomic int stolen;
static int spawner_p;
static int64_t steal_deadline;
static char steal_dump[2048];
static _Atomic int steal_dumped;

static void steal_child(void *arg)
{
	int p = gmp_p_index();

	(void)arg;
	GT_CHECK(p >= 0 && p < gmp_maxprocs());
	atomic_fetch_add(&ran_on[p], 1);
	if (p != spawner_p)
		atomic_fetch_add(&stolen, 1);
	/*
	 * Busy (preemptible) until a thief has run one of us, so that the
	 * spawner's P cannot drain the queue before the other Ps' Ms get a
	 * CPU, however late the machine gives them one (a fixed amount of
	 * work here lost that race under single-threaded TCG, whose other
	 * vCPU may wait 100 ms for its turn). 10 s at most: no thief, fail.
	 */
	while (!atomic_load(&stolen) && gmp_now() < steal_deadline)
		gmp_preempt_check();
	/* No thief: the scheduler as it was then, for the failure's report. */
	if (!atomic_load(&stolen) && !atomic_exchange(&steal_dumped, 1))
		__gmp_test_dump(steal_dump, sizeof(steal_dump));
	gmp_wg_done(&spawn_wg);
}

static void steal_main(void *arg)
{
	(void)arg;
	spawner_p = gmp_p_index();
	steal_deadline = gmp_now() + 10 * 1000000000LL;
	/* Spawned from one P: all start on its queue; only thieves move them. */
	for (int i = 0; i < STEAL_GS; i++) {
		gmp_wg_add(&spawn_wg, 1);
		gmp_go(steal_child, NULL);
	}
	gmp_wg_wait(&spawn_wg);
}

TEST(work_stealing_spreads_work)
{
	int used = 0, total = 0;

	GT_RUN(4, steal_main, NULL);
	for (int i = 0; i < 4; i++) {
		total += ran_on[i];
		used += ran_on[i] > 0;
		TH_LOG("P%d ran %d goroutines", i, ran_on[i]);
	}
	if (!atomic_load(&stolen))
		TH_LOG("no thief in 10 s; %d Ms, %d idle; the scheduler then:\n%s",
		       __gmp_test_live_ms(), __gmp_test_idle_ms(), steal_dump);
	ASSERT_EQ(STEAL_GS, total);
	ASSERT_GE(used, 2);
	ASSERT_GT(atomic_load(&stolen), 0);
}

/* ---- cooperative preemption ----------------------------------------- */

static _Atomic int stop_spinning;
static _Atomic long spins;

static void spinner(void *arg)
{
	(void)arg;
	/* Never blocks; only gmp_preempt_check() lets anyone else run. */
	while (!atomic_load(&stop_spinning)) {
		atomic_fetch_add(&spins, 1);
		gmp_preempt_check();
	}
	gmp_wg_done(&spawn_wg);
}

static void stopper(void *arg)
{
	(void)arg;
	atomic_store(&stop_spinning, 1);
	gmp_wg_done(&spawn_wg);
}

static void preempt_main(void *arg)
{
	(void)arg;
	gmp_wg_add(&spawn_wg, 2);
	gmp_go(spinner, NULL);
	gmp_yield();		/* the spinner now holds the only P */
	gmp_go(stopper, NULL);
	gmp_wg_wait(&spawn_wg);
}

TEST(preemption_lets_others_run)
{
	/* One P: the stopper only runs if the spinner is made to yield. */
	GT_RUN(1, preempt_main, NULL);
	ASSERT_EQ(1, atomic_load(&stop_spinning));
	ASSERT_GT(atomic_load(&spins), 0);
}

/*
 * A G that hogs the only P until sysmon asks it to yield, and yields with
 * nothing else to run, is back at once: its time slice goes on (the P's
 * schedtick does not move), so that if it now blocks in a syscall sysmon
 * retakes the P at its first look, as Go's does for a hog (sysretake),
 * and not one tick later as for a fresh slice. With another G waiting,
 * the yield lets it run and the slice is new.
 */
long __gmp_test_schedtick(void);
int __gmp_test_preempt_asked(void);

static _Atomic long hog_before, hog_after;
static _Atomic int other_ran;

static void other(void *arg)
{
	(void)arg;
	atomic_store(&other_ran, 1);
	gmp_wg_done(&spawn_wg);
}

static void hog_main(void *arg)
{
	bool with_other = arg != NULL;
	volatile unsigned long x = 0;

	if (with_other) {
		gmp_wg_add(&spawn_wg, 1);
		gmp_go(other, NULL);	/* waits in our P's run queue */
	}
	/* No runtime call: only sysmon's look at the P can end this. */
	while (__gmp_test_preempt_asked() != 1)
		x++;
	atomic_store(&hog_before, __gmp_test_schedtick());
	gmp_preempt_check();	/* yields */
	atomic_store(&hog_after, __gmp_test_schedtick());
	if (with_other)
		gmp_wg_wait(&spawn_wg);
}

TEST(preempted_hog_alone_keeps_its_slice)
{
	GT_RUN(1, hog_main, NULL);
	ASSERT_LT(0, atomic_load(&hog_before));
	ASSERT_EQ(atomic_load(&hog_before), atomic_load(&hog_after));
}

TEST(preempted_hog_with_company_gets_a_new_slice)
{
	GT_RUN(1, hog_main, (void *)1);
	ASSERT_EQ(1, atomic_load(&other_ran));
	ASSERT_LT(atomic_load(&hog_before), atomic_load(&hog_after));
}

/* ---- errno across migration ---------------------------------------------- */

static _Atomic int errno_bad, errno_migrations;

/*
 * Yields move a G to another M only when an idle P steals it, which 8 busy
 * Gs on 4 Ps may never need (seen once, single-threaded TCG): every 100th
 * round first sleeps in a wrapped nanosleep, which leaves Ps idle for a
 * while, so that they steal. The rounds go on until some G has seen a
 * migration across a yield (the harness's timeout bounds them).
 */
static void errno_worker(void *arg)
{
	const struct timespec ms = { 0, 1000 * 1000 };
	int base = (int)(intptr_t)arg * 1000;

	for (int i = 0; i < SCALE(3000) || !atomic_load(&errno_migrations); i++) {
		pid_t before;

		if (i % 100 == 99)
			GT_CHECK_EQ(0, gmp_nanosleep(&ms, NULL));
		before = gettid();
		/* errno is libgmp.h's (*gmp_errno_location()). */
		errno = base + i % 1000;
		gmp_yield();
		if (gettid() != before)
			atomic_fetch_add(&errno_migrations, 1);
		if (errno != base + i % 1000)
			atomic_fetch_add(&errno_bad, 1);
	}
	gmp_wg_done(&spawn_wg);
}

static void errno_main(void *arg)
{
	(void)arg;
	for (int i = 1; i <= 8; i++) {
		gmp_wg_add(&spawn_wg, 1);
		gmp_go(errno_worker, (void *)(intptr_t)i);
	}
	gmp_wg_wait(&spawn_wg);
}

TEST(errno_survives_migration)
{
	GT_RUN(4, errno_main, NULL);
	TH_LOG("%d migrations", atomic_load(&errno_migrations));
	ASSERT_GT(atomic_load(&errno_migrations), 0);
	ASSERT_EQ(0, atomic_load(&errno_bad));
}

/* errno set by a wrapped syscall survives the syscall's exit path too. */
static void errno_syscall_main(void *arg)
{
	char c;

	(void)arg;
	GT_CHECK_EQ(-EBADF, gmp_read(-1, &c, 1));
	GT_CHECK_EQ(EBADF, errno);
	gmp_yield();
	GT_CHECK_EQ(EBADF, errno);
}

TEST(errno_after_wrapped_syscall)
{
	GT_RUN(2, errno_syscall_main, NULL);
}

/* ---- per-goroutine storage ----------------------------------------------- */

static gmp_key_t key;
static _Atomic int dtor_calls, gls_bad;
static struct gmp_waitgroup gls_exit_wg;	/* one per child, done by its dtor */

/* Runs on the exiting goroutine, after gls_child returned. */
static void gls_dtor(void *v)
{
	GT_CHECK(v != NULL);
	atomic_fetch_add(&dtor_calls, 1);
	gmp_wg_done(&gls_exit_wg);
}

static void gls_child(void *arg)
{
	GT_CHECK(gmp_getspecific(key) == NULL);
	GT_CHECK_EQ(0, gmp_setspecific(key, arg));
	for (int i = 0; i < 20; i++) {
		gmp_yield();
		if (gmp_getspecific(key) != arg)
			atomic_fetch_add(&gls_bad, 1);
	}
	gmp_wg_done(&spawn_wg);
}

static void gls_main(void *arg)
{
	(void)arg;
	GT_CHECK_EQ(0, gmp_key_create(&key, gls_dtor));
	GT_CHECK_EQ(-EINVAL, gmp_setspecific(key + 1, arg));
	for (intptr_t i = 1; i <= 16; i++) {
		gmp_wg_add(&spawn_wg, 1);
		gmp_wg_add(&gls_exit_wg, 1);
		gmp_go(gls_child, (void *)i);
	}
	gmp_wg_wait(&spawn_wg);
	/*
	 * The children's dtors run after gls_child returns, maybe on another
	 * P whose M the host has not scheduled yet: wait for them, do not
	 * guess with yields. A dtor that never runs hangs the test, which
	 * the harness's timeout turns into a failure.
	 */
	gmp_wg_wait(&gls_exit_wg);
}

TEST(per_goroutine_storage)
{
	GT_RUN(2, gls_main, NULL);
	ASSERT_EQ(0, atomic_load(&gls_bad));
	ASSERT_EQ(16, atomic_load(&dtor_calls));
}

/* ---- configuration and contexts --------------------------------------- */

static void nothing(void *arg)
{
	(void)arg;
}

static void maxprocs_main(void *arg)
{
	*(int *)arg = gmp_maxprocs();
}

TEST(maxprocs_from_environment)
{
	int procs = 0;

	ASSERT_EQ(0, setenv("GMP_MAXPROCS", "3", 1));
	ASSERT_EQ(0, gmp_run(maxprocs_main, &procs));
	ASSERT_EQ(3, procs);
	/* Too late to configure. */
	struct gmp_config cfg = { .size = sizeof(cfg), .maxprocs = 2 };

	ASSERT_EQ(-EBUSY, gmp_init(&cfg));
}

TEST(bad_maxprocs_rejected)
{
	ASSERT_EQ(0, setenv("GMP_MAXPROCS", "0", 1));
	ASSERT_EQ(-EINVAL, gmp_run(nothing, NULL));
}

TEST(bad_config_rejected)
{
	struct gmp_config cfg = { .size = sizeof(cfg) - 1 };

	ASSERT_EQ(-EINVAL, gmp_init(&cfg));
	cfg.size = sizeof(cfg);
	cfg.reserved[2] = 1;
	ASSERT_EQ(-EINVAL, gmp_init(&cfg));
	cfg.reserved[2] = 0;
	cfg.flags = 1U << 31;	/* not a GMP_CONFIG_* flag */
	ASSERT_EQ(-EINVAL, gmp_init(&cfg));
}

TEST(handoff_kmod_fails_clearly)
{
	int fd = open("/dev/gmp", O_RDWR | O_CLOEXEC);

	if (fd >= 0) {
		close(fd);
		SKIP(return, "/dev/gmp is there (kmod_test covers kmod mode)");
	}
	ASSERT_EQ(0, setenv("GMP_HANDOFF", "kmod", 1));
	ASSERT_EQ(-ENODEV, gmp_run(nothing, NULL));
	ASSERT_EQ(0, gmp_handoff_mode());	/* not started */
}

TEST(handoff_bad_activation_settings_rejected)
{
	/* Checked whatever mode auto then picks, sysmon included. */
	ASSERT_EQ(0, setenv("GMP_PIN_ACTIVATIONS", "yes", 1));
	ASSERT_EQ(-EINVAL, gmp_run(nothing, NULL));
	ASSERT_EQ(0, setenv("GMP_PIN_ACTIVATIONS", "1", 1));
	ASSERT_EQ(0, setenv("GMP_ACTIVATIONS", "65", 1));
	ASSERT_EQ(-EINVAL, gmp_run(nothing, NULL));
	ASSERT_EQ(0, gmp_handoff_mode());	/* not started */
}

TEST(handoff_bad_value_rejected)
{
	ASSERT_EQ(0, setenv("GMP_HANDOFF", "polling", 1));
	ASSERT_EQ(-EINVAL, gmp_run(nothing, NULL));
}

TEST(handoff_sysmon_and_auto_run)
{
	ASSERT_EQ(0, setenv("GMP_HANDOFF", "sysmon", 1));
	ASSERT_EQ(0, gmp_run(nothing, NULL));
	ASSERT_EQ(0, setenv("GMP_HANDOFF", "auto", 1));
	ASSERT_EQ(0, gmp_run(nothing, NULL));	/* already started: no-op */
}

static void run_again_main(void *arg)
{
	GT_CHECK_EQ(-EDEADLK, gmp_run(nothing, NULL));
	atomic_fetch_add((_Atomic int *)arg, 1);
}

TEST(run_repeatedly_not_nested)
{
	_Atomic int runs = 0;

	for (int i = 0; i < 5; i++)
		ASSERT_EQ(0, gmp_run(run_again_main, (void *)&runs));
	ASSERT_EQ(5, atomic_load(&runs));
	ASSERT_EQ(0, atomic_load(&gt_failures));
}

static void *outside_thread(void *arg)
{
	(void)arg;
	/* Calls that need a goroutine refuse politely elsewhere. */
	if (gmp_sleep(1) != -EPERM || gmp_syscall_enter() != -EPERM ||
	    gmp_p_index() != -EPERM || gmp_set_name("x") != -EPERM)
		return (void *)1;
	return NULL;
}

TEST(calls_outside_goroutines)
{
	pthread_t t;
	void *ret;

	ASSERT_EQ(0, pthread_create(&t, NULL, outside_thread, NULL));
	ASSERT_EQ(0, pthread_join(t, &ret));
	ASSERT_EQ(NULL, ret);
	ASSERT_EQ(-EINVAL, gmp_go(NULL, NULL));
	gmp_yield();	/* no-op outside */
}

/* gmp_go from a plain thread feeds the runtime through the global queue. */
static struct gmp_waitgroup ext_wg;
static _Atomic int ext_ran;

static void ext_child(void *arg)
{
	(void)arg;
	atomic_fetch_add(&ext_ran, 1);
	gmp_wg_done(&ext_wg);
}

static void ext_main(void *arg)
{
	(void)arg;
	gmp_wg_wait(&ext_wg);
}

TEST(spawn_from_plain_thread)
{
	ASSERT_EQ(0, gmp_wg_add(&ext_wg, 100));
	for (int i = 0; i < 100; i++)
		ASSERT_GT(gmp_go(ext_child, NULL), 0);
	ASSERT_EQ(0, gmp_run(ext_main, NULL));
	ASSERT_EQ(100, atomic_load(&ext_ran));
}

/*
 * The hint that a P was left to its M asleep in a syscall (for a taker on
 * demand) is the P's status word then, whose high 32 bits are the P's
 * syscall sequence. An activation that judged an older block may leave
 * its hint after another one left the P for a later block of the same
 * P: the later hint must stay (the taker re-checks the P's word against
 * the hint, and an older one never matches again). Sysmon mode, where no
 * taker reads the hints; one P, whose word matches none of them.
 */
uint64_t __gmp_test_leave_blocked(int i, uint64_t st);
int __gmp_test_forget_blocked(int i, uint64_t st);

#define HINT(seq) ((uint64_t)(uint32_t)(seq) << 32 | 2)	/* state 2, M 0 */

static void hint_main(void *arg)
{
	(void)arg;
	GT_CHECK_EQ(HINT(6), __gmp_test_leave_blocked(0, HINT(6)));
	GT_CHECK_EQ(HINT(6), __gmp_test_leave_blocked(0, HINT(5)));	/* older */
	GT_CHECK_EQ(HINT(7), __gmp_test_leave_blocked(0, HINT(7)));
	GT_CHECK_EQ(1, __gmp_test_forget_blocked(0, HINT(6)));	/* not it */
	GT_CHECK_EQ(0, __gmp_test_forget_blocked(0, HINT(7)));
	/* The sequence wraps: 0 comes after 0xffffffff. */
	GT_CHECK_EQ(HINT(0xffffffff), __gmp_test_leave_blocked(0, HINT(0xffffffff)));
	GT_CHECK_EQ(HINT(0), __gmp_test_leave_blocked(0, HINT(0)));
	GT_CHECK_EQ(HINT(0), __gmp_test_leave_blocked(0, HINT(0xfffffffe)));
	GT_CHECK_EQ(0, __gmp_test_forget_blocked(0, HINT(0)));
}

TEST(older_block_hint_never_replaces_a_later_one)
{
	struct gmp_config cfg = {
		.size = sizeof(cfg),
		.maxprocs = 1,
		.handoff = GMP_HANDOFF_SYSMON,
	};

	ASSERT_EQ(0, gmp_init(&cfg));
	ASSERT_EQ(0, gmp_run(hint_main, NULL));
	ASSERT_EQ(0, atomic_load(&gt_failures));
}

TEST_HARNESS_MAIN
