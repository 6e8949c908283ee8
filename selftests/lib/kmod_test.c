// SPDX-License-Identifier: (LGPL-2.1-or-later OR MIT)
/*
 * kmod_test.c - the handoff through gmp.ko (handoff_kmod.c) and the
 * /dev/gmp shim (gmpdev.h). Every kmod test SKIPs where /dev/gmp cannot be
 * used (a host without the module); in the VM they run with it loaded.
 * auto_falls_back_to_sysmon is the opposite: it runs only without the
 * module, and where perf mode cannot be used either (else auto picks perf:
 * perf_test.c covers that).
 *
 * No timing assertions: where a test needs "the M is asleep now" it waits
 * for the module's block counter, and "an activation is parked" for a
 * thread sitting in ioctl(GMP_IOC_WAIT) (/proc/self/task/ * /syscall).
 * "Only the upcall could have done it" holds because the only P is held by
 * a sleeping M, no thread polls (no gmp-sysmon), and no goroutine is
 * readied meanwhile (on-demand takes need one).
 */
#include "handoff_test.h"
#include "gmpdev.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* libgmp's hidden test hooks (handoff_kmod.c); we link libgmp.a. */
void __gmp_kmod_test_hold(bool on);
void __gmp_kmod_test_ring(unsigned int entries);
unsigned long __gmp_test_pin_syscalls(void);

static bool kmod_usable(void)
{
	struct gmp_dev *dev;

	if (gmp_dev_open(&dev, NULL) < 0)
		return false;
	gmp_dev_close(dev);
	return true;
}

#define NEED_KMOD() do {						\
	if (!kmod_usable())						\
		SKIP(return, "/dev/gmp not usable (gmp.ko not loaded)");	\
} while (0)

/* kmod mode, the blocking poller (handoff_test.h). */
static int start(unsigned int procs, unsigned int flags, void (*fn)(void *), void *arg)
{
	return start_in(GMP_HANDOFF_KMOD, procs, flags, fn, arg);
}

#define KRUN(procs, flags, fn, arg) do {				\
	ASSERT_EQ(0, start((procs), (flags), (fn), (arg)));		\
	ASSERT_EQ(0, atomic_load(&gt_failures));			\
} while (0)

static bool in_gmp_wait(const char *line, void *arg)
{
	unsigned long long nr, fd, cmd;

	(void)arg;
	return sscanf(line, "%llu %llx %llx", &nr, &fd, &cmd) == 3 &&
	       nr == SYS_ioctl && cmd == GMP_IOC_WAIT;
}

/* Threads of ours asleep in ioctl(GMP_IOC_WAIT): parked activations. */
static int parked(void)
{
	return count_tasks("syscall", in_gmp_wait, NULL);
}

/* ---- a wrapped read on the only P: the upcall hands the P on ---------- */

TEST(wrapped_read_handed_off_by_upcall)
{
	struct gmp_handoff_stats st;

	NEED_KMOD();
	KRUN(1, 0, wrapped_main, NULL);
	st = stats();
	ASSERT_EQ(GMP_HANDOFF_KMOD, gmp_handoff_mode());
	ASSERT_EQ(GMP_HANDOFF_KMOD, st.mode);
	ASSERT_EQ(1, atomic_load(&ran_during_read));
	/* The module saw the block and woke an activation, which took the P. */
	ASSERT_GE(st.kblocks, 1);
	ASSERT_GE(st.kwakeups, 1);
	ASSERT_GE(st.upcall_takes, 1);
	/* Nothing else could have: no sysmon, and no ready to take on demand. */
	ASSERT_EQ(0, st.sysmon_takes);
	ASSERT_EQ(0, st.demand_takes);
	ASSERT_FALSE(thread_named("gmp-sysmon"));
	ASSERT_TRUE(thread_named("gmp-tick"));
}

/* ---- pinned activations ------------------------------------------------ */

TEST(activations_wait_pinned_and_unpin_after_one_goroutine)
{
	struct gmp_handoff_stats st;
	cpu_set_t set;
	int ncpu = process_cpus(&set);

	NEED_KMOD();
	if (ncpu < 2)
		SKIP(return, "one CPU: activations are not pinned");
	KRUN(1, 0, pin_main, NULL);
	st = stats();
	ASSERT_EQ(1, atomic_load(&ran_during_read));
	ASSERT_GE(st.upcall_takes, 1);
	/* The two parked activations, each on a CPU of its own; nobody else. */
	ASSERT_EQ(2, atomic_load(&pin_parked));
	ASSERT_EQ(2, atomic_load(&pin_pinned));
	ASSERT_EQ(2, atomic_load(&pin_distinct));
	ASSERT_GE(st.pins, 2);
	/*
	 * The activation runs the goroutine it took the P for still pinned,
	 * then has every CPU back; Ms that were not activations have them all.
	 */
	ASSERT_EQ(ncpu, atomic_load(&pin_main_cpus));
	ASSERT_EQ(1, atomic_load(&pin_writer_cpus));
	ASSERT_EQ(ncpu, atomic_load(&pin_yield_cpus));
	ASSERT_EQ(ncpu, atomic_load(&pin_after_cpus));
}

