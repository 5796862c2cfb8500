/*
 * test_queue_defer: what the queue keeps of a quota deferral (schema 3):
 * the quota and key that hold a recipient back, when it gives up, its
 * flags, and the reservations it holds, which every change that moves it
 * out of QUEUE_DEFERRED hands back to its callback and clears.  Against
 * real SQLite databases in a temporary directory, every change through
 * the writer thread as in the daemon; the reservations' encoding also on
 * its own (round trips, and corrupt bytes that must fail cleanly).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "queue/queue.h"
#include "queue/queue_priv.h"
#include "tests/unit/t.h"
#include "tests/unit/tq.h"

static char tmpdir[] = "/tmp/test_queue_defer.XXXXXX";

static int
tq_open(struct tq *t, const char *name)
{
	return tq_open_in(t, tmpdir, name);
}

/* ---- what the checks compare ---- */

/* "{q|k|start|m/r/b ...}", "{}" for none. */
static void
resv_text(char *out, size_t outsz, const struct queue_counter *v, size_t n)
{
	size_t i, len;

	len = (size_t)snprintf(out, outsz, "{");
	for (i = 0; i < n && len < outsz; i++)
		len += (size_t)snprintf(out + len, outsz - len,
		    "%s%s|%s|%lld|%g/%g/%g", i ? " " : "", v[i].quota,
		    v[i].key, (long long)v[i].start, v[i].used[0],
		    v[i].used[1], v[i].used[2]);
	if (len < outsz)
		snprintf(out + len, outsz - len, "}");
}

/* ---- jobs ---- */

enum op_kind {
	OP_STORE, OP_HOLD, OP_RELEASE, OP_HOLD_SENDER, OP_RELEASE_SENDER,
	OP_DELETE, OP_DELETE_SENDER, OP_DONE, OP_RETRY, OP_REQUEUE
};

struct op {
	enum op_kind			 kind;
	const struct queue_msg		*msg;	/* OP_STORE */
	const char			*key;	/* an id or a sender */
	int				 rcpt;
	int64_t				 t;
	unsigned			 expect; /* OP_REQUEUE */
	const struct queue_rcpt_in	*to;
};

/* The changes told, as text: "M1.0 hold 500 {...}"; ids are named by the
 * order the test registered them (M1, M2, ...). */
struct told {
	const char	*ids[4];
	struct tq_text	 t;
};

static void
told_cb(const struct queue_change *c, void *arg)
{
	struct told *td = arg;
	char line[512], resv[400], name[24];
	int i;

	snprintf(name, sizeof(name), "?");
	for (i = 0; i < 4 && td->ids[i] != NULL; i++)
		if (strcmp(td->ids[i], c->id) == 0)
			snprintf(name, sizeof(name), "M%d", i + 1);
	if (c->resv_bad)
		snprintf(resv, sizeof(resv), "{bad}");
	else
		resv_text(resv, sizeof(resv), c->resv, c->nresv);
	snprintf(line, sizeof(line), "%s.%d %s %lld %s", name, c->rcpt,
	    queue_state_name(c->state), (long long)c->due, resv);
	tq_text_add(&td->t, line);
}

struct job {
	const struct op	*ops;
	int		 nop;
	int		 rc[8];
	struct told	*told;
	char		 err[256];
};

static int
op_run(struct queue_txn *txn, const struct op *o, struct told *td,
    const char **errstr)
{
	queue_change_cb *cb = td != NULL ? told_cb : NULL;

	switch (o->kind) {
	case OP_STORE:
		return queue_txn_store(txn, o->msg, errstr);
	case OP_HOLD:
		return queue_txn_rcpt_hold(txn, o->key, o->rcpt, cb, td,
		    errstr);
	case OP_RELEASE:
		return queue_txn_rcpt_release(txn, o->key, o->rcpt, o->t, cb,
		    td, errstr);
	case OP_HOLD_SENDER:
		return queue_txn_hold_sender(txn, o->key, cb, td, errstr);
	case OP_RELEASE_SENDER:
		return queue_txn_release_sender(txn, o->key, o->t, cb, td,
		    errstr);
	case OP_DELETE:
		return queue_txn_delete_cb(txn, o->key, cb, td, errstr);
	case OP_DELETE_SENDER:
		return queue_txn_delete_sender(txn, o->key, cb, td, errstr);
	case OP_DONE:
		return queue_txn_rcpt_done(txn, o->key, o->rcpt, "250 ok",
		    "2.0.0", o->t, errstr);
	case OP_RETRY:
		return queue_txn_rcpt_retry(txn, o->key, o->rcpt, o->t + 600,
		    "451 later", "4.0.0", o->t, errstr);
	case OP_REQUEUE:
		return queue_txn_rcpt_requeue(txn, o->key, o->rcpt, o->expect,
		    o->to, cb, td, errstr);
	}
	return -1;
}

static int
ops_job(struct queue_txn *txn, void *arg, const char **errstr)
{
	struct job *j = arg;
	int i;

	for (i = 0; i < j->nop; i++)
		if ((j->rc[i] = op_run(txn, &j->ops[i], j->told,
		    errstr)) == -1)
			return -1;
	return 0;
}

/* Runs ops in one job and waits for its commit: the job's result. */
static int
run_ops(struct tq *t, struct job *j, const struct op *ops, int nop,
    struct told *td)
{
	memset(j, 0, sizeof(*j));
	j->ops = ops;
	j->nop = nop;
	j->told = td;
	if (td != NULL) {
		td->t.len = 0;
		td->t.s[0] = '\0';
	}
	return tq_run(t, ops_job, j, j->err, sizeof(j->err));
}

