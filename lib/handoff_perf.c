// SPDX-License-Identifier: (LGPL-2.1-or-later OR MIT)
/*
 * handoff_perf.c - the handoff without a module: the kernel's own record
 * of each M's context switches (perf_event_open(2), context_switch = 1)
 * tells a spare M that an M fell asleep, and it takes the P. The
 * suggestion of golang/go#29734; DESIGN.md has its measured costs.
 *
 * The path of a block, by function name:
 *
 *   __gmp_perf_register()    here      on the new M's thread: a dummy
 *                                      software event on itself (pid 0,
 *                                      cpu -1), user space only, with a
 *                                      ring of GMP_PERF_PAGES pages and a
 *                                      wake at every record, in our epoll
 *   gmp_syscall_enter()      sched.c   P -> {P_SYSCALL, m, seq}; arm
 *                                      (m->parm = 1: one store; and an
 *                                      ioctl if our event was off)
 *   ... the M sleeps in the kernel, which writes PERF_RECORD_SWITCH with
 *   PERF_RECORD_MISC_SWITCH_OUT (no _PREEMPT: it is not runnable) into
 *   its ring and wakes the ring's pollers: one epoll waiter ...
 *   __gmp_perf_activation()  here      returns from epoll_wait(2)
 *    -> serve() -> drain()             read the new records: is the last
 *                                      one a block?
 *    -> asleep_st()                    armed? P still {P_SYSCALL, m, seq}?
 *                                      no record since (data_head)?
 *    -> __gmp_act_take()     activation.c   work for it? one CAS
 *   acquirep(), schedule()   sched.c   the activation is the P's M now
 *
 * From there on it is kmod mode (activation.c): the pool, "no work, no
 * take", on-demand takes, transparent mode (P_GCODE, lock.c disarming
 * around the runtime's own futex waits).
 *
 * Staleness. The kernel writes a switch-in record before the M runs user
 * code again, and the M only changes its armed word and its P's status
 * word while it runs. So if the last record of its ring is the block's,
 * and data_head has not moved between the drain and our reading of those
 * two words, they are what they were while it slept (x86 sees a CPU's
 * stores, the kernel's included, in program order). The CAS settles the
 * race with the M coming back, as in kmod mode.
 *
 * Ordinary switches. Every switch in and out of an M whose event is on
 * writes a record and wakes an activation, wanted or not: preemptions, an
 * M blocking on a runtime lock (not armed). So the event is on only from
 * an M's arming on, until the M parks or a reader finds it unarmed (see
 * "Switching the event off and on" below): idle Ms, parked activations
 * and computing Ms write nothing - an activation that woke another with
 * its own switch records would never let the pool rest.
 *
 * Wake storms. Woken for a record, an activation would preempt a busy M
 * of ours on a full machine; that switch writes two records (preempted
 * out, back in), which wake another activation, which preempts... A few
 * useless wakes per switch, for ever. Unarmed Ms have their event off
 * (above), which ends most of it; what remains (armed Ms preempted, G
 * code in transparent mode) is damped by letting activations wait as
 * SCHED_BATCH (no wakeup preemption, same weight; back to SCHED_OTHER
 * when they take a P, which any thread may do): a woken one runs when a
 * CPU frees up - at once on the CPU a blocking M just left, the case that
 * matters.
 *
 * Lost records. The kernel never overwrites unread records: a full ring
 * drops new ones and, once there is room again, writes PERF_RECORD_LOST
 * before the next. Either sign - that record, or a ring found (nearly)
 * full, whose newest records may be missing - makes the reader look at
 * every P instead (rescan()): a P in a syscall whose M is armed and
 * asleep by /proc/self/task/TID/stat is taken. The ring's own state is
 * then unknown until its next record.
 *
 * Wrap-around. Records may straddle the end of the ring: each is copied
 * out in two pieces (ring_copy); data_tail moves past what was read, with
 * a release store, so the kernel reuses room only after our reads.
 *
 * Concurrency. A ring is drained under its lock (any activation, or an
 * on-demand taker); the event is switched on and off (by its M, or off by
 * a taker) and closed at the M's exit under the same lock, so a reader
 * holding an epoll event of an M that exited finds fd -1. struct m is
 * never freed.
 *
 * The thread besides the Ms: the 10 ms preemption tick, as in kmod mode.
 * An M that cannot open its event (file descriptors, locked memory) makes
 * that thread poll syscalls too, as sysmon mode does (sysmon_retake).
 */
