// SPDX-License-Identifier: GPL-2.0
/*
 * gmp_events: what an armed M's blocks produce, and how activations get it.
 *
 * An M blocks where the test controls the wake-up (read on an empty pipe,
 * FUTEX_WAIT, a userfaultfd page fault) or sleeps (nanosleep,
 * clock_nanosleep). The main thread plays the activation: it parks in the
 * device (GMP_IOC_WAIT, read(2), poll, epoll) and checks each record.
 * "Really blocked" is proven, never assumed: by the BLOCKED record, by the
 * module's slot counters, or for a disarmed M by its voluntary
 * context-switch count in /proc.
 */
#include "gmp_test.h"

#include <poll.h>
#include <sys/epoll.h>
#include <linux/userfaultfd.h>

#define T_MS GMP_EVENT_TIMEOUT_MS

enum blk_kind { BLK_READ, BLK_FUTEX, BLK_NANOSLEEP, BLK_CLOCK_NANOSLEEP, BLK_FAULT };

static const int blk_syscall[] = {
	[BLK_READ] = __NR_read,
	[BLK_FUTEX] = __NR_futex,
	[BLK_NANOSLEEP] = __NR_nanosleep,
	[BLK_CLOCK_NANOSLEEP] = __NR_clock_nanosleep,
	[BLK_FAULT] = -1,
};

/* What an M of these tests does: count blocks of one kind. */
struct blk {
	enum blk_kind kind;
	int count;
	bool arm;		/* arm around each block (a store, no syscall) */
	int disarm_from;	/* if > 0: blocks from this index on are not armed */
	bool wait_go;		/* spin (no syscall) until cmd != 0 first */
	bool probe;		/* publish nvcsw0 before each block */
	bool unregister_first;	/* leave the group before blocking */
	long sleep_ms;		/* for the sleeps */
	volatile int *fault_page; /* for BLK_FAULT */
	uint32_t seq0;		/* the slot's seq before the first block */
	bool parked;		/* the parker was seen asleep first */
};

static long do_block(struct gmp_m *m, struct blk *b)
{
	struct timespec ts = {
		.tv_sec = b->sleep_ms / 1000,
		.tv_nsec = (b->sleep_ms % 1000) * NSEC_PER_MSEC,
	};
	char c;
	long r;

	switch (b->kind) {
	case BLK_READ:
		return syscall(SYS_read, m->pfd[0], &c, 1) == 1 ? 0 : -1;
	case BLK_FUTEX:
		while (!__atomic_load_n(&m->fword, __ATOMIC_ACQUIRE)) {
			r = sys_futex(&m->fword, FUTEX_WAIT_PRIVATE, 0, NULL);
			if (r == -1 && errno != EAGAIN && errno != EINTR)
				return -1;
		}
		return 0;
	case BLK_NANOSLEEP:
		return syscall(SYS_nanosleep, &ts, NULL);
	case BLK_CLOCK_NANOSLEEP:
		return syscall(SYS_clock_nanosleep, CLOCK_MONOTONIC, 0, &ts, NULL);
	case BLK_FAULT:
		return *b->fault_page == 0 ? 0 : -1;
	}
	return -1;
}

/*
 * Block b->count times. Before block i it publishes its voluntary switch
 * count (nvcsw0) and ack = 2i + 1; after it, ack = 2i + 2.
 */
static void body_blocks(struct gmp_m *m)
{
	struct blk *b = m->arg;
	int i;

	if (b->unregister_first)
		M_CHECK(m, gmp_unregister(m->fd) == 0, errno);
	if (m->parker)
		b->parked = gmp_parker_wait_parked(m->parker, T_MS);
	if (m->s)
		b->seq0 = gmp_load32(&m->s->seq);
	/* The slot may be armed already: wait without a system call. */
	while (b->wait_go && !gmp_get_int(&m->cmd))
		__builtin_ia32_pause();
	m->t0 = gmp_now_ns();
	for (i = 0; i < b->count; i++) {
		bool arm = b->arm && (!b->disarm_from || i < b->disarm_from);
		long r;

		__atomic_store_n(&m->fword, 0, __ATOMIC_RELEASE);
		if (b->probe)
			m->nvcsw0 = gmp_nvcsw(m->tid);
		gmp_set_int(&m->ack, 2 * i + 1);
		if (arm)
			gmp_arm(m->s);
		r = do_block(m, b);
		if (arm)
			gmp_disarm(m->s);
		M_CHECK(m, r == 0, errno);
		gmp_set_int(&m->ack, 2 * i + 2);
	}
	m->t1 = gmp_now_ns();
}

/* Wake an M out of a block the test controls. */
static void release(struct gmp_m *m, struct blk *b)
{
	struct uffdio_zeropage zp;

	switch (b->kind) {
	case BLK_READ:
		if (write(m->pfd[1], "x", 1) != 1)
			abort();
		break;
	case BLK_FUTEX:
		__atomic_store_n(&m->fword, 1, __ATOMIC_RELEASE);
		sys_futex(&m->fword, FUTEX_WAKE_PRIVATE, 1, NULL);
		break;
	case BLK_FAULT:
		memset(&zp, 0, sizeof(zp));
		zp.range.start = (uintptr_t)b->fault_page;
		zp.range.len = sysconf(_SC_PAGESIZE);
		if (ioctl(m->count, UFFDIO_ZEROPAGE, &zp))
			abort();
		break;
	default:
		break;
	}
}

/* For a disarmed M: wait until it announced block i and really sleeps. */
static bool m_sleeping(struct gmp_m *m, int i)
{
	if (!gmp_wait_int_ge(&m->ack, 2 * i + 1, T_MS))
		return false;
	return gmp_wait_slept(m->tid, m->nvcsw0, T_MS);
}

FIXTURE(ev) {
	int fd;
	struct gmp_map m;
	long ncpus;
	bool have_proc;
};

FIXTURE_SETUP(ev)
{
	self->fd = gmp_open();
	ASSERT_LE(0, self->fd);
	self->ncpus = gmp_ncpus();
	self->have_proc = gmp_nvcsw(gmp_gettid()) >= 0;
}

FIXTURE_TEARDOWN(ev)
{
	gmp_unmap(&self->m);
	if (self->fd >= 0)
		close(self->fd);
}

/* SETUP (when not all default) and map the group. */
#define GROUP(flags, ring) do {						\
	if ((flags) || (ring)) {					\
		ASSERT_EQ(0, gmp_setup(self->fd, (flags), (ring), 0));	\
	}								\
	ASSERT_EQ(0, gmp_map(self->fd, &self->m));			\
} while (0)

#define NEED_PROC() do {						\
	if (!self->have_proc)						\
		SKIP(return, "no /proc/self/task/<tid>/status");	\
} while (0)

/* An M with its pipe, running body_blocks on b. */
static int start_m_parked(struct __test_metadata *_metadata,
			  FIXTURE_DATA(ev) *self, struct gmp_m *m, struct blk *b,
			  uint32_t m_id, uint32_t reg_flags,
			  struct gmp_parker *parker)
{
	gmp_m_init(m, self->fd, &self->m, m_id, reg_flags, body_blocks);
	m->arg = b;
	m->parker = parker;
	m->hold = true;
	if (b->sleep_ms == 0)
		b->sleep_ms = 50;
	EXPECT_EQ(0, pipe2(m->pfd, O_CLOEXEC));
	return gmp_m_start(m);
}

#define start_m(_metadata, self, m, b, m_id, reg_flags) \
	start_m_parked(_metadata, self, m, b, m_id, reg_flags, NULL)

static void stop_m(struct __test_metadata *_metadata, struct gmp_m *m)
{
	EXPECT_EQ(0, gmp_m_leave(m, T_MS));
	EXPECT_EQ(0, m->err_line) {
		TH_LOG("M %u failed at line %d (%ld)", m->m_id, m->err_line,
		       m->err_val);
	}
	EXPECT_EQ(0, m->unreg_errno);
	if (m->pfd[0] >= 0) {
		close(m->pfd[0]);
		close(m->pfd[1]);
	}
}

static void expect_record(struct __test_metadata *_metadata,
			  FIXTURE_DATA(ev) *self, const struct gmp_event *ev,
			  int type, const struct gmp_m *m, uint32_t seq)
{
	EXPECT_EQ(type, ev->type);
	EXPECT_EQ(0, ev->flags);
	EXPECT_EQ(m->m_id, ev->m_id);
	EXPECT_EQ(m->slot, ev->slot);
	EXPECT_EQ(seq, ev->seq);
	EXPECT_GT(self->ncpus, ev->cpu);
}

static bool sleep_kind(enum blk_kind k)
{
	return k == BLK_NANOSLEEP || k == BLK_CLOCK_NANOSLEEP;
}

/*
 * One armed block of the given kind while the main thread is parked in
 * GMP_IOC_WAIT; check either the BLOCKED record (and the wake of the
 * parked waiter) or the UNBLOCKED one.
 */
