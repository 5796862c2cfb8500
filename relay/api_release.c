/*
 * api_release: `sluicectl queue release [--now] ID | --sender A`
 * (POST /v1/queue/ID/release, /v1/queue/release?sender=A, with now=1).
 *
 * Invariants:
 * - A released held recipient goes through its quotas again (DESIGN.md,
 *   "hold"): it may leave now, be deferred (with its reservations, quota
 *   and max-defer, as at end of DATA), or stay held when a quota still
 *   holds or refuses it; nothing is counted for one that stays.
 * - With now (bypass), held and deferred recipients leave now whatever
 *   their quotas say: they are counted in the current window (it may go
 *   over: the log's quota lines say verdict=bypass by=admin and `queue
 *   show` says so), and the reservations deferred ones held are given
 *   back.  Deferred ones are otherwise left alone: to send them through
 *   a changed limit, hold them (their reservations go back) and release.
 * - The decisions are made on the loop (the counters are its own) from
 *   what the reader sees; one writer job then moves each recipient only
 *   if it is still in the state it was read in, and stores the counters,
 *   so the change is atomic.  A recipient that changed meanwhile stays
 *   as it is (what was counted for it stays counted: mail may wait a
 *   little longer, no window goes over).  A failed job undoes the
 *   decisions.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../lib/log.h"
#include "../lib/strutil.h"
#include "../lib/xalloc.h"
#include "api_priv.h"
#include "engine.h"
#include "notify.h"

/* One recipient to move. */
struct rel_rcpt {
	int			 rcpt;
	enum queue_state	 was;
	struct queue_rcpt_in	 to;
	char			*qname;
	bool			 moved;		/* the job did */
};

/* One message and its decision. */
struct rel_msg {
	char			 id[QUEUE_ID_SIZE];
	struct pol_decision	 d;
	struct queue_counter	*rows, *resv;
	size_t			 nrows;
	struct rel_rcpt		*r;
	size_t			 nr;
	char			*why;		/* stays held: the reason */
	int			*late;		/* rel->late: the recipients */
	size_t			 nlate;
	unsigned		 moved, deferred;
	struct notify_batch	*nb;		/* quota alerts it caused */
};

struct api_rel {
	bool			 bypass;
	bool			 late;		/* start-up: deferred ones whose
						   window passed while sluiced
						   was down */
	char			 id[QUEUE_ID_SIZE];	/* "" by sender */
	char			*sender;
	int64_t			 now;
	struct engine		*engine;
	struct notify		*notify;	/* or NULL */
	struct rel_msg		*m;
	size_t			 nm;
	/* from the job */
	struct queue_counter	*gb;
	size_t			 ngb;
	struct rel_msg		*cur;
};

static void
rel_ids(const struct queue_info *info, void *arg)
{
	struct api_rel *rel = arg;

	if (info->nstate[QUEUE_HOLD] == 0 && (!rel->bypass ||
	    info->nstate[QUEUE_DEFERRED] == 0))
		return;
	rel->m = xreallocarray(rel->m, rel->nm + 1, sizeof(*rel->m));
	memset(&rel->m[rel->nm], 0, sizeof(rel->m[rel->nm]));
	str_copy(rel->m[rel->nm++].id, info->id, sizeof(rel->m[0].id));
}

/* What a released recipient becomes, from the decision. */
static bool
rel_target(struct api_rel *rel, struct rel_msg *m, size_t i,
    const struct queue_detail *qd, struct rel_rcpt *t)
{
	const struct pol_rcpt_out *o = &m->d.rcpt[i];

	t->rcpt = (int)i;
	t->was = qd->rcpts[i].state;
	t->to.addr = qd->rcpts[i].addr;
	t->to.state = QUEUE_READY;
	t->to.due = rel->now;
	if (rel->bypass) {
		t->to.rflags = QUEUE_RF_BYPASS;
		return true;
	}
	if (m->d.refuse != POL_V_NONE || o->verdict == POL_V_HOLD ||
	    o->verdict == POL_V_DISCARD) {
		if (!rel->late)
			return false;
		t->to.state = QUEUE_HOLD;	/* not sent behind its back */
		return true;
	}
	if (o->verdict != POL_V_DEFER)
		return true;
	t->to.state = QUEUE_DEFERRED;
	t->to.due = o->release;
	/* late mail keeps its max-defer from arrival: past it, it bounces */
	t->to.expire = rel->late ? qd->rcpts[i].expire : rel->now +
	    (int64_t)o->max_defer;
	t->to.resv = m->resv + o->resv0;
	t->to.nresv = o->nresv;
	if (o->use != NULL) {
		t->qname = xasprintf("%s/%s", o->use->quota->policy->name,
		    o->use->quota->name);
		t->to.quota = t->qname;
		t->to.qkey = o->use->key;
	}
	return true;
}

