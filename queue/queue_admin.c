/*
 * queue_admin: what an administrator does to the queue (sluicectl queue
 * hold|release|delete|flush, by id or by sender), and relay/'s requeue of
 * one recipient, as changes inside the writer's transaction.
 *
 * Invariants:
 * - Each operation is one UPDATE ... RETURNING (deletes: one DELETE of the
 *   recipients, one of the messages), inside its job's savepoint, so it
 *   is atomic and its count is exactly the rows it changed; the rows are
 *   handed to the caller's callback so that the scheduler's in-memory
 *   schedule can follow without reading the store again.
 * - A recipient that leaves QUEUE_DEFERRED gives up its reservations: the
 *   change clears them and tells the callback what they were (read just
 *   before by a SELECT in the same transaction: an UPDATE's RETURNING sees
 *   only the new row), so that relay/ gives the capacity back.
 * - queue_txn_rcpt_requeue is relay/'s, not an administrator's: it moves
 *   one recipient that is in an expected state, so a decision taken on the
 *   loop thread is not applied to a recipient that changed meanwhile.
 * - Done recipients are never touched: hold takes pending ones, release
 *   held ones, flush retried ones, requeue the states it is told (never
 *   done ones).  Quota deferrals are not flushed: a
 *   flush that sent them would break the quota's promise (DESIGN.md).
 * - A sender matches without regard to case, as the listing's --sender
 *   filter and the messages_sender index do; "" is the null sender, so
 *   an administrator can act on the bounces as a whole.
 */
#include <stddef.h>

#include "queue_priv.h"

static const char sql_resv_by_id[] =
	"SELECT msg_id, rcpt, resv FROM recipients WHERE msg_id = ?1"
	" AND (?2 < 0 OR rcpt = ?2) AND resv IS NOT NULL";
static const char sql_resv_by_sender[] =
	"SELECT r.msg_id, r.rcpt, r.resv FROM messages m"
	" JOIN recipients r ON r.msg_id = m.id"
	" WHERE m.sender = ?1 COLLATE NOCASE AND r.resv IS NOT NULL";

static int
admin_check(const char *key, const char **errstr)
{
	if (key == NULL) {
		*errstr = "queue: no queue id or sender";
		return -1;
	}
	return 0;
}

/* Binds ?1 = key (an id or a sender) and ?2... = ints, as many as st
 * takes. */
static void
admin_bind(sqlite3_stmt *st, const char *key, int nint, const int64_t *ints)
{
	int i, np = sqlite3_bind_parameter_count(st);

	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	for (i = 0; i < nint && 2 + i <= np; i++)
		sqlite3_bind_int64(st, 2 + i, ints[i]);
}

/*
 * Runs the UPDATE sql (?1 = key, ?2... = ints) and tells cb each row it
 * changed with the reservations the recipient held before, which
 * resv_sql (same parameters) reads first: the UPDATE clears them, and its
 * RETURNING sees only the new row.
 */
static int
admin_run(struct queue_txn *txn, const char *sql, const char *resv_sql,
    const char *what, const char *key, int nint, const int64_t *ints,
    queue_change_cb *cb, void *arg, const char **errstr)
{
	struct queue_db *d = queue_txn_conn(txn);
	struct queue_resv_old *old = NULL;
	sqlite3_stmt *st;
	int n;

	if (admin_check(key, errstr) == -1)
		return -1;
	if (cb != NULL) {
		if ((st = queue_db_stmt(d, resv_sql, errstr)) == NULL)
			return -1;
		admin_bind(st, key, nint, ints);
		if (queue_resv_collect(d, st, &old, errstr) == -1)
			return -1;
	}
	if ((st = queue_db_stmt(d, sql, errstr)) == NULL) {
		queue_resv_old_free(&old);
		return -1;
	}
	admin_bind(st, key, nint, ints);
	n = queue_resv_changes(d, st, what, old, cb, arg, errstr);
	queue_resv_old_free(&old);
	return n;
}

