/*
 * accounting_eval: the counters of accountings, their load, prune and
 * report, and the decision at end of DATA (accounting.h).
 *
 * Counters live in a store of counter.c's own kind (a seeded chained
 * hash: keys come from the network), apart from the quotas': one entry
 * per identity and key, one window per period, sorted by start.  An
 * identity is interned as "K\tpolicy/name" with K the period's kind (d,
 * w, m), so a reload that changes an accounting's period starts it
 * afresh instead of reading a day's figure as a week's; prune then
 * deletes the old period's rows.  Figures are whole numbers kept in
 * counter.c's doubles (exact to 2^53 bytes).  Memory: after a prune,
 * at most keep + 1 periods per key (and any later one a clock set back
 * made), and no key without one.
 *
 * The decision: each recipient's matched policies' accountings, in
 * ascending priority until a stop; a use per accounting and key; over a
 * limit when the period cannot take the whole amount of its recipients;
 * each recipient the strongest verdict; counted, what goes.  Unlike
 * cbpolicyd (reference/cbpolicyd.md 4.4): every limit counts the message
 * before comparing (N pass, the one after is over, for size as for
 * messages), a message counts once per key whatever its recipients, and
 * old periods are pruned.
 *
 * Ownership: a decision owns its uses and rows; rows point into it and
 * into the counters' interned identities.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/xalloc.h"
#include "accounting.h"
#include "quota_priv.h"

struct pol_acct_counters {
	struct pol_counters	*c;
};

struct pol_acct_counters *
pol_acct_counters_new(void)
{
	struct pol_acct_counters *ac = xcalloc(1, sizeof(*ac));

	ac->c = pol_counters_new();
	return ac;
}

void
pol_acct_counters_free(struct pol_acct_counters **acp)
{
	if (*acp == NULL)
		return;
	pol_counters_free(&(*acp)->c);
	free(*acp);
	*acp = NULL;
}

size_t
pol_acct_counters_count(const struct pol_acct_counters *ac)
{
	return pol_counters_count(ac->c);
}

static const char kind_char[] = {
	[POL_PERIOD_DAY] = 'd', [POL_PERIOD_WEEK] = 'w',
	[POL_PERIOD_MONTH] = 'm',
};

static uint32_t
intern(struct pol_acct_counters *ac, enum pol_period_kind kind,
    const char *ident)
{
	char *s = xasprintf("%c\t%s", kind_char[kind], ident);
	uint32_t qid = pol_counters_qid(ac->c, s);

	free(s);
	return qid;
}

/* The identity of qid as rows give it, and its period kind. */
static const char *
ident_of(const struct pol_acct_counters *ac, uint32_t qid,
    struct pol_period *p)
{
	const char *s = ac->c->ident[qid];

	memset(p, 0, sizeof(*p));
	p->kind = s[0] == 'd' ? POL_PERIOD_DAY : s[0] == 'w' ?
	    POL_PERIOD_WEEK : POL_PERIOD_MONTH;
	return s + 2;
}

static struct pol_cwin *
win_find(struct pol_centry *e, int64_t start)
{
	struct pol_cwin *w;
	uint32_t i;

	if (e == NULL)
		return NULL;
	w = pol_cwins(e);
	for (i = e->nwin; i > 0; i--)
		if (w[i - 1].start == start)
			return &w[i - 1];
	return NULL;
}

/* Makes e again with the windows keep[] says (counter.c takes windows
 * out only as a quota's expire); forgets it when none is kept. */
static void
entry_rebuild(struct pol_counters *c, struct pol_centry *e, const bool *keep)
{
	struct pol_cwin *w = pol_cwins(e), *kept;
	uint32_t i, n = 0, qid = e->qid;
	char *key = xstrdup(e->key);

	kept = xcalloc(e->nwin + 1, sizeof(*kept));
	for (i = 0; i < e->nwin; i++)
		if (keep[i])
			kept[n++] = w[i];
	pol_counters_forget(c, e);
	if (n > 0)
		e = pol_counters_entry(c, qid, key, true);
	for (i = 0; i < n; i++)
		*pol_centry_win(e, kept[i].start) = kept[i];
	free(kept);
	free(key);
}