#include "internal.h"

#include <fcntl.h>
#include <linux/perf_event.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#define sched __gmp_sched

/* What a ring's last record says about its M. */
enum { PR_RUNNING = 0, PR_BLOCKED, PR_UNKNOWN };
/* What a drain found. */
enum { D_NOTHING, D_BLOCKED, D_LOST };

/*
 * A ring with less room than this may have dropped records: the largest
 * pair the kernel writes at once is a PERF_RECORD_LOST (24 bytes) and the
 * record after it (8 bytes: no sample_id).
 */
#define FULL_SLACK	64

static int epfd = -1;
static unsigned int data_pages = 2;
static size_t pagesz;
static _Atomic bool degraded;

static int perf_event_open(struct perf_event_attr *a)
{
	return (int)syscall(SYS_perf_event_open, a, 0, -1, -1, PERF_FLAG_FD_CLOEXEC);
}

/*
 * Open the calling thread's context-switch event and map its ring into r.
 * 0, or -errno with *stage the call that failed.
 */
static int ring_open(struct perf_ring *r, const char **stage)
{
	struct perf_event_attr a;
	struct perf_event_mmap_page *mp;
	size_t len = (1 + data_pages) * pagesz;
	int fd, e;

	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	a.type = PERF_TYPE_SOFTWARE;
	a.config = PERF_COUNT_SW_DUMMY;	/* counts nothing: side-band records only */
	a.context_switch = 1;		/* PERF_RECORD_SWITCH at each switch of ours */
	a.exclude_kernel = 1;		/* what perf_event_paranoid 2 allows */
	a.exclude_hv = 1;
	a.watermark = 1;		/* wake the pollers at every record */
	a.wakeup_watermark = 1;
	fd = perf_event_open(&a);
	if (fd < 0) {
		*stage = "perf_event_open";
		return -errno;
	}
	mp = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (mp == MAP_FAILED) {
		e = errno;
		close(fd);
		*stage = "mmap";
		return -e;
	}
	/* A child of fork() has no use for it (Ms do not survive a fork). */
	madvise(mp, len, MADV_DONTFORK);
	r->fd = fd;
	r->meta = mp;
	r->maplen = len;
	/* data_offset/data_size: since Linux 4.1; before, one page in. */
	r->data = (const char *)mp + (mp->data_offset ? mp->data_offset : pagesz);
	r->size = mp->data_size ? mp->data_size : data_pages * pagesz;
	r->tail = r->head = __atomic_load_n(&mp->data_head, __ATOMIC_ACQUIRE);
	r->state = PR_RUNNING;
	r->enabled = true;
	store_relaxed(&r->off, 0);
	return 0;
}

static void ring_close(struct perf_ring *r)
{
	munmap(r->meta, r->maplen);
	close(r->fd);
	r->fd = -1;
	r->meta = NULL;
	r->data = NULL;
}

