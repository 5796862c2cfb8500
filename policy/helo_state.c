/*
 * helo_state: the HELOs each client address gave, with the last time
 * each was seen (helo.h, "state"), for hrp and the blacklist's window,
 * and the rows relay/ stores (write-behind).
 *
 * What an attacker controls: the client address (an IPv6 client may
 * pick any address of its /64), how many HELOs it gives and how often.
 * Hence: client keys are hashed with SipHash-2-4 under a random key, so
 * no one can aim addresses at one chain; a client keeps at most cap
 * HELOs (the newest, and the newest one a blacklist named), each cut to
 * HELO_NAME_MAX bytes: 80 bytes a client and 24 plus the name a HELO,
 * before malloc's own.  Clients are bounded by time only: prune forgets
 * what no window counts any more, so an IPv6 client that walks its /64
 * costs an entry per address it used in the longest window (and hrp,
 * per address as in cbpolicyd, does not see across them).
 *
 * Invariants: a client's HELOs are distinct once normalised and there are
 * 1 to cap of them (a client with none leaves the table); an entry
 * flagged STORED was handed to relay/ or loaded, so its removal queues a
 * deletion (and only then); the dirty list holds exactly the clients
 * with an entry flagged DIRTY.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/xalloc.h"
#include "helo_priv.h"

struct gone {				/* a stored row to delete */
	struct gone	*next;
	struct addr	 addr;
	char		 name[];
};

struct helo_state {
	uint64_t		 k0, k1;	/* SipHash key */
	struct helo_client	**bucket;
	size_t			 nbucket;	/* 0 or a power of two */
	size_t			 nclient, nrow;
	size_t			 per_client;
	struct helo_client	*dirty;
	struct gone		*gone;
};

#define ROTL(x, b)	(((x) << (b)) | ((x) >> (64 - (b))))

static void
sip_round(uint64_t v[4])
{
	v[0] += v[1];
	v[1] = ROTL(v[1], 13) ^ v[0];
	v[0] = ROTL(v[0], 32);
	v[2] += v[3];
	v[3] = ROTL(v[3], 16) ^ v[2];
	v[0] += v[3];
	v[3] = ROTL(v[3], 21) ^ v[0];
	v[2] += v[1];
	v[1] = ROTL(v[1], 17) ^ v[2];
	v[2] = ROTL(v[2], 32);
}

/* SipHash-2-4 of the address's 16 bytes and family. */
static uint64_t
addr_hash(const struct helo_state *st, const struct addr *a)
{
	uint64_t v[4] = { st->k0 ^ 0x736f6d6570736575ull,
	    st->k1 ^ 0x646f72616e646f6dull, st->k0 ^ 0x6c7967656e657261ull,
	    st->k1 ^ 0x7465646279746573ull };
	uint64_t m[3];
	size_t i;

	memcpy(m, a->bytes, 16);
	m[2] = (17ull << 56) | (uint8_t)a->family;
	for (i = 0; i < 3; i++) {
		v[3] ^= m[i];
		sip_round(v);
		sip_round(v);
		v[0] ^= m[i];
	}
	v[2] ^= 0xff;
	for (i = 0; i < 4; i++)
		sip_round(v);
	return v[0] ^ v[1] ^ v[2] ^ v[3];
}

/* The address as a key: an IPv4 address's unused bytes zeroed. */
static void
addr_key(const struct addr *in, struct addr *out)
{
	memset(out, 0, sizeof(*out));
	out->family = in->family;
	memcpy(out->bytes, in->bytes, in->family == AF_INET ? 4 : 16);
}

struct helo_state *
helo_state_new(size_t per_client)
{
	struct helo_state *st = xcalloc(1, sizeof(*st));

	st->k0 = ((uint64_t)arc4random() << 32) | arc4random();
	st->k1 = ((uint64_t)arc4random() << 32) | arc4random();
	helo_state_set_cap(st, per_client);
	return st;
}

void
helo_state_set_cap(struct helo_state *st, size_t per_client)
{
	st->per_client = per_client < 2 ? 2 : per_client;
}

static struct helo_client *
find(const struct helo_state *st, const struct addr *a)
{
	struct addr k;
	struct helo_client *c;
	uint64_t h;

	if (st == NULL || a == NULL || st->nbucket == 0)
		return NULL;
	addr_key(a, &k);
	h = addr_hash(st, &k);
	for (c = st->bucket[h & (st->nbucket - 1)]; c != NULL; c = c->next)
		if (c->hash == h && addr_equal(&c->addr, &k))
			return c;
	return NULL;
}

const struct helo_client *
helo_client_find(const struct helo_state *st, const struct addr *a)
{
	return find(st, a);
}

