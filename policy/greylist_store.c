/*
 * greylist_store: greylisting's records in memory (greylist_priv.h) and
 * the rows that carry them to and from the store (greylist.h): load at
 * start-up, the changes since last asked, pruning.
 *
 * What an attacker controls: the network part of every key (an IPv6
 * client may own millions of /64s) and every byte of the sender and
 * recipient, already lower-cased and bounded by grey_check.  So the
 * tables hash with a random seed (chosen keys cannot share one chain),
 * and the triplets are capped in all and per network (see
 * grey_state_new), which also bounds the walk that counts a network's
 * triplets for the auto-whitelist and auto-blacklist.
 *
 * The store's view.  A record the store has (`stored`: loaded, or given
 * by grey_changes) leaves a deletion row in `gone` when it is removed;
 * one it never had leaves nothing.  grey_changes gives every deletion
 * before any upsert, so a key removed and made again reaches the store
 * in that order.  A record is in the dirty queue once however often it
 * changes, so what waits is bounded by the records (and the deletions by
 * the records the store had).
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/xalloc.h"
#include "greylist_priv.h"

static uint32_t
key_hash(uint64_t salt, const char *a, size_t alen, const char *b,
    size_t blen)
{
	uint64_t h = salt ^ 0x9e3779b97f4a7c15ull;
	size_t i;

	for (i = 0; i < alen + 1 + blen; i++) {
		h ^= i < alen ? (unsigned char)a[i] : i == alen ? 0xff :
		    (unsigned char)b[i - alen - 1];
		h *= 0x100000001b3ull;
	}
	h ^= h >> 32;
	h *= 0xd6e8feb86659fd93ull;
	return (uint32_t)(h ^ (h >> 32));
}

static struct grey_link *
tab_chain(const struct grey_tab *t, uint32_t hash)
{
	return t->nb > 0 ? t->b[hash & (t->nb - 1)] : NULL;
}

static void
tab_add(struct grey_tab *t, struct grey_link *l)
{
	struct grey_link **nb, *x;
	size_t i, n = t->nb ? t->nb * 2 : 256;

	if (t->n >= t->nb) {
		nb = xcalloc(n, sizeof(*nb));
		for (i = 0; i < t->nb; i++)
			while ((x = t->b[i]) != NULL) {
				t->b[i] = x->next;
				x->next = nb[x->hash & (n - 1)];
				nb[x->hash & (n - 1)] = x;
			}
		free(t->b);
		t->b = nb;
		t->nb = n;
	}
	l->next = t->b[l->hash & (t->nb - 1)];
	t->b[l->hash & (t->nb - 1)] = l;
	t->n++;
}

static void
tab_del(struct grey_tab *t, struct grey_link *l)
{
	struct grey_link **pp = &t->b[l->hash & (t->nb - 1)];

	while (*pp != l)
		pp = &(*pp)->next;
	*pp = l->next;
	t->n--;
}

/* The dirty queue and the deletions. */

void
grey_mark(struct grey_state *s, struct grey_link *l, bool is_net)
{
	if (l->dirty != 0)
		return;
	if (s->ndirty == s->dirtycap) {
		s->dirtycap = s->dirtycap ? s->dirtycap * 2 : 64;
		s->dirty = xreallocarray(s->dirty, s->dirtycap,
		    sizeof(*s->dirty));
	}
	s->dirty[s->ndirty].rec = l;
	s->dirty[s->ndirty].is_net = is_net;
	l->dirty = (uint32_t)++s->ndirty;
}

static void
unmark(struct grey_state *s, struct grey_link *l)
{
	struct grey_dirty last;

	if (l->dirty == 0)
		return;
	last = s->dirty[--s->ndirty];
	s->dirty[l->dirty - 1] = last;
	last.rec->dirty = l->dirty;
	l->dirty = 0;
}

static void
gone_add(struct grey_state *s, enum grey_row_kind kind, const char *net,
    const char *sender, const char *rcpt)
{
	struct grey_row *r;
	size_t nl = strlen(net) + 1, sl = sender ? strlen(sender) + 1 : 0;
	char *p;

	if (s->ngone == s->gonecap) {
		s->gonecap = s->gonecap ? s->gonecap * 2 : 64;
		s->gone = xreallocarray(s->gone, s->gonecap, sizeof(*s->gone));
	}
	r = &s->gone[s->ngone++];
	memset(r, 0, sizeof(*r));
	r->kind = kind;
	r->deleted = true;
	p = xmalloc(nl + sl + (rcpt ? strlen(rcpt) + 1 : 0));
	r->net = memcpy(p, net, nl);
	if (sender != NULL) {
		r->sender = memcpy(p + nl, sender, sl);
		r->recipient = memcpy(p + nl + sl, rcpt, strlen(rcpt) + 1);
	}
}

