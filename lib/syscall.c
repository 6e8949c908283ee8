// SPDX-License-Identifier: (LGPL-2.1-or-later OR MIT)
/*
 * syscall.c - wrappers of common blocking system calls. Each returns the
 * call's result or -errno, and leaves errno as the call set it (on
 * whatever thread the goroutine continues).
 *
 * With the uring poller (poll_uring.c) a goroutine's call is an io_uring
 * request on its P's ring: the goroutine parks until the completion and
 * its M runs others. Otherwise, and outside goroutines, the plain call;
 * from a goroutine it is bracketed by gmp_syscall_enter()/exit(), so that
 * its P goes on running other goroutines while it blocks.
 *
 * O_NONBLOCK: io_uring waits where the plain call on an O_NONBLOCK fd
 * fails with EAGAIN (it polls and retries: io_uring/rw.c, net.c), so the
 * calls whose fd may be a pipe or socket look at the flag first (one
 * fcntl) and make the plain call on a non-blocking fd.
 */
#include "internal.h"
#include "poll.h"

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define sched __gmp_sched

#define WRAP(type, call)					\
	do {							\
		bool in = gmp_syscall_enter() == 0;		\
		type r = (call);				\
		int e = errno;					\
								\
		if (in) {					\
			gmp_syscall_exit();			\
			__gmp_errno_set(e);			\
			__gmp_preempt_check();			\
		}						\
		return r < 0 ? -e : r;				\
	} while (0)

/* fd is O_NONBLOCK: the plain call's semantics (EAGAIN), not a wait. */
static bool fd_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl >= 0 && (fl & O_NONBLOCK);
}

/*
 * Through the ring: a goroutine, the uring poller, and (nbcheck) an fd
 * without O_NONBLOCK (a bad fd goes to the ring, which says -EBADF).
 */
static bool ring_ok(int fd, bool nbcheck)
{
	struct m *m = __gmp_getm();

	if (sched.poller != GMP_POLLER_URING || !m || !m->curg)
		return false;
	return !nbcheck || !fd_nonblock(fd);
}

/* Run op; false if the ring could not take it. errno as the call would. */
static bool ring_run(struct ioop *op, int64_t deadline, long *res)
{
	if (!__gmp_io_run(op, deadline, res))
		return false;
	if (*res < 0)
		__gmp_errno_set((int)-*res);
	return true;
}

#define RING(prep, nbcheck, fd, deadline)			\
	do {							\
		struct ioop op;					\
		long res;					\
								\
		if (ring_ok((fd), (nbcheck))) {			\
			memset(&op, 0, sizeof(op));		\
			prep;					\
			if (ring_run(&op, (deadline), &res))	\
				return res;			\
		}						\
	} while (0)

/* From the file position, as read(2)/write(2) do (-1: io_uring's "current"). */
#define CUR_POS	((uint64_t)-1)

ssize_t gmp_read(int fd, void *buf, size_t count)
{
	RING(io_uring_prep_read(&op.sqe, fd, buf, count, CUR_POS), true, fd, -1);
	WRAP(ssize_t, read(fd, buf, count));
}

ssize_t gmp_write(int fd, const void *buf, size_t count)
{
	RING(io_uring_prep_write(&op.sqe, fd, buf, count, CUR_POS), true, fd, -1);
	WRAP(ssize_t, write(fd, buf, count));
}

/*
 * pread/pwrite: io_uring reads an offset of -1 as "the file position",
 * and does not refuse an offset on a pipe or socket: both are the plain
 * calls' errors (EINVAL, ESPIPE), checked first. The ESPIPE check is one
 * lseek of no effect, made only for a pread/pwrite, rare on pipes.
 */
static int pos_check(int fd, off_t offset)
{
	if (offset < 0)
		return -EINVAL;
	if (lseek(fd, 0, SEEK_CUR) < 0 && errno == ESPIPE)
		return -ESPIPE;
	return 0;
}

