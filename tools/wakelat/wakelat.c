// SPDX-License-Identifier: GPL-2.0
/*
 * wakelat: block-to-wake latency of a scheduler activation.
 *
 * A worker thread M blocks in read(2) on an empty pipe, over and over. A
 * second thread, the activation, is parked until it learns of the block;
 * it then runs, takes a timestamp and writes the byte that releases M. The
 * figure is the time from just before M's read(2) (t0) to the activation
 * running in user space (t1), over thousands of blocks.
 *
 * Two mechanisms deliver the news:
 *
 *   kmod  /dev/gmp (gmp.ko). M is a registered M of a group made with
 *         GMP_SETUP_NO_UNBLOCKED (the ring carries BLOCKED records only),
 *         armed through its mmapped slot around the read. The activation
 *         is not registered; it parks in GMP_IOC_WAIT (max_events 1) and
 *         wakes with the BLOCKED record, whose time_ns gives a second
 *         figure: kernel stamp to user space.
 *   perf  The module-free alternative: a per-thread PERF_COUNT_SW_DUMMY
 *         event on M with context_switch = 1 and wakeup_watermark = 1.
 *         The activation poll(2)s its fd and reads PERF_RECORD_SWITCH
 *         records from the mmapped ring: a switch-out without
 *         PERF_RECORD_MISC_SWITCH_OUT_PREEMPT is a block. The records carry
 *         a CLOCK_MONOTONIC time (use_clockid), for the same second figure.
 *
 * Placements: the activation pinned to M's CPU (same), pinned to another
 * CPU than M's (other), or both threads unpinned (none).
 *
 * Each sample must start with the activation really asleep, or the figure
 * would be that of a ring poll, not of a wake. So between blocks M is
 * disarmed (kmod: slot->armed = 0; perf: PERF_EVENT_IOC_DISABLE, so its own
 * sleeps and wakes write no record), waits until the activation has
 * announced it is parking and /proc shows it sleeping, then arms, takes t0
 * and reads. The activation counts its voluntary context switches around
 * the wait (getrusage): a sample where it did not sleep is thrown away and
 * the block repeated ("not asleep"); so is a perf sample where the block's
 * record was not the first one the activation found ("woken before the
 * block": M was preempted after arming, and that record woke it).
 *
 * The activation parks without a timeout (as a runtime's would); the main
 * thread is a watchdog that interrupts it when a block's news is overdue
 * (-t), and the block is counted lost. With -T the wait's own timeout does
 * that instead (an hrtimer armed and cancelled per park).
 *
 * Each run (mode x placement) is done in rounds (-R) that interleave with
 * the other runs', so that the figures compared were taken under the same
 * conditions: the test VM's host is often busy with something else.
 *
 * This is a benchmark, not a test: it asserts no timing. It fails (exit 1)
 * only when a mode that should work does not: an error, or a block whose
 * news never came within the timeout (those samples are reported as lost).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <linux/gmp.h>
#include <linux/perf_event.h>

#define KSFT_SKIP	4
#define MAX_LOST	3	/* lost blocks after which a run gives up */
#define PERF_PAGES	16	/* data pages of the perf ring (a power of two) */

enum mode { MODE_KMOD, MODE_PERF, NR_MODES };
enum place { PL_SAME, PL_OTHER, PL_NONE, NR_PLACES };
enum status { ST_OK, ST_FAIL, ST_SKIP };

static const char *const mode_name[NR_MODES] = { "kmod", "perf" };
static const char *const place_name[NR_PLACES] = { "same", "other", "none" };

struct sample {
	int64_t lat_ns;		/* t1 - t0: block to activation in user space */
	int64_t k2u_ns;		/* t1 - kernel stamp of the block; INT64_MIN if none */
	int32_t block_cpu;	/* CPU M blocked on, as the event says */
	int32_t wake_cpu;	/* CPU the activation ran on at t1 */
	int32_t park_cpu;	/* CPU the activation was on when it parked */
};

struct figures {
	unsigned int n;
	double min, p50, p90, p99, max, mean;	/* microseconds */
};

/* One measurement: a mode in a placement. */
struct run {
	enum mode mode;
	enum place place;
	int m_cpu, a_cpu;		/* -1: unpinned */
	enum status status;
	char why[256];			/* skip or failure reason */

	struct sample *s;		/* n of them once done */
	unsigned int ns;
	unsigned int lost;		/* blocks whose news never came */
	unsigned int unparked;		/* retried: the activation had not slept */
	unsigned int early;		/* retried: perf woke it before the block */
	unsigned int stale;		/* records of no current block */
	unsigned int spurious;		/* wakes that brought no block */
	unsigned int overflows;		/* kmod OVERFLOW records, perf LOST records */
	unsigned int rec_block, rec_preempt, rec_in;	/* perf: SWITCH records by kind */
	unsigned int blocks;		/* armed reads done, warm-up included */
	unsigned int local;		/* samples woken on the CPU M blocked on */
	unsigned int park_local;	/* samples whose activation parked there */
	unsigned int park_local_woke_remote;	/* ... but ran elsewhere at t1 */
	bool have_k2u;
	bool aborted;
	struct gmp_stats gst;		/* kmod: the group's counters at the end */
	bool have_gst;
	double secs;
	struct figures lat, k2u;
};

/* What M and the activation share during a run. */
struct shared {
	struct run *run;
	unsigned int warm, n;		/* blocks of this round: thrown away, kept */
	unsigned int base;		/* samples of the run before this round */
	int64_t tmo_ns;

	int pipe[2];
	/* kmod */
	int gfd;
	void *map;
	size_t map_size;
	volatile struct gmp_slot *slot;
	unsigned int slot_idx;
	/* perf */
	int pfd;
	void *pmap;
	size_t pmap_size;
	bool perf_clock;

	_Atomic pid_t m_tid, a_tid;
	_Atomic int64_t t0;		/* M: just before the read */
	_Atomic unsigned int iter;	/* M: number of the current armed block */
	_Atomic int blocking;		/* M: between arming and the read's return */
	_Atomic uint32_t expect_seq;	/* kmod: the slot's seq of this block */
	_Atomic int parking;		/* activation: about to park / parked */
	_Atomic unsigned int valid;	/* activation: good samples, warm-up included */
	_Atomic int stop, abort, a_done;
	_Atomic int kick;		/* watchdog: the block's news is overdue */

	sem_t m_ready, go, m_done;
	int m_err;
	char m_why[200];

	/* activation only */
	unsigned int last_iter;
};

