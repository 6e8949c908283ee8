// SPDX-License-Identifier: (LGPL-2.1-or-later OR MIT)
/*
 * stack_test.c - goroutine stacks: an overflow ends the process with a
 * message naming the goroutine (checked in a child process); deep but
 * legal recursion works; the stack size is configurable.
 *
 * With a guard (madvise or mprotect) any overflow faults in the guard. The
 * canary fallback promises less (lib/stack.c): an overflow is caught at the
 * goroutine's next switch, and a runaway recursion that never switches may
 * run on through whatever the kernel mapped below the stack - another
 * thread's stack or TLS - before it faults, so what it prints then depends
 * on the address-space layout. Its test overflows by a little and yields.
 */
#include "gmp_test.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

static int recurse(int depth, int max)
{
	volatile char frame[512];

	frame[0] = (char)depth;
	frame[511] = (char)depth;
	if (depth >= max)
		return frame[0];
	return recurse(depth + 1, max) + frame[511] - frame[0] + 1;
}

static void overflow_g(void *arg)
{
	(void)arg;
	gmp_set_name("deep");
	recurse(0, 1 << 30);	/* far beyond any stack */
}

/* Recurse until this frame is past bytes below top, then switch. */
static int overflow_then_switch(const char *top, long bytes)
{
	volatile char frame[512];

	frame[0] = 1;
	frame[511] = 1;
	if (top - (const char *)frame > bytes) {
		gmp_yield();	/* the switch checks the stack */
		return frame[0];
	}
	return overflow_then_switch(top, bytes) + frame[511];
}

static void overflow_by_a_little_g(void *arg)
{
	char top;

	(void)arg;
	gmp_set_name("deep");
	/* GMP_STACK_SIZE=64k: 1 KiB past the bottom of the stack, inside the
	 * 16 KiB below it that the same mapping reserves. */
	overflow_then_switch(&top, 65 * 1024);
}

static void overflow_main(void *arg)
{
	(void)arg;
	gmp_go(arg ? overflow_by_a_little_g : overflow_g, NULL);
	gmp_sleep(10LL * 1000 * 1000 * 1000);	/* the child dies first */
}

static void overflow_child(struct __test_metadata *_metadata, const char *guard)
{
	int errpipe[2], status;
	char out[4096] = { 0 };
	size_t len = 0;
	ssize_t n;
	pid_t pid;

	ASSERT_EQ(0, pipe(errpipe));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		dup2(errpipe[1], STDERR_FILENO);
		close(errpipe[0]);
		setenv("GMP_STACK_SIZE", "64k", 1);
		if (guard)
			setenv("GMP_STACK_GUARD", guard, 1);
		gmp_run(overflow_main, (void *)(uintptr_t)(guard && !strcmp(guard, "canary")));
		_exit(0);	/* the overflow went unnoticed */
	}
	close(errpipe[1]);
	while (len < sizeof(out) - 1 &&
	       (n = read(errpipe[0], out + len, sizeof(out) - 1 - len)) > 0)
		len += n;
	close(errpipe[0]);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	TH_LOG("child said: %s", out);
	ASSERT_TRUE(WIFSIGNALED(status));
	ASSERT_TRUE(WTERMSIG(status) == SIGSEGV || WTERMSIG(status) == SIGABRT);
	ASSERT_NE(NULL, strstr(out, "stack overflow in goroutine"));
	ASSERT_NE(NULL, strstr(out, "\"deep\""));
}

TEST(stack_overflow_is_caught)
{
	overflow_child(_metadata, NULL);	/* the kernel's best guard */
}

TEST(stack_overflow_is_caught_mprotect_guard)
{
	overflow_child(_metadata, "mprotect");	/* kernels before 6.13 */
}

TEST(stack_overflow_is_caught_without_guard)
{
	overflow_child(_metadata, "canary");	/* past the mprotect budget */
	/* (a small overflow then a switch: see the top of this file) */
}

static _Atomic int deep_result = -1;

static void deep_ok_g(void *arg)
{
	atomic_store(&deep_result, recurse(0, (int)(intptr_t)arg));
}

static void deep_main(void *arg)
{
	struct gmp_waitgroup *wg = arg;

	(void)wg;
	gmp_go(deep_ok_g, (void *)(intptr_t)40);	/* ~20-40 KiB of frames */
	while (atomic_load(&deep_result) < 0)
		gmp_yield();
}

TEST(deep_recursion_within_the_stack)
{
	struct gmp_config cfg = { .size = sizeof(cfg), .stack_size = 256 * 1024 };

	ASSERT_EQ(0, gmp_init(&cfg));
	ASSERT_EQ(0, gmp_run(deep_main, NULL));
	ASSERT_EQ(80, atomic_load(&deep_result));	/* 2 * depth */
}

/* Stacks are reused: many short-lived goroutines in waves. */
static struct gmp_waitgroup wave_wg;
static _Atomic long wave_sum;

static void wave_g(void *arg)
{
	atomic_fetch_add(&wave_sum, recurse(0, 8) + (long)(intptr_t)arg * 0);
	gmp_wg_done(&wave_wg);
}

static void waves_main(void *arg)
{
	(void)arg;
	for (int w = 0; w < 20; w++) {
		for (int i = 0; i < SCALE(1000); i++) {
			gmp_wg_add(&wave_wg, 1);
			gmp_go(wave_g, NULL);
		}
		gmp_wg_wait(&wave_wg);
	}
}

TEST(stacks_are_reused)
{
	GT_RUN(0, waves_main, NULL);
	ASSERT_EQ(20L * SCALE(1000) * 16, atomic_load(&wave_sum));
}

TEST_HARNESS_MAIN