static void
table_grow(struct helo_state *st)
{
	struct helo_client **old = st->bucket, *c, *next;
	size_t oldn = st->nbucket, i, j;

	st->nbucket = oldn ? oldn * 2 : 64;
	st->bucket = xcalloc(st->nbucket, sizeof(*st->bucket));
	for (i = 0; i < oldn; i++)
		for (c = old[i]; c != NULL; c = next) {
			next = c->next;
			j = c->hash & (st->nbucket - 1);
			c->next = st->bucket[j];
			st->bucket[j] = c;
		}
	free(old);
}

static struct helo_client *
client_get(struct helo_state *st, const struct addr *a)
{
	struct helo_client *c;
	size_t j;

	if ((c = find(st, a)) != NULL)
		return c;
	if (st->nclient >= st->nbucket)
		table_grow(st);
	c = xcalloc(1, sizeof(*c));
	addr_key(a, &c->addr);
	c->hash = addr_hash(st, &c->addr);
	j = c->hash & (st->nbucket - 1);
	c->next = st->bucket[j];
	st->bucket[j] = c;
	st->nclient++;
	return c;
}

static void
dirty_unlink(struct helo_client *c)
{
	if (c->dprev == NULL)
		return;
	if ((*c->dprev = c->dnext) != NULL)
		c->dnext->dprev = c->dprev;
	c->dprev = NULL;
	c->dnext = NULL;
}

static void
mark_dirty(struct helo_state *st, struct helo_client *c, struct helo_seen *e)
{
	e->flags |= HELO_SEEN_DIRTY;
	if (c->dprev != NULL)
		return;
	if ((c->dnext = st->dirty) != NULL)
		st->dirty->dprev = &c->dnext;
	st->dirty = c;
	c->dprev = &st->dirty;
}

/* Takes HELO i out of c; a stored one is queued for deletion. */
static void
seen_drop(struct helo_state *st, struct helo_client *c, size_t i)
{
	struct helo_seen *e = &c->seen[i];
	struct gone *g;
	size_t len;

	if (e->flags & HELO_SEEN_STORED) {
		len = strlen(e->name);
		g = xmalloc(sizeof(*g) + len + 1);
		g->addr = c->addr;
		memcpy(g->name, e->name, len + 1);
		g->next = st->gone;
		st->gone = g;
	}
	free(e->name);
	c->seen[i] = c->seen[--c->n];
	st->nrow--;
}

/* Takes c out of the table (it has no HELO left). */
static void
client_drop(struct helo_state *st, struct helo_client *c)
{
	struct helo_client **pp = &st->bucket[c->hash & (st->nbucket - 1)];

	while (*pp != c)
		pp = &(*pp)->next;
	*pp = c->next;
	dirty_unlink(c);
	free(c->seen);
	free(c);
	st->nclient--;
}

void
helo_state_free(struct helo_state **stp)
{
	struct helo_state *st = *stp;
	struct helo_client *c, *next;
	struct gone *g;
	size_t i, j;

	if (st == NULL)
		return;
	for (i = 0; i < st->nbucket; i++)
		for (c = st->bucket[i]; c != NULL; c = next) {
			next = c->next;
			for (j = 0; j < c->n; j++)
				free(c->seen[j].name);
			free(c->seen);
			free(c);
		}
	while ((g = st->gone) != NULL) {
		st->gone = g->next;
		free(g);
	}
	free(st->bucket);
	free(st);
	*stp = NULL;
}

static struct helo_seen *
seen_find(struct helo_client *c, const char *name)
{
	size_t i;

	for (i = 0; c != NULL && i < c->n; i++)
		if (strcmp(c->seen[i].name, name) == 0)
			return &c->seen[i];
	return NULL;
}

/* The HELO to let go when c is full: the oldest, but never the newest
 * one a blacklist named (it may refuse the client for a while yet). */
static size_t
seen_victim(const struct helo_client *c)
{
	size_t i, keep = SIZE_MAX, v = SIZE_MAX;

	for (i = 0; i < c->n; i++)
		if ((c->seen[i].flags & HELO_SEEN_LISTED) &&
		    (keep == SIZE_MAX || c->seen[i].last > c->seen[keep].last))
			keep = i;
	for (i = 0; i < c->n; i++)
		if (i != keep && (v == SIZE_MAX ||
		    c->seen[i].last < c->seen[v].last))
			v = i;
	return v != SIZE_MAX ? v : 0;
}

/* Adds name to c (at most cap HELOs, cap >= 2) or finds it; the later
 * time wins.  Returns the entry. */
