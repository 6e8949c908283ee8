/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the gmp.ko selftests: thin ioctl wrappers, the shared
 * mapping, registered worker threads ("Ms"), and ways to tell that a thread
 * really sleeps in the kernel (its voluntary context-switch count moved).
 *
 * Threads other than the test's main thread never use the harness macros
 * (they longjmp and are not thread safe): they record the first failed
 * check in their struct gmp_m (M_CHECK) and the main thread reports it.
 *
 * The harness's EXPECT_*()/ASSERT_*() expand to two statements (the check,
 * then the loop that runs an optional { handler }): as the body of an if,
 * for or while they are always braced, whatever checkpatch says about it.
 */
#ifndef GMP_TEST_H
#define GMP_TEST_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <linux/futex.h>
#include <linux/gmp.h>

#include "kselftest_harness.h"

/* The UAPI's int constants, for comparisons with its __u32 fields. */
#define U32(x)		((uint32_t)(x))

#define NSEC_PER_MSEC	1000000LL
#define NSEC_PER_SEC	1000000000LL

/* Generous bounds: they only keep a broken module from hanging a test. */
#define GMP_EVENT_TIMEOUT_MS	10000
#define GMP_SETTLE_TIMEOUT_MS	5000

/* Addresses no user pointer may reach. */
#define GMP_KERNEL_PTR		((void *)0xffffffff81000000UL)
#define GMP_NONCANON_PTR	((void *)0x8000000000000000UL)

static inline pid_t gmp_gettid(void)
{
	return (pid_t)syscall(SYS_gettid);
}

static inline uint64_t gmp_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

/* A sleep that is never cut short by a signal (it may block: never armed). */
static inline void gmp_sleep_ms(unsigned int ms)
{
	struct timespec ts = {
		.tv_sec = ms / 1000,
		.tv_nsec = (long)(ms % 1000) * NSEC_PER_MSEC,
	};

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static inline long gmp_ncpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_CONF);

	return n > 0 ? n : 1;
}

static inline int gmp_pin_self(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set);
}

static inline int sys_futex(uint32_t *uaddr, int op, uint32_t val,
			    const struct timespec *ts)
{
	return (int)syscall(SYS_futex, uaddr, op, val, ts, NULL, 0);
}

/* ---- the device ---------------------------------------------------- */

static inline int gmp_open(void)
{
	return open(GMP_DEVICE_PATH, O_RDWR | O_CLOEXEC);
}

