// SPDX-License-Identifier: (LGPL-2.1-or-later OR MIT)
/*
 * stack.c - goroutine stacks: allocation with a guard region, the initial
 * frame, and the stack-overflow report.
 *
 * One mapping per G:
 *
 *	[ guard, GUARD_SIZE ][ stack ....................... ][ struct g ]
 *	base                 stack_lo                          top
 *
 * The struct g shares the top page with the first frames, so a parked G
 * costs one page of RSS. Mappings are MAP_NORESERVE: only touched pages
 * count. The cache of dead Gs (sched.c) makes most spawns free of syscalls.
 *
 * Guards. With MADV_GUARD_INSTALL (Linux 6.13+) a guard does not split the
 * mapping, so any number of Gs can have one. Without it the guard is an
 * mprotect(PROT_NONE) page, which costs two VMAs per stack out of the
 * process's vm.max_map_count (65530 by default); past a quarter of that
 * budget stacks get a canary word at their bottom instead, checked at each
 * switch. A fault in a guard, or a dead canary, ends the process with a
 * message naming the goroutine. GMP_STACK_GUARD=mprotect or =canary forces
 * a fallback, so that the tests cover them on any kernel.
 */
#include "internal.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

#define GUARD_SIZE	(16 * 1024)
#define ALTSTACK_SIZE	(64 * 1024)
#define CANARY		0x6d70672d6b636174ULL	/* "tack-gmp" */

enum { GUARD_UNKNOWN, GUARD_MADVISE, GUARD_MPROTECT, GUARD_CANARY };
static _Atomic int guard_mode;
static _Atomic long mprotect_budget = -1;

static long read_max_map_count(void)
{
	FILE *f = fopen("/proc/sys/vm/max_map_count", "r");
	long v = 65530;

	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = 65530;
		fclose(f);
	}
	return v;
}

static bool install_guard(char *base)
{
	int mode = load_relaxed(&guard_mode);
	long budget;

	if (mode == GUARD_UNKNOWN) {
		/* GMP_STACK_GUARD=mprotect|canary: force a fallback (tests). */
		const char *s = getenv("GMP_STACK_GUARD");

		if (s && !strcmp(s, "mprotect"))
			mode = GUARD_MPROTECT;
		else if (s && !strcmp(s, "canary"))
			mode = GUARD_CANARY;
		store_relaxed(&guard_mode, mode);
	}
	if (mode == GUARD_CANARY)
		return false;

	if (mode != GUARD_MPROTECT) {
		if (madvise(base, GUARD_SIZE, MADV_GUARD_INSTALL) == 0) {
			store_relaxed(&guard_mode, GUARD_MADVISE);
			return true;
		}
		store_relaxed(&guard_mode, GUARD_MPROTECT);
	}
	budget = load_relaxed(&mprotect_budget);
	if (budget < 0) {
		long expect = -1;

		/* relaxed: a counter; racing initialisers agree on the value. */
		atomic_compare_exchange_strong_explicit(&mprotect_budget, &expect,
				read_max_map_count() / 4, memory_order_relaxed,
				memory_order_relaxed);
	}
	if (atomic_fetch_sub_explicit(&mprotect_budget, 1, memory_order_relaxed) <= 0)
		return false;
	return mprotect(base, GUARD_SIZE, PROT_NONE) == 0;
}

struct g *__gmp_stack_alloc(size_t stack_size)
{
	size_t gsz = (sizeof(struct g) + 63) & ~(size_t)63;
	size_t total = GUARD_SIZE + stack_size;
	char *base;
	struct g *gp;
	bool guarded;