/* Why a released recipient stays held. */
static char *
rel_why(const struct pol_rcpt_out *o)
{
	if (o->use == NULL)
		return xstrdup("a quota holds it");
	return xasprintf("quota %s/%s (key %s) is over%s: verdict %s",
	    o->use->quota->policy->name, o->use->quota->name, o->use->key,
	    o->use->full ? " and its backlog is full" : "",
	    pol_verdict_name(o->verdict));
}

/* Start-up: recipient i of m is one the listing found late, and still
 * deferred as it was. */
static bool
rel_is_late(const struct api_rel *rel, const struct rel_msg *m,
    const struct queue_detail *qd, size_t i)
{
	size_t j;

	(void)rel;
	if (qd->rcpts[i].state != QUEUE_DEFERRED)
		return false;
	for (j = 0; j < m->nlate; j++)
		if (m->late[j] == (int)i)
			return true;
	return false;
}

/* Reads message m and decides its released recipients. */
static int
rel_decide(struct queue *q, struct api_rel *rel, struct rel_msg *m,
    const char **errstr)
{
	struct queue_detail *qd = NULL;
	struct engine_ident id;
	struct addr client;
	const char **rcpts;
	bool *skip, any = false;
	size_t i;
	int rc;

	if ((rc = queue_show(q, m->id, &qd, errstr)) != 1)
		return rc;
	rcpts = xcalloc(qd->nrcpt + 1, sizeof(*rcpts));
	skip = xcalloc(qd->nrcpt + 1, sizeof(*skip));
	for (i = 0; i < qd->nrcpt; i++) {
		rcpts[i] = qd->rcpts[i].addr;
		skip[i] = rel->late ? !rel_is_late(rel, m, qd, i) :
		    !(qd->rcpts[i].state == QUEUE_HOLD || (rel->bypass &&
		    qd->rcpts[i].state == QUEUE_DEFERRED));
		any |= !skip[i];
	}
	if (any) {
		memset(&id, 0, sizeof(id));
		id.client = qd->client_addr != NULL &&
		    engine_parse_client(qd->client_addr, &client) ? &client :
		    NULL;
		id.helo = qd->client_helo;
		id.sender = qd->info.sender;
		id.sasl = qd->sasl_user;
		engine_release(rel->engine, &id, rcpts, skip, qd->nrcpt,
		    qd->info.size, m->id, rel->bypass, rel->late, &m->d);
		m->rows = engine_rows(&m->d, &m->nrows);
		m->resv = engine_resv(&m->d);
		m->nb = notify_batch_new(rel->notify, &m->d, m->id, rel->now);
		if (m->d.refuse != POL_V_NONE)
			m->why = xstrdup(m->d.reply);
		m->r = xcalloc(qd->nrcpt, sizeof(*m->r));
		for (i = 0; i < qd->nrcpt; i++)
			if (!skip[i] && rel_target(rel, m, i, qd,
			    &m->r[m->nr]))
				m->nr++;
			else if (!skip[i] && m->why == NULL)
				m->why = rel_why(&m->d.rcpt[i]);
		/* the strings the job stores must outlive the detail */
		for (i = 0; i < m->nr; i++)
			m->r[i].to.addr = NULL;
	}
	free(rcpts);
	free(skip);
	queue_detail_free(&qd);
	return 1;
}

/* Writer thread: a recipient left QUEUE_DEFERRED (bypass). */
static void
rel_change(const struct queue_change *c, void *arg)
{
	struct api_rel *rel = arg;

	queue_counters_keep(&rel->gb, &rel->ngb, c->resv, c->nresv);
}

/* Writer thread: each recipient moved if it is still as it was read,
 * and the counters stored, in one transaction. */
