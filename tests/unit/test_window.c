/*
 * test_window: quota windows driven by `now` alone.  Seconds periods at
 * their boundaries (also negative and extreme times); calendar periods in
 * real zones (TZ set inside the test) across month and year ends, ISO
 * weeks over a year end, both DST changes, leap February, midnights that
 * a DST change skips or repeats; a sweep that checks every window is
 * consistent with its neighbours; cbpolicyd's sliding decay; parsing and
 * formatting of periods.  Expected instants are written in UTC.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "policy/window.h"
#include "t.h"

#define H	3600
#define D	86400

static const struct pol_period P_DAY = { POL_PERIOD_DAY, 0 };
static const struct pol_period P_WEEK = { POL_PERIOD_WEEK, 0 };
static const struct pol_period P_MONTH = { POL_PERIOD_MONTH, 0 };

/* An instant written as a UTC date and time. */
static int64_t
utc(const int v[6])
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	tm.tm_year = v[0] - 1900;
	tm.tm_mon = v[1] - 1;
	tm.tm_mday = v[2];
	tm.tm_hour = v[3];
	tm.tm_min = v[4];
	tm.tm_sec = v[5];
	return (int64_t)timegm(&tm);
}

/* "2024-03-30T23:00:00Z", or the number when gmtime cannot say. */
static void
fmt_instant(int64_t t, char *buf, size_t bufsz)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL ||
	    strftime(buf, bufsz, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, bufsz, "%" PRId64, t);
}

static void
fmt_window(int64_t s, int64_t e, char *buf, size_t bufsz)
{
	char a[40], b[40];

	fmt_instant(s, a, sizeof(a));
	fmt_instant(e, b, sizeof(b));
	snprintf(buf, bufsz, "[%s, %s)", a, b);
}

static void
check_window(const struct pol_period *p, int64_t now, int64_t want_s,
    int64_t want_e, const char *name)
{
	char got[160], want[160];
	int64_t s, e;

	pol_window_at(p, now, &s, &e);
	fmt_window(s, e, got, sizeof(got));
	fmt_window(want_s, want_e, want, sizeof(want));
	t_report(s == want_s && e == want_e, name, got, want);
}

/* Start inclusive, end exclusive: the window's own bounds and the seconds
 * either side of them. */
static void
check_bounds(const struct pol_period *p, int64_t ws, int64_t we,
    const char *name)
{
	char n[160], got[160];
	int64_t s1, e1, s2, e2, s3, e3, s4, e4;

	pol_window_at(p, ws, &s1, &e1);
	pol_window_at(p, we - 1, &s2, &e2);
	pol_window_at(p, ws - 1, &s3, &e3);
	pol_window_at(p, we, &s4, &e4);
	snprintf(n, sizeof(n), "%s: bounds", name);
	snprintf(got, sizeof(got), "start->%s, end-1->%s, start-1 ends %s, "
	    "end starts %s", s1 == ws && e1 == we ? "same" : "other",
	    s2 == ws && e2 == we ? "same" : "other",
	    e3 == ws ? "at start" : "elsewhere",
	    s4 == we ? "at end" : "elsewhere");
	t_report(s1 == ws && e1 == we && s2 == ws && e2 == we && e3 == ws &&
	    s4 == we, n, got, "start->same, end-1->same, start-1 ends at "
	    "start, end starts at end");
}

static int
use_zone(const char *tz)
{
	char path[256];

	snprintf(path, sizeof(path), "/usr/share/zoneinfo/%s", tz);
	/* tzdata is a dependency (make deps): a missing zone fails */
	if (strchr(tz, '/') != NULL && access(path, R_OK) != 0) {
		t_report(0, tz, "no zone file", path);
		return -1;
	}
	setenv("TZ", tz, 1);
	tzset();
	return 0;
}

