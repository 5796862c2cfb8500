/*
 * queue_delivery: the queue as the scheduler and the SMTP client see it.
 * On the reader connection (caller's thread): the start-up load of every
 * pending recipient and one message loaded for delivery.  On the writer
 * connection (inside a job): the outcome of an attempt for one recipient.
 *
 * Invariants:
 * - A message lives as long as one of its recipients is pending.  The
 *   outcome that makes the last one QUEUE_DONE deletes the message (body
 *   and recipients: the foreign key cascades) in the same statement group,
 *   so no committed state has a message with nothing left to do.
 * - An outcome never revives a recipient: a done one stays done, and a
 *   held one stays held (an administrator's hold wins over a delivery that
 *   was under way), but its attempt is recorded.
 * - first_attempt is set once, by the first outcome; the scheduler's
 *   lifetime counts from it, so quota deferral never counts (DESIGN.md).
 * - An outcome forgets the recipient's reservations: an attempt spent
 *   them, there is nothing to give back.  Its quota and key stay, for the
 *   record.
 * - Ownership: a pending row's strings belong to SQLite and live during
 *   the callback; a struct queue_delivery owns its body and strings.
 */
#include <stdlib.h>
#include <string.h>

#include "../lib/strutil.h"
#include "../lib/xalloc.h"
#include "queue_priv.h"

/* A delivery and the strings it owns. */
struct delivery_priv {
	struct queue_delivery	  d;		/* first: freed through it */
	struct queue_strs	  strs;
};

static const char sql_begin_read[] = "BEGIN";
static const char sql_end_read[] = "COMMIT";

/*
 * The pending recipients in due order.  recipients_pending_due is exactly
 * this WHERE clause, so SQLite walks it in due order and sorts only the
 * ties; CROSS JOIN keeps recipients the outer loop.
 */
static const char sql_pending[] =
	"SELECT r.msg_id, r.rcpt, r.addr, r.state, r.due, r.attempts,"
	" r.first_attempt, m.arrival, m.sender, m.flags, m.size,"
	" r.quota, r.qkey, r.expire, r.rflags"
	" FROM recipients r CROSS JOIN messages m ON m.id = r.msg_id"
	" WHERE r.state <> 4"
	" ORDER BY r.due, m.arrival, r.msg_id, r.rcpt";

int
queue_load_pending(struct queue *q, queue_pending_cb *cb, void *arg,
    const char **errstr)
{
	struct queue_pending p;
	const unsigned char *s;
	sqlite3_stmt *st;
	int rc;

	if ((st = queue_db_stmt(&q->r, sql_pending, errstr)) == NULL)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		p.id = (const char *)sqlite3_column_text(st, 0);
		p.rcpt = sqlite3_column_int(st, 1);
		s = sqlite3_column_text(st, 2);
		p.addr = s ? (const char *)s : "";
		p.state = queue_state_col(st, 3);
		p.due = sqlite3_column_int64(st, 4);
		p.attempts = (unsigned)sqlite3_column_int(st, 5);
		p.first_attempt = sqlite3_column_int64(st, 6);	/* NULL: 0 */
		p.arrival = sqlite3_column_int64(st, 7);
		s = sqlite3_column_text(st, 8);
		p.sender = s ? (const char *)s : "";
		p.flags = (unsigned)sqlite3_column_int64(st, 9);
		p.size = (uint64_t)sqlite3_column_int64(st, 10);
		p.quota = (const char *)sqlite3_column_text(st, 11);
		p.qkey = (const char *)sqlite3_column_text(st, 12);
		p.expire = sqlite3_column_int64(st, 13);	/* NULL: 0 */
		p.rflags = (unsigned)sqlite3_column_int64(st, 14);
		if (p.id != NULL)
			cb(&p, arg);
	}
	if (rc != SQLITE_DONE) {
		*errstr = queue_db_err(&q->r, "queue: load pending");
		queue_db_reset(st);
		return -1;
	}
	queue_db_reset(st);
	return 0;
}

