// SPDX-License-Identifier: (LGPL-2.1-or-later OR MIT)
/*
 * chan_test.c - channel semantics, case by case (Go's spec for channels).
 */
#include "gmp_test.h"

static struct gmp_waitgroup wg;

/* ---- unbuffered: a send completes only when a receiver takes it -------- */

static gmp_chan_t *rv;
static _Atomic int rv_sent, rv_received;

static void rv_sender(void *arg)
{
	int v = 42;

	(void)arg;
	GT_CHECK_EQ(0, gmp_chan_send(rv, &v));
	/* The receiver has the value by the time send returns. */
	GT_CHECK_EQ(1, atomic_load(&rv_received));
	atomic_store(&rv_sent, 1);
	gmp_wg_done(&wg);
}

static void rendezvous_main(void *arg)
{
	int v = 0;

	(void)arg;
	GT_CHECK_EQ(0, gmp_chan_make(&rv, sizeof(int), 0));
	gmp_wg_add(&wg, 1);
	gmp_go(rv_sender, NULL);
	/* However long we dawdle, the sender stays blocked. */
	for (int i = 0; i < 50; i++) {
		gmp_yield();
		GT_CHECK_EQ(0, atomic_load(&rv_sent));
	}
	GT_CHECK_EQ(1, gmp_chan_len(rv) == 0);
	atomic_store(&rv_received, 1);	/* set before the receive completes it */
	GT_CHECK_EQ(0, gmp_chan_recv(rv, &v));
	GT_CHECK_EQ(42, v);
	gmp_wg_wait(&wg);
	GT_CHECK_EQ(1, atomic_load(&rv_sent));
	gmp_chan_free(rv);
}

TEST(unbuffered_rendezvous)
{
	GT_RUN(2, rendezvous_main, NULL);
}

/* ---- buffered: FIFO order, capacity, blocking when full --------------- */

static gmp_chan_t *bf;
static _Atomic int bf_sent;

static void bf_sender(void *arg)
{
	(void)arg;
	for (int i = 0; i < 1000; i++) {
		GT_CHECK_EQ(0, gmp_chan_send(bf, &i));
		atomic_store(&bf_sent, i + 1);
	}
	gmp_wg_done(&wg);
}

static void buffered_main(void *arg)
{
	(void)arg;
	GT_CHECK_EQ(0, gmp_chan_make(&bf, sizeof(int), 10));
	GT_CHECK_EQ(10, gmp_chan_cap(bf));
	gmp_wg_add(&wg, 1);
	gmp_go(bf_sender, NULL);
	/* The sender fills the buffer, then blocks. */
	while (atomic_load(&bf_sent) < 10)
		gmp_yield();
	for (int i = 0; i < 20; i++)
		gmp_yield();
	GT_CHECK_EQ(10, atomic_load(&bf_sent));
	GT_CHECK_EQ(10, gmp_chan_len(bf));
	for (int i = 0; i < 1000; i++) {
		int v = -1;

		GT_CHECK_EQ(0, gmp_chan_recv(bf, &v));
		GT_CHECK_EQ(i, v);
	}
	gmp_wg_wait(&wg);
	GT_CHECK_EQ(0, gmp_chan_len(bf));
	gmp_chan_free(bf);
}

TEST(buffered_order_and_capacity)
{
	GT_RUN(2, buffered_main, NULL);
}

/* ---- close wakes every blocked receiver with ok == false ---------------- */

static gmp_chan_t *cl;
static _Atomic int cl_woken, cl_blocked;

static void cl_receiver(void *arg)
{
	long v = 77;

	(void)arg;
	atomic_fetch_add(&cl_blocked, 1);
	GT_CHECK_EQ(-EPIPE, gmp_chan_recv(cl, &v));
	GT_CHECK_EQ(0, v);		/* the zero value */
	atomic_fetch_add(&cl_woken, 1);
	gmp_wg_done(&wg);
}