static void
test_seconds(void)
{
	static const uint64_t periods[] = { 1, 7, 60, 300, 3600, 86400,
	    604800 };
	static const int64_t ks[] = { -3, -1, 0, 1, 29000, 2000000 };
	char name[128];
	size_t i, j;

	for (i = 0; i < sizeof(periods) / sizeof(periods[0]); i++)
		for (j = 0; j < sizeof(ks) / sizeof(ks[0]); j++) {
			struct pol_period p = { POL_PERIOD_SECONDS,
			    periods[i] };
			int64_t s = ks[j] * (int64_t)periods[i];
			int64_t e = s + (int64_t)periods[i];
			int64_t ns, ne;

			snprintf(name, sizeof(name), "seconds %" PRIu64
			    " window %" PRId64, periods[i], ks[j]);
			check_window(&p, s + (int64_t)periods[i] / 2, s, e,
			    name);
			check_bounds(&p, s, e, name);
			pol_window_next(&p, s, &ns, &ne);
			snprintf(name, sizeof(name), "seconds %" PRIu64
			    " next of %" PRId64, periods[i], ks[j]);
			T_OK(ns == e && ne == e + (int64_t)periods[i], name);
		}
}

/* Windows at the ends of the int64_t range are clipped, never wrap. */
static void
test_seconds_extremes(void)
{
	struct pol_period m = { POL_PERIOD_SECONDS, 60 };
	struct pol_period big = { POL_PERIOD_SECONDS, (uint64_t)1 << 63 };
	struct pol_period huge = { POL_PERIOD_SECONDS, UINT64_MAX };
	struct pol_period zero = { POL_PERIOD_SECONDS, 0 };
	int64_t top = INT64_MAX - INT64_MAX % 60;

	check_window(&m, INT64_MAX, top, INT64_MAX, "max: end clipped");
	check_window(&m, top - 1, top - 60, top, "max: last whole window");
	/* 2^63 = 8 (mod 60): INT64_MIN's window started 52 s before it and
	 * ends 8 s after it. */
	check_window(&m, INT64_MIN, INT64_MIN, INT64_MIN + 8,
	    "min: start clipped");
	check_window(&m, INT64_MIN + 8, INT64_MIN + 8, INT64_MIN + 68,
	    "min: first whole window");
	check_window(&big, 0, 0, INT64_MAX, "2^63 s: from the epoch");
	check_window(&big, -1, INT64_MIN, 0, "2^63 s: before the epoch");
	check_window(&big, INT64_MIN, INT64_MIN, 0, "2^63 s: at INT64_MIN");
	check_window(&huge, 5, 0, INT64_MAX, "2^64-1 s: after the epoch");
	check_window(&huge, -5, INT64_MIN, 0, "2^64-1 s: before the epoch");
	check_window(&zero, -7, -7, -6, "0 s is guarded as 1 s");
}

struct cal_case {
	const char			*name;
	const char			*tz;
	const struct pol_period		*p;
	int				 now[6], start[6], end[6];
	int64_t				 len;	/* expected end - start */
};

