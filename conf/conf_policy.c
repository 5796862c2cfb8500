/*
 * conf_policy: groups and policies (DESIGN.md, "Policy matching"), built
 * into the policy set of policy/policy.h:
 *
 *	group NAME ITEM... [{ ITEM... }]
 *	policy NAME priority N {
 *	    [client|sender|recipient|sasl ITEM... [except ITEM...]]...
 *	    [match { client|sender|recipient|sasl ... }]...
 *	    [access ok|pass|reject|tempfail|hold|discard [reply TEXT]]
 *	    [helo { ... }]                   (conf_helo.c)
 *	    [spf { ... }]                    (conf_spf.c)
 *	    [greylisting { ... }]            (conf_grey.c)
 *	    [quota NAME { ... }]...          (conf_quota.c)
 *	    [accounting NAME { ... }]...     (conf_acct.c)
 *	}
 *
 * A policy writes one match's dimensions directly or has match blocks,
 * not both; it has at most one helo, spf and greylisting block.  Every
 * item is checked here (pol_item_parse) and every group reference by
 * pol_set_resolve(), with the line of the mistake.  The blocks are
 * applied each on its own: one with an error is left out and reported,
 * the rest of the policy is still read.  The dump writes a policy's
 * parts in the order they are evaluated: the RCPT stage (access, helo,
 * spf, greylisting), then the end of DATA (quotas, accountings).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/xalloc.h"
#include "../policy/accounting.h"
#include "conf_priv.h"

static const char *const dim_names[POL_NDIM] = {
	[POL_CLIENT] = "client",
	[POL_SENDER] = "sender",
	[POL_RECIPIENT] = "recipient",
	[POL_SASL] = "sasl",
};

static int
dim_of(const struct conf_node *n)
{
	int d;

	for (d = 0; d < POL_NDIM; d++)
		if (strcmp(n->kw->name, dim_names[d]) == 0)
			return d;
	return -1;
}

static struct pol_set *
set_of(struct conf *c)
{
	if (c->policy == NULL)
		c->policy = pol_set_new();
	return c->policy;
}

void
conf_group_apply(struct conf *c, const struct conf_node *n,
    struct conf_errs *errs)
{
	struct pol_group *g;
	char err[256];
	size_t i;

	g = pol_group_add(set_of(c), n->args[0]->text, n->tok->line, err,
	    sizeof(err));
	if (g == NULL) {
		conf_err(errs, n->tok->line, "%s", err);
		return;
	}
	for (i = 1; i < n->nargs; i++)
		pol_group_add_text(g, n->args[i]->text, n->args[i]->line);
}

/* One dimension statement (and its except) into m. */
static void
add_dim(const char *policy, struct pol_match *m, const struct conf_node *n,
    struct conf_errs *errs)
{
	const struct conf_node *ex;
	struct pol_item item;
	int d = dim_of(n);
	char err[256];
	size_t i;

	for (i = 0; i < n->nargs; i++) {
		if (pol_item_parse((enum pol_dim)d, n->args[i]->text,
		    n->args[i]->line, &item, err, sizeof(err)) == -1) {
			conf_err(errs, n->args[i]->line, "policy %s: %s: %s",
			    policy, dim_names[d], err);
			continue;
		}
		pol_match_add(m, (enum pol_dim)d, false, &item);
	}
	for (ex = n->child; ex != NULL; ex = ex->next)
		for (i = 0; i < ex->nargs; i++) {
			if (pol_item_parse((enum pol_dim)d, ex->args[i]->text,
			    ex->args[i]->line, &item, err, sizeof(err)) == -1) {
				conf_err(errs, ex->args[i]->line, "policy %s: "
				    "%s except: %s", policy, dim_names[d], err);
				continue;
			}
			pol_match_add(m, (enum pol_dim)d, true, &item);
		}
}

/* access VERDICT [reply TEXT] */
static void
add_access(struct pol_policy *p, const struct conf_node *n,
    struct conf_errs *errs)
{
	const char *reply = n->child != NULL ? n->child->args[0]->text : NULL;
	enum pol_verdict v;
	char err[256], shown[CONF_SHOWN];

