/*
 * test_queue: the durable queue against a real SQLite database in a
 * temporary directory (removed at the end).  The writer runs as it does in
 * the daemon; tests wait for the done callbacks.  A few cases reach the
 * writer's connection through queue_priv.h to make SQLite fail on purpose
 * (a full database, a commit that fails).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "queue/queue.h"
#include "queue/queue_priv.h"
#include "tests/unit/t.h"

static char tmpdir[] = "/tmp/test_queue.XXXXXX";
static char dir_main[256];

/* ---- running jobs and waiting for them ---- */

struct waiter {
	pthread_mutex_t	lock;
	pthread_cond_t	cond;
	int		ndone;
	int		rc;
	char		err[256];
};

static void
waiter_init(struct waiter *wt)
{
	memset(wt, 0, sizeof(*wt));
	pthread_mutex_init(&wt->lock, NULL);
	pthread_cond_init(&wt->cond, NULL);
}

static void
waiter_fini(struct waiter *wt)
{
	pthread_mutex_destroy(&wt->lock);
	pthread_cond_destroy(&wt->cond);
}

static void
waiter_done(void *arg, int rc, const char *errstr)
{
	struct waiter *wt = arg;

	pthread_mutex_lock(&wt->lock);
	wt->ndone++;
	wt->rc = rc;
	snprintf(wt->err, sizeof(wt->err), "%s", errstr ? errstr : "");
	pthread_cond_signal(&wt->cond);
	pthread_mutex_unlock(&wt->lock);
}

static void
waiter_wait(struct waiter *wt, int n)
{
	pthread_mutex_lock(&wt->lock);
	while (wt->ndone < n)
		pthread_cond_wait(&wt->cond, &wt->lock);
	pthread_mutex_unlock(&wt->lock);
}

/* A job with its own waiter, for one job at a time. */
struct job {
	struct waiter		 wt;
	const struct queue_msg	*msg;
	const char		*id;
	const char		*sql;	/* for sql_job */
	bool			 fail_after;
};

static int
store_job(struct queue_txn *txn, void *arg, const char **errstr)
{
	struct job *j = arg;

	if (queue_txn_store(txn, j->msg, errstr) == -1)
		return -1;
	if (j->fail_after) {
		*errstr = "test: failing after the store";
		return -1;
	}
	return 0;
}

static int
delete_job(struct queue_txn *txn, void *arg, const char **errstr)
{
	struct job *j = arg;

	return queue_txn_delete(txn, j->id, errstr);
}

/* Runs j->sql (several statements) on the writer's connection. */
static int
sql_job(struct queue_txn *txn, void *arg, const char **errstr)
{
	struct job *j = arg;

	if (sqlite3_exec(queue_txn_db(txn), j->sql, NULL, NULL,
	    NULL) != SQLITE_OK) {
		*errstr = sqlite3_errmsg(queue_txn_db(txn));
		return -1;
	}
	return 0;
}

static int
run(struct queue_writer *w, queue_job_fn *fn, struct job *j)
{
	waiter_init(&j->wt);
	queue_writer_submit(w, fn, waiter_done, j);
	waiter_wait(&j->wt, 1);
	waiter_fini(&j->wt);
	return j->wt.rc;
}

static void
noop_done(void *arg, int rc, const char *errstr)
{
	(void)arg;
	(void)rc;
	(void)errstr;
}

/* A job that holds the writer until released, so that what is submitted
 * meanwhile lands in the next group together. */
struct gate {
	pthread_mutex_t	lock;
	pthread_cond_t	cond;
	bool		entered, open;
};

static int
gate_job(struct queue_txn *txn, void *arg, const char **errstr)
{
	struct gate *g = arg;

	(void)txn;
	(void)errstr;
	pthread_mutex_lock(&g->lock);
	g->entered = true;
	pthread_cond_broadcast(&g->cond);
	while (!g->open)
		pthread_cond_wait(&g->cond, &g->lock);
	pthread_mutex_unlock(&g->lock);
	return 0;
}

static void
gate_close(struct queue_writer *w, struct gate *g)
{
	memset(g, 0, sizeof(*g));
	pthread_mutex_init(&g->lock, NULL);
	pthread_cond_init(&g->cond, NULL);
	queue_writer_submit(w, gate_job, noop_done, g);
	pthread_mutex_lock(&g->lock);
	while (!g->entered)
		pthread_cond_wait(&g->cond, &g->lock);
	pthread_mutex_unlock(&g->lock);
}

static void
gate_open(struct gate *g)
{
	pthread_mutex_lock(&g->lock);
	g->open = true;
	pthread_cond_broadcast(&g->cond);
	pthread_mutex_unlock(&g->lock);
}

static void
gate_fini(struct gate *g)
{
	pthread_mutex_destroy(&g->lock);
	pthread_cond_destroy(&g->cond);
}

/* ---- messages ---- */

static const char full_body[] =
	"Received: from mta1\r\nSubject: t\r\n\r\nline\0with NUL\r\n.\r\n"
	"\xff\xfe binary\r\n";

