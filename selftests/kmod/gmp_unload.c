// SPDX-License-Identifier: GPL-2.0
/*
 * gmp_unload: the module cannot go while anything of it is in use, and
 * goes once nothing is.
 *
 * delete_module("gmp", O_NONBLOCK) must fail (EWOULDBLOCK, or EBUSY) while
 * a group's file is open or mapped, or while an M of a closed group still
 * runs; and must succeed, within a bounded wait (dead Ms are freed by a
 * work item), once they are gone: after close, after the process was
 * SIGKILLed with an M blocked and an activation parked, after a loaded
 * run. Each test loads the module again from $GMP_KO (finit_module) and
 * checks that it works; without GMP_KO, or without the right to unload,
 * the tests SKIP: nothing here may leave the module unloaded.
 */
#include "gmp_test.h"

#include <poll.h>

#define T_MS GMP_EVENT_TIMEOUT_MS

static int delete_gmp(void)
{
	return (int)syscall(__NR_delete_module, "gmp", O_NONBLOCK);
}

static bool module_loaded(void)
{
	struct stat st;

	if (!stat("/sys/module", &st))
		return !stat("/sys/module/gmp", &st);
	return gmp_refcnt() >= 0 || gmp_present();
}

static int load_gmp(const char *ko)
{
	int fd = open(ko, O_RDONLY | O_CLOEXEC);
	int ret;

	if (fd < 0)
		return -1;
	ret = (int)syscall(__NR_finit_module, fd, "", 0);
	close(fd);
	return ret;
}

/* Bounded wait for the device to come (or go). */
static bool wait_present(bool want, int timeout_ms)
{
	uint64_t end = gmp_now_ns() + (uint64_t)timeout_ms * NSEC_PER_MSEC;

	while (gmp_present() != want) {
		if (gmp_now_ns() > end)
			return false;
		gmp_sleep_ms(10);
	}
	return true;
}

/* Unload, retrying (bounded) while the module is still busy. 0 or errno. */
static int unload_eventually(int timeout_ms)
{
	uint64_t end = gmp_now_ns() + (uint64_t)timeout_ms * NSEC_PER_MSEC;

	for (;;) {
		if (!delete_gmp())
			return 0;
		if ((errno != EWOULDBLOCK && errno != EBUSY) ||
		    gmp_now_ns() > end)
			return errno;
		gmp_sleep_ms(20);
	}
}

static bool busy_errno(int e)
{
	return e == EWOULDBLOCK || e == EBUSY;
}

FIXTURE(unload) {
	const char *ko;
	const char *why;
};

FIXTURE_SETUP(unload)
{
	self->ko = getenv("GMP_KO");
	if (!self->ko)
		self->why = "GMP_KO is not set: the module could not be reloaded";
	else if (access(self->ko, R_OK))
		self->why = "GMP_KO is not readable";
	else if (geteuid() != 0)
		self->why = "not root: cannot unload modules";
	else if (!module_loaded())
		self->why = "gmp is not a loaded module";
}

/* Whatever happened, leave the module loaded and working. */
FIXTURE_TEARDOWN(unload)
{
	if (self->why || gmp_present())
		return;
	if (!module_loaded() && load_gmp(self->ko))
		TH_LOG("reloading %s failed: %s", self->ko, strerror(errno));
	if (!wait_present(true, GMP_SETTLE_TIMEOUT_MS))
		TH_LOG("%s did not come back", GMP_DEVICE_PATH);
}

#define NEED_UNLOAD() do {					\
	if (self->why)						\
		SKIP(return, "%s", self->why);			\
} while (0)

/* Unload now that nothing is left; load again; a group works. */
static void expect_unload_and_reload(struct __test_metadata *_metadata,
				     FIXTURE_DATA(unload) *self)
{
	struct gmp_info info;
	int fd;

	EXPECT_EQ(0, unload_eventually(GMP_SETTLE_TIMEOUT_MS)) {
		TH_LOG("refcount %ld", gmp_refcnt());
	}
	EXPECT_TRUE(wait_present(false, GMP_SETTLE_TIMEOUT_MS));
	ASSERT_EQ(0, load_gmp(self->ko)) {
		TH_LOG("finit_module(%s): %s", self->ko, strerror(errno));
	}
	ASSERT_TRUE(wait_present(true, GMP_SETTLE_TIMEOUT_MS));
	fd = gmp_open();
	ASSERT_LE(0, fd);
	EXPECT_EQ(0, gmp_info(fd, &info));
	EXPECT_EQ(0, gmp_register(fd, 0, 1, NULL));
	/* Leave nothing behind for a plan's rmmod right after us. */
	EXPECT_EQ(0, gmp_unregister(fd));
	EXPECT_EQ(0, close(fd));
}

