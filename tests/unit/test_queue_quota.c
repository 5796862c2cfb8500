/*
 * test_queue_quota: the durable quota counters and admin overrides of the
 * queue against real SQLite databases in a temporary directory.  Every
 * change goes through the writer thread as in the daemon, as a list of
 * operations run in one job; the state is read back with the start-up
 * loads and compared as one line of text ("quota|key|start|m/r/b ...",
 * with "|nN" when the window's notified is N, not 0).
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "queue/queue.h"
#include "queue/queue_priv.h"
#include "tests/unit/t.h"
#include "tests/unit/tq.h"

static char tmpdir[] = "/tmp/test_queue_quota.XXXXXX";

static int
tq_open(struct tq *t, const char *name)
{
	return tq_open_in(t, tmpdir, name);
}

/* ---- jobs: operations run in one job ---- */

enum op_kind {
	OP_STORE, OP_SET, OP_DEL, OP_OSET, OP_OCLR, OP_OADD, OP_FAIL
};

struct op {
	enum op_kind			 kind;
	const struct queue_counter	*rows;	/* OP_SET */
	size_t				 n;
	const char			*quota;	/* OP_DEL */
	const char			*key;	/* OP_DEL, OP_OSET(LR) */
	int				 ovr;	/* OP_OSET */
	uint64_t			 limit;
	int64_t				 now;
	const struct queue_msg		*msg;	/* OP_STORE */
	const struct queue_outbox_in	*ev;	/* OP_OADD */
};

#define SET_(r)		{ .kind = OP_SET, .rows = (r),		\
	.n = sizeof(r) / sizeof((r)[0]) }
#define DEL_(qu, k)	{ .kind = OP_DEL, .quota = (qu), .key = (k) }
#define OSET_(k, o, l, t) { .kind = OP_OSET, .key = (k), .ovr = (o),	\
	.limit = (l), .now = (t) }
#define OCLR_(k)	{ .kind = OP_OCLR, .key = (k) }
#define STORE_(m)	{ .kind = OP_STORE, .msg = (m) }
#define OADD_(e)	{ .kind = OP_OADD, .ev = (e) }
#define FAIL_		{ .kind = OP_FAIL }
#define NOPS(o)		(int)(sizeof(o) / sizeof((o)[0]))

struct job {
	const struct op	*ops;
	int		 nop;
	int		 rc[8];		/* each operation's result */
	int		 job_rc;
	char		 err[256];
};

static int
op_run(struct queue_txn *txn, const struct op *o, const char **errstr)
{
	switch (o->kind) {
	case OP_STORE:
		return queue_txn_store(txn, o->msg, errstr);
	case OP_SET:
		return queue_txn_counters_set(txn, o->rows, o->n, errstr);
	case OP_DEL:
		return queue_txn_counters_delete(txn, o->quota, o->key,
		    errstr);
	case OP_OSET:
		return queue_txn_override_set(txn, o->key, o->ovr, o->limit,
		    o->now, errstr);
	case OP_OCLR:
		return queue_txn_override_clear(txn, o->key, errstr);
	case OP_OADD:
		return queue_txn_outbox_add(txn, o->ev, NULL, errstr);
	case OP_FAIL:
		break;
	}
	*errstr = "test: failing on purpose";
	return -1;
}

static int
ops_job(struct queue_txn *txn, void *arg, const char **errstr)
{
	struct job *j = arg;
	int i;

	for (i = 0; i < j->nop; i++)
		if ((j->rc[i] = op_run(txn, &j->ops[i], errstr)) == -1)
			return -1;
	return 0;
}

/* Runs ops in one job and waits for its commit: the job's result. */
static int
run_ops(struct tq *t, struct job *j, const struct op *ops, int nop)
{
	memset(j, 0, sizeof(*j));
	j->ops = ops;
	j->nop = nop;
	j->job_rc = tq_run(t, ops_job, j, j->err, sizeof(j->err));
	return j->job_rc;
}

/* One operation in its own job: its result, or -1 when the job failed. */
static int
run1(struct tq *t, const struct op *o)
{
	struct job j;

	if (run_ops(t, &j, o, 1) == -1)
		return -1;
	return j.rc[0];
}

/* ---- reading the state back as text ---- */

static void
counter_cb(const struct queue_counter *c, void *arg)
{
	char line[256];
	int n;

	n = snprintf(line, sizeof(line), "%s|%s|%lld|%g/%g/%g", c->quota,
	    c->key, (long long)c->start, c->used[0], c->used[1], c->used[2]);
	if (c->notified != 0 && n >= 0 && (size_t)n < sizeof(line))
		snprintf(line + n, sizeof(line) - (size_t)n, "|n%u",
		    c->notified);
	tq_text_add(arg, line);
}

