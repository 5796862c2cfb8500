/*
 * t.h: the unit-test harness.  Each check prints one line, "ok - NAME" or
 * "not ok - NAME: got X, want Y" (TAP-like), and t_done() prints the
 * totals and gives the exit status.  tests/run counts these lines.
 * Table-driven tests loop over cases and name each one.
 */
#ifndef SLUICE_T_H
#define SLUICE_T_H

#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static int t_passed, t_failed;

static inline void
t_report(int ok, const char *name, const char *got, const char *want)
{
	if (ok) {
		t_passed++;
		printf("ok - %s\n", name);
	} else {
		t_failed++;
		printf("not ok - %s: got \"%s\", want \"%s\"\n", name,
		    got ? got : "(null)", want ? want : "(null)");
	}
	fflush(stdout);
}

#define T_OK(cond, name) t_report(!!(cond), (name), #cond " false", "true")

#define T_EQ_STR(got, want, name) do {					\
	const char *t_g_ = (got), *t_w_ = (want);			\
	t_report((t_g_ == NULL && t_w_ == NULL) ||			\
	    (t_g_ && t_w_ && strcmp(t_g_, t_w_) == 0), (name), t_g_, t_w_); \
} while (0)

#define T_EQ_INT(got, want, name) do {					\
	long long t_g_ = (long long)(got), t_w_ = (long long)(want);	\
	char t_gb_[32], t_wb_[32];					\
	snprintf(t_gb_, sizeof(t_gb_), "%lld", t_g_);			\
	snprintf(t_wb_, sizeof(t_wb_), "%lld", t_w_);			\
	t_report(t_g_ == t_w_, (name), t_gb_, t_wb_);			\
} while (0)

static inline int
t_rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* Removes a test's temporary directory and everything in it. */
static inline void
t_rmtree(const char *dir)
{
	nftw(dir, t_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static inline int
t_done(void)
{
	printf("# %d passed, %d failed\n", t_passed, t_failed);
	return t_failed ? 1 : 0;
}

#endif
