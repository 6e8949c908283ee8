// SPDX-License-Identifier: GPL-2.0
/*
 * gmp_lifetime: Ms and groups that end in every order.
 *
 * A registered thread that exits (or is SIGKILLed while blocked, with an
 * activation parked), a process that exits with Ms registered, a group
 * whose fd is closed while its Ms still run, exec by a registered thread,
 * fork (the child inherits nothing), and an fd passed to another process.
 * Each case must leave nothing behind: the test waits (bounded) for the
 * module's reference count to come back to what it was before, and opens
 * a fresh group. Use-after-free and leaks show in the VM's kernel log
 * (slub_debug, KASAN when available), which the runner checks.
 */
#include "gmp_test.h"

#include <poll.h>
#include <sys/socket.h>

#define T_MS GMP_EVENT_TIMEOUT_MS

FIXTURE(life) {
	long refcnt0;
};

FIXTURE_SETUP(life)
{
	self->refcnt0 = gmp_refcnt();
}

FIXTURE_TEARDOWN(life)
{
}

/* Everything the test created is gone: the module's count is back. */
static void expect_released(struct __test_metadata *_metadata,
			    FIXTURE_DATA(life) *self)
{
	long cnt;

	if (self->refcnt0 < 0) {
		TH_LOG("no /sys/module/gmp/refcnt: release not checked");
		return;
	}
	cnt = gmp_refcnt_settle(self->refcnt0, GMP_SETTLE_TIMEOUT_MS);
	EXPECT_GE(self->refcnt0, cnt) {
		TH_LOG("module refcount %ld, was %ld before the test", cnt,
		       self->refcnt0);
	}
}

/* A fresh group still works for this thread. */
static void expect_usable(struct __test_metadata *_metadata)
{
	int fd = gmp_open();

	ASSERT_LE(0, fd);
	EXPECT_EQ(0, gmp_register(fd, 0, 1, NULL));
	EXPECT_EQ(0, gmp_unregister(fd));
	EXPECT_EQ(0, close(fd));
}

static bool wait_nr_ms(int fd, uint32_t want, int timeout_ms)
{
	uint64_t end = gmp_now_ns() + (uint64_t)timeout_ms * NSEC_PER_MSEC;
	struct gmp_stats st;

	for (;;) {
		if (gmp_stats(fd, 0, 0, &st))
			return false;
		if (st.nr_ms == want)
			return true;
		if (gmp_now_ns() > end)
			return false;
		gmp_sleep_ms(5);
	}
}

static void sys_sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * NSEC_PER_MSEC };

	syscall(SYS_nanosleep, &ts, NULL);
}

/* Armed (by GMP_REGISTER_ARMED): a few blocks, then the thread ends. */
static void body_sleeps(struct gmp_m *m)
{
	int i;

	for (i = 0; i < 3; i++)
		sys_sleep_ms(1);
}

/* Block on the M's pipe until it is written (forever if never). */
static void body_block_read(struct gmp_m *m)
{
	char c;

	M_CHECK(m, syscall(SYS_read, m->pfd[0], &c, 1) == 1, errno);
}

/* Block and wake without end: sleeps and futex timeouts, until cmd == 2. */
static void body_churn(struct gmp_m *m)
{
	struct timespec ts = { 0, NSEC_PER_MSEC };

	while (gmp_get_int(&m->cmd) != 2) {
		sys_sleep_ms(1);
		sys_futex(&m->fword, FUTEX_WAIT_PRIVATE, 0, &ts);
		m->count++;
	}
}

static void body_spin_forever(struct gmp_m *m)
{
	for (;;)
		__atomic_add_fetch(&m->count, 1, __ATOMIC_RELAXED);
}

/* An activation: park in WAIT; report every BLOCKED on fd m->count. */
static void body_activation(struct gmp_m *m)
{
	struct gmp_event ev;

	for (;;) {
		if (gmp_next_event(m->fd, &ev, 60000))
			continue;
		if (ev.type == GMP_EV_BLOCKED && m->count >= 0 &&
		    write((int)m->count, "B", 1) != 1)
			return;
	}
}

