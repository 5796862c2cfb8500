/*
 * test_policy_access: access rules (policy/access.c): verdict names, the
 * checks on a rule and its reply, the decision among matched policies
 * (the first in ascending priority with a rule), and the SMTP replies.
 */
#include <stdio.h>
#include <string.h>

#include "policy/policy.h"
#include "t.h"

static struct pol_policy *
add(struct pol_set *set, const char *name, long prio)
{
	char err[256];
	struct pol_policy *p = pol_policy_add(set, name, prio, 1, err,
	    sizeof(err));

	T_OK(p != NULL, name);
	return p;
}

static void
test_names(void)
{
	enum pol_verdict v;

	T_OK(pol_verdict_parse("Reject", &v) == 0 && v == POL_V_REJECT,
	    "parse any case");
	T_OK(pol_verdict_parse("tempfail", &v) == 0 && v == POL_V_TEMPFAIL,
	    "parse tempfail");
	T_OK(pol_verdict_parse("defer", &v) == 0 && v == POL_V_DEFER,
	    "defer is a verdict (of quotas)");
	T_OK(pol_verdict_parse("none", &v) == -1, "none is not written");
	T_OK(pol_verdict_parse("dunno", &v) == -1, "unknown");
	T_EQ_STR(pol_verdict_name(POL_V_DISCARD), "discard", "name");
}

static void
test_rules(void)
{
	struct pol_set *set = pol_set_new();
	struct pol_policy *p = add(set, "p", 10), *q = add(set, "q", 10);
	char err[256];

	T_OK(pol_policy_set_access(p, POL_V_DEFER, NULL, 3, err,
	    sizeof(err)) == -1 && strstr(err, "quota's verdict") != NULL,
	    "defer refused in access");
	T_OK(pol_policy_set_access(p, POL_V_REJECT, "451 later", 3, err,
	    sizeof(err)) == -1 && strstr(err, "(5xx)") != NULL,
	    "reject with a 4xx reply refused");
	T_OK(pol_policy_set_access(p, POL_V_TEMPFAIL, "550 no", 3, err,
	    sizeof(err)) == -1 && strstr(err, "(4xx)") != NULL,
	    "tempfail with a 5xx reply refused");
	T_OK(pol_policy_set_access(p, POL_V_OK, "250 fine", 3, err,
	    sizeof(err)) == -1, "ok with a code refused");
	T_OK(pol_policy_set_access(p, POL_V_REJECT, "bad\r\nX-Inject: 1", 3,
	    err, sizeof(err)) == -1 && strstr(err, "printable") != NULL,
	    "a line break in a reply refused");
	T_OK(pol_policy_set_access(p, POL_V_REJECT, "", 3, err,
	    sizeof(err)) == -1, "an empty reply refused");
	T_OK(pol_policy_set_access(p, POL_V_REJECT, "550 5.7.1 Not you", 3,
	    err, sizeof(err)) == 0, "reject with its reply");
	T_OK(pol_policy_set_access(p, POL_V_OK, NULL, 4, err,
	    sizeof(err)) == -1 && strstr(err, "line 3") != NULL,
	    "a second rule refused, naming the first");
	T_OK(pol_policy_set_access(q, POL_V_HOLD, "parked for review", 5,
	    err, sizeof(err)) == 0, "hold with a text");
	pol_set_free(&set);
}

static void
test_decide(void)
{
	struct pol_set *set = pol_set_new();
	const struct pol_policy *v[3];
	struct pol_policy *a = add(set, "a", 0), *b = add(set, "b", 10),
	    *c = add(set, "c", 50);
	char err[256];

	v[0] = a;
	v[1] = b;
	v[2] = c;
	T_OK(pol_access_decide(v, 3) == NULL, "no rule: no decision");
	pol_policy_set_access(c, POL_V_REJECT, NULL, 1, err, sizeof(err));
	T_OK(pol_access_decide(v, 3) == c, "the only rule");
	pol_policy_set_access(b, POL_V_OK, NULL, 1, err, sizeof(err));
	T_OK(pol_access_decide(v, 3) == b,
	    "the lowest priority number with a rule wins");
	T_OK(pol_access_decide(v, 1) == NULL, "only a matched: none");
	pol_set_free(&set);
}

static void
test_replies(void)
{
	char buf[512];

	pol_verdict_reply(POL_V_REJECT, NULL, buf, sizeof(buf));
	T_EQ_STR(buf, "550 5.7.1 Access denied", "reject default");
	pol_verdict_reply(POL_V_TEMPFAIL, NULL, buf, sizeof(buf));
	T_EQ_STR(buf, "451 4.7.1 Try again later", "tempfail default");
	pol_verdict_reply(POL_V_REJECT, "Not from you", buf, sizeof(buf));
	T_EQ_STR(buf, "550 5.7.1 Not from you", "text gets the code");
	pol_verdict_reply(POL_V_REJECT, "554 5.7.1 Go away", buf,
	    sizeof(buf));
	T_EQ_STR(buf, "554 5.7.1 Go away", "a text with its code kept");
	pol_verdict_reply(POL_V_HOLD, NULL, buf, sizeof(buf));
	T_EQ_STR(buf, "250 2.0.0 Ok", "hold answers 250");
}

int
main(void)
{
	test_names();
	test_rules();
	test_decide();
	test_replies();
	return t_done();
}