static struct helo_seen *
seen_put(struct helo_state *st, struct helo_client *c, const char *name,
    int64_t t, size_t cap)
{
	struct helo_seen *e;

	if ((e = seen_find(c, name)) != NULL) {
		if (t > e->last)
			e->last = t;
		return e;
	}
	while (c->n > 0 && c->n >= cap)
		seen_drop(st, c, seen_victim(c));
	if (c->n == c->nalloc) {
		c->nalloc = c->nalloc ? c->nalloc * 2 : 1;
		if (c->nalloc > cap)
			c->nalloc = cap;
		c->seen = xreallocarray(c->seen, c->nalloc, sizeof(*c->seen));
	}
	e = &c->seen[c->n++];
	e->last = t;
	e->flags = 0;
	e->name = xstrdup(name);
	st->nrow++;
	return e;
}

void
helo_remember(struct helo_state *st, const struct helo_settings *s,
    const struct addr *client, const char *name, int64_t now)
{
	struct helo_client *c = client_get(st, client);
	size_t cap = helo_cap_of(s);
	struct helo_seen *e;
	int64_t before;
	size_t i;

	if (cap < st->per_client)
		cap = st->per_client;
	for (i = 0; i < c->n; i++)
		if (helo_is_listed(s, c->seen[i].name))
			c->seen[i].flags |= HELO_SEEN_LISTED;
	e = seen_find(c, name);
	before = e != NULL ? e->last : INT64_MIN;
	e = seen_put(st, c, name, now, cap);
	if (helo_is_listed(s, name))
		e->flags |= HELO_SEEN_LISTED;
	if (e->last != before)
		mark_dirty(st, c, e);
}

/*
 * Persistence and upkeep.
 */

int
helo_state_load(struct helo_state *st, const struct helo_row *row,
    const char **errstr)
{
	char name[HELO_NAME_MAX + 1];
	struct helo_client *c;
	struct helo_seen *e;

	if (row->client.family != AF_INET && row->client.family != AF_INET6) {
		*errstr = "not an address";
		return -1;
	}
	if (row->helo == NULL || !helo_name_is_ok(row->helo)) {
		*errstr = "not a HELO (printable, no space, 1 to 255 bytes)";
		return -1;
	}
	if (row->last_seen < 0) {
		*errstr = "a time before 1970";
		return -1;
	}
	helo_normalise(row->helo, name);
	c = client_get(st, &row->client);
	e = seen_put(st, c, name, row->last_seen, st->per_client + 1);
	e->flags |= HELO_SEEN_STORED;
	while (c->n > st->per_client)
		seen_drop(st, c, seen_victim(c));
	return 0;
}

size_t
helo_state_changes(struct helo_state *st, helo_row_cb *cb, void *arg)
{
	struct helo_row row;
	struct helo_client *c;
	struct gone *g;
	size_t n = 0, i;

	while ((g = st->gone) != NULL) {
		st->gone = g->next;
		row.client = g->addr;
		row.helo = g->name;
		row.last_seen = 0;
		cb(arg, &row, true);
		free(g);
		n++;
	}
	while ((c = st->dirty) != NULL) {
		for (i = 0; i < c->n; i++) {
			if (!(c->seen[i].flags & HELO_SEEN_DIRTY))
				continue;
			row.client = c->addr;
			row.helo = c->seen[i].name;
			row.last_seen = c->seen[i].last;
			cb(arg, &row, false);
			c->seen[i].flags &= ~HELO_SEEN_DIRTY;
			c->seen[i].flags |= HELO_SEEN_STORED;
			n++;
		}
		dirty_unlink(c);
	}
	return n;
}

size_t
helo_state_prune(struct helo_state *st, int64_t now, uint64_t max_window)
{
	struct helo_client *c, *next;
	size_t i, j;

	for (i = 0; i < st->nbucket; i++)
		for (c = st->bucket[i]; c != NULL; c = next) {
			next = c->next;
			for (j = c->n; j > 0; j--)
				if (!helo_in_window(c->seen[j - 1].last, now,
				    max_window))
					seen_drop(st, c, j - 1);
			if (c->n == 0)
				client_drop(st, c);
		}
	return st->nrow;
}

void
helo_state_stats(const struct helo_state *st, struct helo_stats *out)
{
	const struct helo_client *c;
	size_t i, j;

	out->clients = st->nclient;
	out->rows = st->nrow;
	out->bytes = sizeof(*st) + st->nbucket * sizeof(*st->bucket);
	for (i = 0; i < st->nbucket; i++)
		for (c = st->bucket[i]; c != NULL; c = c->next) {
			out->bytes += sizeof(*c) + c->nalloc * sizeof(*c->seen);
			for (j = 0; j < c->n; j++)
				out->bytes += strlen(c->seen[j].name) + 1;
		}
}

size_t
helo_state_client_rows(const struct helo_state *st, const struct addr *a)
{
	const struct helo_client *c = helo_client_find(st, a);

	return c != NULL ? c->n : 0;
}
