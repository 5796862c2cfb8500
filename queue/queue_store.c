/*
 * queue_store: the queue's database: opening it, its schema and the
 * migrations between versions, start-up recovery, and the changes a job
 * makes inside the writer's group transaction.
 *
 * Invariants:
 * - PRAGMA user_version is the schema version.  queue_migrations[v] takes
 *   a database from version v to v + 1 (its statements, then its function
 *   when a step depends on what the file holds); a later issue appends a
 *   step and raises QUEUE_SCHEMA_VERSION.  A database newer than this code
 *   is refused, never written.
 * - The tables of queue_db_tables (queue_db.c) are not versioned: they
 *   exist, in this code's shape or an older sluice's, before the
 *   migration runs.  A step that changes one of them must work on both
 *   (see store_counter_notified).
 * - A message row and its recipient rows are written by the same job, so
 *   they are committed together or not at all.  A message whose recipients
 *   are all QUEUE_DONE, or which has none, is dead weight that
 *   queue_recover removes.
 * - The id is the PRIMARY KEY: a duplicate is an error, never an overwrite.
 * - Ownership: struct queue owns both connections and the path.  The
 *   writer connection belongs to the writer thread while it runs
 *   (q->writer_on); queue_recover and queue_close need it stopped.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/xalloc.h"
#include "queue_priv.h"

/* Version 0 -> 1: messages and their recipients. */
static const char *const queue_schema_v1[] = {
	"CREATE TABLE messages ("
	" id TEXT PRIMARY KEY NOT NULL,"
	" arrival INTEGER NOT NULL,"
	" sender TEXT NOT NULL,"
	" flags INTEGER NOT NULL DEFAULT 0,"
	" client_addr TEXT, client_port TEXT, client_name TEXT,"
	" client_helo TEXT, client_proto TEXT, client_ident TEXT,"
	" client_source TEXT,"
	" peer_addr TEXT, peer_helo TEXT,"
	" sasl_user TEXT,"
	" size INTEGER NOT NULL,"
	" body BLOB NOT NULL)",		/* last: a listing never reads it */
	"CREATE INDEX messages_arrival ON messages(arrival, id)",
	"CREATE INDEX messages_sender ON messages(sender COLLATE NOCASE)",
	"CREATE TABLE recipients ("
	" msg_id TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,"
	" rcpt INTEGER NOT NULL,"
	" addr TEXT NOT NULL,"
	" state INTEGER NOT NULL,"
	" due INTEGER NOT NULL,"
	" attempts INTEGER NOT NULL DEFAULT 0,"
	" last_reply TEXT,"
	" PRIMARY KEY (msg_id, rcpt)) WITHOUT ROWID",
	"CREATE INDEX recipients_state_due ON recipients(state, due)",
	NULL
};

/*
 * Version 1 -> 2: what delivery records per recipient (when it was first
 * and last tried, the RFC 3463 status of the last outcome), and an index
 * of the pending recipients by due time for the scheduler's start-up load.
 * Old rows read NULL: never tried.
 */
static const char *const queue_schema_v2[] = {
	"ALTER TABLE recipients ADD COLUMN first_attempt INTEGER",
	"ALTER TABLE recipients ADD COLUMN last_attempt INTEGER",
	"ALTER TABLE recipients ADD COLUMN dsn_status TEXT",
	"CREATE INDEX recipients_pending_due ON recipients(due)"
	" WHERE state <> 4",
	NULL
};

/*
 * Version 2 -> 3: what holds a deferred recipient back (the quota and key
 * relay/ names, opaque here), when it stops waiting, the capacity it
 * reserves (queue_resv.c's encoding) and its flags (QUEUE_RF_*).  Old rows
 * read NULL and 0: nothing.
 */
static const char *const queue_schema_v3[] = {
	"ALTER TABLE recipients ADD COLUMN quota TEXT",
	"ALTER TABLE recipients ADD COLUMN qkey TEXT",
	"ALTER TABLE recipients ADD COLUMN expire INTEGER",
	"ALTER TABLE recipients ADD COLUMN resv BLOB",
	"ALTER TABLE recipients ADD COLUMN rflags INTEGER NOT NULL DEFAULT 0",
	NULL
};

/*
 * Version 3 -> 4 (quota alerts): the events waiting for a notifier
 * (queue_outbox.c; AUTOINCREMENT so that an id is never given twice, even
 * after the newest row was deleted), and per quota counter window the
 * highest alert threshold already announced (store_counter_notified).
 */
