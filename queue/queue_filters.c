/*
 * queue_filters: the durable copy of the filters' records: greylisting's
 * triplets and auto-whitelisted or auto-blacklisted networks, the HELOs
 * clients gave, and accounting's counters per calendar period.
 *
 * queue/ knows nothing of the filters.  policy/ keeps their state in
 * memory and decides from it; relay/ converts the rows policy/ reports as
 * changed and writes them behind the decisions in writer jobs, and at
 * start-up loads them back into policy/.
 *
 * Invariants:
 * - A record is one row under its natural key (WITHOUT ROWID): an upsert
 *   updates it in place, a deletion removes it.  Nothing is added up
 *   here: policy/ owns the arithmetic, the store keeps its result.
 * - What an attacker controls: senders, recipients, HELO names and keys
 *   (and the networks and addresses of its peers).  They are bound as
 *   parameters, never formatted into SQL or into an error message,
 *   compared as bytes (BINARY), and bounded by QUEUE_FILTER_STR_MAX before
 *   SQLite sees them.
 * - A call checks all its rows before it writes one, so a bad row writes
 *   nothing; one that fails inside SQLite may leave part of its rows
 *   written, and the job fails with it and its savepoint (queue_writer.c)
 *   undoes them.
 * - The file stops growing once policy/'s clean-up keeps the records
 *   bounded: the pages a deletion frees go on SQLite's freelist and later
 *   inserts take them.  auto_vacuum stays off and nothing runs VACUUM or
 *   incremental_vacuum: pages given back would only be taken again.
 * - The tables are created at open (queue_db.c, queue_db_tables).
 * - Ownership: the strings a load hands to its callback belong to SQLite
 *   and live only during the call.
 */
#include <stdint.h>
#include <string.h>

#include "queue_priv.h"

static const char sql_triplet_put[] =
	"INSERT INTO grey_triplet (net, sender, rcpt, first_seen, last_seen,"
	" last_pass, tries, passes) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
	" ON CONFLICT (net, sender, rcpt) DO UPDATE SET"
	" first_seen = excluded.first_seen, last_seen = excluded.last_seen,"
	" last_pass = excluded.last_pass, tries = excluded.tries,"
	" passes = excluded.passes";
static const char sql_triplet_del[] =
	"DELETE FROM grey_triplet WHERE net = ?1 AND sender = ?2 AND rcpt = ?3";
static const char sql_auto_put[] =
	"INSERT INTO grey_auto (kind, net, first_seen, last_seen)"
	" VALUES (?1, ?2, ?3, ?4) ON CONFLICT (kind, net) DO UPDATE SET"
	" first_seen = excluded.first_seen, last_seen = excluded.last_seen";
static const char sql_auto_del[] =
	"DELETE FROM grey_auto WHERE kind = ?1 AND net = ?2";
static const char sql_helo_put[] =
	"INSERT INTO helo_seen (client, helo, last_seen) VALUES (?1, ?2, ?3)"
	" ON CONFLICT (client, helo) DO UPDATE SET"
	" last_seen = excluded.last_seen";
static const char sql_helo_del[] =
	"DELETE FROM helo_seen WHERE client = ?1 AND helo = ?2";
static const char sql_acct_put[] =
	"INSERT INTO acct_counter (acct, key, period, start, messages,"
	" recipients, bytes) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
	" ON CONFLICT (acct, key, period) DO UPDATE SET"
	" start = excluded.start, messages = excluded.messages,"
	" recipients = excluded.recipients, bytes = excluded.bytes";
static const char sql_acct_del[] =
	"DELETE FROM acct_counter WHERE acct = ?1 AND key = ?2 AND period = ?3";

static const char sql_triplet_load[] =
	"SELECT net, sender, rcpt, first_seen, last_seen, last_pass, tries,"
	" passes FROM grey_triplet ORDER BY net, sender, rcpt";
static const char sql_auto_load[] =
	"SELECT kind, net, first_seen, last_seen FROM grey_auto"
	" ORDER BY kind, net";