static const struct queue_rcpt_in full_rcpts[] = {
	{ .addr = "a@example.net", .state = QUEUE_READY, .due = 1000 },
	{ .addr = "b@example.org", .state = QUEUE_DEFERRED, .due = 5000 },
	{ .addr = "c@example.com", .state = QUEUE_HOLD, .due = 3000 },
	{ .addr = "d@example.com", .state = QUEUE_DONE, .due = 100 },
};

static void
full_msg(struct queue_msg *m, const char *id)
{
	memset(m, 0, sizeof(*m));
	snprintf(m->id, sizeof(m->id), "%s", id);
	m->arrival = 1700000000;
	m->sender = "Alice@Example.com";
	m->flags = QUEUE_F_8BITMIME | QUEUE_F_SMTPUTF8;
	m->client_addr = "192.0.2.7";
	m->client_port = "40123";
	m->client_name = "client.example.com";
	m->client_helo = "[192.0.2.7]";
	m->client_proto = "ESMTP";
	m->client_ident = "ABC123";
	m->client_source = "REMOTE";
	m->peer_addr = "10.0.0.5";
	m->peer_helo = "mta1.example.com";
	m->sasl_user = "alice";
	m->rcpts = full_rcpts;
	m->nrcpt = sizeof(full_rcpts) / sizeof(full_rcpts[0]);
	m->body = full_body;
	m->body_len = sizeof(full_body) - 1;
}

static const struct queue_rcpt_in one_rcpt[] = {
	{ .addr = "x@example.net", .state = QUEUE_READY, .due = 10 },
};

static void
small_msg(struct queue_msg *m, const char *id, int64_t arrival,
    const char *sender)
{
	memset(m, 0, sizeof(*m));
	snprintf(m->id, sizeof(m->id), "%s", id);
	m->arrival = arrival;
	m->sender = sender;
	m->rcpts = one_rcpt;
	m->nrcpt = 1;
	m->body = "Subject: s\r\n\r\nhi\r\n";
	m->body_len = strlen(m->body);
}

static int
store(struct queue_writer *w, const struct queue_msg *m, char *err,
    size_t errsz)
{
	struct job j = { .msg = m };
	int rc = run(w, store_job, &j);

	if (err != NULL)
		snprintf(err, errsz, "%s", j.wt.err);
	return rc;
}

static int
delete_msg(struct queue_writer *w, const char *id)
{
	struct job j = { .id = id };

	return run(w, delete_job, &j);
}

static void
new_id(char id[QUEUE_ID_SIZE])
{
	static int64_t usec = 1700000000000000;

	queue_id_new(id, usec++);
}

/* ---- the cases ---- */

static void
test_ids(void)
{
	static const char *const bad[] = {
		"", "0123456789ABCDE", "0123456789ABCDEFG",
		"0123456789abcdef", "0123456789ABCDE-", "0123456789ABC EF",
	};
	char prev[QUEUE_ID_SIZE], id[QUEUE_ID_SIZE];
	int64_t base = 1700000000000000;
	int i, valid = 1, sorted = 1;

	queue_id_new(prev, base);
	for (i = 1; i < 100000; i++) {
		/* many ids per microsecond, and a clock that steps back */
		int64_t now = i == 50000 ? base : base + i / 7;

		queue_id_new(id, now);
		valid &= queue_id_is_valid(id);
		sorted &= strcmp(prev, id) < 0;
		memcpy(prev, id, sizeof(id));
	}
	T_OK(valid, "ids: 100000 valid");
	T_OK(sorted, "ids: 100000 strictly increasing, so unique");
	T_EQ_INT(strlen(prev), 16, "ids: 16 characters");
	queue_id_new(id, base + 10000000);
	T_OK(strncmp(prev, id, 11) < 0, "ids: a later time sorts later");
	for (i = 0; i < (int)(sizeof(bad) / sizeof(bad[0])); i++) {
		char name[64];

		snprintf(name, sizeof(name), "ids: \"%s\" invalid", bad[i]);
		T_OK(!queue_id_is_valid(bad[i]), name);
	}
	T_OK(!queue_id_is_valid(NULL), "ids: NULL invalid");
}

static void
test_state_names(void)
{
	static const char *const names[] = {
		"ready", "deferred", "retry", "hold", "done"
	};
	int i;

	for (i = 0; i <= QUEUE_DONE; i++) {
		T_EQ_STR(queue_state_name((enum queue_state)i), names[i],
		    "state name");
		T_EQ_INT(queue_state_from_name(names[i]), i, "state from name");
	}
	T_EQ_INT(queue_state_from_name("active"), -1, "state: unknown name");
	T_EQ_INT(queue_state_from_name(NULL), -1, "state: NULL name");
}

/* The columns queue_show does not return, read with a connection of our
 * own. */
