// SPDX-License-Identifier: GPL-2.0
/*
 * gmp_api: the ioctl, mmap and file interface of /dev/gmp, without events.
 *
 * - every validation failure of every ioctl (a FIXTURE_VARIANT per ioctl:
 *   size, flags, reserved words, NULL/kernel/unmapped/straddling and
 *   unaligned argument pointers, a command number of the wrong size or
 *   direction, a call from another process), each followed by a valid call
 *   that proves the rejected one had no effect;
 * - INFO, SETUP, REGISTER/UNREGISTER, STATS semantics;
 * - the mapping's layout and permissions;
 * - read(2) and GMP_IOC_WAIT argument checks that need no event.
 */
#include "gmp_test.h"

#include <poll.h>
#include <stddef.h>
#include <termios.h>

#define PAGE_SZ ((size_t)sysconf(_SC_PAGESIZE))

/* ---- one fixture per ioctl: its validation failures ----------------- */

static struct gmp_event wait_events[4];

static void fill_info(void *p)
{
	struct gmp_info *a = p;

	memset(a, 0, sizeof(*a));
	a->size = sizeof(*a);
}

static void fill_setup(void *p)
{
	struct gmp_setup *a = p;

	memset(a, 0, sizeof(*a));
	a->size = sizeof(*a);
}

static void fill_register(void *p)
{
	struct gmp_register *a = p;

	memset(a, 0, sizeof(*a));
	a->size = sizeof(*a);
	a->m_id = 1;
}

static void fill_unregister(void *p)
{
	struct gmp_unregister *a = p;

	memset(a, 0, sizeof(*a));
	a->size = sizeof(*a);
}

static void fill_wait(void *p)
{
	struct gmp_wait *a = p;

	memset(a, 0, sizeof(*a));
	a->size = sizeof(*a);
	a->flags = GMP_WAIT_NONBLOCK;
	a->timeout_ns = 0;
	a->events = (uintptr_t)wait_events;
	a->max_events = 4;
}

static void fill_stats(void *p)
{
	struct gmp_stats *a = p;

	memset(a, 0, sizeof(*a));
	a->size = sizeof(*a);
}

FIXTURE(ioctl) {
	int fd;
	char *buf;	/* two RW pages, then an inaccessible one */
	char *arg;	/* a valid argument, 64 bytes into the first page */
};

FIXTURE_VARIANT(ioctl) {
	unsigned long cmd;
	unsigned int size;
	unsigned int reserved_off;
	unsigned int nr_reserved;
	uint32_t valid_flags;
	int valid_errno;	/* what a valid call returns: 0 or EAGAIN */
	bool registered;	/* the test thread is an M first */
	void (*fill)(void *arg);
};

FIXTURE_VARIANT_ADD(ioctl, info) {
	.cmd = GMP_IOC_INFO,
	.size = sizeof(struct gmp_info),
	.reserved_off = offsetof(struct gmp_info, reserved),
	.nr_reserved = 4,
	.valid_flags = 0,
	.fill = fill_info,
};

FIXTURE_VARIANT_ADD(ioctl, setup) {
	.cmd = GMP_IOC_SETUP,
	.size = sizeof(struct gmp_setup),
	.reserved_off = offsetof(struct gmp_setup, reserved),
	.nr_reserved = 2,
	.valid_flags = GMP_SETUP_ALL,
	.fill = fill_setup,
};

FIXTURE_VARIANT_ADD(ioctl, register) {
	.cmd = GMP_IOC_REGISTER,
	.size = sizeof(struct gmp_register),
	.reserved_off = offsetof(struct gmp_register, reserved),
	.nr_reserved = 2,
	.valid_flags = GMP_REGISTER_ALL,
	.fill = fill_register,
};

FIXTURE_VARIANT_ADD(ioctl, unregister) {
	.cmd = GMP_IOC_UNREGISTER,
	.size = sizeof(struct gmp_unregister),
	.reserved_off = offsetof(struct gmp_unregister, reserved),
	.nr_reserved = 2,
	.valid_flags = 0,
	.registered = true,
	.fill = fill_unregister,
};

FIXTURE_VARIANT_ADD(ioctl, wait) {
	.cmd = GMP_IOC_WAIT,
	.size = sizeof(struct gmp_wait),
	.reserved_off = offsetof(struct gmp_wait, reserved),
	.nr_reserved = 2,
	.valid_flags = GMP_WAIT_ALL,
	.valid_errno = EAGAIN,
	.fill = fill_wait,
};

FIXTURE_VARIANT_ADD(ioctl, stats) {
	.cmd = GMP_IOC_STATS,
	.size = sizeof(struct gmp_stats),
	.reserved_off = offsetof(struct gmp_stats, reserved),
	.nr_reserved = 3,
	.valid_flags = GMP_STATS_ALL,
	.fill = fill_stats,
};

FIXTURE_SETUP(ioctl)
{
	self->fd = gmp_open();
	ASSERT_LE(0, self->fd);
	self->buf = mmap(NULL, 3 * PAGE_SZ, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->buf);
	/* Inaccessible, but kept: no later mapping may land there. */
	ASSERT_EQ(0, mprotect(self->buf + 2 * PAGE_SZ, PAGE_SZ, PROT_NONE));
	self->arg = self->buf + 64;
	if (variant->registered) {
		ASSERT_EQ(0, gmp_register(self->fd, 0, 1, NULL));
	}
}

FIXTURE_TEARDOWN(ioctl)
{
	if (self->buf)
		munmap(self->buf, 3 * PAGE_SZ);
	if (self->fd >= 0)
		close(self->fd);
}

/* Issue cmd on a fresh valid argument at p; returns the errno (0: success). */
static int call_at(int fd, const FIXTURE_VARIANT(ioctl) *v, void *p)
{
	char tmp[256] __attribute__((aligned(8)));

	v->fill(tmp);
	memcpy(p, tmp, v->size);
	return gmp_errno_of(ioctl(fd, v->cmd, p));
}

/* The valid call still does what it should: nothing was changed before. */
#define EXPECT_VALID_CALL() \
	EXPECT_EQ(variant->valid_errno, call_at(self->fd, variant, self->arg))

TEST_F(ioctl, valid_arg)
{
	EXPECT_VALID_CALL();
}

TEST_F(ioctl, size_zero)
{
	variant->fill(self->arg);
	*(uint32_t *)self->arg = 0;
	EXPECT_EQ(-1, ioctl(self->fd, variant->cmd, self->arg));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_VALID_CALL();
}

TEST_F(ioctl, size_smaller)
{
	variant->fill(self->arg);
	*(uint32_t *)self->arg = variant->size - 8;
	EXPECT_EQ(-1, ioctl(self->fd, variant->cmd, self->arg));
	EXPECT_EQ(EINVAL, errno);

	variant->fill(self->arg);
	*(uint32_t *)self->arg = variant->size - 1;
	EXPECT_EQ(-1, ioctl(self->fd, variant->cmd, self->arg));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_VALID_CALL();
}