static int opt_n = 2000, opt_warm = 100, opt_tmo = 10, opt_cpu = -1, opt_rounds = 4;
static bool opt_verbose, opt_timed, opt_perf_clock = true;
static int ncpu_allowed, cpu_a = -1, cpu_b = -1;

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static pid_t gettid_(void)
{
	return (pid_t)syscall(SYS_gettid);
}

static void setwhy(char *buf, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void setwhy(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, size, fmt, ap);
	va_end(ap);
}

static int pin_self(int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return 0;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

static long nvcsw(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_THREAD, &ru))
		return -1;
	return ru.ru_nvcsw;
}

/* The scheduler state letter of thread @tid ('S' asleep), or 0. */
static char thread_state(pid_t tid)
{
	char path[64], buf[512], *p;
	ssize_t len;
	int fd;

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	len = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (len <= 0)
		return 0;
	buf[len] = 0;
	p = strrchr(buf, ')');
	if (!p || p[1] != ' ')
		return 0;
	return p[2];
}

static void sleep_ns(long ns)
{
	struct timespec ts = { 0, ns };

	nanosleep(&ts, NULL);
}

static void noop_handler(int sig)
{
	(void)sig;
}

/* ------------------------------------------------------------------ arming */

static int m_arm(struct shared *sh, bool on)
{
	if (sh->run->mode == MODE_KMOD) {
		sh->slot->armed = on;
		return 0;
	}
	return ioctl(sh->pfd, on ? PERF_EVENT_IOC_ENABLE : PERF_EVENT_IOC_DISABLE, 0);
}

/* ---------------------------------------------------------------------- M */

/* Wait until the activation is asleep in its wait; false on abort or timeout. */
static bool m_wait_parked(struct shared *sh)
{
	int64_t deadline = now_ns() + sh->tmo_ns;
	pid_t a = atomic_load(&sh->a_tid);

	for (;;) {
		if (atomic_load(&sh->abort))
			return false;
		if (atomic_load(&sh->parking) && thread_state(a) == 'S')
			return true;
		if (now_ns() > deadline) {
			setwhy(sh->m_why, sizeof(sh->m_why),
			       "the activation did not park within %d s", opt_tmo);
			sh->m_err = 1;
			return false;
		}
		sleep_ns(5000);
	}
}

static void *m_main(void *arg)
{
	struct shared *sh = arg;
	struct run *r = sh->run;
	unsigned int want = sh->warm + sh->n, iter = 0;
	char c;

	if (pin_self(r->m_cpu)) {
		setwhy(sh->m_why, sizeof(sh->m_why), "cannot pin M to CPU %d", r->m_cpu);
		sh->m_err = 1;
		sem_post(&sh->m_ready);
		return NULL;
	}
	prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
	atomic_store(&sh->m_tid, gettid_());

	if (r->mode == MODE_KMOD) {
		struct gmp_register reg = {
			.size = sizeof(reg),
			.m_id = 1,
		};

		if (ioctl(sh->gfd, GMP_IOC_REGISTER, &reg)) {
			setwhy(sh->m_why, sizeof(sh->m_why), "GMP_IOC_REGISTER: %s",
			       strerror(errno));
			sh->m_err = 1;
			sem_post(&sh->m_ready);
			return NULL;
		}
		sh->slot_idx = reg.slot;
	}
	sem_post(&sh->m_ready);
	sem_wait(&sh->go);
	if (sh->m_err)
		goto out;

	while (atomic_load(&sh->valid) < want && !atomic_load(&sh->abort)) {
		/* Bound the retries of unparked samples. */
		if (iter >= 2 * want + 10) {
			setwhy(sh->m_why, sizeof(sh->m_why),
			       "%u blocks for %u good samples: giving up", iter,
			       atomic_load(&sh->valid));
			sh->m_err = 1;
			break;
		}
		if (!m_wait_parked(sh))
			break;
		if (r->mode == MODE_KMOD)
			atomic_store(&sh->expect_seq, sh->slot->seq + 1);
		atomic_store(&sh->iter, ++iter);
		atomic_store(&sh->blocking, 1);
		if (m_arm(sh, true)) {
			setwhy(sh->m_why, sizeof(sh->m_why), "PERF_EVENT_IOC_ENABLE: %s",
			       strerror(errno));
			sh->m_err = 1;
			atomic_store(&sh->blocking, 0);
			break;
		}
		atomic_store_explicit(&sh->t0, now_ns(), memory_order_release);
		if (read(sh->pipe[0], &c, 1) != 1) {
			m_arm(sh, false);
			atomic_store(&sh->blocking, 0);
			setwhy(sh->m_why, sizeof(sh->m_why), "read(pipe): %s", strerror(errno));
			sh->m_err = 1;
			break;
		}
		m_arm(sh, false);
		atomic_store(&sh->blocking, 0);
	}
	r->blocks += iter;
out:
	/* Before this thread goes: a perf fd then polls as hung up. */
	atomic_store(&sh->stop, 1);
	sem_post(&sh->m_done);
	if (r->mode == MODE_KMOD) {
		struct gmp_unregister unreg = { .size = sizeof(unreg) };

		ioctl(sh->gfd, GMP_IOC_UNREGISTER, &unreg);
	}
	return NULL;
}

/* ------------------------------------------------------------- activation */

/* Store a good sample; the first warm ones are thrown away. */
static void a_sample(struct shared *sh, int64_t t1, int64_t kstamp, int bcpu, int wcpu,
		     int pcpu)
{
	struct run *r = sh->run;
	unsigned int v = atomic_load(&sh->valid);

	if (v >= sh->warm && v - sh->warm < sh->n) {
		struct sample *s = &r->s[sh->base + v - sh->warm];

		s->lat_ns = t1 - atomic_load_explicit(&sh->t0, memory_order_acquire);
		s->k2u_ns = kstamp ? t1 - kstamp : INT64_MIN;
		s->block_cpu = bcpu;
		s->wake_cpu = wcpu;
		s->park_cpu = pcpu;
		r->ns = sh->base + v - sh->warm + 1;
		if (bcpu == wcpu)
			r->local++;
		if (bcpu == pcpu) {
			r->park_local++;
			if (wcpu != pcpu)
				r->park_local_woke_remote++;
		}
	}
	atomic_store(&sh->valid, v + 1);
}

static void a_release(struct shared *sh)
{
	char c = 'x';

	if (write(sh->pipe[1], &c, 1) != 1)
		atomic_store(&sh->abort, 1);
}

/*
 * The wait timed out: if M is blocked unannounced, count it lost and free
 * it. @taken: a drain just now found (and took) M's block, whose wake
 * never came.
 */