TEST_F(life, thread_exit_without_unregister)
{
	struct gmp_stats st;
	struct gmp_map map;
	struct gmp_m m;
	int fd = gmp_open();

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, gmp_map(fd, &map));
	gmp_m_init(&m, fd, &map, 1, GMP_REGISTER_ARMED, body_sleeps);
	m.keep = true;
	ASSERT_EQ(0, gmp_m_start(&m));
	ASSERT_EQ(0, gmp_m_join(&m, T_MS));
	/* The dead M leaves the group (asynchronously) ... */
	EXPECT_TRUE(wait_nr_ms(fd, 0, GMP_SETTLE_TIMEOUT_MS));
	EXPECT_EQ(U32(GMP_SLOT_FREE), gmp_load32(&map.slots[m.slot].state));
	EXPECT_EQ(-1, gmp_stats(fd, GMP_STATS_M, 1, &st));
	EXPECT_EQ(ENOENT, errno);
	/* ... and its m_id can be taken again. */
	EXPECT_EQ(0, gmp_register(fd, 0, 1, NULL));
	EXPECT_EQ(0, gmp_unregister(fd));
	gmp_unmap(&map);
	EXPECT_EQ(0, close(fd));
	expect_usable(_metadata);
	expect_released(_metadata, self);
}

TEST_F(life, many_threads_exit_registered)
{
	struct gmp_map map;
	struct gmp_m m[16];
	unsigned int i;
	int fd = gmp_open();

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, gmp_map(fd, &map));
	for (i = 0; i < ARRAY_SIZE(m); i++) {
		gmp_m_init(&m[i], fd, &map, i, GMP_REGISTER_ARMED, body_sleeps);
		m[i].keep = true;
		ASSERT_EQ(0, gmp_m_start(&m[i]));
	}
	for (i = 0; i < ARRAY_SIZE(m); i++) {
		ASSERT_EQ(0, gmp_m_join(&m[i], T_MS));
	}
	EXPECT_TRUE(wait_nr_ms(fd, 0, GMP_SETTLE_TIMEOUT_MS));
	gmp_unmap(&map);
	EXPECT_EQ(0, close(fd));
	expect_released(_metadata, self);
}

/* The process of these children: an M blocked in read, an activation. */
static int child_blocked_and_parked(void *arg)
{
	int report = *(int *)arg;
	struct gmp_m m, act;
	struct gmp_map map;
	int fd = gmp_open();

	if (fd < 0 || gmp_map(fd, &map))
		return 10;
	gmp_m_init(&m, fd, &map, 1, GMP_REGISTER_ARMED, body_block_read);
	if (pipe2(m.pfd, O_CLOEXEC) || gmp_m_start(&m))
		return 11;
	gmp_m_init(&act, fd, NULL, 0, 0, body_activation);
	act.no_register = true;
	act.count = report;
	if (gmp_m_start(&act))
		return 12;
	for (;;)
		pause();
	return 13;
}

TEST_F(life, sigkill_while_blocked_and_parked)
{
	int round;

	for (round = 0; round < 3; round++) {
		struct pollfd p = { .events = POLLIN };
		int rep[2];
		pid_t pid;
		char c;

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
		/* The activation saw the M block, and parks again. */
		p.fd = rep[0];
		EXPECT_EQ(1, poll(&p, 1, T_MS));
		EXPECT_EQ(1, read(rep[0], &c, 1));
		gmp_sleep_ms(50);
		EXPECT_EQ(0, kill(pid, SIGKILL));
		EXPECT_EQ(1000 + SIGKILL, gmp_child_result(gmp_reap(pid, T_MS)));
		close(rep[0]);
	}
	expect_usable(_metadata);
	expect_released(_metadata, self);
}

