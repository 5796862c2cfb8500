/*
 * quota_notify: which notify thresholds a committed decision made a key
 * reach (DESIGN.md, "Quotas": `notify 50% 100% to NOTIFIER...`).
 *
 * Use, for a threshold, is what the key holds in the current window and
 * in later ones (its deferred mail), against the limit in force (an
 * override's), in the fullest unit: a sender who queues 500 messages
 * against a limit of 100 reaches 100 % at once.
 *
 * Invariants:
 * - At most one notice per quota, key, window and threshold: the current
 *   window remembers the highest threshold announced in it (notified,
 *   stored with the counters in the message's transaction, so a restart
 *   keeps it).  A message that reaches several thresholds at once gets
 *   one notice, for the highest; the lower ones count as announced.
 * - A sliding counter has no windows: its thresholds are announced again
 *   once its use has decayed below them.
 * - Only a commit makes notices, and pol_decision_undo takes them back
 *   (the window forgets them) with the rest of the decision.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/xalloc.h"
#include "quota_priv.h"

/* The highest threshold of q that use/limit reaches, or 0. */
static unsigned
reached(const struct pol_quota *q, double use, double lim)
{
	unsigned t = 0;
	size_t i;

	for (i = 0; i < q->nnotify; i++)
		if (use * 100.0 + 1e-6 >= lim * (double)q->notify_pct[i])
			t = q->notify_pct[i];
	return t;
}

/* The fullest limited unit of the key's use (this window and later). */
static enum pol_unit
fullest(const struct pol_use *u, const double use[POL_NUNIT])
{
	enum pol_unit best = POL_NUNIT;
	double most = -1, share;
	size_t i;

	for (i = 0; i < u->quota->nlimit; i++) {
		enum pol_unit k = u->quota->limits[i].unit;

		if (isinf(u->lim[k]) || u->lim[k] <= 0)
			continue;
		share = use[k] / u->lim[k];
		if (share > most) {
			most = share;
			best = k;
		}
	}
	return best;
}

static struct pol_notice *
notice_add(struct pol_decision *d, const struct pol_use *u, unsigned t,
    enum pol_unit k, struct pol_cwin *w)
{
	struct pol_notice *n;

	d->notice = xreallocarray(d->notice, d->nnotice + 1,
	    sizeof(*d->notice));
	n = &d->notice[d->nnotice++];
	memset(n, 0, sizeof(*n));
	n->quota = u->quota;
	n->key = u->key;
	n->threshold = t;
	n->unit = k;
	n->limit = (uint64_t)u->lim[k];
	n->prev = w->notified;
	w->notified = t;
	return n;
}

static void
notice_fixed(struct pol_decision *d, const struct pol_use *u,
    struct pol_centry *e, int64_t now)
{
	double use[POL_NUNIT] = { 0 }, later[POL_NUNIT] = { 0 };
	int64_t start, end, next = 0;
	struct pol_notice *n;
	struct pol_cwin *w;
	enum pol_unit k;
	uint32_t i;
	unsigned x, t;

	pol_window_at(&u->quota->period, now, &start, &end);
	w = pol_cwins(e);
	for (i = 0; i < e->nwin; i++)
		for (x = 0; x < POL_NUNIT; x++) {
			if (w[i].start == start)
				use[x] += w[i].used[x];
			else if (w[i].start > start) {
				later[x] += w[i].used[x];
				if (next == 0 && w[i].used[x] > 0)
					next = w[i].start;
			}
		}
	for (x = 0; x < POL_NUNIT; x++)
		use[x] += later[x];
	if ((k = fullest(u, use)) == POL_NUNIT ||
	    (t = reached(u->quota, use[k], u->lim[k])) == 0)
		return;
	w = pol_centry_win(e, start);
	if (t <= w->notified)
		return;
	n = notice_add(d, u, t, k, w);
	n->used = use[k] - later[k];
	n->deferred = later[k];
	n->start = start;
	n->end = end;
	n->next_release = next;
}

static void
notice_sliding(struct pol_decision *d, const struct pol_use *u,
    struct pol_centry *e, int64_t now)
{
	double use[POL_NUNIT];
	struct pol_notice *n;
	struct pol_cwin *w;
	enum pol_unit k;
	unsigned x, t;

	if (e->nwin == 0)
		return;
	w = pol_cwins(e);
	for (x = 0; x < POL_NUNIT; x++)
		use[x] = pol_sliding_value(w->used[x], w->start, now,
		    u->quota->period.secs);
	if ((k = fullest(u, use)) == POL_NUNIT)
		return;
	t = reached(u->quota, use[k], u->lim[k]);
	if (t < w->notified)
		w->notified = t;	/* decayed below: announced again */
	if (t == 0 || t <= w->notified)
		return;
	n = notice_add(d, u, t, k, w);
	n->used = use[k];
	n->start = now - (int64_t)u->quota->period.secs;
	n->end = now;
	n->next_release = w->start > now ? w->start : 0;
}

void
pol_quota_notices(struct pol_counters *c, struct pol_decision *d,
    int64_t now)
{
	struct pol_centry *e;
	const struct pol_use *u;
	size_t i;

	for (i = 0; i < d->nuse; i++) {
		u = &d->use[i];
		if (u->quota->nnotify == 0 || u->exempt || u->napplied == 0)
			continue;
		e = pol_counters_entry(c, u->qid, u->key, false);
		if (e == NULL)
			continue;
		if (u->sliding)
			notice_sliding(d, u, e, now);
		else
			notice_fixed(d, u, e, now);
	}
}

void
pol_notices_undo(struct pol_counters *c, const struct pol_decision *d)
{
	const struct pol_notice *n;
	struct pol_centry *e;
	struct pol_cwin *w;
	size_t i, j;
	uint32_t k;

	for (i = 0; i < d->nnotice; i++) {
		n = &d->notice[i];
		for (j = 0; j < d->nuse && (d->use[j].quota != n->quota ||
		    d->use[j].key != n->key); j++)
			;
		if (j == d->nuse || (e = pol_counters_entry(c,
		    d->use[j].qid, n->key, false)) == NULL)
			continue;
		w = pol_cwins(e);
		for (k = 0; k < e->nwin; k++)
			if (d->use[j].sliding || w[k].start == n->start)
				break;
		if (k < e->nwin && w[k].notified == n->threshold)
			w[k].notified = n->prev;
	}
}