/* The envelope and body: 1, 0 when there is no such message, or -1. */
static int
delivery_message(struct queue *q, struct delivery_priv *p, const char *id,
    const char **errstr)
{
	struct queue_delivery *d = &p->d;
	sqlite3_stmt *st;
	const void *blob;
	size_t n;
	int rc;

	if ((st = queue_db_stmt(&q->r, "SELECT arrival, sender, flags, body"
	    " FROM messages WHERE id = ?1", errstr)) == NULL)
		return -1;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		if (rc != SQLITE_DONE)
			*errstr = queue_db_err(&q->r, "queue: load message");
		queue_db_reset(st);
		return rc == SQLITE_DONE ? 0 : -1;
	}
	str_copy(d->id, id, sizeof(d->id));
	d->arrival = sqlite3_column_int64(st, 0);
	d->sender = queue_strs_col(&p->strs, st, 1);
	if (d->sender == NULL)
		d->sender = "";
	d->flags = (unsigned)sqlite3_column_int64(st, 2);
	blob = sqlite3_column_blob(st, 3);
	n = (size_t)sqlite3_column_bytes(st, 3);
	d->body = xmalloc(n + 1);
	if (n > 0)
		memcpy(d->body, blob, n);
	d->body[n] = '\0';
	d->body_len = n;
	queue_db_reset(st);
	return 1;
}

static int
delivery_rcpts(struct queue *q, struct delivery_priv *p, const char *id,
    const char **errstr)
{
	struct queue_delivery *d = &p->d;
	struct queue_delivery_rcpt *r;
	sqlite3_stmt *st;
	int rc;

	if ((st = queue_db_stmt(&q->r, "SELECT rcpt, addr, state, due,"
	    " attempts, first_attempt, last_attempt, last_reply, dsn_status,"
	    " quota, qkey, expire, rflags"
	    " FROM recipients WHERE msg_id = ?1 ORDER BY rcpt",
	    errstr)) == NULL)
		return -1;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		d->rcpts = xreallocarray(d->rcpts, d->nrcpt + 1, sizeof(*r));
		r = &d->rcpts[d->nrcpt++];
		r->rcpt = sqlite3_column_int(st, 0);
		r->addr = queue_strs_col(&p->strs, st, 1);
		if (r->addr == NULL)
			r->addr = "";
		r->state = queue_state_col(st, 2);
		r->due = sqlite3_column_int64(st, 3);
		r->attempts = (unsigned)sqlite3_column_int(st, 4);
		r->first_attempt = sqlite3_column_int64(st, 5);
		r->last_attempt = sqlite3_column_int64(st, 6);
		r->last_reply = queue_strs_col(&p->strs, st, 7);
		r->dsn_status = queue_strs_col(&p->strs, st, 8);
		r->quota = queue_strs_col(&p->strs, st, 9);
		r->qkey = queue_strs_col(&p->strs, st, 10);
		r->expire = sqlite3_column_int64(st, 11);
		r->rflags = (unsigned)sqlite3_column_int64(st, 12);
	}
	if (rc != SQLITE_DONE) {
		*errstr = queue_db_err(&q->r, "queue: load recipients");
		queue_db_reset(st);
		return -1;
	}
	queue_db_reset(st);
	return 0;
}

/* Two statements in one read transaction: one snapshot, so the envelope
 * and the recipients agree even while the writer commits. */
int
queue_load_delivery(struct queue *q, const char *id,
    struct queue_delivery **out, const char **errstr)
{
	struct delivery_priv *p;
	struct queue_delivery *d;
	const char *err2;
	int rc;

	*out = NULL;
	if (id == NULL) {
		*errstr = "queue: no queue id";
		return -1;
	}
	if (queue_db_exec(&q->r, sql_begin_read, errstr) == -1)
		return -1;
	p = xcalloc(1, sizeof(*p));
	rc = delivery_message(q, p, id, errstr);
	if (rc == 1 && delivery_rcpts(q, p, id, errstr) == -1)
		rc = -1;
	/* Nothing was written: ending the read cannot lose anything. */
	if (queue_db_exec(&q->r, sql_end_read, &err2) == -1 && rc != -1) {
		*errstr = err2;
		rc = -1;
	}
	d = &p->d;
	if (rc != 1) {
		queue_delivery_free(&d);
		return rc;
	}
	*out = d;
	return 1;
}

void
queue_delivery_free(struct queue_delivery **dp)
{
	struct delivery_priv *p;

	if (*dp == NULL)
		return;
	p = (struct delivery_priv *)(void *)*dp;
	queue_strs_free(&p->strs);
	free(p->d.rcpts);
	free(p->d.body);
	free(p);
	*dp = NULL;
}

