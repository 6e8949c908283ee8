// SPDX-License-Identifier: (LGPL-2.1-or-later OR MIT)
/*
 * select_test.c - select: fairness among ready cases, default, sends and
 * receives together, closed and NULL channels, timeouts, many cases.
 */
#include "gmp_test.h"

static struct gmp_waitgroup wg;

/* ---- fair: with every case ready, each wins about 1/n of the rounds ----- */

static void fairness_main(void *arg)
{
	enum { N = 4 };
	int rounds = SCALE(40000);
	gmp_chan_t *c[N];
	int wins[N] = { 0 };
	int v = 0;

	(void)arg;
	for (int i = 0; i < N; i++) {
		GT_CHECK_EQ(0, gmp_chan_make(&c[i], sizeof(int), 1));
		GT_CHECK_EQ(0, gmp_chan_send(c[i], &v));
	}
	for (int r = 0; r < rounds; r++) {
		struct gmp_select_case cs[N];
		int k;

		for (int i = 0; i < N; i++)
			cs[i] = (struct gmp_select_case){ c[i], GMP_SELECT_RECV, &v, 1 };
		k = gmp_select(cs, N, 0);
		GT_CHECK(k >= 0 && k < N);
		if (k < 0 || k >= N)
			return;
		GT_CHECK_EQ(0, cs[k].result);
		wins[k]++;
		GT_CHECK_EQ(0, gmp_chan_send(c[k], &v));	/* ready again */
	}
	/* Each expects rounds/4; 20% off would be > 10 sigmas at 40000. */
	for (int i = 0; i < N; i++) {
		fprintf(stderr, "# case %d won %d of %d\n", i, wins[i], rounds);
		GT_CHECK(wins[i] > rounds / N * 8 / 10);
		GT_CHECK(wins[i] < rounds / N * 12 / 10);
	}
	for (int i = 0; i < N; i++)
		gmp_chan_free(c[i]);
}

TEST(select_is_fair)
{
	GT_RUN(1, fairness_main, NULL);
}

/* ---- default (non-blocking) --------------------------------------------- */

static void default_main(void *arg)
{
	gmp_chan_t *a, *b;
	int v = 1;

	(void)arg;
	GT_CHECK_EQ(0, gmp_chan_make(&a, sizeof(int), 0));
	GT_CHECK_EQ(0, gmp_chan_make(&b, sizeof(int), 1));
	struct gmp_select_case cs[2] = {
		{ a, GMP_SELECT_RECV, &v, 1 },
		{ b, GMP_SELECT_RECV, &v, 1 },
	};
	GT_CHECK_EQ(-EAGAIN, gmp_select(cs, 2, GMP_SELECT_NONBLOCK));
	GT_CHECK_EQ(0, gmp_chan_send(b, &v));
	GT_CHECK_EQ(1, gmp_select(cs, 2, GMP_SELECT_NONBLOCK));
	GT_CHECK_EQ(-EAGAIN, gmp_select(cs, 2, GMP_SELECT_NONBLOCK));
	/* A send case with room is ready. */
	struct gmp_select_case s[1] = { { b, GMP_SELECT_SEND, &v, 1 } };

	GT_CHECK_EQ(0, gmp_select(s, 1, GMP_SELECT_NONBLOCK));
	GT_CHECK_EQ(-EAGAIN, gmp_select(s, 1, GMP_SELECT_NONBLOCK));
	GT_CHECK_EQ(-EINVAL, gmp_select(s, 1, 0x100));
	gmp_chan_free(a);
	gmp_chan_free(b);
}

TEST(select_default)
{
	GT_RUN(1, default_main, NULL);
}

/* ---- blocking select woken by a sender, a receiver, or a close ---------- */

static gmp_chan_t *in, *out, *quit;

static void peer(void *arg)
{
	int v = 0;

	(void)arg;
	GT_CHECK_EQ(0, gmp_chan_recv(out, &v));		/* take the select's send */
	GT_CHECK_EQ(11, v);
	v = 22;
	GT_CHECK_EQ(0, gmp_chan_send(in, &v));		/* feed its receive */
	GT_CHECK_EQ(0, gmp_chan_close(quit));		/* and close */
	gmp_wg_done(&wg);
}

