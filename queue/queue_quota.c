/*
 * queue_quota: the durable copy of the quota counters and the
 * administrators' overrides (sluicectl quota set|exempt|clear).
 *
 * queue/ knows nothing of quotas.  relay/ converts policy/'s counter rows
 * into struct queue_counter and sets them in the job that stores the
 * message they counted, so a count of accepted mail is committed with the
 * mail or not at all; at start-up it loads them back into policy/.
 *
 * Invariants:
 * - A (quota, key) is replaced as a whole: after a set its stored windows
 *   are exactly the nonzero rows that set gave for it (a row with nothing
 *   used but an alert announced is nonzero: the window must not announce
 *   it again after a restart).  Nothing is added up here: policy/ owns the
 *   arithmetic and the notified levels, the store keeps their result.
 * - Quota names and keys come from the network: they are bound as
 *   parameters, never formatted into SQL or into an error message, and
 *   compared as bytes (BINARY).
 * - A set, once per accepted message, is steps of cached statements: one
 *   DELETE per (quota, key) and one INSERT per nonzero window.
 * - A call that fails may leave part of its rows written; the job fails
 *   with it and its savepoint (queue_writer.c) undoes them, as for
 *   queue_txn_store.
 * - The tables are created at open (queue_db.c, queue_db_tables).
 * - Ownership: the strings a load hands to its callback belong to SQLite
 *   and live only during the call.
 */
#include <limits.h>
#include <stdbool.h>
#include <string.h>

#include "queue_priv.h"

static const char sql_counter_clear[] =
	"DELETE FROM quota_counter WHERE quota = ?1 AND key = ?2";
static const char sql_counter_clear_all[] =
	"DELETE FROM quota_counter WHERE key = ?1";
static const char sql_counter_insert[] =
	"INSERT INTO quota_counter (quota, key, start, messages, recipients,"
	" bytes, notified) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
static const char sql_counter_load[] =
	"SELECT quota, key, start, messages, recipients, bytes, notified"
	" FROM quota_counter ORDER BY quota, key, start";
static const char sql_override_set[] =
	"INSERT OR REPLACE INTO quota_override (key, kind, lim, set_at)"
	" VALUES (?1, ?2, ?3, ?4)";
static const char sql_override_clear[] =
	"DELETE FROM quota_override WHERE key = ?1";
static const char sql_override_load[] =
	"SELECT key, kind, lim, set_at FROM quota_override ORDER BY key";

/* used[] is the columns messages, recipients, bytes, in that order. */
#define QUOTA_NUSED	3
_Static_assert(sizeof(((struct queue_counter *)0)->used) ==
    QUOTA_NUSED * sizeof(double), "one column per used[]");

static int
counters_check(const struct queue_counter *rows, size_t n,
    const char **errstr)
{
	size_t i;

	if (n > 0 && rows == NULL) {
		*errstr = "queue: quota counters without rows";
		return -1;
	}
	for (i = 0; i < n; i++)
		if (rows[i].quota == NULL || rows[i].key == NULL) {
			*errstr = "queue: quota counter without quota or key";
			return -1;
		}
	return 0;
}

static bool
counter_same_key(const struct queue_counter *a, const struct queue_counter *b)
{
	return strcmp(a->quota, b->quota) == 0 && strcmp(a->key, b->key) == 0;
}

static bool
counter_is_zero(const struct queue_counter *c)
{
	return c->used[0] == 0 && c->used[1] == 0 && c->used[2] == 0 &&
	    c->notified == 0;
}

/* Forgets the windows of (quota, key), or of key in every quota when
 * quota is NULL: how many, or -1. */
static int
counters_forget(struct queue_db *d, const char *quota, const char *key,
    const char **errstr)
{
	sqlite3_stmt *st;
	int col = 1;

	if ((st = queue_db_stmt(d, quota != NULL ? sql_counter_clear :
	    sql_counter_clear_all, errstr)) == NULL)
		return -1;
	if (quota != NULL)
		sqlite3_bind_text(st, col++, quota, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, col, key, -1, SQLITE_STATIC);
	return queue_db_step(d, st, "queue: forget quota counters", errstr);
}

static int
counter_insert(struct queue_db *d, const struct queue_counter *c,
    const char **errstr)
{
	sqlite3_stmt *st;
	int i;

	if ((st = queue_db_stmt(d, sql_counter_insert, errstr)) == NULL)
		return -1;
	sqlite3_bind_text(st, 1, c->quota, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, c->key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, c->start);
	for (i = 0; i < QUOTA_NUSED; i++)
		sqlite3_bind_double(st, 4 + i, c->used[i]);
	sqlite3_bind_int64(st, 4 + QUOTA_NUSED, c->notified);
	if (sqlite3_step(st) != SQLITE_DONE) {
		if (sqlite3_extended_errcode(d->db) ==
		    SQLITE_CONSTRAINT_PRIMARYKEY)
			*errstr = "queue: a quota counter window given twice";
		else
			*errstr = queue_db_err(d, "queue: store quota counter");
		queue_db_reset(st);
		return -1;
	}
	queue_db_reset(st);
	return 0;
}

