/*
 * smtp_tx: one mail transaction of an SMTP session: the envelope, the
 * message read in DATA (dot-unstuffed, with our Received header first),
 * and its hand-over to the queue writer.
 *
 * Line ends: only <CRLF>.<CRLF> ends DATA (RFC 5321 4.1.1.4).  A line that
 * ends in a bare LF is stored with CRLF; "." followed by a bare LF, or
 * after a line that ended in a bare LF, is an ordinary line, not the end:
 * this closes SMTP smuggling (as Postfix
 * 3.9's smtpd_forbid_bare_newline = normalize does).  NUL and 8-bit bytes
 * are stored as received: the store is byte-exact.
 *
 * Ownership: the session owns its tx until DATA ends; from the submit on,
 * the commit owns it (tx->sess is cleared if the client goes away), and
 * the loop callback frees it.
 *
 * What an attacker controls: the message bytes; the size bound is checked
 * as they arrive, before they are kept.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>

#include "../lib/log.h"
#include "../lib/timefmt.h"
#include "../lib/xalloc.h"
#include "dsn.h"
#include "loop.h"
#include "notify.h"
#include "smtp_priv.h"

/* A partial line longer than this is stored in pieces. */
#define SMTP_DATA_CHUNK	8192

static double
smtp_elapsed(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) +
	    (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

struct smtp_tx *
smtp_tx_new(struct smtp_session *s, const char *sender, bool utf8,
    bool eightbit)
{
	struct smtp_tx *tx;
	struct timespec now;

	tx = xcalloc(1, sizeof(*tx));
	tx->sess = s;
	tx->base = s->env->base;
	clock_gettime(CLOCK_REALTIME, &now);
	queue_id_new(tx->id, (int64_t)now.tv_sec * 1000000 +
	    now.tv_nsec / 1000);
	clock_gettime(CLOCK_MONOTONIC, &tx->start);
	tx->sender = xstrdup(sender);
	tx->utf8 = utf8;
	tx->eightbit = eightbit;
	buf_init(&tx->body);
	return tx;
}

void
smtp_tx_free(struct smtp_tx **txp)
{
	struct smtp_tx *tx = *txp;
	size_t i;

	if (tx == NULL)
		return;
	for (i = 0; i < tx->nrcpt; i++)
		free(tx->rcpts[i]);
	free(tx->rcpts);
	free(tx->access);
	engine_tx_free(&tx->etx);
	free(tx->rcpt_wait);
	free(tx->rin);
	for (i = 0; tx->qname != NULL && i < tx->nrcpt; i++)
		free(tx->qname[i]);
	free(tx->qname);
	notify_batch_done(NULL, &tx->nbatch, -1);
	pol_decision_clear(&tx->quota);
	free(tx->crows);
	free(tx->resv);
	buf_free(&tx->nbody);
	for (i = 0; i < sizeof(tx->client) / sizeof(tx->client[0]); i++)
		free(tx->client[i]);
	free(tx->sender);
	buf_free(&tx->body);
	free(tx);
	*txp = NULL;
}

void
smtp_tx_add_rcpt(struct smtp_tx *tx, const char *addr, enum pol_verdict v)
{
	tx->rcpts = xreallocarray(tx->rcpts, tx->nrcpt + 1,
	    sizeof(*tx->rcpts));
	tx->access = xreallocarray(tx->access, tx->nrcpt + 1,
	    sizeof(*tx->access));
	tx->access[tx->nrcpt] = v;
	tx->rcpts[tx->nrcpt++] = xstrdup(addr);
}

static const char *
smtp_proto(const struct smtp_session *s, const struct smtp_tx *tx)
{
	if (tx->utf8)
		return s->tls_active ? "UTF8SMTPS" : "UTF8SMTP";
	if (!s->esmtp)
		return s->tls_active ? "SMTPS" : "SMTP";
	return s->tls_active ? "ESMTPS" : "ESMTP";
}

/* Our trace header (RFC 5321 4.4): the peer that spoke to us, which with
 * XFORWARD is mta1; mta1's own header already names the original client. */
void
smtp_tx_begin_data(struct smtp_session *s)
{
	struct smtp_tx *tx = s->tx;
	char date[TIMEFMT_LEN];
	const char *spf = engine_tx_spf_header(tx->etx);

	/* RFC 7208 9.1: above the Received field of this hop */
	if (spf != NULL)
		buf_printf(&tx->body, "Received-SPF: %s\r\n", spf);
	time_rfc5322(time(NULL), date, sizeof(date));
	buf_printf(&tx->body, "Received: from %s (unknown [%s])\r\n",
	    s->helo, s->addr_str);
	if (s->tls_active)
		buf_printf(&tx->body, "\t(using %s)\r\n", s->tls_desc);
	buf_printf(&tx->body, "\tby %s (sluice) with %s id %s",
	    s->env->conf->hostname, smtp_proto(s, tx), tx->id);
	if (tx->nrcpt == 1)
		buf_printf(&tx->body, "\r\n\tfor <%s>", tx->rcpts[0]);
	buf_printf(&tx->body, "; %s\r\n", date);
	tx->hdr_len = tx->body.len;
	tx->at_bol = true;
	tx->prev_crlf = true;
}

/* Keeps the message within the size bound: past it, the bytes are
 * dropped as they come and DATA ends with 552. */
static void
smtp_tx_check_size(struct smtp_session *s, struct smtp_tx *tx)
{
	if (tx->body.len - tx->hdr_len > s->env->conf->limits.message_size)
		tx->too_big = true;
	if (tx->too_big)
		tx->body.len = tx->hdr_len;
}

/* One whole line (LF included) at the end of the body: unstuff it,
 * normalise its end to CRLF.  True when it was the end of DATA. */
static bool
smtp_tx_line(struct smtp_tx *tx, size_t start, size_t n)
{
	char *line = tx->body.data + start;
	size_t c = n - 1;
	bool crlf = c > 0 && line[c - 1] == '\r';

	if (crlf)
		c--;
	if (tx->at_bol && tx->prev_crlf && crlf && c == 1 &&
	    line[0] == '.') {
		tx->body.len = start;
		return true;
	}
	tx->prev_crlf = crlf;
	if (tx->at_bol && c > 0 && line[0] == '.') {
		memmove(line, line + 1, c - 1);	/* RFC 5321 4.5.2 */
		c--;
	}
	line[c] = '\r';
	line[c + 1] = '\n';
	tx->body.len = start + c + 2;
	tx->body.data[tx->body.len] = '\0';
	tx->at_bol = true;
	return false;
}

bool
smtp_tx_read_data(struct smtp_session *s, struct evbuffer *in)
{
	struct smtp_tx *tx = s->tx;
	struct evbuffer_ptr p;
	size_t eol_len, n, start;

	for (;;) {
		p = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_LF);
		if (p.pos == -1) {
			n = evbuffer_get_length(in);
			if (n <= SMTP_DATA_CHUNK)
				return false;
			/* a long line: keep all but its last byte (a CR
			 * whose LF has not arrived yet) */
			n--;
			start = tx->body.len;
			buf_reserve(&tx->body, n);
			evbuffer_remove(in, tx->body.data + start, n);
			tx->body.len += n;
			if (tx->at_bol && tx->body.data[start] == '.') {
				memmove(tx->body.data + start,
				    tx->body.data + start + 1, n - 1);
				tx->body.len--;
			}
			tx->at_bol = false;
			tx->prev_crlf = false;
			smtp_tx_check_size(s, tx);
			continue;
		}
		n = (size_t)p.pos + 1;
		start = tx->body.len;
		buf_reserve(&tx->body, n + 1);	/* room for a CR */
		evbuffer_remove(in, tx->body.data + start, n);
		if (smtp_tx_line(tx, start, n))
			return true;
		smtp_tx_check_size(s, tx);
	}
}