static void
override_cb(const struct queue_override *o, void *arg)
{
	char line[256];

	snprintf(line, sizeof(line), "%s|%d|%llu|%lld", o->key, o->kind,
	    (unsigned long long)o->limit, (long long)o->set_at);
	tq_text_add(arg, line);
}

/* The stored counters as one line; "ERROR" when the load fails. */
static const char *
counters(struct tq *t, struct tq_text *d)
{
	const char *err = NULL;

	memset(d, 0, sizeof(*d));
	if (queue_load_counters(t->q, counter_cb, d, &err) == -1)
		snprintf(d->s, sizeof(d->s), "ERROR %s", err);
	return d->s;
}

static const char *
overrides(struct tq *t, struct tq_text *d)
{
	const char *err = NULL;

	memset(d, 0, sizeof(*d));
	if (queue_load_overrides(t->q, override_cb, d, &err) == -1)
		snprintf(d->s, sizeof(d->s), "ERROR %s", err);
	return d->s;
}

/* ---- the cases ---- */

static void
test_set(void)
{
	static const struct queue_counter two[] = {
		{ "p/q", "alice@example.com", 3600, { 1, 2, 300 }, 0 },
		{ "p/q", "alice@example.com", 7200, { 0, 5, 0 }, 0 },
	};
	static const struct queue_counter replace[] = {
		{ "p/q", "alice@example.com", 7200, { 4, 6, 1e9 }, 0 },
	};
	static const struct queue_counter other[] = {
		{ "p/r", "alice@example.com", 0, { 0.25, 0, 0 }, 0 },
	};
	static const struct queue_counter zero[] = {
		{ "p/q", "alice@example.com", 7200, { 0, 0, 0 }, 0 },
	};
	static const struct queue_counter none[] = {
		{ "x", "y", 0, { 0 }, 0 },
	};
	const struct op ops[] = { SET_(two) };
	const struct op ops2[] = { SET_(replace), SET_(other) };
	const struct op op_zero[] = { SET_(zero) };
	const struct op op_empty[] = { { .kind = OP_SET, .rows = none } };
	struct tq_text d;
	struct job j;
	struct tq t;

	if (tq_open(&t, "set") == -1) {
		T_OK(0, "set: open");
		return;
	}
	T_EQ_STR(counters(&t, &d), "", "set: a new database has none");
	T_EQ_INT(run_ops(&t, &j, ops, NOPS(ops)), 0, "set: two windows");
	T_EQ_STR(counters(&t, &d), "p/q|alice@example.com|3600|1/2/300"
	    " p/q|alice@example.com|7200|0/5/0", "set: both stored");
	T_EQ_INT(run_ops(&t, &j, ops2, NOPS(ops2)), 0, "set: replace");
	T_EQ_STR(counters(&t, &d), "p/q|alice@example.com|7200|4/6/1e+09"
	    " p/r|alice@example.com|0|0.25/0/0",
	    "set: the key's old windows are gone, another quota's kept");
	T_EQ_INT(run_ops(&t, &j, op_zero, 1), 0, "set: all-zero row");
	T_EQ_STR(counters(&t, &d), "p/r|alice@example.com|0|0.25/0/0",
	    "set: an all-zero row only clears");
	T_EQ_INT(run_ops(&t, &j, op_empty, 1), 0, "set: no rows");
	T_EQ_STR(counters(&t, &d), "p/r|alice@example.com|0|0.25/0/0",
	    "set: no rows change nothing");
	tq_close(&t);
}

static void
test_set_many(void)
{
	static const struct queue_counter before[] = {
		{ "q1", "192.0.2.0/24", 10, { 9, 9, 9 }, 0 },
		{ "q1", "bob@example.com", 10, { 9, 9, 9 }, 0 },
		{ "q1", "keep@example.com", 10, { 1, 1, 1 }, 0 },
		{ "q2", "bob@example.com", 10, { 9, 9, 9 }, 0 },
	};
	/* Several keys in one call, one of them given twice apart. */
	static const struct queue_counter rows[] = {
		{ "q1", "bob@example.com", 20, { 1, 1, 100 }, 0 },
		{ "q1", "bob@example.com", 30, { 2, 2, 200 }, 0 },
		{ "q2", "bob@example.com", 20, { 3, 3, 300 }, 0 },
		{ "q1", "192.0.2.0/24", 20, { 4, 4, 400 }, 0 },
		{ "q1", "bob@example.com", 40, { 5, 5, 500 }, 0 },
	};
	const struct op ops[] = { SET_(before), SET_(rows) };
	struct tq_text d;
	struct job j;
	struct tq t;

	if (tq_open(&t, "many") == -1) {
		T_OK(0, "many: open");
		return;
	}
	T_EQ_INT(run_ops(&t, &j, ops, NOPS(ops)), 0, "many: set");
	T_EQ_STR(counters(&t, &d), "q1|192.0.2.0/24|20|4/4/400"
	    " q1|bob@example.com|20|1/1/100 q1|bob@example.com|30|2/2/200"
	    " q1|bob@example.com|40|5/5/500 q1|keep@example.com|10|1/1/1"
	    " q2|bob@example.com|20|3/3/300",
	    "many: every key replaced, rows apart kept, others untouched");
	tq_close(&t);
}

