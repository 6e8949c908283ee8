// SPDX-License-Identifier: GPL-2.0
/*
 * regcost - what being a registered M of a /dev/gmp group costs a thread
 * that makes system calls which do not block: a tight loop of getppid(2),
 * through the raw ABI (kmod/include/uapi/linux/gmp.h), in three states,
 * and a fourth, the module-free alternative (libgmp's perf mode):
 *
 *   none        not registered (the group fd stays open, unused)
 *   registered  GMP_IOC_REGISTER done, slot disarmed
 *   armed       registered and slot->armed = 1 for the whole loop
 *   perf        not registered; a perf context-switch event on the thread
 *               (libgmp's perf mode: PERF_COUNT_SW_DUMMY, context_switch)
 *
 * With -c, the cost per context switch instead: two threads pinned to one
 * CPU ping-pong a byte through two pipes (each read blocks: two switches
 * per round trip), in three states: none; kmod (both registered and armed:
 * every block is recorded and rings the module's doorbell, nobody waits);
 * perf (both with the event: a record at every switch in and out, nobody
 * polls; the rings are emptied between loops, so none is lost):
 *
 *   @csw STATE round=R ns_per_switch=X
 *   @cswmed STATE ns_per_switch=X
 *
 * The states are measured in rounds, each round one loop per state in a
 * rotating order (a VM's host drifts; the rotation spreads it evenly), on
 * one pinned thread. Many short rounds rather than a few long ones: a noisy
 * host (a TCG VM on a busy machine) disturbs some rounds, and the median
 * and low percentiles over many rounds see past them. Prints one line per
 * loop and the median per state:
 *
 *   @reg STATE round=R ns_per_call=X
 *   @regmed STATE ns_per_call=X
 *
 * and "@reg-na REASON" (exit 0) when /dev/gmp cannot be used ("@reg-na
 * perf REASON" when only the perf state cannot be measured; -c: "@csw-na
 * STATE REASON").
 *
 *   regcost [-c] [-n CALLS] [-r ROUNDS]       (defaults 5000, 150)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <linux/gmp.h>
#include <linux/perf_event.h>

enum { NONE, REGISTERED, ARMED, PERF, NSTATES };
static const char *const state_name[NSTATES] = { "none", "registered", "armed", "perf" };

#define PERF_PAGES	64	/* 32768 records: a loop's, never a lost one */

/* The event libgmp's perf mode opens on each M; -1 with errno if it cannot. */
static int perf_open(void)
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
	a.disabled = 1;
	return (int)syscall(SYS_perf_event_open, &a, 0, -1, -1, PERF_FLAG_FD_CLOEXEC);
}

/* A thread's perf event and ring (-c); fd -1: none. */
struct pev {
	int fd;
	struct perf_event_mmap_page *mp;
	const char *why;
};

static void pev_open(struct pev *e)
{
	long pg = sysconf(_SC_PAGESIZE);

	e->mp = NULL;
	e->why = NULL;
	e->fd = perf_open();
	if (e->fd < 0) {
		e->why = strerror(errno);
		return;
	}
	e->mp = mmap(NULL, (1 + PERF_PAGES) * pg, PROT_READ | PROT_WRITE, MAP_SHARED, e->fd, 0);
	if (e->mp == MAP_FAILED) {
		e->why = strerror(errno);
		close(e->fd);
		e->fd = -1;
	}
}

