/*
 * quota_eval: the quota stage at end of DATA, once per message (DESIGN.md,
 * "Quotas" and "Data flow", step 5).
 *
 * 1. Each recipient (but those access control said ok to) is matched
 *    against the policies; their quotas apply in ascending priority, each
 *    policy's as written, until one with `stop`.  A quota that finds no
 *    key (SASLUsername for mail without a login, SenderIP without a
 *    client) does not apply.
 * 2. Each quota and key met (a "use") covers the recipients it applies
 *    to: a message counts 1 (messages), its recipients (recipients), its
 *    size once, or once per recipient on Recipient tracks (size).
 * 3. A use is within its limit when the current window can take the whole
 *    amount.  Otherwise the quota's verdict applies: defer gets the first
 *    window with room (fixed_fit, sliding_fit); a message larger than a
 *    limit can never fit and is refused; past `backlog` recipients
 *    waiting for the key, when-full's verdict.  Unlike cbpolicyd, a limit
 *    of N lets N through, not N + 1.
 * 4. A recipient takes the strongest verdict of its uses (reject,
 *    tempfail, hold, discard, defer, pass) and, deferred, the earliest
 *    time at which every quota that applies to it has room (common_fit).
 *    A reject or tempfail refuses the whole message (one reply at end of
 *    DATA), and then nothing is counted, as cbpolicyd writes nothing on a
 *    refusal.
 * 5. With commit, each use counts what leaves: now for recipients that go
 *    now, in the window of their release for deferred ones (a reservation),
 *    nothing for held or discarded ones; a message counts once, at its
 *    first departure.  The decision lists the changed keys' windows for
 *    the store.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/timefmt.h"
#include "../lib/xalloc.h"
#include "quota_priv.h"

static void
lower(char *s)
{
	for (; *s != '\0'; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
}

/* An address as a key: its whole, its domain or its local part,
 * lower-cased (so that varying the case of an address, which matching
 * ignores, cannot multiply a quota). */
static void
addr_key(const char *a, enum pol_track t, char *out, size_t outsz)
{
	const char *at;
	size_t len = strlen(a);

	if (len >= 2 && a[0] == '<' && a[len - 1] == '>') {
		a++;
		len -= 2;
	}
	if (len == 0) {
		snprintf(out, outsz, "<>");
		return;
	}
	at = memrchr(a, '@', len);
	if (t == POL_TRACK_SENDER_LOCAL || t == POL_TRACK_RCPT_LOCAL)
		snprintf(out, outsz, "%.*s@", (int)(at ? at - a : (int)len), a);
	else if (t == POL_TRACK_SENDER_DOMAIN || t == POL_TRACK_RCPT_DOMAIN)
		snprintf(out, outsz, "@%.*s", at ? (int)(len - (size_t)(at -
		    a) - 1) : 0, at ? at + 1 : "");
	else
		snprintf(out, outsz, "%.*s", (int)len, a);
	lower(out);
}

