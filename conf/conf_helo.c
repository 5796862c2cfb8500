/*
 * conf_helo: the helo block of a policy, built into the settings of
 * policy/helo.h (its spellings):
 *
 *	helo {
 *	    off                              (alone: forget inherited checks)
 *	    [reject-invalid yes|no] [reject-ip yes|no]
 *	    [reject-unresolvable yes|no]
 *	    [blacklist NAME... [within DURATION] | blacklist none]
 *	    [whitelist ADDRESS-OR-CIDR... | whitelist none]
 *	    [hrp N within DURATION | hrp no]
 *	    [reply REASON TEXT]...           (one per reason that refuses)
 *	}
 *
 * on one line or several.  Only what is written is set (the written
 * bits): the matched policies' blocks merge, a higher priority number's
 * written setting overriding (helo_merge).  The table (conf_table.c)
 * gives the bounds of hrp and the windows; helo_settings_check checks
 * the rest (the names, a reply's class, off alone) after each statement,
 * so its message comes with the line of the statement that made the
 * block wrong.  A block with an error is not attached to its policy.
 * reject-unresolvable asks the DNS through `resolver`, or the system's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../lib/addr.h"
#include "../lib/buf.h"
#include "../lib/xalloc.h"
#include "../policy/helo.h"
#include "conf_priv.h"

#define NOPT	(KW_PH_REPLY - KW_PH_OFF + 1)

struct happly {
	struct conf_blk		 b;		/* "policy P: helo: " */
	struct helo_settings	*s;
	int			 reply_line[HELO_NREASON];
	bool			 checked;	/* the module said no */
};

/* The statement's one value is word (`none`, `no`): nothing is listed. */
static bool
is_word(const struct conf_node *n, const char *word)
{
	return n->nargs == 1 && strcasecmp(n->args[0]->text, word) == 0;
}

/* blacklist NAME... [within DURATION] | blacklist none */
static void
set_blacklist(struct happly *a, const struct conf_node *n)
{
	struct helo_settings *s = a->s;
	const struct conf_node *w = n->child;	/* within, or NULL */
	size_t i;

	if (!conf_blk_subs_once(&a->b, n))
		return;
	if (is_word(n, "none")) {
		if (w != NULL)
			conf_blk_err(&a->b, w->tok->line, "blacklist none: no "
			    "names, so nothing within a window");
		s->written |= HELO_W_BLACKLIST;
		return;
	}
	if (w != NULL && conf_value_u64(w->kw, w->args[0],
	    &s->blacklist_within, a->b.errs) == -1)
		return;
	s->blacklist = xcalloc(n->nargs, sizeof(*s->blacklist));
	for (i = 0; i < n->nargs; i++)
		s->blacklist[s->nblacklist++] = xstrdup(n->args[i]->text);
	s->written |= HELO_W_BLACKLIST;
}

/* whitelist ADDRESS-OR-CIDR... | whitelist none */
static void
set_whitelist(struct happly *a, const struct conf_node *n)
{
	struct helo_settings *s = a->s;
	char shown[CONF_SHOWN];
	const char *errstr;
	size_t i;

	s->written |= HELO_W_WHITELIST;
	if (is_word(n, "none"))
		return;
	s->whitelist = xcalloc(n->nargs, sizeof(*s->whitelist));
	for (i = 0; i < n->nargs; i++)
		if (cidr_parse(n->args[i]->text,
		    &s->whitelist[s->nwhitelist], &errstr) == 0)
			s->nwhitelist++;
		else
			conf_blk_err(&a->b, n->args[i]->line, "whitelist: %s: "
			    "%s (an address or network of the client)",
			    conf_shown(n->args[i]->text, shown,
			    sizeof(shown)), errstr);
}

