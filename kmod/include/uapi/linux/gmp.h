/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * gmp: scheduler-activation upcalls for user-level schedulers.
 *
 * A process opens /dev/gmp to get a *group*. Its worker threads ("Ms")
 * register with GMP_IOC_REGISTER; from then on the module watches their
 * context switches. When an *armed* M really blocks in the kernel (not when
 * it is merely preempted), the module pushes a GMP_EV_BLOCKED event into the
 * group's ring and wakes exactly one thread parked in the device
 * (GMP_IOC_WAIT or read(2)), preferring one that last ran on the CPU the M
 * just left. When the M runs again it pushes GMP_EV_UNBLOCKED.
 *
 * mmap(2) of the fd (offset 0, MAP_SHARED) maps the group's shared memory:
 *
 *	info.ring_offset   struct gmp_ring        control words of the ring
 *	                   struct gmp_event[]     ring_entries records
 *	info.slots_offset  struct gmp_slot[]      one per M, max_ms of them
 *
 * The runtime arms an M by storing non-zero into its slot's `armed` word:
 * no system call. The kernel writes through its own mapping of the same
 * pages and trusts nothing user space writes there except `armed` and the
 * ring's `head`.
 *
 * Ioctl conventions: every argument struct starts with `size` (must equal
 * sizeof the struct) and `flags`, and ends with reserved words that must be
 * zero. Unknown flags, a wrong size and non-zero reserved words fail with
 * EINVAL; an unknown command with ENOTTY; a bad pointer with EFAULT. Every
 * operation but close(2) is refused with EPERM for a process other than the
 * one that opened the group (a fork child, a receiver of the fd).
 */
#ifndef _UAPI_LINUX_GMP_H
#define _UAPI_LINUX_GMP_H

#include <linux/const.h>
#include <linux/ioctl.h>
#include <linux/types.h>

#define GMP_DEVICE_PATH		"/dev/gmp"
#define GMP_ABI_VERSION		1
#define GMP_IOC_MAGIC		0xE6

/* Features reported by GMP_IOC_INFO. */
#define GMP_FEAT_BLOCKED	_BITULL(0)	/* GMP_EV_BLOCKED */
#define GMP_FEAT_UNBLOCKED	_BITULL(1)	/* GMP_EV_UNBLOCKED */
#define GMP_FEAT_PREEMPTED	_BITULL(2)	/* GMP_SETUP_PREEMPTED */
#define GMP_FEAT_WAIT		_BITULL(3)	/* GMP_IOC_WAIT */
#define GMP_FEAT_READ		_BITULL(4)	/* read(2) of gmp_event records */
#define GMP_FEAT_POLL		_BITULL(5)	/* poll/epoll/io_uring poll */
#define GMP_FEAT_MMAP		_BITULL(6)	/* shared ring and slots */
#define GMP_FEAT_LOCAL_WAKE	_BITULL(7)	/* wakes a waiter of the M's CPU */
#define GMP_FEAT_PREWAKE	_BITULL(8)	/* wakes it before the M's switch */
#define GMP_FEAT_ALL		(_BITULL(9) - 1)

/* Defaults and limits of a group's shared memory. */
#define GMP_RING_ENTRIES_DEFAULT	1024
#define GMP_RING_ENTRIES_MIN		16
#define GMP_RING_ENTRIES_MAX		65536
#define GMP_MAX_MS_DEFAULT		256
#define GMP_MAX_MS_MAX			4096
#define GMP_WAIT_EVENTS_MAX		4096
/*
 * Groups one process may hold at once (open(2) fails with EMFILE past it),
 * counting groups kept alive by registered Ms after close(2). A group's
 * shared memory is at most 4 KiB + 65536 * 32 B + 4096 * 64 B (2.3 MiB).
 */
#define GMP_GROUPS_PER_PROCESS_MAX	16

