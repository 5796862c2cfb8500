/*
 * window: the time arithmetic of quotas (window.h).  Pure functions of
 * their arguments and of the process's time zone.
 *
 * Seconds periods are computed on 64-bit integers with no signed
 * overflow: a window that reaches past the int64_t range is clipped to
 * it (start saturates at INT64_MIN, end at INT64_MAX).
 *
 * Calendar periods work on local dates.  The window of a date D starts at
 * the first instant whose local date is D or later; usually that is
 * mktime()'s answer for D 00:00 with tm_isdst = -1, but mktime() may land
 * after a midnight that a DST change made occur twice, or anywhere near a
 * midnight that a jump skipped, so its answer is only kept when the
 * second before it is still on an earlier date; otherwise a bisection
 * over a few days around it finds the instant.  The bisection assumes
 * local dates only move forward, as every zone's clock changes have so
 * far (setting clocks back ends at or after midnight, not before it); if
 * one did not, calendar_window() still returns a window holding now.
 * Outside the years localtime_r() can represent, a calendar period falls
 * back to epoch-aligned windows of its nominal length.
 */
#include <ctype.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "lib/strutil.h"
#include "window.h"

#define DAY_SECS	86400
#define WEEK_SECS	(7 * DAY_SECS)
#define MONTH_SECS	(30 * DAY_SECS)
#define MAX_SECS	((uint64_t)366 * DAY_SECS)
#define SIGN_BIT	((uint64_t)1 << 63)

/* A local calendar date; y is the full year. */
struct ymd {
	int64_t	y;
	int	m;	/* 1..12 */
	int	d;	/* 1..31 */
};

/* int64_t <-> "offset binary": an order-preserving map onto uint64_t,
 * so that saturating arithmetic can be done without signed overflow. */
static uint64_t
to_off(int64_t x)
{
	return (uint64_t)x ^ SIGN_BIT;
}

static int64_t
from_off(uint64_t u)
{
	if (u >= SIGN_BIT)
		return (int64_t)(u - SIGN_BIT);
	return -(int64_t)(SIGN_BIT - 1 - u) - 1;
}

/* The epoch-aligned window [k*p, (k+1)*p) holding now, clipped to the
 * int64_t range. */
static void
seconds_window(uint64_t p, int64_t now, int64_t *start, int64_t *end)
{
	uint64_t n = to_off(now), r, up;

	if (p == 0)
		p = 1;
	if (now >= 0)
		r = (uint64_t)now % p;
	else {
		r = (0 - (uint64_t)now) % p;	/* |now| mod p */
		r = r ? p - r : 0;
	}
	*start = r > n ? INT64_MIN : from_off(n - r);
	up = p - r;				/* >= 1 */
	*end = up > UINT64_MAX - n ? INT64_MAX : from_off(n + up);
}

static bool
is_leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int
month_days(int64_t y, int m)
{
	static const int days[] = {
		31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31
	};

	return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

static int
ymd_cmp(struct ymd a, struct ymd b)
{
	if (a.y != b.y)
		return a.y < b.y ? -1 : 1;
	if (a.m != b.m)
		return a.m < b.m ? -1 : 1;
	if (a.d != b.d)
		return a.d < b.d ? -1 : 1;
	return 0;
}

/* D + n days, one day at a time: n is at most a week here. */
static struct ymd
ymd_add_days(struct ymd t, int n)
{
	for (; n > 0; n--)
		if (++t.d > month_days(t.y, t.m)) {
			t.d = 1;
			if (++t.m > 12) {
				t.m = 1;
				t.y++;
			}
		}
	for (; n < 0; n++)
		if (--t.d < 1) {
			if (--t.m < 1) {
				t.m = 12;
				t.y--;
			}
			t.d = month_days(t.y, t.m);
		}
	return t;
}

/* The first date of the calendar window after (dir 1) or before (dir -1)
 * the one whose first date is t. */
static struct ymd
window_step(enum pol_period_kind kind, struct ymd t, int dir)
{
	switch (kind) {
	case POL_PERIOD_WEEK:
		return ymd_add_days(t, 7 * dir);
	case POL_PERIOD_MONTH:
		t.m += dir;
		if (t.m > 12) {
			t.m = 1;
			t.y++;
		} else if (t.m < 1) {
			t.m = 12;
			t.y--;
		}
		t.d = 1;
		return t;
	default:
		return ymd_add_days(t, dir);
	}
}

/* The local date of t, and its weekday counted from Monday = 0. */
static int
local_date(int64_t t, struct ymd *out, int *mon0)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if ((int64_t)tt != t || localtime_r(&tt, &tm) == NULL)
		return -1;
	out->y = (int64_t)tm.tm_year + 1900;
	out->m = tm.tm_mon + 1;
	out->d = tm.tm_mday;
	if (mon0)
		*mon0 = (tm.tm_wday + 6) % 7;
	return 0;
}

/* Whether t's local date is D or later: 1, 0, or -1 when t has none. */
static int
on_or_after(int64_t t, struct ymd d)
{
	struct ymd l;

	if (local_date(t, &l, NULL) == -1)
		return -1;
	return ymd_cmp(l, d) >= 0;
}

/* The first instant whose local date is D or later.  0, or -1 when the
 * date is beyond what mktime() and localtime_r() represent. */