ssize_t gmp_pread(int fd, void *buf, size_t count, off_t offset)
{
	if (ring_ok(fd, false)) {
		int e = pos_check(fd, offset);

		if (e < 0) {
			__gmp_errno_set(-e);
			return e;
		}
		RING(io_uring_prep_read(&op.sqe, fd, buf, count, offset), false, fd, -1);
	}
	WRAP(ssize_t, pread(fd, buf, count, offset));
}

ssize_t gmp_pwrite(int fd, const void *buf, size_t count, off_t offset)
{
	if (ring_ok(fd, false)) {
		int e = pos_check(fd, offset);

		if (e < 0) {
			__gmp_errno_set(-e);
			return e;
		}
		RING(io_uring_prep_write(&op.sqe, fd, buf, count, offset), false, fd, -1);
	}
	WRAP(ssize_t, pwrite(fd, buf, count, offset));
}

ssize_t gmp_readv(int fd, const struct iovec *iov, int iovcnt)
{
	if (iovcnt >= 0 && iovcnt <= IOV_MAX)	/* else readv's own EINVAL */
		RING(io_uring_prep_readv(&op.sqe, fd, iov, iovcnt, CUR_POS), true, fd, -1);
	WRAP(ssize_t, readv(fd, iov, iovcnt));
}

ssize_t gmp_writev(int fd, const struct iovec *iov, int iovcnt)
{
	if (iovcnt >= 0 && iovcnt <= IOV_MAX)
		RING(io_uring_prep_writev(&op.sqe, fd, iov, iovcnt, CUR_POS), true, fd, -1);
	WRAP(ssize_t, writev(fd, iov, iovcnt));
}

ssize_t gmp_recv(int fd, void *buf, size_t len, int flags)
{
	if (!(flags & MSG_DONTWAIT))
		RING(io_uring_prep_recv(&op.sqe, fd, buf, len, flags), true, fd, -1);
	WRAP(ssize_t, recv(fd, buf, len, flags));
}

/* GMP_URING_SEND_FIRST=0: every send a ring request (for measurements). */
static bool uring_send_first = true;

__attribute__((constructor)) static void send_first_env(void)
{
	const char *s = getenv("GMP_URING_SEND_FIRST");

	uring_send_first = !s || strcmp(s, "0");
}

/* io_uring sends with MSG_NOSIGNAL always; send(2) raises SIGPIPE. */
static long sigpipe(long res, int flags)
{
	if (res == -EPIPE && !(flags & MSG_NOSIGNAL)) {
		raise(SIGPIPE);
		__gmp_errno_set(EPIPE);
	}
	return res;
}

/*
 * A send that fits in the socket buffer does not wait: try it without
 * waiting first (as Go's netpoller does: the write, then the wait only on
 * EAGAIN), and park on the ring only for what is left. A blocking send
 * returns after all of it went, or with what went before an error.
 */
ssize_t gmp_send(int fd, const void *buf, size_t len, int flags)
{
	struct ioop op;
	ssize_t done = 0;
	long res;

	if (!(flags & MSG_DONTWAIT) && ring_ok(fd, false)) {
		if (uring_send_first) {
			done = send(fd, buf, len, flags | MSG_DONTWAIT | MSG_NOSIGNAL);
			if (done == (ssize_t)len)
				return done;
			if (done < 0) {
				if (errno != EAGAIN)
					return sigpipe(-errno, flags);
				done = 0;
			}
		}
		/* Only a send that would wait asks whether the fd may (fcntl). */
		if (fd_nonblock(fd)) {
			if (done > 0)
				return done;
			goto plain;
		}
		memset(&op, 0, sizeof(op));
		io_uring_prep_send(&op.sqe, fd, (const char *)buf + done, len - done, flags);
		if (ring_run(&op, -1, &res)) {
			if (res < 0 && done > 0)
				return done;
			return res < 0 ? sigpipe(res, flags) : done + res;
		}
		if (done > 0)
			return done;
	}
plain:
	WRAP(ssize_t, send(fd, buf, len, flags));
}

ssize_t gmp_recvmsg(int fd, struct msghdr *msg, int flags)
{
	if (!(flags & MSG_DONTWAIT))
		RING(io_uring_prep_recvmsg(&op.sqe, fd, msg, flags), true, fd, -1);
	WRAP(ssize_t, recvmsg(fd, msg, flags));
}

