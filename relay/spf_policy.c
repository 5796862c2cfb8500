/*
 * spf_policy: what an SPF result means for one recipient, as the matched
 * policies' spf blocks say once merged (policy/spf.h has the block, its
 * defaults and spf_merge).  Pure: no DNS, no clock; the SMTP replies of
 * SPF live here and nowhere else.
 *
 * Choices: softfail, neutral, none and permerror are accepted (with the
 * header when asked): a domain's broken record is its problem, not a
 * reason to lose its mail (policyd-spf's default; cbpolicyd rejects it);
 * softfail and permerror can be set to tempfail or reject.  A temperror
 * is never a 5xx.  The replies carry RFC 7372's codes: x.7.23 for a
 * failed validation, x.7.24 for an error in it.
 */
#include <stdio.h>
#include <string.h>

#include "../lib/strutil.h"
#include "spf.h"

const char *
spf_status_name(enum spf_status st)
{
	static const char *const names[] = { "pass", "fail", "softfail",
	    "neutral", "none", "permerror", "temperror" };

	return (size_t)st < sizeof(names) / sizeof(names[0]) ? names[st] :
	    "temperror";
}

/* The one table of SPF replies: RFC 7372's 5.7.23 (validation failed)
 * and x.7.24 (validation error) codes; the text is the domain's
 * explanation or libspf2's comment, already one clean line. */
void
spf_decide(const struct spf_eff *eff, const struct spf_result *res,
    struct spf_action *act)
{
	const char *why = res->explanation[0] != '\0' ? res->explanation :
	    res->comment;
	enum spf_verdict v = SPF_ACCEPT;
	size_t n;

	memset(act, 0, sizeof(*act));
	switch (res->status) {
	case SPF_FAIL:
		v = eff->reject_fail ? SPF_REJECT : SPF_ACCEPT;
		break;
	case SPF_SOFTFAIL:
		v = eff->softfail;
		break;
	case SPF_PERMERROR:
		v = eff->permerror;
		break;
	case SPF_TEMPERROR:	/* a temporary error is never a 5xx */
		v = eff->temperror == SPF_ACCEPT ? SPF_ACCEPT : SPF_TEMPFAIL;
		break;
	default:
		break;
	}
	act->verdict = v;
	if (v == SPF_ACCEPT) {
		if (eff->add_header && res->header[0] != '\0')
			act->header = res->header;
		return;
	}
	if (res->status == SPF_TEMPERROR) {
		str_copy(act->reply, "451 4.7.24 Temporary SPF error, try again "
		    "later", sizeof(act->reply));
		return;
	}
	if (res->status == SPF_PERMERROR)
		n = (size_t)snprintf(act->reply, sizeof(act->reply),
		    "%s SPF record error: ", v == SPF_REJECT ? "550 5.7.24" :
		    "451 4.7.24");
	else
		n = (size_t)snprintf(act->reply, sizeof(act->reply),
		    "%s SPF check %s: ", v == SPF_REJECT ? "550 5.7.23" :
		    "451 4.7.23", res->status == SPF_FAIL ? "failed" :
		    "soft-failed");
	str_copy(act->reply + n, why, sizeof(act->reply) - n);
}