/* The peer (mta1) and, when it forwarded them, the original client's
 * name, address, HELO and protocol. */
static void
smtp_tx_log_queued(struct smtp_session *s, struct smtp_tx *tx)
{
	const struct queue_msg *m = &tx->msg;

	log_info("queue_id=%s sid=%llu event=queued from=<%s> nrcpt=%zu "
	    "size=%zu client=[%s] helo=\"%s\" proto=%s%s%s orig_client=%s[%s] "
	    "orig_helo=\"%s\" orig_proto=%s delay=%.3f", tx->id,
	    (unsigned long long)s->sid, tx->sender, tx->nrcpt, tx->body.len,
	    s->addr_str, s->helo, smtp_proto(s, tx),
	    s->tls_active ? " tls=" : "", s->tls_active ? "yes" : "",
	    m->client_name ? m->client_name : "unknown", m->client_addr,
	    m->client_helo ? m->client_helo : "",
	    m->client_proto ? m->client_proto : "", smtp_elapsed(&tx->start));
}

/* The accountings' part of tx (smtp_tx_accounting's), once done with. */
static void
smtp_tx_acct_clear(struct smtp_tx *tx)
{
	pol_acct_decision_clear(&tx->acct);
	free(tx->arows);
	tx->arows = NULL;
	tx->narows = 0;
	free(tx->agb);
	tx->agb = NULL;
	tx->nagb = 0;
}

