/*
 * test_queue_delivery: the delivery side of the queue (the scheduler's
 * start-up load, a message loaded for delivery, outcomes, administration,
 * the migration from version 1) against real SQLite databases in a
 * temporary directory, one fresh queue per case.  Every change goes
 * through the writer thread as in the daemon; several operations can share
 * one job, as a delivery result for several recipients does.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "queue/queue.h"
#include "queue/queue_priv.h"
#include "tests/unit/t.h"
#include "tests/unit/tq.h"

static char tmpdir[] = "/tmp/test_queue_delivery.XXXXXX";

/* ---- a queue per case ---- */

static int
tq_open(struct tq *t, const char *name)
{
	return tq_open_in(t, tmpdir, name);
}

/* ---- jobs: a list of operations run in one job ---- */

enum op_kind {
	OP_STORE, OP_DONE, OP_RETRY, OP_HOLD, OP_RELEASE, OP_FLUSH,
	OP_HOLD_SENDER, OP_RELEASE_SENDER, OP_DELETE_SENDER, OP_FAIL
};

struct op {
	enum op_kind		 kind;
	const char		*key;	/* queue id or sender */
	int			 rcpt;
	int64_t			 t;	/* due, or flush's now */
	const char		*reply;
	const char		*dsn;
	int64_t			 now;	/* of an outcome */
	const struct queue_msg	*msg;	/* OP_STORE */
};

/* The operations as table rows. */
#define OP_DONE_(id, r, rep, st, at) { .kind = OP_DONE, .key = (id),	\
	.rcpt = (r), .reply = (rep), .dsn = (st), .now = (at) }
#define OP_RETRY_(id, r, d, rep, st, at) { .kind = OP_RETRY, .key = (id), \
	.rcpt = (r), .t = (d), .reply = (rep), .dsn = (st), .now = (at) }
#define OP_HOLD_(id, r) { .kind = OP_HOLD, .key = (id), .rcpt = (r) }
#define OP_RELEASE_(id, r, d) { .kind = OP_RELEASE, .key = (id),	\
	.rcpt = (r), .t = (d) }
#define OP_FLUSH_(at) { .kind = OP_FLUSH, .t = (at) }
#define OP_HOLD_SENDER_(s) { .kind = OP_HOLD_SENDER, .key = (s) }
#define OP_RELEASE_SENDER_(s, d) { .kind = OP_RELEASE_SENDER, .key = (s), \
	.t = (d) }
#define OP_DELETE_SENDER_(s) { .kind = OP_DELETE_SENDER, .key = (s) }
#define OP_STORE_(m) { .kind = OP_STORE, .msg = (m) }

#define MAXCHANGE	64

struct changes {
	int	n;
	struct {
		char			id[QUEUE_ID_SIZE];
		int			rcpt;
		enum queue_state	state;
		int64_t			due;
	} c[MAXCHANGE];
};

struct job {
	const struct op		*ops;
	int			 nop;
	int			 rc[16];	/* each operation's result */
	struct changes		*ch;
	int			 job_rc;
	char			 err[256];
};

static void
change_cb(const struct queue_change *c, void *arg)
{
	struct changes *ch = arg;

	if (ch->n < MAXCHANGE) {
		snprintf(ch->c[ch->n].id, QUEUE_ID_SIZE, "%s", c->id);
		ch->c[ch->n].rcpt = c->rcpt;
		ch->c[ch->n].state = c->state;
		ch->c[ch->n].due = c->due;
	}
	ch->n++;
}

static int
op_run(struct queue_txn *txn, const struct op *o, struct changes *ch,
    const char **errstr)
{
	queue_change_cb *cb = ch ? change_cb : NULL;

	switch (o->kind) {
	case OP_STORE:
		return queue_txn_store(txn, o->msg, errstr);
	case OP_DONE:
		return queue_txn_rcpt_done(txn, o->key, o->rcpt, o->reply,
		    o->dsn, o->now, errstr);
	case OP_RETRY:
		return queue_txn_rcpt_retry(txn, o->key, o->rcpt, o->t,
		    o->reply, o->dsn, o->now, errstr);
	case OP_HOLD:
		return queue_txn_rcpt_hold(txn, o->key, o->rcpt, cb, ch,
		    errstr);
	case OP_RELEASE:
		return queue_txn_rcpt_release(txn, o->key, o->rcpt, o->t, cb,
		    ch, errstr);
	case OP_FLUSH:
		return queue_txn_flush(txn, o->t, cb, ch, errstr);
	case OP_HOLD_SENDER:
		return queue_txn_hold_sender(txn, o->key, cb, ch, errstr);
	case OP_RELEASE_SENDER:
		return queue_txn_release_sender(txn, o->key, o->t, cb, ch,
		    errstr);
	case OP_DELETE_SENDER:
		return queue_txn_delete_sender(txn, o->key, cb, ch, errstr);
	case OP_FAIL:
		*errstr = "test: failing on purpose";
		return -1;
	}
	return -1;
}

static int
ops_job(struct queue_txn *txn, void *arg, const char **errstr)
{
	struct job *j = arg;
	int i;

	for (i = 0; i < j->nop; i++)
		if ((j->rc[i] = op_run(txn, &j->ops[i], j->ch, errstr)) == -1)
			return -1;
	return 0;
}

/* Runs ops in one job and waits for its commit: the job's result. */
static int
run_ops(struct tq *t, struct job *j, const struct op *ops, int nop,
    struct changes *ch)
{
	memset(j, 0, sizeof(*j));
	j->ops = ops;
	j->nop = nop;
	j->ch = ch;
	if (ch != NULL)
		memset(ch, 0, sizeof(*ch));
	j->job_rc = tq_run(t, ops_job, j, j->err, sizeof(j->err));
	return j->job_rc;
}

/* One operation in its own job: its result, or -1 when the job failed. */
static int
run1(struct tq *t, const struct op *o, struct changes *ch)
{
	struct job j;

	if (run_ops(t, &j, o, 1, ch) == -1)
		return -1;
	return j.rc[0];
}

/* ---- messages ---- */

#define MAXRCPT	8

struct tmsg {
	struct queue_msg	m;
	struct queue_rcpt_in	r[MAXRCPT];
	char			addr[MAXRCPT][32];
};

static void
new_id(char id[QUEUE_ID_SIZE])
{
	static int64_t usec = 1700000000000000;

	queue_id_new(id, usec++);
}

