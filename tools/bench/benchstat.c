// SPDX-License-Identifier: (LGPL-2.1-or-later OR MIT)
/*
 * benchstat - the one place where latency samples become figures, so that
 * every row of `make bench` (libgmp, Go, wakelat) uses the same percentile
 * definition. Reads integers (nanoseconds, one per line; other lines are
 * skipped) from stdin and prints two lines:
 *
 *   @lat NAME n=N min=NS p50=NS p90=NS p99=NS p999=NS max=NS mean=NS
 *   @cdf NAME Q:NS Q:NS ...
 *
 * Percentiles are nearest-rank: pQ is the smallest sample such that at
 * least Q% of the samples are <= it. The @cdf points are spaced evenly in
 * "nines" (-log10(1 - Q), 0.05 apart) up to the last full nine the sample
 * count resolves, then the maximum (Q = 1), for a latency-vs-percentile
 * plot. Exit 1 when there is no sample.
 *
 *   benchstat NAME < samples
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static int cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

static int64_t rank(const int64_t *v, size_t n, double q)
{
	double r = ceil(q * (double)n - 1e-9);
	size_t i = r < 1 ? 0 : (size_t)r - 1;

	return v[i < n ? i : n - 1];
}

int main(int argc, char **argv)
{
	size_t n = 0, cap = 4096;
	int64_t *v = malloc(cap * sizeof(*v));
	char line[256];
	double sum = 0, nines;

	if (argc != 2 || !v) {
		fprintf(stderr, "usage: benchstat NAME < samples\n");
		return 2;
	}
	while (fgets(line, sizeof(line), stdin)) {
		char *end;
		long long x = strtoll(line, &end, 10);

		if (end == line || (*end && *end != '\n' && *end != '\r'))
			continue;
		if (n == cap) {
			cap *= 2;
			v = realloc(v, cap * sizeof(*v));
			if (!v)
				return 1;
		}
		v[n++] = x;
		sum += (double)x;
	}
	if (!n) {
		printf("@lat %s n=0\n", argv[1]);
		return 1;
	}
	qsort(v, n, sizeof(*v), cmp64);
	printf("@lat %s n=%zu min=%lld p50=%lld p90=%lld p99=%lld p999=%lld max=%lld mean=%.0f\n",
	       argv[1], n, (long long)v[0], (long long)rank(v, n, 0.5),
	       (long long)rank(v, n, 0.9), (long long)rank(v, n, 0.99),
	       (long long)rank(v, n, 0.999), (long long)v[n - 1], sum / (double)n);
	printf("@cdf %s", argv[1]);
	nines = floor(log10((double)n));
	for (int k = 0; k * 0.05 <= nines + 1e-9; k++) {
		double q = 1 - pow(10, -k * 0.05);

		printf(" %.6f:%lld", q, (long long)rank(v, n, q));
	}
	printf(" 1:%lld\n", (long long)v[n - 1]);
	free(v);
	return 0;
}
