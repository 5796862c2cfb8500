/*
 * conf_spf: the spf block of a policy, built into the settings of
 * policy/spf.h:
 *
 *	spf [on|off] {
 *	    [on|off] [reject-fail yes|no] [add-header yes|no]
 *	    [softfail accept|tempfail|reject] [permerror accept|tempfail|reject]
 *	    [temperror accept|tempfail]
 *	}
 *
 * on one line or several.  Only what is written is set (the has_*
 * flags): the matched policies' blocks merge, a higher priority number's
 * written setting overriding (spf_merge).  A block with an error is not
 * attached to its policy.  The dump writes what the block writes, then
 * as comments what it does not, with the defaults.
 */
#include <stdio.h>
#include <string.h>

#include "../lib/buf.h"
#include "../policy/spf.h"
#include "conf_priv.h"

#define NOPT	(KW_PS_TEMPERROR - KW_PS_ON + 1)

struct sapply {
	struct conf_blk		 b;	/* "policy P: spf: " */
	struct spf_settings	*s;
};

/* In the order of enum spf_verdict. */
static const char *const verdict_words[] = { "accept", "tempfail", "reject",
	NULL };
static const char *const temperror_words[] = { "accept", "tempfail", NULL };

/* softfail, permerror or temperror: the verdict, or -1 reported. */
static int
verdict(const struct conf_blk *b, const struct conf_node *n,
    enum spf_verdict *v, bool *has)
{
	int k;

	k = conf_blk_choose(b, n, n->kw == &conf_daemon_kws[KW_PS_TEMPERROR] ?
	    temperror_words : verdict_words);
	if (k < 0)
		return -1;
	*v = (enum spf_verdict)k;
	*has = true;
	return 0;
}

static void
set_option(void *arg, int i, const struct conf_node *n)
{
	const struct sapply *a = arg;
	const struct conf_blk *b = &a->b;
	struct spf_settings *s = a->s;

	switch (i) {
	case KW_PS_ON:
	case KW_PS_OFF:
		conf_blk_onoff(b, n, i == KW_PS_ON, &s->has_on, &s->on);
		break;
	case KW_PS_REJECT_FAIL:
		if (conf_blk_yesno(b, n, &s->reject_fail) == 0)
			s->has_reject_fail = true;
		break;
	case KW_PS_ADD_HEADER:
		if (conf_blk_yesno(b, n, &s->add_header) == 0)
			s->has_add_header = true;
		break;
	case KW_PS_SOFTFAIL:
		verdict(b, n, &s->softfail, &s->has_softfail);
		break;
	case KW_PS_PERMERROR:
		verdict(b, n, &s->permerror, &s->has_permerror);
		break;
	case KW_PS_TEMPERROR:
		verdict(b, n, &s->temperror, &s->has_temperror);
		break;
	default:
		break;
	}
}

void
conf_spf_apply(struct pol_policy *p, const struct conf_node *n,
    struct conf_errs *errs)
{
	const struct conf_node *first[NOPT] = { NULL };
	struct sapply a;

	if (n->bad || conf_node_has_bad(n))
		return;
	conf_blk_init(&a.b, p->name, errs, "spf");
	a.s = spf_settings_new(n->tok->line);
	conf_blk_apply(&a.b, n, KW_PS_ON, KW_PS_TEMPERROR, first, set_option,
	    &a);
	if (conf_blk_failed(&a.b))
		spf_settings_free(&a.s);
	else
		p->spf = a.s;
}

void
conf_spf_dump(const struct spf_settings *s, const char *indent,
    struct buf *out)
{
	struct conf_bdump d;
	char sub[64];

	buf_printf(out, "%sspf {\n", indent);
	snprintf(sub, sizeof(sub), "%s\t", indent);
	conf_bdump_init(&d, sub);
	conf_bdump_setting(&d, s->has_on && !s->on ? KW_PS_OFF : KW_PS_ON,
	    s->has_on, NULL);
	conf_bdump_setting(&d, KW_PS_REJECT_FAIL, s->has_reject_fail,
	    s->reject_fail ? "yes" : "no");
	conf_bdump_setting(&d, KW_PS_ADD_HEADER, s->has_add_header,
	    s->add_header ? "yes" : "no");
	conf_bdump_setting(&d, KW_PS_SOFTFAIL, s->has_softfail,
	    spf_verdict_name(s->softfail));
	conf_bdump_setting(&d, KW_PS_PERMERROR, s->has_permerror,
	    spf_verdict_name(s->permerror));
	if (s->has_temperror)
		conf_bdump_setting(&d, KW_PS_TEMPERROR, true,
		    spf_verdict_name(s->temperror));
	else
		conf_bdump_unwritten(&d, "temperror", "tempfail where "
		    "reject-fail is yes, else accept");
	conf_bdump_end(&d, !(s->has_on && !s->on), out);
	buf_printf(out, "%s}\n", indent);
}
