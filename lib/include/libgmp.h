/* SPDX-License-Identifier: (LGPL-2.1-or-later OR MIT) */
/*
 * libgmp.h - Go's G/M/P scheduler for C programs: goroutines, channels,
 * select, timers, goroutine-aware locks and system calls that do not stall
 * the other goroutines of their processor.
 *
 * Not GNU MP. This library is installed as libgmp-sched (soname
 * libgmp-sched.so.0, pkg-config gmp-sched) and exports no name of GNU MP's
 * (gmp_printf, gmp_version, ...); only this header is named libgmp.h.
 *
 * Concepts (as in Go's runtime):
 *	G  a goroutine: a function with its own stack, cheap to create.
 *	M  a worker thread, created on demand and reused.
 *	P  a processor: the right to run goroutines. There are GMP_MAXPROCS of
 *	   them; an M needs one to run a G. An M blocked in a system call
 *	   announced with gmp_syscall_enter() loses its P to another M.
 *
 * ERRORS. One convention throughout: a function that can fail returns a
 * negative errno value (-EINVAL, -EAGAIN, ...) and a value >= 0 on success,
 * like the kernel's. errno is never used to report a libgmp error. The
 * system call wrappers (gmp_read, ...) return the call's result or -errno,
 * and also leave errno as the call set it.
 *
 * CONTEXT. Calls marked [G] must be made from a goroutine; from any other
 * thread they fail with -EPERM (or do nothing, for void calls). Between
 * gmp_syscall_enter() and gmp_syscall_exit() no other libgmp call may be
 * made.
 *
 * ERRNO. errno is per thread and a goroutine may resume on another thread
 * after any call that can switch (every [G] call). libgmp carries the value
 * of errno with the goroutine, but C compilers cache errno's *address*
 * (__errno_location() is declared const), so code that reads errno after a
 * switch may read the old thread's copy. This header therefore redefines
 * errno as (*gmp_errno_location()), which is re-evaluated at every use.
 * Define GMP_NO_ERRNO_MACRO before including it to keep libc's definition.
 *
 * PREEMPTION is cooperative: a goroutine that has run for more than 10 ms is
 * asked to yield, and does so at its next libgmp call (gmp_preempt_check()
 * is the cheapest one). A loop that makes no libgmp call holds its P.
 */
#ifndef LIBGMP_H
#define LIBGMP_H

#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/types.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The library is built with -fvisibility=hidden: this is its interface. */
#pragma GCC visibility push(default)

#define GMP_SCHED_VERSION_MAJOR	0
#define GMP_SCHED_VERSION_MINOR	3

/* ---- runtime ---------------------------------------------------------- */

/*
 * Handoff of a P whose M blocks in a system call.
 *
 * kmod: gmp.ko's /dev/gmp reports the block the moment the M leaves its
 * CPU and wakes a parked spare M (an *activation*), which takes the P with
 * one CAS and runs its goroutines: no polling thread. A goroutine readied
 * while no P is idle takes at once a P whose M the module reports asleep.
 *
 * perf: the same without a module. Each M opens a perf event on itself
 * (PERF_COUNT_SW_DUMMY with context_switch = 1, user space only) with a
 * small mmapped ring, when it starts, and closes it when it exits; the
 * kernel writes a record at each of its context switches. Activations
 * wait in epoll_wait(2) on all the rings; a switch-out that is not a
 * preemption, of an M in a system call (or running goroutine code, in
 * transparent mode), makes one take the P with the same CAS as kmod mode.
 * Lost records (a full ring) make it look at every P instead: a P in a
 * system call whose M /proc shows asleep is taken. An M's event is on
 * only from its next system call after it parked or was seen running
 * unarmed (an ioctl then). Costs, unlike kmod: a record written at every
 * switch in and out of such an M, wanted or not (a preemption, the wake
 * after a block), and an activation woken to read it; one file
 * descriptor and one mapping (1 + GMP_PERF_PAGES pages, locked memory)
 * per M; activations wait as SCHED_BATCH; and it needs
 * perf_event_open(2) for one's own threads (Debian's and Ubuntu's
 * kernels forbid it to unprivileged users with their default
 * perf_event_paranoid of 3; mainline kernels allow it up to 2, or with
 * CAP_PERFMON). An M that cannot open its event (out of file descriptors
 * or locked memory) is watched by sysmon's polling instead.
 *
 * sysmon: a Go-style thread polls every 20 us to 10 ms and takes Ps that
 * stayed in a system call for a tick.
 *
 * auto: kmod when /dev/gmp opens and speaks our ABI version, else perf
 * when a context-switch event opens and its ring maps, else sysmon.
 * GMP_DEBUG=1 says why each one it passed over was refused.
 *
 * In kmod and perf mode a thread remains besides the Ms, the 10 ms
 * preemption tick (gmp-tick): it asks goroutines that ran for 10 ms to
 * yield and starts an M for an overdue timer, but takes no P from a
 * system call (unless some M could not be watched).
 */
