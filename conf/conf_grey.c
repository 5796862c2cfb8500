/*
 * conf_grey: the greylisting block of a policy, built into the settings
 * of policy/greylist.h (sluice as an inbound gateway, DESIGN.md):
 *
 *	greylisting [on|off] {
 *	    [on|off]
 *	    [period 5m] [track SenderIP:/24] [ipv6-prefix 64]
 *	    [auth-validity 35d] [unauth-validity 2d]
 *	    [auto-whitelist COUNT [PCT%] within DURATION | auto-whitelist off]
 *	    [auto-blacklist COUNT [PCT%] within DURATION | auto-blacklist off]
 *	    [whitelist ADDRESS-OR-CIDR|@domain|@*.domain...]...
 *	    [training yes|no] [reply TEXT] [blacklist-reply TEXT]
 *	}
 *
 * on one line or several.  Only what is written is set (the has_* flags):
 * the matched policies' blocks merge, a higher priority number's written
 * setting overriding (grey_merge), so a default applied here would
 * override what a lower priority number wrote.  The table (conf_table.c)
 * gives each value's bounds, the module's, checked at the value's line;
 * grey_settings_check then checks the block as a whole (unauth-validity
 * longer than period) at the block's line.  A block with an error is
 * not attached to its policy, the rest of which is still read.
 *
 * The dump writes what the block writes, then as comments what it does
 * not, with the defaults: it reads back as the same block.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../lib/buf.h"
#include "../lib/strutil.h"
#include "../policy/greylist.h"
#include "conf_priv.h"

#define NOPT		(KW_PG_BL_REPLY - KW_PG_ON + 1)
#define PCT_MAX		100

struct gapply {
	struct conf_blk		 b;	/* "policy P: greylisting: " */
	struct grey_settings	*s;
};

/* PCT% of auto-whitelist or auto-blacklist: 0, or -1 reported. */
static int
percent(const struct conf_blk *b, const struct conf_node *n,
    const struct conf_tok *v, unsigned *pct)
{
	size_t len = strlen(v->text);
	char num[8], shown[CONF_SHOWN];
	const char *errstr;
	uint64_t x = 0;
	int rc = -1;

	if (len >= 2 && len < sizeof(num) && v->text[len - 1] == '%') {
		memcpy(num, v->text, len - 1);
		num[len - 1] = '\0';
		rc = str_to_u64(num, 1, PCT_MAX, &x, &errstr);
	}
	if (rc == -1) {
		conf_blk_err(b, v->line, "%s: %s: a percentage is 1%% to "
		    "%d%% (%s COUNT [PCT%%] within DURATION)", n->kw->name,
		    conf_shown(v->text, shown, sizeof(shown)), PCT_MAX,
		    n->kw->name);
		return -1;
	}
	*pct = (unsigned)x;
	return 0;
}

/* auto-whitelist|auto-blacklist COUNT [PCT%] within DURATION, or off. */
static void
set_auto(const struct conf_blk *b, const struct conf_node *n, bool *has,
    struct grey_auto *out)
{
	const struct conf_node *s, *off = NULL, *within = NULL;
	struct grey_auto a;
	uint64_t v;
	bool ok = true;

	memset(&a, 0, sizeof(a));
	if (!conf_blk_subs_once(b, n))
		return;
	for (s = n->child; s != NULL; s = s->next) {
		if (strcmp(s->kw->name, "off") == 0)
			off = s;
		else
			within = s;
	}
	if (off != NULL && (n->nargs > 0 || within != NULL)) {
		conf_blk_err(b, n->tok->line, "%s: off stands alone (%s "
		    "COUNT [PCT%%] within DURATION, or %s off)", n->kw->name,
		    n->kw->name, n->kw->name);
		return;
	}
	if (off == NULL && n->nargs == 0) {
		conf_blk_err(b, n->tok->line, "%s: COUNT missing (%s COUNT "
		    "[PCT%%] within DURATION, or %s off)", n->kw->name,
		    n->kw->name, n->kw->name);
		return;
	}
	if (off == NULL) {
		a.on = true;
		if (conf_value_u64(n->kw, n->args[0], &v, b->errs) == 0)
			a.count = (uint32_t)v;
		else
			ok = false;
		if (n->nargs > 1 && percent(b, n, n->args[1], &a.pct) == -1)
			ok = false;
		if (within == NULL) {
			conf_blk_err(b, n->tok->line, "%s: within missing (%s "
			    "COUNT [PCT%%] within DURATION)", n->kw->name,
			    n->kw->name);
			ok = false;
		} else if (conf_value_u64(within->kw, within->args[0],
		    &a.within, b->errs) == -1)
			ok = false;
	}
	if (ok) {
		*out = a;
		*has = true;
	}
}