int
pol_acct_load(struct pol_acct_counters *ac, const struct pol_acct_row *r,
    const char **errstr)
{
	struct pol_period p;
	struct pol_centry *e;
	struct pol_cwin *w;
	int64_t s, end;
	unsigned u;

	if (pol_acct_period_parse(r->period, &p, &s, &end, errstr) == -1)
		return -1;
	if (r->used[0] == 0 && r->used[1] == 0 && r->used[2] == 0)
		return 0;
	e = pol_counters_entry(ac->c, intern(ac, p.kind, r->acct), r->key,
	    true);
	w = pol_centry_win(e, s);
	for (u = 0; u < POL_NUNIT; u++)
		w->used[u] = (double)r->used[u];
	return 0;
}

/* What an identity of the counters is in accts: the accounting (NULL:
 * none, or another period), its place, the oldest period start kept. */
struct amap {
	const struct pol_acct	*a;
	size_t			 pos;
	int64_t			 cutoff;
	int64_t			 cur;		/* the period holding now */
};

static struct amap *
acct_map(const struct pol_acct_counters *ac, const struct pol_accts *as,
    int64_t now)
{
	struct amap *map = xcalloc(ac->c->nident + 1, sizeof(*map));
	const struct pol_acct *a;
	struct pol_period p;
	const char *ident;
	int64_t s, e;
	uint32_t q;
	size_t i, k;

	for (q = 0; q < ac->c->nident; q++) {
		ident = ident_of(ac, q, &p);
		for (i = 0; as != NULL && as->resolved && i < as->nacct; i++) {
			a = as->accts[i];
			if (a->period.kind != p.kind ||
			    strcmp(a->ident, ident) != 0)
				continue;
			pol_window_at(&a->period, now, &s, &e);
			map[q].cur = s;
			for (k = 0; k < a->keep && s > INT64_MIN; k++)
				pol_window_at(&a->period, s - 1, &s, &e);
			map[q].a = a;
			map[q].pos = i;
			map[q].cutoff = s;
			break;
		}
	}
	return map;
}

static void
del_row(struct pol_acct_row **out, size_t *n, const char *acct,
    const struct pol_period *p, const char *key, int64_t start)
{
	struct pol_acct_row *row;
	char period[POL_ACCT_PERIOD_MAX];
	int64_t s, e;

	pol_acct_period_at(p, start, period, sizeof(period), &s, &e);
	*out = xreallocarray(*out, *n + 1, sizeof(**out));
	row = &(*out)[(*n)++];
	memset(row, 0, sizeof(*row));
	row->acct = xstrdup(acct);
	row->key = xstrdup(key);
	row->period = xstrdup(period);
	row->start = start;
}

size_t
pol_acct_prune(struct pol_acct_counters *ac, const struct pol_accts *as,
    int64_t now, struct pol_acct_row **del, size_t *ndel)
{
	struct amap *map;
	struct pol_centry *e, **redo = NULL;
	struct pol_clink *l;
	struct pol_cwin *w;
	struct pol_period p;
	bool *keep;
	size_t b, nredo = 0, i;
	uint32_t k;

	*del = NULL;
	*ndel = 0;
	if (as != NULL && !as->resolved)
		return pol_counters_count(ac->c);
	map = acct_map(ac, as, now);
	for (b = 0; b < ac->c->keys.nbucket; b++)
		for (l = ac->c->keys.bucket[b]; l != NULL; l = l->next) {
			e = (struct pol_centry *)l;
			w = pol_cwins(e);
			for (k = 0, i = *ndel; k < e->nwin; k++)
				if (map[e->qid].a == NULL ||
				    w[k].start < map[e->qid].cutoff)
					del_row(del, ndel, ident_of(ac, e->qid,
					    &p), &p, e->key, w[k].start);
			if (*ndel == i && e->nwin > 0)
				continue;
			redo = xreallocarray(redo, nredo + 1, sizeof(*redo));
			redo[nredo++] = e;
		}
	for (i = 0; i < nredo; i++) {
		e = redo[i];
		w = pol_cwins(e);
		keep = xcalloc(e->nwin + 1, sizeof(*keep));
		for (k = 0; k < e->nwin; k++)
			keep[k] = map[e->qid].a != NULL &&
			    w[k].start >= map[e->qid].cutoff;
		entry_rebuild(ac->c, e, keep);
		free(keep);
	}
	free(redo);
	free(map);
	return pol_counters_count(ac->c);
}