enum gmp_handoff {
	GMP_HANDOFF_DEFAULT = 0,	/* $GMP_HANDOFF, else auto */
	GMP_HANDOFF_AUTO,		/* kmod if usable, else perf, else sysmon */
	GMP_HANDOFF_SYSMON,		/* a Go-style sysmon thread */
	GMP_HANDOFF_KMOD,		/* /dev/gmp upcalls (-ENODEV without it) */
	GMP_HANDOFF_PERF,		/* perf context-switch records, no module */
};

/*
 * Transparent mode (kmod and perf; GMP_TRANSPARENT=1 or this flag): an
 * M stays armed while goroutine code runs, not only inside
 * gmp_syscall_enter/exit and the wrappers, so a goroutine that blocks in
 * a raw read(2), in a library's own fsync(2) or on a page fault releases
 * its P too. The M that comes back from such a block may have lost its P:
 * it goes on running that goroutine's code, on no P, until the goroutine's
 * next libgmp call that schedules (any call that may block, yield, ready
 * or spawn a goroutine, a wrapper or gmp_syscall_enter/exit, and
 * gmp_preempt_check), which notices with one load or CAS and puts the
 * goroutine back in a queue; it never touches a P it does not own. Calls
 * that do none of that (gmp_now, gmp_self, gmp_chan_len, a try operation
 * that wakes nobody) do not stop it. Worst case: until that call, one
 * thread more than GMP_MAXPROCS runs per such goroutine, and a goroutine
 * that never makes such a call again runs on like a plain thread, beyond
 * preemption. Each switch to a goroutine costs a few more stores; every
 * call that readies a goroutine, one CAS more.
 */
#define GMP_CONFIG_TRANSPARENT	(1U << 0)

/*
 * Environment (read once, at start): GMP_MAXPROCS, GMP_STACK_SIZE (bytes,
 * or with k/M), GMP_HANDOFF, GMP_TRANSPARENT=1, GMP_ACTIVATIONS (spare Ms
 * parked in /dev/gmp or epoll_wait, 1..64, default GMP_MAXPROCS + 1 up to
 * 4), GMP_PIN_ACTIVATIONS=0|1 (kmod mode: each activation waits pinned
 * to a CPU where no other M is pinned, if one is left, so that gmp.ko's
 * wake of the one on the CPU an M blocks on runs it there next; the
 * activation that takes a P runs the goroutine it took it for still
 * pinned, and threads that goroutine creates meanwhile inherit the one
 * CPU; it gets every CPU back before it runs a goroutine again (that one
 * after a park or a yield, or another) or parks other than as an
 * activation; default 1; in force where the process may use two CPUs or
 * more and GMP_ACTIVATIONS is at least their number), GMP_PERF_PAGES
 * (perf mode: data pages of each M's ring, a power of two, 1..256,
 * default 2; each page holds 512 switch records), GMP_DEBUG=1
 * (lines on stderr say which handoff and poller are in use and, with auto,
 * why the ones before them were refused), GMP_POLLER=uring|blocking,
 * GMP_URING_ENTRIES (see gmp_poller_mode), and
 * GMP_STACK_GUARD=mprotect|canary, which forces the guard used by kernels
 * without MADV_GUARD_INSTALL (< 6.13), or none (a canary word, checked at
 * each switch): for tests.
 */
