/*
 * test_queue_filters: the durable filter state of the queue (greylisting,
 * HELOs, accounting; queue/queue_filters.c) against real SQLite databases
 * in a temporary directory.  Every change goes through the writer thread
 * as in the daemon, as a list of operations in one job; the state is read
 * back with the start-up loads and compared as one line of text:
 *   T|net|sender|rcpt|first/last/last_pass|tries/passes  (a triplet)
 *   AWL|net|first/last  ABL|net|first/last
 *   client|helo|last_seen
 *   acct|key|period|start|messages/recipients/bytes
 * with bytes other than printable ASCII (and | and \) spelled \xNN.  The
 * simulated month drives a month of traffic through the API and checks
 * that the file stops growing once clean-up keeps the rows bounded.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/xalloc.h"
#include "queue/queue.h"
#include "queue/queue_priv.h"
#include "tests/unit/t.h"
#include "tests/unit/tq.h"

static char tmpdir[] = "/tmp/test_queue_filters.XXXXXX";

static int
tq_open(struct tq *t, const char *name)
{
	if (tq_open_in(t, tmpdir, name) == -1) {
		T_OK(0, name);
		return -1;
	}
	return 0;
}

/* ---- jobs: a list of operations run in one job ---- */

enum op_kind { OP_GREY, OP_HELO, OP_ASET, OP_ADEL, OP_FAIL };

struct op {
	enum op_kind	 kind;
	const void	*rows;
	size_t		 n;
	bool		 keep_going;	/* a failure is recorded, the job
					   goes on */
};

#define OP_(k, r)	{ .kind = (k), .rows = (r),			\
	.n = sizeof(r) / sizeof((r)[0]) }
#define GREY_(r)	OP_(OP_GREY, r)
#define HELO_(r)	OP_(OP_HELO, r)
#define ASET_(r)	OP_(OP_ASET, r)
#define ADEL_(r)	OP_(OP_ADEL, r)
#define FAIL_		{ .kind = OP_FAIL }
#define NOPS(o)		(int)(sizeof(o) / sizeof((o)[0]))

struct job {
	const struct op	*ops;
	int		 nop;
	int		 rc[8];		/* each operation's result */
	char		 err[256];	/* the job's message */
	char		 op_err[256];	/* the last kept-going failure's */
};

static int
op_run(struct queue_txn *txn, const struct op *o, const char **errstr)
{
	switch (o->kind) {
	case OP_GREY:
		return queue_txn_grey_apply(txn, o->rows, o->n, errstr);
	case OP_HELO:
		return queue_txn_helo_apply(txn, o->rows, o->n, errstr);
	case OP_ASET:
		return queue_txn_acct_set(txn, o->rows, o->n, errstr);
	case OP_ADEL:
		return queue_txn_acct_delete(txn, o->rows, o->n, errstr);
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

	for (i = 0; i < j->nop; i++) {
		if ((j->rc[i] = op_run(txn, &j->ops[i], errstr)) != -1)
			continue;
		if (!j->ops[i].keep_going)
			return -1;
		snprintf(j->op_err, sizeof(j->op_err), "%s", *errstr);
	}
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

/* ---- reading the state back as text ---- */

/* s with bytes other than printable ASCII, | and \ as \xNN. */
static const char *
esc(char *out, size_t outsz, const char *s)
{
	size_t o = 0;
	unsigned char c;

	for (out[0] = '\0'; *s != '\0' && o + 5 < outsz; s++) {
		c = (unsigned char)*s;
		if (c >= ' ' && c < 0x7f && c != '|' && c != '\\')
			out[o++] = (char)c;
		else
			o += (size_t)snprintf(out + o, outsz - o, "\\x%02x", c);
		out[o] = '\0';
	}
	return out;
}

/* What a load gave, and loaded rows that broke a promise (deleted set,
 * an AWL or ABL row with a sender or figures). */
struct got {
	struct tq_text	 t;
	int		 n;
	int		 odd;
	size_t		 bytes;		/* of the strings */
};

static void
grey_cb(const struct queue_grey_row *r, void *arg)
{
	static const char *const kinds[] = { "T", "AWL", "ABL" };
	struct got *g = arg;
	char line[512], a[128], b[128], c[128];

	g->n++;
	g->odd += r->deleted;
	g->bytes += strlen(r->net);
	if (r->kind != QUEUE_GREY_TRIPLET) {
		g->odd += r->sender != NULL || r->recipient != NULL ||
		    r->last_pass != 0 || r->tries != 0 || r->passes != 0;
		snprintf(line, sizeof(line), "%s|%s|%lld/%lld", kinds[r->kind],
		    esc(a, sizeof(a), r->net), (long long)r->first_seen,
		    (long long)r->last_seen);
	} else {
		g->bytes += strlen(r->sender) + strlen(r->recipient);
		snprintf(line, sizeof(line), "T|%s|%s|%s|%lld/%lld/%lld|%u/%u",
		    esc(a, sizeof(a), r->net), esc(b, sizeof(b), r->sender),
		    esc(c, sizeof(c), r->recipient), (long long)r->first_seen,
		    (long long)r->last_seen, (long long)r->last_pass,
		    r->tries, r->passes);
	}
	tq_text_add(&g->t, line);
}

static void
helo_cb(const struct queue_helo_row *r, void *arg)
{
	struct got *g = arg;
	char line[512], a[128], b[128];

	g->n++;
	g->odd += r->deleted;
	g->bytes += strlen(r->client) + strlen(r->helo);
	snprintf(line, sizeof(line), "%s|%s|%lld", esc(a, sizeof(a),
	    r->client), esc(b, sizeof(b), r->helo), (long long)r->last_seen);
	tq_text_add(&g->t, line);
}

static void
acct_cb(const struct queue_acct_row *r, void *arg)
{
	struct got *g = arg;
	char line[512], a[128], b[128], c[128];

	g->n++;
	g->bytes += strlen(r->acct) + strlen(r->key) + strlen(r->period);
	snprintf(line, sizeof(line), "%s|%s|%s|%lld|%llu/%llu/%llu",
	    esc(a, sizeof(a), r->acct), esc(b, sizeof(b), r->key),
	    esc(c, sizeof(c), r->period), (long long)r->start,
	    (unsigned long long)r->used[0], (unsigned long long)r->used[1],
	    (unsigned long long)r->used[2]);
	tq_text_add(&g->t, line);
}

enum table { TB_GREY, TB_HELO, TB_ACCT };

/* One table's rows as one line; "ERROR ..." when the load fails. */
static const char *
load(struct tq *t, enum table tb, struct got *g)
{
	const char *err = NULL;
	int rc;

	memset(g, 0, sizeof(*g));
	if (tb == TB_GREY)
		rc = queue_load_grey(t->q, grey_cb, g, &err);
	else if (tb == TB_HELO)
		rc = queue_load_helo(t->q, helo_cb, g, &err);
	else
		rc = queue_load_acct(t->q, acct_cb, g, &err);
	if (rc == -1)
		snprintf(g->t.s, sizeof(g->t.s), "ERROR %s", err);
	return g->t.s;
}

/* The row counts as "triplets/awl/abl helo acct". */
static const char *
counts(struct tq *t, char *buf, size_t bufsz)
{
	struct queue_filter_stats fs;
	const char *err = NULL;

	if (queue_filters_stats(t->q, &fs, &err) == -1)
		snprintf(buf, bufsz, "ERROR %s", err);
	else
		snprintf(buf, bufsz, "%llu/%llu/%llu %llu %llu",
		    (unsigned long long)fs.grey_triplets,
		    (unsigned long long)fs.grey_awl,
		    (unsigned long long)fs.grey_abl,
		    (unsigned long long)fs.helo, (unsigned long long)fs.acct);
	return buf;
}

/* ---- the cases ---- */

#define TRIP(n, s, r, f, l, p, tr, pa)	{ QUEUE_GREY_TRIPLET, false, (n), \
	(s), (r), (f), (l), (p), (tr), (pa) }
#define TRIP_DEL(n, s, r)	{ QUEUE_GREY_TRIPLET, true, (n), (s), (r), \
	0, 0, 0, 0, 0 }
