/* SPDX-License-Identifier: (LGPL-2.1-or-later OR MIT) */
/*
 * handoff_test.h - what the tests of the two upcall handoffs share
 * (kmod_test.c: gmp.ko; perf_test.c: perf context-switch records): the
 * runtime's handoff counters, looks at our threads through /proc, and the
 * basic scenario - a wrapped read(2) on the only P while another G waits
 * to run - in which only a handoff can let that G run.
 *
 * The includer defines parked(): how many of our threads are activations
 * parked in the mode's wait (ioctl(GMP_IOC_WAIT), epoll_wait(2)).
 */
#ifndef HANDOFF_TEST_H
#define HANDOFF_TEST_H

#include "gmp_test.h"

#include <dirent.h>
#include <linux/perf_event.h>
#include <pthread.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#define HT_UNUSED __attribute__((unused))

/* Wait (no deadline: the harness has one) until cond(), polling. */
#define WAIT_UNTIL(cond) do {						\
	while (!(cond))							\
		usleep(1000);						\
} while (0)

static int parked(void);

static HT_UNUSED struct gmp_handoff_stats stats(void)
{
	struct gmp_handoff_stats st = { .size = sizeof(st) };

	if (gmp_handoff_stats(&st) < 0)
		memset(&st, 0, sizeof(st));
	return st;
}

/*
 * Call fn(tid, arg) for each of our threads (/proc/self/task); the number
 * of calls that returned true.
 */
static HT_UNUSED int count_tids(bool (*fn)(int tid, void *arg), void *arg)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.' && fn(atoi(e->d_name), arg))
			n++;
	closedir(d);
	return n;
}

/* The first line of /proc/self/task/tid/file; false if it is gone. */
static HT_UNUSED bool task_line(int tid, const char *file, char *line, int size)
{
	char path[300];
	bool ok;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/task/%d/%s", tid, file);
	f = fopen(path, "r");
	if (!f)
		return false;	/* gone meanwhile */
	ok = fgets(line, size, f) != NULL;
	fclose(f);
	return ok;
}

struct task_file_fn {
	const char *file;
	bool (*fn)(const char *line, void *arg);
	void *arg;
};

static bool task_file_call(int tid, void *arg)
{
	struct task_file_fn *t = arg;
	char line[256];

	return task_line(tid, t->file, line, sizeof(line)) && t->fn(line, t->arg);
}

/*
 * Call fn(line, arg) with the first line of /proc/self/task/ * /file
 * for each of our threads; the number of calls that returned true.
 */
static HT_UNUSED int count_tasks(const char *file,
				 bool (*fn)(const char *line, void *arg), void *arg)
{
	struct task_file_fn t = { file, fn, arg };

	return count_tids(task_file_call, &t);
}

static bool comm_is(const char *line, void *name)
{
	return !strncmp(line, name, strlen(name)) && line[strlen(name)] == '\n';
}

/* Is a thread of ours called name (/proc/self/task/ * /comm)? */
static HT_UNUSED bool thread_named(const char *name)
{
	return count_tasks("comm", comm_is, (void *)name) > 0;
}

/* A kernel whose uname says PREEMPT_RT: libgmp offers no perf mode there. */
static HT_UNUSED bool preempt_rt(void)
{
	struct utsname u;

	return uname(&u) == 0 && strstr(u.version, "PREEMPT_RT");
}

/* The event libgmp opens for each M, opened here the same way. */
static HT_UNUSED int open_switch_event(void)
{
	struct perf_event_attr a;

	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	a.type = PERF_TYPE_SOFTWARE;
	a.config = PERF_COUNT_SW_DUMMY;
	a.context_switch = 1;
	a.exclude_kernel = 1;
	a.exclude_hv = 1;
	a.watermark = 1;
	a.wakeup_watermark = 1;
	return (int)syscall(SYS_perf_event_open, &a, 0, -1, -1, PERF_FLAG_FD_CLOEXEC);
}

/*
 * Would libgmp's perf mode work here: not PREEMPT_RT, and this thread may
 * open the event and map a ring of 1 + 2 pages?
 */