/* Records. */

struct grey_net *
grey_net_get(struct grey_state *s, const char *key, bool create)
{
	size_t len = strlen(key);
	uint32_t h = key_hash(s->seed, key, len, "", 0);
	struct grey_link *l;
	struct grey_net *n;

	for (l = tab_chain(&s->nets, h); l != NULL; l = l->next)
		if (l->hash == h && strcmp(((struct grey_net *)l)->key,
		    key) == 0)
			return (struct grey_net *)l;
	if (!create)
		return NULL;
	n = xcalloc(1, sizeof(*n) + len + 1);
	memcpy(n->key, key, len);
	n->link.hash = h;
	tab_add(&s->nets, &n->link);
	return n;
}

void
grey_net_tidy(struct grey_state *s, struct grey_net *n)
{
	if (n->ntrip > 0 || (n->flags & (GREY_NET_AWL | GREY_NET_ABL)) != 0)
		return;
	unmark(s, &n->link);
	tab_del(&s->nets, &n->link);
	free(n);
}

static void
entry_drop(struct grey_state *s, struct grey_net *n, int which)
{
	int stored = which == GREY_NET_AWL ? GREY_NET_AWL_STORED :
	    GREY_NET_ABL_STORED;

	if (n->flags & stored)
		gone_add(s, which == GREY_NET_AWL ? GREY_ROW_AWL : GREY_ROW_ABL,
		    n->key, NULL, NULL);
	n->flags &= (uint8_t)~(which | stored);
	if (which == GREY_NET_AWL)
		s->nawl--;
	else
		s->nabl--;
}

void
grey_entry_set(struct grey_state *s, struct grey_net *n, int which,
    int64_t now)
{
	if (!(n->flags & which)) {
		n->flags |= (uint8_t)which;
		if (which == GREY_NET_AWL) {
			s->nawl++;
			n->awl_added = now;
		} else
			s->nabl++;
	}
	if (which == GREY_NET_AWL)
		n->awl_last = now;
	else
		n->abl_added = now;
	grey_mark(s, &n->link, true);
}

static uint32_t
trip_hash(const struct grey_state *s, const struct grey_net *n,
    const char *sender, size_t slen, const char *rcpt, size_t rlen)
{
	return key_hash(s->seed ^ ((uint64_t)n->link.hash << 17), sender,
	    slen, rcpt, rlen);
}

struct grey_trip *
grey_trip_find(const struct grey_state *s, const struct grey_net *n,
    const struct pol_str *sn, const struct pol_str *rc)
{
	uint32_t h = trip_hash(s, n, sn->p, sn->len, rc->p, rc->len);
	struct grey_link *l;
	struct grey_trip *t;

	for (l = tab_chain(&s->trips, h); l != NULL; l = l->next) {
		t = (struct grey_trip *)l;
		if (l->hash == h && t->net == n && t->rcpt == sn->len + 1 &&
		    memcmp(t->key, sn->p, sn->len) == 0 &&
		    memcmp(t->key + t->rcpt, rc->p, rc->len) == 0 &&
		    t->key[t->rcpt + rc->len] == '\0')
			return t;
	}
	return NULL;
}

/* Into the network's list, in order of first attempt (from the newest
 * end: new triplets go there). */
static void
list_insert(struct grey_net *n, struct grey_trip *t)
{
	struct grey_trip *p = n->newest;

	while (p != NULL && p->first_seen > t->first_seen)
		p = p->older;
	t->older = p;
	t->newer = p ? p->newer : n->oldest;
	if (t->newer != NULL)
		t->newer->older = t;
	else
		n->newest = t;
	if (p != NULL)
		p->newer = t;
	else
		n->oldest = t;
}

static void
list_unlink(struct grey_net *n, struct grey_trip *t)
{
	if (t->older != NULL)
		t->older->newer = t->newer;
	else
		n->oldest = t->newer;
	if (t->newer != NULL)
		t->newer->older = t->older;
	else
		n->newest = t->older;
}

