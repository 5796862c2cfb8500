/*
 * test_queue_outbox: the outbox of the queue (events waiting for a
 * notifier) against real SQLite databases in a temporary directory.  Every
 * change goes through the writer thread as in the daemon, as a list of
 * operations in one job; rows are read back with the loads and compared as
 * one line of text ("id|notifier|created|payload", the payload's bytes
 * other than printable ASCII as \xNN).  Schema version 4, which brings the
 * outbox, is test_queue_quota's test_schema4.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/xalloc.h"
#include "queue/queue.h"
#include "queue/queue_priv.h"
#include "tests/unit/t.h"
#include "tests/unit/tq.h"

static char tmpdir[] = "/tmp/test_queue_outbox.XXXXXX";

/* ---- jobs: a list of operations run in one job ---- */

enum op_kind { OP_ADD, OP_DEL, OP_DELN, OP_STORE, OP_FAIL };

struct op {
	enum op_kind			 kind;
	struct queue_outbox_in		 ev;	/* OP_ADD */
	int64_t				 id;	/* OP_DEL */
	const char			*notifier;	/* OP_DELN */
	const struct queue_msg		*msg;	/* OP_STORE */
};

#define ADD_(nf, p, t)	{ .kind = OP_ADD, .ev = { (nf), (p), sizeof(p) - 1, \
	(t) } }
#define DEL_(i)		{ .kind = OP_DEL, .id = (i) }
#define DELN_(nf)	{ .kind = OP_DELN, .notifier = (nf) }
#define FAIL_		{ .kind = OP_FAIL }
#define NOPS(o)		(int)(sizeof(o) / sizeof((o)[0]))

struct job {
	const struct op	*ops;
	int		 nop;
	int		 rc[8];		/* each operation's result */
	int64_t		 id[8];		/* each add's id */
	char		 err[256];
};