#define AUTO(k, n, f, l)	{ (k), false, (n), NULL, NULL, (f), (l), \
	0, 0, 0 }
#define AUTO_DEL(k, n)		{ (k), true, (n), NULL, NULL, 0, 0, 0, 0, 0 }

static void
test_grey(void)
{
	static const struct queue_grey_row first[] = {
		TRIP("192.0.2.0/24", "b@x.example", "r@y.example", 100, 100,
		    0, 1, 0),
		TRIP("192.0.2.0/24", "", "r@y.example", 101, 101, 0, 1, 0),
		TRIP("10.0.0.0/8", "a@x.example", "r@y.example", 102, 160,
		    160, 2, 1),
		AUTO(QUEUE_GREY_AWL, "192.0.2.0/24", 50, 60),
		AUTO(QUEUE_GREY_ABL, "198.51.100.0/24", 70, 70),
		AUTO(QUEUE_GREY_AWL, "10.0.0.0/8", 80, 90),
	};
	static const struct queue_grey_row update[] = {
		TRIP("192.0.2.0/24", "b@x.example", "r@y.example", 100, 400,
		    400, 2, 1),
		AUTO(QUEUE_GREY_AWL, "192.0.2.0/24", 50, 900),
		AUTO(QUEUE_GREY_ABL, "192.0.2.0/24", 910, 910),
	};
	static const struct queue_grey_row del[] = {
		TRIP_DEL("10.0.0.0/8", "a@x.example", "r@y.example"),
		AUTO_DEL(QUEUE_GREY_AWL, "10.0.0.0/8"),
		TRIP_DEL("10.0.0.0/8", "nobody", "r@y.example"),
		AUTO_DEL(QUEUE_GREY_ABL, "203.0.113.0/24"),
		AUTO_DEL(QUEUE_GREY_AWL, "198.51.100.0/24"),
	};
	/* In order: a deletion and a new record of the same key (policy/
	 * gives deletions first), a record and its deletion. */
	static const struct queue_grey_row order[] = {
		TRIP_DEL("192.0.2.0/24", "", "r@y.example"),
		TRIP("192.0.2.0/24", "", "r@y.example", 999, 999, 0, 1, 0),
		TRIP("172.16.0.0/12", "c@x", "d@y", 5, 5, 0, 1, 0),
		TRIP_DEL("172.16.0.0/12", "c@x", "d@y"),
	};
	const struct op o1[] = { GREY_(first) };
	const struct op o2[] = { GREY_(update) };
	const struct op o3[] = { GREY_(del) };
	const struct op o4[] = { GREY_(order) };
	char buf[64];
	struct got g;
	struct job j;
	struct tq t;

	if (tq_open(&t, "grey") == -1)
		return;
	T_EQ_STR(load(&t, TB_GREY, &g), "", "grey: a new database has none");
	T_EQ_INT(run_ops(&t, &j, o1, 1), 0, "grey: store");
	T_EQ_STR(load(&t, TB_GREY, &g),
	    "T|10.0.0.0/8|a@x.example|r@y.example|102/160/160|2/1"
	    " T|192.0.2.0/24||r@y.example|101/101/0|1/0"
	    " T|192.0.2.0/24|b@x.example|r@y.example|100/100/0|1/0"
	    " AWL|10.0.0.0/8|80/90 AWL|192.0.2.0/24|50/60"
	    " ABL|198.51.100.0/24|70/70",
	    "grey: triplets by key, then AWL, then ABL, each by net");
	T_EQ_INT(g.odd, 0, "grey: loaded rows as promised");
	T_EQ_STR(counts(&t, buf, sizeof(buf)), "3/2/1 0 0", "grey: counts");
	T_EQ_INT(run_ops(&t, &j, o2, 1), 0, "grey: update");
	T_EQ_STR(load(&t, TB_GREY, &g),
	    "T|10.0.0.0/8|a@x.example|r@y.example|102/160/160|2/1"
	    " T|192.0.2.0/24||r@y.example|101/101/0|1/0"
	    " T|192.0.2.0/24|b@x.example|r@y.example|100/400/400|2/1"
	    " AWL|10.0.0.0/8|80/90 AWL|192.0.2.0/24|50/900"
	    " ABL|192.0.2.0/24|910/910 ABL|198.51.100.0/24|70/70",
	    "grey: updated in place; an ABL entry apart from the AWL one");
	T_EQ_INT(run_ops(&t, &j, o3, 1), 0, "grey: delete");
	T_EQ_STR(load(&t, TB_GREY, &g),
	    "T|192.0.2.0/24||r@y.example|101/101/0|1/0"
	    " T|192.0.2.0/24|b@x.example|r@y.example|100/400/400|2/1"
	    " AWL|192.0.2.0/24|50/900 ABL|192.0.2.0/24|910/910"
	    " ABL|198.51.100.0/24|70/70",
	    "grey: deleted by key and kind; missing ones no error");
	T_EQ_INT(run_ops(&t, &j, o4, 1), 0, "grey: rows in order");
	T_EQ_STR(load(&t, TB_GREY, &g),
	    "T|192.0.2.0/24||r@y.example|999/999/0|1/0"
	    " T|192.0.2.0/24|b@x.example|r@y.example|100/400/400|2/1"
	    " AWL|192.0.2.0/24|50/900 ABL|192.0.2.0/24|910/910"
	    " ABL|198.51.100.0/24|70/70",
	    "grey: rows applied in the order given");
	T_EQ_STR(counts(&t, buf, sizeof(buf)), "2/1/2 0 0",
	    "grey: counts after");
	tq_close(&t);
}