/* GMP_IOC_INFO: what the module supports and the group's layout. */
struct gmp_info {
	__u32 size;		/* in: sizeof(struct gmp_info) */
	__u32 flags;		/* in: 0 */
	__u32 abi_version;	/* out: GMP_ABI_VERSION */
	__u32 group_flags;	/* out: GMP_SETUP_* in force */
	__u64 features;		/* out: GMP_FEAT_* */
	__u32 ring_entries;	/* out: records in the ring (power of two) */
	__u32 max_ms;		/* out: slots, i.e. Ms the group can hold */
	__u32 event_size;	/* out: sizeof(struct gmp_event) */
	__u32 slot_size;	/* out: sizeof(struct gmp_slot) */
	__u64 ring_offset;	/* out: struct gmp_ring in the mapping */
	__u64 events_offset;	/* out: struct gmp_event[ring_entries] */
	__u64 slots_offset;	/* out: struct gmp_slot[max_ms] */
	__u64 mmap_size;	/* out: bytes to map at offset 0 */
	__u64 reserved[4];	/* in: 0 */
};

/*
 * GMP_IOC_SETUP: optional, before the group's memory exists (the first
 * mmap or GMP_IOC_REGISTER creates it; EBUSY after that).
 */
#define GMP_SETUP_PREEMPTED	_BITUL(0)	/* also record GMP_EV_PREEMPTED */
#define GMP_SETUP_NO_UNBLOCKED	_BITUL(1)	/* do not record GMP_EV_UNBLOCKED */
#define GMP_SETUP_ALL		(GMP_SETUP_PREEMPTED | GMP_SETUP_NO_UNBLOCKED)

struct gmp_setup {
	__u32 size;		/* in: sizeof(struct gmp_setup) */
	__u32 flags;		/* in: GMP_SETUP_* */
	__u32 ring_entries;	/* in: 0 (default) or a power of two in [MIN, MAX] */
	__u32 max_ms;		/* in: 0 (default) or 1..GMP_MAX_MS_MAX */
	__u64 reserved[2];	/* in: 0 */
};

/*
 * GMP_IOC_REGISTER: make the calling thread an M of the group. A thread is
 * in at most one group (EBUSY); m_id is the caller's name for the M, unique
 * in the group (EEXIST); ENOSPC when every slot is taken.
 */
#define GMP_REGISTER_ARMED	_BITUL(0)	/* start with the slot armed */
#define GMP_REGISTER_ALL	GMP_REGISTER_ARMED

struct gmp_register {
	__u32 size;		/* in: sizeof(struct gmp_register) */
	__u32 flags;		/* in: GMP_REGISTER_* */
	__u32 m_id;		/* in: echoed in every event of this M */
	__u32 slot;		/* out: index into the slots array */
	__u64 reserved[2];	/* in: 0 */
};

/* GMP_IOC_UNREGISTER: the calling thread leaves the group (ENOENT if not in it). */
struct gmp_unregister {
	__u32 size;		/* in: sizeof(struct gmp_unregister) */
	__u32 flags;		/* in: 0 */
	__u64 reserved[2];	/* in: 0 */
};

/*
 * GMP_IOC_WAIT: park until at least one event is available, then copy up
 * to max_events of them. Fails with EAGAIN when timeout_ns is 0 (or
 * GMP_WAIT_NONBLOCK is set) and nothing is there, ETIMEDOUT when the
 * timeout passes, EINTR on a signal. An Ms that parks here must be disarmed.
 */
#define GMP_WAIT_NONBLOCK	_BITUL(0)
#define GMP_WAIT_ALL		GMP_WAIT_NONBLOCK

struct gmp_wait {
	__u32 size;		/* in: sizeof(struct gmp_wait) */
	__u32 flags;		/* in: GMP_WAIT_* */
	__s64 timeout_ns;	/* in: < 0 forever, 0 do not sleep, else relative */
	__u64 events;		/* in: user pointer to struct gmp_event[max_events] */
	__u32 max_events;	/* in: 1..GMP_WAIT_EVENTS_MAX */
	__u32 nr_events;	/* out: records copied */
	__u64 overflow;		/* out: events lost by this group so far */
	__u64 reserved[2];	/* in: 0 */
};

/* GMP_IOC_STATS: counters of the group, or of one M with GMP_STATS_M. */
#define GMP_STATS_M		_BITUL(0)
#define GMP_STATS_ALL		GMP_STATS_M