TEST_F(ioctl, size_larger)
{
	variant->fill(self->arg);
	*(uint32_t *)self->arg = variant->size + 8;
	EXPECT_EQ(-1, ioctl(self->fd, variant->cmd, self->arg));
	EXPECT_EQ(EINVAL, errno);

	variant->fill(self->arg);
	*(uint32_t *)self->arg = 0xffffffff;
	EXPECT_EQ(-1, ioctl(self->fd, variant->cmd, self->arg));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_VALID_CALL();
}

TEST_F(ioctl, unknown_flags)
{
	int bit;

	for (bit = 0; bit < 32; bit++) {
		uint32_t flag = 1U << bit;

		if (flag & variant->valid_flags)
			continue;
		variant->fill(self->arg);
		((uint32_t *)self->arg)[1] = flag;
		EXPECT_EQ(-1, ioctl(self->fd, variant->cmd, self->arg)) {
			TH_LOG("flag bit %d accepted", bit);
		}
		EXPECT_EQ(EINVAL, errno) {
			TH_LOG("flag bit %d", bit);
		}
	}
	/* Unknown bits next to valid ones are refused too. */
	variant->fill(self->arg);
	((uint32_t *)self->arg)[1] = variant->valid_flags | ~variant->valid_flags;
	EXPECT_EQ(-1, ioctl(self->fd, variant->cmd, self->arg));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_VALID_CALL();
}

TEST_F(ioctl, reserved_nonzero)
{
	static const uint64_t values[] = { 1, 1ULL << 32, 1ULL << 63 };
	unsigned int i, v;

	for (i = 0; i < variant->nr_reserved; i++) {
		for (v = 0; v < ARRAY_SIZE(values); v++) {
			uint64_t *res;

			variant->fill(self->arg);
			res = (uint64_t *)(self->arg + variant->reserved_off);
			res[i] = values[v];
			EXPECT_EQ(-1, ioctl(self->fd, variant->cmd, self->arg)) {
				TH_LOG("reserved[%u] = %#llx accepted", i,
				       (unsigned long long)values[v]);
			}
			EXPECT_EQ(EINVAL, errno) {
				TH_LOG("reserved[%u] = %#llx", i,
				       (unsigned long long)values[v]);
			}
		}
	}
	EXPECT_VALID_CALL();
}

TEST_F(ioctl, null_arg)
{
	EXPECT_EQ(-1, ioctl(self->fd, variant->cmd, NULL));
	EXPECT_EQ(EFAULT, errno);
	EXPECT_VALID_CALL();
}

TEST_F(ioctl, kernel_arg)
{
	EXPECT_EQ(-1, ioctl(self->fd, variant->cmd, GMP_KERNEL_PTR));
	EXPECT_EQ(EFAULT, errno);
	EXPECT_EQ(-1, ioctl(self->fd, variant->cmd, GMP_NONCANON_PTR));
	EXPECT_EQ(EFAULT, errno);
	EXPECT_EQ(-1, ioctl(self->fd, variant->cmd, (void *)-8L));
	EXPECT_EQ(EFAULT, errno);
	EXPECT_VALID_CALL();
}

TEST_F(ioctl, unmapped_arg)
{
	EXPECT_EQ(-1, ioctl(self->fd, variant->cmd, self->buf + 2 * PAGE_SZ));
	EXPECT_EQ(EFAULT, errno);
	EXPECT_VALID_CALL();
}

TEST_F(ioctl, straddling_arg)
{
	/* A valid struct whose last 8 bytes lie in the inaccessible page. */
	char *p = self->buf + 2 * PAGE_SZ - (variant->size - 8);

	variant->fill(self->arg);
	memcpy(p, self->arg, variant->size - 8);
	EXPECT_EQ(-1, ioctl(self->fd, variant->cmd, p));
	EXPECT_EQ(EFAULT, errno);
	EXPECT_VALID_CALL();
}

TEST_F(ioctl, unaligned_arg)
{
	EXPECT_EQ(variant->valid_errno,
		  call_at(self->fd, variant, self->buf + 1));
}

TEST_F(ioctl, unaligned_arg_page_end)
{
	/* Odd address, ending exactly at the end of the mapped pages. */
	char *p = self->buf + 2 * PAGE_SZ - variant->size;

	EXPECT_EQ(variant->valid_errno,
		  call_at(self->fd, variant, p));
	p = self->buf + PAGE_SZ - variant->size / 2 + 3;
	if (variant->valid_errno == 0 && variant->cmd != GMP_IOC_INFO &&
	    variant->cmd != GMP_IOC_STATS)
		return; /* one successful state change per test */
	EXPECT_EQ(variant->valid_errno,
		  call_at(self->fd, variant, p));
}

TEST_F(ioctl, cmd_size_mismatch)
{
	unsigned long nr = _IOC_NR(variant->cmd);
	unsigned int sizes[] = { variant->size + 8, variant->size - 8, 0 };
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(sizes); i++) {
		unsigned long cmd = _IOC(_IOC_READ | _IOC_WRITE, GMP_IOC_MAGIC,
					 nr, sizes[i]);

		variant->fill(self->arg);
		EXPECT_EQ(-1, ioctl(self->fd, cmd, self->arg)) {
			TH_LOG("size %u in the command accepted", sizes[i]);
		}
		EXPECT_EQ(ENOTTY, errno) {
			TH_LOG("size %u in the command", sizes[i]);
		}
	}
	EXPECT_VALID_CALL();
}

TEST_F(ioctl, cmd_direction_mismatch)
{
	unsigned long nr = _IOC_NR(variant->cmd);
	unsigned int dirs[] = { _IOC_NONE, _IOC_READ, _IOC_WRITE };
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(dirs); i++) {
		unsigned long cmd = _IOC(dirs[i], GMP_IOC_MAGIC, nr,
					 variant->size);

		variant->fill(self->arg);
		EXPECT_EQ(-1, ioctl(self->fd, cmd, self->arg)) {
			TH_LOG("direction %u accepted", dirs[i]);
		}
		EXPECT_EQ(ENOTTY, errno) {
			TH_LOG("direction %u", dirs[i]);
		}
	}
	EXPECT_VALID_CALL();
}

struct child_call {
	int fd;
	unsigned long cmd;
	void (*fill)(void *arg);
};

static int child_do_call(void *p)
{
	struct child_call *c = p;
	char arg[256] __attribute__((aligned(8)));

	c->fill(arg);
	return gmp_errno_of(ioctl(c->fd, c->cmd, arg));
}

TEST_F(ioctl, other_process)
{
	struct child_call c = { self->fd, variant->cmd, variant->fill };

	EXPECT_EQ(EPERM, gmp_run_child(child_do_call, &c, GMP_EVENT_TIMEOUT_MS));
	EXPECT_VALID_CALL();
}

/* ---- commands that are not gmp's ------------------------------------ */

FIXTURE(api) {
	int fd;
};

FIXTURE_SETUP(api)
{
	self->fd = gmp_open();
	ASSERT_LE(0, self->fd);
}