static const struct cal_case cal_cases[] = {
	/* Europe/Paris: CET +1, CEST +2; 2024 changes on 31 Mar, 27 Oct. */
	{ "paris day", "Europe/Paris", &P_DAY, { 2024, 5, 14, 9, 0, 0 },
	    { 2024, 5, 13, 22, 0, 0 }, { 2024, 5, 14, 22, 0, 0 }, 24 * H },
	{ "paris day spring forward (23 h)", "Europe/Paris", &P_DAY,
	    { 2024, 3, 31, 0, 59, 59 }, { 2024, 3, 30, 23, 0, 0 },
	    { 2024, 3, 31, 22, 0, 0 }, 23 * H },
	{ "paris day spring forward, after the jump", "Europe/Paris",
	    &P_DAY, { 2024, 3, 31, 1, 0, 0 }, { 2024, 3, 30, 23, 0, 0 },
	    { 2024, 3, 31, 22, 0, 0 }, 23 * H },
	{ "paris day fall back (25 h)", "Europe/Paris", &P_DAY,
	    { 2024, 10, 27, 0, 30, 0 }, { 2024, 10, 26, 22, 0, 0 },
	    { 2024, 10, 27, 23, 0, 0 }, 25 * H },
	{ "paris day fall back, repeated 02:30", "Europe/Paris", &P_DAY,
	    { 2024, 10, 27, 1, 30, 0 }, { 2024, 10, 26, 22, 0, 0 },
	    { 2024, 10, 27, 23, 0, 0 }, 25 * H },
	{ "paris day last of the year", "Europe/Paris", &P_DAY,
	    { 2024, 12, 31, 22, 59, 59 }, { 2024, 12, 30, 23, 0, 0 },
	    { 2024, 12, 31, 23, 0, 0 }, 24 * H },
	{ "paris day first of the year", "Europe/Paris", &P_DAY,
	    { 2024, 12, 31, 23, 0, 0 }, { 2024, 12, 31, 23, 0, 0 },
	    { 2025, 1, 1, 23, 0, 0 }, 24 * H },
	{ "paris week over a year end", "Europe/Paris", &P_WEEK,
	    { 2025, 1, 1, 12, 0, 0 }, { 2024, 12, 29, 23, 0, 0 },
	    { 2025, 1, 5, 23, 0, 0 }, 7 * D },
	{ "paris ISO week 53 of 2020", "Europe/Paris", &P_WEEK,
	    { 2021, 1, 3, 22, 59, 59 }, { 2020, 12, 27, 23, 0, 0 },
	    { 2021, 1, 3, 23, 0, 0 }, 7 * D },
	{ "paris week, Monday 00:00", "Europe/Paris", &P_WEEK,
	    { 2024, 5, 12, 22, 0, 0 }, { 2024, 5, 12, 22, 0, 0 },
	    { 2024, 5, 19, 22, 0, 0 }, 7 * D },
	{ "paris week with spring forward", "Europe/Paris", &P_WEEK,
	    { 2024, 3, 27, 0, 0, 0 }, { 2024, 3, 24, 23, 0, 0 },
	    { 2024, 3, 31, 22, 0, 0 }, 7 * D - H },
	{ "paris month January", "Europe/Paris", &P_MONTH,
	    { 2024, 1, 31, 22, 59, 59 }, { 2023, 12, 31, 23, 0, 0 },
	    { 2024, 1, 31, 23, 0, 0 }, 31 * D },
	{ "paris month leap February", "Europe/Paris", &P_MONTH,
	    { 2024, 1, 31, 23, 0, 0 }, { 2024, 1, 31, 23, 0, 0 },
	    { 2024, 2, 29, 23, 0, 0 }, 29 * D },
	{ "paris month February 2023", "Europe/Paris", &P_MONTH,
	    { 2023, 2, 28, 12, 0, 0 }, { 2023, 1, 31, 23, 0, 0 },
	    { 2023, 2, 28, 23, 0, 0 }, 28 * D },
	{ "paris month March (spring forward)", "Europe/Paris", &P_MONTH,
	    { 2024, 3, 15, 0, 0, 0 }, { 2024, 2, 29, 23, 0, 0 },
	    { 2024, 3, 31, 22, 0, 0 }, 31 * D - H },
	{ "paris month April (30 d)", "Europe/Paris", &P_MONTH,
	    { 2024, 4, 30, 21, 59, 59 }, { 2024, 3, 31, 22, 0, 0 },
	    { 2024, 4, 30, 22, 0, 0 }, 30 * D },
	{ "paris month December to January", "Europe/Paris", &P_MONTH,
	    { 2024, 12, 31, 22, 59, 59 }, { 2024, 11, 30, 23, 0, 0 },
	    { 2024, 12, 31, 23, 0, 0 }, 31 * D },
	{ "paris leap day", "Europe/Paris", &P_DAY,
	    { 2024, 2, 29, 12, 0, 0 }, { 2024, 2, 28, 23, 0, 0 },
	    { 2024, 2, 29, 23, 0, 0 }, 24 * H },

	/* America/New_York: EST -5, EDT -4; 2024 changes 10 Mar, 3 Nov. */
	{ "new york day spring forward (23 h)", "America/New_York", &P_DAY,
	    { 2024, 3, 10, 12, 0, 0 }, { 2024, 3, 10, 5, 0, 0 },
	    { 2024, 3, 11, 4, 0, 0 }, 23 * H },
	{ "new york day fall back (25 h)", "America/New_York", &P_DAY,
	    { 2024, 11, 3, 6, 30, 0 }, { 2024, 11, 3, 4, 0, 0 },
	    { 2024, 11, 4, 5, 0, 0 }, 25 * H },
	{ "new york day before spring forward", "America/New_York",
	    &P_DAY, { 2024, 3, 10, 4, 59, 59 }, { 2024, 3, 9, 5, 0, 0 },
	    { 2024, 3, 10, 5, 0, 0 }, 24 * H },
	{ "new york day at year end", "America/New_York", &P_DAY,
	    { 2025, 1, 1, 4, 59, 59 }, { 2024, 12, 31, 5, 0, 0 },
	    { 2025, 1, 1, 5, 0, 0 }, 24 * H },
	{ "new york week over a year end", "America/New_York", &P_WEEK,
	    { 2026, 1, 1, 0, 0, 0 }, { 2025, 12, 29, 5, 0, 0 },
	    { 2026, 1, 5, 5, 0, 0 }, 7 * D },
	{ "new york week with fall back", "America/New_York", &P_WEEK,
	    { 2024, 11, 3, 12, 0, 0 }, { 2024, 10, 28, 4, 0, 0 },
	    { 2024, 11, 4, 5, 0, 0 }, 7 * D + H },
	{ "new york month leap February", "America/New_York", &P_MONTH,
	    { 2024, 2, 29, 12, 0, 0 }, { 2024, 2, 1, 5, 0, 0 },
	    { 2024, 3, 1, 5, 0, 0 }, 29 * D },
	{ "new york month March (spring forward)", "America/New_York",
	    &P_MONTH, { 2024, 3, 10, 12, 0, 0 }, { 2024, 3, 1, 5, 0, 0 },
	    { 2024, 4, 1, 4, 0, 0 }, 31 * D - H },
	{ "new york month November (fall back)", "America/New_York",
	    &P_MONTH, { 2024, 11, 30, 12, 0, 0 }, { 2024, 11, 1, 4, 0, 0 },
	    { 2024, 12, 1, 5, 0, 0 }, 30 * D + H },
	{ "new york month December", "America/New_York", &P_MONTH,
	    { 2025, 1, 1, 4, 59, 59 }, { 2024, 12, 1, 5, 0, 0 },
	    { 2025, 1, 1, 5, 0, 0 }, 31 * D },

	/* America/Havana: 12 Mar 2023 00:00 CST jumps to 01:00 CDT (no
	 * midnight); 5 Nov 2023 01:00 CDT goes back to 00:00 CST (two). */
	{ "havana day before the missing midnight", "America/Havana",
	    &P_DAY, { 2023, 3, 12, 4, 59, 59 }, { 2023, 3, 11, 5, 0, 0 },
	    { 2023, 3, 12, 5, 0, 0 }, 24 * H },
	{ "havana day of the missing midnight", "America/Havana", &P_DAY,
	    { 2023, 3, 12, 5, 0, 0 }, { 2023, 3, 12, 5, 0, 0 },
	    { 2023, 3, 13, 4, 0, 0 }, 23 * H },
	{ "havana week of the missing midnight", "America/Havana",
	    &P_WEEK, { 2023, 3, 12, 5, 0, 0 }, { 2023, 3, 6, 5, 0, 0 },
	    { 2023, 3, 13, 4, 0, 0 }, 7 * D - H },
	{ "havana day of the double midnight: first", "America/Havana",
	    &P_DAY, { 2023, 11, 5, 4, 0, 0 }, { 2023, 11, 5, 4, 0, 0 },
	    { 2023, 11, 6, 5, 0, 0 }, 25 * H },
	{ "havana day of the double midnight: second", "America/Havana",
	    &P_DAY, { 2023, 11, 5, 5, 0, 0 }, { 2023, 11, 5, 4, 0, 0 },
	    { 2023, 11, 6, 5, 0, 0 }, 25 * H },
	{ "havana day before the double midnight", "America/Havana",
	    &P_DAY, { 2023, 11, 5, 3, 59, 59 }, { 2023, 11, 4, 4, 0, 0 },
	    { 2023, 11, 5, 4, 0, 0 }, 24 * H },

	/* America/Santiago: 11 Sep 2022 00:00 -04 jumps to 01:00 -03;
	 * 3 Apr 2022 24:00 -03 goes back to 23:00 -04 (a 25 h 2 April). */
	{ "santiago day of the missing midnight", "America/Santiago",
	    &P_DAY, { 2022, 9, 11, 12, 0, 0 }, { 2022, 9, 11, 4, 0, 0 },
	    { 2022, 9, 12, 3, 0, 0 }, 23 * H },
	{ "santiago day with a repeated 23:00", "America/Santiago",
	    &P_DAY, { 2022, 4, 3, 3, 30, 0 }, { 2022, 4, 2, 3, 0, 0 },
	    { 2022, 4, 3, 4, 0, 0 }, 25 * H },
	{ "santiago month September 2022", "America/Santiago", &P_MONTH,
	    { 2022, 9, 11, 4, 0, 0 }, { 2022, 9, 1, 4, 0, 0 },
	    { 2022, 10, 1, 3, 0, 0 }, 30 * D - H },

	/* Pacific/Apia skipped Friday 30 Dec 2011 (-10 to +14). */
	{ "apia day before the skipped day", "Pacific/Apia", &P_DAY,
	    { 2011, 12, 30, 9, 59, 59 }, { 2011, 12, 29, 10, 0, 0 },
	    { 2011, 12, 30, 10, 0, 0 }, 24 * H },
	{ "apia day after the skipped day", "Pacific/Apia", &P_DAY,
	    { 2011, 12, 30, 10, 0, 0 }, { 2011, 12, 30, 10, 0, 0 },
	    { 2011, 12, 31, 10, 0, 0 }, 24 * H },
	{ "apia week of six days", "Pacific/Apia", &P_WEEK,
	    { 2011, 12, 30, 10, 0, 0 }, { 2011, 12, 26, 10, 0, 0 },
	    { 2012, 1, 1, 10, 0, 0 }, 6 * D },

	/* UTC: calendar days are the epoch's days; weeks start Monday
	 * 5 Jan 1970; before the epoch too. */
	{ "utc day before the epoch", "UTC0", &P_DAY,
	    { 1969, 12, 31, 23, 59, 59 }, { 1969, 12, 31, 0, 0, 0 },
	    { 1970, 1, 1, 0, 0, 0 }, 24 * H },
	{ "utc week of the epoch", "UTC0", &P_WEEK, { 1970, 1, 1, 0, 0, 0 },
	    { 1969, 12, 29, 0, 0, 0 }, { 1970, 1, 5, 0, 0, 0 }, 7 * D },
	{ "utc month of 1900 (not leap)", "UTC0", &P_MONTH,
	    { 1900, 2, 28, 0, 0, 0 }, { 1900, 2, 1, 0, 0, 0 },
	    { 1900, 3, 1, 0, 0, 0 }, 28 * D },
	{ "utc month of 2000 (leap)", "UTC0", &P_MONTH,
	    { 2000, 2, 29, 0, 0, 0 }, { 2000, 2, 1, 0, 0, 0 },
	    { 2000, 3, 1, 0, 0, 0 }, 29 * D },
};