static HT_UNUSED bool perf_usable(void)
{
	long pg = sysconf(_SC_PAGESIZE);
	int fd;
	void *p;

	if (preempt_rt())
		return false;
	fd = open_switch_event();
	if (fd < 0)
		return false;
	p = mmap(NULL, 3 * pg, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		return false;
	munmap(p, 3 * pg);
	return true;
}

/*
 * Start the runtime in handoff mode with the blocking poller (the
 * wrappers must block their M for the mode to see it: with io_uring a
 * goroutine's gmp_read parks, its M does not block), and run fn.
 */
static HT_UNUSED int start_in(int handoff, unsigned int procs, unsigned int flags,
			      void (*fn)(void *), void *arg)
{
	struct gmp_config cfg = {
		.size = sizeof(cfg),
		.maxprocs = procs,
		.handoff = handoff,
		.flags = flags,
		.poller = GMP_POLLER_BLOCKING,
	};
	int ret = gmp_init(&cfg);

	if (ret < 0)
		return ret;
	return gmp_run(fn, arg);
}

/* ---- a wrapped read on the only P: only a handoff lets writer run ------- */

static int pfd[2];
static _Atomic int in_read, ran_during_read, writer_ran;

static HT_UNUSED void writer(void *arg)
{
	char c = 'x';

	(void)arg;
	/* We may run first (the reader can be preempted before its read). */
	while (!atomic_load(&in_read))
		gmp_yield();
	/* The reader sleeps in read(2) on the only P: we run after a handoff. */
	atomic_fetch_add(&ran_during_read, 1);
	atomic_store(&writer_ran, 1);
	GT_CHECK_EQ(1, gmp_write(pfd[1], &c, 1));
}

static HT_UNUSED void wrapped_main(void *arg)
{
	char c = 0;

	(void)arg;
	GT_CHECK_EQ(0, pipe(pfd));
	/* An activation is parked before we block. */
	WAIT_UNTIL(parked() > 0);
	gmp_go(writer, NULL);	/* queued on our P, which we hold */
	atomic_store(&in_read, 1);
	GT_CHECK_EQ(1, gmp_read(pfd[0], &c, 1));
	atomic_store(&in_read, 0);
	GT_CHECK_EQ('x', c);
	close(pfd[0]);
	close(pfd[1]);
}

/* ---- a P left to its sleeping M while another P's queue holds work ------ */

static _Atomic int spinning, stolen_ran, stolen_during_read, spin_saw_stolen;
static struct gmp_waitgroup spin_wg;

/* Readied on the spinner's P, which never schedules: only a thief runs it. */
static HT_UNUSED void stolen(void *arg)
{
	char c = 's';

	(void)arg;
	if (atomic_load(&in_read))
		atomic_store(&stolen_during_read, 1);
	atomic_store(&stolen_ran, 1);
	GT_CHECK_EQ(1, write(pfd[1], &c, 1));
}

/*
 * Holds its P without a runtime call (no yield, no preemption point) until
 * stolen() has run, or for 10 s at most, so that nobody takes or steals
 * from its P but a thief with a P of its own.
 */
static HT_UNUSED void spinner(void *arg)
{
	int64_t end;

	(void)arg;
	gmp_go(stolen, NULL);	/* our P's queue: every P is busy, none wakes */
	end = gmp_now() + 10 * 1000000000LL;
	atomic_store(&spinning, 1);
	while (!atomic_load(&stolen_ran) && gmp_now() < end)
		;
	atomic_store(&spin_saw_stolen, atomic_load(&stolen_ran));
	gmp_wg_done(&spin_wg);
}

static HT_UNUSED void steal_main(void *arg)
{
	char c = 0;

	(void)arg;
	GT_CHECK_EQ(0, pipe(pfd));
	WAIT_UNTIL(parked() > 0);
	gmp_wg_add(&spin_wg, 1);
	/* The other P's M takes the spinner; we keep ours busy meanwhile. */
	gmp_go(spinner, NULL);
	while (!atomic_load(&spinning))
		;
	/*
	 * Our P's queue is empty, so is the global one; no P is idle and
	 * no M spins: the activation must take our P to steal stolen().
	 */
	atomic_store(&in_read, 1);
	GT_CHECK_EQ(1, gmp_read(pfd[0], &c, 1));
	atomic_store(&in_read, 0);
	GT_CHECK_EQ('s', c);
	gmp_wg_wait(&spin_wg);
	close(pfd[0]);
	close(pfd[1]);
}

/* stolen() ran while the spinner spun and main slept; no other take did it. */
static HT_UNUSED void steal_check(struct __test_metadata *_metadata)
{
	struct gmp_handoff_stats st = stats();

	ASSERT_EQ(1, atomic_load(&spin_saw_stolen));
	ASSERT_EQ(1, atomic_load(&stolen_during_read));
	ASSERT_EQ(0, st.demand_takes);
	ASSERT_EQ(0, st.sysmon_takes);
}

/* ---- pinned activations (GMP_PIN_ACTIVATIONS) --------------------------- */

/* The CPUs the process may use; its count. */
static HT_UNUSED int process_cpus(cpu_set_t *set)
{
	if (sched_getaffinity(0, sizeof(*set), set) < 0)
		return 0;
	return CPU_COUNT(set);
}

/* Is thread tid allowed on one CPU only? Then add it to *seen, if any. */
static HT_UNUSED bool tid_pinned(int tid, void *seen)
{
	cpu_set_t set;

	if (sched_getaffinity(tid, sizeof(set), &set) < 0 || CPU_COUNT(&set) != 1)
		return false;	/* gone meanwhile, or not pinned */
	if (seen)
		CPU_OR((cpu_set_t *)seen, (cpu_set_t *)seen, &set);
	return true;
}

/* ---- a hang's report ---------------------------------------------------- */

/* One of our threads on stderr: name, state, CPUs, system call, wchan. */
static HT_UNUSED bool dump_tid(int tid, void *arg)
{
	char comm[64] = "?", stat[512] = "", sys[256] = "?\n", wchan[128] = "?";
	char cpus[32] = "?";
	const char *st;
	cpu_set_t set;

	(void)arg;
	task_line(tid, "comm", comm, sizeof(comm));
	task_line(tid, "stat", stat, sizeof(stat));
	task_line(tid, "syscall", sys, sizeof(sys));
	task_line(tid, "wchan", wchan, sizeof(wchan));
	comm[strcspn(comm, "\n")] = '\0';
	st = strrchr(stat, ')');
	if (sched_getaffinity(tid, sizeof(set), &set) == 0) {
		int n = CPU_COUNT(&set);

		snprintf(cpus, sizeof(cpus), "%d CPUs", n);
		for (int c = 0; n == 1 && c < CPU_SETSIZE; c++)
			if (CPU_ISSET(c, &set))
				snprintf(cpus, sizeof(cpus), "pinned to %d", c);
	}
	fprintf(stderr, "#   tid %d %s: state %c, %s, wchan %s, syscall %s", tid,
		comm, st && st[1] && st[2] ? st[2] : '?', cpus, wchan, sys);
	return false;
}

static _Atomic int hw_done;
static void (*hw_extra)(void);

static HT_UNUSED void *hang_watch_fn(void *arg)
{
	char buf[2048];

	for (long i = 0; i < (long)(intptr_t)arg * 10; i++) {
		if (atomic_load(&hw_done))
			return NULL;
		usleep(100 * 1000);
	}
	fprintf(stderr, "# still running after %ld s; our threads:\n", (long)(intptr_t)arg);
	count_tids(dump_tid, NULL);
	__gmp_test_dump(buf, sizeof(buf));
	fprintf(stderr, "# scheduler:\n%s", buf);
	if (hw_extra)
		hw_extra();
	return NULL;
}

/*
 * The harness's timeout kills a test that hangs without a word: report
 * what every thread of ours and the scheduler are doing if the test is
 * still running after half of it (extra() adds the test's own counters),
 * until hang_watch_stop(). A report, not a failure: a slow run may print
 * it and pass.
 */
static HT_UNUSED void hang_watch(void (*extra)(void))
{
	pthread_t t;

	hw_extra = extra;
	atomic_store(&hw_done, 0);
	if (pthread_create(&t, NULL, hang_watch_fn,
			   (void *)(intptr_t)(TEST_TIMEOUT_DEFAULT / 2)) == 0)
		pthread_detach(t);
}

static HT_UNUSED void hang_watch_stop(void)
{
	atomic_store(&hw_done, 1);
}

/*
 * Our threads allowed on one CPU only, and the set of those CPUs (each
 * counted once: *distinct).
 */
static HT_UNUSED int pinned_threads(int *distinct)
{
	cpu_set_t seen;
	int n;

	CPU_ZERO(&seen);
	n = count_tids(tid_pinned, &seen);
	*distinct = CPU_COUNT(&seen);
	return n;
}

/*
 * One P, the pool (2 activations) parked: each pinned, to a CPU of its
 * own, while we and every other M may use them all. Then a handoff: the
 * activation that takes our P runs pin_writer still pinned, and has every
 * CPU back before pin_writer runs again after a yield.
 */
static _Atomic int pin_parked, pin_pinned, pin_distinct, pin_main_cpus,
	pin_writer_cpus, pin_yield_cpus, pin_after_cpus;
static int pin_pool = 2;	/* the activations to wait for: GMP_ACTIVATIONS */

static HT_UNUSED void pin_writer(void *arg)
{
	cpu_set_t set;
	char c = 'x';

	(void)arg;
	while (!atomic_load(&in_read))
		gmp_yield();
	/* On the activation's M: the reader sleeps in read(2) on the only P. */
	atomic_fetch_add(&ran_during_read, 1);
	atomic_store(&pin_writer_cpus, process_cpus(&set));
	gmp_yield();	/* nobody else to run: the same M again */
	atomic_store(&pin_yield_cpus, process_cpus(&set));
	GT_CHECK_EQ(1, gmp_write(pfd[1], &c, 1));
}

static HT_UNUSED void pin_main(void *arg)
{
	cpu_set_t set;
	char c = 0;
	int distinct = 0;

	(void)arg;
	GT_CHECK_EQ(0, pipe(pfd));
	WAIT_UNTIL(parked() == pin_pool);
	atomic_store(&pin_parked, parked());
	atomic_store(&pin_pinned, pinned_threads(&distinct));
	atomic_store(&pin_distinct, distinct);
	atomic_store(&pin_main_cpus, process_cpus(&set));
	gmp_go(pin_writer, NULL);
	atomic_store(&in_read, 1);
	GT_CHECK_EQ(1, gmp_read(pfd[0], &c, 1));
	atomic_store(&in_read, 0);
	GT_CHECK_EQ('x', c);
	atomic_store(&pin_after_cpus, process_cpus(&set));
	close(pfd[0]);
	close(pfd[1]);
}

/* ---- back from a syscall without a P, while every P sleeps in one ------- */

/*
 * One P. main blocks in read(A); an activation takes the P and runs
 * second, which blocks in read(B) holding it (nothing else to run: the
 * activation leaves it). A is written: main's M comes back, finds its P
 * taken and no P idle, queues main and parks. Nothing else will happen
 * by itself (B is written only after main ran), so main runs only if the
 * runtime takes the P of the M asleep in read(B) for it, on demand.
 */
static int rpa[2], rpb[2];
static _Atomic int main_back, gave_up;
static struct gmp_waitgroup rwg;

static bool reads_fd(const char *line, void *arg)
{
	long long nr;
	unsigned long long a0;

	return sscanf(line, "%lld %llx", &nr, &a0) == 2 && nr == SYS_read &&
	       (long)a0 == *(int *)arg;
}

/* Threads of ours asleep in read(2) on fd. */
static HT_UNUSED int reading(int fd)
{
	return count_tasks("syscall", reads_fd, &fd);
}

static HT_UNUSED void second_reader(void *arg)
{
	char c = 0;

	(void)arg;
	GT_CHECK_EQ(1, gmp_read(rpb[0], &c, 1));
	gmp_wg_done(&rwg);
}

static HT_UNUSED void *write_a_then_b(void *arg)
{
	(void)arg;
	WAIT_UNTIL(reading(rpa[0]) == 1 && reading(rpb[0]) == 1);
	if (write(rpa[1], "a", 1) != 1)
		atomic_fetch_add(&gt_failures, 1);
	/* A liveness bound, not a timing: 60 s, then unblock B regardless. */
	for (int i = 0; i < 60000 && !atomic_load(&main_back); i++)
		usleep(1000);
	if (!atomic_load(&main_back)) {
		atomic_store(&gave_up, 1);
		fprintf(stderr, "# main stayed queued while the only P slept in read(B)\n");
		atomic_fetch_add(&gt_failures, 1);
	}
	if (write(rpb[1], "b", 1) != 1)
		atomic_fetch_add(&gt_failures, 1);
	return NULL;
}

static HT_UNUSED void returner_main(void *arg)
{
	pthread_t t;
	char c = 0;

	(void)arg;
	GT_CHECK_EQ(0, pipe(rpa));
	GT_CHECK_EQ(0, pipe(rpb));
	WAIT_UNTIL(parked() > 0);
	gmp_wg_add(&rwg, 1);
	gmp_go(second_reader, NULL);	/* queued on our P, which we hold */
	GT_CHECK_EQ(0, pthread_create(&t, NULL, write_a_then_b, NULL));
	GT_CHECK_EQ(1, gmp_read(rpa[0], &c, 1));
	atomic_store(&main_back, 1);
	GT_CHECK_EQ('a', c);
	gmp_wg_wait(&rwg);
	pthread_join(t, NULL);
	GT_CHECK_EQ(0, atomic_load(&gave_up));
	for (int i = 0; i < 2; i++) {
		close(rpa[i]);
		close(rpb[i]);
	}
}

#endif /* HANDOFF_TEST_H */