FIXTURE_TEARDOWN(api)
{
	if (self->fd >= 0)
		close(self->fd);
}

TEST_F(api, unknown_nr_enotty)
{
	static const unsigned int nrs[] = { 0x06, 0x07, 0x40, 0xff };
	char arg[256] = { 0 };
	unsigned int i;

	*(uint32_t *)arg = 64;
	for (i = 0; i < ARRAY_SIZE(nrs); i++) {
		unsigned long cmd = _IOWR(GMP_IOC_MAGIC, nrs[i], char[64]);

		EXPECT_EQ(-1, ioctl(self->fd, cmd, arg)) {
			TH_LOG("nr %#x accepted", nrs[i]);
		}
		EXPECT_EQ(ENOTTY, errno) {
			TH_LOG("nr %#x", nrs[i]);
		}
	}
}

TEST_F(api, wrong_magic_enotty)
{
	struct gmp_info info;

	fill_info(&info);
	EXPECT_EQ(-1, ioctl(self->fd, _IOWR(GMP_IOC_MAGIC + 1, 0x00,
					    struct gmp_info), &info));
	EXPECT_EQ(ENOTTY, errno);
	EXPECT_EQ(-1, ioctl(self->fd, _IOWR(0, 0x00, struct gmp_info), &info));
	EXPECT_EQ(ENOTTY, errno);
}

TEST_F(api, tty_ioctl_enotty)
{
	struct termios t;

	EXPECT_EQ(-1, ioctl(self->fd, TCGETS, &t));
	EXPECT_EQ(ENOTTY, errno);
	EXPECT_EQ(0, isatty(self->fd));
}

/* ---- open / close / INFO -------------------------------------------- */

TEST(open_close)
{
	int a = gmp_open();
	int b;

	ASSERT_LE(0, a);
	b = gmp_open();
	ASSERT_LE(0, b);
	EXPECT_NE(a, b);
	EXPECT_EQ(0, close(a));
	EXPECT_EQ(0, close(b));
}

TEST(open_groups_per_process_limit)
{
	int fds[GMP_GROUPS_PER_PROCESS_MAX];
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(fds); i++) {
		fds[i] = gmp_open();
		ASSERT_LE(0, fds[i]) {
			TH_LOG("open #%u: %s", i, strerror(errno));
		}
	}
	EXPECT_EQ(-1, gmp_open());
	EXPECT_EQ(EMFILE, errno);
	/* A closed group (no M left in it) makes room again. */
	EXPECT_EQ(0, close(fds[0]));
	fds[0] = gmp_open();
	EXPECT_LE(0, fds[0]);
	for (i = 0; i < ARRAY_SIZE(fds); i++)
		close(fds[i]);
}

static int child_open_groups(void *arg)
{
	int i;

	/* Another process has a count of its own. */
	for (i = 0; i < GMP_GROUPS_PER_PROCESS_MAX; i++)
		if (gmp_open() < 0)
			return 10 + i;
	return gmp_open() == -1 && errno == EMFILE ? 0 : 100;
}

TEST(open_groups_limit_is_per_process)
{
	int fds[GMP_GROUPS_PER_PROCESS_MAX];
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(fds); i++) {
		fds[i] = gmp_open();
		ASSERT_LE(0, fds[i]);
	}
	EXPECT_EQ(0, gmp_run_child(child_open_groups, NULL, GMP_EVENT_TIMEOUT_MS));
	for (i = 0; i < ARRAY_SIZE(fds); i++)
		close(fds[i]);
}

TEST_F(api, info_fills_every_field)
{
	struct gmp_info info;

	memset(&info, 0xcc, sizeof(info));
	info.size = sizeof(info);
	info.flags = 0;
	memset(info.reserved, 0, sizeof(info.reserved));
	ASSERT_EQ(0, ioctl(self->fd, GMP_IOC_INFO, &info));
	EXPECT_EQ(sizeof(info), info.size);
	EXPECT_EQ(U32(GMP_ABI_VERSION), info.abi_version);
	EXPECT_EQ(0U, info.group_flags);
	EXPECT_NE(0xccccccccccccccccULL, info.features);
	EXPECT_EQ(U32(GMP_RING_ENTRIES_DEFAULT), info.ring_entries);
	EXPECT_EQ(U32(GMP_MAX_MS_DEFAULT), info.max_ms);
	EXPECT_EQ(sizeof(struct gmp_event), info.event_size);
	EXPECT_EQ(sizeof(struct gmp_slot), info.slot_size);
	EXPECT_NE(0xccccccccccccccccULL, info.ring_offset);
	EXPECT_NE(0xccccccccccccccccULL, info.events_offset);
	EXPECT_NE(0xccccccccccccccccULL, info.slots_offset);
	EXPECT_NE(0xccccccccccccccccULL, info.mmap_size);
}

TEST_F(api, info_features)
{
	const uint64_t required = GMP_FEAT_BLOCKED | GMP_FEAT_UNBLOCKED |
		GMP_FEAT_PREEMPTED | GMP_FEAT_WAIT | GMP_FEAT_READ |
		GMP_FEAT_POLL | GMP_FEAT_MMAP;
	struct gmp_info info;

	ASSERT_EQ(0, gmp_info(self->fd, &info));
	EXPECT_EQ(required, info.features & required);
	EXPECT_EQ(0ULL, info.features & ~GMP_FEAT_ALL);
	if (!(info.features & GMP_FEAT_LOCAL_WAKE))
		TH_LOG("GMP_FEAT_LOCAL_WAKE not reported");
}

TEST_F(api, info_layout)
{
	struct gmp_info info;

	ASSERT_EQ(0, gmp_info(self->fd, &info));
	EXPECT_EQ(0ULL, info.ring_offset % 64);
	EXPECT_LE(info.ring_offset + sizeof(struct gmp_ring), info.events_offset);
	EXPECT_EQ(0ULL, info.events_offset % 8);
	EXPECT_LE(info.events_offset +
		  (uint64_t)info.ring_entries * info.event_size,
		  info.slots_offset);
	EXPECT_EQ(0ULL, info.slots_offset % 64);
	EXPECT_LE(info.slots_offset + (uint64_t)info.max_ms * info.slot_size,
		  info.mmap_size);
	EXPECT_EQ(0ULL, info.mmap_size % PAGE_SZ);
}

TEST_F(api, info_stable)
{
	struct gmp_info a, b;

	ASSERT_EQ(0, gmp_info(self->fd, &a));
	ASSERT_EQ(0, gmp_info(self->fd, &b));
	EXPECT_EQ(0, memcmp(&a, &b, sizeof(a)));
}

