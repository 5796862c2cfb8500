/*
 * engine_rcpt: the RCPT stage in the daemon (engine.h): access control,
 * then the HELO checks, SPF and greylisting of the matched policies, in
 * cbpolicyd's order, the first refusal winning.
 *
 * A check that needs an answer from outside (the HELO's DNS look-up,
 * SPF) starts it, keeps a copy of the recipient and the identity in the
 * transaction's engine_tx and returns; the answer is kept there and the
 * whole check runs again (access and matching are pure and cheap; the
 * HELO is recorded again, which only moves its time; greylisting runs
 * once, last, when nothing is missing).  So one look-up and one SPF
 * check serve every recipient of a transaction.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "../lib/log.h"
#include "../lib/strutil.h"
#include "../lib/xalloc.h"
#include "engine_priv.h"

struct engine_tx {
	struct engine		*e;
	/* the HELO's look-up: its answer for dns_name */
	char			*dns_name;
	enum helo_dns		 dns;
	struct dns_req		*dreq;
	struct engine_res	*dres;
	/* SPF, once per transaction */
	bool			 spf_done;
	struct spf_result	 spf;
	struct spf_req		*sreq;
	struct engine_res	*sres;
	bool			 spf_header;	/* an accepted recipient's
						   policies want it */
	/* the check waiting for one of them */
	engine_rcpt_cb		*cb;
	void			*arg;
	char			*rcpt, *qid;
	struct engine_ident	 id;
	struct addr		 client;
	char			*helo, *sender, *sasl;
};

/* --- resolvers ------------------------------------------------------- */