	base = mmap(NULL, total, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
	if (base == MAP_FAILED)
		return NULL;
	guarded = install_guard(base);
	gp = (struct g *)(base + total - gsz);
	memset(gp, 0, sizeof(*gp));
	gp->stack_lo = base + GUARD_SIZE;
	gp->stack_size = (char *)gp - (char *)gp->stack_lo;
	gp->guard_size = guarded ? GUARD_SIZE : 0;
	gp->timer.idx = -1;
	if (!guarded)
		*(uint64_t *)gp->stack_lo = CANARY;
	return gp;
}

/*
 * The frame __gmp_ctx_switch pops on the first switch to gp (see
 * context_x86_64.S): it "returns" into __gmp_ctx_entry with r12 = entry,
 * and rsp 16-byte aligned there, as a call site needs.
 */
void __gmp_ctx_init(struct g *gp, void (*entry)(void))
{
	uintptr_t top = ((uintptr_t)gp->stack_lo + gp->stack_size) & ~(uintptr_t)15;
	uint64_t *sp = (uint64_t *)(top - 16);

	sp[0] = 0;
	sp[1] = 0;
	*--sp = (uint64_t)(uintptr_t)__gmp_ctx_entry;	/* return address */
	*--sp = 0;					/* rbp */
	*--sp = 0;					/* rbx */
	*--sp = (uint64_t)(uintptr_t)entry;		/* r12 */
	*--sp = 0;					/* r13 */
	*--sp = 0;					/* r14 */
	*--sp = 0;					/* r15 */
	*--sp = (uint64_t)0x037f << 32 | 0x1f80;	/* x87 CW, MXCSR */
	gp->sp = sp;
}

/* ---- the overflow report (async-signal-safe) -------------------------- */

struct msg {
	char buf[256];
	size_t len;
};

static void msg_str(struct msg *m, const char *s)
{
	while (*s && m->len < sizeof(m->buf) - 1)
		m->buf[m->len++] = *s++;
}

static void msg_num(struct msg *m, uint64_t v, int base)
{
	char tmp[24];
	int n = 0;

	if (base == 16)
		msg_str(m, "0x");
	do {
		tmp[n++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	while (n && m->len < sizeof(m->buf) - 1)
		m->buf[m->len++] = tmp[--n];
}

static void report_overflow(struct g *gp, const void *addr)
{
	struct msg m = { .len = 0 };

	msg_str(&m, "gmp: fatal: stack overflow in goroutine ");
	msg_num(&m, (uint64_t)gp->id, 10);
	if (gp->name[0]) {
		msg_str(&m, " \"");
		msg_str(&m, gp->name);
		msg_str(&m, "\"");
	}
	msg_str(&m, " (entry ");
	msg_num(&m, (uint64_t)(uintptr_t)gp->fn, 16);
	msg_str(&m, ", stack ");
	msg_num(&m, gp->stack_size, 10);
	msg_str(&m, " bytes");
	if (addr) {
		msg_str(&m, ", fault at ");
		msg_num(&m, (uint64_t)(uintptr_t)addr, 16);
	}
	msg_str(&m, "); raise GMP_STACK_SIZE\n");
	if (write(STDERR_FILENO, m.buf, m.len) < 0)
		_exit(127);
}

void __gmp_stack_check(struct g *gp)
{
	char *sp = __builtin_frame_address(0);

	if (unlikely(sp < (char *)gp->stack_lo + 256) ||
	    unlikely(!gp->guard_size && *(uint64_t *)gp->stack_lo != CANARY)) {
		report_overflow(gp, NULL);
		abort();
	}
}

static struct sigaction old_segv, old_bus;

/*
 * SIGSEGV, and SIGBUS: without a guard (GMP_STACK_GUARD=canary) an
 * overflow runs into whatever is mapped below the stack, which may be a
 * mapping whose pages fault with SIGBUS (a perf ring's data pages, a file
 * past its end).
 */
static void segv_handler(int sig, siginfo_t *si, void *uctx)
{
	struct m *m = __gmp_getm();
	struct g *gp = m ? m->curg : NULL;
	ucontext_t *uc = uctx;
	char *addr = si->si_addr;
	char *rsp = (char *)(uintptr_t)uc->uc_mcontext.gregs[REG_RSP];
	struct sigaction *old = sig == SIGBUS ? &old_bus : &old_segv;

	if (gp && gp->stack_lo) {
		char *lo = gp->stack_lo;
		bool in_guard = addr < lo && addr >= lo - gp->guard_size;
		bool sp_below = rsp < lo + 128 && rsp >= lo - (1 << 20);

		if (in_guard || (sp_below && addr < lo)) {
			struct sigaction dfl = { .sa_handler = SIG_DFL };

			report_overflow(gp, addr);
			/* As a failed canary check does: not a bus error. */
			if (sig == SIGBUS)
				abort();
			/* Return into the faulting access with the default action. */
			sigaction(sig, &dfl, NULL);
			return;
		}
	}
	if (old->sa_flags & SA_SIGINFO) {
		if (old->sa_sigaction) {
			old->sa_sigaction(sig, si, uctx);
			return;
		}
	} else if (old->sa_handler != SIG_DFL && old->sa_handler != SIG_IGN) {
		old->sa_handler(sig);
		return;
	}
	struct sigaction dfl = { .sa_handler = SIG_DFL };

	sigaction(sig, &dfl, NULL);
}

int __gmp_stack_install_handler(void)
{
	struct sigaction sa = { 0 };

	sa.sa_sigaction = segv_handler;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSEGV, &sa, &old_segv) < 0 || sigaction(SIGBUS, &sa, &old_bus) < 0)
		return -errno;
	return 0;
}

int __gmp_stack_thread_init(struct m *m)
{
	pthread_attr_t attr;
	stack_t ss;

	m->altstack = mmap(NULL, ALTSTACK_SIZE, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m->altstack == MAP_FAILED) {
		m->altstack = NULL;
		return -ENOMEM;
	}
	ss.ss_sp = m->altstack;
	ss.ss_size = ALTSTACK_SIZE;
	ss.ss_flags = 0;
	if (sigaltstack(&ss, NULL) < 0)
		return -errno;
	if (pthread_getattr_np(pthread_self(), &attr) == 0) {
		pthread_attr_getstack(&attr, &m->g0_stack_lo, &m->g0_stack_size);
		pthread_attr_destroy(&attr);
	}
	return 0;
}

/* The thread of m exits: its signal stack goes (on that thread). */
void __gmp_stack_thread_fini(struct m *m)
{
	stack_t ss = { .ss_flags = SS_DISABLE };

	if (m->altstack && sigaltstack(&ss, NULL) == 0) {
		munmap(m->altstack, ALTSTACK_SIZE);
		m->altstack = NULL;
	}
}