static int
rel_job(struct queue_txn *txn, void *arg, const char **errstr)
{
	struct api_rel *rel = arg;
	struct rel_msg *m;
	size_t i, j;
	int rc;

	queue_counters_free(&rel->gb, &rel->ngb);
	for (i = 0; i < rel->nm; i++) {
		m = &rel->m[i];
		m->moved = m->deferred = 0;
		for (j = 0; j < m->nr; j++) {
			rc = queue_txn_rcpt_requeue(txn, m->id, m->r[j].rcpt,
			    1u << m->r[j].was, &m->r[j].to, rel_change, rel,
			    errstr);
			if (rc == -1)
				return -1;
			m->r[j].moved = rc == 1;
			m->moved += rc == 1;
			m->deferred += rc == 1 &&
			    m->r[j].to.state == QUEUE_DEFERRED;
		}
		if (m->nrows > 0 && queue_txn_counters_set(txn, m->rows,
		    m->nrows, errstr) == -1)
			return -1;
		if (notify_batch_store(txn, m->nb, errstr) == -1)
			return -1;
	}
	return 0;
}

static void
rel_free(struct api_rel *rel)
{
	size_t i, j;

	for (i = 0; i < rel->nm; i++) {
		for (j = 0; j < rel->m[i].nr; j++)
			free(rel->m[i].r[j].qname);
		free(rel->m[i].r);
		free(rel->m[i].rows);
		free(rel->m[i].resv);
		free(rel->m[i].why);
		free(rel->m[i].late);
		notify_batch_done(NULL, &rel->m[i].nb, -1);
		pol_decision_clear(&rel->m[i].d);
	}
	free(rel->m);
	queue_counters_free(&rel->gb, &rel->ngb);
	free(rel->sender);
	free(rel);
}

/* A message's state after the release (by id: what sluicectl says when
 * nothing was on hold). */
static void
rel_state(struct api *api, const char *id, struct buf *b)
{
	struct queue_detail *d = NULL;
	const char *errstr;

	if (api == NULL || queue_show(api->deps.queue, id, &d, &errstr) != 1)
		return;
	buf_addstr(b, ",\"state\":");
	api_json_str(b, api_summary_state(&d->info));
	queue_detail_free(&d);
}

static void
rel_json(struct api *api, const struct api_rel *rel, struct buf *b)
{
	unsigned moved = 0, deferred = 0;
	size_t i, nmsg = 0;

	for (i = 0; i < rel->nm; i++) {
		moved += rel->m[i].moved;
		deferred += rel->m[i].deferred;
		nmsg += rel->m[i].moved > 0;
	}
	buf_addstr(b, "{\"action\":\"release\"");
	if (rel->id[0] != '\0') {
		buf_addstr(b, ",\"id\":");
		api_json_str(b, rel->id);
		rel_state(api, rel->id, b);
	} else {
		buf_addstr(b, ",\"sender\":");
		api_json_str(b, rel->sender);
	}
	buf_printf(b, ",\"bypass\":%s,\"messages\":%zu,\"recipients\":%u,"
	    "\"deferred\":%u,\"changed\":[", rel->bypass ? "true" : "false",
	    nmsg, moved, deferred);
	for (i = 0, nmsg = 0; i < rel->nm; i++) {
		const struct rel_msg *m = &rel->m[i];

		if (m->moved == 0 && m->why == NULL)
			continue;
		buf_addstr(b, nmsg++ ? ",{\"id\":" : "{\"id\":");
		api_json_str(b, m->id);
		buf_printf(b, ",\"recipients\":%u", m->moved);
		if (m->deferred > 0)
			buf_printf(b, ",\"deferred\":%u", m->deferred);
		if (m->why != NULL) {
			buf_addstr(b, ",\"still_held\":");
			api_json_str(b, m->why);
		}
		buf_addc(b, '}');
	}
	buf_addstr(b, "]}");
}

/* Loop thread: the job is committed (or not). */
static void
rel_finish(struct api *api, struct evhttp_request *req, int rc,
    const char *err, void *arg)
{
	struct api_rel *rel = arg;
	struct buf json = BUF_INIT;
	size_t i;

	if (rc < 0) {
		for (i = rel->nm; i > 0; i--)
			pol_decision_undo(engine_counters(rel->engine),
			    &rel->m[i - 1].d);
		log_err("%s%s%sevent=api-error what=release error=\"%s\"",
		    rel->id[0] ? "queue_id=" : "", rel->id,
		    rel->id[0] ? " " : "", err);
		if (req != NULL)
			api_error(req, 500, err);
		rel_free(rel);
		return;
	}
	engine_giveback(rel->engine, rel->gb, rel->ngb);
	for (i = 0; i < rel->nm; i++) {
		struct rel_msg *m = &rel->m[i];

		notify_batch_done(rel->notify, &m->nb, rc);
		if (m->moved > 0)
			log_info("queue_id=%s event=released by=admin-api "
			    "recipients=%u deferred=%u%s", m->id, m->moved,
			    m->deferred, rel->bypass ? " bypass=yes" : "");
		if (m->why != NULL)
			log_info("queue_id=%s event=still-held by=admin-api "
			    "reason=\"%s\"", m->id, m->why);
		if (m->moved > 0 && api != NULL && api->deps.changed != NULL)
			api->deps.changed(api->deps.changed_arg, m->id);
	}
	if (req != NULL) {
		rel_json(api, rel, &json);
		api_reply(req, 200, &json);
		buf_free(&json);
	}
	rel_free(rel);
}