static void blocking_main(void *arg)
{
	int got = 0, q = 5, send = 11;
	bool sent = false, received = false, closed = false;

	(void)arg;
	GT_CHECK_EQ(0, gmp_chan_make(&in, sizeof(int), 0));
	GT_CHECK_EQ(0, gmp_chan_make(&out, sizeof(int), 0));
	GT_CHECK_EQ(0, gmp_chan_make(&quit, sizeof(int), 0));
	gmp_wg_add(&wg, 1);
	gmp_go(peer, NULL);
	while (!(sent && received && closed)) {
		struct gmp_select_case cs[3] = {
			{ sent ? NULL : out, GMP_SELECT_SEND, &send, 1 },
			{ received ? NULL : in, GMP_SELECT_RECV, &got, 1 },
			{ closed ? NULL : quit, GMP_SELECT_RECV, &q, 1 },
		};
		int k = gmp_select(cs, 3, 0);

		switch (k) {
		case 0:
			GT_CHECK_EQ(0, cs[0].result);
			sent = true;
			break;
		case 1:
			GT_CHECK_EQ(0, cs[1].result);
			GT_CHECK_EQ(22, got);
			received = true;
			break;
		case 2:
			GT_CHECK_EQ(-EPIPE, cs[2].result);	/* ok == false */
			GT_CHECK_EQ(0, q);
			closed = true;
			break;
		default:
			GT_CHECK(!"bad select result");
			return;
		}
	}
	gmp_wg_wait(&wg);
	gmp_chan_free(in);
	gmp_chan_free(out);
	gmp_chan_free(quit);
}

TEST(select_send_recv_close)
{
	GT_RUN(2, blocking_main, NULL);
}

/* A select sending on a closed channel reports it (Go's panic). */
static void send_closed_main(void *arg)
{
	gmp_chan_t *c;
	int v = 1;

	(void)arg;
	GT_CHECK_EQ(0, gmp_chan_make(&c, sizeof(int), 0));
	gmp_chan_close(c);
	struct gmp_select_case cs[1] = { { c, GMP_SELECT_SEND, &v, 1 } };

	GT_CHECK_EQ(0, gmp_select(cs, 1, 0));
	GT_CHECK_EQ(-EPIPE, cs[0].result);
	gmp_chan_free(c);
}

TEST(select_send_on_closed)
{
	GT_RUN(1, send_closed_main, NULL);
}

/* ---- NULL channels and bad arguments -------------------------------------- */

static void nil_main(void *arg)
{
	gmp_chan_t *c;
	int v = 3;

	(void)arg;
	GT_CHECK_EQ(0, gmp_chan_make(&c, sizeof(int), 1));
	GT_CHECK_EQ(0, gmp_chan_send(c, &v));
	struct gmp_select_case cs[3] = {
		{ NULL, GMP_SELECT_RECV, &v, 1 },
		{ c, GMP_SELECT_RECV, &v, 1 },
		{ NULL, GMP_SELECT_SEND, &v, 1 },
	};
	for (int i = 0; i < 20; i++) {
		int k = gmp_select(cs, 3, 0);	/* only the real channel */

		GT_CHECK_EQ(1, k);
		GT_CHECK_EQ(0, gmp_chan_send(c, &v));
	}
	struct gmp_select_case none[2] = {
		{ NULL, GMP_SELECT_RECV, &v, 1 },
		{ NULL, GMP_SELECT_SEND, &v, 1 },
	};
	GT_CHECK_EQ(-EAGAIN, gmp_select(none, 2, GMP_SELECT_NONBLOCK));
	GT_CHECK_EQ(-EINVAL, gmp_select(none, 2, 0));	/* would block forever */
	GT_CHECK_EQ(-EAGAIN, gmp_select(NULL, 0, GMP_SELECT_NONBLOCK));
	GT_CHECK_EQ(-ETIMEDOUT, gmp_select_timeout(none, 2, 1000));
	cs[1].op = 7;
	GT_CHECK_EQ(-EINVAL, gmp_select(cs, 3, 0));
	gmp_chan_free(c);
}

TEST(select_nil_cases)
{
	GT_RUN(1, nil_main, NULL);
}

/* ---- timeouts ------------------------------------------------------------ */

static gmp_chan_t *late;

static void late_sender(void *arg)
{
	int v = 99;

	(void)arg;
	gmp_sleep(20 * 1000 * 1000);
	GT_CHECK_EQ(0, gmp_chan_send(late, &v));
	gmp_wg_done(&wg);
}

