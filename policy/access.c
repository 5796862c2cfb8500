/*
 * access: the access rules of policies (`access VERDICT [reply TEXT]`)
 * and the SMTP replies of verdicts.  As cbpolicyd's AccessControl
 * (reference/cbpolicyd.md 4.1): among the matched policies, the first in
 * ascending priority that has a rule decides.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../lib/xalloc.h"
#include "policy_priv.h"

static const char *const verdict_names[] = {
	[POL_V_NONE] = "none",
	[POL_V_OK] = "ok",
	[POL_V_PASS] = "pass",
	[POL_V_REJECT] = "reject",
	[POL_V_TEMPFAIL] = "tempfail",
	[POL_V_HOLD] = "hold",
	[POL_V_DISCARD] = "discard",
	[POL_V_DEFER] = "defer",
};

#define NVERDICT	(sizeof(verdict_names) / sizeof(verdict_names[0]))

const char *
pol_verdict_name(enum pol_verdict v)
{
	return (size_t)v < NVERDICT ? verdict_names[v] : "?";
}

int
pol_verdict_parse(const char *s, enum pol_verdict *v)
{
	size_t i;

	for (i = POL_V_OK; i < NVERDICT; i++)
		if (strcasecmp(s, verdict_names[i]) == 0) {
			*v = (enum pol_verdict)i;
			return 0;
		}
	return -1;
}

/* The reply code class a verdict answers with: '5', '4' or '2'. */
static char
verdict_class(enum pol_verdict v)
{
	switch (v) {
	case POL_V_REJECT:	return '5';
	case POL_V_TEMPFAIL:	return '4';
	case POL_V_NONE:
	case POL_V_OK:
	case POL_V_PASS:
	case POL_V_HOLD:
	case POL_V_DISCARD:
	case POL_V_DEFER:	break;
	}
	return '2';
}

/* Length of a leading "NNN " reply code, or 0. */
static size_t
code_len(const char *s)
{
	if (isdigit((unsigned char)s[0]) && isdigit((unsigned char)s[1]) &&
	    isdigit((unsigned char)s[2]) && (s[3] == ' ' || s[3] == '\0'))
		return 3;
	return 0;
}

int
pol_reply_check(enum pol_verdict v, const char *reply, const char *what,
    char *err, size_t errsz)
{
	const char *s;

	if (*reply == '\0' || strlen(reply) > POL_REPLY_MAX) {
		snprintf(err, errsz, "%s: empty or longer than %d bytes", what,
		    POL_REPLY_MAX);
		return -1;
	}
	for (s = reply; *s != '\0'; s++)
		if (*s < 0x20 || *s > 0x7e) {
			snprintf(err, errsz, "%s: only printable ASCII (no line "
			    "breaks, no 8-bit bytes)", what);
			return -1;
		}
	/* the verdicts that accept answer 250: their text has no code */
	if (code_len(reply) && (reply[0] != verdict_class(v) ||
	    verdict_class(v) == '2')) {
		snprintf(err, errsz, "%s: \"%.3s\" is not a reply of %s%s",
		    what, reply, pol_verdict_name(v), verdict_class(v) == '2' ?
		    " (its reply is 250; write the text without a code)" :
		    verdict_class(v) == '5' ? " (5xx)" : " (4xx)");
		return -1;
	}
	return 0;
}

int
pol_policy_set_access(struct pol_policy *p, enum pol_verdict v,
    const char *reply, int line, char *err, size_t errsz)
{
	if (p->access.verdict != POL_V_NONE) {
		snprintf(err, errsz, "a second access rule (the first at "
		    "line %d)", p->access.line);
		return -1;
	}
	if (v == POL_V_NONE || v == POL_V_DEFER) {
		snprintf(err, errsz, "access: \"%s\" is not a verdict of access "
		    "control (ok, pass, reject, tempfail, hold or discard)%s",
		    pol_verdict_name(v), v == POL_V_DEFER ? "; defer is a "
		    "quota's verdict" : "");
		return -1;
	}
	if (reply != NULL && pol_reply_check(v, reply, "access reply", err,
	    errsz) == -1)
		return -1;
	p->access.verdict = v;
	p->access.reply = reply ? xstrdup(reply) : NULL;
	p->access.line = line;
	return 0;
}

const struct pol_policy *
pol_access_decide(const struct pol_policy *const *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (v[i]->access.verdict != POL_V_NONE)
			return v[i];
	return NULL;
}

void
pol_verdict_reply(enum pol_verdict v, const char *text, char *buf,
    size_t bufsz)
{
	const char *code = v == POL_V_REJECT ? "550 5.7.1" :
	    v == POL_V_TEMPFAIL ? "451 4.7.1" : "250 2.0.0";

	if (text == NULL)
		snprintf(buf, bufsz, "%s %s", code, v == POL_V_REJECT ?
		    "Access denied" : v == POL_V_TEMPFAIL ?
		    "Try again later" : "Ok");
	else if (code_len(text))
		snprintf(buf, bufsz, "%s", text);
	else
		snprintf(buf, bufsz, "%s %s", code, text);
}