static void
check_hidden_columns(const char *id)
{
	char path[300];
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;

	snprintf(path, sizeof(path), "%s/queue.db", dir_main);
	T_OK(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) ==
	    SQLITE_OK, "store: open a second reader");
	T_OK(sqlite3_prepare_v2(db, "SELECT client_port, client_ident,"
	    " client_source FROM messages WHERE id = ?1", -1, &st, NULL) ==
	    SQLITE_OK, "store: prepare");
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		T_EQ_STR((const char *)sqlite3_column_text(st, 0), "40123",
		    "store: client_port");
		T_EQ_STR((const char *)sqlite3_column_text(st, 1), "ABC123",
		    "store: client_ident");
		T_EQ_STR((const char *)sqlite3_column_text(st, 2), "REMOTE",
		    "store: client_source");
	} else
		T_OK(0, "store: row for the hidden columns");
	sqlite3_finalize(st);
	sqlite3_close(db);
}

static void
check_detail(const struct queue_detail *d, const struct queue_msg *m)
{
	size_t i;

	T_EQ_STR(d->info.id, m->id, "show: id");
	T_EQ_INT(d->info.arrival, m->arrival, "show: arrival");
	T_EQ_STR(d->info.sender, m->sender, "show: sender");
	T_EQ_INT(d->info.size, m->body_len, "show: size");
	T_EQ_INT(d->flags, m->flags, "show: flags");
	T_EQ_STR(d->client_addr, m->client_addr, "show: client_addr");
	T_EQ_STR(d->client_name, m->client_name, "show: client_name");
	T_EQ_STR(d->client_helo, m->client_helo, "show: client_helo");
	T_EQ_STR(d->client_proto, m->client_proto, "show: client_proto");
	T_EQ_STR(d->peer_addr, m->peer_addr, "show: peer_addr");
	T_EQ_STR(d->peer_helo, m->peer_helo, "show: peer_helo");
	T_EQ_STR(d->sasl_user, m->sasl_user, "show: sasl_user");
	T_EQ_INT(d->nrcpt, m->nrcpt, "show: nrcpt");
	T_EQ_INT(d->info.nrcpt, m->nrcpt, "show: info.nrcpt");
	T_EQ_INT(d->info.npending, 3, "show: npending");
	T_EQ_INT(d->info.next_due, 1000, "show: next_due of pending ones");
	T_EQ_INT(d->info.nstate[QUEUE_DEFERRED], 1, "show: nstate deferred");
	for (i = 0; i < d->nrcpt && i < m->nrcpt; i++) {
		T_EQ_STR(d->rcpts[i].addr, m->rcpts[i].addr, "show: rcpt addr");
		T_EQ_INT(d->rcpts[i].state, m->rcpts[i].state,
		    "show: rcpt state");
		T_EQ_INT(d->rcpts[i].due, m->rcpts[i].due, "show: rcpt due");
		T_EQ_INT(d->rcpts[i].attempts, 0, "show: rcpt attempts");
		T_EQ_STR(d->rcpts[i].last_reply, NULL, "show: last_reply");
	}
}

static void
test_roundtrip(struct queue *q, struct queue_writer *w)
{
	struct queue_msg m, nulls;
	struct queue_detail *d = NULL;
	const char *err = NULL;
	char id[QUEUE_ID_SIZE], id2[QUEUE_ID_SIZE], e[256], *body = NULL;
	size_t len = 0;

	new_id(id);
	full_msg(&m, id);
	T_EQ_INT(store(w, &m, e, sizeof(e)), 0, "store: full message");
	T_EQ_INT(queue_show(q, id, &d, &err), 1, "show: found");
	if (d != NULL)
		check_detail(d, &m);
	queue_detail_free(&d);
	T_OK(d == NULL, "show: free clears the pointer");
	queue_detail_free(&d);
	check_hidden_columns(id);
	T_EQ_INT(queue_body(q, id, &body, &len, &err), 1, "body: found");
	T_EQ_INT(len, m.body_len, "body: length (NUL bytes kept)");
	T_OK(body && memcmp(body, m.body, m.body_len) == 0,
	    "body: byte-exact");
	free(body);

	/* NULL optional fields come back NULL; an empty body and the null
	 * sender are kept as such */
	new_id(id2);
	small_msg(&nulls, id2, 1700000001, "");
	nulls.body = "";
	nulls.body_len = 0;
	T_EQ_INT(store(w, &nulls, NULL, 0), 0, "store: minimal message");
	T_EQ_INT(queue_show(q, id2, &d, &err), 1, "show: minimal found");
	if (d != NULL) {
		T_EQ_STR(d->info.sender, "", "show: null sender");
		T_EQ_STR(d->client_addr, NULL, "show: NULL client_addr");
		T_EQ_STR(d->sasl_user, NULL, "show: NULL sasl_user");
	}
	queue_detail_free(&d);
	T_EQ_INT(queue_body(q, id2, &body, &len, &err), 1, "body: empty");
	T_EQ_INT(len, 0, "body: empty length");
	free(body);

	/* a duplicate id is refused and the first message stays */
	full_msg(&m, id);
	m.body = "other";
	m.body_len = 5;
	T_EQ_INT(store(w, &m, e, sizeof(e)), -1, "store: duplicate refused");
	T_OK(strstr(e, "duplicate") != NULL, "store: says duplicate");
	T_EQ_INT(queue_body(q, id, &body, &len, &err), 1, "body: still there");
	T_EQ_INT(len, sizeof(full_body) - 1, "body: not overwritten");
	free(body);

	m.nrcpt = 0;
	T_EQ_INT(store(w, &m, e, sizeof(e)), -1, "store: no recipient refused");
	snprintf(m.id, sizeof(m.id), "lowercase0000000");
	m.nrcpt = 1;
	T_EQ_INT(store(w, &m, e, sizeof(e)), -1, "store: bad id refused");

	T_EQ_INT(delete_msg(w, id2), 1, "delete: done");
	T_EQ_INT(delete_msg(w, id2), 0, "delete: no such message");
	T_EQ_INT(queue_show(q, id2, &d, &err), 0, "show: deleted is gone");
	T_EQ_INT(queue_body(q, id2, &body, &len, &err), 0,
	    "body: deleted is gone");
	T_EQ_INT(delete_msg(w, id), 1, "delete: full message");
}