/* pin_main ran, its pool of pin_pool parked, none of them pinned. */
static void unpinned_check(struct __test_metadata *_metadata, int ncpu)
{
	struct gmp_handoff_stats st = stats();

	ASSERT_EQ(1, atomic_load(&ran_during_read));
	ASSERT_GE(st.upcall_takes, 1);
	ASSERT_EQ(pin_pool, atomic_load(&pin_parked));
	if (ncpu >= 2)
		ASSERT_EQ(0, atomic_load(&pin_pinned));
	ASSERT_EQ(0, st.pins);
	ASSERT_EQ(ncpu, atomic_load(&pin_writer_cpus));
	ASSERT_EQ(ncpu, atomic_load(&pin_yield_cpus));
}

TEST(activations_unpinned_when_asked)
{
	cpu_set_t set;
	int ncpu = process_cpus(&set);

	NEED_KMOD();
	ASSERT_EQ(0, setenv("GMP_PIN_ACTIVATIONS", "0", 1));
	KRUN(1, 0, pin_main, NULL);
	unpinned_check(_metadata, ncpu);
}

/* Fewer activations than CPUs: gmp.ko's fallback needs them unpinned. */
TEST(activations_unpinned_when_fewer_than_cpus)
{
	cpu_set_t set;
	int ncpu = process_cpus(&set);

	NEED_KMOD();
	if (ncpu < 2)
		SKIP(return, "one CPU: activations are not pinned");
	ASSERT_EQ(0, setenv("GMP_ACTIVATIONS", "1", 1));
	pin_pool = 1;
	KRUN(1, 0, pin_main, NULL);
	unpinned_check(_metadata, ncpu);
}

/*
 * One P, two pinned activations, REJOIN_N handoffs: main readies rj_b and
 * blocks in read(2); the activation that takes the P runs rj_b, which
 * parks again at once, and is left with nothing to run. Only once it
 * waits again (both activations in GMP_IOC_WAIT) does a plain thread
 * write the byte that wakes main, whose M then finds the P idle. The
 * activation waits on the CPU it is still pinned to, which no other
 * activation took: no sched_setaffinity call either way. (It used to
 * unpin as rj_b left it and pin itself again to wait: two a handoff.)
 */
#define REJOIN_N 20
static int rjp[2];
static gmp_chan_t *rj_go;
static _Atomic int rj_ran;
static _Atomic unsigned long rj_calls;

static void rj_b(void *arg)
{
	(void)arg;
	for (int i = 0; i < REJOIN_N; i++) {
		GT_CHECK_EQ(0, gmp_chan_recv(rj_go, NULL));
		atomic_fetch_add(&rj_ran, 1);
	}
}

static void *rj_writer(void *arg)
{
	char c = 'r';

	(void)arg;
	for (int i = 1; i <= REJOIN_N; i++) {
		WAIT_UNTIL(atomic_load(&rj_ran) == i && parked() == pin_pool);
		GT_CHECK_EQ(1, write(rjp[1], &c, 1));
	}
	return NULL;
}

static void rj_main(void *arg)
{
	unsigned long before;
	pthread_t t;
	char c = 0;

	(void)arg;
	GT_CHECK_EQ(0, pipe(rjp));
	GT_CHECK_EQ(0, gmp_chan_make(&rj_go, 0, 1));
	gmp_go(rj_b, NULL);
	WAIT_UNTIL(parked() == pin_pool);
	GT_CHECK_EQ(0, pthread_create(&t, NULL, rj_writer, NULL));
	before = __gmp_test_pin_syscalls();
	for (int i = 0; i < REJOIN_N; i++) {
		GT_CHECK_EQ(0, gmp_chan_send(rj_go, NULL));
		GT_CHECK_EQ(1, gmp_read(rjp[0], &c, 1));
	}
	atomic_store(&rj_calls, __gmp_test_pin_syscalls() - before);
	GT_CHECK_EQ(0, pthread_join(t, NULL));
	gmp_chan_free(rj_go);
	close(rjp[0]);
	close(rjp[1]);
}

/* kmod, one P, fn run with its activations pinned (two CPUs or more). */
#define PINNED_KRUN(fn) do {						\
	cpu_set_t __set;						\
									\
	NEED_KMOD();							\
	if (process_cpus(&__set) < 2)					\
		SKIP(return, "one CPU: activations are not pinned");	\
	KRUN(1, 0, (fn), NULL);						\
} while (0)

TEST(activation_with_nothing_to_run_waits_again_still_pinned)
{
	struct gmp_handoff_stats st;

	PINNED_KRUN(rj_main);
	st = stats();
	ASSERT_EQ(REJOIN_N, atomic_load(&rj_ran));
	/* Every handoff was an activation's, each back to a pinned wait... */
	ASSERT_GE(st.upcall_takes, REJOIN_N);
	ASSERT_GE(st.pins, REJOIN_N);
	/* ... that made (next to) no sched_setaffinity call: not 2 each. */
	TH_LOG("sched_setaffinity calls in %d handoffs: %lu", REJOIN_N,
	       atomic_load(&rj_calls));
	ASSERT_LE(atomic_load(&rj_calls), REJOIN_N / 4);
}