static const char body_text[] =
	"From: a@example.com\r\nSubject: d\r\n\r\nline\0NUL\r\n\xff\r\n";

/* A message with one recipient per letter of states (r ready, d deferred,
 * t retry, h hold, x done), each due at due. */
static void
tmsg_make(struct tmsg *t, const char *sender, int64_t arrival,
    const char *states, int64_t due)
{
	size_t i;

	memset(t, 0, sizeof(*t));
	new_id(t->m.id);
	t->m.arrival = arrival;
	t->m.sender = sender;
	t->m.flags = QUEUE_F_8BITMIME;
	t->m.client_addr = "192.0.2.1";
	t->m.body = body_text;
	t->m.body_len = sizeof(body_text) - 1;
	for (i = 0; states[i] != '\0' && i < MAXRCPT; i++) {
		snprintf(t->addr[i], sizeof(t->addr[i]), "r%zu@example.net",
		    i);
		t->r[i].addr = t->addr[i];
		t->r[i].due = due;
		t->r[i].state = states[i] == 'd' ? QUEUE_DEFERRED :
		    states[i] == 't' ? QUEUE_RETRY :
		    states[i] == 'h' ? QUEUE_HOLD :
		    states[i] == 'x' ? QUEUE_DONE : QUEUE_READY;
	}
	t->m.rcpts = t->r;
	t->m.nrcpt = i;
}

static int
tmsg_store(struct tq *t, const struct tmsg *m)
{
	struct op o = { .kind = OP_STORE, .msg = &m->m };

	return run1(t, &o, NULL);
}

static char
state_letter(enum queue_state s)
{
	return "rdthx"[s <= QUEUE_DONE ? s : QUEUE_HOLD];
}

/* The recipients' states as letters, "-" when the message is gone. */
static void
states_of(struct tq *t, const char *id, char *out, size_t outsz)
{
	struct queue_detail *d = NULL;
	const char *err = NULL;
	size_t i;

	if (queue_show(t->q, id, &d, &err) != 1) {
		snprintf(out, outsz, "-");
		return;
	}
	for (i = 0; i < d->nrcpt && i + 1 < outsz; i++)
		out[i] = state_letter(d->rcpts[i].state);
	out[i] = '\0';
	queue_detail_free(&d);
}

static bool
exists(struct tq *t, const char *id)
{
	char s[16];

	states_of(t, id, s, sizeof(s));
	return strcmp(s, "-") != 0;
}

/* ---- outcomes, one step at a time ---- */

/* One recipient as queue_show should give it after a step. */
struct want_rcpt {
	int		 rcpt;
	char		 state;
	int64_t		 due;
	unsigned	 attempts;
	const char	*reply;
	const char	*dsn;
	int64_t		 first, last;
};

struct outcome_case {
	const char		*name;
	struct op		 op;	/* key NULL: the case's message */
	int			 want_rc;
	const char		*want_states;
	struct want_rcpt	 want;	/* rcpt < 0: no recipient check */
};

static void
check_rcpt(struct tq *t, const char *id, const struct want_rcpt *w,
    const char *name)
{
	struct queue_detail *d = NULL;
	const struct queue_rcpt_info *r;
	const char *err = NULL;
	char n[160];

	if (w->rcpt < 0)
		return;
	if (queue_show(t->q, id, &d, &err) != 1 ||
	    (size_t)w->rcpt >= d->nrcpt) {
		snprintf(n, sizeof(n), "%s: recipient there", name);
		T_OK(0, n);
		queue_detail_free(&d);
		return;
	}
	r = &d->rcpts[w->rcpt];
	snprintf(n, sizeof(n), "%s: state", name);
	T_EQ_INT(state_letter(r->state), w->state, n);
	snprintf(n, sizeof(n), "%s: due", name);
	T_EQ_INT(r->due, w->due, n);
	snprintf(n, sizeof(n), "%s: attempts", name);
	T_EQ_INT(r->attempts, w->attempts, n);
	snprintf(n, sizeof(n), "%s: last_reply", name);
	T_EQ_STR(r->last_reply, w->reply, n);
	snprintf(n, sizeof(n), "%s: dsn_status", name);
	T_EQ_STR(r->dsn_status, w->dsn, n);
	snprintf(n, sizeof(n), "%s: first_attempt", name);
	T_EQ_INT(r->first_attempt, w->first, n);
	snprintf(n, sizeof(n), "%s: last_attempt", name);
	T_EQ_INT(r->last_attempt, w->last, n);
	queue_detail_free(&d);
}

