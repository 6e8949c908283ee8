// SPDX-License-Identifier: GPL-2.0
/*
 * gmp_stress: many Ms blocking and waking on every CPU for a few seconds,
 * four kinds of consumers sharing one ring (GMP_IOC_WAIT, blocking
 * read(2), poll + user-space pops, and the final drain), then every block
 * accounted for:
 *
 *   per M:   STATS(M).blocks == slot->blocks == STATS(M).unblocks
 *   group:   blocks + unblocks == events + overflows
 *            BLOCKED + UNBLOCKED records read == events
 *            sum of OVERFLOW notices == overflows == ring->overflow
 *   and, when nothing was lost: each M's BLOCKED seqs are exactly
 *   seq0+1 .. seq0+blocks, each once, each with its UNBLOCKED, in time
 *   order.
 *
 * Then register/unregister churn, a few groups at once in separate
 * processes, and processes killed or exiting in the middle of all this.
 * The run is bounded in time; nothing here asserts on timing.
 */
#include "gmp_test.h"

#include <poll.h>

#define T_MS GMP_EVENT_TIMEOUT_MS
#define MAX_MS 16
/* Consumers: two in GMP_IOC_WAIT, one in read(2), one popping in user space. */
#define NCONS 4
#define CONS_READ 2
#define NLOGS (NCONS + 1)

/* ---- a record log per consumer -------------------------------------- */

struct evlog {
	struct gmp_event *ev;
	size_t n, cap;
	bool oom;
};

static void log_add(struct evlog *l, const struct gmp_event *ev, size_t n)
{
	if (l->n + n > l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 65536;
		struct gmp_event *p;

		while (cap < l->n + n)
			cap *= 2;
		p = realloc(l->ev, cap * sizeof(*p));
		if (!p) {
			l->oom = true;
			return;
		}
		l->ev = p;
		l->cap = cap;
	}
	memcpy(l->ev + l->n, ev, n * sizeof(*ev));
	l->n += n;
}

/* ---- the load ------------------------------------------------------- */

struct load;

struct worker {
	struct gmp_m m;
	struct load *ld;
	int want_byte;		/* 1: blocked (or about to) in read */
	uint32_t seq0;
	unsigned int rnd;
	long ops;
};

struct load {
	int fd;
	struct gmp_map map;
	int nr;
	struct worker w[MAX_MS];
	int stop_ms;		/* Ms: leave the loop */
	int stop_kick;		/* kicker: end */
	int stop_consume;	/* consumers: end */
	int frozen;		/* Ms: the mapping may go, touch it no more */
	struct gmp_m kicker;
	struct gmp_m cons[NCONS];
	struct evlog log[NLOGS];	/* one per consumer, then the final drain */
	long ncpus;
};

static void worker_body(struct gmp_m *m)
{
	struct worker *w = m->arg;
	struct timespec fto = { 0, 2 * NSEC_PER_MSEC };
	bool armed = true;
	char c;

	w->seq0 = gmp_load32(&m->s->seq);
	w->rnd = m->m_id * 2654435761U + 1;
	gmp_arm(m->s);
	while (!gmp_get_int(&w->ld->stop_ms)) {
		struct timespec ts;

		switch (w->ops % 3) {
		case 0:
			gmp_set_int(&w->want_byte, 1);
			M_CHECK(m, syscall(SYS_read, m->pfd[0], &c, 1) == 1, errno);
			break;
		case 1:
			__atomic_store_n(&m->fword, 0, __ATOMIC_RELEASE);
			sys_futex(&m->fword, FUTEX_WAIT_PRIVATE, 0, &fto);
			break;
		case 2:
			w->rnd = w->rnd * 1103515245U + 12345U;
			ts.tv_sec = 0;
			ts.tv_nsec = 20000 + (w->rnd >> 8) % 280000;
			syscall(SYS_nanosleep, &ts, NULL);
			break;
		}
		w->ops++;
		if (gmp_get_int(&w->ld->frozen))
			continue;
		/* Now and then a stretch disarmed: its blocks do not count. */
		if (w->ops % 16 == 0) {
			armed = !armed;
			if (armed)
				gmp_arm(m->s);
			else
				gmp_disarm(m->s);
		}
	}
	if (!gmp_get_int(&w->ld->frozen))
		gmp_disarm(m->s);
}

