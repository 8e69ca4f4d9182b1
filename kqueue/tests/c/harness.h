/* A tiny test harness whose summary reads like libtest's, so that
 * selftests/vm-suite.sh counts it as a test:PATH binary. */
#ifndef KQ_HARNESS_H
#define KQ_HARNESS_H
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int t_failed_now;
static int t_pass, t_fail;

#define CHECK(cond)                                                          \
	do {                                                                 \
		if (!(cond)) {                                               \
			printf("    %s:%d: check failed: %s (errno %d %s)\n", \
			       __FILE__, __LINE__, #cond, errno,              \
			       strerror(errno));                              \
			t_failed_now = 1;                                     \
			return;                                               \
		}                                                            \
	} while (0)

#define RUN(fn)                                                      \
	do {                                                         \
		t_failed_now = 0;                                    \
		fflush(stdout);                                      \
		fn();                                                \
		printf("test %s ... %s\n", #fn,                      \
		       t_failed_now ? "FAILED" : "ok");              \
		if (t_failed_now)                                    \
			t_fail++;                                    \
		else                                                 \
			t_pass++;                                    \
	} while (0)

static inline long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static inline int summary(const char *name)
{
	printf("\n%s: test result: %s. %d passed; %d failed; 0 ignored\n", name,
	       t_fail ? "FAILED" : "ok", t_pass, t_fail);
	return t_fail ? 1 : 0;
}
#endif