static void a_timeout(struct shared *sh, bool taken)
{
	unsigned int it = atomic_load(&sh->iter);

	if (!taken && (!atomic_load(&sh->blocking) || it == sh->last_iter))
		return;
	sh->last_iter = it;
	sh->run->lost++;
	if (sh->run->lost >= MAX_LOST)
		atomic_store(&sh->abort, 1);
	a_release(sh);
}

/* The record or event is that of the block M is in now: take it once. */
static bool a_current(struct shared *sh)
{
	unsigned int it = atomic_load(&sh->iter);

	if (!atomic_load(&sh->blocking) || it == sh->last_iter)
		return false;
	sh->last_iter = it;
	return true;
}

static void a_kmod(struct shared *sh)
{
	struct run *r = sh->run;

	while (!atomic_load(&sh->stop)) {
		struct gmp_event ev;
		struct gmp_wait w = {
			.size = sizeof(w),
			.timeout_ns = opt_timed ? sh->tmo_ns : -1,
			.events = (uintptr_t)&ev,
			.max_events = 1,
		};
		long cs0, cs1;
		int64_t t1;
		int ret, cpu, pcpu;

		cs0 = nvcsw();
		pcpu = sched_getcpu();
		atomic_store(&sh->parking, 1);
		ret = ioctl(sh->gfd, GMP_IOC_WAIT, &w);
		t1 = now_ns();
		cpu = sched_getcpu();
		atomic_store(&sh->parking, 0);
		cs1 = nvcsw();
		if (atomic_load(&sh->stop))
			break;
		if (ret) {
			if (errno == ETIMEDOUT) {
				a_timeout(sh, false);
				continue;
			}
			if (errno == EINTR) {
				if (atomic_exchange(&sh->kick, 0))
					a_timeout(sh, false);
				continue;
			}
			setwhy(r->why, sizeof(r->why), "GMP_IOC_WAIT: %s", strerror(errno));
			r->status = ST_FAIL;
			atomic_store(&sh->abort, 1);
			if (atomic_load(&sh->blocking))
				a_release(sh);
			break;
		}
		if (w.nr_events != 1) {
			r->spurious++;
			continue;
		}
		if (ev.type == GMP_EV_OVERFLOW) {
			r->overflows += ev.seq;
			continue;
		}
		if (ev.type != GMP_EV_BLOCKED || ev.seq != atomic_load(&sh->expect_seq) ||
		    !a_current(sh)) {
			r->stale++;
			continue;
		}
		if (cs1 > cs0)
			a_sample(sh, t1, (int64_t)ev.time_ns, (int)ev.cpu, cpu, pcpu);
		else
			r->unparked++;
		a_release(sh);
	}
}

struct perf_switch {
	struct perf_event_header h;
	/* sample_id: PERF_SAMPLE_TID | PERF_SAMPLE_TIME | PERF_SAMPLE_CPU */
	uint32_t pid, tid;
	uint64_t time;
	uint32_t cpu, res;
};

/*
 * Consume every record of the perf ring; return true and fill @blk with the
 * first switch-out that is the current block of M. *@early is set if other
 * records came before it: one of them may have been what woke us.
 */
static bool a_perf_drain(struct shared *sh, struct perf_switch *blk, bool *early)
{
	struct perf_event_mmap_page *mp = sh->pmap;
	long pg = sysconf(_SC_PAGESIZE);
	char *data = (char *)sh->pmap + (mp->data_offset ? mp->data_offset : (uint64_t)pg);
	uint64_t size = mp->data_size ? mp->data_size : (uint64_t)PERF_PAGES * pg;
	uint64_t head = __atomic_load_n(&mp->data_head, __ATOMIC_ACQUIRE);
	uint64_t tail = mp->data_tail;
	int64_t t0 = atomic_load_explicit(&sh->t0, memory_order_acquire);
	bool found = false;
	unsigned int nrec = 0;

	while (tail < head) {
		union {
			struct perf_event_header h;
			struct perf_switch sw;
			char raw[256];
		} rec;
		uint64_t off = tail & (size - 1), first;
		size_t len;

		/* A record may wrap around the end of the buffer: copy it whole. */
		first = size - off < sizeof(rec.h) ? size - off : sizeof(rec.h);
		memcpy(&rec, data + off, first);
		memcpy((char *)&rec + first, data, sizeof(rec.h) - first);
		len = rec.h.size;
		if (len < sizeof(rec.h) || tail + len > head) {
			/* A torn or corrupt ring: drop everything. */
			tail = head;
			sh->run->stale++;
			break;
		}
		if (len <= sizeof(rec)) {
			first = size - off < len ? size - off : len;
			memcpy(&rec, data + off, first);
			memcpy((char *)&rec + first, data, len - first);
		}
		tail += len;
		nrec++;

		if (rec.h.type == PERF_RECORD_LOST) {
			sh->run->overflows++;
			continue;
		}
		if (rec.h.type != PERF_RECORD_SWITCH || len < sizeof(rec.sw))
			continue;
		if (!(rec.h.misc & PERF_RECORD_MISC_SWITCH_OUT)) {
			sh->run->rec_in++;
			continue;
		}
		if (rec.h.misc & PERF_RECORD_MISC_SWITCH_OUT_PREEMPT) {
			sh->run->rec_preempt++;
			continue;
		}
		sh->run->rec_block++;
		if (found || (sh->perf_clock && (int64_t)rec.sw.time < t0) || !a_current(sh)) {
			sh->run->stale++;
			continue;
		}
		*blk = rec.sw;
		*early = nrec > 1;
		found = true;
	}
	__atomic_store_n(&mp->data_tail, tail, __ATOMIC_RELEASE);
	return found;
}