static void
test_outcomes(void)
{
	static const char r451[] = "451 4.3.0 try again later";
	static const char r421[] = "421 4.4.2 mx.example.net closing";
	static const char r250[] = "250 2.0.0 Ok: queued as 4Xyz";
	static const char r550[] = "550 5.1.1 no such user";
	static const struct outcome_case cases[] = {
		{ "retry: first attempt",
		    OP_RETRY_(NULL, 0, 1300, r451, "4.3.0", 1000), 0,
		    "trhr", { 0, 't', 1300, 1, r451, "4.3.0", 1000, 1000 } },
		{ "retry: second keeps first_attempt",
		    OP_RETRY_(NULL, 0, 2600, r421, NULL, 2000), 0,
		    "trhr", { 0, 't', 2600, 2, r421, NULL, 1000, 2000 } },
		{ "done: one of four, message stays",
		    OP_DONE_(NULL, 1, r250, "2.0.0", 2100), 0,
		    "txhr", { 1, 'x', 100, 0, r250, "2.0.0", 2100, 2100 } },
		{ "done: again is left alone",
		    OP_DONE_(NULL, 1, r550, "5.1.1", 2150), 0,
		    "txhr", { 1, 'x', 100, 0, r250, "2.0.0", 2100, 2100 } },
		{ "retry: a done one is left alone",
		    OP_RETRY_(NULL, 1, 9000, r451, NULL, 2160), 0,
		    "txhr", { 1, 'x', 100, 0, r250, "2.0.0", 2100, 2100 } },
		{ "retry: a held one stays held",
		    OP_RETRY_(NULL, 2, 5000, r451, "4.3.0", 2200), 0,
		    "txhr", { 2, 'h', 5000, 1, r451, "4.3.0", 2200, 2200 } },
		{ "done: no such recipient",
		    OP_DONE_(NULL, 9, r250, NULL, 2300), -1,
		    "txhr", { -1, 0, 0, 0, NULL, NULL, 0, 0 } },
		{ "done: negative index refused",
		    OP_DONE_(NULL, -1, r250, NULL, 2300), -1,
		    "txhr", { -1, 0, 0, 0, NULL, NULL, 0, 0 } },
		{ "retry: no such message",
		    OP_RETRY_("0000000000NOSUCH", 0, 1, r451, NULL, 1),
		    -1, "txhr", { -1, 0, 0, 0, NULL, NULL, 0, 0 } },
		{ "done: bounced, NULL reply kept NULL",
		    OP_DONE_(NULL, 3, NULL, "5.4.7", 2400), 0,
		    "txhx", { 3, 'x', 100, 0, NULL, "5.4.7", 2400, 2400 } },
		{ "done: the retried one, a held one still pending",
		    OP_DONE_(NULL, 0, r250, "2.0.0", 3000), 0,
		    "xxhx", { 0, 'x', 2600, 2, r250, "2.0.0", 1000, 3000 } },
		{ "done: the last pending (held) removes the message",
		    OP_DONE_(NULL, 2, r550, "5.1.1", 3100), 1,
		    "-", { -1, 0, 0, 0, NULL, NULL, 0, 0 } },
		{ "done: after removal, no such recipient",
		    OP_DONE_(NULL, 2, r550, NULL, 3200), -1,
		    "-", { -1, 0, 0, 0, NULL, NULL, 0, 0 } },
	};
	struct tq t;
	struct tmsg m;
	struct job j;
	struct queue_delivery *dl = NULL;
	const char *err = NULL;
	char got[16], n[160], *body = NULL;
	size_t i, len;

	if (tq_open(&t, "outcomes") == -1)
		return;
	tmsg_make(&m, "alice@example.com", 900, "rrhr", 100);
	T_EQ_INT(tmsg_store(&t, &m), 0, "outcomes: store");
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct outcome_case *c = &cases[i];
		struct op o = c->op;
		int rc;

		if (o.key == NULL)
			o.key = m.m.id;
		rc = run_ops(&t, &j, &o, 1, NULL);
		if (rc == 0)
			rc = j.rc[0];
		snprintf(n, sizeof(n), "outcome: %s: result", c->name);
		T_EQ_INT(rc, c->want_rc, n);
		if (rc == -1)
			printf("# %s: %s\n", c->name, j.err);
		states_of(&t, m.m.id, got, sizeof(got));
		snprintf(n, sizeof(n), "outcome: %s: states", c->name);
		T_EQ_STR(got, c->want_states, n);
		snprintf(n, sizeof(n), "outcome: %s", c->name);
		check_rcpt(&t, m.m.id, &c->want, n);
	}
	T_EQ_INT(queue_body(t.q, m.m.id, &body, &len, &err), 0,
	    "outcomes: body gone with the message");
	T_EQ_INT(queue_load_delivery(t.q, m.m.id, &dl, &err), 0,
	    "outcomes: not loadable any more");
	T_OK(dl == NULL, "outcomes: no delivery when not found");
	tq_close(&t);
}

/* ---- several operations in one job ---- */

static void
test_one_job(void)
{
	struct tq t;
	struct tmsg a, b, bounce;
	struct job j;
	struct queue_delivery *dl = NULL;
	struct queue_stats s;
	const char *err = NULL;
	char got[16];
	uint64_t c0, j0, c1, j1;

	if (tq_open(&t, "onejob") == -1)
		return;
	tmsg_make(&a, "bob@example.com", 100, "rrr", 10);
	tmsg_make(&b, "carol@example.com", 101, "r", 10);
	T_OK(tmsg_store(&t, &a) == 0 && tmsg_store(&t, &b) == 0,
	    "one job: store two");

	/* a result for three recipients, and the bounce for one of them */
	tmsg_make(&bounce, "", 200, "r", 200);
	bounce.r[0].addr = "bob@example.com";
	{
		const struct op ops[] = {
			OP_DONE_(a.m.id, 0, "550 5.1.1 unknown", "5.1.1", 200),
			OP_STORE_(&bounce.m),
			OP_RETRY_(a.m.id, 1, 500, "452 4.2.2 full", "4.2.2",
			    200),
			OP_DONE_(a.m.id, 2, "250 ok", "2.0.0", 200),
		};

		queue_writer_counts(t.w, &c0, &j0);
		T_EQ_INT(run_ops(&t, &j, ops, 4, NULL), 0,
		    "one job: outcomes and bounce committed");
		queue_writer_counts(t.w, &c1, &j1);
		T_EQ_INT(j1 - j0, 1, "one job: counted as one job");
		T_EQ_INT(j.rc[0] + j.rc[1] + j.rc[2] + j.rc[3], 0,
		    "one job: each result 0 (a recipient still pending)");
	}
	states_of(&t, a.m.id, got, sizeof(got));
	T_EQ_STR(got, "xtx", "one job: states");
	T_EQ_INT(queue_load_delivery(t.q, bounce.m.id, &dl, &err), 1,
	    "bounce: stored with the null sender");
	if (dl != NULL) {
		T_EQ_STR(dl->sender, "", "bounce: sender is \"\"");
		T_EQ_INT(dl->nrcpt, 1, "bounce: one recipient");
		T_EQ_STR(dl->rcpts[0].addr, "bob@example.com",
		    "bounce: to the sender");
	}
	queue_delivery_free(&dl);

	/* a failing operation takes the job's other changes with it */
	{
		const struct op ops[] = {
			OP_RETRY_(a.m.id, 1, 900, "421 x", NULL, 300),
			OP_DONE_(b.m.id, 0, "250 ok", NULL, 300),
			OP_DONE_(a.m.id, 7, "250 ok", NULL, 300),
		};

		T_EQ_INT(run_ops(&t, &j, ops, 3, NULL), -1,
		    "one job: fails on a missing recipient");
		T_OK(strstr(j.err, "no recipient 7") != NULL,
		    "one job: says which");
		T_OK(exists(&t, b.m.id), "one job: rolled back, b stays");
		states_of(&t, a.m.id, got, sizeof(got));
		T_EQ_STR(got, "xtx", "one job: rolled back, a unchanged");
	}

	/* removal of one message and an outcome of another, together */
	{
		const struct op ops[] = {
			OP_DONE_(a.m.id, 1, "250 ok", "2.0.0", 400),
			OP_DONE_(b.m.id, 0, "250 ok", "2.0.0", 400),
			OP_RETRY_(bounce.m.id, 0, 999, "451 later", NULL, 400),
		};

		T_EQ_INT(run_ops(&t, &j, ops, 3, NULL), 0,
		    "one job: two removals and a retry");
		T_EQ_INT(j.rc[0], 1, "one job: a removed");
		T_EQ_INT(j.rc[1], 1, "one job: b removed");
		T_EQ_INT(j.rc[2], 0, "one job: bounce retried");
	}
	T_OK(!exists(&t, a.m.id) && !exists(&t, b.m.id),
	    "one job: both gone");
	queue_stats(t.q, &s, &err);
	T_EQ_INT(s.messages, 1, "one job: only the bounce left");
	T_EQ_INT(s.rcpts[QUEUE_RETRY], 1, "one job: its recipient retried");
	T_EQ_INT(s.rcpts[QUEUE_DONE], 0, "one job: no done rows left over");
	tq_close(&t);
}

