/*
 * policy: the set of groups and policies conf/ builds, and its resolution
 * (policy.h has the model; DESIGN.md, "Policy matching").
 *
 * A group keeps its items as text: `%staff` may be used in sender and in
 * recipient, and each use reads the items in that dimension.  Resolution
 * finds every mistake in one pass, each reported with the line to look
 * at, so that a configuration with an error is refused as a whole instead
 * of matching nothing (cbpolicyd's silent failures, reference/cbpolicyd.md
 * 1.4-1.5): unknown groups (with the closest name), empty groups, loops
 * (with the cycle), nesting deeper than POL_DEPTH (which bounds every
 * recursion over groups), items that do not fit a dimension a group is
 * used in (once per group and dimension, at the first reference), `any`
 * with other items, `except` alone or with `any`.  Only a set without
 * errors is ordered and indexed (match_index.c).
 *
 * Ownership: the set owns its groups, policies and their strings, and
 * the accountings (which point into its policies, so they go first); a
 * policy owns its quotas and its greylisting, helo and spf blocks; a
 * group read in a dimension owns that reading (struct pol_gres).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../lib/buf.h"
#include "../lib/strutil.h"
#include "../lib/xalloc.h"
#include "accounting.h"
#include "greylist.h"
#include "helo.h"
#include "policy_priv.h"
#include "quota.h"
#include "spf.h"

#define POL_DEPTH	32	/* groups within groups */

struct pol_set *
pol_set_new(void)
{
	struct pol_set *set = xcalloc(1, sizeof(*set));

	set->priv = xcalloc(1, sizeof(*set->priv));
	set->accts = pol_accts_new();
	return set;
}

static void
items_free(struct pol_item *items, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		pol_item_clear(&items[i]);
	free(items);
}

static void
group_unresolve(struct pol_group *g)
{
	unsigned d;

	for (d = 0; d < POL_NDIM; d++) {
		if (g->res[d] == NULL)
			continue;
		items_free(g->res[d]->items, g->res[d]->nitem);
		free(g->res[d]);
		g->res[d] = NULL;
	}
}

static void
policy_free(struct pol_policy *p)
{
	size_t i;
	unsigned d;

	for (i = 0; i < p->nmatch; i++) {
		for (d = 0; d < POL_NDIM; d++) {
			items_free(p->matches[i].dim[d].items,
			    p->matches[i].dim[d].nitem);
			items_free(p->matches[i].dim[d].except,
			    p->matches[i].dim[d].nexcept);
		}
	}
	free(p->matches);
	for (i = 0; i < p->nquota; i++)
		pol_quota_free(p->quotas[i]);
	free(p->quotas);
	grey_settings_free(&p->grey);
	helo_settings_free(&p->helo);
	spf_settings_free(&p->spf);
	free(p->access.reply);
	free(p->name);
	free(p);
}

void
pol_set_free(struct pol_set **setp)
{
	struct pol_set *set = *setp;
	size_t i;

	if (set == NULL)
		return;
	pol_accts_free(&set->accts);
	for (i = 0; i < set->ngroup; i++) {
		group_unresolve(set->groups[i]);
		items_free(set->groups[i]->items, set->groups[i]->nitem);
		free(set->groups[i]->name);
		free(set->groups[i]);
	}
	for (i = 0; i < set->npolicy; i++)
		policy_free(set->policies[i]);
	free(set->groups);
	free(set->policies);
	free(set->quotas);
	pol_index_free(set->priv);
	pol_htab_clear(&set->priv->gnames);
	pol_htab_clear(&set->priv->pnames);
	free(set->priv);
	free(set);
	*setp = NULL;
}

/* Names compare without regard to case: %Staff is %staff. */
static uint32_t *
name_slot(struct pol_htab *h, const char *name, uint32_t val, bool *added)
{
	char *low = xstrdup(name);
	uint32_t *slot;
	size_t i;

	for (i = 0; low[i]; i++)
		low[i] = (char)(low[i] >= 'A' && low[i] <= 'Z' ?
		    low[i] - 'A' + 'a' : low[i]);
	slot = pol_htab_put(h, pol_hash(POL_K_NAME, low, i), POL_K_NAME,
	    low, i, val, added);
	free(low);
	return slot;
}