static void one_block(struct __test_metadata *_metadata,
		      FIXTURE_DATA(ev) *self, struct blk *b, bool check_unblocked)
{
	struct gmp_event blocked, unblocked;
	struct gmp_parker parker = { 0 };
	struct gmp_stats st;
	struct gmp_m m;
	uint64_t t_woken;

	GROUP(0, 0);
	b->count = 1;
	b->arm = true;
	ASSERT_EQ(0, start_m_parked(_metadata, self, &m, b, 31, 0,
				    &parker));
	gmp_parker_announce(&parker);
	/* The M blocks once it sees this thread asleep in the wait. */
	ASSERT_EQ(0, gmp_next_event(self->fd, &blocked, T_MS)) {
		TH_LOG("no BLOCKED record: %s", strerror(errno));
	}
	t_woken = gmp_now_ns();
	if (!check_unblocked) {
		expect_record(_metadata, self, &blocked, GMP_EV_BLOCKED, &m,
			      b->seq0 + 1);
		EXPECT_EQ(blk_syscall[b->kind], blocked.syscall);
		EXPECT_LE(m.t0, blocked.time_ns);
		EXPECT_GE(t_woken, blocked.time_ns);
		if (!sleep_kind(b->kind)) {
			EXPECT_EQ(U32(GMP_SLOT_BLOCKED), gmp_load32(&m.s->state));
		}
	}
	release(&m, b);
	ASSERT_EQ(0, gmp_next_event(self->fd, &unblocked, T_MS)) {
		TH_LOG("no UNBLOCKED record: %s", strerror(errno));
	}
	ASSERT_TRUE(gmp_wait_int(&m.body_done, 1, T_MS));
	if (check_unblocked) {
		expect_record(_metadata, self, &unblocked, GMP_EV_UNBLOCKED, &m,
			      blocked.seq);
		EXPECT_LE(blocked.time_ns, unblocked.time_ns);
		EXPECT_GE(m.t1, unblocked.time_ns);
		EXPECT_EQ(U32(GMP_SLOT_RUNNING), gmp_load32(&m.s->state));
		EXPECT_EQ(blocked.seq, gmp_load32(&m.s->seq));
		EXPECT_EQ(1ULL, m.s->blocks);
		EXPECT_EQ(1ULL, m.s->unblocks);
	} else {
		ASSERT_EQ(0, gmp_stats(self->fd, 0, 0, &st));
		EXPECT_EQ(1ULL, st.blocks);
		if (b->parked) {
			EXPECT_LE(1ULL, st.wakeups);
		} else {
			TH_LOG("could not see the waiter parked: wakeups unchecked");
		}
	}
	stop_m(_metadata, &m);
}

TEST_F(ev, blocked_read_pipe)
{
	struct blk b = { .kind = BLK_READ };

	one_block(_metadata, self, &b, false);
}

TEST_F(ev, unblocked_read_pipe)
{
	struct blk b = { .kind = BLK_READ };

	one_block(_metadata, self, &b, true);
}

TEST_F(ev, blocked_futex_wait)
{
	struct blk b = { .kind = BLK_FUTEX };

	one_block(_metadata, self, &b, false);
}

TEST_F(ev, unblocked_futex_wait)
{
	struct blk b = { .kind = BLK_FUTEX };

	one_block(_metadata, self, &b, true);
}

TEST_F(ev, blocked_nanosleep)
{
	struct blk b = { .kind = BLK_NANOSLEEP, .sleep_ms = 100 };

	one_block(_metadata, self, &b, false);
}

TEST_F(ev, unblocked_nanosleep)
{
	struct blk b = { .kind = BLK_NANOSLEEP, .sleep_ms = 100 };

	one_block(_metadata, self, &b, true);
}

TEST_F(ev, blocked_clock_nanosleep)
{
	struct blk b = { .kind = BLK_CLOCK_NANOSLEEP, .sleep_ms = 100 };

	one_block(_metadata, self, &b, false);
}

TEST_F(ev, unblocked_clock_nanosleep)
{
	struct blk b = { .kind = BLK_CLOCK_NANOSLEEP, .sleep_ms = 100 };

	one_block(_metadata, self, &b, true);
}

