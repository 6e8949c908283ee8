// SPDX-License-Identifier: (LGPL-2.1-or-later OR MIT)
/*
 * gmpdev.c - the /dev/gmp shim (gmpdev.h): open, version check, mmap,
 * register, wait, stats. Self-contained: nothing of the scheduler, so a
 * static link of a program that only uses the shim pulls in this file.
 */
#include "include/gmpdev.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

struct gmp_dev {
	int fd;
	void *map;
	struct gmp_info info;
	struct gmp_slot *slots;
};

/* An ioctl's result as 0 or -errno, keeping the caller's errno intact. */
static int dev_ioctl(int fd, unsigned long cmd, void *arg)
{
	int saved = errno, ret = 0;

	if (ioctl(fd, cmd, arg) < 0)
		ret = -errno;
	errno = saved;
	return ret;
}

static int dev_info(int fd, struct gmp_info *info)
{
	memset(info, 0, sizeof(*info));
	info->size = sizeof(*info);
	return dev_ioctl(fd, GMP_IOC_INFO, info);
}

int gmp_dev_open(struct gmp_dev **devp, const struct gmp_dev_config *cfg)
{
	struct gmp_dev_config def = { .size = sizeof(def) };
	struct gmp_dev *dev;
	int saved = errno, ret;
	void *map;

	if (!devp)
		return -EINVAL;
	if (!cfg)
		cfg = &def;
	if (cfg->size != sizeof(*cfg) || (cfg->setup_flags & ~GMP_SETUP_ALL))
		return -EINVAL;
	for (size_t i = 0; i < sizeof(cfg->reserved) / sizeof(cfg->reserved[0]); i++)
		if (cfg->reserved[i])
			return -EINVAL;

	dev = calloc(1, sizeof(*dev));
	if (!dev)
		return -ENOMEM;
	dev->fd = open(GMP_DEVICE_PATH, O_RDWR | O_CLOEXEC);
	if (dev->fd < 0) {
		ret = -errno;
		/* No node, or a node without its driver: the module is not loaded. */
		if (ret == -ENOENT || ret == -ENXIO)
			ret = -ENODEV;
		goto err_free;
	}
	ret = dev_info(dev->fd, &dev->info);
	if (ret)
		goto err_close;
	if (dev->info.abi_version != GMP_ABI_VERSION ||
	    dev->info.event_size != sizeof(struct gmp_event) ||
	    dev->info.slot_size != sizeof(struct gmp_slot)) {
		ret = -EPROTO;
		goto err_close;
	}
	if ((dev->info.features & cfg->features) != cfg->features) {
		ret = -EOPNOTSUPP;
		goto err_close;
	}
	if (cfg->setup_flags || cfg->ring_entries || cfg->max_ms) {
		struct gmp_setup s = {
			.size = sizeof(s),
			.flags = cfg->setup_flags,
			.ring_entries = cfg->ring_entries,
			.max_ms = cfg->max_ms,
		};

		ret = dev_ioctl(dev->fd, GMP_IOC_SETUP, &s);
		if (ret)
			goto err_close;
		/* The layout follows the setup. */
		ret = dev_info(dev->fd, &dev->info);
		if (ret)
			goto err_close;
	}
	map = mmap(NULL, dev->info.mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		   dev->fd, 0);
	if (map == MAP_FAILED) {
		ret = -errno;
		goto err_close;
	}
	dev->map = map;
	dev->slots = (struct gmp_slot *)((char *)map + dev->info.slots_offset);
	*devp = dev;
	errno = saved;
	return 0;

err_close:
	close(dev->fd);
err_free:
	free(dev);
	errno = saved;
	return ret;
}

void gmp_dev_close(struct gmp_dev *dev)
{
	int saved = errno;

	if (!dev)
		return;
	munmap(dev->map, dev->info.mmap_size);
	close(dev->fd);
	free(dev);
	errno = saved;
}

const struct gmp_info *gmp_dev_info(const struct gmp_dev *dev)
{
	return &dev->info;
}

int gmp_dev_fd(const struct gmp_dev *dev)
{
	return dev->fd;
}

int gmp_dev_register(struct gmp_dev *dev, uint32_t m_id, unsigned int flags,
		     struct gmp_slot **slotp)
{
	struct gmp_register r = { .size = sizeof(r), .flags = flags, .m_id = m_id };
	int ret = dev_ioctl(dev->fd, GMP_IOC_REGISTER, &r);

	if (ret)
		return ret;
	if (r.slot >= dev->info.max_ms)	/* the module broke its word */
		return -EPROTO;
	if (slotp)
		*slotp = &dev->slots[r.slot];
	return (int)r.slot;
}

int gmp_dev_unregister(struct gmp_dev *dev)
{
	struct gmp_unregister u = { .size = sizeof(u) };

	return dev_ioctl(dev->fd, GMP_IOC_UNREGISTER, &u);
}

struct gmp_slot *gmp_dev_slot(const struct gmp_dev *dev, uint32_t idx)
{
	return idx < dev->info.max_ms ? &dev->slots[idx] : NULL;
}

int gmp_dev_wait(struct gmp_dev *dev, struct gmp_event *evs, unsigned int max,
		 int64_t timeout_ns)
{
	struct gmp_wait w = {
		.size = sizeof(w),
		.timeout_ns = timeout_ns,
		.events = (uintptr_t)evs,
		.max_events = max,
	};
	int ret = dev_ioctl(dev->fd, GMP_IOC_WAIT, &w);

	return ret ? ret : (int)w.nr_events;
}

int gmp_dev_stats(struct gmp_dev *dev, int64_t m_id, struct gmp_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->size = sizeof(*st);
	if (m_id >= 0) {
		if (m_id > UINT32_MAX)
			return -EINVAL;
		st->flags = GMP_STATS_M;
		st->m_id = (uint32_t)m_id;
	}
	return dev_ioctl(dev->fd, GMP_IOC_STATS, st);
}