static const char *const queue_schema_v4[] = {
	"CREATE TABLE outbox ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" notifier TEXT NOT NULL,"
	" created INTEGER NOT NULL,"
	" payload BLOB NOT NULL)",
	"CREATE INDEX outbox_notifier ON outbox(notifier)",
	NULL
};

/*
 * quota_counter.notified, for version 4.  queue_db_tables creates
 * quota_counter, with the column, before the migration runs, whenever the
 * table is missing; so here it has the column when this code created it
 * (a new database, or one from before schema 3 that never had the table)
 * and lacks it when schema 3 did.  The column is added only when missing;
 * with no table at all there is nothing to add to.  Old rows read 0:
 * nothing announced.
 */
static int
store_counter_notified(struct queue *q, const char **errstr)
{
	sqlite3_stmt *st = NULL;
	int ncol = 0, have = 0;

	if (sqlite3_prepare_v2(q->w.db, "SELECT count(*),"
	    " coalesce(sum(name = 'notified'), 0)"
	    " FROM pragma_table_info('quota_counter')", -1, &st,
	    NULL) != SQLITE_OK || sqlite3_step(st) != SQLITE_ROW) {
		*errstr = queue_db_err(&q->w, "queue: schema migration");
		sqlite3_finalize(st);
		return -1;
	}
	ncol = sqlite3_column_int(st, 0);
	have = sqlite3_column_int(st, 1);
	sqlite3_finalize(st);
	if (ncol == 0 || have > 0)
		return 0;
	if (sqlite3_exec(q->w.db, "ALTER TABLE quota_counter ADD COLUMN"
	    " notified INTEGER NOT NULL DEFAULT 0", NULL, NULL,
	    NULL) != SQLITE_OK) {
		*errstr = queue_db_err(&q->w, "queue: schema migration");
		return -1;
	}
	return 0;
}

/* One version step: its statements in order, then fn (or none). */
struct store_step {
	const char *const	*sql;
	int			(*fn)(struct queue *, const char **);
};

static const struct store_step queue_migrations[QUEUE_SCHEMA_VERSION] = {
	{ queue_schema_v1, NULL },
	{ queue_schema_v2, NULL },
	{ queue_schema_v3, NULL },
	{ queue_schema_v4, store_counter_notified },
};

static const char sql_begin[] = "BEGIN IMMEDIATE";
static const char sql_commit[] = "COMMIT";
static const char sql_rollback[] = "ROLLBACK";

static int
store_user_version(struct queue *q, int *version, const char **errstr)
{
	sqlite3_stmt *st;

	if ((st = queue_db_stmt(&q->w, "PRAGMA user_version",
	    errstr)) == NULL)
		return -1;
	if (sqlite3_step(st) != SQLITE_ROW) {
		*errstr = queue_db_err(&q->w, "queue: read schema version");
		queue_db_reset(st);
		return -1;
	}
	*version = sqlite3_column_int(st, 0);
	queue_db_reset(st);
	return 0;
}

/* Applies the steps from version `from` up, in the open transaction. */
static int
store_migrate_steps(struct queue *q, int from, const char **errstr)
{
	char sql[64];
	int v;
	size_t i;

	for (v = from; v < QUEUE_SCHEMA_VERSION; v++) {
		for (i = 0; queue_migrations[v].sql[i] != NULL; i++)
			if (sqlite3_exec(q->w.db, queue_migrations[v].sql[i],
			    NULL, NULL, NULL) != SQLITE_OK) {
				*errstr = queue_db_err(&q->w,
				    "queue: schema migration");
				return -1;
			}
		if (queue_migrations[v].fn != NULL &&
		    queue_migrations[v].fn(q, errstr) == -1)
			return -1;
	}
	snprintf(sql, sizeof(sql), "PRAGMA user_version=%d",
	    QUEUE_SCHEMA_VERSION);
	if (sqlite3_exec(q->w.db, sql, NULL, NULL, NULL) != SQLITE_OK) {
		*errstr = queue_db_err(&q->w, "queue: set schema version");
		return -1;
	}
	return 0;
}

/* Brings the schema to QUEUE_SCHEMA_VERSION in one transaction.  The
 * version is read again under the write lock, in case another process
 * migrated the file meanwhile. */
