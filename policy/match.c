/*
 * match: the input as the matchers read it (a view), and the matcher that
 * walks a policy's items one by one and can say why it decided, for
 * `sluicectl explain` and as the reference the indexed matcher
 * (match_index.c) is tested against.
 *
 * The input comes from the network: the sender, recipient and login are
 * any bytes a client chose.  They are only lower-cased (ASCII), split at
 * the last '@' and compared; in an explanation, control bytes are shown
 * as '?'.  A block's dimensions are read in the order of enum pol_dim and
 * the first that fails ends the block (AND).
 */
#include <stdlib.h>
#include <string.h>

#include "../lib/xalloc.h"
#include "policy_priv.h"

static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0xff, 0xff };

/* "<x>" is x; returns the length kept. */
static const char *
strip_brackets(const char *s, size_t *len)
{
	*len = strlen(s);
	if (*len >= 2 && s[0] == '<' && s[*len - 1] == '>') {
		*len -= 2;
		return s + 1;
	}
	return s;
}

static char *
copy_lower(char *dst, const char *s, size_t len, struct pol_str *out)
{
	size_t i;

	for (i = 0; i < len; i++)
		dst[i] = (s[i] >= 'A' && s[i] <= 'Z') ?
		    (char)(s[i] - 'A' + 'a') : s[i];
	dst[len] = '\0';
	out->p = dst;
	out->len = len;
	return dst + len + 1;
}

static void
split_addr(struct pol_addrv *a)
{
	const char *at = memrchr(a->addr.p, '@', a->addr.len);

	a->has_at = at != NULL;
	if (at == NULL) {
		a->local = a->addr;
		a->domain.p = a->addr.p + a->addr.len;
		a->domain.len = 0;
		return;
	}
	a->local.p = a->addr.p;
	a->local.len = (size_t)(at - a->addr.p);
	a->domain.p = at + 1;
	a->domain.len = a->addr.len - a->local.len - 1;
}

void
pol_view_init(struct pol_view *v, const struct pol_input *in)
{
	const char *s, *r = NULL, *l = in->sasl;
	size_t slen, rlen = 0, llen = l ? strlen(l) : 0;
	char *p;

	memset(v, 0, sizeof(*v));
	v->in = in;
	s = strip_brackets(in->sender ? in->sender : "", &slen);
	if (in->recipient != NULL)
		r = strip_brackets(in->recipient, &rlen);
	v->mem = slen + rlen + llen + 3 <= sizeof(v->small) ? v->small :
	    xmalloc(slen + rlen + llen + 3);
	p = copy_lower(v->mem, s, slen, &v->sender.addr);
	v->sender.given = true;
	v->sender.null = slen == 0;
	split_addr(&v->sender);
	p = copy_lower(p, r ? r : "", rlen, &v->rcpt.addr);
	v->rcpt.given = r != NULL;
	split_addr(&v->rcpt);
	copy_lower(p, l ? l : "", llen, &v->login);
	v->has_login = llen > 0;
	if ((v->has_client = in->client != NULL)) {
		v->client = *in->client;
		if (v->client.family == AF_INET6 &&
		    memcmp(v->client.bytes, v4mapped, 12) == 0) {
			memmove(v->client.bytes, v->client.bytes + 12, 4);
			memset(v->client.bytes + 4, 0, 12);
			v->client.family = AF_INET;
		}
	}
}

void
pol_view_clear(struct pol_view *v)
{
	if (v->mem != v->small)
		free(v->mem);
	v->mem = NULL;
}

const struct pol_addrv *
pol_view_addr(const struct pol_view *v, enum pol_dim dim)
{
	return dim == POL_SENDER ? &v->sender : &v->rcpt;
}

static bool
str_is(const struct pol_str *s, const char *z)
{
	size_t n = strlen(z);

	return s->len == n && memcmp(s->p, z, n) == 0;
}

static const struct pol_item *
first_match(const struct pol_item *items, size_t n, enum pol_dim dim,
    const struct pol_view *v)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (pol_item_matches(&items[i], dim, v))
			return &items[i];
	}
	return NULL;
}

static const struct pol_item *
group_find(const struct pol_item *it, enum pol_dim dim,
    const struct pol_view *v)
{
	const struct pol_gres *res;

	if (it->group == NULL || (res = it->group->res[dim]) == NULL)
		return NULL;
	return first_match(res->items, res->nitem, dim, v);
}

/* @*.example.com: a.example.com and a.b.example.com, not example.com. */
static bool
is_subdomain(const struct pol_str *d, const char *parent)
{
	size_t n = strlen(parent);

	return d->len > n + 1 && d->p[d->len - n - 1] == '.' &&
	    memcmp(d->p + d->len - n, parent, n) == 0;
}