static void close_receivers_main(void *arg)
{
	(void)arg;
	GT_CHECK_EQ(0, gmp_chan_make(&cl, sizeof(long), 0));
	for (int i = 0; i < 100; i++) {
		gmp_wg_add(&wg, 1);
		gmp_go(cl_receiver, NULL);
	}
	while (atomic_load(&cl_blocked) < 100)
		gmp_yield();
	for (int i = 0; i < 20; i++)
		gmp_yield();
	GT_CHECK_EQ(0, atomic_load(&cl_woken));
	GT_CHECK_EQ(0, gmp_chan_close(cl));
	gmp_wg_wait(&wg);
	GT_CHECK_EQ(100, atomic_load(&cl_woken));
	/* Closing twice is Go's panic: reported. */
	GT_CHECK_EQ(-EPIPE, gmp_chan_close(cl));
	gmp_chan_free(cl);
}

TEST(close_wakes_all_receivers)
{
	GT_RUN(2, close_receivers_main, NULL);
}

/* ---- close wakes blocked senders with an error --------------------------- */

static _Atomic int cs_failed;

static void cs_sender(void *arg)
{
	int v = 1;

	(void)arg;
	atomic_fetch_add(&cl_blocked, 1);
	if (gmp_chan_send(cl, &v) == -EPIPE)
		atomic_fetch_add(&cs_failed, 1);
	gmp_wg_done(&wg);
}

static void close_senders_main(void *arg)
{
	(void)arg;
	GT_CHECK_EQ(0, gmp_chan_make(&cl, sizeof(int), 0));
	for (int i = 0; i < 50; i++) {
		gmp_wg_add(&wg, 1);
		gmp_go(cs_sender, NULL);
	}
	while (atomic_load(&cl_blocked) < 50)
		gmp_yield();
	for (int i = 0; i < 20; i++)
		gmp_yield();
	GT_CHECK_EQ(0, gmp_chan_close(cl));
	gmp_wg_wait(&wg);
	GT_CHECK_EQ(50, atomic_load(&cs_failed));
	gmp_chan_free(cl);
}

TEST(close_fails_blocked_senders)
{
	GT_RUN(2, close_senders_main, NULL);
}

/* ---- send on a closed channel is reported, not delivered ----------------- */

static void send_closed_main(void *arg)
{
	gmp_chan_t *c;
	int v = 5;

	(void)arg;
	GT_CHECK_EQ(0, gmp_chan_make(&c, sizeof(int), 4));
	GT_CHECK_EQ(0, gmp_chan_close(c));
	GT_CHECK_EQ(-EPIPE, gmp_chan_send(c, &v));
	GT_CHECK_EQ(-EPIPE, gmp_chan_try_send(c, &v));
	GT_CHECK_EQ(0, gmp_chan_len(c));
	gmp_chan_free(c);
}

TEST(send_on_closed_channel_reported)
{
	GT_RUN(1, send_closed_main, NULL);
}

/* ---- a closed buffered channel is drained first, then reports closed ---- */

static void drain_main(void *arg)
{
	gmp_chan_t *c;
	int v;

	(void)arg;
	GT_CHECK_EQ(0, gmp_chan_make(&c, sizeof(int), 3));
	for (v = 1; v <= 3; v++)
		GT_CHECK_EQ(0, gmp_chan_send(c, &v));
	GT_CHECK_EQ(0, gmp_chan_close(c));
	for (int i = 1; i <= 3; i++) {
		v = 0;
		GT_CHECK_EQ(0, gmp_chan_recv(c, &v));	/* ok == true */
		GT_CHECK_EQ(i, v);
	}
	v = 9;
	GT_CHECK_EQ(-EPIPE, gmp_chan_recv(c, &v));	/* ok == false */
	GT_CHECK_EQ(0, v);
	v = 9;
	GT_CHECK_EQ(-EPIPE, gmp_chan_try_recv(c, &v));
	GT_CHECK_EQ(0, v);
	GT_CHECK_EQ(-EPIPE, gmp_chan_recv(c, NULL));
	gmp_chan_free(c);
}

TEST(recv_with_ok_on_closed_channel)
{
	GT_RUN(1, drain_main, NULL);
}

/* ---- non-blocking variants ----------------------------------------------- */

static gmp_chan_t *tv;