/* The group of that name, or NULL (the name is not added). */
static struct pol_group *
group_find(const struct pol_set *set, const char *name)
{
	char low[128];
	const uint32_t *slot;
	size_t i;

	for (i = 0; i < sizeof(low) && name[i]; i++)
		low[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ?
		    name[i] - 'A' + 'a' : name[i]);
	if (name[i] != '\0')
		return NULL;	/* longer than any name pol_group_add took */
	slot = pol_htab_get(&set->priv->gnames, pol_hash(POL_K_NAME, low, i),
	    POL_K_NAME, low, i);
	return slot ? set->groups[*slot] : NULL;
}

struct pol_group *
pol_group_add(struct pol_set *set, const char *name, int line, char *err,
    size_t errsz)
{
	struct pol_group *g;
	uint32_t *slot;
	bool added;

	if (!pol_name_is_valid(name) || strlen(name) >= 128) {
		pol_fail(err, errsz, "\"%s\": a group name has only letters, "
		    "digits, '-', '_' and '.' (at most 127)", name);
		return NULL;
	}
	slot = name_slot(&set->priv->gnames, name, (uint32_t)set->ngroup,
	    &added);
	if (!added) {
		pol_fail(err, errsz, "group \"%s\" is already defined at line "
		    "%d", name, set->groups[*slot]->line);
		return NULL;
	}
	g = xcalloc(1, sizeof(*g));
	g->name = xstrdup(name);
	g->line = line;
	g->index = set->ngroup;
	set->groups = xreallocarray(set->groups, set->ngroup + 1,
	    sizeof(*set->groups));
	set->groups[set->ngroup++] = g;
	set->resolved = false;
	return g;
}

void
pol_group_add_text(struct pol_group *g, const char *text, int line)
{
	struct pol_item *it;

	g->items = xreallocarray(g->items, g->nitem + 1, sizeof(*g->items));
	it = &g->items[g->nitem++];
	memset(it, 0, sizeof(*it));
	it->text = xstrdup(text ? text : "");
	it->line = line;
}

struct pol_policy *
pol_policy_add(struct pol_set *set, const char *name, long priority, int line,
    char *err, size_t errsz)
{
	struct pol_policy *p;
	uint32_t *slot;
	bool added;

	if (!pol_name_is_valid(name)) {
		pol_fail(err, errsz, "\"%s\": a policy name has only letters, "
		    "digits, '-', '_' and '.'", name);
		return NULL;
	}
	/* by line: resolving reorders the policies */
	slot = name_slot(&set->priv->pnames, name, (uint32_t)line, &added);
	if (!added) {
		pol_fail(err, errsz, "policy \"%s\" is already defined at "
		    "line %d", name, (int)*slot);
		return NULL;
	}
	p = xcalloc(1, sizeof(*p));
	p->name = xstrdup(name);
	p->priority = priority;
	p->line = line;
	p->index = set->npolicy;
	set->policies = xreallocarray(set->policies, set->npolicy + 1,
	    sizeof(*set->policies));
	set->policies[set->npolicy++] = p;
	set->resolved = false;
	return p;
}

struct pol_match *
pol_policy_add_match(struct pol_policy *p, int line)
{
	struct pol_match *m;

	p->matches = xreallocarray(p->matches, p->nmatch + 1,
	    sizeof(*p->matches));
	m = &p->matches[p->nmatch++];
	memset(m, 0, sizeof(*m));
	m->line = line;
	return m;
}

void
pol_match_add(struct pol_match *m, enum pol_dim dim, bool except,
    struct pol_item *item)
{
	struct pol_list *l;
	struct pol_item **arr;
	size_t *n;

	if ((unsigned)dim >= POL_NDIM)
		return;
	l = &m->dim[dim];
	arr = except ? &l->except : &l->items;
	n = except ? &l->nexcept : &l->nitem;
	*arr = xreallocarray(*arr, *n + 1, sizeof(**arr));
	(*arr)[(*n)++] = *item;
	memset(item, 0, sizeof(*item));
	m->has[dim] = true;
}