struct listing {
	int		n;
	char		ids[8][QUEUE_ID_SIZE];
	struct queue_info info[8];
};

static void
list_cb(const struct queue_info *info, void *arg)
{
	struct listing *l = arg;

	if (l->n < 8) {
		l->info[l->n] = *info;
		l->info[l->n].sender = NULL;	/* valid only during the call */
		memcpy(l->ids[l->n], info->id, QUEUE_ID_SIZE);
	}
	l->n++;
}

static void
test_list_stats(struct queue *q, struct queue_writer *w)
{
	struct queue_rcpt_in r2[] = {
		{ .addr = "p@x", .state = QUEUE_RETRY, .due = 700 },
		{ .addr = "q@x", .state = QUEUE_DONE, .due = 5 },
	};
	struct queue_msg a, b, c;
	struct listing l;
	struct queue_stats s;
	const char *err = NULL;
	char ida[QUEUE_ID_SIZE], idb[QUEUE_ID_SIZE], idc[QUEUE_ID_SIZE];

	new_id(ida);
	new_id(idb);
	new_id(idc);
	small_msg(&a, ida, 300, "bob@example.com");	/* stored first, */
	small_msg(&b, idb, 100, "carol@example.com");	/* listed later */
	b.rcpts = r2;
	b.nrcpt = 2;
	small_msg(&c, idc, 200, "bob@example.com");
	T_OK(store(w, &a, NULL, 0) == 0 && store(w, &b, NULL, 0) == 0 &&
	    store(w, &c, NULL, 0) == 0, "list: three stored");

	memset(&l, 0, sizeof(l));
	T_EQ_INT(queue_list(q, -1, NULL, list_cb, &l, &err), 0, "list: all");
	T_EQ_INT(l.n, 3, "list: all count");
	T_EQ_STR(l.ids[0], idb, "list: arrival order 1");
	T_EQ_STR(l.ids[1], idc, "list: arrival order 2");
	T_EQ_STR(l.ids[2], ida, "list: arrival order 3");
	T_EQ_INT(l.info[0].nrcpt, 2, "list: nrcpt");
	T_EQ_INT(l.info[0].npending, 1, "list: npending");
	T_EQ_INT(l.info[0].nstate[QUEUE_RETRY], 1, "list: nstate retry");
	T_EQ_INT(l.info[0].nstate[QUEUE_DONE], 1, "list: nstate done");
	T_EQ_INT(l.info[0].next_due, 700, "list: next_due skips done");
	T_EQ_INT(l.info[0].arrival, 100, "list: arrival");
	T_EQ_INT(l.info[0].size, b.body_len, "list: size");

	memset(&l, 0, sizeof(l));
	queue_list(q, QUEUE_RETRY, NULL, list_cb, &l, &err);
	T_EQ_INT(l.n, 1, "list: state filter");
	T_EQ_STR(l.ids[0], idb, "list: state filter finds it");
	memset(&l, 0, sizeof(l));
	queue_list(q, QUEUE_HOLD, NULL, list_cb, &l, &err);
	T_EQ_INT(l.n, 0, "list: state filter, none");
	memset(&l, 0, sizeof(l));
	queue_list(q, -1, "BOB@example.com", list_cb, &l, &err);
	T_EQ_INT(l.n, 2, "list: sender filter (any case)");
	T_EQ_STR(l.ids[0], idc, "list: sender filter order");
	memset(&l, 0, sizeof(l));
	queue_list(q, QUEUE_READY, "carol@example.com", list_cb, &l, &err);
	T_EQ_INT(l.n, 0, "list: state and sender filter");

	T_EQ_INT(queue_stats(q, &s, &err), 0, "stats: ok");
	T_EQ_INT(s.messages, 3, "stats: messages");
	T_EQ_INT(s.rcpts[QUEUE_READY], 2, "stats: ready");
	T_EQ_INT(s.rcpts[QUEUE_RETRY], 1, "stats: retry");
	T_EQ_INT(s.rcpts[QUEUE_DONE], 1, "stats: done");
	T_EQ_INT(s.bytes, a.body_len + b.body_len + c.body_len,
	    "stats: bytes");
	delete_msg(w, ida);
	delete_msg(w, idb);
	delete_msg(w, idc);
	queue_stats(q, &s, &err);
	T_EQ_INT(s.messages + s.rcpts[QUEUE_READY] + s.rcpts[QUEUE_DONE], 0,
	    "delete: cascade leaves nothing");
}

