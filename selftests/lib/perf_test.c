// SPDX-License-Identifier: (LGPL-2.1-or-later OR MIT)
/*
 * perf_test.c - the handoff without a module (handoff_perf.c): each M's
 * context-switch perf event tells an activation that the M fell asleep.
 * The perf tests SKIP where this process cannot open such an event; the
 * auto tests that change perf_event_paranoid or perf_event_mlock_kb need
 * root (they SKIP otherwise) and restore the value; the seccomp one runs
 * anywhere.
 *
 * No timing assertions: "the M is asleep now" is a thread sitting in
 * read(2) (/proc/self/task/ * /syscall), "an activation is parked" a
 * thread in epoll_wait(2). "Only a perf take could have done it" holds
 * because the only P is held by a sleeping M, no thread polls (no
 * gmp-sysmon) and no goroutine is readied meanwhile (on-demand takes
 * need one).
 */
#include "handoff_test.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/perf_event.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/mman.h>
#include <grp.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* libgmp's hidden test hooks; we link libgmp.a. */
void __gmp_kmod_test_hold(bool on);
int __gmp_test_exit_idle_ms(int *tids, int max);

static bool kmod_usable(void)
{
	int fd = open("/dev/gmp", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

#define NOT_RT() do {							\
	if (preempt_rt())						\
		SKIP(return, "PREEMPT_RT: libgmp offers no perf mode here "	\
		     "(perf_not_offered_on_preempt_rt)");		\
} while (0)

#define NEED_PERF() do {						\
	NOT_RT();							\
	if (!perf_usable())						\
		SKIP(return, "no per-thread context-switch perf event here");	\
} while (0)

static int start(unsigned int procs, unsigned int flags, void (*fn)(void *), void *arg)
{
	return start_in(GMP_HANDOFF_PERF, procs, flags, fn, arg);
}

#define PRUN(procs, flags, fn, arg) do {				\
	ASSERT_EQ(0, start((procs), (flags), (fn), (arg)));		\
	ASSERT_EQ(0, atomic_load(&gt_failures));			\
} while (0)

struct in_call {
	long nr[3], fd;
};

static bool in_call(const char *line, void *arg)
{
	struct in_call *c = arg;
	long long nr;
	unsigned long long a0;

	return sscanf(line, "%lld %llx", &nr, &a0) == 2 &&
	       (nr == c->nr[0] || nr == c->nr[1] || nr == c->nr[2]) &&
	       (c->fd < 0 || (long)a0 == c->fd);
}

/*
 * Threads of ours asleep in system call nr (any of three) whose first
 * argument is fd (fd < 0: any). /proc shows the call only while the
 * thread sleeps in it.
 */
static int asleep_in(long nr1, long nr2, long nr3, long fd)
{
	struct in_call c = { { nr1, nr2, nr3 }, fd };

	return count_tasks("syscall", in_call, &c);
}

/* Activations parked in epoll_wait(2) (glibc may use epoll_pwait). */
static int parked(void)
{
	return asleep_in(SYS_epoll_wait, SYS_epoll_pwait, SYS_epoll_pwait2, -1);
}

static int asleep_in_read(int fd)
{
	return asleep_in(SYS_read, SYS_read, SYS_read, fd);
}

/* ---- a wrapped read on the only P: a perf record hands the P on -------- */

TEST(wrapped_read_handed_off_by_perf_record)
{
	struct gmp_handoff_stats st;

	NEED_PERF();
	PRUN(1, 0, wrapped_main, NULL);
	st = stats();
	ASSERT_EQ(GMP_HANDOFF_PERF, gmp_handoff_mode());
	ASSERT_EQ(GMP_HANDOFF_PERF, st.mode);
	ASSERT_EQ(1, atomic_load(&ran_during_read));
	/* A block record was read, and an activation took the P on it. */
	ASSERT_GE(st.perf_blocks, 1);
	ASSERT_GE(st.upcalls, 1);
	ASSERT_GE(st.perf_takes, 1);
	/* Nothing else could have: no sysmon, no module, no ready. */
	ASSERT_EQ(0, st.sysmon_takes);
	ASSERT_EQ(0, st.upcall_takes);
	ASSERT_EQ(0, st.demand_takes);
	ASSERT_EQ(0, st.kblocks);
	ASSERT_FALSE(thread_named("gmp-sysmon"));
	ASSERT_TRUE(thread_named("gmp-tick"));
}