/* A userfaultfd page: the M blocks in a fault, in no system call. */
static int uffd_page(volatile int **page)
{
	struct uffdio_register reg;
	struct uffdio_api api;
	size_t pg = sysconf(_SC_PAGESIZE);
	int fd;

#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif
	fd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
	if (fd < 0)
		fd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return -1;
	memset(&api, 0, sizeof(api));
	api.api = UFFD_API;
	if (ioctl(fd, UFFDIO_API, &api))
		goto fail;
	*page = mmap(NULL, pg, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (*page == MAP_FAILED)
		goto fail;
	memset(&reg, 0, sizeof(reg));
	reg.range.start = (uintptr_t)*page;
	reg.range.len = pg;
	reg.mode = UFFDIO_REGISTER_MODE_MISSING;
	if (ioctl(fd, UFFDIO_REGISTER, &reg))
		goto fail;
	return fd;
fail:
	close(fd);
	return -1;
}

TEST_F(ev, blocked_page_fault)
{
	struct blk b = { .kind = BLK_FAULT };
	struct gmp_event blocked, unblocked;
	struct gmp_m m;
	int uffd = uffd_page(&b.fault_page);

	if (uffd < 0)
		SKIP(return, "userfaultfd: %s", strerror(errno));
	GROUP(0, 0);
	b.count = 1;
	b.arm = true;
	ASSERT_EQ(0, start_m(_metadata, self, &m, &b, 32, 0));
	m.count = uffd;
	ASSERT_EQ(0, gmp_next_event(self->fd, &blocked, T_MS));
	expect_record(_metadata, self, &blocked, GMP_EV_BLOCKED, &m, b.seq0 + 1);
	/* A fault is in no system call. */
	EXPECT_EQ(-1, blocked.syscall);
	release(&m, &b);
	ASSERT_EQ(0, gmp_next_event(self->fd, &unblocked, T_MS));
	expect_record(_metadata, self, &unblocked, GMP_EV_UNBLOCKED, &m,
		      blocked.seq);
	stop_m(_metadata, &m);
	close(uffd);
}

TEST_F(ev, blocked_records_cpu)
{
	struct blk b = { .kind = BLK_READ, .count = 1, .arm = true };
	struct gmp_event blocked, unblocked;
	struct gmp_m m;
	int cpu = (int)self->ncpus - 1;

	GROUP(0, 0);
	gmp_m_init(&m, self->fd, &self->m, 33, 0, body_blocks);
	m.arg = &b;
	m.hold = true;
	m.cpu = cpu;
	ASSERT_EQ(0, pipe2(m.pfd, O_CLOEXEC));
	ASSERT_EQ(0, gmp_m_start(&m));
	ASSERT_EQ(0, gmp_next_event(self->fd, &blocked, T_MS));
	EXPECT_EQ(GMP_EV_BLOCKED, blocked.type);
	EXPECT_EQ(U32(cpu), blocked.cpu);
	release(&m, &b);
	ASSERT_EQ(0, gmp_next_event(self->fd, &unblocked, T_MS));
	EXPECT_EQ(GMP_EV_UNBLOCKED, unblocked.type);
	EXPECT_EQ(U32(cpu), unblocked.cpu);
	ASSERT_TRUE(gmp_wait_int(&m.body_done, 1, T_MS));
	EXPECT_EQ(U32(cpu), m.s->cpu);
	stop_m(_metadata, &m);
}

/*
 * GMP_FEAT_PREWAKE: the waiter parked on the M's CPU is woken from the
 * start of the M's switch, and the BLOCKED record then rings no doorbell
 * of its own: one wakeup, made early, and the record is there for it.
 */
TEST_F(ev, prewake_wakes_once_before_the_switch)
{
	struct blk b = { .kind = BLK_READ, .count = 1, .arm = true };
	struct gmp_parker parker = { 0 };
	struct gmp_event blocked, unblocked;
	struct gmp_info info;
	struct gmp_stats st;
	struct gmp_m m;

	ASSERT_EQ(0, gmp_info(self->fd, &info));
	if (!(info.features & GMP_FEAT_PREWAKE))
		SKIP(return, "GMP_FEAT_PREWAKE not reported (gmp.ko prewake=0?)");
	GROUP(0, 0);
	ASSERT_EQ(0, gmp_pin_self(0));
	gmp_m_init(&m, self->fd, &self->m, 34, 0, body_blocks);
	m.arg = &b;
	m.parker = &parker;
	m.hold = true;
	m.cpu = 0;
	ASSERT_EQ(0, pipe2(m.pfd, O_CLOEXEC));
	ASSERT_EQ(0, gmp_m_start(&m));
	gmp_parker_announce(&parker);
	ASSERT_EQ(0, gmp_next_event(self->fd, &blocked, T_MS));
	expect_record(_metadata, self, &blocked, GMP_EV_BLOCKED, &m, b.seq0 + 1);
	ASSERT_EQ(0, gmp_stats(self->fd, 0, 0, &st));
	EXPECT_EQ(1ULL, st.blocks);
	if (b.parked) {
		EXPECT_EQ(1ULL, st.prewakes);
		EXPECT_EQ(1ULL, st.wakeups);
	} else {
		TH_LOG("could not see the waiter parked: wakeups unchecked");
	}
	release(&m, &b);
	ASSERT_EQ(0, gmp_next_event(self->fd, &unblocked, T_MS));
	expect_record(_metadata, self, &unblocked, GMP_EV_UNBLOCKED, &m, blocked.seq);
	ASSERT_TRUE(gmp_wait_int(&m.body_done, 1, T_MS));
	ASSERT_EQ(0, gmp_stats(self->fd, 0, 0, &st));
	/* UNBLOCKED has no prewake: the waiter was not parked before a switch. */
	EXPECT_GE(st.wakeups, st.prewakes);
	stop_m(_metadata, &m);
}

TEST_F(ev, blocked_time_in_slot)
{
	struct blk b = { .kind = BLK_READ, .count = 1, .arm = true };
	struct gmp_event blocked;
	struct gmp_m m;

	GROUP(0, 0);
	ASSERT_EQ(0, start_m(_metadata, self, &m, &b, 34, 0));
	ASSERT_EQ(0, gmp_next_event(self->fd, &blocked, T_MS));
	EXPECT_EQ(GMP_EV_BLOCKED, blocked.type);
	EXPECT_LE(m.t0, m.s->block_ns);
	EXPECT_GE(gmp_now_ns(), m.s->block_ns);
	release(&m, &b);
	stop_m(_metadata, &m);
}

/* ---- no record without an armed M ----------------------------------- */

/* The ring, the counters and WAIT all say: nothing happened. */
static void expect_nothing(struct __test_metadata *_metadata,
			   FIXTURE_DATA(ev) *self)
{
	struct gmp_event ev;
	struct gmp_stats st;

	EXPECT_EQ(0U, gmp_load32(&self->m.ring->tail));
	EXPECT_EQ(-1, gmp_wait(self->fd, &ev, 1, 0, 0, NULL, NULL));
	EXPECT_EQ(EAGAIN, errno);
	ASSERT_EQ(0, gmp_stats(self->fd, 0, 0, &st));
	EXPECT_EQ(0ULL, st.blocks);
	EXPECT_EQ(0ULL, st.unblocks);
	EXPECT_EQ(0ULL, st.events);
}

static void disarmed_blocks(struct __test_metadata *_metadata,
			    FIXTURE_DATA(ev) *self, enum blk_kind kind,
			    bool unregister_first)
{
	struct blk b = { .kind = kind, .count = 3, .probe = true,
			 .unregister_first = unregister_first };
	struct gmp_m m;
	uint32_t seq0;
	int i;

	GROUP(0, 0);
	ASSERT_EQ(0, start_m(_metadata, self, &m, &b, 40, 0));
	seq0 = gmp_load32(&m.s->seq);
	if (unregister_first) {
		m.keep = true;	/* it already left */
		ASSERT_TRUE(gmp_wait_int_ge(&m.ack, 1, T_MS));
		gmp_arm(m.s);	/* a stale armed word must not matter */
	}
	for (i = 0; i < b.count; i++) {
		/* Proven asleep in the kernel before it is woken. */
		ASSERT_TRUE(m_sleeping(&m, i));
		release(&m, &b);
		ASSERT_TRUE(gmp_wait_int_ge(&m.ack, 2 * i + 2, T_MS));
	}
	expect_nothing(_metadata, self);
	if (!unregister_first) {
		EXPECT_EQ(0ULL, m.s->blocks);
		EXPECT_EQ(seq0, gmp_load32(&m.s->seq));
	}
	stop_m(_metadata, &m);
}

TEST_F(ev, disarmed_read_no_record)
{
	NEED_PROC();
	disarmed_blocks(_metadata, self, BLK_READ, false);
}

TEST_F(ev, disarmed_futex_no_record)
{
	NEED_PROC();
	disarmed_blocks(_metadata, self, BLK_FUTEX, false);
}

TEST_F(ev, disarmed_nanosleep_no_record)
{
	NEED_PROC();
	disarmed_blocks(_metadata, self, BLK_NANOSLEEP, false);
}

TEST_F(ev, unregistered_no_record)
{
	NEED_PROC();
	disarmed_blocks(_metadata, self, BLK_READ, true);
}

TEST_F(ev, unregistered_thread_no_record)
{
	struct gmp_m m;
	struct blk b = { .kind = BLK_READ, .count = 2, .probe = true };

	/* A thread of the process that never registered, in a live group. */
	NEED_PROC();
	GROUP(0, 0);
	ASSERT_EQ(0, gmp_register(self->fd, 0, 1, NULL));
	gmp_m_init(&m, self->fd, NULL, 0, 0, body_blocks);
	m.no_register = true;
	m.arg = &b;
	m.hold = true;
	ASSERT_EQ(0, pipe2(m.pfd, O_CLOEXEC));
	ASSERT_EQ(0, gmp_m_start(&m));
	ASSERT_TRUE(m_sleeping(&m, 0));
	release(&m, &b);
	ASSERT_TRUE(m_sleeping(&m, 1));
	release(&m, &b);
	ASSERT_TRUE(gmp_wait_int(&m.body_done, 1, T_MS));
	expect_nothing(_metadata, self);
	stop_m(_metadata, &m);
	EXPECT_EQ(0, gmp_unregister(self->fd));
}

TEST_F(ev, disarm_stops_records)
{
	struct blk b = { .kind = BLK_READ, .count = 2, .arm = true,
			 .disarm_from = 1, .probe = true };
	struct gmp_event ev;
	struct gmp_stats st;
	struct gmp_m m;

	NEED_PROC();
	GROUP(0, 0);
	ASSERT_EQ(0, start_m(_metadata, self, &m, &b, 41, 0));
	ASSERT_EQ(0, gmp_next_event(self->fd, &ev, T_MS));
	EXPECT_EQ(GMP_EV_BLOCKED, ev.type);
	release(&m, &b);
	ASSERT_EQ(0, gmp_next_event(self->fd, &ev, T_MS));
	EXPECT_EQ(GMP_EV_UNBLOCKED, ev.type);
	/* The same M blocks again, now disarmed: nothing. */
	ASSERT_TRUE(m_sleeping(&m, 1));
	release(&m, &b);
	ASSERT_TRUE(gmp_wait_int(&m.body_done, 1, T_MS));
	EXPECT_EQ(-1, gmp_wait(self->fd, &ev, 1, 0, 0, NULL, NULL));
	EXPECT_EQ(EAGAIN, errno);
	ASSERT_EQ(0, gmp_stats(self->fd, 0, 0, &st));
	EXPECT_EQ(1ULL, st.blocks);
	EXPECT_EQ(1ULL, st.unblocks);
	EXPECT_EQ(1ULL, m.s->blocks);
	stop_m(_metadata, &m);
}

/* Arming: by GMP_REGISTER_ARMED, or by any thread's store into the slot. */
TEST_F(ev, register_armed_reports)
{
	struct blk b = { .kind = BLK_READ, .count = 1 };
	struct gmp_event ev;
	struct gmp_m m;

	uint32_t seq;
	int extra;

	GROUP(0, 0);
	ASSERT_EQ(0, start_m(_metadata, self, &m, &b, 42, GMP_REGISTER_ARMED));
	/*
	 * Armed from the registration on, the M may really sleep on its way
	 * to read(2) outside any system call (a page fault waiting for the
	 * mmap lock another thread holds: syscall -1). Such blocks are
	 * reported, each with its UNBLOCKED; then comes the read's.
	 */
	seq = b.seq0 + 1;
	for (extra = 0;; extra++) {
		ASSERT_GT(8, extra);
		ASSERT_EQ(0, gmp_next_event(self->fd, &ev, T_MS));
		expect_record(_metadata, self, &ev, GMP_EV_BLOCKED, &m, seq);
		if (ev.syscall == __NR_read)
			break;
		EXPECT_EQ(-1, ev.syscall);
		ASSERT_EQ(0, gmp_next_event(self->fd, &ev, T_MS));
		expect_record(_metadata, self, &ev, GMP_EV_UNBLOCKED, &m, seq);
		seq++;
	}
	release(&m, &b);
	ASSERT_EQ(0, gmp_next_event(self->fd, &ev, T_MS));
	expect_record(_metadata, self, &ev, GMP_EV_UNBLOCKED, &m, seq);
	gmp_disarm(m.s);
	stop_m(_metadata, &m);
}

TEST_F(ev, armed_by_other_thread)
{
	struct blk b = { .kind = BLK_READ, .count = 1, .wait_go = true };
	struct gmp_event ev;
	struct gmp_m m;

	GROUP(0, 0);
	ASSERT_EQ(0, start_m(_metadata, self, &m, &b, 43, 0));
	EXPECT_EQ(0U, gmp_load32(&m.s->armed));
	gmp_arm(m.s);
	gmp_set_int(&m.cmd, 1);
	ASSERT_EQ(0, gmp_next_event(self->fd, &ev, T_MS));
	expect_record(_metadata, self, &ev, GMP_EV_BLOCKED, &m, b.seq0 + 1);
	release(&m, &b);
	ASSERT_EQ(0, gmp_next_event(self->fd, &ev, T_MS));
	expect_record(_metadata, self, &ev, GMP_EV_UNBLOCKED, &m, b.seq0 + 1);
	gmp_disarm(m.s);
	stop_m(_metadata, &m);
}

/* ---- sequence numbers and counters ---------------------------------- */

/* n armed pipe reads, each woken after its BLOCKED record was read. */
static void blocks_with_records(struct __test_metadata *_metadata,
				FIXTURE_DATA(ev) *self, struct gmp_m *m,
				struct blk *b, int n, struct gmp_event *out)
{
	int i;

	for (i = 0; i < n; i++) {
		struct gmp_event ev;

		ASSERT_EQ(0, gmp_next_event(self->fd, &ev, T_MS));
		ASSERT_EQ(GMP_EV_BLOCKED, ev.type);
		if (out)
			out[2 * i] = ev;
		release(m, b);
		ASSERT_EQ(0, gmp_next_event(self->fd, &ev, T_MS));
		ASSERT_EQ(GMP_EV_UNBLOCKED, ev.type);
		if (out)
			out[2 * i + 1] = ev;
	}
}

TEST_F(ev, seq_increments_per_block)
{
	struct blk b = { .kind = BLK_READ, .count = 3, .arm = true };
	struct gmp_event ev[6];
	struct gmp_m m;
	int i;

	GROUP(0, 0);
	ASSERT_EQ(0, start_m(_metadata, self, &m, &b, 44, 0));
	blocks_with_records(_metadata, self, &m, &b, 3, ev);
	ASSERT_TRUE(gmp_wait_int(&m.body_done, 1, T_MS));
	for (i = 0; i < 3; i++) {
		EXPECT_EQ(b.seq0 + 1 + i, ev[2 * i].seq);
		EXPECT_EQ(ev[2 * i].seq, ev[2 * i + 1].seq);
		EXPECT_LE(ev[2 * i].time_ns, ev[2 * i + 1].time_ns);
		if (i) {
			EXPECT_LE(ev[2 * i - 1].time_ns, ev[2 * i].time_ns);
		}
	}
	EXPECT_EQ(b.seq0 + 3, gmp_load32(&m.s->seq));
	EXPECT_EQ(3ULL, m.s->blocks);
	EXPECT_EQ(3ULL, m.s->unblocks);
	stop_m(_metadata, &m);
}

TEST_F(ev, stats_per_m_and_group)
{
	struct blk ba = { .kind = BLK_READ, .count = 2, .arm = true };
	struct blk bb = { .kind = BLK_READ, .count = 3, .arm = true };
	struct gmp_stats st, sa, sb;
	struct gmp_m a, b;

	GROUP(0, 0);
	ASSERT_EQ(0, start_m(_metadata, self, &a, &ba, 50, 0));
	blocks_with_records(_metadata, self, &a, &ba, 2, NULL);
	ASSERT_TRUE(gmp_wait_int(&a.body_done, 1, T_MS));
	ASSERT_EQ(0, start_m(_metadata, self, &b, &bb, 51, 0));
	blocks_with_records(_metadata, self, &b, &bb, 3, NULL);
	ASSERT_TRUE(gmp_wait_int(&b.body_done, 1, T_MS));

	ASSERT_EQ(0, gmp_stats(self->fd, GMP_STATS_M, 50, &sa));
	ASSERT_EQ(0, gmp_stats(self->fd, GMP_STATS_M, 51, &sb));
	ASSERT_EQ(0, gmp_stats(self->fd, 0, 0, &st));
	EXPECT_EQ(2ULL, sa.blocks);
	EXPECT_EQ(2ULL, sa.unblocks);
	EXPECT_EQ(3ULL, sb.blocks);
	EXPECT_EQ(3ULL, sb.unblocks);
	EXPECT_EQ(a.s->blocks, sa.blocks);
	EXPECT_EQ(b.s->blocks, sb.blocks);
	EXPECT_EQ(2U, st.nr_ms);
	EXPECT_EQ(5ULL, st.blocks);
	EXPECT_EQ(5ULL, st.unblocks);
	EXPECT_EQ(10ULL, st.events);
	EXPECT_EQ(0ULL, st.overflows);
	EXPECT_EQ(0ULL, st.preempts);
	stop_m(_metadata, &a);
	stop_m(_metadata, &b);
	/* Group counters outlive the Ms. */
	ASSERT_EQ(0, gmp_stats(self->fd, 0, 0, &st));
	EXPECT_EQ(0U, st.nr_ms);
	EXPECT_EQ(5ULL, st.blocks);
}

TEST_F(ev, no_unblocked_flag)
{
	struct blk b = { .kind = BLK_READ, .count = 2, .arm = true };
	struct gmp_event ev;
	struct gmp_m m;
	int i;

	GROUP(GMP_SETUP_NO_UNBLOCKED, 0);
	ASSERT_EQ(0, start_m(_metadata, self, &m, &b, 52, 0));
	for (i = 0; i < 2; i++) {
		ASSERT_EQ(0, gmp_next_event(self->fd, &ev, T_MS));
		expect_record(_metadata, self, &ev, GMP_EV_BLOCKED, &m,
			      b.seq0 + 1 + i);
		release(&m, &b);
		ASSERT_TRUE(gmp_wait_int_ge(&m.ack, 2 * i + 2, T_MS));
	}
	ASSERT_TRUE(gmp_wait_int(&m.body_done, 1, T_MS));
	EXPECT_EQ(-1, gmp_wait(self->fd, &ev, 1, 0, 0, NULL, NULL));
	EXPECT_EQ(EAGAIN, errno);
	EXPECT_EQ(2U, gmp_load32(&self->m.ring->tail));
	stop_m(_metadata, &m);
}

/* ---- preemption is not a block -------------------------------------- */

static void body_spin(struct gmp_m *m)
{
	/* Told to go by a store; spins armed with no system call at all. */
	M_CHECK(m, gmp_wait_int(&m->cmd, 1, T_MS), 0);
	gmp_arm(m->s);
	while (__atomic_load_n(&m->cmd, __ATOMIC_ACQUIRE) == 1)
		m->count++;
	gmp_disarm(m->s);
}

static void spin_two_on_one_cpu(struct __test_metadata *_metadata,
				FIXTURE_DATA(ev) *self, long *nr_blocked,
				long *nr_preempted, long *nr_other)
{
	struct gmp_event ev[64];
	struct gmp_m m[2];
	uint64_t end;
	int i;

	*nr_blocked = *nr_preempted = *nr_other = 0;
	for (i = 0; i < 2; i++) {
		gmp_m_init(&m[i], self->fd, &self->m, 60 + i, 0, body_spin);
		m[i].cpu = 0;
		m[i].hold = true;
		ASSERT_EQ(0, gmp_m_start(&m[i]));
	}
	for (i = 0; i < 2; i++)
		gmp_set_int(&m[i].cmd, 1);
	/* Consume while they share CPU 0 for a while. */
	end = gmp_now_ns() + 1500 * NSEC_PER_MSEC;
	while (gmp_now_ns() < end) {
		uint32_t nr = 0, j;

		if (gmp_wait(self->fd, ev, 64, 100 * NSEC_PER_MSEC, 0, &nr,
			     NULL) && errno != ETIMEDOUT)
			break;
		for (j = 0; j < nr && j < 64; j++) {
			if (ev[j].type == GMP_EV_BLOCKED)
				(*nr_blocked)++;
			else if (ev[j].type == GMP_EV_PREEMPTED)
				(*nr_preempted)++;
			else
				(*nr_other)++;
		}
	}
	for (i = 0; i < 2; i++)
		gmp_set_int(&m[i].cmd, 2);
	for (i = 0; i < 2; i++) {
		ASSERT_TRUE(gmp_wait_int(&m[i].body_done, 1, T_MS));
		EXPECT_LT(0, m[i].count);
	}
	for (;;) {
		uint32_t nr = 0, j;

		if (gmp_wait(self->fd, ev, 64, 0, 0, &nr, NULL))
			break;
		for (j = 0; j < nr && j < 64; j++) {
			if (ev[j].type == GMP_EV_BLOCKED)
				(*nr_blocked)++;
			else if (ev[j].type == GMP_EV_PREEMPTED)
				(*nr_preempted)++;
			else
				(*nr_other)++;
		}
	}
	for (i = 0; i < 2; i++)
		stop_m(_metadata, &m[i]);
}

TEST_F_TIMEOUT(ev, preemption_not_blocked, 90)
{
	long blocked, preempted, other;
	struct gmp_stats st;

	GROUP(GMP_SETUP_PREEMPTED, GMP_RING_ENTRIES_MAX);
	spin_two_on_one_cpu(_metadata, self, &blocked, &preempted, &other);
	ASSERT_EQ(0, gmp_stats(self->fd, 0, 0, &st));
	TH_LOG("%ld PREEMPTED, %ld BLOCKED, %ld other records; stats: %llu preempts, %llu blocks",
	       preempted, blocked, other, (unsigned long long)st.preempts,
	       (unsigned long long)st.blocks);
	/* Preemptions did happen and were seen ... */
	EXPECT_LT(0ULL, st.preempts);
	EXPECT_LT(0, preempted);
	/* ... and none of them was taken for a block. */
	EXPECT_EQ(0, blocked);
	EXPECT_EQ(0ULL, st.blocks);
	EXPECT_EQ(0ULL, st.overflows);
}

TEST_F_TIMEOUT(ev, preemption_no_records_by_default, 90)
{
	long blocked, preempted, other;
	struct gmp_stats st;

	GROUP(0, 0);
	spin_two_on_one_cpu(_metadata, self, &blocked, &preempted, &other);
	ASSERT_EQ(0, gmp_stats(self->fd, 0, 0, &st));
	EXPECT_EQ(0, blocked);
	EXPECT_EQ(0, preempted);
	EXPECT_EQ(0, other);
	EXPECT_EQ(0ULL, st.blocks);
	EXPECT_EQ(0ULL, st.events);
	EXPECT_EQ(0U, gmp_load32(&self->m.ring->tail));
}

/* ---- activations: WAIT, read, poll, epoll --------------------------- */

struct waiter {
	struct gmp_parker parker;
	int fd;
	int ret, err;
	uint32_t nr;
	struct gmp_event ev[4];
	int done;
};

static void body_waiter(struct gmp_m *m)
{
	struct waiter *w = m->arg;

	gmp_parker_announce(&w->parker);
	w->ret = gmp_wait(w->fd, w->ev, 4, 30 * NSEC_PER_SEC, 0, &w->nr, NULL);
	w->err = errno;
	gmp_set_int(&w->done, 1);
}

TEST_F_TIMEOUT(ev, one_event_wakes_one_waiter, 90)
{
	struct blk b = { .kind = BLK_READ, .count = 2, .arm = true };
	struct gmp_m wt[2], m;
	struct waiter w[2];
	struct gmp_stats st;
	long base[2];
	int i, first, other;

	NEED_PROC();
	GROUP(GMP_SETUP_NO_UNBLOCKED, 0);
	for (i = 0; i < 2; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].fd = self->fd;
		gmp_m_init(&wt[i], self->fd, NULL, 0, 0, body_waiter);
		wt[i].no_register = true;
		wt[i].arg = &w[i];
		ASSERT_EQ(0, gmp_m_start(&wt[i]));
	}
	for (i = 0; i < 2; i++) {
		ASSERT_TRUE(gmp_parker_wait_parked(&w[i].parker, T_MS));
		base[i] = gmp_nvcsw(w[i].parker.tid);
	}
	ASSERT_EQ(0, start_m(_metadata, self, &m, &b, 70, 0));
	ASSERT_TRUE(gmp_wait_u64_ge(&m.s->blocks, 1, T_MS));
	/* One waiter returns with the record ... */
	ASSERT_TRUE(gmp_wait_int(&w[0].done, 1, 500) ||
		    gmp_wait_int(&w[1].done, 1, T_MS));
	first = gmp_get_int(&w[0].done) ? 0 : 1;
	other = 1 - first;
	EXPECT_EQ(0, w[first].ret);
	EXPECT_EQ(1U, w[first].nr);
	EXPECT_EQ(GMP_EV_BLOCKED, w[first].ev[0].type);
	/* ... the other one was not even woken. */
	gmp_sleep_ms(300);
	EXPECT_EQ(0, gmp_get_int(&w[other].done));
	EXPECT_EQ(base[other], gmp_nvcsw(w[other].parker.tid));
	/* The next record goes to it. */
	release(&m, &b);
	ASSERT_TRUE(gmp_wait_int(&w[other].done, 1, T_MS));
	EXPECT_EQ(0, w[other].ret);
	EXPECT_EQ(1U, w[other].nr);
	EXPECT_EQ(GMP_EV_BLOCKED, w[other].ev[0].type);
	EXPECT_EQ(w[first].ev[0].seq + 1, w[other].ev[0].seq);
	release(&m, &b);
	ASSERT_TRUE(gmp_wait_int(&m.body_done, 1, T_MS));
	ASSERT_EQ(0, gmp_stats(self->fd, 0, 0, &st));
	EXPECT_LE(2ULL, st.wakeups);
	for (i = 0; i < 2; i++) {
		EXPECT_EQ(0, gmp_m_join(&wt[i], T_MS));
	}
	stop_m(_metadata, &m);
}

