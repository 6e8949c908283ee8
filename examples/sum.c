// SPDX-License-Identifier: (LGPL-2.1-or-later OR MIT)
/*
 * sum.c - checksum files in parallel, a goroutine per file.
 *
 * Every goroutine opens, reads and closes its file through the poller
 * (io_uring requests on its P's ring), and sends its result on a channel;
 * main prints them in the order of the command line.
 *
 *	make && ./sum FILE...      (prints an FNV-1a 64 sum and size per file)
 */
#include <libgmp.h>

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct job {
	const char *path;
	uint64_t sum;
	long long size;
	int err;		/* 0 or -errno */
	gmp_chan_t *done;	/* the job's index goes here when finished */
	int index;
};

static void sum_file(void *arg)
{
	struct job *j = arg;
	char buf[16 * 1024];	/* goroutine stacks are 64 KiB by default */
	uint64_t h = 0xcbf29ce484222325ULL;
	ssize_t n;
	int fd;

	fd = gmp_openat(AT_FDCWD, j->path, O_RDONLY | O_CLOEXEC, 0);
	if (fd < 0) {
		j->err = fd;
	} else {
		while ((n = gmp_read(fd, buf, sizeof(buf))) > 0) {
			for (ssize_t i = 0; i < n; i++)
				h = (h ^ (unsigned char)buf[i]) * 0x100000001b3ULL;
			j->size += n;
		}
		if (n < 0)
			j->err = (int)n;
		gmp_close(fd);
	}
	j->sum = h;
	gmp_chan_send(j->done, &j->index);
}

struct args {
	int n;
	char **paths;
	int status;
};

static void run(void *arg)
{
	struct args *a = arg;
	struct job *jobs = calloc(a->n, sizeof(*jobs));
	gmp_chan_t *done;
	int finished = 0, i;

	gmp_chan_make(&done, sizeof(int), a->n);
	for (i = 0; i < a->n; i++) {
		jobs[i] = (struct job){ .path = a->paths[i], .done = done, .index = i };
		gmp_go(sum_file, &jobs[i]);
	}
	/* every goroutine reports once; then print in command-line order */
	while (finished < a->n && gmp_chan_recv(done, &i) == 0)
		finished++;
	for (i = 0; i < a->n; i++) {
		if (jobs[i].err) {
			fprintf(stderr, "sum: %s: %s\n", jobs[i].path, strerror(-jobs[i].err));
			a->status = 1;
		} else {
			printf("%016" PRIx64 " %12lld  %s\n", jobs[i].sum, jobs[i].size, jobs[i].path);
		}
	}
	gmp_chan_free(done);
	free(jobs);
}

int main(int argc, char **argv)
{
	struct args a = { .n = argc - 1, .paths = argv + 1 };

	if (argc < 2) {
		fprintf(stderr, "usage: sum FILE...\n");
		return 2;
	}
	if (gmp_run(run, &a) < 0)
		return 1;
	return a.status;
}
