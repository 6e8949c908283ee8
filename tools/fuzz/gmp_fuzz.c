// SPDX-License-Identifier: GPL-2.0
/*
 * gmp_fuzz: a seeded, reproducible fuzzer of /dev/gmp.
 *
 *   gmp_fuzz [-s SEED] [-t SECONDS | -n OPS] [-P PROCS] [-H SECONDS] [-f] [-v]
 *            [-X BUG]... [-d DEV]
 *   gmp_fuzz -e EPISODE_SEED [-v] [-f] [-X BUG]...      replay one episode
 *
 * A supervisor runs *episodes*, each a fresh process (fork) seeded from the
 * run's seed and the episode's number, PROCS of them at a time. An episode
 * performs a random sequence of operations on a few groups: open/close/dup,
 * mmap/munmap/mprotect/mremap with good and bad arguments, user-space
 * stores into the shared page (arming slots, scribbling on head and tail),
 * every ioctl with random and boundary arguments (sizes 0, 1, too big,
 * unaligned, NULL, kernel and non-canonical addresses, unmapped pages,
 * buffers straddling into an unmapped page, read-only pages, pointers into
 * the group's own mapping, non-zero reserved words, unknown flags, random
 * commands with gmp's magic), read(2), poll(2), epoll, helper threads that
 * register as Ms and then block (pipe read, futex, nanosleep), spin, wait
 * for events, exit while registered or call execve(), fork children (not
 * owners: everything but close must fail with EPERM), exec of this very
 * binary in --exec-child mode (which inherits the fds and does a few
 * operations of its own), overflowing small rings, and with -f, one failed
 * kernel allocation (/proc/thread-self/fail-nth) in a gmp system call. An
 * episode ends by cleaning up, by exit(2) with threads still registered and
 * blocked, or by SIGKILL, from itself or from the supervisor at a random
 * moment.
 *
 * Same seed, same operation sequence in each episode (thread interleavings
 * and kill timing differ: those are the kernel's to get right). The seed
 * and each failing episode's seed are printed; -e replays one episode.
 *
 * Nothing ever waits unboundedly: every blocking call is cut short by a
 * per-thread timer signal (no SA_RESTART) or its own timeout, an episode
 * has an alarm(), and the supervisor kills an episode that runs too long,
 * printing its threads' kernel stacks; an episode that SIGKILL cannot end
 * (a thread spinning or stuck in the kernel) is reported as UNKILLABLE.
 *
 * Oracles besides the kernel's own checkers (KASAN, lockdep, kmemleak):
 * the ABI's promised errors (ENOTTY, EPERM, EFAULT, EINVAL), the mapping
 * rules (no PROT_EXEC, no MAP_PRIVATE, offset 0, no growing), the events
 * returned (known types, zero flags), and termination.
 *
 * Exit status: 0 clean, 1 an oracle failed or an episode hung, 2 usage.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/futex.h>
#include <linux/gmp.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>

#ifndef sigev_notify_thread_id
#define sigev_notify_thread_id _sigev_un._tid
#endif
#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

#define PAGE		4096UL
#define MAXFD		8
#define MAXMAP		8
#define MAXTH		6
#define MAXGRP		40
#define MAXKIDS		8
#define MAXPAR		16
#define MAXDEPTH	2
#define NORACLE		8
/*
 * Per-thread scratch memory: 32 pages for record buffers (room for
 * GMP_WAIT_EVENTS_MAX records), one page for ioctl arguments (apart from
 * the records the same call writes), one PROT_NONE page, one read-only page.
 */
#define SCRATCH_ARG	32
#define SCRATCH_RW	33
#define SCRATCH_PAGES	(SCRATCH_RW + 2)

#define KERNEL_PTR	0xffffffff81000000UL
#define NONCANON_PTR	0x8000000000000000UL

/* ------------------------------------------------------------ randomness */

struct rng {
	uint64_t s;
};

static uint64_t mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t rnext(struct rng *r)
{
	r->s += 0x9e3779b97f4a7c15ULL;
	return mix64(r->s);
}

static uint32_t rn(struct rng *r, uint32_t n)
{
	return n ? (uint32_t)(rnext(r) % n) : 0;
}

static bool chance(struct rng *r, unsigned int pct)
{
	return rn(r, 100) < pct;
}

static uint64_t seed_of(uint64_t seed, uint64_t a, uint64_t b)
{
	return mix64(seed ^ mix64(a * 0x9e3779b97f4a7c15ULL + b + 1));
}

/* ------------------------------------------------------------ operations */

enum {
	OP_OPEN, OP_OPEN_MANY, OP_CLOSE, OP_DUP, OP_MMAP, OP_MUNMAP, OP_MPROTECT,
	OP_MREMAP, OP_TOUCH, OP_UCONSUME, OP_INFO, OP_SETUP, OP_REGISTER,
	OP_UNREGISTER, OP_WAIT, OP_STATS, OP_IOC_BAD, OP_READ, OP_POLL, OP_EPOLL,
	OP_THREAD, OP_KICK, OP_SIGNAL, OP_JOIN, OP_FORK, OP_EXEC, OP_KILLKID,
	OP_SLEEP, OP_FAILNTH, OP_BLOCK, OP_TEXIT,
	NR_OPS
};

static const char *const op_names[NR_OPS] = {
	"open", "open_many", "close", "dup", "mmap", "munmap", "mprotect",
	"mremap", "touch", "uconsume", "info", "setup", "register",
	"unregister", "wait", "stats", "ioc_bad", "read", "poll", "epoll",
	"thread", "kick", "signal", "join", "fork", "exec", "killkid",
	"sleep", "failnth", "block", "texit",
};

/* Weights of the main thread's and the helper threads' choices. */
static const unsigned int main_w[NR_OPS] = {
	[OP_OPEN] = 6, [OP_OPEN_MANY] = 1, [OP_CLOSE] = 4, [OP_DUP] = 2,
	[OP_MMAP] = 8, [OP_MUNMAP] = 4, [OP_MPROTECT] = 2, [OP_MREMAP] = 2,
	[OP_TOUCH] = 8, [OP_UCONSUME] = 4, [OP_INFO] = 4, [OP_SETUP] = 5,
	[OP_REGISTER] = 5, [OP_UNREGISTER] = 2, [OP_WAIT] = 6, [OP_STATS] = 4,
	[OP_IOC_BAD] = 6, [OP_READ] = 4, [OP_POLL] = 3, [OP_EPOLL] = 2,
	[OP_THREAD] = 6, [OP_KICK] = 6, [OP_SIGNAL] = 3, [OP_JOIN] = 3,
	[OP_FORK] = 2, [OP_EXEC] = 1, [OP_KILLKID] = 2, [OP_SLEEP] = 2,
	[OP_FAILNTH] = 3,
};

static const unsigned int helper_w[NR_OPS] = {
	[OP_MMAP] = 2, [OP_MUNMAP] = 1, [OP_TOUCH] = 8, [OP_UCONSUME] = 2,
	[OP_INFO] = 1, [OP_SETUP] = 1, [OP_REGISTER] = 8, [OP_UNREGISTER] = 3,
	[OP_WAIT] = 6, [OP_STATS] = 2, [OP_IOC_BAD] = 3, [OP_READ] = 3,
	[OP_POLL] = 2, [OP_FORK] = 1, [OP_EXEC] = 1, [OP_SLEEP] = 1,
	[OP_FAILNTH] = 2, [OP_BLOCK] = 24, [OP_TEXIT] = 2,
};

/* ------------------------------------------------------- shared counters */

/* One page per run, MAP_SHARED from a memfd: survives fork, exec and kill. */
struct shstats {
	uint64_t ops;
	uint64_t op_ok[NR_OPS];
	uint64_t op_err[NR_OPS];
	uint64_t ev[5];			/* records seen, by type (0: unknown) */
	uint64_t registered, threads, forks, execs, failnth;
	uint64_t oracle_fail;
	struct {
		pid_t pid;
		uint32_t op;
		uint64_t seed;
	} cur[MAXPAR];			/* what each running episode is doing */
	char oracle_msg[NORACLE][200];
};

static struct shstats *S;
static int stats_fd = -1;
static const char *dev = GMP_DEVICE_PATH;
static int verbose;
static bool failnth_on;
static uint64_t ops_limit;		/* -n */
static unsigned int hang_s = 300;	/* -H: an episode running longer hangs */

/*
 * -X NAME: steer clear of a known bug, so that fuzzing can go on finding
 * others until it is fixed. Each names the first report of the bug.
 */
static bool avoid_ring_alias;	/* a record buffer inside the group's own ring page:
				   the consumer's CAS never succeeds (kernel livelock) */
static bool avoid_efault_count;	/* EFAULT on the first record returned as a huge count */

#define ADD(field, n) __atomic_fetch_add(&(field), (n), __ATOMIC_RELAXED)

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (n > (int)sizeof(buf) - 2)
		n = sizeof(buf) - 2;
	buf[n++] = '\n';
	/* One write per line: lines of concurrent processes do not mix. */
	if (write(STDOUT_FILENO, buf, n) < 0) {
		/* nothing to do */
	}
}

static pid_t gettid_(void)
{
	return (pid_t)syscall(SYS_gettid);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void sleep_us(long us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };

	nanosleep(&ts, NULL);	/* EINTR: shorter, fine */
}

/* ----------------------------------------------------------- an episode */

struct fdent {
	int fd;
	int gid;		/* which open file description */
	int oflags;
	bool owned;		/* opened by this process (not inherited by fork) */
	bool in_epoll;
};

struct grp {
	bool mem;		/* shared memory exists: layout is frozen */
	bool info_ok;
	struct gmp_info info;
};

/*
 * A gmp mapping, followed by at least one PROT_NONE guard page of ours: the
 * kernel writes records and structs to pointers into it, and a write
 * running past its end must fault, not land in the fuzzer's own memory.
 * [addr, addr + span) is ours to unmap.
 *
 * Other threads map memory at any time (stacks, scratch, malloc arenas), so
 * no step may leave a hole in that range and then unmap the range: a hole
 * can be filled by someone else's mapping in between. Pieces are replaced
 * with MAP_FIXED (atomic), and after a failure that may have left a hole,
 * only what is surely still ours is unmapped.
 */
struct mapent {
	uint8_t *addr;
	size_t len;
	size_t span;
	int gid;
	int prot;
};

static size_t page_up(size_t n)
{
	return (n + PAGE - 1) & ~(PAGE - 1);
}

struct ep;

/* Per thread. */
struct tctx {
	struct rng r;
	struct ep *ep;
	timer_t timer;
	bool has_timer;
	uint8_t *scratch;
	int idx;		/* -1: the episode's main thread */
	bool clean;		/* this call: valid arguments only */
	bool failing;		/* an allocation failure is armed (fail-nth) */
	bool registered;	/* as far as we know */
	int reg_gid;
	uint32_t slot;
};

struct mth {
	pthread_t th;
	volatile int state;	/* 0 free, 1 running, 2 finished (join it) */
	int pipe[2];
	int nacts;
	volatile pid_t tid;
	struct tctx c;
};

struct ep {
	uint64_t seed;
	int par;		/* supervisor slot, for S->cur */
	int depth;		/* 0 episode, 1.. fork/exec descendants */
	pthread_mutex_t lock;	/* fds, grps, th */
	pthread_rwlock_t maplock;	/* maps, and user accesses to them */
	struct fdent fds[MAXFD];
	int nfd;
	struct grp grps[MAXGRP];
	int ngrp;
	struct mapent maps[MAXMAP];
	int nmap;
	struct mth th[MAXTH];
	pid_t kids[MAXKIDS];
	int nkids;
	int epfd;
	volatile bool stop;
	volatile bool scribbled;	/* head/tail/events were written by us */
	uint32_t futex_word;
};

static __thread sigjmp_buf *touch_jb;

static void on_fault(int sig)
{
	if (touch_jb)
		siglongjmp(*touch_jb, 1);
	signal(sig, SIG_DFL);	/* a real crash of the fuzzer: die of it */
}

