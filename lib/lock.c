// SPDX-License-Identifier: (LGPL-2.1-or-later OR MIT)
/*
 * lock.c - the runtime's own thread-level primitives: a futex mutex for
 * short critical sections, notes (one-shot thread wakeups, as in Go), the
 * clock, fatal errors and an errno accessor the compiler cannot cache.
 */
#include "internal.h"

#include <limits.h>
#include <linux/futex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int __gmp_futex_wait(_Atomic uint32_t *addr, uint32_t val, int64_t ns)
{
	struct timespec ts, *tsp = NULL;
	struct m *m = __gmp_getm();
	/* Transparent mode arms goroutine code: not the runtime's own waits. */
	bool armed = m && m->karmed;
	int ret;

	if (ns >= 0) {
		ts.tv_sec = ns / 1000000000;
		ts.tv_nsec = ns % 1000000000;
		tsp = &ts;
	}
	if (armed)
		__gmp_disarm(m);
	ret = syscall(SYS_futex, addr, FUTEX_WAIT_PRIVATE, val, tsp, NULL, 0);
	if (armed)
		__gmp_arm(m);
	return ret;
}

void __gmp_futex_wake(_Atomic uint32_t *addr, int n)
{
	syscall(SYS_futex, addr, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}

static inline void cpu_relax(void)
{
	__builtin_ia32_pause();
}

/* Drepper's "Futexes are tricky" mutex 2, with a short spin first. */
void __gmp_lock(struct lock *l)
{
	uint32_t c = 0;

	if (atomic_compare_exchange_strong_explicit(&l->key, &c, 1,
			memory_order_acquire, memory_order_relaxed))
		return;
	for (int i = 0; i < 100; i++) {
		cpu_relax();
		c = 0;
		if (load_relaxed(&l->key) == 0 &&
		    atomic_compare_exchange_weak_explicit(&l->key, &c, 1,
				memory_order_acquire, memory_order_relaxed))
			return;
	}
	c = atomic_exchange_explicit(&l->key, 2, memory_order_acquire);
	while (c != 0) {
		__gmp_futex_wait(&l->key, 2, -1);
		c = atomic_exchange_explicit(&l->key, 2, memory_order_acquire);
	}
}

void __gmp_unlock(struct lock *l)
{
	if (atomic_exchange_explicit(&l->key, 0, memory_order_release) == 2)
		__gmp_futex_wake(&l->key, 1);
}

void __gmp_noteclear(struct note *n)
{
	store_relaxed(&n->key, 0);
}

void __gmp_notewakeup(struct note *n)
{
	/* release: what the waker wrote before is seen by the woken thread. */
	if (atomic_exchange_explicit(&n->key, 1, memory_order_release) != 0)
		__gmp_fatal("notewakeup: double wakeup");
	__gmp_futex_wake(&n->key, 1);
}

void __gmp_notesleep(struct note *n)
{
	while (load_acquire(&n->key) == 0)
		__gmp_futex_wait(&n->key, 0, -1);
}

bool __gmp_notetsleep(struct note *n, int64_t ns)
{
	int64_t deadline = __gmp_nanotime() + ns;

	while (load_acquire(&n->key) == 0) {
		int64_t left = deadline - __gmp_nanotime();

		if (left <= 0)
			return false;
		__gmp_futex_wait(&n->key, 0, left);
	}
	return true;
}

int64_t __gmp_nanotime(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t gmp_now(void)
{
	return __gmp_nanotime();
}

void __gmp_fatal(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n;

	n = snprintf(buf, sizeof(buf), "gmp: fatal: ");
	va_start(ap, fmt);
	n += vsnprintf(buf + n, sizeof(buf) - n - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(buf) - 2)
		n = sizeof(buf) - 2;
	buf[n++] = '\n';
	if (write(STDERR_FILENO, buf, n) < 0)
		abort();
	abort();
}

/*
 * glibc declares __errno_location() const, so compilers reuse its result
 * across calls, even across a goroutine switch that moved us to another
 * thread. A call through a volatile pointer is always made afresh.
 */
static int *(*volatile errno_location)(void) = __errno_location;

int __gmp_errno_get(void)
{
	return *errno_location();
}

void __gmp_errno_set(int e)
{
	*errno_location() = e;
}

int *gmp_errno_location(void)
{
	return errno_location();
}
