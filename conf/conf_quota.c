/*
 * conf_quota: the quota blocks of policies (DESIGN.md, "Quotas"), built
 * into the model of policy/quota.h:
 *
 *	quota NAME {
 *	    track Sender:user@domain        (cbpolicyd's tracks, any case)
 *	    period 1h                       (or 30s, 5m, 1d, day, week, month)
 *	    [window fixed|sliding]
 *	    limit messages N | recipients N | size SIZE    (one per unit)
 *	    [verdict defer|tempfail|reject|hold|discard|pass [reply TEXT]]
 *	    [stop] [ipv6-prefix M] [release burst|smooth] [backlog N]
 *	    [when-full tempfail|hold|reject] [max-defer 5d]
 *	    [tell-sender delay]
 *	    [notify 50% 100% to NOTIFIER...]
 *	}
 *
 * The rows of conf_table.c give each statement's bounds and default; the
 * defaults are applied here through the same code as the file's words.
 * A quota with an error inside is left out once its statements are read
 * (each reported), so no "no limit" follows a misspelt or a bad limit;
 * the rest of its policy is still read.  What needs the whole quota (a
 * track, a period, a limit; `limit 0` with defer) is checked by
 * pol_set_resolve(); that the notifiers it names are defined, by
 * conf_notify_check() once the file is read.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../lib/buf.h"
#include "../lib/strutil.h"
#include "../lib/xalloc.h"
#include "../policy/quota.h"
#include "conf_priv.h"

#define NOPT	(KW_PQ_NOTIFY - KW_PQ_TRACK + 1)	/* rows under a quota */

struct qapply {
	struct pol_quota	*q;
	struct conf_blk		 b;	/* "policy P: quota Q: " */
};

static const char *const window_words[] = { "fixed", "sliding", NULL };
static const char *const release_words[] = { "burst", "smooth", NULL };
static const char *const full_words[] = { "tempfail", "hold", "reject",
	NULL };
static const enum pol_verdict full_verdicts[] = { POL_V_TEMPFAIL,
	POL_V_HOLD, POL_V_REJECT };
static const char *const tell_words[] = { "delay", NULL };

/* limit messages N | recipients N | size SIZE, one or more. */
static void
set_limits(const struct qapply *a, const struct conf_node *n)
{
	struct pol_limit lim[POL_NUNIT];
	char err[256];
	size_t i, k;

	k = conf_blk_limits(&a->b, n, lim);
	for (i = 0; i < k; i++)
		if (pol_quota_add_limit(a->q, lim[i].unit, lim[i].n,
		    lim[i].line, err, sizeof(err)) == -1)
			conf_blk_err(&a->b, lim[i].line, "%s", err);
}

/* verdict VERDICT [reply TEXT] */
static void
set_verdict(const struct qapply *a, const struct conf_node *n)
{
	const char *reply = n->child != NULL ? n->child->args[0]->text : NULL;
	enum pol_verdict v;
	char err[256], shown[CONF_SHOWN];

	if (pol_verdict_parse(n->args[0]->text, &v) == -1) {
		conf_blk_err(&a->b, n->args[0]->line, "verdict: %s: not a "
		    "verdict (defer, tempfail, reject, hold, discard or pass)",
		    conf_shown(n->args[0]->text, shown, sizeof(shown)));
		return;
	}
	if (pol_quota_set_verdict(a->q, v, reply, n->tok->line, err,
	    sizeof(err)) == -1)
		conf_blk_err(&a->b, n->tok->line, "%s", err);
}

static void
set_period(const struct qapply *a, const struct conf_node *n)
{
	const struct conf_tok *v = n->args[0];
	const char *errstr;
	char shown[CONF_SHOWN];

	if (pol_period_parse(v->text, &a->q->period, &errstr) == -1) {
		conf_blk_err(&a->b, v->line, "period: %s: %s",
		    conf_shown(v->text, shown, sizeof(shown)), errstr);
		return;
	}
	a->q->has_period = true;
	a->q->period_line = n->tok->line;
}

/* One threshold of notify: "50%", within the row's bounds.  0, or -1
 * with the error reported. */
