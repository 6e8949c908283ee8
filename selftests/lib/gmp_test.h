/* SPDX-License-Identifier: (LGPL-2.1-or-later OR MIT) */
/*
 * gmp_test.h - what every libgmp selftest shares: the harness, a longer
 * timeout for sanitizer builds, checks usable inside goroutines (the
 * harness's ASSERT_* need the test's _metadata, which goroutines do not
 * have: they count failures, and the TEST body asserts the count is 0).
 */
#ifndef GMP_TEST_H
#define GMP_TEST_H

#include "libgmp.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kselftest_harness.h"

/*
 * libgmp's hidden test hooks that more than one test file uses (the tests
 * link libgmp.a, whose hidden symbols they see): the scheduler's state in
 * text, lock-free (sched.c); Ms alive, Ms parked idle.
 */
void __gmp_test_dump(char *buf, size_t len);
int __gmp_test_live_ms(void);
int __gmp_test_idle_ms(void);

/* Sanitizer builds run several times slower: no test should need this. */
#undef TEST_TIMEOUT_DEFAULT
#define TEST_TIMEOUT_DEFAULT 120

/*
 * Workload divisor: GMP_TEST_DIV at build time (the TSan build, set by the
 * Makefile) times $GMP_TEST_DIV at run time (make check-debug: the debug
 * kernel runs system calls and faults several times slower).
 */
#ifndef GMP_TEST_DIV
#define GMP_TEST_DIV 1
#endif
static long gt_div = GMP_TEST_DIV;

__attribute__((constructor)) static void gt_div_init(void)
{
	const char *s = getenv("GMP_TEST_DIV");
	long d = s ? strtol(s, NULL, 10) : 0;

	if (d > 1)
		gt_div *= d;
}

static inline long gt_scale(long n)
{
	return n / gt_div > 0 ? n / gt_div : 1;
}
#define SCALE(n) gt_scale(n)

static _Atomic int gt_failures;

#define GT_CHECK(cond) do {						\
	if (!(cond)) {							\
		atomic_fetch_add(&gt_failures, 1);			\
		fprintf(stderr, "# %s:%d: check failed: %s\n",		\
			__FILE__, __LINE__, #cond);			\
	}								\
} while (0)

#define GT_CHECK_EQ(want, got) do {					\
	long long __w = (long long)(want), __g = (long long)(got);	\
	if (__w != __g) {						\
		atomic_fetch_add(&gt_failures, 1);			\
		fprintf(stderr, "# %s:%d: %s == %s: want %lld, got %lld\n", \
			__FILE__, __LINE__, #want, #got, __w, __g);	\
	}								\
} while (0)

/* Start the runtime with procs Ps (0: default) and run fn as main. */
static inline int gt_run(unsigned int procs, void (*fn)(void *), void *arg)
{
	struct gmp_config cfg = { .size = sizeof(cfg), .maxprocs = procs };
	int ret = gmp_init(&cfg);

	if (ret < 0)
		return ret;
	return gmp_run(fn, arg);
}

#define GT_RUN(procs, fn, arg) do {					\
	ASSERT_EQ(0, gt_run((procs), (fn), (arg)));			\
	ASSERT_EQ(0, atomic_load(&gt_failures));			\
} while (0)

#endif /* GMP_TEST_H */