struct gmp_stats {
	__u32 size;		/* in: sizeof(struct gmp_stats) */
	__u32 flags;		/* in: GMP_STATS_* */
	__u32 m_id;		/* in: with GMP_STATS_M (ENOENT if not registered) */
	__u32 nr_ms;		/* out: Ms registered in the group */
	__u64 blocks;		/* out: blocks of armed Ms */
	__u64 unblocks;		/* out: returns from those blocks */
	__u64 preempts;		/* out: preemptions of armed Ms */
	__u64 wakeups;		/* out: parked waiters woken (group only) */
	__u64 events;		/* out: records written to the ring (group only) */
	__u64 overflows;	/* out: records lost, ring full (group only) */
	__u64 prewakes;		/* out: of the wakeups, made before the switch (group only) */
	__u64 reserved[3];	/* in: 0 */
};

#define GMP_IOC_INFO		_IOWR(GMP_IOC_MAGIC, 0x00, struct gmp_info)
#define GMP_IOC_SETUP		_IOWR(GMP_IOC_MAGIC, 0x01, struct gmp_setup)
#define GMP_IOC_REGISTER	_IOWR(GMP_IOC_MAGIC, 0x02, struct gmp_register)
#define GMP_IOC_UNREGISTER	_IOWR(GMP_IOC_MAGIC, 0x03, struct gmp_unregister)
#define GMP_IOC_WAIT		_IOWR(GMP_IOC_MAGIC, 0x04, struct gmp_wait)
#define GMP_IOC_STATS		_IOWR(GMP_IOC_MAGIC, 0x05, struct gmp_stats)

/* Event types. */
#define GMP_EV_BLOCKED		1	/* an armed M went to sleep in the kernel */
#define GMP_EV_UNBLOCKED	2	/* that M runs again (same seq) */
#define GMP_EV_PREEMPTED	3	/* an armed M was preempted (GMP_SETUP_PREEMPTED) */
#define GMP_EV_OVERFLOW		4	/* seq records were lost: rescan the slots */

/*
 * One record; read(2) returns whole records. CLOCK_MONOTONIC timestamps.
 * For GMP_EV_OVERFLOW, seq is the number of records lost (saturated at
 * U32_MAX) and m_id and slot are ~0.
 */
struct gmp_event {
	__u16 type;		/* GMP_EV_* */
	__u16 flags;		/* 0 */
	__u32 m_id;
	__u32 slot;
	__u32 seq;		/* the slot's seq: BLOCKED and its UNBLOCKED match */
	__u64 time_ns;		/* when it happened */
	__s32 syscall;		/* BLOCKED: system call number, -1 if none (fault) */
	__u32 cpu;		/* CPU the M blocked on / runs on again */
};

/*
 * Ring control, at info.ring_offset. The kernel publishes records by a
 * store-release of `tail`; a consumer claims record `head` (index
 * head & (entries - 1)) by copying it and then compare-and-swapping `head`
 * to head + 1. read(2) and GMP_IOC_WAIT consume through the same protocol,
 * so they and a user-space consumer can share one ring. A full ring drops
 * the new record and counts it in `overflow`; the next read(2) or
 * GMP_IOC_WAIT then returns a GMP_EV_OVERFLOW record first.
 */
struct gmp_ring {
	__u32 head;		/* consumers */
	__u32 pad0[15];
	__u32 tail;		/* kernel */
	__u32 pad1[15];
	__u64 overflow;		/* kernel: records lost so far */
	__u32 entries;		/* kernel: ring size, a power of two */
	__u32 pad2[13];
};

/* Slot states. */
#define GMP_SLOT_FREE		0
#define GMP_SLOT_RUNNING	1
#define GMP_SLOT_BLOCKED	2

/* One per M, 64 bytes, at info.slots_offset + slot * sizeof(struct gmp_slot). */
struct gmp_slot {
	__u32 armed;		/* user: non-zero while blocks must be reported */
	__u32 state;		/* kernel: GMP_SLOT_* */
	__u32 seq;		/* kernel: bumped at every block */
	__u32 m_id;		/* kernel */
	__u32 tid;		/* kernel: the M's thread id */
	__u32 cpu;		/* kernel: CPU of the last block or wake */
	__u64 blocks;		/* kernel */
	__u64 unblocks;		/* kernel */
	__u64 preempts;		/* kernel */
	__u64 block_ns;		/* kernel: time of the last block */
	__u64 reserved;
};

#endif /* _UAPI_LINUX_GMP_H */
