// SPDX-License-Identifier: GPL-2.0
/*
 * regcost - what being a registered M of a /dev/gmp group costs a thread
 * that makes system calls which do not block: a tight loop of getppid(2),
 * through the raw ABI (kmod/include/uapi/linux/gmp.h), in three states:
 *
 *   none        not registered (the group fd stays open, unused)
 *   registered  GMP_IOC_REGISTER done, slot disarmed
 *   armed       registered and slot->armed = 1 for the whole loop
 *
 * The states are measured in rounds, each round one loop per state in a
 * rotating order (a VM's host drifts; the rotation spreads it evenly), on
 * one pinned thread. Many short rounds rather than a few long ones: a noisy
 * host (a TCG VM on a busy machine) disturbs some rounds, and the median
 * and low percentiles over many rounds see past them. Prints one line per
 * loop and the median per state:
 *
 *   @reg STATE round=R ns_per_call=X
 *   @regmed STATE ns_per_call=X
 *
 * and "@reg-na REASON" (exit 0) when /dev/gmp cannot be used.
 *
 *   regcost [-n CALLS] [-r ROUNDS]       (defaults 5000, 150)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <linux/gmp.h>

enum { NONE, REGISTERED, ARMED, NSTATES };
static const char *const state_name[NSTATES] = { "none", "registered", "armed" };

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static double loop(long n)
{
	int64_t t0 = now_ns();

	for (long i = 0; i < n; i++)
		syscall(SYS_getppid);
	return (double)(now_ns() - t0) / (double)n;
}

static int cmpd(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	long n = 5000;
	int rounds = 150, opt, fd;
	struct gmp_info info = { .size = sizeof(info) };
	volatile struct gmp_slot *slots;
	double *res[NSTATES];
	cpu_set_t set;
	void *map;

	while ((opt = getopt(argc, argv, "n:r:")) != -1) {
		if (opt == 'n')
			n = atol(optarg);
		else if (opt == 'r')
			rounds = atoi(optarg);
		else
			return 2;
	}
	if (n < 1 || rounds < 1)
		return 2;
	CPU_ZERO(&set);
	if (sched_getaffinity(0, sizeof(set), &set) == 0) {
		for (int c = 0; c < CPU_SETSIZE; c++)
			if (CPU_ISSET(c, &set)) {
				CPU_ZERO(&set);
				CPU_SET(c, &set);
				sched_setaffinity(0, sizeof(set), &set);
				break;
			}
	}

	fd = open(GMP_DEVICE_PATH, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		printf("@reg-na open %s: %s\n", GMP_DEVICE_PATH, strerror(errno));
		return 0;
	}
	if (ioctl(fd, GMP_IOC_INFO, &info)) {
		printf("@reg-na GMP_IOC_INFO: %s\n", strerror(errno));
		return 0;
	}
	map = mmap(NULL, info.mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		printf("@reg-na mmap: %s\n", strerror(errno));
		return 0;
	}
	slots = (volatile struct gmp_slot *)((char *)map + info.slots_offset);
	for (int s = 0; s < NSTATES; s++)
		res[s] = calloc(rounds, sizeof(double));

	loop(n / 4);	/* warm up */
	for (int r = 0; r < rounds; r++) {
		for (int k = 0; k < NSTATES; k++) {
			int s = (r + k) % NSTATES;
			struct gmp_register reg = { .size = sizeof(reg), .m_id = 1 };
			struct gmp_unregister unreg = { .size = sizeof(unreg) };

			if (s != NONE && ioctl(fd, GMP_IOC_REGISTER, &reg)) {
				printf("@reg-na GMP_IOC_REGISTER: %s\n", strerror(errno));
				return 0;
			}
			if (s == ARMED)
				slots[reg.slot].armed = 1;
			res[s][r] = loop(n);
			if (s == ARMED)
				slots[reg.slot].armed = 0;
			if (s != NONE && ioctl(fd, GMP_IOC_UNREGISTER, &unreg)) {
				printf("@reg-na GMP_IOC_UNREGISTER: %s\n", strerror(errno));
				return 0;
			}
			printf("@reg %s round=%d ns_per_call=%.2f\n", state_name[s], r, res[s][r]);
		}
	}
	for (int s = 0; s < NSTATES; s++) {
		qsort(res[s], rounds, sizeof(double), cmpd);
		printf("@regmed %s ns_per_call=%.2f calls=%ld rounds=%d\n", state_name[s],
		       res[s][rounds / 2], n, rounds);
	}
	return 0;
}