/* whitelist ITEM...: each item at its line. */
static void
add_whitelist(const struct conf_blk *b, struct grey_settings *s,
    const struct conf_node *n)
{
	char err[512];
	size_t i;

	for (i = 0; i < n->nargs; i++)
		if (grey_settings_whitelist(s, n->args[i]->text,
		    n->args[i]->line, err, sizeof(err)) == -1)
			conf_blk_err(b, n->args[i]->line, "%s%s",
			    strncmp(err, "whitelist", 9) == 0 ? "" :
			    "whitelist: ", err);
}

/* A duration or a number of the block, into *v and *has. */
static void
set_u64(const struct conf_blk *b, const struct conf_node *n, uint64_t *v,
    bool *has)
{
	if (conf_value_u64(n->kw, n->args[0], v, b->errs) == 0)
		*has = true;
}

/* One statement of the block (row i of conf_daemon_kws). */
static void
set_option(void *arg, int i, const struct conf_node *n)
{
	const struct gapply *a = arg;
	const struct conf_blk *b = &a->b;
	struct grey_settings *s = a->s;
	char err[512];
	uint64_t v;

	switch (i) {
	case KW_PG_ON:
	case KW_PG_OFF:
		conf_blk_onoff(b, n, i == KW_PG_ON, &s->has_on, &s->on);
		break;
	case KW_PG_PERIOD:
		set_u64(b, n, &s->period, &s->has_period);
		break;
	case KW_PG_TRACK:
		if (grey_settings_track(s, n->args[0]->text, err,
		    sizeof(err)) == -1)
			conf_blk_err(b, n->args[0]->line, "%s", err);
		break;
	case KW_PG_V6:
		if (conf_value_u64(n->kw, n->args[0], &v, b->errs) == 0) {
			s->v6_prefix = (unsigned)v;
			s->has_v6_prefix = true;
		}
		break;
	case KW_PG_AUTH:
		set_u64(b, n, &s->auth_validity, &s->has_auth_validity);
		break;
	case KW_PG_UNAUTH:
		set_u64(b, n, &s->unauth_validity, &s->has_unauth_validity);
		break;
	case KW_PG_AWL:
		set_auto(b, n, &s->has_awl, &s->awl);
		break;
	case KW_PG_ABL:
		set_auto(b, n, &s->has_abl, &s->abl);
		break;
	case KW_PG_WHITELIST:
		add_whitelist(b, s, n);
		break;
	case KW_PG_TRAINING:
		if (conf_blk_yesno(b, n, &s->training) == 0)
			s->has_training = true;
		break;
	case KW_PG_REPLY:
	case KW_PG_BL_REPLY:
		if (grey_settings_reply(s, i == KW_PG_BL_REPLY,
		    n->args[0]->text, err, sizeof(err)) == -1)
			conf_blk_err(b, n->args[0]->line, "%s", err);
		break;
	default:
		break;
	}
}

void
conf_grey_apply(struct pol_policy *p, const struct conf_node *n,
    struct conf_errs *errs)
{
	const struct conf_node *first[NOPT] = { NULL };
	struct gapply a;

	/* its syntax error was reported: nothing more is said of it */
	if (n->bad || conf_node_has_bad(n))
		return;
	conf_blk_init(&a.b, p->name, errs, "greylisting");
	a.s = grey_settings_new(n->tok->line);
	conf_blk_apply(&a.b, n, KW_PG_ON, KW_PG_BL_REPLY, first, set_option,
	    &a);
	if (!conf_blk_failed(&a.b))
		grey_settings_check(a.s, conf_blk_report, &a.b);
	if (conf_blk_failed(&a.b))
		grey_settings_free(&a.s);
	else
		p->grey = a.s;
}

static void
auto_text(const struct grey_auto *a, char *buf, size_t bufsz)
{
	char within[32], pct[16] = "";

	if (!a->on) {
		str_copy(buf, "off", bufsz);
		return;
	}
	if (a->pct != 0)
		snprintf(pct, sizeof(pct), " %u%%", a->pct);
	conf_format_u64(CONF_U_DURATION, a->within, within, sizeof(within));
	snprintf(buf, bufsz, "%u%s within %s", (unsigned)a->count, pct,
	    within);
}

static void
dump_duration(struct conf_bdump *d, int row, bool has, uint64_t v)
{
	char num[32];

	conf_format_u64(CONF_U_DURATION, v, num, sizeof(num));
	conf_bdump_setting(d, row, has, has ? num : NULL);
}

void
conf_grey_dump(const struct grey_settings *s, const char *indent,
    struct buf *out)
{
	const struct conf_grammar *g = &conf_daemon_grammar;
	struct conf_bdump d;
	char sub[64], text[64];
	size_t i;

