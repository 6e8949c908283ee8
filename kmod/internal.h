/* SPDX-License-Identifier: GPL-2.0 */
/*
 * gmp internals. How a block travels, by function name:
 *
 *   gmp_switch_probe()     prewake.c an armed M starts a switch to sleep
 *                                    (tracepoint rcu_utilization, IRQs off)
 *    -> gmp_prewake()      wait.c    no rq lock held yet: wake one waiter now
 *                                    (the M's switch then goes to it)
 *   gmp_sched_out()        notify.c  an armed M leaves its CPU, not runnable
 *    -> gmp_ring_push()    ring.c    BLOCKED record into the shared ring
 *    -> gmp_bell_ring()    wait.c    irq_work doorbell on that CPU, unless
 *                                    a prewoken waiter is there for it
 *   gmp_bell_fn()          wait.c    IRQs on again: wake_up_process() of one
 *                                    waiter, preferably parked on this CPU
 *   gmp_wait_events()      wait.c    the waiter returns from GMP_IOC_WAIT or
 *    -> gmp_ring_pop_user() ring.c   read(2) with the record
 *
 * Locking, outermost first:
 *   g->lock (mutex)        group memory, the list of Ms, slot allocation;
 *                          never held across copy_{to,from}_user (mmap_lock
 *                          nests outside it in ->mmap).
 *   g->wait_lock (raw)     waiter lists; taken by the doorbell in hard IRQ
 *                          context and by the switch probe with IRQs
 *                          off, and held across wake_up_process(), so
 *                          pi_lock and rq->lock nest inside it.
 *   g->prod_lock (raw)     ring producers; taken in sched_out() with the
 *                          runqueue lock held, so nothing that wakes or
 *                          allocates may run under it.
 */
#ifndef GMP_INTERNAL_H
#define GMP_INTERNAL_H

#include <linux/atomic.h>
#include <linux/irq_work.h>
#include <linux/kref.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/pid.h>
#include <linux/preempt.h>
#include <linux/spinlock.h>
#include <linux/types.h>
#include <linux/wait.h>
#include <linux/workqueue.h>

#include <linux/gmp.h>

/* A thread parked in GMP_IOC_WAIT or read(2); lives on its stack. */
struct gmp_waiter {
	struct list_head node;		/* g->waiters, oldest first */
	struct list_head cpu_node;	/* g->cpu_waiters[cpu it parked on] */
	struct task_struct *task;
	bool woken;			/* taken off the lists by a doorbell */
	bool prewoken;			/* ... by gmp_prewake(): holds a g->pw_cover */
	int pw_cpu;			/* the CPU of the M that prewoke it */
	struct task_struct *pw_m;	/* that M (a reference), while prewoken */
};

/* The doorbell of one CPU: rung by Ms that block or wake there. */
struct gmp_bell {
	struct irq_work work;
	struct gmp_group *group;
};

/* A registered thread. Freed by the thread itself or after its death. */
struct gmp_m {
	struct preempt_notifier pn;	/* on the thread's own list */
	struct gmp_group *group;	/* a reference */
	struct gmp_slot *slot;		/* kernel address of the shared slot */
	struct list_head node;		/* g->ms, under g->lock */
	u32 m_id;
	u32 slot_idx;
	u32 seq;
	pid_t tid;
	bool blocked;			/* BLOCKED recorded, UNBLOCKED pending */
	bool prewoke;			/* its switch prewoke a waiter */
	u64 blocks;
	u64 unblocks;
	u64 preempts;
	struct irq_work dead_work;	/* queued by the final sched_out */
	struct work_struct free_work;	/* then frees from process context */
};

struct gmp_group {
	struct kref ref;		/* the file, and one per M */
	struct mutex lock;
	struct pid *owner;		/* thread group of the opener */
	bool released;			/* the file is gone */
	u32 flags;			/* GMP_SETUP_* */
	u32 entries;			/* ring records, a power of two */
	u32 max_ms;

	/* Shared memory: NULL until the first mmap, REGISTER or WAIT. */
	void *mem;
	size_t mem_size;
	struct gmp_ring *ring;		/* published with a store-release */
	struct gmp_event *events;
	struct gmp_slot *slots;
	unsigned long *slot_map;
	u32 *slot_seq;			/* the seq of freed slots, kept counting */
	struct list_head ms;
	u32 nr_ms;

	/* Producer side (ring.c). */
	raw_spinlock_t prod_lock;
	u32 tail;			/* the truth; ring->tail is a copy */
	atomic64_t lost_pending;	/* lost records not yet reported */
	u64 nr_events;
	u64 nr_overflows;
	u64 nr_blocks;
	u64 nr_unblocks;
	u64 nr_preempts;

	/* Waiter side (wait.c). */
	raw_spinlock_t wait_lock;
	struct list_head waiters;
	struct list_head *cpu_waiters;	/* [nr_cpu_ids] */
	u32 nr_woken;			/* woken, not yet done consuming */
	atomic_t pw_cover;		/* prewoken waiters no record has claimed */
	u64 nr_wakeups;
	u64 nr_prewakes;		/* of those, by gmp_prewake() */
	wait_queue_head_t poll_wq;
	struct irq_work poll_work;
	struct gmp_bell __percpu *bells;
};

extern struct workqueue_struct *gmp_wq;
extern struct kmem_cache *gmp_group_cache;
extern struct kmem_cache *gmp_m_cache;

/* group.c */
struct gmp_group *gmp_group_create(void);
void gmp_group_get(struct gmp_group *g);
void gmp_group_put(struct gmp_group *g);
bool gmp_group_owned(const struct gmp_group *g);
int gmp_group_mem_locked(struct gmp_group *g);
int gmp_group_mem(struct gmp_group *g);
void gmp_group_layout(u32 entries, u32 max_ms, struct gmp_info *info);

/* notify.c */
int gmp_m_register(struct gmp_group *g, u32 m_id, u32 flags, u32 *slot);
int gmp_m_unregister(struct gmp_group *g);
struct gmp_m *gmp_m_find_locked(struct gmp_group *g, u32 m_id);
struct gmp_m *gmp_current_m(void);

/* prewake.c */
void gmp_prewake_init(void);
void gmp_prewake_exit(void);
bool gmp_prewake_active(void);

/* ring.c */
struct gmp_ring *gmp_group_ring(struct gmp_group *g);
void gmp_ring_push(struct gmp_group *g, const struct gmp_event *ev);
u32 gmp_ring_avail(struct gmp_group *g);
long gmp_ring_consume(struct gmp_group *g, struct gmp_event __user *buf, u32 max);

/* wait.c */
int gmp_wait_init(struct gmp_group *g);
void gmp_wait_destroy(struct gmp_group *g);
void gmp_bell_ring(struct gmp_group *g);
bool gmp_prewake(struct gmp_group *g, int cpu);
bool gmp_prewake_claim(struct gmp_group *g);
long gmp_wait_events(struct gmp_group *g, struct gmp_event __user *buf, u32 max,
		     s64 timeout_ns, bool nonblock);

#endif /* GMP_INTERNAL_H */