/* One resolution: the errors so far and the walk over the group graph. */
struct resolver {
	struct pol_set	*set;
	pol_error_fn	*errfn;
	void		*arg;
	int		 nerr;
	uint8_t		*state;		/* per group: 0, 1 on the path, 2 */
	bool		*bad;		/* in a loop or nested too deep */
	int		*height;	/* groups below, itself included */
	size_t		*path;
	size_t		 depth;
};

static void report(struct resolver *, int, const char *, ...)
    __attribute__((format(printf, 3, 4)));

static void
report(struct resolver *r, int line, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	r->nerr++;
	if (r->errfn != NULL)
		r->errfn(r->arg, line, msg);
}

static void
report_unknown(struct resolver *r, int line, const char *name)
{
	const char *best = NULL;
	size_t i, d, bestd = strlen(name) <= 4 ? 2 : 3;

	for (i = 0; i < r->set->ngroup; i++) {
		d = pol_distance(name, r->set->groups[i]->name);
		if (d < bestd) {
			bestd = d;
			best = r->set->groups[i]->name;
		}
	}
	if (best != NULL)
		report(r, line, "unknown group \"%s\" (did you mean \"%s\"?)",
		    name, best);
	else
		report(r, line, "unknown group \"%s\"", name);
}

/* The group an item names, if it is a valid reference to one. */
static struct pol_group *
ref_target(const struct pol_set *set, const char *text)
{
	if (text[0] != '%' || !pol_name_is_valid(text + 1))
		return NULL;
	return group_find(set, text + 1);
}

static void
report_cycle(struct resolver *r, size_t from, const struct pol_item *it)
{
	struct buf b = BUF_INIT;
	size_t i;

	for (i = from; i < r->depth; i++) {
		buf_printf(&b, "%s -> ", r->set->groups[r->path[i]]->name);
		r->bad[r->path[i]] = true;
	}
	buf_addstr(&b, r->set->groups[r->path[from]]->name);
	report(r, it->line, "group %s includes itself: %s",
	    r->set->groups[r->path[from]]->name, b.data);
	buf_free(&b);
}

/* Depth-first over the references between groups: loops and depth. */
static void
walk_group(struct resolver *r, size_t g)
{
	const struct pol_group *grp = r->set->groups[g];
	struct pol_group *c;
	size_t i, k;

	r->state[g] = 1;
	r->path[r->depth++] = g;
	r->height[g] = 1;
	for (i = 0; i < grp->nitem; i++) {
		if ((c = ref_target(r->set, grp->items[i].text)) == NULL)
			continue;
		if (r->state[c->index] == 1) {
			for (k = 0; r->path[k] != c->index; k++)
				;
			report_cycle(r, k, &grp->items[i]);
			continue;
		}
		if (r->state[c->index] == 0 && r->depth > POL_DEPTH) {
			if (!r->bad[g])
				report(r, grp->items[i].line, "group \"%s\": "
				    "groups nested more than %d deep",
				    grp->name, POL_DEPTH);
			r->bad[g] = true;
			continue;
		}
		if (r->state[c->index] == 0)
			walk_group(r, c->index);
		if (r->bad[c->index] || r->state[c->index] != 2)
			r->bad[g] = true;
		else if (r->height[c->index] + 1 > r->height[g])
			r->height[g] = r->height[c->index] + 1;
	}
	if (r->height[g] > POL_DEPTH && !r->bad[g]) {
		report(r, grp->line, "group \"%s\": groups nested more than "
		    "%d deep", grp->name, POL_DEPTH);
		r->bad[g] = true;
	}
	r->depth--;
	r->state[g] = 2;
}

