/*
 * counter: the quota counters in memory (quota.h), keyed by quota
 * identity ("policy/quota") and key, and the administrators' overrides.
 *
 * Keys come from the network (sender addresses, logins), so the hash is
 * seeded at random: a sender cannot pick addresses that all fall in one
 * chain.  Quota identities are interned to small numbers (qid) so an
 * entry does not carry its quota's name.
 *
 * Memory: an entry is a chain link, the qid, one window inline and the
 * key; a key with deferred mail in later windows gets an array of them.
 */
#include <stdlib.h>
#include <string.h>

#include "../lib/xalloc.h"
#include "quota_priv.h"

struct pol_qident {
	struct pol_clink	 link;
	uint32_t		 qid;
	char			 name[];
};

static uint64_t
hash_bytes(uint64_t seed, uint32_t tag, const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull ^ seed;

	h = (h ^ tag) * 0x100000001b3ull;
	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
	/* a final mix so the seed reaches every bit */
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return h;
}

static void
chash_grow(struct pol_chash *t)
{
	struct pol_clink **old = t->bucket, *l, *next;
	size_t oldn = t->nbucket, i, j;

	t->nbucket = oldn ? oldn * 2 : 64;
	t->bucket = xcalloc(t->nbucket, sizeof(*t->bucket));
	for (i = 0; i < oldn; i++)
		for (l = old[i]; l != NULL; l = next) {
			next = l->next;
			j = l->hash & (t->nbucket - 1);
			l->next = t->bucket[j];
			t->bucket[j] = l;
		}
	free(old);
}

static void
chash_insert(struct pol_chash *t, struct pol_clink *l)
{
	size_t j;

	if (t->n >= t->nbucket)
		chash_grow(t);
	j = l->hash & (t->nbucket - 1);
	l->next = t->bucket[j];
	t->bucket[j] = l;
	t->n++;
}

static void
chash_remove(struct pol_chash *t, struct pol_clink *l)
{
	struct pol_clink **pp = &t->bucket[l->hash & (t->nbucket - 1)];

	for (; *pp != NULL; pp = &(*pp)->next)
		if (*pp == l) {
			*pp = l->next;
			t->n--;
			return;
		}
}

static struct pol_clink *
chash_first(const struct pol_chash *t, uint64_t hash)
{
	return t->nbucket ? t->bucket[hash & (t->nbucket - 1)] : NULL;
}

static void
chash_free(struct pol_chash *t, void (*fr)(struct pol_clink *))
{
	struct pol_clink *l, *next;
	size_t i;

	for (i = 0; i < t->nbucket; i++)
		for (l = t->bucket[i]; l != NULL; l = next) {
			next = l->next;
			fr(l);
		}
	free(t->bucket);
	memset(t, 0, sizeof(*t));
}

struct pol_counters *
pol_counters_new(void)
{
	struct pol_counters *c = xcalloc(1, sizeof(*c));

	c->seed = ((uint64_t)arc4random() << 32) | arc4random();
	return c;
}

static void
entry_free(struct pol_clink *l)
{
	struct pol_centry *e = (struct pol_centry *)l;

	free(e->more);
	free(e);
}

static void
plain_free(struct pol_clink *l)
{
	free(l);
}

void
pol_counters_free(struct pol_counters **cp)
{
	struct pol_counters *c = *cp;
	uint32_t i;

	if (c == NULL)
		return;
	chash_free(&c->keys, entry_free);
	chash_free(&c->ovr, plain_free);
	chash_free(&c->idents, plain_free);
	for (i = 0; i < c->nident; i++)
		free(c->ident[i]);
	free(c->ident);
	free(c);
	*cp = NULL;
}

uint32_t
pol_counters_qid(struct pol_counters *c, const char *ident)
{
	uint64_t h = hash_bytes(0, 'q', ident);
	struct pol_clink *l;
	struct pol_qident *q;
	size_t len = strlen(ident);

	for (l = chash_first(&c->idents, h); l != NULL; l = l->next) {
		q = (struct pol_qident *)l;
		if (l->hash == h && strcmp(q->name, ident) == 0)
			return q->qid;
	}
	q = xcalloc(1, sizeof(*q) + len + 1);
	memcpy(q->name, ident, len);
	q->link.hash = h;
	q->qid = c->nident;
	chash_insert(&c->idents, &q->link);
	c->ident = xreallocarray(c->ident, c->nident + 1, sizeof(*c->ident));
	c->ident[c->nident++] = xstrdup(ident);
	return q->qid;
}

