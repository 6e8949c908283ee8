// SPDX-License-Identifier: (LGPL-2.1-or-later OR MIT)
/*
 * pool.c - a plain pthread pool that keeps its CPUs busy while tasks
 * block, using gmp.ko through the gmpdev.h shim (no libgmp scheduler).
 *
 * NCPU workers take tasks from a queue. Each worker is registered with
 * /dev/gmp and armed while it runs a task. A watcher thread parks in
 * gmp_dev_wait(); when the module reports a worker asleep in the kernel
 * while tasks are waiting, it starts a spare worker, so that NCPU workers
 * keep running. Workers leave when the queue is empty. (A long-lived pool
 * would also retire spares once the sleepers wake: GMP_EV_UNBLOCKED tells
 * when. This one just lets the queue run dry.)
 *
 *	make && ./pool          NOGMP=1 ./pool: the same without the module
 */
#include <gmpdev.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NCPU		2
#define MAX_WORKERS	64
#define TASKS		40

static struct gmp_dev *dev;		/* NULL: no module, a plain pool */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gone = PTHREAD_COND_INITIALIZER;
static int next_task = TASKS;		/* tasks left: TASKS - 1 ... 0 */
static int nworkers, spares;

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Even tasks sleep in the kernel for 20 ms; odd ones compute for 5 ms. */
static void run_task(int t)
{
	double end = now_ms() + 5;

	if (t % 2 == 0)
		usleep(20 * 1000);
	else
		while (now_ms() < end)
			;
}

static void *worker(void *arg)
{
	struct gmp_slot *slot = NULL;

	/* m_id: any number unique in the group; the slot is ours alone. */
	if (dev && gmp_dev_register(dev, (uint32_t)(long)arg, 0, &slot) < 0)
		slot = NULL;
	pthread_mutex_lock(&lock);
	while (next_task > 0) {
		int t = --next_task;

		pthread_mutex_unlock(&lock);
		if (slot)
			gmp_dev_arm(slot);	/* from here a block is news... */
		run_task(t);
		if (slot)
			gmp_dev_disarm(slot);	/* ...not while we take the lock */
		pthread_mutex_lock(&lock);
	}
	nworkers--;
	pthread_cond_signal(&gone);
	pthread_mutex_unlock(&lock);
	if (slot)
		gmp_dev_unregister(dev);
	return NULL;
}

/* With the lock held. */
static void start_worker(void)
{
	static long ids;
	pthread_t t;

	if (pthread_create(&t, NULL, worker, (void *)ids++) == 0) {
		pthread_detach(t);
		nworkers++;
	}
}

/* Told that a worker sleeps: if work waits, another worker takes it up. */
static void *watcher(void *arg)
{
	struct gmp_event ev;

	(void)arg;
	while (gmp_dev_wait(dev, &ev, 1, -1) == 1) {
		/* Skip old news (it woke since) and overflow notices. */
		if (ev.type != GMP_EV_BLOCKED ||
		    !gmp_dev_still_blocked(gmp_dev_slot(dev, ev.slot), ev.seq))
			continue;
		pthread_mutex_lock(&lock);
		if (next_task > 0 && nworkers < MAX_WORKERS) {
			start_worker();
			spares++;
		}
		pthread_mutex_unlock(&lock);
	}
	return NULL;
}

int main(void)
{
	struct gmp_dev_config cfg = {
		.size = sizeof(cfg),
		.setup_flags = GMP_SETUP_NO_UNBLOCKED,	/* only blocks matter here */
	};
	pthread_t w;
	double t0;
	int ret;

	if (!getenv("NOGMP")) {
		ret = gmp_dev_open(&dev, &cfg);
		if (ret < 0) {
			fprintf(stderr, "pool: %s: %s; running without it\n",
				GMP_DEVICE_PATH, strerror(-ret));
			dev = NULL;
		}
	}
	/* The watcher is not registered: its own wait is never reported. */
	if (dev)
		pthread_create(&w, NULL, watcher, NULL);
	t0 = now_ms();
	pthread_mutex_lock(&lock);
	for (int i = 0; i < NCPU; i++)
		start_worker();
	while (nworkers > 0)
		pthread_cond_wait(&gone, &lock);
	pthread_mutex_unlock(&lock);
	printf("%d tasks (half 20 ms asleep, half 5 ms computing), %d CPUs: %.0f ms, "
	       "%d spare workers%s\n", TASKS, NCPU, now_ms() - t0, spares,
	       dev ? "" : " (no /dev/gmp)");
	return 0;
}