static void
test_set_errors(void)
{
	static const struct queue_counter start[] = {
		{ "q", "a", 1, { 1, 0, 0 }, 0 },
	};
	static const struct queue_counter twice[] = {
		{ "q", "a", 5, { 1, 0, 0 }, 0 },
		{ "q", "a", 5, { 2, 0, 0 }, 0 },
	};
	static const struct queue_counter nokey[] = {
		{ "q", NULL, 5, { 1, 0, 0 }, 0 },
	};
	static const struct queue_counter noquota[] = {
		{ NULL, "a", 5, { 1, 0, 0 }, 0 },
	};
	const struct op op_start[] = { SET_(start) };
	const struct op cases[][1] = {
		{ SET_(twice) }, { SET_(nokey) }, { SET_(noquota) },
		{ { .kind = OP_SET, .rows = NULL, .n = 1 } },
		{ DEL_("q", NULL) },
		{ OSET_(NULL, QUEUE_OVR_LIMIT, 1, 1) },
		{ OSET_("a", 0, 1, 1) },
		{ OSET_("a", 3, 1, 1) },
		{ OCLR_(NULL) },
	};
	static const char *const want_err[] = {
		"queue: a quota counter window given twice",
		"queue: quota counter without quota or key",
		"queue: quota counter without quota or key",
		"queue: quota counters without rows",
		"queue: quota counters without key",
		"queue: quota override without key",
		"queue: unknown kind of quota override",
		"queue: unknown kind of quota override",
		"queue: quota override without key",
	};
	char name[64];
	struct tq_text d;
	struct job j;
	struct tq t;
	size_t i;

	if (tq_open(&t, "errors") == -1) {
		T_OK(0, "errors: open");
		return;
	}
	run_ops(&t, &j, op_start, 1);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(name, sizeof(name), "errors: case %zu fails", i);
		T_EQ_INT(run_ops(&t, &j, cases[i], 1), -1, name);
		snprintf(name, sizeof(name), "errors: case %zu says why", i);
		T_EQ_STR(j.err, want_err[i], name);
	}
	T_EQ_STR(counters(&t, &d), "q|a|1|1/0/0",
	    "errors: a failed set leaves the stored windows as they were");
	T_EQ_STR(overrides(&t, &d), "", "errors: no override stored");
	tq_close(&t);
}

static void
test_delete(void)
{
	static const struct queue_counter rows[] = {
		{ "q1", "a", 1, { 1, 0, 0 }, 0 },
		{ "q1", "a", 2, { 1, 0, 0 }, 0 },
		{ "q1", "b", 1, { 1, 0, 0 }, 0 },
		{ "q2", "a", 1, { 1, 0, 0 }, 0 },
		{ "q3", "a", 1, { 1, 0, 0 }, 0 },
		{ "q3", "A", 1, { 1, 0, 0 }, 0 },
	};
	const struct op set[] = { SET_(rows) };
	const struct op del_q1[] = { DEL_("q1", "a") };
	const struct op del_again[] = { DEL_("q1", "a") };
	const struct op del_all[] = { DEL_(NULL, "a") };
	const struct op del_none[] = { DEL_(NULL, "nobody") };
	struct tq_text d;
	struct job j;
	struct tq t;

	if (tq_open(&t, "delete") == -1) {
		T_OK(0, "delete: open");
		return;
	}
	run_ops(&t, &j, set, 1);
	T_EQ_INT(run1(&t, del_q1), 2, "delete: by quota and key: 2 windows");
	T_EQ_STR(counters(&t, &d), "q1|b|1|1/0/0 q2|a|1|1/0/0 q3|A|1|1/0/0"
	    " q3|a|1|1/0/0", "delete: only that quota's key");
	T_EQ_INT(run1(&t, del_again), 0, "delete: again: none");
	T_EQ_INT(run1(&t, del_all), 2, "delete: key in every quota");
	T_EQ_STR(counters(&t, &d), "q1|b|1|1/0/0 q3|A|1|1/0/0",
	    "delete: keys compare as bytes (case kept apart)");
	T_EQ_INT(run1(&t, del_none), 0, "delete: unknown key: none");
	tq_close(&t);
}

