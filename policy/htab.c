/*
 * htab: the hash table behind the policy indexes and the name tables.
 *
 * Keys are a tag byte followed by bytes, copied and owned by the table;
 * values are numbers the caller gives meaning to.  Open addressing with
 * linear probes, at most half full.  Only the configuration inserts (a
 * load, never a message), so the table needs no defence against keys
 * chosen to collide; look-ups with network input only read.
 */
#include <stdlib.h>
#include <string.h>

#include "../lib/xalloc.h"
#include "policy_priv.h"

/* FNV-1a, 64 bits: short keys, no adversary at insertion. */
uint64_t
pol_hash(uint8_t tag, const void *p, size_t len)
{
	const unsigned char *s = p;
	uint64_t h = 0xcbf29ce484222325ull;
	size_t i;

	h = (h ^ tag) * 0x100000001b3ull;
	for (i = 0; i < len; i++)
		h = (h ^ s[i]) * 0x100000001b3ull;
	return h;
}

static bool
ent_is(const struct pol_hent *e, uint64_t hash, uint8_t tag, const void *p,
    size_t len)
{
	return e->hash == hash && e->len == len + 1 &&
	    (uint8_t)e->key[0] == tag && memcmp(e->key + 1, p, len) == 0;
}

const uint32_t *
pol_htab_get(const struct pol_htab *h, uint64_t hash, uint8_t tag,
    const void *p, size_t len)
{
	size_t i;

	if (h->cap == 0)
		return NULL;
	for (i = hash & (h->cap - 1); h->ent[i].key != NULL;
	    i = (i + 1) & (h->cap - 1)) {
		if (ent_is(&h->ent[i], hash, tag, p, len))
			return &h->ent[i].val;
	}
	return NULL;
}

static void
htab_grow(struct pol_htab *h)
{
	struct pol_hent *old = h->ent;
	size_t oldcap = h->cap, i, j;

	h->cap = oldcap ? oldcap * 2 : 16;
	h->ent = xcalloc(h->cap, sizeof(*h->ent));
	for (i = 0; i < oldcap; i++) {
		if (old[i].key == NULL)
			continue;
		for (j = old[i].hash & (h->cap - 1); h->ent[j].key != NULL;
		    j = (j + 1) & (h->cap - 1))
			;
		h->ent[j] = old[i];
	}
	free(old);
}

uint32_t *
pol_htab_put(struct pol_htab *h, uint64_t hash, uint8_t tag, const void *p,
    size_t len, uint32_t val, bool *added)
{
	struct pol_hent *e;
	size_t i;

	if ((h->n + 1) * 2 > h->cap)
		htab_grow(h);
	for (i = hash & (h->cap - 1); h->ent[i].key != NULL;
	    i = (i + 1) & (h->cap - 1)) {
		if (ent_is(&h->ent[i], hash, tag, p, len)) {
			*added = false;
			return &h->ent[i].val;
		}
	}
	e = &h->ent[i];
	e->hash = hash;
	e->len = (uint32_t)len + 1;
	e->key = xmalloc(len + 1);
	e->key[0] = (char)tag;
	memcpy(e->key + 1, p, len);
	e->val = val;
	h->n++;
	*added = true;
	return &e->val;
}

void
pol_htab_clear(struct pol_htab *h)
{
	size_t i;

	for (i = 0; i < h->cap; i++)
		free(h->ent[i].key);
	free(h->ent);
	memset(h, 0, sizeof(*h));
}

void
pol_u32vec_push(struct pol_u32vec *v, uint32_t x)
{
	if (v->n == v->cap) {
		v->cap = v->cap ? v->cap * 2 : 4;
		v->v = xreallocarray(v->v, v->cap, sizeof(*v->v));
	}
	v->v[v->n++] = x;
}
