// SPDX-License-Identifier: (LGPL-2.1-or-later OR MIT)
/*
 * syscall_test.c - system calls: a goroutine blocked in a wrapped call does
 * not stop the other goroutines of its P (sysmon hands the P off); the
 * wrappers' results and errors; enter/exit misuse.
 */
#include "gmp_test.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

static struct gmp_waitgroup wg;

/* ---- a blocked read hands its P to the others (one P) ------------------ */

#define WORKERS 10
static int pfd[2];
static _Atomic int in_read, ran_during_read, workers_ran;

static void worker(void *arg)
{
	(void)arg;
	if (atomic_load(&in_read))
		atomic_fetch_add(&ran_during_read, 1);
	atomic_fetch_add(&workers_ran, 1);
}

static void writer(void *arg)
{
	char c = 'x';

	(void)arg;
	/* We may run first (the reader can be preempted before its read). */
	while (!atomic_load(&in_read))
		gmp_yield();
	/* The reader is in read(2) on the only P: we run only after a handoff. */
	atomic_fetch_add(&ran_during_read, 1);
	atomic_fetch_add(&workers_ran, 1);
	GT_CHECK_EQ(1, gmp_write(pfd[1], &c, 1));
}

static void handoff_main(void *arg)
{
	char c = 0;

	(void)arg;
	GT_CHECK_EQ(0, pipe(pfd));
	for (int i = 0; i < WORKERS - 1; i++)
		gmp_go(worker, NULL);	/* queued on our P, which we hold */
	gmp_go(writer, NULL);
	atomic_store(&in_read, 1);
	GT_CHECK_EQ(1, gmp_read(pfd[0], &c, 1));
	atomic_store(&in_read, 0);
	GT_CHECK_EQ('x', c);
	/* We came back on a P again (maybe through the global queue). */
	GT_CHECK_EQ(0, gmp_p_index());
	close(pfd[0]);
	close(pfd[1]);
}

TEST(blocked_read_does_not_stop_its_p)
{
	GT_RUN(1, handoff_main, NULL);
	ASSERT_EQ(WORKERS, atomic_load(&workers_ran));
	ASSERT_GE(atomic_load(&ran_during_read), 1);
}

/* ---- many goroutines blocked in syscalls at once ------------------------- */

#define BLOCKERS 16
static int bp[BLOCKERS][2];
static _Atomic int blockers_in, blockers_out;

static void blocker(void *arg)
{
	int i = (int)(intptr_t)arg;
	int v = -1;

	atomic_fetch_add(&blockers_in, 1);
	GT_CHECK_EQ((ssize_t)sizeof(v), gmp_read(bp[i][0], &v, sizeof(v)));
	GT_CHECK_EQ(i, v);
	atomic_fetch_add(&blockers_out, 1);
	gmp_wg_done(&wg);
}

static void many_main(void *arg)
{
	(void)arg;
	for (int i = 0; i < BLOCKERS; i++) {
		GT_CHECK_EQ(0, pipe(bp[i]));
		gmp_wg_add(&wg, 1);
		gmp_go(blocker, (void *)(intptr_t)i);
	}
	/* All of them block on 2 Ps; we still get to run. */
	while (atomic_load(&blockers_in) < BLOCKERS)
		gmp_sleep(100 * 1000);
	for (int i = BLOCKERS - 1; i >= 0; i--)
		GT_CHECK_EQ((ssize_t)sizeof(i), gmp_write(bp[i][1], &i, sizeof(i)));
	gmp_wg_wait(&wg);
	GT_CHECK_EQ(BLOCKERS, atomic_load(&blockers_out));
	for (int i = 0; i < BLOCKERS; i++) {
		close(bp[i][0]);
		close(bp[i][1]);
	}
}

TEST(many_goroutines_blocked_in_syscalls)
{
	GT_RUN(2, many_main, NULL);
}

/* ---- a goroutine in nanosleep(2) leaves its P to a busy one ------------- */