static int child_exit_with_ms(void *arg)
{
	struct gmp_m rd[2], spin[2], act;
	struct gmp_map map;
	int fd = gmp_open();
	int i;

	if (fd < 0 || gmp_map(fd, &map))
		return 10;
	for (i = 0; i < 2; i++) {
		gmp_m_init(&rd[i], fd, &map, 10 + i, GMP_REGISTER_ARMED,
			   body_block_read);
		if (pipe2(rd[i].pfd, O_CLOEXEC) || gmp_m_start(&rd[i]))
			return 11;
		gmp_m_init(&spin[i], fd, &map, 20 + i, GMP_REGISTER_ARMED,
			   body_spin_forever);
		if (gmp_m_start(&spin[i]))
			return 12;
	}
	gmp_m_init(&act, fd, NULL, 0, 0, body_activation);
	act.no_register = true;
	act.count = -1;
	if (gmp_m_start(&act))
		return 13;
	for (i = 0; i < 2; i++)
		if (!gmp_wait_u64_ge(&rd[i].s->blocks, 1, T_MS))
			return 14;
	gmp_sleep_ms(50);
	/* exit_group with everything registered, blocked and parked. */
	exit(0);
}

TEST_F(life, process_exit_with_ms_registered)
{
	EXPECT_EQ(0, gmp_run_child(child_exit_with_ms, NULL, 3 * T_MS));
	expect_usable(_metadata);
	expect_released(_metadata, self);
}

TEST_F(life, close_while_ms_run)
{
	struct gmp_m rd, churn;
	struct gmp_map map;
	int fd = gmp_open();

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, gmp_map(fd, &map));
	/* One M blocked across the close, one blocking over and over. */
	gmp_m_init(&rd, fd, &map, 1, GMP_REGISTER_ARMED, body_block_read);
	rd.keep = true;
	ASSERT_EQ(0, pipe2(rd.pfd, O_CLOEXEC));
	ASSERT_EQ(0, gmp_m_start(&rd));
	gmp_m_init(&churn, fd, &map, 2, GMP_REGISTER_ARMED, body_churn);
	churn.keep = true;
	ASSERT_EQ(0, gmp_m_start(&churn));
	ASSERT_TRUE(gmp_wait_u64_ge(&rd.s->blocks, 1, T_MS));
	ASSERT_TRUE(gmp_wait_u64_ge(&churn.s->blocks, 2, T_MS));
	rd.s = churn.s = NULL;
	gmp_unmap(&map);
	EXPECT_EQ(0, close(fd));
	/* The group is gone for user space; its Ms go on. */
	gmp_sleep_ms(50);
	EXPECT_EQ(1, write(rd.pfd[1], "x", 1));
	gmp_sleep_ms(200);
	gmp_set_int(&churn.cmd, 2);
	ASSERT_EQ(0, gmp_m_join(&rd, T_MS));
	ASSERT_EQ(0, gmp_m_join(&churn, T_MS));
	EXPECT_EQ(0, rd.err_line);
	EXPECT_LT(0, churn.count);
	close(rd.pfd[0]);
	close(rd.pfd[1]);
	expect_usable(_metadata);
	expect_released(_metadata, self);
}

static void body_two_reads(struct gmp_m *m)
{
	body_block_read(m);
	body_block_read(m);
}

TEST_F(life, close_fd_mapping_keeps_group)
{
	struct gmp_map map;
	struct gmp_m m;
	int fd = gmp_open();

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, gmp_map(fd, &map));
	gmp_m_init(&m, fd, &map, 1, GMP_REGISTER_ARMED, body_two_reads);
	m.keep = true;
	ASSERT_EQ(0, pipe2(m.pfd, O_CLOEXEC));
	ASSERT_EQ(0, gmp_m_start(&m));
	/* The mapping holds the file: the group goes on recording. */
	EXPECT_EQ(0, close(fd));
	ASSERT_TRUE(gmp_wait_u64_ge(&m.s->blocks, 1, T_MS));
	EXPECT_EQ(1, write(m.pfd[1], "x", 1));
	ASSERT_TRUE(gmp_wait_u64_ge(&m.s->blocks, 2, T_MS));
	EXPECT_EQ(1, write(m.pfd[1], "x", 1));
	ASSERT_EQ(0, gmp_m_join(&m, T_MS));
	EXPECT_TRUE(gmp_wait_u32_ge(&map.ring->tail, 4, T_MS));
	EXPECT_EQ(4U, gmp_load32(&map.ring->tail));
	EXPECT_EQ(2ULL, map.slots[m.slot].unblocks);
	gmp_unmap(&map);
	close(m.pfd[0]);
	close(m.pfd[1]);
	expect_released(_metadata, self);
}