void
pol_acct_rows_free(struct pol_acct_row *rows, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free((char *)rows[i].acct);
		free((char *)rows[i].key);
		free((char *)rows[i].period);
	}
	free(rows);
}

struct rep_item {
	const struct amap	*m;
	const char		*key;
	const struct pol_cwin	*w;
};

static int
rep_cmp(const void *x, const void *y)
{
	const struct rep_item *a = x, *b = y;
	int c;

	if (a->m->pos != b->m->pos)
		return a->m->pos < b->m->pos ? -1 : 1;
	if ((c = strcmp(a->key, b->key)) != 0)
		return c;
	return a->w->start > b->w->start ? -1 : a->w->start < b->w->start;
}

static void
usage_of(const struct rep_item *it, struct pol_acct_usage *u, char *period)
{
	const struct pol_acct *a = it->m->a;
	const struct pol_limit *l;
	unsigned k;

	memset(u, 0, sizeof(*u));
	u->acct = a;
	u->key = it->key;
	pol_acct_period_at(&a->period, it->w->start, period,
	    POL_ACCT_PERIOD_MAX, &u->start, &u->end);
	u->period = period;
	u->current = it->w->start == it->m->cur;
	for (k = 0; k < POL_NUNIT; k++) {
		u->used[k] = (uint64_t)it->w->used[k];
		u->pct[k] = -1;
		if ((l = pol_acct_limit(a, k)) == NULL)
			continue;
		u->has_limit[k] = true;
		u->limit[k] = l->n;
		u->pct[k] = l->n ? 100.0 * (double)u->used[k] / (double)l->n :
		    100;
	}
}

void
pol_acct_report(struct pol_acct_counters *ac, const struct pol_accts *as,
    const char *key, bool history, int64_t now, pol_acct_usage_cb *cb,
    void *arg)
{
	struct amap *map = acct_map(ac, as, now);
	struct rep_item *it = NULL;
	struct pol_acct_usage u;
	char period[POL_ACCT_PERIOD_MAX];
	struct pol_centry *e;
	struct pol_clink *l;
	size_t b, n = 0;
	uint32_t k;

	for (b = 0; b < ac->c->keys.nbucket; b++)
		for (l = ac->c->keys.bucket[b]; l != NULL; l = l->next) {
			e = (struct pol_centry *)l;
			if (map[e->qid].a == NULL ||
			    (key != NULL && strcmp(key, e->key) != 0))
				continue;
			for (k = 0; k < e->nwin; k++) {
				if (!history &&
				    pol_cwins(e)[k].start != map[e->qid].cur)
					continue;
				it = xreallocarray(it, n + 1, sizeof(*it));
				it[n].m = &map[e->qid];
				it[n].key = e->key;
				it[n++].w = &pol_cwins(e)[k];
			}
		}
	if (n > 0)
		qsort(it, n, sizeof(*it), rep_cmp);
	for (b = 0; b < n; b++) {
		usage_of(&it[b], &u, period);
		cb(&u, arg);
	}
	free(it);
	free(map);
}

static bool
rcpt_track(enum pol_track t)
{
	return t == POL_TRACK_RCPT || t == POL_TRACK_RCPT_DOMAIN ||
	    t == POL_TRACK_RCPT_LOCAL;
}

/* n recipients of the message under a: a message counts once, size
 * once per message or once per recipient on Recipient tracks (as a
 * quota's units, quota.h). */
