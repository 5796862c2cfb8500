/*
 * queue_db: one SQLite connection of the queue and its prepared statements.
 *
 * Invariants:
 * - A connection is used by one thread at a time (see queue_priv.h), so it
 *   is opened without SQLite's per-connection mutex and its statement cache
 *   needs no lock.
 * - Statements are prepared once per connection (SQLITE_PREPARE_PERSISTENT)
 *   and looked up by the address of their SQL literal; they are reset after
 *   each use so that a reader never pins an old WAL snapshot.
 * - The database file is created with mode 0600 before SQLite sees it; the
 *   -wal and -shm files take the database file's mode.
 * - Errors are formatted into a thread-local buffer: the writer thread and
 *   the caller's thread never overwrite each other's messages.
 * - The tables of queue_db_tables exist once the writer connection is open
 *   (see there); the versioned schema is queue_store.c's.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "../lib/xalloc.h"
#include "queue_priv.h"

static _Thread_local char queue_errbuf[512];

const char *
queue_errf(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(queue_errbuf, sizeof(queue_errbuf), fmt, ap);
	va_end(ap);
	return queue_errbuf;
}

const char *
queue_db_err(struct queue_db *d, const char *what)
{
	return queue_errf("%s: %s", what,
	    d->db ? sqlite3_errmsg(d->db) : "no database connection");
}

/* Creates path with mode 0600 unless it exists; an existing file keeps its
 * mode (an administrator may have chosen another). */
static int
db_create_file(const char *path, const char **errstr)
{
	int fd;

	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd == -1) {
		*errstr = queue_errf("queue: %s: %s", path, strerror(errno));
		return -1;
	}
	close(fd);
	return 0;
}

/* Runs a one-off PRAGMA; when want is set, its first row must say so. */
static int
db_pragma(struct queue_db *d, const char *path, const char *sql,
    const char *want, const char **errstr)
{
	sqlite3_stmt *st = NULL;
	const unsigned char *got;
	int rc;

	if (sqlite3_prepare_v2(d->db, sql, -1, &st, NULL) != SQLITE_OK) {
		*errstr = queue_errf("queue: %s: %s", path,
		    sqlite3_errmsg(d->db));
		return -1;
	}
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		*errstr = queue_errf("queue: %s: %s", path,
		    sqlite3_errmsg(d->db));
		sqlite3_finalize(st);
		return -1;
	}
	if (want != NULL) {
		got = rc == SQLITE_ROW ? sqlite3_column_text(st, 0) : NULL;
		if (got == NULL || strcasecmp((const char *)got, want) != 0) {
			*errstr = queue_errf("queue: %s: \"%s\" gave \"%s\"",
			    path, sql, got ? (const char *)got : "nothing");
			sqlite3_finalize(st);
			return -1;
		}
	}
	sqlite3_finalize(st);
	return 0;
}

/*
 * Tables added without a version step (at schema version 2): the writer
 * connection creates each one that is missing whenever it opens, so that a
 * database an older sluice wrote gains them and keeps working, and an
 * older sluice ignores them.  A database newer than this code is left
 * untouched (queue_open refuses it).  Their rows are what relay/ hands
 * over (queue_quota.c; the filter tables, added later the same way,
 * queue_filters.c).
 *
 * Each is created in the shape this code writes, before the migration of
 * queue_store.c runs.  A column added later comes with a version step
 * that adds it only where it is missing (quota_counter.notified, schema
 * 4): a table created here already has it, one an older sluice created
 * does not.
 */