static int
op_run(struct queue_txn *txn, const struct op *o, int64_t *id,
    const char **errstr)
{
	switch (o->kind) {
	case OP_ADD:
		return queue_txn_outbox_add(txn, &o->ev, id, errstr);
	case OP_DEL:
		return queue_txn_outbox_delete(txn, o->id, errstr);
	case OP_DELN:
		return queue_txn_outbox_delete_notifier(txn, o->notifier,
		    errstr);
	case OP_STORE:
		return queue_txn_store(txn, o->msg, errstr);
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
		if ((j->rc[i] = op_run(txn, &j->ops[i], &j->id[i],
		    errstr)) == -1)
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
	return tq_run(t, ops_job, j, j->err, sizeof(j->err));
}

/* ---- reading the outbox back ---- */

/* What a load gave: its rows as text, whether each payload had its NUL,
 * and a copy of the last payload. */
struct got {
	struct tq_text	 t;
	int		 n;
	int		 no_nul;
	char		*last;
	size_t		 last_len;
};

static void
escape(char *out, size_t outsz, const char *p, size_t len)
{
	size_t i, o = 0;
	unsigned char c;

	out[0] = '\0';
	for (i = 0; i < len && o + 5 < outsz; i++) {
		c = (unsigned char)p[i];
		if (c > ' ' && c < 0x7f && c != '\\' && c != '|')
			out[o++] = (char)c;
		else
			o += (size_t)snprintf(out + o, outsz - o, "\\x%02x", c);
		out[o] = '\0';
	}
}

static void
outbox_cb(const struct queue_outbox_row *r, void *arg)
{
	struct got *g = arg;
	char line[512], pay[300];

	if (r->len <= 64)
		escape(pay, sizeof(pay), r->payload, r->len);
	else
		snprintf(pay, sizeof(pay), "<%zu bytes>", r->len);
	snprintf(line, sizeof(line), "%lld|%s|%lld|%s", (long long)r->id,
	    r->notifier, (long long)r->created, pay);
	tq_text_add(&g->t, line);
	g->n++;
	g->no_nul += r->payload[r->len] != '\0';
	free(g->last);
	g->last = xmalloc(r->len + 1);
	memcpy(g->last, r->payload, r->len + 1);
	g->last_len = r->len;
}

/* The rows with id > after, at most limit, as one line; "ERROR ..." when
 * the load fails (g->n is then -1). */
static const char *
outbox(struct tq *t, struct got *g, int64_t after, size_t limit)
{
	const char *err = NULL;
	int n;

	free(g->last);
	memset(g, 0, sizeof(*g));
	if ((n = queue_load_outbox(t->q, after, limit, outbox_cb, g,
	    &err)) == -1) {
		snprintf(g->t.s, sizeof(g->t.s), "ERROR %s", err);
		g->n = -1;
	} else if (n != g->n)
		snprintf(g->t.s, sizeof(g->t.s), "ERROR returned %d, gave %d",
		    n, g->n);
	return g->t.s;
}

static void
got_free(struct got *g)
{
	free(g->last);
	g->last = NULL;
}

static void
count_cb(const char *notifier, uint64_t n, void *arg)
{
	char line[128];

	snprintf(line, sizeof(line), "%s:%llu", notifier,
	    (unsigned long long)n);
	tq_text_add(arg, line);
}

static const char *
counts(struct tq *t, struct tq_text *d)
{
	const char *err = NULL;

	memset(d, 0, sizeof(*d));
	if (queue_outbox_counts(t->q, count_cb, d, &err) == -1)
		snprintf(d->s, sizeof(d->s), "ERROR %s", err);
	return d->s;
}

static int
tq_open(struct tq *t, const char *name)
{
	if (tq_open_in(t, tmpdir, name) == -1) {
		T_OK(0, name);
		return -1;
	}
	return 0;
}

/* ---- the cases ---- */

static void
test_add_load(void)
{
	const struct op ops[] = {
		ADD_("hook", "{\"a\":1}", 1000),
		ADD_("mail", "{\"b\":2}", 1001),
		ADD_("hook", "{\"c\":3}", 999),
	};
	struct tq_text d;
	struct got g = { 0 };
	struct job j;
	struct tq t;

	if (tq_open(&t, "add") == -1)
		return;
	T_EQ_STR(outbox(&t, &g, 0, 0), "", "add: a new outbox is empty");
	T_EQ_STR(counts(&t, &d), "", "add: no counts");
	T_EQ_INT(run_ops(&t, &j, ops, NOPS(ops)), 0, "add: three in a job");
	T_EQ_INT(j.id[0] * 100 + j.id[1] * 10 + j.id[2], 123,
	    "add: ids 1, 2, 3");
	T_EQ_STR(outbox(&t, &g, 0, 0), "1|hook|1000|{\"a\":1}"
	    " 2|mail|1001|{\"b\":2} 3|hook|999|{\"c\":3}",
	    "add: loaded in id order, created as given");
	T_EQ_INT(g.n, 3, "add: three rows given");
	T_EQ_INT(g.no_nul, 0, "add: each payload ends in a NUL");
	T_EQ_STR(counts(&t, &d), "hook:2 mail:1", "add: counts per notifier");
	got_free(&g);
	tq_close(&t);
}

/* after and limit page through the rows; each page is one snapshot. */
static void
test_paging(void)
{
	const struct op ops[] = {
		ADD_("n", "1", 1), ADD_("n", "2", 2), ADD_("n", "3", 3),
		ADD_("n", "4", 4), ADD_("n", "5", 5),
	};
	static const struct {
		int64_t		 after;
		size_t		 limit;
		const char	*want;
	} cases[] = {
		{ 0, 0, "1|n|1|1 2|n|2|2 3|n|3|3 4|n|4|4 5|n|5|5" },
		{ 0, 2, "1|n|1|1 2|n|2|2" },
		{ 2, 2, "3|n|3|3 4|n|4|4" },
		{ 4, 2, "5|n|5|5" },
		{ 5, 2, "" },
		{ 3, 0, "4|n|4|4 5|n|5|5" },
		{ -7, 1, "1|n|1|1" },
		{ 0, (size_t)-1, "1|n|1|1 2|n|2|2 3|n|3|3 4|n|4|4 5|n|5|5" },
		{ INT64_MAX, 0, "" },
	};
	char name[64];
	struct got g = { 0 };
	struct job j;
	struct tq t;
	size_t i;

	if (tq_open(&t, "paging") == -1)
		return;
	T_EQ_INT(run_ops(&t, &j, ops, NOPS(ops)), 0, "paging: five rows");
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(name, sizeof(name), "paging: after %lld limit %zu",
		    (long long)cases[i].after, cases[i].limit);
		T_EQ_STR(outbox(&t, &g, cases[i].after, cases[i].limit),
		    cases[i].want, name);
	}
	got_free(&g);
	tq_close(&t);
}