/* One operation in its own job: its result, or -1 when the job failed. */
static int
run1(struct tq *t, const struct op *o, struct told *td)
{
	struct job j;

	if (run_ops(t, &j, o, 1, td) == -1)
		return -1;
	return j.rc[0];
}

/* ---- messages ---- */

static const char body[] = "Subject: q\r\n\r\nbody\r\n";

static const struct queue_counter resv_alice[] = {
	{ "outbound/per-user", "alice@example.com", 7200, { 1, 1, 2048 }, 0 },
	{ "outbound/per-domain", "example.com", 3600, { 0, 1, 0.5 }, 0 },
};
static const struct queue_counter resv_alice2[] = {
	{ "outbound/per-user", "alice@example.com", 10800, { 1, 1, 2048 }, 0 },
};

#define RESV_ALICE	"{outbound/per-user|alice@example.com|7200|1/1/2048" \
	" outbound/per-domain|example.com|3600|0/1/0.5}"
#define RESV_ALICE2	"{outbound/per-user|alice@example.com|10800|1/1/2048}"

struct tmsg {
	struct queue_msg	m;
	struct queue_rcpt_in	r[4];
};

static void
new_id(char id[QUEUE_ID_SIZE])
{
	static int64_t usec = 1700000000000000;

	queue_id_new(id, usec++);
}

/*
 * A message of alice's: recipient 0 deferred until 7200 by her per-user
 * quota with two reservations, giving up at 90000; 1 ready (released
 * earlier bypassing its quota); 2 deferred with none (an old row); 3
 * done.
 */
static void
tmsg_make(struct tmsg *t, const char *sender, int64_t arrival)
{
	memset(t, 0, sizeof(*t));
	new_id(t->m.id);
	t->m.arrival = arrival;
	t->m.sender = sender;
	t->m.body = body;
	t->m.body_len = sizeof(body) - 1;
	t->r[0] = (struct queue_rcpt_in){ .addr = "x@example.net",
	    .state = QUEUE_DEFERRED, .due = 7200,
	    .quota = "outbound/per-user", .qkey = "alice@example.com",
	    .expire = 90000, .resv = resv_alice, .nresv = 2 };
	t->r[1] = (struct queue_rcpt_in){ .addr = "y@example.net",
	    .state = QUEUE_READY, .due = arrival,
	    .quota = "outbound/per-user", .qkey = "alice@example.com",
	    .rflags = QUEUE_RF_BYPASS };
	t->r[2] = (struct queue_rcpt_in){ .addr = "z@example.net",
	    .state = QUEUE_DEFERRED, .due = 3600 };
	t->r[3] = (struct queue_rcpt_in){ .addr = "w@example.net",
	    .state = QUEUE_DONE, .due = 0 };
	t->m.rcpts = t->r;
	t->m.nrcpt = 4;
}

static int
tmsg_store(struct tq *t, const struct tmsg *m)
{
	struct op o = { .kind = OP_STORE, .msg = &m->m };

	return run1(t, &o, NULL);
}

/* Each recipient of a message as queue_show gives it:
 * "state due quota qkey expire rflags nresv", ";" between them. */
static const char *
show_text(struct tq *t, const char *id, struct tq_text *out)
{
	struct queue_detail *d = NULL;
	const struct queue_rcpt_info *r;
	const char *err = NULL;
	char line[256];
	size_t i;

	memset(out, 0, sizeof(*out));
	if (queue_show(t->q, id, &d, &err) != 1) {
		snprintf(out->s, sizeof(out->s), "-");
		return out->s;
	}
	for (i = 0; i < d->nrcpt; i++) {
		r = &d->rcpts[i];
		snprintf(line, sizeof(line), "%s%s %lld %s %s %lld %u %zu%s",
		    i ? ";" : "", queue_state_name(r->state),
		    (long long)r->due, r->quota ? r->quota : "-",
		    r->qkey ? r->qkey : "-", (long long)r->expire, r->rflags,
		    r->nresv, r->resv_bad ? " bad" : "");
		tq_text_add(out, line);
	}
	queue_detail_free(&d);
	return out->s;
}

/* ---- the cases ---- */

static void
test_store_and_read(void)
{
	struct tq t;
	struct tmsg m;
	struct tq_text x;
	struct queue_delivery *dl = NULL;
	const char *err = NULL;

	if (tq_open(&t, "store") == -1)
		return;
	tmsg_make(&m, "alice@example.com", 100);
	T_EQ_INT(tmsg_store(&t, &m), 0, "store: with reservations");
	T_EQ_STR(show_text(&t, m.m.id, &x),
	    "deferred 7200 outbound/per-user alice@example.com 90000 0 2"
	    " ;ready 100 outbound/per-user alice@example.com 0 1 0"
	    " ;deferred 3600 - - 0 0 0 ;done 0 - - 0 0 0",
	    "store: show gives quota, key, expire, flags, reservations");
	T_EQ_INT(queue_load_delivery(t.q, m.m.id, &dl, &err), 1,
	    "store: load for delivery");
	if (dl != NULL && dl->nrcpt == 4) {
		T_EQ_STR(dl->rcpts[0].quota, "outbound/per-user",
		    "store: delivery load: quota");
		T_EQ_STR(dl->rcpts[0].qkey, "alice@example.com",
		    "store: delivery load: key");
		T_EQ_INT(dl->rcpts[0].expire, 90000,
		    "store: delivery load: expire");
		T_EQ_INT(dl->rcpts[1].rflags, QUEUE_RF_BYPASS,
		    "store: delivery load: flags");
		T_EQ_STR(dl->rcpts[2].quota, NULL,
		    "store: delivery load: none is NULL");
	} else
		T_OK(0, "store: delivery load: four recipients");
	queue_delivery_free(&dl);
	tq_close(&t);
}

