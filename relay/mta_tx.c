/*
 * mta_tx: one mail transaction on a ready session: [RSET] MAIL, RCPT per
 * recipient, DATA, the dot-stuffed message, the final dot.  With
 * PIPELINING (RFC 2920) the commands up to DATA go out in one write and
 * the replies are matched to them in order; without it, one at a time,
 * stopping early when MAIL fails or no RCPT is accepted.
 *
 * Every recipient ends with exactly one result: its RCPT reply when that
 * refused it, else the reply that decided the transaction (MAIL, DATA,
 * the final dot), else why the connection failed.  The owner's message
 * is added to the output by reference, never copied: before the owner's
 * callback runs, nothing in the output may point into it any more.
 *
 * Dot-stuffing (RFC 5321 4.5.2) doubles a '.' after every LF, not only
 * after CRLF: a server that takes a bare LF as a line end must never see
 * "<LF>.<CRLF>" as the end of the data (SMTP smuggling).
 */
#include <stdlib.h>
#include <string.h>

#include "../lib/xalloc.h"
#include "mta_priv.h"

enum mta_cmd_kind {
	MTA_C_RSET,
	MTA_C_MAIL,
	MTA_C_RCPT,
	MTA_C_DATA
};

struct mta_cmd {
	enum mta_cmd_kind	 kind;
	size_t			 rcpt;		/* MTA_C_RCPT */
};

enum mta_phase {
	MTA_P_LOCAL,		/* decided without the network */
	MTA_P_CMDS,		/* commands up to DATA */
	MTA_P_BODY,		/* message written; then the final reply */
	MTA_P_EMPTY_DOT		/* 354 with no recipient: a lone dot */
};

struct mta_txn {
	const struct mta_tx	*tx;
	mta_tx_cb		*cb;
	void			*arg;
	struct mta_result	*res;		/* tx->nrcpt */
	bool			*decided;	/* res[i] is final */
	bool			*accepted;	/* RCPT got 2xx */
	struct mta_cmd		*cmds;
	size_t			 ncmd, nsent, nreplied;
	size_t			 naccepted;
	bool			 mail_failed;
	enum mta_phase		 phase;
	bool			 flushed;	/* body and dot written */
};

void
mta_tx_free(struct mta_txn **tp)
{
	struct mta_txn *t = *tp;

	if (t == NULL)
		return;
	free(t->res);
	free(t->decided);
	free(t->accepted);
	free(t->cmds);
	free(t);
	*tp = NULL;
}

/* Addresses go inside <> on a command line: no control characters, so no
 * command can be smuggled in with them. */
static bool
mta_addr_is_sane(const char *a)
{
	for (; *a != '\0'; a++)
		if ((unsigned char)*a < 0x20 || *a == 0x7f)
			return false;
	return true;
}

/* Gives every undecided recipient (or, with only_accepted, every
 * undecided accepted one) the same result. */
static void
mta_tx_decide_all(struct mta_txn *t, const struct mta_result *r,
    bool only_accepted)
{
	size_t i;

	for (i = 0; i < t->tx->nrcpt; i++) {
		if (t->decided[i] || (only_accepted && !t->accepted[i]))
			continue;
		t->res[i] = *r;
		t->decided[i] = true;
	}
}

static void
mta_tx_decide_reply(struct mta_session *s, struct mta_txn *t,
    const struct mta_reply *r, const char *cmd, bool only_accepted)
{
	struct mta_result res;

	mta_result_reply(&res, s->hostip, r, cmd, false);
	mta_tx_decide_all(t, &res, only_accepted);
}

/* Hands the results over; the session is READY before the callback
 * runs, so the callback may start the next transaction. */
static void
mta_tx_finish(struct mta_session *s)
{
	struct mta_txn *t = s->txn;
	struct mta_result why;

	s->txn = NULL;
	mta_result_set(&why, MTA_DEFERRED, "4.5.0", "protocol error: host %s "
	    "ended the transaction without a reply", s->hostip);
	mta_tx_decide_all(t, &why, false);	/* never, but never leave one */
	mta_ready(s);
	t->cb(t->arg, t->tx, t->res);
	mta_tx_free(&t);
}