static int
store_migrate(struct queue *q, const char **errstr)
{
	const char *rberr;
	int version;

	if (queue_db_exec(&q->w, sql_begin, errstr) == -1)
		return -1;
	if (store_user_version(q, &version, errstr) == -1)
		goto fail;
	if (version > QUEUE_SCHEMA_VERSION) {
		*errstr = queue_errf("queue: %s: schema version %d is newer "
		    "than this sluice knows (%d)", q->path, version,
		    QUEUE_SCHEMA_VERSION);
		goto fail;
	}
	if (version < QUEUE_SCHEMA_VERSION &&
	    store_migrate_steps(q, version, errstr) == -1)
		goto fail;
	if (queue_db_exec(&q->w, sql_commit, errstr) == -1)
		goto fail;
	return 0;
fail:
	if (!sqlite3_get_autocommit(q->w.db))
		queue_db_exec(&q->w, sql_rollback, &rberr);
	return -1;
}

int
queue_open(struct queue **qp, const char *dir, const char **errstr)
{
	struct queue *q;

	*qp = NULL;
	q = xcalloc(1, sizeof(*q));
	q->path = xasprintf("%s/queue.db", dir);
	if (queue_db_open(&q->w, q->path, true, errstr) == -1 ||
	    store_migrate(q, errstr) == -1 ||
	    queue_db_open(&q->r, q->path, false, errstr) == -1) {
		queue_close(&q);
		return -1;
	}
	*qp = q;
	return 0;
}

void
queue_close(struct queue **qp)
{
	struct queue *q = *qp;

	if (q == NULL)
		return;
	queue_db_close(&q->r);
	queue_db_close(&q->w);
	free(q->path);
	free(q);
	*qp = NULL;
}

/* PRAGMA quick_check: one row "ok", or rows that say what is wrong.  A
 * page too broken to read fails the statement itself. */
static int
store_check(struct queue *q, const char **errstr)
{
	sqlite3_stmt *st;
	const unsigned char *row;
	char detail[256], *nl;

	if ((st = queue_db_stmt(&q->w, "PRAGMA quick_check", errstr)) == NULL)
		snprintf(detail, sizeof(detail), "%s", *errstr);
	else if (sqlite3_step(st) != SQLITE_ROW)
		snprintf(detail, sizeof(detail), "%s",
		    sqlite3_errmsg(q->w.db));
	else if ((row = sqlite3_column_text(st, 0)) != NULL &&
	    strcmp((const char *)row, "ok") == 0) {
		queue_db_reset(st);
		return 0;
	} else
		snprintf(detail, sizeof(detail), "%s",
		    row ? (const char *)row : "no detail");
	queue_db_reset(st);
	for (nl = detail; (nl = strchr(nl, '\n')) != NULL; )
		*nl = ' ';	/* one log line */
	*errstr = queue_errf("queue: %s is corrupt (%s); restore it from a "
	    "backup or move it aside", q->path, detail);
	return -1;
}

int
queue_recover(struct queue *q, int64_t now, struct queue_stats *stats,
    const char **errstr)
{
	(void)now;	/* for later steps: expired reservations and the like */
	if (q->writer_on) {
		*errstr = "queue: recovery needs the writer stopped";
		return -1;
	}
	if (store_check(q, errstr) == -1)
		return -1;
	/* One statement, so atomic: the cascade takes the recipients. */
	if (queue_db_exec(&q->w,
	    "DELETE FROM messages WHERE NOT EXISTS (SELECT 1 FROM recipients"
	    " r WHERE r.msg_id = messages.id AND r.state <> 4)", errstr) == -1)
		return -1;
	return queue_db_stats(&q->w, stats, errstr);
}

struct queue_db *
queue_txn_conn(struct queue_txn *txn)
{
	return &txn->q->w;
}

sqlite3 *
queue_txn_db(struct queue_txn *txn)
{
	return txn->q->w.db;
}

static int
store_check_msg(const struct queue_msg *m, const char **errstr)
{
	size_t i;

	if (!queue_id_is_valid(m->id)) {
		*errstr = "queue: invalid queue id";
		return -1;
	}
	if (m->sender == NULL || m->nrcpt == 0 || m->rcpts == NULL ||
	    (m->body == NULL && m->body_len > 0)) {
		*errstr = "queue: message without sender, recipients or body";
		return -1;
	}
	for (i = 0; i < m->nrcpt; i++) {
		if (m->rcpts[i].addr == NULL ||
		    (unsigned)m->rcpts[i].state > QUEUE_DONE) {
			*errstr = "queue: recipient without address or state";
			return -1;
		}
		if (queue_resv_check(&m->rcpts[i], errstr) == -1)
			return -1;
	}
	return 0;
}

void
queue_bind_opt_text(sqlite3_stmt *st, int col, const char *s)
{
	if (s == NULL)
		sqlite3_bind_null(st, col);
	else
		sqlite3_bind_text(st, col, s, -1, SQLITE_STATIC);
}

