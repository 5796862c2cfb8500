/*
 * api_explain: GET /v1/explain?sender=A&recipient=B[&recipient=C...]
 * [&client_ip=IP][&helo=H][&sasl=U][&size=N] (`sluicectl explain`):
 * what the policy engine would decide now for such a message, and why:
 * access control per recipient as at RCPT (engine_rcpt's decision), the
 * HELO checks, SPF and greylisting as at RCPT (engine_explain_filters:
 * the HELO's look-up and the SPF check are said, not done), then
 * the quota stage as at end of DATA for the recipients those let
 * through, then the accountings for those neither access nor a quota
 * decided, combined per recipient as smtp_tx does (discard, hold, defer,
 * deliver; a refusal of the whole message).
 *
 * Invariants: runs on the loop thread, which owns the counters, so it
 * sees one instant.  Quotas, accountings and greylisting run with
 * commit=false, HELO checks with explain: explain changes no counter or
 * triplet, records no HELO, stores nothing and logs nothing; a message sent
 * right after gets the figures explain showed.
 *
 * What an attacker controls: whoever can reach the socket sends any
 * query (at most 1000 recipients; the request line is bounded by evhttp);
 * every string goes out through api_json_str().
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/http.h>

#include "../lib/strutil.h"
#include "../lib/xalloc.h"
#include "../policy/quota.h"
#include "api_priv.h"
#include "engine.h"
#include "engine_acct.h"
#include "smtp_parse.h"

#define API_EXPLAIN_RCPT_MAX	1000

struct api_explain {
	const char		*sender;	/* "" the null sender */
	const char		*helo, *sasl;	/* or NULL */
	const char		**rcpts;
	size_t			 nrcpt;
	struct addr		 client;
	bool			 has_client;
	uint64_t		 size;
	/* the answer */
	const struct pol_policy	**access;	/* per recipient, or NULL */
	const char		**pass;		/* those that reach DATA */
	size_t			*qi;		/* recipient -> index in pass */
	size_t			 npass;
	struct pol_decision	 d;
	struct pol_acct_decision ad;		/* the accountings' */
	struct engine_rcpt_out	*filt;		/* per recipient: HELO, SPF,
						   greylisting */
	struct buf		 why;
};

/* Reads and checks the query; 0, or -1 with *msg. */
static int
api_explain_args(const struct evkeyvalq *kv, struct api_explain *x,
    const char **msg)
{
	static const char *const names[] = {
		"sender", "client_ip", "helo", "sasl", "size", NULL
	};
	const char *vals[5] = { NULL }, *errstr;
	const struct evkeyval *e;

	if (api_query_params(kv, names, vals, "recipient", msg) == -1)
		return -1;
	TAILQ_FOREACH(e, kv, next) {
		if (strcmp(e->key, "recipient") != 0)
			continue;
		if (*e->value == '\0') {
			*msg = "recipient: empty";
			return -1;
		}
		if (x->nrcpt == API_EXPLAIN_RCPT_MAX) {
			*msg = "too many recipients (at most 1000)";
			return -1;
		}
		x->rcpts[x->nrcpt++] = e->value;
	}
	if (x->nrcpt == 0) {
		*msg = "recipient= is required (one or more)";
		return -1;
	}
	if ((x->sender = vals[0]) == NULL) {
		*msg = "sender= is required (empty for the null sender)";
		return -1;
	}
	if (strcmp(x->sender, "<>") == 0)
		x->sender = "";
	if (vals[1] != NULL && *vals[1] != '\0') {
		if (!engine_parse_client(vals[1], &x->client)) {
			*msg = "client_ip: not an IPv4 or IPv6 address";
			return -1;
		}
		x->has_client = true;
	}
	x->helo = vals[2];
	x->sasl = vals[3] != NULL && *vals[3] != '\0' ? vals[3] : NULL;
	if (vals[4] != NULL && str_to_size(vals[4], 0, UINT64_MAX / 2,
	    &x->size, &errstr) == -1) {
		*msg = "size: not a number of bytes (K, M or G may follow)";
		return -1;
	}
	return 0;
}

