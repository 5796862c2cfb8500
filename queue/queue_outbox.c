/*
 * queue_outbox: events waiting for a notifier (DESIGN.md step 8).  relay/
 * adds a row for each notifier an event goes to in the job that stores
 * the message which caused it, so an alert is committed with the count
 * that raised it or not at all; a webhook worker and a mail generator
 * read the rows back in id order and delete each one once delivered.
 *
 * Invariants:
 * - Ids only grow and are never given twice (AUTOINCREMENT, kept in
 *   sqlite_sequence): a drain that remembers the last id it handed over
 *   never mistakes a new row for one it has seen, even after the newest
 *   row was deleted.
 * - The payload is opaque here (relay/ writes JSON) and holds bytes from
 *   the network (a key is a sender address or a HELO name): it is bound
 *   as a blob with its length, never formatted into SQL or a message,
 *   and bounded by QUEUE_OUTBOX_MAX before SQLite sees it.  Notifier
 *   names come from the configuration and compare as bytes.
 * - The table is created by schema version 4 (queue_store.c).
 * - A call that fails inside a job leaves nothing once the job fails: its
 *   savepoint (queue_writer.c) undoes it, as for queue_txn_store.
 * - Ownership: the strings a load hands to its callback belong to SQLite
 *   and live only during the call.
 */
#include <stdint.h>
#include <string.h>

#include "queue_priv.h"

static const char sql_outbox_add[] =
	"INSERT INTO outbox (notifier, created, payload) VALUES (?1, ?2, ?3)";
static const char sql_outbox_delete[] =
	"DELETE FROM outbox WHERE id = ?1";
static const char sql_outbox_delete_notifier[] =
	"DELETE FROM outbox WHERE notifier = ?1";
/* LIMIT -1 is no limit. */
static const char sql_outbox_load[] =
	"SELECT id, notifier, created, payload FROM outbox WHERE id > ?1"
	" ORDER BY id LIMIT ?2";
static const char sql_outbox_counts[] =
	"SELECT notifier, count(*) FROM outbox GROUP BY notifier"
	" ORDER BY notifier";

static bool
outbox_has_notifier(const char *notifier)
{
	return notifier != NULL && notifier[0] != '\0';
}

static int
outbox_check(const struct queue_outbox_in *ev, const char **errstr)
{
	if (ev == NULL || !outbox_has_notifier(ev->notifier)) {
		*errstr = "queue: outbox event without notifier";
		return -1;
	}
	if (ev->len > QUEUE_OUTBOX_MAX) {
		*errstr = "queue: outbox payload too large";
		return -1;
	}
	if (ev->payload == NULL && ev->len > 0) {
		*errstr = "queue: outbox event without payload";
		return -1;
	}
	return 0;
}

int
queue_txn_outbox_add(struct queue_txn *txn, const struct queue_outbox_in *ev,
    int64_t *id, const char **errstr)
{
	struct queue_db *d = queue_txn_conn(txn);
	sqlite3_stmt *st;
	int rc;

	if (outbox_check(ev, errstr) == -1)
		return -1;
	if ((st = queue_db_stmt(d, sql_outbox_add, errstr)) == NULL)
		return -1;
	sqlite3_bind_text(st, 1, ev->notifier, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, ev->created);
	if (ev->len == 0)
		rc = sqlite3_bind_zeroblob(st, 3, 0);	/* not NULL */
	else
		rc = sqlite3_bind_blob64(st, 3, ev->payload, ev->len,
		    SQLITE_STATIC);
	if (rc != SQLITE_OK) {
		*errstr = queue_db_err(d, "queue: store outbox event");
		queue_db_reset(st);
		return -1;
	}
	if (queue_db_step(d, st, "queue: store outbox event", errstr) == -1)
		return -1;
	/* The writer's connection, on its own thread: nothing else inserted
	 * on it since the step. */
	if (id != NULL)
		*id = sqlite3_last_insert_rowid(d->db);
	return 0;
}

int
queue_txn_outbox_delete(struct queue_txn *txn, int64_t id,
    const char **errstr)
{
	struct queue_db *d = queue_txn_conn(txn);
	sqlite3_stmt *st;
	int n;

	if ((st = queue_db_stmt(d, sql_outbox_delete, errstr)) == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	if ((n = queue_db_step(d, st, "queue: delete outbox event",
	    errstr)) == -1)
		return -1;
	return n > 0 ? 1 : 0;
}

int
queue_txn_outbox_delete_notifier(struct queue_txn *txn, const char *notifier,
    const char **errstr)
{
	struct queue_db *d = queue_txn_conn(txn);
	sqlite3_stmt *st;

	if (!outbox_has_notifier(notifier)) {
		*errstr = "queue: outbox event without notifier";
		return -1;
	}
	if ((st = queue_db_stmt(d, sql_outbox_delete_notifier,
	    errstr)) == NULL)
		return -1;
	sqlite3_bind_text(st, 1, notifier, -1, SQLITE_STATIC);
	return queue_db_step(d, st, "queue: delete outbox events", errstr);
}

/* ---- loads, on the reader connection ---- */

struct outbox_load {
	queue_outbox_cb		*row;
	queue_outbox_count_cb	*count;
	void			*arg;
	int			 n;		/* rows given */
};

static void
outbox_row(sqlite3_stmt *st, void *arg)
{
	struct outbox_load *l = arg;
	struct queue_outbox_row r;
	const unsigned char *p;

	r.id = sqlite3_column_int64(st, 0);
	r.notifier = (const char *)sqlite3_column_text(st, 1);
	r.created = sqlite3_column_int64(st, 2);
	/* As text, so that SQLite puts a NUL after the bytes; a blob is not
	 * converted (the database is UTF-8).  Bytes after text, as SQLite
	 * asks. */
	p = sqlite3_column_text(st, 3);
	r.len = (size_t)sqlite3_column_bytes(st, 3);
	r.payload = p != NULL ? (const char *)p : "";
	if (p == NULL)
		r.len = 0;	/* an empty blob reads as NULL */
	if (r.notifier == NULL)
		return;
	l->n++;
	l->row(&r, l->arg);
}

int
queue_load_outbox(struct queue *q, int64_t after, size_t limit,
    queue_outbox_cb *cb, void *arg, const char **errstr)
{
	struct outbox_load l = { .row = cb, .arg = arg };
	sqlite3_stmt *st;

	if ((st = queue_db_stmt(&q->r, sql_outbox_load, errstr)) == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, after);
	sqlite3_bind_int64(st, 2, limit == 0 || limit > INT64_MAX ? -1 :
	    (sqlite3_int64)limit);
	if (queue_db_rows(&q->r, st, "queue: load outbox", outbox_row, &l,
	    errstr) == -1)
		return -1;
	return l.n;
}

static void
outbox_count_row(sqlite3_stmt *st, void *arg)
{
	struct outbox_load *l = arg;
	const char *notifier = (const char *)sqlite3_column_text(st, 0);

	if (notifier != NULL)
		l->count(notifier, (uint64_t)sqlite3_column_int64(st, 1),
		    l->arg);
}

int
queue_outbox_counts(struct queue *q, queue_outbox_count_cb *cb, void *arg,
    const char **errstr)
{
	struct outbox_load l = { .count = cb, .arg = arg };
	sqlite3_stmt *st;

	if ((st = queue_db_stmt(&q->r, sql_outbox_counts, errstr)) == NULL)
		return -1;
	return queue_db_rows(&q->r, st, "queue: count outbox events",
	    outbox_count_row, &l, errstr) == -1 ? -1 : 0;
}