struct gmp_config {
	unsigned int size;	/* sizeof(struct gmp_config) */
	unsigned int maxprocs;	/* 0: $GMP_MAXPROCS, else the CPUs we may use */
	size_t stack_size;	/* 0: $GMP_STACK_SIZE, else 64 KiB (min 16 KiB) */
	int handoff;		/* enum gmp_handoff */
	unsigned int flags;	/* GMP_CONFIG_* */
	int poller;		/* enum gmp_poller (0.3; was reserved, 0) */
	unsigned int ring_entries;	/* 0: $GMP_URING_ENTRIES, else 256 */
	unsigned long reserved[3];	/* 0 */
};

/*
 * Configure the runtime before its first use (optional: gmp_run and gmp_go
 * start it with the defaults). Values in cfg win over the environment
 * (GMP_MAXPROCS, GMP_STACK_SIZE, GMP_HANDOFF=sysmon|kmod|perf|auto).
 * -EBUSY once started, -EINVAL for a bad field or variable; with kmod
 * handoff asked for explicitly, gmp_dev_open()'s error when /dev/gmp cannot
 * be used (-ENODEV: gmp.ko is not loaded; -EPROTO: another ABI version),
 * with a message on stderr; with perf handoff asked for explicitly, the
 * error of perf_event_open(2) or of mapping the ring (-EACCES: not allowed,
 * perf_event_paranoid; -EPERM: over the locked-memory limit; -ENOENT,
 * -EINVAL, -EOPNOTSUPP: no such event in this kernel, or a PREEMPT_RT
 * kernel, where perf mode is not offered), with a message on stderr that
 * says which.
 */
int gmp_init(const struct gmp_config *cfg);

/* The handoff in use: GMP_HANDOFF_SYSMON, _KMOD or _PERF; 0 before the start. */
int gmp_handoff_mode(void);

/* What the handoff did so far (since the start of the process). */
struct gmp_handoff_stats {
	unsigned int size;	/* in: sizeof(struct gmp_handoff_stats) */
	int mode;		/* GMP_HANDOFF_SYSMON, _KMOD or _PERF */
	unsigned int transparent;	/* 1 if GMP_TRANSPARENT is in force */
	unsigned int activations;	/* kmod, perf: spare Ms parked now */
	uint64_t sysmon_takes;	/* Ps taken from a syscall by sysmon */
	uint64_t upcall_takes;	/* Ps taken by an activation on an upcall */
	uint64_t demand_takes;	/* Ps of sleeping Ms taken for new work */
	uint64_t upcalls;	/* events received by activations (perf: wakes) */
	uint64_t stale;		/* events about a block already over */
	uint64_t overflows;	/* GMP_EV_OVERFLOW received, perf records lost
				 * (or maybe lost: a full ring): Ps rescanned */
	uint64_t lost;		/* transparent: Ms that found their P gone */
	/* kmod: the module's counters of our group (GMP_IOC_STATS) */
	uint64_t kblocks;	/* blocks of armed Ms */
	uint64_t kwakeups;	/* activations woken */
	uint64_t kevents;	/* records written to the ring */
	uint64_t koverflows;	/* records lost, the ring full */
	/* perf (since 0.2: in place of reserved words, same size) */
	uint64_t perf_takes;	/* Ps taken by an activation on a perf record
				 * (or by its rescan after lost records) */
	uint64_t perf_blocks;	/* switch-out records of blocks read */
	uint64_t perf_lost;	/* records the kernel reported lost */
	uint64_t pins;		/* kmod: activation waits pinned to one CPU
				 * (GMP_PIN_ACTIVATIONS; 0.3, was reserved) */
};