static void
amount_of(const struct pol_acct *a, const struct pol_msg *m, size_t n,
    uint64_t out[POL_NUNIT])
{
	out[POL_UNIT_MESSAGES] = n > 0;
	out[POL_UNIT_RECIPIENTS] = n;
	out[POL_UNIT_SIZE] = n == 0 ? 0 : rcpt_track(a->track) ?
	    m->size * n : m->size;
}

static struct pol_acct_use *
use_of(struct pol_acct_decision *d, struct pol_acct_counters *ac,
    const struct pol_acct *a, const char *key, size_t nrcpt)
{
	struct pol_acct_use *u;
	size_t i;

	for (i = 0; i < d->nuse; i++)
		if (d->use[i].acct == a && strcmp(d->use[i].key, key) == 0)
			return &d->use[i];
	d->use = xreallocarray(d->use, d->nuse + 1, sizeof(*d->use));
	u = &d->use[d->nuse++];
	memset(u, 0, sizeof(*u));
	u->acct = a;
	u->key = xstrdup(key);
	u->qid = intern(ac, a->period.kind, a->ident);
	u->ri = xcalloc(nrcpt + 1, sizeof(*u->ri));
	return u;
}

/* The accountings of one recipient's matched policies, in order, until
 * a stop. */
static void
collect_rcpt(const struct pol_accts *as, struct pol_acct_counters *ac,
    const struct pol_msg *m, size_t r, const struct pol_policy **pols,
    size_t n, struct pol_acct_decision *d, struct buf *why)
{
	const struct pol_acct *a;
	struct pol_acct_use *u;
	char key[512];
	size_t i, j;
	bool stop = false, any = false;

	for (i = 0; i < n && !stop; i++)
		for (j = as->span[2 * pols[i]->index]; !stop &&
		    j < as->span[2 * pols[i]->index + 1]; j++) {
			a = as->accts[j];
			if (!pol_track_key(a->track, a->v4_prefix, a->v6_prefix,
			    a->policy->name, m, r, key, sizeof(key))) {
				if (why != NULL)
					buf_printf(why, "  accounting %s: no "
					    "key (%s), does not apply\n",
					    a->ident, pol_track_name(a->track));
				continue;
			}
			u = use_of(d, ac, a, key, m->nrcpt);
			u->ri[u->nrcpt++] = r;
			stop = a->stop;
			any = true;
			if (why != NULL)
				buf_printf(why, "  accounting %s applies: key "
				    "%s%s\n", a->ident, key, stop ? "; stop: "
				    "no later accounting applies" : "");
		}
	if (why != NULL && !any)
		buf_addstr(why, "  no accounting applies\n");
}

static void
collect(const struct pol_accts *as, struct pol_acct_counters *ac,
    const struct pol_msg *m, struct pol_acct_decision *d, struct buf *why)
{
	const struct pol_policy **pols;
	struct pol_input in;
	size_t r, n;

	pols = xcalloc(as->set->npolicy + 1, sizeof(*pols));
	memset(&in, 0, sizeof(in));
	in.client = m->client;
	in.sender = m->sender;
	in.sasl = m->sasl;
	for (r = 0; r < m->nrcpt; r++) {
		if (why != NULL)
			buf_printf(why, "recipient %s:\n", m->rcpts[r]);
		if (m->skip != NULL && m->skip[r]) {
			if (why != NULL)
				buf_addstr(why, "  decided before (access or "
				    "a quota): no accounting counts it\n");
			continue;
		}
		in.recipient = m->rcpts[r];
		n = pol_set_match(as->set, &in, pols, as->set->npolicy);
		collect_rcpt(as, ac, m, r, pols, n, d, why);
	}
	free(pols);
}

/* The use's figures now and its verdict: over when a limit cannot take
 * the whole amount (N pass, the N + 1st is over). */