static int read_paranoid(void)
{
	char buf[32] = "";
	int fd = open("/proc/sys/kernel/perf_event_paranoid", O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -99;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	return n > 0 ? atoi(buf) : -99;
}

/* Why ring_open() failed, in words. */
static void explain(int err, const char *stage, char *why, size_t len)
{
	int par;

	if (!strcmp(stage, "mmap")) {
		snprintf(why, len, "ring mmap failed: %s (1 + %u pages%s)", strerror(-err),
			 data_pages, err == -EPERM ?
			 ": over perf_event_mlock_kb and RLIMIT_MEMLOCK" : "");
		return;
	}
	switch (err) {
	case -EACCES:
	case -EPERM:
		par = read_paranoid();
		/* 3 forbids unprivileged users all perf (Debian's, Ubuntu's). */
		if (geteuid() == 0)
			snprintf(why, len, "perf_event_open: %s (EACCES, though root: "
				 "a security module or seccomp?)", strerror(-err));
		else if (par > 2)
			snprintf(why, len, "perf_event_open: %s: perf_event_paranoid %d too high "
				 "(needs <= 2, or CAP_PERFMON)", strerror(-err), par);
		else
			snprintf(why, len, "perf_event_open: %s (EACCES; perf_event_paranoid %d "
				 "allows it: a security module or seccomp?)", strerror(-err), par);
		break;
	case -ENOENT:
	case -ENOSYS:
	case -EINVAL:
	case -EOPNOTSUPP:
		snprintf(why, len, "perf_event_open: %s (no context-switch events here?)",
			 strerror(-err));
		break;
	default:
		snprintf(why, len, "%s: %s", stage, strerror(-err));
	}
}

int __gmp_perf_config(void)
{
	const char *s = getenv("GMP_PERF_PAGES");

	pagesz = (size_t)sysconf(_SC_PAGESIZE);
	if (s && *s) {
		char *end;
		long v = strtol(s, &end, 10);

		if (*end || v < 1 || v > 256 || (v & (v - 1))) {
			fprintf(stderr, "gmp: GMP_PERF_PAGES=%s: want a power of two, 1..256\n", s);
			return -EINVAL;
		}
		data_pages = (unsigned int)v;
	}
	return 0;
}

/*
 * PREEMPT_RT: not offered. In Debian's 6.12 RT kernel (under TCG) the
 * records reached the activations so late that handoffs stalled: the
 * transparent, lost-record and M-exit tests timed out, and a bare perf
 * watcher (tools/wakelat) saw fewer than 46 blocks in 400 s where the
 * module saw 400 in seconds. Until that is understood, auto passes over
 * perf there and a forced perf fails with -EOPNOTSUPP.
 */
bool __gmp_perf_preempt_rt(void)
{
	struct utsname u;

	return uname(&u) == 0 && strstr(u.version, "PREEMPT_RT");
}

int __gmp_perf_init(bool required, char *why, size_t whylen)
{
	struct perf_ring probe = { .fd = -1 };
	const char *stage = "";
	int ret;

	if (__gmp_perf_preempt_rt()) {
		snprintf(why, whylen, "a PREEMPT_RT kernel (perf mode is not offered there: "
			 "see handoff_perf.c)");
		if (required)
			fprintf(stderr, "gmp: GMP_HANDOFF=perf: %s\n", why);
		return -EOPNOTSUPP;
	}
	/* Can this thread have one? Each M opens its own as it starts. */
	ret = ring_open(&probe, &stage);
	if (ret == 0) {
		ring_close(&probe);
		epfd = epoll_create1(EPOLL_CLOEXEC);
		if (epfd < 0) {
			ret = -errno;
			stage = "epoll_create1";
		}
	}
	if (ret < 0) {
		explain(ret, stage, why, whylen);
		if (required)
			fprintf(stderr, "gmp: GMP_HANDOFF=perf: %s\n", why);
	}
	return ret;
}

void __gmp_perf_debug_line(const char *why)
{
	fprintf(stderr, "gmp: handoff perf (a context-switch event and a ring of 1 + %u pages "
		"per M, epoll; %d activations; transparent %s; 10 ms preemption tick%s%s)\n",
		data_pages, __gmp_pool_target(), sched.transparent ? "on" : "off",
		why ? "; " : "", why ? why : "");
}

void __gmp_perf_register(struct m *m)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLET, .data.ptr = m };
	struct perf_ring *r = &m->pr;
	const char *stage = "";
	int ret;

	/* Under the lock: a drainer that finds us through epoll sees it all. */
	__gmp_lock(&r->lock);
	ret = ring_open(r, &stage);
	__gmp_unlock(&r->lock);
	if (ret == 0 && epoll_ctl(epfd, EPOLL_CTL_ADD, r->fd, &ev) < 0) {
		ret = -errno;
		stage = "epoll_ctl";
		__gmp_lock(&r->lock);
		ring_close(r);
		__gmp_unlock(&r->lock);
	}
	if (ret < 0) {
		/* Nobody will see this M block: sysmon polls for it. */
		if (!atomic_exchange(&degraded, true)) {
			const char *s = getenv("GMP_DEBUG");

			if (s && *s && strcmp(s, "0")) {
				char why[200];

				explain(ret, stage, why, sizeof(why));
				fprintf(stderr, "gmp: M%d has no context-switch event (%s): "
					"sysmon polls for it\n", m->id, why);
			}
			store_relaxed(&sched.sysmon_retake, true);
			__gmp_sysmon_wake();
		}
		return;
	}
	m->armw = &m->parm;
	m->transparent = sched.transparent;
}