ssize_t gmp_sendmsg(int fd, const struct msghdr *msg, int flags)
{
	struct ioop op;
	long res;

	if (!(flags & MSG_DONTWAIT) && ring_ok(fd, true)) {
		memset(&op, 0, sizeof(op));
		io_uring_prep_sendmsg(&op.sqe, fd, msg, flags);
		if (ring_run(&op, -1, &res))
			return sigpipe(res, flags);
	}
	WRAP(ssize_t, sendmsg(fd, msg, flags));
}

int gmp_accept4(int fd, struct sockaddr *addr, socklen_t *addrlen, int flags)
{
	RING(io_uring_prep_accept(&op.sqe, fd, addr, addrlen, flags), true, fd, -1);
	WRAP(int, accept4(fd, addr, addrlen, flags));
}

int gmp_accept(int fd, struct sockaddr *addr, socklen_t *addrlen)
{
	return gmp_accept4(fd, addr, addrlen, 0);
}

int gmp_connect(int fd, const struct sockaddr *addr, socklen_t addrlen)
{
	RING(io_uring_prep_connect(&op.sqe, fd, addr, addrlen), true, fd, -1);
	WRAP(int, connect(fd, addr, addrlen));
}

int gmp_openat(int dirfd, const char *path, int flags, mode_t mode)
{
	RING(io_uring_prep_openat(&op.sqe, dirfd, path, flags, mode), false, dirfd, -1);
	WRAP(int, openat(dirfd, path, flags, mode));
}

int gmp_close(int fd)
{
	RING(io_uring_prep_close(&op.sqe, fd), false, fd, -1);
	WRAP(int, close(fd));
}

int gmp_fsync(int fd)
{
	RING(io_uring_prep_fsync(&op.sqe, fd, 0), false, fd, -1);
	WRAP(int, fsync(fd));
}

int gmp_shutdown(int fd, int how)
{
	RING(io_uring_prep_shutdown(&op.sqe, fd, how), false, fd, -1);
	WRAP(int, shutdown(fd, how));
}

int gmp_nanosleep(const struct timespec *req, struct timespec *rem)
{
	WRAP(int, nanosleep(req, rem));
}

int gmp_poll(struct pollfd *fds, nfds_t nfds, int timeout_ms)
{
	WRAP(int, poll(fds, nfds, timeout_ms));
}

long gmp_syscall(long nr, long a0, long a1, long a2, long a3, long a4, long a5)
{
	WRAP(long, syscall(nr, a0, a1, a2, a3, a4, a5));
}

/* ---- deadlines ------------------------------------------------------- */

/*
 * Blocking mode: wait for readiness with ppoll (P handed off) until the
 * deadline; 1 ready, -ETIMEDOUT, or -errno.
 */
static int wait_ready(int fd, short events, int64_t deadline)
{
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = events };
		int64_t left = deadline - __gmp_nanotime();
		struct timespec ts;
		bool in;
		int r, e;

		if (left < 0)
			left = 0;
		ts.tv_sec = left / 1000000000;
		ts.tv_nsec = left % 1000000000;
		in = gmp_syscall_enter() == 0;
		r = ppoll(&pfd, 1, &ts, NULL);
		e = errno;
		if (in)
			gmp_syscall_exit();
		if (r > 0)
			return 1;
		if (r == 0) {
			__gmp_errno_set(ETIMEDOUT);
			return -ETIMEDOUT;
		}
		if (e != EINTR) {
			__gmp_errno_set(e);
			return -e;
		}
	}
}

/*
 * Blocking mode, before a deadline call's plain system call: in a
 * goroutine on a blocking fd, wait until the fd is readable or the
 * deadline passes (an O_NONBLOCK fd gets the plain call at once).
 * 0, or wait_ready()'s -errno.
 */
static int wait_readable_first(int fd, int64_t deadline)
{
	int fl, r;

	if (!__gmp_getg())
		return 0;
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || (fl & O_NONBLOCK))
		return 0;
	r = wait_ready(fd, POLLIN, deadline);
	return r < 0 ? r : 0;
}