TEST_F(life, register_after_group_closed)
{
	struct gmp_map map;
	int a = gmp_open(), b;

	ASSERT_LE(0, a);
	ASSERT_EQ(0, gmp_map(a, &map));
	ASSERT_EQ(0, gmp_register(a, GMP_REGISTER_ARMED, 1, NULL));
	gmp_unmap(&map);
	EXPECT_EQ(0, close(a));
	/* The old registration went with the group. */
	b = gmp_open();
	ASSERT_LE(0, b);
	EXPECT_EQ(0, gmp_register(b, 0, 1, NULL));
	EXPECT_EQ(0, gmp_unregister(b));
	EXPECT_EQ(0, close(b));
	expect_released(_metadata, self);
}

TEST_F(life, register_after_unmapped_group_closed)
{
	int a = gmp_open(), b;

	/* Never mapped: REGISTER created the memory. */
	ASSERT_LE(0, a);
	ASSERT_EQ(0, gmp_register(a, GMP_REGISTER_ARMED, 1, NULL));
	EXPECT_EQ(0, close(a));
	sys_sleep_ms(1);
	b = gmp_open();
	ASSERT_LE(0, b);
	EXPECT_EQ(0, gmp_register(b, 0, 1, NULL));
	EXPECT_EQ(0, gmp_unregister(b));
	EXPECT_EQ(0, close(b));
	expect_released(_metadata, self);
}

static void body_hold_only(struct gmp_m *m)
{
}

TEST_F(life, closed_group_with_m_counts_in_limit)
{
	int fds[GMP_GROUPS_PER_PROCESS_MAX];
	uint64_t end;
	struct gmp_m m;
	unsigned int i;
	int fd;

	fd = gmp_open();
	ASSERT_LE(0, fd);
	gmp_m_init(&m, fd, NULL, 1, 0, body_hold_only);
	m.hold = true;
	m.keep = true;
	ASSERT_EQ(0, gmp_m_start(&m));
	EXPECT_EQ(0, close(fd));
	/* The closed group lives on for its M, and is counted. */
	for (i = 1; i < ARRAY_SIZE(fds); i++) {
		fds[i] = gmp_open();
		ASSERT_LE(0, fds[i]) {
			TH_LOG("open #%u: %s", i, strerror(errno));
		}
	}
	EXPECT_EQ(-1, gmp_open());
	EXPECT_EQ(EMFILE, errno);
	/* Once the M is gone (freed asynchronously), so is the group. */
	ASSERT_EQ(0, gmp_m_leave(&m, T_MS));
	end = gmp_now_ns() + (uint64_t)GMP_SETTLE_TIMEOUT_MS * NSEC_PER_MSEC;
	do {
		fds[0] = gmp_open();
		if (fds[0] >= 0 || errno != EMFILE)
			break;
		gmp_sleep_ms(10);
	} while (gmp_now_ns() < end);
	EXPECT_LE(0, fds[0]) {
		TH_LOG("open after the M left: %s", strerror(errno));
	}
	for (i = 0; i < ARRAY_SIZE(fds); i++)
		close(fds[i]);
	expect_released(_metadata, self);
}

/* ---- exec ------------------------------------------------------------ */

/* After exec, in the new image: a new group takes this thread. */
static int exec_helper_new(void)
{
	struct gmp_event ev;
	int fd = gmp_open();
	int i;

	if (fd < 0)
		return 10;
	if (gmp_register(fd, GMP_REGISTER_ARMED, 7, NULL))
		return errno == EBUSY ? 11 : 12;
	sys_sleep_ms(20);
	if (gmp_unregister(fd))
		return 13;
	/* The nanosleep was recorded for M 7 (maybe after other blocks). */
	for (i = 0; i < 64; i++) {
		if (gmp_next_event(fd, &ev, T_MS))
			return 14;
		if (ev.type == GMP_EV_BLOCKED && ev.syscall == __NR_nanosleep)
			return ev.m_id == 7 ? 0 : 15;
	}
	return 16;
}