/* What can be said of the groups before any is read in a dimension. */
static void
check_groups(struct resolver *r)
{
	const struct pol_group *g;
	const char *t;
	size_t i, j;

	for (i = 0; i < r->set->ngroup; i++) {
		g = r->set->groups[i];
		if (g->nitem == 0)
			report(r, g->line, "group \"%s\" has no items",
			    g->name);
		for (j = 0; j < g->nitem; j++) {
			t = g->items[j].text;
			if (strcasecmp(t, "any") == 0 && g->nitem > 1)
				report(r, g->items[j].line, "group \"%s\": "
				    "\"any\" cannot be listed with other items",
				    g->name);
			if (t[0] == '%' && pol_name_is_valid(t + 1) &&
			    group_find(r->set, t + 1) == NULL)
				report_unknown(r, g->items[j].line, t + 1);
		}
	}
	for (i = 0; i < r->set->ngroup; i++) {
		if (r->state[i] == 0)
			walk_group(r, i);
	}
}

/* Reads group g in dimension dim, and the groups it includes; an item
 * that does not fit is reported at ref_line, where g is used. */
static void
use_group(struct resolver *r, struct pol_group *g, enum pol_dim dim,
    int ref_line)
{
	struct pol_gres *res;
	struct pol_item *it;
	char err[512];
	size_t i;

	if (g->res[dim] != NULL || r->bad[g->index])
		return;
	res = g->res[dim] = xcalloc(1, sizeof(*res));
	res->node = POL_NONE;
	res->items = xcalloc(g->nitem + 1, sizeof(*res->items));
	for (i = 0; i < g->nitem; i++) {
		it = &res->items[res->nitem];
		if (pol_item_parse(dim, g->items[i].text, g->items[i].line, it,
		    err, sizeof(err)) == -1) {
			res->bad = true;
			report(r, ref_line, "group \"%s\" used in %s: line %d: "
			    "%s", g->name, pol_dim_name(dim), g->items[i].line,
			    err);
			continue;
		}
		res->nitem++;
		if (it->kind == POL_ITEM_GROUP &&
		    (it->group = group_find(r->set, it->text + 1)) != NULL)
			use_group(r, it->group, dim, ref_line);
	}
}

/* A dimension of a match block: its list and its group references. */
static void
check_list(struct resolver *r, struct pol_list *l, enum pol_dim dim)
{
	const char *dn = pol_dim_name(dim);
	struct pol_item *it;
	size_t i, n = l->nitem + l->nexcept;

	if (l->nitem == 0 && l->nexcept > 0)
		report(r, l->except[0].line, "%s: \"except\" needs items "
		    "before it (\"%s any except ...\")", dn, dn);
	for (i = 0; i < n; i++) {
		it = i < l->nitem ? &l->items[i] : &l->except[i - l->nitem];
		if (it->kind == POL_ITEM_ANY && i < l->nitem && l->nitem > 1)
			report(r, it->line, "%s: \"any\" cannot be listed with "
			    "other items", dn);
		if (it->kind == POL_ITEM_ANY && i >= l->nitem)
			report(r, it->line, "%s: \"except any\" leaves nothing "
			    "to match", dn);
		if (it->kind != POL_ITEM_GROUP)
			continue;
		if ((it->group = group_find(r->set, it->text + 1)) == NULL)
			report_unknown(r, it->line, it->text + 1);
		else
			use_group(r, it->group, dim, it->line);
	}
}

/* A group used nowhere is still checked: an item that fits no
 * dimension is reported in the one it most looks written for. */
static void
check_unused(struct resolver *r, const struct pol_group *g)
{
	struct pol_item it;
	char err[512], guess[512] = "";
	const char *t;
	size_t i;
	unsigned d, gd, ok;

	for (d = 0; d < POL_NDIM; d++) {
		if (g->res[d] != NULL || r->bad[g->index])
			return;
	}
	for (i = 0; i < g->nitem; i++) {
		t = g->items[i].text;
		gd = strchr(t, ':') != NULL || (t[0] >= '0' && t[0] <= '9') ?
		    POL_CLIENT : POL_SENDER;
		for (d = 0, ok = 0; d < POL_NDIM; d++) {
			if (pol_item_parse((enum pol_dim)d, t, 0, &it, err,
			    sizeof(err)) == 0)
				ok++;
			else if (d == gd)
				memcpy(guess, err, sizeof(guess));
			pol_item_clear(&it);
		}
		if (ok == 0)
			report(r, g->items[i].line, "group \"%s\": %s",
			    g->name, guess);
	}
}

