// SPDX-License-Identifier: (LGPL-2.1-or-later OR MIT)
/*
 * bench.c - libgmp's side of the runtime benchmarks; go/main.go is Go's.
 * Both print "name value unit" lines that run.sh puts side by side.
 *
 *   bench pingpong N      unbuffered channel round trip, ns
 *   bench spawn N         spawn + exit of one goroutine with all Ps, ns
 *   bench rss N           RSS per goroutine parked on a channel, bytes
 *   bench handoff N MS    G A readies G B then blocks in read(2) on a pipe
 *                         (one P); latency from just before the read until B
 *                         runs, after MS ms of computing: p50, p90, p99,
 *                         p99.9, max in us, over N samples after a warm-up
 *                         (100 blocks, 5 with MS > 0). With $BENCH_RAW set,
 *                         the samples (ns, one a line) are appended to that
 *                         file (benchstat turns them into the bench table).
 *   bench throughput W [C R F US DIR]
 *                         W ms of computing split over C goroutines (4),
 *                         mixed with R goroutines blocking in read(2) on
 *                         pipes that timer goroutines write every US us
 *                         (4, 1000) and F goroutines that pwrite 4 KiB and
 *                         fsync(2) a file in DIR (2, /tmp) over and over;
 *                         total time against the ideal: the same work done
 *                         by one goroutine alone (the mean of a run before
 *                         and one after) divided by the Ps; and against
 *                         the same nc goroutines with no blocking ones;
 *                         and where the machine's CPU time went meanwhile
 *                         (/proc/stat: user, kernel, idle, in %)
 *   bench csw N           two goroutines on two Ps ping-pong a byte through
 *                         two pipes with gmp_read/gmp_write, N round trips:
 *                         every read blocks its M (two context switches per
 *                         read), so this is the handoff mode's cost per
 *                         block and wake (kmod: an upcall; perf: a record
 *                         at every switch, and its reader): ns per round
 *                         trip, and per block (a round trip has two)
 *   bench syscall N       one goroutine, N gmp_syscall(getppid): the
 *                         mode's cost per system call that does not block
 *                         (entry and exit, arming), ns per call
 *   bench probe 1         start the runtime and stop (is the mode usable?)
 *
 * The handoff mode is libgmp's choice ($GMP_HANDOFF), the Ps $GMP_MAXPROCS.
 */
#include "libgmp.h"

#include <fcntl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static long arg_n;
static int arg_ms;
static int arg_c;
static char **arg_v;
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

/*
 * "@hstat WHAT key=value..." on stdout: the handoff in use and what it did
 * (libgmp >= 0.2's gmp_handoff_stats), so that a kmod row shows that the
 * upcalls, not a sysmon, took the Ps. Nothing with an older libgmp.
 */
static void print_handoff_stats(const char *what)
{
#if GMP_SCHED_VERSION_MAJOR > 0 || GMP_SCHED_VERSION_MINOR >= 2
	struct gmp_handoff_stats st = { .size = sizeof(st) };

	if (gmp_handoff_stats(&st) < 0)
		return;
	printf("@hstat %s mode=%s transparent=%u activations=%u sysmon_takes=%llu "
	       "upcall_takes=%llu demand_takes=%llu upcalls=%llu stale=%llu overflows=%llu "
	       "lost=%llu kblocks=%llu kwakeups=%llu kevents=%llu koverflows=%llu "
	       "perf_takes=%llu perf_blocks=%llu perf_lost=%llu", what,
	       st.mode == GMP_HANDOFF_KMOD ? "kmod" : st.mode == GMP_HANDOFF_SYSMON ? "sysmon" :
	       st.mode == GMP_HANDOFF_PERF ? "perf" : "?", st.transparent, st.activations,
	       (unsigned long long)st.sysmon_takes, (unsigned long long)st.upcall_takes,
	       (unsigned long long)st.demand_takes, (unsigned long long)st.upcalls,
	       (unsigned long long)st.stale, (unsigned long long)st.overflows,
	       (unsigned long long)st.lost, (unsigned long long)st.kblocks,
	       (unsigned long long)st.kwakeups, (unsigned long long)st.kevents,
	       (unsigned long long)st.koverflows, (unsigned long long)st.perf_takes,
	       (unsigned long long)st.perf_blocks,
	       (unsigned long long)st.perf_lost);
#if GMP_SCHED_VERSION_MAJOR > 0 || GMP_SCHED_VERSION_MINOR >= 3
	printf(" pins=%llu", (unsigned long long)st.pins);
#endif
	printf("\n");
#else
	(void)what;
#endif
}