static void try_receiver(void *arg)
{
	int v;

	(void)arg;
	GT_CHECK_EQ(0, gmp_chan_recv(tv, &v));
	GT_CHECK_EQ(8, v);
	gmp_wg_done(&wg);
}

static void try_main(void *arg)
{
	gmp_chan_t *c;
	int v = 3;

	(void)arg;
	GT_CHECK_EQ(0, gmp_chan_make(&c, sizeof(int), 1));
	GT_CHECK_EQ(-EAGAIN, gmp_chan_try_recv(c, &v));	/* empty */
	GT_CHECK_EQ(0, gmp_chan_try_send(c, &v));
	GT_CHECK_EQ(-EAGAIN, gmp_chan_try_send(c, &v));	/* full */
	v = 0;
	GT_CHECK_EQ(0, gmp_chan_try_recv(c, &v));
	GT_CHECK_EQ(3, v);
	gmp_chan_free(c);

	/* Unbuffered: a try_send succeeds only with a receiver waiting. */
	GT_CHECK_EQ(0, gmp_chan_make(&tv, sizeof(int), 0));
	v = 8;
	GT_CHECK_EQ(-EAGAIN, gmp_chan_try_send(tv, &v));
	gmp_wg_add(&wg, 1);
	gmp_go(try_receiver, NULL);
	while (gmp_chan_try_send(tv, &v) == -EAGAIN)
		gmp_yield();
	gmp_wg_wait(&wg);
	GT_CHECK_EQ(-EAGAIN, gmp_chan_try_recv(tv, &v));
	gmp_chan_free(tv);
}

TEST(try_send_and_try_recv)
{
	GT_RUN(2, try_main, NULL);
}

/* ---- NULL channels: never ready (Go's nil channel) ----------------------- */

static void nil_main(void *arg)
{
	int v = 1;

	(void)arg;
	GT_CHECK_EQ(-EAGAIN, gmp_chan_try_send(NULL, &v));
	GT_CHECK_EQ(-EAGAIN, gmp_chan_try_recv(NULL, &v));
	/* Blocking forever is reported instead. */
	GT_CHECK_EQ(-EINVAL, gmp_chan_send(NULL, &v));
	GT_CHECK_EQ(-EINVAL, gmp_chan_recv(NULL, &v));
	GT_CHECK_EQ(-EINVAL, gmp_chan_close(NULL));
	GT_CHECK_EQ(0, gmp_chan_len(NULL));
	GT_CHECK_EQ(0, gmp_chan_cap(NULL));
	gmp_chan_free(NULL);
}

TEST(nil_channel_cases)
{
	GT_RUN(1, nil_main, NULL);
}

TEST(make_rejects_bad_arguments)
{
	gmp_chan_t *c = NULL;

	ASSERT_EQ(-EINVAL, gmp_chan_make(NULL, 4, 1));
	ASSERT_EQ(-EINVAL, gmp_chan_make(&c, 1 << 20, 1));
	ASSERT_EQ(-EINVAL, gmp_chan_make(&c, 8, SIZE_MAX / 4));
	ASSERT_EQ(NULL, c);
}

/* ---- zero-sized elements (Go's chan struct{}) --------------------------- */

static gmp_chan_t *done_ch;

static void signaller(void *arg)
{
	(void)arg;
	GT_CHECK_EQ(0, gmp_chan_send(done_ch, NULL));
}

static void zero_size_main(void *arg)
{
	(void)arg;
	GT_CHECK_EQ(0, gmp_chan_make(&done_ch, 0, 0));
	for (int i = 0; i < 10; i++)
		gmp_go(signaller, NULL);
	for (int i = 0; i < 10; i++)
		GT_CHECK_EQ(0, gmp_chan_recv(done_ch, NULL));
	gmp_chan_free(done_ch);
}

TEST(zero_size_elements)
{
	GT_RUN(2, zero_size_main, NULL);
}

/* ---- many senders and receivers on all Ps: nothing lost or duplicated --- */

#define MPMC_PRODUCERS 8
#define MPMC_ITEMS 5000
static gmp_chan_t *mq;
static _Atomic long mpmc_sum, mpmc_count;