static void on_sigusr1(int sig)
{
	(void)sig;
}

static void body_kick(struct gmp_m *m)
{
	/* Signal the parked main thread (m->arg: its pthread_t). */
	if (gmp_parker_wait_parked(m->parker, T_MS))
		m->ack = 1;
	pthread_kill(*(pthread_t *)m->arg, SIGUSR1);
}

static void kick_main_when_parked(struct __test_metadata *_metadata,
				  struct gmp_m *k, struct gmp_parker *p,
				  pthread_t *self_thr)
{
	struct sigaction sa = { .sa_handler = on_sigusr1 };

	/* No SA_RESTART: the interrupted call must return EINTR. */
	ASSERT_EQ(0, sigaction(SIGUSR1, &sa, NULL));
	*self_thr = pthread_self();
	gmp_m_init(k, -1, NULL, 0, 0, body_kick);
	k->no_register = true;
	k->parker = p;
	k->arg = self_thr;
	ASSERT_EQ(0, gmp_m_start(k));
}

TEST_F(ev, wait_interrupted_eintr)
{
	struct gmp_parker p = { 0 };
	struct gmp_event ev;
	struct gmp_m k;
	pthread_t me;

	GROUP(0, 0);
	kick_main_when_parked(_metadata, &k, &p, &me);
	gmp_parker_announce(&p);
	EXPECT_EQ(-1, gmp_wait(self->fd, &ev, 1, -1, 0, NULL, NULL));
	EXPECT_EQ(EINTR, errno);
	EXPECT_EQ(0, gmp_m_join(&k, T_MS));
}