static void
test_helo(void)
{
	static const struct queue_helo_row first[] = {
		{ false, "192.0.2.1", "mx.example.com", 100 },
		{ false, "2001:db8::1", "[IPv6:2001:db8::1]", 101 },
		{ false, "192.0.2.1", "MX.example.com", 102 },
		{ false, "192.0.2.10", "a", 103 },
	};
	static const struct queue_helo_row second[] = {
		{ true, "192.0.2.1", "MX.example.com", 0 },
		{ false, "192.0.2.1", "mx.example.com", 500 },
		{ true, "192.0.2.99", "never.example", 0 },
		{ false, "192.0.2.2", "new.example", 501 },
	};
	const struct op o1[] = { HELO_(first) };
	const struct op o2[] = { HELO_(second) };
	char buf[64];
	struct got g;
	struct job j;
	struct tq t;

	if (tq_open(&t, "helo") == -1)
		return;
	T_EQ_INT(run_ops(&t, &j, o1, 1), 0, "helo: store");
	T_EQ_STR(load(&t, TB_HELO, &g), "192.0.2.1|MX.example.com|102"
	    " 192.0.2.1|mx.example.com|100 192.0.2.10|a|103"
	    " 2001:db8::1|[IPv6:2001:db8::1]|101",
	    "helo: by client, then HELO, as bytes (case kept apart)");
	T_EQ_INT(g.odd, 0, "helo: loaded rows not deleted");
	T_EQ_INT(run_ops(&t, &j, o2, 1), 0, "helo: delete, update, add");
	T_EQ_STR(load(&t, TB_HELO, &g), "192.0.2.1|mx.example.com|500"
	    " 192.0.2.10|a|103 192.0.2.2|new.example|501"
	    " 2001:db8::1|[IPv6:2001:db8::1]|101",
	    "helo: deletions first, update in place, a missing one no error");
	T_EQ_STR(counts(&t, buf, sizeof(buf)), "0/0/0 4 0", "helo: counts");
	tq_close(&t);
}

static void
test_acct(void)
{
	static const struct queue_acct_row first[] = {
		{ "per-sender", "alice@example.com", "2026-11-24", 1795478400,
		    { 1, 2, 3000 } },
		{ "per-sender", "alice@example.com", "2026-11-23", 1795392000,
		    { 4, 5, 6000 } },
		{ "monthly", "", "2026-11", 1793491200, { 7, 8, 9 } },
		{ "weekly", "192.0.2.0/24", "2026-W48", 1795478400,
		    { UINT64_MAX, 0, (uint64_t)INT64_MAX + 1 } },
	};
	static const struct queue_acct_row second[] = {
		{ "per-sender", "alice@example.com", "2026-11-24", 1795478401,
		    { 2, 4, 6000 } },
		{ "monthly", "", "2026-11", 0, { 0, 0, 0 } },
		{ "monthly", "", "2026-10", 0, { 0, 0, 0 } },
	};
	static const struct queue_acct_row del[] = {
		{ "per-sender", "alice@example.com", "2026-11-23", 0,
		    { 1, 1, 1 } },
		{ "per-sender", "alice@example.com", "2026-11-22", 0,
		    { 0 } },
		{ "weekly", "192.0.2.0/24", "2026-W48", 0, { 0 } },
	};
	const struct op o1[] = { ASET_(first) };
	const struct op o2[] = { ASET_(second) };
	const struct op o3[] = { ADEL_(del) };
	char buf[64];
	struct got g;
	struct job j;
	struct tq t;

	if (tq_open(&t, "acct") == -1)
		return;
	T_EQ_INT(run_ops(&t, &j, o1, 1), 0, "acct: store");
	T_EQ_STR(load(&t, TB_ACCT, &g), "monthly||2026-11|1793491200|7/8/9"
	    " per-sender|alice@example.com|2026-11-23|1795392000|4/5/6000"
	    " per-sender|alice@example.com|2026-11-24|1795478400|1/2/3000"
	    " weekly|192.0.2.0/24|2026-W48|1795478400|18446744073709551615/0/"
	    "9223372036854775808", "acct: by acct, key, period; 64 bits kept");
	T_EQ_INT(run_ops(&t, &j, o2, 1), 0, "acct: update, zero rows");
	T_EQ_STR(load(&t, TB_ACCT, &g),
	    "per-sender|alice@example.com|2026-11-23|1795392000|4/5/6000"
	    " per-sender|alice@example.com|2026-11-24|1795478401|2/4/6000"
	    " weekly|192.0.2.0/24|2026-W48|1795478400|18446744073709551615/0/"
	    "9223372036854775808",
	    "acct: updated in place; an all-zero row deletes");
	T_EQ_INT(run_ops(&t, &j, o3, 1), 0, "acct: delete");
	T_EQ_INT(j.rc[0], 2, "acct: delete counts the rows that were there");
	T_EQ_STR(load(&t, TB_ACCT, &g),
	    "per-sender|alice@example.com|2026-11-24|1795478401|2/4/6000",
	    "acct: deleted whatever their figures");
	T_EQ_STR(counts(&t, buf, sizeof(buf)), "0/0/0 0 1", "acct: counts");
	tq_close(&t);
}

/* A job that fails leaves nothing of any table; one that committed
 * keeps its rows, across a reopen. */
static void
test_atomic_reopen(void)
{
	static const struct queue_grey_row g1[] = {
		TRIP("192.0.2.0/24", "a@x", "b@y", 1, 2, 0, 1, 0),
		AUTO(QUEUE_GREY_AWL, "192.0.2.0/24", 1, 2),
	};
	static const struct queue_helo_row h1[] = {
		{ false, "192.0.2.1", "mx.example", 3 },
	};
	static const struct queue_acct_row a1[] = {
		{ "a", "k", "2026-11", 4, { 1, 1, 100 } },
	};
	static const struct queue_grey_row g2[] = {
		TRIP("192.0.2.0/24", "a@x", "b@y", 1, 9, 9, 2, 1),
		TRIP("10.0.0.0/8", "c@x", "d@y", 9, 9, 0, 1, 0),
		AUTO_DEL(QUEUE_GREY_AWL, "192.0.2.0/24"),
	};
	static const struct queue_helo_row h2[] = {
		{ true, "192.0.2.1", "mx.example", 0 },
		{ false, "192.0.2.9", "other.example", 9 },
	};
	static const struct queue_acct_row a2[] = {
		{ "a", "k", "2026-11", 4, { 2, 2, 200 } },
		{ "a", "k2", "2026-11", 4, { 1, 1, 1 } },
	};
	const struct op ok[] = { GREY_(g1), HELO_(h1), ASET_(a1) };
	const struct op bad[] = { GREY_(g2), HELO_(h2), ASET_(a2), FAIL_ };
	static const char *const want[] = {
		"T|192.0.2.0/24|a@x|b@y|1/2/0|1/0 AWL|192.0.2.0/24|1/2",
		"192.0.2.1|mx.example|3",
		"a|k|2026-11|4|1/1/100",
	};
	char buf[64], name[64];
	struct got g;
	struct job j;
	struct tq t;
	int pass, tb;

	if (tq_open(&t, "atomic") == -1)
		return;
	T_EQ_INT(run_ops(&t, &j, ok, NOPS(ok)), 0, "atomic: three tables");
	T_EQ_INT(run_ops(&t, &j, bad, NOPS(bad)), -1,
	    "atomic: a job that fails after changing all three");
	T_OK(j.rc[0] == 0 && j.rc[1] == 0 && j.rc[2] == 0,
	    "atomic: its calls had succeeded");
	for (pass = 0; pass < 2; pass++) {
		for (tb = TB_GREY; tb <= TB_ACCT; tb++) {
			snprintf(name, sizeof(name), "atomic: %s table %d",
			    pass ? "after a reopen," : "nothing of it in", tb);
			T_EQ_STR(load(&t, (enum table)tb, &g), want[tb], name);
		}
		T_EQ_STR(counts(&t, buf, sizeof(buf)), "1/1/0 1 1",
		    pass ? "atomic: counts after a reopen" : "atomic: counts");
		tq_close(&t);
		if (pass == 0 && tq_open(&t, "atomic") == -1)
			return;
	}
}

