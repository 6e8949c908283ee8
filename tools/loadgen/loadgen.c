// SPDX-License-Identifier: GPL-2.0
/*
 * loadgen.c - closed-loop load for an echo server on loopback: C
 * connections, each sending a SIZE-byte request and waiting for its echo
 * before the next. One epoll thread (or -t N), no libgmp: the load is
 * the same whichever server it measures.
 *
 *	loadgen -p PORT [-c CONNS] [-d SECONDS] [-w WARMUP] [-s SIZE] [-t THREADS]
 *
 * Prints one line of key=value: conns, requests, rps, p50_us, p99_us,
 * max_us, errors. Latency is per request, from the send to the last byte
 * of its echo, over the measured seconds only (not the warm-up). Bounded:
 * it stops after -d seconds whatever the server does (a connection that
 * gets no echo counts as an error at the end).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAXSIZE	65536
/* Latency histogram: 1 us buckets up to 100 ms, then 1 ms up to 10 s. */
#define FINE	100000
#define NBUCKET	(FINE + 9900 + 1)

struct conn {
	int fd;
	size_t sent, got;
	int64_t t0;
};

struct worker {
	pthread_t th;
	int first, n;		/* its connections */
	uint64_t reqs, errors;
	uint64_t *hist;
	int64_t max_ns;
};

static int port = 7007, nconns = 100, nthreads = 1;
static double seconds = 5, warmup = 1;
static size_t size = 64;
static struct conn *conns;
static char payload[MAXSIZE];
static int64_t t_start, t_measure, t_end;

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int dial(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0)
		return -1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/* Blocking connect: the kernel completes the handshake on loopback. */
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		close(fd);
		return -1;
	}
	fcntl(fd, F_SETFL, O_NONBLOCK);
	return fd;
}

/* Push what remains of the request; false on error. */
static bool send_more(struct conn *c)
{
	while (c->sent < size) {
		ssize_t n = send(c->fd, payload + c->sent, size - c->sent, MSG_NOSIGNAL);

		if (n < 0)
			return errno == EAGAIN;
		c->sent += n;
	}
	return true;
}

static void *run(void *arg)
{
	struct worker *w = arg;
	struct epoll_event evs[256];
	char buf[MAXSIZE];
	int ep = epoll_create1(EPOLL_CLOEXEC);

	for (int i = w->first; i < w->first + w->n; i++) {
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &conns[i] };

		epoll_ctl(ep, EPOLL_CTL_ADD, conns[i].fd, &ev);
		conns[i].t0 = now_ns();
		if (!send_more(&conns[i]))
			w->errors++;
	}
	for (;;) {
		int64_t t = now_ns();
		int n, left = (int)((t_end - t) / 1000000);

		if (left <= 0)
			break;
		n = epoll_wait(ep, evs, 256, left < 100 ? left : 100);
		for (int k = 0; k < n; k++) {
			struct conn *c = evs[k].data.ptr;
			ssize_t r = recv(c->fd, buf, sizeof(buf), 0);

			if (r <= 0) {
				if (r == 0 || errno != EAGAIN) {
					w->errors++;
					epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
				}
				continue;
			}
			if (c->sent < size)	/* a big request not all out yet */
				send_more(c);
			c->got += r;
			if (c->got < size)
				continue;
			t = now_ns();
			if (c->t0 >= t_measure) {
				int64_t d = t - c->t0;
				uint64_t us = d / 1000;

				w->reqs++;
				uint64_t b = us < FINE ? us : FINE + (us - FINE) / 1000;

				w->hist[b < NBUCKET - 1 ? b : NBUCKET - 1]++;
				if (d > w->max_ns)
					w->max_ns = d;
			}
			c->got = c->sent = 0;
			c->t0 = t;
			if (!send_more(c))
				w->errors++;
		}
	}
	/* a connection still waiting past the end counts as nothing */
	close(ep);
	return NULL;
}

static double pct(const uint64_t *h, uint64_t total, double p)
{
	uint64_t want = (uint64_t)(p * total), acc = 0;

	for (int i = 0; i < NBUCKET; i++) {
		acc += h[i];
		if (acc > want)
			return i < FINE ? i : FINE + (double)(i - FINE) * 1000;
	}
	return FINE + 9900.0 * 1000;
}

int main(int argc, char **argv)
{
	struct rlimit rl;
	struct worker *ws;
	uint64_t reqs = 0, errors = 0, *hist;
	int64_t max_ns = 0;
	int opt, per;

	while ((opt = getopt(argc, argv, "p:c:d:w:s:t:")) != -1) {
		switch (opt) {
		case 'p': port = atoi(optarg); break;
		case 'c': nconns = atoi(optarg); break;
		case 'd': seconds = atof(optarg); break;
		case 'w': warmup = atof(optarg); break;
		case 's': size = strtoul(optarg, NULL, 0); break;
		case 't': nthreads = atoi(optarg); break;
		default:
			fprintf(stderr, "usage: loadgen -p PORT [-c CONNS] [-d S] [-w S] [-s SIZE] [-t N]\n");
			return 2;
		}
	}
	if (nconns < 1 || nthreads < 1 || size < 1 || size > MAXSIZE || seconds <= 0) {
		fprintf(stderr, "loadgen: bad arguments\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	memset(payload, 'x', sizeof(payload));
	conns = calloc(nconns, sizeof(*conns));
	for (int i = 0; i < nconns; i++) {
		conns[i].fd = dial();
		if (conns[i].fd < 0) {
			fprintf(stderr, "loadgen: connection %d: %s\n", i, strerror(errno));
			return 1;
		}
	}
	t_start = now_ns();
	t_measure = t_start + (int64_t)(warmup * 1e9);
	t_end = t_measure + (int64_t)(seconds * 1e9);
	ws = calloc(nthreads, sizeof(*ws));
	per = (nconns + nthreads - 1) / nthreads;
	for (int i = 0; i < nthreads; i++) {
		ws[i].first = i * per;
		ws[i].n = ws[i].first + per > nconns ? nconns - ws[i].first : per;
		ws[i].hist = calloc(NBUCKET, sizeof(uint64_t));
		pthread_create(&ws[i].th, NULL, run, &ws[i]);
	}
	hist = calloc(NBUCKET, sizeof(uint64_t));
	for (int i = 0; i < nthreads; i++) {
		pthread_join(ws[i].th, NULL);
		reqs += ws[i].reqs;
		errors += ws[i].errors;
		if (ws[i].max_ns > max_ns)
			max_ns = ws[i].max_ns;
		for (int b = 0; b < NBUCKET; b++)
			hist[b] += ws[i].hist[b];
	}
	printf("conns=%d requests=%llu rps=%.0f p50_us=%.0f p99_us=%.0f max_us=%.0f errors=%llu\n",
	       nconns, (unsigned long long)reqs, reqs / seconds, pct(hist, reqs, 0.50),
	       pct(hist, reqs, 0.99), max_ns / 1e3, (unsigned long long)errors);
	for (int i = 0; i < nconns; i++)
		close(conns[i].fd);
	return 0;
}