struct pol_centry *
pol_counters_entry(struct pol_counters *c, uint32_t qid, const char *key,
    bool create)
{
	uint64_t h = hash_bytes(c->seed, qid, key);
	struct pol_clink *l;
	struct pol_centry *e;
	size_t len;

	for (l = chash_first(&c->keys, h); l != NULL; l = l->next) {
		e = (struct pol_centry *)l;
		if (l->hash == h && e->qid == qid && strcmp(e->key, key) == 0)
			return e;
	}
	if (!create)
		return NULL;
	len = strlen(key);
	e = xcalloc(1, sizeof(*e) + len + 1);
	memcpy(e->key, key, len);
	e->link.hash = h;
	e->qid = qid;
	chash_insert(&c->keys, &e->link);
	return e;
}

struct pol_cwin *
pol_centry_win(struct pol_centry *e, int64_t start)
{
	struct pol_cwin *w = pol_cwins(e);
	uint32_t i;

	for (i = 0; i < e->nwin && w[i].start < start; i++)
		;
	if (i < e->nwin && w[i].start == start)
		return &w[i];
	if (e->nwin == 0) {
		memset(&e->w0, 0, sizeof(e->w0));
		e->w0.start = start;
		e->nwin = 1;
		return &e->w0;
	}
	if (e->more == NULL) {
		e->more = xcalloc(4, sizeof(*e->more));
		e->more[0] = e->w0;
	} else if ((e->nwin & (e->nwin - 1)) == 0 && e->nwin >= 4)
		e->more = xreallocarray(e->more, e->nwin * 2,
		    sizeof(*e->more));
	w = e->more;
	memmove(&w[i + 1], &w[i], (e->nwin - i) * sizeof(*w));
	memset(&w[i], 0, sizeof(w[i]));
	w[i].start = start;
	e->nwin++;
	return &w[i];
}

/* Keeps windows [from, nwin). */
static void
centry_drop_front(struct pol_centry *e, uint32_t from)
{
	if (from == 0)
		return;
	if (e->more == NULL) {
		e->nwin = 0;
		return;
	}
	e->nwin -= from;
	memmove(e->more, e->more + from, e->nwin * sizeof(*e->more));
	if (e->nwin <= 1) {
		if (e->nwin == 1)
			e->w0 = e->more[0];
		free(e->more);
		e->more = NULL;
	}
}

/* Takes window i out. */
static void
centry_remove(struct pol_centry *e, uint32_t i)
{
	struct pol_cwin *w = pol_cwins(e);

	memmove(&w[i], &w[i + 1], (e->nwin - i - 1) * sizeof(*w));
	e->nwin--;
	if (e->more != NULL && e->nwin <= 1) {
		if (e->nwin == 1)
			e->w0 = e->more[0];
		free(e->more);
		e->more = NULL;
	}
}

/*
 * A reload may change a quota's period or window: what was counted under
 * the old one moves into the window of the new one that holds its start,
 * or into the current one when that window is already over (a period
 * made shorter: the counts could be from any time up to now, and a limit
 * must not be granted afresh); sliding, into one counter at the latest
 * start.  So an hour's 2 messages become 2 of the day, a day's 5 become
 * 5 of the current hour.  Without this, a window of the old period could
 * read as mail waiting for later, or its counts be lost.
 */
static void
centry_realign(struct pol_centry *e, const struct pol_quota *q, int64_t now)
{
	struct pol_cwin moved, *dst, *w;
	int64_t s, end, cur, cend;
	uint32_t i = 0;
	unsigned u;

	pol_window_at(&q->period, now, &cur, &cend);
	while (i < e->nwin) {
		w = pol_cwins(e);
		if (q->window == POL_WIN_SLIDING) {
			if (e->nwin == 1)
				return;
			s = w[e->nwin - 1].start;
		} else
			pol_window_at(&q->period, w[i].start, &s, &end);
		if (s == w[i].start) {
			i++;
			continue;
		}
		if (q->window != POL_WIN_SLIDING && s < cur)
			s = cur;
		moved = w[i];
		centry_remove(e, i);
		dst = pol_centry_win(e, s);
		for (u = 0; u < POL_NUNIT; u++)
			dst->used[u] += moved.used[u];
		if (moved.notified > dst->notified)
			dst->notified = moved.notified;
		i = 0;
	}
}