void
api_release_start(struct api *api, struct evhttp_request *req,
    const char *id, const char *sender, bool bypass)
{
	struct api_rel *rel = xcalloc(1, sizeof(*rel));
	const char *errstr;
	size_t i;
	int rc;

	if ((rel->engine = api_engine(api, req)) == NULL) {
		free(rel);
		return;
	}
	rel->notify = api->deps.notify;
	rel->bypass = bypass;
	rel->now = (int64_t)time(NULL);
	if (id != NULL) {
		str_copy(rel->id, id, sizeof(rel->id));
		rel->m = xcalloc(1, sizeof(*rel->m));
		str_copy(rel->m[0].id, id, sizeof(rel->m[0].id));
		rel->nm = 1;
	} else {
		rel->sender = xstrdup(sender);
		if (queue_list(api->deps.queue, -1, sender, rel_ids, rel,
		    &errstr) == -1)
			goto fail;
	}
	for (i = 0; i < rel->nm; i++) {
		if ((rc = rel_decide(api->deps.queue, rel, &rel->m[i],
		    &errstr)) == -1)
			goto fail;
		if (rc == 0 && id != NULL) {
			api_error(req, 404, "no such message");
			rel_free(rel);
			return;
		}
	}
	if (api_job_start(api, req, rel_job, rel_finish, rel) == -1) {
		for (i = rel->nm; i > 0; i--)
			pol_decision_undo(engine_counters(rel->engine),
			    &rel->m[i - 1].d);
		rel_free(rel);
	}
	return;
fail:
	for (i = rel->nm; i > 0; i--)
		pol_decision_undo(engine_counters(rel->engine),
		    &rel->m[i - 1].d);
	log_err("event=api-error what=release error=\"%s\"", errstr);
	api_error(req, 500, errstr);
	rel_free(rel);
}

/*
 * Start-up: deferred recipients whose window ended while sluiced was
 * down.  Their windows are spent (over): left as they are they would all
 * leave at once, together with what the current window holds, over the
 * limit.  They are placed again through their quotas, in arrival order,
 * each keeping its max-defer from arrival (past it, it bounces).
 */

struct late_rcpt {
	char	id[QUEUE_ID_SIZE];
	int	rcpt;
};

struct late_scan {
	const struct pol_set	*set;
	int64_t			 now;
	struct late_rcpt	*v;
	size_t			 n;
};

/* The quota "policy/quota" of set, or NULL. */
static const struct pol_quota *
late_quota(const struct pol_set *set, const char *name)
{
	const struct pol_quota *q;
	size_t i, len;

	for (i = 0; set != NULL && name != NULL && i < set->nquota; i++) {
		q = set->quotas[i];
		len = strlen(q->policy->name);
		if (strncmp(name, q->policy->name, len) == 0 &&
		    name[len] == '/' && strcmp(name + len + 1, q->name) == 0)
			return q;
	}
	return NULL;
}

static void
late_row(const struct queue_rcpt_row *r, void *arg)
{
	struct late_scan *ls = arg;
	const struct pol_quota *q;
	int64_t s, end;

	if (r->due >= ls->now || (q = late_quota(ls->set, r->quota)) == NULL ||
	    q->window == POL_WIN_SLIDING)
		return;
	pol_window_at(&q->period, r->due, &s, &end);
	if (end > ls->now)		/* its window is the current one */
		return;
	ls->v = xreallocarray(ls->v, ls->n + 1, sizeof(*ls->v));
	str_copy(ls->v[ls->n].id, r->id, sizeof(ls->v[0].id));
	ls->v[ls->n++].rcpt = r->rcpt;
}

