/*
 * match_index: the matcher of the delivery path.  pol_set_match() must
 * answer for every recipient whatever the number of policies and the size
 * of the groups (DESIGN.md, "Policy matching"), so the resolved set is
 * turned around: per dimension, a hash table maps each key an item stands
 * for (an address, a domain, a parent domain, a local part, a network of
 * one prefix length, a login, "any") to the nodes that hold it.  A node is
 * a group read in that dimension or the item or except list of a match
 * block.  A group node also points to the nodes that reference it.
 *
 * One decision: the input gives a handful of keys per dimension (its
 * address, domain, local part and each parent domain; its address masked
 * to each prefix length in use; its login).  Each key hits nodes, a hit
 * climbs to the referencing nodes, and an item list that is hit while its
 * except list is not satisfies its block's dimension; a block with all
 * its dimensions satisfied matches its policy.  The work follows what the
 * input hits, not what the set holds, except for clearing one bit per
 * node and one byte per block.
 *
 * Invariants: nodes of a dimension are numbered groups first, then lists
 * in policy order; posting lists hold each node once.  The index is read
 * only after pol_set_resolve(); a decision's scratch is its own, so
 * threads may share a set.
 */
#include <stdlib.h>
#include <string.h>

#include "../lib/buf.h"
#include "../lib/xalloc.h"
#include "policy_priv.h"

#define BIT_IS(w, i)	(((w)[(i) / 64] >> ((i) % 64)) & 1)
#define BIT_SET(w, i)	((w)[(i) / 64] |= (uint64_t)1 << ((i) % 64))
#define WORDS(n)	(((size_t)(n) + 63) / 64)

static void
post(struct pol_dindex *dx, uint8_t tag, const void *key, size_t len,
    uint32_t node)
{
	struct pol_u32vec *v;
	uint32_t *slot;
	bool added;

	slot = pol_htab_put(&dx->keys, pol_hash(tag, key, len), tag, key, len,
	    (uint32_t)dx->npost, &added);
	if (added) {
		dx->post = xreallocarray(dx->post, dx->npost + 1,
		    sizeof(*dx->post));
		memset(&dx->post[dx->npost++], 0, sizeof(*dx->post));
	}
	v = &dx->post[*slot];
	if (v->n == 0 || v->v[v->n - 1] != node)
		pol_u32vec_push(v, node);
}

static void
post_cidr(struct pol_dindex *dx, const struct cidr *c, uint32_t node)
{
	uint8_t key[17];
	size_t n = c->net.family == AF_INET ? 4 : 16;

	key[0] = (uint8_t)c->prefix;
	memcpy(key + 1, c->net.bytes, n);
	if (n == 4)
		BIT_SET(dx->v4len, c->prefix);
	else
		BIT_SET(dx->v6len, c->prefix);
	post(dx, n == 4 ? POL_K_V4 : POL_K_V6, key, n + 1, node);
}

static void
post_item(struct pol_dindex *dx, const struct pol_item *it, enum pol_dim dim,
    uint32_t node, struct buf *tmp)
{
	struct pol_u32vec *up;
	const struct pol_gres *res;

	switch (it->kind) {
	case POL_ITEM_ANY:
		post(dx, POL_K_ANY, "", 0, node);
		break;
	case POL_ITEM_GROUP:
		res = it->group ? it->group->res[dim] : NULL;
		if (res == NULL || res->node == POL_NONE)
			break;
		up = &dx->parents[res->node];
		if (up->n == 0 || up->v[up->n - 1] != node)
			pol_u32vec_push(up, node);
		break;
	case POL_ITEM_ADDR:
		buf_reset(tmp);
		buf_printf(tmp, "%s@%s", it->local, it->domain);
		post(dx, POL_K_ADDR, tmp->data, tmp->len, node);
		break;
	case POL_ITEM_DOMAIN:
		post(dx, POL_K_DOMAIN, it->domain, strlen(it->domain), node);
		break;
	case POL_ITEM_SUBDOMAIN:
		post(dx, POL_K_SUB, it->domain, strlen(it->domain), node);
		break;
	case POL_ITEM_LOCAL:
		post(dx, POL_K_LOCAL, it->local, strlen(it->local), node);
		break;
	case POL_ITEM_NULL_SENDER:
		post(dx, POL_K_NULL, "", 0, node);
		break;
	case POL_ITEM_CIDR:
		post_cidr(dx, &it->cidr, node);
		break;
	case POL_ITEM_SASL_ANY:
		post(dx, POL_K_SASL_ANY, "", 0, node);
		break;
	case POL_ITEM_SASL_NONE:
		post(dx, POL_K_SASL_NONE, "", 0, node);
		break;
	case POL_ITEM_SASL_NAME:
		post(dx, POL_K_LOGIN, it->domain, strlen(it->domain), node);
		break;
	}
}