/* 0, -EINVAL for a bad size, -EAGAIN before the start. */
int gmp_handoff_stats(struct gmp_handoff_stats *st);

/*
 * The I/O poller: how the system call wrappers below wait.
 *
 * uring: each P has an io_uring (liburing), created on first use. A
 * goroutine's call becomes a request on its P's ring and the goroutine
 * parks; its M runs other goroutines. Completions are reaped by the
 * scheduler (its own P's ring at each schedule, other Ps' rings when it
 * looks for work); the M that goes idle last waits on the rings of idle
 * Ps together with the earliest timer. The goroutine may resume on
 * another P. blocking: the plain call inside gmp_syscall_enter/exit, the
 * P handed off while it blocks (kmod or sysmon).
 * GMP_POLLER=uring|blocking (or gmp_config.poller) forces one; by default
 * uring unless io_uring cannot be set up (ENOSYS, EPERM,
 * kernel.io_uring_disabled, a missing opcode), then blocking. GMP_DEBUG=1
 * prints which and why. GMP_URING_ENTRIES (2..4096, a power of two;
 * default 256) sizes each ring's submission queue (completion queue: 16
 * times that). Neither bounds the requests in flight: a full SQ is
 * submitted (or, if the kernel cannot take it now, requests wait in a
 * queue of the ring), and completions beyond the CQ are kept by the
 * kernel (IORING_FEAT_NODROP, required) until reaped.
 */
enum gmp_poller {
	GMP_POLLER_DEFAULT = 0,		/* $GMP_POLLER, else auto */
	GMP_POLLER_URING,		/* io_uring (an error if unavailable) */
	GMP_POLLER_BLOCKING,		/* blocking calls with handoff */
};

/* GMP_POLLER_URING or _BLOCKING; 0 before the start. */
int gmp_poller_mode(void);

struct gmp_poller_stats {
	unsigned int size;	/* in: sizeof(struct gmp_poller_stats) */
	int mode;		/* GMP_POLLER_URING or _BLOCKING */
	unsigned int rings;	/* rings created (one per P at most) */
	unsigned int sq_entries, cq_entries;	/* per ring */
	unsigned int features;	/* io_uring_params.features of the rings */
	uint64_t ops;		/* operations started through a ring */
	uint64_t cqes;		/* completions reaped */
	uint64_t enters;	/* io_uring_enter calls that submitted */
	uint64_t queued;	/* operations that waited for room in a ring */
	uint64_t stolen;	/* completions reaped from another P's ring */
	uint64_t waits;		/* idle waits of the poller M on the rings */
	uint64_t timeouts;	/* operations ended by their deadline */
	uint64_t cancels;	/* cancel requests sent for abandoned operations */
	uint64_t cq_overflows;	/* flushes of completions the kernel kept
				 * aside, a CQ being full (NODROP) */
	uint64_t inflight_max;	/* most requests in flight on one ring */
	uint64_t reserved[4];
};

/* 0, -EINVAL for a bad size, -EAGAIN before the start. */
int gmp_poller_stats(struct gmp_poller_stats *st);

/*
 * Run main_fn(arg) as a goroutine and wait for it to return. Other
 * goroutines keep their state when it does (they run on, or stay blocked,
 * and a later gmp_run finds them). May be called again; not from a
 * goroutine (-EDEADLK). Returns 0 or the error of gmp_init.
 */
int gmp_run(void (*main_fn)(void *), void *arg);

/*
 * Start fn(arg) as a new goroutine. From any thread once the runtime is
 * started (it is started if needed). Returns the goroutine's id (> 0;
 * unique, increasing per P, not consecutive). From a goroutine it may
 * yield: when its P's run queue is full (256 goroutines) the caller lets
 * the queue run before it goes on, so a loop of gmp_go does not pile up
 * goroutines (their stacks) faster than the Ps run them. (If the queue is
 * still full after two yields, refilled by others, the new goroutine goes
 * in anyway and half the queue moves to the global one, as in Go.)
 */