/* Keys are network bytes: quotes, SQL, LIKE wildcards, non-UTF-8. */
static void
test_hostile_keys(void)
{
	static const struct queue_counter rows[] = {
		{ "q", "'; DROP TABLE quota_counter; --", 1, { 1, 0, 0 }, 0 },
		{ "q", "%", 1, { 2, 0, 0 }, 0 },
		{ "q", "\xff\xfe\x01 x", 1, { 3, 0, 0 }, 0 },
		{ "q\"x", "_", 1, { 4, 0, 0 }, 0 },
	};
	const struct op set[] = { SET_(rows) };
	const struct op del_pct[] = { DEL_(NULL, "%") };
	const struct op del_us[] = { DEL_("q\"x", "_") };
	const struct op oset[] = { OSET_("') --", QUEUE_OVR_EXEMPT, 0, 5) };
	struct tq_text d;
	struct job j;
	struct tq t;

	if (tq_open(&t, "hostile") == -1) {
		T_OK(0, "hostile: open");
		return;
	}
	T_EQ_INT(run_ops(&t, &j, set, 1), 0, "hostile: set");
	T_EQ_STR(counters(&t, &d), "q|%|1|2/0/0"
	    " q|'; DROP TABLE quota_counter; --|1|1/0/0"
	    " q|\xff\xfe\x01 x|1|3/0/0 q\"x|_|1|4/0/0",
	    "hostile: stored byte for byte, in byte order");
	T_EQ_INT(run1(&t, del_pct), 1, "hostile: % is no wildcard");
	T_EQ_INT(run1(&t, del_us), 1, "hostile: _ is no wildcard");
	T_EQ_STR(counters(&t, &d), "q|'; DROP TABLE quota_counter; --|1|1/0/0"
	    " q|\xff\xfe\x01 x|1|3/0/0", "hostile: the others kept");
	T_EQ_INT(run1(&t, oset), 0, "hostile: override");
	T_EQ_STR(overrides(&t, &d), "') --|2|0|5", "hostile: override kept");
	tq_close(&t);
}

static void
test_overrides(void)
{
	const struct op set[] = {
		OSET_("bob@example.com", QUEUE_OVR_LIMIT, 500, 1000),
		OSET_("alice@example.com", QUEUE_OVR_EXEMPT, 0, 1001),
		OSET_("192.0.2.0/24", QUEUE_OVR_LIMIT, UINT64_MAX, 1002),
	};
	const struct op replace[] = {
		OSET_("bob@example.com", QUEUE_OVR_EXEMPT, 0, 2000),
		OSET_("alice@example.com", QUEUE_OVR_LIMIT, 7, 2001),
	};
	const struct op clear[] = { OCLR_("bob@example.com") };
	struct tq_text d;
	struct job j;
	struct tq t;

	if (tq_open(&t, "overrides") == -1) {
		T_OK(0, "overrides: open");
		return;
	}
	T_EQ_STR(overrides(&t, &d), "", "overrides: none at first");
	T_EQ_INT(run_ops(&t, &j, set, NOPS(set)), 0, "overrides: set");
	T_EQ_STR(overrides(&t, &d), "192.0.2.0/24|1|18446744073709551615|1002"
	    " alice@example.com|2|0|1001 bob@example.com|1|500|1000",
	    "overrides: loaded by key, the biggest limit kept");
	T_EQ_INT(run_ops(&t, &j, replace, NOPS(replace)), 0,
	    "overrides: replace");
	T_EQ_STR(overrides(&t, &d), "192.0.2.0/24|1|18446744073709551615|1002"
	    " alice@example.com|1|7|2001 bob@example.com|2|0|2000",
	    "overrides: one per key");
	T_EQ_INT(run1(&t, clear), 1, "overrides: clear one that is");
	T_EQ_INT(run1(&t, clear), 0, "overrides: clear one that is not");
	T_EQ_STR(overrides(&t, &d), "192.0.2.0/24|1|18446744073709551615|1002"
	    " alice@example.com|1|7|2001", "overrides: cleared");
	tq_close(&t);
	if (tq_open(&t, "overrides") == -1) {
		T_OK(0, "overrides: reopen");
		return;
	}
	T_EQ_STR(overrides(&t, &d), "192.0.2.0/24|1|18446744073709551615|1002"
	    " alice@example.com|1|7|2001", "overrides: survive a reopen");
	tq_close(&t);
}

static const struct queue_rcpt_in one_rcpt[] = {
	{ .addr = "x@example.net", .state = QUEUE_READY, .due = 10 },
};

static void
small_msg(struct queue_msg *m, int64_t usec)
{
	memset(m, 0, sizeof(*m));
	queue_id_new(m->id, usec);
	m->arrival = usec / 1000000;
	m->sender = "alice@example.com";
	m->rcpts = one_rcpt;
	m->nrcpt = 1;
	m->body = "Subject: s\r\n\r\nhi\r\n";
	m->body_len = strlen(m->body);
}

static bool
has_msg(struct tq *t, const char *id)
{
	struct queue_detail *det = NULL;
	const char *err = NULL;
	int rc = queue_show(t->q, id, &det, &err);

	queue_detail_free(&det);
	return rc == 1;
}