TEST_F(ev, read_interrupted_eintr)
{
	struct gmp_parker p = { 0 };
	struct gmp_event ev;
	struct gmp_m k;
	pthread_t me;

	GROUP(0, 0);
	kick_main_when_parked(_metadata, &k, &p, &me);
	gmp_parker_announce(&p);
	EXPECT_EQ(-1, read(self->fd, &ev, sizeof(ev)));
	EXPECT_EQ(EINTR, errno);
	EXPECT_EQ(0, gmp_m_join(&k, T_MS));
}

/*
 * A user address no access can go through: a PROT_NONE page (kept mapped,
 * so that no later mmap, a thread's stack say, lands there).
 */
static struct gmp_event *unmapped_page(void)
{
	void *p = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
		       -1, 0);

	if (p == MAP_FAILED)
		abort();
	return p;
}

/* n armed blocks, each proven by the slot counter, nothing consumed. */
static void pending_blocks(struct __test_metadata *_metadata,
			   FIXTURE_DATA(ev) *self, struct gmp_m *m,
			   struct blk *b, uint32_t m_id, int n)
{
	int i;

	b->kind = BLK_READ;
	b->count = n;
	b->arm = true;
	ASSERT_EQ(0, start_m(_metadata, self, m, b, m_id, 0));
	for (i = 0; i < n; i++) {
		ASSERT_TRUE(gmp_wait_u64_ge(&m->s->blocks, i + 1, T_MS));
		release(m, b);
		ASSERT_TRUE(gmp_wait_int_ge(&m->ack, 2 * i + 2, T_MS));
	}
	ASSERT_TRUE(gmp_wait_int(&m->body_done, 1, T_MS));
}

TEST_F(ev, wait_max_events_limits_copy)
{
	struct gmp_event ev[4];
	struct blk b = { 0 };
	struct gmp_m m;
	uint32_t nr;

	GROUP(GMP_SETUP_NO_UNBLOCKED, 0);
	pending_blocks(_metadata, self, &m, &b, 80, 3);
	memset(ev, 0xcc, sizeof(ev));
	ASSERT_EQ(0, gmp_wait(self->fd, ev, 2, 0, 0, &nr, NULL));
	EXPECT_EQ(2U, nr);
	EXPECT_EQ(b.seq0 + 1, ev[0].seq);
	EXPECT_EQ(b.seq0 + 2, ev[1].seq);
	EXPECT_EQ(0xccccU, ev[2].type);
	memset(ev, 0xcc, sizeof(ev));
	ASSERT_EQ(0, gmp_wait(self->fd, ev, 4, 0, 0, &nr, NULL));
	EXPECT_EQ(1U, nr);
	EXPECT_EQ(b.seq0 + 3, ev[0].seq);
	EXPECT_EQ(0xccccU, ev[1].type);
	EXPECT_EQ(-1, gmp_wait(self->fd, ev, 4, 0, 0, &nr, NULL));
	EXPECT_EQ(EAGAIN, errno);
	stop_m(_metadata, &m);
}

TEST_F(ev, wait_fills_out_fields)
{
	struct gmp_event ev[2];
	struct blk b = { 0 };
	struct gmp_wait w;
	struct gmp_m m;

	GROUP(GMP_SETUP_NO_UNBLOCKED, 0);
	pending_blocks(_metadata, self, &m, &b, 79, 1);
	/* Outputs pre-filled with sentinels are overwritten. */
	memset(ev, 0xcc, sizeof(ev));
	memset(&w, 0, sizeof(w));
	w.size = sizeof(w);
	w.timeout_ns = 0;
	w.events = (uintptr_t)ev;
	w.max_events = 2;
	w.nr_events = 0xdeadbeef;
	w.overflow = 0xdeadbeefdeadbeefULL;
	ASSERT_EQ(0, ioctl(self->fd, GMP_IOC_WAIT, &w));
	EXPECT_EQ(1U, w.nr_events);
	EXPECT_EQ(0ULL, w.overflow);
	expect_record(_metadata, self, &ev[0], GMP_EV_BLOCKED, &m, b.seq0 + 1);
	EXPECT_EQ(0xccccU, ev[1].type);
	stop_m(_metadata, &m);
}

TEST_F(ev, wait_bad_events_efault_consumes_nothing)
{
	struct gmp_event *unmapped = unmapped_page();
	struct gmp_event ev[2];
	struct blk b = { 0 };
	struct gmp_m m;
	uint32_t nr;

	GROUP(0, 0);
	pending_blocks(_metadata, self, &m, &b, 81, 1);
	EXPECT_EQ(-1, gmp_wait(self->fd, NULL, 2, 0, 0, NULL, NULL));
	EXPECT_EQ(EFAULT, errno);
	EXPECT_EQ(-1, gmp_wait(self->fd, GMP_KERNEL_PTR, 2, 0, 0, NULL, NULL));
	EXPECT_EQ(EFAULT, errno);
	/* A user address with nothing mapped there. */
	EXPECT_EQ(-1, gmp_wait(self->fd, unmapped, 2, 0, 0, NULL, NULL));
	EXPECT_EQ(EFAULT, errno);
	EXPECT_EQ(0U, gmp_load32(&self->m.ring->head));
	ASSERT_EQ(0, gmp_wait(self->fd, ev, 2, 0, 0, &nr, NULL));
	ASSERT_EQ(2U, nr);
	expect_record(_metadata, self, &ev[0], GMP_EV_BLOCKED, &m, b.seq0 + 1);
	expect_record(_metadata, self, &ev[1], GMP_EV_UNBLOCKED, &m, b.seq0 + 1);
	stop_m(_metadata, &m);
}