/* A reply while the body is still going out: the server is out of step
 * and the output still points into the owner's message.  Open
 * recipients are deferred; the connection is closed. */
static void
mta_tx_out_of_step(struct mta_session *s, const struct mta_reply *r)
{
	struct mta_result why;
	char reply[512];

	mta_reply_format(r, reply, sizeof(reply));
	mta_result_set(&why, MTA_DEFERRED, "4.5.0", "protocol error: host %s "
	    "replied before the end of the data: %s", s->hostip, reply);
	why.code = r->code;
	mta_fail(s, &why);
}

void
mta_tx_abandon(struct mta_session *s, const struct mta_result *why)
{
	struct mta_txn *t = s->txn;

	s->txn = NULL;
	mta_tx_decide_all(t, why, false);
	t->cb(t->arg, t->tx, t->res);
	mta_tx_free(&t);
}

/* The size as sent (RFC 1870 3: before dot-stuffing), with the CRLF
 * mta_tx_body() adds to a last line without one. */
static size_t
mta_tx_size(const struct mta_tx *tx)
{
	if (tx->len == 0 || (tx->len >= 2 &&
	    memcmp(tx->data + tx->len - 2, "\r\n", 2) == 0))
		return tx->len;
	return tx->len + 2;
}

static void
mta_tx_send_cmd(struct mta_session *s, struct mta_txn *t)
{
	const struct mta_cmd *c = &t->cmds[t->nsent++];
	const struct mta_tx *tx = t->tx;
	char size[40] = "";

	switch (c->kind) {
	case MTA_C_RSET:
		mta_send_line(s, "RSET");
		break;
	case MTA_C_MAIL:
		if (s->ext.size_ok)
			snprintf(size, sizeof(size), " SIZE=%zu",
			    mta_tx_size(tx));
		mta_send_line(s, "MAIL FROM:<%s>%s%s%s", tx->sender, size,
		    (tx->flags & MTA_TX_8BITMIME) && s->ext.eightbitmime ?
		    " BODY=8BITMIME" : "",
		    (tx->flags & MTA_TX_SMTPUTF8) ? " SMTPUTF8" : "");
		break;
	case MTA_C_RCPT:
		mta_send_line(s, "RCPT TO:<%s>", tx->rcpts[c->rcpt].addr);
		break;
	case MTA_C_DATA:
		mta_send_line(s, "DATA");
		break;
	}
}

/* Sends what may go now: everything with PIPELINING, else the next
 * command once the previous one is answered. */
static void
mta_tx_push(struct mta_session *s, struct mta_txn *t)
{
	if (s->ext.pipelining) {
		while (t->nsent < t->ncmd)
			mta_tx_send_cmd(s, t);
	} else if (t->nsent == t->nreplied && t->nsent < t->ncmd)
		mta_tx_send_cmd(s, t);
	mta_set_timeout(s, &s->t_cmd);
}

/* The local checks; true when they decided the whole transaction. */
static bool
mta_tx_refuse(struct mta_session *s, struct mta_txn *t)
{
	const struct mta_tx *tx = t->tx;
	size_t size = mta_tx_size(tx);
	struct mta_result r;
	if ((tx->flags & MTA_TX_SMTPUTF8) && !s->ext.smtputf8)
		mta_result_set(&r, MTA_BOUNCED, "5.6.7", "SMTPUTF8 is "
		    "required, but not supported by the next hop %s",
		    s->hostip);
	else if (s->ext.size > 0 && size > s->ext.size)
		mta_result_set(&r, MTA_BOUNCED, "5.3.4", "message size %zu "
		    "exceeds size limit %llu of server %s", size,
		    (unsigned long long)s->ext.size, s->hostip);
	else if (!mta_addr_is_sane(tx->sender))
		mta_result_set(&r, MTA_BOUNCED, "5.1.7", "bad sender address "
		    "syntax");
	else
		return false;
	mta_tx_decide_all(t, &r, false);
	return true;
}