/* The message and the counters that counted it: both or neither. */
static void
test_atomic(void)
{
	static const struct queue_counter first[] = {
		{ "q", "alice@example.com", 3600, { 1, 1, 20 }, 0 },
	};
	static const struct queue_counter second[] = {
		{ "q", "alice@example.com", 3600, { 2, 2, 40 }, 0 },
		{ "q", "192.0.2.7", 3600, { 1, 1, 20 }, 0 },
	};
	struct queue_msg m1, m2;
	struct tq_text d;
	struct job j;
	struct tq t;

	small_msg(&m1, 1700000000000000);
	small_msg(&m2, 1700000000000001);
	{
		const struct op ok[] = { STORE_(&m1), SET_(first) };
		const struct op bad[] = { STORE_(&m2), SET_(second), FAIL_ };

		if (tq_open(&t, "atomic") == -1) {
			T_OK(0, "atomic: open");
			return;
		}
		T_EQ_INT(run_ops(&t, &j, ok, NOPS(ok)), 0,
		    "atomic: message and counters stored");
		T_OK(has_msg(&t, m1.id), "atomic: the message is there");
		T_EQ_INT(run_ops(&t, &j, bad, NOPS(bad)), -1,
		    "atomic: a job that fails after both");
		T_EQ_INT(j.rc[1], 0, "atomic: its set had succeeded");
		T_OK(!has_msg(&t, m2.id), "atomic: its message is gone");
		T_EQ_STR(counters(&t, &d),
		    "q|alice@example.com|3600|1/1/20",
		    "atomic: and so are its counters");
	}
	tq_close(&t);
	if (tq_open(&t, "atomic") == -1) {
		T_OK(0, "atomic: reopen");
		return;
	}
	T_OK(has_msg(&t, m1.id) && !has_msg(&t, m2.id),
	    "atomic: after a reopen, the first message only");
	T_EQ_STR(counters(&t, &d), "q|alice@example.com|3600|1/1/20",
	    "atomic: after a reopen, the counters that counted it");
	tq_close(&t);
}

/*
 * notified, the alert threshold a window has announced, is stored as
 * given with the window and replaced with it; a window with nothing used
 * but an announcement is kept (after a restart it must not announce
 * again), one with neither only clears.
 */
static void
test_notified(void)
{
	static const struct queue_counter first[] = {
		{ "q", "a", 60, { 8, 8, 800 }, 80 },
		{ "q", "a", 120, { 0, 0, 0 }, 100 },
		{ "q", "b", 60, { 1, 0, 0 }, 0 },
		{ "r", "a", 60, { 0, 0, 0 }, UINT_MAX },
	};
	static const struct queue_counter lower[] = {
		{ "q", "a", 120, { 2, 0, 0 }, 0 },
	};
	static const struct queue_counter gone[] = {
		{ "r", "a", 60, { 0, 0, 0 }, 0 },
	};
	const struct op set1[] = { SET_(first) };
	const struct op set2[] = { SET_(lower) };
	const struct op set3[] = { SET_(gone) };
	const struct op del[] = { DEL_("q", "a") };
	struct tq_text d;
	struct job j;
	struct tq t;

	if (tq_open(&t, "notified") == -1) {
		T_OK(0, "notified: open");
		return;
	}
	T_EQ_INT(run_ops(&t, &j, set1, 1), 0, "notified: set");
	T_EQ_STR(counters(&t, &d), "q|a|60|8/8/800|n80 q|a|120|0/0/0|n100"
	    " q|b|60|1/0/0 r|a|60|0/0/0|n4294967295",
	    "notified: read back, a window without use kept");
	T_EQ_INT(run_ops(&t, &j, set2, 1), 0, "notified: replace");
	T_EQ_INT(run_ops(&t, &j, set3, 1), 0, "notified: clear");
	T_EQ_STR(counters(&t, &d), "q|a|120|2/0/0 q|b|60|1/0/0",
	    "notified: replaced as given, nothing and none only clears");
	tq_close(&t);
	T_EQ_INT(tq_sql(t.dir, "INSERT INTO quota_counter VALUES"
	    " ('s', 'neg', 1, 1, 0, 0, -5), ('s', 'big', 1, 1, 0, 0, 1 << 40);"
	    " UPDATE quota_counter SET notified = 50 WHERE key = 'b';"), 0,
	    "notified: rows made by hand");
	if (tq_open(&t, "notified") == -1) {
		T_OK(0, "notified: reopen");
		return;
	}
	T_EQ_STR(counters(&t, &d), "q|a|120|2/0/0 q|b|60|1/0/0|n50"
	    " s|big|1|1/0/0 s|neg|1|1/0/0",
	    "notified: kept by a reopen; what no unsigned holds reads 0");
	T_EQ_INT(run1(&t, del), 1, "notified: delete the key");
	T_EQ_STR(counters(&t, &d), "q|b|60|1/0/0|n50 s|big|1|1/0/0"
	    " s|neg|1|1/0/0", "notified: gone with its window");
	tq_close(&t);
}