/*
 * One P, two pinned activations. main blocks in read(mva) with mv_b and
 * mv_c queued; the activation on main's CPU takes the P and runs mv_b,
 * which blocks at once in read(mvb), still pinned there. No activation
 * waits on that CPU now: the other one, pinned to the other CPU, is woken
 * and takes the P for mv_c. It must run mv_c on the CPU mv_b's M left,
 * not on its own, where it would push aside whatever ran while that CPU
 * idles.
 *
 * A preemption tick can upset the order: main, told to yield as it
 * enters gmp_go(mv_b), lets mv_c run first, and its read never blocks
 * (then it closed the pipes before mv_b ran, once, in the debug kernel).
 * main starts each round on a fresh time slice, waits for both, and a
 * round in which mv_c ran before mv_b had is run again (MV_ROUNDS at
 * most).
 */
#define MV_ROUNDS 5
static int mva[2], mvb[2];
static _Atomic int mv_b_in, mv_in_order, mv_rounds;
static _Atomic int mv_b_cpu = -1, mv_c_cpu = -1, mv_b_cpus, mv_c_cpus;
static struct gmp_waitgroup mv_wg;

static void mv_b(void *arg)
{
	cpu_set_t set;
	char c = 0;

	(void)arg;
	atomic_store(&mv_b_in, 1);
	atomic_store(&mv_b_cpus, process_cpus(&set));
	atomic_store(&mv_b_cpu, sched_getcpu());
	GT_CHECK_EQ(1, gmp_read(mvb[0], &c, 1));
	gmp_wg_done(&mv_wg);
}

static void mv_c(void *arg)
{
	cpu_set_t set;
	char c = 'm';

	(void)arg;
	/* On the only P, after mv_b: mv_b is blocked in its read. */
	atomic_store(&mv_in_order, atomic_load(&mv_b_in));
	atomic_store(&mv_c_cpus, process_cpus(&set));
	atomic_store(&mv_c_cpu, sched_getcpu());
	GT_CHECK_EQ(1, write(mvb[1], &c, 1));
	GT_CHECK_EQ(1, write(mva[1], &c, 1));
	gmp_wg_done(&mv_wg);
}

static void mv_main(void *arg)
{
	char c = 0;

	(void)arg;
	GT_CHECK_EQ(0, pipe(mva));
	GT_CHECK_EQ(0, pipe(mvb));
	while (!atomic_load(&mv_in_order) &&
	       atomic_load(&mv_rounds) < MV_ROUNDS) {
		atomic_fetch_add(&mv_rounds, 1);
		atomic_store(&mv_b_in, 0);
		WAIT_UNTIL(parked() == pin_pool);
		GT_CHECK_EQ(0, gmp_wg_add(&mv_wg, 2));
		gmp_yield();		/* a fresh time slice */
		gmp_go(mv_c, NULL);	/* queued */
		gmp_go(mv_b, NULL);	/* runnext: it runs first */
		GT_CHECK_EQ(1, gmp_read(mva[0], &c, 1));
		GT_CHECK_EQ(0, gmp_wg_wait(&mv_wg));
	}
	WAIT_UNTIL(parked() == pin_pool);	/* mv_b's M is back too */
	close(mva[0]);
	close(mva[1]);
	close(mvb[0]);
	close(mvb[1]);
}

TEST(activation_woken_for_another_cpu_runs_there)
{
	struct gmp_handoff_stats st;

	PINNED_KRUN(mv_main);
	st = stats();
	TH_LOG("rounds: %d", atomic_load(&mv_rounds));
	ASSERT_EQ(1, atomic_load(&mv_in_order));
	ASSERT_GE(st.upcall_takes, 2);
	/* mv_b ran pinned (on the activation that took main's P)... */
	ASSERT_EQ(1, atomic_load(&mv_b_cpus));
	/* ... and mv_c too, on the CPU mv_b's M blocked on. */
	ASSERT_EQ(1, atomic_load(&mv_c_cpus));
	TH_LOG("mv_b on CPU %d, mv_c on CPU %d", atomic_load(&mv_b_cpu),
	       atomic_load(&mv_c_cpu));
	ASSERT_EQ(atomic_load(&mv_b_cpu), atomic_load(&mv_c_cpu));
}

/* ---- transparent: a raw read(2), and the P-less M stops ---------------- */

static _Atomic int past_runtime_call, passed_too_early;

static void t_writer(void *arg)
{
	char c = 'y';

	(void)arg;
	while (!atomic_load(&in_read))
		gmp_yield();
	atomic_fetch_add(&ran_during_read, 1);
	GT_CHECK_EQ(1, write(pfd[1], &c, 1));
	/*
	 * The reader's M comes back without its P (we hold it) and runs on
	 * until its next runtime call; there it must stop (the runtime counts
	 * it as lost) while we hold the only P. Spin (no libgmp call that
	 * schedules: we keep the P) and watch which comes first.
	 */
	for (;;) {
		if (atomic_load(&past_runtime_call)) {
			/* Past it: fine only if it had stopped there first. */
			if (stats().lost == 0)
				atomic_store(&passed_too_early, 1);
			break;
		}
		if (stats().lost > 0)
			break;	/* stopped, as it must */
	}
}