static const char *const queue_db_tables[] = {
	/* One window of one quota counter; used[] in the columns. */
	"CREATE TABLE IF NOT EXISTS quota_counter ("
	" quota TEXT NOT NULL,"
	" key TEXT NOT NULL,"
	" start INTEGER NOT NULL,"
	" messages REAL, recipients REAL, bytes REAL,"
	" notified INTEGER NOT NULL DEFAULT 0,"
	" PRIMARY KEY (quota, key, start)) WITHOUT ROWID",
	/* An administrator's override of one key's limit. */
	"CREATE TABLE IF NOT EXISTS quota_override ("
	" key TEXT PRIMARY KEY NOT NULL,"
	" kind INTEGER NOT NULL,"
	" lim INTEGER NOT NULL,"
	" set_at INTEGER NOT NULL) WITHOUT ROWID",
	/* Filter state (queue_filters.c).  A greylisting triplet. */
	"CREATE TABLE IF NOT EXISTS grey_triplet ("
	" net TEXT NOT NULL,"
	" sender TEXT NOT NULL,"
	" rcpt TEXT NOT NULL,"
	" first_seen INTEGER NOT NULL,"
	" last_seen INTEGER NOT NULL,"
	" last_pass INTEGER NOT NULL DEFAULT 0,"
	" tries INTEGER NOT NULL DEFAULT 0,"
	" passes INTEGER NOT NULL DEFAULT 0,"
	" PRIMARY KEY (net, sender, rcpt)) WITHOUT ROWID",
	/* An auto-whitelisted (kind 1) or auto-blacklisted (2) network. */
	"CREATE TABLE IF NOT EXISTS grey_auto ("
	" kind INTEGER NOT NULL,"
	" net TEXT NOT NULL,"
	" first_seen INTEGER NOT NULL,"
	" last_seen INTEGER NOT NULL,"
	" PRIMARY KEY (kind, net)) WITHOUT ROWID",
	/* A HELO a client (its address as text) gave, and when last. */
	"CREATE TABLE IF NOT EXISTS helo_seen ("
	" client TEXT NOT NULL,"
	" helo TEXT NOT NULL,"
	" last_seen INTEGER NOT NULL,"
	" PRIMARY KEY (client, helo)) WITHOUT ROWID",
	/* One calendar period of one accounting key. */
	"CREATE TABLE IF NOT EXISTS acct_counter ("
	" acct TEXT NOT NULL,"
	" key TEXT NOT NULL,"
	" period TEXT NOT NULL,"
	" start INTEGER NOT NULL,"
	" messages INTEGER NOT NULL DEFAULT 0,"
	" recipients INTEGER NOT NULL DEFAULT 0,"
	" bytes INTEGER NOT NULL DEFAULT 0,"
	" PRIMARY KEY (acct, key, period)) WITHOUT ROWID",
	NULL
};

/* PRAGMA user_version into *version; SQLite's result code. */
static int
db_version(struct queue_db *d, int *version)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = sqlite3_prepare_v2(d->db, "PRAGMA user_version", -1, &st,
	    NULL)) == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		*version = sqlite3_column_int(st, 0);
		rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	return rc;
}

/* Creates the missing queue_db_tables in one transaction, under the write
 * lock so that the version read is the one the tables go into. */