static void on_usr1(int sig)
{
	(void)sig;
}

static void oracle(struct tctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void oracle(struct tctx *c, const char *fmt, ...)
{
	char msg[160];
	va_list ap;
	uint64_t n;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	n = ADD(S->oracle_fail, 1);
	say("gmp_fuzz: ORACLE FAILED (episode 0x%016" PRIx64 " depth %d tid %d): %s",
	    c->ep->seed, c->ep->depth, gettid_(), msg);
	if (n < NORACLE)
		snprintf(S->oracle_msg[n], sizeof(S->oracle_msg[n]),
			 "episode 0x%016" PRIx64 ": %s", c->ep->seed, msg);
}

/* Expect errno @want (0: no expectation) from a call that returned @ret. */
static void expect(struct tctx *c, const char *what, long ret, int err, int want)
{
	if (!want)
		return;
	/* an injected allocation failure may come first, from the mm or VFS core */
	if (ret < 0 && err == ENOMEM && c->failing)
		return;
	if (ret >= 0)
		oracle(c, "%s: succeeded (%ld), expected %s", what, ret, strerror(want));
	else if (err != want && !(err == EINTR && want != EFAULT && want != EPERM))
		oracle(c, "%s: %s, expected %s", what, strerror(err), strerror(want));
}

/* A blocking call is cut short after @ms by SIGUSR1 (no SA_RESTART). */
static void bound_start(struct tctx *c, long ms)
{
	struct itimerspec its = { .it_value = { ms / 1000, (ms % 1000) * 1000000L } };

	/*
	 * Periodic: a signal that lands before the call blocks (the timer is
	 * short, TCG is slow) must not leave it blocked forever.
	 */
	its.it_interval = its.it_value;
	if (c->has_timer)
		timer_settime(c->timer, 0, &its, NULL);
}

static void bound_end(struct tctx *c)
{
	struct itimerspec its = { 0 };

	if (c->has_timer)
		timer_settime(c->timer, 0, &its, NULL);
}

static void tctx_init(struct tctx *c, struct ep *ep, uint64_t seed, int idx)
{
	struct sigevent sev = { 0 };

	memset(c, 0, sizeof(*c));
	c->r.s = seed;
	c->ep = ep;
	c->idx = idx;
	c->reg_gid = -1;
	sev.sigev_notify = SIGEV_THREAD_ID;
	sev.sigev_signo = SIGUSR1;
	sev.sigev_notify_thread_id = gettid_();
	c->has_timer = timer_create(CLOCK_MONOTONIC, &sev, &c->timer) == 0;
	c->scratch = mmap(NULL, SCRATCH_PAGES * PAGE, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (c->scratch == MAP_FAILED) {
		c->scratch = NULL;
		return;
	}
	mprotect(c->scratch + SCRATCH_RW * PAGE, PAGE, PROT_NONE);
	mprotect(c->scratch + (SCRATCH_RW + 1) * PAGE, PAGE, PROT_READ);
}

static void tctx_fini(struct tctx *c)
{
	if (c->has_timer)
		timer_delete(c->timer);
	c->has_timer = false;
	if (c->scratch)
		munmap(c->scratch, SCRATCH_PAGES * PAGE);
	c->scratch = NULL;
}

static void count(int op, long ret)
{
	ADD(S->ops, 1);
	if (ret < 0)
		ADD(S->op_err[op], 1);
	else
		ADD(S->op_ok[op], 1);
}

static void vlog(struct tctx *c, int op, const char *detail, long ret, int err)
{
	if (verbose)
		say("  [%d %s] %s %s -> %ld%s%s", gettid_(), c->idx < 0 ? "main" : "helper",
		    op_names[op], detail, ret, ret < 0 ? " " : "",
		    ret < 0 ? strerror(err) : "");
}

/* ------------------------------------------------------ table helpers */

static int pick_fd(struct tctx *c, struct fdent *out)
{
	struct ep *ep = c->ep;
	int i;

	pthread_mutex_lock(&ep->lock);
	if (!ep->nfd || chance(&c->r, 3)) {
		pthread_mutex_unlock(&ep->lock);
		/* a closed or never-opened descriptor */
		memset(out, 0, sizeof(*out));
		out->fd = chance(&c->r, 50) ? -1 : (int)(100 + rn(&c->r, 50));
		out->gid = -1;
		return -1;
	}
	i = (int)rn(&c->r, (uint32_t)ep->nfd);
	*out = ep->fds[i];
	pthread_mutex_unlock(&ep->lock);
	return i;
}

/*
 * Is @f still the descriptor it was when picked? The main thread closes and
 * opens while helpers use what they picked: a result on a descriptor that
 * was closed or reused meanwhile proves nothing.
 */
static bool fd_same(struct tctx *c, const struct fdent *f)
{
	struct ep *ep = c->ep;
	bool same = false;

	if (c->idx < 0)
		return true;	/* only the main thread closes */
	pthread_mutex_lock(&ep->lock);
	for (int i = 0; i < ep->nfd; i++)
		if (ep->fds[i].fd == f->fd && ep->fds[i].gid == f->gid)
			same = true;
	pthread_mutex_unlock(&ep->lock);
	return same;
}

static void grp_note_mem(struct ep *ep, int gid)
{
	if (gid >= 0 && gid < MAXGRP) {
		pthread_mutex_lock(&ep->lock);
		ep->grps[gid].mem = true;
		pthread_mutex_unlock(&ep->lock);
	}
}

/* The group's layout, asked for now (a real INFO call). */
static bool grp_info(struct ep *ep, const struct fdent *f, struct gmp_info *info)
{
	memset(info, 0, sizeof(*info));
	info->size = sizeof(*info);
	if (ioctl(f->fd, GMP_IOC_INFO, info))
		return false;
	if (f->gid >= 0 && f->gid < MAXGRP) {
		pthread_mutex_lock(&ep->lock);
		ep->grps[f->gid].info = *info;
		ep->grps[f->gid].info_ok = true;
		pthread_mutex_unlock(&ep->lock);
	}
	return true;
}

static void add_fd(struct ep *ep, int fd, int gid, int oflags)
{
	pthread_mutex_lock(&ep->lock);
	if (ep->nfd < MAXFD) {
		ep->fds[ep->nfd++] = (struct fdent){ .fd = fd, .gid = gid, .oflags = oflags,
						     .owned = true };
		fd = -1;
	}
	pthread_mutex_unlock(&ep->lock);
	if (fd >= 0)
		close(fd);
}

static int new_gid(struct ep *ep)
{
	int gid;

	pthread_mutex_lock(&ep->lock);
	gid = ep->ngrp < MAXGRP ? ep->ngrp++ : MAXGRP - 1;
	memset(&ep->grps[gid], 0, sizeof(ep->grps[gid]));
	pthread_mutex_unlock(&ep->lock);
	return gid;
}

/* --------------------------------------------------- pointer generation */

enum ptr_kind {
	PK_VALID, PK_UNALIGNED, PK_RO, PK_GMPMAP, PK_NULL, PK_KERNEL,
	PK_NONCANON, PK_NEG, PK_UNMAPPED, PK_STRADDLE, PK_LOW, NR_PK
};

static bool pk_readable(int k)
{
	return k == PK_VALID || k == PK_UNALIGNED || k == PK_RO;
}

static bool pk_bad(int k)
{
	return k >= PK_NULL;
}

static int pick_kind(struct tctx *c, bool mostly_good)
{
	if (c->clean || (mostly_good && chance(&c->r, 75)))
		return PK_VALID;
	return (int)rn(&c->r, NR_PK);
}

/*
 * A user pointer of kind @k for @size bytes, holding @content (when the
 * kind is readable). *maplocked is set when the pointer is into a gmp
 * mapping: the map lock is then held for reading until the caller is done.
 */
static uint8_t *make_ptr(struct tctx *c, int *k, const void *content, size_t size,
			 bool *maplocked, bool buf)
{
	uint8_t *base = buf ? c->scratch : c->scratch + SCRATCH_ARG * PAGE;

	struct ep *ep = c->ep;
	uint8_t *p;

	*maplocked = false;
	if (!c->scratch && *k != PK_NULL)
		*k = PK_NULL;
	switch (*k) {
	case PK_VALID:
		p = base;
		break;
	case PK_UNALIGNED:
		p = base + 1 + rn(&c->r, 7);
		break;
	case PK_RO:
		p = c->scratch + (SCRATCH_RW + 1) * PAGE + (chance(&c->r, 70) ? 0 : 8 * rn(&c->r, 8));
		if (content && size <= PAGE / 2) {
			/* may fail (an injected fault): then a plain buffer */
			if (mprotect(c->scratch + (SCRATCH_RW + 1) * PAGE, PAGE,
				     PROT_READ | PROT_WRITE)) {
				*k = PK_VALID;
				p = base;
				break;
			}
			memcpy(p, content, size);
			mprotect(c->scratch + (SCRATCH_RW + 1) * PAGE, PAGE, PROT_READ);
		}
		return p;
	case PK_GMPMAP: {
		struct mapent *m;

		pthread_rwlock_rdlock(&ep->maplock);
		if (!ep->nmap) {
			pthread_rwlock_unlock(&ep->maplock);
			*k = PK_VALID;
			p = base;
			break;
		}
		*maplocked = true;
		m = &ep->maps[rn(&c->r, (uint32_t)ep->nmap)];
		if (buf && avoid_ring_alias) {
			if (m->len <= PAGE) {
				pthread_rwlock_unlock(&ep->maplock);
				*maplocked = false;
				*k = PK_VALID;
				p = base;
				break;
			}
			p = m->addr + PAGE + 32 * rn(&c->r, (uint32_t)((m->len - PAGE) / 32));
		} else if (chance(&c->r, 35) || m->len < 64)
			p = m->addr;		/* the ring's head itself */
		else if (chance(&c->r, 50))
			p = m->addr + 32 * rn(&c->r, (uint32_t)(m->len / 32));
		else
			p = m->addr + rn(&c->r, (uint32_t)m->len);
		if (content && (m->prot & PROT_WRITE) && chance(&c->r, 50)) {
			sigjmp_buf jb;

			if (!sigsetjmp(jb, 1)) {
				touch_jb = &jb;
				memcpy(p, content, size < (size_t)(m->addr + m->len - p) ?
				       size : (size_t)(m->addr + m->len - p));
			}
			touch_jb = NULL;
			ep->scribbled = true;
		}
		return p;
	}
	case PK_NULL:
		return NULL;
	case PK_KERNEL:
		return (uint8_t *)(KERNEL_PTR + (chance(&c->r, 50) ? 0 : 8 * rn(&c->r, 512)));
	case PK_NONCANON:
		return (uint8_t *)NONCANON_PTR;
	case PK_NEG:
		return (uint8_t *)(uintptr_t)(-(intptr_t)PAGE);
	case PK_UNMAPPED:
		return c->scratch + SCRATCH_RW * PAGE;
	case PK_STRADDLE:
		/* the first 1..size-1 bytes readable, the rest in the PROT_NONE page */
		p = c->scratch + SCRATCH_RW * PAGE - (size > 1 ? 1 + rn(&c->r, (uint32_t)size - 1) : 0);
		if (content)
			memcpy(p, content, (size_t)(c->scratch + SCRATCH_RW * PAGE - p));
		return p;
	case PK_LOW:
	default:
		return (uint8_t *)(uintptr_t)(8 * (1 + rn(&c->r, 512)));
	}
	if (content)
		memcpy(p, content, size);
	return p;
}

static void ptr_done(struct tctx *c, bool maplocked)
{
	if (maplocked)
		pthread_rwlock_unlock(&c->ep->maplock);
}

/* --------------------------------------------------------- event checks */

static void check_events(struct tctx *c, const struct gmp_event *ev, long n, int kind)
{
	long i;

	if (n <= 0 || kind != PK_VALID)
		return;
	for (i = 0; i < n && i < GMP_WAIT_EVENTS_MAX; i++) {
		unsigned int t = ev[i].type;

		ADD(S->ev[t <= 4 ? t : 0], 1);
		if (c->ep->scribbled)
			continue;	/* we wrote head/tail/records: garbage is ours */
		if (t < GMP_EV_BLOCKED || t > GMP_EV_OVERFLOW || ev[i].flags)
			oracle(c, "event %ld of %ld: type %u flags %u", i, n, t, ev[i].flags);
		else if (t == GMP_EV_OVERFLOW && (ev[i].m_id != UINT32_MAX ||
						  ev[i].slot != UINT32_MAX || !ev[i].seq))
			oracle(c, "overflow record: m_id %u slot %u seq %u", ev[i].m_id,
			       ev[i].slot, ev[i].seq);
		else if (t != GMP_EV_OVERFLOW && ev[i].slot >= GMP_MAX_MS_MAX)
			oracle(c, "event type %u: slot %u", t, ev[i].slot);
	}
}

/* ---------------------------------------------------------------- ioctls */

static const unsigned int real_cmds[] = {
	GMP_IOC_INFO, GMP_IOC_SETUP, GMP_IOC_REGISTER, GMP_IOC_UNREGISTER,
	GMP_IOC_WAIT, GMP_IOC_STATS,
};

static const size_t real_sizes[] = {
	sizeof(struct gmp_info), sizeof(struct gmp_setup), sizeof(struct gmp_register),
	sizeof(struct gmp_unregister), sizeof(struct gmp_wait), sizeof(struct gmp_stats),
};

static uint32_t pick_size_field(struct tctx *c, uint32_t good, bool *bad)
{
	static const uint32_t odd[] = { 0, 1, 7, 8, 0xffffffffu, 4096, 16 };

	*bad = false;
	if (c->clean || chance(&c->r, 88))
		return good;
	*bad = true;
	switch (rn(&c->r, 4)) {
	case 0: return good - 8;
	case 1: return good + 8;
	case 2: return odd[rn(&c->r, 7)];
	default: {
		uint32_t v = (uint32_t)rnext(&c->r);

		*bad = v != good;
		return v;
	}
	}
}

/* Flags: mostly valid bits, sometimes an unknown one. */
static uint32_t pick_flags(struct tctx *c, uint32_t valid, bool *bad)
{
	uint32_t f = (uint32_t)rnext(&c->r) & valid;

	*bad = false;
	if (!c->clean && chance(&c->r, 10)) {
		f |= 1u << rn(&c->r, 32);
		*bad = (f & ~valid) != 0;
	}
	return f;
}

/* The number of reserved words of an argument struct. */
#define NRES(x) (sizeof((x).reserved) / sizeof((x).reserved[0]))

static void maybe_dirty(struct tctx *c, __u64 *reserved, size_t n, bool *bad)
{
	if (!c->clean && chance(&c->r, 10)) {
		size_t i = rn(&c->r, (uint32_t)n);

		reserved[i] = chance(&c->r, 50) ? 1 : rnext(&c->r) | 1;
		*bad = true;
	}
}

static uint32_t pick_entries(struct tctx *c, bool *bad)
{
	static const uint32_t v[] = { 0, 16, 32, 64, 16, 16, 1024, 65536, 8, 15, 17,
				      131072, 1, 0xffffffffu, 48 };
	uint32_t e = v[rn(&c->r, c->clean ? 7 : sizeof(v) / sizeof(v[0]))];

	*bad = e && ((e & (e - 1)) || e < GMP_RING_ENTRIES_MIN || e > GMP_RING_ENTRIES_MAX);
	return e;
}

static uint32_t pick_max_ms(struct tctx *c, bool *bad)
{
	static const uint32_t v[] = { 0, 1, 2, 4, 8, 4096, 4097, 0xffffffffu, 3, 64 };
	uint32_t m = c->clean ? 1u << rn(&c->r, 4) : v[rn(&c->r, sizeof(v) / sizeof(v[0]))];

	*bad = m > GMP_MAX_MS_MAX;
	return m;
}

/*
 * One ioctl of kind @which (an index into real_cmds, or -1 for a random
 * command). Returns the syscall's result.
 */
static long do_ioctl(struct tctx *c, int which)
{
	struct ep *ep = c->ep;
	union {
		struct gmp_info info;
		struct gmp_setup setup;
		struct gmp_register reg;
		struct gmp_unregister unreg;
		struct gmp_wait wait;
		struct gmp_stats stats;
		uint8_t raw[256];
	} a;
	struct fdent f;
	unsigned int cmd;
	size_t size;
	bool bad = false, b, maplocked = false, evlocked = false;
	int kind, evkind = PK_VALID, want = 0, err, op;
	uint8_t *p = NULL, *evp = NULL;
	uint32_t max_ev = 0;
	long ret;
	char what[96];

	pick_fd(c, &f);
	memset(&a, 0, sizeof(a));
	/* A share of calls with valid arguments, so that the state behind them
	 * (Ms, mappings, records) is reached, not only the argument checks. */
	c->clean = which >= 0 && chance(&c->r, c->idx < 0 ? 30 : 60);

	if (which < 0) {
		op = OP_IOC_BAD;
		/* A command with gmp's magic and a random number, size, direction;
		 * or an arbitrary number. */
		if (chance(&c->r, 70))
			cmd = _IOC(rn(&c->r, 4), GMP_IOC_MAGIC, chance(&c->r, 50) ? rn(&c->r, 8) : rn(&c->r, 256),
				   chance(&c->r, 50) ? real_sizes[rn(&c->r, 6)] : rn(&c->r, 1u << 14));
		else
			cmd = (uint32_t)rnext(&c->r);
		size = 256;
		for (which = 0; which < 6; which++)
			if (cmd == real_cmds[which])
				break;
		if (which == 6) {
			which = -1;
			for (size_t i = 0; i < sizeof(a.raw); i++)
				a.raw[i] = chance(&c->r, 70) ? 0 : (uint8_t)rnext(&c->r);
			/* gmp's magic, not one of its commands: ENOTTY, whoever asks */
			if (_IOC_TYPE(cmd) == GMP_IOC_MAGIC && f.fd >= 0 && f.gid >= 0)
				want = ENOTTY;
		}
	} else {
		op = OP_INFO + which;
		cmd = real_cmds[which];
	}

	if (which >= 0) {
		size = real_sizes[which];
		switch (cmd) {
		case GMP_IOC_INFO:
			a.info.size = pick_size_field(c, sizeof(a.info), &b);
			bad |= b;
			a.info.flags = chance(&c->r, 92) ? 0 : 1u << rn(&c->r, 32);
			bad |= a.info.flags != 0;
			maybe_dirty(c, a.info.reserved, NRES(a.info), &bad);
			break;
		case GMP_IOC_SETUP:
			a.setup.size = pick_size_field(c, sizeof(a.setup), &b);
			bad |= b;
			a.setup.flags = pick_flags(c, GMP_SETUP_ALL, &b);
			bad |= b;
			a.setup.ring_entries = pick_entries(c, &b);
			bad |= b;
			a.setup.max_ms = pick_max_ms(c, &b);
			bad |= b;
			maybe_dirty(c, a.setup.reserved, NRES(a.setup), &bad);
			break;
		case GMP_IOC_REGISTER:
			a.reg.size = pick_size_field(c, sizeof(a.reg), &b);
			bad |= b;
			a.reg.flags = pick_flags(c, GMP_REGISTER_ALL, &b);
			bad |= b;
			a.reg.m_id = chance(&c->r, 80) ? rn(&c->r, 8) : (uint32_t)rnext(&c->r);
			if (c->clean && chance(&c->r, 70))
				a.reg.flags = GMP_REGISTER_ARMED;
			/* an output field: anything goes on the way in */
			if (!c->clean && chance(&c->r, 20))
				a.reg.slot = (uint32_t)rnext(&c->r);
			maybe_dirty(c, a.reg.reserved, NRES(a.reg), &bad);
			break;
		case GMP_IOC_UNREGISTER:
			a.unreg.size = pick_size_field(c, sizeof(a.unreg), &b);
			bad |= b;
			a.unreg.flags = chance(&c->r, 92) ? 0 : 1u << rn(&c->r, 32);
			bad |= a.unreg.flags != 0;
			maybe_dirty(c, a.unreg.reserved, NRES(a.unreg), &bad);
			break;
		case GMP_IOC_WAIT: {
			static const uint32_t mx[] = { 1, 1, 2, 4, 16, 64, 4096, 0, 4097, 0xffffffffu };

			a.wait.size = pick_size_field(c, sizeof(a.wait), &b);
			bad |= b;
			a.wait.flags = pick_flags(c, GMP_WAIT_ALL, &b);
			bad |= b;
			switch (rn(&c->r, 6)) {
			case 0: a.wait.timeout_ns = 0; break;
			case 1: a.wait.timeout_ns = -1; break;
			case 2: a.wait.timeout_ns = (int64_t)rn(&c->r, 20000000); break;
			case 3: a.wait.timeout_ns = INT64_MAX; break;
			case 4: a.wait.timeout_ns = INT64_MIN; break;
			default: a.wait.timeout_ns = 1 + rn(&c->r, 1000); break;
			}
			max_ev = mx[rn(&c->r, c->clean ? 7 : sizeof(mx) / sizeof(mx[0]))];
			a.wait.max_events = max_ev;
			if (!max_ev || max_ev > GMP_WAIT_EVENTS_MAX)
				bad = true;
			/* output fields: anything goes on the way in */
			if (!c->clean && chance(&c->r, 20)) {
				a.wait.nr_events = (uint32_t)rnext(&c->r);
				a.wait.overflow = rnext(&c->r);
			}
			maybe_dirty(c, a.wait.reserved, NRES(a.wait), &bad);
			evkind = pick_kind(c, true);
			evp = make_ptr(c, &evkind, NULL, 32, &evlocked, true);
			a.wait.events = (uintptr_t)evp;
			break;
		}
		case GMP_IOC_STATS:
			a.stats.size = pick_size_field(c, sizeof(a.stats), &b);
			bad |= b;
			a.stats.flags = pick_flags(c, GMP_STATS_ALL, &b);
			bad |= b;
			if ((a.stats.flags & GMP_STATS_M) || (!c->clean && chance(&c->r, 5))) {
				a.stats.m_id = chance(&c->r, 85) ? rn(&c->r, 8) : (uint32_t)rnext(&c->r);
				if (!(a.stats.flags & GMP_STATS_M) && a.stats.m_id)
					bad = true;
			}
			/* output fields: anything goes on the way in */
			if (!c->clean && chance(&c->r, 20)) {
				a.stats.nr_ms = (uint32_t)rnext(&c->r);
				a.stats.blocks = rnext(&c->r);
				a.stats.wakeups = rnext(&c->r);
				a.stats.overflows = rnext(&c->r);
			}
			maybe_dirty(c, a.stats.reserved, NRES(a.stats), &bad);
			break;
		}
	}

	kind = pick_kind(c, true);
	/* The straddle kind must really straddle: at least one byte missing. */
	p = make_ptr(c, &kind, &a, size, &maplocked, false);

	/* Expected outcome of a real command, where the ABI fixes it. */
	if (which >= 0 && f.fd >= 0 && f.gid >= 0) {
		if (!f.owned)
			want = EPERM;
		else if (pk_bad(kind))
			want = EFAULT;
		else if (pk_readable(kind) && bad)
			want = EINVAL;
		else if (pk_readable(kind) && cmd == GMP_IOC_WAIT &&
			 (evkind == PK_NULL || evkind == PK_KERNEL || evkind == PK_NONCANON ||
			  evkind == PK_NEG))
			want = EFAULT;
	}

	if (cmd == GMP_IOC_WAIT || which < 0) {
		if (cmd == GMP_IOC_WAIT && evkind == PK_GMPMAP)
			ep->scribbled = true;
		bound_start(c, 2 + rn(&c->r, 40));
	}
	ret = ioctl(f.fd, cmd, p);
	err = errno;
	if (cmd == GMP_IOC_WAIT || which < 0)
		bound_end(c);

	snprintf(what, sizeof(what), "ioctl %s fd %d ptr %d ev %d", which >= 0 ?
		 op_names[OP_INFO + which] : "random", f.fd, kind, evkind);
	if (fd_same(c, &f))
		expect(c, what, ret, err, want);
	count(op, ret);
	vlog(c, op, what, ret, err);

	if (!ret && f.gid >= 0) {
		switch (cmd) {
		case GMP_IOC_REGISTER:
			ADD(S->registered, 1);
			c->registered = true;
			c->reg_gid = f.gid;
			if (pk_readable(kind) && kind != PK_RO)
				c->slot = ((struct gmp_register *)p)->slot;
			grp_note_mem(ep, f.gid);
			break;
		case GMP_IOC_UNREGISTER:
			c->registered = false;
			break;
		case GMP_IOC_SETUP:
			pthread_mutex_lock(&ep->lock);
			ep->grps[f.gid].info_ok = false;
			pthread_mutex_unlock(&ep->lock);
			break;
		case GMP_IOC_WAIT:
			if (pk_readable(kind) && kind != PK_RO) {
				uint32_t nr = ((struct gmp_wait *)p)->nr_events;

				if (nr > max_ev && !avoid_efault_count)
					oracle(c, "WAIT returned %u records for max_events %u", nr, max_ev);
				if (nr > max_ev)
					nr = 0;
				check_events(c, (struct gmp_event *)evp, nr, evkind);
			}
			break;
		}
	} else if (ret && err == EFAULT && cmd == GMP_IOC_REGISTER && kind == PK_RO) {
		/* registered, but the slot could not be written back */
		c->registered = true;
		c->reg_gid = f.gid;
	}
	ptr_done(c, evlocked);
	ptr_done(c, maplocked);
	c->clean = false;
	return ret;
}

/* ------------------------------------------------------- file operations */

static void op_open(struct tctx *c)
{
	static const int acc[] = { O_RDWR, O_RDWR, O_RDWR, O_RDONLY, O_WRONLY };
	int flags = acc[rn(&c->r, 5)];
	int fd;

	if (chance(&c->r, 50))
		flags |= O_CLOEXEC;
	if (chance(&c->r, 30))
		flags |= O_NONBLOCK;
	fd = open(dev, flags);
	count(OP_OPEN, fd);
	vlog(c, OP_OPEN, "", fd, errno);
	if (fd < 0) {
		if (errno != EMFILE && errno != ENOMEM && errno != ENFILE)
			oracle(c, "open: %s", strerror(errno));
		return;
	}
	if (chance(&c->r, 50)) {
		/* set up before any mapping exists: small rings overflow */
		struct gmp_setup su = { .size = sizeof(su) };

		su.ring_entries = chance(&c->r, 70) ? 16 : 64;
		su.max_ms = 1u << rn(&c->r, 4);
		su.flags = chance(&c->r, 20) ? GMP_SETUP_PREEMPTED : 0;
		if (chance(&c->r, 10))
			su.flags |= GMP_SETUP_NO_UNBLOCKED;
		if (ioctl(fd, GMP_IOC_SETUP, &su) && errno != EBADF)
			oracle(c, "SETUP of a fresh group: %s", strerror(errno));
	}
	add_fd(c->ep, fd, new_gid(c->ep), flags);
}

/* Past GMP_GROUPS_PER_PROCESS_MAX groups, open fails with EMFILE. */
static void op_open_many(struct tctx *c)
{
	int fds[GMP_GROUPS_PER_PROCESS_MAX + 4], n = 0, err = 0;

	while (n < (int)(sizeof(fds) / sizeof(fds[0]))) {
		fds[n] = open(dev, O_RDWR | O_CLOEXEC);
		if (fds[n] < 0) {
			err = errno;
			break;
		}
		n++;
	}
	count(OP_OPEN_MANY, err == EMFILE ? 0 : -1);
	vlog(c, OP_OPEN_MANY, "", n, err);
	if (n > GMP_GROUPS_PER_PROCESS_MAX)
		oracle(c, "opened %d groups at once (limit %d)", n, GMP_GROUPS_PER_PROCESS_MAX);
	else if (err && err != EMFILE && err != ENOMEM)
		oracle(c, "open past the group limit: %s, expected EMFILE", strerror(err));
	while (n--)
		close(fds[n]);
}

static void op_close(struct tctx *c)
{
	struct ep *ep = c->ep;
	int i, fd = -1, ret;

	pthread_mutex_lock(&ep->lock);
	if (ep->nfd) {
		i = (int)rn(&c->r, (uint32_t)ep->nfd);
		fd = ep->fds[i].fd;
		ep->fds[i] = ep->fds[--ep->nfd];
	}
	pthread_mutex_unlock(&ep->lock);
	if (fd < 0)
		return;
	ret = close(fd);
	count(OP_CLOSE, ret);
	vlog(c, OP_CLOSE, "", ret, errno);
}

static void op_dup(struct tctx *c)
{
	struct fdent f;
	int fd;

	if (pick_fd(c, &f) < 0)
		return;
	fd = chance(&c->r, 50) ? dup(f.fd) : dup3(f.fd, 200 + (int)rn(&c->r, 20), O_CLOEXEC);
	count(OP_DUP, fd);
	vlog(c, OP_DUP, "", fd, errno);
	if (fd < 0)
		return;
	pthread_mutex_lock(&c->ep->lock);
	/* dup3 may have replaced a tracked descriptor: forget that one */
	for (int i = 0; i < c->ep->nfd; i++)
		if (c->ep->fds[i].fd == fd)
			c->ep->fds[i--] = c->ep->fds[--c->ep->nfd];
	if (c->ep->nfd < MAXFD) {
		f.fd = fd;
		f.in_epoll = false;
		c->ep->fds[c->ep->nfd++] = f;
		fd = -1;
	}
	pthread_mutex_unlock(&c->ep->lock);
	if (fd >= 0)
		close(fd);
}

static void op_mmap_over(struct tctx *c);

static void op_mmap(struct tctx *c)
{
	static const int prots[] = {
		PROT_READ | PROT_WRITE, PROT_READ | PROT_WRITE, PROT_READ | PROT_WRITE,
		PROT_READ, PROT_WRITE, PROT_NONE, PROT_READ | PROT_WRITE | PROT_EXEC,
		PROT_READ | PROT_EXEC,
	};
	struct ep *ep = c->ep;
	struct gmp_info info;
	struct fdent f;
	bool have_info, frozen = false;
	size_t len, size = 0;
	off_t off = 0;
	int prot, flags = MAP_SHARED, want = 0, err;
	uint8_t *p, *g;
	size_t span;
	char what[96];

	if (chance(&c->r, 10)) {
		op_mmap_over(c);
		return;
	}
	pick_fd(c, &f);
	have_info = f.fd >= 0 && f.owned && grp_info(ep, &f, &info);
	if (have_info) {
		size = info.mmap_size;
		pthread_mutex_lock(&ep->lock);
		frozen = f.gid >= 0 && ep->grps[f.gid].mem;
		pthread_mutex_unlock(&ep->lock);
	}
	switch (rn(&c->r, 10)) {
	case 0: case 1: case 2: case 8: case 9: len = size ? size : PAGE; break;
	case 3: len = PAGE; break;
	case 4: len = size ? size + PAGE : 2 * PAGE; break;
	case 5: len = 1 + rn(&c->r, 3 * PAGE); break;
	case 6: len = chance(&c->r, 50) ? 0 : 1UL << 40; break;
	default: len = PAGE * (1 + rn(&c->r, 64)); break;
	}
	if (chance(&c->r, 8))
		off = chance(&c->r, 50) ? (off_t)PAGE : (off_t)(PAGE * (1 + rn(&c->r, 100)));
	prot = chance(&c->r, 50) ? PROT_READ | PROT_WRITE :
	       prots[rn(&c->r, sizeof(prots) / sizeof(prots[0]))];
	switch (rn(&c->r, 16)) {
	case 0: flags = MAP_PRIVATE; break;
	case 1: flags = MAP_SHARED | MAP_POPULATE; break;
	case 2: flags = MAP_SHARED_VALIDATE | (chance(&c->r, 50) ? MAP_SYNC : 0); break;
	case 3: flags = MAP_SHARED | MAP_NORESERVE | MAP_LOCKED; break;
	default: break;
	}

	/* Where the mm core lets the call through, gmp's own rules decide. */
	if (f.fd >= 0 && f.gid >= 0 && (f.oflags & O_ACCMODE) == O_RDWR &&
	    len && len <= (1UL << 30) && !(flags & ~(MAP_SHARED | MAP_PRIVATE | MAP_POPULATE))) {
		if (!f.owned)
			want = EPERM;
		else if (off || flags == MAP_PRIVATE)
			want = EINVAL;
		else if (prot & PROT_EXEC)
			want = EPERM;
		else if (frozen && have_info && ((len + PAGE - 1) & ~(PAGE - 1)) > size)
			want = EINVAL;
	}

	p = mmap(NULL, len, prot, flags, f.fd, off);
	err = errno;
	snprintf(what, sizeof(what), "fd %d len %zu off %ld prot %d flags %#x", f.fd, len,
		 (long)off, prot, flags);
	if (fd_same(c, &f))
		expect(c, what, p == MAP_FAILED ? -1 : 0, err, want);
	count(OP_MMAP, p == MAP_FAILED ? -1 : 0);
	vlog(c, OP_MMAP, what, p == MAP_FAILED ? -1 : 0, err);
	if (p == MAP_FAILED)
		return;
	grp_note_mem(ep, f.gid);
	/* the guard page, unless somebody's memory is already there */
	span = len <= (1UL << 30) ? page_up(len) + PAGE : 0;
	g = span ? mmap(p + page_up(len), PAGE, PROT_NONE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0) : MAP_FAILED;
	if (g != p + page_up(len)) {
		/* no guard page possible: not kept */
		if (g != MAP_FAILED)
			munmap(g, PAGE);
		munmap(p, len);
		return;
	}
	pthread_rwlock_wrlock(&ep->maplock);
	if (ep->nmap < MAXMAP) {
		ep->maps[ep->nmap++] = (struct mapent){ p, len, span, f.gid, prot };
		p = NULL;
	}
	pthread_rwlock_unlock(&ep->maplock);
	if (p)
		munmap(p, span);
}

/* MAP_FIXED over one of our mappings: the old one goes, atomically. */
static void op_mmap_over(struct tctx *c)
{
	struct ep *ep = c->ep;
	struct mapent *m;
	struct fdent f;
	size_t len;
	int prot = chance(&c->r, 80) ? PROT_READ | PROT_WRITE : PROT_READ, err;
	void *p;

	pick_fd(c, &f);
	pthread_rwlock_wrlock(&ep->maplock);
	if (!ep->nmap) {
		pthread_rwlock_unlock(&ep->maplock);
		return;
	}
	m = &ep->maps[rn(&c->r, (uint32_t)ep->nmap)];
	len = page_up(m->len);
	p = mmap(m->addr, len, prot, MAP_SHARED | MAP_FIXED, f.fd, 0);
	err = errno;
	if (p == m->addr) {
		m->len = len;
		m->gid = f.gid;
		m->prot = prot;
		grp_note_mem(ep, f.gid);
	} else {
		/* the old mapping may be gone, leaving a hole: only the guard is surely ours */
		munmap(m->addr + len, m->span - len);
		*m = ep->maps[--ep->nmap];
	}
	pthread_rwlock_unlock(&ep->maplock);
	count(OP_MMAP, p == MAP_FAILED ? -1 : 0);
	vlog(c, OP_MMAP, "MAP_FIXED over a mapping", p == MAP_FAILED ? -1 : 0, err);
}

static void op_munmap(struct tctx *c)
{
	struct ep *ep = c->ep;
	struct mapent m;
	size_t npages;
	volatile int ret = 0;

	pthread_rwlock_wrlock(&ep->maplock);
	if (!ep->nmap) {
		pthread_rwlock_unlock(&ep->maplock);
		return;
	}
	{
		int i = (int)rn(&c->r, (uint32_t)ep->nmap);

		m = ep->maps[i];
		ep->maps[i] = ep->maps[--ep->nmap];
	}
	npages = (m.len + PAGE - 1) / PAGE;
	/* A piece first (splitting the VMA: replaced, never a hole), then the rest. */
	if (npages > 1 && chance(&c->r, 50)) {
		size_t at = rn(&c->r, (uint32_t)npages);

		if (mmap(m.addr + at * PAGE, PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
			 -1, 0) == MAP_FAILED) {
			/* that page may be a hole now: unmap around it */
			munmap(m.addr, at * PAGE);
			ret = munmap(m.addr + (at + 1) * PAGE, m.span - (at + 1) * PAGE);
			pthread_rwlock_unlock(&ep->maplock);
			count(OP_MUNMAP, ret);
			return;
		}
		if (chance(&c->r, 50)) {
			/* the pages left must still be the group's */
			sigjmp_buf jb;

			if (!sigsetjmp(jb, 1)) {
				touch_jb = &jb;
				if (at && (m.prot & PROT_READ))
					(void)*(volatile uint32_t *)m.addr;
			}
			touch_jb = NULL;
		}
	}
	ret |= munmap(m.addr, m.span);
	pthread_rwlock_unlock(&ep->maplock);
	count(OP_MUNMAP, ret);
	vlog(c, OP_MUNMAP, "", ret, errno);
}

static void op_mprotect(struct tctx *c)
{
	static const int prots[] = {
		PROT_READ, PROT_READ | PROT_WRITE, PROT_NONE, PROT_READ | PROT_EXEC, PROT_EXEC,
	};
	struct ep *ep = c->ep;
	int prot = prots[rn(&c->r, 5)], ret, err;
	struct mapent *m;

	pthread_rwlock_wrlock(&ep->maplock);
	if (!ep->nmap) {
		pthread_rwlock_unlock(&ep->maplock);
		return;
	}
	m = &ep->maps[rn(&c->r, (uint32_t)ep->nmap)];
	ret = mprotect(m->addr, m->len, prot);
	err = errno;
	if (!ret)
		m->prot = prot;
	pthread_rwlock_unlock(&ep->maplock);
	if (prot & PROT_EXEC)
		expect(c, "mprotect(PROT_EXEC)", ret, err, EACCES);
	count(OP_MPROTECT, ret);
	vlog(c, OP_MPROTECT, "", ret, err);
}

static void op_mremap(struct tctx *c)
{
	struct ep *ep = c->ep;
	struct mapent *m;
	void *p, *to;
	int err, how = (int)rn(&c->r, 3);

	pthread_rwlock_wrlock(&ep->maplock);
	if (!ep->nmap) {
		pthread_rwlock_unlock(&ep->maplock);
		return;
	}
	m = &ep->maps[rn(&c->r, (uint32_t)ep->nmap)];
	if (how == 0) {
		/* grow: VM_DONTEXPAND forbids it */
		p = mremap(m->addr, m->len, m->len + PAGE, MREMAP_MAYMOVE);
		err = errno;
		if (p != MAP_FAILED) {
			oracle(c, "mremap grew a gmp mapping from %zu to %zu", m->len, m->len + PAGE);
			munmap(p, m->len + PAGE);
			*m = ep->maps[--ep->nmap];
		}
	} else if (how == 1 && m->len > PAGE) {
		/* shrink; the page given back becomes guard again, if still free */
		size_t old = page_up(m->len);

		p = mremap(m->addr, m->len, m->len - PAGE, 0);
		err = errno;
		if (p != MAP_FAILED) {
			uint8_t *at = m->addr + page_up(m->len - PAGE);
			void *g = mmap(at, old - page_up(m->len - PAGE), PROT_NONE,
				       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);

			m->len -= PAGE;
			if (g != at) {
				/* somebody's memory now follows ours: give the mapping up */
				if (g != MAP_FAILED)
					munmap(g, old - page_up(m->len));
				munmap(m->addr, page_up(m->len));
				munmap(m->addr + old, m->span - old);
				*m = ep->maps[--ep->nmap];
			}
		}
	} else {
		/* move to a place of our choosing, guard page included */
		to = mmap(NULL, m->span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
			  -1, 0);
		if (to == MAP_FAILED) {
			pthread_rwlock_unlock(&ep->maplock);
			return;
		}
		p = mremap(m->addr, m->len, m->len, MREMAP_MAYMOVE | MREMAP_FIXED, to);
		err = errno;
		if (p != MAP_FAILED) {
			/* the old guard stays behind: ours to drop */
			munmap(m->addr + page_up(m->len), m->span - page_up(m->len));
			m->addr = p;
		}
		/* else: MREMAP_FIXED may have unmapped `to` already; leave it be */
	}
	pthread_rwlock_unlock(&ep->maplock);
	count(OP_MREMAP, p == MAP_FAILED ? -1 : 0);
	vlog(c, OP_MREMAP, how == 0 ? "grow" : how == 1 ? "shrink" : "move",
	     p == MAP_FAILED ? -1 : 0, err);
}

/* User-space stores into the shared page: arming slots, scribbling on the ring. */
static void op_touch(struct tctx *c)
{
	struct ep *ep = c->ep;
	struct gmp_info info;
	struct mapent *m;
	sigjmp_buf jb;
	bool have_info = false;
	int what = (int)rn(&c->r, 8);
	volatile long ret = 0;

	pthread_rwlock_rdlock(&ep->maplock);
	if (!ep->nmap) {
		pthread_rwlock_unlock(&ep->maplock);
		return;
	}
	m = &ep->maps[rn(&c->r, (uint32_t)ep->nmap)];
	pthread_mutex_lock(&ep->lock);
	if (m->gid >= 0 && ep->grps[m->gid].info_ok) {
		info = ep->grps[m->gid].info;
		have_info = true;
	}
	pthread_mutex_unlock(&ep->lock);
	if (!have_info) {
		info.ring_offset = 0;
		info.slots_offset = 2 * PAGE;
		info.max_ms = 4;
		info.events_offset = PAGE;
		info.ring_entries = 16;
	}

	if (!sigsetjmp(jb, 1)) {
		struct gmp_ring *ring = (struct gmp_ring *)(m->addr + info.ring_offset);
		struct gmp_slot *slots = (struct gmp_slot *)(m->addr + info.slots_offset);
		uint32_t nslots = 0;

		touch_jb = &jb;
		if (info.slots_offset < m->len)
			nslots = (uint32_t)((m->len - info.slots_offset) / sizeof(struct gmp_slot));
		if (nslots > info.max_ms)
			nslots = info.max_ms;
		switch (what) {
		case 0: case 1: case 2:
			/* arm or disarm: our own slot if we are an M of this group */
			if (c->registered && c->reg_gid == m->gid && c->slot < nslots)
				__atomic_store_n(&slots[c->slot].armed, chance(&c->r, 75),
						 __ATOMIC_RELAXED);
			else if (nslots)
				__atomic_store_n(&slots[rn(&c->r, nslots)].armed,
						 chance(&c->r, 75) ? 1 : 0, __ATOMIC_RELAXED);
			break;
		case 3:
			/* arm every slot */
			for (uint32_t i = 0; i < nslots; i++)
				__atomic_store_n(&slots[i].armed, (uint32_t)rnext(&c->r) | 1,
						 __ATOMIC_RELAXED);
			break;
		case 4:
			/* read everything the kernel publishes */
			ret = (long)__atomic_load_n(&ring->tail, __ATOMIC_ACQUIRE) +
			      (long)ring->overflow + (long)ring->entries;
			for (uint32_t i = 0; i < nslots; i++)
				ret += slots[i].state + slots[i].seq;
			break;
		case 5:
			/* scribble on head: the kernel must cope */
			ep->scribbled = true;
			switch (rn(&c->r, 4)) {
			case 0: ring->head = ring->tail; break;
			case 1: ring->head = ring->tail + 1 + rn(&c->r, 100); break;
			case 2: ring->head = ring->tail - 1 - rn(&c->r, 70000); break;
			default: ring->head = (uint32_t)rnext(&c->r); break;
			}
			break;
		case 6:
			/* scribble on the kernel's fields: tail, entries, overflow, slot state */
			ep->scribbled = true;
			ring->tail = (uint32_t)rnext(&c->r);
			if (chance(&c->r, 30))
				ring->entries = (uint32_t)rnext(&c->r);
			if (nslots && chance(&c->r, 50))
				slots[rn(&c->r, nslots)].state = (uint32_t)rnext(&c->r);
			break;
		default:
			/* scribble on a record */
			ep->scribbled = true;
			if (info.events_offset + 32 <= m->len) {
				/* within the mapping: past its end may be our own memory */
				uint64_t n = (m->len - info.events_offset) / 32;

				if (n > info.ring_entries)
					n = info.ring_entries;
				memset(m->addr + info.events_offset + 32 * rn(&c->r, (uint32_t)n),
				       (int)rn(&c->r, 256), 32);
			}
			break;
		}
	} else {
		ret = -1;	/* SIGSEGV/SIGBUS: a page we may not touch */
	}
	touch_jb = NULL;
	pthread_rwlock_unlock(&ep->maplock);
	count(OP_TOUCH, ret < 0 ? -1 : 0);
	vlog(c, OP_TOUCH, "", ret < 0 ? -1 : 0, EFAULT);
}

/* A user-space consumer of the ring, per the ABI's protocol. */
static void op_uconsume(struct tctx *c)
{
	struct ep *ep = c->ep;
	struct gmp_info info;
	struct mapent *m;
	sigjmp_buf jb;
	volatile long got = 0;
	bool ok = false;

	pthread_rwlock_rdlock(&ep->maplock);
	if (!ep->nmap) {
		pthread_rwlock_unlock(&ep->maplock);
		return;
	}
	m = &ep->maps[rn(&c->r, (uint32_t)ep->nmap)];
	pthread_mutex_lock(&ep->lock);
	if (m->gid >= 0 && ep->grps[m->gid].info_ok) {
		info = ep->grps[m->gid].info;
		ok = info.events_offset + (uint64_t)info.ring_entries * 32 <= m->len &&
		     info.ring_entries;
	}
	pthread_mutex_unlock(&ep->lock);
	if (ok && !sigsetjmp(jb, 1)) {
		struct gmp_ring *ring = (struct gmp_ring *)m->addr;
		struct gmp_event *evs = (struct gmp_event *)(m->addr + info.events_offset);
		uint32_t n = 1 + rn(&c->r, 64);

		touch_jb = &jb;
		while (n--) {
			uint32_t head = __atomic_load_n(&ring->head, __ATOMIC_RELAXED);
			uint32_t tail = __atomic_load_n(&ring->tail, __ATOMIC_ACQUIRE);
			struct gmp_event ev;

			if (head == tail || tail - head > info.ring_entries)
				break;
			ev = evs[head & (info.ring_entries - 1)];
			if (__atomic_compare_exchange_n(&ring->head, &head, head + 1, false,
							__ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
				got++;
				ADD(S->ev[ev.type <= 4 ? ev.type : 0], 1);
			}
		}
	}
	touch_jb = NULL;
	pthread_rwlock_unlock(&ep->maplock);
	count(OP_UCONSUME, got);
	vlog(c, OP_UCONSUME, "", got, 0);
}

static void op_read(struct tctx *c)
{
	static const size_t counts[] = { 0, 1, 31, 32, 33, 64, 320, 4096, 32 * 4096,
					 32 * 4097, 1UL << 30, SIZE_MAX };
	struct fdent f;
	size_t n = counts[rn(&c->r, sizeof(counts) / sizeof(counts[0]))];
	int kind = pick_kind(c, true), want = 0, err;
	bool maplocked;
	uint8_t *p;
	long ret;
	char what[64];

	pick_fd(c, &f);
	p = make_ptr(c, &kind, NULL, 32, &maplocked, true);
	if (kind == PK_GMPMAP)
		c->ep->scribbled = true;
	if (f.fd >= 0 && f.gid >= 0 && (f.oflags & O_ACCMODE) != O_WRONLY && n <= (1UL << 30)) {
		if (kind == PK_KERNEL || kind == PK_NONCANON || kind == PK_NEG)
			want = EFAULT;	/* access_ok() in vfs_read() */
		else if (!f.owned)
			want = EPERM;
		else if (n < sizeof(struct gmp_event))
			want = EINVAL;
	}
	bound_start(c, 2 + rn(&c->r, 40));
	ret = read(f.fd, p, n);
	err = errno;
	bound_end(c);
	snprintf(what, sizeof(what), "fd %d ptr %d count %zu", f.fd, kind, n);
	if (!(want == EINVAL && ret < 0 && err == EAGAIN) && fd_same(c, &f))
		expect(c, what, ret, err, want);
	if (ret > 0 && ret % 32)
		oracle(c, "read returned %ld bytes, not whole records", ret);
	if (ret > 0 && (size_t)ret > n) {
		if (!avoid_efault_count)
			oracle(c, "read returned %ld bytes for a count of %zu", ret, n);
		ret = -1;
	}
	if (ret > 0)
		check_events(c, (struct gmp_event *)p, ret / 32, kind);
	if (ret < 0 && !err)
		err = EFAULT;
	ptr_done(c, maplocked);
	count(OP_READ, ret);
	vlog(c, OP_READ, what, ret, err);
}

static void op_poll(struct tctx *c)
{
	struct pollfd pfd[2];
	struct fdent f, g;
	int ret, err;

	pick_fd(c, &f);
	pick_fd(c, &g);
	pfd[0] = (struct pollfd){ .fd = f.fd, .events = POLLIN | POLLOUT | POLLPRI };
	pfd[1] = (struct pollfd){ .fd = g.fd, .events = POLLIN };
	bound_start(c, 60);
	ret = poll(pfd, 2, (int)rn(&c->r, 20));
	err = errno;
	bound_end(c);
	if (ret > 0 && f.fd >= 0 && f.gid >= 0 && !f.owned && fd_same(c, &f) &&
	    !(pfd[0].revents & (POLLERR | POLLNVAL)))
		oracle(c, "poll by a non-owner: revents %#x, expected POLLERR", pfd[0].revents);
	count(OP_POLL, ret);
	vlog(c, OP_POLL, "", ret, err);
}

static void op_epoll(struct tctx *c)
{
	struct ep *ep = c->ep;
	struct epoll_event ev = { .events = EPOLLIN }, out[4];
	struct fdent f;
	int i, ret, err;

	if (ep->epfd < 0)
		ep->epfd = epoll_create1(EPOLL_CLOEXEC);
	i = pick_fd(c, &f);
	if (i >= 0 && !f.in_epoll) {
		if (chance(&c->r, 30))
			ev.events |= EPOLLET;
		if (chance(&c->r, 20))
			ev.events |= EPOLLEXCLUSIVE;
		ev.data.fd = f.fd;
		if (!epoll_ctl(ep->epfd, EPOLL_CTL_ADD, f.fd, &ev)) {
			pthread_mutex_lock(&ep->lock);
			for (int j = 0; j < ep->nfd; j++)
				if (ep->fds[j].fd == f.fd)
					ep->fds[j].in_epoll = true;
			pthread_mutex_unlock(&ep->lock);
		}
	} else if (i >= 0 && chance(&c->r, 30)) {
		epoll_ctl(ep->epfd, EPOLL_CTL_DEL, f.fd, NULL);
	}
	bound_start(c, 60);
	ret = epoll_wait(ep->epfd, out, 4, (int)rn(&c->r, 15));
	err = errno;
	bound_end(c);
	count(OP_EPOLL, ret);
	vlog(c, OP_EPOLL, "", ret, err);
}

/* Blocking in the kernel as an M: what the module exists to see. */
static void op_block(struct tctx *c, struct mth *t)
{
	struct ep *ep = c->ep;
	struct timespec ts = { 0, 0 };
	long ret = 0;
	int how = (int)rn(&c->r, 6);
	char b[8];

	switch (how) {
	case 0: case 1:
		/* a pipe read: until the main thread kicks us or the timer fires */
		bound_start(c, 1 + rn(&c->r, 50));
		ret = read(t->pipe[0], b, sizeof(b));
		bound_end(c);
		break;
	case 2:
		ts.tv_nsec = 100000 + rn(&c->r, 5000000);
		ret = syscall(SYS_futex, &ep->futex_word, FUTEX_WAIT_PRIVATE, ep->futex_word, &ts,
			      NULL, 0);
		break;
	case 3:
		ts.tv_nsec = 1000 + rn(&c->r, 3000000);
		ret = nanosleep(&ts, NULL);
		break;
	case 4: {
		/* spin: preempted, not blocked */
		uint64_t end = now_ns() + 1000000ULL * rn(&c->r, 8);
		volatile uint64_t x = 0;

		while (now_ns() < end)
			x++;
		break;
	}
	default:
		ret = sched_yield();
		break;
	}
	count(OP_BLOCK, ret);
	vlog(c, OP_BLOCK, how < 2 ? "pipe" : how == 2 ? "futex" : how == 3 ? "nanosleep" :
	     how == 4 ? "spin" : "yield", ret, errno);
}

static void op_sleep(struct tctx *c)
{
	sleep_us(rn(&c->r, 3000));
	count(OP_SLEEP, 0);
}

/* ----------------------------------------------------- threads, fork, exec */

static void run_ops(struct tctx *c, int n, const unsigned int *w, struct mth *t);

static void *helper_main(void *arg)
{
	struct mth *t = arg;
	uint64_t seed = t->c.r.s;
	struct ep *ep = t->c.ep;

	t->tid = gettid_();
	tctx_init(&t->c, ep, seed, (int)(t - ep->th));
	run_ops(&t->c, t->nacts, helper_w, t);
	/* Leaving registered half of the time: the M dies with its thread. */
	if (t->c.registered && chance(&t->c.r, 50)) {
		struct gmp_unregister u = { .size = sizeof(u) };
		struct fdent f;

		if (pick_fd(&t->c, &f) >= 0)
			ioctl(f.fd, GMP_IOC_UNREGISTER, &u);
	}
	tctx_fini(&t->c);
	__atomic_store_n(&t->state, 2, __ATOMIC_RELEASE);
	return NULL;
}

static void op_thread(struct tctx *c)
{
	struct ep *ep = c->ep;
	struct mth *t = NULL;
	int i, ret;

	pthread_mutex_lock(&ep->lock);
	for (i = 0; i < MAXTH; i++)
		if (!ep->th[i].state) {
			t = &ep->th[i];
			t->state = 1;
			break;
		}
	pthread_mutex_unlock(&ep->lock);
	if (!t)
		return;
	if (pipe2(t->pipe, O_CLOEXEC)) {
		t->state = 0;
		return;
	}
	t->nacts = 4 + (int)rn(&c->r, 40);
	t->tid = 0;
	memset(&t->c, 0, sizeof(t->c));
	t->c.r.s = rnext(&c->r);
	t->c.ep = ep;
	ret = pthread_create(&t->th, NULL, helper_main, t);
	if (ret) {
		close(t->pipe[0]);
		close(t->pipe[1]);
		t->state = 0;
	} else {
		ADD(S->threads, 1);
	}
	count(OP_THREAD, ret ? -1 : 0);
}

static struct mth *pick_thread(struct tctx *c, int state)
{
	struct ep *ep = c->ep;
	int i, start = (int)rn(&c->r, MAXTH);

	for (i = 0; i < MAXTH; i++) {
		struct mth *t = &ep->th[(start + i) % MAXTH];

		if (__atomic_load_n(&t->state, __ATOMIC_ACQUIRE) == state)
			return t;
	}
	return NULL;
}

static void op_kick(struct tctx *c)
{
	struct mth *t = pick_thread(c, 1);
	long ret;

	if (!t)
		return;
	ret = write(t->pipe[1], "k", 1);
	if (chance(&c->r, 30))
		__atomic_fetch_add(&c->ep->futex_word, 1, __ATOMIC_RELAXED),
		syscall(SYS_futex, &c->ep->futex_word, FUTEX_WAKE_PRIVATE, 1 + rn(&c->r, 3),
			NULL, NULL, 0);
	count(OP_KICK, ret);
}

static void op_signal(struct tctx *c)
{
	struct mth *t = pick_thread(c, 1);
	int ret;

	if (!t)
		return;
	ret = pthread_kill(t->th, SIGUSR1);
	count(OP_SIGNAL, ret ? -1 : 0);
}

static void join_thread(struct mth *t)
{
	pthread_join(t->th, NULL);
	close(t->pipe[0]);
	close(t->pipe[1]);
	t->state = 0;
}

static void op_join(struct tctx *c)
{
	struct mth *t = pick_thread(c, 2);

	if (!t)
		return;
	join_thread(t);
	count(OP_JOIN, 0);
}

static void reap_kids(struct ep *ep, bool all)
{
	for (int i = 0; i < ep->nkids;) {
		int st;
		pid_t r = waitpid(ep->kids[i], &st, all ? 0 : WNOHANG);

		if (r == ep->kids[i] || (r < 0 && errno == ECHILD))
			ep->kids[i] = ep->kids[--ep->nkids];
		else
			i++;
	}
}

static void op_killkid(struct tctx *c)
{
	struct ep *ep = c->ep;
	int ret;

	reap_kids(ep, false);
	if (!ep->nkids)
		return;
	ret = kill(ep->kids[rn(&c->r, (uint32_t)ep->nkids)], chance(&c->r, 80) ? SIGKILL : SIGUSR1);
	count(OP_KILLKID, ret);
}

static void episode_end(struct tctx *c, int how) __attribute__((noreturn));

/* The first steps of a child process: what it inherited is not its own. */
static void child_reset(struct tctx *c, bool forked)
{
	struct ep *ep = c->ep;

	ep->depth++;
	ep->seed = rnext(&c->r);
	if (forked) {
		/* Only the forking thread exists here; gmp mappings were not copied. */
		for (int i = 0; i < ep->nfd; i++) {
			ep->fds[i].owned = false;
			ep->fds[i].in_epoll = false;
		}
		ep->nmap = 0;
		memset(ep->th, 0, sizeof(ep->th));
		ep->nkids = 0;
		ep->epfd = -1;
		pthread_mutex_init(&ep->lock, NULL);
		pthread_rwlock_init(&ep->maplock, NULL);
	}
	c->idx = -1;
	c->registered = false;	/* notifiers are not inherited by fork */
	{
		uint64_t seed = c->r.s;

		tctx_init(c, ep, seed, -1);
	}
	alarm(hang_s + 60);	/* the supervisor reports first, with stacks */
}

static void op_fork(struct tctx *c)
{
	struct ep *ep = c->ep;
	pid_t pid;

	if (ep->depth >= MAXDEPTH || ep->nkids >= MAXKIDS) {
		reap_kids(ep, false);
		return;
	}
	/* No helper may hold a lock the child would inherit held (the lock
	 * order is maplock, then lock). */
	pthread_rwlock_wrlock(&ep->maplock);
	pthread_mutex_lock(&ep->lock);
	pid = fork();
	if (pid == 0) {
		/* The forking thread may be a helper, whose context lives in
		 * ep->th[], which the child clears and reuses: move out. */
		static struct tctx child_ctx;

		child_ctx = *c;
		c = &child_ctx;
		pthread_mutex_unlock(&ep->lock);
		pthread_rwlock_unlock(&ep->maplock);
		child_reset(c, true);
		run_ops(c, 3 + (int)rn(&c->r, 25), main_w, NULL);
		episode_end(c, (int)rn(&c->r, 3));
	}
	pthread_mutex_unlock(&ep->lock);
	pthread_rwlock_unlock(&ep->maplock);
	if (pid > 0) {
		ep->kids[ep->nkids++] = pid;
		ADD(S->forks, 1);
	}
	count(OP_FORK, pid);
}

static char *self_exe = "/proc/self/exe";

/* execve() this binary in --exec-child mode, handing it our descriptors. */
static void do_exec(struct tctx *c)
{
	struct ep *ep = c->ep;
	char *argv[8 + MAXFD], args[5][32], fds[MAXFD][24];
	int n = 0;

	snprintf(args[0], 32, "0x%" PRIx64, rnext(&c->r));
	snprintf(args[1], 32, "%d", stats_fd);
	snprintf(args[2], 32, "%d", ep->depth + 1);
	snprintf(args[3], 32, "%d", ep->par);
	argv[n++] = "gmp_fuzz";
	argv[n++] = "--exec-child";
	for (int i = 0; i < 4; i++)
		argv[n++] = args[i];
	pthread_mutex_lock(&ep->lock);
	for (int i = 0; i < ep->nfd; i++) {
		int fl = fcntl(ep->fds[i].fd, F_GETFD);

		if (fl < 0 || (fl & FD_CLOEXEC))
			continue;	/* gone at exec */
		/* the owner execs: still the owner (same thread group) */
		snprintf(fds[i], sizeof(fds[i]), "%d:%d:%d", ep->fds[i].fd,
			 ep->fds[i].owned, ep->fds[i].oflags);
		argv[n++] = fds[i];
	}
	pthread_mutex_unlock(&ep->lock);
	argv[n] = NULL;
	ADD(S->execs, 1);
	count(OP_EXEC, 0);
	/* A timer signal pending now must not kill the new image before it
	 * installs its handler: blocked across exec, unblocked by it. */
	{
		sigset_t set;

		sigemptyset(&set);
		sigaddset(&set, SIGUSR1);
		pthread_sigmask(SIG_BLOCK, &set, NULL);
		execv(self_exe, argv);
		pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	}
}

static void op_exec(struct tctx *c, struct mth *t)
{
	struct ep *ep = c->ep;
	pid_t pid;

	if (ep->depth >= MAXDEPTH)
		return;
	if (t || chance(&c->r, 40)) {
		/* this process becomes the new image (from a helper: de_thread) */
		do_exec(c);
		return;
	}
	if (ep->nkids >= MAXKIDS)
		return;
	pthread_rwlock_wrlock(&ep->maplock);
	pthread_mutex_lock(&ep->lock);
	pid = fork();
	if (pid == 0) {
		pthread_mutex_unlock(&ep->lock);
		pthread_rwlock_unlock(&ep->maplock);
		/* a fork child's descriptors are not its own */
		for (int i = 0; i < ep->nfd; i++)
			ep->fds[i].owned = false;
		do_exec(c);
		_exit(0);
	}
	pthread_mutex_unlock(&ep->lock);
	pthread_rwlock_unlock(&ep->maplock);
	if (pid > 0)
		ep->kids[ep->nkids++] = pid;
}

/* One failed kernel allocation in the next gmp system call. */
static void op_failnth(struct tctx *c, struct mth *t);

static void do_op(struct tctx *c, int op, struct mth *t)
{
	if (c->ep->par >= 0 && c->idx < 0)
		S->cur[c->ep->par].op = (uint32_t)op;
	switch (op) {
	case OP_OPEN: op_open(c); break;
	case OP_OPEN_MANY: op_open_many(c); break;
	case OP_CLOSE: op_close(c); break;
	case OP_DUP: op_dup(c); break;
	case OP_MMAP: op_mmap(c); break;
	case OP_MUNMAP: op_munmap(c); break;
	case OP_MPROTECT: op_mprotect(c); break;
	case OP_MREMAP: op_mremap(c); break;
	case OP_TOUCH: op_touch(c); break;
	case OP_UCONSUME: op_uconsume(c); break;
	case OP_INFO: case OP_SETUP: case OP_REGISTER: case OP_UNREGISTER:
	case OP_WAIT: case OP_STATS:
		do_ioctl(c, op - OP_INFO);
		break;
	case OP_IOC_BAD: do_ioctl(c, -1); break;
	case OP_READ: op_read(c); break;
	case OP_POLL: op_poll(c); break;
	case OP_EPOLL: op_epoll(c); break;
	case OP_THREAD: op_thread(c); break;
	case OP_KICK: op_kick(c); break;
	case OP_SIGNAL: op_signal(c); break;
	case OP_JOIN: op_join(c); break;
	case OP_FORK: op_fork(c); break;
	case OP_EXEC: op_exec(c, t); break;
	case OP_KILLKID: op_killkid(c); break;
	case OP_SLEEP: op_sleep(c); break;
	case OP_FAILNTH: op_failnth(c, t); break;
	case OP_BLOCK: if (t) op_block(c, t); break;
	case OP_TEXIT: break;	/* handled by run_ops */
	}
}

static int pick_op(struct tctx *c, const unsigned int *w)
{
	unsigned int total = 0, x;
	int op;

	for (op = 0; op < NR_OPS; op++)
		if (op != OP_FAILNTH || failnth_on)
			total += w[op];
	x = rn(&c->r, total);
	for (op = 0; op < NR_OPS; op++) {
		if (op == OP_FAILNTH && !failnth_on)
			continue;
		if (x < w[op])
			return op;
		x -= w[op];
	}
	return OP_SLEEP;
}

static void op_failnth(struct tctx *c, struct mth *t)
{
	static const int targets[] = { OP_OPEN, OP_MMAP, OP_REGISTER, OP_WAIT, OP_READ,
				       OP_SETUP, OP_OPEN_MANY, OP_INFO };
	char path[64], num[16];
	int fd, n, op = targets[rn(&c->r, sizeof(targets) / sizeof(targets[0]))];

	snprintf(path, sizeof(path), "/proc/self/task/%d/fail-nth", gettid_());
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0) {
		count(OP_FAILNTH, -1);
		return;
	}
	n = snprintf(num, sizeof(num), "%u", 1 + rn(&c->r, 6));
	if (write(fd, num, n) == n) {
		ADD(S->failnth, 1);
		c->failing = true;
		do_op(c, op, t);
		c->failing = false;
	}
	if (write(fd, "0", 1) != 1) {
		/* nothing */
	}
	close(fd);
	count(OP_FAILNTH, 0);
}

static void run_ops(struct tctx *c, int n, const unsigned int *w, struct mth *t)
{
	for (int i = 0; i < n && !c->ep->stop; i++) {
		int op = pick_op(c, w);

		if (ops_limit && __atomic_load_n(&S->ops, __ATOMIC_RELAXED) >= ops_limit + 100000)
			break;
		if (op == OP_TEXIT) {
			count(OP_TEXIT, 0);
			break;
		}
		do_op(c, op, t);
	}
}

/*
 * How an episode (or a child) ends: 0 tidy (threads stopped and joined,
 * descriptors closed), 1 exit with everything still live, 2 SIGKILL.
 */
static void episode_end(struct tctx *c, int how)
{
	struct ep *ep = c->ep;

	if (how == 2)
		raise(SIGKILL);
	if (how == 1)
		_exit(0);
	ep->stop = true;
	for (int i = 0; i < MAXTH; i++) {
		struct mth *t = &ep->th[i];

		if (t->state) {
			if (write(t->pipe[1], "q", 1) < 0) {
				/* nothing */
			}
			if (t->tid)
				pthread_kill(t->th, SIGUSR1);
			join_thread(t);
		}
	}
	for (int i = 0; i < ep->nkids; i++)
		kill(ep->kids[i], SIGKILL);
	reap_kids(ep, true);
	for (int i = 0; i < ep->nmap; i++)
		munmap(ep->maps[i].addr, ep->maps[i].span);
	for (int i = 0; i < ep->nfd; i++)
		close(ep->fds[i].fd);
	_exit(0);
}

static void episode_init(struct ep *ep, uint64_t seed, int par, int depth)
{
	memset(ep, 0, sizeof(*ep));
	ep->seed = seed;
	ep->par = par;
	ep->depth = depth;
	ep->epfd = -1;
	pthread_mutex_init(&ep->lock, NULL);
	pthread_rwlock_init(&ep->maplock, NULL);
}

static void signals_init(void)
{
	struct sigaction sa = { 0 };

	sa.sa_handler = on_usr1;	/* no SA_RESTART: blocking calls end with EINTR */
	sigaction(SIGUSR1, &sa, NULL);
	sa.sa_handler = on_fault;
	sa.sa_flags = SA_NODEFER;
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	{
		sigset_t set;

		sigemptyset(&set);
		sigaddset(&set, SIGUSR1);
		sigprocmask(SIG_UNBLOCK, &set, NULL);
	}
}

/* Is @fd an open /dev/gmp (the same device node as dev)? */
static bool is_gmp_fd(int fd)
{
	struct stat a, b;

	return !fstat(fd, &a) && !stat(dev, &b) && S_ISCHR(a.st_mode) && a.st_rdev == b.st_rdev;
}

/* The body of an episode's process: never returns. */
static void episode(uint64_t seed, int par, int depth, int nops, const char *const *inherit,
		    int ninherit)
{
	static struct ep ep;
	struct tctx c;

	signals_init();
	episode_init(&ep, seed, par, depth);
	alarm(hang_s + 60);	/* watchdog; the supervisor reports first, with stacks */
	for (int i = 0; i < ninherit && ep.nfd < MAXFD; i++) {
		int fd, owned, oflags;

		if (sscanf(inherit[i], "%d:%d:%d", &fd, &owned, &oflags) == 3 && is_gmp_fd(fd)) {
			ep.fds[ep.nfd] = (struct fdent){ .fd = fd, .gid = new_gid(&ep),
							 .oflags = oflags, .owned = owned };
			ep.nfd++;
		}
	}
	tctx_init(&c, &ep, seed_of(seed, 1, 0), -1);
	if (verbose)
		say("gmp_fuzz: episode 0x%016" PRIx64 " depth %d pid %d: %d ops", seed, depth,
		    getpid(), nops);
	run_ops(&c, nops, main_w, NULL);
	episode_end(&c, chance(&c.r, 60) ? 0 : chance(&c.r, 60) ? 1 : 2);
}

/* ------------------------------------------------------------ supervisor */

struct slot {
	pid_t pid;
	uint64_t seed;
	uint64_t start, kill_at;
	bool killed, hung;
	uint64_t hung_at;
};

static void dump_task(pid_t pid)
{
	char path[320], buf[4096];
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	d = opendir(path);
	if (!d)
		return;
	while ((de = readdir(d))) {
		static const char *const files[] = { "comm", "wchan", "stat", "stack" };

		if (de->d_name[0] == '.')
			continue;
		say("gmp_fuzz:   task %d/%s:", pid, de->d_name);
		for (int i = 0; i < 4; i++) {
			ssize_t n;
			int fd;

			snprintf(path, sizeof(path), "/proc/%d/task/%s/%s", pid, de->d_name, files[i]);
			fd = open(path, O_RDONLY | O_CLOEXEC);
			if (fd < 0)
				continue;
			n = read(fd, buf, sizeof(buf) - 1);
			close(fd);
			if (n <= 0)
				continue;
			buf[n] = 0;
			for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n"))
				say("gmp_fuzz:     %s: %s", files[i], line);
		}
	}
	closedir(d);
}

static volatile sig_atomic_t interrupted;

static void on_term(int sig)
{
	(void)sig;
	interrupted = 1;
}

static void on_watchdog(int sig)
{
	(void)sig;
	static const char m[] = "gmp_fuzz: WATCHDOG: the supervisor itself is stuck\n";

	if (write(STDOUT_FILENO, m, sizeof(m) - 1) < 0) {
		/* nothing */
	}
	_exit(3);
}

static void usage(void)
{
	fprintf(stderr,
		"usage: gmp_fuzz [-s SEED] [-t SECONDS | -n OPS] [-P PROCS] [-H SECONDS] [-f] [-v]\n"
		"                [-X BUG]... [-d DEV]\n"
		"       gmp_fuzz -e EPISODE_SEED [-f] [-v] [-X BUG]... [-d DEV]\n"
		"  -s SEED     run seed (default: from the clock; printed)\n"
		"  -t SECONDS  run time (default 60)\n"
		"  -n OPS      stop after about OPS operations instead\n"
		"  -P PROCS    episodes at once (default 2)\n"
		"  -e SEED     run only the episode with this seed (from a failure report)\n"
		"  -H SECONDS  an episode running longer than this hangs (default 300)\n"
		"  -f          fault injection: fail one allocation of some gmp calls\n"
		"              (needs CONFIG_FAULT_INJECTION + failslab set up)\n"
		"  -v          log every operation\n"
		"  -d DEV      device (default " GMP_DEVICE_PATH ")\n"
		"  -X BUG      steer clear of a known bug (repeatable):\n"
		"              ring-alias    no record buffer in the ring's own page\n"
		"              efault-count  no oracle on the count returned after EFAULT\n");
	exit(2);
}

int main(int argc, char **argv)
{
	uint64_t seed = 0, only = 0, t0, t_end, hang_ns, secs = 60;
	bool have_seed = false, have_only = false;
	struct slot slots[MAXPAR] = { 0 };
	unsigned int par = 2, running = 0;
	uint64_t episodes = 0, killed = 0, hangs = 0, unkillable = 0, crashed = 0;
	struct rng sup;
	double el;
	int opt, fd;

	if (argc >= 6 && !strcmp(argv[1], "--exec-child")) {
		/* gmp_fuzz --exec-child SEED STATSFD DEPTH PAR FD:OWNED:OFLAGS... */
		uint64_t s = strtoull(argv[2], NULL, 0);

		stats_fd = atoi(argv[3]);
		S = mmap(NULL, sizeof(*S), PROT_READ | PROT_WRITE, MAP_SHARED, stats_fd, 0);
		if (S == MAP_FAILED)
			_exit(1);
		failnth_on = getenv("GMP_FUZZ_FAILNTH") != NULL;
		avoid_ring_alias = getenv("GMP_FUZZ_X_RING_ALIAS") != NULL;
		avoid_efault_count = getenv("GMP_FUZZ_X_EFAULT_COUNT") != NULL;
		if (getenv("GMP_FUZZ_HANG"))
			hang_s = (unsigned int)atoi(getenv("GMP_FUZZ_HANG"));
		verbose = getenv("GMP_FUZZ_VERBOSE") != NULL;
		episode(s, atoi(argv[5]), atoi(argv[4]), 3 + (int)(s % 20),
			(const char *const *)argv + 6, argc - 6);
	}

	while ((opt = getopt(argc, argv, "s:t:n:P:e:H:fvd:X:h")) != -1) {
		switch (opt) {
		case 's': seed = strtoull(optarg, NULL, 0); have_seed = true; break;
		case 't': secs = strtoull(optarg, NULL, 0); break;
		case 'n': ops_limit = strtoull(optarg, NULL, 0); break;
		case 'P': par = (unsigned int)atoi(optarg); break;
		case 'e': only = strtoull(optarg, NULL, 0); have_only = true; break;
		case 'H': hang_s = (unsigned int)atoi(optarg); break;
		case 'f': failnth_on = true; break;
		case 'v': verbose = 1; break;
		case 'd': dev = optarg; break;
		case 'X':
			if (!strcmp(optarg, "ring-alias"))
				avoid_ring_alias = true;
			else if (!strcmp(optarg, "efault-count"))
				avoid_efault_count = true;
			else
				usage();
			break;
		default: usage();
		}
	}
	if (optind != argc || !par || par > MAXPAR || !hang_s)
		usage();
	hang_ns = hang_s * 1000000000ULL;
	{
		char h[16];

		snprintf(h, sizeof(h), "%u", hang_s);
		setenv("GMP_FUZZ_HANG", h, 1);
	}
	if (!have_seed) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		seed = mix64((uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ (uint64_t)getpid());
	}
	setvbuf(stdout, NULL, _IOLBF, 0);

	/* The device must be there. */
	fd = open(dev, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		say("gmp_fuzz: cannot open %s: %s (is gmp.ko loaded?)", dev, strerror(errno));
		return 2;
	}
	close(fd);

	stats_fd = memfd_create("gmp_fuzz_stats", 0);	/* inherited across exec */
	if (stats_fd < 0 || ftruncate(stats_fd, sizeof(*S)))
		return 2;
	S = mmap(NULL, sizeof(*S), PROT_READ | PROT_WRITE, MAP_SHARED, stats_fd, 0);
	if (S == MAP_FAILED)
		return 2;
	if (failnth_on)
		setenv("GMP_FUZZ_FAILNTH", "1", 1);
	if (avoid_ring_alias)
		setenv("GMP_FUZZ_X_RING_ALIAS", "1", 1);
	if (avoid_efault_count)
		setenv("GMP_FUZZ_X_EFAULT_COUNT", "1", 1);
	if (verbose)
		setenv("GMP_FUZZ_VERBOSE", "1", 1);

	/* Orphans (children of killed episodes) come back to us to be reaped. */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	signal(SIGINT, on_term);
	signal(SIGTERM, on_term);
	signal(SIGALRM, on_watchdog);
	signal(SIGPIPE, SIG_IGN);

	if (have_only) {
		say("gmp_fuzz: replaying episode 0x%016" PRIx64 "%s", only,
		    failnth_on ? " (fault injection)" : "");
		par = 1;
		secs = 0;
	} else {
		say("gmp_fuzz: seed 0x%016" PRIx64 " (reproduce: gmp_fuzz -s 0x%016" PRIx64
		    " %s %" PRIu64 " -P %u%s%s%s)", seed, seed, ops_limit ? "-n" : "-t",
		    ops_limit ? ops_limit : secs, par, failnth_on ? " -f" : "",
		    avoid_ring_alias ? " -X ring-alias" : "",
		    avoid_efault_count ? " -X efault-count" : "");
		if (ops_limit)
			say("gmp_fuzz: stop after %" PRIu64 " operations, %u episodes at once", ops_limit, par);
		else
			say("gmp_fuzz: run for %" PRIu64 " s, %u episodes at once", secs, par);
	}
	sup.s = seed ^ 0x5bd1e995;
	alarm((unsigned int)(secs + hang_ns / 1000000000ULL * 2 + 120));

	t0 = now_ns();
	t_end = t0 + secs * 1000000000ULL;
	for (;;) {
		uint64_t now = now_ns();
		bool launch = !interrupted &&
			(have_only ? episodes == 0 :
			 ops_limit ? __atomic_load_n(&S->ops, __ATOMIC_RELAXED) < ops_limit :
			 now < t_end);
		int st;
		pid_t pid;

		while (launch && running < par) {
			unsigned int i;
			uint64_t es = have_only ? only : seed_of(seed, 0, episodes);
			int nops = 20 + (int)(es % 200);

			for (i = 0; i < par && slots[i].pid; i++)
				;
			pid = fork();
			if (pid < 0) {
				sleep_us(10000);
				break;
			}
			if (pid == 0) {
				signal(SIGALRM, SIG_DFL);
				signal(SIGINT, SIG_DFL);
				signal(SIGTERM, SIG_DFL);
				S->cur[i].pid = getpid();
				S->cur[i].seed = es;
				episode(es, (int)i, 0, nops, NULL, 0);
			}
			slots[i] = (struct slot){ .pid = pid, .seed = es, .start = now };
			/* One episode in five is killed from outside at a random moment. */
			if (!have_only && chance(&sup, 20))
				slots[i].kill_at = now + 1000000ULL * (1 + rn(&sup, 400));
			episodes++;
			running++;
			if (have_only)
				break;
		}
		if (!running && !launch)
			break;

		sleep_us(5000);
		while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
			for (unsigned int i = 0; i < par; i++) {
				if (slots[i].pid != pid)
					continue;
				if (WIFSIGNALED(st) && WTERMSIG(st) != SIGKILL &&
				    WTERMSIG(st) != SIGALRM) {
					/* the fuzzer's own bug, or the kernel's SIGSEGV/SIGBUS */
					crashed++;
					say("gmp_fuzz: episode 0x%016" PRIx64 " died of signal %d (%s)",
					    slots[i].seed, WTERMSIG(st), strsignal(WTERMSIG(st)));
				} else if (WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM) {
					hangs++;
					say("gmp_fuzz: episode 0x%016" PRIx64 " hit its alarm (hang?)",
					    slots[i].seed);
				}
				if (slots[i].hung)
					say("gmp_fuzz: hung episode 0x%016" PRIx64 " is gone after SIGKILL",
					    slots[i].seed);
				slots[i].pid = 0;
				running--;
			}
		}
		now = now_ns();
		for (unsigned int i = 0; i < par; i++) {
			struct slot *s = &slots[i];

			if (!s->pid)
				continue;
			if (s->kill_at && now >= s->kill_at && !s->killed) {
				kill(s->pid, SIGKILL);
				s->killed = true;
				killed++;
			}
			if (!s->hung && now - s->start > hang_ns) {
				hangs++;
				s->hung = true;
				s->hung_at = now;
				say("gmp_fuzz: HANG: episode 0x%016" PRIx64 " (pid %d) still running "
				    "after %" PRIu64 " s, last op %s; its tasks:", s->seed, s->pid,
				    (uint64_t)(hang_ns / 1000000000ULL), op_names[S->cur[i].op % NR_OPS]);
				dump_task(s->pid);
				kill(s->pid, SIGKILL);
			} else if (s->hung && now - s->hung_at > 30ULL * 1000000000ULL) {
				unkillable++;
				say("gmp_fuzz: UNKILLABLE: episode 0x%016" PRIx64 " (pid %d) survives "
				    "SIGKILL for 30 s; its tasks:", s->seed, s->pid);
				dump_task(s->pid);
				s->pid = 0;	/* give up on it */
				running--;
			}
		}
	}

	/* Every descendant must be gone: orphans are ours to reap. */
	{
		uint64_t end = now_ns() + 30ULL * 1000000000ULL;
		int st;

		while (now_ns() < end) {
			pid_t pid = waitpid(-1, &st, WNOHANG);

			if (pid < 0 && errno == ECHILD)
				break;
			if (pid <= 0)
				sleep_us(20000);
		}
		if (waitpid(-1, &st, WNOHANG) >= 0 && errno != ECHILD) {
			say("gmp_fuzz: UNKILLABLE: descendants still alive 30 s after the run");
			unkillable++;
		}
	}

	el = (double)(now_ns() - t0) / 1e9;
	say("gmp_fuzz: %" PRIu64 " ops in %.1f s: %.1f ops/s; %" PRIu64 " episodes (%" PRIu64
	    " killed from outside), %" PRIu64 " threads, %" PRIu64 " forks, %" PRIu64 " execs, %"
	    PRIu64 " registrations, %" PRIu64 " injected faults",
	    S->ops, el, el > 0 ? (double)S->ops / el : 0.0, episodes, killed, S->threads,
	    S->forks, S->execs, S->registered, S->failnth);
	say("gmp_fuzz: records seen: %" PRIu64 " blocked, %" PRIu64 " unblocked, %" PRIu64
	    " preempted, %" PRIu64 " overflow, %" PRIu64 " garbage (after our own scribbling)",
	    S->ev[1], S->ev[2], S->ev[3], S->ev[4], S->ev[0]);
	for (int op = 0; op < NR_OPS; op++)
		if (S->op_ok[op] + S->op_err[op])
			say("gmp_fuzz:   %-11s %8" PRIu64 " ok %8" PRIu64 " failed", op_names[op],
			    S->op_ok[op], S->op_err[op]);
	for (unsigned int i = 0; i < NORACLE && i < S->oracle_fail; i++)
		say("gmp_fuzz: oracle: %s", S->oracle_msg[i]);
	say("gmp_fuzz: %s: %" PRIu64 " oracle failures, %" PRIu64 " hangs, %" PRIu64
	    " unkillable, %" PRIu64 " crashed episodes (seed 0x%016" PRIx64 ")",
	    S->oracle_fail || hangs || unkillable || crashed ? "FAILED" : "ok",
	    S->oracle_fail, hangs, unkillable, crashed, seed);
	return S->oracle_fail || hangs || unkillable || crashed ? 1 : 0;
}
