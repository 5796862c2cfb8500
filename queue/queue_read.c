/*
 * queue_read: what the caller's thread reads from the queue (listings,
 * one message's detail, its body, the totals), on the reader connection.
 *
 * Invariants:
 * - Each answer comes from a single SQL statement, so it is one consistent
 *   WAL snapshot even while the writer commits: a message is never seen
 *   without its recipients.
 * - Statements are reset before returning, so the reader never holds a
 *   snapshot between calls (that would pin the WAL and stop checkpoints).
 * - Ownership: a listing's strings belong to SQLite and live only during
 *   the callback; a detail owns copies of its strings (freed with
 *   queue_detail_free); a body is a malloc'd copy for the caller.
 */
#include <stdlib.h>
#include <string.h>

#include "../lib/strutil.h"
#include "../lib/xalloc.h"
#include "queue_priv.h"

/* A detail and the strings it owns. */
struct detail_priv {
	struct queue_detail	  d;		/* first: freed through it */
	struct queue_strs	  strs;
};

static const char sql_list[] =
	"SELECT m.id, m.arrival, m.sender, m.size, count(r.rcpt),"
	" sum(r.state = 0), sum(r.state = 1), sum(r.state = 2),"
	" sum(r.state = 3), sum(r.state = 4),"
	" min(CASE WHEN r.state <> 4 THEN r.due END)"
	" FROM messages m LEFT JOIN recipients r ON r.msg_id = m.id"
	/* +x.state: look the message's recipients up by its key; through
	 * the (state, due) index SQLite walked every recipient in that
	 * state for each message (minutes for 50,000 deferred messages) */
	" WHERE (?1 < 0 OR EXISTS (SELECT 1 FROM recipients x"
	"  WHERE x.msg_id = m.id AND +x.state = ?1))"
	" AND (?2 IS NULL OR m.sender = ?2 COLLATE NOCASE)"
	" GROUP BY m.arrival, m.id ORDER BY m.arrival, m.id";

static void
read_info_row(sqlite3_stmt *st, struct queue_info *info)
{
	const unsigned char *id = sqlite3_column_text(st, 0);
	const unsigned char *sender = sqlite3_column_text(st, 2);
	int i;

	memset(info, 0, sizeof(*info));
	str_copy(info->id, id ? (const char *)id : "", sizeof(info->id));
	info->arrival = sqlite3_column_int64(st, 1);
	info->sender = sender ? (const char *)sender : "";
	info->size = (uint64_t)sqlite3_column_int64(st, 3);
	info->nrcpt = (unsigned)sqlite3_column_int(st, 4);
	for (i = 0; i <= QUEUE_DONE; i++)
		info->nstate[i] = (unsigned)sqlite3_column_int(st, 5 + i);
	info->npending = info->nrcpt - info->nstate[QUEUE_DONE];
	info->next_due = sqlite3_column_int64(st, 10);	/* NULL: 0 */
}

/* The callback must not call queue_list itself (it shares the statement);
 * the other reader calls are fine. */
int
queue_list(struct queue *q, int state, const char *sender,
    queue_list_cb *cb, void *arg, const char **errstr)
{
	struct queue_info info;
	sqlite3_stmt *st;
	int rc;

	if ((st = queue_db_stmt(&q->r, sql_list, errstr)) == NULL)
		return -1;
	sqlite3_bind_int(st, 1, state < 0 ? -1 : state);
	if (sender != NULL)
		sqlite3_bind_text(st, 2, sender, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		read_info_row(st, &info);
		cb(&info, arg);
	}
	if (rc != SQLITE_DONE) {
		*errstr = queue_db_err(&q->r, "queue: list");
		queue_db_reset(st);
		return -1;
	}
	queue_db_reset(st);
	return 0;
}

/* The message's own columns, from the first row of sql_show. */
static void
detail_message(struct detail_priv *p, sqlite3_stmt *st, const char *id)
{
	struct queue_detail *d = &p->d;

	str_copy(d->info.id, id, sizeof(d->info.id));
	d->info.arrival = sqlite3_column_int64(st, 0);
	d->info.sender = queue_strs_col(&p->strs, st, 1);
	d->flags = (unsigned)sqlite3_column_int64(st, 2);
	d->client_addr = queue_strs_col(&p->strs, st, 3);
	d->client_name = queue_strs_col(&p->strs, st, 4);
	d->client_helo = queue_strs_col(&p->strs, st, 5);
	d->client_proto = queue_strs_col(&p->strs, st, 6);
	d->peer_addr = queue_strs_col(&p->strs, st, 7);
	d->peer_helo = queue_strs_col(&p->strs, st, 8);
	d->sasl_user = queue_strs_col(&p->strs, st, 9);
	d->info.size = (uint64_t)sqlite3_column_int64(st, 10);
	if (d->info.sender == NULL)
		d->info.sender = "";
}