/* After exec with the group's fd inherited: still an M of that group. */
static int exec_helper_inherit(int old)
{
	struct gmp_stats st;
	struct gmp_event ev;
	struct gmp_map map;
	int fd = gmp_open();
	uint32_t i;

	if (fd < 0)
		return 20;
	if (gmp_register(fd, 0, 8, NULL) != -1 || errno != EBUSY)
		return 21;
	if (gmp_stats(old, 0, 0, &st) || st.nr_ms != 1)
		return 22;
	if (gmp_map(old, &map))
		return 23;
	for (i = 0; i < map.info.max_ms; i++)
		if (map.slots[i].state != GMP_SLOT_FREE)
			break;
	if (i == map.info.max_ms || map.slots[i].m_id != 5 ||
	    map.slots[i].tid != (uint32_t)getpid() || !map.slots[i].armed)
		return 24;
	sys_sleep_ms(20);
	if (gmp_unregister(old))
		return 25;
	for (i = 0; i < 64; i++) {
		if (gmp_next_event(old, &ev, T_MS))
			return 26;
		if (ev.type == GMP_EV_BLOCKED && ev.syscall == __NR_nanosleep)
			break;
	}
	if (i == 64 || ev.m_id != 5)
		return 27;
	if (gmp_register(fd, 0, 8, NULL))
		return 28;
	return 0;
}

static int lifetime_hook(int argc, char **argv)
{
	if (argc < 3 || strcmp(argv[1], "--exec-helper"))
		return -1;
	if (!strcmp(argv[2], "new"))
		return exec_helper_new();
	if (!strcmp(argv[2], "inherit") && argc > 3)
		return exec_helper_inherit(atoi(argv[3]));
	return 99;
}

static void exec_self(const char *mode, const char *arg)
{
	execl("/proc/self/exe", gmp_argv0, "--exec-helper", mode, arg,
	      (char *)NULL);
	execl(gmp_argv0, gmp_argv0, "--exec-helper", mode, arg, (char *)NULL);
}

static int child_exec_leader(void *arg)
{
	struct gmp_map map;
	int fd = gmp_open();

	if (fd < 0 || gmp_map(fd, &map))
		return 90;
	if (gmp_register(fd, GMP_REGISTER_ARMED, 1, NULL))
		return 91;
	exec_self("new", NULL);
	return 92;
}

TEST_F(life, exec_by_registered_thread)
{
	EXPECT_EQ(0, gmp_run_child(child_exec_leader, NULL, 3 * T_MS));
	expect_released(_metadata, self);
}

static int child_exec_inherit(void *arg)
{
	char num[16];
	int fd = open(GMP_DEVICE_PATH, O_RDWR);	/* no O_CLOEXEC */

	if (fd < 0)
		return 90;
	if (gmp_register(fd, GMP_REGISTER_ARMED, 5, NULL))
		return 91;
	snprintf(num, sizeof(num), "%d", fd);
	exec_self("inherit", num);
	return 92;
}

TEST_F(life, exec_with_group_fd_inherited)
{
	EXPECT_EQ(0, gmp_run_child(child_exec_inherit, NULL, 3 * T_MS));
	expect_released(_metadata, self);
}

static void body_exec(struct gmp_m *m)
{
	exec_self("new", NULL);
	M_CHECK(m, 0, errno);
}

static int child_exec_from_thread(void *arg)
{
	struct gmp_map map;
	struct gmp_m t;
	int fd = gmp_open();

	if (fd < 0 || gmp_map(fd, &map))
		return 90;
	if (gmp_register(fd, GMP_REGISTER_ARMED, 1, NULL))
		return 91;
	/* A second M execs; the first (the leader) dies in de_thread(). */
	gmp_m_init(&t, fd, &map, 2, GMP_REGISTER_ARMED, body_exec);
	if (gmp_m_start(&t))
		return 92;
	for (;;)
		pause();
	return 93;
}