static void
eval_use(struct pol_acct_counters *ac, struct pol_acct_use *u,
    const struct pol_msg *m, int64_t now)
{
	const struct pol_acct *a = u->acct;
	struct pol_cwin *w;
	double share, most = -1;
	uint64_t n;
	size_t i;
	unsigned k;

	pol_acct_period_at(&a->period, now, u->period, sizeof(u->period),
	    &u->start, &u->end);
	w = win_find(pol_counters_entry(ac->c, u->qid, u->key, false),
	    u->start);
	for (k = 0; k < POL_NUNIT; k++)
		u->used[k] = w != NULL ? (uint64_t)w->used[k] : 0;
	amount_of(a, m, u->nrcpt, u->amount);
	u->unit = a->nlimit > 0 ? a->limits[0].unit : POL_UNIT_MESSAGES;
	for (i = 0; i < a->nlimit; i++) {
		k = a->limits[i].unit;
		n = a->limits[i].n;
		if (u->amount[k] > n || u->used[k] > n - u->amount[k]) {
			u->unit = k;
			u->verdict = a->verdict;
			return;
		}
		share = n ? (double)(u->used[k] + u->amount[k]) / (double)n :
		    0;
		if (share > most) {
			most = share;
			u->unit = k;
		}
	}
}

static int
rank(enum pol_verdict v)
{
	switch (v) {
	case POL_V_REJECT:	return 5;
	case POL_V_TEMPFAIL:	return 4;
	case POL_V_HOLD:	return 3;
	case POL_V_DISCARD:	return 2;
	case POL_V_PASS:	return 1;
	default:		return 0;
	}
}

/* Each recipient's strongest verdict; a reject or tempfail refuses the
 * message with the accounting's reply or ours. */
