/* SPDX-License-Identifier: (LGPL-2.1-or-later OR MIT) */
/*
 * gmpdev.h - a thin C layer over /dev/gmp (gmp.ko's UAPI, <linux/gmp.h>),
 * for any runtime that wants to hear when one of its threads blocks in the
 * kernel: a thread pool, a Rust executor, a patched Go runtime through cgo.
 * It needs nothing of libgmp's scheduler; libgmp's own kmod handoff is one
 * of its users (handoff_kmod.c).
 *
 * The model, in five calls:
 *
 *	gmp_dev_open()       open a *group*: /dev/gmp, version check, mmap
 *	gmp_dev_register()   make the calling thread an M of the group; get
 *	                     its slot, a 64-byte record in shared memory
 *	gmp_dev_arm()        from now on, report when this thread blocks
 *	                     (a store into the slot, no system call; inline)
 *	gmp_dev_wait()       park a spare thread until an M blocks: it
 *	                     returns GMP_EV_BLOCKED {m_id, slot, seq, ...}
 *	gmp_dev_stats()      the module's counters for the group or one M
 *
 * An armed M that *blocks* (sleeps in the kernel: a read(2) on an empty
 * pipe, a futex, a page fault on a file; not a preemption) makes the
 * module record GMP_EV_BLOCKED and wake exactly one thread parked in
 * gmp_dev_wait(), preferably one that parked on the CPU the M just left.
 * While the M stays asleep its slot reads GMP_SLOT_BLOCKED with the
 * event's seq: gmp_dev_still_blocked() tells a fresh event from a stale
 * one. A thread parked in gmp_dev_wait() must not be armed, or its own
 * sleep is reported.
 *
 * ERRORS: every call that can fail returns a negative errno value, as the
 * kernel does; errno is not used to report them. gmp_dev_open() fails with
 * -ENODEV when the module is not loaded (no /dev/gmp), -EACCES when the
 * device may not be opened, -EPROTO when the module speaks another ABI
 * version, -EOPNOTSUPP when it lacks a required feature.
 *
 * THREADS: after gmp_dev_open() every call may be made from any thread of
 * the process at the same time, except that gmp_dev_register(),
 * gmp_dev_unregister(), gmp_dev_arm() and gmp_dev_disarm() act on the
 * calling thread (its own slot), and gmp_dev_close() must be the last
 * call. Groups do not survive fork(): the child cannot use the parent's.
 *
 * The library exporting these is libgmp-sched (pkg-config gmp-sched);
 * linked statically, only this layer's object is pulled in.
 */
#ifndef GMPDEV_H
#define GMPDEV_H

#include <linux/gmp.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#pragma GCC visibility push(default)

/* One group: an open /dev/gmp with its shared memory mapped. Opaque. */
struct gmp_dev;

/* Options of gmp_dev_open(); a NULL config takes the module's defaults. */
struct gmp_dev_config {
	unsigned int size;		/* sizeof(struct gmp_dev_config) */
	unsigned int setup_flags;	/* GMP_SETUP_*, e.g. GMP_SETUP_NO_UNBLOCKED */
	unsigned int ring_entries;	/* 0: module default, else a power of two */
	unsigned int max_ms;		/* 0: module default (GMP_MAX_MS_DEFAULT) */
	uint64_t features;		/* GMP_FEAT_* the caller cannot do without */
	uint64_t reserved[4];		/* 0 */
};

/*
 * Open a group: /dev/gmp, check GMP_IOC_INFO's ABI version and features,
 * apply cfg (GMP_IOC_SETUP) and map the ring and slots. *devp is set on
 * success. The descriptor is close-on-exec.
 */
int gmp_dev_open(struct gmp_dev **devp, const struct gmp_dev_config *cfg);

/* Unmap and close. Registered threads stay registered to a dead group. */
void gmp_dev_close(struct gmp_dev *dev);

/* The group's layout and the module's features, as GMP_IOC_INFO said. */
const struct gmp_info *gmp_dev_info(const struct gmp_dev *dev);

/* The file descriptor, for poll(2)/epoll/io_uring or raw ioctls. */
int gmp_dev_fd(const struct gmp_dev *dev);

/*
 * Make the calling thread an M of the group, named m_id in its events
 * (unique in the group: -EEXIST; -EBUSY if the thread is in a group;
 * -ENOSPC when every slot is taken). flags: GMP_REGISTER_ARMED to start
 * armed. Returns the slot index (>= 0) and sets *slotp to the slot.
 */
int gmp_dev_register(struct gmp_dev *dev, uint32_t m_id, unsigned int flags,
		     struct gmp_slot **slotp);

/* The calling thread leaves the group (-ENOENT if it is not in it). */
int gmp_dev_unregister(struct gmp_dev *dev);

/* Slot idx of the group (any M's, read-only but for its owner's armed). */
struct gmp_slot *gmp_dev_slot(const struct gmp_dev *dev, uint32_t idx);

/*
 * Park until an event is there (timeout_ns < 0: forever; 0: never park,
 * -EAGAIN if none), then copy up to max (1..GMP_WAIT_EVENTS_MAX) records
 * into evs. Returns how many (>= 1), -ETIMEDOUT, -EINTR on a signal.
 * GMP_EV_OVERFLOW comes first when records were lost: then look at every
 * slot (gmp_dev_slot) instead of trusting the events.
 */
int gmp_dev_wait(struct gmp_dev *dev, struct gmp_event *evs, unsigned int max,
		 int64_t timeout_ns);

/*
 * The module's counters: of the group (m_id < 0) or of one M. The group's
 * include wakeups (parked threads woken) and overflows (records lost).
 */
int gmp_dev_stats(struct gmp_dev *dev, int64_t m_id, struct gmp_stats *st);

#pragma GCC visibility pop

/*
 * Arm the calling thread's own slot: its blocks are reported until
 * gmp_dev_disarm(). One store to shared memory; the kernel reads it when
 * the thread leaves its CPU, so no ordering beyond program order is needed.
 */
static inline void gmp_dev_arm(struct gmp_slot *slot)
{
	__atomic_store_n(&slot->armed, 1, __ATOMIC_RELAXED);
}

static inline void gmp_dev_disarm(struct gmp_slot *slot)
{
	__atomic_store_n(&slot->armed, 0, __ATOMIC_RELAXED);
}

/* GMP_SLOT_RUNNING or GMP_SLOT_BLOCKED (GMP_SLOT_FREE: nobody's). */
static inline uint32_t gmp_dev_slot_state(const struct gmp_slot *slot)
{
	return __atomic_load_n(&slot->state, __ATOMIC_ACQUIRE);
}

/*
 * Is the slot's M still asleep in the block that reported seq? False once
 * it has run again, even if it has blocked anew since (seq moved on): the
 * event is stale.
 */
static inline int gmp_dev_still_blocked(const struct gmp_slot *slot, uint32_t seq)
{
	/* The kernel stores seq before BLOCKED at a block, RUNNING at a wake. */
	return gmp_dev_slot_state(slot) == GMP_SLOT_BLOCKED &&
	       __atomic_load_n(&slot->seq, __ATOMIC_RELAXED) == seq;
}

#ifdef __cplusplus
}
#endif

#endif /* GMPDEV_H */