static void
post_items(struct pol_dindex *dx, const struct pol_item *items, size_t n,
    enum pol_dim dim, uint32_t node, struct buf *tmp)
{
	size_t i;

	for (i = 0; i < n; i++)
		post_item(dx, &items[i], dim, node, tmp);
}

static uint32_t
count_nodes(const struct pol_set *set, enum pol_dim dim)
{
	uint32_t n = 0;
	size_t i, j;

	for (i = 0; i < set->ngroup; i++)
		n += set->groups[i]->res[dim] != NULL;
	for (i = 0; i < set->npolicy; i++) {
		for (j = 0; j < set->policies[i]->nmatch; j++) {
			const struct pol_match *m = &set->policies[i]->matches[j];

			if (m->has[dim])
				n += 1 + (m->dim[dim].nexcept > 0);
		}
	}
	return n;
}

static void
build_dim(struct pol_set *set, enum pol_dim dim, struct buf *tmp)
{
	struct pol_dindex *dx = &set->priv->dim[dim];
	uint32_t n = 0, mid = 0, items, i;
	struct pol_gres *res;
	size_t p, j;

	dx->nnode = count_nodes(set, dim);
	dx->parents = xcalloc(dx->nnode + 1, sizeof(*dx->parents));
	dx->node_match = xcalloc(dx->nnode + 1, sizeof(uint32_t));
	dx->node_except = xcalloc(dx->nnode + 1, sizeof(uint32_t));
	for (i = 0; i < dx->nnode; i++)
		dx->node_match[i] = dx->node_except[i] = POL_NONE;
	for (p = 0; p < set->ngroup; p++) {
		if ((res = set->groups[p]->res[dim]) != NULL)
			res->node = n++;
	}
	for (p = 0; p < set->npolicy; p++) {
		for (j = 0; j < set->policies[p]->nmatch; j++, mid++) {
			const struct pol_match *m = &set->policies[p]->matches[j];
			const struct pol_list *l = &m->dim[dim];

			if (!m->has[dim])
				continue;
			items = n++;
			dx->node_match[items] = mid;
			post_items(dx, l->items, l->nitem, dim, items, tmp);
			if (l->nexcept == 0)
				continue;
			dx->node_except[items] = n++;
			post_items(dx, l->except, l->nexcept, dim,
			    dx->node_except[items], tmp);
		}
	}
	for (p = 0; p < set->ngroup; p++) {
		if ((res = set->groups[p]->res[dim]) != NULL)
			post_items(dx, res->items, res->nitem, dim, res->node,
			    tmp);
	}
}

void
pol_index_build(struct pol_set *set)
{
	struct pol_priv *pv = set->priv;
	struct buf tmp = BUF_INIT;
	uint32_t mid = 0;
	size_t p, j, n = 0;
	unsigned d;

	pol_index_free(pv);
	for (p = 0; p < set->npolicy; p++)
		n += set->policies[p]->nmatch;
	pv->nmatch = (uint32_t)n;
	pv->match_pol = xcalloc(n + 1, sizeof(*pv->match_pol));
	pv->match_need = xcalloc(n + 1, 1);
	pv->match_rcpt = xcalloc(n + 1, 1);
	for (p = 0; p < set->npolicy; p++) {
		for (j = 0; j < set->policies[p]->nmatch; j++, mid++) {
			const struct pol_match *m = &set->policies[p]->matches[j];

			pv->match_pol[mid] = (uint32_t)p;
			for (d = 0; d < POL_NDIM; d++)
				pv->match_need[mid] += m->has[d];
			pv->match_rcpt[mid] = m->has[POL_RECIPIENT];
			if (pv->match_need[mid] == 0)
				pol_u32vec_push(&pv->always, mid);
			else if (pv->match_need[mid] == 1 &&
			    m->has[POL_RECIPIENT])
				pol_u32vec_push(&pv->rcpt_only, mid);
		}
	}
	pv->nword = 0;
	pv->maxnode = 0;
	for (d = 0; d < POL_NDIM; d++) {
		build_dim(set, (enum pol_dim)d, &tmp);
		pv->nword += WORDS(pv->dim[d].nnode);
		if (pv->dim[d].nnode > pv->maxnode)
			pv->maxnode = pv->dim[d].nnode;
	}
	buf_free(&tmp);
}