static void
test_calendar(void)
{
	char name[160];
	size_t i;

	for (i = 0; i < sizeof(cal_cases) / sizeof(cal_cases[0]); i++) {
		const struct cal_case *c = &cal_cases[i];
		int64_t s = utc(c->start), e = utc(c->end);

		if (use_zone(c->tz) == -1)
			continue;
		check_window(c->p, utc(c->now), s, e, c->name);
		check_bounds(c->p, s, e, c->name);
		snprintf(name, sizeof(name), "%s: length", c->name);
		T_EQ_INT(e - s, c->len, name);
	}
}

/* The window holding 02:30 on a spring-forward day, a local time that
 * does not exist: wherever mktime() puts it, it is in that day. */
static void
test_missing_local_time(void)
{
	static const struct {
		const char	*tz;
		int		 day[3], start[6], end[6];
	} cases[] = {
		{ "Europe/Paris", { 2024, 3, 31 }, { 2024, 3, 30, 23, 0, 0 },
		    { 2024, 3, 31, 22, 0, 0 } },
		{ "America/New_York", { 2024, 3, 10 },
		    { 2024, 3, 10, 5, 0, 0 }, { 2024, 3, 11, 4, 0, 0 } },
	};
	struct pol_period hour = { POL_PERIOD_SECONDS, 3600 };
	char name[128];
	int64_t s, e;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct tm tm;
		int64_t t;

		if (use_zone(cases[i].tz) == -1)
			continue;
		memset(&tm, 0, sizeof(tm));
		tm.tm_year = cases[i].day[0] - 1900;
		tm.tm_mon = cases[i].day[1] - 1;
		tm.tm_mday = cases[i].day[2];
		tm.tm_hour = 2;
		tm.tm_min = 30;
		tm.tm_isdst = -1;
		t = (int64_t)mktime(&tm);
		snprintf(name, sizeof(name), "%s: the day holding 02:30",
		    cases[i].tz);
		check_window(&P_DAY, t, utc(cases[i].start), utc(cases[i].end),
		    name);
		pol_window_at(&hour, t, &s, &e);
		snprintf(name, sizeof(name), "%s: the hour holding 02:30",
		    cases[i].tz);
		T_OK(s <= t && t < e && e - s == 3600 && s % 3600 == 0, name);
	}
}