static void
trip_drop(struct grey_state *s, struct grey_trip *t)
{
	struct grey_net *n = t->net;

	if (t->stored)
		gone_add(s, GREY_ROW_TRIPLET, n->key, t->key, t->key + t->rcpt);
	list_unlink(n, t);
	n->ntrip--;
	unmark(s, &t->link);
	tab_del(&s->trips, &t->link);
	free(t);
}

struct grey_trip *
grey_trip_new(struct grey_state *s, struct grey_net *n,
    const struct pol_str *sn, const struct pol_str *rc, int64_t first_seen)
{
	struct grey_trip *t;

	if (n->ntrip >= s->max_per_net && n->oldest != NULL) {
		trip_drop(s, n->oldest);
		s->evicted++;
	}
	t = xcalloc(1, offsetof(struct grey_trip, key) + sn->len + rc->len +
	    2);
	memcpy(t->key, sn->p, sn->len);
	t->rcpt = (uint16_t)(sn->len + 1);
	memcpy(t->key + t->rcpt, rc->p, rc->len);
	t->net = n;
	t->first_seen = t->last_seen = first_seen;
	t->tries = 1;
	t->link.hash = trip_hash(s, n, sn->p, sn->len, rc->p, rc->len);
	tab_add(&s->trips, &t->link);
	list_insert(n, t);
	n->ntrip++;
	return t;
}

void
grey_trip_restart(struct grey_state *s, struct grey_trip *t, int64_t now)
{
	list_unlink(t->net, t);
	t->first_seen = t->last_seen = now;
	t->last_pass = 0;
	t->tries = 1;
	t->passes = 0;
	list_insert(t->net, t);
	grey_mark(s, &t->link, false);
}

struct grey_state *
grey_state_new(size_t max_triplets, size_t max_per_net)
{
	struct grey_state *s = xcalloc(1, sizeof(*s));

	s->seed = ((uint64_t)arc4random() << 32) | arc4random();
	s->max_trip = max_triplets ? max_triplets : GREY_MAX_TRIPLETS;
	s->max_per_net = max_per_net ? max_per_net : GREY_MAX_PER_NET;
	return s;
}

void
grey_state_free(struct grey_state **sp)
{
	struct grey_state *s = *sp;
	struct grey_link *l;
	struct grey_trip *t;
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; i < s->nets.nb; i++)
		while ((l = s->nets.b[i]) != NULL) {
			s->nets.b[i] = l->next;
			while ((t = ((struct grey_net *)l)->oldest) != NULL) {
				((struct grey_net *)l)->oldest = t->newer;
				free(t);
			}
			free(l);
		}
	for (i = 0; i < s->ngone; i++)
		free((char *)s->gone[i].net);
	free(s->gone);
	free(s->dirty);
	free(s->nets.b);
	free(s->trips.b);
	free(s);
	*sp = NULL;
}

static int
load_triplet(struct grey_state *s, struct grey_net *n,
    const struct grey_row *r, const char **errstr)
{
	struct pol_str sn = { r->sender, strlen(r->sender) };
	struct pol_str rc = { r->recipient, strlen(r->recipient) };
	struct grey_trip *t;

	if ((t = grey_trip_find(s, n, &sn, &rc)) == NULL) {
		if (s->trips.n >= s->max_trip) {
			*errstr = "more triplets than the cap";
			return -1;
		}
		t = grey_trip_new(s, n, &sn, &rc, r->first_seen);
	} else if (t->first_seen != r->first_seen) {
		list_unlink(n, t);
		t->first_seen = r->first_seen;
		list_insert(n, t);
	}
	t->last_seen = r->last_seen;
	t->last_pass = r->last_pass;
	t->tries = r->tries;
	t->passes = r->passes;
	t->stored = true;
	return 0;
}