/* Access control per recipient, as engine_rcpt decides it at RCPT. */
static void
api_explain_access(const struct pol_set *set, struct api_explain *x)
{
	const struct pol_policy **pols, *p;
	struct pol_input in;
	struct buf m = BUF_INIT;
	char reply[POL_REPLY_MAX + 32];
	size_t i, n;

	pols = xcalloc((set ? set->npolicy : 0) + 1, sizeof(*pols));
	memset(&in, 0, sizeof(in));
	in.client = x->has_client ? &x->client : NULL;
	in.sender = x->sender;
	in.sasl = x->sasl;
	buf_addstr(&x->why, "access control (at RCPT):\n");
	for (i = 0; i < x->nrcpt; i++) {
		in.recipient = x->rcpts[i];
		n = set != NULL ? pol_set_match(set, &in, pols,
		    set->npolicy) : 0;
		p = x->access[i] = pol_access_decide(pols, n);
		buf_printf(&x->why, "  recipient %s: ", x->rcpts[i]);
		if (p == NULL) {
			buf_addstr(&x->why, "no matching policy has an access "
			    "rule\n");
			x->qi[i] = x->npass;
			x->pass[x->npass++] = x->rcpts[i];
			continue;
		}
		buf_printf(&x->why, "policy %s (priority %ld) says %s",
		    p->name, p->priority, pol_verdict_name(p->access.verdict));
		if (p->access.verdict == POL_V_REJECT ||
		    p->access.verdict == POL_V_TEMPFAIL) {
			pol_verdict_reply(p->access.verdict, p->access.reply,
			    reply, sizeof(reply));
			buf_printf(&x->why, ": refused at RCPT with \"%s\"\n",
			    reply);
			x->qi[i] = SIZE_MAX;
		} else {
			buf_addstr(&x->why, p->access.verdict == POL_V_OK ?
			    ": accepted, no quota counts it\n" : "\n");
			x->qi[i] = x->npass;
			x->pass[x->npass++] = x->rcpts[i];
		}
		buf_reset(&m);
		pol_policy_matches(p, &in, &m);
		buf_add_indented(&x->why, &m, "    ");
	}
	buf_free(&m);
	free(pols);
}

/* Relay access, as at RCPT before the policies: which recipients only a
 * trusted peer may send to.  Explain cannot know the peer (behind mta1
 * the client is the original one, and mta1 is trusted), so it says so
 * and decides nothing here. */
static void
api_explain_relay(struct engine *e, struct api_explain *x)
{
	const struct conf *c = engine_conf(e);
	bool trusted = x->has_client && conf_is_trusted(c, &x->client);
	size_t i;

	buf_addstr(&x->why, "relay access (at RCPT):\n");
	for (i = 0; i < x->nrcpt; i++) {
		buf_printf(&x->why, "  recipient %s: ", x->rcpts[i]);
		if (strcasecmp(x->rcpts[i], "postmaster") == 0 ||
		    conf_is_relay_domain(c, smtp_addr_domain(x->rcpts[i])))
			buf_addstr(&x->why, "in relay-domains: anyone may send "
			    "to it\n");
		else if (trusted)
			buf_addstr(&x->why, "not in relay-domains; the client is "
			    "in trusted-networks: relayed\n");
		else
			buf_addstr(&x->why, "not in relay-domains: relayed only "
			    "for a trusted peer (mta1); a client outside "
			    "trusted-networks that connects itself gets \"554 "
			    "5.7.1 Relay access denied\"\n");
	}
}

/* The HELO checks, SPF and greylisting for the recipients access lets
 * through to them (not ok, hold or discard: those end the RCPT stage);
 * the ones they refuse do not reach DATA. */
static void
api_explain_filters(struct engine *e, struct api_explain *x)
{
	struct engine_ident id;
	struct buf m = BUF_INIT;
	enum pol_verdict a;
	size_t i;

	memset(&id, 0, sizeof(id));
	id.client = x->has_client ? &x->client : NULL;
	id.helo = x->helo;
	id.sender = x->sender;
	id.sasl = x->sasl;
	buf_addstr(&x->why, "helo, spf and greylisting (at RCPT):\n");
	x->npass = 0;
	for (i = 0; i < x->nrcpt; i++) {
		if (x->qi[i] == SIZE_MAX)
			continue;		/* refused by access control */
		a = x->access[i] ? x->access[i]->access.verdict : POL_V_NONE;
		buf_printf(&x->why, "  recipient %s:", x->rcpts[i]);
		if (a == POL_V_OK || a == POL_V_HOLD || a == POL_V_DISCARD)
			buf_printf(&x->why, " access says %s: not checked\n",
			    pol_verdict_name(a));
		else {
			buf_addc(&x->why, '\n');
			buf_reset(&m);
			engine_explain_filters(e, &id, x->rcpts[i], &m,
			    &x->filt[i]);
			buf_add_indented(&x->why, &m, "  ");
			if (x->filt[i].verdict != POL_V_NONE) {
				x->qi[i] = SIZE_MAX;
				continue;
			}
		}
		x->qi[i] = x->npass;
		x->pass[x->npass++] = x->rcpts[i];
	}
	buf_free(&m);
}