/* Whether the module is there: its device node opens. */
static inline bool gmp_present(void)
{
	int fd = gmp_open();

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

static inline int gmp_info(int fd, struct gmp_info *info)
{
	memset(info, 0, sizeof(*info));
	info->size = sizeof(*info);
	return ioctl(fd, GMP_IOC_INFO, info);
}

static inline int gmp_setup(int fd, uint32_t flags, uint32_t ring_entries,
			    uint32_t max_ms)
{
	struct gmp_setup s = {
		.size = sizeof(s),
		.flags = flags,
		.ring_entries = ring_entries,
		.max_ms = max_ms,
	};

	return ioctl(fd, GMP_IOC_SETUP, &s);
}

static inline int gmp_register(int fd, uint32_t flags, uint32_t m_id,
			       uint32_t *slot)
{
	struct gmp_register r = {
		.size = sizeof(r),
		.flags = flags,
		.m_id = m_id,
	};
	int ret = ioctl(fd, GMP_IOC_REGISTER, &r);

	if (!ret && slot)
		*slot = r.slot;
	return ret;
}

static inline int gmp_unregister(int fd)
{
	struct gmp_unregister u = { .size = sizeof(u) };

	return ioctl(fd, GMP_IOC_UNREGISTER, &u);
}

static inline int gmp_wait(int fd, struct gmp_event *ev, uint32_t max,
			   int64_t timeout_ns, uint32_t flags, uint32_t *nr,
			   uint64_t *overflow)
{
	struct gmp_wait w = {
		.size = sizeof(w),
		.flags = flags,
		.timeout_ns = timeout_ns,
		.events = (uintptr_t)ev,
		.max_events = max,
	};
	int ret = ioctl(fd, GMP_IOC_WAIT, &w);

	if (nr)
		*nr = ret ? 0 : w.nr_events;
	if (overflow && !ret)
		*overflow = w.overflow;
	return ret;
}

static inline int gmp_stats(int fd, uint32_t flags, uint32_t m_id,
			    struct gmp_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->size = sizeof(*st);
	st->flags = flags;
	st->m_id = m_id;
	return ioctl(fd, GMP_IOC_STATS, st);
}

/* One record with a bounded wait: 0, or -1 with errno. */
static inline int gmp_next_event(int fd, struct gmp_event *ev, int timeout_ms)
{
	uint32_t nr;
	int ret;

	memset(ev, 0xcc, sizeof(*ev));
	ret = gmp_wait(fd, ev, 1, (int64_t)timeout_ms * NSEC_PER_MSEC, 0, &nr,
		       NULL);
	if (!ret && nr != 1) {
		errno = EPROTO;
		return -1;
	}
	return ret;
}

/* ---- the shared mapping -------------------------------------------- */

struct gmp_map {
	struct gmp_info info;
	void *base;
	size_t size;
	struct gmp_ring *ring;
	struct gmp_event *events;
	struct gmp_slot *slots;
};

static inline int gmp_map(int fd, struct gmp_map *m)
{
	memset(m, 0, sizeof(*m));
	if (gmp_info(fd, &m->info))
		return -1;
	m->size = m->info.mmap_size;
	m->base = mmap(NULL, m->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m->base == MAP_FAILED) {
		m->base = NULL;
		return -1;
	}
	/* INFO again: the mapping may have created the group's memory. */
	if (gmp_info(fd, &m->info))
		return -1;
	m->ring = (struct gmp_ring *)((char *)m->base + m->info.ring_offset);
	m->events = (struct gmp_event *)((char *)m->base + m->info.events_offset);
	m->slots = (struct gmp_slot *)((char *)m->base + m->info.slots_offset);
	return 0;
}

static inline void gmp_unmap(struct gmp_map *m)
{
	if (m->base)
		munmap(m->base, m->size);
	m->base = NULL;
}

static inline struct gmp_slot *gmp_slot(struct gmp_map *m, uint32_t idx)
{
	return &m->slots[idx];
}

static inline uint32_t gmp_load32(const uint32_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static inline __u64 gmp_load64(const __u64 *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

/* Arming is a plain store into the shared slot: no system call. */
static inline void gmp_arm(struct gmp_slot *s)
{
	__atomic_store_n(&s->armed, 1, __ATOMIC_SEQ_CST);
}

static inline void gmp_disarm(struct gmp_slot *s)
{
	__atomic_store_n(&s->armed, 0, __ATOMIC_SEQ_CST);
}

/*
 * The user-space consumer of the header's protocol: copy the record at
 * head, then CAS head to head + 1. Returns 1 with a record, 0 when empty.
 */
static inline int gmp_ring_pop(struct gmp_map *m, struct gmp_event *ev)
{
	struct gmp_ring *r = m->ring;
	uint32_t mask = m->info.ring_entries - 1;
	uint32_t head, tail;

	for (;;) {
		head = __atomic_load_n(&r->head, __ATOMIC_ACQUIRE);
		tail = __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE);
		if (head == tail)
			return 0;
		memcpy(ev, &m->events[head & mask], sizeof(*ev));
		if (__atomic_compare_exchange_n(&r->head, &head, head + 1, false,
						__ATOMIC_ACQ_REL,
						__ATOMIC_ACQUIRE))
			return 1;
	}
}

/* ---- is a thread really asleep? ------------------------------------ */

/*
 * voluntary_ctxt_switches of a thread of this process: the scheduler bumps
 * it when the thread leaves the CPU because it sleeps. -1 without /proc.
 */
static inline long gmp_nvcsw(pid_t tid)
{
	char path[64], line[128];
	long val = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/task/%d/status", tid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "voluntary_ctxt_switches: %ld", &val) == 1)
			break;
	}
	fclose(f);
	return val;
}

/* Wait (bounded) until thread tid has slept since its count was base. */
static inline bool gmp_wait_slept(pid_t tid, long base, int timeout_ms)
{
	uint64_t end = gmp_now_ns() + (uint64_t)timeout_ms * NSEC_PER_MSEC;

	if (base < 0)
		return false;
	do {
		long now = gmp_nvcsw(tid);

		if (now < 0)
			return false;
		if (now > base)
			return true;
		gmp_sleep_ms(1);
	} while (gmp_now_ns() < end);
	return false;
}

/*
 * A thread about to park in the device announces it (base count, then
 * the flag); another thread waits until the parker is really asleep.
 */
struct gmp_parker {
	pid_t tid;
	long base;
	int announced;
};

static inline void gmp_parker_announce(struct gmp_parker *p)
{
	p->tid = gmp_gettid();
	p->base = gmp_nvcsw(p->tid);
	__atomic_store_n(&p->announced, 1, __ATOMIC_RELEASE);
}

static inline bool gmp_parker_wait_parked(struct gmp_parker *p, int timeout_ms)
{
	uint64_t end = gmp_now_ns() + (uint64_t)timeout_ms * NSEC_PER_MSEC;

	while (!__atomic_load_n(&p->announced, __ATOMIC_ACQUIRE)) {
		if (gmp_now_ns() > end)
			return false;
		gmp_sleep_ms(1);
	}
	return gmp_wait_slept(p->tid, p->base, timeout_ms);
}

/* Bounded wait for a kernel-written counter to reach want. */
static inline bool gmp_wait_u32_ge(const uint32_t *p, uint32_t want,
				   int timeout_ms)
{
	uint64_t end = gmp_now_ns() + (uint64_t)timeout_ms * NSEC_PER_MSEC;

	while ((int32_t)(__atomic_load_n(p, __ATOMIC_ACQUIRE) - want) < 0) {
		if (gmp_now_ns() > end)
			return false;
		gmp_sleep_ms(1);
	}
	return true;
}

static inline bool gmp_wait_u64_ge(const __u64 *p, __u64 want,
				   int timeout_ms)
{
	uint64_t end = gmp_now_ns() + (uint64_t)timeout_ms * NSEC_PER_MSEC;

	while (__atomic_load_n(p, __ATOMIC_ACQUIRE) < want) {
		if (gmp_now_ns() > end)
			return false;
		gmp_sleep_ms(1);
	}
	return true;
}

/* Bounded wait for *p == want, polling with short sleeps. */
static inline bool gmp_wait_int(const int *p, int want, int timeout_ms)
{
	uint64_t end = gmp_now_ns() + (uint64_t)timeout_ms * NSEC_PER_MSEC;

	while (__atomic_load_n(p, __ATOMIC_ACQUIRE) != want) {
		if (gmp_now_ns() > end)
			return false;
		gmp_sleep_ms(1);
	}
	return true;
}

/* Bounded wait for *p >= want (a counter that may run past want). */
static inline bool gmp_wait_int_ge(const int *p, int want, int timeout_ms)
{
	uint64_t end = gmp_now_ns() + (uint64_t)timeout_ms * NSEC_PER_MSEC;

	while (__atomic_load_n(p, __ATOMIC_ACQUIRE) < want) {
		if (gmp_now_ns() > end)
			return false;
		gmp_sleep_ms(1);
	}
	return true;
}

static inline void gmp_set_int(int *p, int v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

static inline int gmp_get_int(const int *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

/* ---- module reference count ---------------------------------------- */

/* gmp's reference count, or -1 when it cannot be read. */
static inline long gmp_refcnt(void)
{
	char line[256];
	long val = -1;
	FILE *f;

	f = fopen("/sys/module/gmp/refcnt", "re");
	if (f) {
		if (fscanf(f, "%ld", &val) != 1)
			val = -1;
		fclose(f);
		return val;
	}
	f = fopen("/proc/modules", "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		long size, cnt;
		char name[64];

		if (sscanf(line, "%63s %ld %ld", name, &size, &cnt) == 3 &&
		    !strcmp(name, "gmp")) {
			val = cnt;
			break;
		}
	}
	fclose(f);
	return val;
}

/*
 * Wait (bounded) until the module's count is back to at most base: every
 * group and every dead M of the test released (freeing is asynchronous).
 * Returns the last count read.
 */
static inline long gmp_refcnt_settle(long base, int timeout_ms)
{
	uint64_t end = gmp_now_ns() + (uint64_t)timeout_ms * NSEC_PER_MSEC;
	long cnt;

	for (;;) {
		cnt = gmp_refcnt();
		if (cnt <= base || gmp_now_ns() > end)
			return cnt;
		gmp_sleep_ms(10);
	}
}

/* ---- child processes ------------------------------------------------ */

/*
 * Wait (bounded) for a child; SIGKILL it on timeout. Returns the wait
 * status, or -1 if it had to be killed.
 */
static inline int gmp_reap(pid_t pid, int timeout_ms)
{
	uint64_t end = gmp_now_ns() + (uint64_t)timeout_ms * NSEC_PER_MSEC;
	int status;

	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);

		if (r == pid)
			return status;
		if (r < 0)
			return -1;
		if (gmp_now_ns() > end) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return -1;
		}
		gmp_sleep_ms(2);
	}
}