void __gmp_perf_unregister(struct m *m)
{
	struct perf_ring *r = &m->pr;

	if (r->fd < 0)
		return;
	epoll_ctl(epfd, EPOLL_CTL_DEL, r->fd, NULL);
	/* A reader that got our epoll event before the DEL finds fd -1. */
	__gmp_lock(&r->lock);
	ring_close(r);
	__gmp_unlock(&r->lock);
}

/*
 * Switching the event off and on. Records matter only while the M is
 * armed (in a syscall, or in G code in transparent mode), and each wakes
 * an activation, so the event is on only from the M's first arming after
 * it was switched off:
 *
 *   - the M parks (stopm, an activation's wait): __gmp_perf_pause();
 *   - a taker reads records of an M that is not armed (a computing M
 *     preempted, an M asleep on a runtime lock): quiet(), or every
 *     preemption of a busy M would wake an activation, whose own run
 *     preempts another M, and so on;
 *   - the M arms with off set: __gmp_perf_enable() (one ioctl).
 *
 * The ioctls and r->enabled are under the ring's lock. off is set before
 * a taker reads the armed word and read by the M after it stores it, with
 * a full barrier on each side: a taker never switches off an armed M.
 */
static void set_enabled(struct perf_ring *r, bool on)
{
	if (r->fd >= 0 && r->enabled != on) {
		ioctl(r->fd, on ? PERF_EVENT_IOC_ENABLE : PERF_EVENT_IOC_DISABLE, 0);
		r->enabled = on;
	}
}

/* The runtime parks this M on purpose: its sleep and wake are nobody's news. */
void __gmp_perf_pause(struct m *m)
{
	struct perf_ring *r = &m->pr;

	if (r->fd < 0)
		return;
	__gmp_lock(&r->lock);
	store_relaxed(&r->off, 1);	/* we are not armed: no race to lose */
	set_enabled(r, false);
	__gmp_unlock(&r->lock);
}

/* We armed with off set (__gmp_arm): on again before the syscall. */
void __gmp_perf_enable(struct m *m)
{
	struct perf_ring *r = &m->pr;

	__gmp_lock(&r->lock);
	store_relaxed(&r->off, 0);
	set_enabled(r, true);
	__gmp_unlock(&r->lock);
}

/* A taker found bm unarmed after reading its records (r->lock held). */
static void quiet(struct m *bm)
{
	struct perf_ring *r = &bm->pr;

	if (!r->enabled || load_relaxed(&r->off))
		return;
	store_relaxed(&r->off, 1);
	full_barrier();		/* Dekker with __gmp_arm() */
	if (__atomic_load_n(&bm->parm, __ATOMIC_RELAXED)) {
		/* Armed meanwhile (it may have seen off, then waits for our lock). */
		store_relaxed(&r->off, 0);
		return;
	}
	set_enabled(r, false);
}