TEST_F(api, info_readonly_arg_efault)
{
	struct gmp_info *p = mmap(NULL, PAGE_SZ, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	ASSERT_NE(MAP_FAILED, p);
	fill_info(p);
	ASSERT_EQ(0, mprotect(p, PAGE_SZ, PROT_READ));
	EXPECT_EQ(-1, ioctl(self->fd, GMP_IOC_INFO, p));
	EXPECT_EQ(EFAULT, errno);
	munmap(p, PAGE_SZ);
}

TEST_F(api, dup_shares_group)
{
	struct gmp_stats st;
	int fd2 = dup(self->fd);

	ASSERT_LE(0, fd2);
	ASSERT_EQ(0, gmp_register(self->fd, 0, 5, NULL));
	ASSERT_EQ(0, gmp_stats(fd2, 0, 0, &st));
	EXPECT_EQ(1U, st.nr_ms);
	EXPECT_EQ(-1, gmp_register(fd2, 0, 6, NULL));
	EXPECT_EQ(EBUSY, errno);
	EXPECT_EQ(0, gmp_unregister(fd2));
	close(fd2);
}

/* ---- SETUP ---------------------------------------------------------- */

TEST_F(api, setup_defaults)
{
	struct gmp_info info;

	ASSERT_EQ(0, gmp_setup(self->fd, 0, 0, 0));
	ASSERT_EQ(0, gmp_info(self->fd, &info));
	EXPECT_EQ(U32(GMP_RING_ENTRIES_DEFAULT), info.ring_entries);
	EXPECT_EQ(U32(GMP_MAX_MS_DEFAULT), info.max_ms);
	EXPECT_EQ(0U, info.group_flags);
}

TEST_F(api, setup_applies)
{
	struct gmp_info info;
	struct gmp_map m;

	ASSERT_EQ(0, gmp_setup(self->fd, GMP_SETUP_PREEMPTED, 16, 4));
	ASSERT_EQ(0, gmp_info(self->fd, &info));
	EXPECT_EQ(16U, info.ring_entries);
	EXPECT_EQ(4U, info.max_ms);
	EXPECT_EQ(GMP_SETUP_PREEMPTED, info.group_flags);
	EXPECT_LE(info.events_offset + 16ULL * info.event_size,
		  info.slots_offset);
	EXPECT_LE(info.slots_offset + 4ULL * info.slot_size, info.mmap_size);

	ASSERT_EQ(0, gmp_map(self->fd, &m));
	EXPECT_EQ(16U, m.ring->entries);
	EXPECT_EQ(0, memcmp(&info, &m.info, sizeof(info)));
	gmp_unmap(&m);
}

TEST_F(api, setup_all_flags)
{
	struct gmp_info info;

	ASSERT_EQ(0, gmp_setup(self->fd, GMP_SETUP_ALL, 0, 0));
	ASSERT_EQ(0, gmp_info(self->fd, &info));
	EXPECT_EQ(GMP_SETUP_ALL, info.group_flags);
}

TEST_F(api, setup_ring_entries_invalid)
{
	static const uint32_t bad[] = {
		1, 2, 8, 15, 17, 24, 1000, 65535, 65537, 131072, 1U << 31,
		0xffffffff,
	};
	struct gmp_info info;
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		EXPECT_EQ(-1, gmp_setup(self->fd, 0, bad[i], 0)) {
			TH_LOG("ring_entries %u accepted", bad[i]);
		}
		EXPECT_EQ(EINVAL, errno) {
			TH_LOG("ring_entries %u", bad[i]);
		}
	}
	ASSERT_EQ(0, gmp_info(self->fd, &info));
	EXPECT_EQ(U32(GMP_RING_ENTRIES_DEFAULT), info.ring_entries);
}

TEST(setup_ring_entries_limits)
{
	static const uint32_t good[] = {
		GMP_RING_ENTRIES_MIN, 32, 4096, GMP_RING_ENTRIES_MAX,
	};
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(good); i++) {
		struct gmp_info info;
		struct gmp_map m;
		int fd = gmp_open();

		ASSERT_LE(0, fd);
		EXPECT_EQ(0, gmp_setup(fd, 0, good[i], 0)) {
			TH_LOG("ring_entries %u: %s", good[i], strerror(errno));
		}
		ASSERT_EQ(0, gmp_info(fd, &info));
		EXPECT_EQ(good[i], info.ring_entries);
		ASSERT_EQ(0, gmp_map(fd, &m));
		EXPECT_EQ(good[i], m.ring->entries);
		gmp_unmap(&m);
		close(fd);
	}
}

TEST_F(api, setup_max_ms_invalid)
{
	static const uint32_t bad[] = { GMP_MAX_MS_MAX + 1, 65536, 0xffffffff };
	struct gmp_info info;
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		EXPECT_EQ(-1, gmp_setup(self->fd, 0, 0, bad[i])) {
			TH_LOG("max_ms %u accepted", bad[i]);
		}
		EXPECT_EQ(EINVAL, errno) {
			TH_LOG("max_ms %u", bad[i]);
		}
	}
	ASSERT_EQ(0, gmp_info(self->fd, &info));
	EXPECT_EQ(U32(GMP_MAX_MS_DEFAULT), info.max_ms);
}

TEST(setup_max_ms_limits)
{
	static const uint32_t good[] = { 1, 2, 1000, GMP_MAX_MS_MAX };
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(good); i++) {
		struct gmp_info info;
		struct gmp_map m;
		int fd = gmp_open();

		ASSERT_LE(0, fd);
		EXPECT_EQ(0, gmp_setup(fd, 0, 0, good[i])) {
			TH_LOG("max_ms %u: %s", good[i], strerror(errno));
		}
		ASSERT_EQ(0, gmp_info(fd, &info));
		EXPECT_EQ(good[i], info.max_ms);
		EXPECT_LE(info.slots_offset +
			  (uint64_t)good[i] * info.slot_size, info.mmap_size);
		ASSERT_EQ(0, gmp_map(fd, &m));
		/* The last slot is mapped and free. */
		EXPECT_EQ(U32(GMP_SLOT_FREE), m.slots[good[i] - 1].state);
		gmp_unmap(&m);
		close(fd);
	}
}

TEST(setup_largest_group)
{
	struct gmp_info info;
	struct gmp_map m;
	int fd = gmp_open();

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, gmp_setup(fd, GMP_SETUP_ALL, GMP_RING_ENTRIES_MAX,
			       GMP_MAX_MS_MAX));
	/* The documented bound of a group's memory (gmp.h, README). */
	ASSERT_EQ(0, gmp_info(fd, &info));
	EXPECT_GE(4096ULL + GMP_RING_ENTRIES_MAX * 32ULL + GMP_MAX_MS_MAX * 64ULL,
		  info.mmap_size);
	ASSERT_EQ(0, gmp_map(fd, &m));
	EXPECT_EQ((uint32_t)GMP_RING_ENTRIES_MAX, m.ring->entries);
	EXPECT_EQ(U32(GMP_SLOT_FREE), m.slots[GMP_MAX_MS_MAX - 1].state);
	gmp_unmap(&m);
	close(fd);
}