/* A child's verdict: 0 if it exited 0, else its exit code or 1000+signal. */
static inline int gmp_child_result(int status)
{
	if (status == -1)
		return 999;
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 1000 + WTERMSIG(status);
	return 998;
}

/*
 * Run fn(arg) in a forked child (no harness macros there) and return its
 * verdict as gmp_child_result() does: the child's return value, 0-255.
 */
typedef int (*gmp_child_fn)(void *arg);

static inline int gmp_run_child(gmp_child_fn fn, void *arg, int timeout_ms)
{
	pid_t pid;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0)
		return 997;
	if (pid == 0)
		_exit(fn(arg) & 0xff);
	return gmp_child_result(gmp_reap(pid, timeout_ms));
}

/* The errno of a failed call, 0 for success, -2 for an unexpected result. */
static inline int gmp_errno_of(int ret)
{
	if (ret == 0)
		return 0;
	if (ret == -1)
		return errno;
	return -2;
}

/* ---- registered worker threads ("Ms") ------------------------------ */

#define GMP_M_LEAVE	1000

struct gmp_m;
typedef void (*gmp_m_body_fn)(struct gmp_m *m);

struct gmp_m {
	/* set by the creator */
	int fd;
	struct gmp_map *map;	/* NULL: the body does not touch the slot */
	uint32_t m_id;
	uint32_t reg_flags;
	int cpu;		/* pin to this CPU first, -1 for none */
	bool no_register;	/* the body registers itself */
	bool keep;		/* do not unregister when the body returns */
	bool hold;		/* after the body, wait for cmd == GMP_M_LEAVE */
	gmp_m_body_fn body;
	void *arg;

