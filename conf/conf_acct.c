/*
 * conf_acct: the accounting blocks of a policy, built into the model of
 * policy/accounting.h (its set is the policy set's, set->accts):
 *
 *	accounting NAME {
 *	    track T                         (a quota's tracks, any case)
 *	    period day|week|month
 *	    [limit messages N] [limit recipients N] [limit size 10M]
 *	    [verdict reject|tempfail|hold|discard|pass] [reply TEXT]
 *	    [stop] [keep N] [ipv6-prefix M]
 *	}
 *
 * on one line or several.  Unlike greylisting, helo and spf nothing is
 * inherited: every accounting of every matched policy applies, so the
 * table's defaults (keep, ipv6-prefix) are applied here as a quota's.
 * An accounting with an error in its statements is left out once they
 * are read (each reported), so pol_accts_resolve(), run by
 * pol_set_resolve() once the policies resolve, does not echo it ("no
 * track" after a misspelt one); resolve checks what needs the whole
 * accounting (a track and a calendar period, a limit with a verdict and
 * a verdict with a limit, ipv6-prefix on SenderIP only).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/buf.h"
#include "../lib/xalloc.h"
#include "../policy/accounting.h"
#include "conf_priv.h"

#define NOPT	(KW_PA_V6 - KW_PA_TRACK + 1)
#define OPT(i)	((i) - KW_PA_TRACK)

struct aapply {
	struct pol_acct		*a;
	struct conf_blk		 b;	/* "policy P: accounting A: " */
};

static void
set_period(const struct aapply *x, const struct conf_node *n)
{
	const struct conf_tok *v = n->args[0];
	struct pol_period per;
	char err[256], shown[CONF_SHOWN];
	const char *errstr;

	/* a duration is read, to be refused with the module's reason */
	if (pol_period_parse(v->text, &per, &errstr) == -1)
		conf_blk_err(&x->b, v->line, "period: %s: write day, week or "
		    "month", conf_shown(v->text, shown, sizeof(shown)));
	else if (pol_acct_set_period(x->a, &per, n->tok->line, err,
	    sizeof(err)) == -1)
		conf_blk_err(&x->b, n->tok->line, "%s", err);
}

static void
set_limits(const struct aapply *x, const struct conf_node *n)
{
	struct pol_limit lim[POL_NUNIT];
	char err[256];
	size_t i, k;

	k = conf_blk_limits(&x->b, n, lim);
	for (i = 0; i < k; i++)
		if (pol_acct_add_limit(x->a, lim[i].unit, lim[i].n, lim[i].line,
		    err, sizeof(err)) == -1)
			conf_blk_err(&x->b, lim[i].line, "%s", err);
}

/* verdict VERDICT and reply TEXT, written apart, set together. */
static void
set_verdict(const struct aapply *x, const struct conf_node *verdict,
    const struct conf_node *reply)
{
	const char *text = reply != NULL ? reply->args[0]->text : NULL;
	char err[256], shown[CONF_SHOWN];
	enum pol_verdict v;

	if (verdict == NULL) {
		if (reply != NULL)
			conf_blk_err(&x->b, reply->tok->line, "reply without a "
			    "verdict (verdict reject|tempfail|hold|discard|"
			    "pass reply TEXT)");
		return;
	}
	if (pol_verdict_parse(verdict->args[0]->text, &v) == -1)
		conf_blk_err(&x->b, verdict->args[0]->line, "verdict: %s: not "
		    "a verdict (reject, tempfail, hold, discard or pass)",
		    conf_shown(verdict->args[0]->text, shown, sizeof(shown)));
	else if (pol_acct_set_verdict(x->a, v, text, verdict->tok->line, err,
	    sizeof(err)) == -1)
		conf_blk_err(&x->b, verdict->tok->line, "%s", err);
}

/* keep N or ipv6-prefix M, the row's default when n is NULL. */
static void
set_number(const struct aapply *x, int i, const struct conf_node *n)
{
	const struct conf_kw *kw = &conf_daemon_kws[i];
	char err[256];
	uint64_t v;

	if ((n != NULL ? conf_value_u64(kw, n->args[0], &v, x->b.errs) :
	    conf_value_default(kw, &v, x->b.errs)) == -1)
		return;
	if (i == KW_PA_V6) {
		x->a->v6_prefix = (unsigned)v;
		x->a->v6_line = n != NULL ? n->tok->line : 0;
	} else if (pol_acct_set_keep(x->a, v, n != NULL ? n->tok->line : 0,
	    err, sizeof(err)) == -1)
		conf_blk_err(&x->b, n != NULL ? n->tok->line : 0, "%s", err);
}