/* Whether [s, e) is a well-formed window of p: it starts on its first
 * local date (the second before is on an earlier date) and on the right
 * day of the week or month, and it names itself and its successor. */
static const char *
window_fault(const struct pol_period *p, int64_t s, int64_t e)
{
	time_t ts = (time_t)s, tb = (time_t)(s - 1);
	struct tm a, b;
	int64_t s2, e2, ns, ne;

	if (s >= e)
		return "empty";
	localtime_r(&ts, &a);
	localtime_r(&tb, &b);
	if (a.tm_year == b.tm_year && a.tm_yday == b.tm_yday)
		return "starts inside a local day";
	if (p->kind == POL_PERIOD_WEEK && a.tm_wday != 1)
		return "week not on a Monday";
	if (p->kind == POL_PERIOD_MONTH && a.tm_mday != 1)
		return "month not on the 1st";
	pol_window_at(p, s, &s2, &e2);
	if (s2 != s || e2 != e)
		return "start gives another window";
	pol_window_at(p, e - 1, &s2, &e2);
	if (s2 != s || e2 != e)
		return "end - 1 gives another window";
	pol_window_next(p, s, &ns, &ne);
	pol_window_at(p, e, &s2, &e2);
	if (ns != e || s2 != e || e2 != ne)
		return "next does not follow";
	return NULL;
}