int
mta_session_send(struct mta_session *s, const struct mta_tx *tx,
    mta_tx_cb *cb, void *arg)
{
	struct mta_result bad;
	struct mta_txn *t;
	size_t i;

	if (!mta_session_is_ready(s) || tx->nrcpt == 0)
		return -1;
	t = xcalloc(1, sizeof(*t));
	t->tx = tx;
	t->cb = cb;
	t->arg = arg;
	t->res = xcalloc(tx->nrcpt, sizeof(*t->res));
	t->decided = xcalloc(tx->nrcpt, sizeof(*t->decided));
	t->accepted = xcalloc(tx->nrcpt, sizeof(*t->accepted));
	t->cmds = xcalloc(tx->nrcpt + 3, sizeof(*t->cmds));
	s->txn = t;
	s->state = MTA_S_TX;
	if (!mta_tx_refuse(s, t)) {
		if (s->need_rset)
			t->cmds[t->ncmd++].kind = MTA_C_RSET;
		t->cmds[t->ncmd++].kind = MTA_C_MAIL;
		mta_result_set(&bad, MTA_BOUNCED, "5.1.3", "bad recipient "
		    "address syntax");
		for (i = 0; i < tx->nrcpt; i++) {
			if (!mta_addr_is_sane(tx->rcpts[i].addr)) {
				t->res[i] = bad;
				t->decided[i] = true;
				continue;
			}
			t->cmds[t->ncmd].kind = MTA_C_RCPT;
			t->cmds[t->ncmd++].rcpt = i;
		}
		t->cmds[t->ncmd++].kind = MTA_C_DATA;
	}
	if (t->ncmd == 0 || t->cmds[t->ncmd - 2].kind != MTA_C_RCPT) {
		t->phase = MTA_P_LOCAL;		/* nothing to send */
		mta_schedule(s);
		return 0;
	}
	t->phase = MTA_P_CMDS;
	s->need_rset = true;
	mta_tx_push(s, t);
	return 0;
}

void
mta_tx_local_done(struct mta_session *s)
{
	if (s->txn != NULL && s->txn->phase == MTA_P_LOCAL)
		mta_tx_finish(s);
}

/* 354: the message, dot-stuffed, by reference, then the dot. */
static void
mta_tx_body(struct mta_session *s, struct mta_txn *t)
{
	struct evbuffer *out = bufferevent_get_output(s->bev);
	const char *data = t->tx->data, *nl;
	size_t len = t->tx->len, pos = 0, seg = 0;

	while (pos < len) {
		if (data[pos] == '.') {
			if (pos > seg)
				evbuffer_add_reference(out, data + seg,
				    pos - seg, NULL, NULL);
			evbuffer_add(out, ".", 1);
			seg = pos;
		}
		if ((nl = memchr(data + pos, '\n', len - pos)) == NULL)
			break;
		pos = (size_t)(nl - data) + 1;
	}
	if (len > seg)
		evbuffer_add_reference(out, data + seg, len - seg, NULL, NULL);
	if (len > 0 && (len < 2 || memcmp(data + len - 2, "\r\n", 2) != 0))
		evbuffer_add(out, "\r\n", 2);
	evbuffer_add(out, ".\r\n", 3);
	t->phase = MTA_P_BODY;
	t->flushed = false;
	/* no reply is due while the body goes out: only writes time out */
	mta_arm(s, NULL, &s->t_data);
}

void
mta_tx_flushed(struct mta_session *s)
{
	struct mta_txn *t = s->txn;

	if (t == NULL || t->phase != MTA_P_BODY || t->flushed)
		return;
	t->flushed = true;
	mta_set_timeout(s, &s->t_data);
}

static void
mta_tx_on_data(struct mta_session *s, struct mta_txn *t,
    const struct mta_reply *r)
{
	if (r->code == 354) {
		if (t->naccepted > 0 && !t->mail_failed) {
			mta_tx_body(s, t);
			return;
		}
		/* RFC 2920 3.1: the server should have refused DATA; end
		 * the empty message, which it must not deliver */
		mta_send_line(s, ".");
		t->phase = MTA_P_EMPTY_DOT;
		mta_set_timeout(s, &s->t_data);
		return;
	}
	mta_tx_decide_reply(s, t, r, "DATA", true);
	mta_tx_finish(s);
}