static bool
same_resolver(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

struct engine_res *
engine_res_get(struct engine *e, const char **errstr)
{
	struct engine_filters *f = e->filt;
	const struct conf *c = e->conf;
	struct engine_res *r;

	if (f->res != NULL && same_resolver(f->res->resolver, c->resolver) &&
	    f->res->spf_timeout == c->spf_timeout) {
		f->res->refs++;
		return f->res;
	}
	r = xcalloc(1, sizeof(*r));
	if ((r->dns = dns_new(e->base, c->resolver, ENGINE_DNS_SECS,
	    errstr)) == NULL) {
		free(r);
		return NULL;
	}
	if (spf_new(&r->spf, e->base, c->resolver != NULL ?
	    (const struct sockaddr *)&c->resolver_ss : NULL, c->hostname,
	    (unsigned)c->spf_timeout, errstr) == -1 && spf_new(&r->spf,
	    e->base, c->resolver != NULL ? (const struct sockaddr *)
	    &c->resolver_ss : NULL, NULL, (unsigned)c->spf_timeout,
	    errstr) == -1) {
		dns_free(&r->dns);
		free(r);
		return NULL;
	}
	r->resolver = c->resolver != NULL ? xstrdup(c->resolver) : NULL;
	r->spf_timeout = c->spf_timeout;
	r->refs = 1;			/* the engine's */
	engine_res_unref(&f->res);
	f->res = r;
	r->refs++;
	return r;
}

void
engine_res_unref(struct engine_res **rp)
{
	struct engine_res *r = *rp;

	*rp = NULL;
	if (r == NULL || --r->refs > 0)
		return;
	dns_free(&r->dns);
	spf_free(&r->spf);
	free(r->resolver);
	free(r);
}

/* --- the transaction's answers --------------------------------------- */

struct engine_tx *
engine_tx_new(void)
{
	return xcalloc(1, sizeof(struct engine_tx));
}

static void
tx_forget_waiter(struct engine_tx *t)
{
	t->cb = NULL;
	t->arg = NULL;
	free(t->rcpt);
	free(t->qid);
	free(t->helo);
	free(t->sender);
	free(t->sasl);
	t->rcpt = t->qid = t->helo = t->sender = t->sasl = NULL;
}

void
engine_tx_free(struct engine_tx **tp)
{
	struct engine_tx *t = *tp;

	if (t == NULL)
		return;
	dns_cancel(&t->dreq);
	spf_cancel(&t->sreq);
	engine_res_unref(&t->dres);
	engine_res_unref(&t->sres);
	tx_forget_waiter(t);
	free(t->dns_name);
	free(t);
	*tp = NULL;
}

const char *
engine_tx_spf_header(const struct engine_tx *t)
{
	if (t == NULL || !t->spf_done || !t->spf_header ||
	    t->spf.header[0] == '\0')
		return NULL;
	return t->spf.header;
}

/* Keeps what the check needs to run again once the answer is in. */
static void
tx_wait(struct engine_tx *t, const struct engine_ident *id,
    const char *rcpt, const char *qid, engine_rcpt_cb *cb, void *arg)
{
	tx_forget_waiter(t);
	t->cb = cb;
	t->arg = arg;
	t->rcpt = xstrdup(rcpt);
	t->qid = xstrdup(qid);
	t->id = *id;
	if (id->client != NULL) {
		t->client = *id->client;
		t->id.client = &t->client;
	}
	t->helo = id->helo != NULL ? xstrdup(id->helo) : NULL;
	t->sender = xstrdup(id->sender != NULL ? id->sender : "");
	t->sasl = id->sasl != NULL ? xstrdup(id->sasl) : NULL;
	t->id.helo = t->helo;
	t->id.sender = t->sender;
	t->id.sasl = t->sasl;
}

static bool	rcpt_run(struct engine *, struct engine_tx *,
		    const struct engine_ident *, const char *, const char *,
		    struct engine_rcpt_out *);

/* An answer came: run the waiting check again; answer it when done. */
static void
tx_resume(struct engine_tx *t)
{
	struct engine_rcpt_out out;
	engine_rcpt_cb *cb = t->cb;
	void *arg = t->arg;

	if (cb == NULL)
		return;
	if (!rcpt_run(t->e, t, &t->id, t->rcpt, t->qid, &out))
		return;			/* waits for the next answer */
	tx_forget_waiter(t);
	cb(arg, &out);			/* may free t */
}

/* What a look-up of a HELO says about the name (helo.h's enum): any MX
 * record, even a null MX or MX hosts without addresses, or an address
 * of the name itself, is found. */
static enum helo_dns
dns_answer(const struct dns_result *r)
{
	/* MX records, even if their hosts' look-ups failed: found */
	if (r->status == DNS_OK || strcmp(r->dsn, "5.1.10") == 0 ||
	    (!r->implicit_mx && r->nhost > 0))
		return HELO_DNS_FOUND;
	if (r->status == DNS_TEMPFAIL)
		return HELO_DNS_FAILURE;
	if (!r->implicit_mx && r->nhost == 0 && strcmp(r->dsn, "5.4.4") == 0)
		return HELO_DNS_NXDOMAIN;
	return HELO_DNS_NO_RECORDS;
}

static void
tx_dns_done(void *arg, const struct dns_result *r)
{
	struct engine_tx *t = arg;

	t->dreq = NULL;
	engine_res_unref(&t->dres);
	t->dns = dns_answer(r);
	log_debug("queue_id=%s event=helo-lookup helo=%s answer=%d text=\"%s\"",
	    t->qid ? t->qid : "-", t->dns_name, (int)t->dns, r->text);
	tx_resume(t);
}

static void
tx_spf_done(void *arg, const struct spf_result *r)
{
	struct engine_tx *t = arg;
	char ip[ADDR_STRLEN] = "unknown";

	t->sreq = NULL;
	engine_res_unref(&t->sres);
	t->spf = *r;
	t->spf_done = true;
	t->e->filt->spf_checks++;
	if (t->id.client != NULL)
		addr_format(t->id.client, ip, sizeof(ip));
	log_info("queue_id=%s event=spf client=[%s] helo=%s from=<%s> "
	    "result=%s identity=%s comment=\"%s\"", t->qid ? t->qid : "-", ip,
	    t->helo ? t->helo : "-", t->sender ? t->sender : "",
	    spf_status_name(r->status), r->helo_identity ? "helo" : "mailfrom",
	    r->comment);
	tx_resume(t);
}

/* --- the checks ------------------------------------------------------ */

void
engine_merge(const struct pol_policy *const *pols, size_t n,
    struct engine_merged *m)
{
	const struct helo_settings **hv = xcalloc(n + 1, sizeof(*hv));
	const struct spf_settings **sv = xcalloc(n + 1, sizeof(*sv));
	size_t i;

	m->gv = xcalloc(n + 1, sizeof(*m->gv));
	for (i = 0; i < n; i++) {
		hv[i] = pols[i]->helo;
		sv[i] = pols[i]->spf;
		m->gv[i] = pols[i]->grey;
	}
	helo_merge(hv, n, &m->helo);	/* borrows the blocks, not hv */
	spf_merge(sv, n, &m->spf);
	grey_merge(m->gv, n, &m->grey);
	free(hv);
	free(sv);
}

void
engine_merged_clear(struct engine_merged *m)
{
	free(m->gv);
	m->gv = NULL;
}

void
engine_refuse(struct engine_rcpt_out *out, bool temp, const char *module,
    const char *reply)
{
	out->verdict = temp ? POL_V_TEMPFAIL : POL_V_REJECT;
	out->module = module;
	str_copy(out->reply, reply, sizeof(out->reply));
}

static bool
refused(const struct engine_rcpt_out *out)
{
	return out->verdict == POL_V_REJECT || out->verdict == POL_V_TEMPFAIL;
}

static void
client_text(const struct engine_ident *id, char *ip, size_t n)
{
	if (id->client != NULL)
		addr_format(id->client, ip, n);
	else
		str_copy(ip, "unknown", n);
}

/* HELO: false when the check must wait for the name's look-up. */
static bool
run_helo(struct engine *e, struct engine_tx *t,
    const struct engine_ident *id, const struct helo_settings *hs,
    const char *rcpt, const char *qid, struct engine_rcpt_out *out)
{
	struct helo_query q;
	struct helo_result r;
	struct engine_res *res;
	const char *err;
	char ip[ADDR_STRLEN], distinct[32] = "";

	if (!helo_is_active(hs))
		return true;
	memset(&q, 0, sizeof(q));
	q.client = id->client;
	q.helo = id->helo;
	q.dns = HELO_DNS_UNKNOWN;
	if (id->helo != NULL && t->dns_name != NULL &&
	    strcasecmp(t->dns_name, id->helo) == 0)
		q.dns = t->dns;
	if (helo_check(e->filt->helo, hs, &q, (int64_t)time(NULL), &r,
	    NULL) == HELO_NEED_DNS) {
		if (t->dreq != NULL)
			return false;
		if ((res = engine_res_get(e, &err)) != NULL) {
			free(t->dns_name);
			t->dns_name = xstrdup(id->helo);
			t->dns = HELO_DNS_UNKNOWN;
			t->dres = res;
			t->e = e;
			t->dreq = dns_resolve_mx(res->dns, id->helo,
			    tx_dns_done, t);
			return false;
		}
		log_warn("queue_id=%s event=helo-lookup-failed reason=\"%s\"",
		    qid, err);
		q.dns = HELO_DNS_FAILURE;
		helo_check(e->filt->helo, hs, &q, (int64_t)time(NULL), &r,
		    NULL);
	}
	engine_filters_changed(e);
	if (r.verdict != HELO_REJECT && r.verdict != HELO_TEMPFAIL)
		return true;
	e->filt->helo_refused++;
	client_text(id, ip, sizeof(ip));
	if (r.distinct > 0)
		snprintf(distinct, sizeof(distinct), " distinct=%u",
		    r.distinct);
	log_info("queue_id=%s event=helo client=[%s] helo=%s to=<%s> "
	    "verdict=%s reason=%s%s reply=\"%s\"", qid, ip,
	    id->helo ? id->helo : "-", rcpt, helo_verdict_name(r.verdict),
	    helo_reason_name(r.reason), distinct, r.reply);
	engine_refuse(out, r.verdict == HELO_TEMPFAIL, "helo", r.reply);
	return true;
}

/* SPF: false when the check must wait for the result.  *header: the
 * recipient's policies want Received-SPF. */
static bool
run_spf(struct engine *e, struct engine_tx *t,
    const struct engine_ident *id, const struct spf_eff *eff,
    const char *rcpt, const char *qid, struct engine_rcpt_out *out,
    bool *header)
{
	struct spf_action act;
	struct engine_res *res;
	const char *err;

	if (!eff->enabled || id->client == NULL)
		return true;
	if (!t->spf_done) {
		if (t->sreq != NULL)
			return false;
		if ((res = engine_res_get(e, &err)) != NULL) {
			t->sres = res;
			t->e = e;
			t->sreq = spf_check(res->spf, id->client, id->helo,
			    id->sender, tx_spf_done, t);
			return false;
		}
		log_warn("queue_id=%s event=spf-failed reason=\"%s\"", qid,
		    err);
		memset(&t->spf, 0, sizeof(t->spf));
		t->spf.status = SPF_TEMPERROR;
		t->spf_done = true;
	}
	spf_decide(eff, &t->spf, &act);
	if (act.verdict == SPF_ACCEPT) {
		*header = act.header != NULL;
		return true;
	}
	e->filt->spf_refused++;
	log_info("queue_id=%s event=spf to=<%s> result=%s verdict=%s "
	    "reply=\"%s\"", qid, rcpt, spf_status_name(t->spf.status),
	    spf_verdict_name(act.verdict), act.reply);
	engine_refuse(out, act.verdict == SPF_TEMPFAIL, "spf", act.reply);
	return true;
}

static void
run_grey(struct engine *e, const struct engine_ident *id,
    const struct grey_eff *eff, const char *rcpt, const char *qid,
    struct engine_rcpt_out *out)
{
	struct grey_result r;
	char line[256], reply[POL_REPLY_MAX + 64], ip[ADDR_STRLEN];

	if (!eff->enabled)
		return;
	grey_check(e->filt->grey, eff, id->client, id->sender, rcpt,
	    (int64_t)time(NULL), true, &r);
	engine_filters_changed(e);
	grey_result_format(&r, line, sizeof(line));
	client_text(id, ip, sizeof(ip));
	if (r.verdict == GREY_PASS) {
		e->filt->grey_passed++;
		log_info("queue_id=%s event=greylist client=[%s] from=<%s> "
		    "to=<%s> %s", qid, ip, id->sender, rcpt, line);
		return;
	}
	grey_reply(eff, &r, reply, sizeof(reply));
	if (r.verdict == GREY_DEFER)
		e->filt->grey_deferred++;
	else
		e->filt->grey_rejected++;
	log_info("queue_id=%s event=greylist client=[%s] from=<%s> to=<%s> "
	    "%s reply=\"%s\"", qid, ip, id->sender, rcpt, line, reply);
	engine_refuse(out, r.verdict == GREY_DEFER, "greylisting", reply);
}

/* One pass over the whole RCPT stage: true when decided (*out), false
 * when an answer is awaited (the caller keeps what it needs). */
static bool
rcpt_run(struct engine *e, struct engine_tx *t,
    const struct engine_ident *id, const char *rcpt, const char *qid,
    struct engine_rcpt_out *out)
{
	const struct pol_policy **pols;
	struct engine_merged m;
	bool header = false, done = true;
	size_t n;

	memset(out, 0, sizeof(*out));
	out->module = "access";
	n = engine_match_policies(e, id, rcpt, &pols);
	out->verdict = engine_access(id, rcpt, qid, pols, n, out->reply,
	    sizeof(out->reply));
	/* refused; or ok, hold, discard: final (cbpolicyd's OK ends the
	 * later modules) */
	if (n == 0 || !e->filt->any || (out->verdict != POL_V_NONE &&
	    out->verdict != POL_V_PASS)) {
		free(pols);
		return true;
	}
	engine_merge(pols, n, &m);
	if ((done = run_helo(e, t, id, &m.helo, rcpt, qid, out)) &&
	    !refused(out) &&
	    (done = run_spf(e, t, id, &m.spf, rcpt, qid, out, &header)) &&
	    !refused(out)) {
		run_grey(e, id, &m.grey, rcpt, qid, out);
		if (header && !refused(out))
			t->spf_header = true;
	}
	engine_merged_clear(&m);
	free(pols);
	return done;
}

bool
engine_rcpt_check(struct engine *e, struct engine_tx *t,
    const struct engine_ident *id, const char *rcpt, const char *qid,
    struct engine_rcpt_out *out, engine_rcpt_cb *cb, void *arg)
{
	t->e = e;
	if (rcpt_run(e, t, id, rcpt, qid, out))
		return true;
	tx_wait(t, id, rcpt, qid, cb, arg);
	return false;
}
