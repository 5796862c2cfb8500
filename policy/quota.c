/*
 * quota: the model of quotas (quota.h has the grammar; DESIGN.md,
 * "Quotas"): a policy's quotas as conf/ builds them, their defaults, and
 * the checks pol_set_resolve() runs on each.
 *
 * Tracks use cbpolicyd's spellings (reference/cbpolicyd.md 2.2), read
 * without regard to case.  cbpolicyd takes a track it does not know, or
 * `Sender` without its spec, and then defers every message the policy
 * matches; here each is an error at load time that lists the tracks and
 * names the closest one.  Everything that cannot work together (a limit
 * of 0 with defer, a sliding window over a calendar period, ipv6-prefix
 * on a track that has no client address) is an error with its line too.
 *
 * Ownership: a policy owns its quotas, a quota its strings; the set's
 * array of every quota (set->quotas) is pol_set_resolve()'s.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../lib/strutil.h"
#include "../lib/xalloc.h"
#include "policy_priv.h"
#include "quota.h"

#define DISTANCE_MAX	64	/* longest word given a suggestion */

static const char *const track_names[] = {
	[POL_TRACK_SENDER] = "Sender:user@domain",
	[POL_TRACK_SENDER_DOMAIN] = "Sender:@domain",
	[POL_TRACK_SENDER_LOCAL] = "Sender:user@",
	[POL_TRACK_SENDER_IP] = "SenderIP",
	[POL_TRACK_RCPT] = "Recipient:user@domain",
	[POL_TRACK_RCPT_DOMAIN] = "Recipient:@domain",
	[POL_TRACK_RCPT_LOCAL] = "Recipient:user@",
	[POL_TRACK_SASL] = "SASLUsername",
	[POL_TRACK_POLICY] = "Policy",
};

#define NTRACK		(sizeof(track_names) / sizeof(track_names[0]))
#define TRACK_LIST	"Sender:user@domain, Sender:@domain, Sender:user@, " \
			"SenderIP, SenderIP:/N, Recipient:user@domain, "     \
			"Recipient:@domain, Recipient:user@, SASLUsername "  \
			"or Policy"

static const char *const unit_names[POL_NUNIT] = {
	[POL_UNIT_MESSAGES] = "messages",
	[POL_UNIT_RECIPIENTS] = "recipients",
	[POL_UNIT_SIZE] = "size",
};

const char *
pol_track_name(enum pol_track t)
{
	return (size_t)t < NTRACK ? track_names[t] : "?";
}

void
pol_track_format(const struct pol_quota *q, char *buf, size_t bufsz)
{
	if (q->track == POL_TRACK_SENDER_IP)
		snprintf(buf, bufsz, "SenderIP:/%u", q->v4_prefix);
	else
		snprintf(buf, bufsz, "%s", pol_track_name(q->track));
}

const char *
pol_unit_name(enum pol_unit u)
{
	return (size_t)u < POL_NUNIT ? unit_names[u] : "?";
}

/* Edit distance without regard to ASCII case (Levenshtein, one row);
 * words longer than DISTANCE_MAX are SIZE_MAX away from everything. */
size_t
pol_distance(const char *a, const char *b)
{
	size_t row[DISTANCE_MAX + 1], la = strlen(a), lb = strlen(b), i, j;
	size_t diag, up;

	if (la > DISTANCE_MAX || lb > DISTANCE_MAX)
		return SIZE_MAX;
	for (j = 0; j <= lb; j++)
		row[j] = j;
	for (i = 1; i <= la; i++) {
		diag = row[0];
		row[0] = i;
		for (j = 1; j <= lb; j++) {
			up = row[j];
			row[j] = diag + (tolower((unsigned char)a[i - 1]) !=
			    tolower((unsigned char)b[j - 1]));
			if (up + 1 < row[j])
				row[j] = up + 1;
			if (row[j - 1] + 1 < row[j])
				row[j] = row[j - 1] + 1;
			diag = up;
		}
	}
	return row[lb];
}