static void
combine(struct pol_acct_decision *d)
{
	const struct pol_acct_use *u, *refuse = NULL;
	struct pol_acct_rcpt *o;
	char text[POL_REPLY_MAX], per[16];
	size_t i, j;

	for (i = 0; i < d->nuse; i++) {
		u = &d->use[i];
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
	if (refuse->acct->reply != NULL) {
		pol_verdict_reply(refuse->verdict, refuse->acct->reply,
		    d->reply, sizeof(d->reply));
		return;
	}
	pol_period_format(&refuse->acct->period, per, sizeof(per));
	snprintf(text, sizeof(text), "Accounting limit reached (%s: %s %llu "
	    "per %s)%s", refuse->acct->ident, pol_unit_name(refuse->unit),
	    (unsigned long long)pol_acct_limit(refuse->acct,
	    refuse->unit)->n, per, refuse->verdict == POL_V_TEMPFAIL ?
	    ", try again later" : "");
	pol_verdict_reply(refuse->verdict, text, d->reply, sizeof(d->reply));
}

/* What each use adds: its recipients that go (verdict none or pass),
 * nothing at all when the message is refused. */
static void
count(struct pol_acct_decision *d, const struct pol_msg *m)
{
	struct pol_acct_use *u;
	size_t i, j, n;

	for (i = 0; i < d->nuse; i++) {
		u = &d->use[i];
		for (j = n = 0; d->refuse == POL_V_NONE && j < u->nrcpt; j++)
			n += rank(d->rcpt[u->ri[j]].verdict) <=
			    rank(POL_V_PASS);
		amount_of(u->acct, m, n, u->counted);
	}
}

static void
apply(struct pol_acct_counters *ac, struct pol_acct_decision *d)
{
	struct pol_acct_use *u;
	struct pol_acct_row *row;
	struct pol_period p;
	struct pol_cwin *w;
	size_t i;
	unsigned k;

	for (i = 0; i < d->nuse; i++) {
		u = &d->use[i];
		if (u->counted[POL_UNIT_RECIPIENTS] == 0)
			continue;
		w = pol_centry_win(pol_counters_entry(ac->c, u->qid, u->key,
		    true), u->start);
		d->rows = xreallocarray(d->rows, d->nrow + 1,
		    sizeof(*d->rows));
		row = &d->rows[d->nrow++];
		row->acct = ident_of(ac, u->qid, &p);
		row->key = u->key;
		row->period = u->period;
		row->start = u->start;
		for (k = 0; k < POL_NUNIT; k++) {
			w->used[k] += (double)u->counted[k];
			row->used[k] = (uint64_t)w->used[k];
		}
	}
	d->committed = true;
}

static void
trace(const struct pol_acct_decision *d, const struct pol_msg *m,
    struct buf *why)
{
	const struct pol_acct_use *u;
	const struct pol_limit *l;
	size_t i;
	unsigned k;

	if (d->nuse > 0)
		buf_addstr(why, "accountings:\n");
	for (i = 0; i < d->nuse; i++) {
		u = &d->use[i];
		buf_printf(why, "  accounting %s: key %s period %s:",
		    u->acct->ident, u->key, u->period);
		for (k = 0; k < POL_NUNIT; k++) {
			buf_printf(why, "%s %s %llu+%llu", k ? "," : "",
			    pol_unit_name(k), (unsigned long long)u->used[k],
			    (unsigned long long)u->amount[k]);
			if ((l = pol_acct_limit(u->acct, k)) != NULL)
				buf_printf(why, "/%llu",
				    (unsigned long long)l->n);
		}
		if (u->verdict == POL_V_NONE)
			buf_printf(why, ": %s\n", u->acct->nlimit ? "within "
			    "the limits" : "counted");
		else
			buf_printf(why, ": over the %s limit: %s\n",
			    pol_unit_name(u->unit),
			    pol_verdict_name(u->verdict));
	}
	if (d->refuse != POL_V_NONE)
		buf_printf(why, "message: refused: %s\n", d->reply);
	for (i = 0; d->refuse == POL_V_NONE && i < d->nrcpt; i++)
		if (d->rcpt[i].use != NULL)
			buf_printf(why, "verdict %s: %s (accounting %s, key "
			    "%s)\n", m->rcpts[i],
			    pol_verdict_name(d->rcpt[i].verdict),
			    d->rcpt[i].use->acct->ident, d->rcpt[i].use->key);
}

void
pol_acct_decide(const struct pol_accts *as, struct pol_acct_counters *ac,
    const struct pol_msg *m, int64_t now, bool commit,
    struct pol_acct_decision *d, struct buf *why)
{
	size_t i;

	memset(d, 0, sizeof(*d));
	d->nrcpt = m->nrcpt;
	d->rcpt = xcalloc(m->nrcpt + 1, sizeof(*d->rcpt));
	/* a set changed since (a policy added) needs a new resolve */
	if (as == NULL || !as->resolved || !as->set->resolved ||
	    as->set->npolicy != as->npolicy)
		return;
	collect(as, ac, m, d, why);
	for (i = 0; i < d->nuse; i++)
		eval_use(ac, &d->use[i], m, now);
	combine(d);
	count(d, m);
	if (why != NULL)
		trace(d, m, why);
	if (commit)
		apply(ac, d);
}

void
pol_acct_undo(struct pol_acct_counters *ac, const struct pol_acct_decision *d)
{
	const struct pol_acct_use *u;
	struct pol_centry *e;
	struct pol_cwin *w;
	bool *keep;
	size_t i;
	uint32_t k;
	unsigned x;

	for (i = 0; d->committed && i < d->nuse; i++) {
		u = &d->use[i];
		e = pol_counters_entry(ac->c, u->qid, u->key, false);
		if (u->counted[POL_UNIT_RECIPIENTS] == 0 ||
		    (w = win_find(e, u->start)) == NULL)
			continue;
		for (x = 0; x < POL_NUNIT; x++)
			w->used[x] = w->used[x] > (double)u->counted[x] ?
			    w->used[x] - (double)u->counted[x] : 0;
		if (w->used[0] != 0 || w->used[1] != 0 || w->used[2] != 0)
			continue;
		keep = xcalloc(e->nwin, sizeof(*keep));
		for (k = 0; k < e->nwin; k++)
			keep[k] = &pol_cwins(e)[k] != w;
		entry_rebuild(ac->c, e, keep);
		free(keep);
	}
}

void
pol_acct_decision_clear(struct pol_acct_decision *d)
{
	size_t i;

	for (i = 0; i < d->nuse; i++) {
		free(d->use[i].key);
		free(d->use[i].ri);
	}
	free(d->use);
	free(d->rcpt);
	free(d->rows);
	memset(d, 0, sizeof(*d));
}