/* hrp N within DURATION | hrp no */
static void
set_hrp(struct happly *a, const struct conf_node *n)
{
	struct helo_settings *s = a->s;
	const struct conf_node *w = n->child;	/* within, or NULL */
	uint64_t v;

	if (!conf_blk_subs_once(&a->b, n))
		return;
	if (is_word(n, "no")) {
		if (w != NULL)
			conf_blk_err(&a->b, w->tok->line, "hrp no: nothing to "
			    "count within a window");
		s->written |= HELO_W_HRP;
		return;
	}
	if (strcmp(n->args[0]->text, "0") == 0) {
		conf_blk_err(&a->b, n->args[0]->line, "hrp 0: N is 1 to %d "
		    "(hrp no turns it off)", HELO_HRP_MAX);
		return;
	}
	if (conf_value_u64(n->kw, n->args[0], &v, a->b.errs) == -1)
		return;
	if (w == NULL) {
		conf_blk_err(&a->b, n->tok->line, "hrp: within missing (hrp N "
		    "within DURATION: more than N HELOs from one client in "
		    "DURATION are refused)");
		return;
	}
	if (conf_value_u64(w->kw, w->args[0], &s->hrp_within,
	    a->b.errs) == -1)
		return;
	s->hrp_limit = (unsigned)v;
	s->written |= HELO_W_HRP;
}

/* reply REASON TEXT, once per reason. */
static void
set_reply(struct happly *a, const struct conf_node *n)
{
	const struct conf_tok *why = n->args[0];
	struct buf list = BUF_INIT;
	char shown[CONF_SHOWN];
	enum helo_reason r;
	unsigned i, last = 0;

	if (helo_reason_parse(why->text, &r) == -1) {
		for (i = 0; i < HELO_NREASON; i++)
			if (helo_reason_parse(helo_reason_name(i), &r) == 0)
				last = i;
		for (i = 0; i < HELO_NREASON; i++)
			if (helo_reason_parse(helo_reason_name(i), &r) == 0)
				buf_printf(&list, "%s%s", list.len == 0 ? "" :
				    i == last ? " or " : ", ",
				    helo_reason_name(i));
		conf_blk_err(&a->b, why->line, "reply %s: not a reason that "
		    "refuses (%s)", conf_shown(why->text, shown,
		    sizeof(shown)), list.data);
		buf_free(&list);
		return;
	}
	if (a->reply_line[r] != 0) {
		conf_blk_err(&a->b, n->tok->line, "reply %s given twice "
		    "(first at line %d)", helo_reason_name(r),
		    a->reply_line[r]);
		return;
	}
	a->reply_line[r] = n->tok->line;
	a->s->reply[r] = xstrdup(n->args[1]->text);
	a->s->written |= HELO_W_REPLY(r);
}

/* One statement of the block (row i of conf_daemon_kws), then the
 * module's checks of the block so far: a message at the line of the
 * statement that made it wrong, once. */
static void
set_option(void *arg, int i, const struct conf_node *n)
{
	struct happly *a = arg;
	static const struct {
		int		 row;
		unsigned	 bit;
		size_t		 off;
	} flags[] = {
		{ KW_PH_INVALID, HELO_W_REJECT_INVALID,
		  offsetof(struct helo_settings, reject_invalid) },
		{ KW_PH_IP, HELO_W_REJECT_IP,
		  offsetof(struct helo_settings, reject_ip) },
		{ KW_PH_UNRESOLVABLE, HELO_W_REJECT_UNRESOLVABLE,
		  offsetof(struct helo_settings, reject_unresolvable) },
	};
	char err[512];
	size_t k;

	for (k = 0; k < sizeof(flags) / sizeof(flags[0]); k++)
		if (flags[k].row == i && conf_blk_yesno(&a->b, n,
		    (bool *)(void *)((char *)a->s + flags[k].off)) == 0)
			a->s->written |= flags[k].bit;
	switch (i) {
	case KW_PH_OFF:
		a->s->written |= HELO_W_OFF;
		break;
	case KW_PH_BLACKLIST:
		set_blacklist(a, n);
		break;
	case KW_PH_WHITELIST:
		set_whitelist(a, n);
		break;
	case KW_PH_HRP:
		set_hrp(a, n);
		break;
	case KW_PH_REPLY:
		set_reply(a, n);
		break;
	default:
		break;
	}
	if (!a->checked && !conf_blk_failed(&a->b) &&
	    helo_settings_check(a->s, err, sizeof(err)) == -1) {
		conf_blk_report(&a->b, n->tok->line, err);
		a->checked = true;
	}
}