/* One statement of the accounting (row i of conf_daemon_kws); verdict
 * and reply wait for each other. */
static void
set_option(void *arg, int i, const struct conf_node *s)
{
	const struct aapply *x = arg;
	char err[512];

	if (i == KW_PA_TRACK && pol_acct_set_track(x->a, s->args[0]->text,
	    s->tok->line, err, sizeof(err)) == -1)
		conf_blk_err(&x->b, s->args[0]->line, "%s", err);
	else if (i == KW_PA_PERIOD)
		set_period(x, s);
	else if (i == KW_PA_LIMIT)
		set_limits(x, s);
	else if (i == KW_PA_STOP)
		x->a->stop = true;
	else if (i == KW_PA_KEEP || i == KW_PA_V6)
		set_number(x, i, s);
}

/* Takes a, the last accounting added, out of the set: freed as the
 * module frees its own. */
static void
drop(struct pol_accts *as, struct pol_acct *a)
{
	struct pol_accts *gone = pol_accts_new();

	as->nacct--;
	gone->accts = xcalloc(1, sizeof(*gone->accts));
	gone->accts[0] = a;
	gone->nacct = 1;
	pol_accts_free(&gone);
}

void
conf_acct_apply(struct pol_set *set, struct pol_policy *p,
    const struct conf_node *n, struct conf_errs *errs)
{
	const struct conf_node *opt[NOPT] = { NULL };
	struct aapply x;
	char err[512];

	if (n->bad || conf_node_has_bad(n))
		return;
	if ((x.a = pol_acct_add(set->accts, p, n->args[0]->text, n->tok->line,
	    err, sizeof(err))) == NULL) {
		conf_err(errs, n->tok->line, "policy %s: %s", p->name, err);
		return;
	}
	conf_blk_init(&x.b, p->name, errs, "accounting %s", x.a->name);
	conf_blk_apply(&x.b, n, KW_PA_TRACK, KW_PA_V6, opt, set_option, &x);
	set_verdict(&x, opt[OPT(KW_PA_VERDICT)], opt[OPT(KW_PA_REPLY)]);
	if (opt[OPT(KW_PA_KEEP)] == NULL)
		set_number(&x, KW_PA_KEEP, NULL);
	if (opt[OPT(KW_PA_V6)] == NULL)
		set_number(&x, KW_PA_V6, NULL);
	if (conf_blk_failed(&x.b))
		drop(set->accts, x.a);
}

void
conf_acct_dump(const struct pol_acct *a, const char *indent, struct buf *out)
{
	const struct conf_grammar *g = &conf_daemon_grammar;
	struct pol_quota q;	/* the quota's writer: the same spellings */
	char num[32];
	size_t i;

	buf_printf(out, "%saccounting ", indent);
	conf_add_word(out, g, a->name);
	buf_addstr(out, " {\n");
	if (a->has_track) {
		memset(&q, 0, sizeof(q));
		q.track = a->track;
		q.v4_prefix = a->v4_prefix;
		pol_track_format(&q, num, sizeof(num));
		buf_printf(out, "%s\ttrack %s\n", indent, num);
	}
	if (a->has_period) {
		pol_period_format(&a->period, num, sizeof(num));
		buf_printf(out, "%s\tperiod %s\n", indent, num);
	}
	for (i = 0; i < a->nlimit; i++) {
		conf_format_u64(a->limits[i].unit == POL_UNIT_SIZE ?
		    CONF_U_SIZE : CONF_U_COUNT, a->limits[i].n, num,
		    sizeof(num));
		buf_printf(out, "%s\tlimit %s %s\n", indent,
		    pol_unit_name(a->limits[i].unit), num);
	}
	if (a->verdict != POL_V_NONE) {
		buf_printf(out, "%s\tverdict %s", indent,
		    pol_verdict_name(a->verdict));
		if (a->reply != NULL) {
			buf_addstr(out, " reply ");
			conf_add_word(out, g, a->reply);
		}
		buf_addc(out, '\n');
	}
	if (a->stop)
		buf_printf(out, "%s\tstop\n", indent);
	buf_printf(out, "%s\tkeep %u\n", indent, a->keep);
	/* elsewhere it is an error: a dump reads back */
	if (a->has_track && a->track == POL_TRACK_SENDER_IP)
		buf_printf(out, "%s\tipv6-prefix %u\n", indent, a->v6_prefix);
	buf_printf(out, "%s}\n", indent);
}