/* Not an M: feeds the readers one byte each, kicks the futex waiters. */
static void kicker_body(struct gmp_m *k)
{
	struct load *ld = k->arg;
	struct timespec ts = { 0, 200000 };
	int i;

	while (!gmp_get_int(&ld->stop_kick)) {
		for (i = 0; i < ld->nr; i++) {
			struct worker *w = &ld->w[i];
			int one = 1;

			if (__atomic_compare_exchange_n(&w->want_byte, &one, 0,
							false, __ATOMIC_ACQ_REL,
							__ATOMIC_ACQUIRE) &&
			    write(w->m.pfd[1], "x", 1) != 1)
				k->err_line = __LINE__;
			__atomic_store_n(&w->m.fword, 1, __ATOMIC_RELEASE);
			sys_futex(&w->m.fword, FUTEX_WAKE_PRIVATE, 1, NULL);
		}
		nanosleep(&ts, NULL);
	}
}

static void consume_wait(struct gmp_m *c)
{
	struct load *ld = c->arg;
	struct gmp_event ev[64];

	while (!gmp_get_int(&ld->stop_consume)) {
		uint32_t nr = 0;

		if (gmp_wait(ld->fd, ev, 64, 50 * NSEC_PER_MSEC, 0, &nr, NULL)) {
			if (errno != ETIMEDOUT && errno != EINTR)
				M_CHECK(c, 0, errno);
			continue;
		}
		if (nr < 1 || nr > 64) {
			M_CHECK(c, 0, nr);
			continue;
		}
		log_add(&ld->log[c->count], ev, nr);
	}
}

static void on_sigusr1(int sig)
{
	(void)sig;
}

static void consume_read(struct gmp_m *c)
{
	struct load *ld = c->arg;
	struct gmp_event ev[16];

	while (!gmp_get_int(&ld->stop_consume)) {
		ssize_t n = read(ld->fd, ev, sizeof(ev));

		if (n < 0) {
			if (errno != EINTR)
				M_CHECK(c, 0, errno);
			continue;
		}
		if (n <= 0 || n > (ssize_t)sizeof(ev) || n % sizeof(ev[0])) {
			M_CHECK(c, 0, n);
			continue;
		}
		log_add(&ld->log[c->count], ev, n / sizeof(ev[0]));
	}
}

static void consume_pop(struct gmp_m *c)
{
	struct load *ld = c->arg;
	struct pollfd p = { .fd = ld->fd, .events = POLLIN };
	struct gmp_event ev;

	while (!gmp_get_int(&ld->stop_consume)) {
		if (poll(&p, 1, 50) < 0 && errno != EINTR)
			M_CHECK(c, 0, errno);
		while (gmp_ring_pop(&ld->map, &ev))
			log_add(&ld->log[c->count], &ev, 1);
	}
}