static void
pend_cb(const struct queue_pending *p, void *arg)
{
	char line[256];

	snprintf(line, sizeof(line), "%d:%s:%s:%lld:%u", p->rcpt,
	    p->quota ? p->quota : "-", p->qkey ? p->qkey : "-",
	    (long long)p->expire, p->rflags);
	tq_text_add(arg, line);
}

static void
test_pending(void)
{
	struct tq t;
	struct tmsg m;
	struct tq_text pd;
	const char *err = NULL;

	if (tq_open(&t, "pending") == -1)
		return;
	tmsg_make(&m, "alice@example.com", 100);
	tmsg_store(&t, &m);
	memset(&pd, 0, sizeof(pd));
	T_EQ_INT(queue_load_pending(t.q, pend_cb, &pd, &err), 0,
	    "pending: load");
	T_EQ_STR(pd.s, "1:outbound/per-user:alice@example.com:0:1"
	    " 2:-:-:0:0 0:outbound/per-user:alice@example.com:90000:0",
	    "pending: quota, key, expire and flags, by due");
	tq_close(&t);
}

/* Store refuses reservations where they make no sense. */
static void
test_store_errors(void)
{
	static const struct queue_counter noname[] = {
		{ NULL, "k", 0, { 1, 0, 0 }, 0 },
	};
	struct tq t;
	struct tmsg m;
	struct op o = { .kind = OP_STORE, .msg = &m.m };
	struct job j;

	if (tq_open(&t, "errors") == -1)
		return;
	tmsg_make(&m, "a@example.com", 1);
	m.r[1].resv = resv_alice;
	m.r[1].nresv = 1;
	T_EQ_INT(run_ops(&t, &j, &o, 1, NULL), -1,
	    "errors: reservations on a ready recipient refused");
	T_EQ_STR(j.err, "queue: reservations on a recipient not deferred",
	    "errors: says why");
	tmsg_make(&m, "a@example.com", 1);
	m.r[0].resv = noname;
	m.r[0].nresv = 1;
	T_EQ_INT(run_ops(&t, &j, &o, 1, NULL), -1,
	    "errors: a reservation without a quota refused");
	tmsg_make(&m, "a@example.com", 1);
	m.r[0].nresv = QUEUE_RESV_MAX + 1;
	T_EQ_INT(run_ops(&t, &j, &o, 1, NULL), -1,
	    "errors: too many reservations refused");
	tmsg_make(&m, "a@example.com", 1);
	m.r[0].resv = NULL;
	T_EQ_INT(run_ops(&t, &j, &o, 1, NULL), -1,
	    "errors: nresv without resv refused");
	tq_close(&t);
}

/* Every administrator's change hands back exactly what was stored, once,
 * and clears it. */
static void
test_admin_gives_back(void)
{
	struct tq t;
	struct tmsg m1, m2, m3;
	struct told td;
	struct tq_text x;
	struct op o;

	if (tq_open(&t, "admin") == -1)
		return;
	tmsg_make(&m1, "alice@example.com", 100);
	tmsg_make(&m2, "Alice@Example.com", 101);
	tmsg_make(&m3, "bob@example.com", 102);
	tmsg_store(&t, &m1);
	tmsg_store(&t, &m2);
	tmsg_store(&t, &m3);
	memset(&td, 0, sizeof(td));
	td.ids[0] = m1.m.id;
	td.ids[1] = m2.m.id;
	td.ids[2] = m3.m.id;

	o = (struct op){ .kind = OP_HOLD, .key = m1.m.id, .rcpt = 0 };
	T_EQ_INT(run1(&t, &o, &td), 1, "admin: hold one");
	T_EQ_STR(td.t.s, "M1.0 hold 7200 " RESV_ALICE,
	    "admin: hold tells the reservations");
	T_EQ_STR(show_text(&t, m1.m.id, &x),
	    "hold 7200 outbound/per-user alice@example.com 90000 0 0"
	    " ;ready 100 outbound/per-user alice@example.com 0 1 0"
	    " ;deferred 3600 - - 0 0 0 ;done 0 - - 0 0 0",
	    "admin: hold clears them, keeps quota and key");
	o = (struct op){ .kind = OP_RELEASE, .key = m1.m.id, .rcpt = -1,
	    .t = 500 };
	T_EQ_INT(run1(&t, &o, &td), 1, "admin: release");
	T_EQ_STR(td.t.s, "M1.0 ready 500 {}",
	    "admin: release: nothing held, nothing told");

	o = (struct op){ .kind = OP_HOLD_SENDER, .key = "ALICE@example.com" };
	T_EQ_INT(run1(&t, &o, &td), 6, "admin: hold by sender");
	T_OK(strstr(td.t.s, "M2.0 hold 7200 " RESV_ALICE) != NULL &&
	    strstr(td.t.s, "M2.1 hold 101 {}") != NULL &&
	    strstr(td.t.s, "M2.2 hold 3600 {}") != NULL &&
	    strstr(td.t.s, "M1.0 hold 500 {}") != NULL &&
	    strstr(td.t.s, "M1.") != NULL && strstr(td.t.s, "M3.") == NULL,
	    "admin: hold by sender tells each recipient's own");
	o = (struct op){ .kind = OP_HOLD_SENDER, .key = "alice@example.com" };
	T_EQ_INT(run1(&t, &o, &td), 0, "admin: hold by sender again");
	o = (struct op){ .kind = OP_RELEASE_SENDER, .key = "alice@example.com",
	    .t = 600 };
	T_EQ_INT(run1(&t, &o, &td), 6, "admin: release by sender");
	T_OK(strstr(td.t.s, "{o") == NULL,
	    "admin: release by sender: none held any more");

	o = (struct op){ .kind = OP_DELETE, .key = m3.m.id };
	T_EQ_INT(run1(&t, &o, &td), 1, "admin: delete by id");
	T_EQ_STR(td.t.s, "M3.0 done 7200 " RESV_ALICE " M3.1 done 102 {}"
	    " M3.2 done 3600 {} M3.-1 done 0 {}",
	    "admin: delete tells each pending recipient, then the message");
	T_EQ_STR(show_text(&t, m3.m.id, &x), "-", "admin: deleted");
	T_EQ_INT(run1(&t, &o, &td), 0, "admin: delete again");
	T_EQ_STR(td.t.s, "", "admin: delete again tells nothing");

	tmsg_make(&m3, "bob@example.com", 103);
	td.ids[2] = m3.m.id;
	tmsg_store(&t, &m3);
	o = (struct op){ .kind = OP_DELETE_SENDER, .key = "BOB@example.com" };
	T_EQ_INT(run1(&t, &o, &td), 1, "admin: delete by sender");
	T_EQ_STR(td.t.s, "M3.0 done 7200 " RESV_ALICE " M3.1 done 103 {}"
	    " M3.2 done 3600 {} M3.-1 done 0 {}",
	    "admin: delete by sender tells the reservations");
	o = (struct op){ .kind = OP_DELETE_SENDER, .key = "alice@example.com" };
	T_EQ_INT(run1(&t, &o, &td), 2, "admin: delete alice's two");
	T_OK(strstr(td.t.s, "{o") == NULL,
	    "admin: released ones held nothing to give back");
	tq_close(&t);
}