/* Network bytes: CR LF, quotes, SQL, LIKE wildcards, non-UTF-8. */
static void
test_bytes(void)
{
	static const struct queue_grey_row grey[] = {
		TRIP("n", "a\r\nRCPT TO:<x>", "\xff\xfe", 1, 1, 0, 1, 0),
		TRIP("n", "'; DROP TABLE grey_triplet; --", "%", 1, 1, 0, 1, 0),
		TRIP("n", "_", "\t\"x\"", 1, 1, 0, 1, 0),
		TRIP("n", "%", "\x01\x7f\xc3\xa9", 1, 1, 0, 1, 0),
	};
	static const struct queue_grey_row grey_del[] = {
		TRIP_DEL("n", "%", "%"), TRIP_DEL("n", "_", "_"),
		TRIP_DEL("n", "'; DROP TABLE grey_triplet; --", "%"),
	};
	static const struct queue_helo_row helo[] = {
		{ false, "192.0.2.1", "x\r\nQUIT", 1 },
		{ false, "192.0.2.1", "\xff", 2 },
		{ false, "192.0.2.1", "%", 3 },
	};
	static const struct queue_helo_row helo_del[] = {
		{ true, "192.0.2.1", "_", 0 }, { true, "192.0.2.%", "%", 0 },
	};
	static const struct queue_acct_row acct[] = {
		{ "a", "o'brien\r\n@x", "2026-11", 1, { 1, 1, 1 } },
		{ "a", "\xc0\x80", "2026-11", 1, { 2, 2, 2 } },
	};
	const struct op ops[] = { GREY_(grey), HELO_(helo), ASET_(acct),
	    GREY_(grey_del), HELO_(helo_del) };
	struct got g;
	struct job j;
	struct tq t;

	if (tq_open(&t, "bytes") == -1)
		return;
	T_EQ_INT(run_ops(&t, &j, ops, NOPS(ops)), 0, "bytes: store");
	T_EQ_STR(load(&t, TB_GREY, &g),
	    "T|n|%|\\x01\\x7f\\xc3\\xa9|1/1/0|1/0"
	    " T|n|_|\\x09\"x\"|1/1/0|1/0"
	    " T|n|a\\x0d\\x0aRCPT TO:<x>|\\xff\\xfe|1/1/0|1/0",
	    "bytes: triplets byte for byte, in byte order; deleted by the "
	    "exact key only");
	T_EQ_STR(load(&t, TB_HELO, &g), "192.0.2.1|%|3"
	    " 192.0.2.1|x\\x0d\\x0aQUIT|1 192.0.2.1|\\xff|2",
	    "bytes: HELOs, no wildcard deletes");
	T_EQ_STR(load(&t, TB_ACCT, &g), "a|o'brien\\x0d\\x0a@x|2026-11|1|1/1/1"
	    " a|\\xc0\\x80|2026-11|1|2/2/2", "bytes: accounting keys");
	tq_close(&t);
}

/* Strings of QUEUE_FILTER_STR_MAX bytes and strings too long, missing or
 * empty; a bad row anywhere in a call writes nothing. */