/* A set per accepted message must not prepare statements each time. */
static void
test_no_prepare(void)
{
	static const struct queue_counter rows[] = {
		{ "q1", "a", 60, { 1, 1, 10 }, 0 },
		{ "q1", "a", 120, { 0, 0, 0 }, 0 },
		{ "q2", "b", 60, { 1, 1, 10 }, 0 },
	};
	const struct op set[] = { SET_(rows), DEL_("q3", "c"),
	    DEL_(NULL, "d") };
	size_t nslot;
	struct job j;
	struct tq t;
	int i, fails = 0;

	if (tq_open(&t, "prepare") == -1) {
		T_OK(0, "prepare: open");
		return;
	}
	run_ops(&t, &j, set, NOPS(set));
	nslot = t.q->w.nslot;
	for (i = 0; i < 50; i++)
		fails += run_ops(&t, &j, set, NOPS(set)) != 0;
	T_EQ_INT(fails, 0, "prepare: 50 jobs");
	T_EQ_INT(t.q->w.nslot, nslot, "prepare: no statement added");
	tq_close(&t);
}

/* The first column of the first row of sql on dir's database, read on a
 * connection of its own ("" when none). */
static const char *
db_text(const char *dir, const char *sql, char *out, size_t outsz)
{
	char path[300];
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;

	snprintf(path, sizeof(path), "%s/queue.db", dir);
	out[0] = '\0';
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) ==
	    SQLITE_OK && sqlite3_prepare_v2(db, sql, -1, &st, NULL) ==
	    SQLITE_OK && sqlite3_step(st) == SQLITE_ROW &&
	    sqlite3_column_text(st, 0) != NULL)
		snprintf(out, outsz, "%s", sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	sqlite3_close(db);
	return out;
}

/* The quota tables of dir's database ("" when none) and its schema
 * version (-1 when unreadable). */
static void
objects(const char *dir, char *out, size_t outsz, int *version)
{
	char v[32], *end;
	long l;

	db_text(dir, "SELECT group_concat(name, ' ') FROM (SELECT name FROM"
	    " sqlite_master WHERE name LIKE 'quota%' ORDER BY 1)", out, outsz);
	db_text(dir, "PRAGMA user_version", v, sizeof(v));
	l = strtol(v, &end, 10);
	*version = end != v && *end == '\0' ? (int)l : -1;
}

/*
 * A database without the quota tables (as sluice wrote them at schema 2)
 * gains them at open and keeps its messages and version; a newer one is
 * refused and not written.
 */
static void
test_old_database(void)
{
	static const struct queue_counter rows[] = {
		{ "q", "a", 1, { 1, 2, 3 }, 10 },
	};
	const struct op set[] = { SET_(rows) };
	struct queue_msg m;
	struct queue *q = NULL;
	struct tq_text d;
	struct job j;
	struct tq t;
	const char *err = NULL;
	char objs[256];
	int version;

	small_msg(&m, 1700000000000100);
	{
		const struct op store[] = { STORE_(&m) };

		if (tq_open(&t, "old") == -1) {
			T_OK(0, "old: create");
			return;
		}
		run_ops(&t, &j, store, 1);
		tq_close(&t);
	}
	T_EQ_INT(tq_sql(t.dir, "DROP TABLE quota_counter;"
	    " DROP TABLE quota_override;"), 0,
	    "old: a database without the quota tables");
	objects(t.dir, objs, sizeof(objs), &version);
	T_EQ_STR(objs, "", "old: without quota tables");
	T_EQ_INT(version, QUEUE_SCHEMA_VERSION, "old: at this version");
	if (tq_open(&t, "old") == -1) {
		T_OK(0, "old: opens");
		return;
	}
	objects(t.dir, objs, sizeof(objs), &version);
	T_EQ_STR(objs, "quota_counter quota_override", "old: tables added");
	T_EQ_INT(version, QUEUE_SCHEMA_VERSION, "old: version kept");
	T_OK(has_msg(&t, m.id), "old: its message kept");
	T_EQ_STR(counters(&t, &d), "", "old: no counters");
	T_EQ_STR(overrides(&t, &d), "", "old: no overrides");
	T_EQ_INT(run_ops(&t, &j, set, 1), 0, "old: counters set");
	T_EQ_STR(counters(&t, &d), "q|a|1|1/2/3|n10",
	    "old: counters stored, notified too");
	tq_close(&t);

	T_EQ_INT(tq_sql(t.dir, "DROP TABLE quota_counter;"
	    " DROP TABLE quota_override; PRAGMA user_version=99;"), 0,
	    "newer: a database from a later sluice");
	T_EQ_INT(queue_open(&q, t.dir, &err), -1, "newer: refused");
	T_OK(err != NULL && strstr(err, "newer") != NULL, "newer: says so");
	objects(t.dir, objs, sizeof(objs), &version);
	T_EQ_STR(objs, "", "newer: not written");
	queue_close(&q);
}

