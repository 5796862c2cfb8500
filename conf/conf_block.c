/*
 * conf_block: what the blocks inside a policy share when they are applied
 * (quota, accounting, greylisting, helo, spf): errors that say which
 * policy and block they are about, a statement given twice, a word out
 * of a list (yes|no, a verdict), limits, and the dump of a block whose
 * settings are inherited: what it writes, then as comments what it does
 * not, with the defaults.
 *
 * A block is applied on its own: the errors found since conf_blk_init()
 * decide whether it is kept (conf_blk_failed), so one bad block does not
 * hide the rest of its policy, nor echo as "missing" in later checks.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "../lib/buf.h"
#include "../policy/quota.h"
#include "conf_priv.h"

void
conf_blk_init(struct conf_blk *b, const char *policy, struct conf_errs *errs,
    const char *fmt, ...)
{
	va_list ap;

	b->policy = policy;
	b->errs = errs;
	b->nerr = errs->n + errs->dropped;
	va_start(ap, fmt);
	vsnprintf(b->what, sizeof(b->what), fmt, ap);
	va_end(ap);
}

void
conf_blk_err(const struct conf_blk *b, int line, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	conf_err(b->errs, line, "policy %s: %s: %s", b->policy, b->what, msg);
}

void
conf_blk_report(void *arg, int line, const char *msg)
{
	const struct conf_blk *b = arg;

	conf_err(b->errs, line, "policy %s: %s", b->policy, msg);
}

bool
conf_blk_failed(const struct conf_blk *b)
{
	return b->errs->n + b->errs->dropped != b->nerr;
}

bool
conf_blk_once(const struct conf_blk *b, const struct conf_node *s,
    const struct conf_node **first)
{
	if (*first == NULL) {
		*first = s;
		return true;
	}
	if (s->kw->flags & CONF_KW_REPEAT)
		return true;
	conf_blk_err(b, s->tok->line, "%s given twice (first at line %d)",
	    s->kw->name, (*first)->tok->line);
	return false;
}

bool
conf_blk_subs_once(const struct conf_blk *b, const struct conf_node *n)
{
	const struct conf_node *s, *t;

	for (s = n->child; s != NULL; s = s->next)
		for (t = s->next; t != NULL; t = t->next)
			if (t->kw == s->kw) {
				conf_blk_err(b, t->tok->line, "%s: %s given "
				    "twice (first at line %d)", n->kw->name,
				    t->kw->name, s->tok->line);
				return false;
			}
	return true;
}

void
conf_blk_onoff(const struct conf_blk *b, const struct conf_node *n, bool on,
    bool *has, bool *val)
{
	if (*has && *val != on)
		conf_blk_err(b, n->tok->line, "on and off exclude each other");
	*has = true;
	*val = on;
}

void
conf_blk_apply(const struct conf_blk *b, const struct conf_node *n, int first,
    int last, const struct conf_node **opt, conf_blk_fn *fn, void *ctx)
{
	const struct conf_node *s;
	int i;

	for (s = n->child; s != NULL; s = s->next) {
		i = (int)(s->kw - conf_daemon_kws);
		if (i >= first && i <= last &&
		    conf_blk_once(b, s, &opt[i - first]))
			fn(ctx, i, s);
	}
}

int
conf_blk_choose(const struct conf_blk *b, const struct conf_node *n,
    const char *const *words)
{
	const struct conf_tok *v = n->args[0];
	struct buf list = BUF_INIT;
	char shown[CONF_SHOWN];
	int i;

	for (i = 0; words[i] != NULL; i++)
		if (strcasecmp(v->text, words[i]) == 0)
			return i;
	for (i = 0; words[i] != NULL; i++)
		buf_printf(&list, "%s%s", i == 0 ? "" : words[i + 1] == NULL ?
		    " or " : ", ", words[i]);
	conf_blk_err(b, v->line, "%s: %s: write %s", n->kw->name,
	    conf_shown(v->text, shown, sizeof(shown)), list.data);
	buf_free(&list);
	return -1;
}

int
conf_blk_yesno(const struct conf_blk *b, const struct conf_node *n,
    bool *out)
{
	static const char *const yesno[] = { "yes", "no", NULL };
	int k;

	if ((k = conf_blk_choose(b, n, yesno)) < 0)
		return -1;
	*out = k == 0;
	return 0;
}

size_t
conf_blk_limits(const struct conf_blk *b, const struct conf_node *n,
    struct pol_limit *out)
{
	const struct conf_node *u;
	size_t k = 0;
	unsigned t;

	if (n->child == NULL)
		conf_blk_err(b, n->tok->line, "limit: no unit: write limit "
		    "messages N, limit recipients N or limit size SIZE");
	for (u = n->child; u != NULL && k < POL_NUNIT; u = u->next) {
		/* the rows of the units are named as the units */
		for (t = 0; t < POL_NUNIT; t++)
			if (strcmp(u->kw->name, pol_unit_name(t)) == 0)
				out[k].unit = (enum pol_unit)t;
		if (conf_value_u64(u->kw, u->args[0], &out[k].n,
		    b->errs) == 0) {
			out[k].line = u->tok->line;
			k++;
		}
	}
	return k;
}

void
conf_bdump_init(struct conf_bdump *d, const char *indent)
{
	memset(d, 0, sizeof(*d));
	d->indent = indent;
}

void
conf_bdump_unwritten(struct conf_bdump *d, const char *name,
    const char *value)
{
	if (d->unset.len == 0)
		buf_printf(&d->unset, "%s# not written here (inherited, else "
		    "these defaults):\n", d->indent);
	buf_printf(&d->unset, "%s# %s%s%s\n", d->indent, name,
	    value[0] != '\0' ? " " : "", value);
}

void
conf_bdump_setting(struct conf_bdump *d, int row, bool written,
    const char *value)
{
	const struct conf_kw *kw = &conf_daemon_kws[row];

	if (!written)
		conf_bdump_unwritten(d, kw->name, kw->def != NULL ? kw->def :
		    "");
	else
		buf_printf(&d->set, "%s%s%s%s\n", d->indent, kw->name,
		    value != NULL && value[0] != '\0' ? " " : "",
		    value != NULL ? value : "");
}

void
conf_bdump_end(struct conf_bdump *d, bool inherited, struct buf *out)
{
	if (d->set.len > 0)
		buf_add(out, d->set.data, d->set.len);
	if (inherited && d->unset.len > 0)
		buf_add(out, d->unset.data, d->unset.len);
	buf_free(&d->set);
	buf_free(&d->unset);
}
