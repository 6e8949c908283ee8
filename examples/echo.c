// SPDX-License-Identifier: (LGPL-2.1-or-later OR MIT)
/*
 * echo.c - a TCP echo server, a goroutine per connection.
 *
 * Each goroutine reads and writes as if it had a thread to itself; with
 * the io_uring poller its calls are requests on its P's ring and the
 * goroutine parks while they wait, so ten thousand connections need two
 * threads, not ten thousand.
 *
 *	make && ./echo [PORT]      (default 7007; GMP_DEBUG=1 says which poller)
 *	printf 'hi\n' | nc -q1 127.0.0.1 7007
 */
#include <libgmp.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static int listener;

static void serve(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char buf[4096];
	ssize_t n;

	while ((n = gmp_recv(fd, buf, sizeof(buf), 0)) > 0) {
		/* send may write less than asked: send the rest */
		for (ssize_t off = 0, w; off < n; off += w) {
			w = gmp_send(fd, buf + off, n - off, MSG_NOSIGNAL);
			if (w < 0)
				goto out;
		}
	}
out:
	gmp_close(fd);
}

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
		gmp_go(serve, (void *)(intptr_t)fd);
	}
}

int main(int argc, char **argv)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	struct rlimit rl;
	int one = 1;

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
