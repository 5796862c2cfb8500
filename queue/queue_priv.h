/*
 * queue_priv.h: what the files of queue/ share, and the door through which
 * later parts of the store (quota counters, reservations, the outbox) reach
 * the writer's connection to take part in the same transactions.
 *
 * A struct queue_db is one SQLite connection and its cache of prepared
 * statements.  It is used by one thread at a time: the writer connection by
 * queue_open/queue_recover before the writer starts and by the writer thread
 * after; the reader connection by the caller's thread.
 */
#ifndef SLUICE_QUEUE_PRIV_H
#define SLUICE_QUEUE_PRIV_H

#include <sqlite3.h>

#include "../lib/buf.h"
#include "queue.h"

/* The version of the schema this code writes (PRAGMA user_version). */
#define QUEUE_SCHEMA_VERSION	4

/* How long a connection waits for a lock held by another connection. */
#define QUEUE_BUSY_MS		10000

struct queue_stmt_slot {
	const char	*sql;
	sqlite3_stmt	*stmt;
};

struct queue_db {
	sqlite3			*db;
	struct queue_stmt_slot	*slots;
	size_t			 nslot;
};

struct queue {
	char		*path;		/* DIR/queue.db */
	struct queue_db	 w;		/* writer connection */
	struct queue_db	 r;		/* reader connection */
	bool		 writer_on;	/* a queue_writer owns w */
};

/* What a job sees of the group transaction. */
struct queue_txn {
	struct queue	*q;
};

/* queue_db.c: connections, statement cache, errors. */

/* Opens path (creating it with mode 0600 when missing) and sets the
 * connection's pragmas: WAL, synchronous=FULL, foreign keys, busy
 * timeout; query_only on a reader.  A writer also creates the tables that
 * have no schema version step (the quota and filter tables) when they are
 * missing.  0, or -1 with *errstr. */
int	queue_db_open(struct queue_db *, const char *path, bool writer,
	    const char **errstr);
/* Finalizes the cached statements and closes; accepts a closed one. */
void	queue_db_close(struct queue_db *);
/*
 * The cached statement for sql (a string literal: it is kept by pointer),
 * prepared on first use, reset and with its bindings cleared.  The caller
 * resets it when done (queue_db_reset) so that no read snapshot lingers.
 * NULL with *errstr on error.
 */
sqlite3_stmt *queue_db_stmt(struct queue_db *, const char *sql,
	    const char **errstr);
void	queue_db_reset(sqlite3_stmt *);
/* Runs a cached statement that returns no rows.  0 or -1 with *errstr. */
int	queue_db_exec(struct queue_db *, const char *sql, const char **errstr);
/* Steps a bound statement that returns no rows, then resets it: the
 * number of rows it changed, or -1 with *errstr ("WHAT: reason"). */
int	queue_db_step(struct queue_db *, sqlite3_stmt *st, const char *what,
	    const char **errstr);
/* Steps a bound statement (a cached one) to its end, handing each row to
 * row (may be NULL), then resets it either way: the number of rows, or -1
 * with *errstr ("WHAT: sqlite's message"). */
typedef void queue_row_fn(sqlite3_stmt *, void *arg);
int	queue_db_rows(struct queue_db *, sqlite3_stmt *st, const char *what,
	    queue_row_fn *row, void *arg, const char **errstr);
/* queue_db_rows of the cached statement for sql, which takes no
 * parameters (a load: one statement, so one snapshot).  0 or -1. */
int	queue_db_query(struct queue_db *, const char *sql, const char *what,
	    queue_row_fn *row, void *arg, const char **errstr);
/* Steps an UPDATE or DELETE ... RETURNING id, rcpt, state, due [, resv]
 * (a cached statement, bound) to its end, telling cb (may be NULL) of each
 * row; a fifth column is the resv blob the recipient gave up (a DELETE's
 * RETURNING sees the old row).  The number of rows, or -1 with *errstr
 * ("what: sqlite's message").  Resets st either way. */
int	queue_db_changes(struct queue_db *, sqlite3_stmt *st, const char *what,
	    queue_change_cb *cb, void *arg, const char **errstr);
