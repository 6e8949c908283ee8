// SPDX-License-Identifier: GPL-2.0
/*
 * uringflags.c - the measurement behind poll_uring.c's ring setup.
 *
 * 1. Can a ring follow a P from thread to thread? A ring set up with
 *    IORING_SETUP_SINGLE_ISSUER by thread A; thread B submits: the kernel
 *    says -EEXIST (6.1: tctx.c __io_uring_add_tctx_node_from_submit).
 * 2. What the setup flags cost: one thread echoes N messages with a peer
 *    thread over a socketpair, every recv and send an io_uring request
 *    (submit and wait), for: no flags (task work by IPI), COOP_TASKRUN,
 *    and SINGLE_ISSUER|DEFER_TASKRUN (only usable by one thread).
 *
 *	cc -O2 -pthread -o uringflags uringflags.c -luring && ./uringflags
 */
#define _GNU_SOURCE
#include <errno.h>
#include <liburing.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define N 200000

static struct io_uring shared;
static int sv[2];

static void *other_thread_submits(void *arg)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&shared);

	io_uring_prep_nop(sqe);
	*(int *)arg = io_uring_submit(&shared);
	return NULL;
}

static void *peer(void *arg)
{
	char c;

	(void)arg;
	for (int i = 0; i < N; i++) {
		if (read(sv[1], &c, 1) != 1 || write(sv[1], &c, 1) != 1)
			break;
	}
	return NULL;
}

static int one(struct io_uring *r, int op, char *c)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(r);
	struct io_uring_cqe *cqe;
	int res;

	if (op)
		io_uring_prep_send(sqe, sv[0], c, 1, 0);
	else
		io_uring_prep_recv(sqe, sv[0], c, 1, 0);
	io_uring_submit_and_wait(r, 1);
	if (io_uring_wait_cqe(r, &cqe))
		return -1;
	res = cqe->res;
	io_uring_cqe_seen(r, cqe);
	return res;
}

static void bench(const char *name, unsigned int flags)
{
	struct io_uring r;
	struct timespec a, b;
	pthread_t t;
	char c = 'x';
	int ret = io_uring_queue_init(64, &r, flags);

	if (ret < 0) {
		printf("%-32s setup: %s\n", name, strerror(-ret));
		return;
	}
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	pthread_create(&t, NULL, peer, NULL);
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (int i = 0; i < N; i++)
		if (one(&r, 1, &c) != 1 || one(&r, 0, &c) != 1)
			break;
	clock_gettime(CLOCK_MONOTONIC, &b);
	pthread_join(t, NULL);
	printf("%-32s %.2f us per round trip\n", name,
	       ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / N / 1e3);
	close(sv[0]);
	close(sv[1]);
	io_uring_queue_exit(&r);
}

int main(void)
{
	pthread_t t;
	int res = 0;

	if (io_uring_queue_init(8, &shared, IORING_SETUP_SINGLE_ISSUER) == 0) {
		pthread_create(&t, NULL, other_thread_submits, &res);
		pthread_join(t, NULL);
		printf("SINGLE_ISSUER ring, submit from another thread: %d (%s)\n",
		       res, res < 0 ? strerror(-res) : "accepted");
		io_uring_queue_exit(&shared);
	}
	bench("no flags (IPI task work)", 0);
	bench("COOP_TASKRUN", IORING_SETUP_COOP_TASKRUN);
	bench("SINGLE_ISSUER|DEFER_TASKRUN", IORING_SETUP_SINGLE_ISSUER |
	      IORING_SETUP_DEFER_TASKRUN);
	return 0;
}