/*
 * A buffer that aliases the group's own mapped ring head: every record
 * copied out rewrites head, so the claim can never succeed. The call must
 * still return (it once looped in the kernel, unkillable) and the ring must
 * stay usable.
 */
TEST_F(ev, wait_into_own_ring_head_returns)
{
	struct gmp_event ev[4];
	struct blk b = { 0 };
	struct gmp_m m;
	uint32_t nr = 0;
	int ret;

	GROUP(0, 16);
	pending_blocks(_metadata, self, &m, &b, 83, 2);
	ret = gmp_wait(self->fd, (struct gmp_event *)self->m.ring, 1, 0, 0, &nr, NULL);
	if (ret) {
		EXPECT_EQ(EAGAIN, errno);
	} else {
		EXPECT_EQ(1U, nr);
	}
	/* The same with a blocking wait and a deadline. */
	ret = gmp_wait(self->fd, (struct gmp_event *)self->m.ring, 1, 50000000, 0, &nr, NULL);
	if (ret)
		EXPECT_TRUE(errno == ETIMEDOUT || errno == EAGAIN);
	/* Repair head as a consumer would find it, and read on. */
	__atomic_store_n(&self->m.ring->head, gmp_load32(&self->m.ring->tail), __ATOMIC_RELEASE);
	EXPECT_EQ(-1, gmp_wait(self->fd, ev, 4, 0, 0, &nr, NULL));
	EXPECT_EQ(EAGAIN, errno);
	stop_m(_metadata, &m);
}

TEST_F(ev, read_returns_whole_records)
{
	struct gmp_event ev[4];
	struct blk b = { 0 };
	struct gmp_m m;

	GROUP(0, 0);
	pending_blocks(_metadata, self, &m, &b, 82, 2);
	ASSERT_EQ(0, fcntl(self->fd, F_SETFL, O_NONBLOCK));
	/* Room for one and a half: one. */
	EXPECT_EQ((ssize_t)sizeof(ev[0]),
		  read(self->fd, ev, sizeof(ev[0]) + sizeof(ev[0]) / 2));
	expect_record(_metadata, self, &ev[0], GMP_EV_BLOCKED, &m, b.seq0 + 1);
	/* Room for four, three left. */
	EXPECT_EQ((ssize_t)(3 * sizeof(ev[0])), read(self->fd, ev, sizeof(ev)));
	expect_record(_metadata, self, &ev[0], GMP_EV_UNBLOCKED, &m, b.seq0 + 1);
	expect_record(_metadata, self, &ev[1], GMP_EV_BLOCKED, &m, b.seq0 + 2);
	expect_record(_metadata, self, &ev[2], GMP_EV_UNBLOCKED, &m, b.seq0 + 2);
	EXPECT_EQ(-1, read(self->fd, ev, sizeof(ev)));
	EXPECT_EQ(EAGAIN, errno);
	stop_m(_metadata, &m);
}

TEST_F(ev, read_bad_buffer_efault_consumes_nothing)
{
	void *volatile null = NULL;	/* hide it from -Wnonnull */
	struct gmp_event *unmapped = unmapped_page();
	struct gmp_event ev[2];
	struct blk b = { 0 };
	struct gmp_m m;

	GROUP(GMP_SETUP_NO_UNBLOCKED, 0);
	pending_blocks(_metadata, self, &m, &b, 83, 1);
	EXPECT_EQ(-1, read(self->fd, null, sizeof(ev)));
	EXPECT_EQ(EFAULT, errno);
	EXPECT_EQ(-1, read(self->fd, GMP_KERNEL_PTR, sizeof(ev)));
	EXPECT_EQ(EFAULT, errno);
	EXPECT_EQ(-1, read(self->fd, unmapped, sizeof(ev)));
	EXPECT_EQ(EFAULT, errno);
	EXPECT_EQ(0U, gmp_load32(&self->m.ring->head));
	ASSERT_EQ(0, fcntl(self->fd, F_SETFL, O_NONBLOCK));
	EXPECT_EQ((ssize_t)sizeof(ev[0]), read(self->fd, ev, sizeof(ev)));
	expect_record(_metadata, self, &ev[0], GMP_EV_BLOCKED, &m, b.seq0 + 1);
	stop_m(_metadata, &m);
}

TEST_F(ev, read_parked_reader_woken)
{
	struct blk b = { .kind = BLK_READ, .count = 1, .arm = true };
	struct gmp_parker parker = { 0 };
	struct gmp_event ev[2];
	struct gmp_m m;

	GROUP(GMP_SETUP_NO_UNBLOCKED, 0);
	ASSERT_EQ(0, start_m_parked(_metadata, self, &m, &b, 84, 0,
				    &parker));
	gmp_parker_announce(&parker);
	EXPECT_EQ((ssize_t)sizeof(ev[0]), read(self->fd, ev, sizeof(ev)));
	expect_record(_metadata, self, &ev[0], GMP_EV_BLOCKED, &m, b.seq0 + 1);
	EXPECT_EQ(__NR_read, ev[0].syscall);
	release(&m, &b);
	ASSERT_TRUE(gmp_wait_int(&m.body_done, 1, T_MS));
	if (!b.parked)
		TH_LOG("could not see the reader parked");
	stop_m(_metadata, &m);
}

TEST_F(ev, poll_ready_with_records)
{
	struct pollfd p = { .events = POLLIN };
	struct gmp_event ev[4];
	struct blk b = { 0 };
	struct gmp_m m;
	uint32_t nr;

	GROUP(0, 0);
	p.fd = self->fd;
	EXPECT_EQ(0, poll(&p, 1, 0));
	pending_blocks(_metadata, self, &m, &b, 85, 1);
	EXPECT_EQ(1, poll(&p, 1, 0));
	EXPECT_EQ(POLLIN, p.revents & (POLLIN | POLLERR | POLLHUP));
	/* Still ready with one of two left ... */
	ASSERT_EQ(0, gmp_wait(self->fd, ev, 1, 0, 0, &nr, NULL));
	EXPECT_EQ(1, poll(&p, 1, 0));
	/* ... not once drained. */
	ASSERT_EQ(0, gmp_wait(self->fd, ev, 4, 0, 0, &nr, NULL));
	EXPECT_EQ(0, poll(&p, 1, 0));
	stop_m(_metadata, &m);
}

TEST_F(ev, poll_wakes_parked_poller)
{
	struct blk b = { .kind = BLK_READ, .count = 1, .arm = true };
	struct gmp_parker parker = { 0 };
	struct pollfd p = { .events = POLLIN };
	struct gmp_event ev;
	struct gmp_m m;

	GROUP(0, 0);
	p.fd = self->fd;
	ASSERT_EQ(0, start_m_parked(_metadata, self, &m, &b, 86, 0,
				    &parker));
	gmp_parker_announce(&parker);
	EXPECT_EQ(1, poll(&p, 1, T_MS));
	EXPECT_EQ(POLLIN, p.revents & POLLIN);
	ASSERT_EQ(0, gmp_next_event(self->fd, &ev, 0));
	EXPECT_EQ(GMP_EV_BLOCKED, ev.type);
	release(&m, &b);
	ASSERT_EQ(0, gmp_next_event(self->fd, &ev, T_MS));
	EXPECT_EQ(GMP_EV_UNBLOCKED, ev.type);
	stop_m(_metadata, &m);
}

TEST_F(ev, epoll_wakes_parked_waiter)
{
	struct blk b = { .kind = BLK_READ, .count = 1, .arm = true };
	struct epoll_event eev = { .events = EPOLLIN }, out;
	struct gmp_parker parker = { 0 };
	struct gmp_event ev;
	struct gmp_m m;
	int ep;

	GROUP(0, 0);
	ep = epoll_create1(EPOLL_CLOEXEC);
	ASSERT_LE(0, ep);
	eev.data.u32 = 0x5a5a;
	ASSERT_EQ(0, epoll_ctl(ep, EPOLL_CTL_ADD, self->fd, &eev));
	EXPECT_EQ(0, epoll_wait(ep, &out, 1, 0));
	ASSERT_EQ(0, start_m_parked(_metadata, self, &m, &b, 87, 0,
				    &parker));
	gmp_parker_announce(&parker);
	EXPECT_EQ(1, epoll_wait(ep, &out, 1, T_MS));
	EXPECT_EQ(0x5a5aU, out.data.u32);
	EXPECT_EQ((uint32_t)EPOLLIN, out.events & EPOLLIN);
	ASSERT_EQ(0, gmp_next_event(self->fd, &ev, 0));
	EXPECT_EQ(GMP_EV_BLOCKED, ev.type);
	release(&m, &b);
	ASSERT_EQ(0, gmp_next_event(self->fd, &ev, T_MS));
	EXPECT_EQ(GMP_EV_UNBLOCKED, ev.type);
	EXPECT_EQ(-1, gmp_next_event(self->fd, &ev, 0));
	EXPECT_EQ(EAGAIN, errno);
	EXPECT_EQ(0, epoll_wait(ep, &out, 1, 0));
	close(ep);
	stop_m(_metadata, &m);
}

