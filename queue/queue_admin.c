/*
 * queue_admin: what an administrator does to the queue (sluicectl queue
 * hold|release|delete|flush, by id or by sender), as changes inside the
 * writer's transaction.
 *
 * Invariants:
 * - Each operation is one UPDATE or DELETE ... RETURNING, so it is atomic
 *   within its job and its count is exactly the rows it changed; the rows
 *   are handed to the caller's callback so that the scheduler's in-memory
 *   schedule can follow without reading the store again.
 * - Done recipients are never touched: hold takes pending ones, release
 *   held ones, flush retried ones.  Quota deferrals are not flushed: a
 *   flush that sent them would break the quota's promise (DESIGN.md).
 * - A sender matches without regard to case, as the listing's --sender
 *   filter and the messages_sender index do; "" is the null sender, so
 *   an administrator can act on the bounces as a whole.
 */
#include <stddef.h>

#include "queue_priv.h"

static int
admin_check(const char *key, const char **errstr)
{
	if (key == NULL) {
		*errstr = "queue: no queue id or sender";
		return -1;
	}
	return 0;
}

/* Binds ?1 = key (an id or a sender) and ?2 = rcpt or ?2 = due, and runs
 * the statement. */
static int
admin_run(struct queue_txn *txn, const char *sql, const char *what,
    const char *key, int nint, const int64_t *ints, queue_change_cb *cb,
    void *arg, const char **errstr)
{
	struct queue_db *d = queue_txn_conn(txn);
	sqlite3_stmt *st;
	int i;

	if (admin_check(key, errstr) == -1)
		return -1;
	if ((st = queue_db_stmt(d, sql, errstr)) == NULL)
		return -1;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	for (i = 0; i < nint; i++)
		sqlite3_bind_int64(st, 2 + i, ints[i]);
	return queue_db_changes(d, st, what, cb, arg, errstr);
}

int
queue_txn_rcpt_hold(struct queue_txn *txn, const char *id, int rcpt,
    queue_change_cb *cb, void *arg, const char **errstr)
{
	int64_t ints[] = { rcpt };

	return admin_run(txn, "UPDATE recipients SET state = 3"
	    " WHERE msg_id = ?1 AND (?2 < 0 OR rcpt = ?2)"
	    " AND state IN (0, 1, 2) RETURNING msg_id, rcpt, state, due",
	    "queue: hold", id, 1, ints, cb, arg, errstr);
}

int
queue_txn_rcpt_release(struct queue_txn *txn, const char *id, int rcpt,
    int64_t due, queue_change_cb *cb, void *arg, const char **errstr)
{
	int64_t ints[] = { rcpt, due };

	return admin_run(txn, "UPDATE recipients SET state = 0, due = ?3"
	    " WHERE msg_id = ?1 AND (?2 < 0 OR rcpt = ?2) AND state = 3"
	    " RETURNING msg_id, rcpt, state, due",
	    "queue: release", id, 2, ints, cb, arg, errstr);
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
	return admin_run(txn, "UPDATE recipients SET state = 3"
	    " WHERE state IN (0, 1, 2) AND msg_id IN (SELECT id FROM messages"
	    "  WHERE sender = ?1 COLLATE NOCASE)"
	    " RETURNING msg_id, rcpt, state, due",
	    "queue: hold by sender", sender, 0, NULL, cb, arg, errstr);
}

int
queue_txn_release_sender(struct queue_txn *txn, const char *sender,
    int64_t due, queue_change_cb *cb, void *arg, const char **errstr)
{
	int64_t ints[] = { due };

	return admin_run(txn, "UPDATE recipients SET state = 0, due = ?2"
	    " WHERE state = 3 AND msg_id IN (SELECT id FROM messages"
	    "  WHERE sender = ?1 COLLATE NOCASE)"
	    " RETURNING msg_id, rcpt, state, due",
	    "queue: release by sender", sender, 1, ints, cb, arg, errstr);
}

int
queue_txn_delete_sender(struct queue_txn *txn, const char *sender,
    queue_change_cb *cb, void *arg, const char **errstr)
{
	return admin_run(txn, "DELETE FROM messages"
	    " WHERE sender = ?1 COLLATE NOCASE RETURNING id, NULL, 4, 0",
	    "queue: delete by sender", sender, 0, NULL, cb, arg, errstr);
}