void
pol_centry_expire(struct pol_centry *e, const struct pol_quota *q,
    int64_t now)
{
	struct pol_cwin *w;
	int64_t s, end;
	uint32_t i;

	centry_realign(e, q, now);
	w = pol_cwins(e);
	if (q->window == POL_WIN_SLIDING) {
		if (e->nwin > 0 && now - w[0].start >=
		    (int64_t)q->period.secs && now > w[0].start)
			e->nwin = 0;
		return;
	}
	for (i = 0; i < e->nwin; i++) {
		pol_window_at(&q->period, w[i].start, &s, &end);
		if (end > now)
			break;
	}
	centry_drop_front(e, i);
}

void
pol_counters_forget(struct pol_counters *c, struct pol_centry *e)
{
	chash_remove(&c->keys, &e->link);
	entry_free(&e->link);
}

void
pol_counters_load(struct pol_counters *c, const struct pol_counter_row *r)
{
	struct pol_centry *e;
	struct pol_cwin *w;

	e = pol_counters_entry(c, pol_counters_qid(c, r->quota), r->key, true);
	w = pol_centry_win(e, r->start);
	memcpy(w->used, r->used, sizeof(w->used));
	w->notified = r->notified;
}

size_t
pol_counters_count(const struct pol_counters *c)
{
	return c->keys.n;
}

/* qid -> the set's quota of that identity, or NULL. */
static const struct pol_quota **
quota_by_qid(const struct pol_counters *c, const struct pol_set *set)
{
	const struct pol_quota **map;
	uint32_t i;
	size_t j;

	map = xcalloc(c->nident + 1, sizeof(*map));
	for (i = 0; i < c->nident; i++)
		for (j = 0; set != NULL && j < set->nquota; j++)
			if (strcmp(set->quotas[j]->ident, c->ident[i]) == 0) {
				map[i] = set->quotas[j];
				break;
			}
	return map;
}

/* Where a window [start, oend) counted under another period goes under
 * q's: the new window holding its start while that one is current or
 * later; else the current one if the old window reached into it (the
 * counts may be from any time up to its end); else nowhere (-1). */
static int64_t
repoint_start(const struct pol_quota *q, int64_t start, int64_t oend,
    int64_t now)
{
	int64_t s, end, cur, cend;

	pol_window_at(&q->period, now, &cur, &cend);
	pol_window_at(&q->period, start, &s, &end);
	if (s >= cur)
		return s;
	return oend > cur ? cur : -1;
}

void
pol_counters_repoint(struct pol_counters *c, const struct pol_set *old,
    const struct pol_set *set, int64_t now)
{
	const struct pol_quota *q, *oq;
	struct pol_clink *l;
	struct pol_centry *e;
	struct pol_cwin *w, moved[64], *dst;
	int64_t os, oend, ns;
	size_t i, j, b;
	uint32_t qid, k, n;
	unsigned u;

	for (i = 0; old != NULL && set != NULL && i < set->nquota; i++) {
		q = set->quotas[i];
		for (j = 0, oq = NULL; j < old->nquota && oq == NULL; j++)
			if (strcmp(old->quotas[j]->ident, q->ident) == 0)
				oq = old->quotas[j];
		if (oq == NULL || q->window == POL_WIN_SLIDING ||
		    oq->window == POL_WIN_SLIDING ||
		    (oq->period.kind == q->period.kind &&
		    oq->period.secs == q->period.secs))
			continue;
		qid = pol_counters_qid(c, q->ident);
		for (b = 0; b < c->keys.nbucket; b++)
			for (l = c->keys.bucket[b]; l != NULL; l = l->next) {
				e = (struct pol_centry *)l;
				if (e->qid != qid || e->nwin == 0)
					continue;
				n = e->nwin < 64 ? e->nwin : 64;
				memcpy(moved, pol_cwins(e), n * sizeof(*moved));
				while (e->nwin > 0)
					centry_remove(e, e->nwin - 1);
				for (k = 0; k < n; k++) {
					pol_window_at(&oq->period,
					    moved[k].start, &os, &oend);
					if ((ns = repoint_start(q, os, oend,
					    now)) < 0)
						continue;
					dst = pol_centry_win(e, ns);
					w = &moved[k];
					for (u = 0; u < POL_NUNIT; u++)
						dst->used[u] += w->used[u];
					if (w->notified > dst->notified)
						dst->notified = w->notified;
				}
			}
	}
}