/* ---- a P left to its sleeping M, another P's queue holding work -------- */

TEST(sleeping_ms_p_taken_to_steal_from_a_busy_p)
{
	NEED_PERF();
	PRUN(2, 0, steal_main, NULL);
	steal_check(_metadata);
	ASSERT_GE(stats().perf_takes, 1);
}

/* perf's activations share one epoll, which wakes any: none is pinned. */
TEST(activations_not_pinned_in_perf_mode)
{
	struct gmp_handoff_stats st;
	cpu_set_t set;
	int ncpu = process_cpus(&set);

	NEED_PERF();
	PRUN(1, 0, pin_main, NULL);
	st = stats();
	ASSERT_EQ(1, atomic_load(&ran_during_read));
	ASSERT_GE(st.perf_takes, 1);
	ASSERT_EQ(0, atomic_load(&pin_pinned));
	ASSERT_EQ(0, st.pins);
	ASSERT_EQ(ncpu, atomic_load(&pin_writer_cpus));
	ASSERT_EQ(ncpu, atomic_load(&pin_yield_cpus));
}

/* ---- transparent mode: a raw read(2) releases the P too ---------------- */

static void t_writer(void *arg)
{
	char c = 'y';

	(void)arg;
	while (!atomic_load(&in_read))
		gmp_yield();
	atomic_fetch_add(&ran_during_read, 1);
	GT_CHECK_EQ(1, write(pfd[1], &c, 1));
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
	gmp_preempt_check();	/* our P may be gone: we stop here, then */
	GT_CHECK_EQ(0, gmp_p_index());
	close(pfd[0]);
	close(pfd[1]);
}

TEST(raw_read_handed_off_in_transparent_mode)
{
	struct gmp_handoff_stats st;

	NEED_PERF();
	PRUN(1, GMP_CONFIG_TRANSPARENT, transparent_main, NULL);
	st = stats();
	ASSERT_EQ(1, st.transparent);
	ASSERT_EQ(1, atomic_load(&ran_during_read));
	ASSERT_GE(st.perf_takes, 1);
	ASSERT_EQ(0, st.sysmon_takes);
	ASSERT_EQ(0, st.demand_takes);
	ASSERT_FALSE(thread_named("gmp-sysmon"));
}

/* ---- a full ring: PERF_RECORD_LOST, and every P looked at ------------- */

/* One data page: 512 switch records. The sleeps below write about 2400. */
#define LOST_SLEEPS	1200

static _Atomic int checked_while_held;

static void *release_when_blocked(void *arg)
{
	struct gmp_handoff_stats st;

	(void)arg;
	/* The reader sleeps in read(2): its block's record found no room. */
	WAIT_UNTIL(asleep_in_read(pfd[0]) == 1);
	st = stats();
	/* Nobody has read a ring yet, nor could have run the writer. */
	if (atomic_load(&writer_ran) || st.upcalls != 0 || st.activations != 0 ||
	    st.perf_takes != 0) {
		fprintf(stderr, "# while held: writer_ran %d upcalls %llu activations %u takes %llu\n",
			atomic_load(&writer_ran), (unsigned long long)st.upcalls,
			st.activations, (unsigned long long)st.perf_takes);
		atomic_fetch_add(&gt_failures, 1);
	}
	atomic_store(&checked_while_held, 1);
	__gmp_kmod_test_hold(false);	/* activations come, and find a full ring */
	return NULL;
}

static void lost_main(void *arg)
{
	struct timespec ts = { 0, 1000 };
	pthread_t t;
	char c = 0;

	(void)arg;
	GT_CHECK_EQ(0, pipe(pfd));
	/* No activation reads our ring: each sleep's two records pile up. */
	for (int i = 0; i < LOST_SLEEPS; i++)
		GT_CHECK_EQ(0, gmp_nanosleep(&ts, NULL));
	gmp_go(writer, NULL);
	GT_CHECK_EQ(0, pthread_create(&t, NULL, release_when_blocked, NULL));
	atomic_store(&in_read, 1);
	GT_CHECK_EQ(1, gmp_read(pfd[0], &c, 1));
	atomic_store(&in_read, 0);
	GT_CHECK_EQ('x', c);
	pthread_join(t, NULL);
	/* Our wake wrote PERF_RECORD_LOST before its record: someone reads it. */
	while (stats().perf_lost == 0)
		gmp_sleep(1000 * 1000);
	close(pfd[0]);
	close(pfd[1]);
}