static const char sql_helo_load[] =
	"SELECT client, helo, last_seen FROM helo_seen ORDER BY client, helo";
static const char sql_acct_load[] =
	"SELECT acct, key, period, start, messages, recipients, bytes"
	" FROM acct_counter ORDER BY acct, key, period";
static const char sql_filters_stats[] =
	"SELECT (SELECT count(*) FROM grey_triplet),"
	" (SELECT count(*) FROM grey_auto WHERE kind = 1),"
	" (SELECT count(*) FROM grey_auto WHERE kind = 2),"
	" (SELECT count(*) FROM helo_seen),"
	" (SELECT count(*) FROM acct_counter)";
static const char sql_file_stats[] =
	"SELECT page_size, page_count, freelist_count FROM pragma_page_size(),"
	" pragma_page_count(), pragma_freelist_count()";
static const char sql_begin_read[] = "BEGIN";
static const char sql_end_read[] = "COMMIT";

/* used[] is the columns messages, recipients, bytes, in that order. */
#define ACCT_NUSED	3
_Static_assert(sizeof(((struct queue_acct_row *)0)->used) ==
    ACCT_NUSED * sizeof(uint64_t), "one column per used[]");

/* ---- checks ---- */

/* One string of row i of what: present, not empty unless empty_ok, at
 * most QUEUE_FILTER_STR_MAX bytes.  The message names the field, never
 * its bytes. */
static int
filt_str(const char *s, bool empty_ok, const char *what, size_t i,
    const char *field, const char **errstr)
{
	if (s == NULL || (!empty_ok && s[0] == '\0'))
		*errstr = queue_errf("queue: %s row %zu: %s %s", what, i,
		    field, s == NULL ? "missing" : "empty");
	else if (strnlen(s, QUEUE_FILTER_STR_MAX + 1) > QUEUE_FILTER_STR_MAX)
		*errstr = queue_errf("queue: %s row %zu: %s longer than %d "
		    "bytes", what, i, field, QUEUE_FILTER_STR_MAX);
	else
		return 0;
	return -1;
}

static int
filt_rows(const void *rows, size_t n, const char *what, const char **errstr)
{
	if (n > 0 && rows == NULL) {
		*errstr = queue_errf("queue: %s rows missing", what);
		return -1;
	}
	return 0;
}

static int
grey_check(const struct queue_grey_row *rows, size_t n, const char **errstr)
{
	const struct queue_grey_row *r;
	size_t i;

	if (filt_rows(rows, n, "greylisting", errstr) == -1)
		return -1;
	for (i = 0; i < n; i++) {
		r = &rows[i];
		if (r->kind != QUEUE_GREY_TRIPLET && r->kind != QUEUE_GREY_AWL &&
		    r->kind != QUEUE_GREY_ABL) {
			*errstr = queue_errf("queue: greylisting row %zu: "
			    "unknown kind %d", i, (int)r->kind);
			return -1;
		}
		if (filt_str(r->net, false, "greylisting", i, "net",
		    errstr) == -1)
			return -1;
		if (r->kind == QUEUE_GREY_TRIPLET &&
		    (filt_str(r->sender, true, "greylisting", i, "sender",
		    errstr) == -1 || filt_str(r->recipient, true,
		    "greylisting", i, "recipient", errstr) == -1))
			return -1;
	}
	return 0;
}

static int
helo_check(const struct queue_helo_row *rows, size_t n, const char **errstr)
{
	size_t i;

	if (filt_rows(rows, n, "HELO", errstr) == -1)
		return -1;
	for (i = 0; i < n; i++)
		if (filt_str(rows[i].client, false, "HELO", i, "client",
		    errstr) == -1 || filt_str(rows[i].helo, false, "HELO", i,
		    "helo", errstr) == -1)
			return -1;
	return 0;
}