static _Atomic int sleeping, ticks_while_asleep;

static void ticker(void *arg)
{
	(void)arg;
	while (atomic_load(&sleeping) != 2) {
		if (atomic_load(&sleeping) == 1)
			atomic_fetch_add(&ticks_while_asleep, 1);
		gmp_yield();
	}
	gmp_wg_done(&wg);
}

static void nanosleep_main(void *arg)
{
	struct timespec ts = { 0, 30 * 1000 * 1000 };

	(void)arg;
	gmp_wg_add(&wg, 1);
	gmp_go(ticker, NULL);
	atomic_store(&sleeping, 1);
	/*
	 * With one P, any tick while we sleep means our P was handed off.
	 * How soon that happens is the machine's business (a loaded VM can
	 * starve sysmon or the activation for longer than one sleep), so the
	 * sleep is repeated, boundedly, until it has happened.
	 */
	for (int i = 0; i < 100 && !atomic_load(&ticks_while_asleep); i++)
		GT_CHECK_EQ(0, gmp_nanosleep(&ts, NULL));
	/* The ticker ran on our P while the thread slept in the kernel. */
	GT_CHECK(atomic_load(&ticks_while_asleep) > 0);
	atomic_store(&sleeping, 2);
	gmp_wg_wait(&wg);
}

TEST(nanosleep_hands_off_its_p)
{
	GT_RUN(1, nanosleep_main, NULL);
}

/* ---- accept and connect over loopback ---------------------------------- */

static int lfd;
static struct sockaddr_in laddr;

static void acceptor(void *arg)
{
	char buf[8] = { 0 };
	int fd;

	(void)arg;
	fd = gmp_accept(lfd, NULL, NULL);	/* blocks before the connect */
	GT_CHECK(fd >= 0);
	GT_CHECK_EQ(5, gmp_read(fd, buf, 5));
	GT_CHECK_EQ(0, memcmp(buf, "hello", 5));
	close(fd);
	gmp_wg_done(&wg);
}

static void net_main(void *arg)
{
	socklen_t len = sizeof(laddr);
	int fd;

	(void)arg;
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	GT_CHECK(lfd >= 0);
	laddr.sin_family = AF_INET;
	laddr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	GT_CHECK_EQ(0, bind(lfd, (struct sockaddr *)&laddr, sizeof(laddr)));
	GT_CHECK_EQ(0, getsockname(lfd, (struct sockaddr *)&laddr, &len));
	GT_CHECK_EQ(0, listen(lfd, 4));
	gmp_wg_add(&wg, 1);
	gmp_go(acceptor, NULL);
	gmp_sleep(5 * 1000 * 1000);	/* let it block in accept */
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	GT_CHECK_EQ(0, gmp_connect(fd, (struct sockaddr *)&laddr, sizeof(laddr)));
	GT_CHECK_EQ(5, gmp_write(fd, "hello", 5));
	gmp_wg_wait(&wg);
	close(fd);
	close(lfd);
}

TEST(accept_and_connect)
{
	GT_RUN(1, net_main, NULL);
}

/* ---- results and errors of the wrappers ---------------------------------- */