/* "WHAT: sqlite's message", in a thread-local buffer valid until the
 * thread's next queue_db_err/queue_errf. */
const char *queue_db_err(struct queue_db *, const char *what);
/* A formatted message in the same thread-local buffer. */
const char *queue_errf(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2)));

/* queue_store.c */

/* The writer's connection, for code that adds its own rows to the group
 * transaction (writer thread only). */
struct queue_db *queue_txn_conn(struct queue_txn *);
sqlite3	*queue_txn_db(struct queue_txn *);

/* queue_store.c: the states as the SQL of queue/ spells them. */
_Static_assert(QUEUE_READY == 0 && QUEUE_DEFERRED == 1 &&
    QUEUE_RETRY == 2 && QUEUE_HOLD == 3 && QUEUE_DONE == 4,
    "the SQL of queue/ spells the states 0..4");

/* Binds s, or NULL when s is NULL. */
void	queue_bind_opt_text(sqlite3_stmt *, int col, const char *s);
/* Binds t, or NULL when t is 0 (never). */
void	queue_bind_opt_time(sqlite3_stmt *, int col, int64_t t);
/* A state read from the database; an unknown one reads as QUEUE_HOLD, so
 * that nothing is sent until an administrator looks. */
enum queue_state queue_state_col(sqlite3_stmt *, int col);

/* queue_read.c: the stats query on either connection. */
int	queue_db_stats(struct queue_db *, struct queue_stats *,
	    const char **errstr);

/* queue_resv.c: a recipient's reservations as the resv column holds
 * them, and the changes that give them up. */

/* Appends the encoding of resv[0..n) to out (cleared first).  0, or -1
 * with *errstr when a quota or key is NULL, a value is not finite or n is
 * past QUEUE_RESV_MAX. */
int	queue_resv_encode(const struct queue_counter *resv, size_t n,
	    struct buf *out, const char **errstr);
/* Decodes blob[0..len) into *out (malloc'd, free it; NULL when *n is 0)
 * whose quota and key point into blob.  0, or -1 with *errstr, *out NULL
 * and *n 0 when the bytes are not an encoding. */
int	queue_resv_decode(const void *blob, size_t len,
	    struct queue_counter **out, size_t *n, const char **errstr);
/* Binds r's quota, qkey, expire, rflags and resv (encoded into out,
 * which the caller keeps until the step) to col .. col + 4, in the order
 * of the columns.  0, or -1 with *errstr. */
int	queue_bind_quota(sqlite3_stmt *, int col, const struct queue_rcpt_in *r,
	    struct buf *out, const char **errstr);
/* Checks a recipient's quota fields: reservations only on a deferred
 * one, at most QUEUE_RESV_MAX, each with a quota and a key.  0 or -1. */
int	queue_resv_check(const struct queue_rcpt_in *, const char **errstr);

/* The reservations some recipients held before a change, for an UPDATE
 * (its RETURNING sees only the new row). */
struct queue_resv_old;
/* Steps st (bound, cached: a SELECT of msg_id, rcpt, resv) to its end and
 * keeps its rows in *old (NULL when there are none).  0, or -1 with
 * *errstr. */
int	queue_resv_collect(struct queue_db *, sqlite3_stmt *st,
	    struct queue_resv_old **old, const char **errstr);
void	queue_resv_old_free(struct queue_resv_old **);
/* queue_db_changes for an UPDATE: each row is told with the reservations
 * old (may be NULL) held for that recipient. */
int	queue_resv_changes(struct queue_db *, sqlite3_stmt *st,
	    const char *what, const struct queue_resv_old *old,
	    queue_change_cb *cb, void *arg, const char **errstr);

/* Strings copied out of result rows for a struct handed to the caller,
 * freed together with it. */
struct queue_strs {
	char	**v;
	size_t	  n;
};

/* A copy of a text column kept in strs, or NULL for SQL NULL. */
const char	*queue_strs_col(struct queue_strs *, sqlite3_stmt *, int col);
void		 queue_strs_free(struct queue_strs *);

#endif
