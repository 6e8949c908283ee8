/* SPDX-License-Identifier: (LGPL-2.1-or-later OR MIT) */
/*
 * internal.h - the runtime's data structures, shared by the files of
 * libgmp. sched.c's top comment explains how they fit together.
 */
#ifndef GMP_INTERNAL_H
#define GMP_INTERNAL_H

#define GMP_NO_ERRNO_MACRO
#include "include/libgmp.h"
#include "include/gmpdev.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HIDDEN		__attribute__((visibility("hidden")))
#define likely(x)	__builtin_expect(!!(x), 1)
#define unlikely(x)	__builtin_expect(!!(x), 0)
#define container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))

#if defined(__SANITIZE_ADDRESS__)
#define GMP_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define GMP_ASAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define GMP_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define GMP_TSAN 1
#endif
#endif

/* Relaxed/acquire/release shorthands; the order is the point of each use. */
#define load_relaxed(p)		atomic_load_explicit((p), memory_order_relaxed)
#define load_acquire(p)		atomic_load_explicit((p), memory_order_acquire)
#define store_relaxed(p, v)	atomic_store_explicit((p), (v), memory_order_relaxed)
#define store_release(p, v)	atomic_store_explicit((p), (v), memory_order_release)

/*
 * A full barrier for the Dekker-style handshakes of sched.c. TSan does not
 * model fences, so its build uses a seq_cst read-modify-write of one shared
 * word instead: two such RMWs are ordered, and the later one synchronises
 * with the earlier, which gives the same guarantee.
 */
#ifdef GMP_TSAN
extern _Atomic unsigned long __gmp_barrier_word __attribute__((visibility("hidden")));
#define full_barrier()	atomic_fetch_add(&__gmp_barrier_word, 0)
#else
#define full_barrier()	atomic_thread_fence(memory_order_seq_cst)
#endif

/* ---- locks and notes (lock.c) ----------------------------------------- */

/*
 * A runtime lock: a futex mutex held for a few instructions, never across
 * a goroutine switch except through gopark's unlock callback.
 */
struct lock {
	_Atomic uint32_t key;	/* 0 free, 1 held, 2 held with waiters */
};

/* A one-shot wakeup for a parked thread (Go's note): sleep, wakeup, clear. */
struct note {
	_Atomic uint32_t key;
};