static void transparent_main(void *arg)
{
	char c = 0;

	(void)arg;
	GT_CHECK_EQ(0, pipe(pfd));
	WAIT_UNTIL(parked() > 0);
	gmp_go(t_writer, NULL);
	atomic_store(&in_read, 1);
	/* Not a wrapper: only transparent mode can release the P here. */
	GT_CHECK_EQ(1, read(pfd[0], &c, 1));
	atomic_store(&in_read, 0);
	GT_CHECK_EQ('y', c);
	/* G code on no P: allowed until... */
	gmp_preempt_check();		/* ...here, where it must stop */
	atomic_store(&past_runtime_call, 1);
	GT_CHECK_EQ(0, gmp_p_index());
	close(pfd[0]);
	close(pfd[1]);
}

TEST(raw_read_handed_off_in_transparent_mode)
{
	struct gmp_handoff_stats st;

	NEED_KMOD();
	KRUN(1, GMP_CONFIG_TRANSPARENT, transparent_main, NULL);
	st = stats();
	ASSERT_EQ(1, st.transparent);
	ASSERT_EQ(1, atomic_load(&ran_during_read));
	ASSERT_GE(st.kwakeups, 1);
	ASSERT_GE(st.upcall_takes, 1);
	ASSERT_EQ(0, st.sysmon_takes);
	ASSERT_EQ(0, st.demand_takes);
	/* The reader's M noticed its P was gone, and stopped in time. */
	ASSERT_GE(st.lost, 1);
	ASSERT_EQ(0, atomic_load(&passed_too_early));
	ASSERT_EQ(1, atomic_load(&past_runtime_call));
	ASSERT_FALSE(thread_named("gmp-sysmon"));
}

/* ---- stale events: blocks long over when an activation sees them ------ */

#define STALE_READS 8

/*
 * A plain thread: feed one byte per block of the reader, once it sleeps;
 * then, if asked, wait for one more block and call last().
 */
struct feeder {
	int fd;
	int n;			/* bytes to write, one per block */
	uint64_t blocks0;	/* the module's block count before the first */
	void (*last)(void);
};

static void *feed(void *arg)
{
	struct feeder *f = arg;

	for (int i = 0; i < f->n; i++) {
		char c = (char)i;

		/* The reader's M is asleep in read(2) now: the module says so. */
		WAIT_UNTIL(stats().kblocks >= f->blocks0 + i + 1);
		if (write(f->fd, &c, 1) != 1)
			atomic_fetch_add(&gt_failures, 1);
	}
	if (f->last) {
		WAIT_UNTIL(stats().kblocks >= f->blocks0 + f->n + 1);
		f->last();
	}
	return NULL;
}

static void stale_main(void *arg)
{
	struct feeder f = { .n = STALE_READS, .blocks0 = stats().kblocks };
	struct gmp_handoff_stats st;
	pthread_t t;
	char c;

	(void)arg;
	GT_CHECK_EQ(0, pipe(pfd));
	f.fd = pfd[1];
	GT_CHECK_EQ(0, pthread_create(&t, NULL, feed, &f));
	/* No activation yet: each block's event waits in the ring. */
	for (int i = 0; i < STALE_READS; i++) {
		GT_CHECK_EQ(1, gmp_read(pfd[0], &c, 1));
		GT_CHECK_EQ(i, c);
	}
	pthread_join(t, NULL);
	st = stats();
	GT_CHECK_EQ(0, st.upcalls);
	GT_CHECK(st.kevents >= STALE_READS);
	/* Now activations come, and find every one of those blocks over. */
	__gmp_kmod_test_hold(false);
	while (stats().upcalls < STALE_READS)
		gmp_sleep(1000 * 1000);
	st = stats();
	GT_CHECK(st.stale >= STALE_READS);
	GT_CHECK_EQ(0, st.upcall_takes);	/* our P was never taken */
	GT_CHECK_EQ(0, st.lost);
	GT_CHECK_EQ(0, gmp_p_index());
	close(pfd[0]);
	close(pfd[1]);
}

TEST(stale_events_are_ignored)
{
	NEED_KMOD();
	__gmp_kmod_test_hold(true);
	KRUN(1, 0, stale_main, NULL);
}

/* ---- the pool is empty when the block happens: served later ------------ */

static _Atomic int checked_while_held;

static void check_while_held(void)
{
	struct gmp_handoff_stats st = stats();

	/* The only P is held by a sleeping M and nobody may take it yet. */
	if (atomic_load(&writer_ran) || st.upcalls != 0 || st.activations != 0 ||
	    st.kevents < 1) {
		fprintf(stderr, "# while held: writer_ran %d upcalls %llu activations %u events %llu\n",
			atomic_load(&writer_ran), (unsigned long long)st.upcalls,
			st.activations, (unsigned long long)st.kevents);
		atomic_fetch_add(&gt_failures, 1);
	}
	atomic_store(&checked_while_held, 1);
	__gmp_kmod_test_hold(false);	/* the event waits for this one */
}

