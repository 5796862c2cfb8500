/*
 * accounting: the model of accountings as conf/ builds it, the checks
 * pol_accts_resolve() runs on it, and the calendar period keys
 * (accounting.h).  accounting_eval.c has the counters and the decision.
 *
 * A period key names a window of window.c's calendar periods by the
 * local date of its first instant: a day's date, the ISO 8601 week and
 * week-numbering year of its Monday (strftime's %G-W%V: 2027-01-01 is in
 * 2026-W53, where cbpolicyd's %Y/%V splits that week in two), a month.
 * Parsing a key goes the other way, through local noon of a day inside,
 * and keeps it only if the period found has that very key (mktime(3)
 * carries 2026-02-30 into March without a word).
 *
 * Ownership: accts owns its accountings and their strings; it points
 * into the policy set's policies.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "../lib/strutil.h"
#include "../lib/xalloc.h"
#include "accounting.h"
#include "policy_priv.h"

struct pol_accts *
pol_accts_new(void)
{
	return xcalloc(1, sizeof(struct pol_accts));
}

void
pol_accts_free(struct pol_accts **asp)
{
	struct pol_accts *as = *asp;
	size_t i;

	if (as == NULL)
		return;
	for (i = 0; i < as->nacct; i++) {
		free(as->accts[i]->name);
		free(as->accts[i]->ident);
		free(as->accts[i]->reply);
		free(as->accts[i]);
	}
	free(as->accts);
	free(as->span);
	free(as);
	*asp = NULL;
}

struct pol_acct *
pol_acct_add(struct pol_accts *as, struct pol_policy *p, const char *name,
    int line, char *err, size_t errsz)
{
	struct pol_acct *a;
	size_t i;

	if (!pol_name_is_valid(name)) {
		pol_fail(err, errsz, "\"%s\": an accounting name has only "
		    "letters, digits, '-', '_' and '.'", name);
		return NULL;
	}
	for (i = 0; i < as->nacct; i++)
		if (as->accts[i]->policy == p &&
		    strcasecmp(as->accts[i]->name, name) == 0) {
			pol_fail(err, errsz, "accounting \"%s\" is already "
			    "defined in policy %s at line %d", name, p->name,
			    as->accts[i]->line);
			return NULL;
		}
	a = xcalloc(1, sizeof(*a));
	a->name = xstrdup(name);
	a->ident = xasprintf("%s/%s", p->name, name);
	str_lower(a->ident);
	a->policy = p;
	a->line = line;
	a->v4_prefix = 32;
	a->v6_prefix = 64;
	a->keep = POL_ACCT_KEEP_DEFAULT;
	as->accts = xreallocarray(as->accts, as->nacct + 1,
	    sizeof(*as->accts));
	as->accts[as->nacct++] = a;
	as->resolved = false;
	return a;
}

int
pol_acct_set_track(struct pol_acct *a, const char *text, int line,
    char *err, size_t errsz)
{
	struct pol_quota q;	/* the quota's reader: same spellings, hints */

	if (a->has_track)
		return pol_fail(err, errsz, "a second track (the accounting "
		    "tracks %s already)", pol_track_name(a->track));
	memset(&q, 0, sizeof(q));
	if (pol_quota_set_track(&q, text, line, err, errsz) == -1)
		return -1;
	a->track = q.track;
	a->v4_prefix = q.v4_prefix;
	a->has_track = true;
	return 0;
}

int
pol_acct_set_period(struct pol_acct *a, const struct pol_period *p, int line,
    char *err, size_t errsz)
{
	if (a->has_period)
		return pol_fail(err, errsz, "a second period (the first at "
		    "line %d)", a->period_line);
	a->period = *p;
	a->has_period = true;
	a->period_line = line;
	return 0;
}

const struct pol_limit *
pol_acct_limit(const struct pol_acct *a, enum pol_unit u)
{
	size_t i;

	for (i = 0; i < a->nlimit; i++)
		if (a->limits[i].unit == u)
			return &a->limits[i];
	return NULL;
}

int
pol_acct_add_limit(struct pol_acct *a, enum pol_unit u, uint64_t n, int line,
    char *err, size_t errsz)
{
	const struct pol_limit *l;

	if ((size_t)u >= POL_NUNIT)
		return pol_fail(err, errsz, "not a unit of a limit (messages, "
		    "recipients or size)");
	if ((l = pol_acct_limit(a, u)) != NULL)
		return pol_fail(err, errsz, "a second limit of %s (the first "
		    "at line %d)", pol_unit_name(u), l->line);
	a->limits[a->nlimit].unit = u;
	a->limits[a->nlimit].n = n;
	a->limits[a->nlimit].line = line;
	a->nlimit++;
	return 0;
}