/* ---- the message loaded for delivery ---- */

static void
test_load_delivery(void)
{
	struct tq t;
	struct tmsg m;
	struct queue_delivery *dl = NULL;
	struct op o;
	const char *err = NULL;

	if (tq_open(&t, "loaddelivery") == -1)
		return;
	tmsg_make(&m, "Dave@Example.com", 1234, "rdtx", 77);
	m.m.flags = QUEUE_F_8BITMIME | QUEUE_F_SMTPUTF8;
	T_EQ_INT(tmsg_store(&t, &m), 0, "load delivery: store");
	o = (struct op)OP_RETRY_(m.m.id, 2, 888, "451 4.7.1 greylisted",
	    "4.7.1", 800);
	T_EQ_INT(run1(&t, &o, NULL), 0, "load delivery: one retry");
	T_EQ_INT(queue_load_delivery(t.q, m.m.id, &dl, &err), 1,
	    "load delivery: found");
	if (dl == NULL)
		goto out;
	T_EQ_STR(dl->id, m.m.id, "load delivery: id");
	T_EQ_STR(dl->sender, "Dave@Example.com", "load delivery: sender");
	T_EQ_INT(dl->arrival, 1234, "load delivery: arrival");
	T_EQ_INT(dl->flags, QUEUE_F_8BITMIME | QUEUE_F_SMTPUTF8,
	    "load delivery: flags");
	T_EQ_INT(dl->body_len, sizeof(body_text) - 1,
	    "load delivery: body length (NULs kept)");
	T_OK(dl->body && memcmp(dl->body, body_text, dl->body_len) == 0,
	    "load delivery: body byte-exact");
	T_EQ_INT(dl->body[dl->body_len], 0, "load delivery: NUL-terminated");
	T_EQ_INT(dl->nrcpt, 4, "load delivery: every recipient");
	if (dl->nrcpt == 4) {
		static const char states[] = "rdtx";
		int i;

		for (i = 0; i < 4; i++) {
			char n[64];

			snprintf(n, sizeof(n), "load delivery: rcpt %d index",
			    i);
			T_EQ_INT(dl->rcpts[i].rcpt, i, n);
			snprintf(n, sizeof(n), "load delivery: rcpt %d addr",
			    i);
			T_EQ_STR(dl->rcpts[i].addr, m.addr[i], n);
			snprintf(n, sizeof(n), "load delivery: rcpt %d state",
			    i);
			T_EQ_INT(state_letter(dl->rcpts[i].state), states[i],
			    n);
		}
		T_EQ_INT(dl->rcpts[0].due, 77, "load delivery: due");
		T_EQ_INT(dl->rcpts[0].attempts, 0, "load delivery: attempts 0");
		T_EQ_INT(dl->rcpts[0].first_attempt, 0,
		    "load delivery: never tried");
		T_EQ_INT(dl->rcpts[2].due, 888, "load delivery: retry due");
		T_EQ_INT(dl->rcpts[2].attempts, 1, "load delivery: attempts 1");
		T_EQ_INT(dl->rcpts[2].first_attempt, 800,
		    "load delivery: first_attempt");
		T_EQ_INT(dl->rcpts[2].last_attempt, 800,
		    "load delivery: last_attempt");
		T_EQ_STR(dl->rcpts[2].last_reply, "451 4.7.1 greylisted",
		    "load delivery: last_reply");
		T_EQ_STR(dl->rcpts[2].dsn_status, "4.7.1",
		    "load delivery: dsn_status");
		T_EQ_STR(dl->rcpts[0].last_reply, NULL,
		    "load delivery: no reply yet");
	}
out:
	queue_delivery_free(&dl);
	T_OK(dl == NULL, "load delivery: free clears the pointer");
	queue_delivery_free(&dl);
	T_EQ_INT(queue_load_delivery(t.q, NULL, &dl, &err), -1,
	    "load delivery: NULL id refused");
	tq_close(&t);
}

/* ---- the scheduler's start-up load ---- */

#define MAXPEND	16

struct pend {
	int	n;
	struct {
		char			id[QUEUE_ID_SIZE];
		int			rcpt;
		char			addr[32];
		enum queue_state	state;
		int64_t			due, arrival, first;
		unsigned		attempts, flags;
		char			sender[32];
		uint64_t		size;
	} p[MAXPEND];
};

static void
pend_cb(const struct queue_pending *p, void *arg)
{
	struct pend *l = arg;

	if (l->n < MAXPEND) {
		snprintf(l->p[l->n].id, QUEUE_ID_SIZE, "%s", p->id);
		l->p[l->n].rcpt = p->rcpt;
		snprintf(l->p[l->n].addr, sizeof(l->p[0].addr), "%s", p->addr);
		l->p[l->n].state = p->state;
		l->p[l->n].due = p->due;
		l->p[l->n].arrival = p->arrival;
		l->p[l->n].first = p->first_attempt;
		l->p[l->n].attempts = p->attempts;
		l->p[l->n].flags = p->flags;
		snprintf(l->p[l->n].sender, sizeof(l->p[0].sender), "%s",
		    p->sender);
		l->p[l->n].size = p->size;
	}
	l->n++;
}

struct nested {
	struct queue	*q;
	int		 n, ok;
};

/* A scheduler may read a message while it loads the schedule. */
static void
nested_cb(const struct queue_pending *p, void *arg)
{
	struct nested *x = arg;
	struct queue_delivery *dl = NULL;
	struct queue_detail *d = NULL;
	const char *err = NULL;

	x->n++;
	if (queue_load_delivery(x->q, p->id, &dl, &err) == 1 &&
	    queue_show(x->q, p->id, &d, &err) == 1 &&
	    strcmp(dl->rcpts[p->rcpt].addr, p->addr) == 0)
		x->ok++;
	else
		printf("# nested: %s\n", err ? err : "mismatch");
	queue_delivery_free(&dl);
	queue_detail_free(&d);
}