size_t
pol_counters_prune(struct pol_counters *c, const struct pol_set *set,
    int64_t now, void (*drop)(void *, const char *, const char *), void *arg)
{
	const struct pol_quota **map = quota_by_qid(c, set);
	struct pol_clink *l, *next;
	struct pol_centry *e;
	size_t i;

	for (i = 0; i < c->keys.nbucket; i++)
		for (l = c->keys.bucket[i]; l != NULL; l = next) {
			next = l->next;
			e = (struct pol_centry *)l;
			if (map[e->qid] != NULL)
				pol_centry_expire(e, map[e->qid], now);
			if (map[e->qid] != NULL && e->nwin > 0)
				continue;
			if (drop != NULL)
				drop(arg, c->ident[e->qid], e->key);
			pol_counters_forget(c, e);
		}
	free(map);
	return c->keys.n;
}

static struct pol_override *
override_find(const struct pol_counters *c, const char *key, uint64_t h)
{
	struct pol_clink *l;

	for (l = chash_first(&c->ovr, h); l != NULL; l = l->next)
		if (l->hash == h &&
		    strcmp(((struct pol_override *)l)->key, key) == 0)
			return (struct pol_override *)l;
	return NULL;
}

void
pol_counters_override(struct pol_counters *c, const char *key,
    enum pol_override_kind kind, uint64_t limit)
{
	uint64_t h = hash_bytes(c->seed, 'o', key);
	struct pol_override *o = override_find(c, key, h);
	size_t len = strlen(key);

	if (kind == POL_OVR_NONE) {
		if (o != NULL) {
			chash_remove(&c->ovr, &o->link);
			free(o);
		}
		return;
	}
	if (o == NULL) {
		o = xcalloc(1, sizeof(*o) + len + 1);
		memcpy(o->key, key, len);
		o->link.hash = h;
		chash_insert(&c->ovr, &o->link);
	}
	o->kind = kind;
	o->limit = limit;
}

enum pol_override_kind
pol_counters_override_of(const struct pol_counters *c, const char *key,
    uint64_t *limit)
{
	const struct pol_override *o;

	if (c->ovr.n == 0)
		return POL_OVR_NONE;
	o = override_find(c, key, hash_bytes(c->seed, 'o', key));
	if (o == NULL)
		return POL_OVR_NONE;
	if (limit != NULL)
		*limit = o->limit;
	return o->kind;
}

/* The figures of one key at now: its current window, and what later
 * windows hold (deferred mail). */
static void
report_entry(const struct pol_counters *c, const struct pol_quota *q,
    struct pol_centry *e, int64_t now, struct pol_usage_report *r)
{
	const struct pol_cwin *w = pol_cwins(e);
	uint32_t i;
	unsigned u;

	memset(r, 0, sizeof(*r));
	r->quota = q;
	r->key = e->key;
	r->override = pol_counters_override_of(c, e->key, &r->override_limit);
	if (q->window == POL_WIN_SLIDING) {
		r->start = now - (int64_t)q->period.secs;
		r->end = now;
		/* a deferral moves the counter to its release time: its
		 * value then, which is what a decision compares now */
		for (u = 0; u < POL_NUNIT && e->nwin > 0; u++)
			r->used[u] = pol_sliding_value(w[0].used[u],
			    w[0].start, now, q->period.secs);
		if (e->nwin > 0 && w[0].start > now)
			r->last_release = w[0].start;
		return;
	}
	pol_window_at(&q->period, now, &r->start, &r->end);
	for (i = 0; i < e->nwin; i++)
		for (u = 0; u < POL_NUNIT; u++) {
			if (w[i].start == r->start)
				r->used[u] = w[i].used[u];
			else if (w[i].start > r->start) {
				r->reserved[u] += w[i].used[u];
				r->last_release = w[i].start;
			}
		}
}