TEST_F(api, setup_after_info)
{
	struct gmp_info info;

	ASSERT_EQ(0, gmp_info(self->fd, &info));
	EXPECT_EQ(0, gmp_setup(self->fd, 0, 16, 2));
	ASSERT_EQ(0, gmp_info(self->fd, &info));
	EXPECT_EQ(16U, info.ring_entries);
}

TEST_F(api, setup_after_mmap_ebusy)
{
	struct gmp_info info;
	struct gmp_map m;

	ASSERT_EQ(0, gmp_map(self->fd, &m));
	EXPECT_EQ(-1, gmp_setup(self->fd, 0, 16, 2));
	EXPECT_EQ(EBUSY, errno);
	ASSERT_EQ(0, gmp_info(self->fd, &info));
	EXPECT_EQ(U32(GMP_RING_ENTRIES_DEFAULT), info.ring_entries);
	gmp_unmap(&m);
	/* Still busy: the memory exists until the group goes away. */
	EXPECT_EQ(-1, gmp_setup(self->fd, 0, 16, 2));
	EXPECT_EQ(EBUSY, errno);
}

TEST_F(api, setup_after_register_ebusy)
{
	ASSERT_EQ(0, gmp_register(self->fd, 0, 1, NULL));
	EXPECT_EQ(-1, gmp_setup(self->fd, 0, 16, 2));
	EXPECT_EQ(EBUSY, errno);
	EXPECT_EQ(0, gmp_unregister(self->fd));
	EXPECT_EQ(-1, gmp_setup(self->fd, 0, 16, 2));
	EXPECT_EQ(EBUSY, errno);
}

/* ---- REGISTER / UNREGISTER ------------------------------------------ */

FIXTURE(reg) {
	int fd;
	struct gmp_map m;
};

FIXTURE_SETUP(reg)
{
	self->fd = gmp_open();
	ASSERT_LE(0, self->fd);
	ASSERT_EQ(0, gmp_map(self->fd, &self->m));
}

FIXTURE_TEARDOWN(reg)
{
	gmp_unmap(&self->m);
	if (self->fd >= 0)
		close(self->fd);
}

TEST_F(reg, register_fills_slot)
{
	struct gmp_register r;
	struct gmp_slot *s;

	memset(&r, 0, sizeof(r));
	r.size = sizeof(r);
	r.m_id = 42;
	r.slot = 0xdeadbeef;
	ASSERT_EQ(0, ioctl(self->fd, GMP_IOC_REGISTER, &r));
	ASSERT_LT(r.slot, self->m.info.max_ms);
	s = gmp_slot(&self->m, r.slot);
	EXPECT_EQ(U32(GMP_SLOT_RUNNING), gmp_load32(&s->state));
	EXPECT_EQ(42U, s->m_id);
	EXPECT_EQ((uint32_t)gmp_gettid(), s->tid);
	EXPECT_EQ(0U, s->armed);
	EXPECT_EQ(0ULL, s->blocks);
	EXPECT_EQ(0ULL, s->unblocks);
	EXPECT_EQ(0ULL, s->preempts);
	EXPECT_EQ(0, gmp_unregister(self->fd));
}

TEST_F(reg, register_armed_flag)
{
	uint32_t slot;

	ASSERT_EQ(0, gmp_register(self->fd, GMP_REGISTER_ARMED, 7, &slot));
	ASSERT_LT(slot, self->m.info.max_ms);
	EXPECT_NE(0U, gmp_slot(&self->m, slot)->armed);
	EXPECT_EQ(0, gmp_unregister(self->fd));
}

TEST_F(reg, register_m_id_extremes)
{
	uint32_t slot;

	ASSERT_EQ(0, gmp_register(self->fd, 0, 0, &slot));
	EXPECT_EQ(0U, gmp_slot(&self->m, slot)->m_id);
	ASSERT_EQ(0, gmp_unregister(self->fd));
	ASSERT_EQ(0, gmp_register(self->fd, 0, 0xfffffffe, &slot));
	EXPECT_EQ(0xfffffffeU, gmp_slot(&self->m, slot)->m_id);
	EXPECT_EQ(0, gmp_unregister(self->fd));
}

TEST_F(reg, register_twice_ebusy)
{
	ASSERT_EQ(0, gmp_register(self->fd, 0, 1, NULL));
	EXPECT_EQ(-1, gmp_register(self->fd, 0, 2, NULL));
	EXPECT_EQ(EBUSY, errno);
	EXPECT_EQ(-1, gmp_register(self->fd, 0, 1, NULL));
	EXPECT_EQ(EBUSY, errno);
	EXPECT_EQ(0, gmp_unregister(self->fd));
}

TEST_F(reg, register_in_second_group_ebusy)
{
	int fd2 = gmp_open();

	ASSERT_LE(0, fd2);
	ASSERT_EQ(0, gmp_register(self->fd, 0, 1, NULL));
	EXPECT_EQ(-1, gmp_register(fd2, 0, 1, NULL));
	EXPECT_EQ(EBUSY, errno);
	/* Once out of the first group, the second one takes the thread. */
	EXPECT_EQ(0, gmp_unregister(self->fd));
	EXPECT_EQ(0, gmp_register(fd2, 0, 1, NULL));
	EXPECT_EQ(0, gmp_unregister(fd2));
	close(fd2);
}

TEST_F(reg, register_same_m_id_eexist)
{
	struct gmp_m other;

	ASSERT_EQ(0, gmp_register(self->fd, 0, 9, NULL));
	gmp_m_init(&other, self->fd, NULL, 9, 0, NULL);
	EXPECT_EQ(-1, gmp_m_start(&other));
	EXPECT_EQ(EEXIST, other.reg_errno);
	ASSERT_EQ(0, gmp_m_join(&other, GMP_EVENT_TIMEOUT_MS));
	EXPECT_EQ(0, gmp_unregister(self->fd));
}

TEST_F(reg, register_m_id_reusable_after_unregister)
{
	struct gmp_m other;

	ASSERT_EQ(0, gmp_register(self->fd, 0, 9, NULL));
	ASSERT_EQ(0, gmp_unregister(self->fd));
	gmp_m_init(&other, self->fd, NULL, 9, 0, NULL);
	EXPECT_EQ(0, gmp_m_start(&other));
	ASSERT_EQ(0, gmp_m_join(&other, GMP_EVENT_TIMEOUT_MS));
	EXPECT_EQ(0, other.unreg_errno);
}

static void body_hold(struct gmp_m *m)
{
	/* Stay registered until told to leave. */
	gmp_wait_int(&m->cmd, 1, 60000);
}