/* Start everything; run for ms; stop the Ms and then the consumers. */
static int load_run(struct load *ld, int nr, uint32_t ring, int ms)
{
	static gmp_m_body_fn cons_fn[NCONS] = {
		consume_wait, consume_wait, consume_read, consume_pop,
	};
	struct sigaction sa = { .sa_handler = on_sigusr1 };
	struct gmp_event ev[64];
	uint64_t end;
	int i;

	ld->nr = nr;
	ld->ncpus = gmp_ncpus();
	ld->fd = gmp_open();
	if (ld->fd < 0)
		return __LINE__;
	if (gmp_setup(ld->fd, 0, ring, 0) || gmp_map(ld->fd, &ld->map))
		return __LINE__;
	if (sigaction(SIGUSR1, &sa, NULL))
		return __LINE__;
	for (i = 0; i < NCONS; i++) {
		gmp_m_init(&ld->cons[i], ld->fd, NULL, 0, 0, cons_fn[i]);
		ld->cons[i].no_register = true;
		ld->cons[i].arg = ld;
		ld->cons[i].count = i;	/* its log */
		if (gmp_m_start(&ld->cons[i]))
			return __LINE__;
	}
	gmp_m_init(&ld->kicker, -1, NULL, 0, 0, kicker_body);
	ld->kicker.no_register = true;
	ld->kicker.arg = ld;
	for (i = 0; i < nr; i++) {
		struct worker *w = &ld->w[i];

		gmp_m_init(&w->m, ld->fd, &ld->map, 1000 + i, 0, worker_body);
		w->m.arg = w;
		w->m.hold = true;
		w->m.cpu = i % ld->ncpus;
		w->ld = ld;
		if (pipe2(w->m.pfd, O_CLOEXEC))
			return __LINE__;
	}
	if (gmp_m_start(&ld->kicker))
		return __LINE__;
	for (i = 0; i < nr; i++)
		if (gmp_m_start(&ld->w[i].m))
			return __LINE__;

	gmp_sleep_ms(ms);

	gmp_set_int(&ld->stop_ms, 1);
	for (i = 0; i < nr; i++)
		if (!gmp_wait_int(&ld->w[i].m.body_done, 1, 3 * T_MS))
			return __LINE__;
	gmp_set_int(&ld->stop_kick, 1);
	if (gmp_m_join(&ld->kicker, T_MS))
		return __LINE__;
	/* Every M is disarmed: no record is made any more. Stop consuming. */
	gmp_set_int(&ld->stop_consume, 1);
	end = gmp_now_ns() + (uint64_t)T_MS * NSEC_PER_MSEC;
	while (!gmp_get_int(&ld->cons[CONS_READ].finished) &&
	       gmp_now_ns() < end) {
		pthread_kill(ld->cons[CONS_READ].thr, SIGUSR1);
		gmp_sleep_ms(10);
	}
	for (i = 0; i < NCONS; i++)
		if (gmp_m_join(&ld->cons[i], T_MS))
			return __LINE__;
	for (;;) {
		uint32_t nr_ev = 0;

		if (gmp_wait(ld->fd, ev, 64, 0, 0, &nr_ev, NULL))
			break;
		if (nr_ev > 64)
			return __LINE__;
		log_add(&ld->log[NCONS], ev, nr_ev);
	}
	return errno == EAGAIN ? 0 : __LINE__;
}

/* Let the Ms unregister and end; close the group. */
static int load_finish(struct load *ld)
{
	int i, ret = 0;

	for (i = 0; i < ld->nr; i++) {
		if (gmp_m_leave(&ld->w[i].m, T_MS) || ld->w[i].m.unreg_errno)
			ret = __LINE__;
		close(ld->w[i].m.pfd[0]);
		close(ld->w[i].m.pfd[1]);
	}
	gmp_unmap(&ld->map);
	close(ld->fd);
	for (i = 0; i < NLOGS; i++)
		free(ld->log[i].ev);
	return ret;
}

/* ---- the accounting ------------------------------------------------- */

struct tally {
	uint64_t blocked, unblocked, lost, bad;
	uint64_t per_b[MAX_MS], per_u[MAX_MS];
};

static bool allowed_syscall(int nr)
{
	/* The armed window covers these calls only (and the write of the
	 * kicker's byte never happens in an M).
	 */
	return nr == __NR_read || nr == __NR_futex || nr == __NR_nanosleep;
}

static void tally(struct load *ld, struct tally *t)
{
	int l;
	size_t i;

	memset(t, 0, sizeof(*t));
	for (l = 0; l < NLOGS; l++) {
		for (i = 0; i < ld->log[l].n; i++) {
			const struct gmp_event *e = &ld->log[l].ev[i];
			int k = (int)e->m_id - 1000;

			if (e->type == GMP_EV_OVERFLOW) {
				t->lost += e->seq;
				if (e->m_id != ~0U || e->slot != ~0U)
					t->bad++;
				continue;
			}
			if (k < 0 || k >= ld->nr || e->slot != ld->w[k].m.slot ||
			    e->flags || e->cpu >= ld->ncpus) {
				t->bad++;
				continue;
			}
			if (e->type == GMP_EV_BLOCKED) {
				t->blocked++;
				t->per_b[k]++;
				if (!allowed_syscall(e->syscall))
					t->bad++;
			} else if (e->type == GMP_EV_UNBLOCKED) {
				t->unblocked++;
				t->per_u[k]++;
			} else {
				t->bad++;
			}
		}
	}
}

/* All records of M k, sorted by (seq, type). */
static int cmp_rec(const void *a, const void *b)
{
	const struct gmp_event *x = a, *y = b;

	if (x->seq != y->seq)
		return x->seq < y->seq ? -1 : 1;
	return (int)x->type - (int)y->type;
}

/*
 * With nothing lost: BLOCKED seq0+1 .. seq0+n each once, each followed by
 * its UNBLOCKED, times in order. Returns 0 or the first broken rule.
 */