static bool
client_key(unsigned v4_prefix, unsigned v6_prefix, const struct addr *a,
    char *out, size_t outsz)
{
	struct cidr c;
	unsigned i, bits;

	if (a == NULL)
		return false;
	memset(&c, 0, sizeof(c));
	c.net = *a;
	if (a->family == AF_INET6 && memcmp(a->bytes,
	    "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) == 0) {
		c.net.family = AF_INET;
		memmove(c.net.bytes, a->bytes + 12, 4);
		memset(c.net.bytes + 4, 0, 12);
	}
	c.prefix = c.net.family == AF_INET ? v4_prefix : v6_prefix;
	for (i = 0; i < 16; i++) {
		bits = c.prefix > i * 8 ? c.prefix - i * 8 : 0;
		if (bits < 8)
			c.net.bytes[i] &= (uint8_t)(0xff00u >> bits);
	}
	cidr_format(&c, out, outsz);
	return true;
}

bool
pol_track_key(enum pol_track track, unsigned v4_prefix, unsigned v6_prefix,
    const char *policy, const struct pol_msg *m, size_t r, char *out,
    size_t outsz)
{
	switch (track) {
	case POL_TRACK_SENDER:
	case POL_TRACK_SENDER_DOMAIN:
	case POL_TRACK_SENDER_LOCAL:
		addr_key(m->sender ? m->sender : "", track, out, outsz);
		return true;
	case POL_TRACK_RCPT:
	case POL_TRACK_RCPT_DOMAIN:
	case POL_TRACK_RCPT_LOCAL:
		addr_key(m->rcpts[r], track, out, outsz);
		return true;
	case POL_TRACK_SENDER_IP:
		return client_key(v4_prefix, v6_prefix, m->client, out,
		    outsz);
	case POL_TRACK_SASL:
		if (m->sasl == NULL || *m->sasl == '\0')
			return false;
		snprintf(out, outsz, "%s", m->sasl);
		lower(out);
		return true;
	case POL_TRACK_POLICY:
		snprintf(out, outsz, "%s", policy);
		lower(out);
		return true;
	}
	return false;
}

static bool
rcpt_track(const struct pol_quota *q)
{
	return q->track == POL_TRACK_RCPT || q->track ==
	    POL_TRACK_RCPT_DOMAIN || q->track == POL_TRACK_RCPT_LOCAL;
}

static struct pol_use *
use_of(struct pol_decision *d, struct pol_counters *c,
    const struct pol_quota *q, const char *key, size_t nrcpt)
{
	struct pol_use *u;
	size_t i;

	for (i = 0; i < d->nuse; i++)
		if (d->use[i].quota == q && strcmp(d->use[i].key, key) == 0)
			return &d->use[i];
	d->use = xreallocarray(d->use, d->nuse + 1, sizeof(*d->use));
	u = &d->use[d->nuse++];
	memset(u, 0, sizeof(*u));
	u->quota = q;
	u->key = xstrdup(key);
	u->qid = pol_counters_qid(c, q->ident);
	u->sliding = q->window == POL_WIN_SLIDING;
	u->ri = xcalloc(nrcpt, sizeof(*u->ri));
	return u;
}

/* The amount of recipients ri[0..n) of the message under quota q. */
static void
amount_of(const struct pol_quota *q, const struct pol_msg *m, size_t n,
    bool first, double a[POL_NUNIT])
{
	a[POL_UNIT_MESSAGES] = first ? 1 : 0;
	a[POL_UNIT_RECIPIENTS] = (double)n;
	a[POL_UNIT_SIZE] = rcpt_track(q) ? (double)m->size * (double)n :
	    first ? (double)m->size : 0;
}

/* The limits of q for key as numbers per unit (HUGE_VAL: no limit). */
static bool
limits_of(const struct pol_counters *c, const struct pol_quota *q,
    const char *key, double lim[POL_NUNIT])
{
	uint64_t ovr = 0;
	enum pol_override_kind k = pol_counters_override_of(c, key, &ovr);
	size_t i;
	unsigned u;

	for (u = 0; u < POL_NUNIT; u++)
		lim[u] = HUGE_VAL;
	if (k == POL_OVR_EXEMPT)
		return true;
	for (i = 0; i < q->nlimit; i++)
		lim[q->limits[i].unit] = (double)q->limits[i].n;
	if (k == POL_OVR_LIMIT && q->nlimit > 0)
		lim[q->limits[pol_quota_override_index(q)].unit] = (double)ovr;
	return false;
}

static bool
fits(const double used[POL_NUNIT], const double a[POL_NUNIT],
    const double lim[POL_NUNIT])
{
	unsigned u;

	for (u = 0; u < POL_NUNIT; u++)
		if (used[u] + a[u] > lim[u] + 1e-9)
			return false;
	return true;
}

/* The unit to show: the first exceeded, else the fullest. */
static enum pol_unit
show_unit(const struct pol_quota *q, const double used[POL_NUNIT],
    const double a[POL_NUNIT], const double lim[POL_NUNIT])
{
	enum pol_unit best = q->nlimit ? q->limits[0].unit : POL_UNIT_MESSAGES;
	double most = -1;
	size_t i;

	for (i = 0; i < q->nlimit; i++) {
		enum pol_unit u = q->limits[i].unit;
		double share = lim[u] > 0 ? (used[u] + a[u]) / lim[u] : HUGE_VAL;

		if (used[u] + a[u] > lim[u] + 1e-9)
			return u;
		if (share > most) {
			most = share;
			best = u;
		}
	}
	return best;
}

static void
use_set(struct pol_use *u, const double used[POL_NUNIT],
    const double a[POL_NUNIT], const double lim[POL_NUNIT], enum pol_unit k)
{
	u->unit = k;
	u->used = used[k];
	u->amount = a[k];
	u->limit = isinf(lim[k]) ? 0 : (uint64_t)lim[k];
}

/* Over the limit: the quota's verdict.  A message that can never fit
 * is refused unless the verdict lets it go (pass) or drops it
 * (discard): deferred, when one recipient alone exceeds a limit (a
 * message splits by recipient under a recipients limit, so its number of
 * recipients alone never stops it); otherwise, when the whole message
 * does.  False when the recipients are to be placed (defer). */
static bool
over(struct pol_use *u, const struct pol_msg *m, const double a[POL_NUNIT],
    const double lim[POL_NUNIT])
{
	static const double zero[POL_NUNIT];
	enum pol_verdict v = u->quota->verdict;
	double one[POL_NUNIT];

	u->verdict = v;
	amount_of(u->quota, m, 1, true, one);
	if (v != POL_V_PASS && v != POL_V_DISCARD &&
	    !fits(zero, v == POL_V_DEFER ? one : a, lim))
		u->never = true;
	return v != POL_V_DEFER || u->never;
}

/* Deferring the use's recipients would take the key's waiting ones past
 * the backlog: when-full's verdict instead (a compromised account cannot
 * fill the queue). */
static bool
backlog_full(struct pol_use *u, double waiting)
{
	u->waiting = waiting;
	if (waiting + (double)(u->ndeferred ? u->ndeferred : 1) <=
	    (double)pol_quota_backlog(u->quota))
		return false;
	u->full = true;
	u->verdict = u->quota->when_full;
	return true;
}

/* The stored window of e starting at start (binary search: a key with a
 * long backlog has many). */
static const struct pol_cwin *
window_find(const struct pol_centry *e, int64_t start)
{
	const struct pol_cwin *w;
	uint32_t lo = 0, hi, mid;

	if (e == NULL)
		return NULL;
	w = pol_cwins((struct pol_centry *)e);
	hi = e->nwin;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (w[mid].start < start)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < e->nwin && w[lo].start == start ? &w[lo] : NULL;
}

static struct pol_applied *
pend_find(const struct pol_use *u, int64_t start)
{
	size_t i;

	for (i = u->napplied; i > 0; i--)
		if (u->applied[i - 1].start == start)
			return &u->applied[i - 1];
	return NULL;
}

static void
fixed_used(const struct pol_use *u, int64_t s, double used[POL_NUNIT])
{
	const struct pol_cwin *w = window_find(u->e, s);
	const struct pol_applied *p = pend_find(u, s);
	unsigned k;

	for (k = 0; k < POL_NUNIT; k++)
		used[k] = (w ? w->used[k] : 0) + (p ? p->add[k] : 0);
}

/* The first time from t on when inc fits a window of u: what is counted
 * and reserved there, plus what this message put there, within the
 * limits.  Past the last window holding anything every window is empty,
 * so the walk ends (inc alone fits: a message where it does not was
 * refused).  With `release smooth`, a window that starts after now hands
 * out its share evenly: the n-th unit of L is due n/L of the way in. */
static int64_t
fixed_place(const struct pol_use *u, int64_t t, const double inc[POL_NUNIT],
    int64_t now)
{
	double used[POL_NUNIT], frac, f;
	int64_t s, end, due;
	unsigned k;

	for (;;) {
		pol_window_at(&u->quota->period, t, &s, &end);
		fixed_used(u, s, used);
		if (fits(used, inc, u->lim) || end <= t)
			break;
		t = end;
	}
	if (u->quota->release != POL_RELEASE_SMOOTH || s <= now)
		return t;
	for (k = 0, frac = 0; k < POL_NUNIT; k++)
		if (!isinf(u->lim[k]) && u->lim[k] > 0 &&
		    (f = used[k] / u->lim[k]) > frac)
			frac = f;
	due = s + (int64_t)(frac * (double)(end - s));
	return due > t ? due : t;
}

/* The key's deferred recipients: what later windows hold. */
static double
fixed_waiting(const struct pol_centry *e, int64_t s)
{
	const struct pol_cwin *w = e ? pol_cwins((struct pol_centry *)e) :
	    NULL;
	double waiting = 0;
	uint32_t i;

	for (i = 0; e != NULL && i < e->nwin; i++)
		if (w[i].start > s)
			waiting += w[i].used[POL_UNIT_RECIPIENTS];
	return waiting;
}

static void
eval_fixed(struct pol_use *u, struct pol_centry *e, const struct pol_msg *m,
    const double a[], const double lim[], int64_t now)
{
	const struct pol_quota *q = u->quota;
	static const double zero[POL_NUNIT];
	const struct pol_cwin *cur;
	int64_t s, end;
	double waiting;

	pol_window_at(&q->period, now, &s, &end);
	cur = window_find(e, s);
	u->start = s;
	u->end = end;
	use_set(u, cur ? cur->used : zero, a, lim,
	    show_unit(q, cur ? cur->used : zero, a, lim));
	waiting = fixed_waiting(e, s);
	u->waiting = waiting;
	if (u->exempt || fits(cur ? cur->used : zero, a, lim))
		return;
	if (over(u, m, a, lim))
		return;
	backlog_full(u, waiting);
}

/* cbpolicyd's decayed value at t of a sliding counter (its value as
 * stored while t is before its last update: a reservation). */
static double
slide_at(const struct pol_cwin *w, unsigned k, int64_t t, uint64_t period)
{
	if (w == NULL)
		return 0;
	return pol_sliding_value(w->used[k], w->start, t, period);
}

/* The first time from t on when the counter (as the placements so far
 * left it) plus inc fits every limit: the decay is linear, so it is a
 * formula (a counter moved to a later release time is worth its value
 * there until then). */
static int64_t
sliding_place(const struct pol_use *u, int64_t from,
    const double inc[POL_NUNIT])
{
	const struct pol_cwin *w = u->vw;
	uint64_t p = u->quota->period.secs;
	double t = (double)(w->start > from ? w->start : from), need;
	int64_t r;
	unsigned k;

	for (k = 0; k < POL_NUNIT; k++) {
		if (w->used[k] <= 0 || slide_at(w, k, (int64_t)t, p) +
		    inc[k] <= u->lim[k] + 1e-9)
			continue;
		need = (double)w->start + (double)p * (1.0 - (u->lim[k] -
		    inc[k]) / w->used[k]);
		if (need > t)
			t = need;
	}
	r = (int64_t)t;
	if ((double)r < t)
		r++;		/* ceil(3) without libm */
	return r;
}

/* A sliding counter does not say how many wait: its reservation time is
 * how far ahead the limit has been given out, so at the limit's rate,
 * about (start - now) / period x limit recipients (or messages) wait. */
static double
sliding_waiting(const struct pol_use *u, const struct pol_cwin *w,
    int64_t now)
{
	double lim = !isinf(u->lim[POL_UNIT_RECIPIENTS]) ?
	    u->lim[POL_UNIT_RECIPIENTS] : !isinf(u->lim[POL_UNIT_MESSAGES]) ?
	    u->lim[POL_UNIT_MESSAGES] : 1;

	return (double)(w->start - now) / (double)u->quota->period.secs * lim;
}

static void
eval_sliding(struct pol_use *u, struct pol_centry *e, const struct pol_msg *m,
    const double a[], const double lim[], int64_t now)
{
	const struct pol_quota *q = u->quota;
	const struct pol_cwin *w = e && e->nwin ? pol_cwins(e) : NULL;
	double used[POL_NUNIT];
	uint64_t p = q->period.secs;
	unsigned k;

	u->vw = xcalloc(1, sizeof(*u->vw));
	if (w != NULL)
		*u->vw = *w;
	else
		u->vw->start = now;
	u->vw0_start = u->vw->start;
	memcpy(u->vw0_used, u->vw->used, sizeof(u->vw0_used));
	for (k = 0; k < POL_NUNIT; k++)
		used[k] = slide_at(w, k, now, p);
	u->start = now - (int64_t)p;
	u->end = now;
	use_set(u, used, a, lim, show_unit(q, used, a, lim));
	if (u->exempt || ((w == NULL || w->start <= now) &&
	    fits(used, a, lim)))
		return;
	if (over(u, m, a, lim))
		return;
	if (w != NULL && w->start > now)
		backlog_full(u, sliding_waiting(u, w, now));
}

static void
eval_use(struct pol_counters *c, struct pol_use *u, const struct pol_msg *m,
    int64_t now)
{
	const struct pol_quota *q = u->quota;
	struct pol_centry *e = pol_counters_entry(c, u->qid, u->key, false);
	double a[POL_NUNIT], lim[POL_NUNIT];

	u->exempt = limits_of(c, q, u->key, lim);
	amount_of(q, m, u->nrcpt, true, a);
	if (e != NULL)
		pol_centry_expire(e, q, now);
	u->e = e;
	memcpy(u->a, a, sizeof(u->a));
	memcpy(u->lim, lim, sizeof(u->lim));
	if (q->window == POL_WIN_SLIDING)
		eval_sliding(u, e, m, a, lim, now);
	else
		eval_fixed(u, e, m, a, lim, now);
}

static int
rank(enum pol_verdict v)
{
	switch (v) {
	case POL_V_REJECT:	return 6;
	case POL_V_TEMPFAIL:	return 5;
	case POL_V_HOLD:	return 4;
	case POL_V_DISCARD:	return 3;
	case POL_V_DEFER:	return 2;
	case POL_V_PASS:	return 1;
	case POL_V_NONE:
	case POL_V_OK:		break;
	}
	return 0;
}

static void
fmt_time(int64_t t, char *buf, size_t sz)
{
	time_rfc3339((time_t)t, buf, sz);
}

static void
trace_use(struct buf *why, const struct pol_use *u)
{
	char tb[TIMEFMT_LEN], te[TIMEFMT_LEN], tr[TIMEFMT_LEN];
	char track[64];

	pol_track_format(u->quota, track, sizeof(track));
	fmt_time(u->start, tb, sizeof(tb));
	fmt_time(u->end, te, sizeof(te));
	buf_printf(why, "  quota %s/%s: track %s key %s: %s %.0f+%.0f/",
	    u->quota->policy->name, u->quota->name, track, u->key,
	    pol_unit_name(u->unit), u->used, u->amount);
	if (u->exempt)
		buf_addstr(why, "exempt");
	else
		buf_printf(why, "%llu", (unsigned long long)u->limit);
	buf_printf(why, " in window %s - %s", tb, te);
	if (u->verdict == POL_V_NONE)
		buf_addstr(why, ": within the limit\n");
	else if (u->never)
		buf_addstr(why, ": over, and the message can never fit\n");
	else if (u->full)
		buf_printf(why, ": over, and the key's backlog is full: "
		    "%s\n", pol_verdict_name(u->verdict));
	else if (u->verdict == POL_V_DEFER && u->ndeferred == 0)
		buf_addstr(why, ": over for the whole message, but each "
		    "recipient fits now\n");
	else if (u->verdict == POL_V_DEFER) {
		fmt_time(u->release, tr, sizeof(tr));
		buf_printf(why, ": over, defer %zu recipient%s until %s",
		    u->ndeferred, u->ndeferred == 1 ? "" : "s", tr);
		if (u->release_last != u->release) {
			fmt_time(u->release_last, tr, sizeof(tr));
			buf_printf(why, " .. %s", tr);
		}
		buf_addc(why, '\n');
	} else
		buf_printf(why, ": over, verdict %s\n",
		    pol_verdict_name(u->verdict));
}

/* Why a policy matched, indented under it. */
static void
trace_match(const struct pol_policy *p, const struct pol_input *in,
    struct buf *why)
{
	struct buf b = BUF_INIT;
	const char *s, *nl;

	pol_policy_matches(p, in, &b);
	buf_addc(&b, '\0');
	for (s = b.data; s != NULL && *s != '\0'; s = nl ? nl + 1 : NULL) {
		nl = strchr(s, '\n');
		buf_printf(why, "    %.*s\n", (int)(nl ? nl - s : (long)strlen(s)),
		    s);
	}
	buf_free(&b);
}

/* Collects the uses of every recipient (step 1). */
static void
collect(const struct pol_set *set, struct pol_counters *c,
    const struct pol_msg *m, struct pol_decision *d, struct buf *why)
{
	const struct pol_policy **pols;
	struct pol_input in;
	struct pol_use *u;
	char key[512];
	size_t r, i, j, n;
	bool stop;

	pols = xcalloc(set->npolicy + 1, sizeof(*pols));
	memset(&in, 0, sizeof(in));
	in.client = m->client;
	in.sender = m->sender;
	in.sasl = m->sasl;
	for (r = 0; r < m->nrcpt; r++) {
		if (why != NULL)
			buf_printf(why, "recipient %s:\n", m->rcpts[r]);
		if (m->skip != NULL && m->skip[r]) {
			if (why != NULL)
				buf_addstr(why, "  access decided (ok, hold or "
				    "discard): no quota counts it\n");
			continue;
		}
		in.recipient = m->rcpts[r];
		n = pol_set_match(set, &in, pols, set->npolicy);
		if (why != NULL && n == 0)
			buf_addstr(why, "  no policy matches\n");
		stop = false;
		for (i = 0; i < n && !stop; i++) {
			if (why != NULL) {
				buf_printf(why, "  policy %s (priority %ld) "
				    "matches:\n", pols[i]->name,
				    pols[i]->priority);
				trace_match(pols[i], &in, why);
			}
			for (j = 0; j < pols[i]->nquota && !stop; j++) {
				const struct pol_quota *q = pols[i]->quotas[j];

				if (!pol_track_key(q->track, q->v4_prefix,
				    q->v6_prefix, q->policy->name, m, r, key,
				    sizeof(key))) {
					if (why != NULL)
						buf_printf(why, "    quota %s:"
						    " no key (%s), does not "
						    "apply\n", q->name,
						    pol_track_name(q->track));
					continue;
				}
				u = use_of(d, c, q, key, m->nrcpt);
				u->ri[u->nrcpt++] = r;
				stop = q->stop;
				if (why != NULL)
					buf_printf(why, "    quota %s applies:"
					    " key %s\n", q->name, key);
				if (why != NULL && stop)
					buf_printf(why, "    quota %s has "
					    "stop: no later quota applies\n",
					    q->name);
			}
		}
	}
	free(pols);
}

/* Each recipient's uses, in the order met: ru[ru0[r]..ru0[r + 1]). */
static void
index_uses(struct pol_decision *d)
{
	size_t i, j, r, n = 0, *fill;

	d->ru0 = xcalloc(d->nrcpt + 2, sizeof(*d->ru0));
	for (i = 0; i < d->nuse; i++) {
		n += d->use[i].nrcpt;
		for (j = 0; j < d->use[i].nrcpt; j++)
			d->ru0[d->use[i].ri[j] + 1]++;
	}
	for (r = 0; r < d->nrcpt; r++)
		d->ru0[r + 1] += d->ru0[r];
	d->ru = xcalloc(n + 1, sizeof(*d->ru));
	fill = xcalloc(d->nrcpt + 1, sizeof(*fill));
	for (i = 0; i < d->nuse; i++)
		for (j = 0; j < d->use[i].nrcpt; j++) {
			r = d->use[i].ri[j];
			d->ru[d->ru0[r] + fill[r]++] = i;
		}
	free(fill);
}

/* Step 4: each recipient's verdict; the message's refusal if any. */
static void
combine(struct pol_decision *d)
{
	struct pol_rcpt_out *o;
	struct pol_use *u, *refuse = NULL;
	size_t i, j;

	for (i = 0; i < d->nuse; i++) {
		u = &d->use[i];
		if (u->never)
			u->verdict = POL_V_REJECT;
		for (j = 0; j < u->nrcpt; j++) {
			o = &d->rcpt[u->ri[j]];
			if (rank(u->verdict) > rank(o->verdict)) {
				o->verdict = u->verdict;
				o->use = u;
			}
		}
		if (rank(u->verdict) >= rank(POL_V_TEMPFAIL) &&
		    (refuse == NULL || rank(u->verdict) >
		    rank(refuse->verdict)))
			refuse = u;
	}
	if (refuse == NULL)
		return;
	d->refuse = refuse->verdict;
	if (refuse->too_many)
		snprintf(d->reply, sizeof(d->reply), "552 5.3.4 Message has "
		    "more recipients than quota %s/%s lets wait (backlog %llu):"
		    " it can never be sent", refuse->quota->policy->name,
		    refuse->quota->name,
		    (unsigned long long)pol_quota_backlog(refuse->quota));
	else if (refuse->late)
		snprintf(d->reply, sizeof(d->reply), "%s Mail for quota %s/%s "
		    "would wait longer than its max-defer (%llus)%s",
		    refuse->verdict == POL_V_REJECT ? "550 5.7.1" : "451 4.7.1",
		    refuse->quota->policy->name, refuse->quota->name,
		    (unsigned long long)refuse->quota->max_defer,
		    refuse->verdict == POL_V_REJECT ? "" : ", try again later");
	else if (refuse->never)
		snprintf(d->reply, sizeof(d->reply), "552 5.3.4 Message "
		    "exceeds quota %s/%s (%s limit %llu): it can never be "
		    "sent", refuse->quota->policy->name, refuse->quota->name,
		    pol_unit_name(refuse->unit),
		    (unsigned long long)refuse->limit);
	else if (refuse->full)
		snprintf(d->reply, sizeof(d->reply), "%s Too much mail waiting "
		    "for quota %s/%s (backlog %llu)%s", refuse->verdict ==
		    POL_V_REJECT ? "550 5.7.1" : "451 4.7.1",
		    refuse->quota->policy->name, refuse->quota->name,
		    (unsigned long long)pol_quota_backlog(refuse->quota),
		    refuse->verdict == POL_V_REJECT ? "" : ", try again later");
	else if (refuse->quota->reply != NULL)
		pol_verdict_reply(refuse->verdict, refuse->quota->reply,
		    d->reply, sizeof(d->reply));
	else
		snprintf(d->reply, sizeof(d->reply), "%s Quota exceeded "
		    "(%s/%s)%s", refuse->verdict == POL_V_REJECT ?
		    "550 5.7.1" : "451 4.7.1", refuse->quota->policy->name,
		    refuse->quota->name, refuse->verdict == POL_V_REJECT ? "" :
		    ", try again later");
}

/* The amount recipient r adds under u: 1 recipient; the message (and
 * its size, off Recipient tracks) with the first one placed. */
static void
inc_of(const struct pol_use *u, const struct pol_msg *m, double inc[])
{
	amount_of(u->quota, m, 1, !u->placed, inc);
}

/* Counts inc under u at t, for the commit (fixed: into its window's
 * entry; sliding: one more placement, the virtual counter moved on). */
static void
pend_add(struct pol_use *u, int64_t t, const double inc[POL_NUNIT],
    int64_t now)
{
	struct pol_applied *ap = NULL;
	int64_t s = t, end;
	unsigned k;

	if (u->sliding) {
		for (k = 0; k < POL_NUNIT; k++)
			u->vw->used[k] = slide_at(u->vw, k, t > now ? t : now,
			    u->quota->period.secs) + inc[k];
		if (t > u->vw->start)
			u->vw->start = t;
	} else {
		pol_window_at(&u->quota->period, t, &s, &end);
		ap = pend_find(u, s);
	}
	if (ap == NULL) {
		u->applied = xreallocarray(u->applied, u->napplied + 1,
		    sizeof(*u->applied));
		ap = &u->applied[u->napplied++];
		memset(ap, 0, sizeof(*ap));
		ap->start = s;
	}
	for (k = 0; k < POL_NUNIT; k++)
		ap->add[k] += inc[k];
	u->placed = true;
}

/* Whether u holds a recipient back: it has a limit and says within or
 * defer (pass lets it go over; a stronger verdict decided it already). */
static bool
constrains(const struct pol_use *u)
{
	return !u->exempt && (u->verdict == POL_V_NONE ||
	    u->verdict == POL_V_DEFER);
}

static void
add_resv(struct pol_counters *c, struct pol_decision *d, struct pol_use *u,
    int64_t t, const double inc[POL_NUNIT])
{
	struct pol_counter_row *row;
	int64_t s = t, end;

	if (!u->sliding)
		pol_window_at(&u->quota->period, t, &s, &end);
	d->resv = xreallocarray(d->resv, d->nresv + 1, sizeof(*d->resv));
	row = &d->resv[d->nresv++];
	row->quota = c->ident[u->qid];
	row->key = u->key;
	row->start = s;
	memcpy(row->used, inc, sizeof(row->used));
}

/*
 * Places deferred recipient r (in recipient order, so a message's
 * recipients leave in order; windows fill in order, so a key's backlog
 * drains first in, first out): the earliest
 * time at which every quota that holds it back has room for it, each
 * quota's first fit asked again from the latest until they agree.  Its
 * amount is then counted in those windows, and it becomes one more
 * portion of the message: a recipients limit of 100 lets 100 of a
 * message's recipients go per window.  A recipient that fits now is no
 * longer deferred.
 */
static void
place(struct pol_counters *c, struct pol_decision *d,
    const struct pol_msg *m, size_t r, int64_t now)
{
	struct pol_rcpt_out *o = &d->rcpt[r];
	struct pol_use *u, *bind = NULL;
	double inc[POL_NUNIT];
	int64_t t = now, next, f;
	size_t j;

	for (j = d->ru0[r]; j < d->ru0[r + 1]; j++) {
		u = &d->use[d->ru[j]];
		if (u->verdict != POL_V_DEFER || u->exempt)
			continue;
		if (bind == NULL)
			bind = u;
		if (u->last_t > t)
			t = u->last_t;
	}
	for (;;) {
		next = t;
		for (j = d->ru0[r]; j < d->ru0[r + 1]; j++) {
			u = &d->use[d->ru[j]];
			if (!constrains(u))
				continue;
			inc_of(u, m, inc);
			f = u->sliding ? sliding_place(u, t, inc) :
			    fixed_place(u, t, inc, now);
			if (f > next) {
				next = f;
				bind = u;
			}
		}
		if (next == t)
			break;
		t = next;
	}
	o->resv0 = d->nresv;
	for (j = d->ru0[r]; j < d->ru0[r + 1]; j++) {
		u = &d->use[d->ru[j]];
		inc_of(u, m, inc);
		pend_add(u, t, inc, now);
		if (u->verdict == POL_V_DEFER && t > u->last_t)
			u->last_t = t;
		if (t <= now)
			continue;
		add_resv(c, d, u, t, inc);
		if (u->verdict == POL_V_DEFER) {
			if (u->ndeferred++ == 0)
				u->release = t;
			u->release_last = t;
			if (o->max_defer == 0 || u->quota->max_defer <
			    o->max_defer)
				o->max_defer = u->quota->max_defer;
			/* one notice per backlog, not per message */
			o->tell_sender |= u->quota->tell_sender &&
			    u->waiting <= 0;
		}
	}
	o->nresv = d->nresv - o->resv0;
	if (t <= now) {
		o->verdict = POL_V_NONE;
		o->use = NULL;
		o->max_defer = 0;
		o->tell_sender = false;
		return;
	}
	o->release = t;
	o->use = bind;
}

/* Step 5: recipients that go now count now (first, so that the message
 * counts once, where it first leaves), then the deferred ones are placed
 * in order. */
static void
place_all(struct pol_counters *c, struct pol_decision *d,
    const struct pol_msg *m, int64_t now)
{
	double inc[POL_NUNIT];
	struct pol_use *u;
	size_t r, j;

	for (r = 0; r < d->nrcpt; r++) {
		if (d->rcpt[r].verdict != POL_V_NONE &&
		    d->rcpt[r].verdict != POL_V_PASS)
			continue;
		for (j = d->ru0[r]; j < d->ru0[r + 1]; j++) {
			u = &d->use[d->ru[j]];
			inc_of(u, m, inc);
			pend_add(u, now, inc, now);
		}
	}
	for (r = 0; r < d->nrcpt; r++)
		if (d->rcpt[r].verdict == POL_V_DEFER)
			place(c, d, m, r, now);
}

/* The commit: each use's adds into the counters. */
static void
apply(struct pol_counters *c, struct pol_use *u, int64_t now)
{
	const struct pol_quota *q = u->quota;
	struct pol_centry *e;
	struct pol_cwin *w;
	size_t i;
	unsigned k;

	if (u->napplied == 0)
		return;
	e = pol_counters_entry(c, u->qid, u->key, true);
	for (i = 0; i < u->napplied; i++) {
		if (u->sliding) {
			w = e->nwin ? pol_cwins(e) : pol_centry_win(e,
			    u->applied[i].start);
			for (k = 0; k < POL_NUNIT; k++)
				w->used[k] = slide_at(w, k,
				    u->applied[i].start > now ?
				    u->applied[i].start : now,
				    q->period.secs) + u->applied[i].add[k];
			if (u->applied[i].start > w->start)
				w->start = u->applied[i].start;
			u->applied[i].start = w->start;
		} else {
			w = pol_centry_win(e, u->applied[i].start);
			for (k = 0; k < POL_NUNIT; k++)
				w->used[k] += u->applied[i].add[k];
		}
	}
}

/* The stored figures of every key the decision changed. */
static void
snapshot(struct pol_counters *c, struct pol_decision *d)
{
	struct pol_counter_row *row;
	struct pol_centry *e;
	const struct pol_cwin *w;
	size_t i;
	uint32_t j;

	for (i = 0; i < d->nuse; i++) {
		if (d->use[i].napplied == 0)
			continue;
		e = pol_counters_entry(c, d->use[i].qid, d->use[i].key, false);
		w = pol_cwins(e);
		for (j = 0; j < e->nwin; j++) {
			d->rows = xreallocarray(d->rows, d->nrow + 1,
			    sizeof(*d->rows));
			row = &d->rows[d->nrow++];
			row->quota = c->ident[d->use[i].qid];
			row->key = d->use[i].key;
			row->start = w[j].start;
			memcpy(row->used, w[j].used, sizeof(row->used));
			row->notified = w[j].notified;
		}
	}
}

static void
trace_verdicts(const struct pol_decision *d, const struct pol_msg *m,
    struct buf *why)
{
	char tr[TIMEFMT_LEN];
	size_t i;

	if (d->refuse != POL_V_NONE)
		buf_printf(why, "message: refused: %s\n", d->reply);
	for (i = 0; d->refuse == POL_V_NONE && i < d->nrcpt; i++) {
		buf_printf(why, "verdict %s: ", m->rcpts[i]);
		switch (d->rcpt[i].verdict) {
		case POL_V_DEFER:
			fmt_time(d->rcpt[i].release, tr, sizeof(tr));
			buf_printf(why, "defer until %s", tr);
			if (d->rcpt[i].use != NULL)
				buf_printf(why, " (quota %s/%s, key %s)",
				    d->rcpt[i].use->quota->policy->name,
				    d->rcpt[i].use->quota->name,
				    d->rcpt[i].use->key);
			buf_addc(why, '\n');
			break;
		case POL_V_NONE:
			buf_addstr(why, m->bypass ? "deliver now (released by "
			    "an administrator, bypassing quotas)\n" :
			    "deliver now\n");
			break;
		case POL_V_PASS:
			buf_addstr(why, "deliver now (over a quota whose "
			    "verdict is pass)\n");
			break;
		default:
			buf_printf(why, "%s\n",
			    pol_verdict_name(d->rcpt[i].verdict));
		}
	}
}

/*
 * The bounds, once the recipients are placed: a deferring use whose key
 * would have more recipients waiting than its backlog, or whose
 * recipients would wait past its max-defer (they would only bounce
 * then), takes when-full's verdict; one whose own deferred recipients
 * alone exceed the backlog can never be sent.  True when a verdict
 * changed: the placement is then redone.
 */
static bool
bounds(struct pol_decision *d, int64_t now)
{
	struct pol_use *u;
	uint64_t backlog;
	bool changed = false;
	size_t i;

	for (i = 0; i < d->nuse; i++) {
		u = &d->use[i];
		if (u->verdict != POL_V_DEFER || u->exempt || u->ndeferred == 0)
			continue;
		backlog = pol_quota_backlog(u->quota);
		if (u->waiting <= 0 && (double)u->ndeferred > (double)backlog)
			u->never = u->too_many = true;
		else if (u->waiting + (double)u->ndeferred > (double)backlog)
			u->full = true;
		else if (u->release_last - now > (int64_t)u->quota->max_defer)
			u->full = u->late = true;
		else
			continue;
		if (u->full)
			u->verdict = u->quota->when_full;
		changed = true;
	}
	return changed;
}

/* Forgets the placement (and the verdicts combine gave the recipients). */
static void
unplace(struct pol_decision *d)
{
	struct pol_use *u;
	size_t i;

	for (i = 0; i < d->nuse; i++) {
		u = &d->use[i];
		free(u->applied);
		u->applied = NULL;
		u->napplied = 0;
		u->placed = false;
		u->last_t = u->release = u->release_last = 0;
		u->ndeferred = 0;
		if (u->vw != NULL) {
			u->vw->start = u->vw0_start;
			memcpy(u->vw->used, u->vw0_used, sizeof(u->vw->used));
		}
	}
	free(d->resv);
	d->resv = NULL;
	d->nresv = 0;
	memset(d->rcpt, 0, d->nrcpt * sizeof(*d->rcpt));
	d->refuse = POL_V_NONE;
	d->reply[0] = '\0';
}

void
pol_quota_decide(const struct pol_set *set, struct pol_counters *c,
    const struct pol_msg *m, int64_t now, bool commit,
    struct pol_decision *d, struct buf *why)
{
	size_t i;

	memset(d, 0, sizeof(*d));
	d->nrcpt = m->nrcpt;
	d->rcpt = xcalloc(m->nrcpt + 1, sizeof(*d->rcpt));
	if (set == NULL || !set->resolved)
		return;
	collect(set, c, m, d, why);
	if (why != NULL && d->nuse > 0)
		buf_addstr(why, "quotas:\n");
	for (i = 0; i < d->nuse; i++) {
		eval_use(c, &d->use[i], m, now);
		if (m->bypass)
			d->use[i].verdict = POL_V_NONE;
	}
	combine(d);
	if (d->refuse == POL_V_NONE) {
		index_uses(d);
		place_all(c, d, m, now);
		if (!m->bypass && !m->replace && bounds(d, now)) {
			unplace(d);
			combine(d);
			if (d->refuse == POL_V_NONE)
				place_all(c, d, m, now);
		}
	}
	if (why != NULL) {
		for (i = 0; i < d->nuse; i++)
			trace_use(why, &d->use[i]);
		trace_verdicts(d, m, why);
	}
	if (!commit || d->refuse != POL_V_NONE)
		return;
	for (i = 0; i < d->nuse; i++)
		apply(c, &d->use[i], now);
	pol_quota_notices(c, d, now);
	snapshot(c, d);
}

void
pol_decision_undo(struct pol_counters *c, const struct pol_decision *d)
{
	struct pol_centry *e;
	struct pol_cwin *w;
	const struct pol_applied *ap;
	size_t i, j;
	uint32_t k;
	unsigned u;

	pol_notices_undo(c, d);
	for (i = 0; i < d->nuse; i++) {
		e = pol_counters_entry(c, d->use[i].qid, d->use[i].key, false);
		if (e == NULL)
			continue;
		for (j = 0; j < d->use[i].napplied; j++) {
			ap = &d->use[i].applied[j];
			w = pol_cwins(e);
			for (k = 0; k < e->nwin; k++)
				if (w[k].start == ap->start ||
				    d->use[i].sliding)
					break;
			for (u = 0; k < e->nwin && u < POL_NUNIT; u++) {
				w[k].used[u] -= ap->add[u];
				if (w[k].used[u] < 0)
					w[k].used[u] = 0;
			}
		}
	}
}

void
pol_decision_clear(struct pol_decision *d)
{
	size_t i;

	for (i = 0; i < d->nuse; i++) {
		free(d->use[i].key);
		free(d->use[i].ri);
		free(d->use[i].applied);
		free(d->use[i].vw);
	}
	free(d->use);
	free(d->rcpt);
	free(d->rows);
	free(d->resv);
	free(d->notice);
	free(d->ru);
	free(d->ru0);
	memset(d, 0, sizeof(*d));
}