/* Back on the loop thread: the store has answered. */
static void
smtp_tx_committed(void *arg)
{
	struct smtp_tx *tx = arg;
	struct smtp_session *s = tx->sess;

	if (tx->rc >= 0 && tx->queued != NULL && tx->msg.nrcpt > 0)
		tx->queued(tx->queued_arg, &tx->msg);
	if (tx->rc >= 0 && tx->notice) {
		log_info("queue_id=%s event=delay-notice notification=%s "
		    "to=<%s>", tx->id, tx->nmsg.id, tx->sender);
		if (tx->queued != NULL)
			tx->queued(tx->queued_arg, &tx->nmsg);
	}
	if (tx->rc < 0 && tx->engine != NULL) {
		pol_decision_undo(engine_counters(tx->engine), &tx->quota);
		engine_acct_undo(tx->engine, &tx->acct);
	}
	if (tx->rc >= 0 && tx->nagb > 0)
		engine_giveback(tx->engine, tx->agb, tx->nagb);
	smtp_tx_acct_clear(tx);
	notify_batch_done(tx->notify, &tx->nbatch, tx->rc);
	if (s == NULL) {
		log_warn("queue_id=%s event=%s reason=\"client gone before "
		    "the reply\"%s%s", tx->id, tx->rc >= 0 ?
		    "queued-unacknowledged" : "store-failed",
		    tx->rc >= 0 ? "" : " error=", tx->rc >= 0 ? "" : tx->err);
		smtp_tx_free(&tx);
		return;
	}
	s->tx = NULL;
	s->ntx++;
	if (tx->rc >= 0) {
		s->env->counters->messages++;
		s->env->counters->bytes += tx->body.len;
		smtp_tx_log_queued(s, tx);
		smtp_reply(s, "250 2.0.0 Ok: queued as %s", tx->id);
	} else if (strstr(tx->err, "full") != NULL) {
		log_err("queue_id=%s event=store-failed error=\"%s\"", tx->id,
		    tx->err);
		smtp_reply(s, "452 4.3.1 Insufficient system storage");
	} else {
		log_err("queue_id=%s event=store-failed error=\"%s\"", tx->id,
		    tx->err);
		smtp_reply(s, "451 4.3.0 Error: queue file write error");
	}
	smtp_tx_free(&tx);
	smtp_xforward_reset(&s->xf);
	smtp_session_resume(s);
}

/* The message and the quota and accounting counters it changed: one
 * transaction. */