/* Delivery outcomes spend the reservations: cleared, never told. */
static void
test_outcomes(void)
{
	struct tq t;
	struct tmsg m;
	struct told td;
	struct tq_text x;
	struct op o;

	if (tq_open(&t, "outcomes") == -1)
		return;
	tmsg_make(&m, "alice@example.com", 100);
	m.r[1] = m.r[0];
	tmsg_store(&t, &m);
	memset(&td, 0, sizeof(td));
	td.ids[0] = m.m.id;
	o = (struct op){ .kind = OP_RETRY, .key = m.m.id, .rcpt = 0,
	    .t = 7300 };
	T_EQ_INT(run1(&t, &o, NULL), 0, "outcomes: retry");
	o = (struct op){ .kind = OP_DONE, .key = m.m.id, .rcpt = 1,
	    .t = 7300 };
	T_EQ_INT(run1(&t, &o, NULL), 0, "outcomes: done");
	T_EQ_STR(show_text(&t, m.m.id, &x),
	    "retry 7900 outbound/per-user alice@example.com 90000 0 0"
	    " ;done 7200 outbound/per-user alice@example.com 90000 0 0"
	    " ;deferred 3600 - - 0 0 0 ;done 0 - - 0 0 0",
	    "outcomes: reservations gone, quota and key kept");
	o = (struct op){ .kind = OP_HOLD, .key = m.m.id, .rcpt = 0 };
	T_EQ_INT(run1(&t, &o, &td), 1, "outcomes: hold the retry");
	T_EQ_STR(td.t.s, "M1.0 hold 7900 {}",
	    "outcomes: nothing left to give back");
	tq_close(&t);
}