/* A reply in the command phase, matched to the oldest command sent. */
static void
mta_tx_on_cmd(struct mta_session *s, struct mta_txn *t,
    const struct mta_reply *r)
{
	const struct mta_cmd *c = &t->cmds[t->nreplied++];
	struct mta_result why;
	bool ok = r->code / 100 == 2;

	switch (c->kind) {
	case MTA_C_RSET:
		if (!ok) {
			mta_result_reply(&why, s->hostip, r, "RSET", true);
			mta_fail(s, &why);
			return;
		}
		break;
	case MTA_C_MAIL:
		if (!ok) {
			t->mail_failed = true;
			mta_tx_decide_reply(s, t, r, "MAIL FROM", false);
		}
		break;
	case MTA_C_RCPT:
		if (t->mail_failed || t->decided[c->rcpt])
			break;
		if (ok) {
			t->accepted[c->rcpt] = true;
			t->naccepted++;
		} else {
			mta_result_reply(&t->res[c->rcpt], s->hostip, r,
			    "RCPT TO", false);
			t->decided[c->rcpt] = true;
		}
		break;
	case MTA_C_DATA:
		mta_tx_on_data(s, t, r);
		return;
	}
	if (t->nreplied < t->nsent)
		return;			/* more replies of the group to come */
	if (!s->ext.pipelining && (t->mail_failed ||
	    (t->cmds[t->nsent].kind == MTA_C_DATA && t->naccepted == 0))) {
		mta_tx_finish(s);
		return;
	}
	mta_tx_push(s, t);
}

void
mta_tx_reply(struct mta_session *s, const struct mta_reply *r)
{
	struct mta_txn *t = s->txn;
	struct mta_result why;

	switch (t->phase) {
	case MTA_P_CMDS:
		mta_tx_on_cmd(s, t, r);
		break;
	case MTA_P_BODY:
		if (!t->flushed) {
			/* RFC 5321 4.2.5 has no reply before the dot: not
			 * a final reply, whatever its code */
			mta_tx_out_of_step(s, r);
			break;
		}
		mta_tx_decide_reply(s, t, r, "end of DATA", true);
		mta_tx_finish(s);
		break;
	case MTA_P_EMPTY_DOT:
		mta_tx_finish(s);
		break;
	case MTA_P_LOCAL:
		mta_result_set(&why, MTA_DEFERRED, "4.5.0", "protocol error: "
		    "host %s replied when nothing was asked", s->hostip);
		mta_fail(s, &why);
		break;
	}
}

const char *
mta_tx_cmd(const struct mta_session *s)
{
	const struct mta_txn *t = s->txn;

	if (t == NULL)
		return NULL;
	if (t->phase == MTA_P_BODY || t->phase == MTA_P_EMPTY_DOT)
		return "end of DATA";
	if (t->phase != MTA_P_CMDS || t->nreplied >= t->ncmd)
		return NULL;
	switch (t->cmds[t->nreplied].kind) {
	case MTA_C_RSET:	return "RSET";
	case MTA_C_MAIL:	return "MAIL FROM";
	case MTA_C_RCPT:	return "RCPT TO";
	default:		return "DATA";
	}
}

const char *
mta_tx_stage(const struct mta_session *s)
{
	const struct mta_txn *t = s->txn;

	if (t != NULL && t->phase == MTA_P_BODY)
		return t->flushed ? "sending end of data -- message may be "
		    "sent more than once" : "sending message body";
	if (t != NULL && t->phase == MTA_P_CMDS && t->nreplied < t->ncmd) {
		switch (t->cmds[t->nreplied].kind) {
		case MTA_C_RSET:	return "sending RSET";
		case MTA_C_MAIL:	return "sending MAIL FROM";
		case MTA_C_RCPT:	return "sending RCPT TO";
		default:		return "sending DATA command";
		}
	}
	return "sending end of data";
}