static int
acct_check(const struct queue_acct_row *rows, size_t n, const char **errstr)
{
	size_t i;

	if (filt_rows(rows, n, "accounting", errstr) == -1)
		return -1;
	for (i = 0; i < n; i++)
		if (filt_str(rows[i].acct, false, "accounting", i, "acct",
		    errstr) == -1 || filt_str(rows[i].key, true, "accounting",
		    i, "key", errstr) == -1 || filt_str(rows[i].period, false,
		    "accounting", i, "period", errstr) == -1)
			return -1;
	return 0;
}

/* ---- writes, on the writer's connection ---- */

static void
bind_str(sqlite3_stmt *st, int col, const char *s)
{
	sqlite3_bind_text(st, col, s, -1, SQLITE_STATIC);
}

static int
grey_write(struct queue_db *d, const struct queue_grey_row *r,
    const char **errstr)
{
	bool triplet = r->kind == QUEUE_GREY_TRIPLET;
	sqlite3_stmt *st;

	if ((st = queue_db_stmt(d, triplet ?
	    (r->deleted ? sql_triplet_del : sql_triplet_put) :
	    (r->deleted ? sql_auto_del : sql_auto_put), errstr)) == NULL)
		return -1;
	if (triplet) {
		bind_str(st, 1, r->net);
		bind_str(st, 2, r->sender);
		bind_str(st, 3, r->recipient);
		if (!r->deleted) {
			sqlite3_bind_int64(st, 4, r->first_seen);
			sqlite3_bind_int64(st, 5, r->last_seen);
			sqlite3_bind_int64(st, 6, r->last_pass);
			sqlite3_bind_int64(st, 7, r->tries);
			sqlite3_bind_int64(st, 8, r->passes);
		}
	} else {
		sqlite3_bind_int(st, 1, (int)r->kind);
		bind_str(st, 2, r->net);
		if (!r->deleted) {
			sqlite3_bind_int64(st, 3, r->first_seen);
			sqlite3_bind_int64(st, 4, r->last_seen);
		}
	}
	return queue_db_step(d, st, "queue: store greylisting", errstr) ==
	    -1 ? -1 : 0;
}

int
queue_txn_grey_apply(struct queue_txn *txn, const struct queue_grey_row *rows,
    size_t n, const char **errstr)
{
	struct queue_db *d = queue_txn_conn(txn);
	size_t i;

	if (grey_check(rows, n, errstr) == -1)
		return -1;
	for (i = 0; i < n; i++)
		if (grey_write(d, &rows[i], errstr) == -1)
			return -1;
	return 0;
}

int
queue_txn_helo_apply(struct queue_txn *txn, const struct queue_helo_row *rows,
    size_t n, const char **errstr)
{
	struct queue_db *d = queue_txn_conn(txn);
	sqlite3_stmt *st;
	size_t i;

	if (helo_check(rows, n, errstr) == -1)
		return -1;
	for (i = 0; i < n; i++) {
		if ((st = queue_db_stmt(d, rows[i].deleted ? sql_helo_del :
		    sql_helo_put, errstr)) == NULL)
			return -1;
		bind_str(st, 1, rows[i].client);
		bind_str(st, 2, rows[i].helo);
		if (!rows[i].deleted)
			sqlite3_bind_int64(st, 3, rows[i].last_seen);
		if (queue_db_step(d, st, "queue: store HELO", errstr) == -1)
			return -1;
	}
	return 0;
}

static bool
acct_is_zero(const struct queue_acct_row *r)
{
	return r->used[0] == 0 && r->used[1] == 0 && r->used[2] == 0;
}

/* Deletes r's period (del) or upserts it: the rows changed, or -1. */
static int
acct_write(struct queue_db *d, const struct queue_acct_row *r, bool del,
    const char **errstr)
{
	sqlite3_stmt *st;
	int i;

	if ((st = queue_db_stmt(d, del ? sql_acct_del : sql_acct_put,
	    errstr)) == NULL)
		return -1;
	bind_str(st, 1, r->acct);
	bind_str(st, 2, r->key);
	bind_str(st, 3, r->period);
	if (!del) {
		sqlite3_bind_int64(st, 4, r->start);
		/* SQLite's integers are signed: a figure past INT64_MAX is
		 * stored negative and reads back the same. */
		for (i = 0; i < ACCT_NUSED; i++)
			sqlite3_bind_int64(st, 5 + i,
			    (sqlite3_int64)r->used[i]);
	}
	return queue_db_step(d, st, "queue: store accounting", errstr);
}