static void
test_delete(void)
{
	const struct op add[] = {
		ADD_("hook", "a", 1), ADD_("mail", "b", 2),
		ADD_("hook", "c", 3), ADD_("Hook", "d", 4),
		ADD_("hook2", "e", 5),
	};
	static const struct {
		struct op	 op;
		int		 want;
		const char	*rows;
		const char	*counts;
	} steps[] = {
		{ DEL_(2), 1, "1|hook|1|a 3|hook|3|c 4|Hook|4|d 5|hook2|5|e",
		    "Hook:1 hook:2 hook2:1" },
		{ DEL_(2), 0, NULL, NULL },
		{ DEL_(99), 0, NULL, NULL },
		{ DEL_(-1), 0, NULL, NULL },
		{ DELN_("nobody"), 0, NULL, NULL },
		{ DELN_("hook"), 2, "4|Hook|4|d 5|hook2|5|e",
		    "Hook:1 hook2:1" },
		{ DELN_("hook"), 0, NULL, NULL },
		{ DELN_("hook2"), 1, "4|Hook|4|d", "Hook:1" },
		{ DEL_(4), 1, "", "" },
	};
	char name[80];
	struct tq_text d;
	struct got g = { 0 };
	struct job j;
	struct tq t;
	size_t i;

	if (tq_open(&t, "delete") == -1)
		return;
	T_EQ_INT(run_ops(&t, &j, add, NOPS(add)), 0, "delete: five rows");
	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		snprintf(name, sizeof(name), "delete: step %zu gives %d", i,
		    steps[i].want);
		run_ops(&t, &j, &steps[i].op, 1);
		T_EQ_INT(j.rc[0], steps[i].want, name);
		if (steps[i].rows == NULL)
			continue;
		snprintf(name, sizeof(name), "delete: step %zu leaves", i);
		T_EQ_STR(outbox(&t, &g, 0, 0), steps[i].rows, name);
		snprintf(name, sizeof(name), "delete: step %zu counts", i);
		T_EQ_STR(counts(&t, &d), steps[i].counts, name);
	}
	got_free(&g);
	tq_close(&t);
}

/* An id is never given twice: not after the newest row is deleted, not
 * after the outbox was emptied and the queue reopened. */
static void
test_ids_grow(void)
{
	const struct op three[] = {
		ADD_("n", "a", 1), ADD_("n", "b", 2), ADD_("n", "c", 3),
	};
	const struct op del3[] = { DEL_(3) };
	const struct op one[] = { ADD_("n", "d", 4) };
	const struct op empty[] = { DELN_("n") };
	struct got g = { 0 };
	struct job j;
	struct tq t;

	if (tq_open(&t, "ids") == -1)
		return;
	run_ops(&t, &j, three, NOPS(three));
	T_EQ_INT(run_ops(&t, &j, del3, 1), 0, "ids: delete the newest");
	T_EQ_INT(run_ops(&t, &j, one, 1), 0, "ids: add after it");
	T_EQ_INT(j.id[0], 4, "ids: the deleted id is not reused");
	T_EQ_INT(run_ops(&t, &j, empty, 1), 0, "ids: empty the outbox");
	T_EQ_INT(j.rc[0], 3, "ids: three deleted");
	tq_close(&t);
	if (tq_open(&t, "ids") == -1)
		return;
	T_EQ_STR(outbox(&t, &g, 0, 0), "", "ids: empty after a reopen");
	T_EQ_INT(run_ops(&t, &j, one, 1), 0, "ids: add after a reopen");
	T_EQ_INT(j.id[0], 5, "ids: still growing after a reopen");
	T_EQ_STR(outbox(&t, &g, 0, 0), "5|n|4|d", "ids: the new row");
	got_free(&g);
	tq_close(&t);
}