static int
smtp_tx_store_job(struct queue_txn *txn, void *arg, const char **errstr)
{
	struct smtp_tx *tx = arg;

	if (tx->msg.nrcpt > 0 && queue_txn_store(txn, &tx->msg, errstr) == -1)
		return -1;
	if (tx->notice && queue_txn_store(txn, &tx->nmsg, errstr) == -1)
		return -1;
	if (tx->ncrows > 0 && queue_txn_counters_set(txn, tx->crows,
	    tx->ncrows, errstr) == -1)
		return -1;
	if (tx->narows > 0 && queue_txn_acct_set(txn, tx->arows, tx->narows,
	    errstr) == -1)
		return -1;
	return notify_batch_store(txn, tx->nbatch, errstr);
}

/* Writer thread: note the outcome and hand the tx back to the loop. */
static void
smtp_tx_store_done(void *arg, int rc, const char *errstr)
{
	struct smtp_tx *tx = arg;

	tx->rc = rc;
	if (rc < 0)
		snprintf(tx->err, sizeof(tx->err), "%s",
		    errstr ? errstr : "unknown error");
	loop_call(tx->base, smtp_tx_committed, tx);
}

static char *
smtp_tx_keep(struct smtp_tx *tx, unsigned slot, const char *v)
{
	tx->client[slot] = v ? xstrdup(v) : NULL;
	return tx->client[slot];
}

/* The original client: from XFORWARD when the peer is trusted and sent
 * it, else the peer itself.  Every string is copied: the commit may
 * outlive the session. */
static void
smtp_tx_fill(struct smtp_session *s, struct smtp_tx *tx)
{
	const struct smtp_xforward_attrs *xf = &s->xf;
	struct queue_msg *m = &tx->msg;
	bool fw = xf->addr != NULL && *xf->addr != '\0';
	size_t i;

	memcpy(m->id, tx->id, sizeof(m->id));
	tx->queued = s->env->queued;
	tx->queued_arg = s->env->queued_arg;
	m->arrival = (int64_t)time(NULL);
	m->sender = tx->sender;
	m->flags = (tx->eightbit ? QUEUE_F_8BITMIME : 0) |
	    (tx->utf8 ? QUEUE_F_SMTPUTF8 : 0);
	m->client_addr = smtp_tx_keep(tx, 0, fw ? xf->addr : s->addr_str);
	m->client_port = smtp_tx_keep(tx, 1, fw ? xf->port : s->port_str);
	m->client_name = smtp_tx_keep(tx, 2, fw ? xf->name : NULL);
	m->client_helo = smtp_tx_keep(tx, 3, fw ? xf->helo : s->helo);
	m->client_proto = smtp_tx_keep(tx, 4, fw ? xf->proto :
	    (s->esmtp ? "ESMTP" : "SMTP"));
	m->client_ident = smtp_tx_keep(tx, 5, xf->ident);
	m->client_source = smtp_tx_keep(tx, 6, xf->source);
	m->peer_addr = smtp_tx_keep(tx, 7, s->addr_str);
	m->peer_helo = smtp_tx_keep(tx, 8, s->helo);
	m->sasl_user = NULL;
	if (s->trusted && s->env->engine != NULL) {
		tx->client[9] = engine_sasl_from_header(s->env->conf,
		    tx->body.data +
		    tx->hdr_len, tx->body.len - tx->hdr_len);
		m->sasl_user = tx->client[9];
	}
	tx->rin = xcalloc(tx->nrcpt, sizeof(*tx->rin));
	for (i = 0; i < tx->nrcpt; i++) {
		tx->rin[i].addr = tx->rcpts[i];
		tx->rin[i].state = QUEUE_READY;
		tx->rin[i].due = m->arrival;
	}
	m->rcpts = tx->rin;
	m->nrcpt = tx->nrcpt;
	m->body = tx->body.data;
	m->body_len = tx->body.len;
}

/* The identity at end of DATA: the envelope's, with the login a trusted
 * peer's header gives. */
static void
smtp_tx_ident(const struct smtp_tx *tx, struct engine_ident *id,
    struct addr *client)
{
	memset(id, 0, sizeof(*id));
	if (engine_parse_client(tx->msg.client_addr, client))
		id->client = client;
	id->helo = tx->msg.client_helo;
	id->sender = tx->sender;
	id->sasl = tx->msg.sasl_user;
}