struct pol_quota *
pol_quota_add(struct pol_set *set, struct pol_policy *p, const char *name,
    int line, char *err, size_t errsz)
{
	struct pol_quota *q;
	size_t i;

	if (!pol_name_is_valid(name)) {
		pol_fail(err, errsz, "\"%s\": a quota name has only letters, "
		    "digits, '-', '_' and '.'", name);
		return NULL;
	}
	for (i = 0; i < p->nquota; i++)
		if (strcasecmp(p->quotas[i]->name, name) == 0) {
			pol_fail(err, errsz, "quota \"%s\" is already defined "
			    "in policy %s at line %d", name, p->name,
			    p->quotas[i]->line);
			return NULL;
		}
	q = xcalloc(1, sizeof(*q));
	q->name = xstrdup(name);
	q->ident = xasprintf("%s/%s", p->name, name);
	str_lower(q->ident);
	q->policy = p;
	q->line = line;
	q->v4_prefix = 32;
	q->v6_prefix = 64;
	q->window = POL_WIN_FIXED;
	q->verdict = POL_V_DEFER;
	q->release = POL_RELEASE_BURST;
	q->when_full = POL_V_TEMPFAIL;
	q->max_defer = POL_MAX_DEFER_DEFAULT;
	p->quotas = xreallocarray(p->quotas, p->nquota + 1,
	    sizeof(*p->quotas));
	p->quotas[p->nquota++] = q;
	set->resolved = false;
	return q;
}

/* What a track that is not one probably meant, written into buf: " (did
 * you mean ...?)" and the list of tracks.  cbpolicyd's two common slips
 * get their own words: a method without its spec (`Sender`), and a spec
 * written as an address (`Sender:@example.com`). */
static void
track_hint(const char *t, char *buf, size_t bufsz)
{
	const char *colon = strchr(t, ':'), *best = NULL;
	size_t i, d, tl = strlen(t), bestd = tl < 8 ? 3 : 4, n, nprefix = 0;
	int len = colon ? (int)(colon - t) : (int)tl;
	bool addr = (len == 6 && strncasecmp(t, "Sender", 6) == 0) ||
	    (len == 9 && strncasecmp(t, "Recipient", 9) == 0);

	/* `Sender` alone is not a typo of SenderIP: cbpolicyd has no
	 * default spec */
	if (addr && colon == NULL)
		bestd = 0;
	n = strspn(t + (tl > 8 ? 8 : tl), ":/");
	if (strncasecmp(t, "SenderIP", 8) == 0 && tl > 8 + n &&
	    tl <= 11 + n && strspn(t + 8 + n, "0123456789") == tl - 8 - n) {
		snprintf(buf, bufsz, " (did you mean \"SenderIP:/%s\"?)",
		    t + 8 + n);
		return;
	}
	for (i = 0; i < NTRACK; i++)
		if ((d = pol_distance(t, track_names[i])) < bestd) {
			bestd = d;
			best = track_names[i];
		}
	/* cut short (`SASLUser`): the one track it begins */
	if (best == NULL && bestd > 0 && tl >= 4)
		for (i = 0; i < NTRACK; i++)
			if (strncasecmp(t, track_names[i], tl) == 0 &&
			    nprefix++ == 0)
				best = track_names[i];
	if (best != NULL && nprefix <= 1)
		snprintf(buf, bufsz, " (did you mean \"%s\"?); the tracks "
		    "are " TRACK_LIST, best);
	else if (addr)
		snprintf(buf, bufsz, ": write what it counts per as shown, "
		    "%.*s:user@domain, %.*s:@domain or %.*s:user@%s", len, t,
		    len, t, len, t, colon != NULL ? " (the policy's match says "
		    "which mail is counted)" : "");
	else
		snprintf(buf, bufsz, "; the tracks are " TRACK_LIST);
}