static void expect_refused(struct __test_metadata *_metadata)
{
	EXPECT_EQ(-1, delete_gmp());
	EXPECT_TRUE(busy_errno(errno)) {
		TH_LOG("delete_module: %s", strerror(errno));
	}
	EXPECT_TRUE(gmp_present());
}

TEST_F(unload, refused_while_fd_open)
{
	int fd;

	NEED_UNLOAD();
	fd = gmp_open();
	ASSERT_LE(0, fd);
	expect_refused(_metadata);
	EXPECT_EQ(0, close(fd));
	expect_unload_and_reload(_metadata, self);
}

TEST_F(unload, refused_while_mapped)
{
	struct gmp_map map;
	int fd;

	NEED_UNLOAD();
	fd = gmp_open();
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, gmp_map(fd, &map));
	EXPECT_EQ(0, close(fd));
	/* The mapping holds the file. */
	expect_refused(_metadata);
	gmp_unmap(&map);
	expect_unload_and_reload(_metadata, self);
}

static void body_block_twice(struct gmp_m *m)
{
	char c;

	M_CHECK(m, syscall(SYS_read, m->pfd[0], &c, 1) == 1, errno);
	M_CHECK(m, syscall(SYS_read, m->pfd[0], &c, 1) == 1, errno);
}

TEST_F(unload, refused_while_m_of_closed_group_lives)
{
	struct gmp_map map;
	struct gmp_m m;
	int fd;

	NEED_UNLOAD();
	fd = gmp_open();
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, gmp_map(fd, &map));
	gmp_m_init(&m, fd, &map, 1, GMP_REGISTER_ARMED, body_block_twice);
	m.keep = true;
	ASSERT_EQ(0, pipe2(m.pfd, O_CLOEXEC));
	ASSERT_EQ(0, gmp_m_start(&m));
	ASSERT_TRUE(gmp_wait_u64_ge(&m.s->blocks, 1, T_MS));
	m.s = NULL;
	gmp_unmap(&map);
	EXPECT_EQ(0, close(fd));
	/* The group is closed; its M, blocked, still belongs to the module. */
	gmp_sleep_ms(50);
	expect_refused(_metadata);
	/* Woken, it runs and blocks again: still refused. */
	EXPECT_EQ(1, write(m.pfd[1], "x", 1));
	gmp_sleep_ms(50);
	expect_refused(_metadata);
	EXPECT_EQ(1, write(m.pfd[1], "x", 1));
	ASSERT_EQ(0, gmp_m_join(&m, T_MS));
	EXPECT_EQ(0, m.err_line);
	close(m.pfd[0]);
	close(m.pfd[1]);
	expect_unload_and_reload(_metadata, self);
}

static void body_read_forever(struct gmp_m *m)
{
	char c;

	syscall(SYS_read, m->pfd[0], &c, 1);
}

static void body_wait_forever(struct gmp_m *m)
{
	struct gmp_event ev;

	for (;;) {
		if (!gmp_next_event(m->fd, &ev, 60000) &&
		    ev.type == GMP_EV_BLOCKED)
			gmp_set_int(&m->ack, 1);
	}
}

static int child_blocked_and_parked(void *arg)
{
	struct gmp_m m, act;
	struct gmp_map map;
	int fd = gmp_open();

	if (fd < 0 || gmp_map(fd, &map))
		return 10;
	gmp_m_init(&act, fd, NULL, 0, 0, body_wait_forever);
	act.no_register = true;
	if (gmp_m_start(&act))
		return 11;
	gmp_m_init(&m, fd, &map, 1, GMP_REGISTER_ARMED, body_read_forever);
	if (pipe2(m.pfd, O_CLOEXEC) || gmp_m_start(&m))
		return 12;
	/* Tell the parent when the activation has seen the block. */
	if (!gmp_wait_int(&act.ack, 1, T_MS))
		return 13;
	if (write(*(int *)arg, "B", 1) != 1)
		return 14;
	for (;;)
		pause();
}