static void
test_requeue(void)
{
	static const unsigned deferred = 1u << QUEUE_DEFERRED;
	static const unsigned held = 1u << QUEUE_HOLD;
	const struct queue_rcpt_in to_deferred = {
		.addr = "ignored", .state = QUEUE_DEFERRED, .due = 10800,
		.quota = "outbound/per-user", .qkey = "alice@example.com",
		.expire = 95000, .resv = resv_alice2, .nresv = 1 };
	const struct queue_rcpt_in to_ready = {
		.state = QUEUE_READY, .due = 800, .quota = "outbound/per-user",
		.qkey = "alice@example.com", .rflags = QUEUE_RF_BYPASS };
	const struct queue_rcpt_in to_done = { .state = QUEUE_DONE };
	const struct queue_rcpt_in to_ready_resv = {
		.state = QUEUE_READY, .resv = resv_alice2, .nresv = 1 };
	struct tq t;
	struct tmsg m;
	struct told td;
	struct tq_text x;
	struct op o;
	struct job j;

	if (tq_open(&t, "requeue") == -1)
		return;
	tmsg_make(&m, "alice@example.com", 100);
	tmsg_store(&t, &m);
	memset(&td, 0, sizeof(td));
	td.ids[0] = m.m.id;

	o = (struct op){ .kind = OP_REQUEUE, .key = m.m.id, .rcpt = 0,
	    .expect = held, .to = &to_ready };
	T_EQ_INT(run1(&t, &o, &td), 0, "requeue: not in an expected state");
	T_EQ_STR(td.t.s, "", "requeue: not told");
	o.expect = held | deferred;
	o.to = &to_deferred;
	T_EQ_INT(run1(&t, &o, &td), 1, "requeue: deferred again");
	T_EQ_STR(td.t.s, "M1.0 deferred 10800 " RESV_ALICE,
	    "requeue: tells the reservations given up");
	T_EQ_STR(show_text(&t, m.m.id, &x),
	    "deferred 10800 outbound/per-user alice@example.com 95000 0 1"
	    " ;ready 100 outbound/per-user alice@example.com 0 1 0"
	    " ;deferred 3600 - - 0 0 0 ;done 0 - - 0 0 0",
	    "requeue: the new ones stored");
	o.to = &to_ready;
	T_EQ_INT(run1(&t, &o, &td), 1, "requeue: ready, bypassing");
	T_EQ_STR(td.t.s, "M1.0 ready 800 " RESV_ALICE2,
	    "requeue: tells the second reservations");
	T_EQ_STR(show_text(&t, m.m.id, &x),
	    "ready 800 outbound/per-user alice@example.com 0 1 0"
	    " ;ready 100 outbound/per-user alice@example.com 0 1 0"
	    " ;deferred 3600 - - 0 0 0 ;done 0 - - 0 0 0",
	    "requeue: expire cleared, the flag set, nothing held");
	o.rcpt = 3;
	o.expect = ~0u;
	T_EQ_INT(run1(&t, &o, &td), 0, "requeue: a done one is never revived");
	o.rcpt = 9;
	T_EQ_INT(run1(&t, &o, &td), 0, "requeue: no such recipient");
	o.key = "0000000000NOSUCH";
	o.rcpt = 0;
	T_EQ_INT(run1(&t, &o, &td), 0, "requeue: no such message");
	o.key = m.m.id;
	o.to = &to_done;
	T_EQ_INT(run_ops(&t, &j, &o, 1, &td), -1, "requeue: to done refused");
	o.to = &to_ready_resv;
	T_EQ_INT(run_ops(&t, &j, &o, 1, &td), -1,
	    "requeue: reservations on a ready one refused");
	o.to = &to_ready;
	o.rcpt = -1;
	T_EQ_INT(run_ops(&t, &j, &o, 1, &td), -1,
	    "requeue: one recipient at a time");
	tq_close(&t);
}

static void
rows_cb(const struct queue_rcpt_row *r, void *arg)
{
	char line[256];

	snprintf(line, sizeof(line), "%lld:%s:%d:%s:%s:%lld:%s:%s:%lld:%u:%u",
	    (long long)r->arrival, r->sender, r->rcpt, r->addr,
	    queue_state_name(r->state), (long long)r->due,
	    r->quota ? r->quota : "-", r->qkey ? r->qkey : "-",
	    (long long)r->expire, r->rflags, r->attempts);
	tq_text_add(arg, line);
}

static const char *
rows_of(struct tq *t, int state, const char *sender, struct tq_text *rw)
{
	const char *err = NULL;

	memset(rw, 0, sizeof(*rw));
	if (queue_list_rcpts(t->q, state, sender, rows_cb, rw, &err) == -1)
		snprintf(rw->s, sizeof(rw->s), "ERROR %s", err);
	return rw->s;
}

static void
test_list_rcpts(void)
{
	struct tq t;
	struct tmsg m1, m2, m3;
	struct tq_text rw;

	if (tq_open(&t, "list") == -1)
		return;
	T_EQ_STR(rows_of(&t, -1, NULL, &rw), "", "list: empty queue");
	tmsg_make(&m1, "alice@example.com", 100);
	tmsg_make(&m2, "", 50);
	m2.r[0].due = 3600;	/* a tie with m1's 2: earlier arrival first */
	m2.r[0].expire = 0;
	tmsg_make(&m3, "Alice@EXAMPLE.com", 200);
	m3.m.nrcpt = 1;
	m3.r[0].due = 7200;	/* a tie with m1's 0: arrival */
	tmsg_store(&t, &m3);
	tmsg_store(&t, &m1);
	tmsg_store(&t, &m2);
	T_EQ_STR(rows_of(&t, QUEUE_DEFERRED, NULL, &rw),
	    "50::0:x@example.net:deferred:3600:outbound/per-user:"
	    "alice@example.com:0:0:0"
	    " 50::2:z@example.net:deferred:3600:-:-:0:0:0"
	    " 100:alice@example.com:2:z@example.net:deferred:3600:-:-:0:0:0"
	    " 100:alice@example.com:0:x@example.net:deferred:7200:"
	    "outbound/per-user:alice@example.com:90000:0:0"
	    " 200:Alice@EXAMPLE.com:0:x@example.net:deferred:7200:"
	    "outbound/per-user:alice@example.com:90000:0:0",
	    "list: deferred ones by due, arrival, id, index");
	T_EQ_STR(rows_of(&t, QUEUE_DEFERRED, "ALICE@example.com", &rw),
	    "100:alice@example.com:2:z@example.net:deferred:3600:-:-:0:0:0"
	    " 100:alice@example.com:0:x@example.net:deferred:7200:"
	    "outbound/per-user:alice@example.com:90000:0:0"
	    " 200:Alice@EXAMPLE.com:0:x@example.net:deferred:7200:"
	    "outbound/per-user:alice@example.com:90000:0:0",
	    "list: a sender, without regard to case");
	T_EQ_STR(rows_of(&t, QUEUE_READY, "", &rw),
	    "50::1:y@example.net:ready:50:outbound/per-user:"
	    "alice@example.com:0:1:0", "list: the null sender's ready one");
	T_EQ_STR(rows_of(&t, QUEUE_HOLD, NULL, &rw), "", "list: none held");
	T_EQ_STR(rows_of(&t, QUEUE_DONE, NULL, &rw), "",
	    "list: done ones never");
	rows_of(&t, -1, NULL, &rw);
	T_OK(strncmp(rw.s, "50::1:y@example.net:ready:50:", 29) == 0 &&
	    strstr(rw.s, ":done:") == NULL,
	    "list: every pending state, due order, no done one");
	T_EQ_STR(rows_of(&t, -1, "nobody@example.com", &rw), "",
	    "list: an unknown sender");
	tq_close(&t);
}