static void mpmc_producer(void *arg)
{
	long base = (long)(intptr_t)arg * SCALE(MPMC_ITEMS);

	for (long i = 1; i <= SCALE(MPMC_ITEMS); i++) {
		long v = base + i;

		GT_CHECK_EQ(0, gmp_chan_send(mq, &v));
	}
	gmp_wg_done(&wg);
}

static struct gmp_waitgroup consumers;

static void mpmc_consumer(void *arg)
{
	long v;

	(void)arg;
	while (gmp_chan_recv(mq, &v) == 0) {
		atomic_fetch_add(&mpmc_sum, v);
		atomic_fetch_add(&mpmc_count, 1);
	}
	gmp_wg_done(&consumers);
}

static void mpmc_main(void *arg)
{
	(void)arg;
	GT_CHECK_EQ(0, gmp_chan_make(&mq, sizeof(long), (size_t)(intptr_t)arg));
	for (int i = 0; i < MPMC_PRODUCERS; i++) {
		gmp_wg_add(&wg, 1);
		gmp_go(mpmc_producer, (void *)(intptr_t)i);
	}
	for (int i = 0; i < 4; i++) {
		gmp_wg_add(&consumers, 1);
		gmp_go(mpmc_consumer, NULL);
	}
	gmp_wg_wait(&wg);
	gmp_chan_close(mq);
	gmp_wg_wait(&consumers);
	gmp_chan_free(mq);
}

TEST(many_senders_and_receivers_unbuffered)
{
	long n = (long)MPMC_PRODUCERS * SCALE(MPMC_ITEMS);

	GT_RUN(0, mpmc_main, (void *)0);
	ASSERT_EQ(n, atomic_load(&mpmc_count));
	ASSERT_EQ(n * (n + 1) / 2, atomic_load(&mpmc_sum));
}

TEST(many_senders_and_receivers_buffered)
{
	long n = (long)MPMC_PRODUCERS * SCALE(MPMC_ITEMS);

	GT_RUN(0, mpmc_main, (void *)16);
	ASSERT_EQ(n, atomic_load(&mpmc_count));
	ASSERT_EQ(n * (n + 1) / 2, atomic_load(&mpmc_sum));
}

/*
 * Two goroutines on one P handing a value back and forth: each parks on a
 * channel and the other, in runnext, runs next (without a trip through the
 * scheduler's stack). Every value arrives in order, and each keeps its
 * own errno across every park.
 */
#define HAND_ROUNDS 20000
static gmp_chan_t *hand_a, *hand_b;
static _Atomic int hand_errno_bad;

/* Set errno to e, send or receive, check errno is still e. */
static void hand_op(gmp_chan_t *c, long *v, bool send, int e)
{
	errno = e;
	GT_CHECK_EQ(0, send ? gmp_chan_send(c, v) : gmp_chan_recv(c, v));
	if (errno != e)
		atomic_fetch_add(&hand_errno_bad, 1);
}

static void hand_peer(void *arg)
{
	long v;

	(void)arg;
	for (long i = 0; i < HAND_ROUNDS; i++) {
		hand_op(hand_a, &v, false, 7000 + (int)(i % 1000));
		GT_CHECK_EQ(i, v);
		v = -i;
		hand_op(hand_b, &v, true, 8000 + (int)(i % 1000));
	}
}

static void hand_main(void *arg)
{
	long v;

	(void)arg;
	GT_CHECK_EQ(0, gmp_chan_make(&hand_a, sizeof(long), 0));
	GT_CHECK_EQ(0, gmp_chan_make(&hand_b, sizeof(long), 0));
	GT_CHECK(gmp_go(hand_peer, NULL) > 0);
	for (long i = 0; i < HAND_ROUNDS; i++) {
		v = i;
		hand_op(hand_a, &v, true, 3000 + (int)(i % 1000));
		hand_op(hand_b, &v, false, 4000 + (int)(i % 1000));
		GT_CHECK_EQ(-i, v);
	}
	gmp_chan_free(hand_a);
	gmp_chan_free(hand_b);
}

TEST(handoff_pair_keeps_order_and_errno)
{
	GT_RUN(1, hand_main, NULL);
	ASSERT_EQ(0, atomic_load(&hand_errno_bad));
}

TEST_HARNESS_MAIN