TEST_F(life, exec_by_secondary_thread)
{
	EXPECT_EQ(0, gmp_run_child(child_exec_from_thread, NULL, 3 * T_MS));
	expect_released(_metadata, self);
}

/* ---- fork and fd passing --------------------------------------------- */

struct fork_ctx {
	int fd;
	int *shared;	/* MAP_SHARED: [0] armed, [1] child done, [2..3] results */
	int status;
};

static int fork_child(struct fork_ctx *c)
{
	uint64_t end = gmp_now_ns() + (uint64_t)T_MS * NSEC_PER_MSEC;
	int i, fd2;

	while (!__atomic_load_n(&c->shared[0], __ATOMIC_ACQUIRE) &&
	       gmp_now_ns() < end)
		sys_sleep_ms(1);
	/* Blocks while the parent's M, which forked this child, is armed. */
	for (i = 0; i < 3; i++)
		sys_sleep_ms(10);
	c->shared[2] = gmp_register(c->fd, 0, 2, NULL) ? errno : 0;
	fd2 = gmp_open();
	c->shared[3] = fd2 < 0 ? 1000 : gmp_register(fd2, 0, 3, NULL) ? errno : 0;
	__atomic_store_n(&c->shared[1], 1, __ATOMIC_RELEASE);
	return 0;
}

static void body_fork(struct gmp_m *m)
{
	struct fork_ctx *c = m->arg;
	uint64_t end;
	pid_t pid;

	pid = fork();
	if (pid == 0)
		_exit(fork_child(c));
	M_CHECK(m, pid > 0, errno);
	if (pid < 0)
		return;
	/* Armed and spinning (no system call) while the child blocks. */
	gmp_arm(m->s);
	__atomic_store_n(&c->shared[0], 1, __ATOMIC_RELEASE);
	end = gmp_now_ns() + (uint64_t)T_MS * NSEC_PER_MSEC;
	while (!__atomic_load_n(&c->shared[1], __ATOMIC_ACQUIRE) &&
	       gmp_now_ns() < end)
		__builtin_ia32_pause();
	gmp_disarm(m->s);
	c->status = gmp_reap(pid, T_MS);
}

TEST_F(life, fork_child_inherits_nothing)
{
	struct fork_ctx c = { 0 };
	struct gmp_stats st;
	struct gmp_map map;
	struct gmp_m m;
	int fd = gmp_open();

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, gmp_map(fd, &map));
	c.fd = fd;
	c.shared = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
			MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, c.shared);
	/*
	 * Fault the page in now: a first touch by the armed M, while the child
	 * faults on the same shmem page, may sleep on the page lock - a real
	 * block of the M's own, which this test is not about.
	 */
	memset(c.shared, 0, 4096);
	gmp_m_init(&m, fd, &map, 1, 0, body_fork);
	m.arg = &c;
	m.hold = true;
	ASSERT_EQ(0, gmp_m_start(&m));
	ASSERT_TRUE(gmp_wait_int(&m.body_done, 1, 3 * T_MS));
	EXPECT_EQ(0, m.err_line);
	EXPECT_EQ(0, gmp_child_result(c.status));
	EXPECT_EQ(1, c.shared[1]);
	/* The parent's fd is refused to the child ... */
	EXPECT_EQ(EPERM, c.shared[2]);
	/* ... the child is in no group and can join its own ... */
	EXPECT_EQ(0, c.shared[3]);
	/* ... and its blocks were never the parent M's. */
	EXPECT_EQ(0ULL, map.slots[m.slot].blocks);
	ASSERT_EQ(0, gmp_stats(fd, 0, 0, &st));
	EXPECT_EQ(0ULL, st.blocks);
	EXPECT_EQ(0U, gmp_load32(&map.ring->tail));
	EXPECT_EQ(0, gmp_m_leave(&m, T_MS));
	EXPECT_EQ(0, m.unreg_errno);
	munmap(c.shared, 4096);
	gmp_unmap(&map);
	EXPECT_EQ(0, close(fd));
	expect_released(_metadata, self);
}