static int
threshold(const struct qapply *a, const struct conf_kw *kw,
    const struct conf_tok *v, unsigned *pct)
{
	char num[24], shown[CONF_SHOWN];
	size_t len = strlen(v->text);
	const char *errstr = NULL;
	uint64_t n;

	conf_shown(v->text, shown, sizeof(shown));
	if (len < 2 || v->text[len - 1] != '%') {
		conf_blk_err(&a->b, v->line, "notify: %s: write a threshold "
		    "in percent of the limit (%s%%)", shown, len > 0 &&
		    len < 4 && strspn(v->text, "0123456789") == len ? shown :
		    "50");
		return -1;
	}
	/* a longer number is too large anyway */
	snprintf(num, sizeof(num), "%.*s", (int)(len - 1), v->text);
	if (str_to_u64(num, kw->lo, kw->hi, &n, &errstr) == -1) {
		if (strcmp(errstr, "not a number") == 0)
			conf_blk_err(&a->b, v->line, "notify: %s: not a number",
			    shown);
		else
			conf_blk_err(&a->b, v->line, "notify: %s: a threshold "
			    "is %llu%% to %llu%%", shown,
			    (unsigned long long)kw->lo,
			    (unsigned long long)kw->hi);
		return -1;
	}
	*pct = (unsigned)n;
	return 0;
}

/* notify P%... to NOTIFIER...: the thresholds here, each error said; the
 * rest (repeats, how many) is the model's.  That each notifier is
 * defined is checked once the file is read. */
static void
set_notify(const struct qapply *a, const struct conf_node *n)
{
	const struct conf_node *to = n->child;
	unsigned *pct;
	const char **names;
	char err[256];
	size_t i;
	bool bad = false;

	if (to == NULL) {
		conf_blk_err(&a->b, n->tok->line, "notify: no notifier: write "
		    "notify 50%% 100%% to NOTIFIER...");
		return;
	}
	pct = xcalloc(n->nargs, sizeof(*pct));
	names = xcalloc(to->nargs, sizeof(*names));
	for (i = 0; i < n->nargs; i++)
		if (threshold(a, n->kw, n->args[i], &pct[i]) == -1)
			bad = true;
	for (i = 0; i < to->nargs; i++)
		names[i] = to->args[i]->text;
	if (!bad && pol_quota_set_notify(a->q, pct, n->nargs, names,
	    to->nargs, n->tok->line, err, sizeof(err)) == -1)
		conf_blk_err(&a->b, n->tok->line, "%s", err);
	free(pct);
	free(names);
}

/* One statement of the quota (row i of conf_daemon_kws), from the file
 * or, at line 0, the row's default. */
static void
set_option(void *arg, int i, const struct conf_node *n)
{
	const struct qapply *a = arg;
	struct pol_quota *q = a->q;
	char err[512];
	uint64_t v;
	int k;

	switch (i) {
	case KW_PQ_TRACK:
		if (pol_quota_set_track(q, n->args[0]->text, n->tok->line, err,
		    sizeof(err)) == -1)
			conf_blk_err(&a->b, n->args[0]->line, "%s", err);
		break;
	case KW_PQ_PERIOD:
		set_period(a, n);
		break;
	case KW_PQ_WINDOW:
		if ((k = conf_blk_choose(&a->b, n, window_words)) >= 0) {
			q->window = k ? POL_WIN_SLIDING : POL_WIN_FIXED;
			q->window_line = n->tok->line;
		}
		break;
	case KW_PQ_LIMIT:
		set_limits(a, n);
		break;
	case KW_PQ_VERDICT:
		set_verdict(a, n);
		break;
	case KW_PQ_STOP:
		q->stop = true;
		break;
	case KW_PQ_V6:
		if (conf_value_u64(n->kw, n->args[0], &v, a->b.errs) == 0) {
			q->v6_prefix = (unsigned)v;
			q->v6_line = n->tok->line;
		}
		break;
	case KW_PQ_RELEASE:
		if ((k = conf_blk_choose(&a->b, n, release_words)) >= 0)
			q->release = k ? POL_RELEASE_SMOOTH : POL_RELEASE_BURST;
		break;
	case KW_PQ_BACKLOG:
		conf_value_u64(n->kw, n->args[0], &q->backlog, a->b.errs);
		break;
	case KW_PQ_WHEN_FULL:
		if ((k = conf_blk_choose(&a->b, n, full_words)) >= 0)
			q->when_full = full_verdicts[k];
		break;
	case KW_PQ_MAX_DEFER:
		conf_value_u64(n->kw, n->args[0], &q->max_defer, a->b.errs);
		break;
	case KW_PQ_TELL:
		if (conf_blk_choose(&a->b, n, tell_words) >= 0)
			q->tell_sender = true;
		break;
	case KW_PQ_NOTIFY:
		set_notify(a, n);
		break;
	default:
		break;
	}
}

/* A row's default as a statement of one word at line 0. */
static void
set_default(struct qapply *a, int i)
{
	const struct conf_kw *kw = &conf_daemon_kws[i];
	struct conf_tok tok = { CONF_TOK_WORD, false, 0, (char *)kw->def };
	const struct conf_tok *args[1] = { &tok };
	struct conf_node n;

	memset(&n, 0, sizeof(n));
	n.kw = kw;
	n.tok = &tok;
	n.args = args;
	n.nargs = 1;
	set_option(a, i, &n);
}