static int check_sequence(struct load *ld, int k, uint64_t blocks)
{
	struct gmp_event *r = malloc((2 * blocks + 1) * sizeof(*r));
	uint32_t seq0 = ld->w[k].seq0;
	size_t n = 0, i;
	int l, ret = 0;

	if (!r)
		return 1;
	for (l = 0; l < NLOGS; l++)
		for (i = 0; i < ld->log[l].n; i++)
			if (ld->log[l].ev[i].m_id == (uint32_t)(1000 + k) &&
			    ld->log[l].ev[i].type != GMP_EV_OVERFLOW) {
				if (n == 2 * blocks) {
					ret = 2;
					goto out;
				}
				r[n++] = ld->log[l].ev[i];
			}
	if (n != 2 * blocks) {
		ret = 3;
		goto out;
	}
	/* seq is relative to seq0, which may be anywhere: sort from it. */
	for (i = 0; i < n; i++)
		r[i].seq -= seq0;
	qsort(r, n, sizeof(*r), cmp_rec);
	for (i = 0; i < blocks; i++) {
		const struct gmp_event *b = &r[2 * i], *u = &r[2 * i + 1];

		if (b->type != GMP_EV_BLOCKED || b->seq != i + 1) {
			ret = 4;
			break;
		}
		if (u->type != GMP_EV_UNBLOCKED || u->seq != i + 1) {
			ret = 5;
			break;
		}
		if (u->time_ns < b->time_ns) {
			ret = 6;
			break;
		}
		if (i && b->time_ns < r[2 * i - 1].time_ns) {
			ret = 7;
			break;
		}
	}
out:
	free(r);
	return ret;
}

FIXTURE(stress) {
	long refcnt0;
	struct load *ld;
};

FIXTURE_VARIANT(stress) {
	uint32_t ring_entries;
	int run_ms;
};

/* Nothing should be lost: the per-M sequences are checked too. */
FIXTURE_VARIANT_ADD(stress, big_ring) {
	.ring_entries = GMP_RING_ENTRIES_MAX,
	.run_ms = 3000,
};

/* Losses are certain: the sums must still add up. */
FIXTURE_VARIANT_ADD(stress, small_ring) {
	.ring_entries = GMP_RING_ENTRIES_MIN,
	.run_ms = 2000,
};

FIXTURE_SETUP(stress)
{
	self->refcnt0 = gmp_refcnt();
	self->ld = calloc(1, sizeof(*self->ld));
	ASSERT_NE(NULL, self->ld);
}

FIXTURE_TEARDOWN(stress)
{
	free(self->ld);
}

static int nr_ms(void)
{
	long n = 4 * gmp_ncpus();

	return n < 8 ? 8 : n > MAX_MS ? MAX_MS : (int)n;
}

static void expect_released(struct __test_metadata *_metadata, long refcnt0)
{
	long cnt;

	if (refcnt0 < 0) {
		TH_LOG("no /sys/module/gmp/refcnt: release not checked");
		return;
	}
	cnt = gmp_refcnt_settle(refcnt0, GMP_SETTLE_TIMEOUT_MS);
	EXPECT_GE(refcnt0, cnt);
}

/*
 * $GMP_STRESS_MS, when set, is how long every_block_accounted loads the
 * module (1..200000 ms, within the test's timeout): `make soak` runs it
 * for minutes at a time.
 */
static int stress_ms(int dflt)
{
	const char *s = getenv("GMP_STRESS_MS");
	char *end;
	long v;

	if (!s || !*s)
		return dflt;
	v = strtol(s, &end, 10);
	if (*end || v < 1 || v > 200000) {
		fprintf(stderr, "GMP_STRESS_MS=%s: want 1..200000; using %d\n", s, dflt);
		return dflt;
	}
	return (int)v;
}