TEST_F(reg, register_distinct_slots)
{
	struct gmp_m ms[4];
	uint32_t mine;
	unsigned int i, j;

	ASSERT_EQ(0, gmp_register(self->fd, 0, 100, &mine));
	for (i = 0; i < ARRAY_SIZE(ms); i++) {
		gmp_m_init(&ms[i], self->fd, &self->m, i, 0, body_hold);
		ASSERT_EQ(0, gmp_m_start(&ms[i]));
	}
	for (i = 0; i < ARRAY_SIZE(ms); i++) {
		struct gmp_slot *s = gmp_slot(&self->m, ms[i].slot);

		EXPECT_NE(mine, ms[i].slot);
		EXPECT_LT(ms[i].slot, self->m.info.max_ms);
		EXPECT_EQ(i, s->m_id);
		EXPECT_EQ((uint32_t)ms[i].tid, s->tid);
		EXPECT_EQ(U32(GMP_SLOT_RUNNING), gmp_load32(&s->state));
		for (j = 0; j < i; j++) {
			EXPECT_NE(ms[j].slot, ms[i].slot);
		}
	}
	for (i = 0; i < ARRAY_SIZE(ms); i++) {
		gmp_set_int(&ms[i].cmd, 1);
		ASSERT_EQ(0, gmp_m_join(&ms[i], GMP_EVENT_TIMEOUT_MS));
		EXPECT_EQ(0, ms[i].unreg_errno);
	}
	EXPECT_EQ(0, gmp_unregister(self->fd));
}

TEST_F(reg, register_counts_in_stats)
{
	struct gmp_m ms[3];
	struct gmp_stats st;
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(ms); i++) {
		gmp_m_init(&ms[i], self->fd, &self->m, i, 0, body_hold);
		ASSERT_EQ(0, gmp_m_start(&ms[i]));
		ASSERT_EQ(0, gmp_stats(self->fd, 0, 0, &st));
		EXPECT_EQ(i + 1, st.nr_ms);
	}
	for (i = 0; i < ARRAY_SIZE(ms); i++) {
		gmp_set_int(&ms[i].cmd, 1);
		ASSERT_EQ(0, gmp_m_join(&ms[i], GMP_EVENT_TIMEOUT_MS));
		ASSERT_EQ(0, gmp_stats(self->fd, 0, 0, &st));
		EXPECT_EQ(ARRAY_SIZE(ms) - 1 - i, st.nr_ms);
	}
}

TEST(register_slots_exhausted_enospc)
{
	struct gmp_m a, b;
	int fd = gmp_open();

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, gmp_setup(fd, 0, 0, 1));
	gmp_m_init(&a, fd, NULL, 1, 0, body_hold);
	ASSERT_EQ(0, gmp_m_start(&a));
	EXPECT_EQ(-1, gmp_register(fd, 0, 2, NULL));
	EXPECT_EQ(ENOSPC, errno);
	/* A freed slot is taken again. */
	gmp_set_int(&a.cmd, 1);
	ASSERT_EQ(0, gmp_m_join(&a, GMP_EVENT_TIMEOUT_MS));
	ASSERT_EQ(0, a.unreg_errno);
	EXPECT_EQ(0, gmp_register(fd, 0, 2, NULL));
	gmp_m_init(&b, fd, NULL, 3, 0, NULL);
	EXPECT_EQ(-1, gmp_m_start(&b));
	EXPECT_EQ(ENOSPC, b.reg_errno);
	gmp_m_join(&b, GMP_EVENT_TIMEOUT_MS);
	EXPECT_EQ(0, gmp_unregister(fd));
	close(fd);
}

TEST(register_before_mmap)
{
	struct gmp_map m;
	uint32_t slot;
	int fd = gmp_open();

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, gmp_register(fd, GMP_REGISTER_ARMED, 77, &slot));
	ASSERT_EQ(0, gmp_map(fd, &m));
	ASSERT_LT(slot, m.info.max_ms);
	EXPECT_EQ(77U, m.slots[slot].m_id);
	EXPECT_EQ(U32(GMP_SLOT_RUNNING), m.slots[slot].state);
	EXPECT_NE(0U, m.slots[slot].armed);
	EXPECT_EQ(0, gmp_unregister(fd));
	gmp_unmap(&m);
	close(fd);
}

TEST_F(reg, unregister_frees_slot)
{
	struct gmp_stats st;
	uint32_t slot;

	ASSERT_EQ(0, gmp_register(self->fd, GMP_REGISTER_ARMED, 3, &slot));
	ASSERT_EQ(0, gmp_unregister(self->fd));
	EXPECT_EQ(U32(GMP_SLOT_FREE), gmp_load32(&gmp_slot(&self->m, slot)->state));
	ASSERT_EQ(0, gmp_stats(self->fd, 0, 0, &st));
	EXPECT_EQ(0U, st.nr_ms);
	EXPECT_EQ(-1, gmp_stats(self->fd, GMP_STATS_M, 3, &st));
	EXPECT_EQ(ENOENT, errno);
}

TEST_F(reg, unregister_not_registered_enoent)
{
	EXPECT_EQ(-1, gmp_unregister(self->fd));
	EXPECT_EQ(ENOENT, errno);
}

TEST_F(reg, unregister_twice_enoent)
{
	ASSERT_EQ(0, gmp_register(self->fd, 0, 1, NULL));
	ASSERT_EQ(0, gmp_unregister(self->fd));
	EXPECT_EQ(-1, gmp_unregister(self->fd));
	EXPECT_EQ(ENOENT, errno);
}

TEST_F(reg, unregister_other_group_enoent)
{
	int fd2 = gmp_open();

	ASSERT_LE(0, fd2);
	ASSERT_EQ(0, gmp_register(self->fd, 0, 1, NULL));
	EXPECT_EQ(-1, gmp_unregister(fd2));
	EXPECT_EQ(ENOENT, errno);
	/* Still registered in the first group. */
	EXPECT_EQ(0, gmp_unregister(self->fd));
	close(fd2);
}

static void body_unregister(struct gmp_m *m)
{
	m->unreg_errno = gmp_errno_of(gmp_unregister(m->fd));
}

TEST_F(reg, unregister_other_thread_enoent)
{
	struct gmp_m other;

	/* Another thread of the process cannot unregister this one. */
	ASSERT_EQ(0, gmp_register(self->fd, 0, 1, NULL));
	gmp_m_init(&other, self->fd, NULL, 0, 0, body_unregister);
	other.no_register = true;
	ASSERT_EQ(0, gmp_m_start(&other));
	ASSERT_EQ(0, gmp_m_join(&other, GMP_EVENT_TIMEOUT_MS));
	EXPECT_EQ(ENOENT, other.unreg_errno);
	EXPECT_EQ(0, gmp_unregister(self->fd));
}

TEST_F(reg, reregister_after_unregister)
{
	uint32_t slot;
	int i;

	for (i = 0; i < 50; i++) {
		ASSERT_EQ(0, gmp_register(self->fd, 0, 1, &slot));
		EXPECT_EQ(U32(GMP_SLOT_RUNNING), gmp_slot(&self->m, slot)->state);
		ASSERT_EQ(0, gmp_unregister(self->fd));
		EXPECT_EQ(U32(GMP_SLOT_FREE), gmp_slot(&self->m, slot)->state);
	}
}

/* ---- STATS ---------------------------------------------------------- */