static int
policy_cmp(const void *a, const void *b)
{
	const struct pol_policy *pa = *(const struct pol_policy *const *)a;
	const struct pol_policy *pb = *(const struct pol_policy *const *)b;

	if (pa->priority != pb->priority)
		return pa->priority < pb->priority ? -1 : 1;
	return pa->index < pb->index ? -1 : pa->index > pb->index;
}

/* A quota's counters are "policy/quota/track", lower-cased: they follow
 * it across reloads that keep those, and start afresh when it counts
 * something else (Sender:user@domain -> Sender:@domain). */
static void
quota_ident(struct pol_quota *q)
{
	char track[64];

	pol_track_format(q, track, sizeof(track));
	free(q->ident);
	q->ident = xasprintf("%s/%s/%s", q->policy->name, q->name, track);
	str_lower(q->ident);
}

/* Every quota in the order of evaluation: policies by priority, each
 * policy's quotas as written. */
static void
number_quotas(struct pol_set *set)
{
	struct pol_quota *q;
	size_t i, j, n = 0;

	for (i = 0; i < set->npolicy; i++)
		n += set->policies[i]->nquota;
	free(set->quotas);
	set->quotas = n ? xcalloc(n, sizeof(*set->quotas)) : NULL;
	set->nquota = 0;
	for (i = 0; i < set->npolicy; i++)
		for (j = 0; j < set->policies[i]->nquota; j++) {
			q = set->policies[i]->quotas[j];
			q->id = (uint32_t)set->nquota;
			quota_ident(q);
			set->quotas[set->nquota++] = q;
		}
}

int
pol_set_resolve(struct pol_set *set, pol_error_fn *errfn, void *arg)
{
	struct resolver r;
	struct pol_policy *p;
	size_t i, j;
	unsigned d;

	memset(&r, 0, sizeof(r));
	r.set = set;
	r.errfn = errfn;
	r.arg = arg;
	r.state = xcalloc(set->ngroup + 1, sizeof(*r.state));
	r.bad = xcalloc(set->ngroup + 1, sizeof(*r.bad));
	r.height = xcalloc(set->ngroup + 1, sizeof(*r.height));
	r.path = xcalloc(set->ngroup + 1, sizeof(*r.path));
	set->resolved = false;
	pol_index_free(set->priv);
	for (i = 0; i < set->ngroup; i++)
		group_unresolve(set->groups[i]);
	check_groups(&r);
	for (i = 0; i < set->npolicy; i++) {
		p = set->policies[i];
		if (p->nmatch == 0)
			report(&r, p->line, "policy \"%s\" has no match",
			    p->name);
		for (j = 0; j < p->nmatch; j++) {
			for (d = 0; d < POL_NDIM; d++) {
				if (p->matches[j].has[d])
					check_list(&r, &p->matches[j].dim[d],
					    (enum pol_dim)d);
			}
		}
		for (j = 0; j < p->nquota; j++)
			r.nerr += pol_quota_check(p->quotas[j], errfn, arg);
	}
	for (i = 0; i < set->ngroup; i++)
		check_unused(&r, set->groups[i]);
	if (r.nerr == 0) {
		if (set->npolicy > 0)
			qsort(set->policies, set->npolicy,
			    sizeof(*set->policies), policy_cmp);
		number_quotas(set);
		pol_index_build(set);
		set->resolved = true;
		r.nerr += pol_accts_resolve(set->accts, set, errfn, arg);
	}
	free(r.state);
	free(r.bad);
	free(r.height);
	free(r.path);
	return r.nerr;
}

void
pol_verror(pol_error_fn *errfn, void *arg, int line, const char *what,
    const char *policy, const char *name, const char *fmt, va_list ap)
{
	char msg[512];
	int n;

	if (errfn == NULL)
		return;
	n = snprintf(msg, sizeof(msg), "policy %s: %s %s: ", policy, what,
	    name);
	if (n < 0 || (size_t)n >= sizeof(msg))
		n = 0;
	vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
	errfn(arg, line, msg);
}