/* After an outcome changed nothing: 0 when the recipient exists (it was
 * done already), -1 when it does not. */
static int
outcome_missing(struct queue_db *d, const char *id, int rcpt,
    const char **errstr)
{
	sqlite3_stmt *st;
	int rc;

	if ((st = queue_db_stmt(d, "SELECT 1 FROM recipients"
	    " WHERE msg_id = ?1 AND rcpt = ?2", errstr)) == NULL)
		return -1;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, rcpt);
	rc = sqlite3_step(st);
	queue_db_reset(st);
	if (rc == SQLITE_ROW)
		return 0;
	if (rc == SQLITE_DONE)
		*errstr = queue_errf("queue: %s: no recipient %d", id, rcpt);
	else
		*errstr = queue_db_err(d, "queue: find recipient");
	return -1;
}

/* Runs a bound outcome UPDATE; then as outcome_missing when it changed
 * nothing.  0 or -1. */
static int
outcome_update(struct queue_db *d, sqlite3_stmt *st, const char *id,
    int rcpt, const char **errstr)
{
	int n;

	if ((n = queue_db_step(d, st, "queue: record outcome", errstr)) == -1)
		return -1;
	if (n == 0)
		return outcome_missing(d, id, rcpt, errstr);
	return 0;
}

static int
outcome_check(const char *id, int rcpt, const char **errstr)
{
	if (id == NULL || rcpt < 0) {
		*errstr = "queue: outcome without queue id or recipient";
		return -1;
	}
	return 0;
}

int
queue_txn_rcpt_done(struct queue_txn *txn, const char *id, int rcpt,
    const char *reply, const char *dsn_status, int64_t now,
    const char **errstr)
{
	struct queue_db *d = queue_txn_conn(txn);
	sqlite3_stmt *st;
	int n;

	if (outcome_check(id, rcpt, errstr) == -1)
		return -1;
	if ((st = queue_db_stmt(d, "UPDATE recipients SET state = 4,"
	    " resv = NULL,"
	    " last_reply = ?3, dsn_status = ?4, last_attempt = ?5,"
	    " first_attempt = coalesce(first_attempt, ?5)"
	    " WHERE msg_id = ?1 AND rcpt = ?2 AND state <> 4",
	    errstr)) == NULL)
		return -1;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, rcpt);
	queue_bind_opt_text(st, 3, reply);
	queue_bind_opt_text(st, 4, dsn_status);
	sqlite3_bind_int64(st, 5, now);
	if (outcome_update(d, st, id, rcpt, errstr) == -1)
		return -1;

	/* The last pending one: the message goes (the cascade takes its
	 * recipients), in the same transaction as the outcome. */
	if ((st = queue_db_stmt(d, "DELETE FROM messages WHERE id = ?1"
	    " AND NOT EXISTS (SELECT 1 FROM recipients"
	    " WHERE msg_id = ?1 AND state <> 4)", errstr)) == NULL)
		return -1;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	if ((n = queue_db_step(d, st, "queue: remove delivered message",
	    errstr)) == -1)
		return -1;
	return n > 0 ? 1 : 0;
}

int
queue_txn_rcpt_retry(struct queue_txn *txn, const char *id, int rcpt,
    int64_t due, const char *reply, const char *dsn_status, int64_t now,
    const char **errstr)
{
	struct queue_db *d = queue_txn_conn(txn);
	sqlite3_stmt *st;

	if (outcome_check(id, rcpt, errstr) == -1)
		return -1;
	if ((st = queue_db_stmt(d, "UPDATE recipients"
	    " SET state = CASE state WHEN 3 THEN 3 ELSE 2 END,"
	    " resv = NULL, attempts = attempts + 1, due = ?3, last_reply = ?4,"
	    " dsn_status = ?5, last_attempt = ?6,"
	    " first_attempt = coalesce(first_attempt, ?6)"
	    " WHERE msg_id = ?1 AND rcpt = ?2 AND state <> 4",
	    errstr)) == NULL)
		return -1;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, rcpt);
	sqlite3_bind_int64(st, 3, due);
	queue_bind_opt_text(st, 4, reply);
	queue_bind_opt_text(st, 5, dsn_status);
	sqlite3_bind_int64(st, 6, now);
	return outcome_update(d, st, id, rcpt, errstr);
}