int
queue_txn_counters_set(struct queue_txn *txn, const struct queue_counter *rows,
    size_t n, const char **errstr)
{
	struct queue_db *d = queue_txn_conn(txn);
	size_t i;

	if (counters_check(rows, n, errstr) == -1)
		return -1;
	/* Every (quota, key) is emptied before any window is written, so
	 * rows of one key that are not adjacent cost a DELETE more but
	 * never wipe what this call wrote. */
	for (i = 0; i < n; i++)
		if ((i == 0 || !counter_same_key(&rows[i - 1], &rows[i])) &&
		    counters_forget(d, rows[i].quota, rows[i].key,
		    errstr) == -1)
			return -1;
	for (i = 0; i < n; i++)
		if (!counter_is_zero(&rows[i]) &&
		    counter_insert(d, &rows[i], errstr) == -1)
			return -1;
	return 0;
}

int
queue_txn_counters_delete(struct queue_txn *txn, const char *quota,
    const char *key, const char **errstr)
{
	if (key == NULL) {
		*errstr = "queue: quota counters without key";
		return -1;
	}
	return counters_forget(queue_txn_conn(txn), quota, key, errstr);
}

int
queue_txn_override_set(struct queue_txn *txn, const char *key, int kind,
    uint64_t limit, int64_t now, const char **errstr)
{
	struct queue_db *d = queue_txn_conn(txn);
	sqlite3_stmt *st;

	if (key == NULL) {
		*errstr = "queue: quota override without key";
		return -1;
	}
	if (kind != QUEUE_OVR_LIMIT && kind != QUEUE_OVR_EXEMPT) {
		*errstr = "queue: unknown kind of quota override";
		return -1;
	}
	if ((st = queue_db_stmt(d, sql_override_set, errstr)) == NULL)
		return -1;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, kind);
	/* SQLite's integers are signed: a limit past INT64_MAX is stored
	 * negative and reads back the same. */
	sqlite3_bind_int64(st, 3, (sqlite3_int64)limit);
	sqlite3_bind_int64(st, 4, now);
	return queue_db_step(d, st, "queue: set quota override", errstr) ==
	    -1 ? -1 : 0;
}

int
queue_txn_override_clear(struct queue_txn *txn, const char *key,
    const char **errstr)
{
	struct queue_db *d = queue_txn_conn(txn);
	sqlite3_stmt *st;
	int n;

	if (key == NULL) {
		*errstr = "queue: quota override without key";
		return -1;
	}
	if ((st = queue_db_stmt(d, sql_override_clear, errstr)) == NULL)
		return -1;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	if ((n = queue_db_step(d, st, "queue: clear quota override",
	    errstr)) == -1)
		return -1;
	return n > 0 ? 1 : 0;
}

/* ---- start-up loads, on the reader connection ---- */

/* The caller's callback, whichever the load. */
struct quota_load {
	queue_counter_cb	*counter;
	queue_override_cb	*override;
	void			*arg;
};

static void
counter_row(sqlite3_stmt *st, void *arg)
{
	const struct quota_load *l = arg;
	struct queue_counter c;
	sqlite3_int64 notified;
	int i;

	c.quota = (const char *)sqlite3_column_text(st, 0);
	c.key = (const char *)sqlite3_column_text(st, 1);
	c.start = sqlite3_column_int64(st, 2);
	for (i = 0; i < QUOTA_NUSED; i++)	/* NULL reads 0 */
		c.used[i] = sqlite3_column_double(st, 3 + i);
	/* Only this code writes it; a value no unsigned holds (a hand-made
	 * row) reads as nothing announced. */
	notified = sqlite3_column_int64(st, 3 + QUOTA_NUSED);
	c.notified = notified >= 0 && notified <= UINT_MAX ?
	    (unsigned)notified : 0;
	if (c.quota != NULL && c.key != NULL)
		l->counter(&c, l->arg);
}

static void
override_row(sqlite3_stmt *st, void *arg)
{
	const struct quota_load *l = arg;
	struct queue_override o;

	o.key = (const char *)sqlite3_column_text(st, 0);
	o.kind = sqlite3_column_int(st, 1);
	o.limit = (uint64_t)sqlite3_column_int64(st, 2);
	o.set_at = sqlite3_column_int64(st, 3);
	if (o.key != NULL)
		l->override(&o, l->arg);
}

int
queue_load_counters(struct queue *q, queue_counter_cb *cb, void *arg,
    const char **errstr)
{
	struct quota_load l = { .counter = cb, .arg = arg };

	return queue_db_query(&q->r, sql_counter_load,
	    "queue: load quota counters", counter_row, &l, errstr);
}

int
queue_load_overrides(struct queue *q, queue_override_cb *cb, void *arg,
    const char **errstr)
{
	struct quota_load l = { .override = cb, .arg = arg };

	return queue_db_query(&q->r, sql_override_load,
	    "queue: load quota overrides", override_row, &l, errstr);
}