	/* set by the thread */
	pthread_t thr;
	pid_t tid;
	uint32_t slot;
	struct gmp_slot *s;
	int reg_errno;		/* 0: registered */
	int unreg_errno;
	int started;
	int body_done;
	int finished;
	int err_line;		/* first failed M_CHECK */
	long err_val;

	/* free for the body and the test to talk through */
	int pfd[2];
	uint32_t fword;
	int cmd;
	int ack;
	long count;
	uint64_t t0, t1;
	long nvcsw0, nvcsw1;
	struct gmp_parker *parker;
};

#define M_CHECK(m, cond, val) do {				\
	if (!(cond) && !(m)->err_line) {			\
		(m)->err_line = __LINE__;			\
		(m)->err_val = (long)(val);			\
	}							\
} while (0)

static inline void *gmp_m_thread(void *arg)
{
	struct gmp_m *m = arg;

	m->tid = gmp_gettid();
	if (m->cpu >= 0 && gmp_pin_self(m->cpu))
		M_CHECK(m, 0, errno);
	if (!m->no_register) {
		if (gmp_register(m->fd, m->reg_flags, m->m_id, &m->slot)) {
			m->reg_errno = errno;
			gmp_set_int(&m->started, 1);
			gmp_set_int(&m->finished, 1);
			return NULL;
		}
		if (m->map)
			m->s = gmp_slot(m->map, m->slot);
	}
	gmp_set_int(&m->started, 1);
	if (m->body)
		m->body(m);
	gmp_set_int(&m->body_done, 1);
	if (m->hold)
		gmp_wait_int(&m->cmd, GMP_M_LEAVE, 120000);
	if (!m->no_register && !m->keep && m->reg_errno == 0)
		m->unreg_errno = gmp_unregister(m->fd) ? errno : 0;
	gmp_set_int(&m->finished, 1);
	return NULL;
}