static void a_perf(struct shared *sh)
{
	struct run *r = sh->run;

	while (!atomic_load(&sh->stop)) {
		struct pollfd pfd = { .fd = sh->pfd, .events = POLLIN };
		struct perf_switch blk;
		bool early = false;
		long cs0, cs1;
		int64_t t1;
		int ret, cpu, pcpu;

		cs0 = nvcsw();
		pcpu = sched_getcpu();
		atomic_store(&sh->parking, 1);
		ret = poll(&pfd, 1, opt_timed ? opt_tmo * 1000 : -1);
		t1 = now_ns();
		cpu = sched_getcpu();
		atomic_store(&sh->parking, 0);
		cs1 = nvcsw();
		if (atomic_load(&sh->stop))
			break;
		if (ret < 0) {
			if (errno == EINTR) {
				if (atomic_exchange(&sh->kick, 0))
					a_timeout(sh, a_perf_drain(sh, &blk, &early));
				continue;
			}
			setwhy(r->why, sizeof(r->why), "poll(perf fd): %s", strerror(errno));
			r->status = ST_FAIL;
			atomic_store(&sh->abort, 1);
			if (atomic_load(&sh->blocking))
				a_release(sh);
			break;
		}
		if (ret == 0) {
			a_timeout(sh, a_perf_drain(sh, &blk, &early));
			continue;
		}
		if (pfd.revents & (POLLHUP | POLLERR)) {
			/* M is gone (it sets stop before it exits) or the event broke. */
			setwhy(r->why, sizeof(r->why), "poll(perf fd): revents %#x",
			       pfd.revents);
			r->status = ST_FAIL;
			atomic_store(&sh->abort, 1);
			if (atomic_load(&sh->blocking))
				a_release(sh);
			break;
		}
		if (!a_perf_drain(sh, &blk, &early)) {
			r->spurious++;
			continue;
		}
		/*
		 * Woken by a record before the block (M preempted after it
		 * armed), or the block stamped after we ran: not a wake by the
		 * block. Repeat it.
		 */
		if (early || (sh->perf_clock && (int64_t)blk.time > t1))
			r->early++;
		else if (cs1 > cs0)
			a_sample(sh, t1, sh->perf_clock ? (int64_t)blk.time : 0,
				 (int)blk.cpu, cpu, pcpu);
		else
			r->unparked++;
		a_release(sh);
	}
}

static void *a_main(void *arg)
{
	struct shared *sh = arg;

	atomic_store(&sh->a_tid, gettid_());
	if (pin_self(sh->run->a_cpu)) {
		setwhy(sh->run->why, sizeof(sh->run->why), "cannot pin the activation to CPU %d",
		       sh->run->a_cpu);
		sh->run->status = ST_FAIL;
		atomic_store(&sh->abort, 1);
	} else if (sh->run->mode == MODE_KMOD) {
		a_kmod(sh);
	} else {
		a_perf(sh);
	}
	atomic_store(&sh->a_done, 1);
	return NULL;
}

/* ------------------------------------------------------------------ setup */

static int kmod_open(struct shared *sh, struct run *r)
{
	struct gmp_info info = { .size = sizeof(info) };
	struct gmp_setup setup = {
		.size = sizeof(setup),
		.flags = GMP_SETUP_NO_UNBLOCKED,
	};
	const uint64_t need = GMP_FEAT_BLOCKED | GMP_FEAT_WAIT | GMP_FEAT_MMAP;

	sh->gfd = open(GMP_DEVICE_PATH, O_RDWR | O_CLOEXEC);
	if (sh->gfd < 0) {
		setwhy(r->why, sizeof(r->why), "cannot open %s: %s%s", GMP_DEVICE_PATH,
		       strerror(errno),
		       errno == ENOENT || errno == ENODEV || errno == ENXIO ?
		       " (gmp.ko not loaded)" : "");
		return errno == ENOENT || errno == ENODEV || errno == ENXIO ? ST_SKIP : ST_FAIL;
	}
	if (ioctl(sh->gfd, GMP_IOC_SETUP, &setup)) {
		setwhy(r->why, sizeof(r->why), "GMP_IOC_SETUP(NO_UNBLOCKED): %s",
		       strerror(errno));
		return ST_FAIL;
	}
	if (ioctl(sh->gfd, GMP_IOC_INFO, &info)) {
		setwhy(r->why, sizeof(r->why), "GMP_IOC_INFO: %s", strerror(errno));
		return ST_FAIL;
	}
	if (info.abi_version != GMP_ABI_VERSION || (info.features & need) != need ||
	    info.slot_size != sizeof(struct gmp_slot)) {
		setwhy(r->why, sizeof(r->why),
		       "unsupported module: ABI %u, features %#llx, slot size %u",
		       info.abi_version, (unsigned long long)info.features, info.slot_size);
		return ST_SKIP;
	}
	sh->map_size = info.mmap_size;
	sh->map = mmap(NULL, sh->map_size, PROT_READ | PROT_WRITE, MAP_SHARED, sh->gfd, 0);
	if (sh->map == MAP_FAILED) {
		sh->map = NULL;
		setwhy(r->why, sizeof(r->why), "mmap(/dev/gmp): %s", strerror(errno));
		return ST_FAIL;
	}
	/* Stash the slots' offset; M adds its index after registering. */
	sh->slot = (volatile struct gmp_slot *)((char *)sh->map + info.slots_offset);
	return ST_OK;
}

static int perf_open(struct shared *sh, struct run *r, pid_t tid)
{
	struct perf_event_attr a;
	long pg = sysconf(_SC_PAGESIZE);
	int pass;

	for (pass = opt_perf_clock ? 0 : 1; pass < 2; pass++) {
		memset(&a, 0, sizeof(a));
		a.size = sizeof(a);
		a.type = PERF_TYPE_SOFTWARE;
		a.config = PERF_COUNT_SW_DUMMY;
		a.sample_type = PERF_SAMPLE_TID | PERF_SAMPLE_TIME | PERF_SAMPLE_CPU;
		a.sample_id_all = 1;
		a.context_switch = 1;
		a.watermark = 1;
		a.wakeup_watermark = 1;
		a.exclude_kernel = 1;	/* what perf_event_paranoid 2 allows */
		a.exclude_hv = 1;
		a.disabled = 1;		/* M enables it around each timed block */
		if (pass == 0) {
			a.use_clockid = 1;
			a.clockid = CLOCK_MONOTONIC;
		}
		sh->pfd = (int)syscall(SYS_perf_event_open, &a, tid, -1, -1, PERF_FLAG_FD_CLOEXEC);
		if (sh->pfd >= 0 || errno != EINVAL)
			break;
	}
	if (sh->pfd < 0) {
		int e = errno;
		FILE *f = fopen("/proc/sys/kernel/perf_event_paranoid", "r");
		int par = -99;

		if (f) {
			if (fscanf(f, "%d", &par) != 1)
				par = -99;
			fclose(f);
		}
		setwhy(r->why, sizeof(r->why),
		       "perf_event_open(context_switch) failed: %s (perf_event_paranoid %d%s)",
		       strerror(e), par,
		       e == EACCES || e == EPERM ? "; needs <= 2 or CAP_PERFMON" : "");
		return ST_SKIP;
	}
	sh->perf_clock = pass == 0;
	r->have_k2u = sh->perf_clock;
	sh->pmap_size = (size_t)(1 + PERF_PAGES) * pg;
	sh->pmap = mmap(NULL, sh->pmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, sh->pfd, 0);
	if (sh->pmap == MAP_FAILED) {
		sh->pmap = NULL;
		setwhy(r->why, sizeof(r->why), "mmap(perf fd): %s", strerror(errno));
		return ST_FAIL;
	}
	return ST_OK;
}

