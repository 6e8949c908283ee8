/* SPDX-License-Identifier: (LGPL-2.1-or-later OR MIT) */
/*
 * poll.h - an I/O request of a goroutine to its P's io_uring, shared by
 * poll_uring.c (the poller) and syscall.c (the wrappers that fill it).
 */
#ifndef GMP_POLL_H
#define GMP_POLL_H

#include <liburing.h>

enum { OP_SYNC, OP_SELPOLL };
/* OP_SELPOLL states (under the ring lock). */
enum { W_ARMED, W_FIRED, W_WON, W_ORPHAN };

struct ioop {
	struct io_uring_sqe sqe;	/* the request, copied into the SQ */
	struct __kernel_timespec ts;	/* deadline (absolute, CLOCK_MONOTONIC) */
	struct ioop *next;		/* the ring's pending FIFO */
	struct ioring *ring;		/* where it went */
	struct g *g;
	int32_t res, res2;		/* CQE results: the op's, its second SQE's */
	uint8_t kind;			/* OP_* */
	uint8_t nsqe;			/* 1, or 2 with a deadline */
	uint8_t ncqe;			/* CQEs still due (ring lock) */
	uint8_t state;			/* OP_SELPOLL: W_* */
	bool pending;			/* in the pending FIFO (ring lock) */
	bool cancel;			/* pending entry is a cancel request */
	uint8_t retry;			/* io_commit refused: RETRY_* */
};

enum { RETRY_NONE, RETRY_NOP, RETRY_FALLBACK };

#endif /* GMP_POLL_H */