/* ---- the encoding ---- */

static void
test_encoding(void)
{
	static const struct queue_counter odd[] = {
		{ "", "", 0, { 0, 0, 0 }, 0 },
		{ "q\x01\xff\"\\", "k\n\r\t\x7f\xc3\xa9", -1,
		    { -1, 0.1, 1e300 }, 0 },
		{ "a", "b", INT64_MIN, { 9007199254740992.0, 9007199254740993.0,
		    -0.0 }, 0 },
		{ "a", "b", INT64_MAX, { 1, 4294967296.0, 3.5 }, 0 },
	};
	struct queue_counter many[QUEUE_RESV_MAX + 1];
	struct queue_counter *v = NULL;
	struct buf b = BUF_INIT, c = BUF_INIT;
	const char *err = NULL;
	char want[600], got[600];
	size_t n, i, k;
	bool ok;

#define BYTES(name, s)	{ name, s, sizeof(s) - 1 }

	T_EQ_INT(queue_resv_encode(odd, 4, &b, &err), 0, "encode: odd values");
	ok = queue_resv_decode(b.data, b.len, &v, &n, &err) == 0 && n == 4;
	T_OK(ok, "decode: odd values");
	/* exact, but for the sign of a zero */
	for (i = 0; ok && i < n; i++)
		ok = strcmp(v[i].quota, odd[i].quota) == 0 &&
		    strcmp(v[i].key, odd[i].key) == 0 &&
		    v[i].start == odd[i].start &&
		    v[i].used[0] == odd[i].used[0] &&
		    v[i].used[1] == odd[i].used[1] &&
		    v[i].used[2] == odd[i].used[2];
	T_OK(ok, "decode: every byte and value back");
	free(v);
	v = NULL;

	T_EQ_INT(queue_resv_encode(resv_alice, 2, &c, &err), 0,
	    "encode: two");
	T_EQ_INT(c.len, 2 + 1 + (18 + 18 + 2 + 1 + 1 + 1 + 2) +
	    (20 + 12 + 2 + 1 + 1 + 8), "encode: compact");
	resv_text(want, sizeof(want), resv_alice, 2);
	T_EQ_INT(queue_resv_decode(c.data, c.len, &v, &n, &err), 0,
	    "decode: two");
	resv_text(got, sizeof(got), v, n);
	T_EQ_STR(got, want, "decode: two, the same");
	free(v);

	/* every truncation fails, with nothing allocated */
	for (ok = true, i = 0; i < c.len; i++)
		if (queue_resv_decode(c.data, i, &v, &n, &err) != -1 ||
		    v != NULL || n != 0)
			ok = false;
	T_OK(ok, "decode: every truncation fails cleanly");
	T_EQ_STR(err, "queue: unreadable reservations", "decode: says so");
	/* any one byte changed: fails or reads something, never crashes
	 * (ASan watches) */
	for (i = 0; i < c.len; i++)
		for (k = 0; k < 256; k++) {
			memcpy(b.data, c.data, c.len);
			b.len = c.len;
			b.data[i] = (char)k;
			if (queue_resv_decode(b.data, b.len, &v, &n,
			    &err) == 0) {
				resv_text(got, sizeof(got), v, n);
				free(v);
			}
		}
	T_OK(1, "decode: every one-byte change survived");
	srandom(7);
	for (i = 0; i < 20000; i++) {
		size_t len = (size_t)random() % 64;

		buf_reset(&b);
		buf_addc(&b, 'R');
		buf_addc(&b, 1);
		for (k = 0; k < len; k++)
			buf_addc(&b, (char)(random() % 8 == 0 ? 0 :
			    random() & 0xff));
		if (queue_resv_decode(b.data, b.len, &v, &n, &err) == 0)
			free(v);
	}
	T_OK(1, "decode: random bytes survived");

	{
		static const struct {
			const char	*name;
			const char	*bytes;
			size_t		 len;
		} bad[] = {
			BYTES("nothing", ""),
			BYTES("another magic", "X\x01\x00"),
			BYTES("another version", "R\x02\x00"),
			BYTES("more than the bytes", "R\x01\x05q\0k\0\x00\x00"),
			BYTES("count past the max", "R\x01\x81\x02"),
			BYTES("a name without NUL", "R\x01\x01qk\x02\x00"),
			BYTES("kind 3", "R\x01\x01q\0k\0\x00\x03"),
			BYTES("top bits of kinds", "R\x01\x01q\0k\0\x00\x40"),
			BYTES("an integer past 2^53",
			    "R\x01\x01q\0k\0\x00\x01\x81\x80\x80\x80\x80\x80"
			    "\x80\x10"),
			BYTES("an overlong varint",
			    "R\x01\x01q\0k\0\xff\xff\xff\xff\xff\xff\xff\xff"
			    "\xff\x02\x00"),
			BYTES("a NaN", "R\x01\x01q\0k\0\x00\x02"
			    "\x00\x00\x00\x00\x00\x00\xf8\x7f"),
			BYTES("an infinity", "R\x01\x01q\0k\0\x00\x02"
			    "\x00\x00\x00\x00\x00\x00\xf0\x7f"),
			BYTES("bytes left over", "R\x01\x01q\0k\0\x00\x00\x00"),
		};
		char name[96];

		for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			snprintf(name, sizeof(name), "decode: %s fails",
			    bad[i].name);
			T_EQ_INT(queue_resv_decode(bad[i].bytes, bad[i].len,
			    &v, &n, &err), -1, name);
		}
		T_EQ_INT(queue_resv_decode("R\x01\x01q\0k\0\x00\x00", 9, &v,
		    &n, &err), 0, "decode: the smallest entry");
		T_OK(n == 1 && strcmp(v[0].quota, "q") == 0 &&
		    strcmp(v[0].key, "k") == 0 && v[0].start == 0 &&
		    v[0].used[0] == 0, "decode: the smallest entry's fields");
		free(v);
		T_EQ_INT(queue_resv_decode("R\x01\x00", 3, &v, &n, &err), 0,
		    "decode: none");
		T_OK(v == NULL && n == 0, "decode: none is NULL");
	}

	for (i = 0; i <= QUEUE_RESV_MAX; i++)
		many[i] = resv_alice[0];
	T_EQ_INT(queue_resv_encode(many, QUEUE_RESV_MAX, &b, &err), 0,
	    "encode: the most");
	T_EQ_INT(queue_resv_decode(b.data, b.len, &v, &n, &err), 0,
	    "decode: the most");
	T_EQ_INT(n, QUEUE_RESV_MAX, "decode: the most, all of them");
	free(v);
	T_EQ_INT(queue_resv_encode(many, QUEUE_RESV_MAX + 1, &b, &err), -1,
	    "encode: one too many");
	many[0].used[2] = NAN;
	T_EQ_INT(queue_resv_encode(many, 1, &b, &err), -1,
	    "encode: not a number");
	many[0].used[2] = 0;
	many[0].key = NULL;
	T_EQ_INT(queue_resv_encode(many, 1, &b, &err), -1,
	    "encode: no key");
	buf_free(&b);
	buf_free(&c);
}