/* -------------------------------------------------------------- one run */

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of the sorted @v, in microseconds. */
static double pct(const int64_t *v, unsigned int n, unsigned int q)
{
	unsigned int rank = (unsigned int)(((uint64_t)q * n + 99) / 100);

	return v[rank ? rank - 1 : 0] / 1e3;
}

static void figures(struct figures *f, int64_t *v, unsigned int n)
{
	double sum = 0;
	unsigned int i;

	memset(f, 0, sizeof(*f));
	f->n = n;
	if (!n)
		return;
	qsort(v, n, sizeof(*v), cmp_i64);
	for (i = 0; i < n; i++)
		sum += (double)v[i];
	f->min = v[0] / 1e3;
	f->p50 = pct(v, n, 50);
	f->p90 = pct(v, n, 90);
	f->p99 = pct(v, n, 99);
	f->max = v[n - 1] / 1e3;
	f->mean = sum / n / 1e3;
}

static void summarize(struct run *r)
{
	int64_t *v = calloc(r->ns ? r->ns : 1, sizeof(*v));
	unsigned int i, k = 0;

	if (!v)
		return;
	for (i = 0; i < r->ns; i++)
		v[i] = r->s[i].lat_ns;
	figures(&r->lat, v, r->ns);
	for (i = 0; i < r->ns; i++)
		if (r->s[i].k2u_ns != INT64_MIN)
			v[k++] = r->s[i].k2u_ns;
	figures(&r->k2u, v, k);
	free(v);
}

/*
 * Until M is done, once a second: if M has been blocked in the same armed
 * read for the timeout, interrupt the parked activation, which then counts
 * the block lost and frees M. (Unless -T: then the wait's own timeout does.)
 */
static void watchdog(struct shared *sh, pthread_t at)
{
	unsigned int seen = 0;
	int64_t since = now_ns();

	for (;;) {
		struct timespec ts;
		unsigned int it;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		if (!sem_timedwait(&sh->m_done, &ts))
			return;
		it = atomic_load(&sh->iter);
		if (!atomic_load(&sh->blocking) || it != seen) {
			seen = it;
			since = now_ns();
		} else if (!opt_timed && now_ns() - since >= sh->tmo_ns) {
			atomic_store(&sh->kick, 1);
			pthread_kill(at, SIGUSR1);
			since = now_ns();
		}
	}
}

/* Stop the activation, parked or not: signals until it has seen stop. */
static void stop_activation(struct shared *sh, pthread_t at)
{
	atomic_store(&sh->stop, 1);
	while (!atomic_load(&sh->a_done)) {
		pthread_kill(at, SIGUSR1);
		sleep_ns(1000000);
	}
	pthread_join(at, NULL);
}

/* One round of a run: @n more samples after @warm thrown away. */
static void do_round(struct run *r, unsigned int n, unsigned int warm)
{
	struct shared *sh = calloc(1, sizeof(*sh));
	pthread_t mt, at;
	bool m_started = false, a_started = false;
	int64_t t_start;

	if (!sh) {
		r->status = ST_FAIL;
		setwhy(r->why, sizeof(r->why), "out of memory");
		return;
	}
	sh->run = r;
	sh->warm = warm;
	sh->n = n;
	sh->base = r->ns;
	sh->tmo_ns = (int64_t)opt_tmo * 1000000000;
	sh->gfd = sh->pfd = -1;
	sh->pipe[0] = sh->pipe[1] = -1;
	sem_init(&sh->m_ready, 0, 0);
	sem_init(&sh->go, 0, 0);
	sem_init(&sh->m_done, 0, 0);
	if (!r->s)
		r->s = calloc(opt_n, sizeof(*r->s));
	if (!r->s || pipe2(sh->pipe, O_CLOEXEC)) {
		r->status = ST_FAIL;
		setwhy(r->why, sizeof(r->why), "pipe/calloc: %s", strerror(errno));
		goto out;
	}

	if (r->mode == MODE_KMOD) {
		r->have_k2u = true;
		r->status = kmod_open(sh, r);
		if (r->status != ST_OK)
			goto out;
	}
	if (pthread_create(&mt, NULL, m_main, sh)) {
		r->status = ST_FAIL;
		setwhy(r->why, sizeof(r->why), "pthread_create");
		goto out;
	}
	m_started = true;
	sem_wait(&sh->m_ready);
	if (sh->m_err) {
		r->status = ST_FAIL;
		setwhy(r->why, sizeof(r->why), "%s", sh->m_why);
		goto out;
	}
	if (r->mode == MODE_KMOD) {
		sh->slot += sh->slot_idx;	/* the slots array, then M's own */
	} else {
		r->status = perf_open(sh, r, atomic_load(&sh->m_tid));
		if (r->status != ST_OK) {
			sh->m_err = 1;
			goto out;
		}
	}
	if (pthread_create(&at, NULL, a_main, sh)) {
		r->status = ST_FAIL;
		setwhy(r->why, sizeof(r->why), "pthread_create");
		sh->m_err = 1;
		goto out;
	}
	a_started = true;
	while (!atomic_load(&sh->a_tid))
		sleep_ns(10000);

	t_start = now_ns();
	sem_post(&sh->go);
	watchdog(sh, at);
	pthread_join(mt, NULL);
	m_started = false;
	r->secs += (now_ns() - t_start) / 1e9;

	stop_activation(sh, at);
	a_started = false;

	if (r->mode == MODE_KMOD) {
		struct gmp_stats st = { .size = sizeof(st) };

		if (!ioctl(sh->gfd, GMP_IOC_STATS, &st)) {
			r->have_gst = true;
			r->gst.blocks += st.blocks;
			r->gst.unblocks += st.unblocks;
			r->gst.wakeups += st.wakeups;
			r->gst.events += st.events;
			r->gst.overflows += st.overflows;
			r->gst.prewakes += st.prewakes;
		}
	}
	r->aborted = atomic_load(&sh->abort) || sh->m_err;
	if (r->status == ST_OK && sh->m_err) {
		r->status = ST_FAIL;
		setwhy(r->why, sizeof(r->why), "%s", sh->m_why);
	}
	if (r->status == ST_OK && r->lost) {
		r->status = ST_FAIL;
		setwhy(r->why, sizeof(r->why), "%u block(s) never announced within %d s%s",
		       r->lost, opt_tmo, r->aborted ? "; run abandoned" : "");
	}
	if (r->status == ST_OK && r->ns < sh->base + n) {
		r->status = ST_FAIL;
		setwhy(r->why, sizeof(r->why), "only %u of %u samples", r->ns - sh->base, n);
	}
out:
	if (m_started) {
		sem_post(&sh->go);
		pthread_join(mt, NULL);
	}
	if (a_started)
		stop_activation(sh, at);
	if (sh->map)
		munmap(sh->map, sh->map_size);
	if (sh->pmap)
		munmap(sh->pmap, sh->pmap_size);
	if (sh->gfd >= 0)
		close(sh->gfd);
	if (sh->pfd >= 0)
		close(sh->pfd);
	if (sh->pipe[0] >= 0)
		close(sh->pipe[0]);
	if (sh->pipe[1] >= 0)
		close(sh->pipe[1]);
	sem_destroy(&sh->m_ready);
	sem_destroy(&sh->go);
	sem_destroy(&sh->m_done);
	free(sh);
}