static int send_fd(int sock, int fd)
{
	char buf[CMSG_SPACE(sizeof(int))] = { 0 };
	struct iovec iov = { .iov_base = "F", .iov_len = 1 };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = buf, .msg_controllen = sizeof(buf),
	};
	struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);

	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	return sendmsg(sock, &msg, 0) == 1 ? 0 : -1;
}

static int recv_fd(int sock)
{
	char buf[CMSG_SPACE(sizeof(int))] = { 0 }, c;
	struct iovec iov = { .iov_base = &c, .iov_len = 1 };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = buf, .msg_controllen = sizeof(buf),
	};
	struct cmsghdr *cm;
	int fd;

	if (recvmsg(sock, &msg, 0) != 1)
		return -1;
	cm = CMSG_FIRSTHDR(&msg);
	if (!cm || cm->cmsg_type != SCM_RIGHTS)
		return -1;
	memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	return fd;
}

enum { R_INFO, R_SETUP, R_REGISTER, R_UNREGISTER, R_WAIT, R_STATS, R_READ,
       R_MMAP, R_POLL, R_CLOSE, R_NR };

static int receiver(int sock)
{
	struct gmp_event ev[2];
	struct gmp_info info;
	struct gmp_stats st;
	struct pollfd p = { .events = POLLIN };
	int r[R_NR];
	void *q;
	int fd;

	fd = recv_fd(sock);
	if (fd < 0)
		return 10;
	r[R_INFO] = gmp_errno_of(gmp_info(fd, &info));
	r[R_SETUP] = gmp_errno_of(gmp_setup(fd, 0, 0, 0));
	r[R_REGISTER] = gmp_errno_of(gmp_register(fd, 0, 1, NULL));
	r[R_UNREGISTER] = gmp_errno_of(gmp_unregister(fd));
	r[R_WAIT] = gmp_errno_of(gmp_wait(fd, ev, 2, 0, 0, NULL, NULL));
	r[R_STATS] = gmp_errno_of(gmp_stats(fd, 0, 0, &st));
	fcntl(fd, F_SETFL, O_NONBLOCK);
	r[R_READ] = read(fd, ev, sizeof(ev)) == -1 ? errno : 0;
	q = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	r[R_MMAP] = q == MAP_FAILED ? errno : 0;
	p.fd = fd;
	r[R_POLL] = poll(&p, 1, 0) == 1 ? p.revents : -1;
	r[R_CLOSE] = gmp_errno_of(close(fd));
	return write(sock, r, sizeof(r)) == sizeof(r) ? 0 : 11;
}

TEST_F(life, fd_passed_to_other_process)
{
	struct pollfd p = { .events = POLLIN };
	struct gmp_info info;
	int sv[2], r[R_NR], i;
	pid_t pid;
	int fd;

	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	fflush(stdout);
	fflush(stderr);
	/* Forked before the open: the receiver never inherited the group. */
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		close(sv[0]);
		_exit(receiver(sv[1]));
	}
	close(sv[1]);
	fd = gmp_open();
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, gmp_info(fd, &info));
	ASSERT_EQ(0, send_fd(sv[0], fd));
	p.fd = sv[0];
	ASSERT_EQ(1, poll(&p, 1, T_MS));
	ASSERT_EQ((ssize_t)sizeof(r), read(sv[0], r, sizeof(r)));
	EXPECT_EQ(0, gmp_child_result(gmp_reap(pid, T_MS)));
	for (i = 0; i < R_NR; i++) {
		if (i == R_POLL || i == R_CLOSE)
			continue;
		EXPECT_EQ(EPERM, r[i]) {
			TH_LOG("call %d in the receiver", i);
		}
	}
	EXPECT_EQ(POLLERR, r[R_POLL] & (POLLERR | POLLIN));
	EXPECT_EQ(0, r[R_CLOSE]);
	/* The owner's group is unharmed. */
	EXPECT_EQ(0, gmp_info(fd, &info));
	EXPECT_EQ(0, gmp_register(fd, 0, 1, NULL));
	EXPECT_EQ(0, gmp_unregister(fd));
	EXPECT_EQ(0, close(fd));
	close(sv[0]);
	expect_released(_metadata, self);
}

GMP_HARNESS_MAIN(lifetime_hook)