	if (pol_verdict_parse(n->args[0]->text, &v) == -1) {
		conf_err(errs, n->args[0]->line, "policy %s: access: %s: not a "
		    "verdict (ok, pass, reject, tempfail, hold or discard)",
		    p->name, conf_shown(n->args[0]->text, shown,
		    sizeof(shown)));
		return;
	}
	if (pol_policy_set_access(p, v, reply, n->tok->line, err,
	    sizeof(err)) == -1)
		conf_err(errs, n->tok->line, "policy %s: %s", p->name, err);
}

/* The blocks of a policy that are applied, or not, on their own. */
static bool
is_block(const struct conf_kw *kw)
{
	return kw == &conf_daemon_kws[KW_POL_QUOTA] ||
	    kw == &conf_daemon_kws[KW_POL_ACCT] ||
	    kw == &conf_daemon_kws[KW_POL_GREY] ||
	    kw == &conf_daemon_kws[KW_POL_HELO] ||
	    kw == &conf_daemon_kws[KW_POL_SPF];
}

bool
conf_node_has_bad(const struct conf_node *n)
{
	const struct conf_node *s;

	for (s = n->child; s != NULL; s = s->next)
		if (!is_block(s->kw) && (s->bad || conf_node_has_bad(s)))
			return true;
	return false;
}

/* A policy's block of the RCPT-stage checks: one of each kind (first[0]
 * greylisting, [1] helo, [2] spf), a second refused. */
static void
add_check(struct pol_policy *p, const struct conf_node *s,
    const struct conf_node **first, struct conf_errs *errs)
{
	static const int rows[] = { KW_POL_GREY, KW_POL_HELO, KW_POL_SPF };
	size_t k;

	for (k = 0; s->kw != &conf_daemon_kws[rows[k]]; k++)
		;
	if (first[k] != NULL) {
		conf_err(errs, s->tok->line, "policy %s: %s given twice (first "
		    "at line %d): a policy has one %s block", p->name,
		    s->kw->name, first[k]->tok->line, s->kw->name);
		return;
	}
	first[k] = s;
	if (k == 0)
		conf_grey_apply(p, s, errs);
	else if (k == 1)
		conf_helo_apply(p, s, errs);
	else
		conf_spf_apply(p, s, errs);
}

void
conf_policy_apply(struct conf *c, const struct conf_node *n,
    struct conf_errs *errs)
{
	const char *name = n->args[0]->text;
	const struct conf_node *s, *prio = NULL, *direct = NULL, *block = NULL;
	const struct conf_node *checks[3] = { NULL, NULL, NULL };
	struct pol_match *m = NULL;
	struct pol_policy *p;
	uint64_t priority = 0;
	char err[256];

	/* its syntax error was reported: nothing more is said of it */
	if (conf_node_has_bad(n))
		return;
	for (s = n->child; s != NULL; s = s->next) {
		if (strcmp(s->kw->name, "priority") == 0) {
			if (prio != NULL) {
				conf_err(errs, s->tok->line, "policy %s: "
				    "priority given twice (first at line %d)",
				    name, prio->tok->line);
				continue;
			}
			prio = s;
			if (conf_value_u64(s->kw, s->args[0], &priority,
			    errs) == -1)
				return;
		} else if (strcmp(s->kw->name, "match") == 0) {
			if (block == NULL)
				block = s;
		} else if (dim_of(s) >= 0 && direct == NULL)
			direct = s;
	}
	if (prio == NULL) {
		conf_err(errs, n->tok->line, "policy %s: priority missing "
		    "(policy %s priority N { ... }; lower numbers first)", name,
		    name);
		return;
	}
	if (direct != NULL && block != NULL) {
		conf_err(errs, direct->tok->line, "policy %s: %s outside a "
		    "match block, and match blocks at line %d: write every "
		    "dimension in match blocks, or one match's directly", name,
		    direct->kw->name, block->tok->line);
		return;
	}
	if ((p = pol_policy_add(set_of(c), name, (long)priority,
	    n->tok->line, err, sizeof(err))) == NULL) {
		conf_err(errs, n->tok->line, "%s", err);
		return;
	}
	if (direct != NULL)
		m = pol_policy_add_match(p, direct->tok->line);
	for (s = n->child; s != NULL; s = s->next) {
		const struct conf_node *d;

		if (strcmp(s->kw->name, "match") == 0) {
			m = pol_policy_add_match(p, s->tok->line);
			for (d = s->child; d != NULL; d = d->next)
				add_dim(name, m, d, errs);
		} else if (dim_of(s) >= 0)
			add_dim(name, m, s, errs);
		else if (strcmp(s->kw->name, "access") == 0)
			add_access(p, s, errs);
		else if (s->kw == &conf_daemon_kws[KW_POL_QUOTA])
			conf_quota_apply(set_of(c), p, s, errs);
		else if (s->kw == &conf_daemon_kws[KW_POL_ACCT])
			conf_acct_apply(set_of(c), p, s, errs);
		else if (is_block(s->kw))
			add_check(p, s, checks, errs);
	}
}