int
queue_txn_rcpt_hold(struct queue_txn *txn, const char *id, int rcpt,
    queue_change_cb *cb, void *arg, const char **errstr)
{
	int64_t ints[] = { rcpt };

	return admin_run(txn, "UPDATE recipients SET state = 3, resv = NULL"
	    " WHERE msg_id = ?1 AND (?2 < 0 OR rcpt = ?2)"
	    " AND state IN (0, 1, 2) RETURNING msg_id, rcpt, state, due",
	    sql_resv_by_id, "queue: hold", id, 1, ints, cb, arg, errstr);
}

int
queue_txn_rcpt_release(struct queue_txn *txn, const char *id, int rcpt,
    int64_t due, queue_change_cb *cb, void *arg, const char **errstr)
{
	int64_t ints[] = { rcpt, due };

	return admin_run(txn, "UPDATE recipients SET state = 0, due = ?3,"
	    " resv = NULL"
	    " WHERE msg_id = ?1 AND (?2 < 0 OR rcpt = ?2) AND state = 3"
	    " RETURNING msg_id, rcpt, state, due",
	    sql_resv_by_id, "queue: release", id, 2, ints, cb, arg, errstr);
}

int
queue_txn_flush(struct queue_txn *txn, int64_t now, queue_change_cb *cb,
    void *arg, const char **errstr)
{
	struct queue_db *d = queue_txn_conn(txn);
	sqlite3_stmt *st;

	if ((st = queue_db_stmt(d, "UPDATE recipients SET due = ?1"
	    " WHERE state = 2 AND due > ?1"
	    " RETURNING msg_id, rcpt, state, due", errstr)) == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, now);
	return queue_db_changes(d, st, "queue: flush", cb, arg, errstr);
}

int
queue_txn_hold_sender(struct queue_txn *txn, const char *sender,
    queue_change_cb *cb, void *arg, const char **errstr)
{
	return admin_run(txn, "UPDATE recipients SET state = 3, resv = NULL"
	    " WHERE state IN (0, 1, 2) AND msg_id IN (SELECT id FROM messages"
	    "  WHERE sender = ?1 COLLATE NOCASE)"
	    " RETURNING msg_id, rcpt, state, due", sql_resv_by_sender,
	    "queue: hold by sender", sender, 0, NULL, cb, arg, errstr);
}

int
queue_txn_release_sender(struct queue_txn *txn, const char *sender,
    int64_t due, queue_change_cb *cb, void *arg, const char **errstr)
{
	int64_t ints[] = { due };

	return admin_run(txn, "UPDATE recipients SET state = 0, due = ?2,"
	    " resv = NULL"
	    " WHERE state = 3 AND msg_id IN (SELECT id FROM messages"
	    "  WHERE sender = ?1 COLLATE NOCASE)"
	    " RETURNING msg_id, rcpt, state, due", sql_resv_by_sender,
	    "queue: release by sender", sender, 1, ints, cb, arg, errstr);
}

/*
 * Deletes the messages sql_msgs selects by ?1 = key, and first the
 * recipients of theirs that sql_rcpts selects (those not done), so that
 * their reservations can be told (a DELETE's RETURNING sees the old row);
 * the messages then take the done ones with them (the foreign key
 * cascades).  The number of messages, or -1.
 */
static int
admin_delete(struct queue_txn *txn, const char *sql_rcpts,
    const char *sql_msgs, const char *what, const char *key,
    queue_change_cb *cb, void *arg, const char **errstr)
{
	struct queue_db *d = queue_txn_conn(txn);
	sqlite3_stmt *st;

	if (admin_check(key, errstr) == -1)
		return -1;
	if ((st = queue_db_stmt(d, sql_rcpts, errstr)) == NULL)
		return -1;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	if (queue_db_changes(d, st, what, cb, arg, errstr) == -1)
		return -1;
	if ((st = queue_db_stmt(d, sql_msgs, errstr)) == NULL)
		return -1;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	return queue_db_changes(d, st, what, cb, arg, errstr);
}

