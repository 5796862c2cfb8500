/*
 * engine_explain: the RCPT filters (HELO, SPF, greylisting) as
 * `sluicectl explain` shows them (engine.h): decided as at RCPT, with no
 * side effect: the HELO is not recorded, the triplet not touched.  What
 * needs the network is said, not done: the HELO's DNS look-up and the SPF
 * check run only for mail (their results are logged, event=helo and
 * event=spf), so an explain never waits on a DNS server.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine_priv.h"

static void
explain_helo(struct engine *e, const struct engine_ident *id,
    const struct helo_settings *hs, struct buf *why,
    struct engine_rcpt_out *out)
{
	struct helo_query q;
	struct helo_result r;
	struct buf m = BUF_INIT;

	if (!helo_is_active(hs)) {
		buf_addstr(why, "  helo: no check in force\n");
		return;
	}
	memset(&q, 0, sizeof(q));
	q.client = id->client;
	q.helo = id->helo;
	q.dns = HELO_DNS_UNKNOWN;
	q.explain = true;
	switch (helo_check(e->filt->helo, hs, &q, (int64_t)time(NULL), &r,
	    &m)) {
	case HELO_NEED_DNS:
		buf_add_indented(why, &m, "  ");
		buf_printf(why, "  helo: %s would be looked up (MX, A, AAAA); "
		    "explain does not: mail's look-ups are logged "
		    "(event=helo)\n", id->helo);
		break;
	case HELO_REJECT:
	case HELO_TEMPFAIL:
		buf_add_indented(why, &m, "  ");
		buf_printf(why, "  helo: refused: \"%s\"\n", r.reply);
		engine_refuse(out, r.verdict == HELO_TEMPFAIL, "helo", r.reply);
		break;
	default:
		buf_add_indented(why, &m, "  ");
		break;
	}
	buf_free(&m);
}

static void
explain_spf(const struct engine_ident *id, const struct spf_eff *eff,
    struct buf *why)
{
	const char *at;

	if (!eff->enabled) {
		buf_addstr(why, "  spf: off\n");
		return;
	}
	at = strrchr(id->sender, '@');
	buf_printf(why, "  spf: on (reject-fail %s, add-header %s, softfail "
	    "%s, permerror %s, temperror %s)\n", eff->reject_fail ? "yes" :
	    "no", eff->add_header ? "yes" : "no", spf_verdict_name(eff->softfail),
	    spf_verdict_name(eff->permerror), spf_verdict_name(eff->temperror));
	if (id->client == NULL)
		buf_addstr(why, "    no client address: not checked\n");
	else
		buf_printf(why, "    %s %s would be checked for the client; "
		    "explain does not run it: mail's results are logged "
		    "(event=spf)\n", at != NULL ? "the domain" : "the HELO",
		    at != NULL ? at + 1 : id->helo != NULL ? id->helo : "-");
}

static void
explain_grey(struct engine *e, const struct engine_ident *id,
    const struct grey_eff *eff, const char *rcpt, struct buf *why,
    struct engine_rcpt_out *out)
{
	struct grey_result r;
	char line[256], reply[POL_REPLY_MAX + 64];

	if (!eff->enabled) {
		buf_addstr(why, "  greylisting: off\n");
		return;
	}
	grey_check(e->filt->grey, eff, id->client, id->sender, rcpt,
	    (int64_t)time(NULL), false, &r);
	grey_result_format(&r, line, sizeof(line));
	buf_printf(why, "  greylisting (period %llus): %s\n",
	    (unsigned long long)eff->period, line);
	if (r.verdict != GREY_PASS) {
		grey_reply(eff, &r, reply, sizeof(reply));
		buf_printf(why, "    refused: \"%s\"\n", reply);
		engine_refuse(out, r.verdict == GREY_DEFER, "greylisting", reply);
	}
}

void
engine_explain_filters(struct engine *e, const struct engine_ident *id,
    const char *rcpt, struct buf *why, struct engine_rcpt_out *out)
{
	const struct pol_policy **pols;
	struct engine_merged m;
	size_t n;

	memset(out, 0, sizeof(*out));
	if (!e->filt->any) {
		buf_addstr(why, "  no policy has a helo, spf or greylisting "
		    "block\n");
		return;
	}
	if ((n = engine_match_policies(e, id, rcpt, &pols)) == 0) {
		buf_addstr(why, "  no policy matches\n");
		free(pols);
		return;
	}
	engine_merge(pols, n, &m);
	explain_helo(e, id, &m.helo, why, out);
	if (out->verdict == POL_V_NONE) {
		explain_spf(id, &m.spf, why);
		explain_grey(e, id, &m.grey, rcpt, why, out);
	}
	engine_merged_clear(&m);
	free(pols);
}