static void
test_load_pending(void)
{
	struct tq t;
	struct tmsg a, b, c;
	struct pend l;
	struct nested nested;
	struct op o;
	const char *err = NULL;
	int i;

	if (tq_open(&t, "pending") == -1)
		return;
	tmsg_make(&a, "a@example.com", 300, "rxh", 50);
	a.r[1].due = 10;
	tmsg_make(&b, "", 100, "dr", 50);
	tmsg_make(&c, "c@example.com", 200, "r", 50);
	c.m.flags = QUEUE_F_SMTPUTF8;
	T_OK(tmsg_store(&t, &a) == 0 && tmsg_store(&t, &b) == 0 &&
	    tmsg_store(&t, &c) == 0, "pending: store three");
	o = (struct op)OP_RETRY_(b.m.id, 1, 20, "451 x", NULL, 15);
	T_EQ_INT(run1(&t, &o, NULL), 0, "pending: one retried");

	memset(&l, 0, sizeof(l));
	T_EQ_INT(queue_load_pending(t.q, pend_cb, &l, &err), 0,
	    "pending: load");
	T_EQ_INT(l.n, 5, "pending: every recipient not done");
	{
		const struct {
			const char	*id;
			int		 rcpt;
			char		 state;
			int64_t		 due;
		} want[] = {
			{ b.m.id, 1, 't', 20 },	/* earliest due first */
			{ b.m.id, 0, 'd', 50 },	/* then by arrival */
			{ c.m.id, 0, 'r', 50 },
			{ a.m.id, 0, 'r', 50 },
			{ a.m.id, 2, 'h', 50 },	/* held ones included */
		};

		for (i = 0; i < 5 && i < l.n; i++) {
			char n[64];

			snprintf(n, sizeof(n), "pending: row %d id", i);
			T_EQ_STR(l.p[i].id, want[i].id, n);
			snprintf(n, sizeof(n), "pending: row %d rcpt", i);
			T_EQ_INT(l.p[i].rcpt, want[i].rcpt, n);
			snprintf(n, sizeof(n), "pending: row %d state", i);
			T_EQ_INT(state_letter(l.p[i].state), want[i].state, n);
			snprintf(n, sizeof(n), "pending: row %d due", i);
			T_EQ_INT(l.p[i].due, want[i].due, n);
		}
	}
	T_EQ_STR(l.p[0].sender, "", "pending: null sender");
	T_EQ_INT(l.p[0].attempts, 1, "pending: attempts");
	T_EQ_INT(l.p[0].first, 15, "pending: first_attempt");
	T_EQ_INT(l.p[0].arrival, 100, "pending: arrival");
	T_EQ_STR(l.p[0].addr, "r1@example.net", "pending: addr");
	T_EQ_STR(l.p[2].sender, "c@example.com", "pending: sender");
	T_EQ_INT(l.p[2].flags, QUEUE_F_SMTPUTF8, "pending: flags");
	T_EQ_INT(l.p[2].size, sizeof(body_text) - 1, "pending: size");
	T_EQ_INT(l.p[2].first, 0, "pending: never tried");

	/* other reader calls from inside the callback */
	memset(&nested, 0, sizeof(nested));
	nested.q = t.q;
	T_EQ_INT(queue_load_pending(t.q, nested_cb, &nested, &err), 0,
	    "pending: load with nested reader calls");
	T_EQ_INT(nested.n, 5, "pending: nested, every row");
	T_EQ_INT(nested.ok, 5, "pending: nested load_delivery and show work");
	tq_close(&t);
}

/* 100,000 recipients (1,000 messages of 100), stored in one job. */
#define BIG_MSGS	1000
#define BIG_RCPTS	100

static int
big_job(struct queue_txn *txn, void *arg, const char **errstr)
{
	struct queue_rcpt_in r[BIG_RCPTS];
	char addr[BIG_RCPTS][48];
	struct queue_msg m;
	int i, k;

	(void)arg;
	memset(r, 0, sizeof(r));
	for (i = 0; i < BIG_MSGS; i++) {
		memset(&m, 0, sizeof(m));
		new_id(m.id);
		m.arrival = 1000 + i % 97;
		m.sender = "bulk@example.com";
		m.body = body_text;
		m.body_len = sizeof(body_text) - 1;
		for (k = 0; k < BIG_RCPTS; k++) {
			snprintf(addr[k], sizeof(addr[k]), "u%d@d%d.example",
			    k, i);
			r[k].addr = addr[k];
			r[k].state = k % 10 == 9 ? QUEUE_DONE :
			    (enum queue_state)(k % 4);
			r[k].due = (int64_t)((i * 7919 + k * 104729) % 86400);
		}
		m.rcpts = r;
		m.nrcpt = BIG_RCPTS;
		if (queue_txn_store(txn, &m, errstr) == -1)
			return -1;
	}
	return 0;
}

struct order {
	long		n;
	bool		sorted;
	int64_t		due, arrival;
	char		id[QUEUE_ID_SIZE];
	int		rcpt;
};

static void
order_cb(const struct queue_pending *p, void *arg)
{
	struct order *o = arg;
	int c;

	if (o->n > 0) {
		c = p->due != o->due ? (p->due > o->due ? 1 : -1) :
		    p->arrival != o->arrival ? (p->arrival > o->arrival ? 1 :
		    -1) : strcmp(p->id, o->id) != 0 ? strcmp(p->id, o->id) :
		    p->rcpt - o->rcpt;
		if (c <= 0 || p->state == QUEUE_DONE)
			o->sorted = false;
	}
	o->n++;
	o->due = p->due;
	o->arrival = p->arrival;
	snprintf(o->id, sizeof(o->id), "%s", p->id);
	o->rcpt = p->rcpt;
}

static double
elapsed(const struct timespec *a)
{
	struct timespec b;

	clock_gettime(CLOCK_MONOTONIC, &b);
	return (double)(b.tv_sec - a->tv_sec) +
	    (double)(b.tv_nsec - a->tv_nsec) / 1e9;
}

