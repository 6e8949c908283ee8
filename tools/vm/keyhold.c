// SPDX-License-Identifier: GPL-2.0
/*
 * keyhold - switch perf's context-switch static keys on once, at boot, and
 * keep them on until the guest powers off.
 *
 * The first context-switch perf event of a boot (perf mode's per-M events,
 * the benchmark's perf watcher) enables the kernel's perf_sched_events
 * static key, and the last one closed disables it a second later: each
 * time, the kernel rewrites the jump in __schedule() while the other vCPU
 * may be executing it. On real hardware text_poke_bp() makes that safe;
 * under TCG a 6.12 guest now and then takes an int3 oops in __schedule()
 * there (2 boots of 6, the same with an ftrace-only module: an emulator
 * artifact, not a property of the code under test). With one such event
 * held open for the whole boot, the key is switched on once, before any
 * test runs, and never switched again.
 *
 * The event is a dummy software event on this process only (the one the
 * runtime opens per M), so the records it writes are this process's own:
 * it sleeps in pause() and writes almost none.
 *
 * Usage: keyhold, in the background (run.sh's init, unless --no-keyhold;
 * its output goes to /dev/kmsg). It never returns, except with exit 1 when
 * the event cannot be opened, after a line that says why.
 */
#include <errno.h>
#include <linux/perf_event.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(void)
{
	struct perf_event_attr a;
	int fd;

	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	a.type = PERF_TYPE_SOFTWARE;
	a.config = PERF_COUNT_SW_DUMMY;
	a.context_switch = 1;
	a.exclude_kernel = 1;
	a.exclude_hv = 1;
	fd = (int)syscall(SYS_perf_event_open, &a, 0, -1, -1, 0);
	if (fd < 0) {
		printf("gmp-vm: keyhold: perf_event_open: %s: perf's keys switch per test\n",
		       strerror(errno));
		return 1;
	}
	for (;;)
		pause();
}