static int
date_start(struct ymd d, int64_t *out)
{
	struct tm tm;
	int64_t t0, lo, hi;
	time_t tt;
	int a, b;

	if (d.y - 1900 < INT_MIN || d.y - 1900 > INT_MAX)
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = (int)(d.y - 1900);
	tm.tm_mon = d.m - 1;
	tm.tm_mday = d.d;
	tm.tm_isdst = -1;	/* the zone says whether DST applies */
	tm.tm_wday = -1;	/* stays -1 if mktime() fails */
	tt = mktime(&tm);
	if (tm.tm_wday == -1)
		return -1;
	t0 = (int64_t)tt;
	if ((a = on_or_after(t0, d)) == -1 ||
	    (b = on_or_after(t0 - 1, d)) == -1)
		return -1;
	if (a && !b) {
		*out = t0;
		return 0;
	}
	/* UTC offsets differ by at most about a day: 3 days bracket it. */
	lo = t0 - 3 * DAY_SECS;
	hi = t0 + 3 * DAY_SECS;
	if (on_or_after(lo, d) != 0 || on_or_after(hi, d) != 1)
		return -1;
	while (hi - lo > 1) {
		int64_t mid = lo + (hi - lo) / 2;

		if ((a = on_or_after(mid, d)) == -1)
			return -1;
		if (a)
			hi = mid;
		else
			lo = mid;
	}
	*out = hi;
	return 0;
}

/* The calendar window holding now.  0, or -1 to fall back. */
static int
calendar_window(enum pol_period_kind kind, int64_t now, int64_t *start,
    int64_t *end)
{
	struct ymd d;
	int64_t s, e;
	int mon0, i;

	if (local_date(now, &d, &mon0) == -1)
		return -1;
	if (kind == POL_PERIOD_WEEK)
		d = ymd_add_days(d, -mon0);	/* ISO 8601: from Monday */
	else if (kind == POL_PERIOD_MONTH)
		d.d = 1;
	if (date_start(d, &s) == -1 ||
	    date_start(window_step(kind, d, 1), &e) == -1)
		return -1;
	/* The local date of now names the window; these steps only matter
	 * if the zone's dates ever moved backwards. */
	for (i = 0; i < 4; i++) {
		if (now < s) {
			d = window_step(kind, d, -1);
			e = s;
			if (date_start(d, &s) == -1)
				return -1;
		} else if (now >= e) {
			d = window_step(kind, d, 1);
			s = e;
			if (date_start(window_step(kind, d, 1), &e) == -1)
				return -1;
		} else {
			*start = s;
			*end = e;
			return 0;
		}
	}
	return -1;
}

void
pol_window_at(const struct pol_period *p, int64_t now, int64_t *start,
    int64_t *end)
{
	if (p->kind == POL_PERIOD_SECONDS) {
		seconds_window(p->secs, now, start, end);
		return;
	}
	if (calendar_window(p->kind, now, start, end) == -1)
		seconds_window(pol_period_nominal(p), now, start, end);
}

void
pol_window_next(const struct pol_period *p, int64_t start,
    int64_t *next_start, int64_t *next_end)
{
	int64_t s, e;

	pol_window_at(p, start, &s, &e);
	pol_window_at(p, e, next_start, next_end);
}

uint64_t
pol_period_nominal(const struct pol_period *p)
{
	switch (p->kind) {
	case POL_PERIOD_DAY:
		return DAY_SECS;
	case POL_PERIOD_WEEK:
		return WEEK_SECS;
	case POL_PERIOD_MONTH:
		return MONTH_SECS;
	default:
		return p->secs;
	}
}

static const struct {
	const char		*name;
	enum pol_period_kind	 kind;
} calendar[] = {
	{ "day", POL_PERIOD_DAY },
	{ "week", POL_PERIOD_WEEK },
	{ "month", POL_PERIOD_MONTH },
};

int
pol_period_parse(const char *s, struct pol_period *out, const char **errstr)
{
	const size_t ncal = sizeof(calendar) / sizeof(calendar[0]);
	uint64_t v;
	size_t i;

	if (s == NULL || !isdigit((unsigned char)*s)) {
		for (i = 0; s != NULL && i < ncal; i++)
			if (strcasecmp(s, calendar[i].name) == 0) {
				out->kind = calendar[i].kind;
				out->secs = 0;
				return 0;
			}
		*errstr = "bad period (use a duration such as 30s, 5m, 1h, "
		    "2d, 1w, or day, week or month)";
		return -1;
	}
	if (str_to_duration(s, 0, UINT64_MAX, &v, errstr) == -1)
		return -1;
	if (v == 0) {
		*errstr = "period too short (at least 1s)";
		return -1;
	}
	if (v > MAX_SECS) {
		*errstr = "period too long (at most 366d)";
		return -1;
	}
	out->kind = POL_PERIOD_SECONDS;
	out->secs = v;
	return 0;
}

void
pol_period_format(const struct pol_period *p, char *buf, size_t bufsz)
{
	static const struct {
		uint64_t	secs;
		char		unit;
	} units[] = {
		{ WEEK_SECS, 'w' }, { DAY_SECS, 'd' }, { 3600, 'h' },
		{ 60, 'm' }, { 1, 's' },
	};
	size_t i;

	for (i = 0; i < sizeof(calendar) / sizeof(calendar[0]); i++)
		if (p->kind == calendar[i].kind) {
			str_copy(buf, calendar[i].name, bufsz);
			return;
		}
	for (i = 0; i < sizeof(units) / sizeof(units[0]) - 1; i++)
		if (p->secs != 0 && p->secs % units[i].secs == 0)
			break;
	snprintf(buf, bufsz, "%llu%c",
	    (unsigned long long)(p->secs / units[i].secs), units[i].unit);
}

double
pol_sliding_value(double counter, int64_t last_update, int64_t now,
    uint64_t period_secs)
{
	uint64_t elapsed;

	if (period_secs == 0)
		return 0;
	if (now <= last_update)
		return counter;
	elapsed = (uint64_t)now - (uint64_t)last_update;
	if (elapsed > period_secs)
		return 0;
	/* cbpolicyd: (1 - elapsed / Period) * Counter, in this order. */
	return (1 - (double)elapsed / (double)period_secs) * counter;
}