/* Access again for a trusted peer, now that its header has said whether
 * there is a login (rules on sasl were left open at RCPT); -1 when a
 * recipient is now refused: the whole message is, with that reply. */
static int
smtp_tx_access_again(struct smtp_session *s, struct smtp_tx *tx,
    const struct engine_ident *id)
{
	char reply[POL_REPLY_MAX + 32];
	enum pol_verdict v;
	size_t i;

	if (!s->trusted)
		return 0;
	for (i = 0; i < tx->nrcpt; i++) {
		v = engine_rcpt(s->env->engine, id, tx->rcpts[i], tx->id,
		    reply, sizeof(reply));
		if (v == POL_V_REJECT || v == POL_V_TEMPFAIL) {
			s->stage = "data";
			s->env->counters->policy_refusals++;
			smtp_refuse(s, "%s", reply);
			return -1;
		}
		tx->access[i] = v;
	}
	return 0;
}

/* What an accounting made of recipient i: HOLD, DISCARD, or NONE
 * (counted, or not asked). */
static enum pol_verdict
smtp_tx_acct_verdict(const struct smtp_tx *tx, size_t i)
{
	if (tx->acct.rcpt == NULL || i >= tx->acct.nrcpt)
		return POL_V_NONE;
	return tx->acct.rcpt[i].verdict == POL_V_HOLD ||
	    tx->acct.rcpt[i].verdict == POL_V_DISCARD ?
	    tx->acct.rcpt[i].verdict : POL_V_NONE;
}

/* A deferred recipient an accounting holds or discards will not leave
 * when its quota said: what it reserved goes back once the message is
 * stored (an administrator's hold does the same). */
static void
smtp_tx_acct_giveback(struct smtp_tx *tx, const struct pol_rcpt_out *o)
{
	if (o->verdict != POL_V_DEFER || o->nresv == 0)
		return;
	tx->agb = xreallocarray(tx->agb, tx->nagb + o->nresv,
	    sizeof(*tx->agb));
	memcpy(tx->agb + tx->nagb, tx->resv + o->resv0,
	    o->nresv * sizeof(*tx->agb));
	tx->nagb += o->nresv;
}

/* What access, quotas and accountings made of recipient i: its state in
 * the queue, or QUEUE_DONE when it is discarded.  A deferred one carries the quota
 * and key that hold it back, when it gives up (max-defer) and what it
 * reserves; one a quota holds, that quota and key. */
static enum queue_state
smtp_tx_rcpt_state(struct smtp_tx *tx, size_t i, struct queue_rcpt_in *in)
{
	const struct pol_rcpt_out *o = &tx->quota.rcpt[i];
	enum pol_verdict av = smtp_tx_acct_verdict(tx, i);

	if (tx->access[i] == POL_V_DISCARD || o->verdict == POL_V_DISCARD)
		return QUEUE_DONE;
	if (tx->access[i] == POL_V_HOLD)
		return QUEUE_HOLD;
	if (av == POL_V_HOLD || av == POL_V_DISCARD) {
		smtp_tx_acct_giveback(tx, o);
		return av == POL_V_HOLD ? QUEUE_HOLD : QUEUE_DONE;
	}
	if (o->verdict != POL_V_DEFER && o->verdict != POL_V_HOLD)
		return QUEUE_READY;
	if (o->verdict == POL_V_DEFER) {
		in->due = o->release;
		in->expire = tx->msg.arrival + (int64_t)o->max_defer;
		in->resv = tx->resv + o->resv0;
		in->nresv = o->nresv;
	}
	/* the quota that defers or holds it, for queue show */
	if (o->use != NULL) {
		if (tx->qname == NULL)
			tx->qname = xcalloc(tx->nrcpt, sizeof(*tx->qname));
		tx->qname[i] = xasprintf("%s/%s", o->use->quota->policy->name,
		    o->use->quota->name);
		in->quota = tx->qname[i];
		in->qkey = o->use->key;
	}
	return o->verdict == POL_V_HOLD ? QUEUE_HOLD : QUEUE_DEFERRED;
}