static void
test_bounds(void)
{
	static char max[QUEUE_FILTER_STR_MAX + 1], over[QUEUE_FILTER_STR_MAX + 2];
	const struct queue_grey_row gmax[] = {
		TRIP(max, max, max, 1, 1, 0, 1, 0),
		AUTO(QUEUE_GREY_ABL, max, 1, 1),
	};
	const struct queue_helo_row hmax[] = { { false, max, max, 1 } };
	const struct queue_acct_row amax[] = { { max, max, max, 1, { 1 } } };
	const struct queue_grey_row g_ok_then_over[] = {
		TRIP("n", "ok", "ok", 1, 1, 0, 1, 0),
		TRIP("n", over, "r", 1, 1, 0, 1, 0),
	};
	const struct queue_grey_row g_rcpt[] = { TRIP("n", "s", over, 1, 1, 0,
	    1, 0) };
	const struct queue_grey_row g_net[] = { AUTO(QUEUE_GREY_AWL, over,
	    1, 1) };
	const struct queue_grey_row g_nonet[] = { TRIP(NULL, "s", "r", 1, 1,
	    0, 1, 0) };
	const struct queue_grey_row g_empty[] = { AUTO(QUEUE_GREY_ABL, "", 1,
	    1) };
	const struct queue_grey_row g_nosender[] = { TRIP_DEL("n", NULL,
	    "r") };
	const struct queue_grey_row g_kind[] = { AUTO(3, "n", 1, 1) };
	const struct queue_grey_row g_kind2[] = { AUTO(-1, "n", 1, 1) };
	const struct queue_helo_row h_over[] = { { false, "c", "h", 1 },
	    { true, "c", over, 0 } };
	const struct queue_helo_row h_empty[] = { { false, "c", "", 1 } };
	const struct queue_helo_row h_noclient[] = { { false, NULL, "h", 1 } };
	const struct queue_acct_row a_over[] = { { "a", over, "p", 1, { 1 } } };
	const struct queue_acct_row a_acct[] = { { over, "k", "p", 1, { 1 } } };
	const struct queue_acct_row a_period[] = { { "a", "k", "", 1,
	    { 1 } } };
	const struct queue_acct_row a_del[] = { { "a", "k", "p", 1, { 1 } },
	    { "a", "k", NULL, 1, { 1 } } };
	const struct {
		struct op	 op;
		const char	*err;
	} cases[] = {
		{ GREY_(g_ok_then_over), "queue: greylisting row 1: sender "
		    "longer than 1024 bytes" },
		{ GREY_(g_rcpt), "queue: greylisting row 0: recipient longer "
		    "than 1024 bytes" },
		{ GREY_(g_net), "queue: greylisting row 0: net longer than "
		    "1024 bytes" },
		{ GREY_(g_nonet), "queue: greylisting row 0: net missing" },
		{ GREY_(g_empty), "queue: greylisting row 0: net empty" },
		{ GREY_(g_nosender), "queue: greylisting row 0: sender "
		    "missing" },
		{ GREY_(g_kind), "queue: greylisting row 0: unknown kind 3" },
		{ GREY_(g_kind2), "queue: greylisting row 0: unknown kind -1" },
		{ { .kind = OP_GREY, .rows = NULL, .n = 1 },
		    "queue: greylisting rows missing" },
		{ HELO_(h_over), "queue: HELO row 1: helo longer than 1024 "
		    "bytes" },
		{ HELO_(h_empty), "queue: HELO row 0: helo empty" },
		{ HELO_(h_noclient), "queue: HELO row 0: client missing" },
		{ { .kind = OP_HELO, .rows = NULL, .n = 2 },
		    "queue: HELO rows missing" },
		{ ASET_(a_over), "queue: accounting row 0: key longer than "
		    "1024 bytes" },
		{ ASET_(a_acct), "queue: accounting row 0: acct longer than "
		    "1024 bytes" },
		{ ASET_(a_period), "queue: accounting row 0: period empty" },
		{ ADEL_(a_del), "queue: accounting row 1: period missing" },
		{ ADEL_(a_over), "queue: accounting row 0: key longer than "
		    "1024 bytes" },
	};
	const struct op ok[] = { GREY_(gmax), HELO_(hmax), ASET_(amax) };
	struct op o;
	struct got g;
	struct job j;
	struct tq t;
	char name[80], buf[64];
	size_t i;

	memset(max, 'm', QUEUE_FILTER_STR_MAX);
	memset(over, 'o', QUEUE_FILTER_STR_MAX + 1);
	if (tq_open(&t, "bounds") == -1)
		return;
	T_EQ_INT(run_ops(&t, &j, ok, NOPS(ok)), 0,
	    "bounds: strings of 1024 bytes are stored");
	T_EQ_INT(run_ops(&t, &j, NULL, 0), 0, "bounds: an empty job");
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		o = cases[i].op;
		snprintf(name, sizeof(name), "bounds: case %zu fails", i);
		T_EQ_INT(run_ops(&t, &j, &o, 1), -1, name);
		snprintf(name, sizeof(name), "bounds: case %zu says why", i);
		T_EQ_STR(j.err, cases[i].err, name);
		/* The job goes on: whatever the call wrote would stay. */
		o.keep_going = true;
		run_ops(&t, &j, &o, 1);
		snprintf(name, sizeof(name), "bounds: case %zu writes nothing",
		    i);
		T_EQ_STR(counts(&t, buf, sizeof(buf)), "1/0/1 1 1", name);
	}
	T_EQ_STR(j.op_err, cases[i - 1].err, "bounds: kept going, same error");
	load(&t, TB_GREY, &g);
	T_OK(g.n == 2 && g.bytes == 4 * QUEUE_FILTER_STR_MAX,
	    "bounds: 1024-byte greylisting strings read back whole");
	load(&t, TB_HELO, &g);
	T_OK(g.n == 1 && g.bytes == 2 * QUEUE_FILTER_STR_MAX,
	    "bounds: 1024-byte HELO strings read back whole");
	load(&t, TB_ACCT, &g);
	T_OK(g.n == 1 && g.bytes == 3 * QUEUE_FILTER_STR_MAX,
	    "bounds: 1024-byte accounting strings read back whole");
	tq_close(&t);
}

/* A database an older sluice wrote (schema 4, without the tables) gains
 * them when opened. */
static void
test_older_database(void)
{
	static const struct queue_helo_row h[] = {
		{ false, "192.0.2.1", "mx.example", 3 },
	};
	const struct op ops[] = { HELO_(h) };
	char buf[64];
	struct got g;
	struct job j;
	struct tq t;

	if (tq_open(&t, "older") == -1)
		return;
	run_ops(&t, &j, ops, 1);
	tq_close(&t);
	T_EQ_INT(tq_sql(t.dir, "DROP TABLE grey_triplet; DROP TABLE grey_auto;"
	    " DROP TABLE helo_seen; DROP TABLE acct_counter;"
	    " PRAGMA user_version = 4;"), 0, "older: tables dropped");
	if (tq_open(&t, "older") == -1)
		return;
	T_EQ_STR(counts(&t, buf, sizeof(buf)), "0/0/0 0 0",
	    "older: the tables are back, empty");
	T_EQ_INT(run_ops(&t, &j, ops, 1), 0, "older: and take rows");
	T_EQ_STR(load(&t, TB_HELO, &g), "192.0.2.1|mx.example|3",
	    "older: read back");
	tq_close(&t);
}

/* The file's size, and pages a deletion freed taken again. */
static void
test_file_stats(void)
{
	struct queue_grey_row rows[400];
	char nets[400][32];
	struct queue_file_stats a, b, c;
	const char *err = NULL;
	struct op o = { .kind = OP_GREY, .rows = rows, .n = 400 };
	struct job j;
	struct tq t;
	int i, round;

	if (tq_open(&t, "file") == -1)
		return;
	T_EQ_INT(queue_file_stats(t.q, &a, &err), 0, "file: stats");
	T_OK(a.page_size >= 512 && a.pages > 0 &&
	    a.bytes == a.pages * a.page_size && a.free_pages <= a.pages,
	    "file: pages times page size");
	for (round = 0; round < 3; round++) {
		for (i = 0; i < 400; i++) {
			snprintf(nets[i], sizeof(nets[i]), "net-%d-%d", round,
			    i);
			rows[i] = (struct queue_grey_row)TRIP(nets[i],
			    "sender@example.org", "recipient@example.net",
			    1, 1, 0, 1, 0);
		}
		T_EQ_INT(run_ops(&t, &j, &o, 1), 0, "file: 400 triplets");
		if (round == 0)
			queue_file_stats(t.q, &b, &err);
		for (i = 0; i < 400; i++)
			rows[i].deleted = true;
		T_EQ_INT(run_ops(&t, &j, &o, 1), 0, "file: all deleted");
	}
	queue_file_stats(t.q, &c, &err);
	printf("# file: empty %llu pages, 400 triplets %llu, after three "
	    "rounds %llu (%llu free)\n", (unsigned long long)a.pages,
	    (unsigned long long)b.pages, (unsigned long long)c.pages,
	    (unsigned long long)c.free_pages);
	T_OK(b.pages > a.pages, "file: 400 triplets take pages");
	T_OK(c.free_pages > 0 && c.free_pages < c.pages,
	    "file: deleted rows' pages are on the freelist");
	T_OK(c.pages == b.pages, "file: later rounds take the freed pages");
	tq_close(&t);
}