bool
pol_item_matches(const struct pol_item *it, enum pol_dim dim,
    const struct pol_view *v)
{
	const struct pol_addrv *a = pol_view_addr(v, dim);
	bool addr = (dim == POL_SENDER || dim == POL_RECIPIENT) && !a->null;

	switch (it->kind) {
	case POL_ITEM_ANY:
		return true;
	case POL_ITEM_GROUP:
		return group_find(it, dim, v) != NULL;
	case POL_ITEM_ADDR:
		return addr && a->has_at && str_is(&a->local, it->local) &&
		    str_is(&a->domain, it->domain);
	case POL_ITEM_DOMAIN:
		return addr && a->has_at && str_is(&a->domain, it->domain);
	case POL_ITEM_SUBDOMAIN:
		return addr && a->has_at && is_subdomain(&a->domain,
		    it->domain);
	case POL_ITEM_LOCAL:
		return addr && str_is(&a->local, it->local);
	case POL_ITEM_NULL_SENDER:
		return dim == POL_SENDER && v->sender.null;
	case POL_ITEM_CIDR:
		return dim == POL_CLIENT && v->has_client &&
		    cidr_match(&it->cidr, &v->client);
	case POL_ITEM_SASL_ANY:
		return dim == POL_SASL && v->has_login;
	case POL_ITEM_SASL_NONE:
		return dim == POL_SASL && !v->has_login;
	case POL_ITEM_SASL_NAME:
		return dim == POL_SASL && v->has_login &&
		    str_is(&v->login, it->domain);
	}
	return false;
}

/* Network bytes in an explanation: control bytes shown as '?'. */
static void
add_shown(struct buf *b, const char *s)
{
	for (; *s; s++)
		buf_addc(b, (unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s);
}

static void
explain_value(struct buf *b, enum pol_dim dim, const struct pol_view *v)
{
	char a[ADDR_STRLEN];

	switch (dim) {
	case POL_CLIENT:
		if (!v->has_client) {
			buf_addstr(b, "unknown");
			break;
		}
		addr_format(&v->client, a, sizeof(a));
		buf_addstr(b, a);
		break;
	case POL_SENDER:
		if (v->sender.null)
			buf_addstr(b, "<>");
		else
			add_shown(b, v->in->sender);
		break;
	case POL_RECIPIENT:
		add_shown(b, v->in->recipient);
		break;
	default:
		if (v->has_login)
			add_shown(b, v->in->sasl);
		else
			buf_addstr(b, "(no login)");
		break;
	}
}

/* "%staff: %admins: alice@example.com (line 9)". */
static void
explain_item(struct buf *b, const struct pol_item *it, enum pol_dim dim,
    const struct pol_view *v, bool in_group)
{
	const struct pol_item *sub;

	buf_addstr(b, it->text);
	if (it->kind == POL_ITEM_GROUP) {
		if ((sub = group_find(it, dim, v)) != NULL) {
			buf_addstr(b, ": ");
			explain_item(b, sub, dim, v, true);
		}
	} else if (in_group)
		buf_printf(b, " (line %d)", it->line);
}

/* One dimension of a block: whether it lets the block match. */
static bool
dim_matches(const struct pol_list *l, enum pol_dim dim,
    const struct pol_view *v, struct buf *why)
{
	const struct pol_item *hit, *exc = NULL;

	if (dim == POL_RECIPIENT && !v->rcpt.given) {
		if (why != NULL)
			buf_addstr(why, "recipient not given");
		return true;
	}
	if ((hit = first_match(l->items, l->nitem, dim, v)) != NULL)
		exc = first_match(l->except, l->nexcept, dim, v);
	if (why == NULL)
		return hit != NULL && exc == NULL;
	buf_printf(why, "%s ", pol_dim_name(dim));
	explain_value(why, dim, v);
	if (hit == NULL) {
		buf_addstr(why, " matched no item");
		return false;
	}
	buf_addstr(why, " matched ");
	explain_item(why, hit, dim, v, false);
	if (exc != NULL) {
		buf_addstr(why, " but except ");
		explain_item(why, exc, dim, v, false);
	}
	return exc == NULL;
}

static bool
block_matches(const struct pol_match *m, const struct pol_view *v,
    struct buf *why)
{
	unsigned d, n = 0;
	bool ok = true;

	if (why != NULL)
		buf_printf(why, "match line %d: ", m->line);
	for (d = 0; d < POL_NDIM && ok; d++) {
		if (!m->has[d])
			continue;
		if (why != NULL && n > 0)
			buf_addstr(why, "; ");
		n++;
		ok = dim_matches(&m->dim[d], (enum pol_dim)d, v, why);
	}
	if (why != NULL)
		buf_addstr(why, n == 0 ? "no conditions (matches anything)\n" :
		    "\n");
	return ok;
}

bool
pol_policy_matches(const struct pol_policy *p, const struct pol_input *in,
    struct buf *why)
{
	struct pol_view v;
	bool any = false;
	size_t i;

	pol_view_init(&v, in);
	for (i = 0; i < p->nmatch && (why != NULL || !any); i++) {
		if (block_matches(&p->matches[i], &v, why))
			any = true;
	}
	pol_view_clear(&v);
	return any;
}