static bool
exists(struct queue *q, const char *id)
{
	struct queue_detail *d = NULL;
	const char *err = NULL;
	int rc = queue_show(q, id, &d, &err);

	queue_detail_free(&d);
	return rc == 1;
}

/* A job that fails after writing is rolled back to its savepoint alone:
 * the rest of its group is committed. */
static void
test_group_failure(struct queue *q, struct queue_writer *w)
{
	struct job j[4];
	struct queue_msg m[4];
	struct gate g;
	uint64_t c0, j0, c1, j1;
	int i;

	memset(j, 0, sizeof(j));
	queue_writer_counts(w, &c0, &j0);
	gate_close(w, &g);
	for (i = 0; i < 4; i++) {
		char id[QUEUE_ID_SIZE];

		new_id(id);
		small_msg(&m[i], id, 400 + i, "group@example.com");
		j[i].msg = &m[i];
		waiter_init(&j[i].wt);
	}
	j[1].fail_after = true;
	snprintf(m[3].id, sizeof(m[3].id), "%s", m[0].id);	/* duplicate */
	for (i = 0; i < 4; i++)
		queue_writer_submit(w, store_job, waiter_done, &j[i]);
	gate_open(&g);
	for (i = 0; i < 4; i++) {
		waiter_wait(&j[i].wt, 1);
		waiter_fini(&j[i].wt);
	}
	gate_fini(&g);
	queue_writer_counts(w, &c1, &j1);
	T_EQ_INT(j[0].wt.rc, 0, "group: first job committed");
	T_EQ_INT(j[1].wt.rc, -1, "group: failing job gets -1");
	T_EQ_STR(j[1].wt.err, "test: failing after the store",
	    "group: failing job's own errstr");
	T_EQ_INT(j[2].wt.rc, 0, "group: job after the failure committed");
	T_EQ_INT(j[3].wt.rc, -1, "group: duplicate in the group refused");
	T_OK(exists(q, m[0].id) && exists(q, m[2].id), "group: both stored");
	T_OK(!exists(q, m[1].id), "group: failed job's rows rolled back");
	T_EQ_INT(c1 - c0, 2, "group: gate and the four in two commits");
	T_EQ_INT(j1 - j0, 5, "group: jobs counted");
	delete_msg(w, m[0].id);
	delete_msg(w, m[2].id);
}

struct limit {
	struct waiter	wt;
	sqlite3_int64	old_max;
	int		extra;
};

static sqlite3_int64
pragma_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	sqlite3_int64 v = -1;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* Test hook: caps the database near its present size. */
static int
limit_job(struct queue_txn *txn, void *arg, const char **errstr)
{
	struct limit *l = arg;
	sqlite3 *db = queue_txn_db(txn);
	char sql[64];

	(void)errstr;
	l->old_max = pragma_int(db, "PRAGMA max_page_count");
	snprintf(sql, sizeof(sql), "PRAGMA max_page_count=%lld",
	    pragma_int(db, "PRAGMA page_count") + l->extra);
	pragma_int(db, sql);
	return 0;
}

static int
unlimit_job(struct queue_txn *txn, void *arg, const char **errstr)
{
	struct limit *l = arg;
	char sql[64];

	(void)errstr;
	snprintf(sql, sizeof(sql), "PRAGMA max_page_count=%lld",
	    (long long)l->old_max);
	pragma_int(queue_txn_db(txn), sql);
	return 0;
}

/* A small message that fits and the big one in the same group: the big
 * one fails; the small one is either committed or, if SQLite rolled the
 * whole transaction back, failed too: never reported stored but lost. */
static void
full_in_group(struct queue *q, struct queue_writer *w,
    const struct queue_msg *big)
{
	struct job small = { 0 }, large = { .msg = big };
	struct queue_msg m;
	struct gate g;
	char id[QUEUE_ID_SIZE];
	bool found;

	new_id(id);
	small_msg(&m, id, 501, "full@example.com");
	small.msg = &m;
	waiter_init(&small.wt);
	waiter_init(&large.wt);
	gate_close(w, &g);
	queue_writer_submit(w, store_job, waiter_done, &small);
	queue_writer_submit(w, store_job, waiter_done, &large);
	gate_open(&g);
	waiter_wait(&small.wt, 1);
	waiter_wait(&large.wt, 1);
	found = exists(q, id);
	T_EQ_INT(large.wt.rc, -1, "full in a group: big one fails");
	T_OK((small.wt.rc == 0) == found, "full in a group: small one "
	    "reported as it is");
	printf("# full in a group: small one rc %d (%s)\n", small.wt.rc,
	    small.wt.err);
	if (found)
		delete_msg(w, id);
	waiter_fini(&small.wt);
	waiter_fini(&large.wt);
	gate_fini(&g);
}