/* How many reservations the resv column at col holds. */
static void
detail_resv(struct queue_rcpt_info *r, sqlite3_stmt *st, int col)
{
	struct queue_counter *v = NULL;
	const void *blob;
	const char *err;

	r->nresv = 0;
	r->resv_bad = false;
	if (sqlite3_column_type(st, col) == SQLITE_NULL)
		return;
	blob = sqlite3_column_blob(st, col);
	if (queue_resv_decode(blob, (size_t)sqlite3_column_bytes(st, col), &v,
	    &r->nresv, &err) == -1)
		r->resv_bad = true;
	free(v);
}

/* One recipient row; the columns are NULL for a message without any. */
static void
detail_rcpt(struct detail_priv *p, sqlite3_stmt *st)
{
	struct queue_detail *d = &p->d;
	struct queue_rcpt_info *r;

	if (sqlite3_column_type(st, 11) == SQLITE_NULL)
		return;
	d->rcpts = xreallocarray(d->rcpts, d->nrcpt + 1, sizeof(*r));
	r = &d->rcpts[d->nrcpt++];
	r->addr = queue_strs_col(&p->strs, st, 11);
	r->state = queue_state_col(st, 12);
	r->due = sqlite3_column_int64(st, 13);
	r->attempts = (unsigned)sqlite3_column_int(st, 14);
	r->last_reply = queue_strs_col(&p->strs, st, 15);
	r->first_attempt = sqlite3_column_int64(st, 16);	/* NULL: 0 */
	r->last_attempt = sqlite3_column_int64(st, 17);
	r->dsn_status = queue_strs_col(&p->strs, st, 18);
	r->quota = queue_strs_col(&p->strs, st, 19);
	r->qkey = queue_strs_col(&p->strs, st, 20);
	r->expire = sqlite3_column_int64(st, 21);	/* NULL: 0 */
	r->rflags = (unsigned)sqlite3_column_int64(st, 22);
	detail_resv(r, st, 23);
	d->info.nrcpt++;
	d->info.nstate[r->state]++;
	if (r->state != QUEUE_DONE) {
		if (d->info.npending == 0 || r->due < d->info.next_due)
			d->info.next_due = r->due;
		d->info.npending++;
	}
}

int
queue_show(struct queue *q, const char *id, struct queue_detail **dp,
    const char **errstr)
{
	struct detail_priv *p = NULL;
	sqlite3_stmt *st;
	int rc;

	*dp = NULL;
	if ((st = queue_db_stmt(&q->r, "SELECT m.arrival, m.sender, m.flags,"
	    " m.client_addr, m.client_name, m.client_helo, m.client_proto,"
	    " m.peer_addr, m.peer_helo, m.sasl_user, m.size,"
	    " r.addr, r.state, r.due, r.attempts, r.last_reply,"
	    " r.first_attempt, r.last_attempt, r.dsn_status,"
	    " r.quota, r.qkey, r.expire, r.rflags, r.resv"
	    " FROM messages m LEFT JOIN recipients r ON r.msg_id = m.id"
	    " WHERE m.id = ?1 ORDER BY r.rcpt", errstr)) == NULL)
		return -1;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (p == NULL) {
			p = xcalloc(1, sizeof(*p));
			detail_message(p, st, id);
		}
		detail_rcpt(p, st);
	}
	if (rc != SQLITE_DONE) {
		*errstr = queue_db_err(&q->r, "queue: show");
		queue_db_reset(st);
		if (p != NULL) {
			struct queue_detail *d = &p->d;
			queue_detail_free(&d);
		}
		return -1;
	}
	queue_db_reset(st);
	if (p == NULL)
		return 0;
	*dp = &p->d;
	return 1;
}

void
queue_detail_free(struct queue_detail **dp)
{
	struct detail_priv *p;

	if (*dp == NULL)
		return;
	p = (struct detail_priv *)(void *)*dp;
	queue_strs_free(&p->strs);
	free(p->d.rcpts);
	free(p);
	*dp = NULL;
}

int
queue_body(struct queue *q, const char *id, char **body, size_t *len,
    const char **errstr)
{
	sqlite3_stmt *st;
	const void *blob;
	size_t n;
	int rc;

	*body = NULL;
	*len = 0;
	if ((st = queue_db_stmt(&q->r, "SELECT body FROM messages"
	    " WHERE id = ?1", errstr)) == NULL)
		return -1;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		queue_db_reset(st);
		return 0;
	}
	if (rc != SQLITE_ROW) {
		*errstr = queue_db_err(&q->r, "queue: body");
		queue_db_reset(st);
		return -1;
	}
	blob = sqlite3_column_blob(st, 0);
	n = (size_t)sqlite3_column_bytes(st, 0);
	*body = xmalloc(n + 1);		/* NUL-terminated for convenience */
	if (n > 0)
		memcpy(*body, blob, n);
	(*body)[n] = '\0';
	*len = n;
	queue_db_reset(st);
	return 1;
}

/* The pending recipients in due order, as sql_pending (queue_delivery.c)
 * walks them, filtered. */