static void *release_when_blocked(void *arg)
{
	(void)arg;
	WAIT_UNTIL(stats().kblocks >= 1);
	check_while_held();
	return NULL;
}

static void empty_pool_main(void *arg)
{
	pthread_t t;
	char c = 0;

	(void)arg;
	GT_CHECK_EQ(0, pipe(pfd));
	gmp_go(writer, NULL);
	GT_CHECK_EQ(0, pthread_create(&t, NULL, release_when_blocked, NULL));
	atomic_store(&in_read, 1);
	GT_CHECK_EQ(1, gmp_read(pfd[0], &c, 1));
	atomic_store(&in_read, 0);
	GT_CHECK_EQ('x', c);
	pthread_join(t, NULL);
	close(pfd[0]);
	close(pfd[1]);
}

TEST(empty_pool_event_served_later)
{
	struct gmp_handoff_stats st;

	NEED_KMOD();
	__gmp_kmod_test_hold(true);
	KRUN(1, 0, empty_pool_main, NULL);
	st = stats();
	ASSERT_EQ(1, atomic_load(&checked_while_held));
	ASSERT_EQ(1, atomic_load(&ran_during_read));
	ASSERT_GE(st.upcall_takes, 1);
	ASSERT_EQ(0, st.sysmon_takes);
	ASSERT_EQ(0, st.demand_takes);
}

/* ---- the ring overflows while nobody serves it: rescan ------------------ */

#define OVERFLOW_RING	16
#define OVERFLOW_READS	(OVERFLOW_RING + 4)

static void overflow_main(void *arg)
{
	struct feeder f = { .n = OVERFLOW_READS - 1, .blocks0 = stats().kblocks };
	pthread_t t;
	char c;

	(void)arg;
	GT_CHECK_EQ(0, pipe(pfd));
	f.fd = pfd[1];
	f.last = check_while_held;	/* at the last block: the ring overflowed */
	GT_CHECK_EQ(0, pthread_create(&t, NULL, feed, &f));
	/* Stale blocks fill the ring; the last one's record is lost. */
	for (int i = 0; i < OVERFLOW_READS - 1; i++)
		GT_CHECK_EQ(1, gmp_read(pfd[0], &c, 1));
	/* The last block, with work queued: only a rescan can find it. */
	gmp_go(writer, NULL);
	atomic_store(&in_read, 1);
	GT_CHECK_EQ(1, gmp_read(pfd[0], &c, 1));
	atomic_store(&in_read, 0);
	pthread_join(t, NULL);
	close(pfd[0]);
	close(pfd[1]);
}

TEST(ring_overflow_rescans_all_ps)
{
	struct gmp_handoff_stats st;

	NEED_KMOD();
	__gmp_kmod_test_hold(true);
	__gmp_kmod_test_ring(OVERFLOW_RING);
	KRUN(1, 0, overflow_main, NULL);
	st = stats();
	ASSERT_EQ(1, atomic_load(&ran_during_read));
	ASSERT_GE(st.koverflows, OVERFLOW_READS - OVERFLOW_RING);
	ASSERT_GE(st.overflows, 1);
	ASSERT_GE(st.upcall_takes, 1);
	ASSERT_EQ(0, st.demand_takes);
}

/* ---- on demand: work readied later takes a P whose M sleeps ------------- */

static void *spawn_writer_later(void *arg)
{
	(void)arg;
	/* An activation saw the block and left the P (nothing to run then). */
	WAIT_UNTIL(stats().upcalls >= 1);
	if (stats().upcall_takes != 0)
		atomic_fetch_add(&gt_failures, 1);
	/* From a plain thread: the global queue, and no P is idle. */
	if (gmp_go(writer, NULL) <= 0)
		atomic_fetch_add(&gt_failures, 1);
	return NULL;
}

static void demand_main(void *arg)
{
	pthread_t t;
	char c = 0;

	(void)arg;
	GT_CHECK_EQ(0, pipe(pfd));
	WAIT_UNTIL(parked() > 0);
	GT_CHECK_EQ(0, pthread_create(&t, NULL, spawn_writer_later, NULL));
	atomic_store(&in_read, 1);
	GT_CHECK_EQ(1, gmp_read(pfd[0], &c, 1));
	atomic_store(&in_read, 0);
	pthread_join(t, NULL);
	close(pfd[0]);
	close(pfd[1]);
}

TEST(runnable_g_takes_sleeping_ms_p_on_demand)
{
	struct gmp_handoff_stats st;

	NEED_KMOD();
	KRUN(1, 0, demand_main, NULL);
	st = stats();
	ASSERT_EQ(1, atomic_load(&ran_during_read));
	ASSERT_EQ(0, st.upcall_takes);
	ASSERT_GE(st.demand_takes, 1);
	ASSERT_EQ(0, st.sysmon_takes);
}