static void
test_disk_full(struct queue *q, struct queue_writer *w)
{
	static const size_t big = 4u << 20;
	struct limit l = { .extra = 4 };
	struct queue_msg m;
	struct queue_stats s0, s1;
	const char *err = NULL;
	char id[QUEUE_ID_SIZE], e[256], *body;

	queue_stats(q, &s0, &err);
	waiter_init(&l.wt);
	queue_writer_submit(w, limit_job, waiter_done, &l);
	waiter_wait(&l.wt, 1);
	waiter_fini(&l.wt);
	body = calloc(1, big);
	new_id(id);
	small_msg(&m, id, 500, "full@example.com");
	m.body = body;
	m.body_len = big;
	T_EQ_INT(store(w, &m, e, sizeof(e)), -1, "full: store fails");
	T_OK(strstr(e, "database or disk is full") != NULL,
	    "full: errstr says the disk is full");
	printf("# full: errstr \"%s\"\n", e);
	T_OK(!exists(q, id), "full: nothing half-stored");
	full_in_group(q, w, &m);
	queue_stats(q, &s1, &err);
	T_EQ_INT(s1.messages, s0.messages, "full: no message row");
	T_EQ_INT(s1.rcpts[QUEUE_READY], s0.rcpts[QUEUE_READY],
	    "full: no recipient row");

	waiter_init(&l.wt);
	queue_writer_submit(w, unlimit_job, waiter_done, &l);
	waiter_wait(&l.wt, 1);
	waiter_fini(&l.wt);
	T_EQ_INT(store(w, &m, e, sizeof(e)), 0, "full: stores once room");
	T_EQ_INT(delete_msg(w, id), 1, "full: delete the big one");
	free(body);
}

/* A COMMIT that fails (here a deferred foreign key; on a server a full
 * disk or an I/O error) fails every job of its group. */
static void
test_commit_failure(struct queue *q, struct queue_writer *w)
{
	struct job good = { 0 }, bad = { 0 };
	struct queue_msg m;
	struct gate g;
	char id[QUEUE_ID_SIZE];
	uint64_t c0, j0, c1, j1;

	new_id(id);
	small_msg(&m, id, 600, "commit@example.com");
	good.msg = &m;
	bad.sql = "PRAGMA defer_foreign_keys=ON;"
	    "INSERT INTO recipients (msg_id, rcpt, addr, state, due)"
	    " VALUES ('NOSUCHMESSAGE000', 0, 'z@x', 0, 0)";
	waiter_init(&good.wt);
	waiter_init(&bad.wt);
	queue_writer_counts(w, &c0, &j0);
	gate_close(w, &g);
	queue_writer_submit(w, store_job, waiter_done, &good);
	queue_writer_submit(w, sql_job, waiter_done, &bad);
	gate_open(&g);
	waiter_wait(&good.wt, 1);
	waiter_wait(&bad.wt, 1);
	queue_writer_counts(w, &c1, &j1);
	T_EQ_INT(good.wt.rc, -1, "commit fails: good job gets -1");
	T_EQ_INT(bad.wt.rc, -1, "commit fails: bad job gets -1");
	T_OK(strstr(good.wt.err, "commit failed") != NULL,
	    "commit fails: errstr says why");
	printf("# commit failure: errstr \"%s\"\n", good.wt.err);
	T_OK(!exists(q, id), "commit fails: nothing stored");
	T_EQ_INT(c1 - c0, 1, "commit fails: not counted as a commit");
	T_EQ_INT(store(w, &m, NULL, 0), 0, "commit fails: writer goes on");
	T_EQ_INT(delete_msg(w, id), 1, "commit fails: clean up");
	waiter_fini(&good.wt);
	waiter_fini(&bad.wt);
	gate_fini(&g);
}

#define NTHREAD		8
#define NPERTHREAD	250

struct cjob {
	struct queue_msg	 msg;
	atomic_int		 ndone;
	int			 rc;
	struct waiter		*wt;
};

struct submitter {
	struct queue_writer	*w;
	struct cjob		*jobs;
	struct waiter		 wt;
	pthread_t		 thread;
};

static void
cjob_done(void *arg, int rc, const char *errstr)
{
	struct cjob *c = arg;

	(void)errstr;
	c->rc = rc;
	atomic_fetch_add(&c->ndone, 1);
	waiter_done(c->wt, rc, errstr);
}

static int
cjob_fn(struct queue_txn *txn, void *arg, const char **errstr)
{
	struct cjob *c = arg;

	return queue_txn_store(txn, &c->msg, errstr);
}

/* As an SMTP session does: submit, wait for the done, next message. */
static void *
submitter_main(void *arg)
{
	struct submitter *s = arg;
	int i;

	for (i = 0; i < NPERTHREAD; i++) {
		s->jobs[i].wt = &s->wt;
		queue_writer_submit(s->w, cjob_fn, cjob_done, &s->jobs[i]);
		waiter_wait(&s->wt, i + 1);
	}
	return NULL;
}