int
queue_txn_acct_set(struct queue_txn *txn, const struct queue_acct_row *rows,
    size_t n, const char **errstr)
{
	struct queue_db *d = queue_txn_conn(txn);
	size_t i;

	if (acct_check(rows, n, errstr) == -1)
		return -1;
	for (i = 0; i < n; i++)
		if (acct_write(d, &rows[i], acct_is_zero(&rows[i]),
		    errstr) == -1)
			return -1;
	return 0;
}

int
queue_txn_acct_delete(struct queue_txn *txn,
    const struct queue_acct_row *rows, size_t n, const char **errstr)
{
	struct queue_db *d = queue_txn_conn(txn);
	size_t i;
	int gone = 0, rc;

	if (acct_check(rows, n, errstr) == -1)
		return -1;
	for (i = 0; i < n; i++) {
		if ((rc = acct_write(d, &rows[i], true, errstr)) == -1)
			return -1;
		gone += rc;
	}
	return gone;
}

/* ---- start-up loads and counts, on the reader connection ---- */

/* The caller's callback, whichever the load. */
struct filt_load {
	queue_grey_cb	*grey;
	queue_helo_cb	*helo;
	queue_acct_cb	*acct;
	void		*arg;
};

/* Only this code writes these; a value no uint32_t holds (a hand-made
 * row) reads 0. */
static uint32_t
col_u32(sqlite3_stmt *st, int col)
{
	sqlite3_int64 v = sqlite3_column_int64(st, col);

	return v >= 0 && v <= UINT32_MAX ? (uint32_t)v : 0;
}

static void
triplet_row(sqlite3_stmt *st, void *arg)
{
	const struct filt_load *l = arg;
	struct queue_grey_row r = { .kind = QUEUE_GREY_TRIPLET };

	r.net = (const char *)sqlite3_column_text(st, 0);
	r.sender = (const char *)sqlite3_column_text(st, 1);
	r.recipient = (const char *)sqlite3_column_text(st, 2);
	r.first_seen = sqlite3_column_int64(st, 3);
	r.last_seen = sqlite3_column_int64(st, 4);
	r.last_pass = sqlite3_column_int64(st, 5);
	r.tries = col_u32(st, 6);
	r.passes = col_u32(st, 7);
	if (r.net != NULL && r.sender != NULL && r.recipient != NULL)
		l->grey(&r, l->arg);
}

/* A kind this code does not write (a hand-made row) is left out. */
static void
auto_row(sqlite3_stmt *st, void *arg)
{
	const struct filt_load *l = arg;
	struct queue_grey_row r = { .kind = QUEUE_GREY_AWL };
	int kind = sqlite3_column_int(st, 0);

	if (kind != QUEUE_GREY_AWL && kind != QUEUE_GREY_ABL)
		return;
	r.kind = (enum queue_grey_kind)kind;
	r.net = (const char *)sqlite3_column_text(st, 1);
	r.first_seen = sqlite3_column_int64(st, 2);
	r.last_seen = sqlite3_column_int64(st, 3);
	if (r.net != NULL)
		l->grey(&r, l->arg);
}

static void
helo_row(sqlite3_stmt *st, void *arg)
{
	const struct filt_load *l = arg;
	struct queue_helo_row r = { .deleted = false };

	r.client = (const char *)sqlite3_column_text(st, 0);
	r.helo = (const char *)sqlite3_column_text(st, 1);
	r.last_seen = sqlite3_column_int64(st, 2);
	if (r.client != NULL && r.helo != NULL)
		l->helo(&r, l->arg);
}

