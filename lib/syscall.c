// SPDX-License-Identifier: (LGPL-2.1-or-later OR MIT)
/*
 * syscall.c - wrappers of common blocking system calls, bracketed by
 * gmp_syscall_enter()/gmp_syscall_exit() so that their P goes on running
 * other goroutines while they block. Outside a goroutine they are the
 * plain calls. Each returns the call's result or -errno, and leaves errno
 * as the call set it (on whatever thread the goroutine continues).
 */
#include "internal.h"

#include <sys/syscall.h>
#include <unistd.h>

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

ssize_t gmp_read(int fd, void *buf, size_t count)
{
	WRAP(ssize_t, read(fd, buf, count));
}

ssize_t gmp_write(int fd, const void *buf, size_t count)
{
	WRAP(ssize_t, write(fd, buf, count));
}

ssize_t gmp_pread(int fd, void *buf, size_t count, off_t offset)
{
	WRAP(ssize_t, pread(fd, buf, count, offset));
}

ssize_t gmp_pwrite(int fd, const void *buf, size_t count, off_t offset)
{
	WRAP(ssize_t, pwrite(fd, buf, count, offset));
}

int gmp_fsync(int fd)
{
	WRAP(int, fsync(fd));
}

int gmp_nanosleep(const struct timespec *req, struct timespec *rem)
{
	WRAP(int, nanosleep(req, rem));
}

int gmp_accept(int fd, struct sockaddr *addr, socklen_t *addrlen)
{
	WRAP(int, accept(fd, addr, addrlen));
}

int gmp_connect(int fd, const struct sockaddr *addr, socklen_t addrlen)
{
	WRAP(int, connect(fd, addr, addrlen));
}

int gmp_poll(struct pollfd *fds, nfds_t nfds, int timeout_ms)
{
	WRAP(int, poll(fds, nfds, timeout_ms));
}

long gmp_syscall(long nr, long a0, long a1, long a2, long a3, long a4, long a5)
{
	WRAP(long, syscall(nr, a0, a1, a2, a3, a4, a5));
}