TEST(lost_records_make_activations_rescan)
{
	struct gmp_handoff_stats st;

	NEED_PERF();
	ASSERT_EQ(0, setenv("GMP_PERF_PAGES", "1", 1));
	__gmp_kmod_test_hold(true);
	PRUN(1, 0, lost_main, NULL);
	st = stats();
	ASSERT_EQ(1, atomic_load(&checked_while_held));
	ASSERT_EQ(1, atomic_load(&ran_during_read));
	/* The full ring was taken for lost records: a rescan took the P. */
	ASSERT_GE(st.overflows, 1);
	ASSERT_GE(st.perf_takes, 1);
	ASSERT_GE(st.perf_lost, 1);
	ASSERT_EQ(0, st.sysmon_takes);
	ASSERT_EQ(0, st.demand_takes);
}

static void nothing(void *arg)
{
	(void)arg;
}

TEST(bad_perf_pages_rejected)
{
	ASSERT_EQ(0, setenv("GMP_PERF_PAGES", "3", 1));	/* not a power of two */
	ASSERT_EQ(0, setenv("GMP_HANDOFF", "perf", 1));
	ASSERT_EQ(-EINVAL, gmp_run(nothing, NULL));
	ASSERT_EQ(0, gmp_handoff_mode());
	ASSERT_EQ(0, setenv("GMP_HANDOFF", "auto", 1));	/* auto too */
	ASSERT_EQ(-EINVAL, gmp_run(nothing, NULL));
}

/* ---- Ms come and go: no perf fd or mapping of theirs stays ------------- */

/*
 * Driven from this (plain) thread, so that once the blockers are done the
 * runtime is idle - no goroutine, no timer - and no M is made or woken
 * while we count: every M is then parked in epoll_wait (an activation) or
 * on the idle list, and both kinds have their event open.
 */
#define BLOCKERS	8
#define POOL		3

static int bpipe[BLOCKERS][2];
static _Atomic int blockers_done;

static void blocker(void *arg)
{
	char c;

	GT_CHECK_EQ(1, gmp_read(bpipe[(intptr_t)arg][0], &c, 1));
	atomic_fetch_add(&blockers_done, 1);
}

struct census {
	int fds, perf_fds, perf_maps, maps, tasks;
};

static int count_dir(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static struct census census(void)
{
	struct census c = { 0 };
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	char line[512];
	FILE *f;

	if (d) {
		while ((e = readdir(d))) {
			char path[300], target[256];
			ssize_t n;

			if (e->d_name[0] == '.' || atoi(e->d_name) == dirfd(d))
				continue;
			c.fds++;
			snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
			n = readlink(path, target, sizeof(target) - 1);
			if (n > 0) {
				target[n] = '\0';
				c.perf_fds += !!strstr(target, "[perf_event]");
			}
		}
		closedir(d);
	}
	f = fopen("/proc/self/maps", "r");
	if (f) {
		while (fgets(line, sizeof(line), f)) {
			c.maps++;
			c.perf_maps += !!strstr(line, "[perf_event]");
		}
		fclose(f);
	}
	c.tasks = count_dir("/proc/self/task");
	return c;
}

/*
 * Threads that are no Ms (ours, a sanitizer's, gmp-tick), counted at the
 * first quiet(); -1 before.
 */
static int non_ms = -1;

/* Every M parked: in epoll_wait (the pool full) or on the idle list. */
static bool at_rest(int *live, int *nparked, int *idle)
{
	*nparked = parked();
	*idle = __gmp_test_idle_ms();
	*live = __gmp_test_live_ms();
	return *nparked == POOL && stats().activations == POOL &&
	       *live == *nparked + *idle;
}

/*
 * The runtime at rest, and no other thread but the non-Ms. Returns the
 * census then, its Ms in *ms.
 */
static struct census quiet(int *ms)
{
	for (int i = 1;; i++) {
		int live, np, idle, live2, np2, idle2;
		struct census c = { 0 };

		/* The census between two looks that find the same rest. */
		if (at_rest(&live, &np, &idle)) {
			c = census();
			if (at_rest(&live2, &np2, &idle2) && live2 == live &&
			    idle2 == idle && c.tasks == census().tasks &&
			    (non_ms < 0 || c.tasks - live == non_ms)) {
				*ms = live;
				if (non_ms < 0)
					non_ms = c.tasks - live;
				return c;
			}
		}
		if (i % 5000 == 0)	/* what we wait for, should it never come */
			fprintf(stderr, "# not quiet: %d tasks (%d no Ms), %d Ms, %d in "
				"epoll_wait, pool %u, %d idle\n", census().tasks, non_ms,
				live, np, stats().activations, idle);
		usleep(1000);
	}
}

static bool task_alive(int tid)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/self/task/%d", tid);
	return access(path, F_OK) == 0;
}