/* The plan SQLite picks for the load: the partial index, no full sort. */
static void
check_pending_plan(struct tq *t)
{
	char path[300], plan[1024] = "";
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;

	snprintf(path, sizeof(path), "%s/queue.db", t->dir);
	sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
	if (sqlite3_prepare_v2(db, "EXPLAIN QUERY PLAN SELECT r.msg_id"
	    " FROM recipients r CROSS JOIN messages m ON m.id = r.msg_id"
	    " WHERE r.state <> 4 ORDER BY r.due, m.arrival, r.msg_id, r.rcpt",
	    -1, &st, NULL) == SQLITE_OK)
		while (sqlite3_step(st) == SQLITE_ROW) {
			size_t len = strlen(plan);

			snprintf(plan + len, sizeof(plan) - len, "%s; ",
			    (const char *)sqlite3_column_text(st, 3));
		}
	sqlite3_finalize(st);
	sqlite3_close(db);
	printf("# pending plan: %s\n", plan);
	T_OK(strstr(plan, "recipients_pending_due") != NULL,
	    "pending 100k: walks the pending index");
	T_OK(strstr(plan, "RIGHT PART OF ORDER BY") != NULL,
	    "pending 100k: sorts only the ties");
}

static void
test_load_pending_big(void)
{
	struct tq t;
	struct job j;
	struct order o;
	struct timespec t0;
	struct queue_stats s;
	const char *err = NULL;

	if (tq_open(&t, "pendingbig") == -1)
		return;
	memset(&j, 0, sizeof(j));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	j.job_rc = tq_run(&t, big_job, NULL, j.err, sizeof(j.err));
	T_EQ_INT(j.job_rc, 0, "pending 100k: stored");
	printf("# pending 100k: stored in %.2f s\n", elapsed(&t0));
	queue_stats(t.q, &s, &err);

	memset(&o, 0, sizeof(o));
	o.sorted = true;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	T_EQ_INT(queue_load_pending(t.q, order_cb, &o, &err), 0,
	    "pending 100k: load");
	printf("# pending 100k: %ld recipients loaded in %.3f s\n", o.n,
	    elapsed(&t0));
	T_EQ_INT(o.n, BIG_MSGS * BIG_RCPTS - BIG_MSGS * BIG_RCPTS / 10,
	    "pending 100k: all but the done ones");
	T_EQ_INT(o.n, s.rcpts[QUEUE_READY] + s.rcpts[QUEUE_DEFERRED] +
	    s.rcpts[QUEUE_RETRY] + s.rcpts[QUEUE_HOLD],
	    "pending 100k: agrees with the stats");
	T_OK(o.sorted, "pending 100k: by due, arrival, id, index");
	check_pending_plan(&t);
	tq_close(&t);
}

/* ---- administration ---- */

struct admin_case {
	const char	*name;
	struct op	 op;		/* key "M1"/"M2"/"M3": that message */
	int		 want;		/* the count */
	const char	*m1, *m2, *m3;	/* states after */
};

/* The changes told that the count counts: messages for a deletion (which
 * also tells each recipient), else recipients. */
static int
admin_told(const struct changes *ch, const struct op *o)
{
	int i, n = 0;

	for (i = 0; i < ch->n && i < MAXCHANGE; i++)
		if ((ch->c[i].rcpt < 0) == (o->kind == OP_DELETE_SENDER))
			n++;
	return n;
}