int
pol_quota_set_track(struct pol_quota *q, const char *text, int line,
    char *err, size_t errsz)
{
	const char *errstr;
	uint64_t n;
	char hint[400];
	size_t i;

	(void)line;
	if (q->has_track)
		return pol_fail(err, errsz, "a second track (the quota tracks "
		    "%s already)", pol_track_name(q->track));
	for (i = 0; i < NTRACK; i++)
		if (strcasecmp(text, track_names[i]) == 0)
			break;
	if (i < NTRACK) {
		q->track = (enum pol_track)i;
		q->v4_prefix = 32;
	} else if (strncasecmp(text, "SenderIP:/", 10) == 0) {
		if (str_to_u64(text + 10, 1, 32, &n, &errstr) == -1)
			return pol_fail(err, errsz, "track \"%s\": the IPv4 "
			    "prefix of SenderIP:/N is 1 to 32 (IPv6 clients "
			    "are grouped by ipv6-prefix, 64 unless given)",
			    text);
		q->track = POL_TRACK_SENDER_IP;
		q->v4_prefix = (unsigned)n;
	} else {
		track_hint(text, hint, sizeof(hint));
		return pol_fail(err, errsz, "unknown track \"%s\"%s", text,
		    hint);
	}
	q->has_track = true;
	return 0;
}

int
pol_quota_add_limit(struct pol_quota *q, enum pol_unit u, uint64_t n,
    int line, char *err, size_t errsz)
{
	const struct pol_limit *l;

	if ((size_t)u >= POL_NUNIT)
		return pol_fail(err, errsz, "not a unit of a limit (messages, "
		    "recipients or size)");
	if ((l = pol_quota_limit(q, u)) != NULL)
		return pol_fail(err, errsz, "a second limit of %s (the first "
		    "at line %d): a quota has one limit per unit",
		    pol_unit_name(u), l->line);
	q->limits[q->nlimit].unit = u;
	q->limits[q->nlimit].n = n;
	q->limits[q->nlimit].line = line;
	q->nlimit++;
	return 0;
}

int
pol_quota_set_verdict(struct pol_quota *q, enum pol_verdict v,
    const char *reply, int line, char *err, size_t errsz)
{
	if (q->verdict_line != 0)
		return pol_fail(err, errsz, "a second verdict (the first at "
		    "line %d)", q->verdict_line);
	if (v == POL_V_NONE || v == POL_V_OK)
		return pol_fail(err, errsz, "verdict: \"%s\" is not a verdict "
		    "of a quota (defer, tempfail, reject, hold, discard or "
		    "pass)%s", pol_verdict_name(v), v == POL_V_OK ? "; ok is "
		    "access control's (accept and skip every later check): "
		    "to count without acting, write pass" : "");
	if (reply != NULL && pol_reply_check(v, reply, "verdict reply", err,
	    errsz) == -1)
		return -1;
	q->verdict = v;
	free(q->reply);
	q->reply = reply != NULL ? xstrdup(reply) : NULL;
	q->verdict_line = line;
	return 0;
}

int
pol_quota_set_notify(struct pol_quota *q, const unsigned *pct, size_t npct,
    const char *const *to, size_t nto, int line, char *err, size_t errsz)
{
	unsigned v[POL_NOTIFY_MAX];
	size_t i, j;

	if (q->nnotify != 0)
		return pol_fail(err, errsz, "a second notify (the first at "
		    "line %d)", q->notify_line);
	if (npct == 0 || nto == 0)
		return pol_fail(err, errsz, "notify: no %s: write notify 50%% "
		    "100%% to NOTIFIER...", npct == 0 ? "threshold" :
		    "notifier");
	if (npct > POL_NOTIFY_MAX)
		return pol_fail(err, errsz, "notify: %zu thresholds (at most "
		    "%d)", npct, POL_NOTIFY_MAX);
	/* sorted as they come: the evaluation walks them in order */
	for (i = 0; i < npct; i++) {
		if (pct[i] < 1 || pct[i] > 100)
			return pol_fail(err, errsz, "notify: %u%%: a threshold "
			    "is 1%% to 100%%", pct[i]);
		for (j = i; j > 0 && v[j - 1] > pct[i]; j--)
			v[j] = v[j - 1];
		if (j > 0 && v[j - 1] == pct[i])
			return pol_fail(err, errsz, "notify: %u%% given twice",
			    pct[i]);
		v[j] = pct[i];
	}
	for (i = 0; i < nto; i++) {
		if (to[i][0] == '\0')
			return pol_fail(err, errsz, "notify: an empty notifier "
			    "name");
		for (j = 0; j < i; j++)
			if (strcmp(to[i], to[j]) == 0)
				return pol_fail(err, errsz, "notify: notifier "
				    "\"%s\" named twice", to[i]);
	}
	memcpy(q->notify_pct, v, npct * sizeof(v[0]));
	q->nnotify = npct;
	q->notify_to = xcalloc(nto, sizeof(*q->notify_to));
	for (i = 0; i < nto; i++)
		q->notify_to[i] = xstrdup(to[i]);
	q->nnotify_to = nto;
	q->notify_line = line;
	return 0;
}