void
pol_counters_report(struct pol_counters *c, const struct pol_set *set,
    const char *key, int64_t now, pol_usage_cb *cb, void *arg)
{
	const struct pol_quota **map = quota_by_qid(c, set);
	struct pol_usage_report r;
	struct pol_clink *l;
	struct pol_centry *e;
	size_t i;

	for (i = 0; i < c->keys.nbucket; i++)
		for (l = c->keys.bucket[i]; l != NULL; l = l->next) {
			e = (struct pol_centry *)l;
			if (map[e->qid] == NULL ||
			    (key != NULL && strcmp(key, e->key) != 0))
				continue;
			pol_centry_expire(e, map[e->qid], now);
			report_entry(c, map[e->qid], e, now, &r);
			cb(&r, arg);
		}
	free(map);
}

static void
row_copy(struct pol_counter_row **out, size_t *n, const char *quota,
    const char *key, const struct pol_cwin *w)
{
	struct pol_counter_row *row;

	*out = xreallocarray(*out, *n + 1, sizeof(**out));
	row = &(*out)[(*n)++];
	row->quota = xstrdup(quota);
	row->key = xstrdup(key);
	row->start = w->start;
	memcpy(row->used, w->used, sizeof(row->used));
	row->notified = w->notified;
}

/* The key's windows, all of them, for the store (replaces what it has);
 * a key with none left gets one empty row, which clears it. */
static void
entry_rows(const struct pol_counters *c, struct pol_centry *e,
    struct pol_counter_row **out, size_t *n)
{
	static const struct pol_cwin none;
	const struct pol_cwin *w = pol_cwins(e);
	uint32_t i;

	if (e->nwin == 0)
		row_copy(out, n, c->ident[e->qid], e->key, &none);
	for (i = 0; i < e->nwin; i++)
		row_copy(out, n, c->ident[e->qid], e->key, &w[i]);
}

void
pol_counters_giveback(struct pol_counters *c, const struct pol_set *set,
    const struct pol_counter_row *resv, size_t n, int64_t now,
    struct pol_counter_row **out, size_t *nout)
{
	const struct pol_quota *q;
	struct pol_centry *e, **done = NULL;
	struct pol_cwin *w;
	size_t i, j, ndone = 0;
	uint32_t k;
	unsigned u;

	*out = NULL;
	*nout = 0;
	for (i = 0; i < n; i++) {
		for (j = 0, q = NULL; set != NULL && j < set->nquota; j++)
			if (strcmp(set->quotas[j]->ident, resv[i].quota) == 0)
				q = set->quotas[j];
		if (q == NULL || resv[i].start <= now)
			continue;
		e = pol_counters_entry(c, pol_counters_qid(c, resv[i].quota),
		    resv[i].key, false);
		if (e == NULL || e->nwin == 0)
			continue;
		w = pol_cwins(e);
		if (q->window == POL_WIN_SLIDING)
			k = w[0].start >= resv[i].start ? 0 : e->nwin;
		else
			for (k = 0; k < e->nwin && w[k].start !=
			    resv[i].start; k++)
				;
		if (k == e->nwin)
			continue;
		for (u = 0; u < POL_NUNIT; u++) {
			w[k].used[u] -= resv[i].used[u];
			if (w[k].used[u] < 1e-9)
				w[k].used[u] = 0;
		}
		if (q->window != POL_WIN_SLIDING && w[k].used[0] == 0 &&
		    w[k].used[1] == 0 && w[k].used[2] == 0 &&
		    w[k].notified == 0)
			centry_remove(e, k);
		for (j = 0; j < ndone && done[j] != e; j++)
			;
		if (j == ndone) {
			done = xreallocarray(done, ndone + 1, sizeof(*done));
			done[ndone++] = e;
		}
	}
	for (j = 0; j < ndone; j++)
		entry_rows(c, done[j], out, nout);
	free(done);
}

void
pol_rows_free(struct pol_counter_row *rows, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free((char *)rows[i].quota);
		free((char *)rows[i].key);
	}
	free(rows);
}