void
conf_quota_apply(struct pol_set *set, struct pol_policy *p,
    const struct conf_node *n, struct conf_errs *errs)
{
	const struct conf_node *first[NOPT] = { NULL };
	struct qapply a;
	char err[256];
	int i;

	/* its syntax error was reported: nothing more is said of it */
	if (n->bad || conf_node_has_bad(n))
		return;
	if ((a.q = pol_quota_add(set, p, n->args[0]->text, n->tok->line, err,
	    sizeof(err))) == NULL) {
		conf_err(errs, n->tok->line, "policy %s: %s", p->name, err);
		return;
	}
	conf_blk_init(&a.b, p->name, errs, "quota %s", a.q->name);
	conf_blk_apply(&a.b, n, KW_PQ_TRACK, KW_PQ_NOTIFY, first, set_option,
	    &a);
	for (i = KW_PQ_TRACK; i <= KW_PQ_NOTIFY; i++)
		if (first[i - KW_PQ_TRACK] == NULL &&
		    conf_daemon_kws[i].def != NULL)
			set_default(&a, i);
	if (conf_blk_failed(&a.b))
		pol_quota_remove(a.q);
}

/* A notifier's name in notify's list: quoted only where it would read
 * as a keyword, a statement of the quota or of notify (`notifier admin`
 * is named `admin`, a keyword of the top level only). */
static void
add_notifier(struct buf *out, const char *name)
{
	const struct conf_grammar *g = &conf_daemon_grammar;

	if (conf_kw_lookup(g, "policy quota", name) != NULL ||
	    conf_kw_lookup(g, "policy quota notify", name) != NULL)
		conf_add_word(out, g, name);
	else
		conf_add_word(out, NULL, name);
}

void
conf_quota_dump(const struct pol_quota *q, const char *indent,
    struct buf *out)
{
	const struct conf_grammar *g = &conf_daemon_grammar;
	char num[32];
	size_t i;

	buf_printf(out, "%squota ", indent);
	conf_add_word(out, g, q->name);
	buf_addstr(out, " {\n");
	if (q->has_track) {
		pol_track_format(q, num, sizeof(num));
		buf_printf(out, "%s\ttrack %s\n", indent, num);
	}
	if (q->has_period) {
		pol_period_format(&q->period, num, sizeof(num));
		buf_printf(out, "%s\tperiod %s\n", indent, num);
	}
	buf_printf(out, "%s\twindow %s\n", indent,
	    window_words[q->window == POL_WIN_SLIDING]);
	for (i = 0; i < q->nlimit; i++) {
		conf_format_u64(q->limits[i].unit == POL_UNIT_SIZE ?
		    CONF_U_SIZE : CONF_U_COUNT, q->limits[i].n, num,
		    sizeof(num));
		buf_printf(out, "%s\tlimit %s %s\n", indent,
		    pol_unit_name(q->limits[i].unit), num);
	}
	buf_printf(out, "%s\tverdict %s", indent, pol_verdict_name(q->verdict));
	if (q->reply != NULL) {
		buf_addstr(out, " reply ");
		conf_add_word(out, g, q->reply);
	}
	buf_addc(out, '\n');
	if (q->stop)
		buf_printf(out, "%s\tstop\n", indent);
	/* elsewhere it is an error: a dump reads back */
	if (q->track == POL_TRACK_SENDER_IP)
		buf_printf(out, "%s\tipv6-prefix %u\n", indent, q->v6_prefix);
	conf_format_u64(CONF_U_DURATION, q->max_defer, num, sizeof(num));
	buf_printf(out, "%s\trelease %s\n%s\tbacklog %llu\n%s\twhen-full %s\n"
	    "%s\tmax-defer %s\n", indent,
	    release_words[q->release == POL_RELEASE_SMOOTH], indent,
	    (unsigned long long)pol_quota_backlog(q), indent,
	    pol_verdict_name(q->when_full), indent, num);
	if (q->tell_sender)
		buf_printf(out, "%s\ttell-sender delay\n", indent);
	if (q->nnotify > 0) {
		buf_printf(out, "%s\tnotify", indent);
		for (i = 0; i < q->nnotify; i++)
			buf_printf(out, " %u%%", q->notify_pct[i]);
		buf_addstr(out, " to");
		for (i = 0; i < q->nnotify_to; i++) {
			buf_addc(out, ' ');
			add_notifier(out, q->notify_to[i]);
		}
		buf_addc(out, '\n');
	}
	buf_printf(out, "%s}\n", indent);
}
