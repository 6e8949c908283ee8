// SPDX-License-Identifier: (LGPL-2.1-or-later OR MIT)
/*
 * programs_test.c - whole programs with known answers: Go's concurrent
 * prime sieve, and a token passed around a ring of 10k goroutines.
 */
#include "gmp_test.h"

/* ---- Go's prime sieve: a chain of filter goroutines ---------------------- */

struct filter_arg {
	gmp_chan_t *in, *out;
	int prime;
};

static void generate(void *arg)
{
	gmp_chan_t *ch = arg;

	for (int i = 2;; i++)
		if (gmp_chan_send(ch, &i) < 0)
			return;
}

static void filter(void *arg)
{
	struct filter_arg *f = arg;
	int i;

	while (gmp_chan_recv(f->in, &i) == 0)
		if (i % f->prime != 0 && gmp_chan_send(f->out, &i) < 0)
			return;
}

static int nprimes;
static long sieve_sum;
static int sieve_last;

static void sieve_main(void *arg)
{
	gmp_chan_t *ch;

	(void)arg;
	GT_CHECK_EQ(0, gmp_chan_make(&ch, sizeof(int), 0));
	gmp_go(generate, ch);
	for (int i = 0; i < nprimes; i++) {
		struct filter_arg *f = malloc(sizeof(*f));
		int prime;

		GT_CHECK_EQ(0, gmp_chan_recv(ch, &prime));
		sieve_sum += prime;
		sieve_last = prime;
		f->in = ch;
		f->prime = prime;
		GT_CHECK_EQ(0, gmp_chan_make(&f->out, sizeof(int), 0));
		gmp_go(filter, f);
		ch = f->out;
	}
	/* The filters stay blocked; the process ends with the test. */
}

TEST(prime_sieve)
{
	long want_sum = 0;
	int want_last = 0, found = 0;

	nprimes = SCALE(1000);
	for (int n = 2; found < nprimes; n++) {
		bool prime = true;

		for (int d = 2; d * d <= n; d++)
			if (n % d == 0) {
				prime = false;
				break;
			}
		if (prime) {
			found++;
			want_sum += n;
			want_last = n;
		}
	}
	GT_RUN(0, sieve_main, NULL);
	ASSERT_EQ(want_last, sieve_last);
	ASSERT_EQ(want_sum, sieve_sum);
	if (nprimes == 1000)
		ASSERT_EQ(7919, sieve_last);
}

/* ---- a ring of 10k goroutines passing a counter ------------------------ */

#define LAPS 10
static gmp_chan_t **ring;
static int ring_n;
static struct gmp_waitgroup ring_wg;

static void ring_node(void *arg)
{
	int i = (int)(intptr_t)arg;

	for (int lap = 0; lap < LAPS; lap++) {
		long v;

		GT_CHECK_EQ(0, gmp_chan_recv(ring[i], &v));
		v++;
		GT_CHECK_EQ(0, gmp_chan_send(ring[(i + 1) % ring_n], &v));
	}
	gmp_wg_done(&ring_wg);
}

static long ring_result;

static void ring_main(void *arg)
{
	long v = 0;

	(void)arg;
	ring = calloc(ring_n, sizeof(*ring));
	for (int i = 0; i < ring_n; i++)
		GT_CHECK_EQ(0, gmp_chan_make(&ring[i], sizeof(long), 0));
	for (int i = 1; i < ring_n; i++) {
		gmp_wg_add(&ring_wg, 1);
		gmp_go(ring_node, (void *)(intptr_t)i);
	}
	/* We are node 0. */
	for (int lap = 0; lap < LAPS; lap++) {
		v++;
		GT_CHECK_EQ(0, gmp_chan_send(ring[1], &v));
		GT_CHECK_EQ(0, gmp_chan_recv(ring[0], &v));
	}
	gmp_wg_wait(&ring_wg);
	ring_result = v;
	for (int i = 0; i < ring_n; i++)
		gmp_chan_free(ring[i]);
	free(ring);
}

TEST(ping_pong_ring_10k)
{
	ring_n = SCALE(10000);
	GT_RUN(0, ring_main, NULL);
	ASSERT_EQ((long)LAPS * ring_n, ring_result);
}

TEST_HARNESS_MAIN