int
pol_acct_set_verdict(struct pol_acct *a, enum pol_verdict v,
    const char *reply, int line, char *err, size_t errsz)
{
	if (a->verdict_line != 0)
		return pol_fail(err, errsz, "a second verdict (the first at "
		    "line %d)", a->verdict_line);
	if (v == POL_V_DEFER)
		return pol_fail(err, errsz, "verdict defer: an accounting "
		    "does not defer (it counts what is accepted); to queue "
		    "mail until there is room, use a quota with verdict "
		    "defer");
	if (v == POL_V_NONE || v == POL_V_OK)
		return pol_fail(err, errsz, "verdict: \"%s\" is not a verdict "
		    "of an accounting (reject, tempfail, hold, discard or "
		    "pass)", pol_verdict_name(v));
	if (reply != NULL && pol_reply_check(v, reply, "verdict reply", err,
	    errsz) == -1)
		return -1;
	a->verdict = v;
	a->reply = reply != NULL ? xstrdup(reply) : NULL;
	a->verdict_line = line;
	return 0;
}

int
pol_acct_set_keep(struct pol_acct *a, uint64_t n, int line, char *err,
    size_t errsz)
{
	if (a->keep_line != 0)
		return pol_fail(err, errsz, "a second keep (the first at line "
		    "%d)", a->keep_line);
	if (n > POL_ACCT_KEEP_MAX)
		return pol_fail(err, errsz, "keep %llu: at most %d previous "
		    "periods", (unsigned long long)n, POL_ACCT_KEEP_MAX);
	a->keep = (unsigned)n;
	a->keep_line = line;
	return 0;
}

/* Reports one error of a, "policy P: accounting A: " in front; 1. */
static int	acct_error(const struct pol_acct *, pol_error_fn *, void *, int,
		    const char *, ...) __attribute__((format(printf, 5, 6)));

static int
acct_error(const struct pol_acct *a, pol_error_fn *errfn, void *arg, int line,
    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	pol_verror(errfn, arg, line, "accounting", a->policy->name, a->name,
	    fmt, ap);
	va_end(ap);
	return 1;
}

static int
acct_check(const struct pol_acct *a, pol_error_fn *errfn, void *arg)
{
	char text[32];
	int nerr = 0;

	if (!a->has_track)
		nerr += acct_error(a, errfn, arg, a->line, "no track: write "
		    "what it counts per, as for a quota (track "
		    "Sender:user@domain, Sender:@domain, SASLUsername, ...)");
	if (!a->has_period)
		nerr += acct_error(a, errfn, arg, a->line, "no period: write "
		    "period day, week or month");
	else if (a->period.kind == POL_PERIOD_SECONDS) {
		pol_period_format(&a->period, text, sizeof(text));
		nerr += acct_error(a, errfn, arg, a->period_line, "period %s: "
		    "an accounting counts per calendar period: write day, "
		    "week or month (to limit mail over a duration, use a "
		    "quota)", text);
	}
	if (a->nlimit > 0 && a->verdict == POL_V_NONE)
		nerr += acct_error(a, errfn, arg, a->limits[0].line, "a limit "
		    "without a verdict: write verdict reject, tempfail, hold, "
		    "discard or pass (pass only logs)");
	if (a->nlimit == 0 && a->verdict != POL_V_NONE)
		nerr += acct_error(a, errfn, arg, a->verdict_line, "verdict %s "
		    "without a limit: nothing can exceed; write limit "
		    "messages N, limit recipients N or limit size N, or leave "
		    "the verdict out", pol_verdict_name(a->verdict));
	if (a->v6_line != 0 && a->has_track &&
	    a->track != POL_TRACK_SENDER_IP)
		nerr += acct_error(a, errfn, arg, a->v6_line, "ipv6-prefix is "
		    "for track SenderIP only (this accounting tracks %s)",
		    pol_track_name(a->track));
	if (a->v6_prefix < 1 || a->v6_prefix > 128)
		nerr += acct_error(a, errfn, arg, a->v6_line ? a->v6_line :
		    a->line, "ipv6-prefix %u: write 1 to 128", a->v6_prefix);
	return nerr;
}

/* Orders the accountings as the decision walks them: by their policy's
 * place in set (priority), then as written; span[2i], span[2i + 1] are
 * the bounds of the policy of index i. */
static int
order(struct pol_accts *as, const struct pol_set *set, pol_error_fn *errfn,
    void *arg)
{
	struct pol_acct **sorted;
	size_t i, j, n = 0, idx;
	int nerr = 0;

	sorted = xcalloc(as->nacct + 1, sizeof(*sorted));
	free(as->span);
	as->span = xcalloc(2 * set->npolicy + 2, sizeof(*as->span));
	for (i = 0; i < set->npolicy; i++) {
		idx = set->policies[i]->index;
		as->span[2 * idx] = n;
		for (j = 0; j < as->nacct; j++)
			if (as->accts[j]->policy == set->policies[i])
				sorted[n++] = as->accts[j];
		as->span[2 * idx + 1] = n;
	}
	for (j = 0; j < as->nacct && n < as->nacct; j++) {
		for (i = 0; i < n && sorted[i] != as->accts[j]; i++)
			;
		if (i == n)
			nerr += acct_error(as->accts[j], errfn, arg,
			    as->accts[j]->line, "its policy is not in the "
			    "policy set");
	}
	if (nerr == 0 && n > 0)
		memcpy(as->accts, sorted, n * sizeof(*sorted));
	free(sorted);
	return nerr;
}