static void
resolve_err(void *arg, int line, const char *msg)
{
	conf_err(arg, line, "%s", msg);
}

void
conf_policy_check(struct conf *c, struct conf_errs *errs)
{
	if (c->policy != NULL)
		pol_set_resolve(c->policy, resolve_err, errs);
}

static void
dump_items(struct buf *out, const char *lead, const struct pol_item *v,
    size_t n)
{
	size_t i;

	buf_addstr(out, lead);
	for (i = 0; i < n; i++) {
		buf_addc(out, ' ');
		conf_add_word(out, &conf_daemon_grammar, v[i].text);
	}
}

static void
dump_match(struct buf *out, const struct pol_match *m, const char *indent)
{
	int d;

	for (d = 0; d < POL_NDIM; d++) {
		if (!m->has[d])
			continue;
		buf_addstr(out, indent);
		dump_items(out, dim_names[d], m->dim[d].items,
		    m->dim[d].nitem);
		if (m->dim[d].nexcept > 0)
			dump_items(out, " except", m->dim[d].except,
			    m->dim[d].nexcept);
		buf_addc(out, '\n');
	}
}

/* Groups at the group row, policies at the policy row, in the order of
 * the file (policies: by priority, as they are evaluated). */
void
conf_policy_dump(const struct conf *c, const struct conf_kw *kw,
    struct buf *out)
{
	const struct pol_set *set = c->policy;
	size_t i, j;

	if (strcmp(kw->name, "group") == 0) {
		for (i = 0; set != NULL && i < set->ngroup; i++) {
			const struct pol_group *g = set->groups[i];

			buf_addstr(out, "group ");
			conf_add_word(out, &conf_daemon_grammar, g->name);
			dump_items(out, " {", g->items, g->nitem);
			buf_addstr(out, " }\n");
		}
		return;
	}
	for (i = 0; set != NULL && i < set->npolicy; i++) {
		const struct pol_policy *p = set->policies[i];

		buf_addstr(out, "policy ");
		conf_add_word(out, &conf_daemon_grammar, p->name);
		buf_printf(out, " priority %ld {\n", p->priority);
		for (j = 0; j < p->nmatch; j++) {
			if (p->nmatch == 1) {
				dump_match(out, &p->matches[j], "\t");
				continue;
			}
			buf_addstr(out, "\tmatch {\n");
			dump_match(out, &p->matches[j], "\t\t");
			buf_addstr(out, "\t}\n");
		}
		if (p->access.verdict != POL_V_NONE) {
			buf_printf(out, "\taccess %s",
			    pol_verdict_name(p->access.verdict));
			if (p->access.reply != NULL) {
				buf_addstr(out, " reply ");
				conf_add_word(out, &conf_daemon_grammar,
				    p->access.reply);
			}
			buf_addc(out, '\n');
		}
		if (p->helo != NULL)
			conf_helo_dump(p->helo, "\t", out);
		if (p->spf != NULL)
			conf_spf_dump(p->spf, "\t", out);
		if (p->grey != NULL)
			conf_grey_dump(p->grey, "\t", out);
		for (j = 0; j < p->nquota; j++)
			conf_quota_dump(p->quotas[j], "\t", out);
		for (j = 0; j < set->accts->nacct; j++)
			if (set->accts->accts[j]->policy == p)
				conf_acct_dump(set->accts->accts[j], "\t", out);
		buf_addstr(out, "}\n");
	}
}
