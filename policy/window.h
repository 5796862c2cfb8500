/*
 * window: the time arithmetic of quotas (DESIGN.md, "Quotas"), pure
 * functions of `now`.
 *
 * Fixed windows.  A period in seconds gives windows aligned to the Unix
 * epoch: [k*p, (k+1)*p).  Calendar periods (`period day|week|month`)
 * align to local midnight, Monday 00:00 (ISO 8601 weeks) and the 1st at
 * 00:00, in the process's time zone (the TZ environment variable as
 * tzset(3) reads it; sluiced sets it once at start-up), so a day across a
 * DST change lasts 23 or 25 hours and a month lasts its own length.  A
 * local midnight that does not exist (a DST jump at 00:00) starts the
 * window at the first instant that does; one that occurs twice (a clock
 * set back from 01:00 to 00:00) starts it at the first.  Beyond the years
 * localtime_r(3) represents, calendar periods fall back to epoch-aligned
 * windows of their nominal length.  A window that would reach past the
 * int64_t range is clipped to it (so at now = INT64_MAX, end == now).
 *
 * Sliding windows: cbpolicyd's proportional decay (reference/cbpolicyd.md
 * 2.4), for imported configurations: a counter C last updated at t is
 * worth C * (1 - (now - t) / period) at now, 0 once the period has
 * passed, C when the clock went back.  Its documented example:
 * 8 * (1 - 215/300) = 2.27.
 */
#ifndef SLUICE_WINDOW_H
#define SLUICE_WINDOW_H

#include <stddef.h>
#include <stdint.h>

enum pol_period_kind {
	POL_PERIOD_SECONDS,
	POL_PERIOD_DAY,
	POL_PERIOD_WEEK,
	POL_PERIOD_MONTH
};

struct pol_period {
	enum pol_period_kind	 kind;
	uint64_t		 secs;	/* POL_PERIOD_SECONDS: 1 and more (0 is
					   taken as 1); else 0 */
};

/* The fixed window holding now: *start <= now < *end (but for the
 * clipping at INT64_MAX said above). */
void	pol_window_at(const struct pol_period *, int64_t now, int64_t *start,
	    int64_t *end);
/* The window after the one holding start (its start is the end of that
 * one). */
void	pol_window_next(const struct pol_period *, int64_t start,
	    int64_t *next_start, int64_t *next_end);
/* Nominal length in seconds, for display and `release smooth`: secs, or
 * 86400, 604800, 30 * 86400. */
uint64_t pol_period_nominal(const struct pol_period *);
/* Parses "30s", "5m", "1h", "2d", "1w" or a bare number of seconds (1 s
 * to 366 d; lib/strutil's str_to_duration), or "day", "week", "month" in
 * any case.  0, or -1 with *errstr (a static message). */
int	pol_period_parse(const char *, struct pol_period *,
	    const char **errstr);
/* Writes the period in the largest exact unit (3600 -> "1h", 90 ->
 * "90s", "day"), which pol_period_parse reads back; truncates to bufsz. */
void	pol_period_format(const struct pol_period *, char *buf, size_t bufsz);

/* cbpolicyd's decay of a sliding counter: counter * (1 - elapsed /
 * period), 0 when elapsed > period, counter when now <= last_update, and
 * 0 for a period of 0 (which cbpolicyd divides by and the parser
 * refuses). */
double	pol_sliding_value(double counter, int64_t last_update, int64_t now,
	    uint64_t period_secs);

#endif