void
pol_index_free(struct pol_priv *pv)
{
	struct pol_dindex *dx;
	size_t i;
	unsigned d;

	for (d = 0; d < POL_NDIM; d++) {
		dx = &pv->dim[d];
		pol_htab_clear(&dx->keys);
		for (i = 0; i < dx->npost; i++)
			free(dx->post[i].v);
		for (i = 0; dx->parents != NULL && i < dx->nnode; i++)
			free(dx->parents[i].v);
		free(dx->post);
		free(dx->parents);
		free(dx->node_match);
		free(dx->node_except);
		memset(dx, 0, sizeof(*dx));
	}
	free(pv->match_pol);
	free(pv->match_need);
	free(pv->match_rcpt);
	free(pv->always.v);
	free(pv->rcpt_only.v);
	pv->match_pol = NULL;
	pv->match_need = pv->match_rcpt = NULL;
	memset(&pv->always, 0, sizeof(pv->always));
	memset(&pv->rcpt_only, 0, sizeof(pv->rcpt_only));
	pv->nmatch = 0;
}

/* One decision's walk over one dimension. */
struct scan {
	const struct pol_dindex	*dx;
	uint64_t		*marks;		/* hit nodes */
	uint32_t		*stack;		/* nodes to climb from */
	uint32_t		*hits;		/* item lists hit */
	uint32_t		 nhit;
};

/* Marks the nodes posted under the key and those that reference them. */
static void
hit_key(struct scan *sc, uint8_t tag, const void *key, size_t len)
{
	const struct pol_dindex *dx = sc->dx;
	const struct pol_u32vec *pl, *up;
	const uint32_t *slot;
	uint32_t i, j, sp, n;

	slot = pol_htab_get(&dx->keys, pol_hash(tag, key, len), tag, key, len);
	if (slot == NULL)
		return;
	pl = &dx->post[*slot];
	for (i = 0; i < pl->n; i++) {
		if (BIT_IS(sc->marks, pl->v[i]))
			continue;
		BIT_SET(sc->marks, pl->v[i]);
		sp = 0;
		sc->stack[sp++] = pl->v[i];
		while (sp > 0) {
			n = sc->stack[--sp];
			if (dx->node_match[n] != POL_NONE)
				sc->hits[sc->nhit++] = n;
			up = &dx->parents[n];
			for (j = 0; j < up->n; j++) {
				if (BIT_IS(sc->marks, up->v[j]))
					continue;
				BIT_SET(sc->marks, up->v[j]);
				sc->stack[sp++] = up->v[j];
			}
		}
	}
}

static void
hit_addr(struct scan *sc, const struct pol_addrv *a, enum pol_dim dim)
{
	size_t i;

	if (dim == POL_SENDER && a->null) {
		hit_key(sc, POL_K_NULL, "", 0);
		return;
	}
	if (a->local.len > 0)
		hit_key(sc, POL_K_LOCAL, a->local.p, a->local.len);
	if (!a->has_at || a->domain.len == 0)
		return;
	hit_key(sc, POL_K_ADDR, a->addr.p, a->addr.len);
	hit_key(sc, POL_K_DOMAIN, a->domain.p, a->domain.len);
	for (i = 0; i < a->domain.len; i++) {
		if (a->domain.p[i] == '.')
			hit_key(sc, POL_K_SUB, a->domain.p + i + 1,
			    a->domain.len - i - 1);
	}
}