/* Payloads are bytes: NULs, CR LF, high bytes, empty, the largest. */
static void
test_bytes(void)
{
	static const char nul[] = "a\0b\r\n\0\r\n.\r\n\xff\xfe";
	static const char hostile[] = "'; DROP TABLE outbox; --";
	static const struct {
		const char	*notifier;
		const char	*payload;
		size_t		 len;
		const char	*want;
	} cases[] = {
		{ "hook", nul, sizeof(nul) - 1, "|hook|7|a\\x00b\\x0d\\x0a"
		    "\\x00\\x0d\\x0a.\\x0d\\x0a\\xff\\xfe" },
		{ "hook", "", 0, "|hook|7|" },
		{ "hook", NULL, 0, "|hook|7|" },
		{ hostile, "%_", 2, "|'; DROP TABLE outbox; --|7|%_" },
		{ "\xc3\xa9t\xc3\xa9", "x", 1, "|\xc3\xa9t\xc3\xa9|7|x" },
	};
	char name[64], want[256];
	char *big;
	struct op o = { .kind = OP_ADD };
	struct got g = { 0 };
	struct job j;
	struct tq t;
	size_t i;

	if (tq_open(&t, "bytes") == -1)
		return;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		o.ev = (struct queue_outbox_in){ cases[i].notifier,
		    cases[i].payload, cases[i].len, 7 };
		snprintf(name, sizeof(name), "bytes: case %zu stored", i);
		T_EQ_INT(run_ops(&t, &j, &o, 1), 0, name);
		snprintf(name, sizeof(name), "bytes: case %zu read back", i);
		snprintf(want, sizeof(want), "%lld%s", (long long)j.id[0],
		    cases[i].want);
		T_EQ_STR(outbox(&t, &g, j.id[0] - 1, 1), want, name);
		snprintf(name, sizeof(name), "bytes: case %zu byte for byte",
		    i);
		T_OK(g.n == 1 && g.last_len == cases[i].len &&
		    (cases[i].len == 0 ||
		    memcmp(g.last, cases[i].payload, cases[i].len) == 0) &&
		    g.no_nul == 0, name);
	}
	big = xmalloc(QUEUE_OUTBOX_MAX);
	for (i = 0; i < QUEUE_OUTBOX_MAX; i++)
		big[i] = (char)(i * 7 + i / 256);
	o.ev = (struct queue_outbox_in){ "hook", big, QUEUE_OUTBOX_MAX, 8 };
	T_EQ_INT(run_ops(&t, &j, &o, 1), 0, "bytes: the largest payload");
	outbox(&t, &g, j.id[0] - 1, 0);
	T_OK(g.n == 1 && g.last_len == QUEUE_OUTBOX_MAX &&
	    memcmp(g.last, big, QUEUE_OUTBOX_MAX) == 0 && g.no_nul == 0,
	    "bytes: the largest read back byte for byte");
	free(big);
	got_free(&g);
	tq_close(&t);
}

static void
test_errors(void)
{
	static const char one[QUEUE_OUTBOX_MAX + 1];
	const struct op cases[] = {
		{ .kind = OP_ADD, .ev = { NULL, "x", 1, 1 } },
		{ .kind = OP_ADD, .ev = { "", "x", 1, 1 } },
		{ .kind = OP_ADD, .ev = { "hook", one, sizeof(one), 1 } },
		{ .kind = OP_ADD, .ev = { "hook", NULL, 1, 1 } },
		{ .kind = OP_ADD, .ev = { "hook", "x", SIZE_MAX, 1 } },
		DELN_(NULL),
		DELN_(""),
	};
	static const char *const want_err[] = {
		"queue: outbox event without notifier",
		"queue: outbox event without notifier",
		"queue: outbox payload too large",
		"queue: outbox event without payload",
		"queue: outbox payload too large",
		"queue: outbox event without notifier",
		"queue: outbox event without notifier",
	};
	char name[64];
	struct tq_text d;
	struct job j;
	struct tq t;
	size_t i;

	if (tq_open(&t, "errors") == -1)
		return;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(name, sizeof(name), "errors: case %zu fails", i);
		T_EQ_INT(run_ops(&t, &j, &cases[i], 1), -1, name);
		snprintf(name, sizeof(name), "errors: case %zu says why", i);
		T_EQ_STR(j.err, want_err[i], name);
	}
	T_EQ_STR(counts(&t, &d), "", "errors: nothing stored");
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