/* ---- reading a ring ------------------------------------------------------ */

/* len bytes at ring position pos, which may straddle the ring's end. */
static void ring_copy(const struct perf_ring *r, uint64_t pos, void *dst, size_t len)
{
	size_t off = pos & (r->size - 1);
	size_t first = r->size - off < len ? r->size - off : len;

	memcpy(dst, r->data + off, first);
	memcpy((char *)dst + first, r->data, len - first);
}

/* Read every new record of r (its lock held): what they say, D_*. */
static int drain(struct perf_ring *r)
{
	struct perf_event_mmap_page *mp = r->meta;
	uint64_t head, tail = r->tail;
	bool lost = false, full;

	if (r->fd < 0)
		return D_NOTHING;	/* its M exited */
	/* acquire: the records up to head are written (the kernel's wmb). */
	head = __atomic_load_n(&mp->data_head, __ATOMIC_ACQUIRE);
	full = head - tail > r->size - FULL_SLACK;
	while (tail != head) {
		struct perf_event_header h;

		ring_copy(r, tail, &h, sizeof(h));
		if (h.size < sizeof(h) || h.size > head - tail) {
			/* Torn or garbled: trust nothing it says. */
			full = true;
			tail = head;
			break;
		}
		if (h.type == PERF_RECORD_SWITCH) {
			if ((h.misc & PERF_RECORD_MISC_SWITCH_OUT) &&
			    !(h.misc & PERF_RECORD_MISC_SWITCH_OUT_PREEMPT)) {
				r->state = PR_BLOCKED;
				hstat_inc(perf_blocks);
			} else {
				r->state = PR_RUNNING;
			}
		} else if (h.type == PERF_RECORD_LOST) {
			struct {
				struct perf_event_header h;
				uint64_t id, lost;
			} rec;

			if (h.size >= sizeof(rec)) {
				ring_copy(r, tail, &rec, sizeof(rec));
				hstat_add(perf_lost, rec.lost);
			}
			/* The records after it are news again; before it, a gap. */
			lost = true;
			r->state = PR_UNKNOWN;
		}
		tail += h.size;
	}
	/* release: our reads of the records happen before the kernel reuses them. */
	__atomic_store_n(&mp->data_tail, tail, __ATOMIC_RELEASE);
	r->tail = tail;
	r->head = head;
	if (full)
		r->state = PR_UNKNOWN;	/* its newest records may be missing */
	if (lost || full)
		return D_LOST;
	return r->state == PR_BLOCKED ? D_BLOCKED : D_NOTHING;
}

/*
 * Just after a drain that left bm blocked (its ring's lock held): the
 * status word of the P it may lose, if it is armed, holds one in a
 * syscall (or G code) and has written no record since; else 0.
 */
static uint64_t asleep_st(struct m *bm, struct p **pp)
{
	struct perf_ring *r = &bm->pr;
	struct perf_event_mmap_page *mp = r->meta;
	uint64_t st;

	/* acquire (each): none of these loads moves above the previous. */
	if (!__atomic_load_n(&bm->parm, __ATOMIC_ACQUIRE))
		return 0;	/* the runtime's own sleep (lock.c), not a syscall */
	st = __gmp_act_takeable(bm, pp);
	if (!st || __atomic_load_n(&mp->data_head, __ATOMIC_ACQUIRE) != r->head)
		return 0;
	return st;
}

/* Is thread tid asleep (S or D in /proc/self/task/TID/stat)? */
static bool thread_asleep(int tid)
{
	char path[64], buf[512], *rp;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	/* "tid (comm) S ...": the comm may hold anything, even ") ". */
	rp = strrchr(buf, ')');
	return rp && rp[1] == ' ' && (rp[2] == 'S' || rp[2] == 'D');
}

/*
 * Records were lost (or may have been): look at every P. A P in a syscall
 * (or G code) whose M is asleep now and armed is taken if wanted. The
 * first P is the caller's to run; the others are handed off.
 */