TEST(sleeping_ms_p_taken_to_steal_from_a_busy_p)
{
	NEED_KMOD();
	KRUN(2, 0, steal_main, NULL);
	steal_check(_metadata);
	ASSERT_GE(stats().upcall_takes, 1);
}

/* ---- many goroutines blocking and unblocking on every P ----------------- */

#define PAIRS	16
#define ROUNDS	SCALE(200)

static int ping[PAIRS][2], pong[PAIRS][2];
static _Atomic long exchanged, computed;
static _Atomic int finished;
static struct gmp_waitgroup wg;
static bool raw_calls;

static ssize_t xread(int fd, void *b, size_t n)
{
	return raw_calls ? read(fd, b, n) : gmp_read(fd, b, n);
}

static ssize_t xwrite(int fd, const void *b, size_t n)
{
	return raw_calls ? write(fd, b, n) : gmp_write(fd, b, n);
}

static void pinger(void *arg)
{
	int i = (int)(intptr_t)arg;

	for (int r = 0; r < ROUNDS; r++) {
		int v = r, got = -1;

		GT_CHECK_EQ((ssize_t)sizeof(v), xwrite(ping[i][1], &v, sizeof(v)));
		GT_CHECK_EQ((ssize_t)sizeof(got), xread(pong[i][0], &got, sizeof(got)));
		GT_CHECK_EQ(r + 1, got);
		atomic_fetch_add(&exchanged, 1);
		if (r % 16 == 0)
			gmp_yield();
	}
	atomic_fetch_add(&finished, 1);
	gmp_wg_done(&wg);
}

static void ponger(void *arg)
{
	int i = (int)(intptr_t)arg;

	for (int r = 0; r < ROUNDS; r++) {
		int v = -1;

		GT_CHECK_EQ((ssize_t)sizeof(v), xread(ping[i][0], &v, sizeof(v)));
		v++;
		GT_CHECK_EQ((ssize_t)sizeof(v), xwrite(pong[i][1], &v, sizeof(v)));
		atomic_fetch_add(&exchanged, 1);
	}
	atomic_fetch_add(&finished, 1);
	gmp_wg_done(&wg);
}

static void computer(void *arg)
{
	volatile unsigned long x = (uintptr_t)arg;

	while (atomic_load(&finished) < 2 * PAIRS) {
		for (int k = 0; k < 10000; k++)
			x = x * 6364136223846793005UL + 1;
		atomic_fetch_add(&computed, 1);
		gmp_preempt_check();
	}
	gmp_wg_done(&wg);
}

static void many_main(void *arg)
{
	int procs = gmp_maxprocs();

	(void)arg;
	for (int i = 0; i < PAIRS; i++) {
		GT_CHECK_EQ(0, pipe(ping[i]));
		GT_CHECK_EQ(0, pipe(pong[i]));
	}
	gmp_wg_add(&wg, 2 * PAIRS + procs);
	for (int i = 0; i < procs; i++)
		gmp_go(computer, (void *)(intptr_t)i);
	for (int i = 0; i < PAIRS; i++) {
		gmp_go(pinger, (void *)(intptr_t)i);
		gmp_go(ponger, (void *)(intptr_t)i);
	}
	gmp_wg_wait(&wg);
	GT_CHECK_EQ(2L * PAIRS * ROUNDS, atomic_load(&exchanged));
	GT_CHECK_EQ(2 * PAIRS, atomic_load(&finished));
	for (int i = 0; i < PAIRS; i++) {
		close(ping[i][0]);
		close(ping[i][1]);
		close(pong[i][0]);
		close(pong[i][1]);
	}
}

/*
 * Our threads pinned to one CPU that are not parked in GMP_IOC_WAIT: an
 * M left pinned after its activation's wait (idle, the timer M, ...).
 */
static bool pinned_not_waiting_tid(int tid, void *arg)
{
	char line[256];

	(void)arg;
	return tid_pinned(tid, NULL) && task_line(tid, "syscall", line, sizeof(line)) &&
	       !in_gmp_wait(line, NULL);
}

static int pinned_not_waiting(void)
{
	return count_tids(pinned_not_waiting_tid, NULL);
}

/* The storm's counters, for a hang's report (hang_watch). */
static void many_report(void)
{
	struct gmp_handoff_stats st = stats();

	fprintf(stderr, "# exchanged %ld of %ld, finished %d of %d, computed %ld\n"
		"# activations %u, kblocks %llu, upcalls %llu, upcall takes %llu, "
		"demand takes %llu, stale %llu, lost %llu, pinned not waiting %d\n",
		atomic_load(&exchanged), 2L * PAIRS * ROUNDS, atomic_load(&finished),
		2 * PAIRS, atomic_load(&computed), st.activations,
		(unsigned long long)st.kblocks, (unsigned long long)st.upcalls,
		(unsigned long long)st.upcall_takes, (unsigned long long)st.demand_takes,
		(unsigned long long)st.stale, (unsigned long long)st.lost,
		pinned_not_waiting());
}