/* ----------------------------------------------------------------- output */

static void print_row(const struct run *r, const struct figures *f, bool local)
{
	printf("%-5s %-6s %5u %5u ", mode_name[r->mode], place_name[r->place], f->n, r->lost);
	printf("%8.1f %8.1f %8.1f %8.1f %9.1f %8.1f", f->min, f->p50, f->p90, f->p99,
	       f->max, f->mean);
	if (local)
		printf(" %5.0f%%", r->ns ? 100.0 * r->local / r->ns : 0.0);
	printf("\n");
}

static void print_tables(struct run *runs, int nr, const char *krel)
{
	int i;

	printf("wakelat: block -> activation running in user space, %d blocks per run "
	       "in %d rounds (+%d warm-up each), kernel %s, %d CPUs usable\n", opt_n,
	       opt_rounds, opt_warm, krel, ncpu_allowed);
	printf("placement: same = M and activation on CPU %d; ", cpu_a);
	if (cpu_b >= 0)
		printf("other = M on CPU %d, activation on CPU %d; ", cpu_a, cpu_b);
	printf("none = both unpinned\n");
	printf("the activation parks %s\n", opt_timed ?
	       "with a timeout (GMP_IOC_WAIT timeout_ns, poll timeout)" :
	       "without a timeout (GMP_IOC_WAIT timeout_ns -1, poll -1), under a watchdog");
	printf("perf records are stamped with %s\n", opt_perf_clock ?
	       "CLOCK_MONOTONIC (use_clockid), like the module's events" :
	       "perf's own clock (-P): no kernel-stamp figure");
	printf("\nt1 - t0: from just before M's read(2) to the activation in user space (us)\n");
	printf("%-5s %-6s %5s %5s %8s %8s %8s %8s %9s %8s %6s\n", "mode", "place", "n",
	       "lost", "min", "p50", "p90", "p99", "max", "mean", "local");
	for (i = 0; i < nr; i++) {
		struct run *r = &runs[i];

		if (r->status == ST_SKIP) {
			printf("%-5s %-6s skipped: %s\n", mode_name[r->mode],
			       place_name[r->place], r->why);
			continue;
		}
		if (r->status == ST_FAIL && !r->ns) {
			printf("%-5s %-6s FAILED: %s\n", mode_name[r->mode],
			       place_name[r->place], r->why);
			continue;
		}
		print_row(r, &r->lat, true);
		if (r->status == ST_FAIL)
			printf("      FAILED: %s\n", r->why);
	}
	printf("\nt1 - kernel time stamp of the block (event time_ns / perf record time) (us)\n");
	printf("%-5s %-6s %5s %5s %8s %8s %8s %8s %9s %8s\n", "mode", "place", "n",
	       "lost", "min", "p50", "p90", "p99", "max", "mean");
	for (i = 0; i < nr; i++) {
		struct run *r = &runs[i];

		if (!r->ns)
			continue;
		if (!r->k2u.n) {
			printf("%-5s %-6s no kernel time stamps\n", mode_name[r->mode],
			       place_name[r->place]);
			continue;
		}
		print_row(r, &r->k2u, false);
	}

	printf("\nlocal = the activation ran on the CPU M blocked on (at t1)\n");
	printf("\nper run:\n");
	for (i = 0; i < nr; i++) {
		struct run *r = &runs[i];

		if (r->status == ST_SKIP || (!r->ns && !r->blocks))
			continue;
		printf("  %s/%s: %u blocks in %.2f s; repeated %u (activation not asleep %u, "
		       "woken before the block %u); stale %u; wakes without a block %u; %s %u\n",
		       mode_name[r->mode], place_name[r->place], r->blocks, r->secs,
		       r->unparked + r->early, r->unparked, r->early, r->stale, r->spurious,
		       r->mode == MODE_KMOD ? "overflow records" : "lost records",
		       r->overflows);
		printf("    activation parked on the CPU M then blocked on: %u of %u samples, "
		       "of which it ran elsewhere: %u\n", r->park_local, r->ns,
		       r->park_local_woke_remote);
		if (r->mode == MODE_PERF)
			printf("    switch records: %u out (block), %u out (preempt), %u in\n",
			       r->rec_block, r->rec_preempt, r->rec_in);
		if (r->have_gst)
			printf("    module: blocks %llu, events %llu, wakeups %llu (prewakes %llu), overflows %llu\n",
			       (unsigned long long)r->gst.blocks,
			       (unsigned long long)r->gst.events,
			       (unsigned long long)r->gst.wakeups,
			       (unsigned long long)r->gst.prewakes,
			       (unsigned long long)r->gst.overflows);
	}

	/* The target, as information: p50 <= half of perf's, p99 <= perf's. */
	for (i = 0; i < nr; i++) {
		struct run *k = &runs[i], *p = NULL;
		int j;

		if (k->mode != MODE_KMOD || !k->ns)
			continue;
		for (j = 0; j < nr; j++)
			if (runs[j].mode == MODE_PERF && runs[j].place == k->place && runs[j].ns)
				p = &runs[j];
		if (!p)
			continue;
		if (i == 0 || runs[i - 1].mode != MODE_KMOD || !runs[i - 1].ns ||
		    runs[0].place == k->place)
			printf("\nkmod vs perf (target: p50 <= 0.5 x perf, p99 <= 1.0 x perf)\n");
		printf("  %-6s p50 %.1f / %.1f = %.2f x (%s)   p99 %.1f / %.1f = %.2f x (%s)"
		       "   max %.1f / %.1f\n", place_name[k->place], k->lat.p50, p->lat.p50,
		       k->lat.p50 / p->lat.p50, k->lat.p50 <= 0.5 * p->lat.p50 ? "met" : "not met",
		       k->lat.p99, p->lat.p99, k->lat.p99 / p->lat.p99,
		       k->lat.p99 <= p->lat.p99 ? "met" : "not met", k->lat.max, p->lat.max);
	}
}