static struct p *rescan(void)
{
	struct p *mine = NULL;

	hstat_inc(overflows);
	for (int i = 0; i < sched.gomaxprocs; i++) {
		struct p *p = &sched.allp[i], *q;
		uint64_t st = load_acquire(&p->status);
		struct m *bm;

		if (P_STATE(st) != P_SYSCALL && P_STATE(st) != P_GCODE)
			continue;
		bm = load_acquire(&__gmp_mtab[P_MID(st)]);
		/* Asleep, then (still) armed in the same syscall: see serve(). */
		if (!bm || !thread_asleep(bm->tid) ||
		    !__atomic_load_n(&bm->parm, __ATOMIC_ACQUIRE) ||
		    load_acquire(&p->status) != st)
			continue;
		q = __gmp_act_take(p, st);
		if (!q)
			continue;
		hstat_inc(perf_takes);
		if (!mine)
			mine = q;
		else
			__gmp_handoffp(q);
	}
	return mine;
}

/* bm's ring has news (an epoll event): a P for the activation, or NULL. */
static struct p *serve(struct m *bm)
{
	struct perf_ring *r = &bm->pr;
	struct p *p = NULL;
	uint64_t st = 0;
	int d;

	__gmp_lock(&r->lock);
	d = drain(r);
	if (d == D_BLOCKED)
		st = asleep_st(bm, &p);
	/* News of an M that is not armed: its switches are nobody's news. */
	if (d != D_LOST && !__atomic_load_n(&bm->parm, __ATOMIC_ACQUIRE))
		quiet(bm);
	__gmp_unlock(&r->lock);
	if (d == D_LOST)
		return rescan();
	if (d == D_NOTHING)
		return NULL;	/* a switch that is no block, or no news */
	if (!st) {
		hstat_inc(stale);	/* not armed, not in a syscall, or awake */
		return NULL;
	}
	p = __gmp_act_take(p, st);
	if (p)
		hstat_inc(perf_takes);
	return p;
}

/* On-demand takers: is bm still asleep in the syscall of status word st? */
bool __gmp_perf_asleep(struct m *bm, uint64_t st)
{
	struct perf_ring *r = &bm->pr;
	struct p *p = NULL;
	uint64_t now = 0;
	int d;

	__gmp_lock(&r->lock);
	d = drain(r);
	if (d == D_BLOCKED)
		now = asleep_st(bm, &p);
	__gmp_unlock(&r->lock);
	if (d == D_LOST) {
		/* We read the news an activation would have: act on it. */
		p = rescan();
		if (p)
			__gmp_handoffp(p);
		return false;
	}
	return now == st;
}

/*
 * Park this M (no P, disarmed, its place in the pool reserved) until a
 * ring reports a block whose P it takes; return that P, which the caller
 * acquires and runs (NULL: the pool is full without us).
 */
struct p *__gmp_perf_activation(struct m *m)
{
	struct sched_param sp = { 0 };
	int policy = sched_getscheduler(0);
	/* Only from the normal policy, to which any thread may come back. */
	bool batch = policy == SCHED_OTHER && sched_setscheduler(0, SCHED_BATCH, &sp) == 0;
	struct p *p = NULL;

	__gmp_perf_pause(m);
	for (;;) {
		struct epoll_event ev;
		int n = epoll_wait(epfd, &ev, 1, -1);

		__gmp_pool_woken();
		if (n == 1) {
			p = serve(ev.data.ptr);
			/* After serve(): a reader of the counter sees the decision. */
			hstat_inc(upcalls);
			if (p) {
				__gmp_pool_took();
				break;	/* our event: on at our first arming */
			}
		} else if (n < 0 && errno != EINTR) {
			__gmp_fatal("epoll_wait: %s", strerror(errno));
		}
		if (!__gmp_pool_rejoin())
			break;
	}
	if (batch)
		sched_setscheduler(0, SCHED_OTHER, &sp);
	return p;
}