/* ---- what the database keeps ---- */

/* A corrupt blob is reported, never trusted, and never in the way. */
static void
test_corrupt_blob(void)
{
	struct tq t;
	struct tmsg m;
	struct told td;
	struct tq_text x;
	struct op o;
	char stmt[256];

	if (tq_open(&t, "corrupt") == -1)
		return;
	tmsg_make(&m, "alice@example.com", 100);
	tmsg_store(&t, &m);
	tq_close(&t);
	snprintf(stmt, sizeof(stmt), "UPDATE recipients SET resv = x'5201ff'"
	    " WHERE msg_id = '%s' AND rcpt = 0;"
	    " UPDATE recipients SET resv = x'' WHERE msg_id = '%s'"
	    " AND rcpt = 2", m.m.id, m.m.id);
	T_EQ_INT(tq_sql(t.dir, stmt), 0, "corrupt: blobs spoiled");
	if (tq_open(&t, "corrupt") == -1)
		return;
	T_EQ_STR(show_text(&t, m.m.id, &x),
	    "deferred 7200 outbound/per-user alice@example.com 90000 0 0 bad"
	    " ;ready 100 outbound/per-user alice@example.com 0 1 0"
	    " ;deferred 3600 - - 0 0 0 bad ;done 0 - - 0 0 0",
	    "corrupt: show says they cannot be read");
	memset(&td, 0, sizeof(td));
	td.ids[0] = m.m.id;
	o = (struct op){ .kind = OP_HOLD, .key = m.m.id, .rcpt = -1 };
	T_EQ_INT(run1(&t, &o, &td), 3, "corrupt: hold still works");
	T_EQ_STR(td.t.s, "M1.0 hold 7200 {bad} M1.1 hold 100 {}"
	    " M1.2 hold 3600 {bad}", "corrupt: hold tells which are lost");
	T_EQ_STR(show_text(&t, m.m.id, &x),
	    "hold 7200 outbound/per-user alice@example.com 90000 0 0"
	    " ;hold 100 outbound/per-user alice@example.com 0 1 0"
	    " ;hold 3600 - - 0 0 0 ;done 0 - - 0 0 0",
	    "corrupt: and clears them");
	tq_close(&t);
}

/* Close and open again: everything is where it was. */
static void
test_restart(void)
{
	struct tq t;
	struct tmsg m;
	struct told td;
	struct tq_text before, after;
	struct op o;

	if (tq_open(&t, "restart") == -1)
		return;
	tmsg_make(&m, "alice@example.com", 100);
	tmsg_store(&t, &m);
	show_text(&t, m.m.id, &before);
	tq_close(&t);
	if (tq_open(&t, "restart") == -1)
		return;
	T_EQ_STR(show_text(&t, m.m.id, &after), before.s,
	    "restart: quota fields kept");
	memset(&td, 0, sizeof(td));
	td.ids[0] = m.m.id;
	o = (struct op){ .kind = OP_DELETE, .key = m.m.id };
	T_EQ_INT(run1(&t, &o, &td), 1, "restart: delete");
	T_EQ_STR(td.t.s, "M1.0 done 7200 " RESV_ALICE " M1.1 done 100 {}"
	    " M1.2 done 3600 {} M1.-1 done 0 {}",
	    "restart: the reservations read back");
	tq_close(&t);
}

