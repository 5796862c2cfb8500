/*
 * engine_acct: the accountings in the daemon (engine_acct.h,
 * engine_priv.h).
 *
 * Invariants:
 * - The counters in memory are the truth; the acct_counter table is
 *   their durable copy.  A message's new figures are stored in the
 *   message's own writer transaction (smtp_tx.c), so a 250 never goes out
 *   for mail that a restart would forget to count, and a failed store
 *   takes the counting back (engine_acct_undo).
 * - A reload keeps the counters: an accounting keeps its figures while
 *   its identity ("policy/name") and period kind stay; the rest is
 *   forgotten by a prune, which deletes those rows too.  Prune runs at
 *   start-up and at each reload (so the report and the store follow the
 *   configuration at once), then every minute (periods past `keep`).
 * - A stored row that does not load (a period key that is not one: only
 *   a hand-edited database has them) is logged and left out: start-up
 *   does not fail for figures that are statistics, and the row stays on
 *   disk for whoever edited it.
 * - Ownership: the rows a decision gives point into it and into the
 *   counters' interned identities, which live as long as the engine
 *   (after the writer has stopped); prune's rows are copies its job
 *   frees on the writer thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../lib/log.h"
#include "../lib/xalloc.h"
#include "engine_acct.h"
#include "engine_priv.h"

struct engine_acct {
	struct pol_acct_counters	*ctr;
	size_t				 loaded, skipped;
};

/* The periods prune dropped, for the store. */
struct acct_prune_job {
	struct pol_acct_row	*prow;
	struct queue_acct_row	*rows;
	size_t			 n;
};

static const struct pol_accts *
accts_of(const struct engine *e)
{
	return e->conf->policy != NULL ? e->conf->policy->accts : NULL;
}

static void
load_row(const struct queue_acct_row *qr, void *arg)
{
	struct engine_acct *a = arg;
	struct pol_acct_row r;
	const char *errstr = NULL;

	memset(&r, 0, sizeof(r));
	r.acct = qr->acct;
	r.key = qr->key;
	r.period = qr->period;
	r.start = qr->start;
	memcpy(r.used, qr->used, sizeof(r.used));
	if (pol_acct_load(a->ctr, &r, &errstr) == 0) {
		a->loaded++;
		return;
	}
	a->skipped++;
	log_warn("event=accounting-load-skipped accounting=%s key=%s "
	    "period=\"%s\" reason=\"%s\"", qr->acct, qr->key, qr->period,
	    errstr ? errstr : "not a period");
}

int
engine_acct_new(struct engine *e, struct queue *q, const char **errstr)
{
	struct engine_acct *a = xcalloc(1, sizeof(*a));

	a->ctr = pol_acct_counters_new();
	if (queue_load_acct(q, load_row, a, errstr) == -1) {
		pol_acct_counters_free(&a->ctr);
		free(a);
		return -1;
	}
	e->acct = a;
	engine_acct_prune(e, (int64_t)time(NULL));
	log_info("event=accounting-loaded accountings=%zu periods=%zu "
	    "skipped=%zu keys=%zu", accts_of(e) ? accts_of(e)->nacct : 0,
	    a->loaded, a->skipped, pol_acct_counters_count(a->ctr));
	return 0;
}

void
engine_acct_free(struct engine *e)
{
	if (e->acct == NULL)
		return;
	pol_acct_counters_free(&e->acct->ctr);
	free(e->acct);
	e->acct = NULL;
}

void
engine_acct_reconf(struct engine *e)
{
	engine_acct_prune(e, (int64_t)time(NULL));
	log_info("event=accounting-reloaded accountings=%zu keys=%zu",
	    accts_of(e) ? accts_of(e)->nacct : 0,
	    pol_acct_counters_count(e->acct->ctr));
}

/* policy/'s rows as the queue's (the strings are shared). */
static struct queue_acct_row *
to_queue_rows(const struct pol_acct_row *r, size_t n)
{
	struct queue_acct_row *q;
	size_t i;

	if (n == 0)
		return NULL;
	q = xcalloc(n, sizeof(*q));
	for (i = 0; i < n; i++) {
		q[i].acct = r[i].acct;
		q[i].key = r[i].key;
		q[i].period = r[i].period;
		q[i].start = r[i].start;
		memcpy(q[i].used, r[i].used, sizeof(q[i].used));
	}
	return q;
}

static int
prune_run(struct queue_txn *txn, void *arg, const char **errstr)
{
	struct acct_prune_job *j = arg;

	return queue_txn_acct_delete(txn, j->rows, j->n, errstr) < 0 ? -1 : 0;
}

