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
/* `PROGRAM [NAMES [COUNT]]`: only the tests NAMES (comma-separated, in
 * the program's order), each COUNT times (default 1). Options, such as
 * the `--test-threads=2` that selftests/vm-suite.sh gives every test
 * binary, are skipped: they name no test. */
static const char *t_only;
static int t_repeat = 1;

static inline void t_args(int argc, char **argv)
{
	int i, pos = 0;

	for (i = 1; i < argc; i++) {
		if (argv[i][0] == '-')
			continue;
		if (pos++ == 0)
			t_only = argv[i];
		else
			t_repeat = atoi(argv[i]) > 0 ? atoi(argv[i]) : 1;
	}
}

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

static inline int t_selected(const char *name)
{
	size_t n = strlen(name);
	const char *p = t_only;

	if (!t_only)
		return 1;
	while ((p = strstr(p, name))) {
		if ((p == t_only || p[-1] == ',') && (p[n] == ',' || p[n] == 0))
			return 1;
		p += n;
	}
	return 0;
}

#define RUN(fn)                                                      \
	do {                                                         \
		int t_i;                                             \
		if (!t_selected(#fn))                                \
			break;                                       \
		for (t_i = 0; t_i < (t_only ? t_repeat : 1); t_i++) { \
			t_failed_now = 0;                            \
			fflush(stdout);                              \
			fn();                                        \
			printf("test %s ... %s\n", #fn,              \
			       t_failed_now ? "FAILED" : "ok");      \
			if (t_failed_now)                            \
				t_fail++;                            \
			else                                         \
				t_pass++;                            \
		}                                                    \
	} while (0)

static inline long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static inline int summary(const char *name)
{
	/* Running nothing is a failure: a bad NAMES, or a broken harness. */
	if (!t_pass && !t_fail) {
		printf("\n%s: no test ran (NAMES: %s)\n", name,
		       t_only ? t_only : "all");
		t_fail = 1;
	}
	printf("\n%s: test result: %s. %d passed; %d failed; 0 ignored\n", name,
	       t_fail ? "FAILED" : "ok", t_pass, t_fail);
	return t_fail ? 1 : 0;
}
#endif