TEST_F(api, stats_fresh_group)
{
	struct gmp_stats st;

	memset(&st, 0xcc, sizeof(st));
	st.size = sizeof(st);
	st.flags = 0;
	st.m_id = 0;
	memset(st.reserved, 0, sizeof(st.reserved));
	ASSERT_EQ(0, ioctl(self->fd, GMP_IOC_STATS, &st));
	EXPECT_EQ(0U, st.nr_ms);
	EXPECT_EQ(0ULL, st.blocks);
	EXPECT_EQ(0ULL, st.unblocks);
	EXPECT_EQ(0ULL, st.preempts);
	EXPECT_EQ(0ULL, st.wakeups);
	EXPECT_EQ(0ULL, st.events);
	EXPECT_EQ(0ULL, st.overflows);
}

TEST_F(api, stats_m_registered)
{
	struct gmp_stats st;

	ASSERT_EQ(0, gmp_register(self->fd, GMP_REGISTER_ARMED, 11, NULL));
	memset(&st, 0xcc, sizeof(st));
	st.size = sizeof(st);
	st.flags = GMP_STATS_M;
	st.m_id = 11;
	memset(st.reserved, 0, sizeof(st.reserved));
	ASSERT_EQ(0, ioctl(self->fd, GMP_IOC_STATS, &st));
	EXPECT_EQ(0ULL, st.blocks);
	EXPECT_EQ(0ULL, st.unblocks);
	EXPECT_EQ(0ULL, st.preempts);
	EXPECT_EQ(0, gmp_unregister(self->fd));
}

TEST_F(api, stats_m_unknown_enoent)
{
	struct gmp_stats st;

	EXPECT_EQ(-1, gmp_stats(self->fd, GMP_STATS_M, 11, &st));
	EXPECT_EQ(ENOENT, errno);
	ASSERT_EQ(0, gmp_register(self->fd, 0, 11, NULL));
	EXPECT_EQ(-1, gmp_stats(self->fd, GMP_STATS_M, 12, &st));
	EXPECT_EQ(ENOENT, errno);
	EXPECT_EQ(0, gmp_stats(self->fd, GMP_STATS_M, 11, &st));
	EXPECT_EQ(0, gmp_unregister(self->fd));
}

TEST_F(api, stats_readonly_arg_efault)
{
	struct gmp_stats *p = mmap(NULL, PAGE_SZ, PROT_READ | PROT_WRITE,
				   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	ASSERT_NE(MAP_FAILED, p);
	fill_stats(p);
	ASSERT_EQ(0, mprotect(p, PAGE_SZ, PROT_READ));
	EXPECT_EQ(-1, ioctl(self->fd, GMP_IOC_STATS, p));
	EXPECT_EQ(EFAULT, errno);
	munmap(p, PAGE_SZ);
}

/* ---- WAIT and read(2) without events -------------------------------- */

TEST_F(api, wait_max_events_zero_einval)
{
	struct gmp_event ev[1];

	EXPECT_EQ(-1, gmp_wait(self->fd, ev, 0, 0, 0, NULL, NULL));
	EXPECT_EQ(EINVAL, errno);
}

TEST_F(api, wait_max_events_over_limit_einval)
{
	struct gmp_event *ev = calloc(GMP_WAIT_EVENTS_MAX + 1, sizeof(*ev));

	ASSERT_NE(NULL, ev);
	EXPECT_EQ(-1, gmp_wait(self->fd, ev, GMP_WAIT_EVENTS_MAX + 1, 0, 0,
			       NULL, NULL));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, gmp_wait(self->fd, ev, 0xffffffff, 0, 0, NULL, NULL));
	EXPECT_EQ(EINVAL, errno);
	free(ev);
}

TEST_F(api, wait_max_events_limit_accepted)
{
	struct gmp_event *ev = calloc(GMP_WAIT_EVENTS_MAX, sizeof(*ev));

	ASSERT_NE(NULL, ev);
	EXPECT_EQ(-1, gmp_wait(self->fd, ev, GMP_WAIT_EVENTS_MAX, 0, 0,
			       NULL, NULL));
	EXPECT_EQ(EAGAIN, errno);
	free(ev);
}

TEST_F(api, wait_zero_timeout_eagain)
{
	struct gmp_event ev[2];

	EXPECT_EQ(-1, gmp_wait(self->fd, ev, 2, 0, 0, NULL, NULL));
	EXPECT_EQ(EAGAIN, errno);
}

TEST_F(api, wait_nonblock_eagain)
{
	struct gmp_event ev[2];

	/* GMP_WAIT_NONBLOCK wins over an infinite timeout. */
	EXPECT_EQ(-1, gmp_wait(self->fd, ev, 2, -1, GMP_WAIT_NONBLOCK, NULL,
			       NULL));
	EXPECT_EQ(EAGAIN, errno);
	EXPECT_EQ(-1, gmp_wait(self->fd, ev, 2, NSEC_PER_SEC,
			       GMP_WAIT_NONBLOCK, NULL, NULL));
	EXPECT_EQ(EAGAIN, errno);
}

TEST_F(api, wait_timeout_etimedout)
{
	struct gmp_event ev[2];

	EXPECT_EQ(-1, gmp_wait(self->fd, ev, 2, 50 * NSEC_PER_MSEC, 0, NULL,
			       NULL));
	EXPECT_EQ(ETIMEDOUT, errno);
	EXPECT_EQ(-1, gmp_wait(self->fd, ev, 2, 1, 0, NULL, NULL));
	EXPECT_EQ(ETIMEDOUT, errno);
}

TEST_F(api, read_count_too_small_einval)
{
	char buf[sizeof(struct gmp_event)];

	ASSERT_EQ(0, fcntl(self->fd, F_SETFL, O_NONBLOCK));
	EXPECT_EQ(-1, read(self->fd, buf, sizeof(buf) - 1));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, read(self->fd, buf, 1));
	EXPECT_EQ(EINVAL, errno);
}

TEST_F(api, read_nonblock_empty_eagain)
{
	struct gmp_event ev[4];

	ASSERT_EQ(0, fcntl(self->fd, F_SETFL, O_NONBLOCK));
	EXPECT_EQ(-1, read(self->fd, ev, sizeof(ev)));
	EXPECT_EQ(EAGAIN, errno);
}

TEST_F(api, poll_empty_not_ready)
{
	struct pollfd p = { .fd = self->fd, .events = POLLIN };

	EXPECT_EQ(0, poll(&p, 1, 0));
	EXPECT_EQ(0, p.revents);
}

/* ---- the mapping ---------------------------------------------------- */

FIXTURE(map) {
	int fd;
	struct gmp_info info;
};

FIXTURE_SETUP(map)
{
	self->fd = gmp_open();
	ASSERT_LE(0, self->fd);
	ASSERT_EQ(0, gmp_info(self->fd, &self->info));
}

FIXTURE_TEARDOWN(map)
{
	if (self->fd >= 0)
		close(self->fd);
}