/* BLOCKERS goroutines asleep in read(2) at once: one M each. */
static void block_all(void)
{
	atomic_store(&blockers_done, 0);
	for (int i = 0; i < BLOCKERS; i++)
		GT_CHECK_EQ(0, pipe(bpipe[i]));
	for (int i = 0; i < BLOCKERS; i++)
		GT_CHECK(gmp_go(blocker, (void *)(intptr_t)i) > 0);
	for (int i = 0; i < BLOCKERS; i++) {
		for (int k = 1; asleep_in_read(bpipe[i][0]) != 1; k++) {
			if (k % 5000 == 0)
				fprintf(stderr, "# blocker %d not asleep in read yet (%llu perf takes)\n",
					i, (unsigned long long)stats().perf_takes);
			usleep(1000);
		}
	}
	for (int i = 0; i < BLOCKERS; i++)
		GT_CHECK_EQ(1, write(bpipe[i][1], "z", 1));
	WAIT_UNTIL(atomic_load(&blockers_done) == BLOCKERS);
	for (int i = 0; i < BLOCKERS; i++) {
		close(bpipe[i][0]);
		close(bpipe[i][1]);
	}
}

/* The idle Ms exit; wait until their threads are gone. */
static int exit_idle(void)
{
	int tids[64], n = __gmp_test_exit_idle_ms(tids, 64);

	GT_CHECK(n <= 64);
	for (int i = 0; i < n && i < 64; i++)
		WAIT_UNTIL(!task_alive(tids[i]));
	return n;
}

static struct census before_start;

/* Each M has exactly one perf fd and one perf mapping; no other fd stays. */
static void check_census(struct __test_metadata *_metadata, struct census c, int ms)
{
	TH_LOG("%d Ms: %d perf fds, %d perf mappings; %d fds (%d before the start); "
	       "%d mappings (%d before)", ms, c.perf_fds, c.perf_maps, c.fds,
	       before_start.fds, c.maps, before_start.maps);
	ASSERT_EQ(ms, c.perf_fds);
	ASSERT_EQ(ms, c.perf_maps);
	ASSERT_EQ(before_start.fds + 1 + ms, c.fds);	/* + the epoll fd */
}

TEST(ms_that_exit_leave_no_fd_or_mapping)
{
	struct gmp_config cfg = {
		.size = sizeof(cfg), .maxprocs = 2, .handoff = GMP_HANDOFF_PERF,
		.poller = GMP_POLLER_BLOCKING,
	};
	struct census c, after[2];
	int exited[2], ms, ms_after[2];

	NEED_PERF();
	ASSERT_EQ(0, setenv("GMP_ACTIVATIONS", "3", 1));
	before_start = census();
	ASSERT_EQ(0, before_start.perf_fds);
	ASSERT_EQ(0, before_start.perf_maps);
	ASSERT_EQ(0, gmp_init(&cfg));
	/*
	 * At first the pool's Ms, parked as soon as they start - and now and
	 * then one more, idle: an activation woken for nothing while another
	 * M joined the pool finds it full and parks idle instead.
	 */
	non_ms = -1;
	c = quiet(&ms);
	ASSERT_GE(ms, POOL);
	check_census(_metadata, c, ms);
	for (int round = 0; round < 2; round++) {
		block_all();
		ASSERT_EQ(0, atomic_load(&gt_failures));
		c = quiet(&ms);
		check_census(_metadata, c, ms);
		/* Blocks on 2 Ps with 3 activations: more Ms than the pool. */
		ASSERT_GT(ms, POOL);
		exited[round] = exit_idle();
		ASSERT_EQ(ms - POOL, exited[round]);
		after[round] = quiet(&ms_after[round]);
		check_census(_metadata, after[round], ms_after[round]);
		ASSERT_EQ(POOL, ms_after[round]);
		ASSERT_EQ(c.tasks - exited[round], after[round].tasks);
	}
	ASSERT_EQ(0, atomic_load(&gt_failures));
	/* The same Ms live after each round: the same fds and mappings. */
	ASSERT_EQ(after[0].tasks, after[1].tasks);
	ASSERT_EQ(after[0].fds, after[1].fds);
	ASSERT_EQ(after[0].perf_maps, after[1].perf_maps);
}