/* The version 2 schema as sluice wrote it before this version. */
static const char v2_schema[] =
	"CREATE TABLE messages ("
	" id TEXT PRIMARY KEY NOT NULL, arrival INTEGER NOT NULL,"
	" sender TEXT NOT NULL, flags INTEGER NOT NULL DEFAULT 0,"
	" client_addr TEXT, client_port TEXT, client_name TEXT,"
	" client_helo TEXT, client_proto TEXT, client_ident TEXT,"
	" client_source TEXT, peer_addr TEXT, peer_helo TEXT,"
	" sasl_user TEXT, size INTEGER NOT NULL, body BLOB NOT NULL);"
	"CREATE INDEX messages_arrival ON messages(arrival, id);"
	"CREATE INDEX messages_sender ON messages(sender COLLATE NOCASE);"
	"CREATE TABLE recipients ("
	" msg_id TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,"
	" rcpt INTEGER NOT NULL, addr TEXT NOT NULL, state INTEGER NOT NULL,"
	" due INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,"
	" last_reply TEXT, first_attempt INTEGER, last_attempt INTEGER,"
	" dsn_status TEXT, PRIMARY KEY (msg_id, rcpt)) WITHOUT ROWID;"
	"CREATE INDEX recipients_state_due ON recipients(state, due);"
	"CREATE INDEX recipients_pending_due ON recipients(due)"
	" WHERE state <> 4;"
	"CREATE TABLE quota_counter (quota TEXT NOT NULL, key TEXT NOT NULL,"
	" start INTEGER NOT NULL, messages REAL, recipients REAL, bytes REAL,"
	" PRIMARY KEY (quota, key, start)) WITHOUT ROWID;"
	"INSERT INTO messages (id, arrival, sender, size, body) VALUES"
	" ('0000000000OLD002', 500, 'old@example.com', 5, x'48656c6c6f');"
	"INSERT INTO recipients (msg_id, rcpt, addr, state, due) VALUES"
	" ('0000000000OLD002', 0, 'p@example.net', 1, 7200),"
	" ('0000000000OLD002', 1, 'q@example.net', 0, 600);"
	"PRAGMA user_version=2;";

static void
test_migration(void)
{
	const struct queue_rcpt_in to = { .state = QUEUE_DEFERRED,
	    .due = 9000, .quota = "q/r", .qkey = "old@example.com",
	    .expire = 99999, .resv = resv_alice2, .nresv = 1 };
	struct tq t;
	struct told td;
	struct tq_text x;
	struct op o;
	char path[300], cols[512];
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int version = -1;

	snprintf(t.dir, sizeof(t.dir), "%s/v2", tmpdir);
	mkdir(t.dir, 0700);
	T_EQ_INT(tq_sql(t.dir, v2_schema), 0,
	    "migration: a version 2 database");
	if (tq_open(&t, "v2") == -1)
		return;
	snprintf(path, sizeof(path), "%s/queue.db", t.dir);
	cols[0] = '\0';
	sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
	if (sqlite3_prepare_v2(db, "SELECT group_concat(name || ':' || type"
	    " || ':' || \"notnull\" || ':' || coalesce(dflt_value, '-'), ' ')"
	    " FROM pragma_table_info('recipients') WHERE cid >= 10", -1, &st,
	    NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW &&
	    sqlite3_column_text(st, 0) != NULL)
		snprintf(cols, sizeof(cols), "%s", sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	st = NULL;
	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) ==
	    SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	T_EQ_INT(version, QUEUE_SCHEMA_VERSION,
	    "migration: at the current version");
	T_EQ_STR(cols, "quota:TEXT:0:- qkey:TEXT:0:- expire:INTEGER:0:-"
	    " resv:BLOB:0:- rflags:INTEGER:1:0",
	    "migration: the new columns");
	T_EQ_STR(show_text(&t, "0000000000OLD002", &x),
	    "deferred 7200 - - 0 0 0 ;ready 600 - - 0 0 0",
	    "migration: old rows read as none");
	memset(&td, 0, sizeof(td));
	td.ids[0] = "0000000000OLD002";
	o = (struct op){ .kind = OP_REQUEUE, .key = "0000000000OLD002",
	    .rcpt = 0, .expect = 1u << QUEUE_DEFERRED, .to = &to };
	T_EQ_INT(run1(&t, &o, &td), 1, "migration: an old row requeued");
	T_EQ_STR(td.t.s, "M1.0 deferred 9000 {}",
	    "migration: it held nothing");
	o = (struct op){ .kind = OP_HOLD, .key = "0000000000OLD002",
	    .rcpt = -1 };
	T_EQ_INT(run1(&t, &o, &td), 2, "migration: hold");
	T_EQ_STR(td.t.s, "M1.0 hold 9000 " RESV_ALICE2 " M1.1 hold 600 {}",
	    "migration: the new reservations given back");
	tq_close(&t);
}

int
main(void)
{
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	test_store_and_read();
	test_pending();
	test_store_errors();
	test_admin_gives_back();
	test_outcomes();
	test_requeue();
	test_list_rcpts();
	test_encoding();
	test_corrupt_blob();
	test_restart();
	test_migration();
	t_rmtree(tmpdir);
	T_OK(access(tmpdir, F_OK) == -1, "cleanup: temporary directory gone");
	return t_done();
}