int64_t gmp_go(void (*fn)(void *), void *arg);

void gmp_yield(void);			/* [G] let others run */
_Noreturn void gmp_exit(void);		/* [G] end this goroutine */
void gmp_preempt_check(void);		/* [G] yield if asked to */
int64_t gmp_self(void);			/* [G] this goroutine's id; 0 outside */
int gmp_set_name(const char *name);	/* [G] up to 15 chars, for messages */
int gmp_maxprocs(void);			/* number of Ps (0 before start) */
int gmp_p_index(void);			/* [G] index of the P running us */

/* ---- time ------------------------------------------------------------- */

int64_t gmp_now(void);			/* CLOCK_MONOTONIC in nanoseconds */
int gmp_sleep(int64_t ns);		/* [G] park for at least ns */

/* ---- channels --------------------------------------------------------- */

/*
 * A channel of elements of elem_size bytes (0 allowed) with a buffer of
 * capacity elements (0: unbuffered, every send meets a receive).
 * Elements are copied in and out. A NULL channel is never ready, like Go's
 * nil channel: try operations on it fail with -EAGAIN, select never picks
 * its cases, and blocking operations, which could never return, fail with
 * -EINVAL.
 */
typedef struct gmp_chan gmp_chan_t;

int gmp_chan_make(gmp_chan_t **ch, size_t elem_size, size_t capacity);
/* Free a channel no goroutine uses any more. */
void gmp_chan_free(gmp_chan_t *ch);

/* [G] 0, or -EPIPE if the channel is (or gets) closed: Go's panic. */
int gmp_chan_send(gmp_chan_t *ch, const void *elem);
/*
 * [G] 0 with a value (Go's ok == true), or -EPIPE when the channel is closed
 * and drained: *elem is zeroed (ok == false). elem may be NULL.
 */
int gmp_chan_recv(gmp_chan_t *ch, void *elem);
/* [G] As above without blocking: -EAGAIN when they would block. */
int gmp_chan_try_send(gmp_chan_t *ch, const void *elem);
int gmp_chan_try_recv(gmp_chan_t *ch, void *elem);
/* Wakes every blocked receiver (-EPIPE) and sender (-EPIPE). -EPIPE if closed. */
int gmp_chan_close(gmp_chan_t *ch);
size_t gmp_chan_len(gmp_chan_t *ch);
size_t gmp_chan_cap(gmp_chan_t *ch);

enum gmp_select_op {
	GMP_SELECT_RECV = 1,
	GMP_SELECT_SEND = 2,
	GMP_SELECT_POLL = 3,	/* an fd's readiness (0.3) */
};

/*
 * GMP_SELECT_POLL: ch is ignored (NULL), elem points to a struct pollfd
 * whose fd and events say what to wait for (a NULL elem is never ready).
 * The case is ready when poll(2) would report one of events or
 * POLLERR/POLLHUP/POLLNVAL; when chosen, its revents is set and result
 * is revents (> 0). A wait that loses to another case is cancelled (with
 * io_uring an abandoned request is cancelled and its memory freed when
 * its completion arrives; in blocking mode a helper goroutine waits in
 * poll(2) and is woken through an eventfd).
 */
struct gmp_select_case {
	gmp_chan_t *ch;		/* NULL: never ready */
	int op;			/* enum gmp_select_op */
	void *elem;		/* RECV: where to store (may be NULL); SEND: what;
				 * POLL: a struct pollfd */
	int result;		/* out for the chosen case: 0 or -EPIPE (closed);
				 * POLL: revents */
};

#define GMP_SELECT_NONBLOCK	(1U << 0)	/* Go's default case */