/* Start an M and wait until it registered. 0, or -1 (see m->reg_errno). */
static inline int gmp_m_start(struct gmp_m *m)
{
	if (pthread_create(&m->thr, NULL, gmp_m_thread, m))
		return -1;
	if (!gmp_wait_int(&m->started, 1, GMP_EVENT_TIMEOUT_MS))
		return -1;
	return m->reg_errno ? -1 : 0;
}

/* Join with a bound. 0 when joined. */
static inline int gmp_m_join(struct gmp_m *m, int timeout_ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += timeout_ms / 1000;
	ts.tv_nsec += (long)(timeout_ms % 1000) * NSEC_PER_MSEC;
	if (ts.tv_nsec >= NSEC_PER_SEC) {
		ts.tv_sec++;
		ts.tv_nsec -= NSEC_PER_SEC;
	}
	return pthread_timedjoin_np(m->thr, NULL, &ts);
}

/* Let a held M unregister and end; join it with a bound. 0 when joined. */
static inline int gmp_m_leave(struct gmp_m *m, int timeout_ms)
{
	gmp_set_int(&m->cmd, GMP_M_LEAVE);
	return gmp_m_join(m, timeout_ms);
}

static inline void gmp_m_init(struct gmp_m *m, int fd, struct gmp_map *map,
			      uint32_t m_id, uint32_t reg_flags,
			      gmp_m_body_fn body)
{
	memset(m, 0, sizeof(*m));
	m->fd = fd;
	m->map = map;
	m->m_id = m_id;
	m->reg_flags = reg_flags;
	m->cpu = -1;
	m->body = body;
	m->pfd[0] = m->pfd[1] = -1;
}

/*
 * The test's main program: SKIP the whole program (exit 4) when the
 * module is not loaded, else run the harness. hook, if not NULL, sees the
 * arguments first (a program's helper modes, e.g. after an exec): it
 * returns an exit code, or -1 to let the harness run.
 */
static char *gmp_argv0;

#define GMP_HARNESS_MAIN(hook)						\
	static void __attribute__((constructor))			\
	__constructor_order_last(void)					\
	{								\
		if (!__constructor_order)				\
			__constructor_order = _CONSTRUCTOR_ORDER_BACKWARD; \
	}								\
	int main(int argc, char **argv)					\
	{								\
		int (*__hook)(int, char **) = (hook);			\
		int __ret;						\
									\
		gmp_argv0 = argv[0];					\
		if (__hook) {						\
			__ret = __hook(argc, argv);			\
			if (__ret >= 0)					\
				return __ret;				\
		}							\
		if (!gmp_present()) {					\
			ksft_print_header();				\
			ksft_exit_skip("%s: %s\n", GMP_DEVICE_PATH,	\
				       strerror(errno));		\
		}							\
		return test_harness_run(argc, argv);			\
	}

#endif /* GMP_TEST_H */