TEST_F(unload, after_sigkill_blocked_and_parked)
{
	struct pollfd p = { .events = POLLIN };
	int rep[2];
	pid_t pid;
	char c;

	NEED_UNLOAD();
	ASSERT_EQ(0, pipe2(rep, O_CLOEXEC));
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		close(rep[0]);
		_exit(child_blocked_and_parked(&rep[1]));
	}
	close(rep[1]);
	p.fd = rep[0];
	ASSERT_EQ(1, poll(&p, 1, T_MS));
	ASSERT_EQ(1, read(rep[0], &c, 1));
	gmp_sleep_ms(50);
	expect_refused(_metadata);
	EXPECT_EQ(0, kill(pid, SIGKILL));
	EXPECT_EQ(1000 + SIGKILL, gmp_child_result(gmp_reap(pid, T_MS)));
	close(rep[0]);
	expect_unload_and_reload(_metadata, self);
}

/* Ms churning (armed) in a child, with consumers, then a plain exit. */
static void body_churn(struct gmp_m *m)
{
	struct timespec ts = { 0, 50000 }, fto = { 0, NSEC_PER_MSEC };
	uint64_t end = gmp_now_ns() + NSEC_PER_SEC;

	while (gmp_now_ns() < end) {
		syscall(SYS_nanosleep, &ts, NULL);
		sys_futex(&m->fword, FUTEX_WAIT_PRIVATE, 0, &fto);
	}
}

static void body_drain(struct gmp_m *m)
{
	struct gmp_event ev[32];

	while (!gmp_get_int(&m->cmd))
		gmp_wait(m->fd, ev, 32, 20 * NSEC_PER_MSEC, 0, NULL, NULL);
}

static int child_churn(void *arg)
{
	struct gmp_m m[8], c[2];
	struct gmp_map map;
	int fd = gmp_open();
	int i;

	if (fd < 0 || gmp_setup(fd, 0, GMP_RING_ENTRIES_MIN, 0) ||
	    gmp_map(fd, &map))
		return 10;
	for (i = 0; i < 2; i++) {
		gmp_m_init(&c[i], fd, NULL, 0, 0, body_drain);
		c[i].no_register = true;
		if (gmp_m_start(&c[i]))
			return 11;
	}
	for (i = 0; i < 8; i++) {
		gmp_m_init(&m[i], fd, &map, i, GMP_REGISTER_ARMED, body_churn);
		m[i].cpu = i % gmp_ncpus();
		m[i].keep = i & 1;	/* half of them die registered */
		if (gmp_m_start(&m[i]))
			return 12;
	}
	for (i = 0; i < 8; i++)
		if (gmp_m_join(&m[i], 3 * T_MS))
			return 13;
	for (i = 0; i < 2; i++) {
		gmp_set_int(&c[i].cmd, 1);
		if (gmp_m_join(&c[i], T_MS))
			return 14;
	}
	return 0;
}

TEST_F_TIMEOUT(unload, after_load, 120)
{
	NEED_UNLOAD();
	EXPECT_EQ(0, gmp_run_child(child_churn, NULL, 6 * T_MS));
	expect_unload_and_reload(_metadata, self);
}

TEST_F(unload, reloaded_module_reports_blocks)
{
	struct gmp_event ev;
	struct gmp_map map;
	struct gmp_m m;
	int fd;

	NEED_UNLOAD();
	ASSERT_EQ(0, unload_eventually(GMP_SETTLE_TIMEOUT_MS));
	ASSERT_EQ(0, load_gmp(self->ko));
	ASSERT_TRUE(wait_present(true, GMP_SETTLE_TIMEOUT_MS));
	fd = gmp_open();
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, gmp_map(fd, &map));
	gmp_m_init(&m, fd, &map, 3, GMP_REGISTER_ARMED, body_read_forever);
	m.keep = true;
	ASSERT_EQ(0, pipe2(m.pfd, O_CLOEXEC));
	ASSERT_EQ(0, gmp_m_start(&m));
	ASSERT_EQ(0, gmp_next_event(fd, &ev, T_MS));
	EXPECT_EQ(GMP_EV_BLOCKED, ev.type);
	EXPECT_EQ(3U, ev.m_id);
	EXPECT_EQ(__NR_read, ev.syscall);
	EXPECT_EQ(1, write(m.pfd[1], "x", 1));
	ASSERT_EQ(0, gmp_m_join(&m, T_MS));
	gmp_unmap(&map);
	EXPECT_EQ(0, close(fd));
	close(m.pfd[0]);
	close(m.pfd[1]);
	expect_unload_and_reload(_metadata, self);
}

GMP_HARNESS_MAIN(NULL)