/* The message explained, as the end of DATA sees it: the recipients that
 * reach it, skip[] theirs. */
static void
api_explain_msg(const struct api_explain *x, const bool *skip,
    struct pol_msg *m)
{
	memset(m, 0, sizeof(*m));
	m->client = x->has_client ? &x->client : NULL;
	m->helo = x->helo;
	m->sender = x->sender;
	m->sasl = x->sasl;
	m->rcpts = x->pass;
	m->skip = skip;
	m->nrcpt = x->npass;
	m->size = x->size;
}

/* The quota stage for the recipients that reach DATA, commit=false. */
static void
api_explain_quotas(const struct pol_set *set, struct pol_counters *c,
    struct api_explain *x, int64_t now)
{
	struct pol_msg m;
	struct buf why = BUF_INIT;
	bool *skip = xcalloc(x->npass + 1, sizeof(*skip));
	size_t i;

	buf_addstr(&x->why, "quotas (at end of DATA):\n");
	if (x->npass == 0) {
		buf_addstr(&x->why, "  no recipient reaches DATA\n");
		free(skip);
		return;
	}
	for (i = 0; i < x->nrcpt; i++)
		if (x->qi[i] != SIZE_MAX && x->access[i] != NULL &&
		    x->access[i]->access.verdict == POL_V_OK)
			skip[x->qi[i]] = true;
	api_explain_msg(x, skip, &m);
	if (set != NULL && set->resolved) {
		pol_quota_decide(set, c, &m, now, false, &x->d, &why);
		buf_add_indented(&x->why, &why, "  ");
	} else
		buf_addstr(&x->why, "  no policies\n");
	buf_free(&why);
	free(skip);
}

/* The accountings after the quotas, commit=false, for the recipients
 * that reach DATA and that neither access (ok, hold, discard) nor a
 * quota (hold, discard) decided; nothing when a quota refuses the
 * message (smtp_tx_accounting's order). */
static void
api_explain_accounting(struct engine *e, struct api_explain *x, int64_t now)
{
	struct pol_msg m;
	struct buf why = BUF_INIT;
	bool *skip = xcalloc(x->npass + 1, sizeof(*skip));
	enum pol_verdict a, q;
	size_t i, k;

	buf_addstr(&x->why, "accounting (at end of DATA, after the quotas):\n");
	if (x->npass == 0 || x->d.refuse != POL_V_NONE) {
		buf_addstr(&x->why, x->npass == 0 ? "  no recipient reaches "
		    "DATA\n" : "  a quota refuses the message: nothing "
		    "counted\n");
		free(skip);
		return;
	}
	for (i = 0; i < x->nrcpt; i++) {
		if ((k = x->qi[i]) == SIZE_MAX)
			continue;
		a = x->access[i] ? x->access[i]->access.verdict : POL_V_NONE;
		q = x->d.rcpt != NULL && k < x->d.nrcpt ? x->d.rcpt[k].verdict :
		    POL_V_NONE;
		skip[k] = a == POL_V_OK || a == POL_V_HOLD ||
		    a == POL_V_DISCARD || q == POL_V_HOLD || q == POL_V_DISCARD;
	}
	api_explain_msg(x, skip, &m);
	engine_acct_explain(e, &m, now, &x->ad, &why);
	buf_add_indented(&x->why, &why, "  ");
	buf_free(&why);
	free(skip);
}

/* Recipient i's outcome: "deliver", "defer", "hold", "discard", "reject"
 * or "tempfail", as smtp_tx combines access and quotas. */