/* Writer thread: a failed deletion leaves rows the next start-up loads
 * and prunes again. */
static void
prune_done(void *arg, int rc, const char *errstr)
{
	struct acct_prune_job *j = arg;

	if (rc < 0)
		log_warn("event=accounting-prune-failed error=\"%s\"",
		    errstr ? errstr : "unknown");
	pol_acct_rows_free(j->prow, j->n);
	free(j->rows);
	free(j);
}

void
engine_acct_prune(struct engine *e, int64_t now)
{
	struct acct_prune_job *j;
	struct pol_acct_row *del;
	size_t ndel, left;

	left = pol_acct_prune(e->acct->ctr, accts_of(e), now, &del, &ndel);
	if (ndel == 0)
		return;
	log_info("event=accounting-prune dropped=%zu left=%zu", ndel, left);
	j = xcalloc(1, sizeof(*j));
	j->prow = del;
	j->n = ndel;
	j->rows = to_queue_rows(del, ndel);
	queue_writer_submit(e->writer, prune_run, prune_done, j);
}

void
engine_acct_track(const struct pol_acct *a, char *buf, size_t bufsz)
{
	struct pol_quota q;	/* the quotas' writer: the same spellings */

	memset(&q, 0, sizeof(q));
	q.track = a->track;
	q.v4_prefix = a->v4_prefix;
	pol_track_format(&q, buf, bufsz);
}

/* One unit's figure for the log: what the period holds with this
 * message (what it would hold, when a limit refuses it), "/LIMIT" where
 * there is one. */
static void
log_figure(struct buf *b, const struct pol_acct_use *u, enum pol_unit k)
{
	const struct pol_limit *l = pol_acct_limit(u->acct, k);
	uint64_t v = u->used[k] + (u->verdict != POL_V_NONE ? u->amount[k] :
	    u->counted[k]);

	buf_printf(b, " %s=%llu", pol_unit_name(k), (unsigned long long)v);
	if (l != NULL)
		buf_printf(b, "/%llu", (unsigned long long)l->n);
}

static void
log_use(const char *qid, const char *sender, const struct pol_acct_use *u)
{
	struct buf b = BUF_INIT;
	char track[64];
	unsigned k;

	engine_acct_track(u->acct, track, sizeof(track));
	for (k = 0; k < POL_NUNIT; k++)
		log_figure(&b, u, k);
	log_info("queue_id=%s event=accounting policy=%s accounting=%s "
	    "track=%s key=%s from=<%s> period=%s%s verdict=%s", qid,
	    u->acct->policy->name, u->acct->name, track, u->key, sender,
	    u->period, b.data ? b.data : "", u->verdict == POL_V_NONE ?
	    (u->acct->nlimit > 0 ? "within" : "counted") :
	    pol_verdict_name(u->verdict));
	buf_free(&b);
}

void
engine_acct_data(struct engine *e, const struct engine_ident *id,
    const char *const *rcpts, const bool *skip, size_t nrcpt,
    uint64_t size, const char *qid, struct pol_acct_decision *d)
{
	struct pol_msg m;
	size_t i;

	memset(&m, 0, sizeof(m));
	m.client = id->client;
	m.helo = id->helo;
	m.sender = id->sender;
	m.sasl = id->sasl;
	m.rcpts = rcpts;
	m.skip = skip;
	m.nrcpt = nrcpt;
	m.size = size;
	pol_acct_decide(accts_of(e), e->acct->ctr, &m, (int64_t)time(NULL),
	    true, d, NULL);
	for (i = 0; i < d->nuse; i++)
		log_use(qid, id->sender, &d->use[i]);
	if (d->refuse != POL_V_NONE)
		log_info("queue_id=%s event=accounting-refused from=<%s> "
		    "reply=\"%s\"", qid, id->sender, d->reply);
}

struct queue_acct_row *
engine_acct_rows(const struct pol_acct_decision *d, size_t *n)
{
	*n = d->nrow;
	return to_queue_rows(d->rows, d->nrow);
}

void
engine_acct_undo(struct engine *e, const struct pol_acct_decision *d)
{
	pol_acct_undo(e->acct->ctr, d);
}

void
engine_acct_explain(struct engine *e, const struct pol_msg *m, int64_t now,
    struct pol_acct_decision *d, struct buf *why)
{
	pol_acct_decide(accts_of(e), e->acct->ctr, m, now, false, d, why);
}

void
engine_acct_report(struct engine *e, const char *key, bool history,
    int64_t now, pol_acct_usage_cb *cb, void *arg)
{
	pol_acct_report(e->acct->ctr, accts_of(e), key, history, now, cb,
	    arg);
}