TEST_F(map, mmap_initial_contents)
{
	struct gmp_map m;
	uint32_t i;

	ASSERT_EQ(0, gmp_map(self->fd, &m));
	EXPECT_EQ(0U, m.ring->head);
	EXPECT_EQ(0U, m.ring->tail);
	EXPECT_EQ(0ULL, m.ring->overflow);
	EXPECT_EQ(m.info.ring_entries, m.ring->entries);
	for (i = 0; i < m.info.max_ms; i++) {
		EXPECT_EQ(U32(GMP_SLOT_FREE), m.slots[i].state) {
			TH_LOG("slot %u", i);
		}
		EXPECT_EQ(0U, m.slots[i].armed) {
			TH_LOG("slot %u", i);
		}
	}
	gmp_unmap(&m);
}

TEST_F(map, mmap_prefix)
{
	void *p = mmap(NULL, PAGE_SZ, PROT_READ | PROT_WRITE, MAP_SHARED,
		       self->fd, 0);
	struct gmp_ring *r;

	ASSERT_NE(MAP_FAILED, p);
	r = (struct gmp_ring *)((char *)p + self->info.ring_offset);
	if (self->info.ring_offset + sizeof(*r) <= PAGE_SZ) {
		EXPECT_EQ(self->info.ring_entries, r->entries);
	}
	EXPECT_EQ(0, munmap(p, PAGE_SZ));
}

TEST_F(map, mmap_offset_nonzero_einval)
{
	void *p = mmap(NULL, PAGE_SZ, PROT_READ | PROT_WRITE, MAP_SHARED,
		       self->fd, PAGE_SZ);

	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EINVAL, errno);
	if (p != MAP_FAILED)
		munmap(p, PAGE_SZ);
}

TEST_F(map, mmap_too_long_einval)
{
	size_t len = self->info.mmap_size + PAGE_SZ;
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED,
		       self->fd, 0);

	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EINVAL, errno);
	if (p != MAP_FAILED)
		munmap(p, len);
}

TEST_F(map, mmap_private_einval)
{
	void *p = mmap(NULL, self->info.mmap_size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE, self->fd, 0);

	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EINVAL, errno);
	if (p != MAP_FAILED)
		munmap(p, self->info.mmap_size);
}

TEST_F(map, mmap_exec_eperm)
{
	void *p = mmap(NULL, self->info.mmap_size,
		       PROT_READ | PROT_WRITE | PROT_EXEC, MAP_SHARED,
		       self->fd, 0);

	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EPERM, errno);
	if (p != MAP_FAILED)
		munmap(p, self->info.mmap_size);
	p = mmap(NULL, self->info.mmap_size, PROT_READ | PROT_EXEC, MAP_SHARED,
		 self->fd, 0);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EPERM, errno);
	if (p != MAP_FAILED)
		munmap(p, self->info.mmap_size);
}

TEST_F(map, mprotect_exec_eacces)
{
	struct gmp_map m;

	ASSERT_EQ(0, gmp_map(self->fd, &m));
	EXPECT_EQ(-1, mprotect(m.base, m.size, PROT_READ | PROT_EXEC));
	EXPECT_EQ(EACCES, errno);
	/* Still usable. */
	EXPECT_EQ(m.info.ring_entries, m.ring->entries);
	gmp_unmap(&m);
}

TEST_F(map, mremap_grow_fails)
{
	struct gmp_map m;
	void *p;

	ASSERT_EQ(0, gmp_map(self->fd, &m));
	p = mremap(m.base, m.size, m.size + PAGE_SZ, MREMAP_MAYMOVE);
	EXPECT_EQ(MAP_FAILED, p);
	if (p != MAP_FAILED)
		m.base = p;
	gmp_unmap(&m);
}

TEST_F(map, mmap_twice_shares_pages)
{
	struct gmp_map a, b;
	uint32_t slot;

	ASSERT_EQ(0, gmp_map(self->fd, &a));
	ASSERT_EQ(0, gmp_map(self->fd, &b));
	ASSERT_NE(a.base, b.base);
	ASSERT_EQ(0, gmp_register(self->fd, 0, 5, &slot));
	EXPECT_EQ(5U, a.slots[slot].m_id);
	EXPECT_EQ(5U, b.slots[slot].m_id);
	gmp_arm(&a.slots[slot]);
	EXPECT_NE(0U, gmp_load32(&b.slots[slot].armed));
	gmp_disarm(&b.slots[slot]);
	EXPECT_EQ(0U, gmp_load32(&a.slots[slot].armed));
	EXPECT_EQ(0, gmp_unregister(self->fd));
	gmp_unmap(&a);
	gmp_unmap(&b);
}

static int child_touch(void *p)
{
	/* VM_DONTCOPY: the mapping does not exist in a fork child. */
	return (int)*(volatile uint32_t *)p;
}

TEST_F(map, mmap_not_inherited_by_fork)
{
	struct gmp_map m;

	ASSERT_EQ(0, gmp_map(self->fd, &m));
	EXPECT_EQ(1000 + SIGSEGV,
		  gmp_run_child(child_touch, &m.ring->entries,
				GMP_EVENT_TIMEOUT_MS));
	gmp_unmap(&m);
}

/* ---- other processes: everything but close is refused -------------- */

static int child_mmap(void *p)
{
	int fd = *(int *)p;
	void *q = mmap(NULL, PAGE_SZ, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

	return q == MAP_FAILED ? errno : 0;
}

static int child_read(void *p)
{
	struct gmp_event ev[2];
	int fd = *(int *)p;

	if (fcntl(fd, F_SETFL, O_NONBLOCK))
		return 200;
	return read(fd, ev, sizeof(ev)) == -1 ? errno : 0;
}

static int child_poll(void *p)
{
	struct pollfd pfd = { .fd = *(int *)p, .events = POLLIN };

	if (poll(&pfd, 1, 0) < 0)
		return 200;
	return (pfd.revents & POLLERR) ? 0 : 100 + (pfd.revents & 0x3f);
}

static int child_close(void *p)
{
	return close(*(int *)p) ? errno : 0;
}

TEST_F(api, child_mmap_eperm)
{
	EXPECT_EQ(EPERM, gmp_run_child(child_mmap, &self->fd,
				       GMP_EVENT_TIMEOUT_MS));
}

TEST_F(api, child_read_eperm)
{
	EXPECT_EQ(EPERM, gmp_run_child(child_read, &self->fd,
				       GMP_EVENT_TIMEOUT_MS));
}

TEST_F(api, child_poll_pollerr)
{
	EXPECT_EQ(0, gmp_run_child(child_poll, &self->fd, GMP_EVENT_TIMEOUT_MS));
}

TEST_F(api, child_close_ok)
{
	struct gmp_info info;

	EXPECT_EQ(0, gmp_run_child(child_close, &self->fd,
				   GMP_EVENT_TIMEOUT_MS));
	EXPECT_EQ(0, gmp_info(self->fd, &info));
	EXPECT_EQ(0, gmp_register(self->fd, 0, 1, NULL));
	EXPECT_EQ(0, gmp_unregister(self->fd));
}

GMP_HARNESS_MAIN(NULL)