static const char *
api_explain_verdict(const struct api_explain *x, size_t i, int64_t *release)
{
	enum pol_verdict a = x->access[i] ? x->access[i]->access.verdict :
	    POL_V_NONE, q = POL_V_NONE;

	*release = 0;
	if (x->qi[i] == SIZE_MAX && x->filt[i].verdict != POL_V_NONE)
		return pol_verdict_name(x->filt[i].verdict);
	if (x->qi[i] == SIZE_MAX)
		return pol_verdict_name(a);
	if (x->d.refuse != POL_V_NONE)
		return pol_verdict_name(x->d.refuse);
	if (x->ad.refuse != POL_V_NONE)
		return pol_verdict_name(x->ad.refuse);
	if (x->d.rcpt != NULL && x->qi[i] < x->d.nrcpt)
		q = x->d.rcpt[x->qi[i]].verdict;
	if (a == POL_V_DISCARD || q == POL_V_DISCARD)
		return "discard";
	if (a == POL_V_HOLD || q == POL_V_HOLD)
		return "hold";
	if (x->ad.rcpt != NULL && x->qi[i] < x->ad.nrcpt &&
	    (x->ad.rcpt[x->qi[i]].verdict == POL_V_DISCARD ||
	    x->ad.rcpt[x->qi[i]].verdict == POL_V_HOLD))
		return pol_verdict_name(x->ad.rcpt[x->qi[i]].verdict);
	if (q == POL_V_DEFER) {
		*release = x->d.rcpt[x->qi[i]].release;
		return "defer";
	}
	return "deliver";
}

static void
api_explain_rcpts(struct buf *b, const struct api_explain *x)
{
	const struct pol_policy *p;
	const char *v;
	int64_t release;
	size_t i;

	buf_addstr(b, "\"recipients\":[");
	for (i = 0; i < x->nrcpt; i++) {
		p = x->access[i];
		buf_addstr(b, i ? ",{\"address\":" : "{\"address\":");
		api_json_str(b, x->rcpts[i]);
		buf_addstr(b, ",\"access\":");
		if (p == NULL)
			buf_addstr(b, "null");
		else {
			buf_addstr(b, "{\"policy\":");
			api_json_str(b, p->name);
			buf_printf(b, ",\"verdict\":\"%s\"}",
			    pol_verdict_name(p->access.verdict));
		}
		buf_addstr(b, ",\"filter\":");
		if (x->filt[i].verdict == POL_V_NONE)
			buf_addstr(b, "null");
		else {
			buf_printf(b, "{\"module\":\"%s\",\"verdict\":\"%s\","
			    "\"reply\":", x->filt[i].module,
			    pol_verdict_name(x->filt[i].verdict));
			api_json_str(b, x->filt[i].reply);
			buf_addc(b, '}');
		}
		v = api_explain_verdict(x, i, &release);
		buf_printf(b, ",\"verdict\":\"%s\",\"release\":", v);
		api_json_time_or_null(b, release);
		buf_addc(b, '}');
	}
	buf_addc(b, ']');
}

static void
api_explain_use(struct buf *b, const struct pol_use *u)
{
	char track[64];

	pol_track_format(u->quota, track, sizeof(track));
	buf_addstr(b, "{\"policy\":");
	api_json_str(b, u->quota->policy->name);
	buf_addstr(b, ",\"quota\":");
	api_json_str(b, u->quota->name);
	buf_addstr(b, ",\"track\":");
	api_json_str(b, track);
	buf_addstr(b, ",\"key\":");
	api_json_str(b, u->key);
	buf_printf(b, ",\"unit\":\"%s\",\"used\":", pol_unit_name(u->unit));
	api_json_figure(b, u->used);
	buf_addstr(b, ",\"amount\":");
	api_json_figure(b, u->amount);
	if (u->exempt)
		buf_addstr(b, ",\"limit\":null,\"exempt\":true");
	else
		buf_printf(b, ",\"limit\":%" PRIu64 ",\"exempt\":false",
		    u->limit);
	buf_addstr(b, ",\"window_start\":");
	api_json_time(b, u->start);
	buf_addstr(b, ",\"window_end\":");
	api_json_time(b, u->end);
	buf_printf(b, ",\"verdict\":\"%s\",\"never_fits\":%s,\"release\":",
	    u->verdict == POL_V_NONE ? "within" : pol_verdict_name(u->verdict),
	    u->never ? "true" : "false");
	api_json_time_or_null(b, u->verdict == POL_V_DEFER && !u->never ?
	    u->release : 0);
	buf_addc(b, '}');
}

/* "accountings":[{policy, accounting, track, key, period, per unit
 * {used, amount, limit}, verdict}...] */