/* Writing behind every batch must not prepare statements each time. */
static void
test_no_prepare(void)
{
	static const struct queue_grey_row g1[] = {
		TRIP("n", "s", "r", 1, 1, 0, 1, 0), TRIP_DEL("n", "s", "r"),
		AUTO(QUEUE_GREY_AWL, "n", 1, 1), AUTO_DEL(QUEUE_GREY_AWL, "n"),
	};
	static const struct queue_helo_row h1[] = {
		{ false, "c", "h", 1 }, { true, "c", "h", 0 },
	};
	static const struct queue_acct_row a1[] = {
		{ "a", "k", "p", 1, { 1 } }, { "a", "k", "p", 1, { 0 } },
	};
	const struct op ops[] = { GREY_(g1), HELO_(h1), ASET_(a1), ADEL_(a1) };
	char buf[64];
	size_t wslot, rslot;
	struct got g;
	struct job j;
	struct tq t;
	int i, tb, fails = 0;

	if (tq_open(&t, "prepare") == -1)
		return;
	run_ops(&t, &j, ops, NOPS(ops));
	for (tb = TB_GREY; tb <= TB_ACCT; tb++)
		load(&t, (enum table)tb, &g);
	counts(&t, buf, sizeof(buf));
	wslot = t.q->w.nslot;
	rslot = t.q->r.nslot;
	for (i = 0; i < 50; i++) {
		fails += run_ops(&t, &j, ops, NOPS(ops)) != 0;
		for (tb = TB_GREY; tb <= TB_ACCT; tb++)
			fails += strncmp(load(&t, (enum table)tb, &g),
			    "ERROR", 5) == 0;
		fails += strncmp(counts(&t, buf, sizeof(buf)), "ERROR", 5) == 0;
	}
	T_EQ_INT(fails, 0, "prepare: 50 jobs and loads");
	T_EQ_INT(t.q->w.nslot, wslot, "prepare: no writer statement added");
	T_EQ_INT(t.q->r.nslot, rslot, "prepare: no reader statement added");
	tq_close(&t);
}

/*
 * ---- a simulated month ----
 *
 * Traffic as the daemon would write it behind its decisions, minute by
 * minute for 30 days from 2026-11-01: new triplets, two in three of them
 * retried and passed ten minutes later, passed ones used again,
 * auto-whitelist entries for the networks that pass, an auto-blacklisted
 * network an hour, HELOs from a pool of clients, per-sender daily
 * accounting keeping yesterday.  Once an hour the clean-up deletes what
 * has expired, computed here as policy/ would, and what waits is
 * committed in one writer job (smaller batches cost more I/O, not more
 * pages).  The records are bounded after the longest validity (7 days),
 * so the file must stop growing: the size after day 30 is compared with
 * the size after day 10.
 */
#define SIM_T0		1793491200	/* 2026-11-01 00:00 UTC */
#define SIM_DAYS	30
#define SIM_BATCH	60		/* minutes per writer job */
#define SIM_NEW		2		/* new triplets a minute */
#define SIM_RETURN	1		/* passed triplets used again */
#define SIM_HELOS	1		/* HELOs a minute */
#define SIM_MSGS	2		/* messages accounted a minute */
#define SIM_NETS	65536
#define SIM_CLIENTS	10000		/* two HELO names each */
#define SIM_KEYS	3000		/* senders accounted */
#define SIM_UNAUTH	(2 * 86400)	/* a never-passed triplet's validity */
#define SIM_AUTH	(7 * 86400)	/* a passed one's, from its last pass */
#define SIM_AWL		(7 * 86400)	/* from an AWL entry's last use */
#define SIM_ABL		(2 * 86400)	/* from an ABL entry's addition */
#define SIM_HELO_WIN	(7 * 86400)
#define SIM_NTRIP	(SIM_DAYS * 1440 * SIM_NEW)
/* What the file may take: it holds at most ~18,000 triplets, ~16,000 AWL
 * entries, ~8,000 HELOs and ~3,700 accounting rows, in about 3 MiB. */
#define SIM_MAX_KIB	4096

struct sim_trip {
	int64_t		 first, last_seen, last_pass;
	uint32_t	 tries, passes;
	bool		 alive;
};

struct sim_auto {
	int64_t		 first, last;	/* first 0: none */
};

/* Rows waiting for the next batch, with their strings (the pointers are
 * set when the batch goes). */
struct sim_grey {
	char			 net[24], sender[40], rcpt[32];
	struct queue_grey_row	 r;
};
struct sim_helo {
	char			 client[24], helo[40];
	struct queue_helo_row	 r;
};
struct sim_acct {
	char			 key[32], period[16];
	struct queue_acct_row	 r;
};

struct sim {
	struct tq	 t;
	uint64_t	 rng;
	struct sim_trip	*trip;		/* by serial */
	uint32_t	 ntrip, lo;	/* serials given; below lo all dead */
	struct sim_auto	 awl[SIM_NETS], abl[SIM_NETS];
	int64_t		*helo;		/* [client * 2 + n]: last seen */
	uint64_t	 cur[SIM_KEYS][3], prev[SIM_KEYS][3];
	struct sim_grey	*g;
	struct sim_helo	*h;
	struct sim_acct	*aset, *adel;
	size_t		 ng, nh, naset, nadel;	/* waiting */
	size_t		 cg, ch, caset, cadel;	/* room */
	int		 fails;
	char		 err[256];
	uint64_t	 jobs, rows;
};

static uint32_t
sim_rand(struct sim *s)
{
	s->rng ^= s->rng << 13;
	s->rng ^= s->rng >> 7;
	s->rng ^= s->rng << 17;
	return (uint32_t)(s->rng >> 16);
}

/* v (n elements of size, room for *cap) with room for one more: it grows
 * by doubling. */
static void *
sim_grow(void *v, size_t n, size_t *cap, size_t size)
{
	if (n == *cap) {
		*cap = *cap ? *cap * 2 : 256;
		v = xreallocarray(v, *cap, size);
	}
	return v;
}

static struct sim_grey *
sim_grey(struct sim *s, enum queue_grey_kind kind, bool deleted,
    uint32_t net)
{
	struct sim_grey *g;

	s->g = sim_grow(s->g, s->ng, &s->cg, sizeof(*s->g));
	g = &s->g[s->ng++];
	memset(g, 0, sizeof(*g));
	snprintf(g->net, sizeof(g->net), "10.%u.%u.0/24", net >> 8,
	    net & 255);
	g->r.kind = kind;
	g->r.deleted = deleted;
	return g;
}

static uint32_t
sim_trip_net(uint32_t i)
{
	return (uint32_t)((i * 2654435761u) % SIM_NETS);
}

static void
sim_push_trip(struct sim *s, uint32_t i, bool deleted)
{
	const struct sim_trip *m = &s->trip[i];
	struct sim_grey *g;

	g = sim_grey(s, QUEUE_GREY_TRIPLET, deleted, sim_trip_net(i));
	snprintf(g->sender, sizeof(g->sender), "s%u@mx%u.example.org", i,
	    i % 613);
	snprintf(g->rcpt, sizeof(g->rcpt), "user%u@example.net", i % 800);
	g->r.first_seen = m->first;
	g->r.last_seen = m->last_seen;
	g->r.last_pass = m->last_pass;
	g->r.tries = m->tries;
	g->r.passes = m->passes;
}