TEST_F_TIMEOUT(stress, every_block_accounted, 240)
{
	struct load *ld = self->ld;
	struct gmp_stats st, sm;
	uint64_t sum_b = 0, sum_u = 0;
	struct tally t;
	int i, ret;

	ret = load_run(ld, nr_ms(), variant->ring_entries, stress_ms(variant->run_ms));
	ASSERT_EQ(0, ret) {
		TH_LOG("load setup or teardown failed at line %d: %s", ret,
		       strerror(errno));
	}
	for (i = 0; i < NCONS; i++) {
		EXPECT_EQ(0, ld->cons[i].err_line) {
			TH_LOG("consumer %d: line %d (%ld)", i,
			       ld->cons[i].err_line, ld->cons[i].err_val);
		}
	}
	EXPECT_EQ(0, ld->kicker.err_line);
	for (i = 0; i < NLOGS; i++) {
		ASSERT_FALSE(ld->log[i].oom);
	}

	ASSERT_EQ(0, gmp_stats(ld->fd, 0, 0, &st));
	tally(ld, &t);
	TH_LOG("%d Ms: %llu blocks, %llu unblocks, %llu records, %llu lost, %llu wakeups; read by WAIT %zu+%zu, read(2) %zu, pops %zu, drain %zu",
	       ld->nr, (unsigned long long)st.blocks,
	       (unsigned long long)st.unblocks, (unsigned long long)st.events,
	       (unsigned long long)st.overflows, (unsigned long long)st.wakeups,
	       ld->log[0].n, ld->log[1].n, ld->log[2].n, ld->log[3].n,
	       ld->log[4].n);

	for (i = 0; i < ld->nr; i++) {
		struct worker *w = &ld->w[i];

		EXPECT_EQ(0, w->m.err_line) {
			TH_LOG("M %d: line %d (%ld)", i, w->m.err_line,
			       w->m.err_val);
		}
		ASSERT_EQ(0, gmp_stats(ld->fd, GMP_STATS_M, w->m.m_id, &sm));
		/* Every block of the M was followed by its return. */
		EXPECT_EQ(sm.blocks, sm.unblocks) {
			TH_LOG("M %d", i);
		}
		EXPECT_EQ(sm.blocks, w->m.s->blocks) {
			TH_LOG("M %d", i);
		}
		EXPECT_EQ(sm.unblocks, w->m.s->unblocks) {
			TH_LOG("M %d", i);
		}
		EXPECT_LT(0ULL, sm.blocks) {
			TH_LOG("M %d never blocked armed", i);
		}
		sum_b += sm.blocks;
		sum_u += sm.unblocks;
		if (!st.overflows) {
			EXPECT_EQ(sm.blocks, t.per_b[i]) {
				TH_LOG("M %d", i);
			}
			EXPECT_EQ(sm.unblocks, t.per_u[i]) {
				TH_LOG("M %d", i);
			}
			EXPECT_EQ(0, check_sequence(ld, i, sm.blocks)) {
				TH_LOG("M %d: records out of sequence", i);
			}
		} else {
			EXPECT_GE(sm.blocks, t.per_b[i]);
			EXPECT_GE(sm.unblocks, t.per_u[i]);
		}
	}
	/* The group's counters are the sums of its Ms'. */
	EXPECT_EQ(sum_b, st.blocks);
	EXPECT_EQ(sum_u, st.unblocks);
	/* Every record made was either read or counted lost. */
	EXPECT_EQ(st.blocks + st.unblocks, st.events + st.overflows);
	EXPECT_EQ(st.events, t.blocked + t.unblocked);
	EXPECT_EQ(st.overflows, t.lost);
	EXPECT_EQ(st.overflows, gmp_load64(&ld->map.ring->overflow));
	EXPECT_EQ(0ULL, t.bad);
	EXPECT_LT(0ULL, st.wakeups);
	if (variant->ring_entries == GMP_RING_ENTRIES_MAX && st.overflows)
		TH_LOG("lost %llu records with a 64k ring: per-M sequences unchecked",
		       (unsigned long long)st.overflows);

	ASSERT_EQ(0, load_finish(ld));
	expect_released(_metadata, self->refcnt0);
}

/* ---- register / unregister churn ------------------------------------ */

struct churner {
	int fd;
	struct gmp_map *map;
	int idx;
	int *stop;
	uint64_t blocks, unblocks;
	long rounds;
	int err;
};

static void *churn_thread(void *arg)
{
	struct churner *c = arg;
	struct timespec ts = { 0, 100000 };
	uint32_t slot;
	int i;

	gmp_pin_self(c->idx % gmp_ncpus());
	while (!gmp_get_int(c->stop)) {
		uint32_t id = c->idx * 1000000 + (uint32_t)c->rounds;
		struct gmp_slot *s;

		if (gmp_register(c->fd, GMP_REGISTER_ARMED, id, &slot)) {
			c->err = errno;
			break;
		}
		s = gmp_slot(c->map, slot);
		for (i = 0; i < 3; i++)
			syscall(SYS_nanosleep, &ts, NULL);
		gmp_disarm(s);
		/* Final for this registration: it is disarmed and running. */
		c->blocks += s->blocks;
		c->unblocks += s->unblocks;
		if (gmp_unregister(c->fd)) {
			c->err = 1000 + errno;
			break;
		}
		c->rounds++;
	}
	return NULL;
}