static void many_check(struct __test_metadata *_metadata)
{
	struct gmp_handoff_stats st = stats();
	int distinct;

	ASSERT_EQ(2L * PAIRS * ROUNDS, atomic_load(&exchanged));
	ASSERT_GE(st.kblocks, 1);
	ASSERT_GE(st.upcalls, 1);
	ASSERT_EQ(0, st.sysmon_takes);
	/* The pool refills itself once the storm is over. */
	WAIT_UNTIL(stats().activations >= 1);
	/*
	 * After the storm of handoffs, once everything is parked, only
	 * parked activations are pinned, each to a CPU of its own (a leak
	 * hangs here, and the harness's timeout fails the test).
	 */
	WAIT_UNTIL(pinned_not_waiting() == 0);
	hang_watch_stop();
	ASSERT_EQ(pinned_threads(&distinct), distinct);
}

TEST(many_blockers_on_all_ps)
{
	NEED_KMOD();
	hang_watch(many_report);
	KRUN(0, 0, many_main, NULL);
	many_check(_metadata);
}

TEST(many_raw_blockers_on_all_ps_transparent)
{
	NEED_KMOD();
	raw_calls = true;
	hang_watch(many_report);
	KRUN(0, GMP_CONFIG_TRANSPARENT, many_main, NULL);
	many_check(_metadata);
}

/* ---- exit with Ms asleep in the kernel; the module lets go -------------- */

static void blocked_reader(void *arg)
{
	char c;

	(void)arg;
	if (arg)
		(void)!read(pfd[0], &c, 1);
	else
		(void)!gmp_read(pfd[0], &c, 1);
}

static void exit_with_blocked_main(void *arg)
{
	(void)arg;
	GT_CHECK_EQ(0, pipe(pfd));
	for (int i = 0; i < 3; i++)
		gmp_go(blocked_reader, NULL);
	gmp_go(blocked_reader, (void *)1);
	/* Let them all block in read(2). */
	while (stats().kblocks < 4)
		gmp_sleep(1000 * 1000);
}