static void json_fig(FILE *f, const char *name, const struct figures *g)
{
	fprintf(f, "\"%s\": {\"n\": %u, \"min\": %.3f, \"p50\": %.3f, \"p90\": %.3f, "
		"\"p99\": %.3f, \"max\": %.3f, \"mean\": %.3f}", name, g->n, g->min, g->p50,
		g->p90, g->p99, g->max, g->mean);
}

static const char *const status_name[] = { "ok", "failed", "skipped" };

static int write_json(const char *path, struct run *runs, int nr, const char *krel)
{
	FILE *f = fopen(path, "w");
	int i;

	if (!f) {
		fprintf(stderr, "wakelat: %s: %s\n", path, strerror(errno));
		return -1;
	}
	fprintf(f, "{\n  \"tool\": \"wakelat\",\n  \"unit\": \"us\",\n  \"kernel\": \"%s\",\n"
		"  \"cpus\": %d,\n  \"n\": %d,\n  \"rounds\": %d,\n  \"warmup\": %d,\n"
		"  \"timeout_s\": %d,\n  \"timed_waits\": %s,\n  \"perf_use_clockid\": %s,\n"
		"  \"runs\": [", krel, ncpu_allowed, opt_n, opt_rounds, opt_warm, opt_tmo,
		opt_timed ? "true" : "false", opt_perf_clock ? "true" : "false");
	for (i = 0; i < nr; i++) {
		struct run *r = &runs[i];
		char why[2 * sizeof(r->why)], *w = why;
		const char *c;

		for (c = r->why; *c; c++) {
			if (*c == '"' || *c == '\\')
				*w++ = '\\';
			*w++ = *c;
		}
		*w = 0;
		fprintf(f, "%s\n    {\"mode\": \"%s\", \"placement\": \"%s\", \"status\": \"%s\", "
			"\"reason\": \"%s\", \"m_cpu\": %d, \"activation_cpu\": %d,\n     ",
			i ? "," : "", mode_name[r->mode], place_name[r->place],
			status_name[r->status], why, r->m_cpu, r->a_cpu);
		fprintf(f, "\"samples\": %u, \"blocks\": %u, \"lost\": %u, \"unparked\": %u, \"early\": %u, "
			"\"stale\": %u, \"spurious_wakes\": %u, \"overflows\": %u, "
			"\"local_wakes\": %u, \"parked_local\": %u, \"parked_local_ran_remote\": %u, "
			"\"seconds\": %.3f,\n     ", r->ns, r->blocks, r->lost, r->unparked, r->early, r->stale,
			r->spurious, r->overflows, r->local, r->park_local, r->park_local_woke_remote,
			r->secs);
		if (r->mode == MODE_PERF)
			fprintf(f, "\"switch_records\": {\"out_block\": %u, \"out_preempt\": %u, "
				"\"in\": %u},\n     ", r->rec_block, r->rec_preempt, r->rec_in);
		json_fig(f, "block_to_wake_us", &r->lat);
		fprintf(f, ",\n     ");
		json_fig(f, "kstamp_to_wake_us", &r->k2u);
		if (r->have_gst)
			fprintf(f, ",\n     \"module_stats\": {\"blocks\": %llu, \"unblocks\": %llu, "
				"\"wakeups\": %llu, \"prewakes\": %llu, \"events\": %llu, "
				"\"overflows\": %llu}",
				(unsigned long long)r->gst.blocks,
				(unsigned long long)r->gst.unblocks,
				(unsigned long long)r->gst.wakeups,
				(unsigned long long)r->gst.prewakes,
				(unsigned long long)r->gst.events,
				(unsigned long long)r->gst.overflows);
		fprintf(f, "}");
	}
	fprintf(f, "\n  ]\n}\n");
	return fclose(f) ? -1 : 0;
}

static int write_raw(const char *path, struct run *runs, int nr)
{
	FILE *f = fopen(path, "w");
	unsigned int j;
	int i;

	if (!f) {
		fprintf(stderr, "wakelat: %s: %s\n", path, strerror(errno));
		return -1;
	}
	fprintf(f, "mode,placement,i,block_to_wake_ns,kstamp_to_wake_ns,block_cpu,wake_cpu,"
		"park_cpu\n");
	for (i = 0; i < nr; i++)
		for (j = 0; j < runs[i].ns; j++) {
			const struct sample *s = &runs[i].s[j];

			fprintf(f, "%s,%s,%u,%" PRId64 ",", mode_name[runs[i].mode],
				place_name[runs[i].place], j, s->lat_ns);
			if (s->k2u_ns != INT64_MIN)
				fprintf(f, "%" PRId64, s->k2u_ns);
			fprintf(f, ",%d,%d,%d\n", s->block_cpu, s->wake_cpu, s->park_cpu);
		}
	return fclose(f) ? -1 : 0;
}

/* ------------------------------------------------------------------- main */

static void usage(FILE *f)
{
	fprintf(f,
"usage: wakelat [-m kmod|perf|all] [-p same|other|none|all] [-n N] [-w N]\n"
"               [-R ROUNDS] [-t SEC] [-T] [-P] [-c CPU] [-j FILE] [-r FILE] [-v] [-h]\n"
"  Block-to-wake latency of a scheduler activation: a thread blocks in\n"
"  read(2) on an empty pipe; another thread, parked until told of the block,\n"
"  records the time from just before the read to itself running in user\n"
"  space, then writes the byte that frees the first one.\n"
"  -m  mechanism: kmod (/dev/gmp, GMP_IOC_WAIT), perf (perf_event_open\n"
"      context-switch records + poll), all (default)\n"
"  -p  where the activation runs: same CPU as the blocking thread, the\n"
"      other CPU, none (both unpinned), all (default)\n"
"  -n  timed blocks per run (default 2000)\n"
"  -R  rounds (default 4): each run is done in ROUNDS slices of n/ROUNDS\n"
"      blocks, interleaved with the other runs, so that the modes compared\n"
"      share the machine's conditions\n"
"  -w  warm-up blocks before each slice, not counted (default 100)\n"
"  -t  seconds to wait for one block's news before counting it lost (default 10)\n"
"  -T  park with that timeout in the wait itself (GMP_IOC_WAIT timeout_ns,\n"
"      poll timeout: an hrtimer per park) instead of forever under a watchdog\n"
"  -P  perf records stamped by perf's own clock (no use_clockid): cheaper\n"
"      where CLOCK_MONOTONIC is slow to read, but no kernel-stamp figure\n"
"  -c  CPU of the blocking thread when pinned (default: the first usable)\n"
"  -j  write every figure as JSON to FILE       -r  write raw samples (CSV) to FILE\n"
"  -v  progress on stderr\n"
"exit: 0 done; 1 a mode that should work failed (error, lost blocks);\n"
"      2 usage; 4 (KSFT_SKIP) every requested mode unavailable\n");
}