/* ---- auto: kmod, else perf, else sysmon; perf forced fails clearly ------ */

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

struct outcome {
	int ret, mode, ran, failures, skip;
	unsigned long long perf_takes, sysmon_takes;
	char err[4096];		/* the child's stderr: libgmp's lines */
};

/*
 * In a child: setup() (drop privileges, a seccomp filter...), then start
 * libgmp with GMP_DEBUG=1 and GMP_HANDOFF=handoff and hand off a read on
 * one P. Its stderr, and what it saw, come back in *o.
 */
static void in_child(struct __test_metadata *_metadata, bool (*setup)(void),
		     const char *handoff, struct outcome *o)
{
	int p[2], status;
	ssize_t n, got = 0;
	char *r;
	pid_t pid;

	memset(o, 0, sizeof(*o));
	o->ret = 1;
	ASSERT_EQ(0, pipe(p));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		struct gmp_config cfg = {
			.size = sizeof(cfg), .maxprocs = 1,
			.poller = GMP_POLLER_BLOCKING,
		};
		struct gmp_handoff_stats st = { .size = sizeof(st) };
		int ret;

		close(p[0]);
		dup2(p[1], 2);
		setenv("GMP_DEBUG", "1", 1);
		setenv("GMP_HANDOFF", handoff, 1);
		if (!setup()) {
			fprintf(stderr, "@skip\n");
			_exit(0);
		}
		ret = gmp_init(&cfg);
		if (ret == 0)
			ret = gmp_run(handoff_main, NULL);
		if (ret == 0)
			gmp_handoff_stats(&st);
		fprintf(stderr, "@result ret=%d mode=%d ran=%d failures=%d perf_takes=%llu "
			"sysmon_takes=%llu\n", ret, gmp_handoff_mode(),
			atomic_load(&ran_during_read), atomic_load(&gt_failures),
			(unsigned long long)st.perf_takes, (unsigned long long)st.sysmon_takes);
		_exit(0);
	}
	close(p[1]);
	while (got < (ssize_t)sizeof(o->err) - 1 &&
	       (n = read(p[0], o->err + got, sizeof(o->err) - 1 - got)) > 0)
		got += n;
	close(p[0]);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_EQ(0, status);
	TH_LOG("GMP_HANDOFF=%s:\n%s", handoff, o->err);
	o->skip = strstr(o->err, "@skip\n") != NULL;
	if (o->skip)
		return;
	r = strstr(o->err, "@result ");
	ASSERT_NE(NULL, r);
	ASSERT_EQ(6, sscanf(r, "@result ret=%d mode=%d ran=%d failures=%d perf_takes=%llu "
			    "sysmon_takes=%llu", &o->ret, &o->mode, &o->ran, &o->failures,
			    &o->perf_takes, &o->sysmon_takes));
}

static int read_knob(const char *path)
{
	FILE *f = fopen(path, "r");
	int v = -1000;

	if (f) {
		if (fscanf(f, "%d", &v) != 1)
			v = -1000;
		fclose(f);
	}
	return v;
}

static bool write_knob(const char *path, int v)
{
	FILE *f = fopen(path, "w");
	bool ok;

	if (!f)
		return false;
	ok = fprintf(f, "%d\n", v) > 0;
	return fclose(f) == 0 && ok;
}

#define PARANOID	"/proc/sys/kernel/perf_event_paranoid"
#define MLOCK_KB	"/proc/sys/kernel/perf_event_mlock_kb"

/* An unprivileged user (nobody), as most programs run. */
static bool drop_root(void)
{
	return setgroups(0, NULL) == 0 && setgid(65534) == 0 && setuid(65534) == 0;
}

/* paranoid 2 (mainline's most restrictive for one's own threads). */
static bool unprivileged(void)
{
	return drop_root();
}