uint64_t
pol_quota_backlog(const struct pol_quota *q)
{
	size_t i;

	if (q->backlog != 0)
		return q->backlog;
	for (i = 0; i < q->nlimit; i++)
		if (q->limits[i].unit != POL_UNIT_SIZE && q->limits[i].n > 0)
			return q->limits[i].n > UINT64_MAX / 10 ? UINT64_MAX :
			    q->limits[i].n * 10;
	return POL_BACKLOG_SIZE_ONLY;
}

void
pol_set_warnings(const struct pol_set *set, pol_error_fn *warn, void *arg)
{
	const struct pol_quota *q;
	const struct pol_limit *lim;
	char msg[512];
	uint64_t secs;
	size_t i;

	for (i = 0; set != NULL && i < set->nquota; i++) {
		q = set->quotas[i];
		if (q->verdict != POL_V_DEFER && q->when_full != POL_V_DEFER)
			continue;
		secs = q->period.kind == POL_PERIOD_SECONDS ? q->period.secs :
		    q->period.kind == POL_PERIOD_DAY ? 86400 :
		    q->period.kind == POL_PERIOD_WEEK ? 7 * 86400 : 28 * 86400;
		lim = pol_quota_limit(q, POL_UNIT_RECIPIENTS) ?
		    pol_quota_limit(q, POL_UNIT_RECIPIENTS) :
		    pol_quota_limit(q, POL_UNIT_MESSAGES);
		if (q->max_defer < secs) {
			snprintf(msg, sizeof(msg), "quota %s/%s: max-defer %llus "
			    "is shorter than its period (%llus): mail that would "
			    "wait longer is refused (when-full) instead",
			    q->policy->name, q->name,
			    (unsigned long long)q->max_defer,
			    (unsigned long long)secs);
			warn(arg, q->line, msg);
		} else if (lim != NULL && lim->n > 0 &&
		    (double)pol_quota_backlog(q) / (double)lim->n *
		    (double)secs > (double)q->max_defer) {
			snprintf(msg, sizeof(msg), "quota %s/%s: a full backlog "
			    "(%llu) takes %.0fs to leave at %llu %s per %llus, "
			    "longer than max-defer (%llus): mail that would "
			    "wait longer is refused (when-full) instead",
			    q->policy->name, q->name, (unsigned long long)
			    pol_quota_backlog(q), (double)pol_quota_backlog(q) /
			    (double)lim->n * (double)secs,
			    (unsigned long long)lim->n, pol_unit_name(lim->unit),
			    (unsigned long long)secs,
			    (unsigned long long)q->max_defer);
			warn(arg, q->line, msg);
		}
	}
}

size_t
pol_quota_override_index(const struct pol_quota *q)
{
	size_t i;

	for (i = 0; i < q->nlimit; i++)
		if (q->limits[i].unit != POL_UNIT_SIZE)
			return i;
	return 0;
}