/* ---- syscall handoff latency ------------------------------------------------ */

static gmp_chan_t *wake;
static int pfd[2];
static int64_t *lat;
static int64_t t_before_read;

static long warm;

static void b_goroutine(void *arg)
{
	char c = 1;

	(void)arg;
	for (long i = -warm; i < arg_n; i++) {
		int64_t t;

		gmp_chan_recv(wake, NULL);
		t = gmp_now() - t_before_read;
		if (i >= 0)
			lat[i] = t;
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
	warm = arg_ms ? 5 : 100;
	lat = calloc(arg_n, sizeof(*lat));
	if (pipe(pfd) < 0)
		abort();
	gmp_chan_make(&wake, 0, 1);
	gmp_go(b_goroutine, NULL);
	gmp_yield();	/* B parks on the channel */
	for (long i = -warm; i < arg_n; i++) {
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
	if (getenv("BENCH_RAW")) {
		FILE *f = fopen(getenv("BENCH_RAW"), "a");

		if (!f)
			abort();
		for (long i = 0; i < arg_n; i++)
			fprintf(f, "%lld\n", (long long)lat[i]);
		fclose(f);
	}
	qsort(lat, arg_n, sizeof(*lat), cmp64);
	printf("handoff_%dms_p50 %.1f us\n", arg_ms, lat[arg_n / 2] / 1e3);
	printf("handoff_%dms_p90 %.1f us\n", arg_ms, lat[arg_n * 90 / 100] / 1e3);
	printf("handoff_%dms_p99 %.1f us\n", arg_ms, lat[arg_n * 99 / 100] / 1e3);
	printf("handoff_%dms_p999 %.1f us\n", arg_ms, lat[arg_n * 999 / 1000] / 1e3);
	printf("handoff_%dms_max %.1f us\n", arg_ms, lat[arg_n - 1] / 1e3);
	print_handoff_stats("handoff");
}

/* ---- throughput: computing mixed with blocking system calls ------------ */

static long chunk_iters;	/* one chunk of work: about 1 ms */
static _Atomic uint64_t sink;
static _Atomic int tp_stop;
static _Atomic long tp_reads, tp_fsyncs;
static struct gmp_waitgroup tp_compute, tp_block;
static long tp_chunks;		/* per computing goroutine */
static int64_t tp_release_ns;
static const char *tp_dir;

static uint64_t work(long iters, uint64_t x)
{
	for (long i = 0; i < iters; i++) {	/* xorshift64 */
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
	}
	return x;
}

static void computer(void *arg)
{
	uint64_t x = (uintptr_t)arg | 1;

	for (long i = 0; i < tp_chunks; i++) {
		x = work(chunk_iters, x);
		gmp_preempt_check();
	}
	sink += x;
	gmp_wg_done(&tp_compute);
}

struct tp_pipe {
	int fd[2];
};

static void reader(void *arg)
{
	struct tp_pipe *p = arg;
	char c;

	for (;;) {
		if (gmp_read(p->fd[0], &c, 1) != 1)
			abort();
		if (tp_stop)
			break;
		tp_reads++;
	}
	gmp_wg_done(&tp_block);
}

static void releaser(void *arg)
{
	struct tp_pipe *p = arg;
	char c = 1;
	int stop;

	do {
		gmp_sleep(tp_release_ns);
		stop = tp_stop;	/* the last byte frees the reader for good */
		if (gmp_write(p->fd[1], &c, 1) != 1)
			abort();
	} while (!stop);
	gmp_wg_done(&tp_block);
}

static void fsyncer(void *arg)
{
	char path[4096], buf[4096];
	long k = 0;
	int fd;

	snprintf(path, sizeof(path), "%s/bench-fsync-%d", tp_dir, (int)(intptr_t)arg);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		perror(path);
		abort();
	}
	memset(buf, (int)(intptr_t)arg, sizeof(buf));
	while (!tp_stop) {
		if (gmp_pwrite(fd, buf, sizeof(buf), (k++ % 16) * 4096) != (ssize_t)sizeof(buf) ||
		    gmp_fsync(fd) != 0)
			abort();
		tp_fsyncs++;
	}
	close(fd);
	unlink(path);
	gmp_wg_done(&tp_block);
}

/*
 * The whole machine's CPU time so far (/proc/stat, USER_HZ ticks): user
 * (user, nice), kernel (system, irq, softirq), idle (idle, iowait). False
 * where /proc/stat cannot be read.
 */
struct cputicks {
	long long user, sys, idle;
};

static bool cpu_ticks(struct cputicks *t)
{
	long long v[8];
	FILE *f = fopen("/proc/stat", "re");
	int n;

	if (!f)
		return false;
	n = fscanf(f, "cpu %lld %lld %lld %lld %lld %lld %lld %lld", &v[0], &v[1], &v[2],
		   &v[3], &v[4], &v[5], &v[6], &v[7]);
	fclose(f);
	if (n != 8)
		return false;
	t->user = v[0] + v[1];
	t->sys = v[2] + v[5] + v[6];
	t->idle = v[3] + v[4];
	return true;
}

/* Where the CPUs' time went between a and b, in % of it all. */
static void print_cpu_split(const char *what, const struct cputicks *a,
			    const struct cputicks *b)
{
	long long u = b->user - a->user, k = b->sys - a->sys, i = b->idle - a->idle;

	if (u + k + i <= 0)
		return;
	printf("%s_cpu_user_pct %.1f %%\n", what, 100.0 * u / (u + k + i));
	printf("%s_cpu_sys_pct %.1f %%\n", what, 100.0 * k / (u + k + i));
	printf("%s_cpu_idle_pct %.1f %%\n", what, 100.0 * i / (u + k + i));
}

static int targ(int i, int def)
{
	return arg_c > i ? atoi(arg_v[i]) : def;
}

/* The whole work (nc goroutines' worth) on one goroutine alone: its time. */
static int64_t serial_work(int nc)
{
	long per = tp_chunks;
	int64_t t0;

	tp_chunks = per * nc;
	gmp_wg_add(&tp_compute, 1);
	t0 = gmp_now();
	gmp_go(computer, (void *)1);
	gmp_wg_wait(&tp_compute);
	tp_chunks = per;
	return gmp_now() - t0;
}

static void throughput_main(void *arg)
{
	int nc = targ(3, 4), nr = targ(4, 4), nf = targ(5, 2), procs = gmp_maxprocs();
	struct tp_pipe *pipes;
	int64_t best = INT64_MAX, t0, t_work, t_work2, t_total, t_alone;
	struct cputicks c0, c1;
	bool cpu_ok;

	(void)arg;
	tp_release_ns = targ(6, 1000) * 1000LL;
	tp_dir = arg_c > 7 ? arg_v[7] : "/tmp";
	if (nc < 1 || nr < 0 || nf < 0)
		abort();
	/* Calibrate a chunk to about 1 ms (the fastest of 5 tries). */
	for (int i = 0; i < 5; i++) {
		int64_t t;

		t0 = gmp_now();
		sink += work(1 << 20, t0);
		t = gmp_now() - t0;
		if (t < best)
			best = t;
	}
	chunk_iters = (long)((1 << 20) * 1e6 / (double)best);
	tp_chunks = arg_n / nc;
	if (tp_chunks < 1)
		tp_chunks = 1;

	/* The work alone, on one goroutine, before and after: the compute time. */
	t_work = serial_work(nc);

	/* The same work on nc goroutines with nothing else: what the Ps give. */
	gmp_wg_add(&tp_compute, nc);
	t0 = gmp_now();
	for (int i = 0; i < nc; i++)
		gmp_go(computer, (void *)(intptr_t)(i + 2));
	gmp_wg_wait(&tp_compute);
	t_alone = gmp_now() - t0;

	/* The same work on nc goroutines, with the blocking ones around. */
	pipes = calloc(nr ? nr : 1, sizeof(*pipes));
	for (int i = 0; i < nr; i++)
		if (pipe(pipes[i].fd) < 0)
			abort();
	gmp_wg_add(&tp_block, 2 * nr + nf);
	for (int i = 0; i < nr; i++) {
		gmp_go(reader, &pipes[i]);
		gmp_go(releaser, &pipes[i]);
	}
	for (int i = 0; i < nf; i++)
		gmp_go(fsyncer, (void *)(intptr_t)(i + 1));
	gmp_wg_add(&tp_compute, nc);
	cpu_ok = cpu_ticks(&c0);
	t0 = gmp_now();
	for (int i = 0; i < nc; i++)
		gmp_go(computer, (void *)(intptr_t)(i + 2));
	gmp_wg_wait(&tp_compute);
	t_total = gmp_now() - t0;
	cpu_ok = cpu_ok && cpu_ticks(&c1);
	tp_stop = 1;
	gmp_wg_wait(&tp_block);
	t_work2 = serial_work(nc);
	printf("throughput_work_before_ms %.1f ms\n", t_work / 1e6);
	printf("throughput_work_after_ms %.1f ms\n", t_work2 / 1e6);
	t_work = (t_work + t_work2) / 2;

	printf("throughput_work_ms %.1f ms\n", t_work / 1e6);
	printf("throughput_total_ms %.1f ms\n", t_total / 1e6);
	printf("throughput_ideal_ms %.1f ms\n", t_work / 1e6 / procs);
	printf("throughput_ratio %.3f x\n", (double)t_total * procs / (double)t_work);
	printf("throughput_noblock_ms %.1f ms\n", t_alone / 1e6);
	printf("throughput_vs_noblock %.3f x\n", (double)t_total / (double)t_alone);
	printf("throughput_reads %ld n\n", (long)tp_reads);
	printf("throughput_fsyncs %ld n\n", (long)tp_fsyncs);
	printf("throughput_procs %d n\n", procs);
	if (cpu_ok)
		print_cpu_split("throughput", &c0, &c1);
	print_handoff_stats("throughput");
}

/* ---- the mode's cost per block and per system call -------------------- */

static int cpa[2], cpb[2];

static void csw_partner(void *arg)
{
	char c;

	(void)arg;
	for (long i = 0; i < arg_n + arg_n / 10; i++) {
		if (gmp_read(cpa[0], &c, 1) != 1 || gmp_write(cpb[1], &c, 1) != 1)
			abort();
	}
}

static void csw_main(void *arg)
{
	char c = 1;
	int64_t t0 = 0;

	(void)arg;
	if (pipe(cpa) < 0 || pipe(cpb) < 0)
		abort();
	gmp_go(csw_partner, NULL);
	for (long i = -arg_n / 10; i < arg_n; i++) {	/* a tenth to warm up */
		if (i == 0)
			t0 = gmp_now();
		if (gmp_write(cpa[1], &c, 1) != 1 || gmp_read(cpb[0], &c, 1) != 1)
			abort();
	}
	printf("csw_roundtrip_ns %.1f ns\n", (double)(gmp_now() - t0) / arg_n);
	printf("csw_block_ns %.1f ns\n", (double)(gmp_now() - t0) / arg_n / 2);
	print_handoff_stats("csw");
}

static void syscall_main(void *arg)
{
	int64_t t0 = 0;

	(void)arg;
	for (long i = -arg_n / 10; i < arg_n; i++) {
		if (i == 0)
			t0 = gmp_now();
		gmp_syscall(SYS_getppid, 0, 0, 0, 0, 0, 0);
	}
	printf("syscall_ns %.1f ns\n", (double)(gmp_now() - t0) / arg_n);
	print_handoff_stats("syscall");
}

static void probe_main(void *arg)
{
	(void)arg;
	printf("probe ok\n");
	print_handoff_stats("probe");
}

int main(int argc, char **argv)
{
	void (*fn)(void *) = NULL;
	int ret;

	if (argc < 3) {
		fprintf(stderr, "usage: bench pingpong|spawn|rss|handoff|throughput|csw|syscall|probe "
			"N [MS...]\n");
		return 2;
	}
	arg_c = argc;
	arg_v = argv;
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
	else if (!strcmp(argv[1], "throughput"))
		fn = throughput_main;
	else if (!strcmp(argv[1], "csw"))
		fn = csw_main;
	else if (!strcmp(argv[1], "syscall"))
		fn = syscall_main;
	else if (!strcmp(argv[1], "probe"))
		fn = probe_main;
	if (!fn || arg_n <= 0)
		return 2;
	ret = gmp_run(fn, NULL);
	if (ret < 0) {
		fprintf(stderr, "bench: gmp_run: %s\n", strerror(-ret));
		return 1;
	}
	fflush(stdout);
	_exit(0);
}