void
conf_helo_apply(struct pol_policy *p, const struct conf_node *n,
    struct conf_errs *errs)
{
	const struct conf_node *first[NOPT] = { NULL };
	struct happly a;

	if (n->bad || conf_node_has_bad(n))
		return;
	memset(&a, 0, sizeof(a));
	conf_blk_init(&a.b, p->name, errs, "helo");
	a.s = helo_settings_new();
	conf_blk_apply(&a.b, n, KW_PH_OFF, KW_PH_REPLY, first, set_option, &a);
	if (conf_blk_failed(&a.b))
		helo_settings_free(&a.s);
	else
		p->helo = a.s;
}

static const char *
yesno(bool v)
{
	return v ? "yes" : "no";
}

void
conf_helo_dump(const struct helo_settings *s, const char *indent,
    struct buf *out)
{
	const struct conf_grammar *g = &conf_daemon_grammar;
	char sub[64], num[32], net[ADDR_STRLEN + 8];
	struct conf_bdump d;
	struct buf v = BUF_INIT;
	size_t i;
	unsigned r;

	buf_printf(out, "%shelo {\n", indent);
	snprintf(sub, sizeof(sub), "%s\t", indent);
	conf_bdump_init(&d, sub);
	if (s->written & HELO_W_OFF)
		conf_bdump_setting(&d, KW_PH_OFF, true, NULL);
	conf_bdump_setting(&d, KW_PH_INVALID,
	    s->written & HELO_W_REJECT_INVALID, yesno(s->reject_invalid));
	conf_bdump_setting(&d, KW_PH_IP, s->written & HELO_W_REJECT_IP,
	    yesno(s->reject_ip));
	conf_bdump_setting(&d, KW_PH_UNRESOLVABLE,
	    s->written & HELO_W_REJECT_UNRESOLVABLE,
	    yesno(s->reject_unresolvable));
	for (i = 0; i < s->nblacklist; i++) {
		buf_addstr(&v, i ? " " : "");
		conf_add_word(&v, g, s->blacklist[i]);
	}
	if (s->blacklist_within != 0) {
		conf_format_u64(CONF_U_DURATION, s->blacklist_within, num,
		    sizeof(num));
		buf_printf(&v, " within %s", num);
	}
	conf_bdump_setting(&d, KW_PH_BLACKLIST, s->written & HELO_W_BLACKLIST,
	    v.len > 0 ? v.data : "none");
	buf_reset(&v);
	for (i = 0; i < s->nwhitelist; i++) {
		cidr_format(&s->whitelist[i], net, sizeof(net));
		buf_printf(&v, "%s%s", i ? " " : "", net);
	}
	conf_bdump_setting(&d, KW_PH_WHITELIST, s->written & HELO_W_WHITELIST,
	    v.len > 0 ? v.data : "none");
	buf_reset(&v);
	if (s->hrp_limit > 0) {
		conf_format_u64(CONF_U_DURATION, s->hrp_within, num,
		    sizeof(num));
		buf_printf(&v, "%u within %s", s->hrp_limit, num);
	}
	conf_bdump_setting(&d, KW_PH_HRP, s->written & HELO_W_HRP,
	    v.len > 0 ? v.data : "no");
	for (r = 0; r < HELO_NREASON; r++) {
		if (!(s->written & HELO_W_REPLY(r)))
			continue;
		buf_printf(&d.set, "%sreply %s ", d.indent,
		    helo_reason_name(r));
		conf_add_word(&d.set, g, s->reply[r]);
		buf_addc(&d.set, '\n');
	}
	buf_free(&v);
	/* off forgets what came before: nothing is inherited */
	conf_bdump_end(&d, !(s->written & HELO_W_OFF), out);
	buf_printf(out, "%s}\n", indent);
}