static void
acct_row(sqlite3_stmt *st, void *arg)
{
	const struct filt_load *l = arg;
	struct queue_acct_row r;
	int i;

	r.acct = (const char *)sqlite3_column_text(st, 0);
	r.key = (const char *)sqlite3_column_text(st, 1);
	r.period = (const char *)sqlite3_column_text(st, 2);
	r.start = sqlite3_column_int64(st, 3);
	for (i = 0; i < ACCT_NUSED; i++)
		r.used[i] = (uint64_t)sqlite3_column_int64(st, 4 + i);
	if (r.acct != NULL && r.key != NULL && r.period != NULL)
		l->acct(&r, l->arg);
}

/* Two tables in one read transaction: one snapshot, so a network's
 * triplets and its AWL or ABL entry agree even while the writer commits. */
int
queue_load_grey(struct queue *q, queue_grey_cb *cb, void *arg,
    const char **errstr)
{
	struct filt_load l = { .grey = cb, .arg = arg };
	const char *err2;
	int rc;

	if (queue_db_exec(&q->r, sql_begin_read, errstr) == -1)
		return -1;
	rc = queue_db_query(&q->r, sql_triplet_load, "queue: load greylisting",
	    triplet_row, &l, errstr);
	if (rc == 0)
		rc = queue_db_query(&q->r, sql_auto_load,
		    "queue: load greylisting", auto_row, &l, errstr);
	/* Nothing was written: ending the read cannot lose anything. */
	if (queue_db_exec(&q->r, sql_end_read, &err2) == -1 && rc == 0) {
		*errstr = err2;
		rc = -1;
	}
	return rc;
}

int
queue_load_helo(struct queue *q, queue_helo_cb *cb, void *arg,
    const char **errstr)
{
	struct filt_load l = { .helo = cb, .arg = arg };

	return queue_db_query(&q->r, sql_helo_load, "queue: load HELOs",
	    helo_row, &l, errstr);
}

int
queue_load_acct(struct queue *q, queue_acct_cb *cb, void *arg,
    const char **errstr)
{
	struct filt_load l = { .acct = cb, .arg = arg };

	return queue_db_query(&q->r, sql_acct_load, "queue: load accounting",
	    acct_row, &l, errstr);
}

/* The one row of n integers sql gives, into v (on the reader).  0 or -1
 * with *errstr. */
static int
filt_counts(struct queue *q, const char *sql, const char *what, uint64_t *v,
    int n, const char **errstr)
{
	struct queue_db *d = &q->r;
	sqlite3_stmt *st;
	int i;

	if ((st = queue_db_stmt(d, sql, errstr)) == NULL)
		return -1;
	if (sqlite3_step(st) != SQLITE_ROW) {
		*errstr = queue_db_err(d, what);
		queue_db_reset(st);
		return -1;
	}
	for (i = 0; i < n; i++)
		v[i] = (uint64_t)sqlite3_column_int64(st, i);
	queue_db_reset(st);
	return 0;
}

int
queue_filters_stats(struct queue *q, struct queue_filter_stats *fs,
    const char **errstr)
{
	uint64_t v[5];

	memset(fs, 0, sizeof(*fs));
	if (filt_counts(q, sql_filters_stats, "queue: filter stats", v, 5,
	    errstr) == -1)
		return -1;
	fs->grey_triplets = v[0];
	fs->grey_awl = v[1];
	fs->grey_abl = v[2];
	fs->helo = v[3];
	fs->acct = v[4];
	return 0;
}

int
queue_file_stats(struct queue *q, struct queue_file_stats *fs,
    const char **errstr)
{
	uint64_t v[3];

	memset(fs, 0, sizeof(*fs));
	if (filt_counts(q, sql_file_stats, "queue: file stats", v, 3,
	    errstr) == -1)
		return -1;
	fs->page_size = v[0];
	fs->pages = v[1];
	fs->free_pages = v[2];
	fs->bytes = v[0] * v[1];
	return 0;
}
