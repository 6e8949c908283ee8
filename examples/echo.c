// SPDX-License-Identifier: (LGPL-2.1-or-later OR MIT)
/*
 * echo.c - a TCP echo server, a goroutine per connection.
 *
 * Each goroutine reads and writes as if it had a thread to itself; with
 * the io_uring poller its calls are requests on its P's ring and the
 * goroutine parks while they wait, so ten thousand connections need two
 * threads, not ten thousand.
 *
 * A goroutine waits for its connection to become readable holding no
 * buffer (gmp_poll_fd), and only then borrows one (malloc) for the
 * recv and the send. A goroutine that receives into a buffer of its own
 * (-s: on its stack, the way a Go server reads into a []byte per
 * connection) keeps that buffer in memory for as long as the connection
 * lives, busy or not: 8 KiB of stack per connection instead of 4.
 *
 *	make && ./echo [-s] [PORT]      (default 7007; GMP_DEBUG=1 says which poller)
 *	printf 'hi\n' | nc -q1 127.0.0.1 7007
 */
#include <libgmp.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define BUF_SIZE 4096

static int listener;

/* Send all of buf (a send may write less than asked); false on error. */
static bool send_all(int fd, const char *buf, ssize_t n)
{
	for (ssize_t off = 0, w; off < n; off += w) {
		w = gmp_send(fd, buf + off, n - off, MSG_NOSIGNAL);
		if (w < 0)
			return false;
	}
	return true;
}

/* Wait holding nothing; borrow a buffer only while there is data. */
static void serve(void *arg)
{
	int fd = (int)(intptr_t)arg;

	while (gmp_poll_fd(fd, POLLIN, -1) > 0) {
		char *buf = malloc(BUF_SIZE);
		ssize_t n;
		bool ok;

		if (!buf)
			break;
		n = recv(fd, buf, BUF_SIZE, MSG_DONTWAIT);
		ok = n > 0 ? send_all(fd, buf, n) : n < 0 && errno == EAGAIN;
		free(buf);
		if (!ok)	/* EOF, or an error */
			break;
	}
	gmp_close(fd);
}

/* -s: a buffer of its own, on the goroutine's stack. */
static void serve_stack(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char buf[BUF_SIZE];
	ssize_t n;

	while ((n = gmp_recv(fd, buf, sizeof(buf), 0)) > 0)
		if (!send_all(fd, buf, n))
			break;
	gmp_close(fd);
}

static void (*server)(void *) = serve;

static void acceptor(void *arg)
{
	(void)arg;
	for (;;) {
		int one = 1, fd = gmp_accept(listener, NULL, NULL);

		if (fd < 0) {
			if (fd == -EMFILE || fd == -ENFILE)	/* out of fds: wait a little */
				gmp_sleep(10 * 1000 * 1000);
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		gmp_go(server, (void *)(intptr_t)fd);
	}
}

int main(int argc, char **argv)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	struct rlimit rl;
	int one = 1;

	if (argc > 1 && !strcmp(argv[1], "-s")) {
		server = serve_stack;
		argc--;
		argv++;
	}
	signal(SIGPIPE, SIG_IGN);
	/* one fd per connection: take what the hard limit allows */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	a.sin_port = htons(argc > 1 ? atoi(argv[1]) : 7007);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(listener, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(listener, 4096) < 0) {
		perror("echo: bind/listen");
		return 1;
	}
	fprintf(stderr, "echo: listening on 127.0.0.1:%d\n", ntohs(a.sin_port));
	return gmp_run(acceptor, NULL) < 0;
}