TEST(auto_picks_perf_without_module_when_paranoid_allows)
{
	struct outcome o;
	int saved = read_knob(PARANOID);

	NOT_RT();
	if (kmod_usable())
		SKIP(return, "/dev/gmp is usable: auto picks kmod (kmod_test)");
	if (geteuid() != 0)
		SKIP(return, "needs root to set perf_event_paranoid");
	ASSERT_TRUE(write_knob(PARANOID, 2));
	in_child(_metadata, unprivileged, "auto", &o);
	ASSERT_TRUE(write_knob(PARANOID, saved));
	if (o.skip)
		SKIP(return, "could not drop privileges");
	ASSERT_EQ(0, o.ret);
	ASSERT_EQ(GMP_HANDOFF_PERF, o.mode);
	ASSERT_EQ(0, o.failures);
	ASSERT_EQ(1, o.ran);
	ASSERT_GE(o.perf_takes, 1);
	ASSERT_EQ(0, o.sysmon_takes);
	ASSERT_NE(NULL, strstr(o.err, "gmp: auto: kmod refused: /dev/gmp: "));
	ASSERT_NE(NULL, strstr(o.err, "gmp: handoff perf ("));
	ASSERT_EQ(NULL, strstr(o.err, "perf refused"));
}

/* Debian's and Ubuntu's perf_event_paranoid 3: no perf at all unprivileged. */
static bool unprivileged_paranoid3(void)
{
	int fd;

	if (!drop_root())
		return false;
	fd = open_switch_event();
	if (fd >= 0) {
		/* A mainline kernel: 3 means 2 (only Debian's patch forbids). */
		close(fd);
		return false;
	}
	return true;
}

TEST(auto_falls_back_to_sysmon_when_paranoid_forbids)
{
	struct outcome o;
	int saved = read_knob(PARANOID);

	NOT_RT();
	if (kmod_usable())
		SKIP(return, "/dev/gmp is usable: auto picks kmod (kmod_test)");
	if (geteuid() != 0)
		SKIP(return, "needs root to set perf_event_paranoid");
	ASSERT_TRUE(write_knob(PARANOID, 3));
	in_child(_metadata, unprivileged_paranoid3, "auto", &o);
	ASSERT_TRUE(write_knob(PARANOID, saved));
	if (o.skip)
		SKIP(return, "this kernel lets unprivileged users have per-thread user-space "
		     "events at any perf_event_paranoid (no Debian patch)");
	ASSERT_EQ(0, o.ret);
	ASSERT_EQ(GMP_HANDOFF_SYSMON, o.mode);
	ASSERT_EQ(0, o.failures);
	ASSERT_EQ(1, o.ran);	/* sysmon handed the P off */
	ASSERT_EQ(0, o.perf_takes);
	ASSERT_NE(NULL, strstr(o.err, "gmp: auto: kmod refused: /dev/gmp: "));
	ASSERT_NE(NULL, strstr(o.err, "gmp: auto: perf refused: perf_event_open: "));
	ASSERT_NE(NULL, strstr(o.err, "perf_event_paranoid 3 too high"));
	ASSERT_NE(NULL, strstr(o.err, "gmp: handoff sysmon (auto: "));
}

/* No locked memory for the ring: perf_event_mlock_kb 0, RLIMIT_MEMLOCK 0. */
static bool unprivileged_no_memlock(void)
{
	struct rlimit rl = { 0, 0 };

	return drop_root() && setrlimit(RLIMIT_MEMLOCK, &rl) == 0;
}

static void no_memlock_case(struct __test_metadata *_metadata, const char *handoff,
			    struct outcome *o)
{
	int par = read_knob(PARANOID), kb = read_knob(MLOCK_KB);

	ASSERT_TRUE(write_knob(PARANOID, 2));
	ASSERT_TRUE(write_knob(MLOCK_KB, 0));
	in_child(_metadata, unprivileged_no_memlock, handoff, o);
	ASSERT_TRUE(write_knob(MLOCK_KB, kb));
	ASSERT_TRUE(write_knob(PARANOID, par));
}

TEST(auto_falls_back_to_sysmon_when_ring_mmap_fails)
{
	struct outcome o;

	NOT_RT();
	if (kmod_usable())
		SKIP(return, "/dev/gmp is usable: auto picks kmod (kmod_test)");
	if (geteuid() != 0)
		SKIP(return, "needs root to set perf_event_mlock_kb");
	no_memlock_case(_metadata, "auto", &o);
	if (o.skip)
		SKIP(return, "could not drop privileges");
	ASSERT_EQ(0, o.ret);
	ASSERT_EQ(GMP_HANDOFF_SYSMON, o.mode);
	ASSERT_EQ(0, o.failures);
	ASSERT_EQ(1, o.ran);
	ASSERT_NE(NULL, strstr(o.err, "gmp: auto: perf refused: ring mmap failed: "));
	ASSERT_NE(NULL, strstr(o.err, "gmp: handoff sysmon (auto: "));
}