/* ---- the ring in the mapping ---------------------------------------- */

TEST_F(ev, ring_consumed_from_user_space)
{
	struct gmp_event ev;
	struct blk b = { 0 };
	struct gmp_m m;
	uint32_t nr;

	GROUP(0, 0);
	pending_blocks(_metadata, self, &m, &b, 90, 1);
	EXPECT_EQ(0U, gmp_load32(&self->m.ring->head));
	EXPECT_EQ(2U, gmp_load32(&self->m.ring->tail));
	ASSERT_EQ(1, gmp_ring_pop(&self->m, &ev));
	expect_record(_metadata, self, &ev, GMP_EV_BLOCKED, &m, b.seq0 + 1);
	EXPECT_EQ(__NR_read, ev.syscall);
	/* WAIT consumes through the same head. */
	ASSERT_EQ(0, gmp_wait(self->fd, &ev, 1, 0, 0, &nr, NULL));
	expect_record(_metadata, self, &ev, GMP_EV_UNBLOCKED, &m, b.seq0 + 1);
	EXPECT_EQ(2U, gmp_load32(&self->m.ring->head));
	EXPECT_EQ(0, gmp_ring_pop(&self->m, &ev));
	stop_m(_metadata, &m);
}

TEST_F(ev, ring_wraps_without_loss)
{
	struct blk b = { .kind = BLK_READ, .count = 25, .arm = true };
	struct gmp_event ev[16];
	struct gmp_stats st;
	struct gmp_m m;
	uint32_t nr, j;
	int round, i;

	GROUP(0, GMP_RING_ENTRIES_MIN);
	ASSERT_EQ(0, start_m(_metadata, self, &m, &b, 91, 0));
	for (round = 0; round < 5; round++) {
		/* Five blocks: ten records, within the 16 of the ring. */
		for (i = 0; i < 5; i++) {
			int k = round * 5 + i;

			ASSERT_TRUE(gmp_wait_u64_ge(&m.s->blocks, k + 1, T_MS));
			release(&m, &b);
			ASSERT_TRUE(gmp_wait_int_ge(&m.ack, 2 * k + 2, T_MS));
		}
		ASSERT_TRUE(gmp_wait_u32_ge(&self->m.ring->tail,
					    (round + 1) * 10, T_MS));
		/* The M may be in its next block already: take ten. */
		ASSERT_EQ(0, gmp_wait(self->fd, ev, 10, 0, 0, &nr, NULL));
		ASSERT_EQ(10U, nr);
		for (j = 0; j < nr; j++) {
			uint32_t r = round * 10 + j;

			EXPECT_EQ(r % 2 ? GMP_EV_UNBLOCKED : GMP_EV_BLOCKED,
				  ev[j].type);
			EXPECT_EQ(b.seq0 + 1 + r / 2, ev[j].seq);
		}
	}
	ASSERT_EQ(0, gmp_stats(self->fd, 0, 0, &st));
	EXPECT_EQ(0ULL, st.overflows);
	EXPECT_EQ(50ULL, st.events);
	EXPECT_EQ(50U, gmp_load32(&self->m.ring->tail));
	stop_m(_metadata, &m);
}

/* ---- overflow ------------------------------------------------------- */

/*
 * n armed blocks, nothing consumed, ring of 16: 2n records, the first 16
 * kept. Blocks are proven by the slot counter, which keeps counting when
 * the ring is full.
 */
static void overflow_ring(struct __test_metadata *_metadata,
			  FIXTURE_DATA(ev) *self, struct gmp_m *m,
			  struct blk *b, int n)
{
	GROUP(0, GMP_RING_ENTRIES_MIN);
	pending_blocks(_metadata, self, m, b, 100, n);
}

static void expect_overflow_record(struct __test_metadata *_metadata,
				   const struct gmp_event *ev, uint32_t lost)
{
	EXPECT_EQ(GMP_EV_OVERFLOW, ev->type);
	EXPECT_EQ(lost, ev->seq);
	EXPECT_EQ(~0U, ev->m_id);
	EXPECT_EQ(~0U, ev->slot);
}

TEST_F(ev, overflow_counted)
{
	struct blk b = { 0 };
	struct gmp_stats st;
	struct gmp_m m;

	overflow_ring(_metadata, self, &m, &b, 20);
	ASSERT_EQ(0, gmp_stats(self->fd, 0, 0, &st));
	EXPECT_EQ(20ULL, st.blocks);
	EXPECT_EQ(20ULL, st.unblocks);
	EXPECT_EQ(16ULL, st.events);
	EXPECT_EQ(24ULL, st.overflows);
	EXPECT_EQ(24ULL, gmp_load64(&self->m.ring->overflow));
	EXPECT_EQ(16U, gmp_load32(&self->m.ring->tail));
	EXPECT_EQ(20ULL, m.s->blocks);
	stop_m(_metadata, &m);
}

TEST_F(ev, overflow_reported_by_wait)
{
	struct gmp_event ev[32];
	struct blk b = { 0 };
	struct gmp_m m;
	uint64_t overflow = 0;
	uint32_t nr, i;

	overflow_ring(_metadata, self, &m, &b, 20);
	ASSERT_EQ(0, gmp_wait(self->fd, ev, 32, 0, 0, &nr, &overflow));
	ASSERT_EQ(17U, nr);
	EXPECT_EQ(24ULL, overflow);
	expect_overflow_record(_metadata, &ev[0], 24);
	/* Then the 16 oldest records, in order: the newest were dropped. */
	for (i = 1; i < nr; i++) {
		EXPECT_EQ(i % 2 ? GMP_EV_BLOCKED : GMP_EV_UNBLOCKED, ev[i].type);
		EXPECT_EQ(b.seq0 + (i + 1) / 2, ev[i].seq);
		EXPECT_EQ(m.m_id, ev[i].m_id);
	}
	EXPECT_EQ(-1, gmp_wait(self->fd, ev, 32, 0, 0, &nr, NULL));
	EXPECT_EQ(EAGAIN, errno);
	stop_m(_metadata, &m);
}

TEST_F(ev, overflow_reported_by_read)
{
	struct gmp_event ev[32];
	struct blk b = { 0 };
	struct gmp_m m;

	overflow_ring(_metadata, self, &m, &b, 20);
	ASSERT_EQ(0, fcntl(self->fd, F_SETFL, O_NONBLOCK));
	ASSERT_EQ((ssize_t)(17 * sizeof(ev[0])), read(self->fd, ev, sizeof(ev)));
	expect_overflow_record(_metadata, &ev[0], 24);
	EXPECT_EQ(GMP_EV_BLOCKED, ev[1].type);
	EXPECT_EQ(b.seq0 + 1, ev[1].seq);
	EXPECT_EQ(GMP_EV_UNBLOCKED, ev[16].type);
	EXPECT_EQ(b.seq0 + 8, ev[16].seq);
	EXPECT_EQ(-1, read(self->fd, ev, sizeof(ev)));
	EXPECT_EQ(EAGAIN, errno);
	stop_m(_metadata, &m);
}

TEST_F(ev, overflow_record_counts_against_max_events)
{
	struct gmp_event ev[2];
	struct blk b = { 0 };
	struct gmp_m m;
	uint32_t nr;

	overflow_ring(_metadata, self, &m, &b, 20);
	ASSERT_EQ(0, gmp_wait(self->fd, ev, 1, 0, 0, &nr, NULL));
	ASSERT_EQ(1U, nr);
	expect_overflow_record(_metadata, &ev[0], 24);
	ASSERT_EQ(0, gmp_wait(self->fd, ev, 1, 0, 0, &nr, NULL));
	ASSERT_EQ(1U, nr);
	EXPECT_EQ(GMP_EV_BLOCKED, ev[0].type);
	EXPECT_EQ(b.seq0 + 1, ev[0].seq);
	stop_m(_metadata, &m);
}

TEST_F(ev, overflow_recovers)
{
	struct blk more = { .kind = BLK_READ, .count = 2, .arm = true };
	struct gmp_event ev[32];
	struct gmp_stats st;
	struct blk b = { 0 };
	struct gmp_m m, m2;
	uint32_t nr;

	overflow_ring(_metadata, self, &m, &b, 20);
	ASSERT_EQ(0, gmp_wait(self->fd, ev, 32, 0, 0, &nr, NULL));
	ASSERT_EQ(17U, nr);
	stop_m(_metadata, &m);

	/* The ring takes new records again, with no overflow notice. */
	ASSERT_EQ(0, start_m(_metadata, self, &m2, &more, 101, 0));
	blocks_with_records(_metadata, self, &m2, &more, 2, ev);
	expect_record(_metadata, self, &ev[0], GMP_EV_BLOCKED, &m2,
		      more.seq0 + 1);
	expect_record(_metadata, self, &ev[3], GMP_EV_UNBLOCKED, &m2,
		      more.seq0 + 2);
	ASSERT_EQ(0, gmp_stats(self->fd, 0, 0, &st));
	EXPECT_EQ(24ULL, st.overflows);
	EXPECT_EQ(20ULL, st.events);
	stop_m(_metadata, &m2);
}