static long module_refcnt(void)
{
	FILE *f = fopen("/sys/module/gmp/refcnt", "r");
	long v = -1;

	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

TEST(exit_with_blocked_ms_then_module_released)
{
	int status;
	pid_t pid;

	NEED_KMOD();
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		/* Ms asleep in read(2), armed (one transparent), activations parked. */
		if (start(2, GMP_CONFIG_TRANSPARENT, exit_with_blocked_main, NULL) < 0)
			_exit(2);
		exit(atomic_load(&gt_failures) ? 3 : 0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(0, WEXITSTATUS(status));
	/* Every M and group of the child freed: nobody holds the module. */
	if (module_refcnt() >= 0)
		WAIT_UNTIL(module_refcnt() == 0);
}

/* ---- auto: kmod with the module, sysmon without ------------------------ */

static void handoff_main(void *arg)
{
	char c = 0;

	(void)arg;
	GT_CHECK_EQ(0, pipe(pfd));
	gmp_go(writer, NULL);
	atomic_store(&in_read, 1);
	GT_CHECK_EQ(1, gmp_read(pfd[0], &c, 1));
	atomic_store(&in_read, 0);
	close(pfd[0]);
	close(pfd[1]);
}

TEST(auto_falls_back_to_sysmon)
{
	struct gmp_handoff_stats st;

	if (kmod_usable())
		SKIP(return, "/dev/gmp is usable: run this before insmod or after rmmod");
	if (perf_usable())
		SKIP(return, "auto picks perf here (perf_test covers auto's fallbacks to sysmon)");
	ASSERT_EQ(0, unsetenv("GMP_HANDOFF"));
	ASSERT_EQ(0, setenv("GMP_POLLER", "blocking", 1));	/* see start() */
	GT_RUN(1, handoff_main, NULL);
	st = stats();
	ASSERT_EQ(GMP_HANDOFF_SYSMON, gmp_handoff_mode());
	ASSERT_EQ(GMP_HANDOFF_SYSMON, st.mode);
	ASSERT_EQ(1, atomic_load(&ran_during_read));
	ASSERT_GE(st.sysmon_takes, 1);
	ASSERT_EQ(0, st.upcall_takes);
	ASSERT_TRUE(thread_named("gmp-sysmon"));
}

TEST(auto_uses_kmod_when_loaded)
{
	NEED_KMOD();
	ASSERT_EQ(0, unsetenv("GMP_HANDOFF"));
	ASSERT_EQ(0, setenv("GMP_POLLER", "blocking", 1));	/* see start() */
	GT_RUN(1, handoff_main, NULL);
	ASSERT_EQ(GMP_HANDOFF_KMOD, gmp_handoff_mode());
	ASSERT_EQ(1, atomic_load(&ran_during_read));
	ASSERT_FALSE(thread_named("gmp-sysmon"));
}

static void nothing(void *arg)
{
	(void)arg;
}

TEST(debug_line_names_the_mode)
{
	char buf[512] = "";
	int p[2], status;
	ssize_t n, got = 0;
	pid_t pid;

	ASSERT_EQ(0, pipe(p));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		dup2(p[1], 2);
		setenv("GMP_DEBUG", "1", 1);
		unsetenv("GMP_HANDOFF");
		_exit(gmp_run(nothing, NULL) ? 1 : 0);
	}
	close(p[1]);
	while ((n = read(p[0], buf + got, sizeof(buf) - 1 - got)) > 0)
		got += n;
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_EQ(0, status);
	TH_LOG("%s", buf);
	ASSERT_NE(NULL, strstr(buf, kmod_usable() ? "gmp: handoff kmod" :
			       perf_usable() ? "gmp: handoff perf" : "gmp: handoff sysmon"));
}

/* ---- the shim alone, without the scheduler ----------------------------- */

struct shim_m {
	struct gmp_dev *dev;
	int fd;
	_Atomic int registered;
};

static void *shim_thread(void *arg)
{
	struct shim_m *sm = arg;
	struct gmp_slot *slot;
	char c;

	if (gmp_dev_register(sm->dev, 42, 0, &slot) < 0)
		return (void *)1;
	atomic_store(&sm->registered, 1);
	/* The test's thread parks first, so the module has someone to wake. */
	WAIT_UNTIL(parked() > 0);
	gmp_dev_arm(slot);
	if (read(sm->fd, &c, 1) != 1)	/* sleeps: reported */
		return (void *)2;
	gmp_dev_disarm(slot);
	return gmp_dev_unregister(sm->dev) ? (void *)3 : NULL;
}

TEST(shim_reports_a_block_to_a_waiter)
{
	struct shim_m sm = { 0 };
	struct gmp_event ev[4];
	struct gmp_stats gs;
	struct gmp_slot *slot;
	pthread_t t;
	void *ret;
	int p[2], n;

	NEED_KMOD();
	ASSERT_EQ(0, pipe(p));
	ASSERT_EQ(0, gmp_dev_open(&sm.dev, NULL));
	ASSERT_EQ(GMP_ABI_VERSION, gmp_dev_info(sm.dev)->abi_version);
	sm.fd = p[0];
	ASSERT_EQ(0, pthread_create(&t, NULL, shim_thread, &sm));
	n = gmp_dev_wait(sm.dev, ev, 4, -1);
	ASSERT_EQ(1, n);
	ASSERT_EQ(GMP_EV_BLOCKED, ev[0].type);
	ASSERT_EQ(42, ev[0].m_id);
	slot = gmp_dev_slot(sm.dev, ev[0].slot);
	ASSERT_NE(NULL, slot);
	ASSERT_TRUE(gmp_dev_still_blocked(slot, ev[0].seq));
	ASSERT_EQ(1, write(p[1], "z", 1));
	ASSERT_EQ(0, pthread_join(t, &ret));
	ASSERT_EQ(NULL, ret);
	ASSERT_FALSE(gmp_dev_still_blocked(slot, ev[0].seq));
	/* Default setup: the wake is reported too, with the same seq. */
	ASSERT_EQ(1, gmp_dev_wait(sm.dev, ev + 1, 3, 0));
	ASSERT_EQ(GMP_EV_UNBLOCKED, ev[1].type);
	ASSERT_EQ(ev[0].seq, ev[1].seq);
	ASSERT_EQ(-EAGAIN, gmp_dev_wait(sm.dev, ev, 4, 0));
	ASSERT_EQ(0, gmp_dev_stats(sm.dev, -1, &gs));
	ASSERT_EQ(1, gs.blocks);
	ASSERT_EQ(1, gs.unblocks);
	ASSERT_EQ(1, gs.wakeups);
	ASSERT_EQ(-ENOENT, gmp_dev_stats(sm.dev, 42, &gs));	/* gone */
	gmp_dev_close(sm.dev);
	close(p[0]);
	close(p[1]);
}

TEST(shim_rejects_bad_config)
{
	struct gmp_dev_config cfg = { .size = sizeof(cfg) - 1 };
	struct gmp_dev *dev = NULL;

	ASSERT_EQ(-EINVAL, gmp_dev_open(&dev, &cfg));
	cfg.size = sizeof(cfg);
	cfg.setup_flags = 1U << 31;
	ASSERT_EQ(-EINVAL, gmp_dev_open(&dev, &cfg));
	cfg.setup_flags = 0;
	cfg.reserved[1] = 1;
	ASSERT_EQ(-EINVAL, gmp_dev_open(&dev, &cfg));
	ASSERT_EQ(NULL, dev);
	if (!kmod_usable())
		ASSERT_EQ(-ENODEV, gmp_dev_open(&dev, NULL));
}

TEST(returning_m_finds_every_p_asleep_in_a_syscall)
{
	struct gmp_handoff_stats st;

	NEED_KMOD();
	KRUN(1, 0, returner_main, NULL);
	st = stats();
	ASSERT_EQ(GMP_HANDOFF_KMOD, st.mode);
	ASSERT_FALSE(thread_named("gmp-sysmon"));
}

TEST_HARNESS_MAIN