/* ---- schema version 4: notified and the outbox ---- */

static const char sql_counter_cols[] =
	"SELECT group_concat(name || ':' || type || ':' || \"notnull\" || ':'"
	" || coalesce(dflt_value, '-'), ' ') FROM pragma_table_info("
	"'quota_counter')";
static const char sql_outbox_cols[] =
	"SELECT group_concat(name || ':' || type || ':' || \"notnull\" || ':'"
	" || pk, ' ') FROM pragma_table_info('outbox')";
static const char sql_outbox_objects[] =
	"SELECT group_concat(name, ' ') FROM (SELECT name FROM sqlite_master"
	" WHERE name LIKE 'outbox%' ORDER BY 1)";

#define WANT_COUNTER_COLS "quota:TEXT:1:- key:TEXT:1:- start:INTEGER:1:-" \
	" messages:REAL:0:- recipients:REAL:0:- bytes:REAL:0:-"		\
	" notified:INTEGER:1:0"
#define WANT_OUTBOX_COLS "id:INTEGER:0:1 notifier:TEXT:1:0"		\
	" created:INTEGER:1:0 payload:BLOB:1:0"

/* The schemas older sluices wrote, as they wrote them.  Version 1 had no
 * quota tables; version 2 added quota_counter and quota_override without
 * a version step; version 3 added the quota columns of recipients. */
#define V1_TABLES							\
	"CREATE TABLE messages ("					\
	" id TEXT PRIMARY KEY NOT NULL, arrival INTEGER NOT NULL,"	\
	" sender TEXT NOT NULL, flags INTEGER NOT NULL DEFAULT 0,"	\
	" client_addr TEXT, client_port TEXT, client_name TEXT,"	\
	" client_helo TEXT, client_proto TEXT, client_ident TEXT,"	\
	" client_source TEXT, peer_addr TEXT, peer_helo TEXT,"		\
	" sasl_user TEXT, size INTEGER NOT NULL, body BLOB NOT NULL);"	\
	"CREATE INDEX messages_arrival ON messages(arrival, id);"	\
	"CREATE INDEX messages_sender ON messages(sender COLLATE NOCASE);" \
	"CREATE TABLE recipients ("					\
	" msg_id TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE," \
	" rcpt INTEGER NOT NULL, addr TEXT NOT NULL,"			\
	" state INTEGER NOT NULL, due INTEGER NOT NULL,"		\
	" attempts INTEGER NOT NULL DEFAULT 0, last_reply TEXT,"	\
	" PRIMARY KEY (msg_id, rcpt)) WITHOUT ROWID;"			\
	"CREATE INDEX recipients_state_due ON recipients(state, due);"	\
	"INSERT INTO messages (id, arrival, sender, size, body) VALUES"	\
	" ('0000000000OLD004', 500, 'old@example.com', 5, x'48656c6c6f');" \
	"INSERT INTO recipients (msg_id, rcpt, addr, state, due) VALUES" \
	" ('0000000000OLD004', 0, 'p@example.net', 0, 600);"
#define V2_TABLES							\
	"ALTER TABLE recipients ADD COLUMN first_attempt INTEGER;"	\
	"ALTER TABLE recipients ADD COLUMN last_attempt INTEGER;"	\
	"ALTER TABLE recipients ADD COLUMN dsn_status TEXT;"		\
	"CREATE INDEX recipients_pending_due ON recipients(due)"	\
	" WHERE state <> 4;"						\
	"CREATE TABLE quota_counter ("					\
	" quota TEXT NOT NULL,"						\
	" key TEXT NOT NULL,"						\
	" start INTEGER NOT NULL,"					\
	" messages REAL, recipients REAL, bytes REAL,"			\
	" PRIMARY KEY (quota, key, start)) WITHOUT ROWID;"		\
	"CREATE TABLE quota_override ("					\
	" key TEXT PRIMARY KEY NOT NULL,"				\
	" kind INTEGER NOT NULL,"					\
	" lim INTEGER NOT NULL,"					\
	" set_at INTEGER NOT NULL) WITHOUT ROWID;"			\
	"INSERT INTO quota_counter VALUES"				\
	" ('q', 'old@example.com', 3600, 1, 2, 300),"			\
	" ('q', 'z', 7200, 0.5, 0, 0);"
#define OLD_BEFORE	"q|old@example.com|3600|1/2/300 q|z|7200|0.5/0/0"
#define OLD_BEFORE_N	"q|old@example.com|3600|1/2/300"
#define NEW_AFTER	"q|z|7200|0.5/0/0|n80 q|z|10800|0/0/0|n100"
#define V3_TABLES							\
	"ALTER TABLE recipients ADD COLUMN quota TEXT;"			\
	"ALTER TABLE recipients ADD COLUMN qkey TEXT;"			\
	"ALTER TABLE recipients ADD COLUMN expire INTEGER;"		\
	"ALTER TABLE recipients ADD COLUMN resv BLOB;"			\
	"ALTER TABLE recipients ADD COLUMN rflags INTEGER NOT NULL"	\
	" DEFAULT 0;"