static void
hit_client(struct scan *sc, const struct addr *a)
{
	const uint64_t *lens = a->family == AF_INET ? sc->dx->v4len :
	    sc->dx->v6len;
	unsigned bits = a->family == AF_INET ? 32 : 128, p, i;
	uint8_t key[17];

	for (p = 0; p <= bits; p++) {
		if (!BIT_IS(lens, p))
			continue;
		key[0] = (uint8_t)p;
		memcpy(key + 1, a->bytes, bits / 8);
		for (i = p; i < bits; i++)
			key[1 + i / 8] &= (uint8_t)~(0x80 >> (i % 8));
		hit_key(sc, a->family == AF_INET ? POL_K_V4 : POL_K_V6, key,
		    1 + bits / 8);
	}
}

static void
hit_dim(struct scan *sc, enum pol_dim dim, const struct pol_view *v)
{
	hit_key(sc, POL_K_ANY, "", 0);
	switch (dim) {
	case POL_CLIENT:
		if (v->has_client)
			hit_client(sc, &v->client);
		break;
	case POL_SENDER:
	case POL_RECIPIENT:
		hit_addr(sc, pol_view_addr(v, dim), dim);
		break;
	default:
		if (!v->has_login) {
			hit_key(sc, POL_K_SASL_NONE, "", 0);
			break;
		}
		hit_key(sc, POL_K_SASL_ANY, "", 0);
		hit_key(sc, POL_K_LOGIN, v->login.p, v->login.len);
		break;
	}
}

static size_t
collect(const struct pol_set *set, const uint64_t *pol,
    const struct pol_policy **out, size_t max)
{
	size_t w, n = 0;
	uint64_t bits;

	for (w = 0; w < WORDS(set->npolicy); w++) {
		for (bits = pol[w]; bits != 0; bits &= bits - 1) {
			if (n < max)
				out[n] = set->policies[w * 64 +
				    (size_t)__builtin_ctzll(bits)];
			n++;
		}
	}
	return n;
}

size_t
pol_set_match(const struct pol_set *set, const struct pol_input *in,
    const struct pol_policy **out, size_t max)
{
	const struct pol_priv *pv = set->priv;
	size_t zeroed, nw, i, n;
	struct pol_view v;
	struct scan sc;
	uint64_t *mem, *marks, *pol;
	uint8_t *cnt;
	uint32_t m, h, need;
	unsigned d;

	if (!set->resolved)
		return 0;
	pol_view_init(&v, in);
	nw = pv->nword + WORDS(set->npolicy);
	zeroed = nw * 8 + pv->nmatch;
	mem = xmalloc(zeroed + 8 + 2 * (size_t)(pv->maxnode + 1) * 4);
	memset(mem, 0, zeroed);
	marks = mem;
	pol = mem + pv->nword;
	cnt = (uint8_t *)(mem + nw);
	sc.stack = (uint32_t *)(mem + (zeroed + 7) / 8);
	sc.hits = sc.stack + pv->maxnode + 1;
	for (d = 0; d < POL_NDIM; d++) {
		sc.dx = &pv->dim[d];
		sc.marks = marks;
		sc.nhit = 0;
		marks += WORDS(sc.dx->nnode);
		if (sc.dx->nnode == 0 || (d == POL_RECIPIENT && !v.rcpt.given))
			continue;
		hit_dim(&sc, (enum pol_dim)d, &v);
		for (i = 0; i < sc.nhit; i++) {
			h = sc.hits[i];
			if (sc.dx->node_except[h] != POL_NONE &&
			    BIT_IS(sc.marks, sc.dx->node_except[h]))
				continue;
			m = sc.dx->node_match[h];
			need = pv->match_need[m] - (!v.rcpt.given &&
			    pv->match_rcpt[m]);
			if (++cnt[m] == need)
				BIT_SET(pol, pv->match_pol[m]);
		}
	}
	for (i = 0; i < pv->always.n; i++)
		BIT_SET(pol, pv->match_pol[pv->always.v[i]]);
	for (i = 0; !v.rcpt.given && i < pv->rcpt_only.n; i++)
		BIT_SET(pol, pv->match_pol[pv->rcpt_only.v[i]]);
	n = collect(set, pol, out, max);
	free(mem);
	pol_view_clear(&v);
	return n;
}