static int
nmsg(struct tq *t)
{
	struct queue_stats s;
	const char *err = NULL;

	return queue_stats(t->q, &s, &err) == -1 ? -1 : (int)s.messages;
}

/* The events go with the message that caused them: a job that fails
 * leaves neither; one that commits keeps both, across a reopen. */
static void
test_atomic(void)
{
	struct queue_msg m1, m2;
	struct tq_text d;
	struct got g = { 0 };
	struct job j;
	struct tq t;

	small_msg(&m1, 1700000000000000);
	small_msg(&m2, 1700000000000001);
	{
		const struct op ok[] = { { .kind = OP_STORE, .msg = &m1 },
		    ADD_("hook", "{\"m\":1}", 10), ADD_("mail", "m1", 10) };
		const struct op bad[] = { { .kind = OP_STORE, .msg = &m2 },
		    ADD_("hook", "{\"m\":2}", 11), FAIL_ };

		if (tq_open(&t, "atomic") == -1)
			return;
		T_EQ_INT(run_ops(&t, &j, ok, NOPS(ok)), 0,
		    "atomic: message and events");
		T_EQ_INT(run_ops(&t, &j, bad, NOPS(bad)), -1,
		    "atomic: a job that fails after both");
		T_EQ_INT(j.rc[1], 0, "atomic: its add had succeeded");
		T_EQ_INT(nmsg(&t), 1, "atomic: its message is gone");
		T_EQ_STR(outbox(&t, &g, 0, 0), "1|hook|10|{\"m\":1}"
		    " 2|mail|10|m1", "atomic: and so is its event");
	}
	tq_close(&t);
	if (tq_open(&t, "atomic") == -1)
		return;
	T_EQ_INT(nmsg(&t), 1, "atomic: after a reopen, the first message");
	T_EQ_STR(outbox(&t, &g, 0, 0), "1|hook|10|{\"m\":1} 2|mail|10|m1",
	    "atomic: after a reopen, its events");
	T_EQ_STR(counts(&t, &d), "hook:1 mail:1", "atomic: counts kept");
	got_free(&g);
	tq_close(&t);
}

/* Adding an event per accepted message must not prepare statements each
 * time. */
static void
test_no_prepare(void)
{
	const struct op ops[] = { ADD_("hook", "x", 1), ADD_("mail", "y", 1),
	    DEL_(1), DELN_("mail") };
	struct got g = { 0 };
	size_t wslot, rslot;
	struct job j;
	struct tq t;
	int i, fails = 0;

	if (tq_open(&t, "prepare") == -1)
		return;
	run_ops(&t, &j, ops, NOPS(ops));
	outbox(&t, &g, 0, 10);
	wslot = t.q->w.nslot;
	rslot = t.q->r.nslot;
	for (i = 0; i < 50; i++) {
		fails += run_ops(&t, &j, ops, NOPS(ops)) != 0;
		fails += strncmp(outbox(&t, &g, 0, 10), "ERROR", 5) == 0;
	}
	T_EQ_INT(fails, 0, "prepare: 50 jobs and loads");
	T_EQ_INT(t.q->w.nslot, wslot, "prepare: no writer statement added");
	T_EQ_INT(t.q->r.nslot, rslot, "prepare: no reader statement added");
	got_free(&g);
	tq_close(&t);
}

int
main(void)
{
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	test_add_load();
	test_paging();
	test_delete();
	test_ids_grow();
	test_bytes();
	test_errors();
	test_atomic();
	test_no_prepare();
	t_rmtree(tmpdir);
	T_OK(access(tmpdir, F_OK) == -1, "cleanup: temporary directory gone");
	return t_done();
}