ssize_t gmp_recv_deadline(int fd, void *buf, size_t len, int flags, int64_t deadline_ns)
{
	int r;

	if (deadline_ns < 0)
		deadline_ns = 0;
	if (!(flags & MSG_DONTWAIT))
		RING(io_uring_prep_recv(&op.sqe, fd, buf, len, flags), true, fd, deadline_ns);
	/* Blocking mode (or O_NONBLOCK: then no wait at all). */
	if (!(flags & MSG_DONTWAIT) && __gmp_getg()) {
		int fl = fcntl(fd, F_GETFL);

		if (fl >= 0 && !(fl & O_NONBLOCK)) {
			for (;;) {
				ssize_t n;

				r = wait_ready(fd, POLLIN, deadline_ns);
				if (r < 0)
					return r;
				n = recv(fd, buf, len, flags | MSG_DONTWAIT);
				if (n >= 0)
					return n;
				if (errno != EAGAIN)
					return -errno;
				/* Another reader took it: wait again. */
			}
		}
	}
	WRAP(ssize_t, recv(fd, buf, len, flags));
}

ssize_t gmp_read_deadline(int fd, void *buf, size_t count, int64_t deadline_ns)
{
	int r;

	if (deadline_ns < 0)
		deadline_ns = 0;
	RING(io_uring_prep_read(&op.sqe, fd, buf, count, CUR_POS), true, fd, deadline_ns);
	r = wait_readable_first(fd, deadline_ns);
	if (r < 0)
		return r;
	WRAP(ssize_t, read(fd, buf, count));
}

int gmp_accept_deadline(int fd, struct sockaddr *addr, socklen_t *addrlen,
			int64_t deadline_ns)
{
	int r;

	if (deadline_ns < 0)
		deadline_ns = 0;
	RING(io_uring_prep_accept(&op.sqe, fd, addr, addrlen, 0), true, fd, deadline_ns);
	r = wait_readable_first(fd, deadline_ns);
	if (r < 0)
		return r;
	WRAP(int, accept(fd, addr, addrlen));
}

int gmp_poll_fd(int fd, short events, int64_t timeout_ns)
{
	int64_t deadline = timeout_ns < 0 ? -1 : __gmp_nanotime() + timeout_ns;
	struct pollfd pfd = { .fd = fd, .events = events };
	struct timespec ts;
	struct ioop op;
	long res;
	int r, e;
	bool in;

	if (!__gmp_getg())
		return -EPERM;
	if (fd < 0)	/* poll(2) would ignore it, and wait forever */
		return -EBADF;
	if (ring_ok(fd, false)) {
		memset(&op, 0, sizeof(op));
		io_uring_prep_poll_add(&op.sqe, fd, (unsigned int)(unsigned short)events);
		if (__gmp_io_run(&op, deadline, &res)) {
			/* poll(2) reports a bad fd as POLLNVAL, io_uring as -EBADF. */
			if (res == -EBADF)
				return POLLNVAL;
			if (res == -ETIMEDOUT)
				__gmp_errno_set(ETIMEDOUT);
			return (int)res;
		}
	}
	if (timeout_ns >= 0) {
		ts.tv_sec = timeout_ns / 1000000000;
		ts.tv_nsec = timeout_ns % 1000000000;
	}
	do {
		in = gmp_syscall_enter() == 0;
		r = ppoll(&pfd, 1, timeout_ns < 0 ? NULL : &ts, NULL);
		e = errno;
		if (in)
			gmp_syscall_exit();
		if (r < 0 && e == EINTR && timeout_ns >= 0) {
			int64_t left = deadline - __gmp_nanotime();

			if (left < 0)
				left = 0;
			ts.tv_sec = left / 1000000000;
			ts.tv_nsec = left % 1000000000;
		}
	} while (r < 0 && e == EINTR);
	if (r < 0) {
		__gmp_errno_set(e);
		return -e;
	}
	if (r == 0) {
		__gmp_errno_set(ETIMEDOUT);
		return -ETIMEDOUT;
	}
	return pfd.revents;
}