static int
late_cmp(const void *a, const void *b)
{
	const struct late_rcpt *x = a, *y = b;
	int c = strcmp(x->id, y->id);

	return c != 0 ? c : (x->rcpt > y->rcpt) - (x->rcpt < y->rcpt);
}

/* The writer's answer, awaited by the start-up thread (the loop is not
 * running yet). */
struct late_job {
	struct api_rel	*rel;
	pthread_mutex_t	 mu;
	pthread_cond_t	 cv;
	bool		 done;
	int		 rc;
	char		 err[256];
};

static int
late_run(struct queue_txn *txn, void *arg, const char **errstr)
{
	return rel_job(txn, ((struct late_job *)arg)->rel, errstr);
}

static void
late_done(void *arg, int rc, const char *errstr)
{
	struct late_job *j = arg;

	pthread_mutex_lock(&j->mu);
	j->rc = rc;
	str_copy(j->err, rc < 0 && errstr ? errstr : "", sizeof(j->err));
	j->done = true;
	pthread_cond_signal(&j->cv);
	pthread_mutex_unlock(&j->mu);
}

/* Submits the job and waits for its commit.  0 or -1. */
static int
late_commit(struct queue_writer *wr, struct api_rel *rel, const char **errstr)
{
	static char err[256];
	struct late_job j;

	memset(&j, 0, sizeof(j));
	j.rel = rel;
	pthread_mutex_init(&j.mu, NULL);
	pthread_cond_init(&j.cv, NULL);
	queue_writer_submit(wr, late_run, late_done, &j);
	pthread_mutex_lock(&j.mu);
	while (!j.done)
		pthread_cond_wait(&j.cv, &j.mu);
	pthread_mutex_unlock(&j.mu);
	pthread_cond_destroy(&j.cv);
	pthread_mutex_destroy(&j.mu);
	if (j.rc < 0) {
		str_copy(err, j.err, sizeof(err));
		*errstr = err;
		return -1;
	}
	return 0;
}

int
api_release_late(struct engine *e, struct notify *n, struct queue *q,
    struct queue_writer *wr, const char **errstr)
{
	struct late_scan ls;
	struct api_rel *rel;
	struct rel_msg *m = NULL;
	unsigned moved = 0, deferred = 0;
	size_t i;
	int rc = 0;

	memset(&ls, 0, sizeof(ls));
	ls.set = engine_policies(e);
	ls.now = (int64_t)time(NULL);
	if (queue_list_rcpts_due(q, QUEUE_DEFERRED, ls.now, late_row, &ls,
	    errstr) == -1)
		return -1;
	if (ls.n == 0)
		return 0;
	qsort(ls.v, ls.n, sizeof(*ls.v), late_cmp);	/* ids sort by time */
	rel = xcalloc(1, sizeof(*rel));
	rel->late = true;
	rel->engine = e;
	rel->notify = n;
	rel->now = ls.now;
	for (i = 0; i < ls.n; i++) {
		if (m == NULL || strcmp(m->id, ls.v[i].id) != 0) {
			rel->m = xreallocarray(rel->m, rel->nm + 1,
			    sizeof(*rel->m));
			m = &rel->m[rel->nm++];
			memset(m, 0, sizeof(*m));
			str_copy(m->id, ls.v[i].id, sizeof(m->id));
		}
		m->late = xreallocarray(m->late, m->nlate + 1,
		    sizeof(*m->late));
		m->late[m->nlate++] = ls.v[i].rcpt;
	}
	free(ls.v);
	for (i = 0; i < rel->nm && rc != -1; i++)
		rc = rel_decide(q, rel, &rel->m[i], errstr);
	if (rc != -1)
		rc = late_commit(wr, rel, errstr);
	if (rc == -1) {
		for (i = rel->nm; i > 0; i--)
			pol_decision_undo(engine_counters(e), &rel->m[i - 1].d);
		rel_free(rel);
		return -1;
	}
	engine_giveback(e, rel->gb, rel->ngb);
	for (i = 0; i < rel->nm; i++) {
		notify_batch_done(n, &rel->m[i].nb, 0);
		moved += rel->m[i].moved;
		deferred += rel->m[i].deferred;
	}
	log_info("event=deferral-resumed late=%zu messages=%zu placed=%u "
	    "deferred=%u reason=\"their windows passed while sluiced was "
	    "down\"", ls.n, rel->nm, moved, deferred);
	rel_free(rel);
	return 0;
}