static void
test_admin(void)
{
	static const struct admin_case cases[] = {
		{ "flush: retries due later", OP_FLUSH_(1000),
		    2, "rdthx", "tt", "r" },
		{ "flush: again, nothing", OP_FLUSH_(1000),
		    0, "rdthx", "tt", "r" },
		{ "hold: one", OP_HOLD_("M1", 0), 1, "hdthx", "tt", "r" },
		{ "hold: held again", OP_HOLD_("M1", 0), 0,
		    "hdthx", "tt", "r" },
		{ "hold: a done one", OP_HOLD_("M1", 4), 0,
		    "hdthx", "tt", "r" },
		{ "hold: no such index", OP_HOLD_("M1", 9), 0,
		    "hdthx", "tt", "r" },
		{ "hold: no such message", OP_HOLD_("0000000000NOSUCH", -1),
		    0, "hdthx", "tt", "r" },
		{ "hold: the rest of the message", OP_HOLD_("M1", -1), 2,
		    "hhhhx", "tt", "r" },
		{ "release: one", OP_RELEASE_("M1", 3, 2000), 1,
		    "hhhrx", "tt", "r" },
		{ "release: a ready one", OP_RELEASE_("M1", 3, 2000), 0,
		    "hhhrx", "tt", "r" },
		{ "release: all held", OP_RELEASE_("M1", -1, 2000), 3,
		    "rrrrx", "tt", "r" },
		{ "hold by sender: any case", OP_HOLD_SENDER_("A@example.COM"),
		    6, "hhhhx", "hh", "r" },
		{ "hold by sender: none", OP_HOLD_SENDER_("nobody@x"), 0,
		    "hhhhx", "hh", "r" },
		{ "hold by sender: the bounces", OP_HOLD_SENDER_(""), 1,
		    "hhhhx", "hh", "h" },
		{ "flush: held ones untouched", OP_FLUSH_(0), 0,
		    "hhhhx", "hh", "h" },
		{ "release by sender",
		    OP_RELEASE_SENDER_("a@EXAMPLE.com", 3000), 6,
		    "rrrrx", "rr", "h" },
		{ "release by sender: the bounces",
		    OP_RELEASE_SENDER_("", 3000), 1, "rrrrx", "rr", "r" },
		{ "delete by sender: the bounces", OP_DELETE_SENDER_(""), 1,
		    "rrrrx", "rr", "-" },
		{ "delete by sender: none", OP_DELETE_SENDER_("x@x"), 0,
		    "rrrrx", "rr", "-" },
		{ "delete by sender: two messages",
		    OP_DELETE_SENDER_("a@example.com"), 2, "-", "-", "-" },
	};
	struct tq t;
	struct tmsg m1, m2, m3;
	struct changes ch;
	struct queue_stats s;
	const char *err = NULL;
	char got[16], n[160];
	size_t i;

	if (tq_open(&t, "admin") == -1)
		return;
	tmsg_make(&m1, "a@example.com", 10, "rdthx", 500);
	m1.r[2].due = 5000;
	tmsg_make(&m2, "A@Example.com", 11, "tt", 100);
	m2.r[1].due = 9000;
	tmsg_make(&m3, "", 12, "r", 100);
	T_OK(tmsg_store(&t, &m1) == 0 && tmsg_store(&t, &m2) == 0 &&
	    tmsg_store(&t, &m3) == 0, "admin: store three");
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct admin_case *c = &cases[i];
		struct op o = c->op;

		if (o.key != NULL && strcmp(o.key, "M1") == 0)
			o.key = m1.m.id;
		snprintf(n, sizeof(n), "admin: %s: count", c->name);
		T_EQ_INT(run1(&t, &o, &ch), c->want, n);
		snprintf(n, sizeof(n), "admin: %s: changes reported",
		    c->name);
		T_EQ_INT(admin_told(&ch, &o), c->want, n);
		states_of(&t, m1.m.id, got, sizeof(got));
		snprintf(n, sizeof(n), "admin: %s: M1 states", c->name);
		T_EQ_STR(got, c->m1, n);
		states_of(&t, m2.m.id, got, sizeof(got));
		snprintf(n, sizeof(n), "admin: %s: M2 states", c->name);
		T_EQ_STR(got, c->m2, n);
		states_of(&t, m3.m.id, got, sizeof(got));
		snprintf(n, sizeof(n), "admin: %s: M3 states", c->name);
		T_EQ_STR(got, c->m3, n);
		/* a few details the table does not carry */
		if (i == 0) {
			struct queue_detail *d = NULL;

			T_OK(ch.c[0].state == QUEUE_RETRY && ch.c[0].due ==
			    1000, "admin: flush reports state and due");
			if (queue_show(t.q, m2.m.id, &d, &err) == 1) {
				T_EQ_INT(d->rcpts[0].due, 100,
				    "admin: flush leaves one due earlier");
				T_EQ_INT(d->rcpts[1].due, 1000,
				    "admin: flush makes one due now");
			}
			queue_detail_free(&d);
		}
		if (i == 7)
			T_OK(ch.n == 2 && strcmp(ch.c[0].id, m1.m.id) == 0 &&
			    ch.c[0].state == QUEUE_HOLD && ch.c[1].state ==
			    QUEUE_HOLD && ch.c[0].rcpt + ch.c[1].rcpt == 3,
			    "admin: hold reports recipients 1 and 2");
		if (i == 10) {
			struct queue_detail *d = NULL;

			T_OK(ch.c[0].state == QUEUE_READY && ch.c[0].due ==
			    2000, "admin: release reports ready at due");
			if (queue_show(t.q, m1.m.id, &d, &err) == 1)
				T_EQ_INT(d->rcpts[2].due, 2000,
				    "admin: release sets due");
			queue_detail_free(&d);
		}
		if (i == 17)
			T_OK(strcmp(ch.c[0].id, m3.m.id) == 0 &&
			    ch.c[0].rcpt == 0 && ch.c[0].state == QUEUE_DONE &&
			    strcmp(ch.c[1].id, m3.m.id) == 0 &&
			    ch.c[1].rcpt == -1 && ch.c[1].state == QUEUE_DONE,
			    "admin: delete reports the recipient, then the "
			    "message");
		if (i == 19)
			T_EQ_INT(ch.n, 4 + 2 + 2, "admin: delete by "
			    "sender: 6 recipients, 2 messages");
	}
	{
		struct op o = OP_HOLD_SENDER_(NULL);

		T_EQ_INT(run1(&t, &o, NULL), -1, "admin: NULL sender refused");
	}
	queue_stats(t.q, &s, &err);
	T_EQ_INT(s.messages + s.rcpts[QUEUE_DONE], 0,
	    "admin: delete by sender leaves nothing");
	tq_close(&t);
}

/* ---- restart in the middle ---- */

static void
test_restart(void)
{
	struct tq t;
	struct tmsg a, b;
	struct job j;
	struct pend l;
	struct queue_stats s;
	const char *err = NULL;
	char got[16];

	if (tq_open(&t, "restart") == -1)
		return;
	tmsg_make(&a, "r@example.com", 100, "rrrr", 100);
	tmsg_make(&b, "s@example.com", 101, "rr", 100);
	T_OK(tmsg_store(&t, &a) == 0 && tmsg_store(&t, &b) == 0,
	    "restart: store two");
	{
		const struct op ops[] = {
			OP_DONE_(a.m.id, 0, "250 ok", "2.0.0", 150),
			OP_RETRY_(a.m.id, 1, 700, "451 later", "4.0.0", 150),
			OP_HOLD_(a.m.id, 2),
			OP_DONE_(b.m.id, 1, "550 no", "5.1.1", 150),
		};

		T_EQ_INT(run_ops(&t, &j, ops, 4, NULL), 0,
		    "restart: outcomes before");
	}
	tq_close(&t);

	if (queue_open(&t.q, t.dir, &err) == -1 ||
	    queue_recover(t.q, 200, &s, &err) == -1) {
		T_OK(0, "restart: reopen");
		queue_close(&t.q);
		return;
	}
	T_EQ_INT(s.messages, 2, "restart: both messages survive");
	states_of(&t, a.m.id, got, sizeof(got));
	T_EQ_STR(got, "xthr", "restart: a's states survive");
	states_of(&t, b.m.id, got, sizeof(got));
	T_EQ_STR(got, "rx", "restart: b's states survive");
	{
		struct want_rcpt w = { 1, 't', 700, 1, "451 later", "4.0.0",
		    150, 150 };

		check_rcpt(&t, a.m.id, &w, "restart: retry details survive");
	}
	memset(&l, 0, sizeof(l));
	queue_load_pending(t.q, pend_cb, &l, &err);
	T_EQ_INT(l.n, 4, "restart: pending load after reopen");
	T_OK(l.n >= 1 && l.p[0].due == 100 && strcmp(l.p[0].id, a.m.id) == 0
	    && l.p[0].rcpt == 2, "restart: schedule resumes in order");

	T_EQ_INT(queue_writer_start(&t.w, t.q, &err), 0, "restart: writer");
	{
		const struct op ops[] = {
			OP_DONE_(b.m.id, 0, "250 ok", NULL, 300),
			OP_RELEASE_(a.m.id, -1, 300),
			OP_DONE_(a.m.id, 1, "250 ok", NULL, 800),
			OP_DONE_(a.m.id, 2, "250 ok", NULL, 800),
			OP_DONE_(a.m.id, 3, "250 ok", NULL, 800),
		};

		T_EQ_INT(run_ops(&t, &j, ops, 5, NULL), 0,
		    "restart: outcomes after");
		T_EQ_INT(j.rc[0], 1, "restart: b done and removed");
		T_EQ_INT(j.rc[1], 1, "restart: a's held one released");
		T_EQ_INT(j.rc[2] + j.rc[3], 0,
		    "restart: a not before the last");
		T_EQ_INT(j.rc[4], 1, "restart: a removed with the last");
	}
	queue_stats(t.q, &s, &err);
	T_EQ_INT(s.messages, 0, "restart: queue empty");
	tq_close(&t);
}