TEST(perf_forced_fails_clearly_when_ring_mmap_fails)
{
	struct outcome o;

	NOT_RT();
	if (geteuid() != 0)
		SKIP(return, "needs root to set perf_event_mlock_kb");
	no_memlock_case(_metadata, "perf", &o);
	if (o.skip)
		SKIP(return, "could not drop privileges");
	ASSERT_EQ(-EPERM, o.ret);
	ASSERT_EQ(0, o.mode);	/* not started */
	ASSERT_NE(NULL, strstr(o.err, "gmp: GMP_HANDOFF=perf: ring mmap failed: "));
}

/* Has this kernel seccomp (CONFIG_SECCOMP)? The debug kernel has not. */
static bool seccomp_available(void)
{
	return prctl(PR_GET_SECCOMP, 0, 0, 0, 0) >= 0 || errno != EINVAL;
}

#define NEED_SECCOMP() do {						\
	if (!seccomp_available())					\
		SKIP(return, "no seccomp in this kernel (CONFIG_SECCOMP)");	\
} while (0)

/* perf_event_open(2) fails with EACCES, whatever the kernel's settings. */
static bool seccomp_eacces(void)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_perf_event_open, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EACCES),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof(f) / sizeof(f[0]), .filter = f };

	return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
	       prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0;
}

TEST(auto_falls_back_to_sysmon_on_eacces)
{
	struct outcome o;

	NOT_RT();
	NEED_SECCOMP();
	if (kmod_usable())
		SKIP(return, "/dev/gmp is usable: auto picks kmod (kmod_test)");
	in_child(_metadata, seccomp_eacces, "auto", &o);
	ASSERT_FALSE(o.skip);
	ASSERT_EQ(0, o.ret);
	ASSERT_EQ(GMP_HANDOFF_SYSMON, o.mode);
	ASSERT_EQ(0, o.failures);
	ASSERT_EQ(1, o.ran);
	ASSERT_NE(NULL, strstr(o.err, "gmp: auto: perf refused: perf_event_open: Permission denied"));
}

TEST(perf_forced_fails_clearly_on_eacces)
{
	struct outcome o;

	NOT_RT();
	NEED_SECCOMP();
	in_child(_metadata, seccomp_eacces, "perf", &o);
	ASSERT_FALSE(o.skip);
	ASSERT_EQ(-EACCES, o.ret);
	ASSERT_EQ(0, o.mode);
	ASSERT_NE(NULL, strstr(o.err, "gmp: GMP_HANDOFF=perf: perf_event_open: Permission denied"));
}

/* ---- PREEMPT_RT: perf mode is not offered (handoff_perf.c) ------------- */

static bool as_is(void)
{
	return true;
}

TEST(perf_not_offered_on_preempt_rt)
{
	struct outcome o;

	if (!preempt_rt())
		SKIP(return, "not a PREEMPT_RT kernel");
	in_child(_metadata, as_is, "perf", &o);
	ASSERT_EQ(-EOPNOTSUPP, o.ret);
	ASSERT_EQ(0, o.mode);
	ASSERT_NE(NULL, strstr(o.err, "gmp: GMP_HANDOFF=perf: a PREEMPT_RT kernel"));
	if (kmod_usable())
		return;		/* auto picks kmod before it looks at perf */
	in_child(_metadata, as_is, "auto", &o);
	ASSERT_EQ(0, o.ret);
	ASSERT_EQ(GMP_HANDOFF_SYSMON, o.mode);
	ASSERT_EQ(1, o.ran);
	ASSERT_NE(NULL, strstr(o.err, "gmp: auto: perf refused: a PREEMPT_RT kernel"));
}

TEST(returning_m_finds_every_p_asleep_in_a_syscall)
{
	struct gmp_handoff_stats st;

	NEED_PERF();
	PRUN(1, 0, returner_main, NULL);
	st = stats();
	ASSERT_EQ(GMP_HANDOFF_PERF, st.mode);
	ASSERT_FALSE(thread_named("gmp-sysmon"));
}

TEST_HARNESS_MAIN