static void timeout_main(void *arg)
{
	int v = 0, timeouts = 0;
	int64_t t0 = gmp_now();

	(void)arg;
	GT_CHECK_EQ(0, gmp_chan_make(&late, sizeof(int), 0));
	struct gmp_select_case cs[1] = { { late, GMP_SELECT_RECV, &v, 1 } };

	GT_CHECK_EQ(-ETIMEDOUT, gmp_select_timeout(cs, 1, 2 * 1000 * 1000));
	GT_CHECK(gmp_now() - t0 >= 2 * 1000 * 1000);	/* not early */
	GT_CHECK_EQ(-ETIMEDOUT, gmp_select_timeout(cs, 1, 0));
	gmp_wg_add(&wg, 1);
	gmp_go(late_sender, NULL);
	/* Short timeouts until the value arrives: a won select cancels its timer. */
	for (;;) {
		int k = gmp_select_timeout(cs, 1, 1000 * 1000);

		if (k == 0)
			break;
		GT_CHECK_EQ(-ETIMEDOUT, k);
		if (k != -ETIMEDOUT)
			return;
		timeouts++;
	}
	GT_CHECK_EQ(99, v);
	GT_CHECK(timeouts > 0);
	gmp_wg_wait(&wg);
	/* The timer of a select won by a channel must not fire later. */
	for (int i = 0; i < 5; i++)
		gmp_sleep(1000 * 1000);
	gmp_chan_free(late);
}

TEST(select_timeout)
{
	GT_RUN(2, timeout_main, NULL);
}

/* ---- more cases than fit on the stack; many selecting goroutines --------- */

#define MANY 40
static gmp_chan_t *many[MANY];
static _Atomic long many_sum;

static void many_selector(void *arg)
{
	int rounds = (int)(intptr_t)arg;

	for (int r = 0; r < rounds; r++) {
		struct gmp_select_case cs[MANY];
		int v[MANY];
		int k;

		for (int i = 0; i < MANY; i++)
			cs[i] = (struct gmp_select_case){ many[i], GMP_SELECT_RECV, &v[i], 1 };
		k = gmp_select(cs, MANY, 0);
		GT_CHECK(k >= 0 && k < MANY);
		if (k < 0 || k >= MANY)
			break;
		GT_CHECK_EQ(0, cs[k].result);
		GT_CHECK_EQ(k, v[k] % MANY);
		atomic_fetch_add(&many_sum, v[k]);
	}
	gmp_wg_done(&wg);
}

static void many_sender(void *arg)
{
	int rounds = (int)(intptr_t)arg;

	for (int r = 0; r < rounds; r++) {
		int v = r;

		GT_CHECK_EQ(0, gmp_chan_send(many[r % MANY], &v));
	}
	gmp_wg_done(&wg);
}

static void many_main(void *arg)
{
	int per = SCALE(2000);

	(void)arg;
	for (int i = 0; i < MANY; i++)
		GT_CHECK_EQ(0, gmp_chan_make(&many[i], sizeof(int), i % 3));
	for (int i = 0; i < 4; i++) {
		gmp_wg_add(&wg, 2);
		gmp_go(many_selector, (void *)(intptr_t)per);
		gmp_go(many_sender, (void *)(intptr_t)per);
	}
	gmp_wg_wait(&wg);
	GT_CHECK_EQ(4L * per * (per - 1) / 2, atomic_load(&many_sum));
	for (int i = 0; i < MANY; i++)
		gmp_chan_free(many[i]);
}

TEST(select_many_cases_many_goroutines)
{
	GT_RUN(0, many_main, NULL);
}

/* Two selects over the same channels in opposite orders do not deadlock. */
static gmp_chan_t *xa, *xb;

static void crosser(void *arg)
{
	int flip = (int)(intptr_t)arg, v = 1;

	for (int r = 0; r < SCALE(5000); r++) {
		struct gmp_select_case cs[2] = {
			{ flip ? xa : xb, GMP_SELECT_SEND, &v, 1 },
			{ flip ? xb : xa, GMP_SELECT_RECV, &v, 1 },
		};
		GT_CHECK(gmp_select(cs, 2, 0) >= 0);
	}
	gmp_wg_done(&wg);
}

static void cross_main(void *arg)
{
	(void)arg;
	GT_CHECK_EQ(0, gmp_chan_make(&xa, sizeof(int), 0));
	GT_CHECK_EQ(0, gmp_chan_make(&xb, sizeof(int), 0));
	gmp_wg_add(&wg, 2);
	gmp_go(crosser, (void *)0);
	gmp_go(crosser, (void *)1);
	gmp_wg_wait(&wg);
	gmp_chan_free(xa);
	gmp_chan_free(xb);
}

TEST(select_opposite_orders)
{
	GT_RUN(0, cross_main, NULL);
}

TEST_HARNESS_MAIN