/* Every window met along two years, at odd steps, in each zone. */
static void
test_sweep(void)
{
	static const char *zones[] = { "Europe/Paris", "America/New_York",
	    "America/Havana", "America/Santiago", "Australia/Lord_Howe",
	    "UTC0" };
	static const struct pol_period *ps[] = { &P_DAY, &P_WEEK, &P_MONTH };
	static const char *pn[] = { "day", "week", "month" };
	static const int from[6] = { 2022, 6, 1, 0, 0, 0 };
	static const int to[6] = { 2024, 6, 1, 0, 0, 0 };
	char name[128], got[192];
	size_t z, k;

	for (z = 0; z < sizeof(zones) / sizeof(zones[0]); z++) {
		if (use_zone(zones[z]) == -1)
			continue;
		for (k = 0; k < 3; k++) {
			const char *fault = NULL;
			int64_t t, s = 0, e = 0, last_e = INT64_MIN;
			int n = 0;

			for (t = utc(from); t < utc(to) && !fault;
			    t += 3 * H + 17 * 60 + 11) {
				pol_window_at(ps[k], t, &s, &e);
				if (!(s <= t && t < e))
					fault = "does not hold now";
				else if (e == last_e)
					continue;
				else if (last_e != INT64_MIN && s != last_e)
					fault = "does not follow the last";
				else {
					fault = window_fault(ps[k], s, e);
					n++;
				}
				last_e = e;
			}
			snprintf(name, sizeof(name), "sweep %s %s (%d windows)",
			    zones[z], pn[k], n);
			if (fault) {
				char w[96];

				fmt_window(s, e, w, sizeof(w));
				snprintf(got, sizeof(got), "%s: %s", w, fault);
			}
			t_report(fault == NULL, name, fault ? got : "",
			    "none faulty");
		}
	}
}