static void
test_concurrent(struct queue *q, struct queue_writer *w)
{
	static struct submitter subs[NTHREAD];
	static struct cjob jobs[NTHREAD][NPERTHREAD];
	struct queue_stats s0, s;
	const char *err = NULL;
	uint64_t c0, j0, c1, j1, last = 0;
	int t, i, once = 1, ok = 1, reads = 0, monotonic = 1;

	queue_stats(q, &s0, &err);
	queue_writer_counts(w, &c0, &j0);
	for (t = 0; t < NTHREAD; t++) {
		subs[t].w = w;
		subs[t].jobs = jobs[t];
		waiter_init(&subs[t].wt);
		for (i = 0; i < NPERTHREAD; i++) {
			char id[QUEUE_ID_SIZE];

			new_id(id);
			small_msg(&jobs[t][i].msg, id, 1000 + i,
			    "many@example.com");
		}
	}
	for (t = 0; t < NTHREAD; t++)
		pthread_create(&subs[t].thread, NULL, submitter_main, &subs[t]);
	/* the reader keeps working while the writer commits */
	do {
		if (queue_stats(q, &s, &err) == -1)
			ok = 0;
		monotonic &= s.messages >= last;
		last = s.messages;
		reads++;
	} while (s.messages < s0.messages + NTHREAD * NPERTHREAD && ok);
	for (t = 0; t < NTHREAD; t++) {
		pthread_join(subs[t].thread, NULL);
		waiter_fini(&subs[t].wt);
	}
	queue_writer_counts(w, &c1, &j1);
	for (t = 0; t < NTHREAD; t++)
		for (i = 0; i < NPERTHREAD; i++) {
			once &= atomic_load(&jobs[t][i].ndone) == 1;
			ok &= jobs[t][i].rc == 0;
		}
	T_OK(ok, "concurrent: every job stored, reads never failed");
	T_OK(once, "concurrent: every done called exactly once");
	T_OK(monotonic && reads > 0, "concurrent: reads see commits grow");
	T_EQ_INT(j1 - j0, NTHREAD * NPERTHREAD, "concurrent: jobs counted");
	T_OK(c1 - c0 < j1 - j0, "concurrent: fewer commits than jobs");
	printf("# concurrent: %d jobs in %llu commits, %d reads meanwhile\n",
	    NTHREAD * NPERTHREAD, (unsigned long long)(c1 - c0), reads);
	queue_stats(q, &s, &err);
	T_EQ_INT(s.messages - s0.messages, NTHREAD * NPERTHREAD,
	    "concurrent: all messages there");
}

/* Leaves behind what a crash may: a message whose recipients are all
 * done, and one without recipients. */
static void
make_leftovers(struct queue_writer *w, char done_id[QUEUE_ID_SIZE])
{
	static const struct queue_rcpt_in done_rcpts[] = {
		{ .addr = "a@x", .state = QUEUE_DONE, .due = 0 },
		{ .addr = "b@x", .state = QUEUE_DONE, .due = 0 },
	};
	struct queue_msg m;
	struct job j = { 0 };

	new_id(done_id);
	small_msg(&m, done_id, 700, "left@example.com");
	m.rcpts = done_rcpts;
	m.nrcpt = 2;
	T_EQ_INT(store(w, &m, NULL, 0), 0, "recover: all-done message");
	j.sql = "INSERT INTO messages (id, arrival, sender, size, body)"
	    " VALUES ('0000000000NORCPT', 701, 'x@x', 0, x'')";
	T_EQ_INT(run(w, sql_job, &j), 0, "recover: message without rcpt");
}

static void
test_recover(struct queue **qp, struct queue_writer **wp)
{
	struct queue_stats before, after, s;
	struct queue_writer *w2 = NULL;
	const char *err = NULL;
	char done_id[QUEUE_ID_SIZE];

	make_leftovers(*wp, done_id);
	queue_stats(*qp, &before, &err);
	T_EQ_INT(queue_writer_start(&w2, *qp, &err), -1,
	    "writer: a second one is refused");
	T_EQ_INT(queue_recover(*qp, 0, &s, &err), -1,
	    "recover: refused while the writer runs");
	queue_writer_stop(wp);
	T_OK(*wp == NULL, "writer: stop clears the pointer");
	queue_close(qp);
	T_OK(*qp == NULL, "close: clears the pointer");

	T_EQ_INT(queue_open(qp, dir_main, &err), 0, "recover: reopen");
	if (*qp == NULL)
		return;
	queue_stats(*qp, &s, &err);
	T_EQ_INT(s.messages, before.messages, "recover: reopen sees all");
	T_EQ_INT(queue_recover(*qp, 1800000000, &after, &err), 0,
	    "recover: ok");
	T_EQ_INT(after.messages, before.messages - 2,
	    "recover: removes the two leftovers");
	T_EQ_INT(after.rcpts[QUEUE_DONE], before.rcpts[QUEUE_DONE] - 2,
	    "recover: and their recipients");
	T_OK(!exists(*qp, done_id), "recover: all-done message gone");
	T_OK(!exists(*qp, "0000000000NORCPT"), "recover: no-rcpt message gone");
	T_EQ_INT(after.rcpts[QUEUE_READY], before.rcpts[QUEUE_READY],
	    "recover: pending recipients kept");
	T_EQ_INT(queue_writer_start(wp, *qp, &err), 0, "recover: restart");
}