TEST_F_TIMEOUT(stress, register_churn, 120)
{
	struct churner c[8];
	pthread_t thr[8];
	struct gmp_event ev[64];
	uint64_t records = 0, lost = 0, bad = 0, b = 0, u = 0;
	struct gmp_stats st;
	struct gmp_map map;
	int stop = 0, i, fd;
	uint64_t end;
	uint32_t k;

	fd = gmp_open();
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, gmp_setup(fd, 0, variant->ring_entries, 0));
	ASSERT_EQ(0, gmp_map(fd, &map));
	for (i = 0; i < 8; i++) {
		c[i] = (struct churner){ .fd = fd, .map = &map, .idx = i + 1,
					 .stop = &stop };
		ASSERT_EQ(0, pthread_create(&thr[i], NULL, churn_thread, &c[i]));
	}
	/* This thread is the activation meanwhile. */
	end = gmp_now_ns() + 2 * NSEC_PER_SEC;
	/* Until the churners are done and the ring is drained. */
	for (;;) {
		uint32_t nr = 0;

		if (gmp_now_ns() >= end && !gmp_get_int(&stop)) {
			gmp_set_int(&stop, 1);
			for (i = 0; i < 8; i++) {
				ASSERT_EQ(0, pthread_join(thr[i], NULL));
			}
		}
		if (gmp_wait(fd, ev, 64, 20 * NSEC_PER_MSEC, 0, &nr, NULL)) {
			if (gmp_get_int(&stop) && errno != EINTR)
				break;
			continue;
		}
		if (nr > 64) {
			bad++;
			continue;
		}
		for (k = 0; k < nr; k++) {
			if (ev[k].type == GMP_EV_OVERFLOW) {
				lost += ev[k].seq;
			} else if (ev[k].m_id < 1000000 || ev[k].m_id > 9000000 ||
				   ev[k].slot >= map.info.max_ms) {
				bad++;
			} else {
				records++;
			}
		}
	}
	for (i = 0; i < 8; i++) {
		EXPECT_EQ(0, c[i].err) {
			TH_LOG("churner %d: error %d after %ld rounds", i,
			       c[i].err, c[i].rounds);
		}
		EXPECT_LT(0, c[i].rounds);
		b += c[i].blocks;
		u += c[i].unblocks;
	}
	ASSERT_EQ(0, gmp_stats(fd, 0, 0, &st));
	TH_LOG("%llu blocks, %llu unblocks, %llu events, %llu overflows; read %llu records, %llu lost",
	       (unsigned long long)st.blocks, (unsigned long long)st.unblocks,
	       (unsigned long long)st.events, (unsigned long long)st.overflows,
	       (unsigned long long)records, (unsigned long long)lost);
	EXPECT_EQ(0U, st.nr_ms);
	/* The slots' counters, read just before each unregister, add up. */
	EXPECT_EQ(b, st.blocks);
	EXPECT_EQ(u, st.unblocks);
	EXPECT_EQ(st.blocks, st.unblocks);
	/* Every block and return made a record, kept or counted lost ... */
	EXPECT_EQ(st.blocks + st.unblocks, st.events + st.overflows);
	/* ... and every kept one was read, every lost one reported. */
	EXPECT_EQ(st.events, records);
	EXPECT_EQ(st.overflows, lost);
	EXPECT_EQ(0ULL, bad);
	for (k = 0; k < map.info.max_ms; k++) {
		EXPECT_EQ(U32(GMP_SLOT_FREE), map.slots[k].state);
	}
	gmp_unmap(&map);
	EXPECT_EQ(0, close(fd));
	expect_released(_metadata, self->refcnt0);
}

/* ---- several groups, and processes that die under load -------------- */

/* A child: its own group under load; checks the sums itself. */
static int child_load(void *arg)
{
	struct load *ld = calloc(1, sizeof(*ld));
	struct gmp_stats st;
	struct tally t;
	int ret;

	if (!ld)
		return 100;
	ret = load_run(ld, 4, GMP_RING_ENTRIES_DEFAULT, *(int *)arg);
	if (ret)
		return 101;
	if (gmp_stats(ld->fd, 0, 0, &st))
		return 102;
	tally(ld, &t);
	if (st.blocks + st.unblocks != st.events + st.overflows)
		return 103;
	if (st.events != t.blocked + t.unblocked || st.overflows != t.lost)
		return 104;
	if (t.bad)
		return 105;
	if (load_finish(ld))
		return 106;
	return 0;
}