/* Beyond the years localtime_r represents: nominal, epoch-aligned, and
 * still start <= now <= end. */
static void
test_calendar_extremes(void)
{
	static const int64_t nows[] = { INT64_MAX, INT64_MIN,
	    INT64_MAX / 2, -(INT64_MAX / 2) };
	static const struct pol_period *ps[] = { &P_DAY, &P_WEEK, &P_MONTH };
	char name[128];
	size_t i, k;

	if (use_zone("Europe/Paris") == -1)
		return;
	for (i = 0; i < sizeof(nows) / sizeof(nows[0]); i++)
		for (k = 0; k < 3; k++) {
			int64_t s, e;

			pol_window_at(ps[k], nows[i], &s, &e);
			snprintf(name, sizeof(name), "calendar %zu at %"
			    PRId64, k, nows[i]);
			T_OK(s <= nows[i] && (nows[i] < e ||
			    (nows[i] == INT64_MAX && e == INT64_MAX)) &&
			    (uint64_t)e - (uint64_t)s <=
			    pol_period_nominal(ps[k]), name);
		}
}

static void
test_sliding(void)
{
	char name[64];
	double v;

	v = pol_sliding_value(8, 1000, 1215, 300);
	snprintf(name, sizeof(name), "%.2f", v);
	T_EQ_STR(name, "2.27", "sliding: 8 x (1 - 215/300)");
	T_OK(fabs(v - 8.0 * 85 / 300) < 1e-9, "sliding: exact value");
	T_OK(pol_sliding_value(8, 1000, 1000, 300) == 8,
	    "sliding: no time elapsed");
	T_OK(pol_sliding_value(8, 1000, 1150, 300) == 4,
	    "sliding: half the period");
	T_OK(pol_sliding_value(8, 1000, 1300, 300) == 0,
	    "sliding: exactly one period");
	T_OK(pol_sliding_value(8, 1000, 1301, 300) == 0,
	    "sliding: past the period");
	T_OK(pol_sliding_value(8, 1000, 500, 300) == 8,
	    "sliding: clock went back");
	T_OK(pol_sliding_value(8, 1000, 1001, 0) == 0,
	    "sliding: period 0 is guarded");
	T_OK(pol_sliding_value(8, 1000, 1000, 0) == 0,
	    "sliding: period 0, no time elapsed");
	T_OK(pol_sliding_value(8, INT64_MIN, INT64_MAX, 300) == 0,
	    "sliding: elapsed beyond int64_t");
	T_OK(pol_sliding_value(8, INT64_MAX, INT64_MIN, 300) == 8,
	    "sliding: clock back across the whole range");
	v = pol_sliding_value(8, INT64_MIN, INT64_MAX, UINT64_MAX);
	T_OK(v >= 0 && v < 1e-6, "sliding: period 2^64-1");
}