/* "schema4 CASE[ reopened]: WHAT" in buf. */
static const char *
case_name(char *buf, size_t sz, const char *c, int round, const char *what)
{
	snprintf(buf, sz, "schema4 %s%s: %s", c, round ? " reopened" : "",
	    what);
	return buf;
}

/*
 * Every way a database reaches version 4 but test_old_database's: new;
 * from 1 (no quota tables: queue_db.c creates quota_counter with notified
 * before the step, which must not add it again); from 2 and 3
 * (quota_counter without notified: the step adds it).  Each keeps its
 * message and counter windows (which read notified 0: no "|n"), gains the
 * outbox, stores notified and an event, and stays as it is when opened
 * again.
 */
static void
test_schema4(void)
{
	static const struct queue_counter set[] = {
		{ .quota = "q", .key = "z", .start = 7200,
		    .used = { 0.5, 0, 0 }, .notified = 80 },
		{ .quota = "q", .key = "z", .start = 10800, .notified = 100 },
	};
	static const struct queue_outbox_in ev = { "hook", "{}", 2, 5 };
	static const struct {
		const char	*name;
		const char	*sql;		/* NULL: a new database */
		const char	*before;	/* its counters */
		const char	*after;		/* once set */
	} cases[] = {
		{ "new", NULL, "", NEW_AFTER },
		{ "v1", V1_TABLES "PRAGMA user_version=1;", "", NEW_AFTER },
		{ "v2", V1_TABLES V2_TABLES "PRAGMA user_version=2;",
		    OLD_BEFORE, OLD_BEFORE_N " " NEW_AFTER },
		{ "v3", V1_TABLES V2_TABLES V3_TABLES "PRAGMA user_version=3;",
		    OLD_BEFORE, OLD_BEFORE_N " " NEW_AFTER },
	};
	const struct op ops[] = { SET_(set), OADD_(&ev) };
	char name[96], buf[512], dir[256];
	struct tq_text d;
	struct job j;
	struct tq t;
	size_t i;
	int round, version;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(dir, sizeof(dir), "%s/%s", tmpdir, cases[i].name);
		mkdir(dir, 0700);
		snprintf(name, sizeof(name), "schema4 %s: made by hand",
		    cases[i].name);
		if (cases[i].sql != NULL)
			T_EQ_INT(tq_sql(dir, cases[i].sql), 0, name);
		for (round = 0; round < 2; round++) {
#define NAME(what) case_name(name, sizeof(name), cases[i].name, round, (what))
			if (tq_open(&t, cases[i].name) == -1) {
				T_OK(0, NAME("opens"));
				break;
			}
			objects(dir, buf, sizeof(buf), &version);
			T_EQ_INT(version, QUEUE_SCHEMA_VERSION,
			    NAME("version"));
			T_EQ_STR(buf, "quota_counter quota_override",
			    NAME("quota tables"));
			T_EQ_STR(db_text(dir, sql_counter_cols, buf,
			    sizeof(buf)), WANT_COUNTER_COLS,
			    NAME("quota_counter columns"));
			T_EQ_STR(db_text(dir, sql_outbox_objects, buf,
			    sizeof(buf)), "outbox outbox_notifier",
			    NAME("outbox and its index"));
			T_EQ_STR(db_text(dir, sql_outbox_cols, buf,
			    sizeof(buf)), WANT_OUTBOX_COLS,
			    NAME("outbox columns"));
			T_EQ_INT(has_msg(&t, "0000000000OLD004"), i > 0,
			    NAME("its message"));
			if (round == 0) {
				T_EQ_STR(counters(&t, &d), cases[i].before,
				    NAME("old windows, notified 0"));
				T_EQ_INT(run_ops(&t, &j, ops, NOPS(ops)), 0,
				    NAME("set notified, add an event"));
			}
			T_EQ_STR(counters(&t, &d), cases[i].after,
			    NAME("notified stored"));
			T_EQ_STR(db_text(dir, "SELECT count(*) FROM outbox",
			    buf, sizeof(buf)), "1", NAME("the event stored"));
#undef NAME
			tq_close(&t);
		}
	}
}

int
main(void)
{
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	test_set();
	test_set_many();
	test_set_errors();
	test_delete();
	test_hostile_keys();
	test_overrides();
	test_atomic();
	test_notified();
	test_no_prepare();
	test_old_database();
	test_schema4();
	t_rmtree(tmpdir);
	T_OK(access(tmpdir, F_OK) == -1, "cleanup: temporary directory gone");
	return t_done();
}