enum queue_state
queue_state_col(sqlite3_stmt *st, int col)
{
	int state = sqlite3_column_int(st, col);

	return state >= 0 && state <= QUEUE_DONE ? (enum queue_state)state :
	    QUEUE_HOLD;
}

static int
store_message_row(struct queue_txn *txn, const struct queue_msg *m,
    const char **errstr)
{
	struct queue_db *d = &txn->q->w;
	sqlite3_stmt *st;
	int rc;

	if ((st = queue_db_stmt(d, "INSERT INTO messages (id, arrival,"
	    " sender, flags, client_addr, client_port, client_name,"
	    " client_helo, client_proto, client_ident, client_source,"
	    " peer_addr, peer_helo, sasl_user, size, body) VALUES (?1, ?2,"
	    " ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
	    errstr)) == NULL)
		return -1;
	sqlite3_bind_text(st, 1, m->id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, m->arrival);
	sqlite3_bind_text(st, 3, m->sender, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, m->flags);
	queue_bind_opt_text(st, 5, m->client_addr);
	queue_bind_opt_text(st, 6, m->client_port);
	queue_bind_opt_text(st, 7, m->client_name);
	queue_bind_opt_text(st, 8, m->client_helo);
	queue_bind_opt_text(st, 9, m->client_proto);
	queue_bind_opt_text(st, 10, m->client_ident);
	queue_bind_opt_text(st, 11, m->client_source);
	queue_bind_opt_text(st, 12, m->peer_addr);
	queue_bind_opt_text(st, 13, m->peer_helo);
	queue_bind_opt_text(st, 14, m->sasl_user);
	sqlite3_bind_int64(st, 15, (sqlite3_int64)m->body_len);
	if (m->body_len == 0)
		rc = sqlite3_bind_zeroblob(st, 16, 0);	/* not NULL */
	else
		rc = sqlite3_bind_blob64(st, 16, m->body, m->body_len,
		    SQLITE_STATIC);
	if (rc != SQLITE_OK) {		/* SQLITE_TOOBIG past SQLite's limit */
		*errstr = queue_db_err(d, "queue: store body");
		queue_db_reset(st);
		return -1;
	}
	if (sqlite3_step(st) != SQLITE_DONE) {
		int ext = sqlite3_extended_errcode(d->db);


		if (ext == SQLITE_CONSTRAINT_PRIMARYKEY ||
		    ext == SQLITE_CONSTRAINT_UNIQUE)
			*errstr = queue_errf("queue: duplicate queue id %s",
			    m->id);
		else
			*errstr = queue_db_err(d, "queue: store message");
		queue_db_reset(st);
		return -1;
	}
	queue_db_reset(st);
	return 0;
}

void
queue_bind_opt_time(sqlite3_stmt *st, int col, int64_t t)
{
	if (t == 0)
		sqlite3_bind_null(st, col);
	else
		sqlite3_bind_int64(st, col, t);
}

static int
store_rcpt_rows(struct queue_txn *txn, const struct queue_msg *m,
    const char **errstr)
{
	struct queue_db *d = &txn->q->w;
	const struct queue_rcpt_in *r;
	struct buf resv = BUF_INIT;
	sqlite3_stmt *st;
	size_t i;
	int rc = 0;

	for (i = 0; i < m->nrcpt && rc == 0; i++) {
		r = &m->rcpts[i];
		if ((st = queue_db_stmt(d, "INSERT INTO recipients (msg_id,"
		    " rcpt, addr, state, due, quota, qkey, expire, rflags,"
		    " resv) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
		    errstr)) == NULL) {
			rc = -1;
			break;
		}
		sqlite3_bind_text(st, 1, m->id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)i);
		sqlite3_bind_text(st, 3, r->addr, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 4, (int)r->state);
		sqlite3_bind_int64(st, 5, r->due);
		if (queue_bind_quota(st, 6, r, &resv, errstr) == -1) {
			queue_db_reset(st);
			rc = -1;
		} else if (queue_db_step(d, st, "queue: store recipient",
		    errstr) == -1)
			rc = -1;
	}
	buf_free(&resv);
	return rc;
}

int
queue_txn_store(struct queue_txn *txn, const struct queue_msg *m,
    const char **errstr)
{
	if (store_check_msg(m, errstr) == -1)
		return -1;
	/* On failure the job's savepoint undoes a half-written message. */
	if (store_message_row(txn, m, errstr) == -1 ||
	    store_rcpt_rows(txn, m, errstr) == -1)
		return -1;
	return 0;
}