/* ---- migration from a version 1 database ---- */

/* The version 1 schema as sluice 0.1 wrote it. */
static const char v1_schema[] =
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
	" last_reply TEXT, PRIMARY KEY (msg_id, rcpt)) WITHOUT ROWID;"
	"CREATE INDEX recipients_state_due ON recipients(state, due);"
	"INSERT INTO messages (id, arrival, sender, size, body) VALUES"
	" ('0000000000OLD001', 500, 'old@example.com', 5, x'48656c6c6f');"
	"INSERT INTO recipients VALUES"
	" ('0000000000OLD001', 0, 'p@example.net', 0, 600, 0, NULL),"
	" ('0000000000OLD001', 1, 'q@example.net', 2, 900, 3, '451 busy'),"
	" ('0000000000OLD001', 2, 'r@example.net', 4, 0, 1, '250 ok');"
	"PRAGMA user_version=1;";

static int
user_version(const char *dir, char *objects, size_t osz)
{
	char path[300];
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int v = -1;

	snprintf(path, sizeof(path), "%s/queue.db", dir);
	sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) ==
	    SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	st = NULL;
	objects[0] = '\0';
	if (sqlite3_prepare_v2(db, "SELECT group_concat(name, ' ') FROM"
	    " (SELECT name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"
	    " UNION ALL SELECT name FROM pragma_table_info('recipients')"
	    " ORDER BY 1)", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
		snprintf(objects, osz, "%s", sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

static void
test_migration(void)
{
	static const char want_objects[] = "acct_counter addr attempts"
	    " dsn_status due expire first_attempt grey_auto grey_triplet"
	    " helo_seen last_attempt last_reply messages"
	    " messages_arrival messages_sender msg_id outbox outbox_notifier"
	    " qkey quota quota_counter quota_override rcpt recipients"
	    " recipients_pending_due"
	    " recipients_state_due resv rflags state";
	struct tq t, fresh;
	struct queue_delivery *dl = NULL;
	struct queue_stats s;
	struct pend l;
	struct job j;
	const char *err = NULL;
	char path[300], objects[512];
	sqlite3 *db = NULL;

	snprintf(t.dir, sizeof(t.dir), "%s/v1", tmpdir);
	mkdir(t.dir, 0700);
	snprintf(path, sizeof(path), "%s/queue.db", t.dir);
	T_OK(sqlite3_open(path, &db) == SQLITE_OK && sqlite3_exec(db,
	    v1_schema, NULL, NULL, NULL) == SQLITE_OK,
	    "migration: a version 1 database");
	sqlite3_close(db);
	T_EQ_INT(user_version(t.dir, objects, sizeof(objects)), 1,
	    "migration: starts at 1");

	if (tq_open(&t, "v1") == -1)
		return;
	T_EQ_INT(user_version(t.dir, objects, sizeof(objects)),
	    QUEUE_SCHEMA_VERSION, "migration: upgraded at open");
	T_EQ_INT(QUEUE_SCHEMA_VERSION, 4, "migration: this code writes 4");
	T_EQ_STR(objects, want_objects, "migration: tables, columns, indexes");
	queue_stats(t.q, &s, &err);
	T_EQ_INT(s.messages, 1, "migration: the message kept");
	T_EQ_INT(queue_load_delivery(t.q, "0000000000OLD001", &dl, &err), 1,
	    "migration: loads for delivery");
	if (dl != NULL && dl->nrcpt == 3) {
		T_EQ_STR(dl->body, "Hello", "migration: body kept");
		T_EQ_INT(dl->rcpts[1].attempts, 3, "migration: attempts kept");
		T_EQ_STR(dl->rcpts[1].last_reply, "451 busy",
		    "migration: last_reply kept");
		T_EQ_INT(dl->rcpts[1].first_attempt, 0,
		    "migration: new column reads as never");
		T_EQ_STR(dl->rcpts[1].dsn_status, NULL,
		    "migration: no dsn_status");
	} else
		T_OK(0, "migration: three recipients");
	queue_delivery_free(&dl);
	memset(&l, 0, sizeof(l));
	queue_load_pending(t.q, pend_cb, &l, &err);
	T_EQ_INT(l.n, 2, "migration: pending load");
	T_OK(l.n == 2 && l.p[0].due == 600 && l.p[1].due == 900,
	    "migration: in due order");
	{
		const struct op ops[] = {
			OP_RETRY_("0000000000OLD001", 1, 1900, "451 again",
			    "4.0.0", 1000),
			OP_DONE_("0000000000OLD001", 0, "250 ok", NULL, 1000),
		};

		T_EQ_INT(run_ops(&t, &j, ops, 2, NULL), 0,
		    "migration: outcomes on old rows");
		T_EQ_INT(j.rc[1], 0, "migration: one still pending");
	}
	{
		struct want_rcpt w = { 1, 't', 1900, 4, "451 again", "4.0.0",
		    1000, 1000 };

		check_rcpt(&t, "0000000000OLD001", &w, "migration: retried");
	}
	tq_close(&t);
	/* opening again does not migrate twice */
	if (tq_open(&t, "v1") == 0) {
		T_EQ_INT(user_version(t.dir, objects, sizeof(objects)), 4,
		    "migration: reopen stays at 4");
		tq_close(&t);
	}
	/* a new database is created at the current version */
	if (tq_open(&fresh, "fresh") == 0) {
		T_EQ_INT(user_version(fresh.dir, objects, sizeof(objects)), 4,
		    "migration: a new database is at 4");
		T_EQ_STR(objects, want_objects,
		    "migration: a new database has the same schema");
		tq_close(&fresh);
	}
}

int
main(void)
{
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	test_outcomes();
	test_one_job();
	test_load_delivery();
	test_load_pending();
	test_load_pending_big();
	test_admin();
	test_restart();
	test_migration();
	t_rmtree(tmpdir);
	T_OK(access(tmpdir, F_OK) == -1, "cleanup: temporary directory gone");
	return t_done();
}