	buf_printf(out, "%sgreylisting {\n", indent);
	snprintf(sub, sizeof(sub), "%s\t", indent);
	conf_bdump_init(&d, sub);
	conf_bdump_setting(&d, s->has_on && !s->on ? KW_PG_OFF : KW_PG_ON,
	    s->has_on, NULL);
	dump_duration(&d, KW_PG_PERIOD, s->has_period, s->period);
	snprintf(text, sizeof(text), "SenderIP:/%u", s->v4_prefix);
	conf_bdump_setting(&d, KW_PG_TRACK, s->has_v4_prefix, text);
	snprintf(text, sizeof(text), "%u", s->v6_prefix);
	conf_bdump_setting(&d, KW_PG_V6, s->has_v6_prefix, text);
	dump_duration(&d, KW_PG_AUTH, s->has_auth_validity,
	    s->auth_validity);
	dump_duration(&d, KW_PG_UNAUTH, s->has_unauth_validity,
	    s->unauth_validity);
	auto_text(&s->awl, text, sizeof(text));
	conf_bdump_setting(&d, KW_PG_AWL, s->has_awl, text);
	auto_text(&s->abl, text, sizeof(text));
	conf_bdump_setting(&d, KW_PG_ABL, s->has_abl, text);
	conf_bdump_setting(&d, KW_PG_TRAINING, s->has_training,
	    s->training ? "yes" : "no");
	if (s->nwl > 0) {
		buf_printf(&d.set, "%swhitelist", d.indent);
		for (i = 0; i < s->nwl; i++) {
			buf_addc(&d.set, ' ');
			conf_add_word(&d.set, g, s->wl[i].text);
		}
		buf_addc(&d.set, '\n');
	}
	if (s->reply != NULL) {
		buf_printf(&d.set, "%sreply ", d.indent);
		conf_add_word(&d.set, g, s->reply);
		buf_addc(&d.set, '\n');
	}
	if (s->bl_reply != NULL) {
		buf_printf(&d.set, "%sblacklist-reply ", d.indent);
		conf_add_word(&d.set, g, s->bl_reply);
		buf_addc(&d.set, '\n');
	}
	/* a block that turns greylisting off: what it would inherit is
	 * not in force */
	conf_bdump_end(&d, !(s->has_on && !s->on), out);
	buf_printf(out, "%s}\n", indent);
}

/*
 * Whether the items (of a recipient list) name only relay-domains: an
 * address or @domain in relay-domains, or a group of such, read as
 * recipients.  Anything else (any, @*.domain, user@) is mail that may
 * leave.  Groups are resolved: no loops; depth bounds the walk anyway.
 */
static bool
inbound_items(const struct conf *c, const struct pol_item *v, size_t n,
    int depth)
{
	const struct pol_group *grp;
	struct pol_item it;
	char err[256];
	size_t i, j, k;
	bool ok;

	if (n == 0 || depth > 32)
		return false;
	for (i = 0; i < n; i++) {
		if (v[i].kind == POL_ITEM_ADDR ||
		    v[i].kind == POL_ITEM_DOMAIN) {
			if (!conf_is_relay_domain(c, v[i].domain))
				return false;
			continue;
		}
		if (v[i].kind != POL_ITEM_GROUP)
			return false;
		for (j = 0, grp = NULL; j < c->policy->ngroup; j++)
			if (strcasecmp(c->policy->groups[j]->name,
			    v[i].text + 1) == 0)
				grp = c->policy->groups[j];
		if (grp == NULL || grp->nitem == 0)
			return false;
		for (k = 0; k < grp->nitem; k++) {
			if (pol_item_parse(POL_RECIPIENT, grp->items[k].text, 0,
			    &it, err, sizeof(err)) == -1)
				return false;
			ok = inbound_items(c, &it, 1, depth + 1);
			pol_item_clear(&it);
			if (!ok)
				return false;
		}
	}
	return true;
}

/* Greylisting delays the first mail of every new triplet: meant for mail
 * from the internet to the domains sluice is a gateway for, it holds up
 * a site's own outbound mail.  A policy whose every match limits its
 * recipients to relay-domains is inbound. */
void
conf_grey_warnings(const struct conf *c, pol_error_fn *warn, void *arg)
{
	const struct pol_policy *p;
	const struct pol_match *m;
	char msg[512];
	size_t i, j;

	for (i = 0; c->policy != NULL && i < c->policy->npolicy; i++) {
		p = c->policy->policies[i];
		if (p->grey == NULL || (p->grey->has_on && !p->grey->on))
			continue;
		for (j = 0; j < p->nmatch; j++) {
			m = &p->matches[j];
			if (!m->has[POL_RECIPIENT] || !inbound_items(c,
			    m->dim[POL_RECIPIENT].items,
			    m->dim[POL_RECIPIENT].nitem, 0))
				break;
		}
		if (j == p->nmatch)
			continue;
		snprintf(msg, sizeof(msg), "policy %s: greylisting is for "
		    "inbound mail, but the policy matches recipients outside "
		    "relay-domains: it would delay mail your own users send "
		    "(match recipients of relay-domains only)", p->name);
		warn(arg, p->grey->line, msg);
	}
}