static void
sim_push_auto(struct sim *s, enum queue_grey_kind kind, uint32_t net,
    bool deleted)
{
	const struct sim_auto *a = kind == QUEUE_GREY_AWL ? &s->awl[net] :
	    &s->abl[net];
	struct sim_grey *g = sim_grey(s, kind, deleted, net);

	g->r.first_seen = a->first;
	g->r.last_seen = a->last;
}

static void
sim_push_helo(struct sim *s, uint32_t idx, bool deleted)
{
	struct sim_helo *h;

	s->h = sim_grow(s->h, s->nh, &s->ch, sizeof(*s->h));
	h = &s->h[s->nh++];
	snprintf(h->client, sizeof(h->client), "198.18.%u.%u",
	    (idx / 2) >> 8, (idx / 2) & 255);
	snprintf(h->helo, sizeof(h->helo), "mail%u.host%u.example", idx & 1,
	    idx / 2);
	h->r = (struct queue_helo_row){ deleted, NULL, NULL,
	    s->helo[idx] };
}

/* Day d's period of key: its figures, or a deletion. */
static void
sim_push_acct(struct sim *s, uint32_t key, int day, const uint64_t *used,
    bool del)
{
	struct sim_acct *a;
	time_t start = SIM_T0 + (time_t)day * 86400;
	struct tm tm;

	if (del) {
		s->adel = sim_grow(s->adel, s->nadel, &s->cadel, sizeof(*a));
		a = &s->adel[s->nadel++];
	} else {
		s->aset = sim_grow(s->aset, s->naset, &s->caset, sizeof(*a));
		a = &s->aset[s->naset++];
	}
	snprintf(a->key, sizeof(a->key), "sender%u@example.com", key);
	gmtime_r(&start, &tm);
	strftime(a->period, sizeof(a->period), "%Y-%m-%d", &tm);
	a->r.start = start;
	memcpy(a->r.used, used, sizeof(a->r.used));
}

static int
sim_job(struct queue_txn *txn, void *arg, const char **errstr)
{
	struct sim *s = arg;
	struct queue_grey_row *g = xcalloc(s->ng + 1, sizeof(*g));
	struct queue_helo_row *h = xcalloc(s->nh + 1, sizeof(*h));
	struct queue_acct_row *as = xcalloc(s->naset + 1, sizeof(*as));
	struct queue_acct_row *ad = xcalloc(s->nadel + 1, sizeof(*ad));
	size_t i;
	int rc;

	for (i = 0; i < s->ng; i++) {
		g[i] = s->g[i].r;
		g[i].net = s->g[i].net;
		if (g[i].kind == QUEUE_GREY_TRIPLET) {
			g[i].sender = s->g[i].sender;
			g[i].recipient = s->g[i].rcpt;
		}
	}
	for (i = 0; i < s->nh; i++) {
		h[i] = s->h[i].r;
		h[i].client = s->h[i].client;
		h[i].helo = s->h[i].helo;
	}
	for (i = 0; i < s->naset + s->nadel; i++) {
		struct sim_acct *a = i < s->naset ? &s->aset[i] :
		    &s->adel[i - s->naset];
		struct queue_acct_row *r = i < s->naset ? &as[i] :
		    &ad[i - s->naset];

		*r = a->r;
		r->acct = "per-sender";
		r->key = a->key;
		r->period = a->period;
	}
	rc = queue_txn_grey_apply(txn, g, s->ng, errstr) == -1 ||
	    queue_txn_helo_apply(txn, h, s->nh, errstr) == -1 ||
	    queue_txn_acct_set(txn, as, s->naset, errstr) == -1 ||
	    queue_txn_acct_delete(txn, ad, s->nadel, errstr) == -1 ? -1 : 0;
	free(g);
	free(h);
	free(as);
	free(ad);
	return rc;
}

/* Commits what waits, in one job. */
static void
sim_flush(struct sim *s)
{
	s->rows += s->ng + s->nh + s->naset + s->nadel;
	s->jobs++;
	if (tq_run(&s->t, sim_job, s, s->err, sizeof(s->err)) != 0) {
		if (s->fails++ == 0)
			printf("# month: a batch failed: %s\n", s->err);
	}
	s->ng = s->nh = s->naset = s->nadel = 0;
}

/* A passed triplet's use: its network's AWL entry is refreshed. */
static void
sim_pass(struct sim *s, uint32_t i, int64_t now)
{
	struct sim_trip *m = &s->trip[i];
	struct sim_auto *a = &s->awl[sim_trip_net(i)];

	m->tries++;
	m->passes++;
	m->last_seen = m->last_pass = now;
	sim_push_trip(s, i, false);
	if (a->first == 0)
		a->first = now;
	a->last = now;
	sim_push_auto(s, QUEUE_GREY_AWL, sim_trip_net(i), false);
}

static void
sim_minute(struct sim *s, int64_t minute, int64_t now, int day)
{
	uint32_t i, k, idx;
	uint64_t *u;
	int n;

	for (n = 0; n < SIM_NEW; n++) {
		i = s->ntrip++;
		s->trip[i] = (struct sim_trip){ now, now, 0, 1, 0, true };
		sim_push_trip(s, i, false);
	}
	/* Two in three of those made ten minutes ago retry and pass. */
	for (i = minute >= 10 ? (uint32_t)(minute - 10) * SIM_NEW : 0;
	    minute >= 10 && i < (uint32_t)(minute - 9) * SIM_NEW; i++)
		if (i % 3 != 0 && s->trip[i].alive)
			sim_pass(s, i, now);
	for (n = 0; n < SIM_RETURN; n++) {
		i = s->lo + sim_rand(s) % (s->ntrip - s->lo);
		if (s->trip[i].alive && s->trip[i].passes > 0)
			sim_pass(s, i, now);
	}
	for (n = 0; n < SIM_HELOS; n++) {
		idx = sim_rand(s) % (SIM_CLIENTS * 2);
		s->helo[idx] = now;
		sim_push_helo(s, idx, false);
	}
	for (n = 0; n < SIM_MSGS; n++) {
		k = sim_rand(s) % SIM_KEYS;
		u = s->cur[k];
		u[0]++;
		u[1] += 1 + sim_rand(s) % 3;
		u[2] += 1000 + sim_rand(s) % 50000;
		sim_push_acct(s, k, day, u, false);
	}
}

/* The hourly clean-up: what expired at now is deleted; and a network is
 * auto-blacklisted. */