int
pol_accts_resolve(struct pol_accts *as, const struct pol_set *set,
    pol_error_fn *errfn, void *arg)
{
	int nerr = 0;
	size_t i;

	as->resolved = false;
	if (set == NULL || !set->resolved) {
		if (errfn != NULL)
			errfn(arg, 0, "accounting: the policy set is not "
			    "resolved");
		return 1;
	}
	for (i = 0; i < as->nacct; i++)
		nerr += acct_check(as->accts[i], errfn, arg);
	nerr += order(as, set, errfn, arg);
	as->set = set;
	as->npolicy = set->npolicy;
	as->resolved = nerr == 0;
	return nerr;
}

/* The key of the period of kind starting at start. */
static void
key_of(enum pol_period_kind kind, int64_t start, char *buf, size_t bufsz)
{
	time_t tt = (time_t)start;
	struct tm tm;
	size_t n = 0;

	if ((int64_t)tt == start && localtime_r(&tt, &tm) != NULL) {
		if (kind == POL_PERIOD_DAY)
			n = strftime(buf, bufsz, "%Y-%m-%d", &tm);
		else if (kind == POL_PERIOD_WEEK)	/* ISO 8601 year */
			n = strftime(buf, bufsz, "%G-W%V", &tm);
		else if (kind == POL_PERIOD_MONTH)
			n = strftime(buf, bufsz, "%Y-%m", &tm);
	}
	if (n == 0)
		snprintf(buf, bufsz, "@%lld", (long long)start);
}

void
pol_acct_period_at(const struct pol_period *p, int64_t now, char *buf,
    size_t bufsz, int64_t *start, int64_t *end)
{
	pol_window_at(p, now, start, end);
	key_of(p->kind, *start, buf, bufsz);
}

/* Local noon of y-m-d (d may run past the month: mktime(3) carries it),
 * and that day's weekday from Monday = 0.  -1 when mktime cannot. */
static int
noon(long y, int m, int d, int64_t *t, int *mon0)
{
	struct tm tm;
	time_t tt;

	if (y < 1 || y > 999999)
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = (int)(y - 1900);
	tm.tm_mon = m - 1;
	tm.tm_mday = d;
	tm.tm_hour = 12;
	tm.tm_isdst = -1;
	tm.tm_wday = -1;	/* stays -1 if mktime() fails */
	tt = mktime(&tm);
	if (tm.tm_wday == -1)
		return -1;
	*t = (int64_t)tt;
	*mon0 = (tm.tm_wday + 6) % 7;
	return 0;
}

/* Two digits at s into *v. */
static bool
two_digits(const char *s, int *v)
{
	if (!isdigit((unsigned char)s[0]) || !isdigit((unsigned char)s[1]))
		return false;
	*v = (s[0] - '0') * 10 + (s[1] - '0');
	return true;
}

int
pol_acct_period_parse(const char *key, struct pol_period *p, int64_t *start,
    int64_t *end, const char **errstr)
{
	char again[POL_ACCT_PERIOD_MAX], *rest;
	int a = 0, b = 1, mon0, ok;
	int64_t t;
	long y;

	*errstr = "not a period key (2026-11-24, 2026-W48 or 2026-11)";
	if (!isdigit((unsigned char)key[0]))
		return -1;
	errno = 0;
	y = strtol(key, &rest, 10);
	if (errno != 0 || rest - key > 6 || *rest++ != '-')
		return -1;
	memset(p, 0, sizeof(*p));
	if (*rest == 'W') {
		p->kind = POL_PERIOD_WEEK;
		ok = two_digits(rest + 1, &a) && rest[3] == '\0' &&
		    noon(y, 1, 4, &t, &mon0) == 0 &&	/* 4 Jan: week 1 */
		    noon(y, 1, 4 - mon0 + 7 * (a - 1), &t, &mon0) == 0;
	} else if (two_digits(rest, &a) && rest[2] == '-') {
		p->kind = POL_PERIOD_DAY;
		ok = two_digits(rest + 3, &b) && rest[5] == '\0' &&
		    noon(y, a, b, &t, &mon0) == 0;
	} else {
		p->kind = POL_PERIOD_MONTH;
		ok = two_digits(rest, &a) && rest[2] == '\0' &&
		    noon(y, a, 15, &t, &mon0) == 0;
	}
	if (!ok)
		return -1;
	/* mktime carries 2026-02-30 into March, W54 into the next year:
	 * the key of the period found must be the one given */
	pol_acct_period_at(p, t, again, sizeof(again), start, end);
	if (strcmp(again, key) != 0) {
		*errstr = "no such period (a day, week or month that the "
		    "calendar does not have)";
		return -1;
	}
	return 0;
}