static void
test_parse(void)
{
	static const struct {
		const char		*in;
		enum pol_period_kind	 kind;
		uint64_t		 secs;
		const char		*out;
	} ok[] = {
		{ "30s", POL_PERIOD_SECONDS, 30, "30s" },
		{ "5m", POL_PERIOD_SECONDS, 300, "5m" },
		{ "1h", POL_PERIOD_SECONDS, 3600, "1h" },
		{ "2d", POL_PERIOD_SECONDS, 172800, "2d" },
		{ "1w", POL_PERIOD_SECONDS, 604800, "1w" },
		{ "90s", POL_PERIOD_SECONDS, 90, "90s" },
		{ "60s", POL_PERIOD_SECONDS, 60, "1m" },
		{ "3600", POL_PERIOD_SECONDS, 3600, "1h" },
		{ "1", POL_PERIOD_SECONDS, 1, "1s" },
		{ "90m", POL_PERIOD_SECONDS, 5400, "90m" },
		{ "48h", POL_PERIOD_SECONDS, 172800, "2d" },
		{ "14d", POL_PERIOD_SECONDS, 1209600, "2w" },
		{ "366d", POL_PERIOD_SECONDS, 31622400, "366d" },
		{ "52w", POL_PERIOD_SECONDS, 31449600, "52w" },
		{ "1H", POL_PERIOD_SECONDS, 3600, "1h" },
		{ "day", POL_PERIOD_DAY, 0, "day" },
		{ "DAY", POL_PERIOD_DAY, 0, "day" },
		{ "Week", POL_PERIOD_WEEK, 0, "week" },
		{ "month", POL_PERIOD_MONTH, 0, "month" },
		{ "MONTH", POL_PERIOD_MONTH, 0, "month" },
	};
	static const char *bad[] = { "", "0s", "0", "367d", "53w",
	    "31622401", "1y", "-1h", "+1h", " 1h", "1h ", "1.5h", "1hh",
	    "h", "days", "monthly", "mon", "1 h",
	    "99999999999999999999s", "9999999999999999999w" };
	char name[96], buf[32];
	size_t i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct pol_period p, q;
		const char *err = NULL;
		int r;

		memset(&p, 0xa5, sizeof(p));
		r = pol_period_parse(ok[i].in, &p, &err);
		snprintf(name, sizeof(name), "parse \"%s\"", ok[i].in);
		T_OK(r == 0 && p.kind == ok[i].kind && (p.kind !=
		    POL_PERIOD_SECONDS || p.secs == ok[i].secs), name);
		pol_period_format(&p, buf, sizeof(buf));
		snprintf(name, sizeof(name), "format \"%s\"", ok[i].in);
		T_EQ_STR(buf, ok[i].out, name);
		r = pol_period_parse(buf, &q, &err);
		snprintf(name, sizeof(name), "round trip \"%s\"", ok[i].in);
		T_OK(r == 0 && q.kind == p.kind && (p.kind !=
		    POL_PERIOD_SECONDS || q.secs == p.secs), name);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct pol_period p;
		const char *err = NULL;
		int r;

		r = pol_period_parse(bad[i], &p, &err);
		snprintf(name, sizeof(name), "refuse \"%s\"", bad[i]);
		T_OK(r == -1 && err != NULL && *err != '\0', name);
	}
}

static void
test_format_nominal(void)
{
	struct pol_period s0 = { POL_PERIOD_SECONDS, 0 };
	struct pol_period s61 = { POL_PERIOD_SECONDS, 61 };
	char buf[8];

	pol_period_format(&s0, buf, sizeof(buf));
	T_EQ_STR(buf, "0s", "format 0 seconds");
	pol_period_format(&s61, buf, sizeof(buf));
	T_EQ_STR(buf, "61s", "format 61 seconds");
	pol_period_format(&P_MONTH, buf, 3);
	T_EQ_STR(buf, "mo", "format truncates to the buffer");
	T_EQ_INT(pol_period_nominal(&s61), 61, "nominal seconds");
	T_EQ_INT(pol_period_nominal(&P_DAY), 86400, "nominal day");
	T_EQ_INT(pol_period_nominal(&P_WEEK), 604800, "nominal week");
	T_EQ_INT(pol_period_nominal(&P_MONTH), 2592000, "nominal month");
}

int
main(void)
{
	test_seconds();
	test_seconds_extremes();
	test_calendar();
	test_missing_local_time();
	test_sweep();
	test_calendar_extremes();
	test_sliding();
	test_parse();
	test_format_nominal();
	return t_done();
}