static void
sim_prune(struct sim *s, int64_t now)
{
	struct sim_trip *m;
	uint32_t i;

	for (i = s->lo; i < s->ntrip; i++) {
		m = &s->trip[i];
		if (m->alive && (m->passes == 0 ?
		    m->first + SIM_UNAUTH <= now :
		    m->last_pass + SIM_AUTH <= now)) {
			m->alive = false;
			sim_push_trip(s, i, true);
		}
	}
	while (s->lo < s->ntrip && !s->trip[s->lo].alive)
		s->lo++;
	for (i = 0; i < SIM_NETS; i++) {
		if (s->awl[i].first != 0 && s->awl[i].last + SIM_AWL <= now) {
			sim_push_auto(s, QUEUE_GREY_AWL, i, true);
			s->awl[i].first = 0;
		}
		if (s->abl[i].first != 0 && s->abl[i].first + SIM_ABL <= now) {
			sim_push_auto(s, QUEUE_GREY_ABL, i, true);
			s->abl[i].first = 0;
		}
	}
	for (i = 0; i < SIM_CLIENTS * 2; i++)
		if (s->helo[i] != 0 && s->helo[i] + SIM_HELO_WIN <= now) {
			sim_push_helo(s, i, true);
			s->helo[i] = 0;
		}
	i = sim_rand(s) % SIM_NETS;
	s->abl[i] = (struct sim_auto){ now, now };
	sim_push_auto(s, QUEUE_GREY_ABL, i, false);
}

/* A new day: the day before yesterday's periods go (keep 1). */
static void
sim_new_day(struct sim *s, int day)
{
	uint32_t k;

	for (k = 0; k < SIM_KEYS; k++) {
		if (s->prev[k][0] != 0)
			sim_push_acct(s, k, day - 2, s->prev[k], true);
		memcpy(s->prev[k], s->cur[k], sizeof(s->prev[k]));
		memset(s->cur[k], 0, sizeof(s->cur[k]));
	}
}

/* What the model holds, as counts() spells it. */
static const char *
sim_counts(const struct sim *s, char *buf, size_t bufsz)
{
	uint64_t trip = 0, awl = 0, abl = 0, helo = 0, acct = 0;
	uint32_t i;

	for (i = s->lo; i < s->ntrip; i++)
		trip += s->trip[i].alive;
	for (i = 0; i < SIM_NETS; i++) {
		awl += s->awl[i].first != 0;
		abl += s->abl[i].first != 0;
	}
	for (i = 0; i < SIM_CLIENTS * 2; i++)
		helo += s->helo[i] != 0;
	for (i = 0; i < SIM_KEYS; i++)
		acct += (s->cur[i][0] != 0) + (s->prev[i][0] != 0);
	snprintf(buf, bufsz, "%llu/%llu/%llu %llu %llu",
	    (unsigned long long)trip, (unsigned long long)awl,
	    (unsigned long long)abl, (unsigned long long)helo,
	    (unsigned long long)acct);
	return buf;
}

static uint64_t
sim_wal_size(const struct sim *s)
{
	char path[320];
	struct stat sb;

	snprintf(path, sizeof(path), "%s/queue.db-wal", s->t.dir);
	return stat(path, &sb) == 0 ? (uint64_t)sb.st_size : 0;
}

static void
test_month(void)
{
	struct queue_file_stats day_fs[SIM_DAYS + 1], fs;
	uint64_t max_pages = 0, max_bytes = 0, max_wal = 0, max_free = 0;
	char want[64], got[64];
	const char *err = NULL;
	struct timespec t0, t1;
	struct sim *s;
	int64_t minute, now;
	int day;

	s = xcalloc(1, sizeof(*s));
	s->rng = 0x9e3779b97f4a7c15ull;
	s->trip = xcalloc(SIM_NTRIP, sizeof(*s->trip));
	s->helo = xcalloc(SIM_CLIENTS * 2, sizeof(*s->helo));
	if (tq_open(&s->t, "month") == -1)
		goto out;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	memset(day_fs, 0, sizeof(day_fs));
	for (minute = 0; minute < SIM_DAYS * 1440; minute++) {
		now = SIM_T0 + minute * 60;
		day = (int)(minute / 1440);
		if (minute % 1440 == 0 && day > 0)
			sim_new_day(s, day);
		if (minute % 60 == 0 && minute > 0)
			sim_prune(s, now);
		sim_minute(s, minute, now, day);
		if ((minute + 1) % SIM_BATCH != 0)
			continue;
		sim_flush(s);
		if ((minute + 1) % 1440 != 0)
			continue;
		if (queue_file_stats(s->t.q, &fs, &err) == -1) {
			printf("# month: %s\n", err);
			s->fails++;
		}
		day_fs[day + 1] = fs;
		if (fs.pages > max_pages) {
			max_pages = fs.pages;
			max_bytes = fs.bytes;
		}
		if (fs.free_pages > max_free)
			max_free = fs.free_pages;
		if (sim_wal_size(s) > max_wal)
			max_wal = sim_wal_size(s);
		if ((day + 1) % 5 == 0 || day == 0)
			printf("# month: after day %d: %llu pages, %llu KiB, "
			    "%llu free; rows %s\n", day + 1,
			    (unsigned long long)fs.pages,
			    (unsigned long long)fs.bytes / 1024,
			    (unsigned long long)fs.free_pages,
			    counts(&s->t, got, sizeof(got)));
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("# month: %llu jobs, %llu rows written, %u triplets made, "
	    "%.1f s\n", (unsigned long long)s->jobs,
	    (unsigned long long)s->rows, s->ntrip,
	    (double)(t1.tv_sec - t0.tv_sec) +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	printf("# month: largest %llu pages (%llu KiB, page size %llu), "
	    "freelist up to %llu pages, -wal file up to %llu KiB\n",
	    (unsigned long long)max_pages, (unsigned long long)max_bytes / 1024,
	    (unsigned long long)fs.page_size, (unsigned long long)max_free,
	    (unsigned long long)max_wal / 1024);
	T_EQ_INT(s->fails, 0, "month: every batch committed");
	T_EQ_STR(counts(&s->t, got, sizeof(got)), sim_counts(s, want,
	    sizeof(want)), "month: the tables hold what the model holds");
	T_OK(day_fs[10].bytes > 2 * day_fs[1].bytes,
	    "month: the file grows in the first validity period");
	T_OK(day_fs[30].bytes * 2 <= day_fs[10].bytes * 3,
	    "month: after day 30 at most 1.5 times the size after day 10");
	T_OK(max_bytes <= SIM_MAX_KIB * 1024,
	    "month: the database stays under 4 MiB");
out:
	tq_close(&s->t);
	free(s->g);
	free(s->h);
	free(s->aset);
	free(s->adel);
	free(s->helo);
	free(s->trip);
	free(s);
}

int
main(void)
{
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	test_grey();
	test_helo();
	test_acct();
	test_atomic_reopen();
	test_bytes();
	test_bounds();
	test_older_database();
	test_file_stats();
	test_no_prepare();
	test_month();
	t_rmtree(tmpdir);
	T_OK(access(tmpdir, F_OK) == -1, "cleanup: temporary directory gone");
	return t_done();
}