TEST_F_TIMEOUT(stress, groups_in_parallel, 120)
{
	int run_ms = 1500, i;
	pid_t pid[4];

	for (i = 0; i < 4; i++) {
		fflush(stdout);
		fflush(stderr);
		pid[i] = fork();
		ASSERT_LE(0, pid[i]);
		if (pid[i] == 0)
			_exit(child_load(&run_ms));
	}
	for (i = 0; i < 4; i++) {
		EXPECT_EQ(0, gmp_child_result(gmp_reap(pid[i], 6 * T_MS))) {
			TH_LOG("group %d", i);
		}
	}
	expect_released(_metadata, self->refcnt0);
}

/* A child: its group under load until it is killed or exits in the middle. */
static int child_die(void *arg)
{
	int how = *(int *)arg;
	struct load *ld = calloc(1, sizeof(*ld));

	if (!ld)
		return 100;
	/* load_run() would stop the Ms: start the same threads, never stop. */
	ld->nr = 8;
	ld->ncpus = gmp_ncpus();
	ld->fd = gmp_open();
	if (ld->fd < 0 || gmp_map(ld->fd, &ld->map))
		return 101;
	for (int i = 0; i < 3; i++) {
		static gmp_m_body_fn fn[3] = { consume_wait, consume_wait, consume_pop };

		gmp_m_init(&ld->cons[i], ld->fd, NULL, 0, 0, fn[i]);
		ld->cons[i].no_register = true;
		ld->cons[i].arg = ld;
		ld->cons[i].count = i;
		if (gmp_m_start(&ld->cons[i]))
			return 102;
	}
	gmp_m_init(&ld->kicker, -1, NULL, 0, 0, kicker_body);
	ld->kicker.no_register = true;
	ld->kicker.arg = ld;
	for (int i = 0; i < ld->nr; i++) {
		struct worker *w = &ld->w[i];

		gmp_m_init(&w->m, ld->fd, &ld->map, 1000 + i, 0, worker_body);
		w->m.arg = w;
		w->m.cpu = i % ld->ncpus;
		w->ld = ld;
		if (pipe2(w->m.pfd, O_CLOEXEC) || gmp_m_start(&w->m))
			return 103;
	}
	if (gmp_m_start(&ld->kicker))
		return 104;
	gmp_sleep_ms(300);
	switch (how) {
	case 0:		/* killed by the parent */
		for (;;)
			pause();
	case 1:		/* the group goes away under its Ms, then exit */
		gmp_set_int(&ld->stop_consume, 1);
		for (int i = 0; i < 3; i++)
			if (gmp_m_join(&ld->cons[i], T_MS))
				return 105;
		/* No thread touches the mapping any more: unmap, close. */
		gmp_set_int(&ld->frozen, 1);
		gmp_sleep_ms(100);
		gmp_unmap(&ld->map);
		close(ld->fd);
		gmp_sleep_ms(200);
		_exit(0);
	default:	/* exit_group with everything live */
		_exit(0);
	}
}

TEST_F_TIMEOUT(stress, processes_die_under_load, 180)
{
	int round;

	for (round = 0; round < 6; round++) {
		int how = round % 3;
		pid_t pid;

		fflush(stdout);
		fflush(stderr);
		pid = fork();
		ASSERT_LE(0, pid);
		if (pid == 0)
			_exit(child_die(&how));
		if (how == 0) {
			gmp_sleep_ms(600);
			kill(pid, SIGKILL);
			EXPECT_EQ(1000 + SIGKILL,
				  gmp_child_result(gmp_reap(pid, T_MS)));
		} else {
			EXPECT_EQ(0, gmp_child_result(gmp_reap(pid, 3 * T_MS)));
		}
	}
	expect_released(_metadata, self->refcnt0);
	{
		int fd = gmp_open();

		ASSERT_LE(0, fd);
		EXPECT_EQ(0, gmp_register(fd, 0, 1, NULL));
		EXPECT_EQ(0, close(fd));
	}
}

GMP_HARNESS_MAIN(NULL)
