// SPDX-License-Identifier: (LGPL-2.1-or-later OR MIT)
/*
 * bench.c - libgmp's side of the runtime benchmarks; go/main.go is Go's.
 * Both print "name value unit" lines that run.sh puts side by side.
 *
 *   bench pingpong N      unbuffered channel round trip, ns
 *   bench spawn N         spawn + exit of one goroutine with all Ps, ns
 *   bench rss N           RSS per goroutine parked on a channel, bytes
 *   bench handoff N MS    G A readies G B then blocks in read(2) on a pipe
 *                         (one P, sysmon mode); latency from just before the
 *                         read until B runs, after MS ms of computing: p50,
 *                         p99, max in us
 */
#include "libgmp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static long arg_n;
static int arg_ms;
static const char *label = "";

/* ---- ping-pong ------------------------------------------------------------ */

static gmp_chan_t *ping, *pong;

static void ponger(void *arg)
{
	long v;

	(void)arg;
	while (gmp_chan_recv(ping, &v) == 0)
		gmp_chan_send(pong, &v);
}

static void pingpong_main(void *arg)
{
	long v = 0;
	int64_t t0;

	(void)arg;
	gmp_chan_make(&ping, sizeof(long), 0);
	gmp_chan_make(&pong, sizeof(long), 0);
	gmp_go(ponger, NULL);
	for (long i = 0; i < arg_n / 10; i++) {	/* warm up */
		gmp_chan_send(ping, &i);
		gmp_chan_recv(pong, &v);
	}
	t0 = gmp_now();
	for (long i = 0; i < arg_n; i++) {
		gmp_chan_send(ping, &i);
		gmp_chan_recv(pong, &v);
	}
	printf("pingpong%s %.1f ns\n", label, (double)(gmp_now() - t0) / arg_n);
	gmp_chan_close(ping);
}

/* ---- spawn ---------------------------------------------------------------- */

static struct gmp_waitgroup wg;

static void nop(void *arg)
{
	(void)arg;
	gmp_wg_done(&wg);
}

static void spawn_main(void *arg)
{
	int64_t t0;

	(void)arg;
	gmp_wg_add(&wg, arg_n / 10);	/* warm up: fills the stack caches */
	for (long i = 0; i < arg_n / 10; i++)
		gmp_go(nop, NULL);
	gmp_wg_wait(&wg);
	t0 = gmp_now();
	gmp_wg_add(&wg, arg_n);
	for (long i = 0; i < arg_n; i++)
		gmp_go(nop, NULL);
	gmp_wg_wait(&wg);
	printf("spawn%s %.1f ns\n", label, (double)(gmp_now() - t0) / arg_n);
}

/* ---- RSS per parked goroutine ------------------------------------------- */

static long rss_bytes(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	long pages = 0, rss = 0;

	if (f) {
		if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
			rss = 0;
		fclose(f);
	}
	return rss * sysconf(_SC_PAGESIZE);
}

static gmp_chan_t *never;
static _Atomic long parked;

static void parker(void *arg)
{
	(void)arg;
	parked++;
	gmp_chan_recv(never, NULL);
}

static void rss_main(void *arg)
{
	long before;

	(void)arg;
	gmp_chan_make(&never, 0, 0);
	before = rss_bytes();
	for (long i = 0; i < arg_n; i++)
		gmp_go(parker, NULL);
	while (parked < arg_n)
		gmp_sleep(1000 * 1000);
	printf("rss_per_g_%ldk %.0f B\n", arg_n / 1000,
	       (double)(rss_bytes() - before) / arg_n);
}

/* ---- syscall handoff latency ------------------------------------------------ */

static gmp_chan_t *wake;
static int pfd[2];
static int64_t *lat;
static int64_t t_before_read;

static void b_goroutine(void *arg)
{
	char c = 1;

	(void)arg;
	for (long i = 0; i < arg_n; i++) {
		gmp_chan_recv(wake, NULL);
		lat[i] = gmp_now() - t_before_read;
		if (write(pfd[1], &c, 1) != 1)
			abort();
	}
}

static int cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

static void handoff_main(void *arg)
{
	char c;

	(void)arg;
	lat = calloc(arg_n, sizeof(*lat));
	if (pipe(pfd) < 0)
		abort();
	gmp_chan_make(&wake, 0, 1);
	gmp_go(b_goroutine, NULL);
	gmp_yield();	/* B parks on the channel */
	for (long i = 0; i < arg_n; i++) {
		if (arg_ms) {
			int64_t end = gmp_now() + arg_ms * 1000000LL;
			volatile unsigned long x = 0;

			while (gmp_now() < end)	/* computing: no libgmp call */
				x++;
		}
		/* Stamped before the send, which orders it before B's read of it. */
		t_before_read = gmp_now();
		gmp_chan_send(wake, NULL);	/* B is ready: it runs next */
		if (gmp_read(pfd[0], &c, 1) != 1)
			abort();
	}
	qsort(lat, arg_n, sizeof(*lat), cmp64);
	printf("handoff_%dms_p50 %.1f us\n", arg_ms, lat[arg_n / 2] / 1e3);
	printf("handoff_%dms_p99 %.1f us\n", arg_ms, lat[arg_n * 99 / 100] / 1e3);
	printf("handoff_%dms_max %.1f us\n", arg_ms, lat[arg_n - 1] / 1e3);
}

int main(int argc, char **argv)
{
	void (*fn)(void *) = NULL;

	if (argc < 3) {
		fprintf(stderr, "usage: bench pingpong|spawn|rss|handoff N [MS]\n");
		return 2;
	}
	arg_n = atol(argv[2]);
	arg_ms = argc > 3 ? atoi(argv[3]) : 0;
	label = getenv("BENCH_LABEL") ? getenv("BENCH_LABEL") : "";
	if (!strcmp(argv[1], "pingpong"))
		fn = pingpong_main;
	else if (!strcmp(argv[1], "spawn"))
		fn = spawn_main;
	else if (!strcmp(argv[1], "rss"))
		fn = rss_main;
	else if (!strcmp(argv[1], "handoff"))
		fn = handoff_main;
	if (!fn || arg_n <= 0)
		return 2;
	if (gmp_run(fn, NULL) < 0)
		return 1;
	fflush(stdout);
	_exit(0);
}
