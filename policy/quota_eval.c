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
client_key(const struct pol_quota *q, const struct addr *a, char *out,
    size_t outsz)
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
	c.prefix = c.net.family == AF_INET ? q->v4_prefix : q->v6_prefix;
	for (i = 0; i < 16; i++) {
		bits = c.prefix > i * 8 ? c.prefix - i * 8 : 0;
		if (bits < 8)
			c.net.bytes[i] &= (uint8_t)(0xff00u >> bits);
	}
	cidr_format(&c, out, outsz);
	return true;
}

/* The key of quota q for recipient r, or false when it does not apply. */
static bool
quota_key(const struct pol_quota *q, const struct pol_msg *m, size_t r,
    char *out, size_t outsz)
{
	switch (q->track) {
	case POL_TRACK_SENDER:
	case POL_TRACK_SENDER_DOMAIN:
	case POL_TRACK_SENDER_LOCAL:
		addr_key(m->sender ? m->sender : "", q->track, out, outsz);
		return true;
	case POL_TRACK_RCPT:
	case POL_TRACK_RCPT_DOMAIN:
	case POL_TRACK_RCPT_LOCAL:
		addr_key(m->rcpts[r], q->track, out, outsz);
		return true;
	case POL_TRACK_SENDER_IP:
		return client_key(q, m->client, out, outsz);
	case POL_TRACK_SASL:
		if (m->sasl == NULL || *m->sasl == '\0')
			return false;
		snprintf(out, outsz, "%s", m->sasl);
		lower(out);
		return true;
	case POL_TRACK_POLICY:
		snprintf(out, outsz, "%s", q->policy->name);
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

/* Over the limit: the quota's verdict; a message that alone exceeds a
 * limit can never fit, and is refused unless the verdict lets it go
 * (pass) or drops it (discard).  False when a release time is wanted. */
static bool
over(struct pol_use *u, const double a[POL_NUNIT],
    const double lim[POL_NUNIT])
{
	static const double zero[POL_NUNIT];
	enum pol_verdict v = u->quota->verdict;

	u->verdict = v;
	if (v != POL_V_PASS && v != POL_V_DISCARD && !fits(zero, a, lim))
		u->never = true;
	return v != POL_V_DEFER || u->never;
}

/* Deferring the use's recipients would take the key's waiting ones past
 * the backlog: when-full's verdict instead (a compromised account cannot
 * fill the queue). */
static bool
backlog_full(struct pol_use *u, double waiting)
{
	if (waiting + (double)u->nrcpt <= (double)pol_quota_backlog(u->quota))
		return false;
	u->full = true;
	u->verdict = u->quota->when_full;
	return true;
}

static const struct pol_cwin *
window_find(const struct pol_centry *e, int64_t start)
{
	const struct pol_cwin *w;
	uint32_t i;

	if (e == NULL)
		return NULL;
	w = pol_cwins((struct pol_centry *)e);
	for (i = 0; i < e->nwin; i++)
		if (w[i].start == start)
			return &w[i];
	return NULL;
}

/* The first time from t on when the use's amount fits its window: what
 * is counted and reserved there, plus this message, within the limits.
 * Past the last window holding anything, every window is empty, so the
 * walk ends (a message that fits no window was refused before). */
static int64_t
fixed_fit(const struct pol_use *u, int64_t t)
{
	static const double zero[POL_NUNIT];
	const struct pol_cwin *w;
	int64_t s, end;

	for (;;) {
		pol_window_at(&u->quota->period, t, &s, &end);
		w = window_find(u->e, s);
		if (fits(w ? w->used : zero, u->a, u->lim) || end <= t)
			return t;
		t = end;
	}
}

static void
eval_fixed(struct pol_use *u, struct pol_centry *e, const double a[],
    const double lim[], int64_t now)
{
	const struct pol_quota *q = u->quota;
	static const double zero[POL_NUNIT];
	const struct pol_cwin *w = e ? pol_cwins(e) : NULL, *cur;
	int64_t s, end;
	double waiting = 0;
	uint32_t i;

	pol_window_at(&q->period, now, &s, &end);
	cur = window_find(e, s);
	u->start = s;
	u->end = end;
	use_set(u, cur ? cur->used : zero, a, lim,
	    show_unit(q, cur ? cur->used : zero, a, lim));
	if (u->exempt || fits(cur ? cur->used : zero, a, lim))
		return;
	if (over(u, a, lim))
		return;
	for (i = 0; e != NULL && i < e->nwin; i++)
		if (w[i].start > s)
			waiting += w[i].used[POL_UNIT_RECIPIENTS];
	if (backlog_full(u, waiting))
		return;
	u->release = fixed_fit(u, end);
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

/* The first time from t on when value + amount fits every limit: the
 * decay is linear, so it is a formula (a counter moved to a later
 * release time is worth its value there until then). */
static int64_t
sliding_fit(const struct pol_use *u, int64_t from)
{
	const struct pol_cwin *w = u->e && u->e->nwin ?
	    pol_cwins(u->e) : NULL;
	uint64_t p = u->quota->period.secs;
	double t = (double)(w && w->start > from ? w->start : from), need;
	int64_t r;
	unsigned k;

	for (k = 0; k < POL_NUNIT && w != NULL; k++) {
		if (w->used[k] <= 0 || slide_at(w, k, (int64_t)t, p) + u->a[k] <=
		    u->lim[k])
			continue;
		need = (double)w->start + (double)p * (1.0 - (u->lim[k] -
		    u->a[k]) / w->used[k]);
		if (need > t)
			t = need;
	}
	r = (int64_t)t;
	if ((double)r < t)
		r++;		/* ceil(3) without libm */
	return r;
}

static void
eval_sliding(struct pol_use *u, struct pol_centry *e, const double a[],
    const double lim[], int64_t now)
{
	const struct pol_quota *q = u->quota;
	const struct pol_cwin *w = e && e->nwin ? pol_cwins(e) : NULL;
	double used[POL_NUNIT];
	uint64_t p = q->period.secs;
	unsigned k;

	for (k = 0; k < POL_NUNIT; k++)
		used[k] = slide_at(w, k, now, p);
	u->start = now - (int64_t)p;
	u->end = now;
	use_set(u, used, a, lim, show_unit(q, used, a, lim));
	if (u->exempt || ((w == NULL || w->start <= now) &&
	    fits(used, a, lim)))
		return;
	if (over(u, a, lim))
		return;
	if (w != NULL && w->start > now &&
	    backlog_full(u, w->used[POL_UNIT_RECIPIENTS]))
		return;
	u->release = sliding_fit(u, now);
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
		eval_sliding(u, e, a, lim, now);
	else
		eval_fixed(u, e, a, lim, now);
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
	else if (u->verdict == POL_V_DEFER) {
		fmt_time(u->release, tr, sizeof(tr));
		buf_printf(why, ": over, defer until %s\n", tr);
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

				if (!quota_key(q, m, r, key, sizeof(key))) {
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

static bool
covers(const struct pol_use *u, size_t r)
{
	size_t j;

	for (j = 0; j < u->nrcpt; j++)
		if (u->ri[j] == r)
			return true;
	return false;
}

/* A deferred recipient: the earliest time from t on when every quota
 * that applies to it has room (each quota's first fit, again from the
 * latest of them, until they agree). */
static int64_t
common_fit(const struct pol_decision *d, size_t r, int64_t t)
{
	const struct pol_use *u;
	int64_t next, f;
	size_t i;

	for (;;) {
		next = t;
		for (i = 0; i < d->nuse; i++) {
			u = &d->use[i];
			if (u->exempt || !covers(u, r))
				continue;
			f = u->sliding ? sliding_fit(u, t) : fixed_fit(u, t);
			if (f > next)
				next = f;
		}
		if (next == t)
			return t;
		t = next;
	}
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
			if (u->verdict == POL_V_DEFER && u->release >
			    o->release)
				o->release = u->release;
		}
		if (rank(u->verdict) >= rank(POL_V_TEMPFAIL) &&
		    (refuse == NULL || rank(u->verdict) >
		    rank(refuse->verdict)))
			refuse = u;
	}
	for (i = 0; i < d->nrcpt; i++) {
		if (d->rcpt[i].verdict != POL_V_DEFER)
			d->rcpt[i].release = 0;
		else
			d->rcpt[i].release = common_fit(d, i,
			    d->rcpt[i].release);
	}
	if (refuse == NULL)
		return;
	d->refuse = refuse->verdict;
	if (refuse->never)
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

static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

static void
apply_add(struct pol_use *u, struct pol_centry *e, int64_t t,
    const double a[POL_NUNIT], int64_t now)
{
	const struct pol_quota *q = u->quota;
	struct pol_applied *ap;
	struct pol_cwin *w;
	int64_t s, end;
	unsigned k;

	if (q->window == POL_WIN_SLIDING) {
		w = e->nwin ? pol_cwins(e) : pol_centry_win(e, t);
		for (k = 0; k < POL_NUNIT; k++)
			w->used[k] = slide_at(w, k, t > now ? t : now,
			    q->period.secs) + a[k];
		if (t > w->start)
			w->start = t;
		s = w->start;
	} else {
		pol_window_at(&q->period, t, &s, &end);
		w = pol_centry_win(e, s);
		for (k = 0; k < POL_NUNIT; k++)
			w->used[k] += a[k];
	}
	u->applied = xreallocarray(u->applied, u->napplied + 1,
	    sizeof(*u->applied));
	ap = &u->applied[u->napplied++];
	ap->start = s;
	memcpy(ap->add, a, sizeof(ap->add));
}

/* Step 5 for one use: what leaves now, and each release's portion. */
static void
apply(struct pol_counters *c, struct pol_decision *d, struct pol_use *u,
    const struct pol_msg *m, int64_t now)
{
	struct pol_centry *e;
	double a[POL_NUNIT];
	int64_t *t;
	size_t i, n = 0, k;

	t = xcalloc(u->nrcpt + 1, sizeof(*t));
	for (i = 0; i < u->nrcpt; i++) {
		const struct pol_rcpt_out *o = &d->rcpt[u->ri[i]];

		if (o->verdict == POL_V_HOLD || o->verdict == POL_V_DISCARD)
			continue;
		t[n++] = o->verdict == POL_V_DEFER ? o->release : now;
	}
	if (n == 0) {
		free(t);
		return;
	}
	qsort(t, n, sizeof(*t), cmp_i64);
	e = pol_counters_entry(c, u->qid, u->key, true);
	for (i = 0; i < n; i = k) {
		for (k = i; k < n && t[k] == t[i]; k++)
			;
		amount_of(u->quota, m, k - i, i == 0, a);
		apply_add(u, e, t[i], a, now);
	}
	free(t);
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
		}
	}
}

void
pol_quota_decide(const struct pol_set *set, struct pol_counters *c,
    const struct pol_msg *m, int64_t now, bool commit,
    struct pol_decision *d, struct buf *why)
{
	char tr[TIMEFMT_LEN];
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
		if (why != NULL)
			trace_use(why, &d->use[i]);
	}
	combine(d);
	if (why != NULL) {
		if (d->refuse != POL_V_NONE)
			buf_printf(why, "message: refused: %s\n", d->reply);
		for (i = 0; d->refuse == POL_V_NONE && i < d->nrcpt; i++) {
			buf_printf(why, "verdict %s: ", m->rcpts[i]);
			switch (d->rcpt[i].verdict) {
			case POL_V_DEFER:
				fmt_time(d->rcpt[i].release, tr, sizeof(tr));
				buf_printf(why, "defer until %s\n", tr);
				break;
			case POL_V_NONE:
				buf_addstr(why, "deliver now\n");
				break;
			case POL_V_PASS:
				buf_addstr(why, "deliver now (over a quota "
				    "whose verdict is pass)\n");
				break;
			default:
				buf_printf(why, "%s\n",
				    pol_verdict_name(d->rcpt[i].verdict));
			}
		}
	}
	if (!commit || d->refuse != POL_V_NONE)
		return;
	for (i = 0; i < d->nuse; i++)
		apply(c, d, &d->use[i], m, now);
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
	}
	free(d->use);
	free(d->rcpt);
	free(d->rows);
	memset(d, 0, sizeof(*d));
}