static const char sql_list_rcpts[] =
	"SELECT r.msg_id, m.arrival, m.sender, r.rcpt, r.addr, r.state,"
	" r.due, r.quota, r.qkey, r.expire, r.rflags, r.attempts"
	" FROM recipients r CROSS JOIN messages m ON m.id = r.msg_id"
	" WHERE r.state <> 4 AND (?1 < 0 OR r.state = ?1)"
	" AND (?2 IS NULL OR m.sender = ?2 COLLATE NOCASE)"
	" ORDER BY r.due, m.arrival, r.msg_id, r.rcpt";

/* The same for one state, due before ?3: the (state, due) index finds
 * them without walking the rest. */
static const char sql_list_rcpts_due[] =
	"SELECT r.msg_id, m.arrival, m.sender, r.rcpt, r.addr, r.state,"
	" r.due, r.quota, r.qkey, r.expire, r.rflags, r.attempts"
	" FROM recipients r CROSS JOIN messages m ON m.id = r.msg_id"
	" WHERE r.state = ?1 AND r.due < ?2"
	" ORDER BY r.due, m.arrival, r.msg_id, r.rcpt";

/* queue_list_rcpts' callback and its argument. */
struct rcpt_list_cb {
	queue_rcpt_list_cb	*cb;
	void			*arg;
};

static void
read_rcpt_row(sqlite3_stmt *st, void *arg)
{
	const struct rcpt_list_cb *lcb = arg;
	struct queue_rcpt_row r;
	const unsigned char *s;

	r.id = (const char *)sqlite3_column_text(st, 0);
	r.arrival = sqlite3_column_int64(st, 1);
	s = sqlite3_column_text(st, 2);
	r.sender = s ? (const char *)s : "";
	r.rcpt = sqlite3_column_int(st, 3);
	s = sqlite3_column_text(st, 4);
	r.addr = s ? (const char *)s : "";
	r.state = queue_state_col(st, 5);
	r.due = sqlite3_column_int64(st, 6);
	r.quota = (const char *)sqlite3_column_text(st, 7);
	r.qkey = (const char *)sqlite3_column_text(st, 8);
	r.expire = sqlite3_column_int64(st, 9);	/* NULL: 0 */
	r.rflags = (unsigned)sqlite3_column_int64(st, 10);
	r.attempts = (unsigned)sqlite3_column_int(st, 11);
	if (r.id != NULL)
		lcb->cb(&r, lcb->arg);
}

int
queue_list_rcpts(struct queue *q, int state, const char *sender,
    queue_rcpt_list_cb *cb, void *arg, const char **errstr)
{
	struct rcpt_list_cb lcb = { cb, arg };
	sqlite3_stmt *st;

	if ((st = queue_db_stmt(&q->r, sql_list_rcpts, errstr)) == NULL)
		return -1;
	sqlite3_bind_int(st, 1, state < 0 ? -1 : state);
	if (sender != NULL)
		sqlite3_bind_text(st, 2, sender, -1, SQLITE_STATIC);
	return queue_db_rows(&q->r, st, "queue: list recipients",
	    read_rcpt_row, &lcb, errstr) == -1 ? -1 : 0;
}

int
queue_list_rcpts_due(struct queue *q, enum queue_state state, int64_t before,
    queue_rcpt_list_cb *cb, void *arg, const char **errstr)
{
	struct rcpt_list_cb lcb = { cb, arg };
	sqlite3_stmt *st;

	if ((st = queue_db_stmt(&q->r, sql_list_rcpts_due, errstr)) == NULL)
		return -1;
	sqlite3_bind_int(st, 1, (int)state);
	sqlite3_bind_int64(st, 2, before);
	return queue_db_rows(&q->r, st, "queue: list recipients due",
	    read_rcpt_row, &lcb, errstr) == -1 ? -1 : 0;
}

int
queue_db_stats(struct queue_db *d, struct queue_stats *stats,
    const char **errstr)
{
	sqlite3_stmt *st;
	int i;

	memset(stats, 0, sizeof(*stats));
	if ((st = queue_db_stmt(d, "SELECT (SELECT count(*) FROM messages),"
	    " (SELECT coalesce(sum(size), 0) FROM messages),"
	    " (SELECT count(*) FROM recipients WHERE state = 0),"
	    " (SELECT count(*) FROM recipients WHERE state = 1),"
	    " (SELECT count(*) FROM recipients WHERE state = 2),"
	    " (SELECT count(*) FROM recipients WHERE state = 3),"
	    " (SELECT count(*) FROM recipients WHERE state = 4)",
	    errstr)) == NULL)
		return -1;
	if (sqlite3_step(st) != SQLITE_ROW) {
		*errstr = queue_db_err(d, "queue: stats");
		queue_db_reset(st);
		return -1;
	}
	stats->messages = (uint64_t)sqlite3_column_int64(st, 0);
	stats->bytes = (uint64_t)sqlite3_column_int64(st, 1);
	for (i = 0; i <= QUEUE_DONE; i++)
		stats->rcpts[i] = (uint64_t)sqlite3_column_int64(st, 2 + i);
	queue_db_reset(st);
	return 0;
}

int
queue_stats(struct queue *q, struct queue_stats *stats, const char **errstr)
{
	return queue_db_stats(&q->r, stats, errstr);
}