static void errors_main(void *arg)
{
	struct pollfd pf;
	int p[2], tmp;
	char c = 'a';
	char path[] = "/tmp/gmp-syscall-test-XXXXXX";

	(void)arg;
	GT_CHECK_EQ(0, pipe(p));
	GT_CHECK_EQ(-EBADF, gmp_read(-1, &c, 1));
	GT_CHECK_EQ(EBADF, errno);
	GT_CHECK_EQ(-ESPIPE, gmp_pread(p[0], &c, 1, 0));
	GT_CHECK_EQ(-ESPIPE, gmp_pwrite(p[1], &c, 1, 0));
	GT_CHECK_EQ(-EINVAL, gmp_fsync(p[0]));
	GT_CHECK_EQ(-ENOTSOCK, gmp_accept(p[0], NULL, NULL));
	GT_CHECK_EQ(-EBADF, gmp_connect(-1, NULL, 0));
	pf = (struct pollfd){ .fd = p[0], .events = POLLIN };
	GT_CHECK_EQ(0, gmp_poll(&pf, 1, 1));		/* times out */
	GT_CHECK_EQ(1, gmp_write(p[1], &c, 1));
	GT_CHECK_EQ(1, gmp_poll(&pf, 1, -1));
	GT_CHECK_EQ(getpid(), gmp_syscall(SYS_getpid, 0, 0, 0, 0, 0, 0));
	GT_CHECK_EQ(-EBADF, gmp_syscall(SYS_close, -1, 0, 0, 0, 0, 0));
	close(p[0]);
	close(p[1]);
	/*
	 * A pipe whose read end no ring request ever held: with io_uring the
	 * request that just completed on p[0] may keep its file a moment
	 * after the CQE is seen (the kernel puts it after posting), so the
	 * pipe could still have a reader after close(p[0]).
	 */
	GT_CHECK_EQ(0, pipe(p));
	close(p[0]);
	GT_CHECK_EQ(-EPIPE, gmp_write(p[1], &c, 1));	/* SIGPIPE ignored */
	close(p[1]);

	tmp = mkstemp(path);
	GT_CHECK(tmp >= 0);
	unlink(path);
	GT_CHECK_EQ(3, gmp_pwrite(tmp, "abc", 3, 10));
	GT_CHECK_EQ(0, gmp_fsync(tmp));
	GT_CHECK_EQ(2, gmp_pread(tmp, &path, 2, 11));
	GT_CHECK_EQ(0, memcmp(path, "bc", 2));
	close(tmp);
}

TEST(wrappers_return_result_or_negative_errno)
{
	signal(SIGPIPE, SIG_IGN);
	GT_RUN(2, errors_main, NULL);
}

TEST(wrappers_outside_goroutines)
{
	char c;

	ASSERT_EQ(-EBADF, gmp_read(-1, &c, 1));
	ASSERT_EQ(EBADF, errno);
	ASSERT_EQ(-EPERM, gmp_syscall_enter());
	ASSERT_EQ(-EPERM, gmp_syscall_exit());
}

static void misuse_main(void *arg)
{
	(void)arg;
	GT_CHECK_EQ(-EINVAL, gmp_syscall_exit());	/* not entered */
	GT_CHECK_EQ(0, gmp_syscall_enter());
	GT_CHECK_EQ(-EBUSY, gmp_syscall_enter());	/* nested */
	GT_CHECK_EQ(0, gmp_syscall_exit());
	GT_CHECK_EQ(-EINVAL, gmp_syscall_exit());
	/* Back to normal. */
	GT_CHECK(gmp_p_index() >= 0);
}

TEST(syscall_enter_exit_misuse)
{
	GT_RUN(1, misuse_main, NULL);
}

/* ---- a syscall bracket by hand, with many rounds and migrations --------- */

static _Atomic long bracket_rounds;

static void bracketer(void *arg)
{
	(void)arg;
	for (int i = 0; i < SCALE(2000); i++) {
		GT_CHECK_EQ(0, gmp_syscall_enter());
		if (i % 100 == 0)
			usleep(200);	/* long enough for sysmon to take the P */
		GT_CHECK_EQ(0, gmp_syscall_exit());
		atomic_fetch_add(&bracket_rounds, 1);
		if (i % 10 == 0)
			gmp_yield();
	}
	gmp_wg_done(&wg);
}

static void bracket_main(void *arg)
{
	(void)arg;
	for (int i = 0; i < 8; i++) {
		gmp_wg_add(&wg, 1);
		gmp_go(bracketer, NULL);
	}
	gmp_wg_wait(&wg);
	GT_CHECK_EQ(8L * SCALE(2000), atomic_load(&bracket_rounds));
}

TEST(syscall_brackets_under_load)
{
	GT_RUN(2, bracket_main, NULL);
}

TEST_HARNESS_MAIN