HIDDEN void __gmp_lock(struct lock *l);
HIDDEN void __gmp_unlock(struct lock *l);
HIDDEN void __gmp_notesleep(struct note *n);
HIDDEN bool __gmp_notetsleep(struct note *n, int64_t ns);	/* true if woken */
HIDDEN void __gmp_notewakeup(struct note *n);
HIDDEN void __gmp_noteclear(struct note *n);
HIDDEN int __gmp_futex_wait(_Atomic uint32_t *addr, uint32_t val, int64_t ns);
HIDDEN void __gmp_futex_wake(_Atomic uint32_t *addr, int n);
HIDDEN int64_t __gmp_nanotime(void);
HIDDEN _Noreturn void __gmp_fatal(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

/* errno of the running thread, read through a pointer no compiler caches. */
HIDDEN int __gmp_errno_get(void);
HIDDEN void __gmp_errno_set(int e);

/* ---- G ------------------------------------------------------------------ */

/* Goroutine states. A transition made by another thread is a CAS. */
enum {
	G_IDLE = 0,	/* just allocated, or on a free list */
	G_RUNNABLE,	/* on a run queue */
	G_RUNNING,	/* running user code on an M that holds a P */
	G_SYSCALL,	/* in a system call on its M, which holds no P */
	G_WAITING,	/* parked; only __gmp_ready() gets it out */
	G_DEAD,		/* exited; its stack and struct are cached */
};

/* A timer of the runtime's single heap (timer.c). */
struct timer {
	int64_t when;
	int64_t idx;		/* heap index, -1 when not in the heap */
	/* Called with the timers lock held: must only ready a G or similar. */
	void (*fn)(struct timer *t);
};

struct sudog;

struct g {
	/* First cache line: what spawning and switching touch. */
	void *sp;			/* saved stack pointer while not running */
	_Atomic uint32_t status;	/* G_* */
	_Atomic uint32_t selectdone;	/* a select's wakers race for it by CAS */
	int64_t id;
	struct m *m;			/* M running it, while running */
	struct g *schedlink;		/* global run queue, free lists */
	void (*fn)(void *);
	void *arg;
	void *param;			/* the sudog that woke a select */

	/* Invariants of a dead G, restored before it dies: idx -1, no keys. */
	struct timer timer;		/* sleep and select timeouts */
	struct g *gbatch;		/* dead, heading a chain: the next chain */
	int gbatchn;			/* ... and the length of its own */
	void *stack_lo;			/* lowest usable byte; guard below */
	size_t stack_size;		/* usable bytes below this struct */
	size_t guard_size;
	char name[16];
	void *keys[GMP_KEYS_MAX];
#ifdef GMP_TSAN
	void *tsan_fiber;
#endif
#ifdef GMP_ASAN
	void *asan_fake_stack;
#endif
} __attribute__((aligned(64)));

/* A G waiting on a channel, mutex or wait group; lives on the G's stack. */
struct sudog {
	struct g *g;
	struct sudog *next, *prev;
	struct sudog *waitlink;		/* the next sudog of the same select */
	void *elem;
	struct gmp_chan *c;
	bool is_select;
	bool success;			/* true: woken by a value, false: by close */
};

struct waitq {
	struct sudog *first, *last;
};

/* A channel (chan.c); select.c works on its insides too. */
struct gmp_chan {
	struct lock lock;
	bool closed;
	size_t qcount;		/* elements in buf */
	size_t dataqsiz;	/* capacity */
	size_t elemsize;
	size_t sendx, recvx;	/* ring indices */
	struct waitq recvq, sendq;
	char *buf;
};

HIDDEN void __gmp_chan_send_direct(struct gmp_chan *c, struct sudog *sg,
				   const void *ep);
HIDDEN void __gmp_chan_recv_direct(struct gmp_chan *c, struct sudog *sg, void *ep);
HIDDEN void __gmp_chan_bufsend(struct gmp_chan *c, const void *ep);
HIDDEN void __gmp_chan_bufrecv(struct gmp_chan *c, void *ep);

HIDDEN void __gmp_waitq_enqueue(struct waitq *q, struct sudog *s);
HIDDEN struct sudog *__gmp_waitq_dequeue(struct waitq *q);
HIDDEN void __gmp_waitq_remove(struct waitq *q, struct sudog *s);

/* ---- P ----------------------------------------------------------------- */

#define RUNQ_SIZE	256

/*
 * The P status word packs the state with the M that set it and a sequence
 * number bumped at every syscall entry, so that "P in syscall by M k, entry
 * n" is one 64-bit value: sysmon, the M coming back from the syscall and a
 * future kernel upcall all decide who owns the P with a single CAS on it.
 */
enum {
	P_IDLE = 0,	/* on the idle list, or being handed to an M */
	P_RUNNING,	/* owned by an M running its Gs */
	P_SYSCALL,	/* its M is in a syscall; anyone may take it by CAS */
	P_GCODE,	/* transparent mode: its M runs G code armed; taken
			 * by CAS, like P_SYSCALL, but only when /dev/gmp or
			 * its perf ring reports the M asleep (activation.c) */
};
#define P_STATUS(state, mid, seq) \
	((uint64_t)(seq) << 32 | (uint64_t)(mid) << 8 | (uint64_t)(state))
#define P_STATE(s)	((uint32_t)((s) & 0xff))
#define P_MID(s)	((uint32_t)(((s) >> 8) & 0xffffff))
#define P_SEQ(s)	((uint32_t)((s) >> 32))

struct p {
	int id;
	_Atomic uint64_t status;	/* P_STATUS(state, mid, seq) */
	struct m *m;			/* owner while P_RUNNING */
	struct p *link;			/* idle list */
	uint32_t seq;			/* syscall sequence, owner-written */
	_Atomic uint32_t schedtick;	/* bumped at every G scheduled */
	_Atomic uint32_t preempt;	/* sysmon asks the running G to yield */

	/* Owner-only: free Gs with their stacks (the stack cache). */
	struct g *gfree;
	int ngfree;
	struct g *gspare;		/* NULL or a chain of GF_BATCH more */
	/* Owner-only: goroutine ids taken from sched.goidgen in batches. */
	int64_t goidcache, goidcacheend;

	/* sysmon's private view (Go's sysmontick). */
	uint32_t sm_schedtick, sm_syscalltick;
	int64_t sm_schedwhen, sm_syscallwhen;

	/* Go's runq: owner puts at tail; owner and thieves take at head. */
	_Atomic uint32_t runqhead __attribute__((aligned(64)));
	_Atomic uint32_t runqtail;
	_Atomic(struct g *) runnext;
	_Atomic(struct g *) runq[RUNQ_SIZE];

	_Atomic uint64_t nsched;	/* Gs run on this P, for statistics */

	/*
	 * kmod, perf: the status word of a syscall whose block an activation
	 * left alone (nothing to run then), 0 if none: a G readied while no P
	 * is idle takes the P at once (__gmp_act_demand). A hint, re-checked.
	 */
	_Atomic uint64_t kblocked;

	/* The P's io_uring (poll_uring.c), created on first use; NULL before. */
	_Atomic(struct ioring *) ring;
	uint32_t io_defer;	/* schedules since its SQ last had nothing pending */
	uint32_t io_tick;	/* reaps, to look at other rings now and then */
} __attribute__((aligned(64)));

/* ---- M ----------------------------------------------------------------- */

/*
 * perf mode (handoff_perf.c): the M's context-switch event and its ring.
 * Drained by whoever holds lock (activations, on-demand takers), who may
 * also switch the event off; the M switches it off and on, and closes it
 * at exit, under the same lock.
 */
struct perf_ring {
	struct lock lock;
	int fd;			/* -1: none (never opened, or closed) */
	void *meta;		/* struct perf_event_mmap_page */
	const char *data;	/* the data pages */
	uint64_t size;		/* their bytes, a power of two */
	size_t maplen;
	uint64_t tail;		/* consumed up to here (what data_tail says) */
	uint64_t head;		/* data_head at the end of the last drain */
	int state;		/* PR_* of the last record read (handoff_perf.c) */
	bool enabled;		/* the event is enabled (lock held) */
	/* Disabled while unarmed: the next arming enables it (__gmp_arm). */
	_Atomic uint32_t off;
};

struct m {
	void *g0sp;		/* the scheduler's saved stack pointer */
	int id;
	struct g *curg;		/* G running on this M */
	struct p *p;		/* attached P */
	struct p *nextp;	/* P handed over by startm */
	struct p *oldp;		/* P left in a syscall */
	uint32_t syscallseq;	/* seq of that syscall */
	bool spinning;		/* looking for work without having found any */
	struct g *preempted;	/* the G this M last preempted (see execute) */
	struct note park;
	struct m *schedlink;	/* idle list */
	struct m *alllink;
	/* mcall: what the scheduler does for the G that just switched to it. */
	struct g *(*mcall_fn)(struct m *m, struct g *gp);
	bool (*park_fn)(struct g *gp, void *arg);
	void *park_arg;
	/* park_direct: the G that switched straight to ours, to unlock for. */
	struct g *park_prev;
	uint64_t fastrand;
	int *errnop;		/* the thread's errno, saved across mcall */
	pthread_t thread;
	void *altstack;
	void *g0_stack_lo;
	size_t g0_stack_size;
#ifdef GMP_TSAN
	void *tsan_g0;
#endif
#ifdef GMP_ASAN
	void *asan_g0_fake_stack;
#endif

	/*
	 * kmod and perf handoff (activation.c); all but kp written by the M
	 * itself. Armed: our blocks are reported (kmod) or acted upon (perf).
	 */
	int tid;		/* the thread's id, for /proc (perf rescans) */
	uint32_t *armw;		/* the armed word: kslot->armed or parm; NULL: none */
	uint32_t parm;		/* perf: our armed word (__atomic, read by takers) */
	struct gmp_slot *kslot;	/* our slot in /dev/gmp's mapping; NULL: none */
	struct perf_ring pr;	/* perf: our event (fd -1 in other modes) */
	bool karmed;		/* what we last stored in *armw */
	bool exiting;		/* test hook: an idle M told to exit (mexit) */
	bool transparent;	/* G code runs armed (GMP_TRANSPARENT) */
	bool kactivate;		/* woken by startm to become an activation */
	int pinned;		/* 1 + the CPU our activation wait pinned us
				 * to, until __gmp_act_unpin; 0: not pinned */
	bool pin_fresh;		/* pinned, and no goroutine has run yet */
	int wake_cpu;		/* kmod: the CPU the M whose P our activation
				 * took blocked on; -1: not known */
	bool ksyscall;		/* transparent: between syscall enter and exit */
	uint32_t kseq;		/* transparent: the seq of our P_GCODE word */
	/* The P a taker may take from us: set before our slot is armed. */
	_Atomic(struct p *) kp;

	/* As the poller M (poll_uring.c): its ring fds, and an eventfd that
	 * breaks its wait - its own, so that no other M can eat a break. */
	struct pollfd *pollfds;
	int npollfds;
	int pollbreak;		/* -1 until it first becomes the poller */
};

/* Ms are numbered 1..GMP_MAX_M (an M's id is its m_id in /dev/gmp). */
#define GMP_MAX_M	10000

/* ---- the scheduler ---------------------------------------------------- */

struct sched {
	struct lock lock;	/* idle lists, global run queue, M creation */
	struct m *midle;
	int nmidle;
	int mcount;
	struct m *allm;
	struct p *pidle;
	_Atomic int npidle;
	_Atomic int nmspinning;
	struct g *runqhead, *runqtail;
	_Atomic int runqsize;

	/*
	 * Lines of their own: spinning Ms read the fields above all the time,
	 * while a spawning P takes these.
	 */
	struct lock gflock __attribute__((aligned(64)));	/* global free G list */
	struct g *gfree;
	int ngfree;

	_Atomic int64_t goidgen __attribute__((aligned(64)));	/* by batches */
	int gomaxprocs __attribute__((aligned(64)));	/* read-mostly from here */
	struct p *allp;
	size_t stack_size;
	int handoff;
	_Atomic int started;

	/*
	 * The M parked for the earliest timer and, with the io_uring poller,
	 * for the completions of idle Ps' rings (the "poller M"), if any.
	 */
	struct m *timer_m;
	int64_t timer_until;
	int poller;		/* GMP_POLLER_URING or _BLOCKING */

	/* sysmon (handoff_sysmon.c): in kmod/perf mode only the preemption tick */
	_Atomic uint32_t sysmonwait;
	struct note sysmonnote;
	pthread_t sysmon_thread;
	_Atomic bool sysmon_retake;	/* takes Ps from syscalls (sysmon mode) */
	bool transparent;		/* GMP_TRANSPARENT in force (kmod, perf) */

	/* per-goroutine storage */
	_Atomic unsigned int nkeys;
	_Atomic(void (*)(void *)) key_dtor[GMP_KEYS_MAX];
};

HIDDEN extern struct sched __gmp_sched;

/* Current M of this thread. Read through asm so no compiler caches it. */
extern __thread struct m *__gmp_tls_m
	__attribute__((tls_model("initial-exec"), visibility("hidden")));

static inline struct m *__gmp_getm(void)
{
	struct m *m;

	__asm__ volatile("movq __gmp_tls_m@gottpoff(%%rip), %0\n\t"
			 "movq %%fs:(%0), %0" : "=r"(m));
	return m;
}

static inline struct g *__gmp_getg(void)
{
	struct m *m = __gmp_getm();

	return m ? m->curg : NULL;
}

HIDDEN void __gmp_preempt_slow(struct m *m);

/*
 * At every libgmp call a goroutine makes: yield if sysmon asked (relaxed:
 * a late or early yield is harmless), stop if a transparent M lost its P.
 * Inline: a load or two on the way of every channel operation.
 */
static inline void __gmp_preempt_check(void)
{
	struct m *m = __gmp_getm();

	if (!m || !m->p || !m->curg)
		return;
	if (m->transparent || __builtin_expect(atomic_load_explicit(&m->p->preempt,
						memory_order_relaxed) != 0, 0))
		__gmp_preempt_slow(m);
}

HIDDEN int __gmp_start(void);
/*
 * Make gp runnable. From a goroutine in transparent mode whose P was taken
 * meanwhile it also stops that goroutine (a switch): call it holding no
 * runtime lock, as every caller does.
 */
HIDDEN void __gmp_ready(struct g *gp, bool next);
/* Start a goroutine without a preemption check (callers holding locks). */
HIDDEN bool __gmp_spawn(void (*fn)(void *), void *arg);
HIDDEN void __gmp_park(bool (*unlockf)(struct g *gp, void *arg), void *arg);
HIDDEN bool __gmp_park_unlock(struct g *gp, void *lock);
HIDDEN void __gmp_wakep(void);
HIDDEN void __gmp_startm(struct p *p, bool spinning);
HIDDEN bool __gmp_p_claim(struct p *p, uint64_t status);
HIDDEN void __gmp_handoffp(struct p *p);
HIDDEN void __gmp_startm_activation(void);
HIDDEN uint32_t __gmp_fastrandn(uint32_t n);
HIDDEN bool __gmp_runqempty(struct p *p);
HIDDEN unsigned int __gmp_runqroom(struct p *p);	/* owner: free local slots */

/* timers */
HIDDEN extern struct lock __gmp_timers_lock;
HIDDEN extern _Atomic int64_t __gmp_timers_next;	/* INT64_MAX if none */
HIDDEN bool __gmp_timer_add_locked(struct timer *t);	/* true: new earliest */
HIDDEN void __gmp_timer_del_locked(struct timer *t);
HIDDEN void __gmp_timers_run(int64_t now);
HIDDEN void __gmp_wake_timer_sleeper(int64_t when);

/* ---- the I/O poller (poll_uring.c) --------------------------------------- */

struct ioring;
struct ioop;
struct selpoll;

HIDDEN int __gmp_poll_init(int want, unsigned int entries, int procs); /* sets sched.poller */
HIDDEN void __gmp_poll_debug_line(void);
/* Owner of p, at each schedule: submit what waits (batched), reap; Gs readied. */
HIDDEN void __gmp_poll_sched(struct p *p, bool flush);
/* Owner of p: its ring has nothing in flight (or it has no ring). */
HIDDEN bool __gmp_poll_idle(struct p *p);
/* Reap any P's ring whose completions wait (try-lock): the readied Gs go to
 * our P's queue. True if any G was readied. */
HIDDEN bool __gmp_poll_steal(void);
/* Completions wait on p's ring (a hint, from any thread). */
HIDDEN bool __gmp_poll_ready(struct p *p);
/* p's ring has operations in flight (a hint, from any thread). */
HIDDEN bool __gmp_poll_inflight(struct p *p);
/* Submit p's pending SQEs now (before its M leaves it in a syscall). */
HIDDEN void __gmp_poll_flush(struct p *p);
/*
 * The poller M (one at a time: sched.timer_m): collect, under sched.lock,
 * the rings of idle Ps with operations in flight (their number); then,
 * without it, wait for a completion on one of them, a break, or until.
 */
HIDDEN int __gmp_poll_collect(struct m *m);
HIDDEN void __gmp_poll_block(struct m *m, int64_t until);
HIDDEN void __gmp_poll_break(struct m *tm);	/* tm: sched.timer_m, or NULL */
HIDDEN void __gmp_poll_kick(void);		/* break the poller M, or wakep */
/* [G, uring] Run a request; false: the ring is unusable, make the plain call. */
HIDDEN bool __gmp_io_run(struct ioop *op, int64_t deadline, long *res);
/* [G] A select's fd case: armed (selectdone 2 meanwhile), then finished. */
HIDDEN int __gmp_selpoll_start(int fd, short events, struct selpoll **wp);
HIDDEN int __gmp_selpoll_finish(struct selpoll *w, bool won);

/* stacks (stack.c) */
HIDDEN struct g *__gmp_stack_alloc(size_t stack_size);
HIDDEN void __gmp_stack_check(struct g *gp);
HIDDEN int __gmp_stack_install_handler(void);
HIDDEN int __gmp_stack_thread_init(struct m *m);
HIDDEN void __gmp_stack_thread_fini(struct m *m);

/* context_x86_64.S */
HIDDEN void __gmp_ctx_switch(void **save_sp, void *new_sp);
HIDDEN void __gmp_ctx_entry(void);
HIDDEN void __gmp_ctx_init(struct g *gp, void (*entry)(void));

/* sysmon (handoff_sysmon.c) */
HIDDEN int __gmp_sysmon_start(void);
HIDDEN void __gmp_sysmon_wake(void);

/* ---- handoff counters ---------------------------------------------------- */

/* Counters of gmp_handoff_stats(); relaxed increments, off the fast paths. */
struct hstats {
	_Atomic uint64_t sysmon_takes, upcall_takes, demand_takes, upcalls,
		stale, overflows, lost, perf_takes, perf_blocks, perf_lost, pins;
};
HIDDEN extern struct hstats __gmp_hstats;
#define hstat_inc(field) \
	atomic_fetch_add_explicit(&__gmp_hstats.field, 1, memory_order_relaxed)
#define hstat_add(field, n) \
	atomic_fetch_add_explicit(&__gmp_hstats.field, (n), memory_order_relaxed)

/* ---- activations: what kmod and perf mode share (activation.c) ---------- */

/* Does this handoff park spare Ms as activations (kmod, perf)? */
static inline bool __gmp_uses_activations(int handoff)
{
	return handoff == GMP_HANDOFF_KMOD || handoff == GMP_HANDOFF_PERF;
}

/* M id -> M, for events and rescans; published when the M registers. */
HIDDEN extern _Atomic(struct m *) __gmp_mtab[];
HIDDEN int __gmp_pool_init(int procs);	/* GMP_ACTIVATIONS; -EINVAL if bad */
HIDDEN int __gmp_pool_target(void);
HIDDEN void __gmp_pool_fill(void);	/* start activations up to the target */
HIDDEN bool __gmp_pool_join(void);	/* true: park as an activation */
HIDDEN void __gmp_pool_woken(void);	/* an activation left its wait */
HIDDEN bool __gmp_pool_rejoin(void);	/* ... and goes back, if not full */
HIDDEN void __gmp_pool_took(void);	/* ... with a P: keep the pool non-empty */
HIDDEN int __gmp_pool_parked(void);
/* Pinned activations on: true, and *set (if set) = the CPUs every M gets. */
HIDDEN bool __gmp_pin_mask(cpu_set_t *set);
HIDDEN void __gmp_pin_setup(int handoff);	/* once the mode is known */
HIDDEN void __gmp_act_unpin_slow(struct m *m);
/* Back on every CPU after an activation's wait, if pinned. */
static inline void __gmp_act_unpin(struct m *m)
{
	if (unlikely(m->pinned))
		__gmp_act_unpin_slow(m);
}
/*
 * ... before a goroutine runs, unless it is the one the activation was
 * woken for (that one runs pinned: the syscall would delay it).
 */
static inline void __gmp_act_unpin_ran(struct m *m)
{
	if (unlikely(m->pinned) && !m->pin_fresh)
		__gmp_act_unpin_slow(m);
}
/* The status word of the P bm may lose, if it holds one armed; 0 if not. */
HIDDEN uint64_t __gmp_act_takeable(struct m *bm, struct p **pp);
/* bm sleeps with p in state st: claim p if wanted, else leave it. */
HIDDEN struct p *__gmp_act_take(struct p *p, uint64_t st);
HIDDEN void __gmp_act_demand(void);
HIDDEN extern _Atomic int __gmp_act_nblocked;	/* Ps with kblocked set */
/* Park as an activation: the P to run, or NULL: the pool is full, park idle. */
HIDDEN struct p *__gmp_activation(struct m *m);
HIDDEN void __gmp_act_register(struct m *m);	/* on the new M's thread */
HIDDEN void __gmp_act_unregister(struct m *m);	/* on the M's thread, at exit */

/* The P is its M's again: an on-demand taker need not look at it. */
static inline void __gmp_act_forget(struct p *p, uint64_t status)
{
	if (unlikely(load_relaxed(&p->kblocked) == status) &&
	    atomic_compare_exchange_strong(&p->kblocked, &status, 0))
		atomic_fetch_sub(&__gmp_act_nblocked, 1);
}

/*
 * The armed word: one relaxed store, no system call. kmod: the kernel
 * reads it when the thread leaves its CPU. perf: a taker reads it after
 * the M's block record, which this thread's kernel entry wrote later (x86
 * stores are seen in program order, kernel ones included).
 */
HIDDEN void __gmp_perf_enable(struct m *m);

static inline void __gmp_arm(struct m *m)
{
	if (m->armw) {
		m->karmed = true;
		__atomic_store_n(m->armw, 1, __ATOMIC_RELAXED);
		/*
		 * perf: was our event switched off while we were unarmed? A
		 * taker that turns it off stores off, then reads our armed
		 * word; we store that word, then read off: Dekker, one of us
		 * sees the other (handoff_perf.c, quiet()).
		 */
		if (m->pr.fd >= 0) {
			full_barrier();
			if (unlikely(load_relaxed(&m->pr.off)))
				__gmp_perf_enable(m);
		}
	}
}

static inline void __gmp_disarm(struct m *m)
{
	if (m->karmed) {
		m->karmed = false;
		__atomic_store_n(m->armw, 0, __ATOMIC_RELAXED);
	}
}

/* ---- the /dev/gmp handoff (handoff_kmod.c) ------------------------------ */

/* Open /dev/gmp; 0, or -errno when it cannot be used (message if required). */
HIDDEN int __gmp_kmod_init(bool required);
HIDDEN void __gmp_kmod_debug_line(const char *why);
HIDDEN void __gmp_kmod_register(struct m *m);	/* on the new M's thread */
HIDDEN void __gmp_kmod_unregister(struct m *m);
HIDDEN struct p *__gmp_kmod_activation(struct m *m);
HIDDEN bool __gmp_kmod_asleep(struct m *bm, uint64_t st);
HIDDEN void __gmp_kmod_stats(struct gmp_handoff_stats *st);

/* ---- the perf context-switch handoff (handoff_perf.c) ------------------- */

HIDDEN int __gmp_perf_config(void);	/* GMP_PERF_PAGES; -EINVAL if bad */
/* Can this thread open a context-switch event and map its ring? why: the
 * reason it cannot (for GMP_DEBUG and the forced mode's message). */
HIDDEN int __gmp_perf_init(bool required, char *why, size_t whylen);
HIDDEN void __gmp_perf_debug_line(const char *why);
HIDDEN void __gmp_perf_register(struct m *m);	/* on the new M's thread */
HIDDEN void __gmp_perf_unregister(struct m *m);
HIDDEN struct p *__gmp_perf_activation(struct m *m);
HIDDEN bool __gmp_perf_asleep(struct m *bm, uint64_t st);
HIDDEN bool __gmp_perf_preempt_rt(void);
HIDDEN void __gmp_perf_pause(struct m *m);	/* the runtime parks this M */

#endif /* GMP_INTERNAL_H */