static void
api_explain_acct_json(struct buf *b, const struct pol_acct_decision *ad)
{
	const struct pol_acct_use *u;
	const struct pol_limit *l;
	size_t i;
	unsigned k;

	buf_addstr(b, ",\"accountings\":[");
	for (i = 0; i < ad->nuse; i++) {
		u = &ad->use[i];
		if (i > 0)
			buf_addc(b, ',');
		api_acct_json_head(b, u->acct, u->key, u->period);
		for (k = 0; k < POL_NUNIT; k++) {
			buf_printf(b, ",\"%s\":{\"used\":%" PRIu64 ",\"amount\":"
			    "%" PRIu64 ",\"limit\":", pol_unit_name(k),
			    u->used[k], u->amount[k]);
			if ((l = pol_acct_limit(u->acct, k)) != NULL)
				buf_printf(b, "%" PRIu64 "}", l->n);
			else
				buf_addstr(b, "null}");
		}
		buf_printf(b, ",\"verdict\":\"%s\"}", u->verdict == POL_V_NONE ?
		    "within" : pol_verdict_name(u->verdict));
	}
	buf_addc(b, ']');
}

static void
api_explain_json(struct buf *b, const struct api_explain *x)
{
	enum pol_verdict refuse = x->d.refuse != POL_V_NONE ? x->d.refuse :
	    x->ad.refuse;
	size_t i;

	buf_addc(b, '{');
	api_explain_rcpts(b, x);
	buf_addstr(b, ",\"refused\":");
	if (refuse == POL_V_NONE)
		buf_addstr(b, "null");
	else {
		buf_printf(b, "{\"verdict\":\"%s\",\"reply\":",
		    pol_verdict_name(refuse));
		api_json_str(b, x->d.refuse != POL_V_NONE ? x->d.reply :
		    x->ad.reply);
		buf_addc(b, '}');
	}
	buf_addstr(b, ",\"quotas\":[");
	for (i = 0; i < x->d.nuse; i++) {
		if (i > 0)
			buf_addc(b, ',');
		api_explain_use(b, &x->d.use[i]);
	}
	buf_addc(b, ']');
	api_explain_acct_json(b, &x->ad);
	buf_addstr(b, ",\"trace\":");
	api_json_str(b, x->why.data ? x->why.data : "");
	buf_addc(b, '}');
}

/* The identity explained, the trace's first line. */
static void
api_explain_input(struct api_explain *x)
{
	char ip[ADDR_STRLEN] = "unknown";

	if (x->has_client)
		addr_format(&x->client, ip, sizeof(ip));
	buf_printf(&x->why, "message from <%s>, client %s, helo %s, sasl %s, "
	    "size %" PRIu64 " bytes, %zu recipient%s\n", x->sender, ip,
	    x->helo ? x->helo : "-", x->sasl ? x->sasl : "-", x->size,
	    x->nrcpt, x->nrcpt == 1 ? "" : "s");
}

void
api_explain(struct api *api, struct evhttp_request *req)
{
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	struct api_explain x;
	struct buf json = BUF_INIT;
	struct evkeyvalq kv;
	struct engine *e;
	const char *msg;
	int rc;

	if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
		api_bad_method(req, "GET, HEAD");
		return;
	}
	memset(&x, 0, sizeof(x));
	x.rcpts = xcalloc(API_EXPLAIN_RCPT_MAX, sizeof(*x.rcpts));
	if ((rc = api_query_parse(req, &kv, &msg)) == 0)
		rc = api_explain_args(&kv, &x, &msg);
	if (rc == -1)
		api_error(req, 400, msg);
	else if ((e = api_engine(api, req)) != NULL) {
		x.access = xcalloc(x.nrcpt, sizeof(*x.access));
		x.pass = xcalloc(x.nrcpt, sizeof(*x.pass));
		x.qi = xcalloc(x.nrcpt, sizeof(*x.qi));
		x.filt = xcalloc(x.nrcpt, sizeof(*x.filt));
		api_explain_input(&x);
		api_explain_relay(e, &x);
		api_explain_access(engine_policies(e), &x);
		api_explain_filters(e, &x);
		api_explain_quotas(engine_policies(e), engine_counters(e), &x,
		    (int64_t)time(NULL));
		api_explain_accounting(e, &x, (int64_t)time(NULL));
		buf_addc(&x.why, '\0');
		api_explain_json(&json, &x);
		api_reply(req, 200, &json);
	}
	evhttp_clear_headers(&kv);
	pol_decision_clear(&x.d);
	pol_acct_decision_clear(&x.ad);
	buf_free(&x.why);
	buf_free(&json);
	free(x.access);
	free(x.pass);
	free(x.qi);
	free(x.filt);
	free(x.rcpts);
}