const struct pol_limit *
pol_quota_limit(const struct pol_quota *q, enum pol_unit u)
{
	size_t i;

	for (i = 0; i < q->nlimit; i++)
		if (q->limits[i].unit == u)
			return &q->limits[i];
	return NULL;
}

void
pol_quota_remove(struct pol_quota *q)
{
	struct pol_policy *p = q->policy;
	size_t i;

	for (i = 0; i < p->nquota; i++)
		if (p->quotas[i] == q) {
			memmove(&p->quotas[i], &p->quotas[i + 1],
			    (p->nquota - i - 1) * sizeof(*p->quotas));
			p->nquota--;
			break;
		}
	pol_quota_free(q);
}

void
pol_quota_free(struct pol_quota *q)
{
	size_t i;

	if (q == NULL)
		return;
	free(q->name);
	free(q->ident);
	free(q->reply);
	for (i = 0; i < q->nnotify_to; i++)
		free(q->notify_to[i]);
	free(q->notify_to);
	free(q);
}

/* Reports one error of q, "policy P: quota Q: " in front; returns 1. */
static int
report(const struct pol_quota *q, pol_error_fn *errfn, void *arg, int line,
    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	pol_verror(errfn, arg, line, "quota", q->policy->name, q->name, fmt,
	    ap);
	va_end(ap);
	return 1;
}

int
pol_quota_check(const struct pol_quota *q, pol_error_fn *errfn, void *arg)
{
	char track[32];
	int nerr = 0;
	size_t i;

	if (!q->has_track)
		nerr += report(q, errfn, arg, q->line, "no track: write what "
		    "it counts per (track " TRACK_LIST ")");
	if (!q->has_period)
		nerr += report(q, errfn, arg, q->line, "no period: write "
		    "period 1h (or 30s, 5m, 1d, day, week, month)");
	if (q->nlimit == 0)
		nerr += report(q, errfn, arg, q->line, "no limit: write limit "
		    "messages N, limit recipients N or limit size 10M");
	for (i = 0; i < q->nlimit; i++)
		if (q->limits[i].n == 0 && q->verdict == POL_V_DEFER)
			nerr += report(q, errfn, arg, q->limits[i].line, "a "
			    "limit of 0 with verdict defer: the mail could "
			    "never leave; use reject or tempfail");
	if (q->has_period && q->window == POL_WIN_SLIDING &&
	    q->period.kind != POL_PERIOD_SECONDS)
		nerr += report(q, errfn, arg, q->window_line ? q->window_line :
		    q->period_line, "window sliding with period %s: a sliding "
		    "window has no calendar; write the period in time (1d, "
		    "7d, 30d) or use window fixed",
		    q->period.kind == POL_PERIOD_DAY ? "day" :
		    q->period.kind == POL_PERIOD_WEEK ? "week" : "month");
	if (q->v6_line != 0 && q->has_track &&
	    q->track != POL_TRACK_SENDER_IP) {
		pol_track_format(q, track, sizeof(track));
		nerr += report(q, errfn, arg, q->v6_line, "ipv6-prefix is for "
		    "track SenderIP only (this quota tracks %s)", track);
	}
	if (q->v6_prefix < 1 || q->v6_prefix > 128)
		nerr += report(q, errfn, arg, q->v6_line ? q->v6_line :
		    q->line, "ipv6-prefix %u: write 1 to 128", q->v6_prefix);
	if (q->track == POL_TRACK_SENDER_IP &&
	    (q->v4_prefix < 1 || q->v4_prefix > 32))
		nerr += report(q, errfn, arg, q->line, "SenderIP:/%u: write "
		    "a prefix of 1 to 32", q->v4_prefix);
	if (q->when_full != POL_V_TEMPFAIL && q->when_full != POL_V_HOLD &&
	    q->when_full != POL_V_REJECT)
		nerr += report(q, errfn, arg, q->line, "when-full %s: write "
		    "tempfail, hold or reject", pol_verdict_name(q->when_full));
	return nerr;
}