/* tell-sender delay: a delay notice (RFC 3464, action delayed) for the
 * deferred recipients of quotas that ask for it, saying when each is
 * expected to leave; stored with the message, in the same transaction. */
static void
smtp_tx_notice(struct smtp_session *s, struct smtp_tx *tx)
{
	const struct pol_decision *d = &tx->quota;
	struct dsn_rcpt *dr = xcalloc(d->nrcpt + 1, sizeof(*dr));
	char (*diag)[256] = xcalloc(d->nrcpt + 1, sizeof(*diag));
	struct dsn_report rep;
	struct timespec ts;
	const char *errstr;
	unsigned flags = 0;
	size_t i, n = 0;

	for (i = 0; i < d->nrcpt; i++) {
		const struct pol_rcpt_out *o = &d->rcpt[i];

		if (o->verdict != POL_V_DEFER || !o->tell_sender ||
		    tx->access[i] == POL_V_HOLD ||
		    tx->access[i] == POL_V_DISCARD ||
		    smtp_tx_acct_verdict(tx, i) != POL_V_NONE)
			continue;
		dr[n].addr = tx->rcpts[i];
		dr[n].action = DSN_DELAYED;
		dr[n].status = "4.7.0";
		snprintf(diag[n], sizeof(diag[n]), "held back by quota %s/%s "
		    "(key %s): the sender's limit is reached; it leaves when "
		    "the quota has room", o->use ? o->use->quota->policy->name :
		    "?", o->use ? o->use->quota->name : "?",
		    o->use ? o->use->key : "?");
		dr[n].diag = diag[n];
		dr[n].expected = (time_t)o->release;
		dr[n].retry_until = (time_t)(tx->msg.arrival +
		    (int64_t)o->max_defer);
		n++;
	}
	if (n == 0 || !dsn_should_bounce(tx->sender))
		goto out;
	memset(&rep, 0, sizeof(rep));
	rep.hostname = s->env->conf->hostname;
	rep.queue_id = tx->id;
	rep.arrival = (time_t)tx->msg.arrival;
	rep.sender = tx->sender;
	rep.msg = tx->body.data;
	rep.msg_len = tx->body.len;
	rep.rcpts = dr;
	rep.nrcpt = n;
	rep.now = (time_t)tx->msg.arrival;
	rep.seed = ((uint64_t)arc4random() << 32) | arc4random();
	if (dsn_build(&rep, &tx->nbody, &flags, &errstr) == -1) {
		log_err("queue_id=%s event=delay-notice-failed reason=\"%s\"",
		    tx->id, errstr);
		goto out;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	queue_id_new(tx->nmsg.id, (int64_t)ts.tv_sec * 1000000 +
	    ts.tv_nsec / 1000);
	tx->nmsg.arrival = tx->msg.arrival;
	tx->nmsg.sender = "";
	tx->nmsg.flags = flags;
	tx->nmsg.client_addr = "127.0.0.1";
	tx->nmsg.client_name = "localhost";
	tx->nmsg.client_proto = "LOCAL";
	tx->nrin.addr = tx->sender;
	tx->nrin.state = QUEUE_READY;
	tx->nrin.due = tx->msg.arrival;
	tx->nmsg.rcpts = &tx->nrin;
	tx->nmsg.nrcpt = 1;
	tx->nmsg.body = tx->nbody.data;
	tx->nmsg.body_len = tx->nbody.len;
	tx->notice = true;
out:
	free(dr);
	free(diag);
}

/* The accountings, after the quotas (policy/accounting.h): not for the
 * recipients access decided or a quota held or discarded.  A refusal
 * takes back what the quotas counted: -1 then (replied). */
static int
smtp_tx_accounting(struct smtp_session *s, struct smtp_tx *tx,
    const struct engine_ident *id)
{
	bool *skip = xcalloc(tx->nrcpt + 1, sizeof(*skip));
	enum pol_verdict a, q;
	size_t i;

	for (i = 0; i < tx->nrcpt; i++) {
		a = tx->access[i];
		q = tx->quota.rcpt[i].verdict;
		skip[i] = a == POL_V_OK || a == POL_V_HOLD ||
		    a == POL_V_DISCARD || q == POL_V_HOLD || q == POL_V_DISCARD;
	}
	engine_acct_data(tx->engine, id, (const char *const *)tx->rcpts,
	    skip, tx->nrcpt, tx->body.len, tx->id, &tx->acct);
	free(skip);
	if (tx->acct.refuse == POL_V_NONE) {
		tx->arows = engine_acct_rows(&tx->acct, &tx->narows);
		return 0;
	}
	pol_decision_undo(engine_counters(tx->engine), &tx->quota);
	s->stage = "data";
	s->env->counters->policy_refusals++;
	smtp_refuse(s, "%s", tx->acct.reply);
	smtp_tx_acct_clear(tx);
	return -1;
}

/* End of DATA with policies: access again if the login is new, the
 * quota stage, the accountings, then each recipient's state; discarded
 * ones are left out of the store (logged).  -1 when the message is
 * refused (replied). */
static int
smtp_tx_policies(struct smtp_session *s, struct smtp_tx *tx)
{
	struct engine_ident id;
	struct addr client;
	enum queue_state st;
	size_t i, n = 0;

	smtp_tx_ident(tx, &id, &client);
	if (smtp_tx_access_again(s, tx, &id) == -1)
		return -1;
	tx->engine = s->env->engine;
	engine_data(s->env->engine, &id, (const char *const *)tx->rcpts,
	    tx->access, tx->nrcpt, tx->body.len, tx->id, &tx->quota);
	if (tx->quota.refuse != POL_V_NONE) {
		s->stage = "data";
		s->env->counters->policy_refusals++;
		smtp_refuse(s, "%s", tx->quota.reply);
		return -1;
	}
	if (smtp_tx_accounting(s, tx, &id) == -1)
		return -1;
	tx->resv = engine_resv(&tx->quota);
	for (i = 0; i < tx->nrcpt; i++) {
		st = smtp_tx_rcpt_state(tx, i, &tx->rin[i]);
		if (st == QUEUE_DONE) {
			log_info("queue_id=%s event=discarded from=<%s> to=<%s> "
			    "reason=\"%s\"", tx->id, tx->sender, tx->rcpts[i],
			    tx->access[i] == POL_V_DISCARD ? "access" :
			    smtp_tx_acct_verdict(tx, i) == POL_V_DISCARD ?
			    "accounting" : "quota");
			continue;
		}
		tx->rin[n] = tx->rin[i];
		tx->rin[n++].state = st;
	}
	tx->msg.nrcpt = n;
	tx->crows = engine_rows(&tx->quota, &tx->ncrows);
	tx->notify = s->env->notify;
	tx->nbatch = notify_batch_new(tx->notify, &tx->quota, tx->id,
	    tx->msg.arrival);
	smtp_tx_notice(s, tx);
	return 0;
}

void
smtp_tx_end_data(struct smtp_session *s)
{
	struct smtp_tx *tx = s->tx;

	if (tx->too_big) {
		s->stage = "data";
		smtp_error(s, "552 5.3.4 Message size exceeds fixed limit");
		s->tx = NULL;
		s->ntx++;
		smtp_tx_free(&tx);
		smtp_xforward_reset(&s->xf);
		return;
	}
	smtp_tx_fill(s, tx);
	if (s->env->engine != NULL && smtp_tx_policies(s, tx) == -1) {
		s->tx = NULL;
		s->ntx++;
		smtp_tx_free(&tx);
		smtp_xforward_reset(&s->xf);
		return;
	}
	s->state = SMTP_S_COMMIT;
	bufferevent_disable(s->bev, EV_READ);
	queue_writer_submit(s->env->writer, smtp_tx_store_job,
	    smtp_tx_store_done, tx);
}