static void
write_file(const char *path, const void *data, size_t len, off_t off)
{
	FILE *f = fopen(path, off ? "r+b" : "wb");

	if (f == NULL)
		return;
	fseeko(f, off, SEEK_SET);
	fwrite(data, 1, len, f);
	fclose(f);
}

static void
test_bad_databases(void)
{
	struct queue *q = NULL;
	struct queue_writer *w = NULL;
	struct queue_stats s;
	struct queue_msg m;
	const char *err = NULL;
	char dir[256], path[300], junk[4096], id[QUEUE_ID_SIZE];
	sqlite3 *db = NULL;
	int i;

	memset(junk, 'Z', sizeof(junk));
	snprintf(dir, sizeof(dir), "%s/notadb", tmpdir);
	mkdir(dir, 0700);
	snprintf(path, sizeof(path), "%s/queue.db", dir);
	write_file(path, junk, sizeof(junk), 0);
	T_EQ_INT(queue_open(&q, dir, &err), -1, "bad: not a database");
	T_OK(err && strstr(err, "not a database"), "bad: says so");
	T_OK(q == NULL, "bad: no queue");

	snprintf(dir, sizeof(dir), "%s/nodir/deeper", tmpdir);
	T_EQ_INT(queue_open(&q, dir, &err), -1, "bad: missing directory");
	printf("# missing directory: %s\n", err);

	snprintf(dir, sizeof(dir), "%s/newer", tmpdir);
	mkdir(dir, 0700);
	snprintf(path, sizeof(path), "%s/queue.db", dir);
	T_EQ_INT(queue_open(&q, dir, &err), 0, "bad: create for newer");
	queue_close(&q);
	sqlite3_open(path, &db);
	sqlite3_exec(db, "PRAGMA user_version=99", NULL, NULL, NULL);
	sqlite3_close(db);
	T_EQ_INT(queue_open(&q, dir, &err), -1, "bad: newer schema refused");
	T_OK(err && strstr(err, "newer"), "bad: says newer");

	snprintf(dir, sizeof(dir), "%s/corrupt", tmpdir);
	mkdir(dir, 0700);
	snprintf(path, sizeof(path), "%s/queue.db", dir);
	if (queue_open(&q, dir, &err) == -1 ||
	    queue_writer_start(&w, q, &err) == -1) {
		T_OK(0, "bad: create for corrupt");
		queue_close(&q);
		return;
	}
	for (i = 0; i < 20; i++) {
		new_id(id);
		small_msg(&m, id, i, "c@example.com");
		m.body = junk;
		m.body_len = sizeof(junk);
		store(w, &m, NULL, 0);
	}
	queue_writer_stop(&w);
	queue_close(&q);
	write_file(path, junk, sizeof(junk), 2 * 4096);	/* page 3 */
	T_EQ_INT(queue_open(&q, dir, &err), 0, "corrupt: opens");
	if (q != NULL) {
		T_EQ_INT(queue_recover(q, 0, &s, &err), -1,
		    "corrupt: recover refuses");
		T_OK(err && strstr(err, "corrupt"), "corrupt: says so");
		printf("# corrupt: %s\n", err);
	}
	queue_close(&q);
}

int
main(void)
{
	struct queue *q = NULL;
	struct queue_writer *w = NULL;
	struct queue_stats s;
	struct stat sb;
	const char *err = NULL;
	char path[300];

	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(dir_main, sizeof(dir_main), "%s/main", tmpdir);
	mkdir(dir_main, 0700);
	test_ids();
	test_state_names();
	T_EQ_INT(queue_open(&q, dir_main, &err), 0, "open: creates");
	snprintf(path, sizeof(path), "%s/queue.db", dir_main);
	T_OK(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0600,
	    "open: database mode 0600");
	T_EQ_INT(queue_recover(q, 0, &s, &err), 0, "recover: empty");
	T_EQ_INT(s.messages, 0, "recover: empty stats");
	T_EQ_INT(queue_writer_start(&w, q, &err), 0, "writer: starts");
	if (q != NULL && w != NULL) {
		test_roundtrip(q, w);
		test_list_stats(q, w);
		test_group_failure(q, w);
		test_disk_full(q, w);
		test_commit_failure(q, w);
		test_concurrent(q, w);
		test_recover(&q, &w);
	}
	queue_writer_stop(&w);
	queue_writer_stop(&w);
	queue_close(&q);
	queue_close(&q);
	test_bad_databases();
	t_rmtree(tmpdir);
	T_OK(access(tmpdir, F_OK) == -1, "cleanup: temporary directory gone");
	return t_done();
}