/* Enable or disable it; emptied when disabled, so that no record is lost. */
static void pev_set(struct pev *e, int on)
{
	if (e->fd < 0)
		return;
	ioctl(e->fd, on ? PERF_EVENT_IOC_ENABLE : PERF_EVENT_IOC_DISABLE, 0);
	if (!on)
		__atomic_store_n(&e->mp->data_tail,
				 __atomic_load_n(&e->mp->data_head, __ATOMIC_ACQUIRE),
				 __ATOMIC_RELEASE);
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static double loop(long n)
{
	int64_t t0 = now_ns();

	for (long i = 0; i < n; i++)
		syscall(SYS_getppid);
	return (double)(now_ns() - t0) / (double)n;
}

static int cmpd(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* ---- -c: the cost per context switch ------------------------------------ */

enum { C_NONE, C_KMOD, C_PERF, C_NSTATES };
static const char *const cstate_name[C_NSTATES] = { "none", "kmod", "perf" };

static int gfd = -1;			/* /dev/gmp, -1 if none */
static volatile struct gmp_slot *gslots;
static int ping[2], pong[2];
static long cn;

/* The partner thread: answer every byte; its state follows the main's. */
static volatile int pstate = -1, pquit;
static sem_t pready, pgo;

static void cstate_enter(int st, struct pev *e, struct gmp_register *reg)
{
	if (st == C_KMOD) {
		reg->size = sizeof(*reg);
		if (ioctl(gfd, GMP_IOC_REGISTER, reg) == 0)
			gslots[reg->slot].armed = 1;
		else
			reg->size = 0;
	} else if (st == C_PERF) {
		pev_set(e, 1);
	}
}

static void cstate_leave(int st, struct pev *e, struct gmp_register *reg)
{
	struct gmp_unregister unreg = { .size = sizeof(unreg) };

	if (st == C_KMOD && reg->size) {
		gslots[reg->slot].armed = 0;
		ioctl(gfd, GMP_IOC_UNREGISTER, &unreg);
	} else if (st == C_PERF) {
		pev_set(e, 0);
	}
}

static void *partner(void *arg)
{
	struct pev e;
	char c;

	pev_open(&e);
	for (;;) {
		struct gmp_register reg = { .m_id = 2 };
		int st;

		sem_wait(&pgo);
		if (pquit)
			return arg;
		st = pstate;
		cstate_enter(st, &e, &reg);
		sem_post(&pready);
		for (long i = 0; i < cn; i++)
			if (read(ping[0], &c, 1) != 1 || write(pong[1], &c, 1) != 1)
				abort();
		cstate_leave(st, &e, &reg);
		sem_post(&pready);
	}
}

static double cloop(int st, struct pev *e)
{
	struct gmp_register reg = { .m_id = 1 };
	int64_t t0;
	char c = 1;

	pstate = st;
	sem_post(&pgo);
	sem_wait(&pready);
	cstate_enter(st, e, &reg);
	t0 = now_ns();
	for (long i = 0; i < cn; i++)
		if (write(ping[1], &c, 1) != 1 || read(pong[0], &c, 1) != 1)
			abort();
	t0 = now_ns() - t0;
	cstate_leave(st, e, &reg);
	sem_wait(&pready);
	return (double)t0 / (double)(2 * cn);
}

static int csw_main(long n, int rounds)
{
	struct gmp_info info = { .size = sizeof(info) };
	double *res[C_NSTATES];
	bool ok[C_NSTATES] = { true, false, false };
	struct pev e;
	pthread_t t;

	cn = n;
	if (pipe(ping) < 0 || pipe(pong) < 0)
		return 1;
	gfd = open(GMP_DEVICE_PATH, O_RDWR | O_CLOEXEC);
	if (gfd < 0) {
		printf("@csw-na kmod open %s: %s\n", GMP_DEVICE_PATH, strerror(errno));
	} else if (ioctl(gfd, GMP_IOC_INFO, &info) ||
		   (gslots = mmap(NULL, info.mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED,
				  gfd, 0)) == MAP_FAILED) {
		printf("@csw-na kmod %s\n", strerror(errno));
	} else {
		gslots = (volatile struct gmp_slot *)((char *)gslots + info.slots_offset);
		ok[C_KMOD] = true;
	}
	pev_open(&e);
	if (e.fd < 0)
		printf("@csw-na perf perf_event_open or mmap: %s\n", e.why);
	else
		ok[C_PERF] = true;
	sem_init(&pready, 0, 0);
	sem_init(&pgo, 0, 0);
	if (pthread_create(&t, NULL, partner, NULL))
		return 1;
	for (int s = 0; s < C_NSTATES; s++)
		res[s] = calloc(rounds, sizeof(double));
	cloop(C_NONE, &e);	/* warm up */
	for (int r = 0; r < rounds; r++) {
		for (int k = 0; k < C_NSTATES; k++) {
			int s = (r + k) % C_NSTATES;

			if (!ok[s])
				continue;
			res[s][r] = cloop(s, &e);
			printf("@csw %s round=%d ns_per_switch=%.1f\n", cstate_name[s], r,
			       res[s][r]);
		}
	}
	pquit = 1;
	sem_post(&pgo);
	pthread_join(t, NULL);
	for (int s = 0; s < C_NSTATES; s++) {
		if (!ok[s])
			continue;
		qsort(res[s], rounds, sizeof(double), cmpd);
		printf("@cswmed %s ns_per_switch=%.1f roundtrips=%ld rounds=%d\n", cstate_name[s],
		       res[s][rounds / 2], n, rounds);
	}
	return 0;
}

/* Pin the calling thread (and the threads it makes) to its first CPU. */
static void pin_first_cpu(void)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	if (sched_getaffinity(0, sizeof(set), &set) == 0) {
		for (int c = 0; c < CPU_SETSIZE; c++)
			if (CPU_ISSET(c, &set)) {
				CPU_ZERO(&set);
				CPU_SET(c, &set);
				sched_setaffinity(0, sizeof(set), &set);
				break;
			}
	}
}

int main(int argc, char **argv)
{
	long n = 5000;
	int rounds = 150, opt, fd, pfd;
	bool csw = false;
	struct gmp_info info = { .size = sizeof(info) };
	volatile struct gmp_slot *slots;
	double *res[NSTATES];
	void *map;

	while ((opt = getopt(argc, argv, "cn:r:")) != -1) {
		if (opt == 'n')
			n = atol(optarg);
		else if (opt == 'r')
			rounds = atoi(optarg);
		else if (opt == 'c')
			csw = true;
		else
			return 2;
	}
	if (n < 1 || rounds < 1)
		return 2;
	pin_first_cpu();
	if (csw)
		return csw_main(n, rounds);

	fd = open(GMP_DEVICE_PATH, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		printf("@reg-na open %s: %s\n", GMP_DEVICE_PATH, strerror(errno));
		return 0;
	}
	if (ioctl(fd, GMP_IOC_INFO, &info)) {
		printf("@reg-na GMP_IOC_INFO: %s\n", strerror(errno));
		return 0;
	}
	map = mmap(NULL, info.mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		printf("@reg-na mmap: %s\n", strerror(errno));
		return 0;
	}
	slots = (volatile struct gmp_slot *)((char *)map + info.slots_offset);
	for (int s = 0; s < NSTATES; s++)
		res[s] = calloc(rounds, sizeof(double));
	pfd = perf_open();
	if (pfd < 0)
		printf("@reg-na perf perf_event_open: %s\n", strerror(errno));

	loop(n / 4);	/* warm up */
	for (int r = 0; r < rounds; r++) {
		for (int k = 0; k < NSTATES; k++) {
			int s = (r + k) % NSTATES;
			struct gmp_register reg = { .size = sizeof(reg), .m_id = 1 };
			struct gmp_unregister unreg = { .size = sizeof(unreg) };

			if (s == PERF && pfd < 0)
				continue;
			if (s == PERF) {
				ioctl(pfd, PERF_EVENT_IOC_ENABLE, 0);
				res[s][r] = loop(n);
				ioctl(pfd, PERF_EVENT_IOC_DISABLE, 0);
				printf("@reg %s round=%d ns_per_call=%.2f\n", state_name[s], r,
				       res[s][r]);
				continue;
			}
			if (s != NONE && ioctl(fd, GMP_IOC_REGISTER, &reg)) {
				printf("@reg-na GMP_IOC_REGISTER: %s\n", strerror(errno));
				return 0;
			}
			if (s == ARMED)
				slots[reg.slot].armed = 1;
			res[s][r] = loop(n);
			if (s == ARMED)
				slots[reg.slot].armed = 0;
			if (s != NONE && ioctl(fd, GMP_IOC_UNREGISTER, &unreg)) {
				printf("@reg-na GMP_IOC_UNREGISTER: %s\n", strerror(errno));
				return 0;
			}
			printf("@reg %s round=%d ns_per_call=%.2f\n", state_name[s], r, res[s][r]);
		}
	}
	for (int s = 0; s < NSTATES; s++) {
		if (s == PERF && pfd < 0)
			continue;
		qsort(res[s], rounds, sizeof(double), cmpd);
		printf("@regmed %s ns_per_call=%.2f calls=%ld rounds=%d\n", state_name[s],
		       res[s][rounds / 2], n, rounds);
	}
	return 0;
}