int main(int argc, char **argv)
{
	bool want_mode[NR_MODES] = { true, true }, want_place[NR_PLACES] = { true, true, true };
	const char *json = NULL, *raw = NULL;
	struct run runs[NR_MODES * NR_PLACES], *skipped[NR_MODES] = { NULL };
	struct sigaction sa;
	struct utsname uts;
	cpu_set_t set;
	int opt, nr = 0, i, m, p, round, failed = 0, ok = 0;
	int64_t t;

	while ((opt = getopt(argc, argv, "m:p:n:w:t:TPc:R:j:r:vh")) != -1) {
		switch (opt) {
		case 'm':
			for (m = 0; m < NR_MODES; m++)
				want_mode[m] = !strcmp(optarg, "all") || !strcmp(optarg, mode_name[m]);
			if (!want_mode[MODE_KMOD] && !want_mode[MODE_PERF])
				goto bad;
			break;
		case 'p':
			for (p = 0; p < NR_PLACES; p++)
				want_place[p] = !strcmp(optarg, "all") ||
						!strcmp(optarg, place_name[p]);
			if (!want_place[PL_SAME] && !want_place[PL_OTHER] && !want_place[PL_NONE])
				goto bad;
			break;
		case 'n':
			opt_n = atoi(optarg);
			if (opt_n < 1 || opt_n > 10000000)
				goto bad;
			break;
		case 'w':
			opt_warm = atoi(optarg);
			if (opt_warm < 0)
				goto bad;
			break;
		case 't':
			opt_tmo = atoi(optarg);
			if (opt_tmo < 1 || opt_tmo > 3600)
				goto bad;
			break;
		case 'T':
			opt_timed = true;
			break;
		case 'P':
			opt_perf_clock = false;
			break;
		case 'c':
			opt_cpu = atoi(optarg);
			break;
		case 'R':
			opt_rounds = atoi(optarg);
			if (opt_rounds < 1)
				goto bad;
			break;
		case 'j':
			json = optarg;
			break;
		case 'r':
			raw = optarg;
			break;
		case 'v':
			opt_verbose = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			goto bad;
		}
	}
	if (optind != argc)
		goto bad;

	if (sched_getaffinity(0, sizeof(set), &set)) {
		perror("wakelat: sched_getaffinity");
		return 1;
	}
	ncpu_allowed = CPU_COUNT(&set);
	if (opt_cpu >= 0) {
		if (opt_cpu >= CPU_SETSIZE || !CPU_ISSET(opt_cpu, &set)) {
			fprintf(stderr, "wakelat: CPU %d is not usable\n", opt_cpu);
			return 2;
		}
		cpu_a = opt_cpu;
	}
	for (i = 0; i < CPU_SETSIZE; i++) {
		if (!CPU_ISSET(i, &set))
			continue;
		if (cpu_a < 0)
			cpu_a = i;
		else if (cpu_b < 0 && i != cpu_a)
			cpu_b = i;
	}
	if (uname(&uts))
		strcpy(uts.release, "?");

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = noop_handler;	/* no SA_RESTART: interrupts a parked wait */
	sigaction(SIGUSR1, &sa, NULL);

	/* The runs, in the order of the tables: by mode, then placement. */
	memset(runs, 0, sizeof(runs));
	for (m = 0; m < NR_MODES; m++) {
		for (p = 0; p < NR_PLACES; p++) {
			struct run *r = &runs[nr];

			if (!want_mode[m] || !want_place[p])
				continue;
			nr++;
			r->mode = m;
			r->place = p;
			r->m_cpu = p == PL_NONE ? -1 : cpu_a;
			r->a_cpu = p == PL_NONE ? -1 : p == PL_SAME ? cpu_a : cpu_b;
			if (p == PL_OTHER && cpu_b < 0) {
				r->status = ST_SKIP;
				setwhy(r->why, sizeof(r->why), "needs two usable CPUs");
			}
		}
	}

	/*
	 * Rounds: each run's blocks are split into opt_rounds slices, and a
	 * round does one slice of every run, placement by placement, the
	 * modes back to back. So the modes compared see the same machine
	 * (a VM's host has moods), and a drift shows in no single mode.
	 */
	for (round = 0; round < opt_rounds; round++) {
		unsigned int n = opt_n / opt_rounds + (round < opt_n % opt_rounds);

		if (!n)
			continue;
		for (p = 0; p < NR_PLACES; p++) {
			for (i = 0; i < nr; i++) {
				struct run *r = &runs[i];

				if ((int)r->place != p || r->status != ST_OK)
					continue;
				/* A mode that is unavailable in one placement is in all. */
				if (skipped[r->mode]) {
					r->status = ST_SKIP;
					memcpy(r->why, skipped[r->mode]->why, sizeof(r->why));
					continue;
				}
				if (opt_verbose)
					fprintf(stderr, "wakelat: round %d: %s/%s, %u blocks\n",
						round + 1, mode_name[r->mode], place_name[p], n);
				t = now_ns();
				do_round(r, n, opt_warm);
				if (opt_verbose)
					fprintf(stderr, "wakelat:   %u samples so far, %u blocks, "
						"%.2f s, lost %u, repeated %u\n", r->ns, r->blocks,
						(now_ns() - t) / 1e9, r->lost, r->unparked + r->early);
				if (r->status == ST_SKIP) {
					skipped[r->mode] = r;
					fprintf(stderr, "wakelat: %s: skipped: %s\n",
						mode_name[r->mode], r->why);
				} else if (r->status == ST_FAIL) {
					fprintf(stderr, "wakelat: %s/%s: FAILED: %s\n",
						mode_name[r->mode], place_name[p], r->why);
				}
			}
		}
	}
	for (i = 0; i < nr; i++)
		summarize(&runs[i]);

	print_tables(runs, nr, uts.release);
	fflush(stdout);
	for (i = 0; i < nr; i++) {
		failed += runs[i].status == ST_FAIL;
		ok += runs[i].status == ST_OK;
	}
	if (json && write_json(json, runs, nr, uts.release))
		failed++;
	if (raw && write_raw(raw, runs, nr))
		failed++;
	for (i = 0; i < nr; i++)
		free(runs[i].s);
	if (failed)
		return 1;
	return ok ? 0 : KSFT_SKIP;
bad:
	usage(stderr);
	return 2;
}