static int
db_add_tables(struct queue_db *d, const char *path, const char **errstr)
{
	int version = 0;
	size_t i;

	if (sqlite3_exec(d->db, "BEGIN IMMEDIATE", NULL, NULL,
	    NULL) != SQLITE_OK || db_version(d, &version) != SQLITE_OK)
		goto fail;
	/* A newer database is not ours to write: queue_open refuses it. */
	for (i = 0; version <= QUEUE_SCHEMA_VERSION &&
	    queue_db_tables[i] != NULL; i++)
		if (sqlite3_exec(d->db, queue_db_tables[i], NULL, NULL,
		    NULL) != SQLITE_OK)
			goto fail;
	if (sqlite3_exec(d->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK)
		return 0;
fail:
	*errstr = queue_errf("queue: %s: adding tables: %s", path,
	    sqlite3_errmsg(d->db));
	if (!sqlite3_get_autocommit(d->db))
		sqlite3_exec(d->db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

#define QUEUE_WAL_LIMIT	"16777216"	/* bytes: 16 MiB */

int
queue_db_open(struct queue_db *d, const char *path, bool writer,
    const char **errstr)
{
	static const char *wpragmas[] = {
		"PRAGMA synchronous=FULL",
		"PRAGMA foreign_keys=ON",
		/* the -wal file, once reset by a checkpoint, goes back to
		 * this size at most: a burst does not leave it large */
		"PRAGMA journal_size_limit=" QUEUE_WAL_LIMIT,
	};
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
	size_t i;

	memset(d, 0, sizeof(*d));
	if (writer && db_create_file(path, errstr) == -1)
		return -1;
	if (sqlite3_open_v2(path, &d->db, flags, NULL) != SQLITE_OK) {
		*errstr = queue_errf("queue: %s: %s", path,
		    d->db ? sqlite3_errmsg(d->db) : "out of memory");
		queue_db_close(d);
		return -1;
	}
	sqlite3_extended_result_codes(d->db, 1);
	sqlite3_busy_timeout(d->db, QUEUE_BUSY_MS);
	/* The first read of the file: a file that is not a database fails
	 * here, with SQLite's "file is not a database". */
	if (db_pragma(d, path, "PRAGMA journal_mode=WAL", "wal",
	    errstr) == -1) {
		queue_db_close(d);
		return -1;
	}
	for (i = 0; writer && i < sizeof(wpragmas) / sizeof(wpragmas[0]); i++)
		if (db_pragma(d, path, wpragmas[i], NULL, errstr) == -1) {
			queue_db_close(d);
			return -1;
		}
	if (writer && db_add_tables(d, path, errstr) == -1) {
		queue_db_close(d);
		return -1;
	}
	if (!writer &&
	    db_pragma(d, path, "PRAGMA query_only=ON", NULL, errstr) == -1) {
		queue_db_close(d);
		return -1;
	}
	return 0;
}

void
queue_db_close(struct queue_db *d)
{
	size_t i;

	for (i = 0; i < d->nslot; i++)
		sqlite3_finalize(d->slots[i].stmt);
	free(d->slots);
	d->slots = NULL;
	d->nslot = 0;
	if (d->db != NULL)
		sqlite3_close(d->db);
	d->db = NULL;
}

sqlite3_stmt *
queue_db_stmt(struct queue_db *d, const char *sql, const char **errstr)
{
	sqlite3_stmt *st = NULL;
	size_t i;

	for (i = 0; i < d->nslot; i++)
		if (d->slots[i].sql == sql)
			break;
	if (i == d->nslot) {
		if (sqlite3_prepare_v3(d->db, sql, -1,
		    SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK) {
			*errstr = queue_db_err(d, "queue: prepare");
			sqlite3_finalize(st);
			return NULL;
		}
		d->slots = xreallocarray(d->slots, d->nslot + 1,
		    sizeof(d->slots[0]));
		d->slots[d->nslot].sql = sql;
		d->slots[d->nslot].stmt = st;
		d->nslot++;
	}
	st = d->slots[i].stmt;
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return st;
}

void
queue_db_reset(sqlite3_stmt *st)
{
	if (st != NULL)
		sqlite3_reset(st);
}

int
queue_db_rows(struct queue_db *d, sqlite3_stmt *st, const char *what,
    queue_row_fn *row, void *arg, const char **errstr)
{
	int rc, n = 0;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		n++;
		if (row != NULL)
			row(st, arg);
	}
	if (rc != SQLITE_DONE) {
		*errstr = queue_db_err(d, what);
		queue_db_reset(st);
		return -1;
	}
	queue_db_reset(st);
	return n;
}

int
queue_db_query(struct queue_db *d, const char *sql, const char *what,
    queue_row_fn *row, void *arg, const char **errstr)
{
	sqlite3_stmt *st;

	if ((st = queue_db_stmt(d, sql, errstr)) == NULL)
		return -1;
	return queue_db_rows(d, st, what, row, arg, errstr) == -1 ? -1 : 0;
}

int
queue_db_exec(struct queue_db *d, const char *sql, const char **errstr)
{
	sqlite3_stmt *st;

	if ((st = queue_db_stmt(d, sql, errstr)) == NULL)
		return -1;
	return queue_db_rows(d, st, sql, NULL, NULL, errstr) == -1 ? -1 : 0;
}

int
queue_db_changes(struct queue_db *d, sqlite3_stmt *st, const char *what,
    queue_change_cb *cb, void *arg, const char **errstr)
{
	return queue_resv_changes(d, st, what, NULL, cb, arg, errstr);
}

const char *
queue_strs_col(struct queue_strs *strs, sqlite3_stmt *st, int col)
{
	const unsigned char *s = sqlite3_column_text(st, col);
	char *copy;

	if (s == NULL)
		return NULL;
	copy = xstrdup((const char *)s);
	strs->v = xreallocarray(strs->v, strs->n + 1, sizeof(*strs->v));
	strs->v[strs->n++] = copy;
	return copy;
}

void
queue_strs_free(struct queue_strs *strs)
{
	size_t i;

	for (i = 0; i < strs->n; i++)
		free(strs->v[i]);
	free(strs->v);
	strs->v = NULL;
	strs->n = 0;
}

int
queue_db_step(struct queue_db *d, sqlite3_stmt *st, const char *what,
    const char **errstr)
{
	if (sqlite3_step(st) != SQLITE_DONE) {
		*errstr = queue_db_err(d, what);
		queue_db_reset(st);
		return -1;
	}
	queue_db_reset(st);
	return sqlite3_changes(d->db);
}