/*
 * [G] Wait until one of the n cases can proceed and perform it; when several
 * can, pick one uniformly at random. Returns the chosen case's index (its
 * result says 0 or -EPIPE: a send on or a receive from a closed channel),
 * -EAGAIN with GMP_SELECT_NONBLOCK when none is ready, -ETIMEDOUT after
 * timeout_ns (< 0: no timeout) in gmp_select_timeout, -EINVAL for bad
 * arguments, including a blocking select with no non-NULL channel.
 */
int gmp_select(struct gmp_select_case *cases, size_t n, unsigned int flags);
int gmp_select_timeout(struct gmp_select_case *cases, size_t n, int64_t timeout_ns);

/* ---- goroutine-aware synchronisation -------------------------------- */

/* All-zero (the *_INIT macros, or static storage) is a valid initial state. */
struct gmp_mutex { uint64_t __opaque[4]; };
struct gmp_waitgroup { uint64_t __opaque[4]; };
struct gmp_once { uint64_t __opaque[6]; };
#define GMP_MUTEX_INIT		{ { 0 } }
#define GMP_WAITGROUP_INIT	{ { 0 } }
#define GMP_ONCE_INIT		{ { 0 } }

/* [G] Blocks the goroutine, not the thread; waiters get it in FIFO order. */
int gmp_mutex_lock(struct gmp_mutex *mu);
int gmp_mutex_trylock(struct gmp_mutex *mu);	/* -EBUSY if held */
int gmp_mutex_unlock(struct gmp_mutex *mu);	/* -EPERM if not held */

int gmp_wg_add(struct gmp_waitgroup *wg, long delta);	/* -EINVAL below 0 */
int gmp_wg_done(struct gmp_waitgroup *wg);
int gmp_wg_wait(struct gmp_waitgroup *wg);		/* [G] until 0 */

/* [G] Run fn(arg) once; every caller returns after it has. */
int gmp_once(struct gmp_once *once, void (*fn)(void *), void *arg);

/* ---- per-goroutine storage ------------------------------------------- */

#define GMP_KEYS_MAX	16
typedef unsigned int gmp_key_t;

/* A new key (-EAGAIN when GMP_KEYS_MAX exist); dtor runs at goroutine exit. */
int gmp_key_create(gmp_key_t *key, void (*dtor)(void *));
void *gmp_getspecific(gmp_key_t key);		/* [G] NULL if unset */
int gmp_setspecific(gmp_key_t key, void *val);	/* [G] */

/* ---- system calls ----------------------------------------------------- */

/*
 * [G] Bracket a call that may block in the kernel (Go's entersyscall and
 * exitsyscall). In between, this goroutine's P may be handed to another
 * M, so the P's other goroutines keep running; gmp_syscall_exit() gets a
 * P back, possibly another one, possibly after waiting for it. Nothing but
 * the call itself may happen in between.
 */
int gmp_syscall_enter(void);
int gmp_syscall_exit(void);

/*
 * [G, or plain calls elsewhere] Wrappers: the call's result, or -errno,
 * exactly as the plain call gives them (short reads and writes, 0 at EOF,
 * -EAGAIN on an O_NONBLOCK fd, -ECONNRESET, ...). With the uring poller
 * the calls marked (u) are io_uring requests (see gmp_poller_mode): the
 * goroutine parks, its M runs others. Differences from the plain calls:
 * an fd with O_NONBLOCK set (one fcntl(F_GETFL) per call tells) gets the
 * plain non-blocking call, as io_uring would wait on it; SO_RCVTIMEO and
 * SO_SNDTIMEO are not applied by io_uring; SIGPIPE is raised by the
 * wrapper (on -EPIPE without MSG_NOSIGNAL) for send and sendmsg. close()
 * of an fd does not end requests in flight on it (use shutdown(2) or a
 * deadline), and a request that has just returned may hold the fd's file
 * a moment longer (the kernel drops it after posting the completion): a
 * pipe end closed right after a call on it may still count as open for
 * that moment. Arguments (buffers, iovecs, msghdr, path) are used until the
 * call returns, and the call returns only once the kernel is done with
 * them.
 */