TEST_F(ev, overflow_twice_reports_each_loss)
{
	struct gmp_event ev[32];
	struct blk b = { 0 }, b2 = { 0 };
	struct gmp_stats st;
	struct gmp_m m, m2;
	uint64_t overflow;
	uint32_t nr;
	int i;

	overflow_ring(_metadata, self, &m, &b, 20);
	ASSERT_EQ(0, gmp_wait(self->fd, ev, 32, 0, 0, &nr, NULL));
	ASSERT_EQ(17U, nr);
	stop_m(_metadata, &m);

	/* Twelve more blocks: 24 records, 16 kept, 8 lost. */
	b2.kind = BLK_READ;
	b2.count = 12;
	b2.arm = true;
	ASSERT_EQ(0, start_m(_metadata, self, &m2, &b2, 102, 0));
	for (i = 0; i < 12; i++) {
		ASSERT_TRUE(gmp_wait_u64_ge(&m2.s->blocks, i + 1, T_MS));
		release(&m2, &b2);
		ASSERT_TRUE(gmp_wait_int_ge(&m2.ack, 2 * i + 2, T_MS));
	}
	ASSERT_TRUE(gmp_wait_int(&m2.body_done, 1, T_MS));
	ASSERT_EQ(0, gmp_wait(self->fd, ev, 32, 0, 0, &nr, &overflow));
	ASSERT_EQ(17U, nr);
	/* The notice counts what was lost since the last one ... */
	expect_overflow_record(_metadata, &ev[0], 8);
	/* ... WAIT's overflow and the counters everything so far. */
	EXPECT_EQ(32ULL, overflow);
	EXPECT_EQ(32ULL, gmp_load64(&self->m.ring->overflow));
	ASSERT_EQ(0, gmp_stats(self->fd, 0, 0, &st));
	EXPECT_EQ(32ULL, st.overflows);
	stop_m(_metadata, &m2);
}

TEST_F(ev, overflow_notice_alone_is_readable)
{
	struct pollfd p = { .events = POLLIN };
	struct gmp_event ev[4];
	struct blk b = { 0 };
	struct gmp_m m;
	int i;

	overflow_ring(_metadata, self, &m, &b, 20);
	/* User space drains the ring itself ... */
	for (i = 0; i < 16; i++) {
		ASSERT_EQ(1, gmp_ring_pop(&self->m, &ev[0]));
	}
	ASSERT_EQ(0, gmp_ring_pop(&self->m, &ev[0]));
	/* ... the pending notice still makes the fd readable. */
	p.fd = self->fd;
	EXPECT_EQ(1, poll(&p, 1, 0));
	EXPECT_EQ(POLLIN, p.revents & POLLIN);
	ASSERT_EQ(0, fcntl(self->fd, F_SETFL, O_NONBLOCK));
	ASSERT_EQ((ssize_t)sizeof(ev[0]), read(self->fd, ev, sizeof(ev)));
	expect_overflow_record(_metadata, &ev[0], 24);
	EXPECT_EQ(0, poll(&p, 1, 0));
	EXPECT_EQ(-1, read(self->fd, ev, sizeof(ev)));
	EXPECT_EQ(EAGAIN, errno);
	stop_m(_metadata, &m);
}

/* ---- the kernel trusts only `armed` and `head` ---------------------- */

TEST_F(ev, hostile_slot_fields_ignored)
{
	struct blk b = { .kind = BLK_READ, .count = 1, .arm = true,
			 .wait_go = true };
	struct gmp_event ev;
	struct gmp_stats st;
	struct gmp_m m;
	uint32_t seq0;

	GROUP(0, 0);
	ASSERT_EQ(0, start_m(_metadata, self, &m, &b, 110, 0));
	seq0 = gmp_load32(&m.s->seq);
	/* Everything but `armed` is the kernel's: scribble over it. */
	m.s->state = 0x55;
	m.s->seq = 0xdead0000;
	m.s->m_id = 777;
	m.s->tid = 1;
	m.s->cpu = 9999;
	m.s->blocks = ~0ULL;
	m.s->unblocks = ~0ULL;
	m.s->preempts = 12345;
	m.s->block_ns = 1;
	m.s->reserved = ~0ULL;
	gmp_set_int(&m.cmd, 1);
	ASSERT_EQ(0, gmp_next_event(self->fd, &ev, T_MS));
	expect_record(_metadata, self, &ev, GMP_EV_BLOCKED, &m, seq0 + 1);
	EXPECT_EQ(__NR_read, ev.syscall);
	release(&m, &b);
	ASSERT_EQ(0, gmp_next_event(self->fd, &ev, T_MS));
	expect_record(_metadata, self, &ev, GMP_EV_UNBLOCKED, &m, seq0 + 1);
	ASSERT_TRUE(gmp_wait_int(&m.body_done, 1, T_MS));
	ASSERT_EQ(0, gmp_stats(self->fd, GMP_STATS_M, 110, &st));
	EXPECT_EQ(1ULL, st.blocks);
	EXPECT_EQ(1ULL, st.unblocks);
	ASSERT_EQ(0, gmp_stats(self->fd, 0, 0, &st));
	EXPECT_EQ(1ULL, st.blocks);
	stop_m(_metadata, &m);
}

TEST_F(ev, hostile_ring_tail_ignored)
{
	struct blk b = { .kind = BLK_READ, .count = 1, .arm = true,
			 .wait_go = true };
	struct gmp_event ev;
	struct gmp_stats st;
	struct gmp_m m;

	GROUP(0, 0);
	ASSERT_EQ(0, start_m(_metadata, self, &m, &b, 112, 0));
	/* Only `head` is user space's in the ring control. */
	self->m.ring->tail = 0x777;
	self->m.ring->entries = 3;
	self->m.ring->overflow = 12345;
	gmp_set_int(&m.cmd, 1);
	ASSERT_EQ(0, gmp_next_event(self->fd, &ev, T_MS));
	expect_record(_metadata, self, &ev, GMP_EV_BLOCKED, &m, b.seq0 + 1);
	release(&m, &b);
	ASSERT_EQ(0, gmp_next_event(self->fd, &ev, T_MS));
	expect_record(_metadata, self, &ev, GMP_EV_UNBLOCKED, &m, b.seq0 + 1);
	EXPECT_EQ(-1, gmp_next_event(self->fd, &ev, 0));
	EXPECT_EQ(EAGAIN, errno);
	EXPECT_EQ(2U, gmp_load32(&self->m.ring->tail));
	ASSERT_EQ(0, gmp_stats(self->fd, 0, 0, &st));
	EXPECT_EQ(0ULL, st.overflows);
	EXPECT_EQ(2ULL, st.events);
	stop_m(_metadata, &m);
}

/* Whatever comes back from a consumer call must be sane records. */
static void expect_sane(struct __test_metadata *_metadata, int ret,
			const struct gmp_event *ev, uint32_t nr, uint32_t max)
{
	uint32_t i;

	if (ret) {
		TH_LOG("consumer call failed: %s", strerror(errno));
		return;
	}
	EXPECT_GE(max, nr);
	for (i = 0; i < nr && i < max; i++) {
		EXPECT_LE(GMP_EV_BLOCKED, ev[i].type);
		EXPECT_GE(GMP_EV_OVERFLOW, ev[i].type);
	}
}

TEST_F(ev, hostile_ring_head_survived)
{
	struct blk b = { 0 };
	struct blk b2 = { .kind = BLK_READ, .count = 1, .arm = true,
			  .wait_go = true };
	struct gmp_event ev[8];
	struct gmp_m m, m2;
	uint32_t nr = 0, tail;
	ssize_t n;
	int i;

	GROUP(0, 0);
	pending_blocks(_metadata, self, &m, &b, 113, 1);
	tail = gmp_load32(&self->m.ring->tail);
	ASSERT_EQ(2U, tail);
	ASSERT_EQ(0, fcntl(self->fd, F_SETFL, O_NONBLOCK));

	/* head ahead of tail, then far behind it (more than the ring). */
	self->m.ring->head = tail + 1000;
	expect_sane(_metadata, gmp_wait(self->fd, ev, 8, 0, 0, &nr, NULL),
		    ev, nr, 8);
	n = read(self->fd, ev, sizeof(ev));
	expect_sane(_metadata, n < 0 ? -1 : 0, ev,
		    n < 0 ? 0 : n / sizeof(ev[0]), 8);
	EXPECT_EQ(0, n < 0 ? 0 : n % (ssize_t)sizeof(ev[0]));
	self->m.ring->head = tail - 5000;
	expect_sane(_metadata, gmp_wait(self->fd, ev, 8, 0, 0, &nr, NULL),
		    ev, nr, 8);

	/* With head set right again, a new block gets through. */
	self->m.ring->head = gmp_load32(&self->m.ring->tail);
	ASSERT_EQ(0, start_m(_metadata, self, &m2, &b2, 114, 0));
	gmp_set_int(&m2.cmd, 1);
	for (i = 0; i < 8; i++) {
		ASSERT_EQ(0, gmp_next_event(self->fd, ev, T_MS));
		if (ev[0].type != GMP_EV_OVERFLOW)
			break;
	}
	expect_record(_metadata, self, &ev[0], GMP_EV_BLOCKED, &m2, b2.seq0 + 1);
	release(&m2, &b2);
	stop_m(_metadata, &m2);
	stop_m(_metadata, &m);
}

GMP_HARNESS_MAIN(NULL)