int
grey_load(struct grey_state *s, const struct grey_row *r,
    const char **errstr)
{
	struct grey_net *n;
	bool dirty;
	int rc = 0;

	if (r->deleted || r->kind > GREY_ROW_ABL || r->net == NULL ||
	    r->net[0] == '\0' || strlen(r->net) >= GREY_NET_LEN) {
		*errstr = "not a row of a triplet, an AWL or an ABL entry";
		return -1;
	}
	if (r->kind == GREY_ROW_TRIPLET && (r->sender == NULL ||
	    r->recipient == NULL || strlen(r->sender) > GREY_ADDR_MAX ||
	    strlen(r->recipient) > GREY_ADDR_MAX)) {
		*errstr = "a triplet without its addresses, or one too long";
		return -1;
	}
	n = grey_net_get(s, r->net, true);
	dirty = n->link.dirty != 0;
	if (r->kind == GREY_ROW_TRIPLET)
		rc = load_triplet(s, n, r, errstr);
	else if (r->kind == GREY_ROW_AWL) {
		grey_entry_set(s, n, GREY_NET_AWL, r->last_seen);
		n->awl_added = r->first_seen;
		n->flags |= GREY_NET_AWL_STORED;
	} else {
		grey_entry_set(s, n, GREY_NET_ABL, r->first_seen);
		n->flags |= GREY_NET_ABL_STORED;
	}
	if (!dirty)
		unmark(s, &n->link);
	grey_net_tidy(s, n);
	return rc;
}

/* The network's AWL and ABL rows; how many. */
static size_t
net_rows(struct grey_net *n, grey_row_cb *cb, void *arg)
{
	struct grey_row r;
	size_t k = 0;

	memset(&r, 0, sizeof(r));
	r.net = n->key;
	if (n->flags & GREY_NET_AWL) {
		r.kind = GREY_ROW_AWL;
		r.first_seen = n->awl_added;
		r.last_seen = n->awl_last;
		n->flags |= GREY_NET_AWL_STORED;
		cb(&r, arg);
		k++;
	}
	if (n->flags & GREY_NET_ABL) {
		r.kind = GREY_ROW_ABL;
		r.first_seen = r.last_seen = n->abl_added;
		n->flags |= GREY_NET_ABL_STORED;
		cb(&r, arg);
		k++;
	}
	return k;
}

static size_t
trip_row(struct grey_trip *t, grey_row_cb *cb, void *arg)
{
	struct grey_row r;

	memset(&r, 0, sizeof(r));
	r.kind = GREY_ROW_TRIPLET;
	r.net = t->net->key;
	r.sender = t->key;
	r.recipient = t->key + t->rcpt;
	r.first_seen = t->first_seen;
	r.last_seen = t->last_seen;
	r.last_pass = t->last_pass;
	r.tries = t->tries;
	r.passes = t->passes;
	t->stored = true;
	cb(&r, arg);
	return 1;
}

size_t
grey_changes(struct grey_state *s, size_t max, grey_row_cb *cb, void *arg)
{
	struct grey_dirty d;
	struct grey_row r;
	size_t k = 0;

	while (s->ngone > 0 && (max == 0 || k < max)) {
		r = s->gone[--s->ngone];
		if (cb != NULL)
			cb(&r, arg);
		free((char *)r.net);
		k++;
	}
	while (s->ndirty > 0 && (max == 0 || k < max)) {
		d = s->dirty[--s->ndirty];
		d.rec->dirty = 0;
		if (cb == NULL)
			k++;
		else if (d.is_net)
			k += net_rows((struct grey_net *)d.rec, cb, arg);
		else
			k += trip_row((struct grey_trip *)d.rec, cb, arg);
	}
	return k;
}

size_t
grey_prune(struct grey_state *s, const struct grey_limits *lim, int64_t now)
{
	struct grey_link *l, *next;
	struct grey_trip *t, *tn;
	struct grey_net *n;
	size_t i;

	for (i = 0; i < s->nets.nb; i++)
		for (l = s->nets.b[i]; l != NULL; l = next) {
			next = l->next;
			n = (struct grey_net *)l;
			for (t = n->oldest; t != NULL; t = tn) {
				tn = t->newer;
				if (grey_trip_is_expired(t, lim->auth_validity,
				    lim->unauth_validity, now))
					trip_drop(s, t);
			}
			if ((n->flags & GREY_NET_AWL) && grey_aged(n->awl_last,
			    now, lim->awl_within))
				entry_drop(s, n, GREY_NET_AWL);
			if ((n->flags & GREY_NET_ABL) && grey_aged(n->abl_added,
			    now, lim->abl_within))
				entry_drop(s, n, GREY_NET_ABL);
			grey_net_tidy(s, n);
		}
	return s->trips.n;
}

void
grey_stats(const struct grey_state *s, struct grey_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->triplets = s->trips.n;
	st->networks = s->nets.n;
	st->awl = s->nawl;
	st->abl = s->nabl;
	st->pending = s->ngone + s->ndirty;
	st->full = s->full;
	st->evicted = s->evicted;
}