ssize_t gmp_read(int fd, void *buf, size_t count);			/* (u) */
ssize_t gmp_write(int fd, const void *buf, size_t count);		/* (u) */
ssize_t gmp_pread(int fd, void *buf, size_t count, off_t offset);	/* (u) */
ssize_t gmp_pwrite(int fd, const void *buf, size_t count, off_t offset);	/* (u) */
ssize_t gmp_readv(int fd, const struct iovec *iov, int iovcnt);		/* (u) */
ssize_t gmp_writev(int fd, const struct iovec *iov, int iovcnt);	/* (u) */
ssize_t gmp_recv(int fd, void *buf, size_t len, int flags);		/* (u) */
ssize_t gmp_send(int fd, const void *buf, size_t len, int flags);	/* (u) */
ssize_t gmp_recvmsg(int fd, struct msghdr *msg, int flags);		/* (u) */
ssize_t gmp_sendmsg(int fd, const struct msghdr *msg, int flags);	/* (u) */
int gmp_accept(int fd, struct sockaddr *addr, socklen_t *addrlen);	/* (u) */
int gmp_accept4(int fd, struct sockaddr *addr, socklen_t *addrlen, int flags); /* (u) */
int gmp_connect(int fd, const struct sockaddr *addr, socklen_t addrlen);	/* (u) */
int gmp_openat(int dirfd, const char *path, int flags, mode_t mode);	/* (u) */
int gmp_close(int fd);							/* (u) */
int gmp_fsync(int fd);							/* (u) */
int gmp_shutdown(int fd, int how);					/* (u) */
int gmp_nanosleep(const struct timespec *req, struct timespec *rem);
int gmp_poll(struct pollfd *fds, nfds_t nfds, int timeout_ms);
long gmp_syscall(long nr, long a0, long a1, long a2, long a3, long a4, long a5);

/*
 * [G, or plain calls elsewhere] With a deadline: deadline_ns is a time of
 * gmp_now()'s clock. What is ready is returned even after the deadline;
 * otherwise the call waits until the deadline at most and then fails with
 * -ETIMEDOUT, having consumed nothing (uring: the request is linked to an
 * IORING_OP_LINK_TIMEOUT and the call returns only after its completion,
 * so the buffer is not written later; blocking: poll(2) for readiness,
 * then the call).
 */
ssize_t gmp_read_deadline(int fd, void *buf, size_t count, int64_t deadline_ns);
ssize_t gmp_recv_deadline(int fd, void *buf, size_t len, int flags, int64_t deadline_ns);
int gmp_accept_deadline(int fd, struct sockaddr *addr, socklen_t *addrlen,
			int64_t deadline_ns);

/*
 * [G] Wait until fd is ready for events (POLLIN, POLLOUT, ...) or
 * timeout_ns (< 0: none) passes: revents (> 0; POLLNVAL for an fd that
 * is not open, as poll(2)), or -ETIMEDOUT, or -errno (-EBADF: fd < 0).
 * To wait for an fd or a channel, whichever comes first, use a
 * GMP_SELECT_POLL case in gmp_select(). A server with many idle
 * connections can wait here for POLLIN and only then take a buffer for
 * a non-blocking recv (MSG_DONTWAIT; -EAGAIN: wait again): a goroutine
 * waiting in gmp_recv holds its buffer all the while (examples/echo.c).
 */
int gmp_poll_fd(int fd, short events, int64_t timeout_ns);

/* ---- errno ------------------------------------------------------------ */

/* The calling thread's errno; never cached by the compiler. */
int *gmp_errno_location(void);

#pragma GCC visibility pop

#ifndef GMP_NO_ERRNO_MACRO
#undef errno
#define errno (*gmp_errno_location())
#endif

#ifdef __cplusplus
}
#endif

#endif /* LIBGMP_H */