int
queue_txn_delete(struct queue_txn *txn, const char *id, const char **errstr)
{
	return queue_txn_delete_cb(txn, id, NULL, NULL, errstr);
}

int
queue_txn_delete_cb(struct queue_txn *txn, const char *id,
    queue_change_cb *cb, void *arg, const char **errstr)
{
	int n;

	n = admin_delete(txn, "DELETE FROM recipients"
	    " WHERE msg_id = ?1 AND state <> 4"
	    " RETURNING msg_id, rcpt, 4, due, resv",
	    "DELETE FROM messages WHERE id = ?1 RETURNING id, NULL, 4, 0",
	    "queue: delete message", id, cb, arg, errstr);
	return n > 0 ? 1 : n;
}

int
queue_txn_delete_sender(struct queue_txn *txn, const char *sender,
    queue_change_cb *cb, void *arg, const char **errstr)
{
	return admin_delete(txn, "DELETE FROM recipients WHERE state <> 4"
	    " AND msg_id IN (SELECT id FROM messages"
	    "  WHERE sender = ?1 COLLATE NOCASE)"
	    " RETURNING msg_id, rcpt, 4, due, resv",
	    "DELETE FROM messages WHERE sender = ?1 COLLATE NOCASE"
	    " RETURNING id, NULL, 4, 0",
	    "queue: delete by sender", sender, cb, arg, errstr);
}

/* The reservations recipient rcpt of id holds now, when cb wants them. */
static int
admin_resv_of(struct queue_db *d, const char *id, int rcpt,
    queue_change_cb *cb, struct queue_resv_old **old, const char **errstr)
{
	int64_t ints[] = { rcpt };
	sqlite3_stmt *st;

	*old = NULL;
	if (cb == NULL)
		return 0;
	if ((st = queue_db_stmt(d, sql_resv_by_id, errstr)) == NULL)
		return -1;
	admin_bind(st, id, 1, ints);
	return queue_resv_collect(d, st, old, errstr);
}

int
queue_txn_rcpt_requeue(struct queue_txn *txn, const char *id, int rcpt,
    unsigned expect, const struct queue_rcpt_in *to, queue_change_cb *cb,
    void *arg, const char **errstr)
{
	struct queue_db *d = queue_txn_conn(txn);
	struct queue_resv_old *old = NULL;
	struct buf resv = BUF_INIT;
	sqlite3_stmt *st;
	int n = -1;

	if (id == NULL || rcpt < 0 || to == NULL ||
	    (unsigned)to->state >= QUEUE_DONE) {
		*errstr = "queue: requeue without queue id, recipient or a "
		    "pending state";
		return -1;
	}
	if (queue_resv_check(to, errstr) == -1 ||
	    admin_resv_of(d, id, rcpt, cb, &old, errstr) == -1)
		return -1;
	if ((st = queue_db_stmt(d, "UPDATE recipients SET state = ?3,"
	    " due = ?4, quota = ?5, qkey = ?6, expire = ?7, rflags = ?8,"
	    " resv = ?9 WHERE msg_id = ?1 AND rcpt = ?2"
	    " AND (?10 >> state) & 1 RETURNING msg_id, rcpt, state, due",
	    errstr)) == NULL)
		goto out;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, rcpt);
	sqlite3_bind_int(st, 3, (int)to->state);
	sqlite3_bind_int64(st, 4, to->due);
	/* a done recipient is never revived */
	sqlite3_bind_int64(st, 10, expect & ((1u << QUEUE_DONE) - 1));
	if (queue_bind_quota(st, 5, to, &resv, errstr) == -1) {
		queue_db_reset(st);
		goto out;
	}
	n = queue_resv_changes(d, st, "queue: requeue", old, cb, arg, errstr);
out:
	queue_resv_old_free(&old);
	buf_free(&resv);
	return n;
}
